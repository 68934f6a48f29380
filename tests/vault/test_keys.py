"""Key files, team key files, wrapped access: strength, refusal, and secrets that never print."""

from __future__ import annotations

import base64
import json
import os
import pickle
import stat
from pathlib import Path

import pytest

from vault import _crypto
from vault.errors import (
    IntegrityError,
    NewerKeyFileError,
    NotAKeyFileError,
    WrongKeyError,
    WrongPassphraseError,
)
from vault.keychange import unlock_key_file
from vault.keys import (
    Identity,
    KdfParams,
    TeamKeyPair,
    TeamPublicKey,
    identity_ad,
    lock_identity,
    new_access,
    read_key_file_public,
    unlock_identity,
    unlock_identity_upgrading,
    unwrap_access,
    wrap_access,
)
from vault.passphrase import Passphrase
from vault.store import Vault

PASS = Passphrase(b"a long enough passphrase")


@pytest.fixture(scope="module")
def locked() -> tuple[Identity, bytes]:
    identity = Identity.generate("amara")
    return identity, lock_identity(identity, PASS)


def test_key_file_round_trip_and_stored_parameters(locked: tuple[Identity, bytes]) -> None:
    identity, data = locked
    doc = json.loads(data)
    assert doc["kdf"]["alg"] == "argon2id13"
    assert doc["kdf"]["opslimit"] >= _crypto.PWHASH_OPSLIMIT_MODERATE
    assert doc["kdf"]["memlimit"] >= _crypto.PWHASH_MEMLIMIT_MODERATE
    again = unlock_identity(data, PASS)
    assert again.public == identity.public
    assert again.key_id == identity.key_id


def test_wrong_passphrase(locked: tuple[Identity, bytes]) -> None:
    with pytest.raises(WrongPassphraseError):
        unlock_identity(locked[1], Passphrase(b"not it"))


def test_edited_clear_fields_are_refused(locked: tuple[Identity, bytes]) -> None:
    doc = json.loads(locked[1])
    doc["name"] = "mallory"
    with pytest.raises(WrongPassphraseError):
        unlock_identity(json.dumps(doc).encode(), PASS)


def test_weak_parameters_are_refused(locked: tuple[Identity, bytes]) -> None:
    doc = json.loads(locked[1])
    doc["kdf"]["memlimit"] = 8 * 1024 * 1024
    with pytest.raises(NotAKeyFileError, match="weaker"):
        unlock_identity(json.dumps(doc).encode(), PASS)
    with pytest.raises(NotAKeyFileError):
        lock_identity(locked[0], PASS, KdfParams(opslimit=1, memlimit=8 * 1024 * 1024))


@pytest.mark.parametrize("data", [b"", b"{}", b"not json", b'{"kind": "redress-identity", "v": 1}'])
def test_not_a_key_file(data: bytes) -> None:
    with pytest.raises(NotAKeyFileError):
        read_key_file_public(data)


def test_access_is_bound_to_its_identity(locked: tuple[Identity, bytes]) -> None:
    identity = locked[0]
    access = new_access()
    sealed = wrap_access(access, identity.public, identity)
    opened = unwrap_access(sealed, identity)
    assert opened.db_key == access.db_key
    assert opened.current.public == access.current.public
    with pytest.raises(WrongKeyError):
        unwrap_access(sealed, Identity.generate("other"))
    with pytest.raises(IntegrityError, match="damaged or has been changed"):  # exit 4, not 3
        unwrap_access(sealed[:40] + bytes([sealed[40] ^ 1]) + sealed[41:], identity)  # signature
    changed = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(WrongKeyError):  # a changed sealed part reads as not sealed to this key
        unwrap_access(changed, identity)
    with pytest.raises(IntegrityError, match="damaged or has been changed"):  # unless it is
        unwrap_access(changed, identity, own_file=True)  # certainly this identity's file
    with pytest.raises(IntegrityError, match="cut short"):
        unwrap_access(sealed[:100], identity)


def test_access_forged_from_public_keys_alone_is_refused(locked: tuple[Identity, bytes]) -> None:
    """Someone who can write the vault folder but holds no secret cannot plant their keys."""
    identity = locked[0]
    forger = Identity.generate("mallory")
    forged = wrap_access(new_access(), identity.public, forger)
    with pytest.raises(WrongKeyError, match="not written by a trusted caseworker"):
        unwrap_access(forged, identity)
    # Re-labelling the forger's file with the victim's public signing key breaks the signature.
    relabelled = identity.public.sign_pk + forged[32:]
    with pytest.raises(IntegrityError, match="damaged or has been changed"):
        unwrap_access(relabelled, identity)


def test_absurd_kdf_parameters_are_refused(locked: tuple[Identity, bytes]) -> None:
    doc = json.loads(locked[1])
    doc["kdf"]["opslimit"] = 10**9
    with pytest.raises(NotAKeyFileError, match="more passphrase work"):
        unlock_identity(json.dumps(doc).encode(), PASS)


def test_team_key_file() -> None:
    pair = TeamKeyPair.generate(3)
    data = pair.public.to_file_bytes()
    assert TeamPublicKey.from_file_bytes(data) == pair.public
    assert pair.secret_key.reveal().hex() not in data.decode()
    doc = json.loads(data)
    doc["fingerprint"] = "0000 0000"
    with pytest.raises(NotAKeyFileError, match="fingerprint"):
        TeamPublicKey.from_file_bytes(json.dumps(doc).encode())
    with pytest.raises(NotAKeyFileError):
        TeamPublicKey.from_file_bytes(b'{"kind": "something-else"}')
    with pytest.raises(NotAKeyFileError):  # nested deeper than the JSON parser goes
        TeamPublicKey.from_file_bytes(b"[" * 30_000)


@pytest.mark.parametrize(("field", "value"), [("v", True), ("v", 1.0), ("epoch", True)])
def test_a_team_key_file_with_a_boolean_or_float_for_a_number_is_refused(
    field: str, value: object
) -> None:
    doc = json.loads(TeamKeyPair.generate(1).public.to_file_bytes())
    doc[field] = value
    with pytest.raises(NotAKeyFileError):
        TeamPublicKey.from_file_bytes(json.dumps(doc).encode())


def test_secret_holders_do_not_print() -> None:
    identity = Identity.generate("amara")
    pair = TeamKeyPair.generate(1)
    access = new_access()
    for thing, secret in (
        (identity, identity.sign_seed.reveal()),
        (identity, identity.box_sk.reveal()),
        (pair, pair.secret_key.reveal()),
        (access, access.db_key.reveal()),
    ):
        text = repr(thing) + str(thing)
        assert secret.hex() not in text
        assert repr(secret) not in text
    with pytest.raises(TypeError):
        pickle.dumps(pair.secret_key)


# --- version 1 key files: still read, migrated to version 2 on unlock ---------------------


def _legacy_key_file(identity: Identity, passphrase: bytes) -> bytes:
    """A version 1 key file, made here with the old encoding of the associated data:
    Python's default ``json.dumps(sort_keys=True)`` (", " and ": ", non-ASCII escaped)."""
    salt = _crypto.random_bytes(_crypto.PWHASH_SALT_BYTES)
    public = identity.public
    doc: dict[str, object] = {
        "kind": "redress-identity",
        "v": 1,
        "name": identity.name,
        "sign_pk": base64.b64encode(public.sign_pk).decode(),
        "box_pk": base64.b64encode(public.box_pk).decode(),
        "kdf": {
            "alg": "argon2id13",
            "opslimit": _crypto.PWHASH_OPSLIMIT_MODERATE,
            "memlimit": _crypto.PWHASH_MEMLIMIT_MODERATE,
            "salt": base64.b64encode(salt).decode(),
        },
    }
    ad = b"redress identity key file v1\x00" + json.dumps(doc, sort_keys=True).encode()
    key = _crypto.argon2id(
        passphrase, salt, _crypto.PWHASH_OPSLIMIT_MODERATE, _crypto.PWHASH_MEMLIMIT_MODERATE
    )
    secrets = identity.sign_seed.reveal() + identity.box_sk.reveal()
    doc["sealed"] = base64.b64encode(_crypto.aead_encrypt(key, secrets, ad)).decode()
    return (json.dumps(doc, indent=2) + "\n").encode()


def test_new_key_files_are_version_2_with_canonical_associated_data() -> None:
    identity = Identity.generate("zoë")  # a name outside ASCII: the encodings differ there too
    data = lock_identity(identity, PASS)
    doc = json.loads(data)
    assert doc["v"] == 2
    clear = {k: v for k, v in doc.items() if k != "sealed"}
    canonical = json.dumps(clear, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert identity_ad(doc) == b"redress identity key file v1\x00" + canonical.encode()
    assert "zoë".encode() in identity_ad(doc)
    again, upgraded = unlock_identity_upgrading(data, PASS)
    assert again.public == identity.public
    assert upgraded is None
    # Relabelled as version 1, the same bytes no longer open: the version is bound too.
    with pytest.raises(WrongPassphraseError):
        unlock_identity(json.dumps({**doc, "v": 1}).encode(), PASS)


def test_a_version_1_key_file_unlocks_and_is_rewritten_as_version_2() -> None:
    identity = Identity.generate("zoë")
    old = _legacy_key_file(identity, PASS)
    again, upgraded = unlock_identity_upgrading(old, PASS)
    assert again.public == identity.public
    assert upgraded is not None
    new_doc, old_doc = json.loads(upgraded), json.loads(old)
    assert new_doc["v"] == 2
    # Same salt and parameters, so the same passphrase-derived key; a fresh nonce.
    assert new_doc["kdf"] == old_doc["kdf"]
    assert new_doc["sealed"][:32] != old_doc["sealed"][:32]
    assert unlock_identity(upgraded, PASS).public == identity.public
    with pytest.raises(WrongPassphraseError):
        unlock_identity(upgraded, Passphrase(b"not it"))


def test_an_old_key_file_in_a_vault_is_migrated_on_unlock(tmp_path: Path) -> None:
    directory = tmp_path / "vault-data"
    Vault.create(directory, "amara", PASS).close()
    path = directory / "caseworkers" / "amara.key"
    with Vault.unlock(directory, PASS) as vault:
        identity = vault.identity
    path.write_bytes(_legacy_key_file(identity, PASS))
    os.chmod(path, 0o600)

    # A wrong passphrase migrates nothing.
    before = path.read_bytes()
    with pytest.raises(WrongPassphraseError):
        Vault.unlock(directory, Passphrase(b"not the passphrase"))
    assert path.read_bytes() == before

    with Vault.unlock(directory, PASS) as vault:
        assert vault.identity.public == identity.public
    after = path.read_bytes()
    assert json.loads(after)["v"] == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["amara.access", "amara.key"]

    with Vault.unlock(directory, PASS) as vault:  # unlocks again, and is left as it is
        assert vault.identity.public == identity.public
    assert path.read_bytes() == after


def test_a_migration_never_undoes_a_passphrase_changed_meanwhile(tmp_path: Path) -> None:
    directory = tmp_path / "vault-data"
    Vault.create(directory, "amara", PASS).close()
    path = directory / "caseworkers" / "amara.key"
    with Vault.unlock(directory, PASS) as vault:
        identity = vault.identity
    old = _legacy_key_file(identity, PASS)
    path.write_bytes(
        lock_identity(identity, Passphrase(b"the new passphrase"))
    )  # changed after reading
    unlock_key_file(directory, old, PASS)
    assert (
        unlock_identity(path.read_bytes(), Passphrase(b"the new passphrase")).public
        == identity.public
    )


def test_a_key_file_from_a_newer_redress_says_so(tmp_path: Path) -> None:
    directory = tmp_path / "vault-data"
    Vault.create(directory, "amara", PASS).close()
    path = directory / "caseworkers" / "amara.key"
    doc = json.loads(path.read_bytes())
    path.write_bytes(json.dumps({**doc, "v": 3}).encode())
    with pytest.raises(NewerKeyFileError, match="newer version"):
        Vault.unlock(directory, PASS)
