"""Auditors: their key pair, made on the auditor's own computer, and the team's register of them.

``NAME.vkey`` (the verifier key line) goes to the team, who register it with
``vault auditor add``; ``NAME.key`` stays with the auditor. The key signs; it cannot open
a report, a note or the vault. Both files are created exclusively, mode 0600, in a 0700
folder.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vault import _crypto
from vault.audit.leaves import member_commitment
from vault.audit.signed_note import ED25519, NoteSigner, SignedNoteError, VerifierKey
from vault.errors import UsageError, VaultError
from vault.files import make_private_dir, write_new_file
from vault.keys import validate_name
from vault.store import today

if TYPE_CHECKING:
    from vault.store import Vault

#: The name inside an auditor's verifier key: ``auditor.redress/NAME``.
AUDITOR_KEY_PREFIX = "auditor.redress/"


@dataclass(frozen=True, slots=True)
class AuditorKeyFiles:
    """Where an auditor's new key pair was written, and its key id (hex)."""

    public: Path
    secret: Path
    key_id: str


def make_auditor_key(name: str, folder: Path) -> AuditorKeyFiles:
    """Write ``NAME.vkey`` and ``NAME.key`` into ``folder`` (made 0700); never overwrites."""
    name = validate_name(name)
    public_path, secret_path = folder / f"{name}.vkey", folder / f"{name}.key"
    if public_path.exists() or secret_path.exists():
        raise UsageError(f"There are already key files for {name} in {folder}.")
    try:
        make_private_dir(folder)
    except OSError:
        raise VaultError(f"Could not make the folder {folder}.") from None
    _, seed = _crypto.sign_keypair()
    signer = NoteSigner.from_seed(f"{AUDITOR_KEY_PREFIX}{name}", seed)
    key = signer.verifier
    packed = base64.b64encode(bytes([ED25519]) + seed.reveal()).decode("ascii")
    secret_line = f"PRIVATE+KEY+{key.name}+{key.id.hex()}+{packed}\n"
    _create(secret_path, secret_line.encode())
    try:
        _create(public_path, (key.to_vkey() + "\n").encode())
    except BaseException:
        secret_path.unlink(missing_ok=True)  # no secret key without its public half
        raise
    return AuditorKeyFiles(public=public_path, secret=secret_path, key_id=key.id.hex())


def _create(path: Path, data: bytes) -> None:
    write_new_file(path, data, instead="folder")


# --- the team's register of auditors ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Auditor:
    """An auditor registered with the vault: their key verifies the log, and opens nothing."""

    name: str
    key_id: str
    added: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "key_id": self.key_id, "added": self.added}


def add_auditor(vault: Vault, name: str, vkey_text: str) -> VerifierKey:
    """Register an auditor's public (verification) key. It opens nothing."""
    name = validate_name(name)
    try:
        key = VerifierKey.parse(vkey_text.strip())
    except SignedNoteError:
        raise UsageError(
            "That is not an auditor's public key: expected a verifier key line"
            " (name+hash+key), as vault auditor keygen or transparency-log tools write.",
        ) from None
    if key.key_type != ED25519:
        raise UsageError("An auditor's key must be an Ed25519 signing verifier key.")
    vkey = key.to_vkey()
    with vault.transaction() as db:
        if db.execute("SELECT 1 FROM auditors WHERE name = ? OR vkey = ?", (name, vkey)).fetchone():
            raise UsageError(f"There is already an auditor called {name}, or with that key.")
        db.execute(
            "INSERT INTO auditors (name, vkey, added) VALUES (?, ?, ?)", (name, vkey, today())
        )
        vault.log_action(db, "auditor-added", key.id.hex(), member_commitment(name, vkey))
    return key


def registered_auditors(vault: Vault) -> list[Auditor]:
    """The auditors registered with the vault, in the order they were added."""
    rows = vault.db.execute("SELECT name, vkey, added FROM auditors ORDER BY rowid").fetchall()
    return [
        Auditor(str(name), VerifierKey.parse(str(vkey)).id.hex(), str(added))
        for name, vkey, added in rows
    ]


__all__ = [
    "AUDITOR_KEY_PREFIX",
    "Auditor",
    "AuditorKeyFiles",
    "add_auditor",
    "make_auditor_key",
    "registered_auditors",
]
