"""The intake web app: the form, the reporters' API and the caseworkers' signed API.

``docs/intake.md`` sections 2 to 6 are the specification. The app holds the team
public key only and stores nothing that is not sealed. It never logs a request,
never sets a cookie, and never reads a body it is going to refuse for its size,
type, proof of work or the rate cap. A caseworker's request has every header check
that needs no body (key, clock, nonce) done before its body is read, and bodies are
read by a bounded number of requests at a time, each within a per-chunk deadline.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gzip
import json
import time
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vault import _crypto
from vault.audit.signed_note import ED25519, VerifierKey
from vault.envelope import (
    HEADER_BYTES,
    MAX_ENVELOPE,
    MAX_PADDED,
    padded_length,
    parse_header,
    seal_report,
)
from vault.errors import EnvelopeError, InvalidReportError, MessageRefused
from vault.files import read_small_file
from vault.intake import codename, labels, languages
from vault.intake.auth import (
    H_KEY,
    H_NONCE,
    H_SIGNATURE,
    H_TIME,
    Unauthorised,
    check_headers,
    check_signature,
)
from vault.intake.config import IntakeConfig
from vault.intake.inbox import ID_BYTES, MAILBOX_BYTES, Inbox, InboxFull
from vault.intake.languages import N_
from vault.intake.limits import (
    POW_HEADER,
    ProofOfWork,
    ProofOfWorkRefused,
    RateCap,
    attachment_cap,
    is_upload_length,
)
from vault.intake.nojs import ROLE_NOT_KNOWN, MalformedForm, parse_form, read_form
from vault.intake.once import OneTimePages
from vault.intake.relay import Relay, RelayRefused
from vault.intake.witness import Witness
from vault.keys import TeamPublicKey, b64, caseworker_key_id
from vault.relay_items import MAX_ITEM
from vault.reporter_messages import MAX_MESSAGE, check_signed
from vault.team_changes import MAX_STATEMENT, Statement, Team, TeamChangeError

CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_DROPPED = {b"set-cookie", b"cache-control", b"server", b"date"}

OCTET = "application/octet-stream"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
FORM_CAP = 2 << 20  # the no-JS form: 50,000 characters, percent-encoded, and the rest
CODENAME_CAP = 8 << 10  # the no-JS replies form: a codename, percent-encoded
SIGNED_CAP = 1 << 10  # pull and blob requests carry (almost) nothing
WITNESS_CAP = 16 << 10  # a checkpoint and up to 63 proof hashes
ACK_CAP = 4 << 20
RELAY_ITEM_CAP = 64 + MAX_ITEM  # one relay item: signature and body
RELAY_STATEMENT_CAP = 4 * MAX_STATEMENT  # one statement about the team, as base64 in JSON
REPLIES_CAP = 16 << 20
MAX_PULL = 1000
MAX_ACK = 20_000
MAX_REPLIES = 1000
REPLY_OVERHEAD = _crypto.SEAL_OVERHEAD
HOUSEKEEPING_SECONDS = 3600
SIGNED_READS = 4  # caseworkers' requests reading a body at once (up to 16 MiB each)
PUBLIC_READS = 64  # reporters' API requests reading a body at once
FORM_READS = 16  # no-JS form posts reading a body at once: no proof of work, so apart
SLOT_WAIT = 20  # seconds a request waits for one of those before it is told "busy"
MIN_BODY_RATE = 16 << 10  # bytes a second a body must average, after --read-timeout seconds
FULL_RETRY = 300  # seconds a client is asked to wait when the inbox's disk is full
FULL = N_(
    "We cannot take reports just now. Nothing you sent was kept. "
    "Please try again later: everything you typed is still here."
)
BUSY = N_(
    "So many reports are arriving that we could not take yours just now. "
    "Please wait a minute and send it again: everything you typed is still here."
)
REPLIES_BUSY = N_("Our website is very busy just now. Please wait a minute, then try again.")
BUSY_UNREAD = N_(
    "So many reports are arriving that we could not take yours just now. "
    "Please wait a minute, go back to your report with your browser's Back button, "
    "and send it again."
)

TOO_LONG = N_("This report is too long to send.")


class Refused(Exception):
    """A request the intake answers with a short JSON error and nothing more."""

    def __init__(
        self, status: int, error: str, *, close: bool = False, retry_after: int | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.headers: dict[str, str] = {}
        if close:  # the body was not read: do not leave it on a kept-alive connection
            self.headers["Connection"] = "close"
        if retry_after is not None:
            self.headers["Retry-After"] = str(retry_after)


class _GroupCommit:
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


class _Guard:
    """Security headers on every response; any unexpected error becomes a bare 500.

    Nothing is logged and no exception reaches the server, whose log would carry it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_guarded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in _DROPPED
                ]
                message = {**message, "headers": headers + SECURITY_HEADERS}
            await send(message)

        try:
            await self.app(scope, receive, send_guarded)
        except Exception:
            if not started:
                response = JSONResponse(
                    {"error": "internal"}, status_code=500, headers={"Connection": "close"}
                )
                await response(scope, receive, send_guarded)


def load_team_key(config: IntakeConfig) -> TeamPublicKey:
    """The team public key file the intake was given (``vault team-key export``)."""
    return TeamPublicKey.from_file_bytes(
        read_small_file(config.team_key_file, "team key file", limit=1 << 20)
    )


def create_app(config: IntakeConfig, team_key: TeamPublicKey | None = None) -> FastAPI:
    """The intake as an ASGI app; opens (or creates) the inbox in ``config.data_dir``."""
    team_key = team_key or load_team_key(config)
    inbox = Inbox.open(config.data_dir)
    return _build(config, team_key, inbox, Witness.load_or_create(config.data_dir))


def _build(
    config: IntakeConfig, team_key: TeamPublicKey, inbox: Inbox, witness: Witness
) -> FastAPI:
    signing_keys = {caseworker_key_id(pk): pk for _, pk in team_key.caseworkers}
    # The vault whose access log this intake witnesses, and whose caseworkers sign it.
    witnessed_logs = (
        {
            team_key.origin: [
                VerifierKey(team_key.origin, ED25519, pk) for _, pk in team_key.caseworkers
            ]
        }
        if team_key.origin
        else {}
    )

    start_key = team_key  # where the chain of statements about the team starts

    def team_changed(team: Team) -> None:
        """A statement about the team took effect: accept (and witness) whom it says, and
        take reports sealed to the team key it names (the form is given it too)."""
        nonlocal team_key
        if team.epoch != team_key.epoch:
            team_key = team.public()
            page_context["team_key"] = {
                "epoch": team_key.epoch,
                "public_key": b64(team_key.public_key),
                "key_id": team_key.key_id.hex(),
                "fingerprint": team_key.fingerprint,
            }
        signing_keys.clear()
        signing_keys.update(team.signing_keys())
        for member in team.members:
            if member.origin is not None and member.origin not in witnessed_logs:
                witnessed_logs[member.origin] = [
                    VerifierKey(member.origin, ED25519, member.sign_pk)
                ]

    pow_ = ProofOfWork(config.pow_bits)
    rate = RateCap(config.rate_per_minute)
    group_commit = _GroupCommit(inbox)
    # The no-JavaScript path has no proof of work, so it gets its own bucket: a flood of
    # form posts cannot use up the capacity that proof-of-work-gated reports depend on.
    nojs_rate = RateCap(config.rate_per_minute)
    shown_once = OneTimePages()
    upload_cap = attachment_cap(config.max_file_bytes)
    idle = float(config.read_timeout)
    # Created on first use, inside the server's event loop.
    slots: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def reading(kind: str, size: int) -> AsyncIterator[None]:
        """One of ``size`` places to read a body in; "busy" after SLOT_WAIT seconds."""
        slot = slots.setdefault(kind, asyncio.Semaphore(size))
        try:
            await asyncio.wait_for(slot.acquire(), SLOT_WAIT)
        except TimeoutError:
            raise Refused(429, "busy", close=True, retry_after=SLOT_WAIT) from None
        try:
            yield
        finally:
            slot.release()

    translators = languages.load(config.static_dir)
    templates = {code: _environment(config.templates_dir, t) for code, t in translators.items()}
    node_modules = config.node_modules_dir()
    wordlists = Path(str(files("mnemonic").joinpath("wordlist")))
    page_context: dict[str, Any] = {
        "choices": labels.choices(),
        "limits": {
            "max_file_mib": config.max_file_mib,
            "max_files": config.max_files,
            "pow_bits": config.pow_bits,
        },
        "settings": {
            "helpline": config.helpline,
            "emergency": config.emergency,
            "reply_days": config.reply_days,
            "exit_url": config.exit_url,
        },
        "role_not_known": ROLE_NOT_KNOWN,
        "wants_asked": labels.WANTS_ASKED,
        "team_key": {
            "epoch": team_key.epoch,
            "public_key": b64(team_key.public_key),
            "key_id": team_key.key_id.hex(),
            "fingerprint": team_key.fingerprint,
        },
    }

    relay = Relay(inbox, start_key, team_changed)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with contextlib.suppress(InboxFull):  # a full disk: caseworkers can still drain it
            await run_in_threadpool(inbox.purge_old)
        task = asyncio.create_task(_housekeeping(inbox))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            inbox.close()

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_middleware(_Guard)

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> Response:
        return JSONResponse({"error": exc.error}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(InboxFull)
    async def full(_: Request, __: InboxFull) -> Response:
        headers = {"Retry-After": str(FULL_RETRY), "Connection": "close"}
        return JSONResponse({"error": "full"}, status_code=503, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        names = {404: "not-found", 405: "method-not-allowed"}
        return JSONResponse({"error": names.get(exc.status_code, "refused")}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, __: RequestValidationError) -> Response:
        return JSONResponse({"error": "malformed"}, status_code=400)

    @app.exception_handler(ClientDisconnect)
    async def gone(_: Request, __: ClientDisconnect) -> Response:
        return Response(status_code=400, headers={"Connection": "close"})

    def page(
        name: str,
        lang: str,
        status: int = 200,
        *,
        errors: list[dict[str, str]] | None = None,
        values: dict[str, str | list[str]] | None = None,
        nojs: bool = False,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> HTMLResponse:
        here = {"replies.html": "/replies", "sent.html": "/sent"}.get(name, "/")
        html = (
            templates[lang]
            .get_template(name)
            .render(
                page_context,
                errors=errors or [],
                values=values or {},
                nojs=nojs,
                lang=lang,
                here=here,
                codename_list=codename.list_for(lang),
                script_messages=translators[lang].script_table,
                **extra,
            )
        )
        return HTMLResponse(html, status_code=status, headers=headers)

    def admit(request: Request, *, proof_of_work: bool) -> None:
        """Proof of work (if asked), then the global rate cap; spends the proof last."""
        challenge = None
        if proof_of_work:
            try:
                challenge = pow_.verify(request.headers.get(POW_HEADER))
            except ProofOfWorkRefused:
                raise Refused(429, "proof-of-work", close=True) from None
        wait = rate.take()
        if wait:
            raise Refused(429, "busy", close=True, retry_after=wait)
        if challenge is not None:
            try:
                pow_.spend(challenge)
            except ProofOfWorkRefused:
                raise Refused(429, "proof-of-work", close=True) from None

    @contextlib.asynccontextmanager
    async def signed(request: Request, cap: int, *, json_body: bool = True) -> AsyncIterator[Any]:
        """A caseworker request, checked; yields its JSON (None when it has no JSON body).

        Everything that needs no body is checked first (type, length, headers, key,
        clock, nonce not seen), so a stranger cannot make the intake read a body. The
        nonce is remembered only once the signature is good. The body is read, and the
        request handled, in one of SIGNED_READS places.
        """
        if json_body:
            _require_type(request, JSON)
        _require_length(request, cap)
        headers = {
            name: value
            for name in (H_KEY, H_TIME, H_NONCE, H_SIGNATURE)
            if (value := request.headers.get(name)) is not None
        }
        try:
            claimed = check_headers(headers, signing_keys)
        except Unauthorised:
            raise Refused(401, "unauthorised", close=True) from None
        if await run_in_threadpool(inbox.nonce_seen, claimed.nonce):
            raise Refused(401, "unauthorised", close=True)
        async with reading("signed", SIGNED_READS):
            body = await _read(request, cap, idle)
            path = request.scope.get("raw_path") or request.url.path.encode()
            query = request.scope.get("query_string", b"")
            target = (path + (b"?" + query if query else b"")).decode("latin-1")
            try:
                signed_request = check_signature(claimed, request.method, target, body)
            except Unauthorised:
                raise Refused(401, "unauthorised") from None
            if await run_in_threadpool(inbox.nonce_seen_or_remember, signed_request.nonce):
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

    # --- pages -----------------------------------------------------------------------

    @app.get("/")
    async def form(request: Request) -> Response:
        return page("form.html", _lang(request))

    @app.get("/replies")
    async def replies_page(request: Request) -> Response:
        return page("replies.html", _lang(request))

    @app.post("/replies")
    async def replies_without_js(request: Request) -> Response:
        """Replies read on the server, in memory (docs/intake.md section 7, "Without
        JavaScript"): the codename is used for this request and forgotten."""
        _require_type(request, FORM)
        _require_length(request, CODENAME_CAP)
        async with reading("form", FORM_READS):
            wait = nojs_rate.take()
            body = await _read(request, CODENAME_CAP, idle)
            try:
                pairs = parse_form(body)
            except MalformedForm:
                raise Refused(400, "malformed") from None
            lang = _lang(request, pairs)
            if wait:
                errors = [{"field": "", "message": REPLIES_BUSY}]
                headers = {"Retry-After": str(wait)}
                return page("replies.html", lang, 429, errors=errors, nojs=True, headers=headers)
            typed = next((v for k, v in pairs if k == "codename"), "")[: codename.MAX_TYPED]
            parsed = codename.parse(typed, codename.list_for(lang))
            if isinstance(parsed, str):
                errors = [{"field": "codename", "message": codename.PROBLEMS[parsed]}]
                return page("replies.html", lang, 422, errors=errors, nojs=True)
            box = codename.mailbox(parsed)
            sealed = await run_in_threadpool(inbox.mailbox, box.mailbox_id)
            opened = codename.open_replies(box, sealed)
            latest = next((r.status for r in reversed(opened) if r.status), None)
            shown = page(
                "replies.html",
                lang,
                nojs=True,
                server_replies=opened,
                server_status=codename.STATUS_WORDS.get(latest or ""),
            )
            # Not answered with the page itself, which would keep the post (the codename)
            # in the tab's history for Back and reload: a redirect to a page shown once.
            token = shown_once.put(bytes(shown.body))
            if token is None:
                return shown  # larger than all the pages held together may be
            return RedirectResponse(f"/replies/{token}?lang={lang}", status_code=303)

    @app.get("/replies/{token}")
    async def replies_once(request: Request, token: str) -> Response:
        """The replies a post to /replies opened, given once (vault/intake/once.py)."""
        shown = shown_once.take(token)
        if shown is None:
            return page("replies.html", _lang(request), 410, nojs=True, gone=True)
        return HTMLResponse(shown)

    @app.get("/sent")
    async def sent_page(request: Request) -> Response:
        return page("sent.html", _lang(request), nojs=True)

    @app.post("/report")
    async def report_without_js(request: Request) -> Response:
        _require_type(request, FORM)
        _require_length(request, FORM_CAP)
        try:
            async with reading("form", FORM_READS):
                return await _report_without_js(request)
        except Refused as e:
            if e.error != "busy":
                raise
            errors = [{"field": "", "message": BUSY_UNREAD}]
            lang = _lang(request)
            return page("form.html", lang, 429, errors=errors, nojs=True, headers=e.headers)

    async def _report_without_js(request: Request) -> Response:
        wait = nojs_rate.take()
        body = await _read(request, FORM_CAP, idle)  # read even when busy: keep what was typed
        try:
            pairs = parse_form(body)
        except MalformedForm:
            raise Refused(400, "malformed") from None
        lang = _lang(request, pairs)
        result = read_form(pairs, language=lang)
        if wait:
            return page(
                "form.html",
                lang,
                429,
                errors=[{"field": "", "message": BUSY}],
                values=result.values,
                nojs=True,
                headers={"Retry-After": str(wait)},
            )
        if result.report is None:
            return page(
                "form.html", lang, 422, errors=result.errors, values=result.values, nojs=True
            )
        try:
            envelope = seal_report(result.report, team_key.epoch, team_key.public_key)
        except InvalidReportError:
            errors = [{"field": "what_happened", "message": TOO_LONG}]
            return page("form.html", lang, 422, errors=errors, values=result.values, nojs=True)
        try:
            await run_in_threadpool(inbox.add_envelope, envelope)
        except InboxFull:
            errors = [{"field": "", "message": FULL}]
            headers = {"Retry-After": str(FULL_RETRY)}
            return page(
                "form.html",
                lang,
                503,
                errors=errors,
                values=result.values,
                nojs=True,
                headers=headers,
            )
        # See Other: the browser shows /sent by GET, so Back or Reload cannot post it again.
        return RedirectResponse(f"/sent?lang={lang}", status_code=303)

    # --- reporters' API ------------------------------------------------------------------

    @app.get("/api/challenge")
    async def challenge() -> Response:
        return JSONResponse({"challenge": pow_.challenge(), "bits": pow_.bits})

    @app.post("/api/reports")
    async def reports(request: Request) -> Response:
        _require_type(request, OCTET)
        _require_length(request, MAX_ENVELOPE)
        async with reading("public", PUBLIC_READS):
            return await _reports(request)

    async def _reports(request: Request) -> Response:
        admit(request, proof_of_work=True)
        envelope = await _read(request, MAX_ENVELOPE, idle)
        try:
            header = parse_header(envelope)
        except EnvelopeError:
            raise Refused(400, "malformed") from None
        padded = len(envelope) - HEADER_BYTES - _crypto.SEAL_OVERHEAD
        if (
            header.key_id != team_key.key_id
            or header.epoch != team_key.epoch
            or padded_length(padded) != padded
        ):
            raise Refused(400, "malformed")
        await group_commit.add(envelope)
        return JSONResponse({"ok": True}, status_code=202)

    @app.post("/api/messages")
    async def messages(request: Request) -> Response:
        _require_type(request, OCTET)
        _require_length(request, MAX_MESSAGE)
        async with reading("public", PUBLIC_READS):
            return await _messages(request)

    async def _messages(request: Request) -> Response:
        """A reporter's answer or withdrawal request: signed by their codename key, sealed to
        the team key. Relayed blind, beside the reports, until a vault pulls it."""
        admit(request, proof_of_work=True)
        body = await _read(request, MAX_MESSAGE, idle)
        try:
            parts = check_signed(body)
        except MessageRefused as refused:
            status = {"too-large": 413, "bad-signature": 403}.get(refused.reason, 400)
            raise Refused(status, refused.reason) from None
        if parts.key_id != team_key.key_id or parts.epoch != team_key.epoch:
            raise Refused(400, "malformed")
        await group_commit.add(body)
        return JSONResponse({"ok": True}, status_code=202)

    @app.post("/api/attachments")
    async def attachments(request: Request) -> Response:
        _require_type(request, OCTET)
        _require_length(request, upload_cap)
        async with reading("public", PUBLIC_READS):
            return await _attachments(request)

    async def _attachments(request: Request) -> Response:
        admit(request, proof_of_work=True)
        upload = await run_in_threadpool(inbox.add_blob)
        try:
            # One buffer per upload (the BlobUpload's, at most a row): a piece is added
            # to it here, and only a piece that fills a row goes to a worker thread to be
            # stored, so no second copy waits beside it.
            async for piece in _pieces(request, idle, upload_cap):
                if upload.size + len(piece) > upload_cap:
                    raise Refused(413, "too-large", close=True)
                if upload.fills_a_row(len(piece)):
                    await run_in_threadpool(upload.write, piece)
                else:
                    upload.write(piece)
            if not is_upload_length(upload.size):
                raise Refused(400, "malformed")
            blob_id = await run_in_threadpool(upload.finish)
        except BaseException:
            upload.abort()
            raise
        return JSONResponse({"blob": blob_id.hex()}, status_code=201)

    @app.get("/api/mailbox/{mailbox_id}")
    async def mailbox(mailbox_id: str) -> Response:
        raw = _hex_id(mailbox_id, MAILBOX_BYTES)
        replies = await run_in_threadpool(inbox.mailbox, raw)
        return JSONResponse({"replies": [b64(r) for r in replies]})

    # --- caseworkers' API (signed) --------------------------------------------------------

    @app.post("/api/pull")
    async def pull(request: Request) -> Response:
        async with signed(request, SIGNED_CAP) as doc:
            if not isinstance(doc, dict):
                raise Refused(400, "malformed")
            limit = doc.get("limit", 100)
            after = doc.get("after")
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise Refused(400, "malformed")
            after_id = None if after is None else _hex_id(after, ID_BYTES)
            found, more = await run_in_threadpool(inbox.pull, min(limit, MAX_PULL), after_id)
            envelopes = [{"id": i.hex(), "body": b64(body)} for i, body in found]
            return JSONResponse({"envelopes": envelopes, "more": more})

    @app.get("/api/blobs/{blob}")
    async def blob(request: Request, blob: str) -> Response:
        async with signed(request, SIGNED_CAP, json_body=False):
            blob_id = _hex_id(blob, ID_BYTES)
            size = await run_in_threadpool(inbox.blob_size, blob_id)
        if size is None:
            raise Refused(404, "not-found")
        return StreamingResponse(
            inbox.blob_chunks(blob_id),
            media_type=OCTET,
            headers={"Content-Length": str(size)},
        )

    @app.post("/api/ack")
    async def ack(request: Request) -> Response:
        async with signed(request, ACK_CAP) as doc:
            if not isinstance(doc, dict):
                raise Refused(400, "malformed")
            envelopes = _hex_ids(doc.get("envelopes", []), ID_BYTES)
            blobs = _hex_ids(doc.get("blobs", []), ID_BYTES)
            deleted = await run_in_threadpool(inbox.ack, envelopes, blobs)
            return JSONResponse({"deleted": deleted})

    @app.post("/api/replies")
    async def replies(request: Request) -> Response:
        async with signed(request, REPLIES_CAP) as doc:
            items = doc.get("replies") if isinstance(doc, dict) else None
            if not isinstance(items, list) or len(items) > MAX_REPLIES:
                raise Refused(400, "malformed")
            parsed = []
            for item in items:
                if not isinstance(item, dict) or set(item) != {"mailbox", "body"}:
                    raise Refused(400, "malformed")
                mailbox_id = _hex_id(item["mailbox"], MAILBOX_BYTES)
                parsed.append((mailbox_id, _sealed_reply(item["body"])))
            stored = await run_in_threadpool(inbox.add_replies, parsed)
            return JSONResponse({"stored": stored})

    # --- the relay between the team's laptops (vault/intake/relay.py, docs/sync.md) -------

    @app.exception_handler(RelayRefused)
    async def relay_refused(_: Request, exc: RelayRefused) -> Response:
        return JSONResponse({"error": exc.error}, status_code=exc.status)

    @app.post("/api/relay/team")
    async def relay_team(request: Request) -> Response:
        async with signed(request, SIGNED_CAP):
            statements = await run_in_threadpool(relay.chain)
            return JSONResponse(
                {
                    "start": b64(start_key.to_file_bytes()),
                    "statements": [s.to_wire() for s in statements],
                }
            )

    @app.post("/api/relay/team/add")
    async def relay_team_add(request: Request) -> Response:
        async with signed(request, RELAY_STATEMENT_CAP) as doc:
            try:
                statement = Statement.from_wire(
                    doc.get("statement") if isinstance(doc, dict) else None
                )
            except TeamChangeError:
                raise Refused(400, "malformed") from None
            team = await run_in_threadpool(relay.add_statement, statement)
            return JSONResponse({"n": team.n, "head": team.head})

    @app.post("/api/relay/items")
    async def relay_items(request: Request) -> Response:
        _require_type(request, OCTET)
        async with signed(request, RELAY_ITEM_CAP, json_body=False):
            wire: bytes = request.state.body
            answer = await run_in_threadpool(relay.put, request.state.caseworker, wire)
            return JSONResponse({"item": answer}, status_code=201 if answer == "stored" else 200)

    @app.post("/api/relay/fetch")
    async def relay_fetch(request: Request) -> Response:
        async with signed(request, SIGNED_CAP) as doc:
            limit = doc.get("limit", 100) if isinstance(doc, dict) else None
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise Refused(400, "malformed")
            found, more = await run_in_threadpool(relay.fetch, request.state.caseworker, limit)
            items = [{"seq": seq, "item": b64(wire)} for seq, wire in found]
            return JSONResponse({"items": items, "more": more})

    @app.post("/api/relay/ack")
    async def relay_ack(request: Request) -> Response:
        async with signed(request, SIGNED_CAP) as doc:
            upto = doc.get("upto") if isinstance(doc, dict) else None
            if isinstance(upto, bool) or not isinstance(upto, int) or not 0 <= upto < 2**62:
                raise Refused(400, "malformed")
            deleted = await run_in_threadpool(relay.ack, request.state.caseworker, upto)
            return JSONResponse({"deleted": deleted})

    # --- the witness (c2sp.org/tlog-witness) ------------------------------------------------

    @app.get("/witness/key")
    async def witness_key() -> Response:
        return Response(witness.key.to_vkey() + "\n", media_type="text/plain")

    @app.post("/witness/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        _require_length(request, WITNESS_CAP)
        async with reading("witness", SIGNED_READS):
            body = await _read(request, WITNESS_CAP, idle)
            answer = await run_in_threadpool(witness.add_checkpoint, body, inbox, witnessed_logs)
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)

    # --- static files ---------------------------------------------------------------------

    def vendor(path: Path, media_type: str) -> Response:
        if not path.is_file():
            raise Refused(404, "not-found")
        return FileResponse(path, media_type=media_type)

    # Compressed once, then kept in memory, by file and modification time.
    gzipped: dict[Path, tuple[float, bytes]] = {}

    async def vendor_script(request: Request, path: Path) -> Response:
        """libsodium, gzip-compressed for a browser that takes it (1.2 MB, 0.4 MB so): it
        is public code, so compressing it tells an observer nothing about anyone."""
        if not path.is_file():
            raise Refused(404, "not-found")
        media_type = "text/javascript; charset=utf-8"
        vary = {"Vary": "Accept-Encoding"}
        if not _accepts_gzip(request.headers.get("accept-encoding", "")):
            return FileResponse(path, media_type=media_type, headers=vary)
        modified = path.stat().st_mtime
        held = gzipped.get(path)
        if held is None or held[0] != modified:
            held = gzipped[path] = (modified, await run_in_threadpool(_gzip_file, path))
        headers = {**vary, "Content-Encoding": "gzip"}
        return Response(held[1], media_type=media_type, headers=headers)

    # libsodium's build with SHA-256 ("sumo"), under the routes' plain names.
    @app.get("/static/vendor/libsodium-wrappers.js")
    async def libsodium_wrappers(request: Request) -> Response:
        sumo = node_modules / "libsodium-wrappers-sumo" / "dist" / "modules-sumo"
        return await vendor_script(request, sumo / "libsodium-wrappers.js")

    @app.get("/static/vendor/libsodium.js")
    async def libsodium(request: Request) -> Response:
        path = node_modules / "libsodium-sumo" / "dist" / "modules-sumo" / "libsodium-sumo.js"
        return await vendor_script(request, path)

    # The codename word lists (BIP39, from the `mnemonic` package): english, spanish,
    # portuguese, chinese_simplified.
    @app.get("/static/wordlist/{name}.txt")
    async def codename_words(name: str) -> Response:
        if name not in codename.LISTS:
            raise Refused(404, "not-found")
        return vendor(wordlists / f"{name}.txt", "text/plain; charset=utf-8")

    app.mount("/static", StaticFiles(directory=config.static_dir, check_dir=False), "static")
    return app


# --- helpers -------------------------------------------------------------------------------


def _accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (named, or "*", and not with q=0)."""
    for item in header.split(","):
        name, _, params = item.partition(";")
        if name.strip().lower() not in {"gzip", "*"}:
            continue
        quality = params.strip().lower().removeprefix("q=").strip() if params else "1"
        try:
            return float(quality) > 0
        except ValueError:
            return False
    return False


def _gzip_file(path: Path) -> bytes:
    with path.open("rb") as source:
        return gzip.compress(source.read(), compresslevel=9, mtime=0)


def _environment(folder: Path, translator: languages.Translator) -> jinja2.Environment:
    """The templates in one language (Jinja2's i18n extension, with that language's gettext)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), autoescape=True, extensions=["jinja2.ext.i18n"]
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        translator.gettext, translator.ngettext, newstyle=True
    )
    env.globals["languages"] = languages.LANGUAGES
    env.globals["long_date"] = translator.long_date
    code = translator.code
    env.globals["link"] = lambda path: f"{path}?lang={code}"
    return env


def _lang(request: Request, pairs: list[tuple[str, str]] | None = None) -> str:
    """The page's language: the form's hidden field or ``?lang=``, else Accept-Language."""
    asked = next((v for k, v in pairs if k == "lang"), None) if pairs else None
    asked = asked or request.query_params.get("lang")
    return languages.choose(asked, request.headers.get("accept-language"))


def _require_type(request: Request, wanted: str) -> None:
    given = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if given != wanted:
        raise Refused(415, "unsupported-media-type", close=True)


def _require_length(request: Request, cap: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return  # chunked: capped while reading
    try:
        length = int(declared)
    except ValueError:
        raise Refused(400, "malformed", close=True) from None
    if length > cap:
        raise Refused(413, "too-large", close=True)


async def _pieces(request: Request, idle: float, cap: int) -> AsyncIterator[bytes]:
    """A request body as it arrives; 408 when it stalls or trickles.

    A body is cut off when ``idle`` seconds pass without a piece, and also when it has
    not all come by its deadline: ``idle`` seconds plus its length (declared, or else
    ``cap``) at :data:`MIN_BODY_RATE`. So a client sending a byte just often enough
    cannot hold one of the places to read a body for longer than that.
    """
    declared = request.headers.get("content-length", "")
    known = declared.isascii() and declared.isdigit() and int(declared) <= cap
    length = int(declared) if known else cap
    deadline = time.monotonic() + idle + length / MIN_BODY_RATE
    pieces = request.stream()
    while True:
        wait = min(idle, deadline - time.monotonic())
        try:
            if wait <= 0:
                raise TimeoutError
            piece = await asyncio.wait_for(anext(pieces), wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise Refused(408, "timeout", close=True) from None
        yield piece


async def _read(request: Request, cap: int, idle: float) -> bytes:
    body = bytearray()
    async for piece in _pieces(request, idle, cap):
        body += piece
        if len(body) > cap:
            raise Refused(413, "too-large", close=True)
    return bytes(body)


def _hex_id(value: object, size: int) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise Refused(400, "malformed")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise Refused(400, "malformed") from None


def _hex_ids(values: object, size: int) -> list[bytes]:
    if not isinstance(values, list) or len(values) > MAX_ACK:
        raise Refused(400, "malformed")
    return [_hex_id(v, size) for v in values]


def _sealed_reply(value: object) -> bytes:
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


async def _housekeeping(inbox: Inbox) -> None:
    while True:
        await asyncio.sleep(HOUSEKEEPING_SECONDS)
        with contextlib.suppress(Exception):
            await run_in_threadpool(inbox.purge_old)
        with contextlib.suppress(Exception):
            await run_in_threadpool(inbox.keep_reserve)
