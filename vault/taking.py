"""Taking in one item another laptop sent, when :mod:`vault.receiving` comes to it: its
signature and its place in its laptop's chain checked, then what each kind of item does here:
a new team key epoch (adopted, or settled with, :mod:`vault.epoch_settling`), a welcome, a new
member, cases, case events (with the reporters' messages they took in), attachments in parts,
delivered replies, erased cases, the retention policy, access logs (:mod:`vault.team_logs`).
An item from a removed caseworker's laptop, after their removal, is read for its log alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from vault import (
    _crypto,
    alert_index,
    blobs,
    epoch_settling,
    erasure,
    incoming,
    membership,
    merged_cases,
    reporter_messages,
    retention,
    team_clock,
    team_logs,
    tombstones,
)
from vault import db as dbmod
from vault._crypto import SecretBytes
from vault.blobs import PendingBlob
from vault.errors import (
    DatabaseDamagedError,
    ForeignEnvelopeError,
    IntegrityError,
    InvalidReportError,
    LogRolledBackError,
    UsageError,
)
from vault.events import Event, verify_event
from vault.joining import Welcome, register_person, register_removed, welcomed_by
from vault.keys import CaseworkerPublic, TeamKeyPair, unb64
from vault.relay_items import (
    FIRST_PREV,
    TO_TEAM,
    Item,
    Received,
    RelayMisbehaved,
    check_next,
    check_signature,
    laptop_words,
)
from vault.sending import known
from vault.store import Vault, today
from vault.sync_result import SyncResult
from vault.team_record import TeamChain, chain_names, removed_by_epoch
from vault.telling import two_new_keys
from vault.tombstones import Tombstone


def new_epoch(vault: Vault, item: Item) -> dict[str, Any] | None:
    """An item to this laptop's owner holding a team key epoch it lacks: its content."""
    if item.to != vault.identity.key_id:
        return None
    row = vault.db.execute(
        "SELECT n, closed FROM sync_received WHERE origin = ? AND recipient = ?",
        (item.origin, item.to),
    ).fetchone()
    if row is not None and item.n <= int(row[0]):
        return None  # held already: take checks it
    removed_here = row is not None and bool(row[1])
    if removed_here and not _removed_here_untold(vault, item.origin):
        return None  # from a removed caseworker: take checks it
    doc = _open(vault, item)
    if doc.get("t") != "epoch":
        return None
    try:
        epoch, public_key = int(doc["team_key"]["epoch"]), unb64(doc["team_key"]["public_key"])
    except (KeyError, TypeError, ValueError):
        return None if removed_here else doc  # take_epoch names it
    held = vault.access.team_key(epoch)
    if held is not None and held.public_key == public_key:
        return None  # a key this laptop holds already (its welcome had it): taken as is
    if removed_here and (held is None or not epoch_settling.can_settle(vault, epoch)):
        return None  # only an epoch this laptop started too, untold, is settled with their key
    return doc


def _removed_here_untold(vault: Vault, origin: str) -> bool:
    """Whether the caseworker of laptop ``origin`` was removed by an epoch started here that
    the relay has not been told of: to the team's record they are still a member, and an
    epoch they started first is the team's (this laptop settles with it, and removes them
    again with a key of its own, docs/sync.md section 4 step 2)."""
    found = vault.db.execute(
        "SELECT 1 FROM sync_origins o JOIN sync_new_epochs e ON e.revoked = o.key_id"
        " WHERE o.origin = ? AND e.done = 0",
        (origin,),
    ).fetchone()
    return found is not None


def take_epoch(
    vault: Vault,
    seq: int,
    item: Item,
    doc: dict[str, Any],
    result: SyncResult,
    chain: TeamChain | None,
) -> None:
    _signed_by_its_laptop(vault, item)  # before its key is compared with any
    try:
        k = doc["team_key"]
        team = TeamKeyPair(
            int(k["epoch"]),
            unb64(k["public_key"], 32),
            SecretBytes(unb64(k["secret_key"], 32), "team key"),
        )
        revoked = doc["revoked"]
        gone = None if revoked is None else str(revoked["key_id"])
        person = None if revoked is None or "sign_pk" not in revoked else _person(revoked)
        if person is not None and person.key_id != gone:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(
            f"Item {item.n} from laptop {item.origin} is not in the expected form."
        ) from None
    if _crypto.box_public_from_secret(team.secret_key) != team.public_key:
        raise IntegrityError(f"The team key in item {item.n} from laptop {item.origin} is damaged.")
    # The team's record first: an item whose key the record does not name is refused (and
    # set aside, section 5) whatever this laptop holds, so no colleague or removed laptop can
    # stop this laptop's syncs for good by naming another key for an epoch it holds.
    named = None if chain is None else chain_names(vault, chain, team.epoch, team.public_key, gone)
    if named is None:
        raise IntegrityError(
            f"Item {item.n} from laptop {item.origin} holds a team key (epoch {team.epoch})"
            " that the relay's record of the team does not name; it was not taken."
        )
    held = vault.access.team_key(team.epoch)
    settling = held is not None and held.public_key != team.public_key
    if settling and not epoch_settling.can_settle(vault, team.epoch):
        raise two_new_keys(team.epoch, settles=False)

    def changes(db: dbmod.Connection) -> None:
        take(vault, db, item, result)  # checks signature and chain, records it as taken
        db.execute("DELETE FROM sync_spool WHERE seq = ?", (seq,))
        if gone is None:
            return  # a rotation: nobody left
        if person is not None:
            # Added and removed before this laptop heard of them: known now, as removed, so
            # their `member` item, if it comes later, does not make them a current member.
            # their log origin only as the team's record names it (an item naming a
            # colleague's laptop there would tie that laptop's log to them, and close it)
            claimed = revoked.get("origin")
            register_person(vault, db, person, claimed if claimed == named else None)
        row = db.execute(
            "SELECT sign_pk FROM caseworkers WHERE key_id = ? AND revoked IS NULL", (gone,)
        ).fetchone()
        if row is not None:
            db.execute("UPDATE caseworkers SET revoked = ? WHERE key_id = ?", (today(), gone))
            vault.log_action(db, "caseworker-revoked", subject=gone, commit=bytes(row[0]))
        membership.close_chains(db, gone, vault.identity.key_id)

    if settling:
        assert chain is not None  # named the epoch
        # Whom the team's record had removed by this epoch: what this laptop removed that
        # only a later epoch of the record removes is started again here (sealed to a key of
        # its own, which the removed never hold), and settles again when that epoch comes.
        removed = removed_by_epoch(*chain(), team.epoch)
        result.settled = epoch_settling.settle_epoch(
            vault, team, removed, changes, lambda: two_new_keys(team.epoch, settles=False)
        )
    else:
        membership.adopt_team_key(vault, team, changes)
    result.received_items += 1
    result.new_epoch = team.epoch
    result.new_epoch_revoked = None if revoked is None else str(revoked.get("name", ""))
    result.taken_epochs.append((result.new_epoch, result.new_epoch_revoked))


def _signed_by_its_laptop(vault: Vault, item: Item) -> None:
    """Raise unless ``item`` is signed by the caseworker registered for the laptop it names
    (:func:`take` checks it again, with its place in the chain, as it takes it)."""
    author = vault.db.execute(
        "SELECT c.sign_pk FROM sync_origins o JOIN caseworkers c ON c.key_id = o.key_id"
        " WHERE o.origin = ?",
        (item.origin,),
    ).fetchone()
    if author is None:
        raise RelayMisbehaved(
            f"The relay sent an item from laptop {item.origin}, not one of the team's."
        )
    check_signature(item, bytes(author[0]))


def take(vault: Vault, db: dbmod.Connection, item: Item, result: SyncResult) -> None:
    recipient = TO_TEAM if item.to == TO_TEAM else item.to
    if recipient not in (TO_TEAM, vault.identity.key_id):
        raise RelayMisbehaved(
            f"The relay sent an item from laptop {item.origin} meant for someone else."
        )
    closed = db.execute(
        "SELECT n FROM sync_received WHERE origin = ? AND recipient = ? AND closed = 1",
        (item.origin, recipient),
    ).fetchone()
    if closed is not None and item.n > int(closed[0]):
        # sent by a removed caseworker's laptop after this one heard: read for its log alone
        if not _read_closed(vault, db, item, result):
            result.ignored += 1
        return
    author = db.execute(
        "SELECT c.sign_pk, c.name FROM sync_origins o JOIN caseworkers c ON c.key_id = o.key_id"
        " WHERE o.origin = ?",  # a revoked member's items were sent while they were one
        (item.origin,),
    ).fetchone()
    doc = _open(vault, item)
    if doc.get("t") == "welcome" and not welcomed_by(db, item.origin, item.n):
        raise RelayMisbehaved(
            f"The relay sent a welcome from laptop {item.origin} to a laptop already on the"
            " team: only the first, from the colleague who added it, is taken."
        )
    if author is None:
        raise RelayMisbehaved(
            f"The relay sent an item from laptop {item.origin}, not one of the team's."
        )
    check_signature(item, bytes(author[0]))
    owner = str(author[1])
    row = db.execute(
        "SELECT n, head, acked FROM sync_received WHERE origin = ? AND recipient = ?",
        (item.origin, recipient),
    ).fetchone()
    n, head, acked = (0, FIRST_PREV, 0) if row is None else (int(row[0]), str(row[1]), int(row[2]))
    if item.n <= n:
        if item.n == n and item.hash != head:
            raise RelayMisbehaved(
                f"The relay sent a different item {item.n} from"
                f" {laptop_words(item.origin, owner)} than before: its items have been"
                " changed or forked."
            )
        if item.n <= acked:  # the relay confirmed it deleted it: a replay, named
            check_next(Received(n, head, acked), item, owner=owner)
        return  # held already (a sync cut off before its acknowledgement, or a welcome's)
    check_next(Received(n, head), item, owner=owner)
    db.execute(
        "INSERT INTO sync_received (origin, recipient, n, head) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (origin, recipient) DO UPDATE SET n = excluded.n, head = excluded.head",
        (item.origin, recipient, item.n, item.hash),
    )
    kind = doc.get("t")
    try:
        if kind == "welcome":
            _take_welcome(vault, db, doc)
        elif kind == "member":
            _take_member(vault, db, doc)
        elif kind == "cases":
            _take_cases(vault, db, _sent_cases(doc), result)
        elif kind == "events":
            _take_events(vault, db, doc, result)
        elif kind == "blob":
            take_blob_part(db, doc, result)
        elif kind == "erased":
            _take_erased(vault, db, doc, result)
        elif kind == "delivered":
            _take_delivered(db, doc)
        elif kind == "retention":
            body = unb64(doc["body"])
            retention.adopt_policy(vault, db, body, unb64(doc["signature"], 64))
            known(db, "retention", hashlib.sha256(body).hexdigest(), "")
        elif kind == "epoch":
            pass  # adopted by take_epoch, in this transaction
        elif kind == "log":
            team_logs.take(vault, db, item, doc)
        else:
            raise ValueError
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        raise IntegrityError(
            f"Item {item.n} from laptop {item.origin} is not in the expected form."
        ) from None


def _read_closed(vault: Vault, db: dbmod.Connection, item: Item, result: SyncResult) -> bool:
    """An item numbered after this laptop closed its laptop's chain (a removed caseworker's):
    read in order, its signature checked, and of it only its own access log's entries that
    the team witnessed are taken (:func:`vault.team_logs.take_witnessed`, docs/sync.md
    section 4), and the reports it passes on (``cases``): a report is what anyone may send
    through the form, and one it pulled just before it was lost (the intake then deleted its
    copy) would otherwise never reach the team. Each must be sealed to a team key held here,
    under the id every laptop gives it, and its day is checked
    (:func:`vault.incoming.vouched_by_the_report`). Its attachments' parts, its case events
    and everything else are never taken. False if nothing of it was taken: any other item,
    or an item that is not the next one (the rest of that chain is then never read), or that
    fails a check."""
    if item.to != TO_TEAM:
        return False
    row = db.execute(
        "SELECT r.n, r.head, c.sign_pk FROM sync_received r JOIN sync_origins o ON"
        " o.origin = r.origin JOIN caseworkers c ON c.key_id = o.key_id"
        " WHERE r.origin = ? AND r.recipient = ?",
        (item.origin, TO_TEAM),
    ).fetchone()
    if row is None or item.n != int(row[0]) + 1 or item.prev != str(row[1]):
        return False
    try:
        check_signature(item, bytes(row[2]))
        doc = _open(vault, item)
    except IntegrityError:
        return False
    db.execute(
        "UPDATE sync_received SET n = ?, head = ? WHERE origin = ? AND recipient = ?",
        (item.n, item.hash, item.origin, TO_TEAM),
    )
    kind = doc.get("t")
    if kind not in ("log", "cases"):
        return False
    try:
        with dbmod.savepoint(db, "closed_log"):
            if kind == "cases":
                vouched = incoming.vouched_by_the_report(vault, _sent_cases(doc))
                if not vouched:
                    return False
                _take_cases(vault, db, vouched, result)
                return True
            return team_logs.take_witnessed(vault, db, item, doc)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, IntegrityError) as why:
        if isinstance(why, (DatabaseDamagedError, LogRolledBackError)):
            raise
        return False  # a removed laptop's malformed item: nothing of it taken, sync goes on
    except (ForeignEnvelopeError, InvalidReportError):
        return False  # a report in it that does not open or is not one: nothing taken


def _open(vault: Vault, item: Item) -> dict[str, Any]:
    try:
        if item.to == TO_TEAM:
            team = vault.team_key(item.epoch)
            plain = _crypto.seal_open(item.sealed, team.public_key, team.secret_key)
        else:
            ident = vault.identity
            plain = _crypto.seal_open(item.sealed, ident.public.box_pk, ident.box_sk)
        doc = json.loads(plain)
    except (_crypto.OpenFailed, ValueError, UnicodeDecodeError):
        raise IntegrityError(f"Item {item.n} from laptop {item.origin} does not open.") from None
    if not isinstance(doc, dict):
        raise IntegrityError(
            f"Item {item.n} from laptop {item.origin} is not in the expected form."
        )
    return doc


def _person(doc: dict[str, Any]) -> CaseworkerPublic:
    return CaseworkerPublic(str(doc["name"]), unb64(doc["sign_pk"], 32), unb64(doc["box_pk"], 32))


def _take_welcome(vault: Vault, db: dbmod.Connection, doc: dict[str, Any]) -> None:
    for p in doc["roster"]:
        register_person(vault, db, _person(p), p.get("origin"))
    for person, origin in Welcome.from_doc(doc).removed:
        register_removed(vault, db, person, origin)
    for origin, n, head in Welcome.from_doc(doc).chains:
        db.execute(
            "INSERT INTO sync_received (origin, recipient, n, head, covered) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (origin, recipient) DO NOTHING",
            (origin, TO_TEAM, n, head, n),
        )


def _take_member(vault: Vault, db: dbmod.Connection, doc: dict[str, Any]) -> None:
    register_person(vault, db, _person(doc), doc.get("origin"))


def _sent_cases(doc: dict[str, Any]) -> list[tuple[str, bytes, str]]:
    """A ``cases`` item's reports: (case id, envelope, day received)."""
    return [(str(c["id"]), unb64(c["envelope"]), str(c["received"])) for c in doc["cases"]]


def _take_cases(
    vault: Vault, db: dbmod.Connection, cases: list[tuple[str, bytes, str]], result: SyncResult
) -> None:
    stored, clashes, renamed = incoming.store_relayed(vault, db, cases)
    result.cases_received += stored
    result.clashes += clashes
    result.renamed += renamed
    release_waiting(vault, db, stored, result)
    # Not the id of a report held here under another: here it may be another report's,
    # which the team has yet to get.
    elsewhere = set(clashes) | {team_id for team_id, _ in renamed}
    for case_id in {c[0] for c in cases}.difference(elsewhere).union(stored):
        known(db, "case", case_id, case_id)


def _take_events(
    vault: Vault, db: dbmod.Connection, doc: dict[str, Any], result: SyncResult
) -> None:
    """A page of case events: each signature verified once, then the page stored with a
    statement a table (events, the cases they wait for, ``sync_known``), and each case they
    touched folded again from its whole history."""
    arrived = _verified_events(doc["events"], vault.signing_keys())
    checked = {(body, signature): event for event, body, signature, _ in arrived}
    tags = [_tag(e) for e in doc["events"]]
    case_ids = {event.case for event, *_ in arrived}
    reports = _reports_held(db, case_ids)  # case id: the report's tag here
    held_events = _held(db, "SELECT id FROM events WHERE id IN ({})", {e.id for e, *_ in arrived})
    waiting: list[tuple[str, str, bytes, bytes, bytes | None, str | None]] = []
    fresh: list[tuple[Event, bytes, bytes, bytes | None]] = []
    erased: dict[str, bool] = {}
    for (event, body, signature, message), tag in zip(arrived, tags, strict=True):
        if event.case not in reports:
            if event.case not in erased:
                erased[event.case] = tombstones.tombstone(db, event.case) is not None
            if not erased[event.case]:  # not erased: its case will come
                waiting.append((event.id, event.case, body, signature, message, tag))
        elif tag not in (None, reports[event.case]):
            continue  # of another report given the same id where it was made: not this case's
        elif event.id not in held_events:
            held_events.add(event.id)  # an event twice in a page is stored once
            fresh.append((event, body, signature, message))
    db.executemany(
        "INSERT INTO sync_known (kind, id, case_id) VALUES ('event', ?, ?) ON CONFLICT DO NOTHING",
        [(event.id, event.case) for event, *_ in arrived],
    )
    db.executemany(
        "INSERT INTO sync_waiting_events (id, case_id, body, signature, message, report)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        waiting,
    )
    db.executemany(
        "INSERT INTO events (id, case_id, kind, actor, body, signature)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        [(e.id, e.case, e.kind, e.actor, body, sig) for e, body, sig, _ in fresh],
    )
    for event, _, _, message in fresh:
        if message is not None:
            _take_reporter_message(db, event, message)
    result.events_received += len(fresh)
    team_clock.seen_stamps(db, [e.stamp for e, *_ in fresh if e.stamp is not None])
    merged_cases.refold_many(vault, db, sorted({event.case for event, *_ in fresh}), checked)
    alert_index.refold(vault, db, {e.case for e, *_ in fresh if e.kind in alert_index.ALERT_KINDS})


def _verified_events(
    entries: list[dict[str, Any]], keys: dict[str, bytes]
) -> list[tuple[Event, bytes, bytes, bytes | None]]:
    """Each event of a page as it travels, its signature checked against its author's key:
    (event, body, signature, the reporter's message it took in, if any)."""
    out = []
    for e in entries:
        body, signature = unb64(e["body"]), unb64(e["signature"], 64)
        doc = json.loads(body)
        actor = doc.get("actor") if isinstance(doc, dict) else None
        if actor not in keys:
            raise IntegrityError("A case event from the team names someone not on it.")
        event = verify_event(body, signature, keys[actor], doc)
        message = unb64(e["message"]) if event.kind == "reporter-message" else None
        out.append((event, body, signature, message))
    return out


def _reports_held(db: dbmod.Connection, case_ids: set[str]) -> dict[str, str]:
    """Of ``case_ids``, those held here, each with its report's tag
    (:func:`incoming.report_tag`), a few hundred at once."""
    found: dict[str, str] = {}
    wanted = sorted(case_ids)
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))  # only placeholders go in
        sql = f"SELECT id, envelope_id FROM cases WHERE id IN ({marks})"  # noqa: S608
        found.update((str(c), incoming.report_tag(bytes(e))) for c, e in db.execute(sql, chunk))
    return found


def _held(db: dbmod.Connection, query: str, ids: set[str]) -> set[str]:
    """Which of ``ids`` ``query`` (a ``SELECT id ... IN ({})``) finds, a few hundred at once."""
    found: set[str] = set()
    wanted = sorted(ids)
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        sql = query.format(",".join("?" * len(chunk)))  # only placeholders go in
        found.update(str(row[0]) for row in db.execute(sql, chunk))
    return found


_IN_CHUNK = 500


def _tag(entry: dict[str, Any]) -> str | None:
    """Which report the sending laptop means by the event's case id (absent from laptops
    that did not say it yet)."""
    return None if entry.get("r") is None else str(entry["r"])


def _store_event(
    db: dbmod.Connection, event: Event, body: bytes, signature: bytes, message: bytes | None
) -> bool:
    added = db.execute(
        "INSERT INTO events (id, case_id, kind, actor, body, signature)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        (event.id, event.case, event.kind, event.actor, body, signature),
    ).rowcount
    if added and message is not None:
        _take_reporter_message(db, event, message)
    return bool(added)


def release_waiting(
    vault: Vault, db: dbmod.Connection, case_ids: list[str], result: SyncResult
) -> None:
    """Events that came before their case, stored now that it has come (checked again)."""
    keys = vault.signing_keys()
    for case_id in case_ids:
        rows = db.execute(
            "SELECT body, signature, message, report FROM sync_waiting_events WHERE case_id = ?",
            (case_id,),
        ).fetchall()
        if not rows:
            continue
        (env_id,) = dbmod.one(db, "SELECT envelope_id FROM cases WHERE id = ?", (case_id,))
        stamps = []
        for body, signature, message, report in rows:
            if report is not None and report != incoming.report_tag(bytes(env_id)):
                continue  # another report's, given the same id where it was made: dropped
            actor = json.loads(bytes(body)).get("actor")
            if actor not in keys:
                raise IntegrityError("A case event from the team names someone not on it.")
            event = verify_event(bytes(body), bytes(signature), keys[actor])
            if _store_event(
                db,
                event,
                bytes(body),
                bytes(signature),
                None if message is None else bytes(message),
            ):
                result.events_received += 1
                if event.stamp is not None:
                    stamps.append(event.stamp)
        db.execute("DELETE FROM sync_waiting_events WHERE case_id = ?", (case_id,))
        team_clock.seen_stamps(db, stamps)
        merged_cases.refold(vault, db, case_id)
        alert_index.refold(vault, db, [case_id])


def _take_delivered(db: dbmod.Connection, doc: dict[str, Any]) -> None:
    """Replies another laptop wrote and has since delivered to the intake."""
    for entry in doc["replies"]:
        reply_id, case_id = str(entry["id"]), str(entry["case"])
        if len(reply_id) != 32 or len(case_id) != 8:
            raise ValueError
        if db.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone() is not None:
            db.execute(
                "INSERT INTO sync_delivered (id, case_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (reply_id, case_id),
            )
        known(db, "delivered", reply_id, case_id)


def _take_erased(
    vault: Vault, db: dbmod.Connection, doc: dict[str, Any], result: SyncResult
) -> None:
    """Cases erased on another laptop: erased here too (or their tombstones kept)."""
    for entry in doc["cases"]:
        gone = Tombstone(
            id=str(entry["id"]),
            received=str(entry["received"]),
            closed=None if entry["closed"] is None else str(entry["closed"]),
            erased=str(entry["erased"]),
            status=str(entry["status"]),
            outcome=None if entry["outcome"] is None else str(entry["outcome"]),
            reason=str(entry["reason"]),
        )
        envelope_id = bytes.fromhex(str(entry["envelope_id"]))
        if len(gone.id) != 8 or len(envelope_id) != 32:
            raise ValueError
        try:
            if erasure.erase_for_team(vault, db, gone, envelope_id):
                result.erased.append(gone.id)
        except UsageError:  # a reason no laptop of ours would write
            raise ValueError from None
        db.execute("DELETE FROM sync_waiting_events WHERE case_id = ?", (gone.id,))
        known(db, "erased", gone.id, "")


def _take_reporter_message(db: dbmod.Connection, event: Event, message: bytes) -> None:
    """The reporter's message a ``reporter-message`` event took in, stored beside it."""
    if reporter_messages.message_id(message) != event.data.get("message"):
        raise IntegrityError("A reporter's message from the team does not match its event.")
    db.execute(
        "INSERT INTO reporter_messages (id, case_id, event_id, kind, message)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (event.data["message"], event.case, event.id, str(event.data.get("kind")), message),
    )


def take_blob_part(db: dbmod.Connection, doc: dict[str, Any], result: SyncResult) -> None:
    blob, part, parts = str(doc["id"]), int(doc["part"]), int(doc["parts"])
    if not 0 <= part < parts or len(blob) != 64:
        raise ValueError
    known(db, "blob", blob, "")
    if blobs.holds_blob(db, blob):
        return
    db.execute(
        "INSERT INTO sync_blob_parts (blob_id, part, parts, case_id, data) VALUES (?, ?, ?, '', ?)"
        " ON CONFLICT (blob_id, part) DO NOTHING",
        (blob, part, parts, unb64(doc["data"])),
    )
    (have, length) = dbmod.one(
        db,
        "SELECT count(*), coalesce(sum(length(data)), 0) FROM sync_blob_parts WHERE blob_id = ?",
        (blob,),
    )
    if int(have) < parts:
        return

    def pieces(_: str) -> Iterator[bytes]:
        for (data,) in db.execute(
            "SELECT data FROM sync_blob_parts WHERE blob_id = ? ORDER BY part", (blob,)
        ).fetchall():
            yield bytes(data)

    problem = blobs._stream_blob(db, PendingBlob(blob, "", int(length)), pieces)
    if problem is not None:
        raise IntegrityError("An attachment from the team does not match its id.")
    db.execute("DELETE FROM sync_blob_parts WHERE blob_id = ?", (blob,))
    db.execute("DELETE FROM pending_blobs WHERE id = ?", (blob,))
    result.attachments_received += 1
