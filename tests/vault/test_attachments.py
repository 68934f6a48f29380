"""Sealed attachments: the browser's sealing (tests/sealing.py) against the vault's opening."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import CANARY, bytes_under, make_report, seal_for
from tests.sealing import attachment_entry, blob_id, padded_length, seal_attachment
from vault import blobs as blob_store
from vault import case_view, check, incoming
from vault.attachments import (
    BLOB_ID_PURPOSE,
    CHUNK_BYTES,
    HEADER_BYTES,
    SEALED_CHUNK_BYTES,
    BlobHasher,
    open_attachment,
    sealed_length,
    secretstream_length,
    segments,
    whole_blob_id,
)
from vault.blobs import BlobFetcher
from vault.errors import (
    AttachmentMismatchError,
    AttachmentUnavailableError,
    IntegrityError,
    UsageError,
    VaultError,
)
from vault.incoming import PulledBatch
from vault.report import Attachment
from vault.store import Vault


def _attachment(data: bytes, blob: bytes, key: bytes) -> Attachment:
    return Attachment(
        name="f",
        type="application/octet-stream",
        size=len(data),
        key=base64.b64encode(key).decode(),
        blob=blob_id(blob),
    )


def _open(blob: bytes, attachment: Attachment, piece: int = 10_000) -> bytes:
    out = io.BytesIO()
    pieces = (blob[i : i + piece] for i in range(0, len(blob), piece))
    open_attachment(pieces, attachment, out.write)
    return out.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(min_value=0, max_value=300_000),
    piece=st.integers(min_value=1, max_value=200_000),
    seed=st.binary(min_size=1, max_size=64),
)
@example(size=0, piece=1, seed=b"x")
@example(size=1, piece=7, seed=b"x")
@example(size=2047, piece=65_553, seed=b"x")
@example(size=2048, piece=24, seed=b"x")
@example(size=2049, piece=4096, seed=b"x")
@example(size=65_535, piece=65_536, seed=b"x")
@example(size=65_536, piece=65_553, seed=b"x")
@example(size=65_537, piece=100_000, seed=b"x")
@example(size=131_072, piece=333, seed=b"x")
def test_browser_sealed_files_open_to_the_same_bytes(size: int, piece: int, seed: bytes) -> None:
    data = (hashlib.sha256(seed).digest() * (size // 32 + 1))[:size]
    key, blob = seal_attachment(data)
    assert len(blob) == sealed_length(size) == secretstream_length(padded_length(size))
    assert _open(blob, _attachment(data, blob, key), piece) == data


@settings(max_examples=15, deadline=None)
@given(
    length=st.integers(min_value=0, max_value=3 * SEALED_CHUNK_BYTES + 100),
    cuts=st.lists(st.integers(min_value=0, max_value=3 * SEALED_CHUNK_BYTES + 100), max_size=8),
)
@example(length=HEADER_BYTES + 2 * SEALED_CHUNK_BYTES, cuts=[HEADER_BYTES, 100_000])
@example(length=HEADER_BYTES - 1, cuts=[1, 3])
def test_the_streaming_blob_id_is_the_one_shot_id_however_the_bytes_are_cut(
    length: int, cuts: list[int]
) -> None:
    data = bytes(i % 251 for i in range(length))
    hasher = BlobHasher(whole=True)
    edges = sorted({0, length, *(c for c in cuts if c < length)})
    for start, end in itertools.pairwise(edges):
        hasher.update(data[start:end])
    assert hasher.hexdigest() == blob_id(data)  # the doc-written id (tests/sealing.py)
    assert hasher.names(blob_id(data))
    assert hasher.names(whole_blob_id(data))
    assert not hasher.names(whole_blob_id(data + b"\x00"))


def test_lengths() -> None:
    assert secretstream_length(2048) == 24 + 2048 + 17
    assert secretstream_length(CHUNK_BYTES) == 24 + CHUNK_BYTES + 17  # no empty final chunk
    assert secretstream_length(CHUNK_BYTES + 1) == 24 + CHUNK_BYTES + 1 + 34
    assert sealed_length(0) == sealed_length(2048) == 24 + 2048 + 17
    blob = bytes(range(256)) * 1000
    cut = list(segments([blob[:5], blob[5:70_000], blob[70_000:]]))
    assert b"".join(cut) == blob
    assert [len(c) for c in cut[:2]] == [HEADER_BYTES, SEALED_CHUNK_BYTES]


def _bad(blob: bytes, attachment: Attachment) -> None:
    written: list[bytes] = []
    with pytest.raises(IntegrityError, match="damaged or has been changed"):
        open_attachment([blob], attachment, written.append)


def test_every_kind_of_damage_is_refused() -> None:
    data = os.urandom(3 * CHUNK_BYTES + 1234)
    key, blob = seal_attachment(data)
    good = _attachment(data, blob, key)
    for where in (0, 23, 24, 100, HEADER_BYTES + SEALED_CHUNK_BYTES + 5, len(blob) - 1):
        flipped = blob[:where] + bytes([blob[where] ^ 1]) + blob[where + 1 :]
        _bad(flipped, good)
        # even if the attacker also fixes the blob id in the report
        _bad(flipped, good.model_copy(update={"blob": blob_id(flipped)}))
    second = HEADER_BYTES + SEALED_CHUNK_BYTES
    third = second + SEALED_CHUNK_BYTES
    swapped = blob[:second] + blob[third : third + SEALED_CHUNK_BYTES] + blob[second:third]
    swapped += blob[third + SEALED_CHUNK_BYTES :]
    _bad(swapped, good.model_copy(update={"blob": blob_id(swapped)}))
    for cut in (blob[:-1], blob[: len(blob) - 100], blob[:third], blob + b"\x00"):
        _bad(cut, good.model_copy(update={"blob": blob_id(cut)}))
    # A size that pads to another length does not fit the blob. (One that pads to the same
    # length would only move where the zero padding starts: the report is what says the size.)
    _bad(blob, good.model_copy(update={"size": padded_length(len(data)) + 1}))
    _bad(blob, good.model_copy(update={"size": 10}))
    _bad(blob, good.model_copy(update={"key": base64.b64encode(bytes(32)).decode()}))


def test_a_blob_matching_its_id_only_as_the_other_kind_is_refused() -> None:
    """The bytes a hash-list id hashes have that id as their whole-blob id, but are far
    shorter than the blob: refused on length, as every blob is (docs/format.md)."""
    data = os.urandom(CHUNK_BYTES + 10)
    key, blob = seal_attachment(data)
    good = _attachment(data, blob, key)
    step = SEALED_CHUNK_BYTES
    listed = BLOB_ID_PURPOSE.encode() + b"\x00" + blob[:HEADER_BYTES]
    listed += b"".join(
        hashlib.sha256(blob[at : at + step]).digest() for at in range(24, len(blob), step)
    )
    assert whole_blob_id(listed) == good.blob
    _bad(listed, good)


def test_a_stream_must_end_with_its_final_chunk_and_zero_padding() -> None:
    data = os.urandom(CHUNK_BYTES + 10)
    key, early = seal_attachment(data, final_early=True)
    _bad(early, _attachment(data, early, key))
    key, dirty = seal_attachment(data, padding=b"\x01" * CHUNK_BYTES)
    _bad(dirty, _attachment(data, dirty, key))
    # A file sealed without its final tag: every chunk MESSAGE.
    key, blob = seal_attachment(data)
    _bad(blob[: HEADER_BYTES + SEALED_CHUNK_BYTES], _attachment(data, blob, key))


# --- the vault: storing pulled blobs and opening them to files --------------------------------


def _report_with(*files: bytes) -> tuple[dict[str, bytes], list[dict[str, object]]]:
    blobs: dict[str, bytes] = {}
    entries = []
    for i, data in enumerate(files):
        entry, blob = attachment_entry(data, name=f"photo-{i}.jpg", kind="image/jpeg")
        blobs[str(entry["blob"])] = blob
        entries.append(entry)
    return blobs, entries


def _sealed_before(blobs: dict[str, bytes], entry: dict[str, object]) -> str:
    """Name ``entry``'s blob as a report sealed before the hash list did: by the SHA-256 of all
    its bytes (docs/format.md, "Attachments: the blob id")."""
    blob = blobs.pop(str(entry["blob"]))
    entry["blob"] = whole_blob_id(blob)
    blobs[whole_blob_id(blob)] = blob
    return whole_blob_id(blob)


def _fetcher(
    blobs: dict[str, bytes], piece: int = 50_000
) -> tuple[list[str], Callable[[str], Iterator[bytes]]]:
    asked: list[str] = []

    def fetch(blob: str) -> Iterator[bytes]:
        asked.append(blob)
        if blob not in blobs:
            raise AttachmentUnavailableError()
        data = blobs[blob]
        for i in range(0, len(data), piece):
            yield data[i : i + piece]

    return asked, fetch


@dataclass
class Stored:
    """What storing a page and then its pending blobs did (as `vault pull` does, unnetworked)."""

    batch: PulledBatch
    blobs_held: list[str]
    failures: list[tuple[str, VaultError]]


def _store(vault: Vault, envelopes: list[tuple[str, bytes]], fetch: BlobFetcher) -> Stored:
    batch = incoming.store_pulled(vault, envelopes)
    held, failures = list(batch.blobs_held), []
    for pending in batch.blobs_wanted:
        problem = blob_store.store_blob(vault, pending, fetch)
        if problem is None:
            blob_store.forget_pending(vault, pending)
            held.append(pending.id)
        else:
            failures.append((pending.case_id, problem))
    return Stored(batch, sorted(held), failures)


def test_pulled_attachments_are_stored_sealed_and_open_to_new_private_files(
    vault: Vault, vault_dir: Path, tmp_path: Path
) -> None:
    secret = (CANARY + " photo of the letter ").encode() * 7000  # ~200 KiB: several chunks
    blobs, entries = _report_with(secret, b"")
    _sealed_before(blobs, entries[1])  # the empty one is named as before the hash list
    envelope = seal_for(vault, make_report(attachments=entries))
    asked, fetch = _fetcher(blobs)
    stored = _store(vault, [("e", envelope)], fetch)
    assert len(stored.batch.imported) == 1
    assert not stored.failures
    assert stored.blobs_held == sorted(blobs) == sorted(asked)
    assert blob_store.pending_blobs(vault) == []
    case_id = stored.batch.imported[0]
    assert CANARY.encode() not in bytes_under(vault_dir)

    out = tmp_path / "photo.jpg"
    _, info = blob_store.write_attachment(vault, case_id, 1, out)
    assert out.read_bytes() == secret
    assert (out.stat().st_mode & 0o777) == 0o600
    assert (info.n, info.name, info.size) == (1, "photo-0.jpg", len(secret))
    empty = tmp_path / "empty"
    blob_store.write_attachment(vault, case_id, 2, empty)
    assert empty.read_bytes() == b""

    with pytest.raises(VaultError, match="already exists"):
        blob_store.write_attachment(vault, case_id, 1, out)
    assert out.read_bytes() == secret
    with pytest.raises(UsageError, match="choose a number from 1 to 2"):
        blob_store.write_attachment(vault, case_id, 3, tmp_path / "x")
    assert not (tmp_path / "x").exists()

    view = case_view.show_case(vault, case_id)
    assert [a.held for a in view.attachments] == [True, True]
    assert [h.action for h in view.history].count("attachment") == 2

    again = _store(vault, [("e", envelope)], fetch)
    assert again.batch.duplicates == 1
    assert not again.batch.imported
    assert again.blobs_held == sorted(blobs)
    assert len(asked) == 2, "a blob the vault holds is not fetched again"
    assert check.check_vault(vault) == []  # either kind of id passes `vault check`


def test_a_tampered_blob_in_the_vault_leaves_no_file(
    vault: Vault, vault_dir: Path, tmp_path: Path
) -> None:
    old_file = os.urandom(CHUNK_BYTES * 2 + 99)
    blobs, entries = _report_with(os.urandom(200 * 1024 + 77), old_file)
    old_blob = _sealed_before(blobs, entries[1])
    _, fetch = _fetcher(blobs)
    case_id = _store(
        vault, [("e", seal_for(vault, make_report(attachments=entries)))], fetch
    ).batch.imported[0]
    blob_store.write_attachment(vault, case_id, 2, tmp_path / "old")  # the old id opens
    assert (tmp_path / "old").read_bytes() == old_file
    blob = str(entries[0]["blob"])
    db = vault.db
    (row,) = db.execute("SELECT data FROM blob_chunks WHERE blob_id = ? AND n = 1", (old_blob,))
    db.execute(
        "UPDATE blob_chunks SET data = ? WHERE blob_id = ? AND n = 1",
        (bytes([row[0][0] ^ 1]) + row[0][1:], old_blob),
    )
    (row,) = db.execute("SELECT data FROM blob_chunks WHERE blob_id = ? AND n = 2", (blob,))
    damaged = bytearray(row[0])
    damaged[1000] ^= 0x20
    db.execute("UPDATE blob_chunks SET data = ? WHERE blob_id = ? AND n = 2", (damaged, blob))
    out = tmp_path / "evidence.png"
    with pytest.raises(IntegrityError, match="damaged or has been changed; nothing was written"):
        blob_store.write_attachment(vault, case_id, 1, out)
    assert not out.exists()
    assert not any(p.name.startswith("evidence") for p in tmp_path.iterdir())
    assert sorted(check.check_vault(vault)) == sorted(
        f"attachment {b[:12]}: damaged or changed" for b in (blob, old_blob)
    )
    db.execute("DELETE FROM blob_chunks WHERE blob_id = ? AND n = 3", (blob,))
    with pytest.raises(IntegrityError):
        blob_store.write_attachment(vault, case_id, 1, out)
    assert not out.exists()
    history = [h.action for h in case_view.show_case(vault, case_id).history]
    assert history.count("attachment") == 1, "only the untampered old one was written"


def test_missing_or_wrong_blobs_never_hold_back_the_report_and_are_asked_for_again(
    vault: Vault,
) -> None:
    blobs, entries = _report_with(b"first file", b"second file")
    first, second = (str(e["blob"]) for e in entries)
    served = {first: blobs[first][:-1] + b"\x00"}  # wrong bytes for the first; none for the second
    _, fetch = _fetcher(served)
    envelope = seal_for(vault, make_report(attachments=entries))
    stored = _store(vault, [("e", envelope)], fetch)
    assert len(stored.batch.imported) == 1
    case_id = stored.batch.imported[0]
    assert stored.batch.envelopes_held
    assert stored.blobs_held == []
    kinds = sorted(type(e).__name__ for _, e in stored.failures)
    assert kinds == ["AttachmentUnavailableError", "IntegrityError"]
    assert all("The next vault pull asks for it again" in str(e) for _, e in stored.failures)
    assert vault.db.execute("SELECT count(*) FROM blob_chunks").fetchone()[0] == 0
    with pytest.raises(VaultError, match="not in this vault") as caught:
        blob_store.write_attachment(vault, case_id, 1, Path("/nonexistent/never-written"))
    assert caught.value.hint is not None
    assert "run vault pull again" in caught.value.hint
    # Both are remembered, with the exact length their report allows.
    pending = {p.id: p for p in blob_store.pending_blobs(vault)}
    assert set(pending) == {first, second}
    assert all(p.case_id == case_id for p in pending.values())
    assert pending[first].length == len(blobs[first]) == sealed_length(len(b"first file"))
    # An endless blob is cut off at the length its report allows, and stays pending.
    endless = {first: blobs[first] + bytes(10**6)}
    asked, fetch = _fetcher(endless)
    assert blob_store.store_blob(vault, pending[first], fetch) is not None
    assert asked == [first]
    # The envelope pulled again names nothing new: no second report of the same blobs.
    again = incoming.store_pulled(vault, [("e", envelope)])
    assert again.duplicates == 1
    assert again.blobs_wanted == []
    # The right blobs, asked for later (as every pull does), complete the case.
    _, fetch = _fetcher(blobs)
    for p in blob_store.pending_blobs(vault):
        assert blob_store.store_blob(vault, p, fetch) is None
        blob_store.forget_pending(vault, p)
    assert blob_store.pending_blobs(vault) == []
    assert [a.held for a in case_view.show_case(vault, case_id).attachments] == [True, True]


def test_two_reports_naming_one_blob_each_wait_for_it_with_their_own_length(
    vault: Vault,
) -> None:
    """Pending attachments are kept per (case, blob): a second report naming the same blob id
    with another size neither hides the first's wait nor is counted as holding the blob."""
    blobs, entries = _report_with(b"the real photo " * 3000)
    (blob,) = blobs
    other = {**entries[0], "size": 10 * len(b"the real photo " * 3000)}
    batch = incoming.store_pulled(
        vault,
        [
            ("liar", seal_for(vault, make_report(role="liar", attachments=[other]))),
            ("real", seal_for(vault, make_report(role="real", attachments=entries))),
        ],
    )
    liar, real = batch.imported
    pending = {p.case_id: p for p in blob_store.pending_blobs(vault)}
    assert set(pending) == {liar, real}
    assert pending[real].length == len(blobs[blob]) != pending[liar].length
    _, fetch = _fetcher(blobs)
    wrong = blob_store.store_blob(vault, pending[liar], fetch)
    assert isinstance(wrong, IntegrityError)  # the intake's blob is not that long: asked again
    assert blob_store.store_blob(vault, pending[real], fetch) is None
    blob_store.forget_pending(vault, pending[real])
    named = blob_store.store_blob(vault, pending[liar], fetch)
    assert isinstance(named, AttachmentMismatchError)
    assert named.exit_code == 4
    assert "is not the file this report's browser sealed" in str(named)
    assert blob_store.pending_blobs(vault) == [], "never right for that case: not asked again"
    assert [a.held for a in case_view.show_case(vault, real).attachments] == [True]
    # The same blob named by a later report with its own key is damage on that case, at once.
    own_key = {**entries[0], "key": base64.b64encode(os.urandom(32)).decode()}
    later = incoming.store_pulled(
        vault, [("x", seal_for(vault, make_report(attachments=[own_key])))]
    )
    ((case_id, problem),) = later.mismatched
    assert case_id == later.imported[0]
    assert isinstance(problem, AttachmentMismatchError)
    assert later.blobs_held == []
    again = incoming.store_pulled(vault, [("y", seal_for(vault, make_report(attachments=entries)))])
    assert again.mismatched == []
    assert again.blobs_held == [blob]


def test_an_attachment_a_case_lacks_is_wanted_even_if_pulled_before_the_list_was_kept(
    vault: Vault,
) -> None:
    _, entries = _report_with(b"only file")
    case_id = incoming.import_envelopes(
        vault, [("e", seal_for(vault, make_report(attachments=entries)))]
    ).imported[0]
    assert blob_store.pending_blobs(vault) == []
    assert [a.held for a in case_view.show_case(vault, case_id).attachments] == [False]
    (pending,) = blob_store.pending_blobs(vault)
    assert (pending.id, pending.case_id) == (str(entries[0]["blob"]), case_id)


def test_a_network_failure_mid_blob_keeps_the_reports_and_no_part_of_the_blob(
    vault: Vault,
) -> None:
    blobs, entries = _report_with(os.urandom(150_000))

    def broken(blob: str) -> Iterator[bytes]:
        yield blobs[blob][:70_000]
        raise VaultError("Could not reach the intake at http://x.")

    envelopes = [
        ("a", seal_for(vault)),
        ("b", seal_for(vault, make_report(attachments=entries))),
    ]
    batch = incoming.store_pulled(vault, envelopes)
    assert len(batch.imported) == 2, "the page's envelopes are committed before any blob"
    (pending,) = batch.blobs_wanted
    with pytest.raises(VaultError, match="Could not reach"):
        blob_store.store_blob(vault, pending, broken)
    assert case_view.count_cases(vault) == 2
    assert vault.db.execute("SELECT count(*) FROM blob_chunks").fetchone()[0] == 0
    assert blob_store.pending_blobs(vault) == [dataclasses.replace(pending, n=None)]
    _, fetch = _fetcher(blobs)
    assert blob_store.store_blob(vault, pending, fetch) is None
    assert blob_store.store_blob(vault, pending, broken) is None, "held: not fetched again"


def test_a_refused_export_opens_no_report_unlogged(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[int] = []
    real_open = blob_store.open_report

    def counted(*args: object) -> object:
        opened.append(1)
        return real_open(*args)  # type: ignore[arg-type]

    case_id = incoming.store_pulled(
        vault, [("e", seal_for(vault, make_report(attachments=_report_with(b"a letter")[1])))]
    ).imported[0]  # its file not fetched
    leaves = "SELECT count(*) FROM log_leaves"
    before = vault.db.execute(leaves).fetchone()[0]
    monkeypatch.setattr(blob_store, "open_report", counted)
    with pytest.raises(UsageError, match="choose a number from 1 to 1"):
        blob_store.write_attachment(vault, case_id, 2, tmp_path / "x")
    with pytest.raises(VaultError, match="not in this vault"):
        blob_store.write_attachment(vault, case_id, 1, tmp_path / "x")
    logged = vault.db.execute(leaves).fetchone()[0] > before
    assert not opened or logged, f"the report was opened {len(opened)} times, unlogged"
