"""Replies read without JavaScript (vault/intake/codename.py, `POST /replies`): the codename is
read as the page reads it, the replies opened on the server, and nothing is kept."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import unicodedata
from pathlib import Path
from urllib.parse import urlencode

import mnemonic
import nacl.bindings as sodium
from hypothesis import example, given
from hypothesis import strategies as st

from tests.vault.intake.conftest import Intake, IntakeFactory, as_json
from vault.intake import codename
from vault.replies import mailbox_id, seal_reply

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
WORDS = (Path(mnemonic.__file__).parent / "wordlist" / "english.txt").read_text().split()


def words_for(entropy: bytes) -> list[str]:
    check = hashlib.sha256(entropy).digest()[0] >> 5
    bits = format(int.from_bytes(entropy, "big"), "096b") + format(check, "03b")
    return [WORDS[int(bits[i : i + 11], 2)] for i in range(0, 99, 11)]


def reply_pk(entropy: bytes) -> bytes:
    """docs/intake.md section 7, written out again: BLAKE2b-256 of the purpose and E."""
    seed = hashlib.blake2b(b"redress codename reply key v1\x00" + entropy, digest_size=32)
    pk, _sk = sodium.crypto_box_seed_keypair(seed.digest())
    return bytes(pk)


def test_typing_is_forgiving_and_problems_are_named() -> None:
    entropy = os.urandom(12)
    words = words_for(entropy)
    for typed in (
        " ".join(words),
        ", ".join(w.upper() for w in words),
        "-".join(w[:4] for w in words),
    ):
        assert codename.parse(typed) == entropy
    assert codename.parse("  ") == "empty"
    assert codename.parse(" ".join(words[:8])) == "count"
    assert codename.parse(" ".join([*words[:8], "qqqq"])) == "word"
    # The last word's low 3 bits are the checksum: change only them, so the entropy stays
    # and its checksum is wrong whatever was drawn (+1 could carry into the entropy, whose
    # own checksum then matched about once in 64 runs).
    last = WORDS.index(words[8])
    wrong = [*words[:8], WORDS[(last & ~7) | ((last + 1) & 7)]]
    assert codename.parse(" ".join(wrong)) == "checksum"


@example(b"\xc2\x02,c\xd6CY:3\x8b\xa7\x0f", "portuguese")  # its starts spell a Spanish one
@given(st.binary(min_size=12, max_size=12), st.sampled_from(codename.LISTS))
def test_a_codename_means_the_same_in_every_list(entropy: bytes, name: str) -> None:
    words = codename.words_for(entropy, name)
    assert codename.words_for(entropy) == words_for(entropy)  # the English list, as before
    assert codename.parse(" ".join(words)) == entropy
    # Typed as four-letter starts, the words of one list can spell a codename of another
    # (Portuguese read as Spanish about once in 45,000): the page's own list is tried first.
    assert codename.parse(" ".join(codename.fold(w)[:4].upper() for w in words), name) == entropy
    if name == "chinese_simplified":
        assert codename.parse("".join(words)) == entropy  # nine characters, no spaces


def test_words_from_other_lists_are_read_as_typed() -> None:
    entropy = bytes(range(12))
    spanish = codename.words_for(entropy, "spanish")
    assert any(w != codename.fold(w) for w in codename.wordlist("spanish"))  # accents exist
    typed = " ".join(codename.fold(w) for w in spanish)  # typed without accents
    assert codename.parse(typed) == entropy
    assert codename.parse(unicodedata.normalize("NFD", " ".join(spanish))) == entropy
    chinese = codename.words_for(entropy, "chinese_simplified")
    assert all(len(w) == 1 for w in chinese)
    assert codename.parse("，".join(chinese)) == entropy  # a Chinese comma separates too
    assert codename.parse(" ".join(chinese)) == entropy
    assert codename.parse(" ".join([*chinese[:8], "qqqq"])) == "word"
    mixed = [*codename.words_for(entropy, "portuguese")[:4], *spanish[4:]]
    assert codename.parse(" ".join(mixed)) == "word"  # nine words from one list, not two
    assert codename.list_for("es") == "spanish"
    assert codename.list_for("pt-BR") == "portuguese"
    assert codename.list_for("zh-Hans") == "chinese_simplified"
    assert {codename.list_for(c) for c in ("en", "ro", "pl", "bg", "hu", "th")} == {"english"}


def test_the_mailbox_is_the_one_the_vault_replies_to() -> None:
    entropy = os.urandom(12)
    box = codename.mailbox(entropy)
    assert box.public_key == reply_pk(entropy)
    assert box.mailbox_id.hex() == mailbox_id(reply_pk(entropy))
    sealed = seal_reply("Hello", "2025-05-01", "triage", box.public_key, can_answer=True)
    other = seal_reply("Not yours", "2025-05-02", None, reply_pk(os.urandom(12)))
    [reply] = codename.open_replies(box, [sealed, other, b"junk"])
    assert (reply.text, reply.status, reply.can_answer) == ("Hello", "triage", True)
    assert reply.heading == "Reply from a caseworker, 1 May 2025"
    assert "Hello" not in repr(reply)


def read(intake: Intake, typed: str, lang: str = "en") -> tuple[int, str]:
    """Post a codename; a good one is answered with a redirect to a page shown once."""
    body = urlencode({"codename": typed, "lang": lang}).encode()
    response = intake.client.post("/replies", content=body, headers=FORM)
    assert "set-cookie" not in response.headers
    if response.status_code != 303:
        return response.status_code, response.text
    location = response.headers["location"]
    refused = re.fullmatch(rf"/replies\?lang={lang}&problem=([a-z]+)(&wait=[0-9]+)?", location)
    if refused:  # a refusal names the problem only: the codename is nowhere in the address
        assert all(word not in location for word in typed.split())
        shown = intake.client.get(location)
        return shown.status_code, shown.text
    assert re.fullmatch(rf"/replies/[A-Za-z0-9_-]{{43}}\?lang={lang}", location)
    shown = intake.client.get(location)
    # Once only: Back and reload (a GET of the same address) find it gone.
    again = intake.client.get(location)
    assert again.status_code == 410
    assert 'id="replies-gone"' in again.text
    assert 'id="server-codename"' in again.text
    assert "server-replies-title" not in again.text
    return shown.status_code, shown.text


def test_replies_are_read_on_the_server(shared_intake: Intake) -> None:
    entropy = os.urandom(12)
    pk = reply_pk(entropy)
    text = "We have read your report <and> will call."
    sealed = seal_reply(text, "2025-05-01", "supporting", pk, can_answer=True)
    doc = {"replies": [{"mailbox": mailbox_id(pk), "body": base64.b64encode(sealed).decode()}]}
    stored = shared_intake.signed("POST", "/api/replies", as_json(doc))
    assert stored.status_code == 200, stored.text

    status, page = read(shared_intake, " ".join(w[:4].upper() for w in words_for(entropy)))
    assert status == 200
    assert "We have read your report &lt;and&gt; will call." in page
    assert "We are supporting you." in page
    assert "Reply from a caseworker, 1 May 2025" in page

    status, page = read(shared_intake, " ".join(words_for(os.urandom(12))))
    assert status == 200
    assert "There are no replies yet" in page

    # The same codename in Chinese, typed without spaces, opens the same mailbox, and the
    # page in Chinese writes the date as Chinese does.
    chinese = "".join(codename.words_for(entropy, "chinese_simplified"))
    status, page = read(shared_intake, chinese, "zh-Hans")
    assert status == 200
    assert "We have read your report &lt;and&gt; will call." in page
    assert "2025年5月1日" in page


def test_an_erased_report_read_on_the_server_offers_nothing_more(shared_intake: Intake) -> None:
    """As with JavaScript: the erasure is said, and answering or withdrawing is not offered."""
    entropy = os.urandom(12)
    pk = reply_pk(entropy)
    replies = [
        seal_reply("We are looking into it.", "2025-05-01", "supporting", pk, can_answer=True),
        seal_reply("Your report was erased, as you asked.", "2025-05-02", "erased", pk),
    ]
    doc = {
        "replies": [
            {"mailbox": mailbox_id(pk), "body": base64.b64encode(r).decode()} for r in replies
        ]
    }
    assert shared_intake.signed("POST", "/api/replies", as_json(doc)).status_code == 200
    status, page = read(shared_intake, " ".join(words_for(entropy)))
    assert status == 200
    assert "Your report was erased, as you asked." in page
    assert "Your report has been erased from our records." in page
    assert "server-answer-how" not in page
    assert "with JavaScript turned on" not in page

    # Not erased: the page says how to answer.
    other = os.urandom(12)
    sealed = seal_reply("Hello", "2025-05-01", None, reply_pk(other), can_answer=True)
    doc = {
        "replies": [
            {"mailbox": mailbox_id(reply_pk(other)), "body": base64.b64encode(sealed).decode()}
        ]
    }
    assert shared_intake.signed("POST", "/api/replies", as_json(doc)).status_code == 200
    status, page = read(shared_intake, " ".join(words_for(other)))
    assert status == 200
    assert 'id="server-answer-how"' in page


def test_the_codename_fields_ask_the_browser_not_to_remember_them(shared_intake: Intake) -> None:
    page = shared_intake.client.get("/replies").text
    for field in ("codename", "server-codename"):
        tag = re.search(rf'<textarea[^>]* id="{field}"[^>]*>', page)
        assert tag is not None
        assert 'autocomplete="off"' in tag.group(0)


def test_a_bad_codename_or_body_is_refused_plainly(shared_intake: Intake) -> None:
    status, page = read(shared_intake, "apple banana")
    assert status == 422
    assert "Your codename has 9 words" in page
    assert 'aria-invalid="true"' in page
    too_big = shared_intake.client.post(
        "/replies", content=b"codename=" + b"a" * (9 << 10), headers=FORM
    )
    assert too_big.status_code == 413
    wrong_type = shared_intake.client.post("/replies", content=b"{}", headers=as_headers())
    assert wrong_type.status_code == 415


def test_a_refused_codename_is_a_redirect_so_back_never_sends_it_again(
    start_intake: IntakeFactory,
) -> None:
    """422 and 429 are not answers to the post: the browser is sent (303) to GET /replies
    naming the problem, which shows the page with the error; reloading it posts nothing."""
    intake = start_intake("--rate-per-minute", "1")
    body = urlencode({"codename": "apple banana", "lang": "pl"}).encode()
    response = intake.client.post("/replies", content=body, headers=FORM)
    assert response.status_code == 303
    assert response.headers["location"] == "/replies?lang=pl&problem=count"
    assert response.content == b""
    for _ in range(2):  # reload: the same page, and nothing posted
        shown = intake.client.get(response.headers["location"])
        assert shown.status_code == 422
        assert 'aria-invalid="true"' in shown.text
        assert 'lang="pl"' in shown.text
    busy = intake.client.post("/replies", content=body, headers=FORM)
    assert busy.status_code == 303
    where = busy.headers["location"]
    assert re.fullmatch(r"/replies\?lang=pl&problem=busy&wait=[0-9]+", where)
    shown = intake.client.get(where)
    assert shown.status_code == 429
    assert 1 <= int(shown.headers["Retry-After"]) <= 60
    assert 'id="server-codename"' in shown.text
    odd = intake.client.get("/replies?problem=busy&wait=99999999999")
    assert odd.headers["Retry-After"] == "60"
    assert intake.client.get("/replies?problem=nonsense").status_code == 200


def as_headers() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def test_an_unknown_page_token_is_gone(shared_intake: Intake) -> None:
    for token in ("x" * 43, "short", "a" * 200):
        gone = shared_intake.client.get(f"/replies/{token}")
        assert gone.status_code == 410
        assert "This page has gone" in gone.text


def test_the_page_languages_list_is_read_first() -> None:
    # Found by review: these Portuguese words typed as 4-letter starts also make a Spanish
    # codename whose checksum holds; a reporter on the Portuguese page means Portuguese.
    words = "sagrada mirante loteria avante novilho alarme cuidado carreira patinar"
    starts = " ".join(w[:4] for w in words.split())
    meant = codename.parse(words)
    assert isinstance(meant, bytes)
    assert codename.parse(starts, codename.list_for("pt-BR")) == meant
    assert codename.parse(starts) != meant  # an English page tries Spanish before Portuguese
    # a page's own list never stops a codename in another list being read
    english = " ".join(codename.words_for(meant, "english"))
    assert codename.parse(english, "portuguese") == meant
