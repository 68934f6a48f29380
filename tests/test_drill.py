"""The yearly restore drill, scripted through the real command (keys/README.md, "A yearly drill").

init; import reports; add a second caseworker; split recovery 3-of-5; back up; delete the
vault folder and every key file; restore the backup with 3 of the shares; open it with
3 shares as a new caseworker. Every case must be readable and ``vault check`` clean, and
a revoked caseworker refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CANARY, VAULT_BIN, Cli, assert_clean_error, report_data


def _secret_file(cli: Cli, name: str, text: str) -> Path:
    path = cli.cwd / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def _ok(cli: Cli, *args: str, env: dict[str, str] | None = None) -> str:
    result = cli(*args, env=env)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


@pytest.mark.slow
def test_the_restore_drill(cli: Cli) -> None:
    bob_pass = _secret_file(cli, "bob-pass", "bob's own passphrase")
    new_pass = _secret_file(cli, "drill-pass", "the drill caseworker's passphrase")
    as_amara = {"VAULT_CASEWORKER": "amara"}
    as_bob = {"VAULT_CASEWORKER": "bob", "VAULT_PASSPHRASE_FILE": str(bob_pass)}
    as_drill = {"VAULT_CASEWORKER": "drill", "VAULT_PASSPHRASE_FILE": str(new_pass)}

    # init; import reports
    _ok(cli, "init", "--name", "amara")
    _ok(cli, "team-key", "export", "team-key.json")
    texts = [f"{CANARY}-{i} what happened at the surgery" for i in range(4)]
    for i, text in enumerate(texts):
        (cli.cwd / f"r{i}.json").write_text(json.dumps(report_data(what_happened=text)))
        _ok(cli, "submit", "--team-key", "team-key.json", "--out", f"r{i}.env", f"r{i}.json")
    _ok(cli, "import", *[f"r{i}.env" for i in range(4)])

    # add a second caseworker, who works on a case
    _ok(cli, "caseworker", "add", "bob", "--new-passphrase-file", str(bob_pass), env=as_amara)
    cases = json.loads(_ok(cli, "cases", "list", "--json", env=as_bob))
    assert len(cases) == 4
    _ok(cli, "cases", "note", cases[0]["id"], "bob rang the reporter", env=as_bob)

    # split recovery into 3-of-5, kept away from the vault
    holders = ["trustee", "chair", "lead", "dpo", "solicitor"]
    split_args = ["recovery", "split", "--shares", "5", "--threshold", "3", "--out", "shares"]
    for holder in holders:
        split_args += ["--holder", holder]
    _ok(cli, *split_args, env=as_amara)
    shares = sorted((cli.cwd / "shares").iterdir())
    assert len(shares) == 5

    # back up
    _ok(cli, "backup", "vault.backup", env=as_amara)
    kept_bob = {
        f: (cli.cwd / "vault-data" / "caseworkers" / f).read_bytes()
        for f in ("bob.key", "bob.access")
    }

    # delete the vault directory and every key file (and every passphrase)
    shutil.rmtree(cli.cwd / "vault-data")
    for path in (cli.cwd / "passphrase", bob_pass):
        path.unlink()

    # restore the backup with any 3 shares, then open it with 3 shares as a new caseworker
    result = cli(
        "restore", "vault.backup", "--vault", "vault-data",
        "--share", str(shares[1]), "--share", str(shares[3]), "--share", str(shares[4]),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = cli(
        "recovery", "restore", "--name", "drill", "--new-passphrase-file", str(new_pass),
        "--share", str(shares[4]), "--share", str(shares[0]), "--share", str(shares[2]),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    # every case readable, vault check clean
    listed = json.loads(_ok(cli, "cases", "list", "--json", env=as_drill))
    assert sorted(c["id"] for c in listed) == sorted(c["id"] for c in cases)
    seen = set()
    for case in listed:
        shown = json.loads(_ok(cli, "cases", "show", case["id"], "--json", env=as_drill))
        seen.add(shown["report"]["what_happened"])
        if case["id"] == cases[0]["id"]:
            assert [(n["author"], n["text"]) for n in shown["notes"]] == [
                ("bob", "bob rang the reporter")
            ]
    assert seen == set(texts)
    result = cli("check", env=as_drill)
    assert result.returncode == 0, result.stderr
    assert "sound: 4 cases" in result.stderr

    # a revoked caseworker is refused, even with their old key file and passphrase
    _ok(cli, "caseworker", "revoke", "bob", env=as_drill)
    bob_pass = _secret_file(cli, "bob-pass", "bob's own passphrase")
    assert_clean_error(cli("cases", "list", env=as_bob), 2)  # bob's files are gone
    for name, data in kept_bob.items():
        path = cli.cwd / "vault-data" / "caseworkers" / name
        path.write_bytes(data)
        path.chmod(0o600)
    result = cli("cases", "list", env=as_bob)
    assert_clean_error(result, 3)
    result = cli("check", env=as_drill)
    assert result.returncode == 0, result.stderr

    # the access log tells the whole story, and an auditor verifies it with no vault
    _ok(cli, "audit", "export", "drill.bundle", env=as_drill)
    auditor = cli.cwd / "auditor"
    auditor.mkdir()
    verified = subprocess.run(
        [str(VAULT_BIN), "audit", "verify", str(cli.cwd / "drill.bundle"), "--json"],
        cwd=auditor,
        capture_output=True,
        text=True,
        env={"PATH": ""},
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    by_actor = json.loads(verified.stdout)["actions_by_actor"]
    assert by_actor["bob"]["note"] == 1  # a revoked caseworker's past stays attributable
    assert by_actor["amara"]["caseworker-added"] == 2
    for action in ("caseworker-added", "recovery-restored", "caseworker-revoked"):
        assert by_actor["drill"][action] == 1
    assert by_actor["drill"]["team-key-rotated"] == 1
