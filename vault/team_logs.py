"""Every laptop's access log on every laptop: carried by sync, checked on receipt, exported.

Each laptop keeps its own access log (its own origin, signed by its owner: :mod:`vault.auditlog`),
since who opened what happens on a laptop. ``vault sync`` carries each laptop's new entries,
checkpoints and witness cosignatures to the others as **log items** (``{"t": "log", ...}``,
sealed to the team key and chained like every item: :mod:`vault.relay_items`); a new member
receives every log this laptop holds in the welcome's history. ``docs/sync.md`` section 4a is
the specification; ``docs/audit.md`` section 16 the bundle that holds them all.

A log item's content::

    {"t": "log", "log": <origin>, "from": <index of its first entry>,
     "leaves": [<entry>...], "checkpoints": [<signed note>...], "reads": [[<entry>, <list>]],
     "cosignatures": [[<size>, <cosignature line>]], "people": [<bundle person line>...],
     "heads": [<signed note with cosignatures>...]}

On receipt (:func:`take`), in the item's transaction: a team item may carry only its own
laptop's log; the entries must follow on from those held (an overlap must be the same
entries; a gap is an integrity error); every checkpoint must be signed by a caseworker of
the team under the log's origin and match the root of the entries it covers; the last one
must cover every entry (no unsigned tail); each cosignature must verify with a witness key
that log lists. ``heads`` are the newest witnessed checkpoints of other laptops' logs the
sender holds: kept (the newest per log) so a bundle can show a log cut short against them.

From a removed caseworker's laptop, after this laptop closed its chain (vault/taking.py
``_read_closed``), :func:`take_witnessed` takes only the entries the team witnessed
(docs/sync.md sections 4 and 4a).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from vault import auditing
from vault import db as dbmod
from vault.audit import bundle, merkle
from vault.audit.signed_note import (
    Checkpoint,
    SignedNote,
    SignedNoteError,
    VerifierKey,
    parse_note,
    verify_signature,
)
from vault.auditlog import caseworker_verifier
from vault.errors import IntakeError, IntegrityError
from vault.keys import TeamPublicKey
from vault.relay_items import TO_TEAM, Item
from vault.store import Vault
from vault.team_changes import Statement, Team, TeamChangeError, follow

if TYPE_CHECKING:
    from vault.pull import IntakeClient, PullResult

CONTENT_BYTES = 1 << 20  # entries packed into one item, about
MAX_LEAF = 512


class Chain(Protocol):
    """Where items go: this laptop's chain to the team or to one member (vault/sending.py)."""

    def add(self, doc: dict[str, Any]) -> None: ...


# --- the team's membership chain, kept for the bundle ------------------------------------


def remember_team(vault: Vault, start: TeamPublicKey, statements: list[Statement]) -> None:
    """Keep the team chain the relay serves; refuse one that differs from what is kept."""
    held = vault.access.team_key(start.epoch)
    if held is None or held.public_key != start.public_key:
        raise IntegrityError(
            "The relay's team key is not this team's: it was started with another team key file."
        )
    try:
        follow(Team.start(start), statements)
    except TeamChangeError as e:
        raise IntegrityError(f"The relay's record of the team does not verify ({e}).") from None
    rows = [(0, start.to_file_bytes(), b"")] + [
        (n, s.body, s.signature) for n, s in enumerate(statements, 1)
    ]
    kept = {int(n): bytes(body) for n, body, _ in vault.db.execute("SELECT * FROM team_chain")}
    for n, body, _ in rows:
        if n in kept and kept[n] != body:
            raise IntegrityError(
                f"The relay's record of the team has changed: statement {n} is not the one"
                " this laptop kept."
            )
    if len(kept) > len(rows):
        raise IntegrityError(
            "The relay's record of the team is shorter than the one this laptop kept:"
            " statements were dropped."
        )
    new = [r for r in rows if r[0] not in kept]
    if new:
        with vault.transaction() as db:
            db.executemany("INSERT INTO team_chain VALUES (?, ?, ?)", new)


def is_team(db: dbmod.Connection) -> bool:
    """Whether this vault holds a team chain (it has synced through a relay)."""
    return db.execute("SELECT 1 FROM team_chain WHERE n = 0").fetchone() is not None


def missing_logs(vault: Vault) -> list[str]:
    """Current members whose laptop's log has not reached this laptop (a team bundle from
    here would name them as withheld): their names, in the chain's order."""
    rows = vault.db.execute("SELECT n, body, signature FROM team_chain ORDER BY n").fetchall()
    if not rows:
        return []
    team = follow(
        Team.start(TeamPublicKey.from_file_bytes(bytes(rows[0][1]))),
        [Statement(bytes(b), bytes(s)) for _, b, s in rows[1:]],
    )
    held = {str(o) for (o,) in vault.db.execute("SELECT DISTINCT origin FROM team_log_leaves")}
    held.add(vault.log.origin)
    return [m.name for m in team.members if m.origin is not None and m.origin not in held]


def short_removed_logs(vault: Vault) -> list[tuple[str, int, int]]:
    """Removed members' laptops whose log is held here to fewer entries than a witnessed
    checkpoint a colleague passed on covers (a team bundle from here says so): each as
    (owner's name, entries held, entries the checkpoint covers)."""
    rows = vault.db.execute(
        "SELECT c.name, h.origin, h.size FROM team_log_heads h JOIN sync_origins o"
        " ON o.origin = h.origin JOIN caseworkers c ON c.key_id = o.key_id"
        " WHERE c.revoked IS NOT NULL ORDER BY c.name"
    ).fetchall()
    short = []
    for name, origin, size in rows:
        (held,) = vault.db.execute(
            "SELECT count(*) FROM team_log_leaves WHERE origin = ?", (origin,)
        ).fetchone()
        if int(held) < int(size):
            short.append((str(name), int(held), int(size)))
    return short


# --- sending -----------------------------------------------------------------------------


def witness_and_queue(
    vault: Vault,
    relay: IntakeClient,
    team_chain: Callable[[dbmod.Connection], Chain],
    pulled: PullResult,
) -> None:
    """Have the intake witness this laptop's newest checkpoint if the log grew since the
    pull did, then queue this laptop's new log entries and the heads it forwards."""
    from vault.pull import witness_log

    head = vault.log.head()
    asked = pulled.witness_alarm is None and pulled.witness_problem is None  # else: said why
    if head is not None and pulled.witnessed != head.size and asked:
        try:
            witnessed, problem = witness_log(vault, relay)
            pulled.witnessed = witnessed or pulled.witnessed
            pulled.witness_problem = problem
        except IntakeError as e:
            pulled.witness_problem = f"the intake's witness did not answer as expected ({e})"
        except IntegrityError as e:
            pulled.witness_alarm = e
    with vault.transaction() as db:
        queue_own(vault, db, team_chain(db))


def queue_own(vault: Vault, db: dbmod.Connection, chain: Chain, *, whole: bool = False) -> None:
    """This laptop's log entries, checkpoints and cosignatures not yet sent (all of them if
    ``whole``, for a new member's history), and heads of colleagues' logs to forward."""
    origin = vault.log.origin
    row = db.execute("SELECT size, cosigned FROM team_log_sent WHERE origin = ?", (origin,))
    sent, cosigned = (0, 0) if whole else (row.fetchone() or (0, 0))
    checkpoints = [
        (int(s), str(n))
        for s, n in db.execute(
            "SELECT size, note FROM checkpoints WHERE size > ? ORDER BY size", (int(sent),)
        )
    ]
    cosignatures = [
        (int(s), str(line))
        for s, line in db.execute(
            "SELECT size, line FROM cosignatures WHERE size > ? ORDER BY size, line",
            (int(cosigned),),
        )
    ]
    # Heads ride only on items this laptop's own log makes anyway: passing one on never makes
    # an item of its own, so laptops that do nothing fall quiet (the relay empties).
    if not checkpoints and not cosignatures and not whole:
        return
    forwarded = _heads_to_forward(db, origin, whole)
    leaves = (
        bytes(leaf)
        for (leaf,) in db.execute(
            "SELECT leaf FROM log_leaves WHERE seq >= ? ORDER BY seq", (int(sent),)
        )
    )
    reads = {
        int(e) + 1: str(c)
        for e, c in db.execute("SELECT entry, cases FROM case_reads WHERE entry >= ?", (int(sent),))
    }
    _send_log(
        chain,
        origin,
        int(sent),
        leaves,
        checkpoints,
        reads,
        cosignatures,
        _own_people(vault, db),
        forwarded,
    )
    if not whole:
        top = checkpoints[-1][0] if checkpoints else int(sent)
        newest_cosigned = max([s for s, _ in cosignatures] + [int(cosigned)])
        db.execute(
            "INSERT INTO team_log_sent (origin, size, cosigned) VALUES (?, ?, ?) ON CONFLICT"
            " (origin) DO UPDATE SET size = excluded.size, cosigned = excluded.cosigned",
            (origin, top, newest_cosigned),
        )
        for note in forwarded:
            checkpoint = Checkpoint.parse_text(parse_note(note).text)
            db.execute(
                "INSERT INTO team_log_sent (origin, size) VALUES (?, ?) ON CONFLICT (origin)"
                " DO UPDATE SET size = excluded.size",
                (checkpoint.origin, checkpoint.size),
            )


def queue_history(vault: Vault, db: dbmod.Connection, chain: Chain) -> None:
    """For a new member: this laptop's whole log, and every colleague's log it holds."""
    queue_own(vault, db, chain, whole=True)
    for (origin,) in db.execute(
        "SELECT DISTINCT origin FROM team_log_leaves ORDER BY origin"
    ).fetchall():
        log = _held_log(db, str(origin))
        cosignatures = [
            (size, line)
            for size, note in zip(log.sizes, log.contents.checkpoints, strict=True)
            for line in _cosignature_lines(note)
        ]
        _send_log(
            chain,
            log.contents.origin,
            0,
            iter(log.contents.leaves),
            [
                (s, _without_cosignatures(n))
                for s, n in zip(log.sizes, log.contents.checkpoints, strict=True)
            ],
            {e: t.decode("ascii") for e, t in log.contents.reads},
            cosignatures,
            log.people_lines,
            [],
        )


def _heads_to_forward(db: dbmod.Connection, own: str, whole: bool) -> list[str]:
    """The newest witnessed checkpoint of each colleague's log this laptop holds (from the
    log itself, or as forwarded to it), where newer than the one it forwarded last."""
    best: dict[str, tuple[int, str]] = {}
    for origin, size, note, cosigned in db.execute(
        "SELECT origin, size, note, cosigned FROM team_log_checkpoints WHERE cosigned != ''"
    ):
        if int(size) > best.get(str(origin), (0, ""))[0]:
            best[str(origin)] = (int(size), str(note) + str(cosigned))
    for origin, size, note in db.execute("SELECT origin, size, note FROM team_log_heads"):
        if int(size) > best.get(str(origin), (0, ""))[0]:
            best[str(origin)] = (int(size), str(note))
    sent = {str(o): int(s) for o, s in db.execute("SELECT origin, size FROM team_log_sent")}
    return [
        note
        for origin, (size, note) in sorted(best.items())
        if origin != own and (whole or size > sent.get(origin, 0))
    ]


def _send_log(
    chain: Chain,
    origin: str,
    start: int,
    leaves: Iterator[bytes],
    checkpoints: list[tuple[int, str]],
    reads: dict[int, str],
    cosignatures: list[tuple[int, str]],
    people: list[str],
    forwarded: list[str],
) -> None:
    """Pack a log's entries into items of about CONTENT_BYTES, each ending at a checkpoint."""
    at, size = start, 0
    doc = _log_doc(origin, at, people, forwarded)
    for checkpoint_size, note in checkpoints:
        while at < checkpoint_size:
            leaf = next(leaves).decode("ascii")
            doc["leaves"].append(leaf)
            size += len(leaf)
            at += 1
            if at in reads:
                doc["reads"].append([at, reads[at]])
                size += len(reads[at])
        doc["checkpoints"].append(note)
        if size >= CONTENT_BYTES:
            chain.add(doc)
            doc, size = _log_doc(origin, at, people, []), 0
    doc["cosignatures"] = [[s, line] for s, line in cosignatures]
    if doc["leaves"] or doc["cosignatures"] or doc["heads"] or doc["checkpoints"]:
        chain.add(doc)


def _log_doc(origin: str, start: int, people: list[str], heads: list[str]) -> dict[str, Any]:
    return {
        "t": "log",
        "log": origin,
        "from": start,
        "leaves": [],
        "checkpoints": [],
        "reads": [],
        "cosignatures": [],
        "people": people,
        "heads": heads,
    }


def _own_people(vault: Vault, db: dbmod.Connection) -> list[str]:
    return [_person_line(p) for p in auditing.log_people(vault, db)]


def _person_line(p: bundle.Person) -> str:
    if p.role == "witness":
        return f"witness {p.key.to_vkey()}"
    return f"{p.role} {p.name} {p.key.to_vkey()}"


def _cosignature_lines(note: str) -> list[str]:
    """The witness cosignature lines a stored checkpoint carries after its own signature."""
    return [line + "\n" for line in note.split("\n\n", 1)[1].splitlines()[1:]]


def _without_cosignatures(note: str) -> str:
    text, signatures = note.split("\n\n", 1)
    return text + "\n\n" + signatures.splitlines(keepends=True)[0]


# --- receiving ---------------------------------------------------------------------------


def take(vault: Vault, db: dbmod.Connection, item: Item, doc: dict[str, Any]) -> None:
    """Store a log item's entries, checkpoints and cosignatures, checked (module docstring)."""
    origin = str(doc["log"])
    where = f"Item {item.n} from laptop {item.origin}"
    if item.to == TO_TEAM and origin != item.origin:
        raise IntegrityError(f"{where} carries another laptop's access log.")
    if origin == vault.log.origin:
        raise IntegrityError(f"{where} carries this laptop's own access log.")
    known = db.execute("SELECT 1 FROM sync_origins WHERE origin = ?", (origin,)).fetchone()
    if known is None:
        raise IntegrityError(f"{where} carries the access log of a laptop not on the team.")
    people = [str(p) for p in doc["people"]]
    for line in people:
        _check_person_line(line, origin, where)
        db.execute(
            "INSERT INTO team_log_people (origin, line) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (origin, line),
        )
    log = f"the access log of laptop {origin}"
    start, leaves = int(doc["from"]), [str(x).encode("ascii") for x in doc["leaves"]]
    if start < 0 or any(len(x) > MAX_LEAF or b"\n" in x for x in leaves):
        raise ValueError
    hashes = [
        bytes(h)
        for (h,) in db.execute(
            "SELECT hash FROM team_log_leaves WHERE origin = ? ORDER BY seq", (origin,)
        )
    ]
    if start > len(hashes):
        raise IntegrityError(
            f"{where} skips entries of {log}: it starts at entry {start + 1}, but this laptop"
            f" holds {len(hashes)}. Entries were dropped."
        )
    rows = []
    for i, leaf in enumerate(leaves, start):
        h = merkle.leaf_hash(leaf)
        if i < len(hashes):
            if hashes[i] != h:
                raise IntegrityError(
                    f"{where} holds another entry {i + 1} of {log} than this laptop has:"
                    " the log was changed or forked."
                )
            continue
        hashes.append(h)
        rows.append((origin, i, leaf, h))
    db.executemany("INSERT INTO team_log_leaves VALUES (?, ?, ?, ?)", rows)
    keys = _caseworker_keys(db, origin)
    tree = merkle.Tree(hashes) if doc["checkpoints"] else None
    last = db.execute(
        "SELECT max(size) FROM team_log_checkpoints WHERE origin = ?", (origin,)
    ).fetchone()[0]
    last = int(last or 0)
    for text in doc["checkpoints"]:
        note, checkpoint = _checkpoint(str(text), origin, where)
        if not _signed(note, keys):
            raise IntegrityError(
                f"{where} carries a checkpoint of {log} not signed by a caseworker of the team."
            )
        if checkpoint.size > len(hashes) or tree is None:
            raise IntegrityError(f"{where} carries a checkpoint beyond the entries of {log}.")
        if tree.root_at(checkpoint.size) != checkpoint.root:
            raise IntegrityError(
                f"{where}: the entries of {log} do not match its signed checkpoint at"
                f" {checkpoint.size} entries: they were changed."
            )
        if checkpoint.size <= last:
            continue  # held already (an overlap with the history a welcome brought)
        db.execute(
            "INSERT INTO team_log_checkpoints (origin, size, note) VALUES (?, ?, ?)",
            (origin, checkpoint.size, str(text)),
        )
        last = checkpoint.size
    if last != len(hashes):
        raise IntegrityError(f"{where} carries entries of {log} that no checkpoint signs.")
    for entry, cases in doc["reads"]:
        db.execute(
            "INSERT INTO team_log_reads (origin, entry, cases) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (origin, int(entry), str(cases)),
        )
    _take_cosignatures(db, origin, where, [(int(s), str(line)) for s, line in doc["cosignatures"]])
    for text in doc["heads"]:
        _take_head(vault, db, str(text), where)


def take_witnessed(vault: Vault, db: dbmod.Connection, item: Item, doc: dict[str, Any]) -> bool:
    """A log item from a removed caseworker's laptop, numbered after this laptop closed its
    chain (vault/taking.py): of its entries, only those up to the newest checkpoint the team
    witnessed are taken, checked as :func:`take` checks them. Witnessed means cosigned by a
    witness this laptop knows itself (the intake, which witnesses a laptop's log only while
    its owner is a member), or covered by a head a colleague passed on (``team_log_heads``).
    People lines are taken only if an entry held added them (and, for a caseworker or a
    witness, the key is one this laptop knows), cosignatures only by its own witness, heads
    never; and the log as then held must verify as an auditor checks it, else nothing of the
    item is taken (IntegrityError). False if nothing new of the log was taken."""
    origin = str(doc["log"])
    if origin != item.origin or item.to != TO_TEAM:
        return False
    start, leaves = int(doc["from"]), [str(x).encode("ascii") for x in doc["leaves"]]
    hashes = [
        bytes(h)
        for (h,) in db.execute(
            "SELECT hash FROM team_log_leaves WHERE origin = ? ORDER BY seq", (origin,)
        )
    ]
    held = len(hashes)
    if start < 0 or start > held:
        return False  # after a gap: the entries between never came, so none after them
    for i, leaf in enumerate(leaves, start):
        h = merkle.leaf_hash(leaf)
        if i < held and hashes[i] != h:
            return False  # another log than the one held: a fork, never taken
        if i >= held:
            hashes.append(h)
    tree = merkle.Tree(hashes)
    notes: dict[int, SignedNote] = {}
    for text in doc["checkpoints"]:
        note, checkpoint = _checkpoint(str(text), origin, f"Item {item.n}")
        if checkpoint.size <= len(hashes) and tree.root_at(checkpoint.size) == checkpoint.root:
            notes[checkpoint.size] = note
    witnesses = [VerifierKey.parse(str(v)) for (v,) in db.execute("SELECT vkey FROM witnesses")]
    cosignatures = []
    for size, line in doc["cosignatures"]:
        row = db.execute(
            "SELECT note FROM team_log_checkpoints WHERE origin = ? AND size = ?",
            (origin, int(size)),
        ).fetchone()
        signed = notes.get(int(size)) or (None if row is None else parse_note(str(row[0])))
        if signed is None:
            continue
        try:
            signature = parse_note(signed.text + "\n" + str(line)).signatures[0]
        except SignedNoteError:
            continue
        if any(verify_signature(signed, signature, k) for k in witnesses):
            cosignatures.append((int(size), str(line)))
    witnessed = {s for s, _ in cosignatures}
    head = db.execute(
        "SELECT size, note FROM team_log_heads WHERE origin = ?", (origin,)
    ).fetchone()
    if head is not None:
        checkpoint = Checkpoint.parse_text(parse_note(str(head[1])).text)
        if checkpoint.size <= len(hashes) and tree.root_at(checkpoint.size) == checkpoint.root:
            witnessed |= {s for s in notes if s <= checkpoint.size}
    upto = max((s for s in notes if s in witnessed and s > held), default=held)
    keys = {bytes(pk) for (pk,) in db.execute("SELECT sign_pk FROM caseworkers")}
    own_witnesses = {k.to_vkey() for k in witnesses}
    added = {  # what the entries held and taken added: (action, commitment)
        (f[3], f[6])
        for f in (
            x.split(b" ")
            for x in [
                *(bytes(r[0]) for r in db.execute(_LEAVES, (origin,))),
                *leaves[: max(0, upto - start)],
            ]
        )
        if len(f) == 7
    }
    people = [
        str(line)
        for line in doc["people"]
        if _known_person(str(line), origin, keys, own_witnesses, added)
    ]
    taken: dict[str, Any] = {
        **doc,
        "from": start,
        "leaves": [x.decode("ascii") for x in leaves[: max(0, upto - start)]],
        "checkpoints": [str(t) for t in doc["checkpoints"] if _size_of(str(t)) <= upto],
        "reads": [[e, c] for e, c in doc["reads"] if int(e) <= upto],
        "cosignatures": [[s, line] for s, line in cosignatures if s <= upto],
        "people": people,
        "heads": [],
    }
    # The log as held must still check as an auditor checks it, else the item is not taken:
    # so a removed laptop cannot make the bundles that hold its log fail.
    take(vault, db, item, taken)
    _check_log(db, origin)
    return upto > held or bool(taken["cosignatures"])


def _check_log(db: dbmod.Connection, origin: str) -> None:
    from vault.audit.verify import verify_log

    held = _held_log(db, origin).contents
    if not held.leaves:
        return  # none of it held: nothing to check
    try:
        verify_log(held)
    except bundle.BundleError as e:
        raise IntegrityError(f"The access log of laptop {origin} would not verify ({e}).") from None


_LEAVES = "SELECT leaf FROM team_log_leaves WHERE origin = ? ORDER BY seq"


def _known_person(
    line: str, origin: str, keys: set[bytes], witnesses: set[str], added: set[tuple[bytes, bytes]]
) -> bool:
    """Whether a people line of a removed laptop's log names someone an entry held added, and
    (a caseworker, a witness) a key this laptop knows itself."""
    from vault.audit.verify import committed_to

    try:
        person = bundle.parse_person(line, origin)
    except bundle.BundleError:
        return False
    vkey = person.key.to_vkey()
    if person.role == "witness":
        made, known = committed_to(person, None), vkey in witnesses
    elif person.role == "caseworker":
        made, known = committed_to(person, person.key.public_key), person.key.public_key in keys
    else:
        made, known = committed_to(person, vkey), True
    return known and (f"{person.role}-added".encode(), made.encode()) in added


def _size_of(text: str) -> int:
    return Checkpoint.parse_text(parse_note(text).text).size


def _check_person_line(line: str, origin: str, where: str) -> None:
    try:
        bundle.parse_person(line, origin)
    except bundle.BundleError:
        raise IntegrityError(f"{where} names a person in a form not expected.") from None


def _caseworker_keys(db: dbmod.Connection, origin: str) -> list[VerifierKey]:
    return [
        caseworker_verifier(origin, bytes(pk))
        for (pk,) in db.execute("SELECT sign_pk FROM caseworkers")
    ]


def _signed(note: SignedNote, keys: list[VerifierKey]) -> bool:
    """Whether one of ``keys`` signed ``note`` (each signature tried only with the keys of
    its name and key ID)."""
    return any(
        verify_signature(note, s, k)
        for s in note.signatures
        for k in keys
        if k.name == s.name and k.id == s.key_id
    )


def _checkpoint(text: str, origin: str, where: str) -> tuple[SignedNote, Checkpoint]:
    try:
        note = parse_note(text)
        checkpoint = Checkpoint.parse_text(note.text)
    except SignedNoteError:
        raise IntegrityError(f"{where} carries a checkpoint not in the expected form.") from None
    if checkpoint.origin != origin:
        raise IntegrityError(f"{where} carries a checkpoint of another log.")
    return note, checkpoint


def _witness_keys(db: dbmod.Connection, origin: str) -> list[VerifierKey]:
    keys = [
        VerifierKey.parse(str(line).split(" ", 1)[1])
        for (line,) in db.execute(
            "SELECT line FROM team_log_people WHERE origin = ? AND line LIKE 'witness %'",
            (origin,),
        )
    ]
    keys += [VerifierKey.parse(str(v)) for (v,) in db.execute("SELECT vkey FROM witnesses")]
    return keys


def _take_cosignatures(
    db: dbmod.Connection, origin: str, where: str, cosignatures: list[tuple[int, str]]
) -> None:
    if not cosignatures:
        return
    keys = _witness_keys(db, origin)
    for size, line in cosignatures:
        row = db.execute(
            "SELECT note, cosigned FROM team_log_checkpoints WHERE origin = ? AND size = ?",
            (origin, size),
        ).fetchone()
        if row is None:
            raise IntegrityError(f"{where} carries a cosignature of a checkpoint it never sent.")
        note = parse_note(str(row[0]))
        try:
            signature = parse_note(note.text + "\n" + line).signatures[0]
        except SignedNoteError:
            raise IntegrityError(
                f"{where} carries a cosignature not in the expected form."
            ) from None
        if not any(verify_signature(note, signature, k) for k in keys):
            raise IntegrityError(f"{where} carries a witness cosignature that does not verify.")
        prefix = f"\u2014 {signature.name} "
        kept = [x for x in str(row[1]).splitlines(keepends=True) if not x.startswith(prefix)]
        db.execute(
            "UPDATE team_log_checkpoints SET cosigned = ? WHERE origin = ? AND size = ?",
            ("".join(sorted([*kept, line])), origin, size),
        )


def _take_head(vault: Vault, db: dbmod.Connection, text: str, where: str) -> None:
    """A colleague's word of a log's newest witnessed checkpoint: kept if it verifies."""
    try:
        note = parse_note(text)
        checkpoint = Checkpoint.parse_text(note.text)
    except SignedNoteError:
        raise IntegrityError(f"{where} forwards a checkpoint not in the expected form.") from None
    origin = checkpoint.origin
    if origin == vault.log.origin:
        return  # this laptop's own log: it holds better
    known = db.execute("SELECT 1 FROM sync_origins WHERE origin = ?", (origin,)).fetchone()
    signed = _signed(note, _caseworker_keys(db, origin))
    cosigned = _signed(note, _witness_keys(db, origin))
    if known is None:
        return  # a laptop this one has not heard of yet: its member item comes later
    if not signed:
        raise IntegrityError(
            f"{where} forwards a checkpoint of laptop {origin} that is not signed by a"
            " caseworker of the team."
        )
    if not cosigned:
        return  # not witnessed by a witness this laptop knows: nothing it can vouch for
    row = db.execute("SELECT size FROM team_log_heads WHERE origin = ?", (origin,)).fetchone()
    if row is not None and int(row[0]) >= checkpoint.size:
        return
    hashes = [
        bytes(h)
        for (h,) in db.execute(
            "SELECT hash FROM team_log_leaves WHERE origin = ? ORDER BY seq LIMIT ?",
            (origin, checkpoint.size),
        )
    ]
    if len(hashes) == checkpoint.size and merkle.root(hashes) != checkpoint.root:
        raise IntegrityError(
            f"{where} forwards a witnessed checkpoint of laptop {origin} that the log this"
            " laptop holds does not match: that log has forked."
        )
    db.execute(
        "INSERT INTO team_log_heads (origin, size, note) VALUES (?, ?, ?) ON CONFLICT (origin)"
        " DO UPDATE SET size = excluded.size, note = excluded.note",
        (origin, checkpoint.size, text),
    )


# --- the team's bundle -------------------------------------------------------------------


class _HeldLog:
    def __init__(
        self, contents: bundle.BundleContents, sizes: list[int], people_lines: list[str]
    ) -> None:
        self.contents, self.sizes, self.people_lines = contents, sizes, people_lines


def _held_log(db: dbmod.Connection, origin: str) -> _HeldLog:
    people_lines = [
        str(line)
        for (line,) in db.execute(
            "SELECT line FROM team_log_people WHERE origin = ? ORDER BY rowid", (origin,)
        )
    ]
    people = []
    for line in people_lines:
        role, *rest = line.split(" ")
        key = VerifierKey.parse(rest[-1])
        people.append(bundle.Person(role, key.name if role == "witness" else rest[0], key))
    leaves, hashes = [], []
    for leaf, h in db.execute(
        "SELECT leaf, hash FROM team_log_leaves WHERE origin = ? ORDER BY seq", (origin,)
    ):
        leaves.append(bytes(leaf))
        hashes.append(bytes(h))
    heads = db.execute(
        "SELECT size, note, cosigned FROM team_log_checkpoints WHERE origin = ? ORDER BY size",
        (origin,),
    ).fetchall()
    sizes = [int(s) for s, _, _ in heads]
    contents = bundle.BundleContents(
        origin=origin,
        people=people,
        leaves=leaves,
        checkpoints=[str(n) + str(c) for _, n, c in heads],
        proofs=bundle.proofs_between(sizes, merkle.Tree(hashes)),
        reads=[
            (int(e), str(c).encode("ascii"))
            for e, c in db.execute(
                "SELECT entry, cases FROM team_log_reads WHERE origin = ? ORDER BY entry",
                (origin,),
            )
        ],
    )
    return _HeldLog(contents, sizes, people_lines)


def check_held(vault: Vault) -> list[str]:
    """For ``vault check``: each colleague's log held here, checked as an auditor would."""
    from vault.audit.verify import verify_log

    problems = []
    for (origin,) in vault.db.execute(
        "SELECT DISTINCT origin FROM team_log_leaves ORDER BY origin"
    ).fetchall():
        try:
            verify_log(_held_log(vault.db, str(origin)).contents)
        except bundle.BundleError as e:
            problems.append(f"the access log of laptop {origin}: {e}")
    return problems


def encode_team_bundle(own: bundle.BundleContents, db: dbmod.Connection) -> bytes:
    """The team's bundle (``redress-team-audit-bundle/1``): the chain, the witnessed heads
    colleagues forwarded, this laptop's log (``own``), then every colleague's log held."""
    chain = db.execute("SELECT n, body, signature FROM team_chain ORDER BY n").fetchall()
    origins = [
        str(o) for (o,) in db.execute("SELECT DISTINCT origin FROM team_log_leaves ORDER BY origin")
    ]
    return bundle.encode_team(
        bundle.TeamBundle(
            start=bytes(chain[0][1]),
            statements=[(bytes(b), bytes(s)) for _, b, s in chain[1:]],
            witnessed=[
                str(n) for (n,) in db.execute("SELECT note FROM team_log_heads ORDER BY origin")
            ],
            logs=[own, *(_held_log(db, o).contents for o in origins)],
        )
    )
