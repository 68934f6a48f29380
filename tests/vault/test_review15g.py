"""Review 15g of issue 15's last fixes (fix15, fix15b): reports naming another report's upload,
erasure and export with shared blobs, and blobs at chunk boundaries, against real SQLCipher
vaults and real libsodium (and one real intake on loopback). Each FAULT is xfail(strict)."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, make_report, seal_for
from tests.sealing import attachment_entry
from tests.vault.test_attachment_lies import _victim_and_liar
from tests.vault.test_migrations import _as_of_schema
from tests.vault.test_pull import Intake, intake, intakes  # noqa: F401 (fixtures)
from vault import blobs as blob_store
from vault import case_view, complaint_pack, erasure, incoming
from vault.attachments import Segmenter
from vault.check import check_vault
from vault.errors import AttachmentUnavailableError, VaultError
from vault.pull import pull
from vault.store import Vault
from vault.submit import send_envelope


def _leaves(vault: Vault) -> int:
    return int(vault.db.execute("SELECT count(*) FROM log_leaves").fetchone()[0])


def _lacking(_id: str) -> Iterator[bytes]:
    raise AttachmentUnavailableError("not on the intake")


def _pull_pending(vault: Vault, blob: bytes) -> None:
    """A pull's catch-up, the intake holding ``blob``."""
    for pending in blob_store.pending_blobs(vault):
        if blob_store.store_blob(vault, pending, lambda _id: iter([blob])) is None:
            blob_store.forget_pending(vault, pending)


# --- exporting an attachment found not to be the case's own ------------------------------


def test_exporting_a_liars_attachment_opens_no_report_unlogged(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _victim, liar, _blob = _victim_and_liar(vault)
    assert [a.held for a in case_view.show_case(vault, liar).attachments] == [False]
    opened: list[int] = []
    real_open = blob_store.open_report

    def counted(*args: object) -> object:
        opened.append(1)
        return real_open(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(blob_store, "open_report", counted)
    before = _leaves(vault)
    with pytest.raises(VaultError):
        blob_store.write_attachment(vault, liar, 1, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert not opened or _leaves(vault) > before, "the liar's report was opened, unlogged"


def test_a_claim_found_wrong_is_not_asked_for_again_by_an_export(
    vault: Vault, tmp_path: Path
) -> None:
    victim, liar, blob = _victim_and_liar(vault)
    erasure.erase_case(vault, victim, "reporter asked")
    assert not blob_store.holds_blob(vault.db, blob)
    with pytest.raises(VaultError):
        blob_store.write_attachment(vault, liar, 1, tmp_path / "x")
    assert blob_store.pending_blobs(vault) == [], "the liar's wrong claim is wanted again"


# --- retention: an erased case's file kept by a lie ----------------------------------------


def test_a_liars_claim_does_not_bring_an_erased_cases_file_into_the_vault(
    vault: Vault,
) -> None:
    data = b"the victim's letter " * 3000
    entry, blob = attachment_entry(data)
    victim = incoming.store_pulled(
        vault, [("v", seal_for(vault, make_report(attachments=[entry])))]
    )
    (theirs,) = victim.blobs_wanted  # the pull broke off before the file came
    assert isinstance(blob_store.store_blob(vault, theirs, _lacking), AttachmentUnavailableError)
    lie = {**entry, "key": base64.b64encode(os.urandom(32)).decode()}
    liar = incoming.store_pulled(vault, [("l", seal_for(vault, make_report(attachments=[lie])))])
    erasure.erase_case(vault, victim.imported[0], "reporter asked")  # before the next pull
    problems = []
    for pending in blob_store.pending_blobs(vault):  # the next pull: only the liar's claim
        assert pending.case_id == liar.imported[0]
        problems.append(blob_store.store_blob(vault, pending, lambda _id: iter([blob])))
    assert problems
    assert all(p is not None for p in problems)
    assert not blob_store.holds_blob(vault.db, str(entry["blob"])), (
        "the erased case's sealed file is now held for a claim found wrong"
    )


Made = tuple[str, str, dict[str, object], bytes]


@pytest.fixture(scope="module")
def schema_12_held(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Made]:
    """A schema-12 vault holding a victim's file, and a liar's report naming that file with a
    key of its own (same size), made once; each test takes a copy."""
    made = tmp_path_factory.mktemp("schema-12-held") / "vault-data"
    data = b"the victim's photo " * 3000
    entry, blob = attachment_entry(data)
    lie = {**entry, "key": base64.b64encode(os.urandom(32)).decode()}
    with pytest.MonkeyPatch.context() as old:
        _as_of_schema(old, 12)
        with Vault.create(made, "amara", PASSPHRASE) as v12:
            victim, liar = incoming.import_envelopes(
                v12,
                [
                    ("v", seal_for(v12, make_report(role="victim", attachments=[entry]))),
                    ("l", seal_for(v12, make_report(role="liar", attachments=[lie]))),
                ],
            ).imported
            with v12.transaction() as db:  # the victim's file, as schema 12's pull stored it
                cutter = Segmenter()
                for n, segment in enumerate([*cutter.feed(blob), cutter.finish() or b""]):
                    if segment:
                        db.execute(
                            "INSERT INTO blob_chunks (blob_id, n, data) VALUES (?, ?, ?)",
                            (entry["blob"], n, segment),
                        )
                db.execute(
                    "INSERT INTO blobs (id, length) VALUES (?, ?)", (entry["blob"], len(blob))
                )
    return made, (victim, liar, entry, blob)


def test_a_schema_12_liars_claim_on_a_held_file_keeps_nothing_after_the_erase(
    schema_12_held: tuple[Path, Made], vault_dir: Path
) -> None:
    shutil.copytree(schema_12_held[0], vault_dir)
    victim, liar, entry, _blob = schema_12_held[1]
    with Vault.unlock(vault_dir, PASSPHRASE) as v13:
        assert [a.held for a in case_view.show_case(v13, victim).attachments] == [True]
        erasure.erase_case(v13, victim, "reporter asked")
        kept = blob_store.holds_blob(v13.db, str(entry["blob"]))
        shown = [a.held for a in case_view.show_case(v13, liar).attachments]
        assert (kept, shown) == (False, [False]), "the erased case's file is kept for a liar"


def test_a_schema_12_liars_claim_is_shown_not_held_once_its_report_is_opened(
    schema_12_held: tuple[Path, Made], vault_dir: Path
) -> None:
    """`cases show` of a case stored before the list was kept lists it from the report it
    opens, checking each held file: the liar's claim is found wrong there, not only when
    something is erased."""
    shutil.copytree(schema_12_held[0], vault_dir)
    victim, liar, entry, _blob = schema_12_held[1]
    with Vault.unlock(vault_dir, PASSPHRASE) as v13:
        assert [a.held for a in case_view.show_case(v13, liar).attachments] == [False]
        assert [a.held for a in case_view.show_case(v13, victim).attachments] == [True]
        erasure.erase_case(v13, victim, "reporter asked")
        assert not blob_store.holds_blob(v13.db, str(entry["blob"]))


def test_a_complaint_pack_withholds_a_file_found_not_to_be_the_reports(
    vault: Vault, tmp_path: Path
) -> None:
    entry, blob = attachment_entry(b"the victim's photo " * 4000)
    victim = incoming.store_pulled(
        vault, [("v", seal_for(vault, make_report(attachments=[entry])))]
    )
    _pull_pending(vault, blob)
    assert [a.held for a in case_view.show_case(vault, victim.imported[0]).attachments] == [True]
    lie = {**entry, "key": base64.b64encode(os.urandom(32)).decode()}
    liar = incoming.store_pulled(
        vault, [("l", seal_for(vault, make_report(wants=["complaint-help"], attachments=[lie])))]
    )
    assert len(liar.mismatched) == 1
    made = complaint_pack.export_pack(vault, liar.imported[0], tmp_path / "pack")
    (attachment,) = made.attachments
    assert attachment.file is None
    assert "not the file this report's browser sealed" in str(attachment.withheld)


# --- what held -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 65_536, 65_537, 131_072])
def test_files_at_chunk_boundaries_are_stored_in_odd_pieces_and_open_whole(
    vault: Vault, tmp_path: Path, size: int
) -> None:
    """The padded length exactly one or two 64 KiB chunks (the last full chunk FINAL), or one
    byte past: fetched in pieces that never fall on a segment boundary, checked, and
    exported byte for byte."""
    data = os.urandom(size)
    entry, blob = attachment_entry(data)
    batch = incoming.store_pulled(vault, [("e", seal_for(vault, make_report(attachments=[entry])))])
    (pending,) = batch.blobs_wanted

    def pieces(_id: str) -> Iterator[bytes]:
        at, step = 0, 7
        while at < len(blob):
            yield blob[at : at + step]
            at, step = at + step, 65_553 - 6 if step == 7 else 7

    assert blob_store.store_blob(vault, pending, pieces) is None
    blob_store.forget_pending(vault, pending)
    out = tmp_path / "out"
    blob_store.write_attachment(vault, batch.imported[0], 1, out)
    assert out.read_bytes() == data
    assert check_vault(vault) == []


def test_a_blob_cut_short_by_the_intake_is_not_held_and_is_asked_for_again(
    vault: Vault,
) -> None:
    entry, blob = attachment_entry(os.urandom(70_000))
    batch = incoming.store_pulled(vault, [("e", seal_for(vault, make_report(attachments=[entry])))])
    (pending,) = batch.blobs_wanted
    problem = blob_store.store_blob(vault, pending, lambda _id: iter([blob[:-1]]))
    assert problem is not None
    assert problem.exit_code == 4
    assert not blob_store.holds_blob(vault.db, str(entry["blob"]))
    assert vault.db.execute("SELECT count(*) FROM blob_chunks").fetchone()[0] == 0
    assert [p.id for p in blob_store.pending_blobs(vault)] == [entry["blob"]]
    _pull_pending(vault, blob)
    assert [a.held for a in case_view.show_case(vault, batch.imported[0]).attachments] == [True]


def test_erasing_a_liar_before_the_real_report_arrives_leaves_its_upload_on_the_intake(
    vault: Vault,
    intake: Intake,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The real reporter's page uploaded its file, but its report is still to come (its first
    send failed). A liar's report naming that upload with a key of its own is pulled, found
    wrong and erased: the intake is never told to delete the upload, so the real report, sent
    later, gets its file."""
    letter = b"the real letter " + os.urandom(100_000)
    entry, blob = attachment_entry(letter)
    assert intake.upload(blob) == entry["blob"]
    lie = {**entry, "key": base64.b64encode(os.urandom(32)).decode()}
    send_envelope(intake.url, seal_for(vault, make_report(role="liar", attachments=[lie])))
    first = pull(vault, intake.url)
    (liar,) = first.imported
    assert len(first.failures) == 1, first.failures  # the liar's: not its report's file
    erasure.erase_case(vault, liar, "spam")
    assert not blob_store.holds_blob(vault.db, str(entry["blob"]))
    assert intake.has_blob(vault, str(entry["blob"]))
    send_envelope(intake.url, seal_for(vault, make_report(role="real", attachments=[entry])))
    second = pull(vault, intake.url)
    assert second.failures == []
    (real,) = second.imported
    out = tmp_path / "letter"
    blob_store.write_attachment(vault, real, 1, out)
    assert out.read_bytes() == letter
    assert not intake.has_blob(vault, str(entry["blob"]))
