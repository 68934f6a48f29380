"""Issue 16: F9 (a FIFO, a folder or a device given to ``vault import`` is refused at once)
and F11 (a vault whose key files are missing or do not match says so)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, Cli, assert_clean_error
from vault import membership
from vault.errors import VaultError
from vault.files import read_small_file
from vault.passphrase import Passphrase
from vault.store import Vault


@pytest.fixture
def made(cli: Cli) -> Path:
    vault = cli.cwd / "vault-data"
    assert cli("init", "--name", "amara").returncode == 0
    return vault


def test_import_of_what_is_not_a_regular_file_is_refused_at_once(cli: Cli, made: Path) -> None:
    fifo = cli.cwd / "fifo.env"
    os.mkfifo(fifo)  # nobody ever writes to it: opening it to read would wait for ever
    folder = cli.cwd / "folder.env"
    folder.mkdir()
    own = Cli(cli.cwd, own_process=True)  # a process of its own, whose timeout fails a hang
    for path, said in ((fifo, "is not a regular file"), (folder, "is a directory")):
        result = own("import", str(path))
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert said in result.stderr
    result = own("import", "/dev/zero")
    assert result.returncode == 1
    assert "/dev/zero is not a regular file." in result.stderr


def test_read_small_file_refuses_devices_and_fifos(tmp_path: Path) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/null")):
        with pytest.raises(VaultError, match="is not a regular file"):
            read_small_file(path, "envelope")


def test_a_vault_with_no_key_file_says_so(cli: Cli, made: Path) -> None:
    (made / "caseworkers" / "amara.key").unlink()
    result = cli("cases", "list")
    assert_clean_error(result, 1)
    assert "This vault has no key file for any caseworker." in result.stderr
    assert "vault recovery restore" in result.stderr


def test_key_files_that_do_not_match_the_caseworker_named(cli: Cli, made: Path) -> None:
    with Vault.unlock(made, PASSPHRASE) as vault:
        membership.add_caseworker(vault, "bob", Passphrase(b"another horse battery staple"))
    people = made / "caseworkers"
    # two caseworkers, nobody named: say which (and who there is)
    result = cli("cases", "list")
    assert_clean_error(result, 2)
    assert "several caseworkers (amara, bob)" in result.stderr
    # one key file left of two: it is the one used, and naming the other is refused
    (people / "bob.key").unlink()
    assert cli("cases", "list").returncode == 0
    result = cli("cases", "list", "--as", "bob")
    assert_clean_error(result, 2)
    assert "no caseworker called bob (it has key files for amara)" in result.stderr
    assert "each caseworker opens only their own laptop's vault" in result.stderr
    # bob, whose key file is gone, is not silently taken for amara: the refusal says why
    bob = cli.cwd / "bob-passphrase"
    bob.write_bytes(b"another horse battery staple\n")
    bob.chmod(0o600)
    result = cli("cases", "list", "--passphrase-file", str(bob))
    assert_clean_error(result, 3)
    assert "Wrong passphrase for amara's key file." in result.stderr
    assert "only key file" in result.stderr
    assert "yours is missing" in result.stderr
    # a key file under a name that is not its caseworker's
    shutil.copy2(people / "amara.key", people / "carol.key")
    result = cli("cases", "list", "--as", "carol")
    assert_clean_error(result, 4)
    assert "names someone else" in result.stderr


def test_a_passphrase_may_still_come_through_a_pipe(cli: Cli, made: Path) -> None:
    """Only envelopes and the vault's own files must be regular files: a script may give its
    passphrase as /dev/stdin (or <(command))."""
    own = Cli(cli.cwd, own_process=True)  # /dev/stdin is the process's own pipe
    result = own(
        "cases", "list", "--passphrase-file", "/dev/stdin", input=PASSPHRASE.reveal() + b"\n"
    )
    assert result.returncode == 0, result.stderr
