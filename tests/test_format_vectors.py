"""The key file, event, blob id, backup and audit bundle vectors, read by the documents alone.

Each section is a reader written from ``docs/format.md`` or ``docs/audit.md`` with PyNaCl and
hashlib and nothing from the ``vault`` package; it must accept every positive vector, giving
the recorded values, and refuse every negative one at the step the vector names. The
project's own code is checked against the same vectors, the deterministic generators must
reproduce their files byte for byte, and each tampered audit bundle must give exactly the
recorded exit code and message when the real ``vault audit verify`` checks it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.pwhash
import pytest
from nacl.signing import VerifyKey

from vault.passphrase import Passphrase

VECTOR_DIR = Path(__file__).parent / "vectors"
VAULT_BIN = Path(sys.executable).with_name("vault")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTOR_DIR / name).read_text("utf-8"))
    return data


KEY_FILE = load("key-file-v2.json")
EVENTS = load("events-v1.json")
BACKUP = load("backup-v2.json")
BACKUP_V1 = load("backup-v1.json")
BACKUPS = [BACKUP, BACKUP_V1]
AUDIT = load("audit-bundle-v2.json")
BLOB_IDS = load("blob-id-v1.json")
AUDIT_V1 = load("audit-bundle-v1.json")  # the older format, which every verifier still reads
AUDIT_SOUND = [
    {**v, "name": f"{a['format'][-2:]}-{v['name']}"} for a in (AUDIT, AUDIT_V1) for v in a["sound"]
]
AUDIT_TAMPERED = [
    {**v, "name": f"{a['format'][-2:]}-{v['name']}"}
    for a in (AUDIT, AUDIT_V1)
    for v in a["tampered"]
]


class Refused(Exception):
    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


def by_name(vectors: list[dict[str, Any]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("vector", vectors, ids=[v["name"] for v in vectors])


def canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def tagged_sha256(purpose: str, data: bytes) -> bytes:
    return hashlib.sha256(purpose.encode() + b"\x00" + data).digest()


def caseworker_key_id(sign_pk: bytes) -> str:
    return tagged_sha256("redress caseworker key id v1", sign_pk)[:8].hex()


@cache
def argon2id(passphrase: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return bytes(
        nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit=opslimit, memlimit=memlimit)
    )


def check_kdf(kdf: object) -> tuple[bytes, int, int]:
    """The KDF members of a key file or backup slot, with the documented limits."""
    if not isinstance(kdf, dict) or kdf.get("alg") != "argon2id13":
        raise Refused("parse")
    ops, mem = kdf["opslimit"], kdf["memlimit"]
    if type(ops) is not int or type(mem) is not int:
        raise Refused("parse")
    if not (3 <= ops <= 32 and 256 << 20 <= mem <= 4 << 30):
        raise Refused("kdf-limits")
    salt = base64.b64decode(kdf["salt"], validate=True)
    if len(salt) != 16:
        raise Refused("parse")
    return salt, ops, mem


def aead_open(key: bytes, sealed: bytes, ad: bytes) -> bytes:
    try:
        return bytes(
            sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[24:], ad, sealed[:24], key)
        )
    except nacl.exceptions.CryptoError:
        raise Refused("decrypt") from None


def load_generator(file: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"_vectors_{file[:-3]}", VECTOR_DIR / file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


# --- the caseworker key file -----------------------------------------------------------------


def read_key_file(text: str, passphrase: bytes) -> dict[str, Any]:
    """docs/format.md, "The caseworker key file", step by step."""
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("kind") != "redress-identity":
        raise Refused("parse")
    if type(doc.get("v")) is not int or doc["v"] not in (1, 2):
        raise Refused("parse")
    salt, ops, mem = check_kdf(doc.get("kdf"))
    sign_pk = base64.b64decode(doc["sign_pk"], validate=True)
    box_pk = base64.b64decode(doc["box_pk"], validate=True)
    sealed = base64.b64decode(doc["sealed"], validate=True)
    if len(sign_pk) != 32 or len(box_pk) != 32 or len(sealed) != 104:
        raise Refused("parse")
    clear = {k: v for k, v in doc.items() if k != "sealed"}
    # Version 2: canonical JSON. Version 1: Python's default json.dumps, sorted.
    encoded = canonical(clear) if doc["v"] == 2 else json.dumps(clear, sort_keys=True).encode()
    ad = b"redress identity key file v1\x00" + encoded
    key = argon2id(passphrase, salt, ops, mem)
    secrets = aead_open(key, sealed, ad)
    seed, box_sk = secrets[:32], secrets[32:]
    if (
        bytes(sodium.crypto_sign_seed_keypair(seed)[0]) != sign_pk
        or bytes(sodium.crypto_scalarmult_base(box_sk)) != box_pk
    ):
        raise Refused("public-keys")
    return {
        "name": doc["name"],
        "ad": ad,
        "key": key,
        "nonce": sealed[:24],
        "seed": seed,
        "box_sk": box_sk,
        "sign_pk": sign_pk,
        "box_pk": box_pk,
    }


@by_name(KEY_FILE["positive"])
def test_key_file_opens_by_the_spec(vector: dict[str, Any]) -> None:
    got = read_key_file(vector["file"], vector["passphrase"].encode("utf-8"))
    assert got["name"] == vector["caseworker"]
    assert got["ad"].hex() == vector["ad"]
    assert got["key"].hex() == vector["passphrase_key"]
    assert got["nonce"].hex() == vector["nonce"]
    assert got["seed"].hex() == vector["sign_seed"]
    assert got["box_sk"].hex() == vector["box_secret_key"]
    assert got["sign_pk"].hex() == vector["sign_pk"]
    assert got["box_pk"].hex() == vector["box_pk"]
    assert caseworker_key_id(got["sign_pk"]) == vector["key_id"]
    assert json.loads(vector["file"])["v"] == vector["v"]


@by_name(KEY_FILE["negative"])
def test_key_file_negative_fails_at_the_documented_step(vector: dict[str, Any]) -> None:
    with pytest.raises(Refused) as refused:
        read_key_file(vector["file"], vector["passphrase"].encode("utf-8"))
    assert refused.value.step == vector["fails_at"]


def test_key_file_vectors_agree_with_the_vault() -> None:
    from vault.errors import NewerKeyFileError, NotAKeyFileError, WrongPassphraseError
    from vault.keys import unlock_identity, unlock_identity_upgrading

    for vector in KEY_FILE["positive"]:
        identity, upgraded = unlock_identity_upgrading(
            vector["file"].encode(), Passphrase(vector["passphrase"].encode())
        )
        assert identity.key_id == vector["key_id"]
        assert (upgraded is None) == (vector["v"] == 2)
        if upgraded is not None:  # the migrated file is a version 2 file, by the spec too
            got = read_key_file(upgraded.decode(), vector["passphrase"].encode())
            assert got["sign_pk"].hex() == vector["sign_pk"]
            assert json.loads(upgraded)["v"] == 2
    errors = {
        "WrongPassphraseError": WrongPassphraseError,
        "NotAKeyFileError": NotAKeyFileError,
        "NewerKeyFileError": NewerKeyFileError,
    }
    for vector in KEY_FILE["negative"]:
        with pytest.raises(errors[vector["reference_error"]]):
            unlock_identity(vector["file"].encode(), Passphrase(vector["passphrase"].encode()))


def test_key_file_generator_reproduces_the_vectors() -> None:
    generate = load_generator("generate_key_file.py")
    assert generate.render() == (VECTOR_DIR / "key-file-v2.json").read_bytes()


# --- signed case events ----------------------------------------------------------------------

EVENT_KINDS = {"imported", "opened", "note", "assigned", "status", "closed", "reply", "attachment"}


def read_event(body: bytes, signature: bytes, sign_pk: bytes) -> dict[str, Any]:
    """docs/format.md, "Signed case events": verify, parse, re-serialise."""
    try:
        VerifyKey(sign_pk).verify(b"redress event v1\x00" + body, signature)
    except nacl.exceptions.BadSignatureError:
        raise Refused("signature") from None
    doc = json.loads(body)
    if not isinstance(doc, dict) or doc.get("v") != 1 or canonical(doc) != body:
        raise Refused("canonical")
    assert doc.keys() == {"actor", "at", "case", "data", "id", "kind", "v"}
    assert doc["kind"] in EVENT_KINDS
    return doc


@by_name(EVENTS["positive"])
def test_event_verifies_by_the_spec(vector: dict[str, Any]) -> None:
    person = EVENTS["caseworker"]
    sign_pk = bytes(sodium.crypto_sign_seed_keypair(bytes.fromhex(person["sign_seed"]))[0])
    assert sign_pk.hex() == person["sign_pk"]
    assert caseworker_key_id(sign_pk) == person["key_id"]
    body = vector["body"].encode("utf-8")
    assert bytes.fromhex(vector["signed_message"]) == b"redress event v1\x00" + body
    assert EVENTS["signature_context"] == b"redress event v1\x00".hex()
    doc = read_event(body, bytes.fromhex(vector["signature"]), sign_pk)
    assert {k: v for k, v in doc.items() if k != "v"} == vector["parsed"]
    assert doc["actor"] == person["key_id"]
    if "sealed_text" in vector:
        team = EVENTS["team_key"]
        assert doc["data"]["epoch"] == team["epoch"]
        sealed = base64.b64decode(doc["data"]["sealed"], validate=True)
        opened = sodium.crypto_box_seal_open(
            sealed, bytes.fromhex(team["public_key"]), bytes.fromhex(team["secret_key"])
        )
        assert opened.decode("utf-8") == vector["sealed_text"]


@by_name(EVENTS["negative"])
def test_event_negative_fails_at_the_documented_step(vector: dict[str, Any]) -> None:
    sign_pk = bytes.fromhex(EVENTS["caseworker"]["sign_pk"])
    with pytest.raises(Refused) as refused:
        read_event(vector["body"].encode(), bytes.fromhex(vector["signature"]), sign_pk)
    assert refused.value.step == vector["fails_at"]


def test_event_vectors_agree_with_the_vault() -> None:
    from vault.errors import IntegrityError
    from vault.events import verify_event

    sign_pk = bytes.fromhex(EVENTS["caseworker"]["sign_pk"])
    for vector in EVENTS["positive"]:
        event = verify_event(vector["body"].encode(), bytes.fromhex(vector["signature"]), sign_pk)
        parsed = vector["parsed"]
        assert (event.id, event.case, event.kind, event.actor, event.at, event.data) == (
            parsed["id"],
            parsed["case"],
            parsed["kind"],
            parsed["actor"],
            parsed["at"],
            parsed["data"],
        )
    for vector in EVENTS["negative"]:
        with pytest.raises(IntegrityError):
            verify_event(vector["body"].encode(), bytes.fromhex(vector["signature"]), sign_pk)


def test_event_generator_reproduces_the_vectors() -> None:
    generate = load_generator("generate_events.py")
    assert generate.render() == (VECTOR_DIR / "events-v1.json").read_bytes()


# --- the blob id of a sealed attachment ------------------------------------------------------


def read_blob_id(blob: bytes) -> tuple[str, str]:
    """(the hash-list id, the whole-blob id), from docs/format.md "Attachments: the blob id"."""
    step = 65_536 + 17
    listed = blob[:24] + b"".join(
        hashlib.sha256(blob[at : at + step]).digest() for at in range(24, len(blob), step)
    )
    hash_list = hashlib.sha256(b"redress blob hash list v1\x00" + listed).hexdigest()
    return hash_list, hashlib.sha256(blob).hexdigest()


def blob_id_bytes(length: int) -> bytes:
    return bytes(i % 251 for i in range(length))


def test_blob_ids_by_the_spec_and_by_the_vault() -> None:
    from vault.attachments import blob_id, whole_blob_id

    assert BLOB_IDS["purpose"] == "redress blob hash list v1"
    for vector in BLOB_IDS["vectors"]:
        blob = blob_id_bytes(vector["length"])
        assert read_blob_id(blob) == (vector["blob_id"], vector["whole_blob_id"])
        listed = bytes.fromhex(vector["hash_list"])
        assert listed[:24].hex() == vector["header"]
        assert [listed[at : at + 32].hex() for at in range(24, len(listed), 32)] == vector[
            "chunk_sha256"
        ]
        assert (blob_id(blob), whole_blob_id(blob)) == (
            vector["blob_id"],
            vector["whole_blob_id"],
        )


def test_blob_id_generator_reproduces_the_vectors() -> None:
    generate = load_generator("generate_blob_ids.py")
    assert generate.render() == (VECTOR_DIR / "blob-id-v1.json").read_bytes()


# --- the backup file -------------------------------------------------------------------------

BACKUP_MAGIC = b"redress backup\x00"  # then the version byte: 1 or 2
CHUNK = 65536
TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL


def backup_allowed(name: str) -> bool:
    if name in ("vault.db", "recovery.access", "recovery.pub"):
        return True
    folder, _, file = name.partition("/")
    return folder == "caseworkers" and file.endswith((".key", ".access")) and "/" not in file


def read_backup_header(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """The prefix (every byte before the stream) and the parsed header, by docs/format.md."""
    if not data.startswith(BACKUP_MAGIC) or data[15] not in (1, 2):
        raise Refused("magic")
    version = data[15]
    (length,) = struct.unpack(">I", data[16:20])
    if length > 65536 or len(data) < 20 + length:
        raise Refused("header-check" if version == 2 else "parse")
    prefix = data[: 20 + length]
    if version == 2:
        check = data[20 + length : 20 + length + 32]
        if check != tagged_sha256("redress backup header check v2", prefix):
            raise Refused("header-check")
        prefix += check
    try:
        header = json.loads(data[20 : 20 + length])
    except ValueError:
        raise Refused("parse") from None
    if header.get("kind") != "redress-backup" or header.get("v") != version:
        raise Refused("parse")
    return prefix, header


def check_backup_kdf(kdf: object) -> tuple[bytes, int, int]:
    """A backup slot's KDF members: libsodium's MODERATE to SENSITIVE, before any KDF."""
    if not isinstance(kdf, dict) or kdf.get("alg") != "argon2id13":
        raise Refused("parse")
    ops, mem = kdf["opslimit"], kdf["memlimit"]
    if type(ops) is not int or type(mem) is not int:
        raise Refused("parse")
    if not (3 <= ops <= 4 and 256 << 20 <= mem <= 1 << 30):
        raise Refused("kdf-limits")
    salt = base64.b64decode(kdf["salt"], validate=True)
    if len(salt) != 16:
        raise Refused("parse")
    return salt, ops, mem


def backup_key_from_passphrase(header: dict[str, Any], passphrase: bytes) -> bytes:
    (slot,) = [s for s in header["slots"] if s["kind"] == "passphrase"]
    salt, ops, mem = check_backup_kdf(slot["kdf"])
    sealed = base64.b64decode(slot["sealed"], validate=True)
    key = argon2id(passphrase, salt, ops, mem)
    return aead_open(key, sealed, b"redress backup passphrase slot v1\x00")


def backup_key_from_recovery(header: dict[str, Any], box_pk: bytes, box_sk: bytes) -> bytes:
    (slot,) = [s for s in header["slots"] if s["kind"] == "recovery"]
    assert base64.b64decode(slot["box_pk"], validate=True) == box_pk
    plain = sodium.crypto_box_seal_open(base64.b64decode(slot["sealed"]), box_pk, box_sk)
    purpose = b"redress backup key v1\x00"
    assert plain.startswith(purpose)
    return bytes(plain[len(purpose) :])


def read_backup(data: bytes, key: bytes) -> tuple[list[tuple[str, bytes]], int]:
    """docs/format.md, "The backup file": the entries, and how many chunks held them."""
    prefix, _ = read_backup_header(data)
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    at = len(prefix)
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, data[at : at + 24], key)
    at += 24
    ad: bytes | None = tagged_sha256("redress backup header v1", prefix)
    plain, chunks = b"", 0
    while True:
        chunk = data[at : at + CHUNK + 17]
        if not chunk:
            raise Refused("no-final")
        at += len(chunk)
        try:
            piece, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, chunk, ad)
        except nacl.exceptions.CryptoError:
            raise Refused("chunk") from None
        ad, plain, chunks = None, plain + piece, chunks + 1
        if tag == TAG_FINAL:
            break
        if tag != TAG_MESSAGE or len(chunk) != CHUNK + 17:
            raise Refused("chunk")
    if at != len(data):
        raise Refused("after-final")
    entries, at, names = [], 0, set()
    while True:
        (length,) = struct.unpack(">H", plain[at : at + 2])
        at += 2
        if length == 0:
            break
        name = plain[at : at + length].decode("utf-8")
        (size,) = struct.unpack(">Q", plain[at + length : at + length + 8])
        at += length + 8
        if not backup_allowed(name) or name in names:
            raise Refused("entries")
        names.add(name)
        entries.append((name, plain[at : at + size]))
        at += size
    if at != len(plain) or "vault.db" not in names:
        raise Refused("entries")
    if not any(n.endswith(".access") for n in names):
        raise Refused("entries")
    return entries, chunks


def backup_bytes(vectors: dict[str, Any]) -> bytes:
    return base64.b64decode(vectors["backup"], validate=True)


def by_version(test: Any) -> Any:
    return pytest.mark.parametrize("vectors", BACKUPS, ids=["v2", "v1"])(test)


@by_version
def test_backup_opens_by_the_spec_with_the_passphrase_and_the_recovery_key(
    vectors: dict[str, Any],
) -> None:
    data = backup_bytes(vectors)
    prefix, header = read_backup_header(data)
    check = 32 if header["v"] == 2 else 0
    assert len(prefix) == 20 + vectors["header_length"] + check
    assert header.keys() == {"kind", "v", "created", "slots"}
    key = backup_key_from_passphrase(header, vectors["passphrase"].encode())
    assert key.hex() == vectors["backup_key"]
    box_sk = bytes.fromhex(vectors["recovery_box_secret_key"])
    box_pk = bytes(sodium.crypto_scalarmult_base(box_sk))
    assert box_pk.hex() == vectors["recovery_box_public_key"]
    assert backup_key_from_recovery(header, box_pk, box_sk) == key
    entries, chunks = read_backup(data, key)
    assert chunks == vectors["chunks"]
    assert entries[0][0] == "vault.db"
    assert [
        {"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for n, b in entries
    ] == vectors["entries"]
    files = dict(entries)
    # The key file in the backup is a caseworker key file, and opens with the passphrase.
    opened = read_key_file(files["caseworkers/amara.key"].decode(), vectors["passphrase"].encode())
    assert opened["name"] == "amara"


def open_backup(data: bytes, passphrase: bytes) -> None:
    """docs/format.md, "The backup file", in full: header, slot, then every chunk."""
    _, header = read_backup_header(data)
    read_backup(data, backup_key_from_passphrase(header, passphrase))


def refused(vectors: dict[str, Any]) -> list[Any]:
    return [
        pytest.param(vectors, v, id=f"v{vectors['format'][-1]}-{v['name']}")
        for v in vectors["refused"]
    ]


@pytest.mark.parametrize(("vectors", "vector"), refused(BACKUP) + refused(BACKUP_V1))
def test_backup_edits_are_refused_by_the_spec_and_by_the_vault(
    tmp_path: Path, vectors: dict[str, Any], vector: dict[str, Any]
) -> None:
    from vault.backup import verify_backup
    from vault.errors import VaultError

    generate = load_generator("generate_backup.py")
    data = backup_bytes(vectors)
    damaged = generate.apply_edit(data, vector["edit"])
    assert damaged != data
    with pytest.raises(Refused) as raised:
        open_backup(damaged, vectors["passphrase"].encode())
    assert raised.value.step == vector["step"]
    path = tmp_path / f"{vector['name']}.backup"
    path.write_bytes(damaged)
    with pytest.raises(VaultError) as error:
        verify_backup(path, passphrase=Passphrase(vectors["passphrase"].encode()))
    assert type(error.value).__name__ == vector["reference_error"]
    assert error.value.exit_code == vector["exit_code"]
    assert str(error.value) == vector["message"].replace("{file}", str(path))
    assert error.value.hint == vector["hint"]


HEADER_STEPS = ("header-check", "kdf-limits")


@pytest.mark.parametrize(
    ("vectors", "vector"),
    [p for p in refused(BACKUP) + refused(BACKUP_V1) if p.values[1]["step"] in HEADER_STEPS],
)
def test_vault_restore_refuses_a_damaged_header_at_once_as_recorded(
    tmp_path: Path, vectors: dict[str, Any], vector: dict[str, Any]
) -> None:
    """The real command, before any KDF: a raised limit would run for minutes, and the timeout
    would stop it."""
    file = f"{vector['name']}.backup"
    (tmp_path / file).write_bytes(
        load_generator("generate_backup.py").apply_edit(backup_bytes(vectors), vector["edit"])
    )
    passphrase = tmp_path / "passphrase"
    passphrase.write_bytes(vectors["passphrase"].encode() + b"\n")
    passphrase.chmod(0o600)
    result = subprocess.run(
        [str(VAULT_BIN), "restore", file, "--vault", "restored", "--passphrase-file", "passphrase"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == vector["exit_code"] == 4
    message = vector["message"].replace("{file}", file)
    assert result.stderr == f"vault: {message}\nhint: {vector['hint']}\n"
    assert not (tmp_path / "restored").exists()


@by_version
def test_backup_vector_agrees_with_the_vault(tmp_path: Path, vectors: dict[str, Any]) -> None:
    from vault.backup import verify_backup

    path = tmp_path / "vector.backup"
    path.write_bytes(backup_bytes(vectors))
    summary = verify_backup(path, passphrase=Passphrase(vectors["passphrase"].encode()))
    assert summary.files == vectors["summary"]["files"]
    assert list(summary.caseworkers) == vectors["summary"]["caseworkers"]
    assert summary.recovery == vectors["summary"]["recovery"]


# --- the audit bundle ------------------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, over leaf hashes."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def vkey(text: str) -> tuple[str, bytes, int, bytes]:
    name, key_id, blob = text.split("+", 2)  # Base64 may hold "+"; a name may not
    raw = base64.b64decode(blob, validate=True)
    assert len(raw) == 33
    assert hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == key_id
    return name, bytes.fromhex(key_id), raw[0], raw[1:]


def read_bundle(data: bytes) -> dict[str, Any]:
    """docs/audit.md sections 8 to 12: parse, then check every checkpoint's root and signature."""
    lines = data.decode("utf-8").split("\n")
    assert lines.pop() == ""
    assert lines[0] in ("redress-audit-bundle/1", "redress-audit-bundle/2")
    origin = lines[1].removeprefix("origin ")
    at, keys = 2, []
    while lines[at].split(" ")[0] in ("caseworker", "auditor", "witness"):
        role, *rest = lines[at].split(" ")
        name, key_id, key_type, pk = vkey(rest[-1])
        assert key_type == (0x04 if role == "witness" else 0x01)
        keys.append((role, name, key_id, pk))
        at += 1
    n = int(lines[at].removeprefix("leaves "))
    leaves = [line.encode("ascii") for line in lines[at + 1 : at + 1 + n]]
    at += 1 + n
    for leaf in leaves:
        assert len(leaf.split(b" ")) == 7
        assert leaf.startswith(b"redress-log/1 ")
    # /2: a read list for each read across cases, in entry order, hashing to its commitment
    reads = 0
    while lines[0].endswith("/2") and lines[at].startswith("reads "):
        _, entry, blob = lines[at].split(" ")
        listed = base64.b64decode(blob, validate=True)
        fields = leaves[int(entry) - 1].split(b" ")
        assert fields[3] in (
            b"cases-searched",
            b"triage-filled",
            b"patterns-read",
            b"stats-counted",
        )
        assert hashlib.sha256(listed).hexdigest().encode() == fields[6]
        assert listed.startswith(b"redress cases read v1\n")
        assert listed.count(b"\n") - 1 == int(fields[5])
        reads, at = reads + 1, at + 1
    m = int(lines[at].removeprefix("checkpoints "))
    notes = [
        base64.b64decode(line.removeprefix("checkpoint ")).decode()
        for line in lines[at + 1 : at + 1 + m]
    ]
    at += 1 + m
    assert all(line.startswith("proof ") for line in lines[at : at + m - 1])
    assert lines[at + m - 1 :] == ["end"]
    hashes = [leaf_hash(leaf) for leaf in leaves]
    sizes, cosigned = [], 0
    for note in notes:
        text, signatures = note.split("\n\n", 1)
        text += "\n"
        cp_origin, size, root = text.split("\n")[:3]
        assert cp_origin == origin
        assert base64.b64decode(root) == mth(hashes[: int(size)])
        signed_by = None
        for line in signatures.split("\n")[:-1]:
            dash, name, blob = line.split(" ")
            assert dash == "\u2014"
            raw = base64.b64decode(blob)
            for role, key_name, key_id, pk in keys:
                if (key_name, key_id) != (name, raw[:4]):
                    continue
                if role == "caseworker":
                    VerifyKey(pk).verify(text.encode(), raw[4:])
                    signed_by = pk
                elif role == "witness":
                    t = int.from_bytes(raw[4:12], "big")
                    message = f"cosignature/v1\ntime {t}\n".encode() + text.encode()
                    VerifyKey(pk).verify(message, raw[12:])
                    cosigned += 1
        assert signed_by is not None
        sizes.append(int(size))
    assert sizes == sorted(set(sizes))
    assert sizes[-1] == n
    read_actions = (b"cases-searched", b"triage-filled", b"patterns-read", b"stats-counted")
    if lines[0].endswith("/2"):
        assert reads == sum(leaf.split(b" ")[3] in read_actions for leaf in leaves)
    return {"origin": origin, "leaves": n, "checkpoints": m, "cosigned": cosigned, "reads": reads}


@by_name(AUDIT_SOUND)
def test_sound_bundle_checks_by_the_spec(vector: dict[str, Any]) -> None:
    got = read_bundle(vector["bundle"].encode())
    assert got["origin"] == AUDIT["origin"]
    assert got["reads"] == (2 if vector["name"] == "/2-with-read-lists" else 0)
    if vector["trusted"] is not None:
        text = vector["trusted"].split("\n\n", 1)[0] + "\n"
        size, root = int(text.split("\n")[1]), base64.b64decode(text.split("\n")[2])
        lines = vector["bundle"].split("\n")
        first = next(i for i, line in enumerate(lines) if line.startswith("leaves ")) + 1
        hashes = [leaf_hash(line.encode()) for line in lines[first : first + size]]
        assert mth(hashes) == root


def run_verify(tmp_path: Path, vector: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "bundle.txt"
    path.write_bytes(vector["bundle"].encode("utf-8", "surrogateescape"))
    args = [str(VAULT_BIN), "audit", "verify", str(path)]
    if vector["trusted"] is not None:
        (tmp_path / "trusted").write_text(vector["trusted"], "utf-8")
        args += ["--trusted", str(tmp_path / "trusted")]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "COLUMNS": "120"}
    return subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120, check=False
    )


@by_name(AUDIT_SOUND)
def test_sound_bundle_passes_vault_audit_verify(vector: dict[str, Any], tmp_path: Path) -> None:
    done = run_verify(tmp_path, vector)
    assert (done.returncode, done.stderr) == (vector["exit_code"], "")


@by_name(AUDIT_TAMPERED)
def test_tampered_bundle_gives_the_recorded_exit_code_and_message(
    vector: dict[str, Any], tmp_path: Path
) -> None:
    assert vector["exit_code"] == 4
    assert vector["stderr"] == f"vault: {vector['message']}\n"
    done = run_verify(tmp_path, vector)
    assert done.returncode == vector["exit_code"]
    assert done.stderr == vector["stderr"]
    assert done.stdout == ""


def test_audit_generator_reproduces_the_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundles, byte for byte. The generator also runs `vault audit verify` on each; here
    it is given the recorded answers instead, since the two tests above replay every one of
    them through the real command (sixty runs fewer)."""
    generate = load_generator("generate_audit_bundle.py")
    recorded = {
        (v["bundle"].encode("utf-8", "surrogateescape"), v["trusted"]): (
            v["exit_code"],
            "",
            v.get("stderr", ""),
        )
        for v in AUDIT_SOUND + AUDIT_TAMPERED
    }

    def replay(bundle: bytes, trusted: str | None) -> tuple[int, str, str]:
        return recorded.get((bundle, trusted), (-1, "", "not a recorded vector\n"))

    monkeypatch.setattr(generate, "run_verify", replay)
    for version in (1, 2):
        assert (
            generate.render(version) == (VECTOR_DIR / f"audit-bundle-v{version}.json").read_bytes()
        )
