"""The intake as a blind relay between the team's laptops (``docs/sync.md``).

It keeps two things, both in the inbox (:class:`vault.intake.inbox.Inbox`, so a shared
database for several intake nodes stays a one-module change):

* the **team**: the chain of signed statements about who is on it
  (:mod:`vault.team_changes`), starting from the team key file the intake was started with.
  Each statement is checked against the chain before it is stored, and takes effect at once:
  the keys the intake accepts signed requests from change without a restart.
* **items**: what laptops send each other (:mod:`vault.relay_items`), sealed before they
  left the laptop. The relay checks an item's form, that its author is a current member
  signing for their own laptop's log, and that it comes next in its chain; it stores it
  until every member it is for has fetched past it, then deletes it.

It never holds a key that opens an item.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from vault.errors import IntegrityError
from vault.intake.inbox import Inbox
from vault.keys import TeamPublicKey
from vault.relay_items import TO_TEAM, ItemError, check_signature, parse_item
from vault.team_changes import Statement, Team, TeamChangeError, apply

FETCH_LIMIT = 200  # items in one answer
FETCH_BYTES = 8 << 20  # about this many item bytes in one answer


class RelayRefused(Exception):
    """A relay request refused: ``status`` and one ``error`` word for the answer."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


_STATUS = {
    "malformed": 400,
    "signature": 403,
    "not-a-member": 403,
    "not-allowed": 409,
    "out-of-order": 409,
    "duplicate": 409,
}


class Relay:
    """The team as the chain says, and the relay's items, over one inbox."""

    def __init__(
        self, inbox: Inbox, start: TeamPublicKey, on_change: Callable[[Team], None]
    ) -> None:
        self._inbox = inbox
        self._lock = threading.Lock()
        self._on_change = on_change
        team = Team.start(start)
        for body, signature in inbox.relay_statements():
            try:
                team = apply(team, Statement(body, signature))
            except TeamChangeError as e:
                raise IntegrityError(
                    f"The relay's record of the team does not follow its team key file ({e}).",
                    hint="start the intake with the team key file it was first started with: a"
                    " team of laptops tells it of every change by vault sync, with no new file"
                    " (docs/sync.md section 6)",
                ) from None
        self._team = team
        inbox.relay_start(self.members())
        on_change(team)

    @property
    def team(self) -> Team:
        return self._team

    def members(self) -> list[str]:
        return [m.key_id for m in self._team.members]

    def chain(self) -> list[Statement]:
        return [Statement(b, s) for b, s in self._inbox.relay_statements()]

    def add_statement(self, statement: Statement) -> Team:
        """Check ``statement`` against the chain, store it, and let it take effect."""
        with self._lock:
            before = self._team
            try:
                after = apply(before, statement)
            except TeamChangeError as e:
                raise RelayRefused(_STATUS.get(e.reason, 409), e.reason) from None
            added = [m.key_id for m in after.members if before.member(m.key_id) is None]
            self._inbox.relay_add_statement(
                after.n,
                statement.body,
                statement.signature,
                [m.key_id for m in after.members],
                added[0] if added else None,
                statement.signer,
            )
            self._team = after
            self._on_change(after)
            return after

    def put(self, author: str, wire: bytes) -> str:
        """Store one item from ``author``: "stored" or "held" (already had it)."""
        member = self._team.member(author)
        if member is None:
            raise RelayRefused(403, "not-a-member")
        try:
            item = parse_item(wire)
            check_signature(item, member.sign_pk)
        except ItemError:
            raise RelayRefused(400, "malformed") from None
        if member.origin is not None and item.origin != member.origin:
            raise RelayRefused(403, "not-your-log")
        if item.to != TO_TEAM and self._team.member(item.to) is None:
            raise RelayRefused(409, "not-a-member")
        answer = self._inbox.relay_put(
            author, item.origin, item.to, item.n, bytes.fromhex(item.hash), item.to_wire()
        )
        if answer in ("out-of-order", "forked"):
            raise RelayRefused(409, answer)
        return answer

    def fetch(
        self, member: str, limit: int, after: int = 0
    ) -> tuple[list[tuple[int, bytes]], bool]:
        return self._inbox.relay_fetch(member, min(limit, FETCH_LIMIT), FETCH_BYTES, after)

    def ack(self, member: str, upto: int) -> int:
        return self._inbox.relay_ack(member, upto)


__all__ = ["FETCH_BYTES", "FETCH_LIMIT", "Relay", "RelayRefused"]
