"""Backups: one encrypted file holding a consistent copy of the whole vault, and restoring it.

A backup is fit to keep on a USB stick or a cloud drive: everything in it is encrypted
and authenticated under a random **backup key**, and that key is wrapped twice in the
file's header:

* to the **passphrase** of the caseworker who made it (Argon2id, as a key file), and
* to the vault's **recovery key**, if shares have been made (``vault recovery split``),
  so that a backup still opens when every passphrase is lost.

The header carries a checksum (format version 2), and its key slots' Argon2id limits
must be the ones Redress writes, so a damaged or changed header is named as such (exit 4)
at once, before any passphrase work, and a wrong passphrase is told apart from it.
Version 1 backups, without the checksum, are still read (``docs/format.md`` gives what
they cannot tell apart).

Making a backup works in a private folder in the vault (``.backup-XXXX``, holding a copy
of the database) and writes the file as ``.NAME.unfinished`` beside its target, renamed to
NAME only when complete. Both are locked while in use; a run killed part-way leaves them
unlocked, and the next ``vault backup`` or ``vault check`` removes them (the next backup to
the same name reuses the unfinished file).

Restoring reads the whole file and checks every byte *before* writing anything, then
writes into a private folder beside the target (``.NAME.restoring-XXXX``, locked while in
use, its database under a temporary name so it is not taken for a vault) and renames it
into place, so a damaged or changed backup, or a killed restore, never leaves a
half-restored vault; the next restore to the same place removes what a killed one left.
``docs/format.md`` ("The backup file") gives the bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vault import _crypto
from vault import db as dbmod
from vault._crypto import SecretBytes
from vault.errors import (
    BackupHeaderError,
    IntegrityError,
    UsageError,
    VaultError,
    VaultExistsError,
    WrongKeyError,
    WrongPassphraseError,
)
from vault.files import (
    DIR_MODE,
    claim_leftover_dir,
    claimed_temp_dir,
    create_private_file,
    fsync_dir,
    leftover_dirs,
    make_private_dir,
    move_into_place,
    new_file_when_complete,
    open_new_private_file,
    open_regular_file,
    read_small_file,
    remove_unclaimed_dirs,
    remove_unfinished_file,
    unfinished_name,
)
from vault.keychange import (
    CASEWORKERS_DIR,
    DB_FILE,
    RECOVERY_ACCESS,
    RECOVERY_PUBLIC,
    locked,
    read_recovery_public,
    require_current,
)
from vault.keys import DEFAULT_KDF, Identity, KdfParams, b64, unb64, validate_name
from vault.passphrase import Passphrase
from vault.places import check_new_vault_place
from vault.store import Vault, today

MAGIC_NAME = b"redress backup\x00"  # then one byte: the format version
VERSION = 2  # version 1: no header checksum (still read)
MAGIC = MAGIC_NAME + bytes([VERSION])
READ_VERSIONS = (1, 2)
KIND = "redress-backup"
CHUNK = 1 << 16
SEALED_CHUNK = CHUNK + _crypto.STREAM_ABYTES
MAX_HEADER = 64 * 1024
PASSPHRASE_SLOT_AD = b"redress backup passphrase slot v1\x00"
RECOVERY_SLOT_PURPOSE = b"redress backup key v1\x00"
HEADER_HASH_PURPOSE = "redress backup header v1"
HEADER_CHECK_PURPOSE = "redress backup header check v2"
HEADER_CHECK_BYTES = 32
PASSPHRASE_SLOT_BYTES = _crypto.AEAD_NONCE_BYTES + _crypto.STREAM_KEY_BYTES + 16  # nonce, key, tag
RECOVERY_SLOT_BYTES = _crypto.SEAL_OVERHEAD + len(RECOVERY_SLOT_PURPOSE) + _crypto.STREAM_KEY_BYTES
MAX_NAME = 200
#: The Argon2id limits a backup's passphrase slot may ask for: libsodium's MODERATE (what
#: Redress writes) to SENSITIVE. Anything else is a damaged or changed header, refused before
#: the KDF runs (a raised limit could otherwise take minutes, or all the memory).
MIN_KDF = KdfParams(_crypto.PWHASH_OPSLIMIT_MODERATE, _crypto.PWHASH_MEMLIMIT_MODERATE)
MAX_KDF = KdfParams(opslimit=4, memlimit=1 << 30)

#: The working folder of a backup in progress, in the vault folder: ``.backup-XXXX``.
WORK_PREFIX = ".backup-"
#: In that folder: the path of the unfinished backup file it is writing.
OUTPUT_RECORD = "output"
#: The database's name in a restore's working folder until the restore is complete.
DB_RESTORING = f"{DB_FILE}.restoring"


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """What a backup holds, without anything secret: for the caseworker to read."""

    files: int
    size: int
    caseworkers: tuple[str, ...]
    recovery: bool


# --- writing ------------------------------------------------------------------------------


def _vault_files(directory: Path) -> list[tuple[str, Path]]:
    """The small files a backup carries beside the database, by their name in the backup."""
    people = directory / CASEWORKERS_DIR
    names = [
        (f"{CASEWORKERS_DIR}/{p.name}", p)
        for p in sorted(people.iterdir())
        if p.suffix in (".key", ".access") and not p.name.startswith(".")
    ]
    for extra in (RECOVERY_ACCESS, RECOVERY_PUBLIC):
        if (directory / extra).exists():
            names.append((extra, directory / extra))
    return names


def _read_files(directory: Path) -> dict[str, bytes]:
    return {name: read_small_file(path, "vault file") for name, path in _vault_files(directory)}


def make_backup(
    vault: Vault, out: Path, passphrase: Passphrase, kdf: KdfParams = DEFAULT_KDF
) -> int:
    """Write a backup of ``vault`` to the new file ``out``; returns its size in bytes.

    The database is copied with the SQLite backup API (consistent while others write),
    holding the vault folder's lock, so no key change is half done while the database and
    its key files are copied: they always belong together. The file appears under ``out``
    only when complete; what an interrupted backup left is removed first (see
    :func:`remove_unfinished`).
    """
    if not passphrase:
        raise UsageError("A backup needs your passphrase.")
    if not _kdf_allowed(kdf):
        raise UsageError("A backup's passphrase protection must be within Redress's limits.")
    directory = vault.directory
    remove_unfinished(directory)
    with claimed_temp_dir(directory, WORK_PREFIX) as work:  # 0700, inside the vault
        # Where the unfinished file is, so that `check` can remove it if this run is killed.
        create_private_file(work / OUTPUT_RECORD, os.fsencode(unfinished_name(out).absolute()))
        with new_file_when_complete(out) as pending:
            snapshot = work / DB_FILE
            # Under the folder's lock no key change can be between its steps, so the
            # snapshot and the key files copied with it belong together.
            with locked(directory):
                require_current(vault.access, vault.db)
                dbmod.backup_to(vault.db, snapshot, vault.access.db_key)
                files = _read_files(directory)
            backup_key = SecretBytes(_crypto.random_bytes(_crypto.STREAM_KEY_BYTES), "backup key")
            prefix = header_prefix(_header(backup_key, passphrase, kdf, directory, vault))
            _write_stream(pending.file, prefix, backup_key, snapshot, files)
    size = out.stat().st_size
    with vault.transaction() as db:
        digest = _crypto.tagged_hash(HEADER_HASH_PURPOSE, prefix)
        vault.log_action(db, "backup-made", subject=digest[:8].hex(), commit=digest)
    return size


def remove_unfinished(directory: Path) -> bool:
    """Remove what backups of the vault in ``directory`` that were killed part-way left: their
    working folders (each a copy of the database) and their unfinished files beside the
    backup's name. Never touches a backup still running. Whether anything was removed."""
    removed = False
    for work in leftover_dirs(directory, WORK_PREFIX):
        with claim_leftover_dir(work) as free:
            if not free:
                continue  # another backup is running
            try:
                output = read_small_file(work / OUTPUT_RECORD, "backup record", limit=8192)
            except VaultError:
                output = b""
            if output:
                remove_unfinished_file(Path(os.fsdecode(output)))
            shutil.rmtree(work, ignore_errors=True)
            removed = True
    if removed:
        fsync_dir(directory)
    return removed


def remove_unfinished_output(out: Path) -> bool:
    """Remove the unfinished file a killed backup to ``out`` left beside it, unless a backup
    is writing it now; whether there was one. (The next backup to ``out`` would reuse it.)"""
    return remove_unfinished_file(unfinished_name(out))


def _header(
    backup_key: SecretBytes,
    passphrase: Passphrase,
    kdf: KdfParams,
    directory: Path,
    vault: Vault,
) -> bytes:
    salt = _crypto.random_bytes(_crypto.PWHASH_SALT_BYTES)
    kek = _crypto.argon2id(passphrase, salt, kdf.opslimit, kdf.memlimit)
    slots: list[dict[str, object]] = [
        {
            "kind": "passphrase",
            "kdf": {
                "alg": "argon2id13",
                "opslimit": kdf.opslimit,
                "memlimit": kdf.memlimit,
                "salt": b64(salt),
            },
            "sealed": b64(_crypto.aead_encrypt(kek, backup_key.reveal(), PASSPHRASE_SLOT_AD)),
        }
    ]
    recovery = read_recovery_public(directory, vault.db)
    if recovery is not None:
        sealed = _crypto.seal(RECOVERY_SLOT_PURPOSE + backup_key.reveal(), recovery.public.box_pk)
        slots.append(
            {"kind": "recovery", "box_pk": b64(recovery.public.box_pk), "sealed": b64(sealed)}
        )
    doc = {"kind": KIND, "v": VERSION, "created": today(), "slots": slots}
    return json.dumps(doc, sort_keys=True).encode()


def header_check(version_prefix: bytes) -> bytes:
    """The version 2 header checksum, over magic, length and header."""
    return _crypto.tagged_hash(HEADER_CHECK_PURPOSE, version_prefix)


def header_prefix(header: bytes) -> bytes:
    """Every byte before the stream: magic, length, header and (version 2) its checksum."""
    head = MAGIC + struct.pack(">I", len(header)) + header
    return head + header_check(head)


def _kdf_allowed(kdf: KdfParams) -> bool:
    return (
        MIN_KDF.opslimit <= kdf.opslimit <= MAX_KDF.opslimit
        and MIN_KDF.memlimit <= kdf.memlimit <= MAX_KDF.memlimit
    )


def _entries(snapshot: Path, files: dict[str, bytes]) -> Iterator[bytes]:
    """The plaintext stream: each entry is name length (2), name, size (8), bytes; then 0000."""

    def entry_head(name: str, size: int) -> bytes:
        raw = name.encode()
        return struct.pack(">H", len(raw)) + raw + struct.pack(">Q", size)

    yield entry_head(DB_FILE, snapshot.stat().st_size)
    with open(snapshot, "rb") as f:
        while piece := f.read(CHUNK):
            yield piece
    for name, data in files.items():
        yield entry_head(name, len(data))
        yield data
    yield struct.pack(">H", 0)


def _write_stream(
    out: BinaryIO, prefix: bytes, key: SecretBytes, snapshot: Path, files: dict[str, bytes]
) -> None:
    out.write(prefix)
    sealer = _crypto.StreamSealer(key)
    out.write(sealer.header)
    associated: bytes | None = _crypto.tagged_hash(HEADER_HASH_PURPOSE, prefix)
    buffer = bytearray()
    for piece in _entries(snapshot, files):
        buffer += piece
        while len(buffer) > CHUNK:
            out.write(sealer.push(bytes(buffer[:CHUNK]), associated))
            associated = None
            del buffer[:CHUNK]
    out.write(sealer.push(bytes(buffer), associated, final=True))


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PassphraseSlot:
    kdf: KdfParams
    salt: bytes
    sealed: bytes


@dataclass(frozen=True, slots=True)
class _RecoverySlot:
    box_pk: bytes
    sealed: bytes


@dataclass(frozen=True, slots=True)
class _Header:
    prefix: bytes  # every byte before the stream
    version: int
    passphrase: _PassphraseSlot
    recovery: _RecoverySlot | None


def _damaged(path: Path) -> IntegrityError:
    return IntegrityError(
        f"The backup {path} is damaged or has been changed; nothing was written.",
        hint="try another copy of the backup",
    )


def _damaged_header(path: Path, why: str = "is damaged or has been changed") -> BackupHeaderError:
    return BackupHeaderError(
        f"The header of the backup {path} {why}; nothing was written.",
        hint="try another copy of the backup",
    )


def _read_header(f: BinaryIO, path: Path) -> _Header:
    """The header, checked in full (checksum, structure, KDF limits) before any key work."""
    magic = f.read(len(MAGIC))
    if len(magic) != len(MAGIC) or magic[: len(MAGIC_NAME)] != MAGIC_NAME or not magic[-1]:
        raise VaultError(f"{path} is not a Redress backup.")
    version = magic[-1]
    if version not in READ_VERSIONS:
        raise VaultError(
            f"The backup {path} was made by a newer version of Redress.",
            hint="update Redress on this laptop",
        )
    raw_len = f.read(4)
    if len(raw_len) != 4:
        raise _damaged_header(path)
    (length,) = struct.unpack(">I", raw_len)
    if length > MAX_HEADER:
        raise _damaged_header(path)
    header = f.read(length)
    if len(header) != length:
        raise _damaged_header(path)
    prefix = magic + raw_len + header
    if version >= 2:
        check = f.read(HEADER_CHECK_BYTES)
        if check != header_check(prefix):
            raise _damaged_header(path)
        prefix += check
    try:
        doc = json.loads(header)
        if not isinstance(doc, dict) or doc.get("kind") != KIND or doc.get("v") != version:
            raise ValueError
        if not isinstance(doc.get("created"), str) or not isinstance(doc.get("slots"), list):
            raise ValueError
        passphrase, recovery = _slots(doc["slots"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise _damaged_header(path) from None
    kdf = passphrase.kdf
    if kdf.opslimit > MAX_KDF.opslimit or kdf.memlimit > MAX_KDF.memlimit:
        raise _damaged_header(path, "asks for more passphrase work than Redress ever uses")
    if kdf.opslimit < MIN_KDF.opslimit or kdf.memlimit < MIN_KDF.memlimit:
        raise _damaged_header(path, "asks for less passphrase work than Redress allows")
    return _Header(prefix, version, passphrase, recovery)


def _slots(slots: list[object]) -> tuple[_PassphraseSlot, _RecoverySlot | None]:
    """The key slots; ValueError (or KeyError, TypeError) if any is malformed or unknown."""
    passphrase: _PassphraseSlot | None = None
    recovery: _RecoverySlot | None = None
    for slot in slots:
        if not isinstance(slot, dict):
            raise ValueError
        if slot.get("kind") == "passphrase" and passphrase is None:
            kdf = slot["kdf"]
            if not isinstance(kdf, dict) or kdf.get("alg") != "argon2id13":
                raise ValueError
            ops, mem = kdf["opslimit"], kdf["memlimit"]
            if type(ops) is not int or type(mem) is not int:
                raise ValueError
            passphrase = _PassphraseSlot(
                KdfParams(opslimit=ops, memlimit=mem),
                unb64(kdf["salt"], _crypto.PWHASH_SALT_BYTES),
                unb64(slot["sealed"], PASSPHRASE_SLOT_BYTES),
            )
        elif slot.get("kind") == "recovery" and recovery is None:
            recovery = _RecoverySlot(
                unb64(slot["box_pk"], 32), unb64(slot["sealed"], RECOVERY_SLOT_BYTES)
            )
        else:
            raise ValueError
    if passphrase is None:
        raise ValueError
    return passphrase, recovery


def _key_from_passphrase(header: _Header, passphrase: Passphrase, path: Path) -> SecretBytes:
    slot = header.passphrase  # its limits were checked with the header, before this KDF
    kek = _crypto.argon2id(passphrase, slot.salt, slot.kdf.opslimit, slot.kdf.memlimit)
    try:
        raw = _crypto.aead_decrypt(kek, slot.sealed, PASSPHRASE_SLOT_AD)
    except _crypto.OpenFailed:
        raise WrongPassphraseError(
            "That passphrase does not open this backup.",
            hint="a backup opens with the passphrase of the caseworker who made it,"
            " or with recovery shares (--share)",
        ) from None
    return SecretBytes(raw, "backup key")


def _key_from_recovery(header: _Header, recovery: Identity, path: Path) -> SecretBytes:
    slot = header.recovery
    if slot is None:
        raise WrongKeyError(
            "This backup was made before recovery shares existed, so shares cannot open it.",
            hint="use the passphrase of the caseworker who made it",
        )
    box_pk = recovery.public.box_pk
    if slot.box_pk != box_pk:
        raise WrongKeyError("These recovery shares are not the ones this backup was made for.")
    try:
        plain = _crypto.seal_open(slot.sealed, box_pk, recovery.box_sk)
    except _crypto.OpenFailed:
        raise _damaged(path) from None
    if not plain.startswith(RECOVERY_SLOT_PURPOSE):
        raise _damaged(path)
    return SecretBytes(plain[len(RECOVERY_SLOT_PURPOSE) :], "backup key")


def _plaintext(f: BinaryIO, header: _Header, key: SecretBytes, path: Path) -> Iterator[bytes]:
    """Every plaintext chunk in order; raises if any byte fails, or the end is missing."""
    try:
        opener = _crypto.StreamOpener(key, f.read(_crypto.STREAM_HEADER_BYTES))
        associated: bytes | None = _crypto.tagged_hash(HEADER_HASH_PURPOSE, header.prefix)
        while True:
            chunk = f.read(SEALED_CHUNK)
            plain, final = opener.pull(chunk, associated)
            associated = None
            yield plain
            if final:
                break
    except _crypto.OpenFailed:
        raise _damaged(path) from None
    if f.read(1):
        raise _damaged(path)


class _Reader:
    """Reads exact byte counts across the plaintext chunks."""

    def __init__(self, chunks: Iterator[bytes], path: Path) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._path = path

    def take(self, n: int) -> bytes:
        while len(self._buffer) < n:
            nxt = next(self._chunks, None)
            if nxt is None:
                raise _damaged(self._path)
            self._buffer += nxt
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def pieces(self, n: int) -> Iterator[bytes]:
        while n > 0:
            if not self._buffer:
                nxt = next(self._chunks, None)
                if nxt is None:
                    raise _damaged(self._path)
                self._buffer = nxt
            piece, self._buffer = self._buffer[:n], self._buffer[n:]
            n -= len(piece)
            yield piece

    def at_end(self) -> bool:
        if self._buffer:
            return False
        return next(self._chunks, None) is None


def _allowed(name: str) -> bool:
    if name in (DB_FILE, RECOVERY_ACCESS, RECOVERY_PUBLIC):
        return True
    folder, _, file = name.partition("/")
    stem, dot, suffix = file.rpartition(".")
    if folder != CASEWORKERS_DIR or not dot or suffix not in ("key", "access"):
        return False
    try:
        return validate_name(stem) == stem
    except VaultError:
        return False


def _walk(path: Path, key: SecretBytes, write_to: Path | None) -> tuple[list[str], int]:
    """Read every entry, writing each under ``write_to`` if given; returns names and size."""
    names: list[str] = []
    total = 0
    with open_regular_file(path, "backup") as f:
        header = _read_header(f, path)
        reader = _Reader(_plaintext(f, header, key, path), path)
        while True:
            (length,) = struct.unpack(">H", reader.take(2))
            if length == 0:
                break
            try:
                name = reader.take(length).decode()
            except UnicodeDecodeError:
                raise _damaged(path) from None
            if length > MAX_NAME or not _allowed(name) or name in names:
                raise _damaged(path)
            (size,) = struct.unpack(">Q", reader.take(8))
            names.append(name)
            total += size
            if write_to is None:
                for _ in reader.pieces(size):
                    pass
                continue
            # The database under a temporary name until the restore is complete, so that a
            # killed restore leaves nothing that looks like a vault.
            with open_new_private_file(
                write_to / (DB_RESTORING if name == DB_FILE else name)
            ) as out:
                for piece in reader.pieces(size):
                    out.write(piece)
                out.flush()
                os.fsync(out.fileno())
        if not reader.at_end():
            raise _damaged(path)
    if DB_FILE not in names or not any(n.endswith(".access") for n in names):
        raise _damaged(path)
    return names, total


def _backup_key(
    path: Path, passphrase: Passphrase | None, recovery: Identity | None
) -> SecretBytes:
    if (passphrase is None) == (recovery is None):
        raise UsageError("Open a backup with either a passphrase or recovery shares.")
    with open_regular_file(path, "backup") as f:
        header = _read_header(f, path)
    if recovery is not None:
        return _key_from_recovery(header, recovery, path)
    assert passphrase is not None
    return _key_from_passphrase(header, passphrase, path)


def verify_backup(
    path: Path, *, passphrase: Passphrase | None = None, recovery: Identity | None = None
) -> BackupSummary:
    """Check every byte of a backup without writing anything."""
    key = _backup_key(path, passphrase, recovery)
    names, size = _walk(path, key, None)
    return _summary(names, size)


def _summary(names: list[str], size: int) -> BackupSummary:
    people = tuple(sorted(n.split("/", 1)[1][: -len(".key")] for n in names if n.endswith(".key")))
    return BackupSummary(len(names), size, people, RECOVERY_ACCESS in names)


def restore_backup(
    path: Path,
    target: Path,
    *,
    passphrase: Passphrase | None = None,
    recovery: Identity | None = None,
) -> BackupSummary:
    """Restore a backup into ``target``, which must not exist or be empty.

    The backup is read and checked in full first; only then is anything written, into a
    private folder beside ``target`` that is renamed into place when complete.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise VaultExistsError(
            f"{target} is not empty; restore into a new folder.",
            hint="a restore never writes over an existing vault",
        )
    check_new_vault_place(target)
    key = _backup_key(path, passphrase, recovery)
    _walk(path, key, None)  # every byte authenticated before anything is written
    parent = target.absolute().parent
    if not parent.is_dir():
        raise VaultError(f"The folder for {target} does not exist.")
    remove_unfinished_restore(target)
    with claimed_temp_dir(parent, _restoring_prefix(target)) as work:
        os.chmod(work, DIR_MODE)
        make_private_dir(work / CASEWORKERS_DIR)
        names, size = _walk(path, key, work)  # checked again as it is written
        fsync_dir(work / CASEWORKERS_DIR)
        if target.exists():
            target.rmdir()
        # Only now, every byte written and synced, does the folder take a vault's shape; a
        # kill in the moment before it is renamed into place leaves a whole vault there,
        # which the next restore to ``target`` removes.
        move_into_place(work / DB_RESTORING, work / DB_FILE)
        fsync_dir(work)
        move_into_place(work, target)
        fsync_dir(parent)
    return _summary(names, size)


def _restoring_prefix(target: Path) -> str:
    return f".{target.absolute().name}.restoring-"


def remove_unfinished_restore(target: Path) -> bool:
    """Remove what restores into ``target`` that were killed part-way left beside it (never
    one still running); whether there was anything."""
    parent = target.absolute().parent
    removed = remove_unclaimed_dirs(parent, _restoring_prefix(target)) > 0
    if removed:
        fsync_dir(parent)
    return removed
