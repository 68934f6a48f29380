"""The fault harness's fixtures: quick or full, the seed, a ready vault, a kill loop.

``REDRESS_FAULTS=full`` (``make faults``) runs every loop at full length; anything else runs
the quick form that ``make test`` includes. ``REDRESS_FAULTS_SEED`` replays a failing run:
every delay and every damaged byte is drawn from a ``random.Random`` seeded with it and the
test's name. See docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, every_derivation, make_report
from tests.faults.killer import KillLoop, run_killed
from tests.faults.ledger import Ledger, read_state
from vault.envelope import envelope_id, seal_report
from vault.keys import TeamPublicKey

FULL = os.environ.get("REDRESS_FAULTS", "quick") == "full"
SEED = os.environ.get("REDRESS_FAULTS_SEED") or secrets.token_hex(4)
TEMPLATE_REPORTS = 3
AS_AMARA = {"VAULT_CASEWORKER": "amara"}  # once a loop adds caseworkers, commands must say who

# (loop, kills, seconds) of every kill loop run in this process, for the summary and
# docs/benchmarks.md ("Fault harness").
RESULTS: list[tuple[str, int, float]] = []


def scale(quick: int, full: int) -> int:
    """How many rounds a loop runs: ``quick`` in `make test`, ``full`` in `make faults`."""
    return full if FULL else quick


def pick(params: list[Any], quick: set[str]) -> list[Any]:
    """Every case in `make faults`; in the quick form only those named in ``quick``."""
    if FULL:
        return params
    return [p for p in params if (p.values[0] if hasattr(p, "values") else p) in quick]


CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[CALL_REPORT] = report
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RESULTS:
        mode = "full" if FULL else "quick"
        terminalreporter.section(f"fault harness ({mode}, seed {SEED})")
        for name, kills, seconds in RESULTS:
            terminalreporter.write_line(f"{name}: {kills} kills, 0 losses, {seconds:.0f} s")


@pytest.fixture(scope="session")
def template_vault(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vault made once per worker (init, team key, three reports, a note), copied per test."""
    home = tmp_path_factory.mktemp("faults-template")
    cli = Cli(home)
    for args in (("init", "--name", "amara"), ("team-key", "export", "team-key.json")):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
    key = TeamPublicKey.from_file_bytes((home / "team-key.json").read_bytes())
    for i in range(TEMPLATE_REPORTS):
        envelope = seal_report(
            make_report(what_happened=f"template {i}"), key.epoch, key.public_key
        )
        (home / f"t{i}.env").write_bytes(envelope)
    result = cli("import", *(f"t{i}.env" for i in range(TEMPLATE_REPORTS)))
    assert result.returncode == 0, result.stderr
    case = result.stdout.split()[0]
    result = cli("cases", "note", case, "template note")
    assert result.returncode == 0, result.stderr
    return home


@dataclass
class World:
    """A test's own copy of the template: its CLI, vault folder, team key and ledger."""

    cli: Cli
    ledger: Ledger = field(default_factory=Ledger)
    made: int = 0

    @property
    def vault(self) -> Path:
        return self.cli.cwd / "vault-data"

    @property
    def team_key_file(self) -> Path:
        return self.cli.cwd / "team-key.json"

    def case_ids(self, vault: Path | None = None) -> list[str]:
        result = self.run("cases", "list", "--json", "--vault", str(vault or self.vault))
        assert result.returncode == 0, result.stderr
        return [str(case["id"]) for case in json.loads(result.stdout)]

    def envelopes(self, n: int) -> list[bytes]:
        key = TeamPublicKey.from_file_bytes(self.team_key_file.read_bytes())
        made = []
        for _ in range(n):
            self.made += 1
            report = make_report(what_happened=f"report {self.made} {secrets.token_hex(4)}")
            made.append(seal_report(report, key.epoch, key.public_key))
        return made

    def envelope_files(self, n: int) -> tuple[list[str], set[bytes]]:
        names = []
        ids = set()
        envelopes = self.envelopes(n)
        for k, envelope in enumerate(envelopes, self.made - n + 1):
            name = f"e{k}.env"
            (self.cli.cwd / name).write_bytes(envelope)
            names.append(name)
            ids.add(envelope_id(envelope))
        return names, ids

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli(*args, env=AS_AMARA)

    def timed(self, *args: str) -> float:
        """Run a command to the end and return most of its seconds: the span kill delays are
        drawn from, so that nearly every kill lands while the command is working."""
        with every_derivation():  # as the killed run, its own process, unlocks
            started = time.monotonic()
            result = self.run(*args)
        assert result.returncode == 0, (args, result.stderr)
        return (time.monotonic() - started) * 0.9

    def settle(self, loop: KillLoop, directory: Path | None = None, name: str = "amara") -> None:
        """After a rerun to completion: nothing acknowledged lost or doubled, all of it now
        acknowledged, and `vault check` clean (exit 0)."""
        directory = directory or self.vault
        state = read_state(directory, name)
        loop.check(self.ledger.problems(state) == [], self.ledger.problems(state))
        self.ledger.acknowledge(state)
        loop.finish(["check", "--vault", str(directory), "--as", name])


@pytest.fixture
def world(template_vault: Path, tmp_path: Path) -> World:
    home = tmp_path / "home"
    shutil.copytree(template_vault, home, symlinks=True)
    world = World(Cli(home))
    world.ledger.acknowledge(read_state(world.vault))
    return world


@pytest.fixture
def loop(request: pytest.FixtureRequest, world: World) -> Iterator[KillLoop]:
    name = request.node.name
    kill_loop = KillLoop(world.cli, name, SEED, random.Random(f"{SEED}:{name}"), dict(AS_AMARA))
    started = time.monotonic()
    yield kill_loop
    report = request.node.stash.get(CALL_REPORT, None)
    if report is not None and report.passed and kill_loop.kills:  # passed: "0 losses"
        RESULTS.append((name, kill_loop.kills, time.monotonic() - started))
        print(f"\n{name}: {kill_loop.kills} kills, 0 losses")  # shown with -s, as it happens


__all__ = ["FULL", "SEED", "World", "run_killed", "scale"]
