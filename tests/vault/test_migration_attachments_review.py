"""Review of issue 15 (seal15): a schema-12 vault's attachments after migration 13, in real
SQLCipher files. Both faults it found are fixed (vault/blobs.py: a failed fetch asks for the
blob for every case naming it; the old cases are listed one report at a time), and so are
review 15f's two (listing an old case wants each file of it the vault lacks; a pull lists in a
transaction of its own, so the openings stay logged if the intake breaks)."""

from __future__ import annotations

import os
import shutil
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, make_report, seal_for
from tests.sealing import attachment_entry
from tests.vault.test_migrations import _as_of_schema
from vault import blobs, case_view, erasure, incoming
from vault.attachments import sealed_length
from vault.errors import IntakeError
from vault.store import Vault

Made = tuple[str, str, dict[str, object], bytes]


@pytest.fixture(scope="module")
def schema_12(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Made]:
    """Made once for the module; each test takes a copy (:func:`_schema_12_liar_and_real`)."""
    made = tmp_path_factory.mktemp("schema-12") / "vault-data"
    with pytest.MonkeyPatch.context() as monkeypatch:
        return made, _make_schema_12(made, monkeypatch)


@pytest.fixture
def liar_and_real(schema_12: tuple[Path, Made], vault_dir: Path) -> Made:
    """A schema-12 vault where a liar's report (another's upload, a false size) took the one
    pending row of the real report's blob: (liar, real, real entry, the real blob)."""
    shutil.copytree(schema_12[0], vault_dir)
    return schema_12[1]


def _make_schema_12(vault_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Made:
    data = b"the real letter " * 3000
    entry, blob = attachment_entry(data)
    liar_entry = {**entry, "size": 5 * len(data)}
    with monkeypatch.context() as old:
        _as_of_schema(old, 12)
        with Vault.create(vault_dir, "amara", PASSPHRASE) as v12:
            liar, real = incoming.import_envelopes(
                v12,
                [
                    ("liar", seal_for(v12, make_report(role="liar", attachments=[liar_entry]))),
                    ("real", seal_for(v12, make_report(role="real", attachments=[entry]))),
                ],
            ).imported
            # As schema 12's pull left it: one row per blob id, the first report's length.
            v12.db.execute(
                "INSERT INTO pending_blobs (id, case_id, length) VALUES (?, ?, ?)",
                (entry["blob"], liar, sealed_length(5 * len(data))),
            )
    return liar, real, entry, blob


def _pull_three_times(v13: Vault, blob: bytes) -> None:
    for _pull in range(3):  # three pulls, the intake holding the real blob each time
        for pending in blobs.pending_blobs(v13):
            if blobs.store_blob(v13, pending, lambda _id: iter([blob])) is None:
                blobs.forget_pending(v13, pending)


def test_a_schema_12_liars_pending_row_does_not_starve_the_real_report(
    vault_dir: Path, liar_and_real: Made
) -> None:
    _liar, real, entry, blob = liar_and_real
    with Vault.unlock(vault_dir, PASSPHRASE) as v13:
        _pull_three_times(v13, blob)
        assert blobs.holds_blob(v13.db, str(entry["blob"])), "the real report's file never came"
        assert [a.held for a in case_view.show_case(v13, real).attachments] == [True]


def test_erasing_a_schema_12_liar_first_does_not_starve_the_real_report(
    vault_dir: Path, liar_and_real: Made
) -> None:
    liar, _real, entry, blob = liar_and_real
    with Vault.unlock(vault_dir, PASSPHRASE) as v13:
        erasure.erase_case(v13, liar, "mistake")  # the case whose file "never matches"
        _pull_three_times(v13, blob)
        assert blobs.holds_blob(v13.db, str(entry["blob"])), "the real report's file never came"


@pytest.mark.slow
def test_the_first_erase_after_migration_does_not_hold_every_report_at_once(
    vault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, _blob = attachment_entry(b"a photo " * 500)
    with monkeypatch.context() as old:
        _as_of_schema(old, 12)
        with Vault.create(vault_dir, "amara", PASSPHRASE) as v12:
            long_text = [os.urandom(22_000).hex() for _ in range(200)]  # 44,000 characters
            envelopes = [
                (str(i), seal_for(v12, make_report(what_happened=text)))
                for i, text in enumerate(long_text)
            ]
            envelopes.append(("a", seal_for(v12, make_report(attachments=[entry]))))
            ids = incoming.import_envelopes(v12, envelopes).imported
    with Vault.unlock(vault_dir, PASSPHRASE) as v13:
        size = v13.db.execute("SELECT sum(length(envelope)) FROM cases").fetchone()[0]
        assert size > 8_000_000
        tracemalloc.start()
        try:
            erasure.erase_case(v13, ids[-1], "mistake")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        listed = v13.db.execute("SELECT count(*) FROM case_blobs_listed").fetchone()[0]
        assert listed == 200, "every other case was listed"
        assert peak < size // 4, f"peak {peak / 1e6:.1f} MB for {size / 1e6:.1f} MB of reports"


def test_reports_opened_by_a_catch_up_that_the_intake_breaks_are_logged(
    vault_dir: Path, liar_and_real: Made, monkeypatch: pytest.MonkeyPatch
) -> None:
    *_cases, _entry, blob = liar_and_real
    opened: list[int] = []
    real_open = blobs.open_report

    def counted(*args: object) -> object:
        opened.append(1)
        return real_open(*args)  # type: ignore[arg-type]

    def broken_intake(_id: str) -> Iterator[bytes]:
        yield blob[:1000]
        raise IntakeError("Could not reach the intake.")  # the connection drops mid-blob

    with Vault.unlock(vault_dir, PASSPHRASE) as v13:
        logged = "SELECT count(*) FROM case_reads"
        before = v13.db.execute(logged).fetchone()[0]
        monkeypatch.setattr(blobs, "open_report", counted)
        (pending,) = blobs.pending_blobs(v13)
        with pytest.raises(IntakeError):
            blobs.store_blob(v13, pending, broken_intake)
        assert opened, "the catch-up opened no report"
        assert v13.db.execute(logged).fetchone()[0] > before, f"{len(opened)} opened, unlogged"
