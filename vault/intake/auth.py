"""Signed caseworker requests to the intake (``docs/intake.md`` section 5).

The vault signs with the caseworker's Ed25519 identity; the intake checks the
signature, the clock window and that the nonce is fresh.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass

from vault import _crypto
from vault.keys import Identity

CONTEXT = b"redress intake request v1\x00"
CLOCK_WINDOW = 300  # seconds either side
NONCE_MEMORY = 600  # seconds a nonce is remembered
SIGNATURE_BYTES = 64  # Ed25519

H_KEY = "X-Redress-Key"
H_TIME = "X-Redress-Time"
H_NONCE = "X-Redress-Nonce"
H_SIGNATURE = "X-Redress-Signature"


def request_message(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    lines = [method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]
    return CONTEXT + "\n".join(lines).encode()


def sign_request(identity: Identity, method: str, path: str, body: bytes) -> dict[str, str]:
    """The headers that authenticate one request from this caseworker."""
    timestamp = str(int(time.time()))
    nonce = _crypto.random_bytes(16).hex()
    signature = identity.sign(request_message(method, path, timestamp, nonce, body))
    return {
        H_KEY: identity.key_id,
        H_TIME: timestamp,
        H_NONCE: nonce,
        H_SIGNATURE: base64.b64encode(signature).decode(),
    }


@dataclass(frozen=True, slots=True)
class SignedRequest:
    key_id: str
    timestamp: int
    nonce: str


@dataclass(frozen=True, slots=True)
class ClaimedRequest:
    """A request whose headers passed every check that needs no body; not yet verified."""

    key_id: str
    timestamp: str
    nonce: str
    signature: bytes
    public_key: bytes
    stale: bool = False  # its time is outside the clock window: refused once verified


class Unauthorised(Exception):
    """The request is not from a registered caseworker, or is stale or replayed."""


class ClockRefused(Unauthorised):
    """The request's time is more than :data:`CLOCK_WINDOW` from the intake's clock, and its
    signature holds: said only to a caseworker, so a stranger learns neither who is a member
    nor the intake's clock (which no ``Date`` header gives either)."""


def check_headers(
    headers: dict[str, str], signing_keys: dict[str, bytes], now: float | None = None
) -> ClaimedRequest:
    """Everything that needs no body: headers present, nonce shape, key known. A request
    outside the clock window is marked ``stale``, and refused by :func:`check_signature`: as
    :class:`ClockRefused` if its signature holds, else as any other.

    The intake runs this before it reads a body, so a stranger cannot make it read one.
    """
    try:
        key_id = headers[H_KEY]
        timestamp = headers[H_TIME]
        nonce = headers[H_NONCE]
        signature = base64.b64decode(headers[H_SIGNATURE], validate=True)
        when = int(timestamp)
    except (KeyError, ValueError):
        raise Unauthorised() from None
    if len(nonce) != 32 or any(c not in "0123456789abcdef" for c in nonce):
        raise Unauthorised()
    if len(signature) != SIGNATURE_BYTES:
        raise Unauthorised()
    stale = abs((time.time() if now is None else now) - when) > CLOCK_WINDOW
    public_key = signing_keys.get(key_id)
    if public_key is None:
        raise Unauthorised()
    return ClaimedRequest(key_id, timestamp, nonce, signature, public_key, stale)


def check_signature(claimed: ClaimedRequest, method: str, path: str, body: bytes) -> SignedRequest:
    """Verify the signature over the request, body included; then the clock window (a
    caseworker's request outside it is :class:`ClockRefused`)."""
    message = request_message(method, path, claimed.timestamp, claimed.nonce, body)
    try:
        _crypto.verify(claimed.signature, message, claimed.public_key)
    except _crypto.OpenFailed:
        raise Unauthorised() from None
    if claimed.stale:
        raise ClockRefused()
    return SignedRequest(
        key_id=claimed.key_id, timestamp=int(claimed.timestamp), nonce=claimed.nonce
    )


def check_request(
    headers: dict[str, str],
    method: str,
    path: str,
    body: bytes,
    signing_keys: dict[str, bytes],
    now: float | None = None,
) -> SignedRequest:
    """Verify a request's signature and clock window. The caller checks the nonce is fresh."""
    return check_signature(check_headers(headers, signing_keys, now), method, path, body)
