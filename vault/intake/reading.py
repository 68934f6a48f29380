"""Reading a request: its type, its declared length, its body within deadlines, and ids.

Every route of the intake reads through here, so a body is never read past its cap or
for longer than its deadline, and a refusal is one short JSON error (:class:`Refused`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from starlette.requests import Request

OCTET = "application/octet-stream"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MAX_IDS = 20_000  # ids in one acknowledgement
MIN_BODY_RATE = 16 << 10  # bytes a second a body must average, after --read-timeout seconds
FULL_RETRY = 300  # seconds a client is asked to wait when the inbox's disk is full


class Refused(Exception):
    """A request the intake answers with a short JSON error and nothing more."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        close: bool = False,
        retry_after: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.reason = reason  # said beside the error when set: {"error", "reason"}
        self.headers: dict[str, str] = {}
        if close:  # the body was not read: do not leave it on a kept-alive connection
            self.headers["Connection"] = "close"
        if retry_after is not None:
            self.headers["Retry-After"] = str(retry_after)


def require_type(request: Request, wanted: str) -> None:
    given = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if given != wanted:
        raise Refused(415, "unsupported-media-type", close=True)


def require_length(request: Request, cap: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return  # chunked: capped while reading
    try:
        length = int(declared)
    except ValueError:
        raise Refused(400, "malformed", close=True) from None
    if length > cap:
        raise Refused(413, "too-large", close=True)


async def pieces(request: Request, idle: float, cap: int) -> AsyncIterator[bytes]:
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
    stream = request.stream()
    while True:
        wait = min(idle, deadline - time.monotonic())
        try:
            if wait <= 0:
                raise TimeoutError
            piece = await asyncio.wait_for(anext(stream), wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise Refused(408, "timeout", close=True) from None
        yield piece


async def read_body(request: Request, cap: int, idle: float) -> bytes:
    body = bytearray()
    async for piece in pieces(request, idle, cap):
        body += piece
        if len(body) > cap:
            raise Refused(413, "too-large", close=True)
    return bytes(body)


def hex_id(value: object, size: int) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise Refused(400, "malformed")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise Refused(400, "malformed") from None


def hex_ids(values: object, size: int) -> list[bytes]:
    if not isinstance(values, list) or len(values) > MAX_IDS:
        raise Refused(400, "malformed")
    return [hex_id(v, size) for v in values]
