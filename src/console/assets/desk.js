// The desk: draws the kiosk loop's state, sends names and PINs. A refusal stays until
// "Start over". The slip is fetched once (POST, never cached), shown in the page and
// wiped from it at the next step; it is never kept anywhere else.
'use strict';

const SCREENS = ['s-closed', 's-ask', 's-plug', 's-working', 's-touch', 's-replug', 's-pin', 's-done', 's-refusal'];
let state = null;
let slipShown = false;
let slipFetching = false;

function screen(id, name) {
  for (const s of SCREENS) KS.show(s, s === id);
  KS.$('stage').dataset.screen = name;
}

function clearSlip() {
  const slip = KS.$('slip');
  slip.textContent = '';
  slip.classList.add('hidden');
  slipShown = false;
}

function refusalTitle(v) {
  switch (v.screen) {
    case 'bad_user': return 'That is not a user name';
    case 'user_refused': return 'We cannot set up a key for ' + v.user;
    case 'no_key': return 'No key was plugged in';
    default: return 'Not done';
  }
}

function refusalText(v) {
  switch (v.screen) {
    case 'bad_user': return [v.message, 'Check what you typed and try again.'];
    case 'user_refused': return [v.message, v.next_step || 'Please ask IT staff at the desk.'];
    case 'no_key': return ['Nobody plugged a key in within ' + v.waited_secs + ' seconds.', 'Start again with your name, then plug the key in.'];
    default: return [v.message, v.next_step || 'Please ask IT staff at the desk.'];
  }
}

function render(s) {
  if (state && s.seq < state.seq) return;
  state = s;
  const operator = KS.session && KS.session.role === 'operator';
  for (const e of document.querySelectorAll('.operator-only')) e.classList.toggle('hidden', !operator);
  KS.show('operator', s.open || !operator);
  KS.show('take-key-out', s.open && s.take_key_out);

  const v = s.view || { screen: 'ask_user' };
  if (v.screen !== 'result' && !s.take_key_out) clearSlip();

  if (!s.open) {
    clearSlip();
    KS.text('closed-problem', s.problem || '');
    return screen('s-closed', 'closed');
  }
  if (s.sticky) {
    const r = s.sticky;
    KS.text('refusal-title', refusalTitle(r));
    const [message, next] = refusalText(r);
    KS.text('refusal-message', message);
    KS.text('refusal-next', next);
    return screen('s-refusal', 'refusal');
  }
  if (s.expecting && s.expecting.kind === 'pin') {
    const again = /again/i.test(s.expecting.prompt);
    KS.text('pin-title', again ? 'Type the same PIN again' : (v.screen === 'current_pin' ? "Type the key's current PIN" : 'Choose your PIN'));
    KS.text('pin-rules', v.screen === 'choose_pin' ? 'At least ' + v.rules : (v.reason || ''));
    KS.text('pin-problem', again ? '' : (v.problem || ''));
    const wasHidden = KS.$('s-pin').classList.contains('hidden');
    screen('s-pin', again ? 'pin_again' : 'pin');
    if (wasHidden || KS.$('stage').dataset.pinPrompt !== s.expecting.prompt) { KS.$('pin-input').value = ''; KS.$('pin-input').focus(); }
    KS.$('stage').dataset.pinPrompt = s.expecting.prompt;
    return;
  }
  switch (v.screen) {
    case 'plug_key':
      KS.text('plug-title', 'Hello ' + v.user + ': plug in your security key');
      KS.show('too-many', !!s.too_many_keys);
      KS.text('too-many', s.too_many_keys ? s.too_many_keys + ' keys are plugged in: leave only the one for you.' : '');
      return screen('s-plug', 'plug_key');
    case 'working':
      KS.text('working-text', v.text.charAt(0).toUpperCase() + v.text.slice(1) + '…');
      return screen('s-working', 'working');
    case 'touch_key':
      return screen('s-touch', 'touch_key');
    case 'replug_key':
      KS.text('replug-reason', v.reason);
      return screen('s-replug', 'replug_key');
    case 'choose_pin':
    case 'current_pin':
      KS.text('working-text', 'One moment…');
      return screen('s-working', 'working');
    case 'result':
      KS.text('done-message', v.message);
      KS.text('done-next', v.next_step || '');
      if (s.slip_ready && !slipShown && !slipFetching) fetchSlip();
      return screen('s-done', 'done');
    default: {
      const wasHidden = KS.$('s-ask').classList.contains('hidden');
      KS.show('key-first', !!s.key_before_user);
      screen('s-ask', 'ask_user');
      if (wasHidden) { KS.$('user-input').value = ''; KS.$('user-input').focus(); }
    }
  }
}

async function fetchSlip() {
  slipFetching = true;
  try {
    const r = await KS.post('/api/desk/slip');
    const slip = KS.$('slip');
    slip.textContent = r.text;
    slip.classList.remove('hidden');
    slipShown = true;
  } catch (e) {
    KS.text('desk-error', e.message);
  } finally {
    slipFetching = false;
  }
}

async function send(path, body, input) {
  KS.text('desk-error', '');
  try {
    const r = await KS.post(path, body);
    // The exit sequence typed as a name unlocks the screen: the console says where to go.
    if (r && r.go) location.replace(r.go);
  }
  catch (e) { KS.text('desk-error', e.message); }
  finally { if (input) input.value = ''; }
}

function sendUser() {
  const input = KS.$('user-input');
  const user = input.value.trim();
  if (!user) return;
  send('/api/desk/user', { user }, input);
}

function sendPin() {
  const input = KS.$('pin-input');
  const pin = input.value;
  input.value = '';
  if (!pin) return;
  send('/api/desk/pin', { pin }, null);
}

async function unlock() {
  const input = KS.$('exit-pin');
  const pin = input.value;
  input.value = '';
  if (!pin) return;
  try {
    const r = await KS.post('/api/desk/exit', { pin });
    location.replace(r.go || '/');
  } catch (e) {
    KS.text('exit-error', e.message);
  }
}

function openExit() {
  const [pin, seq] = [state && state.exit_pin, state && state.exit_sequence];
  const ways = [];
  if (pin) ways.push('type the operator PIN');
  if (seq) ways.push('scan or type the exit sequence as the user name');
  ways.push("or open the console's link again");
  KS.text('exit-how', 'To unlock this screen: ' + ways.join(', ') + '.');
  KS.show('exit-pin', pin); KS.show('exit-go', pin);
  KS.text('exit-error', '');
  KS.show('exit', true);
  if (pin) KS.$('exit-pin').focus();
}

document.addEventListener('DOMContentLoaded', async () => {
  const s = await KS.start();
  if (!s) return;
  KS.$('user-go').addEventListener('click', sendUser);
  KS.$('user-input').addEventListener('keydown', (e) => { if (e.key === 'Enter') sendUser(); });
  KS.$('pin-go').addEventListener('click', sendPin);
  KS.$('pin-input').addEventListener('keydown', (e) => { if (e.key === 'Enter') sendPin(); });
  KS.$('start-over').addEventListener('click', () => send('/api/desk/restart', {}, null));
  KS.$('open-desk').addEventListener('click', async () => {
    try { await KS.post('/api/desk/open'); KS.session.role = 'desk'; if (state) render(state); }
    catch (e) { KS.text('closed-problem', e.message); }
  });
  KS.$('operator').addEventListener('click', openExit);
  KS.$('exit-cancel').addEventListener('click', () => { KS.$('exit-pin').value = ''; KS.show('exit', false); });
  KS.$('exit-go').addEventListener('click', unlock);
  KS.$('exit-pin').addEventListener('keydown', (e) => { if (e.key === 'Enter') unlock(); });
  KS.live('/api/desk/events', render, render);
});
