"""Small-cell suppression for published counts, as official statistics do it (docs/statistics.md).

A table is a grid of counts (one row for a one-field table). What a reader may know besides
the published cells is written as intervals: for each row, each column and the whole table,
the range its cells add up to; and for each cell an upper limit (it cannot exceed the cases it
is drawn from). :mod:`vault.stats` works those out from the margins the one-field tables and the
total publish.

*Primary* suppression hides every count from 1 to 4. *Secondary* suppression then hides more
cells, the smallest counts first, until no hidden cell can be worked out: for each hidden
cell, a reader who knows everything above (and that a hidden cell is not 0: zeros are shown)
must still find at least two values possible. Where no count of 5 or more is left beside a
cell that can be worked out, zeros may be hidden too; the table then says so, and a reader
can no longer take a hidden cell to be 1 or more. Every hidden cell is shown the same way
(``<5``, with a footnote saying some are larger counts, or zeros, hidden for this reason).

The possible values of a cell are found exactly: rows, columns and the total make a network
(source -> row -> cell -> column -> sink -> source), whose constraint matrix is totally
unimodular, so a value is possible whenever a circulation with that cell's flow fixed to it
exists; that is a max-flow check (below). Pure functions: nothing here reads a vault.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

SMALL = 4  # counts from 1 to SMALL are hidden
BIG = 10**12  # no upper limit

Interval = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Knowledge:
    """What a reader knows besides the cells: the range each row, each column and the whole
    table add up to, and each cell's upper limit."""

    rows: tuple[Interval, ...]
    cols: tuple[Interval, ...]
    total: Interval
    caps: tuple[tuple[int, ...], ...]
    one_field: bool = False  # a one-row table, whose row is the total

    def without_total(self) -> Knowledge:
        """The same, had the total not been published."""
        free = (0, BIG)
        rows = (free,) if self.one_field else self.rows
        return Knowledge(rows, self.cols, free, self.caps, self.one_field)


PUBLISHED, PRIMARY, SECONDARY = 0, 1, 2


def domain(count: int, state: int, cap: int, zeros: bool = False) -> Interval:
    """The values a reader allows a cell: its count if published; if hidden, from 1 (zeros are
    shown), or from 0 in a table that says some zeros are hidden, to its limit. Both kinds of
    hidden cell look the same (``<5``): were the second kind marked, a reader would know it is
    5 or more, which can give the first away (1 + [5 or more] = 6 says the first is 1)."""
    if state == PUBLISHED:
        return (count, count)
    return (0 if zeros else 1, cap)


def possible(
    counts: list[list[int]],
    states: list[list[int]],
    know: Knowledge,
    cell: tuple[int, int],
    zeros: bool = False,
) -> Interval:
    """The least and greatest values ``cell`` can take, given the published table."""
    i, j = cell
    lo, hi = domain(counts[i][j], states[i][j], know.caps[i][j], zeros)
    truth = counts[i][j]

    def feasible(a: int, b: int) -> bool:
        return a <= b and _feasible(counts, states, know, cell, (a, b), zeros)

    least = truth
    if feasible(lo, truth - 1):  # binary search for the least feasible value below the truth
        a, b = lo, truth - 1
        while a < b:
            mid = (a + b) // 2
            if feasible(lo, mid):
                b = mid
            else:
                a = mid + 1
        least = a
    greatest = truth
    if feasible(truth + 1, hi):
        a, b = truth + 1, min(hi, BIG)
        while a < b:
            mid = (a + b + 1) // 2
            if feasible(mid, hi):
                a = mid
            else:
                b = mid - 1
        greatest = a
    return (least, greatest)


def pinned(
    counts: list[list[int]],
    states: list[list[int]],
    know: Knowledge,
    cell: tuple[int, int],
    zeros: bool = False,
) -> bool:
    """Whether a reader can work out ``cell``'s count: no other value is possible."""
    i, j = cell
    lo, hi = domain(counts[i][j], states[i][j], know.caps[i][j], zeros)
    truth = counts[i][j]
    return not (
        (lo <= truth - 1 and _feasible(counts, states, know, cell, (lo, truth - 1), zeros))
        or (truth + 1 <= hi and _feasible(counts, states, know, cell, (truth + 1, hi), zeros))
    )


@dataclass(frozen=True, slots=True)
class Suppressed:
    states: list[list[int]]
    total_withheld: bool  # hiding cells was not enough: the total is not published either
    zeros_hidden: bool  # a reader may not take a hidden cell to be 1 or more


def suppress(counts: list[list[int]], know: Knowledge) -> Suppressed:
    """Each cell's state: PUBLISHED, PRIMARY (1-4) or SECONDARY; whether the total must be
    withheld too; and whether zeros may be hidden. See the module docstring."""
    states = [[PRIMARY if 1 <= c <= SMALL else PUBLISHED for c in row] for row in counts]
    safe, zeros = _suppress(counts, states, know)
    if safe:
        return Suppressed(states, False, zeros)
    # Every cell is hidden and one can still be worked out from the total: withhold it too.
    states = [[PRIMARY if 1 <= c <= SMALL else PUBLISHED for c in row] for row in counts]
    _, zeros = _suppress(counts, states, know.without_total())
    return Suppressed(states, True, zeros)


def _suppress(
    counts: list[list[int]], states: list[list[int]], know: Knowledge
) -> tuple[bool, bool]:
    """Hide more cells in ``states`` until none can be worked out (or all are hidden); say
    whether that was enough, and whether zeros had to be allowed to be hidden."""
    zeros = False
    while True:
        hidden = [
            (i, j) for i, row in enumerate(states) for j, s in enumerate(row) if s != PUBLISHED
        ]
        weak = [c for c in hidden if pinned(counts, states, know, c, zeros)]
        if not weak:
            return True, zeros
        # one more cell beside each weak one, then check them all again (a round, not a cell,
        # at a time: a large table with many small counts would otherwise check k times)
        chosen = {_next_to_hide(counts, states, know, cell, zeros, near=True) for cell in weak}
        chosen.discard(None)
        if not chosen and not zeros:
            # no count of 5 or more is left beside a weak cell: a reader must no longer take a
            # hidden cell to be 1 or more (a zero beside it may be hidden); check again so
            zeros = True
            continue
        if not chosen:
            chosen = {_next_to_hide(counts, states, know, cell, zeros, near=False) for cell in weak}
            chosen.discard(None)
        if not chosen:  # every cell is hidden already
            return False, zeros
        for cell in chosen:
            if cell is not None:
                states[cell[0]][cell[1]] = SECONDARY


def _next_to_hide(
    counts: list[list[int]],
    states: list[list[int]],
    know: Knowledge,
    weak: tuple[int, int],
    zeros: bool,
    near: bool,
) -> tuple[int, int] | None:
    """The smallest published count of 5 or more (then, once zeros may be hidden, a zero that
    could have been more: not one in a row or column whose margin is 0) in the weak cell's row
    or column (``near``), or anywhere."""
    candidates = [
        (i, j)
        for i, row in enumerate(counts)
        for j, c in enumerate(row)
        if states[i][j] == PUBLISHED
        and (i == weak[0] or j == weak[1] or not near)
        and (c > SMALL or (zeros and c == 0 and know.caps[i][j] > 0))
    ]
    # a count of 5 or more first; a zero only when none is left
    return min(
        candidates, key=lambda c: (counts[c[0]][c[1]] == 0, counts[c[0]][c[1]], c), default=None
    )


def _feasible(
    counts: list[list[int]],
    states: list[list[int]],
    know: Knowledge,
    cell: tuple[int, int],
    fixed: Interval,
    zeros: bool = False,
) -> bool:
    """Is there a table agreeing with everything published with ``cell`` inside ``fixed``?"""
    n_rows, n_cols = len(counts), len(counts[0]) if counts else 0
    source, sink = 0, 1
    row0, col0 = 2, 2 + n_rows
    edges: list[tuple[int, int, int, int]] = []  # (from, to, lower, upper)
    for i in range(n_rows):
        edges.append((source, row0 + i, *know.rows[i]))
        for j in range(n_cols):
            lo, hi = domain(counts[i][j], states[i][j], know.caps[i][j], zeros)
            if (i, j) == cell:
                lo, hi = max(lo, fixed[0]), min(hi, fixed[1])
            if lo > hi:
                return False
            edges.append((row0 + i, col0 + j, lo, hi))
    for j in range(n_cols):
        edges.append((col0 + j, sink, *know.cols[j]))
    edges.append((sink, source, *know.total))
    return _circulation(2 + n_rows + n_cols, edges)


def _circulation(n: int, edges: list[tuple[int, int, int, int]]) -> bool:
    """Whether a flow exists with every edge between its lower and upper bound and flow kept
    at every node (the standard reduction to one max-flow)."""
    excess = [0] * n
    flow = _MaxFlow(n + 2)
    for u, v, lo, hi in edges:
        if lo > hi:
            return False
        excess[v] += lo
        excess[u] -= lo
        if hi > lo:
            flow.add(u, v, min(hi, BIG) - lo)
    s, t = n, n + 1
    need = 0
    for v, e in enumerate(excess):
        if e > 0:
            flow.add(s, v, e)
            need += e
        elif e < 0:
            flow.add(v, t, -e)
    return flow.run(s, t) == need


class _MaxFlow:
    """Dinic's algorithm on a small graph."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.adj: list[list[int]] = [[] for _ in range(n)]
        self.to: list[int] = []
        self.cap: list[int] = []

    def add(self, u: int, v: int, c: int) -> None:
        self.adj[u].append(len(self.to))
        self.to.append(v)
        self.cap.append(c)
        self.adj[v].append(len(self.to))
        self.to.append(u)
        self.cap.append(0)

    def run(self, s: int, t: int) -> int:
        total = 0
        while True:
            level = [-1] * self.n
            level[s] = 0
            queue = deque([s])
            while queue:
                u = queue.popleft()
                for e in self.adj[u]:
                    if self.cap[e] > 0 and level[self.to[e]] < 0:
                        level[self.to[e]] = level[u] + 1
                        queue.append(self.to[e])
            if level[t] < 0:
                return total
            it = [0] * self.n
            while (pushed := self._push(s, t, BIG * 4, level, it)) > 0:
                total += pushed

    def _push(self, u: int, t: int, f: int, level: list[int], it: list[int]) -> int:
        if u == t:
            return f
        while it[u] < len(self.adj[u]):
            e = self.adj[u][it[u]]
            v = self.to[e]
            if self.cap[e] > 0 and level[v] == level[u] + 1:
                pushed = self._push(v, t, min(f, self.cap[e]), level, it)
                if pushed > 0:
                    self.cap[e] -= pushed
                    self.cap[e ^ 1] += pushed
                    return pushed
            it[u] += 1
        return 0
