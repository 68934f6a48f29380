"""Proof of work, the rate cap, upload lengths, labels and settings, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vault.intake.conftest import sealed_file
from vault import pow as pow_
from vault.attachments import sealed_length
from vault.envelope import padded_length
from vault.errors import UsageError
from vault.intake import config as config_module
from vault.intake import labels
from vault.intake.config import IntakeConfig
from vault.intake.limits import (
    ProofOfWork,
    ProofOfWorkRefused,
    RateCap,
    attachment_cap,
    is_upload_length,
    solve,
)
from vault.report import HARMS, SECTORS, WANTS


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_solution_admits_one_request_only() -> None:
    work = ProofOfWork(8)
    header = solve(work.challenge(), 8)
    challenge = work.verify(header)
    work.verify(header)  # checking does not spend it...
    work.spend(challenge)  # ...spending does
    with pytest.raises(ProofOfWorkRefused):
        work.verify(header)
    with pytest.raises(ProofOfWorkRefused):
        work.spend(challenge)


def test_challenges_expire_after_ten_minutes() -> None:
    clock = Clock()
    work = ProofOfWork(4, clock=clock)
    header = solve(work.challenge(), 4)
    clock.now += 10 * 60
    work.verify(header)
    clock.now += 60
    with pytest.raises(ProofOfWorkRefused):
        work.verify(header)


def test_challenges_from_another_process_or_tampered_are_refused() -> None:
    mine, theirs = ProofOfWork(4), ProofOfWork(4)
    with pytest.raises(ProofOfWorkRefused):
        mine.verify(solve(theirs.challenge(), 4))
    raw = bytearray(pow_.decode_challenge(mine.challenge()))
    raw[16:20] = (2**32 - 1).to_bytes(4, "big")  # a later expiry breaks the HMAC
    forged = pow_.header_value(bytes(raw), pow_.solve(bytes(raw), 4))
    with pytest.raises(ProofOfWorkRefused):
        mine.verify(forged)
    for junk in (None, "", ".", "a.b", "x" * 48 + ".0000000000000000"):
        with pytest.raises(ProofOfWorkRefused):
            mine.verify(junk)


def test_spent_challenges_are_forgotten_once_expired() -> None:
    clock = Clock()
    work = ProofOfWork(0, clock=clock)
    for _ in range(5):
        work.spend(work.verify(solve(work.challenge(), 0)))
    assert len(work._spent) == 5
    clock.now += 12 * 60
    work.spend(work.verify(solve(work.challenge(), 0)))
    assert len(work._spent) == 1


def test_the_rate_cap_is_a_shared_token_bucket() -> None:
    clock = Clock()
    cap = RateCap(6, clock=clock)  # one every ten seconds, bursts of six
    assert [cap.take() for _ in range(6)] == [0] * 6
    assert cap.take() == 10
    clock.now += 4
    assert cap.take() == 6
    clock.now += 6
    assert cap.take() == 0
    assert cap.take() == 10
    clock.now += 3600
    assert [cap.take() for _ in range(7)] == [0] * 6 + [10]


def test_upload_lengths_are_exactly_the_sealed_padded_ones() -> None:
    for size in (0, 1, 2047, 2048, 2049, 65_535, 65_536, 65_537, 200_000, 3 << 20):
        assert is_upload_length(sealed_length(size)), size
        assert not is_upload_length(sealed_length(size) + 1), size
        assert not is_upload_length(sealed_length(size) - 1), size
    _, blob = sealed_file(b"x" * 70_000)
    assert is_upload_length(len(blob))
    for junk in (0, 24, 41, 1000, 5000):
        assert not is_upload_length(junk)
    assert attachment_cap(25 << 20) == sealed_length(25 << 20)
    assert padded_length(25 << 20) == 25 << 20


def test_every_choice_has_a_label_in_the_reporters_words() -> None:
    choices = labels.choices()
    assert [v for v, _ in choices["sectors"]] == list(SECTORS)
    assert [v for v, _ in choices["harms"]] == list(HARMS)
    assert [v for v, _ in choices["wants"]] == list(WANTS)
    assert dict(choices["harms"])["racial-discrimination"] == (
        "Treated worse because of my race or ethnicity"
    )
    assert dict(choices["wants"])["share-alert"] == (
        "Warn other sex workers with an anonymous alert"
    )
    for options in choices.values():
        for _, label in options:
            assert label[0].isupper()


def test_settings_out_of_range_are_usage_errors(tmp_path: Path) -> None:
    base = {"team_key_file": tmp_path / "k", "data_dir": tmp_path / "d"}
    for bad in (
        {"port": 70_000},
        {"max_file_mib": 0},
        {"max_files": 21},
        {"pow_bits": 33},
        {"rate_per_minute": 0},
        {"read_timeout": 0},
    ):
        with pytest.raises(UsageError):
            IntakeConfig(**base, **bad)  # type: ignore[arg-type]
    assert IntakeConfig(**base).max_file_bytes == 25 << 20  # type: ignore[arg-type]


def test_the_crypto_library_beside_the_code_wins_over_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    (elsewhere / "node_modules").mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(config_module, "REPO_ROOT", repo)
    config = IntakeConfig(team_key_file=tmp_path / "k", data_dir=tmp_path / "d")
    assert config.node_modules_dir() == elsewhere / "node_modules"  # only if none beside
    (repo / "node_modules").mkdir(parents=True)
    assert config.node_modules_dir() == repo / "node_modules"
