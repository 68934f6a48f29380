"""The hybrid logical clock: stamps after everything made or seen, close to real time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.clock import MAX_AHEAD_MS, MAX_COUNTER, Clock, Stamp


class Wall:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_a_tick_follows_the_wall_clock_when_it_moves_on() -> None:
    wall = Wall(1_000)
    clock = Clock(now=wall)
    assert clock.tick() == Stamp(1_000, 0)
    wall.ms = 2_000
    assert clock.tick() == Stamp(2_000, 0)


def test_ticks_in_one_millisecond_count_up() -> None:
    clock = Clock(now=Wall(5))
    assert [clock.tick() for _ in range(3)] == [Stamp(5, 0), Stamp(5, 1), Stamp(5, 2)]


def test_a_wall_clock_that_goes_back_never_takes_the_clock_back() -> None:
    wall = Wall(10_000)
    clock = Clock(now=wall)
    first = clock.tick()
    wall.ms = 3_000
    assert clock.tick() > first


def test_what_is_made_after_seeing_an_event_from_a_fast_laptop_comes_after_it() -> None:
    clock = Clock(now=Wall(1_000))
    seen = Stamp(60_000, 7)
    clock.receive(seen)
    assert clock.tick() > seen


def test_a_laptop_far_ahead_cannot_drag_this_clock_with_it() -> None:
    clock = Clock(now=Wall(1_000))
    clock.receive(Stamp(1_000 + 10 * MAX_AHEAD_MS, 0))
    assert clock.last.ms <= 1_000 + MAX_AHEAD_MS


def test_the_counter_overflows_into_the_next_millisecond() -> None:
    clock = Clock(Stamp(5, MAX_COUNTER), now=Wall(0))
    assert clock.tick() == Stamp(6, 0)


@pytest.mark.parametrize(
    "value", [None, [1], [1, 2, 3], ["1", 2], [1.0, 2], [True, 0], [-1, 0], [2**53, 0], {}]
)
def test_a_stamp_in_another_form_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="stamp"):
        Stamp.from_json(value)


@given(st.integers(0, 2**53 - 1), st.integers(0, MAX_COUNTER))
def test_a_stamp_survives_its_json_form(ms: int, n: int) -> None:
    assert Stamp.from_json(Stamp(ms, n).to_json()) == Stamp(ms, n)


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 10_000), st.integers(0, 5_000)), max_size=60)
)
def test_every_stamp_is_after_everything_made_or_seen_before(
    steps: list[tuple[bool, int, int]],
) -> None:
    wall = Wall(0)
    clock = Clock(now=wall)
    highest = Stamp(0, 0)
    for is_receive, at, other in steps:
        wall.ms = at
        if is_receive:
            seen = Stamp(other, 0)
            clock.receive(seen)
            highest = max(highest, seen)
        else:
            stamp = clock.tick()
            assert stamp > highest
            highest = stamp
