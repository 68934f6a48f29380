// Beside the page that seals a file (seal.js, sealFile): each sealed chunk is handed here as it
// is made; this worker hashes it with its own libsodium (incremental SHA-256, the blob id) and
// gathers the chunks into Blobs, so the page's own thread only reads and encrypts. One file at
// a time; every message names the file's job number, and a message of an older job is ignored.
//
// From the page: {op: "start", job}, {op: "chunks", job, list} (sealed chunks in order, their
// buffers transferred), {op: "end", job}, {op: "stop", job}. To the page: {ready: true} once
// libsodium is ready; {job, taken: n} after each "chunks" (the page waits when too many are on
// their way);
// {job, body: Blob, blob: "<64 hex>"} after "end"; {failed: true} if libsodium did not load.
//
// `slow` in "start" is for the benchmark only (bench/browser_seal.py): Chromium's CPU throttling
// (DevTools' Emulation.setCPUThrottlingRate) slows the page's main thread alone, never a
// worker, so to measure a slow phone the worker slows itself by the same factor, as Chromium
// does to the main thread: after each piece of work it spins for (slow - 1) times as long.

importScripts("/static/vendor/libsodium.js", "/static/vendor/libsodium-wrappers.js");

const BATCH = 512; // sealed chunks (32 MiB) made into one Blob

let sodium = null;
let job = null;

function hex(bytes) {
  let out = "";
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
}

function slowDown(job, started) {
  const now = performance.now();
  job.work += now - started;
  const until = now + job.work * (job.slow - 1) - job.spun;
  let t = now;
  while (t < until) t = performance.now();
  job.spun += t - now;
}

self.onmessage = (event) => {
  const m = event.data;
  if (sodium === null) return;
  if (m.op === "start") {
    job = { id: m.job, hash: sodium.crypto_hash_sha256_init(), parts: [], batches: [], taken: 0 };
    job.slow = Number(m.slow) > 1 ? Number(m.slow) : 1;
    job.work = 0;
    job.spun = 0;
    return;
  }
  if (job === null || m.job !== job.id) return;
  const started = job.slow > 1 ? performance.now() : 0;
  if (m.op === "chunks") {
    for (const bytes of m.list) {
      sodium.crypto_hash_sha256_update(job.hash, bytes);
      job.parts.push(bytes);
      if (job.parts.length >= BATCH) {
        job.batches.push(new Blob(job.parts));
        job.parts = [];
      }
    }
    job.taken += m.list.length;
    if (job.slow > 1) slowDown(job, started);
    self.postMessage({ job: job.id, taken: job.taken });
  } else if (m.op === "end") {
    job.batches.push(new Blob(job.parts));
    const body = new Blob(job.batches, { type: "application/octet-stream" });
    const blob = hex(sodium.crypto_hash_sha256_final(job.hash));
    if (job.slow > 1) slowDown(job, started);
    self.postMessage({ job: job.id, taken: job.taken, body, blob });
    job = null;
  } else if (m.op === "stop") {
    job = null;
  }
};

self.sodium.ready.then(
  () => {
    if (typeof self.sodium.crypto_hash_sha256_init !== "function") throw new Error("sha256");
    sodium = self.sodium;
    self.postMessage({ ready: true });
  },
).catch(() => self.postMessage({ failed: true }));
