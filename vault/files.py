"""Files that are born private: directories 0700, files 0600, written atomically.

Every file the vault writes goes through here. Opening an existing vault
checks that nothing in it is readable by anyone but its owner.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vault.errors import DiskFullError, UnsafePermissionsError, VaultError

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) as 0700; tighten it if it already exists and is ours."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise VaultError(f"{path} is a file, not a folder: choose a folder.") from None
    except OSError as e:
        raise disk_full(e, path.parent) or e from None
    os.chmod(path, DIR_MODE)


def disk_full(error: OSError, folder: Path) -> DiskFullError | None:
    """A :class:`DiskFullError` naming ``folder``'s disk if ``error`` is ENOSPC (or EDQUOT)."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        while folder.name.startswith(".") and folder.parent != folder:  # a working folder
            folder = folder.parent
        where = "the vault" if (folder / "vault.db").exists() else str(folder)
        return DiskFullError(
            f"The disk holding {where} is full.",
            hint="free some space on that disk, then run the command again;"
            " nothing was half-written",
        )
    return None


def make_private_temp_dir(parent: Path | None, prefix: str) -> Path:
    """A new, uniquely named 0700 directory in ``parent`` (None: the system's temporary
    folder); the caller removes or renames it."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def move_into_place(source: Path, target: Path) -> None:
    """Rename ``source`` over ``target`` atomically (same file system; an empty directory may
    be replaced). The caller fsyncs the directory, once for a batch of moves."""
    os.replace(source, target)


def create_private_file(path: Path, data: bytes) -> None:
    """Create a new 0600 file exclusively (never overwriting), fsync it and its directory.

    A full disk raises :class:`DiskFullError`, and the part written is removed: a file made
    here is either whole or absent.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except OSError as e:
        raise disk_full(e, path.parent) or e from None
    try:
        try:
            os.fchmod(fd, FILE_MODE)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException as e:
        path.unlink(missing_ok=True)  # ours: created exclusively above
        if isinstance(e, OSError):
            raise disk_full(e, path.parent) or e from None
        raise
    fsync_dir(path.parent)


def write_new_file(path: Path, data: bytes, *, instead: str = "name") -> None:
    """:func:`create_private_file`, each failure one plain sentence (a :class:`VaultError`):
    a file already there (choose another ``instead``), a missing folder, a folder this
    account may not write in, anything else; a full disk is :class:`DiskFullError`."""
    try:
        create_private_file(path, data)
    except FileExistsError:
        raise VaultError(f"{path} already exists; choose another {instead}.") from None
    except FileNotFoundError:
        raise VaultError(f"The folder for {path} does not exist.") from None
    except PermissionError:
        raise VaultError(f"This account may not write {path}.") from None
    except OSError:
        raise VaultError(f"Could not write {path}.") from None


def replace_private_file(path: Path, data: bytes) -> None:
    """Write a 0600 file atomically: a private temporary beside it, then rename over.

    A temporary that a killed process left beside it (its process id is no longer running)
    is removed first."""
    _remove_orphaned_temporaries(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        create_private_file(tmp, data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)


def _remove_orphaned_temporaries(path: Path) -> None:
    for left in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = left.name[len(path.name) + 2 : -len(".tmp")]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:  # its writer is gone
            with contextlib.suppress(OSError):
                left.unlink()
        except OSError:  # running, as another user
            continue


def touch_private_file(path: Path) -> None:
    """Create an empty 0600 file if it does not exist (so SQLite inherits the mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def check_private_tree(root: Path) -> None:
    """Refuse a vault whose directory or files other users could read or change."""
    for path in [root, *sorted(root.rglob("*"))]:
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue  # e.g. a -journal file SQLite removed while we looked
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePermissionsError(
                f"{_shown(root, path)} in the vault is a symbolic link, which the vault refuses.",
                hint="replace it with the real file",
            )
        if st.st_uid != os.getuid():
            raise UnsafePermissionsError(
                f"{_shown(root, path)} is owned by another user.",
                hint="the vault must belong to the account that uses it",
            )
        if st.st_mode & 0o077:
            wanted = "700" if stat.S_ISDIR(st.st_mode) else "600"
            raise UnsafePermissionsError(
                f"{_shown(root, path)} can be read or changed by other users "
                f"(mode {stat.S_IMODE(st.st_mode):o}).",
                hint=f"run: chmod {wanted} '{path}'",
            )


def _shown(root: Path, path: Path) -> str:
    if path == root:
        return f"the vault directory {root}"
    return f"'{path.relative_to(root)}'"


def read_small_file(path: Path, what: str, limit: int = 1 << 20, *, pipes: bool = False) -> bytes:
    """Read a small file, refusing anything larger than ``limit`` with a plain error.

    Only a regular file is read (:func:`open_regular_file`). With ``pipes`` (a passphrase
    file, which a script may give as ``<(command)`` or ``/dev/stdin``), a pipe or a
    character device is read too, waiting for its writer as the caller asked.
    """
    with open_regular_file(path, what, pipes=pipes) as f:
        try:
            data = f.read(limit + 1)
        except OSError:
            raise VaultError(f"Could not read the {what} at {path}.") from None
    if len(data) > limit:
        raise VaultError(f"{path} is too large to be a {what}.")
    return data


def open_regular_file(path: Path, what: str, *, pipes: bool = False) -> BinaryIO:
    """Open a regular file for reading; the caller closes it.

    It is opened without blocking (a FIFO would otherwise wait for a writer for ever) and
    refused by what it is, found from the open file itself, so that nothing can swap it
    between the look and the read. ``pipes``: see :func:`read_small_file`.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | (0 if pipes else os.O_NONBLOCK))
    except FileNotFoundError:
        raise VaultError(f"There is no {what} at {path}.") from None
    except PermissionError:
        raise VaultError(f"This account may not read the {what} at {path}.") from None
    except OSError:
        raise VaultError(f"Could not read the {what} at {path}.") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            article = "an" if what[:1] in "aeiou" else "a"
            raise VaultError(f"{path} is a directory, not {article} {what}.")
        piped = pipes and (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode))
        if not stat.S_ISREG(mode) and not piped:
            raise VaultError(f"{path} is not a regular file.")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except OSError:
        os.close(fd)
        raise VaultError(f"Could not read the {what} at {path}.") from None
    except BaseException:
        os.close(fd)
        raise


def open_new_private_file(path: Path) -> BinaryIO:
    """A new 0600 file, created exclusively (never overwriting, never through a symlink).

    The caller writes and closes it; a failure here is a plain :class:`VaultError`.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        raise VaultError(f"{path} already exists; choose another name.") from None
    except FileNotFoundError:
        raise VaultError(f"The folder for {path} does not exist.") from None
    except (PermissionError, IsADirectoryError):
        raise VaultError(f"This account may not write {path}.") from None
    except OSError:
        raise VaultError(f"Could not create {path}.") from None
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


# --- work that a crash may interrupt ----------------------------------------------------------
#
# A long write (a backup, a restore) works in a private folder or file with a fixed,
# recognisable name, locked (flock) by the process using it. A process killed with SIGKILL
# cannot tidy up, but its lock goes with it: the next run finds the unlocked leftover by its
# name and removes or reuses it, and never touches one another process is still using.


@contextmanager
def claimed_temp_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A new private folder in ``parent`` named ``prefix`` + random, locked while the block
    runs and removed after it. One left by a killed process is unlocked:
    :func:`remove_unclaimed_dirs` removes it."""
    while True:
        path = make_private_temp_dir(parent, prefix)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _still_at(fd, path):
            break
        os.close(fd)  # a tidier took it between its making and our lock: make another
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


@contextmanager
def folder_locked(path: Path) -> Iterator[None]:
    """The folder ``path`` locked against another process asking the same, while the block
    runs (flock on the folder itself: no file is made, and a killed process's lock goes with
    it). A second process waits."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def remove_unclaimed_dirs(parent: Path, prefix: str) -> int:
    """Remove every folder in ``parent`` whose name starts with ``prefix`` and that no process
    holds (see :func:`claimed_temp_dir`); how many were removed."""
    removed = 0
    for path in leftover_dirs(parent, prefix):
        with claim_leftover_dir(path) as claimed:
            if claimed:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
    return removed


@contextmanager
def claim_leftover_dir(path: Path) -> Iterator[bool]:
    """Lock a leftover folder for tidying: yields whether it is free (no process holds it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield _still_at(fd, path)
    finally:
        os.close(fd)


def leftover_dirs(parent: Path, prefix: str) -> list[Path]:
    """The folders in ``parent`` whose names start with ``prefix`` (in use or left over)."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    return sorted(
        Path(e.path)
        for e in entries
        if e.name.startswith(prefix) and e.is_dir(follow_symlinks=False)
    )


def _still_at(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except OSError:
        return False


UNFINISHED_SUFFIX = ".unfinished"


def unfinished_name(target: Path) -> Path:
    """Where a new file is written until it is complete: ``.NAME.unfinished`` beside it."""
    return target.with_name(f".{target.name}{UNFINISHED_SUFFIX}")


@dataclass
class UnfinishedFile:
    """A new file being written beside its target (see :func:`new_file_when_complete`)."""

    path: Path
    file: BinaryIO
    #: an unfinished file left by an interrupted run was found and is being reused
    reused: bool


@contextmanager
def new_file_when_complete(target: Path) -> Iterator[UnfinishedFile]:
    """Write a new 0600 file that appears under ``target`` only when complete.

    The block writes ``.NAME.unfinished`` beside it (locked while written, so two runs never
    share it; one left unlocked by a killed run is reused). When the block ends without an
    error, the file is fsynced and linked to ``target`` (never over an existing file), the
    temporary name removed and the folder fsynced. On an error it is removed.
    """
    if os.path.lexists(target):
        raise VaultError(f"{target} already exists; choose another name.")
    pending = _open_unfinished(target)
    try:
        try:
            yield pending
            pending.file.flush()
            os.fsync(pending.file.fileno())
            _link_new(pending.path, target)
        except BaseException as e:
            pending.path.unlink(missing_ok=True)
            full = disk_full(e, target.absolute().parent) if isinstance(e, OSError) else None
            if full is not None:  # name the disk the new file is on, not the vault's
                raise full from None
            raise
        fsync_dir(target.absolute().parent)
    finally:
        # releases the lock; what was written is already fsynced, or the file already gone
        with contextlib.suppress(OSError):
            pending.file.close()


def remove_unfinished_file(path: Path) -> bool:
    """Remove ``path`` if it is an unfinished file (see :func:`new_file_when_complete`) that
    no process is writing; whether it was removed."""
    if not path.name.endswith(UNFINISHED_SUFFIX):
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if not _still_at(fd, path):
            return False
        path.unlink()
        fsync_dir(path.absolute().parent)
        return True
    finally:
        os.close(fd)


def _open_unfinished(target: Path) -> UnfinishedFile:
    path = unfinished_name(target)
    for _ in range(3):
        reused = False
        try:
            try:
                fd = os.open(path, _UNFINISHED_FLAGS | os.O_CREAT | os.O_EXCL, FILE_MODE)
            except FileExistsError:
                fd = os.open(path, _UNFINISHED_FLAGS)
                reused = True
        except FileNotFoundError:
            raise VaultError(f"The folder for {target} does not exist.") from None
        except (PermissionError, IsADirectoryError):
            raise VaultError(f"This account may not write {target}.") from None
        except OSError:
            raise VaultError(f"Could not create {target}.") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
                raise VaultError(f"{path} is in the way of {target}; move it away.")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise VaultError(f"Another run is writing {target} now.") from None
            if not _still_at(fd, path):
                os.close(fd)
                continue  # removed by a tidier as we opened it: start again
            os.fchmod(fd, FILE_MODE)
            os.ftruncate(fd, 0)
        except BaseException:
            os.close(fd)
            raise
        return UnfinishedFile(path, os.fdopen(fd, "wb"), reused)
    raise VaultError(f"Could not create {target}.")


_UNFINISHED_FLAGS = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def _link_new(source: Path, target: Path) -> None:
    """Give ``source`` the name ``target`` (never replacing a file there), then drop ``source``.

    A hard link is atomic and refuses an existing target; file systems without hard links
    (FAT on USB sticks, some network drives) get a checked rename instead.
    """
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        raise VaultError(f"{target} already exists; choose another name.") from None
    except OSError:
        if os.path.lexists(target):
            raise VaultError(f"{target} already exists; choose another name.") from None
        os.rename(source, target)
        return
    source.unlink()
