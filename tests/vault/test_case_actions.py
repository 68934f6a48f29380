"""The one table of case actions (vault/audit/case_actions.py): what it declares holds everywhere,
and the caseworker's rough edges it fixes, through the real command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, Cli, assert_clean_error, report_data, seal_for
from vault import db as dbmod
from vault import incoming, membership, schema
from vault.audit import leaves
from vault.audit.case_actions import CASE_ACTIONS, EVENT_KINDS
from vault.cases import CaseState
from vault.errors import VaultError
from vault.store import Vault


def test_the_auditors_vocabulary_holds_every_declared_case_action() -> None:
    assert set(CASE_ACTIONS) == set(leaves.CASE_ACTIONS)
    assert set(EVENT_KINDS) < set(CASE_ACTIONS)  # report-resealed is a log entry only
    assert "report-resealed" not in EVENT_KINDS


@pytest.mark.parametrize(
    ("kind", "data", "entry"),
    [
        ("opened", {}, (None, None)),
        ("assigned", {"to": "amara"}, ("K", None)),
        ("assigned", {"to": "nobody"}, ("not-a-caseworker", None)),
        ("status", {"to": "triage"}, ("triage", None)),
        ("closed", {"outcome": "supported"}, ("supported", None)),
        ("attachment", {"n": 2}, ("2", None)),
        ("report-resealed", {"epoch": 3}, ("3", None)),
    ],
)
def test_each_kind_says_in_the_log_only_what_the_table_allows(
    kind: str, data: dict[str, object], entry: tuple[str | None, str | None]
) -> None:
    key_ids = {"amara": "0123456789abcdef"}
    detail, commit = CASE_ACTIONS[kind].entry(data, key_ids.get)
    expected = key_ids["amara"] if entry[0] == "K" else entry[0]
    assert (detail, commit) == (expected, entry[1])
    leaves.check_fields(
        "2026-01-01T00:00:00Z", "0123456789abcdef", kind, "7KQ2M9XD", detail or "-", commit or "-"
    )


def test_the_database_takes_exactly_the_declared_kinds(vault: Vault) -> None:
    stored = {str(k) for (k,) in vault.db.execute("SELECT kind FROM event_kinds")}
    assert stored == set(EVENT_KINDS)
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    row = (
        "0" * 32,
        case_id,
        "renamed",
        vault.identity.key_id,
        b"{}",
        b"\x00" * 64,
    )
    insert = "INSERT INTO events (id, case_id, kind, actor, body, signature) VALUES (?,?,?,?,?,?)"
    with pytest.raises(dbmod.ConstraintError), dbmod.transaction(vault.db) as db:
        db.execute(insert, row)  # a kind nobody declared
    # Declaring a new kind is all it takes for the database to accept it: no migration.
    schema.declare_event_kinds(vault.db, (*EVENT_KINDS, "renamed"))
    with dbmod.transaction(vault.db) as db:
        db.execute(insert, row)
        db.execute("ROLLBACK")
        db.execute("BEGIN")


def test_closing_needs_an_outcome_and_replays_old_closings_without_one() -> None:
    rule = CASE_ACTIONS["closed"]
    state = CaseState("ABCD1234", imported=True)
    # a history written before the rule closed cases without an outcome: it still replays
    assert rule.apply(state, {"outcome": None}).status == "closed"


def _init(cli: Cli) -> str:
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    report = cli.cwd / "r.json"
    report.write_text(json.dumps(report_data()))
    result = cli("submit", "--team-key", "team-key.json", "--out", "r.env", str(report))
    assert result.returncode == 0, result.stderr
    assert cli("import", "r.env").returncode == 0
    return str(json.loads(cli("cases", "list", "--json").stdout)[0]["id"])


def test_status_closed_is_refused_and_points_to_close_with_an_outcome(cli: Cli) -> None:
    case_id = _init(cli)
    result = cli("cases", "status", case_id, "closed")
    assert_clean_error(result, 2)
    assert "outcome" in result.stderr
    assert "vault cases close" in result.stderr
    assert json.loads(cli("cases", "list", "--json").stdout)[0]["status"] == "new"
    result = cli("cases", "close", case_id, "--outcome", "supported")
    assert result.returncode == 0, result.stderr
    shown = json.loads(cli("cases", "list", "--json").stdout)[0]
    assert (shown["status"], shown["outcome"]) == ("closed", "supported")


@pytest.mark.parametrize("name", ["Amara", "nobody", "bea"])
def test_assign_takes_only_a_current_caseworker_by_exact_name(cli: Cli, name: str) -> None:
    case_id = _init(cli)
    if name == "bea":  # a caseworker who was revoked
        with Vault.unlock(cli.cwd / "vault-data", PASSPHRASE) as vault:
            membership.add_caseworker(vault, "bea", PASSPHRASE)
            membership.revoke_caseworker(vault, "bea")
    me = {"VAULT_CASEWORKER": "amara"}
    result = cli("cases", "assign", case_id, name, env=me)
    assert_clean_error(result, 2)
    assert "amara" in result.stderr  # it names the caseworkers there are
    assert ("revoked" in result.stderr) == (name == "bea")
    assert json.loads(cli("cases", "list", "--json", env=me).stdout)[0]["assignee"] is None
    result = cli("cases", "assign", case_id, "amara", env=me)
    assert result.returncode == 0, result.stderr


def test_an_assignment_records_the_caseworkers_key_id(tmp_path: Path) -> None:
    with Vault.create(tmp_path / "v", "amara", PASSPHRASE) as vault:
        case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
        vault.assign(case_id, "amara")
        last = leaves.parse_leaf(list(vault.log.leaves())[-1])
        assert (last.action, last.detail) == ("assigned", vault.identity.key_id)


def test_a_vault_holding_a_kind_this_code_does_not_declare_is_refused_as_newer(
    cli: Cli,
) -> None:
    """A newer Redress declared a kind of case action: this one refuses the vault, as it does a
    newer schema, instead of opening cases it cannot replay."""
    vault_dir = cli.cwd / "vault-data"
    with Vault.create(vault_dir, "amara", PASSPHRASE) as vault:
        schema.declare_event_kinds(vault.db, (*EVENT_KINDS, "erased"))
    with pytest.raises(VaultError, match="newer version of Redress"):
        Vault.unlock(vault_dir, PASSPHRASE)
    result = cli("cases", "list")
    assert_clean_error(result, 1)
    assert "newer version of Redress" in result.stderr
