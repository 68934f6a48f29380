"""A reader of published ``vault stats`` tables who counts *cases* (docs/statistics.md, "What a
reader of several tables can do"), written from the docs and the JSON alone: it never imports
vault/suppression.py. One integer unknown per kind of case (sector, set of harms, quarter,
status, outcome, set of wants), kinds inside a published 0 left out; each published cell is an
equation, each hidden cell a sum of at least 1 (0 if its table says ``zeros_hidden``), a
published total an equation. A hidden cell is *pinned* when no case set agreeing with all that
gives it another value. The integer programs are HiGHS's (``highspy``)."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import numpy as np
from highspy import _core as highs

from vault.audit.terms import OUTCOMES, STATUSES
from vault.report import HARMS, SECTORS, WANTS
from vault.stats import FIELDS, CaseFacts, quarter_of, tabulate

Kind = tuple[Any, ...]  # (sector, harms, quarter, status, outcome, wants)
Tables = dict[tuple[str, ...], dict[str, Any]]
TWO_FIELDS = list(itertools.permutations(FIELDS, 2))


def publish(fs: list[CaseFacts], which: list[tuple[str, ...]] | None = None) -> Tables:
    """The tables a reader is given (every one the case set publishes, unless ``which``)."""
    which = which or [(f,) for f in FIELDS] + TWO_FIELDS
    return {by: tabulate(fs, by, None, None, False).to_json() for by in which}


def values(kind: Kind, field: str) -> tuple[Any, ...]:
    sector, harms, quarter, status, outcome, wants = kind
    return {"sector": (sector,), "harm": harms, "quarter": (quarter,), "status": (status,),
            "outcome": (outcome,), "wants": wants}[field]  # fmt: skip


def kind_of(f: CaseFacts) -> Kind:
    return (f.sector, f.harms, quarter_of(f.received), f.status, f.outcome, f.wants)


def truth(fs: list[CaseFacts], by: tuple[str, ...], cell: dict[str, Any]) -> int:
    return sum(1 for f in fs if all(cell[x] in f.values(x) for x in by))


def kinds_allowed(tables: Tables, fs: list[CaseFacts]) -> list[Kind]:
    """Every kind of case the tables allow. A field a table counts takes the values its
    one-field table does not publish as 0 (any value when none is given); a field no table
    counts does not matter, so takes the truth's values only."""
    counted = {f for by in tables for f in by}
    if counted & {"status", "outcome"}:  # each says something of the other (below)
        counted |= {"status", "outcome"}
    options: dict[str, list[Any]] = {}
    axes = {"sector": list(SECTORS), "harm": list(HARMS), "status": list(STATUSES),
            "outcome": [*OUTCOMES, None], "wants": list(WANTS)}  # fmt: skip
    for f in FIELDS:
        if f not in counted:
            options[f] = sorted({v for k in map(kind_of, fs) for v in [values(k, f)]}, key=repr)
            continue
        if (f,) in tables:
            options[f] = [c[f] for c in tables[(f,)]["cells"] if c["count"] != 0]
        elif f == "quarter":
            options[f] = sorted({c[f] for by, t in tables.items() if f in by for c in t["cells"]})
        else:
            options[f] = axes[f]
        if f in ("harm", "wants"):
            order = HARMS if f == "harm" else WANTS
            least = 1 if f == "harm" else 0
            options[f] = [
                tuple(v for v in order if v in s)
                for r in range(least, len(options[f]) + 1)
                for s in itertools.combinations(options[f], r)
            ]
        else:
            options[f] = [(v,) for v in options[f]]
    kinds = [
        (s[0], h, q[0], st[0], o[0], w)
        for s, h, q, st, o, w in itertools.product(*(options[f] for f in FIELDS))
    ]
    # docs/statistics.md: the outcome is null exactly for a case not closed
    kinds = [k for k in kinds if (k[3] == "closed") == (k[4] is not None)]
    zeros = [(by, c) for by, t in tables.items() for c in t["cells"] if c["count"] == 0]
    return [k for k in kinds if not any(all(c[f] in values(k, f) for f in by) for by, c in zeros)]


class CaseReader:
    def __init__(self, tables: Tables, fs: list[CaseFacts]) -> None:
        self.tables = tables
        self.kinds = kinds_allowed(tables, fs)
        assert {kind_of(f) for f in fs} <= set(self.kinds), "the truth must be possible"
        totals = {t["total"] for t in tables.values() if t["total"] is not None}
        assert len(totals) <= 1, totals  # one case set: one total
        self.rows: list[tuple[float, float, list[int]]] = []
        for n in totals:
            self.rows.append((n, n, list(range(len(self.kinds)))))
        for by, t in tables.items():
            for c in t["cells"]:
                members = self.members(by, c)
                if c["count"] is not None:
                    self.rows.append((c["count"], c["count"], members))
                elif not t["zeros_hidden"]:
                    self.rows.append((1, math.inf, members))

    def members(self, by: tuple[str, ...], cell: dict[str, Any]) -> list[int]:
        return [i for i, k in enumerate(self.kinds) if all(cell[f] in values(k, f) for f in by)]

    def feasible(self, lo: float, hi: float, members: list[int]) -> bool:
        n = len(self.kinds)
        h = highs._Highs()  # the public class prints a banner on stdout
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        h.addVars(n, np.zeros(n), np.full(n, math.inf))
        h.changeColsIntegrality(
            n, np.arange(n, dtype=np.int32), np.array([highs.HighsVarType.kInteger] * n)
        )
        for a, b, idx in [*self.rows, (lo, hi, members)]:
            if not idx:
                if not a <= 0 <= b:
                    return False
                continue
            h.addRow(a, b, len(idx), np.array(idx, dtype=np.int32), np.ones(len(idx)))
        h.run()
        status = h.getModelStatus()
        if status == highs.HighsModelStatus.kInfeasible:
            return False
        assert status == highs.HighsModelStatus.kOptimal, h.modelStatusToString(status)
        return True

    def pinned(self, by: tuple[str, ...], cell: dict[str, Any], value: int) -> bool:
        members = self.members(by, cell)
        if self.feasible(value + 1, math.inf, members):
            return False
        return value == 0 or not self.feasible(0, value - 1, members)


def small_pins(fs: list[CaseFacts], tables: Tables, targets: Tables | None = None) -> list[Any]:
    """Every hidden count of 1 to 4 in ``targets`` (default: every table given) that a reader
    of ``tables`` can work out."""
    reader = CaseReader(tables, fs)
    out = []
    for by, t in (targets or tables).items():
        for c in t["cells"]:
            value = truth(fs, by, c)
            if c["count"] is None and 1 <= value <= 4 and reader.pinned(by, c, value):
                out.append((by, {f: c[f] for f in by}, value))
    return out


def random_cases(rng: random.Random, lo: int, hi: int) -> list[CaseFacts]:
    """A case set over a few values of each field (so the kinds stay few enough to solve)."""
    sectors = rng.sample(SECTORS, rng.randint(1, 3))
    harms = rng.sample(HARMS, rng.randint(1, 3))
    wants = rng.sample(WANTS, rng.randint(0, 2))
    days = rng.sample(["2026-01-05", "2026-05-05", "2026-08-05"], rng.randint(1, 2))
    statuses = rng.sample(STATUSES, rng.randint(1, 2))
    outcomes = rng.sample(OUTCOMES, rng.randint(1, 2))
    out = []
    for k in range(rng.randint(lo, hi)):
        hs = rng.sample(harms, rng.randint(1, len(harms)))
        ws = rng.sample(wants, rng.randint(0, len(wants)))
        status = rng.choice(statuses)
        out.append(
            CaseFacts(
                f"{k:08d}",
                rng.choice(days),
                status,
                rng.choice(outcomes) if status == "closed" else None,  # null when not closed
                rng.choice(sectors),
                tuple(h for h in HARMS if h in hs),
                tuple(w for w in WANTS if w in ws),
                False,
            )
        )
    return out


def survey(examples: int, seed: int, lo: int, hi: int) -> tuple[int, int]:
    """How many random case sets of ``lo`` to ``hi`` cases have a hidden count of 1 to 4 that
    a reader of every table they publish can work out: (sets tried, sets with such a count)."""
    rng = random.Random(seed)
    tried = broken = 0
    for _ in range(examples):
        fs = random_cases(rng, lo, hi)
        tried += 1
        pins = small_pins(fs, publish(fs))
        broken += bool(pins)
        for pin in pins:
            print("pinned", len(fs), pin, flush=True)
    return tried, broken


def twin_cases(rng: random.Random, lo: int, hi: int, by_sector: bool) -> list[CaseFacts]:
    """A case set built to test status and outcome read together (docs/statistics.md, rule 6):
    one to four open statuses and outcomes, each weighted at random, a random share closed;
    over one to three sectors (one far the most common) when ``by_sector``."""
    opens = rng.sample([s for s in STATUSES if s != "closed"], rng.randint(1, 4))
    outcomes = rng.sample(OUTCOMES, rng.randint(1, 4))
    open_weights = [rng.random() ** 2 for _ in opens]
    closed_weights = [rng.random() ** 2 for _ in outcomes]
    closed_share = rng.random()
    sectors = list(SECTORS[: rng.randint(1, 3)]) if by_sector else [SECTORS[0]]
    out = []
    for k in range(rng.randint(lo, hi)):
        if rng.random() < closed_share:
            status, outcome = "closed", rng.choices(outcomes, closed_weights)[0]
        else:
            status, outcome = rng.choices(opens, open_weights)[0], None
        sector = rng.choices(sectors, [5] + [1] * (len(sectors) - 1))[0]
        out.append(CaseFacts(f"{k:08d}", "2026-01-05", status, outcome, sector,
                             ("violence",), (), False))  # fmt: skip
    return out


def twin_survey(examples: int, seed: int, lo: int, hi: int, by_sector: bool) -> tuple[int, int]:
    """:func:`survey` for :func:`twin_cases`, read through ``--by status`` and ``--by outcome``
    (and ``--by sector``, ``--by sector,status`` and ``--by sector,outcome``)."""
    rng = random.Random(seed)
    which: list[tuple[str, ...]] = [("status",), ("outcome",)]
    if by_sector:
        which += [("sector",), ("sector", "status"), ("sector", "outcome")]
    broken = 0
    for _ in range(examples):
        fs = twin_cases(rng, lo, hi, by_sector)
        pins = small_pins(fs, publish(fs, which))
        broken += bool(pins)
        for pin in pins:
            print("pinned", len(fs), pin, flush=True)
    return examples, broken


if __name__ == "__main__":
    # .venv/bin/python -m tests.vault.case_reader EXAMPLES SEED MIN MAX [MIN_CASES_TWO_FIELDS]
    # .venv/bin/python -m tests.vault.case_reader twins EXAMPLES SEED MIN MAX [sector]
    import sys

    from vault import stats

    if sys.argv[1] == "twins":
        examples, seed, lo, hi = (int(a) for a in sys.argv[2:6])
        sector = sys.argv[6:] == ["sector"]
        tried, broken = twin_survey(examples, seed, lo, hi, sector)
        what = "status and outcome by sector" if sector else "status and outcome"
        print(f"{tried} case sets of {lo}-{hi} cases (seed {seed}, {what}): {broken} pinned")
        sys.exit(0)
    examples, seed, lo, hi = (int(a) for a in sys.argv[1:5])
    if len(sys.argv) > 5:
        stats.MIN_CASES_TWO_FIELDS = int(sys.argv[5])
    tried, broken = survey(examples, seed, lo, hi)
    print(f"{tried} case sets of {lo}-{hi} cases (seed {seed}, two-field minimum "
          f"{stats.MIN_CASES_TWO_FIELDS}): {broken} with a hidden 1-4 count pinned")  # fmt: skip
