"""Storing what comes in: sealed envelopes from files (``vault import``) or from an intake
(``vault pull``).

Every envelope is opened and checked before anything is written, and each is stored exactly
once. A case's import is recorded by its access-log entry (who, when, which envelope), signed
by the checkpoint that ends the transaction that stored it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from vault import db as dbmod
from vault import professional_index, team_clock, tombstones, triage
from vault.attachments import sealed_length
from vault.blobs import (
    PendingBlob,
    check_held,
    held_length,
    list_attachments,
    mark_wrong,
    named_elsewhere,
    want_blob,
)
from vault.cases import case_id_for
from vault.envelope import (
    HEADER_BYTES,
    envelope_id,
    header_only,
    open_envelope_bytes,
    open_sealed_part,
    parse_header,
    report_inside,
)
from vault.errors import (
    EnvelopeError,
    ForeignEnvelopeError,
    IntegrityError,
    InvalidReportError,
    VaultError,
)
from vault.keys import TeamKeyPair
from vault.professionals import Professional, forget, named_in
from vault.report import Attachment, Report, parse_report
from vault.store import TeamKeysByHeader, today

if TYPE_CHECKING:
    from vault.store import Vault

IMPORT_BATCH = 500
# An envelope checked for import: its bytes, its id, the team key it opened with and the
# triage its report gives (vault/triage.py), the professionals it names (vault/professionals.py)
# and its attachments (listed with the case: vault/blobs.py).
MAX_ID_ATTEMPTS = 8  # next choices of a case id after the first (vault.cases.case_id_for)
_Held = tuple[
    bytes, bytes, TeamKeyPair, triage.Triage, tuple[Professional, ...], tuple[Attachment, ...]
]


def _named(report: Report) -> tuple[Professional, ...]:
    return named_in(report.professional_identifier, report.organisation, report.role, report.sector)


@dataclass(slots=True)
class ImportResult:
    imported: list[str] = field(default_factory=list)
    duplicates: int = 0
    failures: list[tuple[str, VaultError]] = field(default_factory=list)


@dataclass(slots=True)
class PulledBatch:
    """What storing one page from an intake did, and what may now be acknowledged."""

    imported: list[str] = field(default_factory=list)
    duplicates: int = 0
    # (label, reason, error) for each envelope kept in quarantine
    quarantined: list[tuple[str, str, VaultError]] = field(default_factory=list)
    # hex ids of envelopes stored, already stored, or quarantined: all may be acknowledged
    envelopes_held: list[str] = field(default_factory=list)
    # of those quarantined, how many are sealed to a newer team key epoch than this laptop
    # holds yet: kept here and left on the intake (not acknowledged) until the key comes
    waiting_for_key: int = 0
    # blobs those reports name that the vault already holds (acknowledge them too)
    blobs_held: list[str] = field(default_factory=list)
    # blobs those reports name that the vault lacks, newly recorded as pending
    blobs_wanted: list[PendingBlob] = field(default_factory=list)
    # (case id, damage) for each attachment a report names that the vault holds for another
    # case but that is not this report's (another length, or it does not open with its key)
    mismatched: list[tuple[str, VaultError]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Refused:
    """Why a pulled envelope goes to quarantine (one of ``schema.QUARANTINE_REASONS``)."""

    reason: str
    error: VaultError


def import_envelopes(
    vault: Vault, envelopes: Iterable[tuple[str, bytes]], progress: Any = None
) -> ImportResult:
    """Open, check and store envelopes, each exactly once.

    Each envelope is opened and validated before anything is written; a
    damaged or foreign one is reported and skipped. Stored envelopes are
    committed in batches, so a crash loses at most the batch in flight,
    and importing again stores nothing twice.
    """
    try:
        return _import_envelopes(vault, envelopes, progress)
    finally:
        forget()  # what the reports said about people stays no longer in memory


def _import_envelopes(
    vault: Vault, envelopes: Iterable[tuple[str, bytes]], progress: Any
) -> ImportResult:
    result = ImportResult()
    received = today()
    batch: list[_Held] = []
    teams = TeamKeysByHeader(vault)
    for label, envelope in envelopes:
        try:
            team = teams.key_for(envelope)
            report = report_inside(open_sealed_part(envelope, team.public_key, team.secret_key))
        except VaultError as e:
            result.failures.append((label, e))
            continue
        batch.append(
            (
                envelope,
                envelope_id(envelope),
                team,
                triage.triage_of(report),
                _named(report),
                tuple(report.attachments),
            )
        )
        if len(batch) >= IMPORT_BATCH:
            _store_batch(vault, batch, received, result)
            batch = []
            if progress is not None:
                progress(len(result.imported), result.duplicates)
    if batch:
        _store_batch(vault, batch, received, result)
    return result


def _store_batch(
    vault: Vault,
    batch: list[_Held],
    received: str,
    result: ImportResult,
) -> None:
    with vault.transaction() as db:
        fresh = _not_held(db, batch)
        stored = _import_cases(vault, db, fresh, received)
    result.imported.extend(stored)
    result.duplicates += len(batch) - len(stored)


def _not_held(db: dbmod.Connection, batch: list[_Held]) -> list[_Held]:
    """The envelopes of ``batch`` the vault does not hold yet, each once."""
    ids = [item[1] for item in batch]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))  # only placeholders go into the statement
    sql = f"SELECT envelope_id FROM cases WHERE envelope_id IN ({marks})"  # noqa: S608
    held = {bytes(row[0]) for row in db.execute(sql, ids)}
    held |= tombstones.erased_envelopes(db, ids)  # an erased case's envelope is never stored again
    fresh = []
    for item in batch:
        if item[1] not in held:
            held.add(item[1])
            fresh.append(item)
    return fresh


def _import_cases(
    vault: Vault,
    db: dbmod.Connection,
    fresh: list[_Held],
    received: str,
    ids: list[str] | None = None,
) -> list[str]:
    """Store new cases and their "imported" log entries, a statement for each table.

    Each entry is its case's record of its import (who, when, which envelope), signed by
    the checkpoint that ends this transaction: there is no separate event row for it. Each
    case's triage and its entries in the index of professionals (both from its report) are
    stored with it.
    """
    first = vault.log.next_entry()
    case_ids = ids or _case_ids(db, fresh)
    rows = [
        (case_ids[i], env_id, team.epoch, envelope, received, entry)
        for i, (entry, (envelope, env_id, team, *_derived)) in enumerate(enumerate(fresh, first))
    ]
    try:
        with dbmod.savepoint(db, "import_cases"):
            db.executemany(
                "INSERT INTO cases"
                " (id, envelope_id, epoch, envelope, received, import_entry)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            pairs = list(zip(rows, fresh, strict=True))
            triage.store(db, [(row[0], item[3]) for row, item in pairs])
            professional_index.store(vault, db, [(row[0], item[4]) for row, item in pairs])
            for row, item in pairs:
                list_attachments(db, row[0], item[5])
    except dbmod.ConstraintError:
        raise IntegrityError("The vault refused to store a case.") from None
    vault.log.add_many([("imported", row[0], None, row[1].hex()) for row in rows])
    return [row[0] for row in rows]


def _case_ids(db: dbmod.Connection, fresh: list[_Held]) -> list[str]:
    """Each new case's id (:func:`vault.cases.case_id_for`): the same on every laptop of the
    team. An id already taken, by a case held or erased or by one before it in ``fresh``
    (about once in 10,000 among 10,000 cases), moves on to the envelope's next choice."""
    taken: set[str] = set()
    out = []
    for _envelope, env_id, team, *_derived in fresh:
        for attempt in range(1 + MAX_ID_ATTEMPTS):
            case_id = case_id_for(team.secret_key, env_id, attempt)
            if case_id not in taken and not _id_held(db, case_id):
                break
        else:
            raise IntegrityError("The vault could not find a free case id.")
        taken.add(case_id)
        out.append(case_id)
    return out


def _id_held(db: dbmod.Connection, case_id: str) -> bool:
    held = db.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone() is not None
    return held or tombstones.is_erased(db, case_id)


def vouched_by_the_report(
    vault: Vault, cases: list[tuple[str, bytes, str]]
) -> list[tuple[str, bytes, str]]:
    """Of ``(case id, envelope, day received)`` passed on by a laptop no longer trusted (a
    removed caseworker's, :mod:`vault.taking`): those sealed to a team key this vault holds,
    under the id every laptop gives the report (:func:`vault.cases.case_id_for`, any of its
    choices), with a real day no later than today; the day is today where it is not. Such a
    laptop may pass on a report, as anyone may send one, but not choose its id or its day."""
    out = []
    now = today()
    for case_id, envelope, received in cases:
        try:
            team = vault.team_key_for(envelope)
        except VaultError:
            continue  # sealed to a key not held here, or not an envelope
        env_id = envelope_id(envelope)
        ids = {case_id_for(team.secret_key, env_id, a) for a in range(1 + MAX_ID_ATTEMPTS)}
        if case_id not in ids:
            continue
        try:
            real = date.fromisoformat(received).isoformat() == received
        except ValueError:
            real = False
        out.append((case_id, envelope, received if real and received <= now else now))
    return out


def store_relayed(
    vault: Vault, db: dbmod.Connection, cases: list[tuple[str, bytes, str]]
) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Store cases another laptop of the team took in, under the ids it gave them, in
    ``db``'s transaction (:mod:`vault.taking`): ``(case id, envelope, day received)``.

    Each envelope is opened and checked as an import does. Returns the ids stored; the ids
    of cases this vault holds under another id (both laptops took the same report in
    before either synced), which are not stored twice; and (id from the team, id here) of
    each case whose id this vault has given to another report (two reports, one id: a
    40-bit collision), stored under this vault's next choice of id for it
    (:func:`_case_ids`): the team's events for its first id are of the other report, and
    are not taken into this vault's case of that id (:func:`report_tag`).
    """
    teams = TeamKeysByHeader(vault)
    held: list[tuple[str, bool, _Held, str]] = []  # team's id, kept here?, report, day
    clashes: list[str] = []
    for case_id, envelope, received in cases:
        env_id = envelope_id(envelope)
        row = db.execute("SELECT id FROM cases WHERE envelope_id = ?", (env_id,)).fetchone()
        if row is not None:
            if str(row[0]) != case_id:
                clashes.append(case_id)
            continue
        if tombstones.erased_envelopes(db, [env_id]):
            continue
        team = teams.key_for(envelope)
        report = report_inside(open_sealed_part(envelope, team.public_key, team.secret_key))
        derived = (triage.triage_of(report), _named(report), tuple(report.attachments))
        kept = not _id_held(db, case_id)  # or another report's id here
        held.append((case_id, kept, (envelope, env_id, team, *derived), received))
    stored: list[str] = []
    renamed: list[tuple[str, str]] = []
    try:  # one statement a table for each run of cases received the same day, in order
        for (received, kept), run in itertools.groupby(held, key=lambda h: (h[3], h[1])):
            together = list(run)
            ids = [h[0] for h in together] if kept else None
            new = _import_cases(vault, db, [h[2] for h in together], received, ids)
            stored += new
            if not kept:
                renamed += zip([h[0] for h in together], new, strict=True)
    finally:
        forget()
    return stored, clashes, renamed


def report_tag(envelope_id: bytes) -> str:
    """Which report a case id means on the laptop that sent its events: 8 bytes of the case's
    envelope id, in hex (with the 40-bit case id, two reports never share both)."""
    return bytes(envelope_id[:8]).hex()


# --- pulling from an intake ---------------------------------------------------------


def store_pulled(vault: Vault, envelopes: Iterable[tuple[str, bytes]]) -> PulledBatch:
    """Store one page of envelopes from an intake, in **one** transaction.

    Each envelope is opened and validated first, as :meth:`import_envelopes` does. A good
    one is stored as a new case (or counted as a duplicate: already held). One the vault
    cannot open (damaged, sealed to another team's key, or not a valid report inside) is
    kept in quarantine exactly as it arrived, still sealed, so that it too may be
    acknowledged without anything being lost. Every attachment a good report names that
    the vault lacks is recorded as pending; :meth:`store_blob` fetches it afterwards, each
    blob in its own transaction.
    """
    try:
        return _store_pulled(vault, envelopes)
    finally:
        forget()


def reopen_quarantined(vault: Vault) -> PulledBatch:
    """Envelopes kept in quarantine because they were sealed to a team key this vault did not
    hold (``foreign``) that a key it holds now opens (one that reached this laptop since, from
    a colleague's: a report sealed to a new epoch and pulled just before its key came):
    stored as cases, as if pulled now, under the day each was first kept, and taken out of
    quarantine. One that opens but is damaged or not a report inside stays, under its new
    reason. Nothing is acknowledged to the intake: each was acknowledged when first kept.
    """
    # Only each header is read (an index on the reason, and the first bytes): the envelopes
    # still sealed to a key not held here, and the damaged ones, are not read every pull.
    rows = vault.db.execute(
        "SELECT envelope_id, substr(envelope, 1, ?), day FROM quarantine"
        " WHERE reason = 'foreign' ORDER BY day, envelope_id",
        (HEADER_BYTES,),
    ).fetchall()
    by_day: dict[str, list[tuple[str, bytes]]] = {}
    for env_id, head, day in rows:
        header = header_only(bytes(head))
        if header is None:
            continue
        try:
            vault.team_key_for_header(header)
        except ForeignEnvelopeError:
            continue  # still sealed to a key this vault does not hold
        (envelope,) = dbmod.one(
            vault.db, "SELECT envelope FROM quarantine WHERE envelope_id = ?", (env_id,)
        )
        by_day.setdefault(str(day), []).append((bytes(env_id).hex(), bytes(envelope)))
    result = PulledBatch()
    try:
        for day, envelopes in by_day.items():
            batch = _store_pulled(vault, envelopes, received=day)
            still = {label: reason for label, reason, _ in batch.quarantined}
            with vault.transaction() as db:
                for label, _envelope in envelopes:
                    if label in still:
                        db.execute(
                            "UPDATE quarantine SET reason = ? WHERE envelope_id = ?",
                            (still[label], bytes.fromhex(label)),
                        )
                    else:
                        db.execute(
                            "DELETE FROM quarantine WHERE envelope_id = ?", (bytes.fromhex(label),)
                        )
            result.imported += batch.imported
            result.duplicates += batch.duplicates
            result.mismatched += batch.mismatched
            result.blobs_wanted += batch.blobs_wanted
    finally:
        forget()
    return result


def _store_pulled(
    vault: Vault, envelopes: Iterable[tuple[str, bytes]], received: str | None = None
) -> PulledBatch:
    result = PulledBatch()
    checked: list[tuple[bytes, bytes, TeamKeyPair, Report]] = []
    refused: list[tuple[bytes, bytes, str]] = []
    for label, envelope in envelopes:
        opened = _check_pulled(vault, envelope)
        if isinstance(opened, _Refused):
            result.quarantined.append((label, opened.reason, opened.error))
            refused.append((envelope, envelope_id(envelope), opened.reason))
        else:
            checked.append((envelope, envelope_id(envelope), *opened))
    received = received or today()
    held: set[str] = set()
    wanted: list[PendingBlob] = []
    newest = vault.access.current.epoch if team_clock.is_syncing(vault.db) else None
    with vault.transaction() as db:
        for envelope, env_id, reason in refused:
            db.execute(
                "INSERT INTO quarantine (envelope_id, envelope, day, reason)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (envelope_id) DO NOTHING",
                (env_id, envelope, received, reason),
            )
            if reason == "foreign" and newest is not None and parse_header(envelope).epoch > newest:
                # Sealed to a team key epoch a colleague's laptop has started and this one has
                # not received yet (the intake takes reports sealed to the team's current key
                # alone): left on the intake, with its attachments, for a pull after the key
                # comes here (or a colleague's), and kept here meanwhile.
                result.waiting_for_key += 1
                continue
            result.envelopes_held.append(env_id.hex())
        fresh = _not_held(
            db,
            [
                (env, e, team, triage.triage_of(report), _named(report), tuple(report.attachments))
                for env, e, team, report in checked
            ],
        )
        stored = _import_cases(vault, db, fresh, received)
        new = dict(zip([item[1] for item in fresh], stored, strict=True))
        result.imported = stored
        result.duplicates = len(checked) - len(new)
        for _envelope, env_id, _team, report in checked:
            result.envelopes_held.append(env_id.hex())
            row = db.execute("SELECT id FROM cases WHERE envelope_id = ?", (env_id,)).fetchone()
            if env_id not in new and row is None:  # its case was erased: the intake may
                held.update(  # delete its attachments, unstored, unless another case wants one
                    a.blob
                    for a in report.attachments
                    if held_length(db, a.blob) is not None or not named_elsewhere(db, a.blob, "")
                )
                continue
            case_id = new.get(env_id) or str(row[0])
            for n, attachment in enumerate(report.attachments, 1):
                blob, length = attachment.blob, sealed_length(attachment.size)
                if held_length(db, blob) is not None:
                    problem = check_held(db, attachment, f"Attachment {n}", case_id)
                    if problem is None:
                        held.add(blob)
                    else:
                        mark_wrong(db, case_id, blob)
                        if env_id in new:  # said once, when the case is stored
                            result.mismatched.append((case_id, problem))
                elif want_blob(db, case_id, attachment):
                    wanted.append(PendingBlob(blob, case_id, length, n, attachment))
    result.blobs_held = sorted(held)
    result.blobs_wanted = wanted
    return result


def _check_pulled(vault: Vault, envelope: bytes) -> tuple[TeamKeyPair, Report] | _Refused:
    """``(team key, report)``, or why the envelope must be kept in quarantine."""
    try:
        team = vault.team_key_for(envelope)
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


def quarantine_count(vault: Vault) -> int:
    """How many pulled envelopes are kept, sealed, because this vault could not open them."""
    return int(vault.db.execute("SELECT count(*) FROM quarantine").fetchone()[0])
