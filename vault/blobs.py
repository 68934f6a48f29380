"""Attachments held in the vault: fetched from the intake, stored sealed in chunks, checked
before they count, and written out to a file only when a caseworker asks.

A report names each attachment by its blob id (a hash over the sealed bytes,
vault/attachments.py :class:`~vault.attachments.BlobHasher`) and carries
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
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vault import _crypto
from vault import db as dbmod
from vault.attachments import BlobHasher, Segmenter, open_attachment, sealed_length
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
from vault.read_through import ReadState, record_reads
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
    # The report's own attachment when the pull that stored the case just opened it (its
    # `imported` entry logs that): the check needs its key, so the report is not opened again.
    attachment: Attachment | None = field(default=None, repr=False, compare=False)


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


def drop_wrong_claims(db: dbmod.Connection, blob: str) -> None:
    """Every case's claim of a held blob with another length is wrong (the id is the hash of
    the bytes, so no other length is ever right): mark it (:func:`mark_wrong`) and stop
    asking for it. Nothing if the vault does not hold the blob."""
    length = held_length(db, blob)
    if length is None:
        return
    db.execute("UPDATE case_blobs SET wrong = 1 WHERE blob_id = ? AND length != ?", (blob, length))
    db.execute("DELETE FROM pending_blobs WHERE id = ? AND length != ?", (blob, length))


def held_for(db: dbmod.Connection, case_id: str, blob: str) -> bool:
    """Whether the vault holds this case's attachment: a blob under its id, not found to be
    another report's."""
    return holds_blob(db, blob) and not _found_wrong(db, case_id, blob)


def _found_wrong(db: dbmod.Connection, case_id: str, blob: str) -> bool:
    """Whether this case's claim of the blob was found wrong (:func:`mark_wrong`)."""
    return (
        db.execute(
            "SELECT 1 FROM case_blobs WHERE case_id = ? AND blob_id = ? AND wrong = 1",
            (case_id, blob),
        ).fetchone()
        is not None
    )


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

    The case's report is opened (for the attachment's key) only once the vault holds the
    blob, and only when the pull that stored the case did not hand it over: that opening is
    logged as an ``attachments-checked`` read of the one case. The attachment's number comes
    from the list kept with each case (a case stored before that list was kept is listed
    first, with every other such case, in a transaction of its own, so the openings stay
    logged whatever the fetch does: :func:`list_unlisted`). When the intake's copy is not
    what this case's report implies, the blob may be another case's: see
    :func:`_wanted_elsewhere`.
    """
    if pending.n is None and not listed(vault.db, pending.case_id):
        with vault.transaction() as db:  # its own step: the openings stay logged
            list_unlisted(vault, db)
    with vault.transaction() as db:
        which = _which(db, pending)
        if not holds_blob(db, pending.id):
            problem = _stream_blob(db, pending, fetch_blob, which)
            if problem is not None:
                if not isinstance(problem, AttachmentUnavailableError):
                    _wanted_elsewhere(db, pending)
                return problem
        if pending.attachment is not None:
            attachment: Attachment | None = pending.attachment
        else:
            attachment = _named_by(vault, db, pending)
        if attachment is None:
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
            _drop_if_unclaimed(db, pending.id)
        return wrong


def _drop_if_unclaimed(db: dbmod.Connection, blob: str) -> None:
    """A held blob that no case names rightly (its own case erased while it was still on the
    intake, then fetched for a claim found wrong) is not kept: a claim found wrong keeps
    nothing. The intake is not told to delete its copy (the report it belongs to may still
    come). Kept while any case is unlisted: such a case may name it."""
    if named_elsewhere(db, blob, ""):
        return
    unlisted = db.execute(
        "SELECT 1 FROM cases c LEFT JOIN case_blobs_listed l ON l.case_id = c.id"
        " WHERE l.case_id IS NULL LIMIT 1"
    ).fetchone()
    if unlisted is None:
        db.execute("DELETE FROM blob_chunks WHERE blob_id = ?", (blob,))
        db.execute("DELETE FROM blobs WHERE id = ?", (blob,))


def listed(db: dbmod.Connection, case_id: str) -> bool:
    return (
        db.execute("SELECT 1 FROM case_blobs_listed WHERE case_id = ?", (case_id,)).fetchone()
        is not None
    )


def _which(db: dbmod.Connection, pending: PendingBlob) -> str:
    """How messages name the attachment: its number, from the list kept with the case."""
    n = pending.n
    if n is None:
        (n,) = db.execute(
            "SELECT min(n) FROM case_blobs WHERE case_id = ? AND blob_id = ? AND length = ?",
            (pending.case_id, pending.id, pending.length),
        ).fetchone()
    return f"Attachment {n}" if n is not None else "An attachment"


def _wanted_elsewhere(db: dbmod.Connection, pending: PendingBlob) -> None:
    """The intake's copy of a blob is not what this case's report implies, so it may be
    another case's: want it for every other case that names it (and is not known to name it
    wrongly), each with the length its own report implies.

    Before schema 13 a vault kept one pending row per blob, with the first report's length.
    A report naming another's upload with a false size could take that row, and the real
    report's wait was never recorded, so no pull fetched its file; the cases of that time are
    listed before this is called (:func:`store_blob`), so the real report gets its own row.
    """
    db.execute(
        "INSERT INTO pending_blobs (id, case_id, length)"
        " SELECT blob_id, case_id, length FROM case_blobs"
        " WHERE blob_id = ? AND case_id != ? AND wrong = 0"
        " ON CONFLICT (case_id, id) DO NOTHING",
        (pending.id, pending.case_id),
    )


LIST_BATCH = 256
"""Cases taken per query by :func:`list_unlisted` (their ids only; reports one at a time)."""


def list_unlisted(vault: Vault, db: dbmod.Connection, but: str = "") -> None:
    """List the attachments of every case (``but`` aside) stored before the vault kept that
    list (schema 13), in ``db``'s transaction.

    Each report is opened in memory, one at a time (memory stays flat however many there
    are), and nothing of it is kept but its blob ids and lengths; each attachment the vault
    does not hold is recorded as pending for that case (:func:`_list_case`). The cases opened are
    logged as ONE read across cases (``attachments-checked``, with its read list). A case
    sealed to a team key this caseworker lacks is left unlisted: its pending rows still count.
    """
    opened: dict[str, ReadState] = {}
    after = ""
    while True:
        batch = db.execute(
            "SELECT c.id, c.epoch FROM cases c"
            " LEFT JOIN case_blobs_listed l ON l.case_id = c.id"
            " WHERE l.case_id IS NULL AND c.id != ? AND c.id > ? ORDER BY c.id LIMIT ?",
            (but, after, LIST_BATCH),
        ).fetchall()
        if not batch:
            break
        after = str(batch[-1][0])
        for other_id, other_epoch in batch:
            _list_case(vault, db, str(other_id), int(other_epoch), opened)
    record_reads(vault, db, "attachments-checked", opened)


def list_case(vault: Vault, db: dbmod.Connection, case_id: str) -> None:
    """List the attachments of one case stored before the vault kept that list, as
    :func:`list_unlisted` does (its opening logged as an ``attachments-checked`` read of the
    one case), in ``db``'s transaction; nothing if it is listed already."""
    row = db.execute(
        "SELECT c.epoch FROM cases c LEFT JOIN case_blobs_listed l ON l.case_id = c.id"
        " WHERE c.id = ? AND l.case_id IS NULL",
        (case_id,),
    ).fetchone()
    if row is None:
        return
    opened: dict[str, ReadState] = {}
    _list_case(vault, db, case_id, int(row[0]), opened)
    record_reads(vault, db, "attachments-checked", opened)


def _list_case(
    vault: Vault, db: dbmod.Connection, case_id: str, epoch: int, opened: dict[str, ReadState]
) -> None:
    """Open one unlisted case's report in memory, list its attachments, and want each one the
    vault does not hold: before schema 13 another report's pending row may have stood for it
    (and that row may be gone with its case), so nothing else records it as still to fetch."""
    key = vault.access.team_key(epoch)
    if key is None:  # not this caseworker's to open
        return
    row = db.execute("SELECT envelope FROM cases WHERE id = ?", (case_id,)).fetchone()
    try:
        named = open_report(bytes(row[0]), key.public_key, key.secret_key).attachments
    except VaultError:
        opened[case_id] = "damaged"
        named = []
    else:
        opened[case_id] = "read"
    del row
    list_opened(db, case_id, named)


def list_opened(db: dbmod.Connection, case_id: str, named: Sequence[Attachment]) -> None:
    """List the attachments of a case whose report is open in memory (``named``): each the
    vault does not hold is wanted; each it holds is checked now (its length, and that the
    report's key opens it), and a claim that fails is marked wrong (:func:`mark_wrong`), as
    a pull would have marked it."""
    list_attachments(db, case_id, named)
    for attachment in named:
        if not holds_blob(db, attachment.blob):
            want_blob(db, case_id, attachment)
        elif check_held(db, attachment, "", case_id) is not None:
            mark_wrong(db, case_id, attachment.blob)


def _named_by(vault: Vault, db: dbmod.Connection, pending: PendingBlob) -> Attachment | None:
    """The attachment of the case's report that names the pending blob (with the length the
    pending row records); None if the report does not open or names no such attachment.

    The report is opened in memory, and that opening logged (``attachments-checked``, this
    one case), as every opening of a stored report is."""
    row = db.execute(
        "SELECT envelope, epoch FROM cases WHERE id = ?", (pending.case_id,)
    ).fetchone()
    team = None if row is None else vault.access.team_key(int(row[1]))
    if row is None or team is None:
        return None
    try:
        report = open_report(bytes(row[0]), team.public_key, team.secret_key)
    except VaultError:
        record_reads(vault, db, "attachments-checked", {pending.case_id: "damaged"})
        return None
    record_reads(vault, db, "attachments-checked", {pending.case_id: "read"})
    for attachment in report.attachments:
        if attachment.blob == pending.id and sealed_length(attachment.size) == pending.length:
            return attachment
    return None


def check_pending_claims(vault: Vault, db: dbmod.Connection, blob: str, but: str) -> None:
    """Check now every other case's claim of a held blob still waiting to be checked (a
    pending row of the held length), as the next pull would: each report opened (logged,
    :func:`_named_by`) whose attachment's key does not open the blob is marked wrong and no
    longer asked for. A report that does not open, or that this caseworker cannot open,
    keeps its claim. Nothing if the vault does not hold the blob."""
    length = held_length(db, blob)
    if length is None:
        return
    claims = db.execute(
        "SELECT case_id FROM pending_blobs WHERE id = ? AND case_id != ? AND length = ?"
        " ORDER BY rowid",
        (blob, but, length),
    ).fetchall()
    for (case_id,) in claims:
        claim = PendingBlob(blob, str(case_id), length)
        attachment = _named_by(vault, db, claim)
        if attachment is not None and not opens_with(db, blob, attachment):
            db.execute(
                "DELETE FROM pending_blobs WHERE case_id = ? AND id = ?", (claim.case_id, blob)
            )
            mark_wrong(db, claim.case_id, blob)


def forget_pending(vault: Vault, pending: PendingBlob) -> None:
    """The blob is stored for this case and the intake has been told: stop asking for it."""
    with vault.transaction() as db:
        db.execute(
            "DELETE FROM pending_blobs WHERE case_id = ? AND id = ?",
            (pending.case_id, pending.id),
        )


def _stream_blob(
    db: dbmod.Connection,
    pending: PendingBlob,
    fetch_blob: BlobFetcher,
    which: str = "An attachment",
) -> VaultError | None:
    """Stream one sealed blob into chunk rows (memory stays flat), checked before it counts.

    Reading stops as soon as the blob runs past the length its report allows.
    """
    blob, expected = pending.id, pending.length
    db.execute("SAVEPOINT blob")
    try:
        hasher = BlobHasher(whole=True)  # an id of either kind (docs/format.md)
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
        if length == expected and hasher.names(blob):
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
    a caseworker asked: the export is recorded as a signed ``attachment`` event. Which
    attachments the case has, and whether the vault holds each, comes from the list kept
    with the case (``case_blobs``), so an export refused (no such number, or the file not
    held) opens no report; a case stored before that list was kept is listed first, that
    opening logged (:func:`list_case`). The report is opened only to export. The file
    is written chunk by chunk and checked throughout; if anything is wrong it is removed
    and nothing is recorded.
    """
    case_id = vault.resolve(text)
    envelope, epoch = dbmod.one(
        vault.db, "SELECT envelope, epoch FROM cases WHERE id = ?", (case_id,)
    )
    team = vault.team_key(epoch)  # refused here if this caseworker lacks the case's key
    if not listed(vault.db, case_id):  # stored before the list was kept: list it, logged
        with vault.transaction() as db:
            list_case(vault, db, case_id)
    named = vault.db.execute(
        "SELECT n, blob_id, length FROM case_blobs WHERE case_id = ? ORDER BY n", (case_id,)
    ).fetchall()
    count = len(named)
    shown = show_id(case_id)
    if count == 0:
        raise UsageError(f"Case {shown} has no attachments.")
    if not 1 <= n <= count:
        raise UsageError(
            f"Case {shown} has {count} attachment{'s' if count != 1 else ''}:"
            f" choose a number from 1 to {count}."
        )
    blob, length = str(named[n - 1][1]), int(named[n - 1][2])
    if _found_wrong(vault.db, case_id, blob):  # refused as cases show says, no report opened
        raise mismatch(f"Attachment {n} of case {shown}", named_elsewhere(vault.db, blob, case_id))
    if not holds_blob(vault.db, blob):
        with vault.transaction() as db:  # so that the hint below is true
            db.execute(
                "INSERT INTO pending_blobs (id, case_id, length) VALUES (?, ?, ?)"
                " ON CONFLICT (case_id, id) DO NOTHING",
                (blob, case_id, length),
            )
        raise VaultError(
            f"Attachment {n} of case {shown} is not in this vault:"
            " it was not received from the intake.",
            hint="run vault pull again; if it is still missing, the intake no longer has it",
        )
    report = open_report(envelope, team.public_key, team.secret_key)  # logged: its export
    if len(report.attachments) < n or report.attachments[n - 1].blob != blob:
        raise IntegrityError(f"Case {shown}'s list of attachments does not match its report.")
    attachment = report.attachments[n - 1]
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
