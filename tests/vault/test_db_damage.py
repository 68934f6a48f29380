"""Issue 16, F7: every kind of damage to ``vault.db`` is named as damage (exit 4, one line),
never as a wrong key or an internal error.

The access file gives the database key authentically, so a database that then does not
open with it is damaged. Damage to the salt alone is told by the copy kept in vault.db.salt.
The one exception is a database none of whose pages opens with the key, even with that
salt: that is what a revoked caseworker's old access file meets, and it stays exit 3.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Cli, assert_clean_error, make_report
from vault.db import CIPHER_PAGE_SIZE
from vault.envelope import seal_report
from vault.keys import TeamPublicKey

Damage = Callable[[Path], None]


def _flip(offset: int) -> Damage:
    def damage(db: Path) -> None:
        data = bytearray(db.read_bytes())
        data[offset % len(data)] ^= 0x40
        db.write_bytes(bytes(data))

    return damage


def _cut(size: Callable[[int], int]) -> Damage:
    def damage(db: Path) -> None:
        data = db.read_bytes()
        db.write_bytes(data[: size(len(data))])

    return damage


def _damages() -> dict[str, Damage]:
    page = CIPHER_PAGE_SIZE
    damages: dict[str, Damage] = {
        # the first page, past its 16-byte salt: its ciphertext, IV and HMAC
        **{f"page 1 byte {o}": _flip(o) for o in (16, 17, 100, 1000, 8191, page - 80, page - 1)},
        "cut to nothing": _cut(lambda n: 0),
        "cut inside page 1": _cut(lambda n: 100),
        "cut to page 1": _cut(lambda n: page),
        "cut to 3 pages": _cut(lambda n: 3 * page),
        "cut by one page": _cut(lambda n: n - page),
        "cut by 100 bytes": _cut(lambda n: n - 100),
    }
    rng = random.Random(16)  # a seeded sweep: the same pages every run
    for _ in range(8):
        offset = rng.randrange(page, 50 * page)
        damages[f"bit flip at {offset}"] = _flip(offset)
    return damages


@pytest.fixture(scope="module")
def clean_vault(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, Path]:
    """A closed vault with some cases and notes, its WAL checkpointed away."""
    cli = Cli(tmp_path_factory.mktemp("damage"))
    vault = cli.cwd / "clean"
    assert cli("init", "--name", "amara", "--vault", str(vault)).returncode == 0
    assert cli("team-key", "export", "tk.json", "--vault", str(vault)).returncode == 0
    key = TeamPublicKey.from_file_bytes((cli.cwd / "tk.json").read_bytes())
    files = []
    for i in range(60):
        path = cli.cwd / f"{i}.env"
        report = make_report(what_happened=f"report {i} " + "x" * 4000)
        path.write_bytes(seal_report(report, key.epoch, key.public_key))
        files.append(str(path))
    result = cli("import", *files, "--vault", str(vault))
    assert result.returncode == 0, result.stderr
    case = result.stdout.split()[0]
    assert cli("cases", "note", case, "a note", "--vault", str(vault)).returncode == 0
    assert not (vault / "vault.db-wal").exists()
    assert (vault / "vault.db").stat().st_size > 50 * CIPHER_PAGE_SIZE
    return cli, vault


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_damages()))
def test_damage_to_the_database_is_exit_4_with_one_line(
    clean_vault: tuple[Cli, Path], name: str
) -> None:
    cli, clean = clean_vault
    vault = cli.cwd / name.replace(" ", "-")
    shutil.copytree(clean, vault)
    _damages()[name](vault / "vault.db")
    result = cli("check", "--vault", str(vault))
    assert_clean_error(result, 4)
    listed = cli("cases", "list", "--vault", str(vault))
    assert listed.returncode in (0, 4), listed.stderr
    if listed.returncode:
        assert_clean_error(listed, 4)


@pytest.mark.slow
def test_damage_to_the_salt_alone_is_told_by_the_copy_beside_it(
    clean_vault: tuple[Cli, Path],
) -> None:
    """Damage to the 16-byte salt makes every page fail, as a database under another key
    does; the copy in vault.db.salt tells the two apart."""
    cli, clean = clean_vault
    assert (clean / "vault.db.salt").read_bytes() == (clean / "vault.db").read_bytes()[:16]
    for offset in (0, 3, 15):
        vault = cli.cwd / f"salt-{offset}"
        shutil.copytree(clean, vault)
        _flip(offset)(vault / "vault.db")
        result = cli("cases", "list", "--vault", str(vault))
        assert_clean_error(result, 4)
        assert "its salt" in result.stderr


@pytest.mark.slow
def test_a_database_no_page_of_which_opens_is_a_key_that_does_not_fit(
    clean_vault: tuple[Cli, Path],
) -> None:
    """Another vault's database put in place: no page opens with the key, and the salt copy
    does not open it either. That is what a revoked caseworker's old access file meets too:
    exit 3, with a hint naming both."""
    cli, clean = clean_vault
    other = cli.cwd / "other"
    assert cli("init", "--name", "amara", "--vault", str(other)).returncode == 0
    vault = cli.cwd / "replaced"
    shutil.copytree(clean, vault)
    shutil.copy2(other / "vault.db", vault / "vault.db")
    result: subprocess.CompletedProcess[str] = cli("cases", "list", "--vault", str(vault))
    assert_clean_error(result, 3)
    assert "revoked" in result.stderr
    assert "damaged" in result.stderr
