// Sealing in the browser, byte for byte as docs/format.md and docs/intake.md say:
// canonical report JSON, 0x80 padding, the 20-byte v1 header, crypto_box_seal; and
// attachments padded with zeros and sealed with crypto_secretstream in 64 KiB chunks.

import { taggedHash, toHex } from "./sha256.js";

export const MIN_PADDED = 2048;
export const MAX_PADDED = 1 << 20;
export const CHUNK = 65536;

// The white space the report model trims (Unicode White_Space; not String.prototype.trim's set).
const WS = "\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const TRIM = new RegExp(`^[${WS}]+|[${WS}]+$`, "gu");

export function trimText(value) {
  return wellFormed(String(value)).replace(TRIM, "");
}

// Lone surrogates cannot be written as UTF-8; replace them as TextEncoder would.
export function wellFormed(text) {
  if (typeof text.toWellFormed === "function") return text.toWellFormed();
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

// Length in Unicode code points, as the report model counts.
export function codePoints(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

export function paddedLength(n) {
  if (n <= MIN_PADDED) return MIN_PADDED;
  const e = 31 - Math.clz32(n);
  const s = 32 - Math.clz32(e);
  const mask = 2 ** (e - s) - 1;
  return Math.floor((n + mask) / (mask + 1)) * (mask + 1);
}

// Sorted keys at every level, no white space; members that are null or undefined are left
// out (an unset field is absent, never null).
export function canonicalJson(value) {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort()) {
      if (value[key] !== undefined && value[key] !== null) out[key] = sortKeys(value[key]);
    }
    return out;
  }
  if (typeof value === "string") return wellFormed(value);
  return value;
}

export function pad(bytes) {
  const padded = new Uint8Array(paddedLength(bytes.length + 1));
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  return padded;
}

// Reverse of pad(), refusing anything but canonical padding.
export function unpad(padded) {
  let end = padded.length;
  while (end > 0 && padded[end - 1] === 0) end--;
  if (end === 0 || padded[end - 1] !== 0x80 || paddedLength(end) !== padded.length) {
    throw new Error("padding");
  }
  return padded.subarray(0, end - 1);
}

export function teamKeyId(publicKey) {
  return taggedHash("redress team key id v1", publicKey).subarray(0, 8);
}

// Build the report object a sealer must write: required fields, the four defaults always,
// optional ones only when set.
export function buildReport(fields) {
  const report = {
    v: 1,
    sector: fields.sector,
    role: fields.role,
    harms: fields.harms,
    what_happened: fields.what_happened,
    wants: fields.wants || [],
    consent: { alert: Boolean(fields.consent_alert), research: Boolean(fields.consent_research) },
    attachments: fields.attachments || [],
  };
  const optional = ["when", "where", "organisation", "professional_identifier", "reply_key", "reply_signing_key", "language"];
  for (const name of optional) {
    if (fields[name]) report[name] = fields[name];
  }
  if (fields.contact_method && fields.contact_value) {
    report.contact = { method: fields.contact_method, value: fields.contact_value };
  }
  return report;
}

export function sealReport(sodium, report, epoch, publicKey) {
  const json = new TextEncoder().encode(canonicalJson(report));
  const padded = pad(json);
  if (padded.length > MAX_PADDED) throw new Error("too-long");
  const header = new Uint8Array(20);
  header.set(new TextEncoder().encode("REDRESS"), 0);
  header[7] = 1;
  new DataView(header.buffer).setUint32(8, epoch, false);
  header.set(teamKeyId(publicKey), 12);
  const sealed = sodium.crypto_box_seal(padded, publicKey);
  const envelope = new Uint8Array(header.length + sealed.length);
  envelope.set(header, 0);
  envelope.set(sealed, header.length);
  return envelope;
}

// The blob id (docs/format.md, "Attachments: the blob id"), a hash list:
//   SHA-256( "redress blob hash list v1" || 0x00 || header || SHA-256(chunk 1) || ... )
// Each sealed chunk is hashed with the browser's own SHA-256 (crypto.subtle.digest: native,
// run off the page's thread, but not incremental), at most DIGESTS_IN_FLIGHT at once; their
// digests are fed, in the chunks' order, to libsodium's incremental SHA-256, which only ever
// sees 32 bytes a chunk. Where crypto.subtle is missing (a page not in a secure context),
// libsodium hashes each chunk itself: the same id, more slowly.
export const BLOB_ID_PURPOSE = "redress blob hash list v1";
const DIGESTS_IN_FLIGHT = 32; // 2 MiB of chunk copies waiting to be hashed, at most

export class BlobHasher {
  // `options.subtle = false` hashes each chunk with libsodium (the fallback; for tests and the
  // benchmark).
  constructor(sodium, options = {}) {
    this.sodium = sodium;
    const subtle = globalThis.crypto && globalThis.crypto.subtle;
    this.subtle = options.subtle === false || !subtle ? null : subtle;
    this.list = sodium.crypto_hash_sha256_init();
    sodium.crypto_hash_sha256_update(this.list, new TextEncoder().encode(BLOB_ID_PURPOSE + "\u0000"));
    this.pending = []; // promises of digests, in the chunks' order
  }

  header(bytes) {
    this.sodium.crypto_hash_sha256_update(this.list, bytes);
  }

  // Returns null, or a promise to await before the next chunk (too many digests in flight).
  chunk(bytes) {
    if (this.subtle === null) {
      this.sodium.crypto_hash_sha256_update(this.list, this.sodium.crypto_hash_sha256(bytes));
      return null;
    }
    this.pending.push(this.subtle.digest("SHA-256", bytes)); // copies the bytes at once
    return this.pending.length < DIGESTS_IN_FLIGHT ? null : this.settle(DIGESTS_IN_FLIGHT / 2);
  }

  async settle(keep) {
    while (this.pending.length > keep) {
      const digest = await this.pending.shift();
      this.sodium.crypto_hash_sha256_update(this.list, new Uint8Array(digest));
    }
  }

  async hex() {
    await this.settle(0);
    return toHex(this.sodium.crypto_hash_sha256_final(this.list));
  }
}

// The blob id of a whole sealed file held in memory (tests; the form hashes as it seals).
export async function blobId(sodium, sealed, options = {}) {
  const hasher = new BlobHasher(sodium, options);
  hasher.header(sealed.subarray(0, 24));
  for (let at = 24; at < sealed.length; at += SEALED_CHUNK) {
    await hasher.chunk(sealed.subarray(at, at + SEALED_CHUNK));
  }
  return hasher.hex();
}

const SEALED_CHUNK = CHUNK + 17;
const BATCH = 512; // sealed chunks (32 MiB) handed to a Blob at once

// Seal one file: its bytes, then zeros up to paddedLength(size), in 64 KiB secretstream
// chunks. The file is read as a stream, so a large one never sits in the page whole. Each
// sealed chunk goes to the blob id (BlobHasher above; the page checks it against the intake's
// answer and puts it in the report itself) and is gathered into Blobs 32 MiB at a time (the
// browser may keep a Blob out of the page's memory). `onChunk(done, total)` reports progress.
// `options.subtle = false` is for tests and the benchmark: libsodium hashes every chunk.
export async function sealFile(sodium, file, onChunk, options = {}) {
  const size = file.size;
  const total = paddedLength(size);
  const hasher = new BlobHasher(sodium, options);
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  // Each batch becomes a Blob of its own, and the batches one Blob at the end: a Blob made
  // again from the growing one each time costs more with every batch.
  const batches = [];
  let parts = [header];
  let done = 0;
  // Returns a promise when too many digests are in flight: await it.
  const push = (plain) => {
    done += plain.length;
    const tag = done === total ? TAG_FINAL : TAG_MESSAGE;
    const sealed = sodium.crypto_secretstream_xchacha20poly1305_push(state, plain, null, tag);
    const wait = hasher.chunk(sealed);
    parts.push(sealed);
    if (parts.length >= BATCH) {
      batches.push(new Blob(parts));
      parts = [];
    }
    if (onChunk) onChunk(done, total);
    return wait;
  };
  // Whole chunks straight from what the stream gives; a chunk split across two reads is
  // gathered in `partial` first.
  const partial = new Uint8Array(CHUNK);
  let held = 0;
  let read = 0;
  const reader = file.stream().getReader();
  try {
    hasher.header(header);
    for (;;) {
      const { done: ended, value } = await reader.read();
      if (ended) break;
      read += value.length;
      if (read > size) throw new Error("file-changed");
      let at = 0;
      if (held > 0) {
        const take = Math.min(CHUNK - held, value.length);
        partial.set(value.subarray(0, take), held);
        held += take;
        at = take;
        if (held === CHUNK) {
          await push(partial);
          held = 0;
        }
      }
      for (; at + CHUNK <= value.length; at += CHUNK) await push(value.subarray(at, at + CHUNK));
      if (at < value.length) {
        partial.set(value.subarray(at), 0);
        held = value.length - at;
      }
    }
    if (read !== size) throw new Error("file-changed");
    // The file's last bytes, then zeros (the padding) to the padded length.
    if (held > 0 || done < total) {
      partial.fill(0, held);
      await push(partial.subarray(0, Math.min(CHUNK, total - done)));
    }
    const zeros = new Uint8Array(CHUNK);
    while (done < total) await push(zeros.subarray(0, Math.min(CHUNK, total - done)));
    batches.push(new Blob(parts));
    const body = new Blob(batches, { type: "application/octet-stream" });
    const blob = await hasher.hex();
    return { body, blob, key: sodium.to_base64(key, sodium.base64_variants.ORIGINAL) };
  } finally {
    reader.releaseLock();
    sodium.memzero(key);
  }
}

// A reporter's message (docs/format.md, "Reporter messages"): the canonical message JSON
// padded and sealed to the team key, behind a 20-byte header ("REDRMSG", version 1, epoch,
// team key id), the codename's signing key, and an Ed25519 signature over
// "redress reporter message v1" || 0x00 || header || signing key || sealed.
export function sealMessage(sodium, message, epoch, publicKey, signing) {
  const padded = pad(new TextEncoder().encode(canonicalJson(message)));
  if (padded.length > MAX_MESSAGE_PADDED) throw new Error("too-long");
  const header = new Uint8Array(20);
  header.set(new TextEncoder().encode("REDRMSG"), 0);
  header[7] = 1;
  new DataView(header.buffer).setUint32(8, epoch, false);
  header.set(teamKeyId(publicKey), 12);
  const sealed = sodium.crypto_box_seal(padded, publicKey);
  const purpose = new TextEncoder().encode("redress reporter message v1\u0000");
  const signed = concat([purpose, header, signing.publicKey, sealed]);
  const signature = sodium.crypto_sign_detached(signed, signing.privateKey);
  return concat([header, signing.publicKey, signature, sealed]);
}

export const MAX_MESSAGE_PADDED = 1 << 18;

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
