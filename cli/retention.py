"""`vault retention [set|apply]` and `vault cases erase`: what the team keeps, and for how long
(vault/retention.py, vault/erasure.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli import render
from cli.options import (
    DEFAULT_VAULT,
    CaseId,
    Caseworker,
    JsonFlag,
    PassFile,
    VaultDir,
    say,
    unlock,
)
from vault import erasure, retention
from vault.cases import show_id
from vault.errors import UsageError

retention_app = typer.Typer(
    help="How long cases are kept: the policy, what it makes due, and erasing it.",
    invoke_without_command=True,
)

EraseAfter = Annotated[
    str | None,
    typer.Option(
        "--erase-closed-after",
        metavar="MONTHS",
        help="Erase closed cases this many whole months after they were closed, or never.",
        show_default=False,
    ),
]
FlagAfter = Annotated[
    str | None,
    typer.Option(
        "--flag-untouched-after",
        metavar="MONTHS",
        help="Flag cases nobody has touched for this many whole months, or never.",
        show_default=False,
    ),
]


def register(app: typer.Typer, cases_app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
    cases_app.command("erase")(cases_erase)


def cases_erase(
    case: CaseId,
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            metavar="R",
            help="Why, in a few plain words: withdrawn, retention, requested, duplicate,"
            " mistake... Never names or report content.",
            show_default=False,
        ),
    ],
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Erase a case for good: its report, notes, replies and attachments, and everything
    derived from them. A tombstone (id, dates, outcome, reason) and its access-log entries
    stay. It cannot be undone, and a case already erased is refused. Backups made before
    still hold the case (keys/README.md).
    """
    erasure.check_reason(reason)  # refused before the passphrase is asked
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        done = erasure.erase_case(vault, case, reason)
    gone = done.tombstones[0]
    if as_json:
        render.print_json(gone.to_json())
    say(f"Erased case {show_id(gone.id)} (reason: {gone.reason}); its tombstone stays.")
    _wal_note(done)


def _wal_note(done: erasure.Erasure) -> None:
    if not done.wal_emptied:
        say(
            "Another vault command was reading: the erased pages leave the database's"
            " write-ahead file when it finishes."
        )


@retention_app.callback()
def retention_show(
    ctx: typer.Context,
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Show the retention policy, the closed cases it makes due for erasure and the cases
    flagged as untouched. Nothing is opened or changed. See docs/retention.md.
    """
    if ctx.invoked_subcommand is not None:
        return
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        found = retention.review(vault)
    if as_json:
        render.print_json(found.to_json())
        return
    _show(found)


def _show(found: retention.Retention) -> None:
    rule = found.policy
    out = render.out
    if rule is None:
        out.print("No retention policy is set: nothing is erased or flagged by age.")
        out.print("Set one: vault retention set --erase-closed-after MONTHS"
                  " --flag-untouched-after MONTHS")  # fmt: skip
    else:
        erase = rule.erase_closed_after
        flag = rule.flag_untouched_after
        out.print(
            f"Policy (set by {render.plain_safe(rule.set_by)} on {rule.set_on}):"
            f" erase closed cases {f'{erase} months after closing' if erase else 'never'};"
            f" flag untouched cases {f'after {flag} months' if flag else 'never'}."
        )
    if found.due:
        table = Table(title="Due for erasure", show_edge=False, header_style="bold")
        table.add_column("id", no_wrap=True, min_width=render.ID_WIDTH)
        for column in ("received", "closed", "outcome", "due"):
            table.add_column(column)
        for d in found.due:
            table.add_row(show_id(d.id), d.received, d.closed, d.outcome or "-", d.due)
        out.print(table)
        out.print(f"{len(found.due)} due: vault retention apply erases them.")
    elif rule is not None:
        out.print("No case is due for erasure.")
    if found.flagged:
        table = Table(title="Untouched", show_edge=False, header_style="bold")
        table.add_column("id", no_wrap=True, min_width=render.ID_WIDTH)
        for column in ("status", "assignee", "last touched", "flagged since"):
            table.add_column(column)
        for f in found.flagged:
            table.add_row(
                show_id(f.id),
                f.status,
                render.safe(f.assignee or "-"),
                f.last_touched,
                f.flagged_since,
            )
        out.print(table)
    out.print(f"{found.erased} case{'s' if found.erased != 1 else ''} erased so far.")


@retention_app.command("set")
def retention_set(
    erase_closed_after: EraseAfter = None,
    flag_untouched_after: FlagAfter = None,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Set the retention policy, signed by you and logged. A rule left out stays as it was;
    "never" turns it off. Nothing is erased until vault retention apply.
    """
    erase: retention.Months | retention.Keep = retention.KEEP
    flag: retention.Months | retention.Keep = retention.KEEP
    if erase_closed_after is not None:
        erase = retention.parse_months(erase_closed_after, "--erase-closed-after")
    if flag_untouched_after is not None:
        flag = retention.parse_months(flag_untouched_after, "--flag-untouched-after")
    if isinstance(erase, retention.Keep) and isinstance(flag, retention.Keep):
        raise UsageError(
            "Say what to change: --erase-closed-after MONTHS and/or --flag-untouched-after MONTHS."
        )
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        rule = retention.set_policy(vault, erase, flag)
    e, f = rule.erase_closed_after, rule.flag_untouched_after
    say(
        "Retention policy set: erase closed cases"
        f" {f'{e} months after closing' if e else 'never'};"
        f" flag untouched cases {f'after {f} months' if f else 'never'}."
    )


@retention_app.command("apply")
def retention_apply(
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Erase every closed case the policy makes due (reason: retention), each for good, as
    vault cases erase does. vault retention shows them first.
    """
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        done = retention.apply(vault)
    if as_json:
        render.print_json([t.to_json() for t in done.tombstones])
    n = len(done.tombstones)
    if n:
        ids = ", ".join(show_id(t.id) for t in done.tombstones)
        say(f"Erased {n} case{'s' if n != 1 else ''}: {ids}.")
    else:
        say("No case is due for erasure.")
    _wal_note(done)
