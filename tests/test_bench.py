"""The benchmarks still run (``make bench``): a quick pass of the vault and access-log parts.

Figures are not checked here (speed is measured, not timed in tests); this only keeps the
bench working as the library changes under it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("part", ["vault", "audit", "casework", "across", "packs"])
def test_a_quick_bench_runs(part: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--only", part],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_a_commands_peak_memory_is_its_own_not_the_benchmarks() -> None:
    """``run_measured`` reports what the command itself reached: not the size of the process
    that runs it (a child's ``ru_maxrss`` keeps its forking parent's high-water mark)."""
    from bench.common import run_measured

    held = b"\x01" * (200 * 2**20)  # this process made 200 MiB larger, every page touched
    env = dict(os.environ)
    small = run_measured([sys.executable, "-c", "print('ok')"], env)
    large = run_measured([sys.executable, "-c", "x = b'1' * (120 * 2**20); print('ok')"], env)
    assert len(held) == 200 * 2**20
    assert small.stdout == large.stdout == b"ok\n"
    assert small.peak_mib < 60
    assert 120 <= large.peak_mib < 180
    with pytest.raises(RuntimeError, match="failed"):
        run_measured([sys.executable, "-c", "raise SystemExit('no')"], env)
