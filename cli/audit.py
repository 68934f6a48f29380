"""`vault audit` and `vault auditor`: the access log for the people who check it.

``vault audit verify`` needs no vault and no passphrase: an auditor runs it on
their own machine with the bundle a caseworker gave them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli import render
from cli.options import (
    DEFAULT_VAULT,
    Caseworker,
    JsonFlag,
    OutOption,
    PassFile,
    VaultDir,
    out_file,
    unlock,
    write_new,
)
from cli.options import say as _say
from vault import team_clock, team_logs
from vault.audit.bundle import FORMATS, TEAM_VERSION
from vault.audit.team_verify import STALE_DAYS, Laptop, TeamVerified, verify_team
from vault.audit.verify import Verified, verify
from vault.audit_export import write as write_audit_bundle
from vault.auditors import add_auditor, make_auditor_key, registered_auditors
from vault.files import read_small_file

audit_app = typer.Typer(
    help="The access log: export it for auditors, and verify an export offline.",
    no_args_is_help=True,
)
auditor_app = typer.Typer(help="Auditors: people who check the access log.", no_args_is_help=True)

MAX_BUNDLE = 1 << 30
TEAM_MAGIC = FORMATS[TEAM_VERSION].encode() + b"\n"


@audit_app.command("export")
def audit_export(
    file: Annotated[
        Path | None,
        typer.Argument(metavar="FILE", help="Where to write the audit bundle (a new file)."),
    ] = None,
    out: OutOption = None,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Write the whole access log, its signed checkpoints and the public keys, for auditors.

    The bundle holds who did what to which case and when, never what a case says.
    """
    file = out_file(file, out)
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        write_audit_bundle(vault, file)
        missing = team_logs.missing_logs(vault)
        short = team_logs.short_removed_logs(vault)
        left = team_clock.left_team(vault.db) is not None
    _say(f"Wrote the audit bundle to {file}. Give it to your auditor; it opens no report.")
    if missing and left:
        _say(
            f"The log of {', '.join(missing)}'s laptop has not reached this laptop, so the"
            f" bundle will not verify. {team_clock.LEFT_SAID}, so it never will: export from"
            " a laptop that syncs."
        )
    elif missing:
        _say(
            f"The log of {', '.join(missing)}'s laptop has not reached this laptop yet, so the"
            " bundle will not verify: sync on their laptop, then here, and export again."
        )
    for name, held, elsewhere in short:
        _say(
            f"The log of {name}'s laptop (removed from the team) is held here only to entry"
            f" {held}; a colleague's laptop held it to entry {elsewhere}. The bundle says so,"
            " and verifies."
        )


@audit_app.command("verify")
def audit_verify(
    bundle: Annotated[Path, typer.Argument(help="The audit bundle to check.")],
    trusted: Annotated[
        Path | None,
        typer.Option(
            "--trusted",
            metavar="FILE",
            help="A checkpoint you trusted before (saved with --save-checkpoint last time).",
        ),
    ] = None,
    save_checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--save-checkpoint", metavar="FILE", help="Keep the newest checkpoint, for next time."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check an audit bundle offline: no vault, no passphrase, no key that opens a report.

    Exits 4, naming the first bad place, if any entry was edited, removed, reordered or cut
    off, if history forked from the trusted checkpoint, or if anything is signed by a key
    the log never added or had revoked.
    """
    data = read_small_file(bundle, "audit bundle", MAX_BUNDLE)
    trusted_note = None
    if trusted is not None:
        trusted_note = read_small_file(trusted, "trusted checkpoint", 1 << 16).decode(
            "utf-8", "replace"
        )
    if data.startswith(TEAM_MAGIC):
        _verify_team(data, trusted_note, save_checkpoint, as_json)
        return
    result = verify(data, trusted_note)
    if save_checkpoint is not None:
        write_new(save_checkpoint, result.newest.encode())
    if as_json:
        print(json.dumps(_as_json(result), indent=2))
        return
    for line in _summary(result):
        print(render.plain_safe(line))
    if save_checkpoint is not None:
        _say(f"Saved the newest checkpoint to {save_checkpoint}: pass it as --trusted next time.")


def _witness_line(result: Verified, exported_here: bool = True) -> str:
    if result.witnessed_size is None:
        return "Witness: no checkpoint in this bundle is witnessed."
    parts = [
        f"{name} at {datetime.fromtimestamp(t, UTC).strftime('%Y-%m-%d %H:%M:%SZ')}"
        for name, t in result.witnessed
    ]
    later = result.entries - result.witnessed_size
    if later == 0:
        tail = "that is the newest checkpoint."
    elif not exported_here:  # a colleague's log: the export's entry is in another log
        entries = "1 entry after it is" if later == 1 else f"{later} entries after it are"
        tail = f"the {entries} not witnessed yet."
    elif later == 1:
        tail = "the 1 entry after it (this export's own) is not witnessed yet."
    else:
        tail = f"the {later} entries after it (this export's among them) are not witnessed yet."
    return (
        f"Witness: entries 1 to {result.witnessed_size} are cosigned by {', '.join(parts)}; {tail}"
    )


def _summary(result: Verified) -> list[str]:
    lines = [
        "Verified: no entry was edited, removed, reordered or cut off.",
        f"Log: {result.origin}",
        f"Period: {result.first} to {result.last}",
        f"Entries: {result.entries}, under {result.checkpoints} signed checkpoints;"
        f" the newest signed by {result.signed_by}.",
        f"Cases touched: {result.cases}",
        _witness_line(result),
    ]
    if result.trusted_size is None:
        lines.append(
            "Trusted checkpoint: none given, so this shows the bundle is whole and consistent"
            " in itself; pass --trusted next time to show nothing was rewritten since."
        )
    else:
        lines.append(
            f"Trusted checkpoint: the log still holds the {result.trusted_size} entries you"
            " trusted, unchanged, and only grew since."
        )
    lines.append("Actions by caseworker:")
    for name in sorted(result.by_actor):
        counts = result.by_actor[name]
        done = ", ".join(f"{action} {n}" for action, n in sorted(counts.items()))
        lines.append(f"  {name}: {done}")
    lines += _reads_lines(result)
    return lines


def _reads_lines(result: Verified) -> list[str]:
    """Which cases each read across cases read and which matched: case ids, never words."""
    if result.reads is None:
        if not result.unlisted_reads:
            return []
        return [
            f"Reads across cases: {result.unlisted_reads}, but this bundle is in the older"
            f" format {result.format}, which carries no read lists: it shows how many cases"
            " each read, not which."
        ]
    if not result.reads:
        return ["Reads across cases: none."]
    lines = ["Reads across cases (which cases each read; never what was searched for):"]
    for read in result.reads:
        line = (
            f"  entry {read.entry}, {read.action} by {read.by} at {read.time}:"
            f" read {len(read.cases)}: {' '.join(read.cases)}"
        )
        if read.action == "cases-searched":
            line += f"; matched {len(read.matched)}: {' '.join(read.matched) or '-'}"
        if read.damaged:
            line += f"; did not open {len(read.damaged)}: {' '.join(read.damaged)}"
        lines.append(line)
    return lines


def _as_json(result: Verified) -> dict[str, object]:
    return {
        "verified": True,
        "origin": result.origin,
        "entries": result.entries,
        "period": {"from": result.first, "to": result.last},
        "checkpoints": result.checkpoints,
        "newest_signed_by": result.signed_by,
        "cases_touched": result.cases,
        "actions_by_actor": {k: dict(v) for k, v in sorted(result.by_actor.items())},
        "witnessed": {
            "size": result.witnessed_size,
            "newest": result.witnessed_size == result.entries,
            "by": [{"witness": n, "time": t} for n, t in result.witnessed],
        },
        "trusted_size": result.trusted_size,
        "format": result.format,
        "reads": None
        if result.reads is None
        else [
            {
                "entry": r.entry,
                "action": r.action,
                "time": r.time,
                "by": r.by,
                "cases": list(r.cases),
                "matched": list(r.matched),
                "damaged": list(r.damaged),
            }
            for r in result.reads
        ],
    }


def _verify_team(
    data: bytes, trusted: str | None, save_checkpoint: Path | None, as_json: bool
) -> None:
    """A team's bundle (redress-team-audit-bundle/1): every laptop's log, named."""
    result = verify_team(data, trusted)
    if save_checkpoint is not None:
        write_new(save_checkpoint, result.newest.encode())
    if as_json:
        print(json.dumps(_team_json(result), indent=2))
        return
    for line in _team_summary(result):
        print(render.plain_safe(line))
    if save_checkpoint is not None:
        _say(
            f"Saved the newest checkpoint of the exporting laptop's log to {save_checkpoint}:"
            " pass it as --trusted next time."
        )


def _laptop_title(laptop: Laptop) -> str:
    revoked = ", revoked" if laptop.revoked else ""
    return f"Laptop of {laptop.name}{revoked} (log {laptop.origin})"


def _team_summary(result: TeamVerified) -> list[str]:
    held = [lap for lap in result.laptops if lap.log is not None]
    short = [lap.name for lap in result.laptops if lap.witnessed_elsewhere is not None]
    first = (
        f"Verified: the logs of {len(held)} laptops; no entry of any was edited, removed,"
        " reordered or cut off, and no current member's laptop is missing."
        if not short
        else f"Verified, with entries missing: the logs of {len(held)} laptops; no entry"
        " held was edited or reordered, and no current member's log is cut short or"
        f" missing; but the log of removed member {', '.join(short)} ends before a"
        " colleague's witnessed checkpoint of it: see below."
    )
    lines = [
        first,
        f"Team: {', '.join(result.members)} (team key epoch {result.epoch}).",
        f"Exported from: {result.exported_by}",
    ]
    for laptop in result.laptops:
        lines.append("")
        lines.append(_laptop_title(laptop) + ":")
        if laptop.log is None:
            lines.append(
                "  No log in this bundle: revoked before any of its log reached the"
                " exporting laptop."
            )
            continue
        log = laptop.log
        lines += [
            f"  Period: {log.first} to {log.last}",
            f"  Entries: {log.entries}, under {log.checkpoints} signed checkpoints;"
            f" the newest signed by {log.signed_by}.",
            f"  Cases touched: {log.cases}",
            "  " + _witness_line(log, laptop.origin == result.exported_by),
        ]
        if laptop.witnessed_elsewhere is not None:
            lines.append(
                f"  Held here only to entry {log.entries}: a colleague's laptop held this"
                f" removed member's log to entry {laptop.witnessed_elsewhere} (a witnessed"
                " checkpoint in the bundle). The rest is not in this bundle: either it did not"
                " reach the exporting laptop before the removal (not delivered by the relay, or"
                " not witnessed), or the bundle was cut; a colleague's bundle holds it."
            )
        if laptop.stale:
            lines.append(
                f"  Stopped syncing? Its log has no witness cosignature in the {STALE_DAYS} days"
                " before the export: it has not synced since, or did nothing that was logged."
            )
        lines.append("  Actions by caseworker:")
        for name in sorted(log.by_actor):
            done = ", ".join(f"{a} {n}" for a, n in sorted(log.by_actor[name].items()))
            lines.append(f"    {name}: {done}")
        lines += ["  " + line for line in _reads_lines(log)]
    lines.append("")
    if result.trusted_size is None:
        lines.append(
            "Trusted checkpoint: none given, so this shows the bundle is whole and consistent"
            " in itself; pass --trusted next time to show nothing was rewritten since."
        )
    else:
        lines.append(
            f"Trusted checkpoint: the log {result.trusted_origin} still holds the"
            f" {result.trusted_size} entries you trusted, unchanged, and only grew since."
        )
    return lines


def _team_json(result: TeamVerified) -> dict[str, object]:
    return {
        "verified": True,
        # removed members whose log ends here before a colleague's witnessed checkpoint of it
        "removed_logs_held_short": [
            lap.name for lap in result.laptops if lap.witnessed_elsewhere is not None
        ],
        "format": result.format,
        "team": {"members": list(result.members), "epoch": result.epoch},
        "exported_by": result.exported_by,
        "laptops": [
            {
                "name": laptop.name,
                "origin": laptop.origin,
                "revoked": laptop.revoked,
                "stale": laptop.stale,
                "witnessed_at": laptop.witnessed_at,
                "witnessed_elsewhere": laptop.witnessed_elsewhere,
                "log": None if laptop.log is None else _as_json(laptop.log),
            }
            for laptop in result.laptops
        ],
        "witnessed_heads": result.witnessed_heads,
        "trusted": {"origin": result.trusted_origin, "size": result.trusted_size},
    }


@auditor_app.command("add")
def auditor_add(
    name: Annotated[str, typer.Argument(help="The auditor's name.")],
    key: Annotated[
        Path,
        typer.Option(
            "--key", metavar="FILE", help="The auditor's public key file (a verifier key line)."
        ),
    ],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Register an auditor's public key. It verifies signatures; it opens nothing."""
    text = read_small_file(key, "auditor's key file", 4096).decode("utf-8", "replace")
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        added = add_auditor(vault, name, text)
    _say(f"Registered auditor {name} (key {added.id.hex()}). Their key opens no report.")


@auditor_app.command("keygen")
def auditor_keygen(
    name: Annotated[str, typer.Argument(help="Your name as an auditor.")],
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="A folder for the two key files.")
    ],
) -> None:
    """Make an auditor's key pair: NAME.vkey to give the team, NAME.key to keep to yourself.

    The key signs; it cannot open a report, a note or the vault.
    """
    files = make_auditor_key(name, out)
    _say(
        f"Wrote {files.public} (give it to the team) and {files.secret} (keep it to yourself);"
        f" key id {files.key_id}."
    )


@auditor_app.command("list")
def auditor_list(
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """The auditors registered with this vault: name, key id and the date they were added."""
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        people = registered_auditors(vault)
    if as_json:
        render.print_json([p.to_json() for p in people])
    else:
        render.auditor_table(people)


__all__ = ["audit_app", "auditor_app"]
