"""``vault check``: verify a whole vault and name everything that is damaged.

Checks, in turn: SQLCipher's page authentication and SQLite's integrity check; that every
caseworker row's key id matches its key; every report envelope opens with its epoch's team
key and holds a valid report, whose sector, harms and wants are those kept beside the case
(vault/triage.py), and whose professionals are those the index keeps for it
(vault/professional_index.py); every case event's signature, and that the stored state of
each case is the fold of its events; every stored attachment against its id (the hash list
of docs/format.md, or the SHA-256 of all the sealed bytes for a blob sealed before it); the
signature of every access file in the vault folder; the access log, as ``vault audit verify``
checks a bundle; that each erased case's tombstone has its ``erased`` log entry and nothing
else of it is left (vault/erasure.py); and that the log still holds the newest checkpoint it
committed (the copy in ``log-checkpoint``, vault/auditlog.py).

A page of the database file that a checkpoint could not finish writing for lack of disk
space is not damage (see :func:`vault.db.integrity_problems`).
Nothing is decrypted to disk and nothing is changed.
"""

from __future__ import annotations

from pathlib import Path

from vault import (
    _crypto,
    alert_index,
    auditing,
    case_view,
    erasure,
    professional_index,
    team_logs,
    triage,
)
from vault import db as dbmod
from vault.attachments import BlobHasher
from vault.audit.verify import BundleError, verify_log
from vault.auditlog import check_head_copy
from vault.cases import show_id
from vault.envelope import open_report
from vault.errors import VaultError
from vault.keychange import (
    CASEWORKERS_DIR,
    RECOVERY_ACCESS,
    access_writer,
    current_signers,
    read_recovery_public,
)
from vault.keys import ACCESS_SIGNATURE_CONTEXT, caseworker_key_id
from vault.professionals import forget, named_in
from vault.report import Report
from vault.store import Vault

MAX_PROBLEMS = 50


def check_vault(vault: Vault) -> list[str]:
    """Every problem found, one plain sentence each; an empty list means the vault is sound."""
    db = vault.db
    problems: list[str] = []
    try:
        problems += [f"the database: {p}" for p in dbmod.integrity_problems(db)]
    except dbmod.DatabaseError:
        return ["the database is damaged and cannot be checked page by page"]
    try:
        # The copy of the newest checkpoint is read before the database: another command
        # committing meanwhile can only leave the copy behind the log, never ahead of it.
        copy = check_head_copy(vault.db, vault.directory, vault.log.origin)
        if copy is not None:
            problems.append(copy[0].lower() + copy[1:])
        # Everything else is read from one state of the database, whatever commits meanwhile.
        with dbmod.snapshot(db):
            problems += _caseworkers(db)
            problems += _cases(vault)
            problems += erasure.check_tombstones(vault)
            problems += _blobs(db)
            problems += alert_index.check(vault)
            problems += _access_files(vault.directory, db)
            problems += _access_log(vault)
    except dbmod.DatabaseError:
        problems.append("the database is damaged: some of it cannot be read")
    return problems


def _caseworkers(db: dbmod.Connection) -> list[str]:
    return [
        f"caseworker {name}'s key in the database has been changed"
        for key_id, name, sign_pk in db.execute("SELECT key_id, name, sign_pk FROM caseworkers")
        if caseworker_key_id(bytes(sign_pk)) != key_id
    ]


def _cases(vault: Vault) -> list[str]:
    problems = []
    rows = vault.db.execute("SELECT id, epoch, envelope FROM cases ORDER BY rowid").fetchall()
    kept = {r.id: r for r in triage.rows(vault)}
    indexed = _indexed(vault.db)
    index_key: _crypto.SecretBytes | None = None
    if indexed:
        try:
            index_key = professional_index.secret(vault, make=False)
        except VaultError:
            problems.append("the index of professionals: its key is missing or damaged")
    for case_id, epoch, envelope in rows:
        shown = show_id(case_id)
        team = vault.access.team_key(int(epoch))
        if team is None:
            problems.append(f"case {shown}: its team key (epoch {epoch}) is missing")
        else:
            try:
                report = open_report(bytes(envelope), team.public_key, team.secret_key)
            except VaultError:
                problems.append(f"case {shown}: the report is damaged or has been changed")
            else:
                problems += _triage(shown, report, kept.get(case_id))
                problems += _index(shown, report, indexed.get(case_id), index_key)
        try:
            case_view.check_case(vault, case_id)
        except VaultError:
            problems.append(f"case {shown}: its history is damaged or has been changed")
        if len(problems) >= MAX_PROBLEMS:
            break
    return problems


def _triage(shown: str, report: Report, kept: triage.TriageRow | None) -> list[str]:
    """The triage kept beside a case must be its report's (vault/triage.py)."""
    if kept is None or kept.sector is None:
        return []  # not filled yet (the next unlock fills it), or unreadable when it was
    want = triage.triage_of(report)
    have = triage.Triage(kept.sector, kept.harms, kept.wants, kept.alert, kept.research)
    if have != want:
        return [f"case {shown}: its sector, harms or wants do not match its report"]
    return []


_Indexed = tuple[bool, set[tuple[str, str, bytes]]]


def _indexed(db: dbmod.Connection) -> dict[str, _Indexed]:
    """Each indexed case: whether its report opened then, and its rows in the index."""
    found: dict[str, _Indexed] = {
        str(c): (bool(r), set())
        for c, r in db.execute("SELECT case_id, readable FROM professionals_indexed")
    }
    for c, kind, strength, key in db.execute(
        "SELECT case_id, kind, strength, key FROM professionals_named"
    ):
        found[str(c)][1].add((str(kind), str(strength), bytes(key)))
    return found


def _index(
    shown: str, report: Report, kept: _Indexed | None, index_key: _crypto.SecretBytes | None
) -> list[str]:
    """The index of professionals kept for a case must be its report's."""
    if kept is None or not kept[0] or index_key is None:
        return []  # not indexed yet (the next unlock does it), or unreadable when it was
    try:
        named = named_in(
            report.professional_identifier, report.organisation, report.role, report.sector
        )
        want = {(n.kind, n.strength, n.key) for n, _p in professional_index.keyed(index_key, named)}
    finally:
        forget()
    if kept[1] != want:
        return [f"case {shown}: the professionals indexed for it do not match its report"]
    return []


def _access_log(vault: Vault) -> list[str]:
    """The access log checked as an auditor would (vault/audit/verify.py), and its stored tree."""
    try:
        verify_log(auditing.own_log(vault, vault.db))
        head = auditing.log_head(vault)
        if head is not None and vault.log.root_at(head.size) != vault.log.frontier_root():
            return ["the access log: its stored tree does not match its entries"]
    except BundleError as e:
        return [f"the access log: {e}"]
    return team_logs.check_held(vault)


def _blobs(db: dbmod.Connection) -> list[str]:
    problems = []
    for blob_id, length in db.execute("SELECT id, length FROM blobs ORDER BY id").fetchall():
        hasher = BlobHasher(whole=True)  # an id of either kind (docs/format.md)
        total = 0
        for (data,) in db.execute(
            "SELECT data FROM blob_chunks WHERE blob_id = ? ORDER BY n", (blob_id,)
        ):
            hasher.update(data)
            total += len(data)
        if total != length or not hasher.names(blob_id):
            problems.append(f"attachment {blob_id[:12]}: damaged or changed")
    return problems


def _access_files(directory: Path, db: dbmod.Connection) -> list[str]:
    """Access files cannot be opened but their owner's; their signatures can be checked."""
    problems = []
    signers = current_signers(db)
    boxes = {
        str(n): bytes(pk)
        for n, pk in db.execute("SELECT name, box_pk FROM caseworkers WHERE revoked IS NULL")
    }
    people = directory / CASEWORKERS_DIR
    # Caseworkers on their own laptops (docs/sync.md) have no key or access file here.
    elsewhere = {
        str(n)
        for (n,) in db.execute(
            "SELECT c.name FROM caseworkers c JOIN sync_origins o ON o.key_id = c.key_id"
        )
    }
    for name, box_pk in sorted(boxes.items()):
        path = people / f"{name}.access"
        if name in elsewhere and not (people / f"{name}.key").exists():
            continue
        if not path.exists():
            problems.append(f"caseworker {name}'s access file is missing")
            continue
        data = path.read_bytes()
        try:
            if access_writer(data) not in signers:
                raise _crypto.OpenFailed()
            _crypto.verify(data[32:96], ACCESS_SIGNATURE_CONTEXT + box_pk + data[96:], data[:32])
        except _crypto.OpenFailed:
            problems.append(f"caseworker {name}'s access file is damaged or was replaced")
    try:
        recovery = read_recovery_public(directory, db)
    except VaultError:
        problems.append("the recovery key file is damaged or was replaced")
        recovery = None
    if recovery is not None:
        path = directory / RECOVERY_ACCESS
        data = path.read_bytes() if path.exists() else b""
        box_pk = recovery.public.box_pk
        try:
            if access_writer(data) not in signers:
                raise _crypto.OpenFailed()
            _crypto.verify(data[32:96], ACCESS_SIGNATURE_CONTEXT + box_pk + data[96:], data[:32])
        except _crypto.OpenFailed:
            problems.append("the recovery access file is damaged, missing or was replaced")
    return problems
