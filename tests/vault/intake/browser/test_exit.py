"""Leaving fast: the "Exit this page" button and Shift pressed three times."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, Route

from tests.vault.intake.browser.conftest import Intake, open_form

CANARY = "CANARY-exit-7d1f"
# The default neutral page (`--exit-url`), answered here so the test needs no internet.
WEATHER = "https://www.bbc.co.uk/weather"


def neutral(route: Route) -> None:
    route.fulfill(body="<title>Weather</title><p>Sunny.</p>", content_type="text/html")


def start_typing(page: Page) -> None:
    page.route(WEATHER + "*", neutral)
    # A page of this site before the form, so Back has somewhere to go.
    page.goto("/replies")
    page.click("footer >> text=Send a report")
    page.wait_for_selector("#codename-section:not([hidden])")
    page.wait_for_function("window.sodium !== undefined")
    page.fill("#role", CANARY)
    page.fill("#what_happened", f"What I typed. {CANARY}")
    page.check("input[name=sector][value=policing]")


def assert_gone(page: Page) -> None:
    # A neutral page elsewhere: the address bar no longer shows this site.
    page.wait_for_url(WEATHER)
    assert page.title() == "Weather"
    page.go_back()
    # The form's history entry was replaced: Back goes to the page before it.
    assert page.url.endswith("/replies")
    assert CANARY not in page.content()
    page.go_forward()
    assert page.url == WEATHER


def test_exit_button(page: Page) -> None:
    start_typing(page)
    assert page.is_visible("#exit-page")
    page.click("#exit-page")
    assert_gone(page)


def test_shift_three_times(page: Page) -> None:
    start_typing(page)
    assert "Shift" in page.inner_text("#exit-hint")
    page.focus("#what_happened")
    for _ in range(3):
        page.keyboard.press("Shift")
    assert_gone(page)


def test_capitals_do_not_exit(page: Page) -> None:
    open_form(page)
    page.focus("#role")
    for letter in "GMC":
        page.keyboard.press(f"Shift+{letter}")
    page.keyboard.press("Shift")
    page.wait_for_timeout(200)
    assert page.url.endswith("/")
    assert page.input_value("#role") == "GMC"


def test_exit_button_stays_on_screen(page: Page) -> None:
    open_form(page)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    box = page.locator("#exit-page").bounding_box()
    assert box is not None
    assert 0 <= box["y"] < 100


def test_no_shift_hint_on_a_touch_screen(browser: Browser, intake: Intake) -> None:
    context = browser.new_context(base_url=intake.url, has_touch=True, is_mobile=True)
    try:
        page = context.new_page()
        open_form(page)
        assert page.is_hidden("#exit-hint")
        assert page.is_visible("#exit-page")
    finally:
        context.close()


def test_an_address_the_browser_refuses_falls_back_to_our_neutral_page(page: Page) -> None:
    """The intake refuses such an --exit-url at start; should one reach the page anyway,
    the exit still leaves, to the intake's own neutral page."""
    start_typing(page)
    page.eval_on_selector("#exit-page", "a => a.setAttribute('href', 'https://?x')")
    page.click("#exit-page")
    page.wait_for_url("**/static/exit.html")
    assert CANARY not in page.content()
    page.go_back()
    assert page.url.endswith("/replies")
