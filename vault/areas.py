"""Where and when, coarsened for a safety alert: a town or region, and a month.

A report's ``where`` and ``when`` are the reporter's own words; an alert never repeats them.
:func:`area_of` names the post town of a UK postcode area found in ``where`` (``LS6 2QR``
and ``LS6`` both give Leeds), or a town of that list named in it, and otherwise nothing:
the caseworker writes the area. :func:`month_of` reads a date in ``when`` (``2026-03-14``,
``14/03/2026``, ``14 March 2026``, ``March 2026``) and keeps its year and month.
"""

from __future__ import annotations

import re

# The UK's postcode areas and the town or region each is named after.
POSTCODE_AREAS: dict[str, str] = {
    "AB": "Aberdeen", "AL": "St Albans", "B": "Birmingham", "BA": "Bath", "BB": "Blackburn",
    "BD": "Bradford", "BH": "Bournemouth", "BL": "Bolton", "BN": "Brighton", "BR": "Bromley",
    "BS": "Bristol", "BT": "Belfast", "CA": "Carlisle", "CB": "Cambridge", "CF": "Cardiff",
    "CH": "Chester", "CM": "Chelmsford", "CO": "Colchester", "CR": "Croydon",
    "CT": "Canterbury", "CV": "Coventry", "CW": "Crewe", "DA": "Dartford", "DD": "Dundee",
    "DE": "Derby", "DG": "Dumfries", "DH": "Durham", "DL": "Darlington", "DN": "Doncaster",
    "DT": "Dorchester", "DY": "Dudley", "E": "London", "EC": "London", "EH": "Edinburgh",
    "EN": "Enfield", "EX": "Exeter", "FK": "Falkirk", "FY": "Blackpool", "G": "Glasgow",
    "GL": "Gloucester", "GU": "Guildford", "GY": "Guernsey", "HA": "Harrow",
    "HD": "Huddersfield", "HG": "Harrogate", "HP": "Hemel Hempstead", "HR": "Hereford",
    "HS": "Outer Hebrides", "HU": "Hull", "HX": "Halifax", "IG": "Ilford", "IM": "Isle of Man",
    "IP": "Ipswich", "IV": "Inverness", "JE": "Jersey", "KA": "Kilmarnock",
    "KT": "Kingston upon Thames", "KW": "Kirkwall", "KY": "Kirkcaldy", "L": "Liverpool",
    "LA": "Lancaster", "LD": "Llandrindod Wells", "LE": "Leicester", "LL": "Llandudno",
    "LN": "Lincoln", "LS": "Leeds", "LU": "Luton", "M": "Manchester", "ME": "Medway",
    "MK": "Milton Keynes", "ML": "Motherwell", "N": "London", "NE": "Newcastle upon Tyne",
    "NG": "Nottingham", "NN": "Northampton", "NP": "Newport", "NR": "Norwich", "NW": "London",
    "OL": "Oldham", "OX": "Oxford", "PA": "Paisley", "PE": "Peterborough", "PH": "Perth",
    "PL": "Plymouth", "PO": "Portsmouth", "PR": "Preston", "RG": "Reading", "RH": "Redhill",
    "RM": "Romford", "S": "Sheffield", "SA": "Swansea", "SE": "London", "SG": "Stevenage",
    "SK": "Stockport", "SL": "Slough", "SM": "Sutton", "SN": "Swindon", "SO": "Southampton",
    "SP": "Salisbury", "SR": "Sunderland", "SS": "Southend-on-Sea", "ST": "Stoke-on-Trent",
    "SW": "London", "SY": "Shrewsbury", "TA": "Taunton", "TD": "Galashiels", "TF": "Telford",
    "TN": "Tonbridge", "TQ": "Torquay", "TR": "Truro", "TS": "Middlesbrough", "TW": "Twickenham",
    "UB": "Southall", "W": "London", "WA": "Warrington", "WC": "London", "WD": "Watford",
    "WF": "Wakefield", "WN": "Wigan", "WR": "Worcester", "WS": "Walsall",
    "WV": "Wolverhampton", "YO": "York", "ZE": "Shetland",
}  # fmt: skip

REGIONS = (
    "North East", "North West", "Yorkshire", "East Midlands", "West Midlands", "East of England",
    "South East", "South West", "Scotland", "Wales", "Northern Ireland", "Cornwall", "Kent",
    "Essex", "Devon", "Cumbria", "Highlands",
)  # fmt: skip

PLACES: tuple[str, ...] = tuple(sorted(set(POSTCODE_AREAS.values()) | set(REGIONS)))


def place_words() -> frozenset[str]:
    """Every word of a town or region an alert may name (lower case): never flagged."""
    return frozenset(w.lower() for p in PLACES for w in re.split(r"[\s-]+", p))


_OUTWARD = re.compile(r"\b([A-Z]{1,2})[0-9][A-Z0-9]?(?:\s*[0-9][A-Z]{2})?\b", re.IGNORECASE)


def area_of(where: str | None) -> str | None:
    """The town or region a report's ``where`` is in, if it can be told; else None."""
    if not where:
        return None
    for m in _OUTWARD.finditer(where):
        town = POSTCODE_AREAS.get(m.group(1).upper())
        if town is not None:
            return town
    lowered = f" {re.sub(r'[^a-z]+', ' ', where.lower())} "
    for place in sorted(PLACES, key=len, reverse=True):
        if f" {re.sub(r'[^a-z]+', ' ', place.lower())} " in lowered:
            return place
    return None


MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})(?:-\d{1,2})?\b")
_NUMERIC = re.compile(r"\b\d{1,2}[/.-](\d{1,2})[/.-](\d{4})\b")
_WORDS = re.compile(r"\b([A-Za-z]{3,9})\.?,?\s+(?:of\s+)?(\d{4})\b")


def _month_number(word: str) -> int | None:
    word = word.lower()
    for n, name in enumerate(MONTH_NAMES, 1):
        if len(word) >= 3 and name.lower().startswith(word):
            return n
    return None


def month_of(when: str | None) -> str | None:
    """``YYYY-MM`` from a report's ``when``, if it holds a date or a month and year."""
    if not when:
        return None
    for pattern, year_at, month_at in ((_ISO, 1, 2), (_NUMERIC, 2, 1)):
        m = pattern.search(when)
        if m and 1 <= int(m.group(month_at)) <= 12:
            return f"{int(m.group(year_at)):04d}-{int(m.group(month_at)):02d}"
    for m in _WORDS.finditer(when):
        number = _month_number(m.group(1))
        if number is not None:
            return f"{int(m.group(2)):04d}-{number:02d}"
    return None


_MONTH_FIELD = re.compile(r"\s*(\d{4})-(\d{1,2})\s*")


def parse_month(text: str) -> str | None:
    """A month as a caseworker writes it in a draft (``2026-03`` or ``March 2026``), or None
    when it is blank or cannot be read as a month alone."""
    m = _MONTH_FIELD.fullmatch(text)
    if m and 1 <= int(m.group(2)) <= 12:
        return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}"
    words = re.fullmatch(r"\s*([A-Za-z]{3,9})\.?,?\s+(\d{4})\s*", text)
    if words and _month_number(words.group(1)) is not None:
        return f"{int(words.group(2)):04d}-{_month_number(words.group(1)):02d}"
    return None


def month_words(month: str | None) -> str:
    """``2026-03`` as ``March 2026``; ``not given`` for None."""
    if month is None:
        return "not given"
    year, number = month.split("-")
    return f"{MONTH_NAMES[int(number) - 1]} {year}"
