"""Coarse places and months for safety alerts (vault/areas.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vault.areas import POSTCODE_AREAS, area_of, month_of, month_words, parse_month


def test_a_postcode_or_a_known_town_gives_the_town() -> None:
    assert area_of("Headingley, Leeds LS6 2QR") == "Leeds"
    assert area_of("flat 3, 12 Acacia Road, m14 5tq") == "Manchester"
    assert area_of("near the station in SW9") == "London"
    assert area_of("outside the clinic in Bristol") == "Bristol"
    assert area_of("somewhere in Newcastle upon Tyne") == "Newcastle upon Tyne"


def test_a_place_that_cannot_be_told_gives_nothing_rather_than_the_reporters_words() -> None:
    assert area_of(None) is None
    assert area_of("the hostel on Mill Lane") is None


def test_a_month_is_kept_and_the_day_dropped() -> None:
    assert month_of("2026-03-14") == "2026-03"
    assert month_of("on 14/03/2026 at night") == "2026-03"
    assert month_of("3rd March 2026") == "2026-03"
    assert month_of("Sept 2025") == "2025-09"
    assert month_of("last week") is None
    assert month_of(None) is None


@given(year=st.integers(1990, 2099), month=st.integers(1, 12))
def test_a_month_written_either_way_reads_back(year: int, month: int) -> None:
    iso = f"{year:04d}-{month:02d}"
    assert parse_month(iso) == iso
    assert parse_month(month_words(iso)) == iso
    assert month_of(f"{year:04d}-{month:02d}-28") == iso


def test_a_day_is_not_a_month() -> None:
    assert parse_month("2026-03-14") is None
    assert parse_month("14 March 2026") is None
    assert parse_month("2026-13") is None
    assert month_words(None) == "not given"


def test_every_postcode_area_is_one_or_two_capitals() -> None:
    assert all(1 <= len(a) <= 2 and a.isalpha() and a.isupper() for a in POSTCODE_AREAS)
    assert len(POSTCODE_AREAS) >= 120
