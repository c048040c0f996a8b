// Key lookup with block/unblock (the license-check API, on the same host).

import { api, enc } from './api.js';
import { h, clear, time, facts, flash, button, field } from './dom.js';

export async function keysPage(root) {
  const key = h('input', { id: 'key', name: 'key', autocomplete: 'off', spellcheck: 'false', required: true });
  const out = h('div', { id: 'key-result', 'aria-live': 'polite' });
  const show = (k) => {
    clear(out).append(facts([
      ['Key', h('code', {}, k.key)],
      ['App', k.app_id],
      ['Collection', k.collection_id || '—'],
      ['Registrations', String(k.registrations)],
      ['Blocked', h('span', { id: 'key-blocked' }, k.blocked ? 'yes' : 'no')],
      ['Created', time(k.created_at)],
    ]), button(k.blocked ? 'Unblock' : 'Block', async () => {
      try {
        show(await api('POST', `/v1/keys/${enc(k.key)}/${k.blocked ? 'unblock' : 'block'}`));
        flash(k.blocked ? 'Key unblocked.' : 'Key blocked: checks now answer 410.');
      } catch (err) {
        flash(err.message, 'error');
      }
    }, { id: 'key-toggle', class: k.blocked ? 'primary' : 'danger' }));
  };
  const form = h('form', { method: 'post', class: 'inline' }, field('License key', key), h('button', { type: 'submit', class: 'primary' }, 'Look up'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      show(await api('GET', `/v1/keys/${enc(key.value.trim())}`));
    } catch (err) {
      clear(out).append(h('p', { class: 'error', role: 'alert' }, err.status === 404 ? 'No such key for this app.' : err.message));
    }
  });
  root.append(h('h1', {}, 'Keys'), h('section', { class: 'card' }, form, out));
  key.focus();
}
