"""The vault on a caseworker's laptop: making and opening it, its keys, and changing a case.

Directory layout (all 0700 / 0600)::

    vault-data/
        vault.db                  SQLCipher database (and its -wal, -shm)
        vault.db.salt             a copy of the database's (public) salt (vault/db.py)
        log-checkpoint            the access log's newest signed checkpoint (vault/auditlog.py)
        caseworkers/NAME.key      NAME's identity, locked by their passphrase
        caseworkers/NAME.access   the database and team keys, sealed to NAME

Nothing here is readable without a caseworker's passphrase: the database is
encrypted with a random key that only the ``.access`` files hold, and each
report inside it is still sealed to the team key.

What a vault holds is worked on by one module per noun, each taking a :class:`Vault`:

* :mod:`vault.case_view`: listing cases and opening one (its notes, replies, history);
* :mod:`vault.incoming`: storing what comes in (``vault import`` and ``vault pull``);
* :mod:`vault.blobs`: attachments, fetched from the intake and written out on request;
* :mod:`vault.replies`: replies to reporters and their outbox;
* :mod:`vault.read_through`: every report opened in turn, in memory only;
* :mod:`vault.triage`: what cases are sorted and filtered by, kept beside each case;
* :mod:`vault.search`: the cases whose text holds every word, read in memory, logged once;
* :mod:`vault.patterns`: cases naming the same professional (rules in :mod:`vault.professionals`);
* :mod:`vault.stats`: counts safe to publish (:mod:`vault.suppression`, :mod:`vault.charts`);
* :mod:`vault.alerts`: anonymised safety alerts (:mod:`vault.identifying`, :mod:`vault.areas`);
* :mod:`vault.complaint_pack`: complaint packs (:mod:`vault.complaint_document` draws the PDF,
  :mod:`vault.metadata` cleans attachments, :mod:`vault.pack_manifest` signs and checks);
* :mod:`vault.auditing`: the access log's outward side (the bundle, auditors, the witness);
* :mod:`vault.erasure`: erasing a case, leaving a tombstone (:mod:`vault.tombstones`;
  :mod:`vault.retention`: when);
* :mod:`vault.membership`, :mod:`vault.recovery`, :mod:`vault.backup`, :mod:`vault.check`.

Those modules use the vault's **package-internal API** below (the attributes and methods
under "for vault/ modules"), never its private members. ``cli/`` uses only the public
methods and the noun modules' functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vault import db as dbmod
from vault import schema, team_clock, tombstones
from vault._crypto import seal_note
from vault.audit.case_actions import EVENT_KINDS, action, apply
from vault.audit.leaves import member_commitment
from vault.auditlog import (
    HEAD_COPY,
    AccessLog,
    commitment,
    require_head_copy,
    write_head_copy,
)
from vault.cases import CaseState, check_outcome, check_status, normalise_id
from vault.envelope import (
    HEADER_BYTES,
    MAX_ENVELOPE,
    MIN_ENVELOPE,
    EnvelopeHeader,
    parse_header,
    team_key_id,
)
from vault.errors import (
    CaseNotFoundError,
    ForeignEnvelopeError,
    IntegrityError,
    NotAKeyFileError,
    NoVaultError,
    UsageError,
    VaultError,
    VaultExistsError,
    WrongKeyError,
    WrongPassphraseError,
)
from vault.events import Event, sign_event
from vault.files import check_private_tree, create_private_file, make_private_dir, read_small_file
from vault.keychange import access_path, key_file_signers, open_access, unlock_key_file
from vault.keys import (
    DEFAULT_KDF,
    Access,
    CaseworkerPublic,
    Identity,
    KdfParams,
    TeamKeyPair,
    TeamPublicKey,
    b64,
    caseworker_key_id,
    lock_identity,
    new_access,
    read_key_file_public,
    validate_name,
    wrap_access,
)
from vault.passphrase import Passphrase, check_strength
from vault.places import check_new_vault_place, no_vault_hint

DB_FILE = "vault.db"
CASEWORKERS_DIR = "caseworkers"
MAX_NOTE = 20_000


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _paths(directory: Path) -> tuple[Path, Path]:
    return directory / DB_FILE, directory / CASEWORKERS_DIR


def caseworker_names(directory: Path) -> list[str]:
    _, people = _paths(directory)
    return sorted(p.stem for p in people.glob("*.key")) if people.is_dir() else []


AFTER_UNLOCK: list[tuple[int, Callable[[Vault], object]]] = []
"""What every unlock does after opening, in order: the modules that keep something derived
from the reports fill in, once, what cases stored before they kept it lack (read once,
logged): :mod:`vault.triage` (1), then :mod:`vault.professional_index` (2); and
:mod:`vault.alerts` (3) removes an editor's draft a killed run left. Each adds itself
with :func:`after_unlock` when imported; every command that works on cases imports them
(through :mod:`vault.incoming` and :mod:`vault.case_view`), so the vault needs no import of
them, which would make a circle (they use the vault)."""


def after_unlock(order: int, step: Callable[[Vault], object]) -> None:
    AFTER_UNLOCK.append((order, step))
    AFTER_UNLOCK.sort(key=lambda entry: entry[0])


class Vault:
    """An unlocked vault. Use :meth:`create` or :meth:`unlock`, then :meth:`close`.

    For vault/ modules (the package-internal API; ``cli/`` does not use these):

    * ``db``: the open database connection; read with it, write only inside
      :meth:`transaction`;
    * ``access``: the database and team keys this caseworker holds; :meth:`adopt_access`
      after a key change;
    * ``log``: the access log (:class:`vault.auditlog.AccessLog`);
    * :meth:`transaction`, :meth:`record`, :meth:`log_action`, :meth:`register_caseworker`,
      :meth:`team_key`, :meth:`team_key_for`, :meth:`signing_keys`,
      :meth:`caseworker_names`, :meth:`forget_names`.
    """

    def __init__(self, directory: Path, identity: Identity, access: Access, db: dbmod.Connection):
        self.directory = directory
        self.identity = identity
        self.db = db
        self.log = AccessLog(db, identity)
        self._access = access
        self._names: dict[str, str] | None = None
        try:
            schema.declare_event_kinds(db, EVENT_KINDS)
        except BaseException:
            db.close()
            raise

    def __repr__(self) -> str:
        return f"<Vault {self.directory} unlocked by {self.identity.name}>"

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # --- making and opening ---------------------------------------------------

    @classmethod
    def create(
        cls, directory: Path, name: str, passphrase: Passphrase, kdf: KdfParams = DEFAULT_KDF
    ) -> Vault:
        """A new vault with team key epoch 1 and its first caseworker."""
        name = validate_name(name)
        check_new_vault_place(directory)
        check_strength(passphrase, name=name)
        db_path, people = _paths(directory)
        if db_path.exists() or (people.exists() and any(people.iterdir())):
            raise VaultExistsError(f"There is already a vault in {directory}.")
        if directory.exists() and any(directory.iterdir()):
            raise VaultExistsError(
                f"{directory} already has files in it; a new vault needs an empty folder."
            )
        make_private_dir(directory)
        make_private_dir(people)
        check_private_tree(directory)
        identity = Identity.generate(name)
        access = new_access()
        create_private_file(people / f"{name}.key", lock_identity(identity, passphrase, kdf))
        create_private_file(
            people / f"{name}.access", wrap_access(access, identity.public, identity)
        )
        db = schema.connect(db_path, access.db_key, create=True)
        vault = cls(directory, identity, access, db)
        with vault.transaction():
            team = access.current
            db.execute(
                "INSERT INTO team_keys (epoch, public_key, created) VALUES (?, ?, ?)",
                (team.epoch, team.public_key, today()),
            )
            vault.log.add("vault-created", None, identity.key_id, None)
            vault.register_caseworker(db, identity.public)
        return vault

    @classmethod
    def unlock(
        cls, directory: Path, passphrase: Passphrase, caseworker: str | None = None
    ) -> Vault:
        """Unlock with a caseworker's passphrase. Refuses unsafe permissions first."""
        key_file = read_key_file(directory, caseworker)
        try:
            identity = unlock_key_file(directory, key_file, passphrase)
        except WrongPassphraseError as e:
            if caseworker is None:  # the only key file there, taken as yours: perhaps it is not
                e.hint = (
                    "it is the only key file in this vault's caseworkers folder; if it is not"
                    " yours, yours is missing: put it back from a backup"
                )
            raise
        # Issue 5: access files written by another current caseworker are trusted too, and
        # an interrupted key change is finished or undone (see vault/keychange.py).
        trusted = key_file_signers(directory) | {identity.public.sign_pk}
        path = access_path(directory, identity.name)
        opened = open_access(directory, identity, path, trusted, f"{identity.name}'s")
        vault = cls(directory, identity, opened.access, opened.db)
        try:
            with dbmod.explained(directory):
                vault._check_log_copy()
                vault._start_log()
                for _, step in AFTER_UNLOCK:
                    step(vault)
        except BaseException:
            vault.close()
            raise
        return vault

    def _check_log_copy(self) -> None:
        """Issue 16: the newest committed checkpoint, kept in the vault folder too, must still
        be in the log (see vault/auditlog.py); a vault without the copy yet gets one."""
        require_head_copy(self.db, self.directory, self.log.origin)
        if not (self.directory / HEAD_COPY).exists():
            head = self.log.head()
            if head is not None:
                write_head_copy(self.directory, head.signed)

    def _start_log(self) -> None:
        """A vault made before the access log existed starts it now, naming its caseworkers."""
        if self.log.size():
            return
        with self.transaction() as db:
            self.log.add("log-started", None, None, None)
            rows = db.execute(
                "SELECT key_id, name, sign_pk, revoked FROM caseworkers ORDER BY rowid"
            )
            for key_id, name, sign_pk, revoked in rows.fetchall():
                self._log_caseworker_added(str(key_id), str(name), bytes(sign_pk))
                if revoked is not None:
                    self.log_action(db, "caseworker-revoked", str(key_id))

    @contextmanager
    def transaction(self) -> Iterator[dbmod.Connection]:
        """A write transaction that ends, if it added log entries, with a signed checkpoint."""
        self.log.begin()
        try:
            with dbmod.transaction(self.db) as db:
                yield db
                self.log.finish()
            signed = self.log.signed
        finally:
            self.log.begin()
        if signed is not None:  # committed: the copy may follow, never lead (vault/auditlog.py)
            write_head_copy(self.directory, signed)

    # --- keys -------------------------------------------------------------------

    # --- keys -------------------------------------------------------------------

    @property
    def access(self) -> Access:
        return self._access

    def adopt_access(self, access: Access) -> None:
        """After a key change: the keys this vault now opens with."""
        self._access = access

    def team_public_key(self) -> TeamPublicKey:
        return self._access.current.public

    def team_key_export(self) -> TeamPublicKey:
        """The current team public key with the caseworkers an intake should accept pulls from."""
        people = tuple(
            (str(name), bytes(pk))
            for name, pk in self.db.execute(
                "SELECT name, sign_pk FROM caseworkers WHERE revoked IS NULL ORDER BY name"
            )
        )
        current = self._access.current
        return TeamPublicKey(current.epoch, current.public_key, people, self.log.origin)

    # --- import -------------------------------------------------------------------

    def team_key_for(self, envelope: bytes) -> TeamKeyPair:
        return self.team_key_for_header(parse_header(envelope))

    def team_key_for_header(self, header: EnvelopeHeader) -> TeamKeyPair:
        """The team key pair an envelope with this header is sealed to, or ForeignEnvelopeError."""
        team = self._access.team_key(header.epoch)
        if team is None or team_key_id(team.public_key) != header.key_id:
            raise ForeignEnvelopeError()
        return team

    def team_key(self, epoch: int) -> TeamKeyPair:
        team = self._access.team_key(epoch)
        if team is None:
            raise WrongKeyError(f"This vault does not hold team key epoch {epoch}.")
        return team

    def signing_keys(self) -> dict[str, bytes]:
        """Caseworkers' signing keys by key id; a row whose id does not match its key is refused."""
        keys = {}
        for key_id, sign_pk in self.db.execute("SELECT key_id, sign_pk FROM caseworkers"):
            if caseworker_key_id(sign_pk) != key_id:
                raise IntegrityError("A caseworker's key in the vault has been changed.")
            keys[key_id] = bytes(sign_pk)
        return keys

    def caseworker_names(self) -> dict[str, str]:
        if self._names is None:
            self._names = {k: n for k, n in self.db.execute("SELECT key_id, name FROM caseworkers")}
        return self._names

    def forget_names(self) -> None:
        """After caseworkers change: names are read again when next needed."""
        self._names = None

    # --- finding a case -------------------------------------------------------------

    def resolve(self, text: str) -> str:
        """A full case id from what a caseworker typed (a unique start of 4+ characters will do)."""
        wanted = normalise_id(text)
        if len(wanted) < 4:  # as for alerts: refused whether or not a case starts so
            raise UsageError(
                f"'{text}' is too short for a case id: type at least its first four characters.",
                hint="case ids look like 7KQ2-M9XD",
            )
        rows = self.db.execute(
            "SELECT id FROM cases WHERE id >= ? AND id < ? LIMIT 2", (wanted, wanted + "\x7f")
        ).fetchall()
        if len(rows) == 1:
            return str(rows[0][0])
        if len(rows) > 1:
            raise UsageError(f"More than one case starts with {text}: type more of the id.")
        if not rows:  # an erased case is named as such (vault/erasure.py)
            erased = tombstones.erased_matching(self.db, wanted)
            if len(erased) == 1:
                raise tombstones.erased_error(erased[0])
        raise CaseNotFoundError(f"There is no case {text} in this vault.")

    # --- changing a case -------------------------------------------------------------

    def add_note(self, text: str, note: str) -> str:
        note = note.strip()
        if not note:
            raise UsageError("A note cannot be empty.")
        if len(note) > MAX_NOTE:
            raise UsageError(f"A note can be at most {MAX_NOTE} characters.")
        team = self._access.current
        return self._change(
            text, "note", {"epoch": team.epoch, "sealed": b64(seal_note(note, team.public_key))}
        )

    def assign(self, text: str, name: str) -> str:
        """Assign a case to a current caseworker of this vault, named exactly."""
        current = [
            str(n)
            for (n,) in self.db.execute(
                "SELECT name FROM caseworkers WHERE revoked IS NULL ORDER BY name"
            )
        ]
        if name not in current:
            revoked = self.db.execute(
                "SELECT 1 FROM caseworkers WHERE name = ? AND revoked IS NOT NULL", (name,)
            ).fetchone()
            why = "has been revoked" if revoked else "is not a caseworker of this vault"
            raise UsageError(
                f"{name} {why}: assign to one of {', '.join(current)}.",
                hint="names are exact: vault caseworker list shows them",
            )
        return self._change(text, "assigned", {"to": name})

    def set_status(self, text: str, status: str) -> str:
        if check_status(status) == "closed":
            raise UsageError(
                "Closing a case needs an outcome.",
                hint="use: vault cases close ID --outcome OUTCOME",
            )
        return self._change(text, "status", {"to": status})

    def close_case(self, text: str, outcome: str) -> str:
        return self._change(text, "closed", {"outcome": check_outcome(outcome)})

    def _change(self, text: str, kind: str, data: dict[str, Any]) -> str:
        case_id = self.resolve(text)
        with self.transaction() as db:
            self.record(db, case_id, kind, data)
        return case_id

    def record(self, db: dbmod.Connection, case_id: str, kind: str, data: dict[str, Any]) -> Event:
        """Check a case action against the case's state (the table in
        :mod:`vault.audit.case_actions`), then store it signed, with its access-log entry, and
        update the stored fold; in ``db``'s transaction."""
        status, assignee, outcome = dbmod.one(
            db, "SELECT status, assignee, outcome FROM cases WHERE id = ?", (case_id,)
        )
        before = CaseState(case_id, status, assignee, outcome, imported=True)
        if team_clock.is_syncing(db):  # placed in the team's order (vault/team_clock.py)
            stamp = team_clock.next_stamp(db)
            after_ids = team_clock.heads(db, case_id)
            event = Event.new(case_id, kind, self.identity, data, stamp=stamp, after=after_ids)
        else:
            event = Event.new(case_id, kind, self.identity, data)
        after = apply(before, event)
        signed = sign_event(event, self.identity)
        db.execute(
            "INSERT INTO events (id, case_id, kind, actor, body, signature)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (event.id, event.case, event.kind, event.actor, signed.body, signed.signature),
        )
        detail, commit = action(kind).entry(event.data, self._key_id_of)
        self.log.add(kind, case_id, detail, commit)
        if after != before:
            db.execute(
                "UPDATE cases SET status = ?, assignee = ?, outcome = ? WHERE id = ?",
                (after.status, after.assignee, after.outcome, case_id),
            )
        return event

    def _key_id_of(self, name: str) -> str | None:
        """A current caseworker's key id: the log names only a caseworker on the roster now
        (docs/audit.md, section 8); someone removed from the team is not one."""
        row = self.db.execute(
            "SELECT key_id FROM caseworkers WHERE name = ? AND revoked IS NULL", (name,)
        ).fetchone()
        return None if row is None else str(row[0])

    # --- membership and keys in the access log ---------------------------------------------

    def register_caseworker(self, db: dbmod.Connection, person: CaseworkerPublic) -> None:
        """Register a new caseworker and log their addition, in ``db``'s transaction."""
        db.execute(
            "INSERT INTO caseworkers (key_id, name, sign_pk, box_pk, added) VALUES (?, ?, ?, ?, ?)",
            (person.key_id, person.name, person.sign_pk, person.box_pk, today()),
        )
        self._log_caseworker_added(person.key_id, person.name, person.sign_pk)

    def _log_caseworker_added(self, key_id: str, name: str, sign_pk: bytes) -> None:
        """The ``caseworker-added`` entry: their key id, committing to their name and key."""
        self.log.add("caseworker-added", None, key_id, commitment(member_commitment(name, sign_pk)))

    def log_action(
        self, db: dbmod.Connection, action: str, subject: str | None = None, commit: bytes = b""
    ) -> None:
        """Record an action on keys or membership in the access log, in ``db``'s transaction.

        ``action`` is a short kebab-case name (``caseworker-added``, ``team-key-rotated``...);
        ``subject`` a key id, epoch or name it concerns (never report content); ``commit``
        bytes to commit to by hash (e.g. a new public key).
        """
        self.log.add(action, None, subject, commitment(commit) if commit else None)


class TeamKeysByHeader:
    """The team key for each envelope of one import or read-through; each distinct header is
    checked once."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._known: dict[bytes, TeamKeyPair] = {}

    def key_for(self, envelope: bytes) -> TeamKeyPair:
        return self._key(envelope[:HEADER_BYTES], len(envelope), lambda: envelope)

    def key_for_parts(self, header: bytes, sealed: bytes) -> TeamKeyPair:
        """The same, for an envelope read as its header and the sealed part after it."""
        return self._key(header, HEADER_BYTES + len(sealed), lambda: header + sealed)

    def _key(self, header: bytes, size: int, envelope: Callable[[], bytes]) -> TeamKeyPair:
        team = self._known.get(header)
        if team is None or not MIN_ENVELOPE <= size <= MAX_ENVELOPE:
            team = self._vault.team_key_for(envelope())  # parses the header: a bad one raises
            self._known[header] = team
        return team


def read_key_file(directory: Path, caseworker: str | None) -> bytes:
    """Find the acting caseworker's key file: named, or the only one there is."""
    db_path, people = _paths(directory)
    if not directory.is_dir() or not db_path.exists():
        raise NoVaultError(f"There is no vault in {directory}.", hint=no_vault_hint(directory))
    check_private_tree(directory)
    names = caseworker_names(directory)
    if not names:
        raise VaultError(
            "This vault has no key file for any caseworker.",
            hint="put your key file back in the vault's caseworkers folder (from a backup),"
            " or open the vault with recovery shares: vault recovery restore",
        )
    if caseworker is None:
        if len(names) > 1:
            raise UsageError(
                f"This vault has several caseworkers ({', '.join(names)}): say which you are.",
                hint="use --as NAME or set VAULT_CASEWORKER",
            )
        caseworker = names[0]
    if caseworker not in names:
        raise UsageError(
            f"This vault has no caseworker called {caseworker}"
            f" (it has key files for {', '.join(names)}).",
            hint="names are exact; on a team of laptops each caseworker opens only their own"
            " laptop's vault (the others' names are in vault caseworker list, their keys are"
            " not); if your key file was lost, put it back from a backup",
        )
    data = read_small_file(people / f"{caseworker}.key", "key file")
    try:
        public, _ = read_key_file_public(data)
    except NotAKeyFileError:  # it was one when the vault took it: it has been damaged
        raise IntegrityError(
            f"{caseworker}'s key file in this vault is damaged.",
            hint="put it back from a backup of the vault (vault restore), or open the vault"
            " with recovery shares: vault recovery restore",
        ) from None
    if public.name != caseworker:
        raise IntegrityError(f"The key file for {caseworker} names someone else.")
    return data


__all__ = ["TeamKeysByHeader", "Vault", "caseworker_names", "read_key_file", "today"]
