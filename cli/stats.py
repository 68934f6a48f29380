"""`vault stats`: counts of cases for advocacy, small cells hidden (vault/stats.py)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cli import render
from cli.options import (
    DEFAULT_VAULT,
    Caseworker,
    JsonFlag,
    PassFile,
    VaultDir,
    say,
    unlock,
    write_new,
)
from vault import charts, stats
from vault.cases import show_id
from vault.errors import EXIT_INTEGRITY, UsageError, VaultError
from vault.stats import StatsTable


def register(app: typer.Typer) -> None:
    app.command("stats")(stats_command)


def stats_command(
    by: Annotated[
        str,
        typer.Option(
            "--by",
            metavar="F[,F]",
            help=f"Count by one or two of: {', '.join(stats.FIELDS)} (e.g. sector,harm).",
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DATE", help="Only cases received on or after DATE."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="DATE", help="Only cases received on or before DATE."),
    ] = None,
    research: Annotated[
        bool,
        typer.Option("--research", help="Count only reports whose reporter consented to research."),
    ] = False,
    as_json: JsonFlag = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart", metavar="FILE", help="Also draw a chart to a new .svg or .png file."
        ),
    ] = None,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Count cases, safe to publish: counts from 1 to 4 are hidden, and a few larger ones are
    hidden the same way where a small one could otherwise be worked out (docs/statistics.md).

    Opens no report: the counts come from the triage kept beside each case. One access-log
    entry records how many cases were counted.
    """
    fields = stats.parse_by(by)
    first = stats.parse_day(since, "--since")
    last = stats.parse_day(until, "--until")
    if first is not None and last is not None and first > last:
        raise UsageError(f"--since {first} is after --until {last}: no day is in both.")
    if as_json and as_csv:
        raise UsageError("Give one of --json or --csv.")
    fmt = charts.chart_format(chart.name) if chart is not None else None
    if chart is not None and os.path.lexists(chart):  # a link to nowhere is there too
        raise UsageError(f"{chart} already exists: the chart goes to a new file.")
    if chart is not None and not chart.absolute().parent.is_dir():  # before anything is counted
        raise VaultError(f"The folder for {chart} does not exist.")
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        table = stats.count(vault, fields, first, last, research)
    if chart is not None and fmt is not None:
        write_new(chart, charts.draw(table, fmt))
    if as_json:
        render.print_json(table.to_json())
    elif as_csv:
        print(to_csv(table), end="")
    else:
        _table(table)
        if chart is not None:
            say(f"Drew the chart in {chart}.")
    if table.damaged:
        n = len(table.damaged)
        say(
            f"vault: {n} case{'s' if n != 1 else ''} could not be counted (damaged envelope):"
            f" {', '.join(show_id(c) for c in table.damaged)}"
        )
        raise typer.Exit(EXIT_INTEGRITY)


def _value(v: str | None) -> str:
    return "(none)" if v is None else v


def to_csv(table: StatsTable) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*table.by, "count"])
    for c in table.cells:
        writer.writerow([*("" if v is None else v for v in c.values), c.label])
    total = stats.SUPPRESSED_LABEL if table.total is None else str(table.total)
    if table.withheld:
        total = "withheld"  # 5 or more, hidden to protect a cell (docs/statistics.md, rule 4)
    writer.writerow(["total", *([""] * (len(table.by) - 1)), total])
    return out.getvalue()


def _table(table: StatsTable) -> None:
    grid = Table(show_edge=False, header_style="bold")
    if len(table.by) == 1:
        grid.add_column(table.by[0])
        grid.add_column("cases", justify="right")
        for c in table.cells:
            grid.add_row(_value(c.values[0]), Text(c.label))
    else:  # one line per cell: a grid of harms or quarters is wider than a terminal
        grid.add_column(table.by[0])
        grid.add_column(table.by[1])
        grid.add_column("cases", justify="right")
        for c in table.cells:
            if c.count != 0:
                grid.add_row(_value(c.values[0]), _value(c.values[1]), Text(c.label))
    render.out.print(grid)
    total = table.total_label
    who = " consenting to research" if table.research_only else ""
    render.out.print(f"Total: {total} cases{who}.")
    if len(table.by) == 2:
        render.out.print("Combinations not listed have no cases (JSON and CSV list them all).")
    render.out.print(Text(stats.footnote(table)))
    if any(f in stats.MULTI for f in table.by):
        render.out.print("A case can name several harms or wants, so cells add up to more.")
