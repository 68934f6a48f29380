"""Review of issue 15 (seal15): reports that name another report's upload, against real
SQLCipher vaults. The fault it found (a later pull's catch-up opened a report unlogged) is
fixed: that opening is logged as `attachments-checked`; so is review 15f's (an erased real
case's file kept for a liar's claim still pending: the erase now finds that claim wrong)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

from tests.conftest import make_report, seal_for
from tests.sealing import attachment_entry
from vault import blobs as blob_store
from vault import case_view, erasure, incoming
from vault.check import check_vault
from vault.errors import AttachmentMismatchError, AttachmentUnavailableError
from vault.store import Vault


def _victim_and_liar(vault: Vault) -> tuple[str, str, str]:
    """A victim's case whose upload the vault holds, and a liar's case whose (modified) page
    named that upload with a key of its own (same size): the pull found the mismatch."""
    entry, blob = attachment_entry(b"the victim's photo " * 4000)
    victim = incoming.store_pulled(
        vault, [("v", seal_for(vault, make_report(role="victim", attachments=[entry])))]
    )
    (pending,) = victim.blobs_wanted
    assert blob_store.store_blob(vault, pending, lambda _id: iter([blob])) is None
    blob_store.forget_pending(vault, pending)
    lie = {**entry, "key": base64.b64encode(os.urandom(32)).decode()}
    liar = incoming.store_pulled(
        vault, [("l", seal_for(vault, make_report(role="liar", attachments=[lie])))]
    )
    ((liar_id, problem),) = liar.mismatched
    assert isinstance(problem, AttachmentMismatchError)
    assert problem.exit_code == 4
    return victim.imported[0], liar_id, str(entry["blob"])


def test_erasing_the_liar_keeps_the_victims_file(vault: Vault) -> None:
    """Held: the liar's erase does not delete the upload the victim's report names."""
    victim, liar, blob = _victim_and_liar(vault)
    erasure.erase_case(vault, liar, "mistake")
    assert blob_store.holds_blob(vault.db, blob)
    assert [a.held for a in case_view.show_case(vault, victim).attachments] == [True]
    erasure.erase_case(vault, victim, "mistake")
    assert not blob_store.holds_blob(vault.db, blob)
    assert check_vault(vault) == []


def test_erasing_the_victim_deletes_its_file_even_if_a_liar_named_it(vault: Vault) -> None:
    victim, _liar, blob = _victim_and_liar(vault)
    erasure.erase_case(vault, victim, "reporter asked")
    assert not blob_store.holds_blob(vault.db, blob), "the erased case's sealed file is kept"


def test_the_liars_case_does_not_show_the_victims_file_as_its_own(vault: Vault) -> None:
    _victim, liar, _blob = _victim_and_liar(vault)
    assert [a.held for a in case_view.show_case(vault, liar).attachments] == [False]


def test_catching_up_an_attachment_logs_the_report_it_opens(vault: Vault) -> None:
    entry, blob = attachment_entry(b"a scan " * 3000)
    batch = incoming.store_pulled(vault, [("a", seal_for(vault, make_report(attachments=[entry])))])
    (pending,) = blob_store.pending_blobs(vault)  # the intake lacked it then: a later pull
    leaves = "SELECT count(*) FROM log_leaves"
    before = vault.db.execute(leaves).fetchone()[0]
    assert blob_store.store_blob(vault, pending, lambda _id: iter([blob])) is None
    assert pending.case_id == batch.imported[0]
    assert vault.db.execute(leaves).fetchone()[0] > before, "the report was opened, unlogged"


def test_a_mismatch_with_no_other_case_does_not_blame_another_case(vault: Vault) -> None:
    entry, blob = attachment_entry(b"my own upload " * 2000)
    wrong_key = {**entry, "key": base64.b64encode(os.urandom(32)).decode()}
    batch = incoming.store_pulled(
        vault, [("a", seal_for(vault, make_report(attachments=[wrong_key])))]
    )
    (pending,) = batch.blobs_wanted
    problem = blob_store.store_blob(vault, pending, lambda _id: iter([blob]))
    assert isinstance(problem, AttachmentMismatchError)
    assert blob_store.pending_blobs(vault) == []
    assert "another case" not in str(problem), str(problem)


def test_a_mismatch_found_by_a_later_pull_names_the_attachment(vault: Vault) -> None:
    data = b"the real scan " * 3000
    entry, blob = attachment_entry(data)
    liar_entry = {"name": "x.bin", "type": "image/png", "size": 3 * len(data)}
    liar_entry |= {"key": entry["key"], "blob": entry["blob"]}
    first = incoming.store_pulled(
        vault,
        [("l", seal_for(vault, make_report(attachments=[liar_entry])))],
    )
    (wrong_length,) = first.blobs_wanted  # first pull: the intake's blob is not that long
    assert blob_store.store_blob(vault, wrong_length, lambda _id: iter([blob])) is not None
    real = incoming.store_pulled(vault, [("r", seal_for(vault, make_report(attachments=[entry])))])
    (theirs,) = real.blobs_wanted
    assert blob_store.store_blob(vault, theirs, lambda _id: iter([blob])) is None
    blob_store.forget_pending(vault, theirs)
    (later,) = blob_store.pending_blobs(vault)  # the next pull's catch-up
    problem = blob_store.store_blob(vault, later, lambda _id: iter([blob]))
    assert isinstance(problem, AttachmentMismatchError)
    assert str(problem).startswith("Attachment 1 is not the file"), str(problem)


def test_erasing_the_victim_before_the_liars_claim_is_checked_deletes_its_file(
    vault: Vault,
) -> None:
    data = b"the victim's scan " * 3000
    entry, blob = attachment_entry(data)
    lie = {**entry, "size": 3 * len(data)}
    liar = incoming.store_pulled(vault, [("l", seal_for(vault, make_report(attachments=[lie])))])
    (wrong_length,) = liar.blobs_wanted  # the intake's blob is not that long: stays pending
    assert blob_store.store_blob(vault, wrong_length, lambda _id: iter([blob])) is not None
    key_lie = {**entry, "key": base64.b64encode(os.urandom(32)).decode()}
    other = incoming.store_pulled(
        vault, [("k", seal_for(vault, make_report(attachments=[key_lie])))]
    )
    (wrong_key,) = other.blobs_wanted  # the right length, another key; the intake lacked it
    assert isinstance(blob_store.store_blob(vault, wrong_key, _lacking), AttachmentUnavailableError)
    victim = incoming.store_pulled(
        vault, [("v", seal_for(vault, make_report(attachments=[entry])))]
    )
    (theirs,) = victim.blobs_wanted
    assert blob_store.store_blob(vault, theirs, lambda _id: iter([blob])) is None
    blob_store.forget_pending(vault, theirs)
    erasure.erase_case(vault, victim.imported[0], "requested")  # before the next pull
    for pending in blob_store.pending_blobs(vault):  # the next pull: the liar's claim is wrong
        blob_store.store_blob(vault, pending, lambda _id: iter([blob]))
    assert blob_store.pending_blobs(vault) == []
    assert not blob_store.holds_blob(vault.db, str(entry["blob"])), "the erased case's file is kept"


def _lacking(_id: str) -> Iterator[bytes]:
    raise AttachmentUnavailableError("not on the intake")
