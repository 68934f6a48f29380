"""vault/files.py: the one owner of file writes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from vault.files import replace_private_file


def _finished_pid() -> int:
    child = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_a_temporary_left_by_a_killed_writer_goes_at_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "head"
    orphan = tmp_path / f".head.{_finished_pid()}.tmp"
    orphan.write_bytes(b"half")
    alive = tmp_path / f".head.{os.getppid()}.tmp"  # a writer still running: left alone
    alive.write_bytes(b"busy")
    other = tmp_path / f".header.{_finished_pid()}.tmp"  # another file's: left alone
    other.write_bytes(b"x")

    replace_private_file(target, b"whole")

    assert target.read_bytes() == b"whole"
    assert (target.stat().st_mode & 0o777) == 0o600
    assert not orphan.exists()
    assert alive.exists()
    assert other.exists()
