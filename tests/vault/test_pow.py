"""The proof of work (docs/intake.md section 2), checked against hashlib directly."""

from __future__ import annotations

import hashlib
import os

import pytest

from vault import pow as pow_


@pytest.mark.parametrize("bits", [0, 1, 4, 8, 9, 12])
def test_solutions_meet_the_spec(bits: int) -> None:
    challenge = os.urandom(36)
    n = pow_.solve(challenge, bits)
    digest = hashlib.sha256(b"redress pow v1\x00" + challenge + n.to_bytes(8, "big")).digest()
    assert int.from_bytes(digest, "big") >> (256 - bits) == 0
    assert pow_.meets(challenge, n, bits)
    for smaller in range(n):  # the solver finds the first solution
        assert not pow_.meets(challenge, smaller, bits)


def test_leading_zero_bits() -> None:
    assert pow_.leading_zero_bits(b"\x80") == 0
    assert pow_.leading_zero_bits(b"\x01") == 7
    assert pow_.leading_zero_bits(b"\x00\x10") == 11
    assert pow_.leading_zero_bits(bytes(4)) == 32


def test_header_round_trip_and_refusals() -> None:
    challenge = os.urandom(36)
    value = pow_.header_value(challenge, 0x1234)
    assert value.endswith(".0000000000001234")
    assert "=" not in value
    assert pow_.parse_header_value(value) == (challenge, 0x1234)
    for bad in ("", "abc", value + "0", value.replace(".", ""), "!" * 48 + ".0000000000000000"):
        with pytest.raises(ValueError, match="not a"):
            pow_.parse_header_value(bad)
    with pytest.raises(ValueError, match="not a challenge"):
        pow_.decode_challenge(pow_.encode_challenge(os.urandom(35)))
    assert not pow_.meets(challenge, -1, 0)
    assert not pow_.meets(challenge, 1 << 64, 0)
    with pytest.raises(ValueError, match="out of range"):
        pow_.solve(challenge, 33)
