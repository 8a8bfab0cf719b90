// Pieces of field work that the technician's job page and the CS ticket page
// both draw: a GPS fix with its verdict, the evidence flags, an assignment
// state badge, and the attachments as thumbnails.
//
// Attachments are shown through /api/v1/attachments/{id}, the access-checked
// URL (the server answers only to those who may see the ticket, with the
// sniffed Content-Type and a sandbox CSP), so an <img> of it is safe.

import { h, icon } from '../dom.js';
import {
  jakartaDateTime, jakartaTime, geofenceText, distanceLine, accuracyText, flagText, assignmentLabel,
  attachmentLabel, bytesText,
} from '../format.js';

/** stateBadge("checked_in") → a badge for one technician's slot. */
export function stateBadge(state) {
  if (!state) return null;
  return h('span', { class: `badge badge-state state-${state}` }, assignmentLabel(state));
}

/** verdictClass({geofence}) → "verdict-inside" | "verdict-outside" | "verdict-uncertain". */
export function verdictClass(c) {
  return `verdict-${c && c.geofence ? c.geofence : 'uncertain'}`;
}

/** flagList(flags) → a <ul> explaining each evidence flag, or null. */
export function flagList(flags) {
  const list = Array.isArray(flags) ? flags.filter(Boolean) : [];
  if (!list.length) return null;
  return h('ul', { class: 'flags', 'aria-label': 'Tanda peringatan' },
    list.map((f) => h('li', { class: 'flag', dataset: { flag: f } }, icon('alert', 'icon icon-sm'), h('span', null, flagText(f)))));
}

/**
 * verdictBlock(c, {title}) → the answer to one fix: the geofence verdict
 * in big type, the distance, the accuracy, late, and the flags. c is a
 * check-in answer or an entry of a ticket's checkins[].
 */
export function verdictBlock(c, { title } = {}) {
  const facts = [distanceLine(c.distance_m), c.accuracy_m !== undefined ? `akurasi GPS ${accuracyText(c.accuracy_m)}` : '']
    .filter(Boolean).join(' · ');
  return h('div', { class: `verdict ${verdictClass(c)}`, dataset: { testid: 'verdict' } },
    title ? h('p', { class: 'verdict-title' }, title) : null,
    h('p', { class: 'verdict-main' }, icon(c.geofence === 'inside' ? 'check' : 'alert'), h('span', null, geofenceText(c) || 'Tercatat')),
    facts ? h('p', { class: 'verdict-facts' }, facts) : null,
    c.late ? h('p', { class: 'verdict-late' }, 'Terlambat dari jadwal') : null,
    c.replayed ? h('p', { class: 'muted small' }, 'Sudah tercatat sebelumnya (dikirim ulang).') : null,
    flagList(c.flags));
}

/** fixTimes(c) → "09.05 WIB" or "09.05 WIB (diterima 10.40 WIB)" when it
 *  arrived later than it was taken. */
export function fixTimes(c, long = false) {
  const fmt = long ? jakartaDateTime : jakartaTime;
  const at = fmt(c.fix_at || c.received_at);
  const got = c.received_at ? fmt(c.received_at) : '';
  const late = c.fix_at && c.received_at && Date.parse(c.received_at) - Date.parse(c.fix_at) > 120000;
  return late ? `${at} (diterima ${got})` : at;
}

function isImage(a) {
  return /^image\//.test(a.content_type || '');
}

/** attachmentUrl(a) → the access-checked URL of one attachment. */
export function attachmentUrl(a) {
  return `/api/v1/attachments/${encodeURIComponent(a.id)}`;
}

/** attachmentGrid(list) → thumbnails (images) and PDF tiles, or null. */
export function attachmentGrid(list) {
  const items = Array.isArray(list) ? list : [];
  if (!items.length) return null;
  return h('ul', { class: 'thumbs' }, items.map((a, i) => {
    const url = attachmentUrl(a);
    const label = `${attachmentLabel(a.kind)} ${i + 1}`;
    const caption = [jakartaDateTime(a.created_at), a.uploader_name, bytesText(a.size)].filter(Boolean).join(' · ');
    return h('li', { class: 'thumb', dataset: { kind: a.kind, attachmentId: a.id } },
      h('a', { class: 'thumb-link', href: url, target: '_blank', rel: 'noopener', 'aria-label': `Buka ${label}` },
        isImage(a)
          ? h('img', { class: 'thumb-img', src: url, alt: label, loading: 'lazy', decoding: 'async' })
          : h('span', { class: 'thumb-pdf' }, icon('file', 'icon icon-lg'), 'PDF')),
      h('div', { class: 'thumb-cap' },
        h('span', { class: `badge badge-kind kind-${a.kind}` }, attachmentLabel(a.kind)),
        h('span', { class: 'muted small' }, caption)));
  }));
}

/** myAssignment(t, userId) → this technician's entry of t.technicians, or null. */
export function myAssignment(t, userId) {
  const techs = Array.isArray(t.technicians) ? t.technicians : [];
  return techs.find((x) => Number(x.tech_id) === Number(userId)) || null;
}

/** myState(t, userId) → the caller's assignment state; derived from the
 *  check-ins when the server does not send one. */
export function myState(t, userId) {
  const me = myAssignment(t, userId);
  if (me && me.state) return me.state;
  const mine = (Array.isArray(t.checkins) ? t.checkins : []).filter((c) => Number(c.tech_id) === Number(userId));
  if (mine.some((c) => c.kind === 'out')) return 'checked_out';
  if (mine.some((c) => c.kind === 'in')) return 'checked_in';
  return me ? 'claimed' : '';
}
