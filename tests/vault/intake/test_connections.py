"""Huge heads, idle and slow connections against a real intake (issue 16, F5 and F6).

docs/intake.md section 2, "Connections": a head is capped in bytes and header lines, must
arrive within a deadline, and idle connections do not count against requests.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.vault.intake.conftest import Intake, IntakeFactory, Team
from vault.intake.app import create_app
from vault.intake.config import IntakeConfig
from vault.intake.connections import HEAD_BYTES, HEAD_SECONDS, MAX_HEADERS, IntakeProtocol
from vault.intake.server import bind, quiet_server, url_of

HUGE = 64 << 20
CONNECTIONS = 16
RSS_LIMIT = 150 << 20


def host_port(intake: Intake) -> tuple[str, int]:
    host, port = intake.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    return host, int(port)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field}")  # pragma: no cover


def answer(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (or the timeout)."""
    sock.settimeout(timeout)
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return got


def closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before it closed the connection; None if still open."""
    sock.settimeout(max(0.1, seconds))
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return got


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def test_a_head_past_the_cap_is_431_and_closed(shared_intake: Intake) -> None:
    with socket.create_connection(host_port(shared_intake)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * HEAD_BYTES + b"\r\n\r\n")
        got = answer(sock)
    assert got.startswith(b"HTTP/1.1 431 "), got[:200]
    assert b"connection: close" in got.lower()
    assert got.endswith(b'{"error":"headers-too-large"}')
    assert b"content-security-policy:" in got.lower()


def test_too_many_header_lines_are_431(shared_intake: Intake) -> None:
    def request(lines: int) -> bytes:
        headers = b"".join(b"X-H%d: 1\r\n" % i for i in range(lines - 1))
        with socket.create_connection(host_port(shared_intake)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"Connection: close\r\n\r\n")
            return answer(sock)

    assert request(MAX_HEADERS - 1).startswith(b"HTTP/1.1 200 ")
    too_many = request(MAX_HEADERS + 1)
    assert too_many.startswith(b"HTTP/1.1 431 "), too_many[:200]


def test_a_long_url_is_431(shared_intake: Intake) -> None:
    with socket.create_connection(host_port(shared_intake)) as sock:
        sock.sendall(b"GET /" + b"a" * (2 * HEAD_BYTES) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer(sock).startswith(b"HTTP/1.1 431 ")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_sixteen_64_mib_headers_keep_memory_under_150_mib(intake: Intake, team: Team) -> None:
    """The repro of F5: before, the intake grew from 66 to 1,188 MiB."""
    pid = intake.process.pid
    intake.client.get("/")  # warm up
    statuses: list[bytes] = []
    block = b"a" * (1 << 20)

    def attack() -> None:
        with socket.create_connection(host_port(intake)) as sock:
            try:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Huge: ")
                for _ in range(HUGE // len(block)):
                    sock.sendall(block)
            except (BrokenPipeError, ConnectionResetError):
                pass
            statuses.append(answer(sock, 5)[:12])

    threads = [threading.Thread(target=attack) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    peak = status_kib(pid, "VmHWM") << 10
    assert peak < RSS_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"
    assert b"HTTP/1.1 431" in statuses, statuses
    assert intake.submit(team.seal()).status_code == 202  # and it still serves reports


@pytest.mark.slow
def test_600_idle_and_slow_connections_do_not_lock_out_a_reporter(
    intake: Intake, team: Team, sockets: list[socket.socket]
) -> None:
    """The repro of F6: before, every request got 503 "Exceeded concurrency limit"."""
    address = host_port(intake)
    for _ in range(600):
        sockets.append(socket.create_connection(address))
    slow = []
    for _ in range(20):  # slow-loris: a head one byte at a time, never finished
        sock = socket.create_connection(address)
        sock.sendall(b"POST /api/reports HTTP/1.1\r\nHost: x\r\n")
        slow.append(sock)
    sockets.extend(slow)
    time.sleep(0.5)  # the server has accepted them all

    started = time.monotonic()
    assert intake.submit(team.seal()).status_code == 202
    assert intake.pull()["envelopes"], "the report was stored"

    # The slow heads are cut off at the head deadline however they trickle, and the
    # idle sockets too (none of them ever sent a request).
    for sock in slow:
        sock.sendall(b"X")
    deadline = started + HEAD_SECONDS + 5
    for sock in slow[:3]:
        got = closed_within(sock, deadline - time.monotonic())
        assert got is not None, "a slow head outlived the head deadline"
        assert got.startswith(b"HTTP/1.1 408 "), got[:100]
    for sock in sockets[:3]:
        assert closed_within(sock, deadline - time.monotonic()) == b""


@pytest.mark.slow
def test_a_body_that_trickles_is_cut_off_at_its_deadline(start_intake: IntakeFactory) -> None:
    """A byte every half second never trips --read-timeout, but the body deadline does."""
    intake = start_intake("--read-timeout", "2")
    with socket.create_connection(host_port(intake)) as sock:
        sock.sendall(
            b"POST /witness/add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 16384\r\n\r\n"
        )
        started = time.monotonic()
        sock.settimeout(0.5)
        got = b""
        while time.monotonic() - started < 20 and not got:
            try:
                sock.sendall(b"o")
                got = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
    # 2 s, plus 16 KiB at 16 KiB/s: about 3 s
    assert got.startswith(b"HTTP/1.1 408 "), got[:100]
    assert time.monotonic() - started < 8


@pytest.mark.slow
def test_at_the_connection_cap_the_longest_idle_connection_is_closed(
    tmp_path: Path, team: Team, monkeypatch: pytest.MonkeyPatch, sockets: list[socket.socket]
) -> None:
    """A real server (in a thread) with a cap of 40 connections, and 50 idle sockets."""
    (tmp_path / "team.json").write_bytes(team.public.to_file_bytes())
    config = IntakeConfig(team_key_file=tmp_path / "team.json", data_dir=tmp_path / "data")
    sock = bind("127.0.0.1", 0)
    server = quiet_server(create_app(config))
    monkeypatch.setattr(IntakeProtocol, "connection_cap", 40)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        address = sock.getsockname()[:2]
        for _ in range(50):
            sockets.append(socket.create_connection(address))
            time.sleep(0.01)  # so that the server sees them in this order
        with httpx.Client(base_url=url_of(sock)) as client:
            assert client.get("/api/challenge").status_code == 200
        time.sleep(0.2)
        closed = [closed_within(s, 0.05) is not None for s in sockets]
    finally:
        for opened in sockets:
            opened.close()
        server.should_exit = True
        thread.join(10)
        sock.close()
    # The oldest were closed to make room (10 for the sockets, 1 for the client), the
    # newest were not.
    assert all(closed[:10]), closed
    assert not any(closed[-20:]), closed
