"""What a reader of a published ``vault stats`` table knows besides it (docs/statistics.md,
"The reader the rule defends against"), written as the integer program
:mod:`vault.suppression` asks "can this hidden count take another value?" of.

A reader holds the table, the one-field tables of the same cases under the same choices, and
the total. Each builder here returns a :class:`suppression.Reader`: the unknowns' ranges, the
facts published elsewhere, each cell of the table as a sum of unknowns, and the true values
(never published: a solution the program is known to have). The one-field tables come in as
:data:`Margins`, what a reader can read off them, never their true counts.

A case's status and outcome say something of each other (the outcome is null exactly when the
case is not closed), so ``--by status`` and ``--by outcome`` (and ``--by A,status`` and
``--by A,outcome``) are one program over *kinds* of case, a status with its outcome
(:func:`status_and_outcome`): each table's cells are sums of those, and the two tables are
suppressed as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations, product
from typing import Protocol

from vault import suppression
from vault.audit.terms import OUTCOMES, STATUSES
from vault.report import HARMS, WANTS


class CaseFacts(Protocol):
    """What a reader's program needs of a case (:class:`vault.stats.CaseFacts` has it)."""

    @property
    def status(self) -> str: ...

    @property
    def outcome(self) -> str | None: ...

    def values(self, field: str) -> tuple[str | None, ...]: ...


MULTI = {"harm": len(HARMS), "wants": len(WANTS)}  # fields a case can have several values of
NEVER_EMPTY = {"harm"}  # every report names at least one harm; wants may be left empty

# A one-field table as a reader holds it: for each cell, the values it can take (its count if
# published; 1 or more if hidden, 0 or more if that table hides zeros) and whether it is hidden.
Margins = tuple[tuple[suppression.Interval, bool], ...]
Terms = tuple[tuple[int, int], ...]
Kind = tuple[str, str | None]  # a case's status and outcome

# The columns of the joint table by status and outcome: every status, then every outcome
# (null last). A column of the one is set beside a column of the other only when one of them
# is closed or null, the two that add up to the other's cells (suppression.Reader blocks).
STATUS_OUTCOME_COLUMNS: tuple[tuple[str, str | None], ...] = (
    *(("status", s) for s in STATUSES),
    *(("outcome", o) for o in (*OUTCOMES, None)),
)
STATUS_OUTCOME_BLOCKS = tuple(
    -1 if v in ("closed", None) else 0 if field == "status" else 1
    for field, v in STATUS_OUTCOME_COLUMNS
)


# closed and null: in one row, they add up to its cases (the total, or the other field's count)
STATUS_OUTCOME_TWINS = (
    STATUS_OUTCOME_COLUMNS.index(("status", "closed")),
    STATUS_OUTCOME_COLUMNS.index(("outcome", None)),
)


def known(n: int) -> suppression.Interval:
    """What a reader knows of a total published on its own: itself, or 1-4 if hidden."""
    return (1, suppression.SMALL) if 1 <= n <= suppression.SMALL else (n, n)


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


class _Grid:
    """The unknowns and facts of a table by A and B where every cell is an unknown of its own:
    the cells ``x[i][j]``, A's margins ``m_a``, B's ``m_b`` and the total ``n``. A
    single-valued field's margins add up to the total, and a line of cells across its values
    to the other field's margin (each case has one value); a multi-valued field's margins and
    cells are at most the total and their single-valued line's margin, and over harms add up
    to at least those (each case names one or more). Exact: any numbers meeting these are the
    counts of some set of cases."""

    def __init__(
        self,
        a: str,
        b: str,
        n_a: int,
        n_b: int,
        bounds_a: Sequence[suppression.Interval],
        bounds_b: Sequence[suppression.Interval],
        total: int,
    ) -> None:
        self.x = [[i * n_b + j for j in range(n_b)] for i in range(n_a)]
        self.m_a = [n_a * n_b + i for i in range(n_a)]
        self.m_b = [n_a * n_b + n_a + j for j in range(n_b)]
        self.n = n_a * n_b + n_a + n_b
        self.bounds: list[suppression.Interval] = [(0, suppression.BIG)] * (n_a * n_b)
        self.bounds += [*bounds_a, *bounds_b, known(total)]
        big, x, n = suppression.BIG, self.x, self.n
        columns = [list(c) for c in zip(*x, strict=True)] if x else [[] for _ in range(n_b)]
        rows: list[suppression.Fact] = []
        for field, margins, lines in ((a, self.m_a, x), (b, self.m_b, columns)):
            other = self.m_b if margins is self.m_a else self.m_a
            if field not in MULTI:
                rows.append(_fact((*((u, 1) for u in margins), (n, -1)), 0, 0))
                # the cells over this field's values, for one value of the other field
                for k, line in enumerate(zip(*lines, strict=True)):
                    rows.append(_fact((*((u, 1) for u in line), (other[k], -1)), 0, 0))
            else:
                rows += [_fact(((u, 1), (n, -1)), -big, 0) for u in margins]
                if field in NEVER_EMPTY:
                    rows.append(_fact((*((u, 1) for u in margins), (n, -1)), 0, big))
        # a multi-valued field: no cell exceeds its single-valued line's cases; a line of harms
        # adds up to at least its cases
        for field, margins, lines in ((b, self.m_a, x), (a, self.m_b, columns)):
            if field not in MULTI:
                continue
            for k, members in enumerate(lines):
                rows += [_fact(((u, 1), (margins[k], -1)), -big, 0) for u in members]
                if field in NEVER_EMPTY:
                    rows.append(_fact((*((u, 1) for u in members), (margins[k], -1)), 0, big))
        self.rows = rows


def two_field_reader(
    facts: Sequence[CaseFacts],
    by: tuple[str, ...],
    axes: tuple[tuple[str | None, ...], ...],
    grid: list[list[int]],
    ones: list[Margins],
    total: int,
) -> suppression.Reader:
    """A reader of a table by A and B who also holds ``--by A`` and ``--by B`` of the same
    cases (``ones``) and the total. Each margin the one-field tables hide must stay hidden
    here: it is a guard."""
    if all(f in MULTI for f in by):
        return _kinds_reader(facts, by, axes, grid, ones, total)
    a, b = by
    n_a, n_b = len(axes[0]), len(axes[1])
    g = _Grid(a, b, n_a, n_b, [r for r, _ in ones[0]], [r for r, _ in ones[1]], total)
    truth = [c for row in grid for c in row]
    truth += [_margin(facts, a, v) for v in axes[0]] + [_margin(facts, b, v) for v in axes[1]]
    truth.append(total)
    guards = [
        suppression.Guard((g.m_a[i],), tuple((i, j) for j in range(n_b)))
        for i, (_, hidden) in enumerate(ones[0])
        if hidden
    ] + [
        suppression.Guard((g.m_b[j],), tuple((i, j) for i in range(n_a)))
        for j, (_, hidden) in enumerate(ones[1])
        if hidden
    ]
    caps = _caps([r for r, _ in ones[0]], [r for r, _ in ones[1]], total)
    cells = tuple(tuple((u,) for u in row) for row in g.x)
    return suppression.Reader(
        tuple(g.bounds), tuple(g.rows), cells, caps, tuple(truth), tuple(guards)
    )


def _caps(
    rows: Sequence[suppression.Interval],
    columns: Sequence[suppression.Interval],
    total: int,
) -> tuple[tuple[int, ...], ...]:
    """No cell exceeds the margins it is drawn from, nor the total."""
    return tuple(tuple(min(r[1], c[1], known(total)[1]) for c in columns) for r in rows)


def _margin(facts: Sequence[CaseFacts], field: str, value: str | None) -> int:
    return sum(1 for f in facts if value in f.values(field))


def kind_of(f: CaseFacts) -> Kind:
    return (f.status, f.outcome)


def kinds(facts: Sequence[CaseFacts]) -> list[Kind]:
    """Every kind of case a reader allows: an open status with no outcome, or closed with one
    (docs/statistics.md); and any other pair the cases hold, so that the truth is possible
    (the vault keeps an outcome exactly on a closed case, but the counts must not depend on
    that)."""
    allowed: list[Kind] = [(s, None) for s in STATUSES if s != "closed"]
    allowed += [("closed", o) for o in OUTCOMES]
    odd = {kind_of(f) for f in facts} - set(allowed)
    return allowed + sorted(odd, key=repr)


def _columns(of_kinds: list[Kind]) -> list[tuple[int, ...]]:
    """The kinds each column of the joint table adds up (:data:`STATUS_OUTCOME_COLUMNS`)."""
    return [
        tuple(k for k, kind in enumerate(of_kinds) if kind[0 if field == "status" else 1] == v)
        for field, v in STATUS_OUTCOME_COLUMNS
    ]


def status_and_outcome(facts: Sequence[CaseFacts], total: int) -> suppression.Reader:
    """A reader of ``--by status`` and ``--by outcome`` read together, as one row: the
    statuses, then the outcomes. Unknowns: each kind of case (:func:`kinds`), then the
    total; each cell adds up the kinds in it, the kinds add up to the total. Exact."""
    of_kinds = kinds(facts)
    n = len(of_kinds)
    counts = [0] * n
    where = {kind: k for k, kind in enumerate(of_kinds)}
    for f in facts:
        counts[where[kind_of(f)]] += 1
    rows = (_fact((*((k, 1) for k in range(n)), (n, -1)), 0, 0),)
    columns = _columns(of_kinds)
    return suppression.Reader(
        ((0, suppression.BIG),) * n + (known(total),),
        rows,
        (tuple(columns),),
        ((known(total)[1],) * len(columns),),
        (*counts, total),
        blocks=STATUS_OUTCOME_BLOCKS,
        twins=(STATUS_OUTCOME_TWINS,),
    )


def status_and_outcome_by(
    facts: Sequence[CaseFacts],
    field: str,
    axis: tuple[str | None, ...],
    ones: tuple[Margins, Margins],
    total: int,
) -> suppression.Reader:
    """A reader of ``--by A,status`` and ``--by A,outcome`` read together (A is ``field``,
    one row per value of it; the columns are the statuses, then the outcomes), who also holds
    ``--by A`` and the joint ``--by status`` / ``--by outcome`` (``ones``: A's, then the
    statuses' and outcomes' as one row) and the total. Unknowns: a cell per value of A and
    kind of case, each table's cell a sum of those (a table by A and kind, :class:`_Grid`),
    the kinds' margins summed into the published statuses and outcomes. Exact for a
    single-valued A, and as exact as :func:`two_field_reader` for harms or wants."""
    of_kinds = kinds(facts)
    n_a, n_k = len(axis), len(of_kinds)
    columns = _columns(of_kinds)
    g = _Grid(field, "kind", n_a, n_k, [r for r, _ in ones[0]], [(0, suppression.BIG)] * n_k, total)
    rows = list(g.rows)
    for members, (published, _) in zip(columns, ones[1], strict=True):
        rows.append(_fact(tuple((g.m_b[k], 1) for k in members), *published))
    where = {kind: k for k, kind in enumerate(of_kinds)}
    place = {v: i for i, v in enumerate(axis)}
    truth = [0] * (g.n + 1)
    for f in facts:
        k = where[kind_of(f)]
        truth[g.m_b[k]] += 1
        for v in f.values(field):
            i = place[v]
            truth[g.x[i][k]] += 1
            truth[g.m_a[i]] += 1
    truth[g.n] = total
    cells = tuple(tuple(tuple(g.x[i][k] for k in members) for members in columns)
                  for i in range(n_a))  # fmt: skip
    guards = [
        suppression.Guard((g.m_a[i],), tuple((i, j) for j in range(len(columns))))
        for i, (_, hidden) in enumerate(ones[0])
        if hidden
    ] + [
        suppression.Guard(tuple(g.m_b[k] for k in members), tuple((i, j) for i in range(n_a)))
        for j, (members, (_, hidden)) in enumerate(zip(columns, ones[1], strict=True))
        if hidden
    ]
    caps = _caps([r for r, _ in ones[0]], [r for r, _ in ones[1]], total)
    return suppression.Reader(
        tuple(g.bounds),
        tuple(rows),
        cells,
        caps,
        tuple(truth),
        tuple(guards),
        blocks=STATUS_OUTCOME_BLOCKS,
        twins=(STATUS_OUTCOME_TWINS,),
    )


def _kinds_reader(
    facts: Sequence[CaseFacts],
    by: tuple[str, ...],
    axes: tuple[tuple[str | None, ...], ...],
    grid: list[list[int]],
    ones: list[Margins],
    total: int,
) -> suppression.Reader:
    """Harm by wants: one unknown per kind of case (its set of harms, its set of wants), over
    the values the one-field tables do not publish as 0. Exact, where cells and margins alone
    miss facts such as "the cases without a harm number the total less that harm's"."""
    a, b = by
    allowed = [[k for k, (r, hidden) in enumerate(t) if hidden or r != (0, 0)] for t in ones]
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
    of_kinds = list(product(*sets))
    n = len(of_kinds)  # the total
    where = {kind: u for u, kind in enumerate(of_kinds)}
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
        [tuple(u for u, kind in enumerate(of_kinds) if v in kind[k]) for v in range(len(axes[k]))]
        for k in range(2)
    ]
    for k in range(2):
        for v, (published, _) in enumerate(ones[k]):
            rows.append(_fact(tuple((u, 1) for u in margins[k][v]), *published))
    cells = tuple(
        tuple(
            tuple(u for u, kind in enumerate(of_kinds) if i in kind[0] and j in kind[1])
            for j in range(len(axes[1]))
        )
        for i in range(len(axes[0]))
    )
    guards = [
        suppression.Guard(margins[0][i], tuple((i, j) for j in range(len(axes[1]))))
        for i, (_, hidden) in enumerate(ones[0])
        if hidden
    ] + [
        suppression.Guard(margins[1][j], tuple((i, j) for i in range(len(axes[0]))))
        for j, (_, hidden) in enumerate(ones[1])
        if hidden
    ]
    bounds = ((0, suppression.BIG),) * n + (known(total),)
    caps = _caps([r for r, _ in ones[0]], [r for r, _ in ones[1]], total)
    return suppression.Reader(bounds, tuple(rows), cells, caps, tuple(truth), tuple(guards))
