"""Sealed attachments (``docs/intake.md`` section 4): their lengths, ids, and how one is opened.

A reporter's browser pads a file with zero bytes to ``padded_length(size)`` and seals it with
libsodium's secretstream (XChaCha20-Poly1305) under a fresh key, in chunks of 65,536 plaintext
bytes: every chunk tagged ``MESSAGE`` except the last, tagged ``FINAL``. The sealed file (the
"blob") is ``header || chunk 1 || chunk 2 || ...`` and is named by the hex SHA-256 of those
bytes. The report carries the key, the true size and the blob id, so the vault can check the
blob and restore the exact bytes, while the intake only ever sees a padded length.

The vault keeps blobs sealed, cut at the chunk boundaries (:class:`Segmenter`); the only
plaintext that ever leaves it is written by :func:`open_attachment` at a caseworker's request.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator

from vault import _crypto
from vault.envelope import padded_length
from vault.errors import IntegrityError
from vault.report import Attachment

CHUNK_BYTES = 65_536
HEADER_BYTES = _crypto.STREAM_HEADER_BYTES  # 24
SEALED_CHUNK_BYTES = CHUNK_BYTES + _crypto.STREAM_ABYTES  # 65,553


def secretstream_length(padded: int) -> int:
    """The sealed length of ``padded`` plaintext bytes: header, then one tag per chunk."""
    if padded < 0:
        raise ValueError("a length cannot be negative")
    chunks = max(1, -(-padded // CHUNK_BYTES))
    return HEADER_BYTES + padded + chunks * _crypto.STREAM_ABYTES


def sealed_length(size: int) -> int:
    """The exact length of the blob that seals a file of ``size`` bytes."""
    return secretstream_length(padded_length(size))


def blob_id(data: bytes) -> str:
    """A blob's id: the lowercase hex SHA-256 of the sealed bytes (as the browser computes it)."""
    return hashlib.sha256(data).hexdigest()


class Segmenter:
    """Cuts a blob arriving in pieces of any size into its header and its sealed chunks.

    :meth:`feed` yields every complete segment; :meth:`finish` returns what is left (the
    shorter last chunk), if anything. At most one segment is ever buffered.
    """

    __slots__ = ("_buffer", "_want")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._want = HEADER_BYTES

    def feed(self, piece: bytes) -> Iterator[bytes]:
        self._buffer += piece
        while len(self._buffer) >= self._want:
            segment = bytes(self._buffer[: self._want])
            del self._buffer[: self._want]
            self._want = SEALED_CHUNK_BYTES
            yield segment

    def finish(self) -> bytes | None:
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest or None


def segments(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Re-cut ``pieces`` at the blob's segment boundaries."""
    cutter = Segmenter()
    for piece in pieces:
        yield from cutter.feed(piece)
    rest = cutter.finish()
    if rest is not None:
        yield rest


class _Damaged(Exception):
    pass


def open_attachment(
    pieces: Iterable[bytes], attachment: Attachment, write: Callable[[bytes], object]
) -> None:
    """Check and decrypt one sealed attachment, passing exactly its ``size`` bytes to ``write``.

    Checks, chunk by chunk: the blob's SHA-256 against ``attachment.blob``, its length against
    :func:`sealed_length`, every chunk's authentication, that only the last chunk is ``FINAL``,
    and that the padding is all zero. Memory stays flat: one chunk at a time. Anything wrong
    raises :class:`IntegrityError`; by then some bytes may have been written, so the caller
    must discard what ``write`` received.
    """
    expected = sealed_length(attachment.size)
    hasher = hashlib.sha256()
    seen = 0
    remaining = attachment.size  # true bytes still to write
    finished = False
    opener: _crypto.StreamOpener | None = None
    try:
        key = _crypto.SecretBytes(base64.b64decode(attachment.key, validate=True), "attachment key")
        for segment in segments(pieces):
            hasher.update(segment)
            seen += len(segment)
            if seen > expected:
                raise _Damaged()
            if opener is None:
                opener = _crypto.StreamOpener(key, segment)
                continue
            if finished:
                raise _Damaged()
            plain, finished = opener.pull(segment)
            if not finished and len(plain) != CHUNK_BYTES:
                raise _Damaged()
            keep = min(remaining, len(plain))
            if plain[keep:].count(0) != len(plain) - keep:
                raise _Damaged()  # the padding must be zero bytes
            if keep:
                write(plain[:keep])
                remaining -= keep
        if not finished or seen != expected or remaining:
            raise _Damaged()
        if hasher.hexdigest() != attachment.blob:
            raise _Damaged()
    except (_Damaged, _crypto.OpenFailed, ValueError):
        raise IntegrityError(
            "That attachment is damaged or has been changed, so it was not opened."
        ) from None
