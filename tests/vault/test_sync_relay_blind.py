"""What the relay keeps of three laptops' casework: nothing delivered, nothing readable.

Three real vault folders (each its own caseworker) and one real `vault intake serve` on
loopback. A report with an attachment and a codename arrives; every laptop writes notes,
one replies to the reporter, the reporter answers through the intake; all sync in rounds.
Once every laptop has synced after the last change, the relay holds no item, and a byte
search of everything in the intake's folder (inbox.db, its write-ahead log, its blobs, its
key) finds no report, note, reply or answer text, nor the attachment's name or bytes.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx
import pytest

from tests.conftest import CANARY, PASSPHRASE, bytes_under, make_report
from tests.intake_server import IntakeServers
from tests.sealing import attachment_entry, codename_keys, new_codename
from tests.team_laptops import join, shown
from tests.vault.intake.test_messages import post
from vault import _crypto, replies
from vault import pow as pow_
from vault.envelope import seal_report
from vault.intake.inbox import Inbox
from vault.reporter_messages import seal_message
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import sync

pytestmark = pytest.mark.slow

NOTES = ("NOTE-amara-5c1e rang the surgery", "NOTE-bea-91d0 letter drafted", "NOTE-carol-e77a")
REPLY = "REPLY-bea-3f02 we can call you on Tuesday"
ANSWER = "ANSWER-reporter-b6c4 after six is best"
FILE_NAME = "FILENAME-c0d3-letter.pdf"
FILE_MARK = b"ATTACHMENT-BYTES-a1b2c3d4e5f6"


def _upload(url: str, blob: bytes) -> None:
    challenge = httpx.get(url + "/api/challenge").json()
    raw = pow_.decode_challenge(challenge["challenge"])
    solution = pow_.header_value(raw, pow_.solve(raw, challenge["bits"]))
    headers = {"Content-Type": "application/octet-stream", "X-Redress-PoW": solution}
    r = httpx.post(url + "/api/attachments", content=blob, headers=headers, timeout=60)
    assert r.status_code == 201, r.text


def test_the_relay_ends_empty_and_never_held_casework_in_the_clear(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        intake = intake_servers.start(amara.team_key_export())
        url = intake.url
        bea = join(tmp_path / "b", "bea", amara, url)
        carol = join(tmp_path / "c", "carol", amara, url)
        laptops = (amara, bea, carol)
        try:
            with httpx.Client(timeout=60) as client:

                def round_() -> None:
                    for laptop in (*laptops, *laptops):
                        sync(laptop, url, client=client)

                round_()
                # A report with an attachment and a codename, taken in by bea.
                reply_pk, _, signing_pk, seed = codename_keys(new_codename())
                letter = FILE_MARK + os.urandom(200_000) + FILE_MARK
                entry, blob = attachment_entry(letter, name=FILE_NAME, kind="application/pdf")
                _upload(url, blob)
                key = amara.team_public_key()
                report = make_report(
                    attachments=[entry],
                    reply_key=base64.b64encode(reply_pk).decode(),
                    reply_signing_key=base64.b64encode(signing_pk).decode(),
                )
                send_envelope(url, seal_report(report, key.epoch, key.public_key))
                (case_id,) = sync(bea, url, client=client).pulled.imported
                round_()
                for laptop, note in zip(laptops, NOTES, strict=True):
                    laptop.add_note(case_id, note)
                replies.reply(bea, case_id, REPLY)
                round_()  # bea's pull delivers the reply to the reporter's mailbox
                team = amara.access.current
                answer = seal_message(
                    "answer",
                    ANSWER,
                    _crypto.SecretBytes(seed, "codename signing seed"),
                    team.epoch,
                    team.public_key,
                )
                assert post(url, answer).status_code == 202
                round_()  # one laptop pulls the answer, and the team gets it by the relay

                views = [shown(laptop, case_id) for laptop in laptops]
                assert views[0] == views[1] == views[2]
                assert sorted(n["text"] for n in views[0]["notes"]) == sorted(NOTES)
                assert [r["text"] for r in views[0]["replies"]] == [REPLY]
                said = [c["text"] for c in views[0]["conversation"]]
                assert said == [REPLY, ANSWER]
                round_()  # what the showing did (openings) goes round too
        finally:
            bea.close()
            carol.close()
    assert intake.stop() == 0
    with Inbox.open(intake.data) as relay:
        assert relay.relay_count() == 0, "every laptop synced: nothing is left to deliver"
    held = bytes_under(intake.data)
    for text in (CANARY, *NOTES, REPLY, ANSWER, FILE_NAME):
        assert text.encode() not in held, text
    assert FILE_MARK not in held
    for name in ("inbox.db", "inbox.key"):
        assert (intake.data / name).is_file()  # the search covered the real files
    assert len(held) > 100_000
