"""`make run`: a demo vault with a few invented reports, and what to type next.

Everything here is invented. The demo passphrase sits in a file beside the
vault so the commands below work without typing it; never do that with a
real vault.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from vault.envelope import seal_report
from vault.files import create_private_file, make_private_dir
from vault.report import parse_report
from vault.store import Vault

DEMO_DIR = Path("demo")
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
    """The demo vault, its passphrase file, and whether it was made just now."""
    vault_dir = base / "vault-data"
    passphrase_file = base / "passphrase"
    if vault_dir.exists():
        return vault_dir, passphrase_file, False
    make_private_dir(base)
    passphrase = ("demo-" + secrets.token_urlsafe(12)).encode()
    create_private_file(passphrase_file, passphrase + b"\n")
    with Vault.create(vault_dir, "demo-caseworker", passphrase) as vault:
        key = vault.team_public_key()
        create_private_file(base / "team-key.json", key.to_file_bytes())
        envelopes = [
            (f"demo-{i}", seal_report(parse_report(r), key.epoch, key.public_key))
            for i, r in enumerate(DEMO_REPORTS)
        ]
        vault.import_envelopes(envelopes)
    (base / "example-report.json").write_text(
        '{"sector": "education", "role": "college tutor", "harms": ["outing"],\n'
        ' "what_happened": "(Invented example) Told my class what I do for work."}\n'
    )
    return vault_dir, passphrase_file, True


def main() -> None:
    os.umask(0o077)
    vault_dir, passphrase_file, made = make_demo()
    state = "Made a demo vault" if made else "Using the demo vault"
    demo = vault_dir.parent
    print(f"""
{state} in {vault_dir}/ with {len(DEMO_REPORTS)} invented reports.
The demo passphrase is in {passphrase_file} so you need not type it (never do this for real).

Try, in this shell:

  export VAULT_DIR={vault_dir} VAULT_PASSPHRASE_FILE={passphrase_file}
  source .venv/bin/activate
  vault cases list
  vault cases show ID                       # use an id from the list
  vault cases note ID "Called back, offered support"
  vault cases assign ID demo-caseworker
  vault cases status ID supporting
  vault cases close ID --outcome supported
  vault submit --team-key {demo}/team-key.json --out new.env {demo}/example-report.json
  vault import new.env

Start again with: rm -rf {demo} && make run
""")


if __name__ == "__main__":
    main()
