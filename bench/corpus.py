"""Realistic reports for the benchmarks: varied, deterministic, canonical JSON of ~1-2 KiB."""

from __future__ import annotations

import base64
import random

from vault.envelope import seal_report
from vault.report import HARMS, SECTORS, WANTS, Report, parse_report

ROLES = (
    "police officer",
    "custody sergeant",
    "GP receptionist",
    "sexual health nurse",
    "housing officer",
    "hostel manager",
    "college tutor",
    "outreach worker",
    "A&E doctor",
    "council caseworker",
)
PLACES = ("Leeds", "Bristol", "Hackney", "Glasgow", "Cardiff", "Brighton", "Manchester", "Soho")
ORGS = (
    "Metropolitan Police",
    "West Yorkshire Police",
    "a walk-in clinic",
    "the council housing team",
    "a GP surgery",
    "a night shelter",
)
TEXT = (
    "when I went in to ask about my appointment the officer said that people like me "
    "should expect that and laughed with a colleague at the desk while I waited there "
    "for over an hour without anyone telling me what was happening and then I was "
    "told to leave because I was making the waiting room uncomfortable I asked for his "
    "name and number and he refused and covered his badge with his hand I felt "
    "humiliated and I am scared to go back there but I need the service I tried to "
    "complain at the time but nobody would take my details and my friend who was with "
    "me saw everything and is willing to say so too"
)
WORDS = TEXT.split()


def report(rng: random.Random) -> Report:
    """One plausible report; its canonical JSON is between about 1 and 2 KiB."""
    n_words = rng.randint(160, 290)
    text = " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize() + "."
    doc: dict[str, object] = {
        "v": 1,
        "sector": rng.choice(SECTORS),
        "role": rng.choice(ROLES),
        "harms": rng.sample(HARMS, rng.randint(1, 3)),
        "what_happened": text,
        "consent": {"alert": rng.random() < 0.5, "research": rng.random() < 0.3},
    }
    if rng.random() < 0.8:
        doc["when"] = f"{rng.randint(1, 28)} {rng.choice(('March', 'June', 'October'))} 2025"
    if rng.random() < 0.7:
        doc["where"] = rng.choice(PLACES)
    if rng.random() < 0.6:
        doc["organisation"] = rng.choice(ORGS)
    if rng.random() < 0.3:
        doc["professional_identifier"] = repeat_identifier(rng)
    if rng.random() < 0.9:
        doc["wants"] = rng.sample(WANTS[:3], rng.randint(1, 2))
    if rng.random() < 0.6:
        doc["contact"] = {"method": "signal", "value": f"+44 7700 9{rng.randint(10000, 99999)}"}
    if rng.random() < 0.4:
        doc["reply_key"] = base64.b64encode(rng.randbytes(32)).decode()
    return parse_report(doc)


# Professionals named in more than one report, each written the ways people write them: a few are
# named often, most once or twice (the weights fall off as 1/rank), so patterns has real groups.
FORCES = ("Met", "Metropolitan Police", "MPS", "West Yorkshire Police", "WYP", "GMP")


def _spellings(kind: str, k: int) -> list[str]:
    if kind == "gmc":
        n = f"{7000000 + k * 7919:07d}"
        return [f"GMC {n}", f"gmc no. {n}", f"{n[:4]} {n[4:]}", f"GMC#{n}", f"Dr Okafor, GMC {n}"]
    if kind == "nmc":
        pin = f"{10 + k % 80:02d}{'ABCDEFGHIJKL'[k % 12]}{1000 + k:04d}{'ESWN'[k % 4]}"
        return [pin, pin.lower(), f"NMC PIN {pin[:3]} {pin[3:]}", f"nurse, nmc {pin}"]
    if kind == "hcpc":
        n = f"{10000 + k * 31:05d}"
        return [f"PA{n}", f"HCPC PA {n}", f"pa-{n}"]
    if kind == "swe":
        n = f"{100000 + k * 13:06d}"
        return [f"SW{n}", f"SW {n}", f"Social Work England sw{n}"]
    if kind == "police":
        collar, force = 1000 + k * 37 % 9000, FORCES[k % 3] if k % 2 else FORCES[3 + k % 3]
        return [f"PC {collar} {force}", f"pc{collar} ({force})", f"{force} collar number {collar}"]
    first = ("John", "Amir", "Sarah", "Kwame", "Li", "Maria")[k % 6]
    last = ("Smith", "Patel", "O'Brien", "Nowak", "Adeyemi", "Jones", "Walsh")[k % 7]
    return [f"Dr {first} {last}", f"dr. {first.lower()} {last.lower()}", f"{first}  {last.upper()}"]


PROFESSIONALS = [
    _spellings(kind, k)
    for k in range(40)
    for kind in ("gmc", "nmc", "hcpc", "swe", "police", "name")
]
_WEIGHTS = [1 / (rank + 1) for rank in range(len(PROFESSIONALS))]


def repeat_identifier(rng: random.Random) -> str:
    """A professional's identifier, often one named in other reports, in one of its spellings;
    a fifth are one-off police numbers without a force (which match nothing)."""
    if rng.random() < 0.2:
        return f"PC {rng.randint(1000, 9999)}"
    spellings = rng.choices(PROFESSIONALS, weights=_WEIGHTS)[0]
    return rng.choice(spellings)


def reports(n: int, seed: int = 2025) -> list[Report]:
    rng = random.Random(seed)
    return [report(rng) for _ in range(n)]


def envelopes(n: int, epoch: int, team_public_key: bytes, seed: int = 2025) -> list[bytes]:
    return [seal_report(r, epoch, team_public_key) for r in reports(n, seed)]
