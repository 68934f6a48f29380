"""`vault pull`, replies and attachments against the REAL intake (`vault intake serve` on loopback).

Reporters are played by tests/sealing.py (the browser's sealing, written again from the spec)
and by `vault submit --to`; the caseworker side is the library and the real `vault` command.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    CANARY,
    PASSPHRASE,
    Cli,
    assert_clean_error,
    bytes_under,
    make_report,
    report_data,
    seal_for,
)
from tests.intake_server import IntakeServer, IntakeServers
from tests.sealing import (
    attachment_entry,
    codename_entropy,
    mailbox_of,
    new_codename,
    open_reply,
    reply_keypair,
)
from vault import _crypto, case_view, incoming, replies
from vault import blobs as blob_store
from vault import pow as pow_
from vault.envelope import HEADER, MAGIC, VERSION, envelope_id, pad, seal_report, team_key_id
from vault.errors import IntakeError, IntegrityError, NoReplyKeyError, WrongKeyError
from vault.intake.auth import sign_request
from vault.keys import TeamPublicKey
from vault.pull import BLOB_PIECE, IntakeClient, pull
from vault.store import Vault
from vault.submit import send_envelope

POW_BITS = 4


class Intake(IntakeServer):
    """A real intake (tests/intake_server.py), and what a reporter and a caseworker ask it."""

    # --- a reporter's browser ---

    def upload(self, blob: bytes) -> str:
        challenge = httpx.get(self.url + "/api/challenge").json()
        raw = pow_.decode_challenge(challenge["challenge"])
        solution = pow_.header_value(raw, pow_.solve(raw, challenge["bits"]))
        r = httpx.post(
            self.url + "/api/attachments",
            content=blob,
            headers={"Content-Type": "application/octet-stream", "X-Redress-PoW": solution},
            timeout=60,
        )
        assert r.status_code == 201, r.text
        blob_id: str = r.json()["blob"]
        return blob_id

    def mailbox(self, mailbox: str) -> list[bytes]:
        r = httpx.get(f"{self.url}/api/mailbox/{mailbox}")
        assert r.status_code == 200, r.text
        return [base64.b64decode(b) for b in r.json()["replies"]]

    # --- what is left on it (asked as a caseworker would) ---

    def waiting(self, vault: Vault) -> list[str]:
        body = json.dumps({"limit": 1000}).encode()
        headers = sign_request(vault.identity, "POST", "/api/pull", body)
        headers["Content-Type"] = "application/json"
        r = httpx.post(self.url + "/api/pull", content=body, headers=headers)
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["envelopes"]]

    def has_blob_for(self, vault_dir: Path, blob: str) -> bool:
        with Vault.unlock(vault_dir, PASSPHRASE) as vault:
            return self.has_blob(vault, blob)

    def has_blob(self, vault: Vault, blob: str) -> bool:
        path = f"/api/blobs/{blob}"
        r = httpx.get(self.url + path, headers=sign_request(vault.identity, "GET", path, b""))
        assert r.status_code in (200, 404), r.text
        return r.status_code == 200


@pytest.fixture
def intakes(intake_servers: IntakeServers) -> Callable[..., Intake]:
    def start(team_key: TeamPublicKey, name: str = "intake") -> Intake:
        return Intake(**vars(intake_servers.start(team_key, name=name, pow_bits=POW_BITS)))

    return start


@pytest.fixture
def intake(vault: Vault, intakes: Callable[..., Intake]) -> Intake:
    return intakes(vault.team_key_export())


def _report_with_file(vault: Vault, intake: Intake, data: bytes, **fields: Any) -> bytes:
    """A report whose attachment was sealed and uploaded as the browser does; its envelope."""
    entry, blob = attachment_entry(data, name="letter.pdf", kind="application/pdf")
    assert intake.upload(blob) == entry["blob"]
    return seal_for(vault, make_report(attachments=[entry], **fields))


# --- pulling ------------------------------------------------------------------------------


def test_pull_stores_every_report_then_the_intake_deletes_them(
    vault: Vault, intake: Intake, vault_dir: Path
) -> None:
    envelopes = [seal_for(vault, make_report(what_happened=f"{CANARY} {i}")) for i in range(5)]
    for envelope in envelopes:
        send_envelope(intake.url, envelope)
    with_file = _report_with_file(vault, intake, b"%PDF-1.4 " + CANARY.encode() * 100)
    send_envelope(intake.url, with_file)
    assert len(intake.waiting(vault)) == 6

    result = pull(vault, intake.url)
    assert len(result.imported) == 6
    assert result.duplicates == 0
    assert result.failures == []
    assert intake.waiting(vault) == []
    entry = json.loads(case_view.show_case(vault, result.imported[-1]).report.model_dump_json())
    blobs = [a["blob"] for a in entry["attachments"]]
    assert not any(intake.has_blob(vault, b) for b in blobs)
    texts = {case_view.show_case(vault, c).report.what_happened for c in result.imported}
    assert {f"{CANARY} {i}" for i in range(5)} <= texts
    assert CANARY.encode() not in bytes_under(vault_dir)

    again = pull(vault, intake.url)
    assert (again.imported, again.duplicates, again.failures) == ([], 0, [])


def test_pull_pages_through_a_long_queue(
    vault: Vault, intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vault.pull.PAGE_SIZE", 3)
    for _ in range(8):
        send_envelope(intake.url, seal_for(vault))
    result = pull(vault, intake.url)
    assert len(result.imported) == 8
    assert intake.waiting(vault) == []


def _sealed_not_a_report(vault: Vault) -> bytes:
    """An envelope that opens with the team key but holds something that is not a report."""
    key = vault.team_public_key()
    header = HEADER.pack(MAGIC, VERSION, key.epoch, team_key_id(key.public_key))
    return header + _crypto.seal(pad(b'{"not": "a report"}'), key.public_key)


def _quarantine(vault: Vault) -> dict[bytes, tuple[bytes, str, str]]:
    return {
        bytes(i): (bytes(e), str(d), str(r))
        for i, e, d, r in vault.db.execute(
            "SELECT envelope_id, envelope, day, reason FROM quarantine"
        )
    }


@pytest.mark.slow
def test_envelopes_the_vault_cannot_open_are_quarantined_then_acknowledged(
    vault: Vault, intake: Intake, intakes: Callable[..., Intake], tmp_path: Path
) -> None:
    good = seal_for(vault)
    damaged = bytearray(seal_for(vault))
    damaged[200] ^= 0x01  # the intake cannot tell: it never opens anything
    invalid = _sealed_not_a_report(vault)
    for envelope in (good, bytes(damaged), invalid):
        send_envelope(intake.url, envelope)
    result = pull(vault, intake.url)
    assert len(result.imported) == 1
    assert result.failures == []
    assert result.quarantined == {"damaged": 1, "invalid": 1}
    assert result.in_quarantine == incoming.quarantine_count(vault) == 2
    assert intake.waiting(vault) == [], "kept in the vault, so the intake may delete them"
    kept = _quarantine(vault)
    assert kept[envelope_id(bytes(damaged))][:1] == (bytes(damaged),), "byte for byte"
    assert kept[envelope_id(invalid)][:1] == (invalid,)
    assert {r for _, _, r in kept.values()} == {"damaged", "invalid"}
    assert all(len(day) == 10 for _, day, _ in kept.values()), "a day, never a time"
    assert case_view.count_cases(vault) == 1

    # The same envelope arriving again (a crash before the ack) is kept once.
    send_envelope(intake.url, invalid)
    again = pull(vault, intake.url)
    assert again.quarantined == {"invalid": 1}
    assert incoming.quarantine_count(vault) == 2
    assert intake.waiting(vault) == []

    # `vault import` still refuses them and keeps nothing.
    imported = incoming.import_envelopes(vault, [("f", bytes(damaged)), ("g", invalid)])
    assert [type(e).__name__ for _, e in imported.failures] == ["EnvelopeError"] * 2
    assert incoming.quarantine_count(vault) == 2

    # An intake set up with another team's key, but taking pulls from this caseworker.
    with Vault.create(tmp_path / "other", "ben", PASSPHRASE) as other:
        theirs = other.team_key_export()
        foreign = seal_for(other)
    me = (vault.identity.name, vault.identity.public.sign_pk)
    mixed_up = intakes(TeamPublicKey(theirs.epoch, theirs.public_key, (me,)), name="mixed")
    send_envelope(mixed_up.url, foreign)
    result = pull(vault, mixed_up.url)
    assert result.imported == []
    assert result.quarantined == {"foreign": 1}
    assert result.in_quarantine == 3
    assert _quarantine(vault)[envelope_id(foreign)][0::2] == (foreign, "foreign")
    assert mixed_up.waiting(vault) == []


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from vault import pull as pulling
    from vault.passphrase import Passphrase
    from vault.store import Vault

    calls = []
    acknowledge = pulling.IntakeClient.ack

    def crash(self, envelopes, blobs):
        calls.append(1)
        if len(calls) == int(sys.argv[4]):
            print(len(envelopes), len(blobs), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # dies after the commit, before the intake deletes
        return acknowledge(self, envelopes, blobs)

    pulling.IntakeClient.ack = crash
    vault = Vault.unlock(Path(sys.argv[1]), Passphrase(sys.argv[2].encode()))
    pulling.pull(vault, sys.argv[3])
    """
)


def _pull_and_crash(vault_dir: Path, intake: Intake, at_ack: int) -> list[str]:
    crashed = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASH_SCRIPT,
            str(vault_dir),
            PASSPHRASE.reveal().decode(),
            intake.url,
            str(at_ack),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    return crashed.stdout.split()


def _chunks(vault: Vault) -> int:
    return int(vault.db.execute("SELECT count(*) FROM blob_chunks").fetchone()[0])


def test_a_crash_between_storing_and_acknowledging_stores_nothing_twice(
    vault: Vault, intake: Intake, vault_dir: Path
) -> None:
    for _ in range(4):
        send_envelope(intake.url, seal_for(vault))
    send_envelope(intake.url, _report_with_file(vault, intake, os.urandom(100_000)))
    vault.close()
    # The envelopes are acknowledged first, without the blob: it is not in the vault yet.
    assert _pull_and_crash(vault_dir, intake, at_ack=1) == ["5", "0"]

    with Vault.unlock(vault_dir, PASSPHRASE) as reopened:
        assert case_view.count_cases(reopened) == 5, "the page was committed before the crash"
        assert len(intake.waiting(reopened)) == 5, "and never acknowledged"
        (pending,) = blob_store.pending_blobs(reopened)
        assert _chunks(reopened) == 0
        result = pull(reopened, intake.url)
        assert result.imported == []
        assert result.duplicates == 5
        assert result.attachments_caught_up == 1
        assert case_view.count_cases(reopened) == 5
        assert blob_store.pending_blobs(reopened) == []
        assert not intake.has_blob(reopened, pending.id)
        assert intake.waiting(reopened) == []
        for case in case_view.list_cases(reopened):
            case_view.check_case(reopened, case.id)


def test_a_crash_between_storing_a_blob_and_acknowledging_it_fetches_nothing_twice(
    vault: Vault, intake: Intake, vault_dir: Path
) -> None:
    send_envelope(intake.url, _report_with_file(vault, intake, os.urandom(100_000)))
    vault.close()
    # The first acknowledgement is the envelope's; the second is the blob's, once committed.
    assert _pull_and_crash(vault_dir, intake, at_ack=2) == ["0", "1"]

    with Vault.unlock(vault_dir, PASSPHRASE) as reopened:
        assert intake.waiting(reopened) == []
        (pending,) = blob_store.pending_blobs(reopened)
        assert intake.has_blob(reopened, pending.id)
        chunks = _chunks(reopened)
        assert chunks > 0, "the blob was committed before the crash"
        result = pull(reopened, intake.url)
        assert result.attachments_caught_up == 1
        assert _chunks(reopened) == chunks, "not fetched again"
        assert blob_store.pending_blobs(reopened) == []
        assert not intake.has_blob(reopened, pending.id)


def test_a_failing_acknowledgement_is_retried_by_the_next_pull(
    vault: Vault, intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        send_envelope(intake.url, seal_for(vault))

    def refused(self: IntakeClient, envelopes: list[str], blobs: list[str]) -> int:
        raise IntakeError(f"Could not reach the intake at {self.url}.")

    with monkeypatch.context() as patched:
        patched.setattr(IntakeClient, "ack", refused)
        with pytest.raises(IntakeError):
            pull(vault, intake.url)
    assert case_view.count_cases(vault) == 3
    result = pull(vault, intake.url)
    assert (len(result.imported), result.duplicates) == (0, 3)
    assert intake.waiting(vault) == []


# --- attachments ----------------------------------------------------------------------------


def test_an_attachment_comes_out_byte_for_byte(
    vault: Vault, intake: Intake, vault_dir: Path, tmp_path: Path
) -> None:
    photo = (CANARY.encode() + os.urandom(1000)) * 200 + b"odd tail" * 1001  # ~200 KiB + a tail
    send_envelope(intake.url, _report_with_file(vault, intake, photo))
    (case_id,) = pull(vault, intake.url).imported
    assert CANARY.encode() not in bytes_under(vault_dir)

    out = tmp_path / "letter.pdf"
    _, info = blob_store.write_attachment(vault, case_id, 1, out)
    assert out.read_bytes() == photo
    assert out.stat().st_mode & 0o777 == 0o600
    assert (info.name, info.type, info.size) == ("letter.pdf", "application/pdf", len(photo))
    history = case_view.show_case(vault, case_id).history
    assert [(h.action, h.detail) for h in history if h.action == "attachment"] == [
        ("attachment", "attachment 1 written to a file")
    ]


def test_an_attachment_missed_once_is_fetched_by_a_later_pull(
    vault: Vault, intake: Intake, tmp_path: Path
) -> None:
    data = b"%PDF-1.4 uploaded late " + os.urandom(70_000)
    entry, blob = attachment_entry(data, name="letter.pdf", kind="application/pdf")
    send_envelope(intake.url, seal_for(vault, make_report(attachments=[entry])))
    first = pull(vault, intake.url)
    (case_id,) = first.imported
    assert [type(e).__name__ for _, e in first.failures] == ["AttachmentUnavailableError"]
    assert intake.waiting(vault) == [], "the report is stored, so it is acknowledged"
    assert [a.held for a in case_view.show_case(vault, case_id).attachments] == [False]

    still = pull(vault, intake.url)
    assert (still.attachments_caught_up, still.attachments_missing) == (0, 1)
    assert still.failures == [], "reported once, not on every pull"

    assert intake.upload(blob) == entry["blob"]
    later = pull(vault, intake.url)
    assert (later.attachments_caught_up, later.attachments_missing) == (1, 0)
    assert blob_store.pending_blobs(vault) == []
    assert not intake.has_blob(vault, str(entry["blob"])), "acknowledged once stored"
    out = tmp_path / "letter.pdf"
    blob_store.write_attachment(vault, case_id, 1, out)
    assert out.read_bytes() == data
    assert pull(vault, intake.url).attachments_caught_up == 0


def test_a_tampered_attachment_is_refused_and_leaves_no_file(
    vault: Vault, intake: Intake, tmp_path: Path
) -> None:
    send_envelope(intake.url, _report_with_file(vault, intake, os.urandom(300_001)))
    (case_id,) = pull(vault, intake.url).imported
    (blob,) = [a.blob for a in case_view.show_case(vault, case_id).report.attachments]
    db = vault.db
    (data,) = db.execute("SELECT data FROM blob_chunks WHERE blob_id = ? AND n = 3", (blob,))
    changed = bytearray(data[0])
    changed[-1] ^= 0x01
    db.execute("UPDATE blob_chunks SET data = ? WHERE blob_id = ? AND n = 3", (changed, blob))
    out = tmp_path / "photo.jpg"
    with pytest.raises(IntegrityError, match="damaged or has been changed") as caught:
        blob_store.write_attachment(vault, case_id, 1, out)
    assert caught.value.exit_code == 4
    assert not out.exists()


def test_reports_naming_another_reports_upload_are_damage_on_their_own_case(
    cli: Cli, intakes: Callable[..., Intake], tmp_path: Path
) -> None:
    """A modified page (or one a lying intake misled) seals a report naming a blob another
    reporter's browser uploaded: with its own key (same size), or with another size. `vault
    pull` stores every report, says which cases' attachments are not theirs (exit 4), keeps
    the blob for the case it belongs to, and erasing the liars' cases leaves it whole."""
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    key = TeamPublicKey.from_file_bytes((tmp_path / "team-key.json").read_bytes())
    intake = intakes(key)
    letter = b"%PDF-1.4 the real letter " + os.urandom(150_000)
    entry, blob = attachment_entry(letter, name="letter.pdf", kind="application/pdf")
    assert intake.upload(blob) == entry["blob"]
    own_key = {**entry, "key": base64.b64encode(os.urandom(32)).decode()}
    other_size = {**entry, "size": 3 * len(letter)}
    for role, attachment in (("real", entry), ("own-key", own_key), ("other-size", other_size)):
        report = make_report(role=role, attachments=[attachment])
        send_envelope(intake.url, seal_report(report, key.epoch, key.public_key))

    pulled = cli("pull", "--from", intake.url)
    assert pulled.returncode == 4, pulled.stderr
    assert "Traceback" not in pulled.stderr
    assert "Pulled 3 new cases" in pulled.stderr
    cases = {
        json.loads(cli("cases", "show", c, "--json").stdout)["report"]["role"]: c
        for c in pulled.stdout.split()
    }
    assert set(cases) == {"real", "own-key", "other-size"}
    said = pulled.stderr
    assert f"vault: case {cases['own-key']}: Attachment 1 is not the file this report's" in said
    assert f"case {cases['other-size']}: " in said
    assert f"case {cases['real']}" not in said
    for _ in range(2):  # a wrong length first fetched is asked for once more, then named
        again = cli("pull", "--from", intake.url)
        if again.returncode == 0:
            break
        assert again.returncode == 4, again.stderr
        assert f"vault: case {cases['other-size']}: Attachment 1 is not the file" in again.stderr
    assert cli("pull", "--from", intake.url).returncode == 0
    with Vault.unlock(tmp_path / "vault-data", PASSPHRASE) as vault:
        assert blob_store.pending_blobs(vault) == []
    assert not intake.has_blob_for(tmp_path / "vault-data", str(entry["blob"]))

    for liar in ("own-key", "other-size"):
        refused = cli("cases", "attachment", cases[liar], "1", "--out", f"{liar}.pdf")
        assert_clean_error(refused, 4)
        erased = cli("cases", "erase", cases[liar], "--reason", "mistake")
        assert erased.returncode == 0, erased.stderr
    out = cli("cases", "attachment", cases["real"], "1", "--out", "real.pdf")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "real.pdf").read_bytes() == letter
    assert cli("check").returncode == 0


# --- replies --------------------------------------------------------------------------------


def test_a_reply_is_delivered_by_pull_and_opens_with_the_codename(
    vault: Vault, intake: Intake, vault_dir: Path
) -> None:
    codename = new_codename()
    typed = codename.upper().replace(" ", ", ")  # forgiving typing, as the page allows
    pk, sk = reply_keypair(codename_entropy(typed))
    report = make_report(reply_key=base64.b64encode(pk).decode())
    send_envelope(intake.url, seal_for(vault, report))
    (case_id,) = pull(vault, intake.url).imported
    vault.set_status(case_id, "supporting")

    message = f"REPLY-{CANARY} We can help with the complaint; write back any time."
    replies.reply(vault, case_id, message, share_status=True)
    replies.reply(vault, case_id, "A second message, status kept private.")
    view = case_view.show_case(vault, case_id)
    assert [(r.text, r.shared_status, r.delivered) for r in view.replies] == [
        (message, "supporting", False),
        ("A second message, status kept private.", None, False),
    ]
    assert intake.mailbox(mailbox_of(pk)) == []

    result = pull(vault, intake.url)
    assert result.replies_delivered == 2
    sealed = intake.mailbox(mailbox_of(pk))
    assert len(sealed) == 2
    first, second = (open_reply(s, pk, sk) for s in sealed)
    assert first["text"] == message
    assert first["status"] == "supporting"
    assert first["v"] == 1
    assert isinstance(first["date"], str)
    assert len(first["date"]) == 10
    assert "status" not in second
    assert all(r.delivered for r in case_view.show_case(vault, case_id).replies)
    assert pull(vault, intake.url).replies_delivered == 0
    assert len(intake.mailbox(mailbox_of(pk))) == 2

    stored = bytes_under(vault_dir)
    assert b"REPLY-" not in stored
    assert CANARY.encode() not in stored


def test_no_codename_means_no_reply(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    with pytest.raises(NoReplyKeyError) as caught:
        replies.reply(vault, case_id, "hello")
    assert str(caught.value) == (
        "This reporter did not take a codename, so there is no way to reply."
    )
    assert replies.queued_replies(vault) == []
    assert "reply" not in [h.action for h in case_view.show_case(vault, case_id).history]


# --- errors ---------------------------------------------------------------------------------


def test_an_intake_that_does_not_know_this_caseworker_is_a_wrong_key(
    vault: Vault, intakes: Callable[..., Intake]
) -> None:
    current = vault.team_key_export()
    stale = intakes(TeamPublicKey(current.epoch, current.public_key, ()))
    with pytest.raises(WrongKeyError, match="does not accept this caseworker's key") as caught:
        pull(vault, stale.url)
    assert caught.value.hint is not None
    assert "re-export the team key" in caught.value.hint


def test_an_unreachable_intake_is_one_plain_sentence(vault: Vault) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(IntakeError) as caught:
        pull(vault, url)
    assert str(caught.value) == f"Could not reach the intake at {url}."
    with pytest.raises(IntakeError):
        send_envelope(url, seal_for(vault))


# --- a hostile intake (played by a mock transport) -----------------------------------------


def _hostile(
    vault: Vault, pages: Callable[[dict[str, Any]], dict[str, Any]], blob: Callable[[str], Any]
) -> tuple[httpx.Client, list[Any]]:
    """A client whose "intake" answers pulls with ``pages`` and blobs with ``blob``."""
    asked: list[Any] = []

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/pull":
            asked.append(json.loads(request.content))
            if len(asked) > 20:
                raise AssertionError("the vault kept asking")
            return httpx.Response(200, json=pages(asked[-1]))
        if path.startswith("/api/blobs/"):
            asked.append(path)
            answer: httpx.Response = blob(path.rsplit("/", 1)[1])
            return answer
        if path == "/api/ack":
            asked.append(json.loads(request.content))
            return httpx.Response(200, json={"deleted": 0})
        return httpx.Response(200, json={"stored": 0})

    return httpx.Client(transport=httpx.MockTransport(handle)), asked


def _item(envelope: bytes) -> dict[str, str]:
    return {"id": envelope_id(envelope).hex(), "body": base64.b64encode(envelope).decode()}


def test_an_intake_that_never_stops_saying_more_is_stopped(vault: Vault) -> None:
    envelopes = sorted((seal_for(vault) for _ in range(2)), key=envelope_id)
    page = {"envelopes": [_item(envelopes[1])], "more": True}
    client, asked = _hostile(vault, lambda _: page, lambda _: httpx.Response(404))
    with pytest.raises(IntakeError, match="sent envelopes it had already sent") as caught:
        pull(vault, "http://127.0.0.1:9", client=client)
    assert str(caught.value).startswith("The intake at http://127.0.0.1:9 ")
    assert len([a for a in asked if "limit" in a]) == 2
    assert case_view.count_cases(vault) == 1, "what was pulled is stored"

    # Going backwards is no better than standing still.
    backwards = iter(
        [{"envelopes": [_item(envelopes[1])], "more": True}]
        + [{"envelopes": [_item(envelopes[0])], "more": True}] * 30
    )
    client, asked = _hostile(vault, lambda _: next(backwards), lambda _: httpx.Response(404))
    with pytest.raises(IntakeError, match="already sent"):
        pull(vault, "http://127.0.0.1:9", client=client)
    # A cursor that is not an envelope id is not understood.
    odd = {"envelopes": [{"id": "zz", "body": ""}], "more": True}
    client, _ = _hostile(vault, lambda _: odd, lambda _: httpx.Response(404))
    with pytest.raises(IntakeError, match="does not understand"):
        pull(vault, "http://127.0.0.1:9", client=client)


def test_a_blob_longer_than_its_report_allows_is_not_read(vault: Vault) -> None:
    data = os.urandom(5000)
    entry, blob = attachment_entry(data, name="a.bin", kind="application/octet-stream")
    envelope = seal_for(vault, make_report(attachments=[entry]))
    read: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            read.append(1 << 20)
            yield bytes(1 << 20)

    def declared_huge(_: str) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(1 << 40)}, content=endless())

    pages = {"envelopes": [_item(envelope)], "more": False}
    client, asked = _hostile(vault, lambda _: pages, declared_huge)
    result = pull(vault, "http://127.0.0.1:9", client=client)
    assert [type(e).__name__ for _, e in result.failures] == ["IntegrityError"]
    assert read == [], "refused from its declared length, before any of it was read"
    assert all(a.get("blobs", []) == [] for a in asked if isinstance(a, dict))
    assert [p.id for p in blob_store.pending_blobs(vault)] == [entry["blob"]]

    # Sent compressed (a small download that inflates hugely): taken as sent, in small pieces.
    bomb = gzip.compress(bytes(64 << 20))

    def compressed(_: str) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=iter([bomb]))

    client, _ = _hostile(vault, lambda _: pages, compressed)
    with IntakeClient("http://127.0.0.1:9", vault.identity, client) as intake:
        pieces = [len(p) for p in intake.blob(str(entry["blob"]), 1 << 20)]
    assert sum(pieces) == len(bomb), "the bytes as sent, never inflated"
    assert max(pieces) <= BLOB_PIECE

    # Without a length, reading stops one piece past what the report allows.
    def undeclared(_: str) -> httpx.Response:
        return httpx.Response(200, content=endless())

    read.clear()
    client, _ = _hostile(vault, lambda _: pages, undeclared)
    assert pull(vault, "http://127.0.0.1:9", client=client).attachments_missing == 1
    assert len(read) <= 2
    assert [p.id for p in blob_store.pending_blobs(vault)] == [entry["blob"]]

    # The right bytes, later, are stored and acknowledged.
    client, asked = _hostile(
        vault, lambda _: pages, lambda _: httpx.Response(200, content=iter([blob]))
    )
    assert pull(vault, "http://127.0.0.1:9", client=client).attachments_caught_up == 1
    assert {"envelopes": [], "blobs": [entry["blob"]]} in asked
    assert blob_store.pending_blobs(vault) == []


# --- the real command, end to end -----------------------------------------------------------


@pytest.mark.slow
def test_the_commands_end_to_end(cli: Cli, intakes: Callable[..., Intake], tmp_path: Path) -> None:
    assert cli("init", "--name", "amara").returncode == 0
    assert cli("team-key", "export", "team-key.json").returncode == 0
    key = TeamPublicKey.from_file_bytes((tmp_path / "team-key.json").read_bytes())
    intake = intakes(key)

    pk, sk = reply_keypair(codename_entropy(new_codename()))
    report = tmp_path / "report.json"
    report.write_text(json.dumps(report_data(reply_key=base64.b64encode(pk).decode())))
    sent = cli("submit", "--team-key", "team-key.json", "--to", intake.url, str(report))
    assert sent.returncode == 0, sent.stderr
    assert "sent it to" in sent.stderr
    both = cli("submit", "--team-key", "team-key.json", "--to", intake.url, "--out", "x.env")
    assert_clean_error(both, 2)
    neither = cli("submit", "--team-key", "team-key.json", str(report))
    assert_clean_error(neither, 2)

    damaged = bytearray(seal_report(make_report(), key.epoch, key.public_key))
    damaged[300] ^= 0x01
    send_envelope(intake.url, bytes(damaged))

    pulled = cli("pull", "--from", intake.url)
    assert pulled.returncode == 0, pulled.stderr
    assert "Pulled 1 new case, 0 already in the vault; delivered 0 replies." in pulled.stderr
    assert "1 envelope could not be opened and was kept in quarantine (1 damaged)." in pulled.stderr
    case_id = pulled.stdout.split()[0]

    replied = cli("cases", "reply", case_id, "We have your report.", "--share-status")
    assert replied.returncode == 0, replied.stderr
    assert "next vault pull" in replied.stderr
    pulled = cli("pull", "--from", intake.url)
    assert "0 new cases, 0 already in the vault; delivered 1 reply." in pulled.stderr
    assert "1 envelope from earlier pulls could not be opened and is kept in quarantine." in (
        pulled.stderr
    )
    (sealed,) = intake.mailbox(mailbox_of(pk))
    assert open_reply(sealed, pk, sk)["status"] == "new"

    shown = json.loads(cli("cases", "show", case_id, "--json").stdout)
    assert shown["replies"][0]["text"] == "We have your report."
    assert shown["replies"][0]["delivered"] is True
    assert shown["attachments"] == []
    text = cli("cases", "show", case_id).stdout
    assert "Conversation with the reporter" in text
    assert "(delivered, shared status new): We have your report." in text

    no_file = cli("cases", "attachment", case_id, "1", "--out", "a.bin")
    assert_clean_error(no_file, 2)
    assert "has no attachments" in no_file.stderr

    stale = intakes(TeamPublicKey(key.epoch, key.public_key, ()), name="stale")
    refused = cli("pull", "--from", stale.url)
    assert_clean_error(refused, 3)
    assert "hint: re-export the team key" in refused.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = cli("pull", "--from", f"http://127.0.0.1:{port}")
    assert_clean_error(gone, 1)
    assert f"Could not reach the intake at http://127.0.0.1:{port}." in gone.stderr
    assert_clean_error(cli("pull", "--from", "ftp://example.org"), 2)


@pytest.mark.slow
def test_attachment_and_reply_commands_explain_themselves(cli: Cli) -> None:
    for command in (("cases", "attachment"), ("cases", "reply"), ("pull",), ("submit",)):
        shown = cli(*command, "--help")
        assert shown.returncode == 0
    help_text = cli("cases", "attachment", "--help").stdout
    assert "in clear" in help_text
    assert "600" in help_text


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://intake.example.org", True),
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000/", True),
        ("http://abcdefghijklmnop.onion", True),
        ("http://intake.example.org", False),
        ("ftp://intake.example.org", False),
    ],
)
def test_plain_http_only_to_this_computer_or_onion(url: str, ok: bool) -> None:
    from vault.errors import UsageError
    from vault.pull import check_intake_url

    if ok:
        assert check_intake_url(url) == url.rstrip("/")
    else:
        with pytest.raises(UsageError):
            check_intake_url(url)
