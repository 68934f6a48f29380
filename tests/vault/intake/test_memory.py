"""A large attachment streams through the intake without its memory growing with the size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vault.intake.conftest import IntakeFactory
from vault import _crypto
from vault.attachments import BlobHasher, sealed_length
from vault.intake.auth import sign_request

SIZE_MIB = 128
ALLOWED_GROWTH = 40 << 20  # the inbox's 8 MiB page cache, buffers, and slack


def peak_memory(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")  # pragma: no cover


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_large_upload_and_download_keep_memory_flat(start_intake: IntakeFactory) -> None:
    intake = start_intake("--max-file-mib", str(SIZE_MIB))
    total = sealed_length(SIZE_MIB << 20)
    piece = _crypto.random_bytes(1 << 20)
    digest = BlobHasher()

    def body() -> Iterator[bytes]:
        sent = 0
        while sent < total:
            part = piece[: min(len(piece), total - sent)]
            digest.update(part)
            sent += len(part)
            yield part

    intake.client.get("/")  # warm up
    before = peak_memory(intake.process.pid)
    response = intake.upload(body())
    assert response.status_code == 201, response.text
    assert response.json() == {"blob": digest.hexdigest()}
    assert peak_memory(intake.process.pid) - before < ALLOWED_GROWTH

    blob = digest.hexdigest()
    headers = sign_request(intake.team.caseworker, "GET", f"/api/blobs/{blob}", b"")
    back = BlobHasher()
    received = 0
    with intake.client.stream("GET", f"/api/blobs/{blob}", headers=headers) as stream:
        assert stream.status_code == 200
        assert int(stream.headers["content-length"]) == total
        for part in stream.iter_bytes():
            back.update(part)
            received += len(part)
    assert received == total
    assert back.hexdigest() == blob
    assert peak_memory(intake.process.pid) - before < ALLOWED_GROWTH
