"""A case's state from events made on several laptops, the same on every laptop.

Every replica holds the same set of a case's events once it has synced, but receives them
in its own order. The state is therefore a function of the *set*, never of the arrival:

1. **Order.** Events made before the vault synced (event format 1) come first, in the order
   they were made on their one laptop. Then every other event after every event it names
   in ``after`` (its author had seen them, so it was made after them, whatever the clocks
   said), and otherwise by its clock stamp (:mod:`vault.clock`), then its author's key id,
   then its id: of the events whose named events are all placed, the least of these comes
   next. A total order every replica computes alike from the set of events.
2. **Fold.** The events are applied in that order by the rules of the table of case actions
   (:mod:`vault.audit.case_actions`). A laptop only records an action its own state allows,
   but two laptops apart can each make a change the other's makes impossible (one closes a
   case while the other moves it on). Such an event is kept, and shown, but *does not take
   effect*, with the rule's own words as the reason.
3. **Conflicts.** Two events are *concurrent* when neither author had seen the other: each
   event names the case's latest events its author had seen (``after``), and an event has
   seen everything reachable through those names. Concurrent events that set the same thing
   (the status, or who the case is assigned to) to different values are a *conflict*: both
   are kept, and the one that stands (the last of them in the order that took effect) is
   marked.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vault.audit.case_actions import CaseState, apply
from vault.clock import Stamp
from vault.errors import CaseWorkflowError
from vault.events import Event

FIELDS = {"status": "status", "closed": "status", "assigned": "assignee"}
"""The kinds of event that set something a conflict can be about, and what they set."""


@dataclass(frozen=True, slots=True)
class Placed:
    """An event with what places it in the team's order.

    ``stamp`` is None for an event made before the vault synced (format 1); those are
    ordered by ``local``, their place in the history of the one laptop that made them, and
    each has seen every format-1 event before it.
    """

    event: Event
    stamp: Stamp | None
    after: frozenset[str] = frozenset()
    local: int = 0

    def order(self) -> tuple[int, int, int, str, str]:
        if self.stamp is None:
            return (0, self.local, 0, "", self.event.id)
        return (1, self.stamp.ms, self.stamp.n, self.event.actor, self.event.id)


@dataclass(frozen=True, slots=True)
class Conflict:
    """Concurrent events that set the same thing to different values."""

    field: str  # "status" or "assignee"
    events: tuple[str, ...]  # their ids, in the team's order
    standing: str | None  # the one whose value stands (None: none of them took effect)


@dataclass(frozen=True, slots=True)
class MergedCase:
    state: CaseState
    events: tuple[Placed, ...]  # in the team's order
    not_taken: Mapping[str, str]  # event id -> why it did not take effect
    conflicts: tuple[Conflict, ...]


def merge(start: CaseState, events: Iterable[Placed]) -> MergedCase:
    """The case's state after all ``events`` (any order, no repeats), from ``start``."""
    given = list(events)
    if len({p.event.id for p in given}) != len(given):
        raise ValueError("an event appears twice")
    ordered = _causal_order(given)
    state = start
    not_taken: dict[str, str] = {}
    for placed in ordered:
        try:
            state = apply(state, placed.event)
        except CaseWorkflowError as refused:
            not_taken[placed.event.id] = str(refused)
    return MergedCase(state, ordered, not_taken, _conflicts(ordered, not_taken))


def _causal_order(events: Iterable[Placed]) -> tuple[Placed, ...]:
    """Format-1 events in their order, then the others each after the events it names (a
    clock days out cannot put an event before one its author had seen), otherwise by
    stamp, author and id. Names of events not held are not waited for (they arrive later,
    and the order is worked out again). A cycle of names, which only a forged history could
    hold, is broken at its least event."""
    placed = sorted(events, key=Placed.order)
    out = [p for p in placed if p.stamp is None]
    later = [p for p in placed if p.stamp is not None]
    held = {p.event.id for p in later}
    waiting = {p.event.id: {a for a in p.after if a in held and a != p.event.id} for p in later}
    if not any(waiting.values()):  # nothing names another: the order by stamp is causal
        return tuple(out + later)
    named_by: dict[str, list[Placed]] = {}
    for p in later:
        for a in waiting[p.event.id]:
            named_by.setdefault(a, []).append(p)
    ready = [(p.order(), p) for p in later if not waiting[p.event.id]]
    heapq.heapify(ready)
    left = {p.event.id: p for p in later}
    while left:
        if not ready:  # a cycle: take its least event
            least = min(left.values(), key=Placed.order)
            waiting[least.event.id] = set()
            ready.append((least.order(), least))
        _, p = heapq.heappop(ready)
        if p.event.id not in left:
            continue
        del left[p.event.id]
        out.append(p)
        for child in named_by.get(p.event.id, ()):
            pending = waiting[child.event.id]
            pending.discard(p.event.id)
            if not pending and child.event.id in left:
                heapq.heappush(ready, (child.order(), child))
    return tuple(out)


def _value(event: Event) -> str:
    if event.kind == "closed":
        return f"closed {event.data.get('outcome')}"
    return str(event.data.get("to"))


def _seen(ordered: tuple[Placed, ...]) -> dict[str, frozenset[str]]:
    """Each event id -> every event id its author had seen (transitively)."""
    by_id = {p.event.id: p for p in ordered}
    seen: dict[str, frozenset[str]] = {}
    earlier_v1: list[str] = []
    for placed in ordered:  # the order puts every event after all it names
        if placed.stamp is None:
            seen[placed.event.id] = frozenset(earlier_v1)
            earlier_v1.append(placed.event.id)
    pending = [p for p in ordered if p.stamp is not None]

    def visit(placed: Placed) -> frozenset[str]:
        # iterative depth-first: histories can be long
        # (a cycle of names, which only a forged history could hold, is cut where it closes)
        stack: list[tuple[Placed, bool]] = [(placed, False)]
        open_: set[str] = set()
        while stack:
            node, expanded = stack.pop()
            key = node.event.id
            if key in seen:
                continue
            parents = [by_id[a] for a in node.after if a in by_id and a != key]
            if not expanded:
                if key in open_:
                    continue
                open_.add(key)
                stack.append((node, True))
                fresh = [p for p in parents if p.event.id not in seen and p.event.id not in open_]
                stack.extend((p, False) for p in fresh)
                continue
            acc: set[str] = set()
            for parent in parents:
                acc.add(parent.event.id)
                acc |= seen.get(parent.event.id, frozenset())
            # names of events not (yet) held still count as seen: they arrive later
            acc |= {a for a in node.after if a not in by_id}
            seen[key] = frozenset(acc)
        return seen[placed.event.id]

    for placed in pending:
        visit(placed)
    return seen


def _conflicts(ordered: tuple[Placed, ...], not_taken: Mapping[str, str]) -> tuple[Conflict, ...]:
    seen = _seen(ordered)
    position = {p.event.id: i for i, p in enumerate(ordered)}
    found: list[Conflict] = []
    for field in ("status", "assignee"):
        setters = [p.event for p in ordered if FIELDS.get(p.event.kind) == field]
        # join concurrent setters of different values into groups (union-find)
        group = {e.id: e.id for e in setters}
        for i, a in enumerate(setters):
            for b in setters[i + 1 :]:
                concurrent = a.id not in seen[b.id] and b.id not in seen[a.id]
                if concurrent and _value(a) != _value(b):
                    group[_root(group, a.id)] = _root(group, b.id)
        members: dict[str, list[str]] = {}
        for e in setters:
            members.setdefault(_root(group, e.id), []).append(e.id)
        for ids in members.values():
            if len(ids) < 2:
                continue
            ids.sort(key=position.__getitem__)
            effective = [i for i in ids if i not in not_taken]
            found.append(Conflict(field, tuple(ids), effective[-1] if effective else None))
    found.sort(key=lambda c: position[c.events[0]])
    return tuple(found)


def _root(group: dict[str, str], x: str) -> str:
    while group[x] != x:
        group[x] = group[group[x]]
        x = group[x]
    return x
