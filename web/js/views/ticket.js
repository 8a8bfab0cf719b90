// /#/tiket/{id} for CS and admin: one ticket. Refreshed when its job
// changes on the live board (a technician claimed a slot).

import { get, errorText } from '../api.js';
import { h, replace } from '../dom.js';
import { ticketDetail } from './ticketdetail.js';

export const layout = 'narrow';

export function mount(root, ctx) {
  const id = Number(ctx.params[0]);
  let alive = true;
  let timer = null;
  const body = h('div', { 'aria-live': 'polite' });
  root.append(h('nav', { class: 'crumbs' }, h('a', { class: 'link', href: '#/tiket' }, '← Semua tiket')), body);

  async function load(spinner) {
    if (spinner) {
      replace(body, h('div', { class: 'state state-loading', role: 'status' },
        h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat tiket…'));
    }
    try {
      const t = await get(`/tickets/${id}`);
      if (!alive) return;
      ctx.setTitle(t.code);
      replace(body, ticketDetail(t, { role: ctx.user.role }));
    } catch (err) {
      if (!alive) return;
      replace(body, h('div', { class: 'state state-error', role: 'alert' },
        h('p', null, errorText(err, { not_found: 'Tiket tidak ditemukan.' })),
        h('a', { class: 'btn btn-secondary', href: '#/tiket' }, 'Kembali ke daftar tiket')));
    }
  }

  // The assignment reaches PostgreSQL a moment after the live message.
  const unsubscribe = ctx.feed.subscribe((c) => {
    if (c.type === 'job' && c.job.id === id && c.event !== 'removed') {
      clearTimeout(timer);
      timer = setTimeout(() => load(false), 700);
    }
  });

  load(true);
  return () => {
    alive = false;
    clearTimeout(timer);
    unsubscribe();
  };
}
