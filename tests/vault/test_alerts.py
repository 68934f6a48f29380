"""Safety alerts in a real vault (vault/alerts.py): draft, approve, export, list, erase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import PASSPHRASE, make_report, seal_for
from vault import alerts, audit_export, erasure, incoming, membership
from vault import db as dbmod
from vault.audit.verify import verify
from vault.errors import CaseWorkflowError, IntegrityError, UsageError, VaultError
from vault.passphrase import Passphrase
from vault.report import HARMS, SECTORS
from vault.store import Vault

BOB = Passphrase(b"bob's own long passphrase here")
CANARY = "QZXCANARY47"
DRAFT = "A GP in Leeds told a worker's landlord about her work. Reach her via " + CANARY


def _case(vault: Vault, **fields: object) -> str:
    report = make_report(
        contact={"method": "other", "value": f"ask for {CANARY}"},
        where="Headingley, Leeds LS6 2QR",
        when="14 March 2026",
        **fields,
    )
    return incoming.import_envelopes(vault, [("a", seal_for(vault, report))]).imported[0]


def test_no_alert_without_the_reporters_consent(vault: Vault) -> None:
    case_id = _case(vault, consent={"alert": False, "research": True})
    size = vault.log.size()
    with pytest.raises(alerts.NoAlertConsentError, match="did not consent"):
        alerts.draft(vault, case_id, DRAFT)
    assert vault.db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0
    assert vault.log.size() == size  # nothing written, nothing logged


def test_a_draft_starts_from_the_case_coarsened(vault: Vault) -> None:
    start = alerts.start_draft(vault, _case(vault))
    assert (start.start.sector, start.start.role) == ("healthcare", "GP")
    assert (start.start.area, start.start.month) == ("Leeds", "2026-03")
    text = start.editor_text()
    assert "Area: Leeds\n" in text
    assert "Month: 2026-03\n" in text
    assert "LS6" not in text.split("# The reporter's account")[0]
    # the reporter's account is there only as lines the draft leaves out
    content = alerts.parse_draft(text + "\nWhat happened, briefly.\n", start.start)
    assert content.text == "What happened, briefly."
    with pytest.raises(UsageError, match="needs what happened"):
        alerts.parse_draft(text, start.start)


def test_fields_in_the_typed_draft_are_read_and_checked(vault: Vault) -> None:
    start = alerts.start_draft(vault, _case(vault))
    typed = "Role: doctor\nArea: Yorkshire\nMonth: March 2026\nHarms: outing\n\nIt happened."
    content = alerts.parse_draft(typed, start.start)
    assert (content.role, content.area, content.month, content.harms) == (
        "doctor",
        "Yorkshire",
        "2026-03",
        ("outing",),
    )
    with pytest.raises(UsageError, match="not a sector"):
        alerts.parse_draft("Sector: banking\n\nx", start.start)
    with pytest.raises(UsageError, match="not a month"):
        alerts.parse_draft("Month: 14 March 2026\n\nx", start.start)
    with pytest.raises(UsageError, match="not a harm"):
        alerts.parse_draft("Harms: rudeness\n\nx", start.start)


def test_the_draft_is_sealed_the_contact_removed_and_the_index_holds_no_content(
    vault: Vault,
) -> None:
    case_id = _case(vault)
    alert = alerts.draft(vault, case_id, DRAFT)
    assert alert.state == "draft"
    assert CANARY not in alert.content.text
    assert ("contact", CANARY) in {(f.kind, f.text) for f in alert.flags}
    row = vault.db.execute("SELECT * FROM alerts").fetchone()
    assert all(CANARY not in str(v) and "landlord" not in str(v) for v in row)
    body = vault.db.execute("SELECT body FROM events WHERE kind = 'alert-drafted'").fetchone()[0]
    assert b"landlord" not in bytes(body)  # sealed in its event, like a note
    assert repr(alert).count(CANARY) == 0
    assert "landlord" not in repr(alert)


def test_redrafting_replaces_the_draft_and_resolves_flags(vault: Vault) -> None:
    case_id = _case(vault)
    first = alerts.draft(vault, case_id, "Dr Okafor refused her on 3rd March at LS6 2QR.")
    assert first.open_flags >= 3
    with pytest.raises(alerts.UnresolvedFlagsError, match="open flag"):
        alerts.approve(vault, first.id)
    second = alerts.draft(vault, case_id, "A GP in Leeds refused her in March 2026.")
    assert second.id == first.id
    assert second.open_flags == 0
    assert len(alerts.list_alerts(vault)) == 1
    assert alerts.approve(vault, second.id).state == "approved"  # a team of one approves


def test_open_flags_can_be_overridden_with_a_reason(vault: Vault) -> None:
    alert = alerts.draft(vault, _case(vault), "Dr Okafor refused her.")
    with pytest.raises(UsageError, match="needs a reason"):
        alerts.approve(vault, alert.id, "   ")
    approved = alerts.approve(vault, alert.id, "the doctor is named in the press already")
    assert approved.state == "approved"
    assert {f.state for f in approved.flags} == {"removed", "overridden"}
    assert alerts.list_alerts(vault)[0].open_flags == 0
    with pytest.raises(CaseWorkflowError, match="already approved"):
        alerts.approve(vault, alert.id)


def test_in_a_team_of_two_the_drafter_cannot_approve(vault: Vault) -> None:
    membership.add_caseworker(vault, "bob", BOB)
    alert = alerts.draft(vault, _case(vault), DRAFT)
    with pytest.raises(alerts.OwnAlertError, match="another caseworker"):
        alerts.approve(vault, alert.id)
    assert alerts.list_alerts(vault)[0].state == "draft"
    with Vault.unlock(vault.directory, BOB, "bob") as bob:
        approved = alerts.approve(bob, alert.id[:5])
    assert (approved.drafted_by, approved.approved_by) == ("amara", "bob")


def test_export_writes_text_and_json_without_the_contact(vault: Vault, tmp_path: Path) -> None:
    alert = alerts.draft(vault, _case(vault), DRAFT)
    with pytest.raises(CaseWorkflowError, match="not approved"):
        alerts.export(vault, alert.id, tmp_path / "early.txt")
    assert not list(tmp_path.glob("early*"))
    alerts.approve(vault, alert.id)
    # A colleague added after a team of one approved its own alert does not make that approval
    # look forged (it was IntegrityError: "the vault's index of alerts has been changed").
    membership.add_caseworker(vault, "bob", BOB)
    exported, text_path, json_path = alerts.export(vault, alert.id, tmp_path / "alert.txt")
    assert exported.state == "exported"
    assert (text_path, json_path) == (tmp_path / "alert.txt", tmp_path / "alert.json")
    text, doc = text_path.read_text(), json.loads(json_path.read_text())
    for written in (text, json_path.read_text()):
        assert CANARY not in written
        assert "ask for" not in written
        assert "LS6" not in written
        assert "14 March" not in written
    assert doc["area"] == "Leeds"
    assert doc["month"] == "2026-03"
    assert doc["sector"] == "healthcare"
    assert doc["what_happened"].endswith("[removed]")
    assert "Month: March 2026" in text
    assert oct(text_path.stat().st_mode & 0o777) == "0o600"


def test_export_refuses_an_existing_file_and_leaves_nothing_half_written(
    vault: Vault, tmp_path: Path
) -> None:
    alert = alerts.draft(vault, _case(vault), DRAFT)
    alerts.approve(vault, alert.id)
    (tmp_path / "out.json").write_text("someone else's")
    size = vault.log.size()
    with pytest.raises(VaultError, match="already exists"):
        alerts.export(vault, alert.id, tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()
    assert (tmp_path / "out.json").read_text() == "someone else's"
    assert vault.log.size() == size
    assert alerts.list_alerts(vault)[0].state == "approved"


def test_export_refuses_an_alert_whose_stored_draft_holds_the_contact(
    vault: Vault, tmp_path: Path
) -> None:
    """If a stored draft ever held the contact (a finder from an older version), export stops."""
    alert = alerts.draft(vault, _case(vault), DRAFT)
    alerts.approve(vault, alert.id)
    loaded, _ = alerts._load(vault, alert.id)
    held = alerts.AlertContent(
        loaded.content.sector, loaded.content.role, None, None, loaded.content.harms, CANARY
    )
    leaking = alerts.Alert(
        alert.id, loaded.case, "approved", "amara", loaded.drafted, None, held, ()
    )
    assert CANARY in alerts.export_json(leaking).decode()
    report = alerts._open_report(vault, vault.db, loaded.case)
    assert alerts._json_holds(alerts.export_json(leaking), report) == ["contact"]


def test_every_step_is_logged_and_the_log_verifies(vault: Vault, tmp_path: Path) -> None:
    case_id = _case(vault)
    alert = alerts.draft(vault, case_id, DRAFT)
    alerts.list_alerts(vault)
    alerts.approve(vault, alert.id)
    alerts.export(vault, alert.id, tmp_path / "a.txt")
    actions = [
        str(a)
        for (a,) in vault.db.execute("SELECT leaf FROM log_leaves ORDER BY seq")
        for a in [bytes(a).decode().split(" ")[3]]
    ]
    assert actions[-4:] == ["alert-drafted", "alerts-listed", "alert-approved", "alert-exported"]
    leaves = [bytes(r[0]).decode() for r in vault.db.execute("SELECT leaf FROM log_leaves")]
    assert all(CANARY not in leaf and "landlord" not in leaf for leaf in leaves)
    assert any(f" {alert.id.lower()} " in leaf for leaf in leaves)
    audit_export.write(vault, tmp_path / "bundle")
    verify((tmp_path / "bundle").read_bytes())


def test_erase_case_rows_removes_the_cases_alerts_only(vault: Vault) -> None:
    one, two = _case(vault), _case(vault, role="nurse")
    alerts.draft(vault, one, DRAFT)
    alerts.draft(vault, two, DRAFT)
    with dbmod.transaction(vault.db):
        alerts.erase_case_rows(vault, one)
    assert [a.case for a in alerts.list_alerts(vault)] == [two]


def test_erasing_a_case_erases_its_alerts(vault: Vault) -> None:
    one, two = _case(vault), _case(vault, role="nurse")
    alerts.draft(vault, one, DRAFT)
    alerts.draft(vault, two, DRAFT)
    erasure.erase_case(vault, one, "withdrawn")
    assert [a.case for a in alerts.list_alerts(vault)] == [two]
    assert (
        vault.db.execute("SELECT count(*) FROM alerts WHERE case_id = ?", (one,)).fetchone()[0] == 0
    )


def test_an_unknown_alert_id_is_refused(vault: Vault) -> None:
    with pytest.raises(alerts.AlertNotFoundError):
        alerts.approve(vault, "ZZZZ-ZZZZ")
    with pytest.raises(UsageError, match="not an alert id"):
        alerts.approve(vault, "not!an!id")
    for short in ("zz", "KHT", "a b"):  # fewer than four characters: not an id (exit 2)
        with pytest.raises(UsageError, match="too short"):
            alerts.approve(vault, short)


def test_the_vault_reopens_with_its_alerts(vault: Vault) -> None:
    alert = alerts.draft(vault, _case(vault), DRAFT)
    vault.close()
    with Vault.unlock(vault.directory, PASSPHRASE) as again:
        assert [a.id for a in alerts.list_alerts(again)] == [alert.id]


def test_an_alert_marked_approved_without_a_signed_approval_is_not_exported(
    vault: Vault, tmp_path: Path
) -> None:
    alert = alerts.draft(vault, _case(vault), DRAFT)
    me = vault.identity.key_id
    with dbmod.transaction(vault.db):  # someone with the database key edits the index
        vault.db.execute("UPDATE alerts SET state = 'approved', approved_by = ?", (me,))
    with pytest.raises(IntegrityError, match="no approval of its draft"):
        alerts.export(vault, alert.id, tmp_path / "a.txt")
    assert not list(tmp_path.glob("a.*"))


def test_an_approval_covers_only_the_draft_it_approved(vault: Vault, tmp_path: Path) -> None:
    case_id = _case(vault)
    first = alerts.draft(vault, case_id, DRAFT)
    alerts.approve(vault, first.id)
    other = alerts.draft(vault, case_id, "A nurse in Leeds refused care.")  # a new alert
    assert other.id != first.id
    (event_id,) = vault.db.execute(
        "SELECT draft_event FROM alerts WHERE id = ?", (other.id,)
    ).fetchone()
    with dbmod.transaction(vault.db):  # point the approved alert at another draft
        vault.db.execute("UPDATE alerts SET draft_event = ? WHERE id = ?", (event_id, first.id))
    with pytest.raises(IntegrityError):
        alerts.export(vault, first.id, tmp_path / "a.txt")
    assert not list(tmp_path.glob("a.*"))


_LINE = (
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="#"
        ),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(lambda t: t and ":" not in t)
)


@settings(max_examples=80, deadline=None)
@given(
    sector=st.sampled_from(SECTORS),
    role=_LINE,
    area=st.none() | _LINE,
    month=st.none() | st.tuples(st.integers(1990, 2099), st.integers(1, 12)),
    harms=st.lists(st.sampled_from(HARMS), min_size=1, max_size=3, unique=True),
    text=st.lists(_LINE, min_size=1, max_size=4).map("\n".join),
)
def test_a_draft_written_out_as_fields_reads_back_the_same(
    sector: str,
    role: str,
    area: str | None,
    month: tuple[int, int] | None,
    harms: list[str],
    text: str,
) -> None:
    shown = None if month is None else f"{month[0]:04d}-{month[1]:02d}"
    typed = (
        f"# a comment\nsector: {sector}\nROLE: {role}\nArea: {area or ''}\n"
        f"Month: {shown or ''}\nHarms: {', '.join(harms)}\n\n{text}\n# the end\n"
    )
    start = alerts.AlertContent("other", "x", None, None, ("other",), "")
    content = alerts.parse_draft(typed, start)
    assert content == alerts.AlertContent(sector, role, area, shown, tuple(harms), text.strip())


def test_an_editors_draft_a_killed_run_left_goes_at_the_next_unlock(vault: Vault) -> None:
    left = vault.directory / f"{alerts.EDIT_PREFIX}killed"
    left.mkdir(mode=0o700)
    (left / "alert.txt").write_text(f"the reporter's account, {CANARY}")
    (left / "alert.txt").chmod(0o600)
    directory = vault.directory
    vault.close()
    with Vault.unlock(directory, PASSPHRASE):
        assert not left.exists()
