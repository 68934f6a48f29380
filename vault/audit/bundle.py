"""The audit bundle's format: the one file an auditor receives, written and read back strictly.

The format is specified in ``docs/audit.md`` (section 12). In short, one UTF-8 text file::

    redress-audit-bundle/2
    origin <origin>
    caseworker <name> <vkey>        one per caseworker ever registered
    auditor <name> <vkey>           one per registered auditor
    witness <vkey>                  one per witness (an intake that cosigns)
    leaves <N>
    <leaf>                          N lines, in log order (vault/audit/leaves.py)
    reads <entry> <base64 of a read list>         one per read across cases, entries increasing
    checkpoints <M>
    checkpoint <base64 of a signed note>          M lines, sizes strictly increasing
    proof <old> <new> <base64 hash>...            M - 1 lines: consecutive checkpoints
    end

:func:`encode` is the vault's side; :func:`parse` splits a bundle into its parts and refuses
any departure from the layout. What the parts must mean is checked by :mod:`vault.audit.verify`.

A bundle of ``redress-audit-bundle/1`` (written before read lists were carried) has no
``reads`` lines and is still read; the vault writes ``/2`` only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from vault.audit import merkle
from vault.audit.signed_note import (
    COSIGNATURE_V1,
    ED25519,
    SignedNoteError,
    VerifierKey,
    b64decode,
    b64encode,
)
from vault.errors import IntegrityError, VaultError
from vault.keys import validate_name

FORMATS = {
    1: "redress-audit-bundle/1",
    2: "redress-audit-bundle/2",
    3: "redress-team-audit-bundle/1",
}
MAGIC = FORMATS[2]  # what a vault on one laptop writes
TEAM_VERSION = 3  # what a vault in a team of laptops writes: every laptop's log


class BundleError(IntegrityError):
    """The audit bundle is damaged, changed, or not an audit bundle."""


@dataclass(frozen=True, slots=True)
class Person:
    role: str  # caseworker, auditor or witness
    name: str
    key: VerifierKey


@dataclass(slots=True)
class BundleContents:
    origin: str
    people: list[Person]
    leaves: list[bytes]
    checkpoints: list[str]  # signed notes, with cosignatures
    proofs: list[tuple[int, int, list[bytes]]] = field(default_factory=list)
    # (entry number from 1, its read list's bytes), entries increasing; none in a /1 bundle
    reads: list[tuple[int, bytes]] = field(default_factory=list)
    version: int = 2


@dataclass(slots=True)
class TeamBundle:
    """A ``redress-team-audit-bundle/1``: every laptop's log, and who is on the team.

    ``start`` is the team key file the team's chain starts from, ``statements`` the chain's
    signed statements (body, signature), ``witnessed`` the newest witnessed checkpoint of each
    log that colleagues told the exporting laptop about, and ``logs`` one log per laptop, the
    exporting laptop's first, each as a ``/2`` bundle's body.
    """

    start: bytes
    statements: list[tuple[bytes, bytes]]
    witnessed: list[str]
    logs: list[BundleContents]


def encode(contents: BundleContents) -> bytes:
    if contents.version == 1 and contents.reads:
        raise ValueError("a redress-audit-bundle/1 carries no read lists")
    lines = [FORMATS[contents.version], *_log_lines(contents), "end"]
    return ("\n".join(lines) + "\n").encode()


def encode_team(team: TeamBundle) -> bytes:
    """A team's bundle: the membership chain, the witnessed heads, then every log."""
    lines = [FORMATS[TEAM_VERSION], f"team {b64encode(team.start)}"]
    lines += [f"statement {b64encode(body)} {b64encode(sig)}" for body, sig in team.statements]
    lines += [f"witnessed {b64encode(note.encode())}" for note in team.witnessed]
    for log in team.logs:
        lines += _log_lines(log)
    lines.append("end")
    return ("\n".join(lines) + "\n").encode()


def _log_lines(contents: BundleContents) -> list[str]:
    lines = [f"origin {contents.origin}"]
    for p in contents.people:
        if p.role == "witness":
            lines.append(f"witness {p.key.to_vkey()}")
        else:
            lines.append(f"{p.role} {p.name} {p.key.to_vkey()}")
    lines.append(f"leaves {len(contents.leaves)}")
    lines.extend(leaf.decode("ascii") for leaf in contents.leaves)
    lines.extend(f"reads {entry} {b64encode(text)}" for entry, text in contents.reads)
    lines.append(f"checkpoints {len(contents.checkpoints)}")
    lines.extend(f"checkpoint {b64encode(note.encode())}" for note in contents.checkpoints)
    for old, new, proof in contents.proofs:
        lines.append(" ".join(["proof", str(old), str(new), *map(b64encode, proof)]))
    return lines


def proofs_between(sizes: Sequence[int], tree: merkle.Tree) -> list[tuple[int, int, list[bytes]]]:
    return [(a, b, tree.consistency_proof(a, b)) for a, b in pairwise(sizes)]


class _Lines:
    """A bundle's lines, each decoded only when read (the leaves are kept as bytes).

    A module-level class, not one made inside :func:`parse`: a class made per call is a
    reference cycle holding every line, which verify's paused collector would leave behind.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: list[bytes]) -> None:
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, i: int) -> str:
        try:
            return self._raw[i].decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError(
                f"The audit bundle is damaged at line {i + 1}: it is not UTF-8 text."
            ) from None


def parse(data: bytes) -> BundleContents:
    """Split a one-log bundle (``/1`` or ``/2``) into its parts, strictly. Any departure from
    the format is refused; a team's bundle (``/3``) is refused here: :func:`parse_team`."""
    reader = _reader(data)
    if reader.version == TEAM_VERSION:
        raise BundleError("That audit bundle covers a team of laptops; read it with parse_team.")
    contents = reader.log()
    reader.end()
    return contents


def parse_team(data: bytes) -> TeamBundle:
    """Split a team's bundle (``redress-team-audit-bundle/1``) into its parts, strictly."""
    reader = _reader(data)
    if reader.version != TEAM_VERSION:
        raise BundleError("That audit bundle covers one laptop's log, not a team's.")
    try:
        start = b64decode(reader.take("team"))
    except SignedNoteError:
        raise reader.bad("the team's start is not in the expected form") from None
    statements: list[tuple[bytes, bytes]] = []
    while reader.starts("statement"):
        parts = reader.take("statement").split(" ")
        try:
            if len(parts) != 2:
                raise SignedNoteError("wrong fields")
            statements.append((b64decode(parts[0]), b64decode(parts[1], 64)))
        except SignedNoteError:
            raise reader.bad("a statement about the team is not in the expected form") from None
    witnessed: list[str] = []
    while reader.starts("witnessed"):
        try:
            witnessed.append(b64decode(reader.take("witnessed")).decode("utf-8"))
        except (SignedNoteError, UnicodeDecodeError):
            raise reader.bad("a witnessed checkpoint is not in the expected form") from None
    logs = [reader.log()]
    while reader.starts("origin"):
        logs.append(reader.log())
    reader.end()
    return TeamBundle(start, statements, witnessed, logs)


def _reader(data: bytes) -> _Reader:
    version = next(
        (v for v, magic in FORMATS.items() if data.startswith(magic.encode() + b"\n")), None
    )
    if version is None:
        raise BundleError("That file is not a Redress audit bundle.")
    if not data.endswith(b"\n"):
        raise BundleError("The audit bundle is incomplete: it does not end with a newline.")
    # Split as bytes: the leaves stay bytes (checked field by field in _columns); every
    # other line must be UTF-8 text.
    raw_lines = data.split(b"\n")
    raw_lines.pop()  # the empty line after the final newline
    return _Reader(raw_lines, version)


def parse_person(line: str, origin: str) -> Person:
    """One ``caseworker``, ``auditor`` or ``witness`` line of the log of ``origin``."""
    role, *rest = line.split(" ")
    try:
        if role == "witness" and len(rest) == 1:
            key = VerifierKey.parse(rest[0])
            name = key.name
        elif role in ("caseworker", "auditor") and len(rest) == 2 and _is_name(rest[0]):
            name, key = rest[0], VerifierKey.parse(rest[1])
        else:
            raise SignedNoteError("wrong fields")
    except SignedNoteError as e:
        raise BundleError(f"a {role} key is not in the expected form ({e})") from None
    want = COSIGNATURE_V1 if role == "witness" else ED25519
    if key.key_type != want or (role == "caseworker" and key.name != origin):
        raise BundleError(f"a {role} key is of the wrong kind")
    return Person(role, name, key)


class _Reader:
    """Reads a bundle's lines in order; ``at`` is the index of the next line."""

    __slots__ = ("at", "lines", "raw", "version")

    def __init__(self, raw: list[bytes], version: int) -> None:
        self.raw = raw
        self.lines = _Lines(raw)
        self.at = 1
        self.version = version

    def bad(self, what: str) -> BundleError:
        return BundleError(f"The audit bundle is damaged at line {self.at + 1}: {what}.")

    def starts(self, prefix: str) -> bool:
        return self.at < len(self.lines) and self.lines[self.at].startswith(prefix + " ")

    def take(self, prefix: str) -> str:
        if not self.starts(prefix):
            raise self.bad(f"expected the '{prefix}' line")
        self.at += 1
        return self.lines[self.at - 1][len(prefix) + 1 :]

    def count(self, prefix: str) -> int:
        value = self.take(prefix)
        if not re.fullmatch(r"0|[1-9][0-9]{0,11}", value):
            raise self.bad(f"'{prefix}' needs a number")
        return int(value)

    def end(self) -> None:
        if self.at != len(self.lines) - 1 or self.lines[self.at] != "end":
            raise self.bad("expected the 'end' line, and nothing after it")

    def _person(self, line: str, origin: str) -> Person:
        try:
            return parse_person(line, origin)
        except BundleError as e:
            raise self.bad(str(e)) from None

    def log(self) -> BundleContents:
        """One log: from its ``origin`` line to its last ``proof`` line."""
        lines, version = self.lines, self.version
        origin = self.take("origin")
        if not re.fullmatch(r"[^\s+]+", origin):
            raise self.bad("the origin is not in the expected form")
        people: list[Person] = []
        seen: set[str] = set()
        while self.at < len(lines) and lines[self.at].split(" ", 1)[0] in (
            "caseworker",
            "auditor",
            "witness",
        ):
            if lines[self.at] in seen:
                raise self.bad("it repeats a line above it")
            seen.add(lines[self.at])
            people.append(self._person(lines[self.at], origin))
            self.at += 1
        n = self.count("leaves")
        if self.at + n > len(lines):
            raise BundleError("The audit bundle is incomplete: entries are missing from its end.")
        leaves = self.raw[self.at : self.at + n]
        self.at += n
        reads: list[tuple[int, bytes]] = []
        while version >= 2 and self.starts("reads"):
            parts = lines[self.at].split(" ")
            if len(parts) != 3 or not re.fullmatch(r"[1-9][0-9]{0,11}", parts[1]):
                raise self.bad("a read list is not in the expected form")
            entry = int(parts[1])
            if entry > n:
                raise self.bad(f"a read list names entry {entry}, but the bundle holds {n}")
            if reads and entry <= reads[-1][0]:
                raise self.bad("the read lists are not in the order of their entries")
            try:
                reads.append((entry, b64decode(parts[2])))
            except SignedNoteError:
                raise self.bad("a read list is not in the expected form") from None
            self.at += 1
        m = self.count("checkpoints")
        if m == 0:
            raise self.bad("a bundle holds at least one checkpoint")
        notes = []
        for _ in range(m):
            raw = self.take("checkpoint")
            try:
                notes.append(b64decode(raw).decode("utf-8"))
            except (SignedNoteError, UnicodeDecodeError):
                raise self.bad("a checkpoint is not in the expected form") from None
        proofs = []
        for _ in range(m - 1):
            parts = self.take("proof").split(" ")
            if len(parts) < 2 or not all(re.fullmatch(r"0|[1-9][0-9]{0,11}", p) for p in parts[:2]):
                raise self.bad("a consistency proof is not in the expected form")
            try:
                hashes = [b64decode(p, 32) for p in parts[2:]]
            except SignedNoteError:
                raise self.bad("a consistency proof hash is not in the expected form") from None
            proofs.append((int(parts[0]), int(parts[1]), hashes))
        return BundleContents(origin, people, leaves, notes, proofs, reads, min(version, 2))


def _is_name(text: str) -> bool:
    """A caseworker's or auditor's name as the vault accepts it (vault.keys.validate_name)."""
    try:
        return validate_name(text) == text
    except VaultError:
        return False
