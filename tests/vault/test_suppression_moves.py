"""Review 13m: the moves of vault/suppression.py ("Before a solve, a move", docs/statistics.md)
checked against solving without them, and against the case-counting reader of
tests/vault/case_reader.py given the table, its one-field tables and the status/outcome twins.

A move is only a speed-up: every one is a solution of the table's program, so a table must be
the same with the moves turned off (``_Program._move`` patched to find none)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from tests.vault import case_reader
from vault import suppression
from vault.stats import CaseFacts, tabulate

STATUSES4 = ("new", "triage", "supporting", "closed")
OUTCOMES2 = ("withdrawn", "supported")


def many_quarters(seed: int, n: int, span: int) -> list[CaseFacts]:
    """Cases over ``span`` quarters, one of them busy, four statuses: the shape where the
    moves do most (quarter by status over a century is the bench's)."""
    rng = random.Random(seed)
    busy = rng.randrange(span)
    out = []
    for k in range(n):
        q = busy if rng.random() < 0.3 else rng.randrange(span)
        status = rng.choice(STATUSES4)
        out.append(CaseFacts(
            f"{k:08d}", f"{2000 + q // 4}-{(q % 4) * 3 + 1:02d}-05", status,
            rng.choice(OUTCOMES2) if status == "closed" else None,
            rng.choice(("housing", "policing")), ("violence",),
            ("support",) if k % 3 else (), False,
        ))  # fmt: skip
    return out


def skewed(seed: int, n: int) -> list[CaseFacts]:
    """One sector, harm and status far more common than the rest, so that margins of 5 or
    more are hidden beside small ones and whole rows are hidden (rule 5): the lines."""
    rng = random.Random(seed)

    def pick(xs: tuple[str, ...]) -> str:
        return rng.choices(xs, [6.0] + [1.0] * (len(xs) - 1))[0]

    out = []
    for k in range(n):
        status = pick(("supporting", "new", "closed"))
        harms = {pick(("violence", "outing", "verbal-abuse"))}
        if rng.random() < 0.3:
            harms.add(rng.choice(("outing", "verbal-abuse")))
        out.append(CaseFacts(
            f"{k:08d}", rng.choice(("2026-01-05", "2026-05-05", "2026-08-05")), status,
            pick(OUTCOMES2) if status == "closed" else None,
            pick(("housing", "policing", "healthcare")),
            tuple(h for h in ("violence", "outing", "verbal-abuse") if h in harms),
            ("support",) if rng.random() < 0.5 else (), False,
        ))  # fmt: skip
    return out


# (the review ran these and more: many_quarters(2, 90, 40) too, and 248 sets in scratch
# surveys; one of each shape here keeps the suite's time)
CASE_SETS: dict[str, Callable[[], list[CaseFacts]]] = {
    "quarters": lambda: many_quarters(1, 60, 24),
    "skewed": lambda: skewed(3, 45),
}
BYS = [("quarter", "status"), ("quarter", "outcome"), ("sector", "quarter"),
       ("sector", "harm"), ("harm", "status"), ("sector", "status")]  # fmt: skip


def twin_of(by: tuple[str, ...]) -> tuple[str, ...] | None:
    """The table by outcome for one by status, and the reverse (the same other field)."""
    if ("status" in by) == ("outcome" in by):
        return None
    swap = {"status": "outcome", "outcome": "status"}
    return tuple(swap.get(f, f) for f in by)


@pytest.fixture
def moves_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    kept = [0]
    add = suppression._Pool.add_move

    def counting(self: suppression._Pool, move: dict[int, int]) -> None:
        kept[0] += 1
        add(self, move)

    monkeypatch.setattr(suppression._Pool, "add_move", counting)
    return kept


@pytest.mark.slow
@pytest.mark.parametrize("name", CASE_SETS)
def test_tables_are_the_same_without_the_moves(
    name: str, moves_counted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    fs = CASE_SETS[name]()
    with_moves = {by: tabulate(fs, by, None, None, False).to_json() for by in BYS}
    assert moves_counted[0] > 0  # the moves were used
    monkeypatch.setattr(suppression._Program, "_move", lambda self, cell: False)
    for by in BYS:
        assert tabulate(fs, by, None, None, False).to_json() == with_moves[by], by


@pytest.mark.slow
@pytest.mark.parametrize("name", CASE_SETS)
def test_the_table_its_margins_and_twins_pin_no_hidden_count(name: str) -> None:
    """Every hidden count (of 1 to 4 and of 5 or more) a move or a solve let through: the
    case-counting reader of the table, its one-field tables and, for status or outcome, the
    twin table and its one-field tables, works out none."""
    fs = CASE_SETS[name]()
    for by in BYS:
        which = [by, *((f,) for f in by)]
        twin = twin_of(by)
        if twin is not None:
            which += [twin, *((f,) for f in twin)]
        tables = case_reader.publish(fs, list(dict.fromkeys(which)))
        reader = case_reader.CaseReader(tables, fs)
        for c in tables[by]["cells"]:
            value = case_reader.truth(fs, by, c)
            if c["count"] is None and value >= 1:
                assert not reader.pinned(by, c, value), (by, c, value)


def closed_and_open(counts: dict[tuple[str, str | None], int]) -> list[CaseFacts]:
    out = []
    for (status, outcome), n in counts.items():
        for _ in range(n):
            out.append(CaseFacts(f"{len(out):08d}", "2026-01-05", status, outcome, "housing",
                                 ("violence",), (), False))  # fmt: skip
    return out


TWIN_PINS = {
    # 1 new, 12 supporting, 11 closed (5 supported, 5 duplicate, 1 withdrawn): --by status hides
    # new and closed (11, its secondary), --by outcome hides withdrawn and null (13, the twin of
    # closed); new + closed = 12, withdrawn + null = 14, closed = 10 + withdrawn and
    # null = 12 + new, so new + withdrawn = 2: both 1 (review/twin_search.py, seed 1, try 74)
    "lone-new-and-withdrawn": {("new", None): 1, ("supporting", None): 12,
                               ("closed", "supported"): 5, ("closed", "duplicate"): 5,
                               ("closed", "withdrawn"): 1},
    # one each of new, triage, supporting and referred, 19 closed (12 supported, 6 duplicate,
    # 1 withdrawn): --by status hides every cell, --by outcome hides withdrawn and null only;
    # withdrawn + null = 5 and null = the four open statuses, each 1 or more, so null = 4 and
    # every status count is worked out, closed's 19 too (seed 3, try 393)
    "whole-status-table": {("new", None): 1, ("triage", None): 1, ("supporting", None): 1,
                           ("referred", None): 1, ("closed", "supported"): 12,
                           ("closed", "duplicate"): 6, ("closed", "withdrawn"): 1},
}  # fmt: skip


@pytest.mark.parametrize("name", TWIN_PINS)
def test_status_and_outcome_read_together_pin_no_small_count(name: str) -> None:
    """Only the two one-field tables and their (published) total, read by the case-counting
    reader, who knows that a case's outcome is null exactly when it is not closed."""
    fs = closed_and_open(TWIN_PINS[name])
    tables = case_reader.publish(fs, [("status",), ("outcome",)])
    assert tables[("status",)]["total"] == len(fs)  # the total is published
    assert case_reader.small_pins(fs, tables) == []


# 38 cases, all in housing: 26 referred, 8 supporting, 1 new, 3 closed (referred-on, withdrawn,
# duplicate). With rule 6 as it was (twins mirrored, each table its own program), --by status,
# --by outcome and their tables by sector read together pinned the lone new case, the 3
# closed, and each lone outcome, in every one of those tables (a scratch search: 1 of 300
# case sets of 20-60 cases over one to three sectors).
BY_SECTOR = {("referred", None): 26, ("supporting", None): 8, ("new", None): 1,
             ("closed", "referred-on"): 1, ("closed", "withdrawn"): 1,
             ("closed", "duplicate"): 1}  # fmt: skip


def test_status_and_outcome_by_a_second_field_pin_no_small_count() -> None:
    """The tables by sector and status, and by sector and outcome, are one program too: with
    their one-field tables, the case-counting reader works out no hidden count of 1 to 4, and
    both say the same of the closed cases whichever is asked for first."""
    fs = closed_and_open(BY_SECTOR)
    which = [("status",), ("outcome",), ("sector",), ("sector", "status"), ("sector", "outcome")]
    tables = case_reader.publish(fs, which)
    assert case_reader.small_pins(fs, tables) == []
    turned = tabulate(fs, ("status", "sector"), None, None, False).to_json()["cells"]
    assert sorted(map(repr, turned)) == sorted(
        repr({"status": c["status"], "sector": c["sector"], "count": c["count"],
              "suppressed": c["suppressed"]}) for c in tables[("sector", "status")]["cells"]
    )  # fmt: skip
    closed = [c for c in tables[("sector", "status")]["cells"] if c["status"] == "closed"]
    null = [c for c in tables[("sector", "outcome")]["cells"] if c["outcome"] is None]
    assert [c["suppressed"] for c in closed] == [c["suppressed"] for c in null]


@pytest.mark.parametrize("name", TWIN_PINS)
def test_the_table_by_status_and_outcome_publishes_what_the_two_do(name: str) -> None:
    """docs/statistics.md, rule 6: each cell of ``--by status,outcome`` that can hold a case
    is a count ``--by status`` or ``--by outcome`` gives, hidden exactly where that one hides
    it; a cell no case can be in (an open status with an outcome, closed without) is 0; read
    with the two, nothing small is worked out."""
    fs = closed_and_open(TWIN_PINS[name])
    tables = case_reader.publish(fs, [("status",), ("outcome",), ("status", "outcome")])
    one = {(by[0], c[by[0]]): c for by in [("status",), ("outcome",)] for c in tables[by]["cells"]}
    for c in tables[("status", "outcome")]["cells"]:
        if (c["status"] == "closed") == (c["outcome"] is None):
            assert (c["count"], c["suppressed"]) == (0, False), c
            continue
        source = (
            one[("status", c["status"])] if c["outcome"] is None else one[("outcome", c["outcome"])]
        )
        assert (c["count"], c["suppressed"]) == (source["count"], source["suppressed"]), c
    assert case_reader.small_pins(fs, tables) == []
