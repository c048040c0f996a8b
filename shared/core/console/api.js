// The management API, called with the signed-in token as a bearer header. The token lives in
// sessionStorage (this tab only, gone when it closes), never in a URL or a cookie.

const KEY = 'patchbay.console.session';

export const session = {
  get() {
    try {
      const s = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      return s && typeof s.token === 'string' && typeof s.appId === 'string' ? s : null;
    } catch {
      return null;
    }
  },
  set(token, appId) {
    sessionStorage.setItem(KEY, JSON.stringify({ token, appId }));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

/** App tokens start with pbt_; anything else is the operator's admin token (any app). */
export function isAppToken(token) {
  return token.startsWith('pbt_');
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    // 422s name the field first: `payload.text: unknown variable …`, `headers.X-Token: …`.
    const m = code === 'invalid_field' ? /^(\(body\)|[^\s:]+): ([\s\S]*)$/.exec(message) : null;
    this.field = m ? m[1] : null;
    this.problem = m ? m[2] : message;
  }
}

/** The top-level spec field a 422's path names (`headers.X-Token` → `headers`). */
export function topField(path) {
  if (!path || path === '(body)') return null;
  return path.split(/[.[]/)[0];
}

export async function api(method, path, body, query) {
  const s = session.get();
  if (!s) throw new ApiError(401, 'unauthorized', 'not signed in');
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, v);
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const headers = { Authorization: `Bearer ${s.token}`, Accept: 'application/json' };
  const init = { method, headers, credentials: 'omit', cache: 'no-store', redirect: 'error', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, 'network', `could not reach the server: ${e.message}`);
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const err = json && json.error ? json.error : { code: 'http_' + response.status, message: text || response.statusText };
    throw new ApiError(response.status, err.code, err.message);
  }
  return json;
}

export const enc = encodeURIComponent;
export const appPath = (suffix = '') => `/v1/apps/${enc(session.get().appId)}${suffix}`;

// The pipeline's events, then the operational ones Patchbay raises about the app's webhooks.
export const EVENTS = [
  'version_published', 'version_processed', 'version_process_failed',
  'webhook.disabled', 'delivery.failed', 'webhook.recovered',
];
export const METHODS = ['POST', 'PUT', 'PATCH', 'GET', 'DELETE'];
