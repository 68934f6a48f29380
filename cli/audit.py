"""`vault audit` and `vault auditor`: the access log for the people who check it.

``vault audit verify`` needs no vault and no passphrase: an auditor runs it on
their own machine with the bundle a caseworker gave them.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli import render
from cli.options import DEFAULT_VAULT, Caseworker, PassFile, VaultDir, unlock, write_new
from cli.options import say as _say
from vault import _crypto, auditing  # noqa: TID251 - _crypto: being removed on another branch
from vault.audit.bundle import Verified, verify
from vault.audit.signed_note import ED25519, NoteSigner
from vault.errors import UsageError
from vault.files import create_private_file, make_private_dir, read_small_file
from vault.keys import validate_name

audit_app = typer.Typer(
    help="The access log: export it for auditors, and verify an export offline.",
    no_args_is_help=True,
)
auditor_app = typer.Typer(help="Auditors: people who check the access log.", no_args_is_help=True)

MAX_BUNDLE = 1 << 30


@audit_app.command("export")
def audit_export(
    file: Annotated[Path, typer.Argument(help="Where to write the audit bundle (a new file).")],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Write the whole access log, its signed checkpoints and the public keys, for auditors.

    The bundle holds who did what to which case and when, never what a case says.
    """
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        auditing.audit_export(vault, file)
    _say(f"Wrote the audit bundle to {file}. Give it to your auditor; it opens no report.")


@audit_app.command("verify")
def audit_verify(
    bundle: Annotated[Path, typer.Argument(help="The audit bundle to check.")],
    trusted: Annotated[
        Path | None,
        typer.Option(
            "--trusted",
            help="A checkpoint you trusted before (saved with --save-checkpoint last time).",
        ),
    ] = None,
    save_checkpoint: Annotated[
        Path | None,
        typer.Option("--save-checkpoint", help="Keep the newest checkpoint, for next time."),
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


def _witness_line(result: Verified) -> str:
    if result.witnessed_size is None:
        return "Witness: no checkpoint in this bundle is witnessed."
    parts = [
        f"{name} at {datetime.fromtimestamp(t, UTC).strftime('%Y-%m-%d %H:%M:%SZ')}"
        for name, t in result.witnessed
    ]
    later = result.entries - result.witnessed_size
    if later == 0:
        tail = "that is the newest checkpoint."
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
    }


@auditor_app.command("add")
def auditor_add(
    name: Annotated[str, typer.Argument(help="The auditor's name.")],
    key: Annotated[
        Path, typer.Option("--key", help="The auditor's public key file (a verifier key line).")
    ],
    vault_dir: VaultDir = DEFAULT_VAULT,
    passphrase_file: PassFile = None,
    caseworker: Caseworker = None,
) -> None:
    """Register an auditor's public key. It verifies signatures; it opens nothing."""
    text = read_small_file(key, "auditor's key file", 4096).decode("utf-8", "replace")
    with unlock(vault_dir, passphrase_file, caseworker) as vault:
        added = auditing.add_auditor(vault, name, text)
    _say(f"Registered auditor {name} (key {added.id.hex()}). Their key opens no report.")


@auditor_app.command("keygen")
def auditor_keygen(
    name: Annotated[str, typer.Argument(help="Your name as an auditor.")],
    out: Annotated[Path, typer.Option("--out", help="A folder for the two key files.")],
) -> None:
    """Make an auditor's key pair: NAME.vkey to give the team, NAME.key to keep to yourself.

    The key signs; it cannot open a report, a note or the vault.
    """
    name = validate_name(name)
    make_private_dir(out)
    public_path, secret_path = out / f"{name}.vkey", out / f"{name}.key"
    if public_path.exists() or secret_path.exists():
        raise UsageError(f"There are already key files for {name} in {out}.")
    _, seed = _crypto.sign_keypair()
    signer = NoteSigner.from_seed(f"auditor.redress/{name}", seed)
    vkey = signer.verifier.to_vkey()
    key = signer.verifier
    secret = f"PRIVATE+KEY+{key.name}+{key.id.hex()}+" + _secret_b64(seed.reveal())
    create_private_file(secret_path, (secret + "\n").encode())
    create_private_file(public_path, (vkey + "\n").encode())
    _say(f"Wrote {public_path} (give it to the team) and {secret_path} (keep it to yourself).")


def _secret_b64(seed: bytes) -> str:
    return base64.b64encode(bytes([ED25519]) + seed).decode("ascii")


__all__ = ["audit_app", "auditor_app"]
