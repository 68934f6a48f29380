"""Uploads in parts: an attachment sent a part at a time while the reporter's browser seals
it, so the browser never holds the sealed file whole (docs/intake.md section 4, "Uploading
in parts").

The intake keeps each open upload in memory only, under a random token the page was given
when it opened it: the upload's :class:`~vault.intake.inbox.BlobUpload` (the blob id's hash
list so far, the size, the next row), when it was opened and when last used. The bytes are
in the inbox: each part's remainder is stored as a short row at the end of the part, so
nothing waits in memory between parts. An upload ended keeps its answer (the blob id) under
its token for :data:`IDLE_SECONDS`, so that an end sent again after its answer was lost is
answered the same. At most :data:`MAX_OPEN` uploads are open at once;
one idle for :data:`IDLE_SECONDS`, or open past its deadline, is dropped (its rows deleted)
at the next request to the parts routes. An intake that restarts forgets its open uploads:
their rows are those of an unfinished upload, which housekeeping deletes the day after next.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from vault.attachments import HEADER_BYTES, SEALED_CHUNK_BYTES
from vault.intake.inbox import BlobUpload
from vault.intake.reading import MIN_BODY_RATE

MAX_OPEN = 64  # uploads in parts open at once; more are refused 503 busy
BUSY_RETRY = 30  # seconds a client refused for that is asked to wait
IDLE_SECONDS = 600  # an open upload with no request for this long is dropped
MAX_SECONDS = 12 * 3600  # and one open this long, whatever its deadline (below a day)
# The largest part: 128 sealed chunks (8 MiB of the padded file and each chunk's 17-byte tag)
# and the secretstream header, which the first part carries: 8,390,808 bytes.
PART_BYTES = 128 * SEALED_CHUNK_BYTES + HEADER_BYTES
TOKEN_BYTES = 16  # 32 hex digits
ENDED_KEPT = 1024  # uploads ended whose answer is kept (for IDLE_SECONDS), the oldest dropped
# Parts an upload may take: this many, and one more for each MiB it holds. The form's parts
# are 8 MiB (and a few sent again after a lost answer), so only an upload in tiny parts, each
# a commit to disk, meets the limit: it is dropped (400 malformed).
PARTS_FREE = 16


@dataclass
class OpenUpload:
    """One upload in parts: its stored rows so far, and when it was opened and last used."""

    upload: BlobUpload
    opened: float
    used: float
    busy: bool = False  # a part is being read, or the upload is ending
    parts: int = 0  # parts begun

    def too_many_parts(self) -> bool:
        """Whether one more part would be more than :data:`PARTS_FREE` and one a MiB held."""
        return self.parts >= PARTS_FREE + self.upload.size // (1 << 20)


class OpenUploads:
    """The open uploads, by token; in memory only.

    ``deadline`` is the most seconds an upload may stay open: what a whole upload of the
    largest size is given (``--read-timeout`` plus the cap at 16 KiB/s), at most
    :data:`MAX_SECONDS`, so housekeeping (which deletes unfinished uploads from before
    yesterday) never deletes one still open.
    """

    def __init__(
        self,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        grace: float = 30.0,
        min_rate: float = float(MIN_BODY_RATE),
    ) -> None:
        self._open: dict[str, OpenUpload] = {}
        # An upload holding less than min_rate bytes a second since it opened, after grace
        # seconds, is dropped: a place is not held for nothing (a body read as a whole is
        # given no less, docs/intake.md section 2).
        self._grace = grace
        self._min_rate = min_rate
        # Uploads ended: their blob id and when, so an end sent again (its answer lost) gets
        # the same answer, for IDLE_SECONDS; oldest first.
        self._ended: dict[str, tuple[bytes, float]] = {}
        self._starting = 0
        self.deadline = min(deadline, MAX_SECONDS)
        self._clock = clock

    def __len__(self) -> int:
        return len(self._open)

    def full(self) -> bool:
        return len(self._open) + self._starting >= MAX_OPEN

    def starting(self, more: int) -> None:
        """Hold (1) or give back (-1) a place for an upload being opened."""
        self._starting += more

    def add(self, upload: BlobUpload) -> str:
        """Open ``upload``; returns its token."""
        token = secrets.token_hex(TOKEN_BYTES)
        now = self._clock()
        self._open[token] = OpenUpload(upload, now, now)
        return token

    def get(self, token: str) -> OpenUpload | None:
        """The open upload under ``token`` (None if unknown, finished or dropped)."""
        return self._open.get(token)

    def remove(self, token: str) -> None:
        self._open.pop(token, None)

    def ended(self, token: str, blob_id: bytes) -> None:
        """``token``'s upload ended as ``blob_id``: kept to answer an end sent again."""
        self._ended[token] = (blob_id, self._clock())
        while len(self._ended) > ENDED_KEPT:
            del self._ended[next(iter(self._ended))]

    def ended_as(self, token: str) -> bytes | None:
        """The blob id ``token``'s upload ended as, within IDLE_SECONDS of its end."""
        found = self._ended.get(token)
        return None if found is None else found[0]

    def mark_used(self, entry: OpenUpload) -> None:
        entry.used = self._clock()

    def expired(self) -> list[BlobUpload]:
        """Forget the uploads idle too long, past their deadline, or holding less than
        the least rate allows for their age (after the grace); returns them, to drop.
        One with a request in progress is left to it (that request has its own deadlines).
        Forget too the answers of uploads ended more than IDLE_SECONDS ago."""
        now = self._clock()
        for token in [t for t, (_, at) in self._ended.items() if now - at > IDLE_SECONDS]:
            del self._ended[token]
        gone = [
            token
            for token, entry in self._open.items()
            if not entry.busy
            and (
                now - entry.used > IDLE_SECONDS
                or now - entry.opened > self.deadline
                or entry.upload.size < (now - entry.opened - self._grace) * self._min_rate
            )
        ]
        return [self._open.pop(token).upload for token in gone]
