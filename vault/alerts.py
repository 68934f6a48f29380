"""Anonymised safety alerts: drafted from a case, checked for what identifies, approved by a
second caseworker, exported for the charity's alerting system (``docs/alerts.md``).

An alert goes ``draft`` -> ``approved`` -> ``exported``. Each step is a signed case event and
an access-log entry (``alert-drafted``, ``alert-approved``, ``alert-exported``; declared in
:mod:`vault.audit.case_actions`). The draft itself, with its flags, is canonical JSON sealed
to the team key inside its ``alert-drafted`` event, as a note is::

    {"area": ..., "flags": [{"kind", "state", "text"}...], "harms": [...], "month": "YYYY-MM",
     "role": ..., "sector": ..., "text": ..., "v": 1}

The ``alerts`` table (vault/db.py) only indexes them: which case, which state, which event
holds the current draft, who drafted and approved it, how many flags were open. Nothing in
it is content.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault import _crypto, alert_index, erasure
from vault import db as dbmod
from vault.alert_index import sole_caseworker_then, team_size
from vault.areas import area_of, month_of, month_words, parse_month, place_words
from vault.case_view import open_sealed_text
from vault.cases import new_case_id, normalise_id, show_id
from vault.envelope import open_report
from vault.errors import CaseWorkflowError, IntegrityError, UsageError, VaultError
from vault.events import verify_event
from vault.files import (
    claimed_temp_dir,
    create_private_file,
    new_file_when_complete,
    read_small_file,
    remove_unclaimed_dirs,
)
from vault.identifying import Finding, Flag, find, overridden, still_holds
from vault.keys import b64
from vault.read_through import record_reads
from vault.report import HARMS, SECTORS, Report, canonical_json
from vault.store import after_unlock

if TYPE_CHECKING:
    from vault.store import Vault

MAX_TEXT = 5_000  # characters of "what happened" in an alert
MAX_REASON = 500  # characters of an override's reason
STATES = ("draft", "approved", "exported")
LISTED = "alerts-listed"  # the access-log entry of a listing (one, naming the cases read)


class NoAlertConsentError(VaultError):
    """The reporter did not consent to an alert, so none can be drafted from their case."""


class OwnAlertError(VaultError):
    """An alert must be approved by a caseworker other than the one who drafted it."""


class UnresolvedFlagsError(VaultError):
    """The alert still has open flags: resolve them, or override them with a reason."""


class AlertNotFoundError(VaultError):
    """No alert has that id."""


# --- a draft's content --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertContent:
    """What an alert says. Holds text from the case: its repr hides it."""

    sector: str
    role: str = field(repr=False)
    area: str | None = field(repr=False)
    month: str | None
    harms: tuple[str, ...]
    text: str = field(repr=False)

    def fields(self) -> dict[str, str]:
        """The fields a person writes, as the flag finder reads them."""
        return {
            "role": self.role,
            "area": self.area or "",
            "month": self.month or "",
            "text": self.text,
        }

    def with_fields(self, fields: Mapping[str, str]) -> AlertContent:
        return AlertContent(
            self.sector,
            fields["role"],
            fields["area"] or None,
            parse_month(fields["month"]) if fields["month"] else None,
            self.harms,
            fields["text"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "sector": self.sector,
            "role": self.role,
            "area": self.area,
            "month": self.month,
            "harms": list(self.harms),
            "text": self.text,
        }

    def plain_text(self, alert_id: str) -> str:
        """The alert as the plain-text export gives it."""
        harms = ", ".join(h.replace("-", " ") for h in self.harms)
        return (
            f"Safety alert {show_id(alert_id)}\n"
            f"Sector: {self.sector}\n"
            f"Role: {self.role}\n"
            f"Area: {self.area or 'not given'}\n"
            f"Month: {month_words(self.month)}\n"
            f"Harms: {harms}\n"
            f"\n{self.text}\n"
        )


def defaults(report: Report) -> AlertContent:
    """A draft's starting point: sector and role, the area as a town or region, the month."""
    return AlertContent(
        report.sector,
        report.role,
        area_of(report.where),
        month_of(report.when),
        tuple(report.harms),
        "",
    )


_FIELD = re.compile(r"(sector|role|area|month|harms)\s*:(.*)", re.IGNORECASE)


def editor_text(case_id: str, start: AlertContent, report: Report) -> str:
    """The file a caseworker edits: the fields, a space for what happened, and the reporter's
    own account below as ``#`` lines (which are left out of the draft)."""
    account = "\n".join(f"#   {line}" for line in report.what_happened.splitlines())
    return (
        f"# Safety alert for case {show_id(case_id)}. Lines starting with # are left out.\n"
        "# Keep it general: a town or region, a month (YYYY-MM), a role. Contacts, codenames,\n"
        "# emails and phone numbers are removed; names, postcodes, dates and the report's\n"
        "# rare words are flagged and must be taken out or overridden when approving.\n"
        f"# Sector is one of: {', '.join(SECTORS)}.\n"
        f"Sector: {start.sector}\n"
        f"Role: {start.role}\n"
        f"Area: {start.area or ''}\n"
        f"Month: {start.month or ''}\n"
        f"Harms: {', '.join(start.harms)}\n"
        "\n"
        "# What happened, in your own words (below this line):\n"
        "\n"
        "#\n"
        "# The reporter's account, for reference only; do not copy it:\n"
        f"{account}\n"
    )


def parse_draft(typed: str, start: AlertContent) -> AlertContent:
    """A draft as typed: leading ``Field: value`` lines (any of Sector, Role, Area, Month,
    Harms; the rest keep ``start``'s values), then what happened. ``#`` lines are dropped."""
    lines = [line.rstrip() for line in typed.splitlines() if not line.lstrip().startswith("#")]
    values = {
        "sector": start.sector,
        "role": start.role,
        "area": start.area or "",
        "month": start.month or "",
        "harms": ", ".join(start.harms),
    }
    n = 0
    while n < len(lines) and not lines[n].strip():
        n += 1
    while n < len(lines) and (m := _FIELD.fullmatch(lines[n].strip())):
        values[m.group(1).lower()] = m.group(2).strip()
        n += 1
    text = "\n".join(lines[n:]).strip()
    if not text:
        raise UsageError("An alert needs what happened, in your words: the draft has none.")
    if len(text) > MAX_TEXT:
        raise UsageError(f"What happened can be at most {MAX_TEXT} characters in an alert.")
    sector = values["sector"]
    if sector not in SECTORS:
        raise UsageError(f"'{sector}' is not a sector. Use one of: {', '.join(SECTORS)}.")
    harms = tuple(h for h in re.split(r"[\s,]+", values["harms"]) if h)
    for harm in harms:
        if harm not in HARMS:
            raise UsageError(f"'{harm}' is not a harm. Use one of: {', '.join(HARMS)}.")
    if not harms:
        raise UsageError("An alert names at least one harm (Harms: ...).")
    if not values["role"]:
        raise UsageError("An alert names the professional's role (Role: ...).")
    month = values["month"]
    if month and parse_month(month) is None:
        raise UsageError(f"Month '{month}' is not a month.", hint="write it as YYYY-MM")
    return AlertContent(
        sector,
        values["role"],
        values["area"] or None,
        parse_month(month) if month else None,
        tuple(dict.fromkeys(harms)),
        text,
    )


def check_content(content: AlertContent, report: Report) -> Finding:
    """Remove what must never leave and flag the rest (:mod:`vault.identifying`)."""
    finding = find(content.fields(), report, place_words())
    return finding


# --- alerts as stored -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as the vault holds it, opened. ``content`` and ``flags`` hold case text."""

    id: str
    case: str
    state: str
    drafted_by: str
    drafted: str  # the day of its current draft
    approved_by: str | None
    content: AlertContent = field(repr=False)
    flags: tuple[Flag, ...] = field(repr=False)

    @property
    def open_flags(self) -> int:
        return sum(1 for f in self.flags if f.state == "open")

    def to_json(self, *, content: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": show_id(self.id),
            "case": show_id(self.case),
            "state": self.state,
            "drafted_by": self.drafted_by,
            "drafted": self.drafted,
            "approved_by": self.approved_by,
            "open_flags": self.open_flags,
            "flags": [f.to_json() for f in self.flags],
        }
        if content:
            out.update(self.content.to_json())
        return out


def resolve(vault: Vault, text: str) -> str:
    """A full alert id from what a caseworker typed (a unique start of 4+ characters)."""
    try:
        wanted = normalise_id(text)
    except UsageError:
        raise UsageError(
            f"'{text}' is not an alert id.", hint="alert ids look like 7KQ2-M9XD"
        ) from None
    if len(wanted) < 4:
        raise UsageError(
            f"'{text}' is too short for an alert id: type at least its first four characters.",
            hint="alert ids look like 7KQ2-M9XD",
        )
    rows = vault.db.execute(
        "SELECT id FROM alerts WHERE id >= ? AND id < ? LIMIT 2", (wanted, wanted + "\x7f")
    ).fetchall()
    if len(rows) == 1:
        return str(rows[0][0])
    if len(rows) > 1:
        raise UsageError(f"More than one alert starts with {text}: type more of the id.")
    raise AlertNotFoundError(f"There is no alert {text} in this vault.")


def _open_report(vault: Vault, db: dbmod.Connection, case_id: str) -> Report:
    envelope, epoch = dbmod.one(db, "SELECT envelope, epoch FROM cases WHERE id = ?", (case_id,))
    team = vault.team_key(epoch)
    return open_report(envelope, team.public_key, team.secret_key)


def _row(vault: Vault, alert_id: str) -> tuple[str, str, str, str, str | None, int]:
    case_id, state, event_id, drafted_by, approved_by, overridden_ = dbmod.one(
        vault.db,
        "SELECT case_id, state, draft_event, drafted_by, approved_by, overridden"
        " FROM alerts WHERE id = ?",
        (alert_id,),
    )
    return case_id, state, event_id, drafted_by, approved_by, overridden_


def _sealed_draft(vault: Vault, alert_id: str, case_id: str, event_id: str) -> tuple[Any, bytes]:
    """The signed ``alert-drafted`` event holding the current draft, checked: its data and the
    sealed bytes."""
    row = vault.db.execute(
        "SELECT body, signature, actor FROM events WHERE id = ?", (event_id,)
    ).fetchone()
    keys = vault.signing_keys()
    changed = IntegrityError(f"Alert {show_id(alert_id)}'s draft has been changed or is missing.")
    if row is None or row[2] not in keys:
        raise changed
    event = verify_event(bytes(row[0]), bytes(row[1]), keys[row[2]])
    if (event.kind, event.case, event.data.get("alert")) != ("alert-drafted", case_id, alert_id):
        raise changed
    return event, _unb64(event.data["sealed"])


def _unb64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def _load(vault: Vault, alert_id: str) -> tuple[Alert, bytes]:
    case_id, state, event_id, drafted_by, approved_by, was_overridden = _row(vault, alert_id)
    event, sealed = _sealed_draft(vault, alert_id, case_id, event_id)
    try:
        doc = json.loads(open_sealed_text(vault, event.data))
        content = AlertContent(
            str(doc["sector"]),
            str(doc["role"]),
            doc["area"],
            doc["month"],
            tuple(doc["harms"]),
            str(doc["text"]),
        )
        flags = tuple(Flag.from_json(f) for f in doc["flags"])
    except (ValueError, KeyError, TypeError, RecursionError):
        raise IntegrityError(f"Alert {show_id(alert_id)}'s draft is damaged.") from None
    if was_overridden:
        flags = overridden(flags)
    names = vault.caseworker_names()
    alert = Alert(
        alert_id,
        case_id,
        state,
        names.get(drafted_by, drafted_by),
        event.at[:10],
        None if approved_by is None else names.get(approved_by, approved_by),
        content,
        flags,
    )
    return alert, sealed


# --- the steps --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DraftStart:
    """What drafting starts from: the case, its report (in memory) and the draft's defaults."""

    case_id: str
    report: Report = field(repr=False)
    start: AlertContent = field(repr=False)
    existing: str | None  # the case's alert still in draft, which a new draft replaces

    def editor_text(self) -> str:
        return editor_text(self.case_id, self.start, self.report)


def start_draft(vault: Vault, case: str, *, for_editor: bool = False) -> DraftStart:
    """Open the case's report and check the reporter consented to an alert (else
    :class:`NoAlertConsentError`). ``for_editor``: the report's account will be shown to the
    caseworker, so the case is recorded as opened."""
    case_id = vault.resolve(case)
    report = _open_report(vault, vault.db, case_id)
    if not report.consent.alert:
        raise NoAlertConsentError(
            f"The reporter of case {show_id(case_id)} did not consent to an alert:"
            " none can be drafted."
        )
    if for_editor:
        with vault.transaction() as db:
            vault.record(db, case_id, "opened", {})
    existing = vault.db.execute(
        "SELECT id FROM alerts WHERE case_id = ? AND state = 'draft' ORDER BY id LIMIT 1",
        (case_id,),
    ).fetchone()
    return DraftStart(case_id, report, defaults(report), None if existing is None else existing[0])


def save_draft(vault: Vault, start: DraftStart, typed: str) -> Alert:
    """Parse, clean and flag a typed draft, seal it in a signed ``alert-drafted`` event and
    index it: a new alert, or the case's alert still in draft, replaced."""
    content = parse_draft(typed, start.start)
    finding = check_content(content, start.report)
    content = content.with_fields(finding.fields)
    alert_id = start.existing or new_case_id()
    doc = {"v": 1, **content.to_json(), "flags": [f.to_json() for f in finding.flags]}
    team = vault.access.current
    sealed = _crypto.seal_note(canonical_json(doc).decode(), team.public_key)
    with vault.transaction() as db:
        if start.existing is not None:
            (state,) = dbmod.one(db, "SELECT state FROM alerts WHERE id = ?", (alert_id,))
            if state != "draft":
                raise CaseWorkflowError(f"Alert {show_id(alert_id)} was approved meanwhile.")
        event = vault.record(
            db,
            start.case_id,
            "alert-drafted",
            {"alert": alert_id, "epoch": team.epoch, "sealed": b64(sealed)},
        )
        if start.existing is None:
            db.execute(
                "INSERT INTO alerts (id, case_id, state, draft_event, drafted_by, open_flags)"
                " VALUES (?, ?, 'draft', ?, ?, ?)",
                (alert_id, start.case_id, event.id, event.actor, finding.open_count),
            )
        else:
            db.execute(
                "UPDATE alerts SET draft_event = ?, drafted_by = ?, open_flags = ? WHERE id = ?",
                (event.id, event.actor, finding.open_count, alert_id),
            )
    return _load(vault, alert_id)[0]


EDIT_PREFIX = ".alert-draft-"


def edit_draft(vault: Vault, start: DraftStart, editor: Callable[[Path], None]) -> str:
    """What a caseworker typed in their editor, starting from :meth:`DraftStart.editor_text`.

    The file holds the reporter's account in clear while it is edited, so it lives in a
    private (0700) folder inside the vault's own folder, is 0600, and is removed as soon as
    the editor closes; a folder left by a killed run is removed at the next unlock
    (:func:`remove_unfinished_edits`).
    """
    with claimed_temp_dir(vault.directory, EDIT_PREFIX) as folder:
        path = folder / "alert.txt"
        create_private_file(path, start.editor_text().encode())
        editor(path)
        return read_small_file(path, "alert draft").decode("utf-8", errors="replace")


def remove_unfinished_edits(vault: Vault) -> None:
    """Remove an editor's draft (the reporter's account in clear) that a killed run left in
    the vault folder; one being edited now, by another command, is locked and left."""
    remove_unclaimed_dirs(vault.directory, EDIT_PREFIX)


after_unlock(3, remove_unfinished_edits)
after_unlock(4, alert_index.fold_once)  # alerts a colleague made before they travelled


def draft(vault: Vault, case: str, typed: str) -> Alert:
    """Draft (or re-draft) a case's alert from text given whole (``--text -``)."""
    return save_draft(vault, start_draft(vault, case), typed)


def override_reason(override: str | None) -> str | None:
    """``--override REASON`` as kept (stripped); :class:`UsageError` if empty or too long."""
    if override is None:
        return None
    override = override.strip()
    if not override:
        raise UsageError("An override needs a reason: --override REASON.")
    if len(override) > MAX_REASON:
        raise UsageError(f"An override's reason can be at most {MAX_REASON} characters.")
    return override


def approve(vault: Vault, text: str, override: str | None = None) -> Alert:
    """Approve an alert in draft. Refused to the caseworker who drafted it when the team has
    more than one; refused while a flag is open, unless ``override`` gives the reason (sealed
    in the ``alert-approved`` event; every open flag is then overridden)."""
    alert_id = resolve(vault, text)
    alert, sealed = _load(vault, alert_id)
    shown = show_id(alert_id)
    if alert.state != "draft":
        raise CaseWorkflowError(f"Alert {shown} is already {alert.state}.")
    me = vault.identity.key_id
    drafter = _row(vault, alert_id)[3]
    if drafter == me and team_size(vault) > 1:
        raise OwnAlertError(
            f"You drafted alert {shown}: another caseworker must approve it.",
            hint="ask a colleague to run: vault alerts approve " + shown,
        )
    override = override_reason(override)
    if alert.open_flags and override is None:
        kinds = sorted({f.kind for f in alert.flags if f.state == "open"})
        n = alert.open_flags
        raise UnresolvedFlagsError(
            f"Alert {shown} has {n} open flag{'s' if n != 1 else ''} ({', '.join(kinds)}):"
            " it was not approved.",
            hint=f"re-draft it without them (vault alerts draft {show_id(alert.case)}),"
            " or approve with --override REASON",
        )
    data: dict[str, Any] = {"alert": alert_id, "draft": hashlib.sha256(sealed).hexdigest()}
    if override is not None:
        team = vault.access.current
        data.update(epoch=team.epoch, sealed=b64(_crypto.seal_note(override, team.public_key)))
    with vault.transaction() as db:
        vault.record(db, alert.case, "alert-approved", data)
        db.execute(
            "UPDATE alerts SET state = 'approved', approved_by = ?, overridden = ?"
            " WHERE id = ? AND state = 'draft'",
            (me, int(override is not None and alert.open_flags > 0), alert_id),
        )
    return _load(vault, alert_id)[0]


def export_paths(out: Path) -> tuple[Path, Path]:
    """The plain-text file and the JSON file an export writes: ``--out alert.txt`` writes
    ``alert.txt`` and ``alert.json``; ``--out alert.json`` writes ``alert.json`` and
    ``alert.txt``; a name without a suffix gets ``.json`` added for the JSON."""
    if out.suffix.lower() == ".json":
        return out.with_suffix(".txt"), out
    return out, out.with_suffix(".json") if out.suffix else out.with_name(out.name + ".json")


def export_json(alert: Alert) -> bytes:
    """The JSON the charity's alerting system takes (``docs/alerts.md``)."""
    c = alert.content
    doc = {
        "v": 1,
        "type": "redress-safety-alert",
        "id": show_id(alert.id),
        "sector": c.sector,
        "role": c.role,
        "area": c.area,
        "month": c.month,
        "harms": list(c.harms),
        "what_happened": c.text,
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def export(vault: Vault, text: str, out: Path) -> tuple[Alert, Path, Path]:
    """Write an approved alert as plain text and JSON (two new files, never over existing
    ones), after checking once more that neither holds what must never leave the vault."""
    alert_id = resolve(vault, text)
    alert, _sealed = _load(vault, alert_id)
    shown = show_id(alert_id)
    if alert.state == "draft":
        raise CaseWorkflowError(
            f"Alert {shown} is not approved yet.",
            hint=f"it is approved first (by another caseworker, in a team of more than one):"
            f" vault alerts approve {shown}",
        )
    _check_approval(vault, alert, _sealed)
    text_path, json_path = export_paths(out)
    for path in (text_path, json_path):
        if path.exists() or path.is_symlink():
            raise VaultError(f"{path} already exists; choose another name.")
    plain = alert.content.plain_text(alert_id).encode()
    as_json = export_json(alert)
    report = _open_report(vault, vault.db, alert.case)
    for written in (plain, as_json):
        held = still_holds(written.decode(), report) + _json_holds(written, report)
        if held:
            raise VaultError(
                f"Alert {shown} still holds what must never leave the vault"
                f" ({', '.join(sorted(set(held)))}): it was not exported.",
                hint=f"re-draft it: vault alerts draft {show_id(alert.case)}",
            )
    done: list[Path] = []
    try:
        with vault.transaction() as db:
            vault.record(
                db,
                alert.case,
                "alert-exported",
                {
                    "alert": alert_id,
                    "sha256": hashlib.sha256(as_json).hexdigest(),
                    "exported_draft": hashlib.sha256(_sealed).hexdigest(),
                },
            )
            db.execute("UPDATE alerts SET state = 'exported' WHERE id = ?", (alert_id,))
            for path, data in ((text_path, plain), (json_path, as_json)):
                with new_file_when_complete(path) as pending:
                    pending.file.write(data)
                done.append(path)
    except BaseException:
        for path in done:
            path.unlink(missing_ok=True)  # ours: made above, never over an existing file
        raise
    return _load(vault, alert_id)[0], text_path, json_path


def _check_approval(vault: Vault, alert: Alert, sealed: bytes) -> None:
    """The signed ``alert-approved`` event that approved exactly this draft, by someone other
    than its drafter when the team had more than one: else the index was changed (exit 4)."""
    wanted = hashlib.sha256(sealed).hexdigest()
    keys = vault.signing_keys()
    drafter = _row(vault, alert.id)[3]
    for body, signature, actor in vault.db.execute(
        "SELECT body, signature, actor FROM events WHERE case_id = ? AND kind = 'alert-approved'",
        (alert.case,),
    ):
        if actor not in keys:
            continue
        event = verify_event(bytes(body), bytes(signature), keys[actor])
        approves = event.data.get("alert") == alert.id and event.data.get("draft") == wanted
        if approves and (actor != drafter or sole_caseworker_then(vault, alert.id, wanted, actor)):
            return
    raise IntegrityError(
        f"Alert {show_id(alert.id)} is marked approved, but no approval of its draft is"
        " recorded: the vault's index of alerts has been changed."
    )


def _json_holds(data: bytes, report: Report) -> list[str]:
    """JSON escapes some characters: the contact is looked for in the decoded strings too."""
    try:
        doc = json.loads(data)
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    return [k for v in doc.values() if isinstance(v, str) for k in still_holds(v, report)]


def list_alerts(vault: Vault) -> list[Alert]:
    """Every alert, newest draft first, opened; the listing is ONE access-log entry,
    ``alerts-listed``, naming (by the read list it commits to) the cases whose alerts were
    opened. Nothing else is written."""
    ids = [str(i) for (i,) in vault.db.execute("SELECT id FROM alerts")]
    alerts = [_load(vault, alert_id)[0] for alert_id in ids]
    if alerts:
        with vault.transaction() as db:
            record_reads(vault, db, LISTED, {a.case: "read" for a in alerts})
    return sorted(alerts, key=lambda a: (a.drafted, a.id), reverse=True)


def show_alert(vault: Vault, text: str) -> Alert:
    """One alert, opened, with its text; recorded as the case being opened."""
    alert_id = resolve(vault, text)
    alert = _load(vault, alert_id)[0]
    with vault.transaction() as db:
        vault.record(db, alert.case, "opened", {})
    return alert


def erase_case_rows(vault: Vault, case_id: str) -> None:
    """For erasing a case (vault/erasure.py): its alerts' index rows. The drafts themselves
    are sealed in the case's events, which erasure removes with the rest of the case."""
    vault.db.execute("DELETE FROM alerts WHERE case_id = ?", (case_id,))


erasure.register_eraser(10, erase_case_rows)


__all__ = [
    "Alert",
    "AlertContent",
    "AlertNotFoundError",
    "DraftStart",
    "NoAlertConsentError",
    "OwnAlertError",
    "UnresolvedFlagsError",
    "approve",
    "draft",
    "edit_draft",
    "erase_case_rows",
    "export",
    "export_paths",
    "list_alerts",
    "save_draft",
    "show_alert",
    "start_draft",
]
