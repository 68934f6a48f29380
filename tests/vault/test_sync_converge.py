"""Three laptops, random work and random syncs: after a last round of syncs all agree.

Three real vault folders, each its own caseworker, and one real `vault intake serve` on
loopback as their relay, made once for the module; the work and the syncs are library calls
in this process (the CLI is not what is tested here; tests/vault/test_sync.py and
tests/cli/test_team_of_laptops.py drive the same steps through `vault`). Each hypothesis
example takes a new case to all three, then draws an interleaving of notes, status changes,
assignments, closings, safety alert drafts, approvals and exports, and syncs by any laptop
(a second test draws alert steps and syncs only, so that approvals and exports made apart
are drawn often); after a final round of syncs, every laptop must show the case exactly
alike (`cases show --json`, less what belongs to one laptop: tests/team_laptops.py), with
each event once, and list the same alerts in the same states. ``REDRESS_SYNC_EXAMPLES=N``
runs N examples of each instead of 25 (docs/sync.md section 9 gives the longest run).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSPHRASE, make_report, seal_for
from tests.intake_server import IntakeServers
from tests.team_laptops import every_case, join, shown
from vault import alerts, incoming
from vault.audit.terms import OUTCOMES
from vault.case_history import verified_events
from vault.check import check_vault
from vault.errors import VaultError
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import sync
from vault.sync_result import SyncResult

pytestmark = pytest.mark.slow

NAMES = ("amara", "bea", "carol")
OPEN_STATUSES = ("new", "triage", "supporting", "referred")


class Team:
    def __init__(self, laptops: tuple[Vault, ...], url: str, client: httpx.Client) -> None:
        self.laptops = laptops
        self.url = url
        self.client = client  # one HTTP client for every sync: faster, and the same requests
        self.made = 0

    def sync(self, laptop: Vault) -> SyncResult:
        return sync(laptop, self.url, client=self.client)

    def new_case(self, text: str) -> str:
        """A report taken in on amara's laptop, then synced to the other two."""
        amara = self.laptops[0]
        envelope = seal_for(amara, make_report(what_happened=text))
        (case_id,) = incoming.import_envelopes(amara, [("r", envelope)]).imported
        for laptop in self.laptops:
            self.sync(laptop)
        return case_id

    def settle(self) -> None:
        """The final round: each laptop sends what it has, then takes in all the others'."""
        for i in (0, 1, 2, 0, 1):
            self.sync(self.laptops[i])


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    home = tmp_path_factory.mktemp("three-laptops")
    with IntakeServers(home) as servers, Vault.create(home / "a", "amara", PASSPHRASE) as amara:
        url = servers.start(amara.team_key_export()).url
        bea = join(home / "b", "bea", amara, url)
        carol = join(home / "c", "carol", amara, url)
        try:
            for laptop in (bea, carol, amara, bea):
                sync(laptop, url)  # each has the others as members
            with httpx.Client(timeout=30) as client:
                yield Team((amara, bea, carol), url, client)
        finally:
            bea.close()
            carol.close()


def _act(laptop: Vault, case_id: str, step: tuple[Any, ...], n: int) -> str | None:
    """Do one step of work on ``laptop``; the note's text if it was a note taken."""
    kind = step[0]
    try:
        if kind == "alert":  # draft the case's alert, or draft it again
            alerts.draft(laptop, case_id, f"A GP refused to treat a worker ({n}).")
        elif kind in ("approve", "export"):
            for alert in alerts.list_alerts(laptop):
                if alert.case != case_id:
                    continue
                if kind == "approve" and alert.state == "draft":
                    alerts.approve(laptop, alert.id, override="read and checked")
                elif kind == "export" and alert.state == "approved":
                    out = laptop.directory.parent / f"alert-{uuid.uuid4().hex}.txt"
                    alerts.export(laptop, alert.id, out)
        elif kind == "note":
            text = f"note {n} by {laptop.identity.name}"
            laptop.add_note(case_id, text)
            return text
        elif kind == "status":
            laptop.set_status(case_id, step[2])
        elif kind == "assign":
            laptop.assign(case_id, step[2])
        elif kind == "close":
            laptop.close_case(case_id, step[2])
    except VaultError:
        pass  # refused on this laptop as the case stands here (a closed case, say)
    return None


laptop_index = st.integers(0, 2)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("note"), laptop_index),
        st.tuples(st.just("status"), laptop_index, st.sampled_from(OPEN_STATUSES)),
        st.tuples(st.just("assign"), laptop_index, st.sampled_from(NAMES)),
        st.tuples(st.just("close"), laptop_index, st.sampled_from(OUTCOMES)),
        st.tuples(st.just("sync"), laptop_index),
        st.tuples(st.just("alert"), laptop_index),
        st.tuples(st.just("approve"), laptop_index),
        st.tuples(st.just("export"), laptop_index),
    ),
    min_size=3,
    max_size=14,
)


@settings(
    max_examples=int(os.environ.get("REDRESS_SYNC_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Drafted on one laptop, approved on another, exported on the first: every run.
@example(steps=[("alert", 0), ("sync", 0), ("sync", 1), ("approve", 1), ("sync", 1), ("export", 0)])
# An approval made apart from a new draft of the same alert, and an export apart from both.
@example(
    steps=[
        ("alert", 0),
        ("sync", 0),
        ("sync", 2),
        ("approve", 2),
        ("alert", 0),
        ("sync", 2),
        ("sync", 1),
        ("approve", 1),
        ("export", 2),
        ("alert", 0),
        ("sync", 0),
        ("export", 1),
    ]
)
@given(steps=steps)
def test_any_interleaving_of_work_and_syncs_converges(team: Team, steps: list[Any]) -> None:
    team.made += 1
    case_id = team.new_case(f"converging {team.made}")
    written = []  # every note a laptop took: each must be on every laptop, once
    for n, step in enumerate(steps):
        laptop = team.laptops[step[1]]
        if step[0] == "sync":
            team.sync(laptop)
        elif (note := _act(laptop, case_id, step, n)) is not None:
            written.append(note)
    team.settle()
    views = [shown(laptop, case_id) for laptop in team.laptops]
    assert views[1] == views[0]
    assert views[2] == views[0]
    held = [_alerts_of(laptop, case_id) for laptop in team.laptops]  # safety alerts too
    event(f"alert states: {sorted({a[1] for a in held[0]})}")
    assert held[1] == held[0]
    assert held[2] == held[0]
    for laptop in team.laptops:
        ids = [str(r[0]) for r in laptop.db.execute("SELECT id FROM events")]
        assert len(ids) == len(set(ids))
    assert sorted(n["text"] for n in views[0]["notes"]) == sorted(written)


alert_steps = st.lists(
    st.tuples(st.sampled_from(["alert", "approve", "export", "sync", "sync"]), laptop_index),
    min_size=8,
    max_size=20,
)


@settings(
    max_examples=int(os.environ.get("REDRESS_SYNC_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=alert_steps)
def test_any_interleaving_of_alert_steps_and_syncs_converges(team: Team, steps: list[Any]) -> None:
    """Drafts, approvals and exports of a case's safety alert on any laptop, between syncs
    by any laptop: afterwards every laptop holds the same alerts in the same states."""
    team.made += 1
    case_id = team.new_case(f"alerting {team.made}")
    for n, step in enumerate(steps):
        if step[0] == "sync":
            team.sync(team.laptops[step[1]])
        else:
            _act(team.laptops[step[1]], case_id, step, n)
    team.settle()
    held = [_alerts_of(laptop, case_id) for laptop in team.laptops]
    event(f"alert states: {sorted({a[1] for a in held[0]})}")
    assert held[1] == held[0]
    assert held[2] == held[0]
    views = [shown(laptop, case_id) for laptop in team.laptops]
    assert views[1] == views[0]
    assert views[2] == views[0]


def _alerts_of(laptop: Vault, case_id: str) -> list[tuple[str, str, str | None, str]]:
    return sorted(
        (a.id, a.state, a.approved_by, a.content.text)
        for a in alerts.list_alerts(laptop)
        if a.case == case_id
    )


def test_two_assignments_made_apart_are_a_conflict_shown_alike_on_all_three(team: Team) -> None:
    """Amara assigns the case to carol while bea, apart, assigns it to herself: after syncs
    in different orders, `cases show` on every laptop keeps both, with the one that stands
    marked, and the same assignee (docs/sync.md section 6a)."""
    amara, bea, carol = team.laptops
    case_id = team.new_case("assigned apart")
    amara.assign(case_id, "carol")
    bea.assign(case_id, "bea")
    for i in (1, 2, 0, 1, 2):  # carol takes bea's first, amara's last
        team.sync(team.laptops[i])
    views = [shown(laptop, case_id) for laptop in (carol, amara, bea)]
    assert views[0] == views[1] == views[2]
    (conflict,) = views[0]["conflicts"]
    assert conflict["field"] == "assignee"
    changes = {(c["actor"], c["value"]): c["stands"] for c in conflict["changes"]}
    assert set(changes) == {("amara", "carol"), ("bea", "bea")}
    assert sorted(changes.values()) == [False, True]
    standing = next(value for (_, value), stands in changes.items() if stands)
    assert views[0]["assignee"] == standing


def test_a_laptop_offline_for_many_changes_catches_up(team: Team) -> None:
    """Carol stays away while amara and bea make hundreds of changes over many cases, sync
    many times, and new reports arrive at the intake; one sync later she holds all of it."""
    amara, bea, carol = team.laptops
    cases = [team.new_case(f"before carol left {i}") for i in range(3)]
    for round_ in range(6):
        for i, case_id in enumerate(cases):
            amara.add_note(case_id, f"round {round_} amara {i}")
            bea.add_note(case_id, f"round {round_} bea {i}")
            bea.set_status(case_id, OPEN_STATUSES[1 + (round_ + i) % 3])
            amara.assign(case_id, NAMES[(round_ + i) % 3])
        envelope = seal_for(amara, make_report(what_happened=f"arrived in round {round_}"))
        send_envelope(team.url, envelope)
        cases += team.sync(amara if round_ % 2 else bea).pulled.imported  # one takes it in
        team.sync(bea if round_ % 2 else amara)
    team.settle()  # carol is synced too, but only at the end: a, b, c, a, b

    assert every_case(carol) == every_case(amara) == every_case(bea)
    for case_id in every_case(amara):
        views = [shown(laptop, case_id) for laptop in team.laptops]
        assert views[0] == views[1] == views[2], case_id
    for laptop in team.laptops:
        assert check_vault(laptop) == []


def test_events_verified_on_receipt_are_not_verified_again_but_other_bytes_are(
    team: Team,
) -> None:
    """The refold after a page of events reuses the events just verified, by their exact
    bytes; a stored event whose bytes differ from those is verified as ever."""
    amara = team.laptops[0]
    case_id = team.new_case("verified once")
    amara.add_note(case_id, "checked once")
    body, signature = amara.db.execute(
        "SELECT body, signature FROM events WHERE case_id = ? ORDER BY seq DESC LIMIT 1",
        (case_id,),
    ).fetchone()
    body, signature = bytes(body), bytes(signature)
    plain = verified_events(amara, amara.db, case_id)
    marker = replace(plain[-1], at="marked")  # what the cache hands back, to tell it apart
    reused = verified_events(amara, amara.db, case_id, {(body, signature): marker})
    assert reused[-1] is marker
    other = verified_events(amara, amara.db, case_id, {(body + b" ", signature): marker})
    assert other == plain
