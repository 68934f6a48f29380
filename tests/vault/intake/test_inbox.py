"""The inbox on its own: a real SQLCipher file, days not times, and its housekeeping."""

from __future__ import annotations

import os
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.sealing import blob_id as sealed_blob_id
from tests.vault.intake.conftest import Team
from vault import _crypto
from vault.envelope import envelope_id
from vault.errors import UnsafePermissionsError, VaultError, WrongKeyError
from vault.intake.inbox import ROW_BYTES, Inbox, today


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    with Inbox.open(tmp_path / "data") as box:
        yield box  # type: ignore[misc]


def blob_of(inbox: Inbox, data: bytes, piece: int = 100_000) -> bytes:
    upload = inbox.add_blob()
    for start in range(0, len(data), piece):
        upload.write(data[start : start + piece])
    return upload.finish()


def test_first_open_makes_a_private_directory_key_and_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Inbox.open(data).close()
    assert (data.stat().st_mode & 0o777) == 0o700
    assert len((data / "inbox.key").read_bytes()) == 32
    for name in ("inbox.key", "inbox.db"):
        assert ((data / name).stat().st_mode & 0o777) == 0o600
    assert not (data / "inbox.db").read_bytes().startswith(b"SQLite format 3")
    Inbox.open(data).close()  # and opens again with the same key


def test_the_inbox_refuses_a_lost_or_wrong_key_and_loose_permissions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Inbox.open(data).close()
    key = (data / "inbox.key").read_bytes()
    (data / "inbox.key").unlink()
    with pytest.raises(VaultError, match="lost its key file"):
        Inbox.open(data)
    (data / "inbox.key").write_bytes(bytes(32))
    os.chmod(data / "inbox.key", 0o600)
    with pytest.raises(WrongKeyError):
        Inbox.open(data)
    (data / "inbox.key").write_bytes(key)
    os.chmod(data / "inbox.key", 0o644)
    with pytest.raises(UnsafePermissionsError):
        Inbox.open(data)


def test_secure_delete_and_wal_are_on(inbox: Inbox) -> None:
    db = inbox._db
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_envelopes_are_keyed_by_id_and_carry_only_a_day(inbox: Inbox, team: Team) -> None:
    envelope = team.seal()
    assert inbox.add_envelope(envelope) == envelope_id(envelope)
    assert inbox.add_envelope(envelope) == envelope_id(envelope)
    [(received,)] = inbox._db.execute("SELECT received FROM envelopes").fetchall()
    assert received == today().isoformat()
    assert inbox.pull(10) == ([(envelope_id(envelope), envelope)], False)


def test_pull_pages_by_count_and_by_id(inbox: Inbox, team: Team) -> None:
    ids = sorted(inbox.add_envelope(team.seal()) for _ in range(4))
    page, more = inbox.pull(3)
    assert [i for i, _ in page] == ids[:3]
    assert more
    page, more = inbox.pull(3, after=ids[2])
    assert [i for i, _ in page] == ids[3:]
    assert not more


def test_a_blob_is_stored_in_rows_and_read_back_in_order(inbox: Inbox) -> None:
    data = _crypto.random_bytes(2 * ROW_BYTES + 12_345)
    blob_id = blob_of(inbox, data)
    assert blob_id.hex() == sealed_blob_id(data)
    assert inbox.blob_size(blob_id) == len(data)
    chunks = list(inbox.blob_chunks(blob_id))
    assert [len(c) for c in chunks] == [ROW_BYTES, ROW_BYTES, 12_345]
    assert b"".join(chunks) == data
    assert list(inbox.blob_chunks(bytes(32))) == []
    assert inbox.blob_size(bytes(32)) is None


def test_the_same_blob_twice_is_kept_once_and_an_aborted_one_leaves_nothing(inbox: Inbox) -> None:
    data = _crypto.random_bytes(5000)
    assert blob_of(inbox, data) == blob_of(inbox, data)
    upload = inbox.add_blob()
    upload.write(b"half a file")
    upload.abort()
    assert inbox._db.execute("SELECT count(*) FROM uploads").fetchone()[0] == 1
    assert inbox._db.execute("SELECT count(*) FROM chunks").fetchone()[0] == 1


def test_ack_deletes_envelopes_and_blobs(inbox: Inbox, team: Team) -> None:
    kept, gone = inbox.add_envelope(team.seal()), inbox.add_envelope(team.seal())
    blob_id = blob_of(inbox, b"x" * 3000)
    assert inbox.ack([gone, bytes(32)], [blob_id]) == 2
    assert [i for i, _ in inbox.pull(10)[0]] == [kept]
    assert inbox._db.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0


def test_replies_are_kept_in_order_once_each(inbox: Inbox) -> None:
    box, other = b"\x01" * 16, b"\x02" * 16
    assert inbox.add_replies([(box, b"first"), (box, b"second"), (other, b"else")]) == 3
    assert inbox.add_replies([(box, b"first")]) == 1
    assert inbox.mailbox(box) == [b"first", b"second"]
    assert inbox.mailbox(b"\x03" * 16) == []


def test_a_nonce_is_remembered_until_it_expires(inbox: Inbox) -> None:
    now = 1_800_000_000.0
    nonce = "ab" * 16
    assert inbox.nonce_seen_or_remember(nonce, now) is False
    assert inbox.nonce_seen_or_remember(nonce, now + 599) is True
    inbox.purge_old(now=now + 300)
    assert inbox.nonce_seen_or_remember(nonce, now + 601) is True  # still within its minute
    inbox.purge_old(now=now + 2000)
    assert inbox._db.execute("SELECT count(*) FROM nonces").fetchone()[0] == 0
    assert inbox.nonce_seen_or_remember(nonce, now + 2000) is False


def test_housekeeping_expires_old_blobs_and_replies_but_never_envelopes(
    inbox: Inbox, team: Team
) -> None:
    blob_id = blob_of(inbox, b"y" * 3000)
    unfinished = inbox.add_blob()
    unfinished.write(b"cut off by a crash")
    inbox.add_replies([(b"\x01" * 16, b"reply")])
    day = today()

    inbox.purge_old(day + timedelta(days=1))  # an upload may run past midnight: kept
    assert inbox._db.execute("SELECT count(*) FROM uploads").fetchone()[0] == 2
    inbox.purge_old(day + timedelta(days=2))  # but not for a whole day: a crash left it
    assert inbox._db.execute("SELECT count(*) FROM uploads").fetchone()[0] == 1
    inbox.purge_old(day + timedelta(days=7))
    assert inbox.blob_size(blob_id) == 3000
    inbox.purge_old(day + timedelta(days=8))
    assert inbox.blob_size(blob_id) is None
    assert inbox.mailbox(b"\x01" * 16) == [b"reply"]
    inbox.purge_old(day + timedelta(days=91))
    assert inbox.mailbox(b"\x01" * 16) == []
    envelope = inbox.add_envelope(team.seal())
    inbox.purge_old(day + timedelta(days=3650))
    assert [i for i, _ in inbox.pull(10)[0]] == [envelope]


def set_day(inbox: Inbox, table: str, day: date) -> None:
    inbox._db.execute(f"UPDATE {table} SET received = ?", (day.isoformat(),))  # noqa: S608


def test_a_blob_is_kept_while_a_report_that_may_name_it_waits(inbox: Inbox, team: Team) -> None:
    day = today()
    blob_id = blob_of(inbox, b"z" * 3000)
    set_day(inbox, "uploads", day - timedelta(days=1))  # uploaded the evening before
    inbox.add_envelope(team.seal())  # its report, sent today and never pulled
    inbox.purge_old(day + timedelta(days=30))
    assert inbox.blob_size(blob_id) == 3000
    # Only once the oldest waiting report is from more than a day after the blob's day.
    set_day(inbox, "envelopes", day)
    inbox.purge_old(day + timedelta(days=30))
    assert inbox.blob_size(blob_id) == 3000
    set_day(inbox, "envelopes", day + timedelta(days=1))
    inbox.purge_old(day + timedelta(days=30))
    assert inbox.blob_size(blob_id) is None


def test_a_blob_goes_by_age_alone_once_no_report_waits(inbox: Inbox, team: Team) -> None:
    day = today()
    envelope = inbox.add_envelope(team.seal())
    blob_id = blob_of(inbox, b"w" * 3000)
    inbox.purge_old(day + timedelta(days=8))
    assert inbox.blob_size(blob_id) == 3000  # its report still waits
    inbox.ack([envelope], [])
    inbox.purge_old(day + timedelta(days=7))
    assert inbox.blob_size(blob_id) == 3000
    inbox.purge_old(day + timedelta(days=8))
    assert inbox.blob_size(blob_id) is None


def test_the_inbox_can_be_used_from_many_threads(inbox: Inbox, team: Team) -> None:
    envelopes = [team.seal() for _ in range(40)]
    errors: list[BaseException] = []

    def add(chunk: list[bytes]) -> None:
        try:
            for e in chunk:
                inbox.add_envelope(e)
                inbox.pull(5)
        except BaseException as e:  # pragma: no cover: reported below
            errors.append(e)

    threads = [threading.Thread(target=add, args=(envelopes[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(inbox.pull(100)[0]) == 40
