"""A full disk under the vault: one plain line and exit 1, nothing partial, work resumes.

The vault lives on a tmpfs of a few MiB that the test mounts (root only; otherwise skipped
with the reason). A filler file takes every free byte, then `vault import`, `vault cases
note` and `vault backup` (its output on the same disk) each run once. See
docs/reliability.md, "Full disk".
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import assert_clean_error
from tests.faults import disks
from tests.faults.conftest import FULL, World
from tests.faults.killer import KillLoop
from tests.faults.ledger import read_state

pytestmark = [pytest.mark.faults, pytest.mark.slow]

DISK_KIB = 6 * 1024
FULL_MESSAGE = "disk holding the vault is full"


def _operations(world: World, disk: Path) -> dict[str, list[str]]:
    names, _ = world.envelope_files(2)
    case = world.case_ids()[0]
    return {
        "import": ["import", *names],
        "note": ["cases", "note", case, "written on a full disk"],
        "backup": ["backup", str(disk / "full.backup")],
    }


@pytest.fixture
def on_small_disk(tmp_path: Path) -> Path:
    return tmp_path / "disk"


def _move_vault(world: World, disk: Path, loop: KillLoop) -> Path:
    target = disk / "vault-data"
    shutil.copytree(world.vault, target, symlinks=True)
    shutil.rmtree(world.vault)
    loop.env["VAULT_DIR"] = str(target)
    return target


# The quick form (`make test`) fills the disk under one command; `make faults` under each.
OPERATIONS = ["import", "note", "backup"] if FULL else ["note"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_full_disk_is_named(
    world: World, loop: KillLoop, on_small_disk: Path, operation: str
) -> None:
    args = _operations(world, on_small_disk)[operation]
    with disks.tmpfs(on_small_disk, DISK_KIB) as disk:
        vault = _move_vault(world, disk, loop)
        disks.fill(disk)
        run = loop.finish(args, done="")  # any ending: judged below
        assert_clean_error(subprocess.CompletedProcess(run.args, run.returncode, "", run.stderr), 1)
        assert FULL_MESSAGE in run.stderr.lower(), run.stderr
        # still full: `vault check` tells a failed write from damage
        loop.finish(["check", "--vault", str(vault)])


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_full_disk_loses_nothing_and_work_resumes(
    world: World, loop: KillLoop, on_small_disk: Path, operation: str
) -> None:
    args = _operations(world, on_small_disk)[operation]
    with disks.tmpfs(on_small_disk, DISK_KIB) as disk:
        vault = _move_vault(world, disk, loop)
        before = read_state(vault)
        disks.fill(disk)
        run = loop.finish(args, done="")
        loop.check(run.returncode != 0 and "Traceback" not in run.stderr, run.stderr)
        loop.check(not (disk / "full.backup").exists(), "a partial backup was left")
        disks.free(disk)
        after = read_state(vault)
        loop.check(after.envelopes == before.envelopes, "a report was partly stored")
        loop.check(after.notes == before.notes, "a note was partly stored")
        loop.finish(args)  # the same command works once there is room
        world.settle(loop, vault)
