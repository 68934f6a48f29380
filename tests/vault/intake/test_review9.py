"""Review 9: uploads in parts (docs/intake.md section 4, "Uploading in parts") attacked
against a real intake on loopback."""

from __future__ import annotations

import concurrent.futures
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.sealing import blob_id
from tests.vault.intake.conftest import Intake, sealed_file
from tests.vault.intake.test_api import inbox_rows
from tests.vault.intake.test_parts import end, opened, put
from tests.vault.intake.test_parts import small as small  # the module fixture, one intake
from vault import _crypto
from vault.intake.inbox import Inbox
from vault.intake.parts import IDLE_SECONDS, OpenUploads
from vault.intake.reading import MIN_BODY_RATE


def chunked(data: bytes) -> Iterator[bytes]:
    yield data  # httpx sends an iterator chunked: no Content-Length


def test_a_body_sent_chunked_on_opening_or_ending_is_413(small: Intake) -> None:
    """docs/intake.md: opening or the end with a body is 413. A body sent chunked (no
    Content-Length) was not refused: the upload opened (proof of work spent), or ended."""
    answer = small.client.post(
        "/api/attachments/parts",
        headers={"X-Redress-PoW": small.proof()},
        content=chunked(b"a body"),
    )
    assert answer.status_code == 413, answer.text
    assert answer.json() == {"error": "too-large"}
    _, blob = sealed_file(b"letter")
    token = opened(small)
    assert put(small, token, 0, blob).json() == {"size": len(blob)}
    answer = small.client.post(f"/api/attachments/parts/{token}/end", content=chunked(b"x"))
    assert answer.status_code == 413, answer.text
    assert end(small, token).json() == {"blob": blob_id(blob)}  # still open: ended now


def test_ending_while_a_part_is_arriving_is_409_with_the_size_held(small: Intake) -> None:
    """The end of an upload one of whose parts is still arriving is refused 409, as such a
    part is (docs/intake.md, the table of "Uploading in parts"), and the upload stays open."""
    _, blob = sealed_file(_crypto.random_bytes(100_000))
    token = opened(small)
    url = httpx.URL(small.url)
    assert url.port is not None
    head = (
        f"PUT /api/attachments/parts/{token}/0 HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {len(blob)}\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port), timeout=5) as sock:
        sock.sendall(head.encode() + blob[:1000])
        for _ in range(100):  # until the intake has taken what was sent (a probe at a
            # wrong offset: 409 with the size held, and never itself a part arriving)
            if put(small, token, 1, b"").json() == {"error": "offset", "size": 1000}:
                break
            time.sleep(0.02)
        answer = end(small, token)
        assert answer.status_code == 409, answer.text
        assert answer.json() == {"error": "offset", "size": 1000}
        sock.sendall(blob[1000:])
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
    assert end(small, token).json() == {"blob": blob_id(blob)}


def test_parts_racing_at_one_offset_store_each_byte_once(small: Intake) -> None:
    """Eight clients send the same part at once: one is taken, the others are told 409 with
    the size then held (nothing read), and the end names exactly the bytes sent."""
    _, blob = sealed_file(_crypto.random_bytes(300_000))
    token = opened(small)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: put(small, token, 0, blob), range(8)))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    assert all(a.json()["error"] == "offset" for a in answers if a.status_code == 409)
    assert put(small, token, 0, blob).json() == {"error": "offset", "size": len(blob)}
    assert end(small, token).json() == {"blob": blob_id(blob)}
    assert put(small, token, len(blob), b"x").status_code == 404


def test_an_end_sent_again_after_its_answer_was_lost_gets_the_same_blob(small: Intake) -> None:
    """upload-parts.js sends the end again when its answer does not come. That end was 404
    (the token forgotten), so the page failed the whole try, and the reporter had to press
    Send again, sealing and uploading the file afresh. Now it is answered the same; a part
    after the end is still 404, and a malformed end, dropped, is 404 when sent again."""
    _, blob = sealed_file(b"letter")
    token = opened(small)
    assert put(small, token, 0, blob).json() == {"size": len(blob)}
    assert end(small, token).json() == {"blob": blob_id(blob)}  # this answer is lost
    again = end(small, token)
    assert again.status_code == 201, again.text
    assert again.json() == {"blob": blob_id(blob)}
    assert put(small, token, len(blob), b"x").status_code == 404
    token = opened(small)
    assert put(small, token, 0, blob[:-1]).status_code == 200
    assert end(small, token).status_code == 400
    assert end(small, token).status_code == 404


def test_one_proof_of_work_does_not_buy_a_commit_per_byte(small: Intake) -> None:
    before = inbox_rows(small.data, "chunks")
    token = opened(small)
    statuses = [put(small, token, n, b"x").status_code for n in range(200)]
    stored = inbox_rows(small.data, "chunks") - before
    end(small, token)  # malformed length: dropped
    assert stored <= 20 or statuses.count(200) <= 20, (stored, statuses.count(200))
    # the 17th one-byte part is refused and the upload dropped (parts.PARTS_FREE)
    assert statuses[:16] == [200] * 16, statuses[:20]
    assert statuses[16] == 400, statuses[:20]
    assert set(statuses[17:]) == {404}


def test_an_upload_kept_open_without_bytes_gives_its_place_back(tmp_path: Path) -> None:
    """The in-memory list of open uploads, with a clock the test moves, over a real inbox."""
    now = [0.0]
    uploads = OpenUploads(deadline=30 + 26_214_424 / MIN_BODY_RATE, clock=lambda: now[0])
    with Inbox.open(tmp_path / "inbox") as inbox:
        token = uploads.add(inbox.add_blob())
        for _ in range(2):
            now[0] += IDLE_SECONDS - 1
            entry = uploads.get(token)
            assert entry is not None
            uploads.mark_used(entry)  # an empty part, at the size held (0)
        assert [u.size for u in uploads.expired()] == [0]


def test_an_upload_arriving_at_the_least_rate_keeps_its_place(tmp_path: Path) -> None:
    """8 MiB a part, a part every 8 minutes (about 17 KiB/s): never dropped before its
    deadline; one a part short of that pace is."""
    now = [0.0]
    uploads = OpenUploads(deadline=30 + 26_214_424 / MIN_BODY_RATE, clock=lambda: now[0])
    with Inbox.open(tmp_path / "inbox") as inbox:
        steady, slow = uploads.add(inbox.add_blob()), uploads.add(inbox.add_blob())
        for n in range(3):
            now[0] += 480
            for token in (steady, slow) if n < 2 else (steady,):
                entry = uploads.get(token)
                assert entry is not None
                entry.upload.write(b"\0" * (8 << 20))
                entry.upload.flush()
                uploads.mark_used(entry)
            assert uploads.get(steady) is not None
        now[0] += 1
        assert [u.size for u in uploads.expired()] == [16 << 20]  # the slow one
        assert uploads.get(steady) is not None
