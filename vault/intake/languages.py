"""The reporter's language: which one a request asks for, and the messages in it.

The intake speaks English and eight languages (``docs/intake.md``, "Languages"). Every
sentence a reporter reads is an English message id marked in the templates (``_()``),
the browser's scripts (``t()``, ``static/i18n.js``) or this package's Python (``N_()``),
translated in a gettext catalog, ``locale/<code>/LC_MESSAGES/intake.po``. The catalogs
are read and compiled in memory when the intake starts: there is no build step.

The language is chosen by ``?lang=CODE`` (links carry it, and the no-JavaScript forms
post it in a hidden field); without one, ``Accept-Language`` preselects it. Nothing is
remembered: no cookie, no browser storage, as a phone may be shared.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

PACKAGE_DIR = Path(__file__).parent
LOCALE_DIR = PACKAGE_DIR / "locale"
DOMAIN = "intake"
DEFAULT = "en"

# Each language by its code (BCP 47, as in <html lang>) and its own name, in the order
# the switch shows them. Chinese is the Simplified script, whatever the region: zh-Hans.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "ro": "Română",
    "pt-BR": "Português (Brasil)",
    "es": "Español",
    "pl": "Polski",
    "bg": "Български",
    "hu": "Magyar",
    "th": "ไทย",
    "zh-Hans": "简体中文",
}
# A language's primary subtag, as browsers send it, to the one we have.
_BY_PRIMARY = {code.split("-")[0].lower(): code for code in LANGUAGES}
# Chinese written in Traditional characters: not served as Simplified.
_TRADITIONAL = {"hant", "tw", "hk", "mo"}
MAX_ACCEPT = 4096  # characters of Accept-Language read; the rest is ignored
MAX_RANGES = 32


def N_(message: str) -> str:
    """Marks an English message id for extraction; it is translated where it is shown."""
    return message


def match(tag: str) -> str | None:
    """The language we have for a tag (``ro``, ``pt-br``, ``zh-CN``...), or None."""
    parts = tag.strip().replace("_", "-").lower().split("-")
    if not parts or not parts[0]:
        return None
    exact = {code.lower(): code for code in LANGUAGES}
    if "-".join(parts) in exact:
        return exact["-".join(parts)]
    if parts[0] == "zh" and "hans" not in parts[1:] and _TRADITIONAL & set(parts[1:]):
        return None  # Traditional Chinese (zh-TW, zh-Hant...) unless Simplified is named
    return _BY_PRIMARY.get(parts[0])


def from_accept(header: str | None) -> str | None:
    """The best language we have among an ``Accept-Language`` header's, or None.

    Tolerant of anything: a malformed range or weight is skipped, never an error."""
    if not header:
        return None
    ranges: list[tuple[float, int, str]] = []
    for position, item in enumerate(header[:MAX_ACCEPT].split(",")[:MAX_RANGES]):
        tag, _, params = item.partition(";")
        weight = 1.0
        params = params.strip().lower()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
            if not 0 < weight <= 1:  # q=0: "not this one"; nan and out of range: skipped
                continue
        ranges.append((-weight, position, tag))
    for _, _, tag in sorted(ranges):
        found = match(tag)
        if found:
            return found
    return None


def choose(asked: str | None, accept: str | None) -> str:
    """``?lang=`` (or the form's hidden field) first, then Accept-Language, then English.

    ``?lang=`` is read as one language tag: ``zh`` or ``zh-CN`` is ``zh-Hans``, ``pt`` is
    ``pt-BR``, as in Accept-Language; one we do not have is English."""
    if asked:
        return (match(asked) or DEFAULT) if len(asked) < 40 else DEFAULT
    return from_accept(accept) or DEFAULT


def po_path(code: str) -> Path:
    return LOCALE_DIR / code.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


def babel_locale(code: str) -> Locale:
    """Dates and numbers: English as written in the UK, where the charity is."""
    return Locale.parse("en_GB" if code == DEFAULT else code.replace("-", "_"))


# --- extraction -----------------------------------------------------------------------------

TEMPLATE_KEYWORDS = {"_": None, "gettext": None}
JS_KEYWORDS = {"t": None}
PY_KEYWORDS = {"N_": None}


@dataclass(frozen=True, slots=True)
class Message:
    msgid: str
    where: str  # "file:line" of its first use


def extract_messages(
    templates_dir: Path = PACKAGE_DIR / "templates",
    static_dir: Path = PACKAGE_DIR / "static",
    python_dir: Path = PACKAGE_DIR,
) -> list[Message]:
    """Every message id used in the templates, the scripts and the package's Python."""
    found: dict[str, Message] = {}
    sources: list[tuple[str, Iterable[Path], dict[str, None]]] = [
        ("jinja2.ext:babel_extract", sorted(templates_dir.glob("*.html")), TEMPLATE_KEYWORDS),
        ("javascript", sorted(static_dir.glob("*.js")), JS_KEYWORDS),
        ("python", sorted(python_dir.glob("*.py")), PY_KEYWORDS),
    ]
    for method, paths, keywords in sources:
        for path in paths:
            options = {"parse_template_string": "true"} if method == "javascript" else {}
            with path.open("rb") as f:
                for line, msgid, _, _ in extract(method, f, keywords=keywords, options=options):
                    if isinstance(msgid, str) and msgid and msgid not in found:
                        found[msgid] = Message(msgid, f"{path.name}:{line}")
    return list(found.values())


def script_messages(static_dir: Path = PACKAGE_DIR / "static") -> list[str]:
    """The message ids the browser's scripts use, which each page embeds translated."""
    empty = PACKAGE_DIR / "__no_such_dir__"
    return [m.msgid for m in extract_messages(empty, static_dir, empty)]


def read_catalog(code: str) -> Catalog:
    with po_path(code).open("rb") as f:
        return read_po(f, locale=code.replace("-", "_"), domain=DOMAIN)


# --- at run time ------------------------------------------------------------------------------


class Translator:
    """One language's messages, for the templates (gettext) and the scripts (a table)."""

    def __init__(self, code: str, translations: gettext.NullTranslations, scripts: list[str]):
        self.code = code
        self.translations = translations
        self.locale = babel_locale(code)
        self.script_table = {msgid: self.gettext(msgid) for msgid in scripts}

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def long_date(self, day: date) -> str:
        return format_date(day, format="long", locale=self.locale)


def load(static_dir: Path = PACKAGE_DIR / "static") -> dict[str, Translator]:
    """Every language's translator, compiled in memory from the catalogs."""
    scripts = script_messages(static_dir)
    loaded = {DEFAULT: Translator(DEFAULT, gettext.NullTranslations(), scripts)}
    for code in LANGUAGES:
        if code == DEFAULT:
            continue
        compiled = io.BytesIO()
        write_mo(compiled, read_catalog(code), use_fuzzy=False)
        compiled.seek(0)
        loaded[code] = Translator(code, gettext.GNUTranslations(compiled), scripts)
    return loaded
