"""Cases: their ids, statuses, outcomes and state.

A case's state is never edited: it is derived by applying its signed events in order
(:func:`vault.case_actions.fold`, following the table of case actions there).
"""

from __future__ import annotations

from dataclasses import dataclass

from vault import _crypto
from vault.audit.terms import OUTCOMES, STATUSES
from vault.errors import UsageError

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
