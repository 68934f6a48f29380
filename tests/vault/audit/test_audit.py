"""The access log and the audit bundle: what is logged, and every kind of tampering caught.

A scripted session runs the real `vault` command (init, import, show, note, assign, status,
close, export); its bundle is then checked in a directory with no vault and no passphrase,
clean and after each kind of tampering the issue lists.
"""

from __future__ import annotations

import base64
import gc
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nacl.bindings as sodium
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from nacl.exceptions import CryptoError

from tests.conftest import (
    CANARY,
    PASSPHRASE,
    Cli,
    _in_process,
    assert_clean_error,
    seal_for,
)
from vault import _crypto, audit_export, auditing, case_view, incoming, schema, search
from vault.audit.leaves import ACTIONS as LEAF_ACTIONS
from vault.audit.leaves import Leaf, LeafError, encode_leaf
from vault.audit.signed_note import Checkpoint, NoteSigner, parse_note, sign_checkpoint
from vault.audit.verify import BundleError, verify
from vault.auditors import add_auditor
from vault.errors import CaseWorkflowError, WrongKeyError
from vault.store import Vault

# --- a scripted session through the real command ---------------------------------------------


@dataclass
class Session:
    cli: Cli
    bundle: bytes  # the export after the whole session
    trusted: str  # a checkpoint saved by the auditor's earlier verify
    early: bytes  # an export made before the later actions
    later_copy: Path  # a copy of the vault taken before the later actions


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    cli = Cli(tmp_path_factory.mktemp("caseworker"))
    _ok(cli("init", "--name", "amara"))
    _ok(cli("team-key", "export", "team-key.json"))
    for n in range(3):
        report = json.dumps(
            {
                "sector": "policing",
                "role": "police officer",
                "harms": ["abuse-of-power"],
                "what_happened": f"Report {n}. {CANARY}",
            }
        )
        _ok(
            cli(
                "submit", "--team-key", "team-key.json", "--out", f"r{n}.env", input=report.encode()
            )
        )
    _ok(cli("import", "r0.env", "r1.env", "r2.env"))
    case = json.loads(_ok(cli("cases", "list", "--json")))[0]["id"]
    _ok(cli("cases", "show", case))
    _ok(cli("cases", "note", case, "Called back; she wants help with a complaint."))
    _ok(cli("audit", "export", "early.bundle"))
    _ok(cli("audit", "verify", "early.bundle", "--save-checkpoint", "trusted.checkpoint"))
    copy = cli.cwd / "vault-copy"
    shutil.copytree(cli.cwd / "vault-data", copy)
    _ok(cli("cases", "assign", case, "amara"))
    _ok(cli("cases", "status", case, "triage"))
    _ok(cli("cases", "close", case, "--outcome", "supported"))
    _ok(cli("audit", "export", "audit.bundle"))
    return Session(
        cli=cli,
        bundle=(cli.cwd / "audit.bundle").read_bytes(),
        trusted=(cli.cwd / "trusted.checkpoint").read_text(),
        early=(cli.cwd / "early.bundle").read_bytes(),
        later_copy=copy,
    )


def _auditor_verify(
    tmp_path: Path, bundle: bytes, *extra: str, trusted: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`vault audit verify` as an auditor runs it: another directory, no vault, no passphrase
    (through the entry point the installed command calls, in this process, as ``Cli`` runs
    commands: its own environment, working directory and streams)."""
    (tmp_path / "bundle").write_bytes(bundle)
    args = ["audit", "verify", "bundle", *extra]
    if trusted is not None:
        (tmp_path / "trusted").write_text(trusted)
        args += ["--trusted", "trusted"]
    return _in_process(args, tmp_path, None, {"PATH": ""})


def _lines(bundle: bytes) -> list[str]:
    return bundle.decode().split("\n")


def _join(lines: list[str]) -> bytes:
    return "\n".join(lines).encode()


def _leaf_range(lines: list[str]) -> tuple[int, int]:
    """Indexes (in ``lines``) of the first and one past the last leaf line."""
    start = next(i for i, line in enumerate(lines) if line.startswith("leaves ")) + 1
    return start, start + int(lines[start - 1].split()[1])


def _set_count(lines: list[str], prefix: str, delta: int) -> None:
    i = next(i for i, line in enumerate(lines) if line.startswith(prefix + " "))
    lines[i] = f"{prefix} {int(lines[i].split()[1]) + delta}"


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert_clean_error(result, 4)
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


# --- clean ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_session_bundle_verifies_clean_with_no_vault(session: Session, tmp_path: Path) -> None:
    result = _auditor_verify(tmp_path, session.bundle, "--json", trusted=session.trusted)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    actions = summary["actions_by_actor"]["amara"]
    assert (actions["imported"], actions["opened"], actions["note"]) == (3, 1, 1)
    assert actions["assigned"] == actions["status"] == actions["closed"] == 1
    assert summary["cases_touched"] == 3
    assert summary["trusted_size"] < summary["entries"]
    assert list(tmp_path.iterdir()) == [tmp_path / "bundle", tmp_path / "trusted"]
    people = _auditor_verify(tmp_path, session.bundle)
    assert "Verified" in people.stdout
    assert "amara: " in people.stdout


@pytest.mark.slow
def test_the_bundle_holds_no_report_content(session: Session) -> None:
    text = session.bundle.decode()
    for secret in (CANARY, "Called back", "police officer"):
        assert secret not in text


# --- each kind of tampering: exit 4, naming the place ----------------------------------------


@pytest.mark.slow
def test_an_edited_entry_is_named(session: Session, tmp_path: Path) -> None:
    lines = _lines(session.bundle)
    start, end = _leaf_range(lines)
    i = next(i for i in range(start, end) if " status " in lines[i])
    lines[i] = lines[i].replace(" triage ", " referred ")
    _refused(_auditor_verify(tmp_path, _join(lines)), f"Entry {i - start + 1} ", "edited")


@pytest.mark.slow
def test_a_deleted_entry_is_named(session: Session, tmp_path: Path) -> None:
    lines = _lines(session.bundle)
    start, end = _leaf_range(lines)
    i = next(i for i in range(start, end) if " opened " in lines[i])
    del lines[i]
    _set_count(lines, "leaves", -1)
    _refused(_auditor_verify(tmp_path, _join(lines)), f"Entry {i - start + 1} ", "removed")


@pytest.mark.slow
def test_reordered_entries_are_named(session: Session, tmp_path: Path) -> None:
    lines = _lines(session.bundle)
    start, end = _leaf_range(lines)
    i = next(i for i in range(start, end) if " assigned " in lines[i])
    lines[i], lines[i + 1] = lines[i + 1], lines[i]  # the assign and the status change
    _refused(_auditor_verify(tmp_path, _join(lines)), f"Entry {i - start + 1} ", "moved")


@pytest.mark.slow
def test_a_truncated_tail_is_caught(session: Session, tmp_path: Path) -> None:
    lines = _lines(session.bundle)
    _, end = _leaf_range(lines)
    del lines[end - 2 : end]  # the last two entries, keeping the checkpoints
    _set_count(lines, "leaves", -2)
    _refused(_auditor_verify(tmp_path, _join(lines)), "cut short")


@pytest.mark.slow
def test_a_consistent_older_bundle_is_caught_by_the_trusted_checkpoint(
    session: Session, tmp_path: Path
) -> None:
    # Cut cleanly back to an older state (leaves and checkpoints alike): only a checkpoint the
    # auditor trusted from later on can show it.
    ok = _auditor_verify(tmp_path, session.bundle, "--save-checkpoint", "newest")
    assert ok.returncode == 0, ok.stderr
    newest = (tmp_path / "newest").read_text()
    _refused(_auditor_verify(tmp_path, session.early, trusted=newest), "cut short")


@pytest.mark.slow
def test_history_forked_from_the_trusted_checkpoint_is_caught(
    session: Session, tmp_path: Path
) -> None:
    # The copy taken before the later actions goes its own way: its log shares the origin
    # and the key but, past the copy, not the history the auditor trusted.
    ok = _auditor_verify(tmp_path, session.bundle, "--save-checkpoint", "newest")
    assert ok.returncode == 0, ok.stderr
    newest = (tmp_path / "newest").read_text()
    cli = session.cli
    copy = tmp_path / "copy"
    shutil.copytree(session.later_copy, copy)
    case = json.loads(_ok(cli("cases", "list", "--json", "--vault", str(copy))))[0]
    _ok(cli("cases", "status", case["id"], "referred", "--vault", str(copy)))
    _ok(cli("cases", "show", case["id"], "--vault", str(copy)))
    _ok(cli("cases", "show", case["id"], "--vault", str(copy)))
    forked = tmp_path / "forked.bundle"
    _ok(cli("audit", "export", str(forked), "--vault", str(copy)))
    alone = _auditor_verify(tmp_path, forked.read_bytes())
    assert alone.returncode == 0, alone.stderr  # consistent in itself
    _refused(_auditor_verify(tmp_path, forked.read_bytes(), trusted=newest), "forked")


def _replace_checkpoint(bundle: bytes, number: int, note: str) -> bytes:
    lines = _lines(bundle)
    indexes = [i for i, line in enumerate(lines) if line.startswith("checkpoint ")]
    lines[indexes[number - 1]] = "checkpoint " + base64.b64encode(note.encode()).decode()
    return _join(lines)


def _checkpoints(bundle: bytes) -> list[str]:
    return [
        base64.b64decode(line.split(" ", 1)[1]).decode()
        for line in _lines(bundle)
        if line.startswith("checkpoint ")
    ]


@pytest.mark.slow
def test_a_checkpoint_signed_by_an_unknown_key_is_refused(session: Session, tmp_path: Path) -> None:
    notes = _checkpoints(session.bundle)
    checkpoint = Checkpoint.parse_text(parse_note(notes[-1]).text)
    _, seed = _crypto.sign_keypair()
    forger = NoteSigner.from_seed(checkpoint.origin, seed)  # same key name, another key
    forged = _replace_checkpoint(session.bundle, len(notes), sign_checkpoint(checkpoint, forger))
    _refused(_auditor_verify(tmp_path, forged), f"Checkpoint {len(notes)} ", "unknown key")


@pytest.mark.slow
def test_a_checkpoint_inconsistent_with_its_predecessor_is_refused(
    session: Session, tmp_path: Path
) -> None:
    lines = _lines(session.bundle)
    i = next(i for i, line in enumerate(lines) if line.startswith("proof ") and line.count(" ") > 2)
    parts = lines[i].split(" ")
    parts[3] = base64.b64encode(bytes(32)).decode()
    lines[i] = " ".join(parts)
    _refused(_auditor_verify(tmp_path, _join(lines)), "not consistent with checkpoint")


@pytest.mark.slow
def test_a_checkpoint_from_a_forked_copy_is_refused(session: Session, tmp_path: Path) -> None:
    # Signed by the right key, for the right origin, but over another history.
    cli = session.cli
    copy = tmp_path / "copy"
    shutil.copytree(session.later_copy, copy)
    case = json.loads(_ok(cli("cases", "list", "--json", "--vault", str(copy))))[0]["id"]
    _ok(cli("cases", "show", case, "--vault", str(copy)))
    _ok(cli("audit", "export", str(tmp_path / "copy.bundle"), "--vault", str(copy)))
    theirs = _checkpoints((tmp_path / "copy.bundle").read_bytes())
    ours = _checkpoints(session.bundle)
    sizes = [Checkpoint.parse_text(parse_note(n).text).size for n in ours]
    at = {Checkpoint.parse_text(parse_note(n).text).size: n for n in theirs}
    number = next(i for i, s in enumerate(sizes, 1) if s in at and at[s] != ours[i - 1])
    swapped = _replace_checkpoint(session.bundle, number, at[sizes[number - 1]])
    _refused(_auditor_verify(tmp_path, swapped), f"checkpoint {number}")


def test_entries_and_checkpoints_by_a_revoked_caseworker_are_refused(vault: Vault) -> None:
    case = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    with vault.transaction() as db:  # the log records amara's revocation...
        vault.log_action(db, "caseworker-revoked", vault.identity.key_id)
    case_view.show_case(
        vault, case
    )  # ...and then an action by amara's key, and a checkpoint it signed
    bundle = tmp_bundle(vault)
    with pytest.raises(BundleError, match=r"revoked|revocation"):
        verify(bundle)


def tmp_bundle(vault: Vault) -> bytes:
    out = vault.directory.parent / f"bundle-{_crypto.random_bytes(4).hex()}"
    audit_export.write(vault, out)
    return out.read_bytes()


def test_a_bundle_from_another_file_is_refused(tmp_path: Path) -> None:
    _refused(_auditor_verify(tmp_path, b"\x89PNG\r\n\x1a\nnot a bundle"), "not")
    _refused(_auditor_verify(tmp_path, b"redress-audit-bundle/1\n"), "damaged")


# --- what is logged, and when ----------------------------------------------------------------


def _actions(vault: Vault) -> list[str]:
    return [leaf.decode().split(" ")[3] for leaf in vault.log.leaves()]


def test_every_action_is_one_entry_in_its_own_transaction(vault: Vault, tmp_path: Path) -> None:
    case = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    case_view.show_case(vault, case)
    vault.add_note(case, "note text")
    vault.assign(case, "amara")
    vault.set_status(case, "triage")
    vault.close_case(case, "supported")
    assert _actions(vault) == [
        "vault-created",
        "caseworker-added",
        "imported",
        "opened",
        "note",
        "assigned",
        "status",
        "closed",
    ]
    # each transaction that added entries ended with a checkpoint of the log so far
    sizes = [int(r[0]) for r in vault.db.execute("SELECT size FROM checkpoints ORDER BY size")]
    assert sizes == [2, 3, 4, 5, 6, 7, 8]


def test_a_failed_action_leaves_no_entry(vault: Vault, tmp_path: Path) -> None:
    case = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    before = (_actions(vault), auditing.log_head(vault))
    with pytest.raises(CaseWorkflowError):
        vault.set_status(case, "new")  # already new
    (tmp_path / "taken").write_bytes(b"x")
    with pytest.raises(Exception, match="already exists"):
        audit_export.write(vault, tmp_path / "taken")
    assert (_actions(vault), auditing.log_head(vault)) == before


def test_entries_never_hold_content_names_or_contacts(vault: Vault) -> None:
    case = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    vault.add_note(case, f"Spoke to Jo Bloggs on 07700 900123. {CANARY}")
    vault.assign(case, "amara")
    logged = b"\n".join(vault.log.leaves()) + b"".join(
        str(r[0]).encode() for r in vault.db.execute("SELECT note FROM checkpoints")
    )
    for secret in (CANARY, "Bloggs", "07700", "amara", "Riverside", "example.org"):
        assert secret.encode() not in logged
    assert f" assigned {case} {vault.identity.key_id} ".encode() in logged  # a key id, no name


def test_the_log_is_append_only_in_the_database(vault: Vault) -> None:
    from vault import db as dbmod

    for sql in ("UPDATE log_leaves SET leaf = leaf", "DELETE FROM log_leaves"):
        with pytest.raises(dbmod.DatabaseError):
            vault.db.execute(sql)
    with pytest.raises(dbmod.DatabaseError):
        vault.db.execute(
            "INSERT INTO log_leaves (seq, leaf, hash) VALUES (99, ?, ?)", (b"x" * 50, bytes(32))
        )


# --- auditors ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_auditors_key_opens_nothing(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    _ok(cli("init", "--name", "amara"))
    _ok(cli("auditor", "keygen", "dana", "--out", "auditor"))
    _ok(cli("auditor", "add", "dana", "--key", "auditor/dana.vkey"))
    secret_line = (tmp_path / "auditor" / "dana.key").read_text().strip()
    seed = base64.b64decode(secret_line.split("+", 4)[4])[1:]
    assert len(seed) == 32
    # as a passphrase, it unlocks nothing
    (tmp_path / "as-passphrase").write_text(secret_line + "\n")
    (tmp_path / "as-passphrase").chmod(0o600)
    refused = cli("cases", "list", "--passphrase-file", "as-passphrase")
    assert_clean_error(refused, 3)
    # as an X25519 key (the Ed25519 key converted), it opens no access file and no report
    pk, sk = sodium.crypto_sign_seed_keypair(seed)
    box_sk = sodium.crypto_sign_ed25519_sk_to_curve25519(sk)
    box_pk = sodium.crypto_sign_ed25519_pk_to_curve25519(pk)
    with Vault.unlock(tmp_path / "vault-data", PASSPHRASE) as vault:
        envelope = seal_for(vault)
        bundle = tmp_bundle(vault)
    access = (tmp_path / "vault-data/caseworkers/amara.access").read_bytes()
    for sealed in (envelope[16:], access[96:]):
        with pytest.raises(CryptoError):
            sodium.crypto_box_seal_open(sealed, box_pk, box_sk)
    # as a database key, it opens nothing

    with pytest.raises(WrongKeyError):
        schema.connect(tmp_path / "vault-data/vault.db", _crypto.SecretBytes(seed))
    # and it is in the bundle, bound to its name by the log
    assert b"auditor dana " in bundle
    assert verify(bundle).entries >= 3


# --- the property: any single change is caught -------------------------------------------------


@pytest.fixture(scope="module")
def busy_vault(tmp_path_factory: pytest.TempPathFactory) -> Vault:
    vault = Vault.create(tmp_path_factory.mktemp("busy") / "vault-data", "amara", PASSPHRASE)
    incoming.import_envelopes(vault, [(str(n), seal_for(vault)) for n in range(3)])
    return vault


ACTIONS = st.lists(
    st.sampled_from(["import", "show", "note", "assign", "status", "close", "search"]),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    actions=ACTIONS,
    where=st.floats(0, 1, exclude_max=True),
    byte=st.integers(1, 255),
    cut=st.booleans(),
)
def test_any_single_byte_change_or_removed_line_is_caught(
    busy_vault: Vault, actions: list[str], where: float, byte: int, cut: bool
) -> None:
    vault = busy_vault
    for action in actions:
        case = case_view.list_cases(vault, limit=1)[0].id
        try:
            if action == "import":
                incoming.import_envelopes(vault, [("x", seal_for(vault))])
            elif action == "show":
                case_view.show_case(vault, case)
            elif action == "note":
                vault.add_note(case, "a note")
            elif action == "assign":
                vault.assign(case, "amara")
            elif action == "status":
                vault.set_status(case, "triage")
            elif action == "search":
                search.search(vault, "report")  # a read list, in the bundle beside its entry
            else:
                vault.close_case(case, "supported")
        except CaseWorkflowError:
            pass  # e.g. already in that status: nothing logged, as tested above
    bundle = tmp_bundle(vault)
    verify(bundle)  # clean
    if cut:
        lines = bundle.split(b"\n")[:-1]
        del lines[int(where * len(lines))]
        damaged = b"\n".join(lines) + b"\n"
    else:
        at = int(where * len(bundle))
        damaged = bundle[:at] + bytes([bundle[at] ^ byte]) + bundle[at + 1 :]
    # The one change that is no tampering: a /2 bundle with no read list relabelled /1 is the
    # same bundle in the older format (docs/audit.md section 12).
    assume(not (damaged.startswith(b"redress-audit-bundle/1\n") and b"\nreads " not in damaged))
    with pytest.raises(BundleError):
        verify(damaged)


def test_names_the_vault_accepts_are_names_the_bundle_accepts(vault: Vault) -> None:
    _, seed = _crypto.sign_keypair()
    add_auditor(vault, "zoë", NoteSigner.from_seed("auditor.redress/zoë", seed).verifier.to_vkey())
    assert verify(tmp_bundle(vault)).entries == 4


def test_vault_check_names_a_changed_log_entry(vault: Vault) -> None:
    from vault.check import check_vault

    case = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    vault.set_status(case, "triage")
    assert check_vault(vault) == []
    db = vault.db  # someone with the database key, who drops the guard and edits the log
    db.execute("DROP TRIGGER log_leaves_append_only_update")
    seq, leaf = db.execute(
        "SELECT seq, leaf FROM log_leaves WHERE leaf LIKE '% status %'"
    ).fetchone()
    db.execute(
        "UPDATE log_leaves SET leaf = ? WHERE seq = ?",
        (bytes(leaf).replace(b" triage ", b" closed "), seq),
    )
    problems = check_vault(vault)
    assert problems == [
        f"the access log: Entry {seq + 1} does not match checkpoint {seq}:"
        " an entry there was edited, removed, added or moved."
    ]


_FIELD = st.one_of(
    st.none(),
    st.sampled_from(["-", "ABCD1234", "triage", "0" * 64, "bad field", "é", "a-b", "7KQ2M9XD"]),
)


@given(
    st.sampled_from(["2026-11-24T09:15:02Z", "2026-11-24 09:15:02"]),
    st.sampled_from(["0123456789abcdef", "0123456789ABCDEF"]),
    st.sampled_from([*LEAF_ACTIONS, "unknown"]),
    _FIELD,
    _FIELD,
    _FIELD,
)
def test_the_fast_leaf_encoding_accepts_exactly_what_leaf_does(
    at: str, actor: str, action: str, case: str | None, detail: str | None, commit: str | None
) -> None:
    try:
        expected: bytes | None = Leaf(at, actor, action, case, detail, commit).encode()
    except LeafError:
        expected = None
    if expected is None:
        with pytest.raises(LeafError):
            encode_leaf(at, actor, action, case, detail, commit)
    else:
        assert encode_leaf(at, actor, action, case, detail, commit) == expected


def test_verify_leaves_no_garbage_behind(vault: Vault) -> None:
    """verify pauses the cyclic collector while it works; nothing it makes may be a cycle the
    collector must find afterwards (a class made per call once kept every line of each bundle
    alive, so verifying again and again grew without bound)."""
    case = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    vault.add_note(case, "note")
    bundle = tmp_bundle(vault)
    gc.collect()
    verify(bundle)
    assert gc.collect() == 0
