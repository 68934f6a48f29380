"""Review of issue 15 (seal15): a refused codename post leaves nothing to post again, in real
headless Chromium without JavaScript against a real intake."""

from __future__ import annotations

from playwright.sync_api import Page, Request


def test_a_refused_codename_is_not_posted_again_by_reload_or_back(nojs_page: Page) -> None:
    """Held: the refusal is a 303 to an address naming only the problem; reload, Back and
    Forward send no POST and the typed words are in no address."""
    typed = "zebra quantum lantern"
    nojs_page.goto("/replies?lang=en")
    nojs_page.fill("#server-codename", typed)
    nojs_page.click("#server-read-button")
    nojs_page.wait_for_selector("#error-summary")
    assert nojs_page.url.endswith("/replies?lang=en&problem=count"), nojs_page.url
    posts: list[str] = []
    seen: list[str] = []

    def record(request: Request) -> None:
        seen.append(request.url)
        if request.method == "POST":
            posts.append(request.url)

    nojs_page.on("request", record)
    nojs_page.reload()
    nojs_page.wait_for_selector("#error-summary")
    nojs_page.go_back()
    nojs_page.go_forward()
    nojs_page.wait_for_selector("#error-summary")
    assert posts == []
    assert nojs_page.input_value("#server-codename") == ""
    assert not any(w in u for u in [*seen, nojs_page.url] for w in typed.split())
