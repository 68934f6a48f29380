"""The access log's formats, shared by the vault that writes them and the auditor who checks them.

* :mod:`vault.audit.leaves`: one log entry, byte by byte (``redress-log/1``).
* :mod:`vault.audit.terms`: the words entries use (statuses, outcomes, forms of detail).
* :mod:`vault.audit.case_actions`: every kind of case action, declared once: its rule on a
  case's state, its history words, its entry, and what the auditor accepts there.
* :mod:`vault.audit.entries`: what each entry may say, action by action (the table of
  docs/audit.md section 8); its case rows come from the table of case actions.
* :mod:`vault.audit.merkle`: the RFC 6962 Merkle tree over the entries, with proofs.
* :mod:`vault.audit.signed_note`: C2SP signed notes, checkpoints, verifier keys, cosignatures.
* :mod:`vault.audit.bundle`: the audit bundle's format, encoded (by the vault) and parsed.
* :mod:`vault.audit.verify`: the auditor's offline check of a bundle.

Nothing here opens a report or imports the database (tests/vault/audit/test_audit_meaning.py
checks). Beside this package an auditor's copy needs only modules that open nothing either:
:mod:`vault.events` (the case event type), :mod:`vault.keys` (key ids), :mod:`vault.errors`
and :mod:`vault._crypto` (Ed25519). The vault's writer side (:mod:`vault.auditlog`,
:mod:`vault.auditing`) imports it to encode, never to verify.
"""
