"""kill -9 loops: every command that writes the vault, killed at random moments, then rerun.

Each round kills a real `vault` process at a delay drawn from the seeded RNG (uniform over
the command's own uninterrupted duration), reruns the command to completion as a caseworker
would, and then checks by id that everything acknowledged before (a command that exited 0,
or an intake that deleted what it held) is present exactly once, and that `vault check`
exits 0. How many rounds: tests/faults/conftest.py ``scale``; how it works:
docs/reliability.md.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE
from tests.faults.conftest import World, scale
from tests.faults.killer import KillLoop
from tests.faults.ledger import read_state
from tests.intake_server import IntakeServers
from vault.envelope import envelope_id
from vault.intake.inbox import Inbox
from vault.submit import send_envelope

pytestmark = [pytest.mark.faults, pytest.mark.slow]


# The commands that fetch from an intake, each killed by the same loop. `vault sync --from
# URL` (issue "several laptops") joins with one entry here: ("sync", "--from").
FETCHES = [("pull", "--from")]


def test_import(world: World, loop: KillLoop) -> None:
    names, _ = world.envelope_files(3)
    span = world.timed("import", *names)
    for _ in range(scale(1, 25)):
        names, ids = world.envelope_files(3)
        loop.kill(["import", *names], span)
        loop.finish(["import", *names])
        world.ledger.envelopes |= ids  # acknowledged: the import exited 0
        world.settle(loop)


def test_note(world: World, loop: KillLoop) -> None:
    case = world.case_ids()[0]
    span = world.timed("cases", "note", case, "calibrating")
    for i in range(scale(1, 12)):
        text = f"note {i} of {loop.seed}"
        loop.kill(["cases", "note", case, text], span)
        if text not in read_state(world.vault).notes:  # a caseworker looks, then retries
            loop.finish(["cases", "note", case, text])
        world.ledger.notes.add(text)
        world.settle(loop)


def test_complaint_pack_export(world: World, loop: KillLoop) -> None:
    """A killed `vault cases export` leaves its pack whole or absent, never part of one, and a
    pack in place is always logged; the rerun removes the working folder the killed run left."""
    case = world.case_ids()[0]
    cwd = world.cli.cwd
    span = world.timed("cases", "export", case, "--out", "pack-timing")
    for i in range(scale(1, 12)):
        out = f"pack-{i}-{loop.seed}"
        before = _pack_exports(world)
        loop.kill(["cases", "export", case, "--out", out], span)
        after = _pack_exports(world)
        working = [p for p in cwd.iterdir() if p.name.startswith(".redress-pack-")]
        if (cwd / out).exists():
            loop.check(after == before + 1, f"a pack in place, {after - before} logged")
            loop.check(not any(p.is_file() for w in working for p in w.rglob("*")), "left files")
        else:  # killed while building, or after the log entry and before the rename
            loop.check(after in (before, before + 1), f"no pack, {after - before} logged")
            loop.finish(["cases", "export", case, "--out", out])
            loop.check(_pack_exports(world) == after + 1, "the rerun was not logged")
            left = [p.name for p in cwd.iterdir() if p.name.startswith(".redress-pack-")]
            loop.check(left == [], f"working folders left after the rerun: {left}")
        loop.finish(["export", "verify", out, "--team-key", str(world.team_key_file)])
        world.settle(loop)


def _pack_exports(world: World) -> int:
    result = world.run("cases", "show", world.case_ids()[0], "--json")
    assert result.returncode == 0, result.stderr
    return [h["action"] for h in json.loads(result.stdout)["history"]].count("pack-exported")


def _inbox(data: Path) -> set[bytes]:
    with Inbox.open(data) as inbox:
        return {bytes(r[0]) for r in inbox._db.execute("SELECT id FROM envelopes")}


@pytest.mark.parametrize("fetch", FETCHES, ids=[f[0] for f in FETCHES])
def test_fetch_from_intake(
    world: World, loop: KillLoop, tmp_path: Path, fetch: tuple[str, str]
) -> None:
    (tmp_path / "intakes").mkdir()
    with IntakeServers(tmp_path / "intakes") as servers:
        intake = servers.start(world.team_key_file)
        args = [*fetch, intake.url]

        def send(n: int) -> set[bytes]:
            envelopes = world.envelopes(n)
            for envelope in envelopes:
                send_envelope(intake.url, envelope)
            return {envelope_id(e) for e in envelopes}

        send(4)
        span = world.timed(*args)
        for _ in range(scale(1, 16)):
            sent = send(4)
            loop.kill(args, span)
            deleted = sent - _inbox(intake.data)  # the intake's acknowledgement
            held = set(read_state(world.vault).envelopes)
            loop.check(deleted <= held, f"{len(deleted - held)} deleted by the intake, not held")
            loop.finish(args)
            loop.check(_inbox(intake.data) == set(), "the inbox still holds envelopes")
            world.ledger.envelopes |= sent
            world.settle(loop)


def test_backup(world: World, loop: KillLoop) -> None:
    span = world.timed("backup", "first.backup")
    for i in range(scale(1, 12)):
        target = f"b{i}.backup"
        held = copy.deepcopy(world.ledger)  # what the backup must hold: all before it began
        loop.kill(["backup", target], span)
        if (world.cli.cwd / target).exists():  # killed after the backup was complete
            loop.finish(["check"])  # which removes what the run left behind
        else:
            loop.finish(["backup", target])  # the same name works after a kill
        leftovers = [p.name for p in world.vault.iterdir() if p.name.startswith(".")]
        loop.check(leftovers == [], f"left in the vault folder: {leftovers}")
        world.settle(loop)
        restored = world.cli.cwd / f"restored-{i}"
        loop.finish(["restore", target, "--vault", str(restored)])
        # the backup holds everything acknowledged before it began (its own entry is after)
        problems = held.problems(read_state(restored, "amara"))
        loop.check(problems == [], problems)
        loop.finish(["check", "--vault", str(restored), "--as", "amara"])


def test_restore(world: World, loop: KillLoop) -> None:
    world.timed("backup", "source.backup")
    span = world.timed("restore", "source.backup", "--vault", str(world.cli.cwd / "first"))
    for i in range(scale(1, 14)):
        restored = world.cli.cwd / f"restored-{i}"
        args = ["restore", "source.backup", "--vault", str(restored)]
        loop.kill(args, span)
        if not (restored / "vault.db").exists():
            loop.finish(args)
        world.settle(loop, restored)


def test_caseworker_add_and_revoke(world: World, loop: KillLoop) -> None:
    new_pass = world.cli.cwd / "new-pass"
    new_pass.write_bytes(b"a different passphrase for the new caseworker\n")
    new_pass.chmod(0o600)
    span = world.timed("caseworker", "add", "first", "--new-passphrase-file", str(new_pass))
    for i in range(scale(1, 5)):
        name = f"cw{i}"
        add = ["caseworker", "add", name, "--new-passphrase-file", str(new_pass)]
        loop.kill(add, span)
        loop.finish(add, done="is already a caseworker")
        world.settle(loop)
        loop.check(read_state(world.vault).caseworkers.get(name), f"{name} was not added")
        world.ledger.revoking.add(name)
        loop.kill(["caseworker", "revoke", name], span)
        loop.finish(["caseworker", "revoke", name], done="was already removed")
        loop.check(not read_state(world.vault).caseworkers[name], f"{name} was not revoked")
        world.settle(loop)


def test_recovery_restore(world: World, loop: KillLoop) -> None:
    new_pass = world.cli.cwd / "new-pass"
    new_pass.write_bytes(b"the recovered caseworker's own passphrase\n")
    new_pass.chmod(0o600)
    world.timed("recovery", "split", "--shares", "3", "--threshold", "2", "--out", "shares")
    shares = sorted(str(p) for p in (world.cli.cwd / "shares").iterdir())

    def restore(name: str) -> list[str]:
        return ["recovery", "restore", "--share", shares[0], "--share", shares[2],
                "--name", name, "--new-passphrase-file", str(new_pass)]  # fmt: skip

    span = world.timed(*restore("first"))
    for i in range(scale(1, 14)):
        loop.kill(restore(f"rec{i}"), span)
        loop.finish(restore(f"rec{i}"), done="is already a name in this vault")
        world.settle(loop)
        loop.check(f"rec{i}" in read_state(world.vault).caseworkers, f"rec{i} missing")


def test_team_key_rotate_reseal(world: World, loop: KillLoop) -> None:
    span = world.timed("team-key", "rotate", "--reseal")
    for _ in range(scale(1, 10)):
        before = read_state(world.vault).epochs
        loop.kill(["team-key", "rotate", "--reseal"], span)
        loop.finish(["team-key", "rotate", "--reseal"])
        loop.check(read_state(world.vault).epochs > before, "no new epoch")
        world.settle(loop)


def test_the_oracle_reads_the_template(world: World) -> None:
    """The oracle itself: an untouched copy reads back as the template made it."""
    state = read_state(world.vault, "amara", PASSPHRASE)
    assert len(state.envelopes) == 3
    assert state.notes == ("template note",)
