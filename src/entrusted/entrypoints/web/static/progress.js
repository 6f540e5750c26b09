// Re-fetch a progress fragment (a mailing being sent) until it reports "done". Each fetch is
// a ledgered view, so the pace backs off: 2 s, then doubling up to 30 s; no fetch while the
// tab is hidden (it resumes when shown again); none after "done" or a refused answer.
// A file, not an inline script: the pages' CSP allows scripts from 'self' only.
"use strict";
(function () {
  const box = document.getElementById("progress-box");
  if (!box) { return; }
  const source = box.getAttribute("data-src");
  const FIRST = 2000;
  const LONGEST = 30000;
  let delay = FIRST;
  let timer = null;
  let stopped = false;
  const finished = function () {
    const current = box.querySelector("[data-status]");
    return current !== null && current.getAttribute("data-status") === "done";
  };
  const schedule = function () {
    if (stopped || finished() || document.hidden || timer !== null) { return; }
    timer = window.setTimeout(refresh, delay);
    delay = Math.min(delay * 2, LONGEST);
  };
  const refresh = function () {
    timer = null;
    if (finished() || document.hidden) { return; }
    fetch(source, { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (html === null) { stopped = true; return; }
        const parsed = new DOMParser().parseFromString(html, "text/html");
        const fresh = parsed.getElementById("mailing-progress");
        const old = box.querySelector("#mailing-progress");
        if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
        schedule();
      })
      .catch(function () { schedule(); });
  };
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      if (timer !== null) { window.clearTimeout(timer); timer = null; }
    } else {
      schedule();
    }
  });
  schedule();
})();
