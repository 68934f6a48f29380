"""A case's history as its record holds it: the "imported" entry of the access log, then
its signed events in the order they were stored, each signature and each link to the case
checked. What is shown (vault/case_view.py) and the state worked out from several laptops'
events (vault/merged_cases.py) both start from here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from vault import db as dbmod
from vault.audit import merkle
from vault.audit.leaves import LeafError, parse_leaf
from vault.cases import show_id
from vault.errors import IntegrityError
from vault.events import Event, verify_event

if TYPE_CHECKING:
    from vault.store import Vault


def verified_events(
    vault: Vault,
    db: dbmod.Connection,
    case_id: str,
    checked: Mapping[tuple[bytes, bytes], Event] | None = None,
) -> list[Event]:
    """A case's history: its import, then its signed events, each checked.

    ``checked`` holds events whose signature this process has just verified, by their exact
    (body, signature) bytes and against the same keys (:mod:`vault.sync` taking in a page of
    events): those are not verified a second time."""
    keys = vault.signing_keys()
    checked = checked or {}
    imported = _import_record(vault, db, case_id, keys)
    events = [] if imported is None else [imported]
    for body, signature, actor in db.execute(
        "SELECT body, signature, actor FROM events WHERE case_id = ? ORDER BY seq", (case_id,)
    ):
        if actor not in keys:
            raise IntegrityError(f"An event of case {show_id(case_id)} names an unknown actor.")
        known = checked.get((bytes(body), bytes(signature)))
        event = known if known is not None else verify_event(body, signature, keys[actor])
        if event.case != case_id or event.actor != actor:
            raise IntegrityError(f"An event of case {show_id(case_id)} has been moved or changed.")
        events.append(event)
    return events


def _import_record(
    vault: Vault, db: dbmod.Connection, case_id: str, keys: dict[str, bytes]
) -> Event | None:
    """The "imported" event a case's access-log entry records; None for a case imported
    before the vault kept one (its history starts with a signed "imported" event).
    """
    entry, env_id = dbmod.one(
        db, "SELECT import_entry, envelope_id FROM cases WHERE id = ?", (case_id,)
    )
    if entry is None:
        return None
    row = db.execute("SELECT leaf, hash FROM log_leaves WHERE seq = ?", (entry,)).fetchone()
    changed = IntegrityError(
        f"Case {show_id(case_id)}'s import entry in the access log has been changed."
    )
    if row is None or merkle.leaf_hash(bytes(row[0])) != bytes(row[1]):
        raise changed
    try:
        leaf = parse_leaf(bytes(row[0]))
    except LeafError:
        raise changed from None
    if (leaf.action, leaf.case, leaf.commit) != ("imported", case_id, bytes(env_id).hex()):
        raise changed
    if leaf.actor not in keys:
        raise IntegrityError(f"Case {show_id(case_id)}'s import names an unknown actor.")
    data = {"envelope": leaf.commit, "entry": int(entry)}
    return Event(f"entry-{entry}", case_id, "imported", leaf.actor, leaf.at, data)
