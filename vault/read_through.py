"""Every report opened in turn, in memory only: for counting and, later, for reading across
cases. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import TYPE_CHECKING

from vault import db as dbmod
from vault.cases import show_id
from vault.envelope import open_envelope_bytes, open_sealed
from vault.errors import IntegrityError, InvalidReportError, VaultError
from vault.report import Report, parse_report
from vault.store import DB_FILE, TeamKeysByHeader

if TYPE_CHECKING:
    from vault.store import Vault


def iter_report_json(vault: Vault) -> Iterator[tuple[str, bytes]]:
    """Every report decrypted to its canonical JSON, in turn. Nothing is written.

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
                    team = teams.key_for_parts(header, sealed)
                except VaultError:
                    team = vault.team_key(epoch)  # names a missing epoch; else opening fails
                    whole = header + sealed
                    yield case_id, open_envelope_bytes(whole, team.public_key, team.secret_key)
                    continue
                if team.epoch != epoch:
                    raise IntegrityError(
                        f"Case {show_id(case_id)}'s report is not sealed as stored."
                    )
                yield case_id, open_sealed(sealed, team.public_key, team.secret_key)


def iter_reports(vault: Vault) -> Iterator[tuple[str, Report]]:
    """Every report, decrypted and validated in turn (for counting trends)."""
    for case_id, data in iter_report_json(vault):
        try:
            yield case_id, parse_report(data)
        except InvalidReportError:
            raise IntegrityError(f"Case {show_id(case_id)}'s report is not valid.") from None
