"""Auditing a team of laptops: every laptop's access log reaches every other, and one bundle
(``redress-audit-bundle/3``) from any laptop names who did what on which laptop.

Two real vault folders, each with its own identity, a real intake on loopback as the relay
and witness, and the real ``vault`` command (the ``Cli`` fixture) for every step. The team is
built once for the module; the tests that change a bundle change copies of it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CANARY, PASSPHRASE, Cli, assert_clean_error, make_report
from tests.intake_server import IntakeServers
from vault import team_logs
from vault.audit import bundle
from vault.audit.signed_note import parse_note
from vault.audit.team_verify import verify_team
from vault.envelope import seal_report
from vault.errors import IntegrityError
from vault.keys import TeamPublicKey
from vault.store import Vault
from vault.submit import send_envelope

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
        _ok(cli("sync", "--from", url, "--vault", str(b)))
        _ok(cli("cases", "show", case_id, "--vault", str(b)))
        _ok(cli("cases", "status", case_id, "triage", "--vault", str(b)))
        for laptop in (b, a, b, a):
            _ok(cli("sync", "--from", url, "--vault", str(laptop)))
        _ok(cli("audit", "export", "team.bundle", "--vault", str(a)))
        _ok(cli("audit", "export", "bea.bundle", "--vault", str(b)))
        yield Team(
            cli,
            a,
            b,
            url,
            case_id,
            (home / "team.bundle").read_bytes(),
            (home / "bea.bundle").read_bytes(),
        )


def _verify(team: Team, data: bytes, *args: str) -> Any:
    path = team.cli.cwd / f"check-{os.urandom(4).hex()}.bundle"
    path.write_bytes(data)
    return team.cli("audit", "verify", str(path), *args)


def _origins(team: Team) -> tuple[str, str]:
    with (
        Vault.unlock(team.amara, PASSPHRASE) as a,
        Vault.unlock(team.bea, PASSPHRASE) as b,
    ):
        return a.log.origin, b.log.origin


def test_the_bundle_from_either_laptop_names_both_laptops_actions(team: Team) -> None:
    amara_origin, bea_origin = _origins(team)
    for data, exporter in ((team.bundle, amara_origin), (team.bea_bundle, bea_origin)):
        assert data.startswith(b"redress-audit-bundle/3\n")
        shown = json.loads(_ok(_verify(team, data, "--json")))
        assert shown["format"] == "redress-audit-bundle/3"
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


def _parts(team: Team) -> bundle.TeamBundle:
    return bundle.parse_team(team.bundle)


def test_a_withheld_laptop_is_named(team: Team) -> None:
    parts = _parts(team)
    _, bea_origin = _origins(team)
    parts.logs = [log for log in parts.logs if log.origin != bea_origin]
    result = _verify(team, bundle.encode_team(parts))
    assert_clean_error(result, 4)
    assert f"no log of bea's laptop ({bea_origin})" in result.stderr
    assert "withheld" in result.stderr


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
