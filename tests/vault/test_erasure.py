"""Erasing a case (vault/erasure.py): every row and every byte of it goes, its tombstone and
access-log entries stay, the rest of the vault is untouched, and nothing is ever half done."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CANARY, make_report, seal_for
from tests.sealing import attachment_entry, codename_entropy, new_codename, reply_keypair
from tests.vault.pages import decrypted_pages, first_page_is_sqlite, found_in
from vault import audit_export, case_view, erasure, incoming, replies, search
from vault import blobs as blob_store
from vault.audit.verify import verify
from vault.check import check_vault
from vault.errors import CaseErasedError, CaseNotFoundError, UsageError, VaultError
from vault.store import Vault

# Every table that holds something of a case, and the column naming it.
CASE_TABLES = {
    "cases": "id",
    "events": "case_id",
    "replies": "case_id",
    "pending_blobs": "case_id",
    "case_blobs": "case_id",
    "case_blobs_listed": "case_id",
    "case_triage": "case_id",
    "professionals_indexed": "case_id",
    "professionals_named": "case_id",
}


def _rows_of(vault: Vault, case_id: str) -> dict[str, int]:
    return {
        table: vault.db.execute(
            f"SELECT count(*) FROM {table} WHERE {column} = ?",  # noqa: S608
            (case_id,),
        ).fetchone()[0]
        for table, column in CASE_TABLES.items()
    }


@pytest.fixture
def erasers() -> Iterator[list[tuple[int, erasure.Eraser]]]:
    """The registry of erasers, as it was after the test (each test registers its own)."""
    saved = list(erasure.ERASERS)
    yield erasure.ERASERS
    erasure.ERASERS[:] = saved


def _full_case(
    vault: Vault, secret: bytes, named: str = "GMC 7654321"
) -> tuple[str, bytes, dict[str, bytes]]:
    """A case with everything a case can hold: a report naming a professional and a codename,
    an attachment stored in the vault, a note and a reply. Returns its id, envelope and blobs."""
    pk, _sk = reply_keypair(codename_entropy(new_codename()))
    entry, blob = attachment_entry(secret, name="letter.jpg", kind="image/jpeg")
    report = make_report(
        reply_key=base64.b64encode(pk).decode(),
        professional_identifier=named,
        attachments=[entry],
    )
    envelope = seal_for(vault, report)
    batch = incoming.store_pulled(vault, [("e", envelope)])
    (pending,) = batch.blobs_wanted
    assert blob_store.store_blob(vault, pending, lambda _id: iter([blob])) is None
    case_id = batch.imported[0]
    vault.add_note(case_id, f"note {CANARY}")
    replies.reply(vault, case_id, f"reply {CANARY}")
    return case_id, envelope, {str(entry["blob"]): blob}


def _markers(
    vault: Vault, case_id: str, envelope: bytes, blobs: dict[str, bytes]
) -> dict[str, list[bytes]]:
    """Byte strings only this case put in the database, by kind: slices of its envelope and
    attachment, its sealed note and reply as stored, its keys in the index of professionals.
    (A slice may cross from one page to the next, so not every one is found whole.)"""
    found: dict[str, list[bytes]] = {
        "envelope": [envelope[i : i + 32] for i in range(0, len(envelope) - 32, 397)],
        "attachment": [b[i : i + 32] for b in blobs.values() for i in range(0, len(b) - 32, 4099)],
        "note": [],
        "reply": [],
        "index": [],
    }
    for (body,) in vault.db.execute("SELECT body FROM events WHERE case_id = ?", (case_id,)):
        sealed = json.loads(bytes(body))["data"].get("sealed")
        if sealed:
            found["note"].append(sealed.encode()[:48])
    for (body,) in vault.db.execute("SELECT body FROM replies WHERE case_id = ?", (case_id,)):
        found["reply"].append(bytes(body)[100:132])
    for (key,) in vault.db.execute(
        "SELECT key FROM professionals_named WHERE case_id = ?", (case_id,)
    ):
        found["index"].append(bytes(key))
    return found


def _found(pages: list[bytes], markers: dict[str, list[bytes]]) -> dict[str, int]:
    return {kind: sum(found_in(pages, m) for m in ms) for kind, ms in markers.items()}


def test_an_erased_case_is_gone_from_every_table_and_every_decrypted_page(
    vault: Vault, vault_dir: Path
) -> None:
    secret = (CANARY + " photo of the letter ").encode() * 5000  # ~140 KiB: several chunks
    case_id, envelope, blobs = _full_case(vault, secret)
    other = b"another case's photo " * 3000
    kept, kept_envelope, kept_blobs = _full_case(vault, other, "NMC 12A3456E")
    markers = _markers(vault, case_id, envelope, blobs)
    kept_markers = _markers(vault, kept, kept_envelope, kept_blobs)
    # both name the same surgery and role: that key is the kept case's too
    markers["index"] = [k for k in markers["index"] if k not in kept_markers["index"]]
    assert sum(map(len, markers.values())) > 20
    db_file, key = vault_dir / "vault.db", vault.access.db_key.reveal()
    assert first_page_is_sqlite(db_file, key)  # the pages really are decrypted

    before = _found(decrypted_pages(db_file, key), markers)
    # each kind is there before (so the test can fail), most slices whole
    assert all(before.values()), before
    assert sum(before.values()) >= 0.8 * sum(map(len, markers.values())), before
    assert not found_in(decrypted_pages(db_file, key), CANARY.encode())  # sealed, even before

    done = erasure.erase_case(vault, case_id, "withdrawn")
    assert done.wal_emptied
    wal = vault_dir / "vault.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0

    after = decrypted_pages(db_file, key)
    assert _found(after, markers) == dict.fromkeys(markers, 0)
    assert all(_found(after, kept_markers).values())  # the other case is untouched
    assert _rows_of(vault, case_id) == dict.fromkeys(CASE_TABLES, 0)
    for blob in blobs:
        assert not blob_store.holds_blob(vault.db, blob)
    assert all(blob_store.holds_blob(vault.db, b) for b in kept_blobs)
    assert check_vault(vault) == []
    assert [n.text for n in case_view.show_case(vault, kept).notes] == [f"note {CANARY}"]
    assert search.search(vault, CANARY).matches[0].id == kept
    out = vault_dir.parent / "bundle"
    audit_export.write(vault, out)
    verify(out.read_bytes())


def test_the_tombstone_keeps_dates_outcome_and_reason_and_the_log_says_erased(
    vault: Vault,
) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    vault.close_case(case_id, "supported")
    size = vault.log.size()
    (gone,) = erasure.erase_case(vault, case_id[:5].lower(), "  Reporter asked ").tombstones
    assert (gone.id, gone.status, gone.outcome, gone.reason) == (
        case_id,
        "closed",
        "supported",
        "reporter-asked",
    )
    assert gone.closed == gone.received == gone.erased  # all today
    (leaf,) = list(vault.log.leaves())[size:]
    fields = leaf.decode().split(" ")
    assert fields[3:7] == ["erased", case_id, "other", "-"]  # free words never reach the log
    with pytest.raises(CaseErasedError, match="was erased on") as raised:
        case_view.show_case(vault, case_id)
    assert raised.value.tombstone == gone
    assert erasure.tombstones(vault) == [gone]
    assert case_view.list_cases(vault) == []
    assert (gone.to_json()["status"], gone.to_json()["report"]) == ("erased", None)


def test_check_finds_a_row_left_behind_in_any_table_that_names_the_case(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    erasure.erase_case(vault, case_id, "duplicate")
    assert erasure.check_tombstones(vault) == []
    # A table no module registers, as a later feature might add: found from the schema alone.
    with vault.transaction() as db:
        db.execute("CREATE TABLE later_feature (case_id TEXT NOT NULL, what TEXT) STRICT")
        db.execute("INSERT INTO later_feature VALUES (?, 'left over')", (case_id,))
    assert erasure.check_tombstones(vault) == [
        f"erased case {case_id[:4]}-{case_id[4:]}: some of it is still in the vault"
    ]


def test_erasing_twice_or_a_case_that_never_was_is_refused(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    erasure.erase_case(vault, case_id, "duplicate")
    size = vault.log.size()
    with pytest.raises(CaseErasedError, match="already erased") as raised:
        erasure.erase_case(vault, case_id, "duplicate")
    assert raised.value.exit_code == 1
    with pytest.raises(CaseNotFoundError):
        erasure.erase_case(vault, "ZZZZZZZZ", "duplicate")
    with pytest.raises(CaseErasedError):
        vault.add_note(case_id, "too late")
    assert vault.log.size() == size


def test_a_report_that_no_longer_opens_is_erased_all_the_same(vault: Vault) -> None:
    # The farewell to the reporter needs the codename's key from the report: a damaged report
    # sends none, and its erasure goes ahead (docs/retention.md, "Not done").
    pk, _sk = reply_keypair(codename_entropy(new_codename()))
    envelope = seal_for(vault, make_report(reply_key=base64.b64encode(pk).decode()))
    stored = incoming.import_envelopes(vault, [("a", envelope), ("b", seal_for(vault))])
    damaged, intact = stored.imported
    with vault.transaction() as db:
        db.execute(
            "UPDATE cases SET envelope = ? WHERE id = ?",
            (envelope[:-1] + bytes([envelope[-1] ^ 1]), damaged),
        )
    gone = erasure.erase_cases(vault, [damaged, intact], "withdrawn").tombstones
    assert [(t.id, t.reason) for t in gone] == [(damaged, "withdrawn"), (intact, "withdrawn")]
    assert _rows_of(vault, damaged)["cases"] == 0
    assert vault.db.execute("SELECT count(*) FROM farewells").fetchone()[0] == 0
    assert erasure.check_tombstones(vault) == []


@pytest.mark.parametrize("reason", ["", "   ", "jane@example.org", "call 07700 900123!", "x" * 65])
def test_a_reason_is_a_few_plain_words(vault: Vault, reason: str) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    with pytest.raises(UsageError, match="plain words"):
        erasure.erase_case(vault, case_id, reason)
    assert _rows_of(vault, case_id)["cases"] == 1


def test_registered_erasers_run_in_order_inside_the_transaction(
    vault: Vault, erasers: list[tuple[int, erasure.Eraser]]
) -> None:
    with vault.transaction() as db:
        db.execute("CREATE TABLE alerts_here (case_id TEXT REFERENCES cases (id))")
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    with vault.transaction() as db:
        db.execute("INSERT INTO alerts_here VALUES (?)", (case_id,))
    calls: list[str] = []

    def alerts(v: Vault, c: str) -> None:
        assert v.db.in_transaction
        calls.append("alerts")
        v.db.execute("DELETE FROM alerts_here WHERE case_id = ?", (c,))

    def messages(v: Vault, c: str) -> None:
        calls.append("messages")

    erasure.register_eraser(20, messages)
    erasure.register_eraser(10, alerts)
    erasure.register_eraser(10, alerts)  # once is enough
    erasure.erase_case(vault, case_id, "withdrawn")
    assert calls == ["alerts", "messages"]
    assert vault.db.execute("SELECT count(*) FROM alerts_here").fetchone()[0] == 0


def test_an_eraser_that_fails_leaves_the_case_whole(
    vault: Vault, erasers: list[tuple[int, erasure.Eraser]]
) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    vault.add_note(case_id, "still here")
    rows, size = _rows_of(vault, case_id), vault.log.size()

    def broken(v: Vault, c: str) -> None:
        raise VaultError("The alerts could not be erased.")

    erasure.register_eraser(1, broken)
    with pytest.raises(VaultError, match="alerts could not"):
        erasure.erase_case(vault, case_id, "withdrawn")
    assert _rows_of(vault, case_id) == rows
    assert vault.log.size() == size
    assert erasure.tombstones(vault) == []
    assert [n.text for n in case_view.show_case(vault, case_id).notes] == ["still here"]


def test_events_of_a_case_not_erased_stay_append_only(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    vault.add_note(case_id, "stays")
    with pytest.raises(Exception, match="append-only"), vault.transaction() as db:
        db.execute("DELETE FROM events WHERE case_id = ?", (case_id,))
    erasure.erase_case(vault, case_id, "mistake")
    with pytest.raises(Exception, match="never changed"), vault.transaction() as db:
        db.execute("UPDATE erased_cases SET reason = 'other'")


def test_an_erased_envelope_pulled_or_imported_again_is_not_stored_again(vault: Vault) -> None:
    entry, _blob = attachment_entry(b"photo bytes " * 100)
    envelope = seal_for(vault, make_report(attachments=[entry]))
    case_id = incoming.import_envelopes(vault, [("a", envelope)]).imported[0]
    erasure.erase_case(vault, case_id, "withdrawn")
    again = incoming.import_envelopes(vault, [("a", envelope)])
    assert (again.imported, again.duplicates) == ([], 1)
    pulled = incoming.store_pulled(vault, [("a", envelope)])
    assert (pulled.imported, pulled.blobs_wanted) == ([], [])
    assert len(pulled.envelopes_held) == 1
    assert pulled.blobs_held == [entry["blob"]]  # so the intake may delete it
    assert case_view.list_cases(vault) == []


def test_an_attachment_a_duplicate_report_names_too_stays_with_it(vault: Vault) -> None:
    """A browser that sends a report again after a failure seals the same attachment into a
    second envelope: erasing one duplicate keeps the attachment the other needs."""
    entry, blob = attachment_entry(b"the same letter " * 500)
    report = make_report(attachments=[entry])
    batch = incoming.store_pulled(vault, [("a", seal_for(vault, report))])
    assert blob_store.store_blob(vault, batch.blobs_wanted[0], lambda _id: iter([blob])) is None
    first = batch.imported[0]
    again = incoming.store_pulled(vault, [("b", seal_for(vault, report))])
    second = again.imported[0]
    assert again.blobs_held == [entry["blob"]]
    assert again.mismatched == []
    reads = "SELECT count(*) FROM case_reads"
    before = vault.db.execute(reads).fetchone()[0]
    erasure.erase_case(vault, first, "duplicate")
    assert blob_store.holds_blob(vault.db, str(entry["blob"]))
    assert vault.db.execute(reads).fetchone()[0] == before, "the other case was listed"
    erasure.erase_case(vault, second, "mistake")
    assert not blob_store.holds_blob(vault.db, str(entry["blob"]))
    assert check_vault(vault) == []


def test_a_blob_any_other_case_names_is_kept_whatever_its_triage_or_date(vault: Vault) -> None:
    """Not only same-triage duplicates within a week: a report that names another case's
    blob (a lying page or intake) keeps it from being erased with that case, and so does a
    case still waiting for it. A case stored before the list was kept is opened to list it,
    once, logged as one read across cases."""
    entry, blob = attachment_entry(b"a letter " * 900)
    mine = incoming.store_pulled(
        vault, [("a", seal_for(vault, make_report(sector="housing", attachments=[entry])))]
    )
    assert blob_store.store_blob(vault, mine.blobs_wanted[0], lambda _id: iter([blob])) is None
    first = mine.imported[0]
    older = incoming.store_pulled(
        vault, [("b", seal_for(vault, make_report(sector="policing", attachments=[entry])))]
    ).imported[0]
    vault.db.execute("UPDATE cases SET received = '2020-01-01' WHERE id = ?", (older,))
    # as if stored before the vault listed attachments
    vault.db.execute("DELETE FROM case_blobs WHERE case_id = ?", (older,))
    vault.db.execute("DELETE FROM case_blobs_listed WHERE case_id = ?", (older,))
    erasure.erase_case(vault, first, "mistake")
    assert blob_store.holds_blob(vault.db, str(entry["blob"]))
    seq, cases = vault.db.execute(
        "SELECT r.entry, r.cases FROM case_reads r ORDER BY r.entry DESC LIMIT 1"
    ).fetchone()
    assert cases == f"redress cases read v1\n{older} read\n"
    (leaf,) = vault.db.execute("SELECT leaf FROM log_leaves WHERE seq = ?", (seq,)).fetchone()
    assert bytes(leaf).split(b" ")[3] == b"attachments-checked"
    listed = vault.db.execute("SELECT blob_id FROM case_blobs WHERE case_id = ?", (older,))
    assert [r[0] for r in listed] == [entry["blob"]]
    # A case that only still wants the blob keeps it too.
    other, other_blob = attachment_entry(b"another letter " * 700)
    third = incoming.store_pulled(vault, [("c", seal_for(vault, make_report(attachments=[other])))])
    assert (
        blob_store.store_blob(vault, third.blobs_wanted[0], lambda _id: iter([other_blob])) is None
    )
    waiting = incoming.store_pulled(
        vault, [("d", seal_for(vault, make_report(wants=["nothing"], attachments=[other])))]
    ).imported[0]
    vault.db.execute("DELETE FROM case_blobs WHERE case_id = ?", (waiting,))
    blob_store.want_blob(vault.db, waiting, make_report(attachments=[other]).attachments[0])
    erasure.erase_case(vault, third.imported[0], "mistake")
    assert blob_store.holds_blob(vault.db, str(other["blob"]))
    erasure.erase_case(vault, older, "retention")
    assert not blob_store.holds_blob(vault.db, str(entry["blob"]))
    assert check_vault(vault) == []


# --- a workflow, property-tested -----------------------------------------------------------

_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["note", "close", "erase", "reply-less", "erase-again"]),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=_STEPS)
def test_any_mix_of_casework_and_erasure_leaves_a_sound_vault(
    vault: Vault, steps: list[tuple[str, int]]
) -> None:
    """Whatever is done to four new cases in whatever order: an erased case has a tombstone and
    nothing else, erasing it again is always refused, every other case replays, `vault check`
    finds nothing and the access log verifies."""
    ids = incoming.import_envelopes(vault, [(str(n), seal_for(vault)) for n in range(4)]).imported
    erased: set[str] = set()
    act: dict[str, Callable[[str], object]] = {
        "note": lambda c: vault.add_note(c, "a note"),
        "close": lambda c: vault.close_case(c, "supported"),
        "erase": lambda c: erasure.erase_case(vault, c, "retention"),
        "reply-less": lambda c: case_view.show_case(vault, c),
        "erase-again": lambda c: erasure.erase_case(vault, c, "requested"),
    }
    for kind, n in steps:
        case_id = ids[n]
        try:
            act[kind](case_id)
        except CaseErasedError:
            assert case_id in erased
            continue
        except VaultError:
            assert kind == "close"  # closing a closed case is refused; nothing else may fail
            continue
        assert case_id not in erased
        if kind.startswith("erase"):
            erased.add(case_id)
    for case_id in ids:
        if case_id in erased:
            assert _rows_of(vault, case_id) == dict.fromkeys(CASE_TABLES, 0)
            assert erasure.tombstone(vault.db, case_id) is not None
            with pytest.raises(CaseErasedError):
                erasure.erase_case(vault, case_id, "retention")
        else:
            case_view.check_case(vault, case_id)
    assert check_vault(vault) == []
    out = vault.directory.parent / f"bundle-{vault.log.size()}"
    audit_export.write(vault, out)
    verify(out.read_bytes())
