"""`vault intake serve` as people run it: plain one-line errors, never a traceback."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.conftest import Cli, assert_clean_error
from tests.vault.intake.conftest import IntakeFactory, Team
from vault.errors import UsageError
from vault.intake.config import IntakeConfig


def test_intake_serve_has_help(cli: Cli) -> None:
    result = cli("intake", "serve", "--help")
    assert result.returncode == 0
    for option in ("--team-key", "--data", "--host", "--port", "--max-file-mib", "--pow-bits"):
        assert option in result.stdout


def test_a_missing_or_wrong_team_key_file_is_a_plain_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("intake", "serve", "--team-key", "nope.json", "--data", "d", "--port", "0")
    assert_clean_error(result, 1)
    assert "team key file" in result.stderr
    (tmp_path / "not-a-key.json").write_text('{"kind": "something else"}')
    result = cli("intake", "serve", "--team-key", "not-a-key.json", "--data", "d", "--port", "0")
    assert_clean_error(result, 1)
    assert "not a Redress team public key" in result.stderr


def test_a_busy_port_is_a_plain_error(cli: Cli, tmp_path: Path, team: Team) -> None:
    (tmp_path / "team.json").write_bytes(team.public.to_file_bytes())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = cli("intake", "serve", "--team-key", "team.json", "--data", "d", "--port", port)
    assert_clean_error(result, 1)
    assert "in use" in result.stderr


def test_settings_out_of_range_are_usage_errors(cli: Cli, tmp_path: Path, team: Team) -> None:
    (tmp_path / "team.json").write_bytes(team.public.to_file_bytes())
    result = cli("intake", "serve", "--team-key", "team.json", "--data", "d", "--pow-bits", "40")
    assert_clean_error(result, 2)
    assert "--pow-bits" in result.stderr


def test_loose_permissions_on_the_inbox_are_refused(cli: Cli, tmp_path: Path, team: Team) -> None:
    (tmp_path / "team.json").write_bytes(team.public.to_file_bytes())
    data = tmp_path / "d"
    data.mkdir(mode=0o700)
    (data / "inbox.key").write_bytes(bytes(32))
    (data / "inbox.key").chmod(0o644)
    result = cli("intake", "serve", "--team-key", "team.json", "--data", "d", "--port", "0")
    assert_clean_error(result, 1)
    assert "chmod 600" in result.stderr


def test_startup_names_the_team_key_and_the_caseworkers_it_accepts(
    start_intake: IntakeFactory, team: Team
) -> None:
    intake = start_intake()
    deadline = time.monotonic() + 10
    while len(lines := intake.output()[0].splitlines()) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lines[0] == f"Redress intake: {intake.url}"  # unchanged: scripts read it
    assert lines[1:] == [
        f"Team key epoch: {team.keys.epoch}",
        f"Team key fingerprint: {team.public.fingerprint}",
        f"Accepts pulls from: {team.caseworker.name} (key id {team.caseworker.key_id})",
    ]


def test_page_settings_are_checked(tmp_path: Path) -> None:
    key, data = tmp_path / "team.json", tmp_path / "d"
    refused = [
        "javascript:alert(1)",
        "/static/exit.html",
        "https://a b",
        "https://?x",
        "https://#",
        "https://:80",
        "https:///x.org",
        "https:x.org",
        "ftp://x.org",
        "https://user:pass@x.org",
        "https://user@x.org/",
        "https://x.org/\x07",
        "https://x.org/\t",
        "https://x.org/\u00a0",
        "https://x.org:99999",
        "https://x.org:0",
        "https://x.org:port",
        "https://a%00b/",
        "https://bücher.example/",
        "https://x.org/" + "a" * 2000,
    ]
    for url in refused:
        with pytest.raises(UsageError, match="--exit-url"):
            IntakeConfig(key, data, exit_url=url)
    for url in (
        "https://report.example.org/static/exit.html",
        "http://127.0.0.1:8000/static/exit.html",
        "https://[::1]:8443/a?b=c#d",
        "https://xn--bcher-kva.example/",
    ):
        assert IntakeConfig(key, data, exit_url=url).exit_url == url
    with pytest.raises(UsageError, match="--helpline"):
        IntakeConfig(key, data, helpline=" ")
    with pytest.raises(UsageError, match="--emergency"):
        IntakeConfig(key, data, emergency="x" * 501)
    with pytest.raises(UsageError, match="--reply-days"):
        IntakeConfig(key, data, reply_days=0)
    assert IntakeConfig(key, data).exit_url == "https://www.bbc.co.uk/weather"
