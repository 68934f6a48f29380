"""Vaults with reports in them, for CLI tests.

The vault is made by the real `vault init` and the envelopes taken in by the real `vault import`;
the reports are sealed in this process with the same library calls `vault submit --out` makes
(tests/cli/test_main.py runs that command itself), so a test of thirty reports does not start
thirty processes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Cli
from vault.envelope import seal_report
from vault.keys import TeamPublicKey
from vault.report import parse_report

IMPORT_LISTS = 20  # `vault import` prints the first 20 case ids it stored, in order


def seal(cli: Cli, reports: list[dict[str, Any]], stem: str = "r") -> list[str]:
    """Each report sealed to the exported team key (team-key.json) as STEM{n}.env."""
    key = TeamPublicKey.from_file_bytes((cli.cwd / "team-key.json").read_bytes())
    names = []
    for n, fields in enumerate(reports):
        report = parse_report(json.dumps(fields).encode())
        name = f"{stem}{n}.env"
        Path(cli.cwd / name).write_bytes(seal_report(report, key.epoch, key.public_key))
        names.append(name)
    return names


def import_files(cli: Cli, files: list[str]) -> list[str]:
    """Case ids as `vault import` shows them, in the order of ``files``."""
    ids: list[str] = []
    for start in range(0, len(files), IMPORT_LISTS):
        result = cli("import", *files[start : start + IMPORT_LISTS])
        assert result.returncode == 0, result.stderr
        ids += result.stdout.split()
    return ids


def vault_with_reports(cli: Cli, reports: list[dict[str, Any]], name: str = "amara") -> list[str]:
    """A new vault for NAME holding ``reports``; their case ids, in order."""
    assert cli("init", "--name", name).returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    return import_files(cli, seal(cli, reports))
