"""Search: the cases whose report, notes or replies contain every word typed.

A search opens the report (and the notes and replies) of every case its filters take, one at
a time, in memory only: nothing is written but ONE access-log entry, ``cases-searched``,
whose commitment is the list of the cases read and which matched
(:func:`vault.read_through.record_reads`). The words searched for are never logged, stored
or written anywhere.

Matching ignores case and accents: text and words are both :func:`fold`-ed (Unicode NFKD,
combining marks dropped, case folded), and a case matches when each word occurs somewhere in
its free text: the report's role, what happened, when, where, organisation, the professional's
identifier, the contact's value and the attachments' names; its notes; its replies. A word
matches inside a longer one (``gmc`` finds ``GMC1234567``).
"""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vault import triage
from vault.case_view import CaseSummary, open_sealed_text, with_withdrawals
from vault.errors import UsageError, VaultError
from vault.read_through import ReadState, open_each, record_reads

if TYPE_CHECKING:
    from vault.store import Vault

# The report's free-text fields (docs/format.md): what a search reads.
_TEXT_FIELDS = ("role", "what_happened", "when", "where", "organisation", "professional_identifier")
# Characters that JSON writes escaped: a word holding one cannot be looked for in the raw JSON.
_ESCAPED = frozenset('"\\') | frozenset(chr(c) for c in range(0x20))


def fold(text: str) -> str:
    """Text as a search compares it: NFKD, combining marks dropped, case folded.

    ``fold("Dr. JOSÉ Núñez")`` is ``"dr. jose nunez"``; ``fold("Straße")`` is ``"strasse"``.
    """
    if text.isascii():  # the common case: nothing to decompose or drop
        return text.lower()
    for _ in range(2):  # case folding can give characters that decompose again (e.g. "ǰ")
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return text


def search_words(query: str) -> tuple[str, ...]:
    """The folded words of a search; an empty one (or only spaces) is a usage error."""
    words = tuple(dict.fromkeys(fold(query).split()))
    if not words:
        raise UsageError("Say what to search for: a search needs at least one word.")
    return words


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What a search found. Holds case ids and triage only, never text."""

    matches: list[CaseSummary]  # newest first, as ``cases list`` orders them
    read: int  # cases opened
    damaged: list[str]  # ids of cases whose report (or a note) did not open: never dropped


def search(vault: Vault, query: str, where: triage.CaseFilter | None = None) -> SearchResult:
    """Open every case ``where`` takes and keep those whose text holds all of ``query``'s
    words; log the read as one ``cases-searched`` entry. See the module docstring."""
    matcher = _Matcher(
        search_words(query), lambda body: open_sealed_text(vault, json.loads(body)["data"])
    )
    condition, params = (where or triage.CaseFilter()).where()
    sealed = _sealed_texts(vault, condition, params)
    states: dict[str, ReadState] = {}
    for case_id, data in open_each(vault, condition, params):
        try:
            if data is None:
                raise VaultError("damaged")
            hit = matcher.matches(data, sealed.get(case_id, ()))
            states[case_id] = "match" if hit else "read"
        except (VaultError, ValueError, KeyError, TypeError):  # ValueError: not JSON inside
            states[case_id] = "damaged"
    with vault.transaction() as db:
        record_reads(vault, db, "cases-searched", states)
    matched = [c for c, s in states.items() if s == "match"]
    return SearchResult(
        with_withdrawals([CaseSummary.of(r) for r in triage.rows_of(vault, matched)], vault),
        len(states),
        sorted(c for c, s in states.items() if s == "damaged"),
    )


def _sealed_texts(vault: Vault, condition: str, params: list[Any]) -> dict[str, list[Any]]:
    """The sealed notes and replies (their signed events' bodies) of the cases a search reads."""
    sql = (
        "SELECT e.case_id, e.body FROM events AS e JOIN cases AS c ON c.id = e.case_id"
        " LEFT JOIN case_triage AS t ON t.case_id = c.id WHERE e.kind IN ('note', 'reply')"
    )
    if condition:
        sql += f" AND {condition}"
    texts: dict[str, list[Any]] = defaultdict(list)
    for case_id, body in vault.db.execute(sql + " ORDER BY e.seq", params):
        texts[case_id].append(bytes(body))  # parsed only if opened: bytes are the smaller
    return texts


class _Matcher:
    """Does one case's text hold every word? The report is looked at first as the raw JSON
    (a quick no for most cases), then its free text, then its notes and replies."""

    def __init__(self, words: tuple[str, ...], open_text: Callable[[Any], str]) -> None:
        self.words = words
        self.open_text = open_text  # a note's or reply's event body to its text
        # Words with no character JSON escapes can be looked for in an all-ASCII report's raw
        # JSON, lowered: if one is not there, it is in none of the report's fields.
        quick = all(w.isascii() and not _ESCAPED.intersection(w) for w in words)
        self.raw = [w.encode("ascii") for w in words] if quick else None

    def matches(self, data: bytes, notes: Sequence[Any]) -> bool:
        """``data`` is the report's JSON; ``notes`` the event bodies of its notes and replies,
        opened only if the report alone does not hold every word."""
        if self.raw is not None and not notes and data.isascii():
            low = data.lower()
            for w in self.raw:  # a loop, not all(...): this runs for every case
                if w not in low:
                    return False
        missing = [w for w in self.words if w not in fold(_free_text(json.loads(data)))]
        if not missing:
            return True
        if not notes:
            return False
        text = fold("\n".join(self.open_text(n) for n in notes))
        return all(w in text for w in missing)


def _free_text(report: dict[str, Any]) -> str:
    parts = [str(report[f]) for f in _TEXT_FIELDS if f in report]
    contact = report.get("contact")
    if contact:
        parts.append(str(contact["value"]))
    parts.extend(str(a["name"]) for a in report.get("attachments", ()))
    return "\n".join(parts)
