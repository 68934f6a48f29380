"""Every file's damage classes: each gets the contract's exit code and one line, no traceback.

A copy of a small vault (tests/faults/conftest.py ``template_vault``) or of something it
wrote (a backup, an envelope, an audit bundle) is damaged in one way, and the command that
reads it runs: `vault check` for the vault's own files, `vault restore` for backups,
`vault import` for envelopes, `vault audit verify` for bundles. Damage to what only a key
opens is tampering (exit 4); a key file whose sealed part no longer opens is told apart from a
wrong passphrase only where the file says so, so 3 is accepted there. Byte positions come from
the seeded RNG (``REDRESS_FAULTS_SEED``). See docs/reliability.md, "Damage".
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import assert_clean_error
from tests.faults.conftest import FULL, SEED, World, pick
from tests.intake_server import VAULT_BIN

pytestmark = [pytest.mark.faults, pytest.mark.slow]

PAGE = 16384  # vault/db.py CIPHER_PAGE_SIZE
Damage = Callable[[bytes, random.Random], bytes]


def flip(start: int, end: int | None = None) -> Damage:
    """Flip one random bit of a byte in [start, end) (negative: from the end)."""

    def damage(data: bytes, rng: random.Random) -> bytes:
        lo = start % len(data)
        hi = len(data) if end is None else end % len(data) or len(data)
        at = rng.randrange(lo, max(lo + 1, hi))
        out = bytearray(data)
        out[at] ^= 1 << rng.randrange(8)
        return bytes(out)

    return damage


def cut(keep: float | int) -> Damage:
    """Keep the first ``keep`` bytes (a fraction of the file, or a count)."""

    def damage(data: bytes, rng: random.Random) -> bytes:
        n = int(len(data) * keep) if isinstance(keep, float) else keep
        return data[:n]

    return damage


def _damaged(path: Path, damage: Damage, rng: random.Random) -> None:
    data = path.read_bytes()
    changed = damage(data, rng)
    assert changed != data
    path.write_bytes(changed)


def _rng(request: pytest.FixtureRequest) -> random.Random:
    return random.Random(f"{SEED}:{request.node.name}")


# --- the vault's own files ------------------------------------------------------------

DB_DAMAGE = {
    "page-0-header": flip(0, 16),  # the salt
    "page-0-body": flip(16, PAGE),
    "middle-page": flip(PAGE, -PAGE),
    "last-page": flip(-PAGE),
    "cut-to-half-pages": cut(0.5),
    "cut-mid-page": cut(PAGE + 1000),
    "cut-to-page-0": cut(PAGE),
    "emptied": cut(0),
}


@pytest.mark.parametrize(
    "kind",
    pick(
        list(DB_DAMAGE),
        {"middle-page", "cut-mid-page"},
    ),
)
def test_vault_db(world: World, request: pytest.FixtureRequest, kind: str) -> None:
    _damaged(world.vault / "vault.db", DB_DAMAGE[kind], _rng(request))
    assert_clean_error(world.run("check"), 4)
    listed = world.run("cases", "list")  # reads only the pages it needs: 0, or the damage named
    if listed.returncode != 0:
        assert_clean_error(listed, 4)


KEY_DAMAGE = {
    "flipped": flip(0),
    "cut": cut(0.5),
    "emptied": cut(0),
}


@pytest.mark.parametrize("kind", pick(list(KEY_DAMAGE), {"flipped"}))
@pytest.mark.parametrize("suffix", ["key", "access"])
def test_key_and_access_files(
    world: World, request: pytest.FixtureRequest, suffix: str, kind: str
) -> None:
    _damaged(world.vault / "caseworkers" / f"amara.{suffix}", KEY_DAMAGE[kind], _rng(request))
    result = world.run("check")
    # a key file's sealed secret that no longer opens reads as a wrong passphrase (3)
    assert_clean_error(result, result.returncode if result.returncode in (3, 4) else 4)


# --- what the vault writes for others ---------------------------------------------------

BACKUP_DAMAGE = {
    "magic": flip(0, 16),
    "header": flip(20, 200),
    "body": flip(1000, -100),
    "end": flip(-40),
    "cut": cut(0.7),
}


@pytest.mark.parametrize(
    "kind",
    pick(
        list(BACKUP_DAMAGE),
        {"header", "body"},
    ),
)
def test_backups(world: World, request: pytest.FixtureRequest, kind: str) -> None:
    assert world.run("backup", "v.backup").returncode == 0
    _damaged(world.cli.cwd / "v.backup", BACKUP_DAMAGE[kind], _rng(request))
    restored = world.cli.cwd / "restored"
    result = world.run("restore", "v.backup", "--vault", str(restored))
    if kind == "magic":  # no longer says it is a backup: the plain refusal of any other file
        assert_clean_error(result, 1)
        assert "is not a Redress backup" in result.stderr
    else:
        assert_clean_error(result, 4)
    assert not restored.exists()


ENVELOPE_DAMAGE = {
    "magic": flip(0, 4),
    "header": flip(4, 60),
    "sealed": flip(60),
    "cut": cut(0.5),
}


@pytest.mark.parametrize("kind", pick(list(ENVELOPE_DAMAGE), {"sealed"}))
def test_envelopes(world: World, request: pytest.FixtureRequest, kind: str) -> None:
    names, _ = world.envelope_files(1)
    _damaged(world.cli.cwd / names[0], ENVELOPE_DAMAGE[kind], _rng(request))
    result = world.run("import", names[0])
    if result.returncode == 3:  # the clear header's epoch or team key id was hit: it now
        # names a team key this vault does not hold, which no check can tell from one that is
        assert kind == "header", result.stderr
        assert "sealed to a team key this vault does not hold" in result.stderr
        assert_clean_error(result, 3)
    else:
        assert_clean_error(result, 4)


BUNDLE_DAMAGE = {
    "start": flip(0, 200),
    "middle": flip(200, -200),
    "end": flip(-200),
    "cut": cut(0.5),
}


@pytest.mark.parametrize("kind", pick(list(BUNDLE_DAMAGE), {"middle"}))
def test_audit_bundles(world: World, request: pytest.FixtureRequest, kind: str) -> None:
    assert world.run("audit", "export", "log.bundle").returncode == 0
    bundle = world.cli.cwd / "log.bundle"
    rng = _rng(request)
    for _ in range(8 if FULL else 1):  # a fresh damage each time, from the same good bundle
        good = bundle.read_bytes()
        _damaged(bundle, BUNDLE_DAMAGE[kind], rng)
        verified = subprocess.run(
            [str(VAULT_BIN), "audit", "verify", str(bundle)],
            capture_output=True, text=True, check=False, env={"PATH": ""}, cwd=world.cli.cwd,
        )  # fmt: skip
        assert_clean_error(verified, 4)
        bundle.write_bytes(good)
