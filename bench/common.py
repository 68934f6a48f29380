"""What every benchmark shares: timing, the bare SQLCipher connection, machine facts, results."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlcipher3 import dbapi2 as sqlcipher

from vault import db as dbmod

if TYPE_CHECKING:
    import sqlite3

    Connection = sqlite3.Connection
else:
    Connection = sqlcipher.Connection

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BATCH = 500  # rows per transaction in every bulk insert, as vault.store.IMPORT_BATCH


@dataclass
class Row:
    """One line of the results table: our median, the bare loop's median, and their ratio.

    ``kind`` says how the ratio reads: "time" is ours / bare (lower is better),
    "rate" is our rate / the bare rate (higher is better), "seconds" is a cost
    reported on its own with no ratio. Ratios are of wall-time medians; the
    same ratio of CPU-time medians is kept beside it as a check against noise.
    """

    name: str
    what: str
    kind: str
    timers: list[Timer]
    bare_timers: list[Timer] = field(default_factory=list)
    bare_what: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(t.wall for t in self.timers)

    @property
    def bare_median(self) -> float | None:
        return statistics.median(t.wall for t in self.bare_timers) if self.bare_timers else None

    @property
    def ratio(self) -> float | None:
        return self._ratio(self.median, self.bare_median)

    @property
    def cpu_ratio(self) -> float | None:
        if not self.bare_timers:
            return None
        return self._ratio(
            statistics.median(t.cpu for t in self.timers),
            statistics.median(t.cpu for t in self.bare_timers),
        )

    def _ratio(self, ours: float, bare: float | None) -> float | None:
        if bare is None or self.kind == "seconds":
            return None
        return bare / ours if self.kind == "rate" else ours / bare

    def to_json(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "bare_what": self.bare_what,
            "kind": self.kind,
            "target": self.target,
            "met": self.met,
            "note": self.note,
            "median_s": self.median,
            "bare_median_s": self.bare_median,
            "ratio": self.ratio,
            "cpu_ratio": self.cpu_ratio,
            "wall_s": [t.wall for t in self.timers],
            "cpu_s": [t.cpu for t in self.timers],
            "bare_wall_s": [t.wall for t in self.bare_timers],
            "bare_cpu_s": [t.cpu for t in self.bare_timers],
        }


def interleaved(
    cases: dict[str, Callable[[], Timer]], repeats: int, *, say: Callable[[str], None]
) -> dict[str, list[Timer]]:
    """Run each case ``repeats`` times, taking turns so drift on a noisy machine hits all alike.

    Each case times itself with a :class:`Timer` (so it can leave its set-up out).
    """
    runs: dict[str, list[Timer]] = {name: [] for name in cases}
    for i in range(repeats):
        for name, case in cases.items():
            t = case()
            runs[name].append(t)
            say(f"  {name} run {i + 1}/{repeats}: {t.wall:.4f} s wall, {t.cpu:.4f} s CPU")
    return runs


# A small launcher that runs the command given (its output passed through), then writes the
# command's own peak memory on stderr as its last line. A child's ``ru_maxrss`` (from ``wait4``
# or ``RUSAGE_CHILDREN``) is the larger of its own high-water mark and that of the process it
# was forked from, kept through exec: a benchmark holding every envelope would be counted in
# each command's peak. Forked from this launcher instead, the command's inherited mark is the
# launcher's own (about 10 MiB, less than any command's), so what is read is the command's.
_LAUNCHER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
sys.stderr.write("peak-kib %d\\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


@dataclass(frozen=True)
class Measured:
    """A command run by :func:`run_measured`: its time, its output, its own peak memory."""

    timer: Timer
    stdout: bytes
    peak_mib: float  # its maximum resident set


def run_measured(command: list[str], env: dict[str, str]) -> Measured:
    """Run ``command`` (it must succeed) and measure its wall and CPU time and its peak memory,
    the same way for every benchmark: through :data:`_LAUNCHER`, so that the peak is the
    command's own and not this process's (the launcher's start-up, about 20 ms, is timed)."""
    with Timer() as t:
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, *command], capture_output=True, env=env
        )
    said = done.stderr.decode(errors="replace").rstrip("\n").rsplit("\n", 2)
    if done.returncode != 0 or not said[-1].startswith("peak-kib "):
        raise RuntimeError(f"{command} failed ({done.returncode}): {' / '.join(said[-3:-1])}")
    return Measured(t, done.stdout, int(said[-1].split()[1]) / 1024)  # KiB on Linux


def vault_command() -> list[str]:
    """How the benchmarks run the ``vault`` CLI: the installed script, else ``-m cli.main``."""
    script = Path(sys.executable).with_name("vault")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli.main"]


def cpu_seconds() -> float:
    """CPU time of this process and of its waited-for children (µs resolution)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Timer:
    """``with Timer() as t: ...`` then ``t.wall`` and ``t.cpu`` are the seconds inside.

    CPU time is kept beside wall time because this machine is shared: another
    process on a core stretches wall time but not (much) our CPU time.
    """

    wall: float
    cpu: float

    def __enter__(self) -> Timer:
        self._cpu = cpu_seconds()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = cpu_seconds() - self._cpu


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: ...`` then ``elapsed()`` is the wall seconds inside."""
    start = time.perf_counter()
    end: float | None = None

    def elapsed() -> float:
        return (end if end is not None else time.perf_counter()) - start

    try:
        yield elapsed
    finally:
        end = time.perf_counter()


def bare_connect(
    path: Path,
    raw_key: bytes | None,
    page_size: int = dbmod.CIPHER_PAGE_SIZE,
    cache_kib: int = dbmod.CACHE_KIB,
) -> Connection:
    """A connection with the vault's pragmas (vault/db.py) but none of its schema.

    ``raw_key`` None opens plain SQLite (the standard library's sqlite3) instead.
    """
    if raw_key is None:
        import sqlite3

        db: Connection = sqlite3.connect(str(path), isolation_level=None)
        db.execute(f"PRAGMA page_size = {page_size}")
    else:
        db = sqlcipher.connect(str(path), isolation_level=None)
        db.execute(f"PRAGMA key = \"x'{raw_key.hex()}'\"")
        db.execute(f"PRAGMA cipher_page_size = {page_size}")
    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA secure_delete = ON")
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute(f"PRAGMA cache_size = -{cache_kib}")
    return db


def first_line(path: str, prefix: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine() -> dict[str, Any]:
    import sqlite3

    import nacl

    db = sqlcipher.connect(":memory:")
    cipher_version = db.execute("PRAGMA cipher_version").fetchone()[0]
    db.execute("PRAGMA key = 'x'")
    provider = db.execute("PRAGMA cipher_provider_version").fetchone()
    db.close()
    return {
        "nproc": os.cpu_count(),
        "cpu": first_line("/proc/cpuinfo", "model name"),
        "memory": first_line("/proc/meminfo", "MemTotal"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "sqlcipher": cipher_version,
        "sqlcipher_sqlite": sqlcipher.sqlite_version,
        "sqlcipher_crypto": provider[0] if provider else "unknown",
        "stdlib_sqlite": sqlite3.sqlite_version,
        "pynacl": nacl.__version__,
        "cipher_page_size": dbmod.CIPHER_PAGE_SIZE,
        "cache_kib": dbmod.CACHE_KIB,
    }


class Smoke:
    """``--smoke`` (``make test``'s check that the benchmarks still run): every size cut to a
    small fraction, results not saved. Its figures mean nothing."""

    on = False


def sized(n: int) -> int:
    """``n``, or under ``--smoke`` a twentieth of it (at least 100)."""
    return max(100, n // 20) if Smoke.on else n


def write_results(doc: dict[str, Any], stamp: str) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{stamp}.json"
    text = json.dumps(doc, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    (RESULTS_DIR / "latest.json").write_text(text, encoding="utf-8")
    return path


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def table(rows: list[Row]) -> str:
    """The results as a Markdown table (what docs/benchmarks.md quotes)."""
    lines = [
        "| benchmark | ours (median) | bare loop (median) | ratio | ratio of CPU time "
        "| target | met |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        unit = "× bare rate" if r.kind == "rate" else "× bare time"
        shown = "-" if r.ratio is None else f"{r.ratio:.2f}{unit}"
        cpu = "-" if r.cpu_ratio is None else f"{r.cpu_ratio:.2f}×"
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(
            f"| {r.name} | {fmt_seconds(r.median)} | {fmt_seconds(r.bare_median)} | {shown} "
            f"| {cpu} | {r.target or '-'} | {met} |"
        )
    return "\n".join(lines)
