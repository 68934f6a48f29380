"""The retention policy (vault/retention.py): signed and logged, what it makes due or flags, and
applying it."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import seal_for
from vault import case_view, erasure, incoming, retention
from vault.errors import IntegrityError, UsageError
from vault.store import Vault, today


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        ("2026-08-31", 6, "2027-02-28"),
        ("2027-08-31", 6, "2028-02-29"),
        ("2026-01-15", 12, "2027-01-15"),
        ("2026-11-30", 1, "2026-12-30"),
        ("2026-12-05", 1, "2027-01-05"),
    ],
)
def test_months_are_calendar_months(day: str, months: int, expected: str) -> None:
    assert retention.add_months(day, months) == expected


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2200, 1, 1)), st.integers(1, 1200))
def test_adding_months_lands_in_the_right_month_never_past_its_day(start: date, n: int) -> None:
    later = date.fromisoformat(retention.add_months(start.isoformat(), n))
    assert (later.year * 12 + later.month) - (start.year * 12 + start.month) == n
    assert later.day <= start.day
    if later.day != start.day:  # only when the month is too short: then its last day
        assert (later + timedelta(days=1)).day == 1


@pytest.mark.parametrize("text", ["0", "-3", "1201", "six", "", "1.5"])
def test_months_out_of_range_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="whole number of months"):
        retention.parse_months(text, "--erase-closed-after")


def test_the_policy_is_signed_logged_and_kept_rule_by_rule(vault: Vault) -> None:
    assert retention.policy(vault) is None
    with pytest.raises(UsageError, match="Say what to change"):
        retention.set_policy(vault)
    size = vault.log.size()
    first = retention.set_policy(vault, erase_closed_after=24)
    assert (first.erase_closed_after, first.flag_untouched_after) == (24, None)
    assert (first.set_by, first.set_on) == ("amara", today())
    second = retention.set_policy(vault, flag_untouched_after=6)
    assert (second.erase_closed_after, second.flag_untouched_after) == (24, 6)
    third = retention.set_policy(vault, erase_closed_after=None)
    assert (third.erase_closed_after, third.flag_untouched_after) == (None, 6)
    leaves = [leaf.decode().split(" ") for leaf in list(vault.log.leaves())[size:]]
    assert [f[3:6] for f in leaves] == [["retention-set", "-", "-"]] * 3
    (body,) = vault.db.execute("SELECT body FROM retention_policy").fetchone()
    assert leaves[-1][6] == hashlib.sha256(bytes(body)).hexdigest()


def test_a_changed_policy_is_refused_as_tampering(vault: Vault) -> None:
    retention.set_policy(vault, erase_closed_after=24)
    (body,) = vault.db.execute("SELECT body FROM retention_policy").fetchone()
    with vault.transaction() as db:
        changed = bytes(body).replace(b'_months":24', b'_months":1')
        assert changed != bytes(body)
        db.execute("UPDATE retention_policy SET body = ?", (changed,))
    with pytest.raises(IntegrityError, match="retention policy") as raised:
        retention.review(vault)
    assert raised.value.exit_code == 4


def test_closed_cases_fall_due_and_untouched_ones_are_flagged(vault: Vault) -> None:
    ids = incoming.import_envelopes(vault, [(str(n), seal_for(vault)) for n in range(3)]).imported
    closed, open_case, worked = ids
    vault.close_case(closed, "supported")
    vault.add_note(worked, "worked on")
    now = today()
    assert retention.review(vault, retention.add_months(now, 60)).due == []  # no policy yet
    retention.set_policy(vault, erase_closed_after=6, flag_untouched_after=3)

    assert retention.review(vault, now).due == []
    early = retention.review(vault, retention.add_months(now, 3))
    assert early.due == []
    assert {f.id for f in early.flagged} == set(ids)  # the closed one too: not due yet
    assert {f.last_touched for f in early.flagged} == {now}
    late = retention.review(vault, retention.add_months(now, 6))
    assert [(d.id, d.closed, d.outcome, d.due) for d in late.due] == [
        (closed, now, "supported", retention.add_months(now, 6))
    ]
    assert {f.id for f in late.flagged} == {open_case, worked}
    assert late.to_json()["due"][0]["id"].replace("-", "") == closed

    done = retention.apply(vault, retention.add_months(now, 6))
    assert [(t.id, t.reason, t.outcome) for t in done.tombstones] == [
        (closed, "retention", "supported")
    ]
    after = retention.review(vault, retention.add_months(now, 6))
    assert (after.due, after.erased) == ([], 1)
    assert {c.id for c in case_view.list_cases(vault)} == {open_case, worked}
    assert retention.apply(vault, retention.add_months(now, 6)).tombstones == []


def test_a_case_reopened_after_closing_is_not_due(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    vault.close_case(case_id, "supported")
    vault.set_status(case_id, "supporting")
    retention.set_policy(vault, erase_closed_after=1)
    assert retention.review(vault, retention.add_months(today(), 12)).due == []
    erasure.erase_case(vault, case_id, "requested")
    assert retention.review(vault, retention.add_months(today(), 12)).erased == 1
