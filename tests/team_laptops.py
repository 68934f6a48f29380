"""A team of laptops in one test: real vault folders, each its own caseworker, one real relay.

The library calls here are what `vault join`, `vault caseworker add --request` and the first
`vault sync` do (tests/vault/test_sync.py drives the same steps through the CLI), so tests of
sync logic (convergence, catching up, what the relay holds) run in process, fast, against a
real `vault intake serve` on loopback. :func:`shown` is a case as `cases show --json` gives
it, less what each laptop has of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import PASSPHRASE
from vault import case_view, joining, membership
from vault.store import Vault
from vault.sync import first_welcome, sync

# What `cases show --json` holds that belongs to one laptop, not to the case: who opened it
# here, and the "imported" line (each laptop records its own).
OWN_ACTIONS = ("imported", "opened")


class ScriptedRelay:
    """A relay that hands out exactly the items it is given, in order (it misbehaves as a
    test tells it), for the receiver's checks: :func:`vault.receiving.receive` takes it."""

    def __init__(self, items: list[bytes]) -> None:
        self.items = list(enumerate(items, 1))
        self.acked = 0

    def fetch(self, limit: int = 200) -> tuple[list[tuple[int, bytes]], bool]:
        return [(s, w) for s, w in self.items if s > self.acked][:limit], False

    def acknowledge(self, upto: int) -> None:
        self.acked = upto


def join(directory: Path, name: str, adder: Vault, url: str) -> Vault:
    """A laptop joining ``adder``'s team: its request, the add, the adder's sync, the first
    sync. Returns the new laptop's vault, unlocked (the caller closes it)."""
    request = joining.start_join(directory, name, PASSPHRASE)
    membership.add_from_request(adder, name, request)
    sync(adder, url)
    identity, own = joining.unlock_joiner(directory, PASSPHRASE)
    welcome = first_welcome(identity, own, url)
    laptop = joining.finish_join(directory, identity, own, welcome)
    sync(laptop, url)
    return laptop


def shown(laptop: Vault, case_id: str) -> dict[str, Any]:
    """``cases show --json`` of the case on ``laptop``, less the per-laptop parts."""
    doc = case_view.show_case(laptop, case_id).to_json()
    doc["history"] = [h for h in doc["history"] if h["action"] not in OWN_ACTIONS]
    return doc


def every_case(laptop: Vault) -> list[str]:
    return [str(r[0]) for r in laptop.db.execute("SELECT id FROM cases ORDER BY id")]


__all__ = ["OWN_ACTIONS", "every_case", "join", "shown"]
