"""The form's rough edges (issue 15): a browser that cannot run libsodium is told so on load
and offered only what works, and the 50,000-character limit is counted as the reporter types."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from tests.vault.intake.browser.conftest import Intake, open_form, unique


def test_without_webassembly_only_what_works_is_offered(browser: Browser, intake: Intake) -> None:
    # As Tor Browser's "Safer" setting: no WebAssembly at all.
    context = browser.new_context(base_url=intake.url)
    context.add_init_script("delete globalThis.WebAssembly;")
    try:
        page = context.new_page()
        page.goto("/")
        page.wait_for_selector("#crypto-notice:not([hidden])")
        notice = page.inner_text("#crypto-notice")
        assert "cannot lock your report itself" in notice
        assert "cannot add files" in notice
        assert page.is_hidden("#files-section")
        assert page.is_hidden("#codename-section")
        # The report goes to the server, which locks it; "I do not know their job" works.
        marker = unique("no-wasm")
        page.check("input[name=sector][value=healthcare]")
        page.check("#role_unknown")
        page.check("input[name=harms][value=verbal-abuse]")
        page.fill("#what_happened", f"Shouted at in the waiting room. {marker}")
        page.click("#send-button")
        page.wait_for_url("**/sent?lang=en")
        [report] = [r for r in intake.queued_reports() if marker in r["what_happened"]]
        assert report["role"] == "not known"
        assert "reply_key" not in report
        # Replies: the in-browser form is not offered; the route through the server is.
        page.goto("/replies")
        page.wait_for_selector("#server-route-why:not([hidden])")
        assert page.is_hidden("#replies-form")
        assert page.is_visible("#server-codename")
    finally:
        context.close()


def test_character_counter(page: Page) -> None:
    open_form(page)
    counter = "#what_happened-count"
    assert page.inner_text(counter) == "You have 50,000 characters left"
    page.fill("#what_happened", "abc")
    assert page.inner_text(counter) == "You have 49,997 characters left"
    page.fill("#what_happened", "x" * 50_001)
    assert page.inner_text(counter) == "You have 1 character too many"
    assert "char-count--over" in (page.get_attribute(counter, "class") or "")
    # Screen readers hear it once typing pauses.
    page.wait_for_function(
        "() => document.getElementById('what_happened-count-live').textContent.includes('too many')"
    )
