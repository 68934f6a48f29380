"""Write the backup file test vectors: ``tests/vectors/backup-v1.json``.

Run it from the repository root::

    .venv/bin/python tests/vectors/generate_backup.py

A vault is made in a temporary folder with a fixed passphrase, a report is imported,
recovery shares are made, and ``vault.backup.make_backup`` writes a real backup. Even this
small vault's database is about 600 KB, too large for a vector file, so the vector is that
backup with its ``vault.db`` entry cut to its first 66,000 bytes (still two chunks: one
MESSAGE, then the FINAL one), written again by ``vault.backup``'s own stream writer under the
same header and backup key. Everything else in it (the header and both key slots, the key,
access and recovery files) is the real vault's. ``verify_backup`` accepts it; restoring it
would give a vault whose database does not open.

The format is random-keyed (a random backup key, salt, stream header, database key), so
running this again gives a different file; there is no ``--check``. Instead the vector carries
what is needed to open it without the vault: the passphrase, the backup key, the recovery
key's X25519 secret key, and each entry's name, size and SHA-256.
``tests/test_format_vectors.py`` opens it following ``docs/format.md`` alone, and with
``vault.backup.verify_backup``. The refused variants are edits of the file (so the vector
stays small) that the generator checks ``verify_backup`` refuses.
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

from vault import _crypto
from vault._crypto import SecretBytes
from vault.backup import (
    MAGIC,
    _key_from_passphrase,
    _read_header,
    _write_stream,
    make_backup,
    verify_backup,
)
from vault.envelope import seal_report
from vault.errors import IntegrityError, VaultError
from vault.passphrase import Passphrase
from vault.recovery import combine, read_shares, split
from vault.report import parse_report
from vault.store import Vault

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "backup-v1.json"
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
    associated: bytes | None = _crypto.tagged_hash("redress backup header v1", data[:prefix_length])
    while True:
        chunk = data[at : at + (1 << 16) + 17]
        at += len(chunk)
        piece, final = opener.pull(chunk, associated)
        associated, plain = None, plain + piece
        if final:
            break
    assert at == len(data)
    return plain


def edits(data: bytes, header_end: int) -> list[dict[str, Any]]:
    """Ways to damage the file, each as an edit the reader applies, and why it is refused."""
    return [
        {
            "name": "last-chunk-missing",
            "reason": "The file ends before the FINAL chunk (the last 17 bytes removed).",
            "edit": {"truncate_to": len(data) - 17},
        },
        {
            "name": "bytes-after-final",
            "reason": "One zero byte after the FINAL chunk.",
            "edit": {"append_hex": "00"},
        },
        {
            "name": "header-changed",
            "reason": "The 'created' date in the clear header changed (same length): the first "
            "chunk's associated data no longer matches.",
            "edit": {"replace_text": ['"created": "', '"created": "1']},
        },
        {
            "name": "ciphertext-flipped",
            "reason": "A bit flipped in the first chunk's ciphertext.",
            "edit": {"flip_bit_at": header_end + 24 + 10},
        },
    ]


def apply_edit(data: bytes, edit: dict[str, Any]) -> bytes:
    if "truncate_to" in edit:
        return data[: edit["truncate_to"]]
    if "append_hex" in edit:
        return data + bytes.fromhex(edit["append_hex"])
    if "flip_bit_at" in edit:
        at = edit["flip_bit_at"]
        return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]
    old, new = edit["replace_text"]
    # Replace, then drop as many characters from the date's end to keep the length.
    i = data.index(old.encode()) + len(old)
    date = data[i : i + 10]
    return data[:i] + (new[len(old) :].encode() + date)[:10] + data[i + 10 :]


def build() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        directory = Path(work) / "vault-data"
        with Vault.create(directory, "amara", Passphrase(PASSPHRASE.encode())) as vault:
            key = vault.team_public_key()
            vault.import_envelopes(
                [("report", seal_report(parse_report(REPORT), key.epoch, key.public_key))]
            )
            split(vault, 3, 2, Path(work) / "shares")
            real = Path(work) / "real.backup"
            make_backup(vault, real, Passphrase(PASSPHRASE.encode()))
        shares = sorted((Path(work) / "shares").iterdir())
        recovery = combine(read_shares(shares[:2]))
        with open(real, "rb") as f:
            header = _read_header(f, real)
        backup_key = _key_from_passphrase(header, Passphrase(PASSPHRASE.encode()), real)
        real_entries = split_entries(decrypt(real.read_bytes(), len(header.prefix), backup_key))
        assert real_entries[0][0] == "vault.db"

        # The same backup with the database cut short, by the library's own writer.
        stand_in = Path(work) / "vault.db"
        stand_in.write_bytes(real_entries[0][1][:DB_STAND_IN])
        out = Path(work) / "vault.backup"
        with open(out, "wb") as f:
            header_json = header.prefix[len(MAGIC) + 4 :]
            _write_stream(f, header_json, backup_key, stand_in, dict(real_entries[1:]))
        data = out.read_bytes()
        assert data[: len(header.prefix)] == header.prefix
        summary = verify_backup(out, passphrase=Passphrase(PASSPHRASE.encode()))
        assert verify_backup(out, recovery=recovery) == summary
        refused = edits(data, len(header.prefix))
        for vector in refused:
            damaged = Path(work) / vector["name"]
            damaged.write_bytes(apply_edit(data, vector["edit"]))
            try:
                verify_backup(damaged, passphrase=Passphrase(PASSPHRASE.encode()))
            except IntegrityError:
                vector["reference_error"] = IntegrityError.__name__
            except VaultError as e:
                raise AssertionError(f"{vector['name']}: {type(e).__name__}") from None
            else:
                raise AssertionError(f"verify_backup accepted {vector['name']}")

    entries = split_entries(decrypt(data, len(header.prefix), backup_key))
    return {
        "description": (
            "A Redress backup of a small vault (one caseworker, amara; one imported report; "
            "2-of-3 recovery shares), with the keys that open it. The keys are of a throwaway "
            "vault; never use them for anything else. Byte strings are lowercase hex; the backup "
            "itself is Base64. Made at random: regenerating gives a different file. To keep the "
            f"vector small, the vault.db entry is only the first {DB_STAND_IN} bytes of the real "
            "database (see the generator); everything else is as the vault wrote it."
        ),
        "format": "redress backup v1",
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
    VECTORS.write_bytes((json.dumps(build(), indent=2, ensure_ascii=False) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
