"""`vault audit export`: the audit bundle written out (``docs/audit.md``).

On a laptop alone, its own log (``redress-audit-bundle/2``, :mod:`vault.auditing`); in a team
of laptops, every laptop's log and the team's chain (``/3``, :mod:`vault.team_logs`).
"""

from __future__ import annotations

from pathlib import Path

from vault import db as dbmod
from vault import team_logs
from vault.audit import bundle
from vault.auditing import own_log
from vault.files import write_new_file
from vault.store import Vault


def write(vault: Vault, out: Path) -> None:
    """Write the audit bundle of the whole log, this export included, to a new file ``out``.

    The export is recorded in the same transaction that writes the file: if the file
    cannot be written, neither the export nor its log entry happened.
    """
    with vault.transaction() as db:
        vault.log_action(db, "audit-exported")
        vault.log.finish()
        write_new_file(out, encode(vault, db))


def encode(vault: Vault, db: dbmod.Connection) -> bytes:
    """The audit bundle as it stands in ``db``."""
    own = own_log(vault, db)
    if team_logs.is_team(db):
        return team_logs.encode_team_bundle(own, db)
    return bundle.encode(own)
