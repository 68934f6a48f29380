"""The v1 envelope test vectors, checked three ways.

1. An independent opener written from ``docs/format.md`` alone, with raw PyNaCl and hashlib and
   nothing from the ``vault`` package, opens every positive vector and refuses every negative
   vector at the step the vector names.
2. The project's own ``vault.envelope.open_report`` agrees on every vector.
3. ``tests/vectors/generate.py`` reproduces the committed vectors byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import pytest

VECTOR_DIR = Path(__file__).parent / "vectors"
VECTORS: dict[str, Any] = json.loads((VECTOR_DIR / "envelope-v1.json").read_text("utf-8"))
POSITIVE: list[dict[str, Any]] = VECTORS["positive"]
NEGATIVE: list[dict[str, Any]] = VECTORS["negative"]

# --- an opener written from docs/format.md ---------------------------------------------

HEADER_BYTES = 20
SEAL_OVERHEAD = 48
MIN_PADDED = 2048
MAX_PADDED = 1 << 20
STEPS = ("length", "magic", "version", "key-id", "open", "padding", "report")

SECTORS = {"policing", "healthcare", "housing", "education", "support-services", "other"}
HARMS = {
    "racial-discrimination",
    "violence",
    "sexual-violence",
    "refusal-of-service",
    "abuse-of-power",
    "outing",
    "verbal-abuse",
    "other",
}
WANTS = {"support", "complaint-help", "share-alert", "nothing"}
CONTACT_METHODS = {"email", "phone", "text", "whatsapp", "signal", "post", "other"}
SHORT_TEXT = ("role", "when", "where", "organisation", "professional_identifier")
REQUIRED = {"sector", "role", "harms", "what_happened"}
FIELDS = REQUIRED | {
    "v",
    "when",
    "where",
    "organisation",
    "professional_identifier",
    "wants",
    "contact",
    "consent",
    "reply_key",
    "reply_signing_key",
    "language",
    "attachments",
}
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}")


class Refused(Exception):
    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


def tagged_sha256(purpose: str, data: bytes) -> bytes:
    return hashlib.sha256(purpose.encode() + b"\x00" + data).digest()


def key_id(public_key: bytes) -> bytes:
    return tagged_sha256("redress team key id v1", public_key)[:8]


def fingerprint(public_key: bytes) -> str:
    digest = tagged_sha256("redress team key fingerprint v1", public_key)[:16].hex()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def padded_length(n: int) -> int:
    if n <= MIN_PADDED:
        return MIN_PADDED
    e = n.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask


def _text(value: object, longest: int) -> bool:
    return isinstance(value, str) and 1 <= len(value.strip()) <= longest


def _key32(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except ValueError:
        return False


def _choices(value: object, allowed: set[str], fewest: int) -> bool:
    return (
        isinstance(value, list)
        and fewest <= len(value)
        and all(isinstance(v, str) and v in allowed for v in value)
        and len(set(value)) == len(value)
    )


def report_is_valid(doc: object) -> bool:
    """The report rules of docs/format.md, written out by hand."""
    if not isinstance(doc, dict) or not REQUIRED <= doc.keys() <= FIELDS:
        return False
    contact = doc.get("contact", {"method": "other", "value": "x"})
    consent = doc.get("consent", {})
    attachments = doc.get("attachments", [])
    return (
        doc.get("v", 1) == 1
        and type(doc.get("v", 1)) is int
        and doc["sector"] in SECTORS
        and all(_text(doc[f], 200) for f in SHORT_TEXT if f in doc)
        and _text(doc["what_happened"], 50_000)
        and _choices(doc["harms"], HARMS, 1)
        and _choices(doc.get("wants", []), WANTS, 0)
        and isinstance(contact, dict)
        and contact.keys() == {"method", "value"}
        and contact["method"] in CONTACT_METHODS
        and _text(contact["value"], 200)
        and isinstance(consent, dict)
        and consent.keys() <= {"alert", "research"}
        and all(isinstance(v, bool) for v in consent.values())
        and ("reply_key" not in doc or _key32(doc["reply_key"]))
        and ("reply_signing_key" not in doc or _key32(doc["reply_signing_key"]))
        and (
            "language" not in doc
            or (
                isinstance(doc["language"], str)
                and len(doc["language"]) <= 35
                and LANGUAGE_TAG.fullmatch(doc["language"]) is not None
            )
        )
        and isinstance(attachments, list)
        and len(attachments) <= 20
        and all(
            isinstance(a, dict)
            and a.keys() == {"name", "type", "size", "key", "blob"}
            and _text(a["name"], 200)
            and _text(a["type"], 200)
            and type(a["size"]) is int
            and a["size"] >= 0
            and _key32(a["key"])
            and isinstance(a["blob"], str)
            and len(a["blob"]) == 64
            and all(c in "0123456789abcdef" for c in a["blob"])
            for a in attachments
        )
    )


def raw_open(envelope: bytes, keys_by_epoch: dict[int, tuple[bytes, bytes]]) -> bytes:
    """Open a v1 envelope following docs/format.md step by step; return the report JSON."""
    if not MIN_PADDED <= len(envelope) - HEADER_BYTES - SEAL_OVERHEAD <= MAX_PADDED:
        raise Refused("length")
    if envelope[0:7] != b"REDRESS":
        raise Refused("magic")
    if envelope[7] != 0x01:
        raise Refused("version")
    epoch = int.from_bytes(envelope[8:12], "big")
    if epoch not in keys_by_epoch:
        raise Refused("key-id")
    pk, sk = keys_by_epoch[epoch]
    if envelope[12:20] != key_id(pk):
        raise Refused("key-id")
    try:
        padded = sodium.crypto_box_seal_open(envelope[20:], pk, sk)
    except nacl.exceptions.CryptoError:
        raise Refused("open") from None
    stripped = padded.rstrip(b"\x00")
    if not stripped.endswith(b"\x80") or len(padded) != padded_length(len(stripped)):
        raise Refused("padding")
    body = stripped[:-1]
    try:
        doc = json.loads(body.decode("utf-8"))
    except ValueError:
        raise Refused("report") from None
    if not report_is_valid(doc):
        raise Refused("report")
    return body


def canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def team_key(name: str) -> tuple[int, bytes, bytes]:
    k = VECTORS["team_keys"][name]
    return k["epoch"], bytes.fromhex(k["public_key"]), bytes.fromhex(k["secret_key"])


def vault_keys() -> dict[int, tuple[bytes, bytes]]:
    keys = {}
    for name in VECTORS["vault_holds"]:
        epoch, pk, sk = team_key(name)
        keys[epoch] = (pk, sk)
    return keys


def by_name(vectors: list[dict[str, Any]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("vector", vectors, ids=[v["name"] for v in vectors])


# --- 1. the independent opener ----------------------------------------------------------


def test_team_keys_match_their_labels_ids_and_fingerprints() -> None:
    for k in VECTORS["team_keys"].values():
        sk = hashlib.sha256(k["secret_key_label"].encode()).digest()
        pk = sodium.crypto_scalarmult_base(sk)
        assert k["secret_key"] == sk.hex()
        assert k["public_key"] == pk.hex()
        assert k["key_id"] == key_id(pk).hex()
        assert k["fingerprint"] == fingerprint(pk)


def test_team_key_file() -> None:
    doc = json.loads(VECTORS["team_key_file_epoch_1"])
    epoch, pk, _ = team_key("epoch-1")
    assert doc["kind"] == "redress-team-key"
    assert doc["v"] == 1
    assert doc["epoch"] == epoch
    assert base64.b64decode(doc["public_key"], validate=True) == pk
    assert doc["fingerprint"] == fingerprint(pk)
    assert doc["caseworkers"]
    for person in doc["caseworkers"]:
        assert person.keys() == {"name", "key_id", "sign_pk"}
        sign_pk = base64.b64decode(person["sign_pk"], validate=True)
        assert len(sign_pk) == 32
        key_id = tagged_sha256("redress caseworker key id v1", sign_pk)[:8].hex()
        assert person["key_id"] == key_id


def test_padded_length_examples() -> None:
    for example in VECTORS["padded_length"]:
        assert padded_length(example["n"]) == example["padded_length"]


@by_name(POSITIVE)
def test_positive_vector_opens_by_the_spec(vector: dict[str, Any]) -> None:
    envelope = bytes.fromhex(vector["envelope"])
    body = raw_open(envelope, vault_keys())
    assert body == vector["canonical_json"].encode("utf-8")
    assert body == canonical(vector["report"])
    assert len(body) == vector["json_length"]
    assert padded_length(len(body) + 1) == vector["padded_length"]
    assert len(envelope) == vector["envelope_length"] == 20 + 48 + vector["padded_length"]
    envelope_id = tagged_sha256("redress envelope id v1", envelope)
    assert envelope_id.hex() == vector["envelope_id"]


@by_name(POSITIVE)
def test_positive_vector_layout_byte_by_byte(vector: dict[str, Any]) -> None:
    """Rebuild each part of the envelope from its documented definition."""
    epoch, pk, sk = team_key(vector["team_key"])
    envelope = bytes.fromhex(vector["envelope"])
    header = b"REDRESS" + b"\x01" + epoch.to_bytes(4, "big") + key_id(pk)
    assert envelope[:20] == header == bytes.fromhex(vector["header"])

    epk, esk = sodium.crypto_box_seed_keypair(bytes.fromhex(vector["ephemeral_seed"]))
    assert epk.hex() == vector["ephemeral_public_key"]
    assert esk.hex() == vector["ephemeral_secret_key"]
    assert sodium.crypto_scalarmult_base(esk) == epk
    assert envelope[20:52] == epk

    nonce = hashlib.blake2b(epk + pk, digest_size=24).digest()
    assert nonce.hex() == vector["nonce"]
    body = vector["canonical_json"].encode("utf-8")
    padded = body + b"\x80" + bytes(vector["padded_length"] - len(body) - 1)
    # tag (16 bytes) || ciphertext, opened as crypto_box from the ephemeral key...
    assert sodium.crypto_box_open(envelope[52:], nonce, epk, sk) == padded
    # ...and built again exactly.
    assert envelope[52:] == sodium.crypto_box(padded, nonce, pk, esk)
    assert len(envelope[52:]) == 16 + len(padded)


@by_name(NEGATIVE)
def test_negative_vector_fails_at_the_documented_step(vector: dict[str, Any]) -> None:
    assert vector["fails_at"] in STEPS
    with pytest.raises(Refused) as refused:
        raw_open(bytes.fromhex(vector["envelope"]), vault_keys())
    assert refused.value.step == vector["fails_at"]


def test_every_step_has_a_negative_vector() -> None:
    assert {v["fails_at"] for v in NEGATIVE} == set(STEPS)


# --- 2. the project's own opener agrees ----------------------------------------------------


@by_name(POSITIVE)
def test_open_report_agrees_on_positive_vector(vector: dict[str, Any]) -> None:
    from vault._crypto import SecretBytes
    from vault.envelope import envelope_id, open_report

    _, pk, sk = team_key(vector["team_key"])
    envelope = bytes.fromhex(vector["envelope"])
    report = open_report(envelope, pk, SecretBytes(sk))
    assert report.canonical_json() == vector["canonical_json"].encode("utf-8")
    assert envelope_id(envelope).hex() == vector["envelope_id"]


@by_name(NEGATIVE)
def test_open_report_agrees_on_negative_vector(vector: dict[str, Any]) -> None:
    from vault._crypto import SecretBytes
    from vault.envelope import open_report
    from vault.errors import EnvelopeError, ForeignEnvelopeError

    expected = ForeignEnvelopeError if vector["fails_at"] == "key-id" else EnvelopeError
    assert vector["reference_error"] == expected.__name__
    _, pk, sk = team_key(vector["team_key"])
    with pytest.raises(expected):
        open_report(bytes.fromhex(vector["envelope"]), pk, SecretBytes(sk))


def test_project_agrees_on_key_ids_fingerprints_and_padding() -> None:
    from vault.envelope import padded_length as project_padded_length
    from vault.envelope import team_key_id
    from vault.keys import TeamPublicKey
    from vault.keys import fingerprint as project_fingerprint

    for k in VECTORS["team_keys"].values():
        pk = bytes.fromhex(k["public_key"])
        assert team_key_id(pk).hex() == k["key_id"]
        assert project_fingerprint(pk) == k["fingerprint"]
    for example in VECTORS["padded_length"]:
        assert project_padded_length(example["n"]) == example["padded_length"]
    key = TeamPublicKey.from_file_bytes(VECTORS["team_key_file_epoch_1"].encode())
    assert key.public_key.hex() == VECTORS["team_keys"]["epoch-1"]["public_key"]
    listed = json.loads(VECTORS["team_key_file_epoch_1"])["caseworkers"]
    assert [(name, pk) for name, pk in key.caseworkers] == [
        (p["name"], base64.b64decode(p["sign_pk"])) for p in listed
    ]


# --- 3. the generator reproduces the file ---------------------------------------------------


def test_generator_reproduces_the_vectors_byte_for_byte() -> None:
    spec = importlib.util.spec_from_file_location("_vectors_generate", VECTOR_DIR / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    assert generate.render() == (VECTOR_DIR / "envelope-v1.json").read_bytes()
