"""The case workflow: case ids, statuses, outcomes, and the fold of events into a case.

A case's state is never edited: it is derived by applying its signed events
in order with :func:`apply`. The same function checks that a new action is
allowed before it is recorded, so what can be recorded is exactly what can be
replayed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vault import _crypto
from vault.audit.entries import OUTCOMES, STATUSES
from vault.errors import CaseWorkflowError, UsageError
from vault.events import Event

# Crockford's base32: no I, L, O or U, so ids survive being read aloud or retyped.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_CHARS = 8
_TYPO_FIXES = str.maketrans({"O": "0", "I": "1", "L": "1"})


# Every 10-bit value as its two characters, so an id is four lookups (imports make thousands).
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]


def new_case_id() -> str:
    """40 random bits as 8 characters of Crockford's base32, most significant first."""
    n = int.from_bytes(_crypto.random_bytes(5), "big")
    return _PAIRS[n >> 30] + _PAIRS[n >> 20 & 1023] + _PAIRS[n >> 10 & 1023] + _PAIRS[n & 1023]


def show_id(case_id: str) -> str:
    """How people see an id: ``7KQ2-M9XD``."""
    return f"{case_id[:4]}-{case_id[4:]}"


def normalise_id(text: str) -> str:
    """Accept ids in any case, with or without the dash, forgiving O/0 and I/L/1."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "").translate(_TYPO_FIXES)
    if not cleaned or len(cleaned) > ID_CHARS or any(c not in ALPHABET for c in cleaned):
        raise UsageError(f"'{text}' is not a case id.", hint="case ids look like 7KQ2-M9XD")
    return cleaned


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


def apply(state: CaseState, event: Event) -> CaseState:
    """The next state of a case after ``event``, or :class:`CaseWorkflowError` if not allowed."""
    kind, data = event.kind, event.data
    if event.case != state.id:
        raise CaseWorkflowError("That event belongs to another case.")
    if kind == "imported":
        if state.imported:
            raise CaseWorkflowError("That case was already imported.")
        return replace(state, imported=True)
    if not state.imported:
        raise CaseWorkflowError("A case's history must start with its import.")
    if kind in ("opened", "note", "reply", "attachment"):
        return state
    if kind == "assigned":
        return replace(state, assignee=data["to"])
    if kind == "status":
        to = check_status(data["to"])
        if to == state.status:
            raise CaseWorkflowError(f"Case {show_id(state.id)} is already {to}.")
        if to == "closed":
            raise CaseWorkflowError("Closing a case is its own action.")
        return replace(state, status=to, outcome=None)
    if kind == "closed":
        if state.status == "closed":
            raise CaseWorkflowError(f"Case {show_id(state.id)} is already closed.")
        outcome = data.get("outcome")
        return replace(
            state, status="closed", outcome=None if outcome is None else check_outcome(outcome)
        )
    raise CaseWorkflowError(f"Unknown kind of case event: {kind}.")


def fold(case_id: str, events: list[Event]) -> CaseState:
    state = CaseState(id=case_id)
    for event in events:
        state = apply(state, event)
    return state
