"""Schema migrations: a vault made at an older schema opens at the newest with everything kept."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSPHRASE, make_report, seal_for
from tests.sealing import attachment_entry, codename_entropy, new_codename, reply_keypair
from vault import (
    blobs,
    case_view,
    erasure,
    incoming,
    patterns,
    professional_index,
    replies,
    schema,
    tombstones,
    triage,
)
from vault import db as dbmod
from vault import store as store_module
from vault.attachments import sealed_length
from vault.auditlog import AccessLog
from vault.cases import new_case_id
from vault.check import check_vault
from vault.events import Event, sign_event
from vault.keys import TeamKeyPair
from vault.store import Vault


def _legacy_import_case(
    self: Vault, db: dbmod.Connection, env_id: bytes, epoch: int, envelope: bytes, received: str
) -> str | None:
    """How the code of schemas 1 to 5 stored an import: the case and a signed "imported" event."""
    case_id = new_case_id()
    stored = db.execute(
        "INSERT INTO cases (id, envelope_id, epoch, envelope, received)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (envelope_id) DO NOTHING",
        (case_id, env_id, epoch, envelope, received),
    ).rowcount
    if stored != 1:
        return None
    data = {"envelope": env_id.hex(), "epoch": epoch}
    signed = sign_event(Event.new(case_id, "imported", self.identity, data), self.identity)
    event = signed.event
    db.execute(
        "INSERT INTO events (id, case_id, kind, actor, body, signature) VALUES (?, ?, ?, ?, ?, ?)",
        (event.id, case_id, event.kind, event.actor, signed.body, signed.signature),
    )
    self.log.add("imported", case_id, None, env_id.hex())
    return case_id


def _legacy_import_cases(
    self: Vault,
    db: dbmod.Connection,
    fresh: list[tuple[bytes, bytes, TeamKeyPair, Any]],
    received: str,
) -> list[str]:
    stored = (_legacy_import_case(self, db, e, t.epoch, env, received) for env, e, t, *_ in fresh)
    return [case_id for case_id in stored if case_id is not None]


def _as_of_schema(old: pytest.MonkeyPatch, version: int) -> None:
    """Make vaults as the code of schema ``version`` did: before 5 it kept no access log,
    before 6 each import was a signed event."""
    old.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:version])
    kept_then = {"vault.triage": 8, "vault.professional_index": 9}  # the schema that began it
    steps = [
        (n, s) for n, s in store_module.AFTER_UNLOCK if kept_then.get(s.__module__, 0) <= version
    ]
    old.setattr(store_module, "AFTER_UNLOCK", steps)
    if version < 13:
        old.setattr(incoming, "list_attachments", lambda db, case_id, attachments: None)
    if version < 10:
        old.setattr(tombstones, "erased_envelopes", lambda db, ids: set())
        old.setattr(tombstones, "is_erased", lambda db, case_id: False)
    if version < 9:
        old.setattr(professional_index, "store", lambda vault, db, rows: None)
    if version < 8:
        old.setattr(triage, "store", lambda db, rows: None)
    if version < 7:
        old.setattr(schema, "declare_event_kinds", lambda db, kinds: None)
    if version < 6:
        old.setattr(incoming, "_import_cases", _legacy_import_cases)
    if version < 5:
        old.setattr(AccessLog, "_append", lambda self, data: 0)
        old.setattr(AccessLog, "add", lambda self, *entry: 0)
        old.setattr(AccessLog, "finish", lambda self: None)
        old.setattr(AccessLog, "size", lambda self: 1)


def test_a_schema_1_vault_is_upgraded_in_place(
    vault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as old:
        _as_of_schema(old, 1)
        with Vault.create(vault_dir, "amara", PASSPHRASE) as v1:
            assert v1.db.execute("PRAGMA user_version").fetchone()[0] == 1
            case_id = incoming.import_envelopes(v1, [("a", seal_for(v1))]).imported[0]
            v1.add_note(case_id, "before the upgrade")
            tables = {r[0] for r in v1.db.execute("SELECT name FROM sqlite_master")}
            assert "replies" not in tables
    with Vault.unlock(vault_dir, PASSPHRASE) as v2:
        assert v2.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        view = case_view.show_case(v2, case_id)
        assert [n.text for n in view.notes] == ["before the upgrade"]
        assert view.replies == ()
        assert replies.queued_replies(v2) == []
        case_view.check_case(v2, case_id)
        assert dbmod.integrity_problems(v2.db) == []
        # The log starts at the upgrade, naming the caseworkers there were; then the case's
        # triage is read from its report (one entry), then the professionals it names (one
        # entry), and the case is opened.
        actions = [leaf.split(b" ")[3] for leaf in v2.log.leaves()]
        assert actions == [
            b"log-started",
            b"caseworker-added",
            b"triage-filled",
            b"patterns-read",
            b"opened",
        ]


def test_schema_2_constraints(vault: Vault) -> None:
    db = vault.db
    for sql, params in (
        ("INSERT INTO blobs (id, length) VALUES (?, ?)", ("AB" * 32, 10)),
        ("INSERT INTO blobs (id, length) VALUES (?, ?)", ("ab" * 32, 0)),
        ("INSERT INTO blobs (id, length) VALUES (?, ?)", ("ab" * 31, 10)),
    ):
        with pytest.raises(dbmod.ConstraintError):
            db.execute(sql, params)
    with pytest.raises(dbmod.ConstraintError):
        db.execute(
            "INSERT INTO replies (id, case_id, mailbox, body) VALUES (?, ?, ?, ?)",
            ("0" * 32, "AAAAAAAA", "0" * 32, b"short"),
        )
    # Chunks of a blob that was never completed cannot be committed.
    with pytest.raises(dbmod.DatabaseError), dbmod.transaction(db):
        db.execute("INSERT INTO blob_chunks (blob_id, n, data) VALUES (?, 0, x'00')", ("ab" * 32,))
    assert db.execute("SELECT count(*) FROM blob_chunks").fetchone()[0] == 0


def test_a_schema_2_vault_gains_quarantine_and_pending_blobs(
    vault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as old:
        _as_of_schema(old, 2)
        with Vault.create(vault_dir, "amara", PASSPHRASE) as v2:
            assert v2.db.execute("PRAGMA user_version").fetchone()[0] == 2
            case_id = incoming.import_envelopes(v2, [("a", seal_for(v2))]).imported[0]
            tables = {r[0] for r in v2.db.execute("SELECT name FROM sqlite_master")}
            assert not {"quarantine", "pending_blobs"} & tables
    with Vault.unlock(vault_dir, PASSPHRASE) as v3:
        assert v3.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        assert incoming.quarantine_count(v3) == 0
        assert blobs.pending_blobs(v3) == []
        case_view.check_case(v3, case_id)
        assert dbmod.integrity_problems(v3.db) == []


def test_schema_3_constraints(vault: Vault) -> None:
    db = vault.db
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    good = (b"\x01" * 32, b"sealed", "2025-01-31", "damaged")
    db.execute(
        "INSERT INTO quarantine (envelope_id, envelope, day, reason) VALUES (?, ?, ?, ?)", good
    )
    for bad in (
        good,  # the same envelope twice
        (b"\x02" * 31, b"sealed", "2025-01-31", "damaged"),
        (b"\x03" * 32, b"", "2025-01-31", "damaged"),
        (b"\x04" * 32, b"sealed", "2025-01-31T10:00", "damaged"),
        (b"\x05" * 32, b"sealed", "2025-01-31", "unknown"),
    ):
        with pytest.raises(dbmod.ConstraintError):
            db.execute(
                "INSERT INTO quarantine (envelope_id, envelope, day, reason) VALUES (?, ?, ?, ?)",
                bad,
            )
    db.execute(
        "INSERT INTO pending_blobs (id, case_id, length) VALUES (?, ?, ?)", ("ab" * 32, case_id, 9)
    )
    for bad_pending in (
        ("ab" * 32, case_id, 9),
        ("AB" * 32, case_id, 9),
        ("cd" * 32, case_id, 0),
        ("ef" * 32, "ZZZZZZZZ", 9),  # no such case
    ):
        with pytest.raises(dbmod.ConstraintError):
            db.execute(
                "INSERT INTO pending_blobs (id, case_id, length) VALUES (?, ?, ?)", bad_pending
            )


def test_listing_reads_covering_indexes_only(vault: Vault) -> None:
    """Listing never touches the table pages that hold envelopes (schema 4)."""
    for sql in (
        "SELECT id, status, received, assignee, outcome FROM cases ORDER BY received DESC",
        "SELECT id, status, received, assignee, outcome FROM cases WHERE status = 'new'",
    ):
        plan = " ".join(str(r[3]) for r in vault.db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "COVERING INDEX" in plan, plan


@pytest.mark.slow
def test_a_schema_5_vault_keeps_its_signed_imports_and_records_new_ones_in_the_log(
    vault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as old:
        _as_of_schema(old, 5)
        with Vault.create(vault_dir, "amara", PASSPHRASE) as v5:
            before = incoming.import_envelopes(v5, [("a", seal_for(v5))]).imported[0]
            assert v5.db.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    with Vault.unlock(vault_dir, PASSPHRASE) as v6:
        assert v6.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        after = incoming.import_envelopes(v6, [("b", seal_for(v6))]).imported[0]
        # The new import is one access-log entry, with no event row of its own.
        assert v6.db.execute("SELECT count(*) FROM events").fetchone()[0] == 1
        for case_id in (before, after):
            history = case_view.show_case(v6, case_id).history
            assert [h.action for h in history] == ["imported", "opened"]
            assert history[0].actor == "amara"
            case_view.check_case(v6, case_id)
        assert check_vault(v6) == []


def test_a_schema_6_vault_keeps_every_event_and_reply_when_kinds_move_to_their_table(
    vault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 7 rebuilds ``events`` (its kind constraint becomes the ``event_kinds``
    table): every event, signature and queued reply survives, and the append-only rule too."""
    pk, _sk = reply_keypair(codename_entropy(new_codename()))
    report = make_report(reply_key=base64.b64encode(pk).decode())
    with monkeypatch.context() as old:
        _as_of_schema(old, 6)
        with Vault.create(vault_dir, "amara", PASSPHRASE) as v6:
            case_id = incoming.import_envelopes(v6, [("a", seal_for(v6, report))]).imported[0]
            v6.add_note(case_id, "before the upgrade")
            v6.assign(case_id, "amara")
            replies.reply(v6, case_id, "we read your report")
            v6.close_case(case_id, "supported")
            before = v6.db.execute("SELECT * FROM events ORDER BY seq").fetchall()
            assert v6.db.execute("PRAGMA user_version").fetchone()[0] == 6
    with Vault.unlock(vault_dir, PASSPHRASE) as v7:
        assert v7.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        assert v7.db.execute("SELECT * FROM events ORDER BY seq").fetchall() == before
        assert v7.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert len(replies.queued_replies(v7)) == 1
        view = case_view.show_case(v7, case_id)
        assert [n.text for n in view.notes] == ["before the upgrade"]
        assert [h.action for h in view.history][-2:] == ["closed", "opened"]
        case_view.check_case(v7, case_id)
        assert check_vault(v7) == []
        with pytest.raises(dbmod.DatabaseError, match="append-only"), dbmod.transaction(v7.db):
            v7.db.execute("DELETE FROM events")
        sql = "SELECT sql FROM sqlite_master WHERE name = 'events'"
        assert "event_kinds" in v7.db.execute(sql).fetchone()[0]


def test_a_schema_7_vault_gets_its_triage_at_unlock_read_once_and_logged(
    vault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 8 adds ``case_triage``; the cases already there get theirs at the next unlock,
    from their reports (one ``triage-filled`` entry naming the cases read); a damaged report
    is kept as unreadable, named damaged, and not opened again at the next unlock."""
    reports = [
        make_report(sector="housing", harms=["outing", "violence"], wants=["support"]),
        make_report(sector="policing", harms=["abuse-of-power"], consent={"research": True}),
        make_report(sector="healthcare"),
    ]
    with monkeypatch.context() as old:
        _as_of_schema(old, 7)
        with Vault.create(vault_dir, "amara", PASSPHRASE) as v7:
            sealed = [(str(n), seal_for(v7, r)) for n, r in enumerate(reports)]
            ids = incoming.import_envelopes(v7, sealed).imported
            tables = {r[0] for r in v7.db.execute("SELECT name FROM sqlite_master")}
            assert "case_triage" not in tables
            with v7.transaction() as db:  # the third report's envelope is damaged on disk
                envelope = bytes(
                    db.execute("SELECT envelope FROM cases WHERE id = ?", (ids[2],)).fetchone()[0]
                )
                broken = envelope[:-1] + bytes([envelope[-1] ^ 1])
                db.execute("UPDATE cases SET envelope = ? WHERE id = ?", (broken, ids[2]))
            size_before = v7.log.size()
    with Vault.unlock(vault_dir, PASSPHRASE) as v8:
        assert v8.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        listed = {c.id: c for c in case_view.list_cases(v8)}
        assert (listed[ids[0]].sector, listed[ids[0]].harms, listed[ids[0]].wants) == (
            "housing",
            ("outing", "violence"),
            ("support",),
        )
        assert listed[ids[1]].sector == "policing"
        assert listed[ids[2]].sector is None
        assert listed[ids[2]].harms == ()
        research = {r.id: r.research for r in triage.rows(v8)}
        assert research == {ids[0]: False, ids[1]: True, ids[2]: False}
        leaves = list(v8.log.leaves())[size_before:]
        assert [leaf.split(b" ")[3] for leaf in leaves] == [b"triage-filled", b"patterns-read"]
        assert leaves[0].split(b" ")[5] == b"3"
        (text,) = v8.db.execute("SELECT cases FROM case_reads ORDER BY entry").fetchone()
        assert text == "redress cases read v1\n" + "".join(
            f"{c} {'damaged' if c == ids[2] else 'read'}\n" for c in sorted(ids)
        )
        assert leaves[0].split(b" ")[6].decode() == hashlib.sha256(text.encode()).hexdigest()
        size_after = v8.log.size()
    with Vault.unlock(vault_dir, PASSPHRASE) as again:  # nothing left to fill: nothing read
        assert again.log.size() == size_after
        assert triage.missing(again) == 0


def test_schema_8_constraints(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    for sql in (
        "UPDATE case_triage SET sector = 'banking' WHERE case_id = ?",
        "UPDATE case_triage SET harms = 'Violence' WHERE case_id = ?",
        "UPDATE case_triage SET sector = NULL WHERE case_id = ?",  # unreadable has no harms
        "UPDATE case_triage SET research = 2 WHERE case_id = ?",
    ):
        with pytest.raises(dbmod.ConstraintError), dbmod.transaction(vault.db):
            vault.db.execute(sql, (case_id,))


def test_a_schema_8_vault_gets_its_index_of_professionals_at_unlock_read_once_and_logged(
    vault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 9 adds the index of professionals; the cases already there are indexed (and the
    secret made, sealed to the team key) at the next unlock, from their reports (one
    ``patterns-read`` entry naming the cases read); a damaged report is indexed as unreadable,
    named damaged, and not opened again."""
    reports = [
        make_report(professional_identifier="GMC 7654321"),
        make_report(professional_identifier="gmc no. 7654 321"),
        make_report(professional_identifier="GMC 7654321"),
        make_report(professional_identifier="Dr Jane Doe"),
    ]
    with monkeypatch.context() as old:
        _as_of_schema(old, 8)
        with Vault.create(vault_dir, "amara", PASSPHRASE) as v8:
            sealed = [(str(n), seal_for(v8, r)) for n, r in enumerate(reports)]
            ids = incoming.import_envelopes(v8, sealed).imported
            tables = {r[0] for r in v8.db.execute("SELECT name FROM sqlite_master")}
            assert "professionals_named" not in tables
            facts = {r[0] for r in v8.db.execute("SELECT name FROM vault_facts")}
            assert facts == {"origin"}
            with v8.transaction() as db:  # the third report's envelope is damaged on disk
                envelope = bytes(
                    db.execute("SELECT envelope FROM cases WHERE id = ?", (ids[2],)).fetchone()[0]
                )
                broken = envelope[:-1] + bytes([envelope[-1] ^ 1])
                db.execute("UPDATE cases SET envelope = ? WHERE id = ?", (broken, ids[2]))
            size_before = v8.log.size()
    with Vault.unlock(vault_dir, PASSPHRASE) as v9:
        assert v9.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        leaves = list(v9.log.leaves())[size_before:]
        assert [leaf.split(b" ")[3] for leaf in leaves] == [b"patterns-read"]
        assert leaves[0].split(b" ")[5] == b"4"
        (text,) = v9.db.execute("SELECT cases FROM case_reads ORDER BY entry DESC").fetchone()
        assert text == "redress cases read v1\n" + "".join(
            f"{c} {'damaged' if c == ids[2] else 'read'}\n" for c in sorted(ids)
        )
        assert leaves[0].split(b" ")[6].decode() == hashlib.sha256(text.encode()).hexdigest()
        assert professional_index.missing(v9) == 0
        assert professional_index.unreadable(v9.db) == [ids[2]]
        secret = professional_index.secret(v9)
        found = patterns.find_patterns(v9)
        assert (found.groups[0].identifier, found.groups[0].cases) == (
            "GMC 7654321",
            tuple(sorted(ids[:2])),
        )
        assert all(ids[2] not in g.cases for g in found.groups)
        assert found.damaged == (ids[2],)
        assert check_vault(v9) == [
            f"case {ids[2][:4]}-{ids[2][4:]}: the report is damaged or has been changed"
        ]
        size_after = v9.log.size()
    with Vault.unlock(vault_dir, PASSPHRASE) as again:  # nothing left to index: nothing read
        assert again.log.size() == size_after
        assert professional_index.secret(again) == secret  # made once


def test_schema_9_constraints(vault: Vault) -> None:
    report = make_report(professional_identifier="GMC 7654321")
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault, report))]).imported[0]
    other = incoming.import_envelopes(vault, [("b", seal_for(vault))]).imported[0]
    for sql in (
        "UPDATE professionals_named SET strength = 'maybe' WHERE case_id = ?",
        "UPDATE professionals_named SET kind = 'dentist' WHERE case_id = ?",
        "UPDATE professionals_named SET key = x'00' WHERE case_id = ?",
        "UPDATE professionals_indexed SET readable = 2 WHERE case_id = ?",
    ):
        with pytest.raises(dbmod.ConstraintError), dbmod.transaction(vault.db):
            vault.db.execute(sql, (case_id,))
    with pytest.raises(dbmod.ConstraintError), dbmod.transaction(vault.db):
        vault.db.execute(
            "INSERT INTO professionals_named (key, case_id, kind, strength)"
            " VALUES (randomblob(32), 'NOTACASE', 'gmc', 'same')"
        )
    assert other != case_id


def test_a_schema_9_vault_gains_tombstones_and_erases_a_case_from_before(
    vault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Erasure's migration (vault/db.py ``_erasure_and_retention``) keeps every case's events
    append-only; a case stored before it can be erased after it, and only then lose them."""
    with monkeypatch.context() as old:
        _as_of_schema(old, 9)
        with Vault.create(vault_dir, "amara", PASSPHRASE) as v9:
            ids = incoming.import_envelopes(v9, [("a", seal_for(v9)), ("b", seal_for(v9))]).imported
            v9.add_note(ids[0], "before the upgrade")
            v9.add_note(ids[1], "kept")
    with Vault.unlock(vault_dir, PASSPHRASE) as v10:
        assert v10.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        with pytest.raises(dbmod.DatabaseError, match="append-only"), v10.transaction() as db:
            db.execute("DELETE FROM events WHERE case_id = ?", (ids[0],))
        erasure.erase_case(v10, ids[0], "mistake")
        left = v10.db.execute("SELECT count(*) FROM events WHERE case_id = ?", (ids[0],))
        assert left.fetchone()[0] == 0
        assert [n.text for n in case_view.show_case(v10, ids[1]).notes] == ["kept"]
        with pytest.raises(dbmod.DatabaseError, match="append-only"), v10.transaction() as db:
            db.execute("DELETE FROM events WHERE case_id = ?", (ids[1],))
        assert check_vault(v10) == []


def test_a_schema_12_vault_keeps_its_pending_attachments_and_lists_its_cases_when_erasing(
    vault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 13 keys pending attachments by (case, blob) and lists the blobs each case
    names. A pending row survives; two cases may then wait for one blob; the cases stored
    before it are listed by the first erase that needs it (one `attachments-checked` read),
    and the blob another case names is kept."""
    entry, _blob = attachment_entry(b"the letter " * 400)
    report = make_report(attachments=[entry])
    with monkeypatch.context() as old:
        _as_of_schema(old, 12)
        with Vault.create(vault_dir, "amara", PASSPHRASE) as v12:
            first, second = incoming.import_envelopes(
                v12, [("a", seal_for(v12, report)), ("b", seal_for(v12, report))]
            ).imported
            v12.db.execute(
                "INSERT INTO pending_blobs (id, case_id, length) VALUES (?, ?, ?)",
                (entry["blob"], first, sealed_length(len(b"the letter " * 400))),
            )
            assert v12.db.execute("PRAGMA user_version").fetchone()[0] == 12
    with Vault.unlock(vault_dir, PASSPHRASE) as v13:
        assert v13.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        (pending,) = blobs.pending_blobs(v13)
        assert (pending.id, pending.case_id) == (entry["blob"], first)
        attachment = report.attachments[0]
        assert blobs.want_blob(v13.db, second, attachment), "a second case may wait for it"
        assert not blobs.want_blob(v13.db, second, attachment)
        assert v13.db.execute("SELECT count(*) FROM case_blobs_listed").fetchone()[0] == 0
        erasure.erase_case(v13, first, "mistake")
        listed = v13.db.execute("SELECT case_id, blob_id FROM case_blobs").fetchall()
        assert [tuple(r) for r in listed] == [(second, entry["blob"])]
        (cases,) = v13.db.execute("SELECT cases FROM case_reads").fetchone()
        assert cases == f"redress cases read v1\n{second} read\n"
        assert [p.case_id for p in blobs.pending_blobs(v13)] == [second]
        assert check_vault(v13) == []
