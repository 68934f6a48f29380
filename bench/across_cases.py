"""Patterns and statistics across cases, against the bare loop, same run.

* patterns: ``patterns.find_patterns(vault)`` over every case (a new connection, SQLCipher's
  page cache cold, as just after unlock; its ``patterns-read`` entry written): the groups from
  the index of professionals, then only the cases in groups opened. Against the bare loop
  that opens every envelope: ``crypto_box_seal_open`` over the same envelopes held in memory.
  Target: at most 1.5x the bare loop.
* stats: ``stats.count(vault, ("sector", "harm"))`` with its suppression and its
  ``stats-counted`` entry, against the same bare loop. Target: at most 1.5x. (It opens no
  report: it counts the triage kept beside each case.)
* ``vault patterns --json`` and ``vault stats --by quarter,harm --json`` end to end as
  subprocesses (Argon2id unlock included), wall time and each command's own peak memory
  (``bench.common.run_measured``). Targets at 100,000 cases: under 15 s; under 500 MiB.

The reports come from ``bench.corpus``, whose identifiers repeat in their varied spellings
(GMC, NMC, HCPC, Social Work England and police numbers, names), so the groups are real.
``python -m bench --only across`` runs N = 10,000, then 100,000 (``--quick``: 2,000 only), then
the worst cases found for ``vault stats`` (``bench.stats_worst``; ``--quick`` leaves out the
slowest, review 13n's century).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.bindings

from bench import stats_worst
from bench.common import Row, Timer, interleaved, run_measured, sized, vault_command
from bench.corpus import envelopes
from vault import incoming, patterns, schema, stats
from vault.envelope import HEADER_BYTES
from vault.passphrase import Passphrase
from vault.store import Vault

PASSPHRASE = Passphrase(b"correct horse battery staple")
RATIO_TARGET = 1.5
CLI_TARGET_S = 15.0
MEMORY_TARGET_MIB = 500


def _build(root: Path, n: int, say: Callable[[str], None]) -> tuple[Path, list[bytes], Any]:
    directory = root / "vault-data"
    with Vault.create(directory, "bench", PASSPHRASE) as vault:
        team = vault.team_public_key()
        pair = vault.access.current
        say(f"  sealing {n} envelopes …")
        sealed = envelopes(n, team.epoch, team.public_key)
        say(f"  importing {n} envelopes …")
        for start in range(0, n, 10_000):
            batch = [(str(i), sealed[i]) for i in range(start, min(n, start + 10_000))]
            incoming.import_envelopes(vault, batch)
    return directory, [e[HEADER_BYTES:] for e in sealed], pair


def _fresh(u: Vault) -> Vault:
    """A new connection (cold page cache); the unlock itself is left out."""
    path = u.directory / "vault.db"
    return Vault(u.directory, u.identity, u.access, schema.connect(path, u.access.db_key))


def run_one(n: int, repeats: int, say: Callable[[str], None]) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="redress-bench-across-") as tmp:
        root = Path(tmp)
        directory, sealed, pair = _build(root, n, say)
        pk, sk = pair.public_key, pair.secret_key.reveal()
        unlocked = Vault.unlock(directory, PASSPHRASE)
        groups: list[int] = []
        opened: list[int] = []

        def patterns_ours() -> Timer:
            with _fresh(unlocked) as vault, Timer() as t:
                found = patterns.find_patterns(vault)
            assert found.indexed == n
            groups.append(len(found.groups))
            opened.append(found.read)
            return t

        def stats_ours() -> Timer:
            with _fresh(unlocked) as vault, Timer() as t:
                table = stats.count(vault, ("sector", "harm"))
            assert table.total == n
            return t

        def bare() -> Timer:
            with Timer() as t:
                for s in sealed:
                    nacl.bindings.crypto_box_seal_open(s, pk, sk)
            return t

        say(f"patterns and stats over {n} cases")
        runs = interleaved(
            {"patterns": patterns_ours, "stats": stats_ours, "bare": bare}, repeats, say=say
        )
        for name, what in (
            (
                "patterns",
                "patterns.find_patterns(vault): index query, open the cases in groups, log",
            ),
            ("stats", "stats.count(vault, ('sector', 'harm')): kept triage, suppress, log"),
        ):
            row = Row(
                name=f"{name}, {n} cases",
                what=what + "; cold cache",
                kind="time",
                timers=runs[name],
                bare_timers=runs["bare"],
                bare_what="crypto_box_seal_open loop over the same envelopes in memory",
                target=f"≤ {RATIO_TARGET}× bare time",
                note=f"{groups[-1]} groups, {opened[-1]} cases opened"
                if name == "patterns"
                else "",
            )
            row.met = (row.ratio or 99) <= RATIO_TARGET
            rows.append(row)
        unlocked.close()

        pass_file = root / "passphrase"
        pass_file.write_bytes(PASSPHRASE.reveal() + b"\n")
        pass_file.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        where = ["--vault", str(directory), "--passphrase-file", str(pass_file)]
        for args in (["patterns", "--json"], ["stats", "--by", "quarter,harm", "--json"]):
            peaks: list[float] = []
            command = [*vault_command(), *args, *where]
            say(f"vault {' '.join(args)}, end to end, {n} cases")

            def end_to_end(c: list[str] = command, p: list[float] = peaks) -> Timer:
                run = run_measured(c, env)
                json.loads(run.stdout)
                p.append(run.peak_mib)
                return run.timer

            runs = interleaved({"cli": end_to_end}, max(1, repeats), say=say)
            row = Row(
                name=f"`vault {' '.join(args)}`, {n} cases, end to end",
                what="the CLI as a subprocess, Argon2id unlock included",
                kind="seconds",
                timers=runs["cli"],
                target=f"< {CLI_TARGET_S:.0f} s, peak memory < {MEMORY_TARGET_MIB} MiB",
                note=f"peak memory (max RSS) {max(peaks):.0f} MiB",
            )
            row.met = row.median < CLI_TARGET_S and max(peaks) < MEMORY_TARGET_MIB
            rows.append(row)
        shutil.rmtree(directory)
    return rows


def run(quick: bool, repeats: int, say: Callable[[str], None]) -> list[Row]:
    rows = run_one(sized(2000) if quick else 10_000, repeats, say)
    if not quick:
        rows += run_one(100_000, 1, say)
    return rows + stats_worst.run(repeats, say, quick)


def summary(rows: list[Row]) -> dict[str, Any]:
    return {r.name: r.to_json() for r in rows}
