// "Exit this page": the button, and pressing Shift three times. Either one clears what was
// typed, empties the page and replaces it (so Back does not return to it) with a neutral page.

// The neutral page is the charity's choice (`vault intake serve --exit-url`, by default a
// weather page elsewhere, as GOV.UK's pattern does); the button's own address says which.
const FALLBACK = "/static/exit.html";
const PRESSES = 3;
const WINDOW_MS = 5000;

// Empty every field on the page, defaults too, so nothing typed survives in this document.
export function clearPage() {
  for (const field of document.querySelectorAll("input, textarea, select")) {
    if (field.type === "checkbox" || field.type === "radio") {
      field.checked = false;
      field.defaultChecked = false;
    } else if (field.type === "file") {
      field.value = "";
    } else if (field.tagName === "SELECT") {
      field.selectedIndex = -1;
    } else if (field.type !== "submit" && field.type !== "button") {
      field.value = "";
      field.defaultValue = "";
    }
  }
  for (const secret of document.querySelectorAll("[data-secret]")) secret.textContent = "";
}

export function exitPage() {
  const button = document.getElementById("exit-page");
  const neutral = button ? button.href : FALLBACK;
  clearPage();
  document.title = "";
  document.body.textContent = "";
  try {
    window.location.replace(neutral);
  } catch {
    // An address this browser cannot go to: the intake's own neutral page instead.
    window.location.replace(FALLBACK);
  }
}

function setUp() {
  const button = document.getElementById("exit-page");
  if (button) {
    button.addEventListener("click", (event) => {
      event.preventDefault();
      exitPage();
    });
  }
  // The Shift hint is for keyboards: not shown on touch screens (style.css hides it there
  // too, should the screen change).
  const hint = document.getElementById("exit-hint");
  const touch = window.matchMedia("(hover: none) and (pointer: coarse)").matches;
  if (hint) hint.hidden = touch;

  let presses = 0;
  let timer = null;
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Shift") {
      presses = 0;
      return;
    }
    if (event.repeat) return;
    presses += 1;
    clearTimeout(timer);
    timer = setTimeout(() => { presses = 0; }, WINDOW_MS);
    if (presses >= PRESSES) exitPage();
  });

  // Leaving by any route: leave nothing typed in a page the browser might keep.
  window.addEventListener("pagehide", clearPage);
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) clearPage();
  });
}

setUp();
