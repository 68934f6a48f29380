// Codenames (docs/intake.md section 7): 9 BIP39 English words carrying 96 random bits and
// a 3-bit checksum. From them come the reply key pair, the signing key pair and the mailbox id. The codename
// never leaves the browser.

import { sha256, taggedHash, toHex } from "./sha256.js";

const ENTROPY_BYTES = 12;
const WORDS = 9;
const encoder = new TextEncoder();
let wordlist = null;

export async function loadWordlist() {
  if (wordlist) return wordlist;
  const response = await fetch("/static/wordlist/english.txt", { credentials: "omit" });
  if (!response.ok) throw new Error("wordlist");
  const words = (await response.text()).split(/\s+/).filter(Boolean);
  if (words.length !== 2048) throw new Error("wordlist");
  wordlist = words;
  return words;
}

function checksumBits(entropy) {
  return sha256(entropy)[0] >>> 5; // the first 3 bits
}

// 96 bits of entropy then 3 bits of checksum, read 11 bits at a time.
export function entropyToWords(entropy, words) {
  let bits = "";
  for (const b of entropy) bits += b.toString(2).padStart(8, "0");
  bits += checksumBits(entropy).toString(2).padStart(3, "0");
  const out = [];
  for (let i = 0; i < WORDS; i++) out.push(words[parseInt(bits.slice(11 * i, 11 * i + 11), 2)]);
  return out;
}

export function newCodename(words) {
  const entropy = crypto.getRandomValues(new Uint8Array(ENTROPY_BYTES));
  return { entropy, words: entropyToWords(entropy, words) };
}

// Read what someone typed: case, spaces, commas, full stops and hyphens do not matter, and
// the first four letters of a word are enough. Returns {entropy} or {problem: "..."}.
export function parseCodename(text, words) {
  const typed = text.toLowerCase().replace(/[,.;:\-–—_/]+/g, " ").split(/\s+/).filter(Boolean);
  if (typed.length === 0) return { problem: "empty" };
  if (typed.length !== WORDS) return { problem: "count", count: typed.length };
  const byPrefix = new Map();
  words.forEach((word, i) => byPrefix.set(word.slice(0, 4), i));
  const indexes = [];
  for (const word of typed) {
    const i = word.length >= 4 ? byPrefix.get(word.slice(0, 4)) : words.indexOf(word);
    if (i === undefined || i < 0) return { problem: "word", word };
    indexes.push(i);
  }
  let bits = "";
  for (const i of indexes) bits += i.toString(2).padStart(11, "0");
  const entropy = new Uint8Array(ENTROPY_BYTES);
  for (let i = 0; i < ENTROPY_BYTES; i++) entropy[i] = parseInt(bits.slice(8 * i, 8 * i + 8), 2);
  if (parseInt(bits.slice(96), 2) !== checksumBits(entropy)) return { problem: "checksum" };
  return { entropy };
}

// seed = BLAKE2b-256("redress codename reply key v1" || 0x00 || E); crypto_box_seed_keypair.
export function replyKeyPair(sodium, entropy) {
  const purpose = encoder.encode("redress codename reply key v1\u0000");
  const input = new Uint8Array(purpose.length + entropy.length);
  input.set(purpose, 0);
  input.set(entropy, purpose.length);
  const seed = sodium.crypto_generichash(32, input, null);
  const pair = sodium.crypto_box_seed_keypair(seed);
  sodium.memzero(seed);
  return pair;
}

// seed = BLAKE2b-256("redress codename signing key v1" || 0x00 || E); crypto_sign_seed_keypair.
// The report carries the public half; the reporter's answers and withdrawal are signed with it.
export function signingKeyPair(sodium, entropy) {
  const purpose = encoder.encode("redress codename signing key v1\u0000");
  const input = new Uint8Array(purpose.length + entropy.length);
  input.set(purpose, 0);
  input.set(entropy, purpose.length);
  const seed = sodium.crypto_generichash(32, input, null);
  const pair = sodium.crypto_sign_seed_keypair(seed);
  sodium.memzero(seed);
  return pair;
}

export function mailboxId(replyPublicKey) {
  return toHex(taggedHash("redress mailbox id v1", replyPublicKey).subarray(0, 16));
}
