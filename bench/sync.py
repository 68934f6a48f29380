"""Several laptops (``--only sync``): a new replica catching up, an incremental sync, the
relay's memory while it serves a large history. docs/benchmarks.md, "Several laptops".

* **catch-up**: amara's vault holds N cases (bench/corpus.py reports) and 5 events a case
  (three notes, a status change, an assignment; each import is an access-log entry). Bea
  joins (``vault join``, added from her request; amara's sync queues her welcome and the
  whole history at the relay, a real ``vault intake serve`` on loopback). Timed: bea's first
  ``vault sync --from URL``, the real command in its own process, start-up, passphrase and
  all. Each run starts from copies of bea's folder and the intake's folder as they were
  before it. Bare: the same cases and events rows (read back from amara's database)
  inserted into a new SQLCipher database with the vault's pragmas, :data:`BATCH` a commit.
* **incremental**: amara writes 100 notes and syncs (not timed); bea's ``sync`` of them,
  in this process on her unlocked vault (so "on top of the unlock"), is timed.
* **relay memory**: a member's laptop sends items of 4 MiB (3 MiB of sealed bytes, in
  base64; the relay cannot tell them from casework) until the relay holds about 1 GiB;
  another member fetches and acknowledges them all. The intake's ``VmRSS`` is sampled every
  50 ms while it serves them.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nacl import bindings as nacl_bindings

from bench.common import BATCH, Row, Timer, bare_connect, run_measured, vault_command
from bench.corpus import envelopes
from bench.intake import Server
from vault import _crypto as crypto
from vault import incoming, joining, membership
from vault.events import EVENT_SIGNATURE_CONTEXT
from vault.keys import b64
from vault.passphrase import Passphrase
from vault.relay_client import RelayClient
from vault.relay_items import FIRST_PREV, TO_TEAM, make_item
from vault.store import Vault
from vault.sync import first_welcome, sync

PASSPHRASE = Passphrase(b"bench sync passphrase, long enough")
CATCH_UP_TARGET = 0.5  # at least this fraction of the bare insert rate
INCREMENTAL_TARGET_S = 1.0
RELAY_ITEM = 4 << 20  # an item's wire: its sealed bytes travel base64 in it (4/3 as long)
SEALED = (3 << 20) - 4096  # room for the item's other fields
RSS_GROWTH_TARGET_MIB = 64  # "flat": the peak while serving, less the RSS before


def _team_vault(root: Path, cases: int, say: Callable[[str], None]) -> Vault:
    """amara's vault: ``cases`` reports, each with 5 events (its import is a log entry)."""
    amara = Vault.create(root / "amara", "amara", PASSPHRASE)
    key = amara.team_public_key()
    sealed = envelopes(cases, key.epoch, key.public_key, seed=12)
    for start in range(0, cases, BATCH):
        incoming.import_envelopes(
            amara, [(f"e{i}", e) for i, e in enumerate(sealed[start : start + BATCH], start)]
        )
    ids = [str(r[0]) for r in amara.db.execute("SELECT id FROM cases ORDER BY rowid")]
    team = amara.access.current
    for start in range(0, len(ids), BATCH // 4):
        with amara.transaction() as db:
            for case_id in ids[start : start + BATCH // 4]:
                for text in ("first call made", "letter drafted", "called back"):
                    note = crypto.seal_note(f"{text} on {case_id}", team.public_key)
                    amara.record(db, case_id, "note", {"epoch": team.epoch, "sealed": b64(note)})
                amara.record(db, case_id, "status", {"to": "triage"})
                amara.record(db, case_id, "assigned", {"to": "amara"})
        say(f"  {start + BATCH // 4} of {len(ids)} cases worked on")
    return amara


def _join(root: Path, amara: Vault, url: str) -> Path:
    """bea's laptop, joined, its first sync not yet run; amara's welcome queued and sent."""
    bea = root / "bea"
    request = joining.start_join(bea, "bea", PASSPHRASE)
    membership.add_from_request(amara, "bea", request)
    sync(amara, url)
    return bea


def _bare_rows(amara: Vault) -> tuple[list[Any], list[Any]]:
    cases = amara.db.execute("SELECT id, envelope, received FROM cases ORDER BY rowid").fetchall()
    events = amara.db.execute(
        "SELECT id, case_id, kind, actor, body, signature FROM events ORDER BY seq"
    ).fetchall()
    return cases, events


def _bare_insert(root: Path, cases: list[Any], events: list[Any]) -> Timer:
    path = root / f"bare-{time.monotonic_ns()}.db"
    db = bare_connect(path, os.urandom(32))
    db.execute("CREATE TABLE cases (id TEXT PRIMARY KEY, envelope BLOB, received TEXT)")
    db.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, case_id TEXT"
        " REFERENCES cases (id), kind TEXT, actor TEXT, body BLOB, signature BLOB)"
    )
    with Timer() as t:
        for table, rows, marks in (("cases", cases, 3), ("events", events, 6)):
            columns = (
                "(id, envelope, received)"
                if table == "cases"
                else ("(id, case_id, kind, actor, body, signature)")
            )
            for start in range(0, len(rows), BATCH):
                db.execute("BEGIN")
                db.executemany(
                    f"INSERT INTO {table} {columns} VALUES ({','.join('?' * marks)})",  # noqa: S608
                    rows[start : start + BATCH],
                )
                db.execute("COMMIT")
    db.close()
    for p in root.glob(path.name + "*"):
        p.unlink()
    return t


def catch_up(root: Path, cases: int, repeats: int, say: Callable[[str], None]) -> list[Row]:
    say(f"  making amara's vault: {cases} cases, {cases * 5} events")
    amara = _team_vault(root, cases, say)
    with Server(root, "relay", _team_key_file(root, amara)) as server:
        say("  bea joins; amara sends the history")
        with Timer() as sent:
            bea = _join(root, amara, server.url)
        server.stop()
        saved_bea, saved_relay = root / "bea-before", root / "relay-before"
        shutil.copytree(bea, saved_bea)
        shutil.copytree(server.data, saved_relay)
    rows_cases, rows_events = _bare_rows(amara)
    events = len(rows_events)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(root),
        "VAULT_PASSPHRASE_FILE": str(_passphrase_file(root)),
    }
    ours: list[Timer] = []
    bare: list[Timer] = []
    peaks: list[float] = []
    for i in range(repeats):
        shutil.rmtree(bea)
        shutil.copytree(saved_bea, bea)
        shutil.rmtree(server.data)
        shutil.copytree(saved_relay, server.data)
        with Server(root, "relay", _team_key_file(root, amara)) as s:  # on the copy
            run = run_measured(
                [*vault_command(), "sync", "--from", s.url, "--vault", str(bea)], env
            )
        ours.append(run.timer)
        peaks.append(run.peak_mib)
        bare.append(_bare_insert(root, rows_cases, rows_events))
        say(f"  catch-up run {i + 1}: {run.timer.wall:.2f} s, bare {bare[-1].wall:.2f} s")
    with Vault.unlock(bea, PASSPHRASE) as check:
        held = int(check.db.execute("SELECT count(*) FROM events").fetchone()[0])
        held_cases = int(check.db.execute("SELECT count(*) FROM cases").fetchone()[0])
    assert (held_cases, held) == (cases, events), (held_cases, held, cases, events)
    floors = _floors(bea, env, rows_events, amara.identity.public.sign_pk, repeats, bare, say)
    amara.close()
    row = Row(
        f"a new replica catching up {cases} cases, {events} events",
        "bea's first `vault sync --from URL` (its own process): the welcome and the history",
        "rate",
        ours,
        bare,
        f"the same {cases} + {events} rows into a bare SQLCipher database, {BATCH} a commit",
        target=f">= {CATCH_UP_TARGET}x bare rate",
    )
    row.met = (row.ratio or 0) >= CATCH_UP_TARGET
    row.note = (
        f"{cases / row.median:,.0f} cases/s and {events / row.median:,.0f} events/s;"
        f" peak RSS of the sync {statistics.median(peaks):.0f} MiB; amara's sending the"
        f" history took {sent.wall:.1f} s"
    )
    return [row, *floors]


def _floors(
    bea: Path,
    env: dict[str, str],
    events: list[Any],
    sign_pk: bytes,
    repeats: int,
    bare: list[Timer],
    say: Callable[[str], None],
) -> list[Row]:
    """What any catch-up that checks what it takes must spend, measured beside it: checking
    each event's Ed25519 signature (a bare libsodium loop), and the command's start-up and
    unlock (``vault caseworker list`` on the caught-up replica)."""
    checks: list[Timer] = []
    starts: list[Timer] = []
    signed = [(bytes(e[5]), EVENT_SIGNATURE_CONTEXT + bytes(e[4])) for e in events]
    for i in range(repeats):
        with Timer() as t:
            for signature, message in signed:
                nacl_bindings.crypto_sign_open(signature + message, sign_pk)
        checks.append(t)
        starts.append(
            run_measured([*vault_command(), "caseworker", "list", "--vault", str(bea)], env).timer
        )
        say(
            f"  floors run {i + 1}: signatures {t.wall:.2f} s,"
            f" start-up and unlock {starts[-1].wall:.2f} s"
        )
    check = Row(
        f"checking the {len(events)} events' signatures alone",
        "a bare loop: libsodium's Ed25519 check of each event, nothing else",
        "rate",
        checks,
        bare,
        "the same bare insert",
        target=f"below {CATCH_UP_TARGET}x: no catch-up that checks each event can meet it",
    )
    start = Row(
        "start-up and unlock alone",
        "`vault caseworker list` on the caught-up replica (its own process, Argon2id included)",
        "seconds",
        starts,
    )
    floor = check.median + start.median
    bare_median = statistics.median(t.wall for t in bare)
    check.note = (
        f"these two and the bare insert together: {floor + bare_median:.2f} s, a rate of"
        f" {bare_median / (floor + bare_median):.3f}x the bare insert's"
    )
    return [check, start]


def incremental(root: Path, repeats: int, say: Callable[[str], None]) -> list[Row]:
    """100 notes from amara, then bea's sync of them (in this process, unlocked)."""
    home = root / "incremental"
    home.mkdir()
    amara = Vault.create(home / "amara", "amara", PASSPHRASE)
    key = amara.team_public_key()
    (case_id,) = incoming.import_envelopes(
        amara, [("e", envelopes(1, key.epoch, key.public_key, seed=3)[0])]
    ).imported
    ours: list[Timer] = []
    sends: list[Timer] = []
    with Server(home, "relay", _team_key_file(home, amara)) as server:
        bea_dir = _join(home, amara, server.url)
        identity, own = joining.unlock_joiner(bea_dir, PASSPHRASE)
        bea = joining.finish_join(bea_dir, identity, own, first_welcome(identity, own, server.url))
        sync(bea, server.url)
        for i in range(repeats):
            for n in range(100):
                amara.add_note(case_id, f"note {n} of round {i}")
            with Timer() as sent:
                sync(amara, server.url)
            sends.append(sent)
            with Timer() as t:
                got = sync(bea, server.url)
            assert got.events_received == 100, got.events_received
            ours.append(t)
            say(f"  incremental run {i + 1}: {t.wall:.3f} s (amara's send {sent.wall:.3f} s)")
        bea.close()
    amara.close()
    row = Row(
        "an incremental sync of 100 events",
        "bea's `sync` taking in amara's 100 new notes (unlocked; the unlock is not counted)",
        "seconds",
        ours,
        target=f"< {INCREMENTAL_TARGET_S:.0f} s",
    )
    row.met = row.median < INCREMENTAL_TARGET_S
    row.note = (
        f"amara's sync sending them: {statistics.median(t.wall for t in sends):.3f} s (median)"
    )
    return [row]


def relay_memory(root: Path, mib: int, say: Callable[[str], None]) -> dict[str, Any]:
    home = root / "memory"
    home.mkdir()
    amara = Vault.create(home / "amara", "amara", PASSPHRASE)
    with Server(home, "relay", _team_key_file(home, amara)) as server:
        bea_dir = _join(home, amara, server.url)
        identity, own = joining.unlock_joiner(bea_dir, PASSPHRASE)
        first_welcome(identity, own, server.url)  # the relay knows bea now
        with RelayClient(server.url, identity) as bea_relay:
            items, _ = bea_relay.fetch()  # the welcome: taken, acknowledged
            bea_relay.acknowledge(items[-1][0])
        n, head = amara.db.execute(
            "SELECT n, hash FROM sync_outbox WHERE recipient = ? ORDER BY n DESC LIMIT 1",
            (TO_TEAM,),
        ).fetchone() or (0, FIRST_PREV)
        n, head = int(n), str(head)
        count = max(1, (mib << 20) // RELAY_ITEM)
        say(f"  amara's laptop sends {count} items of {RELAY_ITEM >> 20} MiB")
        epoch = amara.access.current.epoch
        with RelayClient(server.url, amara.identity) as relay:
            for _ in range(count):
                item = make_item(
                    amara.identity, amara.log.origin, n + 1, head, TO_TEAM, epoch,
                    os.urandom(SEALED),
                )  # fmt: skip
                relay.put(item.to_wire())
                n, head = item.n, item.hash
        time.sleep(1)
        before = server.status_kib("VmRSS") / 1024
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(server.status_kib("VmRSS") / 1024)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        fetched = 0
        with Timer() as t, RelayClient(server.url, identity) as bea_relay:
            while True:
                items, more = bea_relay.fetch()
                if not items:
                    break
                fetched += sum(len(w) for _, w in items)
                bea_relay.acknowledge(items[-1][0])
                if not more:
                    break
        done.set()
        sampler.join()
        hwm = server.status_kib("VmHWM") / 1024
    amara.close()
    half = len(samples) // 2
    peak = max(samples)
    return {
        "name": f"relay RSS serving {fetched / (1 << 20):,.0f} MiB of items to a replica",
        "fetched_mib": fetched / (1 << 20),
        "seconds": t.wall,
        "rss_before_mib": before,
        "rss_peak_mib": peak,
        "rss_peak_first_half_mib": max(samples[:half] or [before]),
        "rss_peak_second_half_mib": max(samples[half:] or [before]),
        "vm_hwm_mib": hwm,
        "samples": len(samples),
        "target": f"peak - before < {RSS_GROWTH_TARGET_MIB} MiB",
        "met": peak - before < RSS_GROWTH_TARGET_MIB,
    }


def _team_key_file(root: Path, amara: Vault) -> Path:
    path = root / "team-key.json"
    if not path.exists():
        path.write_bytes(amara.team_key_export().to_file_bytes())
    return path


def _passphrase_file(root: Path) -> Path:
    path = root / "passphrase"
    if not path.exists():
        path.write_bytes(PASSPHRASE.reveal() + b"\n")
        path.chmod(0o600)
    return path


def run(quick: bool, repeats: int, say: Callable[[str], None]) -> dict[str, Any]:
    cases = 2_000 if quick else 10_000
    mib = 128 if quick else 1024
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        root = Path(tmp)
        rows = catch_up(root, cases, repeats, say)
        rows += incremental(root, repeats, say)
        memory = relay_memory(root, mib, say)
    return {"rows": rows, "memory": memory}


def summary(result: dict[str, Any]) -> dict[str, Any]:
    return {
        **{r.name: r.to_json() for r in result["rows"]},
        "relay_memory": result["memory"],
    }


def memory_line(m: dict[str, Any]) -> str:
    return (
        f"- {m['name']}: RSS {m['rss_before_mib']:.1f} MiB before, peak {m['rss_peak_mib']:.1f}"
        f" MiB while serving (first half {m['rss_peak_first_half_mib']:.1f}, second half"
        f" {m['rss_peak_second_half_mib']:.1f}; {m['samples']} samples, {m['seconds']:.1f} s);"
        f" VmHWM {m['vm_hwm_mib']:.1f} MiB (includes receiving the items). Target"
        f" {m['target']}: {'met' if m['met'] else 'NOT met'}"
    )
