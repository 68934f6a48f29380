"""The access log against the least it must do, measured in the same run.

* verify: ``vault.audit.verify.verify`` over a bundle of N entries (1,000,000 by default;
  one caseworker, a signed checkpoint every 10,000 entries, with consistency proofs),
  parsing the file included, against a bare pass computing SHA-256(0x00 || leaf) of
  the same leaves held in memory (the leaf hashes any verifier must compute). The note
  says whether verify ran its inner loops in C (``vault._native``, built at install) or
  in pure Python.
* per-action overhead: ``Vault.show_case`` (an "opened" event: one leaf and a signed
  checkpoint in its transaction) with the log, against the same action with the
  log's two calls (``add`` and ``finish``) made no-ops, taking turns; the
  median difference is what the log adds to one action.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import Row, Timer, interleaved
from vault import case_view, incoming
from vault.audit import merkle
from vault.audit.bundle import BundleContents, Person, encode, proofs_between
from vault.audit.leaves import Leaf, member_commitment
from vault.audit.signed_note import Checkpoint, NoteSigner, sign_checkpoint
from vault.audit.verify import verify
from vault.auditlog import AccessLog, caseworker_verifier
from vault.envelope import seal_report
from vault.keys import Identity
from vault.passphrase import Passphrase
from vault.report import parse_report
from vault.store import Vault

VERIFY_TARGET = 2.0  # ≤ 2× a bare SHA-256 pass
OVERHEAD_TARGET_MS = 1.0
CHECKPOINT_EVERY = 10_000
ORIGIN = "vault.redress/00112233445566778899aabbccddeeff"


def synthetic_bundle(n: int) -> tuple[bytes, list[bytes]]:
    """A valid bundle of ``n`` entries by one caseworker, as a busy vault would write it."""
    identity = Identity.generate("amara")
    key_id = identity.key_id
    start = 1_700_000_000  # the first entry's time, in POSIX seconds; times only go forward
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    leaves = [
        Leaf(created, key_id, "vault-created", None, key_id).encode(),
        Leaf(
            created,
            key_id,
            "caseworker-added",
            None,
            key_id,
            hashlib.sha256(member_commitment("amara", identity.public.sign_pk)).hexdigest(),
        ).encode(),
    ]
    actions = ("imported", "opened", "note", "status", "opened")
    for i in range(n - 2):
        second = start + i // 20  # about 20 entries a second
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        action = actions[i % len(actions)]
        case = "".join("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(i * 7 + k) % 32] for k in range(8))
        committed = action in ("imported", "note")
        commit = hashlib.sha256(i.to_bytes(8, "big")).hexdigest() if committed else None
        detail = "triage" if action == "status" else None
        leaves.append(Leaf(at, key_id, action, case, detail, commit).encode())
    hashes = merkle.leaf_hashes(leaves)
    tree = merkle.Tree(hashes)
    sizes = [*range(CHECKPOINT_EVERY, n, CHECKPOINT_EVERY), n]
    signer = NoteSigner(ORIGIN, identity.signer)
    notes = [sign_checkpoint(Checkpoint(ORIGIN, s, tree.root_at(s)), signer) for s in sizes]
    person = Person("caseworker", "amara", caseworker_verifier(ORIGIN, identity.public.sign_pk))
    contents = BundleContents(ORIGIN, [person], leaves, notes, proofs_between(sizes, tree))
    return encode(contents), leaves


def run(n: int, repeats: int, quick: bool, say: Callable[[str], None]) -> list[Row]:
    return [_verify_row(n, repeats, say), _overhead_row(100 if quick else 400, repeats, say)]


def _verify_row(n: int, repeats: int, say: Callable[[str], None]) -> Row:
    say(f"  building a bundle of {n} entries")
    data, leaves = synthetic_bundle(n)
    sha256 = hashlib.sha256

    def ours() -> Timer:
        with Timer() as t:
            result = verify(data)
        assert result.entries == n
        return t

    def bare() -> Timer:
        with Timer() as t:
            for leaf in leaves:
                sha256(b"\x00" + leaf).digest()
        return t

    runs = interleaved({"ours": ours, "bare": bare}, repeats, say=say)
    row = Row(
        name=f"audit verify, {n} entries",
        what="vault.audit.verify.verify over the whole bundle file (parsing included)",
        kind="time",
        timers=runs["ours"],
        bare_timers=runs["bare"],
        bare_what="SHA-256(0x00 || leaf) over the same leaves in memory",
        target=f"≤ {VERIFY_TARGET}× bare",
    )
    row.met = (row.ratio or 99) <= VERIFY_TARGET
    checkpoints = len(range(CHECKPOINT_EVERY, n, CHECKPOINT_EVERY)) + 1
    path = "C (vault/_native.c)" if merkle.native() else "pure Python (vault._native not built)"
    row.note = (
        f"bundle {len(data) / 2**20:.0f} MiB, {checkpoints} signed checkpoints;"
        f" hashing and entry checks in {path}"
    )
    return row


def _overhead_row(actions: int, repeats: int, say: Callable[[str], None]) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        vault = Vault.create(
            Path(tmp) / "v", "amara", Passphrase(b"bench ledger quietly orbits a mango")
        )
        key = vault.team_public_key()
        report = parse_report(
            {"sector": "other", "role": "bench", "harms": ["other"], "what_happened": "bench"}
        )
        envelopes = [(str(i), seal_report(report, key.epoch, key.public_key)) for i in range(200)]
        cases = incoming.import_envelopes(vault, envelopes).imported
        real_add, real_finish = AccessLog.add, AccessLog.finish
        per_action: dict[str, list[float]] = {"with": [], "without": []}

        def timed(with_log: bool) -> Timer:
            if not with_log:
                AccessLog.add = lambda self, *entry: 0  # type: ignore[method-assign]
                AccessLog.finish = lambda self: None  # type: ignore[method-assign]
            try:
                each = []
                with Timer() as t:
                    for i in range(actions):
                        start = time.perf_counter()
                        case_view.show_case(vault, cases[i % len(cases)])
                        each.append(time.perf_counter() - start)
            finally:
                AccessLog.add = real_add  # type: ignore[method-assign]
                AccessLog.finish = real_finish  # type: ignore[method-assign]
            per_action["with" if with_log else "without"].extend(each)
            return t

        runs = interleaved(
            {"ours": lambda: timed(True), "bare": lambda: timed(False)}, repeats, say=say
        )
        vault.close()
    with_ms = statistics.median(per_action["with"]) * 1e3
    without_ms = statistics.median(per_action["without"]) * 1e3
    added_ms = with_ms - without_ms
    row = Row(
        name=f"log overhead per action ({actions} × {repeats} shows)",
        what="vault show with the access log (leaf + signed checkpoint in its transaction)",
        kind="time",
        timers=runs["ours"],
        bare_timers=runs["bare"],
        bare_what="the same shows with the log's add and finish made no-ops",
        target=f"≤ {OVERHEAD_TARGET_MS} ms added at the median",
    )
    row.met = added_ms <= OVERHEAD_TARGET_MS
    row.note = (
        f"median action {with_ms:.2f} ms with the log, {without_ms:.2f} ms without:"
        f" {added_ms:.3f} ms added"
    )
    return row


def summary(rows: list[Row]) -> dict[str, Any]:
    return {r.name: r.to_json() for r in rows}


__all__ = ["run", "summary", "synthetic_bundle"]
