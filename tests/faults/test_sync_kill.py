"""`vault sync` killed with SIGKILL, on either side, again and again: two laptops, one relay.

Two real vault folders (amara's laptop, made by `vault init`; bea's, by `vault join`) and one
real `vault intake serve` on loopback. Each round both laptops work (notes and a status
change, on the cases they hold), two reports arrive at the intake (one with an attachment
of 1-3 MiB: one to three relay parts), and then:

* amara's `vault sync` and bea's, each a real process, are killed with -9 at a random moment
  of their run (from about when it has unlocked to the end of a recent busy sync, both
  measured in this test);
* every third round the intake itself is killed with -9 while bea's sync talks to it, then
  started again on the same folder (at a new port: the next sync names the new URL).

Every fourth round both sync to the end (as a caseworker would), and both laptops must hold
everything acknowledged anywhere (a note whose command returned, a report the intake
answered 202, an event a laptop held after an earlier finished sync) exactly once: no case,
event, note or attachment twice, no attachment part left waiting; every sync after a kill
completes; `vault check` exits 0 on both; and once both have synced, the relay holds no
item.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, Cli, make_report
from tests.faults.conftest import RESULTS, SEED, scale
from tests.faults.killer import KillLoop, cli_env, run_killed
from tests.faults.ledger import Ledger, state_of
from tests.intake_server import VAULT_BIN, IntakeServer, IntakeServers
from tests.sealing import attachment_entry
from tests.vault.test_sync_relay_blind import _upload
from vault.audit.terms import STATUSES
from vault.envelope import envelope_id, seal_report
from vault.intake.inbox import Inbox
from vault.keys import TeamPublicKey
from vault.store import Vault
from vault.submit import send_envelope

pytestmark = [pytest.mark.slow, pytest.mark.faults]

ROUNDS = scale(3, 40)  # each round: two sync kills; an intake kill every third round
NOTES_A_ROUND = 15  # per laptop: enough relay work that most kills land mid-sync
OPEN = [s for s in STATUSES if s not in ("new", "closed")]


class Team:
    """Two laptops and their relay, from the test's side."""

    def __init__(self, cli: Cli, servers: IntakeServers, team_key: Path) -> None:
        self.cli = cli
        self.servers = servers
        self.team_key = team_key
        self.a = cli.cwd / "amara-laptop"
        self.b = cli.cwd / "bea-laptop"
        self.intake: IntakeServer | None = None
        self.ledgers = {self.a: Ledger(), self.b: Ledger()}
        self.names = {self.a: "amara", self.b: "bea"}
        self.open: dict[Path, Vault] = {}  # each laptop as this process holds it unlocked
        self.sent: set[bytes] = set()  # envelope ids the intake answered 202
        self.attachments = 0
        self.made = 0

    @property
    def url(self) -> str:
        assert self.intake is not None
        return self.intake.url

    def start_intake(self) -> None:
        data = self.intake.data if self.intake else None
        self.intake = self.servers.start(self.team_key, data=data)

    def kill_intake(self) -> None:
        """SIGKILL the intake, as a power cut would, and forget it (it did not stop cleanly,
        which `IntakeServers.stop_all` would otherwise count against it)."""
        assert self.intake is not None
        self.intake.process.send_signal(signal.SIGKILL)
        self.intake.process.wait()
        self.servers.running.remove(self.intake)

    def sync_args(self, laptop: Path) -> list[str]:
        return ["sync", "--from", self.url, "--vault", str(laptop)]

    def work(self, rng: random.Random, round_: int) -> None:
        """Notes and status changes on both laptops; two reports, one with an attachment."""
        key = TeamPublicKey.from_file_bytes(self.team_key.read_bytes())
        for n in range(2):
            self.made += 1
            attachments = []
            if n == 0:
                entry, blob = attachment_entry(os.urandom(rng.randint(1 << 20, 3 << 20)))
                _upload(self.url, blob)
                attachments = [entry]
                self.attachments += 1
            report = make_report(what_happened=f"report {self.made}", attachments=attachments)
            envelope = seal_report(report, key.epoch, key.public_key)
            send_envelope(self.url, envelope)
            self.sent.add(envelope_id(envelope))
        for laptop, vault in self.open.items():
            cases = [str(r[0]) for r in vault.db.execute("SELECT id FROM cases")]
            if not cases:
                continue
            for i in range(NOTES_A_ROUND):
                text = f"{self.names[laptop]} round {round_} note {i}"
                vault.add_note(rng.choice(cases), text)
                self.ledgers[laptop].notes.add(text)  # acknowledged: it returned
            case = rng.choice(cases)
            (now,) = vault.db.execute("SELECT status FROM cases WHERE id = ?", (case,))
            vault.set_status(case, rng.choice([s for s in OPEN if s != now[0]]))

    def finish(self, loop: KillLoop, *args: str) -> None:
        """Run a command to the end through the real CLI (in this process: quicker)."""
        result = self.cli(*args)
        loop.history.append(f"vault {' '.join(args)}: exit {result.returncode}")
        loop.check(result.returncode == 0 and "Traceback" not in result.stderr, result.stderr)

    def settle(self, loop: KillLoop) -> None:
        """Both sync to the end (a, b, a: then each holds all the other did), then nothing
        acknowledged anywhere is lost or doubled, and `vault check` is clean on both."""
        for laptop in (self.a, self.b, self.a):
            self.finish(loop, *self.sync_args(laptop))
        states = {laptop: state_of(vault) for laptop, vault in self.open.items()}
        for laptop, state in states.items():
            ledger = self.ledgers[laptop]
            loop.check(ledger.problems(state) == [], (self.names[laptop], ledger.problems(state)))
            loop.check(self.sent <= set(state.envelopes), "a report the intake took is missing")
            self.finish(loop, "check", "--vault", str(laptop))
            db = self.open[laptop].db
            blobs = int(db.execute("SELECT count(*) FROM blobs").fetchone()[0])
            parts = int(db.execute("SELECT count(*) FROM sync_blob_parts").fetchone()[0])
            loop.check(blobs == self.attachments, f"{blobs} attachments, {self.attachments} sent")
            loop.check(parts == 0, f"{parts} attachment parts left waiting")
        a, b = states[self.a], states[self.b]
        loop.check(Counter(a.events) == Counter(b.events), "the laptops hold different events")
        loop.check(Counter(a.notes) == Counter(b.notes), "the laptops hold different notes")
        for laptop, state in states.items():
            ledger = self.ledgers[laptop]
            ledger.acknowledge(state)
            ledger.notes |= set(a.notes) | set(b.notes)  # now held on both: promised on both


def _make_team(cli: Cli, servers: IntakeServers) -> Team:
    def ok(*args: str) -> None:
        result = cli(*args)
        assert result.returncode == 0, (args, result.stderr)

    ok("init", "--name", "amara", "--vault", "amara-laptop")
    ok("team-key", "export", "team.json", "--vault", "amara-laptop")
    team = Team(cli, servers, cli.cwd / "team.json")
    team.start_intake()
    ok("join", "--name", "bea", "--out", "bea.request", "--vault", "bea-laptop")
    ok("caseworker", "add", "bea", "--request", "bea.request", "--vault", "amara-laptop")
    ok(*team.sync_args(team.a))
    ok(*team.sync_args(team.b))
    for laptop, name in team.names.items():
        team.open[laptop] = Vault.unlock(laptop, PASSPHRASE, name)
    return team


def test_sync_killed_on_either_side(tmp_path: Path) -> None:
    name = "test_sync_killed_on_either_side"
    cli = Cli(tmp_path)
    rng = random.Random(f"{SEED}:{name}")
    loop = KillLoop(cli, name, SEED, rng)
    started = time.monotonic()
    (tmp_path / "intakes").mkdir()
    with IntakeServers(tmp_path / "intakes") as servers:
        team = _make_team(cli, servers)
        team.work(rng, 0)
        took = [loop.finish(team.sync_args(team.a)).seconds]  # busy: a round's work to send
        team.settle(loop)
        idle = loop.finish(team.sync_args(team.a)).seconds  # starting, unlocking, asking

        def span() -> tuple[float, float]:
            """Kill from about when a sync has unlocked to the end of a recent busy one (a
            kill while Python starts tests nothing; one after the end is no kill)."""
            recent = sorted(took[-6:])[len(took[-6:]) // 2]
            return 0.8 * idle, max(recent, idle) * 0.95

        intake_kills = 0
        for round_ in range(1, ROUNDS + 1):
            team.work(rng, round_)
            for laptop in (team.a, team.b) if round_ % 2 else (team.b, team.a):
                _kill(loop, team.sync_args(laptop), span, took)
            if round_ % 3 == 0:
                intake_kills += _kill_the_intake_mid_sync(team, loop, rng, span(), took)
            if round_ % 4 == 0 or round_ == ROUNDS:
                team.settle(loop)
        for laptop in (team.a, team.b):  # each fetches past the other's last items
            team.finish(loop, *team.sync_args(laptop))
        for vault in team.open.values():
            vault.close()
        assert team.intake is not None
        assert team.intake.stop() == 0
        with Inbox.open(team.intake.data) as relay:
            loop.check(relay.relay_count() == 0, "the relay still holds items")
    loop.kills += intake_kills
    RESULTS.append((name, loop.kills, time.monotonic() - started))
    print(f"\n{name}: {loop.kills} kills ({intake_kills} of the intake), 0 losses")


def _kill(
    loop: KillLoop, args: list[str], span: Callable[[], tuple[float, float]], took: list[float]
) -> None:
    """:meth:`KillLoop.kill`, with the delay drawn from ``span()``; a run that ended first
    must have exited 0, and its time goes into ``took``."""
    delay = loop.rng.uniform(*span())
    run = run_killed(args, cwd=loop.cli.cwd, env=cli_env(loop.cli), delay=delay)
    loop.history.append(run.describe())
    if run.killed:
        loop.kills += 1
    else:
        loop.check(run.returncode == 0 and "Traceback" not in run.stderr, run)
        took.append(run.seconds)


def _kill_the_intake_mid_sync(
    team: Team, loop: KillLoop, rng: random.Random, span: tuple[float, float], took: list[float]
) -> int:
    """Bea's sync runs; the intake is killed under it; then started again on its folder."""
    delay = rng.uniform(*span)
    process = subprocess.Popen(
        [str(VAULT_BIN), *team.sync_args(team.b)],
        cwd=team.cli.cwd,
        env=cli_env(team.cli),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    finished_first = process.poll() is not None
    team.kill_intake()
    _, err = process.communicate(timeout=120)
    loop.history.append(
        f"intake killed at {delay:.3f} s into bea's sync: exit {process.returncode}"
    )
    loop.check(process.returncode in (0, 1) and "Traceback" not in err, err)
    if finished_first:
        took.append(delay)
    team.start_intake()
    return 0 if finished_first else 1
