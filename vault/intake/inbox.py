"""The intake's inbox: sealed things waiting for a caseworker's vault to pull them.

Everything the inbox holds is already sealed: report envelopes (to the team key),
attachment blobs (secretstream, key inside the sealed report) and replies (to a
reporter's codename key). It keeps days, never times, and no row says who sent it.
Rows are keyed by hashes, not arrival order.

:class:`Inbox` is the whole interface the web app uses. This implementation is an
SQLCipher file ``DIR/inbox.db`` opened with the raw key in ``DIR/inbox.key``; a
PostgreSQL or object-store inbox for several intake nodes would implement the same
methods. Every method is safe to call from several threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from vault import _crypto
from vault.attachments import BlobHasher
from vault.db import (
    CIPHER_PAGE_SIZE,
    Connection,
    connect_with_migrations,
    is_disk_full,
    transaction,
)
from vault.envelope import envelope_id as envelope_id_of
from vault.errors import IntakeError, VaultError, WrongKeyError
from vault.files import (
    check_private_tree,
    create_private_file,
    make_private_dir,
    read_small_file,
    touch_private_file,
)

KEY_FILE = "inbox.key"
DB_FILE = "inbox.db"
RESERVE_FILE = "reserve"
# Room kept back so a full disk can still be drained (docs/intake.md, "A full disk"): an
# eighth of the file system, between these two sizes, in whole database pages.
RESERVE_MIN = 256 << 10
RESERVE_MAX = 8 << 20
# The most a drain step writes to the write-ahead log: deletions on a full disk are
# committed in steps of about this much (at most a quarter of the reserve), and freed
# pages go back to the file system in steps of this much.
DRAIN_BYTES = 1 << 20
SMALL_INBOX = 64 << 20  # an older inbox is made shrinkable at start only below this size
ID_BYTES = 32  # envelope ids and blob ids: SHA-256 sizes
MAILBOX_BYTES = 16
ROW_BYTES = 1 << 20  # a blob is stored in rows of this many bytes
BLOB_DAYS = 7  # blobs no waiting report can name are deleted after this many days
REPLY_DAYS = 90  # replies are kept this long for the reporter to read
PULL_BYTES = 16 << 20
CACHE_KIB = 8192  # one pull answer carries at most about this much envelope data

_DAY = "CHECK ({0} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]')"


_SCHEMA_1 = (
    # Envelopes keyed by their envelope id (a hash), so nothing records arrival order.
    f"""CREATE TABLE envelopes (
        id       BLOB PRIMARY KEY CHECK (length(id) = 32),
        body     BLOB NOT NULL,
        received TEXT NOT NULL {_DAY.format("received")}
    ) STRICT, WITHOUT ROWID""",
    # An upload is written in rows as it arrives; `blob` (its blob id) is set when it
    # is complete. Incomplete uploads are never served.
    f"""CREATE TABLE uploads (
        upload   BLOB PRIMARY KEY CHECK (length(upload) = 16),
        blob     BLOB UNIQUE CHECK (blob IS NULL OR length(blob) = 32),
        size     INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
        received TEXT NOT NULL {_DAY.format("received")}
    ) STRICT, WITHOUT ROWID""",
    "CREATE INDEX uploads_by_day ON uploads (received)",
    """CREATE TABLE chunks (
        upload BLOB NOT NULL REFERENCES uploads (upload) ON DELETE CASCADE,
        seq    INTEGER NOT NULL CHECK (seq >= 0),
        data   BLOB NOT NULL,
        PRIMARY KEY (upload, seq)
    ) STRICT""",
    f"""CREATE TABLE replies (
        mailbox  BLOB NOT NULL CHECK (length(mailbox) = 16),
        digest   BLOB NOT NULL CHECK (length(digest) = 32),
        body     BLOB NOT NULL,
        received TEXT NOT NULL {_DAY.format("received")},
        UNIQUE (mailbox, digest)
    ) STRICT""",
    "CREATE INDEX replies_by_day ON replies (received)",
    # Caseworker request nonces until they expire (unix minutes): replay protection
    # that survives a restart.
    """CREATE TABLE nonces (
        nonce   TEXT PRIMARY KEY CHECK (length(nonce) = 32),
        expires INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID""",
)


def _migration_1(db: Connection) -> None:
    for statement in _SCHEMA_1:
        db.execute(statement)


def _migration_2(db: Connection) -> None:
    """The witness's memory: the newest checkpoint it cosigned for each vault's log."""
    db.execute(
        """CREATE TABLE witnessed (
            origin TEXT PRIMARY KEY,
            size   INTEGER NOT NULL CHECK (size > 0),
            root   BLOB NOT NULL CHECK (length(root) = 32)
        ) STRICT, WITHOUT ROWID"""
    )


def _relay_tables(db: Connection) -> None:
    """The relay between the team's laptops (docs/sync.md): the chain of statements about who
    is on the team, the sealed items laptops send each other, and how far each member has
    fetched. ``seq`` is AUTOINCREMENT so a number is never given twice, even after deletion."""
    for statement in (
        """CREATE TABLE relay_team (
            n         INTEGER PRIMARY KEY CHECK (n > 0),
            body      BLOB NOT NULL,
            signature BLOB NOT NULL CHECK (length(signature) = 64)
        ) STRICT""",
        f"""CREATE TABLE relay_items (
            seq       INTEGER PRIMARY KEY AUTOINCREMENT,
            author    TEXT NOT NULL CHECK (length(author) = 16),
            origin    TEXT NOT NULL,
            recipient TEXT NOT NULL,
            n         INTEGER NOT NULL CHECK (n > 0),
            wire      BLOB NOT NULL,
            day       TEXT NOT NULL {_DAY.format("day")},
            UNIQUE (origin, recipient, n)
        ) STRICT""",
        """CREATE TABLE relay_chains (
            origin    TEXT NOT NULL,
            recipient TEXT NOT NULL,
            n         INTEGER NOT NULL CHECK (n > 0),
            hash      BLOB NOT NULL CHECK (length(hash) = 32),
            PRIMARY KEY (origin, recipient)
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE relay_cursors (
            member TEXT PRIMARY KEY CHECK (length(member) = 16),
            seq    INTEGER NOT NULL CHECK (seq >= 0)
        ) STRICT, WITHOUT ROWID""",
    ):
        db.execute(statement)


MIGRATIONS: list[Callable[[Connection], None]] = [_migration_1, _migration_2, _relay_tables]


def reserve_size(disk_bytes: int) -> int:
    """The reserve for a file system of ``disk_bytes``: an eighth of it, clamped between
    :data:`RESERVE_MIN` and :data:`RESERVE_MAX`, rounded down to whole database pages."""
    size = min(max(disk_bytes // 8, RESERVE_MIN), RESERVE_MAX)
    return size - size % CIPHER_PAGE_SIZE


def drain_step(reserve: int) -> int:
    """How much one drain step may write to the log: a quarter of the reserve, at most
    :data:`DRAIN_BYTES`, in whole pages (at least one).

    A step's log is its deleted pages (``secure_delete`` overwrites each one) plus the
    few b-tree and free-list pages it touches, plus the request's nonce: well within the
    reserve, which also has to take the checkpoint of what was in the log when the disk
    filled (the log is checkpointed once it passes a step, so that is at most a step
    plus the last transaction).
    """
    step = min(reserve // 4, DRAIN_BYTES)
    return max(step - step % CIPHER_PAGE_SIZE, CIPHER_PAGE_SIZE)


def today() -> date:
    return datetime.now(UTC).date()


class InboxFull(IntakeError):
    """The disk holding the intake's inbox is full: nothing was stored; try again later."""

    def __init__(self) -> None:
        super().__init__("The disk holding the intake's inbox is full.")


T = TypeVar("T")


class Inbox:
    """Sealed envelopes, blobs and replies, until acknowledged or expired."""

    def __init__(self, db: Connection, reserve: Path) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._reserve = reserve
        self._reserve_lock = threading.Lock()
        disk = os.statvfs(reserve.parent)
        #: the size of the reserve file, chosen from the size of the disk it is on
        self.reserve_bytes = reserve_size(disk.f_blocks * disk.f_frsize)
        #: at most this much is written to the log by one drain step
        self.drain_bytes = drain_step(self.reserve_bytes)
        # The log is checkpointed once it holds a drain step, so that when the disk fills,
        # little is waiting in the log: the checkpoint a drain needs fits in the reserve.
        pages = self.drain_bytes // CIPHER_PAGE_SIZE
        db.execute(f"PRAGMA wal_autocheckpoint = {pages}")

    @classmethod
    def open(cls, directory: Path) -> Inbox:
        """Open ``DIR/inbox.db``, creating the directory (0700) and key (0600) on first use."""
        make_private_dir(directory)
        key_path, db_path = directory / KEY_FILE, directory / DB_FILE
        if not key_path.exists():
            if db_path.exists():
                raise VaultError(
                    f"The inbox in {directory} has lost its key file {KEY_FILE}, "
                    "so it cannot be opened.",
                    hint="restore inbox.key from where it was kept, or use a new data directory",
                )
            create_private_file(key_path, _crypto.random_bytes(_crypto.KEY_BYTES))
        check_private_tree(directory)
        raw = read_small_file(key_path, "inbox key file", limit=64)
        if len(raw) != _crypto.KEY_BYTES:
            raise VaultError(f"The inbox key file {key_path} is damaged.")
        touch_private_file(db_path)
        try:
            db = connect_with_migrations(db_path, _crypto.SecretBytes(raw, "inbox key"), MIGRATIONS)
        except WrongKeyError:
            raise WrongKeyError(
                f"The inbox in {directory} does not open with its key file {KEY_FILE}.",
            ) from None
        # Blobs stream through once: a small page cache keeps the server's memory flat.
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        _make_shrinkable(db, db_path)
        inbox = cls(db, directory / RESERVE_FILE)
        inbox.keep_reserve()
        return inbox

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- a full disk (docs/intake.md section 2, "A full disk") ------------------------

    def keep_reserve(self) -> bool:
        """Make the reserve file if it is missing and the disk has room; True if it is there.

        The reserve is disk space the inbox holds back: when the disk fills, a
        caseworker's pull or acknowledgement releases it, so the inbox can always be
        drained. It is made again once the disk has room for it.
        """
        path = self._reserve
        with self._reserve_lock:
            with contextlib.suppress(OSError):
                if path.stat().st_size == self.reserve_bytes:
                    return True
                path.unlink()  # cut short by a crash or a full disk
            try:
                free = os.statvfs(path.parent)
                if free.f_bavail * free.f_frsize < 2 * self.reserve_bytes:
                    return False
                create_private_file(path, bytes(self.reserve_bytes))
            except OSError:
                path.unlink(missing_ok=True)
                return False
            return True

    def _room_needed(self) -> int:
        """The free space below which writes that add data are refused."""
        try:
            held = self._reserve.stat().st_size == self.reserve_bytes
        except OSError:
            held = False
        return self.drain_bytes + (0 if held else self.reserve_bytes)

    def _release_reserve(self) -> bool:
        with self._reserve_lock:
            try:
                self._reserve.unlink()
            except FileNotFoundError:
                return False
            return True

    def _store(self, work: Callable[[], T], *, adds: bool = True) -> T:
        """Run a write that adds data (under the lock); a full disk is :class:`InboxFull`.

        A write that ``adds`` is refused already when the disk has less than a drain step
        free (plus the reserve's size while the reserve file is missing), so the log's
        checkpoints keep room to run, and what reporters send (or replies) never takes
        the room the reserve gave for draining.
        """
        if adds:
            with contextlib.suppress(OSError):
                free = os.statvfs(self._reserve.parent)
                if free.f_bavail * free.f_frsize < self._room_needed():
                    raise InboxFull()
        with self._lock:
            try:
                return work()
            except Exception as error:
                if is_disk_full(error):
                    raise InboxFull() from None
                raise

    def _drain(self, work: Callable[[], T]) -> T:
        """Run a caseworker's write (under the lock): on a full disk, release the reserve
        and try once more. Such writes add little (a nonce, a witness row) or free space."""
        with self._lock:
            try:
                return work()
            except Exception as error:
                if not is_disk_full(error) or not self._release_reserve():
                    if is_disk_full(error):
                        raise InboxFull() from None
                    raise
            try:
                return work()
            except Exception as error:
                if is_disk_full(error):
                    raise InboxFull() from None
                raise

    def __enter__(self) -> Inbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- reporters ------------------------------------------------------------------

    def add_envelope(self, envelope: bytes) -> bytes:
        """Store a sealed envelope; returns its envelope id. Storing it twice keeps one."""
        envelope_id = envelope_id_of(envelope)
        self._store(
            lambda: self._db.execute(
                "INSERT OR IGNORE INTO envelopes (id, body, received) VALUES (?, ?, ?)",
                (envelope_id, envelope, today().isoformat()),
            )
        )
        return envelope_id

    def add_envelopes(self, envelopes: list[bytes]) -> list[bytes]:
        """Store several sealed envelopes in one transaction (one fsync); returns their ids."""
        ids = [envelope_id_of(e) for e in envelopes]
        day = today().isoformat()

        def work() -> None:
            with transaction(self._db):
                self._db.executemany(
                    "INSERT OR IGNORE INTO envelopes (id, body, received) VALUES (?, ?, ?)",
                    [(i, e, day) for i, e in zip(ids, envelopes, strict=True)],
                )

        self._store(work)
        return ids

    def add_blob(self) -> BlobUpload:
        """Start storing a sealed attachment; write it in pieces, then finish (or abort)."""
        upload = _crypto.random_bytes(16)
        self._store(
            lambda: self._db.execute(
                "INSERT INTO uploads (upload, received) VALUES (?, ?)",
                (upload, today().isoformat()),
            )
        )
        return BlobUpload(self, upload)

    def mailbox(self, mailbox_id: bytes) -> list[bytes]:
        """The sealed replies waiting in one mailbox, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM replies WHERE mailbox = ? ORDER BY rowid", (mailbox_id,)
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    # --- caseworkers ----------------------------------------------------------------

    def pull(
        self, limit: int, after: bytes | None = None
    ) -> tuple[list[tuple[bytes, bytes]], bool]:
        """Up to ``limit`` (id, envelope) pairs in id order after ``after``, and whether more wait.

        Pulling deletes nothing: :meth:`ack` does, once the vault has stored them.
        """
        out: list[tuple[bytes, bytes]] = []
        size = 0
        with self._lock:
            rows = self._db.execute(
                "SELECT id, body FROM envelopes WHERE id > ? ORDER BY id", (after or b"",)
            )
            try:
                for envelope_id, body in rows:
                    if len(out) >= limit or (out and size + len(body) > PULL_BYTES):
                        return out, True
                    out.append((bytes(envelope_id), bytes(body)))
                    size += len(body)
            finally:
                rows.close()
        return out, False

    def arrival_days(self, envelope_ids: list[bytes]) -> dict[bytes, str]:
        """The day (UTC, ``YYYY-MM-DD``) each of these waiting envelopes arrived, by id (the
        pull gives it with each reporter's message: docs/intake.md section 6)."""
        days: dict[bytes, str] = {}
        with self._lock:
            for start in range(0, len(envelope_ids), 500):
                chunk = envelope_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))  # only placeholders go in
                rows = self._db.execute(
                    f"SELECT id, received FROM envelopes WHERE id IN ({marks})",  # noqa: S608
                    chunk,
                )
                days.update((bytes(i), str(day)) for i, day in rows)
        return days

    def blob_size(self, blob_id: bytes) -> int | None:
        """The stored size of a complete blob, or None if the inbox does not hold it."""
        with self._lock:
            row = self._db.execute("SELECT size FROM uploads WHERE blob = ?", (blob_id,)).fetchone()
        return None if row is None else int(row[0])

    def blob_chunks(self, blob_id: bytes) -> Iterator[bytes]:
        """A blob's bytes, one stored row at a time (memory stays flat)."""
        with self._lock:
            row = self._db.execute(
                "SELECT upload FROM uploads WHERE blob = ?", (blob_id,)
            ).fetchone()
        if row is None:
            return
        upload, seq = row[0], 0
        while True:
            with self._lock:
                chunk = self._db.execute(
                    "SELECT data FROM chunks WHERE upload = ? AND seq = ?", (upload, seq)
                ).fetchone()
            if chunk is None:
                return
            yield bytes(chunk[0])
            seq += 1

    def ack(self, envelope_ids: Iterable[bytes], blob_ids: Iterable[bytes]) -> int:
        """Delete what a vault has safely stored; returns how many rows were deleted.

        Normally one transaction. On a full disk the reserve is released and the rows are
        deleted in steps of about :attr:`drain_bytes`, each committed and checkpointed, so
        that the write-ahead log never needs more room than the reserve gave; then the
        freed pages go back to the file system and the reserve is made again if it fits.
        """
        envelope_ids, blob_ids = list(envelope_ids), list(blob_ids)

        def at_once() -> int:
            deleted = 0
            with transaction(self._db):
                for envelope_id in envelope_ids:
                    deleted += self._db.execute(
                        "DELETE FROM envelopes WHERE id = ?", (envelope_id,)
                    ).rowcount
                for blob_id in blob_ids:
                    deleted += self._db.execute(
                        "DELETE FROM uploads WHERE blob = ?", (blob_id,)
                    ).rowcount
            return deleted

        with self._lock:
            try:
                try:
                    deleted = at_once()
                except Exception as error:
                    if not is_disk_full(error):
                        raise
                    self._release_reserve()
                    deleted = self._ack_in_steps(envelope_ids, blob_ids)
                try:
                    self._give_back()
                except Exception as error:
                    if not is_disk_full(error) or not self._release_reserve():
                        raise
                    self._give_back()
            except Exception as error:
                if is_disk_full(error):
                    raise InboxFull() from None
                raise
        self.keep_reserve()
        return deleted

    def _ack_in_steps(self, envelope_ids: list[bytes], blob_ids: list[bytes]) -> int:
        db = self._db
        deleted = 0
        step: list[bytes] = []
        size = 0
        for envelope_id in envelope_ids:
            row = db.execute("SELECT length(body) FROM envelopes WHERE id = ?", (envelope_id,))
            length = (row.fetchone() or (0,))[0]
            if step and size + length > self.drain_bytes:
                deleted += self._delete_envelopes(step)
                step, size = [], 0
            step.append(envelope_id)
            size += length
        if step:
            deleted += self._delete_envelopes(step)
        for blob_id in blob_ids:
            found = db.execute("SELECT upload FROM uploads WHERE blob = ?", (blob_id,)).fetchone()
            if found is None:
                continue
            upload = found[0]
            with transaction(db):  # no longer served: from here on it is an unfinished upload
                db.execute("UPDATE uploads SET blob = NULL WHERE upload = ?", (upload,))
            for (seq,) in db.execute(
                "SELECT seq FROM chunks WHERE upload = ? ORDER BY seq", (upload,)
            ).fetchall():
                with transaction(db):
                    db.execute("DELETE FROM chunks WHERE upload = ? AND seq = ?", (upload, seq))
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            with transaction(db):
                deleted += db.execute("DELETE FROM uploads WHERE upload = ?", (upload,)).rowcount
        return deleted

    def _delete_envelopes(self, ids: list[bytes]) -> int:
        with transaction(self._db):
            deleted = sum(
                self._db.execute("DELETE FROM envelopes WHERE id = ?", (i,)).rowcount for i in ids
            )
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return deleted

    def _give_back(self) -> None:
        """Return free pages to the file system a step at a time, then empty the log.

        A step is :attr:`drain_bytes` of pages, and only when at least that much is
        free: small acknowledgements leave their pages for the next reports.
        """
        db = self._db
        pages = self.drain_bytes // CIPHER_PAGE_SIZE
        if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            return
        if db.execute("PRAGMA freelist_count").fetchone()[0] < pages:
            return
        while db.execute("PRAGMA freelist_count").fetchone()[0] > 0:
            db.execute(f"PRAGMA incremental_vacuum({pages})").fetchall()
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def add_replies(self, replies: Iterable[tuple[bytes, bytes]]) -> int:
        """Store sealed replies as (mailbox id, sealed reply); a repeat is kept once."""
        day = today().isoformat()
        rows = [(m, hashlib.sha256(body).digest(), body, day) for m, body in replies]

        def work() -> None:
            with transaction(self._db):
                self._db.executemany(
                    "INSERT OR IGNORE INTO replies (mailbox, digest, body, received) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )

        self._store(work)
        return len(rows)

    def nonce_seen(self, nonce: str, now: float | None = None) -> bool:
        """True if this request nonce was seen in the last 600 s (remembers nothing)."""
        minute = int((time.time() if now is None else now) // 60)
        with self._lock:
            row = self._db.execute(
                "SELECT expires FROM nonces WHERE nonce = ?", (nonce,)
            ).fetchone()
        return row is not None and int(row[0]) >= minute

    def nonce_seen_or_remember(self, nonce: str, now: float | None = None) -> bool:
        """True if this request nonce was seen in the last 600 s; otherwise remember it."""
        minute = int((time.time() if now is None else now) // 60)
        expires = minute + 11  # 600 s, rounded up to whole minutes

        def work() -> bool:
            with transaction(self._db):
                row = self._db.execute(
                    "SELECT expires FROM nonces WHERE nonce = ?", (nonce,)
                ).fetchone()
                if row is not None and int(row[0]) >= minute:
                    return True
                self._db.execute(
                    "INSERT OR REPLACE INTO nonces (nonce, expires) VALUES (?, ?)",
                    (nonce, expires),
                )
            return False

        return self._drain(work)

    # --- the witness ------------------------------------------------------------------

    def witnessed(self, origin: str) -> tuple[int, bytes]:
        """The size and root of the newest checkpoint cosigned for ``origin`` (0 if none)."""
        with self._lock:
            row = self._db.execute(
                "SELECT size, root FROM witnessed WHERE origin = ?", (origin,)
            ).fetchone()
        return (0, b"") if row is None else (int(row[0]), bytes(row[1]))

    def witness_forget(self, origin: str) -> int:
        """Forget the checkpoint cosigned for ``origin``; returns the size it had reached."""
        with self._lock, transaction(self._db):
            row = self._db.execute(
                "SELECT size FROM witnessed WHERE origin = ?", (origin,)
            ).fetchone()
            self._db.execute("DELETE FROM witnessed WHERE origin = ?", (origin,))
        return 0 if row is None else int(row[0])

    def witness_advance(
        self, origin: str, decide: Callable[[int, bytes], bool], size: int, root: bytes
    ) -> tuple[int, bytes, bool]:
        """Atomically: read the remembered state, ask ``decide``, and store the new one if yes.

        Returns the state that was remembered and whether it advanced. Check and store
        happen under one lock and one transaction, so two requests cannot roll it back.
        """

        def work() -> tuple[int, bytes, bool]:
            with transaction(self._db):
                row = self._db.execute(
                    "SELECT size, root FROM witnessed WHERE origin = ?", (origin,)
                ).fetchone()
                old = (0, b"") if row is None else (int(row[0]), bytes(row[1]))
                if not decide(*old):
                    return old[0], old[1], False
                self._db.execute(
                    "INSERT INTO witnessed (origin, size, root) VALUES (?, ?, ?)"
                    " ON CONFLICT (origin) DO UPDATE SET size = excluded.size,"
                    " root = excluded.root",
                    (origin, size, root),
                )
            return old[0], old[1], True

        return self._drain(work)

    # --- the relay between laptops (vault/intake/relay.py, docs/sync.md) ---------------

    def relay_statements(self) -> list[tuple[bytes, bytes]]:
        """Every statement about the team, in order: (body, signature)."""
        with self._lock:
            rows = self._db.execute("SELECT body, signature FROM relay_team ORDER BY n")
            return [(bytes(b), bytes(s)) for b, s in rows.fetchall()]

    def relay_add_statement(
        self,
        n: int,
        body: bytes,
        signature: bytes,
        members: Iterable[str],
        new: str | None,
        by: str,
    ) -> None:
        """Store statement ``n``, signed by ``by``; ``members`` are the team's key ids after
        it. A new member starts fetching where the member who added them has fetched to:
        what that member holds reaches the new one in their welcome, and what it has not
        yet fetched (another laptop's items still on their way) from the relay. A member no
        longer on the team stops holding items back."""

        def work() -> None:
            with transaction(self._db):
                self._db.execute(
                    "INSERT INTO relay_team (n, body, signature) VALUES (?, ?, ?)",
                    (n, body, signature),
                )
                self._relay_members(members, new, by)

        self._store(work)

    def relay_start(self, members: Iterable[str]) -> None:
        """Make sure every member has a cursor (at the start, or after an older inbox)."""

        def work() -> None:
            with transaction(self._db):
                self._relay_members(members, None, None)

        self._drain(work)

    def _relay_members(self, members: Iterable[str], new: str | None, by: str | None) -> None:
        keep = list(members)
        adder = self._db.execute("SELECT seq FROM relay_cursors WHERE member = ?", (by,)).fetchone()
        for member in keep:
            start = int(adder[0]) if (member == new and adder is not None) else 0
            self._db.execute(
                "INSERT INTO relay_cursors (member, seq) VALUES (?, ?)"
                " ON CONFLICT (member) DO NOTHING",
                (member, start),
            )
        marks = ",".join("?" * len(keep))
        self._db.execute(
            f"DELETE FROM relay_cursors WHERE member NOT IN ({marks})",  # noqa: S608
            keep,
        )
        self._relay_delete_delivered()

    def relay_put(
        self, author: str, origin: str, recipient: str, n: int, item_hash: bytes, wire: bytes
    ) -> str:
        """Store one item: "stored", "held" (the same item again: its hash is compared),
        "forked" (another item under a number already taken; one no longer held cannot be
        compared, and a laptop never sends one again: it marks each sent as it goes), or
        "out-of-order"."""

        def work() -> str:
            with transaction(self._db):
                row = self._db.execute(
                    "SELECT n, hash FROM relay_chains WHERE origin = ? AND recipient = ?",
                    (origin, recipient),
                ).fetchone()
                last, last_hash = (0, b"") if row is None else (int(row[0]), bytes(row[1]))
                if n == last:
                    return "held" if item_hash == last_hash else "forked"
                if n < last:
                    held = self._db.execute(
                        "SELECT wire FROM relay_items WHERE origin = ? AND recipient = ? AND n = ?",
                        (origin, recipient, n),
                    ).fetchone()
                    return "held" if held is not None and bytes(held[0]) == wire else "forked"
                if n != last + 1:
                    return "out-of-order"
                self._db.execute(
                    "INSERT INTO relay_items (author, origin, recipient, n, wire, day)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (author, origin, recipient, n, wire, today().isoformat()),
                )
                self._db.execute(
                    "INSERT INTO relay_chains (origin, recipient, n, hash) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (origin, recipient) DO UPDATE SET n = excluded.n,"
                    " hash = excluded.hash",
                    (origin, recipient, n, item_hash),
                )
                return "stored"

        return self._store(work)

    def relay_fetch(
        self, member: str, limit: int, max_bytes: int, after: int = 0
    ) -> tuple[list[Any], bool]:
        """Items for ``member`` after its cursor (and after ``after``), oldest first:
        [(seq, wire)], and whether more wait. Never the member's own items."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM relay_cursors WHERE member = ?", (member,)
            ).fetchone()
            if row is None:
                return [], False
            rows = self._db.execute(
                "SELECT seq, wire FROM relay_items WHERE seq > ? AND author != ?"
                " AND recipient IN ('team', ?) ORDER BY seq LIMIT ?",
                (max(int(row[0]), after), member, member, limit + 1),
            )
            found: list[Any] = []
            size = 0
            for seq, wire in rows:
                if len(found) == limit or (found and size + len(wire) > max_bytes):
                    return found, True
                found.append((int(seq), bytes(wire)))
                size += len(wire)
            return found, False

    def relay_ack(self, member: str, upto: int) -> int:
        """``member`` holds every item for it up to ``upto``; returns items deleted."""

        def work() -> int:
            with transaction(self._db):
                self._db.execute(
                    "UPDATE relay_cursors SET seq = max(seq, min(?, coalesce("
                    "(SELECT seq FROM sqlite_sequence WHERE name = 'relay_items'), 0)))"
                    " WHERE member = ?",
                    (upto, member),
                )
                return self._relay_delete_delivered()

        return self._drain(work)

    def _relay_delete_delivered(self) -> int:
        """Delete items every member they are for has fetched (not counting their author)."""
        one = self._db.execute(
            "DELETE FROM relay_items WHERE recipient != 'team' AND (NOT EXISTS"
            " (SELECT 1 FROM relay_cursors c WHERE c.member = relay_items.recipient)"
            " OR seq <= (SELECT c.seq FROM relay_cursors c WHERE c.member = relay_items.recipient))"
        ).rowcount
        team = self._db.execute(
            "DELETE FROM relay_items WHERE recipient = 'team' AND NOT EXISTS"
            " (SELECT 1 FROM relay_cursors c WHERE c.member != relay_items.author"
            " AND c.seq < relay_items.seq)"
        ).rowcount
        return int(one) + int(team)

    def relay_count(self) -> int:
        """Items the relay holds (for tests and the operator)."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM relay_items").fetchone()[0])

    # --- housekeeping ---------------------------------------------------------------

    def purge_old(self, day: date | None = None, now: float | None = None) -> None:
        """Delete blobs no waiting report can name, old replies, and expired nonces.

        Envelopes are never expired: a report waits until a caseworker pulls it. The
        intake cannot read a report, so it cannot tell which blobs a waiting one names;
        a blob is uploaded before its report, at most a day earlier (an upload may run
        past midnight). So a blob goes only when it is more than 7 days old *and* its
        upload day is more than 1 day before that of the oldest envelope still waiting.
        """
        day = day or today()
        minute = int((time.time() if now is None else now) // 60)
        self._store(lambda: self._purge(day, minute), adds=False)

    def _purge(self, day: date, minute: int) -> None:
        with transaction(self._db):
            cutoff = day - timedelta(days=BLOB_DAYS)
            (oldest,) = self._db.execute("SELECT min(received) FROM envelopes").fetchone()
            if oldest is not None:
                cutoff = min(cutoff, date.fromisoformat(oldest) - timedelta(days=1))
            self._db.execute("DELETE FROM uploads WHERE received < ?", (cutoff.isoformat(),))
            # An upload interrupted by a crash is never finished.
            self._db.execute(
                "DELETE FROM uploads WHERE blob IS NULL AND received < ?",
                ((day - timedelta(days=1)).isoformat(),),
            )
            self._db.execute(
                "DELETE FROM replies WHERE received < ?",
                ((day - timedelta(days=REPLY_DAYS)).isoformat(),),
            )
            self._db.execute("DELETE FROM nonces WHERE expires < ?", (minute,))

    # --- for BlobUpload ---------------------------------------------------------------

    def _write_row(self, upload: bytes, seq: int, data: bytes | bytearray) -> None:
        self._store(
            lambda: self._db.execute(
                "INSERT INTO chunks (upload, seq, data) VALUES (?, ?, ?)", (upload, seq, data)
            )
        )

    def _finish(self, upload: bytes, blob_id: bytes, size: int) -> None:
        def work() -> None:
            with transaction(self._db):
                if self._db.execute("SELECT 1 FROM uploads WHERE blob = ?", (blob_id,)).fetchone():
                    # The same sealed file again (a retried upload): keep the first copy.
                    self._db.execute("DELETE FROM uploads WHERE upload = ?", (upload,))
                    return
                updated = self._db.execute(
                    "UPDATE uploads SET blob = ?, size = ? WHERE upload = ? AND blob IS NULL",
                    (blob_id, size, upload),
                ).rowcount
                if updated != 1:
                    raise VaultError("An upload was cleared away before it finished.")

        self._store(work, adds=False)  # names what is written; adds a row of a few bytes

    def _drop(self, upload: bytes) -> None:
        """Delete an unfinished upload. On a full disk even this may fail: it is then left
        unfinished, never served, and housekeeping deletes it the day after next."""
        with contextlib.suppress(InboxFull):
            self._store(
                lambda: self._db.execute("DELETE FROM uploads WHERE upload = ?", (upload,)),
                adds=False,
            )


def _make_shrinkable(db: Connection, path: Path) -> None:
    """Incremental auto-vacuum, so a drained inbox can give its space back to the disk.

    It can only be switched on by rebuilding the file (VACUUM, which holds a copy in
    memory here: temp_store is MEMORY), so an older inbox is converted only while small.
    """
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
        return
    if path.stat().st_size > SMALL_INBOX:
        return
    with contextlib.suppress(Exception):  # a full disk: try again at the next start
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("VACUUM")


class BlobUpload:
    """One attachment being stored as it streams in; its id is the blob id of its bytes (the
    hash list of vault.attachments.BlobHasher, as the reporter's browser computes it)."""

    def __init__(self, inbox: Inbox, upload: bytes) -> None:
        self._inbox = inbox
        self._upload = upload
        self._hash = BlobHasher()
        self._buffer = bytearray()
        self._seq = 0
        self.size = 0

    def fills_a_row(self, more: int) -> bool:
        """Whether writing ``more`` bytes stores a row (so it should not run on the event loop)."""
        return len(self._buffer) + more >= ROW_BYTES

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)
        self._buffer += data
        while len(self._buffer) >= ROW_BYTES:
            self._flush(ROW_BYTES)

    def _flush(self, n: int) -> None:
        # The buffer itself becomes the row (no copy) and a new one starts with what is
        # left over: an upload holds about one row (1 MiB) while it waits for the inbox.
        row, self._buffer = self._buffer, self._buffer[n:]
        del row[n:]
        self._inbox._write_row(self._upload, self._seq, row)
        self._seq += 1

    def flush(self) -> None:
        """Store what is buffered now as a (short) row, so nothing waits in memory: the end
        of each part of an upload in parts (docs/intake.md section 4). Rows are read back in
        order whatever their lengths (:meth:`Inbox.blob_chunks`)."""
        if self._buffer:
            self._flush(len(self._buffer))

    def finish(self) -> bytes:
        """Store what is left and name the blob; returns its id (the hash list, raw bytes)."""
        self.flush()
        blob_id = self._hash.digest()
        self._inbox._finish(self._upload, blob_id, self.size)
        return blob_id

    def abort(self) -> None:
        """Throw away what was written (the upload was too large, malformed or cut off)."""
        self._buffer.clear()
        self._inbox._drop(self._upload)
