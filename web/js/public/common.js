// What the customer's two pages share (web/public.html: /i/{token} the
// invoice, /r/{token} the rating): the token from the address, the calls to
// /api/v1/public/*, the Indonesian messages for a link that is wrong,
// expired or asked too often, and the page frame.
//
// No login and no session: calls go without cookies (credentials: 'omit'),
// and the token in the path is the only credential. It is never written
// anywhere else (no storage, no console, no query string of another call).

import { h, icon, replace } from '../dom.js';

const TZ = 'Asia/Jakarta';

/** pageFromPath('/i/abc') → {kind: 'invoice', token: 'abc'} ('rating' for
 *  /r/…); null when the address is neither. The server decides whether the
 *  token exists; here it only has to look like one (base64url). */
export function pageFromPath(pathname) {
  const m = /^\/([ir])\/([A-Za-z0-9_-]{1,200})\/?$/.exec(pathname || '');
  if (!m) return null;
  return { kind: m[1] === 'i' ? 'invoice' : 'rating', token: m[2] };
}

export class PublicError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message || code);
    this.name = 'PublicError';
    this.status = status; // 0: the server could not be reached
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

function retryAfterSeconds(v) {
  if (!v) return null;
  const n = Number(v);
  if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

/** call(method, path, body?) → the parsed JSON of a 2xx answer; throws
 *  PublicError otherwise. path is below /api/v1/public. */
export async function call(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/api/v1/public${path}`, init);
  } catch {
    throw new PublicError(0, 'network', '');
  }
  const text = await res.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.ok) return data;
  const e = (data && data.error) || {};
  throw new PublicError(res.status, e.code || `http_${res.status}`, e.message || '', retryAfterSeconds(res.headers.get('Retry-After')));
}

/** problem(err) → {title, text, retry} for an error that ends the page: a
 *  wrong link, an expired one, too many requests, no connection. retry says
 *  whether trying again can help. */
export function problem(err) {
  const s = err && err.status;
  if (s === 404) {
    return { title: 'Link tidak ditemukan', text: 'Periksa kembali link dari pesan WhatsApp kami, atau hubungi CS kami.', retry: false };
  }
  if (s === 410) {
    return { title: 'Link sudah kedaluwarsa, hubungi CS', text: 'Link ini sudah tidak berlaku. CS kami dapat mengirimkan link yang baru.', retry: false };
  }
  if (s === 429) {
    const wait = err.retryAfter ? ` (sekitar ${err.retryAfter} detik)` : '';
    return { title: 'Terlalu banyak permintaan, coba lagi sebentar lagi', text: `Tunggu sebentar${wait}, lalu tekan "Coba lagi".`, retry: true };
  }
  if (s === 0) {
    return { title: 'Tidak dapat terhubung', text: 'Periksa koneksi internet Anda, lalu coba lagi.', retry: true };
  }
  return { title: 'Layanan sedang terganggu', text: 'Maaf, coba lagi beberapa saat lagi.', retry: true };
}

/** problemView(err, onRetry) → the element that replaces the page's body. */
export function problemView(err, onRetry) {
  const p = problem(err);
  const heading = h('h1', { class: 'pub-problem-title', tabindex: '-1' }, p.title);
  const btn = p.retry && onRetry
    ? h('button', { class: 'pub-btn pub-btn-secondary', type: 'button', on: { click: onRetry } }, icon('refresh'), 'Coba lagi')
    : null;
  // A 429 names how long to wait: the button waits too, so a tap does not
  // spend another request on the same empty bucket.
  if (btn && err.status === 429 && err.retryAfter) {
    let left = Math.min(err.retryAfter, 120);
    btn.disabled = true;
    const label = () => replace(btn, icon('refresh'), left > 0 ? `Coba lagi (${left})` : 'Coba lagi');
    label();
    const t = setInterval(() => {
      left -= 1;
      label();
      if (left <= 0) {
        clearInterval(t);
        btn.disabled = false;
      }
    }, 1000);
  }
  return h('section', { class: `pub-problem pub-problem-${err && err.status === 429 ? 'wait' : 'bad'}`, role: 'alert' },
    h('span', { class: 'pub-problem-icon', 'aria-hidden': 'true' }, icon(err && err.status === 429 ? 'clock' : 'alert')),
    heading,
    h('p', null, p.text),
    btn);
}

/** loadingView(text) → a spinner with a status text. */
export function loadingView(text) {
  return h('div', { class: 'pub-loading', role: 'status' }, h('span', { class: 'pub-spinner', 'aria-hidden': 'true' }), text);
}

/** brand(company) → the company's name (and contact) at the top of a page. */
export function brand(company) {
  const c = company || {};
  return h('header', { class: 'pub-brand' },
    h('span', { class: 'pub-brand-mark', 'aria-hidden': 'true' }, initial(c.name)),
    h('div', { class: 'pub-brand-text' },
      h('div', { class: 'pub-brand-name' }, c.name || 'GSS'),
      c.address ? h('div', { class: 'pub-brand-sub' }, c.address) : null));
}

function initial(name) {
  const s = String(name || 'G').replace(/^(PT|CV|UD)\.?\s+/i, '').trim();
  return (s[0] || 'G').toUpperCase();
}

/** longDate(iso) → "8 Desember 2026", the calendar date in Jakarta ('' for
 *  a bad value). */
const longFmt = new Intl.DateTimeFormat('id-ID', { timeZone: TZ, day: 'numeric', month: 'long', year: 'numeric' });
export function longDate(v) {
  if (!v) return '';
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return '';
  const p = {};
  for (const x of longFmt.formatToParts(d)) p[x.type] = x.value;
  return `${p.day} ${p.month} ${p.year}`;
}

/** telHref("6281234567890") → "tel:+6281234567890" ('' when it is no number). */
export function telHref(phone) {
  let d = String(phone || '').replace(/\D+/g, '');
  if (d.startsWith('0')) d = `62${d.slice(1)}`;
  return d.length >= 8 ? `tel:+${d}` : '';
}

/** contactLine(company) → "Ada pertanyaan? Hubungi 0812…" with a tap-to-call
 *  link, or null when the company has no phone. */
export function contactLine(company, lead = 'Ada pertanyaan? Hubungi kami di') {
  const phone = company && company.phone;
  const href = telHref(phone);
  if (!phone) return null;
  return h('p', { class: 'pub-contact' }, icon('phone'), h('span', null, `${lead} `,
    href ? h('a', { href }, phone) : phone));
}

/** focusHeading(root): move the focus to the page's new heading, so a
 *  screen reader reads what changed (the result of a send, an error). */
export function focusHeading(root) {
  const el = root.querySelector('h1');
  if (el) {
    if (!el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
    el.focus({ preventScroll: false });
  }
}
