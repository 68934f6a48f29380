"""Browser tests: Debian's Chromium, driven by Playwright, against a real `vault intake serve`.

The intake runs in a subprocess on loopback, holding the team key of a real vault made for
the session. Tests drive the form as a reporter would, then check what reached the intake
with the vault's keys: by opening the envelopes the page sent (or the intake holds) with the
team key, and end to end through `vault pull` and `vault cases ...`.

Chromium is never downloaded: a missing browser fails the tests with a message saying how
to install it (`make test` does so when run as root).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import subprocess
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import mnemonic
import nacl.bindings as sodium
import pytest
from playwright.sync_api import Browser, Page, Playwright, Request, sync_playwright

from tests.conftest import PASSPHRASE, Cli
from tests.intake_server import IntakeServers
from tests.sealing import padded_length
from vault.envelope import open_envelope_bytes
from vault.intake.auth import sign_request
from vault.intake.languages import LANGUAGES
from vault.keys import Identity, TeamKeyPair
from vault.store import Vault

REPO = Path(__file__).resolve().parents[4]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
LIBSODIUM = REPO / "node_modules" / "libsodium-wrappers-sumo" / "dist" / "modules-sumo"
POW_BITS = 8
STARTUP_SECONDS = 30
SEND_TIMEOUT_MS = 60_000

CODENAME_PURPOSE = b"redress codename reply key v1\x00"
MAILBOX_PURPOSE = b"redress mailbox id v1\x00"


# --- the intake --------------------------------------------------------------------------


@dataclass
class Intake:
    """A running `vault intake serve`, the vault whose key it holds, and ways to reach both."""

    url: str
    home: Path  # the CLI's working directory; the vault is ./vault-data
    cli: Cli
    team: TeamKeyPair
    caseworker: Identity
    process: subprocess.Popen[bytes]
    log: Path  # its stderr

    def open_envelope(self, envelope: bytes) -> bytes:
        """The canonical report JSON inside an envelope sealed to this team."""
        return open_envelope_bytes(envelope, self.team.public_key, self.team.secret_key)

    def signed(self, method: str, path: str, doc: Any = None) -> httpx.Response:
        """A caseworker request signed with the vault's identity (docs/intake.md section 5)."""
        body = b"" if doc is None else json.dumps(doc).encode()
        headers = sign_request(self.caseworker, method, path, body)
        if body:
            headers["Content-Type"] = "application/json"
        return httpx.request(method, self.url + path, content=body, headers=headers, timeout=30)

    def queued_reports(self) -> list[dict[str, Any]]:
        """Every report waiting at the intake, opened, without acknowledging any."""
        reports, after = [], None
        while True:
            doc: dict[str, Any] = {"limit": 100}
            if after:
                doc["after"] = after
            answer = self.signed("POST", "/api/pull", doc)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            for item in page["envelopes"]:
                body = base64.b64decode(item["body"])
                if not body.startswith(b"REDRMSG"):  # a reporter's message is not a report
                    reports.append(json.loads(self.open_envelope(body)))
                after = item["id"]
            if not page["more"]:
                return reports

    def blob(self, blob_id: str) -> bytes:
        """An uploaded attachment as the intake holds it (the browser's request bodies that
        are Blobs are not visible to Playwright, so the test asks the intake)."""
        answer = self.signed("GET", f"/api/blobs/{blob_id}")
        assert answer.status_code == 200, answer.text
        return answer.content

    def post_reply(self, reply_pk: bytes, text: str, date: str, status: str | None) -> None:
        """Leave a reply in a codename's mailbox, sealed as docs/intake.md section 7 says."""
        body: dict[str, Any] = {"v": 1, "text": text, "date": date}
        if status is not None:
            body["status"] = status
        plain = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        sealed = sodium.crypto_box_seal(pad(plain), reply_pk)
        doc = {"replies": [{"mailbox": mailbox_id(reply_pk), "body": b64(sealed)}]}
        answer = self.signed("POST", "/api/replies", doc)
        assert answer.status_code == 200, answer.text

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.cli(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def pull(self) -> None:
        self.run("pull", "--from", self.url)

    def case_ids(self) -> set[str]:
        return {c["id"] for c in json.loads(self.run("cases", "list", "--json").stdout)}

    def drain(self) -> set[str]:
        """Pull whatever earlier tests left at the intake; returns the vault's case ids."""
        self.pull()
        return self.case_ids()

    def pull_case(self, before: set[str], marker: str) -> tuple[str, dict[str, Any]]:
        """Pull, then the id and `cases show --json` of the new case whose text holds ``marker``."""
        self.pull()
        for case_id in sorted(self.case_ids() - before):
            shown = json.loads(self.run("cases", "show", case_id, "--json").stdout)
            if marker in shown["report"]["what_happened"]:
                return case_id, shown
        raise AssertionError(f"no new case holds {marker!r}")


@pytest.fixture(scope="session")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    if not LIBSODIUM.is_dir():
        pytest.fail("node_modules is missing libsodium-wrappers-sumo: run `make setup` (npm ci).")
    home = tmp_path_factory.mktemp("browser")
    cli = Cli(home)
    with Vault.create(home / "vault-data", "amara", PASSPHRASE) as vault:
        team = vault._access.current  # the tests open envelopes with the team's secret key
        caseworker = vault.identity
        team_key_file = home / "team-key.json"
        team_key_file.write_bytes(vault.team_key_export().to_file_bytes())
    # The shared way to run one (tests/intake_server.py): port 0, so parallel workers, each
    # with its own session and so its own intake, never race for a port.
    with IntakeServers(home, pow_bits=POW_BITS, rate_per_minute=10_000) as servers:
        server = servers.start(team_key_file, data=home / "intake-data")
        home_page = httpx.get(server.url + "/", timeout=STARTUP_SECONDS)
        assert home_page.status_code == 200, server.output()
        yield Intake(server.url, home, cli, team, caseworker, server.process, server.stderr_path)


# --- the browser -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}, and it is not there. "
            "Install Debian's chromium package (`make test` does this when run as root), "
            "or set CHROMIUM to its path. No browser is ever downloaded."
        )
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@dataclass
class Traffic:
    """Every request a page made: method, URL, headers and body."""

    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    def record(self, request: Request) -> None:
        body = request.post_data_buffer or b""
        try:
            headers = request.all_headers()
        except Exception:  # the request finished first: its provisional headers will do
            headers = dict(request.headers)
        self.requests.append((request.method, request.url, headers, body))

    def bodies(self, method: str, path: str) -> list[bytes]:
        return [b for m, u, _, b in self.requests if m == method and u.endswith(path)]


@dataclass
class Watched:
    """A page in its own browser context, with its console errors and its traffic."""

    page: Page
    problems: list[str]
    traffic: Traffic


def _watch(browser: Browser, base_url: str, **options: Any) -> tuple[Watched, Callable[[], None]]:
    options.setdefault("viewport", {"width": 1024, "height": 900})
    context = browser.new_context(base_url=base_url, **options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    traffic = Traffic()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.on("request", traffic.record)
    return Watched(page, problems, traffic), context.close


@pytest.fixture
def watched(browser: Browser, intake: Intake) -> Iterator[Watched]:
    """A page with JavaScript on; any console error (a CSP refusal, say) fails the test."""
    result, close = _watch(browser, intake.url)
    yield result
    close()
    assert result.problems == [], result.problems


@pytest.fixture
def page(watched: Watched) -> Page:
    return watched.page


@pytest.fixture
def nojs_page(browser: Browser, intake: Intake) -> Iterator[Page]:
    result, close = _watch(browser, intake.url, java_script_enabled=False)
    yield result.page
    close()


# --- driving the form ----------------------------------------------------------------------


# `make accessibility` (REDRESS_EVERY_LANGUAGE=1): the accessibility, layout and keyboard
# tests in every language the form has; `make test` runs each in the languages it names.
EVERY_LANGUAGE = os.environ.get("REDRESS_EVERY_LANGUAGE") == "1"


def languages(sample: list[str]) -> list[str]:
    """``sample``, or every language the form has under ``make accessibility``."""
    return list(LANGUAGES) if EVERY_LANGUAGE else sample


def open_form(page: Page, path: str = "/") -> None:
    """Load the form and wait until its script has set it up and libsodium is ready."""
    page.goto(path)
    page.wait_for_selector("#codename-section:not([hidden])")
    page.wait_for_function("window.sodium !== undefined")
    page.evaluate("window.sodium.ready.then(() => true)")


def fill_required(page: Page, what_happened: str, role: str = "police officer") -> None:
    page.check("input[name=sector][value=policing]")
    page.fill("#role", role)
    page.check("input[name=harms][value=abuse-of-power]")
    page.fill("#what_happened", what_happened)


def send(page: Page) -> None:
    # Waiting for the request itself means every listener (the traffic record among them)
    # has seen it before the test looks, however slow the machine.
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/reports"), timeout=SEND_TIMEOUT_MS
    ):
        page.click("#send-button")
    page.wait_for_selector("#sent-view:not([hidden])", timeout=SEND_TIMEOUT_MS)


def take_codename(page: Page) -> list[str]:
    page.check("#want-codename")
    page.wait_for_selector("#codename-box:not([hidden]) #codename-words li")
    words = page.locator("#codename-words li").all_inner_texts()
    assert len(words) == 9
    return words


def read_replies(page: Page, typed: str, path: str = "/replies") -> None:
    page.goto(path)
    page.wait_for_selector("#replies-form:not([hidden])")
    page.fill("#codename", typed)
    page.click("#read-button")


def unique(label: str) -> str:
    return f"{label}-{os.urandom(6).hex()}"


def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of WCAG 2.0, 2.1 and 2.2 A and AA on the page as it is now."""
    if not AXE.is_file():
        pytest.fail("node_modules is missing axe-core: run `make setup` (npm ci).")
    page.add_script_tag(path=str(AXE))
    tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))})))",
        tags,
    )
    violations: list[dict[str, Any]] = result
    return violations


# --- the formats, written out again from the documents -------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pad(data: bytes) -> bytes:
    return data + b"\x80" + bytes(padded_length(len(data) + 1) - len(data) - 1)


def mailbox_id(reply_pk: bytes) -> str:
    return hashlib.sha256(MAILBOX_PURPOSE + reply_pk).digest()[:16].hex()


def codename_entropy(words: list[str], listed: str = "") -> bytes:
    """BIP39 decoding of a 9-word codename: 96 bits of entropy, then a 3-bit checksum. The
    list is English, or whichever of the intake's lists holds the first word."""
    all_words = wordlist()
    if not listed and words[0] not in all_words:
        listed = next(n for n in LISTS if words[0] in other_wordlist(n))
    if listed:
        all_words = other_wordlist(listed)
    bits = "".join(format(all_words.index(w), "011b") for w in words)
    entropy = int(bits[:96], 2).to_bytes(12, "big")
    assert int(bits[96:], 2) == hashlib.sha256(entropy).digest()[0] >> 5, "bad checksum"
    return entropy


def codename_words(entropy: bytes) -> list[str]:
    """BIP39 encoding of 12 bytes: the 9 words a reporter would be given."""
    check = hashlib.sha256(entropy).digest()[0] >> 5
    bits = format(int.from_bytes(entropy, "big"), "096b") + format(check, "03b")
    all_words = wordlist()
    return [all_words[int(bits[i : i + 11], 2)] for i in range(0, 99, 11)]


def reply_keypair(entropy: bytes) -> tuple[bytes, bytes]:
    seed = hashlib.blake2b(CODENAME_PURPOSE + entropy, digest_size=32).digest()
    pk, sk = sodium.crypto_box_seed_keypair(seed)
    return pk, sk


def wordlist() -> list[str]:
    path = Path(mnemonic.__file__).parent / "wordlist" / "english.txt"
    return path.read_text().split()


LISTS = ("spanish", "portuguese", "chinese_simplified")


@functools.cache
def other_wordlist(name: str) -> list[str]:
    """Another BIP39 list the form may give a codename in, as shown (NFC)."""
    path = Path(mnemonic.__file__).parent / "wordlist" / f"{name}.txt"
    return [unicodedata.normalize("NFC", w) for w in path.read_text("utf-8").split()]
