"""Every report opened in turn, in memory only: for counting and for reading across cases
(``vault patterns``, ``vault stats``). Nothing is written but the access-log entry that
records such a read (:func:`record_read`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import TYPE_CHECKING

from vault import db as dbmod
from vault.audit.leaves import cases_read_commitment
from vault.cases import show_id
from vault.envelope import open_envelope_bytes, open_sealed
from vault.errors import IntegrityError, InvalidReportError, VaultError
from vault.report import Report, parse_report
from vault.store import DB_FILE, TeamKeysByHeader

if TYPE_CHECKING:
    from vault.store import Vault


def iter_report_json(
    vault: Vault, *, damaged: list[str] | None = None
) -> Iterator[tuple[str, bytes]]:
    """Every report decrypted to its canonical JSON, in turn. Nothing is written.

    A report whose envelope does not open raises :class:`IntegrityError`; or, if ``damaged``
    is given, its case id is added to that list and the read goes on (a command reading
    across cases counts and names it: never dropped in silence).

    Each was validated when it was imported; use :meth:`iter_reports` for models. The
    rows are read ahead on a second thread, over a read-only connection of its own, while
    this one opens them: reading a row (SQLCipher decrypting and authenticating its share
    of a page) costs about a seventh of opening its envelope, and overlapping the two
    keeps a read-through near the bare rate of opening (docs/benchmarks.md).
    """
    vault.db.execute("SELECT 1")  # a closed vault reads nothing, as before
    path, key = vault.directory / DB_FILE, vault.access.db_key

    def connect() -> dbmod.Connection:
        db = dbmod.connect(path, key)
        db.execute("PRAGMA query_only = ON")
        return db

    teams = TeamKeysByHeader(vault)
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
                    try:
                        team = teams.key_for_parts(header, sealed)
                    except VaultError:
                        team = vault.team_key(epoch)  # names a missing epoch; else opening fails
                        whole = header + sealed
                        data = open_envelope_bytes(whole, team.public_key, team.secret_key)
                    else:
                        if team.epoch != epoch:
                            raise IntegrityError(
                                f"Case {show_id(case_id)}'s report is not sealed as stored."
                            )
                        data = open_sealed(sealed, team.public_key, team.secret_key)
                except IntegrityError:
                    if damaged is None:
                        raise
                    damaged.append(case_id)
                    continue
                yield case_id, data


def iter_reports(vault: Vault) -> Iterator[tuple[str, Report]]:
    """Every report, decrypted and validated in turn (for counting trends)."""
    for case_id, data in iter_report_json(vault):
        try:
            yield case_id, parse_report(data)
        except InvalidReportError:
            raise IntegrityError(f"Case {show_id(case_id)}'s report is not valid.") from None


def record_read(vault: Vault, db: dbmod.Connection, action: str, case_ids: list[str]) -> None:
    """The one access-log entry for a read across cases, in ``db``'s transaction: how many
    cases were read, committing to which (docs/audit.md, section 8). Never what was looked
    for or found."""
    vault.log_action(db, action, str(len(case_ids)), cases_read_commitment(case_ids))
