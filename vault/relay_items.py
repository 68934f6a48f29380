"""What laptops send each other through the relay: sealed items, chained per laptop.

Everything one laptop sends (its case events, its access log's new entries and checkpoints,
team keys and histories for new members) travels as **items**. An item's content is sealed
before it leaves the laptop: to the team key (what every member reads) or to one member's
box key (what only they may read). The relay sees an item's author, its number, its size and
who it is for; never what is in it.

Each laptop numbers its items 1, 2, 3, ... and each names the hash of the one before, and is
signed by the laptop's owner. So a receiver can tell, without trusting the relay:

* an item **dropped** (the next one's number skips ahead);
* items **reordered** or **forked** (a number it already has with different content, or a
  ``prev`` that is not the hash of the item before).

Each of these stops sync with exit 4 and names the laptop and the item number
(:class:`RelayMisbehaved`). So does an item **replayed**: one this laptop holds that the relay
confirmed it had deleted (the relay answered the acknowledgement of the page that brought
it; ``sync_received.acked``) sent again. An item sent again before that (a sync cut off
before its acknowledgement was answered, or items a new member's welcome already covers) is
skipped, not named: an honest relay does that, and taking nothing twice is all it needs. An
item's body is canonical JSON::

    {"v": 1, "kind": "redress sync item", "origin": <log origin>, "n": N,
     "prev": <hex SHA-256 of item N-1's body, or 64 zeros for N = 1>,
     "to": "team" | <member key id>, "epoch": E, "sealed": <base64>}

signed with Ed25519 over ``"redress sync item v1" || 0x00 || body``. ``epoch`` is the team key
epoch the content is sealed to (``to`` = "team"), or 0 when it is sealed to one member.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from vault import _crypto
from vault.errors import IntegrityError
from vault.keys import Identity, b64, unb64
from vault.report import canonical_json

CONTEXT = b"redress sync item v1\x00"
KIND = "redress sync item"
FIRST_PREV = "0" * 64
TO_TEAM = "team"
MAX_ITEM = 4 * 1024 * 1024  # bytes of body; bigger content travels as a blob the item names
_ORIGIN = re.compile(r"vault\.redress/[0-9a-f]{32}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


class ItemError(IntegrityError):
    """An item that is not in the expected form, or not signed by its laptop's owner."""


class RelayMisbehaved(IntegrityError):
    """The relay dropped, replayed or reordered what a laptop sent."""


@dataclass(frozen=True, slots=True)
class Item:
    origin: str
    n: int
    prev: str
    to: str
    epoch: int
    sealed: bytes
    body: bytes
    signature: bytes

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def to_wire(self) -> bytes:
        """The signature then the body: what the relay stores and passes on."""
        return self.signature + self.body

    def __repr__(self) -> str:
        return f"<Item {self.origin} #{self.n} to {self.to}: {len(self.sealed)} sealed bytes>"


def make_item(
    author: Identity, origin: str, n: int, prev: str, to: str, epoch: int, sealed: bytes
) -> Item:
    doc = {
        "v": 1,
        "kind": KIND,
        "origin": origin,
        "n": n,
        "prev": prev,
        "to": to,
        "epoch": epoch,
        "sealed": b64(sealed),
    }
    body = canonical_json(doc)
    return parse_item(author.sign(CONTEXT + body) + body)


def parse_item(wire: bytes) -> Item:
    """An item from its wire form, checked for form only (:func:`check_signature` next)."""
    if not 64 < len(wire) <= 64 + MAX_ITEM:
        raise ItemError("An item from the relay is not in the expected form.")
    signature, body = wire[:64], wire[64:]
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict):
            raise ValueError
        if set(doc) != {"v", "kind", "origin", "n", "prev", "to", "epoch", "sealed"}:
            raise ValueError
        sealed = unb64(doc["sealed"])  # strictly base64: JSON holds its text as it is
        if not _canonical(doc, body):
            raise ValueError
        origin, n, prev, to, epoch = (doc[k] for k in ("origin", "n", "prev", "to", "epoch"))
        if (
            doc["v"] != 1
            or doc["kind"] != KIND
            or not isinstance(origin, str)
            or not _ORIGIN.fullmatch(origin)
            or type(n) is not int
            or not 0 < n < 2**53
            or not isinstance(prev, str)
            or not re.fullmatch(r"[0-9a-f]{64}", prev)
            or (n == 1) != (prev == FIRST_PREV)
            or not isinstance(to, str)
            or not (to == TO_TEAM or _KEY_ID.fullmatch(to))
            or type(epoch) is not int
            or not 0 <= epoch < 2**32
            or (to == TO_TEAM) != (epoch > 0)
        ):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise ItemError("An item from the relay is not in the expected form.") from None
    return Item(origin, n, prev, to, epoch, sealed, body, signature)


def _canonical(doc: dict[str, object], body: bytes) -> bool:
    """``canonical_json(doc) == body``, for a ``doc`` whose ``sealed`` is base64 text,
    without writing that text out again: JSON holds the base64 alphabet as it is, so the
    canonical form is that of the rest with the sealed text in its place."""
    sealed = doc["sealed"]
    if not isinstance(sealed, str):
        return False
    head, mark, tail = canonical_json({**doc, "sealed": ""}).partition(b'"sealed":""')
    if not mark or len(body) != len(head) + len(mark) + len(sealed) + len(tail):
        return False
    return body == b"".join((head, b'"sealed":"', sealed.encode("ascii"), b'"', tail))


def check_signature(item: Item, author_sign_pk: bytes) -> None:
    try:
        _crypto.verify(item.signature, CONTEXT + item.body, author_sign_pk)
    except _crypto.OpenFailed:
        raise ItemError(
            f"Item {item.n} from laptop {item.origin} is not signed by its owner."
        ) from None


@dataclass(frozen=True, slots=True)
class Received:
    """How far this laptop has one other laptop's items.

    ``n`` and ``head``: the last item stored (its number and hash). ``acked``: the last number
    the relay confirmed it deleted; it must never send again one of those this laptop holds.
    """

    n: int = 0
    head: str = FIRST_PREV
    acked: int = 0


def laptop_words(origin: str, owner: str | None = None) -> str:
    """A laptop as a sentence names it: "bea's laptop (ORIGIN)", or "laptop ORIGIN" when
    whose it is is not known."""
    return f"laptop {origin}" if owner is None else f"{owner}'s laptop ({origin})"


def check_next(
    received: Received, item: Item, held_hash: str | None = None, *, owner: str | None = None
) -> bool:
    """True if ``item`` is the next one from its laptop; False if it is one already stored.

    An item already stored but not yet acknowledged comes again after a sync was cut off:
    it must be the same item (``held_hash`` is the hash of the one stored with its number).
    Anything else is the relay misbehaving, and :class:`RelayMisbehaved` names it, with the
    laptop's ``owner`` (the caseworker whose laptop it is) when the caller knows them.
    """
    who = laptop_words(item.origin, owner)
    if item.n <= received.acked:
        raise RelayMisbehaved(
            f"The relay sent item {item.n} from {who} again, after it was acknowledged (a replay)."
        )
    if item.n <= received.n:
        if held_hash != item.hash:
            raise RelayMisbehaved(
                f"The relay sent a different item {item.n} from {who} than before: "
                "its items have been changed or forked."
            )
        return False
    if item.n > received.n + 1:
        missing = (
            f"item {received.n + 1}"
            if item.n == received.n + 2
            else f"items {received.n + 1} to {item.n - 1}"
        )
        raise RelayMisbehaved(
            f"The relay dropped {missing} from {who}, or sent them out of order.",
            hint="an item after a gap is taken once the relay sends what is missing (this sync"
            " took those it sent later on) and waits set aside until then; everything else was"
            " taken. If the next sync says the same, tell whoever runs the intake. If this vault"
            " was restored from a backup, the relay gave what it missed to the laptop before:"
            " join the team again as a new laptop (docs/sync.md section 8)",
        )
    if item.prev != received.head:
        raise RelayMisbehaved(
            f"Item {item.n} from {who} does not follow the item before it: "
            "the relay changed or reordered its items."
        )
    return True
