"""Repeat professionals: the groups of cases that name the same professional.

The groups are found in the index of who each report names (:mod:`vault.professional_index`:
keyed hashes of the normalised identifiers, kept beside each case), with no report opened.
Only the cases in a group are then opened in memory (:mod:`vault.read_through`), to show each
group's identifier and to find any whose envelope no longer opens; that read is recorded as one
``patterns-read`` entry in the access log (how many cases, committing to which), never what was
found. A case whose envelope does not open is counted and named, never dropped in silence.
"Also named in" on ``vault cases show`` is a query of the index alone: nothing opened, nothing
logged beyond the case's own ``opened``. Rules: docs/patterns.md.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vault import db as dbmod
from vault import professional_index as index
from vault.cases import show_id
from vault.professionals import KINDS, SAME, Professional, forget
from vault.read_through import ReadState, open_each, record_reads

if TYPE_CHECKING:
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
    read: int  # cases whose reports were opened (those in a group), damaged ones included
    damaged: tuple[str, ...]  # cases whose envelope did not open (now, or when indexed)
    indexed: int = 0  # cases the index holds: every case, once the vault is unlocked


# The index's rows of every professional named in two or more cases, and those cases (a
# condition on ``cases AS c``, for the read-ahead).
_GROUPED_ROWS = (
    "SELECT key, kind, strength, case_id FROM professionals_named WHERE key IN"
    " (SELECT key FROM professionals_named GROUP BY key HAVING count(*) >= 2)"
)
_IN_A_GROUP = (
    "c.id IN (SELECT case_id FROM professionals_named WHERE key IN"
    " (SELECT key FROM professionals_named GROUP BY key HAVING count(*) >= 2))"
)


def find_patterns(vault: Vault) -> Patterns:
    """Every group of two or more cases naming the same professional, from the index; the
    cases in groups are opened (to show who), and that read is logged as one entry."""
    members: dict[bytes, tuple[str, str, list[str]]] = {}
    for key, kind, strength, case_id in vault.db.execute(_GROUPED_ROWS):
        members.setdefault(bytes(key), (str(kind), str(strength), []))[2].append(str(case_id))
    unshown: dict[str, set[bytes]] = defaultdict(set)  # case -> its group keys not yet shown
    for key, (_kind, _strength, cases) in members.items():
        for c in cases:
            unshown[c].add(key)
    shown: dict[bytes, str] = {}
    read: dict[str, ReadState] = {}
    if members:
        index_key = index.secret(vault, make=False)
        try:
            for case_id, data in open_each(vault, _IN_A_GROUP):
                read[case_id] = "read" if data is not None else "damaged"
                wanted = unshown.get(case_id, set()) - shown.keys()
                if data is None or not wanted:
                    continue
                try:
                    found = index.named_in_json(data)
                except (ValueError, TypeError, AttributeError):
                    read[case_id] = "damaged"
                    continue
                for named, p in index.keyed(index_key, found):
                    if named.key in wanted:
                        shown[named.key] = p.shown
        finally:
            forget()
    with vault.transaction() as db:
        record_reads(vault, db, ACTION, read)
    damaged = {c for c, state in read.items() if state == "damaged"}
    damaged.update(index.unreadable(vault.db))
    by_key: dict[tuple[str, str], list[str]] = {}
    shown_by: dict[tuple[str, str], str] = {}
    for key, (kind, _strength, cases) in members.items():
        if key in shown:  # else no case of it opens now (or the index is stale: vault check)
            by_key[(kind, key.hex())] = [c for c in cases if c not in damaged]
            shown_by[(kind, key.hex())] = shown[key]
    return Patterns(
        group(by_key, shown_by), len(read), tuple(sorted(damaged)), index.indexed(vault.db)
    )


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
    damaged: tuple[str, ...]  # other cases whose report could not be opened to index it


NOBODY = AlsoNamed((), (), ())


def also_named_in(db: dbmod.Connection, case_id: str) -> AlsoNamed:
    """The other cases naming a professional this case names, from the index: no report is
    opened and nothing is logged. Only when this case gives a professional's number or name:
    an organisation with a role alone names no one in particular (``vault patterns`` still
    groups by it)."""
    mine = index.named_by(db, case_id)
    if not any(n.kind != "organisation-role" for n in mine):
        return NOBODY
    keys = [n.key for n in mine]
    marks = ",".join("?" * len(keys))  # only placeholders go into the statement
    others: set[str] = set()
    same: set[str] = set()
    for other, strength in db.execute(
        f"SELECT case_id, strength FROM professionals_named WHERE key IN ({marks})"  # noqa: S608
        " AND case_id != ?",
        [*keys, case_id],
    ):
        others.add(str(other))
        if strength == SAME:
            same.add(str(other))
    damaged = tuple(sorted(c for c in index.unreadable(db) if c != case_id))
    return AlsoNamed(tuple(sorted(others)), tuple(sorted(same)), damaged)
