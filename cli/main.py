"""`vault`: one command for the casework team. Parses, calls the library, renders.

Every error the library raises is a :class:`vault.errors.VaultError` carrying
the sentence to show; :func:`main` is the one place that prints it and picks
the exit code. Nothing here prints a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from cli import admin, filters, packs, render
from cli import alerts as alerts_cli
from cli import patterns as patterns_cli
from cli import retention as retention_cli
from cli import stats as stats_cli
from cli.audit import audit_app, auditor_app
from cli.intake import intake_app
from cli.options import (
    DEFAULT_VAULT,
    CaseId,
    Caseworker,
    JsonFlag,
    OutOption,
    PassFile,
    VaultDir,
    global_options_last,
    out_file,
    plain_metavars,
    unlock,
    write_new,
)
from cli.options import count as _count
from cli.options import say as _say
from cli.passphrase import read_passphrase, read_text_argument
from vault import blobs, case_view, incoming, joining, replies, search, triage
from vault.cases import show_id
from vault.db import OUTCOMES, STATUSES, vault_error
from vault.envelope import MAX_ENVELOPE, seal_report
from vault.epoch_settling import Settled
from vault.errors import EXIT_FAILED, EXIT_INTEGRITY, CaseErasedError, UsageError, VaultError
from vault.files import read_small_file
from vault.keys import TeamPublicKey
from vault.places import check_new_vault_place
from vault.report import parse_report
from vault.store import Vault
from vault.tombstones import Tombstone

app = typer.Typer(
    help="Redress: the casework team's encrypted report vault.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cases_app = typer.Typer(
    help="Work on cases: list, search, show, note, assign, status, close, reply, attachment,"
    " erase, export.",
    no_args_is_help=True,
)
team_key_app = typer.Typer(help="The team key that reporters seal to.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")
app.add_typer(team_key_app, name="team-key")
app.add_typer(intake_app, name="intake")
app.add_typer(audit_app, name="audit")
app.add_typer(auditor_app, name="auditor")
# check, backup, restore, caseworker, recovery, team-key rotate (cli/admin.py).
admin.register(app, team_key_app)
patterns_cli.register(app)  # vault patterns (cli/patterns.py)
stats_cli.register(app)  # vault stats (cli/stats.py)
retention_cli.register(app, cases_app)  # vault retention, vault cases erase (cli/retention.py)
alerts_cli.register(app)  # vault alerts (cli/alerts.py)
packs.register(app, cases_app)  # vault cases export, vault export verify (cli/packs.py)

_unlock = unlock
_write_new = write_new


@app.command()
def init(
    name: Annotated[
        str,
        typer.Option(
            "--name", metavar="NAME", help="Your name as a caseworker (letters, digits, - _ .)."
        ),
    ],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
) -> None:
    """Create a new vault: the first team key and your caseworker identity.

    Refused inside a vault's folder, or in a folder that holds one. The passphrase must be
    hard to guess: six or more random words.
    """
    check_new_vault_place(vault_dir)  # before asking for a passphrase
    passphrase = read_passphrase(passphrase_file, confirm=True, prompt="Choose a passphrase")
    with Vault.create(vault_dir, name, passphrase) as vault:
        key = vault.team_public_key()
    _say(f"Created a vault in {vault_dir} for {vault.identity.name}.")
    _say(f"Team key epoch {key.epoch}, fingerprint {key.fingerprint}")
    _say("Next: vault team-key export team-key.json")


@team_key_app.command("export")
def team_key_export(
    file: Annotated[
        Path | None,
        typer.Argument(metavar="FILE", help="Where to write the team public key (a new file)."),
    ] = None,
    out: OutOption = None,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Write the team public key (with epoch and fingerprint) for the intake and for submit."""
    file = out_file(file, out)
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        key = vault.team_key_export()
    _write_new(file, key.to_file_bytes())
    _say(f"Wrote team key epoch {key.epoch} to {file}; fingerprint {key.fingerprint}")


@app.command()
def submit(
    team_key: Annotated[
        Path, typer.Option("--team-key", metavar="FILE", help="The team public key file.")
    ],
    to: Annotated[
        str | None,
        typer.Option(
            "--to", metavar="URL", help="Send the sealed report to the intake at this address."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Write the sealed envelope to this new file."),
    ] = None,
    report_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="REPORT.json", help="The report as JSON; read from stdin if left out or -."
        ),
    ] = None,
) -> None:
    """Seal a report to the team key on this computer, then send it to an intake or save it.

    Give exactly one of --to URL (send it, as the web form does) or --out FILE. Only the
    sealed envelope leaves this computer; nobody without the team key can read it.
    """
    if (to is None) == (out is None):
        raise UsageError("Say where the sealed report goes: give exactly one of --to or --out.")
    key = TeamPublicKey.from_file_bytes(read_small_file(team_key, "team key file", limit=64 * 1024))
    if report_file is None or str(report_file) == "-":
        data = sys.stdin.buffer.read(MAX_ENVELOPE + 1)
    else:
        data = read_small_file(report_file, "report file", limit=MAX_ENVELOPE)
    report = parse_report(data)
    envelope = seal_report(report, key.epoch, key.public_key)
    if out is not None:
        _write_new(out, envelope)
        _say(f"Sealed the report to team key epoch {key.epoch} in {out}")
        return
    assert to is not None
    from vault.submit import send_envelope  # httpx: loaded only by commands that talk

    send_envelope(to, envelope)
    _say(f"Sealed the report to team key epoch {key.epoch} and sent it to {to}")


def _settled_words(settled: Settled, removed: str | None) -> str:
    """One sentence: this laptop took another laptop's key for an epoch both had started."""
    there = f" (removing {removed})" if removed else ""
    sealed = []
    if settled.events:
        sealed.append(_count(settled.events, "case event"))
    if settled.reports:
        sealed.append(_count(settled.reports, "report"))
    again = (
        f", sealed its own {' and '.join(sealed)} again to the team's newest key" if sealed else ""
    )
    started = "".join(
        f", started epoch {epoch} to remove {name} again" for epoch, name in settled.started
    )
    return (
        f"Another laptop started team key epoch {settled.epoch} first{there}; this laptop took"
        f" its key in place of its own{again}{started}, and re-encrypted its database."
    )


@app.command()
def pull(
    url: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="URL",
            help="The intake's address, e.g. https://intake.example.org.",
            show_default=False,
        ),
    ],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Fetch new reports from an intake, store them, then have the intake delete its copies.

    Reports (and their attachments) stay sealed throughout. The intake deletes a report only
    after this vault has safely stored it; one this vault cannot open is kept, still sealed,
    in the vault's quarantine, and counted here. An attachment the intake could not give is
    asked for again by every pull. Replies waiting to go to reporters are delivered at the
    same time. `vault sync` and `vault pull` are the same command: on a laptop of a team
    (vault join, vault caseworker add --request) it also exchanges case events, cases and
    attachments with the other laptops through the intake, sealed (docs/sync.md).
    """
    from vault.pull import check_intake_url  # httpx: loaded only by commands that talk
    from vault.sync import first_welcome
    from vault.sync import sync as sync_with_team

    if joining.is_joining(vault_dir):  # a laptop that has just joined: its first sync
        passphrase = read_passphrase(passphrase_file)
        identity, request = joining.unlock_joiner(vault_dir, passphrase)
        welcome = first_welcome(identity, request, check_intake_url(url))
        opened = joining.finish_join(vault_dir, identity, request, welcome)
        current = max(welcome.team_keys, key=lambda k: k.epoch)
        _say(
            f"Joined the team: team key epoch {current.epoch}, fingerprint"
            f" {current.public.fingerprint}. Check it with a colleague."
        )
    else:
        opened = _unlock(vault_dir, passphrase_file, caseworker)
    with opened as vault:
        synced = sync_with_team(vault, url)
    result = synced.pulled
    for label, error in result.failures:
        _say(f"vault: {label}: {error}")
        if error.hint:
            _say(f"hint: {error.hint}")
    new = len(result.imported)
    replies = result.replies_delivered
    _say(
        f"Pulled {new} new case{'s' if new != 1 else ''}, {result.duplicates} already in the"
        f" vault; delivered {replies} repl{'ies' if replies != 1 else 'y'}."
    )
    if result.answers or result.withdrawals:
        a, w = result.answers, result.withdrawals
        _say(
            f"Reporters sent {a} answer{'s' if a != 1 else ''} and"
            f" {w} request{'s' if w != 1 else ''} to withdraw (see vault cases list)."
        )
    if result.messages_waiting:
        n = result.messages_waiting
        _say(
            f"{n} more message{'s' if n != 1 else ''} from reporters"
            f" {'wait' if n != 1 else 'waits'} on the intake for the next pull."
        )
    if result.messages_for_colleagues:
        n = result.messages_for_colleagues
        _say(
            f"{n} message{'s' if n != 1 else ''} from reporters {'are' if n != 1 else 'is'} left"
            " on the intake for a colleague's laptop: this one does not hold the case yet"
            " (it comes with that laptop's next sync)."
        )
    if result.attachments_caught_up or result.attachments_missing:
        _say(
            f"Attachments missed by an earlier pull: {result.attachments_caught_up} stored now,"
            f" {result.attachments_missing} still not on the intake (the next pull asks again)."
        )
    if result.quarantined or result.in_quarantine:
        _say(_quarantine_line(result.quarantined, result.in_quarantine))
    if result.waiting_for_key:
        n = result.waiting_for_key
        _say(
            f"{n} of them {'are' if n != 1 else 'is'} sealed to a newer team key that has not"
            " reached this laptop yet: left on the intake until it has (the next vault sync"
            " takes it in)."
        )
    if result.witnessed is not None:
        _say(f"The intake witnessed the access log at {result.witnessed} entries.")
    elif result.witness_problem:
        _say(f"The access log was not witnessed: {result.witness_problem}.")
    if synced.received_items or synced.sent_items or synced.welcomed:
        _say(
            f"Synced with the team: received {_count(len(synced.cases_received), 'case')},"
            f" {_count(synced.events_received, 'case event')} and"
            f" {_count(synced.attachments_received, 'attachment')};"
            f" sent {_count(synced.sent_items, 'item')}."
        )
    for name in synced.welcomed:
        _say(f"Sent {name} the team's keys and every case's history.")
    for epoch, revoked in synced.new_epochs:
        if revoked is None:
            _say(f"Told the relay and the other laptops of the new team key epoch {epoch}.")
        else:
            _say(f"Told the relay and the other laptops that {revoked} was removed.")
    settled = synced.settled
    if settled is not None:
        removing = dict(synced.taken_epochs).get(settled.epoch)
        _say(_settled_words(settled, removing))
    for epoch, revoked in synced.taken_epochs:  # each said: a removal is never left out
        if settled is None or epoch != settled.epoch:
            why = (
                "The team key was rotated on another laptop"
                if revoked is None
                else f"{revoked} was removed from the team on another laptop"
            )
            _say(
                f"{why}: this vault now uses team key epoch {epoch},"
                " and its database was re-encrypted."
            )
    if synced.set_aside:
        n = synced.set_aside
        _say(
            f"vault: {_count(n, 'item')} the relay sent at an earlier sync failed"
            f" {'their' if n != 1 else 'its'} checks and {'wait' if n != 1 else 'waits'}"
            " set aside, until the relay sends the right ones (docs/sync.md section 5)."
        )
    for case_id in synced.erased:
        _say(f"Erased case {show_id(case_id)} here, as another laptop of the team did.")
    for case_id in synced.clashes:
        _say(
            f"vault: case {show_id(case_id)} from the team holds a report this vault has"
            " under another id; it was not stored twice."
        )
    for team_id, here in synced.renamed:
        _say(
            f"vault: case {show_id(team_id)} from the team is another report than this"
            f" vault's case of that id; it is stored here as case {show_id(here)}."
        )
    if result.witness_alarm is not None:
        raise result.witness_alarm  # after the summary: everything pulled is stored
    for case_id in result.imported[:20]:
        print(show_id(case_id))
    if result.intake_full is not None:  # everything pulled is stored; only the replies wait
        waiting = result.replies_waiting
        _say(
            f"vault: The disk of the intake at {check_intake_url(url)} is full, so"
            f" {waiting} repl{'ies' if waiting != 1 else 'y'} could not be delivered;"
            f" {'they wait' if waiting != 1 else 'it waits'} in the vault for the next pull."
        )
        _say(f"hint: {result.intake_full.hint}")
    problems = [e for _, e in result.failures]
    if result.intake_full is not None:
        problems.append(result.intake_full)
    if problems:
        raise typer.Exit(max(e.exit_code for e in problems))


app.command("sync")(pull)  # `vault sync --from URL` and `vault pull` are one command


@app.command()
def join(
    name: Annotated[
        str,
        typer.Option(
            "--name", metavar="NAME", help="Your name as a caseworker (letters, digits, - _ .)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", metavar="REQUEST", help="Where to write your join request (a new file)."
        ),
    ],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
) -> None:
    """Join a team on this laptop: your own identity, and a request for a colleague to add.

    Read the fingerprint to the colleague by voice; they run vault caseworker add NAME with
    the option --request FILE, and vault sync; then you run vault sync --from URL here.
    """
    check_new_vault_place(vault_dir)
    if out.exists() or out.is_symlink():  # refused before the folder is made, so a retry works
        raise VaultError(f"{out} already exists; choose another name.")
    if not out.parent.is_dir():
        raise VaultError(f"The folder for {out} does not exist.")
    passphrase = read_passphrase(passphrase_file, confirm=True, prompt="Choose a passphrase")
    request = joining.start_join(vault_dir, name, passphrase)
    _write_new(out, request)
    made = joining.own_request(vault_dir)
    _say(f"Made {made.name}'s identity in {vault_dir} and wrote the join request to {out}.")
    _say(f"Fingerprint: {made.fingerprint}")
    _say(
        "Next: a colleague checks this fingerprint with you by voice, then runs"
        f" vault caseworker add {made.name} --request {out.name} and vault sync."
    )


_QUARANTINE_REASONS = {
    "damaged": "damaged",
    "foreign": "sealed to another team's key",
    "invalid": "not a valid report inside",
}


def _quarantine_line(reasons: Counter[str], total: int) -> str:
    """One line: how many envelopes this pull kept in quarantine, why, and how many in all."""
    n = sum(reasons.values())
    if n == 0:
        return (
            f"{total} envelope{'s' if total != 1 else ''} from earlier pulls could not be opened"
            f" and {'are' if total != 1 else 'is'} kept in quarantine."
        )
    why = ", ".join(f"{c} {_QUARANTINE_REASONS.get(r, r)}" for r, c in sorted(reasons.items()))
    line = (
        f"{n} envelope{'s' if n != 1 else ''} could not be opened and"
        f" {'were' if n != 1 else 'was'} kept in quarantine ({why})"
    )
    return line + (f"; {total} in quarantine in all." if total > n else ".")


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help="Envelope files to take in.")],
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
        result = incoming.import_envelopes(vault, envelopes(), progress)  # type: ignore[arg-type]
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
    status: filters.Status = None,
    assignee: filters.Assignee = None,
    sector: filters.Sector = None,
    harm: filters.Harm = None,
    wants: filters.Wants = None,
    outcome: filters.Outcome = None,
    since: filters.Since = None,
    until: filters.Until = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            metavar="N",
            min=1,
            help="Show the newest N (the table shows 50 unless told; --json every case).",
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Show every case.")] = False,
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Cases, newest first, with sector, harms and wants; decrypts nothing.

    The filters combine: a case must match all of them."""
    chosen = triage.case_filter(  # checked before the passphrase is asked for
        status=status,
        assignee=assignee,
        sector=sector,
        harm=harm,
        wants=wants,
        outcome=outcome,
        since=since,
        until=until,
    )
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        where = chosen.for_caseworker(vault.identity.name)
        if as_json:
            listed = case_view.list_cases(vault, limit=None if show_all else limit, where=where)
            render.print_json_lines([c.to_json() for c in listed])
            return
        shown = case_view.list_cases(vault, limit=None if show_all else limit or 50, where=where)
        total = case_view.count_cases(vault, where=where)
    render.case_table(shown, total, filtered=chosen != triage.CaseFilter())


@cases_app.command("search")
def cases_search(
    text: Annotated[
        str,
        typer.Argument(
            metavar="TEXT",
            help="The words to find (all of them; case and accents ignored). Use - to type"
            " them or pipe them in, which keeps them out of your shell history.",
        ),
    ],
    status: filters.Status = None,
    assignee: filters.Assignee = None,
    sector: filters.Sector = None,
    harm: filters.Harm = None,
    wants: filters.Wants = None,
    outcome: filters.Outcome = None,
    since: filters.Since = None,
    until: filters.Until = None,
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Cases whose report, notes or replies hold every word of TEXT, newest first.

    Opens the reports the filters take, in memory only, and logs one access-log entry naming
    the cases read and which matched, never the words. A case whose report does not open is
    named on stderr and the command exits 4.
    """
    query = read_text_argument(text, "words to search for")
    search.search_words(query)  # an empty search is refused before the passphrase is asked
    chosen = triage.case_filter(
        status=status,
        assignee=assignee,
        sector=sector,
        harm=harm,
        wants=wants,
        outcome=outcome,
        since=since,
        until=until,
    )
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        found = search.search(vault, query, chosen.for_caseworker(vault.identity.name))
    if as_json:
        render.print_json_lines([c.to_json() for c in found.matches])
    else:
        render.case_table(found.matches, len(found.matches), filtered=True)
        m = len(found.matches)
        _say(f"Read {found.read} case{'s' if found.read != 1 else ''}: {m} match{'es' * (m != 1)}.")
    if found.damaged:
        n = len(found.damaged)
        ids = ", ".join(show_id(c) for c in found.damaged)
        _say(f"vault: {n} case{'s' if n != 1 else ''} could not be opened: {ids} (damaged)")
        raise typer.Exit(EXIT_INTEGRITY)


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
        try:
            view = case_view.show_case(vault, case)
        except CaseErasedError as e:  # only its tombstone is left (vault/erasure.py)
            gone = e.tombstone
            assert isinstance(gone, Tombstone)
            if as_json:
                render.print_json(gone.to_json())
            else:
                render.out.print(gone.sentence())
            return
    if as_json:
        render.print_json(view.to_json())
    else:
        render.case_view(view)


@cases_app.command("note")
def cases_note(
    case: CaseId,
    text: Annotated[
        str | None,
        typer.Argument(
            help="The note; it is sealed and signed by you. Leave it out (or use -) to type it"
            " or pipe it in, which keeps it out of your shell history."
        ),
    ] = None,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Add a sealed, signed note to a case."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        case_id = vault.add_note(case, read_text_argument(text, "note"))
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
    status: Annotated[
        str,
        typer.Argument(
            help=f"One of: {', '.join(s for s in STATUSES if s != 'closed')}"
            " (to close a case, use vault cases close with an outcome)."
        ),
    ],
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
    outcome: Annotated[
        str, typer.Option("--outcome", metavar="OUTCOME", help=f"One of: {', '.join(OUTCOMES)}.")
    ],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Close a case with its outcome."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        case_id = vault.close_case(case, outcome)
    _say(f"Closed case {show_id(case_id)}: {outcome}.")


@cases_app.command("reply")
def cases_reply(
    case: CaseId,
    text: Annotated[
        str | None,
        typer.Argument(
            help="What to say to the reporter. Leave it out (or use -) to type it or pipe it"
            " in, which keeps it out of your shell history."
        ),
    ] = None,
    share_status: Annotated[
        bool,
        typer.Option(
            "--share-status",
            help="Also tell the reporter the case's status (new, triage, supporting, ...).",
        ),
    ] = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Reply to a reporter who took a codename; it goes out on the next vault pull.

    The reply is sealed so that only the reporter's codename opens it; the intake keeps it
    under an id that does not identify them. The case history keeps a sealed copy.
    """
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        replies.check_can_reply(vault)  # before the reply is typed
        case_id = replies.reply(vault, case, read_text_argument(text, "reply"), share_status)
    shared = " (with the case status)" if share_status else ""
    _say(
        f"Reply to case {show_id(case_id)}{shared} is sealed and queued;"
        " it will be delivered on the next vault pull."
    )


@cases_app.command("attachment")
def cases_attachment(
    case: CaseId,
    number: Annotated[
        int,
        typer.Argument(
            metavar="N", help="Which attachment: 1 for the first (see cases show).", min=1
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="FILE",
            help="The new file to write it to (never overwrites).",
            show_default=False,
        ),
    ],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Decrypt one of a case's attachments to a new file, readable only by you (mode 600).

    This is the one place the vault writes a report's content in clear, because you asked:
    the file is outside the vault's protection, so keep it on this laptop, delete it when
    done, and never put it in a shared or synced folder. The export is logged in the case
    history. A damaged or changed attachment is refused and no file is left behind.
    """
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        case_id, info = blobs.write_attachment(vault, case, number, out)
    _say(
        f"Wrote attachment {info.n} of case {show_id(case_id)} ({info.size} bytes,"
        f" {info.type}) to {out}. It is not encrypted: delete it when you are done."
    )


def _fail(error: VaultError) -> NoReturn:
    _say(f"vault: {error}")
    if error.hint:
        _say(f"hint: {error.hint}")
    sys.exit(error.exit_code)


@functools.cache
def _command() -> typer._click.Command:
    """The command tree, built from ``app`` once in a process (the tests run hundreds of
    commands in theirs, and building it took about a tenth of a second each time)."""
    command = typer.main.get_command(app)
    plain_metavars(command)
    return command


def main(argv: list[str] | None = None) -> NoReturn:
    """The one place errors become a line on stderr and an exit code."""
    os.umask(0o077)
    render.unwrap_unless_terminal()
    command = _command()
    args = global_options_last(sys.argv[1:] if argv is None else list(argv))
    try:
        code = command.main(args=args, prog_name="vault", standalone_mode=False)
    except VaultError as e:
        _fail(e)
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
        # A full disk or a damaged database met outside the library's own mapping
        # (vault/db.py says what the driver's errors mean).
        explained = vault_error(e)
        if explained is not None:
            _fail(explained)
        # Only the type: an exception's text could carry report content.
        _say(f"vault: unexpected internal error ({type(e).__name__}); nothing more was changed.")
        _say("hint: please tell the Redress maintainers what you ran (not what the report said)")
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["UsageError", "app", "main"]
