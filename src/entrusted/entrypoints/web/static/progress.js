// Re-fetch a progress fragment every 2 s (a mailing being sent) until it reports "done".
// A file, not an inline script: the pages' CSP allows scripts from 'self' only.
"use strict";
(function () {
  const box = document.getElementById("progress-box");
  if (!box) { return; }
  const source = box.getAttribute("data-src");
  const finished = function () {
    const current = box.querySelector("[data-status]");
    return current !== null && current.getAttribute("data-status") === "done";
  };
  const refresh = function () {
    if (finished()) { return; }
    fetch(source, { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        const parsed = new DOMParser().parseFromString(html, "text/html");
        const fresh = parsed.getElementById("mailing-progress");
        const old = box.querySelector("#mailing-progress");
        if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
        window.setTimeout(refresh, 2000);
      })
      .catch(function () { window.setTimeout(refresh, 2000); });
  };
  window.setTimeout(refresh, 2000);
})();
