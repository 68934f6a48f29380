"""Review 12t: the mends of review 12s (merge 2598971) to settling two team key epochs
started apart (vault/epoch_settling.py, docs/sync.md section 4 step 2), attacked again.

One small team for the module (tests/vault/test_review12s.py's ``small`` fixture: amara,
bea, dan and fay on their own laptops, one real intake on loopback; ola and olu are members
whose laptops never sync), and ``shared``: a folder amara and sam shared before it synced,
then joined by bea's laptop. The tests run in order and share the team's state; each attack
uses laptops the ones before it left sound. A test marked ``xfail(strict=True,
reason="FAULT: ...")`` is a fault found by this review: it passes once the fault is mended.

Faults (severity): an `epoch` item naming an epoch a laptop holds but did not start stops
its every sync for good, and fix 3 lets a laptop it revoked send one, so its revocation is
never told (high); a removed laptop that rotates again while the revoking laptop's sync runs
stops that sync each time, its revocation never told (medium; mended: the same sync
settles again and tells, and the race just before the telling is tested too); `vault
recovery restore` on a laptop that syncs adds a second caseworker there, the path
check_shares_folder closes for
`caseworker add` (medium; mended: the folder opens for the new caseworker and leaves the
team, every later sync there refused); in a folder shared before it synced, the second caseworker's
own `vault sync` (her `vault pull`, as before) breaks the folder's chain for every colleague
(high); a second events_resealed row opens any event, a colleague's
too, to one more rewrite outside settling (low; mended in schema 20).

What held (plain tests): settling killed with -9 with the pending files written, and after
the commit before the re-key, with a recovery access file present: the recovery shares open
the database first each time, holding exactly its keys, and the laptop unlocks after;
erasing a case whose events were sealed again leaves none of its events_resealed rows; a
folder shared before it synced carries its second caseworker's notes through its first
caseworker's syncs, and refuses a third.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, seal_for
from tests.intake_server import IntakeServers
from tests.team_laptops import join
from tests.vault.test_epoch_settling import REPO
from tests.vault.test_review12s import _KILLED_AT, DEE, Small
from tests.vault.test_review12s import small as small  # the module's own team
from vault import case_view, erasure, keychange, membership, recovery, team_clock
from vault import sync as syncmod
from vault.check import check_vault
from vault.errors import UsageError, VaultError
from vault.keys import TeamKeyPair, b64
from vault.relay_client import RelayClient
from vault.sending import Chain, push
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import sync
from vault.team_changes import Statement
from vault.team_changes import Team as TeamRecord
from vault.team_record import team_and_epochs

# One worker runs the whole module, in order: its tests share a team of laptops (a module
# fixture) and each builds on the state the ones before it left (tests/conftest.py IN_ORDER).
pytestmark = pytest.mark.slow


def _relay(s: Small) -> TeamRecord:
    with RelayClient(s.url, s.amara.identity) as relay:
        start, statements = relay.team()
    return team_and_epochs(start, statements)[0]


def _removed_on_relay(s: Small, laptop: Vault) -> bool:
    return laptop.identity.key_id in _relay(s).revoked


def _recovery_opens(directory: Path, shares: list[Path]) -> keychange.Opened:
    """What `vault recovery restore` does before adding anyone: open the database with the
    recovery access file (or its pending successor)."""
    who = recovery.combine(recovery.read_shares(shares))
    path = directory / keychange.RECOVERY_ACCESS
    writers = {keychange.access_writer(path.read_bytes())}
    for pending in directory.glob(f"{keychange.RECOVERY_ACCESS}.next-*"):
        writers.add(keychange.access_writer(pending.read_bytes()))
    return keychange.open_access(
        directory, who, path, frozenset(writers), "The recovery", member=False
    )


def _kill_bea_at(s: Small, point: str) -> None:
    s.bea.close()
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_AT, str(s.root / "bea"), s.url, point],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


# --- fix 1: kill -9 with a recovery access file present --------------------------------------


def test_settling_killed_with_recovery_shares_each_step_leaves_recovery_opening(
    small: Small, tmp_path: Path
) -> None:
    """B has recovery shares. B rotates (N) and revokes ola (N+1) apart from A's N, so
    settling starts N+1 again over B's own N+1. Killed with the pending files written, then
    (next try) after the commit before the re-key: each time the recovery shares open the
    database first (before B unlocks), holding exactly its team keys, and B unlocks after."""
    s = small
    shares = list(recovery.split(s.bea, 3, 2, tmp_path / "shares").files)[:2]
    for laptop in (s.amara, s.bea):
        sync(laptop, s.url)
    n = s.amara.access.current.epoch + 1
    membership.rotate_team_key(s.amara)
    membership.rotate_team_key(s.bea)
    membership.revoke_caseworker(s.bea, "ola")
    own = s.bea.access.team_key(n + 1)
    s.bea.add_note(s.case_id, "review12t: bea, shares kept")
    sync(s.amara, s.url)
    theirs = s.amara.access.team_key(n)
    directory = s.root / "bea"
    for point in ("files written", "committed, not re-keyed"):
        _kill_bea_at(s, point)
        assert list(directory.glob("recovery.access.next-*"))
        opened = _recovery_opens(directory, shares)
        try:
            held = {k.epoch: k.public_key for k in opened.access.team_keys}
            assert keychange.matches(opened.access, keychange.stored_team_keys(opened.db))
        finally:
            opened.db.close()
        if point == "files written":  # undone: B as it was
            assert held[n + 1] == own.public_key
        else:  # committed: the recovery's unlock finished it (re-keyed with its pending file)
            assert held[n] == theirs.public_key
            assert held[n + 1] != own.public_key
        assert not list(directory.glob("recovery.access.next-*"))
        s.bea = Vault.unlock(directory, PASSPHRASE)
        assert {k.epoch: k.public_key for k in s.bea.access.team_keys} == held
    assert sync(s.bea, s.url).settled is None  # settled already
    assert check_vault(s.bea) == []
    sync(s.amara, s.url)
    texts = [x.text for x in case_view.show_case(s.amara, s.case_id).notes]
    assert texts.count("review12t: bea, shares kept") == 1
    assert _removed_on_relay(s, s.bea) is False


# --- fix 3: a laptop B removed racing its revocation ---------------------------------------


def test_a_removed_laptop_rotating_again_during_each_sync_never_keeps_its_place(
    small: Small, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B revokes dan (his laptop was stolen); dan's laptop rotates first (N) and, each time
    B syncs, rotates again while B's sync pulls (after B settled, before B tells the relay).
    After three of B's syncs, the relay must have removed dan: B's first sync settles again
    (receiving dan's second key) and tells it."""
    s = small
    for laptop in (s.amara, s.bea, s.dan):
        sync(laptop, s.url)
    membership.revoke_caseworker(s.bea, "dan")
    membership.rotate_team_key(s.dan)
    sync(s.dan, s.url)
    real_pull = syncmod.pull
    racing: list[bool] = []

    def pull_while_dan_races(vault: Vault, url: str, **kw: object) -> object:
        if vault is s.bea and not racing:
            racing.append(True)
            membership.rotate_team_key(s.dan)  # dan's laptop, still on the relay's record
            sync(s.dan, s.url)
        return real_pull(vault, url, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(syncmod, "pull", pull_while_dan_races)
    stops = []
    for _ in range(3):
        racing.clear()
        try:
            sync(s.bea, s.url)
        except VaultError as e:
            stops.append(str(e))
        if _removed_on_relay(s, s.dan):
            break
    assert _removed_on_relay(s, s.dan), stops
    assert stops == []  # the first sync, raced, settled again and told the relay
    assert racing == [True]


def test_a_removed_laptops_epoch_item_for_an_old_epoch_does_not_stop_the_revocation(
    small: Small,
) -> None:
    """A revokes fay (her laptop was stolen). Before A syncs, fay's laptop (still a member as
    far as the relay knows) sends A an `epoch` item naming A's previous epoch with a key of
    its own, which the relay's record does not name. A's syncs must set it aside (exit 4 at
    most once, as docs/sync.md section 4 step 2 says) and tell the relay fay is removed."""
    s = small
    for laptop in (s.fay, s.amara):
        sync(laptop, s.url)
    old = s.amara.access.current.epoch
    membership.revoke_caseworker(s.amara, "fay")
    forged = TeamKeyPair.generate(old)
    with s.fay.transaction() as db:
        chain = Chain(s.fay, db, s.amara.identity.key_id, s.amara.identity.public.box_pk, 0)
        chain.add(
            {
                "t": "epoch",
                "team_key": {
                    "epoch": old,
                    "public_key": b64(forged.public_key),
                    "secret_key": b64(forged.secret_key.reveal()),
                },
                "revoked": None,
            }
        )
    with RelayClient(s.url, s.fay.identity) as relay:
        assert push(s.fay, relay) == 1
    stops = []
    for _ in range(3):
        try:
            sync(s.amara, s.url)
        except VaultError as e:
            stops.append(type(e).__name__ + ": " + str(e))
    assert len(stops) <= 1, stops
    assert _removed_on_relay(s, s.fay)
    assert s.amara.access.team_key(old).public_key != forged.public_key


# --- fix 5: the one-shot rewrite ------------------------------------------------------------


def test_an_event_cannot_be_opened_for_a_rewrite_outside_settling(small: Small) -> None:
    """A second events_resealed row (another epoch) opens neither an event already sealed
    again nor a colleague's (schema 20: the row must name the epoch the event is sealed to
    now, and the event must be the laptop owner's)."""
    s = small
    db = s.bea.db
    (mine,) = db.execute("SELECT id FROM events_resealed LIMIT 1").fetchone()  # test 1
    (theirs,) = db.execute(
        "SELECT id FROM events WHERE actor = ? LIMIT 1", (s.amara.identity.key_id,)
    ).fetchone()
    db.execute("SAVEPOINT review")
    rewritten = []
    try:
        for event_id, same_epoch in ((mine, False), (theirs, False), (theirs, True)):
            db.execute(
                "INSERT OR IGNORE INTO events_resealed (id, case_id, epoch, sealed_before)"
                " SELECT id, case_id, CASE WHEN ?"
                " THEN CAST(json_extract(CAST(body AS TEXT), '$.data.epoch') AS INTEGER)"
                " ELSE 9999 END, ? FROM events WHERE id = ?",
                (same_epoch, "0" * 64, event_id),
            )
            with contextlib.suppress(Exception):  # the trigger's abort is what is wanted
                db.execute("UPDATE events SET signature = zeroblob(64) WHERE id = ?", (event_id,))
                rewritten.append(event_id)
    finally:
        db.execute("ROLLBACK TO review")
        db.execute("RELEASE review")
    assert rewritten == []


def test_erasing_a_case_with_events_sealed_again_leaves_nothing_of_them(small: Small) -> None:
    """The case whose notes B sealed again is erased on B: its events_resealed rows go with
    it, and the vault checks sound."""
    s = small
    assert s.bea.db.execute(
        "SELECT count(*) FROM events_resealed WHERE case_id = ?", (s.case_id,)
    ).fetchone()[0]
    erasure.erase_case(s.bea, s.case_id, "requested")
    assert s.bea.db.execute("SELECT count(*) FROM events_resealed").fetchone()[0] == 0
    assert (
        s.bea.db.execute("SELECT count(*) FROM events WHERE case_id = ?", (s.case_id,)).fetchone()[
            0
        ]
        == 0
    )
    assert check_vault(s.bea) == []


# --- fix 4: the other way a second caseworker gets into a folder that syncs --------------------


def test_recovery_restore_on_a_laptop_that_syncs_adds_no_second_caseworker(
    small: Small, tmp_path: Path
) -> None:
    """dan forgot his passphrase and runs `vault recovery restore --name dan-2` on his laptop.
    The folder opens for dan-2 (nothing in it is lost), and it leaves the team: nobody there
    can sign as dan's laptop any more, so every later sync from it is refused (exit 2) and
    nothing dan-2 writes there reaches a colleague or stops their syncs."""
    s = small
    shares = list(recovery.split(s.dan, 3, 2, tmp_path / "dan-shares").files)[:2]
    who = recovery.combine(recovery.read_shares(shares))
    restored = recovery.restore_access(s.root / "dan", who, "dan-2", DEE)
    try:
        assert team_clock.left_team(restored.db) == "recovery"
        assert case_view.show_case(restored, s.case_id).report is not None
        restored.add_note(s.case_id, "review12t: dan-2's note")
        for laptop in (restored, s.dan):
            with pytest.raises(UsageError, match="recovery shares, so it no longer syncs"):
                sync(laptop, s.url)
    finally:
        restored.close()
    sync(s.amara, s.url)  # a colleague's sync is not stopped
    texts = [x.text for x in case_view.show_case(s.amara, s.case_id).notes]
    assert "review12t: dan-2's note" not in texts
    assert "dan-2" not in [w.name for w in membership.caseworkers(s.amara)]


# --- fix 4: a folder two caseworkers already shared, that then starts to sync -----------------


@dataclass
class Shared:
    url: str
    folder: Path
    amara: Vault
    bea: Vault
    case_id: str


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """amara and sam share a folder (sam added with her own passphrase before it synced);
    then bea joins from her own laptop."""
    root = tmp_path_factory.mktemp("shared")
    with IntakeServers(root) as servers:
        amara = Vault.create(root / "amara", "amara", PASSPHRASE)
        try:
            membership.add_caseworker(amara, "sam", DEE)
            url = servers.start(amara.team_key_export()).url
            send_envelope(url, seal_for(amara))
            (case_id,) = sync(amara, url).pulled.imported
            with Vault.unlock(root / "amara", DEE, "sam") as sam:
                sam.add_note(case_id, "review12t: sam, before the team")
            bea = join(root / "bea", "bea", amara, url)
            try:
                yield Shared(url, root / "amara", amara, bea, case_id)
            finally:
                bea.close()
        finally:
            amara.close()


def test_a_shared_folder_that_starts_syncing_carries_its_second_caseworkers_notes(
    shared: Shared,
) -> None:
    """sam's notes, written before the folder synced and after, reach bea through amara's
    syncs; a third caseworker is refused in the folder now that it syncs (exit 2's error)."""
    s = shared
    with Vault.unlock(s.folder, DEE, "sam") as sam:
        sam.add_note(s.case_id, "review12t: sam, on the team")
    sync(s.amara, s.url)
    sync(s.bea, s.url)
    texts = [n.text for n in case_view.show_case(s.bea, s.case_id).notes]
    assert texts.count("review12t: sam, before the team") == 1
    assert texts.count("review12t: sam, on the team") == 1
    with pytest.raises(UsageError, match="laptop of their own"):
        membership.add_caseworker(s.amara, "tom", DEE)


def test_the_second_caseworker_of_a_shared_folder_syncing_breaks_nothing(
    shared: Shared,
) -> None:
    """sam runs `vault sync` herself (the same command as her `vault pull`): afterwards
    amara's and bea's syncs go on, and bea holds sam's note and amara's next."""
    s = shared
    stops = []
    with Vault.unlock(s.folder, DEE, "sam") as sam:
        sam.add_note(s.case_id, "review12t: sam syncs herself")
        for _ in range(2):
            try:
                sync(sam, s.url)
            except VaultError as e:
                stops.append(f"sam: {e}")
    s.amara.add_note(s.case_id, "review12t: amara, after sam synced")
    for laptop in (s.amara, s.bea, s.amara, s.bea):
        try:
            sync(laptop, s.url)
        except VaultError as e:
            stops.append(f"{laptop.identity.name}: {e}")
    texts = [n.text for n in case_view.show_case(s.bea, s.case_id).notes]
    assert "review12t: sam syncs herself" in texts
    assert "review12t: amara, after sam synced" in texts
    assert [x for x in stops if not x.startswith("sam")] == []


def test_a_removed_laptop_rotating_just_before_the_revocation_is_told_is_settled_and_told(
    shared: Shared, monkeypatch: pytest.MonkeyPatch
) -> None:
    """amara revokes bea; bea's laptop (still on the relay's record) starts the same epoch and
    tells the relay between amara's sync reading the relay's record and sending her
    revocation, so the relay refuses it (out of order). The same sync settles with bea's key
    and tells the relay bea is removed, once, with no stop."""
    s = shared
    for laptop in (s.amara, s.bea):
        sync(laptop, s.url)
    n = s.amara.access.current.epoch + 1
    membership.revoke_caseworker(s.amara, "bea")
    real_add = RelayClient.add_statement
    raced: list[int] = []

    def add_while_bea_races(relay: RelayClient, statement: Statement) -> None:
        if relay._identity.key_id == s.amara.identity.key_id and not raced:
            raced.append(s.bea.access.current.epoch + 1)
            membership.rotate_team_key(s.bea)
            sync(s.bea, s.url)
        real_add(relay, statement)

    monkeypatch.setattr(RelayClient, "add_statement", add_while_bea_races)
    result = sync(s.amara, s.url)
    assert raced == [n]
    assert result.revoked == ["bea"]
    assert result.settled is not None
    assert (result.settled.epoch, result.settled.started) == (n, ((n + 1, "bea"),))
    with RelayClient(s.url, s.amara.identity) as relay:
        team, epochs = team_and_epochs(*relay.team())
    assert s.bea.identity.key_id in team.revoked
    bea_n = s.bea.access.team_key(n)
    assert bea_n is not None
    assert epochs[n] == bea_n.public_key  # bea's, which amara took
    assert epochs[n + 1] == s.amara.access.current.public_key
    assert s.amara.access.current.epoch == n + 1
    assert check_vault(s.amara) == []
