"""Cases whose events come from several laptops: their history in the team's order, and
the stored state folded again from it.

Events received from other laptops (vault/taking.py) are placed by their clock stamps
(:mod:`vault.team_clock`), and the case's stored state (``cases.status``, ``assignee``,
``outcome``) is folded again in the team's order (:func:`vault.case_merge.merge`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from vault import db as dbmod
from vault.case_history import verified_histories
from vault.case_merge import MergedCase, Placed, merge
from vault.cases import CaseState
from vault.events import Event

if TYPE_CHECKING:
    from vault.store import Vault


def placed(events: Iterable[Event]) -> list[Placed]:
    """Events as a case's history holds them (import first, then by arrival), placed."""
    return [Placed(e, e.stamp, frozenset(e.after), local=i) for i, e in enumerate(events)]


def merged(case_id: str, events: Iterable[Event]) -> MergedCase:
    """A case's state and its events in the team's order (:func:`vault.case_merge.merge`)."""
    return merge(CaseState(id=case_id), placed(events))


def conflict_value(event: Event) -> str:
    """What a status, closing or assignment event set, in words."""
    if event.kind == "closed":
        return f"closed ({event.data.get('outcome')})"
    return str(event.data.get("to"))


def refold(
    vault: Vault,
    db: dbmod.Connection,
    case_id: str,
    checked: Mapping[tuple[bytes, bytes], Event] | None = None,
) -> None:
    """Store the case's state folded again from all its events (after receiving some;
    ``checked``: those just verified, as :func:`vault.case_history.verified_events` takes)."""
    refold_many(vault, db, [case_id], checked)


def refold_many(
    vault: Vault,
    db: dbmod.Connection,
    case_ids: list[str],
    checked: Mapping[tuple[bytes, bytes], Event] | None = None,
) -> None:
    """:func:`refold` for several cases, their histories read a few hundred at a time."""
    histories = verified_histories(vault, db, case_ids, checked)
    rows = []
    for case_id in case_ids:
        state = merged(case_id, histories[case_id]).state
        rows.append((state.status, state.assignee, state.outcome, case_id))
    db.executemany("UPDATE cases SET status = ?, assignee = ?, outcome = ? WHERE id = ?", rows)
