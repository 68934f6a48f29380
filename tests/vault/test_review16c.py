"""Review 16c: what a removed laptop's closed chain may now add (c1d7732), and owe_epochs.

Real vault folders, one real intake on loopback. The thief holds bea's lost laptop (her
keys, her vault) and uses the laptop's own sending code to queue items on its team chain.
Each team (amara and bea; amara, bea and cal) is joined once through a real intake and
copied into each test, with its relay's folder, which the test's own intake serves.

Faults found, each mended and its test now plain: a removed laptop's report sealed to a key
not held here stopped every sync (high); its blob part spoiled or held back a colleague's
copy of the same attachment (high, medium); it could choose a report's case id (taking a
colleague's) and an impossible day (medium). Mends: of a removed laptop's closed chain only
reports are taken, each sealed to a key held here, under the id every laptop gives it, with
a real day no later than today (vault.incoming.vouched_by_the_report); its blob parts never.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, make_report
from tests.intake_server import IntakeServers, upload_attachment
from tests.sealing import attachment_entry
from tests.team_laptops import every_case, join
from vault import blobs, case_view, membership, retention
from vault.cases import case_id_for
from vault.envelope import envelope_id, seal_report
from vault.errors import ForeignEnvelopeError
from vault.pull import pull
from vault.relay_client import RelayClient
from vault.sending import case_entries, push, queue_new, team_chain
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import sync

pytestmark = pytest.mark.slow

LETTER = b"REVIEW-16C-LETTER " * 200


@pytest.fixture(scope="module")
def teams(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], Path]:
    """Each team the tests start from, made once (tests/conftest.py SHARED_SETUP) and copied
    into each test: amara's vault made, a real intake started with her team key, then bea
    (and cal) joined through it (tests.team_laptops.join), every laptop closed and the intake
    stopped. A test copies the folders and starts an intake on its copy of the relay."""
    made = {}
    for joiners in (("bea",), ("bea", "cal")):
        home = tmp_path_factory.mktemp("-".join(("amara", *joiners)))
        with IntakeServers(home) as servers, Vault.create(home / "a", "amara", PASSPHRASE) as a:
            (home / "team-key.json").write_bytes(a.team_key_export().to_file_bytes())
            url = servers.start(home / "team-key.json").url
            for name in joiners:
                join(home / name[0], name, a, url).close()
        made[joiners] = home
    return made


@contextlib.contextmanager
def _team(
    teams: dict[tuple[str, ...], Path], servers: IntakeServers, tmp_path: Path, *joiners: str
) -> Iterator[tuple[Vault, str, list[Vault]]]:
    """A copy of the team: amara's laptop (closed after), the URL of a real intake on the
    copy of its relay, and each joiner's laptop, unlocked (the caller closes them)."""
    made = teams[joiners]
    for part in ("a", *(name[0] for name in joiners), "intake-data"):
        shutil.copytree(made / part, tmp_path / part, symlinks=True)
    shutil.copy2(made / "team-key.json", tmp_path / "team-key.json")
    url = servers.start(tmp_path / "team-key.json", data=tmp_path / "intake-data").url
    with Vault.unlock(tmp_path / "a", PASSPHRASE, "amara") as amara:
        yield amara, url, [Vault.unlock(tmp_path / n[0], PASSPHRASE, n) for n in joiners]


def _thief_sends(bea: Vault, url: str, case_id: str, envelope: bytes, day: str) -> None:
    """The thief passes on, with the lost laptop's own sending code, a report of its making
    under ``case_id`` and ``day``."""
    with bea.transaction() as db:
        team_chain(bea, db).batches("cases", "cases", case_entries([(case_id, envelope, day)]))
    with RelayClient(url, bea.identity) as relay:
        push(bea, relay)


def test_a_removed_laptops_blob_part_does_not_spoil_a_colleagues_attachment(
    teams: dict[tuple[str, ...], Path], intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with _team(teams, intake_servers, tmp_path, "bea", "cal") as (amara, url, (bea, cal)):
        try:
            sync(amara, url)
            sync(bea, url)
            key = amara.team_public_key()
            entry, blob = attachment_entry(LETTER, name="letter.txt", kind="text/plain")
            upload_attachment(url, blob)
            send_envelope(
                url,
                seal_report(
                    make_report(what_happened="a letter", attachments=[entry]),
                    key.epoch,
                    key.public_key,
                ),
            )
            # The thief (bea's lost laptop, still a member to the relay) names the new
            # attachment's id (it read the waiting report without acknowledging it; or the
            # relay, colluding, saw the upload) with a part of its own.
            with bea.transaction() as db:
                team_chain(bea, db).add(
                    {
                        "t": "blob",
                        "id": str(entry["blob"]),
                        "part": 0,
                        "parts": 2,
                        "data": base64.b64encode(b"not the letter").decode(),
                    }
                )
            with RelayClient(url, bea.identity) as relay:
                push(bea, relay)
        finally:
            bea.close()
        membership.revoke_caseworker(amara, "bea")  # the laptop is lost
        # reads bea's part (closed chain), then pulls the report and its letter from the
        # intake (which then deletes its copies) and sends them on to the team
        (case_id,) = sync(amara, url).pulled.imported
        assert blobs.holds_blob(amara.db, str(entry["blob"]))
    try:
        sync(cal, url)  # takes the removal first (its own items), so reads bea's chain closed
        blobs.write_attachment(cal, case_id, 1, tmp_path / "letter.txt")
    finally:
        cal.close()
    assert (tmp_path / "letter.txt").read_bytes() == LETTER


def test_a_removed_laptops_blob_part_does_not_stop_a_colleagues_attachment(
    teams: dict[tuple[str, ...], Path], intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with _team(teams, intake_servers, tmp_path, "bea", "cal") as (amara, url, (bea, cal)):
        try:
            sync(amara, url)
            sync(bea, url)
            key = amara.team_public_key()
            entry, blob = attachment_entry(LETTER, name="letter.txt", kind="text/plain")
            upload_attachment(url, blob)
            send_envelope(
                url,
                seal_report(
                    make_report(what_happened="a letter", attachments=[entry]),
                    key.epoch,
                    key.public_key,
                ),
            )
            # cal's sync pulls the report and its letter (the intake deletes its copies) and
            # queues them for the team, then is cut off before its push (the lid is shut)
            (case_id,) = pull(cal, url).imported
            queue_new(cal)
            # the thief, still a member to the relay, names the letter's id with a part of
            # its own (it read the waiting report without acknowledging it)
            with bea.transaction() as db:
                team_chain(bea, db).add(
                    {
                        "t": "blob",
                        "id": str(entry["blob"]),
                        "part": 0,
                        "parts": 2,
                        "data": base64.b64encode(b"not the letter").decode(),
                    }
                )
            with RelayClient(url, bea.identity) as relay:
                push(bea, relay)
        finally:
            bea.close()
        membership.revoke_caseworker(amara, "bea")  # the laptop is lost
        sync(amara, url)  # tells the relay; reads bea's part (closed chain)
        try:
            sync(cal, url)  # pushes what it queued: the report and its letter
        finally:
            cal.close()
        sync(amara, url)
        blobs.write_attachment(amara, case_id, 1, tmp_path / "letter.txt")
    assert (tmp_path / "letter.txt").read_bytes() == LETTER


def test_a_removed_laptops_report_cannot_name_a_day_that_is_not_one(
    teams: dict[tuple[str, ...], Path], intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with _team(teams, intake_servers, tmp_path, "bea") as (amara, url, (bea,)):
        try:
            sync(amara, url)
            key = amara.team_public_key()
            envelope = seal_report(make_report(what_happened="a report"), key.epoch, key.public_key)
            _thief_sends(bea, url, "ZZZZZZZZ", envelope, "2026-02-30")
        finally:
            bea.close()
        membership.revoke_caseworker(amara, "bea")  # the laptop is lost
        retention.set_policy(amara, flag_untouched_after=6)
        sync(amara, url)  # reads bea's chain closed: takes the report, as it names it
        retention.review(amara)


def test_a_removed_laptops_report_cannot_take_a_colleagues_case_id(
    teams: dict[tuple[str, ...], Path], intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with _team(teams, intake_servers, tmp_path, "bea", "cal") as (amara, url, (bea, cal)):
        try:
            sync(amara, url)
            sync(bea, url)
            key = amara.team_public_key()
            real = seal_report(make_report(what_happened="the real one"), key.epoch, key.public_key)
            send_envelope(url, real)
            # cal's sync pulls it and queues it, then is cut off before its push
            (case_id,) = pull(cal, url).imported
            queue_new(cal)
            cal.add_note(case_id, "cal's note")
            # the thief computes the id (the colluding intake gives the envelope id; the
            # team key of epoch 1 is on the lost laptop) and sends a report under it
            assert case_id_for(bea.team_key(key.epoch).secret_key, envelope_id(real)) == case_id
            fake = seal_report(make_report(what_happened="the thief's"), key.epoch, key.public_key)
            _thief_sends(bea, url, case_id, fake, "2026-12-05")
        finally:
            bea.close()
        membership.revoke_caseworker(amara, "bea")  # the laptop is lost
        sync(amara, url)  # reads bea's chain closed: takes the thief's report
        try:
            sync(cal, url)  # pushes the real report and cal's note
        finally:
            cal.close()
        sync(amara, url)
        notes = {
            case_view.show_case(amara, c).report.what_happened: [
                n.text for n in case_view.show_case(amara, c).notes
            ]
            for c in every_case(amara)
        }
    assert notes["the real one"] == ["cal's note"]


def test_a_removed_laptops_report_sealed_to_another_key_does_not_stop_syncs(
    teams: dict[tuple[str, ...], Path], intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with _team(teams, intake_servers, tmp_path, "bea") as (amara, url, (bea,)):
        try:
            sync(amara, url)
            key = amara.team_public_key()
            odd = seal_report(make_report(what_happened="sealed to epoch 9"), 9, key.public_key)
            _thief_sends(bea, url, "ZZZZZZZZ", odd, "2026-12-05")
        finally:
            bea.close()
        membership.revoke_caseworker(amara, "bea")  # the laptop is lost
        with contextlib.suppress(ForeignEnvelopeError):  # a first stop is the fault too,
            sync(amara, url)  # before the relay is told of the removal
        sync(amara, url)  # and it comes again at every sync
