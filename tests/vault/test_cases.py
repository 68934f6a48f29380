"""The case workflow: unit tests for ids and the fold, and a property test of random actions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSPHRASE, seal_for
from vault import _crypto, case_view, incoming
from vault.audit.case_actions import apply, fold
from vault.cases import ALPHABET, CaseState, case_id_for, new_case_id, normalise_id, show_id
from vault.db import OUTCOMES, STATUSES
from vault.envelope import envelope_id as envelope_id_of
from vault.errors import CaseWorkflowError, UsageError
from vault.events import Event
from vault.store import Vault


def test_a_reports_case_id_is_the_same_wherever_the_team_takes_it_in(tmp_path: Path) -> None:
    """Derived from the envelope under the team key (vault.cases.case_id_for): the same on
    every laptop, another under another team's key, and the next choice when it is taken."""
    key = _crypto.SecretBytes(bytes(range(32)), "team key")
    other = _crypto.SecretBytes(bytes(32), "team key")
    envelope_id = bytes(range(32, 64))
    first = case_id_for(key, envelope_id)
    assert first == case_id_for(key, envelope_id)
    assert len(first) == 8
    assert set(first) <= set(ALPHABET)
    assert case_id_for(other, envelope_id) != first
    assert case_id_for(key, envelope_id, 1) != first
    with Vault.create(tmp_path / "v", "amara", PASSPHRASE) as vault:
        envelope = seal_for(vault)
        team = vault.team_key_for(envelope)
        wanted = case_id_for(team.secret_key, envelope_id_of(envelope))
        # Its id taken by an erased case: the report gets its next choice, never that id.
        with vault.transaction() as db:
            db.execute(
                "INSERT INTO erased_cases (id, envelope_id, received, erased, status, reason,"
                " entry) VALUES (?, ?, '2026-01-01', '2026-02-01', 'closed', 'test',"
                " (SELECT max(seq) FROM log_leaves))",
                (wanted, bytes(32)),
            )
        (got,) = incoming.import_envelopes(vault, [("r", envelope)]).imported
        assert got == case_id_for(team.secret_key, envelope_id_of(envelope), 1)


def _event(kind: str, **data: object) -> Event:
    return Event(id="0" * 32, case="ABCD1234", kind=kind, actor="k" * 16, at="t", data=dict(data))


def test_case_ids() -> None:
    ids = {new_case_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 8 and set(i) <= set(ALPHABET) for i in ids)
    assert show_id("ABCD1234") == "ABCD-1234"
    assert normalise_id(" abcd-i234 ") == "ABCD1234"
    assert normalise_id("oooo") == "0000"
    for bad in ("", "ABCD-12345", "ABCU"):
        with pytest.raises(UsageError):
            normalise_id(bad)


@given(st.binary(min_size=5, max_size=5))
def test_a_case_id_is_its_40_bits_in_crockford_base32(random: bytes) -> None:
    n = int.from_bytes(random, "big")
    expected = "".join(ALPHABET[n >> 5 * (7 - i) & 31] for i in range(8))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_crypto, "random_bytes", lambda size: random)
        assert new_case_id() == expected


def test_fold_follows_events() -> None:
    events = [
        _event("imported"),
        _event("assigned", to="amara"),
        _event("status", to="triage"),
        _event("note", epoch=1, sealed=""),
        _event("closed", outcome="supported"),
        _event("status", to="supporting"),
    ]
    state = fold("ABCD1234", events)
    assert state == CaseState("ABCD1234", "supporting", "amara", None, imported=True)


@pytest.mark.parametrize(
    "events",
    [
        [_event("note", epoch=1, sealed="")],  # nothing before the import
        [_event("imported"), _event("imported")],
        [_event("imported"), _event("status", to="new")],
        [_event("imported"), _event("status", to="closed")],
        [_event("imported"), _event("closed", outcome=None), _event("closed", outcome=None)],
        [_event("imported"), _event("renamed")],
    ],
)
def test_fold_refuses_impossible_histories(events: list[Event]) -> None:
    with pytest.raises((CaseWorkflowError, UsageError)):
        fold("ABCD1234", events)


def test_event_for_another_case_is_refused() -> None:
    state = CaseState("OTHER000", imported=True)
    with pytest.raises(CaseWorkflowError):
        apply(state, _event("opened"))


@pytest.fixture(scope="module")
def shared_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    directory: Path = tmp_path_factory.mktemp("workflow") / "vault-data"
    with Vault.create(directory, "amara", PASSPHRASE) as vault:
        yield vault


def _perform(vault: Vault, case_id: str, action: str, arg: str | None) -> None:
    if action == "show":
        case_view.show_case(vault, case_id)
        return
    assert arg is not None
    if action == "status":
        vault.set_status(case_id, arg)
    elif action == "close":
        vault.close_case(case_id, arg)
    elif action == "assign":
        vault.assign(case_id, arg)
    else:
        vault.add_note(case_id, arg)


ACTIONS = st.one_of(
    st.tuples(st.just("status"), st.sampled_from(STATUSES)),
    st.tuples(st.just("close"), st.sampled_from(OUTCOMES)),
    st.tuples(st.just("assign"), st.sampled_from(["amara", "Amara", "bea", "chidi"])),
    st.tuples(st.just("note"), st.text(min_size=1, max_size=40).filter(str.strip)),
    st.tuples(st.just("show"), st.none()),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=st.lists(ACTIONS, max_size=12))
@pytest.mark.slow
def test_random_actions_match_a_simple_model(
    shared_vault: Vault, actions: list[tuple[str, str | None]]
) -> None:
    vault = shared_vault
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    status, assignee, outcome = "new", None, None
    recorded = ["imported"]
    notes: list[str] = []
    for action, arg in actions:
        allowed = True
        if action == "status":
            allowed = arg not in (status, "closed")  # closing needs an outcome: cases close
        elif action == "close":
            allowed = status != "closed"
        elif action == "assign":
            allowed = arg == "amara"  # the only caseworker here; names are exact
        if not allowed:
            with pytest.raises((CaseWorkflowError, UsageError)):
                _perform(vault, case_id, action, arg)
            continue
        _perform(vault, case_id, action, arg)
        if action == "status":
            recorded.append("status")
            status, outcome = arg, None
        elif action == "close":
            recorded.append("closed")
            status, outcome = "closed", arg
        elif action == "assign":
            recorded.append("assigned")
            assignee = arg
        elif action == "note":
            recorded.append("note")
            assert arg is not None
            notes.append(arg.strip())
        else:
            recorded.append("opened")
    [summary] = [c for c in case_view.list_cases(vault) if c.id == case_id]
    assert (summary.status, summary.assignee, summary.outcome) == (status, assignee, outcome)
    case_view.check_case(vault, case_id)
    view = case_view.show_case(vault, case_id)
    assert [h.action for h in view.history] == [*recorded, "opened"]
    assert [n.text for n in view.notes] == notes
