"""The intake's proof of work (``docs/intake.md`` section 2): the solver and the check.

A client fetches a challenge (36 bytes, base64url on the wire) and a difficulty ``bits``, then
finds an 8-byte big-endian counter ``n`` such that::

    SHA-256("redress pow v1" || 0x00 || challenge || n)

starts with ``bits`` zero bits (most significant bit of the first byte first). It sends
``X-Redress-PoW: <challenge>.<n as 16 hex digits>``. The intake checks the solution with
:func:`meets`; checking the challenge's HMAC, expiry and single use is the intake's own job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

PURPOSE = b"redress pow v1\x00"
CHALLENGE_BYTES = 36
COUNTER_BYTES = 8
HEADER = "X-Redress-PoW"
MAX_BITS = 32  # beyond this a solution would take a phone far too long


def digest(challenge: bytes, counter: int) -> bytes:
    return hashlib.sha256(PURPOSE + challenge + counter.to_bytes(COUNTER_BYTES, "big")).digest()


def leading_zero_bits(data: bytes) -> int:
    bits = 0
    for byte in data:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def meets(challenge: bytes, counter: int, bits: int) -> bool:
    """Whether ``counter`` solves ``challenge`` at difficulty ``bits``."""
    if not 0 <= counter < 1 << (8 * COUNTER_BYTES):
        return False
    return leading_zero_bits(digest(challenge, counter)) >= bits


def solve(challenge: bytes, bits: int) -> int:
    """The smallest counter that solves ``challenge`` (about 2**bits hashes)."""
    if not 0 <= bits <= MAX_BITS:
        raise ValueError("proof-of-work difficulty out of range")
    prefix = hashlib.sha256(PURPOSE + challenge)
    whole, rest = divmod(bits, 8)
    mask = (0xFF00 >> rest) & 0xFF  # the top `rest` bits of the byte after the zero bytes
    zeros = bytes(whole)
    for counter in range(1 << (8 * COUNTER_BYTES)):
        h = prefix.copy()
        h.update(counter.to_bytes(COUNTER_BYTES, "big"))
        d = h.digest()
        if d[:whole] == zeros and not (rest and d[whole] & mask):
            return counter
    raise ValueError("no solution")  # pragma: no cover: 2**64 hashes


def encode_challenge(challenge: bytes) -> str:
    return base64.urlsafe_b64encode(challenge).rstrip(b"=").decode("ascii")


def decode_challenge(text: str) -> bytes:
    """A challenge from its base64url text (padding optional); ``ValueError`` if malformed."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not a challenge") from None
    if len(raw) != CHALLENGE_BYTES or encode_challenge(raw) != text.rstrip("="):
        raise ValueError("not a challenge")
    return raw


def header_value(challenge: bytes, counter: int) -> str:
    return f"{encode_challenge(challenge)}.{counter:016x}"


def parse_header_value(value: str) -> tuple[bytes, int]:
    """``(challenge, counter)`` from an ``X-Redress-PoW`` header; ``ValueError`` if malformed."""
    text, sep, hex_counter = value.strip().partition(".")
    if not sep or len(hex_counter) != 2 * COUNTER_BYTES:
        raise ValueError("not a proof of work")
    if any(c not in "0123456789abcdefABCDEF" for c in hex_counter):
        raise ValueError("not a proof of work")
    return decode_challenge(text), int(hex_counter, 16)
