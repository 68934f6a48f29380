"""Case views: listing cases without decrypting, and opening one with its notes and history.

Opening a case (:func:`show_case`) is itself a case action, recorded in the same
transaction that reads it. Views hold report text: keep them in memory, never write them out;
their reprs never show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from vault import db as dbmod
from vault import reporter_messages, triage
from vault._crypto import OpenFailed, open_note
from vault.audit.case_actions import action
from vault.blobs import AttachmentInfo, held_for, holds_blob, list_opened, listed, want_blob
from vault.case_history import verified_events
from vault.cases import CaseState, check_status, show_id
from vault.envelope import open_report
from vault.errors import IntegrityError
from vault.keys import unb64
from vault.merged_cases import conflict_value, merged
from vault.patterns import NOBODY, AlsoNamed, also_named_in
from vault.report import Report

if TYPE_CHECKING:
    from vault.store import Vault


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """A case as listed: its state and its triage (vault/triage.py), nothing sealed."""

    id: str
    status: str
    received: str
    assignee: str | None
    outcome: str | None
    sector: str | None = None  # None: the report could not be read when triage was taken
    harms: tuple[str, ...] = ()
    wants: tuple[str, ...] = ()
    withdrawal_requested: bool = False  # the reporter asked, by their codename, to withdraw

    def to_json(self) -> dict[str, Any]:
        return {
            "id": show_id(self.id),
            "status": self.status,
            "received": self.received,
            "assignee": self.assignee,
            "outcome": self.outcome,
            "sector": self.sector,
            "harms": self.harms,  # tuples: JSON arrays, without a copy per case
            "wants": self.wants,
            "withdrawal_requested": self.withdrawal_requested,
        }

    @classmethod
    def of(cls, row: triage.TriageRow) -> CaseSummary:
        return cls(
            row.id,
            row.status,
            row.received,
            row.assignee,
            row.outcome,
            row.sector,
            row.harms,
            row.wants,
        )


@dataclass(frozen=True, slots=True)
class CaseNote:
    """A caseworker's note on a case, opened."""

    author: str
    text: str = field(repr=False)
    at: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply sent to the reporter, as the case history shows it (opened from the team copy)."""

    author: str
    text: str = field(repr=False)
    at: str
    shared_status: str | None
    delivered: bool


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: str
    actor: str
    action: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ConflictEntry:
    """One of concurrent changes to the same thing (vault/case_merge.py)."""

    at: str
    actor: str
    value: str
    stands: bool


@dataclass(frozen=True, slots=True)
class CaseConflict:
    """Changes made apart on different laptops that set ``field`` to different values."""

    field: str  # "status" or "assignee"
    entries: tuple[ConflictEntry, ...]  # in the team's order

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "changes": [
                {"at": e.at, "actor": e.actor, "value": e.value, "stands": e.stands}
                for e in self.entries
            ],
        }


@dataclass(frozen=True, slots=True)
class CaseView:
    """An opened case. Holds report text: keep it in memory, never write it out."""

    summary: CaseSummary
    report: Report = field(repr=False)
    notes: tuple[CaseNote, ...] = field(repr=False)
    history: tuple[HistoryEntry, ...]
    replies: tuple[Reply, ...] = field(default=(), repr=False)
    attachments: tuple[AttachmentInfo, ...] = field(default=(), repr=False)
    also_named: AlsoNamed = field(default=NOBODY, repr=False)
    # replies and the reporter's messages, in the order they happened
    conversation: tuple[reporter_messages.ConversationEntry, ...] = field(default=(), repr=False)
    # concurrent changes from different laptops to the status or the assignee
    conflicts: tuple[CaseConflict, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary.to_json(),
            # other cases naming a professional this one names (docs/patterns.md)
            "also_named_in": [show_id(c) for c in self.also_named.cases],
            "also_named_same": [show_id(c) for c in self.also_named.same],
            "also_named_unreadable": [show_id(c) for c in self.also_named.damaged],
            "report": self.report.model_dump(mode="json", exclude_none=True),
            "notes": [{"author": n.author, "text": n.text, "at": n.at} for n in self.notes],
            "replies": [
                {
                    "author": r.author,
                    "text": r.text,
                    "at": r.at,
                    "shared_status": r.shared_status,
                    "delivered": r.delivered,
                }
                for r in self.replies
            ],
            "conversation": [c.to_json() for c in self.conversation],
            "attachments": [
                {"n": a.n, "name": a.name, "type": a.type, "size": a.size, "in_vault": a.held}
                for a in self.attachments
            ],
            "history": [
                {"at": h.at, "actor": h.actor, "action": h.action, "detail": h.detail}
                for h in self.history
            ],
            "conflicts": [c.to_json() for c in self.conflicts],
        }


def list_cases(
    vault: Vault,
    status: str | None = None,
    limit: int | None = None,
    *,
    where: triage.CaseFilter | None = None,
) -> list[CaseSummary]:
    """Cases newest first, from the stored fold and triage; nothing is decrypted.

    ``where`` filters (:func:`vault.triage.case_filter` builds one from what was typed);
    ``status`` is the older way to say ``where``'s status.
    """
    words = triage.words
    asked = reporter_messages.withdrawals_asked(vault)
    return [
        CaseSummary(r[0], r[2], r[1], r[3], r[4], r[5], words(r[6]), words(r[7]), r[0] in asked)
        for r in triage.raw_rows(vault, _with_status(where, status), limit)
    ]


def with_withdrawals(cases: list[CaseSummary], vault: Vault) -> list[CaseSummary]:
    """The same cases, marked where the reporter asked to withdraw (nothing is opened)."""
    asked = reporter_messages.withdrawals_asked(vault)
    return [replace(c, withdrawal_requested=True) if c.id in asked else c for c in cases]


def count_cases(
    vault: Vault, status: str | None = None, *, where: triage.CaseFilter | None = None
) -> int:
    return triage.count(vault, _with_status(where, status))


def _with_status(where: triage.CaseFilter | None, status: str | None) -> triage.CaseFilter:
    where = where or triage.CaseFilter()
    return where if status is None else replace(where, status=check_status(status))


def show_case(vault: Vault, text: str) -> CaseView:
    """Decrypt one case, with notes and history, recording that it was opened; the other cases
    naming a professional it names come from the index (nothing more opened or logged)."""
    case_id = vault.resolve(text)
    with vault.transaction() as db:
        envelope, epoch, received = dbmod.one(
            db, "SELECT envelope, epoch, received FROM cases WHERE id = ?", (case_id,)
        )
        team = vault.team_key(epoch)
        report = open_report(envelope, team.public_key, team.secret_key)
        vault.record(db, case_id, "opened", {})
        named = also_named_in(db, case_id)
        events = verified_events(vault, db, case_id)
        if not listed(db, case_id):  # stored before the vault kept a list: listed now
            list_opened(db, case_id, report.attachments)
        held = [held_for(db, case_id, a.blob) for a in report.attachments]
        for attachment, have in zip(report.attachments, held, strict=True):
            if not have and not holds_blob(db, attachment.blob):
                want_blob(db, case_id, attachment)  # pulled before the vault kept a list
    # Events from several laptops are shown, and folded, in the team's order
    # (vault/merged_cases.py); a vault that never synced keeps its own order.
    team_order = merged(case_id, events)
    state = team_order.state
    events = [p.event for p in team_order.events]
    names = vault.caseworker_names()
    notes = tuple(
        CaseNote(names.get(e.actor, e.actor), open_sealed_text(vault, e.data), e.at)
        for e in events
        if e.kind == "note"
    )
    delivered = {
        str(i): bool(d)
        for i, d in vault.db.execute(
            "SELECT id, delivered FROM replies WHERE case_id = ?"
            " UNION ALL SELECT id, 1 FROM sync_delivered WHERE case_id = ?",  # by another laptop
            (case_id, case_id),
        )
    }
    replies = tuple(
        Reply(
            names.get(e.actor, e.actor),
            open_sealed_text(vault, e.data),
            e.at,
            e.data.get("shared_status"),
            delivered.get(e.id, False),
        )
        for e in events
        if e.kind == "reply"
    )
    # A reporter's message two laptops of a team both took in is two events, the same message:
    # shown once, at the first (the same on every laptop: events are in one order).
    said: set[object] = set()
    spoken = []
    for e in events:
        if e.kind == "reporter-message" and e.data.get("message") not in said:
            said.add(e.data.get("message"))
            spoken.append(e)
        elif e.kind == "reply":
            spoken.append(e)
    conversation = tuple(
        reporter_messages.reporter_said(vault, e)
        if e.kind == "reporter-message"
        else reporter_messages.ConversationEntry(
            "caseworker",
            "reply",
            names.get(e.actor, e.actor),
            open_sealed_text(vault, e.data),
            e.at,
        )
        for e in spoken
    )
    attachments = tuple(
        AttachmentInfo(n, a.name, a.type, a.size, have)
        for n, (a, have) in enumerate(zip(report.attachments, held, strict=True), 1)
    )
    history = tuple(
        HistoryEntry(e.at, names.get(e.actor, e.actor), e.kind, action(e.kind).history(e.data))
        for e in events
    )
    summary = _summary(state, received, triage.triage_of(report))
    if any(c.kind == "withdrawal" for c in conversation):
        summary = replace(summary, withdrawal_requested=True)
    by_id = {e.id: e for e in events}
    conflicts = tuple(
        CaseConflict(
            c.field,
            tuple(
                ConflictEntry(
                    by_id[i].at,
                    names.get(by_id[i].actor, by_id[i].actor),
                    conflict_value(by_id[i]),
                    i == c.standing,
                )
                for i in c.events
            ),
        )
        for c in team_order.conflicts
    )
    return CaseView(
        summary, report, notes, history, replies, attachments, named, conversation, conflicts
    )


def _summary(state: CaseState, received: str, t: triage.Triage) -> CaseSummary:
    return CaseSummary(
        state.id, state.status, received, state.assignee, state.outcome, t.sector, t.harms, t.wants
    )


def open_sealed_text(vault: Vault, data: dict[str, Any]) -> str:
    """The text of a note, or the team's copy of a reply, from its event's data."""
    team = vault.team_key(int(data["epoch"]))
    try:
        return open_note(unb64(data["sealed"]), team.public_key, team.secret_key)
    except (OpenFailed, ValueError):
        raise IntegrityError("A note in this case is damaged.") from None


def check_case(vault: Vault, case_id: str) -> None:
    """Replay a case's signed events and compare with the stored state."""
    events = verified_events(vault, vault.db, case_id)
    status, assignee, outcome = dbmod.one(
        vault.db, "SELECT status, assignee, outcome FROM cases WHERE id = ?", (case_id,)
    )
    state = merged(case_id, events).state
    if state != CaseState(case_id, status, assignee, outcome, imported=True):
        raise IntegrityError(f"Case {show_id(case_id)}'s state does not match its history.")
