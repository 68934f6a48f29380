"""How an intake is run: `vault intake serve` options, as one frozen value."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from vault.errors import UsageError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[1]


DEFAULT_HELPLINE = (
    "If you want to talk to someone now, Samaritans listen at any time of day or night: "
    "call 116 123 for free."
)
DEFAULT_EMERGENCY = (
    "If you are in danger now, call 999. If you cannot speak, call 999 from a mobile, "
    "listen, then press 55 when asked."
)
# GOV.UK's "Exit this page" pattern sends people to a neutral page elsewhere: a weather page.
DEFAULT_EXIT_URL = "https://www.bbc.co.uk/weather"
# Nothing a browser would read differently from what was meant: no white space, no control
# characters, no quotes, angle brackets or backslashes anywhere in the address.
_URL_CHARS = re.compile(r"[^\x00-\x20\x7f-\x9f\"'<>\\\s]+")

# A host name (ASCII: an international one in its xn-- form) or an IP address.
_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|[0-9a-f:.]*:[0-9a-f:.]*")


def is_exit_url(url: str) -> bool:
    """Whether ``url`` is a full http(s) address of a page on a named host, without
    credentials, that a browser will go to as written (docs/intake.md section 1)."""
    if len(url) > 2000 or not _URL_CHARS.fullmatch(url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError if it is not a number from 0 to 65535
    except ValueError:
        return False
    if parts.scheme not in {"https", "http"} or not url.startswith(parts.scheme + "://"):
        return False
    if "@" in parts.netloc or not _HOST.fullmatch(parts.hostname or ""):
        return False
    return port is None or port > 0


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    """Everything the intake needs; defaults are those of ``docs/intake.md`` section 1."""

    team_key_file: Path
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    max_file_mib: int = 25
    max_files: int = 5
    pow_bits: int = 18
    rate_per_minute: int = 120
    read_timeout: int = 30  # seconds a request body may make no progress before a 408
    # What the "sent" page tells a reporter, and where "Exit this page" goes (docs/intake.md
    # section 1, "What the pages say"): the charity sets its own.
    helpline: str = DEFAULT_HELPLINE
    emergency: str = DEFAULT_EMERGENCY
    reply_days: int = 5  # working days within which a caseworker reads a report
    exit_url: str = DEFAULT_EXIT_URL
    node_modules: Path | None = None  # None: the one beside the code, else ./node_modules
    templates_dir: Path = PACKAGE_DIR / "templates"
    static_dir: Path = PACKAGE_DIR / "static"

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UsageError("The port must be a number from 0 to 65535.")
        if not 1 <= self.max_file_mib <= 4096:
            raise UsageError("--max-file-mib must be from 1 to 4096.")
        if not 0 <= self.max_files <= 20:
            raise UsageError("--max-files must be from 0 to 20 (a report names at most 20).")
        if not 0 <= self.pow_bits <= 32:
            raise UsageError("--pow-bits must be from 0 to 32.")
        if self.rate_per_minute < 1:
            raise UsageError("--rate-per-minute must be at least 1.")
        if not 1 <= self.read_timeout <= 3600:
            raise UsageError("--read-timeout must be from 1 to 3600 seconds.")
        for option, text in (("--helpline", self.helpline), ("--emergency", self.emergency)):
            if not 1 <= len(text.strip()) <= 500:
                raise UsageError(f"{option} must be a sentence of 1 to 500 characters.")
        if not 1 <= self.reply_days <= 90:
            raise UsageError("--reply-days must be from 1 to 90.")
        if not is_exit_url(self.exit_url):
            raise UsageError(
                "--exit-url must be a full web address starting https:// (or http://), "
                "naming a site, with no user name or password."
            )

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mib << 20

    def node_modules_dir(self) -> Path:
        """Where libsodium-wrappers was installed (``npm ci``, run by ``make``).

        The copy beside the code comes first, so a stray ``node_modules`` in whatever
        directory the intake was started from cannot stand in for the crypto library.
        """
        if self.node_modules is not None:
            return self.node_modules
        beside = REPO_ROOT / "node_modules"
        return beside if beside.is_dir() else Path.cwd() / "node_modules"
