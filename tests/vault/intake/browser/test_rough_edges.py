"""The form's rough edges (issue 15): a browser that cannot run libsodium is told so on load
and offered only what works, and the 50,000-character limit is counted as the reporter types."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, Route

from tests.vault.intake.browser.conftest import Intake, fill_required, open_form, send, unique


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


def _holding_libsodium(browser: Browser, intake: Intake) -> tuple[Page, list[Route]]:
    """A page whose libsodium has not arrived yet (a slow connection): held until released."""
    context = browser.new_context(base_url=intake.url)
    page = context.new_page()
    held: list[Route] = []
    page.route("**/static/vendor/libsodium.js", lambda route: held.append(route))
    return page, held


def test_send_is_held_back_while_libsodium_loads(browser: Browser, intake: Intake) -> None:
    page, held = _holding_libsodium(browser, intake)
    try:
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.goto("/", wait_until="commit")
        page.wait_for_selector("#send-button")
        page.wait_for_function("document.documentElement.classList.contains('js-pending')")
        fill_required(page, unique("early-send"))
        page.click("#send-button")
        page.wait_for_selector("#getting-ready:not([hidden])")
        assert "still getting ready" in page.inner_text("#getting-ready")
        assert page.is_hidden("#crypto-notice")
        assert held  # still loading
        assert posts == []  # nothing went to /report in clear
        for route in held:
            route.continue_()
        page.wait_for_selector("#codename-section:not([hidden])")
        assert page.is_hidden("#getting-ready")
        assert page.is_hidden("#crypto-notice")
        send(page)
        assert [p.rsplit("/", 2)[-2:] for p in posts] == [["api", "reports"]]
    finally:
        page.context.close()


def test_replies_offer_no_server_route_while_libsodium_loads(
    browser: Browser, intake: Intake
) -> None:
    page, held = _holding_libsodium(browser, intake)
    try:
        page.goto("/replies", wait_until="commit")
        page.wait_for_selector("#server-read-button", state="attached")
        page.wait_for_function("document.documentElement.classList.contains('js-pending')")
        assert page.is_hidden("#server-route")
        assert page.is_hidden("#replies-form")
        assert page.is_visible("#replies-getting-ready")
        for route in held:
            route.continue_()
        page.wait_for_selector("#replies-form:not([hidden])")
        assert page.is_hidden("#server-route")
        assert page.is_hidden("#replies-getting-ready")
    finally:
        page.context.close()


def test_replies_open_the_server_route_when_libsodium_fails(
    browser: Browser, intake: Intake
) -> None:
    page, held = _holding_libsodium(browser, intake)
    try:
        page.goto("/replies", wait_until="commit")
        page.wait_for_selector("#server-read-button", state="attached")
        assert page.is_hidden("#server-route")
        for route in held:
            route.abort()
        page.wait_for_selector("#server-route-why:not([hidden])")
        assert page.is_visible("#server-route")
        assert page.is_hidden("#replies-getting-ready")
    finally:
        page.context.close()
