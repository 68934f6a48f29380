"""Connections to the intake: capped heads, deadlines for slow clients, and room for reporters.

uvicorn's own HTTP protocol (httptools) keeps every byte of a request's head until the
head is complete, has no deadline for receiving it, and counts idle connections against
the same limit as requests. So one client sending a 64 MiB header, or a few hundred
sockets that never send anything, could exhaust the intake without any proof of work.
:class:`IntakeProtocol` is uvicorn's protocol with these limits, none tied to an address
(``docs/intake.md`` section 2, "Connections"):

* a request's head (request line and headers) is at most :data:`HEAD_BYTES` bytes and
  :data:`MAX_HEADERS` header lines: past either, ``431`` and the connection is closed.
  The parser is fed at most what fits, so no connection holds more than that;
* the head must arrive within :data:`HEAD_SECONDS` of the connection opening (or of the
  previous response on a kept-alive connection), however slowly it trickles; then the
  connection is closed (``408`` if part of a head had come);
* an idle kept-alive connection is closed after :data:`KEEP_ALIVE_SECONDS`;
* at most :data:`MAX_REQUESTS` requests are handled at once (the rest get ``429 busy``),
  but connections have their own, much higher cap (:func:`max_connections`); when it is
  reached, a new connection closes the connection that has been idle (no request in
  flight) the longest. So sockets held open by an attacker are pushed out by new ones,
  and a reporter, whose connection has just opened, is never the one closed.

Request bodies have their deadlines in the app (``vault/intake/app.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
from collections import OrderedDict
from http import HTTPStatus
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from vault.intake.app import SECURITY_HEADERS

HEAD_BYTES = 16 << 10
MAX_HEADERS = 100
HEAD_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 5
MAX_REQUESTS = 512
MOST_CONNECTIONS = 8192
SPARE_FILES = 256  # descriptors kept for the inbox, the static files and the threads
BUSY_SECONDS = 5


def max_connections() -> int:
    """The connection cap: the open-file limit raised as far as allowed, less some spare.

    Each connection is one file descriptor, so this is as many as the process may hold
    while still opening its own files; at most :data:`MOST_CONNECTIONS`.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MOST_CONNECTIONS + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return MOST_CONNECTIONS
    return max(MAX_REQUESTS + 64, min(MOST_CONNECTIONS, soft - SPARE_FILES))


class _TooManyHeaders(Exception):
    pass


def refusal(status: int, error: str, retry_after: int | None = None) -> bytes:
    """A whole HTTP response, sent by the protocol itself (the app never sees the request)."""
    body = json.dumps({"error": error}, separators=(",", ":")).encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode(),
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
    ]
    if retry_after is not None:
        lines.append(b"retry-after: " + str(retry_after).encode())
    lines += [name + b": " + value for name, value in SECURITY_HEADERS]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def _busy(scope: Any, receive: Any, send: Any) -> None:
    """The answer when :data:`MAX_REQUESTS` are already being handled."""
    body = b'{"error":"busy"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(BUSY_SECONDS).encode()),
        (b"connection", b"close"),
        *SECURITY_HEADERS,
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class IntakeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of this module's docstring."""

    # Connections with no request in flight, longest idle first (one event loop per process).
    _idle: ClassVar[OrderedDict[IntakeProtocol, None]] = OrderedDict()
    connection_cap: ClassVar[int] = MOST_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True  # reading a request's head (not its body)
        self._head_bytes = 0
        self._header_count = 0
        self._too_many = False
        self._head_timer: asyncio.TimerHandle | None = None

    # --- the connection's life -------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.connection_cap:
            self._evict_one()
        self._become_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self._idle.pop(self, None)
        super().connection_lost(exc)

    def _evict_one(self) -> None:
        """Close the connection idle the longest, to make room for this new one."""
        for oldest in self._idle:
            if oldest is not self:
                self._idle.pop(oldest)
                oldest._stop_head_timer()
                oldest.transport.close()
                return
        self.transport.close()  # every other connection has a request in flight

    def _become_idle(self) -> None:
        if self.transport.is_closing():
            return
        self._idle[self] = None
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _in_flight(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._in_flight():
            return
        if self._head_bytes and self._head_open:  # part of a head came: say why
            self.transport.write(refusal(408, "timeout"))
        self.transport.close()

    # --- reading ---------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        while data and not self.transport.is_closing():
            if self._head_open:
                room = HEAD_BYTES - self._head_bytes
                if room <= 0:
                    self._refuse_head()
                    return
                piece, data = data[:room], data[room:]
                self._head_bytes += len(piece)
            else:
                piece, data = data, b""
            super().data_received(piece)
        if self._head_open and self._head_bytes >= HEAD_BYTES and not self.transport.is_closing():
            self._refuse_head()

    def _refuse_head(self) -> None:
        if not self._in_flight():
            self.transport.write(refusal(431, "headers-too-large"))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        if self._too_many:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            self._too_many = True
            raise _TooManyHeaders()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._head_bytes = 0
        self._stop_head_timer()
        self._idle.pop(self, None)
        if len(self.tasks) >= MAX_REQUESTS:
            app, self.app = self.app, _busy
            try:
                super().on_headers_complete()
            finally:
                self.app = app
        else:
            super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_open = True

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._in_flight():
            self._become_idle()
