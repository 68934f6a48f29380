"""Review 16a of the changes since cb8f3c4 (recovery leaves the team, quarantine reopened,
the settling races, ?lang= as a tag, the db/schema split).

Faults found (severity), each mended and its test now plain: a report kept in quarantine as
``foreign`` and acknowledged has its attachments left on the intake, which deletes them
after 7 days; a report whose key reaches the laptop later than that leaves quarantine
without them, for good (medium); ``zh-Hans-TW`` (and ``zh-Hans-HK``, ``zh-Hans-MO``),
Simplified Chinese, gives English where docs/intake.md says ``zh-Hans-*`` selects
``zh-Hans`` (low); every pull reads and decrypts every envelope kept in quarantine, damaged
ones included, to find the foreign ones (low).
Mends: a team laptop leaves on the intake (does not acknowledge) an envelope sealed to a
team key epoch newer than any it holds, so its attachments stay there too; an index on the
quarantine's reason and a look at each header alone; an explicit ``hans`` subtag wins.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, make_report
from tests.intake_server import IntakeServers, upload_attachment
from tests.sealing import attachment_entry
from tests.team_laptops import join
from vault import blobs, case_view, incoming, membership
from vault.envelope import HEADER_BYTES, MAX_ENVELOPE, seal_report
from vault.intake.inbox import Inbox
from vault.intake.inbox import today as intake_today
from vault.intake.languages import choose, from_accept
from vault.pull import pull
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import sync

LETTER = b"REVIEW16A-LETTER " * 300


@pytest.mark.slow
def test_a_report_whose_key_comes_a_week_later_keeps_its_attachment(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    """bea pulls a report sealed to amara's new epoch before the key reaches her laptop
    (the moment between a sync's receiving and its pulling, or amara's sync cut off after
    telling the relay); bea's next sync is 8 days later (a part-time caseworker). The
    intake's own housekeeping (purge_old, which it runs at start and every few hours) runs
    on that day. The report leaves quarantine: its attachment must come with it."""
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        key_file = tmp_path / "intake-team-key.json"
        key_file.write_bytes(amara.team_key_export().to_file_bytes())
        server = intake_servers.start(key_file)
        url = server.url
        bea = join(tmp_path / "b", "bea", amara, url)
        try:
            membership.rotate_team_key(amara)
            sync(amara, url)  # the relay, so the intake, now takes reports sealed to it
            key = amara.team_public_key()
            entry, blob = attachment_entry(LETTER, name="letter.txt", kind="text/plain")
            upload_attachment(url, blob)
            report = make_report(
                what_happened="review16a: sealed to the newest key", attachments=[entry]
            )
            send_envelope(url, seal_report(report, key.epoch, key.public_key))
            kept = pull(bea, url)  # before bea's laptop has received the new key
            assert kept.imported == []  # kept in quarantine (or, mended, left on the intake)

            # Eight days on: the intake's housekeeping, as it runs at start.
            assert server.stop() == 0
            with Inbox.open(server.data) as inbox:
                inbox.purge_old(intake_today() + timedelta(days=8))
            url = intake_servers.start(key_file, data=server.data).url

            synced = sync(bea, url)  # receives the key; the report leaves quarantine
            (case_id,) = synced.pulled.imported
            assert incoming.quarantine_count(bea) == 0
            view = case_view.show_case(bea, case_id)
            assert view.report.what_happened == "review16a: sealed to the newest key"
            blobs.write_attachment(bea, case_id, 1, tmp_path / "letter.txt")
            assert (tmp_path / "letter.txt").read_bytes() == LETTER
        finally:
            bea.close()


@pytest.mark.parametrize("tag", ["zh-Hans-TW", "zh-Hans-HK", "zh-Hans-MO"])
def test_simplified_chinese_of_any_region_is_zh_hans(tag: str) -> None:
    assert choose(tag, None) == "zh-Hans"
    assert from_accept(tag) == "zh-Hans"


def _bytes_read() -> int:
    """Bytes this process has read through system calls so far (Linux: rchar)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_taking_reports_out_of_quarantine_does_not_read_damaged_ones_every_pull(
    tmp_path: Path,
) -> None:
    with Vault.create(tmp_path / "v", "amara", PASSPHRASE) as vault:
        key = vault.team_public_key()
        sealed = seal_report(make_report(what_happened="review16a"), key.epoch, key.public_key)
        header = sealed[:HEADER_BYTES]
        junk = [(f"junk-{i}", header + os.urandom(MAX_ENVELOPE - HEADER_BYTES)) for i in range(24)]
        kept = incoming.store_pulled(vault, junk)  # as a pull keeps them
        assert [reason for _, reason, _ in kept.quarantined] == ["damaged"] * 24
    with Vault.unlock(tmp_path / "v", PASSPHRASE) as vault:  # a later pull, its own connection
        before = _bytes_read()
        reopened = incoming.reopen_quarantined(vault)
        read = _bytes_read() - before
        assert reopened.imported == []
        assert read < 4 << 20, f"{read >> 20} MiB read to find no foreign envelope"
