// /#/tiket/{id} for CS and admin: one ticket with its field work. Refreshed
// when its job changes on the live board (a technician claimed a slot), when
// the live feed says its invoice changed (invoice.updated with this
// ticket_id, and after a resync), after a cancellation, and by a poll as the
// fallback: every 30 s during the field work (check-ins and uploads have no
// live event) or without a connected feed, every 60 s once the money has
// live events.
//
// "Batalkan Tiket" opens a confirm dialog (<dialog>, modal) with a reason
// field, then POST /tickets/{id}/cancel {reason}.
//
// Money (docs/money.md): "Buat Invoice" (work_done, no invoice yet) opens
// the invoice editor (./invoice.js) in the page; its first save creates the
// invoice and the page moves to /#/invoice/{id}. While the editor is open the
// page is not redrawn by its refreshes, so nothing typed is lost. "Tutup
// Tiket" (paid) is POST /tickets/{id}/close.

import { get, post, errorText } from '../api.js';
import { h, icon, replace } from '../dom.js';
import { ticketDetail, CANCELLABLE } from './ticketdetail.js';
import { invoiceEditor, feedLive } from './invoice.js';

export const layout = 'wide';

const CANCEL_ERRORS = {
  invalid_transition: 'Tiket ini tidak bisa dibatalkan lagi: statusnya sudah berubah.',
  validation_failed: 'Alasan terlalu panjang (maksimal 500 huruf).',
};
const POLL_FIELD_MS = 30000; // open … work_done: check-ins, uploads and Selesai come without an event
const POLL_MONEY_MS = 60000; // invoicing …, with the feed up: invoice.updated says it, the poll is the fallback
const FIELD = new Set(['open', 'assigned', 'in_progress', 'work_done']);

export function mount(root, ctx) {
  const id = Number(ctx.params[0]);
  let alive = true;
  let timer = null;
  let poll = null;
  let ticket = null;
  let editor = null; // the new invoice's editor, while open
  let closing = false;
  let closeError = '';
  let liveTimer = null;
  // The answer of an action on this page, inline above it (not a toast over
  // the page): {kind, text, status} — it goes when the ticket moves on.
  let notice = null;
  const noticeBox = h('div', { class: 'ticket-notice-box' });
  const body = h('div', { class: 'ticket-page' });
  const dialog = cancelDialog();
  root.append(h('nav', { class: 'crumbs' }, h('a', { class: 'link', href: '#/tiket' }, '← Semua tiket')), noticeBox, body, dialog.el);

  function setNotice(kind, text, status) {
    notice = text ? { kind, text, status } : null;
    drawNotice();
  }

  function drawNotice() {
    if (notice && ticket && notice.status && notice.status !== ticket.status) notice = null;
    replace(noticeBox, notice
      ? h('div', { class: `banner banner-${notice.kind} inv-flash ticket-notice`, role: notice.kind === 'error' ? 'alert' : 'status' },
        h('span', null, notice.text),
        h('button', { class: 'btn btn-ghost btn-sm inv-flash-x', type: 'button', 'aria-label': 'Tutup pesan', on: { click: () => setNotice(null) } }, icon('x', 'icon icon-sm')))
      : null);
  }

  async function load(spinner) {
    if (spinner) {
      replace(body, h('div', { class: 'state state-loading', role: 'status' },
        h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat tiket…'));
    }
    try {
      const t = await get(`/tickets/${id}`);
      if (!alive) return;
      ticket = t;
      ctx.setTitle(t.code);
      // Someone else made the invoice meanwhile: the editor has no use.
      if (editor && t.invoice) {
        editor = null;
        setNotice('warn', `Tiket ini sudah punya invoice ${t.invoice.number} (dibuat orang lain).`, t.status);
      }
      if (editor && spinner === false && !editorStale) return; // keep what is being typed
      editorStale = false;
      drawNotice();
      draw();
    } catch (err) {
      if (!alive) return;
      if (!spinner && ticket) return; // a quiet refresh failed: keep what is shown
      replace(body, h('div', { class: 'state state-error', role: 'alert' },
        h('p', null, errorText(err, { not_found: 'Tiket tidak ditemukan.' })),
        h('a', { class: 'btn btn-secondary', href: '#/tiket' }, 'Kembali ke daftar tiket')));
    } finally {
      schedulePoll();
    }
  }

  // While the ticket is being worked on, check-ins and uploads arrive
  // without a board message: look again now and then (not while hidden or
  // while the cancel dialog is open).
  function schedulePoll() {
    clearTimeout(poll);
    if (!alive || !ticket || ['closed', 'cancelled'].includes(ticket.status)) return;
    poll = setTimeout(() => {
      if (document.visibilityState === 'visible' && !dialog.isOpen() && !editor) load(false);
      else schedulePoll();
    }, FIELD.has(ticket.status) || !feedLive(ctx) ? POLL_FIELD_MS : POLL_MONEY_MS);
  }

  // A live event: once for a burst, and not over the cancel dialog (the
  // poll catches up after it).
  function refreshSoon(ms = 300) {
    clearTimeout(liveTimer);
    liveTimer = setTimeout(() => {
      if (!alive) return;
      if (dialog.isOpen() || closing) refreshSoon(1000);
      else load(false);
    }, ms);
  }

  let editorStale = false;

  function draw() {
    if (!ticket) return;
    const t = ticket;
    replace(body, ticketDetail(t, {
      role: ctx.user.role,
      onCancel: () => dialog.open(t),
      money: {
        editor: editor ? editor.el : null,
        onCreateInvoice: openEditor,
        onCloseTicket: closeTicket,
        closing,
        closeError,
      },
    }));
  }

  function openEditor() {
    if (!ticket || editor) return;
    editor = invoiceEditor({
      invoice: null,
      ticket: { id: ticket.id, code: ticket.code },
      ctx,
      onSaved: (inv, how = {}) => {
        if (!alive) return;
        if (inv && inv.id) {
          ctx.navigate(`/invoice/${inv.id}`);
          return;
        }
        if (how.reload) {
          // invoice_exists: show the ticket with the invoice someone else made
          editor = null;
          editorStale = true;
          load(false);
        }
      },
      onCancel: () => {
        editor = null;
        draw();
      },
    });
    draw();
    editor.el.scrollIntoView({ block: 'start' });
    editor.focus();
  }

  async function closeTicket() {
    if (!ticket || closing) return;
    closing = true;
    closeError = '';
    draw();
    try {
      const t = await post(`/tickets/${ticket.id}/close`);
      if (!alive) return;
      closing = false;
      if (t && t.id) ticket = t;
      setNotice('ok', `Tiket ${ticket.code} ditutup.`, 'closed');
      draw();
      load(false);
    } catch (err) {
      if (!alive) return;
      closing = false;
      closeError = errorText(err, { invalid_transition: 'Tiket belum bisa ditutup: invoice belum lunas atau statusnya sudah berubah.' });
      draw();
      if (err.status === 409) load(false);
    }
  }

  function cancelDialog() {
    const reason = h('textarea', { id: 'cancel-reason', rows: '3', maxlength: '500', placeholder: 'Contoh: pelanggan menunda, unit sudah diperbaiki sendiri' });
    const msg = h('p', { class: 'form-message form-message-error', role: 'alert', hidden: true });
    const title = h('h2', { id: 'cancel-title', class: 'dialog-title' }, 'Batalkan tiket?');
    const confirm = h('button', { class: 'btn btn-danger', type: 'submit' }, 'Ya, batalkan tiket');
    const back = h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => el.close() } }, 'Kembali');
    let current = null;
    let busy = false;
    const form = h('form', { class: 'dialog-form', novalidate: true, on: { submit: onSubmit } },
      title,
      h('p', { class: 'muted' }, 'Teknisi yang sudah mengambil job ini akan dilepas dan job langsung hilang dari papan. Tindakan ini tidak bisa diurungkan.'),
      h('div', { class: 'field' },
        h('label', { for: 'cancel-reason' }, 'Alasan', h('span', { class: 'optional' }, ' (opsional, tampil di riwayat)')),
        reason),
      msg,
      h('div', { class: 'form-actions' }, back, confirm));
    const el = h('dialog', { class: 'dialog', 'aria-labelledby': 'cancel-title' }, form);

    async function onSubmit(ev) {
      ev.preventDefault();
      if (busy || !current) return;
      const text = reason.value.trim();
      if (text.length > 500) {
        msg.hidden = false;
        msg.textContent = CANCEL_ERRORS.validation_failed;
        return;
      }
      busy = true;
      confirm.disabled = true;
      confirm.textContent = 'Membatalkan…';
      msg.hidden = true;
      try {
        await post(`/tickets/${current.id}/cancel`, text ? { reason: text } : {});
        if (!alive) return;
        el.close();
        setNotice('ok', `Tiket ${current.code} dibatalkan.`, 'cancelled');
        load(false);
      } catch (err) {
        if (!alive) return;
        msg.hidden = false;
        msg.textContent = errorText(err, CANCEL_ERRORS);
        if (err.status === 409) load(false);
      } finally {
        busy = false;
        confirm.disabled = false;
        confirm.textContent = 'Ya, batalkan tiket';
      }
    }

    return {
      el,
      isOpen: () => el.open,
      open(t) {
        if (!CANCELLABLE.has(t.status)) return;
        current = t;
        title.textContent = `Batalkan tiket ${t.code}?`;
        reason.value = '';
        msg.hidden = true;
        el.showModal();
        reason.focus();
      },
    };
  }

  // The assignment reaches PostgreSQL a moment after the live message.
  // invoice.updated (docs/money.md, live.js) names the ticket: this page's
  // invoice block and timeline follow it. A feed that is missing or silent
  // leaves the poll.
  let unsubscribe = null;
  if (ctx.feed && typeof ctx.feed.subscribe === 'function') {
    const off = ctx.feed.subscribe((c) => {
      if (!c) return;
      if (c.type === 'job' && c.job && c.job.id === id && c.event !== 'removed') {
        clearTimeout(timer);
        timer = setTimeout(() => load(false), 700);
      } else if (c.type === 'invoice') {
        const d = c.msg && typeof c.msg === 'object' ? (c.msg.data || c.msg) : null;
        if (d && Number(d.ticket_id) === id) refreshSoon();
      } else if (c.type === 'resync' && ticket) refreshSoon(800);
    });
    if (typeof off === 'function') unsubscribe = off;
  }

  load(true);
  return () => {
    alive = false;
    clearTimeout(timer);
    clearTimeout(poll);
    clearTimeout(liveTimer);
    if (unsubscribe) unsubscribe();
    if (dialog.el.open) dialog.el.close();
  };
}
