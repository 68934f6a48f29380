"""The offline check of a team's bundle (``redress-team-audit-bundle/1``): :func:`verify_team`.

A team of laptops keeps one access log per laptop. The bundle holds the team's membership
chain (where it starts, and every signed statement adding or revoking a member, each naming
the log origin of the member's laptop), the newest witnessed checkpoints colleagues passed
on, and every laptop's log. The check, in order (``docs/audit.md`` section 16):

1. the chain: the start is a team key file, and every statement follows it, each signed by a
   member at that point (:mod:`vault.team_changes`); it says which laptops exist and whose;
2. each log, as a one-log bundle is checked (:func:`vault.audit.verify.verify_log`), its
   messages prefixed with the laptop; each log must be on the chain, once, and list its
   owner (the member the chain names for that origin) among its caseworkers;
3. every laptop of a current member must have its log in the bundle ("withheld");
4. each witnessed checkpoint must be signed by a caseworker of its log and cosigned by a
   witness a log lists, and its log must hold it: at least its entries ("cut short"), with
   the same root ("forked"). A removed member's laptop's log may hold fewer: the exporting
   laptop closed its chain at the removal and took of it only what reached it witnessed,
   so that is reported (:attr:`Laptop.witnessed_elsewhere`), not refused.

Nothing in it needs or holds a key that opens a report.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from datetime import UTC, datetime

from vault.audit import merkle
from vault.audit.bundle import FORMATS, TEAM_VERSION, BundleContents, BundleError, parse_team
from vault.audit.signed_note import (
    Checkpoint,
    SignedNoteError,
    parse_note,
    verify_signature,
)
from vault.audit.verify import Verified, verify_log
from vault.errors import VaultError
from vault.keys import TeamPublicKey, caseworker_key_id
from vault.team_changes import Statement, Team, TeamChangeError, apply

STALE_DAYS = 7  # a laptop not witnessed for this long before the export is named as stopped


@dataclass(frozen=True, slots=True)
class Laptop:
    """One laptop of the team, as the bundle shows it."""

    name: str  # its owner, as the team's chain names them
    origin: str
    revoked: bool
    log: Verified | None  # None: no log of it in the bundle (a revoked member's only)
    witnessed_at: int | None  # POSIX time of the newest cosignature on its log, if any
    stale: bool  # its newest witnessed checkpoint is STALE_DAYS older than the export, or none
    # A removed member's laptop only: a colleague passed on a witnessed checkpoint of its log
    # covering this many entries, more than the bundle holds (None: it holds them all).
    witnessed_elsewhere: int | None = None


@dataclass(frozen=True, slots=True)
class TeamVerified:
    """What an auditor reads after a clean check of a team's bundle."""

    laptops: tuple[Laptop, ...]  # the exporting laptop first, then in order of joining
    exported_by: str  # the origin of the laptop that wrote the bundle
    epoch: int
    members: tuple[str, ...]  # current members' names
    newest: str  # the exporting laptop's newest checkpoint (for --save-checkpoint)
    trusted_origin: str | None
    trusted_size: int | None
    witnessed_heads: int  # how many witnessed checkpoints colleagues passed on
    format: str = FORMATS[TEAM_VERSION]


@dataclass(slots=True)
class _Owner:
    name: str
    sign_pks: list[bytes]
    revoked: bool
    order: int


def verify_team(data: bytes, trusted: str | None = None) -> TeamVerified:
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _verify_team(data, trusted)
    finally:
        if collecting:
            gc.enable()


def _verify_team(data: bytes, trusted: str | None) -> TeamVerified:
    parts = parse_team(data)
    team, owners = _follow(parts.start, parts.statements)

    trusted_origin = None
    if trusted is not None:
        try:
            trusted_origin = Checkpoint.parse_text(parse_note(trusted).text).origin
        except SignedNoteError as e:
            raise BundleError(
                f"The bundle's trusted checkpoint is not a valid checkpoint ({e})."
            ) from None
        if trusted_origin not in {log.origin for log in parts.logs}:
            raise BundleError("The trusted checkpoint is from a log that is not in the bundle.")

    start_owner = owners.pop("", None)  # a team key file older than the log names no origin
    unnamed = [log.origin for log in parts.logs if log.origin not in owners]
    if start_owner is not None and len(unnamed) == 1:
        owners[unnamed[0]] = start_owner  # the first laptop's log: the only one no add names

    logs: dict[str, Verified] = {}
    for contents in parts.logs:
        owner = owners.get(contents.origin)
        if owner is None:
            raise BundleError(
                f"The bundle holds the log of laptop {contents.origin}, which is not on the"
                " team's record."
            )
        if contents.origin in logs:
            raise BundleError(f"The bundle holds the log of laptop {contents.origin} twice.")
        where = f"In the log of {owner.name}'s laptop ({contents.origin}): "
        try:
            logs[contents.origin] = verify_log(
                contents, trusted if trusted_origin == contents.origin else None
            )
        except BundleError as e:
            raise BundleError(where + str(e)) from None
        listed = {p.key.public_key for p in contents.people if p.role == "caseworker"}
        if not listed & set(owner.sign_pks):
            raise BundleError(
                f"The log of laptop {contents.origin} does not list {owner.name}, whom the"
                " team's record names as its owner."
            )
    for origin, owner in owners.items():
        if origin not in logs and not owner.revoked:
            raise BundleError(
                f"The bundle holds no log of {owner.name}'s laptop ({origin}), which is on the"
                " team: it was withheld."
            )
    short = _check_heads(parts.witnessed, parts.logs, owners)

    exporter = parts.logs[0].origin
    export_time = _posix(logs[exporter].last)
    laptops = []
    for origin, owner in sorted(owners.items(), key=lambda o: (o[0] != exporter, o[1].order)):
        log = logs.get(origin)
        when = max((t for _, t in log.witnessed), default=None) if log else None
        stale = when is None or (
            export_time is not None and export_time - when > STALE_DAYS * 86400
        )
        laptops.append(
            Laptop(owner.name, origin, owner.revoked, log, when, stale, short.get(origin))
        )
    trusted_size = logs[trusted_origin].trusted_size if trusted_origin else None
    return TeamVerified(
        laptops=tuple(laptops),
        exported_by=exporter,
        epoch=team.epoch,
        members=tuple(m.name for m in team.members),
        newest=logs[exporter].newest,
        trusted_origin=trusted_origin,
        trusted_size=trusted_size,
        witnessed_heads=len(parts.witnessed),
    )


def _follow(start: bytes, statements: list[tuple[bytes, bytes]]) -> tuple[Team, dict[str, _Owner]]:
    """The team after the chain, and each laptop's owner, from the start and the statements."""
    try:
        team_key = TeamPublicKey.from_file_bytes(start)
    except (VaultError, ValueError):
        raise BundleError("The bundle's team record does not start from a team key file.") from None
    team = Team.start(team_key)
    owners: dict[str, _Owner] = {}
    if team.members:  # under its origin, or "" for a team key file older than the log
        owners[team_key.origin or ""] = _Owner(
            ", ".join(m.name for m in team.members), [m.sign_pk for m in team.members], False, 0
        )
    for n, (body, signature) in enumerate(statements, 1):
        try:
            after = apply(team, Statement(body, signature))
        except TeamChangeError as e:
            raise BundleError(
                f"The team's record in the bundle does not verify at statement {n}: {e}"
            ) from None
        for m in after.members:
            if m.origin is not None and m.origin not in owners and team.member(m.key_id) is None:
                owners[m.origin] = _Owner(m.name, [m.sign_pk], False, len(owners))
        for key_id in after.revoked - team.revoked:
            for owner in owners.values():
                gone = team.member(key_id)
                if gone is not None and gone.sign_pk in owner.sign_pks:
                    still = [pk for pk in owner.sign_pks if pk != gone.sign_pk]
                    owner.revoked = not any(after.member(caseworker_key_id(pk)) for pk in still)
        team = after
    return team, owners


def _check_heads(
    witnessed: list[str], logs: list[BundleContents], owners: dict[str, _Owner]
) -> dict[str, int]:
    """Each witnessed checkpoint passed on by a colleague against the log it names. Returns,
    for each removed member's laptop whose log the bundle holds fewer entries of than such a
    checkpoint covers, that checkpoint's size (a current member's is "cut short")."""
    short: dict[str, int] = {}
    by_origin = {log.origin: log for log in logs}
    witness_keys = [p.key for log in logs for p in log.people if p.role == "witness"]
    for number, text in enumerate(witnessed, 1):
        where = f"The bundle's witnessed checkpoint {number}"
        try:
            note = parse_note(text)
            checkpoint = Checkpoint.parse_text(note.text)
        except SignedNoteError as e:
            raise BundleError(f"{where} is not a valid checkpoint ({e}).") from None
        log = by_origin.get(checkpoint.origin)
        owner = owners.get(checkpoint.origin)
        if log is None or owner is None:
            name = owner.name if owner else "a laptop not on the team"
            raise BundleError(
                f"{where} is of the log of {name} ({checkpoint.origin}), which the bundle does"
                " not hold: it was withheld."
            )
        keys = [p.key for p in log.people if p.role == "caseworker"]
        if not any(verify_signature(note, s, k) for s in note.signatures for k in keys):
            raise BundleError(f"{where} is not signed by a caseworker of its log.")
        if not any(verify_signature(note, s, k) for s in note.signatures for k in witness_keys):
            raise BundleError(f"{where} carries no witness cosignature that verifies.")
        held = len(log.leaves)
        who = f"The log of {owner.name}'s laptop ({checkpoint.origin})"
        if checkpoint.size > held and owner.revoked:
            short[checkpoint.origin] = max(checkpoint.size, short.get(checkpoint.origin, 0))
            continue
        if checkpoint.size > held:
            raise BundleError(
                f"{who} has been cut short: a witnessed checkpoint in the bundle covers"
                f" {checkpoint.size} entries, but the log holds only {held}."
            )
        if merkle.Tree.of_leaves(log.leaves).root_at(checkpoint.size) != checkpoint.root:
            raise BundleError(
                f"{who} has forked: its first {checkpoint.size} entries do not match a witnessed"
                " checkpoint in the bundle."
            )
    return short


def _posix(time: str | None) -> int | None:
    if time is None:
        return None
    return int(datetime.strptime(time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


__all__ = ["Laptop", "TeamVerified", "verify_team"]
