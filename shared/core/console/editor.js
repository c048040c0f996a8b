// The webhook editor: events, method, URL, headers, format, payload (and the optional timeout
// and retry schedule). The API's 422s appear at the field they name; a live preview renders
// the request with PatchKit's sample values through the same templates a delivery uses.

import { api, appPath, enc, topField, EVENTS, METHODS } from './api.js';
import { h, clear, field, flash, excerpt } from './dom.js';
import { onLeave } from './app.js';

const FIELDS = ['events', 'method', 'url', 'headers', 'format', 'payload', 'timeout', 'retry_schedule'];

let createdSecret = null;
/** The secret of the webhook just created, once (its page shows it). */
export function takeCreatedSecret(id) {
  if (createdSecret && createdSecret.id === id) {
    const s = createdSecret.secret;
    createdSecret = null;
    return s;
  }
  return null;
}

export async function newWebhookPage(root) {
  root.append(h('p', {}, h('a', { href: '#/webhooks' }, '← Webhooks')), h('h1', {}, 'New webhook'),
    h('section', { class: 'card' }, editor(null, null)));
}

function headersText(headers) {
  return Object.entries(headers || {}).map(([k, v]) => `${k}: ${v}`).join('\n');
}

/** `Name: value` lines to an object; a line without a colon is a local error at `headers`. */
function parseHeaders(text) {
  const out = {};
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const at = line.indexOf(':');
    if (at < 1) throw { field: 'headers', problem: `line ${i + 1}: write Name: value` };
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

/** The editor form; `w` null creates, else patches `w` and calls `onSaved`. */
export function editor(w, onSaved) {
  const spec = w || { events: ['version_published'], method: 'POST', url: 'https://', headers: {}, format: 'json',
    payload: { text: '{{app.display_name}} {{version.label}} is out' } };
  const events = h('fieldset', { id: 'events', class: 'field', 'data-field': 'events', 'aria-describedby': 'events-error' },
    h('legend', {}, 'Events'),
    EVENTS.map((e) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'events', value: e, checked: spec.events.includes(e) }), ` ${e}`)),
    h('p', { class: 'field-error', id: 'events-error', 'data-error-for': 'events' }));
  const method = h('select', { id: 'method', name: 'method' }, METHODS.map((m) => h('option', { value: m, selected: m === spec.method }, m)));
  const url = h('input', { id: 'url', name: 'url', type: 'text', value: spec.url, spellcheck: 'false', autocomplete: 'off', required: true });
  const headers = h('textarea', { id: 'headers', name: 'headers', rows: 3, spellcheck: 'false', value: headersText(spec.headers) });
  const format = h('select', { id: 'format', name: 'format' }, ['json', 'form'].map((f) => h('option', { value: f, selected: f === spec.format }, f)));
  const payload = h('textarea', { id: 'payload', name: 'payload', rows: 8, spellcheck: 'false', value: JSON.stringify(spec.payload ?? {}, null, 2) });
  const timeout = h('input', { id: 'timeout', name: 'timeout', type: 'text', value: spec.timeout || '', placeholder: 'default', autocomplete: 'off' });
  const retry = h('input', { id: 'retry_schedule', name: 'retry_schedule', type: 'text', value: spec.retry_schedule || '', placeholder: 'default', autocomplete: 'off' });
  const previewEvent = h('select', { id: 'preview-event', name: 'preview_event' }, EVENTS.map((e) => h('option', { value: e }, e)));
  const preview = h('div', { id: 'preview', 'aria-live': 'polite' });
  const formError = h('p', { class: 'field-error', id: 'form-error', role: 'alert' });
  const save = h('button', { type: 'submit', class: 'primary', id: 'save' }, w ? 'Save changes' : 'Create webhook');

  const form = h('form', { id: 'webhook-form', method: 'post', class: 'editor', novalidate: true },
    h('div', { class: 'cols' },
      h('div', {},
        events,
        field('Method', method),
        field('URL', url, 'Templates allowed, e.g. https://example.com/hooks/{{app.name}}'),
        field('Headers', headers, 'One per line: Name: value (templates allowed)'),
        field('Format', format, 'json sends a JSON body; form sends application/x-www-form-urlencoded'),
        field('Payload (JSON template)', payload, 'Strings may hold {{variables}} such as {{version.label}} or {{version.changes}}'),
        h('div', { class: 'cols two' },
          field('Timeout', timeout, 'e.g. 10s; empty for the default'),
          field('Retry schedule', retry, 'e.g. 30s,2m,10m; empty for the default')),
        formError,
        save),
      h('div', { class: 'preview' },
        h('h3', {}, 'Preview'),
        field('Sample values of', previewEvent),
        preview)));

  const clearErrors = () => {
    for (const el of form.querySelectorAll('.field-error')) clear(el);
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  };
  /** Show a problem at the field its path names; the form-level slot otherwise. */
  const showError = (path, problem, focus) => {
    const name = topField(path);
    const slot = name && FIELDS.includes(name) ? form.querySelector(`[data-error-for="${name}"]`) : formError;
    clear(slot).append(slot === formError && path ? `${path}: ${problem}` : path && path !== name ? `${path}: ${problem}` : problem);
    const input = name && form.querySelector(`#${name}`);
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      if (focus) (input.matches('fieldset') ? input.querySelector('input') : input).focus();
    }
  };

  /** The body from the form, or throws {field, problem} for what the browser can tell. */
  const body = () => {
    const b = {
      events: [...form.querySelectorAll('input[name=events]:checked')].map((c) => c.value),
      method: method.value,
      url: url.value.trim(),
      headers: parseHeaders(headers.value),
      format: format.value,
    };
    try {
      b.payload = payload.value.trim() ? JSON.parse(payload.value) : {};
    } catch (e) {
      throw { field: 'payload', problem: `not valid JSON: ${e.message}` };
    }
    b.timeout = timeout.value.trim() || null;
    b.retry_schedule = retry.value.trim() || null;
    if (!w) {
      if (!b.timeout) delete b.timeout;
      if (!b.retry_schedule) delete b.retry_schedule;
    }
    return b;
  };

  let previewTimer = null;
  let previewSeq = 0;
  const refreshPreview = async () => {
    const seq = ++previewSeq;
    clearErrors();
    let b;
    try {
      b = body();
    } catch (e) {
      showError(e.field, e.problem, false);
      clear(preview).append(h('p', { class: 'muted' }, 'Fix the highlighted field to see the request.'));
      return;
    }
    try {
      const r = await api('POST', appPath('/webhooks/preview'), { ...b, event: previewEvent.value });
      if (seq !== previewSeq) return;
      const req = r.request;
      clear(preview).append(
        h('p', { class: 'request-line' }, h('strong', {}, req.method), ' ', h('span', { id: 'preview-url' }, req.url)),
        excerpt(Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`).join('\n'), 'excerpt preview-headers'),
        req.body !== null ? excerpt(req.body, 'excerpt preview-body') : h('p', { class: 'muted' }, '(no body: sent as query parameters)'),
        h('p', { class: 'hint' }, 'webhook-id, webhook-timestamp and webhook-signature are added when it is sent.'));
    } catch (err) {
      if (seq !== previewSeq) return;
      if (err.code === 'invalid_field') showError(err.field, err.problem, false);
      clear(preview).append(h('p', { class: 'muted' }, err.code === 'invalid_field' ? 'Fix the highlighted field to see the request.' : err.message));
    }
  };
  const schedulePreview = () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, 350);
  };
  form.addEventListener('input', (e) => { if (e.target !== previewEvent) schedulePreview(); });
  form.addEventListener('change', schedulePreview);
  onLeave(() => clearTimeout(previewTimer));
  schedulePreview();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearTimeout(previewTimer);
    previewSeq++;
    clearErrors();
    let b;
    try {
      b = body();
    } catch (err) {
      return showError(err.field, err.problem, true);
    }
    save.disabled = true;
    try {
      if (w) {
        await api('PATCH', `/v1/webhooks/${enc(w.id)}`, b);
        flash('Saved.');
        if (onSaved) await onSaved();
      } else {
        const created = await api('POST', appPath('/webhooks'), b);
        createdSecret = { id: created.id, secret: created.secret };
        flash('Webhook created.');
        location.hash = `#/webhooks/${enc(created.id)}`;
      }
    } catch (err) {
      if (err.code === 'invalid_field') showError(err.field, err.problem, true);
      else clear(formError).append(err.message);
    } finally {
      save.disabled = false;
    }
  });
  return form;
}
