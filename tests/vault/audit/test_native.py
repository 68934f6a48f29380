"""vault/_native.c against the pure-Python paths it stands in for: the same hashes, trees,
roots, checked entries and columns, and the same verdict on any bundle, clean or damaged.

`make setup` builds the extension; the first test fails if it was not built, so that a
broken build is not hidden by the pure-Python fallback.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.audit import bundle, merkle
from vault.audit import verify as check
from vault.audit.leaves import ACTIONS, LINES
from vault.keys import Identity

try:
    from vault import _native
except ImportError:  # pragma: no cover - test_the_native_core_was_built says so
    _native = None  # type: ignore[assignment]

needs_native = pytest.mark.skipif(_native is None, reason="vault._native was not built")


@contextmanager
def pure_python() -> Iterator[None]:
    """Run vault.audit.merkle and vault.audit.verify without the extension, as where it is
    not built."""
    saved = merkle._native
    merkle._native = None  # type: ignore[assignment]
    try:
        yield
    finally:
        merkle._native = saved


def test_the_native_core_was_built() -> None:
    assert _native is not None, "vault._native was not built: see pyproject.toml and Makefile"
    assert merkle.native()
    with pure_python():
        assert not merkle.native()


# --- hashes and trees -------------------------------------------------------------------------


@needs_native
@settings(max_examples=200, deadline=None)
@given(leaves=st.lists(st.binary(max_size=200), max_size=70), data=st.data())
def test_leaf_hashes_trees_and_roots_agree(leaves: list[bytes], data: st.DataObject) -> None:
    native_hashes = merkle.leaf_hashes(leaves)
    native_tree = merkle.Tree.of_leaves(leaves)
    native_root = merkle.root(native_hashes)
    with pure_python():
        hashes = merkle.leaf_hashes(leaves)
        tree = merkle.Tree.of_leaves(leaves)
        from_hashes = merkle.Tree(hashes)
        root = merkle.root(hashes)
    assert hashes == [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    assert native_hashes == hashes
    assert _native.leaf_hashes(leaves) == b"".join(hashes)
    assert native_tree.levels == tree.levels == from_hashes.levels
    assert native_root == root
    for size in {0, len(leaves), data.draw(st.integers(0, len(leaves)))}:
        assert native_tree.root_at(size) == tree.root_at(size) == merkle.root(hashes[:size])
    if leaves:
        old = data.draw(st.integers(0, len(leaves)))
        new = data.draw(st.integers(old, len(leaves)))
        assert native_tree.consistency_proof(old, new) == tree.consistency_proof(old, new)


@needs_native
def test_levels_refuses_what_is_not_whole_hashes() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        _native.levels(b"x" * 33)
    with pytest.raises(TypeError):
        _native.levels([b"x" * 32])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _native.leaf_hashes([b"a", "b"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="32 bytes"):
        merkle.Tree([b"x" * 31])
    assert _native.levels(b"") == [b""]


# --- the leaf form and the columns ------------------------------------------------------------

HEX = "0123456789abcdef"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ACTORS = ["3f1c9a0b7d2e4f61", "0000000000000000", "abcdefabcdef0123"]

times = st.builds(
    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z".format,
    *(st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99)),
    *(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
) | st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ").rjust(20, "0")
)
fields = st.tuples(
    times,
    st.sampled_from(ACTORS) | st.text(HEX, min_size=16, max_size=16),
    st.sampled_from(sorted(ACTIONS)) | st.from_regex(r"[a-z-]{1,20}", fullmatch=True),
    st.just("-") | st.text(CROCKFORD, min_size=8, max_size=8),
    st.just("-") | st.from_regex(r"[a-z0-9][a-z0-9-]{0,63}", fullmatch=True),
    st.just("-") | st.text(HEX, min_size=64, max_size=64),
)


def _leaf(f: tuple[str, str, str, str, str, str]) -> bytes:
    return " ".join(("redress-log/1", *f)).encode()


LETTERS = str.maketrans("0123456789", "ghijklmnop")  # hex digits as [a-z] only

# Bytes that sit at the edges of the fields' character classes.
EDGES = b" -/09:@AFGHIJKLMNOUVZ[`afgz{TZ\n\r\t\x00\x7f\x80\xff"


@st.composite
def damaged(draw: st.DrawFn, leaf: bytes) -> bytes:
    """The leaf with one byte changed, removed or added, or cut short."""
    at = draw(st.integers(0, len(leaf)))
    byte = bytes([draw(st.sampled_from(EDGES) | st.integers(0, 255))])
    how = draw(st.sampled_from(["change", "remove", "add", "cut"]))
    if how == "change":
        return leaf[:at] + byte + leaf[at + 1 :]
    if how == "remove":
        return leaf[:at] + leaf[at + 1 :]
    if how == "add":
        return leaf[:at] + byte + leaf[at:]
    return leaf[:at]


@st.composite
def leaf_lists(draw: st.DrawFn) -> list[bytes]:
    leaves = [_leaf(f) for f in draw(st.lists(fields, max_size=30))]
    for _ in range(draw(st.integers(0, 3))):
        if leaves:
            i = draw(st.integers(0, len(leaves) - 1))
            leaves[i] = draw(damaged(leaves[i]))
    return leaves


def _bad_time(leaves: list[bytes]) -> int:
    """The first entry whose time is no real time, or earlier than the one before: -1 if none."""
    previous = ""
    for i, leaf in enumerate(leaves):
        at = leaf.split(b" ")[1].decode()
        try:
            datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return i
        if at < previous:
            return i
        previous = at
    return -1


def _compare(leaves: list[bytes]) -> None:
    native = _native.leaf_columns(leaves)
    bad, bad_time, actors, actions, cases, details, commits, kinds = native
    want = next((i for i, leaf in enumerate(leaves) if not LINES.fullmatch(leaf)), -1)
    assert bad == want
    assert native[:7] == check._python_columns(leaves)[:7]
    if bad < 0:
        assert bad_time == _bad_time(leaves)
        assert details == tuple(leaf.split(b" ")[5] for leaf in leaves)
        assert list(commits) == [len(leaf.split(b" ")[6]) for leaf in leaves]
        if kinds is not None:  # None: too many distinct actors, actions or details for C
            assert kinds == Counter(
                zip(actors, actions, map(len, cases), details, commits, strict=True)
            )
    else:
        assert native[1:] == (-1, (), (), (), (), b"", None)


@needs_native
@settings(max_examples=500, deadline=None)
@given(leaves=leaf_lists())
@pytest.mark.slow
def test_the_leaf_form_and_columns_agree(leaves: list[bytes]) -> None:
    _compare(leaves)


@needs_native
@pytest.mark.parametrize(
    "leaf",
    [
        b"",
        b"redress-log/1",
        b"redress-log/1 ",
        b"redress-log/2 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - -",  # good
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - - ",
        b" redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note  7KQ2M9XD - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3F1C9A0B7D2E4F61 note 7KQ2M9XD - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f6 note 7KQ2M9XD - -",
        b"redress-log/1 2026-01-01 00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XL - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9X - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note -- - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 Note 7KQ2M9XD - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD -x -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD " + b"a" * 64 + b" -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD " + b"a" * 65 + b" -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - " + b"0" * 64,
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - " + b"0" * 63,
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - " + b"0" * 65,
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - -\n",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 ",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61",
        # found no disagreement; kept as the edges a reviewer tried (docs/audit.md, 13)
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - -\r",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - -\x00",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note\x00 7KQ2M9XD - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 n\xc3\xa9te 7KQ2M9XD - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 - - - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD -" + b"a" * 63 + b" -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD 0" + b"-" * 63 + b" -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD 0" + b"-" * 64 + b" -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7kq2m9xd - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XU - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - " + b"A" * 64,
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD  -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - - -",
        b"redress-log/1 2026-01-01T00:00:00Z\t3f1c9a0b7d2e4f61 note 7KQ2M9XD - -",
        b"redress-log/1 \xd9\xa22026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 note 7KQ2M9XD - -",
        b"redress-log/1 2026-01-01T00:00:00Z 3f1c9a0b7d2e4f61 " + b"a" * 100_000 + b" - - -",
    ],
)
def test_leaves_at_the_edges_of_the_form(leaf: bytes) -> None:
    good = _leaf(("2026-01-01T00:00:00Z", ACTORS[0], "opened", "-", "-", "-"))
    _compare([leaf])
    _compare([good, leaf, good])


@needs_native
def test_more_distinct_actors_than_the_c_counts_leaves_the_counting_to_python() -> None:
    leaves = [
        _leaf(("2026-01-01T00:00:00Z", f"{i:016x}", "opened", "7KQ2M9XD", "-", "-"))
        for i in range(100)
    ]
    bad, _, _, _, _, _, _, kinds = _native.leaf_columns(leaves)
    assert (bad, kinds) == (-1, None)
    _compare(leaves)
    assert len(check._columns(leaves).kinds) == 100


# --- whole bundles ----------------------------------------------------------------------------


@cache
def _small_bundle() -> bytes:
    from bench.audit import synthetic_bundle

    return synthetic_bundle(120)[0]


def _outcome(data: bytes) -> object:
    try:
        return check.verify(data)
    except bundle.BundleError as e:
        return str(e)


@needs_native
@settings(max_examples=150, deadline=None)
@given(where=st.floats(0, 1, exclude_max=True), byte=st.integers(1, 255), cut=st.booleans())
def test_a_bundle_gets_the_same_verdict_either_way(where: float, byte: int, cut: bool) -> None:
    data = _small_bundle()
    if cut:
        lines = data.split(b"\n")[:-1]
        del lines[int(where * len(lines))]
        data = b"\n".join(lines) + b"\n"
    else:
        at = int(where * len(data))
        data = data[:at] + bytes([data[at] ^ byte]) + data[at + 1 :]
    native = _outcome(data)
    with pure_python():
        python = _outcome(data)
    assert native == python
    assert isinstance(native, str)  # any change is caught


@needs_native
def test_a_clean_bundle_reads_the_same_either_way() -> None:
    native = check.verify(_small_bundle())
    with pure_python():
        python = check.verify(_small_bundle())
    assert native == python
    assert native.entries == 120


@pytest.mark.parametrize("native", [True, False])
def test_many_distinct_values_are_checked_in_one_pass(native: bool) -> None:
    """A bundle is adversarial: a million distinct actions or actors must not take n² steps."""
    n = 50_000
    good = _leaf(("2026-01-01T00:00:00Z", ACTORS[0], "opened", "7KQ2M9XD", "-", "-"))
    odd_actions = [good] + [
        _leaf(("2026-01-01T00:00:00Z", ACTORS[0], "x" + f"{i:x}".translate(LETTERS), "-", "-", "-"))
        for i in range(n)
    ]
    odd_actors = [
        _leaf(("2026-01-01T00:00:00Z", f"{i:016x}", "opened", "7KQ2M9XD", "-", "-"))
        for i in range(n)
    ]
    with contextlib.nullcontext() if native else pure_python():
        started = time.perf_counter()
        with pytest.raises(bundle.BundleError, match=r"^Entry 2 names an unknown action"):
            check._columns(odd_actions)
        columns = check._columns(odd_actors)
        with pytest.raises(bundle.BundleError, match=r"^Entry 1 was made by a key that is not"):
            check._check_actors(columns, check._Roster({}, {}, {}, {}, {}), 1)
        assert time.perf_counter() - started < 10


# --- bundles shaped to make verify slow -------------------------------------------------------


def _crowded_bundle(people: int, role: str, checkpoints: int = 1) -> bytes:
    """A valid bundle whose log adds ``people`` caseworkers, auditors or witnesses, each
    caseworker then making one entry, with ``checkpoints`` checkpoints over it: cheap to
    write (the keys need not be real ones), and quadratic to check done naively."""
    from bench.audit import ORIGIN
    from vault.audit.leaves import Leaf, member_commitment
    from vault.audit.signed_note import (
        COSIGNATURE_V1,
        Checkpoint,
        NoteSigner,
        VerifierKey,
        sign_checkpoint,
    )
    from vault.auditlog import caseworker_verifier
    from vault.keys import Identity, caseworker_key_id

    at = "2026-01-01T00:00:00Z"
    amara = Identity.generate("amara")
    first = amara.key_id
    amara_commit = hashlib.sha256(member_commitment("amara", amara.public.sign_pk)).hexdigest()
    people_lines = [
        bundle.Person("caseworker", "amara", caseworker_verifier(ORIGIN, amara.public.sign_pk))
    ]
    leaves = [
        Leaf(at, first, "vault-created", None, first).encode(),
        Leaf(at, first, "caseworker-added", None, first, amara_commit).encode(),
    ]
    added = []
    for i in range(people):
        key = hashlib.sha256(b"%d" % i).digest()
        name = f"p{i}"
        if role == "caseworker":
            key_id = caseworker_key_id(key)
            person = bundle.Person(role, name, caseworker_verifier(ORIGIN, key))
            commit = hashlib.sha256(member_commitment(name, key)).hexdigest()
            leaves.append(Leaf(at, first, "caseworker-added", None, key_id, commit).encode())
            added.append(key_id)
        elif role == "auditor":
            vkey = VerifierKey(f"auditor{i}", 0x01, key)
            person = bundle.Person(role, name, vkey)
            commit = hashlib.sha256(member_commitment(name, vkey.to_vkey())).hexdigest()
            leaves.append(Leaf(at, first, "auditor-added", None, vkey.id.hex(), commit).encode())
        else:
            vkey = VerifierKey(f"witness.redress/{i:016x}", COSIGNATURE_V1, key)
            person = bundle.Person(role, vkey.name, vkey)
            commit = hashlib.sha256(vkey.to_vkey().encode()).hexdigest()
            leaves.append(Leaf(at, first, "witness-added", None, vkey.id.hex(), commit).encode())
        people_lines.append(person)
    leaves += [Leaf(at, key_id, "opened", "7KQ2M9XD").encode() for key_id in added]
    while len(leaves) < checkpoints:
        leaves.append(Leaf(at, first, "opened", "7KQ2M9XD").encode())
    tree = merkle.Tree.of_leaves(leaves)
    sizes = [*range(len(leaves) - checkpoints + 1, len(leaves) + 1)]
    signer = NoteSigner(ORIGIN, amara.signer)
    notes = [sign_checkpoint(Checkpoint(ORIGIN, s, tree.root_at(s)), signer) for s in sizes]
    contents = bundle.BundleContents(
        ORIGIN, people_lines, leaves, notes, bundle.proofs_between(sizes, tree)
    )
    return bundle.encode(contents)


def _verify_quickly(data: bytes, entries: int) -> None:
    started = time.perf_counter()
    assert check.verify(data).entries == entries
    assert time.perf_counter() - started < 10


def test_many_auditors_and_witnesses_are_matched_to_their_entries_in_one_pass() -> None:
    """Each auditor-added entry was once matched by hashing every person listed: 5,000
    auditors took half a minute, a bundle of a few megabytes hours."""
    _verify_quickly(_crowded_bundle(5_000, "auditor"), 5_002)
    _verify_quickly(_crowded_bundle(5_000, "witness"), 5_002)


def _actors_columns(actors: list[bytes]) -> check._Columns:
    actions = tuple(b"opened" for _ in actors)
    cases = tuple(b"7KQ2M9XD" for _ in actors)
    details = tuple(b"-" for _ in actors)
    commits = bytes([1] * len(actors))
    kinds = Counter(zip(actors, actions, map(len, cases), details, commits, strict=True))
    return check._Columns(tuple(actors), actions, cases, details, commits, kinds, -1)


def test_many_caseworkers_are_checked_against_the_roster_in_one_pass() -> None:
    """Finding each caseworker's first and last entry by searching the log for it took
    caseworkers × entries steps: a bundle adding a million, each making one entry at the end,
    would take days."""
    n = 50_000
    ids = [f"{i:016x}" for i in range(n)]
    actors = [key.encode() for key in ids] * 2  # each caseworker again in the second half
    added = {key: i for i, key in enumerate(ids)}
    roster = check._Roster({}, added, {}, {}, {})
    started = time.perf_counter()
    check._check_actors(_actors_columns(actors), roster, 1)  # all fine
    revoked = check._Roster({}, added, {key: n for key in ids}, {}, {})
    with pytest.raises(bundle.BundleError, match=rf"^Entry {n + 2} was made by a caseworker after"):
        check._check_actors(_actors_columns(actors), revoked, 1)
    assert time.perf_counter() - started < 10


@settings(max_examples=300, deadline=None)
@given(
    actors=st.lists(st.integers(0, 14), max_size=40),
    added=st.dictionaries(st.integers(0, 14), st.integers(0, 40)),
    revoked=st.dictionaries(st.integers(0, 14), st.integers(0, 40)),
    first_transaction=st.integers(0, 40),
)
def test_the_roster_check_is_the_same_for_few_caseworkers_and_for_many(
    actors: list[int], added: dict[int, int], revoked: dict[int, int], first_transaction: int
) -> None:
    """_check_actors searches for each of a few caseworkers and passes once over the log for
    many: the same verdict either way."""
    columns = _actors_columns([f"{a:016x}".encode() for a in actors])
    roster = check._Roster(
        {},
        {f"{a:016x}": i for a, i in added.items()},
        {f"{a:016x}": max(i, added[a] + 1) for a, i in revoked.items() if a in added},
        {},
        {},
    )
    verdicts = []
    for few in (0, 100):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(check, "_FEW", few)
            try:
                check._check_actors(columns, roster, first_transaction)
                verdicts.append("")
            except bundle.BundleError as e:
                verdicts.append(str(e))
    assert verdicts[0] == verdicts[1]


@pytest.mark.slow
def test_checkpoints_are_checked_against_many_keys_in_one_pass() -> None:
    """Each checkpoint's signatures were matched against every caseworker and every witness:
    2,500 of each with 2,500 checkpoints took twenty seconds, a bundle of a gigabyte years."""
    _verify_quickly(_crowded_bundle(2_500, "caseworker", checkpoints=2_500), 5_002)
    _verify_quickly(_crowded_bundle(12_000, "witness", checkpoints=12_000), 12_002)


def _signed_bundle(leaves: list[bytes], sizes: list[int], people: list[Identity]) -> bytes:
    """A bundle of ``leaves`` with a checkpoint at each of ``sizes``, signed by the first of
    ``people``, all listed as caseworkers."""
    from bench.audit import ORIGIN
    from vault.audit.signed_note import Checkpoint, NoteSigner, sign_checkpoint
    from vault.auditlog import caseworker_verifier

    tree = merkle.Tree.of_leaves(leaves)
    signer = NoteSigner(ORIGIN, people[0].signer)
    notes = [sign_checkpoint(Checkpoint(ORIGIN, s, tree.root_at(s)), signer) for s in sizes]
    listed = [
        bundle.Person("caseworker", who.name, caseworker_verifier(ORIGIN, who.public.sign_pk))
        for who in people
    ]
    proofs = bundle.proofs_between(sizes, tree)
    return bundle.encode(bundle.BundleContents(ORIGIN, listed, leaves, notes, proofs))


def test_only_the_first_transaction_may_act_before_its_caseworker_is_added() -> None:
    from vault.audit.leaves import Leaf, member_commitment

    at = "2026-01-01T00:00:00Z"
    amara, bea = Identity.generate("amara"), Identity.generate("bea")

    def added(who: Identity) -> bytes:
        commit = hashlib.sha256(member_commitment(who.name, who.public.sign_pk)).hexdigest()
        return Leaf(at, amara.key_id, "caseworker-added", None, who.key_id, commit).encode()

    # A vault older than the log: amara unlocks it and names bea (added first) and herself.
    started = [Leaf(at, amara.key_id, "log-started").encode(), added(bea), added(amara)]
    opened = Leaf(at, amara.key_id, "opened", "7KQ2M9XD").encode()
    assert check.verify(_signed_bundle([*started, opened], [3, 4], [amara, bea])).entries == 4
    # amara's own addition in a later transaction: her entries before it are refused, the
    # one that starts the log included (the old rule let every entry after it through).
    late = [started[0], added(bea), opened, added(amara)]
    with pytest.raises(bundle.BundleError, match=r"^Entry 1 was made before its caseworker"):
        check.verify(_signed_bundle(late, [2, 4], [amara, bea]))
