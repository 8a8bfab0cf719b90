// Papan Job: the open pool, live. Technicians claim from it (big buttons,
// phone first); CS and admin watch it read-only.
//
// The data is the shared PoolFeed (../live.js); this view only draws it.
// mountBoard() is also used by the CS ticket page as a compact side panel.

import { get, errorText } from '../api.js';
import { h, icon, replace } from '../dom.js';
import { jobCard, claim } from './jobcard.js';
import { myAssignment } from './fieldparts.js';

// Technicians read one column on a phone; CS gets a grid on a desktop.
export const layout = (user) => (user && user.role === 'ts' ? 'narrow' : 'wide');

/**
 * mountBoard(container, ctx, {compact}) → cleanup. Draws the feed into
 * container and keeps it current.
 */
export function mountBoard(container, ctx, { compact = false } = {}) {
  const { feed } = ctx;
  const isTs = ctx.user.role === 'ts';
  const ui = new Map(); // job id → {busy, message, kind}
  const fresh = new Set(); // ids that arrived live and have not been drawn yet
  let alive = true;

  const list = h('div', { class: compact ? 'job-list job-list-compact' : 'job-list', 'aria-live': 'polite', 'aria-busy': 'true' });
  const count = h('span', { class: 'count-pill', hidden: true });
  const banner = h('div', { class: 'banner banner-warn', role: 'status', hidden: true },
    'Koneksi terputus — papan mungkin tidak terbaru. Menghubungkan ulang…');
  container.append(banner, list);

  const uiOf = (id) => {
    if (!ui.has(id)) ui.set(id, { busy: false, message: '', kind: 'info' });
    return ui.get(id);
  };

  const cards = new Map(); // job id → {el, key}: the cards on screen
  let mode = ''; // 'cards' while the list shows cards, else a state message

  const showState = (...nodes) => {
    mode = 'state';
    cards.clear();
    replace(list, ...nodes);
  };

  const draw = () => {
    if (!alive) return;
    const jobs = feed.list();
    const open = jobs.filter((j) => !j.gone).length;
    count.hidden = !feed.ready;
    count.textContent = String(open);
    if (!compact) ctx.setTitle(open ? `(${open}) Papan Job` : 'Papan Job');
    list.setAttribute('aria-busy', feed.ready ? 'false' : 'true');
    banner.hidden = feed.ready || jobs.length === 0;

    if (!feed.ready && jobs.length === 0) {
      if (feed.error && feed.status !== 'connecting') {
        showState(h('div', { class: 'state state-error', role: 'alert' },
          h('p', null, errorText(feed.error)),
          h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => feed.kick() } }, icon('refresh'), 'Coba lagi')));
      } else if (feed.status === 'offline') {
        showState(h('div', { class: 'state state-error', role: 'alert' },
          h('p', null, 'Koneksi ke server terputus. Menghubungkan ulang…'),
          h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => feed.kick() } }, icon('refresh'), 'Hubungkan sekarang')));
      } else {
        showState(h('div', { class: 'state state-loading', role: 'status' },
          h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat papan job…'));
      }
      return;
    }
    if (jobs.length === 0) {
      showState(h('div', { class: 'state state-empty' },
        h('p', { class: 'state-title' }, 'Belum ada job terbuka'),
        h('p', { class: 'muted' }, isTs ? 'Job baru akan muncul di sini secara otomatis. Tidak perlu memuat ulang.'
          : 'Tiket baru yang butuh teknisi akan muncul di sini secara otomatis.')));
      return;
    }
    // Keyed update: a card is rebuilt only when what it shows changed, so an
    // arrival animation is not restarted by someone else's claim and the
    // focused button keeps its focus.
    if (mode !== 'cards') {
      replace(list);
      cards.clear();
      mode = 'cards';
    }
    const seen = new Set();
    jobs.forEach((job, i) => {
      seen.add(job.id);
      const mine = isTs && ctx.mine.has(job.id);
      const released = isTs && !mine && feed.released.has(job.id);
      const u = ui.get(job.id);
      const key = JSON.stringify([job, mine, released, u || null]);
      let entry = cards.get(job.id);
      if (!entry || entry.key !== key) {
        const flash = fresh.delete(job.id); // the arrival flash plays once, on the first drawing
        const el = jobCard(job, {
          role: isTs ? 'ts' : ctx.user.role,
          mine,
          released,
          ui: u,
          fresh: flash,
          detailHref: isTs ? `#/jobs/${job.id}` : `#/tiket/${job.id}`,
          onClaim: () => claim(ctx, job, uiOf(job.id), draw),
        });
        const hadFocus = entry && entry.el.contains(document.activeElement);
        if (entry && entry.taken !== job.slots_taken) el.classList.add('is-bumped');
        if (entry) entry.el.replaceWith(el);
        entry = { el, key, taken: job.slots_taken };
        cards.set(job.id, entry);
        if (hadFocus) (el.querySelector('button:not(:disabled), a') || el).focus?.();
      }
      if (list.children[i] !== entry.el) list.insertBefore(entry.el, list.children[i] || null);
    });
    for (const [id, entry] of cards) {
      if (!seen.has(id)) {
        entry.el.remove();
        cards.delete(id);
      }
    }
  };

  const unsubscribe = feed.subscribe((c) => {
    if (c.type === 'job' && c.event === 'pool.opened') fresh.add(c.job.id);
    if (c.type === 'released') ui.delete(c.job.id);
    if (c.type === 'job' && c.event === 'removed') ui.delete(c.job.id);
    draw();
  });

  // Jobs this technician already holds (after a reload the tab's own
  // memory is empty): their cards say "Sudah diambil".
  if (isTs) {
    get('/tickets?limit=100').then((r) => {
      for (const t of (r && r.tickets) || []) {
        // A job CS released this technician from comes back on the board
        // (urgent), but it is not theirs and they may not take it again.
        if (myAssignment(t, ctx.user.id)?.state === 'replaced') {
          if (!feed.released.has(t.id)) feed.released.set(t.id, { code: t.code, reason: '', at: 0 });
        } else ctx.mine.add(t.id);
      }
      draw();
    }).catch(() => { /* the board works without it */ });
  }

  draw();
  return {
    count,
    cleanup() {
      alive = false;
      unsubscribe();
    },
  };
}

export function mount(root, ctx) {
  const isTs = ctx.user.role === 'ts';
  const count = h('span', { class: 'count-pill' });
  const head = h('div', { class: 'page-head' },
    h('div', null,
      h('h1', null, 'Papan Job ', count),
      h('p', { class: 'muted' }, isTs ? 'Siapa cepat dia dapat. Job baru muncul otomatis.'
        : 'Job yang sedang mencari teknisi, diperbarui langsung. Hanya teknisi yang dapat mengambil job.')));
  const body = h('div');
  root.append(head, body);
  const board = mountBoard(body, ctx);
  count.replaceWith(board.count);
  return board.cleanup;
}
