// The pages' only script (CSP: script-src 'self'). Everything works without it except
// reading a mailed link's token, which sits in the URL fragment so that it never reaches a
// server log: copy it into the form, then drop it from the address bar and the history.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const fields = document.querySelectorAll("input[data-from-fragment]");
  let missing = false;
  fields.forEach((field) => {
    const value = params.get(field.dataset.fromFragment);
    if (value) {
      field.value = value;
    } else if (!field.value) {
      missing = true;
    }
  });
  if (fields.length && window.location.hash) {
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  if (missing) {
    document.querySelectorAll(".no-token").forEach((p) => { p.hidden = false; });
  }
});
