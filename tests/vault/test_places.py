"""Where vaults are: no vault inside a vault, and a hint that points to the one around us."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE
from vault import places, store
from vault.errors import NoVaultError, VaultExistsError
from vault.store import Vault


def test_the_names_are_the_stores() -> None:
    assert (places.DB_FILE, places.CASEWORKERS_DIR) == (store.DB_FILE, store.CASEWORKERS_DIR)


def test_a_vault_is_found_above_and_below(vault: Vault, tmp_path: Path) -> None:
    inside = vault.directory / "caseworkers"
    assert places.is_vault(vault.directory)
    assert not places.is_vault(inside)
    assert places.enclosing_vault(inside) == vault.directory.resolve()
    assert places.enclosing_vault(inside / "not-yet" / "made") == vault.directory.resolve()
    assert places.enclosing_vault(tmp_path) is None
    assert places.vault_beneath(tmp_path) == vault.directory
    assert places.vault_beneath(vault.directory / "caseworkers") is None


def test_the_search_below_is_bounded(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * places.SEARCH_DEPTH)
    deep.mkdir(parents=True)
    Vault.create(deep / "vault-data", "amara", PASSPHRASE).close()
    assert places.vault_beneath(tmp_path) is None  # too deep to look for
    assert places.vault_beneath(tmp_path / "d") == deep / "vault-data"


def test_create_refuses_a_vault_in_inside_or_around_a_vault(vault: Vault, tmp_path: Path) -> None:
    with pytest.raises(VaultExistsError, match="already a vault"):
        Vault.create(vault.directory, "bob", PASSPHRASE)
    with pytest.raises(VaultExistsError, match="inside the vault"):
        Vault.create(vault.directory / "vault-data", "bob", PASSPHRASE)
    with pytest.raises(VaultExistsError, match="inside the vault"):
        Vault.create(vault.directory / "caseworkers" / "x", "bob", PASSPHRASE)
    with pytest.raises(VaultExistsError, match="already holds a vault") as held:
        Vault.create(tmp_path, "bob", PASSPHRASE)
    assert held.value.hint is not None
    assert f"--vault {vault.directory}" in held.value.hint
    assert not (vault.directory / "vault-data").exists()


def test_no_vault_hint_points_to_the_vault_we_are_in(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "vault init" in places.no_vault_hint(tmp_path / "nowhere")
    monkeypatch.chdir(vault.directory)
    with pytest.raises(NoVaultError) as raised:
        Vault.unlock(Path("vault-data"), PASSPHRASE)
    assert raised.value.hint is not None
    assert "--vault ." in raised.value.hint
    assert "init" not in raised.value.hint
    monkeypatch.chdir(vault.directory / "caseworkers")
    assert "--vault .." in places.no_vault_hint(Path("vault-data"))
    assert os.getcwd() == str(vault.directory / "caseworkers")


def test_init_in_a_folder_joining_a_team_says_it_is_joining(tmp_path: Path) -> None:
    joining = tmp_path / "vault-data"
    joining.mkdir()
    (joining / "join.request").write_text("{}")  # what vault join leaves there
    with pytest.raises(VaultExistsError, match="is joining a team") as refused:
        places.check_new_vault_place(joining)
    assert "vault sync --from URL" in str(refused.value.hint)
