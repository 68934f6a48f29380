"""The intake in the reporters' languages: catalogs complete, the language chosen by
``?lang=`` or Accept-Language, nothing remembered (no cookie)."""

from __future__ import annotations

import base64
import json
import re
import socket
from urllib.parse import urlencode

import httpx
import pytest
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from tests.vault.intake.conftest import Intake, Team
from vault.envelope import open_report
from vault.errors import InvalidReportError
from vault.intake import languages
from vault.intake.languages import LANGUAGES, choose, extract_messages, from_accept
from vault.intake.nojs import read_form
from vault.report import parse_report

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OTHERS = [code for code in LANGUAGES if code != "en"]
HEADING = "Tell us what a professional did to you"
PLACEHOLDER = re.compile(r"\{\w+\}|%\(\w+\)s")


def translated(code: str, msgid: str) -> str:
    message = languages.read_catalog(code).get(msgid)
    assert message is not None
    assert isinstance(message.string, str)
    return message.string


# --- the catalogs -------------------------------------------------------------------------------


def test_every_message_is_extracted_from_templates_scripts_and_python() -> None:
    found = {m.msgid: m.where for m in extract_messages()}
    assert found[HEADING].startswith("form.html")  # a template
    assert found["Looking for replies…"].startswith("replies.js")  # a script's t()
    assert found["Choose who harmed you."]  # nojs.py's N_() and form.js's t(): one message
    assert found["Police"].startswith("labels.py")
    assert "Error: {title}" in languages.script_messages()


def test_the_committed_template_is_up_to_date() -> None:
    # `make messages` writes vault/intake/locale/intake.pot from the same sources.
    with (languages.LOCALE_DIR / "intake.pot").open("rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    assert template == {m.msgid for m in extract_messages()}, "run `make messages`"


def _unsafe(english: str, translated: str) -> list[str]:
    """Jinja marks a translation safe HTML and always %-formats it (new-style gettext): so no
    markup, quote or ampersand the English has not, and no % but a placeholder's."""
    problems = [
        f"{c!r} in the translation of {english!r}"
        for c in '<>"&'
        if c in translated and c not in english
    ]
    if "%" in re.sub(r"%\([a-z_]+\)s", "", translated):
        problems.append(f"a bare % in the translation of {english!r}")
    return problems


def test_a_translation_with_markup_or_a_bare_percent_is_caught() -> None:
    assert _unsafe("Thank you.", "Mulțumim 100 %.") == [
        "a bare % in the translation of 'Thank you.'"
    ]
    assert _unsafe("Send", 'Send" onclick="x') == ["'\"' in the translation of 'Send'"]
    assert _unsafe("Within %(days)s days.", "En %(days)s días.") == []


@pytest.mark.parametrize("code", OTHERS)
def test_every_catalog_has_every_message_translated(code: str) -> None:
    catalog = languages.read_catalog(code)
    problems = []
    for message in extract_messages():
        entry = catalog.get(message.msgid)
        if entry is None:
            problems.append(f"missing: {message.msgid!r} ({message.where})")
        elif not entry.string or not str(entry.string).strip():
            problems.append(f"empty: {message.msgid!r} ({message.where})")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {message.msgid!r} ({message.where})")
        elif sorted(PLACEHOLDER.findall(message.msgid)) != sorted(
            PLACEHOLDER.findall(str(entry.string))
        ):
            problems.append(f"placeholders differ: {message.msgid!r}")
        else:
            problems += _unsafe(message.msgid, str(entry.string))
    assert not problems, f"{code}: run `make messages`, then translate:\n" + "\n".join(problems)


# --- choosing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ro-RO,ro;q=0.9,en;q=0.8", "ro"),
        ("pt-BR", "pt-BR"),
        ("pt-PT,pt;q=0.9", "pt-BR"),  # the one Portuguese we have
        ("zh-CN,zh;q=0.9", "zh-Hans"),
        ("zh-Hans-CN", "zh-Hans"),
        ("zh-TW", None),  # Traditional: not served Simplified
        ("fr-FR, th;q=0.5, es;q=0.7", "es"),  # by weight, not order
        ("hu;q=0, pl", "pl"),  # q=0: not wanted
        ("de, fr", None),
        ("", None),
        (";;;,,,q=x;=", None),
        ("ro;q=abc, bg;q=2, hu;q=nan, pl;q=0.1", "pl"),
    ],
)
def test_accept_language_picks_the_best_we_have(header: str, expected: str | None) -> None:
    assert from_accept(header) == expected


@given(st.text(max_size=300))
def test_any_accept_language_gives_a_language_and_never_raises(header: str) -> None:
    assert choose(None, header) in LANGUAGES
    assert choose(header, header) in LANGUAGES


def test_lang_beats_accept_language_and_unknown_is_english() -> None:
    assert choose("th", "ro") == "th"
    assert choose("ZH-hans", None) == "zh-Hans"
    assert choose("xx", "ro") == "en"
    # ?lang= is one language tag, read as Accept-Language reads one.
    assert choose("zh", None) == choose("zh-CN", None) == "zh-Hans"
    assert choose("pt", None) == choose("pt_br", None) == "pt-BR"
    assert choose("ro-RO", "pl") == "ro"
    assert choose("zh-TW", "ro") == choose("fr", "ro") == choose("ro,pl", None) == "en"
    assert choose(None, None) == "en"


# --- on a real server ---------------------------------------------------------------------------


def html_lang(page: str) -> str:
    found = re.search(r'<html lang="([^"]+)">', page)
    assert found
    return found.group(1)


@pytest.mark.parametrize("code", OTHERS)
def test_lang_and_accept_language_both_serve_the_form_in_that_language(
    shared_intake: Intake, code: str
) -> None:
    heading = translated(code, HEADING)
    by_query = shared_intake.client.get(f"/?lang={code}")
    by_header = shared_intake.client.get("/", headers={"Accept-Language": code})
    for response in (by_query, by_header):
        assert response.status_code == 200
        assert html_lang(response.text) == code
        assert heading in response.text
        assert HEADING not in response.text
        # The choice travels in links and the forms' hidden field.
        assert f'href="/replies?lang={code}"' in response.text
        assert f'name="lang" value="{code}"' in response.text
    replies = shared_intake.client.get(f"/replies?lang={code}")
    assert html_lang(replies.text) == code
    assert translated(code, "Read replies through our server") in replies.text


def test_the_switch_names_each_language_in_its_own_words(shared_intake: Intake) -> None:
    page = shared_intake.client.get("/replies?lang=th").text
    for code, name in LANGUAGES.items():
        assert f'<a href="/replies?lang={code}" lang="{code}" hreflang="{code}"' in page
        assert f">{name}</a>" in page
    assert 'aria-current="true">ไทย</a>' in page


@pytest.mark.parametrize(
    "header", ["ro;q=", "*;q=1e9999", "\x7f\x01", "a" * 5000, "ro-" * 2000, ",;=" * 500]
)
def test_a_malformed_accept_language_never_gives_a_5xx(shared_intake: Intake, header: str) -> None:
    response = shared_intake.client.get("/", headers={"Accept-Language": header})
    assert response.status_code < 500  # a control character may be refused (400) by the server
    if response.status_code == 200:
        assert html_lang(response.text) in LANGUAGES


def _by_hand(url: str, request: bytes) -> bytes:
    """One request sent as raw bytes (headers httpx will not send), the whole answer read."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    assert port is not None
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while piece := sock.recv(65536):
                answer += piece
        except ConnectionResetError:  # closed with part of an over-long head unread
            pass
        assert answer.startswith(b"HTTP/1.1 ")
        return answer


# The list: empty, huge, `*`, `;q=abc`, unicode, 10,000 entries, a header repeated.
ODD_ACCEPT_LANGUAGE = [
    b"",
    b"*",
    b";q=abc",
    b"es;q=abc, th;q=",
    "中文, español;q=0.5, 🙂".encode(),
    b"\xff\xfe\x80",
    b"," * 9_999,  # 10,000 entries, all empty
    b"es;q=0.1," * 1_700,  # about 15 KiB: as long as a head may be
    b"x" * 20_000,  # longer than a head may be: 431, not a 5xx
]


def test_an_odd_accept_language_never_gives_a_5xx_or_a_cookie_on_any_page(
    shared_intake: Intake,
) -> None:
    """Every reporter's page and no-JavaScript post, with Accept-Language as sent by hand
    (bytes, repeated): never a 5xx, never a cookie, and a page is in a language we have."""
    requests = [
        (b"GET / ", b""),
        (b"GET /replies ", b""),
        (b"GET /sent ", b""),
        (b"GET /replies/gone ", b""),
        (b"GET /replies?problem=word ", b""),
        (b"POST /report ", b"what_happened=x"),
        (b"POST /replies ", b"codename=x"),
    ]
    for start, body in requests:
        heads = [b"Accept-Language: " + value + b"\r\n" for value in ODD_ACCEPT_LANGUAGE]
        heads.append(b"Accept-Language: fr\r\nAccept-Language: es;q=abc, th\r\n")
        for head in heads:
            answer = _by_hand(
                shared_intake.url,
                start
                + b"HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + head
                + b"Content-Type: application/x-www-form-urlencoded\r\n"
                + b"Content-Length: %d\r\n\r\n" % len(body)
                + body,
            )
            status = int(answer.split(b" ", 2)[1])
            where = (start, head[:40])
            assert status < 500, where
            headers = answer.split(b"\r\n\r\n", 1)[0].lower()
            assert b"set-cookie" not in headers, where
            if status in (200, 410, 422) and not start.startswith(b"POST /replies"):
                lang = re.search(rb'<html lang="([^"]+)">', answer)
                assert lang is not None, where
                assert lang.group(1).decode() in LANGUAGES, where
                if head.count(b"Accept-Language") == 2:  # one list, as HTTP reads it
                    assert lang.group(1) == b"th", where


@pytest.mark.parametrize("asked", ["xx", "en-US-x", "../../etc", "ro" * 100, ""])
def test_an_unknown_lang_falls_back_to_english(shared_intake: Intake, asked: str) -> None:
    response = shared_intake.client.get("/", params={"lang": asked})
    assert response.status_code == 200
    assert html_lang(response.text) == "en"
    assert HEADING in response.text


@pytest.mark.parametrize(
    ("asked", "code"), [("zh", "zh-Hans"), ("zh-CN", "zh-Hans"), ("pt", "pt-BR")]
)
def test_lang_is_read_as_a_language_tag(shared_intake: Intake, asked: str, code: str) -> None:
    response = shared_intake.client.get("/", params={"lang": asked})
    assert response.status_code == 200
    assert html_lang(response.text) == code
    assert f'name="lang" value="{code}"' in response.text


def test_no_response_sets_a_cookie(shared_intake: Intake) -> None:
    client = shared_intake.client
    responses = [
        client.get("/?lang=bg"),
        client.get("/", headers={"Accept-Language": "hu"}),
        client.get("/replies?lang=pl"),
        client.get("/sent?lang=es"),
        client.get("/static/i18n.js"),
        client.post("/report?lang=ro", content=b"lang=ro", headers=FORM),
        client.post("/replies", content=b"lang=th&codename=x", headers=FORM),
        client.get("/api/challenge"),
    ]
    for response in responses:
        assert "set-cookie" not in response.headers
    assert not client.cookies


def test_the_form_without_javascript_answers_in_the_language_posted(shared_intake: Intake) -> None:
    body = urlencode({"lang": "ro", "what_happened": "x"}).encode()
    response = shared_intake.client.post("/report", content=body, headers=FORM)
    assert response.status_code == 422
    assert html_lang(response.text) == "ro"
    assert translated("ro", "Choose who harmed you.") in response.text
    assert translated("ro", "There is a problem") in response.text

    posted = shared_intake.client.post("/replies", content=b"lang=zh-Hans&codename=", headers=FORM)
    assert posted.status_code == 303
    answer = shared_intake.client.get(posted.headers["location"])
    assert answer.status_code == 422
    assert html_lang(answer.text) == "zh-Hans"
    assert translated("zh-Hans", "Enter your codename") in answer.text


def test_the_pages_embed_their_scripts_sentences_translated(shared_intake: Intake) -> None:
    page = shared_intake.client.get("/?lang=pl").text
    found = re.search(r'<script type="application/json" id="messages">(.*?)</script>', page)
    assert found
    table = json.loads(found.group(1))
    assert set(table) == set(languages.script_messages())
    assert table["Error: {title}"] == translated("pl", "Error: {title}")


# --- the report records the reporter's language -------------------------------------------------

REPORT = [
    ("sector", "policing"),
    ("role", "police officer"),
    ("harms", "outing"),
    ("what_happened", "Mi-a spus vecinilor."),
]


def test_the_form_without_javascript_seals_the_language_into_the_report(
    shared_intake: Intake, team: Team
) -> None:
    before = {e["id"] for e in shared_intake.pull()["envelopes"]}
    body = urlencode([*REPORT, ("lang", "ro")]).encode()
    response = shared_intake.client.post("/report", content=body, headers=FORM)
    assert response.status_code == 303
    assert response.headers["location"] == "/sent?lang=ro"
    assert html_lang(shared_intake.client.get(response.headers["location"]).text) == "ro"
    [item] = [e for e in shared_intake.pull()["envelopes"] if e["id"] not in before]
    report = open_report(base64.b64decode(item["body"]), team.keys.public_key, team.keys.secret_key)
    assert report.language == "ro"
    assert report.sector == "policing"  # the fields stay in English
    assert report.what_happened == "Mi-a spus vecinilor."


def test_read_form_records_the_language_it_is_given() -> None:
    assert read_form(REPORT, language="zh-Hans").report.language == "zh-Hans"  # type: ignore[union-attr]
    assert read_form(REPORT).report.language is None  # type: ignore[union-attr]


@pytest.mark.parametrize("tag", ["en", "pt-BR", "zh-Hans", "sr-Latn-RS"])
def test_a_report_takes_a_language_tag(tag: str) -> None:
    assert parse_report({**dict(REPORT), "harms": ["outing"], "language": tag}).language == tag


@pytest.mark.parametrize("tag", ["", "e", "english!", "en_GB", "x" * 40, "en-", "-en", 3])
def test_a_report_refuses_what_is_not_a_language_tag(tag: object) -> None:
    with pytest.raises(InvalidReportError):
        parse_report({**dict(REPORT), "harms": ["outing"], "language": tag})


@pytest.mark.parametrize("code", OTHERS)
def test_a_buttons_spoken_name_holds_its_visible_words(code: str) -> None:
    # WCAG 2.5.3 (label in name): "Remove" is shown, "Remove photo.jpg" is spoken.
    assert translated(code, "Remove") in translated(code, "Remove {name}")
