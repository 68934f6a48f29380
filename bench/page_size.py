"""Which cipher_page_size and cache_size: SQLCipher at five page sizes against plain SQLite.

Each configuration builds a fresh database of ``n`` rows of envelope-sized blobs
(2,116 bytes: the size of every envelope whose report is under 2 KiB), then, on
new connections (so SQLCipher's page cache starts cold and every page read is
decrypted), times a full scan, ``n`` random point reads by primary key, and a
run of small single-row commits into a table shaped like ``events`` (what each
caseworker action appends), counting the bytes each commit writes to the WAL.

All connections use the vault's pragmas (WAL, synchronous=FULL, secure_delete,
...): see :func:`bench.common.bare_connect`. Plain SQLite is the standard
library's sqlite3 with the same pragmas and cache size, measured at the same
page sizes: every figure is a ratio to plain SQLite at its default page size
(4096), and a second table gives the ratio to plain SQLite at the same page
size (what the encryption itself costs).
"""

from __future__ import annotations

import math
import os
import random
import statistics
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import BATCH, bare_connect, stopwatch
from vault._crypto import SEAL_OVERHEAD
from vault.envelope import HEADER_BYTES, MIN_PADDED

PAGE_SIZES = (4096, 8192, 16384, 32768, 65536)
PLAIN_PAGE_SIZE = 4096  # plain SQLite's default
CACHES_KIB = (2000, 65536)  # SQLite's default cache (-2000), and 64 MiB
BLOB_BYTES = HEADER_BYTES + SEAL_OVERHEAD + MIN_PADDED  # 2116
SMALL_COMMITS = 100
SMALL_ROW = 400  # about an event row: canonical JSON body and a signature
WORKLOADS = ("insert", "scan", "points", "commits")


@dataclass(frozen=True)
class Config:
    engine: str  # "sqlcipher" or "sqlite"
    page_size: int
    cache_kib: int

    @property
    def label(self) -> str:
        return f"{self.engine} page {self.page_size} cache {self.cache_kib} KiB"


def configs() -> list[Config]:
    return [
        Config(engine, size, cache)
        for cache in CACHES_KIB
        for size in PAGE_SIZES
        for engine in ("sqlite", "sqlcipher")
    ]


def measure(
    config: Config, path: Path, n: int, blobs: list[bytes], order: list[int]
) -> dict[str, float]:
    """Build one database and time the four workloads on it; returns seconds and bytes."""
    key = None if config.engine == "sqlite" else bytes(range(32))

    def connect() -> Any:
        return bare_connect(path, key, config.page_size, config.cache_kib)

    db = connect()
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
    rows = [(i + 1, blobs[i % len(blobs)]) for i in range(n)]
    with stopwatch() as insert:
        for start in range(0, n, BATCH):
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO t (id, blob) VALUES (?, ?)", rows[start : start + BATCH])
            db.execute("COMMIT")
    # Shaped like the events table: a random unique id and a second index.
    db.execute(
        "CREATE TABLE small (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
        " case_id TEXT NOT NULL, body BLOB NOT NULL)"
    )
    db.execute("CREATE INDEX small_by_case ON small (case_id, seq)")
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        "INSERT INTO small (id, case_id, body) VALUES (?, ?, ?)",
        ((os.urandom(16).hex(), os.urandom(5).hex(), bytes(SMALL_ROW)) for _ in range(n)),
    )
    db.execute("COMMIT")
    db.close()

    db = connect()
    with stopwatch() as scan:
        total = 0
        for (blob,) in db.execute("SELECT blob FROM t"):
            total += len(blob)
    assert total == n * BLOB_BYTES
    db.close()

    db = connect()
    with stopwatch() as points:
        for i in order:
            db.execute("SELECT blob FROM t WHERE id = ?", (i,)).fetchone()
    db.close()

    db = connect()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    small = [
        (os.urandom(16).hex(), os.urandom(5).hex(), bytes(SMALL_ROW)) for _ in range(SMALL_COMMITS)
    ]
    with stopwatch() as commits:
        for row in small:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO small (id, case_id, body) VALUES (?, ?, ?)", row)
            db.execute("COMMIT")
    frames = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = path.stat().st_size
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return {
        "insert": insert(),
        "scan": scan(),
        "points": points(),
        "commits": commits(),
        "bytes": float(size),
        "wal_bytes_per_commit": frames * (config.page_size + 24) / SMALL_COMMITS,
    }


def run(n: int, repeats: int, say: Callable[[str], None]) -> dict[str, Any]:
    rng = random.Random(4096)
    blobs = [os.urandom(BLOB_BYTES) for _ in range(64)]
    order = [rng.randrange(1, n + 1) for _ in range(n)]
    all_configs = configs()
    runs: dict[Config, list[dict[str, float]]] = {c: [] for c in all_configs}
    with tempfile.TemporaryDirectory(prefix="redress-bench-page-") as tmp:
        for i in range(repeats):
            for j, config in enumerate(all_configs):
                path = Path(tmp) / f"{j}.db"
                runs[config].append(measure(config, path, n, blobs, order))
                r = runs[config][-1]
                say(
                    f"  {config.label} run {i + 1}/{repeats}: insert {r['insert']:.3f} s,"
                    f" scan {r['scan']:.3f} s, points {r['points']:.3f} s,"
                    f" commits {r['commits']:.3f} s"
                )
    results: list[dict[str, Any]] = []
    for config in all_configs:
        medians = {w: statistics.median(r[w] for r in runs[config]) for w in WORKLOADS}
        results.append(
            {
                "engine": config.engine,
                "page_size": config.page_size,
                "cache_kib": config.cache_kib,
                "median_s": medians,
                "runs": runs[config],
                "bytes": runs[config][-1]["bytes"],
                "wal_bytes_per_commit": runs[config][-1]["wal_bytes_per_commit"],
            }
        )

    def plain(cache_kib: int, page_size: int) -> dict[str, Any]:
        return next(
            r
            for r in results
            if r["engine"] == "sqlite"
            and r["cache_kib"] == cache_kib
            and r["page_size"] == page_size
        )

    for result in results:
        default = plain(result["cache_kib"], PLAIN_PAGE_SIZE)["median_s"]
        same = plain(result["cache_kib"], result["page_size"])["median_s"]
        ratios = {w: result["median_s"][w] / default[w] for w in WORKLOADS}
        result["ratio_to_plain"] = ratios
        result["geomean_ratio"] = _geomean(ratios.values())
        result["ratio_to_plain_same_page"] = {w: result["median_s"][w] / same[w] for w in WORKLOADS}
    return {
        "rows": n,
        "blob_bytes": BLOB_BYTES,
        "small_commits": SMALL_COMMITS,
        "repeats": repeats,
        "results": results,
    }


def _geomean(values: Iterable[float]) -> float:
    values = list(values)
    return math.prod(values) ** (1 / len(values))


def table(doc: dict[str, Any]) -> str:
    """Two Markdown tables: every configuration against plain SQLite's default, then the
    encryption's own cost (SQLCipher against plain SQLite at the same page size)."""
    lines = [
        f"{doc['rows']} rows × {doc['blob_bytes']} B, medians of {doc['repeats']} runs."
        " In brackets: ratio to plain SQLite at its default page size (4096) with the same cache.",
        "",
        "| engine | page | cache | bulk insert | full scan | point reads "
        f"| {doc['small_commits']} small commits | geomean | file | WAL per small commit |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in doc["results"]:
        cells = [
            f"{r['median_s'][w] * 1e3:.0f} ms ({r['ratio_to_plain'][w]:.2f}×)" for w in WORKLOADS
        ]
        lines.append(
            f"| {r['engine']} | {r['page_size']} | {r['cache_kib'] / 1024:.0f} MiB "
            f"| {' | '.join(cells)} | {r['geomean_ratio']:.2f} | {r['bytes'] / 2**20:.1f} MiB "
            f"| {r['wal_bytes_per_commit'] / 1024:.0f} KiB |"
        )
    lines += [
        "",
        "The encryption's own cost: SQLCipher / plain SQLite at the same page size and cache.",
        "",
        "| page | cache | bulk insert | full scan | point reads | small commits |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in doc["results"]:
        if r["engine"] != "sqlcipher":
            continue
        cells = [f"{r['ratio_to_plain_same_page'][w]:.2f}×" for w in WORKLOADS]
        lines.append(
            f"| {r['page_size']} | {r['cache_kib'] / 1024:.0f} MiB | {' | '.join(cells)} |"
        )
    return "\n".join(lines)
