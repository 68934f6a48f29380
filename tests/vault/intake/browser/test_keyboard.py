"""The whole form with the keyboard alone: Tab to move, Space to choose, Enter to send."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.vault.intake.browser.conftest import Intake, languages, open_form, unique

MAX_TABS = 120


def tab_to(page: Page, selector: str) -> None:
    """Press Tab until ``selector`` has focus, failing if it is never reached."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def focus_is_visible(page: Page) -> bool:
    return bool(
        page.evaluate(
            """() => {
                const el = document.activeElement;
                const style = getComputedStyle(el);
                const width = parseFloat(style.outlineWidth);
                const outline = style.outlineStyle !== 'none' && width >= 2;
                return el.matches(':focus-visible') && (outline || style.boxShadow !== 'none');
            }"""
        )
    )


@pytest.mark.parametrize("lang", languages(["en"]))
def test_keyboard_only(page: Page, intake: Intake, lang: str) -> None:
    marker = unique("keyboard")
    open_form(page, f"/?lang={lang}")
    assert page.get_attribute("html", "lang") == lang
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.is_visible(".skip-link")

    # Sending nothing shows the errors; the first link leads to the first question.
    tab_to(page, "#send-button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error-summary")
    tab_to(page, "#error-summary a[href='#sector']")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "sector"
    assert focus_is_visible(page)

    page.keyboard.press("Space")
    assert page.is_checked("#sector")
    tab_to(page, "#role")
    assert focus_is_visible(page)
    tab_to(page, "#role_unknown")  # the reporter does not know their job
    page.keyboard.press("Space")
    tab_to(page, "#harms")
    page.keyboard.press("Space")
    tab_to(page, "#what_happened")
    page.keyboard.type(f"He said he would tell my landlord. {marker}")

    tab_to(page, "#more-detail summary")
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    tab_to(page, "#when")
    page.keyboard.type("last week")
    tab_to(page, "input[name=wants][value=support]")
    page.keyboard.press("Space")
    tab_to(page, "#consent_alert")
    page.keyboard.press("Space")
    tab_to(page, "#consent_research")
    page.keyboard.press("Space")
    tab_to(page, "#want-codename")
    page.keyboard.press("Space")
    page.wait_for_selector("#codename-box:not([hidden])")
    tab_to(page, "#send-button")
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_selector("#sent-view:not([hidden])", timeout=60_000)
    assert page.evaluate("document.activeElement.id") == "sent-title"

    [report] = [r for r in intake.queued_reports() if marker in r["what_happened"]]
    assert report["harms"] == ["racial-discrimination"]
    assert report["when"] == "last week"
    assert report["role"] == "not known"
    assert report["wants"] == ["support", "share-alert"]  # the alert, asked once
    assert report["consent"] == {"alert": True, "research": True}
    assert "reply_key" in report
