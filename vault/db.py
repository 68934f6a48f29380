"""The one module that owns the SQLCipher driver: opening, pragmas, running migrations.

The vault's own tables, one migration a schema version, are in :mod:`vault.schema`.

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


def new_origin() -> str:
    """A log origin line unique to this vault (a schema-less URL, as C2SP recommends)."""
    return f"vault.redress/{random_bytes(16).hex()}"


def run_script(db: Connection, script: str) -> None:
    """Run statements one by one (``executescript`` would COMMIT our transaction): for
    migrations (:mod:`vault.schema`)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlcipher.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError("incomplete SQL statement in a migration")


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


def migrate(db: Connection, migrations: Sequence[Callable[[Connection], None]]) -> None:
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
