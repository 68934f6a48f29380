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
import unicodedata
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
_SEPARATORS = re.compile(r"[,.;:\-\u2013\u2014_/\u3001\u3002\uff0c\uff1b]+")

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


# The BIP39 lists a codename may be written in (the `mnemonic` package ships them), by the
# name of their file. The form gives a codename in the reporter's language where a standard
# list exists, English otherwise; whichever list it came from, the same 99 bits (so the same
# entropy, keys and mailbox) are meant, and it is recognised from any of them.
LISTS = ("english", "spanish", "portuguese", "chinese_simplified")
LIST_FOR_LANGUAGE = {"es": "spanish", "pt-BR": "portuguese", "zh-Hans": "chinese_simplified"}
_CJK = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff])")


def list_for(language: str) -> str:
    """The list a codename is given in, for the form in ``language``."""
    return LIST_FOR_LANGUAGE.get(language, "english")


def fold(word: str) -> str:
    """A word as typed or listed, compared: lower case, accents removed (``ábaco`` is
    ``abaco``)."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@cache
def wordlist(name: str = "english") -> tuple[str, ...]:
    """A list's 2048 words, as shown (NFC)."""
    if name not in LISTS:
        raise ValueError("not a codename word list")
    path = files("mnemonic").joinpath("wordlist", f"{name}.txt")
    words = tuple(unicodedata.normalize("NFC", w) for w in path.read_text(encoding="utf-8").split())
    if len(words) != 2048 or len({fold(w)[:4] for w in words}) != 2048:
        raise RuntimeError("the codename word list is damaged")
    return words


@cache
def _lookup(name: str) -> tuple[dict[str, int], dict[str, int]]:
    """A list's words by their folded whole form, and by their folded first four letters."""
    folded = [fold(w) for w in wordlist(name)]
    return {w: i for i, w in enumerate(folded)}, {w[:4]: i for i, w in enumerate(folded)}


def words_for(entropy: bytes, name: str = "english") -> list[str]:
    """The 9 words of a codename's entropy in one list."""
    bits = (int.from_bytes(entropy, "big") << 3) | (hashlib.sha256(entropy).digest()[0] >> 5)
    words = wordlist(name)
    return [words[(bits >> (11 * (WORDS - 1 - i))) & 0x7FF] for i in range(WORDS)]


def split_typed(text: str) -> list[str]:
    """The words typed: separators are spaces and punctuation; each Chinese character is a
    word of its own (so 9 characters typed without spaces are 9 words)."""
    return _SEPARATORS.sub(" ", _CJK.sub(r" \1 ", text)).split()


def parse(text: str, first: str = "english") -> bytes | str:
    """The codename's 12 bytes of entropy, or the problem (a key of :data:`PROBLEMS`).

    Case, accents, spaces, commas, full stops and hyphens do not matter, and the first four
    letters of a word are enough (BIP39 words differ in their first four, accents aside).
    All nine words come from one list, any of :data:`LISTS`: a list where every word is
    whole is tried first, then lists where the words are prefixes; ``first`` (the list of the
    page's language, :func:`list_for`) before the others, which keep the order of
    :data:`LISTS`; the first whose checksum holds gives the entropy."""
    typed = [fold(w) for w in split_typed(text)]
    if not typed:
        return "empty"
    if len(typed) != WORDS:
        return "count"
    candidates: list[tuple[bool, list[int]]] = []
    for name in (first, *(name for name in LISTS if name != first)) if first in LISTS else LISTS:
        whole, by_prefix = _lookup(name)
        indexes = []
        exact = True
        for word in typed:
            i = whole.get(word)
            if i is None:
                exact = False
                i = by_prefix.get(word[:4]) if len(word) >= 4 else None
            if i is None:
                break
            indexes.append(i)
        else:
            candidates.append((exact, indexes))
    if not candidates:
        return "word"
    for _, indexes in sorted(candidates, key=lambda c: not c[0]):  # stable: the order kept
        bits = "".join(format(i, "011b") for i in indexes)
        entropy = int(bits[:96], 2).to_bytes(ENTROPY_BYTES, "big")
        if int(bits[96:], 2) == hashlib.sha256(entropy).digest()[0] >> 5:
            return entropy
    return "checksum"


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
