"""The flag finder for safety alerts (vault/identifying.py): what it removes, what it flags."""

from __future__ import annotations

import hashlib
import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st
from mnemonic import Mnemonic

from tests.conftest import make_report
from tests.sealing import new_codename
from vault.identifying import (
    REMOVED,
    Flag,
    contact_candidates,
    find,
    is_codename,
    is_rare,
    overridden,
    still_holds,
)

CANARY = "QZXCANARY47"
REPORT = make_report(
    what_happened="Dr Okonkwo at Riverside Surgery told my landlord. It was near the Zephyrine"
    " laundrette, I go there on Tuesdays.",
    professional_identifier="Dr Adaeze Okonkwo, GMC 7654321",
    contact={"method": "other", "value": f"text {CANARY} on the work line"},
)
PLACES = frozenset({"leeds"})


def _find(text: str, report=REPORT):  # type: ignore[no-untyped-def]
    return find({"text": text}, report, PLACES)


def _kinds(flags: tuple[Flag, ...], state: str) -> set[str]:
    return {f.kind for f in flags if f.state == state}


def test_the_contact_is_removed_wherever_it_appears_and_always_listed() -> None:
    found = _find(f"A GP in Leeds shared her work. Reach her via {CANARY.lower()}.")
    assert CANARY.lower() not in found.fields["text"].lower()
    assert REMOVED in found.fields["text"]
    removed = [f for f in found.flags if f.state == "removed"]
    assert ("contact", CANARY.lower()) in {(f.kind, f.text) for f in removed}
    # the whole value is listed too, even where the draft did not hold it
    assert any(f.text == f"text {CANARY} on the work line" for f in removed)
    assert found.open_count == 0
    clean = _find("A GP in Leeds shared her work with her landlord in March 2026.")
    assert [f.kind for f in clean.flags] == ["contact"]  # only the always-listed contact
    assert clean.fields["text"] == "A GP in Leeds shared her work with her landlord in March 2026."


def test_contact_words_that_are_everyday_words_are_not_the_contacts_own() -> None:
    parts = contact_candidates(f"text {CANARY} on the work line")
    assert CANARY in parts
    assert not {"text", "the", "work", "line"} & set(parts)
    parts = contact_candidates("jo.smith99@example.org")
    assert set(parts) >= {"jo.smith99@example.org", "smith99"}
    assert "example" not in parts  # an everyday word, found in any draft


def test_the_contacts_number_is_found_however_it_is_spaced() -> None:
    report = make_report(contact={"method": "phone", "value": "+44 7911 123456"})
    found = _find("Call her on 07911-123-456 after work.", report)
    assert "123" not in found.fields["text"]
    assert "contact" in _kinds(found.flags, "removed")


def test_emails_phone_numbers_and_codenames_are_removed() -> None:
    codename = new_codename()
    text = (
        f"Email sam.r@example.net or ring 07700 900123 or +44 113 496 0000. Her codename is"
        f" {codename}, she said."
    )
    found = _find(text)
    out = found.fields["text"]
    for gone in ("sam.r@example.net", "900123", "496 0000"):
        assert gone not in out, gone
    # Each codename word is gone as a word, unless the text around it says that word too
    # ("ring" is a BIP39 word; "code", another, is inside "codename").
    around = set(re.findall(r"[a-z]+", text.replace(codename, "").lower()))
    for word in set(codename.split()[1:]) - around:
        assert not re.search(rf"\b{word}\b", out), word
    assert _kinds(found.flags, "removed") >= {"email", "phone", "codename"}


def test_a_codename_typed_with_capitals_commas_and_four_letter_words_is_removed() -> None:
    words = new_codename().split()
    typed = ", ".join(w[:4].upper() if n % 2 else w.capitalize() for n, w in enumerate(words))
    found = _find(f"She wrote: {typed}.")
    assert not any(w[:4].lower() in found.fields["text"].lower() for w in words[1:-1])


def test_what_a_person_must_judge_is_flagged_and_left_in() -> None:
    text = (
        "Dr Okonkwo refused her at LS6 2QR on 3rd March at 11:30pm, and on 2026-03-14."
        " Mark was there. It was by the Zephyrine laundrette. abandon ability able about above"
    )
    found = _find(text)
    assert found.fields["text"] == text  # nothing removed
    flagged = {(f.kind, f.text) for f in found.flags if f.state == "open"}
    assert ("name", "Okonkwo") in flagged
    assert ("name", "Mark") in flagged
    assert ("postcode", "LS6 2QR") in flagged
    assert ("date", "3rd March") in flagged
    assert ("date", "11:30pm") in flagged
    assert ("date", "2026-03-14") in flagged
    assert ("rare-word", "Zephyrine") in flagged or ("name", "Zephyrine") in flagged
    assert ("codename-like", "abandon ability able about above") in flagged


def test_a_month_a_town_a_role_and_everyday_words_are_not_flagged() -> None:
    for text in (
        "A GP in Leeds refused to register a Black woman in March 2026.",
        "Police officers in Leeds searched a worker and mocked her accent.",
        "A nurse at the NHS clinic told her landlord about her work.",
    ):
        assert _find(text).open_count == 0, text


def test_a_rare_word_counts_only_if_the_report_has_it() -> None:
    assert is_rare("laundrette") or is_rare("zephyrine")
    assert not is_rare("landlord")
    assert is_rare("abc123")
    found = _find("A worker near a zephyrine shop.")  # lower case: not a name; the report's word
    assert [f.kind for f in found.flags if f.state == "open"] == ["rare-word"]
    other = _find("A worker near a quixotical shop.")  # rare, but not the report's own
    assert other.open_count == 0


def test_the_professional_identifier_is_flagged_as_a_name() -> None:
    found = _find("The doctor, adaeze, gave gmc number 7654321.")
    flagged = {(f.kind, f.text) for f in found.flags if f.state == "open"}
    assert ("name", "adaeze") in flagged
    assert ("name", "7654321") in flagged


def test_overriding_turns_open_flags_only() -> None:
    flags = _find("Mark was there. Reach her via " + CANARY).flags
    after = overridden(flags)
    assert {f.state for f in after} == {"removed", "overridden"}
    assert [f.kind for f in after] == [f.kind for f in flags]


def test_still_holds_names_what_must_never_leave() -> None:
    assert still_holds(f"contact {CANARY} now", REPORT) == ["contact"]
    assert still_holds("write to a@b.org", REPORT) == ["email"]
    assert still_holds("A GP in Leeds.", REPORT) == []


def test_flags_round_trip_through_json_and_hide_their_text() -> None:
    flag = Flag("contact", CANARY, "removed")
    assert Flag.from_json(flag.to_json()) == flag
    assert CANARY not in repr(flag)


# --- properties ----------------------------------------------------------------------------

_PROSE = st.text(alphabet=string.ascii_lowercase + " .,", max_size=60)


def _codename_from(entropy: bytes) -> tuple[list[int], str]:
    """Nine codename words from 12 bytes, as the reporter's browser makes them."""
    full = int.from_bytes(entropy, "big") << 3 | hashlib.sha256(entropy).digest()[0] >> 5
    indexes = [(full >> (11 * (8 - i))) & 0x7FF for i in range(9)]
    return indexes, " ".join(Mnemonic("english").wordlist[i] for i in indexes)


@settings(max_examples=60, deadline=None)
@given(
    entropy=st.binary(min_size=12, max_size=12),
    before=_PROSE,
    after=_PROSE,
    gap=st.sampled_from([" ", "-", " - ", ", ", ".", "_", "/", "  ", "'"]),
    short=st.booleans(),
)
def test_any_codename_anywhere_is_removed(
    entropy: bytes, before: str, after: str, gap: str, short: bool
) -> None:
    # however the words are joined (the replies page shows them with hyphens), and whether
    # whole or as their first four letters
    indexes, codename = _codename_from(entropy)
    assert is_codename(indexes)
    assert not is_codename([*indexes[:8], indexes[8] ^ 1])  # the checksum is checked
    typed = gap.join(w[:4] if short else w for w in codename.split())
    found = _find(f"{before} {typed} {after}")
    out = found.fields["text"].lower()
    assert typed.lower() not in out
    assert sum(w[:4] in out for w in codename.split()) < 9
    assert "codename" in _kinds(found.flags, "removed")


@settings(max_examples=60, deadline=None)
@given(
    user=st.from_regex(r"[a-z][a-z0-9._]{0,12}[a-z0-9]", fullmatch=True),
    domain=st.from_regex(r"[a-z]{2,10}\.(org|com|co\.uk|net)", fullmatch=True),
    digits=st.from_regex(r"7[0-9]{9}", fullmatch=True),
    before=_PROSE,
)
def test_emails_and_uk_mobiles_never_survive(
    user: str, domain: str, digits: str, before: str
) -> None:
    email = f"{user}@{domain}"
    phone = f"0{digits[:4]} {digits[4:]}"
    out = _find(f"{before} write to {email} or call {phone} today").fields["text"]
    assert email not in out
    assert digits[4:] not in out


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=200))
def test_finding_again_removes_nothing_more(text: str) -> None:
    """What the finder leaves holds nothing it would remove: removal is complete in one pass."""
    once = _find(text).fields["text"]
    again = _find(once)
    assert again.fields["text"] == once
    assert [f.kind for f in again.flags if f.state == "removed"] == ["contact"]


@settings(max_examples=30, deadline=None)
@given(entropy=st.binary(min_size=12, max_size=12), name=st.sampled_from(["spanish", "portuguese"]))
def test_a_codename_in_spanish_or_portuguese_is_removed(entropy: bytes, name: str) -> None:
    # The intake gives codenames in the reporter's list (vault/intake/codename.py); typed
    # with or without accents, they are found as the English ones are.
    from vault.intake.codename import fold, words_for

    words = words_for(entropy, name)
    for typed in (" ".join(words), " ".join(fold(w) for w in words)):
        found = _find(f"Ella escribió: {typed}. Gracias")
        assert "codename" in _kinds(found.flags, "removed")
        assert sum(fold(w) in fold(found.fields["text"]) for w in words) < 9
