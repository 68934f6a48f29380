"""The intake as a witness: it cosigns a vault's checkpoints on pull and catches a rewound log.

The protocol checks (c2sp.org/tlog-witness status codes) run against the real witness and a
real inbox; the round trips run `vault pull` against the real intake on loopback.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, VAULT_BIN, seal_for
from tests.intake_server import IntakeServer as Intake
from tests.intake_server import IntakeServers
from vault import _crypto, audit_export, auditing, case_view, incoming
from vault.audit.signed_note import (
    Checkpoint,
    NoteSigner,
    VerifierKey,
    b64encode,
    parse_note,
    sign_checkpoint,
    verify_signature,
)
from vault.audit.verify import verify
from vault.errors import IntegrityError
from vault.intake.inbox import Inbox
from vault.intake.witness import Witness
from vault.keys import TeamPublicKey
from vault.pull import pull
from vault.store import Vault


@pytest.fixture
def intakes(intake_servers: IntakeServers) -> Callable[[TeamPublicKey], Intake]:
    return intake_servers.start


# --- the protocol ---------------------------------------------------------------------------

Setup = tuple[Witness, Inbox, dict[str, list[VerifierKey]]]


@pytest.fixture
def witness_setup(
    vault: Vault, tmp_path: Path
) -> Iterator[tuple[Witness, Inbox, dict[str, list[VerifierKey]]]]:
    inbox = Inbox.open(tmp_path / "intake")
    witness = Witness.load_or_create(tmp_path / "intake")
    origin = vault.log.origin
    trusted = {origin: [VerifierKey(origin, 0x01, vault.identity.public.sign_pk)]}
    yield witness, inbox, trusted
    inbox.close()


def _request(old: int, proof: list[bytes], note: str) -> bytes:
    return ("\n".join([f"old {old}", *map(b64encode, proof)]) + "\n\n" + note).encode()


def test_the_witness_cosigns_growth_and_refuses_a_rewind(
    vault: Vault, witness_setup: Setup
) -> None:
    witness, inbox, trusted = witness_setup
    first = auditing.log_head(vault)
    assert first is not None
    answer = witness.add_checkpoint(_request(0, [], first.note), inbox, trusted)
    assert answer.status == 200
    note = parse_note(first.note + answer.body)
    assert verify_signature(note, note.signatures[-1], witness.key)

    incoming.import_envelopes(vault, [("a", seal_for(vault))])
    second = auditing.log_head(vault)
    assert second is not None
    stale = witness.add_checkpoint(_request(0, [], second.note), inbox, trusted)
    assert (stale.status, stale.body, stale.content_type) == (
        409,
        f"{first.size}\n",
        "text/x.tlog.size",
    )
    bad_proof = [bytes(32)] * len(auditing.consistency_proof(vault, first.size, second.size))
    assert (
        witness.add_checkpoint(_request(first.size, bad_proof, second.note), inbox, trusted).status
        == 422
    )
    proof = auditing.consistency_proof(vault, first.size, second.size)
    assert (
        witness.add_checkpoint(_request(first.size, proof, second.note), inbox, trusted).status
        == 200
    )
    # the vault's older checkpoint can no longer be cosigned: the log cannot be rewound
    back = witness.add_checkpoint(_request(second.size, [], first.note), inbox, trusted)
    assert back.status == 400
    again = witness.add_checkpoint(_request(first.size, [], first.note), inbox, trusted)
    assert again.status == 409
    assert inbox.witnessed(vault.log.origin)[0] == second.size


def test_the_witness_refuses_strangers_and_nonsense(vault: Vault, witness_setup: Setup) -> None:
    witness, inbox, trusted = witness_setup
    head = auditing.log_head(vault)
    assert head is not None
    checkpoint = Checkpoint.parse_text(parse_note(head.note).text)
    _, seed = _crypto.sign_keypair()
    forged = sign_checkpoint(checkpoint, NoteSigner.from_seed(checkpoint.origin, seed))
    assert witness.add_checkpoint(_request(0, [], forged), inbox, trusted).status == 403
    other = Checkpoint("vault.redress/someone-else", checkpoint.size, checkpoint.root)
    unknown = sign_checkpoint(other, NoteSigner.from_seed(other.origin, seed))
    assert witness.add_checkpoint(_request(0, [], unknown), inbox, trusted).status == 404
    assert witness.add_checkpoint(b"old x\n\nnot a note", inbox, trusted).status == 400
    assert witness.add_checkpoint(b"\xff\xfe", inbox, trusted).status == 400
    assert inbox.witnessed(checkpoint.origin) == (0, b"")


def test_the_witness_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = Witness.load_or_create(tmp_path)
    assert (tmp_path / "witness.key").stat().st_mode & 0o777 == 0o600
    assert Witness.load_or_create(tmp_path).key == first.key
    assert "hidden" in repr(first)


# --- through `vault pull` ---------------------------------------------------------------------


def test_pull_has_the_intake_witness_the_log_and_the_bundle_says_so(
    vault: Vault, intakes: Callable[[TeamPublicKey], Intake], tmp_path: Path
) -> None:
    intake = intakes(vault.team_key_export())
    result = pull(vault, intake.url)
    assert result.witness_problem is None
    assert result.witnessed == auditing.log_head(vault).size  # type: ignore[union-attr]
    incoming.import_envelopes(vault, [("a", seal_for(vault))])
    assert pull(vault, intake.url).witnessed == auditing.log_head(vault).size  # type: ignore[union-attr]
    witnessed = auditing.log_head(vault).size  # type: ignore[union-attr]
    audit_export.write(vault, tmp_path / "bundle")
    verified = verify((tmp_path / "bundle").read_bytes())
    # everything up to the pull is witnessed; the export's own entry comes after
    assert verified.witnessed_size == witnessed == verified.entries - 1
    assert [name for name, _ in verified.witnessed] == [intake_witness_name(intake)]
    assert "witness witness.redress/" in (tmp_path / "bundle").read_text()


def intake_witness_name(intake: Intake) -> str:
    import httpx

    return VerifierKey.parse(httpx.get(intake.url + "/witness/key").text.strip()).name


@pytest.mark.slow
def test_a_rewound_vault_is_caught_by_the_witness(
    vault: Vault, vault_dir: Path, intakes: Callable[[TeamPublicKey], Intake], tmp_path: Path
) -> None:
    incoming.import_envelopes(vault, [("first", seal_for(vault))])
    intake = intakes(vault.team_key_export())
    pull(vault, intake.url)
    vault.close()
    old = tmp_path / "old-copy"
    shutil.copytree(vault_dir, old)
    with Vault.unlock(vault_dir, PASSPHRASE) as current:
        incoming.import_envelopes(current, [("a", seal_for(current)), ("b", seal_for(current))])
        pull(current, intake.url)  # the witness has now seen the longer log
    # The laptop is "restored" from the older copy (or its log is rewound) and goes on.
    shutil.rmtree(vault_dir)
    shutil.copytree(old, vault_dir)
    with Vault.unlock(vault_dir, PASSPHRASE) as rewound:
        case_view.show_case(rewound, case_view.list_cases(rewound)[0].id)
        alarm = pull(rewound, intake.url).witness_alarm
        assert isinstance(alarm, IntegrityError)
        assert "the log here has lost entr" in str(alarm)  # named: issue 16, F8
        origin, team_key = rewound.log.origin, rewound.team_key_export()
    # Once the auditors are told, the intake's admin has the witness forget that log; the
    # restored vault is then witnessed from where it stands.
    intake.stop()
    data = str(tmp_path / "intake-data")
    forget = subprocess.run(
        [str(VAULT_BIN), "intake", "forget-log", "--data", data, "--origin", origin],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": ""},
    )
    assert forget.returncode == 0, forget.stderr
    assert "forgot the" in forget.stderr
    restarted = intakes(team_key)
    with Vault.unlock(vault_dir, PASSPHRASE) as restored:
        result = pull(restored, restarted.url)
        assert result.witness_alarm is None
        assert result.witnessed == auditing.log_head(restored).size  # type: ignore[union-attr]


@pytest.mark.slow
def test_a_vault_whose_log_was_rewritten_is_caught_by_the_witness(
    vault: Vault, vault_dir: Path, intakes: Callable[[TeamPublicKey], Intake], tmp_path: Path
) -> None:
    intake = intakes(vault.team_key_export())
    pull(vault, intake.url)
    vault.close()
    old = tmp_path / "old-copy"
    shutil.copytree(vault_dir, old)
    with Vault.unlock(vault_dir, PASSPHRASE) as current:
        incoming.import_envelopes(current, [("a", seal_for(current))])
        pull(current, intake.url)
        seen = auditing.log_head(current).size  # type: ignore[union-attr]
    shutil.rmtree(vault_dir)
    shutil.copytree(old, vault_dir)
    with Vault.unlock(vault_dir, PASSPHRASE) as forked:
        # Another history, now longer than the one the witness saw.
        incoming.import_envelopes(forked, [(str(n), seal_for(forked)) for n in range(5)])
        assert auditing.log_head(forked).size > seen  # type: ignore[union-attr]
        alarm = pull(forked, intake.url).witness_alarm
        assert isinstance(alarm, IntegrityError)
        assert "different history" in str(alarm)


@pytest.mark.slow
def test_idle_pulls_keep_one_cosignature_and_the_bundle_verifies(
    vault: Vault, intakes: Callable[[TeamPublicKey], Intake], tmp_path: Path
) -> None:
    intake = intakes(vault.team_key_export())
    for _ in range(20):  # more than a note may carry signatures
        assert pull(vault, intake.url).witnessed is not None
    head = auditing.log_head(vault)
    assert head is not None
    assert head.note.count("\u2014 witness.redress/") == 1
    audit_export.write(vault, tmp_path / "bundle")
    assert verify((tmp_path / "bundle").read_bytes()).witnessed_size == head.size


def test_a_hostile_witness_cannot_stall_or_break_a_pull(vault: Vault) -> None:
    import httpx

    def endless() -> Iterator[bytes]:
        while True:
            yield bytes(1 << 16)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/pull":
            return httpx.Response(200, json={"envelopes": [], "more": False})
        if request.url.path == "/witness/key":
            return httpx.Response(200, content=endless())
        return httpx.Response(200, json={"stored": 0})

    client = httpx.Client(transport=httpx.MockTransport(handle))
    result = pull(vault, "http://127.0.0.1:9", client=client)
    assert result.witnessed is None
    assert "did not answer as expected" in (result.witness_problem or "")
    assert result.witness_alarm is None
