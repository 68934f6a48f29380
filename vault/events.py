"""Signed case events: the one record of everything done to a case.

An event body is canonical JSON (sorted keys, no spaces, UTF-8)::

    {"actor": <caseworker key id>, "at": "YYYY-MM-DDTHH:MM:SSZ", "case": <case id>,
     "data": {...}, "id": <32 hex>, "kind": <kind>, "v": 1}

signed with Ed25519 over ``"redress event v1" || 0x00 || body``. Any text in
``data`` (a note, a reply) is sealed to the team key, never in clear.

Events made once laptops sync (format 2) add what places them in the team's order
(:mod:`vault.case_merge`)::

    {..., "after": [<ids of the case's latest events its author had seen>],
     "hlc": [<milliseconds>, <counter>], "v": 2}

``hlc`` is the author's hybrid logical clock (:mod:`vault.clock`); ``after`` is sorted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vault import _crypto
from vault.clock import Stamp
from vault.errors import IntegrityError
from vault.keys import Identity
from vault.report import canonical_json

EVENT_SIGNATURE_CONTEXT = b"redress event v1\x00"
MAX_AFTER = 64  # more concurrent heads than this in one case is not a real team's work


_last_second: tuple[int, str] = (-1, "")


def now_to_the_second() -> str:
    """The UTC time to the second, ``YYYY-MM-DDTHH:MM:SSZ`` (formatted once per second)."""
    global _last_second
    second = int(time.time())
    if second != _last_second[0]:
        _last_second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _last_second[1]


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    case: str
    kind: str
    actor: str
    at: str
    data: dict[str, Any]
    stamp: Stamp | None = None  # format 2: the author's clock
    after: tuple[str, ...] = ()  # format 2: the case's latest events the author had seen

    def body(self) -> bytes:
        doc: dict[str, Any] = {
            "v": 1,
            "id": self.id,
            "case": self.case,
            "kind": self.kind,
            "actor": self.actor,
            "at": self.at,
            "data": self.data,
        }
        if self.stamp is not None:
            doc |= {"v": 2, "hlc": self.stamp.to_json(), "after": sorted(self.after)}
        return canonical_json(doc)

    @classmethod
    def new(
        cls,
        case: str,
        kind: str,
        actor: Identity,
        data: dict[str, Any],
        at: str | None = None,
        *,
        stamp: Stamp | None = None,
        after: tuple[str, ...] = (),
    ) -> Event:
        return cls(
            id=_crypto.random_bytes(16).hex(),
            case=case,
            kind=kind,
            actor=actor.key_id,
            at=at or now_to_the_second(),
            data=data,
            stamp=stamp,
            after=tuple(sorted(after)),
        )


@dataclass(frozen=True, slots=True)
class SignedEvent:
    event: Event
    body: bytes
    signature: bytes


def sign_event(event: Event, identity: Identity) -> SignedEvent:
    body = event.body()
    return SignedEvent(event, body, identity.sign(EVENT_SIGNATURE_CONTEXT + body))


def parse_event(body: bytes, doc: Any = None) -> Event:
    """An event from its stored bytes (``doc``: ``json.loads(body)``, when the caller has
    it already; it must come from ``body``, as the canonical form check below makes sure)."""
    try:
        if doc is None:
            doc = json.loads(body)
        version = doc["v"]
        if type(version) is not int or version not in (1, 2) or canonical_json(doc) != body:
            raise ValueError
        fields = {"v", "id", "case", "kind", "actor", "at", "data"}
        stamp, after = None, ()
        if version == 2:
            fields |= {"hlc", "after"}
            stamp = Stamp.from_json(doc["hlc"])
            named = doc["after"]
            if not isinstance(named, list) or not all(isinstance(a, str) for a in named):
                raise ValueError
            if named != sorted(set(named)) or len(named) > MAX_AFTER:
                raise ValueError
            after = tuple(named)
        if set(doc) != fields:
            raise ValueError
        return Event(
            id=str(doc["id"]),
            case=str(doc["case"]),
            kind=str(doc["kind"]),
            actor=str(doc["actor"]),
            at=str(doc["at"]),
            data=dict(doc["data"]),
            stamp=stamp,
            after=after,
        )
    except (ValueError, KeyError, TypeError):
        raise IntegrityError("A case event in the vault is not in the expected form.") from None


def verify_event(body: bytes, signature: bytes, sign_pk: bytes, doc: Any = None) -> Event:
    """Check a stored event's signature, then parse it (``doc`` as :func:`parse_event`)."""
    try:
        _crypto.verify(signature, EVENT_SIGNATURE_CONTEXT + body, sign_pk)
    except _crypto.OpenFailed:
        raise IntegrityError(
            "A case event's signature does not verify: it has been changed."
        ) from None
    return parse_event(body, doc)
