"""What kill -9 cannot show about a power cut, tested as far as a test can.

A kill -9 leaves the kernel's page cache intact, so what a killed command wrote is still
read back even if it never reached the disk. Here the vault lives on an ext4 image the test
loop-mounts with ``-o sync`` (every write goes to the image before the call returns), and
after every kill the page cache is dropped (``/proc/sys/vm/drop_caches``), so the checks
read what is on the image. At the end the image is unmounted and mounted again and read a
last time. Needs root (skipped otherwise, with the reason). The reasoning for a real power
cut, from SQLite's and SQLCipher's guarantees and our fsync order, is in
docs/reliability.md, "Power loss".
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.faults import disks
from tests.faults.conftest import World, scale
from tests.faults.killer import KillLoop

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def drop_page_cache() -> None:
    os.sync()  # drop_caches drops only clean pages: write the dirty ones first
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def test_kills_on_a_sync_mount_with_the_page_cache_dropped(
    world: World, loop: KillLoop, tmp_path: Path
) -> None:
    if os.geteuid() != 0 or not os.access("/proc/sys/vm/drop_caches", os.W_OK):
        pytest.skip("dropping the page cache needs root and a writable /proc/sys/vm")
    point = tmp_path / "disk"
    with disks.ext4_image(point, 64, "sync") as disk:
        vault = disk / "vault-data"
        shutil.copytree(world.vault, vault, symlinks=True)
        loop.env["VAULT_DIR"] = str(vault)
        names, _ = world.envelope_files(3)
        span = world.timed("import", *names, "--vault", str(vault))
        case = world.case_ids(vault)[0]
        for i in range(scale(1, 15)):
            names, ids = world.envelope_files(3)
            loop.kill(["import", *names], span)
            drop_page_cache()
            loop.finish(["import", *names])
            world.ledger.envelopes |= ids
            text = f"note {i} on a sync mount"
            loop.kill(["cases", "note", case, text], span)
            drop_page_cache()
            world.settle(loop, vault)
    # the same image, mounted again: read from the file, not from any cache
    subprocess.run(["sync"], check=False)
    with disks.ext4_image(point, 64, "sync") as disk:
        world.settle(loop, disk / "vault-data")
