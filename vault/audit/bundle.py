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

FORMATS = {1: "redress-audit-bundle/1", 2: "redress-audit-bundle/2"}
MAGIC = FORMATS[2]  # what the vault writes


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


def encode(contents: BundleContents) -> bytes:
    if contents.version == 1 and contents.reads:
        raise ValueError("a redress-audit-bundle/1 carries no read lists")
    lines = [FORMATS[contents.version], f"origin {contents.origin}"]
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
    lines.append("end")
    return ("\n".join(lines) + "\n").encode()


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
    """Split a bundle into its parts, strictly. Any departure from the format is refused."""
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
    at = 1

    lines = _Lines(raw_lines)

    def bad(what: str) -> BundleError:
        return BundleError(f"The audit bundle is damaged at line {at + 1}: {what}.")

    def take(prefix: str) -> str:
        nonlocal at
        if at >= len(lines) or not lines[at].startswith(prefix + " "):
            raise bad(f"expected the '{prefix}' line")
        at += 1
        return lines[at - 1][len(prefix) + 1 :]

    def count(prefix: str) -> int:
        value = take(prefix)
        if not re.fullmatch(r"0|[1-9][0-9]{0,11}", value):
            raise bad(f"'{prefix}' needs a number")
        return int(value)

    origin = take("origin")
    if not re.fullmatch(r"[^\s+]+", origin):
        raise bad("the origin is not in the expected form")
    people: list[Person] = []
    seen: set[str] = set()
    while at < len(lines) and lines[at].split(" ", 1)[0] in ("caseworker", "auditor", "witness"):
        if lines[at] in seen:
            raise bad("it repeats a line above it")
        seen.add(lines[at])
        role, *rest = lines[at].split(" ")
        try:
            if role == "witness" and len(rest) == 1:
                key = VerifierKey.parse(rest[0])
                name = key.name
            elif role != "witness" and len(rest) == 2 and _is_name(rest[0]):
                name, key = rest[0], VerifierKey.parse(rest[1])
            else:
                raise SignedNoteError("wrong fields")
        except SignedNoteError as e:
            raise bad(f"a {role} key is not in the expected form ({e})") from None
        want = COSIGNATURE_V1 if role == "witness" else ED25519
        if key.key_type != want or (role == "caseworker" and key.name != origin):
            raise bad(f"a {role} key is of the wrong kind")
        people.append(Person(role, name, key))
        at += 1
    n = count("leaves")
    if at + n > len(lines):
        raise BundleError("The audit bundle is incomplete: entries are missing from its end.")
    leaves = raw_lines[at : at + n]
    at += n
    reads: list[tuple[int, bytes]] = []
    while version >= 2 and at < len(lines) and lines[at].startswith("reads "):
        parts = lines[at].split(" ")
        if len(parts) != 3 or not re.fullmatch(r"[1-9][0-9]{0,11}", parts[1]):
            raise bad("a read list is not in the expected form")
        entry = int(parts[1])
        if entry > n:
            raise bad(f"a read list names entry {entry}, but the bundle holds {n}")
        if reads and entry <= reads[-1][0]:
            raise bad("the read lists are not in the order of their entries")
        try:
            reads.append((entry, b64decode(parts[2])))
        except SignedNoteError:
            raise bad("a read list is not in the expected form") from None
        at += 1
    m = count("checkpoints")
    if m == 0:
        raise bad("a bundle holds at least one checkpoint")
    notes = []
    for _ in range(m):
        raw = take("checkpoint")
        try:
            notes.append(b64decode(raw).decode("utf-8"))
        except (SignedNoteError, UnicodeDecodeError):
            raise bad("a checkpoint is not in the expected form") from None
    proofs = []
    for _ in range(m - 1):
        parts = take("proof").split(" ")
        if len(parts) < 2 or not all(re.fullmatch(r"0|[1-9][0-9]{0,11}", p) for p in parts[:2]):
            raise bad("a consistency proof is not in the expected form")
        try:
            hashes = [b64decode(p, 32) for p in parts[2:]]
        except SignedNoteError:
            raise bad("a consistency proof hash is not in the expected form") from None
        proofs.append((int(parts[0]), int(parts[1]), hashes))
    if at != len(lines) - 1 or lines[at] != "end":
        raise bad("expected the 'end' line, and nothing after it")
    return BundleContents(origin, people, leaves, notes, proofs, reads, version)


def _is_name(text: str) -> bool:
    """A caseworker's or auditor's name as the vault accepts it (vault.keys.validate_name)."""
    try:
        return validate_name(text) == text
    except VaultError:
        return False
