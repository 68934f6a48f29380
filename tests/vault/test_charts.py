"""The words under a `vault stats --chart` (docs/statistics.md, "Charts"): pure, no vault."""

from __future__ import annotations

from vault import charts
from vault.stats import CaseFacts, StatsTable, tabulate


def test_a_hidden_total_starts_its_sentence_with_a_capital() -> None:
    facts = [
        CaseFacts(f"{n:08d}", "2026-03-01", "new", None, "housing", ("other",), (), False)
        for n in range(3)
    ]
    table = tabulate(facts, ("sector",), "2026-01-01", "2026-12-31", False)
    assert table.total is None
    words = charts._footnote(table)
    assert words.startswith("Received 2026-01-01 to 2026-12-31. Fewer than 5 reports.")


def _sector_by_outcome() -> StatsTable:
    outcomes = ("supported", "withdrawn", "duplicate")
    facts = [
        CaseFacts(
            f"{n:08d}",
            "2026-03-01",
            "closed" if n % 4 == 0 else "new",
            outcomes[n % 3] if n % 4 == 0 else None,
            ("housing", "policing", "healthcare")[n % 3],
            ("other",),
            (),
            False,
        )
        for n in range(40)
    ]
    return tabulate(facts, ("sector", "outcome"), None, None, False)


def test_every_series_of_a_bar_chart_has_its_own_colour() -> None:
    # The hatched marks of hidden cells took colours from the same cycle, so two outcomes
    # shared one in the legend; the nine series are C0 to C8 of matplotlib's palette.
    svg = charts.draw(_sector_by_outcome(), "svg").decode()
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
    for colour in (*palette, "#7f7f7f", "#bcbd22"):
        assert f"fill: {colour}" in svg, colour


def test_the_footnote_is_wrapped_to_stay_inside_the_chart() -> None:
    table = _sector_by_outcome()
    lines = charts.footnote_lines(table)
    assert len(lines) > len(charts._footnote(table).split("\n"))  # the rule's line was cut
    assert all(len(line) <= charts.FOOTNOTE_WIDTH for line in lines)
    assert " ".join(lines).endswith(charts._footnote(table).split("\n")[-1][-30:])
