"""Review 9: replays caught (docs/sync.md section 5), against a real vault and a relay that
hands out what the test gives it (tests/team_laptops.py ``ScriptedRelay``).

An item the relay confirmed it deleted, sent again, is a replay, whenever this laptop came to
hold it: at the sync whose page brought it, or at a later one (an item that waited set aside
behind a gap, taken once the missing one came).
"""

from __future__ import annotations

import pytest

from tests.team_laptops import ScriptedRelay
from tests.vault.test_sync import _events_item
from tests.vault.test_sync import peer_and_vault as peer_and_vault  # the fixture
from vault.errors import IntegrityError, VaultError
from vault.keys import Identity
from vault.pull import PullResult
from vault.receiving import receive
from vault.relay_items import FIRST_PREV, Item, RelayMisbehaved, make_item
from vault.store import Vault
from vault.sync_result import SyncResult


def _items(vault: Vault, peer: Identity, origin: str, count: int) -> list[Item]:
    out: list[Item] = []
    prev = FIRST_PREV
    for n in range(1, count + 1):
        out.append(_events_item(vault, peer, origin, n, prev))
        prev = out[-1].hash
    return out


class _Relay(ScriptedRelay):
    """A :class:`ScriptedRelay` whose numbers go on from where the last one's stopped, as a
    real relay's do (never given twice)."""

    seq = 0

    def __init__(self, items: list[bytes]) -> None:
        super().__init__(items)
        self.items = [(_Relay.seq + i, w) for i, w in enumerate(items, 1)]
        self.acked = _Relay.seq
        _Relay.seq += len(items)


class _SecondAckLost(_Relay):
    """Pages of one item; the answer to the second acknowledgement never comes (the relay
    deleted nothing for it)."""

    def fetch(self, limit: int = 200, after: int = 0) -> tuple[list[tuple[int, bytes]], bool]:
        left = [(s, w) for s, w in self.items if s > max(self.acked, after)]
        return left[:1], len(left) > 1

    def acknowledge(self, upto: int) -> None:
        if upto > self.items[0][0]:
            raise VaultError("Could not reach the intake.")
        super().acknowledge(upto)


def _acked(vault: Vault, origin: str) -> list[tuple[int, int]]:
    rows = vault.db.execute("SELECT n, acked FROM sync_received WHERE origin = ?", (origin,))
    return [(int(n), int(acked)) for n, acked in rows]


def test_an_item_held_at_a_later_sync_is_a_replay_when_sent_again(
    peer_and_vault: tuple[Vault, Identity, str],
) -> None:
    """Items 1 and 3 come (3 waits set aside behind the gap) and the relay confirms it deleted
    both; item 2 comes at the next sync and 3 is taken from the spool. The relay then sends 3
    again: it confirmed it had deleted it, so that is a replay."""
    vault, peer, origin = peer_and_vault
    one, two, three = _items(vault, peer, origin, 3)
    result = SyncResult(PullResult())
    with pytest.raises(RelayMisbehaved, match="dropped item 2"):
        receive(vault, _Relay([one.to_wire(), three.to_wire()]), result)  # type: ignore[arg-type]
    receive(vault, _Relay([two.to_wire()]), result)  # type: ignore[arg-type]
    assert _acked(vault, origin)[0][0] == 3
    with pytest.raises(RelayMisbehaved, match=r"item 3 from bea's laptop .* again, after it was"):
        receive(vault, _Relay([three.to_wire()]), result)  # type: ignore[arg-type]


def test_a_page_acknowledged_before_a_later_acknowledgement_failed_is_remembered(
    peer_and_vault: tuple[Vault, Identity, str],
) -> None:
    """Item 1 taken; then two pages: the relay confirms the first (item 2), the answer to the
    second (item 3) is lost, so the sync fails before it takes them. The next sync takes both
    from the spool; the relay then sends item 2 again: it had confirmed deleting it, a
    replay. Item 3, whose acknowledgement was never answered, sent again, is skipped without
    a word."""
    vault, peer, origin = peer_and_vault
    one, two, three = _items(vault, peer, origin, 3)
    result = SyncResult(PullResult())
    receive(vault, _Relay([one.to_wire()]), result)  # type: ignore[arg-type]
    with pytest.raises(VaultError, match="Could not reach"):
        receive(vault, _SecondAckLost([two.to_wire(), three.to_wire()]), result)  # type: ignore[arg-type]
    receive(vault, _Relay([]), result)  # type: ignore[arg-type]
    assert _acked(vault, origin)[0][0] == 3
    with pytest.raises(RelayMisbehaved, match=r"item 2 from bea's laptop .* again, after it was"):
        receive(vault, _Relay([two.to_wire()]), result)  # type: ignore[arg-type]
    receive(vault, _Relay([three.to_wire()]), result)  # type: ignore[arg-type]


def test_a_forgery_confirmed_deleted_then_the_genuine_item_is_no_replay(
    peer_and_vault: tuple[Vault, Identity, str],
) -> None:
    """The relay confirms it deleted a forged item 2 (set aside) and a forged item 3; the
    genuine 2 and 3, sent later, are taken, not called replays; once held, 3 sent again is."""
    vault, peer, origin = peer_and_vault
    one, two, three = _items(vault, peer, origin, 3)
    stranger = Identity.generate("bea")
    forged = [make_item(stranger, origin, n, one.hash, "team", 1, b"x" * 64) for n in (2, 3)]
    result = SyncResult(PullResult())
    with pytest.raises(IntegrityError, match="Item 2 from"):
        receive(vault, _Relay([one.to_wire(), *(f.to_wire() for f in forged)]), result)  # type: ignore[arg-type]
    receive(vault, _Relay([two.to_wire(), three.to_wire()]), result)  # type: ignore[arg-type]
    assert _acked(vault, origin) == [(3, 3)]
    with pytest.raises(RelayMisbehaved, match=r"item 3 from bea's laptop .* again, after it was"):
        receive(vault, _Relay([three.to_wire()]), result)  # type: ignore[arg-type]
