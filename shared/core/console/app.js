// The console's shell: sign-in, the app switch (admin token only) and a hash router. Every
// page renders into <main> from API data with dom.js, never from HTML strings.

import { api, session, isAppToken, ApiError, enc } from './api.js';
import { h, clear, field, flash } from './dom.js';
import { webhookList, webhookPage } from './webhooks.js';
import { newWebhookPage } from './editor.js';
import { deliveryPage } from './deliveries.js';
import { keysPage } from './keys.js';

const main = () => document.getElementById('main');

/** Cleanups of the current page (timers), run before the next one renders. */
let leaving = [];
export function onLeave(fn) {
  leaving.push(fn);
}

function chrome() {
  const s = session.get();
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const out = document.getElementById('sign-out');
  const sw = document.getElementById('switch-app');
  nav.hidden = !s;
  out.hidden = !s;
  sw.hidden = !s || isAppToken(s.token);
  clear(who);
  if (s) {
    who.append(isAppToken(s.token) ? `App token · ${s.appId}` : 'Admin token (any app)');
    if (!isAppToken(s.token)) document.getElementById('switch-app-id').value = s.appId;
  }
}

function signInPage(root) {
  const token = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const appId = h('input', { id: 'app-id', name: 'app_id', autocomplete: 'off', spellcheck: 'false', required: true });
  const form = h('form', { id: 'sign-in', method: 'post', class: 'card narrow' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Paste an app token (pbt_…) or the operator’s admin token. It stays in this tab only (sessionStorage) and is sent as a bearer header.'),
    field('Token', token),
    field('App id', appId, 'The app your token belongs to; the admin token can open any app and switch later.'),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const el of form.querySelectorAll('.field-error')) clear(el);
    const t = token.value.trim();
    const a = appId.value.trim();
    session.set(t, a);
    try {
      await api('GET', `/v1/apps/${enc(a)}`);
      chrome();
      location.hash = '#/webhooks';
      route();
    } catch (err) {
      session.clear();
      const target = err.status === 404 ? 'app-id' : 'token';
      const msg = err.status === 404 ? 'No such app for this token.' : err.status === 401 ? 'This token is not valid.' : err.message;
      document.getElementById(`${target}-error`).append(msg);
      document.getElementById(target).setAttribute('aria-invalid', 'true');
      document.getElementById(target).focus();
    }
  });
  root.append(form);
  token.focus();
}

export function notFound(root, what) {
  root.append(h('section', { class: 'card', id: 'not-found' },
    h('h1', {}, 'Not found'),
    h('p', {}, `${what} does not exist, or belongs to another app (404).`),
    h('a', { href: '#/webhooks' }, 'Back to webhooks')));
}

/** Render an API failure on a page: 404s as "not found", others as text. */
export function failed(root, err, what) {
  if (err instanceof ApiError && err.status === 404) return notFound(root, what);
  if (err instanceof ApiError && err.status === 401) {
    session.clear();
    chrome();
    flash('Your token was refused (401): sign in again.', 'error');
    return route();
  }
  root.append(h('p', { class: 'error', role: 'alert' }, `${what}: ${err.message}`));
}

export async function route() {
  for (const fn of leaving.splice(0)) fn();
  const root = clear(main());
  chrome();
  if (!session.get()) return signInPage(root);
  const hash = location.hash.replace(/^#/, '') || '/webhooks';
  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === 'webhooks' && parts.length === 1) await webhookList(root);
    else if (parts[0] === 'webhooks' && parts[1] === 'new') await newWebhookPage(root);
    else if (parts[0] === 'webhooks' && parts.length === 2) await webhookPage(root, parts[1]);
    else if (parts[0] === 'deliveries' && parts.length === 2) await deliveryPage(root, parts[1]);
    else if (parts[0] === 'keys') await keysPage(root);
    else notFound(root, 'This page');
  } catch (err) {
    failed(root, err, 'Loading failed');
  }
  const heading = root.querySelector('h1');
  if (heading) document.title = `${heading.textContent} · Patchbay console`;
}

function start() {
  document.getElementById('sign-out').addEventListener('click', () => {
    session.clear();
    location.hash = '';
    route();
  });
  document.getElementById('switch-app').addEventListener('submit', (e) => {
    e.preventDefault();
    const s = session.get();
    const next = document.getElementById('switch-app-id').value.trim();
    if (s && next) {
      session.set(s.token, next);
      location.hash = '#/webhooks';
      route();
    }
  });
  window.addEventListener('hashchange', () => {
    route().then(() => main().focus({ preventScroll: true }));
  });
  route();
}

start();
