"""The form's own cryptography, run in Chromium and checked against Python and the documents.

The modules under vault/intake/static are imported into a page of the intake (so the page's
Content-Security-Policy applies) and their answers compared with hashlib, PyNaCl and vault.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
from playwright.sync_api import Page

from tests.sealing import blob_id as sealed_blob_id
from tests.vault.intake.browser.conftest import (
    codename_entropy,
    mailbox_id,
    reply_keypair,
    wordlist,
)
from vault.attachments import blob_id
from vault.envelope import padded_length
from vault.pow import meets
from vault.report import canonical_json, parse_report

VECTOR_DIR = Path(__file__).resolve().parents[3] / "vectors"

# White space as the report model trims it (pydantic-core's trim: Unicode White_Space).
TRIMMED = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
KEPT = "\x1c\x1d\x1e\x1f\u180e\u200b\ufeff"


def call(page: Page, module: str, body: str, arg: Any = None) -> Any:
    """Evaluate ``body`` (an expression using ``m``, the module, and ``arg``) in the page."""
    page.goto("/replies")
    page.wait_for_function("window.sodium !== undefined")
    return page.evaluate(
        f"async arg => {{ await window.sodium.ready; const m = await import('/static/{module}');"
        f" return {body}; }}",
        arg,
    )


def test_sha256(page: Page) -> None:
    rng = random.Random(1)
    lengths = [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 65_553]
    data = [bytes(rng.randrange(256) for _ in range(n)) for n in lengths]
    got = call(
        page,
        "sha256.js",
        "arg.map(d => m.toHex(m.sha256(new Uint8Array(d))))",
        [list(d) for d in data],
    )
    assert got == [hashlib.sha256(d).hexdigest() for d in data]


def test_padded_length(page: Page) -> None:
    ns = [0, 1, 2047, 2048, 2049, 2176, 2177, 3000, 4096, 4097, 9002, 10_000, 65_536, 65_537]
    ns += [100_000, 1_000_000, 1_048_576, 26_214_400]
    ns += random.Random(2).sample(range(30_000_000), 200)
    got = call(page, "seal.js", "arg.map(n => m.paddedLength(n))", ns)
    assert got == [padded_length(n) for n in ns]


def test_trim_matches_the_report_model(page: Page) -> None:
    texts = [f"{c}x{c}" for c in TRIMMED + KEPT]
    got = call(page, "seal.js", "arg.map(t => m.trimText(t))", texts)
    model = [
        parse_report({"sector": "other", "role": t, "harms": ["other"], "what_happened": "x"}).role
        for t in texts
    ]
    assert got == model
    assert got[: len(TRIMMED)] == ["x"] * len(TRIMMED)


def test_canonical_json_matches_python(page: Page) -> None:
    value = {
        "z": ["é", "\u2028", "\x00\x1f\x7f", '"\\/', "😀"],
        "a": {"b": True, "a": False, "n": 123456789},
        "m": None,
    }
    # A lone surrogate (made in the page: it cannot cross as UTF-8) is written as U+FFFD.
    got = call(page, "seal.js", "m.canonicalJson({...arg, z: [...arg.z, '\\ud800 lone']})", value)
    expected = dict(value, z=[*value["z"], "\ufffd lone"])
    expected.pop("m")
    assert got.encode() == canonical_json(expected)


def test_proof_of_work(page: Page) -> None:
    challenge = os.urandom(36)
    found = call(
        page, "pow.js", "m.search(new Uint8Array(arg), 12, 0, 2 ** 32 - 1)", list(challenge)
    )
    assert meets(challenge, found, 12)
    assert not any(meets(challenge, n, 12) for n in range(found))


def test_codename_words_keys_and_mailbox(page: Page) -> None:
    entropy = os.urandom(12)
    words = call(
        page,
        "codename.js",
        "m.loadWordlist().then(w => m.entropyToWords(new Uint8Array(arg), w))",
        list(entropy),
    )
    assert len(words) == 9
    assert set(words) <= set(wordlist())
    assert codename_entropy(words) == entropy
    pk, _ = reply_keypair(entropy)
    derived = page.evaluate(
        """async e => {
            const m = await import('/static/codename.js');
            await window.sodium.ready;
            const pair = m.replyKeyPair(window.sodium, new Uint8Array(e));
            return {pk: Array.from(pair.publicKey), mailbox: m.mailboxId(pair.publicKey)};
        }""",
        list(entropy),
    )
    assert bytes(derived["pk"]) == pk
    assert derived["mailbox"] == mailbox_id(pk)


def test_codename_typing_is_forgiving(page: Page) -> None:
    entropy = os.urandom(12)
    all_words = wordlist()
    bits = "".join(format(b, "08b") for b in entropy) + format(
        hashlib.sha256(entropy).digest()[0] >> 5, "03b"
    )
    words = [all_words[int(bits[i : i + 11], 2)] for i in range(0, 99, 11)]
    typings = [
        " ".join(words),
        ",".join(w.upper() for w in words),
        "-".join(w[:4] for w in words),
        "\n  " + ", ".join(words[:4]) + " -- " + " ".join(w.title() for w in words[4:]) + ".",
    ]
    got = call(
        page,
        "codename.js",
        "m.loadWordlist().then(w => arg.map(t => { const r = m.parseCodename(t, w);"
        " return r.entropy ? Array.from(r.entropy) : r; }))",
        typings,
    )
    assert [bytes(g) for g in got] == [entropy] * len(typings)
    problems = call(
        page,
        "codename.js",
        "m.loadWordlist().then(w => arg.map(t => m.parseCodename(t, w).problem))",
        ["", " ".join(words[:8]), " ".join([*words[:8], "qqqq"])],
    )
    assert problems == ["empty", "count", "word"]


SEAL_BOTH_WAYS = """async (lengths) => {
  await window.sodium.ready;
  const sodium = window.sodium;
  const m = await import('/static/seal.js');
  const data = sodium.randombytes_buf(3 * 65536 + 1234);
  const file = new File([data], 'evidence.bin');
  const b64 = (bytes) => sodium.to_base64(bytes, sodium.base64_variants.ORIGINAL);
  const worker = await m.startSealer();
  const out = { worker: worker !== null, subtle: Boolean(crypto.subtle), data: b64(data) };
  out.vectors = [];
  const ways = [
    ['worker', { sink: 'keep' }], ['workerLibsodium', { sink: 'keep', subtle: false }],
    ['page', { sink: 'keep', worker: false }],
    ['pageLibsodium', { sink: 'keep', worker: false, subtle: false }],
  ];
  for (const [name, options] of ways) {
    const sealed = await m.sealFile(sodium, file, null, options);
    const body = new Uint8Array(await sealed.body.arrayBuffer());
    out[name] = { blob: sealed.blob, key: sealed.key, body: b64(body) };
  }
  for (const length of lengths) {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = i % 251;
    const plain = await m.blobId(sodium, bytes, { subtle: false });
    out.vectors.push([await m.blobId(sodium, bytes), plain]);
  }
  return out;
}"""


def test_sealing_a_file_gives_the_documented_blob_id_in_the_worker_or_the_page(
    page: Page,
) -> None:
    """The form names a sealed file by the hash list of docs/format.md, hashing each chunk
    with WebCrypto or, where that is missing, libsodium, in the seal worker (seal-worker.js)
    or, where none starts, in the page: every way the id of the vectors, and of the upload
    body as Python computes it, and the body opens with the key to the file, padded with
    zeros."""
    page.goto("/replies")
    page.wait_for_function("window.sodium !== undefined")
    vectors = json.loads((VECTOR_DIR / "blob-id-v1.json").read_text())["vectors"]
    got = page.evaluate(SEAL_BOTH_WAYS, [v["length"] for v in vectors])
    assert got["worker"], "the page's sealing worker started (CSP allows it)"
    assert got["subtle"], "the intake's page is a secure context (loopback)"
    assert got["vectors"] == [[v["blob_id"]] * 2 for v in vectors]
    data = base64.b64decode(got["data"])
    bodies = set()
    for name in ("worker", "workerLibsodium", "page", "pageLibsodium"):
        sealed = got[name]
        body = base64.b64decode(sealed["body"])
        assert sealed["blob"] == blob_id(body) == sealed_blob_id(body)
        plain = open_attachment_body(body, base64.b64decode(sealed["key"]))
        assert plain == data + bytes(padded_length(len(data)) - len(data))
        bodies.add(body)
    assert len(bodies) == 4, "a fresh key each time"


def open_attachment_body(body: bytes, key: bytes) -> bytes:
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, body[:24], key)
    step = 65_536 + 17
    out = b""
    for at in range(24, len(body), step):
        message, _tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
            state, body[at : at + step], None
        )
        out += message
    return out
