"""Run the intake: bind first (so a busy port is a plain error), then uvicorn, quietly.

uvicorn's access log is off and its own log is at warning level, with no Server
or Date header: nothing about a request is written anywhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import socket
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from vault.errors import PortInUseError, VaultError
from vault.intake.app import create_app, load_team_key
from vault.intake.config import IntakeConfig
from vault.intake.connections import KEEP_ALIVE_SECONDS, IntakeProtocol, max_connections
from vault.keys import TeamPublicKey, caseworker_key_id


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0 picks a free one)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError):
        raise VaultError(f"{host} is not an address this computer can listen on.") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        if isinstance(e, PermissionError):
            raise VaultError(f"This account may not listen on port {port}.") from None
        if e.errno == errno.EADDRINUSE:
            free = suggest_port(host, port)
            instead = f"; try --port {free}" if free is not None else "; choose another with --port"
            raise PortInUseError(
                f"Port {port} is in use by another program{instead}.", port=port, suggestion=free
            ) from None
        raise VaultError(
            f"Cannot listen on {host} port {port}: it is in use or not available.",
            hint="choose another with --port",
        ) from None
    sock.set_inheritable(True)
    return sock


def suggest_port(host: str, busy: int) -> int | None:
    """A port near ``busy`` (8080 first, as people expect) that is free on ``host`` right now."""
    candidates: list[int] = [8080, *range(8081, 8090), *range(busy + 1, busy + 10)]
    for candidate in candidates:
        if candidate == busy or not 0 < candidate < 65536:
            continue
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                host, candidate, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError:
            continue
        return candidate
    return None


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def quiet_server(app: FastAPI) -> uvicorn.Server:
    """uvicorn as the intake runs it: no access log, no Server or Date header, no proxy trust.

    The HTTP protocol is uvicorn's httptools one (the C parser: h11 took most of the CPU
    per request) with the intake's caps and deadlines (``vault/intake/connections.py``),
    which also does what uvicorn's ``limit_concurrency`` would, without counting idle
    connections against requests.
    """
    IntakeProtocol.connection_cap = max_connections()
    return uvicorn.Server(
        uvicorn.Config(
            app,
            http=IntakeProtocol,
            ws="none",
            lifespan="on",
            access_log=False,
            log_level="warning",
            server_header=False,
            date_header=False,
            proxy_headers=False,
            limit_concurrency=None,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=5,
        )
    )


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 128 << 10


def fix_mmap_threshold() -> bool:
    """Have glibc give large buffers (an upload's 1 MiB rows) back to the system when freed.

    glibc raises its mmap threshold each time a large block is freed, after which such
    blocks come from per-thread heaps and stay resident: with 64 uploads at once that
    took about 3.4 MiB per upload instead of about 2 (bench/intake.py). Setting the
    threshold once turns that adjustment off. Elsewhere than glibc this does nothing.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError, TypeError):
        return False


def describe(team_key: TeamPublicKey) -> list[str]:
    """The team key and the caseworkers the intake takes pulls from, one line each: the
    team key file's, or, for a team of laptops, the team as the relay's record now says.

    The admin reads these out to a caseworker over the phone, who compares them with
    ``vault team-key export``'s: a substituted key file shows here.
    """
    lines = [f"Team key epoch: {team_key.epoch}", f"Team key fingerprint: {team_key.fingerprint}"]
    for name, sign_pk in team_key.caseworkers:
        lines.append(f"Accepts pulls from: {name} (key id {caseworker_key_id(sign_pk)})")
    if not team_key.caseworkers:
        lines.append("Accepts pulls from: nobody (the team key file lists no caseworkers)")
    return lines


def serve(
    config: IntakeConfig,
    announce: Callable[[str], None] = print,
    details: Callable[[list[str]], None] | None = None,
) -> None:
    """Serve until interrupted.

    Once the port is bound, ``announce`` is told the URL, then ``details`` (if given) the
    lines of :func:`describe`.
    """
    fix_mmap_threshold()
    app = create_app(config, load_team_key(config))
    server = quiet_server(app)
    sock = bind(config.host, config.port)
    with sock:
        announce(url_of(sock))
        if details is not None:  # the team as it stands: a relay's statements followed
            details(describe(app.state.intake.team_now))
        server.run(sockets=[sock])
