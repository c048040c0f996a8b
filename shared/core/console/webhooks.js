// The app's webhooks with their health, and one webhook's page: health and switch, editor,
// test send, signing-secret rotation, deliveries.

import { api, appPath, enc, EVENTS } from './api.js';
import { h, clear, time, facts, excerpt, flash, button, field } from './dom.js';
import { editor, takeCreatedSecret } from './editor.js';
import { deliveriesSection } from './deliveries.js';
import { failed } from './app.js';

/** Healthy, failing since …, or disabled (and why). */
export function health(w) {
  if (!w.enabled) {
    return h('span', { class: 'badge bad' }, 'Disabled', w.disabled_reason ? ` — ${w.disabled_reason}` : '',
      w.disabled_at ? [' (', time(w.disabled_at), ')'] : '');
  }
  if (w.failing_since) return h('span', { class: 'badge warn' }, 'Failing since ', time(w.failing_since));
  return h('span', { class: 'badge ok' }, 'Healthy');
}

export async function webhookList(root) {
  const { webhooks } = await api('GET', appPath('/webhooks'));
  root.append(h('div', { class: 'row' }, h('h1', {}, 'Webhooks'),
    h('a', { class: 'button primary', href: '#/webhooks/new', id: 'new-webhook' }, 'New webhook')));
  if (!webhooks.length) {
    root.append(h('p', { class: 'muted' }, 'No webhooks yet.'));
    return;
  }
  const rows = webhooks.map((w) => h('tr', { 'data-webhook-id': w.id },
    h('td', {}, h('a', { href: `#/webhooks/${enc(w.id)}` }, w.url)),
    h('td', {}, w.method),
    h('td', {}, w.events.join(', ')),
    h('td', {}, health(w)),
    h('td', {}, w.enabled ? null : button('Re-enable', async () => {
      await switchWebhook(w.id, true);
      root.replaceChildren();
      await webhookList(root);
    }))));
  root.append(h('table', { class: 'list', id: 'webhooks' },
    h('caption', { class: 'sr-only' }, 'Webhooks of this app'),
    h('thead', {}, h('tr', {}, ['URL', 'Method', 'Events', 'Health', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows)));
}

async function switchWebhook(id, enabled) {
  try {
    await api('POST', `/v1/webhooks/${enc(id)}/${enabled ? 'enable' : 'disable'}`);
    flash(enabled ? 'Webhook enabled.' : 'Webhook disabled.');
  } catch (err) {
    flash(err.message, 'error');
  }
}

export async function webhookPage(root, id) {
  let w;
  try {
    w = await api('GET', `/v1/webhooks/${enc(id)}`);
  } catch (err) {
    return failed(root, err, `Webhook ${id}`);
  }
  const rerender = async () => {
    clear(root);
    await webhookPage(root, id);
  };
  root.append(h('p', {}, h('a', { href: '#/webhooks' }, '← Webhooks')));
  root.append(h('h1', {}, 'Webhook ', h('code', {}, w.id)));

  const created = takeCreatedSecret(w.id);
  if (created) {
    root.append(h('section', { class: 'card notice', id: 'created-secret' },
      h('h2', {}, 'New signing secret'),
      h('p', {}, 'Shown once: store it with your receiver to verify signatures.'),
      h('code', { class: 'secret' }, created)));
  }

  root.append(h('section', { class: 'card', id: 'health' },
    h('h2', {}, 'Health'),
    facts([
      ['State', health(w)],
      ['Failing since', time(w.failing_since)],
      ['Created', time(w.created_at)],
      ['Updated', time(w.updated_at)],
    ]),
    w.enabled
      ? button('Disable', async () => { await switchWebhook(w.id, false); await rerender(); }, { id: 'disable' })
      : button('Re-enable', async () => { await switchWebhook(w.id, true); await rerender(); }, { id: 'enable', class: 'primary' })));

  root.append(testSection(w));
  root.append(secretSection(w));
  root.append(h('section', { class: 'card', id: 'edit' }, h('h2', {}, 'Settings'), editor(w, rerender)));
  root.append(await deliveriesSection(w));
  root.append(h('section', { class: 'card danger' }, h('h2', {}, 'Delete'),
    button('Delete this webhook', async () => {
      if (!window.confirm(`Delete webhook ${w.id}? Its deliveries stop.`)) return;
      try {
        await api('DELETE', `/v1/webhooks/${enc(w.id)}`);
        flash('Webhook deleted.');
        location.hash = '#/webhooks';
      } catch (err) {
        flash(err.message, 'error');
      }
    }, { class: 'danger' })));
}

function testSection(w) {
  const event = h('select', { id: 'test-event', name: 'event' }, EVENTS.map((e) => h('option', { value: e, selected: e === w.events[0] }, e)));
  const out = h('div', { id: 'test-result', 'aria-live': 'polite' });
  const send = h('button', { type: 'submit', id: 'test-send', class: 'primary' }, 'Test');
  const form = h('form', { method: 'post', class: 'inline' }, field('Sample event', event), send);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    send.disabled = true;
    clear(out).append(h('p', { class: 'muted' }, 'Sending…'));
    try {
      const r = await api('POST', `/v1/webhooks/${enc(w.id)}/test`, { event: event.value });
      clear(out).append(
        facts([
          ['Status', h('span', { id: 'test-status', class: r.status_code && r.status_code < 300 ? 'ok' : 'bad' },
            r.status_code !== null ? String(r.status_code) : `no response (${r.error})`)],
          r.error_detail ? ['Error', r.error_detail] : null,
          ['Latency', h('span', { id: 'test-latency' }, `${r.duration_ms} ms`)],
          ['Delivery', h('a', { href: `#/deliveries/${enc(r.delivery_id)}` }, r.delivery_id)],
        ]),
        h('h3', {}, 'Response body (excerpt)'),
        excerpt(r.response_body, 'excerpt response-body'),
        h('details', {}, h('summary', {}, 'Request sent'), excerpt(JSON.stringify(r.request, null, 2))));
    } catch (err) {
      clear(out).append(h('p', { class: 'error', role: 'alert' }, err.message));
    } finally {
      send.disabled = false;
    }
  });
  return h('section', { class: 'card', id: 'test' }, h('h2', {}, 'Test send'),
    h('p', { class: 'muted' }, 'Sends one signed request now with PatchKit’s sample values.'), form, out);
}

function overlap(untils) {
  if (!untils || !untils.length) return h('p', { class: 'muted', id: 'overlap' }, 'Only the current secret signs.');
  return h('p', { id: 'overlap' }, `${untils.length} previous secret${untils.length > 1 ? 's' : ''} still sign next to the current one, until `,
    untils.map((u, i) => [i ? ', ' : '', time(u)]), '.');
}

function secretSection(w) {
  const out = h('div', { 'aria-live': 'polite' }, overlap(w.previous_secrets_until));
  return h('section', { class: 'card', id: 'secret' }, h('h2', {}, 'Signing secret'),
    h('p', { class: 'muted' }, 'Rotating makes a new secret; the old one keeps signing alongside for 24 hours so your receiver can switch without a gap.'),
    out,
    button('Rotate secret', async () => {
      if (!window.confirm('Rotate the signing secret now?')) return;
      try {
        const r = await api('POST', `/v1/webhooks/${enc(w.id)}/rotate-secret`);
        clear(out).append(h('p', {}, 'New secret (shown once): ', h('code', { class: 'secret', id: 'new-secret' }, r.secret)),
          overlap(r.previous_secrets_until));
      } catch (err) {
        flash(err.message, 'error');
      }
    }, { id: 'rotate' }));
}
