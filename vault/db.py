"""The one module that owns the SQLCipher driver: opening, pragmas and migrations.

The database is opened with a random 256-bit raw key (no PBKDF2 at open: the
passphrase KDF has already done that work). Page size and cache size were
chosen by measurement (``bench/page_size.py``, ``docs/benchmarks.md``).
"""

from __future__ import annotations

import errno
import os
import queue
import re
import struct
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlcipher3 import dbapi2 as sqlcipher

from vault._crypto import SecretBytes, random_bytes
from vault.audit.terms import OUTCOMES as OUTCOMES
from vault.audit.terms import STATUSES as STATUSES
from vault.errors import (
    DatabaseDamagedError,
    DiskError,
    DiskFullError,
    IntegrityError,
    VaultError,
    WrongKeyError,
)
from vault.files import replace_private_file, touch_private_file

# Chosen by bench/page_size.py: see docs/benchmarks.md. Changing it makes
# existing vaults unreadable, so it is part of the on-disk format.
CIPHER_PAGE_SIZE = 16384
CACHE_KIB = 65536

if TYPE_CHECKING:  # sqlcipher3 ships no types; its API is the standard library's sqlite3
    import sqlite3

    Connection = sqlite3.Connection
    DatabaseError = sqlite3.DatabaseError
    ConstraintError = sqlite3.IntegrityError
else:
    Connection = sqlcipher.Connection
    DatabaseError = sqlcipher.DatabaseError
    ConstraintError = sqlcipher.IntegrityError

# The kinds of case event migrations 1 and 7 knew, frozen as migrations are. The kinds a vault
# accepts now are declared in vault/audit/case_actions.py (see declare_event_kinds).
_KINDS_AT_1 = ("imported", "opened", "note", "assigned", "status", "closed", "reply", "attachment")
# Why a pulled envelope was kept in quarantine: its seal or header is damaged, it is sealed to a
# team key this vault does not hold, or it opened but what is inside is not a valid report.
QUARANTINE_REASONS = ("damaged", "foreign", "invalid")

# SQLite's primary result codes that say something a caseworker must hear about.
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_NOTADB = 26
# Less free space than this, when a write has failed, is a full disk (SQLite writes whole
# 16 KiB pages, and the file system keeps some space back).
NEARLY_FULL = 1 << 20


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _migration_1(db: Connection) -> None:
    _run_script(
        db,
        f"""
        CREATE TABLE team_keys (
            epoch      INTEGER PRIMARY KEY CHECK (epoch > 0),
            public_key BLOB NOT NULL UNIQUE CHECK (length(public_key) = 32),
            created    TEXT NOT NULL
        ) STRICT;

        CREATE TABLE caseworkers (
            key_id  TEXT PRIMARY KEY CHECK (length(key_id) = 16),
            name    TEXT NOT NULL UNIQUE,
            sign_pk BLOB NOT NULL UNIQUE CHECK (length(sign_pk) = 32),
            box_pk  BLOB NOT NULL CHECK (length(box_pk) = 32),
            added   TEXT NOT NULL,
            revoked TEXT
        ) STRICT;

        -- One row per report. The envelope stays sealed to the team key; status,
        -- assignee and outcome are the fold of the case's signed events, kept
        -- here (in the same transaction as each event) so listing never decrypts.
        CREATE TABLE cases (
            id          TEXT PRIMARY KEY CHECK (length(id) = 8),
            envelope_id BLOB NOT NULL UNIQUE CHECK (length(envelope_id) = 32),
            epoch       INTEGER NOT NULL REFERENCES team_keys (epoch),
            envelope    BLOB NOT NULL,
            received    TEXT NOT NULL
                        CHECK (received GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            status      TEXT NOT NULL DEFAULT 'new' CHECK (status IN {_in(STATUSES)}),
            assignee    TEXT,
            outcome     TEXT CHECK (outcome IS NULL OR outcome IN {_in(OUTCOMES)}),
            CHECK (status = 'closed' OR outcome IS NULL)
        ) STRICT;
        CREATE INDEX cases_by_received ON cases (received);
        CREATE INDEX cases_by_status ON cases (status, received);

        -- Append-only, signed by the acting caseworker. `body` is the exact
        -- canonical JSON that was signed; the other columns index it.
        CREATE TABLE events (
            seq       INTEGER PRIMARY KEY,
            id        TEXT NOT NULL UNIQUE CHECK (length(id) = 32),
            case_id   TEXT NOT NULL REFERENCES cases (id),
            kind      TEXT NOT NULL CHECK (kind IN {_in(_KINDS_AT_1)}),
            actor     TEXT NOT NULL REFERENCES caseworkers (key_id),
            body      BLOB NOT NULL,
            signature BLOB NOT NULL CHECK (length(signature) = 64)
        ) STRICT;
        CREATE INDEX events_by_case ON events (case_id, seq);
        CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        """,
    )


def _migration_2(db: Connection) -> None:
    """Attachments from the intake (kept sealed) and the outbox of replies to reporters."""
    _run_script(
        db,
        f"""
        -- A sealed attachment exactly as the reporter's browser uploaded it: the
        -- secretstream header and chunks, never plaintext. Its id is the hex SHA-256
        -- of the whole blob. A row here means every chunk is stored and was checked
        -- against the id; the chunks are staged first (the key is deferred).
        CREATE TABLE blobs (
            id     TEXT PRIMARY KEY CHECK ({_hex("id", 64)}),
            length INTEGER NOT NULL CHECK (length > 0)
        ) STRICT;

        -- The blob cut at its segment boundaries: n = 0 is the 24-byte header, then one
        -- row per sealed chunk (65,536 + 17 bytes, the last may be shorter).
        CREATE TABLE blob_chunks (
            blob_id TEXT NOT NULL REFERENCES blobs (id) DEFERRABLE INITIALLY DEFERRED,
            n       INTEGER NOT NULL CHECK (n >= 0),
            data    BLOB NOT NULL CHECK (length(data) BETWEEN 1 AND 65553),
            PRIMARY KEY (blob_id, n)
        ) STRICT;

        -- Replies waiting for (or past) delivery to the intake. `id` is the id of the
        -- signed `reply` event; `body` is sealed to the reporter's codename key and
        -- the event holds a team-sealed copy, so the text is never here in clear.
        CREATE TABLE replies (
            id        TEXT PRIMARY KEY REFERENCES events (id) CHECK ({_hex("id", 32)}),
            case_id   TEXT NOT NULL REFERENCES cases (id),
            mailbox   TEXT NOT NULL CHECK ({_hex("mailbox", 32)}),
            body      BLOB NOT NULL CHECK (length(body) >= 2096),
            delivered INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1))
        ) STRICT;
        CREATE INDEX replies_waiting ON replies (delivered) WHERE delivered = 0;
        CREATE TRIGGER replies_only_get_delivered BEFORE UPDATE ON replies
            WHEN NEW.id IS NOT OLD.id OR NEW.case_id IS NOT OLD.case_id
              OR NEW.mailbox IS NOT OLD.mailbox OR NEW.body IS NOT OLD.body
              OR NEW.delivered < OLD.delivered
            BEGIN SELECT RAISE(ABORT, 'a queued reply can only be marked delivered'); END;
        """,
    )


def _migration_3(db: Connection) -> None:
    """Quarantine for pulled envelopes the vault cannot open, and attachments still to fetch."""
    _run_script(
        db,
        f"""
        -- An envelope from an intake that this vault could not open, kept exactly as it
        -- arrived (still sealed) so that acknowledging it loses nothing. `day` is the day
        -- it was pulled, never a time.
        CREATE TABLE quarantine (
            envelope_id BLOB PRIMARY KEY CHECK (length(envelope_id) = 32),
            envelope    BLOB NOT NULL CHECK (length(envelope) > 0),
            day         TEXT NOT NULL
                        CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            reason      TEXT NOT NULL CHECK (reason IN {_in(QUARANTINE_REASONS)})
        ) STRICT;

        -- Attachments a stored report names that the vault does not hold yet (the intake
        -- lacked them, or sent them wrong): every pull asks for them again. `length` is the
        -- exact sealed length the report implies. The row goes once the blob is stored and
        -- the intake has been told it may delete its copy.
        CREATE TABLE pending_blobs (
            id      TEXT PRIMARY KEY CHECK ({_hex("id", 64)}),
            case_id TEXT NOT NULL REFERENCES cases (id),
            length  INTEGER NOT NULL CHECK (length > 0)
        ) STRICT;
        """,
    )


def _migration_4(db: Connection) -> None:
    """Listing reads covering indexes only, never the table pages that hold envelopes."""
    _run_script(
        db,
        """
        DROP INDEX cases_by_received;
        DROP INDEX cases_by_status;
        CREATE INDEX cases_listing ON cases (received, status, assignee, outcome, id);
        CREATE INDEX cases_by_status ON cases (status, received, assignee, outcome, id);
        """,
    )


def _migration_5(db: Connection) -> None:
    """The access log: RFC 6962 leaves, the tree's right edge, signed checkpoints, witnesses."""
    _run_script(
        db,
        """
        -- Facts about this vault that never change: its log's origin line.
        CREATE TABLE vault_facts (
            name  TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT;

        -- One row per action (vault/audit/leaves.py); seq counts from 0 and has no gaps.
        CREATE TABLE log_leaves (
            seq  INTEGER PRIMARY KEY CHECK (seq >= 0),
            leaf BLOB NOT NULL CHECK (length(leaf) BETWEEN 40 AND 200),
            hash BLOB NOT NULL CHECK (length(hash) = 32)
        ) STRICT;
        CREATE TRIGGER log_leaves_in_order BEFORE INSERT ON log_leaves
            WHEN NEW.seq != coalesce((SELECT max(seq) FROM log_leaves), -1) + 1
            BEGIN SELECT RAISE(ABORT, 'log entries are appended in order'); END;
        CREATE TRIGGER log_leaves_append_only_update BEFORE UPDATE ON log_leaves
            BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
        CREATE TRIGGER log_leaves_append_only_delete BEFORE DELETE ON log_leaves
            BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;

        -- The roots of the perfect subtrees on the tree's right edge (vault/audit/merkle.py).
        CREATE TABLE log_frontier (
            level INTEGER PRIMARY KEY CHECK (level BETWEEN 0 AND 63),
            hash  BLOB NOT NULL CHECK (length(hash) = 32)
        ) STRICT;

        -- A C2SP signed checkpoint at the end of every transaction that added leaves.
        CREATE TABLE checkpoints (
            size INTEGER PRIMARY KEY CHECK (size > 0),
            note TEXT NOT NULL
        ) STRICT;

        -- Witness cosignature lines (c2sp.org/tlog-cosignature) on our checkpoints.
        CREATE TABLE cosignatures (
            size INTEGER NOT NULL REFERENCES checkpoints (size),
            line TEXT NOT NULL,
            PRIMARY KEY (size, line)
        ) STRICT;

        -- Witnesses (intakes) and what each last cosigned; auditors' public keys.
        CREATE TABLE witnesses (
            vkey  TEXT PRIMARY KEY,
            url   TEXT NOT NULL,
            size  INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
            added TEXT NOT NULL
        ) STRICT;
        CREATE TABLE auditors (
            name  TEXT PRIMARY KEY,
            vkey  TEXT NOT NULL UNIQUE,
            added TEXT NOT NULL
        ) STRICT;
        """,
    )
    db.execute("INSERT INTO vault_facts (name, value) VALUES ('origin', ?)", (new_origin(),))


def _migration_6(db: Connection) -> None:
    """A case imported from now on is recorded by its access-log entry, not a second row.

    ``import_entry`` is the ``seq`` of the "imported" entry in ``log_leaves``: the entry
    holds who imported the case and when, commits to its envelope id, and is signed by the
    checkpoint that ends the import's transaction. Cases imported before this migration
    keep their signed "imported" event and have no ``import_entry``.

    ``cases_by_status`` goes: a listing filtered by status scans ``cases_listing`` (a few
    milliseconds for 10,000 cases), and each of its random-ordered entries cost an import
    about a fifth of its time.
    """
    _run_script(
        db,
        """
        ALTER TABLE cases ADD COLUMN import_entry INTEGER
            CHECK (import_entry IS NULL OR import_entry >= 0);
        DROP INDEX cases_by_status;
        """,
    )


def _migration_7(db: Connection) -> None:
    """The kinds of case event are declared in one table (vault/audit/case_actions.py), not here.

    ``events.kind`` loses its fixed CHECK and references ``event_kinds``, whose rows
    :func:`declare_event_kinds` keeps equal to the declared kinds each time a vault opens: a
    new kind of case action needs no migration. The table is rebuilt (SQLite cannot drop a
    CHECK), with the foreign-key checks this needs run before the transaction commits.
    """
    _run_script(
        db,
        """
        CREATE TABLE event_kinds (
            kind TEXT PRIMARY KEY CHECK (kind GLOB '[a-z]*' AND kind NOT GLOB '*[^a-z-]*')
        ) STRICT;
        """,
    )
    db.executemany("INSERT INTO event_kinds (kind) VALUES (?)", [(k,) for k in _KINDS_AT_1])
    _run_script(
        db,
        """
        CREATE TABLE events_7 (
            seq       INTEGER PRIMARY KEY,
            id        TEXT NOT NULL UNIQUE CHECK (length(id) = 32),
            case_id   TEXT NOT NULL REFERENCES cases (id),
            kind      TEXT NOT NULL REFERENCES event_kinds (kind),
            actor     TEXT NOT NULL REFERENCES caseworkers (key_id),
            body      BLOB NOT NULL,
            signature BLOB NOT NULL CHECK (length(signature) = 64)
        ) STRICT;
        INSERT INTO events_7 (seq, id, case_id, kind, actor, body, signature)
            SELECT seq, id, case_id, kind, actor, body, signature FROM events ORDER BY seq;
        DROP TABLE events;
        ALTER TABLE events_7 RENAME TO events;
        CREATE INDEX events_by_case ON events (case_id, seq);
        CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        """,
    )


_migration_7.foreign_keys_off = True  # type: ignore[attr-defined]


# The report's sectors when migration 8 was written, frozen as migrations are (the contract's
# list; vault/report.py declares the ones a report may name now).
_SECTORS_AT_8 = ("policing", "healthcare", "housing", "education", "support-services", "other")


def _migration_8(db: Connection) -> None:
    """Triage fields beside each case, so listing and filtering never open a report.

    One ``case_triage`` row per case, written in the transaction that imports it, from its
    validated report only (vault/triage.py): the sector, the harms and what the reporter wants
    (each a list of the report's words, space-separated, in the report's declared order) and
    the two consent choices. Never free text. A case stored before this schema gets its row at
    the next unlock, when the team keys are at hand (``triage.fill_missing``). ``sector`` is
    NULL, with no harms or wants, for a case whose report could not be opened then.

    ``case_reads`` keeps, for each access-log entry of a read across cases (a search, the
    triage fill), the exact list of cases it read that the entry commits to by hash
    (vault/read_through.py ``record_reads``).
    """
    _run_script(
        db,
        f"""
        CREATE TABLE case_triage (
            case_id  TEXT PRIMARY KEY REFERENCES cases (id),
            sector   TEXT CHECK (sector IS NULL OR sector IN {_in(_SECTORS_AT_8)}),
            harms    TEXT NOT NULL CHECK (harms NOT GLOB '*[^a-z -]*'),
            wants    TEXT NOT NULL CHECK (wants NOT GLOB '*[^a-z -]*'),
            alert    INTEGER NOT NULL CHECK (alert IN (0, 1)),
            research INTEGER NOT NULL CHECK (research IN (0, 1)),
            CHECK (sector IS NOT NULL OR (harms = '' AND wants = '' AND alert + research = 0))
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE case_reads (
            entry INTEGER PRIMARY KEY REFERENCES log_leaves (seq),
            cases TEXT NOT NULL
                  CHECK (substr(cases, 1, 22) = 'redress cases read v1' || char(10))
        ) STRICT;
        """,
    )


# The kinds of professional a report may name when migration 9 was written (vault/professionals.py).
_NAMED_KINDS_AT_9 = ("gmc", "nmc", "hcpc", "swe", "police", "name", "organisation-role")


def _migration_9(db: Connection) -> None:
    """An index of who each report names, so that the cases naming one professional are found
    without opening any report (``vault patterns``, "also named in" on ``vault cases show``).

    ``professionals_indexed`` has one row per case whose report has been read for it
    (``readable`` 0 when it could not be opened then); ``professionals_named`` one row per way
    that report names a professional (vault/professional_index.py): its kind, ``same`` or
    ``possible``, and ``key``, an HMAC-SHA-256 of the kind and the normalised identifier under
    a random secret made once, when the first case is indexed, and kept in ``vault_facts``
    sealed to the team key of that time (``professional-index-key``: the epoch, a space, the
    sealed box in hex), so the database key alone cannot test a guessed identifier. The
    database holds which cases share a professional, never the identifier itself. Both are
    written in the transaction that imports the case; a case stored before this schema gets
    its rows at the next unlock (``professional_index.fill_missing``).
    """
    _run_script(
        db,
        f"""
        CREATE TABLE professionals_indexed (
            case_id  TEXT PRIMARY KEY REFERENCES cases (id),
            readable INTEGER NOT NULL CHECK (readable IN (0, 1))
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE professionals_named (
            key      BLOB NOT NULL CHECK (length(key) = 32),
            case_id  TEXT NOT NULL REFERENCES professionals_indexed (case_id),
            kind     TEXT NOT NULL CHECK (kind IN {_in(_NAMED_KINDS_AT_9)}),
            strength TEXT NOT NULL CHECK (strength IN ('same', 'possible')),
            PRIMARY KEY (key, case_id)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX professionals_named_by_case ON professionals_named (case_id);
        CREATE INDEX professionals_unreadable ON professionals_indexed (case_id)
            WHERE readable = 0;
        """,
    )


def _erasure_and_retention(db: Connection) -> None:
    """Erased cases leave a tombstone, and the retention policy is a signed setting.

    ``erased_cases`` keeps, for each erased case, what the tombstone says and nothing of its
    content: its id, the envelope id (so the same envelope pulled or imported again is
    recognised and not stored afresh), the day it was received, closed (if it was) and
    erased, its status and outcome then, the reason given, and ``entry``, the ``seq`` of its
    ``erased`` entry in the access log (vault/erasure.py).

    Events stay append-only for every case that is not erased: the trigger that refuses to
    delete an event now lets through only the events of a case with a tombstone, written in
    the same transaction just before them (docs/retention.md says why).

    ``retention_policy`` holds at most one row: the policy's canonical JSON, signed by the
    caseworker who set it (vault/retention.py).
    """
    _run_script(
        db,
        f"""
        CREATE TABLE erased_cases (
            id          TEXT PRIMARY KEY CHECK (length(id) = 8),
            envelope_id BLOB NOT NULL UNIQUE CHECK (length(envelope_id) = 32),
            received    TEXT NOT NULL CHECK ({_date("received")}),
            closed      TEXT CHECK (closed IS NULL OR {_date("closed")}),
            erased      TEXT NOT NULL CHECK ({_date("erased")}),
            status      TEXT NOT NULL CHECK (status IN {_in(STATUSES)}),
            outcome     TEXT CHECK (outcome IS NULL OR outcome IN {_in(OUTCOMES)}),
            reason      TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 64
                                             AND reason NOT GLOB '*[^a-z0-9-]*'),
            entry       INTEGER NOT NULL UNIQUE REFERENCES log_leaves (seq)
        ) STRICT;
        CREATE TABLE retention_policy (
            one       INTEGER PRIMARY KEY CHECK (one = 1),
            body      BLOB NOT NULL,
            actor     TEXT NOT NULL REFERENCES caseworkers (key_id),
            signature BLOB NOT NULL CHECK (length(signature) = 64)
        ) STRICT;
        """,
    )
    _run_script(
        db,
        """
        CREATE TRIGGER erased_cases_stay_update BEFORE UPDATE ON erased_cases
            BEGIN SELECT RAISE(ABORT, 'a tombstone is never changed'); END;

        DROP TRIGGER events_append_only_delete;
        CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
            WHEN NOT EXISTS (SELECT 1 FROM erased_cases WHERE id = OLD.case_id)
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        """,
    )


def _alerts_table(db: Connection) -> None:
    """Safety alerts (vault/alerts.py, docs/alerts.md): an index, never content.

    One row per alert: its case, its state (``draft``, ``approved``, ``exported``), the id of
    the signed ``alert-drafted`` event that holds its current draft sealed to the team key,
    the key ids of who drafted that draft and who approved it, how many of its flags were
    open, and whether they were overridden at approval.
    """
    _run_script(
        db,
        f"""
        CREATE TABLE alerts (
            id          TEXT PRIMARY KEY
                        CHECK (length(id) = 8 AND id NOT GLOB '*[^0-9A-HJKMNP-TV-Z]*'),
            case_id     TEXT NOT NULL REFERENCES cases (id),
            state       TEXT NOT NULL CHECK (state IN ('draft', 'approved', 'exported')),
            draft_event TEXT NOT NULL CHECK ({_hex("draft_event", 32)}),
            drafted_by  TEXT NOT NULL CHECK ({_hex("drafted_by", 16)}),
            approved_by TEXT CHECK (approved_by IS NULL OR {_hex("approved_by", 16)}),
            open_flags  INTEGER NOT NULL CHECK (open_flags >= 0),
            overridden  INTEGER NOT NULL DEFAULT 0 CHECK (overridden IN (0, 1)),
            CHECK ((state = 'draft') = (approved_by IS NULL))
        ) STRICT;
        CREATE INDEX alerts_by_case ON alerts (case_id);
        """,
    )


def _date(column: str) -> str:
    return f"{column} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"


def _reporter_messages(db: Connection) -> None:
    """Messages from reporters (vault/reporter_messages.py): answers and withdrawal requests.

    ``codename_keys`` notes, for each case, the codename signing key its report carries
    (NULL when it carries none, or could not be read), so a message finds its case without
    opening every report; ``reporter_messages`` keeps each message exactly as it arrived
    (signed, sealed to the team key) beside the ``reporter-message`` event that took it in;
    ``farewells`` holds the last reply to a reporter whose case was erased, sealed to their
    codename, apart from any case, until a pull delivers it (then it is deleted).
    """
    _run_script(
        db,
        f"""
        CREATE TABLE codename_keys (
            case_id     TEXT PRIMARY KEY REFERENCES cases (id),
            signing_key BLOB CHECK (signing_key IS NULL OR length(signing_key) = 32)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX codename_keys_by_key ON codename_keys (signing_key)
            WHERE signing_key IS NOT NULL;

        CREATE TABLE reporter_messages (
            id       TEXT NOT NULL CHECK ({_hex("id", 64)}),
            case_id  TEXT NOT NULL REFERENCES cases (id),
            event_id TEXT NOT NULL UNIQUE REFERENCES events (id),
            kind     TEXT NOT NULL CHECK (kind IN ('answer', 'withdrawal')),
            message  BLOB NOT NULL CHECK (length(message) >= 2212),
            PRIMARY KEY (id, case_id)
        ) STRICT;
        CREATE INDEX reporter_messages_by_case ON reporter_messages (case_id);

        CREATE TABLE farewells (
            mailbox   TEXT NOT NULL CHECK ({_hex("mailbox", 32)}),
            body      BLOB NOT NULL CHECK (length(body) >= 2096),
            delivered INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1))
        ) STRICT;
        """,
    )


def _sync_state(db: Connection) -> None:
    """What a vault that syncs through the relay keeps (vault/sync.py, docs/sync.md).

    ``sync_outbox``: the items this laptop made, numbered in one chain per addressee ("team"
    or a member's key id); ``wire`` is emptied once the relay holds the item, the number and
    hash stay so the next item can follow it. ``sync_received``: how far this laptop holds
    each other laptop's chains. ``sync_known``: the cases, events and attachments the others
    have already (sent or received), so each goes out once. ``sync_joiners``: caseworkers
    added from a join request whose keys and history have not gone out yet. ``sync_origins``:
    whose laptop keeps each access log (so whose signature its items carry); a chain
    ``closed`` in ``sync_received`` is a removed caseworker's: after it, only its witnessed
    log entries are taken (``n`` and ``head`` still follow it, docs/sync.md section 4).
    ``sync_new_epochs``: team key epochs started here (by a rotation, or by revoking the
    caseworker named), until the relay and the other laptops have been told.
    ``sync_blob_parts``: pieces of an attachment arriving through the relay, until whole.
    ``sync_waiting_events``: case events from the team for a case this laptop has not got
    yet (a new member hears from the others before its history arrives), until it comes.
    ``sync_spool``: items fetched from the relay (and acknowledged) but not yet taken in.
    ``sync_delivered``: replies another laptop wrote and has delivered to the intake.
    """
    _run_script(
        db,
        f"""
        CREATE TABLE sync_outbox (
            recipient TEXT NOT NULL,
            n         INTEGER NOT NULL CHECK (n > 0),
            hash      TEXT NOT NULL CHECK ({_hex("hash", 64)}),
            wire      BLOB NOT NULL,
            sent      INTEGER NOT NULL DEFAULT 0 CHECK (sent IN (0, 1)),
            PRIMARY KEY (recipient, n)
        ) STRICT;

        CREATE TABLE sync_received (
            origin    TEXT NOT NULL,
            recipient TEXT NOT NULL,
            n         INTEGER NOT NULL CHECK (n >= 0),
            head      TEXT NOT NULL CHECK ({_hex("head", 64)}),
            covered   INTEGER NOT NULL DEFAULT 0 CHECK (covered >= 0),
            closed    INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1)),
            PRIMARY KEY (origin, recipient)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE sync_known (
            kind    TEXT NOT NULL CHECK (
                kind IN ('case', 'event', 'blob', 'erased', 'delivered', 'retention')
            ),
            id      TEXT NOT NULL,
            case_id TEXT NOT NULL,
            PRIMARY KEY (kind, id)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX sync_known_by_case ON sync_known (case_id);

        CREATE TABLE sync_joiners (
            key_id  TEXT PRIMARY KEY CHECK (length(key_id) = 16),
            request BLOB NOT NULL,
            done    INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1))
        ) STRICT;

        CREATE TABLE sync_new_epochs (
            epoch   INTEGER PRIMARY KEY REFERENCES team_keys (epoch),
            revoked TEXT REFERENCES caseworkers (key_id),
            done    INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1))
        ) STRICT;

        CREATE TABLE sync_origins (
            origin TEXT PRIMARY KEY,
            key_id TEXT NOT NULL REFERENCES caseworkers (key_id)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE sync_blob_parts (
            blob_id TEXT NOT NULL CHECK ({_hex("blob_id", 64)}),
            part    INTEGER NOT NULL CHECK (part >= 0),
            parts   INTEGER NOT NULL CHECK (parts > 0),
            case_id TEXT NOT NULL,
            data    BLOB NOT NULL,
            PRIMARY KEY (blob_id, part)
        ) STRICT;

        CREATE TABLE sync_waiting_events (
            id        TEXT PRIMARY KEY,
            case_id   TEXT NOT NULL,
            body      BLOB NOT NULL,
            signature BLOB NOT NULL,
            message   BLOB
        ) STRICT;
        CREATE INDEX sync_waiting_events_by_case ON sync_waiting_events (case_id);

        CREATE TABLE sync_spool (
            seq  INTEGER PRIMARY KEY,
            mine INTEGER NOT NULL CHECK (mine IN (0, 1)),
            wire BLOB NOT NULL
        ) STRICT;
        CREATE INDEX sync_spool_in_order ON sync_spool (mine DESC, seq);

        CREATE TABLE sync_delivered (
            id      TEXT PRIMARY KEY,
            case_id TEXT NOT NULL
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX sync_delivered_by_case ON sync_delivered (case_id);
        """,
    )


def _team_logs(db: Connection) -> None:
    """Colleagues' access logs, carried by sync (vault/team_logs.py, docs/sync.md section 4a).

    ``team_log_leaves``, ``team_log_checkpoints`` (each signed checkpoint, and the witness
    cosignature lines it has gathered), ``team_log_reads`` and ``team_log_people``: every
    other laptop's log as this laptop received it, checked on receipt. ``team_log_heads``:
    the newest witnessed checkpoint of each log that any colleague told this laptop about.
    ``team_log_sent``: how far this laptop has sent its own log (``size``, and ``cosigned``,
    the largest checkpoint whose cosignatures went out) and forwarded each colleague's head.
    ``team_chain``: the team's membership chain as the relay served it (n = 0 is its start,
    the team key file), kept for the audit bundle.
    """
    _run_script(
        db,
        """
        CREATE TABLE team_log_leaves (
            origin TEXT NOT NULL,
            seq    INTEGER NOT NULL CHECK (seq >= 0),
            leaf   BLOB NOT NULL,
            hash   BLOB NOT NULL CHECK (length(hash) = 32),
            PRIMARY KEY (origin, seq)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE team_log_checkpoints (
            origin   TEXT NOT NULL,
            size     INTEGER NOT NULL CHECK (size > 0),
            note     TEXT NOT NULL,
            cosigned TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (origin, size)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE team_log_reads (
            origin TEXT NOT NULL,
            entry  INTEGER NOT NULL CHECK (entry > 0),
            cases  TEXT NOT NULL,
            PRIMARY KEY (origin, entry)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE team_log_people (
            origin TEXT NOT NULL,
            line   TEXT NOT NULL,
            UNIQUE (origin, line)
        ) STRICT;

        CREATE TABLE team_log_heads (
            origin TEXT PRIMARY KEY,
            size   INTEGER NOT NULL CHECK (size > 0),
            note   TEXT NOT NULL
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE team_log_sent (
            origin   TEXT PRIMARY KEY,
            size     INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
            cosigned INTEGER NOT NULL DEFAULT 0 CHECK (cosigned >= 0)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE team_chain (
            n         INTEGER PRIMARY KEY CHECK (n >= 0),
            body      BLOB NOT NULL,
            signature BLOB NOT NULL
        ) STRICT;
        """,
    )


def declare_event_kinds(db: Connection, kinds: Sequence[str]) -> None:
    """Make the ``event_kinds`` table hold every declared kind (vault/audit/case_actions.py).

    Kinds are only ever added, so a vault holding a kind this code does not declare was
    written by a newer Redress: it is refused, as a newer schema is, rather than opened with
    cases this code cannot replay. Reading the table costs a few microseconds; writing happens
    once per new kind.
    """
    have = {str(k) for (k,) in db.execute("SELECT kind FROM event_kinds")}
    if have - set(kinds):  # a newer Redress declared a kind of action this one cannot replay
        raise VaultError(
            "This vault was made by a newer version of Redress.",
            hint="update Redress on this laptop",
        )
    missing = [k for k in kinds if k not in have]
    if missing:
        with transaction(db):
            db.executemany("INSERT INTO event_kinds (kind) VALUES (?)", [(k,) for k in missing])


def new_origin() -> str:
    """A log origin line unique to this vault (a schema-less URL, as C2SP recommends)."""
    return f"vault.redress/{random_bytes(16).hex()}"


def _hex(column: str, length: int) -> str:
    return f"length({column}) = {length} AND {column} NOT GLOB '*[^0-9a-f]*'"


def _run_script(db: Connection, script: str) -> None:
    """Run statements one by one (executescript would COMMIT our transaction)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlcipher.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError("incomplete SQL statement in a migration")


def _attachments_by_case(db: Connection) -> None:
    """Which blobs each case's report names, and the attachments still to fetch kept per case.

    Two reports may name one blob id (a browser that sent the same report twice; or a page,
    or an intake, that lies). So an attachment still to fetch is a (case, blob) pair, each
    with the length its own report implies, and the blobs every case names are listed, so
    that erasing one case never deletes a blob another case still names.
    """
    _run_script(
        db,
        f"""
        CREATE TABLE pending_case_blobs (
            id      TEXT NOT NULL CHECK ({_hex("id", 64)}),
            case_id TEXT NOT NULL REFERENCES cases (id),
            length  INTEGER NOT NULL CHECK (length > 0),
            PRIMARY KEY (case_id, id)
        ) STRICT;

        -- Attachment n of a case's report: its blob id and the exact sealed length its size
        -- implies. Written when the case is stored; for a case stored before this list was
        -- kept, when an erasure first needs it (vault/erasure.py).
        CREATE TABLE case_blobs (
            case_id TEXT NOT NULL REFERENCES cases (id),
            n       INTEGER NOT NULL CHECK (n >= 1),
            blob_id TEXT NOT NULL CHECK ({_hex("blob_id", 64)}),
            length  INTEGER NOT NULL CHECK (length > 0),
            -- 1: the vault holds a blob under this id that is not this report's (another
            -- length, or its key does not open it): the claim pins nothing (vault/blobs.py)
            wrong   INTEGER NOT NULL DEFAULT 0 CHECK (wrong IN (0, 1)),
            PRIMARY KEY (case_id, n)
        ) STRICT;
        CREATE INDEX case_blobs_by_blob ON case_blobs (blob_id);

        -- The cases whose attachments case_blobs lists (all of them, none if it has none).
        CREATE TABLE case_blobs_listed (
            case_id TEXT PRIMARY KEY REFERENCES cases (id)
        ) STRICT;
        """,
    )
    _run_script(
        db,
        """
        INSERT INTO pending_case_blobs (id, case_id, length)
            SELECT id, case_id, length FROM pending_blobs ORDER BY rowid;
        DROP TABLE pending_blobs;
        ALTER TABLE pending_case_blobs RENAME TO pending_blobs;
        CREATE INDEX pending_blobs_by_blob ON pending_blobs (id);
        """,
    )


# The migration registry: index i upgrades user_version i to i + 1.
def _waiting_events_name_their_report(db: Connection) -> None:
    """``sync_waiting_events.report``: which report the laptop that sent a waiting event
    meant by its case id (vault/incoming.py ``report_tag``), so that it is never stored into
    another report given the same id here (docs/sync.md section 4, "Case ids")."""
    db.execute("ALTER TABLE sync_waiting_events ADD COLUMN report TEXT")


def _events_resealed_when_epochs_settle(db: Connection) -> None:
    """``events_resealed``: case events this laptop sealed again, when it settled a team key
    epoch another laptop had started first (vault/epoch_settling.py): each event's id, its
    case, the epoch it was sealed to before, and the SHA-256 of the sealed bytes it held then
    (what its access-log entry commits to). An event stays append-only but for one update:
    a row listing it, written just before in the same transaction with ``rewriting`` 1, lets
    that one update replace its body and signature (never its id, case, kind, author or
    place); the update itself sets ``rewriting`` to 0, and nothing sets it back."""
    _run_script(
        db,
        """
        CREATE TABLE events_resealed (
            id            TEXT NOT NULL,
            case_id       TEXT NOT NULL,
            epoch         INTEGER NOT NULL CHECK (epoch > 0),
            sealed_before TEXT NOT NULL CHECK (length(sealed_before) = 64
                                               AND sealed_before NOT GLOB '*[^0-9a-f]*'),
            rewriting     INTEGER NOT NULL DEFAULT 1 CHECK (rewriting IN (0, 1)),
            PRIMARY KEY (id, epoch)
        ) STRICT;
        CREATE INDEX events_resealed_by_case ON events_resealed (case_id);
        CREATE TRIGGER events_resealed_once BEFORE UPDATE ON events_resealed
            WHEN NOT (NEW.rewriting = 0 AND NEW.id IS OLD.id AND NEW.case_id IS OLD.case_id
                      AND NEW.epoch IS OLD.epoch AND NEW.sealed_before IS OLD.sealed_before)
            BEGIN SELECT RAISE(ABORT, 'events_resealed rows are append-only'); END;
        DROP TRIGGER events_append_only_update;
        CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
            WHEN NOT (NEW.seq IS OLD.seq AND NEW.id IS OLD.id AND NEW.case_id IS OLD.case_id
                      AND NEW.kind IS OLD.kind AND NEW.actor IS OLD.actor
                      AND EXISTS (SELECT 1 FROM events_resealed
                                  WHERE id = OLD.id AND rewriting = 1))
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_resealed_done AFTER UPDATE ON events
            BEGIN UPDATE events_resealed SET rewriting = 0
                  WHERE id = NEW.id AND rewriting = 1; END;
        """,
    )


def _spooled_items_can_be_set_aside(db: Connection) -> None:
    """``sync_spool.refused``: 1 for an item the relay sent that failed its checks at an
    earlier sync (and was named then, exit 4). It waits, set aside, without stopping later
    syncs, until a checked item takes its place in its chain (docs/sync.md section 5)."""
    db.execute("ALTER TABLE sync_spool ADD COLUMN refused INTEGER NOT NULL DEFAULT 0")


MIGRATIONS: list[Callable[[Connection], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
    _migration_7,
    _migration_8,
    _migration_9,
    _erasure_and_retention,
    _alerts_table,
    _reporter_messages,
    _attachments_by_case,
    _sync_state,
    _team_logs,
    _waiting_events_name_their_report,
    _events_resealed_when_epochs_settle,
    _spooled_items_can_be_set_aside,
]
SCHEMA_VERSION = len(MIGRATIONS)


# --- what the driver's errors mean --------------------------------------------------------


def disk_is_full(place: Path) -> bool:
    """Whether the file system holding ``place`` has (next to) no space left for this account."""
    try:
        st = os.statvfs(place)
    except OSError:
        return False
    free = st.f_bfree if os.geteuid() == 0 else st.f_bavail
    return free * st.f_frsize < NEARLY_FULL


def _primary_code(error: BaseException) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def vault_error(error: BaseException, place: Path | None = None) -> VaultError | None:
    """The :class:`VaultError` a driver (or file system) error means, or None if it is a bug.

    * ``SQLITE_FULL``, "database or disk is full", or ``ENOSPC``: :class:`DiskFullError`;
    * ``SQLITE_CORRUPT``, or ``SQLITE_NOTADB`` from a database that opened with its key (a
      page failing SQLCipher's authentication): :class:`DatabaseDamagedError`;
    * ``SQLITE_IOERR``: a full disk if the file system holding ``place`` (the vault folder)
      has no space left (SQLite reports a failed write to its ``-shm`` file, or a short
      write, as an I/O error), else :class:`DiskError`.

    This is the one place that knows the driver's codes; :func:`transaction`,
    :func:`connect` and :func:`explained` use it, and the CLI as a last resort.
    """
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError()
    if not isinstance(error, DatabaseError) or isinstance(error, ConstraintError):
        return None
    code = _primary_code(error)
    if code == SQLITE_FULL or "database or disk is full" in str(error):
        return DiskFullError()
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return DatabaseDamagedError()
    if code == SQLITE_IOERR:
        return DiskFullError() if place is not None and disk_is_full(place) else DiskError()
    return None


def _place(db: Connection) -> Path | None:
    """The folder holding ``db``'s main file, to judge whether its disk is full."""
    try:
        for _seq, name, file in db.execute("PRAGMA database_list"):
            if name == "main" and file:
                return Path(file).parent
    except DatabaseError:
        pass
    return None


@contextmanager
def explained(place: Path | None = None) -> Iterator[None]:
    """Driver errors raised inside become the VaultError each means (:func:`vault_error`)."""
    try:
        yield
    except DatabaseError as e:
        error = vault_error(e, place)
        if error is None:
            raise
        raise error from None


# --- opening --------------------------------------------------------------------------------


def connect(path: Path, key: SecretBytes, *, create: bool = False) -> Connection:
    """Open (or create) the vault database with its raw key, tuned and migrated.

    An existing vault database that opens with its key but holds no schema at all has been
    emptied (SQLite takes an empty or truncated-to-nothing file for a new database): that is
    damage, refused before anything is written to it.
    """
    if create:
        touch_private_file(path)  # born 0600; SQLite gives -wal and -shm the same mode
    elif not path.is_file():
        raise VaultError(f"The vault database is missing from {path.parent}.")
    db = connect_with_migrations(path, key, MIGRATIONS, existing=not create)
    remember_salt(db, path)
    return db


# --- the database's salt, kept beside it ------------------------------------------------------
# SQLCipher derives each page's HMAC key from the key and the 16-byte salt at the start of
# the file. Damage to the salt alone makes every page fail, as a database under another
# key does; with a copy of the salt (``vault.db.salt``, public as the salt itself is) the
# two are told apart: the pages check out under the key and the copied salt.

SALT_BYTES = 16


def _salt_copy(path: Path) -> Path:
    return path.with_name(path.name + ".salt")


def _file_salt(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as f:
            salt = f.read(SALT_BYTES)
    except OSError:
        return None
    return salt if len(salt) == SALT_BYTES else None


def remember_salt(db: Connection, path: Path) -> None:
    """After the database opened with its key: keep a copy of its salt (if it changed)."""
    try:
        salt = bytes.fromhex(str(db.execute("PRAGMA cipher_salt").fetchone()[0]))
    except (DatabaseError, ValueError, TypeError):
        return
    if len(salt) != SALT_BYTES:
        return
    copy = _salt_copy(path)
    with suppress(OSError):
        if copy.read_bytes() == salt:
            return
    with suppress(OSError, VaultError):  # a copy not written is only a clue fewer
        replace_private_file(copy, salt)


def salt_damaged(path: Path, key: SecretBytes) -> bool:
    """Whether the database's salt differs from the copy kept beside it, and its pages
    check out under ``key`` with the copy's salt: the salt alone was damaged."""
    try:
        copy = _salt_copy(path).read_bytes()
    except OSError:
        return False
    if len(copy) != SALT_BYTES or copy == _file_salt(path):
        return False
    db: Connection = sqlcipher.connect(str(path), isolation_level=None)
    try:
        db.execute("PRAGMA cipher_log_level = NONE")
        db.execute(f"PRAGMA key = \"x'{key.reveal().hex()}{copy.hex()}'\"")
        db.execute(f"PRAGMA cipher_page_size = {CIPHER_PAGE_SIZE}")
        failing = len(db.execute("PRAGMA cipher_integrity_check").fetchall())
    except DatabaseError:
        return False
    finally:
        db.close()
    pages = path.stat().st_size // CIPHER_PAGE_SIZE
    return pages > 0 and failing < pages


def connect_with_migrations(
    path: Path,
    key: SecretBytes,
    migrations: Sequence[Callable[[Connection], None]],
    *,
    existing: bool = False,
) -> Connection:
    """Open an existing SQLCipher file with its raw key, the standard pragmas and migrations.

    The vault's :func:`connect` uses this with the vault's registry; the intake inbox
    (``vault/intake/inbox.py``) uses it with its own. A file that does not open with ``key``
    raises :class:`WrongKeyError` (the caller, who knows where the key came from, may call
    that damage); a full disk or a disk error raises what :func:`vault_error` says. With
    ``existing``, a database with no schema is refused as emptied.
    """
    try:
        db = _first_access(path, key, exclusive=False)
    except DiskFullError:
        # SQLite shares a WAL database's index through a "-shm" file beside it, which it
        # cannot make or grow on a full disk. Holding the database alone, SQLite keeps that
        # index in memory instead (sqlite.org/wal.html, "Use of WAL Without Shared-Memory"),
        # so what only reads (vault check, cases list) still works until space is freed;
        # other commands wait for this one meanwhile.
        db = _first_access(path, key, exclusive=True)
    try:
        with explained(path.parent):
            if existing and db.execute("PRAGMA user_version").fetchone()[0] == 0:
                raise DatabaseDamagedError(
                    "The vault's database is empty: it has been truncated or replaced."
                )
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA secure_delete = ON")
            db.execute("PRAGMA temp_store = MEMORY")  # no unencrypted temp files
            db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            migrate(db, migrations)
    except BaseException:
        db.close()
        raise
    return db


def _first_access(path: Path, key: SecretBytes, *, exclusive: bool) -> Connection:
    """A connection keyed and read once (so a wrong key shows here), or the error it means."""
    db: Connection = sqlcipher.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        _apply_key(db, key)
        if exclusive:
            db.execute("PRAGMA locking_mode = EXCLUSIVE")
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except DatabaseError as e:
            if _primary_code(e) in (SQLITE_BUSY, SQLITE_LOCKED):  # held alone by another
                raise VaultError(
                    "Another vault command is using the vault; try again when it has finished.",
                    hint="on a full disk one command at a time can open the vault;"
                    " free some space to lift that",
                ) from None
            if _primary_code(e) not in (SQLITE_IOERR, SQLITE_FULL):
                raise WrongKeyError(
                    "The vault database does not open with this key.",
                    hint="the database may be damaged, or belong to another vault",
                ) from None
            raise vault_error(e, path.parent) or DiskError() from None
    except BaseException:
        db.close()
        raise
    return db


def pages_failing(path: Path, key: SecretBytes) -> tuple[int, int]:
    """How many of the database file's pages fail SQLCipher's authentication under ``key``,
    and how many pages it has (whole or cut short): SQLCipher checks each page alone, so a
    file some of whose pages authenticate is that database, damaged."""
    db: Connection = sqlcipher.connect(str(path), isolation_level=None)
    try:
        _apply_key(db, key)
        failing = len(db.execute("PRAGMA cipher_integrity_check").fetchall())
    except DatabaseError:
        failing = -1
    finally:
        db.close()
    size = path.stat().st_size
    pages = -(-size // CIPHER_PAGE_SIZE)
    return (pages if failing < 0 else min(failing, pages)), pages


def _apply_key(db: Connection, key: SecretBytes) -> None:
    db.execute("PRAGMA cipher_log_level = NONE")  # a wrong key is our error to report, not a log
    db.execute(f"PRAGMA key = \"x'{key.reveal().hex()}'\"")
    db.execute(f"PRAGMA cipher_page_size = {CIPHER_PAGE_SIZE}")


def migrate(
    db: Connection, migrations: Sequence[Callable[[Connection], None]] = MIGRATIONS
) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise VaultError(
            "This vault was made by a newer version of Redress.",
            hint="update Redress on this laptop",
        )
    for step in range(version, len(migrations)):
        migration = migrations[step]
        # A migration that rebuilds a table others reference runs with foreign keys off (as
        # SQLite's documented procedure says), and checks them itself before committing.
        rebuilds = getattr(migration, "foreign_keys_off", False)
        if rebuilds:
            db.execute("PRAGMA foreign_keys = OFF")
        try:
            with transaction(db):
                migration(db)
                if rebuilds and db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise VaultError("The vault could not be upgraded: its data does not fit.")
                db.execute(f"PRAGMA user_version = {step + 1}")
        finally:
            if rebuilds:
                db.execute("PRAGMA foreign_keys = ON")


def is_disk_full(error: BaseException) -> bool:
    """Whether an error from SQLite or the file system (or one already explained by
    :func:`vault_error`) means the disk is full."""
    if isinstance(error, DiskFullError):
        return True
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(vault_error(error), DiskFullError)


@contextmanager
def snapshot(db: Connection) -> Iterator[Connection]:
    """Reads inside see one state of the database (a WAL read transaction), whatever other
    connections commit meanwhile. Nothing may be written inside."""
    db.execute("BEGIN DEFERRED")
    try:
        yield db
    finally:
        if db.in_transaction:
            with suppress(DatabaseError):
                db.execute("ROLLBACK")  # nothing was written: this only ends the read


@contextmanager
def transaction(db: Connection) -> Iterator[Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error (a failed COMMIT included).

    A full disk, a disk error or a damaged page, met anywhere inside, is raised as the
    :class:`VaultError` it means (:func:`vault_error`), after the rollback: nothing of the
    transaction is kept.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")  # can fail: deferred foreign keys are checked here
        except BaseException:
            if db.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                # the first error is the one to report; SQLite undoes the rest at next open
                with suppress(DatabaseError):
                    db.execute("ROLLBACK")
            raise
    except DatabaseError as e:
        error = vault_error(e, _place(db))
        if error is None:
            raise
        raise error from None


@contextmanager
def savepoint(db: Connection, name: str) -> Iterator[Connection]:
    """A savepoint inside the current transaction: on any error, undo only what it did."""
    db.execute(f"SAVEPOINT {name}")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute(f"ROLLBACK TO {name}")
            db.execute(f"RELEASE {name}")
        raise
    db.execute(f"RELEASE {name}")


def integrity_problems(db: Connection) -> list[str]:
    """SQLite and SQLCipher integrity checks; an empty list means sound.

    SQLCipher's page check reads the database file itself, not the WAL. A checkpoint that
    ran out of disk space (:func:`vault_error`) leaves the file ending in a part of a page
    whose committed content is still in the WAL: SQLite reads that page from the WAL, and
    the next checkpoint writes it whole. That is a write that failed, not damage, and is not
    reported; any other page that fails, or a part page the WAL does not hold, is.
    """
    problems = [  # one line each: SQLite's own text may span several
        " ".join(str(r[0]).replace("*** in database main ***", "").split())
        for r in db.execute("PRAGMA integrity_check")
        if r[0] != "ok"
    ]
    failed = [str(r[0]) for r in db.execute("PRAGMA cipher_integrity_check")]
    place = _place(db)
    in_wal: set[int] | None = None
    for text in failed:
        partial = _PARTIAL_PAGE.search(text)
        if partial is not None and place is not None:
            if in_wal is None:
                in_wal = committed_wal_pages(place / _main_file(db))
            if int(partial.group(1)) in in_wal:
                continue
        problems.append(_cipher_problem(text))
    return problems


_PARTIAL_PAGE = re.compile(r"page (\d+) has an invalid size")
_PAGE = re.compile(r"page (\d+)")


def _cipher_problem(text: str) -> str:
    """SQLCipher's words for a page that fails, as one of ours."""
    page = _PAGE.search(text)
    if page is None:
        return f"the file fails its cipher check ({' '.join(text.split())})"
    if _PARTIAL_PAGE.search(text):
        return f"page {page.group(1)} is cut short"
    return f"page {page.group(1)} fails its cipher check"


def _main_file(db: Connection) -> str:
    for _seq, name, file in db.execute("PRAGMA database_list"):
        if name == "main":
            return Path(file).name
    raise ValueError("no main database")


# The WAL's format (sqlite.org/fileformat2.html, "The Write-Ahead Log"): a 32-byte header,
# then frames of a 24-byte header and one page. SQLCipher writes each page encrypted; the
# frame headers and checksums are SQLite's own, over the bytes written.
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_HEADER = 32
_FRAME_HEADER = 24


def _wal_checksum(data: bytes, s1: int, s2: int, big_endian: bool) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s1 = (s1 + words[i] + s2) & 0xFFFFFFFF
        s2 = (s2 + words[i + 1] + s1) & 0xFFFFFFFF
    return s1, s2


def committed_wal_pages(db_path: Path) -> set[int]:
    """The page numbers the WAL beside ``db_path`` holds in committed, valid frames.

    Frames are read as SQLite recovers them: each must carry the header's salts and continue
    the checksum chain, and only frames up to the last commit frame count. No WAL, or one
    that is empty or damaged from its start, holds none.
    """
    try:
        with open(f"{db_path}-wal", "rb") as f:
            header = f.read(_WAL_HEADER)
            if len(header) < _WAL_HEADER:
                return set()
            magic, _version, page_size, _seq, salt1, salt2, c1, c2 = struct.unpack(">8I", header)
            big = magic == _WAL_MAGIC[1]
            if magic not in _WAL_MAGIC or page_size < 512 or page_size & (page_size - 1):
                return set()
            s1, s2 = _wal_checksum(header[:24], 0, 0, big)
            if (s1, s2) != (c1, c2):
                return set()
            committed: set[int] = set()
            pending: set[int] = set()
            while True:
                frame = f.read(_FRAME_HEADER + page_size)
                if len(frame) < _FRAME_HEADER + page_size:
                    return committed
                page, commit, fsalt1, fsalt2, fc1, fc2 = struct.unpack(">6I", frame[:24])
                if (fsalt1, fsalt2) != (salt1, salt2) or page == 0:
                    return committed
                s1, s2 = _wal_checksum(frame[:8], s1, s2, big)
                s1, s2 = _wal_checksum(frame[_FRAME_HEADER:], s1, s2, big)
                if (s1, s2) != (fc1, fc2):
                    return committed
                pending.add(page)
                if commit:
                    committed |= pending
                    pending = set()
    except OSError:
        return set()


def read_ahead(
    connect: Callable[[], Connection],
    sql: str,
    params: Sequence[Any] = (),
    *,
    chunk: int = 64,
    depth: int = 8,
    transform: Callable[[list[Any]], list[Any]] | None = None,
) -> Generator[list[Any], None, None]:
    """The rows of ``sql`` (with ``params``), a chunk at a time, read on a second thread over
    a connection of its own while the caller works on the chunks before them. ``transform``,
    if given, is applied to each chunk before it is yielded (e.g. opening envelopes, whose C
    code runs without the GIL), shared between the two threads as each is free: the reading
    thread applies it to a chunk when the caller still has chunks waiting, and hands a chunk
    over as read when the caller has none (the caller then applies it itself, rather than
    wait). So on two cores both threads open envelopes, and neither waits long on the other.

    SQLite (and SQLCipher's page decryption) runs without the GIL, so on a machine with two
    cores reading costs the caller little wall time. At most ``depth`` chunks wait; an
    error on the reading side is raised here; closing the iterator early stops the reader
    and closes its connection before returning. The reader never waits on the caller for
    good: it gives up a full queue as soon as the caller stops.
    """
    chunks: queue.Queue[tuple[list[Any], bool] | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: tuple[list[Any], bool] | BaseException | None) -> bool:
        """Queue ``item`` unless the caller has stopped; never waits on the caller for good."""
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def read() -> None:
        try:
            db = connect()
            try:
                cursor = db.execute(sql, params)
                while not stop.is_set():
                    rows = cursor.fetchmany(chunk)
                    if not rows:
                        break
                    done = transform is None or not chunks.empty()  # the caller is busy
                    if not hand_over((transform(rows) if transform and done else rows, done)):
                        break
            finally:
                db.close()
        except BaseException as e:  # handed to the caller's thread, raised there
            hand_over(e)
        else:
            hand_over(None)

    reader = threading.Thread(target=read, name="vault-read-ahead", daemon=True)
    reader.start()
    try:
        while (item := chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            rows, done = item
            yield rows if done or transform is None else transform(rows)
    finally:
        stop.set()  # the reader stops within one chunk, whatever the caller does next
        reader.join()


def one(db: Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    row = db.execute(sql, params).fetchone()
    if row is None:
        raise IntegrityError("The vault is missing a record it needs.")
    return row


# --- issue 5: backups and rekeying -------------------------------------------------------


def backup_to(db: Connection, path: Path, key: SecretBytes) -> None:
    """A consistent snapshot of ``db`` into a new SQLCipher file at ``path``, same key.

    The SQLite backup API copies every page in one step under a read transaction, so the
    copy is the database as of one commit even while another process writes (WAL readers
    do not block writers). ``path`` must not exist; it is created 0600.
    """
    touch_private_file(path)
    dest: Connection = sqlcipher.connect(str(path), isolation_level=None)
    try:
        with explained(path.parent):
            _apply_key(dest, key)
            db.backup(dest)
            dest.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    finally:
        dest.close()


def rekey(db: Connection, new_key: SecretBytes) -> None:
    """Re-encrypt the whole database under ``new_key`` (``PRAGMA rekey``), atomically.

    SQLCipher rewrites every page in one transaction: a crash leaves the database wholly
    under the old key or wholly under the new one. The WAL is then checkpointed and
    truncated so that no page under the old key lingers beside the database.
    """
    with explained(_place(db)):
        db.execute(f"PRAGMA rekey = \"x'{new_key.reveal().hex()}'\"")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def checkpoint_and_truncate(db: Connection) -> bool:
    """Copy every committed page from the WAL into the database file and empty the WAL.

    With ``secure_delete`` on, a deleted row's bytes are overwritten in the pages that held
    it; this puts those overwritten pages into the file itself and truncates the WAL, so the
    old versions of the pages are in neither. False when another connection was reading an
    older state and the WAL could not be emptied now (SQLite finishes it at a later
    checkpoint, at the latest when the last connection closes).
    """
    with explained(_place(db)):
        busy, _log, _done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return int(busy) == 0
