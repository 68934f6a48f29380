"""The auditor's offline check of an audit bundle: :func:`verify`.

It needs nothing but the bundle (and, if the auditor has one, a checkpoint they trusted
before); nothing in it can open a report. The steps, and every message, are in
``docs/audit.md`` section 13; what each entry may say is the table in
:mod:`vault.audit.entries`.
"""

from __future__ import annotations

import gc
import hashlib
from collections import Counter
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from operator import indexOf, itemgetter

from vault.audit import merkle
from vault.audit.bundle import BundleContents, BundleError, Person, parse
from vault.audit.leaves import ACTIONS, CASE_ACTIONS, LINES, VERSION, member_commitment
from vault.audit.signed_note import (
    Checkpoint,
    SignedNote,
    SignedNoteError,
    VerifierKey,
    cosignature_time,
    parse_note,
    verify_signature,
)
from vault.keys import caseworker_key_id

__all__ = ["BundleError", "Verified", "verify"]


@dataclass(frozen=True, slots=True)
class Verified:
    """What an auditor reads after a clean verify."""

    origin: str
    entries: int
    first: str | None
    last: str | None
    by_actor: dict[str, Counter[str]]
    cases: int
    checkpoints: int
    newest: str  # the newest checkpoint note, to keep and pass as --trusted next time
    signed_by: str
    witnessed: list[tuple[str, int]]  # (witness, POSIX time) on the newest witnessed checkpoint
    witnessed_size: int | None  # the size of that checkpoint; None if none is witnessed
    trusted_size: int | None


@dataclass(slots=True)
class _Roster:
    """Who may sign at each log size, learned from the log's own key entries."""

    keys: dict[str, Person]  # caseworker key id -> person
    added: dict[str, int]  # key id -> index of the entry that added it
    revoked: dict[str, int]
    auditors: dict[str, int]  # vkey -> index of its entry
    witnesses: dict[str, int]
    # (key name, key ID) -> the caseworker key ids with it, in the order added: the only
    # keys a signature under that name and ID can be checked against
    signing: dict[tuple[str, bytes], list[str]] = field(default_factory=dict)
    signing_names: set[str] = field(default_factory=set)  # the key names among them


def verify(data: bytes, trusted: str | None = None) -> Verified:
    """Check a bundle; raise :class:`BundleError` naming the first bad place."""
    # Millions of small objects are made and kept here: the cyclic collector would walk them
    # again and again for nothing (they hold no cycles), tripling the time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _verify(data, trusted)
    finally:
        if collecting:
            gc.enable()


def _verify(data: bytes, trusted: str | None) -> Verified:
    contents = parse(data)
    leaves = contents.leaves
    tree = merkle.Tree.of_leaves(leaves)
    columns = _columns(leaves)
    roster = _roster(contents, columns)
    _check_actors(columns, roster, _first_transaction(contents))

    previous: tuple[int, bytes] = (0, merkle.EMPTY_ROOT)
    heads: list[tuple[int, bytes]] = []
    newest_signer = ""
    witnessed: list[tuple[str, int]] = []
    witnessed_size: int | None = None
    witness_keys: dict[tuple[str, bytes], list[VerifierKey]] = {}
    for p in contents.people:
        if p.role == "witness":
            witness_keys.setdefault((p.key.name, p.key.id), []).append(p.key)
    for number, text in enumerate(contents.checkpoints, 1):
        note, checkpoint = _checkpoint(text, contents.origin, f"checkpoint {number}")
        size = checkpoint.size
        if size <= previous[0]:
            raise BundleError(f"Checkpoint {number} is out of order: the bundle was changed.")
        if size > len(leaves):
            raise BundleError(
                f"The log has been cut short: checkpoint {number} covers {size} entries"
                f" but the bundle holds only {len(leaves)}."
            )
        newest_signer = _check_signer(note, size, roster, f"Checkpoint {number}")
        if tree.root_at(size) != checkpoint.root:
            raise BundleError(
                f"{_entries(previous[0] + 1, size, 'does', 'do')} not match checkpoint {number}:"
                " an entry there was edited, removed, added or moved."
            )
        cosigners = _cosigners(note, witness_keys, roster, size, f"Checkpoint {number}")
        if cosigners:
            witnessed, witnessed_size = cosigners, size
        previous = (size, checkpoint.root)
        heads.append(previous)
    if previous[0] != len(leaves):
        raise BundleError(
            f"{_entries(previous[0] + 1, len(leaves), 'is', 'are')} covered by no checkpoint:"
            " they were added to the bundle."
        )
    _check_proofs(heads, contents.proofs)

    trusted_size = None
    if trusted is not None:
        trusted_size = _check_trusted(trusted, contents.origin, tree, roster)

    cases = set(columns.cases)
    cases.discard(b"-")
    names = {k: p.name for k, p in roster.keys.items()}
    by_actor: dict[str, Counter[str]] = {}
    for (actor, action, _), count in columns.kinds.items():
        who = names[actor.decode()]
        by_actor.setdefault(who, Counter())[action.decode()] += count
    return Verified(
        origin=contents.origin,
        entries=len(leaves),
        first=_time(leaves[0]) if leaves else None,
        last=_time(leaves[-1]) if leaves else None,
        by_actor=by_actor,
        cases=len(cases),
        checkpoints=len(contents.checkpoints),
        newest=contents.checkpoints[-1],
        signed_by=newest_signer,
        witnessed=witnessed,
        witnessed_size=witnessed_size,
        trusted_size=trusted_size,
    )


def _entries(first: int, last: int, one: str = "", many: str = "") -> str:
    """``Entry 6 <one>`` or ``Entries 6 to 9 <many>``: the place, with its verb."""
    if first == last:
        return f"Entry {first} {one}".rstrip()
    return f"Entries {first} to {last} {many}".rstrip()


def _time(leaf: bytes) -> str:
    """The time of a leaf already checked to be in the redress-log/1 form."""
    return leaf.split(b" ", 2)[1].decode()


@dataclass(frozen=True, slots=True)
class _Columns:
    """The fields of every entry that the checks and the summary read, in log order."""

    actors: tuple[bytes, ...]
    actions: tuple[bytes, ...]
    cases: tuple[bytes, ...]  # b"-" where an entry names no case
    kinds: Counter[tuple[bytes, bytes, int]]  # (actor, action, length of case) -> entries


def _columns(leaves: list[bytes]) -> _Columns:
    """Every entry checked against the redress-log/1 form, and the fields the rest reads.

    The form is checked, and the fields cut out, in C (``vault._native.leaf_columns``) or
    else by one multi-line regular expression over the whole block of leaves; what the form
    cannot say (the action is a known one; only case actions name a case) is then checked
    once per distinct (actor, action, case or not).
    """
    split = _native_columns if merkle.native() else _python_columns
    bad, actors, actions, cases, counted = split(leaves)
    if bad >= 0:
        raise BundleError(f"Entry {bad + 1} is not in the {VERSION} form.")
    kinds = Counter(counted or zip(actors, actions, map(len, cases), strict=True))
    case_actions = {a.encode() for a in CASE_ACTIONS}
    unknown = {a for _, a, _ in kinds if a.decode("ascii") not in ACTIONS}
    if unknown:
        i = _first(actions, unknown)
        raise BundleError(f"Entry {i + 1} names an unknown action.")
    wrong = {(a, n) for _, a, n in kinds if (a in case_actions) != (n == 8)}
    if wrong:
        i = _first(zip(actions, map(len, cases), strict=True), wrong)
        raise BundleError(f"Entry {i + 1} names a case where it should not, or no case.")
    return _Columns(actors, actions, cases, kinds)


_Kinds = dict[tuple[bytes, bytes, int], int]
_Split = tuple[int, tuple[bytes, ...], tuple[bytes, ...], tuple[bytes, ...], _Kinds | None]


def _native_columns(leaves: list[bytes]) -> _Split:
    """(first entry not in the form or -1, actors, actions, cases, and the entries counted by
    (actor, action, length of case) or None), from vault/_native.c."""
    from vault import _native

    return _native.leaf_columns(leaves)


def _python_columns(leaves: list[bytes]) -> _Split:
    """The same as :func:`_native_columns`, with one regular expression over all the leaves."""
    block = b"\n".join(leaves) + b"\n" if leaves else b""
    fields = LINES.findall(block)
    if len(fields) != len(leaves) or block.count(b"\n") != len(leaves):
        bad = next((i for i, leaf in enumerate(leaves) if not LINES.fullmatch(leaf)), -1)
        if bad >= 0:
            return bad, (), (), (), None
        fields = [LINES.fullmatch(leaf).groups() for leaf in leaves]  # type: ignore[union-attr]
    if not leaves:
        return -1, (), (), (), None
    actors, actions, cases = (tuple(map(itemgetter(k), fields)) for k in (1, 2, 3))
    return -1, actors, actions, cases, None


def _roster(contents: BundleContents, columns: _Columns) -> _Roster:
    """Match the bundle's keys to the log entries that added them; refuse any others."""
    actions = columns.actions
    roster = _Roster({}, {}, {}, {}, {})
    if contents.leaves and actions[0] not in (b"vault-created", b"log-started"):
        raise BundleError("Entry 1 is not the start of a vault's log: the log was cut or changed.")
    listed = {p.key.to_vkey(): p for p in contents.people}
    # Each auditor's and witness's commitment, computed once: the first listed person of
    # that role with that commitment. (Matching each entry against every person instead
    # would take entries × people hashes, which a bundle of many of both makes hours.)
    committed: dict[tuple[str, str], str] = {}
    for vkey, p in listed.items():
        if p.role != "caseworker":
            made = _committed(p, vkey if p.role == "auditor" else None)
            committed.setdefault((p.role, made), vkey)
    by_caseworker_id = {
        caseworker_key_id(p.key.public_key): p for p in contents.people if p.role == "caseworker"
    }
    wanted = {b"caseworker-added", b"caseworker-revoked", b"auditor-added", b"witness-added"}
    numbers: Counter[bytes] = Counter()
    for (_, action, _), number in columns.kinds.items():
        if action in wanted:
            numbers[action] += number
    for i in sorted(
        i for value, number in numbers.items() for i in _places(actions, value, number)
    ):
        action = actions[i]
        fields = contents.leaves[i].split(b" ")
        detail, commit = fields[5].decode(), fields[6].decode()
        if action == b"caseworker-added":
            person = by_caseworker_id.get(detail)
            if person is None or _committed(person, person.key.public_key) != commit:
                raise BundleError(
                    f"Entry {i + 1} adds a caseworker whose key is not in the bundle."
                )
            if detail in roster.added:
                raise BundleError(f"Entry {i + 1} adds a caseworker who was already added.")
            roster.keys[detail] = person
            roster.added[detail] = i
        elif action == b"caseworker-revoked":
            if detail not in roster.added or detail in roster.revoked:
                raise BundleError(f"Entry {i + 1} revokes someone who is not a caseworker.")
            roster.revoked[detail] = i
        else:
            role = "auditor" if action == b"auditor-added" else "witness"
            match = committed.get((role, commit))
            if match is None:
                article = "an" if role == "auditor" else "a"
                raise BundleError(
                    f"Entry {i + 1} adds {article} {role} whose key is not in the bundle."
                )
            (roster.auditors if role == "auditor" else roster.witnesses)[match] = i
    for person in contents.people:
        vkey = person.key.to_vkey()
        known = (
            caseworker_key_id(person.key.public_key) in roster.keys
            if person.role == "caseworker"
            else vkey in (roster.auditors if person.role == "auditor" else roster.witnesses)
        )
        if not known:
            raise BundleError(
                f"The bundle lists a {person.role} ({person.name}) that no log entry added."
            )
    for key_id, person in roster.keys.items():
        roster.signing.setdefault((person.key.name, person.key.id), []).append(key_id)
        roster.signing_names.add(person.key.name)
    return roster


def _first(column: Iterable[object], values: Container[object]) -> int:
    """The index of the first entry in ``column`` that holds one of ``values`` (one pass)."""
    return next(i for i, value in enumerate(column) if value in values)


def _places(column: tuple[bytes, ...], value: bytes, number: int) -> Iterator[int]:
    """The indexes of the ``number`` entries in ``column`` that hold ``value``, in order."""
    i = -1
    for _ in range(number):
        i = column.index(value, i + 1)
        yield i


def _committed(person: Person, key: bytes | str | None) -> str:
    """The commitment a key entry makes: to name and key (members), or the vkey (witnesses)."""
    if key is None:
        return hashlib.sha256(person.key.to_vkey().encode()).hexdigest()
    return hashlib.sha256(member_commitment(person.name, key)).hexdigest()


def _first_transaction(contents: BundleContents) -> int:
    """How many entries the log's first transaction wrote: the size of its first checkpoint
    (all of them if there is none; such a bundle is refused later)."""
    if not contents.checkpoints:
        return len(contents.leaves)
    _note, checkpoint = _checkpoint(contents.checkpoints[0], contents.origin, "checkpoint 1")
    return checkpoint.size


def _check_actors(columns: _Columns, roster: _Roster, first_transaction: int) -> None:
    """Every entry is by a caseworker added before it and not yet revoked: else the first
    entry that is not.

    The log's first transaction is the one exception: it adds the vault's first caseworkers
    (``vault-created`` then the creator; or ``log-started`` then every caseworker of a vault
    older than the log, written by whoever unlocked it), so an entry in it may come before
    its own caseworker's. A caseworker added later has no entry before their addition.
    """
    actors = columns.actors
    n = len(actors)
    found: list[tuple[int, str]] = []  # (entry, what is wrong with it)
    distinct = {a for a, _, _ in columns.kinds}
    unknown = {a for a in distinct if a.decode() not in roster.added}
    if unknown:
        found.append((_first(actors, unknown), "was made by a key that is not a caseworker's"))
    known = distinct - unknown  # at most one per caseworker-added entry
    # Each caseworker's first and last entry. A search per caseworker is the quickest for the
    # few a vault has, but a bundle may add millions, each making its one entry near the end:
    # then one pass over the log for all of them.
    if len(known) <= _FEW:
        first = {value: actors.index(value) for value in known}
        last = {value: n - 1 - indexOf(reversed(actors), value) for value in known}
    else:
        first = dict(zip(reversed(actors), range(n - 1, -1, -1), strict=True))
        last = dict(zip(actors, range(n), strict=True))
    revoked_at: dict[bytes, int] = {}  # caseworker -> revocation, for those with entries after
    for value in known:
        key = value.decode()
        if first[value] < roster.added[key] >= first_transaction:
            found.append((first[value], "was made before its caseworker was added"))
        revoked = roster.revoked.get(key)
        if revoked is not None and last[value] > revoked:
            revoked_at[value] = revoked
    if revoked_at:  # the first entry made after its caseworker's revocation, in one pass
        later = next(
            i for i in range(min(revoked_at.values()) + 1, n) if revoked_at.get(actors[i], n) < i
        )
        found.append((later, "was made by a caseworker after their revocation"))
    if found:
        entry, what = min(found)
        raise BundleError(f"Entry {entry + 1} {what}.")


_FEW = 8  # caseworkers whose entries _check_actors finds by searching the log for each


def _checkpoint(text: str, origin: str, where: str) -> tuple[SignedNote, Checkpoint]:
    try:
        note = parse_note(text)
        checkpoint = Checkpoint.parse_text(note.text)
    except SignedNoteError as e:
        raise BundleError(f"The bundle's {where} is not a valid checkpoint ({e}).") from None
    if checkpoint.origin != origin:
        raise BundleError(f"The bundle's {where} is from another vault's log.")
    return note, checkpoint


def _check_signer(note: SignedNote, size: int, roster: _Roster, where: str) -> str:
    """The name of the caseworker whose valid signature the checkpoint carries."""
    signer = None
    for signature in note.signatures:
        # Only keys of the signature's name and key ID can verify it: looked up, not searched
        # for among all caseworkers (checkpoints × caseworkers, for a bundle of many of both).
        for key_id in roster.signing.get((signature.name, signature.key_id), ()):
            person = roster.keys[key_id]
            if not verify_signature(note, signature, person.key):
                raise BundleError(f"{where}'s signature does not verify: it was changed.")
            if roster.added[key_id] >= size:
                raise BundleError(f"{where} is signed by a key the log had not yet added.")
            revoked = roster.revoked.get(key_id)
            if revoked is not None and revoked < size:
                raise BundleError(f"{where} is signed by a revoked caseworker's key.")
            signer = person.name
    if signer is None:
        raise BundleError(f"{where} is signed by an unknown key, not by a caseworker here.")
    return signer


def _cosigners(
    note: SignedNote,
    witnesses: dict[tuple[str, bytes], list[VerifierKey]],
    roster: _Roster,
    size: int,
    where: str,
) -> list[tuple[str, int]]:
    """Valid witness cosignatures on a checkpoint; any signature by an unknown key is refused.

    (c2sp.org/signed-note tells verifiers to ignore unknown signatures; in a bundle, whose
    every key is listed and added by the log, one can only have been put there.)
    """
    found = []
    for signature in note.signatures:
        matched = False
        for key in witnesses.get((signature.name, signature.key_id), ()):  # name and ID match
            matched = True
            if not verify_signature(note, signature, key):
                raise BundleError(f"{where}'s witness cosignature does not verify.")
            if roster.witnesses.get(key.to_vkey(), size) >= size:
                raise BundleError(f"{where} is cosigned by a witness the log had not added.")
            found.append((key.name, cosignature_time(signature)))
        if not matched and signature.name not in roster.signing_names:
            raise BundleError(f"{where} carries a signature by an unknown key.")
    return found


def _check_proofs(
    heads: list[tuple[int, bytes]], proofs: list[tuple[int, int, list[bytes]]]
) -> None:
    """Each consistency proof against the (size, root) of the two checkpoints it joins."""
    for number, ((old, old_root), (new, new_root), proof) in enumerate(
        zip(heads, heads[1:], proofs, strict=False), 1
    ):
        if (proof[0], proof[1]) != (old, new) or not merkle.verify_consistency(
            old, new, old_root, new_root, proof[2]
        ):
            raise BundleError(
                f"Checkpoint {number + 1} is not consistent with checkpoint {number}."
            )


def _check_trusted(trusted: str, origin: str, tree: merkle.Tree, roster: _Roster) -> int:
    note, checkpoint = _checkpoint(trusted, origin, "trusted checkpoint")
    if not any(
        verify_signature(note, s, p.key) for s in note.signatures for p in roster.keys.values()
    ):
        raise BundleError("The trusted checkpoint is not signed by a caseworker of this vault.")
    if checkpoint.size > tree.size:
        raise BundleError(
            f"The log has been cut short: the trusted checkpoint covers {checkpoint.size}"
            f" entries but the bundle holds only {tree.size}."
        )
    if tree.root_at(checkpoint.size) != checkpoint.root:
        raise BundleError(
            "The log has forked: "
            + _entries(1, checkpoint.size, "no longer matches", "no longer match").lower()
            + " the checkpoint you trusted, so history before it was rewritten."
        )
    return checkpoint.size
