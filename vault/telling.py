"""Telling the relay and the other laptops of a team key epoch started here, a
rotation or a revocation (``docs/sync.md`` section 4, step 2): the statement naming it, then
the new team key sealed to each remaining member alone; and why it was not told when another
laptop started the same epoch first (:class:`NotTold`).
"""

from __future__ import annotations

from typing import Any

from vault import db as dbmod
from vault import epoch_settling
from vault.errors import VaultError
from vault.keys import TeamKeyPair, TeamPublicKey, b64
from vault.relay_client import RelayClient, TeamMovedOn
from vault.sending import Chain
from vault.store import Vault, today
from vault.team_changes import Member, Statement, make_statement
from vault.team_record import check_start, epochs_started, team_and_epochs


class NotTold(VaultError):
    """A team key epoch started here was not told to the relay: another laptop started that
    epoch first, or the relay's record of the team moved on meanwhile. ``again``: this sync
    may receive (settling with the other laptop's key, vault/epoch_settling.py) and try
    telling again."""

    def __init__(self, message: str, *, again: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.again = again


def announce_new_epochs(
    vault: Vault, relay: RelayClient, done: list[tuple[int, str | None]] | None = None
) -> list[tuple[int, str | None]]:
    """For each team key epoch started here (a rotation, or a revocation): the statement
    naming it (so the relay takes reports sealed to it at once, and refuses whoever was
    revoked), then the new team key sealed to each remaining member on another laptop.
    Returns (epoch, name of whoever was revoked, if anyone) for each, added to ``done``
    (those told before a :class:`NotTold` stopped it stay there)."""
    done = [] if done is None else done
    for epoch, revoked in vault.db.execute(
        "SELECT epoch, revoked FROM sync_new_epochs WHERE done = 0 ORDER BY epoch"
    ).fetchall():
        new = vault.team_key(int(epoch))
        gone: Member | None = None
        if revoked is not None:
            name, sign_pk = dbmod.one(
                vault.db, "SELECT name, sign_pk FROM caseworkers WHERE key_id = ?", (revoked,)
            )
            gone = Member(str(name), bytes(sign_pk))
        start, statements = relay.team()
        check_start(vault, start)
        team, epochs = team_and_epochs(start, statements)
        if new.epoch in epochs and epochs[new.epoch] != new.public_key:
            raise two_new_keys(new.epoch, settles=epoch_settling.can_settle(vault, new.epoch))
        # Whom the relay's record says this epoch removed: the caseworker revoked here, unless
        # the relay never had them (added here by mistake and removed before any sync): then
        # the epoch is a rotation to the team.
        told = gone
        if new.epoch in epochs:
            removed = epochs_started(start, statements).get(new.epoch, (b"", frozenset()))[1]
            told = gone if gone is not None and gone.key_id in removed else None
        else:
            if gone is not None and team.member(gone.key_id) is None:
                told = None
            statement = make_statement(
                team,
                vault.identity,
                "rotate" if told is None else "revoke",
                today(),
                member=told,
                epoch=(new.epoch, new.public_key),
            )
            try:
                relay.add_statement(statement)
            except TeamMovedOn:
                raise NotTold(
                    f"The relay's record of the team changed while this laptop told it of team"
                    f" key epoch {new.epoch}; it was not told.",
                    again=True,
                    hint="sync again",
                ) from None
        with vault.transaction() as db:
            others = {
                str(k): bytes(b)
                for k, b in db.execute(
                    "SELECT c.key_id, c.box_pk FROM caseworkers c JOIN sync_origins o"
                    " ON o.key_id = c.key_id WHERE c.revoked IS NULL AND c.key_id != ?",
                    (vault.identity.key_id,),
                )
            }
            for member in team.members:  # one added on another laptop, not yet heard of here
                if member.box_pk is not None and member.origin is not None:
                    others.setdefault(member.key_id, member.box_pk)
            others.pop(vault.identity.key_id, None)
            if gone is not None:
                others.pop(gone.key_id, None)
            # nor to anyone removed here since (a later epoch of this sync removes them from
            # the relay's record too, and the relay would refuse an item addressed to them)
            for (removed,) in db.execute(
                "SELECT key_id FROM caseworkers WHERE revoked IS NOT NULL"
            ):
                others.pop(str(removed), None)
            # nor to anyone added here whom the relay's record does not name yet: the
            # relay would refuse an item addressed to them, and their welcome (step 4 of
            # this sync) holds every team key, this one included
            others = {k: b for k, b in others.items() if team.member(k) is not None}
            for other_id, box_pk in sorted(others.items()):
                chain = Chain(vault, db, other_id, box_pk, 0)
                chain.add(_epoch_item(db, new, None if told is None else str(revoked)))
            db.execute("UPDATE sync_new_epochs SET done = 1 WHERE epoch = ?", (epoch,))
        done.append((new.epoch, None if gone is None else gone.name))
    return done


def owe_epochs(
    vault: Vault,
    db: dbmod.Connection,
    key_id: str,
    box_pk: bytes,
    start: TeamPublicKey,
    statements: list[Statement],
) -> None:
    """Queue to ``key_id`` (a member a colleague's laptop welcomed) an ``epoch`` item for each
    team key epoch this laptop started and told the relay of, as :func:`announce_new_epochs`
    sends them: that welcome may lack one told before the relay knew them, when no item
    could go to them (one they hold already is taken as it is)."""
    rows = db.execute(
        "SELECT epoch, revoked FROM sync_new_epochs WHERE done = 1 ORDER BY epoch"
    ).fetchall()
    removed_by = epochs_started(start, statements)
    chain = Chain(vault, db, key_id, box_pk, 0)
    for epoch, revoked in rows:
        key = vault.team_key(int(epoch))
        public_key, removed = removed_by.get(key.epoch, (b"", frozenset()))
        if public_key != key.public_key:
            continue  # not on the relay's record as this laptop holds it: nothing to tell
        told = str(revoked) if revoked is not None and str(revoked) in removed else None
        chain.add(_epoch_item(db, key, told))


def _epoch_item(db: dbmod.Connection, key: TeamKeyPair, revoked: str | None) -> dict[str, Any]:
    """An ``epoch`` item: the team key pair, and whom the epoch removed, if anyone."""
    return {
        "t": "epoch",
        "team_key": {
            "epoch": key.epoch,
            "public_key": b64(key.public_key),
            "secret_key": b64(key.secret_key.reveal()),
        },
        "revoked": None if revoked is None else _revoked_entry(db, revoked),
    }


def stop_if_started_elsewhere(vault: Vault, relay: RelayClient) -> None:
    """Raise if the relay's record of the team names a team key epoch this laptop started and
    has not told it of, with another laptop's key (docs/sync.md section 4, step 2)."""
    untold = [
        int(e) for (e,) in vault.db.execute("SELECT epoch FROM sync_new_epochs WHERE done = 0")
    ]
    if not untold:
        return
    start, statements = relay.team()
    check_start(vault, start)
    epochs = team_and_epochs(start, statements)[1]
    for epoch in sorted(untold):
        if epoch in epochs and epochs[epoch] != vault.team_key(epoch).public_key:
            raise two_new_keys(epoch, settles=epoch_settling.can_settle(vault, epoch))


def _revoked_entry(db: dbmod.Connection, key_id: str) -> dict[str, Any]:
    """Who an `epoch` item says was removed, with their public keys and log origin, so a
    laptop that has not heard of them yet knows them, as removed."""
    name, sign_pk, box_pk = dbmod.one(
        db, "SELECT name, sign_pk, box_pk FROM caseworkers WHERE key_id = ?", (key_id,)
    )
    entry = {
        "key_id": key_id,
        "name": str(name),
        "sign_pk": b64(bytes(sign_pk)),
        "box_pk": b64(bytes(box_pk)),
    }
    origin = db.execute("SELECT origin FROM sync_origins WHERE key_id = ?", (key_id,)).fetchone()
    if origin is not None:
        entry["origin"] = str(origin[0])
    return entry


def two_new_keys(epoch: int, *, settles: bool) -> NotTold:
    """Another laptop told the relay of team key epoch ``epoch`` first, with another key.
    ``settles``: this laptop will take that key, once the other laptop's item bringing it has
    arrived (vault/epoch_settling.py); else it cannot (something sealed to its own key may
    have left it)."""
    if settles:
        return NotTold(
            f"Another laptop started team key epoch {epoch} before this one told the relay of"
            " its own, and its key has not reached this laptop yet; nothing was sent.",
            again=True,
            hint="sync again later: the sync that receives the other laptop's key settles it"
            " (docs/sync.md, 'Two new team keys at once')",
        )
    return NotTold(
        f"Another laptop started team key epoch {epoch} before this one told the relay of its"
        " own; this laptop cannot sync until that is settled.",
        again=False,
        hint="keep this laptop as it is and ask the team's administrator"
        " (docs/sync.md, 'Two new team keys at once')",
    )
