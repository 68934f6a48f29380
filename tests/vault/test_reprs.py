"""What a caseworker reads never shows in a repr or str: case views, notes, replies, reports,
queued replies and passphrases print an id or a count, never their text."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import CANARY, make_report, seal_for
from tests.sealing import codename_entropy, new_codename, reply_keypair
from vault import case_view, incoming, replies
from vault.store import Vault


def test_case_views_notes_and_replies_hide_their_text(vault: Vault) -> None:
    pk, _sk = reply_keypair(codename_entropy(new_codename()))
    report = make_report(
        reply_key=base64.b64encode(pk).decode(),
        contact={"method": "phone", "value": f"07700 900123 {CANARY}"},
    )
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault, report))]).imported[0]
    vault.add_note(case_id, f"note {CANARY}")
    replies.reply(vault, case_id, f"reply {CANARY}")
    view = case_view.show_case(vault, case_id)
    assert view.notes
    assert view.replies
    shown = [view, view.report, *view.notes, *view.replies, *replies.queued_replies(vault)]
    for thing in shown:
        assert CANARY not in repr(thing), type(thing).__name__
        assert CANARY not in str(thing), type(thing).__name__


@pytest.mark.parametrize("text", ["note", "reply"])
def test_history_entries_say_what_was_done_never_what_was_said(vault: Vault, text: str) -> None:
    case_id = incoming.import_envelopes(vault, [("a", seal_for(vault))]).imported[0]
    vault.add_note(case_id, f"{text} {CANARY}")
    view = case_view.show_case(vault, case_id)
    assert all(CANARY not in repr(h) for h in view.history)


def test_a_reports_contact_and_attachments_hide_what_they_hold() -> None:
    key = base64.b64encode(bytes(range(32))).decode()
    attachment = {"name": f"letter-{CANARY}.pdf", "type": "application/pdf", "size": 10}
    report = make_report(
        contact={"method": "email", "value": f"{CANARY}@example.org"},
        attachments=[{**attachment, "key": key, "blob": "ab" * 32}],
    )
    assert report.contact is not None
    for thing in (report.contact, *report.attachments):
        for shown in (repr(thing), str(thing)):
            assert CANARY not in shown
            assert key not in shown
