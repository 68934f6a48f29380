"""Caseworkers joining and leaving, passphrase changes and team key epochs, crash by crash."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import (
    PASSPHRASE,
    Cli,
    assert_clean_error,
    report_data,
    seal_for,
    snapshot,
)
from vault import case_view, incoming, membership, schema
from vault import db as dbmod
from vault.check import check_vault
from vault.envelope import parse_header
from vault.errors import UsageError, WrongKeyError, WrongPassphraseError
from vault.keys import Identity, lock_identity, unlock_identity, unwrap_access, wrap_access
from vault.passphrase import Passphrase
from vault.store import Vault

BOB = Passphrase(b"bob's own passphrase")
CAROL = Passphrase(b"carol's own passphrase")


def _team(vault_dir: Path) -> list[str]:
    """amara (already open as the fixture), plus bob and carol, and one case each."""
    with Vault.unlock(vault_dir, PASSPHRASE, "amara") as amara:
        membership.add_caseworker(amara, "bob", BOB)
        membership.add_caseworker(amara, "carol", CAROL)
        ids = incoming.import_envelopes(amara, [("a", seal_for(amara))]).imported
    with Vault.unlock(vault_dir, BOB, "bob") as bob:
        bob.add_note(ids[0], "bob was here")
    return ids


def test_a_second_caseworker_opens_the_same_vault(vault: Vault) -> None:
    person = membership.add_caseworker(vault, "bob", BOB)
    (case_id,) = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported
    with Vault.unlock(vault.directory, BOB, "bob") as bob:
        assert bob.identity.key_id == person.key_id
        bob.add_note(case_id, "seen")
        assert [n.author for n in case_view.show_case(bob, case_id).notes] == ["bob"]
    with pytest.raises(UsageError, match="already a caseworker"):
        membership.add_caseworker(vault, "bob", BOB)
    with pytest.raises(UsageError, match="say which you are"):
        Vault.unlock(vault.directory, PASSPHRASE)
    assert [p[0] for p in vault.team_key_export().caseworkers] == ["amara", "bob"]


def test_an_access_file_written_by_a_stranger_is_refused(vault: Vault) -> None:
    membership.add_caseworker(vault, "bob", BOB)
    people = vault.directory / "caseworkers"
    # Someone who can write files in the vault folder, but is no caseworker, plants a key
    # file of their own and rewrites bob's access file with keys of their choosing.
    stranger = Identity.generate("mallory")
    (people / "mallory.key").write_bytes(
        lock_identity(stranger, Passphrase(b"mallory's passphrase"))
    )
    (people / "mallory.key").chmod(0o600)
    bob = unlock_identity((people / "bob.key").read_bytes(), BOB)
    (people / "bob.access").write_bytes(wrap_access(vault.access, bob.public, stranger))
    with pytest.raises(WrongKeyError, match="not written by a current caseworker"):
        Vault.unlock(vault.directory, BOB, "bob")


@pytest.mark.slow
def test_revoke_locks_out_the_leaver_and_keeps_their_past(vault: Vault, tmp_path: Path) -> None:
    ids = _team(vault.directory)
    people = vault.directory / "caseworkers"
    kept = tmp_path / "bob-kept"
    kept.mkdir()
    for f in ("bob.key", "bob.access"):
        shutil.copy2(people / f, kept / f)
    bob_identity = unlock_identity((kept / "bob.key").read_bytes(), BOB)
    old_access = unwrap_access(
        (kept / "bob.access").read_bytes(),
        bob_identity,
        frozenset({vault.identity.public.sign_pk}),
    )
    vault.close()

    with Vault.unlock(vault.directory, PASSPHRASE, "amara") as amara:
        change = membership.revoke_caseworker(amara, "bob")
        assert change.epoch == 2
        new_case = incoming.import_envelopes(amara, [("n", seal_for(amara))]).imported[0]
        # Past actions stay attributable: the note is still bob's, the signature still checks.
        assert [n.author for n in case_view.show_case(amara, ids[0]).notes] == ["bob"]
        assert check_vault(amara) == []
        new_envelope = bytes(
            amara.db.execute("SELECT envelope FROM cases WHERE id = ?", (new_case,)).fetchone()[0]
        )
        assert [p[0] for p in amara.team_key_export().caseworkers] == ["amara", "carol"]
    assert sorted(p.name for p in people.iterdir()) == [
        "amara.access",
        "amara.key",
        "carol.access",
        "carol.key",
    ]
    # bob's kept files and passphrase: the old database key no longer opens the vault ...
    for f in ("bob.key", "bob.access"):
        shutil.copy2(kept / f, people / f)
    with pytest.raises(WrongKeyError):
        Vault.unlock(vault.directory, BOB, "bob")
    with pytest.raises(WrongKeyError):
        schema.connect(vault.directory / "vault.db", old_access.db_key)
    # ... and no report sealed after the rotation: its epoch was never wrapped to him.
    assert parse_header(new_envelope).epoch == 2
    assert old_access.team_key(2) is None
    # carol, who did nothing, opens it as before.
    with Vault.unlock(vault.directory, CAROL, "carol") as carol:
        assert carol.access.current.epoch == 2
        case_view.show_case(carol, new_case)
    with Vault.unlock(vault.directory, CAROL, "carol") as carol:
        with pytest.raises(UsageError, match="yourself"):
            membership.revoke_caseworker(carol, "carol")
        with pytest.raises(UsageError, match="removed"):
            membership.add_caseworker(carol, "bob", BOB)


class Crash(Exception):
    pass


def _boom(*args: object, **kwargs: object) -> None:
    raise Crash()


def _crash_in_step_2(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vault, "log_action", _boom)


def _crash_after_step_2(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(membership.dbmod, "rekey", _boom)


def _crash_after_step_3(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(membership, "settle", _boom)


def _crash_during_step_4(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    def half(directory: Path, db: dbmod.Connection) -> None:
        people = directory / "caseworkers"
        (pending,) = people.glob("amara.access.next-*")
        pending.replace(people / "amara.access")
        raise Crash()

    monkeypatch.setattr(membership, "settle", half)


@pytest.mark.parametrize(
    ("crash", "revoked"),
    [
        (_crash_in_step_2, False),
        (_crash_after_step_2, True),
        (_crash_after_step_3, True),
        (_crash_during_step_4, True),
    ],
)
@pytest.mark.slow
def test_a_crash_at_any_step_of_revoke_locks_nobody_out(
    vault: Vault,
    monkeypatch: pytest.MonkeyPatch,
    crash: Callable[[Vault, pytest.MonkeyPatch], None],
    revoked: bool,
) -> None:
    ids = _team(vault.directory)
    vault.close()
    amara = Vault.unlock(vault.directory, PASSPHRASE, "amara")
    with monkeypatch.context() as m:
        crash(amara, m)
        with pytest.raises(Crash):
            membership.revoke_caseworker(amara, "bob")
    amara.db.close()  # the process died here

    # carol, then amara, unlock: whoever comes first finishes (or undoes) the change.
    with Vault.unlock(vault.directory, CAROL, "carol") as carol:
        assert carol.access.current.epoch == (2 if revoked else 1)
        assert check_vault(carol) == []
        case_view.show_case(carol, ids[0])
    with Vault.unlock(vault.directory, PASSPHRASE, "amara") as again:
        assert again.access.current.epoch == (2 if revoked else 1)
        assert check_vault(again) == []
    people = vault.directory / "caseworkers"
    assert not list(people.glob("*.next-*"))
    if revoked:
        assert not (people / "bob.key").exists()
        with pytest.raises(UsageError, match="no caseworker called bob"):
            Vault.unlock(vault.directory, BOB, "bob")
    else:
        with Vault.unlock(vault.directory, BOB, "bob") as bob:
            assert bob.access.current.epoch == 1
        with Vault.unlock(vault.directory, PASSPHRASE, "amara") as again:
            membership.revoke_caseworker(again, "bob")  # and it can be done again


@pytest.mark.slow
def test_passphrase_change_touches_nobody_else(vault: Vault) -> None:
    membership.add_caseworker(vault, "bob", BOB)
    people = vault.directory / "caseworkers"
    before = snapshot(people)
    membership.change_passphrase(vault, Passphrase(b"a brand new passphrase"))
    after = snapshot(people)
    assert {k for k in before if before[k] != after[k]} == {"amara.key"}
    with pytest.raises(WrongPassphraseError):
        Vault.unlock(vault.directory, PASSPHRASE, "amara")
    Vault.unlock(vault.directory, Passphrase(b"a brand new passphrase"), "amara").close()
    Vault.unlock(vault.directory, BOB, "bob").close()
    with pytest.raises(UsageError):
        membership.change_passphrase(vault, Passphrase(b"short"))


def test_rotation_keeps_old_reports_and_reseal_resumes_after_a_crash(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = incoming.import_envelopes(vault, [(str(i), seal_for(vault)) for i in range(5)]).imported
    change = membership.rotate_team_key(vault)
    assert change.epoch == 2
    new = incoming.import_envelopes(vault, [("n", seal_for(vault))]).imported
    for case_id in old + new:
        case_view.show_case(vault, case_id)  # the epoch 1 reports still open

    monkeypatch.setattr(membership, "RESEAL_BATCH", 2)

    def stop_after_first_batch(done: int) -> None:
        raise Crash()

    with pytest.raises(Crash):
        membership.reseal_reports(vault, stop_after_first_batch)
    epochs = [e for (e,) in vault.db.execute("SELECT epoch FROM cases ORDER BY rowid")]
    assert sorted(epochs) == [1, 1, 1, 2, 2, 2]
    assert membership.reseal_reports(vault) == 3  # carries on where it stopped
    assert {e for (e,) in vault.db.execute("SELECT epoch FROM cases")} == {2}
    assert membership.reseal_reports(vault) == 0
    assert check_vault(vault) == []
    for case_id in old + new:
        case_view.show_case(vault, case_id)
    vault.close()
    with Vault.unlock(vault.directory, PASSPHRASE) as again:
        assert again.access.current.epoch == 2
        assert len(again.access.team_keys) == 2


def _submit(cli: Cli, name: str) -> str:
    (cli.cwd / f"{name}.json").write_text(json.dumps(report_data()))
    result = cli("submit", "--team-key", "team-key.json", "--out", f"{name}.env", f"{name}.json")
    assert result.returncode == 0, result.stderr
    return f"{name}.env"


@pytest.mark.slow
def test_cli_add_revoke_and_passphrase(cli: Cli) -> None:
    bob_pass = cli.cwd / "bob-pass"
    bob_pass.write_text("bob's own passphrase\n")
    bob_pass.chmod(0o600)
    assert cli("init", "--name", "amara").returncode == 0
    result = cli("caseworker", "add", "bob", "--new-passphrase-file", str(bob_pass))
    assert result.returncode == 0, result.stderr
    as_bob = {"VAULT_PASSPHRASE_FILE": str(bob_pass), "VAULT_CASEWORKER": "bob"}
    assert cli("team-key", "export", "team-key.json", env=as_bob).returncode == 0
    assert cli("import", _submit(cli, "r1"), env=as_bob).returncode == 0

    kept = {
        f: (cli.cwd / "vault-data" / "caseworkers" / f).read_bytes()
        for f in ("bob.key", "bob.access")
    }
    result = cli("caseworker", "revoke", "bob", "--as", "amara")
    assert result.returncode == 0, result.stderr
    assert "epoch 2" in result.stderr
    result = cli("cases", "list", env=as_bob)
    assert_clean_error(result, 2)  # no such caseworker any more
    for name, data in kept.items():
        path = cli.cwd / "vault-data" / "caseworkers" / name
        path.write_bytes(data)
        path.chmod(0o600)
    result = cli("cases", "list", env=as_bob)
    assert_clean_error(result, 3)

    new_pass = cli.cwd / "new-pass"
    new_pass.write_text("amara's new passphrase\n")
    new_pass.chmod(0o600)
    result = cli(
        "caseworker", "passphrase", "--as", "amara", "--new-passphrase-file", str(new_pass)
    )
    assert result.returncode == 0, result.stderr
    result = cli("cases", "list", "--as", "amara")
    assert_clean_error(result, 3)
    result = cli("check", "--as", "amara", env={"VAULT_PASSPHRASE_FILE": str(new_pass)})
    assert result.returncode == 0, result.stderr

    result = cli(
        "team-key",
        "rotate",
        "--reseal",
        "--as",
        "amara",
        env={"VAULT_PASSPHRASE_FILE": str(new_pass)},
    )
    assert result.returncode == 0, result.stderr
    assert "epoch 3" in result.stderr
    assert "Re-sealed 1 report" in result.stderr


@pytest.mark.slow
def test_every_new_command_has_help_and_asks_for_new_passphrases_plainly(cli: Cli) -> None:
    for args in (
        ("check",),
        ("backup",),
        ("restore",),
        ("caseworker",),
        ("caseworker", "add"),
        ("caseworker", "revoke"),
        ("caseworker", "passphrase"),
        ("team-key", "rotate"),
        ("recovery",),
        ("recovery", "split"),
        ("recovery", "restore"),
    ):
        result = cli(*args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout
    assert cli("init", "--name", "amara").returncode == 0
    result = cli("caseworker", "add", "bob")  # no terminal, no --new-passphrase-file
    assert_clean_error(result, 2)
    assert "--new-passphrase-file" in result.stderr
    assert not (cli.cwd / "vault-data" / "caseworkers" / "bob.key").exists()
    result = cli("recovery", "split", "--shares", "3", "--threshold", "4", "--out", "s")
    assert_clean_error(result, 2)
    result = cli("recovery", "restore", "--name", "x", "--share", "missing.txt")
    assert_clean_error(result, 1)


@pytest.mark.slow
def test_a_crash_during_rotation_is_finished_by_the_next_unlock(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    membership.add_caseworker(vault, "bob", BOB)
    with monkeypatch.context() as m:
        m.setattr(membership, "settle", _boom)
        with pytest.raises(Crash):
            membership.rotate_team_key(vault)  # the database has epoch 2; the files do not
    vault.db.close()
    people = vault.directory / "caseworkers"
    assert sorted(p.name for p in people.glob("*.next-*")) == [
        "amara.access.next-2",
        "bob.access.next-2",
    ]
    with Vault.unlock(vault.directory, BOB, "bob") as bob:
        assert bob.access.current.epoch == 2
        assert bob.team_key_export().epoch == 2
    assert not list(people.glob("*.next-*"))
    with Vault.unlock(vault.directory, PASSPHRASE, "amara") as amara:
        assert amara.access.current.epoch == 2


@pytest.mark.slow
def test_two_key_changes_at_once_cannot_lock_anyone_out(vault: Vault) -> None:
    """bob unlocks; amara rotates the team key; bob then tries to rotate, add or split.

    Each of bob's changes was built from keys that are no longer current: all are refused,
    nothing of them is left behind, and everyone (and a backup) still opens the vault.
    """
    from vault import recovery
    from vault.errors import VaultError

    membership.add_caseworker(vault, "bob", BOB)
    (case_id,) = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported
    with Vault.unlock(vault.directory, BOB, "bob") as bob:
        membership.rotate_team_key(vault)  # amara, while bob is unlocked
        with pytest.raises(VaultError, match="keys changed since you unlocked"):
            membership.rotate_team_key(bob)
        with pytest.raises(VaultError, match="keys changed since you unlocked"):
            membership.revoke_caseworker(bob, "amara")
        with pytest.raises(VaultError, match="keys changed since you unlocked"):
            membership.add_caseworker(bob, "carol", CAROL)
        with pytest.raises(VaultError, match="keys changed since you unlocked"):
            recovery.split(bob, 3, 2, vault.directory.parent / "bob-shares")
    leftovers = [p.name for p in vault.directory.rglob("*") if ".next" in p.name]
    assert leftovers == []
    for name, passphrase in (("amara", PASSPHRASE), ("bob", BOB)):
        with Vault.unlock(vault.directory, passphrase, name) as again:
            assert case_view.show_case(again, case_id).report.what_happened
    assert check_vault(vault) == []


@pytest.mark.slow
def test_cli_reseal_finishes_a_rotation_without_a_new_epoch(cli: Cli) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    (cli.cwd / "r.json").write_text(json.dumps(report_data()))
    assert cli("submit", "--team-key", "team-key.json", "--out", "r.env", "r.json").returncode == 0
    assert cli("import", "r.env").returncode == 0
    rotated = cli("team-key", "rotate")  # without --reseal: as if stopped before it
    assert rotated.returncode == 0, rotated.stderr
    first = cli("team-key", "reseal")
    assert first.returncode == 0, first.stderr
    assert "Re-sealed 1 report under epoch 2." in first.stderr
    again = cli("team-key", "reseal")
    assert "Re-sealed 0 reports under epoch 2." in again.stderr
    assert cli("check").returncode == 0
