"""Review 15h of the hash-list blob id in real headless Chromium (vault/intake/static/blob-id.js):
the id at every chunk boundary, by WebCrypto and by the libsodium fallback, as Python gives it;
and with more than 32 digests in flight, resolving in a scrambled order, still the same id."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.sealing import blob_id as doc_blob_id
from vault.attachments import blob_id

STEP = 65_553
LENGTHS = [0, 1, 23, 24, 25, 24 + STEP - 1, 24 + STEP, 24 + STEP + 1, 24 + 2 * STEP]

BOUNDARIES = """async ([lengths, size]) => {
  await window.sodium.ready;
  const sodium = window.sodium;
  const m = await import('/static/seal.js');
  const out = { ids: [], order: [] };
  for (const length of lengths) {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = (i * 7 + 3) % 256;
    out.ids.push([await m.blobId(sodium, bytes), await m.blobId(sodium, bytes, { subtle: false })]);
  }
  // WebCrypto digests that resolve in a scrambled order (a later chunk's often first); the
  // bytes copied at once, as crypto.subtle.digest does.
  const digest = SubtleCrypto.prototype.digest;
  let calls = 0;
  SubtleCrypto.prototype.digest = function (name, data) {
    const copy = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    const n = calls++;
    const delay = 8 - (n % 9); // within each nine, the last resolves first
    return new Promise((resolve, reject) =>
      setTimeout(() => digest.call(this, name, copy).then((d) => {
        out.order.push(n);
        resolve(d);
      }, reject), delay));
  };
  try {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 7 + 3) % 256;
    out.scrambled = await m.blobId(sodium, bytes);
    out.calls = calls;
  } finally {
    SubtleCrypto.prototype.digest = digest;
  }
  return out;
}"""


def test_the_browser_id_at_chunk_boundaries_and_with_digests_resolving_out_of_order(
    page: Page,
) -> None:
    page.goto("/replies")
    page.wait_for_function("window.sodium !== undefined")
    size = 24 + 70 * STEP + 5  # 71 chunks: past the 32 digests in flight, more than once
    got = page.evaluate(BOUNDARIES, [LENGTHS, size])
    for length, (subtle, libsodium) in zip(LENGTHS, got["ids"], strict=True):
        assert subtle == libsodium == blob_id(_pattern(length)) == doc_blob_id(_pattern(length))
    assert got["calls"] == 71, "the scrambled WebCrypto digest was the one used"
    assert got["order"] != sorted(got["order"]), "the digests resolved out of order"
    assert got["scrambled"] == blob_id(_pattern(size))


def _pattern(length: int) -> bytes:
    period = bytes((i * 7 + 3) % 256 for i in range(256))
    return (period * (length // 256 + 1))[:length]
