"""`vault intake serve`: the reporters' form and the sealed inbox."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.render import plain_safe
from vault.errors import UsageError, VaultError
from vault.intake.config import (
    DEFAULT_EMERGENCY,
    DEFAULT_EXIT_URL,
    DEFAULT_HELPLINE,
    IntakeConfig,
)
from vault.keys import is_log_origin

intake_app = typer.Typer(help="The intake: the reporters' form and the sealed inbox.")


@intake_app.callback(no_args_is_help=True)
def _intake() -> None:
    """The intake: the reporters' form and the sealed inbox."""


@intake_app.command("serve")
def serve(
    team_key: Annotated[
        Path,
        typer.Option(
            "--team-key", metavar="FILE", help="The team public key file (vault team-key export)."
        ),
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data", metavar="DIR", help="The inbox directory (created 0700 if missing)."
        ),
    ],
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="The address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", help="The port (0 picks a free one).")
    ] = 8000,
    max_file_mib: Annotated[
        int, typer.Option("--max-file-mib", metavar="MIB", help="Largest attachment, in MiB.")
    ] = 25,
    max_files: Annotated[
        int, typer.Option("--max-files", metavar="N", help="Most attachments on one report.")
    ] = 5,
    pow_bits: Annotated[
        int,
        typer.Option(
            "--pow-bits", metavar="BITS", help="Proof-of-work difficulty for the form's API."
        ),
    ] = 18,
    rate_per_minute: Annotated[
        int,
        typer.Option(
            "--rate-per-minute", metavar="N", help="Reports and uploads taken per minute, from all."
        ),
    ] = 120,
    read_timeout: Annotated[
        int,
        typer.Option(
            "--read-timeout",
            metavar="SECONDS",
            help="Seconds a request body may stall before it is refused (408).",
        ),
    ] = 30,
    helpline: Annotated[
        str,
        typer.Option(
            "--helpline",
            metavar="TEXT",
            help="The sentence the sent page gives for someone to talk to (a helpline).",
        ),
    ] = DEFAULT_HELPLINE,
    emergency: Annotated[
        str,
        typer.Option(
            "--emergency",
            metavar="TEXT",
            help="The sentence the sent page gives for someone in danger now.",
        ),
    ] = DEFAULT_EMERGENCY,
    reply_days: Annotated[
        int,
        typer.Option(
            "--reply-days",
            metavar="DAYS",
            help="Working days within which a caseworker reads a report (the sent page).",
        ),
    ] = 5,
    exit_url: Annotated[
        str,
        typer.Option(
            "--exit-url",
            metavar="URL",
            help="The neutral page 'Exit this page' goes to (default: a weather page).",
        ),
    ] = DEFAULT_EXIT_URL,
) -> None:
    """Serve the report form and its API; it holds the team public key only."""
    config = IntakeConfig(
        team_key_file=team_key,
        data_dir=data,
        host=host,
        port=port,
        max_file_mib=max_file_mib,
        max_files=max_files,
        pow_bits=pow_bits,
        rate_per_minute=rate_per_minute,
        read_timeout=read_timeout,
        helpline=helpline,
        emergency=emergency,
        reply_days=reply_days,
        exit_url=exit_url,
    )

    def announce(url: str) -> None:
        print(f"Redress intake: {url}", flush=True)  # the first line: scripts read the URL

    def details(lines: list[str]) -> None:
        # The key file's names are text from a file: never let them drive the terminal.
        for line in lines:
            print(plain_safe(line), flush=True)

    from vault.intake.server import serve as serve_intake  # web stack only when serving

    with contextlib.suppress(KeyboardInterrupt):
        serve_intake(config, announce, details)
    print("Intake stopped.", file=sys.stderr, flush=True)


@intake_app.command("forget-log")
def forget_log(
    data: Annotated[
        Path, typer.Option("--data", metavar="DIR", help="The intake's inbox directory.")
    ],
    origin: Annotated[
        str,
        typer.Option(
            "--origin",
            metavar="ORIGIN",
            help="The vault log's origin (log_origin in the team key file).",
        ),
    ],
) -> None:
    """Make the witness forget what it cosigned for one vault's access log.

    Only after a vault was restored from a backup, its caseworkers have told the auditors,
    and they have the restored vault's audit bundle: the witness then cosigns the restored
    log as if new. Run it with the intake stopped.
    """
    from vault.intake.inbox import DB_FILE, Inbox  # the inbox opens SQLCipher: only when asked

    if not is_log_origin(origin):
        raise UsageError(
            f"{origin!r} is not a log origin.",
            hint="give the log_origin of the vault's team key file (vault.redress/...)",
        )
    if not (data / DB_FILE).is_file():  # a mistyped DIR must not become a new, empty intake
        raise VaultError(
            f"There is no intake inbox in {data}.", hint="give the --data DIR the intake serves"
        )
    with Inbox.open(data) as inbox:
        size = inbox.witness_forget(origin)
    if size == 0:
        print(plain_safe(f"The witness had cosigned nothing for {origin}."), file=sys.stderr)
    else:
        print(
            plain_safe(f"The witness forgot the {size} entries it had cosigned for {origin}."),
            file=sys.stderr,
        )
