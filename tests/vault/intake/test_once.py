"""Pages shown once (vault/intake/once.py): readable once, for a minute, within bounds."""

from __future__ import annotations

from vault.intake.once import OneTimePages


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_page_is_given_once() -> None:
    pages = OneTimePages()
    token = pages.put(b"<p>replies</p>")
    other = pages.put(b"<p>other</p>")
    assert token is not None
    assert other is not None
    assert token != other
    assert len(token) == 43
    assert pages.take(token) == b"<p>replies</p>"
    assert pages.take(token) is None
    assert pages.take(other) == b"<p>other</p>"
    assert len(pages) == 0
    assert pages.take("not a token") is None


def test_a_page_not_fetched_in_time_is_forgotten() -> None:
    clock = Clock()
    pages = OneTimePages(ttl=60, clock=clock)
    early = pages.put(b"early")
    clock.now += 30
    late = pages.put(b"late")
    assert early is not None
    assert late is not None
    clock.now += 31
    assert pages.take(early) is None
    assert pages.take(late) == b"late"


def test_count_and_size_are_bounded_oldest_first() -> None:
    pages = OneTimePages(max_pages=3, max_bytes=10)
    tokens = [pages.put(b"ab") for _ in range(4)]
    assert len(pages) == 3
    assert pages.take(str(tokens[0])) is None  # the oldest went to make room
    big = pages.put(b"x" * 9)  # needs all but one byte: every other page goes
    assert len(pages) == 1
    assert pages.take(str(big)) == b"x" * 9
    assert pages.put(b"x" * 11) is None  # larger than everything allowed: not held
    assert "ab" not in repr(pages)
