// Sealing in the browser, byte for byte as docs/format.md and docs/intake.md say:
// canonical report JSON, 0x80 padding, the 20-byte v1 header, crypto_box_seal; and
// attachments padded with zeros and sealed with crypto_secretstream in 64 KiB chunks.

import "./blob-id.js";
import "./upload-parts.js";
import { postWithProof } from "./pow.js";
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
// chunks, and upload it in parts as it is sealed (upload-parts.js: docs/intake.md section 4,
// "Uploading in parts"). The file is read as a stream, and the sealed bytes leave for the intake
// a part (8 MiB) at a time, at most one part on its way, so neither the file nor the sealed file
// ever sits in the browser whole. Each sealed chunk goes to the blob id (blob-id.js: the caller
// checks it against the intake's answer and puts it in the report itself). Starting the digests
// and the upload run in a worker beside the page (seal-worker.js), so that the page's own thread
// only reads and encrypts; where no worker can start, the page does them itself (the same id). A
// worker that goes silent while it owes an answer (closed, stuck, its thread starved: no error
// event comes; a worker waiting on the network says it is alive every second) is given up after
// WORKER_SILENT_MS: it is terminated, the file is sealed again from its start in the page, with a
// fresh key, into a fresh upload, and so is every later file of the page (as where no worker can
// start). `onChunk(done, total)` reports the plaintext sealed so far (it starts again from 0
// then).
//
// Options: `sink` is where the sealed bytes go: "upload" (the default: a new upload in parts,
// opened with a proof of work; `onWork(fraction)` reports the proof's progress and
// `onSent(size, total)` each part the intake holds, in sealed bytes), "keep" (gathered into a
// Blob, returned as `body`: for tests) or "drop" (hashed, then dropped: the benchmark's measure
// of sealing alone). For tests and the benchmark only: `worker = false` hashes in the page;
// `subtle = false` hashes each chunk with libsodium instead of WebCrypto (as where WebCrypto is
// missing); `slowWorker = N` has the worker run N times slower (seal-worker.js).
//
// Returns {blob (the id this page computed), server (the intake's id, "upload" only: the caller
// refuses a different one), size (sealed bytes), body ("keep" only), key (base64)}. A failed
// upload is an UploadFailed whose `kind` is "network", "busy", "too-big" or "refused".
const POST = 16; // sealed chunks (1 MiB) posted to the worker in one message
const WINDOW = 128; // sealed chunks (8 MiB) on their way to the worker before the page waits
const WORKER_WAIT_MS = 20000;
const READ_BYTES = 1 << 20; // the file is read into one buffer of this size, where it can be
// The worker answers each 1 MiB message once it has hashed it: a few milliseconds on a laptop,
// well under a second on a slow phone with the page encrypting beside it; while the network
// holds it up it says it is alive every second. Ten seconds without any answer while one is
// owed is far beyond a slow device; giving up costs only speed.
export const WORKER_SILENT_MS = 10000;

export const { UploadFailed } = self.RedressParts;
const { sinkFor } = self.RedressParts;

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

// Open an upload in parts (POST /api/attachments/parts, with a proof of work); its token.
// Asked to wait (429, 503 busy), it waits as told (at most 10 s) and tries again, three times.
export async function openUpload(onWork) {
  const busy = async (r) =>
    r.status === 429 || (r.status === 503 && (await r.clone().json().catch(() => ({}))).error !== "full");
  const { response, problem } = await postWithProof("/api/attachments/parts", null, { onWork, again: busy });
  if (problem) throw new UploadFailed(problem);
  if (response.status === 201) {
    const answer = await response.json().catch(() => ({}));
    if (typeof answer.upload !== "string") throw new UploadFailed("refused");
    return answer.upload;
  }
  throw new UploadFailed(response.status === 413 ? "too-big" : "refused");
}

let jobs = 0;

// Where the sealed chunks go, through the worker: add(bytes) (may return a promise to wait
// on), then finish() -> {size, server, body}.
function workerSink(worker, options, sink, upload, sealedTotal) {
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
    if (m.failed) {
      fail(new UploadFailed(String(m.failed)));
      return;
    }
    if (Number.isInteger(m.sent)) {
      if (options.onSent) options.onSent(Math.min(m.sent, sealedTotal), sealedTotal);
    } else if (Number.isInteger(m.taken)) {
      taken = m.taken;
    }
    if (waiting && sent - taken < WINDOW) {
      const w = waiting;
      waiting = null;
      w.resolve();
    }
    if (m.blob && ended) {
      // The upload must be every sealed chunk the page made, in full: a worker that dropped
      // some would give a short upload under an id that matches it.
      if (m.taken !== sent || m.size !== sentBytes) {
        fail(new WorkerSilent("worker"));
        return;
      }
      ended.resolve({ body: m.body, blob: m.blob, server: m.server, size: m.size });
      return;
    }
    watch();
  };
  worker.onerror = () => fail(new Error("worker"));
  worker.onmessageerror = () => fail(new Error("worker"));
  worker.postMessage({ op: "start", job, slow, subtle, sink, upload });
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

function pageSink(sodium, options, sink, upload, sealedTotal) {
  const hasher = new BlobHasher(sodium, options);
  let headed = false;
  const into = sinkFor(sink, upload, (held) => options.onSent && options.onSent(Math.min(held, sealedTotal), sealedTotal));
  return {
    add(bytes) {
      const chunk = headed;
      let wait = null;
      if (headed) wait = hasher.chunk(bytes);
      else hasher.header(bytes);
      headed = true;
      const full = into.add(bytes, chunk);
      if (full) wait = wait ? Promise.all([wait, full]) : full;
      return wait;
    },
    async finish() {
      const blob = await hasher.hex();
      const { size, server, body } = await into.finish();
      return { body, blob, server, size };
    },
    stop() {},
  };
}

export async function sealFile(sodium, file, onChunk, options = {}) {
  const sink = options.sink || "upload";
  if (!["upload", "keep", "drop"].includes(sink)) throw new Error("sink");
  const sealedTotal = sealedLength(paddedLength(file.size));
  const open = () => (sink === "upload" ? openUpload(options.onWork) : Promise.resolve(null));
  const worker = options.worker === false ? null : await startSealer();
  if (worker) {
    try {
      const upload = await open();
      return await sealInto(sodium, file, onChunk, workerSink(worker, options, sink, upload, sealedTotal));
    } catch (error) {
      if (!(error instanceof WorkerSilent)) throw error;
      // The worker went silent (and is gone): seal the file again, in the page, into a new
      // upload (the one begun is left; the intake drops it after 10 minutes).
    }
  }
  const upload = await open();
  return sealInto(sodium, file, onChunk, pageSink(sodium, options, sink, upload, sealedTotal));
}

// The sealed length of a padded length p: 24 + p + 17 × ceil(p / 65,536).
export function sealedLength(padded) {
  return 24 + padded + 17 * Math.ceil(padded / CHUNK);
}

async function sealInto(sodium, file, onChunk, sink) {
  const size = file.size;
  const total = paddedLength(size);
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  let done = 0;
  // Returns a promise when the worker has too many chunks on their way (await it), else null.
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
  // Read into one buffer, handed back at each read (a byte stream's "byob" reader), where the
  // browser offers it: no new array for every read (less for the page to collect, and faster);
  // else as the stream gives.
  const stream = file.stream();
  let reader;
  let into = null;
  try {
    reader = stream.getReader({ mode: "byob" });
    into = new ArrayBuffer(READ_BYTES);
  } catch {
    reader = stream.getReader();
  }
  try {
    await sink.add(header);
    for (;;) {
      const { done: ended, value } = into ? await reader.read(new Uint8Array(into)) : await reader.read();
      if (ended) break;
      if (into) into = value.buffer; // the same memory, ours again until the next read
      read += value.length;
      if (read > size) throw new Error("file-changed");
      let at = 0;
      if (held > 0) {
        const take = Math.min(CHUNK - held, value.length);
        partial.set(value.subarray(0, take), held);
        held += take;
        at = take;
        if (held === CHUNK) {
          const wait = push(partial);
          if (wait) await wait;
          held = 0;
        }
      }
      for (; at + CHUNK <= value.length; at += CHUNK) {
        const wait = push(value.subarray(at, at + CHUNK));
        if (wait) await wait;
      }
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
    const { body, blob, server, size: sealed } = await sink.finish();
    finished = true;
    return { body, blob, server, size: sealed, key: sodium.to_base64(key, sodium.base64_variants.ORIGINAL) };
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
