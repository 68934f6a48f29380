"""Reporters' answers and withdrawal requests: the format, the checks, erasure's part."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CANARY, bytes_under, make_report, seal_for
from tests.sealing import codename_keys, new_codename, open_reply
from vault import _crypto, case_view, incoming, replies, reporter_messages
from vault.envelope import envelope_id
from vault.errors import (
    ForgedMessageError,
    IntegrityError,
    MessageRefused,
    UnknownReporterError,
    VaultError,
)
from vault.reporter_messages import MAX_MESSAGE, MAX_TEXT, PREFIX_BYTES, check_signed, seal_message
from vault.store import Vault

TEAM_PK, TEAM_SK = _crypto.box_keypair()


def _seed(seed: bytes) -> _crypto.SecretBytes:
    return _crypto.SecretBytes(seed, "codename signing seed")


def _case(vault: Vault, *, signing: bool = True) -> tuple[str, tuple[bytes, bytes, bytes, bytes]]:
    keys = codename_keys(new_codename())
    fields = {"reply_key": base64.b64encode(keys[0]).decode()}
    if signing:
        fields["reply_signing_key"] = base64.b64encode(keys[2]).decode()
    envelope = seal_for(vault, make_report(**fields))
    case_id = incoming.import_envelopes(vault, [("a", envelope)]).imported[0]
    return case_id, keys


def _message(
    vault: Vault,
    seed: bytes,
    kind: str,
    text: str | None = None,
    sent: str | None = None,
    after: int = 0,
) -> bytes:
    team = vault.access.current
    return seal_message(kind, text, _seed(seed), team.epoch, team.public_key, sent, after)  # type: ignore[arg-type]


# --- the format --------------------------------------------------------------------------


def test_a_message_is_padded_signed_and_checks() -> None:
    seed = bytes(range(32))
    body = seal_message("answer", "yes, call me", _seed(seed), 3, TEAM_PK)
    assert len(body) == PREFIX_BYTES + 48 + 2048, "short messages are one size"
    parts = check_signed(body)
    assert parts.epoch == 3
    assert parts.signing_key == _crypto.sign_public_from_seed(_seed(seed))
    opened = reporter_messages.open_message(parts, TEAM_PK, TEAM_SK)
    assert (opened.kind, opened.text) == ("answer", "yes, call me")
    longest = seal_message("answer", "\x01" * MAX_TEXT, _seed(seed), 3, TEAM_PK)
    assert len(longest) <= MAX_MESSAGE, "the longest answer, every character escaped, fits"


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_changed_byte_is_refused(data: st.DataObject) -> None:
    body = bytearray(seal_message("withdrawal", None, _seed(b"\x07" * 32), 1, TEAM_PK))
    at = data.draw(st.integers(0, len(body) - 1))
    body[at] ^= data.draw(st.integers(1, 255))
    with pytest.raises(MessageRefused) as refused:
        check_signed(bytes(body))
    assert refused.value.reason in ("malformed", "bad-signature")


@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_pass(junk: bytes) -> None:
    with pytest.raises(MessageRefused):
        check_signed(junk)


def test_unsigned_oversize_and_unpadded_are_refused_with_their_reason() -> None:
    body = seal_message("answer", "hello", _seed(b"\x01" * 32), 1, TEAM_PK)
    unsigned = body[: PREFIX_BYTES - 64] + bytes(64) + body[PREFIX_BYTES:]
    with pytest.raises(MessageRefused) as e:
        check_signed(unsigned)
    assert e.value.reason == "bad-signature"
    # Unsigned also when the signature, or the signing key and signature, are left out.
    for cut in (PREFIX_BYTES - 64, PREFIX_BYTES - 96):
        with pytest.raises(MessageRefused) as e:
            check_signed(body[:cut] + body[PREFIX_BYTES:])
        assert e.value.reason == "bad-signature"
    with pytest.raises(MessageRefused) as e:
        check_signed(body[:-1])
    assert e.value.reason == "malformed"
    with pytest.raises(MessageRefused) as e:
        check_signed(body + bytes(MAX_MESSAGE))
    assert e.value.reason == "too-large"
    with pytest.raises(MessageRefused) as e:
        check_signed(body + b"\x00")
    assert e.value.reason == "malformed"


@pytest.mark.parametrize(
    "inside",
    [
        b'{"v":1,"kind":"answer","sent":"2026-01-02","after":0}',
        b'{"v":1,"kind":"answer","sent":"2026-01-02","after":0,"text":"  "}',
        b'{"v":2,"kind":"withdrawal","sent":"2026-01-02","after":0}',
        b'{"v":true,"kind":"withdrawal","sent":"2026-01-02","after":0}',
        b'{"v":1,"kind":"withdrawal","sent":"2026-01-02","after":0,"x":1}',
        b'{"v":1,"kind":"withdrawal","after":0}',
        b'{"v":1,"kind":"withdrawal","sent":"yesterday","after":0}',
        b'{"v":1,"kind":"withdrawal","sent":"2026-01-02T10:00:00.000Z","after":0}',
        b'{"v":1,"kind":"withdrawal","sent":"2026-01-02"}',
        b'{"v":1,"kind":"withdrawal","sent":"2026-01-02","after":-1}',
        b'{"v":1,"kind":"withdrawal","sent":"2026-01-02","after":true}',
        b"[]",
        b"\xff",
    ],
)
def test_what_is_inside_must_be_a_message(inside: bytes) -> None:
    """A message signed by the reporter but with something else sealed inside is damaged."""
    from vault.envelope import pad
    from vault.reporter_messages import HEADER, MAGIC, SIGNED_PURPOSE, VERSION

    seed = _seed(b"\x02" * 32)
    header = HEADER.pack(MAGIC, VERSION, 1, b"\x00" * 8)
    pk = _crypto.sign_public_from_seed(seed)
    sealed = _crypto.seal(pad(inside), TEAM_PK)
    body = header + pk + _crypto.sign(SIGNED_PURPOSE + header + pk + sealed, seed) + sealed
    parts = check_signed(body)
    with pytest.raises(ForgedMessageError):
        reporter_messages.open_message(parts, TEAM_PK, TEAM_SK)


# --- the vault ---------------------------------------------------------------------------------


def test_an_answer_and_a_withdrawal_join_the_conversation(vault: Vault, vault_dir: Path) -> None:
    case_id, (reply_pk, reply_sk, _signing_pk, seed) = _case(vault)
    other_id, _ = _case(vault)
    replies.reply(vault, case_id, "We have read your report. Can we call you?")
    (queued,) = replies.queued_replies(vault)
    assert open_reply(queued.body, reply_pk, reply_sk)["can_answer"] is True

    answer = _message(vault, seed, "answer", f"Yes, after six. {CANARY}", "2026-01-02", 1)
    withdrawal = _message(vault, seed, "withdrawal", None, "2026-01-02", 1)
    # Taken in the order the reporter sent them, whatever order the intake gives them in.
    taken = reporter_messages.take_pulled(vault, [withdrawal, answer, answer])
    assert (taken.answers, taken.withdrawals, taken.duplicates) == (1, 1, 1)
    assert taken.refused == []
    ids = [envelope_id(m).hex() for m in (withdrawal, answer, answer)]
    assert taken.held == ids

    listed = {c.id: c for c in case_view.list_cases(vault)}
    assert listed[case_id].withdrawal_requested is True
    assert listed[other_id].withdrawal_requested is False
    assert listed[case_id].to_json()["withdrawal_requested"] is True

    view = case_view.show_case(vault, case_id)
    shown = view.to_json()
    assert [(c["from"], c["kind"]) for c in shown["conversation"]] == [
        ("caseworker", "reply"),
        ("reporter", "answer"),
        ("reporter", "withdrawal"),
    ]
    assert shown["conversation"][1]["text"] == f"Yes, after six. {CANARY}"
    assert shown["withdrawal_requested"] is True
    assert [h["action"] for h in shown["history"]].count("reporter-message") == 2
    case_view.check_case(vault, case_id)
    # The answer is kept only as it arrived: sealed to the team key.
    assert CANARY.encode() not in bytes_under(vault_dir)


def test_forged_and_unknown_messages_are_refused_and_nothing_else_is_lost(vault: Vault) -> None:
    case_id, (_, _, _, seed) = _case(vault)
    old_id, (_, _, _, old_seed) = _case(vault, signing=False)
    good = _message(vault, seed, "answer", "the real one")
    stranger = _message(vault, b"\x09" * 32, "withdrawal")  # a key no report carries
    for_old = _message(vault, old_seed, "answer", "my report had no signing key")
    tampered = bytearray(_message(vault, seed, "answer", "changed on the way"))
    tampered[-1] ^= 1
    taken = reporter_messages.take_pulled(vault, [stranger, bytes(tampered), good, for_old])
    assert (taken.answers, taken.withdrawals) == (1, 0)
    reasons = [type(e) for _, e in taken.refused]
    assert reasons == [UnknownReporterError, ForgedMessageError, UnknownReporterError]
    assert [e.exit_code for _, e in taken.refused] == [1, 4, 1]
    assert all("\n" not in str(e) for _, e in taken.refused)
    assert len(taken.held) == 4, "refused ones are not kept, so the intake may let them go"
    assert [c.kind for c in case_view.show_case(vault, case_id).conversation] == ["answer"]
    assert case_view.show_case(vault, old_id).conversation == ()
    assert not any(c.withdrawal_requested for c in case_view.list_cases(vault))


def test_a_changed_stored_message_is_caught(vault: Vault) -> None:
    case_id, (_, _, _, seed) = _case(vault)
    reporter_messages.take_pulled(vault, [_message(vault, seed, "answer", "hello")])
    with vault.transaction() as db:
        (body,) = db.execute("SELECT message FROM reporter_messages").fetchone()
        other = _message(vault, seed, "answer", "not what they said")
        db.execute("UPDATE reporter_messages SET message = ?", (other,))
    with pytest.raises(IntegrityError):
        case_view.show_case(vault, case_id)
    assert body != other


# --- erasure's part ------------------------------------------------------------------------


def test_before_erase_queues_the_last_reply_and_erase_rows_forgets_the_codename(
    vault: Vault,
) -> None:
    case_id, (reply_pk, reply_sk, _, seed) = _case(vault)
    plain_id, _ = _case(vault, signing=False)
    reporter_messages.take_pulled(vault, [_message(vault, seed, "withdrawal")])
    with vault.transaction():  # as erasure calls them: inside its transaction
        reporter_messages.before_erase(vault, case_id, "withdrawn")
        reporter_messages.erase_case_rows(vault, case_id)
    (farewell,) = reporter_messages.queued_farewells(vault)
    opened = open_reply(farewell.body, reply_pk, reply_sk)
    assert opened["status"] == "erased"
    assert "withdrawn and erased" in str(opened["text"])
    count = vault.db.execute("SELECT count(*) FROM reporter_messages WHERE case_id = ?", (case_id,))
    assert count.fetchone()[0] == 0
    noted = vault.db.execute("SELECT count(*) FROM codename_keys WHERE case_id = ?", (case_id,))
    assert noted.fetchone()[0] == 0, "the codename's key is forgotten with the case"
    # Outside a transaction they make their own; another reason says only "erased".
    reporter_messages.before_erase(vault, plain_id, "retention")
    second = reporter_messages.queued_farewells(vault)[1]
    assert second.mailbox != farewell.mailbox
    reporter_messages.mark_farewells_delivered(
        vault, [f.id for f in reporter_messages.queued_farewells(vault)]
    )
    assert reporter_messages.queued_farewells(vault) == []


def test_a_case_without_a_codename_gets_no_farewell(vault: Vault) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault, make_report()))]).imported[0]
    reporter_messages.before_erase(vault, case_id, "withdrawn")
    assert reporter_messages.queued_farewells(vault) == []
    with pytest.raises(VaultError):
        reporter_messages.message_json("answer")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(range(4)))
def test_one_pull_takes_messages_in_the_order_they_were_sent(
    vault: Vault, order: list[int]
) -> None:
    """Whatever order the intake gives them in, the conversation follows the reporter's."""
    case_id, (_, _, _, seed) = _case(vault)
    sent = [  # two days; replies read 0, 1, then 1, 2
        _message(vault, seed, "answer", f"answer {i}", f"2026-01-0{2 + i // 2}", (i + 1) // 2)
        for i in range(4)
    ]
    reporter_messages.take_pulled(vault, [sent[i] for i in order])
    said = [c.text for c in case_view.show_case(vault, case_id).conversation]
    assert said == [f"answer {i}" for i in range(4)]
