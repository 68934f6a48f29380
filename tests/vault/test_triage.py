"""Triage: fields kept at import from the report alone, filters that combine, bad input refused."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSPHRASE, make_report, seal_for
from vault import case_view, incoming, triage
from vault.audit.terms import OUTCOMES, STATUSES
from vault.errors import UsageError
from vault.report import HARMS, SECTORS, WANTS
from vault.store import Vault

NAMES = ("amara", "bea")
DAYS = ("2026-01-05", "2026-03-31", "2026-04-01", "2026-07-15", "2026-12-31")


def test_triage_is_the_reports_words_and_never_its_text() -> None:
    report = make_report(
        sector="policing",
        harms=["violence", "abuse-of-power"],
        wants=["share-alert"],
        consent={"alert": True, "research": True},
        professional_identifier="PC 1234 Met",
    )
    t = triage.triage_of(report)
    assert t == triage.Triage(
        "policing", ("violence", "abuse-of-power"), ("share-alert",), True, True
    )
    assert set(triage.Triage.__slots__) == {"sector", "harms", "wants", "alert", "research"}


def test_import_keeps_triage_in_the_same_transaction(vault: Vault) -> None:
    report = make_report(sector="housing", harms=["outing"], wants=[])
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault, report))]).imported[0]
    (row,) = triage.rows(vault)
    assert (row.id, row.sector, row.harms, row.wants) == (case_id, "housing", ("outing",), ())
    assert row.to_json()["harms"] == ["outing"]
    assert triage.missing(vault) == 0
    # Nothing stored in clear but the report's words: the free text is only in the envelope.
    stored = vault.db.execute("SELECT * FROM case_triage").fetchall()
    assert "Riverside" not in repr(stored)
    assert "landlord" not in repr(stored)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("sector", "banking", "'banking' is not a sector"),
        ("harm", "rudeness", "'rudeness' is not a harm"),
        ("wants", "money", "'money' is not a choice"),
        ("outcome", "won", "'won' is not an outcome"),
        ("status", "open", "'open' is not a status"),
        ("since", "2026-02-30", "--since 2026-02-30 is not a date"),
        ("until", "yesterday", "--until yesterday is not a date"),
        ("since", "20260101", "--since 20260101 is not a date"),
    ],
)
def test_bad_filters_are_usage_errors(option: str, value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        triage.case_filter(**{option: value})  # type: ignore[arg-type]


def test_since_after_until_is_refused() -> None:
    with pytest.raises(UsageError, match="after --until"):
        triage.case_filter(since="2026-05-01", until="2026-04-30")
    assert triage.case_filter(since="2026-05-01", until="2026-05-01").since == "2026-05-01"


def test_me_and_nobody() -> None:
    assert triage.case_filter(assignee="me", me="bea").assignee == "bea"
    later = triage.case_filter(assignee="me")
    assert later.for_caseworker("amara").assignee == "amara"
    nobody = triage.case_filter(assignee="nobody")
    assert nobody.nobody
    assert nobody.assignee is None
    assert nobody.where() == ("c.assignee IS NULL", [])


def test_a_harm_filter_matches_whole_words_only() -> None:
    # "violence" must not match "sexual-violence": the words are matched whole.
    where, params = triage.case_filter(harm="violence").where()
    assert params == [" violence "]
    assert "instr" in where


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    """A vault of 40 cases with triage, states, assignees and days of every kind."""
    directory = tmp_path_factory.mktemp("varied") / "vault-data"
    rng = random.Random(13)
    with Vault.create(directory, "amara", PASSPHRASE) as v:
        from vault.keys import Identity

        with v.transaction() as db:
            v.register_caseworker(db, Identity.generate("bea").public)
        v.forget_names()
        sealed = []
        for n in range(40):
            report = make_report(
                sector=rng.choice(SECTORS),
                harms=rng.sample(HARMS, rng.randint(1, 3)),
                wants=rng.sample(WANTS, rng.randint(0, 2)),
            )
            sealed.append((str(n), seal_for(v, report)))
        ids = incoming.import_envelopes(v, sealed).imported
        for case_id in ids:
            who = rng.choice((None, *NAMES))
            if who:
                v.assign(case_id, who)
            state = rng.choice(("new", "triage", "closed"))
            if state == "triage":
                v.set_status(case_id, "triage")
            elif state == "closed":
                v.close_case(case_id, rng.choice(OUTCOMES))
        with v.transaction() as db:
            for case_id in ids:
                db.execute(
                    "UPDATE cases SET received = ? WHERE id = ?", (rng.choice(DAYS), case_id)
                )
        yield v


def _maybe(values: tuple[str, ...]) -> st.SearchStrategy[str | None]:
    return st.none() | st.sampled_from(values)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    status=_maybe(STATUSES),
    assignee=_maybe(("me", "nobody", *NAMES, "carol")),
    sector=_maybe(SECTORS),
    harm=_maybe(HARMS),
    wants=_maybe(WANTS),
    outcome=_maybe(OUTCOMES),
    since=_maybe(DAYS),
    until=_maybe(DAYS),
)
def test_a_filtered_list_is_the_full_list_filtered(
    varied: Vault,
    status: str | None,
    assignee: str | None,
    sector: str | None,
    harm: str | None,
    wants: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
) -> None:
    if since and until and since > until:
        return
    where = triage.case_filter(
        me="amara",
        status=status,
        assignee=assignee,
        sector=sector,
        harm=harm,
        wants=wants,
        outcome=outcome,
        since=since,
        until=until,
    )
    everything = case_view.list_cases(varied)
    who = {"me": "amara", "nobody": None}.get(assignee or "", assignee)
    expected = [
        c
        for c in everything
        if (status is None or c.status == status)
        and (assignee is None or c.assignee == who)
        and (sector is None or c.sector == sector)
        and (harm is None or harm in c.harms)
        and (wants is None or wants in c.wants)
        and (outcome is None or c.outcome == outcome)
        and (since is None or c.received >= since)
        and (until is None or c.received <= until)
    ]
    assert case_view.list_cases(varied, where=where) == expected
    assert case_view.count_cases(varied, where=where) == len(expected)
    assert case_view.list_cases(varied, limit=3, where=where) == expected[:3]
    assert [r for r in triage.rows(varied) if where.holds_for(r)] == list(
        triage.rows(varied, where)
    )


def test_the_varied_vault_has_every_kind(varied: Vault) -> None:
    """The property above is only worth something if the vault is varied."""
    cases = case_view.list_cases(varied)
    assert {c.status for c in cases} >= {"new", "triage", "closed"}
    assert {c.assignee for c in cases} == {None, *NAMES}
    assert len({c.received for c in cases}) >= 4
    assert len({c.sector for c in cases}) >= 4
    assert any("sexual-violence" in c.harms and "violence" not in c.harms for c in cases)


def test_listing_filters_without_opening_a_report(varied: Vault, tmp_path: Path) -> None:
    """Listing with every filter logs nothing and never reads the envelopes' pages."""
    size = varied.log.size()
    where = triage.case_filter(sector="policing", harm="violence", since="2026-01-01")
    case_view.list_cases(varied, where=where)
    assert varied.log.size() == size
    sql, params = where.where()
    query = "EXPLAIN QUERY PLAN SELECT c.id FROM cases AS c LEFT JOIN case_triage AS t"
    query += " ON t.case_id = c.id WHERE " + sql  # the filter's own SQL; values are params
    plan = " ".join(str(r[3]) for r in varied.db.execute(query, params))
    assert "COVERING INDEX" in plan, plan


def test_check_finds_triage_that_does_not_match_its_report(vault: Vault) -> None:
    from vault.check import check_vault

    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    assert check_vault(vault) == []
    with vault.transaction() as db:
        db.execute("UPDATE case_triage SET sector = 'housing' WHERE case_id = ?", (case_id,))
    (problem,) = check_vault(vault)
    assert "do not match its report" in problem
