"""A new caseworker's join request: their public keys, signed, with a fingerprint to read out."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.errors import VaultError
from vault.join_request import JoinRequestError, make_request, read_request
from vault.keys import Identity

ORIGIN = "vault.redress/" + "b" * 32


def test_a_request_reads_back_with_the_same_fingerprint() -> None:
    bea = Identity.generate("bea")
    data = make_request(bea, ORIGIN)
    request = read_request(data)
    assert (request.name, request.sign_pk, request.box_pk, request.origin) == (
        "bea",
        bea.public.sign_pk,
        bea.public.box_pk,
        ORIGIN,
    )
    assert json.loads(data)["fingerprint"] == request.fingerprint
    assert len(request.fingerprint.split()) == 8


def test_the_file_holds_nothing_secret() -> None:
    bea = Identity.generate("bea")
    data = make_request(bea, ORIGIN)
    for secret in (bea.sign_seed.reveal(), bea.box_sk.reveal()):
        assert secret not in data
        assert secret.hex().encode() not in data


@pytest.mark.parametrize("field", ["name", "sign_pk", "box_pk", "origin"])
def test_a_changed_field_is_refused(field: str) -> None:
    bea, eve = Identity.generate("bea"), Identity.generate("eve")
    doc = json.loads(make_request(bea, ORIGIN))
    other = json.loads(make_request(eve, "vault.redress/" + "e" * 32))
    doc[field] = other[field]
    with pytest.raises(JoinRequestError, match="changed since it was made") as refused:
        read_request(json.dumps(doc).encode())
    assert refused.value.exit_code == 4  # tampering detected


def test_a_fingerprint_in_the_file_is_never_trusted() -> None:
    bea = Identity.generate("bea")
    doc = json.loads(make_request(bea, ORIGIN))
    real = read_request(json.dumps(doc).encode()).fingerprint
    doc["fingerprint"] = "0000 " * 7 + "0000"
    assert read_request(json.dumps(doc).encode()).fingerprint == real


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_any_other_file_is_one_plain_refusal(data: bytes) -> None:
    with pytest.raises(VaultError) as refused:
        read_request(data)
    assert isinstance(refused.value, JoinRequestError)
    assert refused.value.exit_code == 4
