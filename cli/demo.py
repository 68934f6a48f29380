"""`make run`: a demo vault with a few invented reports, and what to type next.

Everything here is invented. The demo passphrase sits in a file beside the
vault so the commands below work without typing it; never do that with a
real vault.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from vault import incoming
from vault.envelope import seal_report
from vault.errors import PortInUseError, VaultError
from vault.files import create_private_file, make_private_dir, replace_private_file
from vault.intake.config import IntakeConfig
from vault.passphrase import Passphrase
from vault.report import parse_report
from vault.store import Vault

DEMO_DIR = Path("demo")
HOST = "127.0.0.1"
PORT = 8000
DEMO_REPORTS: list[dict[str, Any]] = [
    {
        "sector": "healthcare",
        "role": "GP receptionist",
        "harms": ["refusal-of-service", "racial-discrimination"],
        "what_happened": "(Invented example) Refused to register me and said people like me "
        "should go back where we came from.",
        "wants": ["support", "complaint-help"],
        "consent": {"alert": True, "research": True},
    },
    {
        "sector": "policing",
        "role": "police officer",
        "harms": ["outing", "abuse-of-power"],
        "what_happened": "(Invented example) An officer told my neighbours what I do for work "
        "after I reported a break-in.",
        "when": "last month",
        "wants": ["share-alert"],
        "consent": {"alert": True, "research": False},
    },
    {
        "sector": "housing",
        "role": "housing officer",
        "harms": ["verbal-abuse"],
        "what_happened": "(Invented example) Shouted at me in the office and threatened "
        "to end my tenancy.",
        "wants": ["nothing"],
    },
]


def make_demo(base: Path = DEMO_DIR) -> tuple[Path, Path, bool]:
    """The demo vault, its passphrase file, and whether it was made just now.

    The team key file is written afresh each time, with the current caseworkers,
    so the intake accepts the demo caseworker's pulls.
    """
    vault_dir = base / "vault-data"
    passphrase_file = base / "passphrase"
    made = not vault_dir.exists()
    if made:
        make_private_dir(base)
        # Four random words' worth (96 bits): well above the strength a new passphrase needs.
        passphrase = Passphrase(("demo-" + secrets.token_urlsafe(12)).encode())
        create_private_file(passphrase_file, passphrase.reveal() + b"\n")
        vault = Vault.create(vault_dir, "demo-caseworker", passphrase)
    else:
        vault = Vault.unlock(vault_dir, Passphrase(passphrase_file.read_bytes().split(b"\n")[0]))
    with vault:
        key = vault.team_key_export()
        replace_private_file(base / "team-key.json", key.to_file_bytes())
        if made:
            envelopes = [
                (f"demo-{i}", seal_report(parse_report(r), key.epoch, key.public_key))
                for i, r in enumerate(DEMO_REPORTS)
            ]
            incoming.import_envelopes(vault, envelopes)
            replace_private_file(
                base / "example-report.json",
                b'{"sector": "education", "role": "college tutor", "harms": ["outing"],\n'
                b' "what_happened": "(Invented example) Told my class what I do for work."}\n',
            )
    return vault_dir, passphrase_file, made


def main(argv: list[str] | None = None) -> None:
    """`make run` (`make run PORT=8080` for another port): errors are one line, exit 1."""
    parser = argparse.ArgumentParser(prog="make run", description="The Redress demo.")
    parser.add_argument("--port", type=int, default=PORT, help="the port for the form")
    port = parser.parse_args(argv).port
    os.umask(0o077)
    try:
        _run(port)
    except PortInUseError as e:
        instead = f"; try make run PORT={e.suggestion}" if e.suggestion else ""
        print(f"make run: port {e.port} is in use{instead}", file=sys.stderr)
        sys.exit(1)
    except VaultError as e:
        print(f"make run: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


def _run(port: int) -> None:
    vault_dir, passphrase_file, made = make_demo()
    demo = vault_dir.parent
    state = "Made a demo vault" if made else "Using the demo vault"
    url = f"http://{HOST}:{port}"
    # Said once the port is bound: a busy port is then one line, not a page and then an error.
    guide = f"""
{state} in {vault_dir}/ with invented reports.
The demo passphrase is in {passphrase_file} so you need not type it (never do this for real).

The report form is at {url}/ (try it on a phone-sized window too).
Replies by codename are read at {url}/replies

In another terminal, in this folder:

  source .venv/bin/activate
  export VAULT_DIR={vault_dir} VAULT_PASSPHRASE_FILE={passphrase_file}
  vault pull --from {url}                   # bring in what was sent on the form
  vault cases list
  vault cases show ID                       # use an id from the list
  vault cases note ID "Called back, offered support"
  vault cases assign ID demo-caseworker
  vault cases status ID supporting
  vault cases reply ID "We have read your report." --share-status   # if they took a codename
  vault pull --from {url}                   # delivers the reply
  vault cases close ID --outcome supported
  vault submit --team-key {demo}/team-key.json --to {url} {demo}/example-report.json

Start again with: rm -rf {demo} && make run.   Stop the form with Ctrl-C.
"""
    config = IntakeConfig(
        team_key_file=demo / "team-key.json", data_dir=demo / "intake", host=HOST, port=port
    )
    from vault.intake.server import serve

    def announce(_url: str) -> None:
        print(guide, flush=True)
        print(f"Serving the form on {url}/", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        serve(config, announce)


if __name__ == "__main__":
    main()
