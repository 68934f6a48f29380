"""Sealed attachments (``docs/intake.md`` section 4): their lengths, ids, and how one is opened.

A reporter's browser pads a file with zero bytes to ``padded_length(size)`` and seals it with
libsodium's secretstream (XChaCha20-Poly1305) under a fresh key, in chunks of 65,536 plaintext
bytes: every chunk tagged ``MESSAGE`` except the last, tagged ``FINAL``. The sealed file (the
"blob") is ``header || chunk 1 || chunk 2 || ...`` and is named by its blob id (below). The
report carries the key, the true size and the blob id, so the vault can check the blob and
restore the exact bytes, while the intake only ever sees a padded length.

The blob id (``docs/format.md``, "Attachments: the blob id") is a hash list, which a browser
computes with its native, non-incremental WebCrypto SHA-256 one sealed chunk at a time::

    id = SHA-256( "redress blob hash list v1" || 0x00 || header
                  || SHA-256(chunk 1) || SHA-256(chunk 2) || ... )

Blobs sealed before it was introduced are named by the plain SHA-256 of all their bytes (the
*whole-blob id*); the vault keeps accepting those for the blobs already named so
(:meth:`BlobHasher.names`). :class:`BlobHasher` is the one place either is computed.

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


BLOB_ID_PURPOSE = "redress blob hash list v1"
_LIST_PREFIX = BLOB_ID_PURPOSE.encode("ascii") + b"\x00"  # how every hash list's input starts


class BlobHasher:
    """A blob's id, computed as its bytes arrive in pieces of any size; memory stays flat.

    The bytes are cut as :class:`Segmenter` cuts them (the first ``HEADER_BYTES``, then
    ``SEALED_CHUNK_BYTES`` at a time, the last chunk shorter), without copying them. With
    ``whole=True`` it also computes the whole-blob id of blobs sealed before the hash list, in
    the same pass, so that :meth:`names` accepts either.
    """

    __slots__ = ("_chunk", "_in_chunk", "_list", "_seen", "_start", "_whole")

    def __init__(self, *, whole: bool = False) -> None:
        self._list = hashlib.sha256(_LIST_PREFIX)
        self._start = b""  # the first bytes given, as long as the hash list's prefix
        self._chunk = hashlib.sha256()
        self._in_chunk = 0  # bytes of the current sealed chunk hashed so far
        self._seen = 0
        self._whole = hashlib.sha256() if whole else None

    def update(self, piece: bytes | bytearray | memoryview) -> None:
        view = memoryview(piece).cast("B")
        if self._whole is not None:
            self._whole.update(view)
            if len(self._start) < len(_LIST_PREFIX):
                self._start += bytes(view[: len(_LIST_PREFIX) - len(self._start)])
        at = 0
        if self._seen < HEADER_BYTES:
            at = min(HEADER_BYTES - self._seen, len(view))
            self._list.update(view[:at])
        self._seen += len(view)
        while at < len(view):
            take = min(SEALED_CHUNK_BYTES - self._in_chunk, len(view) - at)
            self._chunk.update(view[at : at + take])
            self._in_chunk += take
            at += take
            if self._in_chunk == SEALED_CHUNK_BYTES:
                self._list.update(self._chunk.digest())
                self._chunk = hashlib.sha256()
                self._in_chunk = 0

    def digest(self) -> bytes:
        """The blob id of every byte given so far (the hasher can go on being fed)."""
        final = self._list.copy()
        if self._in_chunk:
            final.update(self._chunk.digest())
        return final.digest()

    def hexdigest(self) -> str:
        return self.digest().hex()

    def names(self, blob_id: str) -> bool:
        """Whether ``blob_id`` names the bytes given: their hash-list id, or (with
        ``whole=True``) their whole-blob id, unless the bytes start as a hash list's input does
        (purpose string, then 0x00). Without that exception, any blob's hash-list input (made
        from its sealed bytes with no SHA-256 work) would be other bytes under its id; with it,
        a blob matching an id made the other way needs a SHA-256 collision (docs/format.md,
        "Attachments: the blob id")."""
        if self.hexdigest() == blob_id:
            return True
        return (
            self._whole is not None
            and not self._start.startswith(_LIST_PREFIX)
            and self._whole.hexdigest() == blob_id
        )


def blob_id(data: bytes) -> str:
    """A blob's id (the hash list, as the browser computes it): lowercase hex."""
    hasher = BlobHasher()
    hasher.update(data)
    return hasher.hexdigest()


def whole_blob_id(data: bytes) -> str:
    """The id blobs sealed before the hash list carry: the hex SHA-256 of all their bytes."""
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

    Checks, chunk by chunk: the blob's id against ``attachment.blob`` (the hash list, or the
    whole-blob id of a blob sealed before it: :meth:`BlobHasher.names`), its length against
    :func:`sealed_length`, every chunk's authentication, that only the last chunk is ``FINAL``,
    and that the padding is all zero. Memory stays flat: one chunk at a time. Anything wrong
    raises :class:`IntegrityError`; by then some bytes may have been written, so the caller
    must discard what ``write`` received.
    """
    expected = sealed_length(attachment.size)
    hasher = BlobHasher(whole=True)
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
        if not hasher.names(attachment.blob):
            raise _Damaged()
    except (_Damaged, _crypto.OpenFailed, ValueError):
        raise IntegrityError(
            "That attachment is damaged or has been changed, so it was not opened."
        ) from None
