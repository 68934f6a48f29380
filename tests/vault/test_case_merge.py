"""A case's state from several laptops' events: the same whatever the arrival order."""

from __future__ import annotations

import os
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from vault.audit.case_actions import CaseState
from vault.case_merge import MergedCase, Placed, merge
from vault.clock import Clock, Stamp
from vault.events import Event

CASE = "7KQ2M9XD"
START = CaseState(CASE, imported=True)


class Laptop:
    """One replica: its clock, the events it holds, and how it makes new ones."""

    def __init__(self, name: str, wall: list[int]) -> None:
        self.name = name
        self.clock = Clock(now=lambda: wall[0])
        self.held: dict[str, Placed] = {}
        self.made = 0

    def heads(self) -> frozenset[str]:
        named = set().union(*(p.after for p in self.held.values())) if self.held else set()
        return frozenset(i for i in self.held if i not in named)

    def make(self, kind: str, data: dict[str, object]) -> Placed:
        self.made += 1
        at = "2026-12-04T00:00:00Z"
        event = Event(f"{self.name}-{self.made:04d}", CASE, kind, self.name, at, dict(data))
        placed = Placed(event, self.clock.tick(), self.heads())
        self.held[event.id] = placed
        return placed

    def receive(self, placed: Placed) -> None:
        if placed.event.id not in self.held:
            assert placed.stamp is not None
            self.clock.receive(placed.stamp)
            self.held[placed.event.id] = placed

    def state(self) -> MergedCase:
        return merge(START, self.held.values())


def test_a_status_after_seeing_another_is_no_conflict() -> None:
    wall = [1_000]
    a, b = Laptop("a", wall), Laptop("b", wall)
    first = a.make("status", {"to": "triage"})
    b.receive(first)
    b.make("status", {"to": "supporting"})
    merged = b.state()
    assert merged.state.status == "supporting"
    assert merged.conflicts == ()


def test_two_statuses_set_apart_are_a_conflict_with_the_later_standing() -> None:
    wall = [1_000]
    a, b = Laptop("a", wall), Laptop("b", wall)
    x = a.make("status", {"to": "triage"})
    wall[0] = 2_000
    y = b.make("status", {"to": "referred"})
    a.receive(y)
    b.receive(x)
    for laptop in (a, b):
        merged = laptop.state()
        assert merged.state.status == "referred"
        [conflict] = merged.conflicts
        assert conflict.field == "status"
        assert conflict.events == (x.event.id, y.event.id)
        assert conflict.standing == y.event.id


def test_the_same_status_set_apart_is_no_conflict() -> None:
    wall = [1_000]
    a, b = Laptop("a", wall), Laptop("b", wall)
    x = a.make("status", {"to": "triage"})
    y = b.make("status", {"to": "triage"})
    a.receive(y)
    merged = a.state()
    assert merged.state.status == "triage"
    assert merged.conflicts == ()
    assert list(merged.not_taken) == [max(x, y, key=Placed.order).event.id]


def test_a_case_closed_on_one_laptop_and_moved_on_on_another_is_a_conflict() -> None:
    wall = [1_000]
    a, b = Laptop("a", wall), Laptop("b", wall)
    closed = a.make("closed", {"outcome": "supported"})
    wall[0] = 2_000
    moved = b.make("status", {"to": "supporting"})
    b.receive(closed)
    merged = b.state()
    assert merged.state.status == "supporting"  # the later change stands: the case is open
    [conflict] = merged.conflicts
    assert conflict.events == (closed.event.id, moved.event.id)
    assert conflict.standing == moved.event.id


def test_a_second_closing_made_apart_is_kept_but_does_not_take_effect() -> None:
    wall = [1_000]
    a, b = Laptop("a", wall), Laptop("b", wall)
    first = a.make("closed", {"outcome": "supported"})
    wall[0] = 2_000
    second = b.make("closed", {"outcome": "duplicate"})
    b.receive(first)
    merged = b.state()
    assert (merged.state.status, merged.state.outcome) == ("closed", "supported")
    assert "already closed" in merged.not_taken[second.event.id]
    [conflict] = merged.conflicts
    assert conflict.standing == first.event.id


def test_assignments_set_apart_conflict_separately_from_the_status() -> None:
    wall = [1_000]
    a, b = Laptop("a", wall), Laptop("b", wall)
    a.make("assigned", {"to": "amara"})
    b.make("assigned", {"to": "bea"})
    b.make("status", {"to": "triage"})
    for p in list(b.held.values()):
        a.receive(p)
    merged = a.state()
    assert [c.field for c in merged.conflicts] == ["assignee"]
    assert merged.state.assignee in ("amara", "bea")


def test_events_made_before_syncing_come_first_in_their_own_order() -> None:
    old = [
        Placed(Event(f"old-{i}", CASE, kind, "a", "2020-01-01T00:00:00Z", data), None, local=i)
        for i, (kind, data) in enumerate(
            [("status", {"to": "triage"}), ("status", {"to": "supporting"})]
        )
    ]
    moved = Event("new", CASE, "status", "b", "2026-01-01T00:00:00Z", {"to": "referred"})
    new = Placed(moved, Stamp(1, 0))
    merged = merge(START, [new, *reversed(old)])
    assert [p.event.id for p in merged.events] == ["old-0", "old-1", "new"]
    assert merged.state.status == "referred"


def test_an_event_stamped_before_one_its_author_had_seen_still_comes_after_it() -> None:
    """A clock days behind (a received stamp moves it at most a day): the order follows
    what each author had seen, not the stamps."""
    closed = Placed(Event("c", CASE, "closed", "b", "t", {"outcome": "supported"}), Stamp(9, 0))
    moved = Event("m", CASE, "status", "a", "t", {"to": "supporting"})
    reopened = Placed(moved, Stamp(5, 0), frozenset({"c"}))
    merged = merge(START, [reopened, closed])
    assert [p.event.id for p in merged.events] == ["c", "m"]
    assert (merged.state.status, merged.conflicts, dict(merged.not_taken)) == ("supporting", (), {})


def test_a_forged_cycle_of_names_does_not_hang() -> None:
    triage = Event("x", CASE, "status", "a", "t", {"to": "triage"})
    referred = Event("y", CASE, "status", "b", "t", {"to": "referred"})
    x = Placed(triage, Stamp(1, 0), frozenset({"y"}))
    y = Placed(referred, Stamp(2, 0), frozenset({"x"}))
    assert merge(START, [x, y]).state.status == "referred"


ACTIONS = st.sampled_from(
    [
        ("status", {"to": "triage"}),
        ("status", {"to": "supporting"}),
        ("status", {"to": "referred"}),
        ("assigned", {"to": "amara"}),
        ("assigned", {"to": "bea"}),
        ("note", {}),
        ("closed", {"outcome": "supported"}),
        ("closed", {"outcome": "duplicate"}),
    ]
)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("make"), st.integers(0, 2), ACTIONS, st.integers(0, 50)),
        st.tuples(st.just("sync"), st.integers(0, 2), st.integers(0, 2), st.integers(0, 50)),
    ),
    max_size=40,
)


# 100 by default (the suite has no time to spare); REDRESS_MERGE_EXAMPLES=N runs N
# (3,000 passed on 5 December 2026 with the order by `after`).
@settings(max_examples=int(os.environ.get("REDRESS_MERGE_EXAMPLES", "100")), deadline=None)
@given(STEPS, st.randoms(use_true_random=False))
def test_every_laptop_converges_whatever_the_interleaving(steps: list, rnd: random.Random) -> None:
    wall = [1_000]
    laptops = [Laptop(n, wall) for n in ("a", "b", "c")]
    for step in steps:
        wall[0] += step[3]
        if step[0] == "make":
            _, who, (kind, data), _ = step
            laptop = laptops[who]
            placed = laptop.make(kind, data)
            # a laptop records only what its own state allows; keep the rest out
            if placed.event.id in laptop.state().not_taken:
                del laptop.held[placed.event.id]
        else:
            _, src, dst, _ = step
            items = list(laptops[src].held.values())
            rnd.shuffle(items)
            for p in items:
                laptops[dst].receive(p)
    everything = {i: p for lap in laptops for i, p in lap.held.items()}
    for laptop in laptops:  # the final syncs, each in its own order
        items = list(everything.values())
        rnd.shuffle(items)
        for p in items:
            laptop.receive(p)
    states = [laptop.state() for laptop in laptops]
    assert all(s == states[0] for s in states)
    # an event made after another was seen is ordered after it
    order = {p.event.id: i for i, p in enumerate(states[0].events)}
    for p in states[0].events:
        assert all(order[a] < order[p.event.id] for a in p.after if a in order)
