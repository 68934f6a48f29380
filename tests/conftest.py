"""Shared fixtures: real vaults in temporary directories, real reports, the real CLI."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.intake_server import VAULT_BIN, IntakeServers
from tests.intake_server import stop_server as stop_server  # where the tests have found it
from vault import _crypto
from vault.envelope import seal_report
from vault.passphrase import Passphrase
from vault.report import Report, parse_report
from vault.store import Vault

_EVERY_TIME = os.environ.get("REDRESS_TEST_KDF") == "every-time"


def _remember_argon2id() -> None:
    """Argon2id, at the production parameters, derived once per passphrase, salt and
    parameters in each test process, then remembered.

    Every unlock of a vault (every `vault` command the tests run in this process, and every
    ``Vault.unlock``) derives the same key from the same passphrase and salt: at a quarter
    of a gigabyte and three passes each, those repeats were most of the suite's time. The
    first derivation for any inputs is libsodium's; a repeat returns the bytes it gave, as a
    new :class:`vault._crypto.SecretBytes`. A wrong passphrase, a new salt (a new vault, a
    changed passphrase, a backup) or other parameters are other inputs, and derived afresh.
    Commands run as their own process (``Cli(own_process=True)``, the kill loops, the
    intake) derive every time, and so does anything inside :func:`every_derivation`.
    ``REDRESS_TEST_KDF=every-time`` turns the memory off."""
    derive = _crypto.argon2id
    derived: dict[tuple[bytes, bytes, int, int], bytes] = {}

    def argon2id(
        passphrase: _crypto.SecretBytes, salt: bytes, opslimit: int, memlimit: int
    ) -> _crypto.SecretBytes:
        if _EVERY_TIME or _deriving_every_time:
            return derive(passphrase, salt, opslimit, memlimit)
        inputs = (hashlib.sha256(passphrase.reveal()).digest(), bytes(salt), opslimit, memlimit)
        if inputs not in derived:
            derived[inputs] = derive(passphrase, salt, opslimit, memlimit).reveal()
        return _crypto.SecretBytes(derived[inputs], "passphrase-derived key")

    _crypto.argon2id = argon2id  # type: ignore[assignment]


_deriving_every_time = False
_remember_argon2id()


@contextlib.contextmanager
def every_derivation() -> Iterator[None]:
    """Within it, every Argon2id derivation in this process is made afresh: for a run timed
    to choose when to kill the same command run as its own process (which always derives),
    so that the span drawn from still covers the whole of that run's work."""
    global _deriving_every_time
    _deriving_every_time = True
    try:
        yield
    finally:
        _deriving_every_time = False


PASSPHRASE = Passphrase(b"correct horse battery staple")
os.environ["COLUMNS"] = "120"  # the width every vault command in the tests draws tables for
CANARY = "CANARY-7f3a9c-landlord"


def report_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sector": "healthcare",
        "role": "GP",
        "harms": ["racial-discrimination", "outing"],
        "what_happened": f"The GP told my landlord about my work. {CANARY}",
        "wants": ["support", "complaint-help"],
        "organisation": "Riverside Surgery",
        "contact": {"method": "email", "value": "someone@example.org"},
        "consent": {"alert": True, "research": False},
    }
    data.update(overrides)
    return data


# Test modules whose tests share one team of laptops (a module fixture), each building on the
# state the ones before it leave: run whole, in order, on one worker (make test runs the
# suite on every core with pytest-xdist). pytest-xdist's own loadgroup does not group them
# under this pytest (its nodeid suffix is not taken), so the scheduler is chosen here.
IN_ORDER = frozenset(
    {
        "tests/vault/test_epoch_settling.py",
        "tests/vault/test_review12l.py",
        "tests/vault/test_review12s.py",
        "tests/vault/test_review12t.py",
        "tests/vault/test_team_logs.py",
    }
)


# Test modules whose tests are independent but share a costly module fixture (a real session
# through the CLI, a vault made once, an intake started once): run whole on one worker too,
# so that the fixture is made once in the suite rather than once on each worker.
SHARED_SETUP = frozenset(
    {
        "tests/vault/test_alerts_team.py",
        "tests/faults/test_intake_disk.py",
        "tests/faults/test_intake_fuzz.py",
        "tests/vault/audit/test_audit.py",
        "tests/vault/audit/test_audit_meaning.py",
        "tests/vault/intake/test_api.py",
        "tests/vault/intake/test_codename.py",
        "tests/vault/intake/test_connections.py",
        "tests/vault/intake/test_hostile_input.py",
        "tests/vault/intake/test_languages.py",
        "tests/vault/intake/test_nojs.py",
        "tests/vault/intake/test_privacy.py",
        "tests/vault/test_backup.py",
        "tests/vault/test_db_damage.py",
        "tests/vault/test_review15g.py",
        "tests/vault/test_review16c.py",
        "tests/vault/test_sync_converge.py",
    }
)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Each test goes to whichever worker is free, except each module of :data:`IN_ORDER` and
    :data:`SHARED_SETUP`, which goes whole to one worker (pytest-xdist's scope scheduling, a
    test or a module per unit of work; the largest units are sent first)."""
    from xdist.scheduler import LoadScopeScheduling

    whole = IN_ORDER | SHARED_SETUP

    class _Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in whole else nodeid

    return _Scheduling(config, log)


def make_report(**overrides: Any) -> Report:
    return parse_report(report_data(**overrides))


def seal_for(vault: Vault, report: Report | None = None) -> bytes:
    key = vault.team_public_key()
    return seal_report(report or make_report(), key.epoch, key.public_key)


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "vault-data"


@pytest.fixture
def vault(vault_dir: Path) -> Iterator[Vault]:
    with Vault.create(vault_dir, "amara", PASSPHRASE) as v:
        yield v


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` and a hash of its bytes, to prove nothing changed."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def bytes_under(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


class Cli:
    """Runs the real ``vault`` command in a working directory with a passphrase file.

    By default the command runs in this process, through the entry point the installed
    ``vault`` calls (``cli.main.main``), with its own environment, working directory, stdin,
    stdout and stderr, and this process's umask put back after: starting Python and importing
    the vault for each of the suite's thousand-odd commands cost minutes. With
    ``own_process=True`` it runs the installed command itself, for tests about the process: a
    kill, a hang, a timeout, the console script; ``vault intake serve`` always does.
    """

    def __init__(self, cwd: Path, *, own_process: bool = False) -> None:
        self.cwd = cwd
        self.own_process = own_process
        self.passphrase_file = cwd / "passphrase"
        self.passphrase_file.write_bytes(PASSPHRASE.reveal() + b"\n")
        os.chmod(self.passphrase_file, 0o600)

    def __call__(
        self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.cwd),
            "VAULT_PASSPHRASE_FILE": str(self.passphrase_file),
            "COLUMNS": "120",
        }
        full_env.update(env or {})
        if not self.own_process and args[:2] != ("intake", "serve"):  # a server never returns
            return _in_process([*args], self.cwd, input, full_env)
        return subprocess.run(
            [str(VAULT_BIN), *args],
            cwd=self.cwd,
            input=input.decode() if input is not None else None,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=120,
            check=False,
        )


def _in_process(
    args: list[str], cwd: Path, input: bytes | None, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    from cli.main import main

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    umask = os.umask(0o077)
    stdin = io.TextIOWrapper(io.BytesIO(input or b""), encoding="utf-8")
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    code: int | str | None = 0
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
        try:
            main(args)
        except SystemExit as e:
            code = e.code
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        os.umask(umask)
    out, err = (stream.detach().getvalue() for stream in (stdout, stderr))  # type: ignore[attr-defined]
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(["vault", *args], returncode, out.decode(), err.decode())


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def intake_servers(tmp_path: Path) -> Iterator[IntakeServers]:
    """Real intakes (`vault intake serve` on loopback) for one test, stopped after it:
    ``intake_servers.start(team_key, *options)``. See tests/intake_server.py."""
    with IntakeServers(tmp_path) as servers:
        yield servers


def assert_clean_error(result: subprocess.CompletedProcess[str], code: int) -> None:
    """One plain sentence on stderr (plus an optional hint), the right code, no traceback."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].startswith(("vault: ", "Usage: ", "Error: ")), result.stderr
