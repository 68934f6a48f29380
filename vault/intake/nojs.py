"""The form without JavaScript: read the posted fields into a report, or say what to fix.

The browser posts ``application/x-www-form-urlencoded`` with fields named as the
report's (``docs/intake.md`` section 6), checkboxes ``harms`` and ``wants``, and
``contact_method`` / ``contact_value``, ``consent_alert`` / ``consent_research``, and
``role_unknown`` (the reporter does not know the professional's job: the role is then
``not known``). The alert is asked once: ``consent_alert`` ticked also adds the want
``share-alert``.
The same pydantic :class:`~vault.report.Report` model decides what is valid; this
module only turns its verdict into one plain sentence per field, and keeps every
value exactly as typed so the form can be shown again without losing a word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from vault.intake.languages import N_
from vault.report import Report

TEXT_FIELDS: dict[str, int] = {
    "role": 200,
    "what_happened": 50_000,
    "when": 200,
    "where": 200,
    "organisation": 200,
    "professional_identifier": 200,
}
LIST_FIELDS = ("harms", "wants")
SINGLE_FIELDS = (
    "sector",
    *TEXT_FIELDS,
    "contact_method",
    "contact_value",
    "consent_alert",
    "consent_research",
    "role_unknown",
)
# The order fields appear on the form, so errors are listed in the same order.
FIELD_ORDER = (
    "sector",
    "role",
    "harms",
    "what_happened",
    "when",
    "where",
    "organisation",
    "professional_identifier",
    "wants",
    "contact_method",
    "contact_value",
    "consent_alert",
    "consent_research",
)
MAX_FIELDS = 200
NO_CONTACT = ("", "none")
ROLE_NOT_KNOWN = "not known"  # the role when the reporter ticks "I do not know their job"
ALERT_WANT = "share-alert"
_OFF = ("", "0", "false", "no", "off")

_MISSING = {
    "sector": N_("Choose who harmed you."),
    "role": N_("Tell us the professional's job, or tick ‘I do not know their job’."),
    "harms": N_("Choose at least one thing that happened."),
    "what_happened": N_("Tell us what happened, in your own words."),
    "contact_method": N_("Choose how you would like us to contact you."),
    "contact_value": N_("Add the details we should contact you on, or choose no contact."),
}
_NOT_A_CHOICE = N_("Choose from the options on the form.")
_CHECK = N_("Please check this answer.")
# Too long, for each limit a field has (the number written as each language writes it).
_TOO_LONG = {
    200: N_("This is too long: please keep it to 200 characters or fewer."),
    50_000: N_("This is too long: please keep it to 50,000 characters or fewer."),
}


class MalformedForm(Exception):
    """The body is not a form a browser would send."""


Values = dict[str, str | list[str]]


@dataclass(frozen=True, slots=True)
class FormResult:
    """A valid report, or the errors to show; ``values`` is what was typed, for re-filling."""

    report: Report | None
    errors: list[dict[str, str]] = field(default_factory=list)
    values: Values = field(default_factory=dict)


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """Decode an urlencoded body (UTF-8), refusing anything a browser would not send."""
    try:
        return parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise MalformedForm() from None


def read_form(pairs: list[tuple[str, str]], *, language: str | None = None) -> FormResult:
    """The report the fields describe, or one plain error per field that needs fixing.

    ``language`` is the language the form was shown in (the intake chose it from the
    ``lang`` field): the report records it."""
    values: Values = {}
    for name, value in pairs:
        if name in LIST_FIELDS:
            listed = values.setdefault(name, [])
            if isinstance(listed, list) and value not in listed:
                listed.append(value)
        elif name in SINGLE_FIELDS and name not in values:
            values[name] = value

    errors: dict[str, str] = {}
    data: dict[str, Any] = {"v": 1}
    if language:
        data["language"] = language
    sector = _single(values, "sector").strip()
    if sector:
        data["sector"] = sector
    for name in TEXT_FIELDS:
        text = _single(values, name).strip()
        if text:
            data[name] = text
    if "role" not in data and _ticked(values, "role_unknown"):
        data["role"] = ROLE_NOT_KNOWN
    data["harms"] = [v for v in _listed(values, "harms") if v]
    data["wants"] = [v for v in _listed(values, "wants") if v]
    if _ticked(values, "consent_alert") and ALERT_WANT not in data["wants"]:
        data["wants"].append(ALERT_WANT)

    method = _single(values, "contact_method").strip()
    contact_value = _single(values, "contact_value").strip()
    if contact_value and method in NO_CONTACT:
        errors["contact_method"] = _MISSING["contact_method"]
    elif method not in NO_CONTACT and not contact_value:
        errors["contact_value"] = _MISSING["contact_value"]
    elif contact_value:
        data["contact"] = {"method": method, "value": contact_value}
    data["consent"] = {
        "alert": _ticked(values, "consent_alert"),
        "research": _ticked(values, "consent_research"),
    }

    report: Report | None = None
    try:
        report = Report.model_validate(data)
    except ValidationError as e:
        for item in e.errors(include_url=False, include_input=False):
            name = _field_of(item["loc"])
            errors.setdefault(name, _sentence(name, item["type"]))
    if errors:
        ordered = sorted(errors.items(), key=lambda kv: _position(kv[0]))
        return FormResult(
            report=None,
            errors=[{"field": name, "message": message} for name, message in ordered],
            values=values,
        )
    return FormResult(report=report, values=values)


def _single(values: Values, name: str) -> str:
    value = values.get(name, "")
    return value if isinstance(value, str) else ""


def _listed(values: Values, name: str) -> list[str]:
    value = values.get(name, [])
    return value if isinstance(value, list) else [value]


def _ticked(values: Values, name: str) -> bool:
    return _single(values, name).strip().lower() not in _OFF


def _field_of(loc: tuple[int | str, ...]) -> str:
    if loc[:2] == ("contact", "method"):
        return "contact_method"
    if loc[:1] == ("contact",):
        return "contact_value"
    if loc[:1] == ("consent",) and len(loc) > 1:
        return f"consent_{loc[1]}"
    return str(loc[0]) if loc else ""


def _sentence(name: str, kind: str) -> str:
    if kind in ("missing", "string_too_short", "too_short"):
        return _MISSING.get(name, _CHECK)
    if kind in ("literal_error", "enum"):
        return _NOT_A_CHOICE
    if kind in ("string_too_long", "too_long"):
        limit = TEXT_FIELDS.get(name, 200)
        if name in LIST_FIELDS:
            return _NOT_A_CHOICE
        return _TOO_LONG[limit]
    if kind == "value_error" and name in LIST_FIELDS:
        return _NOT_A_CHOICE
    return _CHECK


def _position(name: str) -> int:
    return FIELD_ORDER.index(name) if name in FIELD_ORDER else len(FIELD_ORDER)
