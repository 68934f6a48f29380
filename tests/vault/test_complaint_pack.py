"""Complaint packs from a real vault (vault/complaint_pack.py): what goes in, what stays out,
what is refused, and that the export is logged and the log still verifies."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pypdf
import pytest
from PIL import Image

from tests.conftest import CANARY, bytes_under, make_report, seal_for
from tests.sealing import attachment_entry
from vault import audit_export, case_view, complaint_pack, incoming
from vault import blobs as blob_store
from vault.audit.leaves import parse_leaf
from vault.audit.verify import verify
from vault.check import check_vault
from vault.errors import IntegrityError, NoComplaintHelpAskedError, UsageError, VaultError
from vault.pack_manifest import verify_pack
from vault.store import Vault

AUTHOR = "Jane Doe-5f1c"


def _photo() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "CanonCam-93ab"
    exif[0x013B] = AUTHOR
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 26.5)
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def _case(vault: Vault, files: list[tuple[bytes, str, str]], **fields: object) -> str:
    """A case pulled with its attachments (stored as `vault pull` stores them)."""
    entries, blobs = [], {}
    for data, name, kind in files:
        entry, blob = attachment_entry(data, name=name, kind=kind)
        entries.append(entry)
        blobs[str(entry["blob"])] = blob
    envelope = seal_for(vault, make_report(attachments=entries, **fields))
    batch = incoming.store_pulled(vault, [("e", envelope)])
    for pending in batch.blobs_wanted:
        assert blob_store.store_blob(vault, pending, lambda b: iter([blobs[b]])) is None
    return batch.imported[0]


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


def test_a_pack_holds_the_chosen_fields_the_cleaned_photo_and_a_signed_manifest(
    vault: Vault, tmp_path: Path
) -> None:
    photo = _photo()
    letter = b"%PDF-1.4 /Author (" + AUTHOR.encode() + b")"
    case_id = _case(
        vault,
        [(photo, "IMG_2024_home.jpg", "image/jpeg"), (letter, "letter.pdf", "application/pdf")],
        professional_identifier="Dr A. Example, GMC 1234567",
    )
    vault.add_note(case_id, "Rang back; she wants to go to the GMC.")
    out = tmp_path / "pack"
    made = complaint_pack.export_pack(vault, case_id, out, notes=True)

    assert made.folder == out
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == [
        "README.txt",
        "attachments/1.jpg",
        "complaint.pdf",
        "manifest.json",
        "manifest.sig",
    ]
    for path in [out, *out.rglob("*")]:
        assert (path.stat().st_mode & 0o777) == (0o700 if path.is_dir() else 0o600)
    # the photo: cleaned, renamed; the PDF attachment withheld, and both said
    assert AUTHOR.encode() not in (out / "attachments/1.jpg").read_bytes()
    assert not Image.open(out / "attachments/1.jpg").getexif()
    assert b"IMG_2024_home" not in bytes_under(out)
    about = (out / "README.txt").read_text()
    assert "Attachment 1 (JPEG image) is attachments/1.jpg; removed: GPS location" in about
    assert "Attachment 2 (PDF) is not in this pack" in about
    assert [a.file for a in made.attachments] == ["attachments/1.jpg", None]
    # the PDF: the default fields, the notes, never the contact
    text = _pdf_text(out / "complaint.pdf")
    assert CANARY in text
    assert "Riverside Surgery" in text
    assert "GMC 1234567" in text
    assert "she wants to go to the GMC" in text
    assert "someone@example.org" not in text
    assert "GPS location" in text
    meta = pypdf.PdfReader(out / "complaint.pdf").metadata
    assert meta is not None
    assert meta.get("/Author") is None
    assert str(meta.get("/CreationDate")).endswith("000000Z")  # the day, no time of day

    verified = verify_pack(out, vault.team_key_export())
    assert verified.signer == "amara"
    assert verified.manifest.files == tuple(sorted(verified.manifest.files, key=lambda f: f.path))
    assert made.files == 3
    # the originals stay in the vault, unchanged
    again = tmp_path / "original.jpg"
    blob_store.write_attachment(vault, case_id, 1, again)
    assert again.read_bytes() == photo


def test_the_export_is_a_case_action_in_the_history_and_the_log(
    vault: Vault, tmp_path: Path
) -> None:
    case_id = _case(vault, [])
    made = complaint_pack.export_pack(vault, case_id, tmp_path / "pack")
    manifest = (tmp_path / "pack" / "manifest.json").read_bytes()
    assert made.manifest_sha256 == hashlib.sha256(manifest).hexdigest()
    view = case_view.show_case(vault, case_id)
    exported = [h for h in view.history if h.action == "pack-exported"]
    assert len(exported) == 1
    assert exported[0].detail == "complaint pack of 2 files exported"
    leaves = [
        parse_leaf(bytes(row[0]))
        for row in vault.db.execute("SELECT leaf FROM log_leaves ORDER BY seq")
    ]
    entry = next(leaf for leaf in leaves if leaf.action == "pack-exported")
    assert (entry.case, entry.detail, entry.commit) == (case_id, "2", made.manifest_sha256)
    bundle = tmp_path / "bundle"
    audit_export.write(vault, bundle)
    verify(bundle.read_bytes())  # raises if the log does not verify
    assert check_vault(vault) == [], "the signed event replays with the rest of the history"


def test_only_the_fields_chosen_are_shown(vault: Vault, tmp_path: Path) -> None:
    case_id = _case(vault, [])
    complaint_pack.export_pack(vault, case_id, tmp_path / "p", fields=["sector", "contact"])
    text = _pdf_text(tmp_path / "p" / "complaint.pdf")
    assert "healthcare" in text
    assert "email: someone@example.org" in text
    assert CANARY not in text
    assert "Riverside Surgery" not in text
    assert "notes" not in text.lower()


def test_fields_are_checked() -> None:
    assert complaint_pack.check_fields(None) == complaint_pack.DEFAULT_FIELDS
    assert "contact" not in complaint_pack.DEFAULT_FIELDS
    assert complaint_pack.check_fields("what_happened, sector") == ("sector", "what_happened")
    for bad in ("", "sector,banana", "sector,sector", "reply_key"):
        with pytest.raises(UsageError) as refused:
            complaint_pack.check_fields(bad)
        assert refused.value.exit_code == 2


def test_a_reporter_who_did_not_ask_for_complaint_help_gets_no_pack(
    vault: Vault, tmp_path: Path
) -> None:
    case_id = _case(vault, [], wants=["support"])
    size = vault.log.size()
    with pytest.raises(NoComplaintHelpAskedError, match="did not ask for help") as refused:
        complaint_pack.export_pack(vault, case_id, tmp_path / "pack")
    assert refused.value.exit_code == 1
    assert not (tmp_path / "pack").exists()
    assert vault.log.size() == size, "nothing logged, nothing opened"


def test_an_existing_folder_is_refused_even_an_empty_one(vault: Vault, tmp_path: Path) -> None:
    case_id = _case(vault, [])
    (tmp_path / "pack").mkdir()
    (tmp_path / "taken").write_bytes(b"mine")
    for out in (tmp_path / "pack", tmp_path / "taken"):
        with pytest.raises(VaultError, match="already exists") as refused:
            complaint_pack.export_pack(vault, case_id, out)
        assert refused.value.exit_code == 1
    assert list((tmp_path / "pack").iterdir()) == []
    assert (tmp_path / "taken").read_bytes() == b"mine"
    with pytest.raises(VaultError, match="does not exist"):
        complaint_pack.export_pack(vault, case_id, tmp_path / "no" / "pack")
    with pytest.raises(UsageError, match="inside a vault"):
        complaint_pack.export_pack(vault, case_id, vault.directory / "pack")
    with pytest.raises(UsageError, match="inside a vault"):
        complaint_pack.export_pack(vault, case_id, vault.directory / "caseworkers" / "pack")
    assert not (vault.directory / "pack").exists()


def test_a_damaged_attachment_leaves_nothing_behind_and_logs_nothing(
    vault: Vault, tmp_path: Path
) -> None:
    case_id = _case(vault, [(_photo() + os.urandom(100_000), "a.jpg", "image/jpeg")])
    (blob,) = [str(r[0]) for r in vault.db.execute("SELECT id FROM blobs")]
    (row,) = vault.db.execute("SELECT data FROM blob_chunks WHERE blob_id = ? AND n = 1", (blob,))
    damaged = bytearray(row[0])
    damaged[500] ^= 1
    vault.db.execute("UPDATE blob_chunks SET data = ? WHERE blob_id = ? AND n = 1", (damaged, blob))
    size = vault.log.size()
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(IntegrityError, match="damaged") as refused:
        complaint_pack.export_pack(vault, case_id, work / "pack")
    assert refused.value.exit_code == 4
    assert list(work.iterdir()) == [], "no pack, and no working folder"
    assert vault.log.size() == size


def test_a_working_folder_left_by_a_killed_export_is_removed_by_the_next(
    vault: Vault, tmp_path: Path
) -> None:
    left = tmp_path / f"{complaint_pack.WORK_PREFIX}killed"
    (left / "pack" / "attachments").mkdir(parents=True)
    (left / "pack" / "attachments" / "1.jpg").write_bytes(b"decrypted evidence")
    case_id = _case(vault, [])
    complaint_pack.export_pack(vault, case_id, tmp_path / "pack")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack", "vault-data"]


def test_an_attachment_not_yet_received_is_said_to_be_missing(vault: Vault, tmp_path: Path) -> None:
    entry, _blob = attachment_entry(_photo(), name="p.jpg", kind="image/jpeg")
    batch = incoming.store_pulled(vault, [("e", seal_for(vault, make_report(attachments=[entry])))])
    made = complaint_pack.export_pack(vault, batch.imported[0], tmp_path / "pack")
    (attachment,) = made.attachments
    assert attachment.file is None
    assert "not in the vault" in str(attachment.withheld)
    assert "not in the vault" in (tmp_path / "pack" / "README.txt").read_text()


def test_text_the_font_cannot_draw_is_marked_not_dropped(vault: Vault, tmp_path: Path) -> None:
    case_id = _case(vault, [], what_happened="他告诉了我的房东 — then he laughed.")
    complaint_pack.export_pack(vault, case_id, tmp_path / "pack")
    text = _pdf_text(tmp_path / "pack" / "complaint.pdf")
    assert "then he laughed" in text
    assert "cannot draw them" in text
    manifest = json.loads((tmp_path / "pack" / "manifest.json").read_text())
    assert manifest["made_by"]["name"] == "amara"
