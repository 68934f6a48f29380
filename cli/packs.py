"""`vault cases export` and `vault export verify`: complaint packs (vault/complaint_pack.py) and
checking one with only the team key file (vault/pack_manifest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli import render
from cli.options import DEFAULT_VAULT, CaseId, Caseworker, JsonFlag, PassFile, VaultDir, unlock
from cli.options import say as _say
from vault.cases import show_id
from vault.errors import UsageError
from vault.files import read_small_file
from vault.keys import TeamPublicKey
from vault.pack_manifest import verify_pack

DEFAULT_TEAM_KEY = Path("team-key.json")

export_app = typer.Typer(
    help="Check what the vault sent out: complaint packs.", no_args_is_help=True
)


def register(app: typer.Typer, cases_app: typer.Typer) -> None:
    cases_app.command("export")(cases_export)
    app.add_typer(export_app, name="export")


def cases_export(
    case: CaseId,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="The new folder to write the pack into (refused if it exists).",
            show_default=False,
        ),
    ],
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            metavar="F,...",
            help="Which report fields the PDF shows, comma-separated (default: all but"
            " contact; the list is below).",
        ),
    ] = None,
    notes: Annotated[
        bool, typer.Option("--notes", help="Put the case's notes in the PDF too.")
    ] = False,
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Make a complaint pack for a reporter who asked for help with a complaint.

    Writes a new folder: complaint.pdf (the fields you chose, and the notes with --notes),
    the attachments with their hidden data (GPS, camera, author) removed, a README saying what
    was removed or left out, and a list of every file's SHA-256 signed by you. The pack is
    not encrypted: it is for the complaint body. The export is logged in the case history.

    Fields: sector, role, organisation, professional_identifier, when, where, harms,
    what_happened, contact. Refused for a reporter who did not ask for complaint help, and
    for a folder that exists; docs/complaint-packs.md says more.
    """
    # Pillow and fpdf2 load only for an export, not with every command.
    from vault.complaint_pack import check_fields, check_new_folder, export_pack

    chosen = check_fields(fields)  # checked before the passphrase is asked for
    check_new_folder(out)
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        made = export_pack(vault, case, out, chosen, notes)
    _say(f"Wrote the complaint pack of case {show_id(made.case_id)} to {out} ({made.files} files).")
    for attachment in made.attachments:
        _say(attachment.line())
    _say("It is not encrypted: send it only to the complaint body, and delete it when done.")


@export_app.command("verify")
def export_verify(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="The complaint pack's folder.")],
    team_key: Annotated[
        Path | None,
        typer.Option(
            "--team-key",
            metavar="FILE",
            help="The team's published key file (vault team-key export); by default"
            " team-key.json in the current folder, if there is one.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check a complaint pack: no vault and no passphrase, only the team's key file.

    Exits 0 when every file is exactly as the caseworker who signed it made it, and 4 on any
    change: a file changed, added, removed or renamed, or a manifest not signed by a
    caseworker in the team key file.
    """
    if team_key is None:
        team_key = DEFAULT_TEAM_KEY
        if not team_key.is_file():
            raise UsageError(
                "Say which team key file to check the pack against: --team-key FILE.",
                hint="it is the file vault team-key export writes, as the team published it",
            )
    team = TeamPublicKey.from_file_bytes(read_small_file(team_key, "team key file", 64 * 1024))
    verified = verify_pack(folder, team)
    if as_json:
        render.print_json(verified.to_json())
        return
    m = verified.manifest
    render.out.print(
        render.safe(
            f"The complaint pack for case {m.case} is as it was made: {len(m.files)} files,"
            f" signed by {verified.signer} (key id {m.key_id}) on {m.made}."
        )
    )
