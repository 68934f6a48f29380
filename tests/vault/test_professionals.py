"""Each normalisation rule of docs/patterns.md, with spellings people really write."""

from __future__ import annotations

import pytest

from vault.professionals import force_of, name_key, named_in, organisation_key


def keys(identifier: str | None, organisation: str | None = None, role: str = "GP",
         sector: str = "healthcare") -> set[tuple[str, str]]:  # fmt: skip
    return {(p.kind, p.key) for p in named_in(identifier, organisation, role, sector)}


@pytest.mark.parametrize(
    "spelling",
    ["GMC 1234567", "gmc no. 1234567", "1234 567", "GMC#1234567", "GMC: 1234567",
     "GMC number 1234567", "gmc ref 1234-567", "1234567", "Dr Patel (GMC 1234567)",
     "General Medical Council 1234567"],
)  # fmt: skip
def test_gmc_reference_numbers_are_seven_digits_however_written(spelling: str) -> None:
    assert ("gmc", "1234567") in keys(spelling)


@pytest.mark.parametrize("spelling", ["GMC 123456", "12345678", "020 7123 4567", "07700 900123"])
def test_other_digit_runs_are_not_gmc_numbers(spelling: str) -> None:
    assert not any(kind == "gmc" for kind, _ in keys(spelling))


def test_a_bare_seven_digit_number_with_a_police_force_is_not_a_gmc_number() -> None:
    assert not any(k == "gmc" for k, _ in keys("1234567", "Kent Police", "PC", "policing"))
    assert ("gmc", "1234567") in keys("GMC 1234567", "Kent Police", "police doctor", "policing")


@pytest.mark.parametrize(
    "spelling", ["12A3456E", "12a3456e", "12 A 3456 E", "NMC PIN: 12A 3456E", "nmc 12-a-3456-e"]
)
def test_nmc_pins(spelling: str) -> None:
    assert keys(spelling, role="nurse") >= {("nmc", "12A3456E")}


@pytest.mark.parametrize(
    ("spelling", "key"),
    [("PA12345", "PA12345"), ("HCPC PA 12345", "PA12345"), ("hcpc: pa-12345", "PA12345"),
     ("OT 61234", "OT61234"), ("HCPC reg PYL 012345", "PYL012345")],
)  # fmt: skip
def test_hcpc_registrations(spelling: str, key: str) -> None:
    assert ("hcpc", key) in keys(spelling, role="paramedic")


@pytest.mark.parametrize(
    "spelling", ["SW12345", "SW 12345", "sw-123456", "Social Work England SW98765"]
)
def test_social_work_england_numbers(spelling: str) -> None:
    found = keys(spelling, role="social worker", sector="support-services")
    assert any(kind == "swe" and key.startswith("SW") for kind, key in found)


def test_a_london_postcode_is_not_a_social_work_england_number() -> None:
    assert not any(k == "swe" for k, _ in keys("SW1A 1AA", sector="other"))
    assert not any(k == "swe" for k, _ in keys("SW12 8AB", sector="other"))


@pytest.mark.parametrize(
    ("identifier", "organisation"),
    [("PC 4521", "Metropolitan Police"), ("pc4521", "the Met"), ("PC 4521 (Met)", None),
     ("MPS collar number 4521", None), ("shoulder no. 4521, Metropolitan Police Service", None),
     ("4521", "Met Police, Hackney"), ("Officer 4521", "MPS")],
)  # fmt: skip
def test_police_numbers_with_their_force(identifier: str, organisation: str | None) -> None:
    found = keys(identifier, organisation, "police officer", "policing")
    assert ("police", "Metropolitan Police Service|4521") in found


def test_a_police_number_without_a_force_matches_nothing() -> None:
    assert not any(k == "police" for k, _ in keys("PC 4521", None, "police officer", "policing"))


def test_the_same_number_in_two_forces_is_two_officers() -> None:
    a = keys("PC 4521", "Kent Police", "police officer", "policing")
    b = keys("PC 4521", "Essex Police", "police officer", "policing")
    assert not {k for k in a if k[0] == "police"} & {k for k in b if k[0] == "police"}


@pytest.mark.parametrize(
    ("text", "force"),
    [("Met", "Metropolitan Police Service"), ("Metropolitan Police", "Metropolitan Police Service"),
     ("MPS", "Metropolitan Police Service"), ("the met police", "Metropolitan Police Service"),
     ("GMP", "Greater Manchester Police"),
     ("Greater Manchester Police", "Greater Manchester Police"),
     ("West Yorkshire Police", "West Yorkshire Police"), ("WYP", "West Yorkshire Police"),
     ("Avon & Somerset Constabulary", "Avon and Somerset Constabulary"),
     ("Police Scotland", "Police Scotland"), ("PSNI", "Police Service of Northern Ireland"),
     ("British Transport Police", "British Transport Police"), ("Kent", None),
     ("a GP surgery", None)],
)  # fmt: skip
def test_force_names_become_one(text: str, force: str | None) -> None:
    assert force_of(text) == force


@pytest.mark.parametrize(
    "spelling",
    ["Dr John Smith", "dr. john smith", "JOHN  SMITH", "Mr John Smith", "Prof. John Smith"],
)
def test_names_ignore_titles_case_and_spacing(spelling: str) -> None:
    assert name_key(spelling) == "john smith"


def test_names_ignore_accents_and_police_titles() -> None:
    assert name_key("Nurse José Álvarez") == "jose alvarez"
    assert name_key("Sgt O'Brien") == "obrien"
    assert name_key("PC Jones") == "jones"


@pytest.mark.parametrize(
    "text",
    ["unknown", "refused to give name", "the tall one at the desk", "didn't get it", "", "J"],
)
def test_descriptions_are_not_names(text: str) -> None:
    assert name_key(text) is None


def test_a_name_is_possible_and_a_number_same() -> None:
    found = named_in("Dr John Smith GMC 1234567", "Riverside Surgery", "GP", "healthcare")
    strengths = {p.kind: p.strength for p in found}
    assert strengths == {"gmc": "same", "name": "possible", "organisation-role": "possible"}
    assert "Smith" not in repr(found[0])
    assert "1234567" not in repr(found)


def test_names_match_only_within_a_sector() -> None:
    a = keys("John Smith", None, "GP", "healthcare")
    b = keys("John Smith", None, "officer", "policing")
    assert not a & b


def test_organisations_generic_ones_left_out() -> None:
    assert organisation_key("The Riverside Surgery") == organisation_key("riverside surgery")
    assert organisation_key("a GP surgery") is None
    assert organisation_key("Met Police") == organisation_key("Metropolitan Police Service")
    assert organisation_key("") is None


@pytest.mark.parametrize("role", ["not known", "Not known", "unknown", "don't know", "not sure"])
def test_a_role_the_reporter_does_not_know_names_nobody_at_the_organisation(role: str) -> None:
    assert keys(None, "Riverside Surgery", role, "healthcare") == set()
    assert keys(None, "Riverside Surgery", "GP", "healthcare") != set()
