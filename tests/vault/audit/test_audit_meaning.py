"""The meaning of each log entry, as the table in vault/audit/entries.py (docs/audit.md, 8) says.

A real session through the real `vault` command writes a bundle that verifies. Each test then
adds or changes entries the vault never writes (a status `banana`, 30 February, a second start,
an assignment to a key that is no caseworker's...), signs the log again with the session's
real caseworker key so that every checkpoint and proof is right, and asserts that
`vault audit verify` exits 4 naming the entry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nacl.bindings as sodium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import (
    PASSPHRASE,
    VAULT_BIN,
    Cli,
    _in_process,
    assert_clean_error,
    report_data,
    seal_for,
)
from tests.vault.audit.test_checkpoint_independent import first_meaningless_entry, parse_bundle
from vault import audit_export, case_view, incoming, membership
from vault.audit import bundle, merkle
from vault.audit.entries import BY_ACTION, OUTCOMES, STATUSES
from vault.audit.signed_note import Checkpoint, NoteSigner, parse_note, sign_checkpoint
from vault.audit.verify import verify
from vault.errors import CaseWorkflowError, UsageError
from vault.keys import caseworker_key_id
from vault.store import Vault


@dataclass
class Session:
    cli: Cli
    bundle: bytes
    signer: NoteSigner  # amara's real checkpoint key, read from her key file
    amara: str  # key ids
    bea: str  # added, then revoked
    case: str


class _AsAmara(Cli):
    """The real command, acting as amara (the vault has several caseworkers)."""

    def __call__(
        self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return super().__call__(
            *args, input=input, env={"VAULT_CASEWORKER": "amara", **(env or {})}
        )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    cli = _AsAmara(tmp_path_factory.mktemp("meaning"))
    _ok(cli("init", "--name", "amara"))
    bea_pass = cli.cwd / "bea-passphrase"
    bea_pass.write_bytes(PASSPHRASE.reveal() + b"\n")
    bea_pass.chmod(0o600)
    _ok(cli("caseworker", "add", "bea", "--new-passphrase-file", str(bea_pass)))
    _ok(cli("team-key", "export", "team-key.json"))
    reply_pk, _ = sodium.crypto_box_keypair()
    for n in range(2):
        report = report_data(reply_key=base64.b64encode(reply_pk).decode())
        report["what_happened"] = f"Report {n}."
        sealed = cli(
            "submit", "--team-key", "team-key.json", "--out", f"r{n}.env",
            input=json.dumps(report).encode(),
        )  # fmt: skip
        _ok(sealed)
    _ok(cli("import", "r0.env", "r1.env"))
    case = json.loads(_ok(cli("cases", "list", "--json")))[0]["id"]
    _ok(cli("cases", "show", case))
    _ok(cli("cases", "note", case, "Rang back."))
    _ok(cli("cases", "assign", case, "bea"))
    assert cli("cases", "assign", case, "someone-else").returncode == 2  # no such caseworker
    _ok(cli("cases", "status", case, "triage"))
    _ok(cli("cases", "reply", case, "We have your report.", "--share-status"))
    _ok(cli("cases", "close", case, "--outcome", "supported"))
    _ok(cli("cases", "search", "report"))
    _ok(cli("team-key", "rotate", "--reseal"))
    _ok(cli("auditor", "keygen", "dana", "--out", "auditor-keys"))
    _ok(cli("auditor", "add", "dana", "--key", "auditor-keys/dana.vkey"))
    _ok(cli("caseworker", "revoke", "bea"))
    assert cli("cases", "assign", case, "bea").returncode == 2  # removed: refused
    _ok(cli("backup", "team.backup"))
    _ok(cli("audit", "export", "audit.bundle"))
    with Vault.unlock(cli.cwd / "vault-data", PASSPHRASE, "amara") as vault:
        signer = NoteSigner(vault.log.origin, vault.identity.signer)
        amara = vault.identity.key_id
        row = vault.db.execute("SELECT sign_pk FROM caseworkers WHERE name = 'bea'").fetchone()
        bea = caseworker_key_id(bytes(row[0]))
    data = (cli.cwd / "audit.bundle").read_bytes()
    return Session(cli, data, signer, amara, bea, case.replace("-", ""))


def _verify(tmp_path: Path, data: bytes) -> subprocess.CompletedProcess[str]:
    """`vault audit verify` as an auditor runs it: another directory, no vault, no passphrase
    (through the entry point the installed command calls, in this process, as ``Cli`` runs
    commands: its own environment, working directory and streams)."""
    (tmp_path / "bundle").write_bytes(data)
    return _in_process(["audit", "verify", "bundle"], tmp_path, None, {"PATH": ""})


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert_clean_error(result, 4)
    for word in words:
        assert word in result.stderr, result.stderr


def _fields(leaf: bytes) -> list[str]:
    return leaf.decode().split(" ")


def _entry(
    at: str, actor: str, action: str, case: str = "-", detail: str = "-", commit: str = "-"
) -> bytes:
    return " ".join(("redress-log/1", at, actor, action, case, detail, commit)).encode()


def _resigned(s: Session, change: Callable[[list[bytes]], list[bytes]]) -> bytes:
    """The session's bundle with its entries changed, signed again with amara's real key:
    the checkpoints still true of the new entries are kept, and one more covers them all."""
    contents = bundle.parse(s.bundle)
    leaves = change([bytes(leaf) for leaf in contents.leaves])
    tree = merkle.Tree.of_leaves(leaves)
    kept: list[tuple[int, str]] = []
    for note in contents.checkpoints:
        checkpoint = Checkpoint.parse_text(parse_note(note).text)
        if checkpoint.size < len(leaves) and tree.root_at(checkpoint.size) == checkpoint.root:
            kept.append((checkpoint.size, note))
    final = Checkpoint(contents.origin, len(leaves), tree.root_at(len(leaves)))
    kept.append((len(leaves), sign_checkpoint(final, s.signer)))
    sizes = [size for size, _ in kept]
    # each read list stays with its entry, wherever the change moved it
    reads = sorted(
        (leaves.index(contents.leaves[entry - 1]) + 1, text)
        for entry, text in contents.reads
        if contents.leaves[entry - 1] in leaves
    )
    return bundle.encode(
        bundle.BundleContents(
            contents.origin,
            contents.people,
            leaves,
            [note for _, note in kept],
            bundle.proofs_between(sizes, tree),
            reads,
        )
    )


def _appended(s: Session, *entry: str, at: str | None = None) -> tuple[bytes, int]:
    """The bundle with one more entry by amara (at the last entry's time), and its number."""
    leaves = bundle.parse(s.bundle).leaves
    when = at or _fields(leaves[-1])[1]
    return _resigned(s, lambda ls: [*ls, _entry(when, s.amara, *entry)]), len(leaves) + 1


def _changed(s: Session, action: str, field: int, value: str) -> tuple[bytes, int]:
    """The bundle with one field of the first ``action`` entry changed, and its number."""
    leaves = bundle.parse(s.bundle).leaves
    i = next(i for i, leaf in enumerate(leaves) if _fields(leaf)[3] == action)

    def change(ls: list[bytes]) -> list[bytes]:
        fields = _fields(ls[i])
        fields[field] = value
        return [*ls[:i], " ".join(fields).encode(), *ls[i + 1 :]]

    return _resigned(s, change), i + 1


# --- the real session ------------------------------------------------------------------------


def test_the_real_session_verifies(session: Session, tmp_path: Path) -> None:
    result = _verify(tmp_path, session.bundle)
    assert result.returncode == 0, result.stderr
    assert first_meaningless_entry(parse_bundle(session.bundle)) is None  # written from the doc
    leaves = [_fields(leaf) for leaf in bundle.parse(session.bundle).leaves]
    assigned = [f[5] for f in leaves if f[3] == "assigned"]
    assert assigned == [session.bea]
    assert {f[3] for f in leaves} >= {
        "vault-created", "caseworker-added", "imported", "opened", "note", "assigned", "status",
        "reply", "closed", "team-key-rotated", "report-resealed", "auditor-added",
        "caseworker-revoked", "backup-made", "audit-exported", "cases-searched",
    }  # fmt: skip
    # what the helper makes, unchanged, verifies too: only the changes below are refused
    assert _verify(tmp_path, _resigned(session, lambda ls: ls)).returncode == 0


def test_a_status_banana_signed_by_a_real_caseworker_is_refused(
    session: Session, tmp_path: Path
) -> None:
    data, n = _appended(session, "status", session.case, "banana")
    _refused(_verify(tmp_path, data), f"Entry {n} ", "status banana", "is not a status")


# --- one entry against its row of the table ---------------------------------------------------

H = hashlib.sha256(b"anything").hexdigest()


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (("status", "{case}", "closed"), "closed is not a status"),
        (("closed", "{case}", "banana"), "banana is not an outcome"),
        (("attachment", "{case}", "0"), "attachment 0, but 0 is not an attachment number"),
        (("attachment", "{case}", "01"), "01 is not an attachment number"),
        (("attachment", "{case}"), "attachment with no detail"),
        (("opened", "{case}", "banana"), "opened entries carry no detail"),
        (("reply", "{case}", "yes", H), "yes is not status-shared"),
        (("note", "{case}", "-", "-"), "note without a commitment"),
        (("opened", "{case}", "-", H), "opened with a commitment"),
        (("team-key-rotated", "-", "two", H), "two is not a team key epoch"),
        (("vault-created", "-", "{amara}"), "starts a vault's log a second time"),
        (("log-started",), "starts a vault's log a second time"),
        (("passphrase-changed", "-", "{bea}"), "not the key id of the caseworker who made it"),
        (("assigned", "{case}", "0123456789abcdef"), "assigns a case to 0123456789abcdef"),
        (("assigned", "{case}", "{bea}"), "not a caseworker's key id at that point"),
        # the session rotated twice (rotate, then revoke): the epoch is 3
        (("team-key-rotated", "-", "5", H), "rotates the team key to epoch 5, but the epoch was 3"),
        (("team-key-rotated", "-", "3", H), "rotates the team key to epoch 3, but the epoch was 3"),
        (
            ("report-resealed", "{case}", "1"),
            "reseals a report to epoch 1, but the epoch then was 3",
        ),
        (("team-key-settled", "-", "4", H), "settles team key epoch 4, but the epoch was 3"),
        (("recovery-restored", "-", "{amara}"), "restores from recovery shares"),
        (("cases-searched", "-", "-", H), "cases-searched with no detail"),
        (("cases-searched", "-", "0", H), "0 is not a number of cases read"),
        (("cases-searched", "-", "2", "-"), "cases-searched without a commitment"),
        (("triage-filled", "-", "two", H), "two is not a number of cases read"),
    ],
)
def test_an_entry_the_table_does_not_allow_is_refused(
    session: Session, tmp_path: Path, entry: tuple[str, ...], words: str
) -> None:
    names = {"case": session.case, "amara": session.amara, "bea": session.bea}
    data, n = _appended(session, *(part.format(**names) for part in entry))
    _refused(_verify(tmp_path, data), f"Entry {n} ", words)
    assert first_meaningless_entry(parse_bundle(data)) == n  # the doc's verifier agrees


def test_a_settled_epoch_this_log_started_is_accepted(session: Session, tmp_path: Path) -> None:
    """Two laptops started epoch 3 apart and this one took the other's key: settling names an
    epoch the log started already (docs/audit.md section 8)."""
    data, _ = _appended(session, "team-key-settled", "-", "3", H)
    assert _verify(tmp_path, data).returncode == 0
    assert first_meaningless_entry(parse_bundle(data)) is None


@pytest.mark.parametrize(
    "at",
    [
        "2026-02-30T10:00:00Z",
        "2027-02-29T10:00:00Z",
        "2099-13-01T10:00:00Z",
        "2099-12-00T10:00:00Z",
        "2099-12-31T24:00:00Z",
        "2099-12-31T23:60:00Z",
        "2099-12-31T23:59:60Z",
        "0000-01-01T00:00:00Z",
    ],
)
def test_a_time_that_is_no_real_time_is_refused(session: Session, tmp_path: Path, at: str) -> None:
    data, n = _appended(session, "opened", session.case, at=at)
    _refused(_verify(tmp_path, data), f"Entry {n} ", f"{at}, which is not a real date and time")
    assert first_meaningless_entry(parse_bundle(data)) == n


def test_a_real_leap_day_later_on_is_accepted(session: Session, tmp_path: Path) -> None:
    data, _ = _appended(session, "opened", session.case, at="2028-02-29T23:59:59Z")
    assert _verify(tmp_path, data).returncode == 0


def test_a_time_going_back_along_the_log_is_refused(session: Session, tmp_path: Path) -> None:
    data, n = _appended(session, "opened", session.case, at="2020-01-01T00:00:00Z")
    _refused(_verify(tmp_path, data), f"Entry {n} ", "earlier than the entry before it")


# --- entries changed in place, and the person lines --------------------------------------------


def test_a_revocation_committing_to_another_key_is_refused(
    session: Session, tmp_path: Path
) -> None:
    data, n = _changed(session, "caseworker-revoked", 6, H)
    _refused(_verify(tmp_path, data), f"Entry {n} ", "commits to a key that is not theirs")
    assert first_meaningless_entry(parse_bundle(data)) == n
    data, n = _changed(session, "caseworker-revoked", 6, "-")
    _refused(_verify(tmp_path, data), f"Entry {n} ", "caseworker-revoked without a commitment")
    assert first_meaningless_entry(parse_bundle(data)) == n


def test_an_auditor_added_under_another_key_id_or_twice_is_refused(
    session: Session, tmp_path: Path
) -> None:
    data, n = _changed(session, "auditor-added", 5, session.amara)
    _refused(_verify(tmp_path, data), f"Entry {n} ", f"{session.amara} is not a note key ID")
    data, n = _changed(session, "auditor-added", 5, "00000000")
    _refused(_verify(tmp_path, data), f"Entry {n} ", "under a key ID that is not its key's")
    leaves = bundle.parse(session.bundle).leaves
    added = next(_fields(leaf) for leaf in leaves if _fields(leaf)[3] == "auditor-added")
    data, n = _appended(session, "auditor-added", "-", added[5], added[6])
    _refused(_verify(tmp_path, data), f"Entry {n} ", "adds an auditor who was already added")


def test_a_person_line_repeated_exactly_is_refused(session: Session, tmp_path: Path) -> None:
    lines = session.bundle.split(b"\n")
    i = next(i for i, line in enumerate(lines) if line.startswith(b"caseworker "))
    repeated = b"\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
    _refused(_verify(tmp_path, repeated), f"line {i + 2}", "repeats a line above it")


def test_the_table_covers_exactly_the_statuses_and_outcomes_the_vault_has() -> None:
    from vault import db

    assert (db.STATUSES, db.OUTCOMES) == (STATUSES, OUTCOMES)
    assert BY_ACTION["status"].detail.words == tuple(s for s in STATUSES if s != "closed")
    assert set(BY_ACTION["closed"].detail.words) == set(OUTCOMES)


def test_the_audit_package_needs_no_database() -> None:
    code = (
        "import sys, vault.audit.verify, vault.audit.entries, vault.audit.bundle;"
        "bad = {'vault.db', 'vault.store', 'sqlcipher3'} & set(sys.modules);"
        "sys.exit(1 if bad else 0)"
    )
    assert (
        subprocess.run([str(VAULT_BIN.with_name("python")), "-c", code], check=False).returncode
        == 0
    )


# --- random real workflows always verify -------------------------------------------------------


@pytest.fixture(scope="module")
def workflow_vault(tmp_path_factory: pytest.TempPathFactory) -> Vault:
    vault = Vault.create(tmp_path_factory.mktemp("flows") / "vault-data", "amara", PASSPHRASE)
    incoming.import_envelopes(vault, [(str(n), seal_for(vault)) for n in range(3)])
    return vault


STEPS = st.lists(
    st.sampled_from(
        [
            "import", "show", "note", "assign-amara", "assign-bea", "assign-nobody", "status",
            "close", "rotate", "reseal", "add-bea", "revoke-bea",
        ]
    ),
    min_size=1,
    max_size=8,
)  # fmt: skip


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS, status=st.sampled_from(STATUSES), outcome=st.sampled_from(OUTCOMES))
def test_random_real_workflows_always_verify(
    workflow_vault: Vault, steps: list[str], status: str, outcome: str
) -> None:
    vault = workflow_vault
    for step in steps:
        case = case_view.list_cases(vault)[0].id
        try:
            if step == "import":
                incoming.import_envelopes(vault, [("x", seal_for(vault))])
            elif step == "show":
                case_view.show_case(vault, case)
            elif step == "note":
                vault.add_note(case, "a note")
            elif step.startswith("assign-"):
                vault.assign(case, step.removeprefix("assign-"))
            elif step == "status":
                vault.set_status(case, status)
            elif step == "close":
                vault.close_case(case, outcome)
            elif step == "rotate":
                membership.rotate_team_key(vault)
            elif step == "reseal":
                membership.reseal_reports(vault)
            elif step == "add-bea":
                membership.add_caseworker(vault, "bea", PASSPHRASE)
            elif step == "revoke-bea":
                membership.revoke_caseworker(vault, "bea")
        except (CaseWorkflowError, UsageError):
            pass  # refused by the vault (already closed, bea already added...): no entry
    out = vault.directory.parent / f"b{len(list(vault.directory.parent.iterdir()))}"
    audit_export.write(vault, out)
    verify(out.read_bytes())
    assert first_meaningless_entry(parse_bundle(out.read_bytes())) is None


def test_the_doc_table_says_what_the_code_table_says() -> None:
    """docs/audit.md section 8 lists each action once, with `-` for its commitment exactly
    where vault/audit/entries.py says it carries none, and `-` alone for its detail exactly
    where it has none."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "audit.md").read_text()
    section = doc[doc.index("### 8. ") : doc.index("### 9. ")]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if line.startswith("| `") and len(cells) == 3:
            action = cells[0].split("`")[1]
            assert action not in rows, action
            rows[action] = cells
    assert set(rows) == set(BY_ACTION)
    for action, (_, detail, commitment) in rows.items():
        rule = BY_ACTION[action]
        assert commitment.startswith("`-`") == (rule.commitment == "no"), action
        assert (detail == "`-`") == (rule.detail.words == () and rule.detail.form is None), action


def test_a_clock_gone_back_never_makes_the_log_go_back(
    workflow_vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = workflow_vault
    case = case_view.list_cases(vault)[0].id
    case_view.show_case(vault, case)
    monkeypatch.setattr("vault.auditlog.now_to_the_second", lambda: "2001-01-01T00:00:00Z")
    case_view.show_case(vault, case)
    incoming.import_envelopes(vault, [("y", seal_for(vault)), ("z", seal_for(vault))])
    times = [_fields(leaf)[1] for leaf in vault.log.leaves()]
    assert times[-3:] == [times[-4]] * 3  # the newest time again, not 2001
    out = vault.directory.parent / "after-the-clock"
    audit_export.write(vault, out)
    verify(out.read_bytes())
