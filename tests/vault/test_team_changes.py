"""The chain of statements about who is on the team."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault import _crypto
from vault.keys import Identity, TeamPublicKey
from vault.team_changes import (
    CONTEXT,
    Member,
    Statement,
    Team,
    TeamChangeError,
    apply,
    follow,
    make_statement,
)

DAY = "2026-12-04"
ORIGIN_A = "vault.redress/" + "a" * 32
ORIGIN_B = "vault.redress/" + "b" * 32
ORIGIN_C = "vault.redress/" + "c" * 32


def new_key() -> bytes:
    return _crypto.box_keypair()[0]


@pytest.fixture(scope="module")
def people() -> dict[str, Identity]:
    return {name: Identity.generate(name) for name in ("amara", "bea", "chen", "mallory")}


def start(people: dict[str, Identity]) -> Team:
    amara = people["amara"]
    return Team.start(TeamPublicKey(1, new_key(), (("amara", amara.public.sign_pk),), ORIGIN_A))


def member(identity: Identity, origin: str) -> Member:
    p = identity.public
    return Member(p.name, p.sign_pk, p.box_pk, origin)


def test_a_member_adds_a_laptop_and_the_new_member_may_then_sign(
    people: dict[str, Identity],
) -> None:
    team = start(people)
    add_bea = make_statement(
        team, people["amara"], "add", DAY, member=member(people["bea"], ORIGIN_B)
    )
    team = apply(team, add_bea)
    assert [m.name for m in team.members] == ["amara", "bea"]
    assert team.origins == (ORIGIN_A, ORIGIN_B)
    add_chen = make_statement(
        team, people["bea"], "add", DAY, member=member(people["chen"], ORIGIN_C)
    )
    team = apply(team, add_chen)
    assert set(team.signing_keys()) == {p.key_id for n, p in people.items() if n != "mallory"}


def test_revoking_moves_the_team_key_on_and_the_revoked_may_never_sign_again(
    people: dict[str, Identity],
) -> None:
    team = start(people)
    team = apply(
        team,
        make_statement(team, people["amara"], "add", DAY, member=member(people["bea"], ORIGIN_B)),
    )
    new_public = new_key()
    revoke = make_statement(
        team,
        people["amara"],
        "revoke",
        DAY,
        member=member(people["bea"], ORIGIN_B),
        epoch=(2, new_public),
    )
    team = apply(team, revoke)
    assert [m.name for m in team.members] == ["amara"]
    assert (team.epoch, team.public_key) == (2, new_public)
    assert team.public().public_key == new_public
    # bea's statement, made as if she were still on the team, is refused
    before = Team(1, b"", (member(people["bea"], ORIGIN_B),), n=team.n, head=team.head)
    forged = make_statement(before, people["bea"], "rotate", DAY, epoch=(2, new_key()))
    with pytest.raises(TeamChangeError) as refused:
        apply(team, forged)
    assert refused.value.reason == "not-a-member"
    # and she cannot be added back with the same keys
    with pytest.raises(TeamChangeError) as again:
        make_statement(team, people["amara"], "add", DAY, member=member(people["bea"], ORIGIN_C))
    assert again.value.reason == "not-allowed"


def test_a_statement_from_a_stranger_is_refused(people: dict[str, Identity]) -> None:
    team = start(people)
    pretend = Team(1, b"", (member(people["mallory"], ORIGIN_C),), n=team.n, head=team.head)
    forged = make_statement(
        pretend, people["mallory"], "add", DAY, member=member(people["chen"], ORIGIN_C)
    )
    with pytest.raises(TeamChangeError) as refused:
        apply(team, forged)
    assert refused.value.reason == "not-a-member"


def test_a_replayed_or_reordered_statement_does_not_fit(people: dict[str, Identity]) -> None:
    team = start(people)
    first = make_statement(
        team, people["amara"], "add", DAY, member=member(people["bea"], ORIGIN_B)
    )
    after_first = apply(team, first)
    second = make_statement(after_first, people["amara"], "rotate", DAY, epoch=(2, new_key()))
    with pytest.raises(TeamChangeError) as replayed:
        apply(follow(team, [first, second]), first)
    assert replayed.value.reason == "duplicate"
    with pytest.raises(TeamChangeError) as reordered:
        apply(team, second)
    assert reordered.value.reason == "out-of-order"


def test_two_laptops_adding_at_once_cannot_both_fit(people: dict[str, Identity]) -> None:
    team = start(people)
    team = apply(
        team,
        make_statement(team, people["amara"], "add", DAY, member=member(people["bea"], ORIGIN_B)),
    )
    from_amara = make_statement(
        team, people["amara"], "add", DAY, member=member(people["chen"], ORIGIN_C)
    )
    from_bea = make_statement(team, people["bea"], "rotate", DAY, epoch=(2, new_key()))
    team = apply(team, from_amara)
    with pytest.raises(TeamChangeError) as late:
        apply(team, from_bea)
    assert late.value.reason == "out-of-order"


def test_a_changed_signature_or_body_is_refused(people: dict[str, Identity]) -> None:
    team = start(people)
    good = make_statement(team, people["amara"], "add", DAY, member=member(people["bea"], ORIGIN_B))
    bad_signature = Statement(good.body, bytes(64))
    with pytest.raises(TeamChangeError) as refused:
        apply(team, bad_signature)
    assert refused.value.reason == "signature"
    doc = json.loads(good.body)
    doc["member"]["name"] = "eve"
    changed = Statement(
        json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), good.signature
    )
    with pytest.raises(TeamChangeError) as tampered:
        apply(team, changed)
    assert tampered.value.reason == "signature"


def test_the_last_member_cannot_be_revoked(people: dict[str, Identity]) -> None:
    team = start(people)
    amara = people["amara"].public
    with pytest.raises(TeamChangeError) as refused:
        make_statement(
            team,
            people["amara"],
            "revoke",
            DAY,
            member=Member("amara", amara.sign_pk),
            epoch=(2, new_key()),
        )
    assert refused.value.reason == "not-allowed"


def test_an_epoch_must_go_up_by_one(people: dict[str, Identity]) -> None:
    team = start(people)
    with pytest.raises(TeamChangeError) as refused:
        make_statement(team, people["amara"], "rotate", DAY, epoch=(5, new_key()))
    assert refused.value.reason == "not-allowed"


def test_the_wire_form_round_trips_and_refuses_junk(people: dict[str, Identity]) -> None:
    team = start(people)
    good = make_statement(team, people["amara"], "rotate", DAY, epoch=(2, new_key()))
    assert Statement.from_wire(json.loads(json.dumps(good.to_wire()))) == good
    for junk in (
        None,
        [],
        {"body": "x"},
        {"body": "!!", "signature": "AA=="},
        {"body": "", "signature": ""},
    ):
        with pytest.raises(TeamChangeError):
            Statement.from_wire(junk)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_body_is_refused_with_a_reason_never_a_crash(body: bytes) -> None:
    team = Team(1, bytes(32), (), n=0, head="0" * 64)
    with pytest.raises(TeamChangeError):
        apply(team, Statement(body, bytes(64)))


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "v": st.integers(0, 2),
            "n": st.integers(-1, 3),
            "change": st.sampled_from(["add", "revoke", "rotate", "x"]),
        }
    )
)
def test_near_miss_bodies_are_refused(fields: dict[str, object]) -> None:
    amara = Identity.generate("amara")
    team = Team.start(TeamPublicKey(1, bytes(32), (("amara", amara.public.sign_pk),), ORIGIN_A))
    doc = {
        "v": 1,
        "kind": "redress team change",
        "prev": team.head,
        "by": amara.key_id,
        "day": DAY,
        **fields,
    }
    body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(TeamChangeError):
        apply(team, Statement(body, amara.sign(CONTEXT + body)))
