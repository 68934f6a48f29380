// The page's sentences in its language. The server embeds the scripts' messages, translated
// from the same catalogs as the page (vault/intake/languages.py), as JSON in
// <script id="messages">; a message's English text is its id. Placeholders are {name}.

const table = (() => {
  try {
    return JSON.parse(document.getElementById("messages")?.textContent || "{}");
  } catch {
    return {};
  }
})();

// The language the page is shown in, as <html lang> says (for numbers and dates too).
export const lang = document.documentElement.lang || "en";
// Dates and numbers: English as written in the UK, where the charity is.
const numbers = lang === "en" ? "en-GB" : lang;

export function t(message, params = {}) {
  const text = typeof table[message] === "string" && table[message] ? table[message] : message;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

// A number as the page's language writes it.
export function number(n) {
  try {
    return n.toLocaleString(numbers);
  } catch {
    return String(n);
  }
}

// A date (a Date at UTC midnight) as the page's language writes it: "1 May 2025".
export function longDate(date) {
  return date.toLocaleDateString(numbers, { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
}
