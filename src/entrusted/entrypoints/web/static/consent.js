// The access-request page's script (CSP: script-src 'self'). The mailed link carries its
// token in the URL fragment, which no browser sends, so it never reaches a server log or a
// URL query. Approving needs the customer signed in: the token is kept in this tab's
// sessionStorage across sign-in, then copied into the approve and deny forms' hidden
// `token` field, dropped from the address bar, and forgotten once the customer answers.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const key = "entrusted.consent-link:" + window.location.pathname;
  let store = null;
  try {
    store = window.sessionStorage;
  } catch (blocked) {
    store = null;  // storage disabled: the fragment rides along with sign-in instead (below)
  }
  const fromLink = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (fromLink) {
    if (store) {
      store.setItem(key, fromLink);
    }
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  const token = fromLink || (store ? store.getItem(key) : null);
  if (token && !store) {
    // Only without sessionStorage: the sign-in form's `next` (a POST body field) brings the
    // fragment back on the redirect's Location, which browsers keep client-side.
    document.querySelectorAll("input[data-consent-next]").forEach((next) => {
      next.value = next.value.split("#")[0] + "#token=" + encodeURIComponent(token);
    });
  }
  const fields = document.querySelectorAll("input[data-consent-token]");
  fields.forEach((field) => {
    if (token) {
      field.value = token;
    }
  });
  if (fields.length && !token) {
    document.querySelectorAll(".consent-no-token").forEach((p) => { p.hidden = false; });
  }
  document.querySelectorAll("form[data-consent-answer]").forEach((form) => {
    form.addEventListener("submit", () => {
      if (store) {
        store.removeItem(key);
      }
    });
  });
});
