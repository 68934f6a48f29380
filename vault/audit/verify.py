"""The auditor's offline check of an audit bundle: :func:`verify`.

It needs nothing but the bundle (and, if the auditor has one, a checkpoint they trusted
before); nothing in it can open a report. The steps, and every message, are in
``docs/audit.md`` section 13; what each entry may say is the table in
:mod:`vault.audit.entries`.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import re
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress
from operator import gt, indexOf, itemgetter

from vault.audit import entries, merkle
from vault.audit.bundle import FORMATS, BundleContents, BundleError, Person, parse
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

__all__ = ["BundleError", "Read", "Verified", "verify", "verify_log"]


@dataclass(frozen=True, slots=True)
class Read:
    """One read across cases (a search, patterns, stats, the triage fill), from its read list:
    which cases it read, and which of them matched (a search) or did not open. Case ids only."""

    entry: int  # its number in the log, from 1
    action: str
    time: str
    by: str  # the caseworker's name
    cases: tuple[str, ...]  # every case it read, in id order
    matched: tuple[str, ...]
    damaged: tuple[str, ...]


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
    format: str = "redress-audit-bundle/2"
    # every read across cases with its read list; None for a /1 bundle, which carries none
    reads: tuple[Read, ...] | None = ()
    unlisted_reads: int = 0  # in a /1 bundle, how many reads across cases it holds


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
    # entry index -> the auditor's or witness's key its auditor-added or witness-added matched
    added_keys: dict[int, VerifierKey] = field(default_factory=dict)


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
    return verify_log(parse(data), trusted)


def verify_log(contents: BundleContents, trusted: str | None = None) -> Verified:
    """Check one log's parts (a ``/1`` or ``/2`` bundle, or one log of a team's ``/3``)."""
    leaves = contents.leaves
    tree = merkle.Tree.of_leaves(leaves)
    columns = _columns(leaves)
    roster = _roster(contents, columns)
    first_transaction = _first_transaction(contents)
    _check_actors(columns, roster, first_transaction)

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
            _entries(
                previous[0] + 1,
                len(leaves),
                "is covered by no checkpoint: it was added to the bundle.",
                "are covered by no checkpoint: they were added to the bundle.",
            )
        )
    _check_proofs(heads, contents.proofs)
    _check_meaning(contents, columns, roster, first_transaction)
    reads = _check_reads(contents, columns, roster)

    trusted_size = None
    if trusted is not None:
        trusted_size = _check_trusted(trusted, contents.origin, tree, roster)

    cases = set(columns.cases)
    cases.discard(b"-")
    names = {k: p.name for k, p in roster.keys.items()}
    by_actor: dict[str, Counter[str]] = {}
    for (actor, action, *_), count in columns.kinds.items():
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
        format=FORMATS[contents.version],
        reads=reads,
        unlisted_reads=0 if reads is not None else len(_read_places(columns)),
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
    details: tuple[bytes, ...]  # b"-" where an entry has no detail
    commits: bytes  # each entry's commitment length: 1 (b"-") or 64
    kinds: Counter[_Kind]  # entries by (actor, action, length of case, detail, commitment's)
    bad_time: int  # the first entry whose time is no real time or goes back, or -1


_Kind = tuple[bytes, bytes, int, bytes, int]
_Split = tuple[
    int,
    int,
    tuple[bytes, ...],
    tuple[bytes, ...],
    tuple[bytes, ...],
    tuple[bytes, ...],
    bytes,
    dict[_Kind, int] | None,
]


def _columns(leaves: list[bytes]) -> _Columns:
    """Every entry checked against the redress-log/1 form, and the fields the rest reads.

    The form is checked, and the fields cut out, in C (``vault._native.leaf_columns``) or
    else by one multi-line regular expression over the whole block of leaves; what the form
    cannot say (the action is a known one; only case actions name a case) is then checked
    once per distinct (actor, action, case or not, detail, commitment or not).
    """
    split = _native_columns if merkle.native() else _python_columns
    bad, bad_time, actors, actions, cases, details, commits, counted = split(leaves)
    if bad >= 0:
        raise BundleError(f"Entry {bad + 1} is not in the {VERSION} form.")
    kinds = Counter(counted or zip(actors, actions, map(len, cases), details, commits, strict=True))
    case_actions = {a.encode() for a in CASE_ACTIONS}
    unknown = {a for _, a, *_ in kinds if a.decode("ascii") not in ACTIONS}
    if unknown:
        i = _first(actions, unknown)
        raise BundleError(f"Entry {i + 1} names an unknown action.")
    wrong = {(a, n) for _, a, n, *_ in kinds if (a in case_actions) != (n == 8)}
    if wrong:
        i = _first(zip(actions, map(len, cases), strict=True), wrong)
        raise BundleError(f"Entry {i + 1} names a case where it should not, or no case.")
    return _Columns(actors, actions, cases, details, commits, kinds, bad_time)


def _native_columns(leaves: list[bytes]) -> _Split:
    """(first entry not in the form or -1, first bad time or -1, actors, actions, cases,
    details, commitment lengths, and the entries counted by kind or None), from
    vault/_native.c."""
    from vault import _native

    return _native.leaf_columns(leaves)


def _python_columns(leaves: list[bytes]) -> _Split:
    """The same as :func:`_native_columns`, with one regular expression over all the leaves."""
    block = b"\n".join(leaves) + b"\n" if leaves else b""
    fields = LINES.findall(block)
    if len(fields) != len(leaves) or block.count(b"\n") != len(leaves):
        bad = next((i for i, leaf in enumerate(leaves) if not LINES.fullmatch(leaf)), -1)
        if bad >= 0:
            return bad, -1, (), (), (), (), b"", None
        fields = [LINES.fullmatch(leaf).groups() for leaf in leaves]  # type: ignore[union-attr]
    if not leaves:
        return -1, -1, (), (), (), (), b"", None
    times, actors, actions, cases, details = (
        tuple(map(itemgetter(k), fields)) for k in (0, 1, 2, 3, 4)
    )
    commits = bytes(map(len, map(itemgetter(5), fields)))
    return -1, _first_bad_time(times), actors, actions, cases, details, commits, None


def _first_bad_time(times: tuple[bytes, ...]) -> int:
    """The first time that is no real date and time, or earlier than the one before; or -1."""
    unreal = {t for t in set(times) if not _real_time(t)}
    first = _first(times, unreal) if unreal else len(times)
    back = next(compress(itertools.count(1), map(gt, times, times[1:])), len(times))
    found = min(first, back)
    return -1 if found == len(times) else found


def _real_time(text: bytes) -> bool:
    """A time already in the form YYYY-MM-DDTHH:MM:SSZ that names a real second (no 24:00,
    no leap second, no 30 February)."""
    year, month, day, hour, minute, second = (int(text[a:b]) for a, b in _TIME_PARTS)
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


_TIME_PARTS = ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))


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
    by_caseworker_id: dict[str, list[Person]] = {}
    for p in contents.people:
        if p.role == "caseworker":
            by_caseworker_id.setdefault(caseworker_key_id(p.key.public_key), []).append(p)
    wanted = {b"caseworker-added", b"caseworker-revoked", b"auditor-added", b"witness-added"}
    numbers: Counter[bytes] = Counter()
    for (_, action, *_), number in columns.kinds.items():
        if action in wanted:
            numbers[action] += number
    for i in sorted(
        i for value, number in numbers.items() for i in _places(actions, value, number)
    ):
        action = actions[i]
        fields = contents.leaves[i].split(b" ")
        detail, commit = fields[5].decode(), fields[6].decode()
        if action == b"caseworker-added":
            person = next(
                (
                    p
                    for p in by_caseworker_id.get(detail, ())
                    if _committed(p, p.key.public_key) == commit
                ),
                None,
            )
            if person is None:
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
            roster.added_keys[i] = listed[match].key
    for person in contents.people:
        vkey = person.key.to_vkey()
        known = (
            roster.keys.get(caseworker_key_id(person.key.public_key)) == person
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


def _check_meaning(
    contents: BundleContents, columns: _Columns, roster: _Roster, first_transaction: int
) -> None:
    """Every entry says what the table of vault/audit/entries.py allows, in a log that makes
    sense along its length: else the first entry that does not.

    One entry at a time: a real time, never before the one before; a detail and commitment
    its action allows (checked once per distinct kind of entry). Along the log: one start;
    assignments only to caseworkers then on the roster; team key epochs one after another,
    and reseals to the epoch of the time; revocations committing to the revoked key; each
    auditor and witness added once, under its own key ID; a recovery restore right after
    the entry that adds its caseworker.
    """
    leaves, actions, actors, details = (
        contents.leaves,
        columns.actions,
        columns.actors,
        columns.details,
    )
    # (entry, 0 for a problem of the entry alone or 1 for one along the log, what is wrong)
    found: list[tuple[int, int, str]] = []
    if columns.bad_time >= 0:
        at = _time(leaves[columns.bad_time])
        found.append(
            (
                columns.bad_time,
                0,
                f"has the time {at}, which is not a real date and time"
                if not _real_time(at.encode())
                else f"has the time {at}, earlier than the entry before it:"
                " times never go back along the log",
            )
        )
    problems: dict[_Kind, str] = {}
    for kind in columns.kinds:
        actor, action, _, detail, commit = kind
        problem = entries.entry_problem(action.decode(), detail.decode(), commit != 1)
        if problem is None and action in _OWN_KEY_ID and detail != actor:
            problem = (
                f"is {action.decode()} {detail.decode()}, but that is not the key id"
                " of the caseworker who made it"
            )
        if problem is not None:
            problems[kind] = problem
    if problems:
        kinds = zip(actors, actions, map(len, columns.cases), details, columns.commits, strict=True)
        i, kind = next((i, k) for i, k in enumerate(kinds) if k in problems)
        found.append((i, 0, problems[kind]))

    number: Counter[bytes] = Counter()
    for (_, action, *_), n in columns.kinds.items():
        number[action] += n

    def places(*wanted: bytes) -> list[int]:
        return sorted(i for a in wanted for i in _places(actions, a, number[a]))

    again = [i for i in places(b"vault-created", b"log-started") if i > 0]
    if again:
        found.append((again[0], 1, "starts a vault's log a second time: a log starts once"))
    for i in places(b"assigned"):
        to = details[i].decode()
        if to == entries.NOT_A_CASEWORKER:
            continue
        added, revoked = roster.added.get(to), roster.revoked.get(to)
        if added is None or added > i or (revoked is not None and revoked < i):
            found.append(
                (i, 1, f"assigns a case to {to}, which is not a caseworker's key id at that point")
            )
            break
    found += [(i, 1, what) for i, what in _epoch_problems(leaves, actions, details, places)]
    for key_id, i in roster.revoked.items():
        committed = leaves[i].rsplit(b" ", 1)[1].decode()
        if committed == "-":
            if not (actions[0] == b"log-started" and i < first_transaction):
                found.append(
                    (
                        i,
                        1,
                        "is caseworker-revoked without a commitment, which only the start"
                        " of an older vault's log may leave out",
                    )
                )
        elif committed != hashlib.sha256(roster.keys[key_id].key.public_key).hexdigest():
            found.append((i, 1, "revokes a caseworker but commits to a key that is not theirs"))
    seen: set[str] = set()
    for i, key in sorted(roster.added_keys.items()):
        role = "auditor" if actions[i] == b"auditor-added" else "witness"
        if details[i].decode() != key.id.hex():
            found.append((i, 1, f"adds {_a(role)} under a key ID that is not its key's"))
        if key.to_vkey() in seen:
            found.append((i, 1, f"adds {_a(role)} who was already added"))
        seen.add(key.to_vkey())
    for i in places(b"recovery-restored"):
        if i == 0 or actions[i - 1] != b"caseworker-added" or details[i - 1] != actors[i]:
            found.append(
                (
                    i,
                    1,
                    "restores from recovery shares, but the entry before it does not add"
                    " the caseworker who made it",
                )
            )
            break
    if found:
        entry, _, what = min(found)
        raise BundleError(f"Entry {entry + 1} {what}.")


_OWN_KEY_ID = (b"vault-created", b"passphrase-changed")  # entries whose detail is the actor
_READ_ACTIONS = tuple(a.encode() for a in entries.READ_ACTIONS)
_READ_LINE = re.compile(rb"([0-9A-HJKMNP-TV-Z]{8}) (read|match|damaged)\n")


def _read_places(columns: _Columns) -> list[int]:
    """The indexes of the reads across cases, in log order."""
    number: Counter[bytes] = Counter()
    for (_, action, *_), n in columns.kinds.items():
        if action in _READ_ACTIONS:
            number[action] += n
    return sorted(i for a, n in number.items() for i in _places(columns.actions, a, n))


def _check_reads(
    contents: BundleContents, columns: _Columns, roster: _Roster
) -> tuple[Read, ...] | None:
    """Each read across cases against the read list the bundle carries for it: one list per
    such entry and no other, each hashing to the entry's commitment, in the read list's form,
    naming as many cases as the entry says. Else the first entry where that fails.

    A ``redress-audit-bundle/1`` carries no read lists: None.
    """
    if contents.version < 2:
        return None
    places = {i + 1 for i in _read_places(columns)}
    lists = dict(contents.reads)
    names = {k: p.name for k, p in roster.keys.items()}
    found: list[Read] = []
    for entry in sorted(places | lists.keys()):
        leaf = contents.leaves[entry - 1]
        action, detail = columns.actions[entry - 1].decode(), columns.details[entry - 1].decode()
        if entry not in lists:
            raise BundleError(
                f"Entry {entry} is {action} {detail}, but the bundle carries no read list"
                " for it: the list was removed."
            )
        if entry not in places:
            raise BundleError(
                f"Entry {entry} is {action}, which reads no cases, but the bundle carries"
                " a read list for it: the list was added."
            )
        text = lists[entry]
        if hashlib.sha256(text).hexdigest().encode() != leaf.rsplit(b" ", 1)[1]:
            raise BundleError(
                f"Entry {entry}'s read list does not match its commitment: the list was changed."
            )
        body = text.removeprefix(entries.READ_LIST_HEADER.encode())
        rows = _READ_LINE.findall(body)
        ids = [case for case, _ in rows]
        if (
            body == text
            or sum(len(c) + len(state) + 2 for c, state in rows) != len(body)
            or ids != sorted(set(ids))
        ):
            raise BundleError(
                f"Entry {entry}'s read list is not in the redress cases read v1 form."
            )
        if len(rows) != int(detail):
            raise BundleError(
                f"Entry {entry} is {action} {detail}, but its read list names {len(rows)}"
                f" case{'' if len(rows) == 1 else 's'}."
            )
        found.append(
            Read(
                entry=entry,
                action=action,
                time=_time(leaf),
                by=names[columns.actors[entry - 1].decode()],
                cases=tuple(c.decode() for c in ids),
                matched=tuple(c.decode() for c, state in rows if state == b"match"),
                damaged=tuple(c.decode() for c, state in rows if state == b"damaged"),
            )
        )
    return tuple(found)


def _a(role: str) -> str:
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"


def _epoch_problems(
    leaves: list[bytes],
    actions: tuple[bytes, ...],
    details: tuple[bytes, ...],
    places: Callable[..., list[int]],
) -> list[tuple[int, str]]:
    """The first team-key-rotated that is not one more than the epoch before, team-key-settled
    of an epoch not yet started, or report-resealed to another epoch than the current one.

    A vault starts at epoch 1 (:data:`entries.FIRST_EPOCH`); an older vault's log (from
    ``log-started``) does not know its epoch until the first rotation, settling or reseal.
    A settling (two laptops started an epoch apart; this one took the other's key) names an
    epoch this log started already, and the epochs after it that this log started are
    dropped: the epoch is then the one settled.
    """
    current = entries.FIRST_EPOCH if leaves and actions[0] == b"vault-created" else None
    for i in places(b"team-key-rotated", b"team-key-settled", b"report-resealed"):
        if not entries.BY_ACTION["team-key-rotated"].detail.allows(details[i].decode()):
            continue  # not an epoch at all: refused as such, by its row of the table
        epoch = int(details[i])
        if actions[i] == b"team-key-rotated":
            if current is not None and epoch != current + 1:
                return [(i, f"rotates the team key to epoch {epoch}, but the epoch was {current}")]
            if current is None and epoch <= entries.FIRST_EPOCH:
                return [(i, f"rotates the team key to epoch {epoch}, where vaults start")]
        elif actions[i] == b"team-key-settled":
            if current is not None and not entries.FIRST_EPOCH < epoch <= current:
                return [(i, f"settles team key epoch {epoch}, but the epoch was {current}")]
            if current is None and epoch <= entries.FIRST_EPOCH:
                return [(i, f"settles team key epoch {epoch}, where vaults start")]
        elif current is not None and epoch != current:
            return [(i, f"reseals a report to epoch {epoch}, but the epoch then was {current}")]
        current = epoch
    return []


def _first(column: Iterable[object], values: Container[object]) -> int:
    """The index of the first entry in ``column`` that holds one of ``values`` (one pass)."""
    return next(i for i, value in enumerate(column) if value in values)


def _places(column: tuple[bytes, ...], value: bytes, number: int) -> Iterator[int]:
    """The indexes of the ``number`` entries in ``column`` that hold ``value``, in order."""
    i = -1
    for _ in range(number):
        i = column.index(value, i + 1)
        yield i


def committed_to(person: Person, key: bytes | str | None) -> str:
    """The commitment an entry adding ``person`` makes (vault/team_logs.py matches a removed
    laptop's people lines to it): :func:`_committed`."""
    return _committed(person, key)


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
    distinct = {a for a, *_ in columns.kinds}
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
