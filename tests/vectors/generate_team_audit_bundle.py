"""Write ``tests/vectors/team-audit-bundle-v1.json``: a team's audit bundle
(``redress-team-audit-bundle/1``), every laptop's access log with the team's membership
chain, sound and tampered.

Run it from the repository root (after ``make setup``, which installs ``.venv/bin/vault``)::

    .venv/bin/python tests/vectors/generate_team_audit_bundle.py           # rewrite the vector
    .venv/bin/python tests/vectors/generate_team_audit_bundle.py --check   # exit 1 if out of date

A team of two laptops, built with the vault's own library from fixed keys, times and entries
(so the same byte for byte each run): amara's laptop made the vault (its log origin is in the
team key file the chain starts from); bea joined from her own laptop (a signed ``add``
statement names her log origin). Each log is a ``/2`` bundle's body. The expected exit code
and message of each vector come from running the real ``vault audit verify``.
``docs/audit.md`` section 16 is the specification.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nacl.bindings as sodium

from vault._crypto import SecretBytes
from vault.audit import merkle
from vault.audit.bundle import BundleContents, Person, TeamBundle, encode_team, proofs_between
from vault.audit.leaves import encode_leaf, member_commitment
from vault.audit.signed_note import COSIGNATURE_V1, Checkpoint, NoteSigner, sign_checkpoint
from vault.keys import Identity, TeamPublicKey
from vault.team_changes import Member, Statement, Team, apply, make_statement

HERE = Path(__file__).resolve().parent
VECTOR = HERE / "team-audit-bundle-v1.json"
VAULT_BIN = Path(sys.executable).with_name("vault")


def fixed(label: str) -> bytes:
    return hashlib.sha256(f"redress test vector {label}".encode()).digest()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


ORIGIN_A = "vault.redress/" + fixed("team log origin amara")[:16].hex()
ORIGIN_B = "vault.redress/" + fixed("team log origin bea")[:16].hex()
ORIGIN_X = "vault.redress/" + fixed("team log origin stranger")[:16].hex()
WITNESS_NAME = "witness.redress/" + fixed("team witness name")[:8].hex()
WITNESS_TIME = 1741944413  # 2025-03-14T09:26:53Z
CASE = "7KQ2M9XD"


def identity(name: str) -> Identity:
    return Identity.from_secrets(
        name,
        SecretBytes(fixed(f"team {name} signing seed"), "seed"),
        SecretBytes(fixed(f"team {name} box key"), "box key"),
    )


AMARA, BEA = identity("amara"), identity("bea")
WITNESS_SEED = fixed("team witness seed")
WITNESS = NoteSigner.from_seed(WITNESS_NAME, SecretBytes(WITNESS_SEED), COSIGNATURE_V1)
TEAM_PK = bytes(sodium.crypto_scalarmult_base(fixed("team key epoch 1")))
START = TeamPublicKey(1, TEAM_PK, (("amara", AMARA.public.sign_pk),), ORIGIN_A)


def added(who: Identity) -> tuple[str, str | None, str | None, str | None]:
    return (
        "caseworker-added",
        None,
        who.key_id,
        sha(member_commitment(who.name, who.public.sign_pk)),
    )


Transaction = tuple[Identity, str, list[tuple[str, str | None, str | None, str | None]]]


def amara_log(export_at: str = "2025-03-14T09:26:53Z") -> list[Transaction]:
    witness = WITNESS.verifier
    return [
        (
            AMARA,
            "2025-03-10T09:00:00Z",
            [("vault-created", None, AMARA.key_id, None), added(AMARA)],
        ),
        (AMARA, "2025-03-10T09:05:00Z", [("imported", CASE, None, fixed("envelope").hex())]),
        (
            AMARA,
            "2025-03-10T09:05:01Z",
            [("witness-added", None, witness.id.hex(), sha(witness.to_vkey().encode()))],
        ),
        (AMARA, "2025-03-10T09:06:00Z", [("note", CASE, None, sha(fixed("sealed note")))]),
        (AMARA, "2025-03-11T10:00:00Z", [added(BEA)]),
        (AMARA, export_at, [("audit-exported", None, None, None)]),
    ]


def bea_log() -> list[Transaction]:
    witness = WITNESS.verifier
    return [
        (
            BEA,
            "2025-03-11T10:05:00Z",
            [("vault-created", None, BEA.key_id, None), added(BEA), added(AMARA)],
        ),
        (
            BEA,
            "2025-03-11T10:05:01Z",
            [("witness-added", None, witness.id.hex(), sha(witness.to_vkey().encode()))],
        ),
        (BEA, "2025-03-11T10:05:02Z", [("imported", CASE, None, fixed("envelope").hex())]),
        (BEA, "2025-03-11T10:07:00Z", [("opened", CASE, None, None)]),
        (BEA, "2025-03-11T10:08:00Z", [("status", CASE, "triage", None)]),
        (BEA, "2025-03-12T08:00:00Z", [("opened", CASE, None, None)]),
    ]


def build(origin: str, transactions: list[Transaction], witnessed: set[int]) -> BundleContents:
    """One laptop's log: a checkpoint per transaction, those in ``witnessed`` cosigned."""
    leaves: list[bytes] = []
    notes, sizes = [], []
    for number, (who, at, entries) in enumerate(transactions, 1):
        for action, case, detail, commit in entries:
            leaves.append(encode_leaf(at, who.key_id, action, case, detail, commit))
        checkpoint = Checkpoint(
            origin, len(leaves), merkle.Tree.of_leaves(leaves).root_at(len(leaves))
        )
        signer = NoteSigner(origin, who.signer)
        note = sign_checkpoint(checkpoint, signer)
        if number in witnessed:
            note += WITNESS.cosign_line(checkpoint.text(), WITNESS_TIME)
        notes.append(note)
        sizes.append(len(leaves))
    people = [
        Person("caseworker", who.name, NoteSigner(origin, who.signer).verifier)
        for who in ((AMARA, BEA) if origin == ORIGIN_A else (BEA, AMARA))
    ] + [Person("witness", WITNESS_NAME, WITNESS.verifier)]
    tree = merkle.Tree.of_leaves(leaves)
    return BundleContents(origin, people, leaves, notes, proofs_between(sizes, tree), [], 2)


def team_bundle(export_at: str = "2025-03-14T09:26:53Z") -> TeamBundle:
    team = Team.start(START)
    bea = Member("bea", BEA.public.sign_pk, BEA.public.box_pk, ORIGIN_B)
    statement = make_statement(team, AMARA, "add", "2025-03-11", member=bea)
    a = build(ORIGIN_A, amara_log(export_at), {3, 4})
    b = build(ORIGIN_B, bea_log(), {5})
    head_b = b.checkpoints[4]  # bea's witnessed checkpoint, as bea's laptop passed it on
    return TeamBundle(
        START.to_file_bytes(), [(statement.body, statement.signature)], [head_b], [a, b]
    )


def run_verify(bundle: bytes) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "bundle.txt"
        path.write_bytes(bundle)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": work, "COLUMNS": "120"}
        done = subprocess.run(
            [str(VAULT_BIN), "audit", "verify", str(path), "--json"],
            cwd=work,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    return done.returncode, done.stdout, done.stderr


def vector(name: str, what: str, parts: TeamBundle) -> dict[str, Any]:
    data = encode_team(parts)
    code, stdout, stderr = run_verify(data)
    out: dict[str, Any] = {"name": name, "description": what, "bundle": data.decode("utf-8")}
    out["exit_code"] = code
    if code == 0:
        shown = json.loads(stdout)
        out["laptops"] = [
            {
                "name": lap["name"],
                "origin": lap["origin"],
                "revoked": lap["revoked"],
                "stale": lap["stale"],
                "witnessed_elsewhere": lap["witnessed_elsewhere"],
                "actions": lap["log"] and lap["log"]["actions_by_actor"],
            }
            for lap in shown["laptops"]
        ]
    else:
        out["message"] = stderr.splitlines()[0].removeprefix("vault: ")
    return out


def build_all() -> dict[str, Any]:
    sound = team_bundle()
    vectors = [vector("team-of-two", "amara's laptop and bea's, each log whole.", sound)]
    withheld = team_bundle()
    withheld.logs = withheld.logs[:1]
    withheld.witnessed = []
    vectors.append(vector("withheld", "bea's log left out of the bundle.", withheld))

    edited = team_bundle()
    leaves = edited.logs[1].leaves
    leaves[6] = leaves[6].replace(b"triage", b"referred")
    vectors.append(vector("colleague-entry-edited", "an entry of bea's log changed.", edited))

    cut = team_bundle()
    b = cut.logs[1]
    cut.logs[1] = BundleContents(
        b.origin, b.people, b.leaves[:5], b.checkpoints[:3], b.proofs[:2], [], 2
    )
    vectors.append(
        vector(
            "colleague-cut-short",
            "bea's log cut back cleanly to 5 entries; a witnessed checkpoint of it at 7 remains.",
            cut,
        )
    )

    stranger = team_bundle()
    stranger.logs.append(build(ORIGIN_X, bea_log(), set()))
    vectors.append(vector("not-on-the-team", "a log whose origin no statement names.", stranger))

    forged = team_bundle()
    body, sig = forged.statements[0]
    forged.statements[0] = (body.replace(b'"day":"2025-03-11"', b'"day":"2025-03-12"'), sig)
    vectors.append(vector("statement-changed", "the statement adding bea changed.", forged))

    twice = team_bundle()
    twice.logs.append(twice.logs[1])
    vectors.append(vector("log-twice", "bea's log in the bundle twice.", twice))
    later = team_bundle("2025-03-30T09:00:00Z")
    vectors.append(
        vector(
            "colleague-stopped-syncing",
            "amara exports on 30 March; neither log was witnessed after 14 March, more than 7"
            " days before: sound, both laptops marked stale (stopped syncing, or idle).",
            later,
        )
    )
    revoked = team_bundle()
    team = Team.start(START)
    for body, signature in revoked.statements:
        team = apply(team, Statement(body, signature))
    epoch_2 = bytes(sodium.crypto_scalarmult_base(fixed("team key epoch 2")))
    gone = Member("bea", BEA.public.sign_pk)
    out = make_statement(team, AMARA, "revoke", "2025-03-12", member=gone, epoch=(2, epoch_2))
    revoked.statements.append((out.body, out.signature))
    revoked.logs, revoked.witnessed = revoked.logs[:1], []
    vectors.append(
        vector(
            "revoked-without-log",
            "bea revoked before any of her log reached amara's laptop: no log of hers, which"
            " the summary shows; a current member's missing log is refused.",
            revoked,
        )
    )
    short = team_bundle()
    short.statements.append((out.body, out.signature))
    b = short.logs[1]
    short.logs[1] = BundleContents(
        b.origin, b.people, b.leaves[:5], b.checkpoints[:3], b.proofs[:2], [], 2
    )
    vectors.append(
        vector(
            "removed-colleague-held-short",
            "bea revoked; amara's laptop holds her log to 5 entries, a witnessed checkpoint of"
            " it at 7 remains: sound, bea's laptop shows witnessed_elsewhere 7 (a current"
            " member's log so held is cut short, as colleague-cut-short).",
            short,
        )
    )
    return {
        "format": "redress-team-audit-bundle/1",
        "spec": "docs/audit.md section 16",
        "team_key_file": base64.b64encode(START.to_file_bytes()).decode(),
        "vectors": vectors,
    }


def render() -> bytes:
    return (json.dumps(build_all(), indent=2, ensure_ascii=False) + "\n").encode()


def main(argv: list[str]) -> int:
    if argv[1:] not in ([], ["--check"]):
        print(f"usage: {Path(__file__).name} [--check]", file=sys.stderr)
        return 2
    out = render()
    if argv[1:] == ["--check"]:
        if VECTOR.read_bytes() != out:
            print(f"{VECTOR.name} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    VECTOR.write_bytes(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
