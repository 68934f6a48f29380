"""The vault on a caseworker's laptop: create, unlock, import, and work on cases.

Directory layout (all 0700 / 0600)::

    vault-data/
        vault.db                  SQLCipher database (and its -wal, -shm)
        caseworkers/NAME.key      NAME's identity, locked by their passphrase
        caseworkers/NAME.access   the database and team keys, sealed to NAME

Nothing here is readable without a caseworker's passphrase: the database is
encrypted with a random key that only the ``.access`` files hold, and each
report inside it is still sealed to the team key.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vault import _crypto
from vault import db as dbmod
from vault.attachments import Segmenter, open_attachment, sealed_length
from vault.audit import bundle, merkle
from vault.audit.leaves import LeafError, member_commitment, parse_leaf
from vault.audit.signed_note import (
    ED25519,
    SignedNoteError,
    VerifierKey,
    parse_note,
    verify_signature,
)
from vault.auditlog import (
    AccessLog,
    LogHead,
    caseworker_verifier,
    commitment,
)
from vault.cases import (
    CaseState,
    apply,
    check_outcome,
    check_status,
    fold,
    new_case_id,
    normalise_id,
    show_id,
)
from vault.envelope import (
    HEADER_BYTES,
    MAX_ENVELOPE,
    MIN_ENVELOPE,
    envelope_id,
    open_envelope_bytes,
    open_report,
    open_sealed,
    open_sealed_part,
    parse_header,
    report_inside,
    team_key_id,
)
from vault.errors import (
    AttachmentUnavailableError,
    CaseNotFoundError,
    EnvelopeError,
    ForeignEnvelopeError,
    IntegrityError,
    InvalidReportError,
    NoReplyKeyError,
    NoVaultError,
    UsageError,
    VaultError,
    VaultExistsError,
    WrongKeyError,
)
from vault.events import Event, sign_event, verify_event
from vault.files import (
    check_private_tree,
    create_private_file,
    fsync_dir,
    make_private_dir,
    open_new_private_file,
    read_small_file,
)
from vault.keychange import access_path, key_file_signers, open_access
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
    unb64,
    unlock_identity,
    validate_name,
    wrap_access,
)
from vault.passphrase import Passphrase, check_strength
from vault.places import check_new_vault_place, no_vault_hint
from vault.replies import MAX_REPLY, mailbox_id, reply_public_key, seal_reply
from vault.report import Attachment, Report, parse_report

DB_FILE = "vault.db"
CASEWORKERS_DIR = "caseworkers"
IMPORT_BATCH = 500
# An envelope checked for import: its bytes, its id and the team key it opened with.
_Held = tuple[bytes, bytes, TeamKeyPair]
MAX_NOTE = 20_000


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class CaseSummary:
    id: str
    status: str
    received: str
    assignee: str | None
    outcome: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": show_id(self.id),
            "status": self.status,
            "received": self.received,
            "assignee": self.assignee,
            "outcome": self.outcome,
        }


@dataclass(frozen=True, slots=True)
class CaseNote:
    author: str
    text: str
    at: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply sent to the reporter, as the case history shows it (opened from the team copy)."""

    author: str
    text: str
    at: str
    shared_status: str | None
    delivered: bool


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """What a case's report says about attachment ``n``, and whether the vault holds it."""

    n: int
    name: str
    type: str
    size: int
    held: bool


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: str
    actor: str
    action: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class CaseView:
    """An opened case. Holds report text: keep it in memory, never write it out."""

    summary: CaseSummary
    report: Report = field(repr=False)
    notes: tuple[CaseNote, ...] = field(repr=False)
    history: tuple[HistoryEntry, ...]
    replies: tuple[Reply, ...] = field(default=(), repr=False)
    attachments: tuple[AttachmentInfo, ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary.to_json(),
            "report": self.report.model_dump(mode="json", exclude_none=True),
            "notes": [{"author": n.author, "text": n.text, "at": n.at} for n in self.notes],
            "replies": [
                {
                    "author": r.author,
                    "text": r.text,
                    "at": r.at,
                    "shared_status": r.shared_status,
                    "delivered": r.delivered,
                }
                for r in self.replies
            ],
            "attachments": [
                {"n": a.n, "name": a.name, "type": a.type, "size": a.size, "in_vault": a.held}
                for a in self.attachments
            ],
            "history": [
                {"at": h.at, "actor": h.actor, "action": h.action, "detail": h.detail}
                for h in self.history
            ],
        }


@dataclass(slots=True)
class ImportResult:
    imported: list[str] = field(default_factory=list)
    duplicates: int = 0
    failures: list[tuple[str, VaultError]] = field(default_factory=list)


BlobFetcher = Callable[[str], Iterable[bytes]]
"""Gives a blob's bytes in pieces of any size, or raises :class:`AttachmentUnavailableError`."""


@dataclass(frozen=True, slots=True)
class PendingBlob:
    """An attachment a stored report names that the vault does not hold (or has not acked)."""

    id: str
    case_id: str
    length: int  # the exact sealed length the report's size implies
    n: int | None = None  # which attachment of the case, when known


@dataclass(slots=True)
class PulledBatch:
    """What storing one page from an intake did, and what may now be acknowledged."""

    imported: list[str] = field(default_factory=list)
    duplicates: int = 0
    # (label, reason, error) for each envelope kept in quarantine
    quarantined: list[tuple[str, str, VaultError]] = field(default_factory=list)
    # hex ids of envelopes stored, already stored, or quarantined: all may be acknowledged
    envelopes_held: list[str] = field(default_factory=list)
    # blobs those reports name that the vault already holds (acknowledge them too)
    blobs_held: list[str] = field(default_factory=list)
    # blobs those reports name that the vault lacks, newly recorded as pending
    blobs_wanted: list[PendingBlob] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Refused:
    """Why a pulled envelope goes to quarantine (one of ``db.QUARANTINE_REASONS``)."""

    reason: str
    error: VaultError


@dataclass(frozen=True, slots=True)
class QueuedReply:
    id: str
    mailbox: str
    body: bytes = field(repr=False)


def _paths(directory: Path) -> tuple[Path, Path]:
    return directory / DB_FILE, directory / CASEWORKERS_DIR


def caseworker_names(directory: Path) -> list[str]:
    _, people = _paths(directory)
    return sorted(p.stem for p in people.glob("*.key")) if people.is_dir() else []


class Vault:
    """An unlocked vault. Use :meth:`create` or :meth:`unlock`, then :meth:`close`."""

    def __init__(self, directory: Path, identity: Identity, access: Access, db: dbmod.Connection):
        self.directory = directory
        self.identity = identity
        self._access = access
        self._db = db
        self._names: dict[str, str] | None = None
        self._log = AccessLog(db, identity)

    def __repr__(self) -> str:
        return f"<Vault {self.directory} unlocked by {self.identity.name}>"

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

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
        db = dbmod.connect(db_path, access.db_key, create=True)
        vault = cls(directory, identity, access, db)
        with vault._transaction():
            team = access.current
            db.execute(
                "INSERT INTO team_keys (epoch, public_key, created) VALUES (?, ?, ?)",
                (team.epoch, team.public_key, today()),
            )
            vault._log.add("vault-created", None, identity.key_id, None)
            vault._add_caseworker(db, identity.public)
        return vault

    @classmethod
    def unlock(
        cls, directory: Path, passphrase: Passphrase, caseworker: str | None = None
    ) -> Vault:
        """Unlock with a caseworker's passphrase. Refuses unsafe permissions first."""
        identity = unlock_identity(read_key_file(directory, caseworker), passphrase)
        # Issue 5: access files written by another current caseworker are trusted too, and
        # an interrupted key change is finished or undone (see vault/keychange.py).
        trusted = key_file_signers(directory) | {identity.public.sign_pk}
        path = access_path(directory, identity.name)
        opened = open_access(directory, identity, path, trusted, f"{identity.name}'s")
        vault = cls(directory, identity, opened.access, opened.db)
        vault._start_log()
        return vault

    def _start_log(self) -> None:
        """A vault made before the access log existed starts it now, naming its caseworkers."""
        if self._log.size():
            return
        with self._transaction() as db:
            self._log.add("log-started", None, None, None)
            rows = db.execute(
                "SELECT key_id, name, sign_pk, revoked FROM caseworkers ORDER BY rowid"
            )
            for key_id, name, sign_pk, revoked in rows.fetchall():
                self._log_caseworker_added(db, str(key_id), str(name), bytes(sign_pk))
                if revoked is not None:
                    self._log_key_action(db, "caseworker-revoked", str(key_id))

    @contextmanager
    def _transaction(self) -> Iterator[dbmod.Connection]:
        """A write transaction that ends, if it added log entries, with a signed checkpoint."""
        self._log.begin()
        try:
            with dbmod.transaction(self._db) as db:
                yield db
                self._log.finish()
        finally:
            self._log.begin()

    # --- keys -------------------------------------------------------------------

    def team_public_key(self) -> TeamPublicKey:
        return self._access.current.public

    def team_key_export(self) -> TeamPublicKey:
        """The current team public key with the caseworkers an intake should accept pulls from."""
        people = tuple(
            (str(name), bytes(pk))
            for name, pk in self._db.execute(
                "SELECT name, sign_pk FROM caseworkers WHERE revoked IS NULL ORDER BY name"
            )
        )
        current = self._access.current
        return TeamPublicKey(current.epoch, current.public_key, people, self._log.origin)

    # --- import -------------------------------------------------------------------

    def import_envelopes(
        self, envelopes: Iterable[tuple[str, bytes]], progress: Any = None
    ) -> ImportResult:
        """Open, check and store envelopes, each exactly once.

        Each envelope is opened and validated before anything is written; a
        damaged or foreign one is reported and skipped. Stored envelopes are
        committed in batches, so a crash loses at most the batch in flight,
        and importing again stores nothing twice.
        """
        result = ImportResult()
        received = today()
        batch: list[_Held] = []
        teams = _TeamKeysByHeader(self)
        for label, envelope in envelopes:
            try:
                team = teams.key_for(envelope)
                report_inside(open_sealed_part(envelope, team.public_key, team.secret_key))
            except VaultError as e:
                result.failures.append((label, e))
                continue
            batch.append((envelope, envelope_id(envelope), team))
            if len(batch) >= IMPORT_BATCH:
                self._store_batch(batch, received, result)
                batch = []
                if progress is not None:
                    progress(len(result.imported), result.duplicates)
        if batch:
            self._store_batch(batch, received, result)
        return result

    def _team_key_for(self, envelope: bytes) -> TeamKeyPair:
        header = parse_header(envelope)
        team = self._access.team_key(header.epoch)
        if team is None or team_key_id(team.public_key) != header.key_id:
            raise ForeignEnvelopeError()
        return team

    def _store_batch(
        self,
        batch: list[_Held],
        received: str,
        result: ImportResult,
    ) -> None:
        with self._transaction() as db:
            fresh = self._not_held(db, batch)
            stored = self._import_cases(db, fresh, received)
        result.imported.extend(stored)
        result.duplicates += len(batch) - len(stored)

    def _not_held(self, db: dbmod.Connection, batch: list[_Held]) -> list[_Held]:
        """The envelopes of ``batch`` the vault does not hold yet, each once."""
        ids = [env_id for _envelope, env_id, _team in batch]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))  # only placeholders go into the statement
        sql = f"SELECT envelope_id FROM cases WHERE envelope_id IN ({marks})"  # noqa: S608
        held = {bytes(row[0]) for row in db.execute(sql, ids)}
        fresh = []
        for item in batch:
            if item[1] not in held:
                held.add(item[1])
                fresh.append(item)
        return fresh

    def _import_cases(self, db: dbmod.Connection, fresh: list[_Held], received: str) -> list[str]:
        """Store new cases and their "imported" log entries, a statement for each table.

        Each entry is its case's record of its import (who, when, which envelope), signed by
        the checkpoint that ends this transaction: there is no separate event row for it.
        """
        first = self._log.next_entry()
        for attempt in range(9):
            rows = [
                (new_case_id(), env_id, team.epoch, envelope, received, entry)
                for entry, (envelope, env_id, team) in enumerate(fresh, first)
            ]
            try:
                with dbmod.savepoint(db, "import_cases"):
                    db.executemany(
                        "INSERT INTO cases"
                        " (id, envelope_id, epoch, envelope, received, import_entry)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        rows,
                    )
            except dbmod.ConstraintError as e:
                if "cases.id" in str(e) and attempt < 8:
                    continue  # a 40-bit id drawn was taken: undone, and all drawn again
                raise IntegrityError("The vault refused to store a case.") from None
            self._log.add_many([("imported", row[0], None, row[1].hex()) for row in rows])
            return [row[0] for row in rows]
        raise IntegrityError("The vault could not find a free case id.")

    # --- pulling from an intake ---------------------------------------------------------

    def store_pulled(self, envelopes: Iterable[tuple[str, bytes]]) -> PulledBatch:
        """Store one page of envelopes from an intake, in **one** transaction.

        Each envelope is opened and validated first, as :meth:`import_envelopes` does. A good
        one is stored as a new case (or counted as a duplicate: already held). One the vault
        cannot open (damaged, sealed to another team's key, or not a valid report inside) is
        kept in quarantine exactly as it arrived, still sealed, so that it too may be
        acknowledged without anything being lost. Every attachment a good report names that
        the vault lacks is recorded as pending; :meth:`store_blob` fetches it afterwards, each
        blob in its own transaction.
        """
        result = PulledBatch()
        checked: list[tuple[bytes, bytes, TeamKeyPair, Report]] = []
        refused: list[tuple[bytes, bytes, str]] = []
        for label, envelope in envelopes:
            opened = self._check_pulled(envelope)
            if isinstance(opened, _Refused):
                result.quarantined.append((label, opened.reason, opened.error))
                refused.append((envelope, envelope_id(envelope), opened.reason))
            else:
                checked.append((envelope, envelope_id(envelope), *opened))
        received = today()
        held: set[str] = set()
        wanted: dict[str, PendingBlob] = {}
        with self._transaction() as db:
            for envelope, env_id, reason in refused:
                db.execute(
                    "INSERT INTO quarantine (envelope_id, envelope, day, reason)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (envelope_id) DO NOTHING",
                    (env_id, envelope, received, reason),
                )
                result.envelopes_held.append(env_id.hex())
            fresh = self._not_held(db, [(env, e, team) for env, e, team, _report in checked])
            stored = self._import_cases(db, fresh, received)
            new = dict(zip([e for _env, e, _team in fresh], stored, strict=True))
            result.imported = stored
            result.duplicates = len(checked) - len(new)
            for _envelope, env_id, _team, report in checked:
                case_id = new.get(env_id) or str(
                    dbmod.one(db, "SELECT id FROM cases WHERE envelope_id = ?", (env_id,))[0]
                )
                result.envelopes_held.append(env_id.hex())
                for n, attachment in enumerate(report.attachments, 1):
                    blob = attachment.blob
                    if blob in held or blob in wanted:
                        continue
                    if self._holds_blob(db, blob):
                        held.add(blob)
                    elif self._want_blob(db, case_id, attachment):
                        wanted[blob] = PendingBlob(blob, case_id, sealed_length(attachment.size), n)
        result.blobs_held = sorted(held)
        result.blobs_wanted = list(wanted.values())
        return result

    def _check_pulled(self, envelope: bytes) -> tuple[TeamKeyPair, Report] | _Refused:
        """``(team key, report)``, or why the envelope must be kept in quarantine."""
        try:
            team = self._team_key_for(envelope)
            data = open_envelope_bytes(envelope, team.public_key, team.secret_key)
        except ForeignEnvelopeError as e:
            return _Refused("foreign", e)
        except VaultError as e:
            return _Refused("damaged", e)
        try:
            return team, parse_report(data)
        except InvalidReportError:
            return _Refused(
                "invalid",
                EnvelopeError("That envelope opened, but what is inside is not a valid report."),
            )

    def quarantine_count(self) -> int:
        """How many pulled envelopes are kept, sealed, because this vault could not open them."""
        return int(self._db.execute("SELECT count(*) FROM quarantine").fetchone()[0])

    def _holds_blob(self, db: dbmod.Connection, blob: str) -> bool:
        return db.execute("SELECT 1 FROM blobs WHERE id = ?", (blob,)).fetchone() is not None

    def _want_blob(self, db: dbmod.Connection, case_id: str, attachment: Attachment) -> bool:
        """Record a missing attachment as pending; False if it already was."""
        return (
            db.execute(
                "INSERT INTO pending_blobs (id, case_id, length) VALUES (?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                (attachment.blob, case_id, sealed_length(attachment.size)),
            ).rowcount
            == 1
        )

    def pending_blobs(self) -> list[PendingBlob]:
        """Attachments stored reports name that the vault does not hold or has not acknowledged."""
        return [
            PendingBlob(str(i), str(c), int(n))
            for i, c, n in self._db.execute(
                "SELECT id, case_id, length FROM pending_blobs ORDER BY rowid"
            )
        ]

    def store_blob(self, pending: PendingBlob, fetch_blob: BlobFetcher) -> VaultError | None:
        """Fetch one pending blob and store it in its own transaction, checked before it counts.

        Returns None when the vault now holds it (including when it already did: the intake
        may then be told to delete its copy, then :meth:`forget_pending`). Returns the problem
        to report when the intake lacks it or it fails the check; nothing of it is kept and it
        stays pending. Any other error (the network failing) rolls this blob back and
        propagates.
        """
        with self._transaction() as db:
            if self._holds_blob(db, pending.id):
                return None
            return self._stream_blob(db, pending, fetch_blob)

    def forget_pending(self, blob: str) -> None:
        """The blob is stored and the intake has been told: stop asking for it."""
        with self._transaction() as db:
            db.execute("DELETE FROM pending_blobs WHERE id = ?", (blob,))

    def _stream_blob(
        self, db: dbmod.Connection, pending: PendingBlob, fetch_blob: BlobFetcher
    ) -> VaultError | None:
        """Stream one sealed blob into chunk rows (memory stays flat), checked before it counts.

        Reading stops as soon as the blob runs past the length its report allows.
        """
        blob, expected = pending.id, pending.length
        which = f"Attachment {pending.n}" if pending.n is not None else "An attachment"
        db.execute("SAVEPOINT blob")
        try:
            hasher = hashlib.sha256()
            cutter = Segmenter()
            length = row = 0
            for piece in fetch_blob(blob):
                length += len(piece)
                if length > expected:
                    break  # refused before anything more of it is written
                hasher.update(piece)
                for segment in cutter.feed(piece):
                    db.execute(
                        "INSERT INTO blob_chunks (blob_id, n, data) VALUES (?, ?, ?)",
                        (blob, row, segment),
                    )
                    row += 1
            rest = cutter.finish()
            if length == expected and rest is not None:
                db.execute(
                    "INSERT INTO blob_chunks (blob_id, n, data) VALUES (?, ?, ?)",
                    (blob, row, rest),
                )
            if length == expected and hasher.hexdigest() == blob:
                db.execute("INSERT INTO blobs (id, length) VALUES (?, ?)", (blob, length))
                db.execute("RELEASE blob")
                return None
            problem: VaultError = IntegrityError(
                f"{which} from the intake does not match what the report says it is,"
                " so it was not stored; the report was. The next vault pull asks for it again.",
                hint="the intake's copy may be damaged or tampered with",
            )
        except AttachmentUnavailableError:
            problem = AttachmentUnavailableError(
                f"{which} is not on the intake (it may have expired); the report was stored"
                " without it. The next vault pull asks for it again."
            )
        except BaseException:
            db.execute("ROLLBACK TO blob")
            db.execute("RELEASE blob")
            raise
        db.execute("ROLLBACK TO blob")
        db.execute("RELEASE blob")
        return problem

    def queued_replies(self) -> list[QueuedReply]:
        """Replies not yet delivered to the intake, oldest first."""
        return [
            QueuedReply(str(i), str(m), bytes(b))
            for i, m, b in self._db.execute(
                "SELECT id, mailbox, body FROM replies WHERE delivered = 0 ORDER BY rowid"
            )
        ]

    def mark_delivered(self, reply_ids: Iterable[str]) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE replies SET delivered = 1 WHERE id = ?", [(i,) for i in reply_ids]
            )

    def _append(self, db: dbmod.Connection, event: Event) -> None:
        """Store a signed case event and its access-log entry, in the caller's transaction."""
        signed = sign_event(event, self.identity)
        db.execute(
            "INSERT INTO events (id, case_id, kind, actor, body, signature)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (event.id, event.case, event.kind, event.actor, signed.body, signed.signature),
        )
        detail, commit = self._leaf_detail(db, event)
        self._log.add(event.kind, event.case, detail, commit)

    def _leaf_detail(self, db: dbmod.Connection, event: Event) -> tuple[str | None, str | None]:
        """What the access log may say about an event: never content, names or contacts."""
        data = event.data
        if event.kind == "imported":
            return None, str(data["envelope"])
        if event.kind in ("note", "reply"):
            shared = "status-shared" if data.get("shared_status") else None
            return shared, commitment(unb64(data["sealed"]))
        if event.kind == "status":
            return str(data["to"]), None
        if event.kind == "closed":
            return data.get("outcome"), None
        if event.kind == "assigned":
            row = db.execute(
                "SELECT key_id FROM caseworkers WHERE name = ?", (data["to"],)
            ).fetchone()
            return (str(row[0]) if row else "not-a-caseworker"), None
        if event.kind == "attachment":
            return str(data["n"]), None
        return None, None

    # --- reading ------------------------------------------------------------------

    def list_cases(self, status: str | None = None, limit: int | None = None) -> list[CaseSummary]:
        """Cases newest first, from the stored fold; nothing is decrypted."""
        sql = "SELECT id, status, received, assignee, outcome FROM cases"
        params: list[Any] = []
        if status is not None:
            sql += " WHERE status = ?"
            params.append(check_status(status))
        sql += " ORDER BY received DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [CaseSummary(*row) for row in self._db.execute(sql, params)]

    def count_cases(self, status: str | None = None) -> int:
        if status is None:
            return int(self._db.execute("SELECT count(*) FROM cases").fetchone()[0])
        return int(
            self._db.execute(
                "SELECT count(*) FROM cases WHERE status = ?", (check_status(status),)
            ).fetchone()[0]
        )

    def resolve(self, text: str) -> str:
        """A full case id from what a caseworker typed (a unique start of 4+ characters will do)."""
        wanted = normalise_id(text)
        rows = self._db.execute(
            "SELECT id FROM cases WHERE id >= ? AND id < ? LIMIT 2", (wanted, wanted + "\x7f")
        ).fetchall()
        if len(rows) == 1 and (len(wanted) >= 4 or rows[0][0] == wanted):
            return str(rows[0][0])
        if len(rows) > 1:
            raise UsageError(f"More than one case starts with {text}: type more of the id.")
        raise CaseNotFoundError(f"There is no case {text} in this vault.")

    def show_case(self, text: str) -> CaseView:
        """Decrypt one case, with notes and history, recording that it was opened."""
        case_id = self.resolve(text)
        with self._transaction() as db:
            envelope, epoch, received = dbmod.one(
                db, "SELECT envelope, epoch, received FROM cases WHERE id = ?", (case_id,)
            )
            team = self._team_key(epoch)
            report = open_report(envelope, team.public_key, team.secret_key)
            self._record(db, case_id, "opened", {})
            events = self._verified_events(db, case_id)
            held = [self._holds_blob(db, a.blob) for a in report.attachments]
            for attachment, have in zip(report.attachments, held, strict=True):
                if not have:  # pulled before the vault kept a list: the next pull asks for it
                    self._want_blob(db, case_id, attachment)
        state = fold(case_id, events)
        names = self._caseworker_names()
        notes = tuple(
            CaseNote(names.get(e.actor, e.actor), self._open_note(e.data), e.at)
            for e in events
            if e.kind == "note"
        )
        delivered = {
            str(i): bool(d)
            for i, d in self._db.execute(
                "SELECT id, delivered FROM replies WHERE case_id = ?", (case_id,)
            )
        }
        replies = tuple(
            Reply(
                names.get(e.actor, e.actor),
                self._open_note(e.data),
                e.at,
                e.data.get("shared_status"),
                delivered.get(e.id, False),
            )
            for e in events
            if e.kind == "reply"
        )
        attachments = tuple(
            AttachmentInfo(n, a.name, a.type, a.size, have)
            for n, (a, have) in enumerate(zip(report.attachments, held, strict=True), 1)
        )
        history = tuple(
            HistoryEntry(e.at, names.get(e.actor, e.actor), e.kind, _detail(e)) for e in events
        )
        return CaseView(
            self._summary(state, received), report, notes, history, replies, attachments
        )

    def _summary(self, state: CaseState, received: str) -> CaseSummary:
        return CaseSummary(state.id, state.status, received, state.assignee, state.outcome)

    def iter_report_json(self) -> Iterator[tuple[str, bytes]]:
        """Every report decrypted to its canonical JSON, in turn. Nothing is written.

        Each was validated when it was imported; use :meth:`iter_reports` for models. The
        rows are read ahead on a second thread, over a read-only connection of its own, while
        this one opens them: reading a row (SQLCipher decrypting and authenticating its share
        of a page) costs about a seventh of opening its envelope, and overlapping the two
        keeps a read-through near the bare rate of opening (docs/benchmarks.md).
        """
        self._db.execute("SELECT 1")  # a closed vault reads nothing, as before
        path, key = self.directory / DB_FILE, self._access.db_key

        def connect() -> dbmod.Connection:
            db = dbmod.connect(path, key)
            db.execute("PRAGMA query_only = ON")
            return db

        teams = _TeamKeysByHeader(self)
        chunks = dbmod.read_ahead(
            connect,
            # the header (HEADER_BYTES, 20) and the sealed part, cut apart on the reading
            # thread (substr of an empty blob is NULL: coalesce keeps them bytes)
            "SELECT id, coalesce(substr(envelope, 1, 20), x''),"
            " coalesce(substr(envelope, 21), x''), epoch FROM cases",
        )
        with closing(chunks):
            for rows in chunks:
                for case_id, header, sealed, epoch in rows:
                    try:
                        team = teams.key_for_parts(header, sealed)
                    except VaultError:
                        team = self._team_key(epoch)  # names a missing epoch; else opening fails
                        whole = header + sealed
                        yield case_id, open_envelope_bytes(whole, team.public_key, team.secret_key)
                        continue
                    if team.epoch != epoch:
                        raise IntegrityError(
                            f"Case {show_id(case_id)}'s report is not sealed as stored."
                        )
                    yield case_id, open_sealed(sealed, team.public_key, team.secret_key)

    def iter_reports(self) -> Iterator[tuple[str, Report]]:
        """Every report, decrypted and validated in turn (for counting trends)."""
        for case_id, data in self.iter_report_json():
            try:
                yield case_id, parse_report(data)
            except InvalidReportError:
                raise IntegrityError(f"Case {show_id(case_id)}'s report is not valid.") from None

    def _team_key(self, epoch: int) -> TeamKeyPair:
        team = self._access.team_key(epoch)
        if team is None:
            raise WrongKeyError(f"This vault does not hold team key epoch {epoch}.")
        return team

    def _verified_events(self, db: dbmod.Connection, case_id: str) -> list[Event]:
        """A case's history: its import, then its signed events, each checked."""
        keys = self._signing_keys()
        imported = self._import_record(db, case_id, keys)
        events = [] if imported is None else [imported]
        for body, signature, actor in db.execute(
            "SELECT body, signature, actor FROM events WHERE case_id = ? ORDER BY seq", (case_id,)
        ):
            if actor not in keys:
                raise IntegrityError(f"An event of case {show_id(case_id)} names an unknown actor.")
            event = verify_event(body, signature, keys[actor])
            if event.case != case_id or event.actor != actor:
                raise IntegrityError(
                    f"An event of case {show_id(case_id)} has been moved or changed."
                )
            events.append(event)
        return events

    def _import_record(
        self, db: dbmod.Connection, case_id: str, keys: dict[str, bytes]
    ) -> Event | None:
        """The "imported" event a case's access-log entry records; None for a case imported
        before the vault kept one (its history starts with a signed "imported" event).
        """
        entry, env_id = dbmod.one(
            db, "SELECT import_entry, envelope_id FROM cases WHERE id = ?", (case_id,)
        )
        if entry is None:
            return None
        row = db.execute("SELECT leaf, hash FROM log_leaves WHERE seq = ?", (entry,)).fetchone()
        changed = IntegrityError(
            f"Case {show_id(case_id)}'s import entry in the access log has been changed."
        )
        if row is None or merkle.leaf_hash(bytes(row[0])) != bytes(row[1]):
            raise changed
        try:
            leaf = parse_leaf(bytes(row[0]))
        except LeafError:
            raise changed from None
        if (leaf.action, leaf.case, leaf.commit) != ("imported", case_id, bytes(env_id).hex()):
            raise changed
        if leaf.actor not in keys:
            raise IntegrityError(f"Case {show_id(case_id)}'s import names an unknown actor.")
        data = {"envelope": leaf.commit, "entry": int(entry)}
        return Event(f"entry-{entry}", case_id, "imported", leaf.actor, leaf.at, data)

    def _signing_keys(self) -> dict[str, bytes]:
        """Caseworkers' signing keys by key id; a row whose id does not match its key is refused."""
        keys = {}
        for key_id, sign_pk in self._db.execute("SELECT key_id, sign_pk FROM caseworkers"):
            if caseworker_key_id(sign_pk) != key_id:
                raise IntegrityError("A caseworker's key in the vault has been changed.")
            keys[key_id] = bytes(sign_pk)
        return keys

    def _caseworker_names(self) -> dict[str, str]:
        if self._names is None:
            self._names = {
                k: n for k, n in self._db.execute("SELECT key_id, name FROM caseworkers")
            }
        return self._names

    def _open_note(self, data: dict[str, Any]) -> str:
        team = self._team_key(int(data["epoch"]))
        try:
            sealed = unb64(data["sealed"])
            return _crypto.seal_open(sealed, team.public_key, team.secret_key).decode()
        except (_crypto.OpenFailed, ValueError):
            raise IntegrityError("A note in this case is damaged.") from None

    # --- changing -----------------------------------------------------------------

    def add_note(self, text: str, note: str) -> str:
        note = note.strip()
        if not note:
            raise UsageError("A note cannot be empty.")
        if len(note) > MAX_NOTE:
            raise UsageError(f"A note can be at most {MAX_NOTE} characters.")
        team = self._access.current
        sealed = _crypto.seal(note.encode(), team.public_key)
        return self._change(text, "note", {"epoch": team.epoch, "sealed": b64(sealed)})

    def assign(self, text: str, name: str) -> str:
        return self._change(text, "assigned", {"to": validate_name(name)})

    def set_status(self, text: str, status: str) -> str:
        check_status(status)
        if status == "closed":
            return self._change(text, "closed", {"outcome": None})
        return self._change(text, "status", {"to": status})

    def close_case(self, text: str, outcome: str) -> str:
        return self._change(text, "closed", {"outcome": check_outcome(outcome)})

    def reply(self, text: str, message: str, share_status: bool = False) -> str:
        """Seal a reply to the reporter's codename key, record it, and queue it for delivery.

        The sealed reply waits in the outbox until the next pull delivers it; the case history
        keeps a copy sealed to the team key, like a note.
        """
        message = message.strip()
        if not message:
            raise UsageError("A reply cannot be empty.")
        if len(message) > MAX_REPLY:
            raise UsageError(f"A reply can be at most {MAX_REPLY} characters.")
        case_id = self.resolve(text)
        with self._transaction() as db:
            envelope, epoch, status = dbmod.one(
                db, "SELECT envelope, epoch, status FROM cases WHERE id = ?", (case_id,)
            )
            case_key = self._team_key(epoch)
            report = open_report(envelope, case_key.public_key, case_key.secret_key)
            if report.reply_key is None:
                raise NoReplyKeyError()
            reply_pk = reply_public_key(report.reply_key)
            shared = str(status) if share_status else None
            sealed = seal_reply(message, today(), shared, reply_pk)
            team = self._access.current
            event = self._record(
                db,
                case_id,
                "reply",
                {
                    "epoch": team.epoch,
                    "sealed": b64(_crypto.seal(message.encode(), team.public_key)),
                    "shared_status": shared,
                },
            )
            db.execute(
                "INSERT INTO replies (id, case_id, mailbox, body) VALUES (?, ?, ?, ?)",
                (event.id, case_id, mailbox_id(reply_pk), sealed),
            )
        return case_id

    def attachment(self, text: str, n: int, out: Path) -> tuple[str, AttachmentInfo]:
        """Decrypt attachment ``n`` (from 1) of a case to ``out``, a new file created 0600.

        This is the one place a report's content leaves the vault in clear, and only because
        a caseworker asked: the export is recorded as a signed ``attachment`` event. The file
        is written chunk by chunk and checked throughout; if anything is wrong it is removed
        and nothing is recorded.
        """
        case_id = self.resolve(text)
        envelope, epoch = dbmod.one(
            self._db, "SELECT envelope, epoch FROM cases WHERE id = ?", (case_id,)
        )
        team = self._team_key(epoch)
        report = open_report(envelope, team.public_key, team.secret_key)
        count = len(report.attachments)
        shown = show_id(case_id)
        if count == 0:
            raise UsageError(f"Case {shown} has no attachments.")
        if not 1 <= n <= count:
            raise UsageError(
                f"Case {shown} has {count} attachment{'s' if count != 1 else ''}:"
                f" choose a number from 1 to {count}."
            )
        attachment = report.attachments[n - 1]
        if not self._holds_blob(self._db, attachment.blob):
            with self._transaction() as db:
                self._want_blob(db, case_id, attachment)  # so that the hint below is true
            raise VaultError(
                f"Attachment {n} of case {shown} is not in this vault:"
                " it was not received from the intake.",
                hint="run vault pull again; if it is still missing, the intake no longer has it",
            )
        out_file = open_new_private_file(out)
        try:
            with out_file, self._transaction() as db:
                rows = (
                    bytes(row[0])
                    for row in db.execute(
                        "SELECT data FROM blob_chunks WHERE blob_id = ? ORDER BY n",
                        (attachment.blob,),
                    )
                )
                try:
                    open_attachment(rows, attachment, out_file.write)
                except IntegrityError:
                    raise IntegrityError(
                        f"Attachment {n} of case {shown} is damaged or has been changed;"
                        " nothing was written."
                    ) from None
                out_file.flush()
                os.fsync(out_file.fileno())
                self._record(db, case_id, "attachment", {"n": n, "blob": attachment.blob})
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        fsync_dir(out.parent)
        info = AttachmentInfo(n, attachment.name, attachment.type, attachment.size, True)
        return case_id, info

    def _change(self, text: str, kind: str, data: dict[str, Any]) -> str:
        case_id = self.resolve(text)
        with self._transaction() as db:
            self._record(db, case_id, kind, data)
        return case_id

    def _record(self, db: dbmod.Connection, case_id: str, kind: str, data: dict[str, Any]) -> Event:
        """Check the action against the case's current state, then append it and update the fold."""
        status, assignee, outcome = dbmod.one(
            db, "SELECT status, assignee, outcome FROM cases WHERE id = ?", (case_id,)
        )
        before = CaseState(case_id, status, assignee, outcome, imported=True)
        event = Event.new(case_id, kind, self.identity, data)
        after = apply(before, event)
        self._append(db, event)
        if after != before:
            db.execute(
                "UPDATE cases SET status = ?, assignee = ?, outcome = ? WHERE id = ?",
                (after.status, after.assignee, after.outcome, case_id),
            )
        return event

    def _add_caseworker(self, db: dbmod.Connection, person: CaseworkerPublic) -> None:
        """Register a new caseworker and log their addition, in ``db``'s transaction."""
        _register(db, person)
        self._log_caseworker_added(db, person.key_id, person.name, person.sign_pk)

    def _log_caseworker_added(
        self, db: dbmod.Connection, key_id: str, name: str, sign_pk: bytes
    ) -> None:
        """The ``caseworker-added`` entry: their key id, committing to their name and key."""
        self._log_key_action(db, "caseworker-added", key_id, member_commitment(name, sign_pk))

    def _log_key_action(
        self, db: dbmod.Connection, action: str, subject: str | None = None, commit: bytes = b""
    ) -> None:
        """Record an action on keys or membership in the access log, in ``db``'s transaction.

        ``action`` is a short kebab-case name (``caseworker-added``, ``team-key-rotated``...);
        ``subject`` a key id, epoch or name it concerns (never report content); ``commit``
        bytes to commit to by hash (e.g. a new public key).
        """
        self._log.add(action, None, subject, commitment(commit) if commit else None)

    # --- the access log ----------------------------------------------------------------

    def audit_export(self, out: Path) -> None:
        """Write the audit bundle of the whole log, this export included, to a new file ``out``.

        The export is recorded in the same transaction that writes the file: if the file
        cannot be written, neither the export nor its log entry happened.
        """
        with self._transaction() as db:
            self._log_key_action(db, "audit-exported")
            self._log.finish()
            data = self._bundle(db)
            try:
                create_private_file(out, data)
            except FileExistsError:
                raise VaultError(f"{out} already exists; choose another name.") from None
            except OSError:
                raise VaultError(f"Could not write {out}.") from None

    def _bundle(self, db: dbmod.Connection) -> bytes:
        people = [
            bundle.Person("caseworker", str(name), caseworker_verifier(self._log.origin, bytes(pk)))
            for name, pk in db.execute("SELECT name, sign_pk FROM caseworkers ORDER BY rowid")
        ]
        people += [
            bundle.Person("auditor", str(name), VerifierKey.parse(str(vkey)))
            for name, vkey in db.execute("SELECT name, vkey FROM auditors ORDER BY rowid")
        ]
        for (vkey,) in db.execute("SELECT vkey FROM witnesses ORDER BY rowid"):
            key = VerifierKey.parse(str(vkey))
            people.append(bundle.Person("witness", key.name, key))
        heads = list(self._log.checkpoints())
        tree = merkle.Tree(self._log.hashes())
        contents = bundle.BundleContents(
            origin=self._log.origin,
            people=people,
            leaves=list(self._log.leaves()),
            checkpoints=[h.note for h in heads],
            proofs=bundle.proofs_between([h.size for h in heads], tree),
        )
        return bundle.encode(contents)

    def add_auditor(self, name: str, vkey_text: str) -> VerifierKey:
        """Register an auditor's public (verification) key. It opens nothing."""
        name = validate_name(name)
        try:
            key = VerifierKey.parse(vkey_text.strip())
        except SignedNoteError:
            raise UsageError(
                "That is not an auditor's public key: expected a verifier key line"
                " (name+hash+key), as vault auditor keygen or transparency-log tools write.",
            ) from None
        if key.key_type != ED25519:
            raise UsageError("An auditor's key must be an Ed25519 signing verifier key.")
        vkey = key.to_vkey()
        with self._transaction() as db:
            if db.execute(
                "SELECT 1 FROM auditors WHERE name = ? OR vkey = ?", (name, vkey)
            ).fetchone():
                raise UsageError(f"There is already an auditor called {name}, or with that key.")
            db.execute(
                "INSERT INTO auditors (name, vkey, added) VALUES (?, ?, ?)", (name, vkey, today())
            )
            self._log_key_action(db, "auditor-added", key.id.hex(), member_commitment(name, vkey))
        return key

    def log_head(self) -> LogHead | None:
        return self._log.head()

    def witness(self) -> tuple[VerifierKey, str, int] | None:
        """The witness this vault uses: its key, its URL, and the size it last cosigned."""
        row = self._db.execute("SELECT vkey, url, size FROM witnesses ORDER BY rowid").fetchone()
        return None if row is None else (VerifierKey.parse(str(row[0])), str(row[1]), int(row[2]))

    def add_witness(self, key: VerifierKey, url: str) -> None:
        vkey = key.to_vkey()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO witnesses (vkey, url, added) VALUES (?, ?, ?)", (vkey, url, today())
            )
            self._log_key_action(db, "witness-added", key.id.hex(), vkey.encode())

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        if not 0 <= old_size <= new_size <= self._log.size():
            raise IntegrityError(
                f"The witness says it has seen {old_size} log entries, but this vault has"
                f" only {self._log.size()}: the log here has been rewound.",
                hint="if you restored an old backup, tell your auditors",
            )
        return self._log.consistency_proof(old_size, new_size)

    def record_cosignature(self, key: VerifierKey, size: int, lines: str) -> int:
        """Keep a witness's valid cosignature on our checkpoint of ``size``; count them."""
        row = self._db.execute("SELECT note FROM checkpoints WHERE size = ?", (size,)).fetchone()
        if row is None:
            raise IntegrityError("The witness cosigned a checkpoint this vault never made.")
        note = parse_note(str(row[0]))
        kept = 0
        with self._transaction() as db:
            for line in lines.splitlines(keepends=True):
                try:
                    signature = parse_note(note.text + "\n" + line).signatures[0]
                except SignedNoteError:
                    continue
                if verify_signature(note, signature, key) and not kept:
                    # one cosignature per witness on a checkpoint: the newest replaces any other
                    db.execute(
                        "DELETE FROM cosignatures WHERE size = ? AND substr(line, 1, ?) = ?",
                        (size, len(signature.name) + 3, f"\u2014 {signature.name} "),
                    )
                    db.execute("INSERT INTO cosignatures (size, line) VALUES (?, ?)", (size, line))
                    kept += 1
            if kept:
                db.execute("UPDATE witnesses SET size = ? WHERE vkey = ?", (size, key.to_vkey()))
        return kept

    # --- checking -----------------------------------------------------------------

    def check_case(self, case_id: str) -> None:
        """Replay a case's signed events and compare with the stored state."""
        events = self._verified_events(self._db, case_id)
        status, assignee, outcome = dbmod.one(
            self._db, "SELECT status, assignee, outcome FROM cases WHERE id = ?", (case_id,)
        )
        if fold(case_id, events) != CaseState(case_id, status, assignee, outcome, imported=True):
            raise IntegrityError(f"Case {show_id(case_id)}'s state does not match its history.")


class _TeamKeysByHeader:
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
            team = self._vault._team_key_for(envelope())  # parses the header: a bad one raises
            self._known[header] = team
        return team


def _register(db: dbmod.Connection, person: CaseworkerPublic) -> None:
    db.execute(
        "INSERT INTO caseworkers (key_id, name, sign_pk, box_pk, added) VALUES (?, ?, ?, ?, ?)",
        (person.key_id, person.name, person.sign_pk, person.box_pk, today()),
    )


def _detail(event: Event) -> str | None:
    data = event.data
    if event.kind == "assigned":
        return f"to {data['to']}"
    if event.kind == "status":
        return f"to {data['to']}"
    if event.kind == "closed":
        return f"outcome {data['outcome']}" if data.get("outcome") else None
    if event.kind == "reply":
        shared = data.get("shared_status")
        return f"status {shared} shared" if shared else None
    if event.kind == "attachment":
        return f"attachment {data.get('n')} written to a file"
    return None


def read_key_file(directory: Path, caseworker: str | None) -> bytes:
    """Find the acting caseworker's key file: named, or the only one there is."""
    db_path, people = _paths(directory)
    if not directory.is_dir() or not db_path.exists():
        raise NoVaultError(f"There is no vault in {directory}.", hint=no_vault_hint(directory))
    check_private_tree(directory)
    names = caseworker_names(directory)
    if caseworker is None:
        if len(names) != 1:
            raise UsageError(
                "This vault has several caseworkers: say which you are.",
                hint="use --as NAME or set VAULT_CASEWORKER",
            )
        caseworker = names[0]
    if caseworker not in names:
        raise UsageError(f"This vault has no caseworker called {caseworker}.")
    data = read_small_file(people / f"{caseworker}.key", "key file")
    public, _ = read_key_file_public(data)
    if public.name != caseworker:
        raise IntegrityError(f"The key file for {caseworker} names someone else.")
    return data


__all__ = [
    "AttachmentInfo",
    "BlobFetcher",
    "CaseSummary",
    "CaseView",
    "ImportResult",
    "PendingBlob",
    "PulledBatch",
    "QueuedReply",
    "Reply",
    "Vault",
    "caseworker_names",
]
