"""Write the test vectors of a team of laptops: ``tests/vectors/sync-v1.json``.

Run it from the repository root::

    .venv/bin/python tests/vectors/generate_sync.py           # rewrite the vectors file
    .venv/bin/python tests/vectors/generate_sync.py --check   # exit 1 if out of date

``docs/sync.md`` section 10 is the specification: a join request, the team chain (its start
and three statements: bea added, the team key rotated, bea revoked) and a laptop's relay
items (two in its chain to the team, one in its chain to bea), with the secret keys that open
them; then items and statements a reader must refuse, each with the step that refuses it.
Every key comes from a fixed label and Ed25519 is deterministic; the sealed boxes
(``crypto_box_seal`` picks a random ephemeral key) are built by hand from fixed ephemeral
seeds, so the file is the same byte for byte each time. Before writing, the generator checks
that the vault's own code (``vault.join_request``, ``vault.team_changes``,
``vault.relay_items``) accepts every positive vector and refuses every negative one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import nacl.bindings as sodium

from vault import join_request, relay_items, team_changes
from vault._crypto import SecretBytes
from vault.errors import IntegrityError
from vault.keys import Identity, TeamPublicKey
from vault.report import canonical_json

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "sync-v1.json"
DAY = "2026-12-06"


def fixed(label: str) -> bytes:
    return hashlib.sha256(f"redress test vector {label}".encode()).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def person(name: str) -> Identity:
    return Identity.from_secrets(
        name,
        SecretBytes(fixed(f"sync {name} signing seed")),
        SecretBytes(fixed(f"sync {name} box")),
    )


AMARA, BEA = person("amara"), person("bea")
ORIGIN_A = "vault.redress/" + fixed("sync amara origin")[:16].hex()
ORIGIN_B = "vault.redress/" + fixed("sync bea origin")[:16].hex()
TEAM_SK = {e: fixed(f"sync team key epoch {e}") for e in (1, 2, 3)}
TEAM_PK = {e: bytes(sodium.crypto_scalarmult_base(sk)) for e, sk in TEAM_SK.items()}
REPLY_ID = fixed("sync reply")[:16].hex()


def sealed_box(plain: bytes, to_pk: bytes, to_sk: bytes, label: str) -> bytes:
    """crypto_box_seal of ``plain`` to ``to_pk``, from a fixed ephemeral seed."""
    epk, esk = sodium.crypto_box_seed_keypair(fixed(f"sync ephemeral seed {label}"))
    nonce = hashlib.blake2b(epk + to_pk, digest_size=24).digest()
    sealed = epk + sodium.crypto_box(plain, nonce, to_pk, esk)
    assert sodium.crypto_box_seal_open(sealed, to_pk, to_sk) == plain
    return sealed


def keys() -> dict[str, Any]:
    def who(identity: Identity, origin: str) -> dict[str, Any]:
        public = identity.public
        return {
            "name": public.name,
            "sign_seed": b64(identity.sign_seed.reveal()),
            "sign_pk": b64(public.sign_pk),
            "key_id": identity.key_id,
            "box_sk": b64(identity.box_sk.reveal()),
            "box_pk": b64(public.box_pk),
            "origin": origin,
        }

    return {
        "amara": who(AMARA, ORIGIN_A),
        "bea": who(BEA, ORIGIN_B),
        "team_keys": [
            {"epoch": e, "secret_key": b64(TEAM_SK[e]), "public_key": b64(TEAM_PK[e])}
            for e in (1, 2, 3)
        ],
    }


def the_join_request() -> dict[str, Any]:
    data = join_request.make_request(BEA, ORIGIN_B)
    read = join_request.read_request(data)
    assert (read.name, read.origin) == ("bea", ORIGIN_B)
    doc = json.loads(data)
    signed = canonical_json({k: v for k, v in doc.items() if k not in ("fingerprint", "signature")})
    return {
        "file": data.decode(),
        "signed_message": (join_request.CONTEXT + signed).hex(),
        "fingerprint": read.fingerprint,
    }


def start_key() -> TeamPublicKey:
    return TeamPublicKey(1, TEAM_PK[1], (("amara", AMARA.public.sign_pk),), ORIGIN_A)


def the_chain() -> tuple[dict[str, Any], list[team_changes.Statement]]:
    key = start_key()
    team = team_changes.Team.start(key)
    bea = team_changes.Member("bea", BEA.public.sign_pk, BEA.public.box_pk, ORIGIN_B)
    made: list[tuple[str, team_changes.Statement]] = []
    for description, change, member, epoch in (
        ("amara adds bea (from bea's join request)", "add", bea, None),
        ("amara rotates the team key to epoch 2", "rotate", None, (2, TEAM_PK[2])),
        ("amara revokes bea: team key epoch 3", "revoke", bea, (3, TEAM_PK[3])),
    ):
        statement = team_changes.make_statement(
            team, AMARA, change, DAY, member=member, epoch=epoch
        )
        team = team_changes.apply(team, statement)
        made.append((description, statement))
    assert [m.name for m in team.members] == ["amara"]
    assert team.epoch == 3
    chain = {
        "start": {
            "team_key_file": key.to_file_bytes().decode(),
            "start_json": json.loads(_start_json(key)),
            "start_hash": team_changes.Team.start_hash(key),
        },
        "statements": [
            {
                "description": description,
                "body": s.body.decode(),
                "signed_message": (team_changes.CONTEXT + s.body).hex(),
                "signature": b64(s.signature),
                "hash": s.hash,
                "wire": s.to_wire(),
            }
            for description, s in made
        ],
        "after": {"epoch": team.epoch, "members": ["amara"], "revoked": [BEA.key_id]},
    }
    return chain, [s for _, s in made]


def _start_json(key: TeamPublicKey) -> bytes:
    start = {
        "kind": "redress team start",
        "epoch": key.epoch,
        "public_key": b64(key.public_key),
        "caseworkers": [[name, b64(pk)] for name, pk in key.caseworkers],
        "origin": key.origin,
    }
    body = canonical_json(start)
    assert hashlib.sha256(body).hexdigest() == team_changes.Team.start_hash(key)
    return body


def the_items() -> tuple[list[dict[str, Any]], list[relay_items.Item]]:
    bea_public = BEA.public
    contents: list[tuple[str, str, int, dict[str, Any], str]] = [
        (
            "amara's item 1 to the team: bea's keys and log origin, for the other laptops",
            relay_items.TO_TEAM,
            1,
            {
                "t": "member",
                "name": "bea",
                "sign_pk": b64(bea_public.sign_pk),
                "box_pk": b64(bea_public.box_pk),
                "origin": ORIGIN_B,
            },
            "team 1",
        ),
        (
            "amara's item 2 to the team: a reply delivered",
            relay_items.TO_TEAM,
            1,
            {
                "t": "delivered",
                "replies": [{"id": fixed("sync reply")[:16].hex(), "case": "7KQ2M9XD"}],
            },
            "team 2",
        ),
        (
            "amara's item 1 to bea alone: team key epoch 2 (a rotation, so nobody revoked)",
            BEA.key_id,
            0,
            {
                "t": "epoch",
                "team_key": {
                    "epoch": 2,
                    "public_key": b64(TEAM_PK[2]),
                    "secret_key": b64(TEAM_SK[2]),
                },
                "revoked": None,
            },
            "bea 1",
        ),
    ]
    out: list[dict[str, Any]] = []
    made: list[relay_items.Item] = []
    prev = {relay_items.TO_TEAM: relay_items.FIRST_PREV, BEA.key_id: relay_items.FIRST_PREV}
    n = {relay_items.TO_TEAM: 0, BEA.key_id: 0}
    for description, to, epoch, content, label in contents:
        plain = json.dumps(content, separators=(",", ":")).encode()
        if to == relay_items.TO_TEAM:
            sealed = sealed_box(plain, TEAM_PK[epoch], TEAM_SK[epoch], label)
        else:
            sealed = sealed_box(plain, bea_public.box_pk, BEA.box_sk.reveal(), label)
        n[to] += 1
        item = relay_items.make_item(AMARA, ORIGIN_A, n[to], prev[to], to, epoch, sealed)
        relay_items.check_signature(item, AMARA.public.sign_pk)
        assert relay_items.parse_item(item.to_wire()) == item
        prev[to] = item.hash
        made.append(item)
        out.append(
            {
                "description": description,
                "body": item.body.decode(),
                "signed_message": (relay_items.CONTEXT + item.body).hex(),
                "signature": b64(item.signature),
                "wire": b64(item.to_wire()),
                "hash": item.hash,
                "content": content,
            }
        )
    return out, made


def refused_items(items: list[relay_items.Item]) -> list[dict[str, Any]]:
    one, two, _ = items
    forged = relay_items.make_item(BEA, ORIGIN_A, 2, one.hash, "team", 1, two.sealed)
    not_first = _by_hand(
        AMARA, {**json.loads(two.body), "prev": relay_items.FIRST_PREV}
    )  # make_item refuses it
    other_prev = relay_items.make_item(AMARA, ORIGIN_A, 2, "ab" * 32, "team", 1, two.sealed)
    three = relay_items.make_item(AMARA, ORIGIN_A, 3, two.hash, "team", 1, two.sealed)
    spaced = json.dumps(json.loads(two.body)).encode()  # the same fields, not canonical
    cases: list[tuple[str, str, str, bytes, list[relay_items.Item]]] = [
        (
            "signature",
            "item 2 signed by bea, not by amara, whose laptop it names",
            "signature",
            forged.to_wire(),
            [one],
        ),
        (
            "not-canonical",
            "item 2's body with spaces: not canonical JSON",
            "form",
            AMARA.sign(relay_items.CONTEXT + spaced) + spaced,
            [one],
        ),
        (
            "first-prev",
            "item 1 must name 64 zeros as prev, and only item 1 may",
            "form",
            not_first,
            [one],
        ),
        ("dropped", "item 3 after item 1: item 2 was dropped", "chain", three.to_wire(), [one]),
        (
            "reordered",
            "item 2 whose prev is not item 1's hash",
            "chain",
            other_prev.to_wire(),
            [one],
        ),
        (
            "forked",
            "another item under number 1, the last one held",
            "chain",
            relay_items.make_item(
                AMARA, ORIGIN_A, 1, relay_items.FIRST_PREV, "team", 1, b"y"
            ).to_wire(),
            [one],
        ),
    ]
    out = []
    for name, description, step, wire, held in cases:
        assert _vault_refuses_item(wire, held), name
        out.append(
            {
                "name": name,
                "description": description,
                "fails_at": step,
                "held": [h.n for h in held],
                "wire": b64(wire),
            }
        )
    return out


def _by_hand(by: Identity, doc: dict[str, Any]) -> bytes:
    """The wire of an item with these fields, signed as any is: one make_item would refuse."""
    body = canonical_json(doc)
    return by.sign(relay_items.CONTEXT + body) + body


def _vault_refuses_item(wire: bytes, held: list[relay_items.Item]) -> bool:
    got = relay_items.Received()
    hashes: dict[int, str] = {}
    for item in held:
        relay_items.check_next(got, item)
        got = relay_items.Received(item.n, item.hash)
        hashes[item.n] = item.hash
    try:
        item = relay_items.parse_item(wire)
        relay_items.check_signature(item, AMARA.public.sign_pk)
        relay_items.check_next(got, item, hashes.get(item.n))
    except IntegrityError:
        return True
    return False


def refused_statements(statements: list[team_changes.Statement]) -> list[dict[str, Any]]:
    key = start_key()
    start = team_changes.Team.start(key)
    after_one = team_changes.apply(start, statements[0])
    rotate = json.loads(statements[1].body)
    stranger = person("stranger")
    cases: list[tuple[str, str, str, int, team_changes.Statement]] = []

    def signed(doc: dict[str, Any], by: Identity) -> team_changes.Statement:
        body = canonical_json(doc)
        return team_changes.Statement(body, by.sign(team_changes.CONTEXT + body))

    cases.append(
        (
            "out-of-order",
            "statement 2 applied straight after the start",
            "out-of-order",
            0,
            statements[1],
        )
    )
    bad = bytes(64)
    cases.append(
        (
            "signature",
            "statement 2 with a signature of zeros",
            "signature",
            1,
            replace(statements[1], signature=bad),
        )
    )
    cases.append(
        (
            "not-a-member",
            "statement 2 signed by someone not on the team, naming them as its signer",
            "not-a-member",
            1,
            signed({**rotate, "by": stranger.key_id}, stranger),
        )
    )
    cases.append(
        (
            "epoch-skipped",
            "a rotation to epoch 3 while the team is at epoch 1",
            "not-allowed",
            1,
            signed({**rotate, "epoch": {"n": 3, "public_key": b64(TEAM_PK[3])}}, AMARA),
        )
    )
    out = []
    for name, description, reason, held, statement in cases:
        team = after_one if held == 1 else start
        if _reason_refused(team, statement) != reason:
            raise AssertionError(name)
        out.append(
            {
                "name": name,
                "description": description,
                "fails_at": reason,
                "after_statements": held,
                "wire": statement.to_wire(),
            }
        )
    return out


def _reason_refused(team: team_changes.Team, statement: team_changes.Statement) -> str | None:
    try:
        team_changes.apply(team, statement)
    except team_changes.TeamChangeError as refused:
        return refused.reason
    return None


def build() -> dict[str, Any]:
    chain, statements = the_chain()
    items, made = the_items()
    return {
        "description": "A team of laptops (docs/sync.md section 10): the join request bea's"
        " laptop writes, the team chain (start, then bea added, the team key rotated, bea"
        " revoked), amara's relay items, and items and statements a reader must refuse.",
        "day": DAY,
        "keys": keys(),
        "join_request": the_join_request(),
        "team_chain": chain,
        "items": items,
        "refused_items": refused_items(made),
        "refused_statements": refused_statements(statements),
    }


def render() -> bytes:
    return (json.dumps(build(), indent=2, ensure_ascii=False) + "\n").encode()


def main(argv: list[str]) -> int:
    out = render()
    if argv[1:] == ["--check"]:
        if VECTORS.read_bytes() != out:
            print(f"{VECTORS.name} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print(f"usage: {Path(__file__).name} [--check]", file=sys.stderr)
        return 2
    VECTORS.write_bytes(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
