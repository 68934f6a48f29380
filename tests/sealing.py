"""What a reporter's browser does, written again in Python straight from ``docs/intake.md``.

Independent of the library on purpose (PyNaCl bindings and hashlib only), so a test that
round-trips through the vault checks the vault against the specification, not against itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

import nacl.bindings as sodium
from mnemonic import Mnemonic

CHUNK = 65_536
_WORDS = Mnemonic("english").wordlist


def padded_length(n: int) -> int:
    """``docs/format.md``: 2048 minimum, Padmé above (written out again here)."""
    if n <= 2048:
        return 2048
    e = n.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask


def seal_attachment(
    data: bytes, *, padding: bytes | None = None, final_early: bool = False
) -> tuple[bytes, bytes]:
    """``(key, blob)``: ``data`` padded with zeros and sealed with secretstream (section 4).

    ``padding`` replaces the zero padding (to make a bad blob); ``final_early`` tags the
    first chunk FINAL even when more follow.
    """
    key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    pad = padded_length(len(data)) - len(data)
    padded = data + (padding if padding is not None else bytes(pad))[:pad]
    parts = [header]
    for start in range(0, len(padded), CHUNK):
        last = start + CHUNK >= len(padded) or (final_early and start == 0)
        tag = (
            sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
            if last
            else sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
        )
        chunk = padded[start : start + CHUNK]
        parts.append(sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk, None, tag))
    return key, b"".join(parts)


def attachment_entry(
    data: bytes, name: str = "evidence.bin", kind: str = "image/png"
) -> tuple[dict[str, object], bytes]:
    """The report's ``attachments`` item for ``data``, and the blob to upload."""
    key, blob = seal_attachment(data)
    entry = {
        "name": name,
        "type": kind,
        "size": len(data),
        "key": base64.b64encode(key).decode(),
        "blob": blob_id(blob),
    }
    return entry, blob


def blob_id(blob: bytes) -> str:
    """``docs/format.md``, "Attachments: the blob id": the hash list over the header and the
    SHA-256 of each sealed chunk (written out again here)."""
    step = CHUNK + 17
    listed = blob[:24] + b"".join(
        hashlib.sha256(blob[at : at + step]).digest() for at in range(24, len(blob), step)
    )
    return hashlib.sha256(b"redress blob hash list v1\x00" + listed).hexdigest()


# --- codenames (section 7) ------------------------------------------------------------------


def new_codename() -> str:
    """Nine BIP39 words: 96 random bits and a 3-bit checksum."""
    entropy = secrets.token_bytes(12)
    checksum = hashlib.sha256(entropy).digest()[0] >> 5
    bits = (int.from_bytes(entropy, "big") << 3) | checksum
    return " ".join(_WORDS[(bits >> (11 * (8 - i))) & 0x7FF] for i in range(9))


def codename_entropy(codename: str) -> bytes:
    """The 12 bytes of entropy back from a codename typed forgivingly (case, spaces, 4 letters)."""
    words = codename.replace(",", " ").replace("-", " ").lower().split()
    assert len(words) == 9
    bits = 0
    for word in words:
        matches = [i for i, w in enumerate(_WORDS) if w[:4] == word[:4]]
        assert len(matches) == 1
        bits = (bits << 11) | matches[0]
    entropy = (bits >> 3).to_bytes(12, "big")
    assert hashlib.sha256(entropy).digest()[0] >> 5 == bits & 0b111, "checksum"
    return entropy


def reply_keypair(entropy: bytes) -> tuple[bytes, bytes]:
    seed = hashlib.blake2b(b"redress codename reply key v1\x00" + entropy, digest_size=32).digest()
    pk, sk = sodium.crypto_box_seed_keypair(seed)
    return pk, sk


def mailbox_of(reply_pk: bytes) -> str:
    return hashlib.sha256(b"redress mailbox id v1\x00" + reply_pk).digest()[:16].hex()


def open_reply(sealed: bytes, pk: bytes, sk: bytes) -> dict[str, object]:
    """A reply opened as the "read replies" page does: unseal, unpad, parse."""
    padded = sodium.crypto_box_seal_open(sealed, pk, sk)
    assert len(padded) == padded_length(len(padded))
    body = padded.rstrip(b"\x00")
    assert body.endswith(b"\x80")
    doc = json.loads(body[:-1])
    assert isinstance(doc, dict)
    return doc


def signing_keypair(entropy: bytes) -> tuple[bytes, bytes]:
    """The codename's Ed25519 key pair (public key, 32-byte seed), as the browser derives it."""
    seed = hashlib.blake2b(
        b"redress codename signing key v1\x00" + entropy, digest_size=32
    ).digest()
    pk, _sk = sodium.crypto_sign_seed_keypair(seed)
    return pk, seed


def codename_keys(codename: str) -> tuple[bytes, bytes, bytes, bytes]:
    """(reply pk, reply sk, signing pk, signing seed) for a codename."""
    entropy = codename_entropy(codename)
    return (*reply_keypair(entropy), *signing_keypair(entropy))
