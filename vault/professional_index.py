"""The index of who each report names: which cases name the same professional, kept beside each
case so that ``vault patterns`` and "also named in" on ``vault cases show`` need open no report
to find them.

For each way a report names a professional (:func:`vault.professionals.named_in`) the index
keeps the kind, ``same`` or ``possible``, and a key: HMAC-SHA-256 of the kind and the normalised
identifier, under a random secret made once per vault and kept in its ``vault_facts``, sealed
to the team key (so the database key alone cannot test a guess against the index). Equal
identifiers give equal keys, so the database holds which cases share a professional, never the
number or name itself. The index is derived from the reports alone, in the transaction that
stores each case (:func:`store`); a case stored before the vault kept it is read once at the
next unlock (:func:`fill_missing`), in memory, and that read is logged. Two laptops holding the
same cases have different secrets and so different keys: each derives its own index from the
reports it holds, and the keys are never compared between vaults.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault import _crypto
from vault import db as dbmod
from vault.errors import IntegrityError
from vault.professionals import Professional, forget, named_in
from vault.store import Vault, after_unlock

if TYPE_CHECKING:
    from vault.read_through import ReadState

FACT = "professional-index-key"
PURPOSE = "redress professional index v1"
FILL_BATCH = 500  # reports opened per transaction when indexing older cases
ACTION = "patterns-read"  # the read of older reports to index them is a read for patterns


@dataclass(frozen=True, slots=True)
class Named:
    """One way a case names a professional, as the index keeps it (no identifier in it)."""

    kind: str
    strength: str
    key: bytes


def secret(
    vault: Vault, db: dbmod.Connection | None = None, *, make: bool = True
) -> _crypto.SecretBytes:
    """This vault's index secret, opened with the team key it is sealed to; made (and sealed to
    the current team key) the first time it is needed, in ``db``'s transaction. With ``make``
    false, one that is missing is damage (:class:`~vault.errors.IntegrityError`)."""
    db = db or vault.db
    for _attempt in range(2):
        row = db.execute("SELECT value FROM vault_facts WHERE name = ?", (FACT,)).fetchone()
        if row is not None:
            epoch, sealed = str(row[0]).split(" ")
            team = vault.team_key(int(epoch))
            try:
                return _crypto.open_index_key(
                    bytes.fromhex(sealed), team.public_key, team.secret_key
                )
            except (_crypto.OpenFailed, ValueError):
                raise IntegrityError("The vault's index of professionals is damaged.") from None
        if not make:
            break
        team_pk = vault.team_public_key()
        _key, sealed_key = _crypto.new_index_key(team_pk.public_key)
        db.execute(
            "INSERT INTO vault_facts (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (FACT, f"{team_pk.epoch} {sealed_key.hex()}"),
        )
    raise IntegrityError("The vault's index of professionals is damaged.")


def key_of(index_key: _crypto.SecretBytes, p: Professional) -> bytes:
    return _crypto.keyed_hash(index_key, PURPOSE, f"{p.kind}\n{p.key}".encode())


def keyed(
    index_key: _crypto.SecretBytes, found: Iterable[Professional]
) -> tuple[tuple[Named, Professional], ...]:
    """Each professional a report names with its index row."""
    return tuple((Named(p.kind, p.strength, key_of(index_key, p)), p) for p in found)


def named_in_report(doc: object) -> tuple[Professional, ...]:
    """The professionals a report (its canonical JSON, parsed) names; ValueError if it is not
    a report's object."""
    if not isinstance(doc, dict):
        raise ValueError("not a report")
    return named_in(
        doc.get("professional_identifier"),
        doc.get("organisation"),
        doc.get("role"),
        doc.get("sector"),
    )


def named_in_json(data: bytes) -> tuple[Professional, ...]:
    return named_in_report(json.loads(data))


def store(
    vault: Vault,
    db: dbmod.Connection,
    cases: Iterable[tuple[str, tuple[Professional, ...] | None]],
) -> None:
    """Index each case by the professionals its report names (None: the report did not open),
    in ``db``'s transaction (the one that stores the case)."""
    index_key = secret(vault, db)
    indexed: list[tuple[str, int]] = []
    named: list[tuple[bytes, str, str, str]] = []
    for case_id, found in cases:
        indexed.append((case_id, int(found is not None)))
        rows = {n.key: n for n, _p in keyed(index_key, found or ())}
        named += [(n.key, case_id, n.kind, n.strength) for n in rows.values()]
    db.executemany("INSERT INTO professionals_indexed (case_id, readable) VALUES (?, ?)", indexed)
    db.executemany(
        "INSERT INTO professionals_named (key, case_id, kind, strength) VALUES (?, ?, ?, ?)",
        named,
    )


def named_by(db: dbmod.Connection, case_id: str) -> tuple[Named, ...]:
    """What the index says ``case_id`` names."""
    return tuple(
        Named(str(kind), str(strength), bytes(key))
        for key, kind, strength in db.execute(
            "SELECT key, kind, strength FROM professionals_named WHERE case_id = ?", (case_id,)
        )
    )


def unreadable(db: dbmod.Connection) -> list[str]:
    """Cases whose report could not be opened when they were indexed."""
    return [
        str(c)
        for (c,) in db.execute("SELECT case_id FROM professionals_indexed WHERE readable = 0")
    ]


def indexed(db: dbmod.Connection) -> int:
    return int(dbmod.one(db, "SELECT count(*) FROM professionals_indexed")[0])


# --- cases stored before the index was kept ----------------------------------------------


def missing(vault: Vault) -> int:
    """How many cases are not indexed yet (every indexed row names a case: two counts)."""
    return int(
        vault.db.execute(
            "SELECT (SELECT count(*) FROM cases) - (SELECT count(*) FROM professionals_indexed)"
        ).fetchone()[0]
    )


def fill_missing(vault: Vault) -> int:
    """Index every case stored before the vault kept the index, from its report; returns how
    many. The reports are opened once each, in memory; each batch of up to 500 is one
    transaction with ONE ``patterns-read`` access-log entry naming (by the list it commits to)
    the cases it read. A report that does not open is indexed as unreadable and named
    ``damaged`` in that list; it is not opened again."""
    if not missing(vault):
        return 0
    from vault.read_through import open_each, record_reads  # store imports us: import here

    filled = 0
    batch: list[tuple[str, tuple[Professional, ...] | None]] = []

    def flush() -> None:
        nonlocal filled
        with vault.transaction() as db:
            states: dict[str, ReadState] = {
                c: "read" if f is not None else "damaged" for c, f in batch
            }
            record_reads(vault, db, ACTION, states)
            store(vault, db, batch)
        filled += len(batch)
        batch.clear()

    try:
        where = "NOT EXISTS (SELECT 1 FROM professionals_indexed AS i WHERE i.case_id = c.id)"
        for case_id, data in open_each(vault, where):
            found: tuple[Professional, ...] | None = None
            if data is not None:
                try:
                    found = named_in_json(data)
                except (ValueError, TypeError, AttributeError):
                    found = None
            batch.append((case_id, found))
            if len(batch) >= FILL_BATCH:
                flush()
        if batch:
            flush()
    finally:
        forget()
    return filled


after_unlock(2, fill_missing)  # cases stored before the index get their rows at unlock
