// /#/invoice for CS, Sales and admin: the invoices, and for Sales the
// approval queue ("Approval Invoice").
//
// GET /api/v1/invoices?status=…&limit=200 (docs/money.md) answers
// pending_approval first, oldest submission first, with age_s (seconds since
// submit, by the server's clock); then the rest, latest change first. Under
// "Semua" the page keeps that order in two sections, "Menunggu approval"
// and "Lainnya"; a chip shows one state only. Each row opens
// /#/invoice/{id}.
//
// Fresh without a reload: fetched again when the live feed says an invoice
// changed (invoice.updated, a burst fetched once) or after it resynced, when
// the window gets the focus back (Sales returning from Telegram), when the
// tab becomes visible, and by a fallback poll (every 60 s while the feed is
// up, every 30 s without one or while it is down). The age counts on between
// fetches from the server's age_s, so a wrong phone clock does not matter.

import { get, errorText } from '../api.js';
import { h, icon, replace } from '../dom.js';
import { rupiah, jakartaDateTime, invoiceStatusLabel } from '../format.js';
import { feedLive } from './invoice.js';

export const layout = 'wide';

/** ageText(7200) → "2 jam lalu"; "baru saja" under a minute, then minutes,
 *  hours, days. '' for a value that is not a number. */
export function ageText(seconds) {
  const s = Math.floor(Number(seconds));
  if (!Number.isFinite(s) || seconds === null || seconds === undefined) return '';
  if (s < 60) return 'baru saja';
  if (s < 3600) return `${Math.floor(s / 60)} menit lalu`;
  if (s < 86400) return `${Math.floor(s / 3600)} jam lalu`;
  return `${Math.floor(s / 86400)} hari lalu`;
}

// The fallback poll: every 60 s while the live feed is up (its events
// refetch at once), every 30 s without it.
const REFRESH_LIVE_MS = 60000;
const REFRESH_MS = 30000;
const LIVE_DEBOUNCE_MS = 400;
const OLD_S = 24 * 3600; // a submission waiting longer than a day is marked

const FILTERS = ['', 'pending_approval', 'revision_requested', 'draft', 'approved', 'sent', 'paid'];

let lastFilter = null; // per role, kept while the tab lives (back returns to it)

function statusBadge(status) {
  return h('span', { class: `badge badge-status invlist-status invlist-status-${status}` }, invoiceStatusLabel(status));
}

export function mount(root, ctx) {
  const sales = ctx.user.role === 'sales';
  let alive = true;
  let filter = lastFilter && lastFilter.role === ctx.user.role ? lastFilter.value : '';
  let seq = 0;
  let timer = null;
  let tick = null;
  let shown = null; // {invoices, at} of the last answer
  const title = sales ? 'Approval Invoice' : 'Invoice';
  ctx.setTitle(title);

  const chips = h('div', { class: 'chips', role: 'group', 'aria-label': 'Saring status invoice' });
  const search = h('input', {
    id: 'invlist-search', type: 'search', autocomplete: 'off', placeholder: 'mis. INV-2612-0001 atau Sari',
    on: { input: () => { if (shown) draw(shown.invoices); } },
  });
  const body = h('div', { class: 'invlist-list-body' });
  const updated = h('p', { class: 'muted small invlist-updated', 'aria-live': 'off' });
  const drawChips = () => replace(chips, FILTERS.map((v) =>
    h('button', {
      class: v === filter ? 'chip-btn active' : 'chip-btn', type: 'button', 'aria-pressed': v === filter ? 'true' : 'false',
      on: { click: () => { filter = v; lastFilter = { role: ctx.user.role, value: v }; drawChips(); load(true); } },
    }, v ? invoiceStatusLabel(v) : 'Semua')));

  root.append(
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, title),
        h('p', { class: 'muted' }, sales
          ? 'Invoice dari CS yang menunggu persetujuan Anda, paling lama di atas.'
          : 'Yang menunggu approval Sales di atas, lalu yang terbaru diubah.')),
      h('button', { class: 'btn btn-secondary btn-sm', type: 'button', on: { click: () => load(false, true) } }, icon('refresh'), 'Muat ulang')),
    h('div', { class: 'invlist-tools' }, chips,
      h('div', { class: 'field invlist-search' }, h('label', { for: 'invlist-search' }, 'Cari nomor, pelanggan, atau kode tiket'), search)),
    body, updated);
  drawChips();

  // The age of a pending invoice now: the server's age_s plus the time
  // since that answer.
  const ageNow = (inv) => (shown && typeof inv.age_s === 'number' ? inv.age_s + (Date.now() - shown.at) / 1000 : null);

  function ageCell(inv) {
    if (inv.status === 'pending_approval') {
      const a = ageNow(inv);
      const old = a !== null && a >= OLD_S;
      return h('span', { class: old ? 'invlist-age invlist-age-old' : 'invlist-age', dataset: { ageFor: inv.id } },
        icon('clock', 'icon icon-sm'), a === null ? '-' : `Diajukan ${ageText(a)}`);
    }
    return h('span', { class: 'muted small' }, inv.updated_at ? `Diubah ${jakartaDateTime(inv.updated_at)}` : '');
  }

  function rowFor(inv) {
    const pending = inv.status === 'pending_approval';
    const tr = h('tr', { class: pending ? 'invlist-row is-pending' : 'invlist-row', dataset: { invoiceId: inv.id } },
      h('td', { class: 'invlist-col-num' },
        h('a', { class: 'link strong', href: `#/invoice/${inv.id}` }, inv.number || `Invoice #${inv.id}`),
        h('span', { class: 'invlist-mobile-status' }, statusBadge(inv.status))),
      h('td', { class: 'invlist-col-cust' },
        h('div', { class: 'strong invlist-cust' }, inv.customer_name || '-'),
        h('div', { class: 'muted small' }, !inv.ticket_code ? '' : sales || !inv.ticket_id ? `Tiket ${inv.ticket_code}`
          : h('a', { class: 'link-quiet', href: `#/tiket/${inv.ticket_id}` }, `Tiket ${inv.ticket_code}`))),
      h('td', { class: 'invlist-col-total' }, rupiah(inv.total)),
      h('td', { class: 'invlist-col-status' }, statusBadge(inv.status)),
      h('td', { class: 'invlist-col-age' }, ageCell(inv)),
      h('td', { class: 'invlist-col-go' }, pending && (sales || ctx.user.role === 'admin')
        ? h('a', { class: 'btn btn-primary btn-sm', href: `#/invoice/${inv.id}`, tabindex: '-1', 'aria-hidden': 'true' }, 'Tinjau')
        : null));
    tr.addEventListener('click', (ev) => {
      if (ev.target.closest('a, button')) return;
      ctx.navigate(`/invoice/${inv.id}`);
    });
    return tr;
  }

  function table(list, caption) {
    return h('div', { class: 'table-wrap invlist-table' },
      h('table', { class: 'table' },
        caption ? h('caption', { class: 'sr-only' }, caption) : null,
        h('thead', null, h('tr', null,
          h('th', { scope: 'col' }, 'Nomor'), h('th', { scope: 'col' }, 'Pelanggan & tiket'),
          h('th', { scope: 'col', class: 'invlist-col-total' }, 'Total'), h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, 'Waktu'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Aksi')))),
        h('tbody', null, list.map(rowFor))));
  }

  function emptyQueue() {
    return h('div', { class: 'state state-empty invlist-empty-queue', dataset: { testid: 'queue-empty' } },
      h('span', { class: 'invlist-empty-mark', 'aria-hidden': 'true' }, icon('check')),
      h('p', { class: 'state-title' }, sales ? 'Tidak ada invoice yang menunggu approval' : 'Tidak ada yang menunggu approval Sales'),
      h('p', { class: 'muted' }, sales
        ? 'Semua sudah Anda tinjau. Invoice baru dari CS akan muncul di sini dengan sendirinya.'
        : 'Invoice yang diajukan CS muncul di sini sampai Sales menyetujuinya atau meminta revisi.'));
  }

  // The search box narrows what was fetched (number, customer, ticket code).
  function matches(inv, q) {
    return [inv.number, inv.customer_name, inv.ticket_code].some((v) => String(v || '').toLowerCase().includes(q));
  }

  function draw(all) {
    const q = search.value.trim().toLowerCase();
    const list = q ? all.filter((i) => matches(i, q)) : all;
    if (q && !list.length) {
      replace(body, h('div', { class: 'state state-empty' },
        h('p', { class: 'state-title' }, `Tidak ada invoice yang cocok dengan "${search.value.trim()}"`),
        h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => { search.value = ''; draw(all); search.focus(); } } }, 'Hapus pencarian')));
      return;
    }
    if (filter === 'pending_approval') {
      replace(body, list.length ? table(list, 'Menunggu approval') : emptyQueue());
      return;
    }
    if (filter) {
      replace(body, list.length ? table(list, invoiceStatusLabel(filter)) : h('div', { class: 'state state-empty' },
        h('p', { class: 'state-title' }, `Tidak ada invoice berstatus "${invoiceStatusLabel(filter)}"`),
        h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => { filter = ''; drawChips(); load(true); } } }, 'Lihat semua invoice')));
      return;
    }
    const pending = list.filter((i) => i.status === 'pending_approval');
    const rest = list.filter((i) => i.status !== 'pending_approval');
    if (!list.length) {
      replace(body, sales ? emptyQueue() : h('div', { class: 'state state-empty' },
        h('p', { class: 'state-title' }, 'Belum ada invoice'),
        h('p', { class: 'muted' }, 'Invoice dibuat dari halaman tiket yang sudah selesai dikerjakan ("Buat Invoice").'),
        h('a', { class: 'btn btn-secondary', href: '#/tiket' }, 'Ke daftar tiket')));
      return;
    }
    replace(body,
      h('section', { class: 'invlist-section', 'aria-labelledby': 'invlist-pending-title' },
        h('h2', { class: 'invlist-section-title', id: 'invlist-pending-title' }, 'Menunggu approval',
          pending.length ? h('span', { class: 'count-pill', dataset: { testid: 'pending-count' } }, String(pending.length)) : null),
        pending.length ? table(pending, 'Menunggu approval') : emptyQueue()),
      rest.length ? h('section', { class: 'invlist-section', 'aria-labelledby': 'invlist-rest-title' },
        h('h2', { class: 'invlist-section-title', id: 'invlist-rest-title' }, 'Lainnya'),
        table(rest, 'Invoice lainnya')) : null);
  }

  async function load(spinner, manual = false) {
    const my = ++seq;
    if (spinner) {
      replace(body, h('div', { class: 'state state-loading', role: 'status' },
        h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat invoice…'));
    }
    try {
      const q = filter ? `?status=${encodeURIComponent(filter)}&limit=200` : '?limit=200';
      const r = await get(`/invoices${q}`);
      if (!alive || my !== seq) return;
      const list = (r && r.invoices) || [];
      // A refresh that changes nothing but the ages leaves the rows (and the
      // keyboard focus in them) alone.
      const same = !spinner && shown && signature(list) === signature(shown.invoices);
      shown = { invoices: list, at: Date.now() };
      if (same) redrawAges();
      else draw(list);
      // Said under the list (not a toast over it), also after "Muat ulang".
      updated.textContent = `${manual ? 'Daftar diperbarui' : 'Diperbarui'} ${jakartaDateTime(new Date())}`;
    } catch (err) {
      if (!alive || my !== seq) return;
      // A quiet refresh that fails keeps the list on screen and says so.
      if (!spinner && shown) {
        updated.textContent = `Gagal memperbarui: ${errorText(err)}`;
        return;
      }
      replace(body, h('div', { class: 'state state-error', role: 'alert' },
        h('p', null, errorText(err)),
        h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => load(true) } }, icon('refresh'), 'Coba lagi')));
    }
  }

  const signature = (list) => JSON.stringify(list.map((i) => [i.id, i.status, i.total, i.updated_at, i.customer_name, i.ticket_code]));

  // Ages tick on screen between fetches.
  function redrawAges() {
    if (!shown) return;
    for (const el of body.querySelectorAll('[data-age-for]')) {
      const inv = shown.invoices.find((i) => String(i.id) === el.dataset.ageFor);
      if (inv) el.replaceWith(ageCell(inv));
    }
  }

  // Coming back to the tab fires both focus and visibilitychange: one fetch.
  let lastQuiet = 0;
  const refresh = () => {
    if (document.visibilityState !== 'visible' || Date.now() - lastQuiet < 2000) return;
    lastQuiet = Date.now();
    load(false);
  };
  window.addEventListener('focus', refresh);
  document.addEventListener('visibilitychange', refresh);
  // One tick every 30 s; with the feed up only every second one looks.
  let ticks = 0;
  timer = setInterval(() => {
    ticks += 1;
    if (feedLive(ctx) && ticks % (REFRESH_LIVE_MS / REFRESH_MS) !== 0) return;
    refresh();
  }, REFRESH_MS);
  tick = setInterval(redrawAges, 15000);

  // Live: any invoice.updated may move a row (a submit puts one at the top
  // of Sales' queue), so the list is fetched again, once for a burst. A
  // hidden tab waits for visibilitychange instead.
  let liveTimer = null;
  let unsubscribe = null;
  const liveRefresh = () => {
    clearTimeout(liveTimer);
    liveTimer = setTimeout(() => {
      if (!alive || document.visibilityState !== 'visible') return;
      lastQuiet = Date.now();
      load(false);
    }, LIVE_DEBOUNCE_MS);
  };
  if (ctx.feed && typeof ctx.feed.subscribe === 'function') {
    const off = ctx.feed.subscribe((c) => {
      if (c && (c.type === 'invoice' || c.type === 'resync')) liveRefresh();
    });
    if (typeof off === 'function') unsubscribe = off;
  }

  load(true);
  return () => {
    alive = false;
    clearInterval(timer);
    clearInterval(tick);
    clearTimeout(liveTimer);
    if (unsubscribe) unsubscribe();
    window.removeEventListener('focus', refresh);
    document.removeEventListener('visibilitychange', refresh);
  };
}
