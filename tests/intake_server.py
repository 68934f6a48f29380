"""The one way the tests run a real intake: `vault intake serve` in a subprocess on loopback.

Every server listens on port 0 and the test reads the URL it announces, so the kernel picks
the port and parallel workers (pytest-xdist) never race for one. Each :class:`IntakeServers`
keeps its servers' files (team key, inbox, stdout, stderr) in the directory it is given,
a pytest temporary directory and so per worker; ``stop_all`` stops them with Ctrl-C and checks
each one stopped cleanly. The ``intake_servers`` fixture in tests/conftest.py is one per test;
module- and session-wide intakes (tests/vault/intake/conftest.py and
tests/vault/intake/browser/conftest.py) make their own ``with IntakeServers(directory)``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from vault import pow as pow_
from vault.keys import TeamPublicKey

REPO = Path(__file__).resolve().parents[1]
VAULT_BIN = Path(sys.executable).with_name("vault")
STARTUP_SECONDS = 30
POW_BITS = 4  # easy proofs: the tests that are about proof-of-work set their own


def stop_server(process: subprocess.Popen[bytes]) -> int:
    """Ask a server started by a test to stop (Ctrl-C), then make sure it has."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass
class IntakeServer:
    """A running `vault intake serve`: where it answers, its inbox, its process and output."""

    url: str  # as announced, less any trailing slash: url + "/api/..." is a path
    announced_url: str  # exactly as `vault intake serve` printed it
    data: Path
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def output(self) -> tuple[str, str]:
        return self.stdout_path.read_text(), self.stderr_path.read_text()

    def stop(self) -> int:
        return stop_server(self.process)


class IntakeServers:
    """Starts intakes whose files live in ``directory``; leaving it (or ``stop_all``) stops
    every one. ``pow_bits`` and ``rate_per_minute`` are the defaults for each start."""

    def __init__(
        self, directory: Path, pow_bits: int = POW_BITS, rate_per_minute: int = 100_000
    ) -> None:
        self.directory = directory
        self.pow_bits = pow_bits
        self.rate_per_minute = rate_per_minute
        self.running: list[IntakeServer] = []

    def __enter__(self) -> IntakeServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(
        self,
        team_key: TeamPublicKey | Path,
        *options: str,
        data: Path | None = None,
        name: str = "intake",
        pow_bits: int | None = None,
        rate_per_minute: int | None = None,
    ) -> IntakeServer:
        """A new intake holding ``team_key`` (a key, or a key file already written), with
        ``options`` after the defaults (a later option wins), serving ``data`` (by default
        ``<name>-data`` in the directory). Returns once it has announced its URL."""
        n = len(self.running)
        if isinstance(team_key, Path):
            key_file = team_key
        else:
            key_file = self.directory / f"{name}-{n}-team-key.json"
            key_file.write_bytes(team_key.to_file_bytes())
        data = data or self.directory / f"{name}-data"
        stdout_path = self.directory / f"{name}-{n}.stdout"
        stderr_path = self.directory / f"{name}-{n}.stderr"
        args = [
            str(VAULT_BIN),
            *("intake", "serve", "--team-key", str(key_file), "--data", str(data)),
            *("--host", "127.0.0.1", "--port", "0"),
            *("--pow-bits", str(pow_bits or self.pow_bits)),
            *("--rate-per-minute", str(rate_per_minute or self.rate_per_minute)),
            *options,
        ]
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            process = subprocess.Popen(
                args,
                stdout=out,
                stderr=err,
                cwd=REPO,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.directory)},
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while "http://" not in (text := stdout_path.read_text()):
            if process.poll() is not None or time.monotonic() > deadline:
                stop_server(process)
                raise AssertionError(
                    f"`vault intake serve` did not start within {STARTUP_SECONDS} s "
                    f"(exit {process.returncode}):\n{stderr_path.read_text()}"
                )
            time.sleep(0.05)
        announced = "http://" + text.split("http://", 1)[1].split()[0]
        server = IntakeServer(
            announced.rstrip("/"), announced, data, process, stdout_path, stderr_path
        )
        self.running.append(server)
        return server

    def stop_all(self) -> None:
        """Stop every intake started here; each must exit 0 with no traceback."""
        problems = []
        for server in self.running:
            code = server.stop()
            _, err = server.output()
            if code != 0 or "Traceback" in err:
                problems.append(f"{server.url} exited {code}:\n{err}")
        self.running.clear()
        assert problems == [], "\n".join(problems)


def upload_attachment(url: str, blob: bytes) -> str:
    """What the reporter's browser does with a file: solve the proof of work, send the sealed
    blob to the intake at ``url``; the blob id the intake gives."""
    challenge = httpx.get(url + "/api/challenge").json()
    raw = pow_.decode_challenge(challenge["challenge"])
    proof = pow_.header_value(raw, pow_.solve(raw, challenge["bits"]))
    r = httpx.post(
        url + "/api/attachments",
        content=blob,
        headers={"Content-Type": "application/octet-stream", "X-Redress-PoW": proof},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    blob_id: str = r.json()["blob"]
    return blob_id
