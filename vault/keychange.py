"""Opening a vault's access files, and changing keys without ever locking everyone out.

Every change of keys (a new team key epoch, revoking a caseworker, a new database key)
rewrites the access file of every caseworker, and the recovery access file. The
database and those files must never disagree in a way that leaves nobody able to open
the vault, so a change goes in four steps, each one crash-safe:

1. **Pending files.** The new access (database key and every team key, the new epoch E
   included) is wrapped to each remaining caseworker and to the recovery key, and written
   beside the current files as ``NAME.access.next-E`` and ``recovery.access.next-E``
   (each atomically: a private temporary, fsync, rename). *A crash here* leaves the
   database and the current access files as they were: the next unlock sees pending
   files for an epoch the database does not have, and deletes them (the change never
   happened).
2. **The database** records the change in one transaction: the new team key epoch E, a
   revoked caseworker's ``revoked`` date, and the key actions in the access log.
   *A crash after this commit* leaves the database holding an epoch the current files
   lack: the next unlock (by anyone) opens the database with their current file, sees
   that their pending file holds exactly the database's epochs, and finishes steps 3
   and 4.
3. **Rekey** (revoke only): ``PRAGMA rekey`` to the new database key, in one SQLCipher
   transaction. *A crash after it* leaves a database the current files no longer open:
   the next unlock opens it with the pending file and finishes step 4.
4. **Commit the files**: each pending file for epoch E is renamed over the current one,
   then the revoked caseworker's key and access files are deleted. *A crash part-way*
   leaves some pending files for E, which the database has: any unlock renames the rest.

Every change makes a new epoch, so the E in a pending file's name says, against the
database, whether that change committed (rename it) or not (delete it). The one change that
may not (a laptop settling a team key epoch another laptop started first,
:mod:`vault.epoch_settling`: it replaces the key of an epoch it holds) may end at an epoch
the database holds already (its newest, or one started again over an untold epoch of its
own), so it always names the new key too (``NAME.access.next-E-K``, K the key's first 8
bytes in hex): committed only when the database's newest epoch is E, with that key.
Changes and the tidying at unlock hold an exclusive lock on the vault folder, so one never
tidies away another's pending files.

So, whatever the crash point, every remaining caseworker can still unlock, and the first
unlock after the crash finishes or undoes the change.

**Who may write an access file.** An access file is signed by the caseworker who wrote
it: the caseworker themself (``vault init``, ``vault recovery restore``), whoever added
them (``vault caseworker add``), or whoever last changed the keys (rotation, revoke). An
access file is accepted when its writer is, in the database it opens, a *current*
caseworker (registered, not revoked). Someone who can change files in the vault folder
but holds no current caseworker's signing key therefore cannot get a caseworker to use a
database or team key of their choosing, and a revoked caseworker's signature stops
counting the moment the revocation commits. (Someone who can replace the *whole* folder
with an older copy can make you open that older copy; the fingerprint check in
``keys/README.md`` is what catches a swapped team key.)
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vault import _crypto, schema
from vault import db as dbmod
from vault.errors import DatabaseDamagedError, IntegrityError, VaultError, WrongKeyError
from vault.files import fsync_dir, move_into_place, read_small_file, replace_private_file
from vault.keys import (
    Access,
    CaseworkerPublic,
    Identity,
    b64,
    read_key_file_public,
    unb64,
    unlock_identity_upgrading,
    unwrap_access,
    wrap_access,
)
from vault.passphrase import Passphrase

DB_FILE = "vault.db"
CASEWORKERS_DIR = "caseworkers"
RECOVERY_ACCESS = "recovery.access"
RECOVERY_PUBLIC = "recovery.pub"
PENDING = ".next"
RECOVERY_NAME = "recovery"
RECOVERY_PUBLIC_KIND = "redress-recovery-key"
RECOVERY_PUBLIC_CONTEXT = b"redress recovery public key v1\x00"


def access_path(directory: Path, name: str) -> Path:
    return directory / CASEWORKERS_DIR / f"{name}.access"


def pending_path(path: Path, epoch: int, public_key: bytes | None = None) -> Path:
    """The pending successor of the access file at ``path`` for epoch ``epoch``. A change that
    keeps the epoch and replaces its key (a laptop settling two epochs started apart,
    :mod:`vault.epoch_settling`) also names the new key (:func:`key_mark`): the epoch alone
    would not tell the database's old key for it from the new."""
    mark = "" if public_key is None else f"-{key_mark(public_key)}"
    return path.with_name(f"{path.name}{PENDING}-{epoch}{mark}")


def key_mark(public_key: bytes) -> str:
    """How a pending file's name names the team key of its epoch: its first 8 bytes, in hex."""
    return public_key[:8].hex()


def _pending_mark(path: Path) -> tuple[int, str | None] | None:
    _, _, tail = path.name.rpartition(PENDING + "-")
    epoch, _, mark = tail.partition("-")
    if not epoch.isdigit() or (mark and not _is_mark(mark)):
        return None
    return int(epoch), mark or None


def _is_mark(text: str) -> bool:
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)


def _pending_files(directory: Path) -> list[tuple[Path, int, str | None]]:
    found = [
        *(directory / CASEWORKERS_DIR).glob(f"*.access{PENDING}-*"),
        *directory.glob(f"{RECOVERY_ACCESS}{PENDING}-*"),
    ]
    return [(p, m[0], m[1]) for p in sorted(found) if (m := _pending_mark(p)) is not None]


def _committed(epoch: int, mark: str | None, stored: dict[int, bytes]) -> bool:
    """Whether a pending file for ``epoch`` (naming the key ``mark``, if any) holds the change
    the database has committed: its epoch is the newest, with that key."""
    latest = max(stored)
    return epoch == latest and (mark is None or mark == key_mark(stored[latest]))


@contextmanager
def locked(directory: Path, *, wait: bool = True) -> Iterator[None]:
    """An exclusive lock on the vault folder for a key change, or for tidying after one.

    With ``wait=False`` it raises :class:`BlockingIOError` at once if another command holds it.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)  # releases the lock


def access_writer(data: bytes) -> bytes:
    """The Ed25519 public key an access file says wrote it (checked by :func:`unwrap_access`)."""
    return data[:32]


def key_file_signers(directory: Path) -> frozenset[bytes]:
    """Signing keys of the key files in the vault folder: who *may* have written an access file.

    Only a first filter; :func:`check_writer` decides against the database.
    """
    signers = set()
    for path in sorted((directory / CASEWORKERS_DIR).glob("*.key")):
        try:
            public, _ = read_key_file_public(read_small_file(path, "key file"))
        except (VaultError, OSError):
            continue
        signers.add(public.sign_pk)
    return frozenset(signers)


def unlock_key_file(directory: Path, data: bytes, passphrase: Passphrase) -> Identity:
    """Unlock a caseworker's key file ``data``, read from ``directory``; migrate it if it is old.

    A version 1 key file (associated data in Python's default JSON, ``docs/format.md``) is
    rewritten as version 2 once it has unlocked, through :func:`replace_private_file`: a new
    0600 file beside it, fsynced, renamed over it, and the folder fsynced. A crash at any
    point leaves either the old file or the new one in place, and both unlock with the same
    passphrase; a stray temporary file is ignored by the vault. The rewrite happens under the
    folder's lock and only if the file still holds the bytes that were unlocked, so a
    passphrase changed meanwhile (:func:`vault.membership.change_passphrase`) is never undone.
    A wrong passphrase raises before anything is written. If the rewrite fails (a read-only
    disk), the old file still unlocks and the next unlock tries again.
    """
    identity, upgraded = unlock_identity_upgrading(data, passphrase)
    if upgraded is not None:
        path = directory / CASEWORKERS_DIR / f"{identity.name}.key"
        try:
            # never wait for a backup or a re-seal: the next unlock tries again
            with locked(directory, wait=False):
                if read_small_file(path, "key file") == data:
                    replace_private_file(path, upgraded)
        except (OSError, VaultError):
            pass
    return identity


def current_signers(db: dbmod.Connection) -> frozenset[bytes]:
    return frozenset(
        bytes(r[0]) for r in db.execute("SELECT sign_pk FROM caseworkers WHERE revoked IS NULL")
    )


def check_writer(db: dbmod.Connection, writer: bytes, whose: str) -> None:
    if writer not in current_signers(db):
        raise WrongKeyError(
            f"{whose} access file was not written by a current caseworker of this vault.",
            hint="it may have been replaced; restore the vault folder from a backup",
        )


def stored_team_keys(db: dbmod.Connection) -> dict[int, bytes]:
    return {int(e): bytes(pk) for e, pk in db.execute("SELECT epoch, public_key FROM team_keys")}


def matches(access: Access, stored: dict[int, bytes]) -> bool:
    """The access holds exactly the team keys the database lists."""
    held = {k.epoch: k.public_key for k in access.team_keys}
    return held == stored


@dataclass(frozen=True, slots=True)
class Opened:
    access: Access
    db: dbmod.Connection


def _damaged(path: Path, access: Access) -> VaultError:
    """The access file gave the database key authentically, and the database does not open
    with it.

    SQLCipher authenticates each page alone. If some pages check out under the key (or the
    file is cut short of a whole page), this is the vault's database, damaged: exit 4. If no
    page does, the database is under another key: the caseworker's access was revoked (a
    revocation re-keys the database) and their access file is an old copy, or the database
    was replaced, or its salt alone was damaged, which the copy of the salt kept beside it
    (:func:`vault.db.salt_damaged`) tells.
    """
    failing, pages = dbmod.pages_failing(path, access.db_key)
    if (pages > 0 and failing < pages) or path.stat().st_size % dbmod.CIPHER_PAGE_SIZE:
        return DatabaseDamagedError(
            "The vault's database is damaged: it does not open, though some of its pages"
            " check out under the key your access file holds."
        )
    if dbmod.salt_damaged(path, access.db_key):
        return DatabaseDamagedError(
            "The vault's database is damaged: its salt (the first 16 bytes of vault.db)"
            " has been changed."
        )
    return WrongKeyError(
        "The vault's database does not open with the key your access file holds.",
        hint="your access may have been revoked; or the database was replaced or damaged:"
        " ask your team lead before restoring it from a backup",
    )


def _mismatch() -> IntegrityError:
    return IntegrityError("The vault's team keys do not match the keys it was opened with.")


def open_access(
    directory: Path,
    identity: Identity,
    path: Path,
    trusted: frozenset[bytes],
    whose: str,
    *,
    member: bool = True,
) -> Opened:
    """Open the database with the access file at ``path`` (or its pending successor).

    Finishes or undoes an interrupted key change (see the module docstring). The writer of
    the access file used must be a current caseworker of the database it opens; so must
    ``identity``, when it is a caseworker's (``member``) rather than the recovery key's.
    """
    with locked(directory):
        data = read_small_file(path, "access file")
        access = unwrap_access(data, identity, trusted, own_file=member)
        mine = sorted(
            (
                (e, p, m)
                for p, e, m in _pending_files(directory)
                if p.name.startswith(path.name + PENDING)
            ),
            reverse=True,
        )
        try:
            db = schema.connect(directory / DB_FILE, access.db_key)
        except WrongKeyError:
            if not mine:
                raise _damaged(directory / DB_FILE, access) from None
            # Step 3 of a key change happened: the database is under the new key.
            data = read_small_file(mine[0][1], "access file")
            access = unwrap_access(data, identity, trusted, own_file=member)
            try:
                db = schema.connect(directory / DB_FILE, access.db_key)
            except WrongKeyError:
                raise _damaged(directory / DB_FILE, access) from None
        try:
            with dbmod.explained(directory):  # a page damaged past page 1 shows up here
                if member:
                    _check_member(db, identity)
                stored = stored_team_keys(db)
                if not matches(access, stored):
                    # Step 2 committed but step 3 or 4 did not: finish with the pending file.
                    pending = [p for e, p, m in mine if _committed(e, m, stored)]
                    if not pending:
                        raise _mismatch()
                    following_data = read_small_file(pending[0], "access file")
                    following = unwrap_access(following_data, identity, trusted, own_file=member)
                    if not matches(following, stored):
                        raise _mismatch()
                    check_writer(db, access_writer(following_data), whose)
                    if following.db_key != access.db_key:
                        dbmod.rekey(db, following.db_key)
                    data, access = following_data, following
                check_writer(db, access_writer(data), whose)
                settle(directory, db)
        except BaseException:
            db.close()
            raise
    return Opened(access, db)


def require_current(access: Access, db: dbmod.Connection) -> None:
    """Refuse a key change (or a wrap of the keys) made with keys another process has replaced.

    Call it holding :func:`locked`. Without it, two caseworkers changing keys at about the
    same time could each wrap what they read at unlock, and the later one's pending files
    would replace the earlier one's good ones.
    """
    if not matches(access, stored_team_keys(db)):
        raise VaultError(
            "The vault's keys changed since you unlocked it (another caseworker changed them);"
            " nothing was changed. Run the command again."
        )


def _check_member(db: dbmod.Connection, identity: Identity) -> None:
    row = db.execute(
        "SELECT revoked FROM caseworkers WHERE key_id = ? AND sign_pk = ?",
        (identity.key_id, identity.public.sign_pk),
    ).fetchone()
    if row is None or row[0] is not None:
        raise WrongKeyError(f"{identity.name} is not a current caseworker of this vault.")


def settle(directory: Path, db: dbmod.Connection) -> None:
    """Step 4, or tidying after a crash: pending files the database has committed are renamed
    into place, any others deleted; revoked caseworkers' files are removed. Call locked."""
    stored = stored_team_keys(db)
    pending = _pending_files(directory)
    for path, epoch, mark in pending:
        if _committed(epoch, mark, stored):
            tail = f"{PENDING}-{epoch}" + ("" if mark is None else f"-{mark}")
            move_into_place(path, path.with_name(path.name[: -len(tail)]))
        else:
            path.unlink()
    if pending:
        fsync_dir(directory / CASEWORKERS_DIR)
        fsync_dir(directory)
    people = directory / CASEWORKERS_DIR
    gone = False
    for (name,) in db.execute("SELECT name FROM caseworkers WHERE revoked IS NOT NULL"):
        for suffix in (".access", ".key"):
            target = people / f"{name}{suffix}"
            if target.exists():
                target.unlink()
                gone = True
    if gone:
        fsync_dir(people)


def write_pending(
    directory: Path,
    db: dbmod.Connection,
    new: Access,
    writer: Identity,
    *,
    leaving: frozenset[str] = frozenset(),
    name_key: bool = False,
) -> None:
    """Step 1: wrap ``new`` to every current caseworker but ``leaving``, and to recovery.
    ``name_key``: the change's newest epoch may be one the database holds already, with
    another key (settling), so the pending files' names also name the new key
    (:func:`pending_path`)."""
    mark = new.current.public_key if name_key else None
    # Caseworkers on their own laptops (vault/sync.py) hold their own database key: this
    # folder's keys are never wrapped to them.
    synced = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sync_origins'").fetchone()
    elsewhere = (
        {str(k) for (k,) in db.execute("SELECT key_id FROM sync_origins")} if synced else set()
    ) - {writer.key_id}
    for name, sign_pk, box_pk in db.execute(
        "SELECT name, sign_pk, box_pk FROM caseworkers WHERE revoked IS NULL ORDER BY name"
    ):
        if name in leaving:
            continue
        person = CaseworkerPublic(str(name), bytes(sign_pk), bytes(box_pk))
        if person.key_id in elsewhere:
            continue
        replace_private_file(
            pending_path(access_path(directory, person.name), new.current.epoch, mark),
            wrap_access(new, person, writer),
        )
    recovery = read_recovery_public(directory, db)
    if recovery is not None:
        # Re-signed by the writer, who stays a current caseworker whatever happens next
        # (whoever signed it before may be the one leaving).
        replace_private_file(
            directory / RECOVERY_PUBLIC,
            recovery_public_bytes(recovery.public, recovery.threshold, recovery.shares, writer),
        )
        replace_private_file(
            pending_path(directory / RECOVERY_ACCESS, new.current.epoch, mark),
            wrap_access(new, recovery.public, writer),
        )


# --- the recovery public key ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecoveryPublic:
    public: CaseworkerPublic
    threshold: int
    shares: int


def recovery_public_bytes(
    recovery: CaseworkerPublic, threshold: int, shares: int, writer: Identity
) -> bytes:
    """``recovery.pub``: the recovery key's public halves, signed by the caseworker who split it.

    Key changes wrap the new access to this key, so that recovery shares keep opening every
    epoch; the signature (checked against the current caseworkers) stops anyone who can
    only write files from slipping in a key of their own.
    """
    doc = {
        "kind": RECOVERY_PUBLIC_KIND,
        "v": 1,
        "box_pk": b64(recovery.box_pk),
        "sign_pk": b64(recovery.sign_pk),
        "threshold": threshold,
        "shares": shares,
        "writer": b64(writer.public.sign_pk),
    }
    body = json.dumps(doc, sort_keys=True).encode()
    doc["signature"] = b64(writer.sign(RECOVERY_PUBLIC_CONTEXT + body))
    return (json.dumps(doc, indent=2) + "\n").encode()


def read_recovery_public(directory: Path, db: dbmod.Connection) -> RecoveryPublic | None:
    path = directory / RECOVERY_PUBLIC
    if not path.exists():
        return None
    refused = IntegrityError(
        "The vault's recovery key file has been changed or was not written by a current"
        " caseworker.",
        hint="make new recovery shares with: vault recovery split",
    )
    try:
        doc = json.loads(read_small_file(path, "recovery key file"))
        if doc.get("kind") != RECOVERY_PUBLIC_KIND or doc.get("v") != 1:
            raise ValueError
        signature = unb64(doc.pop("signature"), 64)
        writer = unb64(doc["writer"], 32)
        body = json.dumps(doc, sort_keys=True).encode()
        _crypto.verify(signature, RECOVERY_PUBLIC_CONTEXT + body, writer)
        public = CaseworkerPublic(
            RECOVERY_NAME, unb64(doc["sign_pk"], 32), unb64(doc["box_pk"], 32)
        )
        threshold, shares = int(doc["threshold"]), int(doc["shares"])
    except (ValueError, KeyError, TypeError, AttributeError, _crypto.OpenFailed):
        raise refused from None
    if writer not in current_signers(db):
        raise refused
    return RecoveryPublic(public, threshold, shares)
