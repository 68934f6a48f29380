"""Issue 12's "done means": a team of two laptops, with contract commands only.

Every step is a command of the contract (/work/shared/brief/contract.md) run as the installed
`vault` command, each in a process of its own (tests/conftest.py's `Cli` with
``own_process=True``), against a real `vault intake serve` on loopback; nothing is done through
the library. Laptop A is amara's folder, laptop B is bea's, each unlocked with its owner's own
passphrase file (`VAULT_PASSPHRASE_FILE`, as keys/README.md tells scripts): no vault folder,
database key or passphrase file passes between them (each folder only ever gets its own
owner's files). About 40 s on a busy 2-core machine: each command starts Python and derives
its Argon2id key afresh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, assert_clean_error, report_data
from tests.intake_server import IntakeServers

pytestmark = pytest.mark.slow


def _ok(result: Any) -> str:
    """What a command that exited 0 said (its output, and its messages on stderr)."""
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return str(result.stdout) + str(result.stderr)


def test_a_team_of_two_laptops_from_init_to_audit(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    a = ("--vault", str(tmp_path / "laptop-a"))
    b = ("--vault", str(tmp_path / "laptop-b"))
    own = Cli(tmp_path, own_process=True)  # amara's passphrase file: VAULT_PASSPHRASE_FILE
    beas = tmp_path / "bea.passphrase"
    beas.write_text("violet tundra mosaic pickle ferry quartz\n")
    beas.chmod(0o600)

    def cli(*args: str) -> Any:
        """The command on laptop B with bea's passphrase, on A (or no laptop) with amara's."""
        laptop_b = any(arg == b[1] for arg in args)
        return own(*args, env={"VAULT_PASSPHRASE_FILE": str(beas)} if laptop_b else None)

    def shown(laptop: tuple[str, str], case_id: str) -> Any:
        result = cli("cases", "show", case_id, "--json", *laptop)
        _ok(result)
        return json.loads(result.stdout)

    def cases(laptop: tuple[str, str]) -> list[str]:
        result = cli("cases", "list", "--json", *laptop)
        _ok(result)
        return [c["id"] for c in json.loads(result.stdout)]

    # `init` on laptop A; the intake starts with A's team key; `join` on B.
    _ok(cli("init", "--name", "amara", *a))
    _ok(cli("team-key", "export", "team.json", *a))
    url = intake_servers.start(tmp_path / "team.json").url
    joined = _ok(cli("join", "--name", "bea", "--out", "bea.request", *b))
    fingerprint = json.loads((tmp_path / "bea.request").read_text())["fingerprint"]
    assert fingerprint in joined

    # `caseworker add` and `sync` on A (the fingerprint read out by voice); `sync` on B.
    assert fingerprint in _ok(cli("caseworker", "add", "bea", "--request", "bea.request", *a))
    _ok(cli("sync", "--from", url, *a))
    assert "Joined the team" in _ok(cli("sync", "--from", url, *b))
    assert cases(b) == []

    # A report submitted, then synced to both.
    (tmp_path / "report.json").write_text(json.dumps(report_data(what_happened="first report")))
    _ok(cli("submit", "--team-key", "team.json", "--to", url, "report.json"))
    _ok(cli("sync", "--from", url, *a))
    _ok(cli("sync", "--from", url, *b))
    (case_id,) = cases(a)
    assert cases(b) == [case_id]
    assert shown(b, case_id)["report"]["what_happened"] == "first report"

    # A note on A and a status change on B, apart; then syncs on both: both show both.
    _ok(cli("cases", "note", case_id, "rang her back on Tuesday", *a))
    _ok(cli("cases", "status", case_id, "triage", *b))
    for laptop in (a, b, a):
        _ok(cli("sync", "--from", url, *laptop))
    for laptop in (a, b):
        case = shown(laptop, case_id)
        assert [n["text"] for n in case["notes"]] == ["rang her back on Tuesday"]
        assert [n["author"] for n in case["notes"]] == ["amara"]
        assert case["status"] == "triage"
        worked = [(h["actor"], h["action"]) for h in case["history"]]
        assert ("amara", "note") in worked
        assert ("bea", "status") in worked

    # `caseworker revoke` of B on A, then syncs: B's sync is refused, and a report sent after
    # is read on A but cannot be opened on B.
    _ok(cli("caseworker", "revoke", "bea", *a))
    assert "bea was removed" in _ok(cli("sync", "--from", url, *a))
    assert_clean_error(cli("sync", "--from", url, *b), 3)
    (tmp_path / "later.json").write_text(json.dumps(report_data(what_happened="after bea left")))
    # The intake follows the team with no new file (the form seals to epoch 2 at once), but a
    # report sealed with the old team key file is refused, saying how to get the current one.
    stale = cli("submit", "--team-key", "team.json", "--to", url, "later.json")
    assert_clean_error(stale, 1)
    assert "vault team-key export FILE" in stale.stderr
    _ok(cli("team-key", "export", "team-2.json", *a))  # the key reporters now seal to
    _ok(cli("submit", "--team-key", "team-2.json", "--to", url, "later.json"))
    _ok(cli("submit", "--team-key", "team-2.json", "--out", "later.env", "later.json"))
    _ok(cli("sync", "--from", url, *a))
    (later,) = [c for c in cases(a) if c != case_id]
    assert shown(a, later)["report"]["what_happened"] == "after bea left"
    assert cases(b) == [case_id]
    refused = cli("import", "later.env", *b)  # the same report, handed to B directly
    assert refused.returncode != 0, refused.stdout
    assert "Traceback" not in refused.stderr
    assert cases(b) == [case_id]

    # `audit export` on A verifies, and shows both laptops' actions: bea's status change
    # made on B is in B's log, carried to A by the syncs before she was revoked.
    _ok(cli("audit", "export", "team.bundle", *a))
    verified = cli("audit", "verify", "team.bundle", "--json")
    _ok(verified)
    laptops = {laptop["name"]: laptop for laptop in json.loads(verified.stdout)["laptops"]}
    assert sorted(laptops) == ["amara", "bea"]
    assert laptops["bea"]["revoked"]
    assert laptops["amara"]["log"]["actions_by_actor"]["amara"]["note"] == 1
    assert laptops["bea"]["log"]["actions_by_actor"]["bea"]["status"] == 1
    assert "Laptop of bea" in _ok(cli("audit", "verify", "team.bundle"))
