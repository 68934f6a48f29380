// The blob id of a sealed file (docs/format.md, "Attachments: the blob id"), a hash list:
//   SHA-256( "redress blob hash list v1" || 0x00 || header || SHA-256(chunk 1) || ... )
// The one place the browser computes it: the page (seal.js imports this file) and the seal
// worker (seal-worker.js, importScripts) both use it, so it is a classic script that sets
// `self.RedressBlobId`, which also runs as a module import.
//
// Each sealed chunk is hashed with the browser's own SHA-256 (crypto.subtle.digest: native, run
// on the browser's own threads, but not incremental), at most DIGESTS_IN_FLIGHT at once; their
// digests are fed, in the chunks' order, to libsodium's incremental SHA-256, which only ever
// sees 32 bytes a chunk. Where crypto.subtle is missing (a page not in a secure context),
// libsodium hashes each chunk itself: the same id, more slowly.
(function (scope) {
  const PURPOSE = "redress blob hash list v1";
  const DIGESTS_IN_FLIGHT = 32; // at most 2 MiB of chunk copies waiting to be hashed

  class BlobHasher {
    // `options.subtle = false` hashes each chunk with libsodium (the fallback; for tests and
    // the benchmark).
    constructor(sodium, options = {}) {
      this.sodium = sodium;
      const subtle = scope.crypto && scope.crypto.subtle;
      this.subtle = options.subtle === false || !subtle ? null : subtle;
      this.list = sodium.crypto_hash_sha256_init();
      sodium.crypto_hash_sha256_update(this.list, new TextEncoder().encode(PURPOSE + "\u0000"));
      this.pending = []; // promises of digests, in the chunks' order
    }

    // The secretstream header (24 bytes), before any chunk.
    header(bytes) {
      this.sodium.crypto_hash_sha256_update(this.list, bytes);
    }

    // One sealed chunk. Returns null, or a promise to await before the next chunk (too many
    // digests in flight). The bytes are copied at once: the caller may reuse them.
    chunk(bytes) {
      if (this.subtle === null) {
        this.sodium.crypto_hash_sha256_update(this.list, this.sodium.crypto_hash_sha256(bytes));
        return null;
      }
      this.pending.push(this.subtle.digest("SHA-256", bytes));
      return this.pending.length < DIGESTS_IN_FLIGHT ? null : this.settle(DIGESTS_IN_FLIGHT / 2);
    }

    async settle(keep) {
      while (this.pending.length > keep) {
        const digest = await this.pending.shift();
        this.sodium.crypto_hash_sha256_update(this.list, new Uint8Array(digest));
      }
    }

    // The id, in lowercase hex, once every digest is in.
    async hex() {
      await this.settle(0);
      let out = "";
      for (const b of this.sodium.crypto_hash_sha256_final(this.list)) out += (b < 16 ? "0" : "") + b.toString(16);
      return out;
    }
  }

  scope.RedressBlobId = { PURPOSE, BlobHasher };
})(self);
