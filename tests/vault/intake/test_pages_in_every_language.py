"""Every page and state the intake renders, in each of the eight languages: the page says its
language, and no sentence the English page shows is left in English (docs/intake.md,
"Languages")."""

from __future__ import annotations

import base64
import json
import os
import re
from html.parser import HTMLParser
from urllib.parse import urlencode

from tests.vault.intake.conftest import Intake, IntakeFactory, as_json
from vault.intake import codename, languages
from vault.intake.languages import LANGUAGES
from vault.replies import mailbox_id, seal_reply

REPLY = "A caseworker's reply, as typed"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OTHERS = [code for code in LANGUAGES if code != "en"]
# What a reporter reads besides text: what is spoken, shown on hover, or put in by the script.
READ = {"placeholder", "aria-label", "title", "alt", "data-one", "data-many"}
VOID = {"meta", "link", "input", "br", "img", "hr", "source"}
# Names, the same in every language: a key on the keyboard and two apps.
NAMES = {"Shift", "Signal", "WhatsApp"}


class _Shown(HTMLParser):
    """The sentences a page shows or speaks, outside scripts, styles and the language switch
    (each of its links is in its own language, marked by `lang`)."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: list[bool] = []
        self.sentences: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        skip = tag in ("script", "style") or (tag != "html" and "lang" in found)
        if tag not in VOID:
            self.hidden.append(skip)
        if not skip and not any(self.hidden):
            self.sentences |= {" ".join(v.split()) for k, v in found.items() if k in READ and v}
            if tag == "input" and found.get("type") in ("submit", "button") and found.get("value"):
                self.sentences.add(str(found["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self.hidden:
            self.hidden.pop()

    def handle_data(self, data: str) -> None:
        if not any(self.hidden) and data.strip():
            self.sentences.add(" ".join(data.split()))


def shown(page: str) -> set[str]:
    parser = _Shown()
    parser.feed(page)
    # Not words: numbers, marks, the product's name.
    return {s for s in parser.sentences if re.search(r"[^\W\d_]{2}", s) and s != "Redress"}


def pages(intake: Intake, lang: str, entropy: bytes) -> dict[str, tuple[int, str]]:
    """Every state of every page, as the server renders it in `lang`."""
    client = intake.client

    def post(path: str, fields: dict[str, str]) -> tuple[int, str]:
        body = urlencode({**fields, "lang": lang}).encode()
        response = client.post(path, content=body, headers=FORM)
        if response.status_code == 303:
            response = client.get(response.headers["location"])
        return response.status_code, response.text

    def get(path: str) -> tuple[int, str]:
        response = client.get(path, params={"lang": lang})
        return response.status_code, response.text

    got = {
        "form": get("/"),
        "form errors": post("/report", {"what_happened": "x"}),
        "sent": get("/sent"),
        "replies": get("/replies"),
        "replies error": post("/replies", {"codename": ""}),
        "replies: a wrong word": post("/replies", {"codename": "nonsense " * 9}),
        "replies: none yet": post(
            "/replies", {"codename": " ".join(codename.words_for(os.urandom(12), "english"))}
        ),
    }
    words = " ".join(codename.words_for(entropy, "english"))
    body = urlencode({"codename": words, "lang": lang}).encode()
    location = client.post("/replies", content=body, headers=FORM).headers["location"]
    got["replies read on the server"] = get(location.split("?")[0])
    got["replies gone"] = get(location.split("?")[0])
    return got


def test_every_page_and_state_is_in_the_language_chosen(shared_intake: Intake) -> None:
    entropy = os.urandom(12)
    box = codename.mailbox(entropy)
    sealed = seal_reply(REPLY, "2025-05-01", "supporting", box.public_key, can_answer=True)
    item = {"mailbox": mailbox_id(box.public_key), "body": base64.b64encode(sealed).decode()}
    stored = shared_intake.signed("POST", "/api/replies", as_json({"replies": [item]}))
    assert stored.status_code == 200, stored.text

    english = pages(shared_intake, "en", entropy)
    expected = {
        "form": 200,
        "form errors": 422,
        "sent": 200,
        "replies": 200,
        "replies error": 422,
        "replies: a wrong word": 422,
        "replies: none yet": 200,
        "replies read on the server": 200,
        "replies gone": 410,
    }
    assert {name: status for name, (status, _) in english.items()} == expected
    # The charity's own lines stay as configured (English by default), on every language's page.
    kept = {s for s in shown(english["sent"][1]) if "999" in s or "116 123" in s}
    kept |= NAMES | {REPLY}
    problems = []
    for lang in OTHERS:
        for name, (status, page) in pages(shared_intake, lang, entropy).items():
            assert status == expected[name], (lang, name)
            assert re.search(rf'<html lang="{lang}"', page), (lang, name)
            catalog = languages.read_catalog(lang)
            same = {m.id for m in catalog if m.id and m.string == m.id}  # as the translator chose
            left = (shown(page) & shown(english[name][1])) - kept - same
            # The script's sentences, embedded in the page, are the catalog's too.
            table = re.search(r'<script type="application/json" id="messages">(.*?)</script>', page)
            if table:
                for msgid, said in json.loads(table.group(1)).items():
                    if said != catalog[msgid].string:
                        problems.append(f"{lang} {name}: the script's {msgid!r}")
            problems += [f"{lang} {name}: {s!r}" for s in sorted(left)]
    assert not problems, "\n".join(problems)


def test_the_charitys_settings_reach_every_page(start_intake: IntakeFactory) -> None:
    """`vault intake serve --helpline --emergency --reply-days --exit-url` on a real intake:
    the sent page carries the lines as configured, with the days in the reporter's language,
    and every page's exit link goes to the configured page (docs/intake.md section 1)."""
    helpline = "Call the Example Project on 0800 000 0000, 10:00 to 18:00."
    emergency = "In danger now? Call 999."
    exit_url = "https://example.org/news"
    intake = start_intake(
        "--helpline", helpline, "--emergency", emergency, "--reply-days", "3",
        "--exit-url", exit_url,
    )  # fmt: skip
    days = "A caseworker will read your report within %(days)s working days."
    for lang in ("en", "ro"):
        sent = intake.client.get("/sent", params={"lang": lang}).text
        assert helpline in sent
        assert emergency in sent
        within = languages.read_catalog(lang).get(days) if lang != "en" else None
        assert str(within.string if within else days).replace("%(days)s", "3") in sent
        for path in ("/", "/replies", "/sent"):
            page = intake.client.get(path, params={"lang": lang}).text
            found = re.search(r'<a href="([^"]*)"[^>]*id="exit-page"', page)
            assert found is not None, (lang, path)
            assert found.group(1) == exit_url


def test_the_codename_comes_from_the_reporters_list_where_one_exists(
    shared_intake: Intake,
) -> None:
    """BIP39 has Spanish, Portuguese and Chinese Simplified lists; the others get English, on the
    form (which makes the codename) and the replies page (which reads its own list first)."""
    lists = {"es": "spanish", "pt-BR": "portuguese", "zh-Hans": "chinese_simplified"}
    for lang in LANGUAGES:
        for path in ("/", "/replies"):
            page = shared_intake.client.get(path, params={"lang": lang}).text
            found = re.findall(r'data-codename-list="([a-z_]+)"', page)
            assert found == [lists.get(lang, "english")], (lang, path)
