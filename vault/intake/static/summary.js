// The error summary box at the top of a page, as both the form and the replies page show it.

import { t } from "./i18n.js";

export function summaryBox() {
  const box = document.createElement("div");
  box.className = "error-summary";
  box.id = "error-summary";
  box.tabIndex = -1;
  box.setAttribute("role", "alert");
  box.setAttribute("aria-labelledby", "error-summary-title");
  const title = document.createElement("h2");
  title.className = "error-summary__title";
  title.id = "error-summary-title";
  title.textContent = t("There is a problem");
  box.append(title);
  return box;
}
