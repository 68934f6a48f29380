"""Complaint packs: what a caseworker hands to a complaint body (PALS, an ombudsman, the IOPC,
the GMC, the NMC) for a reporter who asked for help with a complaint.

:func:`export_pack` writes a NEW folder::

    PACK/
        complaint.pdf          the fields the caseworker chose, and the notes if asked
        README.txt             what the pack is, what was removed from each attachment and
                               what was withheld, and how to check the pack
        attachments/N.EXT      attachment N, its hidden data removed (vault/metadata.py)
        manifest.json          every other file's size and SHA-256, who made the pack, when
        manifest.sig           the caseworker's Ed25519 signature over the manifest

It is built in a private folder beside PACK (``.redress-pack-*``, locked while in use) and
renamed into place only when complete, right after the transaction that records its
``pack-exported`` case action commits: a pack in place is always in the log (a run killed
between the two leaves the entry and no pack). A folder left by a killed export is removed by
the next export in that folder. The originals stay in the vault. Anyone with
the team key file checks the pack with :func:`vault.pack_manifest.verify_pack`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vault import db as dbmod
from vault import triage
from vault.attachments import open_attachment
from vault.blobs import held_for, holds_blob
from vault.case_history import verified_events
from vault.case_view import open_sealed_text
from vault.cases import show_id
from vault.complaint_document import ComplaintDocument, DocumentNote, render_pdf
from vault.envelope import open_report
from vault.errors import IntegrityError, NoComplaintHelpAskedError, UsageError, VaultError
from vault.files import (
    claimed_temp_dir,
    create_private_file,
    fsync_dir,
    make_private_dir,
    move_into_place,
    remove_unclaimed_dirs,
)
from vault.metadata import MAX_CLEANED_BYTES, Cleaned, clean, withheld
from vault.pack_manifest import sign_folder
from vault.places import enclosing_vault
from vault.report import Attachment, Report
from vault.store import Vault, today

WORK_PREFIX = ".redress-pack-"
DOCUMENT = "complaint.pdf"
ABOUT = "README.txt"
ATTACHMENTS = "attachments"

FIELDS: dict[str, str] = {
    "sector": "Sector",
    "role": "Role of the professional",
    "organisation": "Organisation",
    "professional_identifier": "The professional's name or number",
    "when": "When it happened",
    "where": "Where it happened",
    "harms": "What kind of harm",
    "what_happened": "What happened",
    "contact": "How to contact the person who reported",
}
"""The report fields a pack may show (``--fields``), in the order the PDF shows them."""

DEFAULT_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f != "contact")
"""Without ``--fields``: everything about what happened, never the reporter's contact."""


def check_fields(text: str | None) -> tuple[str, ...]:
    """The fields a caseworker chose (``sector,role,...``), checked; the default when None."""
    if text is None:
        return DEFAULT_FIELDS
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    if not chosen:
        raise UsageError("--fields needs at least one field.", hint=_fields_hint())
    for name in chosen:
        if name not in FIELDS:
            raise UsageError(f"'{name}' is not a field a pack can show.", hint=_fields_hint())
    if len(set(chosen)) != len(chosen):
        raise UsageError("--fields names a field twice.")
    return tuple(f for f in FIELDS if f in chosen)


def _fields_hint() -> str:
    return f"choose from: {','.join(FIELDS)}"


def check_new_folder(out: Path) -> None:
    """Refuse a pack folder that already exists, or whose parent folder does not."""
    if os.path.lexists(out):
        raise VaultError(
            f"{out} already exists; a complaint pack goes into a new folder.",
            hint="give the name of a folder that does not exist yet",
        )
    parent = out.absolute().parent
    if not parent.is_dir():
        raise VaultError(f"The folder for {out} does not exist.")
    if enclosing_vault(parent) is not None:
        raise UsageError(
            f"{out} is inside a vault's folder; a complaint pack goes outside it.",
            hint="give a folder outside the vault, e.g. next to it",
        )


@dataclass(frozen=True, slots=True)
class PackedAttachment:
    """What happened to one attachment: the file in the pack, what was removed, or why it was
    left out."""

    n: int
    kind: str
    file: str | None
    removed: tuple[str, ...] = ()
    withheld: str | None = None

    def line(self) -> str:
        """One line for the PDF and the README."""
        if self.file is None:
            return f"Attachment {self.n} ({self.kind}) is not in this pack: {self.withheld}."
        removed = (
            "removed: " + "; ".join(self.removed) if self.removed else "no hidden data was found"
        )
        return f"Attachment {self.n} ({self.kind}) is {self.file}; {removed}."


@dataclass(frozen=True, slots=True)
class PackMade:
    case_id: str
    folder: Path
    files: int  # listed in the manifest
    manifest_sha256: str
    attachments: tuple[PackedAttachment, ...] = field(default=())


def export_pack(
    vault: Vault,
    text: str,
    out: Path,
    fields: Iterable[str] | None = None,
    notes: bool = False,
) -> PackMade:
    """Write the complaint pack of case ``text`` into the new folder ``out`` (see the module).

    Refused (and nothing written or logged) when the reporter did not ask for complaint help
    (:class:`NoComplaintHelpAskedError`), when ``out`` exists, or when an attachment is
    damaged (:class:`IntegrityError`).
    """
    chosen = DEFAULT_FIELDS if fields is None else check_fields(",".join(fields))
    check_new_folder(out)
    case_id = vault.resolve(text)
    found = triage.rows_of(vault, [case_id])
    if not found or "complaint-help" not in found[0].wants:
        raise NoComplaintHelpAskedError(
            f"The reporter of case {show_id(case_id)} did not ask for help with a complaint,"
            " so no complaint pack was made."
        )
    parent = out.absolute().parent
    remove_unclaimed_dirs(parent, WORK_PREFIX)  # what a killed export left: decrypted files
    with claimed_temp_dir(parent, WORK_PREFIX) as work:
        pack = work / "pack"
        make_private_dir(pack)
        made = _fill(vault, case_id, pack, chosen, notes)
        return _publish(vault, made, pack, out)


def _fill(vault: Vault, case_id: str, pack: Path, chosen: tuple[str, ...], notes: bool) -> PackMade:
    envelope, epoch = dbmod.one(
        vault.db, "SELECT envelope, epoch FROM cases WHERE id = ?", (case_id,)
    )
    team = vault.team_key(epoch)
    report = open_report(envelope, team.public_key, team.secret_key)
    packed = []
    for n, attachment in enumerate(report.attachments, 1):
        cleaned = _cleaned(vault, case_id, n, attachment)
        name = None
        if cleaned.data is not None:
            make_private_dir(pack / ATTACHMENTS)
            name = f"{ATTACHMENTS}/{n}.{cleaned.extension}"
            create_private_file(pack / name, cleaned.data)
        packed.append(PackedAttachment(n, cleaned.kind, name, cleaned.removed, cleaned.withheld))
    day = today()
    shown = show_id(case_id)
    document = ComplaintDocument(
        case=shown,
        made=day,
        made_by=vault.identity.name,
        fields=tuple((FIELDS[f], _value(report, f)) for f in chosen),
        attachments=tuple(p.line() for p in packed),
        notes=_notes(vault, case_id) if notes else None,
    )
    create_private_file(pack / DOCUMENT, render_pdf(document))
    create_private_file(pack / ABOUT, _about(shown, day, vault.identity.name, packed).encode())
    manifest, data = sign_folder(pack, shown, day, vault.identity)
    digest = hashlib.sha256(data).hexdigest()
    return PackMade(case_id, pack, len(manifest.files), digest, tuple(packed))


def _publish(vault: Vault, made: PackMade, pack: Path, out: Path) -> PackMade:
    """Record the export, then move the complete pack into place.

    In this order so that a pack in place is always in the log: a run killed between the two
    leaves the entry and no pack (run the export again), never a pack the log does not show.
    """
    check_new_folder(out)
    with vault.transaction() as db:
        data = {"files": made.files, "manifest": made.manifest_sha256}
        vault.record(db, made.case_id, "pack-exported", data)
    try:
        check_new_folder(out)
    except VaultError:
        raise VaultError(
            f"{out} appeared while the pack was being made, so the pack was not put there;"
            " the export is in the case history, but nothing was written.",
            hint="run the export again with a folder that does not exist",
        ) from None
    move_into_place(pack, out)
    fsync_dir(out.absolute().parent)
    return PackMade(made.case_id, out, made.files, made.manifest_sha256, made.attachments)


class _TooLarge(Exception):
    pass


def _cleaned(vault: Vault, case_id: str, n: int, attachment: Attachment) -> Cleaned:
    """Attachment ``n`` opened in memory and cleaned; withheld when it cannot be."""
    if not holds_blob(vault.db, attachment.blob):
        return withheld("it is not in the vault (it was not received from the intake)")
    if not held_for(vault.db, case_id, attachment.blob):
        return withheld("it is not the file this report's browser sealed")
    if attachment.size > MAX_CLEANED_BYTES:
        return withheld(f"it is larger than {MAX_CLEANED_BYTES >> 20} MiB")
    rows = (
        bytes(row[0])
        for row in vault.db.execute(
            "SELECT data FROM blob_chunks WHERE blob_id = ? ORDER BY n", (attachment.blob,)
        )
    )
    plain = bytearray()

    def keep(piece: bytes) -> None:
        plain.extend(piece)
        if len(plain) > MAX_CLEANED_BYTES:
            raise _TooLarge

    try:
        open_attachment(rows, attachment, keep)
    except IntegrityError:
        raise IntegrityError(
            f"Attachment {n} of case {show_id(case_id)} is damaged or has been changed;"
            " no complaint pack was made."
        ) from None
    except _TooLarge:
        return withheld(f"it is larger than {MAX_CLEANED_BYTES >> 20} MiB")
    return clean(bytes(plain), attachment.type)


def _value(report: Report, name: str) -> str:
    if name == "contact":
        c = report.contact
        return "(not given)" if c is None else f"{c.method}: {c.value}"
    value = getattr(report, name)
    if value is None:
        return "(not given)"
    if name in ("harms", "sector"):
        words = value if isinstance(value, list) else [value]
        return ", ".join(str(w).replace("-", " ") for w in words)
    return str(value)


def _notes(vault: Vault, case_id: str) -> tuple[DocumentNote, ...]:
    names = vault.caseworker_names()
    return tuple(
        DocumentNote(names.get(e.actor, e.actor), e.at[:10], open_sealed_text(vault, e.data))
        for e in verified_events(vault, vault.db, case_id)
        if e.kind == "note"
    )


def _about(case: str, day: str, name: str, packed: list[PackedAttachment]) -> str:
    lines = [
        f"Complaint pack for case {case}, made by {name} on {day}.",
        "",
        f"{DOCUMENT}: the report, as the caseworker chose to share it.",
        "",
        "Attachments. Photos have been redrawn from their pixels, so that location (GPS),",
        "camera, author and date data are not passed on. File names are replaced by numbers.",
        "Files whose hidden data the vault cannot remove are left out; the casework team",
        "holds the originals unchanged.",
        "",
    ]
    lines += [p.line() for p in packed] or ["The report came with no attachments."]
    lines += [
        "",
        "Checking this pack. manifest.json lists every other file with its SHA-256;",
        "manifest.sig is the caseworker's signature over it. With the team's published key",
        "file, anyone can check that nothing was changed, added or removed:",
        "",
        "    vault export verify THIS-FOLDER --team-key team-key.json",
        "",
        "It exits 0 when the pack is as it was made, and 4 on any change.",
        "",
    ]
    return "\n".join(lines)
