// Beside the page that seals a file (seal.js, sealFile): each sealed chunk is handed here as it
// is made; this worker starts its digest for the blob id (blob-id.js: the browser's own SHA-256
// per chunk, or libsodium's where that is missing) and gathers the chunks into Blobs, so the
// page's own thread only reads and encrypts. One file at a time; every message names the
// file's job number, and a message of an older job is ignored.
//
// From the page: {op: "start", job, subtle}, {op: "chunks", job, list} (the header, then the
// sealed chunks, in order, their buffers transferred), {op: "end", job}, {op: "stop", job}.
// To the page: {ready: true} once libsodium is ready; {job, taken: n} once the chunks of a
// "chunks" are hashed (the page waits when too many are on their way); {job, body: Blob,
// blob: "<64 hex>"} after "end"; {failed: true} if libsodium did not load.
//
// `slow` in "start" is for the benchmark only (bench/browser_seal.py): Chromium's CPU throttling
// (DevTools' Emulation.setCPUThrottlingRate) slows the page's main thread alone, never a
// worker, so to measure a slow phone the worker slows itself by the same factor, as Chromium
// does to the main thread: after each piece of its own work it spins for (slow - 1) times as
// long.

importScripts("/static/vendor/libsodium.js", "/static/vendor/libsodium-wrappers.js", "/static/blob-id.js");

const BATCH = 512; // sealed chunks (32 MiB) made into one Blob

let sodium = null;
let job = null;

function slowDown(job, started) {
  const now = performance.now();
  job.work += now - started;
  const until = now + job.work * (job.slow - 1) - job.spun;
  let t = now;
  while (t < until) t = performance.now();
  job.spun += t - now;
}

// One message of the job `mine`, after the ones before it. Nothing is posted for a job that
// was stopped or replaced meanwhile.
async function take(mine, m) {
  let started = performance.now();
  if (m.op === "chunks") {
    for (const bytes of m.list) {
      if (!mine.headed) {
        mine.hasher.header(bytes);
        mine.headed = true;
      } else {
        const wait = mine.hasher.chunk(bytes); // the digests in order: wait before the next
        if (wait) {
          const paused = performance.now();
          await wait;
          started += performance.now() - paused; // the worker's own work only
        }
      }
      mine.parts.push(bytes);
      if (mine.parts.length >= BATCH) {
        mine.batches.push(new Blob(mine.parts));
        mine.parts = [];
      }
    }
    mine.taken += m.list.length;
    if (mine.slow > 1) slowDown(mine, started);
    if (mine !== job) return;
    self.postMessage({ job: job.id, taken: job.taken });
  } else if (m.op === "end") {
    mine.batches.push(new Blob(mine.parts));
    const body = new Blob(mine.batches, { type: "application/octet-stream" });
    const blob = await mine.hasher.hex();
    if (mine !== job) return;
    self.postMessage({ job: job.id, taken: job.taken, body, blob });
    job = null;
  }
}

self.onmessage = (event) => {
  const m = event.data;
  if (sodium === null) return;
  if (m.op === "start") {
    job = { id: m.job, parts: [], batches: [], taken: 0, headed: false, done: Promise.resolve() };
    job.hasher = new self.RedressBlobId.BlobHasher(sodium, { subtle: m.subtle !== false });
    job.slow = Number(m.slow) > 1 ? Number(m.slow) : 1;
    job.work = 0;
    job.spun = 0;
    return;
  }
  if (job === null || m.job !== job.id) return;
  if (m.op === "stop") {
    job = null;
    return;
  }
  // One message at a time, in order. A failure is thrown again outside the promise, so that
  // the page gets the worker's error event, as for any other error here.
  const mine = job;
  mine.done = mine.done
    .then(() => (mine === job ? take(mine, m) : null))
    .catch((error) => {
      job = null;
      setTimeout(() => {
        throw error;
      });
    });
};

self.sodium.ready.then(
  () => {
    if (typeof self.sodium.crypto_hash_sha256_init !== "function") throw new Error("sha256");
    sodium = self.sodium;
    self.postMessage({ ready: true });
  },
).catch(() => self.postMessage({ failed: true }));
