"""Run the intake: bind first (so a busy port is a plain error), then uvicorn, quietly.

uvicorn's access log is off and its own log is at warning level, with no Server
or Date header: nothing about a request is written anywhere.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from vault.errors import VaultError
from vault.intake.app import create_app
from vault.intake.config import IntakeConfig


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
        raise VaultError(
            f"Cannot listen on {host} port {port}: it is in use or not available.",
            hint="choose another with --port",
        ) from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def quiet_server(app: FastAPI) -> uvicorn.Server:
    """uvicorn as the intake runs it: no access log, no Server or Date header, no proxy trust."""
    return uvicorn.Server(
        uvicorn.Config(
            app,
            http="h11",
            ws="none",
            lifespan="on",
            access_log=False,
            log_level="warning",
            server_header=False,
            date_header=False,
            proxy_headers=False,
            limit_concurrency=512,
            timeout_graceful_shutdown=5,
        )
    )


def serve(config: IntakeConfig, announce: Callable[[str], None] = print) -> None:
    """Serve until interrupted. ``announce`` is told the URL once the port is bound."""
    server = quiet_server(create_app(config))
    sock = bind(config.host, config.port)
    with sock:
        announce(url_of(sock))
        server.run(sockets=[sock])
