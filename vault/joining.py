"""A new caseworker's own laptop joining the team (``vault join``, then ``vault sync``).

``vault join --name bea --out bea.request`` makes the vault folder with only bea's identity
in it (``caseworkers/bea.key``, locked by her passphrase) and a copy of her join request
(``join.request``: public keys, her laptop's log origin, self-signed; see
:mod:`vault.join_request`). There is no database yet, and no team key.

Once a colleague has added her (``vault caseworker add bea --request bea.request``) and
synced, bea's first ``vault sync`` finds the **welcome** the colleague's laptop sent her
through the relay, sealed to her own box key: the team keys, who is on the team, and how
far the colleague's laptop had everyone's items. :func:`finish_join` makes the database
then, with a database key of bea's own (never copied from anyone), and the sync goes on to
take in every case's history the colleague sent (:mod:`vault.sync`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault import _crypto, erasure, schema, team_clock
from vault import db as dbmod
from vault._crypto import SecretBytes
from vault.audit.entries import FIRST_EPOCH
from vault.auditlog import HEAD_COPY
from vault.errors import IntegrityError, UsageError, VaultError, VaultExistsError
from vault.files import (
    check_private_tree,
    claimed_temp_dir,
    create_private_file,
    folder_locked,
    fsync_dir,
    make_private_dir,
    move_into_place,
    read_small_file,
    remove_unclaimed_dirs,
)
from vault.join_request import JoinRequest, make_request, read_request
from vault.keychange import unlock_key_file
from vault.keys import (
    DEFAULT_KDF,
    Access,
    CaseworkerPublic,
    Identity,
    KdfParams,
    TeamKeyPair,
    lock_identity,
    unb64,
    validate_name,
    wrap_access,
)
from vault.passphrase import Passphrase, check_strength
from vault.places import REQUEST_FILE, check_new_vault_place
from vault.store import CASEWORKERS_DIR, DB_FILE, Vault, today


@dataclass(frozen=True, slots=True)
class Welcome:
    """What the caseworker who added this laptop's owner sent it (sealed to the owner)."""

    team_keys: tuple[TeamKeyPair, ...]
    roster: tuple[CaseworkerPublic, ...]
    chains: tuple[tuple[str, int, str], ...]  # (origin, n, head) of each team chain covered
    origins: tuple[tuple[str, str], ...] = ()  # (key id, log origin) of each on the roster
    sender: str = ""  # the log origin of the laptop that sent it
    # Caseworkers the team removed, with their log origin if known: their past events and log
    # entries are in the history, so this laptop must know their keys (as removed).
    removed: tuple[tuple[CaseworkerPublic, str | None], ...] = ()

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Welcome:
        try:
            keys = tuple(
                TeamKeyPair(
                    int(k["epoch"]),
                    unb64(k["public_key"], 32),
                    SecretBytes(unb64(k["secret_key"], 32), "team key"),
                )
                for k in doc["team_keys"]
            )
            roster = tuple(
                CaseworkerPublic(
                    validate_name(str(p["name"])), unb64(p["sign_pk"], 32), unb64(p["box_pk"], 32)
                )
                for p in doc["roster"]
            )
            chains = tuple((str(c[0]), int(c[1]), str(c[2])) for c in doc["chains"])
            origins = tuple(
                (person.key_id, str(p["origin"]))
                for person, p in zip(roster, doc["roster"], strict=True)
                if p.get("origin")
            )
            removed = tuple(
                (
                    CaseworkerPublic(
                        validate_name(str(p["name"])),
                        unb64(p["sign_pk"], 32),
                        unb64(p["box_pk"], 32),
                    ),
                    str(p["origin"]) if p.get("origin") else None,
                )
                for p in doc.get("removed", [])  # absent from welcomes made before it was sent
            )
        except (KeyError, TypeError, ValueError, IndexError, VaultError):  # VaultError: a name
            raise IntegrityError("The welcome from the team is not in the expected form.") from None
        if not keys:
            raise IntegrityError("The welcome from the team holds no team key.")
        if any(_crypto.box_public_from_secret(k.secret_key) != k.public_key for k in keys):
            raise IntegrityError("A team key in the welcome from the team is damaged.")
        if len({k.epoch for k in keys}) != len(keys):
            raise IntegrityError("The welcome from the team names one team key epoch twice.")
        # A team's laptop holds every epoch from the first to its current one (a key change
        # adds the next; settling keeps the run): a welcome that skips one was tampered with.
        # Found by walking the epochs held (never a range up to the highest: a forged welcome
        # naming epoch 10**15 would fill the memory).
        held = sorted(k.epoch for k in keys)
        if held[0] < FIRST_EPOCH:
            raise IntegrityError("The welcome from the team is not in the expected form.")
        missing = next((n for n, e in enumerate(held, FIRST_EPOCH) if e != n), None)
        if missing is not None:
            raise IntegrityError(
                f"The welcome from the team lacks team key epoch {missing} but holds epoch"
                f" {held[-1]}, so it was not taken (nothing was stored)."
            )
        on_roster = {person.key_id for person in roster}
        if any(person.key_id in on_roster for person, _ in removed):
            raise IntegrityError(
                "The welcome from the team names a caseworker as both current and removed."
            )
        return cls(keys, roster, chains, origins, removed=removed)


def register_person(
    vault: Vault, db: dbmod.Connection, person: CaseworkerPublic, origin: str | None
) -> bool:
    """Know a caseworker of the team (and their log origin, if given) in ``db``'s transaction;
    True if they were new here. Refused if another key already holds their key id."""
    known = db.execute(
        "SELECT sign_pk FROM caseworkers WHERE key_id = ?", (person.key_id,)
    ).fetchone()
    if known is None:
        vault.register_caseworker(db, person)
        vault.forget_names()
    elif bytes(known[0]) != person.sign_pk:
        raise IntegrityError("Two caseworkers of the team share a key id.")
    if origin:
        db.execute(
            "INSERT INTO sync_origins (origin, key_id) VALUES (?, ?)"
            " ON CONFLICT (origin) DO NOTHING",
            (origin, person.key_id),
        )
    return known is None


def register_removed(
    vault: Vault, db: dbmod.Connection, person: CaseworkerPublic, origin: str | None
) -> None:
    """Know a caseworker the team removed (from a welcome), as removed: their key (their past
    events and log entries verify) and their log origin, logged as added then revoked, as a
    laptop does that hears of a removal before the member (vault/taking.py ``take_epoch``).
    Nothing more if this vault knows them already."""
    if register_person(vault, db, person, origin):
        db.execute("UPDATE caseworkers SET revoked = ? WHERE key_id = ?", (today(), person.key_id))
        vault.log_action(db, "caseworker-revoked", subject=person.key_id, commit=person.sign_pk)


def erase_case_rows(vault: Vault, case_id: str) -> None:
    """For erasing a case (vault/erasure.py): what this vault noted the team has of it
    (``sync_known``, vault/sending.py). Registered here, not in vault/sending.py, because
    every command imports this module while vault/sending.py (it needs httpx) is loaded only
    by the commands that talk to an intake."""
    vault.db.execute("DELETE FROM sync_known WHERE case_id = ?", (case_id,))
    vault.db.execute("DELETE FROM sync_delivered WHERE case_id = ?", (case_id,))


erasure.register_eraser(30, erase_case_rows)


WELCOMED_BY = "welcomed_by"  # vault_facts: the laptop whose welcome made this vault


def welcomed_by(db: dbmod.Connection, origin: str, n: int) -> bool:
    """Whether item ``n`` from laptop ``origin`` may be this laptop's welcome: the first item
    of the laptop whose welcome made it (taken again when relayed); no other laptop may send
    one, so a relay cannot slip a made-up colleague or team key into a vault on the team."""
    row = db.execute("SELECT value FROM vault_facts WHERE name = ?", (WELCOMED_BY,)).fetchone()
    return n == 1 and row is not None and str(row[0]) == origin


def start_join(
    directory: Path, name: str, passphrase: Passphrase, kdf: KdfParams = DEFAULT_KDF
) -> bytes:
    """Make the folder with this laptop's owner's identity; return their join request."""
    name = validate_name(name)
    check_new_vault_place(directory)
    check_strength(passphrase, name=name)
    if directory.exists() and any(directory.iterdir()):
        raise VaultExistsError(
            f"{directory} already has files in it; joining a team needs an empty folder."
        )
    people = directory / CASEWORKERS_DIR
    make_private_dir(directory)
    make_private_dir(people)
    check_private_tree(directory)
    identity = Identity.generate(name)
    request = make_request(identity, dbmod.new_origin())
    create_private_file(people / f"{name}.key", lock_identity(identity, passphrase, kdf))
    create_private_file(directory / REQUEST_FILE, request)
    return request


def is_joining(directory: Path) -> bool:
    """A folder made by ``vault join`` whose first sync has not happened yet."""
    return (directory / REQUEST_FILE).is_file() and not (directory / DB_FILE).exists()


def own_request(directory: Path) -> JoinRequest:
    return read_request(read_small_file(directory / REQUEST_FILE, "join request"))


def unlock_joiner(directory: Path, passphrase: Passphrase) -> tuple[Identity, JoinRequest]:
    """The owner's identity, before the folder holds a vault."""
    check_private_tree(directory)
    request = own_request(directory)
    data = read_small_file(directory / CASEWORKERS_DIR / f"{request.name}.key", "key file")
    identity = unlock_key_file(directory, data, passphrase)
    if identity.public.sign_pk != request.sign_pk:
        raise IntegrityError("This folder's join request is not its owner's.")
    return identity, request


def open_welcome(identity: Identity, sealed: bytes) -> dict[str, Any] | None:
    """The welcome's content, opened with the owner's box key; None for another item that
    opens (a colleague's first item to this laptop, such as a new team key, may come before
    the welcome from the laptop that added it: the sync after joining takes it)."""
    try:
        doc = json.loads(_crypto.seal_open(sealed, identity.public.box_pk, identity.box_sk))
    except (_crypto.OpenFailed, ValueError, UnicodeDecodeError):
        raise IntegrityError("A welcome sent to this laptop does not open.") from None
    if not isinstance(doc, dict):
        raise IntegrityError("An item sent to this laptop is not one this version reads.")
    return doc if doc.get("t") == "welcome" else None


JOINING_PREFIX = ".joining-"  # where finish_join builds the vault before moving it in


def finish_join(
    directory: Path, identity: Identity, request: JoinRequest, welcome: Welcome
) -> Vault:
    """Make this laptop's database, with its own key, holding what the welcome gives.

    Crash-safe: the access file and the database are made in a private folder inside the
    vault folder, then moved into place, the database last. Until that last move the folder
    is still joining (no ``vault.db``), so a run killed anywhere is finished by the next
    ``vault sync``, which first removes what the killed one left."""
    if not any(p.sign_pk == identity.public.sign_pk for p in welcome.roster):
        raise UsageError("The team's welcome does not list this laptop's owner.")
    access = Access(
        SecretBytes(_crypto.random_bytes(_crypto.KEY_BYTES), "database key"), welcome.team_keys
    )
    # Two first syncs of one folder at once (a second terminal): the second waits here, then
    # finds the first's database and changes nothing (its own would replace one in use).
    with folder_locked(directory):
        if (directory / DB_FILE).exists():
            raise VaultError(
                "This laptop finished joining in another run of vault sync meanwhile; nothing"
                " more was done here: run vault sync again."
            )
        remove_unclaimed_dirs(directory, JOINING_PREFIX)
        with claimed_temp_dir(directory, JOINING_PREFIX) as work:
            _make_database(work, identity, request, welcome, access)
            people = directory / CASEWORKERS_DIR
            access_file = f"{identity.name}.access"
            move_into_place(work / access_file, people / access_file)  # over a killed run's
            fsync_dir(people)
            for name in (HEAD_COPY, f"{DB_FILE}.salt", DB_FILE):  # the database last
                if (work / name).exists():
                    move_into_place(work / name, directory / name)
            fsync_dir(directory)
    db = schema.connect(directory / DB_FILE, access.db_key)
    return Vault(directory, identity, access, db)


def _make_database(
    work: Path, identity: Identity, request: JoinRequest, welcome: Welcome, access: Access
) -> None:
    """The access file and the whole new database, in ``work``."""
    create_private_file(
        work / f"{identity.name}.access", wrap_access(access, identity.public, identity)
    )
    db = schema.connect(work / DB_FILE, access.db_key, create=True)
    vault = Vault(work, identity, access, db)
    try:
        with vault.transaction():
            db.execute("UPDATE vault_facts SET value = ? WHERE name = 'origin'", (request.origin,))
            db.execute(
                "INSERT INTO vault_facts (name, value) VALUES (?, ?)", (WELCOMED_BY, welcome.sender)
            )
            for team in sorted(welcome.team_keys, key=lambda k: k.epoch):
                db.execute(
                    "INSERT INTO team_keys (epoch, public_key, created) VALUES (?, ?, ?)",
                    (team.epoch, team.public_key, today()),
                )
            vault.log.add("vault-created", None, identity.key_id, None)
            vault.register_caseworker(db, identity.public)
            for person in welcome.roster:
                if person.sign_pk != identity.public.sign_pk:
                    vault.register_caseworker(db, person)
            for person, origin in welcome.removed:
                register_removed(vault, db, person, origin)
            # A log that starts with vault-created starts at epoch 1 (docs/audit.md): the
            # epochs the team had started before this laptop joined are logged as taken, as
            # a later one taken from a colleague's laptop is.
            for team in sorted(welcome.team_keys, key=lambda k: k.epoch):
                if team.epoch > FIRST_EPOCH:
                    vault.log_action(
                        db, "team-key-rotated", subject=str(team.epoch), commit=team.public_key
                    )
            # Whose laptop keeps each log, and how far the welcome's history covers each
            # laptop's items, known at once: the relay may hand this laptop colleagues' items
            # from before the welcome (those its sender had not yet received).
            db.executemany(
                "INSERT INTO sync_origins (origin, key_id) VALUES (?, ?)",
                [(origin, key_id) for key_id, origin in welcome.origins],
            )
            members = {origin for _, origin in welcome.origins}
            db.executemany(  # a chain of a laptop not on the roster is a removed one's
                "INSERT INTO sync_received (origin, recipient, n, head, covered, closed)"
                " VALUES (?, 'team', ?, ?, ?, ?)",
                [
                    (origin, n, head, n, int(origin not in members and origin != request.origin))
                    for origin, n, head in welcome.chains
                ],
            )
            team_clock.start_syncing(db, identity.key_id)
    finally:
        vault.close()  # the last connection: SQLite folds its WAL file into the database
    if (work / f"{DB_FILE}-wal").exists():  # it did not: moving the database alone loses it
        raise VaultError("This laptop's new database could not be finished; sync again.")
