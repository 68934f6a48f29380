"""Two laptops and a real intake as their relay: join, add, sync, concurrent changes.

Every step is the real `vault` command on two real vault folders, each with its own
identity, against `vault intake serve` on loopback (tests/intake_server.py); three laptops
are driven through the library against the same real intake. The receiver's checks of a
misbehaving relay are unit-tested against a stand-in that hands out chosen items.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import (
    CANARY,
    PASSPHRASE,
    Cli,
    assert_clean_error,
    bytes_under,
    make_report,
    seal_for,
)
from tests.intake_server import IntakeServers, upload_attachment
from tests.sealing import attachment_entry, codename_keys, new_codename
from tests.team_laptops import ScriptedRelay as _Relay
from tests.team_laptops import join as _join
from vault import (
    _crypto,
    audit_export,
    case_view,
    erasure,
    incoming,
    joining,
    membership,
    replies,
    reporter_messages,
    retention,
    schema,
    tombstones,
)
from vault.audit.team_verify import verify_team
from vault.check import check_vault
from vault.db import new_origin
from vault.envelope import seal_report
from vault.errors import IntegrityError, VaultError, WrongKeyError
from vault.intake import auth as intake_auth
from vault.intake.inbox import Inbox
from vault.join_request import make_request
from vault.keys import Identity, TeamPublicKey, b64
from vault.pull import PullResult
from vault.receiving import receive
from vault.relay_client import RelayClient
from vault.relay_items import FIRST_PREV, Item, RelayMisbehaved, make_item
from vault.reporter_messages import seal_message
from vault.sending import push
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import first_welcome, sync
from vault.sync_result import SyncResult
from vault.welcoming import welcome_joiners

pytestmark = pytest.mark.slow


def _ok(result: object) -> str:
    assert getattr(result, "returncode", None) == 0, (
        getattr(result, "stdout", ""),
        getattr(result, "stderr", ""),
    )
    return str(getattr(result, "stdout", "")) + str(getattr(result, "stderr", ""))


def _show(cli: Cli, vault: Path, case_id: str) -> Any:
    result = cli("cases", "show", case_id, "--json", "--vault", str(vault))
    _ok(result)
    return json.loads(result.stdout)


def _worked_on(shown: Any) -> list[tuple[str, str, str]]:
    """The case's history but its import and openings (each laptop records its own)."""
    return [
        (h["actor"], h["action"], h["detail"])
        for h in shown["history"]
        if h["action"] not in ("imported", "opened")
    ]


def test_a_second_laptop_joins_gets_everything_and_both_converge(
    cli: Cli, intake_servers: IntakeServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "amara-laptop", tmp_path / "bea-laptop"
    _ok(cli("init", "--name", "amara", "--vault", str(a)))
    _ok(cli("team-key", "export", "team.json", "--vault", str(a)))
    intake = intake_servers.start(tmp_path / "team.json")
    url = intake.url

    # A report with an attachment arrives, and amara pulls it and writes a note.
    key = TeamPublicKey.from_file_bytes((tmp_path / "team.json").read_bytes())
    letter = b"%PDF-1.4 the letter " + os.urandom(3 << 20)  # more than one relay part
    entry, blob = attachment_entry(letter, name="letter.pdf", kind="application/pdf")
    upload_attachment(intake.url, blob)
    send_envelope(url, seal_report(make_report(attachments=[entry]), key.epoch, key.public_key))
    pulled = cli("pull", "--from", url, "--vault", str(a))
    _ok(pulled)
    case_id = pulled.stdout.strip()
    _ok(cli("cases", "note", case_id, "spoke to her on the phone", "--vault", str(a)))

    # Bea joins from her own laptop; amara adds her from the request and syncs.
    joined = _ok(cli("join", "--name", "bea", "--out", "bea.request", "--vault", str(b)))
    fingerprint = json.loads((tmp_path / "bea.request").read_text())["fingerprint"]
    assert f"Fingerprint: {fingerprint}" in joined
    assert not (b / "vault.db").exists()
    too_soon = cli("sync", "--from", url, "--vault", str(b))
    assert_clean_error(too_soon, 3)
    assert "does not know this laptop's owner yet" in too_soon.stderr
    not_yet = cli("cases", "list", "--vault", str(b))  # no vault until the first sync
    assert_clean_error(not_yet, 1)
    assert "joining a team" in not_yet.stderr
    assert "vault init" not in not_yet.stderr
    added = _ok(cli("caseworker", "add", "bea", "--request", "bea.request", "--vault", str(a)))
    assert fingerprint in added
    _ok(cli("sync", "--from", url, "--vault", str(a)))

    # Bea's first sync: the team's keys, the case with its history and its attachment.
    first = _ok(cli("sync", "--from", url, "--vault", str(b)))
    assert "Joined the team" in first
    assert sorted(p.name for p in (b / "caseworkers").iterdir()) == ["bea.access", "bea.key"]
    shown = _show(cli, b, case_id)
    assert [n["text"] for n in shown["notes"]] == ["spoke to her on the phone"]

    # A laptop whose clock is 10 minutes out is refused by the intake for its clock, and
    # says so (exit 1), not that its owner was removed from the team.
    with monkeypatch.context() as skewed:
        ahead = SimpleNamespace(time=lambda: time.time() + 600)
        skewed.setattr(intake_auth, "time", ahead)  # the time this laptop signs with
        for laptop in (a, b):
            refused = cli("sync", "--from", url, "--vault", str(laptop))
            assert_clean_error(refused, 1)
            assert "this laptop's clock is more than 5 minutes away" in refused.stderr
            assert "date, time and time zone" in refused.stderr
            assert "removed" not in refused.stderr
    assert CANARY in json.dumps(shown)
    _ok(cli("cases", "attachment", case_id, "1", "--out", "got.pdf", "--vault", str(b)))
    assert (tmp_path / "got.pdf").read_bytes() == letter

    # Apart, amara assigns the case to bea while bea moves it to triage and writes a note.
    _ok(cli("cases", "assign", case_id, "bea", "--vault", str(a)))
    _ok(cli("cases", "status", case_id, "triage", "--vault", str(b)))
    _ok(cli("cases", "note", case_id, "called back", "--vault", str(b)))
    for laptop in (b, a, b):
        _ok(cli("sync", "--from", url, "--vault", str(laptop)))

    on_a, on_b = _show(cli, a, case_id), _show(cli, b, case_id)
    for shown in (on_a, on_b):
        assert shown["status"] == "triage"
        assert shown["assignee"] == "bea"
        assert sorted(n["text"] for n in shown["notes"]) == [
            "called back",
            "spoke to her on the phone",
        ]
    assert _worked_on(on_a) == _worked_on(on_b), "the same history, in the same order"
    assert len(_worked_on(on_a)) == 5  # two notes, the attachment written out, assign, status

    # Both move the case on, apart, to different statuses: a conflict, the same everywhere.
    _ok(cli("cases", "status", case_id, "supporting", "--vault", str(a)))
    _ok(cli("cases", "status", case_id, "referred", "--vault", str(b)))
    for laptop in (a, b, a):
        _ok(cli("sync", "--from", url, "--vault", str(laptop)))
    on_a, on_b = _show(cli, a, case_id), _show(cli, b, case_id)
    assert on_a["status"] == on_b["status"] == "referred", "bea's stamp is later"
    assert on_a["conflicts"] == on_b["conflicts"]
    (conflict,) = on_a["conflicts"]
    assert conflict["field"] == "status"
    assert [(c["actor"], c["value"], c["stands"]) for c in conflict["changes"]] == [
        ("amara", "supporting", False),
        ("bea", "referred", True),
    ]
    shown = _ok(cli("cases", "show", case_id, "--vault", str(a)))
    assert "Conflict: the status was changed apart" in shown
    assert "set it to referred  (stands)" in shown

    # `vault pull` is the same command: it syncs too.
    _ok(cli("cases", "close", case_id, "--outcome", "supported", "--vault", str(a)))
    _ok(cli("pull", "--from", url, "--vault", str(a)))
    _ok(cli("pull", "--from", url, "--vault", str(b)))
    assert _show(cli, b, case_id)["status"] == "closed"

    # Amara revokes bea: at amara's next sync the relay refuses bea's laptop, and takes
    # reports to the new team key without a restart; bea's laptop cannot open them.
    revoked = _ok(cli("caseworker", "revoke", "bea", "--vault", str(a)))
    assert "vault sync" in revoked
    told = _ok(cli("sync", "--from", url, "--vault", str(a)))
    assert "Told the relay and the other laptops that bea was removed." in told
    gone = cli("sync", "--from", url, "--vault", str(b))
    assert_clean_error(gone, 3)
    assert "a caseworker removed from the team" in gone.stderr
    assert "clock" not in gone.stderr
    _ok(cli("team-key", "export", "team-2.json", "--vault", str(a)))
    key = TeamPublicKey.from_file_bytes((tmp_path / "team-2.json").read_bytes())
    assert key.epoch == 2
    send_envelope(url, seal_report(make_report(), key.epoch, key.public_key))
    after = cli("sync", "--from", url, "--vault", str(a))
    _ok(after)
    _show(cli, a, after.stdout.strip())
    with Vault.unlock(b, PASSPHRASE) as bea:
        assert bea.access.team_key(2) is None

    # The relay holds nothing readable.
    held = bytes_under(intake.data)
    for text in (CANARY.encode(), b"called back", b"spoke to her", b"letter.pdf"):
        assert text not in held


def _state(laptop: Vault, case_id: str) -> tuple[object, ...]:
    view = case_view.show_case(laptop, case_id)
    worked = [(h.actor, h.action, h.detail) for h in view.history if h.action != "opened"][1:]
    notes = sorted(n.text for n in view.notes)
    return (view.summary.status, view.summary.assignee, tuple(worked), tuple(notes), view.conflicts)


def test_three_laptops_converge_and_a_revocation_reaches_the_others(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        intake = intake_servers.start(amara.team_key_export())
        url = intake.url
        send_envelope(url, seal_for(amara))
        (case_id,) = sync(amara, url).pulled.imported
        bea = _join(tmp_path / "b", "bea", amara, url)
        carol = _join(tmp_path / "c", "carol", amara, url)
        laptops = (amara, bea, carol)
        for laptop in (bea, carol):
            sync(laptop, url)  # each now has the other as a member
        try:
            # All three change the case apart, then sync in an order, and again.
            amara.add_note(case_id, "from amara")
            bea.set_status(case_id, "triage")
            carol.set_status(case_id, "supporting")
            carol.assign(case_id, "bea")
            for laptop in (carol, amara, bea, carol, amara):
                sync(laptop, url)
            states = {_state(laptop, case_id) for laptop in laptops}
            assert len(states) == 1, states
            ((status, assignee, _, notes, conflicts),) = states
            assert (status, assignee, notes) == ("supporting", "bea", ("from amara",))
            assert [c.field for c in conflicts] == ["status"]

            # A reporter's answer taken in on amara's laptop reaches bea's with its event.
            keys = codename_keys(new_codename())
            fields = {"reply_key": b64(keys[0]), "reply_signing_key": b64(keys[2])}
            envelope = seal_for(amara, make_report(**fields))
            (asked,) = incoming.import_envelopes(amara, [("r", envelope)]).imported
            team = amara.access.current
            seed = _crypto.SecretBytes(keys[3], "codename signing seed")
            answer = seal_message(
                "answer", "Yes, after six.", seed, team.epoch, team.public_key, "2026-01-02", 0
            )
            assert reporter_messages.take_pulled(amara, [answer]).answers == 1
            sync(amara, url)
            sync(bea, url)
            said = case_view.show_case(bea, asked).conversation
            assert [(c.speaker, c.text) for c in said] == [("reporter", "Yes, after six.")]

            # Amara's reply, delivered by her laptop's sync, shows as delivered on bea's.
            replies.reply(amara, asked, "We can meet at six.")
            sync(bea, url)
            sync(amara, url)  # delivers the reply to the intake, then tells the team
            sync(bea, url)
            (answered,) = case_view.show_case(bea, asked).replies
            assert answered.delivered

            # Amara revokes carol: bea's laptop takes the new key and re-keys its database;
            # carol's laptop is refused.
            bea_db_key = bea.access.db_key
            membership.revoke_caseworker(amara, "carol")
            assert sync(amara, url).revoked == ["carol"]
            assert sync(bea, url).new_epoch == 2
            assert bea.access.team_key(2) is not None
            with pytest.raises(WrongKeyError):  # bea's database is under a new key now
                schema.connect(tmp_path / "b" / "vault.db", bea_db_key)
            with pytest.raises(WrongKeyError):
                sync(carol, url)
            bea.add_note(case_id, "after carol left")
            sync(bea, url)
            sync(amara, url)
            assert "after carol left" in [n.text for n in case_view.show_case(amara, case_id).notes]
            assert check_vault(amara) == []
            assert check_vault(bea) == []
            sync(amara, url)  # what amara did since (opening the case) reaches bea...
            sync(bea, url)
            assert intake.stop() == 0
            with Inbox.open(intake.data) as relay:  # ...and the relay holds nothing now
                assert relay.relay_count() == 0
        finally:
            bea.close()
            carol.close()
    with Vault.unlock(tmp_path / "b", PASSPHRASE) as again:  # its new access file opens it
        assert again.access.current.epoch == 2


def test_a_new_laptop_added_and_an_old_one_revoked_before_one_sync(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    """keys/README.md, "A forgotten passphrase": a colleague adds bea-2 with --request,
    revokes bea, then syncs once. The new epoch's key is not sent to bea-2 as an item (the
    relay does not know her yet, and would refuse it): her welcome holds it. Restarted with
    the file it was first started with, the intake names the team as it now stands."""
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        key_file = tmp_path / "team-key.json"
        key_file.write_bytes(amara.team_key_export().to_file_bytes())
        intake = intake_servers.start(key_file)
        url = intake.url
        bea = _join(tmp_path / "b", "bea", amara, url)
        try:
            request = joining.start_join(tmp_path / "b2", "bea-2", PASSPHRASE)
            membership.add_from_request(amara, "bea-2", request)
            membership.revoke_caseworker(amara, "bea")
            told = sync(amara, url)
            assert told.revoked == ["bea"]
            assert told.welcomed == ["bea-2"]
            identity, own = joining.unlock_joiner(tmp_path / "b2", PASSPHRASE)
            welcome = first_welcome(identity, own, url)
            with joining.finish_join(tmp_path / "b2", identity, own, welcome) as again:
                sync(again, url)
                assert again.access.current.epoch == 2
                # Her log starts at epoch 2 (taken at joining), so later epochs verify.
                membership.rotate_team_key(again)
                membership.rotate_team_key(again)
                sync(again, url)
                verify_team(audit_export.encode(again, again.db))
            with pytest.raises(WrongKeyError) as refused:
                sync(bea, url)
            assert "removed from the team" in str(refused.value.hint)
            assert sync(amara, url).taken_epochs == [(3, None), (4, None)]  # each is said
            verify_team(audit_export.encode(amara, amara.db))
            intake.stop()
            again_started = intake_servers.start(key_file, data=intake.data)
            deadline = time.monotonic() + 10
            while (
                len(lines := again_started.output()[0].splitlines()) < 5
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            now = amara.access.current
            assert lines[1:] == [
                "Team key epoch: 4",
                f"Team key fingerprint: {now.public.fingerprint}",
                f"Accepts pulls from: amara (key id {amara.identity.key_id})",
                f"Accepts pulls from: bea-2 (key id {identity.key_id})",
            ]
        finally:
            bea.close()


def test_one_case_per_report_a_member_added_mid_stream_and_a_rotated_key(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    """Three things a team of three meets: the same report taken in on two laptops before
    either synced; a colleague's items still on their way when a new member is added; and a
    team key rotated on one laptop, which reaches the relay and the others."""
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        intake = intake_servers.start(amara.team_key_export())
        url = intake.url
        bea = _join(tmp_path / "b", "bea", amara, url)
        carol = None
        try:
            # The same report, imported on both laptops apart: the same case id on each...
            envelope = seal_for(amara)
            (on_a,) = incoming.import_envelopes(amara, [("r", envelope)]).imported
            (on_b,) = incoming.import_envelopes(bea, [("r", envelope)]).imported
            assert on_a == on_b
            # ...so syncing finds nothing to set apart: one case on each laptop.
            results = [sync(laptop, url) for laptop in (amara, bea, amara)]
            assert [r.clashes for r in results] == [[], [], []]
            for laptop in (amara, bea):
                assert laptop.db.execute("SELECT count(*) FROM cases").fetchone()[0] == 1

            # Amara adds carol while bea's note is on the relay, not yet on amara's laptop:
            # carol gets it from the relay (her welcome holds only what amara holds).
            request = joining.start_join(tmp_path / "c", "carol", PASSPHRASE)
            membership.add_from_request(amara, "carol", request)
            bea.add_note(on_a, "from bea, on its way")
            sync(bea, url)
            with RelayClient(url, amara.identity) as relay:
                assert welcome_joiners(amara, relay) == ["carol"]
                push(amara, relay)
            identity, own = joining.unlock_joiner(tmp_path / "c", PASSPHRASE)
            welcome = first_welcome(identity, own, url)
            carol = joining.finish_join(tmp_path / "c", identity, own, welcome)
            sync(carol, url)
            bea.add_note(on_a, "from bea, after carol joined")
            for laptop in (bea, amara, carol):
                sync(laptop, url)
            laptops = (amara, bea, carol)
            for laptop in laptops:
                notes = sorted(n.text for n in case_view.show_case(laptop, on_a).notes)
                assert notes == ["from bea, after carol joined", "from bea, on its way"]

            # Amara rotates the team key: the relay takes reports sealed to it at once (no
            # restart), and the other laptops take the key at their next sync.
            membership.rotate_team_key(amara)
            assert sync(amara, url).new_epochs == [(2, None)]
            for laptop in (bea, carol):
                taken = sync(laptop, url)
                assert (taken.new_epoch, taken.new_epoch_revoked) == (2, None)
            key = amara.team_key_export()
            assert key.epoch == 2
            envelope_of_later = seal_for(amara, make_report(what_happened="after the rotation"))
            send_envelope(url, envelope_of_later)
            (later,) = sync(bea, url).pulled.imported
            assert case_view.show_case(bea, later).report.what_happened == "after the rotation"
            for laptop in (carol, amara, bea, carol, amara):
                sync(laptop, url)
            assert {_state(laptop, later) for laptop in laptops} == {_state(bea, later)}
            for laptop in laptops:
                assert laptop.access.current.epoch == 2

            # A retention policy set on one laptop is the policy on every laptop.
            set_here = retention.set_policy(bea, erase_closed_after=24, flag_untouched_after=6)
            for laptop in (bea, carol, amara):
                sync(laptop, url)
            for laptop in laptops:
                assert retention.policy(laptop) == set_here

            # Erasing a case on one laptop erases it on every laptop, with one farewell.
            erasure.erase_case(amara, later, "withdrawn")
            sync(amara, url)
            for laptop in (bea, carol):
                assert sync(laptop, url).erased == [later]
            for laptop in laptops:
                assert (
                    laptop.db.execute("SELECT 1 FROM cases WHERE id = ?", (later,)).fetchone()
                    is None
                )
                assert tombstones.tombstone(laptop.db, later) is not None
                assert check_vault(laptop) == []
            for laptop in (bea, carol):
                assert laptop.db.execute("SELECT count(*) FROM farewells").fetchone()[0] == 0
            # The erased report, pulled or relayed again, is never stored afresh.
            assert incoming.import_envelopes(bea, [("again", envelope_of_later)]).imported == []
        finally:
            bea.close()
            if carol is not None:
                carol.close()


@pytest.fixture
def peer_and_vault(tmp_path: Path) -> Iterator[tuple[Vault, Identity, str]]:
    """A syncing vault, and a colleague's laptop (identity, log origin) it knows."""
    peer = Identity.generate("bea")
    origin = new_origin()
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        membership.add_from_request(amara, "bea", make_request(peer, origin))
        yield amara, peer, origin


def _events_item(vault: Vault, peer: Identity, origin: str, n: int, prev: str) -> Item:
    team = vault.access.current
    sealed = _crypto.seal(json.dumps({"t": "events", "events": []}).encode(), team.public_key)
    return make_item(peer, origin, n, prev, "team", team.epoch, sealed)


@pytest.mark.parametrize(
    ("misdeed", "words"),
    [
        ("drop", "dropped item 2 from bea's laptop \\(vault"),
        ("fork", "different item 1 from bea's laptop \\(vault"),
        ("reorder", "does not follow"),
    ],
)
def test_a_relay_that_drops_changes_or_reorders_items_is_named(
    peer_and_vault: tuple[Vault, Identity, str], misdeed: str, words: str
) -> None:
    vault, peer, origin = peer_and_vault
    one = _events_item(vault, peer, origin, 1, FIRST_PREV)
    two = _events_item(vault, peer, origin, 2, one.hash)
    three = _events_item(vault, peer, origin, 3, two.hash)
    other_one = _events_item(vault, peer, origin, 1, FIRST_PREV)
    bad_two = _events_item(vault, peer, origin, 2, other_one.hash)
    first, later = {
        "drop": ([one, three], []),
        "fork": ([one], [other_one]),
        "reorder": ([one, bad_two], []),
    }[misdeed]
    result = SyncResult(PullResult())

    def both_syncs() -> None:
        receive(vault, _Relay([i.to_wire() for i in first]), result)  # type: ignore[arg-type]
        receive(vault, _Relay([i.to_wire() for i in later]), result)  # type: ignore[arg-type]

    with pytest.raises(RelayMisbehaved, match=words):
        both_syncs()


class _CutOff(_Relay):
    """A relay whose answer to the acknowledgement never comes (the sync was cut off)."""

    def acknowledge(self, upto: int) -> None:
        raise VaultError("Could not reach the intake.")


def test_an_item_cut_off_before_its_acknowledgement_is_taken_once(
    peer_and_vault: tuple[Vault, Identity, str],
) -> None:
    vault, peer, origin = peer_and_vault
    one = _events_item(vault, peer, origin, 1, FIRST_PREV)
    two = _events_item(vault, peer, origin, 2, one.hash)
    result = SyncResult(PullResult())
    with pytest.raises(VaultError, match="Could not reach"):
        receive(vault, _CutOff([one.to_wire()]), result)  # type: ignore[arg-type]
    receive(vault, _Relay([one.to_wire(), two.to_wire()]), result)  # type: ignore[arg-type]
    held = vault.db.execute("SELECT n, head, acked FROM sync_received WHERE origin = ?", (origin,))
    assert held.fetchall() == [(2, two.hash, 2)]


def test_an_item_sent_again_after_its_acknowledgement_is_a_replay_named_once(
    peer_and_vault: tuple[Vault, Identity, str],
) -> None:
    """The relay confirmed it deleted items 1 and 2, then sends item 1 again (the same
    bytes) with item 3: exit 4 naming the replay; item 3 is taken all the same, and the next
    sync says nothing (docs/sync.md section 5)."""
    vault, peer, origin = peer_and_vault
    one = _events_item(vault, peer, origin, 1, FIRST_PREV)
    two = _events_item(vault, peer, origin, 2, one.hash)
    three = _events_item(vault, peer, origin, 3, two.hash)
    result = SyncResult(PullResult())
    receive(vault, _Relay([one.to_wire(), two.to_wire()]), result)  # type: ignore[arg-type]
    with pytest.raises(
        RelayMisbehaved, match=r"item 1 from bea's laptop .* again, after it was acknowledged"
    ) as caught:
        receive(vault, _Relay([one.to_wire(), three.to_wire()]), result)  # type: ignore[arg-type]
    assert caught.value.exit_code == 4
    held = vault.db.execute("SELECT n, head, acked FROM sync_received WHERE origin = ?", (origin,))
    assert held.fetchall() == [(3, three.hash, 3)]
    receive(vault, _Relay([]), result)  # type: ignore[arg-type]
    assert vault.db.execute("SELECT count(*) FROM sync_spool").fetchone()[0] == 0


def test_an_item_set_aside_is_not_counted_as_acknowledged(
    peer_and_vault: tuple[Vault, Identity, str],
) -> None:
    """A forged item 2 comes and is acknowledged, and set aside; the genuine item 2, sent
    later, is taken, not called a replay."""
    vault, peer, origin = peer_and_vault
    one = _events_item(vault, peer, origin, 1, FIRST_PREV)
    two = _events_item(vault, peer, origin, 2, one.hash)
    forged = make_item(Identity.generate("bea"), origin, 2, one.hash, "team", 1, b"x" * 64)
    result = SyncResult(PullResult())
    with pytest.raises(IntegrityError, match="Item 2 from"):
        receive(vault, _Relay([one.to_wire(), forged.to_wire()]), result)  # type: ignore[arg-type]
    receive(vault, _Relay([two.to_wire()]), result)  # type: ignore[arg-type]
    held = vault.db.execute("SELECT n, head, acked FROM sync_received WHERE origin = ?", (origin,))
    assert held.fetchall() == [(2, two.hash, 2)]
