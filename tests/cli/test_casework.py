"""Casework across cases through the real CLI: triage filters on `cases list`; `cases search`."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Cli, assert_clean_error, report_data


def _vault_with_reports(cli: Cli, reports: list[dict[str, object]]) -> list[str]:
    """A vault made with `vault init`, the reports sealed with `vault submit` and imported;
    the case ids in the order of ``reports``."""
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    envelopes = []
    for n, fields in enumerate(reports):
        path = cli.cwd / f"r{n}.json"
        path.write_text(json.dumps(report_data(**fields)))
        result = cli("submit", "--team-key", "team-key.json", "--out", f"r{n}.env", str(path))
        assert result.returncode == 0, result.stderr
        path.unlink()
        envelopes.append(f"r{n}.env")
    ids = []
    for envelope in envelopes:  # one at a time, so that the ids keep the reports' order
        result = cli("import", envelope)
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.split()[0])
    return ids


REPORTS: list[dict[str, object]] = [
    {"sector": "policing", "harms": ["violence"], "wants": ["share-alert"]},
    {"sector": "healthcare", "harms": ["sexual-violence", "outing"], "wants": ["support"]},
    {"sector": "policing", "harms": ["abuse-of-power"], "wants": []},
    {"sector": "housing", "harms": ["verbal-abuse"], "wants": ["complaint-help", "support"]},
]


def _ids(result_stdout: str) -> list[str]:
    return [c["id"] for c in json.loads(result_stdout)]


@pytest.mark.slow
def test_cases_list_shows_triage_and_filters(cli: Cli) -> None:
    ids = _vault_with_reports(cli, REPORTS)
    assert cli("cases", "assign", ids[2], "amara").returncode == 0
    assert cli("cases", "close", ids[3], "--outcome", "supported").returncode == 0

    listed = json.loads(cli("cases", "list", "--json").stdout)
    by_id = {c["id"]: c for c in listed}
    assert by_id[ids[1]]["sector"] == "healthcare"
    assert by_id[ids[1]]["harms"] == ["sexual-violence", "outing"]
    assert by_id[ids[3]]["wants"] == ["complaint-help", "support"]
    assert by_id[ids[2]]["wants"] == []

    def only(*args: str) -> set[str]:
        result = cli("cases", "list", "--json", *args)
        assert result.returncode == 0, result.stderr
        return set(_ids(result.stdout))

    assert only("--sector", "policing") == {ids[0], ids[2]}
    assert only("--harm", "violence") == {ids[0]}  # not sexual-violence
    assert only("--wants", "support") == {ids[1], ids[3]}
    assert only("--assignee", "me") == {ids[2]}
    assert only("--assignee", "amara", "--sector", "policing") == {ids[2]}
    assert only("--assignee", "nobody") == {ids[0], ids[1], ids[3]}
    assert only("--outcome", "supported") == {ids[3]}
    assert only("--sector", "policing", "--harm", "violence", "--status", "new") == {ids[0]}
    today = listed[0]["received"]
    assert only("--since", today, "--until", today) == set(ids)
    assert only("--until", "2000-01-01") == set()

    table = cli("cases", "list", "--sector", "healthcare")
    assert table.returncode == 0, table.stderr
    assert "sexual-violence" in table.stdout
    assert "healthcare" in table.stdout
    assert "policing" not in table.stdout
    assert "No cases match." in cli("cases", "list", "--sector", "education").stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--sector", "banking"), "not a sector"),
        (("--harm", "rudeness"), "not a harm"),
        (("--wants", "money"), "not a choice"),
        (("--outcome", "won"), "not an outcome"),
        (("--since", "2026-13-01"), "not a date"),
        (("--until", "soon"), "not a date"),
        (("--since", "2026-05-02", "--until", "2026-05-01"), "after --until"),
    ],
)
def test_bad_filters_exit_2_in_one_line(cli: Cli, args: tuple[str, ...], words: str) -> None:
    # Checked before any vault is opened or passphrase asked for: no vault is needed.
    result = cli("cases", "list", *args, "--vault", str(cli.cwd / "nowhere"))
    assert_clean_error(result, 2)
    assert words in result.stderr


def test_filters_are_in_the_help(cli: Cli) -> None:
    result = cli("cases", "list", "--help")
    assert result.returncode == 0
    for option in (
        "--assignee",
        "--sector",
        "--harm",
        "--wants",
        "--outcome",
        "--since",
        "--until",
    ):
        assert option in result.stdout
