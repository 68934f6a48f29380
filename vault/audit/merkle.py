"""RFC 6962 Merkle trees: leaf and node hashes, roots, and inclusion and consistency proofs.

Hashing is RFC 6962 section 2.1 (also RFC 9162 section 2.1.1): SHA-256, with a
0x00 byte before a leaf and a 0x01 byte before two child hashes. Proofs are
built as RFC 6962 section 2.1.1 (``PATH``) and 2.1.2 (``SUBPROOF``) define
them, and checked with the verification algorithms of RFC 9162 sections
2.1.3.2 and 2.1.4.2.

:class:`Frontier` keeps just the roots of the perfect subtrees on the tree's
right edge (at most one per bit of the size), so appending a leaf and computing
the root cost O(log n) whatever the log's length. The vault stores it beside
the log.

Leaf hashes and whole trees are made by ``vault._native`` (vault/_native.c, OpenSSL's
SHA-256) when it was built at install, and in pure Python with the same results when it
was not: :func:`native` says which. A hashlib call costs more than hashing a leaf does,
and a tree over n leaves needs 2n - 1 of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256

try:
    from vault import _native
except ImportError:  # not built: everything below works without it, more slowly
    _native = None  # type: ignore[assignment]


def native() -> bool:
    """True when trees and leaf hashes are made in C (vault/_native.c)."""
    return _native is not None


def leaf_hash(leaf: bytes) -> bytes:
    return _sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def leaf_hashes(leaves: Iterable[bytes]) -> list[bytes]:
    """Every leaf's hash, in order."""
    if _native is not None:
        joined = _native.leaf_hashes(leaves if isinstance(leaves, list) else list(leaves))
        return [joined[i : i + HASH_BYTES] for i in range(0, len(joined), HASH_BYTES)]
    return [_sha256(b"\x00" + leaf).digest() for leaf in leaves]


def _parents(level: list[bytes]) -> list[bytes]:
    """The level above: neighbours paired, an unpaired last node carried up unchanged.

    Built level by level this way, the tree has the same root as RFC 6962's split at the
    largest power of two below n.
    """
    sha256 = _sha256
    above = [
        sha256(b"\x01" + left + right).digest()
        for left, right in zip(level[0::2], level[1::2], strict=False)
    ]
    if len(level) % 2:
        above.append(level[-1])
    return above


def _check_hashes(hashes: Sequence[bytes]) -> None:
    if any(len(h) != HASH_BYTES for h in hashes):
        raise ValueError("a leaf hash is not 32 bytes")


def root(hashes: Sequence[bytes]) -> bytes:
    """The tree head over leaf hashes (keeping one level at a time)."""
    if not hashes:
        return EMPTY_ROOT
    _check_hashes(hashes)
    if _native is not None:
        return _native.levels(b"".join(hashes))[-1]
    level = list(hashes)
    while len(level) > 1:
        level = _parents(level)
    return level[0]


def _levels(joined: bytes) -> list[bytes]:
    """Every level of the tree over leaf hashes joined end to end, each joined the same way."""
    if _native is not None:
        return _native.levels(joined)
    level = [joined[i : i + HASH_BYTES] for i in range(0, len(joined), HASH_BYTES)]
    levels = [joined]
    while len(level) > 1:
        level = _parents(level)
        levels.append(b"".join(level))
    return levels


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    """Every level of the tree over some leaf hashes, for roots at any size and for proofs.

    ``levels[h]`` holds one level's hashes end to end, 32 bytes each: its ``i``-th is the
    hash of the perfect subtree over leaves ``i * 2**h`` to ``(i + 1) * 2**h`` whenever
    that range lies inside the tree. Building it costs one hash per node; afterwards any
    root or proof takes O(log n) lookups.
    """

    __slots__ = ("levels", "size")

    def __init__(self, hashes: Sequence[bytes]) -> None:
        _check_hashes(hashes)
        self.size = len(hashes)
        self.levels = _levels(b"".join(hashes))

    @classmethod
    def of_leaves(cls, leaves: list[bytes]) -> Tree:
        """The tree over the leaves themselves (hashing them first)."""
        tree = cls.__new__(cls)
        tree.size = len(leaves)
        if _native is not None:
            tree.levels = _levels(_native.leaf_hashes(leaves))
        else:
            tree.levels = _levels(b"".join(leaf_hashes(leaves)))
        return tree

    def _node(self, height: int, index: int) -> bytes:
        at = index * HASH_BYTES
        return self.levels[height][at : at + HASH_BYTES]

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH of leaves ``start`` to ``end``, for ranges that proofs and roots ask for."""
        if not 0 <= start < end <= self.size:
            raise ValueError("range outside the tree")
        parts: list[bytes] = []
        at = start
        while at < end:
            h = (end - at).bit_length() - 1
            while at & ((1 << h) - 1):  # keep each piece aligned to its own size
                h -= 1
            parts.append(self._node(h, at >> h))
            at += 1 << h
        acc = parts.pop()
        while parts:
            acc = node_hash(parts.pop(), acc)
        return acc

    def root_at(self, size: int) -> bytes:
        return EMPTY_ROOT if size == 0 else self.range_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The audit path for leaf ``index`` in the tree of ``size`` leaves (RFC 6962 PATH)."""
        if not 0 <= index < size <= self.size:
            raise ValueError("leaf index outside the tree")
        proof: list[bytes] = []
        lo, hi, m = 0, size, index
        while hi - lo > 1:
            k = _largest_power_of_two_below(hi - lo)
            if m < k:
                proof.append(self.range_hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.range_hash(lo, lo + k))
                lo, m = lo + k, m - k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Proof that the tree of ``old_size`` leaves is a prefix of that of ``new_size``."""
        if not 0 <= old_size <= new_size <= self.size:
            raise ValueError("sizes outside the tree")
        if old_size == 0 or old_size == new_size:
            return []
        proof: list[bytes] = []
        lo, hi, m, complete = 0, new_size, old_size, True
        while True:
            if m == hi - lo:
                if not complete:
                    proof.append(self.range_hash(lo, hi))
                break
            k = _largest_power_of_two_below(hi - lo)
            if m <= k:
                proof.append(self.range_hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.range_hash(lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        proof.reverse()
        return proof


def consistency_proof(hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    return Tree(hashes[:new_size]).consistency_proof(old_size, new_size)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], tree_root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2, for a leaf's hash ``leaf``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == tree_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2. A tree of size 0 is consistent with every tree."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class Frontier:
    """The right edge of a growing tree: one perfect-subtree root per set bit of the size.

    ``levels[h]`` is the root of a perfect subtree of 2**h leaves, present exactly
    when bit ``h`` of ``size`` is set.
    """

    __slots__ = ("levels", "size")

    def __init__(self, size: int = 0, levels: dict[int, bytes] | None = None) -> None:
        self.size = size
        self.levels: dict[int, bytes] = dict(levels or {})
        if set(self.levels) != {h for h in range(size.bit_length()) if size >> h & 1}:
            raise ValueError("the frontier does not match the tree size")

    def append(self, leaf: bytes) -> tuple[list[int], int, bytes]:
        """Add a leaf hash. Returns (levels removed, level set, hash set) for storing."""
        h, level, removed = leaf, 0, []
        while self.size >> level & 1:
            h = node_hash(self.levels.pop(level), h)
            removed.append(level)
            level += 1
        self.levels[level] = h
        self.size += 1
        return removed, level, h

    def root(self) -> bytes:
        if self.size == 0:
            return EMPTY_ROOT
        acc: bytes | None = None
        for level in sorted(self.levels):
            acc = self.levels[level] if acc is None else node_hash(self.levels[level], acc)
        assert acc is not None
        return acc
