"""The reporters' API: sealed reports, attachments, reporters' messages, and the replies
waiting in a codename's mailbox (docs/intake.md sections 3 to 5).

A report, a message or an attachment is taken only with a proof of work and within the
rate cap, and a report or message is acknowledged only once it is stored.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from vault import _crypto
from vault.envelope import HEADER_BYTES, MAX_ENVELOPE, padded_length, parse_header
from vault.errors import EnvelopeError, MessageRefused
from vault.intake.inbox import MAILBOX_BYTES, BlobUpload, Inbox
from vault.intake.limits import (
    POW_HEADER,
    ProofOfWork,
    ProofOfWorkRefused,
    RateCap,
    attachment_cap,
    is_upload_length,
)
from vault.intake.parts import BUSY_RETRY, PART_BYTES, OpenUpload, OpenUploads
from vault.intake.reading import (
    MIN_BODY_RATE,
    OCTET,
    Refused,
    hex_id,
    pieces,
    read_body,
    require_length,
    require_type,
)
from vault.intake.state import IntakeState
from vault.keys import b64
from vault.reporter_messages import MAX_MESSAGE, check_signed

PUBLIC_READS = 64  # reporters' API requests reading a body at once


class GroupCommit:
    """Envelopes arriving together are stored in one transaction: one fsync for the group.

    Each request still gets its 202 only after the commit that holds its envelope,
    so an acknowledged report is as durable as with a commit per envelope.
    """

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._waiting: list[tuple[bytes, asyncio.Future[None]]] = []
        self._writing = False

    async def add(self, envelope: bytes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((envelope, done))
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._write())
        await done

    async def _write(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                try:
                    await run_in_threadpool(self._inbox.add_envelopes, [e for e, _ in group])
                except Exception as error:  # each waiting request answers 500
                    for _, done in group:
                        if not done.done():  # a client that went away has cancelled its own
                            done.set_exception(error)
                else:
                    for _, done in group:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._writing = False


def routes(state: IntakeState) -> APIRouter:
    """The reporters' API routes."""
    config = state.config
    inbox = state.inbox
    router = APIRouter()
    pow_ = ProofOfWork(config.pow_bits)
    rate = RateCap(config.rate_per_minute)
    group_commit = GroupCommit(inbox)
    upload_cap = attachment_cap(config.max_file_bytes)
    # An upload in parts may stay open as long as a whole upload of the cap may take to arrive.
    open_uploads = OpenUploads(
        state.idle + upload_cap / MIN_BODY_RATE, grace=max(60.0, 2 * state.idle)
    )

    def admit(request: Request) -> None:
        """Proof of work, then the global rate cap; spends the proof last."""
        try:
            challenge = pow_.verify(request.headers.get(POW_HEADER))
        except ProofOfWorkRefused:
            raise Refused(429, "proof-of-work", close=True) from None
        wait = rate.take()
        if wait:
            raise Refused(429, "busy", close=True, retry_after=wait)
        try:
            pow_.spend(challenge)
        except ProofOfWorkRefused:
            raise Refused(429, "proof-of-work", close=True) from None

    @router.get("/api/challenge")
    async def challenge() -> Response:
        return JSONResponse({"challenge": pow_.challenge(), "bits": pow_.bits})

    @router.post("/api/reports")
    async def reports(request: Request) -> Response:
        require_type(request, OCTET)
        require_length(request, MAX_ENVELOPE)
        async with state.reading("public", PUBLIC_READS):
            return await _reports(request)

    async def _reports(request: Request) -> Response:
        admit(request)
        envelope = await read_body(request, MAX_ENVELOPE, state.idle)
        try:
            header = parse_header(envelope)
        except EnvelopeError:
            raise Refused(400, "malformed") from None
        padded = len(envelope) - HEADER_BYTES - _crypto.SEAL_OVERHEAD
        team_key = state.team_key
        if (
            header.key_id != team_key.key_id
            or header.epoch != team_key.epoch
            or padded_length(padded) != padded
        ):
            raise Refused(400, "malformed")
        await group_commit.add(envelope)
        return JSONResponse({"ok": True}, status_code=202)

    @router.post("/api/messages")
    async def messages(request: Request) -> Response:
        require_type(request, OCTET)
        require_length(request, MAX_MESSAGE)
        async with state.reading("public", PUBLIC_READS):
            return await _messages(request)

    async def _messages(request: Request) -> Response:
        """A reporter's answer or withdrawal request: signed by their codename key, sealed to
        the team key. Relayed blind, beside the reports, until a vault pulls it."""
        admit(request)
        body = await read_body(request, MAX_MESSAGE, state.idle)
        try:
            parts = check_signed(body)
        except MessageRefused as refused:
            status = {"too-large": 413, "bad-signature": 403}.get(refused.reason, 400)
            raise Refused(status, refused.reason) from None
        if parts.key_id != state.team_key.key_id or parts.epoch != state.team_key.epoch:
            raise Refused(400, "malformed")
        await group_commit.add(body)
        return JSONResponse({"ok": True}, status_code=202)

    @router.post("/api/attachments")
    async def attachments(request: Request) -> Response:
        require_type(request, OCTET)
        require_length(request, upload_cap)
        async with state.reading("public", PUBLIC_READS):
            return await _attachments(request)

    async def store(upload: BlobUpload, piece: bytes) -> None:
        """One piece of a body into ``upload``, never past the cap (413). One buffer per
        upload (the BlobUpload's, at most a row): a piece is added to it here, and only a
        piece that fills a row goes to a worker thread to be stored, so no second copy waits
        beside it."""
        if upload.size + len(piece) > upload_cap:
            raise Refused(413, "too-large", close=True)
        if upload.fills_a_row(len(piece)):
            await run_in_threadpool(upload.write, piece)
        else:
            upload.write(piece)

    async def _attachments(request: Request) -> Response:
        admit(request)
        upload = await run_in_threadpool(inbox.add_blob)
        try:
            async for piece in pieces(request, state.idle, upload_cap):
                await store(upload, piece)
            if not is_upload_length(upload.size):
                raise Refused(400, "malformed")
            blob_id = await run_in_threadpool(upload.finish)
        except BaseException:
            upload.abort()
            raise
        return JSONResponse({"blob": blob_id.hex()}, status_code=201)

    # --- uploads in parts (docs/intake.md section 4, "Uploading in parts") ---------------

    async def sweep() -> None:
        """Drop the open uploads idle too long or past their deadline (their rows deleted)."""
        for upload in open_uploads.expired():
            await run_in_threadpool(upload.abort)

    def open_upload(token: str) -> OpenUpload:
        entry = open_uploads.get(token)
        if entry is None:  # unknown, finished, dropped, or not a token at all
            raise Refused(404, "not-found", close=True)
        return entry

    def offset_refused(entry: OpenUpload) -> Response:
        return JSONResponse(
            {"error": "offset", "size": entry.upload.size},
            status_code=409,
            headers={"Connection": "close"},
        )

    def require_empty(request: Request) -> None:
        """No body: none declared, and none sent chunked (refused unread)."""
        require_length(request, 0)
        if "transfer-encoding" in request.headers:
            raise Refused(413, "too-large", close=True)

    def drop(token: str, upload: BlobUpload) -> None:
        open_uploads.remove(token)
        upload.abort()

    @router.post("/api/attachments/parts")
    async def parts_start(request: Request) -> Response:
        require_empty(request)
        await sweep()
        # Before the proof of work is spent, so a client told busy may use it again.
        if open_uploads.full():
            raise Refused(503, "busy", close=True, retry_after=BUSY_RETRY)
        open_uploads.starting(1)
        try:
            admit(request)
            upload = await run_in_threadpool(inbox.add_blob)
        finally:
            open_uploads.starting(-1)
        token = open_uploads.add(upload)
        return JSONResponse({"upload": token}, status_code=201)

    @router.put("/api/attachments/parts/{token}/{offset}")
    async def parts_put(request: Request, token: str, offset: str) -> Response:
        require_type(request, OCTET)
        if not (offset.isascii() and offset.isdigit() and len(offset) <= 20):
            raise Refused(400, "malformed", close=True)
        await sweep()
        entry = open_upload(token)
        if entry.busy or int(offset) != entry.upload.size:
            return offset_refused(entry)
        if entry.too_many_parts():
            drop(token, entry.upload)
            raise Refused(400, "malformed", close=True)
        entry.parts += 1
        entry.busy = True
        try:
            try:
                require_length(request, PART_BYTES)
            except Refused as refused:
                if refused.status == 413:
                    drop(token, entry.upload)
                raise
            async with state.reading("public", PUBLIC_READS):
                await _part(request, token, entry.upload)
        finally:
            entry.busy = False
            open_uploads.mark_used(entry)
        return JSONResponse({"size": entry.upload.size})

    async def _part(request: Request, token: str, upload: BlobUpload) -> None:
        """Store one part as it arrives, its remainder as a short row at the end. A part cut
        off (timed out, the client gone) keeps what arrived: the client carries on from the
        size the next 409 gives. A part too large, or a failed write, drops the upload."""
        got = 0
        try:
            async for piece in pieces(request, state.idle, PART_BYTES):
                got += len(piece)
                if got > PART_BYTES:
                    raise Refused(413, "too-large", close=True)
                await store(upload, piece)
        except (Refused, ClientDisconnect) as error:
            if isinstance(error, Refused) and error.status == 413:
                drop(token, upload)
                raise
            try:
                await run_in_threadpool(upload.flush)
            except BaseException:
                drop(token, upload)  # what arrived could not all be stored
            raise error
        except BaseException:
            drop(token, upload)
            raise
        try:
            await run_in_threadpool(upload.flush)
        except BaseException:
            drop(token, upload)
            raise

    @router.post("/api/attachments/parts/{token}/end")
    async def parts_end(request: Request, token: str) -> Response:
        require_empty(request)
        await sweep()
        ended = open_uploads.ended_as(token)
        if ended is not None:  # ended already: its answer was lost, the same again
            return JSONResponse({"blob": ended.hex()}, status_code=201)
        entry = open_upload(token)
        if entry.busy:
            return offset_refused(entry)
        open_uploads.remove(token)
        upload = entry.upload
        try:
            if not is_upload_length(upload.size):
                raise Refused(400, "malformed")
            blob_id = await run_in_threadpool(upload.finish)
        except BaseException:
            upload.abort()
            raise
        open_uploads.ended(token, blob_id)
        return JSONResponse({"blob": blob_id.hex()}, status_code=201)

    @router.get("/api/mailbox/{mailbox_id}")
    async def mailbox(mailbox_id: str) -> Response:
        raw = hex_id(mailbox_id, MAILBOX_BYTES)
        replies = await run_in_threadpool(inbox.mailbox, raw)
        return JSONResponse({"replies": [b64(r) for r in replies]})

    return router
