"""An independent check of the audit bundle, written from the specs alone.

Nothing here imports the project's own note, Merkle, bundle or log code: the signed-note
parser (c2sp.org/signed-note), checkpoint reader (c2sp.org/tlog-checkpoint), cosignature
check (c2sp.org/tlog-cosignature), Merkle tree hash (RFC 6962 2.1) and consistency proof
check (RFC 9162 2.1.4.2) are re-implemented below with hashlib and PyNaCl, so a bug shared
by the vault's writer and its own verifier cannot hide.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from tests.conftest import seal_for
from vault import audit_export, auditing, case_view, incoming, search
from vault.auditors import add_auditor
from vault.store import Vault

DASH = "\u2014"
ED25519, COSIGNATURE = 0x01, 0x04


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + bytes([key_type]) + public_key)[:4]


def make_vkey(name: str, key_type: int, public_key: bytes) -> str:
    raw = base64.b64encode(bytes([key_type]) + public_key).decode()
    return f"{name}+{key_id(name, key_type, public_key).hex()}+{raw}"


def parse_vkey(vkey: str) -> tuple[str, int, bytes]:
    """``name+hash+base64(type || key)``; raises if the hash does not match (spec: vkeys)."""
    name, hash_hex, raw_b64 = vkey.split("+", 2)
    raw = base64.b64decode(raw_b64, validate=True)
    key_type, public_key = raw[0], raw[1:]
    assert len(public_key) == 32
    if key_id(name, key_type, public_key).hex() != hash_hex:
        raise ValueError(f"verifier key hash mismatch in {vkey}")
    return name, key_type, public_key


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The note text (with its final newline) and its (key name, signature blob) lines."""
    assert all(ch == "\n" or ch >= " " for ch in note), "control character in a note"
    cut = note.rindex("\n\n")
    text, lines = note[: cut + 1], note[cut + 2 :]
    assert lines.endswith("\n")
    signatures = []
    for line in lines[:-1].split("\n"):
        dash, name, blob = line.split(" ")
        assert dash == DASH
        signatures.append((name, base64.b64decode(blob, validate=True)))
    return text, signatures


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 2.1 Merkle Tree Hash, straight from the recursive definition."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """RFC 6962 2.1.2 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def verify_consistency(first: int, second: int, old: bytes, new: bytes, path: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2, step by step."""
    if first == second:
        return not path and old == new
    if first == 0 or first > second or not path:
        return False
    if first & (first - 1) == 0:
        path = [old, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = sha256(b"\x01" + c + fr), sha256(b"\x01" + c + sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old and sr == new and sn == 0


@dataclass
class Bundle:
    origin: str = ""
    people: list[tuple[str, str, str]] = field(default_factory=list)  # role, name, vkey
    leaves: list[bytes] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    proofs: list[tuple[int, int, list[bytes]]] = field(default_factory=list)
    reads: dict[int, bytes] = field(default_factory=dict)  # entry number -> its read list
    version: int = 2


def parse_bundle(data: bytes) -> Bundle:
    lines = data.decode("utf-8").split("\n")
    assert lines[0] in ("redress-audit-bundle/1", "redress-audit-bundle/2")
    assert lines[-2:] == ["end", ""]
    b, i = Bundle(), 1
    assert lines[i].startswith("origin ")
    b.origin, i = lines[i].removeprefix("origin "), i + 1
    while not lines[i].startswith("leaves "):
        role, *rest = lines[i].split(" ")
        assert len(rest) == (1 if role == "witness" else 2)
        name, vkey = rest if role != "witness" else (parse_vkey(rest[0])[0], rest[0])
        b.people.append((role, name, vkey))
        i += 1
    n = int(lines[i].removeprefix("leaves "))
    b.leaves = [line.encode() for line in lines[i + 1 : i + 1 + n]]
    i += 1 + n
    b.version = int(lines[0][-1])
    while b.version == 2 and lines[i].startswith("reads "):
        _, entry, blob = lines[i].split(" ")
        assert int(entry) > max(b.reads, default=0)
        b.reads[int(entry)] = base64.b64decode(blob, validate=True)
        i += 1
    m = int(lines[i].removeprefix("checkpoints "))
    for line in lines[i + 1 : i + 1 + m]:
        b.checkpoints.append(base64.b64decode(line.removeprefix("checkpoint ")).decode())
    for line in lines[i + 1 + m : i + 1 + m + m - 1]:
        _, old, new, *hashes = line.split(" ")
        b.proofs.append((int(old), int(new), [base64.b64decode(h) for h in hashes]))
    assert i + 1 + m + m - 1 == len(lines) - 2
    return b


def read_checkpoint(text: str) -> tuple[str, int, bytes]:
    origin, size, root, *extensions = text[:-1].split("\n")
    assert not extensions
    assert str(int(size)) == size
    return origin, int(size), base64.b64decode(root, validate=True)


def check_checkpoint(b: Bundle, note: str) -> tuple[int, bytes]:
    """Verify the log signature, root and any witness cosignatures; return (size, root)."""
    text, signatures = split_note(note)
    origin, size, root = read_checkpoint(text)
    assert origin == b.origin
    caseworkers = [parse_vkey(v) for role, _, v in b.people if role == "caseworker"]
    assert all(n == origin and t == ED25519 for n, t, _ in caseworkers)
    witnesses = {parse_vkey(v)[0]: parse_vkey(v) for role, _, v in b.people if role == "witness"}
    signed = 0
    for name, blob in signatures:
        if name == origin:
            matching = [pk for n, t, pk in caseworkers if key_id(n, t, pk) == blob[:4]]
            assert len(matching) == 1, "the key ID names no caseworker key"
            assert len(blob) == 4 + 64
            VerifyKey(matching[0]).verify(text.encode(), blob[4:])
            signed += 1
        elif name in witnesses:
            _, key_type, pk = witnesses[name]
            assert key_type == COSIGNATURE
            assert blob[:4] == key_id(name, COSIGNATURE, pk)
            assert len(blob) == 4 + 8 + 64
            stamp = int.from_bytes(blob[4:12], "big")
            assert 0 < stamp <= time.time() + 60
            message = f"cosignature/v1\ntime {stamp}\n{text}".encode()
            VerifyKey(pk).verify(message, blob[12:])
    assert signed >= 1, "no caseworker signature"
    assert root == mth(b.leaves[:size])
    return size, root


class _WitnessKeyStub:
    """Just enough of a verifier key for ``Vault.add_witness``, built from our own vkey."""

    def __init__(self, vkey: str) -> None:
        self.vkey, self.id = vkey, bytes.fromhex(vkey.split("+")[1])

    def to_vkey(self) -> str:
        return self.vkey


WITNESS = SigningKey.generate()
WITNESS_VKEY = make_vkey("intake.example/witness", COSIGNATURE, bytes(WITNESS.verify_key))
AUDITOR_VKEY = make_vkey("kofi", ED25519, bytes(SigningKey.generate().verify_key))


@pytest.fixture
def bundle(vault: Vault, tmp_path: Path) -> Bundle:
    """A real bundle: cases, notes, an auditor, and a witness cosignature from our own key."""
    (case_id,) = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported
    vault.add_note(case_id, "Called back; wants the complaint letter.")
    add_auditor(vault, "kofi", AUDITOR_VKEY)
    witness_stub: Any = _WitnessKeyStub(WITNESS_VKEY)
    auditing.add_witness(vault, witness_stub, "http://127.0.0.1:1")
    audit_export.write(vault, tmp_path / "first.txt")
    newest = parse_bundle((tmp_path / "first.txt").read_bytes()).checkpoints[-1]
    text, _ = split_note(newest)
    stamp = int(time.time())
    signature = WITNESS.sign(f"cosignature/v1\ntime {stamp}\n{text}".encode()).signature
    blob = key_id("intake.example/witness", COSIGNATURE, bytes(WITNESS.verify_key))
    line = f"{DASH} intake.example/witness "
    line += base64.b64encode(blob + stamp.to_bytes(8, "big") + signature).decode() + "\n"
    witness = auditing.witness(vault)
    assert witness is not None
    assert auditing.record_cosignature(vault, witness[0], read_checkpoint(text)[1], line) == 1
    incoming.import_envelopes(vault, [("b", seal_for(vault)), ("c", seal_for(vault))])
    case_view.show_case(vault, case_id)
    search.search(vault, "complaint")
    audit_export.write(vault, tmp_path / "bundle.txt")
    return parse_bundle((tmp_path / "bundle.txt").read_bytes())


def test_known_answer_for_a_three_leaf_tree() -> None:
    a, b, c = (sha256(b"\x00" + x) for x in (b"a", b"b", b"c"))
    by_hand = sha256(b"\x01" + sha256(b"\x01" + a + b) + c)
    assert mth([b"a", b"b", b"c"]) == by_hand
    assert by_hand.hex() == "36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1"
    assert mth([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert subproof(2, [b"a", b"b", b"c"], True) == [c]


def test_the_rfc9162_check_accepts_rfc6962_proofs_and_nothing_else() -> None:
    leaves = [bytes([i]) for i in range(17)]
    for n in range(1, len(leaves) + 1):
        for m in range(1, n + 1):
            old, new, path = mth(leaves[:m]), mth(leaves[:n]), subproof(m, leaves[:n], True)
            assert verify_consistency(m, n, old, new, path)
            assert not verify_consistency(m, n, new if m < n else sha256(old), new, path)


def test_every_checkpoint_verifies_independently(bundle: Bundle) -> None:
    roles = [role for role, _, _ in bundle.people]
    assert roles == ["caseworker", "auditor", "witness"]
    assert ("auditor", "kofi", AUDITOR_VKEY) in bundle.people
    assert ("witness", "intake.example/witness", WITNESS_VKEY) in bundle.people
    assert parse_vkey(bundle.people[0][2])[:2] == (bundle.origin, ED25519)
    assert len(bundle.checkpoints) >= 3
    sizes = [check_checkpoint(bundle, note)[0] for note in bundle.checkpoints]
    assert sizes == sorted(set(sizes))
    assert sizes[-1] == len(bundle.leaves)
    assert sum(f"{DASH} intake.example/witness " in n for n in bundle.checkpoints) == 1


def test_every_consistency_proof_verifies_independently(bundle: Bundle) -> None:
    heads = [check_checkpoint(bundle, note) for note in bundle.checkpoints]
    assert len(bundle.proofs) == len(heads) - 1
    for (old, new, path), (old_size, old_root), (new_size, new_root) in zip(
        bundle.proofs, heads[:-1], heads[1:], strict=True
    ):
        assert (old, new) == (old_size, new_size)
        assert path == subproof(old, bundle.leaves[:new], True)
        assert verify_consistency(old, new, old_root, new_root, path)
        if path:
            bad = [path[0][:-1] + bytes([path[0][-1] ^ 1]), *path[1:]]
            assert not verify_consistency(old, new, old_root, new_root, bad)


def test_a_flipped_leaf_byte_no_longer_matches_the_signed_root(bundle: Bundle) -> None:
    _, size, root = read_checkpoint(split_note(bundle.checkpoints[-1])[0])
    leaves = list(bundle.leaves)
    leaves[1] = bytes([leaves[1][0] ^ 1]) + leaves[1][1:]
    assert mth(bundle.leaves[:size]) == root
    assert mth(leaves[:size]) != root


def test_a_tampered_signature_or_text_is_a_bad_signature(bundle: Bundle) -> None:
    text, signatures = split_note(bundle.checkpoints[-1])
    (_, _, public_key) = parse_vkey(bundle.people[0][2])
    name, blob = signatures[0]
    assert name == bundle.origin
    key = VerifyKey(public_key)
    signature = blob[4:]
    key.verify(text.encode(), signature)
    with pytest.raises(BadSignatureError):
        key.verify(text.encode(), bytes([signature[0] ^ 1]) + signature[1:])
    origin, size, root = read_checkpoint(text)
    with pytest.raises(BadSignatureError):
        key.verify(f"{origin}\n{size + 1}\n{base64.b64encode(root).decode()}\n".encode(), signature)


def test_verifier_key_hashes_match_their_names_and_keys(bundle: Bundle) -> None:
    for role, _, vkey in bundle.people:
        name, key_type, public_key = parse_vkey(vkey)
        assert key_type == (COSIGNATURE if role == "witness" else ED25519)
        assert make_vkey(name, key_type, public_key) == vkey
    name, hash_hex, raw = bundle.people[0][2].split("+", 2)
    wrong = f"{hash_hex[:-1]}{'0' if hash_hex[-1] != '0' else '1'}"
    with pytest.raises(ValueError, match="hash mismatch"):
        parse_vkey(f"{name}+{wrong}+{raw}")
    with pytest.raises(ValueError, match="hash mismatch"):
        parse_vkey(f"{name}x+{hash_hex}+{raw}")


# --- the meaning of each entry, from docs/audit.md section 8 alone -----------------------------

_KEY_ID, _NOTE_ID, _NUMBER = r"[0-9a-f]{16}", r"[0-9a-f]{8}", r"[1-9][0-9]{0,17}"
_ALERT_ID = r"[0-9a-hjkmnp-tv-z]{8}"  # an alert's id, in lower case
_OUTCOMES = ["supported", "complaint-made", "referred-on", "alert-shared", "no-further-action"]
_OUTCOMES += ["could-not-reach", "withdrawn", "duplicate"]
# action: (names a case, allowed detail as a regular expression, commitment: yes / no / either)
_ROWS = {
    "imported": (True, "-", "yes"),
    "opened": (True, "-", "no"),
    "note": (True, "-", "yes"),
    "reply": (True, "status-shared|-", "yes"),
    "assigned": (True, f"{_KEY_ID}|not-a-caseworker", "no"),
    "status": (True, "new|triage|supporting|referred", "no"),
    "closed": (True, "|".join([*_OUTCOMES, "-"]), "no"),
    "attachment": (True, _NUMBER, "no"),
    "report-resealed": (True, _NUMBER, "no"),
    "erased": (True, "withdrawn|retention|requested|duplicate|mistake|other", "no"),
    "vault-created": (False, _KEY_ID, "no"),
    "log-started": (False, "-", "no"),
    "caseworker-added": (False, _KEY_ID, "yes"),
    "caseworker-revoked": (False, _KEY_ID, "either"),
    "auditor-added": (False, _NOTE_ID, "yes"),
    "witness-added": (False, _NOTE_ID, "yes"),
    "audit-exported": (False, "-", "no"),
    "retention-set": (False, "-", "yes"),
    "passphrase-changed": (False, _KEY_ID, "no"),
    "team-key-rotated": (False, _NUMBER, "yes"),
    "team-key-settled": (False, _NUMBER, "yes"),
    "recovery-split": (False, _KEY_ID, "yes"),
    "recovery-restored": (False, _KEY_ID, "no"),
    "backup-made": (False, _KEY_ID, "yes"),
    "cases-searched": (False, _NUMBER, "yes"),
    "triage-filled": (False, _NUMBER, "yes"),
    "attachments-checked": (False, _NUMBER, "yes"),
    "patterns-read": (False, _NUMBER, "yes"),
    "stats-counted": (False, _NUMBER, "yes"),
    "alert-drafted": (True, _ALERT_ID, "yes"),
    "alert-approved": (True, _ALERT_ID, "yes"),
    "alert-exported": (True, _ALERT_ID, "yes"),
    "alerts-listed": (False, _NUMBER, "yes"),
}


def _caseworker_key_id(public_key: bytes) -> str:
    return sha256(b"redress caseworker key id v1\x00" + public_key)[:8].hex()


def first_meaningless_entry(b: Bundle) -> int | None:
    """The number of the first entry that breaks section 8 of docs/audit.md, or None.

    (The form of each field, the roster of who may act and the checkpoints are checked
    elsewhere; this is only what the entries mean.)"""
    keys = {
        _caseworker_key_id(parse_vkey(vkey)[2]): parse_vkey(vkey)[2]
        for role, _, vkey in b.people
        if role == "caseworker"
    }
    listed = {parse_vkey(vkey)[2]: vkey for role, _, vkey in b.people if role != "caseworker"}
    first_transaction = read_checkpoint(split_note(b.checkpoints[0])[0])[1]
    added: set[str] = set()
    revoked: set[str] = set()
    people: set[str] = set()
    epoch = 1 if b.leaves and b.leaves[0].split(b" ")[3] == b"vault-created" else None
    previous_time = ""
    for n, leaf in enumerate(b.leaves, 1):
        _, at, actor, action, case, detail, commit = leaf.decode().split(" ")
        names_case, details, commitment = _ROWS[action]
        try:
            datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return n
        if at < previous_time or (case != "-") != names_case:
            return n
        previous_time = at
        if not re.fullmatch(details, detail):
            return n
        if (commitment == "yes" and commit == "-") or (commitment == "no" and commit != "-"):
            return n
        if action in ("vault-created", "log-started") and n != 1:
            return n
        if action in ("vault-created", "passphrase-changed") and detail != actor:
            return n
        if action == "caseworker-added":
            added.add(detail)
        elif action == "caseworker-revoked":
            start = b.leaves[0].split(b" ")[3] == b"log-started" and n <= first_transaction
            if commit == "-" and not start:
                return n
            if commit != "-" and commit != hashlib.sha256(keys.get(detail, b"")).hexdigest():
                return n
            revoked.add(detail)
        elif action == "assigned" and detail != "not-a-caseworker":
            if detail not in added or detail in revoked:
                return n
        elif action in ("auditor-added", "witness-added"):
            match = [v for v in listed.values() if v.split("+")[1] == detail]
            if not match or match[0] in people:
                return n
            people.add(match[0])
        elif action == "team-key-rotated":
            if (epoch is not None and int(detail) != epoch + 1) or int(detail) < 2:
                return n
            epoch = int(detail)
        elif action == "team-key-settled":
            if int(detail) < 2 or (epoch is not None and int(detail) > epoch):
                return n
            epoch = int(detail)
        elif action == "report-resealed":
            if epoch is not None and int(detail) != epoch:
                return n
            epoch = int(detail)
        elif action == "recovery-restored":
            before = b.leaves[n - 2].decode().split(" ") if n > 1 else []
            if before[3:4] != ["caseworker-added"] or before[5] != actor:
                return n
    return None


def test_the_real_bundle_means_what_section_8_says(bundle: Bundle) -> None:
    assert first_meaningless_entry(bundle) is None


# --- the read lists, from docs/audit.md sections 8 and 12 alone ------------------------------

# the actions whose commitment is the SHA-256 of a read list, which a /2 bundle carries
_READ_LISTS = (
    "cases-searched",
    "triage-filled",
    "patterns-read",
    "stats-counted",
    "attachments-checked",
)
_READ_LIST = re.compile(
    r"redress cases read v1\n(?:[0-9A-HJKMNP-TV-Z]{8} (?:read|match|damaged)\n)*"
)


def first_bad_read_list(b: Bundle) -> int | None:
    """The number of the first entry whose read list is missing, extra, changed, not in the
    form, not in id order, or of another length than the entry's count; or None."""
    wanted = {
        n for n, leaf in enumerate(b.leaves, 1) if leaf.split(b" ")[3].decode() in _READ_LISTS
    }
    for n in sorted(wanted | b.reads.keys()):
        if n not in wanted or n not in b.reads:
            return n
        fields = b.leaves[n - 1].decode().split(" ")
        text = b.reads[n]
        if hashlib.sha256(text).hexdigest() != fields[6]:
            return n
        if not _READ_LIST.fullmatch(text.decode("ascii")):
            return n
        ids = [line.split(" ")[0] for line in text.decode().splitlines()[1:]]
        if ids != sorted(set(ids)) or len(ids) != int(fields[5]):
            return n
    return None


def test_the_real_bundle_carries_every_read_list(bundle: Bundle) -> None:
    searched = [n for n, leaf in enumerate(bundle.leaves, 1) if b" cases-searched " in leaf]
    assert len(searched) == 1
    assert list(bundle.reads) == searched
    assert bundle.reads[searched[0]].startswith(b"redress cases read v1\n")
    assert bundle.reads[searched[0]].count(b"\n") == 1 + 3  # the three cases, by id
    assert first_bad_read_list(bundle) is None
    changed = dict(bundle.reads)
    changed[searched[0]] = changed[searched[0]].replace(b" read\n", b" match\n", 1)
    assert first_bad_read_list(Bundle(leaves=bundle.leaves, reads=changed)) == searched[0]
    assert first_bad_read_list(Bundle(leaves=bundle.leaves, reads={})) == searched[0]
    extra = {**bundle.reads, 1: bundle.reads[searched[0]]}
    assert first_bad_read_list(Bundle(leaves=bundle.leaves, reads=extra)) == 1
