"""Folders that are not what the command needs: one plain sentence, the contract's exit code,
and nothing written (the real `vault` command)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from tests.conftest import VAULT_BIN, Cli, assert_clean_error


def test_init_on_a_file_says_it_is_a_file(cli: Cli) -> None:
    (cli.cwd / "notes.txt").write_text("x")
    result = cli("init", "--name", "amara", "--vault", "notes.txt")
    assert_clean_error(result, 2)
    assert "is a file, not a folder" in result.stderr
    assert (cli.cwd / "notes.txt").read_text() == "x"


def test_restore_refuses_a_folder_inside_a_vault(cli: Cli) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("backup", "team.backup").returncode == 0
    result = cli("restore", "team.backup", "--vault", "vault-data/inner")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "inside the vault" in result.stderr
    assert not (cli.cwd / "vault-data" / "inner").exists()
    result = cli("restore", "team.backup", "--vault", "restored")  # beside it: fine
    assert result.returncode == 0, result.stderr


def test_the_no_vault_hint_follows_an_explicit_vault_folder(cli: Cli) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    inside = cli.cwd / "vault-data"
    elsewhere = cli.cwd.parent / f"{cli.cwd.name}-typo"

    def from_inside(*args: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(cli.cwd),
            "VAULT_PASSPHRASE_FILE": str(cli.passphrase_file),
        }
        run = [str(VAULT_BIN), *args]
        return subprocess.run(run, cwd=inside, capture_output=True, text=True, env=env, check=False)

    # a folder named elsewhere: the hint is not about the folder the caseworker stands in
    result = from_inside("cases", "list", "--vault", str(elsewhere))
    assert_clean_error(result, 1)
    assert "this folder" not in result.stderr
    # the default, from inside the vault folder: the hint says where the vault is
    result = from_inside("cases", "list")
    assert_clean_error(result, 1)
    assert "--vault ." in result.stderr


def test_intake_serve_with_a_file_for_its_data_says_so(cli: Cli) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    (cli.cwd / "data").write_text("x")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    result = cli("intake", "serve", "--team-key", "team-key.json", "--data", "data", "--port", port)
    assert_clean_error(result, 1)
    assert "is a file, not a folder" in result.stderr


def test_caseworker_list_json_names_who_was_revoked(cli: Cli) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    listed = json.loads(cli("caseworker", "list", "--json").stdout)
    assert [(p["name"], p["revoked"]) for p in listed] == [("amara", None)]
    assert not Path(cli.cwd / "vault-data" / "vault-data").exists()
