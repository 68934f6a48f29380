"""The words under a `vault stats --chart` (docs/statistics.md, "Charts"): pure, no vault."""

from __future__ import annotations

from vault import charts
from vault.stats import CaseFacts, tabulate


def test_a_hidden_total_starts_its_sentence_with_a_capital() -> None:
    facts = [
        CaseFacts(f"{n:08d}", "2026-03-01", "new", None, "housing", ("other",), (), False)
        for n in range(3)
    ]
    table = tabulate(facts, ("sector",), "2026-01-01", "2026-12-31", False)
    assert table.total is None
    words = charts._footnote(table)
    assert words.startswith("Received 2026-01-01 to 2026-12-31. Fewer than 5 reports.")
