"""Hostile bodies from a caseworker's key: every one is a 4xx, never a 500 (issue 16, F4).

Against a real intake on loopback. A caseworker's key is needed for these requests, so
the attacker here is a stolen laptop or a confused client, not a stranger: still, the
intake must answer each with a plain refusal and keep serving.
"""

from __future__ import annotations

import pytest

from tests.intake_server import IntakeServers
from tests.vault.intake.conftest import Intake, IntakeFactory, Team
from vault import _crypto
from vault.audit.signed_note import Checkpoint, NoteSigner, sign_checkpoint
from vault.keys import TeamPublicKey

DEEP = 2000


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b'{"envelopes": ' + b"[" * depth + inner + b"]" * depth + b"}"


@pytest.mark.parametrize("path", ["/api/ack", "/api/replies", "/api/pull"])
@pytest.mark.parametrize(
    "body",
    [
        nested(DEEP),
        b"[" * DEEP + b"]" * DEEP,
        b'{"replies": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}",
        b'{"limit": ' + b"9" * 5000 + b"}",  # beyond Python's int-from-text limit
        b'{"limit": 1e999, "envelopes": [1e999], "replies": [NaN]}',
        b'{"limit": -18446744073709551616, "envelopes": [18446744073709551616], '
        b'"replies": [18446744073709551616]}',
    ],
    ids=["nested-object", "nested-list", "nested-dict", "long-int", "huge-float", "int64"],
)
def test_deep_or_huge_json_is_400(shared_intake: Intake, path: str, body: bytes) -> None:
    response = shared_intake.signed("POST", path, body)
    # /api/pull takes at most 1 KiB, so the longer ones are refused for their size.
    too_long = path == "/api/pull" and len(body) > 1024
    expected = (413, "too-large") if too_long else (400, "malformed")
    assert (response.status_code, response.json()["error"]) == expected, (path, response.text)


def test_the_intake_still_serves_after_hostile_json(shared_intake: Intake) -> None:
    for path in ("/api/ack", "/api/replies"):
        assert shared_intake.signed("POST", path, nested(DEEP)).status_code == 400
    assert shared_intake.pull()["envelopes"] == []


# --- the witness: sizes beyond what the inbox can store ----------------------------------


@pytest.fixture
def witnessed(intake_servers: IntakeServers, team: Team) -> tuple[Intake, NoteSigner]:
    """An intake witnessing one log, signed by a caseworker key we hold."""
    origin = "vault.redress/" + _crypto.random_bytes(16).hex()
    signer = NoteSigner.from_seed(origin, _crypto.SecretBytes(_crypto.random_bytes(32)))
    public = TeamPublicKey(
        team.keys.epoch,
        team.keys.public_key,
        (("amara", signer.verifier.public_key),),
        origin=origin,
    )
    factory = IntakeFactory(intake_servers, team)
    factory.team_key_file.write_bytes(public.to_file_bytes())
    return factory(), signer


def add_checkpoint(intake: Intake, signer: NoteSigner, old: int, size: int) -> tuple[int, str]:
    note = sign_checkpoint(Checkpoint(signer.name, size, bytes(32)), signer)
    body = f"old {old}\n\n{note}".encode()
    response = intake.client.post("/witness/add-checkpoint", content=body)
    return response.status_code, response.text


def test_a_checkpoint_size_beyond_int64_is_400(witnessed: tuple[Intake, NoteSigner]) -> None:
    intake, signer = witnessed
    for old, size in [
        (0, 2**63),
        (0, 2**64 + 5),
        (0, 10**20 - 1),  # the most digits a size may have
        (2**63, 2**63),
        (10**20 - 1, 10**20 - 1),
    ]:
        assert add_checkpoint(intake, signer, old, size) == (400, "malformed request\n"), size
    # and nothing was remembered: the first real checkpoint is taken from size 0
    assert add_checkpoint(intake, signer, 0, 7)[0] == 200


def test_the_largest_storable_size_is_cosigned(witnessed: tuple[Intake, NoteSigner]) -> None:
    intake, signer = witnessed
    status, text = add_checkpoint(intake, signer, 0, 2**63 - 1)
    assert status == 200, text
    assert text.startswith("— witness.redress/")
    assert add_checkpoint(intake, signer, 0, 5) == (409, f"{2**63 - 1}\n")
