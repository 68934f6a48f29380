"""The v1 report envelope: canonical report JSON, padded, sealed to a team key epoch.

Byte layout (``docs/format.md`` is the specification)::

    magic    7 bytes  "REDRESS"
    version  1 byte   0x01
    epoch    4 bytes  team key epoch, unsigned big-endian
    key id   8 bytes  first 8 bytes of SHA-256("redress team key id v1" || 0x00 || team public key)
    sealed   rest     crypto_box_seal(padded report, team public key)

The padded report is the canonical JSON, one 0x80 byte, then zero bytes up to
``padded_length(len(json) + 1)``: at least 2048 bytes, then Padmé.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

from vault import _crypto
from vault.errors import EnvelopeError, ForeignEnvelopeError, InvalidReportError
from vault.report import Report, parse_report

MAGIC = b"REDRESS"
VERSION = 1
HEADER = struct.Struct(">7sBI8s")
HEADER_BYTES = HEADER.size  # 20
MIN_PADDED = 2048
MAX_PADDED = 1 << 20  # a report (not its attachments) is at most 1 MiB once padded
MIN_ENVELOPE = HEADER_BYTES + _crypto.SEAL_OVERHEAD + MIN_PADDED
MAX_ENVELOPE = HEADER_BYTES + _crypto.SEAL_OVERHEAD + MAX_PADDED
ENVELOPE_ID_PURPOSE = "redress envelope id v1"


def padded_length(n: int) -> int:
    """The length ``n`` bytes are padded to: 2048 for short text, Padmé above it.

    Padmé (Nikitin et al., PETS 2019) rounds up so that at most O(log log n)
    bits of the length remain visible, costing at most about 12% overhead.
    """
    if n <= MIN_PADDED:
        return MIN_PADDED
    e = n.bit_length() - 1  # floor(log2 n)
    s = e.bit_length()  # floor(log2 e) + 1
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask


def pad(data: bytes) -> bytes:
    target = padded_length(len(data) + 1)
    return data + b"\x80" + bytes(target - len(data) - 1)


def unpad(padded: bytes) -> bytes:
    # The last non-zero byte must be the 0x80 marker, at the place padding puts it.
    end = padded.rfind(b"\x80")
    if (
        end < 0
        or not padded.endswith(bytes(len(padded) - end - 1))  # all zero after it
        or len(padded) != padded_length(end + 1)
    ):
        raise EnvelopeError()
    return padded[:end]


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    epoch: int
    key_id: bytes


def parse_header(envelope: bytes) -> EnvelopeHeader:
    """Read the clear header, refusing anything that is not a v1 envelope."""
    if len(envelope) < MIN_ENVELOPE:
        raise EnvelopeError()
    if len(envelope) > MAX_ENVELOPE:
        raise EnvelopeError("That envelope is larger than any report can be.")
    magic, version, epoch, key_id = HEADER.unpack_from(envelope)
    if magic != MAGIC:
        raise EnvelopeError()
    if version != VERSION:
        raise EnvelopeError(
            f"That envelope uses format version {version}, which this vault does not read.",
            hint="update Redress on this laptop",
        )
    return EnvelopeHeader(epoch=epoch, key_id=key_id)


def header_only(head: bytes) -> EnvelopeHeader | None:
    """The epoch and team key id of a v1 envelope from its first HEADER_BYTES alone (a
    quarantined envelope's, read without the rest), or None if they are not a v1 header."""
    if len(head) < HEADER_BYTES:
        return None
    magic, version, epoch, key_id = HEADER.unpack_from(head)
    if magic != MAGIC or version != VERSION:
        return None
    return EnvelopeHeader(epoch=epoch, key_id=key_id)


def team_key_id(public_key: bytes) -> bytes:
    return _team_key_id(bytes(public_key))


@lru_cache(maxsize=64)
def _team_key_id(public_key: bytes) -> bytes:
    # Cached: every envelope opened asks for its team key's id.
    return _crypto.tagged_hash("redress team key id v1", public_key)[:8]


def envelope_id(envelope: bytes) -> bytes:
    """The id an envelope is known by for de-duplication: a domain-separated SHA-256."""
    return _crypto.tagged_hash(ENVELOPE_ID_PURPOSE, envelope)


def seal_report(report: Report, epoch: int, team_public_key: bytes) -> bytes:
    """Seal a report to a team key epoch; the only way a report leaves a reporter's hands."""
    header = HEADER.pack(MAGIC, VERSION, epoch, team_key_id(team_public_key))
    padded = pad(report.canonical_json())
    if len(padded) > MAX_PADDED:
        raise InvalidReportError("The report is too long to seal (over 1 MiB).")
    return header + _crypto.seal(padded, team_public_key)


def open_envelope_bytes(
    envelope: bytes, team_public_key: bytes, team_secret_key: _crypto.SecretBytes
) -> bytes:
    """Open an envelope to its canonical report JSON (not yet validated)."""
    header = parse_header(envelope)
    if header.key_id != team_key_id(team_public_key):
        raise ForeignEnvelopeError()
    return open_sealed_part(envelope, team_public_key, team_secret_key)


def open_sealed_part(
    envelope: bytes, team_public_key: bytes, team_secret_key: _crypto.SecretBytes
) -> bytes:
    """Open what follows a header the caller has already checked against this team key."""
    return open_sealed(envelope[HEADER_BYTES:], team_public_key, team_secret_key)


def open_sealed(
    sealed: bytes, team_public_key: bytes, team_secret_key: _crypto.SecretBytes
) -> bytes:
    """Open an envelope's sealed part (all after its header) and take the padding off."""
    try:
        padded = _crypto.seal_open(sealed, team_public_key, team_secret_key)
    except _crypto.OpenFailed:
        raise EnvelopeError() from None
    return unpad(padded)


def open_report(
    envelope: bytes, team_public_key: bytes, team_secret_key: _crypto.SecretBytes
) -> Report:
    """Open and validate: a sealed report that is not a valid report is a damaged envelope."""
    return report_inside(open_envelope_bytes(envelope, team_public_key, team_secret_key))


def report_inside(data: bytes) -> Report:
    """Validate what an envelope opened to: a sealed report that is not valid is damaged."""
    try:
        return parse_report(data)
    except InvalidReportError:
        raise EnvelopeError(
            "That envelope opened, but what is inside is not a valid report."
        ) from None
