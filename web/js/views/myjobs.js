// Job Saya: the tickets this technician holds a slot of (GET /api/v1/tickets
// answers a technician with their own only), each with the technician's own
// state (their entry of technicians[]) and the ticket's status. Order:
// today's jobs first (Jakarta calendar day), then the other active ones by
// time, then those finished.
//
// A list entry may lack the assignment state (older servers send it only on
// GET /tickets/{id}); then the active tickets' details are fetched for it.
//
// A claim reaches PostgreSQL through the persister a moment after the claim
// answer, so a job claimed seconds ago may not be listed yet: while this tab
// knows of such a claim, the list is fetched again a few times.

import { get, errorText } from '../api.js';
import { h, icon, replace } from '../dom.js';
import { jakartaDateTime, dayLabel, statusLabel, assignmentLabel, jakartaYmd } from '../format.js';
import * as outbox from '../outbox.js';
import { myAssignment, myState } from './fieldparts.js';

export const layout = 'narrow';

export function ticketStatusBadge(status) {
  return h('span', { class: `badge badge-status status-${status}` }, statusLabel(status));
}

const FINISHED = new Set(['work_done', 'invoicing', 'awaiting_payment', 'paid', 'closed', 'cancelled']);
const MINE_OVER = new Set(['done', 'replaced', 'cancelled']);

/** releasedNotice(code, reason) → the message a released technician reads. */
export function releasedNotice(code, reason, { testid = 'released-notice' } = {}) {
  return h('div', { class: 'banner banner-error released-notice', role: 'alert', dataset: { testid } },
    h('p', { class: 'strong released-title' }, icon('alert', 'icon icon-sm'), 'Anda dilepas dari job ini oleh CS'),
    h('p', { class: 'small' }, code ? `${code} · ` : '', reason ? `Alasan: ${reason}. ` : 'CS mencarikan teknisi pengganti. ',
      'Job ini tidak bisa Anda ambil lagi.'));
}

function ticketCard(t, state, waiting) {
  const when = dayLabel(t.scheduled_at);
  const href = `#/jobs/${t.id}`;
  return h('a', { class: `ticket-card${t.urgent ? ' is-urgent' : ''}`, href, dataset: { ticketId: t.id, state: state || '' } },
    h('div', { class: 'job-top' },
      t.urgent ? h('span', { class: 'badge badge-urgent' }, icon('alert', 'icon icon-sm'), 'MENDESAK') : null,
      h('span', { class: 'job-code' }, t.code),
      ticketStatusBadge(t.status)),
    h('h3', { class: 'job-title' }, t.problem),
    h('p', { class: 'my-state' },
      h('span', { class: 'muted small' }, 'Status Anda: '),
      h('span', { class: `badge badge-state state-${state || 'unknown'}`, dataset: { testid: 'my-state' } }, state ? assignmentLabel(state) : '…'),
      waiting ? h('span', { class: 'badge badge-wait' }, icon('cloudOff', 'icon icon-sm'), `${waiting} menunggu sinyal`) : null),
    state === 'replaced' ? h('p', { class: 'small released-line' }, 'Anda dilepas dari job ini oleh CS') : null,
    h('ul', { class: 'job-meta' },
      h('li', null, icon('user'), h('span', null, t.customer_name)),
      h('li', null, icon('pin'), h('span', null, [t.address, t.area].filter(Boolean).join(' · '))),
      h('li', null, icon('clock'), h('span', null, jakartaDateTime(t.scheduled_at),
        when ? h('span', { class: 'chip chip-when' }, when) : null))),
    h('span', { class: 'ticket-card-go', 'aria-hidden': 'true' }, 'Buka job →'));
}

/** group(t, state, today) → 0 today's active, 1 other active, 2 finished. */
export function jobGroup(t, state, today = jakartaYmd(new Date())) {
  if (FINISHED.has(t.status) || MINE_OVER.has(state)) return 2;
  return jakartaYmd(t.scheduled_at) === today ? 0 : 1;
}

/** sortJobs(list, stateOf) → today's active first (by time), then the other
 *  active ones (by time), then the finished ones (latest first). */
export function sortJobs(list, stateFn, today = jakartaYmd(new Date())) {
  const g = new Map(list.map((t) => [t, jobGroup(t, stateFn(t), today)]));
  return [...list].sort((a, b) => {
    const d = g.get(a) - g.get(b);
    if (d) return d;
    const ta = Date.parse(a.scheduled_at);
    const tb = Date.parse(b.scheduled_at);
    return g.get(a) === 2 ? tb - ta : ta - tb;
  });
}

const GROUP_TITLES = ['Hari ini', 'Berikutnya', 'Selesai / tidak aktif'];

export function mount(root, ctx) {
  let alive = true;
  let retries = 0;
  let timer = null;
  const list = h('div', { class: 'job-list', 'aria-live': 'polite' });
  // Jobs CS released this technician from while this tab was open: said at
  // the top, and their cards leave the list at once.
  const notices = h('div', { class: 'released-notices' });
  const drawNotices = () => replace(notices, [...ctx.feed.released.entries()]
    .filter(([, r]) => r.at > 0)
    .sort((a, b) => b[1].at - a[1].at)
    .map(([, r]) => releasedNotice(r.code, r.reason)));
  const refresh = h('button', { class: 'btn btn-ghost btn-sm', type: 'button', on: { click: () => load(true) } },
    icon('refresh'), 'Muat ulang');
  root.append(
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Job Saya'), h('p', { class: 'muted' }, 'Job yang sudah Anda ambil.')),
      refresh),
    notices,
    list);
  drawNotices();

  async function load(spinner) {
    clearTimeout(timer);
    if (spinner) {
      replace(list, h('div', { class: 'state state-loading', role: 'status' },
        h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat job Anda…'));
    }
    let tickets;
    try {
      const r = await get('/tickets?limit=100');
      const gone = (id) => (ctx.feed.released.get(id)?.at || 0) > 0;
      tickets = ((r && r.tickets) || []).filter((t) => !gone(t.id));
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
    // The list may not carry each technician's state: read the active
    // tickets' details for it (a handful at most).
    const uid = ctx.user.id;
    const listed = (t) => { const me = myAssignment(t, uid); return me && me.state ? me.state : ''; };
    const states = new Map(tickets.map((t) => [t.id, listed(t)]));
    const need = tickets.filter((t) => !states.get(t.id) && !FINISHED.has(t.status)).slice(0, 12);
    if (need.length) {
      const got = await Promise.all(need.map((t) => get(`/tickets/${t.id}`).catch(() => null)));
      if (!alive) return;
      for (const d of got) if (d) states.set(d.id, myState(d, uid));
    }
    const today = jakartaYmd(new Date());
    const sorted = sortJobs(tickets, (t) => states.get(t.id), today);
    const out = [];
    let last = -1;
    for (const t of sorted) {
      const g = jobGroup(t, states.get(t.id), today);
      if (g !== last) {
        out.push(h('h2', { class: 'group-title' }, GROUP_TITLES[g]));
        last = g;
      }
      out.push(ticketCard(t, states.get(t.id), outbox.pending(t.id).length));
    }
    replace(list, out);
  }

  // A job of ours that fills or changes on the board: its status moved.
  const unsubscribe = ctx.feed.subscribe((c) => {
    if (c.type === 'released') {
      drawNotices();
      const card = list.querySelector(`.ticket-card[data-ticket-id="${c.job.id}"]`);
      if (card) card.remove();
      clearTimeout(timer);
      timer = setTimeout(() => load(false), 300);
      return;
    }
    if (c.type === 'job' && ctx.mine.has(c.job.id) && c.event !== 'removed') {
      clearTimeout(timer);
      timer = setTimeout(() => load(false), 800);
    }
  });

  // Something queued was sent (or queued): its ticket's state changed.
  const unsubOutbox = outbox.subscribe((ev) => {
    if (ev.type === 'sent' || ev.type === 'failed') {
      clearTimeout(timer);
      timer = setTimeout(() => load(false), 300);
    }
  });

  load(true);
  return () => {
    alive = false;
    clearTimeout(timer);
    unsubscribe();
    unsubOutbox();
  };
}
