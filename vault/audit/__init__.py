"""The access log's formats, shared by the vault that writes them and the auditor who checks them.

* :mod:`vault.audit.leaves`: one log entry, byte by byte (``redress-log/1``).
* :mod:`vault.audit.entries`: what each entry may say, action by action (the table of
  docs/audit.md section 8), with the case statuses and outcomes.
* :mod:`vault.audit.merkle`: the RFC 6962 Merkle tree over the entries, with proofs.
* :mod:`vault.audit.signed_note`: C2SP signed notes, checkpoints, verifier keys, cosignatures.
* :mod:`vault.audit.bundle`: the audit bundle's format, encoded (by the vault) and parsed.
* :mod:`vault.audit.verify`: the auditor's offline check of a bundle.

Nothing here opens a report or imports the database (tests/test_audit_meaning.py checks):
an auditor's copy needs only this package
(and :mod:`vault._crypto` for Ed25519 verification). The vault's writer side
(:mod:`vault.auditlog`) imports it to encode, never to verify.
"""
