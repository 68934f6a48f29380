"""axe-core finds no WCAG 2.2 A or AA problem in any state of the form or the replies page.

axe is injected as an inline script, which the pages' Content-Security-Policy forbids, so
these contexts bypass CSP; the other browser tests run with it. axe needs JavaScript, so a
page seen without JavaScript is checked as a copy of its DOM (the <noscript> parts shown, the
scripts left out) loaded into a page where axe can run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.vault.intake.browser.conftest import (
    Intake,
    codename_entropy,
    codename_words,
    fill_required,
    languages,
    open_form,
    read_replies,
    reply_keypair,
    run_axe,
    send,
    take_codename,
    unique,
)


@pytest.fixture
def axe_page(browser: Browser, intake: Intake) -> Iterator[Page]:
    context = browser.new_context(base_url=intake.url, bypass_csp=True)
    yield context.new_page()
    context.close()


@pytest.fixture
def axe_nojs_page(browser: Browser, intake: Intake) -> Iterator[Page]:
    context = browser.new_context(base_url=intake.url, bypass_csp=True, java_script_enabled=False)
    yield context.new_page()
    context.close()


def assert_clean(page: Page, state: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"{state}: {violations}"


@pytest.mark.parametrize("lang", languages(["en", "th", "hu"]))
def test_form_states(axe_page: Page, lang: str) -> None:
    page = axe_page
    open_form(page, f"/?lang={lang}")
    assert page.get_attribute("html", "lang") == lang
    assert_clean(page, "empty form")
    page.click("#more-detail summary")
    page.click("#send-button")
    page.wait_for_selector("#error-summary")
    assert_clean(page, "errors shown")
    fill_required(page, unique("axe"))
    take_codename(page)
    page.set_input_files(
        "#attachments", files=[{"name": "a.txt", "mimeType": "text/plain", "buffer": b"a"}]
    )
    assert_clean(page, "codename and a file")
    send(page)
    assert_clean(page, "sent")


@pytest.mark.parametrize("lang", languages(["en", "zh-Hans", "bg"]))
def test_replies_states(axe_page: Page, intake: Intake, lang: str) -> None:
    page = axe_page
    replies = f"/replies?lang={lang}"
    open_form(page, f"/?lang={lang}")
    words = take_codename(page)
    page.goto(replies)
    page.wait_for_selector("#replies-form:not([hidden])")
    assert page.get_attribute("html", "lang") == lang
    assert_clean(page, "replies page")
    read_replies(page, "not a codename", replies)
    page.wait_for_selector("#error-summary")
    assert_clean(page, "codename error")
    read_replies(page, " ".join(words), replies)
    page.wait_for_selector("#replies-result:not([hidden])")
    assert_clean(page, "no replies yet")
    reply_pk, _ = reply_keypair(codename_entropy(words))
    intake.post_reply(reply_pk, "We have read your report.", "2025-05-01", "triage")
    read_replies(page, " ".join(words), replies)
    page.wait_for_selector("#reply-list li")
    assert_clean(page, "with replies")


def assert_clean_without_js(nojs: Page, checker: Page, intake: Intake, state: str) -> None:
    html = re.sub(r"<script\b[^>]*>.*?</script>", "", nojs.content(), flags=re.S)
    html = html.replace("<noscript>", "<div>").replace("</noscript>", "</div>")
    url = f"{intake.url}/axe-copy-of-a-page-without-javascript"
    checker.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    checker.goto(url)
    checker.unroute(url)
    assert checker.inner_text("main") == nojs.inner_text("main"), "the copy differs"
    assert_clean(checker, state)


@pytest.mark.slow
@pytest.mark.parametrize("lang", languages(["en", "pt-BR"]))
def test_form_without_javascript(
    axe_nojs_page: Page, axe_page: Page, intake: Intake, lang: str
) -> None:
    page = axe_nojs_page
    page.goto(f"/?lang={lang}")
    assert_clean_without_js(page, axe_page, intake, "no-JS form")
    page.click("#send-button")
    page.wait_for_selector("#error-summary")
    assert_clean_without_js(page, axe_page, intake, "no-JS errors")
    fill_required(page, unique("axe-nojs"))
    page.click("#send-button")
    page.wait_for_selector("#sent-title")
    assert_clean_without_js(page, axe_page, intake, "no-JS sent page")
    assert page.get_attribute("html", "lang") == lang
    page.goto(f"/replies?lang={lang}")
    assert_clean_without_js(page, axe_page, intake, "no-JS replies page")
    page.click("#server-read-button")
    page.wait_for_selector("#error-summary")
    assert_clean_without_js(page, axe_page, intake, "no-JS replies error")
    entropy = os.urandom(12)
    reply_pk, _ = reply_keypair(entropy)
    intake.post_reply(reply_pk, "We have read your report.", "2025-05-01", "supporting")
    page.fill("#server-codename", " ".join(codename_words(entropy)))
    page.click("#server-read-button")
    page.wait_for_selector(".reply-list li")
    assert_clean_without_js(page, axe_page, intake, "no-JS replies read on the server")
    page.reload()  # shown once: now gone
    page.wait_for_selector("#replies-gone")
    assert_clean_without_js(page, axe_page, intake, "no-JS replies page gone")


@pytest.mark.parametrize("lang", languages(["en"]))
def test_states_without_webassembly(browser: Browser, intake: Intake, lang: str) -> None:
    context = browser.new_context(base_url=intake.url, bypass_csp=True)
    context.add_init_script("delete globalThis.WebAssembly;")
    try:
        page = context.new_page()
        page.goto(f"/?lang={lang}")
        assert page.get_attribute("html", "lang") == lang
        page.wait_for_selector("#crypto-notice:not([hidden])")
        assert_clean(page, "form without WebAssembly")
        page.goto(f"/replies?lang={lang}")
        page.wait_for_selector("#server-route-why:not([hidden])")
        assert_clean(page, "replies without WebAssembly")
    finally:
        context.close()


def test_exit_page(axe_page: Page) -> None:
    axe_page.goto("/static/exit.html")
    assert_clean(axe_page, "exit page")
