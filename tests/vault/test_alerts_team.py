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
from vault import alert_index, alerts, erasure, incoming
from vault import db as dbmod
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


def _sealed_sha256(laptop: Vault, alert_id: str) -> str:
    import hashlib

    return hashlib.sha256(alerts._load(laptop, alert_id)[1]).hexdigest()


def test_an_approval_signed_by_the_drafter_elsewhere_does_not_approve(team: Team) -> None:
    """The two-person rule across laptops: amara's laptop (changed, or a script on it) signs
    an approval of her own draft and sends it. No laptop lists the alert as approved (export
    refuses it too, from the signed events), and every laptop lists the same."""
    from vault.events import Event, sign_event

    case_id = team.new_case()
    drafted = alerts.draft(team.amara, case_id, DRAFT)
    own = {"alert": drafted.id, "draft": _sealed_sha256(team.amara, drafted.id)}
    with team.amara.transaction() as db:
        team.amara.record(db, case_id, "alert-approved", own)
        # and one without a clock stamp, as if made before the vault synced
        signed = sign_event(
            Event.new(case_id, "alert-approved", team.amara.identity, own), team.amara.identity
        )
        db.execute(
            "INSERT INTO events (id, case_id, kind, actor, body, signature)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                *(signed.event.id, case_id, "alert-approved", signed.event.actor),
                signed.body,
                signed.signature,
            ),
        )
    team.sync_all()
    assert _states(team.bea)[drafted.id] == ("draft", None)
    assert check_vault(team.bea) == []
    with team.bea.transaction() as db:  # the index changed by hand: vault check names it
        db.execute("UPDATE alerts SET open_flags = open_flags + 7 WHERE id = ?", (drafted.id,))
    shown = alerts.show_id(drafted.id)
    assert check_vault(team.bea) == [
        f"alert {shown}: its index does not match its case's signed alert events"
    ]
    with team.bea.transaction() as db:
        db.execute("UPDATE alerts SET open_flags = open_flags - 7 WHERE id = ?", (drafted.id,))
    with pytest.raises(alerts.CaseWorkflowError):  # not approved: exit 1, not exit 4
        alerts.export(team.bea, drafted.id, team.home / f"{drafted.id}-own.txt")
    alerts.approve(team.bea, drafted.id)  # a second caseworker's approval still counts
    team.sync_all()
    assert _states(team.amara)[drafted.id] == _states(team.bea)[drafted.id] == ("approved", "bea")
    assert check_vault(team.amara) == []
    assert check_vault(team.bea) == []


def test_an_alert_exported_apart_from_a_new_draft_shows_as_exported(team: Team) -> None:
    """An approval of an earlier draft, re-drafted meanwhile elsewhere, stands with the draft
    its approver read, whichever comes first in the team's order: what was exported is what
    every laptop lists (review 7, fault 5)."""
    import time

    case_id = team.new_case()
    first = alerts.draft(team.amara, case_id, DRAFT)
    team.sync_all()
    alerts.draft(team.amara, case_id, DRAFT + " She wants others warned.")  # not yet sent
    time.sleep(0.01)  # bea's steps are stamped after it
    alerts.approve(team.bea, first.id)
    exported, text_file, _ = alerts.export(team.bea, first.id, team.home / f"{first.id}-r.txt")
    assert exported.state == "exported"
    assert text_file.exists()  # it has left the vault
    team.sync_all()
    assert _states(team.amara)[first.id] == _states(team.bea)[first.id] == ("exported", "bea")
    assert alert_index.check(team.amara) == [] == alert_index.check(team.bea)


def test_a_case_drafted_on_two_laptops_apart_holds_the_same_two_drafts_everywhere(
    team: Team,
) -> None:
    """Two laptops drafting a case's first alert apart make two alerts of the case (docs/
    alerts.md): every laptop lists both, in draft, and drafting again on either laptop
    replaces the same one, the first by id."""
    case_id = team.new_case()
    alerts.draft(team.amara, case_id, DRAFT)
    alerts.draft(team.bea, case_id, DRAFT + " Again.")
    team.sync_all()
    assert _states(team.amara) == _states(team.bea)
    ids = sorted(a.id for a in alerts.list_alerts(team.bea) if a.case == case_id)
    assert len(ids) == 2
    assert alerts.draft(team.bea, case_id, DRAFT + " Once more.").id == ids[0]
    team.sync_all()
    assert alerts.draft(team.amara, case_id, DRAFT + " And again.").id == ids[0]
    team.sync_all()
    assert _states(team.amara) == _states(team.bea)


def test_an_approval_signed_by_a_joiner_drafter_does_not_approve(team: Team) -> None:
    """As above, with the drafter the caseworker who joined (bea): her laptop's access log
    need not record who was on the team before she joined."""
    case_id = team.new_case()
    drafted = alerts.draft(team.bea, case_id, DRAFT)
    with team.bea.transaction() as db:
        team.bea.record(
            db,
            case_id,
            "alert-approved",
            {"alert": drafted.id, "draft": _sealed_sha256(team.bea, drafted.id)},
        )
    team.sync_all()
    assert _states(team.amara)[drafted.id] == ("draft", None)
    with pytest.raises(alerts.CaseWorkflowError):
        alerts.export(team.amara, drafted.id, team.home / f"{drafted.id}-own.txt")


def test_a_team_of_ones_own_approval_holds_on_a_laptop_that_joins(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """amara alone approves her own alert (a team of one), then bea joins: bea's laptop lists
    it approved and can export it (the two-person rule counts the team at the approval)."""
    home = tmp_path_factory.mktemp("alerts-alone")
    with IntakeServers(home) as servers, Vault.create(home / "a", "amara", PASSPHRASE) as amara:
        report = make_report(consent={"alert": True, "research": False}, wants=["share-alert"])
        (case_id,) = incoming.import_envelopes(amara, [("r", seal_for(amara, report))]).imported
        drafted = alerts.draft(amara, case_id, DRAFT)
        alerts.approve(amara, drafted.id)
        bea = join(home / "b", "bea", amara, servers.start(amara.team_key_export()).url)
        try:
            assert _states(bea) == {drafted.id: ("approved", "amara")}
            assert alerts.export(bea, drafted.id, home / "alert.txt")[0].state == "exported"
        finally:
            bea.close()


def test_a_laptop_that_took_in_alert_events_before_they_were_indexed_lists_them(
    team: Team,
) -> None:
    """A laptop that took in a colleague's alert events before alerts travelled (so its index
    never had them) lists them after its next unlock, once."""
    case_id = team.new_case()
    drafted = alerts.draft(team.amara, case_id, DRAFT)
    team.sync_all()
    with team.bea.transaction() as db:  # as the version before alerts travelled left it
        db.execute("DELETE FROM alerts WHERE case_id = ?", (case_id,))
        db.execute("DELETE FROM vault_facts WHERE name = ?", (alert_index.FOLDED_FACT,))
    with Vault.unlock(team.bea.directory, PASSPHRASE) as again:
        assert _states(again)[drafted.id] == ("draft", None)
    assert _states(team.bea) == _states(team.amara)


def test_a_case_erased_while_its_alert_is_approved_elsewhere_leaves_no_alert(team: Team) -> None:
    from vault import erasure

    case_id = team.new_case()
    drafted = alerts.draft(team.amara, case_id, DRAFT)
    team.sync_all()
    alerts.approve(team.bea, drafted.id)  # not yet sent when amara erases the case
    erasure.erase_case(team.amara, case_id, "mistake")
    team.sync_all()
    for laptop in (team.amara, team.bea):
        assert drafted.id not in _states(laptop)
        assert check_vault(laptop) == []


def test_a_draft_too_deeply_nested_to_read_does_not_stop_a_sync(team: Team) -> None:
    """A colleague's draft that opens but is JSON nested past what the parser takes: the sync
    that brings it goes on (the alert shows as damaged when opened), no traceback. Erasing
    the case then takes the damaged draft away on every laptop, and the alerts list again."""
    from vault import _crypto
    from vault.keys import b64

    case_id = team.new_case()
    key = team.amara.access.current
    sealed = _crypto.seal_note("[" * 100_000, key.public_key)
    with team.amara.transaction() as db:
        team.amara.record(
            db,
            case_id,
            "alert-drafted",
            {"alert": "ZZZZ0001", "epoch": key.epoch, "sealed": b64(sealed)},
        )
    team.sync_all()  # RecursionError out of the fold stopped it
    with pytest.raises(alerts.IntegrityError):
        alerts.show_alert(team.bea, "ZZZZ0001")
    with pytest.raises(alerts.IntegrityError):
        alerts.list_alerts(team.bea)
    erasure.erase_case(team.amara, case_id, "requested")
    team.sync_all()
    assert "ZZZZ0001" not in _states(team.bea)
    assert _states(team.amara) == _states(team.bea)


def test_an_approval_without_override_of_a_draft_with_open_flags_does_not_approve() -> None:
    """Approving never stands on a draft with open flags unless it gives an override (as
    `vault alerts approve` refuses): not when the approval names an earlier draft, with open
    flags, that a re-draft had cleared (review 8)."""
    import base64
    import hashlib

    sealed = [base64.b64encode(bytes([i]) * 48).decode() for i in range(2)]
    digest = [hashlib.sha256(base64.b64decode(s)).hexdigest() for s in sealed]
    a, b = "a" * 16, "b" * 16
    events = [
        _event(1, "alert-drafted", a, alert="ALERT001", sealed=sealed[0]),  # 1 open flag
        _event(2, "alert-drafted", a, alert="ALERT001", sealed=sealed[1]),  # cleared
        _event(3, "alert-approved", b, alert="ALERT001", draft=digest[0]),  # no override
    ]
    (row,) = alert_index.fold("CASE0001", events, {events[0].id: 1})
    assert (row.state, row.draft_event, row.approved_by) == ("draft", events[1].id, None)
    overriding = [*events[:2], _event(3, "alert-approved", b, **events[2].data, sealed="x")]
    (row,) = alert_index.fold("CASE0001", overriding, {events[0].id: 1})
    assert (row.state, row.draft_event, row.overridden) == ("approved", events[0].id, 1)


def test_an_alert_exported_after_another_approval_lists_the_draft_that_left() -> None:
    """Three caseworkers: bea approves amara's first draft while carol, who holds amara's
    re-draft, approves and exports it. Whatever the team's order, every laptop lists what
    left the vault (carol's export of the re-draft); an export naming a draft no approval
    approved does not take effect (review 8)."""
    import base64
    import hashlib

    sealed = [base64.b64encode(bytes([i]) * 48).decode() for i in range(3)]
    digest = [hashlib.sha256(base64.b64decode(s)).hexdigest() for s in sealed]
    a, b, c = "a" * 16, "b" * 16, "c" * 16
    first = _event(1, "alert-drafted", a, alert="ALERT001", sealed=sealed[0])
    again = _event(2, "alert-drafted", a, alert="ALERT001", sealed=sealed[1])
    by_bea = _event(3, "alert-approved", b, alert="ALERT001", draft=digest[0])  # apart
    by_carol = _event(4, "alert-approved", c, alert="ALERT001", draft=digest[1])
    out = _event(5, "alert-exported", c, alert="ALERT001", sha256="0", exported_draft=digest[1])
    for order in ([first, again, by_bea, by_carol, out], [first, by_bea, again, by_carol, out]):
        (row,) = alert_index.fold("CASE0001", order, {})
        assert (row.state, row.draft_event, row.approved_by) == ("exported", again.id, c)
    never = _event(5, "alert-exported", c, alert="ALERT001", sha256="0", exported_draft=digest[2])
    (row,) = alert_index.fold("CASE0001", [first, again, by_bea, never], {})
    assert (row.state, row.draft_event, row.approved_by) == ("approved", first.id, b)


def _rewrite(db: dbmod.Connection, event_id: str, signature: bytes) -> None:
    """An event's signature changed behind the vault's back (its append-only rule lifted)."""
    run = db.execute
    run("DROP TRIGGER events_append_only_update")
    run("UPDATE events SET signature = ? WHERE id = ?", (signature, event_id))
    run(
        "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events"
        " BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
    )


def test_one_damaged_case_does_not_keep_the_other_cases_alerts_unlisted(team: Team) -> None:
    """The once-only fold at unlock: a case whose events do not verify (vault check names
    it) is left out, and it is tried again at the next unlock; every other case's alerts
    are listed (review 8)."""
    damaged, sound = team.new_case(), team.new_case()
    kept = alerts.draft(team.amara, damaged, DRAFT)
    listed = alerts.draft(team.amara, sound, DRAFT)
    team.sync_all()
    (event_id, signature) = team.bea.db.execute(
        "SELECT id, signature FROM events WHERE case_id = ? AND kind = 'alert-drafted'",
        (damaged,),
    ).fetchone()
    with team.bea.transaction() as db:  # as the version before alerts travelled left it
        db.execute("DELETE FROM alerts WHERE case_id IN (?, ?)", (damaged, sound))
        db.execute("DELETE FROM vault_facts WHERE name = ?", (alert_index.FOLDED_FACT,))
        _rewrite(db, event_id, b"\0" * 64)
    try:
        alert_index.fold_once(team.bea)
        assert _states(team.bea).get(listed.id) == ("draft", None)
        assert kept.id not in _states(team.bea)
    finally:
        with team.bea.transaction() as db:
            _rewrite(db, event_id, bytes(signature))
    alert_index.fold_once(team.bea)  # the next unlock
    assert _states(team.bea) == _states(team.amara)
    assert alert_index.check(team.bea) == []
