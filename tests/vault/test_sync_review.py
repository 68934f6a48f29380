"""An independent review of issue 12 (branch sync12): attacks and careless use, as tests.

Faults found are marked ``xfail(strict=True)`` with the fault in their reason, so the suite
stays green while they stand and turns red (XPASS) once one is fixed; what held is asserted
plainly. Real vault folders and libsodium throughout; where the relay itself misbehaves (it
colludes with a revoked member) the receiver is handed the items by a stand-in relay, as
tests/vault/test_sync.py does; the rest runs against a real intake on loopback.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSPHRASE, Cli, assert_clean_error, bytes_under, make_report, seal_for
from tests.intake_server import IntakeServer, IntakeServers
from tests.sealing import attachment_entry
from tests.team_laptops import ScriptedRelay as _Relay
from vault import _crypto, case_view, incoming, joining, membership, team_clock
from vault import pow as pow_
from vault.clock import Clock, Stamp
from vault.db import new_origin
from vault.envelope import seal_report
from vault.errors import VaultError
from vault.join_request import make_request
from vault.keys import Identity, TeamPublicKey, b64
from vault.pull import PullResult
from vault.receiving import receive
from vault.relay_items import FIRST_PREV, Item, make_item
from vault.store import Vault, today
from vault.submit import send_envelope
from vault.sync import first_welcome, sync
from vault.sync_result import SyncResult
from vault.team_changes import Team

DAY_MS = 24 * 3600 * 1000


@pytest.fixture
def revoked_bea(tmp_path: Path) -> Iterator[tuple[Vault, Identity, str, str]]:
    """Amara's syncing vault holding one case; bea (her own laptop) was added, then revoked
    (the vault is at team key epoch 2, which bea never held)."""
    bea = Identity.generate("bea")
    origin = new_origin()
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        membership.add_from_request(amara, "bea", make_request(bea, origin))
        (case_id,) = incoming.import_envelopes(amara, [("r", seal_for(amara))]).imported
        membership.revoke_caseworker(amara, "bea")
        assert amara.access.current.epoch == 2
        yield amara, bea, origin, case_id


def _team_item(
    author: Identity, origin: str, n: int, prev: str, doc: dict[str, Any], key: TeamPublicKey
) -> Item:
    sealed = _crypto.seal(json.dumps(doc).encode(), key.public_key)
    return make_item(author, origin, n, prev, "team", key.epoch, sealed)


def _receive(vault: Vault, items: list[Item]) -> None:
    """Take ``items`` as a relay hands them over; a refusal (exit 4) is what should happen."""
    with contextlib.suppress(VaultError):
        relay = _Relay([i.to_wire() for i in items])
        receive(vault, relay, SyncResult(PullResult()))  # type: ignore[arg-type]


def test_a_revoked_member_cannot_erase_a_case_through_the_relay(
    revoked_bea: tuple[Vault, Identity, str, str],
) -> None:
    amara, bea, origin, case_id = revoked_bea
    envelope_id = amara.db.execute(
        "SELECT envelope_id FROM cases WHERE id = ?", (case_id,)
    ).fetchone()[0]
    tombstone = {
        "id": case_id,
        "envelope_id": bytes(envelope_id).hex(),
        "received": today(),
        "closed": None,
        "erased": today(),
        "status": "new",
        "outcome": None,
        "reason": "withdrawn",
    }
    # Sealed to the *current* epoch 2: its public key is public (the form serves it).
    forged = _team_item(
        bea, origin, 1, FIRST_PREV, {"t": "erased", "cases": [tombstone]}, amara.team_public_key()
    )
    _receive(amara, [forged])
    assert amara.db.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone() is not None


def test_a_revoked_member_cannot_make_a_laptop_adopt_their_team_key(
    revoked_bea: tuple[Vault, Identity, str, str],
) -> None:
    amara, bea, origin, case_id = revoked_bea
    public, secret = _crypto.box_keypair()
    doc = {
        "t": "epoch",
        "team_key": {"epoch": 3, "public_key": b64(public), "secret_key": b64(secret.reveal())},
        "revoked": None,
    }
    sealed = _crypto.seal(json.dumps(doc).encode(), amara.identity.public.box_pk)
    forged = make_item(bea, origin, 1, FIRST_PREV, amara.identity.key_id, 0, sealed)
    _receive(amara, [forged])
    amara.add_note(case_id, "where she is staying now")
    (event,) = amara.db.execute(
        "SELECT body FROM events WHERE kind = 'note' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    sealed_note = json.loads(bytes(event))["data"]["sealed"]
    with pytest.raises(_crypto.OpenFailed):  # today: DID NOT RAISE, bea reads the new note
        _crypto.open_note(base64.b64decode(sealed_note), public, secret)
    assert amara.access.current.epoch == 2


def test_a_members_team_key_is_taken_only_when_the_relays_record_names_it(
    tmp_path: Path,
) -> None:
    from vault.team_changes import Team, make_statement

    bea = Identity.generate("bea")
    origin = new_origin()
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        membership.add_from_request(amara, "bea", make_request(bea, origin))
        public, secret = _crypto.box_keypair()
        doc = {
            "t": "epoch",
            "team_key": {"epoch": 2, "public_key": b64(public), "secret_key": b64(secret.reveal())},
            "revoked": None,
        }
        sealed = _crypto.seal(json.dumps(doc).encode(), amara.identity.public.box_pk)
        item = make_item(bea, origin, 1, FIRST_PREV, amara.identity.key_id, 0, sealed)
        start = amara.team_key_export()
        chain: list[Any] = []
        relay = _Relay([item.to_wire()])
        relay.team = lambda: (start, chain)  # type: ignore[attr-defined]
        with pytest.raises(VaultError, match="does not name") as refused:
            receive(amara, relay, SyncResult(PullResult()))  # type: ignore[arg-type]
        assert refused.value.exit_code == 4
        assert amara.access.current.epoch == 1, "bea's laptop alone gave amara's a team key"
        # Once the relay's record names it (bea rotated), the same item is taken.
        chain.append(make_statement(Team.start(start), bea, "rotate", today(), epoch=(2, public)))
        assert receive(amara, relay, SyncResult(PullResult())) is None  # type: ignore[arg-type]
        assert amara.access.current.epoch == 2


def test_a_revoked_member_cannot_close_a_case_after_revocation(
    revoked_bea: tuple[Vault, Identity, str, str],
) -> None:
    from vault.events import Event, sign_event

    amara, bea, origin, case_id = revoked_bea
    stamp = Stamp(_wall() + 60_000, 0)  # made after the revocation
    heads = team_clock.heads(amara.db, case_id)
    event = Event.new(case_id, "closed", bea, {"outcome": "supported"}, stamp=stamp, after=heads)
    signed = sign_event(event, bea)
    entry = {"body": b64(signed.body), "signature": b64(signed.signature)}
    forged = _team_item(
        bea, origin, 1, FIRST_PREV, {"t": "events", "events": [entry]}, amara.team_public_key()
    )
    _receive(amara, [forged])
    status = amara.db.execute("SELECT status FROM cases WHERE id = ?", (case_id,)).fetchone()[0]
    assert status != "closed", "a revoked member closed a case after being removed"


def _wall() -> int:
    from vault.clock import wall_ms

    return wall_ms()


# --- the clock: a laptop whose clock is days out ------------------------------------------


class _Skew:
    """Shifts the wall clock seen by the hybrid logical clock of the laptop acting now."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset_ms = 0
        real: Callable[..., Clock] = team_clock._clock

        def shifted(db: Any) -> Clock:
            clock = real(db)
            return Clock(clock.last, now=lambda: _wall() + self.offset_ms)

        monkeypatch.setattr(team_clock, "_clock", shifted)


def _join(directory: Path, name: str, amara: Vault, url: str) -> Vault:
    request = joining.start_join(directory, name, PASSPHRASE)
    membership.add_from_request(amara, name, request)
    sync(amara, url)
    identity, own = joining.unlock_joiner(directory, PASSPHRASE)
    laptop = joining.finish_join(directory, identity, own, first_welcome(identity, own, url))
    sync(laptop, url)
    return laptop


@pytest.mark.slow
@pytest.mark.parametrize("skewed", ["closer 3 days ahead", "reopener 3 days behind"])
def test_a_case_reopened_after_it_was_closed_stays_open_whatever_the_clocks(
    intake_servers: IntakeServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skewed: str
) -> None:
    skew = _Skew(monkeypatch)
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        bea = _join(tmp_path / "b", "bea", amara, url)
        try:
            (case_id,) = incoming.import_envelopes(amara, [("r", seal_for(amara))]).imported
            sync(amara, url)
            sync(bea, url)
            # Bea closes the case; amara sees it closed, then reopens it.
            skew.offset_ms = 3 * DAY_MS if skewed.startswith("closer") else 0
            bea.close_case(case_id, "supported")
            sync(bea, url)
            skew.offset_ms = -3 * DAY_MS if skewed.startswith("reopener") else 0
            sync(amara, url)
            assert case_view.show_case(amara, case_id).summary.status == "closed"
            amara.set_status(case_id, "supporting")
            assert case_view.show_case(amara, case_id).summary.status == "supporting"
            sync(amara, url)
            skew.offset_ms = 3 * DAY_MS if skewed.startswith("closer") else 0
            sync(bea, url)
            skew.offset_ms = 0
            for laptop in (amara, bea):
                assert case_view.show_case(laptop, case_id).summary.status == "supporting"
        finally:
            bea.close()


# --- a new member: welcome, member item, first page ---------------------------------------


def _cut_after_welcome(carol_key_id: str) -> httpx.Client:
    """A connection that drops once the welcome is through: the rest of carol's history (and
    the team's `member` item queued after it) does not reach the relay at this sync."""
    from vault.relay_items import parse_item

    def on_request(request: httpx.Request) -> None:
        if request.url.path == "/api/relay/items":
            item = parse_item(request.read())
            if item.to == carol_key_id and item.n >= 2:
                raise httpx.ConnectError("the connection dropped", request=request)

    return httpx.Client(timeout=60, event_hooks={"request": [on_request]})


def _carol_joins_after_a_cut_off_welcome(
    tmp_path: Path, amara: Vault, url: str
) -> tuple[Vault, Identity]:
    request = joining.start_join(tmp_path / "c", "carol", PASSPHRASE)
    membership.add_from_request(amara, "carol", request)
    identity, own = joining.unlock_joiner(tmp_path / "c", PASSPHRASE)
    with _cut_after_welcome(identity.key_id) as cut, pytest.raises(VaultError):
        sync(amara, url, client=cut)
    carol = joining.finish_join(tmp_path / "c", identity, own, first_welcome(identity, own, url))
    return carol, identity


@pytest.mark.slow
def test_a_third_laptop_takes_a_new_members_items_after_a_cut_off_welcome(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        incoming.import_envelopes(amara, [("r", seal_for(amara))])
        bea = _join(tmp_path / "b", "bea", amara, url)
        carol, _ = _carol_joins_after_a_cut_off_welcome(tmp_path, amara, url)
        try:
            send_envelope(url, seal_for(amara, make_report(what_happened="carol took it")))
            (theirs,) = sync(carol, url).pulled.imported  # carol's items go to the relay
            sync(amara, url)  # amara's sync finishes: the rest, and the `member` item
            failures = []
            for _ in range(3):
                try:
                    sync(bea, url)
                except VaultError as e:
                    failures.append(str(e))
            assert failures == [], failures
            assert bea.db.execute("SELECT 1 FROM cases WHERE id = ?", (theirs,)).fetchone()
        finally:
            bea.close()
            carol.close()


@pytest.mark.slow
def test_a_rotation_while_a_welcome_is_on_its_way_reaches_the_new_member(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        (case_id,) = incoming.import_envelopes(amara, [("r", seal_for(amara))]).imported
        bea = _join(tmp_path / "b", "bea", amara, url)
        carol, _ = _carol_joins_after_a_cut_off_welcome(tmp_path, amara, url)
        try:
            membership.rotate_team_key(bea)
            assert sync(bea, url).new_epochs == [(2, None)]
            bea.add_note(case_id, "after the rotation")
            sync(bea, url)
            sync(amara, url)
            failures = []
            for _ in range(2):
                try:
                    sync(carol, url)
                except VaultError as e:
                    failures.append(str(e))
            assert carol.access.team_key(2) is not None, failures
            assert failures == []
        finally:
            bea.close()
            carol.close()


def _upload(intake: IntakeServer, blob: bytes) -> None:
    challenge = httpx.get(intake.url + "/api/challenge").json()
    raw = pow_.decode_challenge(challenge["challenge"])
    solution = pow_.header_value(raw, pow_.solve(raw, challenge["bits"]))
    r = httpx.post(
        intake.url + "/api/attachments",
        content=blob,
        headers={"Content-Type": "application/octet-stream", "X-Redress-PoW": solution},
        timeout=60,
    )
    assert r.status_code == 201, r.text


@pytest.mark.slow
def test_a_new_member_finds_the_welcome_behind_more_than_a_page_of_items(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        intake = intake_servers.start(amara.team_key_export())
        key = amara.team_key_export()
        entry, blob = attachment_entry(os.urandom(9 << 20), name="video.mp4", kind="video/mp4")
        _upload(intake, blob)
        send_envelope(
            intake.url, seal_report(make_report(attachments=[entry]), key.epoch, key.public_key)
        )
        request = joining.start_join(tmp_path / "c", "carol", PASSPHRASE)
        membership.add_from_request(amara, "carol", request)
        sync(amara, intake.url)  # pulls the report, sends it to the team, welcomes carol
        identity, own = joining.unlock_joiner(tmp_path / "c", PASSPHRASE)
        for _ in range(2):
            assert first_welcome(identity, own, intake.url) is not None


# --- a relay that invents a team ------------------------------------------------------------


@pytest.mark.slow
def test_a_relay_that_invents_a_team_fails_the_fingerprint_check(
    cli: Cli, intake_servers: IntakeServers, tmp_path: Path
) -> None:
    from vault.join_request import read_request
    from vault.relay_client import RelayClient
    from vault.team_changes import Member, Team, follow, make_statement

    with (
        Vault.create(tmp_path / "real", "amara", PASSPHRASE) as amara,
        Vault.create(tmp_path / "mallory", "mallory", PASSPHRASE) as mallory,
    ):
        real = amara.team_key_export()  # what amara reads out to carol by voice
        # The relay carol is pointed at is run by mallory: an intake whose team key file
        # names the real team's public key (it is public) and mallory as its caseworker.
        forged_start = TeamPublicKey(
            real.epoch,
            real.public_key,
            (("amara", mallory.identity.public.sign_pk),),
            mallory.log.origin,
        )
        url = intake_servers.start(forged_start).url
        carol_dir = tmp_path / "carol-laptop"
        joined = cli("join", "--name", "carol", "--out", "carol.request", "--vault", str(carol_dir))
        assert joined.returncode == 0, joined.stderr
        request = read_request((tmp_path / "carol.request").read_bytes())
        with RelayClient(url, mallory.identity) as relay:
            start, statements = relay.team()
            team = follow(Team.start(start), statements)
            carol = Member(request.name, request.sign_pk, request.box_pk, request.origin)
            relay.add_statement(
                make_statement(team, mallory.identity, "add", today(), member=carol)
            )
            own_pk, own_sk = _crypto.box_keypair()
            junk = _crypto.random_bytes(32)
            welcome = {
                "t": "welcome",
                "team_keys": [
                    {"epoch": 2, "public_key": b64(own_pk), "secret_key": b64(own_sk.reveal())},
                    {"epoch": 1, "public_key": b64(real.public_key), "secret_key": b64(junk)},
                ],
                "roster": [
                    {
                        "name": "amara",  # the names carol expects
                        "sign_pk": b64(mallory.identity.public.sign_pk),
                        "box_pk": b64(mallory.identity.public.box_pk),
                        "origin": mallory.log.origin,
                    },
                    {
                        "name": "carol",
                        "sign_pk": b64(request.sign_pk),
                        "box_pk": b64(request.box_pk),
                        "origin": request.origin,
                    },
                ],
                "chains": [],
            }
            sealed = _crypto.seal(json.dumps(welcome).encode(), request.box_pk)
            item = make_item(
                mallory.identity, mallory.log.origin, 1, FIRST_PREV, carol.key_id, 0, sealed
            )
            relay.put(item.to_wire())
        first = cli("sync", "--from", url, "--vault", str(carol_dir))
        if first.returncode != 0:
            return  # refused: good
        # Today it joins, printing the real team's fingerprint (the voice check passes)...
        assert real.fingerprint not in first.stdout + first.stderr
        # ...and the vault it made never opens again (exit 3, "carol's key does not open
        # this vault": the junk secret is caught only by the access file's own check).
        listed = cli("cases", "list", "--vault", str(carol_dir))
        assert listed.returncode == 0, listed.stderr


def test_the_relay_alone_cannot_make_itself_a_member_with_a_second_welcome(
    revoked_bea: tuple[Vault, Identity, str, str],
) -> None:
    amara, _, _, case_id = revoked_bea
    relay_id, relay_origin = Identity.generate("benny"), new_origin()  # made up by the relay
    public, secret = _crypto.box_keypair()
    welcome = {
        "t": "welcome",
        "team_keys": [{"epoch": 3, "public_key": b64(public), "secret_key": b64(secret.reveal())}],
        "roster": [
            {
                "name": "benny",
                "sign_pk": b64(relay_id.public.sign_pk),
                "box_pk": b64(relay_id.public.box_pk),
                "origin": relay_origin,
            }
        ],
        "chains": [],
    }
    to_amara = amara.identity.key_id
    one = make_item(
        relay_id,
        relay_origin,
        1,
        FIRST_PREV,
        to_amara,
        0,
        _crypto.seal(json.dumps(welcome).encode(), amara.identity.public.box_pk),
    )
    epoch = {
        "t": "epoch",
        "team_key": {"epoch": 3, "public_key": b64(public), "secret_key": b64(secret.reveal())},
        "revoked": None,
    }
    two = make_item(
        relay_id,
        relay_origin,
        2,
        one.hash,
        to_amara,
        0,
        _crypto.seal(json.dumps(epoch).encode(), amara.identity.public.box_pk),
    )
    envelope_id = amara.db.execute(
        "SELECT envelope_id FROM cases WHERE id = ?", (case_id,)
    ).fetchone()[0]
    tombstone = {
        "id": case_id,
        "envelope_id": bytes(envelope_id).hex(),
        "received": today(),
        "closed": None,
        "erased": today(),
        "status": "new",
        "outcome": None,
        "reason": "withdrawn",
    }
    three = _team_item(
        relay_id,
        relay_origin,
        1,
        FIRST_PREV,
        {"t": "erased", "cases": [tombstone]},
        amara.team_public_key(),
    )
    _receive(amara, [one, two, three])
    assert amara.db.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone(), "erased"
    assert amara.access.current.epoch == 2, "amara's laptop seals to the relay's key now"
    names = {str(n) for (n,) in amara.db.execute("SELECT name FROM caseworkers")}
    assert "benny" not in names, "the relay made itself a caseworker of amara's vault"


# --- what held: secrets, file modes, plain refusals --------------------------------------


@pytest.mark.slow
def test_a_joining_laptop_and_the_relay_keep_secrets_and_modes(
    cli: Cli, intake_servers: IntakeServers, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("init", "--name", "amara", "--vault", str(a)).returncode == 0
    assert cli("team-key", "export", "team.json", "--vault", str(a)).returncode == 0
    intake = intake_servers.start(tmp_path / "team.json")
    url = intake.url
    joined = cli("join", "--name", "bea", "--out", "bea.request", "--vault", str(b))
    assert joined.returncode == 0, joined.stderr
    for path in (tmp_path / "bea.request", b / "join.request", b / "caseworkers" / "bea.key"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    for path in (b, b / "caseworkers"):
        assert path.stat().st_mode & 0o777 == 0o700, path
    send_envelope(url, seal_for_key(tmp_path / "team.json"))
    pulled = cli("pull", "--from", url, "--vault", str(a))
    case_id = pulled.stdout.strip().splitlines()[0]
    secret_note = "she is staying at the Rose Lane refuge"
    assert cli("cases", "note", case_id, secret_note, "--vault", str(a)).returncode == 0
    assert (
        cli("caseworker", "add", "bea", "--request", "bea.request", "--vault", str(a)).returncode
        == 0
    )
    for laptop in (a, b, a):
        synced = cli("sync", "--from", url, "--vault", str(laptop))
        assert synced.returncode == 0, synced.stderr
        assert secret_note not in synced.stdout + synced.stderr
    for path in b.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path
    for path in intake.data.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path
    out, err = intake.output()
    held = bytes_under(intake.data) + out.encode() + err.encode()
    for text in (secret_note.encode(), PASSPHRASE.reveal()):
        assert text not in held


def seal_for_key(team_file: Path) -> bytes:
    key = TeamPublicKey.from_file_bytes(team_file.read_bytes())
    return seal_report(make_report(), key.epoch, key.public_key)


@pytest.mark.parametrize(
    ("setup", "args", "code"),
    [
        ("none", ("join", "--name", "bea", "--out", "r.request"), 0),
        ("joined", ("join", "--name", "bea", "--out", "r2.request"), 1),
        ("joined", ("sync", "--from", "http://127.0.0.1:9"), 1),
        ("joined", ("cases", "list"), 1),  # "There is no vault" (hint: vault init: misleading)
        ("joined", ("caseworker", "add", "bea", "--request", "r.request"), 1),
    ],
)
def test_careless_use_of_a_joining_folder_is_one_plain_sentence(
    cli: Cli, tmp_path: Path, setup: str, args: tuple[str, ...], code: int
) -> None:
    folder = tmp_path / "b"
    if setup == "joined":
        assert (
            cli("join", "--name", "bea", "--out", "r.request", "--vault", str(folder)).returncode
            == 0
        )
    result = cli(*args, "--vault", str(folder))
    assert "Traceback" not in result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    if code:
        assert len(result.stderr.strip().splitlines()) <= 2, result.stderr


@pytest.mark.slow
def test_two_reports_with_one_case_id_keep_their_own_histories(
    intake_servers: IntakeServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        bea = _join(tmp_path / "b", "bea", amara, url)
        try:
            real = incoming.case_id_for
            monkeypatch.setattr(
                incoming,
                "case_id_for",
                lambda key, env, attempt=0: "ABCDEFGH" if attempt == 0 else real(key, env, attempt),
            )
            one = seal_for(amara, make_report(what_happened="first reporter"))
            two = seal_for(amara, make_report(what_happened="second reporter"))
            (on_a,) = incoming.import_envelopes(amara, [("1", one)]).imported
            (on_b,) = incoming.import_envelopes(bea, [("2", two)]).imported
            assert on_a == on_b == "ABCDEFGH"  # each laptop took one in before syncing
            amara.add_note(on_a, "about the first reporter only")
            for laptop in (amara, bea, amara, bea):
                sync(laptop, url)
            for laptop in (bea, amara):
                held = laptop.db.execute("SELECT count(*) FROM cases").fetchone()[0]
                view = case_view.show_case(laptop, "ABCDEFGH")
                notes = [n.text for n in view.notes]
                if view.report.what_happened == "second reporter":
                    assert notes == [], "a note about another reporter is in this case"
                assert held == 2, "one of the two reports is missing on this laptop"
        finally:
            bea.close()


def test_an_event_waiting_for_its_case_never_joins_another_report_given_that_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bea's laptop's event for its report ABCDEFGH arrives before that case; meanwhile
    amara's laptop gives another report the same id (a 40-bit collision, simulated)."""
    from vault import taking
    from vault.events import Event, sign_event

    bea = Identity.generate("bea")
    origin = new_origin()
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        membership.add_from_request(amara, "bea", make_request(bea, origin))
        event = Event.new("ABCDEFGH", "status", bea, {"to": "triage"}, stamp=Stamp(_wall(), 0))
        signed = sign_event(event, bea)
        entry = {"body": b64(signed.body), "signature": b64(signed.signature), "r": "00" * 8}
        doc = {"t": "events", "events": [entry]}
        _receive(amara, [_team_item(bea, origin, 1, FIRST_PREV, doc, amara.team_public_key())])
        waiting = "SELECT count(*) FROM sync_waiting_events WHERE case_id = 'ABCDEFGH'"
        assert amara.db.execute(waiting).fetchone()[0] == 1
        monkeypatch.setattr(incoming, "case_id_for", lambda *_: "ABCDEFGH")
        incoming.import_envelopes(amara, [("r", seal_for(amara))])
        with amara.transaction() as db:  # as a sync does for a case it has just pulled
            taking.release_waiting(amara, db, ["ABCDEFGH"], SyncResult(PullResult()))
        mixed = "SELECT count(*) FROM events WHERE case_id = 'ABCDEFGH' AND actor = ?"
        assert amara.db.execute(mixed, (bea.key_id,)).fetchone()[0] == 0
        assert amara.db.execute(waiting).fetchone()[0] == 0


@pytest.mark.slow
def test_a_retention_policy_changed_the_same_day_is_the_same_everywhere(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    from vault import retention

    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        bea = _join(tmp_path / "b", "bea", amara, url)
        try:
            retention.set_policy(bea, erase_closed_after=6)
            sync(bea, url)
            sync(amara, url)
            assert retention.policy(amara).erase_closed_after == 6  # type: ignore[union-attr]
            held = retention.policy_signed(amara.db)
            assert held is not None

            def rank(body: bytes) -> bytes:
                return _crypto.blake2b_256(body)

            # Amara changes it later the same day; pick a value whose body (the second policy
            # of the team: n = 2) hashes lower, as about half of all values do, so a tie-break
            # by hash alone would let bea's stand.
            # (Both rules searched: among 114 values alone, about 1 run in 115 found none.)
            months, flag = next(
                (m, f)
                for f in (None, *range(1, 121))
                for m in range(7, 121)
                if rank(retention._body(m, f, amara.identity.key_id, today(), 2)) < rank(held[0])
            )
            retention.set_policy(amara, erase_closed_after=months, flag_untouched_after=flag)
            sync(amara, url)
            sync(bea, url)
            on_a = retention.policy(amara)
            on_b = retention.policy(bea)
            assert on_a is not None
            assert on_b is not None
            assert on_a.erase_closed_after == on_b.erase_closed_after, (on_a, on_b)
            assert on_a.erase_closed_after == months, "the change made after the other stands"
        finally:
            bea.close()


def test_a_revoked_member_cannot_set_the_teams_retention_policy(
    revoked_bea: tuple[Vault, Identity, str, str],
) -> None:
    from vault import retention

    amara, bea, origin, _ = revoked_bea
    body = retention._body(1, None, bea.key_id, "9999-12-31")
    signature = bea.sign(retention.POLICY_SIGNATURE_CONTEXT + body)
    doc = {"t": "retention", "body": b64(body), "signature": b64(signature)}
    _receive(amara, [_team_item(bea, origin, 1, FIRST_PREV, doc, amara.team_public_key())])
    assert retention.policy(amara) is None, "a revoked member set the retention policy"


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before any sync", "while her welcome is on its way"])
def test_a_caseworker_added_by_mistake_can_be_revoked_at_once(
    intake_servers: IntakeServers, tmp_path: Path, when: str
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        incoming.import_envelopes(amara, [("r", seal_for(amara))])
        bea = _join(tmp_path / "b", "bea", amara, url)
        try:
            if when == "before any sync":
                request = joining.start_join(tmp_path / "c", "carol", PASSPHRASE)
                membership.add_from_request(amara, "carol", request)
            else:
                carol, _ = _carol_joins_after_a_cut_off_welcome(tmp_path, amara, url)
                carol.close()
            membership.revoke_caseworker(amara, "carol")
            failures = []
            for _ in range(2):
                try:
                    sync(amara, url)
                except VaultError as e:
                    failures.append(f"{type(e).__name__}: {e}")
            assert failures == []
            assert sync(bea, url).new_epoch == 2
            current = "SELECT count(*) FROM caseworkers WHERE name = 'carol' AND revoked IS NULL"
            assert bea.db.execute(current).fetchone()[0] == 0, "carol is on bea's team"
        finally:
            bea.close()


def test_a_join_refused_for_its_out_file_can_be_tried_again(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "taken.request").write_text("something else\n")
    first = cli("join", "--name", "bea", "--out", "taken.request", "--vault", str(tmp_path / "b"))
    assert first.returncode == 1
    again = cli("join", "--name", "bea", "--out", "bea.request", "--vault", str(tmp_path / "b"))
    assert again.returncode == 0, again.stderr


# --- crash safety of the first sync -------------------------------------------------------


class _Killed(BaseException):
    """Stands for the process being killed at this point (nothing after it runs)."""


@pytest.mark.slow
@pytest.mark.parametrize("where", ["after the access file", "inside the first transaction"])
def test_a_first_sync_killed_midway_finishes_at_the_next(
    cli: Cli,
    intake_servers: IntakeServers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        incoming.import_envelopes(amara, [("r", seal_for(amara))])
        b = tmp_path / "b"
        assert (
            cli("join", "--name", "bea", "--out", "bea.request", "--vault", str(b)).returncode == 0
        )
        membership.add_from_request(amara, "bea", (tmp_path / "bea.request").read_bytes())
        sync(amara, url)
        identity, own = joining.unlock_joiner(b, PASSPHRASE)
        welcome = first_welcome(identity, own, url)

        def killed(*_: object, **__: object) -> None:
            raise _Killed

        with monkeypatch.context() as m:
            if where == "after the access file":
                m.setattr(joining.schema, "connect", killed)
            else:
                m.setattr(joining.team_clock, "start_syncing", killed)
            with pytest.raises(_Killed):
                joining.finish_join(b, identity, own, welcome)
        again = cli("sync", "--from", url, "--vault", str(b))
        assert "Traceback" not in again.stderr
        assert again.returncode == 0, again.stderr


# --- a laptop restored from its backup -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="FAULT (the honest minimum is done): a laptop restored from its own backup"
    " (keys/README.md: each laptop keeps its own) numbers its items again from the backup's"
    " chain; the relay now compares a held item (inbox.py relay_put) and refuses another under"
    " a number taken (409 'forked'), and the laptop's every sync stops (exit 4) with one"
    " sentence telling the caseworker to join again as a new laptop; nothing is lost without"
    " a word, but carrying on after the relay's chain head (its access log forked too) is not"
    " built, so what the restored laptop does never reaches the team",
)
def test_a_laptop_restored_from_its_backup_loses_nothing_and_stops_nobody(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    from vault.backup import make_backup, restore_backup

    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        (case_id,) = incoming.import_envelopes(amara, [("r", seal_for(amara))]).imported
        bea = _join(tmp_path / "b", "bea", amara, url)
        try:
            sync(bea, url)
            make_backup(bea, tmp_path / "bea.backup", PASSPHRASE)
            for text in ("before the laptop died 1", "before the laptop died 2"):
                bea.add_note(case_id, text)
                sync(bea, url)
            sync(amara, url)
        finally:
            bea.close()
        # Bea's laptop dies; she restores last week's backup on a new one.
        restore_backup(tmp_path / "bea.backup", tmp_path / "b2", passphrase=PASSPHRASE)
        with Vault.unlock(tmp_path / "b2", PASSPHRASE) as restored:
            failures = []
            for text in ("after the restore 1", "after the restore 2", "after the restore 3"):
                restored.add_note(case_id, text)
                try:
                    sync(restored, url)
                except VaultError as e:
                    failures.append(f"bea: {e}")
                try:
                    sync(amara, url)
                except VaultError as e:
                    failures.append(f"amara: {e}")
            notes = {n.text for n in case_view.show_case(amara, case_id).notes}
            # Today: every sync of the restored laptop stops (409 "forked", exit 4), saying to
            # join again as a new laptop; its notes stay on it and reach nobody.
            assert "after the restore 1" in notes, "lost: the relay said 'held'"
            assert failures == []


# --- a reporter's answer pulled by a laptop that does not hold the case yet ----------------


@pytest.mark.slow
def test_a_reporters_answer_pulled_by_another_laptop_is_not_lost(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    from tests.sealing import codename_keys, new_codename
    from vault.intake.limits import solve
    from vault.reporter_messages import seal_message

    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        bea = _join(tmp_path / "b", "bea", amara, url)
        try:
            _, _, signing_pk, seed = codename_keys(new_codename())
            reply_pk = codename_keys(new_codename())[0]
            fields = {"reply_key": b64(reply_pk), "reply_signing_key": b64(signing_pk)}
            send_envelope(url, seal_for(amara, make_report(**fields)))
            (case_id,) = sync(amara, url).pulled.imported  # amara takes the report in
            key = amara.team_key_export()
            answer = seal_message(
                "answer",
                "Yes, after six.",
                _crypto.SecretBytes(seed, "codename signing seed"),
                key.epoch,
                key.public_key,
            )
            challenge = httpx.get(url + "/api/challenge").json()
            posted = httpx.post(
                url + "/api/messages",
                content=answer,
                headers={
                    "Content-Type": "application/octet-stream",
                    "X-Redress-PoW": solve(challenge["challenge"], challenge["bits"]),
                },
                timeout=30,
            )
            assert posted.status_code == 202
            sync(bea, url)  # bea's laptop pulls the answer before the relay gives it the case
            for laptop in (amara, bea, amara):
                sync(laptop, url)
            for laptop in (amara, bea):
                said = case_view.show_case(laptop, case_id).conversation
                assert [(c.speaker, c.text) for c in said] == [("reporter", "Yes, after six.")]
        finally:
            bea.close()


@pytest.mark.slow
def test_a_report_to_the_new_team_key_pulled_by_another_laptop_reaches_the_team(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        bea = _join(tmp_path / "b", "bea", amara, url)
        try:
            membership.rotate_team_key(amara)
            sync(amara, url)  # the relay (and the form) take epoch 2 now
            send_envelope(url, seal_for(amara, make_report(what_happened="after the rotation")))
            pulled = sync(bea, url).pulled  # bea's laptop pulls it, then takes epoch 2
            for laptop in (bea, amara, bea):
                sync(laptop, url)
            for laptop in (amara, bea):  # today: in bea's quarantine ("foreign"), nowhere else
                held = laptop.db.execute("SELECT count(*) FROM cases").fetchone()[0]
                assert held == 1, f"quarantined on bea's laptop: {pulled.quarantined}"
        finally:
            bea.close()


@pytest.mark.slow
def test_the_relay_answers_bad_requests_from_a_member_plainly(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    from vault.relay_client import RelayClient

    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        stranger = Identity.generate("zed")
        with RelayClient(url, amara.identity) as relay, RelayClient(url, stranger) as outsider:
            item = _team_item(
                amara.identity,
                amara.log.origin,
                1,
                FIRST_PREV,
                {"t": "events", "events": []},
                amara.team_public_key(),
            )
            wire = item.to_wire()
            someone_elses = _team_item(
                amara.identity, new_origin(), 1, FIRST_PREV, {}, amara.team_public_key()
            )
            skipping = make_item(amara.identity, amara.log.origin, 3, "ab" * 32, "team", 1, b"x")
            cases: list[tuple[str, bytes, str, int]] = [
                ("/api/relay/items", b"", "application/octet-stream", 400),
                ("/api/relay/items", wire[:64] + bytes(64), "application/octet-stream", 400),
                ("/api/relay/items", bytes(64) + wire[64:], "application/octet-stream", 400),
                ("/api/relay/items", someone_elses.to_wire(), "application/octet-stream", 403),
                ("/api/relay/items", skipping.to_wire(), "application/octet-stream", 409),
                ("/api/relay/items", wire, "application/json", 415),
                ("/api/relay/fetch", b'{"limit": 0}', "application/json", 400),
                ("/api/relay/fetch", b'{"limit": 1.5}', "application/json", 400),
                ("/api/relay/fetch", b"[1]", "application/json", 400),
                ("/api/relay/ack", b'{"upto": -1}', "application/json", 400),
                ("/api/relay/ack", b'{"upto": true}', "application/json", 400),
                ("/api/relay/team/add", b'{"statement": {}}', "application/json", 400),
                ("/api/relay/team/add", b"not json", "application/json", 400),
            ]
            got = []
            for path, body, kind, _ in cases:
                answer = relay._signed_post(path, body, kind)
                got.append((path, answer.status_code))
            assert got == [(p, code) for p, _, _, code in cases]
            assert (
                relay._signed_post("/api/relay/items", wire, "application/octet-stream").status_code
                == 201
            )
            assert (
                relay._signed_post("/api/relay/items", wire, "application/octet-stream").status_code
                == 200
            )
            for path in ("/api/relay/team", "/api/relay/fetch", "/api/relay/ack"):
                assert outsider._signed_post(path, b"{}", "application/json").status_code == 401


# --- review 12m: a relay, a revoked member, a crash ---------------------------------------


def test_one_forged_item_does_not_stop_a_laptop_for_good(tmp_path: Path) -> None:
    bea, origin = Identity.generate("bea"), new_origin()
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        membership.add_from_request(amara, "bea", make_request(bea, origin))
        key = amara.team_public_key()
        doc = {"t": "events", "events": []}
        forged = _team_item(Identity.generate("bea"), origin, 1, FIRST_PREV, doc, key)
        genuine = _team_item(bea, origin, 1, FIRST_PREV, doc, key)
        relay = _Relay([forged.to_wire()])
        with pytest.raises(VaultError) as refused:
            receive(amara, relay, SyncResult(PullResult()))  # type: ignore[arg-type]
        assert refused.value.exit_code == 4
        # The relay is put right: it hands out bea's real item 1.
        relay.items.append((2, genuine.to_wire()))
        receive(amara, relay, SyncResult(PullResult()))  # type: ignore[arg-type]
        taken = amara.db.execute(
            "SELECT n FROM sync_received WHERE origin = ? AND recipient = 'team'", (origin,)
        ).fetchall()
        assert [int(r[0]) for r in taken] == [1]


def test_a_forged_epoch_item_is_named_and_the_genuine_one_taken_after_it(tmp_path: Path) -> None:
    from vault.team_changes import make_statement

    bea, origin = Identity.generate("bea"), new_origin()
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        membership.add_from_request(amara, "bea", make_request(bea, origin))
        start = amara.team_key_export()  # bea is on it
        public, secret = _crypto.box_keypair()  # bea's laptop rotated the team key
        rotation = make_statement(Team.start(start), bea, "rotate", today(), epoch=(2, public))
        chain: list[Any] = []  # the relay's record has not got the rotation yet

        def epoch_item(signer: Identity, pair: tuple[bytes, bytes], n: int, prev: str) -> Item:
            key = {"epoch": 2, "public_key": b64(pair[0]), "secret_key": b64(pair[1])}
            doc = {"t": "epoch", "team_key": key, "revoked": None}
            sealed = _crypto.seal(json.dumps(doc).encode(), amara.identity.public.box_pk)
            return make_item(signer, origin, n, prev, amara.identity.key_id, 0, sealed)

        other_public, other_secret = _crypto.box_keypair()
        other = (other_public, other_secret.reveal())
        relay = _Relay([epoch_item(Identity.generate("bea"), other, 1, FIRST_PREV).to_wire()])
        relay.team = lambda: (start, chain)  # type: ignore[attr-defined]

        def refused(words: str) -> None:
            with pytest.raises(VaultError, match=words) as caught:
                receive(amara, relay, SyncResult(PullResult()))  # type: ignore[arg-type]
            assert caught.value.exit_code == 4

        refused("not signed by its owner")  # the relay's forgery, a key nobody made
        genuine = epoch_item(bea, (public, secret.reveal()), 1, FIRST_PREV)
        relay.items.append((2, genuine.to_wire()))
        refused(r"holds a team key \(epoch 2\) that the relay's record of the team does not")
        assert amara.access.current.epoch == 1
        chain.append(rotation)  # the relay's record names it now: taken, the forgery dropped
        receive(amara, relay, SyncResult(PullResult()))  # type: ignore[arg-type]
        assert (amara.access.current.epoch, amara.access.current.public_key) == (2, public)
        assert amara.db.execute("SELECT count(*) FROM sync_spool").fetchone()[0] == 0
        # A forgery naming another key for the epoch held is named, and stops nothing after.
        forged = epoch_item(Identity.generate("x"), other, 2, genuine.hash)
        relay.items.append((3, forged.to_wire()))
        refused("not signed by its owner")
        receive(amara, relay, later := SyncResult(PullResult()))  # type: ignore[arg-type]
        assert later.set_aside == 1


def test_a_set_aside_forgery_neither_displaces_a_genuine_item_nor_lets_one_in_twice(
    tmp_path: Path,
) -> None:
    people = {name: (Identity.generate(name), new_origin()) for name in ("bea", "carol")}
    (bea, bea_origin), (carol, carol_origin) = people.values()
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        membership.add_from_request(amara, "carol", make_request(carol, carol_origin))
        key = amara.team_public_key()
        doc = {"t": "events", "events": []}
        forged = _team_item(Identity.generate("bea"), bea_origin, 1, FIRST_PREV, doc, key)
        genuine = _team_item(bea, bea_origin, 1, FIRST_PREV, doc, key)
        second = _team_item(bea, bea_origin, 2, genuine.hash, doc, key)
        pk = bea.public
        bea_doc = {"t": "member", "name": "bea", "sign_pk": b64(pk.sign_pk),
                   "box_pk": b64(pk.box_pk), "origin": bea_origin}  # fmt: skip
        member = _team_item(carol, carol_origin, 1, FIRST_PREV, bea_doc, key)
        # bea's items come before carol's word of her: not taken yet, and named (exit 4)
        relay = _Relay([i.to_wire() for i in (forged, second, genuine)])
        with pytest.raises(VaultError, match="not one of the team's") as caught:
            receive(amara, relay, SyncResult(PullResult()))  # type: ignore[arg-type]
        assert caught.value.exit_code == 4
        # Bytes that are no item are named once, and not kept.
        relay.items.append((4, bytes(100)))
        with pytest.raises(VaultError, match="not an item from any laptop") as caught:
            receive(amara, relay, SyncResult(PullResult()))  # type: ignore[arg-type]
        assert caught.value.exit_code == 4
        # A sync at which nothing new comes carries on, counting what waits.
        waiting = SyncResult(PullResult())
        receive(amara, relay, waiting)  # type: ignore[arg-type]
        assert waiting.set_aside == 3
        # carol's item naming bea comes, with bea's item 1 again: each is taken once, in
        # chain order; the forgery never takes the place of bea's real item 1.
        relay.items += [(5, member.to_wire()), (6, genuine.to_wire())]
        receive(amara, relay, SyncResult(PullResult()))  # type: ignore[arg-type]
        held = amara.db.execute(
            "SELECT n, head FROM sync_received WHERE origin = ? AND recipient = 'team'",
            (bea_origin,),
        ).fetchall()
        assert [(int(n), str(h)) for n, h in held] == [(2, second.hash)]
        assert amara.db.execute("SELECT count(*) FROM sync_spool").fetchone()[0] == 0


def test_an_epoch_item_cannot_tie_a_colleagues_laptop_to_the_removed_caseworker(
    tmp_path: Path,
) -> None:
    from vault.team_changes import Member, Team, apply, make_statement

    people = {name: (Identity.generate(name), new_origin()) for name in ("bea", "carol", "zed")}
    (bea, bea_origin), (carol, carol_origin), (zed, _) = people.values()
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        membership.add_from_request(amara, "bea", make_request(bea, bea_origin))
        start = amara.team_key_export()
        team, chain = Team.start(start), []
        for by, name in ((bea, "carol"), (bea, "zed")):  # bea is on the team key file
            who, origin = people[name]
            pk = who.public
            chain.append(
                make_statement(
                    team, by, "add", today(), member=Member(name, pk.sign_pk, pk.box_pk, origin)
                )
            )
            team = apply(team, chain[-1])
        public, secret = _crypto.box_keypair()
        removed = Member("zed", zed.public.sign_pk)
        chain.append(
            make_statement(team, bea, "revoke", today(), member=removed, epoch=(2, public))
        )
        gone = {
            "key_id": zed.key_id,
            "name": "zed",
            "sign_pk": b64(zed.public.sign_pk),
            "box_pk": b64(zed.public.box_pk),
            "origin": carol_origin,  # carol's laptop, not zed's
        }
        doc = {
            "t": "epoch",
            "team_key": {"epoch": 2, "public_key": b64(public), "secret_key": b64(secret.reveal())},
            "revoked": gone,
        }
        sealed = _crypto.seal(json.dumps(doc).encode(), amara.identity.public.box_pk)
        epoch_item = make_item(bea, bea_origin, 1, FIRST_PREV, amara.identity.key_id, 0, sealed)
        key2 = TeamPublicKey(2, public, ())
        carol_doc = {
            "t": "member",
            "name": "carol",
            "sign_pk": b64(carol.public.sign_pk),
            "box_pk": b64(carol.public.box_pk),
            "origin": carol_origin,
        }
        member = _team_item(bea, bea_origin, 1, FIRST_PREV, carol_doc, key2)
        from_carol = _team_item(
            carol, carol_origin, 1, FIRST_PREV, {"t": "events", "events": []}, key2
        )
        relay = _Relay([i.to_wire() for i in (epoch_item, member, from_carol)])
        relay.team = lambda: (start, chain)  # type: ignore[attr-defined]
        receive(amara, relay, SyncResult(PullResult()))  # type: ignore[arg-type]
        assert amara.access.current.epoch == 2
        taken = amara.db.execute(
            "SELECT n, closed FROM sync_received WHERE origin = ? AND recipient = 'team'",
            (carol_origin,),
        ).fetchall()
        assert [(int(r[0]), int(r[1] or 0)) for r in taken] == [(1, 0)], (
            "carol's laptop is shut out"
        )


@pytest.mark.slow
def test_a_caseworker_added_by_two_colleagues_at_once_can_sync(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        dan = _join(tmp_path / "d", "dan", amara, url)
        try:
            request = joining.start_join(tmp_path / "b", "bea", PASSPHRASE)
            for adder in (amara, dan):  # each was sent her request
                membership.add_from_request(adder, "bea", request)
            sync(amara, url)
            sync(dan, url)
            identity, own = joining.unlock_joiner(tmp_path / "b", PASSPHRASE)
            welcome = first_welcome(identity, own, url)
            with joining.finish_join(tmp_path / "b", identity, own, welcome) as bea:
                sync(bea, url)
                sync(bea, url)
        finally:
            dan.close()


def test_an_erasure_of_another_report_given_the_same_id_erases_nothing_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vault.envelope import envelope_id

    bea, origin = Identity.generate("bea"), new_origin()
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        membership.add_from_request(amara, "bea", make_request(bea, origin))
        monkeypatch.setattr(incoming, "case_id_for", lambda *_: "ABCDEFGH")
        incoming.import_envelopes(amara, [("r", seal_for(amara))])  # amara's report
        theirs = seal_for(amara, make_report(what_happened="bea's reporter, who withdrew"))
        tombstone = {
            "id": "ABCDEFGH",  # bea's laptop gave her report the same id, then erased it
            "envelope_id": envelope_id(theirs).hex(),
            "received": today(),
            "closed": None,
            "erased": today(),
            "status": "new",
            "outcome": None,
            "reason": "withdrawn",
        }
        doc = {"t": "erased", "cases": [tombstone]}
        _receive(amara, [_team_item(bea, origin, 1, FIRST_PREV, doc, amara.team_public_key())])
        taken = amara.db.execute("SELECT count(*) FROM sync_received").fetchone()[0]
        assert taken == 1  # bea's item was taken
        held = amara.db.execute("SELECT count(*) FROM cases WHERE id = 'ABCDEFGH'").fetchone()
        assert held[0] == 1, "amara's reporter's report was erased for bea's"


@pytest.mark.slow
def test_two_first_syncs_of_one_joining_folder_at_once_lose_nothing(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        url = intake_servers.start(amara.team_key_export()).url
        (case_id,) = incoming.import_envelopes(amara, [("r", seal_for(amara))]).imported
        folder = tmp_path / "b"
        membership.add_from_request(amara, "bea", joining.start_join(folder, "bea", PASSPHRASE))
        sync(amara, url)
        runs = []
        for _ in range(2):  # both find the folder joining and fetch the welcome
            assert joining.is_joining(folder)
            identity, own = joining.unlock_joiner(folder, PASSPHRASE)
            runs.append((identity, own, first_welcome(identity, own, url)))
        for identity, own, welcome in runs:
            with (
                contextlib.suppress(VaultError),
                joining.finish_join(folder, identity, own, welcome) as bea,
            ):
                sync(bea, url)
        with Vault.unlock(folder, PASSPHRASE) as bea:
            sync(bea, url)
            assert case_id in [str(r[0]) for r in bea.db.execute("SELECT id FROM cases")]


# --- a welcome whose team keys skip an epoch --------------------------------------------------


@pytest.mark.slow
def test_a_welcome_that_skips_a_team_key_epoch_is_refused_before_anything_is_stored(
    cli: Cli, intake_servers: IntakeServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """amara's laptop is at team key epoch 3; the welcome it sends carol lacks epoch 2 (changed
    on the way, or by a faulty laptop: here the sending laptop leaves it out). Carol's first
    `vault sync` refuses it as tampering (exit 4, naming epoch 2), and her folder is still
    joining: no database, nothing stored."""
    from vault import sending

    real_add = sending.Chain.add

    def add(chain: sending.Chain, doc: dict[str, Any]) -> None:
        if doc.get("t") == "welcome":
            doc = {**doc, "team_keys": [k for k in doc["team_keys"] if k["epoch"] != 2]}
        real_add(chain, doc)

    monkeypatch.setattr(sending.Chain, "add", add)
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        for _ in range(2):
            membership.rotate_team_key(amara)
        url = intake_servers.start(amara.team_key_export()).url
        request = joining.start_join(tmp_path / "c", "carol", PASSPHRASE)
        membership.add_from_request(amara, "carol", request)
        sync(amara, url)
    first = cli("sync", "--from", url, "--vault", str(tmp_path / "c"))
    assert_clean_error(first, 4)
    assert "lacks team key epoch 2 but holds epoch 3" in first.stderr
    assert joining.is_joining(tmp_path / "c")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["caseworkers", "join.request"]
