"""The real `vault` command, run as a subprocess, along the contract's paths."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import CANARY, Cli, assert_clean_error, bytes_under, report_data, snapshot


def _init(cli: Cli) -> None:
    result = cli("init", "--name", "amara")
    assert result.returncode == 0, result.stderr
    result = cli("team-key", "export", "team-key.json")
    assert result.returncode == 0, result.stderr


def _submit(cli: Cli, name: str, **fields: object) -> Path:
    report = cli.cwd / f"{name}.json"
    report.write_text(json.dumps(report_data(**fields)))
    result = cli("submit", "--team-key", "team-key.json", "--out", f"{name}.env", str(report))
    assert result.returncode == 0, result.stderr
    report.unlink()  # the reporter's plaintext is gone; only the envelope remains
    return cli.cwd / f"{name}.env"


@pytest.mark.slow
def test_whole_casework_path_leaves_no_plaintext(cli: Cli) -> None:
    _init(cli)
    texts = [f"{CANARY}-{i} the officer took my phone" for i in range(3)]
    envelopes = [_submit(cli, f"r{i}", what_happened=t) for i, t in enumerate(texts)]
    result = cli("import", *map(str, envelopes))
    assert result.returncode == 0, result.stderr
    assert "Imported 3 new cases" in result.stderr

    listed = json.loads(cli("cases", "list", "--json").stdout)
    assert len(listed) == 3
    assert {c["status"] for c in listed} == {"new"}
    assert set(listed[0]) >= {"id", "status", "received", "assignee"}
    case_id = listed[0]["id"]

    shown = json.loads(cli("cases", "show", case_id, "--json").stdout)
    assert shown["report"]["what_happened"] in texts
    assert shown["report"]["sector"] == "healthcare"

    note = f"NOTE-{CANARY} rang the reporter back"
    for args in (
        ("cases", "note", case_id, note),
        ("cases", "assign", case_id, "amara"),
        ("cases", "status", case_id, "supporting"),
        ("cases", "close", case_id, "--outcome", "supported"),
    ):
        result = cli(*args)
        assert result.returncode == 0, (args, result.stderr)

    shown = json.loads(cli("cases", "show", case_id, "--json").stdout)
    assert shown["status"] == "closed"
    assert shown["outcome"] == "supported"
    assert shown["assignee"] == "amara"
    assert [n["text"] for n in shown["notes"]] == [note]
    assert shown["notes"][0]["author"] == "amara"
    assert [h["action"] for h in shown["history"]] == [
        "imported",
        "opened",
        "note",
        "assigned",
        "status",
        "closed",
        "opened",
    ]

    listed = {c["id"]: c for c in json.loads(cli("cases", "list", "--json").stdout)}
    assert listed[case_id]["status"] == "closed"
    table = cli("cases", "list")
    assert table.returncode == 0
    assert "closed" in table.stdout

    for envelope in envelopes:
        envelope.unlink()
    stored = bytes_under(cli.cwd / "vault-data")
    assert CANARY.encode() not in stored
    assert b"officer took my phone" not in stored
    assert b"rang the reporter back" not in stored


@pytest.mark.slow
def test_wrong_passphrase_exits_3_and_touches_nothing(cli: Cli) -> None:
    _init(cli)
    envelope = _submit(cli, "r")
    assert cli("import", str(envelope)).returncode == 0
    before = snapshot(cli.cwd / "vault-data")
    wrong = cli.cwd / "wrong"
    wrong.write_text("not the passphrase\n")
    wrong.chmod(0o600)
    for args in (("cases", "list"), ("import", str(envelope)), ("team-key", "export", "k2.json")):
        result = cli(*args, env={"VAULT_PASSPHRASE_FILE": str(wrong)})
        assert_clean_error(result, 3)
        assert "Wrong passphrase" in result.stderr
    assert snapshot(cli.cwd / "vault-data") == before
    assert not (cli.cwd / "k2.json").exists()


@pytest.mark.slow
def test_damaged_and_foreign_envelopes_store_nothing(cli: Cli, tmp_path: Path) -> None:
    _init(cli)
    envelope = _submit(cli, "r").read_bytes()
    damaged = cli.cwd / "damaged.env"
    damaged.write_bytes(envelope[:100] + bytes([envelope[100] ^ 1]) + envelope[101:])
    result = cli("import", str(damaged))
    assert_clean_error(result, 4)
    assert "damaged" in result.stderr

    foreign_dir = tmp_path / "elsewhere"
    foreign_dir.mkdir()
    other = Cli(foreign_dir)
    _init(other)
    foreign = _submit(other, "f")
    result = cli("import", str(foreign))
    assert_clean_error(result, 3)
    assert "team key this vault does not hold" in result.stderr

    not_envelope = cli.cwd / "letter.txt"
    not_envelope.write_text("hello " * 1000)
    assert_clean_error(cli("import", str(not_envelope)), 4)
    assert json.loads(cli("cases", "list", "--json").stdout) == []


@pytest.mark.slow
def test_same_envelope_twice_is_stored_once(cli: Cli) -> None:
    _init(cli)
    envelope = _submit(cli, "r")
    first = cli("import", str(envelope))
    second = cli("import", str(envelope), str(envelope))
    assert first.returncode == second.returncode == 0
    assert "2 already in the vault" in second.stderr
    assert len(json.loads(cli("cases", "list", "--json").stdout)) == 1


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("cases", "show", "ZZZZ-ZZZZ"), 1, "no case"),
        (("cases", "show", "!!"), 2, "not a case id"),
        (("cases", "status", "AAAA", "bogus"), 2, "not a status"),
        (("cases", "close", "AAAA", "--outcome", "bogus"), 2, "not an outcome"),
        (("cases", "shw"), 2, "No such command"),
        (("import", "missing.env"), 1, "no envelope"),
        (("cases", "list", "--vault", "nowhere"), 1, "no vault"),
        (("init", "--name", "someone"), 1, "already a vault"),
    ],
)
@pytest.mark.slow
def test_user_errors_are_one_plain_line(
    cli: Cli, args: tuple[str, ...], code: int, words: str
) -> None:
    _init(cli)
    result = cli(*args)
    assert_clean_error(result, code)
    assert words.lower() in result.stderr.lower()


def test_bad_report_names_the_field(cli: Cli) -> None:
    _init(cli)
    bad = json.dumps({"sector": "policing", "role": "officer", "harms": ["shouting"]})
    result = cli("submit", "--team-key", "team-key.json", "--out", "x.env", input=bad.encode())
    assert_clean_error(result, 1)
    assert "'harms.0'" in result.stderr
    assert "'what_happened' is missing" in result.stderr
    assert not (cli.cwd / "x.env").exists()
    result = cli("submit", "--team-key", "team-key.json", "--out", "x.env", input=b"{not json")
    assert_clean_error(result, 1)
    assert "not valid JSON" in result.stderr
    # REPORT.json given as "-" is stdin too, as everywhere else a command reads stdin.
    good = json.dumps(report_data()).encode()
    result = cli("submit", "--team-key", "team-key.json", "--out", "x.env", "-", input=good)
    assert result.returncode == 0, result.stderr
    assert cli("import", "x.env").returncode == 0


@pytest.mark.slow
def test_unsafe_permissions_are_refused(cli: Cli) -> None:
    _init(cli)
    vault_dir = cli.cwd / "vault-data"
    os.chmod(vault_dir, 0o755)  # noqa: S103 - the unsafe mode under test
    result = cli("cases", "list")
    assert_clean_error(result, 1)
    assert "chmod 700" in result.stderr
    os.chmod(vault_dir, 0o700)
    key_file = vault_dir / "caseworkers" / "amara.key"
    os.chmod(key_file, 0o644)
    result = cli("cases", "list")
    assert_clean_error(result, 1)
    assert "chmod 600" in result.stderr


@pytest.mark.slow
def test_files_are_born_private(cli: Cli) -> None:
    _init(cli)
    envelope = _submit(cli, "r")
    assert cli("import", str(envelope)).returncode == 0
    vault_dir = cli.cwd / "vault-data"
    for path in [vault_dir, *vault_dir.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


@pytest.mark.slow
def test_every_command_has_help(cli: Cli) -> None:
    for args in (
        (),
        ("init",),
        ("team-key", "export"),
        ("submit",),
        ("import",),
        ("cases",),
        ("cases", "list"),
        ("cases", "search"),
        ("cases", "show"),
        ("cases", "note"),
        ("cases", "assign"),
        ("cases", "status"),
        ("cases", "close"),
    ):
        result = cli(*args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout


def test_no_passphrase_without_a_terminal(cli: Cli) -> None:
    _init(cli)
    result = cli("cases", "list", env={"VAULT_PASSPHRASE_FILE": ""})
    assert_clean_error(result, 2)
    assert "--passphrase-file" in result.stderr


@pytest.mark.slow
def test_report_text_cannot_drive_the_terminal(cli: Cli) -> None:
    _init(cli)
    hostile = "ok \x1b[2J\x1b]0;owned\x07 \x9b31m \x1b]52;c;ZXZpbA==\x07 end"
    envelope = _submit(cli, "r", what_happened=hostile)
    assert cli("import", str(envelope)).returncode == 0
    case_id = json.loads(cli("cases", "list", "--json").stdout)[0]["id"]
    shown = cli("cases", "show", case_id)
    assert shown.returncode == 0
    for control in ("\x1b", "\x07", "\x9b"):
        assert control not in shown.stdout
    as_json = cli("cases", "show", case_id, "--json")
    assert all(ord(c) < 0x7F for c in as_json.stdout)
    assert json.loads(as_json.stdout)["report"]["what_happened"] == hostile


@pytest.mark.slow
def test_note_from_stdin_keeps_it_out_of_argv(cli: Cli) -> None:
    _init(cli)
    assert cli("import", str(_submit(cli, "r"))).returncode == 0
    case_id = json.loads(cli("cases", "list", "--json").stdout)[0]["id"]
    result = cli("cases", "note", case_id, input=b"private note from stdin\n")
    assert result.returncode == 0, result.stderr
    notes = json.loads(cli("cases", "show", case_id, "--json").stdout)["notes"]
    assert [n["text"] for n in notes] == ["private note from stdin"]


def test_readable_passphrase_file_is_refused(cli: Cli) -> None:
    _init(cli)
    os.chmod(cli.passphrase_file, 0o644)
    result = cli("cases", "list")
    assert_clean_error(result, 1)
    assert "chmod 600" in result.stderr


def test_a_folder_given_as_the_passphrase_file_is_named_as_one(cli: Cli) -> None:
    """Not "can be read by other users; run: chmod 600 '/tmp'" (which would break /tmp)."""
    folder = cli.cwd / "shared"
    folder.mkdir(mode=0o755)
    result = cli("cases", "list", "--passphrase-file", str(folder))
    assert_clean_error(result, 1)
    assert "is a directory, not a passphrase file" in result.stderr
    assert "chmod" not in result.stderr


def test_init_refuses_a_folder_with_files(cli: Cli) -> None:
    folder = cli.cwd / "papers"
    folder.mkdir(mode=0o755)
    (folder / "letter.txt").write_text("keep me")
    result = cli("init", "--name", "amara", "--vault", str(folder))
    assert_clean_error(result, 1)
    assert "empty folder" in result.stderr
    assert (folder.stat().st_mode & 0o777) == 0o755
    assert sorted(p.name for p in folder.iterdir()) == ["letter.txt"]


def test_a_damaged_access_file_is_exit_4_not_a_wrong_passphrase(cli: Cli) -> None:
    """Contract: 4 for a damaged file. A byte changed in the sealed part of your own access
    file (opened with the key file your right passphrase unlocked) is damage, not a wrong key."""
    assert cli("init", "--name", "amara").returncode == 0
    access = cli.cwd / "vault-data" / "caseworkers" / "amara.access"
    data = bytearray(access.read_bytes())
    data[len(data) // 2] ^= 0x20
    access.write_bytes(bytes(data))
    result = cli("cases", "list")
    assert_clean_error(result, 4)
    assert "access file is damaged" in result.stderr


@pytest.mark.parametrize("name", ["a b", "../x", "", "x" * 41])
def test_a_name_that_cannot_be_one_is_bad_usage(cli: Cli, name: str) -> None:
    """Exit 2, as for any other value typed wrong (it was exit 1); nothing is made."""
    result = cli("init", "--name", name)
    assert_clean_error(result, 2)
    assert "name must be" in result.stderr
    assert not (cli.cwd / "vault-data").exists()
