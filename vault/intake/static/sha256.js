// SHA-256, from libsodium's own build with it (libsodium-wrappers-sumo): for the proof of
// work, the codename's checksum, the team key id and mailbox ids. Every caller runs after
// `window.sodium.ready` (the pages wait for it before they offer anything that needs it).

function sodium() {
  const lib = window.sodium;
  if (!lib || typeof lib.crypto_hash_sha256 !== "function") throw new Error("sodium");
  return lib;
}

export function sha256(...parts) {
  const lib = sodium();
  if (parts.length === 1) return lib.crypto_hash_sha256(parts[0]);
  const state = lib.crypto_hash_sha256_init();
  for (const part of parts) lib.crypto_hash_sha256_update(state, part);
  return lib.crypto_hash_sha256_final(state);
}

const encoder = new TextEncoder();

// SHA-256( ASCII(purpose) || 0x00 || data ): every hash names its purpose (docs/format.md).
export function taggedHash(purpose, data) {
  return sha256(encoder.encode(purpose), Uint8Array.of(0), data);
}

export function toHex(bytes) {
  let out = "";
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
}
