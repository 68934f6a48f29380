"""Cases: their ids, as people read and type them.

A case's state is never edited: it is derived by applying its signed events in order
(:func:`vault.audit.case_actions.fold`, following the table of case actions there, which
also declares :class:`CaseState` and the status and outcome checks, re-exported here).
"""

from __future__ import annotations

from vault import _crypto
from vault.audit.case_actions import CaseState as CaseState
from vault.audit.case_actions import check_outcome as check_outcome
from vault.audit.case_actions import check_status as check_status
from vault.audit.case_actions import show_id as show_id
from vault.errors import UsageError

# Crockford's base32: no I, L, O or U, so ids survive being read aloud or retyped.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_CHARS = 8
_TYPO_FIXES = str.maketrans({"O": "0", "I": "1", "L": "1"})


# Every 10-bit value as its two characters, so an id is four lookups (imports make thousands).
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]


def _written(n: int) -> str:
    return _PAIRS[n >> 30] + _PAIRS[n >> 20 & 1023] + _PAIRS[n >> 10 & 1023] + _PAIRS[n & 1023]


def new_case_id() -> str:
    """40 random bits as 8 characters of Crockford's base32, most significant first."""
    return _written(int.from_bytes(_crypto.random_bytes(5), "big"))


CASE_ID_PURPOSE = "redress case id v1"


def case_id_for(team_secret_key: _crypto.SecretBytes, envelope_id: bytes, attempt: int = 0) -> str:
    """The id a report's case gets on every laptop of the team: 40 bits of HMAC-SHA-256,
    under the secret key of the team key epoch the report was sealed to, over
    ``"redress case id v1"``, a zero byte, and the envelope id (followed by one byte,
    ``attempt``, when ``attempt`` > 0: the next choice if an id is taken).

    Every laptop that can open the report computes the same id, so two laptops taking the
    same report in from the intake before either has synced give it one case, not two.
    Without the team key the id cannot be computed from the envelope: the intake, which
    sees envelope ids, cannot tell which case in a complaint pack or alert came from which
    of its uploads."""
    data = envelope_id if attempt == 0 else envelope_id + bytes([attempt])
    digest = _crypto.keyed_hash(team_secret_key, CASE_ID_PURPOSE, data)
    return _written(int.from_bytes(digest[:5], "big"))


def normalise_id(text: str) -> str:
    """Accept ids in any case, with or without the dash, forgiving O/0 and I/L/1."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "").translate(_TYPO_FIXES)
    if not cleaned or len(cleaned) > ID_CHARS or any(c not in ALPHABET for c in cleaned):
        raise UsageError(f"'{text}' is not a case id.", hint="case ids look like 7KQ2-M9XD")
    return cleaned
