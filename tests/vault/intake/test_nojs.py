"""The form without JavaScript (docs/intake.md section 6), on a real server and unit by unit."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest

from tests.conftest import CANARY, bytes_under
from tests.vault.intake.conftest import Intake, IntakeFactory, Team
from vault.envelope import open_report
from vault.intake import languages
from vault.intake.config import PACKAGE_DIR
from vault.intake.nojs import MalformedForm, parse_form, read_form
from vault.intake.pages import environment

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TRICKY = 'Dr <b>"Smith"</b> & co'


class Fields(HTMLParser):
    """What a browser would show in the form: text values, ticked boxes, textarea text."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.ticked: set[tuple[str, str]] = set()
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        name = a.get("name") or ""
        if tag == "input" and a.get("type") in ("checkbox", "radio"):
            if "checked" in a:
                self.ticked.add((name, a.get("value") or ""))
        elif tag == "input":
            self.text[name] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = name
            self.text[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.text[self._textarea] += data


def fields_of(html: str) -> Fields:
    parser = Fields()
    parser.feed(html)
    return parser


def post(intake: Intake, pairs: list[tuple[str, str]]) -> tuple[int, str]:
    response = intake.client.post("/report", content=urlencode(pairs).encode(), headers=FORM)
    return response.status_code, response.text


GOOD = [
    ("sector", "policing"),
    ("role", "police officer"),
    ("harms", "outing"),
    ("harms", "abuse-of-power"),
    ("what_happened", f"He told my neighbours. {CANARY} ünïcödé"),
    ("when", "  "),
    ("where", "Leeds"),
    ("wants", "share-alert"),
    ("contact_method", "signal"),
    ("contact_value", "@someone"),
    ("consent_alert", "yes"),
    ("attachments", "photo.jpg"),  # a file input posts only its name without JS: ignored
]


def test_errors_come_back_with_everything_typed_kept(intake: Intake) -> None:
    pairs = [
        ("sector", "housing"),
        ("role", TRICKY),
        ("harms", "outing"),
        ("harms", "verbal-abuse"),
        ("what_happened", "   "),
        ("organisation", f"Council {CANARY}"),
        ("wants", "support"),
        ("contact_method", ""),
        ("contact_value", "07700 900000"),
        ("consent_research", "yes"),
    ]
    status, html = post(intake, pairs)
    assert status == 422
    assert "Tell us what happened, in your own words." in html
    assert "Choose how you would like us to contact you." in html
    shown = fields_of(html)
    assert shown.text["role"] == TRICKY
    assert shown.text["organisation"] == f"Council {CANARY}"
    assert shown.text["contact_value"] == "07700 900000"
    assert {("sector", "housing"), ("harms", "outing"), ("harms", "verbal-abuse")} <= shown.ticked
    assert {("wants", "support"), ("consent_research", "yes")} <= shown.ticked
    assert '<b>"Smith"</b>' not in html  # shown as text, never as markup
    assert intake.pull()["envelopes"] == []
    assert CANARY.encode() not in bytes_under(intake.data)


def test_a_valid_form_is_sealed_and_only_the_envelope_is_kept(intake: Intake, team: Team) -> None:
    status, _ = post(intake, GOOD)
    assert status == 303
    [item] = intake.pull()["envelopes"]
    report = open_report(base64.b64decode(item["body"]), team.keys.public_key, team.keys.secret_key)
    assert report.sector == "policing"
    assert report.harms == ["outing", "abuse-of-power"]
    assert report.what_happened == f"He told my neighbours. {CANARY} ünïcödé"
    assert report.when is None
    assert report.where == "Leeds"
    assert report.contact is not None
    assert (report.contact.method, report.contact.value) == ("signal", "@someone")
    assert (report.consent.alert, report.consent.research) == (True, False)
    assert report.reply_key is None
    assert report.attachments == []
    assert CANARY.encode() not in bytes_under(intake.data)


def test_a_sent_form_answers_see_other_so_it_cannot_be_posted_again(intake: Intake) -> None:
    response = intake.client.post("/report", content=urlencode(GOOD).encode(), headers=FORM)
    assert response.status_code == 303
    # Nothing about the report in the URL: only the language the page was shown in.
    assert response.headers["location"] == "/sent?lang=en"
    assert response.content == b""
    sent = intake.client.get("/sent")
    assert sent.status_code == 200
    assert 'id="sent-title"' in sent.text
    assert "report-form" not in sent.text  # the "sent" page, not the form again
    assert "If you took a codename" not in sent.text  # there is none without JavaScript
    # Reloading the page the browser landed on only gets the page again.
    assert intake.client.get("/sent").status_code == 200
    assert len(intake.pull()["envelopes"]) == 1


def test_the_form_path_has_no_proof_of_work_but_has_the_rate_cap(
    start_intake: IntakeFactory,
) -> None:
    intake = start_intake("--rate-per-minute", "1")
    assert post(intake, GOOD)[0] == 303
    response = intake.client.post("/report", content=urlencode(GOOD).encode(), headers=FORM)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "wait a minute" in response.text
    assert fields_of(response.text).text["where"] == "Leeds"  # nothing typed is lost
    assert len(intake.pull()["envelopes"]) == 1


def test_a_body_that_is_not_a_form_is_400(shared_intake: Intake) -> None:
    response = shared_intake.client.post("/report", content=b"role=%FF%FE", headers=FORM)
    assert response.status_code == 400
    assert response.json() == {"error": "malformed"}


# --- read_form, unit by unit ----------------------------------------------------------------


def errors_for(pairs: list[tuple[str, str]]) -> dict[str, str]:
    result = read_form(pairs)
    assert result.report is None
    return {e["field"]: e["message"] for e in result.errors}


def test_an_empty_form_asks_for_the_four_required_answers_in_order() -> None:
    result = read_form([])
    assert [e["field"] for e in result.errors] == ["sector", "role", "harms", "what_happened"]
    assert all(e["message"].endswith(".") for e in result.errors)


def test_values_not_on_the_form_are_refused_plainly() -> None:
    errors = errors_for([*GOOD, ("harms", "made-up"), ("sector", "ignored-second-value")])
    assert errors == {"harms": "Choose from the options on the form."}
    assert errors_for([("sector", "army"), *GOOD[1:]]) == {
        "sector": "Choose from the options on the form."
    }


def test_too_long_text_says_the_limit() -> None:
    long = [(k, "x" * 201 if k == "role" else v) for k, v in GOOD]
    assert errors_for(long) == {
        "role": "This is too long: please keep it to 200 characters or fewer."
    }
    longer = [(k, "x" * 50_001 if k == "what_happened" else v) for k, v in GOOD]
    assert "50,000" in errors_for(longer)["what_happened"]


def test_contact_needs_both_a_way_and_the_details() -> None:
    no_value = [(k, v) for k, v in GOOD if k != "contact_value"]
    assert set(errors_for(no_value)) == {"contact_value"}
    no_method = [(k, v) for k, v in GOOD if k != "contact_method"]
    assert set(errors_for(no_method)) == {"contact_method"}
    neither = [(k, v) for k, v in GOOD if not k.startswith("contact")]
    result = read_form([*neither, ("contact_method", "")])
    assert result.report is not None
    assert result.report.contact is None


def test_values_are_kept_as_typed() -> None:
    result = read_form([("role", "  GP  "), ("harms", "outing"), ("harms", "outing")])
    assert result.values["role"] == "  GP  "
    assert result.values["harms"] == ["outing"]


@pytest.mark.parametrize("body", [b"\xff\xfe", b"a=%ff", b"&".join([b"a=1"] * 500)])
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(MalformedForm):
        parse_form(body)


def test_role_not_known_and_the_alert_asked_once() -> None:
    base = [("sector", "policing"), ("harms", "outing"), ("what_happened", "x")]
    unknown = read_form([*base, ("role", "  "), ("role_unknown", "yes")])
    assert unknown.report is not None
    assert unknown.report.role == "not known"
    typed = read_form([*base, ("role", "GP"), ("role_unknown", "yes")])
    assert typed.report is not None
    assert typed.report.role == "GP"
    missing = read_form(base)
    message = "Tell us the professional's job, or tick ‘I do not know their job’."
    assert missing.errors == [{"field": "role", "message": message}]
    alert = read_form([*base, ("role", "GP"), ("wants", "support"), ("consent_alert", "yes")])
    assert alert.report is not None
    assert alert.report.consent.alert
    assert alert.report.wants == ["support", "share-alert"]
    quiet = read_form([*base, ("role", "GP")])
    assert quiet.report is not None
    assert not quiet.report.consent.alert
    assert quiet.report.wants == []


@pytest.mark.parametrize(
    ("days", "said"),
    [(1, "within 1 working day."), (5, "within 5 working days."), (90, "within 90 working days.")],
)
def test_the_sent_page_says_working_days_in_good_english(days: int, said: str) -> None:
    english = languages.load()["en"]
    templates = environment(PACKAGE_DIR / "templates", english)
    text = templates.get_template("_sent.html").render(
        settings={"reply_days": days, "helpline": "H.", "emergency": "E.", "exit_url": "x"},
        nojs=False,
    )
    assert f"A caseworker will read your report {said}" in text
    after = "after 1 working day." if days == 1 else f"after {days} working days."
    assert f"Check back {after}" in text
    assert "1 working days" not in text
