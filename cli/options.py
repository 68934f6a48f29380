"""Options and helpers every `vault` command module shares."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from cli.passphrase import read_passphrase
from cli.render import plain_safe
from vault.errors import UsageError
from vault.files import write_new_file
from vault.store import Vault

VaultDir = Annotated[
    Path,
    typer.Option(
        "--vault", metavar="DIR", envvar="VAULT_DIR", help="The vault directory.", show_default=True
    ),
]
PassFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        metavar="FILE",
        help="Read the passphrase from the first line of FILE (or set VAULT_PASSPHRASE_FILE).",
    ),
]
Caseworker = Annotated[
    str | None,
    typer.Option(
        "--as",
        metavar="NAME",
        envvar="VAULT_CASEWORKER",
        help="Which caseworker you are, if the vault has several.",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
CaseId = Annotated[
    str, typer.Argument(metavar="ID", help="The case id, e.g. 7KQ2-M9XD (a unique start will do).")
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", metavar="FILE", help="The new file to write (never overwritten); or give FILE."
    ),
]
DEFAULT_VAULT = Path("vault-data")
GLOBAL_OPTIONS = ("--vault", "--passphrase-file", "--as")


def global_options_last(argv: list[str]) -> list[str]:
    """``argv`` with the global options given before the command's name moved after it, so
    that ``vault --vault DIR cases list`` is ``vault cases list --vault DIR`` (each command
    that opens a vault declares the options itself). Given before no command's name (``vault
    --vault DIR --help``), they are left out: there is no command to take them."""
    leading: list[str] = []
    at = 0
    while at < len(argv):
        word = argv[at]
        if word in GLOBAL_OPTIONS and at + 1 < len(argv):
            leading += argv[at : at + 2]
            at += 2
        elif word.partition("=")[0] in GLOBAL_OPTIONS and "=" in word:
            leading.append(word)
            at += 1
        else:
            break
    if not leading:
        return argv
    rest = argv[at:]
    if not rest or rest[0].startswith("-"):  # no command's name: `vault --vault DIR --help`
        return rest  # is `vault --help` (no command takes them here)
    end = rest.index("--") if "--" in rest else len(rest)  # options go before a bare "--"
    return rest[:end] + leading + rest[end:]


def out_file(file: Path | None, out: Path | None) -> Path:
    """The output file, given as the contract's FILE or as ``--out FILE`` (not both)."""
    if file is not None and out is not None and file != out:
        raise UsageError("Give the file to write once: as FILE or as --out FILE.")
    path = out if out is not None else file
    if path is None:
        raise UsageError("Say which new file to write: FILE or --out FILE.")
    return path


class _PlainArgument(TyperArgument):
    """An argument whose help shows its metavar (FILE, NAME ...): no Python type, no range such
    as ``[x>=1]``, and no braces around a required one on the usage line."""

    def display_type_rich(self, ctx: object) -> str | None:
        return None

    def _get_number_range_help_str(self) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.metavar or (self.name or "value").upper()
        name = name if self.required else f"[{name}]"
        return f"{name}..." if self.nargs != 1 else name


class _PlainOption(TyperOption):
    """An option whose help says what it takes (its help text does), not ``[x>=1]``."""

    def _get_number_range_help_str(self) -> str | None:
        return None


def plain_metavars(command: object) -> None:
    """Help that says FILE, DIR, N or NAME, never Python type names such as ``<bool>``.

    Options and arguments name their metavar where they are declared; this gives the rest
    (new ones included) a plain one: nothing for a flag (``--help`` too), else the
    parameter's name in capitals; arguments show no type beside their name. Walks the
    whole command tree.
    """
    if not isinstance(command, TyperCommand | TyperGroup):
        return
    if command.help:
        command.help = _reflowed(command.help)
    with typer.Context(command) as ctx:
        params = command.get_params(ctx)  # the help option included
    for param in params:
        if type(param) is TyperArgument:
            param.__class__ = _PlainArgument  # typer shows an argument's type beside its name
        elif type(param) is TyperOption:
            param.__class__ = _PlainOption
        if param.metavar is not None:
            continue
        if isinstance(param, TyperOption) and param.is_flag:
            param.metavar = ""
        else:
            name = (param.name or "value").upper()
            param.metavar = f"{name}..." if param.nargs != 1 else name
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            plain_metavars(sub)


def _reflowed(text: str) -> str:
    """Help paragraphs as flowing text, so the terminal wraps them once (typer keeps a
    docstring's own line breaks). A paragraph of list items or indented lines is kept."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    kept = ("-", "*", " ", "\b", "$")
    return "\n\n".join(
        p if any(line.startswith(kept) for line in p.splitlines()) else p.replace("\n", " ")
        for p in paragraphs
    )


def count(n: int, thing: str) -> str:
    """``n`` things, in words: "1 case", "2 cases"."""
    return f"{n} {thing}{'' if n == 1 else 's'}"


def say(message: str) -> None:
    """A line for the caseworker on stderr; text from outside can never drive the terminal."""
    print(plain_safe(message), file=sys.stderr)


def unlock(vault_dir: Path, passphrase_file: Path | None, caseworker: str | None) -> Vault:
    return Vault.unlock(vault_dir, read_passphrase(passphrase_file), caseworker)


def write_new(path: Path, data: bytes) -> None:
    write_new_file(path, data)
