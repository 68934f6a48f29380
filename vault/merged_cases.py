"""Cases whose events come from several laptops: the clock stamps, heads and stored fold.

A vault starts **syncing** when it joins a team (``vault join``) or adds a caseworker from a
join request (``vault caseworker add NAME --request FILE``). From then on every event it
records is format 2 (:mod:`vault.events`): stamped by this laptop's hybrid logical clock
(:mod:`vault.clock`, its state kept in ``vault_facts`` as ``hlc``) and naming the case's
latest events its author had seen (its *heads*). Events received from other laptops move
the clock past their stamps, and the case's stored state (``cases.status``, ``assignee``,
``outcome``) is folded again in the team's order (:func:`vault.case_merge.merge`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from vault import db as dbmod
from vault.case_merge import MergedCase, Placed, merge
from vault.cases import CaseState
from vault.clock import Clock, Stamp
from vault.events import MAX_AFTER, Event, parse_event

if TYPE_CHECKING:
    from vault.store import Vault

CLOCK_FACT = "hlc"


def is_syncing(db: dbmod.Connection) -> bool:
    """True once this vault is part of a team of laptops (a vault from before the access log
    has no ``vault_facts`` yet, and never is)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'vault_facts'").fetchone() is None:
        return False
    found = db.execute("SELECT 1 FROM vault_facts WHERE name = ?", (CLOCK_FACT,)).fetchone()
    return found is not None


def start_syncing(db: dbmod.Connection) -> None:
    """From now on this vault's events carry clock stamps (in ``db``'s transaction)."""
    db.execute(
        "INSERT INTO vault_facts (name, value) VALUES (?, '[0,0]') ON CONFLICT (name) DO NOTHING",
        (CLOCK_FACT,),
    )


def _clock(db: dbmod.Connection) -> Clock:
    (value,) = dbmod.one(db, "SELECT value FROM vault_facts WHERE name = ?", (CLOCK_FACT,))
    return Clock(Stamp.from_json(json.loads(str(value))))


def _keep(db: dbmod.Connection, clock: Clock) -> None:
    db.execute(
        "UPDATE vault_facts SET value = ? WHERE name = ?",
        (json.dumps(clock.last.to_json()), CLOCK_FACT),
    )


def next_stamp(db: dbmod.Connection) -> Stamp:
    """The stamp for an event recorded now (in ``db``'s transaction)."""
    clock = _clock(db)
    stamp = clock.tick()
    _keep(db, clock)
    return stamp


def seen_stamps(db: dbmod.Connection, stamps: Iterable[Stamp]) -> None:
    """Move this laptop's clock past stamps received from others."""
    clock = _clock(db)
    for stamp in stamps:
        clock.receive(stamp)
    _keep(db, clock)


def heads(db: dbmod.Connection, case_id: str) -> tuple[str, ...]:
    """The case's latest events: those no other event of it names as seen.

    Format-1 events each saw every format-1 event before them, so only the last can be a head.
    """
    events = [
        parse_event(bytes(body))
        for (body,) in db.execute(
            "SELECT body FROM events WHERE case_id = ? ORDER BY seq", (case_id,)
        )
    ]
    seen: set[str] = set()
    last_v1: str | None = None
    for event in events:
        if event.stamp is None:
            if last_v1 is not None:
                seen.add(last_v1)
            last_v1 = event.id
        seen.update(event.after)
    found = sorted(e.id for e in events if e.id not in seen)
    return tuple(found[-MAX_AFTER:])


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


def refold(vault: Vault, db: dbmod.Connection, case_id: str) -> None:
    """Store the case's state folded again from all its events (after receiving some)."""
    from vault.case_view import verified_events

    state = merged(case_id, verified_events(vault, db, case_id)).state
    db.execute(
        "UPDATE cases SET status = ?, assignee = ?, outcome = ? WHERE id = ?",
        (state.status, state.assignee, state.outcome, case_id),
    )
