"""Search: every word, any case and accents, reports, notes and replies; one log entry naming
the cases read and which matched, never the words; damaged cases counted, never dropped."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import make_report, seal_for
from tests.sealing import codename_entropy, new_codename, reply_keypair
from vault import audit_export, incoming, replies, triage
from vault.audit.leaves import parse_leaf
from vault.audit.verify import verify
from vault.errors import UsageError
from vault.read_through import read_list
from vault.search import fold, search, search_words
from vault.store import Vault


def test_fold_ignores_case_and_accents() -> None:
    assert fold("Dr. JOSÉ Núñez") == "dr. jose nunez"
    assert fold("Straße") == "strasse"
    assert fold("ÇA VA") == fold("ça va") == "ca va"
    assert fold("ﬁle") == "file"  # compatibility forms too (NFKD)
    assert fold("Ǆ") == "dz"
    assert fold("Ελένη") == fold("ΕΛΕΝΗ") == "ελενη"


@given(st.text())
def test_fold_is_idempotent_and_leaves_no_combining_marks(text: str) -> None:
    import unicodedata

    once = fold(text)
    assert fold(once) == once
    assert not any(unicodedata.combining(c) for c in once)


def test_search_words() -> None:
    assert search_words("  Núñez   GMC ") == ("nunez", "gmc")
    assert search_words("gmc GMC") == ("gmc",)
    for empty in ("", "   ", "\t\n"):
        with pytest.raises(UsageError, match="at least one word"):
            search_words(empty)


def _import(vault: Vault, **fields: object) -> str:
    report = make_report(**fields)
    return incoming.import_envelopes(vault, [("r", seal_for(vault, report))]).imported[0]


def test_search_reads_reports_notes_and_replies(vault: Vault) -> None:
    pk, _sk = reply_keypair(codename_entropy(new_codename()))
    a = _import(vault, what_happened="Dr Núñez refused to treat me.", sector="healthcare")
    b = _import(vault, what_happened="An officer shouted.", professional_identifier="PC 4471")
    c = _import(
        vault,
        what_happened="Housing officer was rude.",
        sector="housing",
        reply_key=base64.b64encode(pk).decode(),
    )
    vault.add_note(b, "Called back: she mentioned the custody suite in Leeds.")
    replies.reply(vault, c, "We have written to the Zephyrine office for you.")

    def found(query: str, where: triage.CaseFilter | None = None) -> set[str]:
        return {m.id for m in search(vault, query, where).matches}

    assert found("nunez") == {a}
    assert found("NÚÑEZ refused") == {a}
    assert found("pc 4471") == {b}  # the professional's identifier
    assert found("custody leeds") == {b}  # a note
    assert found("officer leeds") == {b}  # one word in the report, one in a note
    assert found("zephyrine") == {c}  # a reply
    assert found("officer") == {b, c}
    assert found("officer", triage.case_filter(sector="housing")) == {c}
    assert found("riverside") == {a, b, c}  # the organisation (the same in each)
    assert found("nunez zephyrine") == set()  # every word must be in the one case
    assert found("healthcare") == set()  # the sector is not free text
    assert found("what_happened") == set()  # nor are the report's field names
    result = search(vault, "officer")
    assert result.read == 3
    assert result.damaged == []
    assert [m.id for m in result.matches] == [c, b]  # newest first, as cases list


def test_search_is_one_log_entry_naming_the_cases_and_never_the_words(
    vault: Vault, tmp_path: Path
) -> None:
    ids = [_import(vault, what_happened=f"Report number {n}.") for n in range(3)]
    _import(vault, what_happened="Zanzibar is the word.", sector="policing")
    ids.append(vault.db.execute("SELECT id FROM cases ORDER BY rowid DESC").fetchone()[0])
    size = vault.log.size()
    result = search(vault, "ZANZIBAR", triage.case_filter(sector="healthcare"))
    assert result.matches == []
    assert result.read == 3  # the filter took the three healthcare reports only
    new = list(vault.log.leaves())[size:]
    assert len(new) == 1
    leaf = parse_leaf(new[0])
    assert (leaf.action, leaf.case, leaf.detail) == ("cases-searched", None, "3")
    (text,) = vault.db.execute("SELECT cases FROM case_reads").fetchone()
    assert text == read_list(dict.fromkeys(ids[:3], "read"))
    assert leaf.commit == hashlib.sha256(text.encode()).hexdigest()

    result = search(vault, "zanzibar")
    assert [m.id for m in result.matches] == [ids[3]]
    leaf = parse_leaf(list(vault.log.leaves())[-1])
    (text,) = vault.db.execute("SELECT cases FROM case_reads ORDER BY entry DESC").fetchone()
    assert f"{ids[3]} match\n" in text
    assert leaf.detail == "4"

    # The bundle holds the entries and verifies; the word is nowhere in it.
    bundle = tmp_path / "bundle.txt"
    audit_export.write(vault, bundle)
    data = bundle.read_bytes()
    assert b"cases-searched" in data
    assert b"zanzibar" not in data.lower()
    checked = verify(data)
    assert checked.entries == vault.log.size()
    assert sum(c["cases-searched"] for c in checked.by_actor.values()) == 2


def test_a_search_that_reads_nothing_logs_nothing(vault: Vault) -> None:
    _import(vault)
    size = vault.log.size()
    assert search(vault, "anything", triage.case_filter(sector="education")).read == 0
    assert vault.log.size() == size


def test_a_damaged_case_is_counted_never_dropped(vault: Vault) -> None:
    good = _import(vault, what_happened="Quokka one.")
    bad = _import(vault, what_happened="Quokka two.")
    with vault.transaction() as db:
        envelope = bytes(
            db.execute("SELECT envelope FROM cases WHERE id = ?", (bad,)).fetchone()[0]
        )
        broken = envelope[:100] + bytes([envelope[100] ^ 1]) + envelope[101:]
        db.execute("UPDATE cases SET envelope = ? WHERE id = ?", (broken, bad))
    result = search(vault, "quokka")
    assert [m.id for m in result.matches] == [good]
    assert result.damaged == [bad]
    assert result.read == 2
    (text,) = vault.db.execute("SELECT cases FROM case_reads").fetchone()
    assert f"{bad} damaged\n" in text


_LETTERS = st.characters(
    codec="utf-8", categories=("L", "M", "N", "P", "Zs"), exclude_characters='"\\'
)


@given(
    text=st.text(_LETTERS, min_size=1, max_size=80),
    extra=st.text(_LETTERS, max_size=20),
    start=st.integers(0, 79),
    length=st.integers(1, 12),
)
def test_a_word_taken_from_a_report_always_finds_it(
    text: str, extra: str, start: int, length: int
) -> None:
    """Any stretch of a report's text, typed in any case, finds it: the quick look at the raw
    JSON never says no where reading the report would say yes."""
    from vault.search import _Matcher

    report = make_report(what_happened=(text + extra).strip() or "x", role="GP")
    data = report.canonical_json()
    folded = fold(report.what_happened)
    words = folded[start : start + length].split()
    if not words:
        return
    query = " ".join(w.upper() if w.isascii() else w for w in words)  # "ı".upper() is "I"
    matcher = _Matcher(search_words(query), lambda _d: "")
    assert matcher.matches(data, ())
    slow = _Matcher(search_words(query), lambda _d: "")
    slow.raw = None  # the slow path alone agrees
    assert slow.matches(data, ())
