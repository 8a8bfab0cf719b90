// /#/tiket for CS and admin: the ticket list with a status filter, and on
// wide screens the live job board beside it. The list is fetched again
// (quietly) when the board changes, since a claim changes a ticket's
// technicians and, when the last slot goes, its status.

import { get, errorText } from '../api.js';
import { h, icon, replace } from '../dom.js';
import { jakartaDate, jakartaTime, statusLabel } from '../format.js';
import { ticketStatusBadge } from './myjobs.js';
import { mountBoard } from './board.js';

export const layout = 'wide';

const FILTERS = [
  ['', 'Semua'],
  ['open', statusLabel('open')],
  ['assigned', statusLabel('assigned')],
  ['in_progress', statusLabel('in_progress')],
  ['work_done', statusLabel('work_done')],
  ['awaiting_payment', statusLabel('awaiting_payment')],
  ['closed', statusLabel('closed')],
  ['cancelled', statusLabel('cancelled')],
];

let lastFilter = ''; // kept while the tab lives, so "back" returns to the same filter

export function mount(root, ctx) {
  let alive = true;
  let timer = null;
  let filter = lastFilter;
  let seq = 0;

  const chips = h('div', { class: 'chips', role: 'group', 'aria-label': 'Saring status' });
  const table = h('div', { class: 'table-wrap', 'aria-live': 'polite' });
  const boardBox = h('div', { class: 'side-board' });
  const drawChips = () => replace(chips, FILTERS.map(([v, label]) =>
    h('button', {
      class: v === filter ? 'chip-btn active' : 'chip-btn', type: 'button', 'aria-pressed': v === filter ? 'true' : 'false',
      on: { click: () => { filter = v; lastFilter = v; drawChips(); load(true); } },
    }, label)));

  root.append(
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Tiket'), h('p', { class: 'muted' }, 'Kunjungan yang sudah dibuat, terbaru di atas.')),
      h('a', { class: 'btn btn-primary', href: '#/tiket/baru' }, '+ Tiket Baru')),
    h('div', { class: 'split' },
      h('section', { class: 'split-main', 'aria-label': 'Daftar tiket' }, chips, table),
      h('aside', { class: 'split-side', 'aria-label': 'Papan Job live' },
        h('div', { class: 'side-head' }, h('h2', null, 'Papan Job'), h('a', { class: 'link small', href: '#/papan' }, 'Buka penuh →')),
        boardBox)));
  drawChips();

  function rowFor(t) {
    const href = `#/tiket/${t.id}`;
    const techs = Array.isArray(t.technicians) ? t.technicians.length : 0;
    const tr = h('tr', { class: t.urgent ? 'is-urgent' : '', dataset: { ticketId: t.id } },
      h('td', { class: 'col-code' }, h('a', { class: 'link strong', href }, t.code),
        t.urgent ? h('span', { class: 'badge badge-urgent badge-xs' }, 'MENDESAK') : null),
      h('td', { class: 'col-cust' }, h('div', { class: 'strong' }, t.customer_name), h('div', { class: 'muted small clamp' }, t.problem)),
      h('td', { class: 'col-area' }, t.area || '-'),
      h('td', { class: 'col-when' }, h('div', null, jakartaDate(t.scheduled_at)), h('div', { class: 'muted small' }, jakartaTime(t.scheduled_at))),
      h('td', { class: 'col-techs' }, h('span', { class: techs >= t.techs_needed ? 'techs techs-full' : 'techs' }, `${techs}/${t.techs_needed}`)),
      h('td', { class: 'col-status' }, ticketStatusBadge(t.status)));
    tr.addEventListener('click', (ev) => {
      if (ev.target.closest('a')) return;
      ctx.navigate(`/tiket/${t.id}`);
    });
    return tr;
  }

  async function load(spinner) {
    const my = ++seq;
    if (spinner) {
      replace(table, h('div', { class: 'state state-loading', role: 'status' },
        h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat tiket…'));
    }
    let tickets;
    try {
      const q = filter ? `?status=${encodeURIComponent(filter)}&limit=200` : '?limit=200';
      const r = await get(`/tickets${q}`);
      tickets = (r && r.tickets) || [];
    } catch (err) {
      if (!alive || my !== seq) return;
      replace(table, h('div', { class: 'state state-error', role: 'alert' },
        h('p', null, errorText(err)),
        h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => load(true) } }, icon('refresh'), 'Coba lagi')));
      return;
    }
    if (!alive || my !== seq) return;
    if (tickets.length === 0) {
      replace(table, h('div', { class: 'state state-empty' },
        h('p', { class: 'state-title' }, filter ? `Tidak ada tiket berstatus "${statusLabel(filter)}"` : 'Belum ada tiket'),
        h('p', { class: 'muted' }, 'Buat tiket dari keluhan pelanggan; job-nya langsung masuk Papan Job.'),
        h('a', { class: 'btn btn-primary', href: '#/tiket/baru' }, '+ Tiket Baru')));
      return;
    }
    replace(table, h('table', { class: 'table' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Kode'), h('th', { scope: 'col' }, 'Pelanggan & keluhan'), h('th', { scope: 'col' }, 'Area'),
        h('th', { scope: 'col' }, 'Jadwal'), h('th', { scope: 'col' }, 'Teknisi'), h('th', { scope: 'col' }, 'Status'))),
      h('tbody', null, tickets.map(rowFor))));
  }

  const board = mountBoard(boardBox, ctx, { compact: true });
  const unsubscribe = ctx.feed.subscribe((c) => {
    if (c.type !== 'job' || c.event === 'removed') return;
    clearTimeout(timer);
    timer = setTimeout(() => load(false), 800); // after the persister caught up
  });

  load(true);
  return () => {
    alive = false;
    clearTimeout(timer);
    unsubscribe();
    board.cleanup();
  };
}
