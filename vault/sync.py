"""`vault sync --from URL` (and `vault pull`, the same command): this laptop and the team.

``docs/sync.md`` is the specification. A sync first pulls from the intake as ``vault pull``
always has (:mod:`vault.pull`). A vault that is part of a team of laptops
(:func:`vault.team_clock.is_syncing`) then talks to the intake's relay
(:mod:`vault.intake.relay`):

1. **receive**: fetch the items other laptops sent (to the team, or to this laptop's owner),
   check each (signed by the owner of the laptop whose log it names, next in that laptop's
   chain: :mod:`vault.relay_items`), store what they hold in one transaction per page,
   then acknowledge the page so the relay may delete it;
2. **revocations**: for each caseworker revoked here, the statement revoking them goes to
   the relay (which refuses them from then on, and takes reports to the new team key), and
   the new team key pair is queued to every other member, sealed to each alone; a laptop
   receiving it adopts it and re-keys its database (:func:`vault.membership.adopt_team_key`);
   a laptop that had started the same epoch apart, and told the relay second, takes the
   other's key in place of its own (:mod:`vault.epoch_settling`); if the relay's record moves
   on while this sync runs, it receives again, settles, and tells again (a few times);
3. **send**: the cases, case events and attachments this laptop holds that the others do
   not yet, sealed to the team key, as items in this laptop's chain; pushed in order;
4. **welcome**: for each caseworker added here from a join request, the statement adding
   them goes to the relay (which then accepts their signed requests), then a welcome sealed
   to them (the team keys, the team, how far this laptop had everyone's items) and every
   case with its history and attachments, each item sealed to them alone.

Nothing is acknowledged before it is committed, and an item is marked sent only once the
relay has it: a sync cut off at any point is finished by the next one, and the relay's
answer "held" to an item sent twice means it is not stored twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from vault import (
    _crypto,
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
    IntakeError,
    IntegrityError,
    LogRolledBackError,
    UsageError,
    VaultError,
    WrongKeyError,
)
from vault.events import Event, verify_event
from vault.intake.auth import sign_request
from vault.join_request import JoinRequest
from vault.joining import (
    Welcome,
    open_welcome,
    register_person,
    register_removed,
    welcomed_by,
)
from vault.keys import (
    CaseworkerPublic,
    Identity,
    TeamKeyPair,
    TeamPublicKey,
    b64,
    caseworker_key_id,
    unb64,
)
from vault.pull import REFUSED_KEY, IntakeClient, PullResult, pull, talking
from vault.relay_items import (
    FIRST_PREV,
    TO_TEAM,
    Item,
    ItemError,
    Received,
    RelayMisbehaved,
    check_next,
    check_signature,
    make_item,
    parse_item,
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
from vault.tombstones import Tombstone

CONTENT_BYTES = 1 << 20  # content packed into one item, before sealing
BLOB_PART = 1 << 20  # an attachment travels in parts of this many bytes
FETCH_LIMIT = 200
SPOOL_BYTES = 8 << 20  # about this many spooled item bytes taken in one transaction
PARSED_BYTES = 64 << 20  # about this much memory keeps items read between spool and taking
TELL_TRIES = 3  # times one sync tries telling the relay of its new epochs (step 2)

TeamChain = Callable[[], tuple[TeamPublicKey, list[Statement]]]  # the relay's, when needed


@dataclass(slots=True)
class SyncResult:
    pulled: PullResult
    received_items: int = 0
    cases_received: list[str] = field(default_factory=list)
    events_received: int = 0
    attachments_received: int = 0
    sent_items: int = 0
    welcomed: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)  # cases held here under another id
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (team's id, id here)
    erased: list[str] = field(default_factory=list)  # cases erased here as another laptop did
    ignored: int = 0  # items from a removed caseworker's laptop, after their removal
    set_aside: int = 0  # items the relay sent that failed their checks at an earlier sync
    # team key epochs started here, told to the relay: (epoch, whom it revoked, if anyone)
    new_epochs: list[tuple[int, str | None]] = field(default_factory=list)
    new_epoch: int | None = None  # a team key epoch another laptop made, taken here
    new_epoch_revoked: str | None = None  # whom it revoked, if anyone
    # every epoch another laptop made taken here at this sync, in order, with whom it revoked
    taken_epochs: list[tuple[int, str | None]] = field(default_factory=list)
    # an epoch this laptop had also started, settled: it took the other laptop's key
    settled: epoch_settling.Settled | None = None

    @property
    def revoked(self) -> list[str]:
        """The caseworkers whose revocation here was told to the relay at this sync."""
        return [name for _, name in self.new_epochs if name is not None]


class TeamMovedOn(IntakeError):
    """The relay refused a statement about the team as out of order: its record of the team
    moved on between this laptop reading it and sending the statement."""


class NotTold(VaultError):
    """A team key epoch started here was not told to the relay: another laptop started that
    epoch first, or the relay's record of the team moved on meanwhile. ``again``: this sync
    may receive (settling with the other laptop's key, vault/epoch_settling.py) and try
    telling again."""

    def __init__(self, message: str, *, again: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.again = again


# --- talking to the relay -------------------------------------------------------------


class RelayClient(IntakeClient):
    """The relay's signed calls (``docs/sync.md``), over :class:`IntakeClient`'s plumbing."""

    def team(self) -> tuple[TeamPublicKey, list[Statement]]:
        doc = self._post_json("/api/relay/team", {})
        try:
            start = TeamPublicKey.from_file_bytes(unb64(doc["start"]))
            statements = [Statement.from_wire(s) for s in doc["statements"]]
        except (KeyError, TypeError, ValueError, TeamChangeError):
            raise self.not_understood() from None
        return start, statements

    def add_statement(self, statement: Statement) -> None:
        body = json.dumps({"statement": statement.to_wire()}).encode()
        r = self._signed_post("/api/relay/team/add", body, "application/json")
        if r.status_code == 409:
            refused = TeamMovedOn if _error_word(r) == "out-of-order" else IntakeError
            raise refused(
                "The relay refused the statement adding a caseworker: the team changed"
                " meanwhile, or they are already on it. Sync again."
            )
        self._check(r)

    def put(self, wire: bytes) -> None:
        r = self._signed_post("/api/relay/items", wire, "application/octet-stream")
        if r.status_code == 409 and _error_word(r) == "forked":
            raise IntegrityError(
                "The relay holds other items from this laptop under the same numbers, so this"
                " vault (restored from a backup, or a copy) can no longer send to the team:"
                " join the team again as a new laptop (vault join) and ask a colleague to"
                " revoke this one.",
            )
        if r.status_code == 409:
            raise IntegrityError(
                "The relay refused an item from this laptop as out of order: it has items"
                " from this laptop's log that this vault does not.",
                hint="was this vault restored from a backup? Its log now forks from the team's",
            )
        self._check(r)

    def fetch(
        self, limit: int = FETCH_LIMIT, after: int = 0
    ) -> tuple[list[tuple[int, bytes]], bool]:
        body: dict[str, int] = {"limit": limit}
        if after:
            body["after"] = after
        doc = self._post_json("/api/relay/fetch", body)
        try:
            items = [(int(i["seq"]), unb64(i["item"])) for i in doc["items"]]
            more = doc["more"]
        except (KeyError, TypeError, ValueError):
            raise self.not_understood() from None
        if not isinstance(more, bool):
            raise self.not_understood()
        return items, more

    def acknowledge(self, upto: int) -> None:
        self._post_json("/api/relay/ack", {"upto": upto})

    def __enter__(self) -> RelayClient:
        return self

    def _signed_post(self, path: str, body: bytes, content_type: str) -> httpx.Response:
        headers = sign_request(self._identity, "POST", self._target(path), body)
        headers["Content-Type"] = content_type
        with talking(self.url):
            return self._client.post(self.url + path, content=body, headers=headers)


def _error_word(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error", ""))
    except (ValueError, AttributeError):
        return ""


# --- the whole sync ---------------------------------------------------------------------


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
        _settling_races(vault, relay, result, lambda: _stop_if_started_elsewhere(vault, relay))
        result.pulled = pull(vault, url, client=client)
        with vault.transaction() as db:  # events that came before a case now pulled here
            _release_waiting(vault, db, result.pulled.imported, result)
        # A new team key goes to the others before anything sealed to it.
        told: list[tuple[int, str | None]] = []
        _settling_races(vault, relay, result, lambda: announce_new_epochs(vault, relay, told))
        result.new_epochs = told
        queue_new(vault)
        # Every laptop's access log to every other (vault/team_logs.py, docs/sync.md 4a).
        team_logs.witness_and_queue(vault, relay, lambda db: _team_chain(vault, db), result.pulled)
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
            hint="join the team again from a new folder: vault join --name NAME --out"
            " NAME.request; a colleague adds you and revokes the old name (keys/README.md)",
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


# --- receiving --------------------------------------------------------------------------


def receive(vault: Vault, relay: RelayClient, result: SyncResult) -> None:
    """Fetch every item waiting into the spool (``sync_spool``, in the vault's encrypted
    database), acknowledging each page once it is stored there; then take them in.

    Items for this laptop's owner alone (a welcome and its history, a new team key) are taken
    before the team's, whatever page they came in: a new member hears from colleagues'
    laptops before its own history has arrived (the relay starts it where the member who
    added it had fetched to, docs/sync.md section 6), and their items follow on from it.
    So while the spool holds none of them, each of them is taken in as its page arrives,
    in the transaction that spools the rest of the page (the same order, without storing
    it twice), until one brings a new team key: that one and those after it wait in the
    spool."""
    page = _Receiving(
        direct=vault.db.execute("SELECT 1 FROM sync_spool WHERE mine = 1 LIMIT 1").fetchone()
        is None
    )
    # One thread talks to the relay, in order: it fetches the next page while this one
    # stores the last, and acknowledges each page once it is committed here.
    with ThreadPoolExecutor(1) as talker:
        coming = talker.submit(relay.fetch)
        acks = []
        while True:
            items, more = coming.result()
            if more and items:
                coming = talker.submit(relay.fetch, FETCH_LIMIT, items[-1][0])
            if items:
                page.store(vault, items, result)
                acks.append(talker.submit(relay.acknowledge, items[-1][0]))
            if not more or not items:
                break
        for ack in acks:
            ack.result()  # an acknowledgement that failed fails the sync, as it always did
    take_spool(vault, result, page.parsed, team=lambda: relay.team())
    if page.unreadable:
        raise page.unreadable[0]  # acknowledged: nothing any laptop sent (the relay reads each)


@dataclass(slots=True)
class _Receiving:
    direct: bool  # this laptop's own items are taken in as they come
    parsed: dict[int, Item] = field(default_factory=dict)  # spooled here, kept read
    size: int = 0  # about the memory ``parsed`` takes, kept under PARSED_BYTES
    unreadable: list[RelayMisbehaved] = field(default_factory=list)  # not items at all: dropped

    def store(self, vault: Vault, items: list[tuple[int, bytes]], result: SyncResult) -> None:
        """A page of items, in one transaction: this laptop's own taken in (while
        :attr:`direct`), the others spooled. One of its own that fails its checks is spooled
        too (with those after it), to be named by :func:`take_spool`. Bytes that are not an
        item at all are noted, to be named once the rest is taken, and not kept: the relay
        reads every item a laptop sends it (:func:`parse_item`), so no laptop sent them."""
        me = vault.identity.key_id
        page = []
        for seq, wire in items:
            try:
                page.append((seq, wire, parse_item(wire)))
            except ItemError:
                self.unreadable.append(
                    RelayMisbehaved(
                        f"The relay sent something that is not an item from any laptop (number"
                        f" {seq} at the relay); it was not kept."
                    )
                )
        if not page:
            return
        with vault.transaction() as db:
            marks = ",".join("?" * len(page))  # only placeholders go in
            spooled = {
                int(seq)
                for (seq,) in db.execute(
                    f"SELECT seq FROM sync_spool WHERE seq IN ({marks})",  # noqa: S608
                    [seq for seq, _, _ in page],
                )
            }
            waiting = []
            for seq, wire, item in page:
                if seq in spooled:
                    continue  # the spool's copy is the one taken
                spooled.add(seq)
                if self.direct and item.to == me:
                    if _take_direct(vault, db, item, result):
                        result.received_items += 1
                        continue
                    self.direct = False  # a new team key (adopted from the spool), or refused
                waiting.append((seq, wire, item))
            db.executemany(
                "INSERT INTO sync_spool (seq, mine, wire) VALUES (?, ?, ?)"
                " ON CONFLICT (seq) DO NOTHING",
                [(seq, int(item.to == me), wire) for seq, wire, item in waiting],
            )
        for seq, wire, item in waiting:
            if self.size + 2 * len(wire) <= PARSED_BYTES:
                self.parsed[seq] = item
                self.size += 2 * len(wire)  # the item's body and its sealed bytes


def _take_direct(vault: Vault, db: dbmod.Connection, item: Item, result: SyncResult) -> bool:
    """Take one of this laptop's own items as its page arrives; False (nothing done) if it
    brings a new team key, or fails its checks: it goes to the spool."""
    try:
        if _new_epoch(vault, item) is not None:
            return False
        _take_alone(vault, db, item, result)
    except IntegrityError as why:
        _unless_damaged(vault, why)
        return False
    return True


def _take_alone(vault: Vault, db: dbmod.Connection, item: Item, result: SyncResult) -> None:
    """:func:`_take` in a savepoint: if the item fails, what it did is undone, and what it
    would have added to ``result`` is not added."""
    mine = SyncResult(result.pulled)
    with dbmod.savepoint(db, "one_item"):
        _take(vault, db, item, mine)
    for name in ("cases_received", "clashes", "renamed", "erased"):
        getattr(result, name).extend(getattr(mine, name))
    result.events_received += mine.events_received
    result.attachments_received += mine.attachments_received
    result.ignored += mine.ignored


def _unless_damaged(vault: Vault, why: IntegrityError) -> None:
    """After an item failed its checks (and what it did was undone): names read again; a
    damaged database is not the item's fault, and stops the sync."""
    vault.forget_names()
    if isinstance(why, (DatabaseDamagedError, LogRolledBackError)):
        raise why


def take_spool(
    vault: Vault,
    result: SyncResult,
    parsed: dict[int, Item] | None = None,
    *,
    team: TeamChain | None = None,
) -> None:
    """Take in the spooled items: this laptop's own first, then the team's, each in the
    relay's order; a new team key epoch is adopted in its own key change, whose transaction
    also records the item as taken (so it is taken exactly once), once ``team`` (the relay's
    chain) names that epoch with that key. ``parsed``: items :func:`receive` has just read
    from the same bytes, not read again.

    An item that fails its checks does not stop the others: those after it are taken, and
    the ones that failed are tried again (in chain order) while any is taken, since one may
    wait only for another (its predecessor sent later, its author's ``member`` item, a new
    team key). Then an item whose place in its chain is now held by a checked item is
    dropped (a forgery, a replay: it never displaces the one taken); the rest stay in the
    spool, set aside (``refused``), tried again at each sync. The first item that failed at
    its first try here is raised (exit 4, naming it), even if taken at a later try: an
    honest relay hands out each laptop's items in order. One set aside at an earlier sync is
    only counted."""
    parsed = parsed or {}
    earlier = {int(seq) for (seq,) in vault.db.execute("SELECT seq FROM sync_spool WHERE refused")}
    failed: dict[int, IntegrityError] = {}  # seq: why, of the items not taken
    took = _take_pass(vault, result, parsed, team, failed, _in_relay_order(vault))
    first = {seq: why for seq, why in failed.items() if seq not in earlier}
    while took and failed:
        took = _take_pass(vault, result, parsed, team, failed, _in_chain_order(vault, failed))
    _set_aside(vault, result, failed)
    if first:
        raise first[min(first)]


def _in_relay_order(vault: Vault) -> Iterator[list[int]]:
    """The spool's items in batches of about SPOOL_BYTES: this laptop's own first, then the
    team's, each in the relay's order."""
    for mine in (1, 0):
        after = -1
        while True:
            rows = vault.db.execute(
                "SELECT seq, length(wire) FROM sync_spool WHERE mine = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (mine, after, FETCH_LIMIT),
            ).fetchall()
            if not rows:
                break
            after = int(rows[-1][0])
            batch: list[int] = []
            size = 0
            for seq, length in rows:
                if batch and size + int(length) > SPOOL_BYTES:
                    yield batch
                    batch, size = [], 0
                batch.append(int(seq))
                size += int(length)
            yield batch


def _in_chain_order(vault: Vault, failed: dict[int, IntegrityError]) -> Iterator[list[int]]:
    """The items that failed, again: this laptop's own first, then by their number in their
    chain (so a chain the relay sent out of order is taken in one round), then as relayed."""
    keyed = []
    for seq in failed:
        item = _spooled(vault, seq)
        keyed.append((item.to != vault.identity.key_id, item.n, seq))
    for start in range(0, len(keyed), FETCH_LIMIT):
        yield [seq for *_, seq in sorted(keyed)[start : start + FETCH_LIMIT]]


def _take_pass(
    vault: Vault,
    result: SyncResult,
    parsed: dict[int, Item],
    team: TeamChain | None,
    failed: dict[int, IntegrityError],
    batches: Iterator[list[int]],
) -> bool:
    """One round over ``batches`` of spooled items; True if any was taken."""
    took = False
    for batch in batches:
        run: list[tuple[int, Item]] = []
        queued: dict[tuple[str, str], int] = {}  # each chain's last number in ``run``
        for seq in batch:
            item = parsed.get(seq) or _spooled(vault, seq)
            try:
                _not_ahead(vault, item, queued)
                epoch = _new_epoch(vault, item)
            except IntegrityError as why:
                _unless_damaged(vault, why)
                failed[seq] = why
                continue
            if epoch is None:
                run.append((seq, item))
                chain = (item.origin, item.to)
                queued[chain] = max(queued.get(chain, 0), item.n)
                continue
            took |= _take_run(vault, run, result, failed)
            run, queued = [], {}
            try:
                _take_epoch(vault, seq, item, epoch, result, team)
            except IntegrityError as why:
                _unless_damaged(vault, why)
                failed[seq] = why
                continue
            failed.pop(seq, None)
            took = True
        took |= _take_run(vault, run, result, failed)
    return took


def _not_ahead(vault: Vault, item: Item, queued: dict[tuple[str, str], int]) -> None:
    """Raise (without opening it) if ``item`` comes after a gap in its chain here (held, or
    ``queued`` to be taken before it): it cannot be taken before the items it follows, so
    its checks wait until they are."""
    if item.to not in (TO_TEAM, vault.identity.key_id):
        return  # _take names it
    row = vault.db.execute(
        "SELECT n, closed FROM sync_received WHERE origin = ? AND recipient = ?",
        (item.origin, item.to),
    ).fetchone()
    n = max(0 if row is None else int(row[0]), queued.get((item.origin, item.to), 0))
    if item.n > n + 1 and not (row is not None and row[1]):
        check_next(Received(n), item)  # names the items dropped (its hash is not looked at)


def _set_aside(vault: Vault, result: SyncResult, failed: dict[int, IntegrityError]) -> None:
    """What is left of the items that failed: dropped where a checked item holds its place
    in its chain, else set aside."""
    if not failed:
        return
    with vault.transaction() as db:
        for seq in sorted(failed):
            item = _spooled(vault, seq)
            held = db.execute(
                "SELECT n FROM sync_received WHERE origin = ? AND recipient = ?",
                (item.origin, item.to),
            ).fetchone()
            if held is not None and item.n <= int(held[0]):
                db.execute("DELETE FROM sync_spool WHERE seq = ?", (seq,))
                continue
            db.execute("UPDATE sync_spool SET refused = 1 WHERE seq = ?", (seq,))
            result.set_aside += 1


def _spooled(vault: Vault, seq: int) -> Item:
    (wire,) = dbmod.one(vault.db, "SELECT wire FROM sync_spool WHERE seq = ?", (seq,))
    return parse_item(bytes(wire))


def _take_run(
    vault: Vault, run: list[tuple[int, Item]], result: SyncResult, failed: dict[int, IntegrityError]
) -> bool:
    """Take ``run`` in one transaction, each item in a savepoint: one that fails its checks
    is undone alone and noted in ``failed``. True if any was taken."""
    if not run:
        return False
    took = False
    with vault.transaction() as db:
        for seq, item in run:
            try:
                _take_alone(vault, db, item, result)
            except IntegrityError as why:
                _unless_damaged(vault, why)
                failed[seq] = why
                continue
            failed.pop(seq, None)
            db.execute("DELETE FROM sync_spool WHERE seq = ?", (seq,))
            result.received_items += 1
            took = True
    return took


def _new_epoch(vault: Vault, item: Item) -> dict[str, Any] | None:
    """An item to this laptop's owner holding a team key epoch it lacks: its content."""
    if item.to != vault.identity.key_id:
        return None
    row = vault.db.execute(
        "SELECT n, closed FROM sync_received WHERE origin = ? AND recipient = ?",
        (item.origin, item.to),
    ).fetchone()
    if row is not None and item.n <= int(row[0]):
        return None  # held already: _take checks it
    removed_here = row is not None and bool(row[1])
    if removed_here and not _removed_here_untold(vault, item.origin):
        return None  # from a removed caseworker: _take checks it
    doc = _open(vault, item)
    if doc.get("t") != "epoch":
        return None
    try:
        epoch, public_key = int(doc["team_key"]["epoch"]), unb64(doc["team_key"]["public_key"])
    except (KeyError, TypeError, ValueError):
        return None if removed_here else doc  # _take_epoch names it
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


def _take_epoch(
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
    named = None if chain is None else _chain_names(vault, chain, team.epoch, team.public_key, gone)
    if named is None:
        raise IntegrityError(
            f"Item {item.n} from laptop {item.origin} holds a team key (epoch {team.epoch})"
            " that the relay's record of the team does not name; it was not taken."
        )
    held = vault.access.team_key(team.epoch)
    settling = held is not None and held.public_key != team.public_key
    if settling and not epoch_settling.can_settle(vault, team.epoch):
        raise _two_new_keys(team.epoch, settles=False)

    def changes(db: dbmod.Connection) -> None:
        _take(vault, db, item, result)  # checks signature and chain, records it as taken
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
        removed = _removed_by_epoch(*chain(), team.epoch)
        result.settled = epoch_settling.settle_epoch(
            vault, team, removed, changes, lambda: _two_new_keys(team.epoch, settles=False)
        )
    else:
        membership.adopt_team_key(vault, team, changes)
    result.received_items += 1
    result.new_epoch = team.epoch
    result.new_epoch_revoked = None if revoked is None else str(revoked.get("name", ""))
    result.taken_epochs.append((result.new_epoch, result.new_epoch_revoked))


def _signed_by_its_laptop(vault: Vault, item: Item) -> None:
    """Raise unless ``item`` is signed by the caseworker registered for the laptop it names
    (:func:`_take` checks it again, with its place in the chain, as it takes it)."""
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


def _chain_names(
    vault: Vault, chain: TeamChain, epoch: int, public_key: bytes, gone: str | None
) -> str | None:
    """Whether the relay's chain of the team started ``epoch`` with ``public_key``, revoking
    ``gone`` (a revocation) or nobody (a rotation): a current member's laptop is trusted with
    the team key, but not to make the others take a key the team's record does not name.
    None if not; else the log origin the chain's ``add`` names for ``gone`` ("" if none)."""
    start, statements = chain()
    _check_start(vault, start)
    named = _epochs_started(start, statements).get(epoch)
    if named != (public_key, frozenset({gone} if gone else ())):
        return None
    return _origins(start, statements).get(gone or "", "")


def _removed_by_epoch(
    start: TeamPublicKey, statements: list[Statement], epoch: int
) -> frozenset[str]:
    """Key ids the relay's chain has removed from the team once it starts ``epoch``."""
    team = Team.start(start)
    for statement in statements:
        after = apply(team, statement)  # checked already by _chain_names
        if after.epoch > epoch:
            break
        team = after
    return frozenset(team.revoked)


def _origins(start: TeamPublicKey, statements: list[Statement]) -> dict[str, str]:
    """The log origin of each member the relay's chain adds, by key id."""
    team = Team.start(start)
    found = {m.key_id: m.origin for m in team.members if m.origin}
    for statement in statements:
        team = apply(team, statement)  # checked already by _epochs_started
        found |= {m.key_id: m.origin for m in team.members if m.origin}
    return found


def _epochs_started(
    start: TeamPublicKey, statements: list[Statement]
) -> dict[int, tuple[bytes, frozenset[str]]]:
    """Each team key epoch the relay's chain starts: its public key, and the key ids the
    statement starting it revoked (none, for a rotation)."""
    team = Team.start(start)
    started: dict[int, tuple[bytes, frozenset[str]]] = {}
    try:
        for statement in statements:
            after = apply(team, statement)
            if after.epoch != team.epoch:
                started[after.epoch] = (after.public_key, after.revoked - team.revoked)
            team = after
    except TeamChangeError as e:
        raise IntegrityError(f"The relay's record of the team does not verify ({e}).") from None
    return started


def _take(vault: Vault, db: dbmod.Connection, item: Item, result: SyncResult) -> None:
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
        if not _read_closed(vault, db, item):
            result.ignored += 1
        return
    author = db.execute(
        "SELECT c.sign_pk FROM sync_origins o JOIN caseworkers c ON c.key_id = o.key_id"
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
    row = db.execute(
        "SELECT n, head FROM sync_received WHERE origin = ? AND recipient = ?",
        (item.origin, recipient),
    ).fetchone()
    n, head = (0, FIRST_PREV) if row is None else (int(row[0]), str(row[1]))
    if item.n <= n:
        if item.n == n and item.hash != head:
            raise RelayMisbehaved(
                f"The relay sent a different item {item.n} from laptop {item.origin} than"
                " before: its items have been changed or forked."
            )
        return  # held already (a sync cut off before its acknowledgement, or a welcome's)
    check_next(Received(n, head), item)
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
            _take_cases(vault, db, doc, result)
        elif kind == "events":
            _take_events(vault, db, doc, result)
        elif kind == "blob":
            _take_blob_part(db, doc, result)
        elif kind == "erased":
            _take_erased(vault, db, doc, result)
        elif kind == "delivered":
            _take_delivered(db, doc)
        elif kind == "retention":
            body = unb64(doc["body"])
            retention.adopt_policy(vault, db, body, unb64(doc["signature"], 64))
            _known(db, "retention", hashlib.sha256(body).hexdigest(), "")
        elif kind == "epoch":
            pass  # adopted by _take_epoch, in this transaction
        elif kind == "log":
            team_logs.take(vault, db, item, doc)
        else:
            raise ValueError
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        raise IntegrityError(
            f"Item {item.n} from laptop {item.origin} is not in the expected form."
        ) from None


def _read_closed(vault: Vault, db: dbmod.Connection, item: Item) -> bool:
    """An item numbered after this laptop closed its laptop's chain (a removed caseworker's):
    read in order, its signature checked, and of it only its own access log's entries that
    the team witnessed are taken (:func:`vault.team_logs.take_witnessed`, docs/sync.md
    section 4). False if nothing of it was taken: anything but a log item, or an item that
    is not the next one (the rest of that chain is then never read), or that fails a check."""
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
    if doc.get("t") != "log":
        return False
    try:
        with dbmod.savepoint(db, "closed_log"):
            return team_logs.take_witnessed(vault, db, item, doc)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, IntegrityError) as why:
        if isinstance(why, (DatabaseDamagedError, LogRolledBackError)):
            raise
        return False  # a removed laptop's malformed item: nothing of it taken, sync goes on


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


def _take_cases(
    vault: Vault, db: dbmod.Connection, doc: dict[str, Any], result: SyncResult
) -> None:
    cases = [(str(c["id"]), unb64(c["envelope"]), str(c["received"])) for c in doc["cases"]]
    stored, clashes, renamed = incoming.store_relayed(vault, db, cases)
    result.cases_received += stored
    result.clashes += clashes
    result.renamed += renamed
    _release_waiting(vault, db, stored, result)
    # Not the id of a report held here under another: here it may be another report's,
    # which the team has yet to get.
    elsewhere = set(clashes) | {team_id for team_id, _ in renamed}
    for case_id in {c[0] for c in cases}.difference(elsewhere).union(stored):
        _known(db, "case", case_id, case_id)


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


def _release_waiting(
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
        _known(db, "delivered", reply_id, case_id)


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
        _known(db, "erased", gone.id, "")


def _take_reporter_message(db: dbmod.Connection, event: Event, message: bytes) -> None:
    """The reporter's message a ``reporter-message`` event took in, stored beside it."""
    if reporter_messages.message_id(message) != event.data.get("message"):
        raise IntegrityError("A reporter's message from the team does not match its event.")
    db.execute(
        "INSERT INTO reporter_messages (id, case_id, event_id, kind, message)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (event.data["message"], event.case, event.id, str(event.data.get("kind")), message),
    )


def _take_blob_part(db: dbmod.Connection, doc: dict[str, Any], result: SyncResult) -> None:
    blob, part, parts = str(doc["id"]), int(doc["part"]), int(doc["parts"])
    if not 0 <= part < parts or len(blob) != 64:
        raise ValueError
    _known(db, "blob", blob, "")
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


def _known(db: dbmod.Connection, kind: str, item_id: str, case_id: str) -> None:
    db.execute(
        "INSERT INTO sync_known (kind, id, case_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (kind, item_id, case_id),
    )


# --- sending ----------------------------------------------------------------------------


class _Chain:
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


def _team_chain(vault: Vault, db: dbmod.Connection) -> _Chain:
    current = vault.access.current
    return _Chain(vault, db, TO_TEAM, current.public_key, current.epoch)


def queue_new(vault: Vault) -> None:
    """Queue, as team items, what this vault holds that the others have not got."""
    with vault.transaction() as db:
        chain = _team_chain(vault, db)
        new_cases = db.execute(
            "SELECT id, envelope, received FROM cases WHERE id NOT IN"
            " (SELECT id FROM sync_known WHERE kind = 'case') ORDER BY rowid"
        ).fetchall()
        chain.batches("cases", "cases", _case_entries(new_cases))
        for case_id, _, _ in new_cases:
            _known(db, "case", str(case_id), str(case_id))
        new_events = db.execute(
            "SELECT id, case_id, body, signature FROM events WHERE id NOT IN"
            " (SELECT id FROM sync_known WHERE kind = 'event') ORDER BY seq"
        ).fetchall()
        chain.batches("events", "events", _event_entries(db, new_events))
        for event_id, case_id, _, _ in new_events:
            _known(db, "event", str(event_id), str(case_id))
        new_blobs = [
            str(b)
            for (b,) in db.execute(
                "SELECT id FROM blobs WHERE id NOT IN"
                " (SELECT id FROM sync_known WHERE kind = 'blob') ORDER BY id"
            ).fetchall()
        ]
        for blob in new_blobs:
            _queue_blob(db, chain, blob)
            _known(db, "blob", blob, "")
        delivered = db.execute(
            "SELECT id, case_id FROM replies WHERE delivered = 1"
            " AND id NOT IN (SELECT id FROM sync_known WHERE kind = 'delivered') ORDER BY rowid"
        ).fetchall()
        chain.batches("delivered", "replies", _delivered_entries(delivered))
        for reply_id, case_id in delivered:
            _known(db, "delivered", str(reply_id), str(case_id))
        _queue_policy(db, chain)
        erased = db.execute(
            _ERASED + " WHERE id NOT IN (SELECT id FROM sync_known WHERE kind = 'erased')"  # noqa: S608
        ).fetchall()
        chain.batches("erased", "cases", _erased_entries(erased))
        for row in erased:
            _known(db, "erased", str(row[0]), "")  # no case_id: it outlives the case


_ERASED = (
    "SELECT id, envelope_id, received, closed, erased, status, outcome, reason FROM erased_cases"
)


def _queue_policy(db: dbmod.Connection, chain: _Chain) -> None:
    """The retention policy, when it changed here (set here, or taken from the team)."""
    signed = retention.policy_signed(db)
    if signed is None:
        return
    policy_id = hashlib.sha256(signed[0]).hexdigest()
    known = db.execute(
        "SELECT 1 FROM sync_known WHERE kind = 'retention' AND id = ?", (policy_id,)
    ).fetchone()
    if known is None:
        chain.add({"t": "retention", "body": b64(signed[0]), "signature": b64(signed[1])})
        _known(db, "retention", policy_id, "")


def _delivered_entries(rows: list[Any]) -> Iterator[dict[str, Any]]:
    for reply_id, case_id in rows:
        yield {"id": str(reply_id), "case": str(case_id)}


def _erased_entries(rows: list[Any]) -> Iterator[dict[str, Any]]:
    """Tombstones as they travel: the case's id and envelope id, days, status, outcome and
    the reason, never content."""
    names = ("id", "envelope_id", "received", "closed", "erased", "status", "outcome", "reason")
    for row in rows:
        entry = dict(zip(names, row, strict=True))
        entry["envelope_id"] = bytes(row[1]).hex()
        yield entry


def _case_entries(rows: list[Any]) -> Iterator[dict[str, Any]]:
    for case_id, envelope, received in rows:
        yield {"id": str(case_id), "envelope": b64(bytes(envelope)), "received": str(received)}


def _event_entries(db: dbmod.Connection, rows: list[Any]) -> Iterator[dict[str, Any]]:
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


def _queue_blob(db: dbmod.Connection, chain: _Chain, blob: str) -> None:
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


# --- welcoming a new member --------------------------------------------------------------


def welcome_joiners(vault: Vault, relay: RelayClient) -> list[str]:
    """For each caseworker added from a join request: the statement, then their welcome."""
    from vault.join_request import read_request

    done = []
    for key_id, request_bytes in vault.db.execute(
        "SELECT key_id, request FROM sync_joiners WHERE done = 0 ORDER BY rowid"
    ).fetchall():
        request = read_request(bytes(request_bytes))
        start, statements = relay.team()
        _check_start(vault, start)
        try:
            team = follow(Team.start(start), statements)
        except TeamChangeError as e:
            raise IntegrityError(f"The relay's record of the team does not verify ({e}).") from None
        if team.member(str(key_id)) is None:
            member = Member(request.name, request.sign_pk, request.box_pk, request.origin)
            relay.add_statement(make_statement(team, vault.identity, "add", today(), member=member))
        elif _added_by(start, statements, str(key_id)) != vault.identity.key_id:
            # a colleague added them first (from the same request): their welcome comes from
            # that laptop, and a second would be refused by the new laptop
            with vault.transaction() as db:
                db.execute("UPDATE sync_joiners SET done = 1 WHERE key_id = ?", (key_id,))
            continue
        with vault.transaction() as db:
            _queue_welcome(vault, db, request)
            team_logs.queue_history(vault, db, _Chain(vault, db, str(key_id), request.box_pk, 0))
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


def announce_new_epochs(
    vault: Vault, relay: RelayClient, done: list[tuple[int, str | None]] | None = None
) -> list[tuple[int, str | None]]:
    """For each team key epoch started here (a rotation, or a revocation): the statement
    naming it (so the relay takes reports sealed to it at once, and refuses whoever was
    revoked), then the new team key sealed to each remaining member on another laptop.
    Returns (epoch, name of whoever was revoked, if anyone) for each, added to ``done``
    (those told before a :class:`NotTold` stopped it stay there)."""
    done = [] if done is None else done
    for epoch, revoked in vault.db.execute(
        "SELECT epoch, revoked FROM sync_new_epochs WHERE done = 0 ORDER BY epoch"
    ).fetchall():
        new = vault.team_key(int(epoch))
        gone: Member | None = None
        if revoked is not None:
            name, sign_pk = dbmod.one(
                vault.db, "SELECT name, sign_pk FROM caseworkers WHERE key_id = ?", (revoked,)
            )
            gone = Member(str(name), bytes(sign_pk))
        start, statements = relay.team()
        _check_start(vault, start)
        team, epochs = _team_and_epochs(start, statements)
        if new.epoch in epochs and epochs[new.epoch] != new.public_key:
            raise _two_new_keys(new.epoch, settles=epoch_settling.can_settle(vault, new.epoch))
        # Whom the relay's record says this epoch removed: the caseworker revoked here, unless
        # the relay never had them (added here by mistake and removed before any sync): then
        # the epoch is a rotation to the team.
        told = gone
        if new.epoch in epochs:
            removed = _epochs_started(start, statements).get(new.epoch, (b"", frozenset()))[1]
            told = gone if gone is not None and gone.key_id in removed else None
        else:
            if gone is not None and team.member(gone.key_id) is None:
                told = None
            statement = make_statement(
                team,
                vault.identity,
                "rotate" if told is None else "revoke",
                today(),
                member=told,
                epoch=(new.epoch, new.public_key),
            )
            try:
                relay.add_statement(statement)
            except TeamMovedOn:
                raise NotTold(
                    f"The relay's record of the team changed while this laptop told it of team"
                    f" key epoch {new.epoch}; it was not told.",
                    again=True,
                    hint="sync again",
                ) from None
        with vault.transaction() as db:
            others = {
                str(k): bytes(b)
                for k, b in db.execute(
                    "SELECT c.key_id, c.box_pk FROM caseworkers c JOIN sync_origins o"
                    " ON o.key_id = c.key_id WHERE c.revoked IS NULL AND c.key_id != ?",
                    (vault.identity.key_id,),
                )
            }
            for member in team.members:  # one added on another laptop, not yet heard of here
                if member.box_pk is not None and member.origin is not None:
                    others.setdefault(member.key_id, member.box_pk)
            others.pop(vault.identity.key_id, None)
            if gone is not None:
                others.pop(gone.key_id, None)
            # nor to anyone removed here since (a later epoch of this sync removes them from
            # the relay's record too, and the relay would refuse an item addressed to them)
            for (removed,) in db.execute(
                "SELECT key_id FROM caseworkers WHERE revoked IS NOT NULL"
            ):
                others.pop(str(removed), None)
            # nor to anyone added here whom the relay's record does not name yet: the
            # relay would refuse an item addressed to them, and their welcome (step 4 of
            # this sync) holds every team key, this one included
            others = {k: b for k, b in others.items() if team.member(k) is not None}
            for other_id, box_pk in sorted(others.items()):
                chain = _Chain(vault, db, other_id, box_pk, 0)
                chain.add(
                    {
                        "t": "epoch",
                        "team_key": {
                            "epoch": new.epoch,
                            "public_key": b64(new.public_key),
                            "secret_key": b64(new.secret_key.reveal()),
                        },
                        "revoked": None if told is None else _revoked_entry(db, str(revoked)),
                    }
                )
            db.execute("UPDATE sync_new_epochs SET done = 1 WHERE epoch = ?", (epoch,))
        done.append((new.epoch, None if gone is None else gone.name))
    return done


def _stop_if_started_elsewhere(vault: Vault, relay: RelayClient) -> None:
    """Raise if the relay's record of the team names a team key epoch this laptop started and
    has not told it of, with another laptop's key (docs/sync.md section 4, step 2)."""
    untold = [
        int(e) for (e,) in vault.db.execute("SELECT epoch FROM sync_new_epochs WHERE done = 0")
    ]
    if not untold:
        return
    start, statements = relay.team()
    _check_start(vault, start)
    epochs = _team_and_epochs(start, statements)[1]
    for epoch in sorted(untold):
        if epoch in epochs and epochs[epoch] != vault.team_key(epoch).public_key:
            raise _two_new_keys(epoch, settles=epoch_settling.can_settle(vault, epoch))


def _revoked_entry(db: dbmod.Connection, key_id: str) -> dict[str, Any]:
    """Who an `epoch` item says was removed, with their public keys and log origin, so a
    laptop that has not heard of them yet knows them, as removed."""
    name, sign_pk, box_pk = dbmod.one(
        db, "SELECT name, sign_pk, box_pk FROM caseworkers WHERE key_id = ?", (key_id,)
    )
    entry = {
        "key_id": key_id,
        "name": str(name),
        "sign_pk": b64(bytes(sign_pk)),
        "box_pk": b64(bytes(box_pk)),
    }
    origin = db.execute("SELECT origin FROM sync_origins WHERE key_id = ?", (key_id,)).fetchone()
    if origin is not None:
        entry["origin"] = str(origin[0])
    return entry


def _two_new_keys(epoch: int, *, settles: bool) -> NotTold:
    """Another laptop told the relay of team key epoch ``epoch`` first, with another key.
    ``settles``: this laptop will take that key, once the other laptop's item bringing it has
    arrived (vault/epoch_settling.py); else it cannot (something sealed to its own key may
    have left it)."""
    if settles:
        return NotTold(
            f"Another laptop started team key epoch {epoch} before this one told the relay of"
            " its own, and its key has not reached this laptop yet; nothing was sent.",
            again=True,
            hint="sync again later: the sync that receives the other laptop's key settles it"
            " (docs/sync.md, 'Two new team keys at once')",
        )
    return NotTold(
        f"Another laptop started team key epoch {epoch} before this one told the relay of its"
        " own; this laptop cannot sync until that is settled.",
        again=False,
        hint="keep this laptop as it is and ask the team's administrator"
        " (docs/sync.md, 'Two new team keys at once')",
    )


def _team_and_epochs(
    start: TeamPublicKey, statements: list[Statement]
) -> tuple[Team, dict[int, bytes]]:
    """The team the relay's chain describes, and the public key of each epoch it names."""
    team = Team.start(start)
    epochs = {team.epoch: team.public_key}
    try:
        for statement in statements:
            team = apply(team, statement)
            epochs[team.epoch] = team.public_key
    except TeamChangeError as e:
        raise IntegrityError(f"The relay's record of the team does not verify ({e}).") from None
    return team, epochs


def _check_start(vault: Vault, start: TeamPublicKey) -> None:
    held = vault.access.team_key(start.epoch)
    if held is None or held.public_key != start.public_key:
        raise IntegrityError(
            "The relay's team key is not this team's: it was started with another team key file."
        )


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
    team = _team_chain(vault, db)
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
    chain = _Chain(vault, db, key_id, request.box_pk, 0)
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
    chain.batches("cases", "cases", _case_entries(cases))
    events = db.execute("SELECT id, case_id, body, signature FROM events ORDER BY seq").fetchall()
    chain.batches("events", "events", _event_entries(db, events))
    for (blob,) in db.execute("SELECT id FROM blobs ORDER BY id").fetchall():
        _queue_blob(db, chain, str(blob))
    delivered = db.execute(
        "SELECT id, case_id FROM replies WHERE delivered = 1"
        " UNION SELECT id, case_id FROM sync_delivered"
    ).fetchall()
    chain.batches("delivered", "replies", _delivered_entries(delivered))
    chain.batches("erased", "cases", _erased_entries(db.execute(_ERASED).fetchall()))
    signed = retention.policy_signed(db)
    if signed is not None:
        chain.add({"t": "retention", "body": b64(signed[0]), "signature": b64(signed[1])})


__all__ = ["RelayClient", "SyncResult", "first_welcome", "sync"]
