"""A report a laptop pulled just before it was lost, revoked before a colleague received it.

Two real laptops and one real `vault intake serve` on loopback. Bea's laptop pulls a report
(the intake deletes its copy) and sends it to the team, then is lost; amara revokes bea
before her own laptop has received it. The report must still reach amara: a report is what
anyone may send through the form, so taking one from a removed laptop's last items gives
that laptop nothing it could not do as a stranger, and dropping it would lose a person's
report for good. Its attachment does not come (a removed laptop's blob parts are not taken),
nor do bea's notes sent after the report (a removed laptop's case events are not).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, make_report
from tests.intake_server import IntakeServers, upload_attachment
from tests.sealing import attachment_entry
from tests.team_laptops import join
from vault import blobs, case_view, membership
from vault.envelope import seal_report
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import sync

LETTER = b"REMOVED-LAPTOP-LETTER " * 300


@pytest.mark.slow
def test_a_report_a_removed_laptop_sent_before_its_removal_reaches_the_team(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        bea = join(tmp_path / "b", "bea", amara, url)
        try:
            sync(amara, url)
            key = amara.team_public_key()
            entry, blob = attachment_entry(LETTER, name="letter.txt", kind="text/plain")
            upload_attachment(url, blob)
            report = make_report(
                what_happened="pulled by a laptop lost the same evening", attachments=[entry]
            )
            send_envelope(url, seal_report(report, key.epoch, key.public_key))
            (case_id,) = sync(bea, url).pulled.imported  # pulled, stored and sent
            bea.add_note(case_id, "bea's note after the report")
            sync(bea, url)
        finally:
            bea.close()
        membership.revoke_caseworker(amara, "bea")  # the laptop is lost
        sync(amara, url)
        view = case_view.show_case(amara, case_id)
        assert view.report.what_happened == "pulled by a laptop lost the same evening"
        assert [n.text for n in view.notes] == []
        # Its attachment's parts from the removed laptop are not taken (a thief could spoil
        # a colleague's copy of the same blob with its own): it waits for the intake, which
        # deleted it when bea's laptop took it, so it is missing here (docs/sync.md 4).
        assert blobs.pending_blobs(amara) != []
