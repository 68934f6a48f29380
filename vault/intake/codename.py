"""Reading replies without JavaScript: the codename, read and used on the server, in memory.

With JavaScript the replies page does all of this in the browser (``static/codename.js``,
``static/replies.js``) and the codename never leaves it. Without JavaScript (or when the
browser cannot run libsodium) the reporter may post the codename to ``POST /replies``; this
module reads it exactly as the page does (``docs/intake.md`` section 7), derives the reply
key pair and mailbox id, and opens the replies waiting there. Nothing is stored or logged:
the codename, the key and the replies' text live only in this request's memory.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from datetime import date as Day  # where a field named `date` hides the type
from functools import cache
from importlib.resources import files

from vault import _crypto
from vault.envelope import unpad
from vault.errors import EnvelopeError
from vault.intake.languages import N_

WORDS = 9
ENTROPY_BYTES = 12
REPLY_KEY_PURPOSE = b"redress codename reply key v1\x00"
MAILBOX_PURPOSE = "redress mailbox id v1"
MAX_TYPED = 1000  # characters: nine words with room for spaces and punctuation
_SEPARATORS = re.compile(r"[,.;:\-\u2013\u2014_/]+")

# What the page says for each problem (as static/replies.js says them).
PROBLEMS = {
    "empty": N_("Enter your codename"),
    "count": N_(
        "Your codename has 9 words. Check you have typed them all, with a space between each."
    ),
    "word": N_(
        "We do not recognise one of the words. Check each word against the codename you wrote down."
    ),
    "checksum": N_(
        "Those words are not a codename we gave out. "
        "Check each word against the codename you wrote down."
    ),
}

# A case status, where a reply shares it, in the reporter's words (as static/replies.js).
STATUS_WORDS = {
    "new": N_("We have your report. A caseworker will read it soon."),
    "triage": N_("A caseworker is reading your report."),
    "supporting": N_("We are supporting you."),
    "referred": N_("We have passed your report to another service, to help you."),
    "closed": N_("We have finished working on your report."),
    "erased": N_("Your report has been erased from our records."),
}


@cache
def wordlist() -> tuple[str, ...]:
    path = files("mnemonic").joinpath("wordlist", "english.txt")
    words = tuple(path.read_text(encoding="utf-8").split())
    if len(words) != 2048:
        raise RuntimeError("the codename word list is damaged")
    return words


def parse(text: str) -> bytes | str:
    """The codename's 12 bytes of entropy, or the problem (a key of :data:`PROBLEMS`).

    Case, spaces, commas, full stops and hyphens do not matter, and the first four letters
    of a word are enough (BIP39 words differ in their first four)."""
    typed = _SEPARATORS.sub(" ", text.lower()).split()
    if not typed:
        return "empty"
    if len(typed) != WORDS:
        return "count"
    words = wordlist()
    by_prefix = {w[:4]: i for i, w in enumerate(words)}
    indexes = []
    for word in typed:
        i = by_prefix.get(word[:4]) if len(word) >= 4 else _index(words, word)
        if i is None:
            return "word"
        indexes.append(i)
    bits = "".join(format(i, "011b") for i in indexes)
    entropy = int(bits[:96], 2).to_bytes(ENTROPY_BYTES, "big")
    if int(bits[96:], 2) != hashlib.sha256(entropy).digest()[0] >> 5:
        return "checksum"
    return entropy


def _index(words: tuple[str, ...], word: str) -> int | None:
    try:
        return words.index(word)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A codename's mailbox id and reply key pair (the secret key only for this request)."""

    mailbox_id: bytes
    public_key: bytes
    secret_key: _crypto.SecretBytes


def mailbox(entropy: bytes) -> Mailbox:
    seed = _crypto.SecretBytes(_crypto.blake2b_256(REPLY_KEY_PURPOSE + entropy), "reply seed")
    pk, sk = _crypto.box_seed_keypair(seed)
    return Mailbox(_crypto.tagged_hash(MAILBOX_PURPOSE, pk)[:16], pk, sk)


@dataclass(frozen=True, slots=True)
class Reply:
    date: str
    text: str
    status: str | None
    can_answer: bool

    @property
    def day(self) -> Day | None:
        """The reply's date, when it has a real one (the page writes it in its language)."""
        try:
            return Day.fromisoformat(self.date)
        except ValueError:
            return None

    @property
    def heading(self) -> str:
        """As the page heads a reply: "Reply from a caseworker, 1 May 2025"."""
        try:
            day = date.fromisoformat(self.date)
        except ValueError:
            return "Reply from a caseworker"
        return f"Reply from a caseworker, {day.day} {day:%B %Y}"

    def __repr__(self) -> str:
        return f"<Reply of {self.date}: text hidden>"

    __str__ = __repr__


def open_replies(box: Mailbox, sealed: list[bytes]) -> list[Reply]:
    """The replies that open with this codename's key, oldest first; others are skipped."""
    replies = []
    for body in sealed:
        try:
            doc = json.loads(unpad(_crypto.seal_open(body, box.public_key, box.secret_key)))
        except (_crypto.OpenFailed, EnvelopeError, ValueError):
            continue
        if not isinstance(doc, dict) or doc.get("v") != 1 or not isinstance(doc.get("text"), str):
            continue
        status = doc.get("status")
        replies.append(
            Reply(
                date=str(doc.get("date", "")),
                text=doc["text"],
                status=status if isinstance(status, str) else None,
                can_answer=doc.get("can_answer") is True,
            )
        )
    return sorted(replies, key=lambda r: r.date)
