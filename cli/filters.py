"""The options that choose cases, shared by `vault cases list` and `vault cases search`
(and any command that reads across cases): each is checked by vault/triage.py."""

from __future__ import annotations

from typing import Annotated

import typer

from vault.db import OUTCOMES, STATUSES
from vault.report import HARMS, SECTORS, WANTS

Status = Annotated[
    str | None,
    typer.Option(
        "--status", metavar="STATUS", help=f"Only cases in this status: {', '.join(STATUSES)}."
    ),
]
Assignee = Annotated[
    str | None,
    typer.Option(
        "--assignee",
        metavar="NAME",
        help="Only cases assigned to NAME; me for yours, nobody for unassigned ones.",
    ),
]
Sector = Annotated[
    str | None,
    typer.Option("--sector", metavar="SECTOR", help=f"Only this sector: {', '.join(SECTORS)}."),
]
Harm = Annotated[
    str | None,
    typer.Option("--harm", metavar="HARM", help=f"Only reports of this harm: {', '.join(HARMS)}."),
]
Wants = Annotated[
    str | None,
    typer.Option(
        "--wants",
        metavar="WANT",
        help=f"Only reporters who want this: {', '.join(WANTS)}.",
    ),
]
Outcome = Annotated[
    str | None,
    typer.Option(
        "--outcome", metavar="OUTCOME", help=f"Only cases closed so: {', '.join(OUTCOMES)}."
    ),
]
Since = Annotated[
    str | None,
    typer.Option(
        "--since", metavar="DATE", help="Only cases received on or after DATE (YYYY-MM-DD)."
    ),
]
Until = Annotated[
    str | None,
    typer.Option(
        "--until", metavar="DATE", help="Only cases received on or before DATE (YYYY-MM-DD)."
    ),
]
