"""Where a passphrase comes from: a file for scripts, else a hidden prompt.

It is a :class:`vault.passphrase.Passphrase` from the moment it is read: it never prints.
"""

from __future__ import annotations

import getpass
import os
import stat
import sys
from pathlib import Path

from vault.errors import UnsafePermissionsError, UsageError, VaultError
from vault.files import read_small_file
from vault.passphrase import Passphrase

ENV_FILE = "VAULT_PASSPHRASE_FILE"


def read_passphrase(
    file: Path | None, *, confirm: bool = False, prompt: str = "Passphrase"
) -> Passphrase:
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
    return _ask(prompt, confirm=confirm)


def read_new_passphrase(file: Path | None, who: str) -> Passphrase:
    """A new passphrase: the first line of ``file``, else asked twice on the terminal.

    Never ``$VAULT_PASSPHRASE_FILE``: that is the passphrase the vault opens with now.
    """
    if file is not None:
        return _from_file(file)
    if not sys.stdin.isatty():
        raise UsageError(
            f"No new passphrase for {who}: there is no terminal to ask on.",
            hint="use --new-passphrase-file FILE",
        )
    return _ask(f"New passphrase for {who}", confirm=True)


def _ask(prompt: str, *, confirm: bool) -> Passphrase:
    first = Passphrase(getpass.getpass(f"{prompt}: ").encode())
    if confirm and Passphrase(getpass.getpass("Type it again: ").encode()) != first:
        raise UsageError("The two passphrases were different; nothing was changed.")
    return first


def _from_file(file: Path) -> Passphrase:
    try:
        mode = file.stat().st_mode
    except OSError:
        mode = 0  # read_small_file says what is wrong
    private = stat.S_ISREG(mode) or stat.S_ISFIFO(mode)  # a folder: read_small_file says so
    if private and mode & 0o077:
        raise UnsafePermissionsError(
            f"The passphrase file {file} can be read by other users.",
            hint=f"run: chmod 600 '{file}'",
        )
    data = read_small_file(file, "passphrase file", limit=4096, pipes=True)
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not first:
        raise VaultError(f"The passphrase file {file} is empty.")
    return Passphrase(first)


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
