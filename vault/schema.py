"""The vault database's tables: one migration a schema version, applied in order.

:func:`connect` opens the vault database at the newest schema, through the driver that
:mod:`vault.db` owns. Each migration runs in the transaction that moves ``user_version``
from its index to the next, and is never changed once released (a vault made by it must
open the same way): a new table or column is a new migration at the end of
:data:`MIGRATIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from vault._crypto import SecretBytes
from vault.audit.terms import OUTCOMES, STATUSES
from vault.db import (
    Connection,
    connect_with_migrations,
    new_origin,
    remember_salt,
    run_script,
    transaction,
)
from vault.errors import VaultError
from vault.files import touch_private_file

# The kinds of case event migrations 1 and 7 knew, frozen as migrations are. The kinds a vault
# accepts now are declared in vault/audit/case_actions.py (see declare_event_kinds).
_KINDS_AT_1 = ("imported", "opened", "note", "assigned", "status", "closed", "reply", "attachment")
# Why a pulled envelope was kept in quarantine: its seal or header is damaged, it is sealed to a
# team key this vault does not hold, or it opened but what is inside is not a valid report.
QUARANTINE_REASONS = ("damaged", "foreign", "invalid")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _migration_1(db: Connection) -> None:
    run_script(
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
    run_script(
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
    run_script(
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
    run_script(
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
    run_script(
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
    run_script(
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
    run_script(
        db,
        """
        CREATE TABLE event_kinds (
            kind TEXT PRIMARY KEY CHECK (kind GLOB '[a-z]*' AND kind NOT GLOB '*[^a-z-]*')
        ) STRICT;
        """,
    )
    db.executemany("INSERT INTO event_kinds (kind) VALUES (?)", [(k,) for k in _KINDS_AT_1])
    run_script(
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
    run_script(
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
    run_script(
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
    run_script(
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
    run_script(
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
    run_script(
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
    run_script(
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
    run_script(
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
    run_script(
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


def _hex(column: str, length: int) -> str:
    return f"length({column}) = {length} AND {column} NOT GLOB '*[^0-9a-f]*'"


def _attachments_by_case(db: Connection) -> None:
    """Which blobs each case's report names, and the attachments still to fetch kept per case.

    Two reports may name one blob id (a browser that sent the same report twice; or a page,
    or an intake, that lies). So an attachment still to fetch is a (case, blob) pair, each
    with the length its own report implies, and the blobs every case names are listed, so
    that erasing one case never deletes a blob another case still names.
    """
    run_script(
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
    run_script(
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
    run_script(
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


def _quarantine_by_reason(db: Connection) -> None:
    """An index on ``quarantine.reason``: each pull looks for the ``foreign`` envelopes a key
    held now opens (vault/incoming.py ``reopen_quarantined``) without reading the others."""
    db.execute("CREATE INDEX quarantine_by_reason ON quarantine (reason)")


def _a_rewrite_names_the_epoch_it_replaces(db: Connection) -> None:
    """The one-shot rewrite of an event sealed again (``_events_resealed_when_epochs_settle``)
    made narrower: the ``events_resealed`` row that opens an event must name the epoch the
    event is sealed to now (a second row for another epoch no longer opens an event already
    sealed again), and the event must be this laptop owner's (settling never signs a
    colleague's)."""
    run_script(
        db,
        """
        DROP TRIGGER events_append_only_update;
        CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
            WHEN NOT (NEW.seq IS OLD.seq AND NEW.id IS OLD.id AND NEW.case_id IS OLD.case_id
                      AND NEW.kind IS OLD.kind AND NEW.actor IS OLD.actor
                      AND OLD.actor IS coalesce((SELECT value FROM vault_facts
                                                 WHERE name = 'sync_owner'), OLD.actor)
                      AND EXISTS (SELECT 1 FROM events_resealed AS r
                                  WHERE r.id = OLD.id AND r.rewriting = 1
                                    AND r.epoch = CAST(json_extract(CAST(OLD.body AS TEXT),
                                                                    '$.data.epoch') AS INTEGER)))
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        """,
    )


def _acknowledged_items_are_remembered(db: Connection) -> None:
    """``sync_received.acked``: the last number of each chain the relay confirmed it had
    deleted (the page that brought it acknowledged). The relay must never send those again:
    one sent again that this laptop holds is a replay, named (exit 4; docs/sync.md
    section 5)."""
    db.execute(
        "ALTER TABLE sync_received ADD COLUMN acked INTEGER NOT NULL DEFAULT 0 CHECK (acked >= 0)"
    )


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
    _quarantine_by_reason,
    _a_rewrite_names_the_epoch_it_replaces,
    _acknowledged_items_are_remembered,
]
SCHEMA_VERSION = len(MIGRATIONS)


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
