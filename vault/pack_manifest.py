"""A complaint pack's signed manifest: what it lists, how it is signed, and how anyone checks it.

A complaint pack (:mod:`vault.complaint_pack`) is a folder. Beside its files it holds
``manifest.json``, naming every other file with its size and SHA-256, the case and the day it
was made, and the caseworker who made it; and ``manifest.sig``, that caseworker's Ed25519
signature over ``redress complaint pack manifest v1`` || 0x00 || the manifest's exact bytes.
The format is ``docs/complaint-packs.md``.

:func:`verify_pack` needs no vault and no passphrase, only the team's published key file
(``vault team-key export``), which lists each caseworker's signing key. It refuses, with
:class:`PackChangedError` (exit 4), a pack whose files or manifest were changed, added,
removed or renamed, or whose manifest no caseworker in that file signed. Nothing here
imports the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault import _crypto
from vault.errors import PackChangedError, VaultError
from vault.files import create_private_file, open_regular_file
from vault.keys import Identity, TeamPublicKey, b64, caseworker_key_id, unb64

PACK_KIND = "redress-complaint-pack"
PACK_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SIGNING_PURPOSE = b"redress complaint pack manifest v1\x00"
MAX_MANIFEST = 1 << 20
MAX_FILES = 1000

# A path in a pack: one or two parts (a file, or a file in one folder), each a plain name.
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_PATH = re.compile(rf"{_PART}(/{_PART})?")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CASE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")
_HEX = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


class _Changed(Exception):
    """Why a pack is not as made (the end of a sentence)."""


@dataclass(frozen=True, slots=True)
class PackFile:
    path: str  # relative, with "/" between a folder and its file
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """What ``manifest.json`` says: the case, the day, who made the pack, and its files."""

    case: str
    made: str
    name: str
    key_id: str
    sign_pk: bytes
    files: tuple[PackFile, ...]

    def to_bytes(self) -> bytes:
        """The manifest as written: JSON, keys in a fixed order, files sorted by path."""
        doc = {
            "kind": PACK_KIND,
            "v": PACK_VERSION,
            "case": self.case,
            "made": self.made,
            "made_by": {"name": self.name, "key_id": self.key_id, "sign_pk": b64(self.sign_pk)},
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
        }
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True, slots=True)
class VerifiedPack:
    """A pack found unaltered: its manifest, and the caseworker who signed it as the team key
    file names them."""

    manifest: Manifest
    signer: str

    def to_json(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "intact": True,
            "case": m.case,
            "made": m.made,
            "made_by": self.signer,
            "key_id": m.key_id,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in m.files],
        }


# --- making -----------------------------------------------------------------------------------


def file_digest(path: Path) -> tuple[int, str]:
    """A file's size and hex SHA-256, read in pieces (memory stays flat)."""
    h = hashlib.sha256()
    size = 0
    with open_regular_file(path, "file") as f:
        while piece := f.read(1 << 20):
            h.update(piece)
            size += len(piece)
    return size, h.hexdigest()


def sign_folder(folder: Path, case: str, made: str, identity: Identity) -> tuple[Manifest, bytes]:
    """List every file in ``folder`` in a manifest, sign it, and write both into ``folder``.

    Returns the manifest and its bytes as written (the access log commits to their SHA-256).
    """
    files = []
    try:
        found, _folders = _walk(folder)
    except _Changed as e:
        raise VaultError(f"A complaint pack cannot hold what is in it: {e}.") from None
    for rel in found:
        if not _PATH.fullmatch(rel):
            raise VaultError(f"A complaint pack cannot hold a file named {rel!r}.")
        size, digest = file_digest(folder / rel)
        files.append(PackFile(rel, size, digest))
    manifest = Manifest(
        case, made, identity.name, identity.key_id, identity.public.sign_pk, tuple(files)
    )
    data = manifest.to_bytes()
    signature = identity.sign(SIGNING_PURPOSE + data)
    create_private_file(folder / MANIFEST, data)
    create_private_file(folder / SIGNATURE, (b64(signature) + "\n").encode())
    return manifest, data


def _walk(folder: Path) -> tuple[list[str], list[str]]:
    """Every regular file under ``folder`` (the manifest and signature aside) and every folder
    in it, as sorted relative paths; anything else (a link, a device, a folder in a folder)
    is a :class:`_Changed`."""
    files: list[str] = []
    folders: list[str] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            folders.append(entry.name)
            for inner in sorted(os.scandir(entry.path), key=lambda e: e.name):
                if not stat.S_ISREG(inner.stat(follow_symlinks=False).st_mode):
                    raise _Changed(f"{entry.name}/{inner.name} is not a plain file")
                files.append(f"{entry.name}/{inner.name}")
            continue
        if not stat.S_ISREG(st.st_mode):
            raise _Changed(f"{entry.name} is not a plain file")
        if entry.name not in (MANIFEST, SIGNATURE):
            files.append(entry.name)
    return sorted(files), folders


# --- checking ---------------------------------------------------------------------------------


def parse_manifest(data: bytes) -> Manifest:
    """A manifest's meaning, checked strictly: anything unexpected is a :class:`_Changed`."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or set(doc) != {
            "kind",
            "v",
            "case",
            "made",
            "made_by",
            "files",
        }:
            raise ValueError
        if doc["kind"] != PACK_KIND or type(doc["v"]) is not int or doc["v"] != PACK_VERSION:
            raise ValueError
        case, made, by, listed = doc["case"], doc["made"], doc["made_by"], doc["files"]
        if not isinstance(case, str) or not _CASE.fullmatch(case):
            raise ValueError
        if not isinstance(made, str) or not _DAY.fullmatch(made):
            raise ValueError
        if not isinstance(by, dict) or set(by) != {"name", "key_id", "sign_pk"}:
            raise ValueError
        name, key_id = by["name"], by["key_id"]
        sign_pk = unb64(by["sign_pk"], 32)
        if not isinstance(name, str) or not isinstance(key_id, str):
            raise ValueError
        if not _KEY_ID.fullmatch(key_id) or caseworker_key_id(sign_pk) != key_id:
            raise ValueError
        if not isinstance(listed, list) or len(listed) > MAX_FILES:
            raise ValueError
        files = tuple(_pack_file(f) for f in listed)
        paths = [f.path for f in files]
        if paths != sorted(set(paths)):
            raise ValueError
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, RecursionError):
        # RecursionError: JSON nested deeper than the parser goes ("[[[[..."), a changed file
        raise _Changed("its manifest is damaged or not a complaint pack manifest") from None
    return Manifest(case, made, name, key_id, sign_pk, files)


def _pack_file(item: object) -> PackFile:
    if not isinstance(item, dict) or set(item) != {"path", "size", "sha256"}:
        raise ValueError
    path, size, digest = item["path"], item["size"], item["sha256"]
    if not isinstance(path, str) or not _PATH.fullmatch(path) or path in (MANIFEST, SIGNATURE):
        raise ValueError
    if type(size) is not int or not 0 <= size < 1 << 50:
        raise ValueError
    if not isinstance(digest, str) or not _HEX.fullmatch(digest):
        raise ValueError
    return PackFile(path, size, digest)


def verify_pack(folder: Path, team: TeamPublicKey) -> VerifiedPack:
    """Check that the pack in ``folder`` is exactly as a caseworker in ``team`` signed it.

    Raises :class:`PackChangedError` (exit 4) on any difference: a changed, added, removed or
    renamed file, a changed manifest or signature, or a signature by a key the team key file
    does not list. A folder that is not there is a plain :class:`VaultError`.
    """
    try:
        st = folder.lstat()
    except FileNotFoundError:
        raise VaultError(f"There is no folder at {folder}.") from None
    except OSError:
        raise VaultError(f"Could not read the folder {folder}.") from None
    if not stat.S_ISDIR(st.st_mode):
        raise VaultError(f"{folder} is not a folder: give the complaint pack's folder.")
    try:
        return _verify(folder, team)
    except _Changed as e:
        raise PackChangedError(
            f"The complaint pack in {folder} is not as it was made: {e}.",
            hint="ask the caseworker who made it for a fresh copy; do not rely on this one",
        ) from None
    except OSError:
        raise PackChangedError(
            f"The complaint pack in {folder} could not be read in full, so it is not shown"
            " to be as it was made."
        ) from None


def _verify(folder: Path, team: TeamPublicKey) -> VerifiedPack:
    manifest_bytes = _read_part(folder / MANIFEST, MAX_MANIFEST, "its manifest")
    signature_text = _read_part(folder / SIGNATURE, 200, "its signature")
    manifest = parse_manifest(manifest_bytes)
    try:
        signature = unb64(signature_text.decode("ascii").strip(), _crypto.SIGNATURE_BYTES)
    except (ValueError, UnicodeDecodeError):
        raise _Changed("its signature is damaged") from None
    if signature_text != (b64(signature) + "\n").encode():
        raise _Changed("its signature is damaged")
    signer = next((n for n, pk in team.caseworkers if pk == manifest.sign_pk), None)
    if signer is None:
        raise _Changed(
            "it is not signed by any caseworker in that team key file (a caseworker since"
            " removed from the team needs the team key file of their time)"
        )
    try:
        _crypto.verify(signature, SIGNING_PURPOSE + manifest_bytes, manifest.sign_pk)
    except _crypto.OpenFailed:
        raise _Changed("its manifest does not match its signature") from None
    listed = {f.path: f for f in manifest.files}
    present, folders = _walk(folder)
    for name in folders:
        if not any(path.startswith(f"{name}/") for path in listed):
            raise _Changed(f"the folder {name} is not in its manifest (added or renamed)")
    for path in present:
        if path not in listed:
            raise _Changed(f"{path} is not in its manifest (added or renamed)")
    for path, f in listed.items():
        if path not in present:
            raise _Changed(f"{path} is missing (removed or renamed)")
        if file_digest(folder / path) != (f.size, f.sha256):
            raise _Changed(f"{path} has been changed")
    return VerifiedPack(manifest, signer)


def _read_part(path: Path, limit: int, what: str) -> bytes:
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise _Changed(f"{what} ({path.name}) is missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise _Changed(f"{what} ({path.name}) is not a plain file")
    if st.st_size > limit:
        raise _Changed(f"{what} ({path.name}) is too large")
    with open_regular_file(path, what) as f:
        return f.read(limit + 1)
