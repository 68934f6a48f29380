"""The report a reporter sends: a strict, frozen pydantic model and its canonical JSON.

The field names and values are the contract (``docs/format.md``,
``shared/brief/contract.md``). Unknown fields are refused, so nothing extra
slips into a sealed report by accident.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from vault.errors import InvalidReportError

REPORT_VERSION = 1

Sector = Literal["policing", "healthcare", "housing", "education", "support-services", "other"]
Harm = Literal[
    "racial-discrimination",
    "violence",
    "sexual-violence",
    "refusal-of-service",
    "abuse-of-power",
    "outing",
    "verbal-abuse",
    "other",
]
Want = Literal["support", "complaint-help", "share-alert", "nothing"]
ContactMethod = Literal["email", "phone", "text", "whatsapp", "signal", "post", "other"]

SECTORS: tuple[str, ...] = Sector.__args__  # type: ignore[attr-defined]
HARMS: tuple[str, ...] = Harm.__args__  # type: ignore[attr-defined]
WANTS: tuple[str, ...] = Want.__args__  # type: ignore[attr-defined]

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50_000)]
# A BCP 47 language tag, as the intake names the languages it speaks ("en", "pt-BR", "zh-Hans").
LanguageTag = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$", max_length=35)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Contact(_Strict):
    """How a reporter would like to be contacted. Only caseworkers ever read it."""

    method: ContactMethod
    value: ShortText

    def __repr__(self) -> str:
        return f"<Contact by {self.method}: hidden>"

    __str__ = __repr__


class Consent(_Strict):
    alert: bool = False
    research: bool = False


def _b64_key(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be a base64-encoded 32-byte key") from None
    if len(raw) != 32:
        raise ValueError("must be a base64-encoded 32-byte key")
    return value


class Attachment(_Strict):
    """A file sealed separately; the report carries what opens it."""

    name: ShortText
    type: ShortText
    size: int = Field(ge=0, le=1 << 40)  # a whole number in any JSON reader
    key: str
    blob: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _b64_key(value)

    def __repr__(self) -> str:
        # its name can say who sent it, and its key opens it
        return f"<Attachment {self.blob[:8]}… of {self.size} bytes: name and key hidden>"

    __str__ = __repr__


class Report(_Strict):
    """One report of harm by a professional. Required fields first."""

    v: Literal[1] = 1
    sector: Sector
    role: ShortText
    harms: Annotated[list[Harm], Field(min_length=1, max_length=len(HARMS))]
    what_happened: LongText
    when: ShortText | None = None
    where: ShortText | None = None
    organisation: ShortText | None = None
    professional_identifier: ShortText | None = None
    wants: Annotated[list[Want], Field(max_length=len(WANTS))] = []
    contact: Contact | None = None
    consent: Consent = Consent()
    reply_key: str | None = None
    # The codename's Ed25519 public key: the reporter's answers and withdrawal are signed
    # with it (vault/reporter_messages.py). Reports made before it existed have none.
    reply_signing_key: str | None = None
    attachments: Annotated[list[Attachment], Field(max_length=20)] = []
    # The language the reporter used the form in, so a reply can be written in it. The
    # fields above stay in English (their values are the contract); what_happened and the
    # other texts are as the reporter typed them. Reports made before it existed have none.
    language: LanguageTag | None = None

    @field_validator("v", mode="before")
    @classmethod
    def _version(cls, value: object) -> object:
        # Literal[1] alone takes true and 1.0 (both equal 1 in Python): the version is the
        # whole number 1 and nothing else.
        if type(value) is not int:
            raise ValueError("must be the number 1")
        return value

    @field_validator("harms", "wants")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists the same choice twice")
        return value

    @field_validator("reply_key", "reply_signing_key")
    @classmethod
    def _reply_key(cls, value: str | None) -> str | None:
        return None if value is None else _b64_key(value)

    def canonical_json(self) -> bytes:
        """UTF-8 JSON with sorted keys, no spaces, and unset optional fields left out."""
        return canonical_json(self.model_dump(mode="json", exclude_none=True))

    def __repr__(self) -> str:
        # A report is the most sensitive thing we hold: never print it by accident.
        return f"<Report sector={self.sector} harms={len(self.harms)}: content hidden>"

    __str__ = __repr__


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_report(data: bytes | str | dict[str, Any]) -> Report:
    """Validate a report, turning pydantic's errors into a plain sentence naming the field."""
    try:
        if isinstance(data, dict):
            return Report.model_validate(data)
        return Report.model_validate_json(data)
    except ValidationError as e:
        raise InvalidReportError(_explain(e)) from None


def _explain(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        path = ".".join(str(p) for p in item["loc"])
        where = f"'{path}'" if path else "it"
        problems.append(f"{where} {_plain(item['type'], item.get('ctx') or {}, item['msg'])}")
        if len(problems) == 3:
            break
    more = error.error_count() - len(problems)
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    return "The report is not valid: " + "; ".join(problems) + tail + "."


def _plain(kind: str, ctx: dict[str, Any], msg: str) -> str:
    if kind == "missing":
        return "is missing"
    if kind == "extra_forbidden":
        return "is not a report field"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind in ("string_too_short",):
        return "is empty"
    if kind in ("string_too_long", "too_long"):
        return "is too long"
    if kind == "too_short":
        return "needs at least one choice"
    if kind in ("string_type", "bool_type", "int_type", "list_type", "model_type", "dict_type"):
        return "has the wrong type of value"
    if kind == "json_invalid":
        return "is not valid JSON"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return msg[:1].lower() + msg[1:]
