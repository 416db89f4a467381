'use strict';

document.addEventListener('DOMContentLoaded', async () => {
  const s = await KS.start();
  if (!s) return;
  const words = { idle: 'nothing running', desk: 'the desk is open', batch: 'a batch is running on the hub' };
  KS.text('activity', words[s.activity] || s.activity);
  KS.text('station', 'tenant ' + s.tenant + ' · keystation ' + s.version);
  KS.show('close-desk', s.activity === 'desk');
  KS.$('close-desk').addEventListener('click', async () => {
    await KS.post('/api/desk/close');
    KS.text('activity', 'the desk closes after the person at it');
    KS.show('close-desk', false);
  });
  KS.$('sign-out').addEventListener('click', async () => {
    await KS.post('/api/session/logout');
    // The sign-in page says why (the fragment is never sent to the server; a change of
    // fragment alone would not reload the page).
    history.replaceState(null, '', '/#signed-out');
    location.reload();
  });
});
