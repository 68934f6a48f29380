"""Keys: the team key per epoch, a caseworker's identity, and the keys wrapped to it.

* A **team key** (X25519) per epoch. Reports and notes are sealed to it.
* A caseworker **identity**: an Ed25519 signing key and an X25519 key, kept
  in a key file encrypted under a key derived from their passphrase with
  Argon2id (parameters stored in the file).
* A caseworker's **access**: the database key and the team secret keys,
  sealed to their identity's X25519 key. Losing the passphrase loses only
  this copy; other caseworkers and recovery shares hold their own.

``keys/README.md`` explains all of this for people.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from vault import _crypto
from vault._crypto import SecretBytes
from vault.envelope import team_key_id
from vault.errors import (
    IntegrityError,
    NewerKeyFileError,
    NotAKeyFileError,
    UsageError,
    WrongKeyError,
    WrongPassphraseError,
)
from vault.passphrase import Passphrase
from vault.report import canonical_json

KEY_FILE_KIND = "redress-identity"
TEAM_KEY_KIND = "redress-team-key"
ACCESS_PURPOSE = b"redress access v1\x00"
IDENTITY_AD_PURPOSE = "redress identity key file v1"
KEY_FILE_VERSION = 2  # the associated data is canonical JSON
LEGACY_KEY_FILE_VERSION = 1  # Python's default json.dumps; read, and migrated on unlock


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, length: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    raw = base64.b64decode(text, validate=True)
    if length is not None and len(raw) != length:
        raise ValueError("wrong length")
    return raw


def fingerprint(public_key: bytes) -> str:
    """A team key's fingerprint for people to compare: 16 bytes of a tagged hash, grouped."""
    digest = _crypto.tagged_hash("redress team key fingerprint v1", public_key)[:16].hex()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


# --- team keys ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TeamPublicKey:
    """The team public key of one epoch, as exported for the intake and for ``submit``.

    ``caseworkers`` lists (name, Ed25519 public key) of the current caseworkers: the
    intake accepts signed pull requests from these keys only.
    """

    epoch: int
    public_key: bytes
    caseworkers: tuple[tuple[str, bytes], ...] = ()
    origin: str | None = None  # the vault's access log, which the intake witnesses

    @property
    def key_id(self) -> bytes:
        return team_key_id(self.public_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def to_file_bytes(self) -> bytes:
        doc = {
            "kind": TEAM_KEY_KIND,
            "v": 1,
            "epoch": self.epoch,
            "public_key": b64(self.public_key),
            "fingerprint": self.fingerprint,
            "caseworkers": [
                {"name": name, "key_id": caseworker_key_id(pk), "sign_pk": b64(pk)}
                for name, pk in self.caseworkers
            ],
        }
        if self.origin is not None:
            doc["log_origin"] = self.origin
        return (json.dumps(doc, indent=2) + "\n").encode()

    @classmethod
    def from_file_bytes(cls, data: bytes) -> TeamPublicKey:
        try:
            doc = json.loads(data)
            version = doc.get("v")
            if doc.get("kind") != TEAM_KEY_KIND or type(version) is not int or version != 1:
                raise ValueError
            epoch = doc["epoch"]
            if type(epoch) is not int or not 0 < epoch < 2**32:  # not True, not 1.0
                raise ValueError
            people = tuple(
                (str(p["name"]), unb64(p["sign_pk"], 32)) for p in doc.get("caseworkers", [])
            )
            ids = [p.get("key_id") for p in doc.get("caseworkers", [])]
            if ids != [caseworker_key_id(pk) for _, pk in people]:
                raise ValueError
            origin = doc.get("log_origin")
            if origin is not None and not is_log_origin(origin):
                raise ValueError
            key = cls(
                epoch=epoch,
                public_key=unb64(doc["public_key"], 32),
                caseworkers=people,
                origin=origin,
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, RecursionError):
            raise NotAKeyFileError(
                "That file is not a Redress team public key.",
                hint="make one with: vault team-key export FILE",
            ) from None
        if doc.get("fingerprint") != key.fingerprint:
            raise NotAKeyFileError("That team key file's fingerprint does not match its key.")
        return key


@dataclass(frozen=True, slots=True)
class TeamKeyPair:
    epoch: int
    public_key: bytes
    secret_key: SecretBytes = field(repr=False)

    @classmethod
    def generate(cls, epoch: int) -> TeamKeyPair:
        pk, sk = _crypto.box_keypair()
        return cls(epoch=epoch, public_key=pk, secret_key=sk)

    @property
    def public(self) -> TeamPublicKey:
        return TeamPublicKey(self.epoch, self.public_key)


# --- caseworker identity --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseworkerPublic:
    """What everyone may know about a caseworker: name and public keys."""

    name: str
    sign_pk: bytes
    box_pk: bytes

    @property
    def key_id(self) -> str:
        return caseworker_key_id(self.sign_pk)


def caseworker_key_id(sign_pk: bytes) -> str:
    return _caseworker_key_id(bytes(sign_pk))


@lru_cache(maxsize=256)
def _caseworker_key_id(sign_pk: bytes) -> str:
    # Cached: every access-log entry and checked event names its actor by this id.
    return _crypto.tagged_hash("redress caseworker key id v1", sign_pk)[:8].hex()


@dataclass(frozen=True, slots=True)
class Identity:
    """A caseworker's unlocked identity. Prints its name and key id, never its secrets."""

    name: str
    sign_seed: SecretBytes = field(repr=False)
    box_sk: SecretBytes = field(repr=False)
    signer: _crypto.Signer = field(repr=False, compare=False)

    @classmethod
    def generate(cls, name: str) -> Identity:
        _, seed = _crypto.sign_keypair()
        _, box_sk = _crypto.box_keypair()
        return cls.from_secrets(name, seed, box_sk)

    @classmethod
    def from_secrets(cls, name: str, sign_seed: SecretBytes, box_sk: SecretBytes) -> Identity:
        return cls(name=name, sign_seed=sign_seed, box_sk=box_sk, signer=_crypto.Signer(sign_seed))

    @property
    def public(self) -> CaseworkerPublic:
        return CaseworkerPublic(
            name=self.name,
            sign_pk=self.signer.public_key,
            box_pk=_crypto.box_public_from_secret(self.box_sk),
        )

    @property
    def key_id(self) -> str:
        return caseworker_key_id(self.signer.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.signer.sign(message)


MAX_OPSLIMIT = 32
MAX_MEMLIMIT = 4 << 30  # 4 GiB


@dataclass(frozen=True, slots=True)
class KdfParams:
    opslimit: int = _crypto.PWHASH_OPSLIMIT_MODERATE
    memlimit: int = _crypto.PWHASH_MEMLIMIT_MODERATE

    def check_strength(self) -> None:
        if self.opslimit > MAX_OPSLIMIT or self.memlimit > MAX_MEMLIMIT:
            raise NotAKeyFileError(
                "That key file asks for more passphrase work than any Redress key file does."
            )
        if (
            self.opslimit < _crypto.PWHASH_OPSLIMIT_MODERATE
            or self.memlimit < _crypto.PWHASH_MEMLIMIT_MODERATE
        ):
            raise NotAKeyFileError(
                "That key file's passphrase protection is weaker than Redress allows."
            )


DEFAULT_KDF = KdfParams()


def lock_identity(
    identity: Identity, passphrase: Passphrase, params: KdfParams = DEFAULT_KDF
) -> bytes:
    """The key file: public parts and KDF parameters in clear, secrets under the passphrase."""
    params.check_strength()
    salt = _crypto.random_bytes(_crypto.PWHASH_SALT_BYTES)
    key = _crypto.argon2id(passphrase, salt, params.opslimit, params.memlimit)
    return _seal_identity(identity, key, salt, params)


def _seal_identity(identity: Identity, key: SecretBytes, salt: bytes, params: KdfParams) -> bytes:
    """A version 2 key file of ``identity`` under ``key`` (Argon2id of the passphrase, ``salt``)."""
    public = identity.public
    header: dict[str, Any] = {
        "kind": KEY_FILE_KIND,
        "v": KEY_FILE_VERSION,
        "name": identity.name,
        "sign_pk": b64(public.sign_pk),
        "box_pk": b64(public.box_pk),
        "kdf": {
            "alg": "argon2id13",
            "opslimit": params.opslimit,
            "memlimit": params.memlimit,
            "salt": b64(salt),
        },
    }
    secrets = identity.sign_seed.reveal() + identity.box_sk.reveal()
    header["sealed"] = b64(_crypto.aead_encrypt(key, secrets, identity_ad(header)))
    return (json.dumps(header, indent=2) + "\n").encode()


def identity_ad(doc: dict[str, Any]) -> bytes:
    """The associated data binding every clear member of a key file to its sealed secrets.

    Version 2 serialises the members canonically (``vault.report.canonical_json``, the
    canonical form of ``docs/format.md``). Version 1 files used Python's default
    ``json.dumps(sort_keys=True)``; they are still read, and rewritten as version 2 on
    unlock (:func:`vault.keychange.unlock_key_file`).
    """
    clear = {k: v for k, v in doc.items() if k != "sealed"}
    if doc.get("v") == LEGACY_KEY_FILE_VERSION:
        encoded = json.dumps(clear, sort_keys=True).encode()
    else:
        encoded = canonical_json(clear)
    return IDENTITY_AD_PURPOSE.encode() + b"\x00" + encoded


def read_key_file_public(data: bytes) -> tuple[CaseworkerPublic, dict[str, Any]]:
    """Parse a key file's clear parts without the passphrase."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("kind") != KEY_FILE_KIND:
            raise ValueError
        version = doc.get("v")
        if type(version) is int and version > KEY_FILE_VERSION:
            raise NewerKeyFileError()
        if version not in (LEGACY_KEY_FILE_VERSION, KEY_FILE_VERSION) or version is True:
            raise ValueError
        name = doc["name"]
        if not isinstance(name, str):
            raise ValueError
        public = CaseworkerPublic(
            name=name, sign_pk=unb64(doc["sign_pk"], 32), box_pk=unb64(doc["box_pk"], 32)
        )
        kdf = doc["kdf"]
        if kdf.get("alg") != "argon2id13":
            raise ValueError
        unb64(kdf["salt"], _crypto.PWHASH_SALT_BYTES)
        int(kdf["opslimit"]), int(kdf["memlimit"])
        unb64(doc["sealed"])
        identity_ad(doc)  # every member must encode as UTF-8 (no lone surrogates)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, UnicodeError):
        raise NotAKeyFileError() from None
    return public, doc


def unlock_identity(data: bytes, passphrase: Passphrase) -> Identity:
    return unlock_identity_upgrading(data, passphrase)[0]


def unlock_identity_upgrading(data: bytes, passphrase: Passphrase) -> tuple[Identity, bytes | None]:
    """Unlock a key file; also return it rewritten as version 2 if it was version 1, else None.

    The rewritten file keeps the salt and KDF parameters (so the passphrase-derived key is
    the same and Argon2id runs once) under a fresh nonce, with the canonical associated data.
    """
    public, doc = read_key_file_public(data)
    kdf = doc["kdf"]
    params = KdfParams(opslimit=int(kdf["opslimit"]), memlimit=int(kdf["memlimit"]))
    params.check_strength()
    salt = unb64(kdf["salt"])
    key = _crypto.argon2id(passphrase, salt, params.opslimit, params.memlimit)
    try:
        secrets = _crypto.aead_decrypt(key, unb64(doc["sealed"]), identity_ad(doc))
    except _crypto.OpenFailed:
        raise WrongPassphraseError(
            f"Wrong passphrase for {public.name}'s key file.",
        ) from None
    identity = Identity.from_secrets(
        public.name, SecretBytes(secrets[:32], "ed25519 seed"), SecretBytes(secrets[32:], "x25519")
    )
    if identity.public != public:
        raise NotAKeyFileError("That key file's public keys do not match its secrets.")
    upgraded = None
    if doc["v"] == LEGACY_KEY_FILE_VERSION:
        upgraded = _seal_identity(identity, key, salt, params)
    return identity, upgraded


# --- access: the keys wrapped to one identity ---------------------------------------


@dataclass(frozen=True, slots=True)
class Access:
    """What an unlocked identity holds: the database key and every team key pair."""

    db_key: SecretBytes = field(repr=False)
    team_keys: tuple[TeamKeyPair, ...]

    def __post_init__(self) -> None:
        if not self.team_keys:
            raise ValueError("access needs at least one team key")

    @property
    def current(self) -> TeamKeyPair:
        return max(self.team_keys, key=lambda k: k.epoch)

    def team_key(self, epoch: int) -> TeamKeyPair | None:
        for key in self.team_keys:
            if key.epoch == epoch:
                return key
        return None


ACCESS_SIGNATURE_CONTEXT = b"redress access signature v1\x00"
# writer's key (32) + signature (64) + a sealed box (48 bytes of overhead) around the payload
ACCESS_MIN_BYTES = 32 + 64 + 48 + len(ACCESS_PURPOSE)


def wrap_access(access: Access, recipient: CaseworkerPublic, writer: Identity) -> bytes:
    """The access file: the keys sealed to ``recipient``, signed by ``writer``.

    Layout: writer's Ed25519 public key (32) || signature (64) || sealed box. The
    signature covers the recipient's X25519 key and the sealed box, so a file
    made by someone without a trusted caseworker's signing key is refused.
    """
    doc = {
        "v": 1,
        "db_key": b64(access.db_key.reveal()),
        "team_keys": [
            {
                "epoch": k.epoch,
                "public_key": b64(k.public_key),
                "secret_key": b64(k.secret_key.reveal()),
            }
            for k in access.team_keys
        ],
    }
    payload = ACCESS_PURPOSE + json.dumps(doc).encode()
    return _crypto.wrap_signed(payload, recipient.box_pk, writer.signer, ACCESS_SIGNATURE_CONTEXT)


def unwrap_access(
    data: bytes,
    identity: Identity,
    trusted_writers: frozenset[bytes] | None = None,
    *,
    own_file: bool = False,
) -> Access:
    """Open an access file written by a trusted caseworker (by default: this one).

    ``own_file``: the file is certainly ``identity``'s (a caseworker's own ``NAME.access``,
    opened with the key file their passphrase unlocked), so one that a trusted writer signed
    and that neither verifies nor opens for them was changed (exit 4), not a wrong key (3).
    """
    public = identity.public
    trusted = trusted_writers if trusted_writers is not None else frozenset({public.sign_pk})
    if len(data) < ACCESS_MIN_BYTES:  # cut short or emptied: no writer could have made it
        raise IntegrityError(
            f"{identity.name}'s access file is damaged: it is cut short.",
            hint="restore the vault folder from a backup",
        )
    refused = WrongKeyError(
        f"{identity.name}'s access file was not written by a trusted caseworker.",
        hint="it may have been replaced; restore the vault folder from a backup",
    )
    try:
        plain = _crypto.unwrap_signed(
            data, public.box_pk, identity.box_sk, trusted, ACCESS_SIGNATURE_CONTEXT
        )
        if not plain.startswith(ACCESS_PURPOSE):
            raise _crypto.OpenFailed()
        doc = json.loads(plain[len(ACCESS_PURPOSE) :])
        keys = []
        for k in doc["team_keys"]:
            pair = TeamKeyPair(
                epoch=int(k["epoch"]),
                public_key=unb64(k["public_key"], 32),
                secret_key=SecretBytes(unb64(k["secret_key"], 32), "team secret key"),
            )
            if _crypto.box_public_from_secret(pair.secret_key) != pair.public_key:
                raise ValueError
            keys.append(pair)
        return Access(
            db_key=SecretBytes(unb64(doc["db_key"], 32), "database key"), team_keys=tuple(keys)
        )
    except _crypto.SignatureFailed:  # its writer is trusted, so the file itself was changed
        raise IntegrityError(
            f"{identity.name}'s access file is damaged or has been changed.",
            hint="restore the vault folder from a backup",
        ) from None
    except _crypto.UntrustedWriter:
        raise refused from None
    except _crypto.NotSealedHere:
        if not own_file:
            raise WrongKeyError(
                f"{identity.name}'s key does not open this vault.",
                hint="the access file may be damaged or from another vault",
            ) from None
        raise IntegrityError(
            f"{identity.name}'s access file is damaged or has been changed.",
            hint="restore the vault folder from a backup",
        ) from None
    except (_crypto.OpenFailed, ValueError, KeyError, TypeError, binascii.Error):
        raise WrongKeyError(
            f"{identity.name}'s key does not open this vault.",
            hint="the access file may be damaged or from another vault",
        ) from None


def new_access() -> Access:
    return Access(
        db_key=SecretBytes(_crypto.random_bytes(_crypto.KEY_BYTES), "database key"),
        team_keys=(TeamKeyPair.generate(1),),
    )


def is_log_origin(origin: object) -> bool:
    """Whether ``origin`` can name an access log (a team key file's ``log_origin``): a
    non-empty string with no ``+``, white space or control character."""
    return (
        isinstance(origin, str)
        and bool(origin)
        and "+" not in origin
        and not any(c.isspace() or ord(c) < 0x20 for c in origin)
    )


def validate_name(name: str) -> str:
    """Caseworker names become file names: keep them short and plain."""
    cleaned = name.strip()
    if (
        not (1 <= len(cleaned) <= 40)
        or not all(c.isalnum() or c in "-_." for c in cleaned)
        or cleaned[0] == "."
    ):
        raise UsageError(  # a name typed on the command line (names read from files: callers)
            "A caseworker name must be 1 to 40 letters, digits, dots, dashes or underscores.",
        )
    return cleaned
