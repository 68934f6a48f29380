"""`vault alerts` through the real CLI, with real vault folders (docs/alerts.md)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.reports import vault_with_reports
from tests.conftest import Cli, assert_clean_error, report_data
from tests.sealing import codename_entropy, new_codename, reply_keypair

# Each test runs the real command several times, each unlocking with Argon2id: over 3 s.
pytestmark = pytest.mark.slow

CANARY = "QZXCANARY47"
AMARA = {"VAULT_CASEWORKER": "amara"}
# The words every export of this alert carries whatever the codename (vault/alerts.py).
_ALERT_WORDS = (
    " safety alert sector role area not given month march harms racial discrimination outing"
    " healthcare gp leeds v type redress id what happened"
)


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def _secret(cli: Cli, name: str, text: str) -> Path:
    path = cli.cwd / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def _vault_with_case(cli: Cli, **fields: object) -> str:
    """`vault init`, one report sealed and imported; its case id."""
    return vault_with_reports(cli, [report_data(**fields)])[0]


def _add_bob(cli: Cli) -> list[str]:
    bob = _secret(cli, "bob-pass", "bob has a long passphrase of his own")
    _ok(cli("caseworker", "add", "bob", "--new-passphrase-file", str(bob)))
    return ["--as", "bob", "--passphrase-file", str(bob)]


def _listed(cli: Cli) -> list[dict[str, object]]:
    listed = json.loads(_ok(cli("alerts", "list", "--json", env=AMARA)).stdout)
    assert isinstance(listed, list)
    return listed


def test_done_means_the_canary_is_flagged_approved_by_a_second_caseworker_and_absent(
    cli: Cli,
) -> None:
    """Issue 14's "done means", for alerts: contract commands only."""
    text = (
        "A GP in Leeds told a worker's landlord about her work and refused to treat her."
        f" She is happy to talk to others: {CANARY}.\n"
    )
    codename = new_codename()
    # A codename word the caseworker wrote anyway ("talk" is a BIP39 word) proves nothing:
    # draw again until none of its words is in the alert's own text or JSON keys.
    while set(codename.split()) & set(re.findall(r"[a-z]+", text.lower() + _ALERT_WORDS)):
        codename = new_codename()
    reply_pk, _ = reply_keypair(codename_entropy(codename))
    case_id = _vault_with_case(
        cli,
        contact={"method": "signal", "value": f"{CANARY} on signal"},
        reply_key=base64.b64encode(reply_pk).decode(),
        consent={"alert": True, "research": False},
        wants=["share-alert"],
        where="Chapeltown, Leeds LS7 3AB",
        when="2026-03-14",
    )
    bob = _add_bob(cli)
    drafted = cli("alerts", "draft", case_id, "--text", "-", input=text.encode(), env=AMARA)
    _ok(drafted)
    assert CANARY in drafted.stdout  # the caseworker sees the canary flagged...
    assert "removed" in drafted.stdout
    (alert,) = _listed(cli)
    assert alert["case"] == case_id
    assert alert["state"] == "draft"
    flags = alert["flags"]
    assert isinstance(flags, list)
    assert {"kind": "contact", "text": CANARY, "state": "removed"} in flags
    alert_id = str(alert["id"])

    own = cli("alerts", "approve", alert_id, env=AMARA)
    assert_clean_error(own, 1)
    assert "another caseworker" in own.stderr
    _ok(cli("alerts", "approve", alert_id, *bob))
    _ok(cli("alerts", "export", alert_id, "--out", "alert.txt", *bob))
    written = (cli.cwd / "alert.txt").read_text() + (cli.cwd / "alert.json").read_text()
    assert CANARY not in written  # ...and it is absent from the export
    assert CANARY.lower() not in written.lower()
    for word in codename.split():
        assert f" {word} " not in f" {written} "
    assert "LS7" not in written
    assert "14" not in json.loads((cli.cwd / "alert.json").read_text())["month"][5:]
    assert json.loads((cli.cwd / "alert.json").read_text())["area"] == "Leeds"
    assert [a["state"] for a in _listed(cli)] == ["exported"]

    _ok(cli("audit", "export", "bundle", env=AMARA))
    verified = _ok(cli("audit", "verify", "bundle", "--json"))
    assert CANARY not in verified.stdout
    shown = json.loads(_ok(cli("cases", "show", case_id, "--json", env=AMARA)).stdout)
    steps = [h["action"] for h in shown["history"]]
    assert steps[-4:] == ["alert-drafted", "alert-approved", "alert-exported", "opened"]


def test_no_alert_for_a_case_without_consent(cli: Cli) -> None:
    case_id = _vault_with_case(cli, consent={"alert": False, "research": False})
    result = cli("alerts", "draft", case_id, "--text", "-", input=b"A GP refused care.")
    assert_clean_error(result, 1)
    assert "did not consent" in result.stderr
    assert CANARY not in result.stderr
    assert _listed(cli) == []


def test_open_flags_stop_approval_until_redrafted_or_overridden(cli: Cli) -> None:
    case_id = _vault_with_case(cli)
    flagged = "Dr Okafor at Riverside Surgery refused her on 3rd March.\n"
    _ok(cli("alerts", "draft", case_id, "--text", "-", input=flagged.encode()))
    (alert,) = _listed(cli)
    kinds = {f["kind"] for f in alert["flags"] if f["state"] == "open"}  # type: ignore[attr-defined]
    assert {"name", "date"} <= kinds
    alert_id = str(alert["id"])
    refused = cli("alerts", "approve", alert_id)
    assert_clean_error(refused, 1)
    assert "open flag" in refused.stderr
    assert "Okafor" not in refused.stderr  # the refusal names kinds, never what was found
    # a team of one approves its own alerts, once the flags are dealt with
    _ok(cli("alerts", "approve", alert_id, "--override", "named in court reports already"))
    (after,) = _listed(cli)
    assert after["state"] == "approved"
    assert {f["state"] for f in after["flags"]} == {"removed", "overridden"}  # type: ignore[attr-defined]
    assert_clean_error(cli("alerts", "approve", alert_id), 1)  # approved already


def test_export_refuses_a_draft_and_an_existing_file(cli: Cli) -> None:
    case_id = _vault_with_case(cli)
    _ok(cli("alerts", "draft", case_id, "--text", "-", input=b"A GP in Leeds refused care."))
    alert_id = str(_listed(cli)[0]["id"])
    assert_clean_error(cli("alerts", "export", alert_id, "--out", "early.txt"), 1)
    assert not list(cli.cwd.glob("early*"))
    _ok(cli("alerts", "approve", alert_id))
    (cli.cwd / "taken.json").write_text("not ours")
    result = cli("alerts", "export", alert_id, "--out", "taken.txt")
    assert_clean_error(result, 1)
    assert "already exists" in result.stderr
    assert not (cli.cwd / "taken.txt").exists()
    assert (cli.cwd / "taken.json").read_text() == "not ours"
    _ok(cli("alerts", "export", alert_id, "--out", "alert.json"))
    assert (cli.cwd / "alert.txt").read_text().startswith("Safety alert ")
    doc = json.loads((cli.cwd / "alert.json").read_text())
    assert doc["type"] == "redress-safety-alert"
    assert doc["id"] == alert_id


def test_bad_input_is_one_line_with_the_right_code(cli: Cli) -> None:
    case_id = _vault_with_case(cli)
    for typed, code in (
        (b"Sector: banking\n\nA GP refused care.", 2),
        (b"Month: 3 March 2026\n\nA GP refused care.", 2),
        (b"# only a comment\n", 2),
    ):
        assert_clean_error(cli("alerts", "draft", case_id, "--text", "-", input=typed), code)
    assert_clean_error(cli("alerts", "approve", "ZZZZ-ZZZZ"), 1)
    assert_clean_error(cli("alerts", "draft", "ZZZZ-ZZZZ", "--text", "-", input=b"x"), 1)
    result = cli("alerts", "draft", case_id, env={"EDITOR": "", "VISUAL": ""})
    assert_clean_error(result, 2)
    assert "--text -" in result.stderr
    assert _listed(cli) == []


def test_the_editor_gets_a_draft_filled_in_from_the_case_and_nothing_is_left_on_disk(
    cli: Cli,
) -> None:
    case_id = _vault_with_case(cli, where="12 Acacia Road, Leeds LS6 2QR", when="14 March 2026")
    editor = cli.cwd / "editor.py"
    editor.write_text(
        "import sys\n"
        "path = sys.argv[1]\n"
        "text = open(path).read()\n"
        "assert 'Area: Leeds\\n' in text and 'Month: 2026-03\\n' in text, text\n"
        "assert 'Acacia' not in text.split('# The reporter')[0]\n"
        "open(path, 'a').write('\\nA GP in Leeds told her landlord about her work.\\n')\n"
    )
    result = cli("alerts", "draft", case_id, env={"EDITOR": f"{sys.executable} {editor}"})
    _ok(result)
    (alert,) = json.loads(_ok(cli("alerts", "list", "--json")).stdout)
    shown = json.loads(_ok(cli("alerts", "show", str(alert["id"]), "--json")).stdout)
    assert shown["text"] == "A GP in Leeds told her landlord about her work."
    assert (shown["area"], shown["month"], shown["role"]) == ("Leeds", "2026-03", "GP")
    assert not [p for p in (cli.cwd / "vault-data").iterdir() if p.name.startswith(".alert")]
    # an editor that fails leaves no draft
    failing = cli("alerts", "draft", case_id, env={"EDITOR": "false"})
    assert_clean_error(failing, 1)
    assert len(json.loads(_ok(cli("alerts", "list", "--json")).stdout)) == 1


def test_every_alerts_command_has_help(cli: Cli) -> None:
    for args in (("alerts",), *(("alerts", c) for c in ("draft", "list", "show", "approve"))):
        result = cli(*args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout
    assert "--out" in cli("alerts", "export", "--help").stdout


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_bad_override_reason_is_exit_2_before_the_vault_opens(cli: Cli, reason: str) -> None:
    """docs/alerts.md: approve's exit 2 is an empty reason, whoever runs it (no vault here)."""
    result = cli("alerts", "approve", "7KQ2-M9XD", "--override", reason)
    assert_clean_error(result, 2)
    assert "reason" in result.stderr
