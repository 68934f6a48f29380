"""How an intake is run: `vault intake serve` options, as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vault.errors import UsageError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[1]


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
