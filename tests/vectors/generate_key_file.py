"""Write the caseworker key file test vectors: ``tests/vectors/key-file-v2.json``.

Run it from the repository root::

    .venv/bin/python tests/vectors/generate_key_file.py           # rewrite the vectors file
    .venv/bin/python tests/vectors/generate_key_file.py --check   # exit 1 if out of date

``lock_identity`` picks a random salt and nonce, so the files are built here by hand from
fixed ones; every secret comes from a fixed label, so running it again gives the same file
byte for byte. Before writing, the generator checks that ``vault.keys.unlock_identity``
opens every positive vector and refuses every negative one with the error it names.

Readers refuse Argon2id parameters below libsodium's MODERATE limits, so every vector uses
exactly those (256 MiB, 3 passes): checking them takes a second or so per distinct
passphrase and salt. ``docs/format.md`` ("The caseworker key file") is the specification.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import nacl.pwhash

from vault.errors import NewerKeyFileError, NotAKeyFileError, VaultError, WrongPassphraseError
from vault.keys import caseworker_key_id, identity_ad, unlock_identity, unlock_identity_upgrading
from vault.passphrase import Passphrase

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "key-file-v2.json"

PASSPHRASE = "correct horse battery staple über"
OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_MODERATE
AD_PURPOSE = b"redress identity key file v1\x00"


def fixed(label: str, n: int = 32) -> bytes:
    return hashlib.sha256(f"redress test vector {label}".encode()).digest()[:n]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@cache
def passphrase_key(passphrase: bytes, salt: bytes) -> bytes:
    return bytes(
        nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit=OPSLIMIT, memlimit=MEMLIMIT)
    )


def clear_members(name: str, sign_pk: bytes, box_pk: bytes, salt: bytes, v: int) -> dict[str, Any]:
    return {
        "kind": "redress-identity",
        "v": v,
        "name": name,
        "sign_pk": b64(sign_pk),
        "box_pk": b64(box_pk),
        "kdf": {"alg": "argon2id13", "opslimit": OPSLIMIT, "memlimit": MEMLIMIT, "salt": b64(salt)},
    }


def build_file(
    label: str,
    name: str,
    v: int = 2,
    *,
    passphrase: str = PASSPHRASE,
    public_from: str | None = None,
    edit: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One key file, built by hand; every intermediate value recorded.

    ``public_from`` puts another identity's public keys in the clear members (sealed with a
    matching associated data); ``edit`` changes members *after* sealing.
    """
    sign_seed, box_sk = fixed(f"{label} signing seed"), fixed(f"{label} x25519 key")
    salt, nonce = fixed(f"{label} salt", 16), fixed(f"{label} nonce", 24)
    sign_pk, _ = sodium.crypto_sign_seed_keypair(sign_seed)
    box_pk = sodium.crypto_scalarmult_base(box_sk)
    shown_sign, shown_box = sign_pk, box_pk
    if public_from is not None:
        shown_sign, _ = sodium.crypto_sign_seed_keypair(fixed(f"{public_from} signing seed"))
        shown_box = sodium.crypto_scalarmult_base(fixed(f"{public_from} x25519 key"))
    doc = clear_members(name, shown_sign, shown_box, salt, v)
    ad = identity_ad(doc)  # the reference encoding; the test rebuilds it from the document
    if v == 2:
        assert ad == AD_PURPOSE + json.dumps(
            doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
    else:
        assert ad == AD_PURPOSE + json.dumps(doc, sort_keys=True).encode("ascii")
    key = passphrase_key(passphrase.encode(), salt)
    secrets = sign_seed + box_sk
    sealed = nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(secrets, ad, nonce, key)
    doc["sealed"] = b64(sealed)
    doc.update(edit or {})
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return {
        "file": text,
        "passphrase": PASSPHRASE,
        "salt": salt.hex(),
        "passphrase_key": key.hex(),
        "nonce": nonce.hex(),
        "ad": ad.hex(),
        "sign_seed": sign_seed.hex(),
        "box_secret_key": box_sk.hex(),
        "sign_pk": sign_pk.hex(),
        "box_pk": box_pk.hex(),
        "key_id": caseworker_key_id(sign_pk),
    }


def positive(name: str, description: str, label: str, who: str, v: int) -> dict[str, Any]:
    built = build_file(label, who, v)
    data = built["file"].encode()
    identity, upgraded = unlock_identity_upgrading(data, Passphrase(PASSPHRASE.encode()))
    assert identity.name == who
    assert identity.public.sign_pk.hex() == built["sign_pk"]
    assert identity.public.box_pk.hex() == built["box_pk"]
    assert identity.key_id == built["key_id"]
    assert (upgraded is not None) == (v == 1)
    return {"name": name, "description": description, "v": v, "caseworker": who, **built}


def negative(
    name: str, reason: str, fails_at: str, expected: type[VaultError], built: dict[str, Any]
) -> dict[str, Any]:
    try:
        unlock_identity(built["file"].encode(), Passphrase(PASSPHRASE.encode()))
    except expected:
        pass
    else:
        raise AssertionError(f"unlock_identity accepted the negative vector {name}")
    return {
        "name": name,
        "reason": reason,
        "fails_at": fails_at,
        "reference_error": expected.__name__,
        "passphrase": PASSPHRASE,
        "file": built["file"],
    }


def build() -> dict[str, Any]:
    positives = [
        positive(
            "amara-v2",
            "A version 2 key file, as the vault writes it today.",
            "key file amara",
            "amara",
            2,
        ),
        positive(
            "non-ascii-name-v2",
            "Version 2 with a name outside ASCII: the associated data holds it as UTF-8.",
            "key file zoe",
            "zoë",
            2,
        ),
        positive(
            "amara-v1",
            "A version 1 file (older vaults): the associated data is Python's default JSON. "
            "A reader MUST accept it; the vault rewrites it as version 2 on unlock.",
            "key file amara",
            "amara",
            1,
        ),
        positive(
            "non-ascii-name-v1",
            "Version 1 with a name outside ASCII: the associated data escapes it as \\u00eb.",
            "key file zoe",
            "zoë",
            1,
        ),
    ]
    amara = "key file amara"
    negatives = [
        negative(
            "wrong-passphrase",
            "Locked under another passphrase; the vector's passphrase does not open it.",
            "decrypt",
            WrongPassphraseError,
            build_file(amara, "amara", passphrase="correct horse battery stable über"),
        ),
        negative(
            "renamed",
            "The name member changed from amara to mallory after sealing.",
            "decrypt",
            WrongPassphraseError,
            build_file(amara, "amara", edit={"name": "mallory"}),
        ),
        negative(
            "relabelled-v1",
            "A version 2 file with v changed to 1: the associated data is rebuilt the old way.",
            "decrypt",
            WrongPassphraseError,
            build_file(amara, "amara", edit={"v": 1}),
        ),
        negative(
            "added-member",
            'A member "note" added after sealing.',
            "decrypt",
            WrongPassphraseError,
            build_file(amara, "amara", edit={"note": "x"}),
        ),
        negative(
            "weak-kdf",
            "memlimit lowered to 8 MiB: refused before the KDF runs.",
            "kdf-limits",
            NotAKeyFileError,
            build_file(
                amara,
                "amara",
                edit={
                    "kdf": {
                        "alg": "argon2id13",
                        "opslimit": OPSLIMIT,
                        "memlimit": 8 << 20,
                        "salt": b64(fixed(f"{amara} salt", 16)),
                    }
                },
            ),
        ),
        negative(
            "public-keys-mismatch",
            "Decrypts (the associated data matches the clear members), but sign_pk and box_pk "
            "are another identity's: the keys derived from the secrets differ.",
            "public-keys",
            NotAKeyFileError,
            build_file(amara, "amara", public_from="key file zoe"),
        ),
        negative(
            "unknown-version",
            "v is 3: a key file from a newer Redress, refused as such.",
            "parse",
            NewerKeyFileError,
            build_file(amara, "amara", edit={"v": 3}),
        ),
    ]
    return {
        "description": (
            "Test vectors for the Redress caseworker key file. Every secret is derived from a "
            "fixed label; never use these keys for anything else. Byte strings are lowercase hex; "
            "'file' is the exact UTF-8 text of the key file, and the passphrase is the UTF-8 "
            "bytes of 'passphrase'."
        ),
        "format": "redress caseworker key file v2 (and v1, read only)",
        "specification": "docs/format.md",
        "generator": "tests/vectors/generate_key_file.py",
        "kdf": {"alg": "argon2id13", "opslimit": OPSLIMIT, "memlimit": MEMLIMIT},
        "ad_purpose": AD_PURPOSE.hex(),
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
