// Building the page from data without ever parsing it as HTML: every string becomes a text
// node or an attribute value. (The CSP requires Trusted Types, so an HTML sink would throw.)

/** h('tag', {attrs, onclick: fn}, ...children): strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'value' || name === 'checked' || name === 'selected') {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** A time for people, in the browser's zone, with the ISO form as a tooltip. */
export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, d.toLocaleString());
}

/** A labelled field: <div><label for=id>…</label> input <p id=id-error></p></div>. */
export function field(label, input, hint) {
  const id = input.id;
  const error = h('p', { class: 'field-error', id: `${id}-error`, 'data-error-for': id });
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  input.setAttribute('aria-describedby', [hintEl && `${id}-hint`, `${id}-error`].filter(Boolean).join(' '));
  return h('div', { class: 'field', 'data-field': input.name || id },
    h('label', { for: id }, label), input, hintEl, error);
}

/** A <pre> holding whatever a receiver sent, as text. */
export function excerpt(body, cls = 'excerpt') {
  return h('pre', { class: cls }, body === null || body === undefined ? '(no body)' : String(body));
}

/** A small definition list from [term, value] pairs. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

let flashTimer;
/** A message in the live region at the top. */
export function flash(message, kind = 'info') {
  const el = document.getElementById('flash');
  clear(el).append(h('p', { class: `flash ${kind}` }, message));
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => clear(el), 8000);
}

export function button(label, onclick, attrs = {}) {
  return h('button', { type: 'button', ...attrs, onclick }, label);
}
