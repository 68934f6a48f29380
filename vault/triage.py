"""Triage: what a caseworker sorts cases by, kept beside each case so that listing and
filtering never open a report.

A case's triage is taken from its validated report only (:func:`triage_of`), when it is
imported, in the same transaction: the sector, the harms, what the reporter wants, and the
two consent choices. Never free text: the role, what happened, the professional's name or
number, the organisation and the contact stay sealed until ``vault cases show``. Because it
depends on the report alone, every copy of a case (another laptop, a backup) has the same
triage. A case stored before the vault kept triage gets it at the next unlock
(:func:`fill_missing`), which opens those reports once, in memory, and logs that it did.

:class:`CaseFilter` is what ``vault cases list`` (and ``search``, ``stats``) filter on;
:func:`rows` gives every case's triage with its status, dates and outcome, for reading
across cases without opening any report.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from vault import db as dbmod
from vault.cases import check_outcome, check_status, show_id
from vault.errors import InvalidReportError, UsageError
from vault.report import HARMS, SECTORS, WANTS, Report, parse_report
from vault.store import Vault, after_unlock

FILL_BATCH = 500  # reports opened per transaction when filling older cases' triage


@dataclass(frozen=True, slots=True)
class Triage:
    """A case's triage fields, as its report gives them (lists in the report's order)."""

    sector: str | None  # None: the report could not be opened when triage was filled
    harms: tuple[str, ...] = ()
    wants: tuple[str, ...] = ()
    alert: bool = False  # consent to share an alert
    research: bool = False  # consent to be counted for research


UNREADABLE = Triage(None)


def triage_of(report: Report) -> Triage:
    return Triage(
        report.sector,
        tuple(report.harms),
        tuple(report.wants),
        report.consent.alert,
        report.consent.research,
    )


def _words(values: Iterable[str]) -> str:
    return " ".join(values)


@functools.lru_cache(maxsize=4096)
def _split(text: str | None) -> tuple[str, ...]:
    """A stored list as a tuple (there are few distinct lists: cached, for listing speed)."""
    return tuple(text.split()) if text else ()


def store(db: dbmod.Connection, triage: Iterable[tuple[str, Triage]]) -> None:
    """Keep each case's triage, in ``db``'s transaction (the one that stores the case)."""
    db.executemany(
        "INSERT INTO case_triage (case_id, sector, harms, wants, alert, research)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (case_id, t.sector, _words(t.harms), _words(t.wants), int(t.alert), int(t.research))
            for case_id, t in triage
        ],
    )


# --- filters -------------------------------------------------------------------------

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def check_date(text: str, option: str) -> str:
    """An ISO date (YYYY-MM-DD) that is a real day, or a usage error naming the option."""
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise UsageError(
            f"{option} {text} is not a date.", hint="dates are written YYYY-MM-DD"
        ) from None


def _check_word(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise UsageError(f"'{value}' is not a {what}. Use one of: {', '.join(allowed)}.")
    return value


def check_sector(value: str) -> str:
    return _check_word(value, SECTORS, "sector")


def check_harm(value: str) -> str:
    return _check_word(value, HARMS, "harm")


def check_wants(value: str) -> str:
    return _check_word(value, WANTS, "choice of what a reporter wants")


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Which cases to take: every field set must hold (AND). Build with :func:`case_filter`,
    which checks each value; ``assignee`` is a caseworker's name, and ``nobody`` means
    unassigned. Dates are ISO days compared with the day a case was received, inclusive."""

    status: str | None = None
    assignee: str | None = None
    nobody: bool = False
    sector: str | None = None
    harm: str | None = None
    wants: str | None = None
    outcome: str | None = None
    since: str | None = None
    until: str | None = None

    def for_caseworker(self, name: str) -> CaseFilter:
        """This filter with ``--assignee me`` read as ``name``, the caseworker running it."""
        return replace(self, assignee=name) if self.assignee == "me" else self

    def where(self) -> tuple[str, list[Any]]:
        """A SQL condition on ``cases AS c`` and ``case_triage AS t``, and its parameters
        (values only ever go in as parameters)."""
        terms: list[str] = []
        params: list[Any] = []

        def term(sql: str, value: Any) -> None:
            terms.append(sql)
            params.append(value)

        if self.status is not None:
            term("c.status = ?", self.status)
        if self.nobody:
            terms.append("c.assignee IS NULL")
        elif self.assignee is not None:
            term("c.assignee = ?", self.assignee)
        if self.outcome is not None:
            term("c.outcome = ?", self.outcome)
        if self.since is not None:
            term("c.received >= ?", self.since)
        if self.until is not None:
            term("c.received <= ?", self.until)
        if self.sector is not None:
            term("t.sector = ?", self.sector)
        if self.harm is not None:
            term("instr(' ' || t.harms || ' ', ?) > 0", f" {self.harm} ")
        if self.wants is not None:
            term("instr(' ' || t.wants || ' ', ?) > 0", f" {self.wants} ")
        return " AND ".join(terms), params

    def holds_for(self, row: TriageRow) -> bool:
        """The same test in Python, on one row (for tests and for callers holding rows)."""
        return (
            (self.status is None or row.status == self.status)
            and (not self.nobody or row.assignee is None)
            and (self.nobody or self.assignee is None or row.assignee == self.assignee)
            and (self.outcome is None or row.outcome == self.outcome)
            and (self.since is None or row.received >= self.since)
            and (self.until is None or row.received <= self.until)
            and (self.sector is None or row.sector == self.sector)
            and (self.harm is None or self.harm in row.harms)
            and (self.wants is None or self.wants in row.wants)
        )


def case_filter(
    *,
    me: str | None = None,
    status: str | None = None,
    assignee: str | None = None,
    sector: str | None = None,
    harm: str | None = None,
    wants: str | None = None,
    outcome: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> CaseFilter:
    """A :class:`CaseFilter` from what a caseworker typed, each value checked (a
    :class:`~vault.errors.UsageError` otherwise). ``assignee`` may be a name, ``nobody``, or
    ``me``: the caseworker named ``me``, or, while ``me`` is None, whoever
    :meth:`CaseFilter.for_caseworker` names later (once the vault is unlocked)."""
    if since is not None:
        since = check_date(since, "--since")
    if until is not None:
        until = check_date(until, "--until")
    if since is not None and until is not None and since > until:
        raise UsageError(f"--since {since} is after --until {until}: no day is in between.")
    nobody = assignee == "nobody"
    return CaseFilter(
        status=None if status is None else check_status(status),
        assignee=None if nobody else (me if assignee == "me" and me is not None else assignee),
        nobody=nobody,
        sector=None if sector is None else check_sector(sector),
        harm=None if harm is None else check_harm(harm),
        wants=None if wants is None else check_wants(wants),
        outcome=None if outcome is None else check_outcome(outcome),
        since=since,
        until=until,
    )


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TriageRow:
    """One case as read across cases without opening it: its state and its triage.

    ``sector`` is None (and the lists empty) for a case whose report could not be opened when
    its triage was filled, or not yet filled.
    """

    id: str
    received: str
    status: str
    assignee: str | None
    outcome: str | None
    sector: str | None
    harms: tuple[str, ...] = field(default=())
    wants: tuple[str, ...] = field(default=())
    alert: bool = False
    research: bool = False

    def to_json(self) -> dict[str, Any]:
        """The object ``vault cases list --json`` gives for the case."""
        return {
            "id": show_id(self.id),
            "status": self.status,
            "received": self.received,
            "assignee": self.assignee,
            "outcome": self.outcome,
            "sector": self.sector,
            "harms": list(self.harms),
            "wants": list(self.wants),
        }


_COLUMNS = (
    "SELECT c.id, c.received, c.status, c.assignee, c.outcome,"
    " t.sector, t.harms, t.wants, t.alert, t.research"
)
_FROM = " FROM cases AS c LEFT JOIN case_triage AS t ON t.case_id = c.id"
_SELECT = _COLUMNS + _FROM
_SELECT_ROWID = _COLUMNS + ", c.rowid" + _FROM


def rows(
    vault: Vault, where: CaseFilter | None = None, limit: int | None = None
) -> Iterator[TriageRow]:
    """The cases ``where`` takes (all by default), newest first, with their triage.
    Nothing is decrypted and nothing is logged."""
    for r in raw_rows(vault, where, limit):
        yield _row(r)


def raw_rows(
    vault: Vault, where: CaseFilter | None = None, limit: int | None = None
) -> Iterator[tuple[Any, ...]]:
    """The database rows behind :func:`rows`: ``(id, received, status, assignee, outcome,
    sector, harms, wants, alert, research)`` with harms and wants as stored (space-separated;
    :func:`words` splits them). For listing many cases fast."""
    condition, params = (where or CaseFilter()).where()
    sql = _SELECT + (f" WHERE {condition}" if condition else "")
    sql += " ORDER BY c.received DESC, c.rowid DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return iter(vault.db.execute(sql, params))


words = _split


def _row(r: Any) -> TriageRow:
    return TriageRow(
        r[0], r[1], r[2], r[3], r[4], r[5], _split(r[6]), _split(r[7]), bool(r[8]), bool(r[9])
    )


def rows_of(vault: Vault, ids: Iterable[str]) -> list[TriageRow]:
    """The rows of the cases ``ids`` (those that exist), newest first as :func:`rows` gives
    them. Reads only those cases: for a few found among many."""
    found: list[tuple[str, int, TriageRow]] = []
    wanted = list(ids)
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        marks = ",".join("?" * len(part))  # only placeholders go into the statement
        sql = f"{_SELECT_ROWID} WHERE c.id IN ({marks})"
        for r in vault.db.execute(sql, part):
            found.append((r[1], r[10], _row(r)))
    found.sort(key=lambda f: (f[0], f[1]), reverse=True)
    return [row for _received, _rowid, row in found]


def count(vault: Vault, where: CaseFilter | None = None) -> int:
    condition, params = (where or CaseFilter()).where()
    sql = "SELECT count(*) FROM cases AS c"
    if "t." in condition:
        sql += " LEFT JOIN case_triage AS t ON t.case_id = c.id"
    sql += f" WHERE {condition}" if condition else ""
    return int(vault.db.execute(sql, params).fetchone()[0])


# --- cases stored before triage was kept ------------------------------------------------


def missing(vault: Vault) -> int:
    """How many cases have no triage yet. (Every triage row names a case, so this is the
    difference of two counts: every unlock asks, and two counts cost far less than looking
    up each case.)"""
    return int(
        vault.db.execute(
            "SELECT (SELECT count(*) FROM cases) - (SELECT count(*) FROM case_triage)"
        ).fetchone()[0]
    )


def fill_missing(vault: Vault) -> int:
    """Give every case stored without triage its triage, from its report; returns how many.

    The reports are opened once each, in memory, read ahead in batches; each batch is one
    transaction with ONE access-log entry, ``triage-filled``, naming (by the list it commits
    to) the cases it read. A report that does not open is kept as unreadable (no sector) and
    named ``damaged`` in that list; it is not opened again.
    """
    if not missing(vault):
        return 0
    from vault.read_through import open_each, record_reads  # store imports us: import here

    filled = 0
    batch: list[tuple[str, Triage]] = []

    def flush() -> None:
        nonlocal filled
        with vault.transaction() as db:
            record_reads(
                vault,
                db,
                "triage-filled",
                {c: "read" if t.sector is not None else "damaged" for c, t in batch},
            )
            store(db, batch)
        filled += len(batch)
        batch.clear()

    for case_id, data in open_each(vault, "t.case_id IS NULL"):
        triage = UNREADABLE
        if data is not None:
            try:
                triage = triage_of(parse_report(data))
            except InvalidReportError:  # opened, but not a valid report inside: unreadable
                triage = UNREADABLE
        batch.append((case_id, triage))
        if len(batch) >= FILL_BATCH:
            flush()
    if batch:
        flush()
    return filled


after_unlock(1, fill_missing)  # cases stored before the vault kept triage get it at unlock
