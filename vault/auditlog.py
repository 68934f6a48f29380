"""The vault's side of the access log: append leaves, sign checkpoints, answer witnesses.

Every leaf is written in the transaction of the action it records, so an
action that rolls back leaves no leaf and no leaf outlives its action. The
transaction that added leaves ends with a signed checkpoint of the new tree
(:meth:`AccessLog.finish`), so the log never has an unsigned tail.

Checkpoints are signed with the acting caseworker's Ed25519 key under the key
name of the log's origin, as ``c2sp.org/tlog-checkpoint`` recommends; the
message (the checkpoint text, starting with the origin ``vault.redress/…``)
can never be mistaken for the vault's other signed messages, which all start
with a ``redress … v1`` context string.

**The newest checkpoint, kept outside the database as well** (``log-checkpoint`` in the
vault folder). A damaged or cut WAL makes SQLite drop the transactions after the damage
without an error, and the log that is left is consistent with itself. So after every
transaction that signed a checkpoint commits, that checkpoint (the signed note, exactly
as the ``checkpoints`` table holds it) is written to ``log-checkpoint`` through
:func:`vault.files.replace_private_file` (a 0600 temporary, fsync, rename, fsync of the
folder). The file is written only *after* the commit returns, so it is never ahead of a
committed log: a crash between the two leaves it one transaction behind, which is no
alarm. Unlock and ``vault check`` compare it with the log (:func:`check_head_copy`): a log
smaller than the file has lost committed entries; a log that holds the file's size with
another checkpoint has another history. If the file cannot be written (a full disk), it
stays behind, and the next commit that can write it catches up.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vault import db as dbmod
from vault.audit import merkle
from vault.audit.leaves import Leaf, encode_leaf
from vault.audit.signed_note import (
    Checkpoint,
    NoteSigner,
    SignedNoteError,
    VerifierKey,
    parse_note,
    sign_checkpoint,
    verify_signature,
)
from vault.errors import IntegrityError, LogRolledBackError, VaultError
from vault.events import now_to_the_second
from vault.files import read_small_file, replace_private_file
from vault.keys import Identity


def origin(db: dbmod.Connection) -> str:
    return str(dbmod.one(db, "SELECT value FROM vault_facts WHERE name = 'origin'")[0])


def caseworker_verifier(log_origin: str, sign_pk: bytes) -> VerifierKey:
    """A caseworker's checkpoint-signing key as a C2SP verifier key."""
    return VerifierKey(log_origin, 0x01, sign_pk)


def commitment(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class LogHead:
    size: int
    note: str  # the signed checkpoint, with any cosignatures
    signed: str  # the checkpoint as the caseworker signed it, without cosignatures


class AccessLog:
    """Appends to the log inside the caller's transaction; see the module docstring."""

    def __init__(self, db: dbmod.Connection, identity: Identity) -> None:
        self._db = db
        self._identity = identity
        self._origin: str | None = None
        self._frontier: merkle.Frontier | None = None
        self._added = 0  # entries added in this transaction
        self._actor = identity.key_id
        self._last_at = ""  # the newest entry's time, loaded with the frontier
        self.signed: str | None = None  # the checkpoint the last commit signed, if any

    @property
    def origin(self) -> str:
        if self._origin is None:
            self._origin = origin(self._db)
        return self._origin

    @property
    def signer(self) -> NoteSigner:
        return NoteSigner(self.origin, self._identity.signer)

    def begin(self) -> None:
        """Forget any state from a transaction that did not commit."""
        self._frontier = None
        self._added = 0
        self.signed = None

    def add(self, action: str, case: str | None, detail: str | None, commit: str | None) -> int:
        """Append an entry by the acting caseworker, now; returns its ``seq``."""
        self.next_entry()
        data = encode_leaf(self._now(), self._actor, action, case, detail, commit)
        return self._append(data)

    def _now(self) -> str:
        """Now, to the second; or the newest entry's time if the clock has gone back since
        (the log's times never go back: docs/audit.md, section 8)."""
        self._last_at = max(now_to_the_second(), self._last_at)
        return self._last_at

    def add_many(self, entries: list[tuple[str, str | None, str | None, str | None]]) -> int:
        """Append ``(action, case, detail, commit)`` entries by the acting caseworker, now, in
        order, with one statement; returns the ``seq`` of the first.
        """
        first = self.next_entry()
        assert self._frontier is not None
        at, actor = self._now(), self._actor
        rows = []
        for seq, (action, case, detail, commit) in enumerate(entries, first):
            data = encode_leaf(at, actor, action, case, detail, commit)
            rows.append((seq, data, merkle.leaf_hash(data)))
        self._db.executemany("INSERT INTO log_leaves (seq, leaf, hash) VALUES (?, ?, ?)", rows)
        for _seq, _data, h in rows:
            self._frontier.append(h)
        self._added += len(rows)
        return first

    def next_entry(self) -> int:
        """The ``seq`` the next entry added in this transaction will have."""
        if self._frontier is None:
            self._frontier = self._load_frontier()
        return self._frontier.size

    def add_leaf(self, leaf: Leaf) -> int:
        return self._append(leaf.encode())

    def _append(self, data: bytes) -> int:
        seq = self.next_entry()
        assert self._frontier is not None
        h = merkle.leaf_hash(data)
        self._db.execute(
            "INSERT INTO log_leaves (seq, leaf, hash) VALUES (?, ?, ?)", (seq, data, h)
        )
        self._frontier.append(h)
        self._added += 1
        return seq

    def finish(self) -> Checkpoint | None:
        """If leaves were added in this transaction, store the frontier and sign a checkpoint."""
        frontier, self._frontier = self._frontier, None
        added, self._added = self._added, 0
        if frontier is None or not added:
            return None
        self._db.execute("DELETE FROM log_frontier")
        self._db.executemany(
            "INSERT INTO log_frontier (level, hash) VALUES (?, ?)", frontier.levels.items()
        )
        checkpoint = Checkpoint(self.origin, frontier.size, frontier.root())
        self.signed = sign_checkpoint(checkpoint, self.signer)
        self._db.execute(
            "INSERT INTO checkpoints (size, note) VALUES (?, ?)", (checkpoint.size, self.signed)
        )
        return checkpoint

    def _load_frontier(self) -> merkle.Frontier:
        size = self.size()
        last = self._db.execute("SELECT leaf FROM log_leaves ORDER BY seq DESC LIMIT 1").fetchone()
        self._last_at = "" if last is None else bytes(last[0]).split(b" ", 2)[1].decode("ascii")
        levels = {int(lv): bytes(h) for lv, h in self._db.execute("SELECT * FROM log_frontier")}
        try:
            return merkle.Frontier(size, levels)
        except ValueError:
            raise IntegrityError("The vault's access log does not match its stored tree.") from None

    # --- reading ------------------------------------------------------------------

    def size(self) -> int:
        """How many entries the log holds (seq has no gaps: the last one, plus one)."""
        last = self._db.execute("SELECT max(seq) FROM log_leaves").fetchone()[0]
        return 0 if last is None else int(last) + 1

    def head(self) -> LogHead | None:
        row = self._db.execute(
            "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return LogHead(int(row[0]), self._with_cosignatures(int(row[0]), str(row[1])), str(row[1]))

    def checkpoints(self) -> Iterator[LogHead]:
        for size, note in self._db.execute("SELECT size, note FROM checkpoints ORDER BY size"):
            yield LogHead(int(size), self._with_cosignatures(int(size), str(note)), str(note))

    def _with_cosignatures(self, size: int, note: str) -> str:
        lines = [
            str(r[0])
            for r in self._db.execute(
                "SELECT line FROM cosignatures WHERE size = ? ORDER BY line", (size,)
            )
        ]
        return note + "".join(lines)

    def leaves(self) -> Iterator[bytes]:
        for (leaf,) in self._db.execute("SELECT leaf FROM log_leaves ORDER BY seq"):
            yield bytes(leaf)

    def hashes(self, size: int | None = None) -> list[bytes]:
        sql = "SELECT hash FROM log_leaves ORDER BY seq"
        rows = self._db.execute(sql if size is None else sql + f" LIMIT {int(size)}")
        return [bytes(r[0]) for r in rows]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return merkle.consistency_proof(self.hashes(new_size), old_size, new_size)

    def frontier_root(self) -> bytes:
        """The root of the stored right edge (what the next checkpoint builds on)."""
        return self._load_frontier().root()

    def root_at(self, size: int) -> bytes:
        return merkle.root(self.hashes(size))


# --- the newest checkpoint outside the database (see the module docstring) -------------------

HEAD_COPY = "log-checkpoint"


def write_head_copy(directory: Path, signed: str) -> None:
    """Keep ``signed`` (a committed checkpoint) in the vault folder; call after the commit.

    A file that cannot be written stays behind the log, which is safe (never ahead): the
    next commit that can write it catches up.
    """
    with contextlib.suppress(OSError, VaultError):
        replace_private_file(directory / HEAD_COPY, signed.encode("utf-8"))


def check_head_copy(db: dbmod.Connection, directory: Path, log_origin: str) -> str | None:
    """The copy of the newest checkpoint against the log in ``db``: None if they agree (or
    there is no copy yet), else what is wrong, as one sentence.

    The copy's signature is checked against every caseworker key the database holds, so a
    damaged copy is named as such, not taken for a log that lost entries.
    """
    path = directory / HEAD_COPY
    if not path.exists():
        return None
    try:
        text = read_small_file(path, "log checkpoint", limit=4096).decode("utf-8")
        note = parse_note(text)
        checkpoint = Checkpoint.parse_text(note.text)
    except (VaultError, UnicodeDecodeError, SignedNoteError):
        return f"the copy of the access log's newest checkpoint ({HEAD_COPY}) is damaged"
    keys = [
        caseworker_verifier(log_origin, bytes(pk))
        for (pk,) in db.execute("SELECT sign_pk FROM caseworkers")
    ]
    signed = checkpoint.origin == log_origin and any(
        verify_signature(note, sig, key) for sig in note.signatures for key in keys
    )
    if not signed:
        return (
            f"the copy of the access log's newest checkpoint ({HEAD_COPY}) is damaged,"
            " or was not signed by a caseworker of this vault"
        )
    row = db.execute("SELECT note FROM checkpoints WHERE size = ?", (checkpoint.size,)).fetchone()
    if row is not None and str(row[0]) == text:
        return None
    last = db.execute("SELECT max(seq) FROM log_leaves").fetchone()[0]
    size = 0 if last is None else int(last) + 1
    if size < checkpoint.size:
        first, end = size + 1, checkpoint.size
        which = f"entry {end}" if first == end else f"entries {first} to {end}"
        return (
            f"The access log has lost {which} that {'was' if first == end else 'were'}"
            " committed; the vault's database has been damaged or rolled back"
        )
    return (
        "The access log does not hold the checkpoint it committed at"
        f" {checkpoint.size} entries: its history has been changed"
    )


def require_head_copy(db: dbmod.Connection, directory: Path, log_origin: str) -> None:
    """At unlock: refuse a log that has lost committed entries or changed its history."""
    problem = check_head_copy(db, directory, log_origin)
    if problem is None:
        return
    sentence = problem[0].upper() + problem[1:] + "."
    if HEAD_COPY in problem:  # the copy itself is damaged: the log may be sound
        raise IntegrityError(
            sentence,
            hint=f"copy the vault folder somewhere safe as it is; then delete {HEAD_COPY} in"
            " the vault folder and run vault check, which checks the log itself",
        )
    raise LogRolledBackError(sentence)
