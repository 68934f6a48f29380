"""The reporter message vectors, read by docs/format.md ("Reporter messages") alone.

The reader below uses PyNaCl and hashlib and nothing from ``vault``: it derives the codename's
keys, checks each message's shape and signature and opens it. The project's own code is then
checked against the same vectors, and the generator must reproduce the file byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import struct
import unicodedata
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import pytest
from mnemonic import Mnemonic

VECTORS = Path(__file__).parent / "vectors"
DOC = json.loads((VECTORS / "reporter-messages-v1.json").read_text("utf-8"))
TEAM_SK = bytes.fromhex(DOC["team_key"]["secret_key"])
TEAM_PK = bytes.fromhex(DOC["team_key"]["public_key"])
SENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # the day it was sent, UTC: never the time


class Refused(Exception):
    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


def padded_length(n: int) -> int:
    if n <= 2048:
        return 2048
    e = n.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask


def read(message: bytes) -> dict[str, Any]:
    """A reader written from docs/format.md: shape, signature, then what is inside."""
    if not 2212 <= len(message) <= 116 + 48 + (1 << 18):
        raise Refused("shape")
    magic, version, epoch, key_id = struct.unpack_from(">7sBI8s", message)
    padded = len(message) - 116 - 48
    if magic != b"REDRMSG" or version != 1 or padded_length(padded) != padded:
        raise Refused("shape")
    signing_pk, signature, sealed = message[20:52], message[52:116], message[116:]
    signed = b"redress reporter message v1\x00" + message[:52] + sealed
    try:
        sodium.crypto_sign_open(signature + signed, signing_pk)
    except nacl.exceptions.BadSignatureError:
        raise Refused("signature") from None
    assert (epoch, key_id.hex()) == (DOC["team_key"]["epoch"], DOC["team_key"]["key_id"])
    try:
        plain = sodium.crypto_box_seal_open(sealed, TEAM_PK, TEAM_SK)
    except nacl.exceptions.CryptoError:
        raise Refused("inside") from None
    end = plain.rfind(b"\x80")
    if end < 0 or plain[end + 1 :].strip(b"\x00") or padded_length(end + 1) != len(plain):
        raise Refused("inside")
    doc = json.loads(plain[:end])
    answer = doc.get("kind") == "answer" and set(doc) == {"v", "kind", "sent", "after", "text"}
    withdrawal = doc.get("kind") == "withdrawal" and set(doc) == {"v", "kind", "sent", "after"}
    if doc.get("v") != 1 or not SENT.fullmatch(str(doc.get("sent"))):
        raise Refused("inside")
    if type(doc.get("after")) is not int or doc["after"] < 0:
        raise Refused("inside")
    if not (withdrawal or (answer and isinstance(doc["text"], str) and doc["text"].strip())):
        raise Refused("inside")
    return {"json": plain[:end].decode(), "doc": doc, "signing_pk": signing_pk}


def test_the_codename_keys_follow_from_the_entropy() -> None:
    c = DOC["codename"]
    entropy = bytes.fromhex(c["entropy"])
    seed = hashlib.blake2b(b"redress codename signing key v1\x00" + entropy, digest_size=32)
    assert seed.hexdigest() == c["signing_seed"]
    pk, _ = sodium.crypto_sign_seed_keypair(seed.digest())
    assert base64.b64encode(pk).decode() == c["signing_public_key"]
    reply = hashlib.blake2b(b"redress codename reply key v1\x00" + entropy, digest_size=32)
    reply_pk, _ = sodium.crypto_box_seed_keypair(reply.digest())
    assert base64.b64encode(reply_pk).decode() == c["reply_public_key"]
    mailbox = hashlib.sha256(b"redress mailbox id v1\x00" + reply_pk).digest()[:16]
    assert mailbox.hex() == c["mailbox"]


@pytest.mark.parametrize("name", ["english", "spanish", "portuguese", "chinese_simplified"])
def test_the_codename_means_the_same_entropy_in_every_list(name: str) -> None:
    # docs/intake.md section 7: each word's index in its BIP39 list, 11 bits each; 96 bits of
    # entropy, then the first 3 bits of its SHA-256.
    c = DOC["codename"]
    listed = [unicodedata.normalize("NFC", w) for w in Mnemonic(name).wordlist]
    bits = 0
    for word in c["words_in"][name].split():
        bits = bits << 11 | listed.index(word)
    entropy = bytes.fromhex(c["entropy"])
    assert bits >> 3 == int.from_bytes(entropy, "big")
    assert bits & 0b111 == hashlib.sha256(entropy).digest()[0] >> 5
    assert c["words_in"]["english"] == c["words"]
    from vault.intake import codename  # the intake's reader agrees

    assert codename.parse(c["words_in"][name]) == entropy


@pytest.mark.parametrize("vector", DOC["positive"], ids=lambda v: v["name"])
def test_positive_vectors_read(vector: dict[str, Any]) -> None:
    message = base64.b64decode(vector["message"])
    got = read(message)
    assert got["json"] == vector["message_json"]
    assert got["doc"]["kind"] == vector["kind"]
    assert got["doc"].get("text") == vector["text"]
    assert base64.b64encode(got["signing_pk"]).decode() == DOC["codename"]["signing_public_key"]
    assert message[:20].hex() == vector["header"]
    assert message[52:116].hex() == vector["signature"]
    digest = hashlib.sha256(b"redress envelope id v1\x00" + message).hexdigest()
    assert digest == vector["message_id"]


@pytest.mark.parametrize("vector", DOC["negative"], ids=lambda v: v["name"])
def test_negative_vectors_are_refused_at_their_step(vector: dict[str, Any]) -> None:
    with pytest.raises(Refused) as refused:
        read(base64.b64decode(vector["message"]))
    assert refused.value.step == vector["fails_at"]


@pytest.mark.parametrize("vector", DOC["positive"] + DOC["negative"], ids=lambda v: v["name"])
def test_the_vaults_code_agrees(vector: dict[str, Any]) -> None:
    from vault import errors, reporter_messages
    from vault._crypto import SecretBytes

    body = base64.b64decode(vector["message"])
    step = vector.get("fails_at")
    if step in ("shape", "signature"):
        with pytest.raises(errors.MessageRefused) as refused:
            reporter_messages.check_signed(body)
        assert refused.value.reason == ("bad-signature" if step == "signature" else "malformed")
        return
    parts = reporter_messages.check_signed(body)
    key = SecretBytes(TEAM_SK, "test team key")
    if step == "inside":
        with pytest.raises(errors.ForgedMessageError):
            reporter_messages.open_message(parts, TEAM_PK, key)
        return
    opened = reporter_messages.open_message(parts, TEAM_PK, key)
    assert (opened.kind, opened.text) == (vector["kind"], vector["text"])


def test_the_generator_reproduces_the_file() -> None:
    path = VECTORS / "generate_reporter_messages.py"
    spec = importlib.util.spec_from_file_location("_generate_reporter_messages", path)
    assert spec is not None
    assert spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    assert generate.render() == (VECTORS / "reporter-messages-v1.json").read_bytes()
