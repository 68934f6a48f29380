"""Welcoming a new member (``docs/sync.md``, step 4): for each caseworker added here
from a join request, the statement adding them goes to the relay, then a welcome sealed to them
(the team keys, the team, how far this laptop had everyone's items) and every case with its
history and attachments, each item sealed to them alone; the other laptops are told who they
are.
"""

from __future__ import annotations

from vault import db as dbmod
from vault import retention, team_logs
from vault.errors import IntegrityError
from vault.join_request import JoinRequest
from vault.keys import TeamPublicKey, b64, caseworker_key_id
from vault.relay_client import RelayClient
from vault.relay_items import TO_TEAM
from vault.sending import (
    ERASED,
    Chain,
    case_entries,
    delivered_entries,
    erased_entries,
    event_entries,
    queue_blob,
    team_chain,
)
from vault.store import Vault, today
from vault.team_changes import (
    Member,
    Statement,
    Team,
    TeamChangeError,
    apply,
    follow,
    make_statement,
)
from vault.team_record import check_start
from vault.telling import owe_epochs


def welcome_joiners(vault: Vault, relay: RelayClient) -> list[str]:
    """For each caseworker added from a join request: the statement, then their welcome."""
    from vault.join_request import read_request

    done = []
    for key_id, request_bytes in vault.db.execute(
        "SELECT key_id, request FROM sync_joiners WHERE done = 0 ORDER BY rowid"
    ).fetchall():
        request = read_request(bytes(request_bytes))
        start, statements = relay.team()
        check_start(vault, start)
        try:
            team = follow(Team.start(start), statements)
        except TeamChangeError as e:
            raise IntegrityError(f"The relay's record of the team does not verify ({e}).") from None
        if team.member(str(key_id)) is None:
            member = Member(request.name, request.sign_pk, request.box_pk, request.origin)
            relay.add_statement(make_statement(team, vault.identity, "add", today(), member=member))
        elif _added_by(start, statements, str(key_id)) != vault.identity.key_id:
            # a colleague added them first (from the same request): their welcome comes from
            # that laptop, and a second would be refused by the new laptop; the team keys
            # this laptop started go to them (telling.owe_epochs)
            with vault.transaction() as db:
                owe_epochs(vault, db, str(key_id), request.box_pk, start, statements)
                db.execute("UPDATE sync_joiners SET done = 1 WHERE key_id = ?", (key_id,))
            continue
        with vault.transaction() as db:
            _queue_welcome(vault, db, request)
            team_logs.queue_history(vault, db, Chain(vault, db, str(key_id), request.box_pk, 0))
            db.execute("UPDATE sync_joiners SET done = 1 WHERE key_id = ?", (key_id,))
        done.append(request.name)
    return done


def _added_by(start: TeamPublicKey, statements: list[Statement], key_id: str) -> str | None:
    """The key id of the member whose statement in the relay's chain added ``key_id``."""
    team = Team.start(start)
    for statement in statements:
        after = apply(team, statement)  # verified already by follow()
        if team.member(key_id) is None and after.member(key_id) is not None:
            return statement.signer
        team = after
    return None


def _queue_welcome(vault: Vault, db: dbmod.Connection, request: JoinRequest) -> None:
    """The welcome and the whole history, sealed to the new member, and a team item telling
    the other laptops who they are."""
    key_id = caseworker_key_id(request.sign_pk)
    origins = {str(k): str(o) for o, k in db.execute("SELECT origin, key_id FROM sync_origins")}
    origins.setdefault(vault.identity.key_id, vault.log.origin)
    roster = [
        {
            "name": str(n),
            "sign_pk": b64(bytes(s)),
            "box_pk": b64(bytes(b)),
            "origin": origins.get(str(k)),
        }
        for k, n, s, b in db.execute(
            "SELECT key_id, name, sign_pk, box_pk FROM caseworkers"
            " WHERE revoked IS NULL ORDER BY rowid"
        )
    ]
    team = team_chain(vault, db)
    chains = [[vault.log.origin, team.n, team.head]] + [
        [str(o), int(n), str(h)]
        for o, n, h in db.execute(
            "SELECT origin, n, head FROM sync_received WHERE recipient = ?", (TO_TEAM,)
        )
    ]
    keys = [
        {
            "epoch": k.epoch,
            "public_key": b64(k.public_key),
            "secret_key": b64(k.secret_key.reveal()),
        }
        for k in vault.access.team_keys
    ]
    # The others hear of the new member first: a cut-off push leaves no item of theirs
    # that nobody can check.
    team.add(
        {
            "t": "member",
            "name": request.name,
            "sign_pk": b64(request.sign_pk),
            "box_pk": b64(request.box_pk),
            "origin": request.origin,
        }
    )
    removed = [  # their past events and log entries are in the history below
        {
            "name": str(n),
            "sign_pk": b64(bytes(s)),
            "box_pk": b64(bytes(b)),
            "origin": origins.get(str(k)),
        }
        for k, n, s, b in db.execute(
            "SELECT key_id, name, sign_pk, box_pk FROM caseworkers"
            " WHERE revoked IS NOT NULL ORDER BY rowid"
        )
    ]
    chain = Chain(vault, db, key_id, request.box_pk, 0)
    chain.add(
        {
            "t": "welcome",
            "team_keys": keys,
            "roster": roster,
            "chains": chains,
            "removed": removed,
        }
    )
    cases = db.execute("SELECT id, envelope, received FROM cases ORDER BY rowid").fetchall()
    chain.batches("cases", "cases", case_entries(cases))
    events = db.execute("SELECT id, case_id, body, signature FROM events ORDER BY seq").fetchall()
    chain.batches("events", "events", event_entries(db, events))
    for (blob,) in db.execute("SELECT id FROM blobs ORDER BY id").fetchall():
        queue_blob(db, chain, str(blob))
    delivered = db.execute(
        "SELECT id, case_id FROM replies WHERE delivered = 1"
        " UNION SELECT id, case_id FROM sync_delivered"
    ).fetchall()
    chain.batches("delivered", "replies", delivered_entries(delivered))
    chain.batches("erased", "cases", erased_entries(db.execute(ERASED).fetchall()))
    signed = retention.policy_signed(db)
    if signed is not None:
        chain.add({"t": "retention", "body": b64(signed[0]), "signature": b64(signed[1])})
