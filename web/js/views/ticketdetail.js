// A ticket's details as CS and admin see them (/#/tiket/{id}): customer,
// schedule, the technicians by slot with their state, and the field work
// (docs/fieldwork.md): every check-in/check-out with its distance, geofence
// verdict and evidence flags explained, the attachments as thumbnails, and
// the timeline. On a desktop the field work is a second column.
// (Technicians get their own job page: ./fieldwork.js.)

import { get } from '../api.js';
import { h, icon, replace } from '../dom.js';
import {
  jakartaDateTime, dayLabel, phoneDisplay, phoneIntl, geofenceText, distanceText, accuracyText, actionLabel,
  stateLabel, attachmentLabel, rupiah, invoiceStatusLabel, paymentMethodLabel,
} from '../format.js';
import { ratingBlock } from './invoice.js';
import { ticketStatusBadge } from './myjobs.js';
import { stateBadge, verdictClass, flagList, attachmentGrid, fixTimes } from './fieldparts.js';

/** The statuses from which CS may cancel a ticket. */
export const CANCELLABLE = new Set(['open', 'assigned', 'in_progress']);

function row(label, ...value) {
  return h('div', { class: 'dl-row' }, h('dt', null, label), h('dd', null, ...value));
}

function mapsUrl(t) {
  if (typeof t.lat === 'number' && typeof t.lng === 'number') {
    return `https://www.google.com/maps/search/?api=1&query=${t.lat},${t.lng}`;
  }
  const q = [t.address, t.area].filter(Boolean).join(', ');
  return q ? `https://www.google.com/maps/search/?api=1&query=${encodeURIComponent(q)}` : null;
}

function techTimes(x) {
  return [
    x.checked_in_at ? `check-in ${jakartaDateTime(x.checked_in_at)}` : '',
    x.checked_out_at ? `check-out ${jakartaDateTime(x.checked_out_at)}` : '',
    x.done_at ? `selesai ${jakartaDateTime(x.done_at)}` : '',
  ].filter(Boolean).join(' · ');
}

function techSlots(t) {
  const all = Array.isArray(t.technicians) ? t.technicians : [];
  // A replaced technician keeps their assignment row (state replaced, with
  // the reason); their slot may since belong to someone else.
  const techs = all.filter((x) => x.state !== 'replaced');
  const replaced = all.filter((x) => x.state === 'replaced');
  const bySlot = new Map(techs.map((x) => [x.slot, x]));
  const slots = [];
  for (let i = 1; i <= (t.techs_needed || 0); i++) {
    const x = bySlot.get(i);
    const phone = x && x.phone ? phoneIntl(x.phone) : '';
    const times = x ? techTimes(x) : '';
    slots.push(h('li', { class: x ? 'tech tech-on' : 'tech', dataset: { techId: x ? x.tech_id : '' } },
      h('span', { class: 'tech-slot' }, `Slot ${i}`),
      h('span', { class: 'tech-main' },
        h('span', { class: 'tech-name' }, x ? x.name : 'Belum terisi'),
        phone ? h('a', { class: 'link small', href: `tel:+${phone}` }, phoneDisplay(phone)) : null,
        times ? h('span', { class: 'muted small tech-times' }, times) : null),
      x ? stateBadge(x.state) : null));
  }
  for (const x of replaced) {
    const why = x.replaced_reason || x.reason || '';
    const when = x.replaced_at ? jakartaDateTime(x.replaced_at) : '';
    slots.push(h('li', { class: 'tech tech-replaced', dataset: { techId: x.tech_id, state: 'replaced' } },
      h('span', { class: 'tech-slot' }, x.slot ? `Slot ${x.slot}` : ''),
      h('span', { class: 'tech-main' },
        h('span', { class: 'tech-name' }, x.name),
        h('span', { class: 'muted small tech-times' },
          ['Digantikan', when, x.replaced_by_name ? `oleh ${x.replaced_by_name}` : ''].filter(Boolean).join(' · ')),
        why ? h('span', { class: 'small tl-reason' }, `Alasan: ${why}`) : null),
      stateBadge('replaced')));
  }
  return { techs, slots };
}

function checkinItem(c) {
  const what = c.kind === 'out' ? 'Check-out' : 'Check-in';
  const facts = [
    distanceText(c.distance_m) ? `${distanceText(c.distance_m)} dari lokasi` : 'Jarak tidak diketahui',
    c.accuracy_m !== undefined && c.accuracy_m !== null ? `akurasi ${accuracyText(c.accuracy_m)}` : '',
  ].filter(Boolean).join(' · ');
  const map = typeof c.lat === 'number' && typeof c.lng === 'number'
    ? h('a', { class: 'link small', href: `https://www.google.com/maps/search/?api=1&query=${c.lat},${c.lng}`, target: '_blank', rel: 'noopener noreferrer' }, 'Lihat titik')
    : null;
  return h('li', { class: `checkin ${verdictClass(c)}`, dataset: { checkinId: c.id, kind: c.kind, techId: c.tech_id } },
    h('div', { class: 'checkin-top' },
      h('span', { class: 'strong' }, `${what} · ${c.tech_name || `Teknisi #${c.tech_id}`}`),
      h('span', { class: 'muted small' }, fixTimes(c, true))),
    h('p', { class: 'checkin-verdict' },
      h('span', { class: `verdict-pill ${verdictClass(c)}` }, geofenceText(c) || '-'),
      c.late ? h('span', { class: 'badge badge-late' }, 'Terlambat') : null),
    h('p', { class: 'small checkin-facts' }, facts, map ? ' · ' : null, map),
    flagList(c.flags));
}

// The money facts of an invoice.* / payment.* / rating.* row (docs/money.md
// "Audit and the ticket's timeline": data carries the number, amounts and
// the note or reason).
function moneyFacts(action, data) {
  if (!data || !/^(invoice|payment|rating)\./.test(action || '')) return '';
  const out = [];
  if (data.number) out.push(data.number);
  if (action.startsWith('payment.') && data.amount !== undefined) out.push(rupiah(data.amount));
  else if (data.total !== undefined) out.push(`total ${rupiah(data.total)}`);
  if (data.method) out.push(paymentMethodLabel(data.method));
  if (action === 'rating.create' && data.score) out.push(`${data.score}/5 bintang`);
  return out.join(' · ');
}

/** changeText(before, after) → "Terkirim → Lunas"; '' when nothing moved
 *  (a partial payment leaves the invoice "Terkirim"). */
export function changeText(before, after) {
  if (!before && !after) return '';
  if (before === after) return '';
  return `${before ? stateLabel(before) : '–'} → ${after ? stateLabel(after) : '–'}`;
}

/** foldTimeline(rows) → the rows to show: closing a ticket writes two audit
 *  rows (ticket.close and its ticket.status paid → closed, docs/money.md);
 *  one line says it. Any other row is kept as it is, in order. */
export function foldTimeline(rows) {
  const list = Array.isArray(rows) ? rows : [];
  const same = (a, b) => a && b && a.before === b.before && a.after === b.after && (a.actor_id ?? null) === (b.actor_id ?? null);
  const out = [];
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    if (e && e.action === 'ticket.status') {
      const prev = list[i - 1];
      const next = list[i + 1];
      if ((prev && prev.action === 'ticket.close' && same(prev, e)) || (next && next.action === 'ticket.close' && same(next, e))) continue;
    }
    out.push(e);
  }
  return out;
}

function timelineItem(e) {
  const change = changeText(e.before, e.after);
  const data = e.data && typeof e.data === 'object' ? e.data : null;
  const reason = data && data.reason ? `Alasan: ${data.reason}` : data && data.note ? `Catatan: ${data.note}` : '';
  const facts = moneyFacts(e.action, data);
  const customer = e.action === 'rating.create' && !e.actor_name;
  // "Cari Pengganti": which technician left, and whether gssd did it itself.
  const who = data && (data.tech_name || data.released_tech_name);
  const auto = data && (data.auto === true || data.actor === 'system');
  return h('li', { class: 'tl-item', dataset: { action: e.action || '' } },
    h('span', { class: 'tl-dot', 'aria-hidden': 'true' }),
    h('div', { class: 'tl-body' },
      h('p', { class: 'tl-what' }, h('span', { class: 'strong' }, actionLabel(e.action)),
        data && data.kind ? ` (${attachmentLabel(data.kind)})` : '', who ? `: ${who}` : '',
        e.actor_name ? ` — ${e.actor_name}` : customer ? ' — pelanggan' : auto ? ' — otomatis oleh sistem' : ''),
      facts ? h('p', { class: 'small tl-facts' }, facts) : null,
      h('p', { class: 'muted small' }, jakartaDateTime(e.at), change ? ` · ${change}` : ''),
      reason ? h('p', { class: 'small tl-reason' }, reason) : null));
}

/** The ticket statuses that have, or are ready for, an invoice. */
const MONEY = new Set(['work_done', 'invoicing', 'awaiting_payment', 'paid', 'closed']);

/**
 * moneyPanel(t, {role, editor, onCreateInvoice, onCloseTicket, closing,
 * closeError}) → the ticket's invoice block (docs/money.md): "Buat Invoice"
 * once the work is done and no invoice exists (or the editor element the
 * button opened), the invoice's number, status and amounts with "Lihat
 * Invoice", the customer's rating, and "Tutup Tiket" when paid. null when
 * the ticket has nothing to bill yet.
 */
export function moneyPanel(t, { role, editor, onCreateInvoice, onCloseTicket, closing, closeError } = {}) {
  const staff = role === 'cs' || role === 'admin';
  const inv = t.invoice || null;
  if (!staff || (!inv && !MONEY.has(t.status) && !t.rating)) return null;
  const parts = [];
  if (!inv && editor) {
    parts.push(editor);
  } else if (!inv && t.status === 'work_done') {
    parts.push(h('div', { class: 'money-cta' },
      h('div', null,
        h('p', { class: 'strong' }, 'Pekerjaan selesai. Tagihan belum dibuat.'),
        h('p', { class: 'muted small' }, 'Buat invoice, ajukan ke Sales untuk approval harga, lalu kirim ke pelanggan.')),
      h('button', { class: 'btn btn-primary btn-lg', type: 'button', on: { click: onCreateInvoice } }, icon('file'), 'Buat Invoice')));
  } else if (inv) {
    const balance = typeof inv.total === 'number' && typeof inv.paid_amount === 'number' ? inv.total - inv.paid_amount : null;
    parts.push(h('div', { class: 'money-inv', dataset: { testid: 'ticket-invoice' } },
      h('div', { class: 'money-inv-main' },
        h('p', { class: 'money-inv-top' },
          h('span', { class: 'strong money-inv-number' }, inv.number),
          h('span', { class: `badge badge-status inv-status inv-status-${inv.status}` }, invoiceStatusLabel(inv.status))),
        h('dl', { class: 'money-figures' },
          h('div', null, h('dt', null, 'Total'), h('dd', { class: 'strong' }, rupiah(inv.total))),
          inv.paid_amount ? h('div', null, h('dt', null, 'Dibayar'), h('dd', null, rupiah(inv.paid_amount))) : null,
          balance !== null && (inv.status === 'sent' || inv.status === 'paid')
            ? h('div', null, h('dt', null, 'Sisa'), h('dd', { class: balance > 0 ? 'money-due' : 'money-done' }, balance > 0 ? rupiah(balance) : 'Lunas'))
            : null)),
      h('a', { class: 'btn btn-secondary', href: `#/invoice/${inv.id}` }, 'Lihat Invoice')));
  } else if (t.status !== 'work_done') {
    parts.push(h('p', { class: 'muted' }, 'Belum ada invoice.'));
  }
  if (t.rating) {
    parts.push(h('div', { class: 'money-rating' }, h('h3', { class: 'money-sub' }, 'Penilaian pelanggan'), ratingBlock(t.rating)));
  }
  if (t.status === 'paid' && onCloseTicket) {
    parts.push(h('div', { class: 'money-close' },
      h('p', { class: 'small' }, 'Invoice lunas.', t.rating ? '' : ' Penilaian pelanggan opsional.', ' Tutup tiket bila semuanya beres.'),
      h('button', { class: 'btn btn-success-solid', type: 'button', disabled: Boolean(closing), on: { click: onCloseTicket } },
        icon('check'), closing ? 'Menutup…' : 'Tutup Tiket'),
      closeError ? h('p', { class: 'form-message form-message-error', role: 'alert' }, closeError) : null));
  } else if (t.status === 'closed') {
    parts.push(h('p', { class: 'money-closed strong' }, icon('check'), 'Tiket sudah ditutup.'));
  }
  return h('section', { class: `panel money${editor && !inv ? ' money-editing' : ''}`, 'aria-labelledby': 'td-money' },
    h('h2', { class: 'panel-title', id: 'td-money' }, editor && !inv ? 'Invoice baru' : 'Invoice & pembayaran'),
    parts);
}

// ---- Pesan: the ticket's outgoing messages (GET /tickets/{id}/messages,
// docs/whatsapp.md "Sending"), failures first, so CS sees a message that
// did not reach its person and why.

/** The status word of one message: the outbox's status, refined for a sent
 *  WhatsApp message by its delivery status (never moving backwards). */
export function messageStatus(m) {
  if (m.status === 'failed' || m.delivery_status === 'failed') return { text: 'Gagal', cls: 'badge-late', bad: true };
  if (m.status === 'unreachable') return { text: 'Tidak terjangkau', cls: 'badge-late', bad: true };
  if (m.status === 'cancelled') return { text: 'Dibatalkan', cls: 'badge-closed', bad: false };
  if (m.status === 'sent') {
    if (m.delivery_status === 'read') return { text: 'Dibaca', cls: 'badge-mine', bad: false };
    if (m.delivery_status === 'delivered') return { text: 'Diterima', cls: 'badge-mine', bad: false };
    return { text: 'Terkirim', cls: 'badge-state', bad: false };
  }
  return { text: 'Menunggu', cls: 'badge-wait', bad: false };
}

const MESSAGE_KINDS = {
  'invoice.sent': 'Tagihan & link penilaian',
  'invoice.pending_approval': 'Permintaan approval invoice',
  'job.post': 'Pengumuman job',
  'job.edit': 'Pembaruan pengumuman job',
};

// Drawn like a check-in (the same look, app.css): a coloured left edge (red for a failure, green
// once sent, amber while waiting), the title and status on top.
function messageItem(m) {
  const st = messageStatus(m);
  const channel = m.channel === 'whatsapp' ? 'WhatsApp' : 'Telegram';
  const when = m.sent_at ? `dikirim ${jakartaDateTime(m.sent_at)}` : `dibuat ${jakartaDateTime(m.created_at)}`;
  const tries = m.attempts > 1 ? `${m.attempts} kali dicoba` : '';
  const edge = st.bad ? 'verdict-outside' : m.status === 'sent' ? 'verdict-inside' : 'verdict-uncertain';
  // Its own class (not .checkin): a page or a test that counts the
  // check-ins must not count the messages too.
  return h('li', { class: `msg-item ${edge}`, dataset: { messageId: m.id, status: m.status } },
    h('div', { class: 'checkin-top' },
      h('span', { class: 'strong' }, `${MESSAGE_KINDS[m.kind] || m.kind} → ${m.recipient || '-'}`),
      h('span', { class: `badge ${st.cls}` }, st.text)),
    h('p', { class: 'muted small' }, [channel, when, tries].filter(Boolean).join(' · ')),
    m.last_error && m.status !== 'sent'
      ? h('p', { class: 'small tl-reason' }, `${st.bad ? 'Alasan' : 'Keterangan'}: ${m.last_error}`) : null);
}

/** messagesPanel(ticket) → the "Pesan" section; it loads its list itself. */
export function messagesPanel(t) {
  const body = h('div', null, h('p', { class: 'muted' }, 'Memuat pesan…'));
  const title = h('h2', { class: 'panel-title', id: 'td-messages' }, 'Pesan');
  get(`/tickets/${t.id}/messages`).then((r) => {
    const msgs = (r && Array.isArray(r.messages)) ? r.messages : [];
    const bad = msgs.filter((m) => messageStatus(m).bad).length;
    replace(title, bad ? `Pesan (${msgs.length}, ${bad} gagal)` : `Pesan (${msgs.length})`);
    replace(body, msgs.length
      ? h('ul', { class: 'msg-list' }, msgs.map(messageItem))
      : h('p', { class: 'muted' }, 'Belum ada pesan keluar untuk tiket ini.'));
  }, () => {
    replace(body, h('p', { class: 'muted' }, 'Daftar pesan tidak bisa dimuat. Muat ulang halaman untuk mencoba lagi.'));
  });
  return h('section', { class: 'panel', 'aria-labelledby': 'td-messages' }, title, body);
}

/**
 * ticketDetail(ticket, {role, onCancel}) → the detail block. onCancel (CS,
 * admin) is called by the "Batalkan Tiket" button, shown while the status
 * allows it.
 */
export function ticketDetail(t, { role, onCancel, money } = {}) {
  const { techs, slots } = techSlots(t);
  const phone = phoneIntl(t.customer_phone);
  const maps = mapsUrl(t);
  const when = dayLabel(t.scheduled_at);
  const checkins = Array.isArray(t.checkins) ? t.checkins : [];
  const attachments = Array.isArray(t.attachments) ? t.attachments : [];
  const timeline = Array.isArray(t.timeline) ? t.timeline : [];
  const staff = role === 'cs' || role === 'admin';
  const canCancel = staff && onCancel && CANCELLABLE.has(t.status);

  const main = h('div', { class: 'detail-col' },
    h('section', { class: 'panel' },
      h('h2', { class: 'panel-title' }, 'Jadwal'),
      h('p', { class: 'big-time' }, jakartaDateTime(t.scheduled_at), when ? h('span', { class: 'chip chip-when' }, when) : null)),
    h('section', { class: 'panel' },
      h('h2', { class: 'panel-title' }, 'Pelanggan'),
      h('dl', { class: 'dl' },
        row('Nama', t.customer_name || '-'),
        row('Telepon', phone ? h('a', { class: 'link', href: `tel:+${phone}` }, phoneDisplay(phone)) : '-'),
        row('Alamat', t.address || '-'),
        row('Area', t.area || '-'),
        typeof t.lat === 'number' && typeof t.lng === 'number'
          ? row('Koordinat', `${t.lat}, ${t.lng}`, t.geofence_m ? ` · radius ${t.geofence_m} m` : '') : null),
      h('div', { class: 'btn-row' },
        phone ? h('a', { class: 'btn btn-secondary', href: `https://wa.me/${phone}`, target: '_blank', rel: 'noopener noreferrer' }, icon('chat'), 'WhatsApp') : null,
        maps ? h('a', { class: 'btn btn-secondary', href: maps, target: '_blank', rel: 'noopener noreferrer' }, icon('pin'), 'Buka Peta') : null,
        staff ? h('a', { class: 'btn btn-secondary', href: `/api/v1/tickets/${t.id}/letter.pdf`, download: `surat-tugas-${t.code}.pdf` }, icon('download'), 'Surat Tugas') : null)),
    h('section', { class: 'panel' },
      h('h2', { class: 'panel-title' }, `Teknisi (${techs.length}/${t.techs_needed})`),
      h('ul', { class: 'tech-list' }, slots)),
    staff || role === 'sales' ? messagesPanel(t) : null,
    canCancel
      ? h('section', { class: 'panel panel-danger' },
        h('h2', { class: 'panel-title' }, 'Batalkan'),
        h('p', { class: 'muted small' }, 'Teknisi yang sudah mengambil job ini akan dilepas dan job hilang dari papan.'),
        h('button', { class: 'btn btn-danger', type: 'button', on: { click: onCancel } }, icon('x'), 'Batalkan Tiket'))
      : null,
    t.status === 'cancelled' && t.cancel_reason
      ? h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, 'Alasan pembatalan'), h('p', null, t.cancel_reason))
      : null);

  const field = h('div', { class: 'detail-col' },
    h('section', { class: 'panel', 'aria-labelledby': 'td-checkins' },
      h('h2', { class: 'panel-title', id: 'td-checkins' }, `Check-in & check-out (${checkins.length})`),
      checkins.length
        ? h('ul', { class: 'checkins' }, checkins.map(checkinItem))
        : h('p', { class: 'muted' }, 'Belum ada check-in.')),
    h('section', { class: 'panel', 'aria-labelledby': 'td-files' },
      h('h2', { class: 'panel-title', id: 'td-files' }, `Lampiran (${attachments.length})`),
      attachments.length ? attachmentGrid(attachments) : h('p', { class: 'muted' }, `Belum ada ${attachmentLabel('bast')} atau foto.`)),
    h('section', { class: 'panel', 'aria-labelledby': 'td-timeline' },
      h('h2', { class: 'panel-title', id: 'td-timeline' }, 'Riwayat'),
      timeline.length
        ? h('ol', { class: 'timeline' }, foldTimeline(timeline).map(timelineItem))
        : h('dl', { class: 'dl' }, row('Dibuat', jakartaDateTime(t.created_at) || '-'))));

  return h('div', { class: 'detail' },
    h('div', { class: 'detail-head' },
      h('div', { class: 'job-top' },
        t.urgent ? h('span', { class: 'badge badge-urgent' }, icon('alert', 'icon icon-sm'), 'MENDESAK') : null,
        h('span', { class: 'job-code' }, t.code),
        ticketStatusBadge(t.status)),
      h('h1', { class: 'detail-title' }, t.problem)),
    moneyPanel(t, { role, ...(money || {}) }),
    h('div', { class: 'detail-grid' }, main, field));
}
