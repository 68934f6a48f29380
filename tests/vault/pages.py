"""The pages of a vault's SQLCipher database (and its WAL) decrypted, to search for bytes that
must be gone: the database is encrypted, so a byte search of the file itself proves nothing.

Written from SQLCipher 4's documented page format, independent of the vault: each page of
``cipher_page_size`` bytes ends in a reserve of 80 bytes (a 16-byte IV, then a 64-byte
HMAC-SHA512); the rest is AES-256-CBC under the raw key (the vault opens with a raw key, so no
key derivation). Page 1 starts with the file's 16-byte salt, in clear, and is encrypted from
byte 16. AES comes from the system's libcrypto (the one Python's own ssl module uses), through
ctypes: PyNaCl has no AES-CBC.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from functools import cache
from pathlib import Path

PAGE = 16384  # vault.db.CIPHER_PAGE_SIZE, written again
RESERVE = 80
WAL_HEADER, FRAME_HEADER = 32, 24


@cache
def _libcrypto() -> ctypes.CDLL:
    name = ctypes.util.find_library("crypto")
    if name is None:
        import _ssl  # noqa: F401  (loads libcrypto into the process)

        name = "libcrypto.so.3"
    lib = ctypes.CDLL(name)
    lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
    lib.EVP_aes_256_cbc.restype = ctypes.c_void_p
    lib.EVP_DecryptInit_ex.argtypes = [ctypes.c_void_p] * 5
    lib.EVP_CIPHER_CTX_set_padding.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.EVP_DecryptUpdate.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
    return lib


def aes_256_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    lib = _libcrypto()
    ctx = lib.EVP_CIPHER_CTX_new()
    try:
        assert lib.EVP_DecryptInit_ex(ctx, lib.EVP_aes_256_cbc(), None, key, iv) == 1
        lib.EVP_CIPHER_CTX_set_padding(ctx, 0)
        out = ctypes.create_string_buffer(len(data) + 32)
        n = ctypes.c_int(0)
        assert lib.EVP_DecryptUpdate(ctx, out, ctypes.byref(n), data, len(data)) == 1
        return out.raw[: n.value]
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)


def decrypt_page(key: bytes, page: bytes, number: int) -> bytes:
    """One page's plaintext (page 1 without its salt)."""
    start = 16 if number == 1 else 0
    iv = page[PAGE - RESERVE : PAGE - RESERVE + 16]
    return aes_256_cbc_decrypt(key, iv, page[start : PAGE - RESERVE])


def decrypted_pages(db_path: Path, key: bytes) -> list[bytes]:
    """Every page of the database file, then every frame's page in its WAL, decrypted."""
    pages = []
    data = db_path.read_bytes()
    for i in range(len(data) // PAGE):
        pages.append(decrypt_page(key, data[i * PAGE : (i + 1) * PAGE], i + 1))
    wal = db_path.with_name(db_path.name + "-wal")
    if wal.exists():
        frames = wal.read_bytes()[WAL_HEADER:]
        size = FRAME_HEADER + PAGE
        for i in range(len(frames) // size):
            frame = frames[i * size : (i + 1) * size]
            (number,) = struct.unpack(">I", frame[:4])
            pages.append(decrypt_page(key, frame[FRAME_HEADER:], number))
    return pages


def first_page_is_sqlite(db_path: Path, key: bytes) -> bool:
    """Whether page 1 decrypts to SQLite's header (bytes 16 on: the page size, 16384, then
    write and read versions 2 for WAL, then the 80-byte reserve): the decryption is right."""
    plain = decrypt_page(key, db_path.read_bytes()[:PAGE], 1)
    return plain[:2] == b"\x40\x00" and plain[2:4] == b"\x02\x02" and plain[4] == RESERVE


def found_in(pages: list[bytes], needle: bytes) -> bool:
    return any(needle in page for page in pages)
