"""Write the v1 envelope test vectors: ``tests/vectors/envelope-v1.json``.

Run it from the repository root::

    .venv/bin/python tests/vectors/generate.py           # rewrite the vectors file
    .venv/bin/python tests/vectors/generate.py --check   # exit 1 if the file is out of date

Every key is derived from a fixed label, so running it again gives the same file byte for byte
(``tests/test_vectors.py`` checks that). ``crypto_box_seal`` picks a random ephemeral key, so the
sealed boxes are built here by hand, exactly as libsodium builds them, from a fixed ephemeral seed:

    ephemeral pk, sk = crypto_box_seed_keypair(seed)
    nonce            = BLAKE2b-192(ephemeral pk || team pk)
    sealed box       = ephemeral pk || crypto_box(padded report, nonce, team pk, ephemeral sk)

Before writing, the generator checks that libsodium's ``crypto_box_seal_open`` opens each hand-built
box, that ``vault.envelope.open_report`` accepts every positive vector, and that it refuses every
negative vector with the error the vector names. ``docs/format.md`` is the specification.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

import nacl.bindings as sodium

from vault._crypto import SecretBytes
from vault.envelope import envelope_id, open_report, padded_length, team_key_id
from vault.errors import EnvelopeError, ForeignEnvelopeError
from vault.keys import TeamPublicKey, fingerprint
from vault.report import canonical_json, parse_report

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "envelope-v1.json"

MAGIC = b"REDRESS"
VERSION = 1

# The team this vault belongs to holds two epochs; "stranger" is another team's key.
TEAM_KEY_LABELS = {
    "epoch-1": (1, "redress test vector team key epoch 1"),
    "epoch-2": (2, "redress test vector team key epoch 2"),
    "stranger": (1, "redress test vector team key of another team"),
}
VAULT_HOLDS = ["epoch-1", "epoch-2"]

PADDED_LENGTH_EXAMPLES = [
    0,
    1,
    2047,
    2048,
    2049,
    2176,
    2177,
    3000,
    4096,
    4097,
    9002,
    10000,
    65536,
    65537,
    100000,
    1000000,
    1048576,
]

FILLER = (
    "The officer stopped me outside the flat, took my phone and read my messages aloud to his "
    "colleague, then said he would tell my landlord what I do unless I gave him names. "
)


# --- keys --------------------------------------------------------------------------


def team_keys() -> dict[str, dict[str, Any]]:
    keys: dict[str, dict[str, Any]] = {}
    for name, (epoch, label) in TEAM_KEY_LABELS.items():
        sk = hashlib.sha256(label.encode()).digest()
        pk = sodium.crypto_scalarmult_base(sk)
        keys[name] = {"epoch": epoch, "label": label, "sk": sk, "pk": pk}
    return keys


CASEWORKER = "amara"


def caseworker_sign_pk() -> bytes:
    seed = hashlib.sha256(b"redress test vector caseworker signing seed").digest()
    pk, _ = sodium.crypto_sign_seed_keypair(seed)
    return bytes(pk)


def ephemeral_seed(name: str) -> bytes:
    return hashlib.sha256(f"redress test vector ephemeral seed {name}".encode()).digest()


# --- building envelopes by hand --------------------------------------------------------


def pad(data: bytes, target: int | None = None) -> bytes:
    target = padded_length(len(data) + 1) if target is None else target
    return data + b"\x80" + bytes(target - len(data) - 1)


def seal_by_hand(plaintext: bytes, team_pk: bytes, seed: bytes) -> dict[str, bytes]:
    """crypto_box_seal with a chosen ephemeral key, byte for byte as libsodium does it."""
    epk, esk = sodium.crypto_box_seed_keypair(seed)
    nonce = hashlib.blake2b(epk + team_pk, digest_size=24).digest()
    boxed = sodium.crypto_box(plaintext, nonce, team_pk, esk)  # tag (16) || ciphertext
    return {"epk": epk, "esk": esk, "nonce": nonce, "sealed": epk + boxed}


def header(epoch: int, key_id: bytes, magic: bytes = MAGIC, version: int = VERSION) -> bytes:
    return struct.pack(">7sBI8s", magic, version, epoch, key_id)


# --- reports --------------------------------------------------------------------------


def report_json(data: dict[str, Any]) -> bytes:
    """The canonical JSON of a report, checked against the project's own model."""
    report = parse_report(data)
    out = report.canonical_json()
    assert out == canonical_json(json.loads(out))
    return out


def with_json_length(data: dict[str, Any], length: int) -> dict[str, Any]:
    """``data`` with ``what_happened`` filled so the canonical JSON is exactly ``length`` bytes."""
    base = len(report_json({**data, "what_happened": "x"}))
    chars = length - base + 1
    assert chars >= 1
    text = (FILLER * (chars // len(FILLER) + 1))[:chars]
    text = text[:-1] + "." if text[-1] == " " else text
    out = {**data, "what_happened": text}
    assert len(report_json(out)) == length
    return out


SHORT: dict[str, Any] = {
    "sector": "policing",
    "role": "police officer",
    "harms": ["abuse-of-power"],
    "what_happened": "He threatened to arrest me unless I gave him my phone.",
}

EVERY_FIELD: dict[str, Any] = {
    "v": 1,
    "sector": "healthcare",
    "role": "GP — locum",
    "harms": ["racial-discrimination", "refusal-of-service", "outing"],
    "what_happened": (
        'Zoë went to the surgery in Łódź Road. The GP said "people like you" aren\'t '
        "registered here,\nrefused to see her and told the receptionist why.\t"
        "Control \u0001 and back\\slash; 你好; emoji 🙂; line sep \u2028 kept as is."
    ),
    "when": "March 2025",
    "where": "Łódź Road Surgery, Leeds",
    "organisation": "Łódź Road Medical Practice",
    "professional_identifier": "GMC 7654321",
    "wants": ["support", "complaint-help", "share-alert"],
    "contact": {"method": "signal", "value": "+44 7700 900123"},
    "consent": {"alert": True, "research": False},
    "reply_key": base64.b64encode(
        sodium.crypto_scalarmult_base(hashlib.sha256(b"redress test vector codename").digest())
    ).decode(),
    "attachments": [
        {
            "name": "letter from surgery.pdf",
            "type": "application/pdf",
            "size": 48213,
            "key": base64.b64encode(
                hashlib.sha256(b"redress test vector attachment key").digest()
            ).decode(),
            "blob": hashlib.sha256(b"redress test vector attachment blob").hexdigest(),
        }
    ],
}

HOUSING: dict[str, Any] = {
    "sector": "housing",
    "role": "housing officer",
    "harms": ["verbal-abuse", "refusal-of-service"],
    "wants": ["support"],
    "what_happened": "x",
}

SUPPORT: dict[str, Any] = {
    "sector": "support-services",
    "role": "outreach worker",
    "harms": ["sexual-violence", "abuse-of-power", "other"],
    "wants": ["nothing"],
    "when": "over two years",
    "what_happened": "x",
}


# --- the vectors ---------------------------------------------------------------------


def positive(
    keys: dict[str, dict[str, Any]], name: str, description: str, key: str, data: dict[str, Any]
) -> tuple[dict[str, Any], bytes]:
    team = keys[key]
    body = report_json(data)
    padded = pad(body)
    built = seal_by_hand(padded, team["pk"], ephemeral_seed(name))
    head = header(team["epoch"], team_key_id(team["pk"]))
    envelope = head + built["sealed"]

    # libsodium opens the hand-built box, and so does the project's own opener.
    assert sodium.crypto_box_seal_open(built["sealed"], team["pk"], team["sk"]) == padded
    opened = open_report(envelope, team["pk"], SecretBytes(team["sk"]))
    assert opened.canonical_json() == body

    vector = {
        "name": name,
        "description": description,
        "team_key": key,
        "report": json.loads(body),
        "canonical_json": body.decode(),
        "json_length": len(body),
        "padded_length": len(padded),
        "ephemeral_seed": ephemeral_seed(name).hex(),
        "ephemeral_secret_key": built["esk"].hex(),
        "ephemeral_public_key": built["epk"].hex(),
        "nonce": built["nonce"].hex(),
        "header": head.hex(),
        "envelope_length": len(envelope),
        "envelope": envelope.hex(),
        "envelope_id": envelope_id(envelope).hex(),
    }
    return vector, envelope


def negative(
    keys: dict[str, dict[str, Any]],
    name: str,
    reason: str,
    fails_at: str,
    envelope: bytes,
    key: str = "epoch-1",
) -> dict[str, Any]:
    expected = ForeignEnvelopeError if fails_at == "key-id" else EnvelopeError
    team = keys[key]
    try:
        open_report(envelope, team["pk"], SecretBytes(team["sk"]))
    except expected:
        pass
    else:
        raise AssertionError(f"open_report accepted the negative vector {name}")
    return {
        "name": name,
        "reason": reason,
        "fails_at": fails_at,
        "reference_error": expected.__name__,
        "team_key": key,
        "envelope_length": len(envelope),
        "envelope": envelope.hex(),
    }


def sealed_envelope(keys: dict[str, dict[str, Any]], name: str, plaintext: bytes) -> bytes:
    """A well-formed header for epoch 1 and a valid seal of ``plaintext`` to its key."""
    team = keys["epoch-1"]
    built = seal_by_hand(plaintext, team["pk"], ephemeral_seed(name))
    assert sodium.crypto_box_seal_open(built["sealed"], team["pk"], team["sk"]) == plaintext
    return header(team["epoch"], team_key_id(team["pk"])) + built["sealed"]


def build() -> dict[str, Any]:
    keys = team_keys()
    positives: list[dict[str, Any]] = []
    envelopes: dict[str, bytes] = {}

    cases: list[tuple[str, str, str, dict[str, Any]]] = [
        ("short", "Only the required fields: padded to the 2048-byte minimum.", "epoch-1", SHORT),
        (
            "every-field",
            "Every optional field set, with non-ASCII text, escapes, an astral character "
            "and U+2028; sealed to epoch 2.",
            "epoch-2",
            EVERY_FIELD,
        ),
        (
            "json-2047-bytes",
            "Canonical JSON of 2047 bytes: JSON plus the 0x80 marker fill 2048 bytes exactly, "
            "so there are no zero bytes.",
            "epoch-1",
            with_json_length(HOUSING, 2047),
        ),
        (
            "json-2048-bytes",
            "Canonical JSON of 2048 bytes, just over the minimum: padded to the first Padmé "
            "length above it, 2176.",
            "epoch-1",
            with_json_length(HOUSING, 2048),
        ),
        (
            "language",
            "A report from the form in Thai: the reporter's language recorded as a BCP 47 tag; "
            "the fields stay in English and the text is as typed.",
            "epoch-1",
            {
                **SHORT,
                "what_happened": "เขาขู่ว่าจะจับฉันถ้าฉันไม่ให้โทรศัพท์",
                "language": "th",
            },
        ),
        (
            "long-padme",
            "Canonical JSON of 9001 bytes: 9002 with the marker, rounded up by Padmé to 9216.",
            "epoch-1",
            with_json_length(SUPPORT, 9001),
        ),
    ]
    for name, description, key, data in cases:
        vector, envelope = positive(keys, name, description, key, data)
        positives.append(vector)
        envelopes[name] = envelope

    short = envelopes["short"]
    epoch_1 = keys["epoch-1"]
    stranger = keys["stranger"]
    short_json = report_json(SHORT)
    over_json = report_json(with_json_length(HOUSING, 2100))

    flipped = bytearray(short)
    flipped[100] ^= 0x01

    foreign = seal_by_hand(pad(short_json), stranger["pk"], ephemeral_seed("foreign-team"))

    negatives = [
        negative(
            keys,
            "truncated",
            "The short envelope with its last byte removed: shorter than any v1 envelope "
            "(20 + 48 + 2048 bytes).",
            "length",
            short[:-1],
        ),
        negative(
            keys,
            "wrong-magic",
            'The first seven bytes are "REDRESZ", not "REDRESS".',
            "magic",
            b"REDRESZ" + short[7:],
        ),
        negative(
            keys,
            "unknown-version",
            "The version byte is 0x02; a v1 opener reads only 0x01.",
            "version",
            short[:7] + b"\x02" + short[8:],
        ),
        negative(
            keys,
            "foreign-team",
            "Sealed to another team's key (epoch 1 there too): the key id does not match the "
            "key this vault holds for epoch 1.",
            "key-id",
            header(stranger["epoch"], team_key_id(stranger["pk"])) + foreign["sealed"],
        ),
        negative(
            keys,
            "flipped-ciphertext-byte",
            "The short envelope with the lowest bit of byte 100 (inside the ciphertext) flipped.",
            "open",
            bytes(flipped),
        ),
        negative(
            keys,
            "flipped-ephemeral-key-byte",
            "The short envelope with the lowest bit of byte 20 (the first byte of the ephemeral "
            "public key) flipped.",
            "open",
            short[:20] + bytes([short[20] ^ 0x01]) + short[21:],
        ),
        negative(
            keys,
            "padding-larger-bucket",
            "A short report padded to 2176 bytes instead of 2048.",
            "padding",
            sealed_envelope(keys, "padding-larger-bucket", pad(short_json, 2176)),
        ),
        negative(
            keys,
            "padding-not-a-bucket",
            "A report of 2100 bytes padded to 2112 bytes, which no JSON length pads to "
            "(it should be 2176).",
            "padding",
            sealed_envelope(keys, "padding-not-a-bucket", pad(over_json, 2112)),
        ),
        negative(
            keys,
            "padding-no-marker",
            "The JSON followed by zero bytes only, with no 0x80 marker.",
            "padding",
            sealed_envelope(keys, "padding-no-marker", short_json + bytes(2048 - len(short_json))),
        ),
        negative(
            keys,
            "padding-nonzero-tail",
            "The marker is right, but the last padding byte is 0x01 instead of zero.",
            "padding",
            sealed_envelope(keys, "padding-nonzero-tail", pad(short_json)[:-1] + b"\x01"),
        ),
        negative(
            keys,
            "not-a-report-sector",
            'Canonical JSON, correctly padded and sealed, but "sector" is "banking", which is '
            "not one of the allowed values.",
            "report",
            sealed_envelope(
                keys,
                "not-a-report-sector",
                pad(canonical_json({**json.loads(short_json), "sector": "banking"})),
            ),
        ),
        negative(
            keys,
            "not-a-report-unknown-field",
            'Correctly padded and sealed, but with a field "name" that reports do not have.',
            "report",
            sealed_envelope(
                keys,
                "not-a-report-unknown-field",
                pad(canonical_json({**json.loads(short_json), "name": "Jo"})),
            ),
        ),
        negative(
            keys,
            "not-a-report-missing-field",
            'Correctly padded and sealed, but the required field "what_happened" is missing.',
            "report",
            sealed_envelope(
                keys,
                "not-a-report-missing-field",
                pad(
                    canonical_json(
                        {k: v for k, v in json.loads(short_json).items() if k != "what_happened"}
                    )
                ),
            ),
        ),
        negative(
            keys,
            "not-json",
            "Correctly padded and sealed, but the content is not UTF-8 JSON.",
            "report",
            sealed_envelope(keys, "not-json", pad(b"\xff\xfe not json at all")),
        ),
    ]

    return {
        "description": (
            "Test vectors for the Redress v1 report envelope. Every key is derived from a fixed "
            "label; never use these keys for anything else. Byte strings are lowercase hex."
        ),
        "format": "redress envelope v1",
        "specification": "docs/format.md",
        "generator": "tests/vectors/generate.py",
        "team_keys": {
            name: {
                "epoch": k["epoch"],
                "secret_key_label": k["label"],
                "secret_key": k["sk"].hex(),
                "public_key": k["pk"].hex(),
                "key_id": team_key_id(k["pk"]).hex(),
                "fingerprint": fingerprint(k["pk"]),
            }
            for name, k in keys.items()
        },
        "team_key_file_epoch_1": TeamPublicKey(
            epoch_1["epoch"], epoch_1["pk"], caseworkers=((CASEWORKER, caseworker_sign_pk()),)
        )
        .to_file_bytes()
        .decode(),
        "vault_holds": VAULT_HOLDS,
        "padded_length": [
            {"n": n, "padded_length": padded_length(n)} for n in PADDED_LENGTH_EXAMPLES
        ],
        "positive": positives,
        "negative": negatives,
    }


def render() -> bytes:
    return (json.dumps(build(), indent=2, ensure_ascii=False) + "\n").encode()


def main(argv: list[str]) -> int:
    out = render()
    if argv[1:] == ["--check"]:
        if VECTORS.read_bytes() != out:
            print(f"{VECTORS.name} is out of date: run tests/vectors/generate.py", file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print("usage: generate.py [--check]", file=sys.stderr)
        return 2
    VECTORS.write_bytes(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
