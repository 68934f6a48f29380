// Codenames (docs/intake.md section 7): 9 words from one BIP39 list (English, or the
// reporter's language's: Spanish, Portuguese, Chinese Simplified) carrying 96 random bits and
// a 3-bit checksum. From them come the reply key pair, the signing key pair and the mailbox id. The codename
// never leaves the browser.

import { sha256, taggedHash, toHex } from "./sha256.js";

const ENTROPY_BYTES = 12;
const WORDS = 9;
const encoder = new TextEncoder();
// The BIP39 lists a codename may be written in (vault/intake/codename.py LISTS, same order).
// Whichever list it is written in, the same 99 bits are meant.
export const LISTS = ["english", "spanish", "portuguese", "chinese_simplified"];
const loaded = new Map();

// A list's 2048 words, as shown (NFC). `name` is one of LISTS.
export async function loadWordlist(name = "english") {
  if (loaded.has(name)) return loaded.get(name);
  if (!LISTS.includes(name)) throw new Error("wordlist");
  const response = await fetch(`/static/wordlist/${name}.txt`, { credentials: "omit" });
  if (!response.ok) throw new Error("wordlist");
  const words = (await response.text()).split(/\s+/).filter(Boolean).map((w) => w.normalize("NFC"));
  if (words.length !== 2048) throw new Error("wordlist");
  loaded.set(name, words);
  return words;
}

// Every list, for reading a codename typed in any of them: {name: words}.
export async function loadWordlists() {
  const all = {};
  for (const name of LISTS) all[name] = await loadWordlist(name);
  return all;
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

// A word compared: lower case, accents removed ("ábaco" is "abaco").
export function fold(word) {
  return word.toLowerCase().normalize("NFKD").replace(/\p{M}/gu, "");
}

const lookups = new Map();
function lookup(words) {
  if (!lookups.has(words)) {
    const whole = new Map();
    const byPrefix = new Map();
    words.forEach((word, i) => {
      const folded = fold(word);
      whole.set(folded, i);
      byPrefix.set(folded.slice(0, 4), i);
    });
    lookups.set(words, { whole, byPrefix });
  }
  return lookups.get(words);
}

// Read what someone typed: case, accents, spaces, commas, full stops and hyphens do not
// matter, the first four letters of a word are enough, and each Chinese character is a word.
// `lists` is {name: words} (or one list's words). All nine words come from one list: a list
// where every word is whole is tried first, then the others, `first` (the page's language's
// list) before the rest in LISTS order; the first whose checksum holds gives the entropy.
// Returns {entropy} or {problem: "...", ...}.
export function parseCodename(text, lists, first = "english") {
  const all = Array.isArray(lists) ? { english: lists } : lists;
  const typed = text
    .replace(/([\u3400-\u4dbf\u4e00-\u9fff])/gu, " $1 ")
    .replace(/[,.;:\-–—_/、。，；]+/g, " ")
    .split(/\s+/)
    .filter(Boolean)
    .map(fold);
  if (typed.length === 0) return { problem: "empty" };
  if (typed.length !== WORDS) return { problem: "count", count: typed.length };
  const candidates = [];
  let unknown = null;
  const order = [first, ...LISTS.filter((name) => name !== first)].filter((name) => LISTS.includes(name));
  for (const name of order) {
    if (!all[name]) continue;
    const { whole, byPrefix } = lookup(all[name]);
    const indexes = [];
    let exact = true;
    for (const word of typed) {
      let i = whole.get(word);
      if (i === undefined) {
        exact = false;
        i = word.length >= 4 ? byPrefix.get(word.slice(0, 4)) : undefined;
      }
      if (i === undefined) {
        if (unknown === null || name === order[0]) unknown = word;
        break;
      }
      indexes.push(i);
    }
    if (indexes.length === WORDS) candidates.push({ exact, indexes });
  }
  if (candidates.length === 0) return { problem: "word", word: unknown };
  candidates.sort((a, b) => Number(b.exact) - Number(a.exact)); // stable: `order` kept
  for (const { indexes } of candidates) {
    let bits = "";
    for (const i of indexes) bits += i.toString(2).padStart(11, "0");
    const entropy = new Uint8Array(ENTROPY_BYTES);
    for (let i = 0; i < ENTROPY_BYTES; i++) entropy[i] = parseInt(bits.slice(8 * i, 8 * i + 8), 2);
    if (parseInt(bits.slice(96), 2) === checksumBits(entropy)) return { entropy };
  }
  return { problem: "checksum" };
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
