"""The vault library without the CLI: import, cases, sealing at rest, faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import CANARY, PASSPHRASE, bytes_under, make_report, seal_for, snapshot
from vault import case_view, incoming, read_through, schema
from vault import db as dbmod
from vault.check import check_vault
from vault.envelope import seal_report
from vault.errors import (
    CaseNotFoundError,
    CaseWorkflowError,
    EnvelopeError,
    ForeignEnvelopeError,
    IntegrityError,
    NoVaultError,
    UnsafePermissionsError,
    UsageError,
    VaultExistsError,
    WrongPassphraseError,
)
from vault.keys import TeamKeyPair
from vault.passphrase import Passphrase
from vault.store import Vault


def test_import_show_and_work_a_case(vault: Vault) -> None:
    result = incoming.import_envelopes(vault, [("a", seal_for(vault))])
    assert len(result.imported) == 1
    assert not result.failures
    case_id = result.imported[0]
    view = case_view.show_case(vault, case_id[:5])
    assert CANARY in view.report.what_happened
    vault.add_note(case_id, "first call made")
    vault.assign(case_id, "amara")
    vault.set_status(case_id, "triage")
    vault.close_case(case_id, "referred-on")
    view = case_view.show_case(vault, case_id)
    assert (view.summary.status, view.summary.outcome) == ("closed", "referred-on")
    assert [n.text for n in view.notes] == ["first call made"]
    assert [h.action for h in view.history] == [
        "imported",
        "opened",
        "note",
        "assigned",
        "status",
        "closed",
        "opened",
    ]
    case_view.check_case(vault, case_id)


def test_nothing_in_the_vault_directory_is_plaintext(vault: Vault, vault_dir: Path) -> None:
    ids = incoming.import_envelopes(vault, [(str(i), seal_for(vault)) for i in range(5)]).imported
    case_view.show_case(vault, ids[0])
    vault.add_note(ids[0], f"NOTE {CANARY} spoke to GP surgery")
    case_view.show_case(vault, ids[0])
    # While the vault is still open, the WAL holds the recent pages: scan it too.
    assert (vault_dir / "vault.db-wal").exists()
    stored = bytes_under(vault_dir)
    for secret in (CANARY, "spoke to GP surgery", "someone@example.org", "Riverside Surgery"):
        assert secret.encode() not in stored
    assert PASSPHRASE.reveal() not in stored


def test_damaged_envelope_stores_nothing(vault: Vault, vault_dir: Path) -> None:
    envelope = seal_for(vault)
    before = case_view.count_cases(vault)
    for i in (0, 10, 25, 100, len(envelope) - 1):
        damaged = envelope[:i] + bytes([envelope[i] ^ 0x40]) + envelope[i + 1 :]
        result = incoming.import_envelopes(vault, [("x", damaged)])
        assert not result.imported
        assert isinstance(result.failures[0][1], EnvelopeError | ForeignEnvelopeError)
    truncated = incoming.import_envelopes(vault, [("t", envelope[:-1])])
    assert isinstance(truncated.failures[0][1], EnvelopeError)
    assert case_view.count_cases(vault) == before


def test_foreign_envelope_is_named_as_such(vault: Vault) -> None:
    other = TeamKeyPair.generate(1)
    foreign = seal_report(make_report(), 1, other.public_key)
    result = incoming.import_envelopes(vault, [("f", foreign)])
    assert isinstance(result.failures[0][1], ForeignEnvelopeError)
    unknown_epoch = seal_report(make_report(), 7, vault.team_public_key().public_key)
    result = incoming.import_envelopes(vault, [("e", unknown_epoch)])
    assert isinstance(result.failures[0][1], ForeignEnvelopeError)
    assert case_view.count_cases(vault) == 0


def test_duplicates_are_stored_once_even_in_one_batch(vault: Vault) -> None:
    envelope = seal_for(vault)
    result = incoming.import_envelopes(vault, [("a", envelope), ("b", envelope)])
    assert len(result.imported) == 1
    assert result.duplicates == 1
    again = incoming.import_envelopes(vault, [("c", envelope)])
    assert not again.imported
    assert again.duplicates == 1
    assert case_view.count_cases(vault) == 1


def test_list_is_newest_first_and_filters(vault: Vault) -> None:
    ids = incoming.import_envelopes(vault, [(str(i), seal_for(vault)) for i in range(4)]).imported
    assert [c.id for c in case_view.list_cases(vault)] == list(reversed(ids))
    vault.set_status(ids[1], "triage")
    assert [c.id for c in case_view.list_cases(vault, "triage")] == [ids[1]]
    assert len(case_view.list_cases(vault, limit=2)) == 2
    assert case_view.count_cases(vault, "new") == 3


def test_case_ids_are_forgiving(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    typed = f"{case_id[:4]}-{case_id[4:]}".lower()
    assert vault.resolve(typed) == case_id
    with pytest.raises(CaseNotFoundError):
        vault.resolve("ZZZZZZZZ" if case_id != "ZZZZZZZZ" else "00000000")
    with pytest.raises(UsageError):
        vault.resolve("not an id!")
    with pytest.raises(UsageError, match="too short"):  # exit 2, though a case starts so
        vault.resolve(case_id[:3])


def test_workflow_refusals_record_nothing(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    with pytest.raises(CaseWorkflowError):
        vault.set_status(case_id, "new")
    vault.close_case(case_id, "supported")
    with pytest.raises(CaseWorkflowError):
        vault.close_case(case_id, "supported")
    with pytest.raises(UsageError):
        vault.add_note(case_id, "   ")
    history = [h.action for h in case_view.show_case(vault, case_id).history]
    assert history == ["imported", "closed", "opened"]
    vault.set_status(case_id, "triage")  # reopening is allowed, and recorded
    assert case_view.list_cases(vault)[0].outcome is None


def test_events_cannot_be_edited_in_place(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    vault.add_note(case_id, "a first note")
    raw = vault.db
    with pytest.raises(dbmod.DatabaseError):
        raw.execute("UPDATE events SET kind = 'opened'")
    with pytest.raises(dbmod.DatabaseError):
        raw.execute("DELETE FROM events")
    with pytest.raises(dbmod.DatabaseError):
        raw.execute("UPDATE cases SET status = 'lost' WHERE id = ?", (case_id,))


def test_tampered_fold_is_caught(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    vault.db.execute("UPDATE cases SET status = 'referred' WHERE id = ?", (case_id,))
    with pytest.raises(Exception, match="does not match its history"):
        case_view.check_case(vault, case_id)


def test_an_import_is_its_access_log_entry(vault: Vault) -> None:
    """An import writes the case and one "imported" entry, signed by the checkpoint after it."""
    first, second = incoming.import_envelopes(
        vault, [("a", seal_for(vault)), ("b", seal_for(vault, make_report(what_happened="x" * 80)))]
    ).imported
    db = vault.db
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    entry = db.execute("SELECT import_entry FROM cases WHERE id = ?", (first,)).fetchone()[0]
    leaf = bytes(db.execute("SELECT leaf FROM log_leaves WHERE seq = ?", (entry,)).fetchone()[0])
    assert leaf.split(b" ")[3:5] == [b"imported", first.encode()]
    history = case_view.show_case(vault, first).history
    assert (history[0].action, history[0].actor) == ("imported", "amara")
    # A case pointed at another case's entry (or at none) is caught.
    other = db.execute("SELECT import_entry FROM cases WHERE id = ?", (second,)).fetchone()[0]
    db.execute("UPDATE cases SET import_entry = ? WHERE id = ?", (other, first))
    with pytest.raises(IntegrityError, match="import entry"):
        case_view.check_case(vault, first)
    db.execute("UPDATE cases SET import_entry = 9999 WHERE id = ?", (first,))
    with pytest.raises(IntegrityError, match="import entry"):
        case_view.show_case(vault, first)


def test_create_refuses_an_existing_vault(vault: Vault, vault_dir: Path) -> None:
    with pytest.raises(VaultExistsError):
        Vault.create(vault_dir, "someone", PASSPHRASE)


def test_unlock_errors(vault: Vault, vault_dir: Path, tmp_path: Path) -> None:
    vault.close()
    before = snapshot(vault_dir)
    with pytest.raises(WrongPassphraseError):
        Vault.unlock(vault_dir, Passphrase(b"wrong passphrase"))
    assert snapshot(vault_dir) == before
    with pytest.raises(NoVaultError):
        Vault.unlock(tmp_path / "nowhere", PASSPHRASE)
    os.chmod(vault_dir / "vault.db", 0o644)
    with pytest.raises(UnsafePermissionsError):
        Vault.unlock(vault_dir, PASSPHRASE)
    os.chmod(vault_dir / "vault.db", 0o600)
    with Vault.unlock(vault_dir, PASSPHRASE) as again:
        assert again.identity.name == "amara"


def test_secrets_never_print(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    view = case_view.show_case(vault, case_id)
    shown = " ".join(
        repr(x)
        for x in (vault, vault.identity, vault.access, view, view.report, vault.identity.signer)
    )
    assert CANARY not in shown
    assert vault.access.db_key.reveal().hex() not in shown
    assert vault.identity.sign_seed.reveal().hex() not in shown
    assert "hidden" in repr(vault.identity.box_sk)


CRASH_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from vault import incoming
    from vault.passphrase import Passphrase
    from vault.store import Vault
    vault = Vault.unlock(Path(sys.argv[1]), Passphrase(sys.argv[2].encode()))
    envelopes = [(p.name, p.read_bytes()) for p in sorted(Path(sys.argv[3]).iterdir())]
    def progress(stored, duplicates):
        print(stored, flush=True)
    incoming.import_envelopes(vault, envelopes, progress)
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_killed_bulk_import_loses_nothing_committed(
    vault: Vault, vault_dir: Path, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    key = vault.team_public_key()
    report = make_report()
    for i in range(3000):
        (outbox / f"{i:05}.env").write_bytes(seal_report(report, key.epoch, key.public_key))
    vault.close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CRASH_SCRIPT,
            str(vault_dir),
            PASSPHRASE.reveal().decode(),
            str(outbox),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    committed = 0
    deadline = time.monotonic() + 120
    while committed < 1000 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, "the import process ended early"
        assert line.strip() != "done", "the import finished before it could be killed"
        committed = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Vault.unlock(vault_dir, PASSPHRASE) as reopened:
        assert dbmod.integrity_problems(reopened.db) == []
        stored = case_view.count_cases(reopened)
        assert committed <= stored < 3000
        for case in case_view.list_cases(reopened, limit=5):
            case_view.check_case(reopened, case.id)
        # Importing everything again completes the job and stores nothing twice.
        envelopes = [(p.name, p.read_bytes()) for p in sorted(outbox.iterdir())]
        result = incoming.import_envelopes(reopened, envelopes)
        assert result.duplicates == stored
        assert case_view.count_cases(reopened) == 3000


def test_a_taken_case_id_moves_on_to_the_next_choice_and_nothing_is_half_stored(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    entries = vault.log.size()
    # b's first choice is held already; c's first is b's second: each moves on.
    drawn = iter([taken, "AAAA0002", "AAAA0002", "AAAA0003"])
    monkeypatch.setattr("vault.incoming.case_id_for", lambda *_: next(drawn))
    result = incoming.import_envelopes(vault, [("b", seal_for(vault)), ("c", seal_for(vault))])
    assert result.imported == ["AAAA0002", "AAAA0003"]
    assert vault.db.execute("SELECT count(*) FROM cases").fetchone()[0] == 3
    assert vault.log.size() == entries + 2
    for case_id in result.imported:
        case_view.check_case(vault, case_id)
    assert check_vault(vault) == []


@pytest.mark.slow
def test_reading_every_report_through_two_epochs(vault: Vault) -> None:
    """The read-through opens each stored report once, across read-ahead chunks and epochs,
    and still reads after a caseworker's removal re-encrypts the database."""
    from vault import membership

    reports = {}
    for n in range(150):  # more than two of the reader's 64-row chunks
        if n == 100:
            membership.rotate_team_key(vault)
        report = make_report(what_happened=f"Report {n}: " + "words " * (n % 40))
        (case_id,) = incoming.import_envelopes(vault, [(str(n), seal_for(vault, report))]).imported
        reports[case_id] = report
    assert {e for (e,) in vault.db.execute("SELECT DISTINCT epoch FROM cases")} == {1, 2}
    read = dict(read_through.iter_report_json(vault))
    assert read == {case_id: r.canonical_json() for case_id, r in reports.items()}
    assert dict(read_through.iter_reports(vault)) == reports

    membership.add_caseworker(vault, "bea", Passphrase(b"bea's own long passphrase"))
    membership.revoke_caseworker(vault, "bea")  # a new database key
    assert dict(read_through.iter_report_json(vault)) == read


def test_a_read_through_stopped_early_stops_its_reader(vault: Vault) -> None:
    # More rows than the queue holds (8 chunks of 64), so the reader is still waiting to hand
    # over the rest however far ahead it got (with 200 it could finish first on a busy machine)
    incoming.import_envelopes(vault, [(str(n), seal_for(vault)) for n in range(600)])
    reading = read_through.iter_report_json(vault)
    next(reading)
    assert any(t.name == "vault-read-ahead" for t in threading.enumerate())
    reading.close()
    assert not any(t.name == "vault-read-ahead" for t in threading.enumerate())
    assert len(incoming.import_envelopes(vault, [("more", seal_for(vault))]).imported) == 1


def test_a_read_through_names_a_damaged_report_and_needs_an_open_vault(vault: Vault) -> None:
    (case_id,) = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported
    for damaged in (b"", b"REDRESS", seal_for(vault)[:-1]):
        vault.db.execute("UPDATE cases SET envelope = ? WHERE id = ?", (damaged, case_id))
        with pytest.raises(EnvelopeError):
            list(read_through.iter_report_json(vault))
    vault.close()
    with pytest.raises(dbmod.DatabaseError):
        list(read_through.iter_report_json(vault))


def test_a_reader_blocked_on_a_full_queue_stops_with_its_caller(vault: Vault) -> None:
    incoming.import_envelopes(vault, [(str(n), seal_for(vault)) for n in range(20)])
    path, key = vault.directory / "vault.db", vault.access.db_key
    rows = dbmod.read_ahead(
        lambda: schema.connect(path, key), "SELECT id FROM cases", chunk=1, depth=1
    )
    next(rows)
    time.sleep(0.3)  # the reader has filled the queue and waits to hand over the next row
    rows.close()
    assert not any(t.name == "vault-read-ahead" for t in threading.enumerate())


def test_read_ahead_shares_the_transform_and_applies_it_once_to_each_chunk(vault: Vault) -> None:
    """The reading thread transforms a chunk when the caller has chunks waiting, else hands it
    over as read and the caller transforms it: each chunk once, in order, on either thread."""
    ids = [str(n) for n in range(12)]
    incoming.import_envelopes(vault, [(i, seal_for(vault)) for i in ids])
    path, key = vault.directory / "vault.db", vault.access.db_key
    where: dict[str, list[str]] = {}  # each row's id: the threads that transformed it

    def mark(rows: list[tuple[str]]) -> list[str]:
        for (case_id,) in rows:
            where.setdefault(case_id, []).append(threading.current_thread().name)
        return [f"seen {r[0]}" for r in rows]

    got: list[str] = []
    for chunk in dbmod.read_ahead(
        lambda: schema.connect(path, key),
        "SELECT id FROM cases ORDER BY id",
        chunk=1,
        transform=mark,
    ):
        got.extend(chunk)
        time.sleep(0.02)  # a slow caller: the chunks after the first wait, so the reader works
    stored = [r[0] for r in vault.db.execute("SELECT id FROM cases ORDER BY id")]
    assert got == [f"seen {i}" for i in stored]
    assert all(len(where[i]) == 1 for i in stored)  # each chunk transformed exactly once
    # Nothing was waiting when the first chunk was read: the caller transformed it.
    assert where[stored[0]] == [threading.current_thread().name]
    assert ["vault-read-ahead"] in where.values()


def test_read_ahead_raises_the_readers_error_in_the_callers_thread(vault: Vault) -> None:
    def refused() -> dbmod.Connection:
        raise NoVaultError("No vault here.")

    with pytest.raises(NoVaultError, match="No vault here"):
        list(dbmod.read_ahead(refused, "SELECT 1"))
    path, key = vault.directory / "vault.db", vault.access.db_key
    with pytest.raises(dbmod.DatabaseError):
        list(dbmod.read_ahead(lambda: schema.connect(path, key), "SELECT nothing FROM nowhere"))
    rows = dbmod.read_ahead(lambda: schema.connect(path, key), "SELECT id FROM cases", chunk=2)
    assert list(rows) == []
    assert not any(t.name == "vault-read-ahead" for t in threading.enumerate())
