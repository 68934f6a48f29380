"""Reporters' answers and withdrawal requests through the REAL intake and the real `vault` command.

The reporter's browser is played by vault.reporter_messages.seal_message (the reference the
browser's code follows, docs/format.md); the intake is `vault intake serve` on loopback.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cli, make_report, report_data, seal_for
from tests.intake_server import IntakeServers
from tests.sealing import codename_keys, mailbox_of, new_codename, open_reply
from tests.vault.intake.test_api import raw_request
from vault import _crypto, case_view
from vault import pull as pull_module
from vault.intake.limits import solve
from vault.keys import TeamKeyPair, TeamPublicKey
from vault.reporter_messages import MAX_MESSAGE, PREFIX_BYTES, seal_message
from vault.store import Vault
from vault.submit import send_envelope


def post(url: str, body: bytes, *, proof: bool = True, **headers: str) -> httpx.Response:
    sent = {"Content-Type": "application/octet-stream", **headers}
    if proof:
        challenge = httpx.get(url + "/api/challenge").json()
        sent["X-Redress-PoW"] = solve(challenge["challenge"], challenge["bits"])
    return httpx.post(url + "/api/messages", content=body, headers=sent, timeout=30)


def _seed(seed: bytes) -> _crypto.SecretBytes:
    return _crypto.SecretBytes(seed, "codename signing seed")


@pytest.mark.slow
def test_an_answer_and_a_withdrawal_reach_the_case(
    cli: Cli, intake_servers: IntakeServers, tmp_path: Path
) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    key = TeamPublicKey.from_file_bytes((tmp_path / "team-key.json").read_bytes())
    url = intake_servers.start(key, pow_bits=4).url

    reply_pk, reply_sk, signing_pk, seed = codename_keys(new_codename())
    report = tmp_path / "report.json"
    fields = {
        "reply_key": base64.b64encode(reply_pk).decode(),
        "reply_signing_key": base64.b64encode(signing_pk).decode(),
    }
    report.write_text(json.dumps(report_data(**fields)))
    assert cli("submit", "--team-key", "team-key.json", "--to", url, str(report)).returncode == 0
    pulled = cli("pull", "--from", url)
    case_id = pulled.stdout.split()[0]
    assert cli("cases", "reply", case_id, "Can we call you?").returncode == 0
    assert cli("pull", "--from", url).returncode == 0
    (sealed,) = httpx.get(f"{url}/api/mailbox/{mailbox_of(reply_pk)}").json()["replies"]
    assert open_reply(base64.b64decode(sealed), reply_pk, reply_sk)["can_answer"] is True

    answer = seal_message("answer", "Yes, after six.", _seed(seed), key.epoch, key.public_key)
    withdrawal = seal_message("withdrawal", None, _seed(seed), key.epoch, key.public_key)
    assert post(url, answer).status_code == 202
    assert post(url, withdrawal).status_code == 202

    # Refused by the intake, each with its status; nothing is stored.
    unsigned = answer[: PREFIX_BYTES - 64] + bytes(64) + answer[PREFIX_BYTES:]
    refused = post(url, unsigned)
    assert (refused.status_code, refused.json()) == (403, {"error": "bad-signature"})
    changed = bytearray(answer)
    changed[-1] ^= 1
    assert post(url, bytes(changed)).status_code == 403
    head = (
        "POST /api/messages HTTP/1.1\nHost: x\nContent-Type: application/octet-stream\n"
        f"Content-Length: {MAX_MESSAGE + 1}\n"
    )
    assert raw_request(url, head, b"tiny").startswith(b"HTTP/1.1 413 ")  # before it is read
    assert post(url, answer[:-1]).status_code == 400
    assert post(url, answer, proof=False).status_code == 429
    assert post(url, answer, **{"Content-Type": "text/plain"}).status_code == 415
    other_team = TeamKeyPair.generate(key.epoch)
    foreign = seal_message("answer", "hi", _seed(seed), key.epoch, other_team.public_key)
    assert post(url, foreign).status_code == 400
    # A message signed by some other codename passes the intake (it cannot tell whose key a
    # report carries: the report is sealed) and is refused by the vault.
    forged = seal_message("withdrawal", None, _seed(b"\x05" * 32), key.epoch, key.public_key)
    assert post(url, forged).status_code == 202

    pulled = cli("pull", "--from", url)
    assert pulled.returncode == 1, pulled.stderr
    assert "Reporters sent 1 answer and 1 request to withdraw" in pulled.stderr
    refusals = [line for line in pulled.stderr.splitlines() if "reporter message" in line]
    assert len(refusals) == 1
    assert "signed by a codename no case in this vault has" in refusals[0]
    assert "Traceback" not in pulled.stderr

    listed = json.loads(cli("cases", "list", "--json").stdout)
    assert [c["withdrawal_requested"] for c in listed] == [True]
    table = cli("cases", "list").stdout
    assert "new *" in table
    assert "* The reporter asked for the report to be withdrawn and erased" in table
    shown = json.loads(cli("cases", "show", case_id, "--json").stdout)
    assert [(c["from"], c["kind"], c["text"]) for c in shown["conversation"]] == [
        ("caseworker", "reply", "Can we call you?"),
        ("reporter", "answer", "Yes, after six."),
        ("reporter", "withdrawal", None),
    ]
    text = cli("cases", "show", case_id).stdout
    assert "the reporter answered: Yes, after six." in text
    assert "asked for this report to be withdrawn and erased" in text

    # Everything was taken or refused, so the intake holds nothing more; a repeat is harmless.
    again = cli("pull", "--from", url)
    assert again.returncode == 0, again.stderr
    assert "Reporters sent" not in again.stderr
    assert post(url, answer).status_code == 202  # the intake keeps it once more...
    assert cli("pull", "--from", url).returncode == 0  # ...and the vault counts it held
    shown = json.loads(cli("cases", "show", case_id, "--json").stdout)
    assert len(shown["conversation"]) == 3


def test_messages_past_the_budget_wait_on_the_intake(
    vault: Vault, intake_servers: IntakeServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull holds at most MESSAGE_BUDGET of messages; the rest wait, unacknowledged."""
    url = intake_servers.start(vault.team_key_export(), pow_bits=4).url
    reply_pk, _, signing_pk, seed = codename_keys(new_codename())
    fields = {
        "reply_key": base64.b64encode(reply_pk).decode(),
        "reply_signing_key": base64.b64encode(signing_pk).decode(),
    }
    send_envelope(url, seal_for(vault, make_report(**fields)))
    team = vault.access.current
    for i in range(3):
        message = seal_message(
            "answer", f"answer {i}", _seed(seed), team.epoch, team.public_key, "2026-01-02", i
        )
        assert post(url, message).status_code == 202
    monkeypatch.setattr(pull_module, "MESSAGE_BUDGET", len(message))
    first = pull_module.pull(vault, url)
    assert (len(first.imported), first.answers, first.messages_waiting) == (1, 1, 2)
    second = pull_module.pull(vault, url)
    assert (second.answers, second.messages_waiting) == (1, 1)
    third = pull_module.pull(vault, url)
    assert (third.answers, third.messages_waiting) == (1, 0)
    (case_id,) = first.imported
    said = [c.text for c in case_view.show_case(vault, case_id).conversation]
    assert sorted(said) == ["answer 0", "answer 1", "answer 2"]
