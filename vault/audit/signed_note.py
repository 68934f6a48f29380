"""C2SP signed notes, checkpoints, verifier keys and cosignatures, for the access log.

* ``c2sp.org/signed-note``: a text ending in a newline, a blank line, then lines
  ``— <key name> base64(4-byte key ID || signature)``. Ed25519 signatures are
  type 0x01; key ID = SHA-256(name || 0x0A || type || public key)[:4].
* Verifier keys ("vkeys"), as existing transparency-log tools write them:
  ``<name>+<key ID as 8 hex digits>+base64(type || public key)``.
* ``c2sp.org/tlog-checkpoint``: the note text is the origin, the tree size and
  the base64 root hash, one per line.
* ``c2sp.org/tlog-cosignature``: type 0x04, a witness's Ed25519 signature over
  ``cosignature/v1\\ntime <t>\\n`` and the checkpoint text, sent as
  base64(key ID || 8-byte big-endian time || signature).

Parsing is strict: base64 must be canonical, so that no two encodings of the
same note exist, and a changed byte always changes what is signed or parsed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from vault import _crypto
from vault._crypto import SecretBytes

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
DASH = "\u2014"
MAX_SIGNATURES = 16
_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


class SignedNoteError(ValueError):
    """A note, checkpoint or key is not in the expected form, or does not verify."""


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, length: int | None = None) -> bytes:
    """Strict base64: canonical padding and bits, so each value has one encoding."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SignedNoteError("not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise SignedNoteError("not canonical base64")
    if length is not None and len(raw) != length:
        raise SignedNoteError("wrong length")
    return raw


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def check_key_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise SignedNoteError("a key name must be non-empty, with no spaces or '+'")
    return name


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key that checks note signatures (Ed25519) or cosignatures (type 0x04)."""

    name: str
    key_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if self.key_type not in (ED25519, COSIGNATURE_V1) or len(self.public_key) != 32:
            raise SignedNoteError("only Ed25519 keys are supported")

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.key_type, self.public_key)

    def to_vkey(self) -> str:
        return f"{self.name}+{self.id.hex()}+{b64encode(bytes([self.key_type]) + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.split("+", 2)
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise SignedNoteError("not a verifier key")
        raw = b64decode(parts[2], 33)
        key = cls(check_key_name(parts[0]), raw[0], raw[1:])
        if key.id.hex() != parts[1]:
            raise SignedNoteError("the verifier key's hash does not match its name and key")
        return key


@dataclass(frozen=True, slots=True)
class NoteSigner:
    """An Ed25519 key that signs notes under ``name``; never prints its secret."""

    name: str
    signer: _crypto.Signer
    key_type: int = ED25519

    @classmethod
    def from_seed(cls, name: str, seed: SecretBytes, key_type: int = ED25519) -> NoteSigner:
        return cls(check_key_name(name), _crypto.Signer(seed), key_type)

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.key_type, self.signer.public_key)

    def sign_line(self, text: str) -> str:
        """The signature line for note ``text`` (type 0x01 only)."""
        if self.key_type != ED25519:
            raise ValueError("use cosign() for a cosigner key")
        signature = self.signer.sign(text.encode())
        return f"{DASH} {self.name} {b64encode(self.verifier.id + signature)}\n"

    def cosign_line(self, checkpoint_text: str, timestamp: int) -> str:
        if self.key_type != COSIGNATURE_V1:
            raise ValueError("not a cosigner key")
        message = cosigned_message(checkpoint_text, timestamp)
        signature = self.signer.sign(message)
        blob = self.verifier.id + timestamp.to_bytes(8, "big") + signature
        return f"{DASH} {self.name} {b64encode(blob)}\n"


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    if not 0 <= timestamp < 2**63:
        raise SignedNoteError("a cosignature time is out of range")
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    key_id: bytes
    blob: bytes  # what follows the key ID

    def line(self) -> str:
        return f"{DASH} {self.name} {b64encode(self.key_id + self.blob)}\n"


@dataclass(frozen=True, slots=True)
class SignedNote:
    text: str
    signatures: tuple[Signature, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def parse_note(data: str) -> SignedNote:
    """Split a signed note into its text and signature lines (nothing is verified here)."""
    if any(ord(c) < 0x20 and c != "\n" for c in data):
        raise SignedNoteError("a note may not hold control characters")
    if not data.endswith("\n"):
        raise SignedNoteError("a note ends with a newline")
    split = data.rfind("\n\n")
    if split < 0:
        raise SignedNoteError("a note has no signatures")
    text, lines = data[: split + 1], data[split + 2 :].splitlines()
    if not text.strip() or not lines or len(lines) > MAX_SIGNATURES:
        raise SignedNoteError("a note needs text and from 1 to 16 signatures")
    signatures = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise SignedNoteError("a signature line is not in the expected form")
        raw = b64decode(parts[2])
        if len(raw) < 5:
            raise SignedNoteError("a signature is too short")
        signatures.append(Signature(check_key_name(parts[1]), raw[:4], raw[4:]))
    return SignedNote(text, tuple(signatures))


def verify_signature(note: SignedNote, signature: Signature, key: VerifierKey) -> bool:
    """Whether ``signature`` on ``note`` is a valid signature or cosignature by ``key``."""
    if signature.name != key.name or signature.key_id != key.id:
        return False
    try:
        if key.key_type == ED25519:
            _crypto.verify(signature.blob, note.text.encode(), key.public_key)
        else:
            if len(signature.blob) != 8 + 64:
                return False
            timestamp = int.from_bytes(signature.blob[:8], "big")
            message = cosigned_message(note.text, timestamp)
            _crypto.verify(signature.blob[8:], message, key.public_key)
    except (_crypto.OpenFailed, SignedNoteError):
        return False
    return True


def cosignature_time(signature: Signature) -> int:
    return int.from_bytes(signature.blob[:8], "big")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{b64encode(self.root)}\n"

    @classmethod
    def parse_text(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) != 4 or lines[3] != "":
            raise SignedNoteError("a checkpoint has exactly three lines")
        origin, size, root = lines[:3]
        if not origin or not _SIZE.fullmatch(size):
            raise SignedNoteError("a checkpoint's origin or size is not in the expected form")
        return cls(origin, int(size), b64decode(root, 32))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    text = checkpoint.text()
    return text + "\n" + signer.sign_line(text)
