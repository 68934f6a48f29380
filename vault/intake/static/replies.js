// "Read replies": turn the codename into the reply key pair and mailbox id on this device,
// fetch the sealed replies, and open them here. The codename is never sent anywhere.
// The reporter can then answer, or ask for their report to be withdrawn: the message is
// sealed to the team key and signed with the codename's signing key here, then sent.

import { longDate, number, t } from "./i18n.js";
import { loadWordlists, mailboxId, parseCodename, replyKeyPair, signingKeyPair } from "./codename.js";
import { postWithProof } from "./pow.js";
import { cryptoReady, settled } from "./ready.js";
import { codePoints, sealMessage, teamKeyId, trimText, unpad } from "./seal.js";
import { toHex } from "./sha256.js";
import { summaryBox } from "./summary.js";

const MAX_ANSWER = 20000;

const STATUS_WORDS = {
  new: t("We have your report. A caseworker will read it soon."),
  triage: t("A caseworker is reading your report."),
  supporting: t("We are supporting you."),
  referred: t("We have passed your report to another service, to help you."),
  closed: t("We have finished working on your report."),
  erased: t("Your report has been erased from our records."),
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
const cannotAnswer = document.getElementById("cannot-answer");
const answerForm = document.getElementById("answer-form");
const answerInput = document.getElementById("answer");
const withdraw = document.getElementById("withdraw");
const withdrawButton = document.getElementById("withdraw-button");
const withdrawConfirm = document.getElementById("withdraw-confirm");
const messageStatus = document.getElementById("message-status");
const baseTitle = document.title.replace(`${t("Error:")} `, "");
let busy = false;
let repliesRead = 0; // how many replies the reporter has read on this page
let session = null; // {sodium, signing}: the codename's signing key, while the page is open

function forget() {
  if (session) session.sodium.memzero(session.signing.privateKey);
  session = null;
}

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
    hidden.textContent = t("Error:");
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
  document.title = t("Error: {title}", { title: baseTitle });
  box.focus();
}

function problemText(parsed) {
  switch (parsed.problem) {
    case "empty":
      return t("Enter your codename");
    case "count":
      return t("Your codename has 9 words. We found {count}. Check you have typed them all, with a space between each.", { count: number(parsed.count) });
    case "word":
      return t("We do not recognise the word ‘{word}’. Check it against the codename you wrote down.", { word: parsed.word });
    default:
      return t("Those words are not a codename we gave out. Check each word against the codename you wrote down.");
  }
}

function formatDate(text) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
  if (!match) return "";
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return longDate(date);
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
  repliesRead = replies.length;
  list.textContent = "";
  messageStatus.textContent = "";
  caseStatus.hidden = true;
  caseStatusText.textContent = "";
  let latest = null;
  for (const reply of replies) {
    const item = document.createElement("li");
    item.className = "reply";
    const heading = document.createElement("h3");
    heading.className = "heading-s reply__date";
    const when = formatDate(reply.date);
    heading.textContent = when ? t("Reply from a caseworker, {date}", { date: when }) : t("Reply from a caseworker");
    const text = document.createElement("p");
    text.className = "reply__text";
    text.textContent = reply.text;
    item.append(heading, text);
    list.append(item);
    if (typeof reply.status === "string" && STATUS_WORDS[reply.status]) latest = reply.status;
  }
  const erased = replies.some((reply) => reply.status === "erased");
  if (erased) latest = "erased";
  if (latest) {
    caseStatusText.textContent = STATUS_WORDS[latest];
    caseStatus.hidden = false;
  }
  none.hidden = replies.length > 0;
  // Answering needs a reply to answer, from a report that carried the codename's signing
  // key (the vault says so in its replies); asking to withdraw needs only the key, so it is
  // offered before any reply too. Nothing is offered once the report is erased.
  const canAnswer = replies.some((reply) => reply.can_answer === true);
  answerForm.hidden = erased || !canAnswer;
  withdraw.hidden = erased || !(canAnswer || replies.length === 0);
  withdrawConfirm.hidden = true;
  withdrawButton.hidden = false;
  withdrawButton.setAttribute("aria-expanded", "false");
  cannotAnswer.hidden = erased || canAnswer || replies.length === 0;
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
      words = await loadWordlists();
    } catch {
      showError(t("We could not load this page properly. Reload it and try again."), false);
      return;
    }
    const parsed = parseCodename(input.value, words, form.dataset.codenameList);
    if (parsed.problem) {
      showError(problemText(parsed));
      return;
    }
    status.textContent = t("Looking for replies…");
    let sodium;
    try {
      sodium = await window.sodium.ready.then(() => window.sodium);
    } catch {
      showError(t("We could not load this page properly. Reload it and try again."), false);
      return;
    }
    const pair = replyKeyPair(sodium, parsed.entropy);
    forget();
    session = { sodium, signing: signingKeyPair(sodium, parsed.entropy) };
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
      showError(t("We could not reach our website. Check your internet connection and try again."), false);
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

function teamKey(sodium) {
  const publicKey = sodium.from_base64(form.dataset.publicKey, sodium.base64_variants.ORIGINAL);
  const epoch = Number(form.dataset.epoch);
  if (publicKey.length !== 32 || !Number.isInteger(epoch) || epoch < 1) return null;
  if (toHex(teamKeyId(publicKey)) !== form.dataset.keyId) return null;
  return { publicKey, epoch };
}

function messageError(text) {
  const box = summaryBox();
  const paragraph = document.createElement("p");
  paragraph.className = "error-summary__body";
  paragraph.textContent = text;
  box.append(paragraph);
  errorArea.textContent = "";
  errorArea.append(box);
  document.title = t("Error: {title}", { title: baseTitle });
  box.focus();
}

const SEND_PROBLEMS = {
  network: t("We could not reach our website. Check your internet connection and try again."),
  busy: t("Many people are writing to us just now. Please wait a minute and try again."),
  full: t("We cannot take messages just now. Please try again later: what you typed is still here."),
  refused: t("We could not send that. Read your replies again with your codename, then try again."),
  key: t("We could not load this page properly. Reload it and try again."),
};

// The day the message is sent, in UTC (YYYY-MM-DD), never the time; with how many replies the
// reporter had read (repliesRead), it orders the messages one pull takes in.
function sentToday() {
  return new Date().toISOString().slice(0, 10);
}

// Seal, sign and send one message; returns a problem (a key of SEND_PROBLEMS) or null.
async function sendMessage(message) {
  if (!session) return "refused";
  const { sodium, signing } = session;
  const key = teamKey(sodium);
  if (!key) return "key";
  let body;
  try {
    body = sealMessage(sodium, message, key.epoch, key.publicKey, signing);
  } catch {
    return "refused";
  }
  const { response, problem } = await postWithProof("/api/messages", body);
  if (problem) return problem;
  if (response.ok) return null;
  return response.status === 503 ? "full" : "refused";
}

async function answer(event) {
  event.preventDefault();
  if (busy) return;
  errorArea.textContent = "";
  document.title = baseTitle;
  const text = trimText(answerInput.value);
  if (!text) {
    messageError(t("Write your answer before you send it."));
    return;
  }
  if (codePoints(text) > MAX_ANSWER) {
    messageError(t("Your answer is too long. It can be up to {limit} characters.", { limit: number(MAX_ANSWER) }));
    return;
  }
  busy = true;
  messageStatus.textContent = t("Sending your answer…");
  try {
    const problem = await sendMessage({ v: 1, kind: "answer", sent: sentToday(), after: repliesRead, text });
    if (problem) {
      messageStatus.textContent = "";
      messageError(SEND_PROBLEMS[problem]);
      return;
    }
    answerInput.value = "";
    messageStatus.textContent = t("Your answer was sent. Only our caseworkers can read it.");
  } finally {
    busy = false;
  }
}

async function askToWithdraw() {
  if (busy) return;
  busy = true;
  errorArea.textContent = "";
  document.title = baseTitle;
  messageStatus.textContent = t("Sending your request…");
  try {
    const problem = await sendMessage({ v: 1, kind: "withdrawal", sent: sentToday(), after: repliesRead });
    if (problem) {
      messageStatus.textContent = "";
      messageError(SEND_PROBLEMS[problem]);
      return;
    }
    withdrawConfirm.hidden = true;
    withdrawButton.hidden = true;
    messageStatus.textContent =
      t("We have your request to withdraw and erase your report. When it is erased, this page will say so.");
  } finally {
    busy = false;
  }
}

// Offer the in-browser form only once libsodium is known to work here; otherwise the route
// through our server stays, saying why.
cryptoReady().then((sodium) => {
  if (sodium) {
    document.getElementById("server-route").hidden = true;
    form.hidden = false;
  } else {
    document.getElementById("server-route-why").hidden = false;
  }
  settled();
});
form.addEventListener("submit", read);
answerForm.addEventListener("submit", answer);
withdrawButton.addEventListener("click", () => {
  withdrawConfirm.hidden = false;
  withdrawButton.setAttribute("aria-expanded", "true");
  document.getElementById("withdraw-yes").focus();
});
document.getElementById("withdraw-no").addEventListener("click", () => {
  withdrawConfirm.hidden = true;
  withdrawButton.setAttribute("aria-expanded", "false");
  withdrawButton.focus();
});
document.getElementById("withdraw-yes").addEventListener("click", askToWithdraw);
window.addEventListener("pagehide", () => {
  list.textContent = "";
  answerInput.value = "";
  result.hidden = true;
  forget();
});
