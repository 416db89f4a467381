// The journal: search, one attempt's timeline, the jobs waiting for an operator with
// their two actions (retry, resolve with a note), and export links for exactly what the
// search shows.
'use strict';

function query() {
  const q = new URLSearchParams();
  for (const [field, id] of [['user', 'q-user'], ['key', 'q-key'], ['state', 'q-state'], ['since', 'q-since'], ['until', 'q-until']]) {
    const v = KS.$(id).value.trim();
    if (v) q.set(field, v);
  }
  return q;
}

function exportLinks(q) {
  for (const [id, format] of [['export-csv', 'csv'], ['export-json', 'json']]) {
    const e = new URLSearchParams(q);
    e.set('format', format);
    KS.$(id).href = '/api/journal/export?' + e.toString();
  }
}

function what(j) {
  if (j.operator_message) return j.operator_message;
  if (j.error) return j.error;
  if (j.state === 'done') return j.method_id ? 'registered (' + j.method_id + ')' : 'done';
  return '';
}

async function search() {
  const q = query();
  exportLinks(q);
  KS.text('search-error', '');
  try {
    const r = await KS.get('/api/journal/jobs?' + q.toString());
    const rows = r.jobs.map((j) => {
      const tr = KS.el('tr', { class: 'pick', 'data-uid': j.uid }, [
        KS.el('td', {}, j.created_at.replace('T', ' ').replace('Z', '')),
        KS.el('td', {}, j.user || ''),
        KS.el('td', {}, [j.key_model, j.key_serial].filter(Boolean).join(' ')),
        KS.el('td', {}, j.mode),
        KS.el('td', { class: 'state state-' + j.state }, j.state.replace('_', ' ')),
        KS.el('td', {}, what(j)),
      ]);
      tr.addEventListener('click', () => detail(j.uid, tr));
      return tr;
    });
    KS.$('results').replaceChildren(...rows);
    KS.text('result-count', r.total > r.jobs.length ? 'Newest ' + r.jobs.length + ' of ' + r.total + ' job(s)' : r.total + ' job(s)');
  } catch (e) {
    KS.text('search-error', e.message);
  }
}

async function detail(uid, row) {
  for (const r of document.querySelectorAll('tr.selected')) r.classList.remove('selected');
  if (row) { row.classList.add('selected'); KS.show('action-done', false); }
  try {
    const d = await KS.get('/api/journal/jobs/' + encodeURIComponent(uid));
    const j = d.job;
    KS.text('detail-title', (j.user || 'unknown user') + ' — ' + j.state.replace('_', ' '));
    const facts = [
      ['Job', j.uid], ['Mode', j.mode + (j.batch_id ? ' (batch ' + j.batch_id + ', line ' + j.batch_line + ')' : '')],
      ['Key', [j.key_model, j.key_serial && 'serial ' + j.key_serial, d.key_aaguid && 'AAGUID ' + d.key_aaguid].filter(Boolean).join(', ')],
      ['Name in Entra', d.display_name], ['Entra method', j.method_id], ['Started', j.created_at], ['Ended', j.finished_at],
      ['Error', j.error && (d.error_kind + ': ' + j.error)], ['PIN sealed for the help desk', d.sealed_pin ? 'yes' : 'no'],
    ];
    KS.$('detail-facts').replaceChildren(...facts.filter(([, v]) => v).flatMap(([k, v]) => [KS.el('dt', {}, k), KS.el('dd', {}, v)]));
    const todo = d.parked ? d.parked.what_to_do : j.operator_message;
    KS.show('detail-operator', !!todo);
    KS.text('detail-operator', todo ? 'What to do: ' + todo : '');
    shown = d.parked && d.parked.actions.length ? j.uid : null;
    KS.show('actions', !!shown);
    KS.$('action-note').value = '';
    KS.text('action-error', '');
    KS.$('timeline').replaceChildren(...d.timeline.map((e) => KS.el('tr', { class: 'entry-' + e.kind }, [
      KS.el('td', {}, String(e.offset_ms)),
      KS.el('td', {}, (e.kind === 'state' ? '→ ' : '') + e.label),
      KS.el('td', {}, KS.duration(e.duration_ms)),
      KS.el('td', {}, e.outcome || ''),
      KS.el('td', {}, e.message || ''),
    ])));
    KS.show('detail', true);
    KS.$('detail').scrollIntoView({ block: 'start' });
  } catch (e) {
    KS.text('search-error', e.message);
  }
}

// The job whose actions the detail shows.
let shown = null;

// Retry or resolve the shown parked job (`keystation jobs retry|resolve`), then show
// the journal as it is now.
async function act(action) {
  const uid = shown;
  if (!uid) return;
  KS.text('action-error', '');
  KS.show('action-done', false);
  try {
    const r = await KS.post('/api/journal/jobs/' + encodeURIComponent(uid) + '/' + action, { note: KS.$('action-note').value });
    const who = r.job.user || 'the job';
    KS.text('action-done', action === 'retry' ? 'Released ' + who + ' for another attempt. ' + r.what_to_do : 'Resolved ' + who + ' (done).');
    KS.show('action-done', true);
    await parked();
    await search();
    await detail(uid, null);
  } catch (e) {
    KS.text('action-error', e.message);
  }
}

async function parked() {
  try {
    const r = await KS.get('/api/journal/parked');
    KS.$('parked').replaceChildren(...r.parked.map((p) => {
      const tr = KS.el('tr', { class: 'pick', 'data-uid': p.job.uid }, [
        KS.el('td', {}, p.job.user || ''),
        KS.el('td', {}, [p.job.key_model, p.job.key_serial].filter(Boolean).join(' ')),
        KS.el('td', {}, p.since.replace('T', ' ').replace('Z', '')),
        KS.el('td', {}, p.what_to_do),
      ]);
      tr.addEventListener('click', () => detail(p.job.uid, tr));
      return tr;
    }));
    KS.show('parked-section', r.parked.length > 0);
  } catch (e) {
    KS.text('search-error', e.message);
  }
}

document.addEventListener('DOMContentLoaded', async () => {
  const s = await KS.start();
  if (!s) return;
  KS.$('search').addEventListener('click', search);
  KS.$('action-retry').addEventListener('click', () => act('retry'));
  KS.$('action-resolve').addEventListener('click', () => act('resolve'));
  for (const id of ['q-user', 'q-key']) KS.$(id).addEventListener('keydown', (e) => { if (e.key === 'Enter') search(); });
  await parked();
  await search();
});
