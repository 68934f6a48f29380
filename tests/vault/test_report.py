"""The report model: strict, and its errors name the field in plain words."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CANARY, report_data
from vault.errors import InvalidReportError
from vault.report import Report, parse_report


def test_valid_report_and_canonical_json() -> None:
    report = parse_report(report_data())
    data = report.canonical_json()
    assert data.startswith(b'{"attachments":[],"consent":')
    assert parse_report(data) == report
    assert b'", "' not in data
    assert b'": ' not in data


def test_unicode_is_kept_as_utf8() -> None:
    report = parse_report(report_data(what_happened="Ça s’est passé à la clinique — 医生"))
    assert "医生".encode() in report.canonical_json()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sector": "army"}, "'sector' must be one of"),
        ({"harms": []}, "'harms' needs at least one choice"),
        ({"harms": ["outing", "outing"]}, "'harms' lists the same choice twice"),
        ({"role": "   "}, "'role' is empty"),
        ({"what_happened": "x" * 50_001}, "'what_happened' is too long"),
        ({"colour": "red"}, "'colour' is not a report field"),
        ({"reply_key": "abc"}, "'reply_key' must be a base64-encoded 32-byte key"),
        ({"consent": {"alert": "yes"}}, "'consent.alert' has the wrong type of value"),
        ({"contact": {"method": "pigeon", "value": "x"}}, "'contact.method' must be one of"),
        # true and 1.0 equal 1 in Python, so a Literal[1] alone took them as version 1
        ({"v": True}, "'v' must be the number 1"),
        ({"v": False}, "'v' must be the number 1"),
        ({"v": 1.0}, "'v' must be the number 1"),
        ({"v": "1"}, "'v' must be the number 1"),
        ({"v": 2}, "'v' must be one of 1"),
    ],
)
def test_errors_name_the_field(change: dict[str, object], expected: str) -> None:
    with pytest.raises(InvalidReportError) as caught:
        parse_report(report_data(**change))
    message = str(caught.value)
    assert expected in message
    assert CANARY not in message  # never echo what the reporter wrote


def test_missing_fields_are_each_named() -> None:
    with pytest.raises(InvalidReportError) as caught:
        parse_report({})
    message = str(caught.value)
    assert "'sector' is missing" in message
    assert "'role' is missing" in message


def test_report_never_prints_its_content() -> None:
    report = parse_report(report_data())
    assert CANARY not in repr(report) + str(report)
    assert isinstance(report, Report)


def test_not_json() -> None:
    with pytest.raises(InvalidReportError, match="not valid JSON"):
        parse_report(b"{oops")


def test_the_version_is_the_number_1_in_json_too() -> None:
    good = json.dumps(report_data(v=1))
    assert parse_report(good).v == 1
    for bad in ("true", "1.0"):
        with pytest.raises(InvalidReportError, match="'v' must be the number 1"):
            parse_report(good.replace('"v": 1', f'"v": {bad}'))
