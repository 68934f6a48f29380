"""The complaint pack vectors (tests/vectors/complaint-pack-v1.json, docs/complaint-packs.md
section 4): the library makes the sound pack byte for byte, plain libsodium verifies its
signature, and the real `vault export verify` accepts it and refuses every changed one."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import pytest

from tests.intake_server import VAULT_BIN

VECTORS = Path(__file__).resolve().parent / "vectors"
DOC: dict[str, Any] = json.loads((VECTORS / "complaint-pack-v1.json").read_text())
BY_NAME = {v["name"]: v for v in DOC["vectors"]}


def _files(vector: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in vector["files"].items()}


def _rebuild(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir()
    for rel, data in files.items():
        (folder / rel).parent.mkdir(exist_ok=True)
        (folder / rel).write_bytes(data)


def test_the_generator_makes_these_vectors_today() -> None:
    result = subprocess.run(
        [sys.executable, str(VECTORS / "generate_complaint_pack.py"), "--check"],
        cwd=VECTORS.parents[1],
        env={"PYTHONPATH": str(VECTORS.parents[1]), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_sound_pack_checks_by_hand_with_plain_libsodium() -> None:
    files = _files(BY_NAME["sound"])
    manifest = files["manifest.json"]
    doc = json.loads(manifest)
    seed = bytes.fromhex(DOC["caseworker"]["ed25519_seed_hex"])
    pk, _ = sodium.crypto_sign_seed_keypair(seed)
    assert base64.b64decode(doc["made_by"]["sign_pk"]) == pk
    signature = base64.b64decode(files["manifest.sig"].decode().strip())
    message = b"redress complaint pack manifest v1\x00" + manifest
    assert sodium.crypto_sign_open(signature + message, pk) == message
    listed = {f["path"]: f for f in doc["files"]}
    assert set(listed) == set(files) - {"manifest.json", "manifest.sig"}
    for path, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[path]).hexdigest()
        assert entry["size"] == len(files[path])


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_export_verify_gives_each_vector_its_exit_code(name: str, tmp_path: Path) -> None:
    vector = BY_NAME[name]
    _rebuild(tmp_path / "pack", _files(vector))
    (tmp_path / "team-key.json").write_text(DOC["team_key_file"])
    result = subprocess.run(
        [str(VAULT_BIN), "export", "verify", "pack", "--team-key", "team-key.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == vector["expect_exit"], result.stderr
    assert vector["expect_stderr"] in result.stderr
    assert "Traceback" not in result.stderr


def test_the_verdict_is_one_line_on_a_pipe_of_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pipe is drawn for 80 columns (rich's default without COLUMNS): the sentence the docs
    # quote stays whole on one line for whoever reads it with a script.
    from cli import render
    from tests.conftest import Cli

    _rebuild(tmp_path / "pack", _files(BY_NAME["sound"]))
    (tmp_path / "team-key.json").write_text(DOC["team_key_file"])
    monkeypatch.setattr(render.out, "width", 80)
    result = Cli(tmp_path)("export", "verify", "pack", "--team-key", "team-key.json")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("The complaint pack for case ")
    assert len(line) > 80
    for words in (" is as it was made: ", ", signed by ", "(key id "):
        assert words in line
