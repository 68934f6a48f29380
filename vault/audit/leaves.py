"""One entry of the access log: who did what to which case, when. Never what the case says.

A leaf is one line of ASCII, seven fields separated by single spaces::

    redress-log/1 2026-11-24T09:15:02Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - 9c0e…(64 hex)

1. the format version, ``redress-log/1``;
2. the time, UTC, to the second;
3. the acting caseworker's key id (16 hex digits);
4. the action (the table in :mod:`vault.audit.entries`);
5. the case id (8 characters of Crockford base32), or ``-``;
6. a detail: the new status, the outcome, an attachment's number, a key id or
   an epoch; or ``-``;
7. a commitment: 64 hex digits of SHA-256, or ``-``. For a note or reply it is
   the hash of the text as sealed to the team key (binding the text without
   revealing it); for an import, the envelope id; for a caseworker or auditor
   being added, the hash of their name, a newline and their key
   (:func:`member_commitment`); for a witness, the hash of its vkey line.

Exactly one encoding exists for each leaf, so a leaf's hash identifies it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vault.audit.entries import CASE_ACTIONS as CASE_ACTIONS
from vault.audit.entries import VAULT_ACTIONS as VAULT_ACTIONS

VERSION = "redress-log/1"
ACTIONS = frozenset(CASE_ACTIONS + VAULT_ACTIONS)

TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
ACTOR = re.compile(r"[0-9a-f]{16}")
CASE = re.compile(r"[0-9A-HJKMNP-TV-Z]{8}|-")
DETAIL = re.compile(r"[a-z0-9][a-z0-9-]{0,63}|-")
COMMIT = re.compile(r"[0-9a-f]{64}|-")
# Every line of a block of leaves, its six fields after the version captured: the same
# rules as above, for checking a million entries in one pass (vault/audit/verify.py).
LINES = re.compile(
    (
        f"^{re.escape(VERSION)} ({TIME.pattern}) ({ACTOR.pattern}) ([a-z-]+)"
        f" ({CASE.pattern}) ({DETAIL.pattern}) ({COMMIT.pattern})$"
    ).encode("ascii"),
    re.MULTILINE,
)


def member_commitment(name: str, public_key: bytes | str) -> bytes:
    """What a ``caseworker-added`` or ``auditor-added`` entry commits to: the name and the key.

    (A caseworker's key is their Ed25519 public key; an auditor's is their vkey line.) The
    bundle lists names in clear beside the keys; this binds each name to its key.
    """
    key = public_key.encode() if isinstance(public_key, str) else public_key
    return name.encode() + b"\n" + key


class LeafError(ValueError):
    """A log entry is not in the expected form."""


@dataclass(frozen=True, slots=True)
class Leaf:
    at: str
    actor: str
    action: str
    case: str | None = None
    detail: str | None = None
    commit: str | None = None

    def __post_init__(self) -> None:
        check_fields(
            self.at,
            self.actor,
            self.action,
            self.case or "-",
            self.detail or "-",
            self.commit or "-",
        )

    def encode(self) -> bytes:
        return " ".join(
            (
                VERSION,
                self.at,
                self.actor,
                self.action,
                self.case or "-",
                self.detail or "-",
                self.commit or "-",
            )
        ).encode("ascii")


def encode_leaf(
    at: str, actor: str, action: str, case: str | None, detail: str | None, commit: str | None
) -> bytes:
    """The one encoding of an entry, checked by one match against the rules of :class:`Leaf`.

    The fast way to write an entry (the vault writes one per action, thousands per import);
    :class:`Leaf` checks field by field to say which one is wrong.
    """
    case = case or "-"
    line = f"{VERSION} {at} {actor} {action} {case} {detail or '-'} {commit or '-'}"
    try:
        data = line.encode("ascii")
    except UnicodeEncodeError:
        raise LeafError("a log entry is not ASCII") from None
    if (
        LINES.fullmatch(data) is None
        or action not in ACTIONS
        or (action in CASE_ACTIONS) != (case != "-")
    ):
        raise LeafError("a log entry is not in the redress-log/1 form")
    return data


def check_fields(at: str, actor: str, action: str, case: str, detail: str, commit: str) -> None:
    if not TIME.fullmatch(at):
        raise LeafError("the time is not in the expected form")
    if not ACTOR.fullmatch(actor):
        raise LeafError("the actor is not a caseworker key id")
    if action not in ACTIONS:
        raise LeafError(f"'{action}' is not a known action")
    if not CASE.fullmatch(case):
        raise LeafError("the case is not a case id")
    if (action in CASE_ACTIONS) != (case != "-"):
        raise LeafError("a case action names its case, and only a case action does")
    if not DETAIL.fullmatch(detail):
        raise LeafError("the detail is not in the expected form")
    if not COMMIT.fullmatch(commit):
        raise LeafError("the commitment is not a SHA-256 hash")


def parse_leaf(data: bytes) -> Leaf:
    try:
        fields = data.decode("ascii").split(" ")
    except UnicodeDecodeError:
        raise LeafError("a log entry is not ASCII") from None
    if len(fields) != 7 or fields[0] != VERSION:
        raise LeafError("a log entry is not in the redress-log/1 form")
    _, at, actor, action, case, detail, commit = fields
    return Leaf(
        at,
        actor,
        action,
        None if case == "-" else case,
        None if detail == "-" else detail,
        None if commit == "-" else commit,
    )
