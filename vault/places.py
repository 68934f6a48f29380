"""Where vaults are. A vault folder is one that holds ``vault.db`` and ``caseworkers/``.

A vault inside another vault's folder would be copied, backed up and permission-checked as
part of the outer one, and confuses everyone who opens either: :func:`check_new_vault_place`
refuses a new vault inside a vault, or in a folder that holds one. :func:`no_vault_hint`
is what to tell someone who ran a command where there is no vault.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

from vault.errors import UsageError, VaultExistsError

# The same names as vault.store's DB_FILE and CASEWORKERS_DIR (tests/vault/test_places.py checks).
DB_FILE = "vault.db"
CASEWORKERS_DIR = "caseworkers"
REQUEST_FILE = "join.request"  # what vault join leaves in the folder until its first sync
#: How far below a new vault's folder to look for a vault, in folders and levels.
SEARCH_FOLDERS = 2000
SEARCH_DEPTH = 4


def is_vault(path: Path) -> bool:
    """Whether ``path`` is a vault folder."""
    return (path / DB_FILE).is_file() and (path / CASEWORKERS_DIR).is_dir()


def enclosing_vault(path: Path) -> Path | None:
    """The vault folder that is ``path`` or holds it (looking upwards), if any."""
    start = path.resolve()
    for folder in (start, *start.parents):
        if is_vault(folder):
            return folder
    return None


def vault_beneath(path: Path) -> Path | None:
    """A vault folder somewhere below ``path``: breadth first, bounded, no symbolic links."""
    queue: deque[tuple[Path, int]] = deque([(path, 0)])
    seen = 0
    while queue and seen < SEARCH_FOLDERS:
        folder, depth = queue.popleft()
        seen += 1
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            child = Path(entry.path)
            if is_vault(child):
                return child
            if depth + 1 < SEARCH_DEPTH:
                queue.append((child, depth + 1))
    return None


def check_new_vault_place(directory: Path) -> None:
    """Refuse to make a vault in a vault, inside one, or in a folder that holds one."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is a file, not a folder: choose a folder for the vault.")
    if is_vault(directory):
        raise VaultExistsError(f"There is already a vault in {directory}.")
    if (directory / REQUEST_FILE).is_file():
        raise VaultExistsError(
            f"{directory} is joining a team (vault join made it): its vault is made by its"
            " first vault sync, not by vault init.",
            hint="once a colleague has added you, run vault sync --from URL; to start a new"
            " team instead, choose another folder (--vault DIR)",
        )
    outer = enclosing_vault(directory.parent)
    if outer is not None:
        raise VaultExistsError(
            f"{directory} is inside the vault in {_shown(outer)}; a vault cannot hold another.",
            hint=f"to use that vault, run from outside it or give --vault {_shown(outer)}",
        )
    inner = vault_beneath(directory) if directory.is_dir() else None
    if inner is not None:
        raise VaultExistsError(
            f"{directory} already holds a vault, in {inner}; a vault cannot hold another.",
            hint=f"to use that vault, give --vault {inner}",
        )


def no_vault_hint(directory: Path) -> str:
    """The hint for "there is no vault in ``directory``": ``--vault`` when one is around us."""
    if (directory / REQUEST_FILE).is_file():
        return (
            "this folder is joining a team: its vault is made by its first"
            " vault sync --from URL, once a colleague has added you"
        )
    outer = enclosing_vault(directory)
    if outer is None and directory.absolute().parent == Path.cwd().absolute():
        # the default ./vault-data, or a name given here: is the caseworker inside a vault?
        outer = enclosing_vault(Path.cwd())
    if outer is not None and outer == Path.cwd().resolve():
        return "this folder is a vault: run vault from the folder above it, or give --vault ."
    if outer is not None:
        return (
            f"this folder is inside the vault in {_shown(outer)}: run vault from outside it,"
            f" or give --vault {_shown(outer)}"
        )
    return "make one with: vault init --name NAME"


def _shown(folder: Path) -> str:
    """``folder`` as the caseworker would type it from here: relative when that is shorter."""
    try:
        relative = os.path.relpath(folder)
    except ValueError:
        return str(folder)
    return relative if len(relative) < len(str(folder)) else str(folder)


__all__ = ["check_new_vault_place", "enclosing_vault", "is_vault", "no_vault_hint"]
