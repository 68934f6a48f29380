"""Repeat professionals: the groups of cases that name the same professional.

Every report is opened in memory (:mod:`vault.read_through`), the four fields that say who
it is about are read, and :mod:`vault.professionals` turns them into normalised keys; cases
sharing a key form a group. The read is recorded as one ``patterns-read`` entry in the access
log (how many cases, committing to which), never what was found. A case whose envelope does
not open is counted and named, never dropped in silence. Rules: docs/patterns.md.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vault import db as dbmod
from vault.cases import show_id
from vault.envelope import open_report
from vault.errors import IntegrityError
from vault.professionals import KINDS, SAME, Professional, forget, named_in
from vault.read_through import ReadState, open_each, record_reads

if TYPE_CHECKING:
    from collections.abc import Iterable

    from vault.store import Vault

ACTION = "patterns-read"


@dataclass(frozen=True, slots=True)
class Group:
    """Two or more cases naming one professional. ``identifier`` is what the reports say
    (a number or a name): show it to caseworkers only."""

    kind: str
    identifier: str = field(repr=False)
    strength: str
    cases: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "identifier": self.identifier,
            "kind": self.kind,
            "strength": self.strength,
            "cases": [show_id(c) for c in self.cases],
        }


@dataclass(frozen=True, slots=True)
class Patterns:
    groups: tuple[Group, ...]
    read: int  # cases whose reports were read, damaged ones included
    damaged: tuple[str, ...]  # cases whose envelope did not open


def professionals_by_case(
    vault: Vault, read: dict[str, ReadState]
) -> Iterable[tuple[str, tuple[Professional, ...]]]:
    """Each case and the professionals its report names, reading every report once in
    memory; every case read goes in ``read`` as ``read`` or ``damaged`` (did not open)."""
    try:
        yield from _named_by_case(vault, read)
    finally:
        forget()


def _named_by_case(
    vault: Vault, read: dict[str, ReadState]
) -> Iterable[tuple[str, tuple[Professional, ...]]]:
    for case_id, data in open_each(vault):
        read[case_id] = "read"
        if data is None:
            read[case_id] = "damaged"
            continue
        try:
            doc = json.loads(data)
            found = named_in(
                doc.get("professional_identifier"),
                doc.get("organisation"),
                doc.get("role"),
                doc.get("sector"),
            )
        except (ValueError, TypeError, AttributeError):
            read[case_id] = "damaged"
            continue
        if found:
            yield case_id, found


def find_patterns(vault: Vault) -> Patterns:
    """Every group of two or more cases naming the same professional, logged as one read."""
    read: dict[str, ReadState] = {}
    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    shown: dict[tuple[str, str], str] = {}
    for case_id, found in professionals_by_case(vault, read):
        for p in found:
            by_key[(p.kind, p.key)].append(case_id)
            shown.setdefault((p.kind, p.key), p.shown)
    with vault.transaction() as db:
        record_reads(vault, db, ACTION, read)
    damaged = tuple(sorted(c for c, state in read.items() if state == "damaged"))
    return Patterns(group(by_key, shown), len(read), damaged)


def group(
    by_key: dict[tuple[str, str], list[str]], shown: dict[tuple[str, str], str]
) -> tuple[Group, ...]:
    """Groups of two or more cases; a possible group whose cases all lie in one group of the
    same professional says nothing more, and is left out. Same before possible, then the
    larger first."""
    order = {k: i for i, k in enumerate(KINDS)}
    groups = [
        Group(kind, shown[(kind, key)], Professional(kind, key, "").strength, tuple(sorted(cs)))
        for (kind, key), cs in by_key.items()
        if len(set(cs)) >= 2
    ]
    same = [set(g.cases) for g in groups if g.strength == SAME]
    kept = [g for g in groups if g.strength == SAME or not any(set(g.cases) <= s for s in same)]
    kept.sort(key=lambda g: (g.strength != SAME, -len(g.cases), order[g.kind], g.identifier))
    return tuple(kept)


@dataclass(frozen=True, slots=True)
class AlsoNamed:
    """The other cases naming a professional that one case names."""

    cases: tuple[str, ...]  # other case ids, sorted
    same: tuple[str, ...]  # those naming them by the same register number or police number
    read: dict[str, ReadState]  # every case read to find them (none if the case names nobody)
    damaged: tuple[str, ...]


def also_named_in(vault: Vault, case_id: str) -> AlsoNamed:
    """The other cases naming a professional this case names. Reads every report in memory
    when this one gives a professional's number or name; the caller logs the read
    (:func:`record_also_named`) in the transaction that opens the case."""
    envelope, epoch = dbmod.one(
        vault.db, "SELECT envelope, epoch FROM cases WHERE id = ?", (case_id,)
    )
    team = vault.team_key(epoch)
    try:
        report = open_report(envelope, team.public_key, team.secret_key)
    except IntegrityError:
        return AlsoNamed((), (), {}, ())
    mine = {
        (p.kind, p.key)
        for p in named_in(
            report.professional_identifier, report.organisation, report.role, report.sector
        )
    }
    if not any(kind != "organisation-role" for kind, _ in mine):
        # An organisation with a role alone names no one in particular: no read of every report
        # for it on each opening (``vault patterns`` still groups by it).
        return AlsoNamed((), (), {}, ())
    read: dict[str, ReadState] = {}
    others: set[str] = set()
    same: set[str] = set()
    for other, found in professionals_by_case(vault, read):
        if other == case_id:
            continue
        for p in found:
            if (p.kind, p.key) in mine:
                others.add(other)
                if p.strength == SAME:
                    same.add(other)
    damaged = tuple(sorted(c for c, state in read.items() if state == "damaged"))
    return AlsoNamed(tuple(sorted(others)), tuple(sorted(same)), read, damaged)


def record_also_named(vault: Vault, db: dbmod.Connection, named: AlsoNamed) -> None:
    """Log the read behind "also named in", if there was one, in ``db``'s transaction."""
    record_reads(vault, db, ACTION, named.read)
