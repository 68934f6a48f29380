"""The index of safety alerts (the ``alerts`` table) folded again from a case's events, when
alert events arrive from other laptops (docs/alerts.md, "On a team of laptops").

On the laptop where it happens, drafting, approving and exporting write their signed event
and the index row together (:mod:`vault.alerts`). A colleague's laptop receives only the
events; after a sync has stored them, this module folds the case's alert events in the
team's order (:func:`vault.merged_cases.merged`, the order the case's state is folded in) and
writes the case's index rows again, so every laptop holds the same alerts in the same states:

- ``alert-drafted`` makes an alert in draft, or replaces the draft of one still in draft; a
  draft of an alert already approved (drafted on one laptop while another approved it) does
  not take effect;
- ``alert-approved`` approves an alert in draft with the draft whose SHA-256 it names: the
  current one, or an earlier one of the same alert (re-drafted meanwhile elsewhere), which
  then stands again, since it is the text the approver read; one without an override of a
  draft with open flags does not take effect (``vault alerts approve`` refuses it); one
  signed by the draft's own drafter takes effect only where they could approve it themselves
  (made, as was the draft, before the vault joined a team; or while they were its only
  current caseworker, as the access log that records it says: :func:`sole_caseworker_then`,
  as export checks);
- ``alert-exported`` marks exported the draft it names (``exported_draft``), approved by an
  approval that would have taken effect had the alert still been in draft (made apart from
  another approval that came first in the team's order): what left the vault is what every
  laptop lists; an export naming no approved draft does not take effect. One made before
  exports named their draft marks an approved alert exported.

Export still checks, from the signed events, that the draft was approved by someone other
than its drafter (:func:`vault.alerts.export`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vault import db as dbmod
from vault import team_clock
from vault.case_history import verified_histories
from vault.case_view import open_sealed_text
from vault.cases import show_id
from vault.errors import VaultError
from vault.events import Event
from vault.keys import unb64
from vault.merged_cases import merged

if TYPE_CHECKING:
    from vault.store import Vault

ALERT_KINDS = ("alert-drafted", "alert-approved", "alert-exported")


@dataclass(slots=True)
class IndexRow:
    """One alert as the ``alerts`` table holds it, and the SHA-256 of its current draft."""

    id: str
    case_id: str
    state: str
    draft_event: str
    drafted_by: str
    approved_by: str | None
    open_flags: int
    overridden: int
    draft_sha256: str


def _not_counted(_event: Event, _draft: str) -> bool:
    return False


def fold(
    case_id: str,
    events: Iterable[Event],
    open_flags: dict[str, int],
    own_approval: Callable[[Event, str], bool] = _not_counted,
) -> list[IndexRow]:
    """A case's alerts after its ``events`` in the team's order (``open_flags``: how many
    flags each draft event's draft leaves open, by event id; ``own_approval``: whether an
    approval signed by the draft's own drafter counts, given the SHA-256 it names, when it
    is not one made before the vault synced, of a draft made then too)."""
    rows: dict[str, IndexRow] = {}
    drafts: dict[str, dict[str, IndexRow]] = {}  # each alert's drafts so far, by SHA-256
    approved: dict[str, dict[str, IndexRow]] = {}  # each alert's approved drafts, by SHA-256
    before_syncing: set[str] = set()  # draft events made before the vault synced
    for event in events:
        alert_id = event.data.get("alert")
        if event.kind not in ALERT_KINDS or not isinstance(alert_id, str):
            continue
        row = rows.get(alert_id)
        if event.kind == "alert-drafted":
            digest = _sealed_sha256(event)
            if digest is None:
                continue
            if event.stamp is None:
                before_syncing.add(event.id)
            made = IndexRow(
                alert_id,
                case_id,
                "draft",
                event.id,
                event.actor,
                None,
                open_flags.get(event.id, 0),
                0,
                digest,
            )
            # Kept even when it does not take effect: an approval made apart may name it.
            drafts.setdefault(alert_id, {}).setdefault(digest, made)
            if row is None or row.state == "draft":
                rows[alert_id] = made
        elif event.kind == "alert-approved":
            named = drafts.get(alert_id, {}).get(str(event.data.get("draft")))
            if named is None:
                continue  # a draft this alert never had
            if named.open_flags > 0 and "sealed" not in event.data:
                continue  # open flags and no override: approve refuses it (changed laptop)
            made_alone = event.stamp is None and named.draft_event in before_syncing
            if event.actor == named.drafted_by and not (
                made_alone or own_approval(event, named.draft_sha256)
            ):
                continue  # the two-person rule: not their own, on a team
            # The draft its approver read stands, even if another replaced it meanwhile.
            approval = IndexRow(
                alert_id,
                case_id,
                "approved",
                named.draft_event,
                named.drafted_by,
                event.actor,
                named.open_flags,
                int("sealed" in event.data and named.open_flags > 0),
                named.draft_sha256,
            )
            approved.setdefault(alert_id, {}).setdefault(named.draft_sha256, approval)
            if row is not None and row.state == "draft":
                rows[alert_id] = approval
        elif "exported_draft" in event.data:  # alert-exported, naming the draft it wrote
            was = approved.get(alert_id, {}).get(str(event.data["exported_draft"]))
            if was is not None:  # that draft approved (apart, perhaps): it is what left
                rows[alert_id] = replace(was, state="exported")
        elif row is not None and row.state == "approved":  # alert-exported, older
            row.state = "exported"
    return list(rows.values())


def _folded(vault: Vault, db: dbmod.Connection, case_ids: list[str]) -> dict[str, list[IndexRow]]:
    """Each of ``case_ids`` (cases holding alert events) with its alerts, folded from all its
    events in the team's order."""
    if not case_ids:
        return {}

    def own_approval(event: Event, draft: str) -> bool:
        alert_id = str(event.data["alert"])
        return sole_caseworker_then(vault, alert_id, draft, event.actor)

    histories = verified_histories(vault, db, case_ids)
    out = {}
    for case_id in case_ids:
        ordered = [p.event for p in merged(case_id, histories[case_id]).events]
        counts = {e.id: _open_flags(vault, e) for e in ordered if e.kind == "alert-drafted"}
        out[case_id] = fold(case_id, ordered, counts, own_approval)
    return out


def check(vault: Vault) -> list[str]:
    """``vault check``: each alert whose index row is not what its case's signed alert events
    give (the index changed, or a step that never took effect written into it)."""
    db = vault.db
    marks = ",".join("?" * len(ALERT_KINDS))
    cases = sorted(
        {
            str(c)
            for (c,) in db.execute(
                f"SELECT DISTINCT case_id FROM events WHERE kind IN ({marks})",  # noqa: S608
                ALERT_KINDS,
            )
        }
    )
    want: dict[str, tuple[object, ...]] = {}
    try:
        folded = _folded(vault, db, cases)
    except VaultError:
        return []  # a case's history that does not verify: named by the check of cases
    for rows in folded.values():
        for r in rows:
            kept = (r.case_id, r.state, r.draft_event, r.drafted_by, r.approved_by)
            want.setdefault(r.id, (*kept, r.open_flags, r.overridden))
    have = {
        str(row[0]): tuple(row[1:])
        for row in db.execute(
            "SELECT id, case_id, state, draft_event, drafted_by, approved_by, open_flags,"
            " overridden FROM alerts"
        )
    }
    return [
        f"alert {show_id(alert_id)}: its index does not match its case's signed alert events"
        for alert_id in sorted(set(want) | set(have))
        if want.get(alert_id) != have.get(alert_id)
    ]


def refold(vault: Vault, db: dbmod.Connection, case_ids: Iterable[str]) -> None:
    """Write the index rows of each of ``case_ids`` that holds alert events again, folded
    from all its events (in ``db``'s transaction, after a sync stored some)."""
    marks = ",".join("?" * len(ALERT_KINDS))
    with_alerts = [
        case_id
        for case_id in sorted(set(case_ids))
        if db.execute(
            f"SELECT 1 FROM events WHERE case_id = ? AND kind IN ({marks}) LIMIT 1",  # noqa: S608
            (case_id, *ALERT_KINDS),
        ).fetchone()
    ]
    for case_id, rows in _folded(vault, db, with_alerts).items():
        db.execute("DELETE FROM alerts WHERE case_id = ?", (case_id,))
        db.executemany(
            "INSERT INTO alerts (id, case_id, state, draft_event, drafted_by, approved_by,"
            " open_flags, overridden) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",  # another case's alert of that id: kept as it is
            [
                (
                    r.id,
                    r.case_id,
                    r.state,
                    r.draft_event,
                    r.drafted_by,
                    r.approved_by,
                    r.open_flags,
                    r.overridden,
                )
                for r in rows
            ],
        )


FOLDED_FACT = team_clock.ALERTS_FOLDED_FACT  # set once every alert event here is indexed


def fold_once(vault: Vault) -> None:
    """At the first unlock of a laptop on a team since alerts travel: write the index of every
    case holding alert events again, so alerts a colleague drafted, approved or exported
    before (whose events this laptop took in without indexing them) are listed here too. A
    laptop that starts syncing from this version on has the fact already (nothing written).
    A case whose events do not verify is left as it was and every other case is written; the
    fold then runs again at the next unlock."""
    db = vault.db
    if not team_clock.is_syncing(db):
        return  # a laptop not on a team indexed every alert step it made itself
    if db.execute("SELECT 1 FROM vault_facts WHERE name = ?", (FOLDED_FACT,)).fetchone():
        return
    marks = ",".join("?" * len(ALERT_KINDS))
    try:
        with vault.transaction() as tx:
            cases = [
                str(c)
                for (c,) in tx.execute(
                    f"SELECT DISTINCT case_id FROM events WHERE kind IN ({marks})",  # noqa: S608
                    ALERT_KINDS,
                )
            ]
            left = 0
            for case_id in cases:  # each on its own: one damaged case holds back no other
                try:
                    refold(vault, tx, [case_id])  # folds all before it writes anything
                except VaultError:
                    left += 1  # a damaged event (vault check names it): its rows as they were
            if not left:
                tx.execute(
                    "INSERT INTO vault_facts (name, value) VALUES (?, '1')"
                    " ON CONFLICT (name) DO NOTHING",
                    (FOLDED_FACT,),
                )
    except (VaultError, dbmod.DatabaseError):
        # A full disk: nothing was written, every command still opens the vault, and the
        # next unlock tries again (as it does while a case is left out above).
        return


def team_size(vault: Vault) -> int:
    return int(
        vault.db.execute("SELECT count(*) FROM caseworkers WHERE revoked IS NULL").fetchone()[0]
    )


def sole_caseworker_then(vault: Vault, alert_id: str, wanted: str, actor: str) -> bool:
    """Whether the drafter approved their own draft while the only current caseworker, as the
    log that records the approval says (this laptop's, or a colleague's it holds): adding a
    colleague later does not undo an approval a team of one made. Without such an entry,
    the team as it is now."""
    detail = alert_id.lower().encode()
    wanted_kinds = (  # only the entries that count: who was on the team, and approvals
        " WHERE instr(leaf, X'2063617365776f726b65722d') > 0"  # ' caseworker-'
        " OR instr(leaf, X'20616c6572742d617070726f76656420') > 0"  # ' alert-approved '
    )
    own = vault.db.execute(f"SELECT leaf FROM log_leaves{wanted_kinds} ORDER BY seq")  # noqa: S608
    logs: list[list[bytes]] = [[bytes(leaf) for (leaf,) in own]]
    rows = vault.db.execute(
        f"SELECT origin, leaf FROM team_log_leaves{wanted_kinds} ORDER BY origin, seq"  # noqa: S608
    )
    held: dict[str, list[bytes]] = {}
    for origin, leaf in rows:
        held.setdefault(str(origin), []).append(bytes(leaf))
    logs.extend(held.values())
    for leaves in logs:
        current: set[bytes] = set()
        for leaf in leaves:
            fields = leaf.split(b" ")
            if len(fields) != 7:
                continue
            action, who = fields[3], fields[5]
            if action == b"caseworker-added":
                current.add(who)
            elif action == b"caseworker-revoked":
                current.discard(who)
            elif (
                action == b"alert-approved"
                and who == detail
                and fields[2] == actor.encode()
                and fields[6] == wanted.encode()
            ):
                return len(current) <= 1
    return team_size(vault) == 1


def _sealed_sha256(event: Event) -> str | None:
    """The SHA-256 of a draft event's sealed draft (what an approval names), if well formed."""
    try:
        return hashlib.sha256(unb64(event.data.get("sealed"))).hexdigest()
    except ValueError:  # binascii.Error is one
        return None


def _open_flags(vault: Vault, event: Event) -> int:
    """How many flags the draft in ``event`` leaves open (0 where it cannot be opened here:
    the alert then shows as damaged when opened, as any draft that does not open)."""
    try:
        doc = json.loads(open_sealed_text(vault, event.data))
        return sum(1 for f in doc["flags"] if isinstance(f, dict) and f.get("state") == "open")
    except (
        KeyError,
        TypeError,
        ValueError,
        RecursionError,  # JSON nested deeper than the parser goes
        VaultError,  # not sealed to a key held here, or damaged
    ):
        return 0
