"""The vault core against the least each operation must do, measured in the same run.

* import: ``Vault.import_envelopes`` into a fresh vault, against opening each
  envelope (``crypto_box_seal_open``) and a bare INSERT of it into a one-table
  SQLCipher database with the same pragmas, page size and key type, in
  transactions of the same size.
* cases list --json: ``[c.to_json() for c in case_view.list_cases(vault)]`` and
  ``render.json_lines`` (as the CLI prints it), against the same SELECT on a bare
  connection and ``json.dumps`` of the rows.
* table view: the people's view (``--limit 50``): the newest 50 and the count,
  and the same rendered with rich.
* decrypt all: ``read_through.iter_report_json(vault)`` (and ``iter_reports``) against a bare
  ``crypto_box_seal_open`` loop over the same envelopes held in memory. The vault reads its
  rows ahead, and opens them, on a second thread (``db.read_ahead``); the CPU ratio counts
  both threads.
* unlock: ``Vault.unlock`` (Argon2id MODERATE), a chosen cost reported in
  seconds beside Argon2id alone.
* CLI: ``vault cases list --json`` end to end as a subprocess, against a
  subprocess that starts Python, runs one Argon2id of the same cost, opens the
  database with its raw key and prints the same SELECT as JSON.

The reading cases each run on a new database connection (SQLCipher's page cache
cold, as in a command just after unlock); the Argon2id unlock is timed on its own.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.pwhash

from bench.common import BATCH, Row, Smoke, Timer, bare_connect, interleaved
from bench.corpus import envelopes
from vault import case_view, incoming, read_through, schema
from vault import db as dbmod
from vault.envelope import HEADER_BYTES
from vault.incoming import IMPORT_BATCH
from vault.keys import DEFAULT_KDF
from vault.passphrase import Passphrase
from vault.store import Vault

PASSPHRASE = Passphrase(b"correct horse battery staple")
NAME = "bench"
LIST_SQL = (
    "SELECT id, status, received, assignee, outcome FROM cases ORDER BY received DESC, rowid DESC"
)
LIST_TARGET_S = 0.3
IMPORT_TARGET = 0.5
DECRYPT_TARGET = 1.3

# The least `vault cases list --json` must do: start Python, derive one key at the
# same Argon2id cost, open the database with the raw key, print the rows as JSON.
BARE_CLI = """
import json, sys
import nacl.pwhash
from sqlcipher3 import dbapi2 as sqlcipher
path, key, page, ops, mem, salt = sys.stdin.read().split()
nacl.pwhash.argon2id.kdf(
    32, b"passphrase", bytes.fromhex(salt), opslimit=int(ops), memlimit=int(mem)
)
db = sqlcipher.connect(path)
db.execute("PRAGMA key = \\"x'" + key + "'\\"")
db.execute("PRAGMA cipher_page_size = " + page)
rows = db.execute(sys.argv[1]).fetchall()
print(json.dumps(rows, ensure_ascii=True))
"""


def _vault_command() -> list[str]:
    script = Path(sys.executable).with_name("vault")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cli.main import main; main()"]


class Bench:
    """One run: a template vault, its envelopes, and the timed cases built on them."""

    def __init__(self, root: Path, n: int, say: Callable[[str], None]) -> None:
        self.root = root
        self.n = n
        self.say = say
        self.template = root / "template"
        with Vault.create(self.template, NAME, PASSPHRASE) as vault:
            team = vault.team_public_key()
            pair = vault.access.current
            self.db_key = vault.access.db_key.reveal()
        self.team_pk = pair.public_key
        self.team_sk = pair.secret_key.reveal()
        say(f"  sealing {n} envelopes …")
        self.envelopes = envelopes(n, team.epoch, team.public_key)
        self.labelled = [(f"report-{i}.env", e) for i, e in enumerate(self.envelopes)]
        self.sealed = [e[HEADER_BYTES:] for e in self.envelopes]
        self.copies = 0
        self.vault_dir: Path | None = None
        self.db_bytes = 0

    # --- import -------------------------------------------------------------------

    def fresh_vault(self) -> Vault:
        self.copies += 1
        directory = self.root / f"vault-{self.copies}"
        shutil.copytree(self.template, directory)
        return Vault.unlock(directory, PASSPHRASE)

    def import_ours(self) -> Timer:
        vault = self.fresh_vault()
        try:
            with Timer() as t:
                result = incoming.import_envelopes(vault, self.labelled)
            assert len(result.imported) == self.n
            assert not result.failures
        finally:
            vault.close()
        self.db_bytes = (vault.directory / "vault.db").stat().st_size
        if self.vault_dir is not None:
            shutil.rmtree(self.vault_dir)
        self.vault_dir = vault.directory  # the last imported vault is the one read below
        return t

    def import_bare(self) -> Timer:
        self.copies += 1
        path = self.root / f"bare-{self.copies}.db"
        db = bare_connect(path, self.db_key)
        db.execute("CREATE TABLE envelopes (id INTEGER PRIMARY KEY, envelope BLOB NOT NULL)")
        pk, sk = self.team_pk, self.team_sk
        with Timer() as t:
            db.execute("BEGIN IMMEDIATE")
            for i, envelope in enumerate(self.envelopes, 1):
                nacl.bindings.crypto_box_seal_open(envelope[HEADER_BYTES:], pk, sk)
                db.execute("INSERT INTO envelopes (envelope) VALUES (?)", (envelope,))
                if i % BATCH == 0:
                    db.execute("COMMIT")
                    db.execute("BEGIN IMMEDIATE")
            db.execute("COMMIT")
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return t

    def some_casework(self, vault: Vault) -> None:
        """Assign and close a few cases so listed rows are not all alike."""
        rng = random.Random(7)
        cases = [c.id for c in case_view.list_cases(vault)]
        for case_id in rng.sample(cases, max(1, len(cases) // 100)):
            vault.assign(case_id, vault.identity.name)  # only a caseworker of the vault
        for case_id in rng.sample(cases, max(1, len(cases) // 200)):
            vault.close_case(case_id, "supported")


def run(n: int, repeats: int, quick: bool, say: Callable[[str], None]) -> list[Row]:
    assert BATCH == IMPORT_BATCH
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="redress-bench-vault-") as tmp:
        bench = Bench(Path(tmp), n, say)

        say(f"import {n} envelopes")
        runs = interleaved({"ours": bench.import_ours, "bare": bench.import_bare}, repeats, say=say)
        row = Row(
            name=f"import {n} envelopes",
            what="Vault.import_envelopes into a fresh vault",
            kind="rate",
            timers=runs["ours"],
            bare_timers=runs["bare"],
            bare_what="crypto_box_seal_open + bare INSERT, same pragmas and batches",
            target=f"≥ {IMPORT_TARGET}× bare rate",
        )
        row.met = (row.ratio or 0) >= IMPORT_TARGET
        row.note = (
            f"{n / row.median:.0f} envelopes/s against {n / (row.bare_median or 1):.0f}/s bare;"
            f" vault.db is then {bench.db_bytes / 2**20:.1f} MiB"
        )
        rows.append(row)

        assert bench.vault_dir is not None
        vault = Vault.unlock(bench.vault_dir, PASSPHRASE)
        try:
            bench.some_casework(vault)
            rows += _reading(bench, vault, repeats, quick, say)
        finally:
            vault.close()
        rows += _unlock_and_cli(bench, bench.vault_dir, repeats, say)
    return rows


class Reopened:
    """Each run reads through a new database connection, so SQLCipher's page cache starts
    cold, as in a command just after unlock. The Argon2id unlock itself is left out
    (it is timed on its own): the new connection reuses the unlocked identity and keys."""

    def __init__(self, bench: Bench, unlocked: Vault) -> None:
        self.bench = bench
        self.unlocked = unlocked
        self.path = unlocked.directory / "vault.db"

    def vault(self) -> Vault:
        u = self.unlocked
        return Vault(u.directory, u.identity, u.access, schema.connect(self.path, u.access.db_key))

    def bare(self) -> Any:
        return bare_connect(self.path, self.bench.db_key)


def _reading(
    bench: Bench, unlocked: Vault, repeats: int, quick: bool, say: Callable[[str], None]
) -> list[Row]:
    from rich.console import Console

    from cli import render

    n = bench.n
    fresh = Reopened(bench, unlocked)
    rows: list[Row] = []

    def list_ours() -> Timer:
        with fresh.vault() as vault, Timer() as t:
            text = render.json_lines([c.to_json() for c in case_view.list_cases(vault)])
        assert text.count('"id"') == n
        return t

    def list_bare() -> Timer:
        raw = fresh.bare()
        with Timer() as t:
            text = json.dumps(raw.execute(LIST_SQL).fetchall(), ensure_ascii=True)
        raw.close()
        assert len(text) > n
        return t

    say(f"cases list --json over {n} cases")
    runs = interleaved({"ours": list_ours, "bare": list_bare}, repeats * 2 + 1, say=say)
    row = Row(
        name=f"cases list --json, {n} cases",
        what="[c.to_json() for c in case_view.list_cases(vault)] + render.json_lines"
        " (as the CLI prints it),"
        " cold cache after unlock",
        kind="time",
        timers=runs["ours"],
        bare_timers=runs["bare"],
        bare_what="the same SELECT on a new bare connection + json.dumps of the rows",
        target=f"≤ {LIST_TARGET_S} s",
    )
    row.met = None if quick else row.median <= LIST_TARGET_S
    rows.append(row)

    def table_ours() -> Timer:
        with fresh.vault() as vault, Timer() as t:
            shown = case_view.list_cases(vault, limit=50)
            total = case_view.count_cases(vault)
        assert len(shown) == min(50, n)
        assert total == n
        return t

    def table_rendered() -> Timer:
        saved = render.out
        render.out = Console(file=io.StringIO(), width=100, highlight=False, soft_wrap=False)
        try:
            with fresh.vault() as vault, Timer() as t:
                render.case_table(
                    case_view.list_cases(vault, limit=50), case_view.count_cases(vault)
                )
        finally:
            render.out = saved
        return t

    def table_bare() -> Timer:
        raw = fresh.bare()
        with Timer() as t:
            raw.execute(LIST_SQL + " LIMIT 50").fetchall()
            raw.execute("SELECT count(*) FROM cases").fetchone()
        raw.close()
        return t

    say("table view (limit 50)")
    runs = interleaved(
        {"ours": table_ours, "rendered": table_rendered, "bare": table_bare},
        repeats * 2 + 1,
        say=say,
    )
    rows.append(
        Row(
            name="table view: newest 50 + count",
            what="case_view.list_cases(vault, limit=50) + case_view.count_cases(vault), cold cache",
            kind="time",
            timers=runs["ours"],
            bare_timers=runs["bare"],
            bare_what="the same two SELECTs on a new bare connection",
        )
    )
    rows.append(
        Row(
            name="table view rendered with rich",
            what="the same, rendered by cli.render.case_table into a string",
            kind="time",
            timers=runs["rendered"],
            bare_timers=runs["bare"],
            bare_what="the same two SELECTs on a new bare connection",
        )
    )

    pk, sk = bench.team_pk, bench.team_sk

    def decrypt_ours() -> Timer:
        with fresh.vault() as vault, Timer() as t:
            for _case_id, _data in read_through.iter_report_json(vault):
                pass
        return t

    def decrypt_validate() -> Timer:
        with fresh.vault() as vault, Timer() as t:
            reports = list(read_through.iter_reports(vault))
        assert len(reports) == n
        return t

    def decrypt_bare() -> Timer:
        with Timer() as t:
            for sealed in bench.sealed:
                nacl.bindings.crypto_box_seal_open(sealed, pk, sk)
        return t

    say(f"decrypt all {n}")
    runs = interleaved(
        {"ours": decrypt_ours, "validated": decrypt_validate, "bare": decrypt_bare},
        repeats,
        say=say,
    )
    row = Row(
        name=f"decrypt all {n} reports",
        what="read_through.iter_report_json(vault): read ahead on a second thread, check header,"
        " open,"
        " unpad; cold cache",
        kind="time",
        timers=runs["ours"],
        bare_timers=runs["bare"],
        bare_what="crypto_box_seal_open loop over the same envelopes in memory",
        target=f"≤ {DECRYPT_TARGET}× bare time",
    )
    row.met = (row.ratio or 0) <= DECRYPT_TARGET
    rows.append(row)
    rows.append(
        Row(
            name=f"decrypt and validate all {n} reports",
            what="list(read_through.iter_reports(vault)): the same, plus a pydantic Report"
            " for each",
            kind="time",
            timers=runs["validated"],
            bare_timers=runs["bare"],
            bare_what="crypto_box_seal_open loop over the same envelopes in memory",
        )
    )
    return rows


def _unlock_and_cli(
    bench: Bench, directory: Path, repeats: int, say: Callable[[str], None]
) -> list[Row]:
    salt = os.urandom(nacl.pwhash.argon2id.SALTBYTES)
    ops, mem = DEFAULT_KDF.opslimit, DEFAULT_KDF.memlimit

    def unlock() -> Timer:
        with Timer() as t:
            vault = Vault.unlock(directory, PASSPHRASE)
        vault.close()
        return t

    def argon2id() -> Timer:
        with Timer() as t:
            nacl.pwhash.argon2id.kdf(32, PASSPHRASE.reveal(), salt, opslimit=ops, memlimit=mem)
        return t

    say("unlock")
    runs = interleaved(
        {"unlock": unlock, "argon2id": argon2id}, repeats if Smoke.on else max(repeats, 5), say=say
    )
    rows = [
        Row(
            name="unlock (Argon2id MODERATE)",
            what="Vault.unlock",
            kind="seconds",
            timers=runs["unlock"],
            bare_timers=runs["argon2id"],
            bare_what=f"Argon2id alone (opslimit {ops}, memlimit {mem >> 20} MiB)",
            note="a chosen security cost, not a target",
        )
    ]

    pass_file = bench.root / "passphrase"
    pass_file.write_bytes(PASSPHRASE.reveal() + b"\n")
    pass_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    command = [
        *_vault_command(),
        "cases",
        "list",
        "--json",
        "--vault",
        str(directory),
        "--passphrase-file",
        str(pass_file),
    ]
    bare_input = " ".join(
        [
            str(directory / "vault.db"),
            bench.db_key.hex(),
            str(dbmod.CIPHER_PAGE_SIZE),
            str(ops),
            str(mem),
            salt.hex(),
        ]
    )

    def cli() -> Timer:
        with Timer() as t:
            done = subprocess.run(command, capture_output=True, env=env, check=True)
        assert len(json.loads(done.stdout)) == bench.n
        return t

    def cli_bare() -> Timer:
        with Timer() as t:
            done = subprocess.run(
                [sys.executable, "-c", BARE_CLI, LIST_SQL],
                input=bare_input.encode(),
                capture_output=True,
                env=env,
                check=True,
            )
        assert len(json.loads(done.stdout)) == bench.n
        return t

    say("vault cases list --json, end to end")
    runs = interleaved(
        {"cli": cli, "bare": cli_bare}, repeats if Smoke.on else max(repeats, 5), say=say
    )
    rows.append(
        Row(
            name=f"`vault cases list --json`, {bench.n} cases, end to end",
            what="the CLI as a subprocess, Argon2id unlock included",
            kind="time",
            timers=runs["cli"],
            bare_timers=runs["bare"],
            bare_what="python -c: one Argon2id, raw-key open, SELECT, json.dumps",
            note="includes the deliberate Argon2id unlock",
        )
    )
    return rows


def summary(rows: list[Row]) -> dict[str, Any]:
    return {r.name: r.to_json() for r in rows}
