"""Small-cell suppression for published counts, as official statistics do it (docs/statistics.md).

A table is a grid of counts (one row for a one-field table). What a reader knows besides the
table is a :class:`Reader`: an integer program over *unknowns* (the counts of kinds of case, or
the cells, margins and total when that is exact), with the facts published elsewhere (margins
as the one-field tables publish them, the total) as linear rows, and each cell of the table as
a sum of unknowns. :mod:`vault.stats` builds it from the fields counted.

*Primary* suppression hides every count from 1 to 4. *Secondary* suppression then hides more
cells, the smallest counts of 5 or more beside a weak one first, until no hidden cell, and no
count the table must keep hidden for another table (a margin its one-field table hides), can be
worked out: for each, some table agreeing with everything published gives it another value.
Where no count of 5 or more is left beside a weak cell, zeros may be hidden too; the table then
says so, and a reader can no longer take a hidden cell to be 1 or more. Every hidden cell is
shown the same way (``<5``).

"Can it take another value?" is asked of an integer program (HiGHS, through ``highspy``): one
solve with the count forced above its true value, one below. Every solution found is kept, and a
count that one of them already gives another value needs no solve. Pure functions: nothing here
reads a vault.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SMALL = 4  # counts from 1 to SMALL are hidden
BIG = 10**12  # no limit
# A solve that reaches this many branch-and-bound nodes without a solution counts as "no other
# value": hide more. It counts work, never seconds, so the output is the same on every machine
# however slow or busy (a wall-clock limit hid different cells on a slower laptop, and two
# different tables of the same cases could be subtracted).
MAX_NODES = 10_000

Interval = tuple[int, int]
Sum = tuple[int, ...]  # unknowns added up
Fact = tuple[tuple[tuple[int, int], ...], Interval]  # sum of coefficient x unknown, in a range
Cell = tuple[int, int]

PUBLISHED, PRIMARY, SECONDARY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Guard:
    """A count published nowhere that this table must not give away (a margin its one-field
    table hides): the unknowns it adds up, and the cells of this table that add up to it (one
    of those is hidden when it can be worked out)."""

    unknowns: Sum
    near: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Reader:
    """What a reader knows besides the table: the range of every unknown, the linear facts
    published elsewhere, each cell as a sum of unknowns and its upper limit, the counts the
    table must not give away; and the true value of every unknown (never published: it is a
    solution the program is known to have)."""

    bounds: tuple[Interval, ...]
    facts: tuple[Fact, ...]
    cells: tuple[tuple[Sum, ...], ...]
    caps: tuple[tuple[int, ...], ...]
    truth: tuple[int, ...]
    guards: tuple[Guard, ...] = ()
    # the block of each column: a cell is set beside the cells of its column and those of its
    # row in its own block, or in a column of block -1, beside every block (a table by status
    # and its twin by outcome side by side: two blocks, with closed and null in both); none
    # given, one block
    blocks: tuple[int, ...] = ()
    # columns whose cells in one row add up to a count published elsewhere (closed and null:
    # the cases of that row): a cell of one hidden hides the other's too, when it is 1 or more
    twins: tuple[tuple[int, int], ...] = ()

    def value(self, unknowns: Sum, solution: Iterable[int] | None = None) -> int:
        values = list(self.truth if solution is None else solution)
        return sum(values[u] for u in unknowns)


def domain(count: int, state: int, cap: int, zeros: bool = False) -> Interval:
    """The values a reader allows a cell: its count if published; if hidden, from 1 (zeros are
    shown), or from 0 in a table that says some zeros are hidden, to its limit. Both kinds of
    hidden cell look the same (``<5``): were the second kind marked, a reader would know it is
    5 or more, which can give the first away (1 + [5 or more] = 6 says the first is 1)."""
    if state == PUBLISHED:
        return (count, count)
    return (0 if zeros else 1, cap)


def _bound(x: int) -> float:
    return math.inf if x >= BIG else -math.inf if x <= -BIG else float(x)


class _Pool:
    """The solutions found so far, each agreeing with all that is published (they stay so from
    round to round: a round only hides more). Two kinds: whole solutions from the solver, and
    *moves*, a few unknowns changed from the truth and checked against every row they touch.
    Only a speed-up: whether a count can take another value is a fact about the program, so
    the answer is the same however it is found."""

    def __init__(self, truth: tuple[int, ...]) -> None:
        self.truth = truth
        self.solutions: list[tuple[int, ...]] = []
        self.matrix: Any = None  # the solutions as an array, made again when one is added
        self.moves: list[dict[int, int]] = []
        self.touching: dict[int, list[int]] = {}  # unknown: the moves that change it

    def add(self, solution: tuple[int, ...]) -> None:
        self.solutions.append(solution)
        self.matrix = None

    def add_move(self, move: dict[int, int]) -> None:
        for u in move:
            self.touching.setdefault(u, []).append(len(self.moves))
        self.moves.append(move)

    def other_value(self, unknowns: Sum, np: Any) -> bool:
        """Whether a solution in the pool gives the sum of ``unknowns`` another value."""
        seen: set[int] = set()
        for u in unknowns:
            for m in self.touching.get(u, ()):
                if m not in seen:
                    seen.add(m)
                    if sum(self.moves[m].get(v, 0) for v in unknowns) != 0:
                        return True
        if not self.solutions:
            return False
        if self.matrix is None:
            self.matrix = np.array(self.solutions, dtype=np.int64)
        index = np.array(unknowns, dtype=np.int64)
        truth = sum(self.truth[u] for u in unknowns)
        return bool((self.matrix[:, index].sum(axis=1) != truth).any())


class _Program:
    """The reader's integer program for one set of cell states, and the solutions found so far
    (every one agrees with all that is published)."""

    def __init__(
        self,
        reader: Reader,
        counts: list[list[int]],
        states: list[list[int]],
        zeros: bool,
        pool: _Pool,
        max_nodes: int = MAX_NODES,
    ) -> None:
        # Imported here: numpy and HiGHS take a quarter of a second to load, which every other
        # command would pay. highspy's public ``Highs`` class prints a banner on stdout when
        # first made, which would land in ``vault stats --json``; the class beneath it is the
        # same solver without that.
        import numpy as np
        from highspy import _core as highs

        self.np, self.highs = np, highs
        self.reader, self.pool = reader, pool
        rows: list[tuple[Sum | tuple[tuple[int, int], ...], Interval]] = list(reader.facts)
        for i, row in enumerate(reader.cells):
            for j, unknowns in enumerate(row):
                lo, hi = domain(counts[i][j], states[i][j], reader.caps[i][j], zeros)
                rows.append((tuple((u, 1) for u in unknowns), (lo, hi)))
        n = len(reader.bounds)
        lp = highs.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = len(rows)
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = np.array([_bound(lo) for lo, _ in reader.bounds], dtype=float)
        lp.col_upper_ = np.array([_bound(hi) for _, hi in reader.bounds], dtype=float)
        lp.row_lower_ = np.array([_bound(r[1][0]) for r in rows], dtype=float)
        lp.row_upper_ = np.array([_bound(r[1][1]) for r in rows], dtype=float)
        starts, index, value = [0], [], []
        for terms, _ in rows:
            for u, c in terms:  # type: ignore[misc]
                index.append(u)
                value.append(float(c))
            starts.append(len(index))
        lp.a_matrix_.format_ = highs.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
        lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
        lp.a_matrix_.value_ = np.array(value, dtype=float)
        lp.integrality_ = [highs.HighsVarType.kInteger] * n
        self.solver = highs._Highs()
        for option, setting in (
            ("output_flag", False),
            ("threads", 1),
            ("random_seed", 0),
            ("mip_max_nodes", max_nodes),
        ):
            self.solver.setOptionValue(option, setting)  # no time_limit: see MAX_NODES
        self.solver.passModel(lp)
        self.n_rows = len(rows)
        self.rows = rows
        self.states = states
        self.margins: tuple[dict[int, int], dict[int, int]] | None = None
        # for moves from the truth: each unknown's rows, and each row's value at the truth
        self.column: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        self.activity = [0] * len(rows)
        for r, (terms, _) in enumerate(rows):
            for u, c in terms:  # type: ignore[misc]
                self.column[u].append((r, c))
                self.activity[r] += c * reader.truth[u]
        # a move is checked only on the rows it touches, so the truth must meet all the others
        self.truth_allowed = all(
            lo <= a <= hi for a, (_, (lo, hi)) in zip(self.activity, rows, strict=True)
        ) and all(lo <= t <= hi for t, (lo, hi) in zip(reader.truth, reader.bounds, strict=True))
        self.limits = (highs.HighsModelStatus.kSolutionLimit,)  # mip_max_nodes reached
        self.cut_short = 0  # solves that reached the node limit with no solution: "no other value"

    def _allowed(self, move: dict[int, int]) -> bool:
        """Whether the truth changed by ``move`` still agrees with all that is published."""
        truth, bounds = self.reader.truth, self.reader.bounds
        change: dict[int, int] = {}
        for u, d in move.items():
            lo, hi = bounds[u]
            if not lo <= truth[u] + d <= hi:
                return False
            for r, c in self.column[u]:
                change[r] = change.get(r, 0) + c * d
        for r, d in change.items():
            lo, hi = self.rows[r][1]
            if d and not lo <= self.activity[r] + d <= hi:
                return False
        return True

    def _margins(self) -> tuple[dict[int, int], dict[int, int]]:
        """The unknown of each hidden margin that is one unknown, by row and by column (from
        the guards: a guard's cells are one whole row or column)."""
        rows: dict[int, int] = {}
        columns: dict[int, int] = {}
        for guard in self.reader.guards:
            if len(guard.unknowns) != 1 or not guard.near:
                continue
            if len({i for i, _ in guard.near}) == 1:
                rows[guard.near[0][0]] = guard.unknowns[0]
            elif len({j for _, j in guard.near}) == 1:
                columns[guard.near[0][1]] = guard.unknowns[0]
        return rows, columns

    def _move(self, cell: Cell) -> bool:
        """A move found without a solve, where each cell is an unknown of its own, kept in the
        pool when every row it touches allows it: one more in ``cell`` and one fewer in a
        hidden cell of its column, with their two rows' hidden margins (or the same along its
        row); or one more in ``cell`` and in a hidden cell diagonal to it, one fewer in the
        two hidden cells that close the rectangle; or the reverse of each."""
        cells, states = self.reader.cells, self.states
        i, j = cell
        if len(cells[i][j]) != 1 or not self.truth_allowed:
            return False
        if self.margins is None:
            self.margins = self._margins()
        row_margin, column_margin = self.margins
        u = cells[i][j][0]
        in_row = [b for b, st in enumerate(states[i]) if b != j and st != PUBLISHED]
        in_column = [a for a, row in enumerate(states) if a != i and row[j] != PUBLISHED]
        lines = [
            (cells[a][j], row_margin[i], row_margin[a])
            for a in in_column
            if i in row_margin and a in row_margin
        ] + [
            (cells[i][b], column_margin[j], column_margin[b])
            for b in in_row
            if j in column_margin and b in column_margin
        ]
        for other, mine, theirs in lines:
            if len(other) != 1:
                continue
            for sign in (1, -1):
                move = {u: sign, other[0]: -sign, mine: sign, theirs: -sign}
                if len(move) == 4 and self._allowed(move):
                    self.pool.add_move(move)
                    return True
        for a in in_column:
            for b in in_row:
                if states[a][b] == PUBLISHED:
                    continue
                corners = (cells[i][j], cells[a][b], cells[i][b], cells[a][j])
                if any(len(c) != 1 for c in corners):
                    continue
                for sign in (1, -1):
                    move = {corners[0][0]: sign, corners[1][0]: sign}
                    move[corners[2][0]] = move.get(corners[2][0], 0) - sign
                    move[corners[3][0]] = move.get(corners[3][0], 0) - sign
                    if self._allowed(move):
                        self.pool.add_move(move)
                        return True
        return False

    def other_value(self, unknowns: Sum, cell: Cell | None = None) -> bool:
        """Whether the sum of ``unknowns`` (``cell``'s, if given) can take a value other than
        its true one."""
        np, highs = self.np, self.highs
        if self.pool.other_value(unknowns, np):
            return True
        if not unknowns:
            return False
        if cell is not None and self._move(cell):
            return True
        truth = self.reader.value(unknowns)
        index = np.array(unknowns, dtype=np.int32)
        ones = np.ones(len(unknowns))
        for lo, hi in ((truth + 1, math.inf), (-math.inf, truth - 1)):
            if hi < 0:
                continue  # unknowns are never negative
            self.solver.addRow(float(lo), float(hi), len(unknowns), index, ones)
            self.solver.run()
            status = self.solver.getModelStatus()
            # a limit reached with a solution in hand still found one (any solution will do)
            found = status == highs.HighsModelStatus.kOptimal or (
                status in self.limits and self.solver.getInfo().primal_solution_status == 2
            )
            if found:
                solution = tuple(round(v) for v in self.solver.getSolution().col_value)
                self.pool.add(solution)
            elif status in self.limits:
                self.cut_short += 1
            self.solver.deleteRows(1, np.array([self.n_rows], dtype=np.int32))
            if found:
                return True
        return False

    def least_and_greatest(self, unknowns: Sum) -> Interval:
        """The least and greatest values the sum of ``unknowns`` can take (for tests)."""
        np, highs = self.np, self.highs
        ends = []
        for sense in (highs.ObjSense.kMinimize, highs.ObjSense.kMaximize):
            cost = np.zeros(len(self.reader.bounds))
            cost[list(unknowns)] = 1.0
            self.solver.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), cost)
            self.solver.changeObjectiveSense(sense)
            self.solver.run()
            if self.solver.getModelStatus() == highs.HighsModelStatus.kUnbounded:
                ends.append(BIG)
                continue
            ends.append(round(sum(self.solver.getSolution().col_value[u] for u in unknowns)))
        return (ends[0], ends[1])


def possible(
    counts: list[list[int]],
    states: list[list[int]],
    reader: Reader,
    cell: Cell,
    zeros: bool = False,
) -> Interval:
    """The least and greatest values ``cell`` can take, given the published table."""
    program = _Program(reader, counts, states, zeros, _Pool(reader.truth))
    return program.least_and_greatest(reader.cells[cell[0]][cell[1]])


def pinned(
    counts: list[list[int]],
    states: list[list[int]],
    reader: Reader,
    cell: Cell,
    zeros: bool = False,
) -> bool:
    """Whether a reader can work out ``cell``'s count: no other value is possible."""
    program = _Program(reader, counts, states, zeros, _Pool(reader.truth))
    return not program.other_value(reader.cells[cell[0]][cell[1]], cell)


@dataclass(frozen=True, slots=True)
class Suppressed:
    states: list[list[int]]
    safe: bool  # False: even every cell hidden leaves a count that can be worked out
    zeros_hidden: bool  # a reader may not take a hidden cell to be 1 or more
    cut_short: int = 0  # solves stopped by the node limit with no solution (each hid more)


def primary(counts: list[list[int]]) -> list[list[int]]:
    return [[PRIMARY if 1 <= c <= SMALL else PUBLISHED for c in row] for row in counts]


def suppress(
    counts: list[list[int]],
    reader: Reader,
    hidden_first: Iterable[Cell] = (),
    max_nodes: int = MAX_NODES,
) -> Suppressed:
    """Each cell's state: PUBLISHED, PRIMARY (1-4) or SECONDARY; whether that is enough; and
    whether zeros may be hidden. ``hidden_first``: cells hidden from the start, zeros too
    (the table then says that hidden cells may be 0), except a zero that could be nothing
    else. ``max_nodes``: the node limit of each solve (lower only in tests, to reach it).
    See the module docstring."""
    states = primary(counts)
    zeros = False
    for i, j in hidden_first:
        zeros = True  # even where none is 0: a reader may not take a cell there to be 1 or more
        if states[i][j] == PUBLISHED and (counts[i][j] > 0 or reader.caps[i][j] > 0):
            states[i][j] = SECONDARY
    _hide_twins(counts, states, reader)
    pool = _Pool(reader.truth)
    cut_short = 0
    while True:
        program = _Program(reader, counts, states, zeros, pool, max_nodes)
        weak: list[tuple[Cell, ...]] = []  # for each count that can be worked out, its cells
        for i, row in enumerate(states):
            for j, state in enumerate(row):
                if state != PUBLISHED and not program.other_value(reader.cells[i][j], (i, j)):
                    weak.append(_beside(states, (i, j), reader.blocks))
        for guard in reader.guards:
            if not program.other_value(guard.unknowns):
                weak.append(guard.near)
        cut_short += program.cut_short
        if not weak:
            return Suppressed(states, True, zeros, cut_short)
        # one more cell beside each weak one, then check them all again (a round, not a cell,
        # at a time: a large table with many small counts would otherwise check k times)
        chosen = {_next_to_hide(counts, states, reader, near, zeros) for near in weak}
        chosen.discard(None)
        if not chosen and not zeros:
            # no count of 5 or more is left beside a weak cell: a reader must no longer take a
            # hidden cell to be 1 or more (a zero beside it may be hidden); check again so
            zeros = True
            continue
        if not chosen:
            everywhere = _all(states)
            chosen = {_next_to_hide(counts, states, reader, everywhere, zeros)}
            chosen.discard(None)
        if not chosen:  # every cell is hidden already
            return Suppressed(states, False, zeros, cut_short)
        for cell in chosen:
            if cell is not None:
                states[cell[0]][cell[1]] = SECONDARY
        _hide_twins(counts, states, reader)


def _hide_twins(counts: list[list[int]], states: list[list[int]], reader: Reader) -> None:
    """Hide the twin of every hidden cell (:class:`Reader` ``twins``) that is 1 or more: the
    one shown, a reader would subtract it from the count they add up to."""
    for a, b in reader.twins:
        for i, row in enumerate(states):
            for j, k in ((a, b), (b, a)):
                if row[j] != PUBLISHED and row[k] == PUBLISHED and counts[i][k] > 0:
                    row[k] = SECONDARY


def _all(states: list[list[int]]) -> tuple[Cell, ...]:
    return tuple((i, j) for i, row in enumerate(states) for j in range(len(row)))


def _beside(states: list[list[int]], cell: Cell, blocks: tuple[int, ...] = ()) -> tuple[Cell, ...]:
    """The cells in ``cell``'s column, or in its row and its block of columns (:class:`Reader`
    ``blocks``)."""

    def together(j: int, k: int) -> bool:
        return not blocks or blocks[j] == blocks[k] or -1 in (blocks[j], blocks[k])

    return tuple(
        c for c in _all(states) if c[1] == cell[1] or (c[0] == cell[0] and together(c[1], cell[1]))
    )


def _next_to_hide(
    counts: list[list[int]],
    states: list[list[int]],
    reader: Reader,
    near: tuple[Cell, ...],
    zeros: bool,
) -> Cell | None:
    """Of the cells ``near``, the smallest published count of 5 or more (then, once zeros may
    be hidden, a zero that could have been more: not one whose margin is published as 0)."""
    # a cell whose twin in its row is a published 0 equals that row's cases, published
    # elsewhere: hidden, it would still be worked out, so it is never chosen
    twin_of = {a: b for a, b in reader.twins} | {b: a for a, b in reader.twins}
    candidates = [
        (i, j)
        for i, j in near
        if states[i][j] == PUBLISHED
        and (counts[i][j] > SMALL or (zeros and counts[i][j] == 0 and reader.caps[i][j] > 0))
        and not (j in twin_of and states[i][twin_of[j]] == PUBLISHED and counts[i][twin_of[j]] == 0)
    ]
    # a count of 5 or more first; a zero only when none is left
    return min(
        candidates, key=lambda c: (counts[c[0]][c[1]] == 0, counts[c[0]][c[1]], c), default=None
    )
