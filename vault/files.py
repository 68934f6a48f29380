"""Files that are born private: directories 0700, files 0600, written atomically.

Every file the vault writes goes through here. Opening an existing vault
checks that nothing in it is readable by anyone but its owner.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
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
        return DiskFullError(
            f"The disk holding {folder} is full.",
            hint="free some space on that disk, then run the command again;"
            " nothing was half-written",
        )
    return None


def make_private_temp_dir(parent: Path, prefix: str) -> Path:
    """A new, uniquely named 0700 directory in ``parent``; the caller removes or renames it."""
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


def replace_private_file(path: Path, data: bytes) -> None:
    """Write a 0600 file atomically: a private temporary beside it, then rename over."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        create_private_file(tmp, data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)


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
    """Read a file that should be small (a key file, an envelope), with a plain error if not.

    Only a regular file is read. It is opened without blocking (a FIFO would otherwise wait
    for a writer for ever) and refused by what it is, found from the open file itself, so
    that nothing can swap it between the look and the read. With ``pipes`` (a passphrase
    file, which a script may give as ``<(command)`` or ``/dev/stdin``), a pipe or a
    character device is read too, waiting for its writer as the caller asked.
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
            raise VaultError(f"{path} is a directory, not a {what}.")
        piped = pipes and (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode))
        if not stat.S_ISREG(mode) and not piped:
            raise VaultError(f"{path} is not a regular file.")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as f:
            fd = -1  # the file object closes it
            data = f.read(limit + 1)
    except OSError:
        raise VaultError(f"Could not read the {what} at {path}.") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limit:
        raise VaultError(f"{path} is too large to be a {what}.")
    return data


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
