"""Backups and vault check: real SQLCipher, real libsodium, the real command where it matters."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.conftest import (
    CANARY,
    PASSPHRASE,
    Cli,
    assert_clean_error,
    make_report,
    report_data,
    seal_for,
)
from vault import backup as backups
from vault import case_view, incoming
from vault.check import check_vault
from vault.errors import IntegrityError, VaultError, VaultExistsError, WrongPassphraseError
from vault.passphrase import Passphrase
from vault.store import Vault


def _fill(vault: Vault, n: int = 3) -> list[str]:
    envelopes = [
        (f"r{i}", seal_for(vault, make_report(what_happened=f"{CANARY} report {i}")))
        for i in range(n)
    ]
    ids = incoming.import_envelopes(vault, envelopes).imported
    vault.add_note(ids[0], "rang back")
    return ids


@pytest.mark.slow
def test_backup_restores_to_a_sound_vault_with_every_case(vault: Vault, tmp_path: Path) -> None:
    ids = _fill(vault)
    out = tmp_path / "vault.backup"
    size = backups.make_backup(vault, out, PASSPHRASE)
    assert out.stat().st_size == size
    assert out.stat().st_mode & 0o777 == 0o600
    assert CANARY.encode() not in out.read_bytes()
    assert b"amara" not in out.read_bytes()  # not even the caseworkers' names show
    assert not list(vault.directory.glob(".backup-*"))  # the snapshot folder is gone

    target = tmp_path / "restored"
    summary = backups.restore_backup(out, target, passphrase=PASSPHRASE)
    assert summary.caseworkers == ("amara",)
    assert target.stat().st_mode & 0o777 == 0o700
    with Vault.unlock(target, PASSPHRASE) as restored:
        assert check_vault(restored) == []
        assert sorted(c.id for c in case_view.list_cases(restored)) == sorted(ids)
        view = case_view.show_case(restored, ids[0])
        assert CANARY in view.report.what_happened
        assert [n.text for n in view.notes] == ["rang back"]


@pytest.mark.slow
def test_a_backup_taken_during_concurrent_writes_restores_clean(
    vault: Vault, tmp_path: Path
) -> None:
    _fill(vault, 2)
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with Vault.unlock(vault.directory, PASSPHRASE) as other:
                while not stop.is_set():
                    incoming.import_envelopes(other, [("w", seal_for(other))])
                    written.append(1)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:
            stop.wait(0.05)
        out = tmp_path / "busy.backup"
        backups.make_backup(vault, out, PASSPHRASE)
        during = len(written)
        while len(written) < during + 5:
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(60)
    assert not errors
    target = tmp_path / "restored"
    backups.restore_backup(out, target, passphrase=PASSPHRASE)
    with Vault.unlock(target, PASSPHRASE) as restored:
        assert check_vault(restored) == []
        count = case_view.count_cases(restored)
    assert 2 + 5 <= count < 2 + len(written)  # a snapshot from the middle, consistent


@pytest.mark.parametrize("where", ["magic", "stream-header", "first-chunk", "middle", "last"])
def test_a_single_flipped_byte_is_refused_before_anything_is_written(
    vault: Vault, tmp_path: Path, where: str
) -> None:
    _fill(vault)
    out = tmp_path / "vault.backup"
    backups.make_backup(vault, out, PASSPHRASE)
    data = bytearray(out.read_bytes())
    header_end = 16 + 4 + int.from_bytes(data[16:20], "big")
    at = {
        "magic": 3,
        "stream-header": header_end + 5,
        "first-chunk": header_end + 24 + 100,
        "middle": len(data) // 2,
        "last": len(data) - 1,
    }[where]
    data[at] ^= 0x01
    bad = tmp_path / "bad.backup"
    bad.write_bytes(bytes(data))
    before = sorted(p.name for p in tmp_path.iterdir())
    target = tmp_path / "restored"
    with pytest.raises((IntegrityError, VaultError)) as raised:
        backups.restore_backup(bad, target, passphrase=PASSPHRASE)
    if where != "magic":
        assert isinstance(raised.value, IntegrityError)
        assert "nothing was written" in str(raised.value)
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_truncated_backup_is_refused(vault: Vault, tmp_path: Path) -> None:
    _fill(vault)
    out = tmp_path / "vault.backup"
    backups.make_backup(vault, out, PASSPHRASE)
    short = tmp_path / "short.backup"
    short.write_bytes(out.read_bytes()[:-20])
    with pytest.raises(IntegrityError):
        backups.verify_backup(short, passphrase=PASSPHRASE)
    longer = tmp_path / "long.backup"
    longer.write_bytes(out.read_bytes() + b"\x00")
    with pytest.raises(IntegrityError):
        backups.verify_backup(longer, passphrase=PASSPHRASE)


@pytest.mark.slow
def test_restore_refuses_a_wrong_passphrase_and_a_non_empty_target(
    vault: Vault, tmp_path: Path
) -> None:
    out = tmp_path / "vault.backup"
    backups.make_backup(vault, out, PASSPHRASE)
    with pytest.raises(WrongPassphraseError):
        backups.restore_backup(out, tmp_path / "t1", passphrase=Passphrase(b"not the passphrase"))
    assert not (tmp_path / "t1").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("mine")
    with pytest.raises(VaultExistsError):
        backups.restore_backup(out, busy, passphrase=PASSPHRASE)
    assert [p.name for p in busy.iterdir()] == ["something"]
    empty = tmp_path / "empty"
    empty.mkdir()
    backups.restore_backup(out, empty, passphrase=PASSPHRASE)
    assert (empty / "vault.db").exists()


def test_check_names_a_damaged_report(vault: Vault) -> None:
    ids = _fill(vault)
    assert check_vault(vault) == []
    envelope = bytes(
        vault.db.execute("SELECT envelope FROM cases WHERE id = ?", (ids[1],)).fetchone()[0]
    )
    damaged = envelope[:200] + bytes([envelope[200] ^ 1]) + envelope[201:]
    vault.db.execute("UPDATE cases SET envelope = ? WHERE id = ?", (damaged, ids[1]))
    vault.db.execute("UPDATE cases SET status = 'closed' WHERE id = ?", (ids[2],))
    problems = check_vault(vault)
    shown = [f"{i[:4]}-{i[4:]}" for i in ids]
    assert any(shown[1] in p and "report is damaged" in p for p in problems), problems
    assert any(shown[2] in p and "history" in p for p in problems), problems
    assert len(problems) == 2


@pytest.mark.slow
def test_cli_backup_restore_and_check(cli: Cli) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    report = cli.cwd / "r.json"
    report.write_text(json.dumps(report_data()))
    assert (
        cli("submit", "--team-key", "team-key.json", "--out", "r.env", str(report)).returncode == 0
    )
    assert cli("import", "r.env").returncode == 0

    result = cli("check")
    assert result.returncode == 0, result.stderr
    assert "sound" in result.stderr

    result = cli("backup", "vault.backup")
    assert result.returncode == 0, result.stderr
    assert "recovery split" in result.stderr  # the nudge towards shares
    result = cli("backup", "vault.backup")
    assert_clean_error(result, 1)  # never overwritten

    data = bytearray((cli.cwd / "vault.backup").read_bytes())
    data[len(data) // 2] ^= 0x40
    (cli.cwd / "bad.backup").write_bytes(bytes(data))
    result = cli("restore", "bad.backup", "--vault", "restored")
    assert_clean_error(result, 4)
    assert "damaged or has been changed" in result.stderr
    assert not (cli.cwd / "restored").exists()

    result = cli("restore", "vault.backup", "--vault", "restored")
    assert result.returncode == 0, result.stderr
    result = cli("check", "--vault", "restored")
    assert result.returncode == 0, result.stderr

    result = cli("restore", "vault.backup", "--vault", "restored")
    assert_clean_error(result, 1)
    assert "not empty" in result.stderr


@pytest.mark.slow
def test_cli_check_exits_4_and_names_the_damage(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    with Vault.unlock(cli.cwd / "vault-data", PASSPHRASE) as vault:
        (case_id,) = incoming.import_envelopes(vault, [("r", seal_for(vault))]).imported
        envelope = bytes(vault.db.execute("SELECT envelope FROM cases").fetchone()[0])
        vault.db.execute(
            "UPDATE cases SET envelope = ?", (envelope[:-1] + bytes([envelope[-1] ^ 1]),)
        )
    result = cli("check")
    assert_clean_error(result, 4)
    shown = f"{case_id[:4]}-{case_id[4:]}"
    assert shown in result.stderr
    assert f"case {shown}: the report is damaged or has been changed" in result.stdout


@pytest.mark.slow
def test_every_single_byte_flip_anywhere_is_refused(vault: Vault, tmp_path: Path) -> None:
    """Property: whichever byte of a backup changes, reading it fails (the key fixed)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    _fill(vault, 1)
    out = tmp_path / "vault.backup"
    backups.make_backup(vault, out, PASSPHRASE)
    key = backups._backup_key(out, PASSPHRASE, None)
    data = out.read_bytes()
    bad = tmp_path / "bad.backup"

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(at=st.integers(0, len(data) - 1), bit=st.integers(0, 7))
    def flipped(at: int, bit: int) -> None:
        changed = bytearray(data)
        changed[at] ^= 1 << bit
        bad.write_bytes(bytes(changed))
        with pytest.raises(VaultError):
            backups._walk(bad, key, None)

    flipped()
