"""Anti-automation that needs no IP address: proof of work and one global rate cap.

Both live in memory only (``docs/intake.md`` section 2). Also here: which upload
lengths a sealed attachment can have, so the intake can cap and sanity-check
uploads without being able to open them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
import threading
import time
from collections.abc import Callable

from vault import _crypto
from vault import pow as pow_
from vault.attachments import HEADER_BYTES, SEALED_CHUNK_BYTES, sealed_length, secretstream_length
from vault.envelope import MIN_PADDED, padded_length

STREAM_ABYTES = _crypto.STREAM_ABYTES

# --- attachment sizes (docs/intake.md section 4) ------------------------------------


def attachment_cap(max_file_bytes: int) -> int:
    """The largest upload body the intake takes for files of at most ``max_file_bytes``."""
    return sealed_length(max_file_bytes)


def is_upload_length(length: int) -> bool:
    """Whether a sealed upload of this length could hold a correctly padded file."""
    body = length - HEADER_BYTES
    if body <= STREAM_ABYTES:
        return False
    chunks = -(-body // SEALED_CHUNK_BYTES)
    plain = body - chunks * STREAM_ABYTES
    return (
        plain >= MIN_PADDED
        and padded_length(plain) == plain
        and secretstream_length(plain) == length
    )


# --- proof of work -------------------------------------------------------------------

CHALLENGE_RANDOM = 16
CHALLENGE_MAC = 16
CHALLENGE_MINUTES = 10
POW_HEADER = pow_.HEADER


class ProofOfWorkRefused(Exception):
    """Missing, wrong, expired or reused proof of work."""


def solve(challenge_text: str, bits: int) -> str:
    """A header value solving a challenge (for tests and scripts; browsers do this in JS)."""
    challenge = pow_.decode_challenge(challenge_text)
    return pow_.header_value(challenge, pow_.solve(challenge, bits))


class ProofOfWork:
    """Stateless challenges (HMAC under a per-process secret) and a set of spent ones.

    The challenge is ``16 random bytes || expiry (uint32 BE, unix minutes) ||
    HMAC-SHA-256(secret, those 20 bytes)[:16]``; ``vault/pow.py`` holds the solver and
    the solution check. The spent set holds only challenges that admitted a request,
    each until it expires, so the rate cap bounds it.
    """

    def __init__(self, bits: int, clock: Callable[[], float] = time.time) -> None:
        self.bits = bits
        self._secret = _crypto.random_bytes(32)
        self._clock = clock
        self._spent: dict[bytes, int] = {}
        self._lock = threading.Lock()
        self._last_sweep = 0

    def _minutes(self) -> int:
        return int(self._clock() // 60)

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self._secret, data, hashlib.sha256).digest()[:CHALLENGE_MAC]

    def challenge(self) -> str:
        data = _crypto.random_bytes(CHALLENGE_RANDOM) + struct.pack(
            ">I", self._minutes() + CHALLENGE_MINUTES
        )
        return pow_.encode_challenge(data + self._mac(data))

    def verify(self, header: str | None) -> bytes:
        """Check a solution without spending it; returns the challenge to :meth:`spend`."""
        try:
            challenge, counter = pow_.parse_header_value(header or "")
        except ValueError:
            raise ProofOfWorkRefused() from None
        data, mac = challenge[:-CHALLENGE_MAC], challenge[-CHALLENGE_MAC:]
        if not hmac.compare_digest(mac, self._mac(data)):
            raise ProofOfWorkRefused()
        (expiry,) = struct.unpack_from(">I", data, CHALLENGE_RANDOM)
        if self._minutes() > expiry or not pow_.meets(challenge, counter, self.bits):
            raise ProofOfWorkRefused()
        with self._lock:
            if challenge in self._spent:
                raise ProofOfWorkRefused()
        return challenge

    def spend(self, challenge: bytes) -> None:
        """Mark a verified challenge used: one solution admits one request."""
        (expiry,) = struct.unpack_from(">I", challenge, CHALLENGE_RANDOM)
        now = self._minutes()
        with self._lock:
            if challenge in self._spent:
                raise ProofOfWorkRefused()
            self._spent[challenge] = expiry
            if now != self._last_sweep:
                self._last_sweep = now
                for old in [c for c, e in self._spent.items() if e < now]:
                    del self._spent[old]


# --- the global rate cap ---------------------------------------------------------------


class RateCap:
    """One token bucket shared by every client: ``per_minute`` requests, bursts up to that."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._tokens = self.capacity
        self._clock = clock
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self) -> int:
        """Take a token: 0 when admitted, otherwise whole seconds to wait (nothing taken)."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return 0
            return max(1, math.ceil((1 - self._tokens) / self.rate))
