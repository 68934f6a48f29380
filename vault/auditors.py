"""An auditor's key pair, made on the auditor's own computer.

``NAME.vkey`` (the verifier key line) goes to the team, who register it with
``vault auditor add``; ``NAME.key`` stays with the auditor. The key signs; it cannot open
a report, a note or the vault. Both files are created exclusively, mode 0600, in a 0700
folder.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from vault import _crypto
from vault.audit.signed_note import ED25519, NoteSigner
from vault.errors import UsageError, VaultError
from vault.files import create_private_file, make_private_dir
from vault.keys import validate_name

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
    try:
        create_private_file(path, data)
    except FileExistsError:
        raise VaultError(f"{path} already exists; choose another folder.") from None
    except OSError:
        raise VaultError(f"Could not write {path}.") from None


__all__ = ["AUDITOR_KEY_PREFIX", "AuditorKeyFiles", "make_auditor_key"]
