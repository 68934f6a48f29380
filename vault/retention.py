"""How long cases are kept: the team's retention policy, what it makes due, and applying it.

The policy has two rules, each a whole number of months or off:

* **erase closed cases** N months after the day they were closed (the day of their latest
  ``closed`` event); ``vault retention apply`` erases them (vault/erasure.py, reason
  ``retention``);
* **flag untouched cases**: a case not yet due for erasure on which nothing has been done (no
  event of any kind, opening included) for M months, counted from its latest event or, with
  none, from the day it was received. Flagged cases are only shown, never erased.

A month is a calendar month: 6 months after 31 August is 28 (or 29) February.

The policy is a signed vault setting: its canonical JSON, signed with Ed25519 by the
caseworker who set it over ``"redress retention policy v1" || 0x00 || body``, kept in
``retention_policy`` and logged as a ``retention-set`` entry committing to the body's
SHA-256. A policy whose signature does not verify is refused as tampering (exit 4).
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from vault import _crypto, erasure, tombstones
from vault import db as dbmod
from vault.cases import show_id
from vault.errors import IntegrityError, UsageError
from vault.report import canonical_json
from vault.store import today

if TYPE_CHECKING:
    from vault.store import Vault

POLICY_SIGNATURE_CONTEXT = b"redress retention policy v1\x00"
MAX_MONTHS = 1200  # a hundred years: anything longer is a typing mistake
RETENTION_REASON = "retention"


class Keep:
    """Leave this rule of the policy as it is (see :func:`set_policy`)."""


KEEP = Keep()
Months = int | None  # None: the rule is off


def parse_months(text: str, option: str) -> Months:
    """``never`` (the rule off), or a whole number of months from 1 to 1200."""
    if text.strip().lower() in ("never", "off"):
        return None
    try:
        months = int(text.strip())
    except ValueError:
        months = 0
    if not 1 <= months <= MAX_MONTHS:
        raise UsageError(
            f"{option} takes a whole number of months from 1 to {MAX_MONTHS}, or never."
        )
    return months


@dataclass(frozen=True, slots=True)
class Policy:
    erase_closed_after: Months
    flag_untouched_after: Months
    set_by: str  # the caseworker's name (or key id, if no longer on the roster)
    set_on: str  # a day

    def to_json(self) -> dict[str, Any]:
        return {
            "erase_closed_after_months": self.erase_closed_after,
            "flag_untouched_after_months": self.flag_untouched_after,
            "set_by": self.set_by,
            "set_on": self.set_on,
        }


def _body(erase: Months, flag: Months, actor: str, day: str, n: int = 1) -> bytes:
    doc: dict[str, Any] = {
        "v": 1,
        "erase_closed_after_months": erase,
        "flag_untouched_after_months": flag,
        "actor": actor,
        "set_on": day,
    }
    if n > 1:  # the first policy's body is as it always was
        doc["n"] = n
    return canonical_json(doc)


def _rank(body: bytes) -> tuple[str, int, bytes]:
    """Which of two policies stands, the same on every laptop: the later ``set_on`` day, then
    the higher ``n`` (one more than the policy it replaced where it was set, so a change made
    after another wins), then the higher BLAKE2b-256 of the body (two set apart)."""
    doc = json.loads(body)
    n = doc.get("n", 1)
    if type(n) is not int or n < 1:
        raise ValueError
    return str(doc["set_on"]), n, _crypto.blake2b_256(body)


def policy(vault: Vault) -> Policy | None:
    """The policy in force, its signature checked; None if none was ever set."""
    row = vault.db.execute("SELECT body, actor, signature FROM retention_policy").fetchone()
    if row is None:
        return None
    body, actor, signature = bytes(row[0]), str(row[1]), bytes(row[2])
    tampered = IntegrityError("The retention policy in the vault has been changed.")
    keys = vault.signing_keys()
    if actor not in keys:
        raise tampered
    try:
        _crypto.verify(signature, POLICY_SIGNATURE_CONTEXT + body, keys[actor])
        doc = json.loads(body)
        if doc["v"] != 1 or doc["actor"] != actor or canonical_json(doc) != body:
            raise ValueError
        erase, flag = doc["erase_closed_after_months"], doc["flag_untouched_after_months"]
        if not all(m is None or (type(m) is int and 1 <= m <= MAX_MONTHS) for m in (erase, flag)):
            raise ValueError
        _rank(body)
    except (_crypto.OpenFailed, ValueError, KeyError, TypeError):
        raise tampered from None
    name = vault.caseworker_names().get(actor, actor)
    return Policy(erase, flag, name, str(doc["set_on"]))


def set_policy(
    vault: Vault,
    erase_closed_after: Months | Keep = KEEP,
    flag_untouched_after: Months | Keep = KEEP,
) -> Policy:
    """Sign and store a new policy (a rule given as :data:`KEEP` stays as it is), logged."""
    if isinstance(erase_closed_after, Keep) and isinstance(flag_untouched_after, Keep):
        raise UsageError(
            "Say what to change: --erase-closed-after MONTHS and/or --flag-untouched-after MONTHS."
        )
    current = policy(vault)
    erase = erase_closed_after
    if isinstance(erase, Keep):
        erase = current.erase_closed_after if current else None
    flag = flag_untouched_after
    if isinstance(flag, Keep):
        flag = current.flag_untouched_after if current else None
    actor = vault.identity.key_id
    with vault.transaction() as db:
        # Ranked above the policy it replaces (see _rank), so it stands on every laptop, as
        # the one it replaced did (a day later than today only if that one's laptop's clock
        # was ahead).
        held = policy_signed(db)
        day, n = today(), 1
        if held is not None:
            held_day, held_n, _ = _rank(held[0])
            day, n = max(day, held_day), held_n + 1
        body = _body(erase, flag, actor, day, n)
        signature = vault.identity.sign(POLICY_SIGNATURE_CONTEXT + body)
        _store(vault, db, body, actor, signature)
    new = policy(vault)
    assert new is not None
    return new


def policy_signed(db: dbmod.Connection) -> tuple[bytes, bytes] | None:
    """The stored policy as it travels to the team's other laptops: (body, signature)."""
    row = db.execute("SELECT body, signature FROM retention_policy").fetchone()
    return None if row is None else (bytes(row[0]), bytes(row[1]))


def adopt_policy(vault: Vault, db: dbmod.Connection, body: bytes, signature: bytes) -> bool:
    """A policy set on another laptop of the team (vault/taking.py), in ``db``'s transaction:
    it takes effect here if it ranks above the one held (:func:`_rank`, so every laptop
    keeps the same one). Its signature must be a caseworker's of this team. True when it
    took effect."""
    try:
        doc = json.loads(body)
        actor = str(doc["actor"])
        rank = _rank(body)
        if canonical_json(doc) != body:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(
            "A retention policy from the team is not in the expected form."
        ) from None
    keys = vault.signing_keys()
    try:
        if actor not in keys:
            raise _crypto.OpenFailed
        _crypto.verify(signature, POLICY_SIGNATURE_CONTEXT + body, keys[actor])
    except _crypto.OpenFailed:
        raise IntegrityError(
            "A retention policy from the team is not signed by one of its caseworkers."
        ) from None
    held = policy_signed(db)
    if held is not None and _rank(held[0]) >= rank:
        return False
    _store(vault, db, body, actor, signature)
    return True


def _store(vault: Vault, db: dbmod.Connection, body: bytes, actor: str, signature: bytes) -> None:
    db.execute(
        "INSERT INTO retention_policy (one, body, actor, signature) VALUES (1, ?, ?, ?)"
        " ON CONFLICT (one) DO UPDATE SET body = excluded.body, actor = excluded.actor,"
        " signature = excluded.signature",
        (body, actor, signature),
    )
    vault.log_action(db, "retention-set", None, body)


def add_months(day: str, months: int) -> str:
    """``day`` (YYYY-MM-DD) plus whole calendar months, kept within the month it lands in."""
    start = date.fromisoformat(day)
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last)).isoformat()


@dataclass(frozen=True, slots=True)
class DueForErasure:
    id: str
    received: str
    closed: str
    outcome: str | None
    due: str  # the day it became due

    def to_json(self) -> dict[str, Any]:
        return {
            "id": show_id(self.id),
            "received": self.received,
            "closed": self.closed,
            "outcome": self.outcome,
            "due": self.due,
        }


@dataclass(frozen=True, slots=True)
class Untouched:
    id: str
    status: str
    assignee: str | None
    last_touched: str
    flagged_since: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": show_id(self.id),
            "status": self.status,
            "assignee": self.assignee,
            "last_touched": self.last_touched,
            "flagged_since": self.flagged_since,
        }


@dataclass(frozen=True, slots=True)
class Retention:
    """What the policy makes due today. Ids, days and states only, never content."""

    policy: Policy | None
    due: list[DueForErasure]
    flagged: list[Untouched]
    erased: int  # tombstones so far
    tombstones: list[tombstones.Tombstone]  # most recently erased first

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": None if self.policy is None else self.policy.to_json(),
            "due": [d.to_json() for d in self.due],
            "flagged": [f.to_json() for f in self.flagged],
            "erased": self.erased,
            "erased_cases": [
                {
                    k: t.to_json()[k]
                    for k in ("id", "received", "closed", "erased", "outcome", "reason")
                }
                for t in self.tombstones
            ],
        }


def _event_day(body: bytes) -> str | None:
    try:
        return str(json.loads(body)["at"])[:10]
    except (ValueError, KeyError, TypeError):
        return None


def review(vault: Vault, on: str | None = None) -> Retention:
    """The cases due for erasure and the untouched cases, as of the day ``on`` (today)."""
    on = on or today()
    rule = policy(vault)
    due: list[DueForErasure] = []
    flagged: list[Untouched] = []
    if rule is not None and (rule.erase_closed_after or rule.flag_untouched_after):
        closed_on = {
            str(c): day
            for c, b in vault.db.execute(
                "SELECT case_id, body FROM events WHERE kind = 'closed' ORDER BY seq"
            )
            if (day := _event_day(bytes(b))) is not None
        }
        touched = {
            str(c): day
            for c, b in vault.db.execute(
                "SELECT e.case_id, e.body FROM events e"
                " JOIN (SELECT max(seq) AS last FROM events GROUP BY case_id) l ON e.seq = l.last"
            )
            if (day := _event_day(bytes(b))) is not None
        }
        for case_id, received, status, assignee, outcome in vault.db.execute(
            "SELECT id, received, status, assignee, outcome FROM cases ORDER BY received, id"
        ):
            case_id = str(case_id)
            closed = closed_on.get(case_id) if status == "closed" else None
            if rule.erase_closed_after and status == "closed":
                when = add_months(closed or str(received), rule.erase_closed_after)
                if when <= on:
                    day = closed or str(received)
                    due.append(DueForErasure(case_id, str(received), day, outcome, when))
                    continue
            if rule.flag_untouched_after:
                last = max(str(received), touched.get(case_id, ""))
                since = add_months(last, rule.flag_untouched_after)
                if since <= on:
                    flagged.append(Untouched(case_id, str(status), assignee, last, since))
    gone = erasure.tombstones(vault)
    return Retention(rule, due, flagged, len(gone), gone)


def apply(vault: Vault, on: str | None = None) -> erasure.Erasure:
    """Erase every case the policy makes due (reason ``retention``), in transactions of up to
    :data:`vault.erasure.ERASE_BATCH`: killed part-way, each case is whole or erased."""
    due = review(vault, on).due
    return erasure.erase_cases(vault, [d.id for d in due], RETENTION_REASON)
