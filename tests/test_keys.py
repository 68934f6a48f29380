"""Key files, team key files, wrapped access: strength, refusal, and secrets that never print."""

from __future__ import annotations

import json
import pickle

import pytest

from vault import _crypto
from vault.errors import NotAKeyFileError, WrongKeyError, WrongPassphraseError
from vault.keys import (
    Identity,
    KdfParams,
    TeamKeyPair,
    TeamPublicKey,
    lock_identity,
    new_access,
    read_key_file_public,
    unlock_identity,
    unwrap_access,
    wrap_access,
)
from vault.passphrase import Passphrase

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
    with pytest.raises(WrongKeyError):
        unwrap_access(sealed[:-1] + bytes([sealed[-1] ^ 1]), identity)


def test_access_forged_from_public_keys_alone_is_refused(locked: tuple[Identity, bytes]) -> None:
    """Someone who can write the vault folder but holds no secret cannot plant their keys."""
    identity = locked[0]
    forger = Identity.generate("mallory")
    forged = wrap_access(new_access(), identity.public, forger)
    with pytest.raises(WrongKeyError, match="not written by a trusted caseworker"):
        unwrap_access(forged, identity)
    # Re-labelling the forger's file with the victim's public signing key breaks the signature.
    relabelled = identity.public.sign_pk + forged[32:]
    with pytest.raises(WrongKeyError, match="not written by a trusted caseworker"):
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
