"""Commands that look after the vault itself: check, backup and restore, the team's members,
team key epochs, and recovery shares. Registered on the main app by :func:`register`.
"""

from __future__ import annotations

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
)
from cli.options import say as _say
from cli.options import unlock as _unlock
from cli.passphrase import read_new_passphrase, read_passphrase
from vault import backup as backups
from vault import case_view, membership, recovery, team_clock
from vault.check import check_vault
from vault.errors import IntegrityError, UsageError
from vault.files import read_small_file
from vault.keychange import RECOVERY_PUBLIC
from vault.store import Vault

NewPassFile = Annotated[
    Path | None,
    typer.Option(
        "--new-passphrase-file",
        metavar="FILE",
        envvar="VAULT_NEW_PASSPHRASE_FILE",
        help="Read the new passphrase from the first line of FILE (for scripts); otherwise"
        " it is asked for, twice, without showing it.",
    ),
]
Shares = Annotated[
    list[Path] | None,
    typer.Option(
        "--share", metavar="FILE", help="A recovery share file; give --share once for each share."
    ),
]

REMOVED_BACKUP = "Removed an unfinished backup left by an interrupted run."
REMOVED_RESTORE = "Removed an unfinished restore left by an interrupted run."

caseworker_app = typer.Typer(
    help="The caseworkers who can open this vault: list, add, revoke, change your passphrase.",
    no_args_is_help=True,
)
recovery_app = typer.Typer(
    help="Recovery shares: open the vault when every passphrase is lost.", no_args_is_help=True
)


# --- check, backup, restore ------------------------------------------------------------------


def check(
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Verify the whole vault: database pages, every report, every signature, every key file.

    Prints each problem found and exits 4 if there is any. It changes nothing, except that
    unlocking finishes a key change a crash interrupted, as every unlock does, and that it
    removes what an interrupted backup left in the vault folder (and says so).
    """
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        if backups.remove_unfinished(vault.directory):
            _say(REMOVED_BACKUP)
        problems = check_vault(vault)
        cases = 0 if problems else case_view.count_cases(vault)
    for problem in problems:
        print(render.plain_safe(problem))
    if problems:
        many = f"{len(problems)} problems" if len(problems) > 1 else "a problem"
        raise IntegrityError(
            f"The vault check found {many}: {problems[0]}.",
            hint="stop, copy the vault folder somewhere safe as it is, and tell your team lead",
        )
    _say(f"The vault is sound: {cases} case{'s' if cases != 1 else ''} checked.")


def backup(
    file: Annotated[
        Path | None,
        typer.Argument(metavar="FILE", help="The new backup file (never overwritten)."),
    ] = None,
    out: OutOption = None,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Write an encrypted backup of the whole vault to FILE, safe while others work.

    It opens with your passphrase (as it is now) or with the recovery shares. Keep it
    anywhere, even a cloud drive: everything in it is encrypted. FILE appears only when the
    backup is complete; what an interrupted backup left is removed first.
    """
    file = out_file(file, out)
    passphrase = read_passphrase(passphrase_file)
    with Vault.unlock(vault_dir, passphrase, caseworker) as vault:
        removed = backups.remove_unfinished(vault.directory)
        if backups.remove_unfinished_output(file) or removed:
            _say(REMOVED_BACKUP)
        size = backups.make_backup(vault, file, passphrase)
        has_recovery = (vault_dir / RECOVERY_PUBLIC).exists()
    _say(f"Wrote a backup of {vault_dir} to {file} ({size} bytes).")
    if not has_recovery:
        _say(
            "Only your passphrase opens it: make recovery shares (vault recovery split) so that"
            " the team can still restore it if your passphrase is lost."
        )


def restore(
    file: Annotated[Path, typer.Argument(help="The backup file.")],
    vault_dir: Annotated[
        Path,
        typer.Option(
            "--vault",
            metavar="DIR",
            envvar="VAULT_DIR",
            help="Where to restore it: a new or empty folder.",
        ),
    ],
    shares: Shares = None,
    passphrase_file: PassFile = None,
) -> None:
    """Check a backup in full, then restore it into a new vault folder.

    Opens with the passphrase of the caseworker who made it, or with recovery shares
    (--share FILE, once per share). A damaged or changed backup is refused before
    anything is written; what an interrupted restore to the same folder left is removed.
    """
    if backups.remove_unfinished_restore(vault_dir):
        _say(REMOVED_RESTORE)
    if shares:
        key = recovery.combine(recovery.read_shares(shares))
        summary = backups.restore_backup(file, vault_dir, recovery=key)
    else:
        passphrase = read_passphrase(passphrase_file)
        summary = backups.restore_backup(file, vault_dir, passphrase=passphrase)
    people = ", ".join(summary.caseworkers) or "none"
    _say(f"Restored the backup into {vault_dir}: caseworkers {people}.")
    _say(f"Next: vault check --vault {vault_dir}")


# --- caseworkers -------------------------------------------------------------------------


@caseworker_app.command("add")
def caseworker_add(
    name: Annotated[
        str, typer.Argument(help="The new caseworker's name (letters, digits, - _ .).")
    ],
    new_passphrase_file: NewPassFile = None,
    request: Annotated[
        Path | None,
        typer.Option(
            "--request",
            metavar="REQUEST",
            help="Their join request (vault join on their own laptop): they keep their own vault.",
        ),
    ] = None,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Give a new caseworker their own identity and passphrase for this vault.

    Best done with them beside you, so that they type their own new passphrase. With the
    option --request, they are on their own laptop instead: the next vault sync sends them
    the team's keys and every case.
    """
    if request is not None:
        if new_passphrase_file is not None:
            raise UsageError(
                "--request and --new-passphrase-file do not go together: the"
                " new caseworker's passphrase stays on their own laptop."
            )
        data = read_small_file(request, "join request", limit=1 << 16)
        with _unlock(vault_dir, passphrase_file, caseworker) as vault:
            joined = membership.add_from_request(vault, name, data)
        _say(f"Added {joined.name} from their join request; fingerprint {joined.fingerprint}.")
        _say("Check that fingerprint with them by voice before you sync.")
        _say("Next: vault sync --from URL sends them the team's keys and every case.")
        return
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        membership.check_shares_folder(vault, name)  # before asking for a passphrase
        passphrase = read_new_passphrase(new_passphrase_file, name)
        person = membership.add_caseworker(vault, name, passphrase)
    _say(f"Added {person.name} (key id {person.key_id}) to {vault_dir}.")
    _say("Next: re-export the team key (vault team-key export) so the intake accepts them.")


@caseworker_app.command("list")
def caseworker_list(
    as_json: JsonFlag = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Who the caseworkers are: name, key id, when added, and who was removed and when."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        people = membership.caseworkers(vault)
    if as_json:
        render.print_json([p.to_json() for p in people])
    else:
        render.caseworker_table(people)


@caseworker_app.command("revoke")
def caseworker_revoke(
    name: Annotated[str, typer.Argument(help="The caseworker who is leaving.")],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Remove a caseworker: delete their keys, start a new team key, re-encrypt the database.

    Their past actions stay in every case's history under their name.
    """
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        change = membership.revoke_caseworker(vault, name)
        in_team = membership.syncs_with_team(vault)
        left = team_clock.left_team(vault.db) is not None
    _say(f"Removed {name}. New team key epoch {change.epoch}, fingerprint {change.fingerprint}")
    if left:
        _say(
            f"{team_clock.LEFT_SAID}, so the team does not hear of this: a colleague whose"
            f" laptop syncs removes {name} from the team."
        )
    elif in_team:
        _say("Next: vault sync --from URL tells the relay (it refuses them from then on) and")
        _say("the team's other laptops, which take the new team key at their next sync.")
    else:
        _say("Next: vault team-key export FILE, and give it to the intake admin today.")


@caseworker_app.command("passphrase")
def caseworker_passphrase(
    new_passphrase_file: NewPassFile = None,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Change your own passphrase. Nobody else's changes."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        passphrase = read_new_passphrase(new_passphrase_file, vault.identity.name)
        membership.change_passphrase(vault, passphrase)
        name = vault.identity.name
    _say(f"Changed the passphrase of {name}.")


# --- team key rotation -----------------------------------------------------------------------


def team_key_rotate(
    reseal: Annotated[
        bool,
        typer.Option(
            "--reseal",
            help="Also re-seal every older report under the new key (if it is stopped,"
            " finish with: vault team-key reseal).",
        ),
    ] = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Start a new team key epoch; reports sealed to older epochs stay readable."""
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        change = membership.rotate_team_key(vault)
        _say(f"New team key epoch {change.epoch}, fingerprint {change.fingerprint}")
        if reseal:
            count = membership.reseal_reports(vault, lambda n: _say(f"… {n} re-sealed so far"))
            _say(f"Re-sealed {count} report{'s' if count != 1 else ''} under epoch {change.epoch}.")
        syncing = membership.syncs_with_team(vault)
        left = team_clock.left_team(vault.db) is not None
    if left:
        _say(f"{team_clock.LEFT_SAID}, so the new team key stays in this folder.")
    elif syncing:
        _say("Next: vault sync --from URL tells the relay and the other laptops.")
    else:
        _say("Next: vault team-key export FILE, and give it to the intake admin.")


def team_key_reseal(
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Re-seal reports still sealed to older epochs under the current one (no new epoch).

    Finishes a `team-key rotate --reseal` that was stopped; safe to stop and run again.
    """
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        epoch = vault.team_public_key().epoch
        count = membership.reseal_reports(vault, lambda n: _say(f"… {n} re-sealed so far"))
    _say(f"Re-sealed {count} report{'s' if count != 1 else ''} under epoch {epoch}.")


# --- recovery --------------------------------------------------------------------------------


@recovery_app.command("split")
def recovery_split(
    shares: Annotated[
        int, typer.Option("--shares", metavar="N", help="How many shares to make (N).", min=2)
    ],
    threshold: Annotated[
        int,
        typer.Option("--threshold", metavar="K", help="How many shares open the vault (K).", min=2),
    ],
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="A folder for the share files.")
    ],
    holders: Annotated[
        list[str] | None,
        typer.Option(
            "--holder",
            metavar="NAME",
            help="Who keeps each share, in order (give --holder once per share); printed on it.",
        ),
    ] = None,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Make K-of-N recovery shares: printable word lists, one per holder.

    New shares replace any made before. Print each file, give each paper to its holder,
    then delete the files.
    """
    with _unlock(vault_dir, passphrase_file, caseworker) as vault:
        made = recovery.split(vault, shares, threshold, out, holders)
    _say(
        f"Made {shares} recovery shares in {out}; any {threshold} open the vault"
        f" (recovery key id {made.key_id})."
    )
    _say("Next: print each file, hand each paper to its holder, then delete the files.")


@recovery_app.command("restore")
def recovery_restore(
    shares: Annotated[
        list[Path],
        typer.Option(
            "--share",
            metavar="FILE",
            help="A recovery share file; give --share once for each share.",
            show_default=False,
        ),
    ],
    name: Annotated[
        str,
        typer.Option(
            "--name",
            metavar="NAME",
            help="Your new caseworker name (letters, digits, - _ .).",
            show_default=False,
        ),
    ],
    new_passphrase_file: NewPassFile = None,
    vault_dir: VaultDir = DEFAULT_VAULT,
) -> None:
    """Open the vault with K recovery shares after every passphrase is lost.

    Then makes you a new caseworker identity with a new passphrase.
    """
    key = recovery.combine(recovery.read_shares(shares))
    passphrase = read_new_passphrase(new_passphrase_file, name)
    with recovery.restore_access(vault_dir, key, name, passphrase) as vault:
        who = vault.identity
        left = team_clock.left_team(vault.db) is not None
    _say(
        f"Opened {vault_dir} with the recovery shares; {who.name} (key id {who.key_id})"
        " can now unlock it with the new passphrase."
    )
    if left:
        _say(
            f"{team_clock.LEFT_SAID}: nothing done here reaches the team, and vault sync is"
            " refused here. To work with the team again, join from a new folder (vault join)"
            " and ask a colleague to revoke this laptop's old name."
        )
    _say("Next: vault check, then revoke anyone who should no longer have access.")


def register(app: typer.Typer, team_key_app: typer.Typer) -> None:
    """Add these commands to the main ``vault`` app."""
    app.command("check")(check)
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.add_typer(caseworker_app, name="caseworker")
    app.add_typer(recovery_app, name="recovery")
    team_key_app.command("rotate")(team_key_rotate)
    team_key_app.command("reseal")(team_key_reseal)
