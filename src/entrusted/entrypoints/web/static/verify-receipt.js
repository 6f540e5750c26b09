// Checks an entrusted-receipt/v1 in the browser, with WebCrypto only (CSP: script-src 'self').
//
// What it checks, and says it checked: each entry's RFC 9162 leaf hash SHA-256(0x00 || entry)
// walked up its audit path to the root of the receipt's checkpoint; that checkpoint's Ed25519
// signature and the signature of the checkpoint published now (GET /v1/ledger/checkpoint), by
// a key of GET /v1/ledger/keys; and that the published checkpoint extends the receipt's (the
// same root at the same size, or an RFC 9162 consistency proof, fetched from
// /portal/verify/consistency and verified here). What it does not check, and says so: that
// the key is genuine (it comes from the same server) and the witnesses' cosignatures.
//
// The result goes into #receipt-check (role="status"), data-result="ok" or "failed": the
// verdict, what was checked in plain words, what was not, and the technical steps and figures
// in a <details> (#receipt-check-technical).
"use strict";
(() => {
  const enc = new TextEncoder();
  const SIG_ED25519 = 0x01;

  class Failed extends Error {}

  function b64(text) {
    if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
      throw new Failed("not base64: " + String(text).slice(0, 40));
    }
    const raw = atob(text);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function equal(a, b) {
    return a.length === b.length && a.every((v, i) => v === b[i]);
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));
  const odd = (n) => n % 2 === 1;
  const half = (n) => Math.floor(n / 2);

  // RFC 9162 §2.1.3.2: the root an inclusion proof leads to.
  async function rootFromInclusion(leaf, index, size, proof) {
    if (!(Number.isSafeInteger(index) && index >= 0 && index < size)) {
      throw new Failed(`entry index ${index} is not below the tree size ${size}`);
    }
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new Failed(`the proof of entry ${index} is too long`);
      if (odd(fn) || fn === sn) {
        r = await nodeHash(p, r);
        if (!odd(fn)) {
          while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = half(fn); sn = half(sn);
    }
    if (sn !== 0) throw new Failed(`the proof of entry ${index} is too short`);
    return r;
  }

  // RFC 9162 §2.1.4.2: does `proof` show the tree (newSize, newRoot) extends (oldSize, oldRoot)?
  async function consistent(oldSize, newSize, oldRoot, newRoot, proof) {
    if (oldSize === newSize) return proof.length === 0 && equal(oldRoot, newRoot);
    if (oldSize < 1 || oldSize > newSize || proof.length === 0) return false;
    let m = oldSize;
    while (m % 2 === 0) m /= 2;
    const path = m === 1 ? [oldRoot, ...proof] : proof.slice();
    let fn = oldSize - 1;
    let sn = newSize - 1;
    while (odd(fn)) { fn = half(fn); sn = half(sn); }
    let fr = path[0];
    let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (odd(fn) || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if (!odd(fn)) {
          while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
        }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = half(fn); sn = half(sn);
    }
    return sn === 0 && equal(fr, oldRoot) && equal(sr, newRoot);
  }

  // --- C2SP signed notes and checkpoints ------------------------------------------------

  async function parseKeys(text) {
    const keys = [];
    for (const line of text.split("\n")) {
      const fields = line.trim().split(/\s+/).filter(Boolean);
      if (!fields.length) continue;
      const until = fields[1] && fields[1].startsWith("until=") ? Number(fields[1].slice(6)) : null;
      const parts = fields[0].split("+");
      if (parts.length < 3) throw new Failed("the log's key list is malformed");
      const name = parts[0];
      const raw = b64(parts.slice(2).join("+"));
      if (raw.length !== 33 || raw[0] !== SIG_ED25519) throw new Failed("not an Ed25519 key");
      const id = (await sha256(concat(enc.encode(name + "\n"), raw))).slice(0, 4);
      if (hex(id) !== parts[1]) throw new Failed("the key id does not match the key");
      keys.push({ name, id, pub: raw.slice(1), until });
    }
    if (!keys.length) throw new Failed("the log published no key");
    return keys;
  }

  function parseNote(note) {
    if (typeof note !== "string") throw new Failed("the checkpoint is not text");
    const split = note.indexOf("\n\n");
    if (split < 0) throw new Failed("the checkpoint is not a signed note");
    const body = note.slice(0, split + 1);
    const lines = body.slice(0, -1).split("\n");
    if (lines.length < 3 || !/^(0|[1-9][0-9]*)$/.test(lines[1])) {
      throw new Failed("the checkpoint body is malformed");
    }
    const root = b64(lines[2]);
    if (root.length !== 32) throw new Failed("the checkpoint root is not a SHA-256 hash");
    const signatures = note.slice(split + 2).split("\n").filter(Boolean).map((line) => {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) throw new Failed("a signature line is malformed");
      const raw = b64(m[2]);
      return { name: m[1], id: raw.slice(0, 4), sig: raw.slice(4) };
    });
    return { origin: lines[0], size: Number(lines[1]), root, body, signatures };
  }

  // Whether the note carries a valid signature of a listed key (null: no Ed25519 here).
  async function signedBy(cp, keys) {
    let good = false;
    let retiredOnly = true;
    for (const s of cp.signatures) {
      const key = keys.find((k) => k.name === s.name && equal(k.id, s.id));
      if (!key) continue; // a witness's cosignature, or another key: not ours to judge
      let pub;
      try {
        pub = await crypto.subtle.importKey("raw", key.pub, { name: "Ed25519" }, false, ["verify"]);
      } catch (e) {
        return null;
      }
      const ok = s.sig.length === 64 &&
        await crypto.subtle.verify({ name: "Ed25519" }, pub, s.sig, enc.encode(cp.body));
      if (!ok) throw new Failed(`the checkpoint of size ${cp.size} has a bad signature by ${s.name}`);
      good = true;
      if (key.until === null || cp.size <= key.until) retiredOnly = false;
    }
    if (!good) throw new Failed(`the checkpoint of size ${cp.size} is not signed by the log's key`);
    if (retiredOnly) throw new Failed(`the checkpoint of size ${cp.size} is signed by a retired key only`);
    return true;
  }

  async function fetchText(url) {
    const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Failed(`${url} answered ${r.status}`);
    return r.text();
  }

  // --- the check ------------------------------------------------------------------------

  async function check(receipt) {
    if (!receipt || receipt.format !== "entrusted-receipt/v1" || !Array.isArray(receipt.entries) ||
        !receipt.entries.length) {
      throw new Failed("this is not an entrusted-receipt/v1 with entries");
    }
    const keys = await parseKeys(await fetchText("/v1/ledger/keys"));
    const cp = parseNote(receipt.checkpoint);
    if (cp.origin !== receipt.origin) throw new Failed("the checkpoint names another log");
    const signatures = await signedBy(cp, keys);
    for (const e of receipt.entries) {
      const proof = (e.inclusion_proof || []).map(b64);
      if (proof.some((h) => h.length !== 32)) throw new Failed(`entry ${e.index}: malformed proof`);
      const root = await rootFromInclusion(await leafHash(b64(e.body)), e.index, cp.size, proof);
      if (!equal(root, cp.root)) {
        throw new Failed(`entry ${e.index} is not in the log the checkpoint names (the proof leads to another root)`);
      }
    }
    for (const earlier of receipt.earlier_checkpoints || []) {
      const old = parseNote(earlier.checkpoint);
      if (await signedBy(old, keys) === false ||
          !await consistent(old.size, cp.size, old.root, cp.root, earlier.consistency_proof.map(b64))) {
        throw new Failed(`the earlier checkpoint of size ${old.size} is not consistent with the receipt's`);
      }
    }
    const now = parseNote(await fetchText("/v1/ledger/checkpoint"));
    if (now.origin !== cp.origin) throw new Failed("this site publishes another log");
    const nowSigned = await signedBy(now, keys);
    let same = now.size === cp.size;
    if (now.size < cp.size) {
      throw new Failed(`the published checkpoint (size ${now.size}) is older than the receipt's (size ${cp.size}): the log was rolled back`);
    }
    if (same && !equal(now.root, cp.root)) {
      throw new Failed(`the published checkpoint has another root at the same size ${cp.size}: a fork`);
    }
    if (!same) {
      const answer = JSON.parse(await fetchText(`/portal/verify/consistency?old=${cp.size}&new=${now.size}`));
      if (!await consistent(cp.size, now.size, cp.root, now.root, answer.proof.map(b64))) {
        throw new Failed(`the published checkpoint (size ${now.size}) does not extend the receipt's (size ${cp.size}): the log was rewritten`);
      }
    }
    return { entries: receipt.entries.length, signatures: signatures && nowSigned, same, size: cp.size, now: now.size };
  }

  // --- the page -------------------------------------------------------------------------

  function fill(id, lines) {
    const list = document.getElementById(id);
    if (!list) return;
    list.replaceChildren(...lines.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
  }

  // verdict and plain words first; what was not checked always shown; the technical steps
  // and figures behind a <details> (hidden while there are none)
  function show(result, verdict, plain, notChecked, technical) {
    const box = document.getElementById("receipt-check");
    if (!box) return;
    document.getElementById("receipt-check-verdict").textContent = verdict;
    const said = document.getElementById("receipt-check-plain");
    if (said) said.textContent = plain;
    fill("receipt-check-not", notChecked);
    fill("receipt-check-details", technical);
    const more = document.getElementById("receipt-check-technical");
    if (more) more.hidden = !technical.length;
    box.dataset.result = result;
  }

  async function run(load) {
    const words = document.getElementById("receipt-check-words").dataset;
    show("", words.working, "", [], []);
    try {
      const done = await check(await load());
      const technical = [words.checkedInclusion];
      technical.push(done.signatures ? words.checkedSignature : words.noEd25519);
      technical.push(done.same ? words.checkedSame : words.checkedConsistency);
      technical.push(words.figures.replace("{entries}", String(done.entries))
        .replace("{size}", String(done.size)).replace("{now}", String(done.now)));
      const notChecked = [words.notKey, words.notWitness, words.notComplete];
      if (!done.signatures) notChecked.unshift(words.noEd25519);
      show("ok", words.ok, done.same ? words.plainSame : words.plainExtends, notChecked, technical);
    } catch (e) {
      const why = e instanceof Failed || e instanceof SyntaxError ? e.message : String(e);
      show("failed", `${words.failed} ${why}`, "", [words.notKey, words.notWitness], [why]);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("button[data-check-receipt]").forEach((button) => {
      button.addEventListener("click", () => run(async () =>
        JSON.parse(await fetchText(button.dataset.checkReceipt))));
    });
    const file = document.getElementById("receipt-file");
    if (file) {
      file.addEventListener("change", () => {
        if (file.files.length) run(async () => JSON.parse(await file.files[0].text()));
      });
    }
  });
})();
