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
    if (r.status === 401) { location.reload(); }
    if (!r.ok) { const err = new Error((data && data.error) || ('the console answered ' + r.status)); err.status = r.status; throw err; }
    return data;
  },

  // Live updates: onSnapshot(state) first (and after falling behind), then onUpdate(msg).
  // The browser reconnects a dropped stream by itself; when the console has restarted
  // (the session is gone) the page goes back to the sign-in page instead.
  live(path, onSnapshot, onUpdate) {
    const es = new EventSource(path, { withCredentials: true });
    es.addEventListener('snapshot', (e) => onSnapshot(JSON.parse(e.data)));
    es.addEventListener('update', (e) => onUpdate(JSON.parse(e.data)));
    es.addEventListener('error', () => {
      fetch('/api/session', { credentials: 'same-origin', cache: 'no-store' })
        .then((r) => { if (r.status === 401) { es.close(); location.reload(); } })
        .catch(() => { /* the console is down: the stream keeps trying */ });
    });
    return es;
  },

  // Build an element: KS.el('td', {class: 'x'}, 'text' | [children]).
  el(tag, attrs, content) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v; else if (k.startsWith('data-')) e.setAttribute(k, v); else e[k] = v;
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
