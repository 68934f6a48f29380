"""The intake killed with SIGKILL mid-request, again and again, on one inbox.

Each round starts `vault intake serve` on the same data directory and sets reporters going
(real proof of work; some upload a sealed attachment first and name it in their report),
while the real `vault pull` pulls and acknowledges; after a random moment the intake is
killed with -9. Whatever a reporter was told was taken (202 for a report, 201 for its
attachment) must, after a restart and a final `vault pull` by the real vault, be in the vault
exactly once, with its attachment; nothing is in the vault twice, the intake's inbox is empty
once pulled, its stderr shows no traceback, and `vault check` is clean.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import make_report
from tests.faults.intake_harness import (
    TeamVault,
    build_request,
    proof,
    raw_request,
    shared_team,
    signed_json,
    size,
    start_intake,
    submit,
    tracebacks,
)
from tests.intake_server import IntakeServer, IntakeServers
from tests.sealing import attachment_entry
from vault.envelope import envelope_id

KILLS = size(2, 40)
REPORTERS = 3


class Reporters:
    """Reporter threads sending to one intake until it dies; what each was told is kept."""

    def __init__(self, team: TeamVault, url: str, seed: int) -> None:
        self.team = team
        self.url = url
        self.random = random.Random(seed)
        self.acknowledged: dict[str, str | None] = {}  # envelope id: the blob it names, if any
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.one()
            except (OSError, AssertionError, ValueError):  # the intake died under us
                time.sleep(0.01)

    def one(self) -> None:
        with_file = self.random.random() < 0.3
        blob_id = None
        report = make_report()
        if with_file:
            entry, blob = attachment_entry(self.random.randbytes(3000))
            headers = [
                (b"Content-Type", b"application/octet-stream"),
                (b"Content-Length", str(len(blob)).encode()),
                (b"X-Redress-PoW", proof(self.url).encode()),
            ]
            answer = raw_request(
                self.url, build_request(b"POST", b"/api/attachments", headers, blob)
            )
            if answer.status != 201:
                return
            blob_id = str(entry["blob"])
            assert json.loads(answer.body)["blob"] == blob_id
            report = make_report(attachments=[entry])
        envelope = self.team.seal(report)
        if submit(self.url, envelope).status == 202:
            with self.lock:
                self.acknowledged[envelope_id(envelope).hex()] = blob_id


@pytest.mark.slow
def test_acknowledged_reports_survive_kill_9_exactly_once(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    team = shared_team(tmp_path_factory)
    data = tmp_path / "intake-data"
    acknowledged: dict[str, str | None] = {}
    rng = random.Random(16)
    try:
        with IntakeServers(tmp_path) as servers:
            for round_ in range(KILLS):
                server = start_intake(servers, team, data=data)
                reporters = Reporters(team, server.url, round_)
                threads = [threading.Thread(target=reporters.run) for _ in range(REPORTERS)]
                for thread in threads:
                    thread.start()
                time.sleep(rng.uniform(0.2, 0.6))
                if round_ % 2:  # a pull (and its acknowledgements) under way when it dies
                    puller = threading.Thread(target=team.cli, args=("pull", "--from", server.url))
                    puller.start()
                    time.sleep(rng.uniform(0.05, 0.6))
                else:
                    puller = None
                kill(servers, server)
                reporters.stop.set()
                for thread in threads:
                    thread.join(60)
                if puller is not None:
                    puller.join(120)
                acknowledged.update(reporters.acknowledged)
            server = start_intake(servers, team, data=data)
            team.pull(server.url)
            left = signed_json(server.url, team.identity, "/api/pull", {"limit": 1000})
            assert left.status == 200
            assert json.loads(left.body)["envelopes"] == [], "the inbox still holds reports"
            assert tracebacks(server) == []
    finally:
        held = team.envelope_ids()
        blobs = {r[0] for r in team.vault.db.execute("SELECT id FROM blobs")}
        pending = team.vault.db.execute("SELECT count(*) FROM pending_blobs").fetchone()[0]
    assert acknowledged, "no report was acknowledged: the loop tested nothing"
    assert [i for i, n in held.items() if n > 1] == [], "a report is in the vault twice"
    lost = [i for i in acknowledged if held[i] != 1]
    assert lost == [], f"{len(lost)} of {len(acknowledged)} acknowledged reports were lost"
    missing = [b for b in acknowledged.values() if b is not None and b not in blobs]
    assert missing == [], f"attachments missing: {missing}"
    assert pending == 0, f"{pending} attachments still pending"
    team.check()
    print(
        f"\nintake kill -9: {KILLS} kills, {len(acknowledged)} acknowledged reports, all held once"
    )


def kill(servers: IntakeServers, server: IntakeServer) -> None:
    """SIGKILL, then forget the server (IntakeServers would want a clean exit from it)."""
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(30)
    servers.running.remove(server)
    assert tracebacks(server) == [], server.stderr_path.read_text()
