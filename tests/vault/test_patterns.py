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
    assert found.indexed == 5
    assert found.read == 4  # only the cases in groups are opened: not the fifth
    assert not found.damaged
    assert actions(vault)[before:] == [b"patterns-read"]
    (reads,) = vault.db.execute("SELECT cases FROM case_reads ORDER BY entry DESC LIMIT 1")
    assert reads[0] == read_list(dict.fromkeys([a, b, c, d], "read"))


def test_no_group_opens_nothing_and_logs_nothing(vault: Vault) -> None:
    store(vault, professional_identifier="GMC 1234567", organisation="A Surgery")
    store(vault, professional_identifier="NMC 12A3456E", organisation="B Surgery")
    before = len(actions(vault))
    found = patterns.find_patterns(vault)
    assert (found.groups, found.read, found.indexed) == ((), 0, 2)
    assert len(actions(vault)) == before


def test_a_case_damaged_after_import_is_named_and_left_out_of_its_group(vault: Vault) -> None:
    ids = [store(vault, professional_identifier=f"GMC 7654321 #{n}") for n in range(3)]
    with vault.transaction() as db:
        (envelope,) = db.execute("SELECT envelope FROM cases WHERE id = ?", (ids[0],)).fetchone()
        broken = bytes(envelope[:-1]) + bytes([envelope[-1] ^ 1])
        db.execute("UPDATE cases SET envelope = ? WHERE id = ?", (broken, ids[0]))
    found = patterns.find_patterns(vault)
    assert found.damaged == (ids[0],)
    assert [(g.identifier, g.cases) for g in found.groups] == [
        ("GMC 7654321", tuple(sorted(ids[1:])))
    ]
    (reads,) = vault.db.execute("SELECT cases FROM case_reads ORDER BY entry DESC LIMIT 1")
    assert reads[0] == read_list({ids[0]: "damaged", ids[1]: "read", ids[2]: "read"})


def test_a_possible_group_inside_a_same_group_is_left_out(vault: Vault) -> None:
    store(vault, professional_identifier="Dr John Smith GMC 7654321")
    store(vault, professional_identifier="john smith, gmc no. 7654321")
    kinds = [g.kind for g in patterns.find_patterns(vault).groups]
    assert kinds == ["gmc"]  # the name and the organisation say the same, and are left out


def test_show_says_also_named_in_from_the_index_reading_nothing_more(vault: Vault) -> None:
    a = store(vault, professional_identifier="PC 4521", organisation="Kent Police")
    b = store(vault, professional_identifier="pc4521 kent police", organisation="Kent Police")
    c = store(vault, professional_identifier="PC 9999", organisation="Kent Police")
    lone = store(vault, organisation="a clinic")
    reads = vault.db.execute("SELECT count(*) FROM case_reads").fetchone()[0]
    view = case_view.show_case(vault, a)  # b by the number; c by the force with the same role
    assert view.also_named.cases == tuple(sorted((b, c)))
    assert view.also_named.same == (b,)
    assert view.to_json()["also_named_same"] == [f"{b[:4]}-{b[4:]}"]
    assert actions(vault)[-1] == b"opened"  # the case's own entry, and no read of others
    other = case_view.show_case(vault, c)  # another number: only possibly the same
    assert set(other.also_named.cases) == {a, b}
    assert other.also_named.same == ()
    alone = case_view.show_case(vault, lone)
    assert alone.also_named.cases == ()
    assert actions(vault)[-3:] == [b"opened"] * 3
    assert vault.db.execute("SELECT count(*) FROM case_reads").fetchone()[0] == reads


def test_counts_fall_in_every_cell_a_case_names() -> None:
    both = ("outing", "violence")
    fs = [
        CaseFacts("A0000000", "2026-01-02", "new", None, "housing", both, (), True),
        CaseFacts(
            "B0000000", "2026-04-02", "closed", "supported", "housing", ("outing",), (), False
        ),
    ]
    harms = tabulate(fs, ("harm",), None, None, False)
    assert harms.total is None  # 2 cases: every cell hidden, zeros too
    assert all(c.suppressed for c in harms.cells)
    assert harms.zeros_hidden
    many = [CaseFacts(f"{k:08d}", f.received, f.status, f.outcome, f.sector, f.harms, (), True)
            for k, f in enumerate(fs * 5)]  # fmt: skip
    harms = tabulate(many, ("harm",), None, None, False)
    assert harms.total == 10
    counts = {c.values[0]: c.count for c in harms.cells}
    assert counts["violence"] == 5
    assert counts["outing"] == 10
    assert sum(c.count or 0 for c in harms.cells) == 15  # a case counts in each harm it names
    quarters = tabulate(fs, ("quarter",), None, None, False)
    assert quarters.axes == (("2026-Q1", "2026-Q2"),)
    outcomes = tabulate(fs, ("outcome",), None, None, False)
    assert outcomes.axes[0][-1] is None
