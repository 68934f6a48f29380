"""`vault cases erase` and `vault retention [set|apply]` through the real CLI on real vault
folders: the issue's "Done means" erase path, bad input, and an erase killed at random moments."""

from __future__ import annotations

import base64
import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.reports import vault_with_reports
from tests.conftest import (
    CANARY,
    PASSPHRASE,
    Cli,
    assert_clean_error,
    every_derivation,
    report_data,
    seal_for,
)
from tests.intake_server import VAULT_BIN
from tests.sealing import codename_entropy, new_codename, reply_keypair
from vault import events, incoming
from vault.store import Vault


def _vault_with_case(cli: Cli, tmp_path: Path, **report: object) -> str:
    return vault_with_reports(cli, [report_data(**report)])[0]


def _search(cli: Cli, word: str) -> list[dict[str, object]]:
    result = cli("cases", "search", word, "--json")
    assert result.returncode == 0, result.stderr
    found: list[dict[str, object]] = json.loads(result.stdout)
    return found


@pytest.mark.slow
def test_done_means_an_erased_case_shows_as_erased_is_not_found_and_the_log_verifies(
    cli: Cli, tmp_path: Path
) -> None:
    pk, _ = reply_keypair(codename_entropy(new_codename()))
    case = _vault_with_case(
        cli,
        tmp_path,
        contact={"method": "phone", "value": f"ask for {CANARY}"},
        consent={"alert": True, "research": False},
        reply_key=base64.b64encode(pk).decode(),
    )
    assert cli("cases", "note", case, f"called back, {CANARY}").returncode == 0
    assert cli("cases", "reply", case, "We have your report.").returncode == 0
    assert [c["id"] for c in _search(cli, "landlord")] == [case]

    erased = cli("cases", "erase", case, "--reason", "withdrawn")
    assert erased.returncode == 0, erased.stderr
    assert "Erased case" in erased.stderr

    shown = cli("cases", "show", case)
    assert shown.returncode == 0, shown.stderr
    assert "erased" in shown.stdout
    assert CANARY not in shown.stdout + shown.stderr
    as_json = json.loads(cli("cases", "show", case, "--json").stdout)
    assert (as_json["id"], as_json["status"], as_json["reason"]) == (case, "erased", "withdrawn")
    assert as_json["report"] is None
    assert _search(cli, "landlord") == []
    assert _search(cli, CANARY) == []
    assert json.loads(cli("cases", "list", "--json").stdout) == []  # erased cases are not listed

    assert cli("audit", "export", "bundle").returncode == 0
    verified = cli("audit", "verify", "bundle", "--json")
    assert verified.returncode == 0, verified.stderr
    assert cli("check").returncode == 0

    again = cli("cases", "erase", case, "--reason", "withdrawn")
    assert_clean_error(again, 1)
    assert "already erased" in again.stderr
    assert_clean_error(cli("cases", "note", case, "too late"), 1)
    assert cli("import", "e.env").stdout == ""  # the same envelope is not stored again
    assert json.loads(cli("cases", "list", "--json").stdout) == []


@pytest.mark.slow
def test_bad_input_is_refused_before_anything_changes(cli: Cli, tmp_path: Path) -> None:
    case = _vault_with_case(cli, tmp_path)
    for args in (
        ("cases", "erase", case),
        ("cases", "erase", case, "--reason", "jane@example.org"),
        ("cases", "erase", case, "--reason", ""),
        ("cases", "erase", "not-an-id!", "--reason", "mistake"),
        ("retention", "set"),
        ("retention", "set", "--erase-closed-after", "0"),
        ("retention", "set", "--flag-untouched-after", "soon"),
    ):
        assert_clean_error(cli(*args), 2)
    assert_clean_error(cli("cases", "erase", "ZZZZ-ZZZZ", "--reason", "mistake"), 1)
    assert [c["id"] for c in json.loads(cli("cases", "list", "--json").stdout)] == [case]


@pytest.mark.slow
def test_retention_set_show_and_apply(cli: Cli, tmp_path: Path) -> None:
    """A case closed long ago (its closing event dated 2020, written in-process with the clock
    turned back) is due under a 6-month policy; `retention apply` erases it and only it."""
    assert cli("init", "--name", "amara").returncode == 0
    vault_dir = cli.cwd / "vault-data"
    with Vault.unlock(vault_dir, PASSPHRASE) as vault:
        old, recent = incoming.import_envelopes(
            vault, [("a", seal_for(vault)), ("b", seal_for(vault))]
        ).imported
        real_now = events.now_to_the_second
        events.now_to_the_second = lambda: "2020-01-10T10:00:00Z"
        try:
            vault.close_case(old, "no-further-action")
        finally:
            events.now_to_the_second = real_now
        vault.close_case(recent, "supported")

    shown = cli("retention", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {
        "policy": None,
        "due": [],
        "flagged": [],
        "erased": 0,
        "erased_cases": [],
    }
    assert "No retention policy" in cli("retention").stdout

    set_ = cli("retention", "set", "--erase-closed-after", "6", "--flag-untouched-after", "never")
    assert set_.returncode == 0, set_.stderr
    review = json.loads(cli("retention", "--json").stdout)
    assert review["policy"]["erase_closed_after_months"] == 6
    assert review["policy"]["flag_untouched_after_months"] is None
    assert review["policy"]["set_by"] == "amara"
    old_id = f"{old[:4]}-{old[4:]}"
    assert [(d["id"], d["closed"], d["due"]) for d in review["due"]] == [
        (old_id, "2020-01-10", "2020-07-10")
    ]
    assert "Due for erasure" in cli("retention").stdout

    applied = cli("retention", "apply", "--json")
    assert applied.returncode == 0, applied.stderr
    assert [(t["id"], t["reason"]) for t in json.loads(applied.stdout)] == [(old_id, "retention")]
    assert "erased" in cli("cases", "show", old_id).stdout
    listed = [c["id"] for c in json.loads(cli("cases", "list", "--json").stdout)]
    assert listed == [f"{recent[:4]}-{recent[4:]}"]
    after = json.loads(cli("retention", "--json").stdout)
    assert after["erased"] == 1
    assert [(t["id"], t["closed"], t["reason"]) for t in after["erased_cases"]] == [
        (old_id, "2020-01-10", "retention")
    ]
    assert "No case is due" in cli("retention", "apply").stderr
    assert cli("audit", "export", "bundle").returncode == 0
    assert cli("audit", "verify", "bundle").returncode == 0


@pytest.mark.slow
def test_an_erase_killed_at_random_moments_leaves_each_case_whole_or_erased(
    cli: Cli, tmp_path: Path
) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    vault_dir = cli.cwd / "vault-data"
    with Vault.unlock(vault_dir, PASSPHRASE) as vault:
        ids = incoming.import_envelopes(
            vault, [(str(n), seal_for(vault)) for n in range(8)]
        ).imported
        for case_id in ids:
            vault.add_note(case_id, f"note on {case_id}")
    with every_derivation():  # as the killed runs, each its own process, unlock
        start = time.monotonic()
        assert cli("cases", "erase", ids[0], "--reason", "mistake").returncode == 0
        took = time.monotonic() - start
    rng = random.Random(14)
    env = {"PATH": "", "HOME": str(cli.cwd), "VAULT_PASSPHRASE_FILE": str(cli.passphrase_file)}
    outcomes = set()
    for case_id in ids[1:]:
        proc = subprocess.Popen(
            [str(VAULT_BIN), "cases", "erase", case_id, "--reason", "mistake"],
            cwd=cli.cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=rng.uniform(took * 0.5, took * 1.05))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        shown = cli("cases", "show", case_id, "--json")
        assert shown.returncode == 0, shown.stderr
        view = json.loads(shown.stdout)
        if view["status"] == "erased":
            outcomes.add("erased")
        else:
            outcomes.add("whole")
            assert [n["text"] for n in view["notes"]] == [f"note on {case_id}"]
    checked = cli("check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert cli("audit", "export", "bundle").returncode == 0
    assert cli("audit", "verify", "bundle").returncode == 0
    assert outcomes  # (which ones happened depends on the machine's speed)


def test_the_new_commands_have_help(cli: Cli) -> None:
    for args in (("cases", "erase"), ("retention",), ("retention", "set"), ("retention", "apply")):
        result = cli(*args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout
