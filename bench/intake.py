"""The intake (``vault intake serve``) under load, each figure beside a bare reference.

Every measurement runs against the real server, started as a subprocess on loopback
(``vault intake serve --port 0 --pow-bits 0 --rate-per-minute 10000000``): proof of work
at 0 bits (the cheapest the server accepts; a challenge is still fetched and spent per
request) and a rate cap far above what the machine can send, so neither throttles.

* submissions: ``POST /api/reports`` of real v1 envelopes from 16 client threads (one
  keep-alive connection each), each post with its own ``X-Redress-PoW`` header, against a
  bare loop of ``Inbox.add_envelope`` in this process on a fresh inbox with the same
  envelopes. Both do the same durability work: the inbox connection is in autocommit
  with ``synchronous = FULL``, so each envelope is one committed transaction and one
  WAL fsync, on the server before it answers ``202`` and in the bare loop before the
  next insert. Each run starts a fresh server with an empty inbox. The challenges are
  fetched before the clock starts (one per submission); a second row times the whole
  exchange, challenge then post, as a browser does it. The clients run on the same two
  cores as the server, so what they spend is taken from it: the main rows use the
  standard library's ``http.client`` (about 0.4 ms of CPU a request); a third row uses
  ``httpx`` clients, which cost about three times that.
* upload memory: the server's peak RSS (``VmHWM`` in ``/proc/PID/status``) while it
  receives one 1 GiB attachment (``--max-file-mib 1100``; 100 MiB with ``--quick``),
  streamed from a generator with a valid sealed length, beside its RSS when idle.

The form sealing a file in Chromium is ``bench/browser_seal.py`` (``--only seal``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.common import Timer, fmt_seconds, interleaved
from bench.corpus import envelopes
from vault.attachments import sealed_length
from vault.intake.inbox import Inbox
from vault.intake.limits import POW_HEADER, is_upload_length, solve
from vault.keys import Identity, TeamKeyPair, TeamPublicKey

REPO = Path(__file__).resolve().parents[1]
VAULT_BIN = Path(sys.executable).with_name("vault")
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [  # as tests/vault/intake/browser/conftest.py launches it
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
POW_BITS = 0
RATE_PER_MINUTE = 10_000_000
CONCURRENCY = 16
STARTUP_SECONDS = 30
OCTET = {"Content-Type": "application/octet-stream"}

THROUGHPUT_TARGET = 0.5  # × the bare insert rate
RSS_TARGET_MIB = 100
UPLOAD_MAX_FILE_MIB = 1100


# --- the server --------------------------------------------------------------------------


class Server:
    """A running ``vault intake serve`` on a free loopback port, and its /proc figures."""

    def __init__(self, root: Path, name: str, team_key_file: Path, *options: str) -> None:
        self.data = root / f"{name}-data"
        self.out = root / f"{name}.stdout"
        self.err = root / f"{name}.stderr"
        args = [
            str(VAULT_BIN),
            *("intake", "serve", "--team-key", str(team_key_file), "--data", str(self.data)),
            *("--host", "127.0.0.1", "--port", "0", "--pow-bits", str(POW_BITS)),
            *("--rate-per-minute", str(RATE_PER_MINUTE), *options),
        ]
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.process = subprocess.Popen(args, stdout=out, stderr=err, cwd=REPO)
        deadline = time.monotonic() + STARTUP_SECONDS
        while "http://" not in (text := self.out.read_text()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                raise RuntimeError(f"the intake did not start: {self.err.read_text()}")
            time.sleep(0.05)
        self.url = "http://" + text.split("http://", 1)[1].split()[0].rstrip("/")
        self.pid = self.process.pid

    def status_kib(self, field: str) -> int:
        """A ``/proc/PID/status`` figure in KiB (VmRSS, VmHWM)."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"no {field} for process {self.pid}")

    def cpu(self) -> float:
        """The server's user + system CPU seconds so far (``/proc/PID/stat``)."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        err = self.err.read_text()
        if "Traceback" in err:
            raise RuntimeError(f"the intake failed:\n{err}")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Setup:
    """A team key file for the servers, and the envelopes sealed to it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys = TeamKeyPair.generate(1)
        caseworker = Identity.generate("bench")
        self.caseworker = caseworker  # signs requests to the servers (acknowledging blobs)
        public = TeamPublicKey(
            self.keys.epoch, self.keys.public_key, ((caseworker.name, caseworker.public.sign_pk),)
        )
        self.team_key_file = root / "team-key.json"
        self.team_key_file.write_bytes(public.to_file_bytes())
        self.servers = 0

    def server(self, name: str, *options: str) -> Server:
        self.servers += 1
        return Server(self.root, f"{name}-{self.servers}", self.team_key_file, *options)

    def envelopes(self, n: int, seed: int) -> list[bytes]:
        return envelopes(n, self.keys.epoch, self.keys.public_key, seed=seed)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# --- 1. accepted submissions per second ----------------------------------------------------


class Lean:
    """One keep-alive connection through the standard library's ``http.client``.

    The client runs on the same two cores as the server, so it should cost as little CPU
    as it can: a thread with this costs about 0.4 ms of CPU per request, against about
    1-1.5 ms for an ``httpx.Client`` (see :class:`Httpx`).
    """

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def proof(self) -> str:
        self.conn.request("GET", "/api/challenge")
        answer = self.conn.getresponse()
        doc = json.loads(answer.read())
        return solve(doc["challenge"], doc["bits"])

    def post(self, envelope: bytes, proof: str) -> int:
        # A bytes body goes out in one send() with the headers (no Nagle/delayed-ACK stall).
        self.conn.request("POST", "/api/reports", body=envelope, headers=_headers(proof))
        answer = self.conn.getresponse()
        answer.read()
        return answer.status

    def close(self) -> None:
        self.conn.close()


class Httpx:
    """One ``httpx.Client`` (its own connection), with TCP_NODELAY: without it httpx writes
    the headers and the body separately and Nagle's algorithm holds the body back."""

    def __init__(self, url: str) -> None:
        transport = httpx.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        self.client = httpx.Client(base_url=url, transport=transport, timeout=60)

    def proof(self) -> str:
        doc = self.client.get("/api/challenge").json()
        return solve(doc["challenge"], doc["bits"])

    def post(self, envelope: bytes, proof: str) -> int:
        return self.client.post(
            "/api/reports", content=envelope, headers=_headers(proof)
        ).status_code

    def close(self) -> None:
        self.client.close()


def _headers(proof: str) -> dict[str, str]:
    return {**OCTET, POW_HEADER: proof}


CLIENTS: dict[str, Callable[[str], Lean | Httpx]] = {"http.client": Lean, "httpx": Httpx}


def _threaded(
    url: str,
    count: int,
    concurrency: int,
    client: str,
    work: Callable[[Lean | Httpx, int], Any],
    server_cpu: Callable[[], float] = lambda: 0.0,
) -> tuple[list[Any], float, float, float]:
    """``work(connection, i)`` for i in range(count), from ``concurrency`` threads, each with
    its own connection, opened and warmed up with one challenge before the clock starts.

    Returns the results, then the wall seconds, this process's CPU seconds (the clients')
    and ``server_cpu()``'s increase, from the start of the work until the last thread ends.
    """
    results: list[Any] = [None] * count
    numbers = iter(range(count))
    lock = threading.Lock()
    ready = threading.Barrier(concurrency + 1)
    failures: list[BaseException] = []

    def worker() -> None:
        connection = CLIENTS[client](url)
        try:
            connection.proof()
            ready.wait()
            while True:
                with lock:
                    i = next(numbers, None)
                if i is None:
                    return
                results[i] = work(connection, i)
        except BaseException as e:  # reported below, once every thread has ended
            failures.append(e)
            ready.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a client failed: see below
        ready.wait()
    served = server_cpu()
    cpu = time.process_time()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    served = server_cpu() - served
    if failures:
        raise RuntimeError(f"a client failed: {failures[0]!r}") from failures[0]
    return results, wall, cpu, served


def _submit_all(
    server: Server, items: list[bytes], concurrency: int, client: str, *, prefetch: bool
) -> tuple[list[tuple[float, int]], float, float, float]:
    """POST every envelope: ((latency, status) per envelope, wall, client CPU, server CPU).

    With ``prefetch`` the challenges are fetched before the clock starts and a latency is
    the post alone; otherwise each submission is timed as challenge, solve, then post.
    """
    proofs: list[str] = []
    if prefetch:
        proofs = _threaded(server.url, len(items), concurrency, client, lambda c, _: c.proof())[0]

    def submit(connection: Lean | Httpx, i: int) -> tuple[float, int]:
        start = time.perf_counter()
        proof = proofs[i] if prefetch else connection.proof()
        status = connection.post(items[i], proof)
        return time.perf_counter() - start, status

    return _threaded(server.url, len(items), concurrency, client, submit, server.cpu)


CASES = {  # name: (client, prefetch, what)
    "post": ("http.client", True, "POST /api/reports"),
    "exchange": ("http.client", False, "GET /api/challenge, then POST /api/reports"),
    "post, httpx": ("httpx", True, "POST /api/reports, httpx clients"),
}


class Submissions:
    """Each turn: new envelopes, a fresh server for each case, and fresh in-process inboxes."""

    def __init__(self, setup: Setup, n: int, concurrency: int) -> None:
        self.setup = setup
        self.n = n
        self.concurrency = concurrency
        self.turn = 0
        self.batch: list[bytes] = []
        self.extra: dict[str, list[dict[str, float]]] = {name: [] for name in CASES}

    def served(self, case: str) -> Timer:
        client, prefetch, _ = CASES[case]
        with self.setup.server("submit") as server:
            done, wall, client_cpu, server_cpu = _submit_all(
                server, self.batch, self.concurrency, client, prefetch=prefetch
            )
        latencies = [latency for latency, _ in done]
        statuses = [status for _, status in done]
        accepted = statuses.count(202)
        if accepted != self.n:
            raise RuntimeError(f"only {accepted} of {self.n} accepted: {set(statuses)}")
        timer = Timer()
        timer.wall, timer.cpu = wall, server_cpu
        self.extra[case].append(
            {
                "p50_s": _percentile(latencies, 50),
                "p99_s": _percentile(latencies, 99),
                "server_cpu_s": server_cpu,
                "client_cpu_s": client_cpu,
            }
        )
        return timer

    def bare(self) -> Timer:
        self.turn += 1  # the first case of each turn seals this turn's envelopes
        self.batch = self.setup.envelopes(self.n, seed=self.turn)
        with Inbox.open(self.setup.root / f"bare-{self.turn}") as inbox, Timer() as t:
            for envelope in self.batch:
                inbox.add_envelope(envelope)
        return t

    def bare_one_transaction(self) -> Timer:
        """The same inserts in one transaction (one fsync): what durability per report costs."""
        with Inbox.open(self.setup.root / f"bare-batched-{self.turn}") as inbox:
            db = inbox._db
            with Timer() as t:
                db.execute("BEGIN IMMEDIATE")
                for envelope in self.batch:
                    inbox.add_envelope(envelope)
                db.execute("COMMIT")
        return t


def submissions(
    setup: Setup, n: int, repeats: int, say: Callable[[str], None]
) -> list[dict[str, Any]]:
    bench = Submissions(setup, n, CONCURRENCY)
    say(f"intake: {n} submissions from {CONCURRENCY} concurrent clients, against a bare loop")
    cases: dict[str, Callable[[], Timer]] = {
        "bare": bench.bare,
        "bare, one transaction": bench.bare_one_transaction,
    }
    for name in CASES:
        cases[name] = functools.partial(bench.served, name)
    runs = interleaved(cases, repeats, say=say)
    bare = statistics.median(t.wall for t in runs["bare"])
    bare_cpu = statistics.median(t.cpu for t in runs["bare"])
    batched = statistics.median(t.wall for t in runs["bare, one transaction"])
    rows = []
    for name, (client, prefetch, what) in CASES.items():
        wall = statistics.median(t.wall for t in runs[name])
        extra = bench.extra[name]
        ratio = bare / wall
        row: dict[str, Any] = {
            "name": f"{n} submissions from {CONCURRENCY} clients: {what}",
            "what": what,
            "client": client,
            "challenges_fetched_beforehand": prefetch,
            "reference": "Inbox.add_envelope loop in-process, fresh inbox, same envelopes "
            "(one commit, so one fsync, per envelope, as the server does)",
            "kind": "rate",
            "median_s": wall,
            "reference_median_s": bare,
            "ratio": ratio,
            "target": f"≥ {THROUGHPUT_TARGET}× bare rate" if name == "post" else "",
            "met": ratio >= THROUGHPUT_TARGET if name == "post" else None,
            "per_second": n / wall,
            "reference_per_second": n / bare,
            "one_transaction_per_second": n / batched,
            "p50_s": statistics.median(e["p50_s"] for e in extra),
            "p99_s": statistics.median(e["p99_s"] for e in extra),
            "server_cpu_per_submission_s": statistics.median(e["server_cpu_s"] for e in extra) / n,
            "client_cpu_per_submission_s": statistics.median(e["client_cpu_s"] for e in extra) / n,
            "reference_cpu_per_insert_s": bare_cpu / n,
            "wall_s": [t.wall for t in runs[name]],
            "reference_wall_s": [t.wall for t in runs["bare"]],
            "one_transaction_wall_s": [t.wall for t in runs["bare, one transaction"]],
            "runs": extra,
        }
        row["note"] = (
            f"{row['per_second']:.0f}/s against {row['reference_per_second']:.0f}/s bare "
            f"({row['one_transaction_per_second']:.0f}/s bare in one transaction); latency p50 "
            f"{fmt_seconds(row['p50_s'])}, p99 {fmt_seconds(row['p99_s'])}; CPU per submission: "
            f"server {fmt_seconds(row['server_cpu_per_submission_s'])}, client "
            f"{fmt_seconds(row['client_cpu_per_submission_s'])} ({client}), bare insert "
            f"{fmt_seconds(row['reference_cpu_per_insert_s'])}"
        )
        rows.append(row)
    return rows


# --- 2. server memory while receiving a large attachment ------------------------------------


def upload_body(padded: int, hasher: Any) -> Iterator[bytes]:
    """``secretstream_length(padded)`` bytes: 1 MiB of random bytes over and over."""
    block = os.urandom(1 << 20)
    left = sealed_length(padded)
    while left:
        piece = block[: min(left, len(block))]
        hasher.update(piece)
        left -= len(piece)
        yield piece


def upload_memory(setup: Setup, mib: int, say: Callable[[str], None]) -> dict[str, Any]:
    padded = mib << 20
    length = sealed_length(padded)
    assert is_upload_length(length)
    say(f"intake: server memory while receiving a {mib} MiB attachment")
    with setup.server("upload", "--max-file-mib", str(UPLOAD_MAX_FILE_MIB)) as server:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            assert client.get("/").status_code == 200
            time.sleep(1)
            idle_rss, idle_hwm = server.status_kib("VmRSS"), server.status_kib("VmHWM")
            doc = client.get("/api/challenge").json()
            proof = solve(doc["challenge"], doc["bits"])
            samples: list[int] = []
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.05):
                    samples.append(server.status_kib("VmRSS"))

            sampler = threading.Thread(target=sample, daemon=True)
            hasher = hashlib.sha256()
            sampler.start()
            try:
                with Timer() as t:
                    answer = client.post(
                        "/api/attachments",
                        content=upload_body(padded, hasher),
                        headers={
                            **OCTET,
                            POW_HEADER: proof,
                            "Content-Length": str(length),
                        },
                    )
            finally:
                done.set()
                sampler.join()
            hwm = server.status_kib("VmHWM")
            rss_after = server.status_kib("VmRSS")
            server_cpu = server.cpu()
        if answer.status_code != 201 or answer.json()["blob"] != hasher.hexdigest():
            raise RuntimeError(f"upload refused: {answer.status_code} {answer.text}")
        stored = sum(p.stat().st_size for p in server.data.iterdir())
    hwm_mib = hwm / 1024
    result = {
        "name": f"server peak RSS receiving a {mib} MiB attachment",
        "upload_bytes": length,
        "idle_rss_mib": idle_rss / 1024,
        "idle_hwm_mib": idle_hwm / 1024,
        "peak_hwm_mib": hwm_mib,
        "peak_sampled_rss_mib": max(samples, default=0) / 1024,
        "rss_after_mib": rss_after / 1024,
        "upload_s": t.wall,
        "upload_mib_per_s": length / 2**20 / t.wall,
        "server_cpu_s": server_cpu,
        "stored_bytes": stored,
        "samples": len(samples),
        "target": f"< {RSS_TARGET_MIB} MiB",
        # VmHWM, and the sampled VmRSS in case it saw more (Linux updates both lazily).
        "met": max([hwm, *samples]) / 1024 < RSS_TARGET_MIB,
    }
    result["note"] = (
        f"idle RSS {result['idle_rss_mib']:.1f} MiB; peak {hwm_mib:.1f} MiB (VmHWM), "
        f"{result['peak_sampled_rss_mib']:.1f} MiB sampled every 50 ms; {length / 2**20:.0f} MiB "
        f"in {t.wall:.1f} s ({result['upload_mib_per_s']:.0f} MiB/s), inbox then "
        f"{stored / 2**20:.0f} MiB on disk"
    )
    return result


# --- 2b. server memory per upload, many at once --------------------------------------------

PARALLEL_UPLOADS = 64
PARALLEL_UPLOAD_MIB = 8
PER_UPLOAD_TARGET_MIB = 2.5  # docs/intake.md section 2: about 2 MiB per upload


def parallel_upload_memory(setup: Setup, say: Callable[[str], None]) -> dict[str, Any]:
    """64 concurrent 8 MiB uploads (each its own connection): the server's peak RSS above
    idle, divided by the number of uploads, beside the 1 MiB row an upload is stored in."""
    padded = PARALLEL_UPLOAD_MIB << 20
    length = sealed_length(padded)
    say(f"intake: memory, {PARALLEL_UPLOADS} concurrent {PARALLEL_UPLOAD_MIB} MiB uploads")
    with setup.server("parallel", "--max-file-mib", str(PARALLEL_UPLOAD_MIB)) as server:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            assert client.get("/").status_code == 200
            time.sleep(1)
            idle_rss = server.status_kib("VmRSS")
            proofs = []
            for _ in range(PARALLEL_UPLOADS):
                doc = client.get("/api/challenge").json()
                proofs.append(solve(doc["challenge"], doc["bits"]))
        statuses: list[int] = []
        ready = threading.Barrier(PARALLEL_UPLOADS)

        def upload(proof: str) -> None:
            host, port = server.url.removeprefix("http://").rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port), timeout=600)
            try:
                conn.putrequest("POST", "/api/attachments")
                for name, value in {**OCTET, POW_HEADER: proof}.items():
                    conn.putheader(name, value)
                conn.putheader("Content-Length", str(length))
                conn.endheaders()
                ready.wait()
                for piece in upload_body(padded, hashlib.sha256()):
                    conn.send(piece)
                answer = conn.getresponse()
                answer.read()
                statuses.append(answer.status)
            finally:
                conn.close()

        threads = [threading.Thread(target=upload, args=(p,)) for p in proofs]
        with Timer() as t:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        hwm = server.status_kib("VmHWM")
    if statuses.count(201) != PARALLEL_UPLOADS:
        raise RuntimeError(f"uploads refused: {sorted(set(statuses))}")
    per_upload = (hwm - idle_rss) / 1024 / PARALLEL_UPLOADS
    result = {
        "name": f"server memory per upload, {PARALLEL_UPLOADS} concurrent "
        f"{PARALLEL_UPLOAD_MIB} MiB uploads",
        "idle_rss_mib": idle_rss / 1024,
        "peak_hwm_mib": hwm / 1024,
        "per_upload_mib": per_upload,
        "row_mib": 1.0,
        "ratio": per_upload / 1.0,
        "upload_s": t.wall,
        "target": f"≤ {PER_UPLOAD_TARGET_MIB} MiB per upload",
        "met": per_upload <= PER_UPLOAD_TARGET_MIB,
    }
    result["note"] = (
        f"idle RSS {idle_rss / 1024:.1f} MiB, peak {hwm / 1024:.1f} MiB (VmHWM): "
        f"{per_upload:.2f} MiB per upload, {per_upload:.2f}× the 1 MiB row it is stored in; "
        f"{PARALLEL_UPLOADS * PARALLEL_UPLOAD_MIB} MiB in {t.wall:.1f} s"
    )
    return result


# --- the group ---------------------------------------------------------------------------


def run(quick: bool, repeats: int, say: Callable[[str], None]) -> dict[str, Any]:
    n = 500 if quick else 2000
    upload_mib = 100 if quick else 1024
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="redress-bench-intake-") as tmp:
        setup = Setup(Path(tmp))
        rows = submissions(setup, n, repeats, say)
        memory = upload_memory(setup, upload_mib, say)
        parallel = parallel_upload_memory(setup, say)
    return {
        "submissions": n,
        "concurrency": CONCURRENCY,
        "pow_bits": POW_BITS,
        "rate_per_minute": RATE_PER_MINUTE,
        "repeats": repeats,
        "rows": rows,
        "upload": memory,
        "parallel_uploads": parallel,
        "seconds": time.perf_counter() - started,
    }


def table(doc: dict[str, Any]) -> str:
    """The results as a Markdown table, then one line of detail per benchmark."""
    lines = [
        "| benchmark | ours (median) | reference (median) | ratio | target | met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]

    def met(value: bool | None) -> str:
        return "-" if value is None else ("yes" if value else "**no**")

    for r in doc["rows"]:
        unit = "× bare rate" if r["kind"] == "rate" else "× bare time"
        lines.append(
            f"| {r['name']} | {fmt_seconds(r['median_s'])} | "
            f"{fmt_seconds(r['reference_median_s'])} | {r['ratio']:.2f}{unit} "
            f"| {r['target'] or '-'} | {met(r['met'])} |"
        )
    u = doc["upload"]
    lines.append(
        f"| {u['name']} | {u['peak_hwm_mib']:.1f} MiB | {u['idle_rss_mib']:.1f} MiB idle | - "
        f"| {u['target']} | {met(u['met'])} |"
    )
    p = doc["parallel_uploads"]
    lines.append(
        f"| {p['name']} | {p['per_upload_mib']:.2f} MiB | 1 MiB row | {p['ratio']:.2f}× "
        f"| {p['target']} | {met(p['met'])} |"
    )
    lines.append("")
    notes = [*doc["rows"], u, p]
    lines += [f"- {r['name']}: {r['note']}" for r in notes]
    return "\n".join(lines)
