"""The benchmarks still run (``make bench``): a quick pass of the vault and access-log parts.

Figures are not checked here (speed is measured, not timed in tests); this only keeps the
bench working as the library changes under it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("part", ["vault", "audit", "casework", "across"])
def test_a_quick_bench_runs(part: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", part, "--repeats", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
