"""Review 15h: the hash-list blob id (issue 15 part 4) as an adversary and a cryptographer.

Its faults (a team laptop planting a blob's hash-list input under the blob's id at sync,
which `vault check` then passed; the docs' "second preimage" argument) are mended: bytes that
start as a hash list's input does are never accepted under their whole-blob id, so bytes
matching an id made the other way need a SHA-256 collision (docs/format.md). The tests are
now plain; the others add coverage the suite lacked (a synced blob named by either kind of
id; a case named by old ids packed and erased; the doc-written id at every chunk boundary;
which sealed lengths a hash list's input can have).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any, cast

import pytest

from tests.conftest import make_report, seal_for
from tests.sealing import attachment_entry, seal_attachment
from tests.vault.test_complaint_pack import _photo
from vault import blobs as blob_store
from vault import check, complaint_pack, erasure, incoming, taking
from vault.attachments import (
    BLOB_ID_PURPOSE,
    HEADER_BYTES,
    SEALED_CHUNK_BYTES,
    BlobHasher,
    blob_id,
    secretstream_length,
    whole_blob_id,
)
from vault.envelope import padded_length
from vault.errors import IntegrityError
from vault.store import Vault
from vault.sync_result import SyncResult

STEP = SEALED_CHUNK_BYTES


def doc_blob_id(blob: bytes) -> str:
    """docs/format.md, "Attachments: the blob id", written again from the text alone: the
    first 24 bytes are the header, every 65,553 bytes after it a chunk, the last shorter."""
    header, rest = blob[:24], blob[24:]
    digests = [hashlib.sha256(rest[i : i + 65_553]).digest() for i in range(0, len(rest), 65_553)]
    return hashlib.sha256(b"redress blob hash list v1\x00" + header + b"".join(digests)).hexdigest()


def hash_list_input(blob: bytes) -> bytes:
    """The bytes a blob's hash-list id is the SHA-256 of (no SHA-256 work to make)."""
    return (
        BLOB_ID_PURPOSE.encode() + b"\x00" + blob[:HEADER_BYTES]
        + b"".join(
            hashlib.sha256(blob[at : at + STEP]).digest()
            for at in range(HEADER_BYTES, len(blob), STEP)
        )
    )  # fmt: skip


def _take(vault: Vault, blob: str, parts: list[bytes]) -> None:
    """Attachment parts as a team laptop's sync items bring them (vault/taking.py)."""
    result = SyncResult(pulled=cast(Any, None))
    with vault.transaction() as db:
        for n, data in enumerate(parts):
            doc = {
                "id": blob,
                "part": n,
                "parts": len(parts),
                "data": base64.b64encode(data).decode(),
            }
            taking.take_blob_part(db, doc, result)


# --- the cross-kind argument -------------------------------------------------------------


def test_a_blobs_hash_list_input_is_never_accepted_under_the_blobs_id() -> None:
    """Any blob's hash-list input is, with no SHA-256 work, other bytes whose whole-blob id is
    the blob's id: so bytes starting as a hash list's input does are never accepted under
    their whole-blob id (docs/format.md), however they are fed."""
    _, blob = seal_attachment(os.urandom(3000))
    forged = hash_list_input(blob)
    assert forged != blob
    assert whole_blob_id(forged) == blob_id(blob)  # the arithmetic the rule is for
    for cut in (1, 7, 26, len(forged)):
        hasher = BlobHasher(whole=True)
        for at in range(0, len(forged), cut):
            hasher.update(forged[at : at + cut])
        assert not hasher.names(blob_id(blob))
    kept = BlobHasher(whole=True)  # an ordinary old blob is still named by its whole-blob id
    kept.update(blob)
    assert kept.names(whole_blob_id(blob))
    assert kept.names(blob_id(blob))


def test_sealed_lengths_a_hash_list_input_can_have() -> None:
    """The docs' length argument compares the hash list with *the blob it names*; another
    report may imply the list's length. Some sealed lengths are `50 + 32 n` (the first at a
    file padded to about 1.6 MB, n = 52,237 chunks, a 3.4 GB blob), but no file up to the
    intake's 4,096 MiB ceiling seals to a length of n chunks for any of them: no two blobs a
    report could name are each other's hash list input (and the form's Padmé lengths of one
    chunk are multiples of 128, never `9 + 32 n`)."""
    padded = [2048]
    while padded[-1] <= 4096 << 20:
        padded.append(padded_length(padded[-1] + 1))
    sealed = {secretstream_length(p) for p in padded}
    listed = sorted(n for n in ((s - 50) // 32 for s in sealed if (s - 50) % 32 == 0) if n > 0)
    assert listed[0] == 52_237
    for n in listed:
        low, high = HEADER_BYTES + STEP * (n - 1) + 1, HEADER_BYTES + STEP * n
        assert not [s for s in sealed if low <= s <= high]


# --- chunk boundaries --------------------------------------------------------------------


@pytest.mark.parametrize(
    "length",
    [0, 1, 23, 24, 25, 24 + STEP - 1, 24 + STEP, 24 + STEP + 1, 24 + 2 * STEP, 24 + 2 * STEP + 17],
)
def test_the_id_by_the_document_at_every_boundary_however_the_bytes_arrive(length: int) -> None:
    data = os.urandom(length)
    for piece in (1 if length < 100 else 4093, STEP, 1 << 20):
        hasher = BlobHasher(whole=True)
        for at in range(0, length, piece):
            hasher.update(data[at : at + piece])
        assert hasher.hexdigest() == doc_blob_id(data) == blob_id(data)
        assert hasher.names(whole_blob_id(data))


def test_no_empty_last_chunk_and_no_two_cuts_of_one_length_share_an_id() -> None:
    """A blob ending exactly on a chunk boundary has no empty chunk after it; its id differs
    from the id an extra empty chunk's digest would give, and from the blob one byte longer
    or shorter; a header-only blob has no digest at all."""
    data = os.urandom(24 + STEP)
    exact = hashlib.sha256(
        b"redress blob hash list v1\x00" + data[:24] + hashlib.sha256(data[24:]).digest()
    ).hexdigest()
    with_empty = hashlib.sha256(
        b"redress blob hash list v1\x00"
        + data[:24]
        + hashlib.sha256(data[24:]).digest()
        + hashlib.sha256(b"").digest()
    ).hexdigest()
    assert blob_id(data) == exact != with_empty
    assert len({blob_id(data[:-1]), blob_id(data), blob_id(data + b"\x00")}) == 3
    assert (
        blob_id(data[:24])
        == hashlib.sha256(b"redress blob hash list v1\x00" + data[:24]).hexdigest()
    )


# --- sync: a welcome or a team laptop brings the blob ------------------------------------


def test_a_synced_blob_is_taken_under_either_kind_of_id(vault: Vault) -> None:
    """Migration: a team laptop sends a blob a report sealed before the hash list names (its
    whole-blob id), and a new one (hash list), each in parts: both are held and pass check."""
    _, old = seal_attachment(os.urandom(70_000))
    _, new = seal_attachment(os.urandom(5000))
    _take(vault, whole_blob_id(old), [old[:40_000], old[40_000:]])
    _take(vault, blob_id(new), [new])
    db = vault.db
    assert blob_store.holds_blob(db, whole_blob_id(old))
    assert blob_store.holds_blob(db, blob_id(new))
    assert check.check_vault(vault) == []
    with pytest.raises(IntegrityError):
        _take(vault, blob_id(old), [old[:-1]])  # one byte short: matches neither


def test_a_team_laptop_cannot_plant_other_bytes_under_a_blob_id(
    vault: Vault, tmp_path: Path
) -> None:
    data = os.urandom(3000)
    entry, blob = attachment_entry(data)
    forged = hash_list_input(blob)
    planted = True
    try:
        _take(vault, str(entry["blob"]), [forged])
    except IntegrityError:
        planted = False
    # Then the report arrives from the intake, which has the real blob.
    batch = incoming.store_pulled(vault, [("e", seal_for(vault, make_report(attachments=[entry])))])
    for pending in batch.blobs_wanted:
        assert blob_store.store_blob(vault, pending, lambda _: iter([blob])) is None
        blob_store.forget_pending(vault, pending)
    blob_store.write_attachment(vault, batch.imported[0], 1, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    assert not planted


def test_vault_check_finds_a_planted_hash_list_input(vault: Vault) -> None:
    entry, blob = attachment_entry(os.urandom(3000))
    try:
        _take(vault, str(entry["blob"]), [hash_list_input(blob)])
    except IntegrityError:
        return  # refused at sync: nothing planted to find
    assert check.check_vault(vault) != []


def test_a_reader_from_the_document_alone_gives_the_vectors() -> None:
    """tests/vectors/blob-id-v1.json by doc_blob_id above (written from docs/format.md only),
    with the chunk lengths the document's example gives for the first."""
    vectors = json.loads((Path(__file__).parents[1] / "vectors" / "blob-id-v1.json").read_text())
    for vector in vectors["vectors"]:
        blob = bytes(i % 251 for i in range(vector["length"]))
        assert doc_blob_id(blob) == vector["blob_id"]
        assert hashlib.sha256(blob).hexdigest() == vector["whole_blob_id"]
    first = vectors["vectors"][0]
    assert first["length"] == 2089
    assert first["blob_id"] == "83223e65f2cef73de5f6489abe6287627d3ae02d5e4fd65cb03b1f7a95680372"


def test_a_case_named_by_old_ids_packs_and_erases(vault: Vault, tmp_path: Path) -> None:
    """Migration: a case whose report (sealed before the hash list) names its photo by the
    whole-blob id gives a complaint pack with the cleaned photo, and erasing it deletes the
    blob (nothing in either path recomputes the id the old way)."""
    photo = _photo()
    entry, blob = attachment_entry(photo, name="IMG_1.jpg", kind="image/jpeg")
    entry["blob"] = whole_blob_id(blob)
    envelope = seal_for(vault, make_report(attachments=[entry]))
    batch = incoming.store_pulled(vault, [("e", envelope)])
    pieces = [blob[:999], blob[999:]]
    for pending in batch.blobs_wanted:
        assert blob_store.store_blob(vault, pending, lambda _: iter(pieces)) is None
    case_id = batch.imported[0]
    made = complaint_pack.export_pack(vault, case_id, tmp_path / "pack")
    assert [a.file for a in made.attachments] == ["attachments/1.jpg"]
    assert (tmp_path / "pack" / "attachments" / "1.jpg").read_bytes()[:2] == b"\xff\xd8"
    erasure.erase_case(vault, case_id, "review")
    assert not blob_store.holds_blob(vault.db, whole_blob_id(blob))
    assert check.check_vault(vault) == []
