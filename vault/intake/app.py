"""The intake web app, assembled: the pages (:mod:`vault.intake.pages`), the reporters'
API (:mod:`~vault.intake.reporter_api`), the caseworkers' signed API and the witness
(:mod:`~vault.intake.caseworker_api`), the relay (:mod:`~vault.intake.relay_api`) and the
vendored scripts (:mod:`~vault.intake.vendor`), over one :class:`IntakeState`.

``docs/intake.md`` sections 2 to 6 are the specification. The app holds the team
public key only and stores nothing that is not sealed. It never logs a request,
never sets a cookie, and never reads a body it is going to refuse for its size,
type, proof of work or the rate cap. A caseworker's request has every header check
that needs no body (key, clock, nonce) done before its body is read, and bodies are
read by a bounded number of requests at a time, each within a per-chunk deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vault.files import read_small_file
from vault.intake import caseworker_api, pages, relay_api, reporter_api, vendor
from vault.intake.config import IntakeConfig
from vault.intake.inbox import Inbox, InboxFull
from vault.intake.reading import FULL_RETRY, Refused
from vault.intake.relay import RelayRefused
from vault.intake.state import IntakeState
from vault.intake.witness import Witness
from vault.keys import TeamPublicKey

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

HOUSEKEEPING_SECONDS = 3600


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
    state = IntakeState(config, team_key, inbox, witness)

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
    app.state.intake = state
    app.add_middleware(_Guard)

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> Response:
        said = {"error": exc.error}
        if exc.reason is not None:
            said["reason"] = exc.reason
        return JSONResponse(said, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RelayRefused)
    async def relay_refused(_: Request, exc: RelayRefused) -> Response:
        return JSONResponse({"error": exc.error}, status_code=exc.status)

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

    for part in (pages, reporter_api, caseworker_api, relay_api, vendor):
        app.include_router(part.routes(state))
    app.mount("/static", StaticFiles(directory=config.static_dir, check_dir=False), "static")
    return app


async def _housekeeping(inbox: Inbox) -> None:
    while True:
        await asyncio.sleep(HOUSEKEEPING_SECONDS)
        with contextlib.suppress(Exception):
            await run_in_threadpool(inbox.purge_old)
        with contextlib.suppress(Exception):
            await run_in_threadpool(inbox.keep_reserve)
