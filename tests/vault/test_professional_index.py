"""The index of who each report names (vault/professional_index.py), on real vault files: what
it keeps, that it keeps no identifier, that each vault keys it differently, and that
``vault check`` compares it with the reports."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import PASSPHRASE, make_report, seal_for
from vault import _crypto, incoming, membership, patterns, professional_index
from vault.check import check_vault
from vault.professional_index import FACT
from vault.professionals import named_in
from vault.store import Vault

IDENTIFIER = "Dr Jane Doe GMC 7654321"


def store(vault: Vault, **fields: object) -> str:
    report = make_report(**fields)
    (case_id,) = incoming.import_envelopes(vault, [("r", seal_for(vault, report))]).imported
    return case_id


def every_index_value(vault: Vault) -> bytes:
    rows = vault.db.execute("SELECT key, case_id, kind, strength FROM professionals_named")
    return b" ".join(v if isinstance(v, bytes) else str(v).encode() for r in rows for v in r)


def test_each_way_a_report_names_someone_is_one_keyed_row(vault: Vault) -> None:
    a = store(vault, professional_identifier=IDENTIFIER, organisation="Riverside Surgery")
    b = store(vault, professional_identifier="jane doe, gmc no. 7654 321", organisation="x")
    c = store(vault, professional_identifier="unknown", organisation="a clinic")
    mine = {n.kind: n for n in professional_index.named_by(vault.db, a)}
    theirs = {n.kind: n for n in professional_index.named_by(vault.db, b)}
    assert set(mine) == {"gmc", "name", "organisation-role"}
    assert mine["gmc"] == theirs["gmc"]  # the same number, spelt two ways: the same key
    assert mine["gmc"].strength == "same"
    assert mine["name"].key == theirs["name"].key
    assert mine["name"].strength == "possible"
    assert mine["organisation-role"].key != theirs["organisation-role"].key
    assert professional_index.named_by(vault.db, c) == ()  # names nobody, but indexed
    assert professional_index.indexed(vault.db) == 3
    assert professional_index.missing(vault) == 0


def test_the_index_holds_no_identifier_and_no_plain_hash_of_one(vault: Vault) -> None:
    store(vault, professional_identifier=IDENTIFIER, organisation="Riverside Surgery")
    kept = every_index_value(vault)
    for p in named_in(IDENTIFIER, "Riverside Surgery", "GP", "healthcare"):
        for text in (p.key, p.shown, f"{p.kind}\n{p.key}"):
            assert text.encode() not in kept
            assert hashlib.sha256(text.encode()).digest() not in kept
    for word in (b"7654321", b"7654", b"jane", b"Jane", b"riverside"):
        assert word not in kept


def test_each_vault_keys_its_index_with_its_own_secret(tmp_path: Path) -> None:
    keys = []
    for name in ("one", "two"):
        with Vault.create(tmp_path / name, "amara", PASSPHRASE) as vault:
            case_id = store(vault, professional_identifier="GMC 7654321")
            secret = professional_index.secret(vault)
            assert len(secret) == 32
            assert "7654321" not in repr(secret)
            (gmc,) = [n for n in professional_index.named_by(vault.db, case_id) if n.kind == "gmc"]
            keys.append(gmc.key)
    assert keys[0] != keys[1]


def test_keyed_hash_is_hmac_sha256_separated_by_purpose() -> None:
    import hmac

    key = _crypto.SecretBytes(bytes(range(32)))
    want = hmac.new(bytes(range(32)), b"purpose\x00data", hashlib.sha256).digest()
    assert _crypto.keyed_hash(key, "purpose", b"data") == want
    assert _crypto.keyed_hash(key, "other", b"data") != want


def test_a_pulled_case_is_indexed_in_the_transaction_that_stores_it(vault: Vault) -> None:
    envelopes = [
        (str(n), seal_for(vault, make_report(professional_identifier="NMC 12A3456E")))
        for n in range(2)
    ]
    pulled = incoming.store_pulled(vault, envelopes)
    assert len(pulled.imported) == 2
    keys = [
        {n.key for n in professional_index.named_by(vault.db, c) if n.kind == "nmc"}
        for c in pulled.imported
    ]
    assert keys[0] == keys[1] != set()


def test_check_names_a_case_whose_index_does_not_match_its_report(vault: Vault) -> None:
    a = store(vault, professional_identifier="GMC 7654321")
    b = store(vault, professional_identifier="GMC 1111111")
    assert check_vault(vault) == []
    with vault.transaction() as db:  # the index says b names a's doctor
        db.execute(
            "UPDATE professionals_named SET key = (SELECT key FROM professionals_named"
            " WHERE case_id = ? AND kind = 'gmc') WHERE case_id = ? AND kind = 'gmc'",
            (a, b),
        )
    assert check_vault(vault) == [
        f"case {b[:4]}-{b[4:]}: the professionals indexed for it do not match its report"
    ]


SPELLINGS = [
    "GMC 7654321",
    "gmc no. 7654 321",
    "7654-321",
    "GMC 1234567",
    "NMC 12A3456E",
    "12 a 3456 e",
    "PC 4521 Kent Police",
    "pc4521 (kent police)",
    "Dr Jane Doe",
    "jane  DOE",
    "John Smith",
    "unknown",
]


@given(st.sampled_from(SPELLINGS), st.sampled_from(SPELLINGS), st.binary(min_size=32, max_size=32))
def test_keys_are_equal_exactly_when_the_normalised_identifiers_are(
    one: str, two: str, secret: bytes
) -> None:
    index_key = _crypto.SecretBytes(secret)
    for a in named_in(one, None, None, "healthcare"):
        for b in named_in(two, None, None, "healthcare"):
            same = (a.kind, a.key) == (b.kind, b.key)
            assert (
                professional_index.key_of(index_key, a) == professional_index.key_of(index_key, b)
            ) == same


def test_the_secret_is_made_with_the_first_case_sealed_to_the_team_key(vault: Vault) -> None:
    def fact() -> list[str]:
        rows = vault.db.execute("SELECT value FROM vault_facts WHERE name = ?", (FACT,))
        return [str(v) for (v,) in rows]

    assert fact() == []  # no case yet: no secret
    a = store(vault, professional_identifier="GMC 7654321")
    (value,) = fact()
    secret = professional_index.secret(vault)
    assert value.startswith("1 ")  # the team key epoch it is sealed to
    assert secret.reveal().hex() not in value  # sealed: the database key alone does not open it
    membership.rotate_team_key(vault)  # a new epoch: the secret stays, sealed to epoch 1
    b = store(vault, professional_identifier="gmc 7654-321")
    assert fact() == [value]
    assert professional_index.secret(vault) == secret
    assert {c for g in patterns.find_patterns(vault).groups for c in g.cases} == {a, b}
    assert check_vault(vault) == []
