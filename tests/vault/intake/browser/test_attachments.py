"""Attachments: each file sealed alone with crypto_secretstream (docs/intake.md section 4)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
from pathlib import Path

import nacl.bindings as sodium
import pytest
from playwright.sync_api import Page, Request, Route

from tests.sealing import blob_id
from tests.vault.intake.browser.conftest import (
    Intake,
    Watched,
    fill_required,
    open_form,
    padded_length,
    send,
    unique,
)
from vault.intake import languages
from vault.intake.parts import PART_BYTES
from vault.report import parse_report

CHUNK = 65_536
TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL


def open_blob(body: bytes, key: bytes) -> bytes:
    """Decrypt an upload body, checking every tag: MESSAGE on all chunks but the FINAL last."""
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, body[:24], key)
    sealed = body[24:]
    pieces = [sealed[i : i + CHUNK + 17] for i in range(0, len(sealed), CHUNK + 17)]
    plain = []
    for n, piece in enumerate(pieces, 1):
        message, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, piece, None)
        assert tag == (TAG_FINAL if n == len(pieces) else TAG_MESSAGE)
        assert len(message) == (CHUNK if n < len(pieces) else len(message))
        plain.append(message)
    return b"".join(plain)


def part_offsets(watched: Watched) -> dict[str, list[int]]:
    """Each upload in parts the page made: the offsets of its PUTs, in the order sent (the
    bodies are Blobs, which Playwright does not show: the intake is asked for what it holds)."""
    offsets: dict[str, list[int]] = {}
    for method, url, _, _ in watched.traffic.requests:
        if method == "PUT" and "/api/attachments/parts/" in url:
            token, offset = url.rsplit("/", 2)[1:]
            offsets.setdefault(token, []).append(int(offset))
    return offsets


def test_files_are_sealed_in_chunks(watched: Watched, intake: Intake) -> None:
    page = watched.page
    files = {
        "letter from the surgery.pdf": ("application/pdf", os.urandom(300_000)),
        "exactly two chunks.png": ("image/png", os.urandom(2 * CHUNK)),  # padded: no extra chunk
        "empty.txt": ("text/plain", b""),
    }
    open_form(page)
    fill_required(page, unique("files"))
    for name, (mime, data) in files.items():
        page.set_input_files(
            "#attachments", files=[{"name": name, "mimeType": mime, "buffer": data}]
        )
    assert page.locator("#file-list li").count() == 3
    send(page)

    # Each file in an upload of its own, in parts (here one part each), then its end.
    assert len(watched.traffic.bodies("POST", "/api/attachments/parts")) == 3
    assert len(watched.traffic.bodies("POST", "/end")) == 3
    assert watched.traffic.bodies("POST", "/api/attachments") == []
    assert sorted(part_offsets(watched).values()) == [[0], [0], [0]]
    [envelope] = watched.traffic.bodies("POST", "/api/reports")
    report = json.loads(intake.open_envelope(envelope))
    assert [a["name"] for a in report["attachments"]] == list(files)
    for attachment in report["attachments"]:
        mime, data = files[attachment["name"]]
        assert set(attachment) == {"name", "type", "size", "key", "blob"}
        assert (attachment["type"], attachment["size"]) == (mime, len(data))
        body = intake.blob(attachment["blob"])
        assert blob_id(body) == attachment["blob"]
        padded = padded_length(len(data))
        chunks = max(1, -(-padded // CHUNK))
        assert len(body) == 24 + padded + 17 * chunks
        plain = open_blob(body, base64.b64decode(attachment["key"]))
        assert plain == data + bytes(padded - len(data))


def test_file_limits_are_shown_and_kept(page: Page) -> None:
    open_form(page)
    hint = page.inner_text("#attachments-hint")
    assert "Up to 5 files" in hint
    assert "25 MB" in hint
    six = [{"name": f"photo {i}.jpg", "mimeType": "image/jpeg", "buffer": b"x"} for i in range(6)]
    page.set_input_files("#attachments", files=six)
    assert page.locator("#file-list li").count() == 0
    assert "up to 5 files" in page.inner_text("#attachments-error")
    page.set_input_files("#attachments", files=six[:2])
    assert page.locator("#file-list li").count() == 2
    page.click("#file-list li:first-child button")
    assert page.locator("#file-list li").all_inner_texts()[0].startswith("photo 1.jpg")


@pytest.mark.slow
def test_attachment_round_trip_by_pull(watched: Watched, intake: Intake, tmp_path: Path) -> None:
    """A file of more than one part (9 MiB: 8 + 1) goes up in parts as it is sealed, the
    second sent once the first is answered, and arrives in the vault whole."""
    page = watched.page
    marker = unique("attachment")
    before = intake.drain()
    data = os.urandom(9 << 20)
    finished: list[Request] = []
    page.on("requestfinished", lambda r: finished.append(r) if r.method == "PUT" else None)
    open_form(page)
    fill_required(page, marker)
    picked = tmp_path / "screenshot.png"  # from disk, as a reporter picks it
    picked.write_bytes(data)
    page.set_input_files("#attachments", files=[str(picked)])
    send(page)
    # The sent page says the file arrived, and where to turn in danger (the defaults).
    assert page.inner_text("#sent-files") == "Your file arrived safely."
    assert "call 999" in page.inner_text("#sent-view")
    assert "within 5 working days" in page.inner_text("#sent-view")
    [offsets] = part_offsets(watched).values()
    assert offsets == [0, PART_BYTES]  # a full part, then the rest
    # One part on its way at a time: each PUT began after the answer to the one before came
    # (Playwright's responseEnd is when its own copy of the body was read: not used).
    spans = sorted(
        (r.timing["startTime"], r.timing["startTime"] + r.timing["responseStart"]) for r in finished
    )
    assert len(spans) == 2
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    case_id, shown = intake.pull_case(before, marker)
    assert [a["name"] for a in shown["report"]["attachments"]] == ["screenshot.png"]
    out = tmp_path / "restored.png"
    intake.run("cases", "attachment", case_id, "1", "--out", str(out))
    assert out.read_bytes() == data


def test_long_file_names_are_cut_canonically(watched: Watched, intake: Intake) -> None:
    page = watched.page
    open_form(page)
    fill_required(page, unique("long-name"))
    name = "a" * 199 + " " + "b" * 60 + ".jpeg"  # cut at 200 code points, then trimmed
    page.set_input_files("#attachments", files=[{"name": name, "mimeType": "", "buffer": b"photo"}])
    send(page)
    [envelope] = watched.traffic.bodies("POST", "/api/reports")
    raw = intake.open_envelope(envelope)
    assert parse_report(raw).canonical_json() == raw
    [attachment] = json.loads(raw)["attachments"]
    assert attachment["name"] == "a" * 199
    assert attachment["type"] == "image/jpeg"  # the browser names it from the extension


def test_a_wrong_blob_id_from_the_intake_is_refused(watched: Watched, intake: Intake) -> None:
    """The page hashes what it sealed: an intake answering an upload with another id (a
    lying or buggy one, played here by rewriting the real intake's answer) gets no report.
    The other id here is the upload's own whole-blob SHA-256, the id before the hash list
    (docs/format.md): an intake still answering that is refused too."""
    page = watched.page

    def lie(route: Route) -> None:
        answer = route.fetch()
        body = intake.blob(answer.json()["blob"])
        assert answer.json() == {"blob": blob_id(body)}
        route.fulfill(response=answer, json={"blob": hashlib.sha256(body).hexdigest()})

    page.route("**/api/attachments/parts/*/end", lie)
    marker = unique("wrong-blob")
    open_form(page)
    fill_required(page, marker)
    page.set_input_files(
        "#attachments", files=[{"name": "a.txt", "mimeType": "text/plain", "buffer": b"a"}]
    )
    page.click("#send-button")
    page.wait_for_selector("#error-summary")
    assert "did not confirm that it stored your file" in page.inner_text("#error-summary")
    assert watched.traffic.bodies("POST", "/api/reports") == []
    assert page.is_hidden("#sent-view")
    assert page.input_value("#what_happened") == marker
    # Told the truth, the page sends the file again and names it by its own hash.
    page.unroute("**/api/attachments/parts/*/end")
    send(page)
    assert len(watched.traffic.bodies("POST", "/api/attachments/parts")) == 2
    [envelope] = watched.traffic.bodies("POST", "/api/reports")
    [attachment] = json.loads(intake.open_envelope(envelope))["attachments"]
    assert blob_id(intake.blob(attachment["blob"])) == attachment["blob"]


def test_the_sent_page_counts_the_files_that_arrived_in_the_reporters_language(
    watched: Watched, intake: Intake, tmp_path: Path
) -> None:
    """Three files, each its own upload in parts, all in the vault; the sent page, in Polish,
    says how many arrived (docs/intake.md section 4, "The sent page")."""
    page = watched.page
    marker = unique("three-files")
    before = intake.drain()
    open_form(page, "/?lang=pl")
    fill_required(page, marker)
    files = [
        {"name": f"zdjęcie {i}.jpg", "mimeType": "image/jpeg", "buffer": os.urandom(1000 * i)}
        for i in (1, 2, 3)
    ]
    page.set_input_files("#attachments", files=files)
    send(page)
    said = languages.read_catalog("pl").get("All {count} of your files arrived safely.")
    assert said is not None
    assert page.inner_text("#sent-files") == str(said.string).replace("{count}", "3")
    assert len(part_offsets(watched)) == 3  # one upload in parts a file
    case_id, shown = intake.pull_case(before, marker)
    assert [a["name"] for a in shown["report"]["attachments"]] == [f["name"] for f in files]
    for number, sent in enumerate(files, 1):
        out = tmp_path / str(number)
        intake.run("cases", "attachment", case_id, str(number), "--out", str(out))
        assert out.read_bytes() == sent["buffer"]
