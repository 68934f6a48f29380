"""Attachments held in the vault: fetched from the intake, stored sealed in chunks, checked
before they count, and written out to a file only when a caseworker asks.

A report names each attachment by its blob id (the SHA-256 of the sealed bytes) and carries
the key that opens it; the sealed bytes arrive separately (``vault pull``).

Two reports may name one blob: a browser that sent the same report twice names the same upload
with the same key. A modified page (or one misled by a lying intake) could name a blob another
report's browser sealed. So every case's attachments are listed (``case_blobs``), an attachment
still to fetch is kept per (case, blob), and a blob is counted for a case only if it is the
length that case's report implies and its first chunk opens with that report's key; otherwise
the mismatch is reported as damage on that case (:class:`AttachmentMismatchError`) and the
report is kept. Erasing a case deletes only the blobs no other case names (vault/erasure.py).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vault import _crypto
from vault import db as dbmod
from vault.attachments import Segmenter, open_attachment, sealed_length
from vault.cases import show_id
from vault.envelope import open_report
from vault.errors import (
    AttachmentMismatchError,
    AttachmentUnavailableError,
    IntegrityError,
    UsageError,
    VaultError,
)
from vault.files import fsync_dir, open_new_private_file
from vault.report import Attachment

if TYPE_CHECKING:
    from vault.store import Vault

BlobFetcher = Callable[[str], Iterable[bytes]]
"""Gives a blob's bytes in pieces of any size, or raises :class:`AttachmentUnavailableError`."""


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """What a case's report says about attachment ``n``, and whether the vault holds it."""

    n: int
    name: str
    type: str
    size: int
    held: bool


@dataclass(frozen=True, slots=True)
class PendingBlob:
    """An attachment a stored report names that the vault does not hold (or has not acked)."""

    id: str
    case_id: str
    length: int  # the exact sealed length the report's size implies
    n: int | None = None  # which attachment of the case, when known


def holds_blob(db: dbmod.Connection, blob: str) -> bool:
    return db.execute("SELECT 1 FROM blobs WHERE id = ?", (blob,)).fetchone() is not None


def held_length(db: dbmod.Connection, blob: str) -> int | None:
    """The length of the blob the vault holds under that id, or None if it holds none."""
    row = db.execute("SELECT length FROM blobs WHERE id = ?", (blob,)).fetchone()
    return None if row is None else int(row[0])


def want_blob(db: dbmod.Connection, case_id: str, attachment: Attachment) -> bool:
    """Record a missing attachment of a case as pending; False if it already was."""
    return (
        db.execute(
            "INSERT INTO pending_blobs (id, case_id, length) VALUES (?, ?, ?)"
            " ON CONFLICT (case_id, id) DO NOTHING",
            (attachment.blob, case_id, sealed_length(attachment.size)),
        ).rowcount
        == 1
    )


def list_attachments(db: dbmod.Connection, case_id: str, attachments: Iterable[Attachment]) -> None:
    """Keep the list of the blobs a case's report names (once; with the case, never alone)."""
    db.executemany(
        "INSERT INTO case_blobs (case_id, n, blob_id, length) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (case_id, n) DO NOTHING",
        [(case_id, n, a.blob, sealed_length(a.size)) for n, a in enumerate(attachments, 1)],
    )
    db.execute(
        "INSERT INTO case_blobs_listed (case_id) VALUES (?) ON CONFLICT DO NOTHING", (case_id,)
    )


def named_elsewhere(db: dbmod.Connection, blob: str, case_id: str) -> bool:
    """Whether a case other than ``case_id`` names (or still wants) this blob, a claim found
    wrong (:func:`mark_wrong`) aside: a report naming another's upload pins nothing."""
    return (
        db.execute(
            "SELECT 1 FROM case_blobs WHERE blob_id = ? AND case_id != ? AND wrong = 0"
            " UNION ALL SELECT 1 FROM pending_blobs WHERE id = ? AND case_id != ? LIMIT 1",
            (blob, case_id, blob, case_id),
        ).fetchone()
        is not None
    )


def mark_wrong(db: dbmod.Connection, case_id: str, blob: str) -> None:
    """The blob held under this id is not the one this case's report sealed."""
    db.execute("UPDATE case_blobs SET wrong = 1 WHERE case_id = ? AND blob_id = ?", (case_id, blob))


def held_for(db: dbmod.Connection, case_id: str, blob: str) -> bool:
    """Whether the vault holds this case's attachment: a blob under its id, not found to be
    another report's."""
    if not holds_blob(db, blob):
        return False
    wrong = db.execute(
        "SELECT 1 FROM case_blobs WHERE case_id = ? AND blob_id = ? AND wrong = 1",
        (case_id, blob),
    ).fetchone()
    return wrong is None


def mismatch(which: str, elsewhere: bool = True) -> AttachmentMismatchError:
    """The damage to report when the blob held under an attachment's id is not the one its
    report sealed; ``elsewhere``: another case names that blob."""
    held = "is held for another case and" if elsewhere else "is held, but"
    return AttachmentMismatchError(
        f"{which} is not the file this report's browser sealed: the file the report names"
        f" {held} does not match this report's length or key, so it cannot be opened; the"
        " report was stored.",
        hint="the reporter's page or the intake may have been tampered with; the other"
        " case's file is kept"
        if elsewhere
        else "the reporter's page or the intake may have been tampered with",
    )


def opens_with(db: dbmod.Connection, blob: str, attachment: Attachment) -> bool:
    """Whether the held blob's first chunk opens with the report's key (a report names the
    blob its own browser sealed only if it holds that blob's key)."""
    rows = db.execute(
        "SELECT data FROM blob_chunks WHERE blob_id = ? AND n IN (0, 1) ORDER BY n", (blob,)
    ).fetchall()
    if len(rows) != 2:
        return False
    try:
        key = _crypto.SecretBytes(base64.b64decode(attachment.key, validate=True), "key")
        _crypto.StreamOpener(key, bytes(rows[0][0])).pull(bytes(rows[1][0]))
    except (_crypto.OpenFailed, ValueError):
        return False
    return True


def check_held(
    db: dbmod.Connection, attachment: Attachment, which: str, case_id: str
) -> AttachmentMismatchError | None:
    """For a report naming a blob the vault holds: None if it is this report's (its length
    and key), else the damage to report on the case."""
    length = held_length(db, attachment.blob)
    if length == sealed_length(attachment.size) and opens_with(db, attachment.blob, attachment):
        return None
    return mismatch(which, named_elsewhere(db, attachment.blob, case_id))


def pending_blobs(vault: Vault) -> list[PendingBlob]:
    """Attachments stored reports name that the vault does not hold or has not acknowledged."""
    return [
        PendingBlob(str(i), str(c), int(n))
        for i, c, n in vault.db.execute(
            "SELECT id, case_id, length FROM pending_blobs ORDER BY rowid"
        )
    ]


def store_blob(vault: Vault, pending: PendingBlob, fetch_blob: BlobFetcher) -> VaultError | None:
    """Fetch one pending blob and store it in its own transaction, checked before it counts.

    Returns None when the vault now holds it for this case (including when it already did:
    the intake may then be told to delete its copy, then :meth:`forget_pending`). Returns
    the problem to report when the intake lacks it or it fails the check (its id, and the
    length the report implies); nothing of it is kept and it stays pending. A blob that is
    held (now or before) but is not this case's (another length, or its first chunk does
    not open with this report's key) is an :class:`AttachmentMismatchError`: it is never
    asked for again for this case, and the blob stays for the case it is. Any other error
    (the network failing) rolls this blob back and propagates.
    """
    with vault.transaction() as db:
        n, attachment = _named_by(vault, db, pending)
        n = pending.n if pending.n is not None else n
        which = f"Attachment {n}" if n is not None else "An attachment"
        if not holds_blob(db, pending.id):
            problem = _stream_blob(db, pending, fetch_blob)
            if problem is not None or attachment is None:
                return problem
        elif attachment is None:
            if held_length(db, pending.id) == pending.length:
                return None
            return mismatch(which, named_elsewhere(db, pending.id, pending.case_id))
        wrong = check_held(db, attachment, which, pending.case_id)
        if wrong is not None:  # never right for this case: reported, and not asked for again
            db.execute(
                "DELETE FROM pending_blobs WHERE case_id = ? AND id = ?",
                (pending.case_id, pending.id),
            )
            mark_wrong(db, pending.case_id, pending.id)
        return wrong


def _named_by(
    vault: Vault, db: dbmod.Connection, pending: PendingBlob
) -> tuple[int | None, Attachment | None]:
    """The attachment of the case's report that names the pending blob (with the length the
    pending row records), and its number; (None, None) if the report does not open."""
    row = db.execute(
        "SELECT envelope, epoch FROM cases WHERE id = ?", (pending.case_id,)
    ).fetchone()
    team = None if row is None else vault.access.team_key(int(row[1]))
    if row is None or team is None:
        return None, None
    try:
        report = open_report(bytes(row[0]), team.public_key, team.secret_key)
    except VaultError:
        return None, None
    for n, attachment in enumerate(report.attachments, 1):
        if attachment.blob == pending.id and sealed_length(attachment.size) == pending.length:
            return n, attachment
    return None, None


def forget_pending(vault: Vault, pending: PendingBlob) -> None:
    """The blob is stored for this case and the intake has been told: stop asking for it."""
    with vault.transaction() as db:
        db.execute(
            "DELETE FROM pending_blobs WHERE case_id = ? AND id = ?",
            (pending.case_id, pending.id),
        )


def _stream_blob(
    db: dbmod.Connection, pending: PendingBlob, fetch_blob: BlobFetcher
) -> VaultError | None:
    """Stream one sealed blob into chunk rows (memory stays flat), checked before it counts.

    Reading stops as soon as the blob runs past the length its report allows.
    """
    blob, expected = pending.id, pending.length
    which = f"Attachment {pending.n}" if pending.n is not None else "An attachment"
    db.execute("SAVEPOINT blob")
    try:
        hasher = hashlib.sha256()
        cutter = Segmenter()
        length = row = 0
        for piece in fetch_blob(blob):
            length += len(piece)
            if length > expected:
                break  # refused before anything more of it is written
            hasher.update(piece)
            for segment in cutter.feed(piece):
                db.execute(
                    "INSERT INTO blob_chunks (blob_id, n, data) VALUES (?, ?, ?)",
                    (blob, row, segment),
                )
                row += 1
        rest = cutter.finish()
        if length == expected and rest is not None:
            db.execute(
                "INSERT INTO blob_chunks (blob_id, n, data) VALUES (?, ?, ?)",
                (blob, row, rest),
            )
        if length == expected and hasher.hexdigest() == blob:
            db.execute("INSERT INTO blobs (id, length) VALUES (?, ?)", (blob, length))
            db.execute("RELEASE blob")
            return None
        problem: VaultError = IntegrityError(
            f"{which} from the intake does not match what the report says it is,"
            " so it was not stored; the report was. The next vault pull asks for it again.",
            hint="the intake's copy may be damaged or tampered with",
        )
    except AttachmentUnavailableError:
        problem = AttachmentUnavailableError(
            f"{which} is not on the intake (it may have expired); the report was stored"
            " without it. The next vault pull asks for it again."
        )
    except BaseException:
        db.execute("ROLLBACK TO blob")
        db.execute("RELEASE blob")
        raise
    db.execute("ROLLBACK TO blob")
    db.execute("RELEASE blob")
    return problem


def write_attachment(vault: Vault, text: str, n: int, out: Path) -> tuple[str, AttachmentInfo]:
    """Decrypt attachment ``n`` (from 1) of a case to ``out``, a new file created 0600.

    This is the one place a report's content leaves the vault in clear, and only because
    a caseworker asked: the export is recorded as a signed ``attachment`` event. The file
    is written chunk by chunk and checked throughout; if anything is wrong it is removed
    and nothing is recorded.
    """
    case_id = vault.resolve(text)
    envelope, epoch = dbmod.one(
        vault.db, "SELECT envelope, epoch FROM cases WHERE id = ?", (case_id,)
    )
    team = vault.team_key(epoch)
    report = open_report(envelope, team.public_key, team.secret_key)
    count = len(report.attachments)
    shown = show_id(case_id)
    if count == 0:
        raise UsageError(f"Case {shown} has no attachments.")
    if not 1 <= n <= count:
        raise UsageError(
            f"Case {shown} has {count} attachment{'s' if count != 1 else ''}:"
            f" choose a number from 1 to {count}."
        )
    attachment = report.attachments[n - 1]
    if not holds_blob(vault.db, attachment.blob):
        with vault.transaction() as db:
            want_blob(db, case_id, attachment)  # so that the hint below is true
        raise VaultError(
            f"Attachment {n} of case {shown} is not in this vault:"
            " it was not received from the intake.",
            hint="run vault pull again; if it is still missing, the intake no longer has it",
        )
    out_file = open_new_private_file(out)
    try:
        with out_file, vault.transaction() as db:
            rows = (
                bytes(row[0])
                for row in db.execute(
                    "SELECT data FROM blob_chunks WHERE blob_id = ? ORDER BY n",
                    (attachment.blob,),
                )
            )
            try:
                open_attachment(rows, attachment, out_file.write)
            except IntegrityError:
                raise IntegrityError(
                    f"Attachment {n} of case {shown} is damaged or has been changed;"
                    " nothing was written."
                ) from None
            out_file.flush()
            os.fsync(out_file.fileno())
            vault.record(db, case_id, "attachment", {"n": n, "blob": attachment.blob})
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    fsync_dir(out.parent)
    info = AttachmentInfo(n, attachment.name, attachment.type, attachment.size, True)
    return case_id, info
