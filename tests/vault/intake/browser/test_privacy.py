"""Nothing typed leaves the browser unsealed, and the page talks to no one but the intake."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from tests.vault.intake.browser.conftest import (
    Intake,
    Watched,
    open_form,
    read_replies,
    send,
    take_codename,
)

CANARY = "CANARY-9c41e7-typed"
TEXT_FIELDS = [
    "#role",
    "#what_happened",
    "#when",
    "#where",
    "#organisation",
    "#professional_identifier",
    "#contact_value",
]


def test_canary_never_leaves_unsealed(watched: Watched, intake: Intake) -> None:
    page = watched.page
    open_form(page)
    page.click("#more-detail summary")
    for n, selector in enumerate(TEXT_FIELDS):
        page.fill(selector, f"{CANARY} {n}")
    page.check("input[name=sector][value=education]")
    page.check("input[name=harms][value=verbal-abuse]")
    page.check("input[name=contact_method][value=text]")
    page.set_input_files(
        "#attachments",
        files=[{"name": f"{CANARY}.txt", "mimeType": "text/plain", "buffer": CANARY.encode() * 50}],
    )
    words = take_codename(page)
    send(page)
    read_replies(page, f"{CANARY} " + " ".join(words[1:]))  # refused before any request
    read_replies(page, " ".join(words))
    page.wait_for_selector("#replies-result:not([hidden])")

    needles = {CANARY.encode(), quote(CANARY).encode(), CANARY.lower().encode()}
    # Words that are also hex (like "face") could turn up in an id by chance: leave them out.
    secrets = {w.encode() for w in words if len(w) > 3 and not set(w) <= set("abcdef")}
    assert len(watched.traffic.requests) > 5
    for method, url, headers, body in watched.traffic.requests:
        assert url.startswith(intake.url + "/"), f"a request left the intake: {url}"
        seen = url.encode() + repr(sorted(headers.items())).encode() + body
        for needle in needles:
            assert needle not in seen, f"typed text in {method} {url}"
        # Fixed asset URLs can hold a list word by chance ("exit", "vendor"): check the rest,
        # word by word ("wrap" is a list word, and inside "libsodium-wrappers").
        if "/static/" not in url:
            tokens = set(re.split(rb"[^a-z]+", url.lower().encode()))
            assert not (secrets & tokens), f"codename in {url}"
        assert "cookie" not in headers
    # Playwright cannot see a Blob request body, so look at the upload the intake stored.
    [envelope] = watched.traffic.bodies("POST", "/api/reports")
    [attachment] = json.loads(intake.open_envelope(envelope))["attachments"]
    assert attachment["name"] == f"{CANARY}.txt"
    assert not any(needle in intake.blob(attachment["blob"]) for needle in needles)

    # No cookies, no storage.
    assert page.context.cookies() == []
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
