"""Replies without a network: sealing to the codename key, the outbox, and nothing in clear."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.conftest import CANARY, bytes_under, make_report, seal_for
from tests.sealing import codename_entropy, mailbox_of, new_codename, open_reply, reply_keypair
from vault import case_view, incoming, replies
from vault import db as dbmod
from vault.errors import UsageError, VaultError
from vault.replies import UnusableReplyKeyError, mailbox_id
from vault.store import Vault


def _case_with_codename(vault: Vault) -> tuple[str, bytes, bytes]:
    pk, sk = reply_keypair(codename_entropy(new_codename()))
    report = make_report(reply_key=base64.b64encode(pk).decode())
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault, report))]).imported[0]
    return case_id, pk, sk


def test_a_queued_reply_is_sealed_to_the_codename_and_never_in_clear(
    vault: Vault, vault_dir: Path
) -> None:
    case_id, pk, sk = _case_with_codename(vault)
    text = f"REPLY {CANARY} call us on the usual number"
    replies.reply(vault, case_id, f"  {text}\n")
    (queued,) = replies.queued_replies(vault)
    assert queued.mailbox == mailbox_of(pk) == mailbox_id(pk)
    opened = open_reply(queued.body, pk, sk)
    assert opened["text"] == text
    assert "status" not in opened
    assert len(queued.body) == 2048 + 48, "short replies are padded to one size"
    # The WAL holds the recent pages while the vault is open: it is scanned too.
    stored = bytes_under(vault_dir)
    assert CANARY.encode() not in stored
    assert b"usual number" not in stored
    view = case_view.show_case(vault, case_id)
    assert [r.text for r in view.replies] == [text]
    assert view.to_json()["replies"][0]["delivered"] is False
    case_view.check_case(vault, case_id)


def test_replies_are_checked_and_the_outbox_only_moves_forward(vault: Vault) -> None:
    case_id, _, _ = _case_with_codename(vault)
    with pytest.raises(UsageError):
        replies.reply(vault, case_id, "   ")
    with pytest.raises(UsageError):
        replies.reply(vault, case_id, "x" * 20_001)
    replies.reply(vault, case_id, "x" * 20_000)  # the longest allowed still seals
    (queued,) = replies.queued_replies(vault)
    replies.mark_delivered(vault, [queued.id])
    assert replies.queued_replies(vault) == []
    db = vault.db
    with pytest.raises(dbmod.DatabaseError):
        db.execute("UPDATE replies SET delivered = 0")
    with pytest.raises(dbmod.DatabaseError):
        db.execute("UPDATE replies SET body = zeroblob(3000)")
    with pytest.raises(dbmod.DatabaseError):
        db.execute("UPDATE replies SET mailbox = 'zz'")


@pytest.mark.parametrize(
    "hostile",
    [
        bytes(32),  # all zeros
        bytes([1]) + bytes(31),  # u = 1, a low-order point
        bytes.fromhex(
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"
        ),  # order 8
    ],
)
def test_a_reply_key_no_codename_gives_is_refused_plainly(vault: Vault, hostile: bytes) -> None:
    report = make_report(reply_key=base64.b64encode(hostile).decode())
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault, report))]).imported[0]
    with pytest.raises(UnusableReplyKeyError) as caught:
        replies.reply(vault, case_id, "hello")
    assert isinstance(caught.value, VaultError)
    assert str(caught.value) == (
        "This report's reply key cannot be used, so there is no way to reply."
    )
    assert replies.queued_replies(vault) == []
    assert "reply" not in [h.action for h in case_view.show_case(vault, case_id).history]
    case_view.check_case(vault, case_id)
