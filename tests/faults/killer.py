"""Run a real `vault` command and SIGKILL it after a delay: the one primitive of the kill loops.

:func:`run_killed` starts the command in its own process group, waits ``delay`` seconds and
kills the whole group with SIGKILL (what a power cut or the OOM killer does to a process: no
handler, no ``finally``, no atexit). It returns what happened: killed, or finished first with
its exit code and output. :class:`KillLoop` keeps the seed and every delay drawn, so a failing
loop prints the line that replays it (``REDRESS_FAULTS_SEED=...``).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import Cli
from tests.intake_server import VAULT_BIN

TIMEOUT = 300  # seconds any one uninterrupted command may take before the loop fails


@dataclass(frozen=True)
class Run:
    """One run of a command: killed (at ``delay`` seconds) or finished with ``returncode``."""

    args: tuple[str, ...]
    delay: float | None
    killed: bool
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        what = "killed" if self.killed else f"exit {self.returncode}"
        at = f" at {self.delay:.3f} s" if self.delay is not None else ""
        return f"vault {' '.join(self.args)}{at}: {what}"


def cli_env(cli: Cli, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment :class:`tests.conftest.Cli` gives the command, plus ``env``."""
    full = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cli.cwd),
        "VAULT_PASSPHRASE_FILE": str(cli.passphrase_file),
        "COLUMNS": "120",
    }
    full.update(env or {})
    return full


def run_killed(args: Sequence[str], *, cwd: Path, env: dict[str, str], delay: float | None) -> Run:
    """Run ``vault ARGS``; if it is still running after ``delay`` seconds, SIGKILL it.

    ``delay=None`` runs it to the end (within :data:`TIMEOUT`)."""
    started = time.monotonic()
    process = subprocess.Popen(
        [str(VAULT_BIN), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, killed whole
    )
    killed = False
    try:
        out, err = process.communicate(timeout=TIMEOUT if delay is None else delay)
    except subprocess.TimeoutExpired:
        if delay is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise AssertionError(f"vault {' '.join(args)} ran over {TIMEOUT} s") from None
        with contextlib.suppress(ProcessLookupError):  # it finished just before the kill
            os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        killed = process.returncode == -signal.SIGKILL
    return Run(tuple(args), delay, killed, process.returncode, out, err, time.monotonic() - started)


@dataclass
class KillLoop:
    """A seeded series of runs of one command; :meth:`fail` explains how to replay it."""

    cli: Cli
    name: str
    seed: str
    rng: random.Random
    env: dict[str, str] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    kills: int = 0

    def kill(self, args: Sequence[str], span: float, env: dict[str, str] | None = None) -> Run:
        """Run ``args`` and kill it at a delay drawn uniformly from [0, ``span``) seconds.

        A run that finished before its kill must have exited 0 or given a plain one-line
        error (never a traceback); either way the caller reruns to completion."""
        delay = self.rng.uniform(0.0, span)
        run = run_killed(args, cwd=self.cli.cwd, env=cli_env(self.cli, self.env | (env or {})),
                         delay=delay)  # fmt: skip
        self.history.append(run.describe())
        if run.killed:
            self.kills += 1
        else:
            self.check(run.returncode == 0 or "Traceback" not in run.stderr, run)
        return run

    def finish(
        self, args: Sequence[str], env: dict[str, str] | None = None, done: str | None = None
    ) -> Run:
        """Run ``args`` to the end; it must exit 0 (or, given ``done``, fail saying it)."""
        run = run_killed(args, cwd=self.cli.cwd, env=cli_env(self.cli, self.env | (env or {})),
                         delay=None)  # fmt: skip
        self.history.append(run.describe())
        finished = run.returncode == 0 or (done is not None and done in run.stderr)
        self.check(finished and "Traceback" not in run.stderr, run)
        return run

    def check(self, ok: bool, detail: object) -> None:
        if not ok:
            raise AssertionError(self.explain(detail))

    def explain(self, detail: object) -> str:
        tail = "\n  ".join(self.history[-12:])
        return (
            f"{self.name} loop failed: {detail}\n"
            f"replay with REDRESS_FAULTS_SEED={self.seed}; the last runs were:\n  {tail}"
        )
