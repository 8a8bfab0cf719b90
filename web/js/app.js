// GSS web app: session, routes by role, the page frame (header, navigation,
// live indicator, toasts). Views live in ./views/, one module each, and
// export mount(root, ctx) → cleanup().
//
// Routes are hash routes (/#/jobs/12) because gssd serves only real files
// and "/" (docs/web.md). A request for /jobs/12 that the server maps to this
// page is rewritten to /#/jobs/12 at start-up, so the Telegram deep link
// works as soon as the server maps it.

import { get, post, setCsrf, onUnauthorized, ApiError } from './api.js';
import { h, icon, replace } from './dom.js';
import { roleLabel } from './format.js';
import { PoolFeed } from './live.js';
import * as outbox from './outbox.js';
import * as loginView from './views/login.js';
import * as boardView from './views/board.js';
import * as myJobsView from './views/myjobs.js';
import * as jobView from './views/job.js';
import * as ticketsView from './views/tickets.js';
import * as ticketView from './views/ticket.js';
import * as newTicketView from './views/newticket.js';
import * as homeView from './views/home.js';
import * as monitorView from './views/monitor.js';
import * as invoicesView from './views/invoices.js';
import * as invoiceView from './views/invoice.js';
import * as accountsView from './views/accounts.js';
import * as inboxView from './views/inbox.js';
import * as profileView from './views/profile.js';

const ROUTES = [
  { re: /^\/login$/, view: loginView, public: true, title: 'Masuk' },
  { re: /^\/papan$/, view: boardView, roles: ['ts', 'cs', 'admin'], title: 'Papan Job' },
  { re: /^\/job-saya$/, view: myJobsView, roles: ['ts'], title: 'Job Saya' },
  { re: /^\/jobs\/(\d{1,15})$/, view: jobView, roles: ['ts'], title: 'Detail Job', csRedirect: (m) => `/tiket/${m[1]}` },
  { re: /^\/tiket$/, view: ticketsView, roles: ['cs', 'admin'], title: 'Tiket' },
  { re: /^\/tiket\/baru$/, view: newTicketView, roles: ['cs', 'admin'], title: 'Tiket Baru' },
  { re: /^\/tiket\/(\d{1,15})$/, view: ticketView, roles: ['cs', 'admin'], title: 'Detail Tiket' },
  { re: /^\/monitor$/, view: monitorView, roles: ['cs', 'admin'], title: 'Monitor Kunjungan' },
  { re: /^\/invoice$/, view: invoicesView, roles: ['cs', 'sales', 'admin'], title: 'Invoice' },
  { re: /^\/invoice\/(\d{1,15})$/, view: invoiceView, roles: ['cs', 'sales', 'admin'], title: 'Invoice' },
  { re: /^\/akun$/, view: accountsView, roles: ['admin'], title: 'Akun Pengguna' },
  { re: /^\/beranda$/, view: homeView, roles: ['sales', 'admin'], title: 'Beranda' },
  // /inbox, /inbox/12 (one chat), /inbox/12/pelanggan (its customer's data)
  { re: /^\/inbox(?:\/(\d{1,15})(\/pelanggan)?)?$/, view: inboxView, roles: ['cs', 'admin'], title: 'Inbox WhatsApp' },
  { re: /^\/profile$/, view: profileView, roles: ['ts', 'cs', 'sales', 'admin'], title: 'Profil' },
];

const NAV = {
  ts: [['/papan', 'Papan Job'], ['/job-saya', 'Job Saya'], ['/profile', 'Profil']],
  cs: [['/tiket', 'Tiket'], ['/inbox', 'Inbox'], ['/tiket/baru', 'Tiket Baru'], ['/monitor', 'Monitor'], ['/invoice', 'Invoice'], ['/papan', 'Papan Job'], ['/profile', 'Profil']],
  admin: [['/tiket', 'Tiket'], ['/inbox', 'Inbox'], ['/tiket/baru', 'Tiket Baru'], ['/monitor', 'Monitor'], ['/invoice', 'Invoice'], ['/papan', 'Papan Job'], ['/akun', 'Akun'], ['/profile', 'Profil']],
  sales: [['/invoice', 'Approval Invoice'], ['/profile', 'Profil']],
};

const HOME = { ts: '/papan', cs: '/tiket', admin: '/tiket', sales: '/invoice' };

const LIVE_TEXT = { connecting: 'Menghubungkan…', live: 'Live', offline: 'Terputus', idle: '' };

const state = {
  user: null,
  feed: new PoolFeed(),
  cleanup: null,
  intended: null, // route asked for before login, opened after it
  mine: new Set(), // job ids this technician claimed in this tab (before the list catches up)
  notice: null, // one-off message for the login page ("Sesi berakhir")
  loggingOut: false,
  outboxUnsub: null, // the waiting banner's subscription
  inboxBadge: null, // the Inbox link's unread count (cs/admin)
  inboxTimer: null,
  inboxSeq: 0,
};

const root = document.getElementById('app');

// ---- toasts ---------------------------------------------------------------

const toasts = h('div', { class: 'toasts', 'aria-live': 'polite', 'aria-atomic': 'false' });

/** toast(text, kind): a short message at the bottom; kind ok | error | info. */
function toast(text, kind = 'info') {
  const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  toasts.appendChild(t);
  // A burst (an outbox emptying) must not cover a phone's screen.
  while (toasts.children.length > 2) toasts.firstElementChild.remove();
  setTimeout(() => t.classList.add('toast-out'), 4200);
  setTimeout(() => t.remove(), 4600);
}

// ---- frame ----------------------------------------------------------------

const frame = {
  header: null,
  nav: null,
  live: null,
  main: h('main', { class: 'main', id: 'main', tabindex: '-1' }),
};

function currentPath() {
  const p = location.hash.replace(/^#/, '');
  return p.startsWith('/') ? p : '/';
}

/** navigate('/papan'): go to a route (adds a history entry). */
function navigate(path, { replace: rep = false } = {}) {
  const target = `#${path}`;
  if (location.hash === target) {
    render();
    return;
  }
  if (rep) {
    history.replaceState(null, '', target);
    render();
  } else {
    location.hash = target; // hashchange renders
  }
}

function liveIndicator() {
  const text = h('span', { class: 'live-text' });
  const el = h('span', { class: 'live', role: 'status', title: 'Status koneksi papan job' },
    h('span', { class: 'live-dot', 'aria-hidden': 'true' }), text);
  const update = (s) => {
    el.dataset.state = s;
    text.textContent = LIVE_TEXT[s] || '';
  };
  update(state.feed.status);
  state.feed.subscribe((c) => {
    if (c.type === 'status') update(c.status);
  });
  return el;
}

// "Menunggu sinyal: 1 check-in, 1 foto": what the phone still holds for the
// server (../outbox.js), on every page, until it is sent.
function outboxBar() {
  const text = h('span', { class: 'outbox-text', dataset: { testid: 'outbox-text' } });
  const btn = h('button', { class: 'btn btn-sm btn-outbox', type: 'button', on: { click: () => outbox.flush(true) } }, 'Kirim sekarang');
  const el = h('div', { class: 'outbox-bar', role: 'status', hidden: true, dataset: { testid: 'outbox-bar' } },
    icon('cloudOff'), text, btn);
  const update = () => {
    const list = outbox.pending();
    el.hidden = list.length === 0;
    if (!list.length) return;
    const what = outbox.summary(list);
    const busy = list.some((i) => outbox.sending(i.id));
    el.dataset.state = busy ? 'sending' : navigator.onLine ? 'waiting' : 'offline';
    text.textContent = busy ? `Mengirim: ${what}` : navigator.onLine ? `Menunggu dikirim: ${what}` : `Menunggu sinyal: ${what}`;
    btn.hidden = busy || !navigator.onLine;
  };
  if (state.outboxUnsub) state.outboxUnsub();
  state.outboxUnsub = outbox.subscribe((ev) => {
    if (ev.type === 'change') update();
  });
  update();
  return el;
}

function buildHeader(user) {
  state.inboxBadge = null;
  const links = (NAV[user.role] || []).map(([path, label]) => {
    if (path !== '/inbox') return h('a', { class: 'nav-link', href: `#${path}`, dataset: { path } }, label);
    // "Inbox 3 belum dibaca": the count is part of the link's name.
    const count = h('span', { class: 'nav-count-n' });
    state.inboxBadge = h('span', { class: 'nav-count', hidden: true, dataset: { testid: 'inbox-unread' } },
      count, h('span', { class: 'sr-only' }, ' belum dibaca'));
    state.inboxBadge.count = count;
    return h('a', { class: 'nav-link', href: `#${path}`, dataset: { path } }, label, ' ', state.inboxBadge);
  });
  frame.nav = h('nav', { class: links.length > 1 ? 'nav' : 'nav nav-single', 'aria-label': 'Menu utama' }, links);
  const showLive = user.role !== 'sales';
  frame.live = showLive ? liveIndicator() : null;
  const logout = h('button', { class: 'btn btn-ghost btn-sm', type: 'button', on: { click: doLogout } }, 'Keluar');
  frame.header = h('header', { class: 'topbar' },
    h('div', { class: 'topbar-inner' },
      // The name starts with the visible text (WCAG 2.5.3, label in name).
      h('a', { class: 'brand', href: `#${HOME[user.role] || '/'}` },
        h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, 'G'),
        h('span', { class: 'brand-text' }, 'GSS'),
        h('span', { class: 'sr-only' }, ', ke beranda')),
      frame.nav,
      h('div', { class: 'topbar-right' },
        frame.live,
        h('span', { class: 'who' },
          h('span', { class: 'who-name' }, user.name),
          h('span', { class: 'who-role' }, roleLabel(user.role))),
        logout)),
    user.role === 'ts' ? outboxBar() : null);
  return frame.header;
}

function showFrame(withHeader) {
  if (withHeader) replace(root, buildHeader(state.user), frame.main, toasts);
  else replace(root, frame.main, toasts);
  root.dataset.role = state.user ? state.user.role : '';
}

function markNav(path) {
  if (!frame.nav) return;
  for (const a of frame.nav.querySelectorAll('.nav-link')) {
    const on = path === a.dataset.path || (a.dataset.path === '/tiket' && /^\/tiket\/\d/.test(path)) ||
      (a.dataset.path === '/inbox' && /^\/inbox\//.test(path)) ||
      (a.dataset.path === '/invoice' && /^\/invoice\/\d/.test(path)) ||
      (a.dataset.path === '/papan' && /^\/jobs\//.test(path) && !state.mine.has(Number(path.split('/')[2])));
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// ---- the Inbox badge (cs/admin; docs/web.md "Inbox") ---------------------------

/** setInboxUnread(n): the count on the Inbox link (hidden at 0). */
function setInboxUnread(n) {
  const b = state.inboxBadge;
  if (!b) return;
  const v = Number(n);
  b.hidden = !(Number.isInteger(v) && v > 0);
  b.count.textContent = v > 99 ? '99+' : String(v);
}

// unread_total of GET /inbox, asked again (coalesced) on every inbox.*
// event and every new socket: the events say what changed, not the count.
function refreshInboxBadge(delay = 300) {
  clearTimeout(state.inboxTimer);
  state.inboxTimer = setTimeout(async () => {
    const my = ++state.inboxSeq;
    try {
      const r = await get('/inbox?limit=1');
      if (my === state.inboxSeq && r) setInboxUnread(r.unread_total);
    } catch {
      /* no inbox on this server yet, or offline: the badge stays as it was */
    }
  }, delay);
}

function watchInbox(feed) {
  feed.subscribe((c) => {
    if (c.type === 'inbox' || (c.type === 'resync' && c.reason === 'open')) refreshInboxBadge();
  });
  refreshInboxBadge(0);
}

// ---- session ----------------------------------------------------------------

// "Cari Pengganti" released this technician from a job: it is no longer
// theirs, wherever they are in the app. Job Saya and the job page show it
// themselves; elsewhere a toast says it.
function watchReleases(feed) {
  feed.subscribe((c) => {
    if (c.type !== 'released') return;
    state.mine.delete(c.job.id);
    const path = currentPath();
    if (path === '/job-saya' || path === `/jobs/${c.job.id}`) return;
    toast(`Anda dilepas dari job ${c.job.code || c.job.id} oleh CS`, 'error');
  });
}

function startSession(user, csrf) {
  state.user = user;
  setCsrf(csrf);
  state.feed.userId = user.role === 'ts' ? user.id : null;
  if (user.role === 'ts') watchReleases(state.feed);
  if (user.role === 'cs' || user.role === 'admin') watchInbox(state.feed);
  // Sales get the socket for the invoice events only: the pool is not theirs
  // (GET /api/v1/pool is 403), so their feed fetches no snapshot.
  state.feed.pool = user.role !== 'sales';
  if (user.role === 'ts' || user.role === 'cs' || user.role === 'admin' || user.role === 'sales') state.feed.start();
  // Check-ins and uploads kept on this phone are sent for their own user only.
  outbox.setUser(user.role === 'ts' ? user.id : null);
  showFrame(true);
}

function endSession(notice) {
  state.feed.stop();
  state.feed = new PoolFeed(); // drop every subscriber of the old session
  state.user = null;
  state.mine.clear();
  clearTimeout(state.inboxTimer);
  state.inboxSeq++;
  state.inboxBadge = null;
  outbox.setUser(null);
  if (state.outboxUnsub) state.outboxUnsub();
  state.outboxUnsub = null;
  setCsrf(null);
  state.notice = notice || null;
  frame.nav = null;
  showFrame(false);
}

async function doLogout() {
  // Close our own socket first: the server ends the session's sockets on
  // logout (1008), which must not read as "session expired" here.
  state.loggingOut = true;
  state.feed.stop();
  try {
    await post('/auth/logout', {}, { auth: false });
  } catch {
    /* the session may already be gone: leave anyway */
  }
  state.loggingOut = false;
  unmount();
  endSession({ text: 'Anda telah keluar.', kind: 'info' });
  navigate('/login');
}

onUnauthorized(() => {
  if (!state.user || state.loggingOut) return;
  state.intended = currentPath();
  unmount();
  endSession({ text: 'Sesi Anda telah berakhir. Silakan masuk lagi.', kind: 'error' });
  navigate('/login', { replace: true });
});

// ---- routing ------------------------------------------------------------------

function unmount() {
  if (state.cleanup) {
    try {
      state.cleanup();
    } catch (err) {
      console.error('view cleanup failed', err);
    }
    state.cleanup = null;
  }
}

function render() {
  // "/tiket/baru?customer=5&problem=…": the route is matched without the
  // query, which reaches the view as ctx.query (URLSearchParams).
  const full = currentPath();
  const qAt = full.indexOf('?');
  const path = qAt < 0 ? full : full.slice(0, qAt);
  const query = new URLSearchParams(qAt < 0 ? '' : full.slice(qAt + 1));
  let route = null;
  let match = null;
  for (const r of ROUTES) {
    match = r.re.exec(path);
    if (match) {
      route = r;
      break;
    }
  }
  const user = state.user;
  if (!user) {
    if (!route || !route.public) {
      if (path !== '/' && path !== '/login') state.intended = full;
      navigate('/login', { replace: true });
      return;
    }
  } else {
    if (!route || route.public) {
      navigate(HOME[user.role] || '/beranda', { replace: true });
      return;
    }
    if (!route.roles.includes(user.role)) {
      if (route.csRedirect && (user.role === 'cs' || user.role === 'admin')) navigate(route.csRedirect(match), { replace: true });
      else navigate(HOME[user.role] || '/beranda', { replace: true });
      return;
    }
  }
  unmount();
  replace(frame.main);
  const layout = typeof route.view.layout === 'function' ? route.view.layout(user) : route.view.layout;
  frame.main.className = `main main-${layout || 'narrow'}`;
  document.title = `${route.title} · GSS`;
  markNav(path);
  const ctx = {
    user,
    feed: state.feed,
    mine: state.mine,
    params: match.slice(1),
    query,
    navigate,
    inboxUnread: setInboxUnread, // the inbox view knows the count first
    toast,
    setTitle(t) {
      document.title = `${t} · GSS`;
    },
    notice: state.notice,
    loggedIn(u, csrf) {
      state.notice = null;
      startSession(u, csrf);
      const next = state.intended;
      state.intended = null;
      navigate(next && next !== '/login' ? next : (HOME[u.role] || '/beranda'), { replace: true });
    },
  };
  state.notice = null;
  state.cleanup = route.view.mount(frame.main, ctx) || null;
}

window.addEventListener('hashchange', render);

// An action sent later (or refused) while its job page is not on screen:
// say so here (the job page shows it itself).
outbox.subscribe((ev) => {
  if (ev.type !== 'sent' && ev.type !== 'failed') return;
  if (currentPath() === `/jobs/${ev.item.ticket_id}`) return;
  const what = outbox.itemLabel(ev.item);
  if (ev.type === 'sent') toast(`Terkirim: ${what}`, 'ok');
  else toast(`${what} ditolak server: ${ev.text}`, 'error');
});

// ---- start ----------------------------------------------------------------------

// ---- Telegram Mini App launch (docs/telegram.md "Mini App login") ---------------

// Telegram opens a Mini App with its launch parameters in the fragment:
// #tgWebAppData=<initData, URL-encoded>&tgWebAppVersion=8.0&… . No Telegram
// script is loaded (the CSP allows none): the fragment is all we need.
// Returns the raw initData string, or null when not launched by Telegram.
function telegramLaunch() {
  if (!/^#(.*&)?tgWebAppData=/.test(location.hash)) return null;
  const data = new URLSearchParams(location.hash.slice(1)).get('tgWebAppData');
  // The fragment is a credential for a few minutes: off the address bar and
  // out of the history before anything else runs.
  history.replaceState(null, '', location.pathname + location.search);
  return data || null;
}

// The Direct Link button is https://t.me/<bot>/<app>?startapp=job_<id>:
// start_param "job_<id>" opens that job's claim page.
function startParamRoute(startParam) {
  const m = /^job_(\d{1,15})$/.exec(startParam || '');
  return m ? `/jobs/${m[1]}` : null;
}

// start_param read from the initData string in the page: only for routing
// (the job page asks the server for everything it shows), never trusted as
// a credential; the login answer's start_param is the validated one.
function unverifiedStartParam(initData) {
  try {
    return new URLSearchParams(initData).get('start_param');
  } catch {
    return null;
  }
}

const TG_FAIL = {
  telegram_not_linked: 'Akun Telegram ini belum terhubung ke akun GSS. Silakan masuk dengan username dan password.',
  init_data_expired: 'Data login dari Telegram sudah kedaluwarsa. Buka lagi dari Telegram, atau masuk dengan username dan password.',
  telegram_off: 'Login lewat Telegram belum diaktifkan. Silakan masuk dengan username dan password.',
};

/** Logs in with the launch data; → {user, csrf_token, start_param} or
 *  {notice} saying why not. */
async function telegramLogin(initData) {
  try {
    return await post('/auth/telegram', { init_data: initData }, { auth: false });
  } catch (err) {
    const text = (err instanceof ApiError && TG_FAIL[err.code]) ||
      (err instanceof ApiError && err.status === 429 ? 'Terlalu banyak percobaan masuk. Tunggu sebentar, lalu masuk dengan username dan password.' : null) ||
      'Masuk otomatis dari Telegram gagal. Silakan masuk dengan username dan password.';
    return { notice: { text, kind: 'error' } };
  }
}

async function boot() {
  const tgData = telegramLaunch();
  // /jobs/12 (the Telegram deep link, once the server maps it here) → /#/jobs/12.
  const deep = /^\/jobs\/(\d{1,15})\/?$/.exec(location.pathname);
  if (deep) history.replaceState(null, '', `/#/jobs/${deep[1]}`);
  // /invoices/7 (the Sales Telegram button "Lihat / Revisi") → /#/invoice/7.
  const deepInv = /^\/invoices\/(\d{1,15})\/?$/.exec(location.pathname);
  if (deepInv) history.replaceState(null, '', `/#/invoice/${deepInv[1]}`);

  replace(root, h('div', { class: 'boot', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat…'));
  let me = null;
  for (let attempt = 0; ; attempt++) {
    try {
      me = await get('/me', { auth: false });
      break;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) break; // not logged in
      if (attempt >= 2) {
        replace(root, h('div', { class: 'boot boot-error', role: 'alert' },
          h('p', null, 'Tidak dapat terhubung ke server GSS.'),
          h('button', { class: 'btn btn-primary', type: 'button', on: { click: () => location.reload() } }, 'Coba lagi')));
        return;
      }
      await new Promise((r) => setTimeout(r, 800 * (attempt + 1)));
    }
  }
  let next = null; // the route a Telegram launch asks for
  if (tgData && !(me && me.user)) {
    // Opened inside Telegram with no session: one tap, no password.
    const r = await telegramLogin(tgData);
    if (r.user) {
      me = { user: r.user, csrf_token: r.csrf_token };
      next = startParamRoute(r.start_param);
    } else {
      state.notice = r.notice;
      // after a password login, still open the job the button was for
      state.intended = startParamRoute(unverifiedStartParam(tgData));
    }
  } else if (tgData) {
    next = startParamRoute(unverifiedStartParam(tgData));
  }
  if (me && me.user) startSession(me.user, me.csrf_token);
  else showFrame(false);
  if (next && me && me.user) history.replaceState(null, '', `#${next}`);
  else if (tgData && !(me && me.user)) history.replaceState(null, '', '#/login');
  render();
}

boot();
