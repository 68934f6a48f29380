"""What each entry of the access log may say: the table of docs/audit.md section 8, as data.

One row per action: whether the entry names a case, what its detail may be, and whether it
carries a commitment. The vault writes entries that follow it; :mod:`vault.audit.verify`
refuses any entry that does not. The case statuses and outcomes are declared here too
(:mod:`vault.db` and :mod:`vault.cases` take them from here), so the log and the database
agree by construction.

Nothing here imports the database: an auditor's copy of the package needs only this.
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
NOT_A_CASEWORKER = "not-a-caseworker"  # an assignment to a name that is no caseworker's
STATUS_SHARED = "status-shared"  # a reply that told the reporter the case's status

KEY_ID = r"[0-9a-f]{16}"  # a caseworker's (or recovery key's) key id
NOTE_KEY_ID = r"[0-9a-f]{8}"  # a C2SP note key ID
NUMBER = r"[1-9][0-9]{0,17}"  # a whole number from 1, no leading zero


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


def _case(action: str, detail: Detail, commitment: Commitment) -> EntryRule:
    return EntryRule(action, True, detail, commitment)


def _vault(action: str, detail: Detail, commitment: Commitment) -> EntryRule:
    return EntryRule(action, False, detail, commitment)


RULES: tuple[EntryRule, ...] = (
    # case actions: field 5 is the case id
    _case("imported", NO_DETAIL, "yes"),
    _case("opened", NO_DETAIL, "no"),
    _case("note", NO_DETAIL, "yes"),
    _case("assigned", Detail("a caseworker's key id", (NOT_A_CASEWORKER,), KEY_ID), "no"),
    _case("status", Detail("a status", tuple(s for s in STATUSES if s != "closed")), "no"),
    _case("closed", Detail("an outcome", OUTCOMES, dash=True), "no"),
    _case("reply", Detail(f"{STATUS_SHARED}", (STATUS_SHARED,), dash=True), "yes"),
    _case("attachment", Detail("an attachment number from 1", form=NUMBER), "no"),
    _case("report-resealed", Detail("a team key epoch", form=NUMBER), "no"),
    # vault actions: field 5 is "-"
    _vault("vault-created", Detail("a caseworker's key id", form=KEY_ID), "no"),
    _vault("log-started", NO_DETAIL, "no"),
    _vault("caseworker-added", Detail("a caseworker's key id", form=KEY_ID), "yes"),
    _vault("caseworker-revoked", Detail("a caseworker's key id", form=KEY_ID), "revocation"),
    _vault("passphrase-changed", Detail("a caseworker's key id", form=KEY_ID), "no"),
    _vault("team-key-rotated", Detail("a team key epoch", form=NUMBER), "yes"),
    _vault("auditor-added", Detail("a note key ID", form=NOTE_KEY_ID), "yes"),
    _vault("witness-added", Detail("a note key ID", form=NOTE_KEY_ID), "yes"),
    _vault("recovery-split", Detail("a recovery key id", form=KEY_ID), "yes"),
    _vault("recovery-restored", Detail("a recovery key id", form=KEY_ID), "no"),
    _vault("backup-made", Detail("a backup header hash prefix", form=KEY_ID), "yes"),
    _vault("audit-exported", NO_DETAIL, "no"),
)
BY_ACTION: dict[str, EntryRule] = {rule.action: rule for rule in RULES}
CASE_ACTIONS = tuple(r.action for r in RULES if r.names_case)
VAULT_ACTIONS = tuple(r.action for r in RULES if not r.names_case)

FIRST_EPOCH = 1  # the team key epoch a new vault starts with (vault.keys.new_access)


def entry_problem(action: str, detail: str, has_commitment: bool) -> str | None:
    """Why an entry of a known action breaks its row of the table, as the end of a sentence
    that starts "Entry N ", or None if it does not.

    ``detail`` is the field as written (``-`` for none). Rules that need more than the one
    entry (who is a caseworker at that point, the epoch before) are in vault/audit/verify.py.
    """
    rule = BY_ACTION[action]
    if not rule.detail.allows(detail):
        if detail == "-":
            return f"is {action} with no detail, but needs {rule.detail.what}"
        if rule.detail is NO_DETAIL:
            return f"is {action} {detail}, but {action} entries carry no detail"
        return f"is {action} {detail}, but {detail} is not {rule.detail.what}"
    if has_commitment and rule.commitment == "no":
        return f"is {action} with a commitment, but {action} entries carry none"
    if not has_commitment and rule.commitment == "yes":
        return f"is {action} without a commitment, but {action} entries carry one"
    return None
