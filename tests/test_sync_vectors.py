"""The vectors of a team of laptops (tests/vectors/sync-v1.json), read by docs/sync.md alone.

The reader here is written from ``docs/sync.md`` section 10 (and the conventions of
``docs/format.md``) with PyNaCl and hashlib and nothing from the ``vault`` package: it must
accept every positive vector, giving the recorded values, and refuse every negative one at
the step, or for the reason, the vector names. The vault's own code is checked against the
same vectors, and the generator must reproduce the file byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import pytest
from nacl.signing import VerifyKey

VECTOR_DIR = Path(__file__).parent / "vectors"
V: dict[str, Any] = json.loads((VECTOR_DIR / "sync-v1.json").read_text("utf-8"))
ORIGIN = re.compile(r"vault\.redress/[0-9a-f]{32}")
ZEROS = "0" * 64


class Refused(Exception):
    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


def canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def key_id(sign_pk: bytes) -> str:
    return hashlib.sha256(b"redress caseworker key id v1\x00" + sign_pk).digest()[:8].hex()


def verifies(signature: bytes, context: bytes, body: bytes, sign_pk: bytes) -> bool:
    try:
        VerifyKey(sign_pk).verify(context + b"\x00" + body, signature)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


# --- the join request ---------------------------------------------------------------------


def fingerprint(sign_pk: bytes, box_pk: bytes) -> str:
    h = hashlib.sha256(b"redress caseworker fingerprint v1\x00")
    for part in (sign_pk, box_pk):
        h.update(len(part).to_bytes(8, "big") + part)
    digest = h.digest()[:16].hex()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def read_join_request(data: str) -> dict[str, Any]:
    doc = json.loads(data)
    fields = {"kind", "v", "name", "sign_pk", "box_pk", "origin", "fingerprint", "signature"}
    if set(doc) != fields or doc["kind"] != "redress join request" or doc["v"] != 1:
        raise Refused("form")
    signed = canonical({k: v for k, v in doc.items() if k not in ("fingerprint", "signature")})
    sign_pk, box_pk = unb64(doc["sign_pk"]), unb64(doc["box_pk"])
    if not verifies(unb64(doc["signature"]), b"redress join request v1", signed, sign_pk):
        raise Refused("signature")
    return {**doc, "fingerprint": fingerprint(sign_pk, box_pk), "signed": signed}


def test_the_join_request_verifies_and_its_fingerprint_is_recomputed() -> None:
    vector = V["join_request"]
    request = read_join_request(vector["file"])
    assert request["fingerprint"] == vector["fingerprint"]
    assert json.loads(vector["file"])["fingerprint"] == vector["fingerprint"]
    assert (b"redress join request v1\x00" + request["signed"]).hex() == vector["signed_message"]
    bea = V["keys"]["bea"]
    assert (request["name"], request["sign_pk"], request["box_pk"], request["origin"]) == (
        "bea",
        bea["sign_pk"],
        bea["box_pk"],
        bea["origin"],
    )
    changed = json.loads(vector["file"]) | {"name": "bee"}
    with pytest.raises(Refused, match="signature"):
        read_join_request(json.dumps(changed))


# --- the team chain -----------------------------------------------------------------------


@dataclass
class Team:
    epoch: int
    public_key: str
    members: dict[str, tuple[str, bytes]]  # key id -> (name, sign_pk)
    head: str
    n: int = 0
    revoked: set[str] = field(default_factory=set)
    applied: set[str] = field(default_factory=set)
    origins: set[str] = field(default_factory=set)


def start(team_key_file: str) -> Team:
    doc = json.loads(team_key_file)
    people = [[c["name"], c["sign_pk"]] for c in doc["caseworkers"]]
    start_json = {
        "kind": "redress team start",
        "epoch": doc["epoch"],
        "public_key": doc["public_key"],
        "caseworkers": people,
        "origin": doc.get("log_origin"),
    }
    members = {key_id(unb64(pk)): (name, unb64(pk)) for name, pk in people}
    origins = {doc["log_origin"]} if doc.get("log_origin") else set()
    head = hashlib.sha256(canonical(start_json)).hexdigest()
    return Team(doc["epoch"], doc["public_key"], members, head, origins=origins)


def apply(team: Team, wire: dict[str, str]) -> None:
    """The team after the statement (in place), or Refused naming the reason."""
    body, signature = unb64(wire["body"]), unb64(wire["signature"])
    try:
        doc = json.loads(body)
    except ValueError:
        raise Refused("malformed") from None
    change = doc.get("change")
    wanted = {"v", "kind", "n", "prev", "change", "by", "day"} | {
        "add": {"member"},
        "revoke": {"member", "epoch"},
        "rotate": {"epoch"},
    }.get(change, set())
    if canonical(doc) != body or set(doc) != wanted or doc["kind"] != "redress team change":
        raise Refused("malformed")
    digest = hashlib.sha256(body).hexdigest()
    if digest in team.applied:
        raise Refused("duplicate")
    if doc["n"] != team.n + 1 or doc["prev"] != team.head:
        raise Refused("out-of-order")
    if doc["by"] not in team.members:
        raise Refused("not-a-member")
    if not verifies(signature, b"redress team change v1", body, team.members[doc["by"]][1]):
        raise Refused("signature")
    if change == "add":
        m = doc["member"]
        sign_pk = unb64(m["sign_pk"])
        names = {name for name, _ in team.members.values()}
        if m["name"] in names or key_id(sign_pk) in team.revoked or m["origin"] in team.origins:
            raise Refused("not-allowed")
        team.members[key_id(sign_pk)] = (m["name"], sign_pk)
        team.origins.add(m["origin"])
    else:
        if doc["epoch"]["n"] != team.epoch + 1:
            raise Refused("not-allowed")
        if change == "revoke":
            gone = key_id(unb64(doc["member"]["sign_pk"]))
            if gone not in team.members or len(team.members) == 1:
                raise Refused("not-allowed")
            del team.members[gone]
            team.revoked.add(gone)
        team.epoch, team.public_key = doc["epoch"]["n"], doc["epoch"]["public_key"]
    team.n, team.head = doc["n"], digest
    team.applied.add(digest)


def test_the_team_chain_follows_from_its_start() -> None:
    chain = V["team_chain"]
    team = start(chain["start"]["team_key_file"])
    assert team.head == chain["start"]["start_hash"]
    assert hashlib.sha256(canonical(chain["start"]["start_json"])).hexdigest() == team.head
    for statement in chain["statements"]:
        body = unb64(statement["wire"]["body"])
        assert body.decode() == statement["body"]
        assert (b"redress team change v1\x00" + body).hex() == statement["signed_message"]
        assert hashlib.sha256(body).hexdigest() == statement["hash"]
        apply(team, statement["wire"])
    after = chain["after"]
    assert team.epoch == after["epoch"]
    assert sorted(name for name, _ in team.members.values()) == after["members"]
    assert sorted(team.revoked) == after["revoked"]
    assert team.public_key == V["keys"]["team_keys"][2]["public_key"]


@pytest.mark.parametrize(
    "vector", V["refused_statements"], ids=[v["name"] for v in V["refused_statements"]]
)
def test_a_statement_that_does_not_fit_is_refused(vector: dict[str, Any]) -> None:
    chain = V["team_chain"]
    team = start(chain["start"]["team_key_file"])
    for statement in chain["statements"][: vector["after_statements"]]:
        apply(team, statement["wire"])
    with pytest.raises(Refused) as refused:
        apply(team, vector["wire"])
    assert refused.value.step == vector["fails_at"]


# --- relay items --------------------------------------------------------------------------


def read_item(wire: bytes, signers: dict[str, bytes]) -> dict[str, Any]:
    """The item's fields, its form and signature checked (``signers``: origin -> sign_pk)."""
    if len(wire) <= 64:
        raise Refused("form")
    signature, body = wire[:64], wire[64:]
    try:
        doc = json.loads(body)
    except ValueError:
        raise Refused("form") from None
    fields = {"v", "kind", "origin", "n", "prev", "to", "epoch", "sealed"}
    if not isinstance(doc, dict) or set(doc) != fields or canonical(doc) != body:
        raise Refused("form")
    team = doc["to"] == "team"
    if (
        doc["v"] != 1
        or doc["kind"] != "redress sync item"
        or not ORIGIN.fullmatch(doc["origin"])
        or not re.fullmatch(r"[0-9a-f]{64}", doc["prev"])
        or (doc["n"] == 1) != (doc["prev"] == ZEROS)
        or not (team or re.fullmatch(r"[0-9a-f]{16}", doc["to"]))
        or team != (doc["epoch"] > 0)
    ):
        raise Refused("form")
    if not verifies(signature, b"redress sync item v1", body, signers[doc["origin"]]):
        raise Refused("signature")
    return {**doc, "hash": hashlib.sha256(body).hexdigest()}


class Chains:
    """What a receiver holds of each (origin, to) chain: the last number and hash."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], tuple[int, str]] = {}

    def take(self, item: dict[str, Any]) -> bool:
        """True if taken, False if held already (a replay); Refused("chain") otherwise."""
        n, head = self.held.get((item["origin"], item["to"]), (0, ZEROS))
        if item["n"] <= n:
            if item["n"] == n and item["hash"] != head:
                raise Refused("chain")  # forked
            return False
        if item["n"] != n + 1 or item["prev"] != head:
            raise Refused("chain")  # dropped, or reordered or changed
        self.held[(item["origin"], item["to"])] = (item["n"], item["hash"])
        return True


def signers() -> dict[str, bytes]:
    amara = V["keys"]["amara"]
    return {amara["origin"]: unb64(amara["sign_pk"])}


def open_content(item: dict[str, Any]) -> Any:
    keys = V["keys"]
    if item["to"] == "team":
        (team,) = [k for k in keys["team_keys"] if k["epoch"] == item["epoch"]]
        pk, sk = unb64(team["public_key"]), unb64(team["secret_key"])
    else:
        assert item["to"] == keys["bea"]["key_id"]
        pk, sk = unb64(keys["bea"]["box_pk"]), unb64(keys["bea"]["box_sk"])
    return json.loads(sodium.crypto_box_seal_open(unb64(item["sealed"]), pk, sk))


def test_items_verify_chain_and_open() -> None:
    chains = Chains()
    for vector in V["items"]:
        wire = unb64(vector["wire"])
        assert wire == unb64(vector["signature"]) + vector["body"].encode()
        item = read_item(wire, signers())
        assert (b"redress sync item v1\x00" + wire[64:]).hex() == vector["signed_message"]
        assert item["hash"] == vector["hash"]
        assert chains.take(item)
        assert open_content(item) == vector["content"]
        assert not chains.take(item)  # the same item again is held already: skipped


@pytest.mark.parametrize("vector", V["refused_items"], ids=[v["name"] for v in V["refused_items"]])
def test_an_item_that_fails_is_refused_at_its_step(vector: dict[str, Any]) -> None:
    chains = Chains()
    for n in vector["held"]:
        (held,) = [v for v in V["items"] if json.loads(v["body"])["n"] == n and "team" in v["body"]]
        chains.take(read_item(unb64(held["wire"]), signers()))
    with pytest.raises(Refused) as refused:
        chains.take(read_item(unb64(vector["wire"]), signers()))
    assert refused.value.step == vector["fails_at"]


# --- the vault's own code, and the generator ------------------------------------------------


def test_the_vaults_code_reads_the_same_vectors() -> None:
    from vault import join_request, relay_items, team_changes
    from vault.errors import IntegrityError
    from vault.keys import TeamPublicKey

    request = join_request.read_request(V["join_request"]["file"].encode())
    assert request.fingerprint == V["join_request"]["fingerprint"]
    chain = V["team_chain"]
    key = TeamPublicKey.from_file_bytes(chain["start"]["team_key_file"].encode())
    team = team_changes.follow(
        team_changes.Team.start(key),
        [team_changes.Statement.from_wire(s["wire"]) for s in chain["statements"]],
    )
    assert (team.epoch, [m.name for m in team.members]) == (3, ["amara"])
    for refused in V["refused_statements"]:
        before = team_changes.follow(
            team_changes.Team.start(key),
            [
                team_changes.Statement.from_wire(s["wire"])
                for s in chain["statements"][: refused["after_statements"]]
            ],
        )
        with pytest.raises(team_changes.TeamChangeError) as why:
            team_changes.apply(before, team_changes.Statement.from_wire(refused["wire"]))
        assert why.value.reason == refused["fails_at"]
    amara_pk = unb64(V["keys"]["amara"]["sign_pk"])
    for vector in V["items"]:
        item = relay_items.parse_item(unb64(vector["wire"]))
        relay_items.check_signature(item, amara_pk)
        assert item.hash == vector["hash"]
    one = relay_items.parse_item(unb64(V["items"][0]["wire"]))

    def taken(wire: bytes) -> None:
        item = relay_items.parse_item(wire)
        relay_items.check_signature(item, amara_pk)
        relay_items.check_next(relay_items.Received(1, one.hash), item, one.hash)

    for vector in V["refused_items"]:
        assert vector["held"] == [1]
        with pytest.raises(IntegrityError):
            taken(unb64(vector["wire"]))


def test_the_generator_reproduces_the_file() -> None:
    path = VECTOR_DIR / "generate_sync.py"
    spec = importlib.util.spec_from_file_location("_vectors_generate_sync", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    assert module.render() == (VECTOR_DIR / "sync-v1.json").read_bytes()
