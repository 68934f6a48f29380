"""Write the reporter message test vectors: ``tests/vectors/reporter-messages-v1.json``.

Run it from the repository root::

    .venv/bin/python tests/vectors/generate_reporter_messages.py          # rewrite the file
    .venv/bin/python tests/vectors/generate_reporter_messages.py --check  # exit 1 if out of date

Deterministic: the codename's entropy, the team key and each sealed box's ephemeral key come
from fixed labels (the sealed boxes are built by hand, as libsodium builds them, as in
``tests/vectors/generate.py``), and Ed25519 signatures are deterministic. Before writing, the
generator checks that ``vault.reporter_messages`` accepts every positive vector and refuses
every negative one at the step it names. ``docs/format.md`` ("Reporter messages") is the
specification.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
import unicodedata
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
from mnemonic import Mnemonic

from vault import errors, reporter_messages
from vault._crypto import SecretBytes
from vault.envelope import envelope_id, padded_length

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "reporter-messages-v1.json"
PURPOSE = b"redress reporter message v1\x00"
TEAM_LABEL = "redress test vector team key epoch 1"
EPOCH = 1


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tagged(purpose: str, data: bytes) -> bytes:
    return hashlib.sha256(purpose.encode() + b"\x00" + data).digest()


def codename() -> dict[str, Any]:
    entropy = hashlib.sha256(b"redress test vector codename").digest()[:12]
    bits = (int.from_bytes(entropy, "big") << 3) | (hashlib.sha256(entropy).digest()[0] >> 5)
    wordlist = Mnemonic("english").wordlist
    words = " ".join(wordlist[(bits >> (11 * (8 - i))) & 0x7FF] for i in range(9))
    reply_seed = hashlib.blake2b(b"redress codename reply key v1\x00" + entropy, digest_size=32)
    reply_pk, _ = sodium.crypto_box_seed_keypair(reply_seed.digest())
    sign_seed = hashlib.blake2b(b"redress codename signing key v1\x00" + entropy, digest_size=32)
    sign_pk, sign_sk = sodium.crypto_sign_seed_keypair(sign_seed.digest())
    # The same codename in each list the intake gives codenames in (docs/intake.md section 7):
    # the same 99 bits, so the same entropy, keys and mailbox. Words as NFC.
    words_in = {
        name: " ".join(
            unicodedata.normalize("NFC", Mnemonic(name).wordlist[(bits >> (11 * (8 - i))) & 0x7FF])
            for i in range(9)
        )
        for name in ("english", "spanish", "portuguese", "chinese_simplified")
    }
    return {
        "words": words,
        "words_in": words_in,
        "entropy": entropy.hex(),
        "reply_public_key": b64(reply_pk),
        "signing_seed": sign_seed.hexdigest(),
        "signing_public_key": b64(sign_pk),
        "mailbox": tagged("redress mailbox id v1", reply_pk)[:16].hex(),
        "_sign_sk": sign_sk,
    }


def team() -> dict[str, Any]:
    sk = hashlib.sha256(TEAM_LABEL.encode()).digest()
    pk = sodium.crypto_scalarmult_base(sk)
    return {
        "epoch": EPOCH,
        "label": TEAM_LABEL,
        "secret_key": sk.hex(),
        "public_key": pk.hex(),
        "key_id": tagged("redress team key id v1", pk)[:8].hex(),
    }


def pad(data: bytes, target: int | None = None) -> bytes:
    target = padded_length(len(data) + 1) if target is None else target
    return data + b"\x80" + bytes(target - len(data) - 1)


def seal_by_hand(plaintext: bytes, team_pk: bytes, name: str) -> bytes:
    seed = hashlib.sha256(f"redress test vector ephemeral seed message {name}".encode()).digest()
    epk, esk = sodium.crypto_box_seed_keypair(seed)
    nonce = hashlib.blake2b(epk + team_pk, digest_size=24).digest()
    return bytes(epk + sodium.crypto_box(plaintext, nonce, team_pk, esk))


def build_message(
    name: str, inside: bytes, keys: dict[str, Any], team_key: dict[str, Any], *, padded: bytes
) -> dict[str, Any]:
    pk = bytes.fromhex(team_key["public_key"])
    header = struct.pack(">7sBI8s", b"REDRMSG", 1, EPOCH, bytes.fromhex(team_key["key_id"]))
    signing_pk = base64.b64decode(keys["signing_public_key"])
    sealed = seal_by_hand(padded, pk, name)
    signed = PURPOSE + header + signing_pk + sealed
    signature = sodium.crypto_sign(signed, keys["_sign_sk"])[:64]
    message = header + signing_pk + signature + sealed
    return {
        "name": name,
        "message_json": inside.decode(),
        "padded_length": len(padded),
        "header": header.hex(),
        "signed_sha256": hashlib.sha256(signed).hexdigest(),
        "signature": signature.hex(),
        "message": b64(message),
        "message_id": envelope_id(message).hex(),
    }


def build() -> dict[str, Any]:
    keys = codename()
    team_key = team()
    sent = "2026-01-02"
    answer = {
        "v": 1,
        "kind": "answer",
        "sent": sent,
        "after": 1,
        "text": "Yes — after six, ☎ please.",
    }
    withdrawal = {"v": 1, "kind": "withdrawal", "sent": sent, "after": 1}
    positive = []
    for name, doc in (("answer", answer), ("withdrawal", withdrawal)):
        inside = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        vector = build_message(name, inside, keys, team_key, padded=pad(inside))
        vector["kind"], vector["text"] = doc["kind"], doc.get("text")
        positive.append(vector)

    good = base64.b64decode(positive[0]["message"])
    unsigned = good[:52] + bytes(64) + good[116:]
    flipped = bytearray(good)
    flipped[-1] ^= 1
    inside_bad = b'{"after":0,"kind":"answer","sent":"2026-01-02","v":1}'
    negative = [
        {"name": "unsigned", "fails_at": "signature", "intake": 403, "message": b64(unsigned)},
        {
            "name": "sealed part changed",
            "fails_at": "signature",
            "intake": 403,
            "message": b64(bytes(flipped)),
        },
        {"name": "cut short", "fails_at": "shape", "intake": 400, "message": b64(good[:-1])},
        {
            "name": "report magic",
            "fails_at": "shape",
            "intake": 400,
            "message": b64(b"REDRESS" + good[7:]),
        },
        {
            "name": "answer without text",
            "fails_at": "inside",
            "intake": 202,
            "message": build_message("bad", inside_bad, keys, team_key, padded=pad(inside_bad))[
                "message"
            ],
        },
    ]
    for vector in positive:
        body = base64.b64decode(vector["message"])
        parts = reporter_messages.check_signed(body)
        opened = reporter_messages.open_message(
            parts,
            bytes.fromhex(team_key["public_key"]),
            SecretBytes(bytes.fromhex(team_key["secret_key"]), "test team key"),
        )
        assert (opened.kind, opened.text) == (vector["kind"], vector["text"])
    for vector in negative:
        body = base64.b64decode(vector["message"])
        if vector["fails_at"] == "inside":
            parts = reporter_messages.check_signed(body)
            try:
                reporter_messages.open_message(
                    parts,
                    bytes.fromhex(team_key["public_key"]),
                    SecretBytes(bytes.fromhex(team_key["secret_key"]), "test team key"),
                )
            except errors.ForgedMessageError:
                continue
            raise AssertionError(vector["name"])
        want = "bad-signature" if vector["fails_at"] == "signature" else "malformed"
        if _refusal(body) != want:
            raise AssertionError(vector["name"])
    keys.pop("_sign_sk")
    return {
        "about": "Reporter messages (docs/format.md, 'Reporter messages'). Keys are public: "
        "derived from fixed labels, for tests only.",
        "codename": keys,
        "team_key": team_key,
        "positive": positive,
        "negative": negative,
    }


def _refusal(body: bytes) -> str | None:
    try:
        reporter_messages.check_signed(body)
    except errors.MessageRefused as refused:
        return refused.reason
    return None


def render() -> bytes:
    return (json.dumps(build(), indent=2, ensure_ascii=False) + "\n").encode()


def main(argv: list[str]) -> int:
    out = render()
    if argv[1:] == ["--check"]:
        if VECTORS.read_bytes() != out:
            print(f"{VECTORS.name} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print("usage: generate_reporter_messages.py [--check]", file=sys.stderr)
        return 2
    VECTORS.write_bytes(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
