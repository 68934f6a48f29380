"""Who holds the vault's keys: adding and revoking caseworkers, passphrases, team key epochs.

Every change here is recorded in the access log (``Vault.log_action``) in the same
database transaction as the change itself. Key changes that rewrite access files follow
the crash-safe steps in :mod:`vault.keychange`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from vault import _crypto, epoch_settling, team_clock
from vault import db as dbmod
from vault._crypto import SecretBytes
from vault.cases import show_id
from vault.envelope import open_report, seal_report
from vault.errors import UsageError, VaultError
from vault.files import fsync_dir, move_into_place, replace_private_file
from vault.join_request import JoinRequest, read_request
from vault.keychange import access_path, locked, require_current, settle, write_pending
from vault.keys import (
    DEFAULT_KDF,
    Access,
    CaseworkerPublic,
    Identity,
    KdfParams,
    TeamKeyPair,
    lock_identity,
    validate_name,
    wrap_access,
)
from vault.passphrase import Passphrase, check_strength
from vault.store import CASEWORKERS_DIR, Vault, today

RESEAL_BATCH = 200


def add_caseworker(
    vault: Vault, name: str, passphrase: Passphrase, kdf: KdfParams = DEFAULT_KDF
) -> CaseworkerPublic:
    """A new identity with its own passphrase, able to open this vault.

    Its access file is signed by the caseworker adding them (``vault.identity``). Files are
    written first, then the registration committed: a crash in between leaves files that
    no unlock accepts (the name is not registered), and adding the same name again
    replaces them. Refused in a vault that syncs with a team (:func:`check_shares_folder`).
    """
    name = validate_name(name)
    check_shares_folder(vault, name)
    check_strength(passphrase, name=name)
    row = vault.db.execute("SELECT revoked FROM caseworkers WHERE name = ?", (name,)).fetchone()
    if row is not None:
        if row[0] is not None:
            raise UsageError(
                f"{name} was a caseworker of this vault before and was removed;"
                " choose another name.",
                hint=f"for example {name}-2",
            )
        raise UsageError(f"{name} is already a caseworker of this vault.")
    identity = Identity.generate(name)
    people = vault.directory / CASEWORKERS_DIR
    with locked(vault.directory):
        require_current(vault.access, vault.db)
        replace_private_file(people / f"{name}.key", lock_identity(identity, passphrase, kdf))
        replace_private_file(
            access_path(vault.directory, name),
            wrap_access(vault.access, identity.public, vault.identity),
        )
        with vault.transaction() as db:
            vault.register_caseworker(db, identity.public)
    vault.forget_names()
    return identity.public


def check_shares_folder(vault: Vault, name: str) -> None:
    """Refuse to add ``name`` with a passphrase of their own to this folder if it syncs with a
    team: there each caseworker's laptop holds a vault of their own, and the other laptops
    would never hear of a second caseworker here (whose first case event would then stop
    every colleague's sync). They join from their own laptop instead (``--request``), added on
    a laptop that syncs: not on one that has left its team (:func:`team_clock.leave_team`)."""
    if team_clock.left_team(vault.db) is not None:
        raise UsageError(
            f"{team_clock.LEFT_SAID}, and each of the team's caseworkers has a laptop of their"
            f" own; {name} was not added to this folder.",
            hint=f"on {name}'s laptop: vault join --name {name} --out {name}.request; then a"
            f" colleague whose laptop syncs adds {name} with --request",
        )
    if syncs_with_team(vault):
        raise UsageError(
            f"This vault syncs with a team, where each caseworker has a laptop of their own;"
            f" {name} was not added to this folder.",
            hint=f"on {name}'s laptop: vault join --name {name} --out {name}.request;"
            f" then here: vault caseworker add {name} --request {name}.request",
        )


def add_from_request(vault: Vault, name: str, request_data: bytes) -> JoinRequest:
    """A caseworker on their own laptop, from their join request (``vault join``).

    They are registered here at once (so cases can be assigned to them); the statement adding
    them, their welcome and the team's history go out through the relay at the next ``vault
    sync`` (:mod:`vault.sync`). No key file or access file of theirs is made here: their
    laptop holds their identity, and makes its own database key. From now on this vault's
    events carry clock stamps (:mod:`vault.team_clock`). Refused in a folder that has left its
    team (opened with recovery shares): it never sends anything to the team again.
    """
    if team_clock.left_team(vault.db) is not None:  # it could never send them their welcome
        name = validate_name(name)
        raise UsageError(
            f"{team_clock.LEFT_SAID}, so it can never send {name} the team's keys;"
            f" {name} was not added.",
            hint=f"a colleague whose laptop syncs runs vault caseworker add {name} --request"
            " FILE there",
        )
    request = read_request(request_data)
    if request.name != validate_name(name):
        raise UsageError(
            f"That join request is {request.name}'s, not {name}'s.",
            hint=f"use: vault caseworker add {request.name} --request FILE",
        )
    taken = vault.db.execute(
        "SELECT revoked FROM caseworkers WHERE name = ? OR sign_pk = ?",
        (request.name, request.sign_pk),
    ).fetchone()
    if taken is not None:
        why = "was removed" if taken[0] is not None else "is already a caseworker of this vault"
        raise UsageError(f"{request.name} {why}.")
    person = CaseworkerPublic(request.name, request.sign_pk, request.box_pk)
    with vault.transaction() as db:
        team_clock.start_syncing(db, vault.identity.key_id)
        vault.register_caseworker(db, person)
        db.execute(
            "INSERT INTO sync_origins (origin, key_id) VALUES (?, ?)",
            (request.origin, person.key_id),
        )
        db.execute(
            "INSERT INTO sync_joiners (key_id, request) VALUES (?, ?)",
            (person.key_id, request_data),
        )
    vault.forget_names()
    return request


def syncs_with_team(vault: Vault) -> bool:
    """Whether this vault is one of a team's laptops (docs/sync.md)."""
    return team_clock.is_syncing(vault.db)


def change_passphrase(vault: Vault, passphrase: Passphrase, kdf: KdfParams = DEFAULT_KDF) -> None:
    """Lock the acting caseworker's key file under a new passphrase; nobody else's changes."""
    check_strength(passphrase, name=vault.identity.name)
    path = vault.directory / CASEWORKERS_DIR / f"{vault.identity.name}.key"
    locked_file = lock_identity(vault.identity, passphrase, kdf)
    # The new key file is written beside the old one first and put in place only once the
    # log entry has committed: a failure leaves the old passphrase working.
    staged = path.with_name(f".{path.name}.new")
    replace_private_file(staged, locked_file)
    try:
        with vault.transaction() as db:
            vault.log_action(db, "passphrase-changed", subject=vault.identity.key_id)
        with locked(vault.directory):  # not while an old key file is being migrated
            move_into_place(staged, path)
        fsync_dir(path.parent)
    finally:
        staged.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class Caseworker:
    """A caseworker of the vault, past or present: who, which key, since when, until when."""

    name: str
    key_id: str
    added: str
    revoked: str | None

    def to_json(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "key_id": self.key_id,
            "added": self.added,
            "revoked": self.revoked,
        }


def caseworkers(vault: Vault) -> list[Caseworker]:
    """Every caseworker the vault has had, in the order they were added; revoked ones too."""
    rows = vault.db.execute(
        "SELECT name, key_id, added, revoked FROM caseworkers ORDER BY rowid"
    ).fetchall()
    return [
        Caseworker(str(name), str(key_id), str(added), None if revoked is None else str(revoked))
        for name, key_id, added, revoked in rows
    ]


@dataclass(frozen=True, slots=True)
class KeyChange:
    epoch: int
    fingerprint: str


def _change_keys(
    vault: Vault,
    new: Access,
    changes: Callable[[dbmod.Connection], None],
    *,
    leaving: frozenset[str] = frozenset(),
) -> KeyChange:
    """The four crash-safe steps of :mod:`vault.keychange`, under the vault folder's lock."""
    directory = vault.directory
    rekey = new.db_key != vault.access.db_key
    with locked(directory):
        require_current(vault.access, vault.db)
        write_pending(directory, vault.db, new, vault.identity, leaving=leaving)  # step 1
        team = new.current
        try:
            with vault.transaction() as db:  # step 2
                db.execute(
                    "INSERT INTO team_keys (epoch, public_key, created) VALUES (?, ?, ?)",
                    (team.epoch, team.public_key, today()),
                )
                changes(db)
                vault.log_action(
                    db, "team-key-rotated", subject=str(team.epoch), commit=team.public_key
                )
        except BaseException:
            # Step 2 did not commit: this change's pending files must never be taken up.
            with contextlib.suppress(BaseException):
                settle(directory, vault.db)
            raise
        if rekey:
            dbmod.rekey(vault.db, new.db_key)  # step 3
        settle(directory, vault.db)  # step 4
    vault.adopt_access(new)
    return KeyChange(team.epoch, team.public.fingerprint)


def _next_access(vault: Vault, *, new_db_key: bool) -> Access:
    old = vault.access
    team = TeamKeyPair.generate(old.current.epoch + 1)
    db_key = (
        SecretBytes(_crypto.random_bytes(_crypto.KEY_BYTES), "database key")
        if new_db_key
        else old.db_key
    )
    return Access(db_key=db_key, team_keys=(*old.team_keys, team))


def rotate_team_key(vault: Vault) -> KeyChange:
    """Start a new team key epoch. Reports sealed to older epochs stay readable."""
    return _change_keys(
        vault, _next_access(vault, new_db_key=False), lambda db: _tell_the_team(vault, db, None)
    )


def _tell_the_team(vault: Vault, db: dbmod.Connection, revoked: str | None) -> None:
    """On a laptop of a team: note the epoch being started (and whom it leaves out), so the
    next ``vault sync`` tells the relay and sends the new key to the other laptops."""
    if team_clock.is_syncing(db):
        db.execute(
            "INSERT INTO sync_new_epochs (epoch, revoked) VALUES (?, ?)",
            (vault.access.current.epoch + 1, revoked),
        )
        if revoked is not None:
            close_chains(db, revoked, vault.identity.key_id)
            # Added by mistake, perhaps: no welcome (or no more of it) goes to them.
            db.execute("UPDATE sync_joiners SET done = 1 WHERE key_id = ?", (revoked,))
            db.execute("DELETE FROM sync_outbox WHERE recipient = ? AND sent = 0", (revoked,))
        # after that deletion, so no later item can take a row number at or below the mark
        epoch_settling.note_started(db, vault.access.current.epoch + 1)


def close_chains(db: dbmod.Connection, key_id: str, me: str) -> None:
    """A caseworker removed from the team: what their laptop sent that this laptop holds
    stays, and nothing it sends from now on (numbered after it) is taken (vault/taking.py).
    Items they sent before their removal that had not yet arrived here are not taken either:
    their laptop is no longer trusted to say when it sent them. Only their own access log's
    entries the team witnessed are still taken from them (vault/taking.py ``_read_closed``)."""
    for (origin,) in db.execute("SELECT origin FROM sync_origins WHERE key_id = ?", (key_id,)):
        for recipient in ("team", me):  # what it sends the team, and this laptop alone
            db.execute(
                "INSERT INTO sync_received (origin, recipient, n, head, closed)"
                " VALUES (?, ?, 0, ?, 1) ON CONFLICT (origin, recipient) DO NOTHING",
                (origin, recipient, "0" * 64),
            )
        db.execute("UPDATE sync_received SET closed = 1 WHERE origin = ?", (origin,))


def revoke_caseworker(vault: Vault, name: str) -> KeyChange:
    """Remove ``name``'s keys, start a new team key epoch and re-encrypt the database.

    Their row stays (marked revoked) so their past actions stay attributable. Their old
    key file and passphrase then open neither the vault (the database key changed) nor
    any report sealed after this (the new epoch was never wrapped to them).
    """
    name = validate_name(name)
    if name == vault.identity.name:
        raise UsageError(
            "You cannot remove yourself; ask another caseworker to do it.",
        )
    row = vault.db.execute(
        "SELECT key_id, sign_pk, revoked FROM caseworkers WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        raise UsageError(f"This vault has no caseworker called {name}.")
    if row[2] is not None:
        raise UsageError(f"{name} was already removed from this vault.")
    key_id, sign_pk = str(row[0]), bytes(row[1])

    def mark(db: dbmod.Connection) -> None:
        db.execute("UPDATE caseworkers SET revoked = ? WHERE name = ?", (today(), name))
        vault.log_action(db, "caseworker-revoked", subject=key_id, commit=sign_pk)
        _tell_the_team(vault, db, key_id)

    change = _change_keys(
        vault, _next_access(vault, new_db_key=True), mark, leaving=frozenset({name})
    )
    fsync_dir(vault.directory / CASEWORKERS_DIR)
    vault.forget_names()
    return change


def adopt_team_key(
    vault: Vault, team: TeamKeyPair, changes: Callable[[dbmod.Connection], None]
) -> KeyChange:
    """Take a new team key epoch another laptop made (when it revoked someone), and re-key
    this vault's database, by the crash-safe steps of :mod:`vault.keychange`; ``changes``
    runs in the same transaction (marking who left, and that the item was taken)."""
    old = vault.access
    if team.epoch != old.current.epoch + 1:
        raise VaultError(
            f"The team's new key is epoch {team.epoch}, but this vault is at epoch"
            f" {old.current.epoch}."
        )
    new = Access(
        db_key=SecretBytes(_crypto.random_bytes(_crypto.KEY_BYTES), "database key"),
        team_keys=(*old.team_keys, team),
    )
    change = _change_keys(vault, new, changes)
    vault.forget_names()
    return change


def reseal_reports(vault: Vault, progress: Callable[[int], None] | None = None) -> int:
    """Re-seal every report sealed to an older epoch under the current team key.

    Each batch is one transaction: a crash loses at most the batch in flight, and running
    it again carries on where it stopped (the epoch column says what is done). Notes and
    events are signed and append-only, so they stay sealed to their epoch; the vault keeps
    every older team key to open them. Returns how many reports were re-sealed.
    """
    team = vault.access.current
    done = 0
    while True:
        rows = vault.db.execute(
            "SELECT id, epoch, envelope FROM cases WHERE epoch < ? ORDER BY rowid LIMIT ?",
            (team.epoch, RESEAL_BATCH),
        ).fetchall()
        if not rows:
            return done
        with vault.transaction() as db:
            for case_id, epoch, envelope in rows:
                old = vault.access.team_key(int(epoch))
                if old is None:
                    raise VaultError(
                        f"Case {show_id(case_id)} is sealed to a team key this vault lacks."
                    )
                report = open_report(bytes(envelope), old.public_key, old.secret_key)
                sealed = seal_report(report, team.epoch, team.public_key)
                db.execute(
                    "UPDATE cases SET envelope = ?, epoch = ? WHERE id = ? AND epoch = ?",
                    (sealed, team.epoch, case_id, epoch),
                )
                # a case action: the log names the case and the epoch it is now sealed to
                vault.log.add("report-resealed", str(case_id), str(team.epoch), None)
        done += len(rows)
        if progress is not None:
            progress(done)
