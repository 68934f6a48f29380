"""The project's habits, enforced: each dangerous dependency stays in its one module, and every
file the vault or the CLI writes is written through vault/files.py.

The import rules are ruff's banned-api (TID251) settings in pyproject.toml and cli/ruff.toml,
which `make test` runs over the tree; the tests here plant imports and run the real ruff binary
to prove a stray one fails it. The file rule is an AST scan of vault/ and cli/ for calls that
create, write or move files anywhere but vault/files.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")


# --- imports: ruff's banned-api ---------------------------------------------------------------


def ruff_codes(filename: str, source: str) -> list[str]:
    """The rule codes ruff reports for ``source`` as if it were the file ``filename`` in the
    tree, with the project's own configuration (cli/ruff.toml for cli/, as for a real file)."""
    result = subprocess.run(
        [str(RUFF), "check", "--output-format", "concise", "--stdin-filename", filename, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    codes = [
        line.split(": ", 1)[1].split()[0] for line in result.stdout.splitlines() if ": " in line
    ]
    assert (result.returncode == 1) == bool(codes), result.stdout
    return codes


NACL = [
    "import nacl",
    "import nacl.bindings as b",
    "from nacl import bindings",
    "from nacl.pwhash import argon2id",
]
SQLCIPHER = ["import sqlcipher3", "from sqlcipher3 import dbapi2 as sqlcipher"]
PRIVATE = [
    "from vault import _crypto",
    "from vault._crypto import random_bytes",
    "import vault._native",
    "from vault import _native",
]


@pytest.mark.parametrize("line", NACL + SQLCIPHER)
@pytest.mark.parametrize(
    "filename",
    ["vault/planted.py", "vault/intake/planted.py", "vault/audit/planted.py", "cli/planted.py"],
)
def test_pynacl_and_sqlcipher_anywhere_else_fail_ruff(filename: str, line: str) -> None:
    assert "TID251" in ruff_codes(filename, f"{line}  # noqa: F401\n")


@pytest.mark.parametrize("line", PRIVATE)
def test_the_cli_importing_a_private_vault_module_fails_ruff(line: str) -> None:
    assert "TID251" in ruff_codes("cli/planted.py", f"{line}  # noqa: F401\n")


@pytest.mark.parametrize(
    ("filename", "lines"),
    [
        ("vault/_crypto.py", NACL),
        ("vault/db.py", SQLCIPHER),
        ("vault/planted.py", PRIVATE),  # the vault's own modules build on its private ones
        ("tests/planted.py", NACL + SQLCIPHER + PRIVATE),  # independent references
        ("bench/planted.py", NACL + SQLCIPHER + PRIVATE),  # bare-rate measurements
    ],
)
def test_the_owners_tests_and_bench_may_import_them(filename: str, lines: list[str]) -> None:
    source = "".join(f"{line}  # noqa: F401\n" for line in lines)
    assert "TID251" not in ruff_codes(filename, source)


def test_the_tree_keeps_its_imports_where_they_belong() -> None:
    result = subprocess.run(
        [str(RUFF), "check", "--select", "TID251", "vault", "cli", "tests", "bench"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- files: only through vault/files.py -----------------------------------------------------

SCANNED = ("vault", "cli")
OWNER = "vault/files.py"

# Calls that create, write, truncate or move a file or directory, by qualified name.
WRITING_CALLS = {
    *(f"os.{n}" for n in ("mkdir", "makedirs", "mkfifo", "mknod", "symlink", "link")),
    *(f"os.{n}" for n in ("rename", "renames", "replace", "truncate", "ftruncate")),
    *(f"shutil.{n}" for n in ("copy", "copy2", "copyfile", "copytree", "move")),
    *(f"shutil.{n}" for n in ("make_archive", "unpack_archive")),
    "logging.FileHandler",
    "sqlite3.connect",
    "sqlcipher3.connect",
    "sqlcipher3.dbapi2.connect",
}
WRITING_MODULES = ("tempfile.",)  # every tempfile call makes a file or a directory
# Methods that write whatever object they are called on (pathlib's): flagged by name.
WRITING_METHODS = {"write_text", "write_bytes", "touch", "mkdir", "symlink_to", "hardlink_to"}
WRITING_MODE = set("wax+")
WRITING_FLAGS = {"O_CREAT", "O_WRONLY", "O_RDWR", "O_APPEND", "O_TRUNC", "O_TMPFILE"}
OPENS_WITH_MODE = {"open": 1, "io.open": 1, "codecs.open": 1, "os.fdopen": 1, "gzip.open": 1}

# Files that may write without vault/files.py, and why. Keyed by (file, call) so anything
# else those files start writing is still caught.
ALLOWED = {
    ("vault/db.py", "sqlcipher3.dbapi2.connect"): (
        "SQLCipher creates its own database, -wal and -shm files (and a backup's destination); "
        "files.touch_private_file makes the database 0600 first so they inherit the mode"
    ),
}


@dataclass(frozen=True)
class Write:
    path: str
    line: int
    call: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.call}"


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.names: dict[str, str] = {}  # local name -> what it was imported as
        self.found: list[Write] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.names[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.names[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for alias in node.names:
                self.names[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def qualified(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.names.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualified(node.func)
        if name is not None and self.writes(name, node):
            self.found.append(Write(self.path, node.lineno, name))
        elif isinstance(node.func, ast.Attribute) and self.method_writes(node.func.attr, node):
            self.found.append(Write(self.path, node.lineno, f"<path>.{node.func.attr}"))
        self.generic_visit(node)

    def writes(self, name: str, node: ast.Call) -> bool:
        if name in WRITING_CALLS or name.startswith(WRITING_MODULES):
            return True
        if name in OPENS_WITH_MODE:
            return _mode_writes(_argument(node, OPENS_WITH_MODE[name], "mode"), default="r")
        if name == "os.open":
            return _flags_write(_argument(node, 1, "flags"))
        if name in ("zipfile.ZipFile", "tarfile.open", "tarfile.TarFile"):
            return _mode_writes(_argument(node, 1, "mode"), default="r")
        return False

    def method_writes(self, method: str, node: ast.Call) -> bool:
        if method in WRITING_METHODS:
            return True
        if method == "open":  # Path.open(mode): Inbox.open(directory) and the like are not files
            mode = _argument(node, 0, "mode")
            return isinstance(mode, ast.Constant) and _mode_writes(mode, default="r")
        if method == "rename":
            return True
        # Path.replace(target) takes one argument; str.replace and bytes.replace take two or more.
        return method == "replace" and len(node.args) == 1 and not node.keywords


def _argument(node: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for kw in node.keywords:
        if kw.arg == keyword:
            return kw.value
    return node.args[position] if len(node.args) > position else None


def _mode_writes(mode: ast.expr | None, default: str) -> bool:
    if mode is None:
        return bool(WRITING_MODE & set(default))
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return bool(WRITING_MODE & set(mode.value))
    return True  # a mode worked out at run time might write: say so rather than guess


def _flags_write(flags: ast.expr | None) -> bool:
    if flags is None:
        return True
    named = {n.attr for n in ast.walk(flags) if isinstance(n, ast.Attribute)}
    named |= {n.id for n in ast.walk(flags) if isinstance(n, ast.Name)}
    if named & WRITING_FLAGS:
        return True
    return not named <= {"os", "O_RDONLY", "O_DIRECTORY", "O_NOFOLLOW", "O_CLOEXEC", "O_PATH"}


def writes_in(source: str, path: str = "vault/planted.py") -> list[Write]:
    scanner = _Scanner(path)
    scanner.visit(ast.parse(source))
    return scanner.found


def test_nothing_writes_a_file_except_through_vault_files() -> None:
    found = []
    for top in SCANNED:
        for file in sorted((REPO / top).rglob("*.py")):
            path = file.relative_to(REPO).as_posix()
            if path != OWNER:
                found += [
                    w for w in writes_in(file.read_text(), path) if (w.path, w.call) not in ALLOWED
                ]
    assert found == [], "write these through vault/files.py:\n" + "\n".join(map(str, found))


def test_every_allowance_is_still_needed() -> None:
    for path, call in ALLOWED:
        assert call in {w.call for w in writes_in((REPO / path).read_text(), path)}, (path, call)


@pytest.mark.parametrize(
    "source",
    [
        "open(p, 'w')",
        "open(p, mode='ab')",
        "open(p, 'x')",
        "open(p, 'r+b')",
        "open(p, m)",
        "import io\nio.open(p, 'wb')",
        "import os\nos.fdopen(fd, 'wb')",
        "p.open('w')",
        "p.open(mode='a')",
        "p.write_text('x')",
        "(base / 'f').write_bytes(b'x')",
        "p.touch()",
        "p.mkdir(parents=True)",
        "p.rename(q)",
        "p.replace(q)",
        "import os\nos.open(p, os.O_WRONLY | os.O_CREAT, 0o600)",
        "import os\nos.open(p, os.O_RDWR)",
        "import os\nos.open(p, flags)",
        "from os import O_CREAT, open as o\no(p, O_CREAT)",
        "import os\nos.mkdir(p)",
        "import os\nos.makedirs(p, exist_ok=True)",
        "import os\nos.replace(a, b)",
        "import os as o\no.rename(a, b)",
        "from os import replace\nreplace(a, b)",
        "import shutil\nshutil.copyfile(a, b)",
        "import shutil\nshutil.copy2(a, b)",
        "from shutil import move\nmove(a, b)",
        "import tempfile\ntempfile.mkdtemp(dir=d)",
        "import tempfile\ntempfile.NamedTemporaryFile()",
        "from tempfile import mkstemp\nmkstemp()",
        "import sqlite3\nsqlite3.connect(p)",
        "from sqlcipher3 import dbapi2 as s\ns.connect(p)",
    ],
)
def test_the_scan_finds_writes(source: str) -> None:
    assert writes_in(source), source


@pytest.mark.parametrize(
    "source",
    [
        "open(p)",
        "open(p, 'rb')",
        "p.open()",
        "p.read_bytes()",
        "Inbox.open(directory)",
        "import os\nos.open(d, os.O_RDONLY | os.O_DIRECTORY)",
        "import os\nos.chmod(p, 0o700)",
        "p.unlink(missing_ok=True)",
        "'a-b'.replace('-', '_')",
        "from vault.files import replace_private_file\nreplace_private_file(p, b'x')",
    ],
)
def test_the_scan_passes_reads(source: str) -> None:
    assert writes_in(source) == [], source
