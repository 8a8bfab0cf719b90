// One job of the pool as a card (the board and the claim page share it),
// and the claim action with its answers in Indonesian.

import { post, errorText } from '../api.js';
import { h, icon } from '../dom.js';
import { jakartaDateTime, dayLabel } from '../format.js';

export const CLAIM_ERRORS = {
  job_full: 'Sudah penuh — diambil teknisi lain',
  already_claimed: 'Anda sudah mengambil job ini',
  not_open: 'Job sudah ditutup',
  tech_busy: 'Anda sudah memegang batas job aktif',
  released_from_job: 'Anda sudah dilepas dari job ini dan tidak bisa mengambilnya lagi',
  not_found: 'Job tidak ditemukan',
};

/**
 * claim(ctx, job, ui, changed): POST /pool/{id}/claim for a technician.
 * ui is the card's state object {busy, message, kind}; changed() re-renders.
 * Resolves {ok, slot} or {ok:false, code}.
 */
export async function claim(ctx, job, ui, changed) {
  if (ui.busy) return { ok: false, code: 'busy' };
  ui.busy = true;
  ui.message = '';
  changed();
  try {
    const res = await post(`/pool/${job.id}/claim`, {});
    ctx.mine.add(job.id);
    ui.kind = 'ok';
    ui.message = `Berhasil! Anda mendapat slot ${res.slot}.`;
    ctx.toast(`Job ${job.code} berhasil diambil`, 'ok');
    return { ok: true, slot: res.slot };
  } catch (err) {
    ui.kind = 'error';
    ui.message = errorText(err, CLAIM_ERRORS);
    if (err.code === 'already_claimed') {
      ctx.mine.add(job.id);
      ui.kind = 'info';
    } else if (err.code === 'released_from_job') {
      ctx.mine.delete(job.id);
      if (!ctx.feed.released.has(job.id)) ctx.feed.released.set(job.id, { code: job.code, reason: '', at: 0 });
    } else if (err.code === 'job_full') {
      ctx.feed.markGone(job.id, 'full');
    } else if (err.code === 'not_open' || err.code === 'not_found') {
      ctx.feed.markGone(job.id, 'closed');
    }
    return { ok: false, code: err.code };
  } finally {
    ui.busy = false;
    changed();
  }
}

// The pool's title is the problem text cut at 80 characters (tickets.c):
// mark the cut.
const TITLE_MAX = 80;
function boardTitle(t) {
  if (!t) return 'Tanpa judul';
  return [...t].length >= TITLE_MAX ? `${t.trimEnd()}…` : t;
}

function slotsView(job) {
  const total = Math.max(0, Number(job.slots_total) || 0);
  const taken = Math.min(total, Math.max(0, Number(job.slots_taken) || 0));
  const dots = [];
  for (let i = 0; i < total; i++) dots.push(h('span', { class: i < taken ? 'slot-dot slot-dot-on' : 'slot-dot' }));
  const left = total - taken;
  return h('div', { class: 'slots' },
    h('span', { class: 'slots-label' }, 'Teknisi dibutuhkan'),
    h('span', { class: 'slot-dots', 'aria-hidden': 'true' }, dots),
    h('span', { class: 'slots-count', dataset: { testid: 'slots' } }, `${taken}/${total}`),
    h('span', { class: 'slots-left' }, left > 0 ? `sisa ${left}` : 'penuh'));
}

/**
 * jobCard(job, opts) → <article>. opts:
 *   role       'ts' shows the claim button; others see the card read-only
 *   mine       this technician holds a slot of it
 *   released   CS released this technician from it ("Cari Pengganti"): no claim
 *   ui         {busy, message, kind} for this card
 *   onClaim()  the claim button's action
 *   detailHref link for "Lihat detail" (optional)
 *   fresh      just arrived live: highlighted for a moment
 */
export function jobCard(job, opts = {}) {
  const ui = opts.ui || {};
  const gone = job.gone || (job.state && job.state !== 'open' ? job.state : '');
  const stateName = gone === 'full' ? 'full' : gone ? 'closed' : 'open';
  const classes = ['job-card'];
  if (job.urgent) classes.push('is-urgent');
  if (opts.mine) classes.push('is-mine');
  if (opts.released) classes.push('is-released');
  if (stateName !== 'open' && !opts.mine) classes.push('is-gone'); // the winner's card stays bright
  if (opts.fresh) classes.push('is-new');

  const when = dayLabel(job.scheduled_at);
  const top = h('div', { class: 'job-top' },
    job.urgent ? h('span', { class: 'badge badge-urgent' }, icon('alert', 'icon icon-sm'), 'MENDESAK') : null,
    h('span', { class: 'job-code' }, job.code || `#${job.id}`),
    stateName === 'full' ? h('span', { class: 'badge badge-full' }, 'Penuh') : null,
    stateName === 'closed' ? h('span', { class: 'badge badge-closed' }, 'Ditutup') : null,
    opts.mine && stateName === 'open' ? h('span', { class: 'badge badge-mine' }, icon('check', 'icon icon-sm'), 'Job Anda') : null);

  const meta = h('ul', { class: 'job-meta' },
    h('li', null, icon('pin'), h('span', null, job.area || 'Area belum diisi')),
    h('li', null, icon('clock'), h('span', null,
      jakartaDateTime(job.scheduled_at) || 'Jadwal belum diisi',
      when ? h('span', { class: 'chip chip-when' }, when) : null)));

  let actions = null;
  if (opts.role === 'ts') {
    let btn;
    if (opts.mine) {
      btn = h('button', { class: 'btn btn-success btn-lg btn-block', type: 'button', disabled: true }, icon('check'), 'Sudah diambil');
    } else if (opts.released) {
      btn = h('button', { class: 'btn btn-lg btn-block btn-muted', type: 'button', disabled: true, dataset: { testid: 'released' } },
        'Anda dilepas dari job ini');
    } else if (stateName === 'full') {
      btn = h('button', { class: 'btn btn-lg btn-block btn-muted', type: 'button', disabled: true }, 'Penuh');
    } else if (stateName === 'closed') {
      btn = h('button', { class: 'btn btn-lg btn-block btn-muted', type: 'button', disabled: true }, 'Ditutup');
    } else {
      btn = h('button', {
        class: 'btn btn-primary btn-lg btn-block btn-claim', type: 'button', disabled: Boolean(ui.busy),
        'aria-label': `Ambil Job ${job.code || job.id}`, dataset: { claim: job.id },
        on: { click: () => opts.onClaim && opts.onClaim() },
      }, ui.busy ? 'Mengambil…' : 'Ambil Job');
    }
    actions = h('div', { class: 'job-actions' }, btn,
      opts.mine && opts.detailHref ? h('a', { class: 'btn btn-ghost btn-block', href: opts.detailHref }, 'Lihat detail') : null);
  } else if (opts.detailHref) {
    actions = h('div', { class: 'job-actions job-actions-inline' },
      h('a', { class: 'link', href: opts.detailHref }, 'Lihat tiket →'));
  }

  const msg = ui.message
    ? h('p', { class: `job-msg job-msg-${ui.kind || 'info'}`, role: ui.kind === 'error' ? 'alert' : 'status' }, ui.message)
    : null;

  return h('article', {
    class: classes,
    dataset: { jobId: job.id, state: stateName },
    'aria-label': `${job.urgent ? 'Mendesak: ' : ''}${job.code || ''} ${job.title || ''}`.trim(),
  },
  top,
  h('h3', { class: 'job-title' }, boardTitle(job.title)),
  meta,
  slotsView(job),
  actions,
  msg);
}
