"""Where a passphrase comes from: a file for scripts, else a hidden prompt."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from vault.errors import UnsafePermissionsError, UsageError, VaultError
from vault.files import read_small_file

ENV_FILE = "VAULT_PASSPHRASE_FILE"


def read_passphrase(
    file: Path | None, *, confirm: bool = False, prompt: str = "Passphrase"
) -> bytes:
    """The first line of ``file`` (or ``$VAULT_PASSPHRASE_FILE``), else a hidden prompt."""
    if file is None and os.environ.get(ENV_FILE):
        file = Path(os.environ[ENV_FILE])
    if file is not None:
        return _from_file(file)
    if not sys.stdin.isatty():
        raise UsageError(
            "No passphrase: there is no terminal to ask on.",
            hint=f"use --passphrase-file FILE or set {ENV_FILE}",
        )
    first = getpass.getpass(f"{prompt}: ").encode()
    if confirm and getpass.getpass("Type it again: ").encode() != first:
        raise UsageError("The two passphrases were different; nothing was changed.")
    return first


def _from_file(file: Path) -> bytes:
    try:
        mode = file.stat().st_mode
    except OSError:
        mode = 0  # read_small_file says what is wrong
    if mode & 0o077:
        raise UnsafePermissionsError(
            f"The passphrase file {file} can be read by other users.",
            hint=f"run: chmod 600 '{file}'",
        )
    data = read_small_file(file, "passphrase file", limit=4096)
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not first:
        raise VaultError(f"The passphrase file {file} is empty.")
    return first


def read_text_argument(text: str | None, what: str) -> str:
    """A note or reply: the argument, or stdin when it is '-' or left out.

    Typing sensitive text as an argument leaves it in shell history; reading it
    from stdin (or a prompt) does not.
    """
    if text is not None and text != "-":
        return text
    if sys.stdin.isatty():
        print(f"Type the {what}, then press Ctrl-D on a new line:", file=sys.stderr)
    return sys.stdin.read()
