// Job Saya: the tickets this technician holds a slot of (GET /api/v1/tickets
// answers a technician with their own only).
//
// A claim reaches PostgreSQL through the persister a moment after the claim
// answer, so a job claimed seconds ago may not be listed yet: while this tab
// knows of such a claim, the list is fetched again a few times.

import { get, errorText } from '../api.js';
import { h, icon, replace } from '../dom.js';
import { jakartaDateTime, dayLabel, statusLabel } from '../format.js';

export const layout = 'narrow';

export function ticketStatusBadge(status) {
  return h('span', { class: `badge badge-status status-${status}` }, statusLabel(status));
}

function ticketCard(t) {
  const when = dayLabel(t.scheduled_at);
  const href = `#/jobs/${t.id}`;
  return h('a', { class: `ticket-card${t.urgent ? ' is-urgent' : ''}`, href, dataset: { ticketId: t.id } },
    h('div', { class: 'job-top' },
      t.urgent ? h('span', { class: 'badge badge-urgent' }, icon('alert', 'icon icon-sm'), 'MENDESAK') : null,
      h('span', { class: 'job-code' }, t.code),
      ticketStatusBadge(t.status)),
    h('h3', { class: 'job-title' }, t.problem),
    h('ul', { class: 'job-meta' },
      h('li', null, icon('user'), h('span', null, t.customer_name)),
      h('li', null, icon('pin'), h('span', null, [t.address, t.area].filter(Boolean).join(' · '))),
      h('li', null, icon('clock'), h('span', null, jakartaDateTime(t.scheduled_at),
        when ? h('span', { class: 'chip chip-when' }, when) : null))),
    h('span', { class: 'ticket-card-go', 'aria-hidden': 'true' }, 'Lihat detail →'));
}

export function mount(root, ctx) {
  let alive = true;
  let retries = 0;
  let timer = null;
  const list = h('div', { class: 'job-list', 'aria-live': 'polite' });
  const refresh = h('button', { class: 'btn btn-ghost btn-sm', type: 'button', on: { click: () => load(true) } },
    icon('refresh'), 'Muat ulang');
  root.append(
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Job Saya'), h('p', { class: 'muted' }, 'Job yang sudah Anda ambil.')),
      refresh),
    list);

  async function load(spinner) {
    clearTimeout(timer);
    if (spinner) {
      replace(list, h('div', { class: 'state state-loading', role: 'status' },
        h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat job Anda…'));
    }
    let tickets;
    try {
      const r = await get('/tickets?limit=100');
      tickets = (r && r.tickets) || [];
    } catch (err) {
      if (!alive) return;
      replace(list, h('div', { class: 'state state-error', role: 'alert' },
        h('p', null, errorText(err)),
        h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => load(true) } }, 'Coba lagi')));
      return;
    }
    if (!alive) return;
    const ids = new Set(tickets.map((t) => t.id));
    const missing = [...ctx.mine].filter((id) => !ids.has(id));
    if (missing.length && retries < 8) {
      retries += 1;
      timer = setTimeout(() => load(false), 400 * retries);
    }
    if (tickets.length === 0) {
      replace(list, h('div', { class: 'state state-empty' },
        h('p', { class: 'state-title' }, missing.length ? 'Menyiapkan job Anda…' : 'Belum ada job'),
        h('p', { class: 'muted' }, missing.length ? 'Job yang baru diambil sedang dicatat.' : 'Ambil job dari Papan Job.'),
        missing.length ? null : h('a', { class: 'btn btn-primary btn-lg', href: '#/papan' }, 'Ke Papan Job')));
      return;
    }
    // Active work first (by time), finished ones after.
    const done = new Set(['work_done', 'invoicing', 'awaiting_payment', 'paid', 'closed', 'cancelled']);
    tickets.sort((a, b) => (done.has(a.status) - done.has(b.status)) ||
      (Date.parse(a.scheduled_at) - Date.parse(b.scheduled_at)));
    replace(list, tickets.map(ticketCard));
  }

  // A job of ours that fills or changes on the board: its status moved.
  const unsubscribe = ctx.feed.subscribe((c) => {
    if (c.type === 'job' && ctx.mine.has(c.job.id) && c.event !== 'removed') {
      clearTimeout(timer);
      timer = setTimeout(() => load(false), 800);
    }
  });

  load(true);
  return () => {
    alive = false;
    clearTimeout(timer);
    unsubscribe();
  };
}
