"""A report sent with JavaScript: sealed in the browser, byte for byte as docs/format.md says."""

from __future__ import annotations

import json
import struct

import pytest
from playwright.sync_api import Browser, Page

from tests.vault.intake.browser.conftest import (
    Intake,
    Watched,
    fill_required,
    open_form,
    padded_length,
    send,
    unique,
)
from vault.envelope import team_key_id
from vault.report import parse_report

# Text that is easy to get wrong: white space the model trims (and some it keeps), quotes,
# backslashes, control characters, U+2028, characters outside the BMP, markup.
AWKWARD = '\u3000 \u0085 «Ça» "quoted" \\ back\tslash \u2028 line 😀 </script> &amp; \ufeff\u00a0 '


def test_sealed_report_is_canonical_and_opens(watched: Watched, intake: Intake) -> None:
    page = watched.page
    marker = unique("canonical")
    open_form(page)
    page.check("input[name=sector][value=healthcare]")
    page.fill("#role", f"  GP {AWKWARD}")
    page.check("input[name=harms][value=outing]")
    page.check("input[name=harms][value=racial-discrimination]")
    page.fill("#what_happened", f"{AWKWARD}\nLine two.\n\n{marker}\u2029 ")
    page.click("#more-detail summary")
    page.fill("#when", "last March")
    page.fill("#where", " a surgery in Leeds ")
    page.fill("#organisation", "Riverside Surgery")
    page.fill("#professional_identifier", "GMC 1234567")
    page.check("input[name=wants][value=support]")
    page.check("input[name=wants][value=complaint-help]")
    page.check("input[name=contact_method][value=signal]")
    page.fill("#contact_value", "@someone.01")
    page.check("#consent_research")
    send(page)

    [envelope] = watched.traffic.bodies("POST", "/api/reports")
    magic, version, epoch, key_id = struct.unpack(">7sBI8s", envelope[:20])
    assert (magic, version, epoch) == (b"REDRESS", 1, intake.team.epoch)
    assert key_id == team_key_id(intake.team.public_key)
    raw = intake.open_envelope(envelope)
    assert len(envelope) == 20 + 48 + padded_length(len(raw) + 1)

    # What the browser sealed is exactly what the Python model writes for the same report.
    assert parse_report(raw).canonical_json() == raw
    assert json.loads(raw) == {
        "v": 1,
        "sector": "healthcare",
        "role": f"GP {AWKWARD}".strip(" \u3000\u0085\u00a0"),
        "harms": ["racial-discrimination", "outing"],  # the order on the form
        "what_happened": f"{AWKWARD}\nLine two.\n\n{marker}".strip(" \u3000\u0085"),
        "when": "last March",
        "where": "a surgery in Leeds",
        "organisation": "Riverside Surgery",
        "professional_identifier": "GMC 1234567",
        "wants": ["support", "complaint-help"],
        "contact": {"method": "signal", "value": "@someone.01"},
        "consent": {"alert": False, "research": True},
        "attachments": [],
        "language": "en",  # the form's language; the fields stay in English
    }


def test_smallest_report_writes_every_default(watched: Watched, intake: Intake) -> None:
    page = watched.page
    marker = unique("smallest")
    open_form(page)
    fill_required(page, marker)
    send(page)
    [envelope] = watched.traffic.bodies("POST", "/api/reports")
    raw = intake.open_envelope(envelope)
    expected = (
        '{"attachments":[],"consent":{"alert":false,"research":false},'
        '"harms":["abuse-of-power"],"language":"en",'
        '"role":"police officer","sector":"policing","v":1,'
        f'"wants":[],"what_happened":"{marker}"}}'
    )
    assert raw == expected.encode()


def test_sent_page_replaces_the_form(watched: Watched) -> None:
    page = watched.page
    open_form(page)
    fill_required(page, unique("sent"))
    send(page)
    assert page.title().startswith("Report sent")
    assert page.evaluate("document.activeElement.id") == "sent-title"
    assert page.locator("#form-view").is_hidden()
    # Nothing typed is left in the page once it is sent.
    assert page.input_value("#what_happened") == ""
    assert page.input_value("#role") == ""


def test_errors_keep_what_was_typed(page: Page) -> None:
    open_form(page)
    page.fill("#what_happened", "Everything I typed stays.")
    page.click("#more-detail summary")
    page.fill("#when", "x" * 201)
    page.click("#send-button")
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert page.title().startswith("Error: ")
    links = summary.locator("a")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        "#sector",
        "#role",
        "#harms",
        "#when",
    ]
    assert page.input_value("#what_happened") == "Everything I typed stays."
    assert page.get_attribute("#role", "aria-invalid") == "true"
    assert "role-error" in (page.get_attribute("#role", "aria-describedby") or "")
    assert "harms-error" in (page.get_attribute("fieldset:has(#harms)", "aria-describedby") or "")

    # A summary link takes focus to its question.
    links.nth(1).click()
    assert page.evaluate("document.activeElement.id") == "role"

    # Fixing the answers clears the errors when sending again.
    fill_required(page, "Everything I typed stays.")
    page.fill("#when", "last week")
    send(page)
    assert page.locator(".error-message").count() == 0


@pytest.mark.slow
def test_report_reaches_the_vault_by_pull(watched: Watched, intake: Intake) -> None:
    page = watched.page
    marker = unique("pulled")
    before = intake.drain()
    open_form(page)
    fill_required(page, f"He took my phone. {marker}")
    page.check("#consent_alert")
    send(page)
    _, shown = intake.pull_case(before, marker)
    assert shown["report"]["what_happened"] == f"He took my phone. {marker}"
    assert shown["report"]["consent"] == {"alert": True, "research": False}
    assert shown["status"] == "new"


def test_without_libsodium_the_page_says_so_on_load(browser: Browser, intake: Intake) -> None:
    context = browser.new_context(base_url=intake.url)
    try:
        page = context.new_page()
        page.route("**/static/vendor/libsodium*.js", lambda route: route.abort())
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
        marker = unique("fallback")
        page.goto("/")
        # Before anything is typed: no files, no codename, and the reason, in plain words.
        page.wait_for_selector("#crypto-notice:not([hidden])")
        assert "our server sees your report" in page.inner_text("#crypto-notice")
        assert page.is_hidden("#codename-section")
        assert page.is_hidden("#files-section")
        fill_required(page, marker)
        assert sent == []
        page.click("#send-button")
        page.wait_for_selector("#sent-title")
        assert sent == [f"{intake.url}/report?lang=en"]
        assert [r for r in intake.queued_reports() if r["what_happened"] == marker]
    finally:
        context.close()


def test_a_failed_send_keeps_everything(browser: Browser, intake: Intake) -> None:
    context = browser.new_context(base_url=intake.url)
    try:
        page = context.new_page()
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        failures = iter([True])
        page.route(
            "**/api/reports",
            lambda route: route.abort() if next(failures, False) else route.continue_(),
        )
        marker = unique("retry")
        open_form(page)
        fill_required(page, marker)
        page.set_input_files(
            "#attachments", files=[{"name": "a.txt", "mimeType": "text/plain", "buffer": b"a"}]
        )
        page.click("#send-button")
        page.wait_for_selector("#error-summary")
        assert "could not reach our website" in page.inner_text("#error-summary")
        assert page.input_value("#what_happened") == marker
        assert page.locator("#file-list li").count() == 1
        send(page)
        # The file went once; the report twice (the first never arrived).
        assert [p.rsplit("/", 1)[1] for p in posts] == ["parts", "end", "reports", "reports"]
        [report] = [r for r in intake.queued_reports() if r["what_happened"] == marker]
        assert [a["name"] for a in report["attachments"]] == ["a.txt"]
    finally:
        context.close()
