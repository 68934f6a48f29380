"""Two laptops that started a team key epoch apart: the one that told the relay second settles.

Laptops A and B both at team key epoch N-1; A starts epoch N (a revocation or a rotation),
and so does B before it syncs, each with a key of its own. A tells the relay first, so the
team's record (the relay's chain) names A's key for epoch N, and A's ``epoch`` item brings
that key to B. B's key for N never left B: a laptop tells the relay of an epoch before it
sends anything sealed to it (``docs/sync.md`` section 4, step 2), and B's telling was refused.
So B settles, in one crash-safe key change (the four steps of :mod:`vault.keychange`, with a
new database key, as :func:`vault.membership.adopt_team_key`):

* it takes A's key as its epoch N, in place of its own (and drops any later epochs it
  started itself and never told);
* what B removed from the team that the team's record had not removed by epoch N (B
  revoked Y, A revoked X or rotated) is started again as epoch N+1 (one epoch per
  caseworker), with a new key, told to the relay by the same sync (``sync_new_epochs``) as
  any revocation; if a later epoch of the record removes Y already (another laptop settled
  first), B's N+1 meets it and B settles again, taking that epoch's key;
* everything B sealed to its own keys is sealed again to the newest key it now holds (A's,
  or its own new N+1: never a key someone B removed holds): B's own case events (notes,
  the team's copy of replies, alert drafts and overrides), sealed again and signed again
  under the same event ids (they were never sent, so every ``after`` naming them holds), and
  reports sealed to B's keys (by ``vault team-key reseal``, or sealed to B's exported key);
* the access log says so: ``team-key-settled N`` committing to the key taken, then a
  ``team-key-rotated`` for each epoch started again and a ``report-resealed`` for each report.

A may be the laptop of someone B removed and has not yet told the relay of (a stolen
laptop racing its revocation): to the team's record they were a member when they started N,
so B settles with their key all the same, and removes them again at N+1. If their laptop
starts yet another epoch while B's sync runs, the same sync receives its key, settles
again and then tells the relay (:func:`vault.sync._settling_races`).

If anything sealed to B's own key could have left B (an item queued since that epoch began,
whether sent or not), B does not settle: its sync stops as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from vault import _crypto, erasure
from vault import db as dbmod
from vault._crypto import SecretBytes
from vault.envelope import open_report, seal_report
from vault.errors import VaultError
from vault.events import parse_event, sign_event
from vault.keychange import locked, require_current, settle, write_pending
from vault.keys import Access, TeamKeyPair, b64, unb64
from vault.store import Vault, today

OUTBOX_MARK = "epoch-{}-outbox"  # vault_facts: the outbox's last row when epoch E began here


def note_started(db: dbmod.Connection, epoch: int) -> None:
    """On starting team key epoch ``epoch`` here (in the key change's transaction): remember
    how far the outbox went, so settling can tell that nothing sealed to it was queued."""
    (last,) = dbmod.one(db, "SELECT coalesce(max(rowid), 0) FROM sync_outbox")
    db.execute(
        "INSERT INTO vault_facts (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (OUTBOX_MARK.format(epoch), str(int(last))),
    )


def can_settle(vault: Vault, epoch: int) -> bool:
    """Whether this laptop started team key epoch ``epoch`` itself, has not told the relay,
    and nothing sealed to that key (or to a later one started here) has been queued to go.
    Every epoch it holds from ``epoch`` on must be its own, untold."""
    db = vault.db
    rows = {
        int(e): int(done)
        for e, done in db.execute(
            "SELECT epoch, done FROM sync_new_epochs WHERE epoch >= ?", (epoch,)
        )
    }
    held = {k.epoch for k in vault.access.team_keys if k.epoch >= epoch}
    if epoch not in rows or any(rows.values()) or held != set(rows):
        return False
    for own in rows:
        mark = db.execute(
            "SELECT value FROM vault_facts WHERE name = ?", (OUTBOX_MARK.format(own),)
        ).fetchone()
        if mark is None:
            continue  # started before marks were kept: an untold epoch queued nothing
        queued = db.execute(
            "SELECT 1 FROM sync_outbox WHERE rowid > ? LIMIT 1", (int(mark[0]),)
        ).fetchone()
        if queued is not None:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Settled:
    """What settling did: the epoch taken, what was sealed again, and the epochs started
    again here, each with whom it removes (to be told to the relay by this sync)."""

    epoch: int
    events: int
    reports: int
    started: tuple[tuple[int, str], ...]


def settle_epoch(
    vault: Vault,
    taken: TeamKeyPair,
    removed_by_team: frozenset[str],
    changes: Callable[[dbmod.Connection], None],
    refusal: Callable[[], VaultError],
) -> Settled:
    """Take ``taken`` (another laptop's key for an epoch this laptop also started, which the
    team's record names) in place of this laptop's own, as the module docstring says.
    ``removed_by_team``: key ids the team's record had removed by that epoch; ``changes`` runs
    in the same transaction (taking the other laptop's item); ``refusal``: the error to raise
    when this laptop cannot settle (an event sealed to its key that it cannot sign again)."""
    old = vault.access
    first = taken.epoch
    own = [
        (int(e), None if r is None else str(r))
        for e, r in vault.db.execute(
            "SELECT epoch, revoked FROM sync_new_epochs WHERE epoch >= ? ORDER BY epoch",
            (first,),
        )
    ]
    again: list[str] = []
    for _, revoked in own:
        if revoked is not None and revoked not in removed_by_team and revoked not in again:
            again.append(revoked)
    fresh = [TeamKeyPair.generate(first + 1 + i) for i in range(len(again))]
    new = Access(
        db_key=SecretBytes(_crypto.random_bytes(_crypto.KEY_BYTES), "database key"),
        team_keys=(*(k for k in old.team_keys if k.epoch < first), taken, *fresh),
    )
    target = new.current
    old_keys = {k.epoch: k for k in old.team_keys if k.epoch >= first}
    directory = vault.directory
    counts: dict[str, int] = {}
    with locked(directory):
        require_current(old, vault.db)
        # Step 1. The pending files always name the new key: settling may keep the database's
        # newest epoch, or start one it already holds again (its own untold N+1), and the
        # epoch alone would then say an uncommitted change had committed.
        write_pending(directory, vault.db, new, vault.identity, name_key=True)
        try:
            with vault.transaction() as db:  # step 2
                changes(db)
                db.execute("DELETE FROM sync_new_epochs WHERE epoch >= ?", (first,))
                for key in (taken, *fresh):
                    db.execute(
                        "INSERT INTO team_keys (epoch, public_key, created) VALUES (?, ?, ?)"
                        " ON CONFLICT (epoch) DO UPDATE SET public_key = excluded.public_key,"
                        " created = excluded.created",
                        (key.epoch, key.public_key, today()),
                    )
                vault.log_action(
                    db, "team-key-settled", subject=str(first), commit=taken.public_key
                )
                for key, revoked in zip(fresh, again, strict=True):
                    vault.log_action(
                        db, "team-key-rotated", subject=str(key.epoch), commit=key.public_key
                    )
                    db.execute(
                        "INSERT INTO sync_new_epochs (epoch, revoked) VALUES (?, ?)",
                        (key.epoch, revoked),
                    )
                    note_started(db, key.epoch)
                counts["reports"] = _reseal_reports(vault, db, old_keys, target)
                counts["events"] = _reseal_events(vault, db, old_keys, target, refusal)
                db.execute("DELETE FROM team_keys WHERE epoch > ?", (target.epoch,))
        except BaseException:
            # Step 2 did not commit: this change's pending files must never be taken up.
            with contextlib.suppress(BaseException):
                settle(directory, vault.db)
            raise
        dbmod.rekey(vault.db, new.db_key)  # step 3
        settle(directory, vault.db)  # step 4
    vault.adopt_access(new)
    vault.forget_names()
    names = dict(
        vault.db.execute(
            "SELECT key_id, name FROM caseworkers WHERE key_id IN"
            " (SELECT revoked FROM sync_new_epochs WHERE revoked IS NOT NULL)"
        ).fetchall()
    )
    return Settled(
        first,
        counts["events"],
        counts["reports"],
        tuple((k.epoch, str(names.get(r, r))) for k, r in zip(fresh, again, strict=True)),
    )


def _reseal_reports(
    vault: Vault,
    db: dbmod.Connection,
    old_keys: dict[int, TeamKeyPair],
    target: TeamKeyPair,
) -> int:
    """Reports sealed to this laptop's own keys, sealed again to ``target`` (as ``vault
    team-key reseal`` does, with its log entry)."""
    rows = db.execute(
        "SELECT id, epoch, envelope FROM cases WHERE epoch >= ? ORDER BY rowid",
        (min(old_keys),),
    ).fetchall()
    for case_id, epoch, envelope in rows:
        old = old_keys[int(epoch)]
        report = open_report(bytes(envelope), old.public_key, old.secret_key)
        db.execute(
            "UPDATE cases SET envelope = ?, epoch = ? WHERE id = ?",
            (seal_report(report, target.epoch, target.public_key), target.epoch, case_id),
        )
        vault.log.add("report-resealed", str(case_id), str(target.epoch), None)
    return len(rows)


def _reseal_events(
    vault: Vault,
    db: dbmod.Connection,
    old_keys: dict[int, TeamKeyPair],
    target: TeamKeyPair,
    refusal: Callable[[], VaultError],
) -> int:
    """Case events whose content is sealed to this laptop's own keys: sealed again to
    ``target`` and signed again by this laptop's owner, under the same ids."""
    rows = db.execute(
        "SELECT id, actor, body FROM events WHERE"
        " CAST(json_extract(CAST(body AS TEXT), '$.data.epoch') AS INTEGER) >= ?"
        " ORDER BY seq",
        (min(old_keys),),
    ).fetchall()
    me = vault.identity.key_id
    done = 0
    drafts: dict[str, str] = {}  # an alert draft's old sealed hash: its new one
    for event_id, actor, body in rows:
        event = parse_event(bytes(body))
        epoch = event.data.get("epoch")
        if not isinstance(epoch, int) or epoch not in old_keys or "sealed" not in event.data:
            continue
        if str(actor) != me:
            raise refusal()  # another caseworker's, in a shared folder: not ours to sign
        old = old_keys[epoch]
        sealed = unb64(str(event.data["sealed"]))
        try:
            text = _crypto.seal_open(sealed, old.public_key, old.secret_key)
        except _crypto.OpenFailed:
            raise refusal() from None
        again = _crypto.seal(text, target.public_key)
        if event.kind == "alert-drafted":
            drafts[hashlib.sha256(sealed).hexdigest()] = hashlib.sha256(again).hexdigest()
        db.execute(
            "INSERT INTO events_resealed (id, case_id, epoch, sealed_before) VALUES (?, ?, ?, ?)",
            (str(event_id), event.case, epoch, hashlib.sha256(sealed).hexdigest()),
        )
        data = {**event.data, "epoch": target.epoch, "sealed": b64(again)}
        signed = sign_event(dataclasses.replace(event, data=data), vault.identity)
        db.execute(
            "UPDATE events SET body = ?, signature = ? WHERE id = ?",
            (signed.body, signed.signature, str(event_id)),
        )
        done += 1
    if drafts:
        for (body,) in db.execute("SELECT body FROM events WHERE kind = 'alert-approved'"):
            if json.loads(bytes(body)).get("data", {}).get("draft") in drafts:
                raise refusal()  # an approval of a draft sealed here: it names the old seal
    return done


def erase_case_rows(vault: Vault, case_id: str) -> None:
    """What settling kept of an erased case: which of its events were sealed again."""
    vault.db.execute("DELETE FROM events_resealed WHERE case_id = ?", (case_id,))


erasure.register_eraser(40, erase_case_rows)

__all__ = ["Settled", "can_settle", "note_started", "settle_epoch"]
