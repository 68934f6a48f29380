"""The team's bundle (``redress-team-audit-bundle/1``) against its vectors, in process.

``tests/vectors/team-audit-bundle-v1.json`` (written by ``generate_team_audit_bundle.py``, which
records what the real ``vault audit verify`` says) must still be what the verifier says: each
sound vector verifies and names the same laptops and actions; each tampered one is refused with
the same message. A one-laptop bundle is not taken for a team's, nor the other way round.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vault.audit import bundle
from vault.audit.team_verify import verify_team
from vault.audit.verify import verify

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
TEAM = json.loads((VECTORS / "team-audit-bundle-v1.json").read_text("utf-8"))


@pytest.mark.parametrize("vector", TEAM["vectors"], ids=lambda v: v["name"])
def test_each_team_vector_gives_what_it_records(vector: dict[str, Any]) -> None:
    data = vector["bundle"].encode("utf-8")
    if vector["exit_code"] != 0:
        with pytest.raises(bundle.BundleError) as refused:
            verify_team(data)
        assert str(refused.value) == vector["message"]
        return
    result = verify_team(data)
    shown = [
        {
            "name": lap.name,
            "origin": lap.origin,
            "revoked": lap.revoked,
            "stale": lap.stale,
            "witnessed_elsewhere": lap.witnessed_elsewhere,
            "actions": lap.log and {k: dict(v) for k, v in lap.log.by_actor.items()},
        }
        for lap in result.laptops
    ]
    assert shown == vector["laptops"]


def test_a_team_bundle_and_a_one_log_bundle_are_not_taken_for_each_other() -> None:
    team = TEAM["vectors"][0]["bundle"].encode("utf-8")
    one = json.loads((VECTORS / "audit-bundle-v2.json").read_text("utf-8"))["sound"][0]["bundle"]
    with pytest.raises(bundle.BundleError, match="covers a team of laptops"):
        verify(team)
    with pytest.raises(bundle.BundleError, match="one laptop's log"):
        verify_team(one.encode("utf-8"))


def test_a_team_bundle_reencodes_byte_for_byte() -> None:
    for vector in TEAM["vectors"]:
        data = vector["bundle"].encode("utf-8")
        assert bundle.encode_team(bundle.parse_team(data)) == data
