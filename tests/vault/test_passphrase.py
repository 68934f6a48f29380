"""New passphrases must be hard to guess; a passphrase never shows itself."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE
from vault import membership, recovery
from vault.errors import UsageError, WeakPassphraseError
from vault.passphrase import Passphrase, check_strength
from vault.store import Vault

WEAK = [b"password", b"Password1", b"qwertyuiop", b"amara2024", b"letmein!", b"short"]
STRONG = [
    b"correct horse battery staple",
    b"otter maple quilt anvil harbour ginger",
    b"demo-q3Zx8VbTn0kLp2Wm",
]


@pytest.mark.parametrize("weak", WEAK)
def test_weak_passphrases_are_refused_with_a_hint(weak: bytes) -> None:
    with pytest.raises(WeakPassphraseError) as raised:
        check_strength(Passphrase(weak), name="amara")
    assert isinstance(raised.value, UsageError)  # exit code 2
    assert raised.value.hint is not None
    assert "six or more random words" in raised.value.hint
    assert str(raised.value).startswith("That passphrase is too easy to guess")
    if weak != b"password":  # zxcvbn's warnings say "common password"
        assert weak.decode() not in str(raised.value)


@pytest.mark.parametrize("strong", STRONG)
def test_strong_passphrases_pass(strong: bytes) -> None:
    check_strength(Passphrase(strong), name="amara")


def test_own_name_makes_it_weaker() -> None:
    check_strength(Passphrase(b"quokka harbour"), name="amara")
    with pytest.raises(WeakPassphraseError):
        check_strength(Passphrase(b"quokka harbour"), name="quokka")


def test_a_long_passphrase_is_judged_not_refused() -> None:
    check_strength(Passphrase(b"otter maple quilt anvil harbour ginger " * 10))


def test_a_passphrase_never_shows_itself() -> None:
    secret = Passphrase(b"otter maple quilt anvil")
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", str([secret])):
        assert "otter" not in shown
    assert secret.reveal() == b"otter maple quilt anvil"
    assert secret == Passphrase(b"otter maple quilt anvil")
    assert secret != Passphrase(b"otter maple quilt anvils")
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_every_new_passphrase_is_checked(vault: Vault, vault_dir: Path, tmp_path: Path) -> None:
    weak = Passphrase(b"password")
    with pytest.raises(WeakPassphraseError):
        Vault.create(tmp_path / "other", "bob", weak)
    assert not (tmp_path / "other").exists()
    with pytest.raises(WeakPassphraseError):
        membership.add_caseworker(vault, "bob", weak)
    assert [c.name for c in membership.caseworkers(vault)] == ["amara"]
    before = (vault_dir / "caseworkers" / "amara.key").read_bytes()
    with pytest.raises(WeakPassphraseError):
        membership.change_passphrase(vault, weak)
    assert (vault_dir / "caseworkers" / "amara.key").read_bytes() == before
    made = recovery.split(vault, 3, 2, tmp_path / "shares", None)
    assert made.key_id
    shares = recovery.read_shares(sorted((tmp_path / "shares").iterdir())[:2])
    key = recovery.combine(shares)
    with pytest.raises(WeakPassphraseError):
        recovery.restore_access(vault_dir, key, "sam", weak)
    assert not (vault_dir / "caseworkers" / "sam.key").exists()
    # opening never judges: an old passphrase keeps working until it is changed
    Vault.unlock(vault_dir, PASSPHRASE).close()
