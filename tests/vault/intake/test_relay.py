"""The relay's rules (vault/intake/relay.py over the real inbox): who may send, what is kept,
what is refused, and when items are deleted. The whole path is in tests/vault/test_sync.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from vault import _crypto
from vault.db import new_origin
from vault.errors import IntegrityError
from vault.intake.inbox import Inbox
from vault.intake.relay import Relay, RelayRefused
from vault.keys import Identity, TeamKeyPair, TeamPublicKey
from vault.relay_items import FIRST_PREV, TO_TEAM, Item, make_item
from vault.team_changes import Member, Team, make_statement

A_ORIGIN = new_origin()


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Relay, Identity, Identity, Identity]]:
    amara, bea, carol = (Identity.generate(n) for n in ("amara", "bea", "carol"))
    team = TeamKeyPair.generate(1)
    start = TeamPublicKey(1, team.public_key, (("amara", amara.public.sign_pk),), A_ORIGIN)
    seen: list[Team] = []
    with Inbox.open(tmp_path / "relay") as inbox:
        relay = Relay(inbox, start, seen.append)
        for person in (bea, carol):
            member = Member(person.name, person.public.sign_pk, person.public.box_pk, new_origin())
            relay.add_statement(
                make_statement(relay.team, amara, "add", "2026-12-05", member=member)
            )
        assert [len(t.members) for t in seen] == [1, 2, 3], "each change takes effect at once"
        yield relay, amara, bea, carol


def _item(who: Identity, origin: str, n: int, prev: str, to: str = TO_TEAM) -> Item:
    return make_item(who, origin, n, prev, to, 1 if to == TO_TEAM else 0, _crypto.random_bytes(40))


def _origin(relay: Relay, who: Identity) -> str:
    member = relay.team.member(who.key_id)
    assert member is not None
    assert member.origin is not None
    return member.origin


def test_items_are_kept_until_every_member_they_are_for_has_them(
    parts: tuple[Relay, Identity, Identity, Identity],
) -> None:
    relay, amara, bea, carol = parts
    one = _item(amara, A_ORIGIN, 1, FIRST_PREV)
    two = _item(amara, A_ORIGIN, 1, FIRST_PREV, to=bea.key_id)  # a chain per addressee
    assert relay.put(amara.key_id, one.to_wire()) == "stored"
    assert relay.put(amara.key_id, one.to_wire()) == "held", "sent again after a crash"
    assert relay.put(amara.key_id, two.to_wire()) == "stored"
    assert relay.fetch(amara.key_id, 10) == ([], False), "never one's own items"
    for_carol, _ = relay.fetch(carol.key_id, 10)
    assert [w for _, w in for_carol] == [one.to_wire()], "not bea's item"
    for_bea, _ = relay.fetch(bea.key_id, 10)
    assert [w for _, w in for_bea] == [one.to_wire(), two.to_wire()]
    assert relay.ack(bea.key_id, for_bea[-1][0]) == 1, "bea's own item goes; the team's waits"
    assert relay.ack(carol.key_id, for_carol[-1][0]) == 1
    assert relay.fetch(bea.key_id, 10) == ([], False)


def test_the_relay_refuses_what_does_not_fit(
    parts: tuple[Relay, Identity, Identity, Identity],
) -> None:
    relay, amara, bea, _ = parts
    one = _item(amara, A_ORIGIN, 1, FIRST_PREV)
    relay.put(amara.key_id, one.to_wire())
    skipped = _item(amara, A_ORIGIN, 3, one.hash)
    forged = _item(bea, A_ORIGIN, 2, one.hash)  # bea signing for amara's log
    stranger = Identity.generate("mallory")
    cases = [
        (amara.key_id, skipped.to_wire(), 409),
        (bea.key_id, forged.to_wire(), 403),
        (amara.key_id, forged.to_wire(), 400),  # not amara's signature
        (stranger.key_id, _item(stranger, new_origin(), 1, FIRST_PREV).to_wire(), 403),
        (amara.key_id, b"\x00" * 80, 400),
        (amara.key_id, _item(amara, A_ORIGIN, 2, one.hash, to=stranger.key_id).to_wire(), 409),
    ]
    for author, wire, status in cases:
        with pytest.raises(RelayRefused) as refused:
            relay.put(author, wire)
        assert refused.value.status == status, refused.value.error
    assert relay.put(bea.key_id, _item(bea, _origin(relay, bea), 1, FIRST_PREV).to_wire())


def test_an_item_under_a_number_taken_is_held_only_if_the_same(
    parts: tuple[Relay, Identity, Identity, Identity],
) -> None:
    """A laptop restored from its backup numbers its items again: the relay compares them."""
    relay, amara, _, _ = parts
    one = _item(amara, A_ORIGIN, 1, FIRST_PREV)
    two = _item(amara, A_ORIGIN, 2, one.hash)
    for item in (one, two):
        assert relay.put(amara.key_id, item.to_wire()) == "stored"
    assert relay.put(amara.key_id, one.to_wire()) == "held"
    assert relay.put(amara.key_id, two.to_wire()) == "held"
    for other in (_item(amara, A_ORIGIN, 1, FIRST_PREV), _item(amara, A_ORIGIN, 2, one.hash)):
        with pytest.raises(RelayRefused) as refused:
            relay.put(amara.key_id, other.to_wire())
        assert (refused.value.status, refused.value.error) == (409, "forked")


def test_a_revoked_member_is_refused_and_no_longer_holds_items_back(
    parts: tuple[Relay, Identity, Identity, Identity],
) -> None:
    relay, amara, bea, carol = parts
    first = _item(amara, A_ORIGIN, 1, FIRST_PREV)
    relay.put(amara.key_id, first.to_wire())
    (seq, _), *_ = relay.fetch(bea.key_id, 10)[0]
    relay.ack(bea.key_id, seq)
    new = TeamKeyPair.generate(2)
    gone = Member("carol", carol.public.sign_pk)
    relay.add_statement(
        make_statement(
            relay.team, amara, "revoke", "2026-12-05", member=gone, epoch=(2, new.public_key)
        )
    )
    assert relay.team.epoch == 2
    assert relay.fetch(bea.key_id, 10) == ([], False)
    assert relay.fetch(amara.key_id, 10) == ([], False)
    assert relay.put(amara.key_id, _item(amara, A_ORIGIN, 2, first.hash).to_wire()) == "stored"
    with pytest.raises(RelayRefused) as refused:
        relay.put(carol.key_id, _item(carol, new_origin(), 1, FIRST_PREV).to_wire())
    assert refused.value.status == 403
    as_if = replace(relay.team, members=(*relay.team.members, gone))  # what carol might claim
    with pytest.raises(RelayRefused) as again:
        relay.add_statement(
            make_statement(as_if, carol, "rotate", "2026-12-05", epoch=(3, b"k" * 32))
        )
    assert again.value.error == "not-a-member"


def test_an_intake_started_with_a_new_team_key_file_is_told_to_use_its_first(
    parts: tuple[Relay, Identity, Identity, Identity], tmp_path: Path
) -> None:
    """The admin who re-exports the team key after a change and restarts with it, as for a
    shared folder, is told which file to start with (the record already holds the change)."""
    _, amara, _, _ = parts
    later = TeamPublicKey(
        2, TeamKeyPair.generate(2).public_key, (("amara", amara.public.sign_pk),), A_ORIGIN
    )
    with (
        Inbox.open(tmp_path / "relay") as inbox,
        pytest.raises(IntegrityError, match="does not follow its team key file") as refused,
    ):
        Relay(inbox, later, lambda _: None)
    assert "first started with" in str(refused.value.hint)
