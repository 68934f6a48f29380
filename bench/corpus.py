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
        doc["professional_identifier"] = f"PC {rng.randint(1000, 9999)}"
    if rng.random() < 0.9:
        doc["wants"] = rng.sample(WANTS[:3], rng.randint(1, 2))
    if rng.random() < 0.6:
        doc["contact"] = {"method": "signal", "value": f"+44 7700 9{rng.randint(10000, 99999)}"}
    if rng.random() < 0.4:
        doc["reply_key"] = base64.b64encode(rng.randbytes(32)).decode()
    return parse_report(doc)


def reports(n: int, seed: int = 2025) -> list[Report]:
    rng = random.Random(seed)
    return [report(rng) for _ in range(n)]


def envelopes(n: int, epoch: int, team_public_key: bytes, seed: int = 2025) -> list[bytes]:
    return [seal_report(r, epoch, team_public_key) for r in reports(n, seed)]
