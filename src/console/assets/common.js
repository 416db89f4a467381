// keystation console: what every page shares. No framework, no build step.
// Text from the station (names, messages) is only ever put into the page with
// textContent, never as HTML. Nothing is kept in browser storage: the CSRF token
// lives in this page's memory, the session in an HttpOnly cookie.
'use strict';

const KS = {
  csrf: null,
  session: null,

  // The session's details (and its CSRF token). A page without a session is sent to
  // the sign-in page by the server (401), so this normally succeeds.
  async start() {
    const r = await fetch('/api/session', { credentials: 'same-origin', cache: 'no-store' });
    if (r.status === 401) { location.reload(); return null; }
    const s = await r.json();
    KS.csrf = s.csrf;
    KS.session = s;
    return s;
  },

  async get(path) {
    const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
    return KS.answer(r);
  },

  // A state-changing request: JSON body (or raw bytes) and the CSRF token.
  async post(path, body, contentType) {
    const headers = { 'X-CSRF-Token': KS.csrf || '' };
    let payload;
    if (body instanceof Blob) { payload = body; headers['Content-Type'] = contentType || 'application/octet-stream'; }
    else { payload = JSON.stringify(body || {}); headers['Content-Type'] = 'application/json'; }
    const r = await fetch(path, { method: 'POST', headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
    return KS.answer(r);
  },

  async answer(r) {
    let data = null;
    try { data = await r.json(); } catch (e) { data = {}; }
    if (r.status === 401) {
      // The session ended (or the console restarted): nothing was done. The page stays
      // as it is, with whatever was typed, and says so; signing in again is offered on
      // top of it.
      const why = (data && data.error) || 'You are not signed in (the console may have restarted); sign in again.';
      KS.sessionEnded(why, true);
      const err = new Error('Not sent: ' + why);
      err.status = 401;
      throw err;
    }
    if (!r.ok) { const err = new Error((data && data.error) || ('the console answered ' + r.status)); err.status = r.status; throw err; }
    return data;
  },

  // Live updates: onSnapshot(state) first (and after falling behind), then onUpdate(msg).
  // The browser reconnects a dropped stream by itself; when the session has ended (the
  // console ends its streams then) or the console has restarted, the page says so.
  streams: [],
  live(path, onSnapshot, onUpdate) {
    const entry = { path, onSnapshot, onUpdate, es: null };
    KS.streams.push(entry);
    KS.connect(entry);
    return entry;
  },

  connect(entry) {
    const es = new EventSource(entry.path, { withCredentials: true });
    entry.es = es;
    es.addEventListener('snapshot', (e) => entry.onSnapshot(JSON.parse(e.data)));
    es.addEventListener('update', (e) => entry.onUpdate(JSON.parse(e.data)));
    es.addEventListener('error', () => {
      fetch('/api/session', { credentials: 'same-origin', cache: 'no-store' })
        .then(async (r) => {
          if (r.status !== 401) return;
          es.close();
          let data = {};
          try { data = await r.json(); } catch (e) { /* no body */ }
          KS.sessionEnded(data.error || 'You are not signed in (the console may have restarted); sign in again.', false);
        })
        .catch(() => { /* the console is down: the stream keeps trying */ });
    });
  },

  // The session ended: a notice over the page (which keeps what was typed), with a way
  // to sign in again in place. `unsent`: a request was just refused because of it.
  sessionEnded(message, unsent) {
    let box = KS.$('ks-ended');
    if (!box) {
      box = KS.el('div', { id: 'ks-ended', class: 'dialog ended', role: 'alertdialog', 'aria-label': 'Signed out' }, [
        KS.el('h2', {}, 'Signed out'),
        KS.el('p', { id: 'ks-ended-message', class: 'lead' }),
        KS.el('p', { id: 'ks-ended-unsent', class: 'hint hidden' }, 'What you just sent was not done. Anything you typed is still on this page: send it again after signing in.'),
        KS.el('p', { class: 'hint' }, "Paste the link keystation printed, or type the operator password:"),
        KS.el('div', { class: 'entry' }, [
          KS.el('input', { id: 'ks-ended-secret', class: 'masked', type: 'text', autocomplete: 'off', autocapitalize: 'off', spellcheck: false, 'aria-label': 'Console link or operator password' }),
          KS.el('button', { id: 'ks-ended-go', type: 'button' }, 'Sign in'),
        ]),
        KS.el('p', { id: 'ks-ended-error', class: 'error', role: 'alert' }),
      ]);
      document.body.append(box);
      KS.$('ks-ended-go').addEventListener('click', KS.signInAgain);
      KS.$('ks-ended-secret').addEventListener('keydown', (e) => { if (e.key === 'Enter') KS.signInAgain(); });
    }
    for (const s of KS.streams) if (s.es) s.es.close();
    KS.csrf = null;
    KS.text('ks-ended-message', message);
    if (unsent) KS.show('ks-ended-unsent', true);
    KS.text('ks-ended-error', '');
    box.classList.remove('hidden');
    document.body.dataset.session = 'ended';
  },

  // Sign in again from the notice: the console's link (its token, after '#') or the
  // operator password; then a fresh CSRF token and fresh live streams, and the page goes
  // on where it was.
  async signInAgain() {
    const input = KS.$('ks-ended-secret');
    const text = input.value.trim();
    input.value = '';
    if (!text) return;
    const at = text.indexOf('#token=');
    const body = at >= 0 ? { token: text.slice(at + 7) } : { password: text };
    try {
      const r = await fetch('/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
      let data = {};
      try { data = await r.json(); } catch (e) { /* no body */ }
      if (!r.ok) throw new Error(data.error || ('the console answered ' + r.status));
      await KS.start();
      for (const s of KS.streams) KS.connect(s);
      KS.show('ks-ended-unsent', false);
      KS.show('ks-ended', false);
      document.body.dataset.session = 'open';
    } catch (e) {
      KS.text('ks-ended-error', e.message);
    }
  },

  // Build an element: KS.el('td', {class: 'x'}, 'text' | [children]).
  el(tag, attrs, content) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v; else if (k.startsWith('data-') || k.startsWith('aria-')) e.setAttribute(k, v); else e[k] = v;
    }
    if (Array.isArray(content)) { for (const c of content) if (c) e.append(c); }
    else if (content !== undefined && content !== null) e.textContent = String(content);
    return e;
  },

  $(id) { return document.getElementById(id); },
  show(id, on) { KS.$(id).classList.toggle('hidden', !on); },
  text(id, t) { KS.$(id).textContent = (t === null || t === undefined) ? '' : String(t); },

  duration(ms) {
    if (ms === null || ms === undefined) return '';
    if (ms < 1000) return ms + ' ms';
    const s = Math.round(ms / 100) / 10;
    if (s < 90) return s + ' s';
    const m = Math.floor(s / 60);
    return m + ' min ' + Math.round(s - m * 60) + ' s';
  },
};
