// The hub: one tile per key slot, live. Updates are merged into the page's copy of the
// hub as they arrive and drawn once per frame (a burst of events from 16 keys costs one
// redraw, not sixteen). Each update carries the server's time of the event; the page
// records how long it took to reach the screen (window.ksLatency, in this page's memory
// only) and shows the last value in the header.
'use strict';

const PHASE_WORDS = {
  empty: 'empty', waiting: 'waiting', working: 'working', touch: 'TOUCH NOW', replug: 're-plug',
  done: 'done', failed: 'failed', refused: 'not used',
};
let hub = null;
let dirty = new Set();
let redrawAll = false;
let waiting = [];
let scheduled = false;
window.ksLatency = [];

function tile(t) {
  const e = KS.el('article', { class: 'tile phase-' + t.phase, 'data-slot': String(t.slot), 'data-phase': t.phase });
  e.append(KS.el('div', { class: 'slot' }, [KS.el('span', {}, 'Slot ' + t.slot), KS.el('span', { class: 'phase' }, PHASE_WORDS[t.phase] || t.phase)]));
  if (t.phase === 'empty') {
    e.append(KS.el('div', { class: 'step' }, t.previous ? 'last: ' + t.previous : 'plug a blank key in'));
    return e;
  }
  e.append(KS.el('div', { class: 'user' }, t.user || (t.phase === 'waiting' ? 'waiting for a user' : '')));
  const key = [t.serial ? 'serial ' + t.serial : null, t.key].filter(Boolean).join(' · ');
  e.append(KS.el('div', { class: 'step' }, key));
  if (t.phase === 'touch') e.append(KS.el('div', { class: 'result' }, 'Touch the key now'));
  else if (t.phase === 'working' && t.step) e.append(KS.el('div', { class: 'step' }, t.step + '…'));
  if (t.message) e.append(KS.el('div', { class: 'result' }, t.message + (t.will_retry ? ' (the user gets the next key)' : '')));
  else if (t.phase === 'done') e.append(KS.el('div', { class: 'result' }, 'Ready: take the key out'));
  if (hub && t.line && (hub.slips || []).some((s) => s.line === t.line)) {
    const b = KS.el('button', { type: 'button', class: 'secondary slip-button', 'data-line': String(t.line) }, 'Show PIN slip');
    b.addEventListener('click', () => showSlip(t.line));
    e.append(b);
  }
  return e;
}

function drawTiles() {
  KS.$('tiles').replaceChildren(...(hub.tiles || []).map(tile));
}

// Redraw what changed since the last frame.
function drawChanged() {
  const tiles = KS.$('tiles');
  if (redrawAll) drawTiles();
  else for (const slot of dirty) {
    const t = hub.tiles.find((x) => x.slot === slot);
    const old = tiles.querySelector('[data-slot="' + slot + '"]');
    const fresh = t && tile(t);
    if (old && fresh) old.replaceWith(fresh); else if (fresh) tiles.append(fresh);
  }
  dirty = new Set();
  redrawAll = false;
  drawFigures(hub);
  drawSlips(hub.slips);
  drawNotices(hub.notices);
  drawEnding(hub);
}

function frame() {
  scheduled = false;
  if (!hub) return;
  drawChanged();
  const ats = waiting;
  waiting = [];
  // The next frame's callback runs after this frame was painted.
  requestAnimationFrame(() => {
    const now = performance.timeOrigin + performance.now();
    for (const at of ats) {
      window.ksLatency.push(now - at);
      if (window.ksLatency.length > 5000) window.ksLatency.shift();
    }
    if (ats.length) KS.text('latency', 'live · ' + Math.round(now - ats[ats.length - 1]) + ' ms');
  });
}

function eta(secs) {
  if (secs === null || secs === undefined) return '–';
  if (secs < 60) return secs + ' s';
  return Math.floor(secs / 60) + ' min ' + (secs % 60) + ' s';
}

function drawFigures(h) {
  const f = h.figures || {};
  KS.text('f-batch', h.batch_id ? 'Batch ' + h.batch_id + (h.running ? '' : ' (ended)') : 'No batch yet');
  KS.text('f-done', f.done || 0);
  KS.text('f-failed', f.failed || 0);
  KS.text('f-parked', f.needs_operator || 0);
  KS.text('f-running', f.running || 0);
  KS.text('f-left', Math.max(0, (f.to_do || 0) - (f.done || 0) - (f.failed || 0) - (f.needs_operator || 0)));
  KS.text('f-rate', f.per_minute !== null && f.per_minute !== undefined ? f.per_minute : '–');
  KS.text('f-eta', h.running ? eta(f.eta_secs) : '–');
  KS.show('stop', !!h.running);
  KS.show('abort', !!h.running);
  KS.$('start-batch').disabled = !!h.running;
  KS.show('start', !h.running);
}

function drawSlips(slips) {
  const list = KS.$('slip-list');
  list.replaceChildren();
  for (const s of slips || []) {
    const b = KS.el('button', { type: 'button', class: 'secondary', 'data-line': String(s.line) }, s.user);
    b.addEventListener('click', () => showSlip(s.line));
    list.append(KS.el('li', {}, [b]));
  }
  KS.show('slips', (slips && slips.length > 0) || !KS.$('slip-text').classList.contains('hidden'));
}

function drawNotices(notices) {
  const ul = KS.$('notices');
  ul.replaceChildren(...(notices || []).slice().reverse().map((n) => KS.el('li', {}, new Date(n.at).toLocaleTimeString() + ' ' + n.text)));
}

function drawEnding(h) {
  const box = KS.$('ending');
  if (!h.ending) { KS.show('ending', false); return; }
  const words = { all_done: 'Every user is done.', partial: 'Some users are not done.', needs_operator: 'Some keys need an operator (see the journal).', cancelled: 'The batch was stopped.' };
  const items = h.ending.problems.map(([line, user, status, reason]) => KS.el('li', {}, 'line ' + line + ' ' + (user || '') + ': ' + status.replace('_', ' ') + (reason ? ' — ' + reason : '')));
  box.replaceChildren(KS.el('h2', {}, words[h.ending.end] || h.ending.end), KS.el('p', { class: 'muted' }, 'Took ' + KS.duration(h.ending.millis)), KS.el('ul', {}, items));
  KS.show('ending', true);
}

function snapshot(h) {
  hub = h;
  drawTiles();
  drawFigures(h);
  drawSlips(h.slips);
  drawNotices(h.notices);
  drawEnding(h);
}

function update(u) {
  if (!hub) return;
  for (const t of u.tiles) {
    const i = hub.tiles.findIndex((x) => x.slot === t.slot);
    if (i >= 0) hub.tiles[i] = t; else hub.tiles.push(t);
    dirty.add(t.slot);
  }
  const slipLines = (s) => (s || []).map((x) => x.line).join(',');
  if (slipLines(u.slips) !== slipLines(hub.slips)) redrawAll = true;
  hub.slips = u.slips;
  hub.figures = u.figures;
  hub.running = u.running;
  hub.batch_id = u.batch_id;
  hub.ending = u.ending;
  // An update carries the latest notices only: add the ones not seen yet.
  const seen = new Set((hub.notices || []).map((n) => n.at + n.text));
  hub.notices = (hub.notices || []).concat((u.notices || []).filter((n) => !seen.has(n.at + n.text))).slice(-50);
  waiting.push(u.at);
  if (!scheduled) { scheduled = true; requestAnimationFrame(frame); }
}

async function showSlip(line) {
  try {
    const r = await KS.post('/api/hub/slip/' + line);
    KS.text('slip-text', r.text);
    KS.show('slip-text', true);
    KS.show('slip-close', true);
  } catch (e) {
    KS.text('slip-text', e.message);
    KS.show('slip-text', true);
  }
}

async function startBatch() {
  const file = KS.$('csv').files[0];
  const out = KS.$('upload-result');
  out.replaceChildren();
  if (!file) { out.append(KS.el('p', { class: 'error' }, 'Choose a user list (a .csv file) first.')); return; }
  const q = new URLSearchParams({ name: file.name, concurrency: KS.$('concurrency').value });
  try {
    const r = await KS.post('/api/hub/batch?' + q.toString(), file, 'text/csv');
    out.append(KS.el('p', { class: 'ok' }, 'Batch ' + r.batch_id + ' started: ' + r.to_do + ' user(s) to provision. Plug blank keys into the hub.'));
    if (r.problems.length) {
      out.append(KS.el('p', { class: 'error' }, r.problems.length + ' bad row(s), skipped:'));
      out.append(KS.el('ul', { id: 'bad-rows' }, r.problems.map((p) => KS.el('li', {}, 'line ' + p.line + ': ' + p.message))));
    }
    for (const w of r.warnings) out.append(KS.el('p', { class: 'note' }, w));
  } catch (e) {
    out.append(KS.el('p', { class: 'error', id: 'upload-error' }, e.message));
  }
}

document.addEventListener('DOMContentLoaded', async () => {
  const s = await KS.start();
  if (!s) return;
  const sel = KS.$('concurrency');
  for (const n of [1, 2, 4, 8, 12, 16, 24, 32]) sel.append(KS.el('option', { value: String(n), selected: n === 4 }, String(n)));
  KS.$('start-batch').addEventListener('click', startBatch);
  KS.$('stop').addEventListener('click', () => KS.post('/api/hub/stop'));
  KS.$('abort').addEventListener('click', () => KS.post('/api/hub/abort'));
  KS.$('slip-close').addEventListener('click', () => { KS.text('slip-text', ''); KS.show('slip-text', false); KS.show('slip-close', false); if (hub) { drawSlips(hub.slips); drawTiles(); } });
  KS.live('/api/hub/events', snapshot, update);
});
