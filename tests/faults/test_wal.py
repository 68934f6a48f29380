"""A damaged write-ahead log must not drop committed notes silently (issue 16, F8).

While this process holds the vault open (so no command is the last to close it and nothing
checkpoints the log into vault.db), three `vault cases note` runs commit into vault.db-wal.
The folder is then copied as a power cut would leave it (without the -shm index, which
SQLite rebuilds), the copy's WAL is cut or has a bit flipped, and `vault check` runs on it.
It must either find every note (exit 0) or say that committed entries are lost (exit 4,
one line); never exit 0 with a note gone. See docs/reliability.md, "Damage".
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, assert_clean_error
from tests.faults.conftest import SEED, World, pick
from tests.faults.ledger import read_state
from tests.faults.test_damage import PAGE, Damage, cut, flip
from vault.store import Vault

pytestmark = [pytest.mark.faults, pytest.mark.slow]

FRAME = 24 + PAGE
WAL_HEADER = 32
NOTES = 3

WAL_DAMAGE: dict[str, Damage] = {
    "cut-to-header": cut(WAL_HEADER),
    "cut-half": cut(0.5),
    "cut-in-last-frame": cut(-FRAME // 2),
    "cut-last-frame": cut(-FRAME),
    "flip-header": flip(0, WAL_HEADER),
    "flip-first-frame": flip(WAL_HEADER, WAL_HEADER + FRAME),
    "flip-middle": flip(WAL_HEADER + FRAME, -FRAME),
    "flip-last-frame": flip(-FRAME),
}


def _wal_copy(world: World, tmp_path: Path) -> tuple[Path, list[str]]:
    case = world.case_ids()[0]
    texts = [f"committed note {i}" for i in range(NOTES)]
    with Vault.unlock(world.vault, PASSPHRASE, "amara"):  # holds the WAL open
        for text in texts:
            assert world.run("cases", "note", case, text).returncode == 0
        copy = tmp_path / "after-power-cut"
        shutil.copytree(world.vault, copy, ignore=shutil.ignore_patterns("*-shm"))
    assert (copy / "vault.db-wal").stat().st_size > FRAME, "no WAL was left to damage"
    return copy, texts


def test_an_undamaged_wal_keeps_every_note(world: World, tmp_path: Path) -> None:
    """The control: the copy as the power cut left it opens with every note."""
    copy, texts = _wal_copy(world, tmp_path)
    assert world.run("check", "--vault", str(copy)).returncode == 0
    assert set(texts) <= set(read_state(copy).notes)


@pytest.mark.parametrize("kind", pick(list(WAL_DAMAGE), {"cut-in-last-frame"}))
def test_a_damaged_wal_is_named_or_harmless(
    world: World, tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    copy, texts = _wal_copy(world, tmp_path)
    wal = copy / "vault.db-wal"
    data = wal.read_bytes()
    damaged = WAL_DAMAGE[kind](data, random.Random(f"{SEED}:{request.node.name}"))
    wal.write_bytes(damaged if damaged != data else data[:-1])
    result = world.run("check", "--vault", str(copy))
    if result.returncode == 0:
        missing = set(texts) - set(read_state(copy).notes)
        assert not missing, f"{len(missing)} committed notes vanished and check said sound"
    else:
        assert_clean_error(result, 4)
