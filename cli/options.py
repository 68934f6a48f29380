"""Options and helpers every `vault` command module shares."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.passphrase import read_passphrase
from cli.render import plain_safe
from vault.errors import VaultError
from vault.files import create_private_file
from vault.store import Vault

VaultDir = Annotated[
    Path,
    typer.Option("--vault", envvar="VAULT_DIR", help="The vault directory.", show_default=True),
]
PassFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Read the passphrase from the first line of FILE (or set VAULT_PASSPHRASE_FILE).",
    ),
]
Caseworker = Annotated[
    str | None,
    typer.Option(
        "--as",
        envvar="VAULT_CASEWORKER",
        help="Which caseworker you are, if the vault has several.",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
CaseId = Annotated[
    str, typer.Argument(help="The case id, e.g. 7KQ2-M9XD (a unique start will do).")
]
DEFAULT_VAULT = Path("vault-data")


def say(message: str) -> None:
    """A line for the caseworker on stderr; text from outside can never drive the terminal."""
    print(plain_safe(message), file=sys.stderr)


def unlock(vault_dir: Path, passphrase_file: Path | None, caseworker: str | None) -> Vault:
    return Vault.unlock(vault_dir, read_passphrase(passphrase_file), caseworker)


def write_new(path: Path, data: bytes) -> None:
    try:
        create_private_file(path, data)
    except FileExistsError:
        raise VaultError(f"{path} already exists; choose another name.") from None
    except FileNotFoundError:
        raise VaultError(f"The folder for {path} does not exist.") from None
    except PermissionError:
        raise VaultError(f"This account may not write {path}.") from None
