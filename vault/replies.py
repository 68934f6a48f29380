"""Replies to reporters who took a codename (``docs/intake.md`` section 7).

The reporter's browser derives an X25519 key pair from their codename and the report carries
the public half as ``reply_key``. A reply is canonical JSON::

    {"date": "YYYY-MM-DD", "status": <case status, only if shared>, "text": ..., "v": 1}

padded as reports are (``vault.envelope.pad``) and sealed to that key with
``crypto_box_seal``. It is left at the intake under the mailbox id, which anyone holding the
report (or the codename) can compute, and which tells the intake nothing about the reporter.
"""

from __future__ import annotations

import base64

from vault import _crypto
from vault.envelope import pad
from vault.errors import VaultError
from vault.report import canonical_json

MAILBOX_PURPOSE = "redress mailbox id v1"
MAX_REPLY = 20_000  # characters


class UnusableReplyKeyError(VaultError):
    """This report's reply key cannot be used, so there is no way to reply."""


def reply_public_key(reply_key: str) -> bytes:
    """The 32-byte codename public key from a report's ``reply_key`` (validated by the model)."""
    raw = base64.b64decode(reply_key, validate=True)
    if len(raw) != 32:
        raise ValueError("a reply key is 32 bytes")
    return raw


def mailbox_id(reply_pk: bytes) -> str:
    """``hex(SHA-256("redress mailbox id v1" || 0x00 || reply public key)[:16])``."""
    return _crypto.tagged_hash(MAILBOX_PURPOSE, reply_pk)[:16].hex()


def reply_plaintext(text: str, date: str, status: str | None = None) -> bytes:
    """The canonical reply JSON, before padding."""
    body: dict[str, object] = {"v": 1, "text": text, "date": date}
    if status is not None:
        body["status"] = status
    return canonical_json(body)


def seal_reply(text: str, date: str, status: str | None, reply_pk: bytes) -> bytes:
    """A reply padded and sealed to the reporter's codename key: only their codename opens it.

    A report can carry a reply key no codename gives (all zeros, or another low-order point,
    for which no shared secret exists); libsodium refuses to seal to it, and so do we, plainly.
    """
    plaintext = pad(reply_plaintext(text, date, status))
    try:
        return _crypto.seal(plaintext, reply_pk)
    except RuntimeError:  # PyNaCl's "unexpected library error": libsodium returned -1
        raise UnusableReplyKeyError() from None
