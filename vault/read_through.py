"""Every report opened in turn, in memory only: for counting and for reading across cases
(search, the triage fill). Nothing is written but the access-log entry that says which cases
were read (:func:`record_reads`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any, Literal

from vault import db as dbmod
from vault import schema
from vault.audit.entries import READ_LIST_HEADER
from vault.auditlog import commitment
from vault.cases import show_id
from vault.envelope import (
    HEADER_BYTES,
    MAX_ENVELOPE,
    MIN_ENVELOPE,
    open_envelope_bytes,
    open_sealed,
)
from vault.errors import IntegrityError, InvalidReportError, VaultError
from vault.report import Report, parse_report
from vault.store import DB_FILE, TeamKeysByHeader

if TYPE_CHECKING:
    from vault.keys import TeamKeyPair
    from vault.store import Vault

# The rows a read-through opens: the header (HEADER_BYTES, 20) and the sealed part, cut apart
# on the reading thread (substr of an empty blob is NULL: coalesce keeps them bytes). The
# triage row is joined so that a read across cases can be filtered as a listing is.
_ROWS = (
    "SELECT c.id, coalesce(substr(c.envelope, 1, 20), x''),"
    " coalesce(substr(c.envelope, 21), x''), c.epoch FROM cases AS c"
)
_WITH_TRIAGE = " LEFT JOIN case_triage AS t ON t.case_id = c.id"

ReadState = Literal["read", "match", "damaged"]


def iter_report_json(vault: Vault) -> Iterator[tuple[str, bytes]]:
    """Every report decrypted to its canonical JSON, in turn. Nothing is written.

    Each was validated when it was imported; use :meth:`iter_reports` for models. The
    rows are read ahead on a second thread, over a read-only connection of its own, while
    this one opens them: reading a row (SQLCipher decrypting and authenticating its share
    of a page) costs about a seventh of opening its envelope. The envelopes are opened on
    that thread too, and on the caller's when that thread is ahead (libsodium runs without
    the GIL; :func:`vault.db.read_ahead` shares the opening), so reading, opening and the
    caller's work on what was opened overlap (docs/benchmarks.md). A report that does not
    open raises when the caller reaches it.
    """
    for case_id, data in _open_rows(vault, "", (), strict=True):
        assert data is not None
        yield case_id, data


def open_each(
    vault: Vault, where: str = "", params: Sequence[Any] = ()
) -> Iterator[tuple[str, bytes | None]]:
    """The report of each case, as canonical JSON, in turn; ``None`` for one whose envelope
    does not open (damaged, or sealed as it was not stored). Nothing is written.

    ``where`` is a condition on ``cases AS c`` and ``case_triage AS t`` (a
    :class:`vault.triage.CaseFilter`'s), with ``params``; the rows come in no set order.
    """
    if not where:
        return _open_rows(vault, "", params, strict=False)
    joined = _WITH_TRIAGE if "t." in where else ""  # the triage join only when filtered on it
    return _open_rows(vault, f"{joined} WHERE {where}", params, strict=False)


def _open_rows(
    vault: Vault, where: str, params: Sequence[Any], *, strict: bool
) -> Iterator[tuple[str, bytes | None]]:
    vault.db.execute("SELECT 1")  # a closed vault reads nothing, as before
    path, key = vault.directory / DB_FILE, vault.access.db_key

    def connect() -> dbmod.Connection:
        db = schema.connect(path, key)
        db.execute("PRAGMA query_only = ON")
        return db

    teams = TeamKeysByHeader(vault)
    # The team key of each header already checked (one or two in a vault): most rows open with
    # one dict look-up, the rest take the checks of _open_row.
    known: dict[bytes, TeamKeyPair] = {}
    smallest, largest = MIN_ENVELOPE - HEADER_BYTES, MAX_ENVELOPE - HEADER_BYTES

    def open_chunk(rows: list[Any]) -> list[tuple[str, bytes | VaultError]]:
        """On either thread (db.read_ahead): each envelope opened, or why it did not open."""
        opened: list[tuple[str, bytes | VaultError]] = []
        for case_id, header, sealed, epoch in rows:
            try:
                team = known.get(header)
                if team is not None and team.epoch == epoch and smallest <= len(sealed) <= largest:
                    data = open_sealed(sealed, team.public_key, team.secret_key)
                else:
                    data = _open_row(vault, teams, case_id, header, sealed, epoch)
                    _keep(known, teams, header, sealed, epoch)
                opened.append((case_id, data))
            except VaultError as e:
                opened.append((case_id, e))
        return opened

    chunks = dbmod.read_ahead(connect, _ROWS + where, params, transform=open_chunk)
    with closing(chunks):
        for rows in chunks:
            for case_id, data in rows:
                if isinstance(data, VaultError):
                    if strict:
                        raise data
                    yield case_id, None
                else:
                    yield case_id, data


def _keep(
    known: dict[bytes, TeamKeyPair],
    teams: TeamKeysByHeader,
    header: bytes,
    sealed: bytes,
    epoch: int,
) -> None:
    """After a row opened by :func:`_open_row`: keep its header's key if that is how it opened."""
    try:
        team = teams.key_for_parts(header, sealed)
    except VaultError:
        return  # opened by its epoch's key, header unchecked: every such row is checked again
    if team.epoch == epoch:
        known[header] = team


def _open_row(
    vault: Vault, teams: TeamKeysByHeader, case_id: str, header: bytes, sealed: bytes, epoch: int
) -> bytes:
    try:
        team = teams.key_for_parts(header, sealed)
    except VaultError:
        team = vault.team_key(epoch)  # names a missing epoch; else opening fails
        return open_envelope_bytes(header + sealed, team.public_key, team.secret_key)
    if team.epoch != epoch:
        raise IntegrityError(f"Case {show_id(case_id)}'s report is not sealed as stored.")
    return open_sealed(sealed, team.public_key, team.secret_key)


def iter_reports(vault: Vault) -> Iterator[tuple[str, Report]]:
    """Every report, decrypted and validated in turn (for counting trends)."""
    for case_id, data in iter_report_json(vault):
        try:
            yield case_id, parse_report(data)
        except InvalidReportError:
            raise IntegrityError(f"Case {show_id(case_id)}'s report is not valid.") from None


def read_list(states: Mapping[str, ReadState]) -> str:
    """The list of cases a read across cases opened, as its access-log entry commits to it:
    ``redress cases read v1``, then one line per case in id order, ``ID STATE`` with STATE
    ``read``, ``match`` (it matched a search) or ``damaged`` (its envelope did not open)."""
    return READ_LIST_HEADER + "".join(f"{c} {states[c]}\n" for c in sorted(states))


def record_reads(
    vault: Vault, db: dbmod.Connection, action: str, states: Mapping[str, ReadState]
) -> None:
    """Log one read across cases as ONE access-log entry, in ``db``'s transaction.

    The entry is a vault action (``cases-searched``, ``triage-filled``; docs/audit.md
    section 8) whose detail is the number of cases read and whose commitment is the SHA-256
    of :func:`read_list`; that list is kept in ``case_reads`` beside the entry. Never what was
    searched for. Nothing is logged when no case was read.
    """
    if not states:
        return
    text = read_list(states)
    seq = vault.log.next_entry()
    vault.log.add(action, None, str(len(states)), commitment(text.encode("ascii")))
    db.execute("INSERT INTO case_reads (entry, cases) VALUES (?, ?)", (seq, text))
