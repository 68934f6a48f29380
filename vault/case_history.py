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
    (body, signature) bytes and against the same keys (:mod:`vault.taking` taking in a page of
    events): those are not verified a second time."""
    return verified_histories(vault, db, [case_id], checked)[case_id]


def verified_histories(
    vault: Vault,
    db: dbmod.Connection,
    case_ids: list[str],
    checked: Mapping[tuple[bytes, bytes], Event] | None = None,
) -> dict[str, list[Event]]:
    """Several cases' histories, each as :func:`verified_events` gives it, read with one
    statement a table for each few hundred cases."""
    keys = vault.signing_keys()
    checked = checked or {}
    histories: dict[str, list[Event]] = {}
    for start in range(0, len(case_ids), _CHUNK):
        chunk = case_ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))  # only placeholders go into the statements
        imports = _IMPORTS.format(marks)
        records = {str(row[0]): row for row in db.execute(imports, chunk)}
        for case_id in chunk:
            if case_id not in records:
                raise IntegrityError("The vault is missing a record it needs.")
            _, entry, env_id, leaf, leaf_hash = records[case_id]
            imported = _import_record(case_id, entry, env_id, leaf, leaf_hash, keys)
            histories[case_id] = [] if imported is None else [imported]
        for case_id, body, signature, actor in db.execute(_EVENTS.format(marks), chunk):
            if actor not in keys:
                raise IntegrityError(f"An event of case {show_id(case_id)} names an unknown actor.")
            known = checked.get((bytes(body), bytes(signature)))
            event = known if known is not None else verify_event(body, signature, keys[actor])
            if event.case != case_id or event.actor != actor:
                raise IntegrityError(
                    f"An event of case {show_id(case_id)} has been moved or changed."
                )
            histories[case_id].append(event)
    return histories


_CHUNK = 500
_IMPORTS = (
    "SELECT c.id, c.import_entry, c.envelope_id, l.leaf, l.hash FROM cases c"
    " LEFT JOIN log_leaves l ON l.seq = c.import_entry WHERE c.id IN ({})"
)
_EVENTS = "SELECT case_id, body, signature, actor FROM events WHERE case_id IN ({}) ORDER BY seq"


def _import_record(
    case_id: str,
    entry: int | None,
    env_id: bytes,
    leaf_bytes: bytes | None,
    leaf_hash: bytes | None,
    keys: dict[str, bytes],
) -> Event | None:
    """The "imported" event a case's access-log entry (``entry``, its leaf and stored hash)
    records; None for a case imported before the vault kept one (its history starts with a
    signed "imported" event).
    """
    if entry is None:
        return None
    changed = IntegrityError(
        f"Case {show_id(case_id)}'s import entry in the access log has been changed."
    )
    if leaf_bytes is None or leaf_hash is None:
        raise changed
    if merkle.leaf_hash(bytes(leaf_bytes)) != bytes(leaf_hash):
        raise changed
    try:
        leaf = parse_leaf(bytes(leaf_bytes))
    except LeafError:
        raise changed from None
    if (leaf.action, leaf.case, leaf.commit) != ("imported", case_id, bytes(env_id).hex()):
        raise changed
    if leaf.actor not in keys:
        raise IntegrityError(f"Case {show_id(case_id)}'s import names an unknown actor.")
    data = {"envelope": leaf.commit, "entry": int(entry)}
    return Event(f"entry-{entry}", case_id, "imported", leaf.actor, leaf.at, data)
