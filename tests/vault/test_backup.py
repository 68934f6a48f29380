"""Backups and vault check: real SQLCipher, real libsodium, the real command where it matters."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    CANARY,
    PASSPHRASE,
    VAULT_BIN,
    Cli,
    assert_clean_error,
    make_report,
    report_data,
    seal_for,
)
from vault import backup as backups
from vault import case_view, incoming
from vault.check import check_vault
from vault.errors import (
    BackupHeaderError,
    IntegrityError,
    VaultError,
    VaultExistsError,
    WrongPassphraseError,
)
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


# --- damaged headers (F10): exit 4 at once, never "wrong passphrase" -------------------------

HEADER_DAMAGED = "is damaged or has been changed; nothing was written."


def _parts(data: bytes) -> tuple[bytes, dict[str, Any], bytes]:
    """A version 2 backup's header JSON, parsed, and everything after its checksum."""
    length = struct.unpack(">I", data[16:20])[0]
    header = data[20 : 20 + length]
    return header, json.loads(header), data[20 + length + 32 :]


def _with_header(doc: dict[str, Any], rest: bytes, *, checksum: bool = True) -> bytes:
    """The backup with a changed header; its checksum recomputed (a deliberate forger) or not."""
    header = json.dumps(doc, sort_keys=True).encode()
    head = backups.MAGIC + struct.pack(">I", len(header)) + header
    check = backups.header_check(head) if checksum else bytes(32)
    return head + check + rest


def _header_error(data: bytes) -> VaultError:
    """What reading just the header says: no passphrase, so no KDF, is involved."""
    with pytest.raises(VaultError) as raised:
        backups._read_header(io.BytesIO(data), Path("x.backup"))
    return raised.value


@pytest.fixture(scope="module")
def made_backup(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("made")
    with Vault.create(folder / "vault-data", "amara", PASSPHRASE) as vault:
        incoming.import_envelopes(vault, [("r", seal_for(vault))])
        backups.make_backup(vault, folder / "vault.backup", PASSPHRASE)
    return (folder / "vault.backup").read_bytes()


def test_a_backup_is_written_in_version_2_with_a_header_checksum(made_backup: bytes) -> None:
    assert made_backup[:16] == b"redress backup\x00\x02"
    header, doc, _ = _parts(made_backup)
    assert doc["v"] == 2
    head = made_backup[: 20 + len(header)]
    assert made_backup[len(head) : len(head) + 32] == backups.header_check(head)


def test_the_kdf_limits_are_libsodiums_moderate_to_sensitive() -> None:
    import nacl.pwhash

    assert backups.MIN_KDF.opslimit == nacl.pwhash.argon2id.OPSLIMIT_MODERATE
    assert backups.MIN_KDF.memlimit == nacl.pwhash.argon2id.MEMLIMIT_MODERATE
    assert backups.MAX_KDF.opslimit == nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE
    assert backups.MAX_KDF.memlimit == nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE


@pytest.mark.parametrize(
    ("member", "value", "why"),
    [
        ("memlimit", 4 << 30, "asks for more passphrase work than Redress ever uses"),
        ("opslimit", 4_000_000, "asks for more passphrase work than Redress ever uses"),
        ("memlimit", 8 << 20, "asks for less passphrase work than Redress allows"),
        ("opslimit", 1, "asks for less passphrase work than Redress allows"),
    ],
)
@pytest.mark.parametrize("checksum", [True, False], ids=["checksum-recomputed", "checksum-stale"])
def test_a_changed_kdf_is_a_damaged_header_found_before_the_kdf(
    made_backup: bytes, member: str, value: int, why: str, checksum: bool
) -> None:
    _, doc, rest = _parts(made_backup)
    doc["slots"][0]["kdf"][member] = value
    error = _header_error(_with_header(doc, rest, checksum=checksum))
    assert isinstance(error, BackupHeaderError)
    assert error.exit_code == 4
    expected = why if checksum else "is damaged or has been changed"
    assert str(error) == f"The header of the backup x.backup {expected}; nothing was written."
    assert "key file" not in str(error)


@pytest.mark.parametrize("field", ["sealed", "salt", "recovery-added", "created"])
def test_a_changed_slot_is_a_damaged_header_not_a_wrong_passphrase(
    made_backup: bytes, field: str
) -> None:
    _, doc, rest = _parts(made_backup)
    slot = doc["slots"][0]
    if field == "created":
        doc["created"] = "2020-01-01"
    elif field == "salt":
        slot["kdf"]["salt"] = _flip_b64(slot["kdf"]["salt"])
    elif field == "sealed":
        slot["sealed"] = _flip_b64(slot["sealed"])
    else:  # no recovery slot in this vault: add one, as a forger might
        doc["slots"].append({"kind": "recovery", "box_pk": "A" * 44, "sealed": "A" * 136})
    changed = _with_header(doc, rest, checksum=False)
    error = _header_error(changed)
    assert isinstance(error, BackupHeaderError)


def _flip_b64(text: str) -> str:
    import base64

    raw = bytearray(base64.b64decode(text))
    raw[len(raw) // 2] ^= 0x04
    return base64.b64encode(bytes(raw)).decode()


def test_every_bit_flip_in_the_header_is_a_damaged_header(made_backup: bytes) -> None:
    """Exhaustive over the length, the header and its checksum: each of 8 bits of each byte."""
    header, _, _ = _parts(made_backup)
    end = 20 + len(header) + 32
    for at in range(16, end):
        for bit in range(8):
            changed = bytearray(made_backup)
            changed[at] ^= 1 << bit
            error = _header_error(bytes(changed))
            assert isinstance(error, BackupHeaderError), (at, bit, str(error))


def test_a_version_1_backup_with_a_changed_kdf_is_refused_at_once(made_backup: bytes) -> None:
    """Version 1 has no checksum, but its KDF limits are checked before the KDF all the same."""
    _, doc, rest = _parts(made_backup)
    doc["v"] = 1
    doc["slots"][0]["kdf"]["memlimit"] = 4 << 30
    header = json.dumps(doc, sort_keys=True).encode()
    v1 = b"redress backup\x00\x01" + struct.pack(">I", len(header)) + header + rest
    error = _header_error(v1)
    assert isinstance(error, BackupHeaderError)
    assert "asks for more passphrase work than Redress ever uses" in str(error)


@pytest.mark.slow
def test_cli_restore_of_a_tampered_header_exits_4_at_once(cli: Cli, made_backup: bytes) -> None:
    """The real command: 4 GiB of Argon2id would take minutes; the timeout says it never ran."""
    _, doc, rest = _parts(made_backup)
    doc["slots"][0]["kdf"]["memlimit"] = 4 << 30
    (cli.cwd / "raised.backup").write_bytes(_with_header(doc, rest, checksum=False))
    flipped = bytearray(made_backup)
    flipped[made_backup.index(b'"sealed": "') + 20] ^= 0x01
    (cli.cwd / "flipped.backup").write_bytes(bytes(flipped))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cli.cwd)}
    for name in ("raised.backup", "flipped.backup"):
        run = [str(VAULT_BIN), "restore", name, "--vault", "restored"]
        run += ["--passphrase-file", str(cli.passphrase_file)]
        try:
            result = subprocess.run(
                run, cwd=cli.cwd, env=env, capture_output=True, text=True, timeout=20, check=False
            )
        except subprocess.TimeoutExpired:  # pragma: no cover - the failure being guarded
            pytest.fail(f"vault restore {name} ran the KDF")
        assert_clean_error(result, 4)
        assert result.stderr.splitlines()[0] == (
            f"vault: The header of the backup {name} {HEADER_DAMAGED}"
        )
        assert "passphrase does not open" not in result.stderr
        assert not (cli.cwd / "restored").exists()
    # The same backup unchanged, with a wrong passphrase: exit 3, as before.
    (cli.cwd / "good.backup").write_bytes(made_backup)
    wrong = cli.cwd / "wrong"
    wrong.write_bytes(b"not the passphrase at all\n")
    wrong.chmod(0o600)
    result = cli("restore", "good.backup", "--vault", "restored", "--passphrase-file", "wrong")
    assert_clean_error(result, 3)
    assert "That passphrase does not open this backup." in result.stderr


# --- what an interrupted backup or restore leaves (F1) ---------------------------------------


def test_leftovers_of_a_killed_backup_are_removed_but_never_a_running_one(
    vault: Vault, tmp_path: Path
) -> None:
    from vault.files import claimed_temp_dir, unfinished_name

    # As a killed run leaves them: its folder (a database copy, and where its output was),
    # and the unfinished output beside the backup's name; nothing holds their locks.
    left = vault.directory / ".backup-killed"
    left.mkdir(mode=0o700)
    (left / "vault.db").write_bytes(b"\0" * 4096)
    output = unfinished_name(tmp_path / "old.backup")
    output.write_bytes(b"redress backup\0\2 partial")
    (left / backups.OUTPUT_RECORD).write_bytes(bytes(output))
    with claimed_temp_dir(vault.directory, backups.WORK_PREFIX) as running:
        assert backups.remove_unfinished(vault.directory)
        assert running.is_dir()  # a backup still running is left alone
        assert not left.exists()
        assert not output.exists()
        assert not backups.remove_unfinished(vault.directory)
    assert not running.exists()


def test_a_backup_reuses_the_unfinished_file_a_killed_one_left(
    vault: Vault, tmp_path: Path
) -> None:
    from vault.files import unfinished_name

    out = tmp_path / "vault.backup"
    unfinished_name(out).write_bytes(b"x" * 100_000)  # a killed run's partial file
    size = backups.make_backup(vault, out, PASSPHRASE)
    assert out.stat().st_size == size
    assert not unfinished_name(out).exists()
    assert backups.verify_backup(out, passphrase=PASSPHRASE).caseworkers == ("amara",)
    with pytest.raises(VaultError, match="already exists"):
        backups.make_backup(vault, out, PASSPHRASE)
    assert not unfinished_name(out).exists()
