"""The relay's record of the team, as a laptop reads it: the chain of signed
statements (:mod:`vault.team_changes`) from the team's first key, which must be this team's;
which team key epoch each statement starts, with which key, and whom it removed; where each
member's log comes from.
"""

from __future__ import annotations

from collections.abc import Callable

from vault.errors import IntegrityError
from vault.keys import TeamPublicKey
from vault.store import Vault
from vault.team_changes import Statement, Team, TeamChangeError, apply

TeamChain = Callable[[], tuple[TeamPublicKey, list[Statement]]]  # the relay's, when needed


def check_start(vault: Vault, start: TeamPublicKey) -> None:
    held = vault.access.team_key(start.epoch)
    if held is None or held.public_key != start.public_key:
        raise IntegrityError(
            "The relay's team key is not this team's: it was started with another team key file."
        )


def team_and_epochs(
    start: TeamPublicKey, statements: list[Statement]
) -> tuple[Team, dict[int, bytes]]:
    """The team the relay's chain describes, and the public key of each epoch it names."""
    team = Team.start(start)
    epochs = {team.epoch: team.public_key}
    try:
        for statement in statements:
            team = apply(team, statement)
            epochs[team.epoch] = team.public_key
    except TeamChangeError as e:
        raise IntegrityError(f"The relay's record of the team does not verify ({e}).") from None
    return team, epochs


def epochs_started(
    start: TeamPublicKey, statements: list[Statement]
) -> dict[int, tuple[bytes, frozenset[str]]]:
    """Each team key epoch the relay's chain starts: its public key, and the key ids the
    statement starting it revoked (none, for a rotation)."""
    team = Team.start(start)
    started: dict[int, tuple[bytes, frozenset[str]]] = {}
    try:
        for statement in statements:
            after = apply(team, statement)
            if after.epoch != team.epoch:
                started[after.epoch] = (after.public_key, after.revoked - team.revoked)
            team = after
    except TeamChangeError as e:
        raise IntegrityError(f"The relay's record of the team does not verify ({e}).") from None
    return started


def _origins(start: TeamPublicKey, statements: list[Statement]) -> dict[str, str]:
    """The log origin of each member the relay's chain adds, by key id."""
    team = Team.start(start)
    found = {m.key_id: m.origin for m in team.members if m.origin}
    for statement in statements:
        team = apply(team, statement)  # checked already by epochs_started
        found |= {m.key_id: m.origin for m in team.members if m.origin}
    return found


def removed_by_epoch(
    start: TeamPublicKey, statements: list[Statement], epoch: int
) -> frozenset[str]:
    """Key ids the relay's chain has removed from the team once it starts ``epoch``."""
    team = Team.start(start)
    for statement in statements:
        after = apply(team, statement)  # checked already by chain_names
        if after.epoch > epoch:
            break
        team = after
    return frozenset(team.revoked)


def chain_names(
    vault: Vault, chain: TeamChain, epoch: int, public_key: bytes, gone: str | None
) -> str | None:
    """Whether the relay's chain of the team started ``epoch`` with ``public_key``, revoking
    ``gone`` (a revocation) or nobody (a rotation): a current member's laptop is trusted with
    the team key, but not to make the others take a key the team's record does not name.
    None if not; else the log origin the chain's ``add`` names for ``gone`` ("" if none)."""
    start, statements = chain()
    check_start(vault, start)
    named = epochs_started(start, statements).get(epoch)
    if named != (public_key, frozenset({gone} if gone else ())):
        return None
    return _origins(start, statements).get(gone or "", "")
