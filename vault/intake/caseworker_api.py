"""The caseworkers' API: pulling reports and attachments, acknowledging them, leaving
replies in codenames' mailboxes (docs/intake.md section 6), and the witness that cosigns
the vaults' access logs (c2sp.org/tlog-witness).

Every route but the witness's is a signed request (:meth:`IntakeState.signed`); the
witness checks the checkpoint's own signatures instead.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from vault import _crypto
from vault.envelope import MAX_PADDED, padded_length
from vault.intake.inbox import ID_BYTES, MAILBOX_BYTES
from vault.intake.reading import (
    OCTET,
    Refused,
    hex_id,
    hex_ids,
    read_body,
    require_length,
)
from vault.intake.state import SIGNED_READS, IntakeState
from vault.keys import b64
from vault.reporter_messages import is_message

SIGNED_CAP = 1 << 10  # pull and blob requests carry (almost) nothing
WITNESS_CAP = 16 << 10  # a checkpoint and up to 63 proof hashes
ACK_CAP = 4 << 20
REPLIES_CAP = 16 << 20
MAX_PULL = 1000
MAX_REPLIES = 1000
REPLY_OVERHEAD = _crypto.SEAL_OVERHEAD


def sealed_reply(value: object) -> bytes:
    """A reply sealed to a codename key: padded like a report, so only a few sizes exist."""
    if not isinstance(value, str):
        raise Refused(400, "malformed")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, "malformed") from None
    padded = len(raw) - REPLY_OVERHEAD
    if not 0 < padded <= MAX_PADDED or padded_length(padded) != padded:
        raise Refused(400, "malformed")
    return raw


def routes(state: IntakeState) -> APIRouter:
    """The caseworkers' routes and the witness's."""
    inbox = state.inbox
    router = APIRouter()

    @router.post("/api/pull")
    async def pull(request: Request) -> Response:
        async with state.signed(request, SIGNED_CAP) as doc:
            if not isinstance(doc, dict):
                raise Refused(400, "malformed")
            limit = doc.get("limit", 100)
            after = doc.get("after")
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise Refused(400, "malformed")
            after_id = None if after is None else hex_id(after, ID_BYTES)
            found, more = await run_in_threadpool(inbox.pull, min(limit, MAX_PULL), after_id)
            messages = [i for i, body in found if is_message(body)]
            days = await run_in_threadpool(inbox.arrival_days, messages) if messages else {}
            envelopes: list[dict[str, str]] = []
            for i, body in found:
                envelopes.append({"id": i.hex(), "body": b64(body)})
                if i in days:  # a reporter's message: the day it arrived here
                    envelopes[-1]["received"] = days[i]
            return JSONResponse({"envelopes": envelopes, "more": more})

    @router.get("/api/blobs/{blob}")
    async def blob(request: Request, blob: str) -> Response:
        async with state.signed(request, SIGNED_CAP, json_body=False):
            blob_id = hex_id(blob, ID_BYTES)
            size = await run_in_threadpool(inbox.blob_size, blob_id)
        if size is None:
            raise Refused(404, "not-found")
        return StreamingResponse(
            inbox.blob_chunks(blob_id),
            media_type=OCTET,
            headers={"Content-Length": str(size)},
        )

    @router.post("/api/ack")
    async def ack(request: Request) -> Response:
        async with state.signed(request, ACK_CAP) as doc:
            if not isinstance(doc, dict):
                raise Refused(400, "malformed")
            envelopes = hex_ids(doc.get("envelopes", []), ID_BYTES)
            blobs = hex_ids(doc.get("blobs", []), ID_BYTES)
            deleted = await run_in_threadpool(inbox.ack, envelopes, blobs)
            return JSONResponse({"deleted": deleted})

    @router.post("/api/replies")
    async def replies(request: Request) -> Response:
        async with state.signed(request, REPLIES_CAP) as doc:
            items = doc.get("replies") if isinstance(doc, dict) else None
            if not isinstance(items, list) or len(items) > MAX_REPLIES:
                raise Refused(400, "malformed")
            parsed = []
            for item in items:
                if not isinstance(item, dict) or set(item) != {"mailbox", "body"}:
                    raise Refused(400, "malformed")
                mailbox_id = hex_id(item["mailbox"], MAILBOX_BYTES)
                parsed.append((mailbox_id, sealed_reply(item["body"])))
            stored = await run_in_threadpool(inbox.add_replies, parsed)
            return JSONResponse({"stored": stored})

    @router.get("/witness/key")
    async def witness_key() -> Response:
        return Response(state.witness.key.to_vkey() + "\n", media_type="text/plain")

    @router.post("/witness/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        require_length(request, WITNESS_CAP)
        async with state.reading("witness", SIGNED_READS):
            body = await read_body(request, WITNESS_CAP, state.idle)
            answer = await run_in_threadpool(
                state.witness.add_checkpoint, body, inbox, state.witnessed_logs
            )
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)

    return router
