// Proof of work (docs/intake.md section 2): find an 8-byte counter n such that
// SHA-256("redress pow v1" || 0x00 || challenge || n) starts with `bits` zero bits.
// It runs in short slices so the page stays responsive and can show progress.

import { sha256 } from "./sha256.js";

const PREFIX = new TextEncoder().encode("redress pow v1\u0000");
const SLICE = 16384; // hashes between pauses

export function base64urlDecode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function leadingZeroBits(hash, bits) {
  let left = bits;
  for (let i = 0; left > 0; i++) {
    if (left >= 8) {
      if (hash[i] !== 0) return false;
      left -= 8;
    } else {
      return hash[i] >>> (8 - left) === 0;
    }
  }
  return true;
}

// Hash every counter from `start` for `count` tries; return the first that works, or -1.
// The message is built once; only the counter's low four bytes change from try to try
// (a search never runs past 2^32 tries). Each try is one libsodium SHA-256 call.
export function search(challenge, bits, start, count) {
  const message = new Uint8Array(PREFIX.length + challenge.length + 8);
  message.set(PREFIX, 0);
  message.set(challenge, PREFIX.length);
  const lowAt = message.length - 4;
  for (let n = start; n < start + count; n++) {
    message[lowAt] = n >>> 24;
    message[lowAt + 1] = n >>> 16;
    message[lowAt + 2] = n >>> 8;
    message[lowAt + 3] = n;
    if (leadingZeroBits(sha256(message), bits)) return n;
  }
  return -1;
}

function pause() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

// Fetch a challenge and solve it. `onProgress(fraction)` gets a rough 0..1 estimate.
export async function proofOfWork(onProgress) {
  const response = await fetch("/api/challenge", {
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  if (!response.ok) throw new Error("challenge");
  const { challenge, bits } = await response.json();
  if (typeof challenge !== "string" || !Number.isInteger(bits) || bits < 0 || bits > 40) {
    throw new Error("challenge");
  }
  const raw = base64urlDecode(challenge);
  const expected = 2 ** bits;
  for (let start = 0; start < 0xffffffff; start += SLICE) {
    const n = search(raw, bits, start, Math.min(SLICE, 0xffffffff - start));
    if (n >= 0) {
      if (onProgress) onProgress(1);
      return `${challenge}.${n.toString(16).padStart(16, "0")}`;
    }
    if (onProgress) onProgress(1 - Math.exp(-(start + SLICE) / expected));
    await pause();
  }
  throw new Error("challenge");
}

const TRIES = 3;

// POST `body` (or nothing) to `path` with a fresh proof of work, as every reporter's post is
// made: told to wait (`again(response)`, by default a 429), it waits as told (at most 10 s) and
// tries again, three times in all. Returns {response} (the answer it stopped at), or
// {problem: "network"} (no answer, or no challenge) or {problem: "busy"} (told to wait each
// time). `onWork(fraction)` reports the proof's progress.
export async function postWithProof(path, body, { onWork, again = (r) => r.status === 429 } = {}) {
  for (let attempt = 0; attempt < TRIES; attempt++) {
    let response;
    try {
      const pow = await proofOfWork(onWork);
      const headers = { "X-Redress-PoW": pow };
      if (body) headers["Content-Type"] = "application/octet-stream";
      response = await fetch(path, {
        method: "POST",
        body,
        headers,
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
    } catch {
      return { problem: "network" };
    }
    if (!(await again(response))) return { response };
    const wait = Math.min(Number(response.headers.get("Retry-After")) || 2, 10);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
  return { problem: "busy" };
}
