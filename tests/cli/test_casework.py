"""Casework across cases through the real CLI: triage filters on `cases list`; `cases search`."""

from __future__ import annotations

import json

import pytest

from cli import render
from tests.cli.reports import vault_with_reports
from tests.conftest import Cli, assert_clean_error, report_data


def _vault_with_reports(cli: Cli, reports: list[dict[str, object]]) -> list[str]:
    """A vault made with `vault init` holding the reports; the case ids in their order."""
    return vault_with_reports(cli, [report_data(**fields) for fields in reports])


REPORTS: list[dict[str, object]] = [
    {"sector": "policing", "harms": ["violence"], "wants": ["share-alert"]},
    {"sector": "healthcare", "harms": ["sexual-violence", "outing"], "wants": ["support"]},
    {"sector": "policing", "harms": ["abuse-of-power"], "wants": []},
    {"sector": "housing", "harms": ["verbal-abuse"], "wants": ["complaint-help", "support"]},
]


def _ids(result_stdout: str) -> list[str]:
    return [c["id"] for c in json.loads(result_stdout)]


@pytest.mark.slow
def test_cases_list_shows_triage_and_filters(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
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
    assert only("--limit", "1") == {listed[0]["id"]}  # --json lists every case unless --limit
    assert only("--sector", "policing", "--limit", "1") == {ids[2]}  # the newest of the two

    table = cli("cases", "list", "--sector", "healthcare")
    assert table.returncode == 0, table.stderr
    assert "sexual-violence" in table.stdout
    assert "healthcare" in table.stdout
    assert "policing" not in table.stdout
    assert "No cases match." in cli("cases", "list", "--sector", "education").stdout

    # An 80-column terminal (and any pipe: rich's default) gets every id and day whole: the
    # id is what the next command takes. (The suite's in-process CLI draws for 120 columns.)
    monkeypatch.setattr(render.out, "width", 80)
    narrow = cli("cases", "list")
    assert narrow.returncode == 0, narrow.stderr
    assert all(case_id in narrow.stdout for case_id in ids), narrow.stdout
    assert narrow.stdout.count(today) == len(ids)


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


@pytest.mark.slow
def test_cases_search_finds_every_word_logs_once_and_never_the_words(cli: Cli) -> None:
    ids = _vault_with_reports(
        cli,
        [
            {"what_happened": "The officer from Ærøby station laughed at me."},
            {"what_happened": "A nurse refused to see me.", "sector": "healthcare"},
            {"what_happened": "The officer took my phone.", "sector": "policing"},
        ],
    )
    assert (
        cli("cases", "note", ids[1], "She said the ward sister was named Quillon.").returncode == 0
    )

    def found(*args: str) -> list[str]:
        result = cli("cases", "search", *args, "--json")
        assert result.returncode == 0, result.stderr
        return _ids(result.stdout)

    assert found("AEROBY") == []  # Æ is its own letter, not A with a mark
    assert found("ærøby") == [ids[0]]
    assert found("OFFICER") == [ids[2], ids[0]]  # newest first
    assert found("officer", "--sector", "policing") == [ids[2]]
    assert found("quillon") == [ids[1]]  # in a note
    assert found("nurse quillon") == [ids[1]]
    assert found("nurse officer") == []
    listed = {c["id"]: c for c in json.loads(cli("cases", "list", "--json").stdout)}
    result = json.loads(cli("cases", "search", "phone", "--json").stdout)
    assert result == [listed[ids[2]]]  # shaped like cases list --json

    table = cli("cases", "search", "nurse")
    assert table.returncode == 0, table.stderr
    assert ids[1] in table.stdout
    assert "Read 3 cases: 1 match." in table.stderr
    piped = cli("cases", "search", "-", "--json", input=b"Quillon\n")
    assert _ids(piped.stdout) == [ids[1]]

    assert cli("audit", "export", "audit.bundle").returncode == 0
    bundle = (cli.cwd / "audit.bundle").read_bytes().lower()
    for word in (b"quillon", b"nurse", b"officer", b"phone", "ærøby".encode()):
        assert word not in bundle
    assert bundle.count(b" cases-searched - ") == 10
    verified = cli("audit", "verify", "audit.bundle")
    assert verified.returncode == 0, verified.stderr
    assert "quillon" not in verified.stdout.lower()
    # the auditor sees which cases each search read and which matched, never the words
    shown = cli("audit", "verify", "audit.bundle", "--json")
    assert shown.returncode == 0, shown.stderr
    reads = json.loads(shown.stdout)["reads"]
    assert [r["action"] for r in reads] == ["cases-searched"] * 10
    plain = [i.replace("-", "") for i in ids]
    nurse = reads[8]  # the ninth search: "nurse"
    assert nurse["cases"] == sorted(plain)
    assert nurse["matched"] == [plain[1]]
    assert reads[3]["matched"] == [plain[2]]  # "officer --sector policing"
    for word in ("quillon", "nurse", "officer", "phone", "ærøby"):
        assert word not in shown.stdout.lower()


@pytest.mark.parametrize("query", ["", "   ", "\t"])
def test_an_empty_search_exits_2(cli: Cli, query: str) -> None:
    result = cli("cases", "search", query, "--vault", str(cli.cwd / "nowhere"))
    assert_clean_error(result, 2)
    assert "at least one word" in result.stderr


@pytest.mark.slow
def test_a_damaged_case_is_named_and_the_search_exits_4(cli: Cli) -> None:
    from tests.conftest import PASSPHRASE
    from vault.store import Vault

    ids = _vault_with_reports(cli, [{"what_happened": "Wombat."}, {"what_happened": "Wombat!"}])
    with Vault.unlock(cli.cwd / "vault-data", PASSPHRASE) as vault, vault.transaction() as db:
        case_id = ids[0].replace("-", "")
        (envelope,) = db.execute("SELECT envelope FROM cases WHERE id = ?", (case_id,)).fetchone()
        broken = bytes(envelope[:200]) + bytes([envelope[200] ^ 1]) + bytes(envelope[201:])
        db.execute("UPDATE cases SET envelope = ? WHERE id = ?", (broken, case_id))
    result = cli("cases", "search", "wombat", "--json")
    assert result.returncode == 4
    assert _ids(result.stdout) == [ids[1]]
    assert f"1 case could not be opened: {ids[0]} (damaged)" in result.stderr
    assert "Traceback" not in result.stderr


def test_cases_show_says_the_reporters_language(cli: Cli) -> None:
    # The report records the language the reporter used the form in (docs/format.md), so a
    # reply can be written in it; a report from before has none and shows none.
    with_language, without = _vault_with_reports(
        cli, [{"language": "pt-BR"}, {"sector": "housing"}]
    )
    shown = cli("cases", "show", with_language)
    assert shown.returncode == 0, shown.stderr
    assert "Reporter's language: Portuguese (Brazil) (pt-BR)" in shown.stdout
    as_json = json.loads(cli("cases", "show", with_language, "--json").stdout)
    assert as_json["report"]["language"] == "pt-BR"
    assert "language" not in json.loads(cli("cases", "show", without, "--json").stdout)["report"]
    assert "Reporter's language" not in cli("cases", "show", without).stdout
