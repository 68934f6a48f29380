"""The intake on a full disk: 503 with Retry-After, nothing partial, and still drainable (F3).

The inbox lives on a real, small filesystem (a tmpfs this test mounts, so it needs root);
reporters' uploads fill it, then a filler file takes the last bytes. Where a mount is not
possible the test says why and skips: it never pretends.
"""

from __future__ import annotations

import base64
import errno
import os
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cli, make_report, seal_for
from tests.intake_server import IntakeServers
from tests.sealing import codename_entropy, mailbox_of, new_codename, open_reply, reply_keypair
from tests.vault.intake.conftest import (
    DISK_MIB,
    Intake,
    IntakeFactory,
    Team,
    as_json,
    sealed_file,
)
from vault import _crypto, case_view, replies
from vault.db import CIPHER_PAGE_SIZE, is_disk_full
from vault.envelope import envelope_id
from vault.intake.inbox import (
    RESERVE_FILE,
    RESERVE_MAX,
    RESERVE_MIN,
    Inbox,
    InboxFull,
    drain_step,
    reserve_size,
)
from vault.intake.limits import POW_HEADER, solve
from vault.pull import pull
from vault.reporter_messages import seal_message
from vault.store import Vault
from vault.submit import send_envelope

UPLOAD_BYTES = 1 << 20
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FORM_BODY = (
    "sector=healthcare&role=GP&harms=verbal-abuse&what_happened=He+shouted+at+me"
    "&contact_method=none"
)


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def disk_reserve(path: Path) -> int:
    """The reserve an inbox keeps on the file system holding ``path``."""
    stat = os.statvfs(path)
    return reserve_size(stat.f_blocks * stat.f_frsize)


def fill(path: Path) -> int:
    """Write a filler file until the filesystem refuses; returns how much it took."""
    written = 0
    block = b"\0" * 4096
    try:
        with open(path, "wb") as f:  # the test's own file, not the vault's
            while True:
                f.write(block)
                f.flush()
                written += len(block)
    except OSError:
        pass
    return written


@pytest.mark.slow
def test_a_full_disk_is_503_stores_nothing_partial_and_can_be_drained(
    small_disk: Path, start_intake: IntakeFactory, team: Team
) -> None:
    data = small_disk / "intake-data"
    intake: Intake = start_intake("--max-file-mib", "2", data=data)
    reserve = disk_reserve(small_disk)
    assert reserve == DISK_MIB << 17  # an eighth of the disk
    assert (data / RESERVE_FILE).stat().st_size == reserve

    # Reporters' reports and uploads until the disk is full.
    sent = [team.seal(make_report(what_happened=f"report {i}")) for i in range(3)]
    for envelope in sent:
        assert intake.submit(envelope).status_code == 202
    # An upload in parts, opened while there is room (docs/intake.md, "Uploading in parts").
    opened = intake.client.post("/api/attachments/parts", headers={"X-Redress-PoW": intake.proof()})
    parts = f"/api/attachments/parts/{opened.json()['upload']}"
    octet = {"Content-Type": "application/octet-stream"}
    assert intake.client.put(f"{parts}/0", content=b"x" * 1000, headers=octet).status_code == 200
    blobs: list[str] = []
    for _ in range(DISK_MIB):
        _, body = sealed_file(_crypto.random_bytes(UPLOAD_BYTES - 4096))
        response = intake.upload(body)
        if response.status_code != 201:
            break
        blobs.append(response.json()["blob"])
    assert response.status_code == 503, response.text
    assert response.json() == {"error": "full"}
    assert int(response.headers["Retry-After"]) > 0
    assert blobs, "some uploads were stored before the disk filled"
    filler = small_disk / "filler"
    fill(filler)  # and whatever is left, so that even a small report cannot fit

    # A full disk: every kind of report is a 503 with Retry-After, not a 500.
    refused = intake.submit(team.seal(make_report(what_happened="too late")))
    assert (refused.status_code, refused.json()) == (503, {"error": "full"})
    assert int(refused.headers["Retry-After"]) > 0
    _, body = sealed_file(b"x" * 70_000)
    assert intake.upload(body).status_code == 503
    # Its next part is refused as full too, and the upload dropped; no new one opens.
    part = intake.client.put(f"{parts}/1000", content=body, headers=octet)
    assert (part.status_code, part.json()) == (503, {"error": "full"})
    assert intake.client.put(f"{parts}/1000", content=body, headers=octet).status_code == 404
    more = intake.client.post("/api/attachments/parts", headers={"X-Redress-PoW": intake.proof()})
    assert (more.status_code, more.json()) == (503, {"error": "full"})
    form = intake.client.post("/report", content=FORM_BODY, headers=FORM)
    assert form.status_code == 503
    assert "try again later" in form.text
    assert "He shouted at me" in form.text  # what was typed is kept
    assert int(form.headers["Retry-After"]) > 0
    # A reporter's answer too (vault/reporter_messages.py).
    seed = _crypto.SecretBytes(b"\x03" * 32, "codename signing seed")
    message = seal_message("answer", "too late", seed, team.keys.epoch, team.keys.public_key)
    headers = {"Content-Type": "application/octet-stream", "X-Redress-PoW": intake.proof()}
    answered = intake.client.post("/api/messages", content=message, headers=headers)
    assert (answered.status_code, answered.json()) == (503, {"error": "full"})
    assert int(answered.headers["Retry-After"]) > 0

    # The caseworkers can still pull, fetch and acknowledge everything.
    pulled = intake.pull(limit=100)
    ids = [item["id"] for item in pulled["envelopes"]]
    assert sorted(ids) == sorted(envelope_id(e).hex() for e in sent)  # nothing partial
    assert [base64.b64decode(i["body"]) for i in pulled["envelopes"]] == [
        e for _, e in sorted((envelope_id(e).hex(), e) for e in sent)
    ]
    for blob in blobs[:2]:
        got = intake.signed("GET", f"/api/blobs/{blob}")
        assert got.status_code == 200
    response = intake.signed("POST", "/api/ack", as_json({"envelopes": ids, "blobs": blobs}))
    assert response.status_code == 200, response.text
    assert response.json() == {"deleted": len(ids) + len(blobs)}
    assert intake.pull()["envelopes"] == []

    # Draining gave the space back: with the filler still there, reports are taken again,
    # and the reserve is back for the next time.
    assert free_bytes(small_disk) > (len(blobs) - 1) * UPLOAD_BYTES - reserve
    assert (data / RESERVE_FILE).stat().st_size == reserve
    after = team.seal(make_report(what_happened="after the drain"))
    assert intake.submit(after).status_code == 202
    assert [i["id"] for i in intake.pull()["envelopes"]] == [envelope_id(after).hex()]
    filler.unlink()
    _, stderr = intake.output()
    assert "Traceback" not in stderr


def fill_with_uploads(inbox: Inbox) -> tuple[list[bytes], bool]:
    """Store 1 MiB blobs until the inbox says the disk is full; (their ids, whether it did)."""
    stored: list[bytes] = []
    for _ in range(DISK_MIB):
        try:
            upload = inbox.add_blob()
        except InboxFull:  # refused before it starts: the disk is nearly full
            return stored, True
        try:
            upload.write(_crypto.random_bytes(UPLOAD_BYTES))
            stored.append(upload.finish())
        except InboxFull:
            upload.abort()
            return stored, True
    return stored, False


@pytest.mark.slow
def test_the_inbox_drains_a_full_disk_in_steps_and_gives_the_space_back(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same, one level down: a real inbox on the small disk, no server."""
    directory = small_disk / "inbox"
    inbox = Inbox.open(directory)
    try:
        assert inbox.reserve_bytes == disk_reserve(small_disk)
        assert (directory / RESERVE_FILE).stat().st_size == inbox.reserve_bytes
        stored, full = fill_with_uploads(inbox)
        assert full, "the disk filled"
        assert len(stored) > 4
        fill(small_disk / "filler")
        with pytest.raises(InboxFull):
            inbox.add_envelopes([b"x" * 5000])
        # An unfinished upload is never served, and nothing half-stored is left to serve.
        assert all(inbox.blob_size(b) == UPLOAD_BYTES for b in stored)
        # The all-at-once attempt cannot write (the log has no room left), so the
        # acknowledgement releases the reserve and deletes step by step.
        steps: list[int] = []
        in_steps = Inbox._ack_in_steps

        def counted(self: Inbox, envelopes: list[bytes], blobs: list[bytes]) -> int:
            steps.append(len(blobs))
            return in_steps(self, envelopes, blobs)

        monkeypatch.setattr(Inbox, "_ack_in_steps", counted)
        assert inbox.ack([], stored) == len(stored)
        assert steps == [len(stored)]
        assert all(inbox.blob_size(b) is None for b in stored)
        assert free_bytes(small_disk) > (len(stored) - 2) * UPLOAD_BYTES - inbox.reserve_bytes
        assert (directory / RESERVE_FILE).stat().st_size == inbox.reserve_bytes
        inbox.add_envelopes([b"y" * 5000])
    finally:
        inbox.close()


@pytest.mark.parametrize(
    ("disk_mib", "reserve_kib", "step_kib"),
    [
        (1, 256, 64),
        (2, 256, 64),
        (8, 1024, 256),
        (32, 4096, 1024),
        (64, 8192, 1024),
        (1 << 20, 8192, 1024),
    ],
)
def test_the_reserve_and_the_drain_step_fit_the_disk(
    disk_mib: int, reserve_kib: int, step_kib: int
) -> None:
    reserve = reserve_size(disk_mib << 20)
    assert (reserve >> 10, drain_step(reserve) >> 10) == (reserve_kib, step_kib)


def test_the_reserve_is_whole_pages_and_a_step_is_at_most_a_quarter_of_it() -> None:
    for disk in range(0, 200 << 20, 777_777):
        reserve = reserve_size(disk)
        assert RESERVE_MIN <= reserve <= RESERVE_MAX
        assert reserve % CIPHER_PAGE_SIZE == 0
        step = drain_step(reserve)
        assert step % CIPHER_PAGE_SIZE == 0
        assert 4 * step <= reserve


def test_disk_full_errors_are_recognised() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("database or disk is full"))


@pytest.mark.slow
def test_vault_pull_drains_a_full_intake(
    small_disk: Path, intake_servers: IntakeServers, vault: Vault
) -> None:
    """`vault pull` itself, as a caseworker runs it, against an intake on a full disk."""
    server = intake_servers.start(vault.team_key_export(), data=small_disk / "intake-data")
    with httpx.Client(base_url=server.url, timeout=30) as client:

        def post(path: str, body: bytes) -> httpx.Response:
            challenge = client.get("/api/challenge").json()
            proof = solve(challenge["challenge"], challenge["bits"])
            headers = {"Content-Type": "application/octet-stream", POW_HEADER: proof}
            return client.post(path, content=body, headers=headers)

        reports = [seal_for(vault) for _ in range(3)]
        assert [post("/api/reports", r).status_code for r in reports] == [202] * 3
        for _ in range(DISK_MIB):
            _, blob = sealed_file(_crypto.random_bytes(UPLOAD_BYTES))
            if post("/api/attachments", blob).status_code != 201:
                break
        fill(small_disk / "filler")
        assert post("/api/reports", seal_for(vault)).status_code == 503

        result = pull(vault, server.url)
        assert result.witness_problem is None  # the witness still cosigns on a full disk
        assert case_view.count_cases(vault) == 3
        assert pull(vault, server.url).witness_problem is None


@pytest.mark.slow
def test_vault_pull_on_a_full_intake_stores_everything_and_keeps_the_replies(
    small_disk: Path, intake_servers: IntakeServers, vault: Vault, cli: Cli
) -> None:
    """Replies add data, so an intake whose disk is still full after the drain refuses them:
    `vault pull` stores and acknowledges everything, says plainly that the replies wait, and
    fails (exit 1); the next pull, once the disk has room, delivers them."""
    server = intake_servers.start(vault.team_key_export(), data=small_disk / "intake-data")
    pk, sk = reply_keypair(codename_entropy(new_codename()))
    send_envelope(server.url, seal_for(vault, make_report(reply_key=base64.b64encode(pk).decode())))
    (case_id,) = pull(vault, server.url).imported
    replies.reply(vault, case_id, "We have your report.")
    send_envelope(server.url, seal_for(vault))  # a second report waits on the intake
    filler = small_disk / "filler"
    fill(filler)

    done = cli("pull", "--from", server.url)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "Pulled 1 new case, 0 already in the vault; delivered 0 replies." in done.stderr
    assert (
        f"vault: The disk of the intake at {server.url} is full, so 1 reply could not be"
        " delivered; it waits in the vault for the next pull."
    ) in done.stderr
    assert "hint: tell whoever runs the intake; it needs more disk space" in done.stderr
    assert "The intake witnessed the access log" in done.stderr  # the pull went to the end
    assert case_view.count_cases(vault) == 2  # the drain is done: stored and acknowledged
    assert len(replies.queued_replies(vault)) == 1
    mailbox = httpx.get(f"{server.url}/api/mailbox/{mailbox_of(pk)}")
    assert mailbox.json()["replies"] == []

    filler.unlink()
    again = cli("pull", "--from", server.url)
    assert again.returncode == 0, again.stderr
    assert "Pulled 0 new cases, 0 already in the vault; delivered 1 reply." in again.stderr
    assert replies.queued_replies(vault) == []
    (sealed,) = httpx.get(f"{server.url}/api/mailbox/{mailbox_of(pk)}").json()["replies"]
    assert open_reply(base64.b64decode(sealed), pk, sk)["text"] == "We have your report."
