"""Sending (``docs/sync.md``, step 3): this laptop's own chain of items, to the team or
to one member (:class:`Chain`); what it queues there that the others have not got (cases, case
events, attachments in parts, delivered replies, erasures, the retention policy); and pushing
the queue to the relay in order. An item is marked sent only once the relay has it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from vault import _crypto, incoming, retention
from vault import db as dbmod
from vault.keys import b64
from vault.relay_client import RelayClient
from vault.relay_items import FIRST_PREV, TO_TEAM, make_item
from vault.store import Vault

CONTENT_BYTES = 1 << 20  # content packed into one item, before sealing
BLOB_PART = 1 << 20  # an attachment travels in parts of this many bytes


class Chain:
    """Items for one addressee, sealed to ``seal_to``, appended to this laptop's chain."""

    def __init__(
        self, vault: Vault, db: dbmod.Connection, recipient: str, seal_to: bytes, epoch: int
    ):
        self.vault, self.db, self.recipient, self.seal_to, self.epoch = (
            vault,
            db,
            recipient,
            seal_to,
            epoch,
        )
        row = db.execute(
            "SELECT n, hash FROM sync_outbox WHERE recipient = ? ORDER BY n DESC LIMIT 1",
            (recipient,),
        ).fetchone()
        self.n, self.head = (0, FIRST_PREV) if row is None else (int(row[0]), str(row[1]))

    def add(self, doc: dict[str, Any]) -> None:
        sealed = _crypto.seal(json.dumps(doc, separators=(",", ":")).encode(), self.seal_to)
        item = make_item(
            self.vault.identity,
            self.vault.log.origin,
            self.n + 1,
            self.head,
            self.recipient,
            self.epoch,
            sealed,
        )
        self.db.execute(
            "INSERT INTO sync_outbox (recipient, n, hash, wire) VALUES (?, ?, ?, ?)",
            (self.recipient, item.n, item.hash, item.to_wire()),
        )
        self.n, self.head = item.n, item.hash

    def batches(self, kind: str, key: str, entries: Iterator[dict[str, Any]]) -> None:
        """Pack ``entries`` into items of about CONTENT_BYTES each."""
        batch: list[dict[str, Any]] = []
        size = 0
        for entry in entries:
            batch.append(entry)
            size += sum(len(str(v)) for v in entry.values())
            if size >= CONTENT_BYTES:
                self.add({"t": kind, key: batch})
                batch, size = [], 0
        if batch:
            self.add({"t": kind, key: batch})


def team_chain(vault: Vault, db: dbmod.Connection) -> Chain:
    current = vault.access.current
    return Chain(vault, db, TO_TEAM, current.public_key, current.epoch)


def queue_new(vault: Vault) -> None:
    """Queue, as team items, what this vault holds that the others have not got."""
    with vault.transaction() as db:
        chain = team_chain(vault, db)
        new_cases = db.execute(
            "SELECT id, envelope, received FROM cases WHERE id NOT IN"
            " (SELECT id FROM sync_known WHERE kind = 'case') ORDER BY rowid"
        ).fetchall()
        chain.batches("cases", "cases", case_entries(new_cases))
        for case_id, _, _ in new_cases:
            known(db, "case", str(case_id), str(case_id))
        new_events = db.execute(
            "SELECT id, case_id, body, signature FROM events WHERE id NOT IN"
            " (SELECT id FROM sync_known WHERE kind = 'event') ORDER BY seq"
        ).fetchall()
        chain.batches("events", "events", event_entries(db, new_events))
        for event_id, case_id, _, _ in new_events:
            known(db, "event", str(event_id), str(case_id))
        new_blobs = [
            str(b)
            for (b,) in db.execute(
                "SELECT id FROM blobs WHERE id NOT IN"
                " (SELECT id FROM sync_known WHERE kind = 'blob') ORDER BY id"
            ).fetchall()
        ]
        for blob in new_blobs:
            queue_blob(db, chain, blob)
            known(db, "blob", blob, "")
        delivered = db.execute(
            "SELECT id, case_id FROM replies WHERE delivered = 1"
            " AND id NOT IN (SELECT id FROM sync_known WHERE kind = 'delivered') ORDER BY rowid"
        ).fetchall()
        chain.batches("delivered", "replies", delivered_entries(delivered))
        for reply_id, case_id in delivered:
            known(db, "delivered", str(reply_id), str(case_id))
        _queue_policy(db, chain)
        erased = db.execute(
            ERASED + " WHERE id NOT IN (SELECT id FROM sync_known WHERE kind = 'erased')"  # noqa: S608
        ).fetchall()
        chain.batches("erased", "cases", erased_entries(erased))
        for row in erased:
            known(db, "erased", str(row[0]), "")  # no case_id: it outlives the case


ERASED = (
    "SELECT id, envelope_id, received, closed, erased, status, outcome, reason FROM erased_cases"
)


def _queue_policy(db: dbmod.Connection, chain: Chain) -> None:
    """The retention policy, when it changed here (set here, or taken from the team)."""
    signed = retention.policy_signed(db)
    if signed is None:
        return
    policy_id = hashlib.sha256(signed[0]).hexdigest()
    sent = db.execute(
        "SELECT 1 FROM sync_known WHERE kind = 'retention' AND id = ?", (policy_id,)
    ).fetchone()
    if sent is None:
        chain.add({"t": "retention", "body": b64(signed[0]), "signature": b64(signed[1])})
        known(db, "retention", policy_id, "")


def delivered_entries(rows: list[Any]) -> Iterator[dict[str, Any]]:
    for reply_id, case_id in rows:
        yield {"id": str(reply_id), "case": str(case_id)}


def erased_entries(rows: list[Any]) -> Iterator[dict[str, Any]]:
    """Tombstones as they travel: the case's id and envelope id, days, status, outcome and
    the reason, never content."""
    names = ("id", "envelope_id", "received", "closed", "erased", "status", "outcome", "reason")
    for row in rows:
        entry = dict(zip(names, row, strict=True))
        entry["envelope_id"] = bytes(row[1]).hex()
        yield entry


def case_entries(rows: list[Any]) -> Iterator[dict[str, Any]]:
    for case_id, envelope, received in rows:
        yield {"id": str(case_id), "envelope": b64(bytes(envelope)), "received": str(received)}


def event_entries(db: dbmod.Connection, rows: list[Any]) -> Iterator[dict[str, Any]]:
    """Events as they travel; a reporter's message travels with the event that took it in
    (still sealed to the team key, as the reporter sent it)."""
    tags: dict[str, str] = {}
    for event_id, case_id, body, signature in rows:
        entry = {"body": b64(bytes(body)), "signature": b64(bytes(signature))}
        if case_id not in tags:  # which report the case id means here
            (env_id,) = dbmod.one(db, "SELECT envelope_id FROM cases WHERE id = ?", (case_id,))
            tags[case_id] = incoming.report_tag(bytes(env_id))
        entry["r"] = tags[case_id]
        message = db.execute(
            "SELECT message FROM reporter_messages WHERE event_id = ?", (str(event_id),)
        ).fetchone()
        if message is not None:
            entry["message"] = b64(bytes(message[0]))
        yield entry


def queue_blob(db: dbmod.Connection, chain: Chain, blob: str) -> None:
    (length,) = dbmod.one(db, "SELECT length FROM blobs WHERE id = ?", (blob,))
    parts = max(1, -(-int(length) // BLOB_PART))
    part = 0
    buffer = bytearray()
    for (data,) in db.execute(
        "SELECT data FROM blob_chunks WHERE blob_id = ? ORDER BY n", (blob,)
    ).fetchall():
        buffer += bytes(data)
        while len(buffer) >= BLOB_PART and part < parts - 1:
            chunk = bytes(buffer[:BLOB_PART])
            del buffer[:BLOB_PART]
            chain.add({"t": "blob", "id": blob, "part": part, "parts": parts, "data": b64(chunk)})
            part += 1
    chain.add({"t": "blob", "id": blob, "part": part, "parts": parts, "data": b64(bytes(buffer))})


def push(vault: Vault, relay: RelayClient) -> int:
    """Send every queued item, in order; each is marked sent once the relay has it."""
    sent = 0
    while True:
        rows = vault.db.execute(
            "SELECT recipient, n, wire FROM sync_outbox WHERE sent = 0 ORDER BY rowid LIMIT 50"
        ).fetchall()
        if not rows:
            return sent
        for recipient, n, wire in rows:
            relay.put(bytes(wire))
            with vault.transaction() as db:
                db.execute(
                    "UPDATE sync_outbox SET sent = 1, wire = X'' WHERE recipient = ? AND n = ?",
                    (recipient, n),
                )
            sent += 1


def known(db: dbmod.Connection, kind: str, item_id: str, case_id: str) -> None:
    db.execute(
        "INSERT INTO sync_known (kind, id, case_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (kind, item_id, case_id),
    )
