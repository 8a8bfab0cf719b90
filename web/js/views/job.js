// /#/jobs/{id} for a technician: the page the Telegram "Ambil Job" button
// opens. Three cases:
//   - the technician holds a slot: the job page with the field work
//     (./fieldwork.js: contact, Surat Tugas, check-in/out, BAST, Selesai);
//   - the job is on the board: its card with the claim button, live;
//   - neither: it is no longer available (filled or closed).
// A technician can read a ticket only while holding a slot (the API answers
// 404 otherwise), so the pool card is all there is to see before claiming.

import { get, errorText, ApiError } from '../api.js';
import { h, replace } from '../dom.js';
import { jobCard, claim } from './jobcard.js';
import { mountFieldwork } from './fieldwork.js';
import { myAssignment } from './fieldparts.js';
import { releasedNotice } from './myjobs.js';

export const layout = 'narrow';

export function mount(root, ctx) {
  const id = Number(ctx.params[0]);
  const { feed } = ctx;
  let alive = true;
  let unsubscribe = () => {};
  let fieldCleanup = null;
  let timer = null;
  const ui = { busy: false, message: '', kind: 'info' };
  const body = h('div', { 'aria-live': 'polite' });
  root.append(h('nav', { class: 'crumbs' }, h('a', { class: 'link', href: '#/papan' }, '← Papan Job'),
    h('a', { class: 'link', href: '#/job-saya' }, 'Job Saya')), body);

  const loading = (text) => replace(body, h('div', { class: 'state state-loading', role: 'status' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }), text));

  // The ticket if this technician holds a slot of it, else null.
  async function myTicket() {
    const r = await get('/tickets?limit=100');
    const t = ((r && r.tickets) || []).find((x) => x.id === id);
    if (t) return t;
    if (!ctx.mine.has(id)) return null;
    try {
      return await get(`/tickets/${id}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }

  // CS released this technician ("Cari Pengganti"): say so instead of the
  // job page, whose actions the server would refuse now.
  function showReleased(code, reason) {
    unsubscribe();
    if (fieldCleanup) {
      fieldCleanup();
      fieldCleanup = null;
    }
    body.setAttribute('aria-live', 'polite');
    replace(body, releasedNotice(code, reason),
      h('div', { class: 'state state-empty' },
        h('p', { class: 'muted' }, 'Job ini sudah dikembalikan ke papan untuk teknisi lain.'),
        h('a', { class: 'btn btn-primary btn-lg', href: '#/papan' }, 'Lihat Papan Job'),
        h('a', { class: 'btn btn-ghost btn-block', href: '#/job-saya' }, 'Job Saya')));
  }

  const unsubReleased = feed.subscribe((c) => {
    if (alive && c.type === 'released' && c.job.id === id) showReleased(c.job.code, c.reason);
  });

  function showTicket(t) {
    if (myAssignment(t, ctx.user.id)?.state === 'replaced') {
      showReleased(t.code, myAssignment(t, ctx.user.id).replaced_reason || '');
      return;
    }
    unsubscribe();
    if (fieldCleanup) return; // already showing it (a late afterClaim retry)
    ctx.setTitle(`${t.code}`);
    replace(body);
    // The job page announces its own changes (role=status/alert); a live
    // region around all of it would read the whole page on every update.
    body.removeAttribute('aria-live');
    fieldCleanup = mountFieldwork(body, t, ctx);
  }

  function showGone(text) {
    unsubscribe();
    replace(body, h('div', { class: 'state state-empty' },
      h('p', { class: 'state-title' }, text || 'Job ini sudah tidak tersedia'),
      h('p', { class: 'muted' }, 'Semua slot sudah diambil teknisi lain, atau job sudah ditutup.'),
      h('a', { class: 'btn btn-primary btn-lg', href: '#/papan' }, 'Lihat Papan Job')));
  }

  // After a successful claim the ticket becomes readable once the persister
  // has written the assignment (milliseconds); ask a few times.
  async function afterClaim(tries = 0) {
    if (!alive) return;
    let t = null;
    try {
      t = await myTicket();
    } catch {
      t = null;
    }
    if (!alive) return;
    if (t) showTicket(t);
    else if (tries < 10) timer = setTimeout(() => afterClaim(tries + 1), 300 + tries * 200);
  }

  function showPoolJob() {
    const job = feed.jobs.get(id);
    if (!job && ctx.mine.has(id)) {
      loading('Menyiapkan detail job Anda…'); // afterClaim shows it
      return;
    }
    if (!job) {
      showGone(ui.message && ui.kind === 'error' ? ui.message : null);
      return;
    }
    ctx.setTitle(`${job.code} · Ambil Job`);
    replace(body,
      h('div', { class: 'page-head' }, h('h1', null, 'Ambil Job')),
      jobCard(job, {
        role: 'ts',
        mine: ctx.mine.has(id),
        released: !ctx.mine.has(id) && feed.released.has(id),
        ui,
        onClaim: async () => {
          const r = await claim(ctx, job, ui, () => alive && showPoolJob());
          if (r.ok || r.code === 'already_claimed') afterClaim();
        },
      }),
      h('p', { class: 'muted small' }, 'Detail pelanggan dan alamat lengkap tampil setelah Anda mengambil job ini.'));
  }

  function waitForBoard() {
    loading('Memuat job…');
    unsubscribe = feed.subscribe(() => {
      if (!alive) return;
      if (feed.ready || feed.jobs.has(id)) showPoolJob();
      else if (feed.error) replace(body, h('div', { class: 'state state-error', role: 'alert' }, errorText(feed.error)));
    });
    if (feed.ready) showPoolJob();
  }

  (async () => {
    loading('Memuat job…');
    let t;
    try {
      t = await myTicket();
    } catch (err) {
      if (!alive) return;
      replace(body, h('div', { class: 'state state-error', role: 'alert' },
        h('p', null, errorText(err)),
        h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => location.reload() } }, 'Coba lagi')));
      return;
    }
    if (!alive) return;
    const rel = feed.released.get(id);
    if (rel && rel.at > 0) showReleased(rel.code, rel.reason);
    else if (t) showTicket(t);
    else waitForBoard();
  })();

  return () => {
    alive = false;
    clearTimeout(timer);
    unsubscribe();
    unsubReleased();
    if (fieldCleanup) fieldCleanup();
  };
}
