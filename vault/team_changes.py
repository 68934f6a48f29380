"""Who is on the team: a chain of signed statements, each made by a current member.

The relay (the intake) and every laptop must agree on who may sync, and which team key
reporters seal to, without anyone restarting anything. Both follow one chain:

* it **starts** from the team key file the intake was started with (``vault team-key
  export``): its epoch, public key and caseworkers;
* each **statement** adds a caseworker (with the keys and the log origin of their laptop),
  revokes one (and names the new team key epoch that replaces the one they held), or moves
  the team key to a new epoch;
* each is **signed by a current member**, names the statement before it by hash, and counts
  up by one, so a statement cannot be dropped, replayed or reordered without the next one
  failing to fit.

Statement bodies are canonical JSON (sorted keys, no spaces, UTF-8)::

    {"v": 1, "kind": "redress team change", "n": N, "prev": <hex SHA-256>,
     "change": "add" | "revoke" | "rotate", "by": <key id>, "day": "YYYY-MM-DD",
     "member": {"name", "sign_pk", "box_pk", "origin"},     # add
     "member": {"name", "sign_pk"},                           # revoke
     "epoch": {"n": E, "public_key": <base64>}}               # revoke, rotate

signed with Ed25519 over ``"redress team change v1" || 0x00 || body``. ``prev`` of the first
statement is the hash of the start (:meth:`Team.start_hash`); of every other, the SHA-256 of
the previous statement's body. ``docs/sync.md`` section 10 has the format, and
``tests/vectors/sync-v1.json`` its vectors.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from vault import _crypto
from vault.errors import IntegrityError, VaultError
from vault.keys import Identity, TeamPublicKey, b64, caseworker_key_id, unb64, validate_name
from vault.report import canonical_json

CONTEXT = b"redress team change v1\x00"
KIND = "redress team change"
CHANGES = ("add", "revoke", "rotate")
MAX_STATEMENT = 4096
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ORIGIN = re.compile(r"vault\.redress/[0-9a-f]{32}")


class TeamChangeError(IntegrityError):
    """A statement about the team that does not fit the chain.

    ``reason`` is one word a relay turns into its status: ``malformed``, ``signature``,
    ``not-a-member``, ``out-of-order``, ``duplicate`` or ``not-allowed``.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    sign_pk: bytes
    box_pk: bytes | None = None  # None for the caseworkers of the team key file
    origin: str | None = None  # the access log their laptop keeps

    @property
    def key_id(self) -> str:
        return caseworker_key_id(self.sign_pk)


@dataclass(frozen=True, slots=True)
class Statement:
    """One signed statement, as received: its exact body and signature."""

    body: bytes
    signature: bytes

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def signer(self) -> str:
        """The key id of the member it says signed it (checked by :func:`apply`)."""
        return str(_parse(self.body)["by"])

    def to_wire(self) -> dict[str, str]:
        return {"body": b64(self.body), "signature": b64(self.signature)}

    @classmethod
    def from_wire(cls, doc: object) -> Statement:
        try:
            if not isinstance(doc, dict) or set(doc) != {"body", "signature"}:
                raise ValueError
            body, signature = unb64(doc["body"]), unb64(doc["signature"], 64)
        except ValueError:
            raise TeamChangeError(
                "A statement about the team is not in the expected form.", "malformed"
            ) from None
        if len(body) > MAX_STATEMENT:
            raise TeamChangeError("A statement about the team is too long.", "malformed")
        return cls(body, signature)


@dataclass(frozen=True, slots=True)
class Team:
    """The team as the chain says it is now."""

    epoch: int
    public_key: bytes
    members: tuple[Member, ...]
    revoked: frozenset[str] = frozenset()  # key ids that may never sign or sync again
    n: int = 0  # statements applied
    head: str = ""  # hash of the last statement (or of the start)
    origins: tuple[str, ...] = field(default=())  # every laptop's log, in order of joining
    applied: frozenset[str] = frozenset()  # hashes of every statement applied

    @classmethod
    def start(cls, team_key: TeamPublicKey) -> Team:
        """The team as the team key file says: where the chain starts."""
        members = tuple(
            Member(name, pk, None, team_key.origin) for name, pk in team_key.caseworkers
        )
        origins = (team_key.origin,) if team_key.origin else ()
        team = cls(team_key.epoch, team_key.public_key, members, origins=origins)
        return replace(team, head=team.start_hash(team_key))

    @staticmethod
    def start_hash(team_key: TeamPublicKey) -> str:
        start = {
            "kind": "redress team start",
            "epoch": team_key.epoch,
            "public_key": b64(team_key.public_key),
            "caseworkers": [[name, b64(pk)] for name, pk in team_key.caseworkers],
            "origin": team_key.origin,
        }
        return hashlib.sha256(canonical_json(start)).hexdigest()

    def member(self, key_id: str) -> Member | None:
        return next((m for m in self.members if m.key_id == key_id), None)

    def signing_keys(self) -> dict[str, bytes]:
        """Key id -> Ed25519 public key of every current member (whom a relay serves)."""
        return {m.key_id: m.sign_pk for m in self.members}

    def public(self) -> TeamPublicKey:
        """The team key file a form seals to now."""
        people = tuple((m.name, m.sign_pk) for m in self.members)
        origin = self.origins[0] if self.origins else None
        return TeamPublicKey(self.epoch, self.public_key, people, origin)


def make_statement(
    team: Team,
    by: Identity,
    change: str,
    day: str,
    *,
    member: Member | None = None,
    epoch: tuple[int, bytes] | None = None,
) -> Statement:
    """A new statement after ``team``'s head, signed by ``by`` (who must be a member).

    ``add`` needs ``member`` with its box key and origin; ``revoke`` needs ``member`` and the
    new ``epoch`` (number, public key); ``rotate`` needs ``epoch``.
    """
    doc: dict[str, Any] = {
        "v": 1,
        "kind": KIND,
        "n": team.n + 1,
        "prev": team.head,
        "change": change,
        "by": by.key_id,
        "day": day,
    }
    if member is not None:
        doc["member"] = {"name": member.name, "sign_pk": b64(member.sign_pk)}
        if change == "add":
            if member.box_pk is None or member.origin is None:
                raise ValueError("a new member needs a box key and an origin")
            doc["member"] |= {"box_pk": b64(member.box_pk), "origin": member.origin}
    if epoch is not None:
        doc["epoch"] = {"n": epoch[0], "public_key": b64(epoch[1])}
    body = canonical_json(doc)
    statement = Statement(body, by.sign(CONTEXT + body))
    apply(team, statement)  # never hand out a statement the chain would refuse
    return statement


def apply(team: Team, statement: Statement) -> Team:
    """The team after ``statement``, or :class:`TeamChangeError` saying why it does not fit."""
    doc = _parse(statement.body)
    if statement.hash in team.applied:
        raise TeamChangeError(
            f"Statement {doc['n']} about the team was already applied.", "duplicate"
        )
    if doc["n"] != team.n + 1 or doc["prev"] != team.head:
        raise TeamChangeError(
            f"Statement {doc['n']} about the team does not follow statement {team.n}.",
            "out-of-order",
        )
    signer = team.member(doc["by"])
    if signer is None:
        raise TeamChangeError(
            "A statement about the team is signed by someone who is not a current member.",
            "not-a-member",
        )
    try:
        _crypto.verify(statement.signature, CONTEXT + statement.body, signer.sign_pk)
    except _crypto.OpenFailed:
        raise TeamChangeError(
            "A statement about the team does not carry its signer's signature.", "signature"
        ) from None
    after = replace(team, n=doc["n"], head=statement.hash, applied=team.applied | {statement.hash})
    change = doc["change"]
    if change == "add":
        m = doc["member"]
        origin: str = m["origin"]
        member = Member(m["name"], m["sign_pk"], m["box_pk"], origin)
        if (
            any(x.name == member.name or x.sign_pk == member.sign_pk for x in team.members)
            or member.key_id in team.revoked
            or member.origin in team.origins
        ):
            raise TeamChangeError(
                f"{member.name} is already on the team, or their keys were revoked.", "not-allowed"
            )
        return replace(after, members=(*team.members, member), origins=(*team.origins, origin))
    epoch, public_key = doc["epoch"]
    if epoch != team.epoch + 1:
        raise TeamChangeError(
            f"A new team key must have epoch {team.epoch + 1}, not {epoch}.", "not-allowed"
        )
    after = replace(after, epoch=epoch, public_key=public_key)
    if change == "rotate":
        return after
    gone = team.member(caseworker_key_id(doc["member"]["sign_pk"]))
    if gone is None or gone.name != doc["member"]["name"]:
        raise TeamChangeError(
            "That statement revokes someone who is not on the team.", "not-allowed"
        )
    left = tuple(m for m in team.members if m != gone)
    if not left:
        raise TeamChangeError("The last member of a team cannot be revoked.", "not-allowed")
    return replace(after, members=left, revoked=team.revoked | {gone.key_id})


def follow(team: Team, statements: list[Statement]) -> Team:
    for statement in statements:
        team = apply(team, statement)
    return team


def _parse(body: bytes) -> dict[str, Any]:
    """The statement's fields, checked for form (not yet for fit or signature)."""
    malformed = TeamChangeError(
        "A statement about the team is not in the expected form.", "malformed"
    )
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict) or canonical_json(doc) != body:
            raise ValueError
        change = doc["change"]
        wanted = {"v", "kind", "n", "prev", "change", "by", "day"}
        wanted |= {"add": {"member"}, "revoke": {"member", "epoch"}, "rotate": {"epoch"}}.get(
            change, set()
        )
        if (
            set(doc) != wanted
            or doc["v"] != 1
            or doc["kind"] != KIND
            or change not in CHANGES
            or type(doc["n"]) is not int
            or not 0 < doc["n"] < 2**31
            or not isinstance(doc["prev"], str)
            or not re.fullmatch(r"[0-9a-f]{64}", doc["prev"])
            or not isinstance(doc["by"], str)
            or not isinstance(doc["day"], str)
            or not _DAY.fullmatch(doc["day"])
        ):
            raise ValueError
        out = dict(doc)
        if "member" in doc:
            m = doc["member"]
            keys = (
                {"name", "sign_pk", "box_pk", "origin"} if change == "add" else {"name", "sign_pk"}
            )
            if not isinstance(m, dict) or set(m) != keys or not _name_ok(m["name"]):
                raise ValueError
            member = {"name": m["name"], "sign_pk": unb64(m["sign_pk"], 32)}
            if change == "add":
                if not isinstance(m["origin"], str) or not _ORIGIN.fullmatch(m["origin"]):
                    raise ValueError
                member |= {"box_pk": unb64(m["box_pk"], 32), "origin": m["origin"]}
            out["member"] = member
        if "epoch" in doc:
            e = doc["epoch"]
            if not isinstance(e, dict) or set(e) != {"n", "public_key"}:
                raise ValueError
            if type(e["n"]) is not int or not 0 < e["n"] < 2**32:
                raise ValueError
            out["epoch"] = (e["n"], unb64(e["public_key"], 32))
        return out
    except (ValueError, KeyError, TypeError):
        raise malformed from None


def _name_ok(name: object) -> bool:
    if not isinstance(name, str):
        return False
    try:
        return validate_name(name) == name
    except VaultError:
        return False
