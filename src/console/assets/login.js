// The sign-in page. The link keystation prints carries its token after '#', which the
// browser never sends to a server; it is posted once, then removed from the address
// (and so from the history) before anything else happens.
'use strict';

async function signIn(body) {
  const r = await fetch('/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  let data = {};
  try { data = await r.json(); } catch (e) { /* no body */ }
  if (!r.ok) throw new Error(data.error || ('the console answered ' + r.status));
}

function help(message) {
  KS.text('login-status', 'Not signed in.');
  KS.show('login-help', true);
  KS.text('login-error', message || '');
}

// The link's token, if the address carries one: posted, then removed from the address.
async function tokenFromAddress() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  history.replaceState(null, '', location.pathname);
  if (!token) return false;
  try { await signIn({ token }); location.replace(location.pathname); return true; }
  catch (e) { help(e.message); return true; }
}

// Pasting the link into a tab that shows this page changes only the fragment: no reload.
window.addEventListener('hashchange', tokenFromAddress);

// Why this browser is not signed in, when its session ended (idle, lifetime, signed
// out): the console says so in plain words.
async function whyEnded() {
  try {
    const r = await fetch('/api/session', { credentials: 'same-origin', cache: 'no-store' });
    if (r.status !== 401) return;
    const data = await r.json();
    if (data.session_ended) KS.text('login-status', data.error);
  } catch (e) { /* nothing to add */ }
}

document.addEventListener('DOMContentLoaded', async () => {
  const signedOut = location.hash === '#signed-out';
  if (!(await tokenFromAddress())) {
    help('');
    if (signedOut) KS.text('login-status', 'You signed out; sign in again.');
    else await whyEnded();
  }
  const go = async () => {
    const input = KS.$('password');
    const password = input.value;
    input.value = '';
    if (!password) return;
    try { await signIn({ password }); location.replace(location.pathname); }
    catch (e) { KS.text('login-error', e.message); }
  };
  KS.$('password-go').addEventListener('click', go);
  KS.$('password').addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
});
