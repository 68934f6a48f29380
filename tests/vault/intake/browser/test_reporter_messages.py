"""A reporter answers a reply and asks to withdraw, from the replies page, in real Chromium."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator

import nacl.bindings as sodium
import pytest
from playwright.sync_api import Browser, Page, Route

from tests.vault.intake.browser.conftest import (
    Intake,
    Watched,
    b64,
    codename_entropy,
    fill_required,
    mailbox_id,
    open_form,
    pad,
    read_replies,
    reply_keypair,
    run_axe,
    send,
    take_codename,
    unique,
)
from vault import _crypto, reporter_messages


def signing_public_key(entropy: bytes) -> bytes:
    seed = hashlib.blake2b(
        b"redress codename signing key v1\x00" + entropy, digest_size=32
    ).digest()
    pk, _ = sodium.crypto_sign_seed_keypair(seed)
    return bytes(pk)


def status_says(page: Page, words: str) -> None:
    page.wait_for_function(
        "(words) => document.getElementById('message-status').textContent.includes(words)",
        arg=words,
    )


@pytest.mark.slow
def test_a_reporter_answers_and_asks_to_withdraw(watched: Watched, intake: Intake) -> None:
    page = watched.page
    marker = unique("answer")
    before = intake.drain()
    open_form(page)
    fill_required(page, marker)
    words = take_codename(page)
    send(page)
    case_id, shown = intake.pull_case(before, marker)
    entropy = codename_entropy(words)
    assert shown["report"]["reply_signing_key"] == b64(signing_public_key(entropy))

    intake.run("cases", "reply", case_id, "Can we call you?")
    intake.pull()  # delivers the reply
    read_replies(page, " ".join(words))
    page.wait_for_selector("#answer-form:not([hidden])")
    assert "Can we call you?" in page.inner_text("#reply-list")
    assert page.is_visible("#withdraw")
    assert page.is_hidden("#cannot-answer")

    page.fill("#answer", f"Yes please, after six. {marker}")
    page.click("#answer-button")
    status_says(page, "Your answer was sent")
    assert page.input_value("#answer") == ""
    page.click("#withdraw-button")
    assert page.get_attribute("#withdraw-button", "aria-expanded") == "true"
    page.click("#withdraw-yes")
    status_says(page, "We have your request to withdraw")

    # The intake got two sealed, signed messages: neither the answer nor the codename in clear.
    for _ in range(100):  # the page has shown the answer; Playwright may not yet have told us
        if len(watched.traffic.bodies("POST", "/api/messages")) >= 2:
            break
        page.wait_for_timeout(50)
    sent = watched.traffic.bodies("POST", "/api/messages")
    assert len(sent) == 2
    for body in sent:
        assert body[:7] == b"REDRMSG"
        assert marker.encode() not in body
        assert words[0].encode() not in body
        assert body[20:52] == signing_public_key(entropy)
    assert not any(" ".join(words) in u for _, u, _, _ in watched.traffic.requests)

    intake.pull()
    shown = json.loads(intake.run("cases", "show", case_id, "--json").stdout)
    assert [(c["from"], c["kind"]) for c in shown["conversation"]] == [
        ("caseworker", "reply"),
        ("reporter", "answer"),
        ("reporter", "withdrawal"),
    ]
    assert shown["conversation"][1]["text"] == f"Yes please, after six. {marker}"
    assert shown["withdrawal_requested"] is True
    listed = json.loads(intake.run("cases", "list", "--json").stdout)
    assert [c["withdrawal_requested"] for c in listed if c["id"] == case_id] == [True]
    text = intake.run("cases", "show", case_id).stdout
    assert "the reporter answered: Yes please, after six." in text

    # The caseworker honours it with the real command; the next pull delivers the last
    # reply, and the replies page says the report was erased.
    erased = intake.run("cases", "erase", case_id, "--reason", "withdrawn")
    assert erased.returncode == 0, erased.stderr
    assert "erased" in intake.run("cases", "show", case_id).stdout.lower()
    intake.pull()
    read_replies(page, " ".join(words))
    page.wait_for_selector("#replies-result:not([hidden])")
    assert page.inner_text("#case-status-text") == "Your report has been erased from our records."
    assert "withdrawn and erased" in page.inner_text("#reply-list")
    assert page.is_hidden("#answer-form")
    assert page.is_hidden("#withdraw")


@pytest.fixture
def axe_page(browser: Browser, intake: Intake) -> Iterator[Page]:
    """A page axe-core can be added to (its script is inline, which the CSP refuses)."""
    context = browser.new_context(base_url=intake.url, bypass_csp=True)
    yield context.new_page()
    context.close()


def post_answerable_reply(intake: Intake, reply_pk: bytes, text: str) -> None:
    """A reply as the vault writes one to a report that carries a codename signing key."""
    doc = {"v": 1, "text": text, "date": "2025-03-15", "can_answer": True}
    plain = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    sealed = sodium.crypto_box_seal(pad(plain), reply_pk)
    body = {"replies": [{"mailbox": mailbox_id(reply_pk), "body": b64(sealed)}]}
    assert intake.signed("POST", "/api/replies", body).status_code == 200


def test_what_the_page_offers_follows_the_replies(axe_page: Page, intake: Intake) -> None:
    page = axe_page
    open_form(page)
    words = take_codename(page)
    reply_pk, _ = reply_keypair(codename_entropy(words))

    # No reply yet: only the withdrawal can be asked for.
    read_replies(page, " ".join(words))
    page.wait_for_selector("#replies-result:not([hidden])")
    assert page.is_visible("#withdraw")
    assert page.is_hidden("#answer-form")
    assert run_axe(page) == []

    # A reply to a report made before codenames could sign: said plainly, nothing offered.
    intake.post_reply(reply_pk, "We have read it.", "2025-03-14", None)
    read_replies(page, " ".join(words))
    page.wait_for_selector("#replies-result:not([hidden])")
    assert page.is_visible("#cannot-answer")
    assert run_axe(page) == []
    assert page.is_hidden("#answer-form")
    assert page.is_hidden("#withdraw")

    # A reply that can be answered: the answer box, and the withdrawal with its question.
    post_answerable_reply(intake, reply_pk, "Can we call you?")
    read_replies(page, " ".join(words))
    page.wait_for_selector("#answer-form:not([hidden])")
    assert page.is_hidden("#cannot-answer")
    assert run_axe(page) == []
    page.click("#withdraw-button")
    page.wait_for_selector("#withdraw-confirm:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "withdraw-yes"
    assert run_axe(page) == []
    page.click("#withdraw-no")
    assert page.is_hidden("#withdraw-confirm")
    assert page.evaluate("document.activeElement.id") == "withdraw-button"

    # Erased: the page says so, and offers nothing more.
    intake.post_reply(reply_pk, "Your report has been erased.", "2025-03-20", "erased")
    read_replies(page, " ".join(words))
    page.wait_for_selector("#replies-result:not([hidden])")
    assert page.inner_text("#case-status-text") == "Your report has been erased from our records."
    assert page.is_hidden("#answer-form")
    assert page.is_hidden("#withdraw")
    assert page.is_hidden("#cannot-answer")
    assert run_axe(page) == []


def test_the_browser_signs_and_seals_as_the_format_says(page: Page) -> None:
    """codename.js's signing key and seal.js's sealMessage, checked by the vault's own code."""
    entropy = os.urandom(12)
    team_pk, team_sk = _crypto.box_keypair()
    page.goto("/replies")
    got = page.evaluate(
        """async ([e, pk]) => {
            const c = await import('/static/codename.js');
            const s = await import('/static/seal.js');
            await window.sodium.ready;
            const signing = c.signingKeyPair(window.sodium, new Uint8Array(e));
            const message = {v: 1, kind: "answer", sent: "2026-01-02", after: 2,
                             text: "Oui — à six heures \u2028 ☎"};
            const body = s.sealMessage(window.sodium, message, 7, new Uint8Array(pk), signing);
            return {pk: Array.from(signing.publicKey), body: Array.from(body)};
        }""",
        [list(entropy), list(team_pk)],
    )
    assert bytes(got["pk"]) == signing_public_key(entropy)
    body = bytes(got["body"])
    parts = reporter_messages.check_signed(body)
    assert parts.epoch == 7
    assert parts.signing_key == signing_public_key(entropy)
    opened = reporter_messages.open_message(parts, team_pk, team_sk)
    assert (opened.kind, opened.text) == ("answer", "Oui — à six heures \u2028 ☎")
    assert (opened.sent, opened.after) == ("2026-01-02", 2)


def test_a_refused_answer_is_said_and_what_was_typed_is_kept(
    watched: Watched, intake: Intake
) -> None:
    """An answer changed on its way (the real intake refuses it, 403) or too long (the page
    refuses it, past 20,000 characters) is refused with a plain message, the answer typed stays,
    and the next Send goes through (docs/intake.md section 7)."""
    page = watched.page
    open_form(page)
    words = take_codename(page)
    reply_pk, _ = reply_keypair(codename_entropy(words))
    post_answerable_reply(intake, reply_pk, "Can we call you?")
    read_replies(page, " ".join(words))
    page.wait_for_selector("#answer-form:not([hidden])")
    typed = "Yes, after six."

    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if r.url.endswith("/api/messages") else None,
    )

    def changed(route: Route) -> None:  # one byte of the sealed answer flipped in transit
        body = bytearray(route.request.post_data_buffer or b"")
        body[-1] ^= 1
        route.continue_(post_data=bytes(body))

    page.route("**/api/messages", changed)
    page.fill("#answer", typed)
    page.click("#answer-button")
    page.wait_for_selector("#error-summary")
    assert "We could not send that." in page.inner_text("#error-summary")
    assert page.title().startswith("Error:")
    assert page.input_value("#answer") == typed
    assert statuses == [403]
    page.unroute("**/api/messages")

    page.fill("#answer", "x" * 20_001)
    page.click("#answer-button")
    page.wait_for_function(
        "document.getElementById('error-summary').textContent.includes('too long')"
    )
    assert "20,000" in page.inner_text("#error-summary")
    assert page.input_value("#answer") == "x" * 20_001
    assert statuses == [403]  # not sent

    page.fill("#answer", typed)
    page.click("#answer-button")
    status_says(page, "Your answer was sent")
    assert statuses == [403, 202]
    assert page.input_value("#answer") == ""
    # Chromium logs the refused request: the one console error expected, and the only one.
    assert [p for p in watched.problems if "status of 403" not in p] == []
    watched.problems.clear()
