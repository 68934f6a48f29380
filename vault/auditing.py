"""The access log's outward side: the audit bundle for auditors, auditors' keys, and the
witness that countersigns the log (``docs/audit.md``).

The vault writes the log (:mod:`vault.auditlog`) in the same transaction as every action;
this module lets it out. It imports the audit formats only to encode a bundle, never the
auditor's verifier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vault import db as dbmod
from vault.audit import bundle, merkle
from vault.audit.signed_note import (
    SignedNoteError,
    VerifierKey,
    parse_note,
    verify_signature,
)
from vault.auditlog import LogHead, caseworker_verifier
from vault.errors import IntegrityError
from vault.store import today

if TYPE_CHECKING:
    from vault.store import Vault


def log_people(vault: Vault, db: dbmod.Connection) -> list[bundle.Person]:
    """The caseworkers, auditors and witnesses this laptop's log names, for a bundle."""
    people = [
        bundle.Person("caseworker", str(name), caseworker_verifier(vault.log.origin, bytes(pk)))
        for name, pk in db.execute("SELECT name, sign_pk FROM caseworkers ORDER BY rowid")
    ]
    people += [
        bundle.Person("auditor", str(name), VerifierKey.parse(str(vkey)))
        for name, vkey in db.execute("SELECT name, vkey FROM auditors ORDER BY rowid")
    ]
    for (vkey,) in db.execute("SELECT vkey FROM witnesses ORDER BY rowid"):
        key = VerifierKey.parse(str(vkey))
        people.append(bundle.Person("witness", key.name, key))
    return people


def own_log(vault: Vault, db: dbmod.Connection) -> bundle.BundleContents:
    """This laptop's whole log as a bundle's parts."""
    heads = list(vault.log.checkpoints())
    tree = merkle.Tree(vault.log.hashes())
    return bundle.BundleContents(
        origin=vault.log.origin,
        people=log_people(vault, db),
        leaves=list(vault.log.leaves()),
        checkpoints=[h.note for h in heads],
        proofs=bundle.proofs_between([h.size for h in heads], tree),
        # each read across cases' list of which cases it read, so the auditor sees them
        # (log_leaves.seq counts from 0; the bundle numbers entries from 1)
        reads=[
            (int(seq) + 1, str(cases).encode("ascii"))
            for seq, cases in db.execute("SELECT entry, cases FROM case_reads ORDER BY entry")
        ],
    )


def log_head(vault: Vault) -> LogHead | None:
    return vault.log.head()


def witness(vault: Vault) -> tuple[VerifierKey, str, int] | None:
    """The witness this vault uses: its key, its URL, and the size it last cosigned."""
    row = vault.db.execute("SELECT vkey, url, size FROM witnesses ORDER BY rowid").fetchone()
    return None if row is None else (VerifierKey.parse(str(row[0])), str(row[1]), int(row[2]))


def add_witness(vault: Vault, key: VerifierKey, url: str) -> None:
    vkey = key.to_vkey()
    with vault.transaction() as db:
        db.execute(
            "INSERT INTO witnesses (vkey, url, added) VALUES (?, ?, ?)", (vkey, url, today())
        )
        vault.log_action(db, "witness-added", key.id.hex(), vkey.encode())


def consistency_proof(vault: Vault, old_size: int, new_size: int) -> list[bytes]:
    if not 0 <= old_size <= new_size <= vault.log.size():
        raise IntegrityError(
            f"The witness says it has seen {old_size} log entries, but this vault has"
            f" only {vault.log.size()}: the log here has been rewound.",
            hint="if you restored an old backup, tell your auditors",
        )
    return vault.log.consistency_proof(old_size, new_size)


def record_cosignature(vault: Vault, key: VerifierKey, size: int, lines: str) -> int:
    """Keep a witness's valid cosignature on our checkpoint of ``size``; count them."""
    row = vault.db.execute("SELECT note FROM checkpoints WHERE size = ?", (size,)).fetchone()
    if row is None:
        raise IntegrityError("The witness cosigned a checkpoint this vault never made.")
    note = parse_note(str(row[0]))
    kept = 0
    with vault.transaction() as db:
        for line in lines.splitlines(keepends=True):
            try:
                signature = parse_note(note.text + "\n" + line).signatures[0]
            except SignedNoteError:
                continue
            if verify_signature(note, signature, key) and not kept:
                # one cosignature per witness on a checkpoint: the newest replaces any other
                db.execute(
                    "DELETE FROM cosignatures WHERE size = ? AND substr(line, 1, ?) = ?",
                    (size, len(signature.name) + 3, f"\u2014 {signature.name} "),
                )
                db.execute("INSERT INTO cosignatures (size, line) VALUES (?, ?)", (size, line))
                kept += 1
        if kept:
            db.execute("UPDATE witnesses SET size = ? WHERE vkey = ?", (size, key.to_vkey()))
    return kept


# --- checking -----------------------------------------------------------------
