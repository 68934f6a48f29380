"""Review 6 of the changes since 54d533f (schema 20, the clock refusal, the welcome's epochs, a
folder that left its team, audit_export, bench --smoke, make accessibility).

Faults found, each with its test here (both mended):

- a welcome naming a huge team key epoch (a forged one: the relay, or whoever seals to the
  joiner's box key, makes it) made ``Welcome.from_doc`` build the set of every epoch up to it:
  the joining laptop's memory filled (MemoryError, or the machine swapping) instead of exit 4;
- in a folder that has left its team, ``vault cases reply`` queued the reply and said "it will
  be delivered on the next vault pull", which is refused there: the reporter never got it.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import make_report, seal_for
from tests.sealing import codename_entropy, new_codename, reply_keypair
from vault import incoming, membership, replies, team_clock
from vault.db import new_origin
from vault.errors import IntegrityError, UsageError
from vault.join_request import make_request
from vault.joining import Welcome
from vault.keys import Identity, TeamKeyPair, b64
from vault.store import Vault

REPO = Path(__file__).resolve().parents[2]


def _key(epoch: int) -> dict[str, object]:
    k = TeamKeyPair.generate(epoch)
    return {
        "epoch": epoch,
        "public_key": b64(k.public_key),
        "secret_key": b64(k.secret_key.reveal()),
    }


@pytest.mark.parametrize(("epochs", "missing"), [((1, 3), 2), ((2, 3), 1), ((1, 2, 4, 6), 3)])
def test_a_welcome_that_skips_an_epoch_names_the_first_missing(
    epochs: tuple[int, ...], missing: int
) -> None:
    doc = {"team_keys": [_key(e) for e in reversed(epochs)], "roster": [], "chains": []}
    with pytest.raises(IntegrityError, match=f"lacks team key epoch {missing} but holds epoch"):
        Welcome.from_doc(doc)


def test_a_welcome_naming_a_huge_epoch_is_refused_without_filling_the_memory() -> None:
    """Epochs 1 and 10**15: refused as skipping epoch 2, at once. Run in a child process held to
    1 GiB of address space, so that the fault (a set of 10**15 epochs) fails there, fast,
    rather than swapping the machine."""
    script = textwrap.dedent(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from tests.vault.test_review6 import _key
        from vault.errors import IntegrityError
        from vault.joining import Welcome
        try:
            Welcome.from_doc(
                {"team_keys": [_key(1), _key(10**15)], "roster": [], "chains": []}
            )
        except IntegrityError as e:
            print(e)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-1500:]
    assert "lacks team key epoch 2 but holds epoch 1000000000000000" in done.stdout


def test_a_reply_in_a_folder_that_left_its_team_is_refused_and_nothing_queued(
    vault: Vault,
) -> None:
    """amara's laptop syncs (she added bea from a join request); the folder then leaves the
    team as `vault recovery restore` makes it (vault/recovery.py calls leave_team). No pull
    runs there again, so a reply written there would never reach the reporter."""
    membership.add_from_request(vault, "bea", make_request(Identity.generate("bea"), new_origin()))
    pk, _ = reply_keypair(codename_entropy(new_codename()))
    report = make_report(reply_key=base64.b64encode(pk).decode())
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault, report))]).imported[0]
    with vault.transaction() as db:
        team_clock.leave_team(db, "recovery")
    events = vault.db.execute("SELECT count(*) FROM events").fetchone()
    with pytest.raises(UsageError, match="has left the team") as refused:
        replies.reply(vault, case_id, "We can help; call us.")
    assert "would never reach the reporter" in str(refused.value)
    assert "vault sync" not in str(refused.value.hint)
    assert replies.queued_replies(vault) == []
    assert vault.db.execute("SELECT count(*) FROM events").fetchone() == events
