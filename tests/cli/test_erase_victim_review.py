"""Review of issue 15 (seal15): the whole path, CLI and a real intake on loopback. A modified
page names another reporter's upload; the reporter whose upload it is asks to be erased."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, Cli, make_report
from tests.intake_server import IntakeServers
from tests.sealing import attachment_entry
from tests.vault.test_pull import POW_BITS, Intake
from vault import blobs as blob_store
from vault.envelope import seal_report
from vault.keys import TeamPublicKey
from vault.store import Vault
from vault.submit import send_envelope


@pytest.fixture
def start_intake(intake_servers: IntakeServers) -> Callable[[TeamPublicKey], Intake]:
    def start(team_key: TeamPublicKey) -> Intake:
        return Intake(**vars(intake_servers.start(team_key, name="intake", pow_bits=POW_BITS)))

    return start


def test_erasing_the_reporter_whose_upload_a_liar_named_removes_it(
    cli: Cli, start_intake: Callable[[TeamPublicKey], Intake], tmp_path: Path
) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    key = TeamPublicKey.from_file_bytes((tmp_path / "team-key.json").read_bytes())
    intake = start_intake(key)
    photo = b"\x89PNG the victim's photo " + os.urandom(120_000)
    entry, blob = attachment_entry(photo)
    assert intake.upload(blob) == entry["blob"]
    lie = {**entry, "key": base64.b64encode(os.urandom(32)).decode()}
    for role, attachment in (("victim", entry), ("liar", lie)):
        report = make_report(role=role, attachments=[attachment])
        send_envelope(intake.url, seal_report(report, key.epoch, key.public_key))
    pulled = cli("pull", "--from", intake.url)
    assert pulled.returncode == 4, pulled.stderr  # the liar's case is named
    cases = {
        json.loads(cli("cases", "show", c, "--json").stdout)["report"]["role"]: c
        for c in pulled.stdout.split()
    }
    erased = cli("cases", "erase", cases["victim"], "--reason", "reporter asked")
    assert erased.returncode == 0, erased.stderr
    assert cli("check").returncode == 0
    with Vault.unlock(tmp_path / "vault-data", PASSPHRASE) as vault:
        kept = blob_store.holds_blob(vault.db, str(entry["blob"]))
    assert not kept, "the erased reporter's sealed photo is still in the vault"


def test_a_liar_pulled_and_erased_first_loses_nothing_of_the_real_report(
    cli: Cli, start_intake: Callable[[TeamPublicKey], Intake], tmp_path: Path
) -> None:
    """Held: the liar's report arrives first (its pull fetches the upload, finds it is not the
    liar's, and does not let the intake delete it); the liar's case is erased (the upload
    with it); the real report, sent later, still gets its file, byte for byte."""
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    key = TeamPublicKey.from_file_bytes((tmp_path / "team-key.json").read_bytes())
    intake = start_intake(key)
    photo = b"\x89PNG the real photo " + os.urandom(120_000)
    entry, blob = attachment_entry(photo)
    assert intake.upload(blob) == entry["blob"]
    lie = {**entry, "key": base64.b64encode(os.urandom(32)).decode()}
    liar = make_report(role="liar", attachments=[lie])
    send_envelope(intake.url, seal_report(liar, key.epoch, key.public_key))
    first = cli("pull", "--from", intake.url)
    assert first.returncode == 4, first.stderr
    assert "Traceback" not in first.stderr
    (liar_case,) = first.stdout.split()
    assert cli("cases", "erase", liar_case, "--reason", "mistake").returncode == 0
    real = make_report(role="real", attachments=[entry])
    send_envelope(intake.url, seal_report(real, key.epoch, key.public_key))
    second = cli("pull", "--from", intake.url)
    assert second.returncode == 0, second.stderr
    (real_case,) = second.stdout.split()
    out = cli("cases", "attachment", real_case, "1", "--out", "photo.png")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "photo.png").read_bytes() == photo
    assert cli("check").returncode == 0
