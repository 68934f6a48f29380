"""`vault`: one command for the casework team. Parses, calls the library, renders.

Every error the library raises is a :class:`vault.errors.VaultError` carrying
the sentence to show; :func:`main` is the one place that prints it and picks
the exit code. Nothing here prints a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from cli import render
from cli.passphrase import read_passphrase
from vault.cases import show_id
from vault.db import OUTCOMES, STATUSES
from vault.envelope import MAX_ENVELOPE, seal_report
from vault.errors import EXIT_FAILED, UsageError, VaultError
from vault.files import create_private_file, read_small_file
from vault.keys import TeamPublicKey
from vault.report import parse_report
from vault.store import Vault

app = typer.Typer(
    help="Redress: the casework team's encrypted report vault.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cases_app = typer.Typer(
    help="Work on cases: list, show, note, assign, status, close.", no_args_is_help=True
)
team_key_app = typer.Typer(help="The team key that reporters seal to.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")
app.add_typer(team_key_app, name="team-key")

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


def _unlock(vault_dir: Path, passphrase_file: Path | None, caseworker: str | None) -> Vault:
    return Vault.unlock(vault_dir, read_passphrase(passphrase_file), caseworker)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


@app.command()
def init(
    name: Annotated[
        str, typer.Option("--name", help="Your name as a caseworker (letters, digits, - _ .).")
    ],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
) -> None:
    """Create a new vault: the first team key and your caseworker identity."""
    passphrase = read_passphrase(passphrase_file, confirm=True, prompt="Choose a passphrase")
    with Vault.create(vault_dir, name, passphrase) as vault:
        key = vault.team_public_key()
    _say(f"Created a vault in {vault_dir} for {vault.identity.name}.")
    _say(f"Team key epoch {key.epoch}, fingerprint {key.fingerprint}")
    _say("Next: vault team-key export team-key.json")


@team_key_app.command("export")
def team_key_export(
    file: Annotated[Path, typer.Argument(help="Where to write the team public key.")],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Write the team public key (with epoch and fingerprint) for the intake and for submit."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        key = vault.team_key_export()
    _write_new(file, key.to_file_bytes())
    _say(f"Wrote team key epoch {key.epoch} to {file}; fingerprint {key.fingerprint}")


@app.command()
def submit(
    team_key: Annotated[Path, typer.Option("--team-key", help="The team public key file.")],
    out: Annotated[Path, typer.Option("--out", help="Write the sealed envelope to this new file.")],
    report_file: Annotated[
        Path | None, typer.Argument(help="The report as JSON; read from stdin if left out.")
    ] = None,
) -> None:
    """Seal a report to the team key and write the envelope to a file."""
    key = TeamPublicKey.from_file_bytes(read_small_file(team_key, "team key file", limit=64 * 1024))
    if report_file is None:
        data = sys.stdin.buffer.read(MAX_ENVELOPE + 1)
    else:
        data = read_small_file(report_file, "report file", limit=MAX_ENVELOPE)
    report = parse_report(data)
    _write_new(out, seal_report(report, key.epoch, key.public_key))
    _say(f"Sealed the report to team key epoch {key.epoch} in {out}")


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="Envelope files to take in.")],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Take sealed envelopes from files into the vault (each is stored once)."""
    problems: list[tuple[str, VaultError]] = []

    def envelopes() -> object:
        for path in files:
            try:
                yield str(path), read_small_file(path, "envelope", limit=MAX_ENVELOPE)
            except VaultError as e:
                problems.append((str(path), e))

    def progress(stored: int, duplicates: int) -> None:
        _say(f"… {stored} stored so far")

    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        result = vault.import_envelopes(envelopes(), progress)  # type: ignore[arg-type]
    problems += result.failures
    for label, error in problems:
        _say(f"vault: {label}: {error}")
    dup = f", {result.duplicates} already in the vault" if result.duplicates else ""
    _say(
        f"Imported {len(result.imported)} new case{'s' if len(result.imported) != 1 else ''}{dup}."
    )
    for case_id in result.imported[:20]:
        print(show_id(case_id))
    if problems:
        raise typer.Exit(max(e.exit_code for _, e in problems))


@cases_app.command("list")
def cases_list(
    status: Annotated[
        str | None,
        typer.Option("--status", help=f"Only cases in this status: {', '.join(STATUSES)}."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="How many to show (people's view).")
    ] = 50,
    show_all: Annotated[bool, typer.Option("--all", help="Show every case.")] = False,
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Cases, newest first, without decrypting anything."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        if as_json:
            render.print_json([c.to_json() for c in vault.list_cases(status)])
            return
        shown = vault.list_cases(status, None if show_all else limit)
        total = vault.count_cases(status)
    render.case_table(shown, total)


@cases_app.command("show")
def cases_show(
    case: CaseId,
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Decrypt and show one case, with its notes and history (the opening is logged)."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        view = vault.show_case(case)
    if as_json:
        render.print_json(view.to_json())
    else:
        render.case_view(view)


@cases_app.command("note")
def cases_note(
    case: CaseId,
    text: Annotated[str, typer.Argument(help="The note; it is sealed and signed by you.")],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Add a sealed, signed note to a case."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        case_id = vault.add_note(case, text)
    _say(f"Added a note to case {show_id(case_id)}.")


@cases_app.command("assign")
def cases_assign(
    case: CaseId,
    name: Annotated[str, typer.Argument(help="The caseworker to assign it to.")],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Assign a case to a caseworker."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        case_id = vault.assign(case, name)
    _say(f"Case {show_id(case_id)} is assigned to {name}.")


@cases_app.command("status")
def cases_status(
    case: CaseId,
    status: Annotated[str, typer.Argument(help=f"One of: {', '.join(STATUSES)}.")],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Move a case to another status."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        case_id = vault.set_status(case, status)
    _say(f"Case {show_id(case_id)} is now {status}.")


@cases_app.command("close")
def cases_close(
    case: CaseId,
    outcome: Annotated[str, typer.Option("--outcome", help=f"One of: {', '.join(OUTCOMES)}.")],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Close a case with its outcome."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        case_id = vault.close_case(case, outcome)
    _say(f"Closed case {show_id(case_id)}: {outcome}.")


def _write_new(path: Path, data: bytes) -> None:
    try:
        create_private_file(path, data)
    except FileExistsError:
        raise VaultError(f"{path} already exists; choose another name.") from None
    except FileNotFoundError:
        raise VaultError(f"The folder for {path} does not exist.") from None
    except PermissionError:
        raise VaultError(f"This account may not write {path}.") from None


def main(argv: list[str] | None = None) -> NoReturn:
    """The one place errors become a line on stderr and an exit code."""
    os.umask(0o077)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="vault", standalone_mode=False)
    except VaultError as e:
        _say(f"vault: {e}")
        if e.hint:
            _say(f"hint: {e.hint}")
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.TyperException as e:
        # Click's usage errors, shown in our one-line form with a hint.
        message = e.format_message()
        if not message:  # `vault` alone: the help was shown
            sys.exit(e.exit_code)
        _say(f"vault: {message}")
        ctx = getattr(e, "ctx", None)
        if ctx is not None:
            _say(f"hint: see {ctx.command_path} --help")
        sys.exit(e.exit_code)
    except typer.Abort:
        _say("vault: stopped; nothing was changed.")
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        _say("vault: interrupted.")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_FAILED)
    except Exception as e:
        # Only the type: an exception's text could carry report content.
        _say(f"vault: unexpected internal error ({type(e).__name__}); nothing more was changed.")
        _say("hint: please tell the Redress maintainers what you ran (not what the report said)")
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["UsageError", "app", "main"]
