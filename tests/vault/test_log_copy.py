"""Issue 16, F8: a WAL cut short or bit-flipped drops committed transactions without an
error from SQLite; the copy of the newest checkpoint in ``log-checkpoint`` catches it.

The WAL is the real one: a process commits notes and is killed with SIGKILL, so the WAL
is left holding them (a clean close would checkpoint it away), then the WAL is damaged.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, Cli, assert_clean_error, seal_for
from vault import incoming
from vault.auditlog import HEAD_COPY, check_head_copy
from vault.check import check_vault
from vault.errors import IntegrityError, LogRolledBackError
from vault.store import Vault

NOTES_THEN_HANG = """
import sys, time
from pathlib import Path
from vault.passphrase import Passphrase
from vault.store import Vault
vault = Vault.unlock(Path(sys.argv[1]), Passphrase(sys.argv[2].encode()))
for n in range(5):
    vault.add_note(sys.argv[3], f"note {n}")
print(vault.log.size(), flush=True)
time.sleep(600)
"""

WAL_HEADER, FRAME = 32, 24 + 16384


def _commit_and_kill(vault_dir: Path, case: str) -> int:
    """Five notes committed by a process then killed: returns the log's size it saw."""
    proc = subprocess.Popen(
        [sys.executable, "-c", NOTES_THEN_HANG, str(vault_dir), PASSPHRASE.reveal().decode(), case],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    size = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return size


def _cut_wal(keep: int) -> Callable[[Path], None]:
    def damage(wal: Path) -> None:
        data = wal.read_bytes()
        wal.write_bytes(data[:keep])

    return damage


def _flip_wal(offset: int) -> Callable[[Path], None]:
    def damage(wal: Path) -> None:
        data = bytearray(wal.read_bytes())
        data[offset] ^= 0x01
        wal.write_bytes(bytes(data))

    return damage


DAMAGES = {
    "header": _flip_wal(20),
    "cut to the header": _cut_wal(WAL_HEADER),
    "cut after one frame": _cut_wal(WAL_HEADER + FRAME),
    "cut inside a frame": _cut_wal(WAL_HEADER + 2 * FRAME + 100),
    "flip in the first frame": _flip_wal(WAL_HEADER + 24 + 5000),
    "flip in a frame header": _flip_wal(WAL_HEADER + 3 * FRAME + 2),
}


@pytest.fixture
def noted(vault: Vault, vault_dir: Path) -> tuple[Path, str, int]:
    case = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    before = vault.log.size()
    vault.close()
    return vault_dir, case, before


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DAMAGES))
def test_a_damaged_wal_that_loses_committed_entries_is_named(
    noted: tuple[Path, str, int], name: str, cli: Cli
) -> None:
    vault_dir, case, before = noted
    committed = _commit_and_kill(vault_dir, case)
    assert committed == before + 5
    wal = vault_dir / "vault.db-wal"
    assert wal.stat().st_size > 5 * FRAME, "the WAL was not left behind"
    DAMAGES[name](wal)
    with pytest.raises(LogRolledBackError) as raised:
        Vault.unlock(vault_dir, PASSPHRASE).close()
    found = re.search(r"lost entr(?:y|ies) (\d+)(?: to (\d+))?", str(raised.value))
    assert found is not None, str(raised.value)
    assert int(found.group(2) or found.group(1)) == committed
    assert before + 1 <= int(found.group(1)) <= committed
    result = cli("check", "--vault", str(vault_dir))
    assert_clean_error(result, 4)
    assert "that were committed" in result.stderr or "that was committed" in result.stderr


def test_the_copy_follows_every_commit_and_may_lag_but_never_alarms(
    vault: Vault, vault_dir: Path
) -> None:
    copy = vault_dir / HEAD_COPY
    assert copy.stat().st_mode & 0o777 == 0o600
    assert copy.read_text() == vault.log.head().signed  # type: ignore[union-attr]
    lagging = copy.read_bytes()
    incoming.import_envelopes(vault, [("a", seal_for(vault))])
    assert copy.read_text() == vault.log.head().signed  # type: ignore[union-attr]
    # A crash between a commit and the copy leaves it one transaction behind: no alarm.
    copy.write_bytes(lagging)
    vault.close()
    with Vault.unlock(vault_dir, PASSPHRASE) as again:
        assert check_vault(again) == []
        incoming.import_envelopes(again, [("b", seal_for(again))])
        assert copy.read_text() == again.log.head().signed  # type: ignore[union-attr]
    # A vault without the copy (made before it existed) gets one at unlock.
    copy.unlink()
    with Vault.unlock(vault_dir, PASSPHRASE) as again:
        assert copy.read_text() == again.log.head().signed  # type: ignore[union-attr]


def test_a_damaged_or_foreign_copy_is_named(vault: Vault, vault_dir: Path) -> None:
    copy = vault_dir / HEAD_COPY
    good = copy.read_text()
    for bad in (good.replace("vault.redress", "vault.redresS"), good[:-10] + "AAAAAAAAA\n", "x"):
        copy.write_text(bad)
        problem = check_head_copy(vault.db, vault_dir, vault.log.origin)
        assert problem is not None
        assert "is damaged" in problem, (bad, problem)
        assert any("is damaged" in p for p in check_vault(vault))
    # At unlock, a damaged copy is named as such (not as a lost log), with the way out.
    with pytest.raises(IntegrityError, match=HEAD_COPY) as raised:
        Vault.unlock(vault_dir, PASSPHRASE).close()
    assert not isinstance(raised.value, LogRolledBackError)
    assert f"delete {HEAD_COPY}" in str(raised.value.hint)
    copy.unlink()
    with Vault.unlock(vault_dir, PASSPHRASE) as again:
        assert check_vault(again) == []
    assert copy.read_text() == good
