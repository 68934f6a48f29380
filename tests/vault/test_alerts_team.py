"""Safety alerts on a team of laptops (vault/alert_index.py, docs/alerts.md "On a team of
laptops"): a draft made on one laptop is approved on another and exported on either, and
every laptop lists the same alerts in the same states, whatever order the syncs come in.

Two real vault folders, each its own caseworker, and one real `vault intake serve` on
loopback as their relay, made once for the module (tests/team_laptops.py); each test takes a
new case to both. Library calls in this process; tests/cli/test_alerts.py drives the
commands themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, make_report, seal_for
from tests.intake_server import IntakeServers
from tests.team_laptops import join
from vault import alert_index, alerts, incoming
from vault.check import check_vault
from vault.events import Event
from vault.store import Vault
from vault.sync import sync

DRAFT = "A GP in Leeds refused to treat a worker and told her landlord about her work."


@dataclass
class Team:
    amara: Vault
    bea: Vault
    url: str
    home: Path

    def sync_all(self) -> None:
        for laptop in (self.amara, self.bea, self.amara):
            sync(laptop, self.url)

    def new_case(self) -> str:
        report = make_report(consent={"alert": True, "research": False}, wants=["share-alert"])
        envelope = seal_for(self.amara, report)
        (case_id,) = incoming.import_envelopes(self.amara, [("r", envelope)]).imported
        self.sync_all()
        return case_id


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    home = tmp_path_factory.mktemp("alerts-team")
    with IntakeServers(home) as servers, Vault.create(home / "a", "amara", PASSPHRASE) as amara:
        url = servers.start(amara.team_key_export()).url
        bea = join(home / "b", "bea", amara, url)
        try:
            sync(amara, url)
            yield Team(amara, bea, url, home)
        finally:
            bea.close()


def _states(laptop: Vault) -> dict[str, tuple[str, str | None]]:
    return {a.id: (a.state, a.approved_by) for a in alerts.list_alerts(laptop)}


def test_drafted_on_one_laptop_approved_on_the_other_exported_on_either(team: Team) -> None:
    case_id = team.new_case()
    drafted = alerts.draft(team.amara, case_id, DRAFT)
    with pytest.raises(alerts.OwnAlertError):  # a team of two: amara may not approve her own
        alerts.approve(team.amara, drafted.id)
    team.sync_all()
    (seen,) = [a for a in alerts.list_alerts(team.bea) if a.case == case_id]
    assert (seen.id, seen.state, seen.drafted_by) == (drafted.id, "draft", "amara")
    assert seen.content == drafted.content

    alerts.approve(team.bea, drafted.id)
    team.sync_all()
    assert _states(team.amara)[drafted.id] == ("approved", "bea")

    exported, *_ = alerts.export(team.amara, drafted.id, team.home / f"{drafted.id}.txt")
    assert exported.state == "exported"
    team.sync_all()
    assert _states(team.bea)[drafted.id] == ("exported", "bea")
    assert _states(team.amara) == _states(team.bea)
    assert check_vault(team.amara) == []
    assert check_vault(team.bea) == []


def test_an_approval_and_a_new_draft_made_apart_agree_everywhere(team: Team) -> None:
    """bea approves the draft she holds while amara, apart, drafts it again. After the syncs
    both laptops hold the same: whichever came first in the team's order stands (here the
    approval, made first, of the draft bea read; amara's later draft does not take effect),
    and an approval never stands on a draft its approver did not see."""
    case_id = team.new_case()
    first = alerts.draft(team.amara, case_id, DRAFT)
    team.sync_all()
    alerts.approve(team.bea, first.id)  # of the first draft
    again = alerts.draft(team.amara, case_id, DRAFT + " She wants others warned.")
    assert again.id == first.id
    sync(team.bea, team.url)
    team.sync_all()
    held = []
    for laptop in (team.amara, team.bea):
        (alert,) = [a for a in alerts.list_alerts(laptop) if a.case == case_id]
        held.append((alert.state, alert.approved_by, alert.content.text))
    assert held[0] == held[1] == ("approved", "bea", first.content.text)
    newer = alerts.draft(team.amara, case_id, DRAFT + " She wants others warned.")
    assert newer.id != first.id  # drafting again after an approval is a new alert
    team.sync_all()
    assert _states(team.amara) == _states(team.bea)


def test_a_laptop_joining_later_holds_the_teams_alerts(team: Team) -> None:
    case_id = team.new_case()
    drafted = alerts.draft(team.amara, case_id, DRAFT)
    team.sync_all()
    alerts.approve(team.bea, drafted.id)
    team.sync_all()
    carol = join(team.home / "c", "carol", team.amara, team.url)
    try:
        assert _states(carol) == _states(team.amara)
        assert _states(carol)[drafted.id] == ("approved", "bea")
    finally:
        carol.close()


def _event(n: int, kind: str, actor: str, **data: object) -> Event:
    return Event(f"{n:064x}", "CASE0001", kind, actor, "2026-12-06T00:00:00Z", dict(data))


def test_the_fold_takes_each_step_only_from_the_state_before_it() -> None:
    import base64
    import hashlib

    sealed = [base64.b64encode(bytes([i]) * 48).decode() for i in range(2)]
    digest = [hashlib.sha256(base64.b64decode(s)).hexdigest() for s in sealed]
    a, b = "a" * 16, "b" * 16
    events = [
        _event(1, "alert-exported", b, alert="ALERT001"),  # nothing to export yet
        _event(2, "alert-drafted", a, alert="ALERT001", sealed=sealed[0]),
        _event(3, "alert-approved", b, alert="ALERT001", draft=digest[1]),  # another draft's
        _event(4, "alert-approved", b, alert="ALERT001", draft=digest[0], sealed="x"),
        _event(5, "alert-drafted", a, alert="ALERT001", sealed=sealed[1]),  # after approval
        _event(6, "alert-exported", a, alert="ALERT001"),
    ]
    (row,) = alert_index.fold("CASE0001", events, {events[1].id: 2})
    assert (row.state, row.draft_event, row.approved_by, row.overridden) == (
        "exported",
        events[1].id,
        b,
        1,
    )
    assert alert_index.fold("CASE0001", events[:3], {}) == [
        alert_index.IndexRow(
            "ALERT001", "CASE0001", "draft", events[1].id, a, None, 0, 0, digest[0]
        )
    ]
