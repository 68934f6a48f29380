"""Pages shown once: the answer to a no-JavaScript post that must not stay in the tab's history.

`POST /replies` opens a reporter's replies on the server. Answering the post with the page
itself would leave the post (the codename) in the tab's history, so Back and reload would
send it again and show the replies to whoever holds the phone. Instead the page is put here,
under a random token, and the post is answered with a redirect to `/replies/{token}`
(docs/intake.md section 7). A page is given out once, then forgotten; one not fetched within
:data:`TTL_SECONDS` is forgotten too. At most :data:`MAX_PAGES` pages and :data:`MAX_BYTES`
bytes are held: beyond that the oldest go first. Memory only: nothing is ever written to disk.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

TTL_SECONDS = 60.0
MAX_PAGES = 64
MAX_BYTES = 32 << 20
TOKEN_BYTES = 32
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


class OneTimePages:
    """Rendered pages under random tokens, each readable once, for a short time."""

    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        max_pages: int = MAX_PAGES,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_pages = max_pages
        self._max_bytes = max_bytes
        self._clock = clock
        self._pages: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OneTimePages({len(self._pages)} held)"

    def __len__(self) -> int:
        return len(self._pages)

    def put(self, page: bytes) -> str | None:
        """Hold ``page``; its token, or None if it is larger than everything allowed."""
        if len(page) > self._max_bytes:
            return None
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self._lock:
            self._forget_expired()
            while self._pages and (
                len(self._pages) >= self._max_pages or self._bytes + len(page) > self._max_bytes
            ):
                self._drop(next(iter(self._pages)))
            self._pages[token] = (self._clock() + self._ttl, page)
            self._bytes += len(page)
        return token

    def take(self, token: str) -> bytes | None:
        """The page under ``token``, forgotten as it is given; None if used, expired or unknown."""
        if not TOKEN.fullmatch(token):
            return None
        with self._lock:
            self._forget_expired()
            held = self._pages.get(token)
            if held is None:
                return None
            self._drop(token)
            return held[1]

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._pages:
            token, (expires, _) = next(iter(self._pages.items()))
            if expires > now:
                return
            self._drop(token)

    def _drop(self, token: str) -> None:
        _, page = self._pages.pop(token)
        self._bytes -= len(page)
