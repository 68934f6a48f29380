"""`vault patterns` and `vault stats` through the real CLI, on real vault files: the issue's
"Done means" for both, bad input, a damaged envelope, charts, and the audit bundle after."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cli.stats import to_csv
from tests.cli.reports import vault_with_reports
from tests.conftest import Cli, assert_clean_error, report_data
from tests.vault import case_reader
from vault.report import HARMS
from vault.stats import CaseFacts, tabulate

GMC_SPELLINGS = ["GMC 7654321", "gmc no. 7654321", "7654 321"]


def scenario() -> list[dict[str, Any]]:
    """About 30 reports: one GMC number written three ways, one police collar number with its
    force twice, and one sector and harm pair (education, outing) three times."""
    base = {"organisation": None, "contact": None, "professional_identifier": None}
    reports = [
        report_data(**{**base, "sector": "healthcare", "role": "GP",
                       "harms": ["racial-discrimination"], "professional_identifier": s})
        for s in GMC_SPELLINGS
    ]  # fmt: skip
    reports.append(report_data(**{**base, "sector": "policing", "role": "police officer",
        "harms": ["violence"], "professional_identifier": "PC 4521",
        "organisation": "Metropolitan Police"}))  # fmt: skip
    reports.append(report_data(**{**base, "sector": "policing", "role": "police officer",
        "harms": ["violence"], "professional_identifier": "pc4521 (the Met)"}))  # fmt: skip
    reports += [
        report_data(**{**base, "sector": "education", "role": "college tutor", "harms": ["outing"]})
        for _ in range(3)
    ]
    reports += [
        report_data(**{**base, "sector": "policing", "role": "officer", "harms": ["violence"],
                       "what_happened": f"Filler report {n}."})
        for n in range(12)
    ]  # fmt: skip
    reports += [
        report_data(**{**base, "sector": "healthcare", "role": "nurse",
                       "harms": ["racial-discrimination"], "what_happened": f"Another {n}."})
        for n in range(10)
    ]  # fmt: skip
    return [{k: v for k, v in r.items() if v is not None} for r in reports]


def make_vault(cli: Cli, tmp_path: Path, reports: list[dict[str, Any]]) -> list[str]:
    return vault_with_reports(cli, reports)


def stats_json(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("stats", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def recoverable(
    two: dict[str, Any], ones: list[dict[str, Any]], reports: list[dict[str, Any]]
) -> list[Any]:
    """The hidden counts of 1 to 4 of a sector x harm table that a reader of it and of the
    sector and harm tables (as ``vault stats --json`` printed them) can work out, counting
    cases (tests/vault/case_reader.py; docs/statistics.md)."""
    fs = [
        CaseFacts(f"{k:08d}", "2026-01-05", "new", None, r["sector"],
                  tuple(h for h in HARMS if h in r["harms"]), (), False)
        for k, r in enumerate(reports)
    ]  # fmt: skip
    tables = {("sector", "harm"): two, ("sector",): ones[0], ("harm",): ones[1]}
    return case_reader.small_pins(fs, tables)


@pytest.mark.slow
def test_done_means_patterns_stats_search_list_then_audit(cli: Cli, tmp_path: Path) -> None:
    ids = make_vault(cli, tmp_path, scenario())
    assert len(ids) == 30

    result = cli("patterns", "--json")
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)
    same = [g for g in groups if g["strength"] == "same"]
    assert sorted((g["kind"], g["identifier"], len(g["cases"])) for g in same) == [
        ("gmc", "GMC 7654321", 3),
        ("police", "Metropolitan Police Service 4521", 2),
    ]
    gmc = next(g for g in same if g["kind"] == "gmc")
    assert set(gmc["cases"]) == set(ids[:3])
    assert all({"identifier", "kind", "strength", "cases"} <= set(g) for g in groups)

    shown = json.loads(cli("cases", "show", ids[0], "--json").stdout)
    assert sorted(shown["also_named_in"]) == sorted(ids[1:3])
    text = cli("cases", "show", ids[3]).stdout
    assert "Also named in 1 other case" in text
    assert ids[4] in text

    two = stats_json(cli, "--by", "sector,harm")
    ones = [stats_json(cli, "--by", "sector"), stats_json(cli, "--by", "harm")]
    assert two["total"] == 30
    pair = next(c for c in two["cells"] if (c["sector"], c["harm"]) == ("education", "outing"))
    assert pair == {"sector": "education", "harm": "outing", "count": None, "suppressed": True}
    for cell in two["cells"]:
        assert (cell["count"] is None) == cell["suppressed"]
        assert cell["count"] is None or cell["count"] == 0 or cell["count"] >= 5
    assert recoverable(two, ones, scenario()) == []

    table = cli("stats", "--by", "sector,harm").stdout
    assert "<5" in table
    assert "Total: 30 cases" in table
    rows = list(csv.reader(io.StringIO(cli("stats", "--by", "sector", "--csv").stdout)))
    assert rows[0] == ["sector", "count"]
    assert ["education", "<5"] in rows

    # search: a word from one report finds that report only
    found = cli("cases", "search", "Filler report 7", "--json")
    assert found.returncode == 0, found.stderr
    assert [c["id"] for c in json.loads(found.stdout)] == [ids[15]]
    # a filtered list: only policing cases
    policing = cli("cases", "list", "--sector", "policing", "--json")
    assert policing.returncode == 0, policing.stderr
    listed = json.loads(policing.stdout)
    assert len(listed) == 14
    assert {c["sector"] for c in listed} == {"policing"}

    assert cli("audit", "export", "bundle.txt").returncode == 0
    verify = cli("audit", "verify", "bundle.txt")
    assert verify.returncode == 0, verify.stderr
    bundle = (tmp_path / "bundle.txt").read_text()
    assert "Filler" not in bundle  # the words searched for are nowhere in the bundle
    # patterns opened only the cases in its groups, and logged that read as one entry
    in_groups = {c for g in groups for c in g["cases"]}
    assert len(in_groups) == 5  # the GMC three and the police two, of 30
    assert f"patterns-read - {len(in_groups)} " in bundle
    assert bundle.count("patterns-read") == 1  # "also named in" read nothing more
    assert "stats-counted - 30 " in bundle
    for secret in ("Metropolitan", "education", "outing"):
        assert secret not in bundle
    # the identifiers are digits, which hashes and base64 in the bundle can hold by chance
    # (4521 is in about one hex hash in 16): nowhere as a word of their own
    for number in ("7654321", "4521"):
        assert re.search(rf"(?<![0-9A-Za-z+/]){number}(?![0-9A-Za-z+/=])", bundle) is None


@pytest.mark.slow
def test_stats_bad_input_is_one_line_and_exit_2(cli: Cli, tmp_path: Path) -> None:
    make_vault(cli, tmp_path, scenario()[:2])
    for args in (
        ["--by", "colour"],
        ["--by", "sector,harm,status"],
        ["--by", "sector,sector"],
        ["--by", "sector", "--since", "2026-02-30"],
        ["--by", "sector", "--until", "yesterday"],
        ["--by", "sector", "--since", "2026-03-02", "--until", "2026-03-01"],
        ["--by", "sector", "--chart", "chart.jpg"],
        ["--by", "quarter,harm", "--until", "9999-12-31"],  # found by review: 31,896 quarters
    ):
        assert_clean_error(cli("stats", *args), 2)


def test_a_chart_that_cannot_be_new_is_refused_before_the_passphrase(cli: Cli) -> None:
    # No vault and no passphrase file: each is refused before either is looked for.
    (cli.cwd / "gone.svg").symlink_to(cli.cwd / "nowhere.svg")  # a link to nowhere is there
    unreadable = {"VAULT_PASSPHRASE_FILE": str(cli.cwd / "no-such-file")}
    for chart, code in (("gone.svg", 2), ("no-folder/chart.svg", 1)):
        result = cli("stats", "--by", "sector", "--chart", chart, env=unreadable)
        assert_clean_error(result, code)
        assert chart in result.stderr
    assert not (cli.cwd / "nowhere.svg").exists()


@pytest.mark.parametrize("day", ["20260301", "2026-W10-1", "2026-3-1", "2026-02-30"])
def test_stats_takes_a_day_written_yyyy_mm_dd_only_as_cases_list_does(cli: Cli, day: str) -> None:
    unreadable = {"VAULT_PASSPHRASE_FILE": str(cli.cwd / "no-such-file")}
    for option in ("--since", "--until"):
        result = cli("stats", "--by", "sector", option, day, env=unreadable)
        assert_clean_error(result, 2)
        assert "YYYY-MM-DD" in result.stderr


def test_csv_says_withheld_for_a_withheld_total_and_lt5_for_one_of_1_to_4() -> None:
    # rule 4's last resort (never seen) withholds a total of 5 or more: not "<5"
    facts = [CaseFacts(f"{k:08d}", "2026-03-05", "new", None, "housing", ("violence",), (),
                       False) for k in range(7)]  # fmt: skip
    table = tabulate(facts, ("sector",), None, None, False)
    withheld = dataclasses.replace(table, total=None, withheld=True)
    assert to_csv(withheld).splitlines()[-1] == "total,withheld"
    assert withheld.to_json()["total"] is None  # JSON as before: null
    small = tabulate(facts[:3], ("sector",), None, None, False)
    assert to_csv(small).splitlines()[-1] == "total,<5"


@pytest.mark.slow
def test_research_counts_only_consenting_reports_and_small_totals_hide(
    cli: Cli, tmp_path: Path
) -> None:
    reports = scenario()[:12]
    for r in reports[:6]:
        r["consent"] = {"alert": False, "research": True}
    make_vault(cli, tmp_path, reports)
    everything = stats_json(cli, "--by", "status")
    research = stats_json(cli, "--by", "status", "--research")
    assert everything["total"] == 12
    assert research["total"] == 6
    assert research["research_only"] is True
    early = stats_json(cli, "--by", "quarter", "--until", "2000-01-01")
    assert early["total"] == 0


@pytest.mark.slow
def test_charts_are_written_without_counts_of_hidden_cells(cli: Cli, tmp_path: Path) -> None:
    make_vault(cli, tmp_path, scenario()[:10])
    for by, suffix in (("sector,harm", "svg"), ("quarter", "png")):
        name = f"chart-{by.replace(',', '-')}.{suffix}"
        result = cli("stats", "--by", by, "--chart", name)
        assert result.returncode == 0, result.stderr
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG" if suffix == "png" else b"<?xml")
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    assert cli("stats", "--by", "sector", "--chart", name).returncode == 2  # exists: refused
    assert not list(tmp_path.glob(".matplotlib*"))
    assert not list(tmp_path.glob(".cache*"))
    svg = (tmp_path / "chart-sector-harm.svg").read_text()
    assert "&lt;5" in svg


@pytest.mark.slow
def test_a_damaged_envelope_is_counted_and_named(cli: Cli, tmp_path: Path) -> None:
    from tests.conftest import PASSPHRASE
    from vault.store import Vault

    ids = make_vault(cli, tmp_path, scenario()[:6])
    with Vault.unlock(tmp_path / "vault-data", PASSPHRASE) as vault:
        envelope = vault.db.execute(
            "SELECT envelope FROM cases WHERE id = ?", (ids[0].replace("-", ""),)
        ).fetchone()[0]
        broken = bytes(envelope[:-1]) + bytes([envelope[-1] ^ 1])
        vault.db.execute(
            "UPDATE cases SET envelope = ? WHERE id = ?", (broken, ids[0].replace("-", ""))
        )
    result = cli("patterns", "--json")
    assert result.returncode == 4
    assert ids[0] in result.stderr
    assert "1 case could not be read" in result.stderr
    groups = json.loads(result.stdout)
    gmc = next(g for g in groups if g["kind"] == "gmc")
    assert sorted(gmc["cases"]) == sorted(ids[1:3])
    # stats opens no report: the case is still counted, by the triage kept when it was stored
    stats = cli("stats", "--by", "sector", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["total"] == 6


@pytest.mark.slow
def test_show_reads_no_other_report_and_check_names_a_changed_index(
    cli: Cli, tmp_path: Path
) -> None:
    from tests.conftest import PASSPHRASE
    from vault.store import Vault

    ids = make_vault(cli, tmp_path, scenario()[:3])  # one GMC number, three spellings
    shown = cli("cases", "show", ids[0], "--json")
    assert shown.returncode == 0, shown.stderr
    assert sorted(json.loads(shown.stdout)["also_named_in"]) == sorted(ids[1:3])
    assert cli("audit", "export", "bundle.txt").returncode == 0
    bundle = (tmp_path / "bundle.txt").read_text()
    assert "patterns-read" not in bundle  # the index answered: no other report was read
    assert cli("check").returncode == 0
    with Vault.unlock(tmp_path / "vault-data", PASSPHRASE) as vault, vault.transaction() as db:
        db.execute(
            "DELETE FROM professionals_named WHERE case_id = ? AND kind = 'gmc'",
            (ids[0].replace("-", ""),),
        )
    result = cli("check")
    assert result.returncode == 4
    assert f"case {ids[0]}: the professionals indexed for it do not match its report" in (
        result.stdout + result.stderr
    )
