// Sealing in the browser, byte for byte as docs/format.md and docs/intake.md say:
// canonical report JSON, 0x80 padding, the 20-byte v1 header, crypto_box_seal; and
// attachments padded with zeros and sealed with crypto_secretstream in 64 KiB chunks.

import "./blob-id.js";
import { taggedHash } from "./sha256.js";

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

// The blob id: blob-id.js (shared with seal-worker.js).
export const { BlobHasher, PURPOSE: BLOB_ID_PURPOSE } = self.RedressBlobId;
const SEALED_CHUNK = CHUNK + 17;

// The blob id of a whole sealed file held in memory (tests; the form hashes as it seals).
export async function blobId(sodium, sealed, options = {}) {
  const hasher = new BlobHasher(sodium, options);
  hasher.header(sealed.subarray(0, 24));
  for (let at = 24; at < sealed.length; at += SEALED_CHUNK) {
    await hasher.chunk(sealed.subarray(at, at + SEALED_CHUNK));
  }
  return hasher.hex();
}

// Seal one file: its bytes, then zeros up to paddedLength(size), in 64 KiB secretstream
// chunks. The file is read as a stream, so a large one never sits in the page whole. Each
// sealed chunk goes to the blob id (blob-id.js: the page checks it against the intake's answer
// and puts it in the report itself) and is gathered into Blobs 32 MiB at a time (the browser
// may keep a Blob out of the page's memory). Starting the digests and gathering the chunks run
// in a worker beside the page (seal-worker.js), so that the page's own thread only reads and
// encrypts; where no worker can start, the page does them itself (the same id). A worker that goes silent while
// it owes an answer (closed, stuck, its thread starved: no error event comes) is given up
// after WORKER_SILENT_MS: it is terminated, the file is sealed again from its start in the
// page, with a fresh key, and so is every later file of the page (as where no worker can
// start). `onChunk(done, total)` reports progress (it starts again from 0 then). For tests and
// the benchmark only: `options.worker = false` hashes in the page; `options.subtle = false`
// hashes each chunk with libsodium instead of WebCrypto (as where WebCrypto is missing);
// `options.slowWorker = N` has the worker run N times slower (seal-worker.js).
const BATCH = 512; // sealed chunks (32 MiB) handed to a Blob at once
const POST = 16; // sealed chunks (1 MiB) posted to the worker in one message
const WINDOW = 128; // sealed chunks (8 MiB) on their way to the worker before the page waits
const WORKER_WAIT_MS = 20000;
// The worker answers each 1 MiB message once it has hashed it: a few milliseconds on a laptop,
// well under a second on a slow phone with the page encrypting beside it. Ten seconds without
// any answer while one is owed is far beyond a slow device; giving up costs only speed.
export const WORKER_SILENT_MS = 10000;

let sealer = null; // a promise of the ready worker, or of null where none could start

// A worker given up on: silent too long, or its answer not all it was sent. The file is
// sealed again in the page, and so is every later file of the page.
class WorkerSilent extends Error {}

// Start the worker early (the form calls this as soon as it knows this browser can seal,
// whether or not a file is ever chosen, so that fetching the worker says nothing about
// files), so that it is ready, libsodium loaded, when sealing begins. Safe to call again.
export function startSealer() {
  if (sealer === null) sealer = newSealer();
  return sealer;
}

function newSealer() {
  return new Promise((resolve) => {
    let worker;
    try {
      worker = new Worker(new URL("./seal-worker.js", import.meta.url));
    } catch {
      resolve(null);
      return;
    }
    const give = (value) => {
      clearTimeout(timer);
      worker.onmessage = null;
      worker.onerror = null;
      if (value === null) worker.terminate();
      resolve(value);
    };
    const timer = setTimeout(() => give(null), WORKER_WAIT_MS);
    worker.onmessage = (event) => give(event.data && event.data.ready ? worker : null);
    worker.onerror = () => give(null);
  });
}

let jobs = 0;

// Where the sealed chunks go: add(bytes) (may return a promise to wait on), then finish().
function workerSink(worker, options) {
  const slow = options.slowWorker || 1;
  const subtle = options.subtle !== false;
  const job = ++jobs;
  let sent = 0;
  let sentBytes = 0; // every sealed byte given to the worker, header included
  let taken = 0;
  let list = []; // sealed chunks not yet posted: sent POST at a time
  let waiting = null; // resolves when the worker takes more
  let ended = null; // {resolve, reject} of finish()
  let failure = null;
  let silence = null; // the watchdog: runs while the worker owes an answer
  const fail = (error) => {
    failure = error;
    clearTimeout(silence);
    // A worker that failed: a new one for the next file. One that went silent: none again.
    sealer = error instanceof WorkerSilent ? Promise.resolve(null) : null;
    worker.terminate();
    if (waiting) waiting.reject(error);
    if (ended) ended.reject(error);
  };
  // Armed when an answer is first owed (chunks not yet taken, or the end), and again after
  // each answer while one is still owed: so it measures the silence since the last answer.
  const watch = () => {
    if (failure || silence !== null || (sent === taken && ended === null)) return;
    silence = setTimeout(() => fail(new WorkerSilent("worker")), WORKER_SILENT_MS);
  };
  const post = () => {
    worker.postMessage({ op: "chunks", job, list }, list.map((bytes) => bytes.buffer));
    sent += list.length;
    list = [];
    watch();
  };
  worker.onmessage = (event) => {
    const m = event.data;
    if (m.job !== job || failure) return;
    clearTimeout(silence);
    silence = null;
    taken = m.taken;
    if (waiting && sent - taken < WINDOW) {
      const w = waiting;
      waiting = null;
      w.resolve();
    }
    if (m.body && ended) {
      // The body must be every sealed chunk the page made, in full: a worker that dropped
      // some would give a short body under an id that matches it.
      if (m.taken !== sent || m.body.size !== sentBytes) {
        fail(new WorkerSilent("worker"));
        return;
      }
      ended.resolve({ body: m.body, blob: m.blob });
      return;
    }
    watch();
  };
  worker.onerror = () => fail(new Error("worker"));
  worker.onmessageerror = () => fail(new Error("worker"));
  worker.postMessage({ op: "start", job, slow, subtle });
  return {
    add(bytes) {
      if (failure) throw failure;
      sentBytes += bytes.length;
      list.push(bytes);
      if (list.length < POST) return null;
      post();
      if (sent - taken < WINDOW) return null;
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
      });
    },
    finish() {
      if (failure) return Promise.reject(failure);
      if (list.length) post();
      return new Promise((resolve, reject) => {
        ended = { resolve, reject };
        worker.postMessage({ op: "end", job });
        watch();
      });
    },
    stop() {
      clearTimeout(silence);
      if (!failure) worker.postMessage({ op: "stop", job });
    },
  };
}

function pageSink(sodium, options) {
  const hasher = new BlobHasher(sodium, options);
  let headed = false;
  // Each batch becomes a Blob of its own, and the batches one Blob at the end: a Blob
  // made again from the growing one each time costs more with every batch.
  const batches = [];
  let parts = [];
  return {
    add(bytes) {
      parts.push(bytes);
      if (parts.length >= BATCH) {
        batches.push(new Blob(parts));
        parts = [];
      }
      if (headed) return hasher.chunk(bytes);
      hasher.header(bytes);
      headed = true;
      return null;
    },
    async finish() {
      batches.push(new Blob(parts));
      const body = new Blob(batches, { type: "application/octet-stream" });
      return { body, blob: await hasher.hex() };
    },
    stop() {},
  };
}

export async function sealFile(sodium, file, onChunk, options = {}) {
  const worker = options.worker === false ? null : await startSealer();
  if (worker) {
    try {
      return await sealInto(sodium, file, onChunk, workerSink(worker, options));
    } catch (error) {
      if (!(error instanceof WorkerSilent)) throw error;
      // The worker went silent (and is gone): seal the file again, in the page.
    }
  }
  return sealInto(sodium, file, onChunk, pageSink(sodium, options));
}

async function sealInto(sodium, file, onChunk, sink) {
  const size = file.size;
  const total = paddedLength(size);
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  let done = 0;
  // Returns a promise when the worker has too many chunks on their way: await it.
  const push = (plain) => {
    done += plain.length;
    const tag = done === total ? TAG_FINAL : TAG_MESSAGE;
    const wait = sink.add(sodium.crypto_secretstream_xchacha20poly1305_push(state, plain, null, tag));
    if (onChunk) onChunk(done, total);
    return wait;
  };
  // Whole chunks straight from what the stream gives; a chunk split across two reads is
  // gathered in `partial` first.
  const partial = new Uint8Array(CHUNK);
  let held = 0;
  let read = 0;
  let finished = false;
  const reader = file.stream().getReader();
  try {
    await sink.add(header);
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
    const { body, blob } = await sink.finish();
    finished = true;
    return { body, blob, key: sodium.to_base64(key, sodium.base64_variants.ORIGINAL) };
  } finally {
    reader.releaseLock();
    if (!finished) sink.stop();
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
