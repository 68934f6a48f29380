"""Codenames and replies: made and read in the browser; the server never sees the codename."""

from __future__ import annotations

import base64
import json

import pytest
from playwright.sync_api import Page

from tests.vault.intake.browser.conftest import (
    Intake,
    Watched,
    codename_entropy,
    fill_required,
    mailbox_id,
    open_form,
    read_replies,
    reply_keypair,
    send,
    take_codename,
    unique,
    wordlist,
)


def messy(words: list[str]) -> str:
    """How someone might type a codename back: capitals, commas, hyphens, 4-letter stubs."""
    typed = [w[:4] if i % 2 else w.upper() for i, w in enumerate(words)]
    return "  " + ", ".join(typed[:3]) + " - " + "-".join(typed[3:6]) + "\n" + " ".join(typed[6:])


def test_codename_reply_key_and_replies(watched: Watched, intake: Intake) -> None:
    page = watched.page
    open_form(page)
    fill_required(page, unique("codename"))
    words = take_codename(page)
    send(page)
    # The sent page shows the codename again, to write down.
    assert page.locator("#sent-codename-words li").all_inner_texts() == words

    [envelope] = watched.traffic.bodies("POST", "/api/reports")
    report = json.loads(intake.open_envelope(envelope))
    reply_pk, _ = reply_keypair(codename_entropy(words))
    assert report["reply_key"] == base64.b64encode(reply_pk).decode()

    intake.post_reply(reply_pk, "Thank you. We have read it.", "2025-03-14", None)
    intake.post_reply(
        reply_pk, "A caseworker is with you.\nCall when safe.", "2025-03-16", "supporting"
    )
    read_replies(page, messy(words))
    page.wait_for_selector("#replies-result:not([hidden])")
    replies = page.locator("#reply-list li")
    assert replies.count() == 2
    assert "14 March 2025" in replies.nth(0).inner_text()
    assert "Thank you. We have read it." in replies.nth(0).inner_text()
    assert "A caseworker is with you.\nCall when safe." in replies.nth(1).inner_text()
    assert page.inner_text("#case-status-text") == "We are supporting you."
    # Only the mailbox id went to the server, never the codename.
    fetched = [u for m, u, _, _ in watched.traffic.requests if "/api/mailbox/" in u]
    assert fetched == [f"{intake.url}/api/mailbox/{mailbox_id(reply_pk)}"]


def test_codename_mistakes_are_explained(page: Page) -> None:
    open_form(page)
    words = take_codename(page)

    read_replies(page, " ".join(words[:7]))
    assert "We found 7" in page.inner_text("#error-summary")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert page.get_attribute("#codename", "aria-invalid") == "true"

    read_replies(page, " ".join([*words[:8], "zzzz"]))
    assert "‘zzzz’" in page.inner_text("#error-summary")

    # The last word's lowest 3 bits are the checksum: flipping one is always caught.
    all_words = wordlist()
    wrong = all_words[all_words.index(words[8]) ^ 1]
    read_replies(page, " ".join([*words[:8], wrong]))
    assert "not a codename we gave out" in page.inner_text("#error-summary")

    read_replies(page, " ".join(words))
    page.wait_for_selector("#replies-result:not([hidden])")
    assert page.locator("#error-summary").count() == 0
    assert page.is_visible("#no-replies")


@pytest.mark.slow
def test_codename_reply_round_trip_by_cli(watched: Watched, intake: Intake) -> None:
    page = watched.page
    marker = unique("reply")
    before = intake.drain()
    open_form(page)
    fill_required(page, marker)
    words = take_codename(page)
    send(page)
    case_id, _ = intake.pull_case(before, marker)
    intake.run("cases", "status", case_id, "supporting")
    intake.run("cases", "reply", case_id, f"We are here for you. {marker}", "--share-status")
    intake.pull()  # delivers queued replies
    read_replies(page, " ".join(words))
    page.wait_for_selector("#replies-result:not([hidden])")
    assert f"We are here for you. {marker}" in page.inner_text("#reply-list")
    assert page.inner_text("#case-status-text") == "We are supporting you."
