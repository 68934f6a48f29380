"""Every kind of case action, declared once.

Each :class:`CaseAction` says, for one kind:

* ``apply``: its transition rule, the next :class:`CaseState` (or a
  :class:`~vault.errors.CaseWorkflowError` when it is not allowed now);
* ``history``: the words ``vault cases show`` puts beside it in a case's history;
* ``entry``: what its access-log entry says (``docs/audit.md`` section 8): a detail and a
  commitment, never content, names or contacts; and ``detail`` / ``commitment``, what the
  auditor's verifier accepts there (:mod:`vault.audit.entries` takes its case rows from here);
* ``stored``: whether it is kept as a signed event in the ``events`` table. The database's
  constraint on ``events.kind`` is derived from this table (:data:`EVENT_KINDS`, kept in the
  ``event_kinds`` table that ``events.kind`` references; see ``vault/db.py``).

Adding a kind of case action is one entry in :data:`CASE_ACTIONS`: the database, the access
log's writer and the auditor's verifier all follow it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from vault.audit.terms import (
    ALERT_ID,
    ERASURE_REASONS,
    KEY_ID,
    NO_DETAIL,
    NOT_A_CASEWORKER,
    NUMBER,
    OUTCOMES,
    STATUS_SHARED,
    STATUSES,
    Commitment,
    Detail,
)
from vault.errors import CaseWorkflowError, UsageError
from vault.events import Event


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise UsageError(f"'{status}' is not a status. Use one of: {', '.join(STATUSES)}.")
    return status


def check_outcome(outcome: str) -> str:
    if outcome not in OUTCOMES:
        raise UsageError(f"'{outcome}' is not an outcome. Use one of: {', '.join(OUTCOMES)}.")
    return outcome


@dataclass(frozen=True, slots=True)
class CaseState:
    id: str
    status: str = "new"
    assignee: str | None = None
    outcome: str | None = None
    imported: bool = False


def show_id(case_id: str) -> str:
    """How people see an id: ``7KQ2-M9XD`` (:mod:`vault.cases` gives it to everyone else)."""
    return f"{case_id[:4]}-{case_id[4:]}"


Data = Mapping[str, Any]
KeyIdOf = Callable[[str], str | None]
"""A caseworker's key id from their name (None when there is no such caseworker)."""


@dataclass(frozen=True, slots=True)
class CaseAction:
    kind: str
    apply: Callable[[CaseState, Data], CaseState]
    history: Callable[[Data], str | None]
    entry: Callable[[Data, KeyIdOf], tuple[str | None, str | None]]
    detail: Detail  # what the entry's detail may be (the auditor checks it)
    commitment: Commitment  # whether the entry carries a commitment
    stored: bool = True


def _unchanged(state: CaseState, _data: Data) -> CaseState:
    return state


def _no_words(_data: Data) -> None:
    return None


def _no_entry(_data: Data, _key_id_of: KeyIdOf) -> tuple[None, None]:
    return None, None


# --- the rules ------------------------------------------------------------------------


def _imported(state: CaseState, _data: Data) -> CaseState:
    if state.imported:
        raise CaseWorkflowError("That case was already imported.")
    return replace(state, imported=True)


def _imported_entry(data: Data, _key_id_of: KeyIdOf) -> tuple[None, str]:
    return None, str(data["envelope"])


def _sealed_entry(data: Data, _key_id_of: KeyIdOf) -> tuple[str | None, str]:
    """A note's or reply's entry commits to its sealed text; a shared status is said."""
    shared = STATUS_SHARED if data.get("shared_status") else None
    return shared, hashlib.sha256(base64.b64decode(data["sealed"])).hexdigest()


def _reply_words(data: Data) -> str | None:
    shared = data.get("shared_status")
    return f"status {shared} shared" if shared else None


def _reporter_words(data: Data) -> str:
    return "the reporter asked for withdrawal" if data["kind"] == "withdrawal" else "answer"


def _reporter_entry(data: Data, _key_id_of: KeyIdOf) -> tuple[str, str]:
    """A reporter's message: its kind, committing to the message as it arrived (its id)."""
    return str(data["kind"]), str(data["message"])


def _assigned(state: CaseState, data: Data) -> CaseState:
    return replace(state, assignee=data["to"])


def _assigned_entry(data: Data, key_id_of: KeyIdOf) -> tuple[str, None]:
    return key_id_of(str(data["to"])) or NOT_A_CASEWORKER, None


def _to_words(data: Data) -> str:
    return f"to {data['to']}"


def _status(state: CaseState, data: Data) -> CaseState:
    to = check_status(data["to"])
    if to == state.status:
        raise CaseWorkflowError(f"Case {show_id(state.id)} is already {to}.")
    if to == "closed":
        raise CaseWorkflowError(
            "Closing a case is its own action, with an outcome.",
            hint="use: vault cases close ID --outcome OUTCOME",
        )
    return replace(state, status=to, outcome=None)


def _status_entry(data: Data, _key_id_of: KeyIdOf) -> tuple[str, None]:
    return str(data["to"]), None


def _closed(state: CaseState, data: Data) -> CaseState:
    if state.status == "closed":
        raise CaseWorkflowError(f"Case {show_id(state.id)} is already closed.")
    outcome = data.get("outcome")
    # A history written before closing needed an outcome may close a case without one; no
    # command records that any more (Vault.close_case requires it).
    return replace(
        state, status="closed", outcome=None if outcome is None else check_outcome(outcome)
    )


def _closed_words(data: Data) -> str | None:
    return f"outcome {data['outcome']}" if data.get("outcome") else None


def _closed_entry(data: Data, _key_id_of: KeyIdOf) -> tuple[str | None, None]:
    outcome = data.get("outcome")
    return (None if outcome is None else str(outcome)), None


def _attachment_words(data: Data) -> str:
    return f"attachment {data.get('n')} written to a file"


def _attachment_entry(data: Data, _key_id_of: KeyIdOf) -> tuple[str, None]:
    return str(data["n"]), None


def _pack_words(data: Data) -> str:
    return f"complaint pack of {data.get('files')} files exported"


def _pack_entry(data: Data, _key_id_of: KeyIdOf) -> tuple[str, str]:
    """A complaint pack's entry: how many files it lists; SHA-256 of its signed manifest."""
    return str(data["files"]), str(data["manifest"])


def _resealed_entry(data: Data, _key_id_of: KeyIdOf) -> tuple[str, None]:
    return str(data["epoch"]), None


def _erased_entry(data: Data, _key_id_of: KeyIdOf) -> tuple[str, None]:
    reason = str(data["reason"])
    return (reason if reason in ERASURE_REASONS else "other"), None


def _alert_entry(data: Data, _key_id_of: KeyIdOf) -> tuple[str, str]:
    """An alert step names the alert (its id in lower case) and commits to what it concerns:
    the draft as sealed (drafted), the SHA-256 of that sealed draft (approved: what was
    approved), the SHA-256 of the JSON file written (exported). Never the alert's text."""
    alert = str(data["alert"]).lower()  # an entry's detail is lower case
    if "sealed" in data and "draft" not in data:
        return alert, hashlib.sha256(base64.b64decode(data["sealed"])).hexdigest()
    return alert, str(data["draft"] if "draft" in data else data["sha256"])


def _alert_words(data: Data) -> str:
    shown = f"alert {show_id(str(data['alert']))}"
    return shown + (" (flags overridden)" if "draft" in data and "sealed" in data else "")


_CASEWORKER = Detail("a caseworker's key id", (NOT_A_CASEWORKER,), KEY_ID)
_ALERT = Detail("an alert id", form=ALERT_ID)
_OPEN_STATUS = Detail("a status", tuple(s for s in STATUSES if s != "closed"))

CASE_ACTIONS: dict[str, CaseAction] = {
    action.kind: action
    for action in (
        # A case's first action. Cases imported since schema 6 keep it as their access-log
        # entry only (vault/incoming.py); older ones have it as a signed event too.
        CaseAction("imported", _imported, _no_words, _imported_entry, NO_DETAIL, "yes"),
        CaseAction("opened", _unchanged, _no_words, _no_entry, NO_DETAIL, "no"),
        CaseAction("note", _unchanged, _no_words, _sealed_entry, NO_DETAIL, "yes"),
        CaseAction("assigned", _assigned, _to_words, _assigned_entry, _CASEWORKER, "no"),
        CaseAction("status", _status, _to_words, _status_entry, _OPEN_STATUS, "no"),
        CaseAction(
            "closed",
            _closed,
            _closed_words,
            _closed_entry,
            Detail("an outcome", OUTCOMES, dash=True),
            "no",
        ),
        CaseAction(
            "reply",
            _unchanged,
            _reply_words,
            _sealed_entry,
            Detail(STATUS_SHARED, (STATUS_SHARED,), dash=True),
            "yes",
        ),
        # A message from the reporter, pulled from the intake (vault/reporter_messages.py): an
        # answer to a reply, or a request to withdraw; recorded by the caseworker who pulled it.
        CaseAction(
            "reporter-message",
            _unchanged,
            _reporter_words,
            _reporter_entry,
            Detail("a kind of reporter message", ("answer", "withdrawal")),
            "yes",
        ),
        CaseAction(
            "attachment",
            _unchanged,
            _attachment_words,
            _attachment_entry,
            Detail("an attachment number from 1", form=NUMBER),
            "no",
        ),
        # A complaint pack was written (vault cases export; vault/complaint_pack.py): the
        # number of files its manifest lists, and the SHA-256 of that manifest's bytes.
        CaseAction(
            "pack-exported",
            _unchanged,
            _pack_words,
            _pack_entry,
            Detail("a number of files", form=NUMBER),
            "yes",
        ),
        # The vault re-sealed the report to a newer team key (vault team-key reseal): an
        # access-log entry only, naming the new epoch; the case's state does not change.
        CaseAction(
            "report-resealed",
            _unchanged,
            _no_words,
            _resealed_entry,
            Detail("a team key epoch", form=NUMBER),
            "no",
            stored=False,
        ),
        # The case was erased (vault/erasure.py): an access-log entry only, since its events
        # go with it; the detail is why, as one word of ERASURE_REASONS, never free text.
        CaseAction(
            "erased",
            _unchanged,
            _no_words,
            _erased_entry,
            Detail("a reason for erasure", ERASURE_REASONS),
            "no",
            stored=False,
        ),
        # Safety alerts (vault/alerts.py, docs/alerts.md): the case's state does not change.
        CaseAction("alert-drafted", _unchanged, _alert_words, _alert_entry, _ALERT, "yes"),
        CaseAction("alert-approved", _unchanged, _alert_words, _alert_entry, _ALERT, "yes"),
        CaseAction("alert-exported", _unchanged, _alert_words, _alert_entry, _ALERT, "yes"),
    )
}

EVENT_KINDS = tuple(kind for kind, action in CASE_ACTIONS.items() if action.stored)
"""The kinds kept in the ``events`` table: the database refuses any other."""


def action(kind: str) -> CaseAction:
    try:
        return CASE_ACTIONS[kind]
    except KeyError:
        raise CaseWorkflowError(f"Unknown kind of case event: {kind}.") from None


def apply(state: CaseState, event: Event) -> CaseState:
    """The next state of a case after ``event``, or :class:`CaseWorkflowError` if not allowed.

    The same rule checks a new action before it is recorded and replays a stored history, so
    what can be recorded is exactly what can be replayed.
    """
    if event.case != state.id:
        raise CaseWorkflowError("That event belongs to another case.")
    rule = action(event.kind)
    if not rule.stored:
        raise CaseWorkflowError(f"A {event.kind} is not a case event.")
    if event.kind != "imported" and not state.imported:
        raise CaseWorkflowError("A case's history must start with its import.")
    return rule.apply(state, event.data)


def fold(case_id: str, events: list[Event]) -> CaseState:
    """A case's state: its events applied in order, from a new case."""
    state = CaseState(id=case_id)
    for event in events:
        state = apply(state, event)
    return state
