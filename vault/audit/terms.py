"""The words the access log's entries use: statuses, outcomes, and what an entry's detail and
commitment may be. Shared by the table of case actions (:mod:`vault.audit.case_actions`) and the
auditor's table (:mod:`vault.audit.entries`); it imports nothing of the vault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

STATUSES = ("new", "triage", "supporting", "referred", "closed")
OUTCOMES = (
    "supported",
    "complaint-made",
    "referred-on",
    "alert-shared",
    "no-further-action",
    "could-not-reach",
    "withdrawn",
    "duplicate",
)
# Why a case was erased, as its access-log entry says it (vault/erasure.py): the reason a
# caseworker gave when it is one of these words, else "other" (the log keeps no free words).
ERASURE_REASONS = ("withdrawn", "retention", "requested", "duplicate", "mistake", "other")
NOT_A_CASEWORKER = "not-a-caseworker"  # an assignment to a name that is no caseworker's
STATUS_SHARED = "status-shared"  # a reply that told the reporter the case's status

KEY_ID = r"[0-9a-f]{16}"  # a caseworker's (or recovery key's) key id
NOTE_KEY_ID = r"[0-9a-f]{8}"  # a C2SP note key ID
NUMBER = r"[1-9][0-9]{0,17}"  # a whole number from 1, no leading zero
ALERT_ID = r"[0-9a-hjkmnp-tv-z]{8}"  # a safety alert's id, in lower case (log details are)


@dataclass(frozen=True, slots=True)
class Detail:
    """What field 6 of an entry may hold.

    ``words`` are exact values allowed; ``form`` a regular expression a value may match
    instead; ``dash`` whether ``-`` (no detail) is allowed. ``what`` names the allowed
    values in a refusal: "Entry 17 is status banana, but banana is not a status."
    """

    what: str
    words: tuple[str, ...] = ()
    form: str | None = None
    dash: bool = False

    def allows(self, detail: str) -> bool:
        if detail == "-":
            return self.dash
        return detail in self.words or (
            self.form is not None and re.fullmatch(self.form, detail) is not None
        )


NO_DETAIL = Detail("no detail", dash=True)

# "yes": a SHA-256 always; "no": always "-"; "revocation": a SHA-256, except that the
# caseworker-revoked entries that start an older vault's log (after log-started, in its
# first transaction) carry none (vault/store.py _start_log).
Commitment = Literal["yes", "no", "revocation"]


@dataclass(frozen=True, slots=True)
class EntryRule:
    action: str
    names_case: bool
    detail: Detail
    commitment: Commitment
    # a read across cases: its commitment is to a read list (which cases it read), which a
    # bundle of redress-audit-bundle/2 carries beside it (docs/audit.md sections 8 and 12)
    read_list: bool = False
