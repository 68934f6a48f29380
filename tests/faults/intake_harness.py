"""What the intake's fault tests share: a real vault, real intakes, and clients that misbehave.

Everything here is real: the vault is made by the real ``vault init`` and pulls with the real
``vault pull``; its caseworker signs with the key ``vault init`` made (unlocked through the
library with the same passphrase); the intake is ``vault intake serve`` on loopback
(tests/intake_server.py), its stderr kept so the tests can look for tracebacks. The raw client
speaks HTTP/1.1 over a socket, so it can send what no HTTP library would: bad lengths,
truncated bodies, odd methods, control characters in a target.

``REDRESS_FAULTS=full`` (``make faults``) runs every loop at its full size; otherwise each
runs a quick version fit for ``make test``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, Cli, make_report
from tests.intake_server import IntakeServer, IntakeServers
from vault.envelope import seal_report
from vault.intake.auth import sign_request
from vault.intake.limits import solve
from vault.keys import Identity, TeamPublicKey
from vault.report import Report
from vault.store import Vault

FULL = os.environ.get("REDRESS_FAULTS", "") == "full"


def size(quick: int, full: int) -> int:
    """A loop's size: ``full`` under ``REDRESS_FAULTS=full``, else ``quick``."""
    return full if FULL else quick


# --- a real vault and its caseworker ----------------------------------------------------------


@dataclass
class TeamVault:
    """A vault made with the real CLI, its exported team key file, and its caseworker's key."""

    cli: Cli
    directory: Path
    team_key_file: Path
    vault: Vault  # unlocked in this process with the same passphrase: the caseworker's identity

    @classmethod
    def make(cls, where: Path) -> TeamVault:
        where.mkdir(parents=True, exist_ok=True)
        cli = Cli(where)
        for args in (("init", "--name", "amara"), ("team-key", "export", "team-key.json")):
            done = cli(*args)
            assert done.returncode == 0, done.stderr
        directory = where / "vault-data"
        return cls(cli, directory, where / "team-key.json", Vault.unlock(directory, PASSPHRASE))

    @property
    def identity(self) -> Identity:
        return self.vault.identity

    @property
    def team_key(self) -> TeamPublicKey:
        return TeamPublicKey.from_file_bytes(self.team_key_file.read_bytes())

    def seal(self, report: Report | None = None) -> bytes:
        key = self.team_key
        return seal_report(report or make_report(), key.epoch, key.public_key)

    def pull(self, url: str) -> None:
        """``vault pull --from URL``, which must succeed."""
        done = self.cli("pull", "--from", url)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr

    def envelope_ids(self) -> Counter[str]:
        """How many cases hold each envelope id (each must be 1)."""
        rows = self.vault.db.execute("SELECT envelope_id FROM cases").fetchall()
        return Counter(bytes(r[0]).hex() if isinstance(r[0], bytes) else str(r[0]) for r in rows)

    def check(self) -> None:
        done = self.cli("check")
        assert done.returncode == 0, done.stdout + done.stderr

    def close(self) -> None:
        self.vault.close()


_SHARED: list[TeamVault] = []


def shared_team(tmp_path_factory: pytest.TempPathFactory) -> TeamVault:
    """One vault for every intake fault test in this process (``vault init`` and unlocking
    cost seconds each). Tests check only the reports they sent, and that none is held twice."""
    if not _SHARED:
        _SHARED.append(TeamVault.make(tmp_path_factory.mktemp("faults-vault")))
    return _SHARED[0]


def start_intake(
    servers: IntakeServers, team: TeamVault, *options: str, **kwargs: object
) -> IntakeServer:
    return servers.start(team.team_key_file, *options, **kwargs)  # type: ignore[arg-type]


def tracebacks(server: IntakeServer) -> list[str]:
    """The tracebacks (and uvicorn's "Exception in ASGI application") the server wrote."""
    err = server.stderr_path.read_text(errors="replace")
    found = [part for part in err.split("Traceback (most recent call last)")[1:]]
    if "Exception in ASGI application" in err and not found:
        found.append(err)
    return found


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` figure in KiB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


# --- clients -----------------------------------------------------------------------------------


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    return host, int(port)


@dataclass
class Answer:
    status: int | None  # None: the server closed without answering (or did not answer in time)
    head: bytes
    body: bytes


def raw_request(
    url: str, request: bytes, *, half_close: bool = False, timeout: float = 15
) -> Answer:
    """Send ``request`` (bytes exactly as given) on a new connection; read one answer.

    With ``half_close`` the client shuts its sending side after the request: a truncated
    body then ends at once (uvicorn closes such a connection) instead of at a timeout.
    """
    head_only = request.startswith(b"HEAD ")
    data = bytearray()
    with socket.create_connection(address(url), timeout=timeout) as sock:
        try:
            sock.sendall(request)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before taking it all
            pass
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                piece = sock.recv(65536)
                if not piece:
                    break
                data += piece
                if _complete(_final(data), head_only):
                    break
        except OSError:
            pass
    head, _, body = _final(data).partition(b"\r\n\r\n")
    status = None
    if head.startswith(b"HTTP/1.1 ") and len(head) >= 12 and head[9:12].isdigit():
        status = int(head[9:12])
    return Answer(status, head, body)


def _final(data: bytearray) -> bytes:
    """The answer after any ``100 Continue``."""
    text = bytes(data)
    while text.startswith(b"HTTP/1.1 100") and b"\r\n\r\n" in text:
        text = text.split(b"\r\n\r\n", 1)[1]
    return text


def _complete(data: bytes, head_only: bool) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    if head_only or head[9:12] in (b"204", b"304", b"100"):
        return not head.startswith(b"HTTP/1.1 100")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value)
    return False


def build_request(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def signed_headers(
    identity: Identity, method: str, target: str, body: bytes
) -> list[tuple[bytes, bytes]]:
    return [
        (k.encode(), v.encode()) for k, v in sign_request(identity, method, target, body).items()
    ]


def challenge(url: str) -> tuple[str, int]:
    answer = raw_request(url, build_request(b"GET", b"/api/challenge", [], b""))
    assert answer.status == 200, answer
    doc = json.loads(answer.body)
    return str(doc["challenge"]), int(doc["bits"])


def proof(url: str) -> str:
    """A fresh, solved ``X-Redress-PoW`` value, solved as ``vault submit`` solves it."""
    text, bits = challenge(url)
    return solve(text, bits)


def submit(url: str, envelope: bytes, *, timeout: float = 30) -> Answer:
    """``POST /api/reports`` with real proof of work, as the form and ``vault submit`` do."""
    headers = [
        (b"Content-Type", b"application/octet-stream"),
        (b"Content-Length", str(len(envelope)).encode()),
        (b"X-Redress-PoW", proof(url).encode()),
    ]
    return raw_request(
        url, build_request(b"POST", b"/api/reports", headers, envelope), timeout=timeout
    )


def signed_json(url: str, identity: Identity, path: str, doc: object) -> Answer:
    body = json.dumps(doc).encode()
    headers = [
        (b"Content-Type", b"application/json"),
        (b"Content-Length", str(len(body)).encode()),
        *signed_headers(identity, "POST", path, body),
    ]
    return raw_request(url, build_request(b"POST", path.encode(), headers, body))
