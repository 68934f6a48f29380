"""What the intake sends and keeps about people: headers, cookies, logs, and the inbox's bytes."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import CANARY
from tests.sealing import blob_id
from tests.vault.intake.conftest import Intake, IntakeFactory, Team, as_json, sealed_file
from vault import _crypto
from vault.db import connect_with_migrations
from vault.intake.app import CSP, create_app
from vault.intake.config import REPO_ROOT, IntakeConfig
from vault.intake.inbox import MIGRATIONS
from vault.intake.limits import solve
from vault.intake.server import bind, quiet_server, url_of
from vault.intake.vendor import accepts_gzip
from vault.keys import b64
from vault.replies import mailbox_id, seal_reply

USER_AGENT = "RedressProbe/9.9 (distinctive-user-agent-4f1c)"
OCTET = {"Content-Type": "application/octet-stream"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TEXT = {"Content-Type": "text/plain"}


def assert_safe_headers(response: httpx.Response) -> None:
    h = response.headers
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert h.get("content-security-policy") == CSP, where
    for directive in (
        "default-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ):
        assert directive in h["content-security-policy"], where
    assert h.get("referrer-policy") == "no-referrer", where
    assert h.get("cache-control") == "no-store", where
    assert h.get("x-content-type-options") == "nosniff", where
    assert "set-cookie" not in h, where
    assert "server" not in h, where
    assert "date" not in h, where


def test_every_response_carries_the_security_headers(shared_intake: Intake) -> None:
    c = shared_intake.client
    responses = [
        c.get("/"),
        c.get("/replies"),
        c.get("/api/challenge"),
        c.get("/static/style.css"),
        c.get("/static/vendor/libsodium-wrappers.js"),
        c.get("/static/vendor/libsodium.js"),
        c.get("/static/wordlist/english.txt"),
        c.get("/static/no-such-file.js"),
        c.get("/no-such-page"),
        c.get(f"/api/mailbox/{'0' * 32}"),
        c.post("/api/reports", content=b"x", headers=TEXT),
        c.post("/api/reports", content=b"x", headers=OCTET),
        c.post("/api/pull", content=b"{}", headers={"Content-Type": "application/json"}),
        c.post("/report", content=b"role=x", headers=FORM),
        c.put("/"),
    ]
    statuses = {r.status_code for r in responses}
    assert {200, 401, 404, 405, 415, 422, 429} <= statuses
    for response in responses:
        assert_safe_headers(response)


def test_pages_are_html_and_use_the_labels(shared_intake: Intake) -> None:
    form = shared_intake.client.get("/")
    assert form.headers["content-type"].startswith("text/html")
    assert "Treated worse because of my race or ethnicity" in form.text
    # The alert is asked once, under consent (issue 15): not again among the wants.
    assert form.text.count("warn other sex workers with an anonymous alert") == 1
    assert 'value="share-alert"' not in form.text
    assert shared_intake.client.get("/replies").headers["content-type"].startswith("text/html")


def test_vendor_scripts_and_the_word_list_are_served(shared_intake: Intake) -> None:
    c = shared_intake.client
    node = REPO_ROOT / "node_modules"
    # libsodium's build with SHA-256 (the sumo build), under the routes' plain names.
    served = {
        "libsodium-wrappers": "libsodium-wrappers-sumo/dist/modules-sumo/libsodium-wrappers.js",
        "libsodium": "libsodium-sumo/dist/modules-sumo/libsodium-sumo.js",
    }
    for name, path in served.items():
        route = f"/static/vendor/{name}.js"
        response = c.get(route)
        assert response.status_code == 200, route
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.content == (node / path).read_bytes()
        # Compressed for a browser that takes gzip (httpx does; it unpacks it above).
        assert response.headers["content-encoding"] == "gzip"
        assert int(response.headers["content-length"]) < len(response.content) / 2
        plain = c.get(route, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == response.content
        assert plain.headers["vary"] == "Accept-Encoding"
    words = c.get("/static/wordlist/english.txt")
    assert words.headers["content-type"].startswith("text/plain")
    lines = words.text.split()
    assert len(lines) == 2048
    assert lines[0] == "abandon"


def test_gzip_is_taken_as_the_header_says() -> None:
    for header in ("gzip", "gzip, deflate, br", "br;q=1, GZIP;q=0.5", "*"):
        assert accepts_gzip(header), header
    for header in ("", "identity", "br", "gzip;q=0", "gzip;q=nonsense", "*;q=0"):
        assert not accepts_gzip(header), header


def every_stored_byte(data: Path) -> bytes:
    """The inbox's files as they lie on disk, and every value inside it, decrypted."""
    raw = b"".join(p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file())
    key = _crypto.SecretBytes((data / "inbox.key").read_bytes())
    db = connect_with_migrations(data / "inbox.db", key, MIGRATIONS)
    try:
        inside = [
            *(
                bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
                for table in ("envelopes", "uploads", "chunks", "replies", "nonces")
                for row in db.execute(f"SELECT * FROM {table}")  # noqa: S608
                for v in row
            ),
        ]
    finally:
        db.close()
    return raw + b"".join(inside)


def proof(client: httpx.Client) -> str:
    challenge = client.get("/api/challenge").json()
    return solve(challenge["challenge"], challenge["bits"])


def session(intake: Intake, team: Team, client: httpx.Client) -> None:
    """A reporter's visit using every route, a caseworker's reply, then a pull."""
    assert client.get("/").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    for _ in range(2):
        sent = client.post(
            "/api/reports", content=team.seal(), headers={**OCTET, "X-Redress-PoW": proof(client)}
        )
        assert sent.status_code == 202
    _, blob = sealed_file(b"a photo " + CANARY.encode())
    up = client.post(
        "/api/attachments", content=blob, headers={**OCTET, "X-Redress-PoW": proof(client)}
    )
    assert up.json() == {"blob": blob_id(blob)}
    _, blob = sealed_file(b"another photo " + CANARY.encode())
    opened = client.post("/api/attachments/parts", headers={"X-Redress-PoW": proof(client)})
    parts = f"/api/attachments/parts/{opened.json()['upload']}"
    assert client.put(f"{parts}/0", content=blob[:1000], headers=OCTET).status_code == 200
    assert client.put(f"{parts}/1000", content=blob[1000:], headers=OCTET).status_code == 200
    assert client.post(f"{parts}/end").json() == {"blob": blob_id(blob)}
    typed = f"sector=other&role=nurse&harms=outing&what_happened={CANARY}"
    assert client.post("/report", content=typed.encode(), headers=FORM).status_code == 303
    assert client.get("/sent").status_code == 200
    assert client.post("/report", content=b"role=x", headers=FORM).status_code == 422
    assert client.post("/api/reports", content=b"junk", headers=TEXT).status_code == 415
    pk, _ = _crypto.box_keypair()
    body = b64(seal_reply("hi", "2026-01-01", None, pk))
    reply = {"replies": [{"mailbox": mailbox_id(pk), "body": body}]}
    assert intake.signed("POST", "/api/replies", as_json(reply)).status_code == 200
    assert client.get(f"/api/mailbox/{mailbox_id(pk)}").status_code == 200
    assert client.get("/replies").status_code == 200
    assert len(intake.pull()["envelopes"]) == 3


@pytest.mark.parametrize("source", ["127.0.0.1", "127.0.0.2"])
def test_no_address_or_user_agent_is_kept_or_logged(
    start_intake: IntakeFactory, team: Team, source: str
) -> None:
    intake = start_intake()
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(
        base_url=intake.url, headers={"User-Agent": USER_AGENT}, transport=transport, timeout=30
    ) as client:
        session(intake, team, client)
    stored = every_stored_byte(intake.data)
    intake.stop()
    out, err = intake.output()
    # The intake prints its own URL, which names the address it listens on, then only what
    # its team key file says.
    lines = out.splitlines()
    assert lines[0] == f"Redress intake: {intake.url}"
    assert [line.split(":", 1)[0] for line in lines[1:]] == [
        "Team key epoch",
        "Team key fingerprint",
        "Accepts pulls from",
    ]
    logs = out.replace(intake.url, "") + err
    for secret in (source, USER_AGENT, "RedressProbe", CANARY):
        assert secret not in logs, secret
        assert secret.encode() not in stored, secret
    assert "Traceback" not in err


def test_an_internal_fault_is_a_bare_500_and_nothing_is_logged(
    tmp_path: Path, team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    """A real server (in a thread) whose templates are missing: every page is a fault."""
    (tmp_path / "team.json").write_bytes(team.public.to_file_bytes())
    (tmp_path / "no-templates").mkdir()
    config = IntakeConfig(
        team_key_file=tmp_path / "team.json",
        data_dir=tmp_path / "data",
        templates_dir=tmp_path / "no-templates",
    )
    sock = bind("127.0.0.1", 0)
    server = quiet_server(create_app(config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    caplog.set_level(logging.DEBUG)
    thread.start()
    try:
        with httpx.Client(base_url=url_of(sock), headers={"User-Agent": USER_AGENT}) as client:
            response = client.get("/?q=" + CANARY)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert response.status_code == 500
    assert response.json() == {"error": "internal"}
    assert_safe_headers(response)
    server_logs = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in server_logs)
    for secret in (CANARY, USER_AGENT, "127.0.0.1", "Traceback", "Exception"):
        assert secret not in logged
