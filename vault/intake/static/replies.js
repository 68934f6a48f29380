// "Read replies": turn the codename into the reply key pair and mailbox id on this device,
// fetch the sealed replies, and open them here. The codename is never sent anywhere.

import { loadWordlist, mailboxId, parseCodename, replyKeyPair } from "./codename.js";
import { unpad } from "./seal.js";
import { summaryBox } from "./summary.js";

const STATUS_WORDS = {
  new: "We have your report. A caseworker will read it soon.",
  triage: "A caseworker is reading your report.",
  supporting: "We are supporting you.",
  referred: "We have passed your report to another service, to help you.",
  closed: "We have finished working on your report.",
};

const form = document.getElementById("replies-form");
const input = document.getElementById("codename");
const status = document.getElementById("replies-status");
const result = document.getElementById("replies-result");
const list = document.getElementById("reply-list");
const none = document.getElementById("no-replies");
const caseStatus = document.getElementById("case-status");
const caseStatusText = document.getElementById("case-status-text");
const errorArea = document.getElementById("replies-errors");
const baseTitle = document.title.replace(/^Error: /, "");
let busy = false;

function clearError() {
  errorArea.textContent = "";
  const group = input.closest(".form-group");
  group.classList.remove("form-group--error");
  group.querySelector(".error-message")?.remove();
  input.removeAttribute("aria-invalid");
  input.classList.remove("input--error");
  input.setAttribute("aria-describedby", "codename-hint");
  document.title = baseTitle;
}

function showError(message, onField = true) {
  clearError();
  const box = summaryBox();
  if (onField) {
    const listEl = document.createElement("ul");
    listEl.className = "error-summary__list";
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "#codename";
    link.textContent = message;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      input.closest(".form-group").querySelector("label").scrollIntoView({ block: "start" });
      input.focus({ preventScroll: true });
    });
    item.append(link);
    listEl.append(item);
    box.append(listEl);
    const group = input.closest(".form-group");
    group.classList.add("form-group--error");
    const error = document.createElement("p");
    error.className = "error-message";
    error.id = "codename-error";
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = "Error:";
    error.append(hidden, ` ${message}`);
    group.querySelector(".hint").after(error);
    input.setAttribute("aria-describedby", "codename-hint codename-error");
    input.setAttribute("aria-invalid", "true");
    input.classList.add("input--error");
  } else {
    const paragraph = document.createElement("p");
    paragraph.className = "error-summary__body";
    paragraph.textContent = message;
    box.append(paragraph);
  }
  errorArea.append(box);
  document.title = `Error: ${baseTitle}`;
  box.focus();
}

function problemText(parsed) {
  switch (parsed.problem) {
    case "empty":
      return "Enter your codename";
    case "count":
      return `Your codename has 9 words. We found ${parsed.count}. Check you have typed them all, with a space between each.`;
    case "word":
      return `We do not recognise the word ‘${parsed.word}’. Check it against the codename you wrote down.`;
    default:
      return "Those words are not a codename we gave out. Check each word against the codename you wrote down.";
  }
}

function formatDate(text) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
  if (!match) return "";
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
}

function openReply(sodium, pair, encoded) {
  try {
    const sealed = sodium.from_base64(encoded, sodium.base64_variants.ORIGINAL);
    const padded = sodium.crypto_box_seal_open(sealed, pair.publicKey, pair.privateKey);
    const reply = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(unpad(padded)));
    if (reply.v !== 1 || typeof reply.text !== "string") return null;
    return reply;
  } catch {
    return null;
  }
}

function show(replies) {
  list.textContent = "";
  caseStatus.hidden = true;
  caseStatusText.textContent = "";
  let latest = null;
  for (const reply of replies) {
    const item = document.createElement("li");
    item.className = "reply";
    const heading = document.createElement("h3");
    heading.className = "heading-s reply__date";
    const when = formatDate(reply.date);
    heading.textContent = when ? `Reply from a caseworker, ${when}` : "Reply from a caseworker";
    const text = document.createElement("p");
    text.className = "reply__text";
    text.textContent = reply.text;
    item.append(heading, text);
    list.append(item);
    if (typeof reply.status === "string" && STATUS_WORDS[reply.status]) latest = reply.status;
  }
  if (latest) {
    caseStatusText.textContent = STATUS_WORDS[latest];
    caseStatus.hidden = false;
  }
  none.hidden = replies.length > 0;
  result.hidden = false;
  document.getElementById("replies-title").focus();
}

async function read(event) {
  event.preventDefault();
  if (busy) return;
  busy = true;
  clearError();
  result.hidden = true;
  try {
    let words;
    try {
      words = await loadWordlist();
    } catch {
      showError("We could not load this page properly. Reload it and try again.", false);
      return;
    }
    const parsed = parseCodename(input.value, words);
    if (parsed.problem) {
      showError(problemText(parsed));
      return;
    }
    status.textContent = "Looking for replies…";
    let sodium;
    try {
      sodium = await window.sodium.ready.then(() => window.sodium);
    } catch {
      showError("We could not load this page properly. Reload it and try again.", false);
      return;
    }
    const pair = replyKeyPair(sodium, parsed.entropy);
    parsed.entropy.fill(0);
    let answer;
    try {
      const response = await fetch(`/api/mailbox/${mailboxId(pair.publicKey)}`, {
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
      if (!response.ok) throw new Error(String(response.status));
      answer = await response.json();
    } catch {
      showError("We could not reach our website. Check your internet connection and try again.", false);
      return;
    }
    const replies = (Array.isArray(answer.replies) ? answer.replies : [])
      .map((encoded) => openReply(sodium, pair, encoded))
      .filter(Boolean)
      .sort((a, b) => String(a.date).localeCompare(String(b.date)));
    sodium.memzero(pair.privateKey);
    show(replies);
  } finally {
    status.textContent = "";
    busy = false;
  }
}

form.hidden = false;
form.addEventListener("submit", read);
window.addEventListener("pagehide", () => {
  list.textContent = "";
  result.hidden = true;
});
