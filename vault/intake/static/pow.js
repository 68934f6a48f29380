// Proof of work (docs/intake.md section 2): find an 8-byte counter n such that
// SHA-256("redress pow v1" || 0x00 || challenge || n) starts with `bits` zero bits.
// It runs in short slices so the page stays responsive and can show progress.

import { compress, initialState, loadBlock, schedule } from "./sha256.js";

const PREFIX = new TextEncoder().encode("redress pow v1\u0000");
const SLICE = 16384; // hashes between pauses

export function base64urlDecode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function leadingZeroBits(h, bits) {
  let left = bits;
  for (let i = 0; left > 0; i++) {
    const word = h[i] >>> 0;
    if (left >= 32) {
      if (word !== 0) return false;
      left -= 32;
    } else {
      return word >>> (32 - left) === 0;
    }
  }
  return true;
}

// Hash every counter from `start` for `count` tries; return the first that works, or -1.
// The message is short and fixed in length, so both padded blocks are built once and only
// the counter bytes change.
export function search(challenge, bits, start, count) {
  const message = new Uint8Array(PREFIX.length + challenge.length + 8);
  message.set(PREFIX, 0);
  message.set(challenge, PREFIX.length);
  const counterAt = PREFIX.length + challenge.length;
  const blocks = Math.ceil((message.length + 9) / 64);
  const padded = new Uint8Array(blocks * 64);
  padded.set(message);
  padded[message.length] = 0x80;
  const bitLength = message.length * 8;
  padded[padded.length - 4] = bitLength >>> 24;
  padded[padded.length - 3] = bitLength >>> 16;
  padded[padded.length - 2] = bitLength >>> 8;
  padded[padded.length - 1] = bitLength;
  // Blocks that never contain the counter have a fixed message schedule.
  const firstVarying = Math.floor(counterAt / 64);
  const lastVarying = Math.floor((counterAt + 7) / 64);
  const fixed = [];
  for (let b = 0; b < blocks; b++) {
    const w = new Int32Array(64);
    loadBlock(w, padded, b * 64);
    schedule(w);
    fixed.push(w);
  }
  const prefixState = initialState();
  for (let b = 0; b < firstVarying; b++) compress(prefixState, fixed[b]);
  // Only the words holding the counter's low four bytes change from try to try.
  const lowAt = counterAt + 4;
  const words = [];
  for (let word = Math.floor(lowAt / 4); word <= Math.floor((lowAt + 3) / 4); word++) words.push(word);
  const h = new Int32Array(8);
  const w = new Int32Array(64);
  for (let n = start; n < start + count; n++) {
    padded[lowAt] = n >>> 24;
    padded[lowAt + 1] = n >>> 16;
    padded[lowAt + 2] = n >>> 8;
    padded[lowAt + 3] = n;
    h.set(prefixState);
    for (let b = firstVarying; b <= lastVarying; b++) {
      w.set(fixed[b].subarray(0, 16));
      for (const word of words) {
        if (Math.floor(word / 16) !== b) continue;
        const j = word * 4;
        w[word % 16] = (padded[j] << 24) | (padded[j + 1] << 16) | (padded[j + 2] << 8) | padded[j + 3];
      }
      schedule(w);
      compress(h, w);
    }
    for (let b = lastVarying + 1; b < blocks; b++) compress(h, fixed[b]);
    if (leadingZeroBits(h, bits)) return n;
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
