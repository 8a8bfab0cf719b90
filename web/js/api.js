// Talking to gssd's JSON API (/api/v1).
//
// Authentication is the HttpOnly session cookie the browser sends by itself;
// the login's bearer token is never stored. Every state-changing call
// carries X-CSRF-Token, kept in sessionStorage (per tab) and recovered from
// GET /api/v1/me after a reload or in a new tab.
//
// Every failure becomes an ApiError {status, code, message, retryAfter}:
// status 0 / code "network" when the server could not be reached.

const CSRF_KEY = 'gss.csrf';

let csrf = null;
try {
  csrf = sessionStorage.getItem(CSRF_KEY);
} catch {
  csrf = null; // storage disabled: /me gives it back on every load
}

let unauthorizedHandler = null;

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }
}

/** setCsrf(token): remember the CSRF token (null forgets it). */
export function setCsrf(token) {
  csrf = token || null;
  try {
    if (csrf) sessionStorage.setItem(CSRF_KEY, csrf);
    else sessionStorage.removeItem(CSRF_KEY);
  } catch {
    /* storage disabled: keep it in memory only */
  }
}

/** csrfToken() → the CSRF token to send (null before login). */
export function csrfToken() {
  return csrf;
}

/** refreshCsrf() → true when GET /me gave a token again (after a 403
 *  csrf_failed on a call that does not go through api()). */
export async function refreshCsrf(opts = {}) {
  const me = await once('GET', '/me', undefined, opts).catch(() => null);
  if (me && me.csrf_token) {
    setCsrf(me.csrf_token);
    return true;
  }
  return false;
}

/** sessionEnded(err): what api() does on a 401, for callers that do not go
 *  through api() (the XHR uploader). */
export function sessionEnded(err) {
  if (unauthorizedHandler) unauthorizedHandler(err);
}

/** onUnauthorized(fn): fn(err) runs when a call answers 401 (the session
 *  ended), except for the calls that pass {auth: false}. */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

function parseRetryAfter(v) {
  if (!v) return null;
  const n = Number(v);
  if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

async function once(method, path, body, opts) {
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', signal: opts.signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'server tidak dapat dihubungi');
  }
  let data = null;
  const text = await res.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.ok) return data;
  const e = (data && data.error) || {};
  throw new ApiError(res.status, e.code || `http_${res.status}`, e.message || res.statusText,
    parseRetryAfter(res.headers.get('Retry-After')));
}

/** api(method, path, body?, {auth, signal, headers}) → parsed JSON of a 2xx
 *  answer, or throws ApiError. path is below /api/v1 ("/pool"); headers are
 *  extra request headers (Idempotency-Key). */
export async function api(method, path, body, opts = {}) {
  const auth = opts.auth !== false;
  try {
    return await once(method, path, body, opts);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    // A lost or stale CSRF token (storage cleared, another tab logged in
    // again): fetch the session's token once and retry.
    if (err.status === 403 && err.code === 'csrf_failed' && auth) {
      if (await refreshCsrf(opts)) return once(method, path, body, opts);
    }
    if (err.status === 401 && auth && unauthorizedHandler) unauthorizedHandler(err);
    throw err;
  }
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);

/** errorText(err, known): an Indonesian sentence for an error; known maps
 *  API error codes to text for this call. */
export function errorText(err, known = {}) {
  if (err && err.code && known[err.code]) return known[err.code];
  if (!(err instanceof ApiError)) return 'Terjadi kesalahan tak terduga. Muat ulang halaman.';
  if (err.status === 0) return 'Tidak dapat terhubung ke server. Periksa koneksi internet Anda.';
  if (err.status === 401) return 'Sesi Anda telah berakhir. Silakan masuk lagi.';
  if (err.status === 403) return 'Anda tidak punya akses untuk tindakan ini.';
  if (err.status === 404) return 'Data tidak ditemukan.';
  if (err.status === 429) {
    return err.retryAfter ? `Terlalu banyak permintaan, coba lagi dalam ${err.retryAfter} detik.` : 'Terlalu banyak permintaan, coba lagi sebentar lagi.';
  }
  if (err.status === 503) return 'Layanan sedang tidak tersedia. Coba lagi sebentar lagi.';
  if (err.status >= 500) return 'Server mengalami gangguan. Coba lagi.';
  return `Permintaan ditolak: ${err.message}`;
}
