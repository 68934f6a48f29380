"""What one ``vault sync`` did, as the command tells the caseworker: items received
and sent, cases, events and attachments taken in, who was welcomed, the team key epochs told
to the relay or taken from another laptop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vault import epoch_settling
from vault.pull import PullResult


@dataclass(slots=True)
class SyncResult:
    pulled: PullResult
    received_items: int = 0
    cases_received: list[str] = field(default_factory=list)
    events_received: int = 0
    attachments_received: int = 0
    sent_items: int = 0
    welcomed: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)  # cases held here under another id
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (team's id, id here)
    erased: list[str] = field(default_factory=list)  # cases erased here as another laptop did
    ignored: int = 0  # items from a removed caseworker's laptop, after their removal
    set_aside: int = 0  # items the relay sent that failed their checks at an earlier sync
    # team key epochs started here, told to the relay: (epoch, whom it revoked, if anyone)
    new_epochs: list[tuple[int, str | None]] = field(default_factory=list)
    new_epoch: int | None = None  # a team key epoch another laptop made, taken here
    new_epoch_revoked: str | None = None  # whom it revoked, if anyone
    # every epoch another laptop made taken here at this sync, in order, with whom it revoked
    taken_epochs: list[tuple[int, str | None]] = field(default_factory=list)
    # an epoch this laptop had also started, settled: it took the other laptop's key
    settled: epoch_settling.Settled | None = None

    @property
    def revoked(self) -> list[str]:
        """The caseworkers whose revocation here was told to the relay at this sync."""
        return [name for _, name in self.new_epochs if name is not None]
