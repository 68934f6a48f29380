"""The caseworker's rough edges (issue 11), each through the real `vault` command."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from cli.main import app, main
from cli.options import global_options_last
from tests.conftest import Cli, assert_clean_error

ROOT = Path(__file__).resolve().parents[2]


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def _secret_file(cli: Cli, name: str, text: str) -> Path:
    path = cli.cwd / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


# --- 1. no vault inside a vault -----------------------------------------------------------


def test_inside_a_vault_the_hint_is_vault_not_init(cli: Cli) -> None:
    _ok(cli("init", "--name", "amara"))
    inside = Cli(cli.cwd / "vault-data")
    os.chmod(inside.passphrase_file, 0o600)
    result = inside("cases", "list", env={"VAULT_PASSPHRASE_FILE": str(cli.passphrase_file)})
    assert_clean_error(result, 1)
    assert "There is no vault" in result.stderr
    assert "hint: this folder is a vault" in result.stderr
    assert "--vault ." in result.stderr
    assert "vault init" not in result.stderr


def test_init_refuses_inside_a_vault_and_around_one(cli: Cli) -> None:
    _ok(cli("init", "--name", "amara"))
    vault_dir = cli.cwd / "vault-data"
    before = sorted(p.name for p in vault_dir.iterdir())
    for target in ("vault-data/inner", "vault-data/caseworkers/inner"):
        result = cli("init", "--name", "bob", "--vault", target)
        assert_clean_error(result, 1)
        assert "inside the vault" in result.stderr
    assert sorted(p.name for p in vault_dir.iterdir()) == before
    result = cli("init", "--name", "bob", "--vault", ".")
    assert_clean_error(result, 1)
    assert "already holds a vault" in result.stderr
    assert "--vault" in result.stderr


# --- 3. passphrase strength ------------------------------------------------------------------


def test_weak_passphrases_are_refused_everywhere(cli: Cli) -> None:
    weak = _secret_file(cli, "weak", "password")
    result = cli("init", "--name", "amara", env={"VAULT_PASSPHRASE_FILE": str(weak)})
    assert_clean_error(result, 2)
    assert "too easy to guess" in result.stderr
    assert "six or more random words" in result.stderr
    assert not (cli.cwd / "vault-data").exists()
    _ok(cli("init", "--name", "amara"))
    result = cli("caseworker", "add", "bob", "--new-passphrase-file", str(weak))
    assert_clean_error(result, 2)
    assert "too easy to guess" in result.stderr
    result = cli("caseworker", "passphrase", "--new-passphrase-file", str(weak))
    assert_clean_error(result, 2)
    assert "too easy to guess" in result.stderr
    names = [c["name"] for c in json.loads(_ok(cli("caseworker", "list", "--json")).stdout)]
    assert names == ["amara"]


# --- 5. help says FILE, DIR, N, never <type> --------------------------------------------------


def _command_paths() -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return paths


def _help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    """`vault PATH --help` through the real entry point, in this process: help reads no vault,
    and sixty subprocesses would cost a minute of the suite."""
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        with pytest.raises(SystemExit) as done:
            main([*path, "--help"])
    finally:
        os.umask(umask)  # main() sets the command's own umask
    captured = capsys.readouterr()
    assert done.value.code == 0, (path, captured.err)
    return captured.out


def test_every_help_has_text_and_plain_metavars(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    paths = _command_paths()
    assert ("caseworker", "list") in paths
    assert ("auditor", "list") in paths
    assert len(paths) > 30
    for path in paths:
        out = _help(path, capsys)
        assert "Usage" in out
        assert "<" not in out, (path, out)
        assert "{file}" not in out.lower() or "{FILE}" in out
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        usage = next(i for i, line in enumerate(lines) if line.startswith("Usage"))
        assert lines[usage + 1][0].isalpha(), (path, "no help text")


def test_help_from_the_installed_command_matches(cli: Cli) -> None:
    result = cli("stats", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: vault stats" in result.stdout
    assert "<" not in result.stdout


# --- 6. --out everywhere, required options required by the parser --------------------------


def test_out_files_take_file_or_out(cli: Cli) -> None:
    _ok(cli("init", "--name", "amara"))
    for args in (
        ("team-key", "export"),
        ("backup",),
        ("audit", "export"),
    ):
        stem = "-".join(args)
        _ok(cli(*args, f"{stem}-1"))
        _ok(cli(*args, "--out", f"{stem}-2"))
        assert (cli.cwd / f"{stem}-1").stat().st_size > 0
        assert (cli.cwd / f"{stem}-2").stat().st_size > 0
        assert_clean_error(cli(*args), 2)
        assert_clean_error(cli(*args, "a", "--out", "b"), 2)
        assert not (cli.cwd / "a").exists()
        assert not (cli.cwd / "b").exists()


def test_recovery_restore_needs_name_and_shares_from_the_parser(cli: Cli) -> None:
    result = cli("recovery", "restore", "--share", "s1")
    assert_clean_error(result, 2)
    assert "--name" in result.stderr
    result = cli("recovery", "restore", "--name", "sam")
    assert_clean_error(result, 2)
    assert "--share" in result.stderr


# --- 7. who the caseworkers and auditors are ----------------------------------------------


def test_caseworker_and_auditor_lists(cli: Cli) -> None:
    _ok(cli("init", "--name", "amara"))
    bob = _secret_file(cli, "bob-pass", "bob's own long passphrase")
    _ok(cli("caseworker", "add", "bob", "--new-passphrase-file", str(bob)))
    _ok(cli("caseworker", "add", "carol", "--new-passphrase-file", str(bob), "--as", "amara"))
    _ok(cli("caseworker", "revoke", "bob", "--as", "amara"))
    people = json.loads(_ok(cli("caseworker", "list", "--json", "--as", "amara")).stdout)
    assert [p["name"] for p in people] == ["amara", "bob", "carol"]
    assert all(len(p["key_id"]) == 16 and p["added"] for p in people)
    assert [p["revoked"] is not None for p in people] == [False, True, False]
    table = _ok(cli("caseworker", "list", "--as", "amara")).stdout
    for person in people:
        assert person["name"] in table
        assert person["key_id"] in table
    assert "2 caseworkers can open this vault; 1 removed." in table

    # The global options may also come before the command's name (contract: "Global options").
    first = _ok(cli("--vault", "vault-data", "--as=amara", "caseworker", "list", "--json"))
    assert json.loads(first.stdout) == people

    assert json.loads(_ok(cli("auditor", "list", "--json", "--as", "amara")).stdout) == []
    assert "No auditors" in _ok(cli("auditor", "list", "--as", "amara")).stdout
    made = _ok(cli("auditor", "keygen", "dana", "--out", "auditor"))
    _ok(cli("auditor", "add", "dana", "--key", "auditor/dana.vkey", "--as", "amara"))
    auditors = json.loads(_ok(cli("auditor", "list", "--json", "--as", "amara")).stdout)
    assert [a["name"] for a in auditors] == ["dana"]
    assert auditors[0]["key_id"] in made.stderr
    assert "dana" in _ok(cli("auditor", "list", "--as", "amara")).stdout


# --- 8. the auditor's key files come from the library; cli/ imports no private module --------


def test_auditor_keygen_files_are_private_and_never_overwritten(cli: Cli) -> None:
    _ok(cli("auditor", "keygen", "dana", "--out", "keys"))
    folder = cli.cwd / "keys"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / "dana.key").stat().st_mode & 0o777 == 0o600
    assert (folder / "dana.key").read_text().startswith("PRIVATE+KEY+auditor.redress/dana+")
    assert (folder / "dana.vkey").read_text().startswith("auditor.redress/dana+")
    before = (folder / "dana.key").read_bytes()
    result = cli("auditor", "keygen", "dana", "--out", "keys")
    assert_clean_error(result, 2)
    assert (folder / "dana.key").read_bytes() == before


def test_cli_imports_no_private_vault_module() -> None:
    for path in sorted((ROOT / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                assert not (parts[0] == "vault" and any(p.startswith("_") for p in parts)), (
                    path.name,
                    name,
                )


# --- 2. a busy port is one line -------------------------------------------------------------


@pytest.fixture
def busy_port() -> object:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_intake_on_a_busy_port_is_one_line(cli: Cli, busy_port: int) -> None:
    _ok(cli("init", "--name", "amara"))
    _ok(cli("team-key", "export", "team.json"))
    args = ("intake", "serve", "--team-key", "team.json", "--data", "d", "--port", str(busy_port))
    result = cli(*args)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"Port {busy_port} is in use" in result.stderr
    assert "--port" in result.stderr
    assert result.stdout == ""


def test_make_run_on_a_busy_port_is_one_line(tmp_path: Path, busy_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.demo", "--port", str(busy_port)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"make run: port {busy_port} is in use; try make run PORT=")
    assert result.stdout == ""  # the guide is printed only once the port is ours


def test_make_run_passes_port_to_the_demo() -> None:
    result = subprocess.run(
        ["make", "-n", "run", "PORT=8123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "cli.demo --port 8123" in result.stdout


def test_global_options_before_the_command_go_after_it() -> None:
    assert global_options_last(["--vault", "d", "--as=bea", "cases", "list"]) == [
        *("cases", "list", "--vault", "d", "--as=bea")
    ]
    assert global_options_last(["--passphrase-file", "p", "cases", "note", "X", "--", "-a"]) == [
        *("cases", "note", "X", "--passphrase-file", "p", "--", "-a")
    ]
    for unchanged in (["cases", "list", "--vault", "d"], ["--vault"], ["--help"], []):
        assert global_options_last(unchanged) == unchanged


def test_forget_log_makes_no_intake_and_checks_the_origin(cli: Cli) -> None:
    """A mistyped --data made a new, empty intake (a new inbox key) and said the witness had
    cosigned nothing, exit 0; an origin no log can have was taken."""
    origin = "vault.redress/" + "0" * 32
    result = cli("intake", "forget-log", "--data", "typo", "--origin", origin)
    assert_clean_error(result, 1)
    assert "no intake inbox in typo" in result.stderr
    assert not (cli.cwd / "typo").exists()
    for bad in ("", "two words", "vault.redress/x+y"):
        assert_clean_error(cli("intake", "forget-log", "--data", "typo", "--origin", bad), 2)


def test_global_options_before_no_command_name_leave_the_help_alone(cli: Cli) -> None:
    """`vault --vault DIR --help` shows the help (exit 0), as `vault --help` does; it said
    'No such option: --vault' (exit 2): the option went after --help, at the top level."""
    assert global_options_last(["--vault", "d", "--help"]) == ["--help"]
    assert global_options_last(["--as=bea"]) == []
    result = cli("--vault", "vault-data", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: vault" in result.stdout
