"""Write the signed case event test vectors: ``tests/vectors/events-v1.json``.

Run it from the repository root::

    .venv/bin/python tests/vectors/generate_events.py           # rewrite the vectors file
    .venv/bin/python tests/vectors/generate_events.py --check   # exit 1 if out of date

Ed25519 signatures are deterministic and every key comes from a fixed label, so the file is
the same byte for byte each time. Notes and replies in ``data`` are sealed to the team key
with ``crypto_box_seal``, which picks a random ephemeral key, so those boxes are built here by
hand from a fixed ephemeral seed (as in ``generate.py``). Before writing, the generator checks
that ``vault.events.verify_event`` accepts every positive vector, giving the recorded event,
and refuses every negative one. ``docs/format.md`` ("Signed case events") is the
specification.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import nacl.bindings as sodium

from vault.errors import IntegrityError
from vault.events import EVENT_SIGNATURE_CONTEXT, Event, verify_event
from vault.keys import caseworker_key_id
from vault.report import canonical_json

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "events-v1.json"

CASE = "7KQ2M9XD"
AT = "2025-03-14T09:26:53Z"


def fixed(label: str) -> bytes:
    return hashlib.sha256(f"redress test vector {label}".encode()).digest()


SIGN_SEED = fixed("event signing seed")
SIGN_PK = bytes(sodium.crypto_sign_seed_keypair(SIGN_SEED)[0])
SIGN_SK = bytes(sodium.crypto_sign_seed_keypair(SIGN_SEED)[1])
ACTOR = caseworker_key_id(SIGN_PK)
TEAM_SK = fixed("event team key epoch 1")
TEAM_PK = bytes(sodium.crypto_scalarmult_base(TEAM_SK))


def sealed_to_team(text: str, label: str) -> str:
    """crypto_box_seal of ``text`` to the team key, from a fixed ephemeral seed."""
    epk, esk = sodium.crypto_box_seed_keypair(fixed(f"event ephemeral seed {label}"))
    nonce = hashlib.blake2b(epk + TEAM_PK, digest_size=24).digest()
    sealed = epk + sodium.crypto_box(text.encode(), nonce, TEAM_PK, esk)
    assert sodium.crypto_box_seal_open(sealed, TEAM_PK, TEAM_SK) == text.encode()
    return base64.b64encode(sealed).decode()


NOTE = "Called back: she wants help with a complaint. Zoë will draft it."
REPLY = "Thank you for telling us. We can help with a complaint; reply here if you want that."

EVENTS: list[tuple[str, str, dict[str, Any]]] = [
    ("opened", "The case was opened by a caseworker.", {}),
    (
        "note",
        "A case note, sealed to team key epoch 1; its text is in 'sealed_text'.",
        {"epoch": 1, "sealed": sealed_to_team(NOTE, "note")},
    ),
    ("assigned", "Assigned to a caseworker by name.", {"to": "amara"}),
    ("status", "A status change.", {"to": "supporting"}),
    (
        "reply",
        "The team's copy of a reply to the reporter, which shared the status.",
        {"epoch": 1, "sealed": sealed_to_team(REPLY, "reply"), "shared_status": "supporting"},
    ),
    ("attachment", "Attachment 1 was decrypted to a file.", {"n": 1, "blob": fixed("blob").hex()}),
    ("closed", "Closed with no outcome: the null is kept in data.", {"outcome": None}),
    (
        "imported",
        "An import, as vaults before schema 6 recorded it (now an access-log entry).",
        {"envelope": fixed("envelope id").hex(), "epoch": 1},
    ),
]
PLAIN = {"note": NOTE, "reply": REPLY}


def event(n: int, kind: str, data: dict[str, Any]) -> Event:
    return Event(
        id=fixed(f"event id {n}")[:16].hex(), case=CASE, kind=kind, actor=ACTOR, at=AT, data=data
    )


def sign(message: bytes) -> bytes:
    return bytes(sodium.crypto_sign(message, SIGN_SK)[:64])


def positive(n: int, kind: str, description: str, data: dict[str, Any]) -> dict[str, Any]:
    ev = event(n, kind, data)
    body = ev.body()
    signature = sign(EVENT_SIGNATURE_CONTEXT + body)
    assert verify_event(body, signature, SIGN_PK) == ev
    parsed = {
        "id": ev.id,
        "case": ev.case,
        "kind": ev.kind,
        "actor": ev.actor,
        "at": ev.at,
        "data": ev.data,
    }
    vector: dict[str, Any] = {
        "name": kind,
        "description": description,
        "body": body.decode("utf-8"),
        "signed_message": (EVENT_SIGNATURE_CONTEXT + body).hex(),
        "signature": signature.hex(),
        "parsed": parsed,
    }
    if kind in PLAIN:
        vector["sealed_text"] = PLAIN[kind]
    return vector


def negative(
    name: str, reason: str, fails_at: str, body: bytes, signature: bytes
) -> dict[str, Any]:
    try:
        verify_event(body, signature, SIGN_PK)
    except IntegrityError:
        pass
    else:
        raise AssertionError(f"verify_event accepted the negative vector {name}")
    return {
        "name": name,
        "reason": reason,
        "fails_at": fails_at,
        "reference_error": IntegrityError.__name__,
        "body": body.decode("utf-8"),
        "signature": signature.hex(),
    }


def build() -> dict[str, Any]:
    positives = [positive(n, kind, d, data) for n, (kind, d, data) in enumerate(EVENTS, 1)]
    body = event(1, "opened", {}).body()
    good = sign(EVENT_SIGNATURE_CONTEXT + body)
    loose = json.dumps(json.loads(body), sort_keys=True).encode()  # ", " and ": "
    reordered = json.dumps(dict(reversed(json.loads(body).items())), separators=(",", ":"))
    v2 = canonical_json({**json.loads(body), "v": 2})
    negatives = [
        negative(
            "flipped-signature-bit",
            "The opened event with the lowest bit of the signature's first byte flipped.",
            "signature",
            body,
            bytes([good[0] ^ 1]) + good[1:],
        ),
        negative(
            "edited-body",
            "The opened event's body with its case id changed after signing.",
            "signature",
            body.replace(CASE.encode(), b"7KQ2M9XE"),
            good,
        ),
        negative(
            "no-context",
            "Signed over the body alone, without the 'redress event v1' || 0x00 context.",
            "signature",
            body,
            sign(body),
        ),
        negative(
            "not-canonical-spaces",
            "Validly signed, but the body has spaces after ',' and ':'.",
            "canonical",
            loose,
            sign(EVENT_SIGNATURE_CONTEXT + loose),
        ),
        negative(
            "not-canonical-order",
            "Validly signed, but the members are in reverse order.",
            "canonical",
            reordered.encode(),
            sign(EVENT_SIGNATURE_CONTEXT + reordered.encode()),
        ),
        negative(
            "version-2",
            'Validly signed and canonical, but "v" is 2.',
            "canonical",
            v2,
            sign(EVENT_SIGNATURE_CONTEXT + v2),
        ),
    ]
    return {
        "description": (
            "Test vectors for Redress signed case events. Every key is derived from a fixed "
            "label; never use these keys for anything else. Byte strings are lowercase hex; "
            "'body' is the exact UTF-8 text that is signed after the context."
        ),
        "format": "redress event v1",
        "specification": "docs/format.md",
        "generator": "tests/vectors/generate_events.py",
        "signature_context": EVENT_SIGNATURE_CONTEXT.hex(),
        "caseworker": {
            "sign_seed": SIGN_SEED.hex(),
            "sign_pk": SIGN_PK.hex(),
            "key_id": ACTOR,
        },
        "team_key": {"epoch": 1, "secret_key": TEAM_SK.hex(), "public_key": TEAM_PK.hex()},
        "positive": positives,
        "negative": negatives,
    }


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
        print(f"usage: {Path(__file__).name} [--check]", file=sys.stderr)
        return 2
    VECTORS.write_bytes(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
