"""Review 9: the end of an upload in parts whose answer is lost (docs/intake.md section 4,
"Uploading in parts"), in a real browser against a real intake."""

from __future__ import annotations

from playwright.sync_api import Page, Route

from tests.vault.intake.browser.conftest import Intake
from tests.vault.intake.browser.test_seal_worker_faults import _check_sealed, _seal, raw_page

__all__ = ["raw_page"]  # the fixture, used below


def test_an_end_whose_answer_is_lost_is_sent_again_and_answered(
    raw_page: Page, intake: Intake
) -> None:
    """The end reaches the intake (the upload is named) but its answer is lost: the page
    sends the end again (upload-parts.js), and is answered the same id, so the file is not
    sealed and uploaded again. (It was 404, and the page failed the try.)"""
    seen: list[str] = []

    def lost(route: Route) -> None:
        seen.append(route.request.method)
        if len(seen) == 1:
            route.fetch()  # ended; the page never hears so
            route.abort()
        else:
            route.continue_()

    raw_page.route("**/api/attachments/parts/*/end", lost)
    got = _seal(raw_page, 100_000, 20_000)
    assert "failed" not in got, got.get("failed")
    assert seen == ["POST", "POST"]
    _check_sealed(got, intake)
