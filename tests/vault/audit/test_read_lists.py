"""Read lists in the audit bundle: which cases each search, patterns, stats or triage fill read.

A ``redress-audit-bundle/2`` carries, for every read across cases, the list its entry commits
to (docs/audit.md sections 8 and 12); ``vault audit verify`` checks each against its entry and
shows which cases were read and which matched. A ``/1`` bundle, which carries none, still
verifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import _in_process, assert_clean_error, make_report, seal_for
from vault import _crypto, audit_export, incoming, patterns, search, stats
from vault.audit.verify import BundleError, verify
from vault.store import Vault

HEADER = b"redress cases read v1\n"


def _bundle(vault: Vault) -> bytes:
    out = vault.directory.parent / f"bundle-{_crypto.random_bytes(4).hex()}"
    audit_export.write(vault, out)
    return out.read_bytes()


def _lines(bundle: bytes) -> list[str]:
    return bundle.decode().split("\n")[:-1]


def _join(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _reads_at(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.startswith("reads ")]


def _list_of(line: str) -> bytes:
    return base64.b64decode(line.split(" ")[2])


def _with_list(line: str, text: bytes) -> str:
    entry = line.split(" ")[1]
    return f"reads {entry} {base64.b64encode(text).decode()}"


@pytest.fixture
def searched(vault: Vault) -> tuple[Vault, list[str], bytes]:
    """Three cases, one search that matches one of them, and the export."""
    reports = [
        make_report(what_happened="The officer laughed at me."),
        make_report(what_happened="A nurse refused to see me."),
        make_report(what_happened="The officer took my phone."),
    ]
    ids = incoming.import_envelopes(
        vault, [(str(n), seal_for(vault, r)) for n, r in enumerate(reports)]
    ).imported
    assert len(search.search(vault, "nurse").matches) == 1
    return vault, ids, _bundle(vault)


def test_the_bundle_carries_each_read_list_and_verify_shows_it(
    searched: tuple[Vault, list[str], bytes],
) -> None:
    vault, ids, bundle = searched
    lines = _lines(bundle)
    assert lines[0] == "redress-audit-bundle/2"
    (at,) = _reads_at(lines)
    leaves = [i for i, line in enumerate(lines) if line.startswith("redress-log/1 ")]
    assert at == leaves[-1] + 1
    assert lines[at + 1].startswith("checkpoints ")
    entry = int(lines[at].split(" ")[1])
    leaf = lines[leaves[0] + entry - 1].split(" ")
    assert leaf[3:6] == ["cases-searched", "-", "3"]
    text = _list_of(lines[at])
    assert hashlib.sha256(text).hexdigest() == leaf[6]
    (kept,) = vault.db.execute("SELECT cases FROM case_reads").fetchone()
    assert text == kept.encode()
    assert b"nurse" not in bundle.lower()

    result = verify(bundle)
    assert result.format == "redress-audit-bundle/2"
    assert result.reads is not None
    (read,) = result.reads
    assert (read.entry, read.action, read.by) == (entry, "cases-searched", "amara")
    assert read.cases == tuple(sorted(ids))
    assert read.matched == (ids[1],)
    assert read.damaged == ()


def test_patterns_and_stats_read_lists_are_shown_too(
    searched: tuple[Vault, list[str], bytes],
) -> None:
    vault, ids, _ = searched
    patterns.find_patterns(vault)
    stats.count(vault, ("sector",))
    result = verify(_bundle(vault))
    assert result.reads is not None
    assert [r.action for r in result.reads] == ["cases-searched", "patterns-read", "stats-counted"]
    for read in result.reads[1:]:
        assert read.cases == tuple(sorted(ids))
        assert read.matched == ()
        assert read.entry > result.reads[0].entry


def test_a_bundle_with_no_read_has_an_empty_list_of_reads(vault: Vault) -> None:
    result = verify(_bundle(vault))
    assert result.reads == ()
    assert result.unlisted_reads == 0


def _refused(bundle: bytes, message: str) -> None:
    with pytest.raises(BundleError) as raised:
        verify(bundle)
    assert str(raised.value) == message


def test_a_removed_read_list_is_refused(searched: tuple[Vault, list[str], bytes]) -> None:
    lines = _lines(searched[2])
    (at,) = _reads_at(lines)
    entry = lines[at].split(" ")[1]
    del lines[at]
    _refused(
        _join(lines),
        f"Entry {entry} is cases-searched 3, but the bundle carries no read list for it:"
        " the list was removed.",
    )


def test_a_changed_read_list_is_refused(searched: tuple[Vault, list[str], bytes]) -> None:
    _, ids, bundle = searched
    lines = _lines(bundle)
    (at,) = _reads_at(lines)
    entry = lines[at].split(" ")[1]
    # the nurse case said not to match, another said to: a list that hides what matched
    text = _list_of(lines[at]).replace(b" match\n", b" read\n")
    text = text.replace(f"{ids[0]} read\n".encode(), f"{ids[0]} match\n".encode())
    lines[at] = _with_list(lines[at], text)
    _refused(
        _join(lines),
        f"Entry {entry}'s read list does not match its commitment: the list was changed.",
    )
    lines[at] = _with_list(lines[at], HEADER)  # emptied
    _refused(
        _join(lines),
        f"Entry {entry}'s read list does not match its commitment: the list was changed.",
    )


def test_a_read_list_for_another_entry_is_refused(
    searched: tuple[Vault, list[str], bytes],
) -> None:
    lines = _lines(searched[2])
    (at,) = _reads_at(lines)
    first_leaf = next(i for i, line in enumerate(lines) if line.startswith("redress-log/1 "))
    lines.insert(at, f"reads 1 {lines[at].split(' ')[2]}")  # entry 1 is vault-created
    assert lines[first_leaf].split(" ")[3] == "vault-created"
    _refused(
        _join(lines),
        "Entry 1 is vault-created, which reads no cases, but the bundle carries a read list"
        " for it: the list was added.",
    )


def test_read_lists_out_of_order_or_out_of_range_are_damage(
    searched: tuple[Vault, list[str], bytes],
) -> None:
    lines = _lines(searched[2])
    (at,) = _reads_at(lines)
    entry = int(lines[at].split(" ")[1])
    n = int(next(line for line in lines if line.startswith("leaves ")).split(" ")[1])
    again = [*lines[: at + 1], lines[at], *lines[at + 1 :]]
    _refused(
        _join(again),
        f"The audit bundle is damaged at line {at + 2}: the read lists are not in the order"
        " of their entries.",
    )
    beyond = list(lines)
    beyond[at] = f"reads {n + 1} {lines[at].split(' ')[2]}"
    _refused(
        _join(beyond),
        f"The audit bundle is damaged at line {at + 1}: a read list names entry {n + 1},"
        f" but the bundle holds {n}.",
    )
    not_base64 = list(lines)
    not_base64[at] = f"reads {entry} {lines[at].split(' ')[2]}="
    _refused(
        _join(not_base64),
        f"The audit bundle is damaged at line {at + 1}: a read list is not in the expected form.",
    )


def test_an_older_bundle_without_read_lists_still_verifies(
    searched: tuple[Vault, list[str], bytes],
) -> None:
    lines = _lines(searched[2])
    (at,) = _reads_at(lines)
    relabelled = ["redress-audit-bundle/1", *lines[1:]]
    # a /1 bundle has no reads lines: one there is a departure from its layout
    _refused(
        _join(relabelled),
        f"The audit bundle is damaged at line {at + 1}: expected the 'checkpoints' line.",
    )
    del relabelled[at]
    result = verify(_join(relabelled))
    assert result.format == "redress-audit-bundle/1"
    assert result.reads is None
    assert result.unlisted_reads == 1


def _auditor_verify(tmp_path: Path, bundle: bytes, *extra: str) -> subprocess.CompletedProcess[str]:
    """`vault audit verify` as an auditor runs it: another directory, no vault, no passphrase
    (the entry point the installed command calls, in this process, as ``Cli`` runs it)."""
    (tmp_path / "bundle").write_bytes(bundle)
    return _in_process(["audit", "verify", "bundle", *extra], tmp_path, None, {"PATH": ""})


@pytest.mark.slow
def test_the_command_shows_which_cases_were_read_and_exits_4_on_a_missing_list(
    searched: tuple[Vault, list[str], bytes], tmp_path: Path
) -> None:
    _, ids, bundle = searched
    lines = _lines(bundle)
    (at,) = _reads_at(lines)
    entry = int(lines[at].split(" ")[1])

    shown = _auditor_verify(tmp_path, bundle, "--json")
    assert shown.returncode == 0, shown.stderr
    got = json.loads(shown.stdout)
    assert got["format"] == "redress-audit-bundle/2"
    (read,) = got["reads"]
    assert read["entry"] == entry
    assert read["action"] == "cases-searched"
    assert read["by"] == "amara"
    assert read["cases"] == sorted(ids)
    assert read["matched"] == [ids[1]]
    assert read["damaged"] == []

    text = _auditor_verify(tmp_path, bundle)
    assert text.returncode == 0, text.stderr
    assert "Reads across cases (which cases each read; never what was searched for):" in (
        text.stdout
    )
    assert f"  entry {entry}, cases-searched by amara at " in text.stdout
    assert f"read 3: {' '.join(sorted(ids))}; matched 1: {ids[1]}" in text.stdout

    del lines[at]
    missing = _auditor_verify(tmp_path, _join(lines))
    assert_clean_error(missing, 4)
    assert missing.stderr == (
        f"vault: Entry {entry} is cases-searched 3, but the bundle carries no read list for it:"
        " the list was removed.\n"
    )

    older = _auditor_verify(tmp_path, _join(["redress-audit-bundle/1", *lines[1:]]), "--json")
    assert older.returncode == 0, older.stderr
    assert json.loads(older.stdout)["reads"] is None
