// The pages' only shared script (CSP: script-src 'self'). Everything works without it except
// reading a mailed link's token, which sits in the URL fragment so that it never reaches a
// server log: copy it into the form, then drop it from the address bar and the history. The
// token is kept in this tab's sessionStorage for this page, so switching the language (a new
// request without the fragment) keeps the form usable.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const fields = document.querySelectorAll("input[data-from-fragment]");
  const store = (() => {
    try { return window.sessionStorage; } catch (e) { return null; }
  })();
  let missing = false;
  fields.forEach((field) => {
    const name = field.dataset.fromFragment;
    const key = "entrusted.link:" + window.location.pathname + ":" + name;
    let value = params.get(name);
    if (value && store) {
      store.setItem(key, value);
    } else if (!value && store) {
      value = store.getItem(key);
    }
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
