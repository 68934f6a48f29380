"""Uploads in parts against a real intake: docs/intake.md section 4, "Uploading in parts"."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.intake_server import IntakeServers
from tests.sealing import blob_id
from tests.vault.intake.conftest import Intake, IntakeFactory, Team, sealed_file
from tests.vault.intake.test_api import inbox_rows, raw_request
from vault import _crypto
from vault.intake.inbox import Inbox
from vault.intake.parts import IDLE_SECONDS, MAX_OPEN, PART_BYTES, OpenUploads

OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, team: Team) -> Iterator[Intake]:
    """One intake for the module, taking files of at most 1 MiB (so a cap is quick to pass)."""
    with IntakeServers(tmp_path_factory.mktemp("parts")) as servers:
        factory = IntakeFactory(servers, team)
        try:
            yield factory("--max-file-mib", "1")
        finally:
            factory.close_clients()


def start(intake: Intake, proof: str | None = None) -> httpx.Response:
    headers = {"X-Redress-PoW": intake.proof() if proof is None else proof}
    return intake.client.post("/api/attachments/parts", headers=headers)


def put(intake: Intake, token: str, offset: int | str, part: bytes) -> httpx.Response:
    return intake.client.put(
        f"/api/attachments/parts/{token}/{offset}", content=part, headers=OCTET
    )


def end(intake: Intake, token: str) -> httpx.Response:
    return intake.client.post(f"/api/attachments/parts/{token}/end")


def opened(intake: Intake) -> str:
    answer = start(intake)
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["upload"]
    assert len(token) == 32
    assert int(token, 16) >= 0
    return token


def test_three_parts_give_the_blob_the_whole_body_gives(small: Intake) -> None:
    _, blob = sealed_file(_crypto.random_bytes(700_000))
    token = opened(small)
    cuts = [0, 24 + 65_553 * 3, 400_000, len(blob)]  # a part need not end on a chunk
    for a, b in itertools.pairwise(cuts):
        answer = put(small, token, a, blob[a:b])
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"size": b}
    answer = end(small, token)
    assert answer.status_code == 201
    assert answer.json() == {"blob": blob_id(blob)}
    # Rows of any length, read back in order.
    fetched = small.signed("GET", f"/api/blobs/{blob_id(blob)}")
    assert fetched.status_code == 200
    assert fetched.content == blob
    # The same bytes as a whole body: the same id, kept once.
    assert small.upload(blob).json() == {"blob": blob_id(blob)}
    assert put(small, token, len(blob), b"more").status_code == 404  # finished
    assert small.ack(blobs=[blob_id(blob)]) == 1
    assert inbox_rows(small.data, "chunks") == 0


def test_a_wrong_offset_is_409_with_the_size_held(small: Intake) -> None:
    _, blob = sealed_file(b"x" * 5000)
    token = opened(small)
    assert put(small, token, 0, blob[:1000]).json() == {"size": 1000}
    for wrong in (0, 999, 1001, 10**19):
        answer = put(small, token, wrong, blob[1000:])
        assert answer.status_code == 409
        assert answer.json() == {"error": "offset", "size": 1000}
    assert put(small, token, 1000, blob[1000:]).json() == {"size": len(blob)}
    assert end(small, token).json() == {"blob": blob_id(blob)}


def test_a_part_cut_off_keeps_what_arrived_and_the_page_carries_on(small: Intake) -> None:
    _, blob = sealed_file(_crypto.random_bytes(300_000))
    token = opened(small)
    url = httpx.URL(small.url)
    assert url.port is not None
    head = (
        f"PUT /api/attachments/parts/{token}/0 HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {len(blob)}\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port), timeout=5) as sock:
        sock.sendall(head.encode() + blob[:123_456])
    for _ in range(100):  # until the intake has begun that part (a probe at a wrong offset)
        if put(small, token, 1, b"").json()["size"] > 0:
            break
        time.sleep(0.02)
    # As the page does: a 409 says how much is held; while the cut-off part is still being
    # taken (the intake has yet to notice the client gone), that may still change.
    held, answer = 0, put(small, token, 0, blob)
    for _ in range(100):
        if answer.status_code != 409:
            break
        held = answer.json()["size"]
        time.sleep(0.05)
        answer = put(small, token, held, blob[held:])
    assert held == 123_456
    assert answer.json() == {"size": len(blob)}
    assert end(small, token).json() == {"blob": blob_id(blob)}


def test_unknown_finished_or_malformed_uploads(small: Intake) -> None:
    for token in ("0" * 32, "nothex", "A" * 32, "0" * 64):
        answer = put(small, token, 0, b"abc")
        assert answer.status_code == 404
        assert answer.json() == {"error": "not-found"}
        assert end(small, token).status_code == 404
    token = opened(small)
    for offset in ("-1", "x", "1e3", "9" * 21, "%20"):
        answer = small.client.put(
            f"/api/attachments/parts/{token}/{offset}", content=b"abc", headers=OCTET
        )
        assert answer.status_code == 400, offset
        assert answer.json() == {"error": "malformed"}
    answer = small.client.put(f"/api/attachments/parts/{token}/0", content=b"abc")
    assert answer.status_code == 415
    assert end(small, token).status_code == 400  # nothing held: not a sealed file's length


def test_over_the_cap_is_413_and_the_upload_dropped(small: Intake) -> None:
    before = inbox_rows(small.data, "uploads")
    token = opened(small)
    part = _crypto.random_bytes(600_000)
    assert put(small, token, 0, part).json() == {"size": 600_000}
    answer = put(small, token, 600_000, part)  # 1.2 MB: past the 1 MiB file's sealed length
    assert answer.status_code == 413
    assert answer.json() == {"error": "too-large"}
    assert put(small, token, 600_000, b"x").status_code == 404
    assert inbox_rows(small.data, "uploads") == before
    # A part declaring more than the largest part is refused before it is read, and dropped.
    token = opened(small)
    head = (
        f"PUT /api/attachments/parts/{token}/0 HTTP/1.1\nHost: x\n"
        f"Content-Type: application/octet-stream\nContent-Length: {PART_BYTES + 1}\n"
    )
    assert raw_request(small.url, head).startswith(b"HTTP/1.1 413 ")
    assert end(small, token).status_code == 404


def test_ending_a_malformed_length_is_400_and_dropped(small: Intake) -> None:
    _, blob = sealed_file(b"letter")
    before = inbox_rows(small.data, "uploads")
    token = opened(small)
    assert put(small, token, 0, blob[:-1]).status_code == 200
    answer = end(small, token)
    assert answer.status_code == 400
    assert answer.json() == {"error": "malformed"}
    assert end(small, token).status_code == 404
    assert inbox_rows(small.data, "uploads") == before


def test_opening_needs_a_proof_of_work_and_no_body(small: Intake) -> None:
    for proof in ("", "x"):
        answer = start(small, proof)
        assert answer.status_code == 429
        assert answer.json() == {"error": "proof-of-work"}
    assert small.client.post("/api/attachments/parts").status_code == 429
    proof = small.proof()
    assert start(small, proof).status_code == 201
    assert start(small, proof).status_code == 429  # spent
    answer = small.client.post(
        "/api/attachments/parts", content=b"x", headers={"X-Redress-PoW": small.proof()}
    )
    assert answer.status_code == 413


def test_too_many_open_uploads_is_503_busy(start_intake: IntakeFactory) -> None:
    intake = start_intake()
    tokens = [opened(intake) for _ in range(MAX_OPEN)]
    proof = intake.proof()
    answer = start(intake, proof)
    assert answer.status_code == 503
    assert answer.json() == {"error": "busy"}
    assert int(answer.headers["Retry-After"]) > 0
    # One ends (here, refused as malformed and dropped): the same proof opens another.
    assert end(intake, tokens[0]).status_code == 400
    assert start(intake, proof).status_code == 201


def test_an_idle_upload_is_dropped_with_its_rows(tmp_path: Path) -> None:
    """The in-memory list of open uploads, with a clock the test moves (no HTTP: ten
    minutes cannot be waited for), over a real inbox."""
    now = [1000.0]
    uploads = OpenUploads(deadline=3600, clock=lambda: now[0], min_rate=0)
    with Inbox.open(tmp_path / "inbox") as inbox:
        idle, busy, old = inbox.add_blob(), inbox.add_blob(), inbox.add_blob()
        for upload in (idle, busy, old):
            upload.write(b"sealed bytes")
            upload.flush()
        tokens = [uploads.add(u) for u in (idle, busy, old)]
        uploads.get(tokens[1]).busy = True  # type: ignore[union-attr]
        now[0] += IDLE_SECONDS - 1
        assert uploads.expired() == []
        uploads.mark_used(uploads.get(tokens[2]))  # type: ignore[arg-type]
        now[0] += 2
        assert uploads.expired() == [idle]
        now[0] += 3600
        assert uploads.expired() == [old]  # past its deadline; the busy one is left
        for upload in (idle, old):
            upload.abort()
        assert uploads.get(tokens[0]) is None
        rows = inbox._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        assert rows == 1  # only the busy upload's


def test_a_part_that_stalls_is_408_and_keeps_what_arrived(start_intake: IntakeFactory) -> None:
    intake = start_intake("--read-timeout", "1")
    _, blob = sealed_file(b"x" * 5000)
    token = opened(intake)
    started = time.monotonic()
    answer = raw_request(
        intake.url,
        f"PUT /api/attachments/parts/{token}/0 HTTP/1.1\nHost: x\n"
        f"Content-Type: application/octet-stream\nContent-Length: {len(blob)}\n",
        blob[:10],
        wait=10,
    )
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert time.monotonic() - started < 5
    again = put(intake, token, 0, blob)
    assert again.status_code == 409
    assert again.json() == {"error": "offset", "size": 10}
    assert put(intake, token, 10, blob[10:]).json() == {"size": len(blob)}
    assert end(intake, token).json() == {"blob": blob_id(blob)}
