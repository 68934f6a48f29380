"""Review 12s: settling two team key epochs started apart (vault/epoch_settling.py), attacked.

One team for the module (tests/vault/test_epoch_settling.py's fixture: amara A, bea B, carol
C on their own laptops, one real intake on loopback; xena, yan, zed, wes, uma and vic are
members whose laptops never sync). The tests run in order and share the team's state.
A test marked ``xfail(strict=True, reason="FAULT: ...")`` is a fault found by the review:
it passes once the fault is mended. A second, small team (``small``: amara, bea, dan, fay)
holds the faults that lock a laptop out, so the first team's scenarios do not depend on them.

Faults (severity): a kill -9 before the settling transaction commits locks the vault out when
settling starts an epoch over one of the laptop's own (high); so does a refused settling,
with no crash, in a shared folder (high); a laptop B revoked that tells the relay first
leaves B stopped for good, its revocation never told (high); a second laptop settling after
the first seals its notes to a key a caseworker it removed holds (medium); a second
caseworker added to a folder that syncs stops colleagues' syncs (medium, not settling's);
an event once sealed again may be rewritten forever after (low).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, Cli, make_report, seal_for
from tests.intake_server import IntakeServers
from tests.team_laptops import join, shown
from tests.vault.test_epoch_settling import REPO, Team
from tests.vault.test_epoch_settling import team as team  # the module's own team
from vault import _crypto, alerts, case_view, membership
from vault.backup import make_backup, restore_backup
from vault.check import check_vault
from vault.db import new_origin
from vault.errors import UsageError, VaultError
from vault.join_request import make_request
from vault.keys import Identity, unb64
from vault.passphrase import Passphrase
from vault.relay_client import RelayClient
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import sync
from vault.team_record import team_and_epochs
from vault.telling import announce_new_epochs

# One worker runs the whole module, in order: its tests share a team of laptops (a module
# fixture) and each builds on the state the ones before it left (tests/conftest.py IN_ORDER).
pytestmark = pytest.mark.slow

NAMES = ("amara", "bea", "carol")
DEE = Passphrase(b"dee's own long passphrase, not bea's")


def _everyone_syncs(t: Team) -> None:
    for name in ("carol", "amara", "bea", "carol", "amara", "bea"):
        sync(t.laptops[name], t.url)


def _keys(v: Vault) -> dict[int, bytes]:
    return {k.epoch: k.public_key for k in v.access.team_keys}


def _agreed(t: Team, *notes: str) -> None:
    """A, B and C hold the same team keys, roster and cases, and each reads every note once."""
    a, b, c = (t.laptops[n] for n in NAMES)
    assert _keys(a) == _keys(b) == _keys(c)
    rosters = [
        sorted((w.name, w.revoked is None) for w in membership.caseworkers(v)) for v in (a, b, c)
    ]
    assert rosters[0] == rosters[1] == rosters[2]
    assert shown(a, t.case_id) == shown(b, t.case_id) == shown(c, t.case_id)
    for laptop in (a, b, c):
        texts = [n.text for n in case_view.show_case(laptop, t.case_id).notes]
        for note in notes:
            assert texts.count(note) == 1, (laptop.identity.name, note)


def _note_epoch(v: Vault, text_marker_seq: int) -> int:
    (body,) = v.db.execute("SELECT body FROM events WHERE seq = ?", (text_marker_seq,)).fetchone()
    return int(json.loads(bytes(body))["data"]["epoch"])


def _last_note_seq(v: Vault) -> int:
    (seq,) = v.db.execute("SELECT max(seq) FROM events WHERE kind = 'note'").fetchone()
    return int(seq)


# --- careless use: more key changes while stuck waiting for A's key ------------------------


def test_rotating_and_revoking_again_while_stuck_still_settles(team: Team) -> None:
    """B is stuck (A told the relay of epoch N, A's key has not come); B's caseworker, told to
    sync later, rotates again and revokes uma meanwhile. Once A's key comes, B settles: it
    takes A's N, starts N+1 removing uma, and the three laptops agree."""
    t = team
    n = t.amara.access.current.epoch + 1
    membership.rotate_team_key(t.amara)
    membership.rotate_team_key(t.bea)
    t.bea.add_note(t.case_id, "review: bea while stuck")
    with RelayClient(t.url, t.amara.identity) as relay:
        assert announce_new_epochs(t.amara, relay) == [(n, None)]
    with pytest.raises(VaultError, match="its key has not reached this laptop"):
        sync(t.bea, t.url)
    membership.rotate_team_key(t.bea)  # N+1, B's own
    membership.revoke_caseworker(t.bea, "uma")  # N+2, B's own
    t.bea.add_note(t.case_id, "review: bea after revoking uma")
    with pytest.raises(VaultError, match="its key has not reached this laptop"):
        sync(t.bea, t.url)
    sync(t.amara, t.url)  # A's key goes out
    result = sync(t.bea, t.url)
    assert result.settled is not None
    assert result.settled.epoch == n
    assert result.settled.started == ((n + 1, "uma"),)
    assert result.revoked == ["uma"]
    assert t.bea.access.current.epoch == n + 1
    assert _note_epoch(t.bea, _last_note_seq(t.bea)) == n + 1
    _everyone_syncs(t)
    _agreed(t, "review: bea while stuck", "review: bea after revoking uma")
    assert check_vault(t.bea) == []


# --- two laptops lose to A at once ---------------------------------------------------------


def test_b_and_c_both_lose_to_a_and_what_c_wrote_after_revoking_yan_stays_from_yan(
    team: Team,
) -> None:
    t = team
    n = t.amara.access.current.epoch + 1
    membership.revoke_caseworker(t.amara, "xena")
    membership.revoke_caseworker(t.bea, "yan")
    membership.revoke_caseworker(t.carol, "yan")
    t.bea.add_note(t.case_id, "review: bea after yan")
    t.carol.add_note(t.case_id, "review: carol after yan")
    sync(t.amara, t.url)  # A tells the relay first: epoch N removes xena; yan is sent A's key
    b = sync(t.bea, t.url)
    assert b.settled is not None
    assert b.settled.started == ((n + 1, "yan"),)
    c = sync(t.carol, t.url)
    assert c.settled is not None
    _everyone_syncs(t)
    _agreed(t, "review: bea after yan", "review: carol after yan")
    assert t.carol.access.current.epoch == n + 1
    # every laptop: carol's note (written after carol removed yan) is sealed to N+1, which
    # yan never holds, as docs/sync.md section 4 step 2 and docs/threat-model.md promise
    for name in NAMES:
        v = t.laptops[name]
        rows = v.db.execute("SELECT body FROM events WHERE kind = 'note'").fetchall()
        for (body,) in rows:
            doc = json.loads(bytes(body))
            if doc["actor"] == t.carol.identity.key_id and doc["data"]["epoch"] >= n:
                assert doc["data"]["epoch"] == n + 1, name


# --- the relaxed append-only trigger -------------------------------------------------------


def test_an_event_sealed_again_once_is_append_only_again_after(team: Team) -> None:
    t = team
    resealed = t.bea.db.execute("SELECT id FROM events_resealed").fetchall()
    assert resealed  # B settled in the tests above
    (event_id,) = resealed[0]
    db = t.bea.db
    db.execute("SAVEPOINT review")
    try:
        with pytest.raises(Exception, match="append-only"):
            db.execute("UPDATE events SET signature = zeroblob(64) WHERE id = ?", (event_id,))
        with pytest.raises(Exception, match="append-only"):  # nor opened again for a rewrite
            db.execute("UPDATE events_resealed SET rewriting = 1 WHERE id = ?", (event_id,))
    finally:
        db.execute("ROLLBACK TO review")
        db.execute("RELEASE review")


def test_a_colleagues_event_stays_append_only(team: Team) -> None:
    """The relaxed trigger: an event not listed (here, one of amara's) cannot be rewritten."""
    t = team
    (event_id,) = t.bea.db.execute(
        "SELECT id FROM events WHERE actor = ? LIMIT 1", (t.amara.identity.key_id,)
    ).fetchone()
    db = t.bea.db
    db.execute("SAVEPOINT review")
    try:
        with pytest.raises(Exception, match="append-only"):
            db.execute("UPDATE events SET signature = zeroblob(64) WHERE id = ?", (event_id,))
    finally:
        db.execute("ROLLBACK TO review")
        db.execute("RELEASE review")


# --- kill -9 at the steps the suite does not kill at ---------------------------------------

_KILLED_AT = """
import os, signal, sys
from pathlib import Path
from tests.conftest import PASSPHRASE
from vault import epoch_settling, keychange
from vault.db import new_origin
from vault.join_request import make_request
from vault.keys import Identity, unb64
from vault.store import Vault
from vault.sync import sync

point = sys.argv[3]
def kill(*_a, **_k):
    os.kill(os.getpid(), signal.SIGKILL)
if point == "events sealed again":  # inside the transaction, before it commits
    original_events = epoch_settling._reseal_events
    def resealed(*a, **k):
        n = original_events(*a, **k)
        kill()
        return n
    epoch_settling._reseal_events = resealed
elif point == "files written":
    original_write = epoch_settling.write_pending
    def written(*a, **k):
        original_write(*a, **k)
        kill()
    epoch_settling.write_pending = written
elif point == "committed, not re-keyed":
    epoch_settling.dbmod.rekey = kill
elif point == "one file renamed":
    original_move = keychange.move_into_place
    def moved(*a, **k):
        original_move(*a, **k)
        kill()
    keychange.move_into_place = moved
with Vault.unlock(Path(sys.argv[1]), PASSPHRASE) as bea:
    sync(bea, sys.argv[2])
"""


def _killed(t: Team, point: str) -> None:
    t.bea.close()
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_AT, str(t.root / "bea"), t.url, point],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    t.reopen("bea")


def test_settling_killed_inside_the_transaction_after_commit_and_mid_rename(team: Team) -> None:
    """Killed with -9 inside the transaction (B is as before), then, at the next try, after
    it committed and before the re-key, and in another round between two renames of step
    4: each time B unlocks, holds A's key once committed, and the next sync completes."""
    t = team
    for points in (("events sealed again", "committed, not re-keyed"), ("one file renamed",)):
        n = t.amara.access.current.epoch + 1
        membership.rotate_team_key(t.amara)
        membership.rotate_team_key(t.bea)
        own = t.bea.access.team_key(n)
        t.bea.add_note(t.case_id, f"review: killed at {points[-1]}")
        sync(t.amara, t.url)
        theirs = t.amara.access.team_key(n)
        for point in points:
            _killed(t, point)
            after = t.bea.access.team_key(n)
            if point == "events sealed again":  # rolled back: as before
                assert after.public_key == own.public_key
            else:  # committed: the unlock finished it
                assert after.public_key == theirs.public_key
            assert not list((t.root / "bea" / "caseworkers").glob("*.next-*"))
        assert sync(t.bea, t.url).settled is None  # settled already: the sync just completes
        assert check_vault(t.bea) == []
    _everyone_syncs(t)
    _agreed(t, "review: killed at committed, not re-keyed", "review: killed at one file renamed")


# --- three epochs started apart; then every laptop's bundle ---------------------------------


def _relay_epochs(t: Team) -> dict[int, bytes]:
    with RelayClient(t.url, t.amara.identity) as relay:
        start, statements = relay.team()
    return team_and_epochs(start, statements)[1]


def test_three_epochs_started_apart_settle_and_every_bundle_verifies(team: Team) -> None:
    """A revokes zed, B revokes wes, C revokes vic, apart. B settles (A's N, its own N+1
    removing wes); C settles twice in one sync: A's N (starting N+1 removing vic), then B's
    N+1 (starting N+2 removing vic). Every member whose laptop never syncs is then removed."""
    t = team
    n = t.amara.access.current.epoch + 1
    for name, gone in zip(NAMES, ("zed", "wes", "vic"), strict=True):
        membership.revoke_caseworker(t.laptops[name], gone)
    lost = {name: t.laptops[name].access.team_key(n).public_key for name in ("bea", "carol")}
    t.bea.add_note(t.case_id, "review: bea, three apart")
    t.carol.add_note(t.case_id, "review: carol, three apart")
    sync(t.amara, t.url)
    settled = sync(t.bea, t.url).settled
    assert settled is not None
    assert (settled.epoch, settled.started) == (n, ((n + 1, "wes"),))
    c = sync(t.carol, t.url)
    assert c.settled is not None
    assert c.revoked == ["vic"]
    assert t.carol.access.current.epoch == n + 2
    _everyone_syncs(t)
    _agreed(t, "review: bea, three apart", "review: carol, three apart")
    assert _note_epoch(t.bea, _last_note_seq(t.bea)) >= n + 1
    # the losing keys never left their laptops: no laptop holds them, the relay never named them
    named = set(_relay_epochs(t).values())
    for key in lost.values():
        assert key not in named
        assert all(key not in _keys(t.laptops[name]).values() for name in NAMES)
    # a report sent now opens on all three
    send_envelope(t.url, seal_for(t.carol, make_report(what_happened="review: three apart")))
    _everyone_syncs(t)
    for name in NAMES:
        v = t.laptops[name]
        texts = {
            case_view.show_case(v, c).report.what_happened
            for (c,) in v.db.execute("SELECT id FROM cases")
        }
        assert "review: three apart" in texts
        # sealed to N+2, which no one removed (zed, wes, vic) was ever sent
        (newest,) = v.db.execute("SELECT max(epoch) FROM cases").fetchone()
        assert newest == n + 2 == v.access.current.epoch
        assert check_vault(v) == []
    cli = Cli(t.root)
    for name in NAMES:
        bundle = t.root / f"review-{name}-bundle"
        exported = cli("audit", "export", str(bundle), "--vault", str(t.root / name))
        assert exported.returncode == 0, exported.stderr
        verified = cli("audit", "verify", str(bundle))
        assert verified.returncode == 0, (name, verified.stderr)


def test_a_backup_of_b_made_after_settling_restores_and_syncs(team: Team) -> None:
    t = team
    backup = t.root / "review-bea.backup"
    make_backup(t.bea, backup, PASSPHRASE)
    restore_backup(backup, t.root / "review-bea-restored", passphrase=PASSPHRASE)
    with Vault.unlock(t.root / "review-bea-restored", PASSPHRASE) as restored:
        assert _keys(restored) == _keys(t.bea)
        assert check_vault(restored) == []
        texts = [n.text for n in case_view.show_case(restored, t.case_id).notes]
        assert texts.count("review: bea, three apart") == 1
        assert shown(restored, t.case_id) == shown(t.bea, t.case_id)


def test_an_alert_drafted_under_the_losing_key_still_opens_after(team: Team) -> None:
    """B drafts a safety alert sealed to its own key; after settling B still reads its draft
    (sealed again to A's key) and the laptops hold the same signed event. (Alerts are not
    taken in by other laptops' alert lists at all: not a settling matter.)"""
    t = team
    membership.rotate_team_key(t.amara)
    membership.rotate_team_key(t.bea)
    drafted = alerts.draft(t.bea, t.case_id, "A GP in Leeds refused a worker care in March.")
    sync(t.amara, t.url)
    settled = sync(t.bea, t.url).settled
    assert settled is not None
    assert settled.events == 1
    _everyone_syncs(t)
    assert alerts.show_alert(t.bea, drafted.id).content.text == drafted.content.text
    query = "SELECT body, signature FROM events WHERE kind = 'alert-drafted'"
    assert t.bea.db.execute(query).fetchall() == t.amara.db.execute(query).fetchall()
    assert check_vault(t.bea) == []


def test_b_sharing_its_folder_with_a_second_caseworker_settles_and_both_unlock(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B's folder is shared with dee (added there with her own passphrase). B settles; dee
    then unlocks the same folder holding A's key for the epoch, and it opens B's note. (She
    opens no case here: see the next test.)"""
    t = team
    _share_folder(monkeypatch, t.bea, "dee")
    _everyone_syncs(t)
    n = t.amara.access.current.epoch + 1
    membership.rotate_team_key(t.amara)
    membership.rotate_team_key(t.bea)
    t.bea.add_note(t.case_id, "review: bea, shared folder")
    sync(t.amara, t.url)
    assert sync(t.bea, t.url).settled is not None
    (body,) = t.bea.db.execute(
        "SELECT body FROM events WHERE kind = 'note' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    data = json.loads(bytes(body))["data"]
    with Vault.unlock(t.root / "bea", DEE, "dee") as dee:
        key = dee.access.team_key(n)
        assert key.public_key == t.amara.access.team_key(n).public_key
        assert data["epoch"] == n
        text = _crypto.seal_open(unb64(data["sealed"]), key.public_key, key.secret_key)
        assert b"review: bea, shared folder" in text
    _everyone_syncs(t)
    assert _keys(t.amara) == _keys(t.bea) == _keys(t.carol)  # (dee is on B's roster alone)
    assert shown(t.amara, t.case_id) == shown(t.bea, t.case_id) == shown(t.carol, t.case_id)


def _share_folder(monkeypatch: pytest.MonkeyPatch, vault: Vault, name: str) -> None:
    """A second caseworker in a laptop's folder, as a folder shared before it began to sync
    has one (a folder that syncs refuses to add one: membership.check_shares_folder)."""
    with monkeypatch.context() as patched:
        patched.setattr(membership, "check_shares_folder", lambda *_: None)
        membership.add_caseworker(vault, name, DEE)


# --- the laptop of someone B removed starts the epoch first ---------------------------------


def test_a_laptop_b_revoked_telling_first_gets_nothing_b_wrote_after(team: Team) -> None:
    """B revokes carol (her laptop, say, was stolen) and writes a note; carol's laptop, still
    a member as far as the relay knows, rotates and tells the relay first. B settles: it takes
    carol's key for N (the team's record names it), but its note is sealed to N+1, which
    removes carol, told to the relay by the same sync; afterwards carol's laptop gets nothing."""
    t = team
    n = t.amara.access.current.epoch + 1
    membership.revoke_caseworker(t.bea, "carol")
    t.bea.add_note(t.case_id, "review: bea after removing carol")
    membership.rotate_team_key(t.carol)
    sync(t.carol, t.url)
    stops = []
    for _ in range(3):  # as the stop's hint says: sync again later (amara syncs meanwhile)
        sync(t.amara, t.url)
        try:
            result = sync(t.bea, t.url)
            break
        except VaultError as e:
            stops.append(str(e))
    assert not stops, stops
    assert result.settled is not None
    assert result.settled.started == ((n + 1, "carol"),)
    assert result.revoked == ["carol"]
    assert _note_epoch(t.bea, _last_note_seq(t.bea)) == n + 1
    assert t.bea.access.current.epoch == n + 1
    for _ in range(2):
        sync(t.amara, t.url)
        sync(t.bea, t.url)
    assert _keys(t.amara) == _keys(t.bea)
    assert shown(t.amara, t.case_id) == shown(t.bea, t.case_id)
    send_envelope(t.url, seal_for(t.bea, make_report(what_happened="review: after carol")))
    (later,) = sync(t.amara, t.url).pulled.imported
    sync(t.bea, t.url)
    assert case_view.show_case(t.bea, later).report.what_happened == "review: after carol"
    with pytest.raises(VaultError):  # carol's laptop: refused by the relay
        sync(t.carol, t.url)
    assert t.carol.access.team_key(n + 1) is None
    texts = [n_.text for n_ in case_view.show_case(t.carol, t.case_id).notes]
    assert "review: bea after removing carol" not in texts


# --- a small team of its own: settling that starts an epoch over one of the laptop's own ----


@dataclass
class Small:
    root: Path
    url: str
    amara: Vault
    bea: Vault
    dan: Vault
    fay: Vault
    case_id: str


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Small]:
    """amara, bea, dan and fay on their own laptops; ola and olu: members whose laptops
    never sync."""
    root = tmp_path_factory.mktemp("again")
    with IntakeServers(root) as servers:
        amara = Vault.create(root / "amara", "amara", PASSPHRASE)
        url = servers.start(amara.team_key_export()).url
        send_envelope(url, seal_for(amara))
        (case_id,) = sync(amara, url).pulled.imported
        bea = join(root / "bea", "bea", amara, url)
        dan = join(root / "dan", "dan", amara, url)
        fay = join(root / "fay", "fay", amara, url)
        for name in ("ola", "olu"):
            request = make_request(Identity.generate(name), new_origin())
            membership.add_from_request(amara, name, request)
        for laptop in (amara, bea, dan, fay, amara):
            sync(laptop, url)
        s = Small(root, url, amara, bea, dan, fay, case_id)
        try:
            yield s
        finally:
            for laptop in (s.amara, s.bea, s.dan, s.fay):
                laptop.close()


def test_killed_before_commit_when_settling_starts_an_epoch_again_over_one_of_its_own(
    small: Small,
) -> None:
    """B rotated (N) and then revoked ola (N+1), apart from A's rotation N. Settling takes
    A's N and starts N+1 again, with a new key. Killed with the new access files written,
    before the transaction commits: B must unlock as before, every time, and settle next."""
    s = small
    n = s.amara.access.current.epoch + 1
    membership.rotate_team_key(s.amara)
    membership.rotate_team_key(s.bea)
    membership.revoke_caseworker(s.bea, "ola")
    s.bea.add_note(s.case_id, "review: bea before the kill")
    sync(s.amara, s.url)
    s.bea.close()
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_AT, str(s.root / "bea"), s.url, "files written"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    for _ in range(2):  # the first unlock tidies; the second reads what it left
        with Vault.unlock(s.root / "bea", PASSPHRASE) as again:
            assert again.access.current.epoch == n + 1
    s.bea = Vault.unlock(s.root / "bea", PASSPHRASE)
    settled = sync(s.bea, s.url).settled
    assert settled is not None
    assert settled.started == ((n + 1, "ola"),)
    texts = [x.text for x in case_view.show_case(s.bea, s.case_id).notes]
    assert texts.count("review: bea before the kill") == 1


def test_a_refused_settling_leaves_the_vault_as_it_was(
    small: Small, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dan's folder is shared with dee. dan rotates (N) and revokes olu (N+1) apart from A's
    N; dee writes a note under dan's own key, so dan cannot settle (docs/sync.md: it stops,
    nothing lost). dan must still unlock, every time."""
    s = small
    _share_folder(monkeypatch, s.dan, "dee")
    for laptop in (s.amara, s.dan):  # both at the team's newest epoch (bea settled above)
        sync(laptop, s.url)
    n = s.amara.access.current.epoch + 1
    membership.rotate_team_key(s.amara)
    membership.rotate_team_key(s.dan)
    membership.revoke_caseworker(s.dan, "olu")
    with Vault.unlock(s.root / "dan", DEE, "dee") as dee:
        dee.add_note(s.case_id, "review: dee under dan's own key")
    sync(s.amara, s.url)
    with pytest.raises(VaultError, match="cannot sync until that is settled"):
        sync(s.dan, s.url)
    s.dan.close()
    for _ in range(2):
        with Vault.unlock(s.root / "dan", PASSPHRASE, "dan") as again:
            assert again.access.current.epoch == n + 1
    s.dan = Vault.unlock(s.root / "dan", PASSPHRASE, "dan")


def test_a_second_caseworker_of_a_synced_folder_opening_a_case_stops_no_one(
    small: Small,
) -> None:
    """A folder that syncs takes no second caseworker with a passphrase of her own (each
    caseworker has a laptop of their own; the others would never hear of her): refused
    (exit 2, one sentence, before any passphrase is asked for), nothing written, and every
    colleague's sync goes on."""
    s = small
    with pytest.raises(UsageError, match="each caseworker has a laptop of their own"):
        membership.add_caseworker(s.amara, "eve", DEE)
    refused = Cli(s.root)("caseworker", "add", "eve", "--vault", str(s.root / "amara"))
    assert refused.returncode == 2, refused.stderr
    assert "vault caseworker add eve --request eve.request" in refused.stderr
    assert not list((s.root / "amara" / "caseworkers").glob("eve.*"))
    assert "eve" not in [w.name for w in membership.caseworkers(s.amara)]
    case_view.show_case(s.amara, s.case_id)
    sync(s.amara, s.url)
    sync(s.fay, s.url)
