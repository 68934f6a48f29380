"""A real intake (`vault intake serve` in a subprocess on loopback) and real keys to talk to it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nacl.bindings as sodium
import pytest

from tests.conftest import make_report
from tests.faults import disks
from tests.intake_server import IntakeServers, stop_server
from vault.envelope import padded_length, seal_report
from vault.intake.auth import sign_request
from vault.intake.limits import solve
from vault.keys import Identity, TeamKeyPair, TeamPublicKey
from vault.report import Report

POW_BITS = 6
DISK_MIB = 32  # the small filesystem of the full-disk tests


@dataclass
class Team:
    """A team key pair and two identities: a registered caseworker and a stranger."""

    keys: TeamKeyPair
    caseworker: Identity
    stranger: Identity

    @property
    def public(self) -> TeamPublicKey:
        return TeamPublicKey(
            self.keys.epoch,
            self.keys.public_key,
            ((self.caseworker.name, self.caseworker.public.sign_pk),),
        )

    def seal(self, report: Report | None = None) -> bytes:
        return seal_report(report or make_report(), self.keys.epoch, self.keys.public_key)


@pytest.fixture(scope="session")
def team() -> Team:
    return Team(
        keys=TeamKeyPair.generate(1),
        caseworker=Identity.generate("amara"),
        stranger=Identity.generate("mallory"),
    )


@dataclass
class Intake:
    """A running intake server process and a client for it."""

    url: str
    data: Path
    team: Team
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30)

    # --- reporters ---

    def proof(self) -> str:
        challenge = self.client.get("/api/challenge").json()
        return solve(challenge["challenge"], challenge["bits"])

    def submit(self, envelope: bytes, **headers: str) -> httpx.Response:
        return self.client.post(
            "/api/reports",
            content=envelope,
            headers={
                "Content-Type": "application/octet-stream",
                "X-Redress-PoW": self.proof(),
                **headers,
            },
        )

    def upload(self, body: bytes | Any) -> httpx.Response:
        return self.client.post(
            "/api/attachments",
            content=body,
            headers={"Content-Type": "application/octet-stream", "X-Redress-PoW": self.proof()},
        )

    # --- caseworkers ---

    def signed(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        identity: Identity | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        who = identity or self.team.caseworker
        sent = {**sign_request(who, method, path, body), **(headers or {})}
        if body:
            sent.setdefault("Content-Type", "application/json")
        return self.client.request(method, path, content=body, headers=sent)

    def pull(self, limit: int = 100, after: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"limit": limit}
        if after is not None:
            doc["after"] = after
        response = self.signed("POST", "/api/pull", as_json(doc))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def ack(self, envelopes: list[str] | None = None, blobs: list[str] | None = None) -> int:
        doc = {"envelopes": envelopes or [], "blobs": blobs or []}
        response = self.signed("POST", "/api/ack", as_json(doc))
        assert response.status_code == 200, response.text
        deleted: int = response.json()["deleted"]
        return deleted

    # --- the process ---

    def output(self) -> tuple[str, str]:
        return self.stdout_path.read_text(), self.stderr_path.read_text()

    def stop(self) -> int:
        self.client.close()
        return stop_server(self.process)


def as_json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


class IntakeFactory:
    """Starts intakes holding the session's team key, through the shared tests/intake_server.py."""

    def __init__(self, servers: IntakeServers, team: Team) -> None:
        self.servers = servers
        self.team = team
        self.running: list[Intake] = []
        self.team_key_file = servers.directory / "team-key.json"
        self.team_key_file.write_bytes(team.public.to_file_bytes())

    def __call__(self, *options: str, data: Path | None = None, name: str = "intake") -> Intake:
        server = self.servers.start(
            self.team_key_file, *options, data=data, name=name, pow_bits=POW_BITS
        )
        intake = Intake(
            url=server.announced_url,
            data=server.data,
            team=self.team,
            process=server.process,
            stdout_path=server.stdout_path,
            stderr_path=server.stderr_path,
        )
        self.running.append(intake)
        return intake

    def close_clients(self) -> None:
        for intake in self.running:
            intake.client.close()


@pytest.fixture
def start_intake(intake_servers: IntakeServers, team: Team) -> Iterator[IntakeFactory]:
    factory = IntakeFactory(intake_servers, team)
    try:
        yield factory
    finally:
        factory.close_clients()  # then intake_servers stops them and checks each exited cleanly


@pytest.fixture
def intake(start_intake: IntakeFactory) -> Intake:
    return start_intake()


@pytest.fixture(scope="module")
def shared_intake(tmp_path_factory: pytest.TempPathFactory, team: Team) -> Iterator[Intake]:
    """One intake for a module's tests that store nothing (refusals, headers, pages)."""
    with IntakeServers(tmp_path_factory.mktemp("shared")) as servers:
        factory = IntakeFactory(servers, team)
        try:
            yield factory()
        finally:
            factory.close_clients()


def sealed_file(data: bytes) -> tuple[bytes, bytes]:
    """(key, blob): a file padded and sealed as the browser does (docs/intake.md section 4)."""
    key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    padded = data + bytes(padded_length(len(data)) - len(data))
    parts = [header]
    for start in range(0, len(padded), 65_536):
        piece = padded[start : start + 65_536]
        last = start + 65_536 >= len(padded)
        tag = (
            sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
            if last
            else sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
        )
        parts.append(sodium.crypto_secretstream_xchacha20poly1305_push(state, piece, None, tag))
    return key, b"".join(parts)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_MIB MiB mounted on a fresh directory; unmounted afterwards."""
    with disks.tmpfs(tmp_path / "small-disk", DISK_MIB * 1024) as mount:
        yield mount
