"""Without JavaScript the same form posts to /report; the server seals it and says so first."""

from __future__ import annotations

import os

from playwright.sync_api import Page

from tests.vault.intake.browser.conftest import Intake, codename_words, reply_keypair, unique


def test_form_without_javascript(nojs_page: Page, intake: Intake) -> None:
    page = nojs_page
    marker = unique("nojs")
    page.goto("/")
    notice = page.inner_text("#nojs-notice")
    assert "our server sees your report for a moment" in notice
    assert "cannot add files" in notice
    assert "codename" in notice
    assert page.is_hidden("#files-section")
    assert page.is_hidden("#codename-section")

    # First try: the job, the details and a contact, but three required answers missing.
    page.fill("#role", "housing officer")
    page.click("#more-detail summary")
    page.fill("#when", "in the summer")
    page.check("input[name=wants][value=support]")
    page.check("input[name=contact_method][value=email]")
    page.fill("#contact_value", "me@example.org")
    page.check("#consent_alert")
    page.click("#send-button")

    page.wait_for_selector("#error-summary")
    assert page.title().startswith("Error: ")
    hrefs = page.locator("#error-summary a").evaluate_all("els => els.map(e => e.hash)")
    assert hrefs == ["#sector", "#harms", "#what_happened"]
    # The browser moves focus to an autofocus element after the page renders, not at load.
    page.wait_for_function("document.activeElement?.id === 'error-summary'", timeout=5000)
    # Everything typed is still there, and the details it was typed in are open.
    assert page.input_value("#role") == "housing officer"
    assert page.input_value("#when") == "in the summer"
    assert page.is_visible("#when")
    assert page.is_checked("input[name=wants][value=support]")
    assert page.is_checked("input[name=contact_method][value=email]")
    assert page.input_value("#contact_value") == "me@example.org"
    assert page.is_checked("#consent_alert")
    assert page.get_attribute("fieldset:has(#sector)", "aria-describedby") == (
        "sector-hint sector-error"
    )

    # Second try: complete.
    page.check("input[name=sector][value=housing]")
    page.check("input[name=harms][value=refusal-of-service]")
    page.fill("#what_happened", f"They refused to repair the flat. {marker}")
    page.click("#send-button")
    page.wait_for_selector("#sent-title")
    assert page.inner_text("#sent-title") == "Your report has been sent"
    assert "codename" not in page.inner_text("main")

    [report] = [r for r in intake.queued_reports() if marker in r["what_happened"]]
    assert report["sector"] == "housing"
    assert report["role"] == "housing officer"
    assert report["when"] == "in the summer"
    # The alert is asked once: ticking it is both the consent and the want.
    assert report["wants"] == ["support", "share-alert"]
    assert report["contact"] == {"method": "email", "value": "me@example.org"}
    assert report["consent"] == {"alert": True, "research": False}


def test_replies_page_offers_the_route_through_the_server(nojs_page: Page) -> None:
    nojs_page.goto("/replies")
    route = nojs_page.inner_text("#server-route")
    assert "Our server sees your codename and our replies" in route
    assert "You cannot answer us" in route
    assert nojs_page.is_hidden("#replies-form")
    nojs_page.fill("#server-codename", "not a codename")
    nojs_page.click("#server-read-button")
    nojs_page.wait_for_selector("#error-summary")
    assert nojs_page.get_attribute("#server-codename", "aria-invalid") == "true"


def test_replies_read_on_the_server_are_shown_once(nojs_page: Page, intake: Intake) -> None:
    """The post is answered with a redirect to a page shown once: Back and reload on a
    shared phone show the page gone, and nothing posts the codename again."""
    page = nojs_page
    entropy = os.urandom(12)
    reply_pk, _ = reply_keypair(entropy)
    intake.post_reply(reply_pk, "We have read your report.", "2025-05-01", "supporting")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto("/replies")
    page.fill("#server-codename", " ".join(codename_words(entropy)))
    page.click("#server-read-button")
    page.wait_for_selector(".reply-list li")
    assert "We have read your report." in page.inner_text(".reply-list")
    shown_at = page.url
    assert "/replies/" in shown_at
    page.goto("/")
    page.go_back()
    assert page.url == shown_at
    assert page.locator("#server-replies-title").count() == 0
    assert "This page has gone" in page.inner_text("#replies-gone")
    page.reload()
    assert page.locator("#server-replies-title").count() == 0
    assert "This page has gone" in page.inner_text("#replies-gone")
    assert page.is_visible("#server-codename")
    assert posts == [f"{intake.url}/replies?lang=en"]
