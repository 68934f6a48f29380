"""Write the blob id test vectors: ``tests/vectors/blob-id-v1.json``.

Run it from the repository root::

    .venv/bin/python tests/vectors/generate_blob_ids.py           # rewrite the vectors file
    .venv/bin/python tests/vectors/generate_blob_ids.py --check   # exit 1 if out of date

The blob id is a hash list over a sealed attachment (``docs/format.md``, "Attachments: the
blob id"). Each vector's bytes are given by a rule, not stored: byte ``i`` is ``i mod 251``,
for the exact length a sealed file of ``file_size`` bytes has. The id does not depend on the
bytes being a valid seal, so none is needed; the browser crypto test computes the same bytes
and checks the page's id against these. Deterministic: the same file each time. Before
writing, the generator checks ``vault.attachments`` gives the same ids.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from vault.attachments import BlobHasher, blob_id, sealed_length, whole_blob_id

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "blob-id-v1.json"

PURPOSE = "redress blob hash list v1"
HEADER = 24
SEALED_CHUNK = 65_536 + 17
FILE_SIZES = (5, 65_536, 140_000)  # one short chunk; one whole chunk; three, the last short


def pattern(length: int) -> bytes:
    return bytes(i % 251 for i in range(length))


def vector(file_size: int) -> dict[str, Any]:
    length = sealed_length(file_size)
    blob = pattern(length)
    chunks = [blob[at : at + SEALED_CHUNK] for at in range(HEADER, length, SEALED_CHUNK)]
    digests = [hashlib.sha256(chunk).digest() for chunk in chunks]
    listed = blob[:HEADER] + b"".join(digests)
    the_id = hashlib.sha256(PURPOSE.encode("ascii") + b"\x00" + listed).hexdigest()
    whole = hashlib.sha256(blob).hexdigest()
    hasher = BlobHasher(whole=True)
    for at in range(0, length, 4_999):
        hasher.update(blob[at : at + 4_999])
    assert blob_id(blob) == the_id == hasher.hexdigest()
    assert whole_blob_id(blob) == whole
    assert hasher.names(the_id)
    assert hasher.names(whole)
    return {
        "file_size": file_size,
        "length": length,
        "chunk_lengths": [len(chunk) for chunk in chunks],
        "header": blob[:HEADER].hex(),
        "chunk_sha256": [d.hex() for d in digests],
        "hash_list": listed.hex(),
        "blob_id": the_id,
        "whole_blob_id": whole,
    }


def build() -> dict[str, Any]:
    return {
        "purpose": PURPOSE,
        "bytes": "byte i of the blob is i mod 251, for i from 0 to length - 1",
        "vectors": [vector(size) for size in FILE_SIZES],
    }


def render() -> bytes:
    return (json.dumps(build(), indent=2) + "\n").encode()


def main(argv: list[str]) -> int:
    out = render()
    if argv[1:] == ["--check"]:
        if VECTORS.read_bytes() != out:
            print(f"{VECTORS.name} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print(f"usage: {Path(__file__).name} [--check]", file=sys.stderr)
        return 2
    VECTORS.write_bytes(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
