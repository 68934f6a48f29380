"""The hybrid logical clock that orders case events made on several laptops.

Each event made on a replica carries a :class:`Stamp`: the laptop's wall clock in
milliseconds, and a counter that orders events made within the same millisecond, or made
after seeing an event stamped ahead of this laptop's wall clock. The rules are those of
hybrid logical clocks (Kulkarni et al., 2014):

* **making an event** (:meth:`Clock.tick`): the stamp is the larger of the wall clock and
  the last stamp; when the last stamp is the larger, its counter goes up by one;
* **receiving an event** (:meth:`Clock.receive`): the clock moves past the received stamp,
  so anything made here afterwards is ordered after what was seen.

So an event made after another was seen is stamped after it unless the two laptops' clocks
are more than a day apart (the cap below), and stamps stay close to real time; the order
itself puts an event after every event it names as seen, whatever the stamps
(:mod:`vault.case_merge`). Two events made apart, neither
seeing the other, are ordered by their stamps and then by author (:mod:`vault.case_merge`):
a deterministic order every replica agrees on.

A laptop whose clock runs far ahead could drag everyone's clocks with it. A received stamp
moves this clock at most :data:`MAX_AHEAD_MS` past the local wall clock; the event itself
keeps its stamp (the order depends only on the events, never on who received them when).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_AHEAD_MS = 24 * 3600 * 1000
"""How far past the wall clock a received stamp may move this laptop's clock."""
MAX_MS = 2**53 - 1  # stamps are JSON numbers: keep them exact in every JSON reader
MAX_COUNTER = 2**31 - 1


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True, order=True)
class Stamp:
    """A point in the team's shared order: wall-clock milliseconds, then a counter."""

    ms: int
    n: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.ms <= MAX_MS and 0 <= self.n <= MAX_COUNTER):
            raise ValueError("a clock stamp is out of range")

    def to_json(self) -> list[int]:
        return [self.ms, self.n]

    @classmethod
    def from_json(cls, value: object) -> Stamp:
        """A stamp from its JSON form ``[ms, n]``; ValueError for anything else."""
        if not isinstance(value, list) or len(value) != 2 or not all(type(v) is int for v in value):
            raise ValueError("a clock stamp is two whole numbers")
        return cls(value[0], value[1])


ZERO = Stamp(0, 0)


class Clock:
    """One laptop's clock. Keep :attr:`last` in the vault so it survives a restart."""

    def __init__(self, last: Stamp = ZERO, now: Callable[[], int] = wall_ms) -> None:
        self.last = last
        self._now = now

    def tick(self) -> Stamp:
        """The stamp for an event made here now: after every stamp made or seen before."""
        wall = self._now()
        if wall > self.last.ms:
            self.last = Stamp(wall, 0)
        else:
            self.last = self._next(self.last)
        return self.last

    def receive(self, seen: Stamp) -> Stamp:
        """Move past a stamp received from another laptop (at most MAX_AHEAD_MS ahead)."""
        wall = self._now()
        seen = min(seen, Stamp(wall + MAX_AHEAD_MS, MAX_COUNTER))
        if seen > self.last:
            self.last = seen
        return self.last

    @staticmethod
    def _next(stamp: Stamp) -> Stamp:
        if stamp.n < MAX_COUNTER:
            return Stamp(stamp.ms, stamp.n + 1)
        return Stamp(stamp.ms + 1, 0)
