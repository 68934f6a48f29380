// Beside the page that seals a file (seal.js, sealFile): each sealed chunk is handed here as it
// is made; this worker starts its digest for the blob id (blob-id.js: the browser's own SHA-256
// per chunk, or libsodium's where that is missing) and sends it on: to the intake, in parts of
// 8 MiB as each fills, at most one in flight (upload-parts.js), so the page's own thread only
// reads and encrypts and no more than a few parts of sealed bytes wait in the browser. One file
// at a time; every message names the file's job number, and a message of an older job is
// ignored.
//
// From the page: {op: "start", job, subtle, sink, upload} (sink "upload", the default, with the
// token of the upload the page opened; "keep": gather the chunks into a Blob, for tests; "drop":
// hash them and keep nothing, for the benchmark), {op: "chunks", job, list} (the header, then the
// sealed chunks, in order, their buffers transferred), {op: "end", job}, {op: "stop", job}.
// To the page: {ready: true} once libsodium is ready; {job, taken: n} once the chunks of a
// "chunks" are hashed and added to a part (the page waits when too many are on their way; a
// full part waits here for the one before it to be taken); {job, sent: size} when the intake
// holds another part; {job, alive: true} every second while a part is on its way (a slow link is
// not a silent worker); {job, taken, size, blob: "<64 hex>", server: "<64 hex>" | null, body:
// Blob | null} after "end" (size: the bytes the intake holds, or that were kept or dropped;
// server: the intake's id); {job, failed: kind} when the upload failed ("network", "too-big",
// "refused"); {failed: true} if libsodium did not load.
//
// `slow` in "start" is for the benchmark only (bench/browser_seal.py): Chromium's CPU throttling
// (DevTools' Emulation.setCPUThrottlingRate) slows the page's main thread alone, never a
// worker, so to measure a slow phone the worker slows itself by the same factor, as Chromium
// does to the main thread: after each piece of its own work it spins for (slow - 1) times as
// long.

importScripts(
  "/static/vendor/libsodium.js",
  "/static/vendor/libsodium-wrappers.js",
  "/static/blob-id.js",
  "/static/upload-parts.js",
);

const ALIVE_MS = 1000;

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

// Where a job's sealed bytes go, as the page asked (upload-parts.js).
function sinkFor(m) {
  const mine = m.job;
  return self.RedressParts.sinkFor(m.sink, m.upload, (size) => {
    if (job !== null && job.id === mine) self.postMessage({ job: mine, sent: size });
  });
}

// While the network holds this job up, say so every second: the page gives up on a worker
// that says nothing for 10 s, and a part on a slow link can take longer than that.
async function waiting(mine, promise) {
  const alive = setInterval(() => {
    if (mine === job) self.postMessage({ job: mine.id, alive: true });
  }, ALIVE_MS);
  try {
    return await promise;
  } finally {
    clearInterval(alive);
  }
}

// One message of the job `mine`, after the ones before it. Nothing is posted for a job that
// was stopped or replaced meanwhile.
async function take(mine, m) {
  let started = performance.now();
  if (m.op === "chunks") {
    for (const bytes of m.list) {
      let chunk = true;
      if (!mine.headed) {
        mine.hasher.header(bytes);
        mine.headed = true;
        chunk = false;
      } else {
        const wait = mine.hasher.chunk(bytes); // the digests in order: wait before the next
        if (wait) {
          const paused = performance.now();
          await wait;
          started += performance.now() - paused; // the worker's own work only
        }
      }
      const full = mine.sink.add(bytes, chunk);
      if (full) {
        const paused = performance.now();
        await waiting(mine, full);
        started += performance.now() - paused;
      }
    }
    mine.taken += m.list.length;
    if (mine.slow > 1) slowDown(mine, started);
    if (mine !== job) return;
    self.postMessage({ job: job.id, taken: job.taken });
  } else if (m.op === "end") {
    const blob = await mine.hasher.hex();
    const { size, server, body } = await waiting(mine, mine.sink.finish());
    if (mine !== job) return;
    self.postMessage({ job: job.id, taken: job.taken, size, blob, server, body });
    job = null;
  }
}

self.onmessage = (event) => {
  const m = event.data;
  if (sodium === null) return;
  if (m.op === "start") {
    job = { id: m.job, taken: 0, headed: false, done: Promise.resolve() };
    job.hasher = new self.RedressBlobId.BlobHasher(sodium, { subtle: m.subtle !== false });
    job.slow = Number(m.slow) > 1 ? Number(m.slow) : 1;
    job.work = 0;
    job.spun = 0;
    try {
      job.sink = sinkFor(m);
    } catch {
      self.postMessage({ job: m.job, failed: "refused" });
      job = null;
    }
    return;
  }
  if (job === null || m.job !== job.id) return;
  if (m.op === "stop") {
    job = null;
    return;
  }
  // One message at a time, in order. An upload that failed is told to the page; any other
  // failure is thrown again outside the promise, so that the page gets the worker's error
  // event, as for any other error here.
  const mine = job;
  mine.done = mine.done
    .then(() => (mine === job ? take(mine, m) : null))
    .catch((error) => {
      if (mine !== job) return;
      job = null;
      if (error instanceof self.RedressParts.UploadFailed) {
        self.postMessage({ job: mine.id, failed: error.kind });
        return;
      }
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
