"""Tombstones: what is left of an erased case (vault/erasure.py erases; docs/retention.md).

An id, the days it was received, closed and erased, its status and outcome then, and the
reason; never content. Read here, below the store, so that naming an erased case anywhere
(``Vault.resolve``, an import of its envelope again) can say it was erased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vault import db as dbmod
from vault.cases import show_id
from vault.errors import CaseErasedError


@dataclass(frozen=True, slots=True)
class Tombstone:
    """What is left of an erased case: no content, only ids, days, outcome and reason."""

    id: str
    received: str
    closed: str | None
    erased: str
    status: str  # the case's status when it was erased
    outcome: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": show_id(self.id),
            "status": "erased",
            "erased": self.erased,
            "reason": self.reason,
            "received": self.received,
            "closed": self.closed,
            "outcome": self.outcome,
            "status_when_erased": self.status,
            "assignee": None,
            "report": None,
            "notes": [],
            "replies": [],
            "attachments": [],
            "history": [],
        }

    def sentence(self) -> str:
        closed = f", closed {self.closed} ({self.outcome or 'no outcome'})" if self.closed else ""
        return (
            f"Case {show_id(self.id)} was erased on {self.erased} (reason: {self.reason}):"
            f" received {self.received}{closed}. Nothing of it is left but this record."
        )


_SELECT = "SELECT id, received, closed, erased, status, outcome, reason FROM erased_cases"


def tombstone(db: dbmod.Connection, case_id: str) -> Tombstone | None:
    row = db.execute(_SELECT + " WHERE id = ?", (case_id,)).fetchone()
    return None if row is None else _tombstone(row)


def _tombstone(row: Any) -> Tombstone:
    return Tombstone(*(None if v is None else str(v) for v in row))  # type: ignore[arg-type]


def erased_matching(db: dbmod.Connection, wanted: str) -> list[Tombstone]:
    """Tombstones whose id starts with ``wanted`` (at most two: enough to say "ambiguous")."""
    rows = db.execute(
        _SELECT + " WHERE id >= ? AND id < ? LIMIT 2",
        (wanted, wanted + "\x7f"),
    )
    return [_tombstone(r) for r in rows]


def erased_envelopes(db: dbmod.Connection, envelope_ids: list[bytes]) -> set[bytes]:
    """Which of these envelope ids belong to erased cases (an import or pull counts them as
    already held, so an erased report is never stored again)."""
    if not envelope_ids:
        return set()
    marks = ",".join("?" * len(envelope_ids))  # only placeholders go into the statement
    sql = f"SELECT envelope_id FROM erased_cases WHERE envelope_id IN ({marks})"  # noqa: S608
    return {bytes(row[0]) for row in db.execute(sql, envelope_ids)}


def is_erased(db: dbmod.Connection, case_id: str) -> bool:
    """Whether a case with this id was erased here (its id is then never given again)."""
    return db.execute("SELECT 1 FROM erased_cases WHERE id = ?", (case_id,)).fetchone() is not None


def erased_error(t: Tombstone) -> CaseErasedError:
    return CaseErasedError(
        f"Case {show_id(t.id)} was erased on {t.erased}; nothing of it is left to work on.",
        tombstone=t,
    )


def all_erased(db: dbmod.Connection) -> list[Tombstone]:
    """Every tombstone, most recently erased first."""
    return [_tombstone(r) for r in db.execute(_SELECT + " ORDER BY entry DESC")]
