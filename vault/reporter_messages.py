"""Messages from reporters: their answers to replies, and their requests to withdraw.

A reporter who took a codename can, on the replies page, answer a caseworker's reply or ask
for their report to be withdrawn and erased (``docs/intake.md`` section 7, ``docs/format.md``
"Reporter messages"). Their browser seals the message to the team key, as a report is, and
signs it with an Ed25519 key derived from the codename; the report carries that key's public
half as ``reply_signing_key``, sealed. The intake checks the signature and relays the message
blind, in its inbox beside the reports; ``vault pull`` takes it into the case it belongs to
as a signed ``reporter-message`` case action, after checking the signer is that case's
reporter. Byte layout::

    magic        7 bytes  "REDRMSG"
    version      1 byte   0x01
    epoch        4 bytes  team key epoch, unsigned big-endian
    key id       8 bytes  the team key id, as in a report envelope
    signing key 32 bytes  the codename's Ed25519 public key
    signature   64 bytes  Ed25519 over "redress reporter message v1" || 0x00
                          || the 52 bytes above || sealed
    sealed      rest      crypto_box_seal(padded message JSON, team public key)

The message JSON is canonical: ``{"kind":"answer","sent":...,"text":...,"v":1}`` or
``{"kind":"withdrawal","sent":...,"v":1}``, padded as a report is; ``sent`` is the time the
browser sent it (UTC, ``YYYY-MM-DDTHH:MM:SS.sssZ``), which orders the messages one pull takes in.

When a case is erased, :func:`before_erase` queues a last reply to the reporter's mailbox
(status ``erased``), kept apart from the case so it outlives the case's rows, and
:func:`erase_case_rows` deletes what this module keeps for the case.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from vault import _crypto, erasure, team_clock
from vault import db as dbmod
from vault.envelope import (
    HEADER_BYTES,
    MIN_PADDED,
    envelope_id,
    open_report,
    pad,
    padded_length,
    team_key_id,
    unpad,
)
from vault.errors import (
    EnvelopeError,
    ForgedMessageError,
    IntegrityError,
    MessageRefused,
    UnknownReporterError,
    UsageError,
    VaultError,
)
from vault.report import canonical_json

if TYPE_CHECKING:
    from vault.events import Event
    from vault.store import Vault

MAGIC = b"REDRMSG"
VERSION = 1
HEADER = struct.Struct(">7sBI8s")
SIGNED_PURPOSE = b"redress reporter message v1\x00"
SIGNING_KEY_BYTES = 32
SIGNATURE_BYTES = _crypto.SIGNATURE_BYTES  # 64
PREFIX_BYTES = HEADER_BYTES + SIGNING_KEY_BYTES + SIGNATURE_BYTES  # 116
MAX_TEXT = 20_000  # characters in an answer, as in a reply
MAX_PADDED = 1 << 18  # 256 KiB: the longest answer, every character escaped, fits
MIN_MESSAGE = PREFIX_BYTES + _crypto.SEAL_OVERHEAD + MIN_PADDED
MAX_MESSAGE = PREFIX_BYTES + _crypto.SEAL_OVERHEAD + MAX_PADDED
_SENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_AFTER = 1_000_000  # replies a reporter can have read
Kind = Literal["answer", "withdrawal"]
ERASED_TEXT = {
    "withdrawn": "As you asked, your report has been withdrawn and erased from our records.",
    None: "Your report has been erased from our records.",
}


def message_id(body: bytes) -> str:
    """A message's id, as the intake keeps it and the access log commits to it: its envelope
    id, ``hex(SHA-256("redress envelope id v1" || 0x00 || message))``."""
    return envelope_id(body).hex()


def is_message(body: bytes) -> bool:
    """Whether what the intake holds is a reporter message rather than a report envelope."""
    return body[: len(MAGIC)] == MAGIC


@dataclass(frozen=True, slots=True)
class MessageParts:
    """A reporter message cut at its fields (nothing opened)."""

    epoch: int
    key_id: bytes
    signing_key: bytes
    signature: bytes
    sealed: bytes = field(repr=False)

    @property
    def signed_bytes(self) -> bytes:
        header = HEADER.pack(MAGIC, VERSION, self.epoch, self.key_id)
        return SIGNED_PURPOSE + header + self.signing_key + self.sealed


def parse(body: bytes) -> MessageParts:
    """Cut a message at its fields, checking its size and padding; :class:`MessageRefused`."""
    if len(body) > MAX_MESSAGE:
        raise MessageRefused("too-large", "That message is longer than any message can be.")
    if len(body) < HEADER_BYTES or not is_message(body):
        raise MessageRefused("malformed", "That is not a reporter message.")
    _, version, epoch, key_id = HEADER.unpack_from(body)
    if version != VERSION:
        raise MessageRefused("malformed", f"That message uses format version {version}.")
    padded = len(body) - PREFIX_BYTES - _crypto.SEAL_OVERHEAD
    if len(body) < MIN_MESSAGE or padded_length(padded) != padded:
        if _unsigned(len(body)):
            raise MessageRefused("bad-signature", "That message is not signed.")
        raise MessageRefused("malformed", "That message is not padded as messages are.")
    key_at = HEADER_BYTES
    sig_at = key_at + SIGNING_KEY_BYTES
    return MessageParts(
        epoch,
        bytes(key_id),
        body[key_at:sig_at],
        body[sig_at:PREFIX_BYTES],
        body[PREFIX_BYTES:],
    )


def _unsigned(length: int) -> bool:
    """Whether a message of this length would be well formed but for its signature, or its
    signing key and signature, left out: an unsigned message (no length is both that and a
    signed one, as padded lengths are at least 128 bytes apart)."""
    for left_out in (SIGNATURE_BYTES, SIGNING_KEY_BYTES + SIGNATURE_BYTES):
        padded = length + left_out - PREFIX_BYTES - _crypto.SEAL_OVERHEAD
        if MIN_PADDED <= padded <= MAX_PADDED and padded_length(padded) == padded:
            return True
    return False


def check_signed(body: bytes) -> MessageParts:
    """What the intake checks before relaying: the shape, and that the signature holds for
    the signing key the message carries. (Only the vault can tell whether that key is the
    reporter's: the report that names it is sealed.)"""
    parts = parse(body)
    try:
        _crypto.verify(parts.signature, parts.signed_bytes, parts.signing_key)
    except _crypto.OpenFailed:
        raise MessageRefused("bad-signature", "That message's signature does not check.") from None
    return parts


def message_json(
    kind: Kind, text: str | None = None, sent: str | None = None, after: int = 0
) -> bytes:
    """The canonical message JSON, before padding (``sent``: today, UTC, unless given;
    ``after``: how many replies the reporter had read when they wrote it)."""
    if sent is None:
        sent = datetime.now(UTC).date().isoformat()
    body: dict[str, object] = {"v": 1, "kind": kind, "sent": sent, "after": after}
    if kind == "answer":
        if text is None:
            raise UsageError("An answer needs its text.")
        body["text"] = text
    return canonical_json(body)


def seal_message(
    kind: Kind,
    text: str | None,
    signing_seed: _crypto.SecretBytes,
    epoch: int,
    team_public_key: bytes,
    sent: str | None = None,
    after: int = 0,
) -> bytes:
    """Seal and sign a message as the replies page does (the reference for ``docs/format.md``
    and the tests; the vault itself never holds a codename)."""
    padded = pad(message_json(kind, text, sent, after))
    if len(padded) > MAX_PADDED:
        raise UsageError("That message is too long.")
    header = HEADER.pack(MAGIC, VERSION, epoch, team_key_id(team_public_key))
    signing_key = _crypto.sign_public_from_seed(signing_seed)
    sealed = _crypto.seal(padded, team_public_key)
    signature = _crypto.sign(SIGNED_PURPOSE + header + signing_key + sealed, signing_seed)
    return header + signing_key + signature + sealed


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    kind: str
    text: str | None = field(repr=False)
    sent: str = ""  # the day, UTC
    after: int = 0  # how many replies the reporter had read


def open_message(
    parts: MessageParts, team_public_key: bytes, team_secret_key: _crypto.SecretBytes
) -> OpenedMessage:
    """Open a message's sealed part and validate what is inside; :class:`ForgedMessageError`."""
    damaged = ForgedMessageError("A reporter message is damaged inside; it was refused.")
    try:
        padded = _crypto.seal_open(parts.sealed, team_public_key, team_secret_key)
        doc = json.loads(unpad(padded))
    except (_crypto.OpenFailed, EnvelopeError, ValueError, RecursionError):
        raise damaged from None
    if not isinstance(doc, dict) or doc.get("v") != 1 or type(doc.get("v")) is not int:
        raise damaged
    kind, sent, after = doc.get("kind"), doc.get("sent"), doc.get("after")
    if not isinstance(sent, str) or not _SENT.fullmatch(sent):
        raise damaged
    if type(after) is not int or not 0 <= after <= MAX_AFTER:
        raise damaged
    if kind == "withdrawal" and set(doc) == {"v", "kind", "sent", "after"}:
        return OpenedMessage("withdrawal", None, sent, after)
    text = doc.get("text")
    if (
        kind == "answer"
        and set(doc) == {"v", "kind", "sent", "after", "text"}
        and isinstance(text, str)
        and text.strip()
        and len(text) <= MAX_TEXT
    ):
        return OpenedMessage("answer", text, sent, after)
    raise damaged


# --- the vault's side: taking messages in on a pull ------------------------------------------


@dataclass(slots=True)
class TakenMessages:
    """What a pull did with the reporter messages it found."""

    answers: int = 0
    withdrawals: int = 0
    duplicates: int = 0
    refused: list[tuple[str, VaultError]] = field(default_factory=list)  # (label, why)
    held: list[str] = field(default_factory=list)  # hex ids the intake may delete
    # left on the intake: for a case a colleague's laptop holds and this one does not yet
    for_colleagues: int = 0


# A message for a case this laptop does not hold, on a team's laptop, is left on the intake
# for the laptop that took the report in (it has not synced yet) while it is this many days
# old or less; older, it is refused as on a single laptop (docs/sync.md, section 4).
WAIT_FOR_COLLEAGUES_DAYS = 30


class _ForColleagues(Exception):
    """A message to leave on the intake for a colleague's laptop."""


def take_pulled(
    vault: Vault, messages: Iterable[bytes], arrived: Mapping[str, str] | None = None
) -> TakenMessages:
    """Take pulled messages into their cases, in one transaction.

    Each is checked (shape, signature, a case whose report carries its signing key, what is
    inside); the good ones are stored as they arrived (signed, sealed) and recorded, in the
    order their reporters sent them, as ``reporter-message`` actions on each case whose
    reporter signed them. A refused one is counted with its reason and not kept. Every one
    may then be deleted from the intake, except those left for a colleague's laptop
    (:func:`left_for_colleagues`; ``arrived``: the day each arrived on the intake, by
    message id, as the pull gave it).
    """
    result = TakenMessages()
    arrived = arrived or {}
    with vault.transaction() as db:
        _index_cases(vault, db)
        good: list[tuple[str, str, bytes, list[str], OpenedMessage]] = []
        for body in messages:
            label = message_id(body)
            result.held.append(label)
            try:
                cases, opened = _check(vault, db, body, arrived.get(label))
            except _ForColleagues:
                result.held.pop()  # not acknowledged: the intake keeps it
                result.for_colleagues += 1
                continue
            except VaultError as why:
                result.refused.append((f"reporter message {label[:12]}", why))
                continue
            good.append((opened.sent, label, body, cases, opened))
        # in the order sent, as far as a day and the replies read tell; then an answer before
        # a withdrawal (no precise time is kept: docs/format.md)
        ordered = sorted(good, key=lambda g: (g[0], g[4].after, g[4].kind != "answer", g[1]))
        for _, label, body, cases, opened in ordered:
            for case_id in cases:
                held = db.execute(
                    "SELECT 1 FROM reporter_messages WHERE id = ? AND case_id = ?",
                    (label, case_id),
                ).fetchone()
                if held is not None:
                    result.duplicates += 1
                    continue
                event = vault.record(
                    db, case_id, "reporter-message", {"kind": opened.kind, "message": label}
                )
                db.execute(
                    "INSERT INTO reporter_messages (id, case_id, event_id, kind, message)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (label, case_id, event.id, opened.kind, body),
                )
                if opened.kind == "answer":
                    result.answers += 1
                else:
                    result.withdrawals += 1
    return result


def left_for_colleagues(vault: Vault, body: bytes, arrived: str | None = None) -> bool:
    """Whether a pulled message is one to leave on the intake for a colleague's laptop (see
    :data:`WAIT_FOR_COLLEAGUES_DAYS`, counted from ``arrived``, the day the intake says it
    arrived): asked before it is held for :func:`take_pulled`, so that such messages
    (anyone can make them) never take a pull's budget from real ones."""
    if not team_clock.is_syncing(vault.db):
        return False  # a laptop of no team: nothing to ask, nothing opened
    try:
        parts = check_signed(body)
    except MessageRefused:
        return False  # refused by take_pulled, with its reason
    with vault.transaction() as db:
        _index_cases(vault, db)
        held = db.execute(
            "SELECT 1 FROM codename_keys WHERE signing_key = ?", (parts.signing_key,)
        ).fetchone()
    return held is None and _recent(vault, parts, arrived)


def _check(
    vault: Vault, db: dbmod.Connection, body: bytes, arrived: str | None
) -> tuple[list[str], OpenedMessage]:
    """The cases a message belongs to, and what it says; or why it is refused."""
    try:
        parts = check_signed(body)
    except MessageRefused:
        raise ForgedMessageError(
            "A reporter message is damaged or its signature does not check; it was refused."
        ) from None
    cases = [
        str(c)
        for (c,) in db.execute(
            "SELECT case_id FROM codename_keys WHERE signing_key = ? ORDER BY case_id",
            (parts.signing_key,),
        )
    ]
    if not cases:
        if team_clock.is_syncing(db) and _recent(vault, parts, arrived):
            raise _ForColleagues
        raise UnknownReporterError(
            "A reporter message is signed by a codename no case in this vault has"
            " (a forgery, a report this vault does not hold, or one since erased); it was refused."
        )
    return cases, _open(vault, parts)


def _open(vault: Vault, parts: MessageParts) -> OpenedMessage:
    team = vault.team_key(parts.epoch)
    if team_key_id(team.public_key) != parts.key_id:
        raise ForgedMessageError("A reporter message names a team key this vault does not hold.")
    return open_message(parts, team.public_key, team.secret_key)


def _recent(vault: Vault, parts: MessageParts, arrived: str | None) -> bool:
    """Whether a message for a case this laptop does not hold is sound (sealed to a team key
    it holds) and came recently enough to wait on the intake for a colleague's laptop:
    counted from the day it arrived on the intake (``arrived``, ``YYYY-MM-DD``), or, from an
    intake that does not say it, from the day the reporter's phone wrote into it."""
    try:
        sent = date.fromisoformat(_open(vault, parts).sent[:10])
    except (VaultError, ValueError):
        return False  # refused as unknown, as before
    came = _day(arrived) or sent
    return (datetime.now(UTC).date() - came).days <= WAIT_FOR_COLLEAGUES_DAYS


def _day(text: object) -> date | None:
    """A day as the intake gives it (``YYYY-MM-DD``), or None if it gives none (or not so)."""
    if not isinstance(text, str) or not _SENT.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _index_cases(vault: Vault, db: dbmod.Connection) -> None:
    """Note the codename signing key of every case not yet noted (opening each report once)."""
    rows = db.execute(
        "SELECT id, envelope, epoch FROM cases WHERE id NOT IN (SELECT case_id FROM codename_keys)"
    ).fetchall()
    for case_id, envelope, epoch in rows:
        key = None
        try:
            team = vault.team_key(int(epoch))
            report = open_report(bytes(envelope), team.public_key, team.secret_key)
            if report.reply_signing_key is not None:
                key = base64.b64decode(report.reply_signing_key, validate=True)
        except (VaultError, TypeError, ValueError, binascii.Error):
            key = None  # unreadable (or erased): it cannot take messages
        db.execute(
            "INSERT INTO codename_keys (case_id, signing_key) VALUES (?, ?)", (str(case_id), key)
        )


# --- reading them back: the conversation on a case ------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationEntry:
    """One turn of the conversation with a reporter: a caseworker's reply or their message."""

    speaker: Literal["caseworker", "reporter"]
    kind: str  # "reply", "answer" or "withdrawal"
    author: str | None  # the caseworker, for a reply
    text: str | None = field(repr=False)
    at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.speaker,
            "kind": self.kind,
            "author": self.author,
            "text": self.text,
            "at": self.at,
        }


def reporter_said(vault: Vault, event: Event) -> ConversationEntry:
    """A ``reporter-message`` event opened: what the reporter asked or answered."""
    row = vault.db.execute(
        "SELECT message FROM reporter_messages WHERE id = ? AND case_id = ?",
        (str(event.data["message"]), event.case),
    ).fetchone()
    if row is None:
        raise IntegrityError("A reporter message of this case is missing.")
    body = bytes(row[0])
    if message_id(body) != event.data["message"]:
        raise IntegrityError("A reporter message of this case has been changed.")
    parts = parse(body)
    team = vault.team_key(parts.epoch)
    opened = open_message(parts, team.public_key, team.secret_key)
    if opened.kind != event.data["kind"]:
        raise IntegrityError("A reporter message of this case has been changed.")
    return ConversationEntry("reporter", opened.kind, None, opened.text, event.at)


def withdrawals_asked(vault: Vault) -> set[str]:
    """The cases whose reporter has asked for withdrawal (nothing is opened)."""
    return {
        str(c)
        for (c,) in vault.db.execute(
            "SELECT DISTINCT case_id FROM reporter_messages WHERE kind = 'withdrawal'"
        )
    }


# --- erasure -----------------------------------------------------------------------------


@contextmanager
def _writing(vault: Vault) -> Iterator[dbmod.Connection]:
    """The erase transaction when inside one; else a transaction of its own."""
    if vault.db.in_transaction:
        yield vault.db
    else:
        with vault.transaction() as db:
            yield db


def before_erase(vault: Vault, case_id: str, reason: str) -> None:
    """Queue a last reply, status ``erased``, to the reporter's mailbox (if they took a
    codename), kept apart from the case so it is delivered on the next pull after the case's
    rows are gone. The reason ``withdrawn`` says it was done as they asked. Call it inside
    the erase transaction, while the case's report is still there (outside one, it makes its
    own). A report that no longer opens sends nothing: the codename's key is inside it."""
    from vault.replies import UnusableReplyKeyError, mailbox_id, reply_public_key, seal_reply
    from vault.store import today

    with _writing(vault) as db:
        row = db.execute("SELECT envelope, epoch FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None or row[0] is None:
            return
        try:
            team = vault.team_key(int(row[1]))
            report = open_report(bytes(row[0]), team.public_key, team.secret_key)
        except VaultError:  # a damaged report is erased all the same; its codename went with it
            return
        if report.reply_key is None:
            return
        reply_pk = reply_public_key(report.reply_key)
        text = ERASED_TEXT["withdrawn" if reason == "withdrawn" else None]
        try:
            sealed = seal_reply(text, today(), "erased", reply_pk)
        except UnusableReplyKeyError:
            return
        db.execute(
            "INSERT INTO farewells (mailbox, body) VALUES (?, ?)", (mailbox_id(reply_pk), sealed)
        )


def erase_case_rows(vault: Vault, case_id: str) -> None:
    """Delete the reporter's messages and the noted codename signing key of a case that is
    being erased (an eraser for :func:`vault.erasure.register_eraser`: it runs inside the
    erase transaction, before the case's own rows go, so that the codename can no longer
    reach the case)."""
    with _writing(vault) as db:
        db.execute("DELETE FROM reporter_messages WHERE case_id = ?", (case_id,))
        db.execute("DELETE FROM codename_keys WHERE case_id = ?", (case_id,))


@dataclass(frozen=True, slots=True)
class QueuedFarewell:
    """The last reply to a reporter whose case was erased, waiting for the next pull."""

    id: int
    mailbox: str
    body: bytes = field(repr=False)


def queued_farewells(vault: Vault) -> list[QueuedFarewell]:
    return [
        QueuedFarewell(int(i), str(m), bytes(b))
        for i, m, b in vault.db.execute(
            "SELECT rowid, mailbox, body FROM farewells WHERE delivered = 0 ORDER BY rowid"
        )
    ]


def mark_farewells_delivered(vault: Vault, ids: Iterable[int]) -> None:
    """Delivered: the vault keeps nothing of them (the mailbox id links no more to a case)."""
    with vault.transaction() as db:
        db.executemany("DELETE FROM farewells WHERE rowid = ?", [(i,) for i in ids])


erasure.register_notice(before_erase)
erasure.register_eraser(20, erase_case_rows)
