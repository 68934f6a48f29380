"""Small file systems the harness makes itself: a full disk, a disk mounted ``sync``.

Mounting needs root. Where the harness is not root, or the kernel refuses the mount (a
container without the capability, no loop devices), the test is skipped with the reason;
it never runs on the ordinary disk and calls that a pass.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

FILLER = "filler"


def _mount(args: list[str], what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root to mount a small file system; not root here")
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"{what}: `{' '.join(args)}` failed: {result.stderr.strip()}")


def _unmount(point: Path) -> None:
    subprocess.run(["umount", str(point)], capture_output=True, check=False)
    if os.path.ismount(point):  # something still has a file open there: detach it
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


@contextlib.contextmanager
def tmpfs(point: Path, size_kib: int) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` at ``point`` (made 0700), unmounted afterwards."""
    point.mkdir(mode=0o700, exist_ok=True)
    _mount(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(point)],
        "the full-disk test",
    )
    try:
        yield point
    finally:
        _unmount(point)


@contextlib.contextmanager
def ext4_image(point: Path, size_mib: int, options: str = "") -> Iterator[Path]:
    """An ext4 file system in a file beside ``point``, loop-mounted there with ``options``.

    The image stays beside ``point`` (in the test's temporary directory) after unmounting,
    and a second call mounts the same file system again."""
    image = point.with_name(point.name + ".img")
    if not image.exists():
        with open(image, "wb") as f:
            f.truncate(size_mib << 20)
        made = subprocess.run(
            ["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True, check=False
        )
        if made.returncode != 0:
            pytest.skip(f"mkfs.ext4 is not usable here: {made.stderr.strip()}")
    point.mkdir(mode=0o700, exist_ok=True)
    mount_options = ",".join(o for o in ("loop", options) if o)
    _mount(["mount", "-o", mount_options, str(image), str(point)], f"an ext4 image ({options})")
    try:
        os.chmod(point, 0o700)
        yield point
    finally:
        _unmount(point)


def fill(point: Path) -> int:
    """Write a filler file on ``point`` until the file system says it is full; its size."""
    path = point / FILLER
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * chunk
            while True:
                try:
                    written += os.write(fd, block)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
    return written


def free(point: Path) -> None:
    (point / FILLER).unlink()
