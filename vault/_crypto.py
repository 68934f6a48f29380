"""The one module that calls PyNaCl (libsodium) primitives.

Everything else uses the recipes here or in the modules built on them.
Every failure to open or verify raises :class:`OpenFailed`, which carries no
detail: callers turn it into the error their user should read.
"""

from __future__ import annotations

import hashlib
import hmac

import nacl.bindings as b
import nacl.exceptions
import nacl.pwhash
import nacl.utils

KEY_BYTES = 32
SEAL_OVERHEAD = b.crypto_box_SEALBYTES  # 48: ephemeral public key + MAC
SIGNATURE_BYTES = b.crypto_sign_BYTES
AEAD_NONCE_BYTES = b.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
PWHASH_SALT_BYTES = nacl.pwhash.argon2id.SALTBYTES
PWHASH_OPSLIMIT_MODERATE = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
PWHASH_MEMLIMIT_MODERATE = nacl.pwhash.argon2id.MEMLIMIT_MODERATE


class OpenFailed(Exception):
    """A seal, box or signature did not open or verify. Deliberately detail-free."""


class SecretBytes:
    """Secret key material that refuses to print itself.

    ``repr`` and ``str`` show only a label; the bytes come out through an
    explicit :meth:`reveal` call.
    """

    __slots__ = ("_label", "_value")

    def __init__(self, value: bytes, label: str = "secret") -> None:
        self._value = bytes(value)
        self._label = label

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"<SecretBytes {self._label}: hidden>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretBytes):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("SecretBytes", self._label))

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("secret key material cannot be pickled")


def random_bytes(n: int) -> bytes:
    return nacl.utils.random(n)


def tagged_hash(purpose: str, *parts: bytes) -> bytes:
    """SHA-256 over a purpose string, a zero byte, then the parts (length-prefixed when several)."""
    h = hashlib.sha256(purpose.encode("ascii") + b"\x00")
    if len(parts) == 1:
        h.update(parts[0])
    else:
        for part in parts:
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
    return h.digest()


def keyed_hash(key: SecretBytes, purpose: str, data: bytes) -> bytes:
    """HMAC-SHA-256 under ``key`` over a purpose string, a zero byte, then ``data``: equal for
    equal ``data`` under one key, and useless for guessing ``data`` without the key."""
    return hmac.new(key.reveal(), purpose.encode("ascii") + b"\x00" + data, hashlib.sha256).digest()


# --- sealed boxes (X25519 + XSalsa20-Poly1305) -------------------------------


def box_keypair() -> tuple[bytes, SecretBytes]:
    pk, sk = b.crypto_box_keypair()
    return pk, SecretBytes(sk, "x25519 secret key")


def box_seed_keypair(seed: SecretBytes) -> tuple[bytes, SecretBytes]:
    """The X25519 key pair libsodium derives from a 32-byte seed (crypto_box_seed_keypair)."""
    pk, sk = b.crypto_box_seed_keypair(seed.reveal())
    return pk, SecretBytes(sk, "x25519 secret key")


def blake2b_256(data: bytes) -> bytes:
    """BLAKE2b with a 32-byte digest and no key (libsodium's crypto_generichash)."""
    return hashlib.blake2b(data, digest_size=32).digest()


def box_public_from_secret(sk: SecretBytes) -> bytes:
    return b.crypto_scalarmult_base(sk.reveal())


def seal(message: bytes, public_key: bytes) -> bytes:
    return b.crypto_box_seal(message, public_key)


def seal_open(sealed: bytes, public_key: bytes, secret_key: SecretBytes) -> bytes:
    try:
        return b.crypto_box_seal_open(sealed, public_key, secret_key.reveal())
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, TypeError) as e:
        raise OpenFailed() from e


# --- signatures (Ed25519) ------------------------------------------------------


# --- recipes: what the rest of the vault seals and opens ---------------------------------


def seal_note(text: str, team_public_key: bytes) -> bytes:
    """A caseworker's note (or the team's copy of a reply), sealed to the team key."""
    return seal(text.encode(), team_public_key)


class UnusableKey(Exception):
    """libsodium refuses to seal to this public key (a low-order point: no shared secret)."""


def seal_reply(padded: bytes, reply_public_key: bytes) -> bytes:
    """A reply to a reporter, padded, sealed to the public key their codename gives.

    A report can carry a reply key no codename gives (all zeros, or another low-order point);
    libsodium refuses to seal to it: :class:`UnusableKey`.
    """
    try:
        return seal(padded, reply_public_key)
    except RuntimeError:  # PyNaCl's "unexpected library error": libsodium returned -1
        raise UnusableKey() from None


class UntrustedWriter(OpenFailed):
    """A signed, sealed file whose writer is not trusted, or whose signature does not verify."""


class SignatureFailed(UntrustedWriter):
    """A signed, sealed file from a trusted writer, sealed to this reader, whose signature
    does not verify: it was changed."""


class NotSealedHere(OpenFailed):
    """A signed, sealed file from a trusted writer whose signature does not verify for this
    reader and which does not open with this reader's key: sealed to another reader, or
    changed in its sealed part."""


def wrap_signed(payload: bytes, recipient_box_pk: bytes, writer: Signer, context: bytes) -> bytes:
    """An access file's form: ``payload`` sealed to the recipient, signed by its writer.

    Layout: writer's Ed25519 public key (32) || signature (64) || sealed box. The signature,
    over ``context`` || the recipient's X25519 key || the sealed box, binds the file to its
    recipient and its writer.
    """
    sealed = seal(payload, recipient_box_pk)
    signature = writer.sign(context + recipient_box_pk + sealed)
    return writer.public_key + signature + sealed


def unwrap_signed(
    data: bytes,
    box_pk: bytes,
    box_sk: SecretBytes,
    trusted_writers: frozenset[bytes],
    context: bytes,
) -> bytes:
    """The payload of a :func:`wrap_signed` file; :class:`UntrustedWriter` if its writer is not
    one of ``trusted_writers`` (Ed25519 public keys) or the signature fails, and
    :class:`OpenFailed` (:class:`NotSealedHere` when the signature fails too) if it does not
    open."""
    writer, signature, sealed = data[:32], data[32:96], data[96:]
    if writer not in trusted_writers:
        raise UntrustedWriter()
    try:
        verify(signature, context + box_pk + sealed, writer)
    except OpenFailed:
        # Sealed to another key (not this reader's file: OpenFailed from seal_open), or
        # sealed to this reader by a trusted writer and then changed (SignatureFailed).
        try:
            seal_open(sealed, box_pk, box_sk)
        except OpenFailed:
            raise NotSealedHere() from None
        raise SignatureFailed() from None
    return seal_open(sealed, box_pk, box_sk)


_INDEX_KEY_PURPOSE = b"redress professional index key v1\x00"


def new_index_key(team_public_key: bytes) -> tuple[SecretBytes, bytes]:
    """A random 32-byte key for the index of professionals, and that key sealed to the team
    key (to keep in the database: the database key alone does not open it)."""
    key = random_bytes(32)
    return SecretBytes(key, "professional index key"), seal(
        _INDEX_KEY_PURPOSE + key, team_public_key
    )


def open_index_key(
    sealed: bytes, team_public_key: bytes, team_secret_key: SecretBytes
) -> SecretBytes:
    """The key sealed by :func:`new_index_key`; :class:`OpenFailed` if it does not open."""
    opened = seal_open(sealed, team_public_key, team_secret_key)
    if not opened.startswith(_INDEX_KEY_PURPOSE) or len(opened) != len(_INDEX_KEY_PURPOSE) + 32:
        raise OpenFailed()
    return SecretBytes(opened[len(_INDEX_KEY_PURPOSE) :], "professional index key")


def open_note(sealed: bytes, team_public_key: bytes, team_secret_key: SecretBytes) -> str:
    """The text of a note sealed by :func:`seal_note`; :class:`OpenFailed` if it does not open."""
    try:
        return seal_open(sealed, team_public_key, team_secret_key).decode()
    except UnicodeDecodeError:
        raise OpenFailed from None


def sign_keypair() -> tuple[bytes, SecretBytes]:
    """A new Ed25519 key pair; the secret is the 32-byte seed."""
    seed = random_bytes(b.crypto_sign_SEEDBYTES)
    return sign_public_from_seed(SecretBytes(seed)), SecretBytes(seed, "ed25519 seed")


def sign_public_from_seed(seed: SecretBytes) -> bytes:
    pk, _ = b.crypto_sign_seed_keypair(seed.reveal())
    return pk


def sign(message: bytes, seed: SecretBytes) -> bytes:
    _, sk = b.crypto_sign_seed_keypair(seed.reveal())
    signed = b.crypto_sign(message, sk)
    return signed[:SIGNATURE_BYTES]


class Signer:
    """An Ed25519 signing key expanded once, for signing many messages."""

    __slots__ = ("_sk", "public_key")

    def __init__(self, seed: SecretBytes) -> None:
        self.public_key, sk = b.crypto_sign_seed_keypair(seed.reveal())
        self._sk = SecretBytes(sk, "ed25519 secret key")

    def sign(self, message: bytes) -> bytes:
        return b.crypto_sign(message, self._sk.reveal())[:SIGNATURE_BYTES]

    def __repr__(self) -> str:
        return f"<Signer {self.public_key[:4].hex()}…: secret hidden>"


def verify(signature: bytes, message: bytes, public_key: bytes) -> None:
    if len(signature) != SIGNATURE_BYTES:
        raise OpenFailed()
    try:
        b.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, TypeError) as e:
        raise OpenFailed() from e


# --- passphrase KDF and AEAD ---------------------------------------------------


def argon2id(passphrase: SecretBytes, salt: bytes, opslimit: int, memlimit: int) -> SecretBytes:
    """The passphrase (a :class:`vault.passphrase.Passphrase`) is revealed only here."""
    key = nacl.pwhash.argon2id.kdf(
        KEY_BYTES, passphrase.reveal(), salt, opslimit=opslimit, memlimit=memlimit
    )
    return SecretBytes(key, "passphrase-derived key")


def aead_encrypt(key: SecretBytes, plaintext: bytes, associated: bytes) -> bytes:
    """XChaCha20-Poly1305 with a random nonce; returns nonce || ciphertext."""
    nonce = random_bytes(AEAD_NONCE_BYTES)
    ct = b.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associated, nonce, key.reveal())
    return nonce + ct


def aead_decrypt(key: SecretBytes, sealed: bytes, associated: bytes) -> bytes:
    nonce, ct = sealed[:AEAD_NONCE_BYTES], sealed[AEAD_NONCE_BYTES:]
    try:
        return b.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, associated, nonce, key.reveal())
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, TypeError) as e:
        raise OpenFailed() from e


# --- streams (secretstream XChaCha20-Poly1305), for attachments ------------------

STREAM_HEADER_BYTES = b.crypto_secretstream_xchacha20poly1305_HEADERBYTES  # 24
STREAM_ABYTES = b.crypto_secretstream_xchacha20poly1305_ABYTES  # 17
STREAM_KEY_BYTES = b.crypto_secretstream_xchacha20poly1305_KEYBYTES  # 32
_TAG_MESSAGE = b.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL = b.crypto_secretstream_xchacha20poly1305_TAG_FINAL


class StreamOpener:
    """Opens a secretstream chunk by chunk: ``pull`` gives the plaintext and whether it was final.

    Only the ``MESSAGE`` and ``FINAL`` tags are accepted (Redress never pushes or rekeys);
    anything else, a chunk after the final one, or a chunk that fails to open raises
    :class:`OpenFailed`.
    """

    __slots__ = ("_finished", "_state")

    def __init__(self, key: SecretBytes, header: bytes) -> None:
        if len(key) != STREAM_KEY_BYTES or len(header) != STREAM_HEADER_BYTES:
            raise OpenFailed()
        self._state = b.crypto_secretstream_xchacha20poly1305_state()
        self._finished = False
        try:
            b.crypto_secretstream_xchacha20poly1305_init_pull(self._state, header, key.reveal())
        except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, TypeError) as e:
            raise OpenFailed() from e

    def pull(self, chunk: bytes, associated: bytes | None = None) -> tuple[bytes, bool]:
        if self._finished:
            raise OpenFailed()
        try:
            message, tag = b.crypto_secretstream_xchacha20poly1305_pull(
                self._state, chunk, associated
            )
        except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, TypeError) as e:
            raise OpenFailed() from e
        if tag == _TAG_FINAL:
            self._finished = True
        elif tag != _TAG_MESSAGE:
            raise OpenFailed()
        return bytes(message), self._finished

    def __repr__(self) -> str:
        return "<StreamOpener: key hidden>"


class StreamSealer:
    """Seals a secretstream chunk by chunk (backups): ``push`` each chunk, ``final`` last.

    ``header`` is the 24-byte stream header to write before the first chunk. The first
    chunk may carry associated data (e.g. a file header it binds).
    """

    __slots__ = ("_finished", "_state", "header")

    def __init__(self, key: SecretBytes) -> None:
        if len(key) != STREAM_KEY_BYTES:
            raise ValueError("a stream key is 32 bytes")
        self._state = b.crypto_secretstream_xchacha20poly1305_state()
        self.header: bytes = b.crypto_secretstream_xchacha20poly1305_init_push(
            self._state, key.reveal()
        )
        self._finished = False

    def push(self, chunk: bytes, associated: bytes | None = None, *, final: bool = False) -> bytes:
        if self._finished:
            raise ValueError("the stream is already finished")
        tag = _TAG_FINAL if final else _TAG_MESSAGE
        self._finished = final
        return bytes(
            b.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, associated, tag)
        )

    def __repr__(self) -> str:
        return "<StreamSealer: key hidden>"
