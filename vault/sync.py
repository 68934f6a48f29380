"""`vault sync --from URL` (and `vault pull`, the same command): this laptop and the team.

``docs/sync.md`` is the specification. A sync first pulls from the intake as ``vault pull``
always has (:mod:`vault.pull`). A vault that is part of a team of laptops
(:func:`vault.team_clock.is_syncing`) then talks to the intake's relay
(:mod:`vault.intake.relay`):

1. **receive** (:mod:`vault.receiving`, :mod:`vault.taking`): fetch the items other laptops sent
   (to the team, or to this laptop's owner), check each (signed by the owner of the laptop whose
   log it names, next in that laptop's chain: :mod:`vault.relay_items`), store what they hold in
   one transaction per page, then acknowledge the page so the relay may delete it;
2. **revocations** (:mod:`vault.telling`): for each caseworker revoked here, the statement
   revoking them goes to the relay (which refuses them from then on, and takes reports to the
   new team key), and the new team key pair is queued to every other member, sealed to each
   alone; a laptop receiving it adopts it and re-keys its database
   (:func:`vault.membership.adopt_team_key`); a laptop that had started the same epoch apart,
   and told the relay second, takes the other's key in place of its own
   (:mod:`vault.epoch_settling`); if the relay's record moves on while this sync runs, it
   receives again, settles, and tells again (a few times);
3. **send** (:mod:`vault.sending`): the cases, case events and attachments this laptop holds
   that the others do not yet, sealed to the team key, as items in this laptop's chain; pushed
   in order;
4. **welcome** (:mod:`vault.welcoming`): for each caseworker added here from a join request, the
   statement adding them goes to the relay (which then accepts their signed requests), then a
   welcome sealed to them (the team keys, the team, how far this laptop had everyone's items)
   and every case with its history and attachments, each item sealed to them alone.

This module runs them in that order (:func:`sync`), talking to the relay through
:mod:`vault.relay_client`. Nothing is acknowledged before it is committed, and an item is marked
sent only once the relay has it: a sync cut off at any point is finished by the next one, and
the relay's answer "held" to an item sent twice means it is not stored twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import httpx

from vault import team_clock, team_logs
from vault.errors import IntegrityError, UsageError, WrongKeyError
from vault.join_request import JoinRequest
from vault.joining import Welcome, open_welcome
from vault.keys import Identity, unb64
from vault.pull import REFUSED_KEY, PullResult, pull
from vault.receiving import receive
from vault.relay_client import FETCH_LIMIT, RelayClient
from vault.relay_items import check_signature, parse_item
from vault.sending import push, queue_new, team_chain
from vault.store import Vault
from vault.sync_result import SyncResult
from vault.taking import release_waiting
from vault.telling import NotTold, announce_new_epochs, stop_if_started_elsewhere
from vault.welcoming import welcome_joiners

TELL_TRIES = 3  # times one sync tries telling the relay of its new epochs (step 2)


def sync(vault: Vault, url: str, *, client: httpx.Client | None = None) -> SyncResult:
    """Pull from the intake; for a vault in a team of laptops, first receive what the others
    sent (a new team key among it, so reports sealed to it open when pulled), then pull,
    then send and welcome."""
    if not team_clock.is_syncing(vault.db):
        return SyncResult(pull(vault, url, client=client))
    _check_owner(vault)
    result = SyncResult(PullResult())
    try:
        _sync_team(vault, url, client, result)
    except WrongKeyError as e:
        if str(e) == REFUSED_KEY:  # the intake refuses this laptop's owner
            e.hint = (
                "the intake refuses the laptop of a caseworker removed from the team (a"
                " colleague's vault caseworker list says so); if that is not you, ask whoever"
                " runs the intake"
            )
        raise
    return result


def _sync_team(vault: Vault, url: str, client: httpx.Client | None, result: SyncResult) -> None:
    with RelayClient(url, vault.identity, client) as relay:
        receive(vault, relay, result)
        # An epoch started here that another laptop started first, with its own key: stop
        # before pulling reports sealed to that key, which this laptop could not open yet.
        _settling_races(vault, relay, result, lambda: stop_if_started_elsewhere(vault, relay))
        result.pulled = pull(vault, url, client=client)
        with vault.transaction() as db:  # events that came before a case now pulled here
            release_waiting(vault, db, result.pulled.imported, result)
        # A new team key goes to the others before anything sealed to it.
        told: list[tuple[int, str | None]] = []
        _settling_races(vault, relay, result, lambda: announce_new_epochs(vault, relay, told))
        result.new_epochs = told
        queue_new(vault)
        # Every laptop's access log to every other (vault/team_logs.py, docs/sync.md 4a).
        team_logs.witness_and_queue(vault, relay, lambda db: team_chain(vault, db), result.pulled)
        result.sent_items += push(vault, relay)
        result.welcomed = welcome_joiners(vault, relay)
        result.sent_items += push(vault, relay)
        team_logs.remember_team(vault, *relay.team())  # the team as it now is, for bundles


def _check_owner(vault: Vault) -> None:
    """Refuse a second caseworker of a shared folder that syncs: the folder is one laptop to
    the team, whose items only its owner's key may sign (the others would refuse theirs).
    Refuse any sync from a folder that has left its team (opened with recovery shares)."""
    if team_clock.left_team(vault.db) is not None:
        raise UsageError(
            "This folder was opened with recovery shares, so it no longer syncs with the team"
            " (the team never heard of the caseworker added then); nothing was sent or fetched.",
            hint=team_clock.LEFT_HINT,
        )
    owner = team_clock.owner(vault.db)
    if owner is None or owner == vault.identity.key_id:
        return
    name = vault.caseworker_names().get(owner, owner)
    raise UsageError(
        f"This folder syncs with the team as {name}'s laptop, so only {name} runs vault sync"
        " (or vault pull) here; nothing was sent or fetched.",
        hint=f"your notes and changes here go to the team with {name}'s next vault sync",
    )


def first_welcome(
    identity: Identity, request: JoinRequest, url: str, client: httpx.Client | None = None
) -> Welcome:
    """On a laptop that has just joined: find the welcome sent to its owner (not yet
    acknowledged; the sync that follows takes it in with everything after it)."""
    with RelayClient(url, identity, client) as relay:
        after = 0
        limit = 4  # the welcome comes early: small pages first, then larger ones
        while True:  # colleagues' items may come first: page through, acknowledging nothing
            try:
                items, more = relay.fetch(limit=limit, after=after)
            except WrongKeyError:
                raise WrongKeyError(
                    "The intake does not know this laptop's owner yet.",
                    hint="a colleague runs vault caseworker add NAME --request FILE,"
                    " then vault sync",
                ) from None
            for _, wire in items:
                item = parse_item(wire)
                if item.to != identity.key_id or item.n != 1:
                    continue
                doc = open_welcome(identity, item.sealed)
                if doc is None:
                    continue  # a colleague's first item to this laptop, not its welcome
                welcome = Welcome.from_doc(doc)
                origins = {o: str(p["sign_pk"]) for p in doc["roster"] if (o := p.get("origin"))}
                author = origins.get(item.origin)
                if author is None:
                    raise IntegrityError(
                        "The welcome is not signed by anyone on the team it names."
                    )
                check_signature(item, unb64(author, 32))
                return replace(welcome, sender=item.origin)
            if not more or not items:
                break
            after = items[-1][0]
            limit = min(limit * 4, FETCH_LIMIT)
    raise UsageError(
        "Nobody has sent this laptop the team's keys yet.",
        hint="a colleague runs vault caseworker add NAME --request FILE, then vault sync",
    )


def _settling_races(
    vault: Vault, relay: RelayClient, result: SyncResult, step: Callable[[], object]
) -> None:
    """``step`` (checking or telling the epochs started here); if the relay's record of the
    team moved on while this sync ran (another laptop, say the laptop of someone removed here
    and not yet told, still a member to the relay, started the epoch this laptop is about to
    tell), receive again, which settles with that laptop's key as any sync does (its item
    checked against the relay's record, as ever), and try again: at most
    :data:`TELL_TRIES` times in all, then stop as before."""
    tries = 1
    while True:
        try:
            step()
            return
        except NotTold as e:
            if not e.again or tries >= TELL_TRIES:
                raise
        tries += 1
        result.set_aside = 0  # counted again by this receive: those still set aside
        receive(vault, relay, result)


__all__ = ["first_welcome", "sync"]
