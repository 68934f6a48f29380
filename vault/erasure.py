"""Erasing a case: everything it holds goes; a tombstone and its access-log entries stay.

Erasing (``vault cases erase ID --reason R``, or ``vault retention apply``) removes, in ONE
transaction, the case's sealed report (the envelope), its signed events (notes, replies,
assignments, status changes: the team-sealed text of notes and replies is in them), its
queued replies, its attachments (every chunk), and everything derived from its report: its
triage row (vault/triage.py), its rows in the index of professionals
(vault/professional_index.py), and whatever other modules keep per case, through
:func:`register_eraser`. A killed erase leaves the case whole or erased, never half.

What stays:

* a :class:`Tombstone` (``erased_cases``): the id, the days it was received, closed and
  erased, its status and outcome then, and the reason given (a few plain words, kebab-cased);
  the envelope id stays with it, so the same envelope pulled or imported again is recognised
  as already held and never stored afresh;
* its access-log entries, and a new ``erased`` entry whose detail says why in one word of
  :data:`vault.audit.terms.ERASURE_REASONS`. Log entries hold ids, actions and hashes, never
  content, so ``vault audit verify`` verifies the whole log as before.

The ``events`` table is append-only, by trigger, and each event is signed: no event is ever
changed. Erasure deletes a case's events whole, which the trigger allows only for a case that
has a tombstone (``vault/db.py``, ``_erasure_and_retention``); every other case's events stay
append-only, and replaying them (``vault check``) is untouched, since a case's history never
refers to another case.

``secure_delete`` is on for every connection (vault/db.py), so SQLite overwrites the deleted
bytes in the pages that held them; after the transaction commits, :func:`erase_case`
checkpoints the WAL into the database file and truncates it
(:func:`vault.db.checkpoint_and_truncate`), so neither file holds the old pages. Backups made
before the erasure still hold the case (keys/README.md).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault import db as dbmod
from vault.audit.case_actions import action
from vault.audit.leaves import LeafError, parse_leaf
from vault.blobs import check_pending_claims, drop_wrong_claims, list_unlisted, named_elsewhere
from vault.cases import show_id
from vault.envelope import open_report
from vault.errors import CaseErasedError, CaseNotFoundError, UsageError, VaultError
from vault.tombstones import Tombstone, all_erased, erased_error, tombstone

if TYPE_CHECKING:
    from vault.store import Vault

Eraser = Callable[["Vault", str], None]

ERASERS: list[tuple[int, Eraser]] = []
"""What each erase calls, in order, inside its transaction, before the case's own rows go:
a module that keeps rows per case (alerts, messages from reporters...) registers a function
that deletes that case's rows with :func:`register_eraser` when it is imported."""


def register_eraser(order: int, eraser: Eraser) -> None:
    """Have every erase call ``eraser(vault, case_id)`` inside its transaction.

    ``eraser`` deletes, with ``vault.db``, every row its module keeps for the case (it runs
    before the ``cases`` row goes, so rows referencing it can go first). It must not commit,
    open a transaction or write files; raising undoes the whole erase. Erasers run in
    ``order`` (lowest first); registering the same function twice has no further effect.
    """
    if any(fn is eraser for _, fn in ERASERS):
        return
    ERASERS.append((order, eraser))
    ERASERS.sort(key=lambda entry: entry[0])


Notice = Callable[["Vault", str, str], None]

NOTICES: list[Notice] = []
"""What each erase calls first, inside its transaction, while the case is still whole, with
the reason: e.g. queueing a last word to the reporter (vault/reporter_messages.py)."""


def register_notice(notice: Notice) -> None:
    """Have every erase call ``notice(vault, case_id, reason)`` before anything is deleted;
    the same rules as an eraser's. Registering the same function twice has no further
    effect."""
    if not any(fn is notice for fn in NOTICES):
        NOTICES.append(notice)


_REASON = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def check_reason(text: str) -> str:
    """A reason as the tombstone keeps it: a few plain words, lower case, joined by dashes.

    ``"Reporter asked"`` becomes ``reporter-asked``. Anything else (punctuation, an address,
    a phone number) is refused: a reason must never carry report content.
    """
    words = "-".join(text.strip().lower().split())
    if not _REASON.fullmatch(words):
        raise UsageError(
            "A reason is a few plain words (letters, digits, spaces or dashes, up to 64).",
            hint="e.g. --reason withdrawn, retention, requested, duplicate or mistake;"
            " never names or report content",
        )
    return words


def tombstones(vault: Vault) -> list[Tombstone]:
    """Every erased case's tombstone, most recently erased first."""
    return all_erased(vault.db)


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erase did: the tombstones left, and whether the WAL could be emptied at once."""

    tombstones: list[Tombstone]
    wal_emptied: bool


def erase_case(vault: Vault, text: str, reason: str) -> Erasure:
    """Erase one case (typed id), leaving its tombstone; see the module docstring.

    A case already erased is refused (:class:`CaseErasedError`, saying when).
    """
    reason = check_reason(reason)
    try:
        case_id = vault.resolve(text)
    except CaseErasedError as e:
        gone = e.tombstone
        assert isinstance(gone, Tombstone)
        raise CaseErasedError(
            f"Case {show_id(gone.id)} was already erased, on {gone.erased}.", tombstone=gone
        ) from None
    return erase_cases(vault, [case_id], reason)


ERASE_BATCH = 100
"""Cases erased per transaction by :func:`erase_cases` (each transaction ends with a signed
checkpoint, so one per case would make erasing thousands slow)."""


def erase_cases(vault: Vault, case_ids: Iterable[str], reason: str) -> Erasure:
    """Erase each case (full ids), up to :data:`ERASE_BATCH` to a transaction, then empty the
    WAL once. Killed part-way, each case is whole or erased; a later run erases the rest."""
    reason = check_reason(reason)
    ids = list(case_ids)
    done: list[Tombstone] = []
    try:
        for start in range(0, len(ids), ERASE_BATCH):
            with vault.transaction() as db:
                batch = [_erase(vault, db, c, reason) for c in ids[start : start + ERASE_BATCH]]
            done += batch
    finally:
        emptied = dbmod.checkpoint_and_truncate(vault.db) if done else True
    return Erasure(done, emptied)


def erase_for_team(vault: Vault, db: dbmod.Connection, gone: Tombstone, envelope_id: bytes) -> bool:
    """An erasure made on another laptop of the team (vault/taking.py), carried out here in
    ``db``'s transaction: the case held here is erased as :func:`erase_cases` would (its
    reporter is not sent a second farewell: the erasing laptop sent one), or, if this laptop
    never held it, its tombstone is kept, so the report is never stored here afterwards.
    False when it was already erased here. The report is found by its envelope id, never by
    the case id alone: two reports given one id (docs/sync.md, section 4) may each be held here
    under another; if the id names another report here, no tombstone can be kept under it, and
    none is (False)."""
    held = db.execute("SELECT id FROM cases WHERE envelope_id = ?", (envelope_id,)).fetchone()
    if held is not None:
        _erase(vault, db, str(held[0]), check_reason(gone.reason), notify=False)
        return True
    known = db.execute("SELECT 1 FROM erased_cases WHERE envelope_id = ?", (envelope_id,))
    if known.fetchone() is not None or tombstone(db, gone.id) is not None:
        return False
    if db.execute("SELECT 1 FROM cases WHERE id = ?", (gone.id,)).fetchone() is not None:
        return False  # the id is another report's here
    detail, _commit = action("erased").entry({"reason": gone.reason}, lambda _name: None)
    entry = vault.log.add("erased", gone.id, detail, None)
    db.execute(
        "INSERT INTO erased_cases"
        " (id, envelope_id, received, closed, erased, status, outcome, reason, entry)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            gone.id,
            envelope_id,
            gone.received,
            gone.closed,
            gone.erased,
            gone.status,
            gone.outcome,
            check_reason(gone.reason),
            entry,
        ),
    )
    return True


def _erase(
    vault: Vault, db: dbmod.Connection, case_id: str, reason: str, *, notify: bool = True
) -> Tombstone:
    row = db.execute(
        "SELECT envelope_id, epoch, envelope, received, status, outcome FROM cases WHERE id = ?",
        (case_id,),
    ).fetchone()
    if row is None:  # erased (or never here) since it was resolved
        gone = tombstone(db, case_id)
        if gone is not None:
            raise erased_error(gone)
        raise CaseNotFoundError(f"There is no case {show_id(case_id)} in this vault.")
    envelope_id, epoch, envelope, received, status, outcome = row
    blobs = _attachment_blobs(vault, db, case_id, int(epoch), bytes(envelope))
    closed = _closed_day(db, case_id) if status == "closed" else None
    detail, _commit = action("erased").entry({"reason": reason}, lambda _name: None)
    entry = vault.log.add("erased", case_id, detail, None)
    db.execute(
        "INSERT INTO erased_cases"
        " (id, envelope_id, received, closed, erased, status, outcome, reason, entry)"
        " VALUES (?, ?, ?, ?, date('now'), ?, ?, ?, ?)",
        (case_id, bytes(envelope_id), received, closed, status, outcome, reason, entry),
    )
    for notice in NOTICES if notify else ():
        notice(vault, case_id, reason)
    for _order, eraser in ERASERS:
        eraser(vault, case_id)
    _delete_case_rows(db, case_id, blobs)
    gone = tombstone(db, case_id)
    assert gone is not None
    return gone


def _delete_case_rows(db: dbmod.Connection, case_id: str, blobs: set[str]) -> None:
    """The case's own rows, children first (foreign keys are checked at each statement)."""
    db.execute("DELETE FROM replies WHERE case_id = ?", (case_id,))
    db.execute("DELETE FROM events WHERE case_id = ?", (case_id,))
    db.execute("DELETE FROM pending_blobs WHERE case_id = ?", (case_id,))
    db.execute("DELETE FROM case_blobs WHERE case_id = ?", (case_id,))
    db.execute("DELETE FROM case_blobs_listed WHERE case_id = ?", (case_id,))
    for blob in sorted(blobs):
        db.execute("DELETE FROM blob_chunks WHERE blob_id = ?", (blob,))
        db.execute("DELETE FROM blobs WHERE id = ?", (blob,))
    db.execute("DELETE FROM case_triage WHERE case_id = ?", (case_id,))
    db.execute("DELETE FROM professionals_named WHERE case_id = ?", (case_id,))
    db.execute("DELETE FROM professionals_indexed WHERE case_id = ?", (case_id,))
    db.execute("DELETE FROM cases WHERE id = ?", (case_id,))


def _closed_day(db: dbmod.Connection, case_id: str) -> str | None:
    row = db.execute(
        "SELECT body FROM events WHERE case_id = ? AND kind = 'closed' ORDER BY seq DESC LIMIT 1",
        (case_id,),
    ).fetchone()
    if row is None:
        return None
    try:
        return str(json.loads(bytes(row[0]))["at"])[:10]
    except (ValueError, KeyError, TypeError):
        return None


def _attachment_blobs(
    vault: Vault, db: dbmod.Connection, case_id: str, epoch: int, envelope: bytes
) -> set[str]:
    """The attachments (blob ids) to erase with the case: those its report names (or, for a
    report that no longer opens, those listed or still wanted for it), less every blob another
    case names or still wants. Another case's claim of a held blob with another length is
    wrong (the id is the hash of the bytes): it is marked so and no longer asked for, and it
    keeps nothing (:func:`vault.blobs.drop_wrong_claims`). A claim of the held length still
    waiting to be checked is checked now, as the next pull would, its report opened and that
    logged (:func:`vault.blobs.check_pending_claims`): one whose key does not open the blob
    keeps nothing either.

    Two cases name one blob when a browser's failed submission was sent again (the same
    report and the same upload in a second envelope), or when a page or an intake lied about
    what was uploaded (vault/blobs.py); either way the other case keeps it. Which blobs each
    case names is kept in ``case_blobs``; the reports of cases stored before that list was
    kept are opened here, once, in memory and one at a time, to list theirs (nothing of them
    is kept but the blob ids and lengths), and logged as one read across cases
    (``attachments-checked``, with its read list), as a search is
    (:func:`vault.blobs.list_unlisted`).
    """
    named = {str(b) for (b,) in db.execute(
        "SELECT id FROM pending_blobs WHERE case_id = ?"
        " UNION SELECT blob_id FROM case_blobs WHERE case_id = ?", (case_id, case_id)
    )}  # fmt: skip
    team = vault.access.team_key(epoch)
    if team is not None:
        with contextlib.suppress(VaultError):
            report = open_report(envelope, team.public_key, team.secret_key)
            named |= {a.blob for a in report.attachments}
    if not named:
        return named
    list_unlisted(vault, db, but=case_id)
    for blob in sorted(named):  # a claim found wrong pins nothing
        drop_wrong_claims(db, blob)  # another length than the held blob's
        check_pending_claims(vault, db, blob, case_id)  # another key, not yet checked
    return {blob for blob in named if not named_elsewhere(db, blob, case_id)}


def check_tombstones(vault: Vault) -> list[str]:
    """For ``vault check``: each tombstone's ``erased`` entry is in the access log and names
    its case, and nothing of an erased case is left in the vault's own tables."""
    problems = []
    left_behind = ["SELECT 1 FROM cases WHERE id = ?"] + [
        f"SELECT 1 FROM {table} WHERE case_id = ?"  # noqa: S608 (a name from the schema)
        for table in _tables_keyed_by_case(vault)
    ]
    for case_id, entry in vault.db.execute("SELECT id, entry FROM erased_cases ORDER BY entry"):
        shown = show_id(str(case_id))
        row = vault.db.execute("SELECT leaf FROM log_leaves WHERE seq = ?", (entry,)).fetchone()
        try:
            leaf = None if row is None else parse_leaf(bytes(row[0]))
        except LeafError:
            leaf = None
        if leaf is None or (leaf.action, leaf.case) != ("erased", case_id):
            problems.append(f"erased case {shown}: its access-log entry is missing or changed")
        if any(vault.db.execute(sql, (case_id,)).fetchone() is not None for sql in left_behind):
            problems.append(f"erased case {shown}: some of it is still in the vault")
    return problems


def _tables_keyed_by_case(vault: Vault) -> list[str]:
    """Every table with a ``case_id`` column, read from the schema itself, so a module that
    adds one is checked without being named here (or even imported)."""
    rows = vault.db.execute(
        "SELECT m.name FROM sqlite_master AS m, pragma_table_info(m.name) AS c"
        " WHERE m.type = 'table' AND c.name = 'case_id' ORDER BY m.name"
    )
    return [str(name) for (name,) in rows if str(name).isidentifier()]
