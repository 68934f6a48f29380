"""Two laptops start a team key epoch apart; the one that told the relay second settles
(vault/epoch_settling.py, docs/sync.md section 4 step 2, "Two new team keys at once").

One team for the module (real vault folders, one real intake on loopback): amara (A), bea
(B, the laptop that loses each time), carol (C, who only ever takes A's keys), and xena,
yan, zed and wes (added from join requests, known to the relay; their laptops never sync
again: xena's is the stolen one both A and B revoke). Each scenario: A and B each start epoch N
apart, B writes a note and a reply sealed to its own key, A syncs first, then B's sync
settles; afterwards A, B and C hold the same keys, roster and cases, and read B's note.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, Cli, make_report, seal_for
from tests.intake_server import IntakeServer, IntakeServers
from tests.sealing import codename_keys, new_codename
from tests.team_laptops import join, shown
from vault import case_view, incoming, membership, replies
from vault.check import check_vault
from vault.db import new_origin
from vault.errors import VaultError, WrongKeyError
from vault.join_request import make_request
from vault.keys import Identity, b64
from vault.relay_client import RelayClient
from vault.sending import queue_new
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import sync
from vault.telling import announce_new_epochs

# One worker runs the whole module, in order: its tests share a team of laptops (a module
# fixture) and each builds on the state the ones before it left (tests/conftest.py IN_ORDER).
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Team:
    root: Path
    intake: IntakeServer
    laptops: dict[str, Vault]  # amara, bea, carol: each unlocked
    absent: dict[str, Identity]  # xena, yan, zed, wes, uma, vic: members whose laptops never sync
    case_id: str  # a case every laptop holds, with a reply key

    @property
    def url(self) -> str:
        return self.intake.url

    def __getattr__(self, name: str) -> Vault:
        return self.__dict__["laptops"][name]

    def reopen(self, name: str) -> Vault:
        self.laptops[name].close()
        self.laptops[name] = Vault.unlock(self.root / name, PASSPHRASE)
        return self.laptops[name]


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("settling")
    with IntakeServers(root) as servers:
        amara = Vault.create(root / "amara", "amara", PASSPHRASE)
        intake = servers.start(amara.team_key_export())
        reply_key = codename_keys(new_codename())[0]
        send_envelope(intake.url, seal_for(amara, make_report(reply_key=b64(reply_key))))
        (case_id,) = sync(amara, intake.url).pulled.imported
        laptops = {"amara": amara}
        for name in ("bea", "carol"):
            laptops[name] = join(root / name, name, amara, intake.url)
        gone = ("xena", "yan", "zed", "wes", "uma", "vic")
        absent = {name: Identity.generate(name) for name in gone}
        for name, identity in absent.items():
            membership.add_from_request(amara, name, make_request(identity, new_origin()))
        t = Team(root, intake, laptops, absent, case_id)
        for name in ("amara", "bea", "carol"):
            sync(t.laptops[name], t.url)  # every laptop knows every member
        try:
            yield t
        finally:
            for laptop in t.laptops.values():
                laptop.close()


def _everyone_syncs(t: Team) -> None:
    for name in ("carol", "amara", "bea", "carol", "amara"):
        sync(t.laptops[name], t.url)


def _agreed(t: Team, note: str) -> None:
    """A, B and C hold the same team keys, roster and case, and read B's note."""
    a, b, c = (t.laptops[n] for n in ("amara", "bea", "carol"))
    keys = [{k.epoch: k.public_key for k in v.access.team_keys} for v in (a, b, c)]
    assert keys[0] == keys[1] == keys[2]
    rosters = [[(w.name, w.revoked is None) for w in membership.caseworkers(v)] for v in (a, b, c)]
    assert sorted(rosters[0]) == sorted(rosters[1]) == sorted(rosters[2])
    assert shown(a, t.case_id) == shown(b, t.case_id) == shown(c, t.case_id)
    for laptop in (a, b, c):
        notes = [n.text for n in case_view.show_case(laptop, t.case_id).notes]
        assert notes.count(note) == 1


def _apart(t: Team, on_a: Callable[[Vault], object], on_b: Callable[[Vault], object], note: str):
    """A and B each start the next epoch apart; B writes a note and a reply under its own
    key; A tells the relay first. Returns B's own key for that epoch."""
    epoch = t.amara.access.current.epoch + 1
    on_a(t.amara)
    on_b(t.bea)
    own = t.bea.access.team_key(epoch)
    theirs = t.amara.access.team_key(epoch)
    assert own is not None
    assert theirs is not None
    assert own.public_key != theirs.public_key
    t.bea.add_note(t.case_id, note)
    replies.reply(t.bea, t.case_id, f"reply: {note}")
    sync(t.amara, t.url)
    return own


def test_two_laptops_starting_an_epoch_apart_settle_three_ways(team: Team) -> None:
    t = team
    start = t.amara.access.current.epoch

    # 1. A stolen laptop: both colleagues revoke xena. B takes A's key; nothing more to do.
    own = _apart(
        t,
        lambda a: membership.revoke_caseworker(a, "xena"),
        lambda b: membership.revoke_caseworker(b, "xena"),
        "bea, after xena left",
    )
    settled = sync(t.bea, t.url).settled
    assert settled is not None
    assert (settled.epoch, settled.started) == (start + 1, ())
    assert settled.events == 2  # the note and the reply's copy, sealed again
    assert t.bea.access.team_key(start + 1).public_key != own.public_key
    _everyone_syncs(t)
    _agreed(t, "bea, after xena left")

    # 2. A revokes yan while B only rotates: B's rotation is done by A's new key.
    _apart(
        t,
        lambda a: membership.revoke_caseworker(a, "yan"),
        membership.rotate_team_key,
        "bea, after her rotation",
    )
    result = sync(t.bea, t.url)
    assert result.settled is not None
    assert result.settled.started == ()
    assert result.new_epoch_revoked == "yan"
    _everyone_syncs(t)
    _agreed(t, "bea, after her rotation")
    assert t.bea.access.current.epoch == start + 2

    # 3. A revokes zed, B revokes wes: B takes A's epoch, then starts the next removing wes,
    # told to the relay in the same sync; B's note is sealed to that newest key.
    _apart(
        t,
        lambda a: membership.revoke_caseworker(a, "zed"),
        lambda b: membership.revoke_caseworker(b, "wes"),
        "bea, after wes left",
    )
    t.bea.close()  # B's settling sync through the real command
    cli = Cli(t.root)
    done = cli("sync", "--from", t.url, "--vault", str(t.root / "bea"))
    assert done.returncode == 0, done.stderr
    assert (
        f"Another laptop started team key epoch {start + 3} first (removing zed); this laptop"
        f" took its key in place of its own, sealed its own 2 case events again to the team's"
        f" newest key, started epoch {start + 4} to remove wes again, and re-encrypted its"
        " database."
    ) in done.stderr
    assert "Told the relay and the other laptops that wes was removed." in done.stderr
    t.reopen("bea")
    _everyone_syncs(t)
    _agreed(t, "bea, after wes left")
    assert t.amara.access.current.epoch == start + 4
    names = {w.name: w.revoked for w in membership.caseworkers(t.carol)}
    assert all(names[n] is not None for n in ("xena", "yan", "zed", "wes"))
    assert names["uma"] is None
    # B's note is sealed to the epoch that left wes out
    (body,) = t.amara.db.execute(
        "SELECT body FROM events WHERE kind = 'note' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    assert f'"epoch":{start + 4}' in bytes(body).decode()

    # Two removals in one sync: the first epoch's key goes to nobody the second removes
    # (the relay would refuse an item addressed to them, and stop the sync).
    membership.revoke_caseworker(t.carol, "uma")
    membership.revoke_caseworker(t.carol, "vic")
    assert sync(t.carol, t.url).revoked == ["uma", "vic"]

    # Afterwards: a new report opens on A, B and C and not for anyone removed.
    later = seal_for(t.carol, make_report(what_happened="after the settling"))
    send_envelope(t.url, later)
    _everyone_syncs(t)
    for name in ("amara", "bea", "carol"):
        texts = {
            case_view.show_case(t.laptops[name], c).report.what_happened
            for (c,) in t.laptops[name].db.execute("SELECT id FROM cases")
        }
        assert "after the settling" in texts
    for identity in t.absent.values():  # removed: the relay gives them nothing
        with RelayClient(t.url, identity) as relay, pytest.raises(WrongKeyError):
            relay.fetch()

    # B's access log says what happened; every laptop's bundle (each holding B's log)
    # verifies, and so does B's whole vault.
    assert check_vault(t.bea) == []
    for name in ("bea", "amara", "carol"):
        bundle = t.root / f"{name}-bundle"
        assert cli("audit", "export", str(bundle), "--vault", str(t.root / name)).returncode == 0
        verified = cli("audit", "verify", str(bundle))
        assert verified.returncode == 0, (name, verified.stderr)
    log = t.bea.db.execute("SELECT leaf FROM log_leaves ORDER BY seq").fetchall()
    settled_lines = [bytes(r[0]).decode() for r in log if b" team-key-settled " in bytes(r[0])]
    assert [line.split(" ")[5] for line in settled_lines] == [str(start + e) for e in (1, 2, 3)]


def test_the_second_laptop_stops_until_the_first_ones_key_comes(team: Team) -> None:
    """A's sync told the relay of its epoch and was cut off before its key went out: B's
    sync stops plainly, before pulling (a report to A's key stays on the intake for a laptop
    that can open it), sending nothing; once A's key has come, B settles."""
    t = team
    epoch = t.amara.access.current.epoch + 1
    membership.rotate_team_key(t.amara)
    membership.rotate_team_key(t.bea)
    t.bea.add_note(t.case_id, "bea, before amara's key came")
    with RelayClient(t.url, t.amara.identity) as relay:  # the statement; no push
        assert announce_new_epochs(t.amara, relay) == [(epoch, None)]
    send_envelope(t.url, seal_for(t.amara, make_report(what_happened="to A's new key")))
    for _ in range(2):  # the same plain refusal each time; nothing is lost
        with pytest.raises(VaultError, match="its key has not reached this laptop") as e:
            sync(t.bea, t.url)
        assert e.value.exit_code == 1
        assert "the other laptop's key settles it" in str(e.value.hint)
    assert t.bea.db.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
    assert t.bea.db.execute("SELECT count(*) FROM sync_outbox WHERE sent = 0").fetchone() == (0,)
    (later,) = sync(t.amara, t.url).pulled.imported  # her key goes out now
    settled = sync(t.bea, t.url).settled
    assert settled is not None
    assert (settled.epoch, settled.events) == (epoch, 1)
    assert case_view.show_case(t.bea, later).report.what_happened == "to A's new key"
    _everyone_syncs(t)
    _agreed(t, "bea, before amara's key came")


# --- kill -9 while settling ----------------------------------------------------------------

_KILLED_AT = """
import os, signal, sys
from pathlib import Path
from tests.conftest import PASSPHRASE
from vault import epoch_settling
from vault.store import Vault
from vault.sync import sync

point = sys.argv[3]
def kill(*_a, **_k):
    os.kill(os.getpid(), signal.SIGKILL)
if point == "files written":
    original = epoch_settling.write_pending
    def written(*a, **k):
        original(*a, **k)
        kill()
    epoch_settling.write_pending = written
elif point == "database re-keyed":
    original = epoch_settling.dbmod.rekey
    def rekeyed(*a, **k):
        original(*a, **k)
        kill()
    epoch_settling.dbmod.rekey = rekeyed
with Vault.unlock(Path(sys.argv[1]), PASSPHRASE) as bea:
    sync(bea, sys.argv[2])
"""


def _killed_sync(t: Team, point: str) -> None:
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


def test_a_settling_sync_killed_anywhere_is_finished_by_the_next(team: Team) -> None:
    t = team
    epoch = t.amara.access.current.epoch + 1
    own = _apart(t, membership.rotate_team_key, membership.rotate_team_key, "bea, killed twice")
    theirs = t.amara.access.team_key(epoch)

    # Killed with the new access files written, before the database changed: B is as before.
    _killed_sync(t, "files written")
    assert t.bea.access.team_key(epoch).public_key == own.public_key
    assert not list((t.root / "bea" / "caseworkers").glob("*.next-*"))

    # Killed once the change committed and the database was re-keyed, before the access files
    # were put in place: the next unlock finishes it, and B holds A's key.
    _killed_sync(t, "database re-keyed")
    assert t.bea.access.team_key(epoch).public_key == theirs.public_key
    assert not list((t.root / "bea" / "caseworkers").glob("*.next-*"))
    notes = [n.text for n in case_view.show_case(t.bea, t.case_id).notes]
    assert notes.count("bea, killed twice") == 1

    assert sync(t.bea, t.url).settled is None  # settled already: the sync just completes
    _everyone_syncs(t)
    _agreed(t, "bea, killed twice")
    assert check_vault(t.bea) == []


def test_no_settling_once_anything_sealed_to_the_losing_key_was_queued(team: Team) -> None:
    """Settling takes the other laptop's key only when nothing sealed to this laptop's own
    ever left it: an item queued since its rotation (here by calling the sending step
    directly) keeps the old stop, at every sync. (Last in the module: B stays stopped.)"""
    t = team
    membership.rotate_team_key(t.amara)
    membership.rotate_team_key(t.bea)
    own = t.bea.access.current
    incoming.import_envelopes(t.bea, [("r", seal_for(t.bea))])  # sealed to bea's own key
    queue_new(t.bea)  # and queued to go, sealed to it
    sync(t.amara, t.url)
    for _ in range(2):
        with pytest.raises(VaultError) as stopped:
            sync(t.bea, t.url)
        assert stopped.value.exit_code == 1
        assert "cannot sync until that is settled" in str(stopped.value)
    assert t.bea.access.current == own
