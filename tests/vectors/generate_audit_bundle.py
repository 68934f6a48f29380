"""Write the audit bundle test vectors: ``tests/vectors/audit-bundle-v1.json`` (bundles in the
older format ``redress-audit-bundle/1``, which every verifier still reads) and
``tests/vectors/audit-bundle-v2.json`` (the same history in ``redress-audit-bundle/2``, which
the vault writes, and the read lists it carries for each read across cases).

Run it from the repository root (after ``make setup``, which installs ``.venv/bin/vault``)::

    .venv/bin/python tests/vectors/generate_audit_bundle.py           # rewrite the vectors
    .venv/bin/python tests/vectors/generate_audit_bundle.py --check   # exit 1 if out of date

The bundles are built with the vault's own library (``vault.audit``) from fixed keys, times
and entries, so they are the same byte for byte each run. The sound ones are what a vault
writes for the same history. The tampered ones change a sound bundle the way an attacker
might, some re-signing everything with the keys they hold. The expected exit code and
message of each come from running the real ``vault audit verify`` on it: when the verifier's
messages change, run this again and review the diff. ``docs/audit.md`` is the specification.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.bindings as sodium

from vault._crypto import SecretBytes
from vault.audit import merkle
from vault.audit.bundle import BundleContents, Person, encode, proofs_between
from vault.audit.leaves import encode_leaf, member_commitment
from vault.audit.signed_note import (
    COSIGNATURE_V1,
    ED25519,
    Checkpoint,
    NoteSigner,
    sign_checkpoint,
)
from vault.keys import caseworker_key_id

HERE = Path(__file__).resolve().parent
VECTORS = {version: HERE / f"audit-bundle-v{version}.json" for version in (1, 2)}
VAULT_BIN = Path(sys.executable).with_name("vault")
TAMPERED_EXIT = 4


def fixed(label: str) -> bytes:
    return hashlib.sha256(f"redress test vector {label}".encode()).digest()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


ORIGIN = "vault.redress/" + fixed("log origin")[:16].hex()
WITNESS_NAME = "witness.redress/" + fixed("witness name")[:8].hex()
WITNESS_TIME = 1741944413  # 2025-03-14T09:26:53Z


@dataclass(frozen=True)
class Key:
    label: str
    name: str  # the caseworker's or auditor's name; the witness's key name

    @property
    def seed(self) -> bytes:
        return fixed(f"audit {self.label} signing seed")

    @property
    def public(self) -> bytes:
        return bytes(sodium.crypto_sign_seed_keypair(self.seed)[0])

    def signer(self, key_name: str, key_type: int = ED25519) -> NoteSigner:
        return NoteSigner.from_seed(key_name, SecretBytes(self.seed), key_type)

    @property
    def key_id(self) -> str:
        return caseworker_key_id(self.public)


AMARA = Key("amara", "amara")
SAM = Key("sam", "sam")
MALLORY = Key("mallory", "mallory")  # not a caseworker of this vault
DANA = Key("dana", "dana")  # an auditor
WITNESS = Key("witness", WITNESS_NAME)

CASEWORKER_VKEY = {k.label: k.signer(ORIGIN).verifier for k in (AMARA, SAM, MALLORY)}
DANA_VKEY = DANA.signer("auditor.redress/dana").verifier
WITNESS_VKEY = WITNESS.signer(WITNESS_NAME, COSIGNATURE_V1).verifier
PEOPLE = [
    Person("caseworker", "amara", CASEWORKER_VKEY["amara"]),
    Person("caseworker", "sam", CASEWORKER_VKEY["sam"]),
    Person("auditor", "dana", DANA_VKEY),
    Person("witness", WITNESS_NAME, WITNESS_VKEY),
]

CASE_A, CASE_B = "7KQ2M9XD", "46B5T7MX"

Entry = tuple[str, str | None, str | None, str | None]  # action, case, detail, commitment
Transaction = tuple[Key, str, list[Entry]]  # who, when, entries


def added(key: Key) -> Entry:
    return ("caseworker-added", None, key.key_id, sha(member_commitment(key.name, key.public)))


def history() -> list[Transaction]:
    """A small vault's life: made, two imports, a note, a second caseworker, an auditor, a
    witness, the second caseworker revoked, a reply, a closed case and the export."""
    return [
        (
            AMARA,
            "2025-03-10T09:00:00Z",
            [("vault-created", None, AMARA.key_id, None), added(AMARA)],
        ),
        (
            AMARA,
            "2025-03-10T09:05:12Z",
            [
                ("imported", CASE_A, None, fixed("envelope A").hex()),
                ("imported", CASE_B, None, fixed("envelope B").hex()),
            ],
        ),
        (AMARA, "2025-03-10T09:06:40Z", [("opened", CASE_A, None, None)]),
        (AMARA, "2025-03-10T09:15:02Z", [("note", CASE_A, None, sha(fixed("sealed note")))]),
        (AMARA, "2025-03-11T10:00:00Z", [added(SAM)]),
        (SAM, "2025-03-11T10:30:00Z", [("assigned", CASE_A, AMARA.key_id, None)]),
        (SAM, "2025-03-11T10:31:00Z", [("status", CASE_A, "supporting", None)]),
        (
            AMARA,
            "2025-03-12T08:00:00Z",
            [
                (
                    "auditor-added",
                    None,
                    DANA_VKEY.id.hex(),
                    sha(member_commitment("dana", DANA_VKEY.to_vkey())),
                )
            ],
        ),
        (
            AMARA,
            "2025-03-12T08:01:00Z",
            [("witness-added", None, WITNESS_VKEY.id.hex(), sha(WITNESS_VKEY.to_vkey().encode()))],
        ),
        (
            AMARA,
            "2025-03-13T16:00:00Z",
            [
                ("caseworker-revoked", None, SAM.key_id, sha(SAM.public)),
                ("team-key-rotated", None, "2", sha(fixed("team key epoch 2"))),
            ],
        ),
        (
            AMARA,
            "2025-03-14T09:00:00Z",
            [("reply", CASE_A, "status-shared", sha(fixed("sealed reply")))],
        ),
        (AMARA, "2025-03-14T09:10:00Z", [("closed", CASE_B, "referred-on", None)]),
        (AMARA, "2025-03-14T09:26:53Z", [("audit-exported", None, None, None)]),
    ]


WITNESSED = 9  # the checkpoint after the witness was added is cosigned

# Read lists (docs/audit.md section 8), by the commitment an entry makes to them. Case ids in
# byte order: CASE_B ("46B5T7MX") before CASE_A ("7KQ2M9XD").
SEARCH_LIST = f"redress cases read v1\n{CASE_B} match\n{CASE_A} read\n".encode()
STATS_LIST = f"redress cases read v1\n{CASE_B} read\n{CASE_A} read\n".encode()
UNSORTED_LIST = f"redress cases read v1\n{CASE_A} read\n{CASE_B} match\n".encode()
LISTS = {sha(text): text for text in (SEARCH_LIST, STATS_LIST, UNSORTED_LIST)}
READ_ACTIONS = ("cases-searched", "triage-filled", "patterns-read", "stats-counted")


def read_history() -> list[Transaction]:
    """The same life, with a search (two cases read, one matched) and a count before the
    export, each logged with the commitment to its read list."""
    return [
        *history()[:-1],
        (AMARA, "2025-03-14T09:20:00Z", [("cases-searched", None, "2", sha(SEARCH_LIST))]),
        (AMARA, "2025-03-14T09:21:00Z", [("stats-counted", None, "2", sha(STATS_LIST))]),
        history()[-1],
    ]


@dataclass
class Built:
    leaves: list[bytes]
    checkpoints: list[str]
    sizes: list[int]
    people: list[Person]
    reads: list[tuple[int, bytes]]
    version: int

    def bundle(self) -> bytes:
        tree = merkle.Tree.of_leaves(self.leaves)
        return encode(
            BundleContents(
                ORIGIN,
                self.people,
                self.leaves,
                self.checkpoints,
                proofs_between(self.sizes, tree),
                self.reads if self.version >= 2 else [],
                self.version,
            )
        )


def build_log(
    transactions: list[Transaction], people: list[Person] | None = None, version: int = 2
) -> Built:
    """Leaves, and a checkpoint signed by the actor at the end of each transaction."""
    leaves: list[bytes] = []
    notes: list[str] = []
    sizes: list[int] = []
    reads: list[tuple[int, bytes]] = []
    for number, (who, at, entries) in enumerate(transactions, 1):
        for action, case, detail, commit in entries:
            leaves.append(encode_leaf(at, who.key_id, action, case, detail, commit))
            if action in READ_ACTIONS and commit in LISTS:
                reads.append((len(leaves), LISTS[commit]))
        tree = merkle.Tree.of_leaves(leaves)
        checkpoint = Checkpoint(ORIGIN, len(leaves), tree.root_at(len(leaves)))
        note = sign_checkpoint(checkpoint, who.signer(ORIGIN))
        if number == WITNESSED:
            witness = WITNESS.signer(WITNESS_NAME, COSIGNATURE_V1)
            note += witness.cosign_line(checkpoint.text(), WITNESS_TIME)
        notes.append(note)
        sizes.append(len(leaves))
    return Built(leaves, notes, sizes, list(PEOPLE if people is None else people), reads, version)


# --- running the real verifier ---------------------------------------------------------------


def run_verify(bundle: bytes, trusted: str | None) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "bundle.txt"
        path.write_bytes(bundle)
        args = [str(VAULT_BIN), "audit", "verify", str(path)]
        if trusted is not None:
            (Path(work) / "trusted.checkpoint").write_text(trusted, "utf-8")
            args += ["--trusted", str(Path(work) / "trusted.checkpoint")]
        env = {"PATH": os.environ.get("PATH", ""), "HOME": work, "COLUMNS": "120"}
        done = subprocess.run(
            args, cwd=work, capture_output=True, text=True, env=env, timeout=120, check=False
        )
    return done.returncode, done.stdout, done.stderr


def sound(name: str, description: str, bundle: bytes, trusted: str | None = None) -> dict[str, Any]:
    code, _, stderr = run_verify(bundle, trusted)
    if code != 0:
        raise AssertionError(f"vault audit verify refused the sound vector {name}: {stderr}")
    return {
        "name": name,
        "description": description,
        "bundle": bundle.decode("utf-8"),
        "trusted": trusted,
        "exit_code": code,
    }


def tampered(name: str, how: str, bundle: bytes, trusted: str | None = None) -> dict[str, Any]:
    code, _, stderr = run_verify(bundle, trusted)
    if code != TAMPERED_EXIT or not stderr.startswith("vault: "):
        raise AssertionError(f"vault audit verify gave {code} for {name}: {stderr}")
    return {
        "name": name,
        "tampering": how,
        "bundle": bundle.decode("utf-8", "surrogateescape"),
        "trusted": trusted,
        "exit_code": code,
        "message": stderr.splitlines()[0].removeprefix("vault: "),
        "stderr": stderr,
    }


# --- the tampering ------------------------------------------------------------------------------


def lines_of(bundle: bytes) -> list[str]:
    return bundle.decode("utf-8").split("\n")[:-1]


def joined(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def leaf_start(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith("leaves ")) + 1


def with_count(lines: list[str], prefix: str, delta: int) -> None:
    i = next(i for i, line in enumerate(lines) if line.startswith(prefix + " "))
    lines[i] = f"{prefix} {int(lines[i].split(' ')[1]) + delta}"


def checkpoint_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.startswith("checkpoint ")]


def note_of(line: str) -> str:
    return base64.b64decode(line.split(" ", 1)[1]).decode("utf-8")


def as_line(note: str) -> str:
    return "checkpoint " + base64.b64encode(note.encode()).decode()


def flip_in_signature(note: str, line_index: int) -> str:
    """Flip a bit of the signature bytes (after the 4-byte key ID) on one signature line."""
    text, signatures = note.split("\n\n", 1)
    sig_lines = signatures.split("\n")[:-1]
    dash, key_name, blob = sig_lines[line_index].split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    sig_lines[line_index] = f"{dash} {key_name} {base64.b64encode(bytes(raw)).decode()}"
    return text + "\n\n" + "\n".join(sig_lines) + "\n"


def build(version: int) -> dict[str, Any]:
    def build_log(transactions: list[Transaction], people: list[Person] | None = None) -> Built:
        return build_log_in(transactions, people, version)

    full = build_log(history())
    bundle = full.bundle()
    lines = lines_of(bundle)
    first = leaf_start(lines)
    n = len(full.leaves)
    newest = full.checkpoints[-1]
    # An older copy of the same vault: the first eight transactions.
    older = build_log(history()[:8], PEOPLE[:3])  # the witness came later
    older_newest = older.checkpoints[-1]

    sounds = [
        sound(
            "whole-history",
            "The whole life of a small vault: two caseworkers (one revoked), an auditor, a "
            "witness that cosigned checkpoint 9, and the export's own entry.",
            bundle,
        ),
        sound(
            "first-transaction-only",
            "A new vault's log: vault-created and the creator's caseworker-added, one checkpoint.",
            build_log(history()[:1], PEOPLE[:1]).bundle(),
        ),
        sound(
            "with-trusted-checkpoint",
            "The whole history, checked against the newest checkpoint of an older export "
            "(after transaction 8): the log only grew since.",
            bundle,
            older_newest,
        ),
    ]

    edited = list(lines)
    status_at = next(i for i in range(first, first + n) if " status " in edited[i])
    edited[status_at] = edited[status_at].replace("supporting", "referred")

    deleted = list(lines)
    del deleted[first + 3]
    with_count(deleted, "leaves", -1)

    deleted_uncounted = list(lines)
    del deleted_uncounted[first + 3]

    swapped = list(lines)
    swapped[first + 3], swapped[first + 4] = swapped[first + 4], swapped[first + 3]

    appended = list(lines)
    appended.insert(first + n, appended[first + n - 2])
    with_count(appended, "leaves", +1)

    cut_tail = list(lines)
    del cut_tail[first + n - 2 : first + n]
    with_count(cut_tail, "leaves", -2)

    cps = checkpoint_lines(lines)
    bad_signature = list(lines)
    bad_signature[cps[4]] = as_line(flip_in_signature(note_of(lines[cps[4]]), 0))

    bad_cosignature = list(lines)
    witnessed = cps[WITNESSED - 1]
    bad_cosignature[witnessed] = as_line(flip_in_signature(note_of(lines[witnessed]), 1))

    resigned = list(lines)
    cp = Checkpoint.parse_text(note_of(lines[cps[2]]).split("\n\n", 1)[0] + "\n")
    resigned[cps[2]] = as_line(sign_checkpoint(cp, MALLORY.signer(ORIGIN)))

    reordered = list(lines)
    reordered[cps[2]], reordered[cps[3]] = reordered[cps[3]], reordered[cps[2]]

    proof_changed = list(lines)
    proof_at = next(
        i for i, line in enumerate(lines) if line.startswith("proof ") and len(line.split(" ")) > 3
    )
    parts = proof_changed[proof_at].split(" ")
    raw = bytearray(base64.b64decode(parts[3]))
    raw[0] ^= 1
    parts[3] = base64.b64encode(bytes(raw)).decode()
    proof_changed[proof_at] = " ".join(parts)

    no_auditor = [line for line in lines if not line.startswith("auditor ")]

    unknown_action = list(lines)
    opened_at = next(i for i in range(first, first + n) if " opened " in unknown_action[i])
    unknown_action[opened_at] = unknown_action[opened_at].replace(" opened ", " deleted ")

    # Histories an attacker re-signed: every checkpoint valid, the story wrong.
    fork_at: Transaction = (SAM, "2025-03-11T10:30:00Z", [("assigned", CASE_A, SAM.key_id, None)])
    forked = [*history()[:5], fork_at, *history()[6:]]
    late: Transaction = (SAM, "2025-03-14T09:30:00Z", [("opened", CASE_B, None, None)])
    after_revocation = [*history(), late]
    early: Transaction = (SAM, "2025-03-10T09:05:12Z", [("opened", CASE_A, None, None)])
    not_added = [history()[0], early, *history()[1:]]

    # Entries in the right form, signed by a real caseworker, that break docs/audit.md section 8
    def meaning(entry: Entry) -> list[Transaction]:
        return [*history(), (AMARA, "2025-03-14T09:30:00Z", [entry])]

    banana = meaning(("status", CASE_A, "banana", None))
    february = [*history(), (AMARA, "2026-02-30T10:00:00Z", [("opened", CASE_A, None, None)])]
    stranger = meaning(("assigned", CASE_A, MALLORY.key_id, None))
    attachment_0 = meaning(("attachment", CASE_A, "0", None))
    second_start = meaning(("vault-created", None, AMARA.key_id, None))

    tampereds = [
        tampered(
            "edited-entry", "An entry's status changed from supporting to referred.", joined(edited)
        ),
        tampered(
            "deleted-entry",
            "Entry 4 removed and the 'leaves' count lowered to match.",
            joined(deleted),
        ),
        tampered(
            "deleted-entry-count-kept",
            "Entry 4 removed, the 'leaves' count left as it was.",
            joined(deleted_uncounted),
        ),
        tampered("swapped-entries", "Entries 4 and 5 swapped.", joined(swapped)),
        tampered(
            "appended-entry",
            "A copy of an entry added after the last checkpoint, count raised.",
            joined(appended),
        ),
        tampered(
            "truncated-tail",
            "The last two entries cut off, count lowered, checkpoints kept.",
            joined(cut_tail),
        ),
        tampered(
            "cut-back-cleanly",
            "An older export, whole in itself, checked against the newest checkpoint of this one.",
            older.bundle(),
            newest,
        ),
        tampered(
            "forked-history",
            "Entry 7 rewritten (assigned to sam instead of amara) and every checkpoint from there "
            "re-signed by the caseworkers' own keys; checked against a checkpoint trusted before.",
            build_log(forked).bundle(),
            newest,
        ),
        tampered(
            "checkpoint-signature-flipped",
            "A bit of checkpoint 5's signature flipped.",
            joined(bad_signature),
        ),
        tampered(
            "witness-cosignature-flipped",
            f"A bit of the witness's cosignature on checkpoint {WITNESSED} flipped.",
            joined(bad_cosignature),
        ),
        tampered(
            "checkpoint-resigned-by-stranger",
            "Checkpoint 3 re-signed, unchanged, by a key that is not a caseworker's here.",
            joined(resigned),
        ),
        tampered("checkpoints-reordered", "Checkpoints 3 and 4 swapped.", joined(reordered)),
        tampered(
            "proof-hash-changed",
            "A bit of one consistency-proof hash flipped.",
            joined(proof_changed),
        ),
        tampered(
            "auditor-line-removed",
            "The auditor's line removed from the bundle.",
            joined(no_auditor),
        ),
        tampered(
            "unknown-action",
            "An entry's action 'opened' changed to 'deleted'.",
            joined(unknown_action),
        ),
        tampered(
            "entry-after-revocation",
            "An entry by sam after sam was revoked, with a checkpoint signed by sam's key.",
            build_log(after_revocation).bundle(),
        ),
        tampered(
            "entry-before-addition",
            "An entry by sam in a transaction before the one that adds sam, re-signed by sam.",
            build_log(not_added).bundle(),
        ),
        tampered(
            "status-banana",
            "A status entry with detail 'banana', signed by a real caseworker.",
            build_log(banana).bundle(),
        ),
        tampered(
            "date-30-february",
            "An entry dated 2026-02-30, signed by a real caseworker.",
            build_log(february).bundle(),
        ),
        tampered(
            "assigned-to-a-stranger",
            "An assignment to a key id that is no caseworker's, signed by a real caseworker.",
            build_log(stranger).bundle(),
        ),
        tampered(
            "attachment-0",
            "An attachment entry numbered 0, signed by a real caseworker.",
            build_log(attachment_0).bundle(),
        ),
        tampered(
            "second-vault-created",
            "A second vault-created entry, signed by a real caseworker.",
            build_log(second_start).bundle(),
        ),
        tampered("no-end-line", "The final 'end' line removed.", joined(lines[:-1])),
        tampered("not-a-bundle", "Some other file.", b"redress-audit-bundle/3\nend\n"),
    ]
    if version >= 2:
        sounds.append(
            sound(
                "with-read-lists",
                "The whole life, with a search by amara (two cases read, 46B5T7MX matched) and a "
                "count by amara before the export; the bundle carries both read lists.",
                build_log(read_history()).bundle(),
            )
        )
        tampereds += read_list_vectors(build_log)
    return {
        "description": (
            "Test vectors for the Redress audit bundle. Every key is derived from a fixed label; "
            "never use these keys for anything else. Bundles and checkpoints are the exact text; "
            "each tampered vector gives the exit code and stderr of 'vault audit verify BUNDLE' "
            "(with '--trusted FILE' holding 'trusted' when it is not null)."
        ),
        "format": f"redress-audit-bundle/{version}",
        "specification": "docs/audit.md",
        "generator": "tests/vectors/generate_audit_bundle.py",
        "origin": ORIGIN,
        "keys": {
            key.label: {
                "seed": key.seed.hex(),
                "public_key": key.public.hex(),
                "caseworker_key_id": key.key_id,
            }
            for key in (AMARA, SAM, MALLORY, DANA, WITNESS)
        },
        "sound": sounds,
        "tampered": tampereds,
    }


def read_list_vectors(build_log: Any) -> list[dict[str, Any]]:
    """Read lists removed, changed, added or moved; entries re-signed that mean another list."""
    lines = lines_of(build_log(read_history()).bundle())
    at = [i for i, line in enumerate(lines) if line.startswith("reads ")]
    search_entry = lines[at[0]].split(" ")[1]

    removed = list(lines)
    del removed[at[0]]

    changed = list(lines)
    moved_match = f"redress cases read v1\n{CASE_B} read\n{CASE_A} match\n".encode()
    changed[at[0]] = f"reads {search_entry} {base64.b64encode(moved_match).decode()}"

    added = list(lines)
    added.insert(at[0], f"reads 1 {lines[at[0]].split(' ')[2]}")

    swapped = list(lines)
    swapped[at[0]], swapped[at[1]] = swapped[at[1]], swapped[at[0]]

    def searched(detail: str, listed: bytes) -> list[Transaction]:
        entry: Entry = ("cases-searched", None, detail, sha(listed))
        return [*history()[:-1], (AMARA, "2025-03-14T09:20:00Z", [entry]), history()[-1]]

    return [
        tampered(
            "read-list-removed",
            f"The read list of entry {search_entry} (a search) removed from the bundle.",
            joined(removed),
        ),
        tampered(
            "read-list-changed",
            f"The read list of entry {search_entry} changed: the match moved to another case.",
            joined(changed),
        ),
        tampered(
            "read-list-added",
            "A read list added for entry 1, which reads no cases.",
            joined(added),
        ),
        tampered("read-lists-swapped", "The two read lists swapped.", joined(swapped)),
        tampered(
            "read-list-count-wrong",
            "A search entry saying 3 cases were read, committing to a list of 2, re-signed by a "
            "real caseworker.",
            build_log(searched("3", SEARCH_LIST)).bundle(),
        ),
        tampered(
            "read-list-not-in-order",
            "A search entry committing to a list whose cases are not in id order, re-signed by a "
            "real caseworker.",
            build_log(searched("2", UNSORTED_LIST)).bundle(),
        ),
    ]


build_log_in = build_log


def render(version: int) -> bytes:
    return (json.dumps(build(version), indent=2, ensure_ascii=False) + "\n").encode()


def main(argv: list[str]) -> int:
    if argv[1:] not in ([], ["--check"]):
        print(f"usage: {Path(__file__).name} [--check]", file=sys.stderr)
        return 2
    for version, path in VECTORS.items():
        out = render(version)
        if argv[1:] == ["--check"]:
            if path.read_bytes() != out:
                print(f"{path.name} is out of date: run {Path(__file__).name}", file=sys.stderr)
                return 1
        else:
            path.write_bytes(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
