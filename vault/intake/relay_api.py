"""The relay's routes (docs/sync.md section 6): the team's chain of statements, and the
items laptops send each other. Each is a signed request from a current member; the rules
are :class:`vault.intake.relay.Relay`'s."""

from __future__ import annotations

from typing import TypeGuard

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vault.intake.reading import OCTET, Refused, require_type
from vault.intake.relay import Relay
from vault.intake.state import IntakeState
from vault.keys import b64
from vault.relay_items import MAX_ITEM
from vault.team_changes import MAX_STATEMENT, Statement, TeamChangeError

SIGNED_CAP = 1 << 10  # team and fetch requests carry (almost) nothing
RELAY_ITEM_CAP = 64 + MAX_ITEM  # one relay item: signature and body
RELAY_STATEMENT_CAP = 4 * MAX_STATEMENT  # one statement about the team, as base64 in JSON


def _count(value: object) -> TypeGuard[int]:
    """A whole number the relay counts with (not a bool, not negative, below 2**62)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62


def routes(state: IntakeState) -> APIRouter:
    """The relay's routes; a statement that takes effect updates ``state`` at once."""
    router = APIRouter()
    relay = Relay(state.inbox, state.start_key, state.team_changed)

    @router.post("/api/relay/team")
    async def relay_team(request: Request) -> Response:
        async with state.signed(request, SIGNED_CAP):
            statements = await run_in_threadpool(relay.chain)
            return JSONResponse(
                {
                    "start": b64(state.start_key.to_file_bytes()),
                    "statements": [s.to_wire() for s in statements],
                }
            )

    @router.post("/api/relay/team/add")
    async def relay_team_add(request: Request) -> Response:
        async with state.signed(request, RELAY_STATEMENT_CAP) as doc:
            try:
                statement = Statement.from_wire(
                    doc.get("statement") if isinstance(doc, dict) else None
                )
            except TeamChangeError:
                raise Refused(400, "malformed") from None
            team = await run_in_threadpool(relay.add_statement, statement)
            return JSONResponse({"n": team.n, "head": team.head})

    @router.post("/api/relay/items")
    async def relay_items(request: Request) -> Response:
        require_type(request, OCTET)
        async with state.signed(request, RELAY_ITEM_CAP, json_body=False):
            wire: bytes = request.state.body
            answer = await run_in_threadpool(relay.put, request.state.caseworker, wire)
            return JSONResponse({"item": answer}, status_code=201 if answer == "stored" else 200)

    @router.post("/api/relay/fetch")
    async def relay_fetch(request: Request) -> Response:
        async with state.signed(request, SIGNED_CAP) as doc:
            if not isinstance(doc, dict):
                raise Refused(400, "malformed")
            limit, after = doc.get("limit", 100), doc.get("after", 0)
            if not (_count(limit) and _count(after)) or limit < 1:
                raise Refused(400, "malformed")
            found, more = await run_in_threadpool(
                relay.fetch, request.state.caseworker, limit, after
            )
            items = [{"seq": seq, "item": b64(wire)} for seq, wire in found]
            return JSONResponse({"items": items, "more": more})

    @router.post("/api/relay/ack")
    async def relay_ack(request: Request) -> Response:
        async with state.signed(request, SIGNED_CAP) as doc:
            upto = doc.get("upto") if isinstance(doc, dict) else None
            if not _count(upto):
                raise Refused(400, "malformed")
            deleted = await run_in_threadpool(relay.ack, request.state.caseworker, upto)
            return JSONResponse({"deleted": deleted})

    return router
