"""Casework across cases: search and a filtered listing, against the bare loop, same run.

* search: ``search.search(vault, WORDS)`` over every case (a new connection, SQLCipher's page
  cache cold, as just after unlock; the ``cases-searched`` entry written), against the bare
  loop that opens every envelope: ``crypto_box_seal_open`` over the same envelopes held in
  memory. Target: at most 1.5x the bare loop.
* filtered list: ``case_view.list_cases`` with a sector, a harm and a date, rendered as
  ``--json`` prints it, on a new connection. Target: under 0.5 s.
* ``vault cases search WORDS --json`` and the filtered ``vault cases list ... --json`` end to
  end as subprocesses (Argon2id unlock included), their wall time and each one's own peak
  memory (``bench.common.run_measured``).
  Targets at 100,000 cases: under 15 s; peak memory under 500 MiB.

One in a hundred cases has a note, so a search also opens notes. The vault is built by the
real import of ``bench.corpus`` envelopes. ``python -m bench --only casework`` runs N = 10,000,
then 100,000, each ``--repeats`` times (the 100,000 left out with ``--quick``, which runs 2,000).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.bindings

from bench.common import Row, Timer, interleaved, run_measured, sized, vault_command
from bench.corpus import envelopes
from cli import render
from vault import case_view, incoming, schema, search, triage
from vault.envelope import HEADER_BYTES
from vault.passphrase import Passphrase
from vault.store import Vault

PASSPHRASE = Passphrase(b"correct horse battery staple")
WORDS = "Leeds custody"  # a place and a role: about one report in a hundred holds both
FILTER = {"sector": "policing", "harm": "violence", "since": "2000-01-01"}
SEARCH_TARGET = 1.5
LIST_TARGET_S = 0.5
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
        result = incoming.import_envelopes(vault, [(str(i), e) for i, e in enumerate(sealed)])
        assert len(result.imported) == n
        rng = random.Random(11)
        for case_id in rng.sample(result.imported, max(1, n // 100)):
            vault.add_note(case_id, "Rang back; she will call again on Thursday about the GP.")
    return directory, [e[HEADER_BYTES:] for e in sealed], pair


class _Fresh:
    """A new connection for each run (cold page cache); the unlock itself is left out."""

    def __init__(self, unlocked: Vault) -> None:
        self.u = unlocked

    def vault(self) -> Vault:
        u = self.u
        path = u.directory / "vault.db"
        return Vault(u.directory, u.identity, u.access, schema.connect(path, u.access.db_key))


def run_one(n: int, repeats: int, say: Callable[[str], None]) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="redress-bench-casework-") as tmp:
        root = Path(tmp)
        directory, sealed, pair = _build(root, n, say)
        pk, sk = pair.public_key, pair.secret_key.reveal()
        unlocked = Vault.unlock(directory, PASSPHRASE)
        fresh = _Fresh(unlocked)
        found: list[int] = []

        def search_ours() -> Timer:
            with fresh.vault() as vault, Timer() as t:
                result = search.search(vault, WORDS)
            assert result.read == n
            assert not result.damaged
            found.append(len(result.matches))
            return t

        def bare() -> Timer:
            with Timer() as t:
                for s in sealed:
                    nacl.bindings.crypto_box_seal_open(s, pk, sk)
            return t

        say(f"search over {n} cases")
        runs = interleaved({"ours": search_ours, "bare": bare}, repeats, say=say)
        row = Row(
            name=f"cases search, {n} cases",
            what=f"search.search(vault, {WORDS!r}): read ahead, open, match reports and notes,"
            " one log entry; cold cache",
            kind="time",
            timers=runs["ours"],
            bare_timers=runs["bare"],
            bare_what="crypto_box_seal_open loop over the same envelopes in memory",
            target=f"≤ {SEARCH_TARGET}× bare time",
            note=f"{found[-1]} cases match; {n // 100} cases have a note",
        )
        row.met = (row.ratio or 99) <= SEARCH_TARGET
        rows.append(row)

        where = triage.case_filter(**FILTER)
        listed: list[int] = []

        def list_ours() -> Timer:
            with fresh.vault() as vault, Timer() as t:
                text = render.json_lines(
                    [c.to_json() for c in case_view.list_cases(vault, where=where)]
                )
            listed.append(text.count('"id"'))
            return t

        def list_everything() -> Timer:
            with fresh.vault() as vault, Timer() as t:
                render.json_lines([c.to_json() for c in case_view.list_cases(vault)])
            return t

        say(f"filtered cases list over {n} cases")
        runs = interleaved({"ours": list_ours, "all": list_everything}, repeats * 2 + 1, say=say)
        row = Row(
            name=f"cases list --sector --harm --since --json, {n} cases",
            what="case_view.list_cases(vault, where=...) + render.json_lines, cold cache",
            kind="time",
            timers=runs["ours"],
            bare_timers=runs["all"],
            bare_what="the unfiltered list --json, the same way",
            target=f"≤ {LIST_TARGET_S} s",
            note=f"{listed[-1]} cases listed",
        )
        row.met = row.median <= LIST_TARGET_S
        rows.append(row)
        unlocked.close()

        pass_file = root / "passphrase"
        pass_file.write_bytes(PASSPHRASE.reveal() + b"\n")
        pass_file.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        where_args = ["--vault", str(directory), "--passphrase-file", str(pass_file)]
        filters = [a for k, v in FILTER.items() for a in (f"--{k}", v)]
        for args, expected in (
            (["cases", "search", WORDS, "--json"], found[-1]),
            (["cases", "list", *filters, "--json"], listed[-1]),
        ):
            rows.append(_end_to_end(args, where_args, env, expected, n, repeats, say))
        shutil.rmtree(directory)
    return rows


def _end_to_end(
    args: list[str],
    where: list[str],
    env: dict[str, str],
    expected: int,
    n: int,
    repeats: int,
    say: Callable[[str], None],
) -> Row:
    """``vault ARGS`` as a subprocess, its time and its own peak memory; it lists ``expected``
    cases."""
    peaks: list[float] = []

    def cli() -> Timer:
        run = run_measured([*vault_command(), *args, *where], env)
        peaks.append(run.peak_mib)
        assert len(json.loads(run.stdout)) == expected
        return run.timer

    shown = " ".join(a if a != WORDS else repr(WORDS) for a in args)
    say(f"vault {shown}, end to end, {n} cases")
    runs = interleaved({"cli": cli}, max(1, repeats), say=say)
    row = Row(
        name=f"`vault {shown}`, {n} cases, end to end",
        what="the CLI as a subprocess, Argon2id unlock included",
        kind="seconds",
        timers=runs["cli"],
        target=f"< {CLI_TARGET_S:.0f} s, peak memory < {MEMORY_TARGET_MIB} MiB",
        note=f"peak memory (max RSS) {max(peaks):.0f} MiB",
    )
    row.met = row.median < CLI_TARGET_S and max(peaks) < MEMORY_TARGET_MIB
    return row


def run(quick: bool, repeats: int, say: Callable[[str], None]) -> list[Row]:
    rows = run_one(sized(2000) if quick else 10_000, repeats, say)
    if not quick:
        rows += run_one(100_000, repeats, say)  # a median at both sizes: it is a target at both
    return rows


def summary(rows: list[Row]) -> dict[str, Any]:
    return {r.name: r.to_json() for r in rows}
