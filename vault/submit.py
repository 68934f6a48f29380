"""`vault submit --to URL`: send an already sealed envelope to an intake, as the form does.

The report is sealed on this machine first (``vault.envelope.seal_report``); only the
envelope travels. The intake asks for a proof of work (``docs/intake.md`` section 2): fetch
``/api/challenge``, solve it (``vault.pow``), then ``POST /api/reports`` with the solution.
"""

from __future__ import annotations

import httpx

from vault import pow as pow_
from vault.errors import IntakeError
from vault.pull import check_intake_url, new_http_client, talking

ATTEMPTS = 2  # a challenge can expire (or be refused) once; a fresh one is then fetched


def send_envelope(url: str, envelope: bytes, *, client: httpx.Client | None = None) -> None:
    """Deliver one sealed envelope to the intake at ``url``; raises a plain error if it cannot."""
    base = check_intake_url(url)
    http = client or new_http_client()
    try:
        for _ in range(ATTEMPTS):
            with talking(base):
                r = http.get(base + "/api/challenge")
            challenge, bits = _challenge(r, base)
            solution = pow_.header_value(challenge, pow_.solve(challenge, bits))
            with talking(base):
                r = http.post(
                    base + "/api/reports",
                    content=envelope,
                    headers={"Content-Type": "application/octet-stream", pow_.HEADER: solution},
                )
            if r.status_code == 429 and _error(r) == "proof-of-work":
                continue
            _check(r, base)
            return
        raise IntakeError("The intake did not accept the proof of work; try again.")
    finally:
        if client is None:
            http.close()


def _challenge(r: httpx.Response, base: str) -> tuple[bytes, int]:
    _check(r, base)
    try:
        doc = r.json()
        bits = doc["bits"]
        if isinstance(bits, bool) or not isinstance(bits, int):
            raise ValueError
        challenge = pow_.decode_challenge(doc["challenge"])
        if not 0 <= bits <= pow_.MAX_BITS:
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise IntakeError(
            f"The intake at {base} gave an answer this vault does not understand."
        ) from None
    return challenge, bits


def _error(r: httpx.Response) -> str | None:
    try:
        doc = r.json()
    except (ValueError, UnicodeDecodeError):
        return None
    error = doc.get("error") if isinstance(doc, dict) else None
    return error if isinstance(error, str) else None


def _check(r: httpx.Response, base: str) -> None:
    if 200 <= r.status_code < 300:
        return
    if r.status_code == 429:
        raise IntakeError("The intake is busy; try again in a minute.")
    if r.status_code == 400:
        raise IntakeError(
            "The intake refused the envelope.",
            hint="check that the team key file is this intake's team's, and its current one:"
            " after a caseworker is removed or the team key rotated, a caseworker exports it"
            " again (vault team-key export FILE)",
        )
    if r.status_code == 413:
        raise IntakeError("The intake refused the envelope as too large.")
    raise IntakeError(f"The intake at {base} refused the report ({r.status_code}).")
