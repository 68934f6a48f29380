"""`vault backup` and `vault restore` killed (SIGKILL) at random moments: the real command.

A killed backup must leave no database copy in the vault folder once the next `backup` or
`check` has run (and they say they removed one), and never a partial file under the backup's
name; the next backup to the same name works, and restores to a sound vault. A killed
restore must leave no half-made vault that a later command takes for a real one (what it
leaves has no vault's shape, or, in the moment before the final rename, is a whole vault),
and a rerun must work and remove it.

The loops are bounded: REDRESS_FAULTS=full runs 50 kills of each, the normal run 10.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.reports import vault_with_reports
from tests.conftest import VAULT_BIN, Cli, every_derivation, report_data
from vault.places import vault_beneath

KILLS = 50 if os.environ.get("REDRESS_FAULTS") == "full" else 10
REMOVED_BACKUP = "Removed an unfinished backup left by an interrupted run."
REMOVED_RESTORE = "Removed an unfinished restore left by an interrupted run."


def _vault_with_reports(cli: Cli, n: int = 3) -> None:
    vault_with_reports(cli, [report_data(what_happened=f"report {i}") for i in range(n)])


def _env(cli: Cli) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cli.cwd),
        "VAULT_PASSPHRASE_FILE": str(cli.passphrase_file),
    }


def _timed(cli: Cli, *args: str) -> float:
    with every_derivation():  # as the killed runs, each its own process, unlock
        start = time.monotonic()
        result = cli(*args)
    assert result.returncode == 0, result.stderr
    return time.monotonic() - start


def _kill_at(cli: Cli, delay: float, *args: str) -> bool:
    """Start ``vault ARGS``, SIGKILL it after ``delay`` seconds; whether it was still running."""
    proc = subprocess.Popen(
        [str(VAULT_BIN), *args],
        cwd=cli.cwd,
        env=_env(cli),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def _kill_when_seen(cli: Cli, folder: Path | Callable[[], bool], extra: float, *args: str) -> bool:
    """Start ``vault ARGS`` and SIGKILL it ``extra`` seconds after a hidden working file or
    folder appears in ``folder`` (or ``folder()`` is true); whether it was killed before it
    finished."""
    seen = folder if callable(folder) else lambda: bool(_leftovers(folder))
    proc = subprocess.Popen(
        [str(VAULT_BIN), *args],
        cwd=cli.cwd,
        env=_env(cli),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while proc.poll() is None and not seen():
        time.sleep(0.0005)
    try:
        proc.wait(timeout=extra)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def _leftovers(folder: Path) -> list[str]:
    """Hidden working files and folders a backup or restore leaves when it is killed."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.slow
def test_backup_killed_at_random_moments_leaves_no_copy_and_the_next_one_works(
    cli: Cli,
) -> None:
    _vault_with_reports(cli)
    vault_dir = cli.cwd / "vault-data"
    took = _timed(cli, "backup", "first.backup")
    rng = random.Random(16_001)
    interrupted = 0
    target = cli.cwd / "kill.backup"
    for _ in range(KILLS):
        if rng.random() < 0.5:
            killed = _kill_at(cli, rng.uniform(0.0, took * 1.1), "backup", "kill.backup")
        else:  # while the database is copied
            killed = _kill_when_seen(
                cli, vault_dir, rng.uniform(0.0, 0.05), "backup", "kill.backup"
            )
        interrupted += killed
        if target.exists():
            # Only ever a whole backup under the name: it finished before the kill.
            result = cli("restore", "kill.backup", "--vault", "check-restore")
            assert result.returncode == 0, result.stderr
            target.unlink()
            _rmtree(cli.cwd / "check-restore")
    assert interrupted >= KILLS // 2  # the loop did kill runs midway

    result = cli("check")
    assert result.returncode == 0, result.stderr
    assert _leftovers(vault_dir) == []
    result = cli("backup", "kill.backup")
    assert result.returncode == 0, result.stderr
    assert REMOVED_BACKUP not in result.stderr  # check already removed what was left
    assert _leftovers(vault_dir) == []
    assert [p for p in _leftovers(cli.cwd) if "kill.backup" in p] == []
    result = cli("restore", "kill.backup", "--vault", "restored")
    assert result.returncode == 0, result.stderr
    result = cli("check", "--vault", "restored")
    assert result.returncode == 0, result.stderr
    assert "3 cases checked" in result.stderr


@pytest.mark.slow
def test_the_next_backup_removes_what_a_killed_one_left_and_says_so(cli: Cli) -> None:
    _vault_with_reports(cli, 1)
    vault_dir = cli.cwd / "vault-data"
    unfinished = cli.cwd / ".kill.backup.unfinished"
    # Killed as soon as its unfinished file appears: the database copy is being made.
    killed = _kill_when_seen(cli, unfinished.exists, 0.0, "backup", "kill.backup")
    assert killed
    assert _leftovers(vault_dir)
    assert unfinished.exists()
    assert not (cli.cwd / "kill.backup").exists()
    result = cli("backup", "kill.backup")
    assert result.returncode == 0, result.stderr
    assert REMOVED_BACKUP in result.stderr
    assert _leftovers(vault_dir) == []
    assert not unfinished.exists()
    result = cli("backup", "other.backup")  # nothing left: nothing said
    assert result.returncode == 0, result.stderr
    assert REMOVED_BACKUP not in result.stderr


@pytest.mark.slow
def test_restore_killed_at_random_moments_leaves_no_half_made_vault(cli: Cli) -> None:
    _vault_with_reports(cli)
    assert cli("backup", "team.backup").returncode == 0
    place = cli.cwd / "place"
    place.mkdir(mode=0o700)
    took = _timed(cli, "restore", "team.backup", "--vault", "place/first")
    _rmtree(place / "first")
    target = place / "restored"
    rng = random.Random(16_003)
    interrupted = 0
    left = False
    for _ in range(KILLS):
        restore = ("restore", "team.backup", "--vault", "place/restored")
        if rng.random() < 0.5:
            killed = _kill_at(cli, rng.uniform(0.0, took * 1.1), *restore)
        else:  # while it writes, which is a small part of the whole run
            killed = _kill_when_seen(cli, place, rng.uniform(0.0, 0.05), *restore)
        interrupted += killed
        left = left or bool(_leftovers(place))
        if target.exists():
            # A vault under the name is only ever a whole one.
            result = cli("check", "--vault", "place/restored")
            assert result.returncode == 0, result.stderr
            _rmtree(target)
        # Whatever a kill left is not vault-shaped, so nothing takes it for a vault; except
        # in the moment between the last file's sync and the rename into place, when it
        # is a whole vault (sound by vault check).
        whole = vault_beneath(place)
        if whole is not None:
            result = cli("check", "--vault", str(whole))
            assert result.returncode == 0, result.stderr
    assert interrupted >= KILLS // 2

    result = cli("restore", "team.backup", "--vault", "place/restored")
    assert result.returncode == 0, result.stderr
    assert (REMOVED_RESTORE in result.stderr) == left
    assert _leftovers(place) == []
    result = cli("check", "--vault", "place/restored")
    assert result.returncode == 0, result.stderr
    assert "3 cases checked" in result.stderr


def _rmtree(path: Path) -> None:
    shutil.rmtree(path)


@pytest.mark.slow
def test_check_removes_what_a_killed_backup_left_and_says_so(cli: Cli) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    vault_dir = cli.cwd / "vault-data"
    unfinished = cli.cwd / ".kill.backup.unfinished"
    assert _kill_when_seen(cli, unfinished.exists, 0.0, "backup", "kill.backup")
    assert _leftovers(vault_dir)
    result = cli("check")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == REMOVED_BACKUP
    assert "The vault is sound" in result.stderr
    assert _leftovers(vault_dir) == []
    assert not unfinished.exists()  # the folder said where its unfinished file was
    result = cli("check")
    assert REMOVED_BACKUP not in result.stderr
