// A webhook's deliveries (filters, cursor paging, replay of failures) and one delivery's
// attempt timeline with Redeliver. Response bodies are shown as text only.

import { api, enc, EVENTS } from './api.js';
import { h, clear, time, facts, excerpt, flash, button, field } from './dom.js';
import { failed, onLeave } from './app.js';

/** `datetime-local` (the browser's zone) to RFC 3339, or '' when empty. */
function rfc3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

function statusBadge(status) {
  const cls = status === 'succeeded' ? 'ok' : status === 'failed' ? 'bad' : 'warn';
  return h('span', { class: `badge ${cls}` }, status);
}

export async function deliveriesSection(w) {
  const status = h('select', { id: 'filter-status', name: 'status' },
    h('option', { value: '' }, 'any'), ['pending', 'succeeded', 'failed'].map((s) => h('option', { value: s }, s)));
  const event = h('select', { id: 'filter-event', name: 'event' },
    h('option', { value: '' }, 'any'), EVENTS.map((e) => h('option', { value: e }, e)));
  const since = h('input', { id: 'filter-since', name: 'since', type: 'datetime-local', step: 1 });
  const perPage = h('select', { id: 'filter-limit', name: 'limit' }, [5, 20, 50, 200].map((n) => h('option', { value: n, selected: n === 20 }, String(n))));
  const list = h('div', { id: 'deliveries', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', id: 'next-page', hidden: true }, 'Next page');
  let cursor = null;

  const load = async (append) => {
    const query = { status: status.value, event: event.value, since: rfc3339(since.value), limit: perPage.value };
    if (append && cursor) query.cursor = cursor;
    let page;
    try {
      page = await api('GET', `/v1/webhooks/${enc(w.id)}/deliveries`, undefined, query);
    } catch (err) {
      clear(list).append(h('p', { class: 'error', role: 'alert' }, err.message));
      return;
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    let tbody = list.querySelector('tbody');
    if (!append || !tbody) {
      tbody = h('tbody');
      clear(list).append(h('table', { class: 'list' },
        h('caption', { class: 'sr-only' }, 'Deliveries, newest first'),
        h('thead', {}, h('tr', {}, ['Delivery', 'Event', 'Status', 'Attempts', 'Created', 'Reason'].map((t) => h('th', { scope: 'col' }, t)))),
        tbody));
    }
    for (const d of page.deliveries) {
      tbody.append(h('tr', { 'data-delivery-id': d.id, 'data-status': d.status },
        h('td', {}, h('a', { href: `#/deliveries/${enc(d.id)}` }, d.id), d.test ? h('span', { class: 'badge' }, 'test') : null),
        h('td', {}, d.event),
        h('td', {}, statusBadge(d.status)),
        h('td', {}, String(d.attempt_count)),
        h('td', {}, time(d.created_at)),
        h('td', {}, d.reason || '')));
    }
    if (!tbody.children.length) clear(list).append(h('p', { class: 'muted', id: 'no-deliveries' }, 'No deliveries match.'));
  };

  const filters = h('form', { method: 'post', class: 'inline filters', id: 'delivery-filters' },
    field('Status', status), field('Event', event), field('Since', since), field('Per page', perPage),
    h('button', { type: 'submit' }, 'Filter'),
    button('Refresh', () => load(false), { id: 'refresh-deliveries' }));
  filters.addEventListener('submit', (e) => { e.preventDefault(); load(false); });
  more.addEventListener('click', () => load(true));

  const replaySince = h('input', { id: 'replay-since', name: 'replay_since', type: 'datetime-local', step: 1 });
  const replay = h('form', { method: 'post', class: 'inline', id: 'replay' },
    field('Replay failed deliveries since', replaySince),
    h('button', { type: 'submit' }, 'Replay failed'));
  replay.addEventListener('submit', async (e) => {
    e.preventDefault();
    const sinceValue = rfc3339(replaySince.value);
    if (!sinceValue) {
      flash('Pick the time to replay from.', 'error');
      replaySince.focus();
      return;
    }
    try {
      const r = await api('POST', `/v1/webhooks/${enc(w.id)}/replay`, undefined, { status: 'failed', since: sinceValue });
      flash(`${r.replayed} failed deliver${r.replayed === 1 ? 'y' : 'ies'} queued again.`);
      await load(false);
    } catch (err) {
      flash(err.message, 'error');
    }
  });

  await load(false);
  return h('section', { class: 'card', id: 'deliveries-section' }, h('h2', {}, 'Deliveries'), filters, list, more, replay);
}

function attemptItem(a) {
  const outcome = a.status_code !== null && a.status_code !== undefined
    ? h('span', { class: `attempt-status ${a.status_code < 300 ? 'ok' : 'bad'}` }, `HTTP ${a.status_code}`)
    : h('span', { class: 'attempt-status bad' }, a.error || 'error');
  return h('li', { class: 'attempt', 'data-attempt': String(a.number) },
    h('p', {}, h('strong', {}, `#${a.number}`), ' ', time(a.at), ' · ', outcome, ' · ', `${a.duration_ms} ms`,
      a.retry_after ? ` · Retry-After: ${a.retry_after}` : ''),
    a.error_detail ? h('p', { class: 'muted' }, a.error_detail) : null,
    excerpt(a.response_body, 'excerpt response-body'));
}

export async function deliveryPage(root, id) {
  let d;
  try {
    d = await api('GET', `/v1/deliveries/${enc(id)}`);
  } catch (err) {
    return failed(root, err, `Delivery ${id}`);
  }
  const refresh = async () => {
    clear(root);
    await deliveryPage(root, id);
  };
  root.append(h('p', {}, h('a', { href: `#/webhooks/${enc(d.webhook_id)}` }, '← Webhook')));
  root.append(h('h1', {}, 'Delivery ', h('code', {}, d.id)));
  const attempts = d.attempts || [];
  root.append(h('section', { class: 'card', id: 'delivery' },
    facts([
      ['Status', h('span', { id: 'delivery-status' }, statusBadge(d.status))],
      ['Event', `${d.event} (${d.event_id})`],
      d.test ? ['Test send', 'yes'] : null,
      ['Attempts', String(d.attempt_count)],
      d.reason ? ['Reason', h('span', { id: 'delivery-reason' }, d.reason)] : null,
      ['Next retry', h('span', { id: 'next-retry' }, d.status === 'pending' && d.next_attempt_at ? time(d.next_attempt_at) : d.status === 'pending' ? 'queued' : 'none')],
      ['Created', time(d.created_at)],
    ]),
    h('div', { class: 'row' },
      button('Refresh', refresh, { id: 'refresh' }),
      button('Redeliver', async () => {
        try {
          await api('POST', `/v1/deliveries/${enc(d.id)}/redeliver`);
          flash('Redelivery queued.');
          await refresh();
        } catch (err) {
          flash(err.status === 409 ? 'Still pending: wait for the current attempts to finish.' : err.message, 'error');
        }
      }, { id: 'redeliver', disabled: d.status === 'pending' }))));
  root.append(h('section', { class: 'card' }, h('h2', {}, 'Attempts'),
    attempts.length
      ? h('ol', { class: 'timeline', id: 'attempts' }, attempts.map(attemptItem))
      : h('p', { class: 'muted', id: 'attempts' }, 'No attempt yet.')));
  if (d.status === 'pending') {
    // Follow a delivery in flight until it settles.
    const timer = setTimeout(() => { if (location.hash === `#/deliveries/${enc(id)}`) refresh(); }, 1500);
    onLeave(() => clearTimeout(timer));
  }
}
