"""Write the complaint pack test vectors: ``tests/vectors/complaint-pack-v1.json``.

Run it from the repository root (after ``make setup``, which installs ``.venv/bin/vault``)::

    .venv/bin/python tests/vectors/generate_complaint_pack.py           # rewrite the vectors
    .venv/bin/python tests/vectors/generate_complaint_pack.py --check   # exit 1 if out of date

One sound pack is signed with the vault's own library (``vault.pack_manifest.sign_folder``)
by a caseworker with a fixed Ed25519 seed, so it is the same byte for byte each run (Ed25519
signatures are deterministic). The others change it as an attacker or an accident might.
Each vector lists every file of its folder (``manifest.json`` and ``manifest.sig``
included, in base64), so another implementation can rebuild the folder and check it against
the team key file given; the expected exit code and the words the refusal names come from
running the real ``vault export verify``. ``docs/complaint-packs.md`` section 4 is the
specification.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from vault._crypto import SecretBytes
from vault.keys import Identity, TeamPublicKey
from vault.pack_manifest import sign_folder

HERE = Path(__file__).resolve().parent
VECTOR = HERE / "complaint-pack-v1.json"
VAULT_BIN = Path(sys.executable).with_name("vault")

SEED = bytes(range(32))  # the test caseworker's Ed25519 seed: never a real key
BOX = bytes(range(32, 64))
CASE = "7KQ2-M9XD"
DAY = "2026-12-05"
FILES = {
    "README.txt": b"Complaint pack for case 7KQ2-M9XD, made by amara on 2026-12-05.\n",
    "attachments/1.jpg": bytes.fromhex("ffd8ffe000104a464946") + b"pixels" * 20,
    "complaint.pdf": b"%PDF-1.4\n% not a real PDF: the manifest only hashes bytes\n",
}


def caseworker() -> Identity:
    return Identity.from_secrets("amara", SecretBytes(SEED), SecretBytes(BOX))


def team_key_file() -> bytes:
    someone = Identity.from_secrets("ben", SecretBytes(bytes(32)), SecretBytes(bytes(32)))
    people = (("amara", caseworker().public.sign_pk), ("ben", someone.public.sign_pk))
    return TeamPublicKey(1, bytes(range(100, 132)), people).to_file_bytes()


def sound_pack() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pack"
        folder.mkdir()
        for rel, data in FILES.items():
            (folder / rel).parent.mkdir(exist_ok=True)
            (folder / rel).write_bytes(data)
        sign_folder(folder, CASE, DAY, caseworker())
        return {
            str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def changed_packs(sound: dict[str, bytes]) -> list[tuple[str, str, dict[str, bytes], str]]:
    """(name, what was done, files, a phrase the refusal must name)."""
    manifest = sound["manifest.json"]
    stranger = Identity.from_secrets("amara", SecretBytes(bytes([7]) * 32), SecretBytes(BOX))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pack"
        folder.mkdir()
        for rel, data in FILES.items():
            (folder / rel).parent.mkdir(exist_ok=True)
            (folder / rel).write_bytes(data)
        sign_folder(folder, CASE, DAY, stranger)
        re_signed = {
            "manifest.json": (folder / "manifest.json").read_bytes(),
            "manifest.sig": (folder / "manifest.sig").read_bytes(),
        }
    renamed = {k: v for k, v in sound.items() if k != "README.txt"} | {
        "README2.txt": sound["README.txt"]
    }
    return [
        (
            "flipped-byte-in-attachment",
            "one bit of attachments/1.jpg flipped",
            sound | {"attachments/1.jpg": _flip(sound["attachments/1.jpg"], 20)},
            "attachments/1.jpg has been changed",
        ),
        (
            "added-file",
            "a file the manifest does not list",
            sound | {"extra.txt": b"slipped in\n"},
            "extra.txt is not in its manifest",
        ),
        (
            "removed-file",
            "complaint.pdf deleted",
            {k: v for k, v in sound.items() if k != "complaint.pdf"},
            "complaint.pdf is missing",
        ),
        ("renamed-file", "README.txt renamed README2.txt", renamed, "README2.txt"),
        (
            "manifest-edited",
            "the day in manifest.json changed, the signature kept",
            sound | {"manifest.json": manifest.replace(DAY.encode(), b"2026-12-06")},
            "does not match its signature",
        ),
        (
            "re-signed-by-a-stranger",
            "manifest and signature made again by a key the team key file does not list",
            sound | re_signed,
            "not signed by any caseworker",
        ),
        (
            "signature-removed",
            "manifest.sig deleted",
            {k: v for k, v in sound.items() if k != "manifest.sig"},
            "manifest.sig",
        ),
    ]


def run_verify(files: dict[str, bytes], key: bytes) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pack"
        folder.mkdir()
        for rel, data in files.items():
            (folder / rel).parent.mkdir(exist_ok=True)
            (folder / rel).write_bytes(data)
        (Path(tmp) / "team-key.json").write_bytes(key)
        result = subprocess.run(
            [str(VAULT_BIN), "export", "verify", str(folder), "--team-key", "team-key.json"],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return result.returncode, result.stderr


def _b64(files: dict[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode() for k, v in sorted(files.items())}


def build() -> dict[str, Any]:
    key = team_key_file()
    sound = sound_pack()
    code, _ = run_verify(sound, key)
    assert code == 0, "the sound pack must verify"
    vectors: list[dict[str, Any]] = [
        {
            "name": "sound",
            "what": "as signed",
            "files": _b64(sound),
            "manifest_text": sound["manifest.json"].decode(),
            "signature_text": sound["manifest.sig"].decode(),
            "expect_exit": 0,
            "expect_stderr": "",
        }
    ]
    for name, what, files, phrase in changed_packs(sound):
        code, stderr = run_verify(files, key)
        assert code == 4, (name, code, stderr)
        assert phrase in stderr, (name, stderr)
        vectors.append(
            {
                "name": name,
                "what": what,
                "files": _b64(files),
                "expect_exit": 4,
                "expect_stderr": phrase,
            }
        )
    return {
        "format": "redress-complaint-pack v1 (docs/complaint-packs.md, section 4)",
        "signing_message": "'redress complaint pack manifest v1' || 0x00 || manifest.json",
        "caseworker": {"name": "amara", "ed25519_seed_hex": SEED.hex()},
        "team_key_file": key.decode(),
        "vectors": vectors,
    }


def main(argv: list[str]) -> int:
    text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    if "--check" in argv:
        same = VECTOR.exists() and VECTOR.read_text() == text
        print("up to date" if same else f"{VECTOR} is out of date: run without --check")
        return 0 if same else 1
    VECTOR.write_text(text)
    print(f"wrote {VECTOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
