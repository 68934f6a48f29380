"""Auditing a team of laptops: every laptop's access log reaches every other, and one bundle
(``redress-team-audit-bundle/1``) from any laptop names who did what on which laptop.

Two real vault folders, each with its own identity, a real intake on loopback as the relay
and witness, and the real ``vault`` command (the ``Cli`` fixture) for every step. The team is
built once for the module; the tests that change a bundle change copies of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CANARY, PASSPHRASE, Cli, assert_clean_error, make_report, seal_for
from tests.intake_server import IntakeServers
from tests.team_laptops import ScriptedRelay, join
from vault import _crypto, audit_export, auditing, auditlog, membership, sending, team_logs
from vault.audit import bundle
from vault.audit.signed_note import parse_note
from vault.audit.team_verify import verify_team
from vault.auditlog import caseworker_verifier
from vault.check import check_vault
from vault.envelope import seal_report
from vault.errors import IntegrityError
from vault.intake.witness import Witness
from vault.join_request import make_request
from vault.keys import TeamPublicKey
from vault.pull import IntakeClient, PullResult, witness_log
from vault.receiving import receive
from vault.relay_items import FIRST_PREV, RelayMisbehaved, make_item
from vault.store import Vault
from vault.submit import send_envelope
from vault.sync import sync
from vault.sync_result import SyncResult

# One worker runs the whole module, in order: its tests share a team of laptops (a module
# fixture) and each builds on the state the ones before it left (tests/conftest.py IN_ORDER).
pytestmark = pytest.mark.slow

NOTE = "rang her back about the landlord"


@dataclass(frozen=True)
class Team:
    cli: Cli
    amara: Path
    bea: Path
    url: str
    case_id: str
    bundle: bytes  # exported on amara's laptop
    bea_bundle: bytes  # exported on bea's laptop
    early: Any  # amara's export before bea's laptop had synced: the command's result


def _ok(result: Any) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return str(result.stdout)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("team")
    cli = Cli(home)
    a, b = home / "amara-laptop", home / "bea-laptop"
    with IntakeServers(home) as servers:
        _ok(cli("init", "--name", "amara", "--vault", str(a)))
        _ok(cli("team-key", "export", "team.json", "--vault", str(a)))
        url = servers.start(home / "team.json").url
        key = TeamPublicKey.from_file_bytes((home / "team.json").read_bytes())
        send_envelope(url, seal_report(make_report(), key.epoch, key.public_key))
        case_id = _ok(cli("pull", "--from", url, "--vault", str(a))).strip()
        _ok(cli("cases", "note", case_id, NOTE, "--vault", str(a)))

        _ok(cli("join", "--name", "bea", "--out", "bea.request", "--vault", str(b)))
        _ok(cli("caseworker", "add", "bea", "--request", "bea.request", "--vault", str(a)))
        _ok(cli("sync", "--from", url, "--vault", str(a)))
        early = cli("audit", "export", "early.bundle", "--vault", str(a))  # bea not synced yet
        _ok(early)
        _ok(cli("sync", "--from", url, "--vault", str(b)))
        _ok(cli("cases", "show", case_id, "--vault", str(b)))
        _ok(cli("cases", "status", case_id, "triage", "--vault", str(b)))
        for laptop in (b, a, b, a):
            _ok(cli("sync", "--from", url, "--vault", str(laptop)))
        _ok(cli("audit", "export", "team.bundle", "--vault", str(a)))
        for laptop in (a, b):  # amara's export reaches bea's laptop
            _ok(cli("sync", "--from", url, "--vault", str(laptop)))
        _ok(cli("audit", "export", "bea.bundle", "--vault", str(b)))
        yield Team(
            cli,
            a,
            b,
            url,
            case_id,
            (home / "team.bundle").read_bytes(),
            (home / "bea.bundle").read_bytes(),
            early,
        )


def _verify(team: Team, data: bytes, *args: str) -> Any:
    path = team.cli.cwd / f"check-{os.urandom(4).hex()}.bundle"
    path.write_bytes(data)
    return team.cli("audit", "verify", str(path), *args)


def _origins(team: Team) -> tuple[str, str]:
    """Amara's and bea's logs' origins: each bundle holds its exporting laptop's log first
    (read from them, so no test unlocks a vault for it)."""
    return (
        bundle.parse_team(team.bundle).logs[0].origin,
        bundle.parse_team(team.bea_bundle).logs[0].origin,
    )


def test_the_bundle_from_either_laptop_names_both_laptops_actions(team: Team) -> None:
    amara_origin, bea_origin = _origins(team)
    for data, exporter in ((team.bundle, amara_origin), (team.bea_bundle, bea_origin)):
        assert data.startswith(b"redress-team-audit-bundle/1\n")
        shown = json.loads(_ok(_verify(team, data, "--json")))
        assert shown["format"] == "redress-team-audit-bundle/1"
        assert shown["exported_by"] == exporter
        laptops = {lap["name"]: lap for lap in shown["laptops"]}
        assert set(laptops) == {"amara", "bea"}
        assert laptops["amara"]["origin"] == amara_origin
        assert laptops["bea"]["origin"] == bea_origin
        on_a = laptops["amara"]["log"]["actions_by_actor"]
        on_b = laptops["bea"]["log"]["actions_by_actor"]
        assert (on_a["amara"]["note"], on_a["amara"]["imported"]) == (1, 1)
        assert on_b["bea"]["status"] == 1
        assert on_b["bea"]["opened"] >= 1
        assert "note" not in on_b.get("amara", {})  # bea's log holds what happened on bea's
        for lap in laptops.values():  # each was witnessed at its sync, just now
            assert lap["log"]["witnessed"]["size"] is not None
            assert lap["stale"] is False

    text = _ok(_verify(team, team.bundle))
    assert f"Laptop of amara (log {amara_origin})" in text
    assert f"Laptop of bea (log {bea_origin})" in text
    assert "status 1" in text.split("Laptop of bea")[1]


def test_the_bundle_holds_no_case_text_and_needs_no_key(team: Team) -> None:
    for text in (CANARY.encode(), NOTE.encode()):
        assert text not in team.bundle
    assert verify_team(team.bundle).members == ("amara", "bea")  # no vault, no passphrase


def test_each_laptop_checks_clean_with_its_colleagues_log(team: Team) -> None:
    for laptop in (team.amara, team.bea):
        with Vault.unlock(laptop, PASSPHRASE) as vault:
            assert check_vault(vault) == []
            assert team_logs.missing_logs(vault) == []


def test_a_trusted_checkpoint_applies_to_its_own_laptops_log(team: Team) -> None:
    amara_origin, _ = _origins(team)
    saved = team.cli.cwd / f"trusted-{os.urandom(4).hex()}"
    _ok(_verify(team, team.bundle, "--save-checkpoint", str(saved)))  # amara's, at her export
    shown = json.loads(_ok(_verify(team, team.bea_bundle, "--trusted", str(saved), "--json")))
    assert shown["trusted"]["origin"] == amara_origin
    assert shown["trusted"]["size"] > 0
    # Bea's newest checkpoint is newer than the copy of her log amara's bundle holds.
    newer = team.cli.cwd / f"trusted-{os.urandom(4).hex()}"
    _ok(_verify(team, team.bea_bundle, "--save-checkpoint", str(newer)))
    refused = _verify(team, team.bundle, "--trusted", str(newer))
    assert_clean_error(refused, 4)
    assert "In the log of bea's laptop" in refused.stderr
    assert "cut short" in refused.stderr


def _parts(team: Team) -> bundle.TeamBundle:
    return bundle.parse_team(team.bundle)


def test_a_member_whose_log_has_not_arrived_is_named_at_export_and_verify(team: Team) -> None:
    assert "bea's laptop has not reached this laptop yet" in team.early.stderr
    result = team.cli("audit", "verify", "early.bundle")
    assert_clean_error(result, 4)
    assert "no log of bea's laptop" in result.stderr


def test_a_withheld_laptop_is_named(team: Team) -> None:
    parts = _parts(team)
    _, bea_origin = _origins(team)
    parts.logs = [log for log in parts.logs if log.origin != bea_origin]
    result = _verify(team, bundle.encode_team(parts))
    assert_clean_error(result, 4)
    assert f"no log of bea's laptop ({bea_origin})" in result.stderr
    assert "withheld" in result.stderr


def test_a_laptop_not_witnessed_for_a_week_before_the_export_is_marked_stopped(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of amara's laptop exports 8 days after both laptops last synced (its clock
    moved on, nothing else): each laptop's newest witness cosignature is more than 7 days
    older than the export, so each is marked "Stopped syncing?" (docs/audit.md)."""
    copy = tmp_path / "amara-later"
    shutil.copytree(team.amara, copy)
    later = datetime.now(UTC) + timedelta(days=8)
    monkeypatch.setattr(auditlog, "now_to_the_second", lambda: later.strftime("%Y-%m-%dT%H:%M:%SZ"))
    out = tmp_path / "later.bundle"
    _ok(team.cli("audit", "export", str(out), "--vault", str(copy)))
    monkeypatch.undo()
    shown = json.loads(_ok(team.cli("audit", "verify", str(out), "--json")))
    assert {lap["name"]: lap["stale"] for lap in shown["laptops"]} == {"amara": True, "bea": True}
    text = _ok(team.cli("audit", "verify", str(out)))
    assert text.count("Stopped syncing?") == 2
    # The bundle exported when both had just synced marks neither (test above).


def test_a_changed_entry_in_a_colleagues_log_is_named(team: Team) -> None:
    parts = _parts(team)
    _, bea_origin = _origins(team)
    (bea_log,) = [log for log in parts.logs if log.origin == bea_origin]
    i = next(i for i, leaf in enumerate(bea_log.leaves) if b" status " in leaf)
    bea_log.leaves[i] = bea_log.leaves[i].replace(b" triage ", b" referred ")
    result = _verify(team, bundle.encode_team(parts))
    assert_clean_error(result, 4)
    assert f"In the log of bea's laptop ({bea_origin})" in result.stderr
    assert "do not match checkpoint" in result.stderr or "does not match" in result.stderr


def test_a_colleagues_log_cut_short_against_a_witnessed_checkpoint_is_caught(team: Team) -> None:
    parts = _parts(team)
    _, bea_origin = _origins(team)
    (bea_log,) = [log for log in parts.logs if log.origin == bea_origin]
    witnessed = [n for n in bea_log.checkpoints if len(parse_note(n).signatures) > 1]
    assert witnessed, "bea's log reached amara with its witness cosignatures"
    # Cut bea's log back cleanly to its first checkpoint: consistent in itself...
    first = int(parse_note(bea_log.checkpoints[0]).text.split("\n")[1])
    cut = replace(
        bea_log,
        leaves=bea_log.leaves[:first],
        checkpoints=bea_log.checkpoints[:1],
        proofs=[],
        reads=[r for r in bea_log.reads if r[0] <= first],
        people=[p for p in bea_log.people if p.role != "witness"],  # added later in the log
    )
    parts.logs = [cut if log is bea_log else log for log in parts.logs]
    _ok(_verify(team, bundle.encode_team(parts)))
    # ...but not against a witnessed checkpoint of it that a colleague passed on.
    parts.witnessed = [witnessed[-1]]
    result = _verify(team, bundle.encode_team(parts))
    assert_clean_error(result, 4)
    assert f"The log of bea's laptop ({bea_origin}) has been cut short" in result.stderr


def test_a_colleagues_log_arriving_changed_stops_sync(team: Team, tmp_path: Path) -> None:
    """On receipt: an entry of a colleague's log that does not match what its checkpoint
    signs is refused (in the item's transaction, so nothing of it is kept)."""
    with Vault.unlock(team.amara, PASSPHRASE) as amara:
        _, bea_origin = _origins(team)
        log = team_logs._held_log(amara.db, bea_origin)
        doc = {
            "t": "log",
            "log": bea_origin,
            "from": 0,
            "leaves": [leaf.decode() for leaf in log.contents.leaves],
            "checkpoints": [team_logs._without_cosignatures(n) for n in log.contents.checkpoints],
            "reads": [],
            "cosignatures": [],
            "people": log.people_lines,
            "heads": [],
        }
        bad = dict(doc, leaves=[*doc["leaves"][:-1], doc["leaves"][-1] + "x"])

        class _Item:
            n, origin, to = 9, bea_origin, "team"

        with pytest.raises(IntegrityError, match="another entry"), amara.transaction() as db:
            team_logs.take(amara, db, _Item(), bad)  # type: ignore[arg-type]
        gap = dict(doc, **{"from": len(log.contents.leaves) + 1})
        with pytest.raises(IntegrityError, match="Entries were dropped"), amara.transaction() as db:
            team_logs.take(amara, db, _Item(), gap)  # type: ignore[arg-type]


# --- a relay that drops or reorders log items (no intake: a stand-in hands out items) -----


class _Relay:
    """Hands out exactly the items it is given, as the relay's fetch would."""

    def __init__(self, items: list[bytes]) -> None:
        self.items = list(enumerate(items, 1))

    def fetch(self, limit: int = 200) -> tuple[list[tuple[int, bytes]], bool]:
        return self.items[:limit], False

    def acknowledge(self, upto: int) -> None:
        self.items = [(s, w) for s, w in self.items if s > upto]


class _Collect:
    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []

    def add(self, doc: dict[str, Any]) -> None:
        self.docs.append(doc)


@pytest.fixture(scope="module")
def two_new_vaults(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Amara's new vault and bea's (each `Vault.create`, then closed), made once for the
    module: :func:`_two_new_vaults` copies them into a test."""
    home = tmp_path_factory.mktemp("two-new-vaults")
    Vault.create(home / "a", "amara", PASSPHRASE).close()
    Vault.create(home / "b", "bea", PASSPHRASE).close()
    return home


@contextlib.contextmanager
def _two_new_vaults(made: Path, tmp_path: Path) -> Iterator[tuple[Vault, Vault]]:
    """Copies of :func:`two_new_vaults` in ``tmp_path`` (``a`` and ``b``), unlocked."""
    for part in ("a", "b"):
        shutil.copytree(made / part, tmp_path / part, symlinks=True)
    with (
        Vault.unlock(tmp_path / "a", PASSPHRASE, "amara") as amara,
        Vault.unlock(tmp_path / "b", PASSPHRASE, "bea") as bea,
    ):
        yield amara, bea


@pytest.fixture
def colleague_log_items(two_new_vaults: Path, tmp_path: Path) -> Any:
    """Amara's vault, which knows bea's laptop, and three log items from bea's real log
    (each sent after a transaction there), sealed to the team and chained as sync makes them."""
    with _two_new_vaults(two_new_vaults, tmp_path) as (amara, bea):
        membership.add_from_request(amara, "bea", make_request(bea.identity, bea.log.origin))
        collect = _Collect()
        for _ in range(3):
            with bea.transaction() as db:
                bea.log_action(db, "passphrase-changed", bea.identity.key_id)
            with bea.transaction() as db:
                team_logs.queue_own(bea, db, collect)
        team = amara.access.current
        items, prev = [], FIRST_PREV
        for n, doc in enumerate(collect.docs, 1):
            sealed = _crypto.seal(json.dumps(doc).encode(), team.public_key)
            item = make_item(bea.identity, bea.log.origin, n, prev, "team", team.epoch, sealed)
            items.append(item)
            prev = item.hash
        yield amara, bea.log.origin, items


def test_a_colleagues_log_items_in_order_are_kept_and_check_clean(colleague_log_items: Any) -> None:
    amara, origin, items = colleague_log_items
    receive(amara, _Relay([i.to_wire() for i in items]), SyncResult(PullResult()))  # type: ignore[arg-type]
    held = amara.db.execute(
        "SELECT count(*) FROM team_log_leaves WHERE origin = ?", (origin,)
    ).fetchone()[0]
    assert held == len(items) + 2  # bea's vault-created and caseworker-added, then one each
    assert team_logs.check_held(amara) == []


@pytest.mark.parametrize(
    ("misdeed", "words"), [("drop", "dropped item 2"), ("reorder", "out of order")]
)
def test_a_relay_that_drops_or_reorders_log_items_is_named(
    colleague_log_items: Any, misdeed: str, words: str
) -> None:
    amara, origin, (one, two, three) = colleague_log_items
    sent = [one, three] if misdeed == "drop" else [one, three, two]
    with pytest.raises(RelayMisbehaved, match=words) as caught:
        receive(amara, _Relay([i.to_wire() for i in sent]), SyncResult(PullResult()))  # type: ignore[arg-type]
    assert origin in str(caught.value)
    held = amara.db.execute("SELECT count(*) FROM team_log_leaves WHERE origin = ?", (origin,))
    # what comes before the gap is kept, nothing after it; sent in the wrong order, all is
    # kept, in the right one, and the relay named all the same (docs/sync.md section 5)
    assert held.fetchone()[0] == (3 if misdeed == "drop" else 5)
    assert team_logs.check_held(amara) == []


@pytest.mark.parametrize("head_first", [False, True])
def test_a_removed_laptops_later_log_items_give_only_witnessed_entries(
    two_new_vaults: Path, tmp_path: Path, head_first: bool
) -> None:
    """Bea's chain closed on amara's laptop, then bea's log items come: entries are taken up
    to the newest checkpoint the witness cosigned, or, when the items carry no cosignature,
    up to a head of bea's log a colleague passed on before them; entries after it are not
    (a real witness key, no intake)."""
    witness = Witness.load_or_create(tmp_path)
    with _two_new_vaults(two_new_vaults, tmp_path) as (amara, bea):
        membership.add_from_request(amara, "bea", make_request(bea.identity, bea.log.origin))
        for laptop in (amara, bea):
            auditing.add_witness(laptop, witness.key, "https://intake.example")
        collect, cosigned = _Collect(), 0
        for n in range(3):
            with bea.transaction() as db:
                bea.log_action(db, "passphrase-changed", bea.identity.key_id)
            head = bea.log.head()
            assert head is not None
            if n < 2:  # the third is never witnessed (bea was removed by then)
                line = witness.signer.cosign_line(parse_note(head.note).text, 1_700_000_000)
                assert auditing.record_cosignature(bea, witness.key, head.size, line) == 1
                cosigned, witnessed_note = head.size, head.note + line
            if n > 0:  # two items: the first ends at the second witnessed checkpoint
                with bea.transaction() as db:
                    team_logs.queue_own(bea, db, collect)
        team, items, prev = amara.access.current, [], FIRST_PREV
        # a people line bea's log never added (amara, a caseworker of the team): not kept,
        # as it would make every bundle holding bea's log fail
        key = caseworker_verifier(bea.log.origin, amara.identity.public.sign_pk)
        stray = f"caseworker amara {key.to_vkey()}"
        for n, doc in enumerate(collect.docs, 1):
            doc["people"].append(stray)
            if head_first:
                doc["cosignatures"] = []  # only the colleague's head vouches for them
            sealed = _crypto.seal(json.dumps(doc).encode(), team.public_key)
            item = make_item(bea.identity, bea.log.origin, n, prev, "team", team.epoch, sealed)
            items.append(item.to_wire())
            prev = item.hash
        with amara.transaction() as db:
            membership.close_chains(db, bea.identity.key_id, amara.identity.key_id)
            if head_first:  # a current colleague's item passed it on before bea's came
                team_logs._take_head(amara, db, witnessed_note, "a colleague's item")
        result = SyncResult(PullResult())
        receive(amara, ScriptedRelay(items), result)  # type: ignore[arg-type]
        assert _held(amara, bea.log.origin) == cosigned < bea.log.size()
        assert result.ignored == 1  # the third item: nothing in it was witnessed
        assert team_logs.check_held(amara) == []
        people = "SELECT line FROM team_log_people WHERE origin = ?"
        assert stray not in {r[0] for r in amara.db.execute(people, (bea.log.origin,))}


# --- three laptops: a new member gets every log; a removed laptop's last entries -----------


@dataclass(frozen=True)
class Three:
    root: Path
    url: str
    amara: Vault
    bea: Vault
    carol: Vault
    case_id: str
    held_by_late_joiner: set[str]  # whose logs carol's welcome brought
    carol_sync: SyncResult  # carol's first sync after bea's removal


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Amara, bea and carol; carol joins late. Bea acts and syncs, amara takes it, carol does
    not sync; amara removes bea (a stolen laptop) and syncs; then carol syncs: amara's
    ``epoch`` item (closing bea's chains) is taken before bea's items that carol had not yet
    taken, and amara's log items pass on the witnessed head of bea's whole log."""
    root = tmp_path_factory.mktemp("three")
    with IntakeServers(root) as servers, Vault.create(root / "a", "amara", PASSPHRASE) as amara:
        url = servers.start(amara.team_key_export()).url
        send_envelope(url, seal_for(amara))
        (case_id,) = sync(amara, url).pulled.imported
        bea = join(root / "b", "bea", amara, url)
        bea.set_status(case_id, "triage")
        sync(bea, url)
        sync(amara, url)  # bea's log, witnessed, reaches amara
        carol = join(root / "c", "carol", amara, url)  # amara's copy of bea's log
        held = {str(o) for (o,) in carol.db.execute("SELECT origin FROM team_log_leaves")}
        carol.assign(case_id, "carol")
        bea.add_note(case_id, NOTE)  # bea's last entries, witnessed at her sync
        sync(bea, url)
        sync(amara, url)  # amara takes them; carol has not synced since
        membership.revoke_caseworker(amara, "bea")
        sync(amara, url)
        carol_sync = sync(carol, url)
        try:
            yield Three(root, url, amara, bea, carol, case_id, held, carol_sync)
        finally:
            carol.close()
            bea.close()


def _held(laptop: Vault, origin: str) -> int:
    return int(
        laptop.db.execute(
            "SELECT count(*) FROM team_log_leaves WHERE origin = ?", (origin,)
        ).fetchone()[0]
    )


def test_a_late_joiner_gets_every_log(three: Three) -> None:
    assert three.held_by_late_joiner == {three.amara.log.origin, three.bea.log.origin}
    shown = verify_team(audit_export.encode(three.carol, three.carol.db))
    named = {lap.name: lap for lap in shown.laptops}
    assert set(named) == {"amara", "bea", "carol"}
    assert named["carol"].log is not None
    assert named["carol"].log.by_actor["carol"]["assigned"] == 1


def test_after_a_removal_every_current_laptops_bundle_verifies_with_the_whole_witnessed_log(
    three: Three,
) -> None:
    """The false alarm of docs/sync.md (was section 8): carol took bea's last items after
    closing bea's chain, so her bundle held bea's log short of amara's head of it."""
    bea_origin = three.bea.log.origin
    on_amara = _held(three.amara, bea_origin)
    assert _held(three.carol, bea_origin) == on_amara  # all of it was witnessed
    head = three.carol.db.execute(
        "SELECT size FROM team_log_heads WHERE origin = ?", (bea_origin,)
    ).fetchone()
    assert head is not None
    assert int(head[0]) == on_amara  # amara passed on bea's whole log
    for laptop in (three.amara, three.carol):
        shown = verify_team(audit_export.encode(laptop, laptop.db))
        named = {lap.name: lap for lap in shown.laptops}
        assert shown.members == ("amara", "carol")
        assert named["bea"].revoked
        assert named["bea"].log is not None
        assert named["bea"].log.entries == on_amara
        assert named["bea"].log.by_actor["bea"]["note"] == 1  # her last action, on carol's too
        assert named["bea"].witnessed_elsewhere is None
        assert check_vault(laptop) == []
        assert team_logs.short_removed_logs(laptop) == []
    # Nothing else bea's laptop sent after carol closed its chain was taken: her note's event.
    notes = "SELECT count(*) FROM events WHERE kind = 'note' AND actor = ?"
    bea_id = three.bea.identity.key_id
    assert three.amara.db.execute(notes, (bea_id,)).fetchone()[0] == 1
    assert three.carol.db.execute(notes, (bea_id,)).fetchone()[0] == 0


def test_the_exported_bundle_verifies_through_the_cli(three: Three) -> None:
    """On carol's laptop (amara's bundle is checked above, in process)."""
    cli = Cli(three.root)
    out = three.root / "removed-c.bundle"
    exported = cli("audit", "export", str(out), "--vault", str(three.root / "c"))
    assert exported.returncode == 0, exported.stderr
    assert "held here only" not in exported.stderr
    shown = cli("audit", "verify", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    laptops = {lap["name"]: lap for lap in json.loads(shown.stdout)["laptops"]}
    assert laptops["bea"]["revoked"] is True
    assert laptops["bea"]["witnessed_elsewhere"] is None
    assert laptops["bea"]["log"]["entries"] == _held(three.amara, three.bea.log.origin)


def test_what_a_removed_laptop_sends_after_its_removal_is_not_taken(three: Three) -> None:
    """Bea's stolen laptop acts after her removal; the intake no longer witnesses its log,
    and a relay colluding with it hands carol what it made: carol takes none of it."""
    bea, carol, origin = three.bea, three.carol, three.bea.log.origin
    before = _held(carol, origin)
    bea.add_note(three.case_id, "written after her removal")
    with IntakeClient(three.url, bea.identity) as intake:
        witnessed, problem = witness_log(bea, intake)
    assert witnessed is None  # the witness refuses a removed laptop's log
    assert problem is not None
    with bea.transaction() as db:
        team_logs.queue_own(bea, db, sending.team_chain(bea, db))
        wires = [
            bytes(w)
            for (w,) in db.execute(
                "SELECT wire FROM sync_outbox WHERE recipient = 'team' AND sent = 0 ORDER BY n"
            )
        ]
    assert wires, "bea's laptop made a log item of its new entries"
    result = SyncResult(PullResult())
    receive(carol, ScriptedRelay(wires), result)  # type: ignore[arg-type]
    assert _held(carol, origin) == before
    assert result.ignored == len(wires)
    verify_team(audit_export.encode(carol, carol.db))  # still sound


def test_a_removed_laptops_log_held_short_is_said_plainly_a_current_ones_is_cut_short(
    three: Three,
) -> None:
    """A relay that dropped bea's last items for carol for good: carol's bundle holds bea's
    log to entry k, amara's head of it says m; verify names that for a removed laptop, and
    still refuses a current laptop's log cut short against a witnessed checkpoint."""
    parts = bundle.parse_team(audit_export.encode(three.carol, three.carol.db))
    by_origin = {log.origin: log for log in parts.logs}
    amara_origin, bea_origin = three.amara.log.origin, three.bea.log.origin
    for origin, name in ((bea_origin, "bea"), (amara_origin, "amara")):
        log = by_origin[origin]
        witnessed = [n for n in log.checkpoints if len(parse_note(n).signatures) > 1]
        # cut back cleanly to the witnessed checkpoint before the newest: sound in itself
        first = int(parse_note(witnessed[-2]).text.split("\n")[1])
        cut = replace(
            log,
            leaves=log.leaves[:first],
            checkpoints=[witnessed[-2]],
            proofs=[],
            reads=[r for r in log.reads if r[0] <= first],
            # carol's laptop joined in the part of bea's log that is cut
            people=[p for p in log.people if (name, p.name) != ("bea", "carol")],
        )
        changed = replace(
            parts,
            logs=[cut if x is log else x for x in parts.logs],
            witnessed=[*(w for w in parts.witnessed if origin not in w), witnessed[-1]],
        )
        data = bundle.encode_team(changed)
        size = int(parse_note(witnessed[-1]).text.split("\n")[1])
        if name == "bea":
            shown = {lap.name: lap for lap in verify_team(data).laptops}
            assert shown["bea"].witnessed_elsewhere == size
            assert shown["bea"].log is not None
            assert shown["bea"].log.entries == first
            cli = Cli(three.root)
            path = three.root / "short.bundle"
            path.write_bytes(data)
            text = cli("audit", "verify", str(path))
            assert text.returncode == 0, text.stderr
            assert f"Held here only to entry {first}" in text.stdout
            assert f"held this removed member's log to entry {size}" in text.stdout
        else:
            with pytest.raises(bundle.BundleError, match=r"amara's laptop .* has been cut short"):
                verify_team(data)


def test_export_names_a_removed_laptops_log_held_short(three: Three) -> None:
    carol, origin = three.carol, three.bea.log.origin
    held = _held(carol, origin)

    class _Undo(Exception):
        pass

    short = []
    with contextlib.suppress(_Undo), carol.transaction() as db:  # as if they never came
        db.execute("DELETE FROM team_log_leaves WHERE origin = ? AND seq >= ?", (origin, 2))
        short = team_logs.short_removed_logs(carol)
        raise _Undo
    assert short == [("bea", 2, held)]
    assert team_logs.short_removed_logs(carol) == []
