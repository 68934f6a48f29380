"""``python -m bench [--quick] [--only GROUP]``: run, print, save JSON.

GROUP is one of page-size, vault, casework, across, packs, intake, seal, audit, sync or load
(load, the intake under attack, runs only when named).

Every figure is a median, set beside a bare loop measured in the same run.
Results go to ``bench/results/<UTC time>.json`` and ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench import (
    across_cases,
    audit,
    browser_seal,
    casework,
    intake,
    load,
    packs,
    page_size,
    vault_core,
)
from bench import sync as sync_bench
from bench.common import Row, Smoke, machine, sized, table, write_results


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller N and fewer runs")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, one run, nothing saved: only that the code still runs",
    )
    parser.add_argument(
        "--only",
        choices=(
            "page-size",
            "vault",
            "casework",
            "across",
            "packs",
            "intake",
            "seal",
            "audit",
            "sync",
            "load",
        ),
        help="run one of the groups only (load, the intake under attack, runs only when named)",
    )
    parser.add_argument("--repeats", type=int, help="runs per measurement (default 3)")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every run")
    args = parser.parse_args(argv)

    if args.smoke:
        Smoke.on = args.quick = True
    repeats = 1 if args.smoke else args.repeats or 3
    page_rows, vault_n = (4000, sized(2000)) if args.quick else (20_000, 10_000)

    def say(message: str) -> None:
        if args.verbose or not message.startswith("  "):
            print(message, file=sys.stderr, flush=True)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    doc: dict[str, Any] = {
        "command": "python -m bench" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
        "when": stamp,
        "quick": args.quick,
        "machine": machine(),
        "load_average_before": os.getloadavg(),
    }
    started = time.perf_counter()
    out: list[str] = []
    if args.only in (None, "vault"):
        say(f"vault core, N = {vault_n}")
        rows: list[Row] = vault_core.run(vault_n, repeats, args.quick, say)
        doc["vault"] = vault_core.summary(rows)
        out += ["## Vault core", "", table(rows), ""]
        out += [f"- {r.name}: {r.note}" for r in rows if r.note]
        out += [""]
    if args.only in (None, "casework"):
        say("casework across cases: search and filtered lists")
        work_rows = casework.run(args.quick, repeats, say)
        doc["casework"] = casework.summary(work_rows)
        out += ["## Casework across cases", "", table(work_rows), ""]
        out += [f"- {r.name}: {r.note}" for r in work_rows if r.note]
        out += [""]
    if args.only in (None, "across"):
        say("patterns and statistics across cases")
        across_rows = across_cases.run(args.quick, repeats, say)
        doc["across_cases"] = across_cases.summary(across_rows)
        out += ["## Patterns and statistics", "", table(across_rows), ""]
        out += [f"- {r.name}: {r.note}" for r in across_rows if r.note]
        out += [""]
    if args.only in (None, "packs"):
        say("complaint packs: cleaning a photo, checking a pack")
        pack_rows = packs.run(args.quick, repeats, say)
        doc["packs"] = packs.summary(pack_rows)
        out += ["## Complaint packs", "", table(pack_rows), ""]
        out += [f"- {r.name}: {r.note}" for r in pack_rows if r.note]
        out += [""]
    if args.only in (None, "audit"):
        audit_n = sized(100_000) if args.quick else 1_000_000
        say(f"access log, {audit_n} entries")
        audit_rows = audit.run(audit_n, repeats, args.quick, say)
        doc["audit"] = audit.summary(audit_rows)
        out += ["## Access log", "", table(audit_rows), ""]
        out += [f"- {r.name}: {r.note}" for r in audit_rows if r.note]
        out += [""]
    if args.only in (None, "page-size"):
        say(f"page size and cache, {page_rows} rows")
        pages = page_size.run(page_rows, repeats, say)
        doc["page_size"] = pages
        out += ["## Page size and cache", "", page_size.table(pages), ""]
    if args.only in (None, "intake"):
        say("intake server (vault intake serve)")
        served = intake.run(args.quick, repeats, say)
        doc["intake"] = served
        out += ["## Intake", "", intake.table(served), ""]
    if args.only in (None, "seal"):
        say("the form sealing files in Chromium")
        sealed = browser_seal.run(args.quick, repeats, say)
        doc["seal"] = sealed
        out += ["## Sealing a file in the browser", "", browser_seal.table(sealed), ""]
    if args.only in (None, "sync"):
        say("several laptops: a new replica catching up, an incremental sync, relay memory")
        synced = sync_bench.run(args.quick, repeats, say)
        doc["sync"] = sync_bench.summary(synced)
        out += ["## Several laptops", "", table(synced["rows"]), ""]
        out += [f"- {r.name}: {r.note}" for r in synced["rows"] if r.note]
        out += [sync_bench.memory_line(synced["memory"]), ""]
    if args.only == "load":
        say("the intake under attack (reporters, idle connections, huge headers)")
        attacked = load.run(args.quick, say)
        doc["load"] = attacked
        out += ["## Intake under attack", "", load.table(attacked), ""]
    doc["seconds"] = time.perf_counter() - started
    doc["load_average_after"] = os.getloadavg()
    m = doc["machine"]
    print(
        f"# Benchmarks ({stamp}, {doc['seconds']:.0f} s)\n\n"
        f"{m['nproc']} × {m['cpu']}, Python {m['python']}, SQLCipher {m['sqlcipher']} "
        f"(SQLite {m['sqlcipher_sqlite']}, {m['sqlcipher_crypto']}), stdlib SQLite "
        f"{m['stdlib_sqlite']}, PyNaCl {m['pynacl']}; vault page {m['cipher_page_size']}, "
        f"cache {m['cache_kib']} KiB. Load average (1, 5, 15 min) before "
        f"{_load(doc['load_average_before'])}, after {_load(doc['load_average_after'])}.\n"
    )
    print("\n".join(out))
    if not args.smoke:
        print(f"Saved {write_results(doc, stamp)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
