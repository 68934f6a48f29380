"""Receiving (``docs/sync.md``, step 1): the items waiting at the relay fetched into
the spool (``sync_spool``, in the vault's encrypted database), each page acknowledged once it
is stored; then taken in order (:mod:`vault.taking` does what each one does): this laptop's
own first, then the team's, a new team key in a key change of its own. Items that fail their
checks are tried again while others are taken, then set aside.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from vault import db as dbmod
from vault.errors import DatabaseDamagedError, IntegrityError, LogRolledBackError
from vault.relay_client import FETCH_LIMIT, RelayClient
from vault.relay_items import (
    TO_TEAM,
    Item,
    ItemError,
    Received,
    RelayMisbehaved,
    check_next,
    parse_item,
)
from vault.store import Vault
from vault.sync_result import SyncResult
from vault.taking import new_epoch, take, take_epoch
from vault.team_record import TeamChain

SPOOL_BYTES = 8 << 20  # about this many spooled item bytes taken in one transaction
PARSED_BYTES = 64 << 20  # about this much memory keeps items read between spool and taking


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
                chains = page.store(vault, items, result)
                acks.append((talker.submit(relay.acknowledge, items[-1][0]), chains))
            if not more or not items:
                break
        # The pages whose acknowledgement was answered: the relay confirmed it deleted them.
        confirmed: dict[tuple[str, str], int] = {}
        try:
            for ack, chains in acks:
                ack.result()  # an acknowledgement that failed fails the sync, as it always did
                for chain, n in chains.items():
                    confirmed[chain] = max(n, confirmed.get(chain, 0))
        except BaseException:
            _remember_acknowledged(vault, confirmed)  # those answered before it
            raise
    try:
        take_spool(vault, result, page.parsed, team=lambda: relay.team())
    finally:
        _remember_acknowledged(vault, confirmed)  # and for the chains first taken now
    if page.unreadable:
        raise page.unreadable[0]  # acknowledged: nothing any laptop sent (the relay reads each)


@dataclass(slots=True)
class _Receiving:
    direct: bool  # this laptop's own items are taken in as they come
    parsed: dict[int, Item] = field(default_factory=dict)  # spooled here, kept read
    size: int = 0  # about the memory ``parsed`` takes, kept under PARSED_BYTES
    unreadable: list[RelayMisbehaved] = field(default_factory=list)  # not items at all: dropped

    def store(
        self, vault: Vault, items: list[tuple[int, bytes]], result: SyncResult
    ) -> dict[tuple[str, str], int]:
        """A page of items, in one transaction: this laptop's own taken in (while
        :attr:`direct`), the others spooled. One of its own that fails its checks is spooled
        too (with those after it), to be named by :func:`take_spool`. Bytes that are not an
        item at all are noted, to be named once the rest is taken, and not kept: the relay
        reads every item a laptop sends it (:func:`parse_item`), so no laptop sent them.
        Returns the page's chains, (origin, recipient), each with its last number in it."""
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
        chains: dict[tuple[str, str], int] = {}
        for _, _, item in page:
            chains[item.origin, item.to] = max(item.n, chains.get((item.origin, item.to), 0))
        if not page:
            return chains
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
        return chains


def _remember_acknowledged(vault: Vault, acknowledged: dict[tuple[str, str], int]) -> None:
    """The relay confirmed it deleted the items of the pages acknowledged, up to these
    numbers of each chain (``sync_received.acked``, for each chain this laptop has taken
    items from): it must never send one of them again. One sent again that this laptop holds,
    whenever it came to hold it (an item set aside behind a gap is taken at a later sync), is
    a replay (:func:`vault.taking.take`). One it does not hold is not: an item set aside (a
    forgery) is not held, and the genuine one may still come, taken as any other."""
    if not acknowledged:
        return
    with vault.transaction() as db:
        db.executemany(
            "UPDATE sync_received SET acked = max(acked, ?) WHERE origin = ? AND recipient = ?",
            [(n, origin, to) for (origin, to), n in acknowledged.items()],
        )


def _take_direct(vault: Vault, db: dbmod.Connection, item: Item, result: SyncResult) -> bool:
    """Take one of this laptop's own items as its page arrives; False (nothing done) if it
    brings a new team key, or fails its checks: it goes to the spool."""
    try:
        if new_epoch(vault, item) is not None:
            return False
        _take_alone(vault, db, item, result)
    except IntegrityError as why:
        _unless_damaged(vault, why)
        return False
    return True


def _take_alone(vault: Vault, db: dbmod.Connection, item: Item, result: SyncResult) -> None:
    """:func:`take` in a savepoint: if the item fails, what it did is undone, and what it
    would have added to ``result`` is not added."""
    mine = SyncResult(result.pulled)
    with dbmod.savepoint(db, "one_item"):
        take(vault, db, item, mine)
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
                epoch = new_epoch(vault, item)
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
                take_epoch(vault, seq, item, epoch, result, team)
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
        return  # take names it
    row = vault.db.execute(
        "SELECT n, closed FROM sync_received WHERE origin = ? AND recipient = ?",
        (item.origin, item.to),
    ).fetchone()
    n = max(0 if row is None else int(row[0]), queued.get((item.origin, item.to), 0))
    if item.n > n + 1 and not (row is not None and row[1]):
        owner = vault.db.execute(
            "SELECT c.name FROM sync_origins o JOIN caseworkers c ON c.key_id = o.key_id"
            " WHERE o.origin = ?",
            (item.origin,),
        ).fetchone()
        # names the items dropped (its hash is not looked at)
        check_next(Received(n), item, owner=None if owner is None else str(owner[0]))


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
