"""At 320 CSS pixels wide (a small phone, or zoom at 400%) nothing scrolls sideways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.vault.intake.browser.conftest import (
    Intake,
    fill_required,
    languages,
    open_form,
    read_replies,
    send,
    take_codename,
)


def assert_fits(page: Page, state: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{state}: the page is {width} px wide"


@pytest.fixture
def narrow(browser: Browser, intake: Intake) -> Iterator[Page]:
    context = browser.new_context(base_url=intake.url, viewport={"width": 320, "height": 640})
    yield context.new_page()
    context.close()


@pytest.fixture
def narrow_nojs(browser: Browser, intake: Intake) -> Iterator[Page]:
    context = browser.new_context(
        base_url=intake.url, viewport={"width": 320, "height": 640}, java_script_enabled=False
    )
    yield context.new_page()
    context.close()


# Hungarian and Bulgarian have the longest words of the languages.
@pytest.mark.parametrize("lang", languages(["en", "hu", "bg"]))
def test_320_pixels(narrow: Page, lang: str) -> None:
    page = narrow
    open_form(page, f"/?lang={lang}")
    assert page.get_attribute("html", "lang") == lang
    assert_fits(page, "form")
    page.click("#more-detail summary")
    page.click("#send-button")
    page.wait_for_selector("#error-summary")
    assert_fits(page, "errors")
    long_name = "a-very-long-file-name-without-any-spaces-from-a-phone-camera-20250314-101112.jpeg"
    page.set_input_files(
        "#attachments", files=[{"name": long_name, "mimeType": "image/jpeg", "buffer": b"x"}]
    )
    words = take_codename(page)
    assert_fits(page, "codename and a file")
    fill_required(page, "Unbroken-" + "x" * 300)
    send(page)
    assert_fits(page, "sent")
    read_replies(page, " ".join(words), f"/replies?lang={lang}")
    page.wait_for_selector("#replies-result:not([hidden])")
    assert_fits(page, "replies")
    read_replies(page, "wrong", f"/replies?lang={lang}")
    page.wait_for_selector("#error-summary")
    assert_fits(page, "replies error")


@pytest.mark.parametrize("lang", languages(["en"]))
def test_320_pixels_without_javascript(narrow_nojs: Page, lang: str) -> None:
    page = narrow_nojs
    page.goto(f"/?lang={lang}")
    assert page.get_attribute("html", "lang") == lang
    assert_fits(page, "no-JS form")
    page.fill("#what_happened", "x" * 500)
    page.click("#send-button")
    page.wait_for_selector("#error-summary")
    assert_fits(page, "no-JS errors")
    page.goto(f"/replies?lang={lang}")
    page.click("#server-read-button")
    page.wait_for_selector("#error-summary")
    assert_fits(page, "no-JS replies error")


@pytest.mark.parametrize("lang", languages(["en"]))
def test_200_percent_zoom(browser: Browser, intake: Intake, lang: str) -> None:
    """A 1280 x 800 window at 200% zoom is 640 x 400 CSS pixels, text twice as large: the
    form, its errors and the sent page still fit the width, and the Send button and the exit
    button can be reached."""
    context = browser.new_context(
        base_url=intake.url, viewport={"width": 640, "height": 400}, device_scale_factor=2
    )
    try:
        page = context.new_page()
        open_form(page, f"/?lang={lang}")
        assert page.get_attribute("html", "lang") == lang
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 640, f"form: {width} px"
        page.click("#send-button")
        page.wait_for_selector("#error-summary")
        assert page.evaluate("document.documentElement.scrollWidth") <= 640
        fill_required(page, "zoom")
        send(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= 640
        assert page.is_visible("#exit-page")
    finally:
        context.close()
