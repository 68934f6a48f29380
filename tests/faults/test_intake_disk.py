"""The intake's disk fills up: a real tmpfs of 2 MiB, mounted by the test itself.

Mounting needs root (and the right to mount); without it each test is skipped and says why,
never passing on a disk that is not full. Reporters (real proof of work) send reports until
the intake stops taking them. Then:

* what they are told (F3): 503 with ``Retry-After``, for reports, attachments and the
  no-JavaScript form (issue 16 found 500s);
* the real `vault pull` drains the full intake, and reports are taken again afterwards
  (issue 16 found the pull refused too);
* whatever the intake acknowledged before it filled up is, once the disk is grown and the
  vault has pulled, in the vault exactly once (this holds today).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import report_data
from tests.faults.intake_harness import (
    Answer,
    TeamVault,
    build_request,
    proof,
    raw_request,
    shared_team,
    signed_json,
    start_intake,
    submit,
    tracebacks,
)
from tests.intake_server import IntakeServer, IntakeServers
from tests.sealing import attachment_entry
from vault.envelope import envelope_id

DISK = "2m"
GROWN = "64m"


@contextlib.contextmanager
def small_disk(where: Path) -> Iterator[Path]:
    """A tmpfs of DISK mounted at ``where``; skips the test if this account cannot mount."""
    where.mkdir(mode=0o700)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}): needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def grow(where: Path) -> None:
    subprocess.run(["mount", "-o", f"remount,size={GROWN}", str(where)], check=True)


@dataclass
class Filled:
    server: IntakeServer
    team: TeamVault
    acknowledged: list[str] = field(default_factory=list)
    refusals: list[Answer] = field(default_factory=list)


def fill(team: TeamVault, server: IntakeServer) -> Filled:
    """Send reports until the intake has refused five in a row (at most 2,000)."""
    filled = Filled(server, team)
    for _ in range(2000):
        envelope = team.seal()
        answer = submit(server.url, envelope)
        if answer.status == 202:
            filled.acknowledged.append(envelope_id(envelope).hex())
            filled.refusals.clear()
        else:
            filled.refusals.append(answer)
            if len(filled.refusals) >= 5:
                break
    assert filled.refusals, "the disk never filled up"
    assert filled.acknowledged, "no report was taken before the disk filled"
    return filled


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Filled, Path]]:
    """One intake filled once for the module's tests, which run in the order written: the
    answers on the full disk, then draining it by pull, then growing the disk."""
    team = shared_team(tmp_path_factory)
    root = tmp_path_factory.mktemp("full-disk")
    with small_disk(root / "disk") as disk, IntakeServers(root) as servers:
        server = start_intake(servers, team, data=disk / "intake-data")
        yield fill(team, server), disk
        assert tracebacks(server) == []


def retry_after(answer: Answer) -> str | None:
    for line in answer.head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"retry-after":
            return value.strip().decode()
    return None


@pytest.mark.slow
def test_a_full_disk_answers_503_with_retry_after(full: tuple[Filled, Path]) -> None:
    filled, _ = full
    url = filled.server.url
    _, blob = attachment_entry(b"x" * 200_000)
    upload = raw_request(
        url,
        build_request(
            b"POST",
            b"/api/attachments",
            [
                (b"Content-Type", b"application/octet-stream"),
                (b"Content-Length", str(len(blob)).encode()),
                (b"X-Redress-PoW", proof(url).encode()),
            ],
            blob,
        ),
    )
    form = urlencode(
        {k: v for k, v in report_data().items() if isinstance(v, str)}
        | {"harms": "violence", "contact_method": "none"}
    ).encode()
    nojs = raw_request(
        url,
        build_request(
            b"POST",
            b"/report",
            [
                (b"Content-Type", b"application/x-www-form-urlencoded"),
                (b"Content-Length", str(len(form)).encode()),
            ],
            form,
        ),
    )
    for answer in [*filled.refusals, upload, nojs]:
        assert answer.status == 503, answer.head
        assert retry_after(answer) is not None, answer.head


@pytest.mark.slow
def test_pull_drains_a_full_intake_which_then_takes_reports(full: tuple[Filled, Path]) -> None:
    filled, _ = full
    filled.team.pull(filled.server.url)
    held = filled.team.envelope_ids()
    assert all(held[i] == 1 for i in filled.acknowledged)
    assert all(n == 1 for n in held.values())
    assert submit(filled.server.url, filled.team.seal()).status == 202


@pytest.mark.slow
def test_nothing_acknowledged_is_lost_when_the_intake_disk_fills(
    full: tuple[Filled, Path],
) -> None:
    filled, disk = full
    for answer in filled.refusals:  # refused, not half-taken: a status, never a dropped line
        assert answer.status is not None, answer.head
        assert answer.status >= 400, answer.head
    grow(disk)
    filled.team.pull(filled.server.url)
    held = filled.team.envelope_ids()
    lost = [i for i in filled.acknowledged if held[i] != 1]
    assert lost == [], f"{len(lost)} of {len(filled.acknowledged)} acknowledged reports lost"
    assert [i for i, n in held.items() if n != 1] == []
    left = signed_json(filled.server.url, filled.team.identity, "/api/pull", {"limit": 1000})
    assert left.status == 200
    assert json.loads(left.body)["envelopes"] == []
    assert submit(filled.server.url, filled.team.seal()).status == 202
    filled.team.check()
