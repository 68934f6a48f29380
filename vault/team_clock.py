"""A laptop's place in the team's order of case events: its clock, and a case's heads.

A vault starts **syncing** when it joins a team (``vault join``) or adds a caseworker from a
join request (``vault caseworker add NAME --request FILE``). From then on every event it
records is format 2 (:mod:`vault.events`): stamped by this laptop's hybrid logical clock
(:mod:`vault.clock`, its state kept in ``vault_facts`` as ``hlc``) and naming the case's
latest events its author had seen (its *heads*). Events received from other laptops move
the clock past their stamps (:func:`seen_stamps`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from vault import db as dbmod
from vault.clock import Clock, Stamp
from vault.events import MAX_AFTER, parse_event

CLOCK_FACT = "hlc"


def is_syncing(db: dbmod.Connection) -> bool:
    """True once this vault is part of a team of laptops (a vault from before the access log
    has no ``vault_facts`` yet, and never is)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'vault_facts'").fetchone() is None:
        return False
    found = db.execute("SELECT 1 FROM vault_facts WHERE name = ?", (CLOCK_FACT,)).fetchone()
    return found is not None


ALERTS_FOLDED_FACT = "alerts_folded"  # alert events taken in are all indexed (alert_index)
OWNER_FACT = "sync_owner"  # the key id of the caseworker whose laptop this folder is


def start_syncing(db: dbmod.Connection, owner: str) -> None:
    """From now on this vault's events carry clock stamps (in ``db``'s transaction), and the
    folder is ``owner``'s laptop to the team: their key signs what it sends (the first to
    start it, if it was already)."""
    db.execute(
        "INSERT INTO vault_facts (name, value) VALUES (?, '[0,0]') ON CONFLICT (name) DO NOTHING",
        (CLOCK_FACT,),
    )
    db.execute(
        "INSERT INTO vault_facts (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (OWNER_FACT, owner),
    )
    db.execute(  # alerts taken in from now on are indexed as they come (vault/alert_index.py)
        "INSERT INTO vault_facts (name, value) VALUES (?, '1') ON CONFLICT (name) DO NOTHING",
        (ALERTS_FOLDED_FACT,),
    )


def owner(db: dbmod.Connection) -> str | None:
    """The key id of the caseworker whose laptop this folder is to the team, if recorded
    (folders that began syncing before it was recorded have none)."""
    row = db.execute("SELECT value FROM vault_facts WHERE name = ?", (OWNER_FACT,)).fetchone()
    return None if row is None else str(row[0])


LEFT_FACT = "sync_left"  # why this folder no longer syncs with its team, once it does not

# What a folder that has left its team says, wherever a command would point to the team.
LEFT_SAID = "This folder has left the team (it was opened with recovery shares)"
LEFT_HINT = (
    "to work with the team again, join from a new folder: vault join --name NAME --out"
    " NAME.request; a colleague adds you and revokes the old name (keys/README.md)"
)


def leave_team(db: dbmod.Connection, why: str) -> None:
    """From now on this folder never syncs with its team (in ``db``'s transaction): its owner's
    key can no longer sign for it (``why``: ``recovery``, opened with recovery shares)."""
    db.execute(
        "INSERT INTO vault_facts (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (LEFT_FACT, why),
    )


def left_team(db: dbmod.Connection) -> str | None:
    """Why this folder no longer syncs with its team (:func:`leave_team`), or None."""
    if not is_syncing(db):
        return None
    row = db.execute("SELECT value FROM vault_facts WHERE name = ?", (LEFT_FACT,)).fetchone()
    return None if row is None else str(row[0])


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
