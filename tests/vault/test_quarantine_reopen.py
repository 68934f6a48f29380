"""A report sealed to a team key that reached this laptop only after the report did.

Two real laptops and one real `vault intake serve` on loopback. Amara starts a new team key
epoch and tells the relay; a reporter seals to it at once; bea pulls before her laptop has
received the new key (the moment between a sync's receiving and its pulling), so the report
is kept in quarantine, sealed, and the intake deletes its copy. Bea's next sync brings the
key: the report is taken out of quarantine and stored as a case, its attachment with it,
and it reaches amara's laptop too. Nothing is lost.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, make_report
from tests.intake_server import IntakeServers, upload_attachment
from tests.sealing import attachment_entry
from tests.team_laptops import join
from vault import blobs, case_view, incoming, membership
from vault.envelope import seal_report
from vault.pull import pull
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import sync

LETTER = b"QUARANTINE-REOPEN-LETTER " * 400


@pytest.mark.slow
def test_a_report_sealed_to_a_key_that_came_later_leaves_quarantine(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        bea = join(tmp_path / "b", "bea", amara, url)
        try:
            membership.rotate_team_key(amara)
            sync(amara, url)  # the relay, and so the intake's form, now seal to the new epoch
            key = amara.team_public_key()
            entry, blob = attachment_entry(LETTER, name="letter.txt", kind="text/plain")
            upload_attachment(url, blob)
            report = make_report(what_happened="sealed to the newest key", attachments=[entry])
            send_envelope(url, seal_report(report, key.epoch, key.public_key))

            kept = pull(bea, url)  # before bea's laptop has received the new key
            assert kept.imported == []
            assert kept.quarantined == {"foreign": 1}
            assert incoming.quarantine_count(bea) == 1

            synced = sync(bea, url)  # receives the key, then takes the report out of quarantine
            (case_id,) = synced.pulled.imported
            assert incoming.quarantine_count(bea) == 0
            assert synced.pulled.in_quarantine == 0
            view = case_view.show_case(bea, case_id)
            assert view.report.what_happened == "sealed to the newest key"
            blobs.write_attachment(bea, case_id, 1, tmp_path / "letter.txt")
            assert (tmp_path / "letter.txt").read_bytes() == LETTER

            assert sync(bea, url).pulled.imported == []  # once only
            sync(amara, url)
            shown = case_view.show_case(amara, case_id)
            assert shown.report.what_happened == "sealed to the newest key"
        finally:
            bea.close()
