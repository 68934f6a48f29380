"""Write the backup file test vectors: ``tests/vectors/backup-v2.json`` and ``backup-v1.json``.

Run it from the repository root::

    .venv/bin/python tests/vectors/generate_backup.py

A vault is made in a temporary folder with a fixed passphrase, a report is imported,
recovery shares are made, and ``vault.backup.make_backup`` writes a real backup. Even this
small vault's database is about 600 KB, too large for a vector file, so the vector is that
backup with its ``vault.db`` entry cut to its first 66,000 bytes (still two chunks: one
MESSAGE, then the FINAL one), written again by ``vault.backup``'s own stream writer under the
same header and backup key. Everything else in it (the header and both key slots, the key,
access and recovery files) is the real vault's. ``verify_backup`` accepts it; restoring it
would give a vault whose database does not open. The version 1 vector is the same backup
in the older layout (no header checksum, ``"v": 1``), which Redress still reads: it is built
here by hand, as no writer makes version 1 any more.

The format is random-keyed (a random backup key, salt, stream header, database key), so
running this again gives a different file; there is no ``--check``. Instead the vector carries
what is needed to open it without the vault: the passphrase, the backup key, the recovery
key's X25519 secret key, and each entry's name, size and SHA-256.
``tests/test_format_vectors.py`` opens it following ``docs/format.md`` alone, and with
``vault.backup.verify_backup``. The refused variants are edits of the file (so the vector
stays small) that the generator checks ``verify_backup`` refuses, each with the step of
docs/format.md that refuses it and the exit code, message and hint of ``vault restore``
(``{file}`` standing for the file named on the command line).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

from vault import _crypto, incoming
from vault._crypto import SecretBytes
from vault.backup import (
    HEADER_CHECK_PURPOSE,
    HEADER_HASH_PURPOSE,
    MAGIC_NAME,
    _key_from_passphrase,
    _read_header,
    _write_stream,
    make_backup,
    verify_backup,
)
from vault.envelope import seal_report
from vault.errors import VaultError
from vault.passphrase import Passphrase
from vault.recovery import combine, read_shares, split
from vault.report import parse_report
from vault.store import Vault

HERE = Path(__file__).resolve().parent
VECTORS = {2: HERE / "backup-v2.json", 1: HERE / "backup-v1.json"}
DB_STAND_IN = 66_000  # bytes of the real vault.db kept
PASSPHRASE = "correct horse battery staple"

REPORT = {
    "sector": "housing",
    "role": "housing officer",
    "harms": ["verbal-abuse"],
    "what_happened": "Test vector report: the officer shouted at me in the office.",
}


def split_entries(plain: bytes) -> list[tuple[str, bytes]]:
    """The entries of a decrypted backup stream, read by the documented layout."""
    out, at = [], 0
    while True:
        (length,) = struct.unpack(">H", plain[at : at + 2])
        at += 2
        if length == 0:
            break
        name = plain[at : at + length].decode()
        at += length
        (size,) = struct.unpack(">Q", plain[at : at + 8])
        at += 8
        out.append((name, plain[at : at + size]))
        at += size
    assert at == len(plain)
    return out


def decrypt(data: bytes, prefix_length: int, key: SecretBytes) -> bytes:
    """The plaintext, through the library's own stream opener."""
    opener = _crypto.StreamOpener(key, data[prefix_length : prefix_length + 24])
    at, plain = prefix_length + 24, b""
    associated: bytes | None = _crypto.tagged_hash(HEADER_HASH_PURPOSE, data[:prefix_length])
    while True:
        chunk = data[at : at + (1 << 16) + 17]
        at += len(chunk)
        piece, final = opener.pull(chunk, associated)
        associated, plain = None, plain + piece
        if final:
            break
    assert at == len(data)
    return plain


def prefix_for(header_json: bytes, version: int) -> bytes:
    """Magic, length, header and (version 2) the header checksum, by docs/format.md."""
    head = MAGIC_NAME + bytes([version]) + struct.pack(">I", len(header_json)) + header_json
    if version == 1:
        return head
    return head + hashlib.sha256(HEADER_CHECK_PURPOSE.encode() + b"\x00" + head).digest()


def header_of(data: bytes) -> tuple[int, dict[str, Any], int]:
    """A backup's version, parsed header and where its prefix ends."""
    version = data[15]
    (length,) = struct.unpack(">I", data[16:20])
    end = 20 + length + (32 if version >= 2 else 0)
    return version, json.loads(data[20 : 20 + length]), end


def edits(data: bytes, version: int) -> list[dict[str, Any]]:
    """Ways to damage the file, each as an edit the reader applies, the step of docs/format.md
    that refuses it, and why."""
    _, header, end = header_of(data)
    sealed = header["slots"][0]["sealed"]
    salt = header["slots"][0]["kdf"]["salt"]
    stream = [
        {
            "name": "last-chunk-missing",
            "reason": "The file ends before the FINAL chunk (the last 17 bytes removed).",
            "edit": {"truncate_to": len(data) - 17},
            "step": "chunk",  # the shortened last chunk fails to authenticate
        },
        {
            "name": "bytes-after-final",
            "reason": "One zero byte after the FINAL chunk.",
            "edit": {"append_hex": "00"},
            "step": "chunk",  # the byte joins the short last chunk, which then fails
        },
        {
            "name": "ciphertext-flipped",
            "reason": "A bit flipped in the first chunk's ciphertext.",
            "edit": {"flip_bit_at": end + 24 + 10},
            "step": "chunk",
        },
    ]
    raised = {"set": ["memlimit", 4 << 30], "fix_check": True}
    limits = [
        {
            "name": "kdf-memlimit-raised",
            "reason": "The passphrase slot's memlimit raised to 4 GiB (and, in version 2, the "
            "header checksum recomputed, as a deliberate forger would): refused before the KDF.",
            "edit": {"header": raised},
            "step": "kdf-limits",
        },
        {
            "name": "kdf-opslimit-raised",
            "reason": "The passphrase slot's opslimit raised to 5, above SENSITIVE (checksum "
            "recomputed).",
            "edit": {"header": {"set": ["opslimit", 5], "fix_check": True}},
            "step": "kdf-limits",
        },
        {
            "name": "kdf-memlimit-lowered",
            "reason": "The passphrase slot's memlimit lowered to 8 MiB (checksum recomputed).",
            "edit": {"header": {"set": ["memlimit", 8 << 20], "fix_check": True}},
            "step": "kdf-limits",
        },
        {
            "name": "kdf-opslimit-lowered",
            "reason": "The passphrase slot's opslimit lowered to 1 (checksum recomputed).",
            "edit": {"header": {"set": ["opslimit", 1], "fix_check": True}},
            "step": "kdf-limits",
        },
    ]
    flips = [
        {
            "name": "passphrase-slot-flipped",
            "reason": "One bit flipped in the passphrase slot's sealed key (still Base64).",
            "edit": {"flip_bit_at": data.index(sealed.encode()) + 10},
        },
        {
            "name": "salt-flipped",
            "reason": "One bit flipped in the passphrase slot's salt (still Base64).",
            "edit": {"flip_bit_at": data.index(salt.encode()) + 3},
        },
        {
            "name": "header-changed",
            "reason": "The 'created' date in the clear header changed (same length).",
            "edit": {"replace_text": ['"created": "', '"created": "1']},
        },
    ]
    if version == 1:
        # No checksum: a changed slot reads as a wrong passphrase (the limit of version 1);
        # a changed date is found by the first chunk, after the KDF.
        flips[0]["step"] = flips[1]["step"] = "decrypt"
        flips[2]["step"] = "chunk"
        return stream + limits + flips
    raised_stale = {"set": ["memlimit", 4 << 30], "fix_check": False}
    checks = [
        {
            "name": "kdf-raised-checksum-stale",
            "reason": "The memlimit raised to 4 GiB, the header checksum left as it was.",
            "edit": {"header": raised_stale},
        },
        {
            "name": "checksum-flipped",
            "reason": "One bit flipped in the header checksum.",
            "edit": {"flip_bit_at": end - 5},
        },
        {
            "name": "length-changed",
            "reason": "The header length changed by one (its lowest bit flipped).",
            "edit": {"flip_bit_at": 19},
        },
    ]
    for vector in flips + checks:
        vector["step"] = "header-check"
    return stream + limits + flips + checks


def apply_edit(data: bytes, edit: dict[str, Any]) -> bytes:
    if "truncate_to" in edit:
        return data[: edit["truncate_to"]]
    if "append_hex" in edit:
        return data + bytes.fromhex(edit["append_hex"])
    if "flip_bit_at" in edit:
        at = edit["flip_bit_at"]
        return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]
    if "header" in edit:
        # Set a member of the passphrase slot's kdf; the header is written again as the writer
        # does (json.dumps, sorted keys), its length fixed, and its checksum recomputed or not.
        version, header, end = header_of(data)
        member, value = edit["header"]["set"]
        header["slots"][0]["kdf"][member] = value
        new = prefix_for(json.dumps(header, sort_keys=True).encode(), version)
        if version >= 2 and not edit["header"]["fix_check"]:
            new = new[:-32] + data[end - 32 : end]
        return new + data[end:]
    old, new_text = edit["replace_text"]
    # Replace, then drop as many characters from the date's end to keep the length.
    i = data.index(old.encode()) + len(old)
    date = data[i : i + 10]
    return data[:i] + (new_text[len(old) :].encode() + date)[:10] + data[i + 10 :]


def outcome(path: Path, passphrase: Passphrase) -> dict[str, Any]:
    """What ``vault restore FILE`` says of a refused file: exit code, message and hint."""
    try:
        verify_backup(path, passphrase=passphrase)
    except VaultError as e:
        return {
            "reference_error": type(e).__name__,
            "exit_code": e.exit_code,
            "message": str(e).replace(str(path), "{file}"),
            "hint": e.hint,
        }
    raise AssertionError(f"verify_backup accepted {path.name}")


def build() -> dict[int, dict[str, Any]]:
    passphrase = Passphrase(PASSPHRASE.encode())
    with tempfile.TemporaryDirectory() as work:
        directory = Path(work) / "vault-data"
        with Vault.create(directory, "amara", passphrase) as vault:
            key = vault.team_public_key()
            incoming.import_envelopes(
                vault, [("report", seal_report(parse_report(REPORT), key.epoch, key.public_key))]
            )
            split(vault, 3, 2, Path(work) / "shares")
            real = Path(work) / "real.backup"
            make_backup(vault, real, passphrase)
        shares = sorted((Path(work) / "shares").iterdir())
        recovery = combine(read_shares(shares[:2]))
        with open(real, "rb") as f:
            header = _read_header(f, real)
        backup_key = _key_from_passphrase(header, passphrase, real)
        real_entries = split_entries(decrypt(real.read_bytes(), len(header.prefix), backup_key))
        assert real_entries[0][0] == "vault.db"
        _, doc, _ = header_of(real.read_bytes())
        stand_in = Path(work) / "vault.db"
        stand_in.write_bytes(real_entries[0][1][:DB_STAND_IN])

        out: dict[int, dict[str, Any]] = {}
        for version in (2, 1):
            # The same backup with the database cut short, by the library's own writer; for
            # version 1 under the older prefix (the same slots: the backup key is unchanged).
            doc["v"] = version
            header_json = json.dumps(doc, sort_keys=True).encode()
            prefix = prefix_for(header_json, version)
            path = Path(work) / f"vault-v{version}.backup"
            with open(path, "wb") as f:
                _write_stream(f, prefix, backup_key, stand_in, dict(real_entries[1:]))
            data = path.read_bytes()
            summary = verify_backup(path, passphrase=passphrase)
            assert verify_backup(path, recovery=recovery) == summary
            refused = edits(data, version)
            for vector in refused:
                damaged = Path(work) / f"{vector['name']}.backup"
                damaged.write_bytes(apply_edit(data, vector["edit"]))
                vector.update(outcome(damaged, passphrase))
                damaged.unlink()
            entries = split_entries(decrypt(data, len(prefix), backup_key))
            out[version] = vector_file(
                version, data, header_json, backup_key, recovery, entries, summary, refused
            )
    return out


def vector_file(
    version: int,
    data: bytes,
    header_json: bytes,
    backup_key: SecretBytes,
    recovery: Any,
    entries: list[tuple[str, bytes]],
    summary: Any,
    refused: list[dict[str, Any]],
) -> dict[str, Any]:
    older = (
        " Version 1 is the older layout, without the header checksum, still read; no writer "
        "makes it any more, so this one is the version 2 backup's slots under a version 1 "
        "prefix."
        if version == 1
        else ""
    )
    return {
        "description": (
            "A Redress backup of a small vault (one caseworker, amara; one imported report; "
            "2-of-3 recovery shares), with the keys that open it. The keys are of a throwaway "
            "vault; never use them for anything else. Byte strings are lowercase hex; the backup "
            "itself is Base64. Made at random: regenerating gives a different file. To keep the "
            f"vector small, the vault.db entry is only the first {DB_STAND_IN} bytes of the real "
            "database (see the generator); everything else is as the vault wrote it." + older
        ),
        "format": f"redress backup v{version}",
        "specification": "docs/format.md",
        "generator": "tests/vectors/generate_backup.py",
        "passphrase": PASSPHRASE,
        "backup_key": backup_key.reveal().hex(),
        "recovery_box_secret_key": recovery.box_sk.reveal().hex(),
        "recovery_box_public_key": recovery.public.box_pk.hex(),
        "header_length": len(header_json),
        "chunks": 2,
        "entries": [
            {"name": name, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
            for name, body in entries
        ],
        "summary": {
            "files": summary.files,
            "caseworkers": list(summary.caseworkers),
            "recovery": summary.recovery,
        },
        "backup": base64.b64encode(data).decode(),
        "refused": refused,
    }


def main(argv: list[str]) -> int:
    if argv[1:]:
        print(f"usage: {Path(__file__).name}", file=sys.stderr)
        return 2
    for version, vectors in build().items():
        text = json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"
        VECTORS[version].write_bytes(text.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
