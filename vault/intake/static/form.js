// The report form with JavaScript: check answers with the report model's rules, seal the
// report (and any files) on this device, and send only sealed bytes. Without JavaScript
// the same form posts to /report and the server seals it (the page says what that weakens).

import { clearPage } from "./exit.js";
import { lang, number, t } from "./i18n.js";
import { loadWordlist, newCodename, replyKeyPair, signingKeyPair } from "./codename.js";
import { postWithProof } from "./pow.js";
import { cryptoReady, settled } from "./ready.js";
import { UploadFailed, buildReport, codePoints, sealFile, sealReport, startSealer, teamKeyId, trimText } from "./seal.js";
import { toHex } from "./sha256.js";
import { summaryBox } from "./summary.js";

const MIB = 1024 * 1024;
const SHORT = 200;
const LONG = 50000;
const MAX_ATTACHMENTS = 20; // the report model's limit
const TEXT_FIELDS = ["role", "what_happened", "when", "where", "organisation", "professional_identifier", "contact_value"];
const MORE_DETAIL = ["when", "where", "organisation", "professional_identifier"];
// The same sentences the server uses without JavaScript (vault/intake/nojs.py).
const MISSING = {
  sector: t("Choose who harmed you."),
  role: t("Tell us the professional's job, or tick ‘I do not know their job’."),
  harms: t("Choose at least one thing that happened."),
  what_happened: t("Tell us what happened, in your own words."),
  contact_method: t("Choose how you would like us to contact you."),
  contact_value: t("Add the details we should contact you on, or choose no contact."),
};
const tooLongMessage = (limit) => t("This is too long: please keep it to {limit} characters or fewer.", { limit: number(limit) });

const form = document.getElementById("report-form");
const formView = document.getElementById("form-view");
const sentView = document.getElementById("sent-view");
const sendButton = document.getElementById("send-button");
const status = document.getElementById("send-status");
const progressBox = document.getElementById("send-progress");
const progressBar = document.getElementById("send-bar");
const fileInput = document.getElementById("attachments");
const fileList = document.getElementById("file-list");
const codenameBox = document.getElementById("codename-box");
const codenameWords = document.getElementById("codename-words");
const wantCodename = document.getElementById("want-codename");

const maxFiles = Number(form.dataset.maxFiles) || 0;
const maxFileBytes = (Number(form.dataset.maxFileMib) || 0) * MIB;
const baseTitle = document.title.replace(`${t("Error:")} `, "");

let files = [];
const uploaded = new WeakMap(); // File -> its attachment entry, once uploaded
let codename = null; // {entropy, words}
let sending = false;
let serverSeals = false; // this browser cannot lock reports: the form posts to /report
const ALERT_WANT = "share-alert"; // the alert is asked once, under consent

// --- reading and checking the answers -------------------------------------------------------

function collect() {
  const data = new FormData(form);
  const fields = {
    sector: data.get("sector") || "",
    harms: data.getAll("harms"),
    wants: data.getAll("wants"),
    contact_method: data.get("contact_method") || "",
    consent_alert: data.get("consent_alert") === "yes",
    consent_research: data.get("consent_research") === "yes",
    language: lang, // the language the form was shown in (the report's fields stay English)
  };
  for (const name of TEXT_FIELDS) fields[name] = trimText(data.get(name) || "");
  // As the server does without JavaScript (vault/intake/nojs.py).
  if (!fields.role && data.get("role_unknown") === "yes") fields.role = form.dataset.roleNotKnown;
  if (fields.consent_alert && !fields.wants.includes(ALERT_WANT)) fields.wants.push(ALERT_WANT);
  return fields;
}

function optionValues(name) {
  return Array.from(form.querySelectorAll(`input[name="${name}"]`), (input) => input.value);
}

// The same rules as vault/report.py, in the order the questions appear.
function validate(fields) {
  const errors = [];
  const add = (field, message) => errors.push({ field, message });
  const tooLong = (name, limit) => codePoints(fields[name]) > limit;
  if (!optionValues("sector").includes(fields.sector)) add("sector", MISSING.sector);
  if (!fields.role) add("role", MISSING.role);
  else if (tooLong("role", SHORT)) add("role", tooLongMessage(SHORT));
  if (fields.harms.length === 0) add("harms", MISSING.harms);
  if (!fields.what_happened) add("what_happened", MISSING.what_happened);
  else if (tooLong("what_happened", LONG)) add("what_happened", tooLongMessage(LONG));
  for (const name of MORE_DETAIL) if (tooLong(name, SHORT)) add(name, tooLongMessage(SHORT));
  if (fields.contact_method && !fields.contact_value) {
    add("contact_value", MISSING.contact_value);
  } else if (!fields.contact_method && fields.contact_value) {
    add("contact_method", MISSING.contact_method);
  } else if (tooLong("contact_value", SHORT)) {
    add("contact_value", tooLongMessage(SHORT));
  }
  const fileProblem = checkFiles(files);
  if (fileProblem) add("attachments", fileProblem);
  return errors;
}

function checkFiles(list) {
  const limit = Math.min(maxFiles, MAX_ATTACHMENTS);
  if (list.length > limit) return t("You can add up to {limit} files. Remove {extra} of them.", { limit: number(limit), extra: number(list.length - limit) });
  const big = list.find((file) => file.size > maxFileBytes);
  if (big) return t("‘{name}’ is too big. Each file must be {size} MB or smaller.", { name: big.name, size: form.dataset.maxFileMib });
  return null;
}

// --- showing errors ---------------------------------------------------------------------------

function controlFor(name) {
  const group = form.querySelector(`[data-field="${name}"]`);
  if (!group) return null;
  return group.querySelector("fieldset") || group.querySelector(`#${name}`);
}

function describe(control, name, withError) {
  const ids = [];
  if (document.getElementById(`${name}-hint`)) ids.push(`${name}-hint`);
  if (withError) ids.push(`${name}-error`);
  if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
  else control.removeAttribute("aria-describedby");
}

function clearErrors() {
  document.getElementById("error-summary")?.remove();
  for (const message of form.querySelectorAll(".error-message")) message.remove();
  for (const group of form.querySelectorAll(".form-group--error")) {
    group.classList.remove("form-group--error");
    const name = group.dataset.field;
    const control = controlFor(name);
    if (control) describe(control, name, false);
  }
  for (const field of form.querySelectorAll("[aria-invalid]")) {
    field.removeAttribute("aria-invalid");
    field.classList.remove("input--error");
  }
  document.title = baseTitle;
}

function showErrors(errors) {
  clearErrors();
  const box = summaryBox();
  const list = document.createElement("ul");
  list.className = "error-summary__list";
  for (const { field, message } of errors) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `#${field}`;
    link.textContent = message;
    item.append(link);
    list.append(item);
    markField(field, message);
  }
  box.append(list);
  formView.prepend(box);
  if (errors.some(({ field }) => MORE_DETAIL.includes(field))) {
    document.getElementById("more-detail").open = true;
  }
  document.title = t("Error: {title}", { title: baseTitle });
  box.focus();
}

function markField(name, message) {
  const group = form.querySelector(`[data-field="${name}"]`);
  if (!group) return;
  group.classList.add("form-group--error");
  const error = document.createElement("p");
  error.className = "error-message";
  error.id = `${name}-error`;
  const hidden = document.createElement("span");
  hidden.className = "visually-hidden";
  hidden.textContent = t("Error:");
  error.append(hidden, ` ${message}`);
  const after = group.querySelector(".hint") || group.querySelector("legend, label");
  after.after(error);
  const control = controlFor(name);
  if (!control) return;
  describe(control, name, true);
  if (control.tagName !== "FIELDSET") {
    control.setAttribute("aria-invalid", "true");
    control.classList.add("input--error");
  }
}

// A problem that no field can fix (the network, the server): said in the summary box, with
// an optional button offering another way.
function showProblem(text, action) {
  clearErrors();
  const box = summaryBox();
  const paragraph = document.createElement("p");
  paragraph.className = "error-summary__body";
  paragraph.textContent = text;
  box.append(paragraph);
  if (action) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button button--secondary";
    button.textContent = action.label;
    button.addEventListener("click", action.run);
    box.append(button);
  }
  formView.prepend(box);
  document.title = t("Error: {title}", { title: baseTitle });
  box.focus();
}

// Summary links move focus to the field and show its question (no history entry).
document.addEventListener("click", (event) => {
  const link = event.target.closest(".error-summary a[href^='#']");
  if (!link) return;
  const target = document.getElementById(link.getAttribute("href").slice(1));
  if (!target) return;
  event.preventDefault();
  const details = target.closest("details");
  if (details) details.open = true;
  const group = target.closest(".form-group");
  const question = group?.querySelector("legend, label") || target;
  question.scrollIntoView({ block: "start" });
  target.focus({ preventScroll: true });
});

// --- files --------------------------------------------------------------------------------------

function formatSize(bytes) {
  if (bytes < 1024) return t("{size} bytes", { size: number(bytes) });
  if (bytes < MIB) return t("{size} KB", { size: number(Math.round(bytes / 1024)) });
  return t("{size} MB", { size: number(Math.round(bytes / MIB * 10) / 10) });
}

function renderFiles() {
  fileList.textContent = "";
  files.forEach((file, index) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "file-list__name";
    name.textContent = `${file.name} (${formatSize(file.size)})`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button button--secondary button--small";
    remove.textContent = t("Remove");
    remove.setAttribute("aria-label", t("Remove {name}", { name: file.name }));
    remove.addEventListener("click", () => {
      files.splice(index, 1);
      renderFiles();
      fileInput.focus();
    });
    item.append(name, remove);
    fileList.append(item);
  });
}

fileInput.addEventListener("change", () => {
  const added = Array.from(fileInput.files);
  fileInput.value = "";
  const problem = checkFiles(files.concat(added));
  const group = form.querySelector('[data-field="attachments"]');
  group.querySelector(".error-message")?.remove();
  group.classList.remove("form-group--error");
  describe(fileInput, "attachments", false);
  if (problem) {
    markField("attachments", problem);
    return;
  }
  files = files.concat(added);
  renderFiles();
});

// --- codename -------------------------------------------------------------------------------------

function showWords(list, words) {
  list.textContent = "";
  for (const word of words) {
    const item = document.createElement("li");
    item.textContent = word;
    list.append(item);
  }
}

function forgetCodename() {
  if (codename) codename.entropy.fill(0);
  codename = null;
  codenameWords.textContent = "";
}

wantCodename.addEventListener("change", async () => {
  if (!wantCodename.checked) {
    forgetCodename();
    codenameBox.hidden = true;
    return;
  }
  try {
    const words = await loadWordlist(form.dataset.codenameList || "english");
    if (!wantCodename.checked) return;
    codename = newCodename(words);
    showWords(codenameWords, codename.words);
    codenameBox.hidden = false;
  } catch {
    wantCodename.checked = false;
    showProblem(t("We could not make a codename just now. Reload the page to try again, or leave contact details instead."));
  }
});

// --- sending ----------------------------------------------------------------------------------------

class SendError extends Error {}

function sodiumReady() {
  if (!window.sodium || !window.sodium.ready) return Promise.reject(new SendError("load"));
  return window.sodium.ready.then(
    () => window.sodium,
    () => Promise.reject(new SendError("load")),
  );
}

function say(text) {
  status.textContent = text;
}

function setProgress(fraction) {
  progressBar.value = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
}

async function post(path, body, onWork) {
  const { response, problem } = await postWithProof(path, body, { onWork });
  if (problem) throw new SendError(problem);
  if (response.ok) return response.json();
  throw new SendError(response.status === 413 ? "too-big" : "refused");
}

async function seal(fields) {
  const sodium = await sodiumReady();
  const publicKey = sodium.from_base64(form.dataset.publicKey, sodium.base64_variants.ORIGINAL);
  const epoch = Number(form.dataset.epoch);
  if (publicKey.length !== 32 || !Number.isInteger(epoch) || epoch < 1) throw new SendError("key");
  if (toHex(teamKeyId(publicKey)) !== form.dataset.keyId) throw new SendError("key");

  const steps = files.length + 1;
  const attachments = [];
  for (const [index, file] of files.entries()) {
    const share = (part) => setProgress((index + part) / steps);
    if (uploaded.has(file)) {
      attachments.push(uploaded.get(file)); // sent before a failed try: not again
      continue;
    }
    say(t("Sending… locking file {n} of {total}. Please keep this page open.", { n: number(index + 1), total: number(files.length) }));
    let told = false;
    const onSent = (held, total) => {
      // The bar: the parts the intake holds.
      share(held / total);
      if (told) return;
      told = true;
      say(t("Sending… file {n} of {total}. Please keep this page open.", { n: number(index + 1), total: number(files.length) }));
    };
    let sealed;
    try {
      // Sealed and uploaded in parts as it is sealed (seal.js, docs/intake.md section 4).
      sealed = await sealFile(sodium, file, null, { onSent });
    } catch (error) {
      if (error instanceof UploadFailed) throw new SendError(error.kind);
      throw error;
    }
    // The page names the upload by the blob id it computed while sealing (docs/format.md);
    // an intake that names it otherwise did not store what was sent.
    if (sealed.server !== sealed.blob) throw new SendError("wrong-blob");
    const attachment = {
      name: shortText(file.name, "file"),
      type: shortText(file.type, "application/octet-stream"),
      size: file.size,
      key: sealed.key,
      blob: sealed.blob,
    };
    uploaded.set(file, attachment);
    attachments.push(attachment);
  }

  say(t("Sending your report… Please keep this page open."));
  const reply = codename ? replyKeyPair(sodium, codename.entropy) : null;
  const signing = codename ? signingKeyPair(sodium, codename.entropy) : null;
  const base64 = (key) => sodium.to_base64(key, sodium.base64_variants.ORIGINAL);
  const report = buildReport({
    ...fields,
    attachments,
    reply_key: reply ? base64(reply.publicKey) : undefined,
    reply_signing_key: signing ? base64(signing.publicKey) : undefined,
  });
  if (reply) sodium.memzero(reply.privateKey);
  if (signing) sodium.memzero(signing.privateKey);
  let envelope;
  try {
    envelope = sealReport(sodium, report, epoch, publicKey);
  } catch {
    throw new SendError("too-big");
  }
  await post("/api/reports", envelope, (work) => setProgress((files.length + work) / steps));
  setProgress(1);
}

// A file's name or type as report text: trimmed, at most 200 code points, never empty.
function shortText(text, fallback) {
  const trimmed = trimText(text);
  if (codePoints(trimmed) <= SHORT) return trimmed || fallback;
  return trimText(Array.from(trimmed).slice(0, SHORT).join("")) || fallback;
}

const PROBLEMS = {
  load: t("Your report was not sent: this page could not load the code that locks your report on this device. Your answers are still here. You can send them so that our server locks them instead, but without files or a codename."),
  network: t("Your report was not sent: we could not reach our website. Your answers are still here. Check your internet connection and press ‘Send report’ again."),
  busy: t("Your report was not sent: our website is very busy. Your answers are still here. Wait a minute, then press ‘Send report’ again."),
  "too-big": t("Your report was not sent: it is too big. Try fewer or smaller files."),
  refused: t("Your report was not sent: something went wrong on our side. Your answers are still here. Press ‘Send report’ again in a minute."),
  "wrong-blob": t("Your report was not sent: our website did not confirm that it stored your file as this page locked it. Your answers are still here. Press ‘Send report’ again in a minute, or tell us another way."),
  key: t("Your report was not sent: this page is missing the key that locks reports. Please tell us another way, or try again later."),
};

form.addEventListener("submit", async (event) => {
  if (serverSeals) return; // posted to /report: our server checks and locks it
  event.preventDefault();
  if (sending) return;
  const fields = collect();
  const errors = validate(fields);
  if (errors.length) {
    showErrors(errors);
    return;
  }
  clearErrors();
  sending = true;
  sendButton.setAttribute("aria-disabled", "true");
  progressBox.hidden = false;
  setProgress(0);
  try {
    await seal(fields);
  } catch (error) {
    sending = false;
    sendButton.removeAttribute("aria-disabled");
    progressBox.hidden = true;
    say("");
    const kind = error instanceof SendError ? error.message : "refused";
    // Without the locking code, offer the no-JavaScript route, saying what it means.
    const fallback = kind === "load" ? { label: t("Send so your report is locked by our server"), run: () => form.submit() } : null;
    showProblem(PROBLEMS[kind] || PROBLEMS.refused, fallback);
    return;
  }
  showSent();
});

function showSent() {
  const words = codename ? codename.words : null;
  const arrived = files.length;
  if (arrived > 0) {
    const line = document.getElementById("sent-files");
    const sentence = arrived === 1 ? line.dataset.one : line.dataset.many;
    line.textContent = sentence.replace("{count}", number(arrived));
    line.hidden = false;
  }
  forgetCodename();
  files = [];
  fileList.textContent = "";
  clearPage();
  if (words) {
    showWords(document.getElementById("sent-codename-words"), words);
    document.getElementById("sent-codename").hidden = false;
  }
  formView.hidden = true;
  sentView.hidden = false;
  document.title = document.title.replace(baseTitle.split(" – ")[0], t("Report sent"));
  window.scrollTo(0, 0);
  document.getElementById("sent-title").focus();
}

// --- the character counter ------------------------------------------------------------------------

const story = document.getElementById("what_happened");
const counter = document.getElementById("what_happened-count");
const counterLive = document.getElementById("what_happened-count-live");
let announceTimer = null;

function countSentence() {
  const left = LONG - codePoints(story.value);
  const n = Math.abs(left);
  const key = left >= 0 ? (n === 1 ? "leftOne" : "leftMany") : n === 1 ? "overOne" : "overMany";
  return { text: counter.dataset[key].replace("{count}", number(n)), over: left < 0 };
}

function updateCounter() {
  const { text, over } = countSentence();
  counter.textContent = text;
  counter.classList.toggle("char-count--over", over);
  // Screen readers hear the count once typing pauses, not on every key.
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => {
    counterLive.textContent = text;
  }, 1000);
}

// --- start -------------------------------------------------------------------------------------------

async function start() {
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
  // A page restored from the back-forward cache starts clean, like a fresh one.
  window.addEventListener("pagehide", () => {
    forgetCodename();
    files = [];
    fileList.textContent = "";
    codenameBox.hidden = true;
  });
  counter.hidden = false;
  counter.textContent = countSentence().text;
  story.addEventListener("input", updateCounter);
  // Test that this browser can lock reports before offering files or a codename.
  const sodium = await cryptoReady();
  if (!sodium) {
    serverSeals = true;
    document.getElementById("crypto-notice").hidden = false;
    settled();
    return;
  }
  // Fetch the word list whether or not a codename is wanted, so the request says nothing.
  loadWordlist(form.dataset.codenameList || "english").catch(() => {});
  document.getElementById("files-section").hidden = maxFiles === 0;
  // The worker that hashes sealed files, started with the page whether or not a file is ever
  // chosen: fetching it then tells our server nothing about files (docs/threat-model.md).
  if (maxFiles > 0) startSealer();
  document.getElementById("codename-section").hidden = false;
  document.getElementById("send-hint").hidden = false;
  settled();
}

start();
