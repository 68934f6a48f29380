"""A short load run against a real intake: correctness only, never timing.

Reporters with real proof of work (``bench/load.py``'s reporter: challenge, solve as
``vault submit`` does, post a real envelope) send against a low global rate cap. Every answer
must be 202, or 429 with ``Retry-After`` (the documented answer to the cap); no 5xx, and every
202 is in the vault exactly once after a real ``vault pull``. The same reporters must still be
served while 600 idle connections are held open (F6) and while 16 connections send huge
headers (F5, with the server's peak RSS under 150 MiB). ``bench/load.py``
(``python -m bench --only load``) measures the same run.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from bench import load
from tests.faults.intake_harness import (
    TeamVault,
    shared_team,
    size,
    start_intake,
    tracebacks,
)
from tests.intake_server import IntakeServer, IntakeServers
from vault.envelope import envelope_id

SECONDS = size(2, 20)
HUGE_MIB = size(16, 64)
RATE = 60  # per minute (bursts up to 60): the reporters meet the cap within the run


@pytest.fixture
def team(tmp_path_factory: pytest.TempPathFactory) -> TeamVault:
    return shared_team(tmp_path_factory)


def reporters(
    server: IntakeServer, team: TeamVault, attack: contextlib.AbstractContextManager[object] | None
) -> tuple[load.Phase, list[bytes]]:
    items = [team.seal() for _ in range(300)]
    phase = load.run_phase(
        server.url,
        server.process.pid,
        items,
        "reporters",
        4,
        SECONDS,
        (lambda: attack) if attack is not None else None,
    )
    return phase, items


def assert_served(phase: load.Phase) -> None:
    assert phase.server_errors == 0, phase.statuses
    assert phase.accepted > 0, phase.statuses
    assert set(phase.statuses) <= {"202", "429"}, phase.statuses
    assert phase.retry_after_missing == 0


@pytest.mark.slow
def test_reporters_under_the_rate_cap_get_202_or_429(tmp_path: Path, team: TeamVault) -> None:
    with IntakeServers(tmp_path) as servers:
        server = start_intake(servers, team, pow_bits=10, rate_per_minute=RATE)
        phase, items = reporters(server, team, None)
        assert_served(phase)
        assert phase.statuses["429"] > 0, "the rate cap was never met: raise the load"
        team.pull(server.url)
        held = team.envelope_ids()
        sent = {envelope_id(e).hex() for e in items}
        assert sum(n for i, n in held.items() if i in sent) == phase.accepted
        assert all(n == 1 for n in held.values())
        assert tracebacks(server) == []


@pytest.mark.slow
def test_reporters_are_served_beside_600_idle_connections(tmp_path: Path, team: TeamVault) -> None:
    with IntakeServers(tmp_path) as servers:
        server = start_intake(servers, team, pow_bits=10, rate_per_minute=RATE)
        phase, _ = reporters(server, team, load.attack(server.url, 600, 0, 0))
        assert_served(phase)


@pytest.mark.slow
def test_huge_headers_neither_swell_the_intake_nor_stop_reporters(
    tmp_path: Path, team: TeamVault
) -> None:
    with IntakeServers(tmp_path) as servers:
        server = start_intake(servers, team, pow_bits=10, rate_per_minute=RATE)
        phase, _ = reporters(server, team, load.attack(server.url, 0, 16, HUGE_MIB))
        assert_served(phase)
        assert phase.peak_rss_mib < load.RSS_LIMIT_MIB, phase.peak_rss_mib
