"""Complaint packs through the real `vault` command: `vault cases export ID --out DIR` and
`vault export verify DIR --team-key FILE`, with real vault folders and, for the whole path, a
real intake on loopback that the reporter's photo is uploaded to."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.cli.reports import vault_with_reports
from tests.conftest import CANARY, Cli, assert_clean_error, report_data
from tests.intake_server import IntakeServers, upload_attachment
from tests.sealing import attachment_entry

AUTHOR = "Jane Doe-5f1c"


def _vault_with(cli: Cli, reports: list[dict[str, object]]) -> list[str]:
    """`vault init`, the team key exported, the reports sealed and imported; the case ids in
    order."""
    return vault_with_reports(cli, [report_data(**fields) for fields in reports])


def _flip(path: Path, at: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[at % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def _verify(cli: Cli, folder: str, *more: str) -> subprocess.CompletedProcess[str]:
    """`vault export verify` as an outsider runs it: no vault, no passphrase anywhere."""
    return cli(
        "export",
        "verify",
        folder,
        "--team-key",
        "team-key.json",
        *more,
        env={"VAULT_PASSPHRASE_FILE": "", "VAULT_DIR": str(cli.cwd / "nowhere")},
    )


@pytest.mark.slow
def test_export_then_verify_then_a_flipped_byte_is_exit_4(cli: Cli) -> None:
    (case,) = _vault_with(cli, [{}])
    assert cli("cases", "note", case, "Called back; she wants the GMC told.").returncode == 0
    made = cli("cases", "export", case, "--out", "pack", "--notes")
    assert made.returncode == 0, made.stderr
    assert "Wrote the complaint pack" in made.stderr
    assert "not encrypted" in made.stderr
    assert CANARY not in made.stderr + made.stdout

    # the team key file in the current folder is taken when --team-key is left out
    assert cli("export", "verify", "pack").returncode == 0
    elsewhere = cli.cwd / "elsewhere"
    elsewhere.mkdir()
    no_key = Cli(elsewhere)("export", "verify", str(cli.cwd / "pack"))
    assert_clean_error(no_key, 2)
    assert "--team-key" in no_key.stderr

    checked = _verify(cli, "pack")
    assert checked.returncode == 0, checked.stderr
    assert "as it was made" in checked.stdout
    assert "amara" in checked.stdout
    as_json = json.loads(_verify(cli, "pack", "--json").stdout)
    assert as_json["intact"] is True
    assert as_json["case"] == case
    assert as_json["made_by"] == "amara"
    assert {f["path"] for f in as_json["files"]} == {"README.txt", "complaint.pdf"}

    history = json.loads(cli("cases", "show", case, "--json").stdout)["history"]
    assert [h["action"] for h in history].count("pack-exported") == 1
    assert cli("audit", "export", "bundle").returncode == 0
    assert cli("audit", "verify", "bundle").returncode == 0

    _flip(cli.cwd / "pack" / "complaint.pdf")
    refused = _verify(cli, "pack")
    assert_clean_error(refused, 4)
    assert "complaint.pdf has been changed" in refused.stderr


@pytest.mark.slow
def test_added_removed_renamed_files_and_a_forged_manifest_are_exit_4(cli: Cli) -> None:
    (case,) = _vault_with(cli, [{}])
    for name in ("added", "removed", "renamed", "forged", "sig"):
        assert cli("cases", "export", case, "--out", name).returncode == 0
    (cli.cwd / "added" / "extra.txt").write_text("slipped in")
    (cli.cwd / "removed" / "README.txt").unlink()
    os.rename(cli.cwd / "renamed" / "README.txt", cli.cwd / "renamed" / "README2.txt")
    manifest = cli.cwd / "forged" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"made": "', '"made": "1'))
    _flip(cli.cwd / "sig" / "manifest.sig", 5)
    for name, said in (
        ("added", "extra.txt is not in its manifest"),
        ("removed", "README.txt is missing"),
        ("renamed", "README2.txt is not in its manifest"),
        ("forged", "manifest"),
        ("sig", "signature"),
    ):
        result = _verify(cli, name)
        assert_clean_error(result, 4)
        assert said in result.stderr, (name, result.stderr)


@pytest.mark.slow
def test_refusals_each_one_line_and_nothing_written(cli: Cli) -> None:
    help_case, support_only = _vault_with(cli, [{}, {"wants": ["support"]}])
    (cli.cwd / "taken").mkdir()

    assert_clean_error(cli("cases", "export", help_case, "--out", "taken"), 1)
    assert list((cli.cwd / "taken").iterdir()) == []

    no_help = cli("cases", "export", support_only, "--out", "p1")
    assert_clean_error(no_help, 1)
    assert "did not ask for help with a complaint" in no_help.stderr
    assert not (cli.cwd / "p1").exists()

    # bad fields are refused before the passphrase is asked for
    unreadable = {"VAULT_PASSPHRASE_FILE": str(cli.cwd / "no-such-passphrase-file")}
    bad = cli(
        "cases", "export", help_case, "--out", "p2", "--fields", "sector,banana", env=unreadable
    )
    assert_clean_error(bad, 2)
    assert "banana" in bad.stderr
    assert not (cli.cwd / "p2").exists()

    missing = _verify(cli, "nowhere-pack")
    assert_clean_error(missing, 1)
    (cli.cwd / "not-a-key.json").write_text("{}")
    assert cli("cases", "export", help_case, "--out", "p3").returncode == 0
    wrong_key = cli("export", "verify", "p3", "--team-key", "not-a-key.json")
    assert_clean_error(wrong_key, 1)

    # another team's key file: the pack's signer is not in it
    other = cli.cwd / "other"
    other.mkdir()
    other_cli = Cli(other)
    assert other_cli("init", "--name", "ben").returncode == 0
    assert other_cli("team-key", "export", "team-key.json").returncode == 0
    foreign = cli("export", "verify", "p3", "--team-key", str(other / "team-key.json"))
    assert_clean_error(foreign, 4)
    assert "not signed by any caseworker in that team key file" in foreign.stderr
    assert not [p for p in cli.cwd.iterdir() if p.name.startswith(".redress-pack-")]


def _photo() -> bytes:
    exif = Image.Exif()
    exif[0x013B] = AUTHOR
    exif[0x010F] = "CanonCam-93ab"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (51.0, 30.0, 26.5), "W", (0.0, 7.0, 39.0)
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 40, 40)).save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.mark.slow
def test_done_means_a_pulled_report_with_a_photo_becomes_a_pack_that_verifies(
    cli: Cli, intake_servers: IntakeServers
) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    intake = intake_servers.start(cli.cwd / "team-key.json")
    photo = _photo()
    entry, blob = attachment_entry(photo, name="IMG_home_street.jpg", kind="image/jpeg")
    upload_attachment(intake.url, blob)
    (cli.cwd / "report.json").write_text(json.dumps(report_data(attachments=[entry])))
    sent = cli("submit", "--team-key", "team-key.json", "--to", intake.url, "report.json")
    assert sent.returncode == 0, sent.stderr
    pulled = cli("pull", "--from", intake.url)
    assert pulled.returncode == 0, pulled.stderr
    (case,) = [c["id"] for c in json.loads(cli("cases", "list", "--json").stdout)]

    made = cli("cases", "export", case, "--out", "pack", "--fields", "sector,role,what_happened")
    assert made.returncode == 0, made.stderr
    assert "removed: GPS location" in made.stderr
    cleaned = (cli.cwd / "pack" / "attachments" / "1.jpg").read_bytes()
    assert AUTHOR.encode() not in cleaned
    assert not Image.open(io.BytesIO(cleaned)).getexif()
    assert _verify(cli, "pack").returncode == 0
    # the original is still in the vault, byte for byte
    assert cli("cases", "attachment", case, "1", "--out", "original.jpg").returncode == 0
    assert (cli.cwd / "original.jpg").read_bytes() == photo

    _flip(cli.cwd / "pack" / "attachments" / "1.jpg")
    assert_clean_error(_verify(cli, "pack"), 4)
    assert cli("audit", "export", "bundle").returncode == 0
    assert cli("audit", "verify", "bundle").returncode == 0


def test_the_help_names_every_field_a_pack_can_show(cli: Cli) -> None:
    from vault.complaint_pack import FIELDS

    shown = cli("cases", "export", "--help", env={"COLUMNS": "200"})
    assert shown.returncode == 0
    for name in FIELDS:
        assert name in shown.stdout, name
