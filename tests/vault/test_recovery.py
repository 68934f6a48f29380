"""k-of-n recovery shares: made, checked word by word, and opening a vault with no passphrase."""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import CANARY, PASSPHRASE, Cli, assert_clean_error, make_report, seal_for
from vault import backup as backups
from vault import case_view, incoming, membership, recovery
from vault.check import check_vault
from vault.errors import WrongKeyError
from vault.passphrase import Passphrase
from vault.recovery import RecoveryShareError
from vault.store import Vault

NEW = Passphrase(b"the restorer's new passphrase")


def _split(vault: Vault, out: Path, n: int = 5, k: int = 3) -> list[Path]:
    return list(recovery.split(vault, n, k, out).files)


def _texts(paths: list[Path]) -> list[tuple[str, str]]:
    return [(p.name, p.read_text()) for p in paths]


def test_share_files_are_private_printable_and_name_their_holder(
    vault: Vault, tmp_path: Path
) -> None:
    holders = ["trustee", "chair", "lead", "dpo", "solicitor"]
    made = recovery.split(vault, 5, 3, tmp_path / "shares", holders)
    assert [p.name for p in made.files] == [
        f"recovery-share-{n}-of-5-{h}.txt" for n, h in enumerate(holders, 1)
    ]
    assert (tmp_path / "shares").stat().st_mode & 0o777 == 0o700
    for n, (path, holder) in enumerate(zip(made.files, holders, strict=True), 1):
        assert path.stat().st_mode & 0o777 == 0o600
        text = path.read_text()
        assert text.isprintable() or all(line.isprintable() for line in text.splitlines())
        assert f"Share {n} of 5. Any 3 shares" in text
        assert f"Holder: {holder}" in text
        assert len(recovery.words_of(text).split()) == 33
    # The vault keeps the recovery public key and access, and checks clean.
    assert (vault.directory / "recovery.pub").exists()
    assert (vault.directory / "recovery.access").exists()
    assert check_vault(vault) == []


@pytest.mark.slow
def test_any_k_shares_open_the_vault_after_every_passphrase_is_lost(
    vault: Vault, tmp_path: Path
) -> None:
    report = make_report(what_happened=f"{CANARY} recovered")
    (case_id,) = incoming.import_envelopes(vault, [("r", seal_for(vault, report))]).imported
    shares = _split(vault, tmp_path / "shares")
    membership.rotate_team_key(vault)  # rewraps recovery.access to the new epoch too
    (later,) = incoming.import_envelopes(vault, [("l", seal_for(vault))]).imported
    vault.close()
    for key_file in (vault.directory / "caseworkers").glob("*.key"):
        key_file.unlink()  # every passphrase (and key file) lost

    for n, chosen in enumerate([(0, 1, 2), (4, 2, 0), (1, 3, 4)]):
        copy = tmp_path / f"copy{n}"
        shutil.copytree(vault.directory, copy)
        key = recovery.combine(_texts([shares[i] for i in chosen]))
        with recovery.restore_access(copy, key, f"restorer{n}", NEW) as restored:
            assert restored.identity.name == f"restorer{n}"
            assert CANARY in case_view.show_case(restored, case_id).report.what_happened
            case_view.show_case(restored, later)
            assert check_vault(restored) == []
        with Vault.unlock(copy, NEW, f"restorer{n}") as again:
            assert again.access.current.epoch == 2


def test_a_wrong_or_missing_share_is_named(vault: Vault, tmp_path: Path) -> None:
    shares = _texts(_split(vault, tmp_path / "shares"))
    # A mistyped word in the second share given.
    label, text = shares[1]
    words = recovery.words_of(text).split()
    wrong = "academic" if words[6] != "academic" else "acid"
    typo = re.sub(rf"\b{words[6]}\b", wrong, text, count=1)
    with pytest.raises(RecoveryShareError, match=rf"^Share 2 \({label}\) has a mistyped"):
        recovery.combine([shares[0], (label, typo), shares[2]])
    # A word left out of the third.
    short = " ".join(recovery.words_of(shares[2][1]).split()[:-1])
    with pytest.raises(RecoveryShareError, match=r"^Share 3 \(s3\) has a mistyped or missing"):
        recovery.combine([shares[0], shares[1], ("s3", short)])
    # Too few.
    with pytest.raises(RecoveryShareError, match="need 3 to open the vault; only 2 given"):
        recovery.combine(shares[:2])
    # The same share twice.
    with pytest.raises(RecoveryShareError, match=r"Share 3 .* is the same share as share 1"):
        recovery.combine([shares[0], shares[1], shares[0]])
    # A share from another split.
    other = _texts(_split(vault, tmp_path / "other"))
    with pytest.raises(RecoveryShareError, match=r"^Share 2 .* different set"):
        recovery.combine([shares[0], other[1], shares[2]])
    # Nothing in any message is a share's words.
    for bad in ([shares[0], (label, typo), shares[2]], shares[:2]):
        with pytest.raises(RecoveryShareError) as raised:
            recovery.combine(bad)
        message = str(raised.value) + str(raised.value.hint)
        assert not any(w in message.split() for w in words if len(w) > 3)


def test_fewer_than_k_shares_and_old_shares_open_nothing(vault: Vault, tmp_path: Path) -> None:
    old = _texts(_split(vault, tmp_path / "old"))
    new = _texts(_split(vault, tmp_path / "new"))  # a new split replaces the old one
    vault.close()
    for combo in itertools.combinations(new, 2):
        with pytest.raises(RecoveryShareError):
            recovery.combine(list(combo))
    with pytest.raises(WrongKeyError, match="do not open this vault"):
        recovery.restore_access(vault.directory, recovery.combine(old[:3]), "x", NEW)
    recovery.restore_access(vault.directory, recovery.combine(new[2:]), "x", NEW).close()


@pytest.mark.slow
def test_revoke_rewraps_recovery_and_backups_open_with_shares(vault: Vault, tmp_path: Path) -> None:
    shares = _texts(_split(vault, tmp_path / "shares"))
    membership.add_caseworker(vault, "bob", Passphrase(b"bob's own passphrase"))
    vault.close()
    with Vault.unlock(vault.directory, Passphrase(b"bob's own passphrase"), "bob") as bob:
        membership.revoke_caseworker(bob, "amara")  # amara made the shares, and leaves
        (case_id,) = incoming.import_envelopes(bob, [("r", seal_for(bob))]).imported
        backups.make_backup(bob, tmp_path / "vault.backup", Passphrase(b"bob's own passphrase"))
    target = tmp_path / "restored"
    key = recovery.combine(shares[1:4])
    summary = backups.restore_backup(tmp_path / "vault.backup", target, recovery=key)
    assert summary.recovery
    with recovery.restore_access(target, key, "dana", NEW) as dana:
        assert dana.access.current.epoch == 2
        case_view.show_case(dana, case_id)
        assert check_vault(dana) == []


@pytest.mark.slow
def test_cli_recovery_split_and_restore(cli: Cli) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    result = cli("recovery", "split", "--shares", "3", "--threshold", "2", "--out", "shares")
    assert result.returncode == 0, result.stderr
    files = sorted((cli.cwd / "shares").iterdir())
    assert len(files) == 3
    new_pass = cli.cwd / "new-pass"
    new_pass.write_text("a new passphrase for sam\n")
    new_pass.chmod(0o600)

    text = files[1].read_text()
    first_word = recovery.words_of(text).split()[0]
    other = "acid" if first_word != "acid" else "academic"
    (cli.cwd / "typo.txt").write_text(text.replace(f" {first_word} ", f" {other} ", 1))
    result = cli(
        "recovery", "restore", "--share", str(files[0]), "--share", "typo.txt",
        "--name", "sam", "--new-passphrase-file", str(new_pass),
    )  # fmt: skip
    assert_clean_error(result, 3)
    assert "Share 2 (typo.txt) has a mistyped" in result.stderr

    result = cli(
        "recovery", "restore", "--share", str(files[2]), "--share", str(files[0]),
        "--name", "sam", "--new-passphrase-file", str(new_pass),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = cli("check", "--as", "sam", env={"VAULT_PASSPHRASE_FILE": str(new_pass)})
    assert result.returncode == 0, result.stderr
    assert PASSPHRASE  # amara's passphrase was never needed


@pytest.mark.slow
def test_cli_recovery_restore_on_a_team_laptop_says_it_has_left_the_team(cli: Cli) -> None:
    """amara's laptop syncs (she added bea from a join request); she forgets her passphrase and
    opens it with recovery shares as amara-2. The restore says in one line that the folder has
    left the team and what to do; afterwards no command there points to vault sync (refused
    there, exit 2: tests/vault/test_review12t.py), and it adds nobody for the team."""
    from vault.db import new_origin
    from vault.join_request import make_request
    from vault.keys import Identity

    bea = make_request(Identity.generate("bea"), new_origin())
    (cli.cwd / "bea.request").write_bytes(bea)
    with Vault.create(cli.cwd / "laptop", "amara", PASSPHRASE) as amara:
        membership.add_from_request(amara, "bea", bea)
        shares = [f"--share={p}" for p in _split(amara, cli.cwd / "shares", 3, 2)[:2]]
    new_pass = cli.cwd / "new-pass"
    new_pass.write_bytes(NEW.reveal() + b"\n")
    new_pass.chmod(0o600)
    at = ("--vault", "laptop")
    restored = cli(
        "recovery", "restore", *shares, "--name", "amara-2", "--new-passphrase-file",
        str(new_pass), *at,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    said = [line for line in restored.stderr.splitlines() if "left the team" in line]
    assert len(said) == 1, restored.stderr
    assert "join from a new folder (vault join)" in said[0]
    assert "revoke this laptop's old name" in said[0]

    env = {"VAULT_PASSPHRASE_FILE": str(new_pass)}
    at = (*at, "--as", "amara-2")
    rotated = cli("team-key", "rotate", *at, env=env)
    revoked = cli("caseworker", "revoke", "bea", *at, env=env)
    for done in (rotated, revoked):
        assert done.returncode == 0, done.stderr
        assert "This folder has left the team" in done.stderr
        assert "vault sync" not in done.stdout + done.stderr
        assert "team-key export" not in done.stderr
    assert "a colleague whose laptop syncs removes bea from the team" in revoked.stderr
    added = cli("caseworker", "add", "bea", "--request", "bea.request", *at, env=env)
    assert_clean_error(added, 2)
    assert "has left the team" in added.stderr
    assert "vault sync" not in added.stderr
