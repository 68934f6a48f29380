// Can this browser lock and unlock on this device? That needs WebAssembly (turned off, for
// example, by Tor Browser's "Safer" setting) and libsodium loaded. The pages ask on load,
// before the reporter types, and offer only what will work.

const WAIT_MS = 20000;

export async function cryptoReady() {
  if (typeof WebAssembly !== "object" || !window.sodium || !window.sodium.ready) return null;
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(false), WAIT_MS);
  });
  try {
    const ready = await Promise.race([window.sodium.ready.then(() => true, () => false), late]);
    const sodium = window.sodium;
    if (!ready || typeof sodium.crypto_hash_sha256 !== "function") return null;
    if (typeof sodium.crypto_secretstream_xchacha20poly1305_push !== "function") return null;
    return sodium;
  } finally {
    clearTimeout(timer);
  }
}

// The check has decided (and the page has offered what works): let early.js's hold go.
export function settled() {
  document.documentElement.classList.remove("js-pending");
  const line = document.getElementById("getting-ready");
  if (line) line.hidden = true;
}
