"""Who a report names: the professional's identifiers, normalised per register, so that reports
naming the same person can be found (``vault patterns``, and "also named in" on ``cases show``).

Pure functions over four fields of a report (``professional_identifier``, ``organisation``,
``role``, ``sector``); nothing here reads a vault. Each rule is written out, with examples, in
docs/patterns.md; the tests (tests/vault/test_professionals.py) hold real-world spellings.

An identifier from a register (GMC, NMC, HCPC, Social Work England) or a police number with its
force is *the same* professional when two reports give it; a name, or an organisation with a
role, only *possibly* the same.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

SAME = "same"
POSSIBLE = "possible"
# kinds, in the order groups are listed
REGISTER_KINDS = ("gmc", "nmc", "hcpc", "swe", "police")
POSSIBLE_KINDS = ("name", "organisation-role")
KINDS = REGISTER_KINDS + POSSIBLE_KINDS


@dataclass(frozen=True, slots=True, order=True)
class Professional:
    """One way a report names a professional: ``key`` is what must match, ``shown`` how it is
    shown. Holds what a reporter wrote about a person: keep it in memory."""

    kind: str
    key: str
    shown: str

    @property
    def strength(self) -> str:
        return SAME if self.kind in REGISTER_KINDS else POSSIBLE

    def __repr__(self) -> str:
        return f"<Professional {self.kind}: hidden>"


# --- police forces: every alias (lower case, "&" as "and", no punctuation) to one name --------

_FORCE_PLACES = {
    "Avon and Somerset Constabulary": ["avon and somerset"],
    "Bedfordshire Police": ["bedfordshire"],
    "British Transport Police": ["british transport", "btp"],
    "Cambridgeshire Constabulary": ["cambridgeshire"],
    "Cheshire Constabulary": ["cheshire"],
    "City of London Police": ["city of london", "colp"],
    "Cleveland Police": ["cleveland"],
    "Cumbria Constabulary": ["cumbria"],
    "Derbyshire Constabulary": ["derbyshire"],
    "Devon and Cornwall Police": ["devon and cornwall"],
    "Dorset Police": ["dorset"],
    "Durham Constabulary": ["durham"],
    "Dyfed-Powys Police": ["dyfed powys", "dyfedpowys"],
    "Essex Police": ["essex"],
    "Gloucestershire Constabulary": ["gloucestershire"],
    "Greater Manchester Police": ["greater manchester", "gmp"],
    "Gwent Police": ["gwent"],
    "Hampshire and Isle of Wight Constabulary": [
        "hampshire and isle of wight",
        "hampshire",
    ],
    "Hertfordshire Constabulary": ["hertfordshire", "herts"],
    "Humberside Police": ["humberside"],
    "Kent Police": ["kent"],
    "Lancashire Constabulary": ["lancashire"],
    "Leicestershire Police": ["leicestershire"],
    "Lincolnshire Police": ["lincolnshire"],
    "Merseyside Police": ["merseyside"],
    "Metropolitan Police Service": [
        "metropolitan",
        "the met",
        "met",
        "mps",
        "metpol",
        "scotland yard",
    ],
    "Norfolk Constabulary": ["norfolk"],
    "North Wales Police": ["north wales"],
    "North Yorkshire Police": ["north yorkshire"],
    "Northamptonshire Police": ["northamptonshire"],
    "Northumbria Police": ["northumbria"],
    "Nottinghamshire Police": ["nottinghamshire", "notts"],
    "Police Scotland": ["scotland"],
    "Police Service of Northern Ireland": ["northern ireland", "psni"],
    "South Wales Police": ["south wales"],
    "South Yorkshire Police": ["south yorkshire", "syp"],
    "Staffordshire Police": ["staffordshire"],
    "Suffolk Constabulary": ["suffolk"],
    "Surrey Police": ["surrey"],
    "Sussex Police": ["sussex"],
    "Thames Valley Police": ["thames valley", "tvp"],
    "Warwickshire Police": ["warwickshire"],
    "West Mercia Police": ["west mercia"],
    "West Midlands Police": ["west midlands", "wmp"],
    "West Yorkshire Police": ["west yorkshire", "wyp"],
    "Wiltshire Police": ["wiltshire"],
}
# Abbreviations stand alone ("MPS", "the Met"); a place needs a police word after it
# ("Kent Police", "Kent Constabulary", "Kent police force"), so "Kent" alone is a county.
_ABBREVIATIONS = {"btp", "colp", "gmp", "herts", "met", "the met", "mps", "metpol", "notts"}
_ABBREVIATIONS |= {"psni", "syp", "tvp", "wmp", "wyp", "scotland yard"}
_POLICE_WORDS = r"(?:police(?: service| force)?|constabulary)"
FORCES: dict[str, str] = {}
for _force, _aliases in _FORCE_PLACES.items():
    for _alias in _aliases:
        FORCES[_alias] = _force
_PLACE_ALIASES = sorted((a for a in FORCES if a not in _ABBREVIATIONS), key=len, reverse=True)
_ABBREV_ALIASES = sorted((a for a in FORCES if a in _ABBREVIATIONS), key=len, reverse=True)
_FORCE_RE = re.compile(
    r"\b(?:(?:police\s+(?:scotland))|"
    + r"(?:(?P<place>"
    + "|".join(re.escape(a) for a in _PLACE_ALIASES)
    + r")\s+"
    + _POLICE_WORDS
    + r")|(?P<abbrev>"
    + "|".join(re.escape(a) for a in _ABBREV_ALIASES)
    + r")(?:\s+"
    + _POLICE_WORDS
    + r")?)\b"
)
# A force is named only where one of these words is: a cheap test before the long pattern.
_FORCE_WORDS = frozenset(
    {"police", "constabulary", "yard"} | {a.split()[-1] for a in _ABBREVIATIONS}
)


def _may_name_force(plain: str) -> bool:
    return not _FORCE_WORDS.isdisjoint(plain.split())


@lru_cache(maxsize=16384)
def _plain(text: str) -> str:
    """Lower case, accents off, "&" as "and", every run of other punctuation or space as one
    space."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


@lru_cache(maxsize=16384)
def force_of(text: str) -> str | None:
    """The one police force ``text`` names (any alias in the table above), or None."""
    plain = _plain(text)
    match = _FORCE_RE.search(plain) if _may_name_force(plain) else None
    if match is None:
        return None
    if match.group("place"):
        return FORCES[match.group("place")]
    if match.group("abbrev"):
        return FORCES[match.group("abbrev")]
    return "Police Scotland"


# --- register numbers: each pattern runs on the upper-cased identifier -----------------------

_NMC = re.compile(r"(?<![0-9A-Z])(\d{2})[ -]?([A-Z])[ -]?(\d{4})[ -]?([A-Z])(?![0-9A-Z])")
_SWE = re.compile(r"(?<![0-9A-Z])SW[ -]?(\d{4,7})(?![0-9A-Z])")
HCPC_PREFIXES = (
    "AS", "BS", "CH", "CS", "DT", "HAD", "ODP", "OD", "OT", "PA", "PH", "PO", "PYL", "RA", "SL",
)  # fmt: skip
_HCPC = re.compile(r"(?<![0-9A-Z])(" + "|".join(HCPC_PREFIXES) + r")[ -]?(\d{4,6})(?![0-9A-Z])")
_GMC = re.compile(r"(?<![0-9])(?<![0-9][ -])(\d{7}|\d{4}[ -]\d{3}|\d{3}[ -]\d{4})(?![ -]?[0-9])")
_GMC_WORD = re.compile(r"\bGMC\b|GENERAL MEDICAL COUNCIL")
_POLICE_NUMBER = re.compile(r"(?<![0-9A-Z])([A-Z]{1,4})?(\d{1,6})([A-Z]{1,2})?(?![0-9A-Z])")
POLICE_TITLES = frozenset(
    {"PC", "WPC", "PS", "DC", "DS", "DI", "DCI", "SGT", "INSP", "PCSO", "SC", "CPL", "NO", "NR"}
)
_ORDINAL = frozenset({"ST", "ND", "RD", "TH"})

# --- names --------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


TITLES = _words(
    """dr doctor prof professor mr mrs ms miss mx sir dame madam mister nurse sister matron
    midwife pc wpc ps dc ds di dci dsi sgt sergeant insp inspector ch supt superintendent chief
    constable detective det officer pcso sc cllr councillor rev gp consultant surgeon
    paramedic"""
)
REGISTER_WORDS = _words(
    """gmc nmc hcpc swe pin no number num nr ref reference registration reg collar shoulder
    badge warrant id code police constabulary force service"""
)
_REGISTER_PHRASES = re.compile(
    r"\b(?:general medical council|nursing and midwifery council|"
    r"health and care professions council|social work england)\b"
)
NOT_A_NAME = _words(
    """a an the and or of with at in on from for to by he she they him her his their them who
    was is unknown unsure know dont didnt not none name names sure refused give gave given
    wouldnt wont said called tall short white black man woman male female guy lady desk duty
    reception receptionist staff team member someone somebody person anonymous na nil various
    several two three etc n"""
)
MAX_NAME_WORDS = 4

# --- organisations ------------------------------------------------------------------------------

GENERIC_STARTS = ("a ", "an ", "some ", "any ")
NOT_AN_ORGANISATION = frozenset({"unknown", "not sure", "dont know", "n a", "na", "none"})
NOT_A_ROLE = NOT_AN_ORGANISATION | {"not known", "do not know"}  # the form's "not known" too


def named_in(
    identifier: str | None, organisation: str | None, role: str | None, sector: str | None
) -> tuple[Professional, ...]:
    """Every way one report names a professional (see docs/patterns.md), sorted."""
    identifier, organisation, role = identifier or "", organisation or "", role or ""
    force = force_of(identifier) or force_of(organisation) or force_of(role)
    found = _identified(identifier, force, sector or "") + _placed(organisation, role)
    return tuple(sorted(found)) if len(found) > 1 else found


# Reports repeat these fields often: each part is worked out once per distinct value, in memory.
@lru_cache(maxsize=65536)
def _placed(organisation: str, role: str) -> tuple[Professional, ...]:
    """The organisation with the role, unless the organisation is generic or missing, or the
    role is not known."""
    place = organisation_key(organisation)
    role_key = _plain(role)
    if place is None or not role_key or role_key in NOT_A_ROLE:
        return ()
    return (Professional("organisation-role", f"{place}|{role_key}", f"{place}, {role_key}"),)


@lru_cache(maxsize=65536)
def _identified(identifier: str, force: str | None, sector: str) -> tuple[Professional, ...]:
    """The register numbers, police numbers (of ``force``) and name in an identifier."""
    if not identifier:
        return ()
    found: set[Professional] = set()
    rest = unicodedata.normalize("NFKC", identifier).upper()
    rest = re.sub(r"[\u2010-\u2015]", "-", rest)

    def take(pattern: re.Pattern[str], text: str, make: object) -> str:
        def replace(m: re.Match[str]) -> str:
            found.add(make(m))  # type: ignore[operator]
            return " "

        return pattern.sub(replace, text)

    rest = take(
        _NMC,
        rest,
        lambda m: _register("nmc", "NMC", "".join(m.groups())),
    )
    rest = take(_SWE, rest, lambda m: _register("swe", "Social Work England", "SW" + m.group(1)))
    rest = take(_HCPC, rest, lambda m: _register("hcpc", "HCPC", m.group(1) + m.group(2)))
    if _GMC_WORD.search(rest) or (force is None and sector != "policing"):
        rest = take(_GMC, rest, lambda m: _register("gmc", "GMC", re.sub(r"[ -]", "", m.group(1))))
    if force is not None:
        rest = _police_numbers(rest, force, found)
    name = name_key(rest)
    if name is not None:
        found.add(Professional("name", f"{sector}|{name}", name.title()))
    return tuple(found)


def _register(kind: str, register: str, number: str) -> Professional:
    return Professional(kind, number, f"{register} {number}")


def _police_numbers(text: str, force: str, found: set[Professional]) -> str:
    def replace(m: re.Match[str]) -> str:
        prefix, digits, suffix = m.group(1) or "", m.group(2), m.group(3) or ""
        if suffix in _ORDINAL:
            return m.group(0)
        if prefix in POLICE_TITLES:
            prefix = ""
        elif prefix:  # a word that is not a title: not part of a number ("OFFICER4521" aside)
            return m.group(0)
        number = prefix + digits + suffix
        found.add(Professional("police", f"{force}|{number}", f"{force} {number}"))
        return " "

    return _POLICE_NUMBER.sub(replace, text)


def name_key(text: str) -> str | None:
    """A name from what is left of an identifier once numbers are taken out: titles, register
    words and police forces dropped, accents, case, punctuation and spacing ignored. None if
    what is left does not look like a name (empty, over four words, a digit, or a word such
    as "unknown" or "the")."""
    plain = _REGISTER_PHRASES.sub(" ", _plain(text))
    if _may_name_force(plain):
        plain = _FORCE_RE.sub(" ", plain)
    words = [w for w in plain.split() if w not in TITLES and w not in REGISTER_WORDS]
    if not words or len(words) > MAX_NAME_WORDS:
        return None
    if any(not w.isalpha() or w in NOT_A_NAME for w in words):
        return None
    if all(len(w) == 1 for w in words):
        return None
    return " ".join(words)


@lru_cache(maxsize=16384)
def organisation_key(organisation: str) -> str | None:
    """An organisation in a form that matches its other spellings, or None when it is generic
    ("a GP surgery") or empty. A police force becomes its one name."""
    force = force_of(organisation)
    if force is not None:
        return force.lower()
    plain = _plain(organisation)
    if not plain or plain in NOT_AN_ORGANISATION or plain.startswith(GENERIC_STARTS):
        return None
    return plain.removeprefix("the ")


def forget() -> None:
    """Empty the caches above, which hold what reports say about people: after each read across
    cases, so nothing lingers in memory and every read costs the same."""
    for cached in (_placed, _identified, _plain, force_of, organisation_key):
        cached.cache_clear()
