"""`vault alerts draft|list|show|approve|export`: anonymised safety alerts (vault/alerts.py)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli import render
from cli.options import DEFAULT_VAULT, Caseworker, JsonFlag, PassFile, VaultDir, say, unlock
from cli.passphrase import read_text_argument
from vault import alert_index, alerts
from vault.areas import month_words
from vault.cases import show_id
from vault.errors import UsageError, VaultError
from vault.identifying import Flag

alerts_app = typer.Typer(
    help="Anonymised safety alerts: draft from a case, approve, export, list.",
    no_args_is_help=True,
)

AlertId = Annotated[
    str, typer.Argument(metavar="ALERT", help="The alert id, e.g. 7KQ2-M9XD (a unique start).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")


@alerts_app.command("draft")
def alerts_draft(
    case: Annotated[str, typer.Argument(metavar="CASE", help="The case id.")],
    text: Annotated[
        str | None,
        typer.Option(
            "--text",
            metavar="TEXT",
            help="The draft itself; - reads it from stdin. Without it, $VISUAL or $EDITOR"
            " opens a draft filled in from the case.",
        ),
    ] = None,
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Draft a safety alert from a case whose reporter consented to one (or re-draft it).

    The draft may start with lines "Sector:", "Role:", "Area:" (a town or region), "Month:"
    (YYYY-MM) and "Harms:"; the rest is what happened, in your words. Contacts, codenames,
    emails and phone numbers are removed at once; names, postcodes, dates and the report's
    rare words are flagged for approval (docs/alerts.md). The draft is sealed in the vault.
    """
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        if text is not None:
            typed = read_text_argument(text, "alert (fields, then what happened)")
            alert = alerts.draft(vault, case, typed)
        else:
            command = _editor()
            start = alerts.start_draft(vault, case, for_editor=True)
            typed = alerts.edit_draft(vault, start, lambda path: _run_editor(command, path))
            alert = alerts.save_draft(vault, start, typed)
        approver = (
            "Another caseworker approves it" if alert_index.team_size(vault) > 1 else "Approve it"
        )
    if as_json:
        render.print_json(alert.to_json(content=True))
    else:
        _show(alert)
    n = alert.open_flags
    next_step = (
        f"{n} flag{'s' if n != 1 else ''} to resolve: re-draft, or approve with --override REASON"
        if n
        else "no open flags"
    )
    say(
        f"Drafted alert {show_id(alert.id)} for case {show_id(alert.case)}; {next_step}."
        f" {approver}: vault alerts approve {show_id(alert.id)}"
    )


def _editor() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise UsageError(
            "No editor is set ($VISUAL or $EDITOR).",
            hint="set EDITOR, or give the draft with --text - (read from stdin)",
        )
    return shlex.split(editor)


def _run_editor(command: list[str], path: Path) -> None:
    try:
        result = subprocess.run([*command, str(path)], check=False)
    except OSError:
        raise VaultError(f"The editor {command[0]} could not be started.") from None
    if result.returncode != 0:
        raise VaultError("The editor stopped with an error: nothing was drafted.")


@alerts_app.command("list")
def alerts_list(
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Every alert: its case, state (draft, approved, exported) and flags.

    The alerts are opened to show their flags; the access log records one entry naming the
    cases whose alerts were read.
    """
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        found = alerts.list_alerts(vault)
    if as_json:
        render.print_json_lines([a.to_json() for a in found])
        return
    if not found:
        render.out.print("No alerts.")
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("alert", "case"):  # ids: never cut short
        table.add_column(column, no_wrap=True, min_width=render.ID_WIDTH)
    table.add_column("state", min_width=len("exported"))
    for column in ("drafted", "by", "approved by", "flags"):
        table.add_column(column)
    for a in found:
        table.add_row(
            show_id(a.id),
            show_id(a.case),
            a.state,
            a.drafted,
            render.safe(a.drafted_by),
            render.safe(a.approved_by or "-"),
            _flag_summary(a.flags),
        )
    render.out.print(table)


def _flag_summary(flags: tuple[Flag, ...]) -> str:
    counts: dict[str, int] = {}
    for f in flags:
        counts[f.state] = counts.get(f.state, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"


@alerts_app.command("show")
def alerts_show(
    alert: AlertId,
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Show one alert's text and flags (to read it before approving). Logged as opening the
    case."""
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        found = alerts.show_alert(vault, alert)
    if as_json:
        render.print_json(found.to_json(content=True))
    else:
        _show(found)


@alerts_app.command("approve")
def alerts_approve(
    alert: AlertId,
    override: Annotated[
        str | None,
        typer.Option(
            "--override",
            metavar="REASON",
            help="Approve although flags are open, for this reason (sealed in the vault).",
        ),
    ] = None,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Approve an alert. In a team of more than one, someone other than its drafter must."""
    alerts.override_reason(override)  # a bad reason is bad usage, before the passphrase
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        found = alerts.approve(vault, alert, override)
    said = (
        " (open flags overridden)"
        if override and any(f.state == "overridden" for f in found.flags)
        else ""
    )
    say(
        f"Approved alert {show_id(found.id)}{said}."
        f" Next: vault alerts export {show_id(found.id)} --out FILE"
    )


@alerts_app.command("export")
def alerts_export(
    alert: AlertId,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="FILE",
            help="The plain-text file to write; the JSON goes beside it as .json (both new).",
            show_default=False,
        ),
    ],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Write an approved alert for the charity's alerting system: plain text and JSON.

    FILE gets the plain text and FILE with the suffix .json the JSON (given a FILE ending in
    .json, the text goes beside it as .txt). Neither may exist yet. The export is logged.
    """
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        found, text_path, json_path = alerts.export(vault, alert, out)
    say(f"Wrote alert {show_id(found.id)} to {text_path} and {json_path}.")


def _show(alert: alerts.Alert) -> None:
    c = alert.content
    render.out.print(
        f"Alert {show_id(alert.id)} (case {show_id(alert.case)}): {alert.state},"
        f" drafted by {alert.drafted_by} on {alert.drafted}"
        + (f", approved by {alert.approved_by}" if alert.approved_by else "")
    )
    for label, value in (
        ("Sector", c.sector),
        ("Role", c.role),
        ("Area", c.area or "not given"),
        ("Month", month_words(c.month)),
        ("Harms", ", ".join(c.harms)),
    ):
        render.out.print(render.safe(f"{label}: {value}"))
    render.out.print()
    render.out.print(render.safe(c.text), soft_wrap=True)
    render.out.print()
    if not alert.flags:
        render.out.print("Flags: none.")
        return
    table = Table(show_edge=False, header_style="bold", title="Flags")
    for column in ("state", "kind", "text"):
        table.add_column(column)
    for f in alert.flags:
        table.add_row(f.state, f.kind, render.safe(f.text))
    render.out.print(table)
