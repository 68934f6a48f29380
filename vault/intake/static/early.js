// Loaded first, as a classic script in <head>, before anything can be pressed. Until the
// page's own check (ready.js) has decided whether this browser can lock and unlock on this
// device, the route through our server is hidden (style.css, `.js-pending`) and the form's
// Send is held back with a short "getting ready" line: a report must not go to our server in
// clear only because libsodium is still loading. The check ends with `settled()` in
// ready.js. If the page's scripts never get that far, the no-JavaScript route opens after
// all, with its notice.

(() => {
  const GIVE_UP_MS = 25000; // after the page has loaded; longer than ready.js waits
  const root = document.documentElement;
  root.classList.add("js-pending");
  document.addEventListener(
    "submit",
    (event) => {
      if (!root.classList.contains("js-pending")) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      const line = document.getElementById("getting-ready");
      if (line) line.hidden = false;
    },
    true,
  );
  window.addEventListener("load", () => {
    setTimeout(() => {
      if (!root.classList.contains("js-pending")) return;
      root.classList.remove("js-pending");
      for (const id of ["crypto-notice", "server-route-why"]) {
        const notice = document.getElementById(id);
        if (notice) notice.hidden = false;
      }
      const line = document.getElementById("getting-ready");
      if (line) line.hidden = true;
    }, GIVE_UP_MS);
  });
})();
