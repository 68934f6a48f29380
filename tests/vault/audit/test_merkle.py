"""RFC 6962 trees and proofs (vault/audit/merkle.py), and the C2SP note forms
(vault/audit/signed_note.py).

The reference here is the RFC's recursive definition written out directly; the module's
level-by-level tree, frontier and proofs must agree with it for every size.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault import _crypto
from vault.audit import merkle
from vault.audit.signed_note import (
    COSIGNATURE_V1,
    ED25519,
    Checkpoint,
    NoteSigner,
    SignedNoteError,
    VerifierKey,
    b64decode,
    parse_note,
    sign_checkpoint,
    verify_signature,
)


def mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, as written: MTH over leaf hashes."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return merkle.node_hash(mth(hashes[:k]), mth(hashes[k:]))


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_hashing_is_rfc_6962() -> None:
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert merkle.root([]) == merkle.EMPTY_ROOT == hashlib.sha256(b"").digest()


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 200), data=st.data())
def test_roots_frontier_and_proofs_agree_with_the_rfc(n: int, data: st.DataObject) -> None:
    hashes = leaves(n)
    tree = merkle.Tree(hashes)
    frontier = merkle.Frontier()
    for size in range(1, n + 1):
        frontier.append(hashes[size - 1])
        assert frontier.root() == tree.root_at(size) == merkle.root(hashes[:size])
    assert tree.root_at(n) == mth(hashes)

    index = data.draw(st.integers(0, n - 1))
    size = data.draw(st.integers(index + 1, n))
    root = mth(hashes[:size])
    proof = tree.inclusion_proof(index, size)
    assert merkle.verify_inclusion(index, size, hashes[index], proof, root)
    assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"other"), proof, root)
    if size > 1:
        assert not merkle.verify_inclusion((index + 1) % size, size, hashes[index], proof, root)

    old = data.draw(st.integers(0, n))
    new = data.draw(st.integers(old, n))
    proof = tree.consistency_proof(old, new)
    assert merkle.verify_consistency(old, new, mth(hashes[:old]), mth(hashes[:new]), proof)
    if 0 < old < new:
        forked = [*hashes[: old - 1], merkle.leaf_hash(b"forked"), *hashes[old:new]]
        assert not merkle.verify_consistency(old, new, mth(forked[:old]), mth(hashes[:new]), proof)
        assert not merkle.verify_consistency(old, new, mth(hashes[:old]), mth(forked), proof)


def test_a_frontier_that_does_not_match_its_size_is_refused() -> None:
    with pytest.raises(ValueError, match="frontier"):
        merkle.Frontier(3, {0: bytes(32)})


# --- notes -----------------------------------------------------------------------------------


def signer(name: str = "vault.redress/test", kind: int = ED25519) -> NoteSigner:
    _, seed = _crypto.sign_keypair()
    return NoteSigner.from_seed(name, seed, kind)


def test_a_checkpoint_note_round_trips_and_verifies() -> None:
    s = signer()
    checkpoint = Checkpoint("vault.redress/test", 3, merkle.root(leaves(3)))
    note = parse_note(sign_checkpoint(checkpoint, s))
    assert Checkpoint.parse_text(note.text) == checkpoint
    assert verify_signature(note, note.signatures[0], s.verifier)
    assert not verify_signature(note, note.signatures[0], signer().verifier)
    witness = signer("witness.example/w1", COSIGNATURE_V1)
    cosigned = parse_note(note.encode() + witness.cosign_line(note.text, 1_700_000_000))
    assert verify_signature(cosigned, cosigned.signatures[1], witness.verifier)
    assert not verify_signature(cosigned, cosigned.signatures[1], s.verifier)


def test_verifier_keys_round_trip_and_check_their_hash() -> None:
    key = signer().verifier
    assert VerifierKey.parse(key.to_vkey()) == key
    name, key_id, material = key.to_vkey().split("+", 2)
    for bad in (
        f"{name}+{'0' * 8}+{material}",
        f"other+{key_id}+{material}",
        f"{name}+{key_id}",
        "",
    ):
        with pytest.raises(SignedNoteError):
            VerifierKey.parse(bad)


def test_only_canonical_base64_is_accepted() -> None:
    assert b64decode("AAE=") == b"\x00\x01"
    for bad in ("AAF=", "AAE", "AA E=", "AAE=\n", "é"):
        with pytest.raises(SignedNoteError):
            b64decode(bad)


@pytest.mark.parametrize(
    "text",
    [
        "no signatures\n",
        "text\n\n",
        "text\n\nnot a signature line\n",
        "text\n\n— name\n",
        "text\n\n— name AAE=\n",  # shorter than a key id and a signature
        "tab\there\n\n— name AAAAAAA=\n",
        "text\n\n— name AAAAAAA=",  # no final newline
    ],
)
def test_malformed_notes_are_refused(text: str) -> None:
    with pytest.raises(SignedNoteError):
        parse_note(text)


@pytest.mark.parametrize(
    "text",
    ["origin\n1\n", "origin\n01\nAAAA\n", "\n1\n" + "A" * 43 + "=\n", "o\n1\nAAAA\nextra\n"],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(SignedNoteError):
        Checkpoint.parse_text(text)
