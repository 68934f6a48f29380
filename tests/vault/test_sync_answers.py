"""A reporter's answer pulled by a team's laptop that does not hold its case yet (another
laptop took the report in and has not synced): left on the REAL intake for that laptop, never
refused and lost (docs/sync.md, section 4). Two real vault folders, one real intake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, make_report, seal_for
from tests.intake_server import IntakeServers
from tests.sealing import codename_keys, new_codename
from tests.team_laptops import join
from tests.vault.intake.test_messages import post
from vault import _crypto, case_view, incoming, membership, reporter_messages
from vault.db import new_origin
from vault.envelope import envelope_id
from vault.errors import UnknownReporterError
from vault.join_request import make_request
from vault.keys import Identity, b64
from vault.pull import IntakeClient, pull
from vault.reporter_messages import seal_message
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import sync


def test_an_answer_waits_on_the_intake_for_the_laptop_that_holds_its_case(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export(), pow_bits=4).url
        bea = join(tmp_path / "b", "bea", amara, url)
        try:
            keys = codename_keys(new_codename())
            fields = {"reply_key": b64(keys[0]), "reply_signing_key": b64(keys[2])}
            send_envelope(url, seal_for(amara, make_report(**fields)))
            # amara's laptop takes the report in (a pull: it has not synced it to the team)
            (case_id,) = pull(amara, url).imported
            team = amara.access.current
            seed = _crypto.SecretBytes(keys[3], "codename signing seed")
            today = datetime.now(UTC).date()
            behind = today - timedelta(days=45)  # the phone's date: the 30 days run from today
            answer = seal_message(
                "answer", "Yes, after six.", seed, team.epoch, team.public_key, str(behind), 0
            )
            assert post(url, answer).status_code == 202
            other = seal_for(amara, make_report(what_happened="a report waiting beside it"))
            send_envelope(url, other)
            with IntakeClient(url, amara.identity) as intake:  # the pull API gives the day
                page = {e["id"]: e.get("received") for e in intake.pull_page(None)[0]}
            ids = (reporter_messages.message_id(answer), envelope_id(other).hex())
            assert page == {ids[0]: today.isoformat(), ids[1]: None}  # a message's only

            # Bea's laptop pulls the answer before it has the case: it stays on the intake.
            first = sync(bea, url).pulled
            assert (first.answers, first.failures, first.messages_for_colleagues) == (0, [], 1)
            assert sync(bea, url).pulled.messages_for_colleagues == 1  # still there
            # Amara's laptop takes it in at its next sync (its own case), and tells bea's.
            assert sync(amara, url).pulled.answers == 1
            sync(bea, url)
            for laptop in (amara, bea):
                said = case_view.show_case(laptop, case_id).conversation
                assert [(c.speaker, c.text) for c in said] == [("reporter", "Yes, after six.")]
                assert sync(laptop, url).pulled.messages_for_colleagues == 0  # nothing left

            # An old one (past WAIT_FOR_COLLEAGUES_DAYS), or one on a laptop of no team, is
            # refused as before: the intake may let it go.
            stranger = codename_keys(new_codename())
            old_day = today - timedelta(days=reporter_messages.WAIT_FOR_COLLEAGUES_DAYS + 1)
            messages = [
                seal_message(
                    "answer", "hello", _crypto.SecretBytes(stranger[3], "seed"),
                    team.epoch, team.public_key, day.isoformat(), 0,
                )
                for day in (today, old_day)
            ]  # fmt: skip
            taken_in = reporter_messages.take_pulled(bea, messages)
            assert taken_in.for_colleagues == 1
            assert [type(e) for _, e in taken_in.refused] == [UnknownReporterError]
            assert len(taken_in.held) == 1  # only the old one may be deleted from the intake
        finally:
            bea.close()


# --- review 12m ------------------------------------------------------------------------------


def test_an_answer_two_laptops_both_took_in_is_shown_once(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export(), pow_bits=4).url
        keys = codename_keys(new_codename())
        fields = {"reply_key": b64(keys[0]), "reply_signing_key": b64(keys[2])}
        (case_id,) = incoming.import_envelopes(
            amara, [("r", seal_for(amara, make_report(**fields)))]
        ).imported
        bea = join(tmp_path / "b", "bea", amara, url)  # her first sync brings her the case
        try:
            team = amara.access.current
            answer = seal_message(
                "answer", "Only on Fridays.", _crypto.SecretBytes(keys[3], "seed"), team.epoch,
                team.public_key, datetime.now(UTC).date().isoformat(), 0,
            )  # fmt: skip
            # Amara's pull stored it and was killed before acknowledging it; bea's takes it.
            assert reporter_messages.take_pulled(amara, [answer]).answers == 1
            assert reporter_messages.take_pulled(bea, [answer]).answers == 1
            for laptop in (amara, bea, amara):
                sync(laptop, url)
            for laptop in (amara, bea):
                said = [c.text for c in case_view.show_case(laptop, case_id).conversation]
                assert said == ["Only on Fridays."], laptop.identity.name
        finally:
            bea.close()


def test_an_answer_from_a_phone_with_a_wrong_date_is_left_for_a_colleagues_laptop(
    tmp_path: Path,
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        membership.add_from_request(
            amara, "bea", make_request(Identity.generate("bea"), new_origin())
        )
        team = amara.access.current
        seed = _crypto.SecretBytes(codename_keys(new_codename())[3], "seed")
        behind = datetime.now(UTC).date() - timedelta(days=45)  # the phone's date, not today
        answer = seal_message(
            "answer", "I can talk now.", seed, team.epoch, team.public_key, behind.isoformat(), 0
        )
        # It arrived on the intake today (the pull says so); bea's laptop holds its case.
        arrived = {reporter_messages.message_id(answer): datetime.now(UTC).date().isoformat()}
        taken = reporter_messages.take_pulled(amara, [answer], arrived)
        assert taken.held == [], "the intake may delete an answer bea's laptop is waiting for"
        # From an intake that does not give the day, the phone's date counts, as before.
        assert len(reporter_messages.take_pulled(amara, [answer]).held) == 1


def test_forged_messages_left_on_the_intake_do_not_starve_a_real_answer(
    intake_servers: IntakeServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vault import pull as pull_mod

    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        membership.add_from_request(
            amara, "bea", make_request(Identity.generate("bea"), new_origin())
        )
        url = intake_servers.start(amara.team_key_export(), pow_bits=4).url
        keys = codename_keys(new_codename())
        fields = {"reply_key": b64(keys[0]), "reply_signing_key": b64(keys[2])}
        send_envelope(url, seal_for(amara, make_report(**fields)))
        pull(amara, url)
        team, day = amara.access.current, datetime.now(UTC).date().isoformat()

        def sealed(seed: bytes) -> bytes:
            seed_ = _crypto.SecretBytes(seed, "seed")
            return seal_message("answer", "x" * 40, seed_, team.epoch, team.public_key, day, 0)

        answer = sealed(keys[3])
        while reporter_messages.message_id(answer) < "8":
            answer = sealed(keys[3])
        forged: list[bytes] = []
        while len(forged) < 2:  # the attacker's, ids below the answer's
            body = sealed(_crypto.random_bytes(32))
            if reporter_messages.message_id(body) < reporter_messages.message_id(answer):
                forged.append(body)
        for body in [*forged, answer]:
            assert post(url, body).status_code == 202
        # 64 MiB is 256 of the largest messages: the same with two of these
        monkeypatch.setattr(pull_mod, "MESSAGE_BUDGET", 2 * len(answer))
        taken = [pull(amara, url).answers for _ in range(2)]
        assert sum(taken) == 1, "the reporter's answer is never taken in"
