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
from itertools import product
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
ZEROS_FOOTNOTE = "Some zeros are hidden too, for the same reason."


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

    @property
    def total_label(self) -> str:
        """The total for people: hidden when 1-4, or (rarely) withheld to protect a cell."""
        return "fewer than 5 (or withheld)" if self.total is None else str(self.total)

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
    quarters = []
    year, q = int(first[:4]), int(first[-1])
    while (label := f"{year}-Q{q}") <= last:
        quarters.append(label)
        year, q = (year + 1, 1) if q == 4 else (year, q + 1)
    return tuple(quarters)


def tabulate(
    facts: list[CaseFacts],
    by: tuple[str, ...],
    since: str | None,
    until: str | None,
    research_only: bool,
    damaged: tuple[str, ...] = (),
) -> StatsTable:
    """The suppressed table of ``facts`` counted by ``by``: pure, for tests and charts."""
    axes = tuple(axis(f, facts, since, until) for f in by)
    index = [{v: i for i, v in enumerate(a)} for a in axes]
    shape = (len(axes[0]), len(axes[1])) if len(by) == 2 else (1, len(axes[0]))
    grid = [[0] * shape[1] for _ in range(shape[0])]
    margins = [[0] * len(a) for a in axes]
    for f in facts:
        per_field = [[index[k][v] for v in f.values(field)] for k, field in enumerate(by)]
        for k, places in enumerate(per_field):
            for p in places:
                margins[k][p] += 1
        if len(by) == 2:
            for a, b in product(per_field[0], per_field[1]):
                grid[a][b] += 1
        else:
            for b in per_field[0]:
                grid[0][b] += 1
    total = len(facts)
    total_known = known(total)
    margin_known: list[list[suppression.Interval]] = []
    if len(by) == 2:  # the margins, as the one-field tables of the same cases publish them
        ones = [tabulate(facts, (f,), since, until, research_only) for f in by]
        if any(t.total is None for t in ones) and total > suppression.SMALL:
            total_known = (0, suppression.BIG)  # withheld there, so withheld here too
        margin_known = [[_as_known(c, t, total_known) for c in t.cells] for t in ones]
    know = knowledge(by, margin_known, total_known, shape)
    result = suppression.suppress(grid, know)
    states = result.states
    zeros_hidden = result.zeros_hidden
    if 1 <= len(facts) <= suppression.SMALL:
        # Fewer than 5 cases in all: every cell is hidden, zeros too. With zeros shown, k
        # hidden cells of at least 1 adding up to at most 4 can say each is 1.
        states = [[s if s != suppression.PUBLISHED else suppression.SECONDARY for s in row]
                  for row in states]  # fmt: skip
        zeros_hidden = True
    cells = tuple(
        Cell(
            (axes[0][i], axes[1][j]) if len(by) == 2 else (axes[0][j],),
            None if states[i][j] != suppression.PUBLISHED else grid[i][j],
            states[i][j],
        )
        for i in range(shape[0])
        for j in range(shape[1])
    )
    small = 1 <= total <= suppression.SMALL
    withheld = result.total_withheld or total_known[0] != total_known[1]
    shown_total = None if small or withheld else total
    return StatsTable(
        by, axes, cells, shown_total, since, until, research_only, damaged, zeros_hidden
    )


def known(n: int) -> suppression.Interval:
    """What a reader knows of a count published on its own: itself, or 1-4 if hidden."""
    return (1, suppression.SMALL) if 1 <= n <= suppression.SMALL else (n, n)


def _as_known(cell: Cell, table: StatsTable, total: suppression.Interval) -> suppression.Interval:
    """What a one-field table tells a reader of one of its cells."""
    if cell.state == suppression.PUBLISHED:
        return (cell.count or 0, cell.count or 0)
    return (0 if table.zeros_hidden else 1, total[1])


def _sum_range(n: suppression.Interval, field: str) -> suppression.Interval:
    """The range of the sum over ``field``'s cells of a number of cases known to be in ``n``."""
    lo, hi = n
    if field not in MULTI:
        return (lo, hi)
    return (lo if field in NEVER_EMPTY else 0, min(hi * MULTI[field], suppression.BIG))


def knowledge(
    by: tuple[str, ...],
    margins: list[list[suppression.Interval]],
    total: suppression.Interval,
    shape: tuple[int, int],
) -> suppression.Knowledge:
    """What a reader of the table knows besides its cells (docs/statistics.md): the total, and
    every margin as the one-field tables publish it (a reader can ask for those too)."""
    if len(by) == 1:
        (field,) = by
        t = _sum_range(total, field)
        free = tuple((0, suppression.BIG) for _ in range(shape[1]))
        return suppression.Knowledge((t,), free, t, ((total[1],) * shape[1],), one_field=True)
    a, b = by
    rows = tuple(_sum_range(n, b) for n in margins[0])
    cols = tuple(_sum_range(n, a) for n in margins[1])
    lo_t, hi_t = total
    never_empty = all(f not in MULTI or f in NEVER_EMPTY for f in by)
    high = min(hi_t * MULTI.get(a, 1) * MULTI.get(b, 1), suppression.BIG)
    caps = tuple(
        tuple(min(margins[0][i][1], margins[1][j][1], hi_t) for j in range(shape[1]))
        for i in range(shape[0])
    )
    return suppression.Knowledge(rows, cols, (lo_t if never_empty else 0, high), caps)
