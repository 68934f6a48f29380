"""The complaint pack's signed manifest (docs/complaint-packs.md): its format, and that any
change to any file, the file list or the manifest is caught by `verify_pack`."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import nacl.bindings as sodium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.intake_server import VAULT_BIN
from vault.errors import PackChangedError, VaultError
from vault.keys import Identity, TeamPublicKey
from vault.pack_manifest import (
    MANIFEST,
    SIGNATURE,
    SIGNING_PURPOSE,
    parse_manifest,
    sign_folder,
    verify_pack,
)

AMARA = Identity.generate("amara")
BEN = Identity.generate("ben")
TEAM = TeamPublicKey(1, bytes(32), (("amara", AMARA.public.sign_pk), ("ben", BEN.public.sign_pk)))
CASE = "7KQ2-M9XD"
DAY = "2026-12-05"


def _pack(folder: Path, files: dict[str, bytes], who: Identity = AMARA) -> bytes:
    folder.mkdir()
    for rel, data in files.items():
        (folder / rel).parent.mkdir(exist_ok=True)
        (folder / rel).write_bytes(data)
    _, manifest = sign_folder(folder, CASE, DAY, who)
    return manifest


FILES = {
    "complaint.pdf": b"%PDF-1.4 pretend",
    "README.txt": b"about\n",
    "attachments/1.jpg": b"\xff\xd8 pixels",
}


def test_the_manifest_lists_every_file_and_is_signed_over_its_exact_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    data = _pack(folder, FILES)
    assert (folder / MANIFEST).read_bytes() == data
    doc = json.loads(data)
    assert list(doc) == ["kind", "v", "case", "made", "made_by", "files"]
    assert (doc["kind"], doc["v"], doc["case"], doc["made"]) == (
        "redress-complaint-pack",
        1,
        CASE,
        DAY,
    )
    assert doc["made_by"] == {
        "name": "amara",
        "key_id": AMARA.key_id,
        "sign_pk": base64.b64encode(AMARA.public.sign_pk).decode(),
    }
    assert [f["path"] for f in doc["files"]] == sorted(FILES)
    for f in doc["files"]:
        assert f["sha256"] == hashlib.sha256(FILES[f["path"]]).hexdigest()
        assert f["size"] == len(FILES[f["path"]])
    # checked independently of the vault's own crypto module: plain libsodium
    signature = base64.b64decode((folder / SIGNATURE).read_text().strip(), validate=True)
    assert (folder / SIGNATURE).read_text().endswith("\n")
    opened = sodium.crypto_sign_open(signature + SIGNING_PURPOSE + data, AMARA.public.sign_pk)
    assert opened == SIGNING_PURPOSE + data
    assert SIGNING_PURPOSE == b"redress complaint pack manifest v1\x00"

    verified = verify_pack(folder, TEAM)
    assert verified.signer == "amara"
    assert verified.manifest.case == CASE
    assert verified.to_json()["intact"] is True
    assert [f["path"] for f in verified.to_json()["files"]] == sorted(FILES)


def test_a_pack_signed_by_someone_outside_the_team_is_refused(tmp_path: Path) -> None:
    stranger = Identity.generate("amara")  # same name, another key
    _pack(tmp_path / "pack", FILES, stranger)
    with pytest.raises(PackChangedError, match="not signed by any caseworker"):
        verify_pack(tmp_path / "pack", TEAM)


def test_a_manifest_re_signed_by_another_caseworker_of_the_team_still_names_them(
    tmp_path: Path,
) -> None:
    _pack(tmp_path / "pack", FILES, BEN)
    assert verify_pack(tmp_path / "pack", TEAM).signer == "ben"


def test_a_missing_folder_or_a_file_is_a_plain_failure(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="no folder") as missing:
        verify_pack(tmp_path / "nope", TEAM)
    assert missing.value.exit_code == 1
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(VaultError, match="not a folder") as file:
        verify_pack(tmp_path / "f", TEAM)
    assert file.value.exit_code == 1


def test_an_empty_folder_is_no_pack(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackChangedError, match="manifest"):
        verify_pack(tmp_path / "empty", TEAM)


@pytest.mark.parametrize(
    "change",
    [
        "symlink-file",
        "extra-folder",
        "nested-folder",
        "manifest-listing-itself",
        "signature-with-spaces",
    ],
)
def test_shapes_a_pack_never_has_are_refused(tmp_path: Path, change: str) -> None:
    folder = tmp_path / "pack"
    data = _pack(folder, FILES)
    if change == "symlink-file":
        (folder / "complaint.pdf").unlink()
        (tmp_path / "elsewhere.pdf").write_bytes(FILES["complaint.pdf"])
        (folder / "complaint.pdf").symlink_to(tmp_path / "elsewhere.pdf")
    elif change == "extra-folder":
        (folder / "more").mkdir()
    elif change == "nested-folder":
        (folder / "attachments" / "deeper").mkdir()
    elif change == "manifest-listing-itself":
        doc = json.loads(data)
        doc["files"].append({"path": "manifest.sig", "size": 1, "sha256": "0" * 64})
        (folder / MANIFEST).write_text(json.dumps(doc))
    else:
        sig = (folder / SIGNATURE).read_text()
        (folder / SIGNATURE).write_text(" " + sig)
    with pytest.raises(PackChangedError) as refused:
        verify_pack(folder, TEAM)
    assert refused.value.exit_code == 4


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "redress-audit-bundle"),
        ("v", 2),
        ("v", True),
        ("case", "7kq2-m9xd"),
        ("made", "5 December"),
        ("files", [{"path": "../x", "size": 1, "sha256": "0" * 64}]),
        ("files", [{"path": "/etc/passwd", "size": 1, "sha256": "0" * 64}]),
        ("files", [{"path": ".hidden", "size": 1, "sha256": "0" * 64}]),
        ("files", [{"path": "a", "size": -1, "sha256": "0" * 64}]),
        ("files", [{"path": "a", "size": 1, "sha256": "0" * 63}]),
        ("files", [{"path": "b", "size": 1, "sha256": "0" * 64}] * 2),
        ("files", [{"path": "b", "size": 1, "sha256": "0" * 64, "x": 1}]),
    ],
)
def test_the_manifest_is_parsed_strictly(field: str, value: object) -> None:
    doc = json.loads(
        json.dumps(
            {
                "kind": "redress-complaint-pack",
                "v": 1,
                "case": CASE,
                "made": DAY,
                "made_by": {
                    "name": "amara",
                    "key_id": AMARA.key_id,
                    "sign_pk": base64.b64encode(AMARA.public.sign_pk).decode(),
                },
                "files": [],
            }
        )
    )
    assert parse_manifest(json.dumps(doc).encode()).case == CASE
    doc[field] = value
    with pytest.raises(Exception, match="manifest"):
        parse_manifest(json.dumps(doc).encode())


def test_a_manifest_nested_deeper_than_the_parser_goes_is_a_changed_pack(tmp_path: Path) -> None:
    # "[[[[..." of 30,000 (under the 1 MiB limit) made the JSON parser recurse out: exit 1 as an
    # internal error, where a pack whose manifest was replaced is a changed pack (exit 4).
    _pack(tmp_path / "p", {"README.txt": b"hello"})
    (tmp_path / "p" / MANIFEST).write_bytes(b"[" * 30_000)
    with pytest.raises(PackChangedError, match="manifest is damaged") as raised:
        verify_pack(tmp_path / "p", TEAM)
    assert raised.value.exit_code == 4


def test_a_key_id_that_is_not_the_keys_is_refused() -> None:
    doc = {
        "kind": "redress-complaint-pack",
        "v": 1,
        "case": CASE,
        "made": DAY,
        "made_by": {
            "name": "amara",
            "key_id": BEN.key_id,
            "sign_pk": base64.b64encode(AMARA.public.sign_pk).decode(),
        },
        "files": [],
    }
    with pytest.raises(Exception, match="manifest"):
        parse_manifest(json.dumps(doc).encode())


def test_checking_a_pack_needs_no_database() -> None:
    code = (
        "import sys, vault.pack_manifest;"
        "bad = {'vault.db', 'vault.store', 'sqlcipher3'} & set(sys.modules);"
        "sys.exit(1 if bad else 0)"
    )
    python = str(VAULT_BIN.with_name("python"))
    assert subprocess.run([python, "-c", code], check=False).returncode == 0


# --- any change is caught (property) ---------------------------------------------------------

NAMES = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,11}", fullmatch=True).filter(
    lambda n: n not in (MANIFEST, SIGNATURE)
)
PACK_FILES = st.dictionaries(
    st.one_of(NAMES, st.builds(lambda a, b: f"{a}/{b}", NAMES, NAMES)),
    st.binary(max_size=300),
    min_size=1,
    max_size=6,
).filter(
    # a name is a file or a folder, not both
    lambda files: not {p.split("/")[0] for p in files if "/" in p} & set(files)
)


def _every_file(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


CHANGES = st.sampled_from(["flip", "append", "truncate", "add", "remove", "rename"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=PACK_FILES, change=CHANGES, pick=st.integers(0, 1000), bit=st.integers(0, 7))
def test_any_change_to_any_file_or_the_manifest_is_caught(
    files: dict[str, bytes], change: str, pick: int, bit: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pack"
        _pack(folder, files)
        assert verify_pack(folder, TEAM).signer == "amara"
        targets = _every_file(folder)  # the manifest and its signature included
        target = targets[pick % len(targets)]
        data = target.read_bytes()
        if change == "flip" and data:
            i = pick % len(data)
            target.write_bytes(data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1 :])
        elif change == "append" or (change == "flip" and not data):
            target.write_bytes(data + b"\n")
        elif change == "truncate":
            target.write_bytes(data[:-1] if data else b"x")
        elif change == "add":
            (target.parent / f"extra{pick}.txt").write_bytes(b"added")
        elif change == "remove":
            target.unlink()
        else:
            target.rename(target.with_name(target.name + "x"))
        with pytest.raises(PackChangedError) as caught:
            verify_pack(folder, TEAM)
        assert caught.value.exit_code == 4


@settings(max_examples=40, deadline=None)
@given(files=PACK_FILES)
def test_an_unchanged_pack_always_verifies_and_its_manifest_is_canonical(
    files: dict[str, bytes],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pack"
        data = _pack(folder, files)
        manifest = verify_pack(folder, TEAM).manifest
        assert manifest.to_bytes() == data
        assert sorted(f.path for f in manifest.files) == sorted(files)
        assert all(os.path.isfile(folder / f.path) for f in manifest.files)
