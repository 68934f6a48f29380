"""What a vault holds, read by id, and what it has acknowledged: the kill loops' oracle.

:func:`read_state` unlocks a vault in this process and lists, in storage order, every case's
envelope id, every signed event's id, every note's text (opened, so a note that is there but
unreadable counts as damage) and the access log's leaf hashes. :class:`Ledger` remembers
everything a vault acknowledged (a command that exited 0, or an intake that deleted what it
held) and names what a later state lost or holds twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import PASSPHRASE
from vault.case_history import verified_events
from vault.case_view import open_sealed_text
from vault.passphrase import Passphrase
from vault.store import Vault


@dataclass(frozen=True)
class State:
    envelopes: tuple[bytes, ...]  # envelope ids of stored cases
    events: tuple[str, ...]  # signed case events by id
    notes: tuple[str, ...]  # note texts, opened
    leaves: tuple[bytes, ...]  # access log leaf hashes, in order
    caseworkers: dict[str, bool]  # name: still a member (not revoked)
    epochs: int


def read_state(directory: Path, name: str = "amara", passphrase: Passphrase = PASSPHRASE) -> State:
    with Vault.unlock(directory, passphrase, name) as vault:
        return state_of(vault)


def state_of(vault: Vault) -> State:
    """:func:`read_state` of a vault this process holds unlocked (as it is now on disk)."""
    db = vault.db
    envelopes = tuple(bytes(r[0]) for r in db.execute("SELECT envelope_id FROM cases"))
    events = tuple(str(r[0]) for r in db.execute("SELECT id FROM events ORDER BY seq"))
    notes = []
    for (case_id,) in db.execute("SELECT id FROM cases ORDER BY rowid").fetchall():
        for event in verified_events(vault, db, str(case_id)):
            if event.kind == "note":
                notes.append(open_sealed_text(vault, event.data))
    leaves = tuple(bytes(r[0]) for r in db.execute("SELECT hash FROM log_leaves ORDER BY seq"))
    members = {str(n): r is None for n, r in db.execute("SELECT name, revoked FROM caseworkers")}
    epochs = int(db.execute("SELECT count(*) FROM team_keys").fetchone()[0])
    return State(envelopes, events, tuple(notes), leaves, members, epochs)


@dataclass
class Ledger:
    """Everything acknowledged so far; :meth:`problems` compares a later state with it."""

    envelopes: set[bytes] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    notes: set[str] = field(default_factory=set)
    leaves: tuple[bytes, ...] = ()
    members: dict[str, bool] = field(default_factory=dict)

    def acknowledge(self, state: State) -> None:
        """A command exited 0: all it left in the vault is now promised to stay."""
        self.envelopes |= set(state.envelopes)
        self.events |= set(state.events)
        self.notes |= set(state.notes)
        self.leaves = max(self.leaves, state.leaves, key=len)
        self.members.update(state.caseworkers)

    def problems(self, state: State) -> list[str]:
        """What ``state`` lost or holds twice of what was acknowledged."""
        found = []
        for what, promised, held in (
            ("report", self.envelopes, Counter(state.envelopes)),
            ("event", self.events, Counter(state.events)),
            ("note", self.notes, Counter(state.notes)),
        ):
            lost = [x for x in promised if held[x] == 0]
            twice = [x for x, n in held.items() if n > 1]
            if lost:
                found.append(f"{len(lost)} acknowledged {what}(s) lost")
            if twice:
                found.append(f"{len(twice)} {what}(s) held more than once")
        if state.leaves[: len(self.leaves)] != self.leaves:
            found.append(
                f"the access log no longer starts with its {len(self.leaves)} acknowledged entries"
                f" (it has {len(state.leaves)})"
            )
        for name, member in self.members.items():
            if name not in state.caseworkers:
                found.append(f"caseworker {name} vanished")
            elif member and not state.caseworkers[name] and name not in self.revoking:
                found.append(f"caseworker {name} was revoked without being asked")
            elif not member and state.caseworkers[name]:
                found.append(f"revoked caseworker {name} is a member again")
        return found

    revoking: set[str] = field(default_factory=set)  # revocations asked for (maybe unacknowledged)
