"""`vault patterns`: groups of cases naming the same professional (vault/patterns.py)."""

from __future__ import annotations

import typer
from rich.table import Table

from cli import render
from cli.options import (
    DEFAULT_VAULT,
    Caseworker,
    JsonFlag,
    PassFile,
    VaultDir,
    count,
    say,
    unlock,
)
from vault.cases import show_id
from vault.errors import EXIT_INTEGRITY
from vault.patterns import Patterns, find_patterns


def register(app: typer.Typer) -> None:
    app.command("patterns")(patterns)


def patterns(
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Groups of two or more cases that name the same professional.

    Found in the vault's index of who each report names; only the cases in a group are opened,
    in memory, to show who (nothing is written but one access-log entry, which records how many
    cases were read, never what was found). "same": the same GMC, NMC, HCPC or
    Social Work England number, or a police number with its force; "possible": the same
    name, or the same organisation with the same role. The rules are in docs/patterns.md.
    """
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        found = find_patterns(vault)
    if as_json:
        render.print_json_lines([g.to_json() for g in found.groups])
    else:
        _table(found)
    if found.damaged:
        n = len(found.damaged)
        say(
            f"vault: {n} case{'s' if n != 1 else ''} could not be read (damaged envelope):"
            f" {', '.join(show_id(c) for c in found.damaged)}"
        )
        raise typer.Exit(EXIT_INTEGRITY)


def _table(found: Patterns) -> None:
    if not found.groups:
        indexed = count(found.indexed, "case")
        render.out.print(f"No professional is named in more than one case ({indexed}).")
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("strength", "kind", "identifier"):
        table.add_column(column)
    table.add_column("cases", min_width=len("99: ") + render.ID_WIDTH)  # an id is never cut
    for g in found.groups:
        table.add_row(
            "same" if g.strength == "same" else "possible",
            g.kind,
            render.safe(g.identifier),
            f"{len(g.cases)}: " + ", ".join(show_id(c) for c in g.cases),
        )
    render.out.print(table)
    same = sum(1 for g in found.groups if g.strength == "same")
    render.out.print(
        f"{count(len(found.groups), 'group')} in {count(found.indexed, 'case')}:"
        f" {same} the same professional,"
        f" {len(found.groups) - same} possibly the same."
    )
