"""Replies to reporters who took a codename (``docs/intake.md`` section 7).

The reporter's browser derives an X25519 key pair from their codename and the report carries
the public half as ``reply_key``. A reply is canonical JSON::

    {"can_answer": true (only if so), "date": "YYYY-MM-DD",
     "status": <case status, only if shared>, "text": ..., "v": 1}

``can_answer`` tells the replies page the report carries a codename signing key, so the
reporter can answer and ask for withdrawal there (vault/reporter_messages.py).

padded as reports are (``vault.envelope.pad``) and sealed to that key with
``crypto_box_seal``. It is left at the intake under the mailbox id, which anyone holding the
report (or the codename) can compute, and which tells the intake nothing about the reporter.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vault import _crypto, team_clock
from vault import db as dbmod
from vault.envelope import open_report, pad
from vault.errors import NoReplyKeyError, UsageError, VaultError
from vault.keys import b64
from vault.report import canonical_json
from vault.store import today

if TYPE_CHECKING:
    from vault.store import Vault

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


def reply_plaintext(
    text: str, date: str, status: str | None = None, *, can_answer: bool = False
) -> bytes:
    """The canonical reply JSON, before padding."""
    body: dict[str, object] = {"v": 1, "text": text, "date": date}
    if status is not None:
        body["status"] = status
    if can_answer:
        body["can_answer"] = True
    return canonical_json(body)


def seal_reply(
    text: str, date: str, status: str | None, reply_pk: bytes, *, can_answer: bool = False
) -> bytes:
    """A reply padded and sealed to the reporter's codename key: only their codename opens it.

    A report can carry a reply key no codename gives (all zeros, or another low-order point,
    for which no shared secret exists); libsodium refuses to seal to it, and so do we, plainly.
    """
    plaintext = pad(reply_plaintext(text, date, status, can_answer=can_answer))
    try:
        return _crypto.seal_reply(plaintext, reply_pk)
    except _crypto.UnusableKey:
        raise UnusableReplyKeyError() from None


# --- the vault's side: sending a reply, and the outbox ---------------------------------


@dataclass(frozen=True, slots=True)
class QueuedReply:
    """A reply sealed to a reporter's codename, waiting in the outbox for the next pull."""

    id: str
    mailbox: str
    body: bytes = field(repr=False)


def queued_replies(vault: Vault) -> list[QueuedReply]:
    """Replies not yet delivered to the intake, oldest first."""
    return [
        QueuedReply(str(i), str(m), bytes(b))
        for i, m, b in vault.db.execute(
            "SELECT id, mailbox, body FROM replies WHERE delivered = 0 ORDER BY rowid"
        )
    ]


def mark_delivered(vault: Vault, reply_ids: Iterable[str]) -> None:
    with vault.transaction() as db:
        db.executemany("UPDATE replies SET delivered = 1 WHERE id = ?", [(i,) for i in reply_ids])


def check_can_reply(vault: Vault) -> None:
    """Refuse a reply in a folder that has left its team (opened with recovery shares): no
    pull runs there, so it would never go. The command checks before the reply is typed."""
    if team_clock.left_team(vault.db) is not None:
        raise UsageError(
            f"{team_clock.LEFT_SAID}, so vault pull is refused here and a reply written here"
            " would never reach the reporter; nothing was queued.",
            hint="reply from a laptop that syncs (a colleague's, or your new folder once you"
            " have joined the team again)",
        )


def reply(vault: Vault, text: str, message: str, share_status: bool = False) -> str:
    """Seal a reply to the reporter's codename key, record it, and queue it for delivery.

    The sealed reply waits in the outbox until the next pull delivers it; the case history
    keeps a copy sealed to the team key, like a note. Refused in a folder that has left its
    team (opened with recovery shares): no pull runs there, so the reply would never go.
    """
    check_can_reply(vault)
    message = message.strip()
    if not message:
        raise UsageError("A reply cannot be empty.")
    if len(message) > MAX_REPLY:
        raise UsageError(f"A reply can be at most {MAX_REPLY} characters.")
    case_id = vault.resolve(text)
    with vault.transaction() as db:
        envelope, epoch, status = dbmod.one(
            db, "SELECT envelope, epoch, status FROM cases WHERE id = ?", (case_id,)
        )
        case_key = vault.team_key(epoch)
        report = open_report(envelope, case_key.public_key, case_key.secret_key)
        if report.reply_key is None:
            raise NoReplyKeyError()
        reply_pk = reply_public_key(report.reply_key)
        shared = str(status) if share_status else None
        can_answer = report.reply_signing_key is not None
        sealed = seal_reply(message, today(), shared, reply_pk, can_answer=can_answer)
        team = vault.access.current
        event = vault.record(
            db,
            case_id,
            "reply",
            {
                "epoch": team.epoch,
                "sealed": b64(_crypto.seal_note(message, team.public_key)),
                "shared_status": shared,
            },
        )
        db.execute(
            "INSERT INTO replies (id, case_id, mailbox, body) VALUES (?, ?, ?, ?)",
            (event.id, case_id, mailbox_id(reply_pk), sealed),
        )
    return case_id
