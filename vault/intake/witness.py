"""The intake as a witness for vaults' access logs (``c2sp.org/tlog-witness``).

When a caseworker pulls, their vault sends its newest checkpoint with a
consistency proof from the last one this witness cosigned. The witness checks
the checkpoint is signed by a caseworker the intake accepts and that the log
only grew, remembers it, and returns a ``c2sp.org/tlog-cosignature``. A vault
that rewinds or rewrites its log can no longer get a cosignature, so auditors
see the newest checkpoint unwitnessed.

The witness key (type 0x04, Ed25519) lives in ``DIR/witness.key`` (0600),
made on first start. It signs only cosignatures; it opens nothing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from vault import _crypto
from vault._crypto import SecretBytes
from vault.audit import merkle
from vault.audit.signed_note import (
    COSIGNATURE_V1,
    Checkpoint,
    NoteSigner,
    SignedNoteError,
    VerifierKey,
    b64decode,
    b64encode,
    parse_note,
    verify_signature,
)
from vault.errors import VaultError
from vault.files import create_private_file, read_small_file
from vault.intake.inbox import Inbox

KEY_FILE = "witness.key"
KEY_KIND = "redress-witness-key/1"
MAX_PROOF_LINES = 63
SIZE_TYPE = "text/x.tlog.size"
MAX_SIZE = (1 << 63) - 1  # sizes are stored as SQLite integers (signed 64 bits)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class Witness:
    def __init__(self, signer: NoteSigner) -> None:
        self.signer = signer

    def __repr__(self) -> str:
        return f"<Witness {self.signer.name}: key hidden>"

    @property
    def key(self) -> VerifierKey:
        return self.signer.verifier

    @classmethod
    def load_or_create(cls, directory: Path) -> Witness:
        path = directory / KEY_FILE
        if not path.exists():
            name = f"witness.redress/{_crypto.random_bytes(8).hex()}"
            seed = _crypto.random_bytes(32)
            create_private_file(path, f"{KEY_KIND}\n{name}\n{b64encode(seed)}\n".encode())
        text = read_small_file(path, "witness key file", limit=1024).decode("ascii", "replace")
        lines = text.split("\n")
        try:
            if len(lines) != 4 or lines[0] != KEY_KIND or lines[3] != "":
                raise SignedNoteError("form")
            seed = b64decode(lines[2], 32)
            signer = NoteSigner.from_seed(
                lines[1], SecretBytes(seed, "witness key"), COSIGNATURE_V1
            )
        except SignedNoteError:
            raise VaultError(f"The witness key file {path} is damaged.") from None
        return cls(signer)

    def add_checkpoint(
        self, body: bytes, inbox: Inbox, trusted: dict[str, list[VerifierKey]]
    ) -> Answer:
        """One ``add-checkpoint`` request, answered as c2sp.org/tlog-witness says."""
        try:
            old, proof, note_text = _parse_request(body)
            note = parse_note(note_text)
            checkpoint = Checkpoint.parse_text(note.text)
        except (SignedNoteError, UnicodeDecodeError):
            return Answer(400, "malformed request\n")
        if old > MAX_SIZE or checkpoint.size > MAX_SIZE:
            return Answer(400, "malformed request\n")
        keys = trusted.get(checkpoint.origin)
        if not keys:
            return Answer(404, "unknown log\n")
        if not any(verify_signature(note, s, k) for s in note.signatures for k in keys):
            return Answer(403, "no trusted signature\n")
        if old > checkpoint.size:
            return Answer(400, "old size is larger than the checkpoint\n")
        if old == 0 and proof:
            return Answer(400, "a proof from size 0 must be empty\n")

        outcome: Answer | None = None

        def decide(size: int, root: bytes) -> bool:
            nonlocal outcome
            if old != size or (old == checkpoint.size and root != checkpoint.root):
                outcome = Answer(409, f"{size}\n", SIZE_TYPE)
            elif old and not merkle.verify_consistency(
                old, checkpoint.size, root, checkpoint.root, proof
            ):
                outcome = Answer(422, "the consistency proof does not verify\n")
            return outcome is None

        _, _, advanced = inbox.witness_advance(
            checkpoint.origin, decide, checkpoint.size, checkpoint.root
        )
        if not advanced:
            assert outcome is not None
            return outcome
        return Answer(200, self.signer.cosign_line(note.text, int(time.time())))


def _parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    text = body.decode("utf-8")
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise SignedNoteError("no blank line")
    lines = head.split("\n")
    match = re.fullmatch(r"old (0|[1-9][0-9]{0,19})", lines[0])
    if not match or len(lines) - 1 > MAX_PROOF_LINES:
        raise SignedNoteError("bad old line or too many proof lines")
    return int(match.group(1)), [b64decode(line, 32) for line in lines[1:]], note
