// Uploading a sealed file in parts while it is sealed (docs/intake.md section 4, "Uploading in
// parts"), so the browser never holds the sealed file whole. The page opens the upload (a proof
// of work: seal.js) and is given a token; then the sealed bytes are gathered into parts of at
// most PART_BYTES (the header and 128 sealed chunks: 8 MiB of the file and its tags) and each is
// PUT at its offset as soon as it is full, at most one part in flight, then the upload is
// ended and the intake answers with the blob id.
// Used by the page (seal.js imports this file) and by the seal worker (seal-worker.js,
// importScripts), so it is a classic script that sets `self.RedressParts`.
(function (scope) {
  const PART_CHUNKS = 128; // sealed chunks in a part
  const PART_BYTES = 24 + PART_CHUNKS * (65536 + 17); // 8,390,808: the intake's cap for a part
  const TRIES = 5; // a part (or the end) is sent at most this many times
  const PAUSE_MS = 500; // before a retry, doubled each time: 0.5, 1, 2, 4 s
  const MIN_RATE = 16 * 1024; // bytes a second: the slowest body the intake waits for

  // A failed upload, by kind: "network", "too-big", "refused" (the form's words for them).
  class UploadFailed extends Error {
    constructor(kind) {
      super(kind);
      this.kind = kind;
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function send(method, path, body) {
    const controller = new AbortController();
    // Past the intake's own deadline for this body (30 s plus its length at 16 KiB/s), with a
    // margin: a connection that died without a word is given up.
    const limit = 60000 + (body ? (body.size / MIN_RATE) * 1000 : 0);
    const timer = setTimeout(() => controller.abort(), limit);
    try {
      const response = await fetch(path, {
        method,
        body,
        headers: body ? { "Content-Type": "application/octet-stream" } : {},
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
        signal: controller.signal,
      });
      const answer = await response.json().catch(() => ({}));
      return { status: response.status, answer, wait: Number(response.headers.get("Retry-After")) || 0 };
    } catch {
      return null; // the network: no answer
    } finally {
      clearTimeout(timer);
    }
  }

  // A refusal that sending again cannot mend.
  function final(got) {
    if (got.status === 413) return new UploadFailed("too-big");
    if (got.status !== 408 && got.status !== 429 && got.status < 500) return new UploadFailed("refused");
    return null;
  }

  // One open upload: put(part) for each part in order, then end(). `size` is what the intake
  // holds.
  class PartsUpload {
    constructor(token) {
      if (!/^[0-9a-f]{32}$/.test(String(token))) throw new UploadFailed("refused");
      this.path = `/api/attachments/parts/${token}`;
      this.size = 0;
    }

    // The next part. A part cut off (no answer, 408, 5xx) is sent again from where the intake
    // says it got to: its 409 answer gives the size it holds.
    async put(part) {
      const start = this.size;
      const end = start + part.length;
      let got = null;
      for (let tries = 1; ; tries++) {
        // As a Blob: the browser keeps its bytes out of this thread's heap while it is sent
        // (measured: faster, and less memory, than sending the array itself).
        got = await send("PUT", `${this.path}/${this.size}`, new Blob([part.subarray(this.size - start)]));
        if (got && got.status === 200 && got.answer.size === end) {
          this.size = end;
          return;
        }
        if (got && got.status === 409 && got.answer.error === "offset") {
          const held = got.answer.size;
          if (!Number.isInteger(held) || held < start || held > end) throw new UploadFailed("refused");
          this.size = held; // the answer to an earlier try was lost, or that try is still arriving
          if (held === end) return;
        } else if (got && (got.status === 200 || final(got))) {
          throw got.status === 200 ? new UploadFailed("refused") : final(got);
        }
        if (tries >= TRIES) throw new UploadFailed(got ? "refused" : "network");
        await sleep(Math.max(PAUSE_MS * 2 ** (tries - 1), Math.min(got ? got.wait : 0, 20) * 1000));
      }
    }

    // The blob id the intake names the upload by (64 hex digits).
    async end() {
      let got = null;
      for (let tries = 1; ; tries++) {
        got = await send("POST", `${this.path}/end`, null);
        if (got && got.status === 201) {
          if (typeof got.answer.blob !== "string") throw new UploadFailed("refused");
          return got.answer.blob;
        }
        if (got && final(got)) throw final(got);
        if (tries >= TRIES) throw new UploadFailed(got ? "refused" : "network");
        await sleep(PAUSE_MS * 2 ** (tries - 1));
      }
    }
  }

  // Gathers the sealed bytes into parts and uploads each as soon as it is full, at most one
  // in flight: two part buffers, one filling while the other is sent. `onSent(size)` after
  // each part the intake holds.
  class PartsSink {
    constructor(token, onSent) {
      this.upload = new PartsUpload(token);
      this.onSent = onSent;
      this.buffers = [new Uint8Array(PART_BYTES), new Uint8Array(PART_BYTES)];
      this.which = 0;
      this.fill = 0;
      this.chunks = 0;
      this.inflight = null;
    }

    // The header (chunk = false), then each sealed chunk. Returns null, or a promise to wait
    // for before the next (a full part waiting for the one before it to be taken).
    add(bytes, chunk) {
      this.buffers[this.which].set(bytes, this.fill);
      this.fill += bytes.length;
      if (chunk && ++this.chunks === PART_CHUNKS) return this.send();
      return null;
    }

    async send() {
      const part = this.buffers[this.which].subarray(0, this.fill);
      const before = this.inflight;
      this.which ^= 1;
      this.fill = 0;
      this.chunks = 0;
      this.inflight = null;
      if (before) await before; // the other buffer is free once its part is taken
      this.inflight = this.upload.put(part).then(() => this.onSent && this.onSent(this.upload.size));
      this.inflight.catch(() => {}); // seen when it is next waited for
    }

    // Send what is left, wait for every part; the intake's blob id.
    async finish() {
      if (this.fill > 0) await this.send();
      if (this.inflight) await this.inflight;
      this.buffers = null;
      return this.upload.end();
    }
  }

  const BATCH = 512; // sealed chunks (32 MiB) made into one Blob ("keep")

  // Where a file's sealed bytes go, by kind: "upload" (a PartsSink on the open upload `token`;
  // `onSent(size)` after each part the intake holds), "keep" (gathered into one Blob, returned as
  // `body`: for tests) or "drop" (kept nowhere: the benchmark's measure of sealing alone).
  // add(bytes, chunk) may return a promise to wait for; finish() -> {size, server, body}.
  function sinkFor(kind, token, onSent) {
    if (kind === "drop") {
      let size = 0;
      return {
        add(bytes) {
          size += bytes.length;
          return null;
        },
        finish: async () => ({ size, server: null, body: null }),
      };
    }
    if (kind === "keep") {
      // Each batch a Blob of its own, and the batches one Blob at the end (a Blob made again
      // from the growing one each time costs more with every batch).
      let kept = [];
      const batches = [];
      return {
        add(bytes) {
          kept.push(bytes);
          if (kept.length >= BATCH) {
            batches.push(new Blob(kept));
            kept = [];
          }
          return null;
        },
        async finish() {
          batches.push(new Blob(kept));
          const body = new Blob(batches, { type: "application/octet-stream" });
          return { size: body.size, server: null, body };
        },
      };
    }
    const parts = new PartsSink(token, onSent);
    return {
      add: (bytes, chunk) => parts.add(bytes, chunk),
      async finish() {
        const server = await parts.finish();
        return { size: parts.upload.size, server, body: null };
      },
    };
  }

  scope.RedressParts = { PART_BYTES, PART_CHUNKS, UploadFailed, PartsUpload, PartsSink, sinkFor };
})(self);
