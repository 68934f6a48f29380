# vault/_native.c: the access-log verifier's inner loops (vault/audit/merkle.py,
# vault/audit/verify.py).

def leaf_hashes(leaves: list[bytes], /) -> bytes: ...
def levels(hashes: bytes, /) -> list[bytes]: ...
def leaf_columns(
    leaves: list[bytes], /
) -> tuple[
    int,
    int,
    tuple[bytes, ...],
    tuple[bytes, ...],
    tuple[bytes, ...],
    tuple[bytes, ...],
    bytes,
    dict[tuple[bytes, bytes, int, bytes, int], int] | None,
]: ...
