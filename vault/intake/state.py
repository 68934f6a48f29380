"""What every part of the intake shares: its settings, the inbox, the team as it stands,
and the places a body may be read in.

The team changes while the intake runs (a statement on the relay's chain takes effect at
once, docs/sync.md section 6): :meth:`IntakeState.team_changed` updates, in one place,
the keys accepted for signed requests, the logs the witness cosigns, and the team key the
form is given and reports must be sealed to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from vault.audit.signed_note import ED25519, VerifierKey
from vault.intake.auth import (
    H_KEY,
    H_NONCE,
    H_SIGNATURE,
    H_TIME,
    ClockRefused,
    Unauthorised,
    check_headers,
    check_signature,
)
from vault.intake.config import IntakeConfig
from vault.intake.inbox import Inbox
from vault.intake.reading import JSON, Refused, read_body, require_length, require_type
from vault.intake.witness import Witness
from vault.keys import TeamPublicKey, b64, caseworker_key_id
from vault.team_changes import Team

SIGNED_READS = 4  # caseworkers' requests reading a body at once (up to 16 MiB each)
SLOT_WAIT = 20  # seconds a request waits for a place to read its body before "busy"


def form_team_key(team_key: TeamPublicKey) -> dict[str, Any]:
    """The team key as the form's pages are given it."""
    return {
        "epoch": team_key.epoch,
        "public_key": b64(team_key.public_key),
        "key_id": team_key.key_id.hex(),
        "fingerprint": team_key.fingerprint,
    }


class IntakeState:
    """The intake's settings, inbox and witness, and the team as it stands now."""

    def __init__(
        self, config: IntakeConfig, team_key: TeamPublicKey, inbox: Inbox, witness: Witness
    ) -> None:
        self.config = config
        self.inbox = inbox
        self.witness = witness
        self.start_key = team_key  # where the chain of statements about the team starts
        self.team_key = team_key
        self.team_now = team_key  # the team as it stands: who is accepted, the epoch now
        self.idle = float(config.read_timeout)
        self.signing_keys = {caseworker_key_id(pk): pk for _, pk in team_key.caseworkers}
        # The vaults' access logs this intake witnesses, and who signs each.
        self.witnessed_logs: dict[str, list[VerifierKey]] = (
            {
                team_key.origin: [
                    VerifierKey(team_key.origin, ED25519, pk) for _, pk in team_key.caseworkers
                ]
            }
            if team_key.origin
            else {}
        )
        self.form_team_key = form_team_key(team_key)
        self._slots: dict[str, asyncio.Semaphore] = {}  # made on first use, in the loop

    def team_changed(self, team: Team) -> None:
        """A statement about the team took effect: accept (and witness) whom it says, and
        take reports sealed to the team key it names (the form is given it too)."""
        self.team_now = team.public()
        if team.epoch != self.team_key.epoch:
            self.team_key = self.team_now
            self.form_team_key = form_team_key(self.team_key)
        self.signing_keys.clear()
        self.signing_keys.update(team.signing_keys())
        for member in team.members:
            if member.origin is not None and member.origin not in self.witnessed_logs:
                self.witnessed_logs[member.origin] = [
                    VerifierKey(member.origin, ED25519, member.sign_pk)
                ]
        # A removed member's laptop is witnessed no more: what its log gains after the
        # removal is never cosigned, so no colleague takes it (docs/sync.md section 4).
        current = {m.sign_pk for m in team.members}
        for origin, keys in list(self.witnessed_logs.items()):
            kept = [k for k in keys if k.public_key in current]
            if kept:
                self.witnessed_logs[origin] = kept
            else:
                del self.witnessed_logs[origin]

    @contextlib.asynccontextmanager
    async def reading(self, kind: str, size: int) -> AsyncIterator[None]:
        """One of ``size`` places to read a body in; "busy" after SLOT_WAIT seconds."""
        slot = self._slots.setdefault(kind, asyncio.Semaphore(size))
        try:
            await asyncio.wait_for(slot.acquire(), SLOT_WAIT)
        except TimeoutError:
            raise Refused(429, "busy", close=True, retry_after=SLOT_WAIT) from None
        try:
            yield
        finally:
            slot.release()

    @contextlib.asynccontextmanager
    async def signed(
        self, request: Request, cap: int, *, json_body: bool = True
    ) -> AsyncIterator[Any]:
        """A caseworker request, checked; yields its JSON (None when it has no JSON body).

        Everything that needs no body is checked first (type, length, headers, key,
        nonce not seen), so a stranger cannot make the intake read a body. The clock window
        is checked once the signature is good (only a caseworker is told it was the clock),
        and the nonce is remembered only after both. The body is read, and the request
        handled, in one of SIGNED_READS places.
        """
        if json_body:
            require_type(request, JSON)
        require_length(request, cap)
        headers = {
            name: value
            for name in (H_KEY, H_TIME, H_NONCE, H_SIGNATURE)
            if (value := request.headers.get(name)) is not None
        }
        try:
            claimed = check_headers(headers, self.signing_keys)
        except Unauthorised:
            raise Refused(401, "unauthorised", close=True) from None
        if await run_in_threadpool(self.inbox.nonce_seen, claimed.nonce):
            raise Refused(401, "unauthorised", close=True)
        async with self.reading("signed", SIGNED_READS):
            body = await read_body(request, cap, self.idle)
            path = request.scope.get("raw_path") or request.url.path.encode()
            query = request.scope.get("query_string", b"")
            target = (path + (b"?" + query if query else b"")).decode("latin-1")
            try:
                signed_request = check_signature(claimed, request.method, target, body)
            except ClockRefused:  # a caseworker's, its signature good: only they learn it
                raise Refused(401, "unauthorised", reason="clock") from None
            except Unauthorised:
                raise Refused(401, "unauthorised") from None
            if await run_in_threadpool(self.inbox.nonce_seen_or_remember, signed_request.nonce):
                raise Refused(401, "unauthorised")
            request.state.caseworker = signed_request.key_id
            if not json_body:
                request.state.body = body
            doc = None
            if json_body:
                try:
                    doc = json.loads(body)
                except (ValueError, UnicodeDecodeError, RecursionError):
                    # RecursionError: nesting deeper than the parser's stack (a few
                    # hundred levels), which no caseworker's request has.
                    raise Refused(400, "malformed") from None
            del body
            yield doc
