"""Counts of cases for advocacy, safe to publish: ``vault stats --by F[,F]``.

Cases are counted by one or two of :data:`FIELDS`; a case counts once in each cell it falls in
(a report names one sector but may name several harms and wants, so it can fall in several
cells of those). Small counts are hidden as official statistics hide them
(:mod:`vault.suppression`, docs/statistics.md). No report is opened: the fields counted are
the triage kept beside each case (:mod:`vault.triage`). The count is recorded as one
``stats-counted`` entry in the access log: how many cases were counted, committing to the list
of which; never a count or what a report says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from itertools import combinations, product
from typing import TYPE_CHECKING, Any

from vault import suppression, triage
from vault.audit.terms import OUTCOMES, STATUSES
from vault.cases import show_id
from vault.errors import UsageError
from vault.read_through import ReadState, record_reads
from vault.report import HARMS, SECTORS, WANTS

if TYPE_CHECKING:
    from vault.store import Vault

ACTION = "stats-counted"
FIELDS = ("sector", "harm", "quarter", "status", "outcome", "wants")
MULTI = {"harm": len(HARMS), "wants": len(WANTS)}  # fields a case can have several values of
NEVER_EMPTY = {"harm"}  # every report names at least one harm; wants may be left empty
MAX_FIELDS = 2
SUPPRESSED_LABEL = "<5"  # every hidden cell, so a reader cannot tell which are larger
FOOTNOTE = (
    "<5: a count from 1 to 4, hidden; a few larger counts are hidden the same way so that"
    " none from 1 to 4 can be worked out from the others and the totals."
)
ZEROS_FOOTNOTE = "Some hidden cells may be 0, for the same reason."


def footnote(table: StatsTable) -> str:
    """What ``<5`` means in this table."""
    return f"{FOOTNOTE} {ZEROS_FOOTNOTE}" if table.zeros_hidden else FOOTNOTE


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What counting needs of one case; no free text."""

    id: str
    received: str  # YYYY-MM-DD
    status: str
    outcome: str | None
    sector: str
    harms: tuple[str, ...]
    wants: tuple[str, ...]
    research: bool

    def values(self, field: str) -> tuple[str | None, ...]:
        if field == "sector":
            return (self.sector,)
        if field == "harm":
            return self.harms
        if field == "wants":
            return self.wants
        if field == "status":
            return (self.status,)
        if field == "outcome":
            return (self.outcome,)
        return (quarter_of(self.received),)


def quarter_of(day: str) -> str:
    return f"{day[:4]}-Q{(int(day[5:7]) - 1) // 3 + 1}"


def case_facts(vault: Vault, read: dict[str, ReadState]) -> Iterator[CaseFacts]:
    """Every case's facts, from its kept triage (:mod:`vault.triage`), its status, outcome and
    day received: no report is opened. A case whose report could not be opened when its
    triage was kept is named ``damaged`` in ``read``; every other one ``read``."""
    for row in triage.rows(vault):
        if row.sector is None:
            read[row.id] = "damaged"
            continue
        read[row.id] = "read"
        yield CaseFacts(
            row.id,
            row.received,
            row.status,
            row.outcome,
            row.sector,
            row.harms,
            row.wants,
            row.research,
        )


def parse_by(text: str) -> tuple[str, ...]:
    fields = tuple(f.strip() for f in text.split(",") if f.strip())
    for f in fields:
        if f not in FIELDS:
            raise UsageError(f"'{f}' is not something stats can count by: use {', '.join(FIELDS)}.")
    if not fields or len(fields) > MAX_FIELDS or len(set(fields)) != len(fields):
        raise UsageError("Count by one or two different fields, e.g. --by sector,harm.")
    return fields


def parse_day(text: str | None, option: str) -> str | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise UsageError(f"{option} {text} is not a date: write it as YYYY-MM-DD.") from None


@dataclass(frozen=True, slots=True)
class Cell:
    values: tuple[str | None, ...]
    count: int | None  # None when hidden
    state: int  # suppression.PUBLISHED, PRIMARY or SECONDARY

    @property
    def suppressed(self) -> bool:
        return self.state != suppression.PUBLISHED

    @property
    def label(self) -> str:
        return SUPPRESSED_LABEL if self.suppressed else str(self.count)


@dataclass(frozen=True, slots=True)
class StatsTable:
    by: tuple[str, ...]
    axes: tuple[tuple[str | None, ...], ...]  # the values of each field, in order
    cells: tuple[Cell, ...]  # row-major over the axes
    total: int | None  # cases counted; None when 1-4
    since: str | None
    until: str | None
    research_only: bool
    damaged: tuple[str, ...]
    zeros_hidden: bool = False  # some hidden cells may be 0 (docs/statistics.md)
    withheld: bool = False  # the total (5 or more) is hidden to protect a cell (rule 4)
    cut_short: int = 0  # solves stopped by the node limit, each hiding more (not published)

    @property
    def total_label(self) -> str:
        """The total for people: hidden when 1-4, or (rarely) withheld to protect a cell."""
        if self.withheld:
            return "a withheld number of"
        return "fewer than 5" if self.total is None else str(self.total)

    def to_json(self) -> dict[str, Any]:
        return {
            "by": list(self.by),
            "since": self.since,
            "until": self.until,
            "research_only": self.research_only,
            "cells": [
                {
                    **dict(zip(self.by, c.values, strict=True)),
                    "count": c.count,
                    "suppressed": c.suppressed,
                }
                for c in self.cells
            ],
            "total": self.total,
            "total_suppressed": self.total is None,
            "zeros_hidden": self.zeros_hidden,
            "damaged": [show_id(c) for c in self.damaged],
        }


def count(
    vault: Vault,
    by: tuple[str, ...],
    since: str | None = None,
    until: str | None = None,
    research_only: bool = False,
) -> StatsTable:
    """Count cases by ``by`` (checked with :func:`parse_by`), received between ``since`` and
    ``until`` (inclusive), only those consenting to research if asked; suppressed; logged."""
    read: dict[str, ReadState] = {}
    counted = [
        f
        for f in case_facts(vault, read)
        if (since is None or f.received >= since)
        and (until is None or f.received <= until)
        and (f.research or not research_only)
    ]
    with vault.transaction() as db:
        record_reads(vault, db, ACTION, read)
    damaged = tuple(sorted(c for c, state in read.items() if state == "damaged"))
    return tabulate(counted, by, since, until, research_only, damaged)


def axis(
    field: str, facts: list[CaseFacts], since: str | None, until: str | None
) -> tuple[str | None, ...]:
    if field == "sector":
        return SECTORS
    if field == "harm":
        return HARMS
    if field == "wants":
        return WANTS
    if field == "status":
        return STATUSES
    if field == "outcome":
        return (*OUTCOMES, None)
    days = [f.received for f in facts] + [d for d in (since, until) if d is not None]
    if not days:
        return ()
    first, last = quarter_of(min(days)), quarter_of(max(days))
    start = int(first[:4]) * 4 + int(first[-1]) - 1
    end = int(last[:4]) * 4 + int(last[-1]) - 1
    if end - start >= MAX_QUARTERS:
        raise UsageError(
            f"That is {end - start + 1} quarters from {first} to {last}: counting by quarter"
            f" covers at most {MAX_QUARTERS} (give --since and --until closer together)."
        )
    return tuple(f"{n // 4:04d}-Q{n % 4 + 1}" for n in range(start, end + 1))


MAX_QUARTERS = 400  # a hundred years: "--until 9999-12-31" is not a table anyone can read


MIN_CASES_TWO_FIELDS = 20  # fewer cases: a two-field table hides every cell (docs/statistics.md)


def tabulate(
    facts: list[CaseFacts],
    by: tuple[str, ...],
    since: str | None,
    until: str | None,
    research_only: bool,
    damaged: tuple[str, ...] = (),
    max_nodes: int = suppression.MAX_NODES,
) -> StatsTable:
    """The suppressed table of ``facts`` counted by ``by``: pure, for tests and charts.

    A table by B and A is the table by A and B turned round (the fields in :data:`FIELDS`'
    order), so the two hide the same cells. A table by status and its twin by outcome (the
    same other field, if any) are worked out together: see :data:`TWINS`. ``max_nodes``: the
    solver's node limit (:data:`suppression.MAX_NODES`; lower only in tests, to reach it)."""
    if len(by) == 2 and FIELDS.index(by[0]) > FIELDS.index(by[1]):
        turned = (by[1], by[0])
        return _turned(tabulate(facts, turned, since, until, research_only, damaged, max_nodes))
    twin = _twin(by)
    if twin is None:
        return _table(facts, by, since, until, research_only, damaged, None, max_nodes)
    # a fixed point: each table hides the cells whose twin the other hides, until neither
    # hides more; the same pair whichever of the two is asked for
    mine: set[tuple[int, int]] = set()
    theirs: set[tuple[int, int]] = set()
    while True:
        table = _table(facts, by, since, until, research_only, damaged, sorted(mine), max_nodes)
        other = _table(facts, twin, since, until, research_only, damaged, sorted(theirs), max_nodes)
        more_theirs, more_mine = _twin_cells(table, other), _twin_cells(other, table)
        if more_mine <= mine and more_theirs <= theirs:
            return table
        mine |= more_mine
        theirs |= more_theirs


# A case's outcome is null exactly when its status is not closed, so a count of closed cases
# and the count of null outcomes of the same cases add up to a number published elsewhere (the
# total, or the other field's margin): were one hidden and the other shown, a reader would
# subtract (review 13b, finding 2). Each hides what its twin hides.
TWINS = {("status", "closed"): ("outcome", None), ("outcome", None): ("status", "closed")}


def _twin(by: tuple[str, ...]) -> tuple[str, ...] | None:
    """The table whose cells give away this one's through :data:`TWINS`, if any."""
    if ("status" in by) == ("outcome" in by):
        return None  # neither, or a table by both (closed with no outcome is never a case)
    swap = {"status": "outcome", "outcome": "status"}
    return tuple(swap.get(f, f) for f in by)


def _twin_cells(source: StatsTable, target: StatsTable) -> set[tuple[int, int]]:
    """The cells of ``target`` whose twins ``source`` hides, as (row, column)."""
    where = {c.values: k for k, c in enumerate(target.cells)}
    columns = len(target.axes[-1])
    out = set()
    for c in source.cells:
        if not c.suppressed:
            continue
        values = list(c.values)
        for p, field in enumerate(source.by):
            if (field, values[p]) in TWINS:
                values[p] = TWINS[(field, values[p])][1]
                out.add(divmod(where[tuple(values)], columns))
    return out


def _table(
    facts: list[CaseFacts],
    by: tuple[str, ...],
    since: str | None,
    until: str | None,
    research_only: bool,
    damaged: tuple[str, ...] = (),
    hide: list[tuple[int, int]] | None = None,
    max_nodes: int = suppression.MAX_NODES,
) -> StatsTable:
    """:func:`tabulate` for fields in :data:`FIELDS`' order, hiding ``hide`` from the start."""
    axes = tuple(axis(f, facts, since, until) for f in by)
    index = [{v: i for i, v in enumerate(a)} for a in axes]
    shape = (len(axes[0]), len(axes[1])) if len(by) == 2 else (1, len(axes[0]))
    grid = [[0] * shape[1] for _ in range(shape[0])]
    for f in facts:
        per_field = [[index[k][v] for v in f.values(field)] for k, field in enumerate(by)]
        if len(by) == 2:
            for a, b in product(per_field[0], per_field[1]):
                grid[a][b] += 1
        else:
            for b in per_field[0]:
                grid[0][b] += 1
    total = len(facts)
    few = total < MIN_CASES_TWO_FIELDS if len(by) == 2 else total <= suppression.SMALL
    if total > 0 and few:
        # Fewer than 5 cases in all (with zeros shown, k hidden cells of at least 1 adding up
        # to at most 4 can say each is 1), or a two-field table of too few cases (tables of
        # the same few cases, read together, pin cells none pins alone): every cell hidden,
        # zeros too.
        rest = suppression.SECONDARY
        states = [[suppression.PRIMARY if 1 <= c <= suppression.SMALL else rest for c in row]
                  for row in grid]  # fmt: skip
        zeros_hidden, withheld, cut_short = True, False, 0
    else:
        if len(by) == 1:
            reader = one_field_reader(by[0], grid[0], total)
            hidden_first: list[tuple[int, int]] = []
        else:
            ones = [tabulate(facts, (f,), since, until, research_only, (), max_nodes) for f in by]
            hidden_first = _rows_hidden_there(ones, shape)
            reader = two_field_reader(facts, by, axes, grid, ones, total)
        result = suppression.suppress(grid, reader, hidden_first, hide or (), max_nodes)
        states, zeros_hidden, withheld = result.states, result.zeros_hidden, not result.safe
        cut_short = result.cut_short
        # not safe: every cell is hidden, zeros too, and a count can still be worked out with the
        # total; never seen (docs/statistics.md, rule 4), so the total is withheld as a last resort
    cells = tuple(
        Cell(
            (axes[0][i], axes[1][j]) if len(by) == 2 else (axes[0][j],),
            None if states[i][j] != suppression.PUBLISHED else grid[i][j],
            states[i][j],
        )
        for i in range(shape[0])
        for j in range(shape[1])
    )
    withheld = withheld and total > suppression.SMALL
    shown_total = None if 1 <= total <= suppression.SMALL or withheld else total
    return StatsTable(
        by,
        axes,
        cells,
        shown_total,
        since,
        until,
        research_only,
        damaged,
        zeros_hidden,
        withheld,
        cut_short,
    )


def _rows_hidden_there(ones: list[StatsTable], shape: tuple[int, int]) -> list[tuple[int, int]]:
    """The cells of the rows and columns whose margin a one-field table hides: all hidden, zeros
    too (docs/statistics.md, rule 5). Hiding only the zeros there (so that no hidden cell
    counts as "1 or more" towards that margin) left three tables of one case set able to pin
    a lone case that each hid (review 13b, finding 3)."""
    rows = [i for i, c in enumerate(ones[0].cells) if c.suppressed]
    cols = [j for j, c in enumerate(ones[1].cells) if c.suppressed]
    return [(i, j) for i in range(shape[0]) for j in range(shape[1]) if i in rows or j in cols]


def _turned(table: StatsTable) -> StatsTable:
    """The same table with its two fields the other way round."""
    rows, cols = (len(a) for a in table.axes)
    cells = tuple(
        Cell(tuple(reversed(c.values)), c.count, c.state)
        for j in range(cols)
        for c in (table.cells[i * cols + j] for i in range(rows))
    )
    by = (table.by[1], table.by[0])
    axes = (table.axes[1], table.axes[0])
    return StatsTable(
        by,
        axes,
        cells,
        table.total,
        table.since,
        table.until,
        table.research_only,
        table.damaged,
        table.zeros_hidden,
        table.withheld,
        table.cut_short,
    )


def known(n: int) -> suppression.Interval:
    """What a reader knows of a total published on its own: itself, or 1-4 if hidden."""
    return (1, suppression.SMALL) if 1 <= n <= suppression.SMALL else (n, n)


def _published(cell: Cell, table: StatsTable) -> suppression.Interval:
    """What a one-field table tells a reader of one of its cells."""
    if cell.state == suppression.PUBLISHED:
        return (cell.count or 0, cell.count or 0)
    return (0 if table.zeros_hidden else 1, suppression.BIG)


Terms = tuple[tuple[int, int], ...]


def _fact(terms: Terms, lo: int, hi: int) -> suppression.Fact:
    return (terms, (lo, hi))


def one_field_reader(field: str, counts: list[int], total: int) -> suppression.Reader:
    """A reader of a one-field table: its cells and the total. Unknowns: each cell, then the
    total. A case has one value of a single-valued field, so the cells add up to the total;
    of harms at least one (the cells add up to at least the total), of wants any; no cell
    exceeds the total. Exact: any cells meeting these are the counts of some set of cases."""
    k = len(counts)
    n = k  # the total's unknown
    facts: list[suppression.Fact] = []
    every = tuple((v, 1) for v in range(k))
    if field not in MULTI:
        facts.append(_fact((*every, (n, -1)), 0, 0))
    else:
        if field in NEVER_EMPTY:
            facts.append(_fact((*every, (n, -1)), 0, suppression.BIG))
        facts += [_fact(((v, 1), (n, -1)), -suppression.BIG, 0) for v in range(k)]
    bounds = ((0, suppression.BIG),) * k + (known(total),)
    return suppression.Reader(
        bounds,
        tuple(facts),
        (tuple((v,) for v in range(k)),),
        ((known(total)[1],) * k,),
        (*counts, total),
    )


def two_field_reader(
    facts: list[CaseFacts],
    by: tuple[str, ...],
    axes: tuple[tuple[str | None, ...], ...],
    grid: list[list[int]],
    ones: list[StatsTable],
    total: int,
) -> suppression.Reader:
    """A reader of a table by A and B who also holds ``--by A`` and ``--by B`` of the same
    cases and the total (docs/statistics.md, "the reader"). Each margin the one-field tables
    hide must stay hidden here: it is a guard."""
    if all(f in MULTI for f in by):
        return _kinds_reader(facts, by, axes, grid, ones, total)
    a, b = by
    n_a, n_b = len(axes[0]), len(axes[1])
    x = [[i * n_b + j for j in range(n_b)] for i in range(n_a)]  # cells
    m_a = [n_a * n_b + i for i in range(n_a)]  # --by A's cells
    m_b = [n_a * n_b + n_a + j for j in range(n_b)]  # --by B's cells
    n = n_a * n_b + n_a + n_b  # the total
    bounds = [(0, suppression.BIG)] * (n_a * n_b)
    bounds += [_published(c, ones[0]) for c in ones[0].cells]
    bounds += [_published(c, ones[1]) for c in ones[1].cells]
    bounds.append(known(total))
    rows: list[suppression.Fact] = []
    big = suppression.BIG
    # a single-valued field's margins add up to the total; a column of a table by a
    # single-valued A adds up to B's margin (each case is in one row)
    for field, margins, lines in ((a, m_a, x), (b, m_b, [list(c) for c in zip(*x, strict=True)])):
        other = m_b if margins is m_a else m_a
        if field not in MULTI:
            rows.append(_fact((*((u, 1) for u in margins), (n, -1)), 0, 0))
            # the cells over this field's values, for one value of the other field
            for k, line in enumerate(zip(*lines, strict=True)):
                rows.append(_fact((*((u, 1) for u in line), (other[k], -1)), 0, 0))
        else:
            rows += [_fact(((u, 1), (n, -1)), -big, 0) for u in margins]
            if field in NEVER_EMPTY:
                rows.append(_fact((*((u, 1) for u in margins), (n, -1)), 0, big))
    # a multi-valued B: no cell exceeds its single-valued row's cases; a row of harms adds up
    # to at least its cases (each case names one or more)
    for field, margins, lines in ((b, m_a, x), (a, m_b, [list(c) for c in zip(*x, strict=True)])):
        if field not in MULTI:
            continue
        for k, members in enumerate(lines):
            rows += [_fact(((u, 1), (margins[k], -1)), -big, 0) for u in members]
            if field in NEVER_EMPTY:
                rows.append(_fact((*((u, 1) for u in members), (margins[k], -1)), 0, big))
    truth = [c for row in grid for c in row]
    truth += [_margin(facts, a, v) for v in axes[0]] + [_margin(facts, b, v) for v in axes[1]]
    truth.append(total)
    guards = [
        suppression.Guard((m_a[i],), tuple((i, j) for j in range(n_b)))
        for i, c in enumerate(ones[0].cells)
        if c.suppressed
    ] + [
        suppression.Guard((m_b[j],), tuple((i, j) for i in range(n_a)))
        for j, c in enumerate(ones[1].cells)
        if c.suppressed
    ]
    caps = _caps(bounds[n_a * n_b : n], total, n_a, n_b)
    cells = tuple(tuple((u,) for u in row) for row in x)
    return suppression.Reader(tuple(bounds), tuple(rows), cells, caps, tuple(truth), tuple(guards))


def _caps(
    margins: list[suppression.Interval], total: int, n_a: int, n_b: int
) -> tuple[tuple[int, ...], ...]:
    """No cell exceeds the margins it is drawn from, nor the total."""
    return tuple(
        tuple(min(margins[i][1], margins[n_a + j][1], known(total)[1]) for j in range(n_b))
        for i in range(n_a)
    )


def _margin(facts: list[CaseFacts], field: str, value: str | None) -> int:
    return sum(1 for f in facts if value in f.values(field))


def _kinds_reader(
    facts: list[CaseFacts],
    by: tuple[str, ...],
    axes: tuple[tuple[str | None, ...], ...],
    grid: list[list[int]],
    ones: list[StatsTable],
    total: int,
) -> suppression.Reader:
    """Harm by wants: one unknown per kind of case (its set of harms, its set of wants), over
    the values the one-field tables do not publish as 0. Exact, where cells and margins alone
    miss facts such as "the cases without a harm number the total less that harm's"."""
    a, b = by
    allowed = [
        [k for k, c in enumerate(t.cells) if not (c.count == 0 and not c.suppressed)] for t in ones
    ]
    seen = {
        (
            tuple(k for k, v in enumerate(axes[0]) if v in f.values(a)),
            tuple(k for k, v in enumerate(axes[1]) if v in f.values(b)),
        )
        for f in facts
    }
    lows = [0 if a not in NEVER_EMPTY else 1, 0 if b not in NEVER_EMPTY else 1]
    sets = [
        [s for r in range(len(allowed[k]) + 1) for s in combinations(allowed[k], r)
         if len(s) >= lows[k] or any(kind[k] == s for kind in seen)]
        for k in range(2)
    ]  # fmt: skip
    kinds = list(product(*sets))
    n = len(kinds)  # the total
    where = {kind: u for u, kind in enumerate(kinds)}
    truth = [0] * (n + 1)
    for kind in (
        (
            tuple(k for k, v in enumerate(axes[0]) if v in f.values(a)),
            tuple(k for k, v in enumerate(axes[1]) if v in f.values(b)),
        )
        for f in facts
    ):
        truth[where[kind]] += 1
    truth[n] = total
    rows: list[suppression.Fact] = [_fact((*((u, 1) for u in range(n)), (n, -1)), 0, 0)]
    margins: list[list[suppression.Sum]] = [
        [tuple(u for u, kind in enumerate(kinds) if v in kind[k]) for v in range(len(axes[k]))]
        for k in range(2)
    ]
    for k in range(2):
        for v, c in enumerate(ones[k].cells):
            lo, hi = _published(c, ones[k])
            rows.append(_fact(tuple((u, 1) for u in margins[k][v]), lo, hi))
    cells = tuple(
        tuple(
            tuple(u for u, kind in enumerate(kinds) if i in kind[0] and j in kind[1])
            for j in range(len(axes[1]))
        )
        for i in range(len(axes[0]))
    )
    guards = [
        suppression.Guard(margins[0][i], tuple((i, j) for j in range(len(axes[1]))))
        for i, c in enumerate(ones[0].cells)
        if c.suppressed
    ] + [
        suppression.Guard(margins[1][j], tuple((i, j) for i in range(len(axes[0]))))
        for j, c in enumerate(ones[1].cells)
        if c.suppressed
    ]
    bounds = ((0, suppression.BIG),) * n + (known(total),)
    published = [_published(c, ones[0]) for c in ones[0].cells]
    published += [_published(c, ones[1]) for c in ones[1].cells]
    caps = _caps(published, total, len(axes[0]), len(axes[1]))
    return suppression.Reader(bounds, tuple(rows), cells, caps, tuple(truth), tuple(guards))
