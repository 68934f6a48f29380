"""Review 15g of issue 15's sealing worker, in real headless Chromium against a real intake:
what the page gives when its worker goes silent part-way, or drops chunks yet answers (the
worker script served altered through Playwright's routing, as test_seal_worker_faults.py
does). The second was a fault, now mended: the page checks the worker's body is all it sent."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page

from tests.vault.intake.browser.conftest import Intake
from tests.vault.intake.browser.test_seal_worker_faults import (
    CHUNKS,
    SEAL,
    WORKER,
    _check_sealed,
    _seal,
    _serve,
    raw_page,  # noqa: F401 (fixture)
)
from vault.envelope import padded_length

pytestmark = pytest.mark.slow

OWED = "if (job === null || m.job !== job.id) return;"
assert OWED in WORKER


def _sealed_length(size: int) -> int:
    p = padded_length(size)
    return 24 + p + 17 * -(-p // 65536)


def test_a_silent_worker_file_is_sealed_again_whole_and_later_files_wait_for_no_worker(
    raw_page: Page,  # noqa: F811
    intake: Intake,
) -> None:
    """Held: a worker that answers nothing more after 16 chunks (1 MiB) is given up after
    WORKER_SILENT_MS; the file is sealed again in the page, from its start, and the result is
    the documented body under the right id. The next file is sealed in the page at once."""
    quiet = WORKER.replace(OWED, OWED + " if (job.taken >= 16) return;")
    raw_page.route("**/static/seal-worker.js", _serve(quiet))
    got = _seal(raw_page, (2 << 20) + 12_345, 30_000)
    assert got["worker"] is True
    assert "hung" not in got
    assert "failed" not in got, got.get("failed")
    _check_sealed(got, intake)
    started = time.monotonic()
    again: dict[str, object] = raw_page.evaluate(SEAL, [70_000, 30_000])
    assert again["worker"] is False, "a silent worker was given the next file"
    assert "hung" not in again
    assert "failed" not in again
    _check_sealed(again, intake)
    assert time.monotonic() - started < 8, "the next file waited on a worker again"


def test_a_worker_that_drops_chunks_never_gives_the_page_a_short_body(
    raw_page: Page,  # noqa: F811
    intake: Intake,
) -> None:
    drops = WORKER.replace(CHUNKS, CHUNKS + " if (job.taken >= 16) { return; }")
    raw_page.route("**/static/seal-worker.js", _serve(drops))
    size = (2 << 20) + 12_345
    got = _seal(raw_page, size, 30_000)
    assert got["worker"] is True
    assert "hung" not in got
    assert "failed" not in got, got.get("failed")
    body = _check_sealed(got, intake)  # sealed again in the page, whole, under its right id
    assert len(body) == _sealed_length(size), f"{len(body)} bytes sealed for {size}"
