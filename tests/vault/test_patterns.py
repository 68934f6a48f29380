"""Grouping over a real vault (vault/patterns.py), "also named in", and what is logged."""

from __future__ import annotations

from tests.conftest import make_report, seal_for
from vault import case_view, incoming, patterns
from vault.read_through import read_list
from vault.stats import CaseFacts, tabulate
from vault.store import Vault


def store(vault: Vault, **fields: object) -> str:
    report = make_report(**fields)
    (case_id,) = incoming.import_envelopes(vault, [("r", seal_for(vault, report))]).imported
    return case_id


def actions(vault: Vault) -> list[bytes]:
    return [leaf.split(b" ")[3] for leaf in vault.log.leaves()]


def test_groups_same_and_possible_and_one_log_entry(vault: Vault) -> None:
    a = store(vault, professional_identifier="GMC 1234567", organisation="A Surgery")
    b = store(vault, professional_identifier="1234 567", organisation="B Surgery")
    c = store(vault, professional_identifier="Dr Jane Doe", organisation="C Surgery")
    d = store(vault, professional_identifier="jane DOE", organisation="D Surgery")
    store(vault, professional_identifier="unknown", organisation="a clinic")
    before = len(actions(vault))
    found = patterns.find_patterns(vault)
    assert [(g.kind, g.strength, set(g.cases)) for g in found.groups] == [
        ("gmc", "same", {a, b}),
        ("name", "possible", {c, d}),
    ]
    assert found.read == 5
    assert not found.damaged
    assert actions(vault)[before:] == [b"patterns-read"]
    (reads,) = vault.db.execute("SELECT cases FROM case_reads ORDER BY entry DESC LIMIT 1")
    assert reads[0] == read_list(dict.fromkeys([a, b, c, d, *found_ids(vault)], "read"))


def found_ids(vault: Vault) -> list[str]:
    return [str(i) for (i,) in vault.db.execute("SELECT id FROM cases")]


def test_a_possible_group_inside_a_same_group_is_left_out(vault: Vault) -> None:
    store(vault, professional_identifier="Dr John Smith GMC 7654321")
    store(vault, professional_identifier="john smith, gmc no. 7654321")
    kinds = [g.kind for g in patterns.find_patterns(vault).groups]
    assert kinds == ["gmc"]  # the name and the organisation say the same, and are left out


def test_show_says_also_named_in_and_logs_the_read_only_when_it_reads(vault: Vault) -> None:
    a = store(vault, professional_identifier="PC 4521", organisation="Kent Police")
    b = store(vault, professional_identifier="pc4521 kent police", organisation="Kent Police")
    lone = store(vault, organisation="a clinic")
    view = case_view.show_case(vault, a)
    assert view.also_named.cases == (b,)
    assert view.also_named.same == (b,)
    assert view.to_json()["also_named_in"] == [f"{b[:4]}-{b[4:]}"]
    assert actions(vault)[-2:] == [b"opened", b"patterns-read"]
    alone = case_view.show_case(vault, lone)
    assert alone.also_named.cases == ()
    assert actions(vault)[-1] == b"opened"


def test_counts_fall_in_every_cell_a_case_names() -> None:
    both = ("outing", "violence")
    fs = [
        CaseFacts("A0000000", "2026-01-02", "new", None, "housing", both, (), True),
        CaseFacts(
            "B0000000", "2026-04-02", "closed", "supported", "housing", ("outing",), (), False
        ),
    ]
    harms = tabulate(fs, ("harm",), None, None, False)
    assert harms.total is None  # 2 cases: hidden
    assert [c.values for c in harms.cells if c.suppressed] == [("violence",), ("outing",)]
    quarters = tabulate(fs, ("quarter",), None, None, False)
    assert quarters.axes == (("2026-Q1", "2026-Q2"),)
    outcomes = tabulate(fs, ("outcome",), None, None, False)
    assert outcomes.axes[0][-1] is None
