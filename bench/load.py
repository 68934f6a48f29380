"""The intake under attack: reporters with real proof of work while others hold it down.

One real ``vault intake serve`` on loopback, with proof of work at ``POW_BITS`` and the
global rate cap at ``RATE_PER_MINUTE``. Reporters (threads, each fetching a challenge,
solving it as ``vault submit`` does, then posting a real envelope) send for ``seconds``:

1. alone: the reference, measured in the same run;
2. while the attack runs: ``IDLE`` connections that send half a request line and then
   nothing (slow loris), and ``HUGE`` connections each sending a header of ``HUGE_MIB`` MiB,
   with no key and no proof of work.

Each phase reports accepted reports per second, p50 and p99 of the POST's latency (the
answer to ``POST /api/reports``, proof of work excluded), every status seen, and the server's
peak RSS (``VmHWM`` in ``/proc/PID/status``). The ratio is accepted/s under attack over
accepted/s alone. A 5xx is a fault, as is a peak RSS over ``RSS_LIMIT_MIB``; 429 with
``Retry-After`` is the documented answer to the rate cap.
"""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.corpus import envelopes
from bench.intake import Setup
from vault.intake.limits import POW_HEADER, solve

POW_BITS = 12
RATE_PER_MINUTE = 600
REPORTERS = 8
IDLE = 600
HUGE = 16
HUGE_MIB = 64
RSS_LIMIT_MIB = 150


@dataclass
class Phase:
    """What the reporters saw in one phase, and the server's memory."""

    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)  # of accepted posts
    statuses: Counter[str] = field(default_factory=Counter)
    retry_after_missing: int = 0  # 429s without Retry-After
    peak_rss_mib: float = 0.0
    idle_rss_mib: float = 0.0

    @property
    def accepted(self) -> int:
        return self.statuses["202"]

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s.split()[-1].startswith("5"))

    def percentile(self, p: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seconds": self.seconds,
            "accepted": self.accepted,
            "accepted_per_s": self.accepted / self.seconds,
            "p50_s": self.percentile(50),
            "p99_s": self.percentile(99),
            "median_s": statistics.median(self.latencies) if self.latencies else None,
            "statuses": dict(self.statuses),
            "server_errors": self.server_errors,
            "retry_after_missing": self.retry_after_missing,
            "idle_rss_mib": self.idle_rss_mib,
            "peak_rss_mib": self.peak_rss_mib,
        }


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _exchange(url: str, request: bytes, timeout: float = 60) -> tuple[str, bytes, bytes]:
    """One request on its own connection: (status or "none"/"error", head, body)."""
    try:
        with socket.create_connection(_address(url), timeout=timeout) as sock:
            sock.sendall(request)
            data = bytearray()
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                data += piece
    except OSError as e:
        return f"error:{type(e).__name__}", b"", b""
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status = head[9:12].decode("latin-1") if head.startswith(b"HTTP/1.1 ") else "none"
    return status, head, body


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def reporter(url: str, items: Iterator[bytes], phase: Phase, lock: threading.Lock) -> None:
    """Send envelopes until ``items`` runs out: challenge, solve, post, as ``vault submit``."""
    for envelope in items:
        status, _, body = _exchange(url, _request("GET", "/api/challenge", {}))
        if status != "200":
            with lock:
                phase.statuses[f"challenge {status}"] += 1
            time.sleep(0.05)
            continue
        doc = json.loads(body)
        pow_value = solve(doc["challenge"], doc["bits"])
        headers = {"Content-Type": "application/octet-stream", POW_HEADER: pow_value}
        start = time.perf_counter()
        status, head, _ = _exchange(url, _request("POST", "/api/reports", headers, envelope))
        took = time.perf_counter() - start
        with lock:
            phase.statuses[status] += 1
            if status == "202":
                phase.latencies.append(took)
            if status == "429" and b"retry-after:" not in head.lower():
                phase.retry_after_missing += 1
        if status == "429":
            time.sleep(0.2)  # a reporter's browser waits before trying again


@contextlib.contextmanager
def attack(url: str, idle: int, huge: int, huge_mib: int) -> Iterator[list[str]]:
    """Idle slow-loris connections and huge headers, held for as long as the block runs.

    Yields a list that collects what the huge-header senders were answered.
    """
    stop = threading.Event()
    sockets: list[socket.socket] = []
    answers: list[str] = []
    for _ in range(idle):
        try:
            s = socket.create_connection(_address(url), timeout=5)
            s.sendall(b"POST /api/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sockets.append(s)
        except OSError:
            answers.append("idle refused")

    def send_huge() -> None:
        piece = b"a" * (1 << 20)
        try:
            with socket.create_connection(_address(url), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
                for _ in range(huge_mib):
                    if stop.is_set():
                        break
                    s.sendall(piece)
                s.sendall(b"\r\n\r\n")
                answers.append(s.recv(64)[9:12].decode("latin-1") or "closed")
        except OSError as e:
            answers.append(f"error:{type(e).__name__}")

    threads = [threading.Thread(target=send_huge) for _ in range(huge)]
    for thread in threads:
        thread.start()
    try:
        yield answers
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        for s in sockets:
            s.close()


def status_mib(pid: int, field: str) -> float:
    """A ``/proc/PID/status`` figure (VmRSS, VmHWM) in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def run_phase(
    url: str,
    pid: int,
    items: list[bytes],
    name: str,
    reporters: int,
    seconds: float,
    under_attack: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
) -> Phase:
    """Reporters send for ``seconds`` (or until ``items`` run out), sampling the RSS."""
    phase = Phase(name, seconds, idle_rss_mib=status_mib(pid, "VmRSS"))
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    source = iter(items)

    def bounded() -> Iterator[bytes]:
        while time.monotonic() < deadline:
            with lock:
                item = next(source, None)
            if item is None:
                return
            yield item

    with under_attack() if under_attack else contextlib.nullcontext():
        threads = [
            threading.Thread(target=reporter, args=(url, bounded(), phase, lock))
            for _ in range(reporters)
        ]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 120)
        phase.seconds = time.monotonic() - start
    phase.peak_rss_mib = status_mib(pid, "VmHWM")
    return phase


def run(quick: bool, say: Callable[[str], None]) -> dict[str, Any]:
    seconds = 10.0 if quick else 30.0
    huge_mib = 16 if quick else HUGE_MIB
    with tempfile.TemporaryDirectory(prefix="redress-bench-load-") as tmp:
        setup = Setup(Path(tmp))
        items = envelopes(4000, setup.keys.epoch, setup.keys.public_key, seed=16)
        options = ("--pow-bits", str(POW_BITS), "--rate-per-minute", str(RATE_PER_MINUTE))
        say(f"reporters alone, {seconds:.0f} s")
        with setup.server("load-alone", *options) as server:
            alone = run_phase(
                server.url, server.pid, items[:2000], "reporters alone", REPORTERS, seconds
            )
        say(f"reporters with {IDLE} idle connections and {HUGE} × {huge_mib} MiB headers")
        with setup.server("load-attack", *options) as server:
            hold: list[list[str]] = []

            @contextlib.contextmanager
            def attacked() -> Iterator[None]:
                with attack(server.url, IDLE, HUGE, huge_mib) as answers:
                    hold.append(answers)
                    yield

            under = run_phase(
                server.url, server.pid, items[2000:], "under attack", REPORTERS, seconds, attacked
            )
    return {
        "pow_bits": POW_BITS,
        "rate_per_minute": RATE_PER_MINUTE,
        "reporters": REPORTERS,
        "idle_connections": IDLE,
        "huge_headers": f"{HUGE} × {huge_mib} MiB",
        "rss_limit_mib": RSS_LIMIT_MIB,
        "alone": alone.to_json(),
        "under_attack": under.to_json(),
        "huge_answers": dict(Counter(hold[0])) if hold else {},
        "ratio": (under.accepted / under.seconds) / (alone.accepted / alone.seconds)
        if alone.accepted
        else None,
    }


def table(doc: dict[str, Any]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.1f} ms"

    lines = [
        "| phase | accepted/s | p50 | p99 | statuses | 5xx | peak RSS |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for key in ("alone", "under_attack"):
        p = doc[key]
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(p["statuses"].items()))
        lines.append(
            f"| {p['name']} | {p['accepted_per_s']:.1f} | {ms(p['p50_s'])} | {ms(p['p99_s'])} "
            f"| {statuses} | {p['server_errors']} | {p['peak_rss_mib']:.0f} MiB |"
        )
    ratio = doc["ratio"]
    lines += [
        "",
        f"- proof of work {doc['pow_bits']} bits, rate cap {doc['rate_per_minute']}/min, "
        f"{doc['reporters']} reporters; attack: {doc['idle_connections']} idle connections "
        f"and {doc['huge_headers']} headers (answered {doc['huge_answers']}); accepted/s under "
        f"attack is {'-' if ratio is None else f'{ratio:.2f}'} × alone; peak RSS limit "
        f"{doc['rss_limit_mib']} MiB.",
    ]
    return "\n".join(lines)
