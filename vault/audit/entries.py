"""What each entry of the access log may say: the table of docs/audit.md section 8, as data.

One row per action: whether the entry names a case, what its detail may be, and whether it
carries a commitment. The vault writes entries that follow it; :mod:`vault.audit.verify`
refuses any entry that does not. The rows of case actions come from the one table of case
actions (:mod:`vault.audit.case_actions`, where each kind is declared once); the words they use
(statuses, outcomes, forms of detail) from :mod:`vault.audit.terms`, which :mod:`vault.db`
and :mod:`vault.cases` take too, so the log and the database agree by construction.

Nothing here imports the database.
"""

from __future__ import annotations

from vault.audit.case_actions import CASE_ACTIONS as _CASE_ACTIONS
from vault.audit.terms import KEY_ID as KEY_ID
from vault.audit.terms import NO_DETAIL as NO_DETAIL
from vault.audit.terms import NOT_A_CASEWORKER as NOT_A_CASEWORKER
from vault.audit.terms import NOTE_KEY_ID as NOTE_KEY_ID
from vault.audit.terms import NUMBER as NUMBER
from vault.audit.terms import OUTCOMES as OUTCOMES
from vault.audit.terms import STATUS_SHARED as STATUS_SHARED
from vault.audit.terms import STATUSES as STATUSES
from vault.audit.terms import Commitment as Commitment
from vault.audit.terms import Detail as Detail
from vault.audit.terms import EntryRule as EntryRule


def _case(action: str, detail: Detail, commitment: Commitment) -> EntryRule:
    return EntryRule(action, True, detail, commitment)


def _vault(action: str, detail: Detail, commitment: Commitment) -> EntryRule:
    return EntryRule(action, False, detail, commitment)


def _reads(action: str, what: str) -> EntryRule:
    """A read across cases: how many cases it read; SHA-256 of their read list."""
    return EntryRule(action, False, Detail(what, form=NUMBER), "yes", read_list=True)


RULES: tuple[EntryRule, ...] = (
    # case actions: field 5 is the case id; each is declared once, in vault/audit/case_actions.py
    *(_case(a.kind, a.detail, a.commitment) for a in _CASE_ACTIONS.values()),
    # vault actions: field 5 is "-"
    _vault("vault-created", Detail("a caseworker's key id", form=KEY_ID), "no"),
    _vault("log-started", NO_DETAIL, "no"),
    _vault("caseworker-added", Detail("a caseworker's key id", form=KEY_ID), "yes"),
    _vault("caseworker-revoked", Detail("a caseworker's key id", form=KEY_ID), "revocation"),
    _vault("passphrase-changed", Detail("a caseworker's key id", form=KEY_ID), "no"),
    _vault("team-key-rotated", Detail("a team key epoch", form=NUMBER), "yes"),
    # two laptops started this epoch apart; this one took the other's key in place of its own
    # (vault/epoch_settling.py): SHA-256 of the team public key taken
    _vault("team-key-settled", Detail("a team key epoch", form=NUMBER), "yes"),
    _vault("auditor-added", Detail("a note key ID", form=NOTE_KEY_ID), "yes"),
    _vault("witness-added", Detail("a note key ID", form=NOTE_KEY_ID), "yes"),
    _vault("recovery-split", Detail("a recovery key id", form=KEY_ID), "yes"),
    _vault("recovery-restored", Detail("a recovery key id", form=KEY_ID), "no"),
    _vault("backup-made", Detail("a backup header hash prefix", form=KEY_ID), "yes"),
    _vault("audit-exported", NO_DETAIL, "no"),
    # a retention policy set (vault/retention.py): SHA-256 of the signed policy
    _vault("retention-set", NO_DETAIL, "yes"),
    # a read across cases: how many cases it read; SHA-256 of their list (vault/read_through.py)
    _reads("cases-searched", "a number of cases read"),
    _reads("triage-filled", "a number of cases read"),
    _reads("patterns-read", "a number of cases read"),
    _reads("stats-counted", "a number of cases counted"),
    _reads("attachments-checked", "a number of cases read"),
    _reads("alerts-listed", "a number of cases whose alerts were read"),
)
BY_ACTION: dict[str, EntryRule] = {rule.action: rule for rule in RULES}
CASE_ACTIONS = tuple(r.action for r in RULES if r.names_case)
VAULT_ACTIONS = tuple(r.action for r in RULES if not r.names_case)
READ_ACTIONS = tuple(r.action for r in RULES if r.read_list)  # each commits to a read list

# A read list (docs/audit.md section 8): this line, then "CASE STATE\n" per case in id order.
READ_LIST_HEADER = "redress cases read v1\n"
READ_STATES = ("read", "match", "damaged")

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
