// /#/invoice/{id}: one invoice, for CS, Sales and admin (docs/money.md,
// docs/web.md "Invoice"). The role and the invoice's state decide what the
// page offers:
//
//   CS, draft / revision_requested   the editor (rows, live totals, Simpan
//                                    Draft, Ajukan ke Sales, Pratinjau PDF)
//                                    under Sales' revision note
//   Sales, pending_approval          read only, the total large, Approve and
//                                    Minta Revisi (a required note)
//   CS, approved                     Kirim ke Pelanggan → the two links with
//                                    copy buttons, the WhatsApp message state
//   CS, sent / paid                  payments (record with a proof upload,
//                                    void with a reason), Tampilkan Link,
//                                    Kirim Ulang ke WhatsApp (asks first),
//                                    and Tutup Tiket once paid
//
// and always the history (every action with who, when, the note and the
// totals before → after, each version's items behind a <details>).
//
// The server computes every amount; the editor shows the same arithmetic
// live (format.js invoiceTotals, integer Rupiah in BigInt) while typing and
// the server's numbers after each save. A new invoice takes its tax rate
// from the server's configuration at create: the editor uses GET /me's
// settings.tax_rate_bp when the server says it, else its tax reads
// "dihitung server" and the total is the one before tax.
//
// The editor is also what the ticket page shows behind "Buat Invoice"
// (invoiceEditor below, invoice null): its first save creates the invoice and
// the page moves here.
//
// The raw links (invoice_url, rating_url) come in the answer of a send and
// from GET /invoices/{id}/links (derived again by the server, nothing sent):
// they are kept in memory for this tab only (SENT_LINKS), and after a reload
// "Tampilkan Link" fetches them. "Kirim Ulang ke WhatsApp" (a new message to
// the customer) is apart from them and asks first.
//
// Fresh without a reload: the live feed's invoice.updated events (ctx.feed,
// when the app has one) refetch the invoice at once; a poll is the fallback
// (every 60 s with the feed connected, 20 s without it). A change never
// overwrites what is being typed: with the editor changed or a form open the
// page says "Invoice diubah oleh …, muat ulang?" instead. A notice belongs to the state it was said in (flashKey) and goes
// when the invoice moves on.

import { api, get, post, errorText } from '../api.js';
import { h, icon, replace } from '../dom.js';
import { uploadFile, sniffType } from '../upload.js';
import {
  rupiah, rupiahPlain, parseRupiah, invoiceTotals, taxRateText, invoiceStatusLabel, invoiceActionLabel,
  paymentMethodLabel, PAYMENT_METHODS, messageStatusText, jakartaDateTime, jakartaLocalInput, jakartaLocalToUtc,
  phoneDisplay, phoneIntl, statusLabel, durationText,
} from '../format.js';

export const layout = 'wide';

// The poll is the fallback: with the live feed up (invoice.updated refetches
// at once) it looks every 60 s; without a feed, or while it is down, at the
// old pace.
const POLL_LIVE_MS = 60000;
const POLL_MS = 20000;
const LIVE_DEBOUNCE_MS = 250;
const MAX_ITEMS = 50;
const MAX_DESC = 200;
const MAX_QTY = 10000;
const MAX_PRICE = 1e12;
const MAX_NOTE = 1000;
const MAX_REASON = 500;
const MAX_REF = 200;
const FUTURE_SLACK_MS = 5 * 60000;
const EDITABLE = new Set(['draft', 'revision_requested']);

/** Links of a send, per invoice id, for this tab only (never stored). */
const SENT_LINKS = new Map();

/** What the ticket page's editor has to say once the invoice page it moves
 *  to is open ("Draft … dibuat"), per invoice id: said once, inline. */
const HANDOFF = new Map();

/** feedLive(ctx) → whether the app's live feed is connected (its events
 *  then say what changed, and the polls may be slow). */
export function feedLive(ctx) {
  return Boolean(ctx && ctx.feed && ctx.feed.status === 'live');
}

/** taxRateOf(me) → the server's tax rate in basis points from GET /me's
 *  settings.tax_rate_bp, or null when the server does not say it. */
export function taxRateOf(me) {
  const v = me && me.settings ? me.settings.tax_rate_bp : undefined;
  return Number.isInteger(v) && v >= 0 && v <= 10000 ? v : null;
}

// One GET /me per tab for the rate (it only changes with the server's
// configuration); a failure is forgotten so that the next editor asks again.
let settingsRate = null;
function currentTaxRate() {
  if (!settingsRate) {
    settingsRate = get('/me').then(taxRateOf, () => {
      settingsRate = null;
      return null;
    });
  }
  return settingsRate;
}

export const pdfUrl = (id) => `/api/v1/invoices/${encodeURIComponent(id)}/invoice.pdf`;

const SUBMITTED_TEXT = 'Invoice diajukan ke Sales. Sales diberi tahu lewat Telegram.';

const SAVE_ERRORS = {
  stale_version: 'Invoice diubah orang lain, muat ulang.',
  invoice_exists: 'Tiket ini sudah punya invoice. Buka invoice yang ada.',
  invalid_transition: 'Invoice ini sudah tidak bisa diubah: statusnya sudah berubah. Muat ulang untuk melihatnya.',
  not_found: 'Invoice atau tiket tidak ditemukan.',
};

// Field rules in Indonesian, shown next to the field a 422 names.
const FIELD_RULE = {
  description: `Uraian wajib diisi (maksimal ${MAX_DESC} huruf).`,
  qty: `Jumlah harus bilangan bulat 1–${MAX_QTY.toLocaleString('id-ID')}.`,
  unit_price: 'Harga satuan harus angka Rupiah 0 sampai Rp 1.000.000.000.000.',
  discount: 'Diskon harus angka Rupiah dan tidak boleh melebihi subtotal.',
  note: `Catatan maksimal ${MAX_NOTE} huruf.`,
  items: `Isi 1 sampai ${MAX_ITEMS} baris; subtotal paling banyak Rp 1.000.000.000.000.`,
};

let seq = 0;
const uid = (p) => `${p}-${++seq}`;

function newKey() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/** fieldOf("items[2].qty: must be …") → {index: 2, field: "qty"} or
 *  {field: "discount"}: the field a 422 message starts with. */
export function fieldOf(message) {
  const m = /^\s*(items)\[(\d+)\]\.(description|qty|unit_price)\b/.exec(message || '');
  if (m) return { index: Number(m[2]), field: m[3] };
  const t = /^\s*(items|discount|note|amount|method|paid_at|reference|proof_attachment_id|reason)\b/.exec(message || '');
  return t ? { field: t[1] } : null;
}

function statusBadge(s) {
  return h('span', { class: `badge badge-status inv-status inv-status-${s}`, dataset: { testid: 'invoice-status' } }, invoiceStatusLabel(s));
}

function spinnerState(text) {
  return h('div', { class: 'state state-loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

/** stars(4) → "★★★★☆" with its spoken form. */
export function stars(score, label) {
  const n = Math.max(0, Math.min(5, Number(score) || 0));
  return h('span', { class: 'rstars', role: 'img', 'aria-label': `${label ? `${label}: ` : ''}${n} dari 5 bintang` },
    h('span', { class: 'rstars-on', 'aria-hidden': 'true' }, '★'.repeat(n)),
    h('span', { class: 'rstars-off', 'aria-hidden': 'true' }, '★'.repeat(5 - n)));
}

/** ratingBlock(rating) → the customer's rating: the service's stars, the
 *  comment, each technician's stars. */
export function ratingBlock(r) {
  if (!r) return null;
  const techs = Array.isArray(r.techs) ? r.techs : [];
  return h('div', { class: 'rating', dataset: { testid: 'rating' } },
    h('p', { class: 'rating-main' }, h('span', { class: 'strong' }, 'Layanan '), stars(r.score, 'Layanan'),
      h('span', { class: 'rating-num' }, `${r.score}/5`)),
    r.comment ? h('blockquote', { class: 'rating-comment' }, r.comment) : h('p', { class: 'muted small' }, 'Tanpa komentar.'),
    techs.length
      ? h('ul', { class: 'rating-techs', 'aria-label': 'Penilaian per teknisi' }, techs.map((t) =>
        h('li', null, h('span', { class: 'rating-tech' }, t.name || `Teknisi #${t.id}`), stars(t.score, t.name))))
      : null,
    r.created_at ? h('p', { class: 'muted small' }, `Dinilai ${jakartaDateTime(r.created_at)}`) : null);
}

/** totalsList(rows) → a <dl> of [label, value, cls] rows. */
function totalsList(rows, cls = '') {
  return h('dl', { class: `inv-totals ${cls}` }, rows.filter(Boolean).map(([label, value, rc, testid]) =>
    h('div', { class: `inv-total-row ${rc || ''}`, dataset: testid ? { testid } : undefined },
      h('dt', null, label), h('dd', null, value))));
}

function serverTotals(inv, { paid = true } = {}) {
  const rows = [
    ['Subtotal', rupiah(inv.subtotal), '', 'subtotal'],
    ['Diskon', inv.discount ? `− ${rupiah(inv.discount)}` : rupiah(0), '', 'discount'],
    [`Pajak (${taxRateText(inv.tax_rate_bp) || '0%'})`, rupiah(inv.tax), '', 'tax'],
    ['Total', rupiah(inv.total), 'inv-total-grand', 'total'],
  ];
  if (paid && (inv.status === 'sent' || inv.status === 'paid' || inv.paid_amount)) {
    rows.push(['Dibayar', rupiah(inv.paid_amount), '', 'paid']);
    rows.push(['Sisa tagihan', rupiah(inv.balance), inv.balance > 0 ? 'inv-total-due' : 'inv-total-done', 'balance']);
  }
  return totalsList(rows);
}

function itemsTable(items, { caption } = {}) {
  const list = Array.isArray(items) ? items : [];
  if (!list.length) return h('p', { class: 'muted' }, 'Tidak ada baris.');
  return h('table', { class: 'it-table' },
    caption ? h('caption', { class: 'sr-only' }, caption) : null,
    h('thead', null, h('tr', null,
      h('th', { scope: 'col', class: 'it-no' }, 'No'),
      h('th', { scope: 'col' }, 'Uraian'),
      h('th', { scope: 'col', class: 'num' }, 'Jumlah'),
      h('th', { scope: 'col', class: 'num' }, 'Harga Satuan'),
      h('th', { scope: 'col', class: 'num' }, 'Total'))),
    h('tbody', null, list.map((it, i) => h('tr', null,
      h('td', { class: 'it-no' }, String(i + 1)),
      h('td', { class: 'it-desc' }, it.description),
      h('td', { class: 'num it-qty', dataset: { label: 'Jumlah' } }, String(it.qty)),
      h('td', { class: 'num it-price', dataset: { label: 'Harga' } }, rupiah(it.unit_price)),
      h('td', { class: 'num it-total strong', dataset: { label: 'Total' } }, rupiah(it.line_total))))));
}

function who(actor) {
  return actor && actor.name ? actor.name : '';
}

/** flashKey(invoice) → the state a notice was said in: it stays while the
 *  invoice is in that state, version and paid amount, and goes after. */
export function flashKey(x) {
  return x ? [x.status, x.version, x.paid_amount, x.ticket ? x.ticket.status : ''].join('|') : '';
}

/** sig(invoice) → what a person acts on: state, version, money, payments,
 *  the ticket's state, the rating. Two answers with the same sig differ only
 *  in the message state or a link's expiry, which interrupt nobody. */
export function sig(x) {
  if (!x) return '';
  const pays = Array.isArray(x.payments) ? x.payments.map((p) => [p.id, Boolean(p.voided_at)]) : [];
  return JSON.stringify([x.status, x.version, x.total, x.paid_amount, x.ticket ? x.ticket.status : '', pays,
    Boolean(x.rating), x.revision_note || null]);
}

function lastRevise(inv) {
  const revs = Array.isArray(inv.revisions) ? inv.revisions : [];
  for (let i = revs.length - 1; i >= 0; i--) if (revs[i].action === 'revise') return revs[i];
  return null;
}

// ---- the editor --------------------------------------------------------------------------------

/**
 * invoiceEditor({invoice, ticket, ctx, onSaved, onCancel}) → {el, dirty(),
 * version, focus(), busy()}.
 *
 * invoice null: a new invoice for ticket ({id, code}); the first save is
 * POST /tickets/{id}/invoice. Otherwise PATCH /invoices/{id} with the
 * version the editor was opened on (409 stale_version when another CS saved
 * meanwhile). onSaved(invoice, {submitted}) gets the server's answer after a
 * save or a submit; onCancel (new invoice only) closes the editor.
 */
export function invoiceEditor({ invoice = null, ticket, ctx, onSaved, onCancel }) {
  let inv = invoice;
  let busy = false;
  // A new invoice: the rate the server will use, once GET /me says it.
  let newRate = null;
  let saidTimer = null;
  let baseline = '';
  let rows = [];
  let sentRows = []; // the rows of the last request, in the order the server indexes items[i]
  const p = uid('inv');

  const rowsBox = h('div', { class: 'inv-rows' });
  const itemsMsg = h('p', { class: 'field-error', id: `${p}-items-err`, hidden: true });
  const addBtn = h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => addRow(null, true) } }, h('span', { 'aria-hidden': 'true' }, '+'), 'Tambah Baris');
  const discount = h('input', { id: `${p}-discount`, type: 'text', inputmode: 'numeric', autocomplete: 'off', class: 'rp-field', placeholder: '0' });
  const discountErr = h('p', { class: 'field-error', id: `${p}-discount-err`, hidden: true });
  const note = h('textarea', { id: `${p}-note`, rows: '3', maxlength: String(MAX_NOTE), placeholder: 'Contoh: garansi 30 hari. Tercetak di invoice.' });
  const noteErr = h('p', { class: 'field-error', id: `${p}-note-err`, hidden: true });
  const noteCount = h('span', { class: 'muted small' });
  const totalsBox = h('div', { class: 'inv-totals-box', 'aria-live': 'off' });
  const msg = h('div', { class: 'form-message form-message-error', role: 'alert', hidden: true });
  const saveState = h('span', { class: 'inv-save-state small', role: 'status' });
  const saveBtn = h('button', { class: 'btn btn-secondary', type: 'submit' }, 'Simpan Draft');
  const submitBtn = h('button', { class: 'btn btn-primary', type: 'button', on: { click: onSubmitClick } }, 'Ajukan ke Sales');
  const pdfBtn = h('button', { class: 'btn btn-ghost', type: 'button', on: { click: onPreview } }, icon('file'), 'Pratinjau PDF');
  const cancelBtn = !inv && onCancel
    ? h('button', { class: 'btn btn-ghost', type: 'button', on: { click: onCancelClick } }, 'Batal') : null;

  for (const el of [discount, note]) el.addEventListener('input', recalc);
  discount.addEventListener('blur', () => tidyRupiah(discount));
  note.addEventListener('input', () => {
    noteCount.textContent = note.value.length > MAX_NOTE - 200 ? `${note.value.length}/${MAX_NOTE}` : '';
  });

  const head = h('div', { class: 'inv-rows-head', 'aria-hidden': 'true' },
    h('span', { class: 'inv-h-no' }, 'No'), h('span', null, 'Uraian'), h('span', null, 'Jumlah'),
    h('span', null, 'Harga Satuan'), h('span', { class: 'num' }, 'Total'), h('span', null, ''));

  const form = h('form', { class: 'inv-editor', novalidate: true, on: { submit: onSave }, 'aria-label': 'Isi invoice' },
    h('section', { class: 'panel inv-items-panel', 'aria-labelledby': `${p}-items-title` },
      h('div', { class: 'inv-panel-head' },
        h('h2', { class: 'panel-title', id: `${p}-items-title` }, 'Rincian pekerjaan & biaya'),
        h('span', { class: 'muted small' }, `Maksimal ${MAX_ITEMS} baris`)),
      head, rowsBox, itemsMsg,
      h('div', { class: 'inv-add' }, addBtn)),
    h('div', { class: 'inv-editor-foot' },
      h('section', { class: 'panel inv-extra' },
        h('div', { class: 'field' },
          h('label', { for: discount.id }, 'Diskon', h('span', { class: 'optional' }, ' (Rupiah, opsional)')),
          h('div', { class: 'rp-input' }, h('span', { class: 'rp-prefix', 'aria-hidden': 'true' }, 'Rp'), discount),
          discountErr),
        h('div', { class: 'field' },
          h('label', { for: note.id }, 'Catatan', h('span', { class: 'optional' }, ' (opsional, tercetak di invoice)')),
          note, noteCount, noteErr)),
      h('section', { class: 'panel inv-sum', 'aria-label': 'Jumlah tagihan' },
        totalsBox,
        msg,
        h('div', { class: 'inv-actions' }, submitBtn, saveBtn, pdfBtn, cancelBtn),
        saveState)));

  function tidyRupiah(input) {
    const n = parseRupiah(input.value);
    if (n !== null) input.value = rupiahPlain(n);
  }

  function renumber() {
    rows.forEach((r, i) => {
      r.no.textContent = String(i + 1);
      r.el.setAttribute('aria-label', `Baris ${i + 1}`);
      r.remove.setAttribute('aria-label', `Hapus baris ${i + 1}`);
      r.remove.disabled = rows.length <= 1;
    });
    addBtn.disabled = rows.length >= MAX_ITEMS;
  }

  function addRow(item, focus) {
    if (rows.length >= MAX_ITEMS) return null;
    const k = uid(`${p}-r`);
    const r = { key: k };
    // One line of text that wraps (a textarea that grows with it,
    // field-sizing in app.css), so that a long description shows whole on a
    // phone; Enter adds no line break (the server keeps one line).
    r.desc = h('textarea', { id: `${k}-desc`, rows: '1', maxlength: String(MAX_DESC), autocomplete: 'off', spellcheck: 'true', class: 'inv-desc', placeholder: 'Contoh: Ganti kompresor AC 1 PK' });
    r.desc.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') ev.preventDefault();
    });
    r.desc.addEventListener('input', () => {
      if (/[\r\n]/.test(r.desc.value)) r.desc.value = r.desc.value.replace(/\s*[\r\n]+\s*/g, ' ');
    });
    r.qty = h('input', { id: `${k}-qty`, type: 'text', inputmode: 'numeric', autocomplete: 'off', class: 'num' });
    r.price = h('input', { id: `${k}-price`, type: 'text', inputmode: 'numeric', autocomplete: 'off', class: 'rp-field', placeholder: '0' });
    r.total = h('span', { class: 'inv-line-total', dataset: { testid: 'line-total' } }, rupiah(0));
    r.err = h('p', { class: 'field-error inv-row-err', id: `${k}-err`, hidden: true });
    r.no = h('span', { class: 'inv-row-no', 'aria-hidden': 'true' });
    r.remove = h('button', { class: 'btn btn-ghost btn-icon inv-remove', type: 'button', title: 'Hapus baris', on: { click: () => removeRow(r) } }, icon('x'));
    r.desc.value = item ? item.description : '';
    r.qty.value = item ? String(item.qty) : '1';
    r.price.value = item ? rupiahPlain(item.unit_price) : '';
    for (const el of [r.desc, r.qty, r.price]) el.addEventListener('input', () => {
      clearFieldError(r, el);
      recalc();
    });
    r.price.addEventListener('blur', () => tidyRupiah(r.price));
    r.el = h('div', { class: 'inv-row', role: 'group', dataset: { testid: 'invoice-row' } },
      r.no,
      h('div', { class: 'inv-cell inv-c-desc' }, h('label', { for: r.desc.id, class: 'inv-cell-label' }, 'Uraian'), r.desc),
      h('div', { class: 'inv-cell inv-c-qty' }, h('label', { for: r.qty.id, class: 'inv-cell-label' }, 'Jumlah'), r.qty),
      h('div', { class: 'inv-cell inv-c-price' }, h('label', { for: r.price.id, class: 'inv-cell-label' }, 'Harga Satuan'),
        h('div', { class: 'rp-input' }, h('span', { class: 'rp-prefix', 'aria-hidden': 'true' }, 'Rp'), r.price)),
      h('div', { class: 'inv-cell inv-c-total' }, h('span', { class: 'inv-cell-label', 'aria-hidden': 'true' }, 'Total'), r.total),
      r.remove,
      r.err);
    rows.push(r);
    rowsBox.appendChild(r.el);
    renumber();
    if (focus) {
      r.desc.focus();
      recalc();
    }
    return r;
  }

  function removeRow(r) {
    if (rows.length <= 1) return;
    const i = rows.indexOf(r);
    rows.splice(i, 1);
    r.el.remove();
    renumber();
    recalc();
    const next = rows[Math.min(i, rows.length - 1)];
    if (next) next.desc.focus();
  }

  function fill(from) {
    replace(rowsBox);
    rows = [];
    const items = from && Array.isArray(from.items) && from.items.length ? from.items : [null];
    for (const it of items) addRow(it, false);
    discount.value = from && from.discount ? rupiahPlain(from.discount) : '';
    note.value = from && from.note ? from.note : '';
    baseline = canonical(read());
    clearErrors();
    recalc();
  }

  // What the inputs say, parsed (null where a number is not one).
  function read() {
    return {
      rows: rows.map((r) => ({
        r,
        description: r.desc.value.trim(),
        qtyText: r.qty.value.trim(),
        priceText: r.price.value.trim(),
        qty: /^\d+$/.test(r.qty.value.trim()) ? Number(r.qty.value.trim()) : null,
        unit_price: parseRupiah(r.price.value),
      })),
      discountText: discount.value.trim(),
      discount: discount.value.trim() === '' ? 0 : parseRupiah(discount.value),
      note: note.value.trim(),
    };
  }

  function canonical(v) {
    return JSON.stringify({
      items: v.rows.filter((x) => x.description || x.priceText || (x.qtyText && x.qtyText !== '1'))
        .map((x) => [x.description, x.qtyText === '' ? null : x.qty ?? x.qtyText, x.priceText === '' ? null : x.unit_price ?? x.priceText]),
      discount: v.discountText === '' ? 0 : v.discount ?? v.discountText,
      note: v.note,
    });
  }

  function isDirty() {
    return !inv || canonical(read()) !== baseline;
  }

  function recalc() {
    const v = read();
    const rate = inv ? inv.tax_rate_bp : newRate;
    const t = invoiceTotals(v.rows.map((x) => ({ qty: x.qty, unit_price: x.unit_price })), v.discount ?? 0, rate);
    v.rows.forEach((x, i) => {
      x.r.total.textContent = t.lines[i] === null ? (x.qtyText || x.priceText ? 'Rp -' : rupiah(0)) : rupiah(t.lines[i]);
    });
    const dirty = isDirty();
    // Not dirty: the server's own numbers (they are the truth); dirty: the
    // same arithmetic on what is typed.
    const useServer = inv && !dirty;
    const over = t.discount > t.subtotal;
    const rowsOut = [
      ['Subtotal', rupiah(useServer ? inv.subtotal : t.subtotal), '', 'subtotal'],
      ['Diskon', (useServer ? inv.discount : t.discount) ? `− ${rupiah(useServer ? inv.discount : t.discount)}` : rupiah(0), over ? 'inv-total-bad' : '', 'discount'],
    ];
    if (inv) {
      rowsOut.push([`Pajak (${taxRateText(inv.tax_rate_bp) || '0%'})`, over ? 'Rp -' : rupiah(useServer ? inv.tax : t.tax), '', 'tax']);
      rowsOut.push(['Total', over ? 'Rp -' : rupiah(useServer ? inv.total : t.total), 'inv-total-grand', 'total']);
    } else if (rate !== null) {
      // The server's configured rate (GET /me): the same arithmetic it does
      // at create.
      rowsOut.push([`Pajak (${taxRateText(rate) || '0%'})`, over ? 'Rp -' : rupiah(t.tax), '', 'tax']);
      rowsOut.push(['Total', over ? 'Rp -' : rupiah(t.total), 'inv-total-grand', 'total']);
    } else {
      rowsOut.push(['Pajak', h('span', { class: 'muted' }, 'dihitung server'), '', 'tax']);
      rowsOut.push(['Total sebelum pajak', over ? 'Rp -' : rupiah(t.taxable), 'inv-total-grand', 'total']);
    }
    replace(totalsBox, totalsList(rowsOut),
      over ? h('p', { class: 'field-error' }, 'Diskon melebihi subtotal.') : null,
      !inv && rate === null ? h('p', { class: 'muted small' }, 'Pajak dan total akhir dihitung server saat draft disimpan.') : null);
    if (!saidTimer) {
      saveState.textContent = busy ? '' : !inv ? 'Belum disimpan' : dirty ? 'Ada perubahan yang belum disimpan' : `Tersimpan · versi ${inv.version}`;
    }
    saveState.classList.toggle('is-dirty', dirty && !saidTimer);
    saveState.classList.toggle('is-said', Boolean(saidTimer));
  }

  // A short answer in the status line under the buttons (where the eye is),
  // instead of a toast over the totals; the usual state comes back after.
  function say(text) {
    clearTimeout(saidTimer);
    saidTimer = setTimeout(() => {
      saidTimer = null;
      recalc();
    }, 5000);
    saveState.textContent = text;
    recalc();
  }

  function setFieldError(input, errEl, text) {
    errEl.hidden = !text;
    errEl.textContent = text || '';
    if (text) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', errEl.id);
    } else {
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-describedby');
    }
  }

  function rowError(r, field, text) {
    const input = field === 'qty' ? r.qty : field === 'unit_price' ? r.price : r.desc;
    const list = r.errs || (r.errs = {});
    list[field] = text;
    const all = Object.values(list).filter(Boolean);
    r.err.hidden = !all.length;
    r.err.textContent = all.join(' ');
    if (text) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', r.err.id);
    } else {
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-describedby');
    }
  }

  function clearFieldError(r, el) {
    const field = el === r.qty ? 'qty' : el === r.price ? 'unit_price' : 'description';
    if (r.errs && r.errs[field]) rowError(r, field, '');
  }

  function clearErrors() {
    for (const r of rows) for (const f of ['description', 'qty', 'unit_price']) rowError(r, f, '');
    setFieldError(discount, discountErr, '');
    setFieldError(note, noteErr, '');
    itemsMsg.hidden = true;
    msg.hidden = true;
    replace(msg);
  }

  function showMsg(text, action) {
    msg.hidden = false;
    replace(msg, h('span', null, text), action || null);
  }

  // Client-side checks, the same limits as the server's (docs/money.md):
  // the body to send, or null with the errors shown.
  function validate() {
    clearErrors();
    const v = read();
    let first = null;
    const mark = (el) => {
      if (!first) first = el;
    };
    const used = v.rows.filter((x, i) => x.description || x.priceText || (x.qtyText && x.qtyText !== '1') || i === 0);
    for (const x of used) {
      if (!x.description) {
        rowError(x.r, 'description', 'Uraian wajib diisi.');
        mark(x.r.desc);
      } else if (x.description.length > MAX_DESC) {
        rowError(x.r, 'description', FIELD_RULE.description);
        mark(x.r.desc);
      }
      if (x.qty === null || x.qty < 1 || x.qty > MAX_QTY) {
        rowError(x.r, 'qty', FIELD_RULE.qty);
        mark(x.r.qty);
      }
      if (x.priceText === '') {
        rowError(x.r, 'unit_price', 'Harga satuan wajib diisi (0 bila gratis).');
        mark(x.r.price);
      } else if (x.unit_price === null || x.unit_price > MAX_PRICE) {
        rowError(x.r, 'unit_price', `${FIELD_RULE.unit_price} Contoh: 1.250.000`);
        mark(x.r.price);
      }
    }
    const t = invoiceTotals(used.map((x) => ({ qty: x.qty, unit_price: x.unit_price })), 0, 0);
    if (t.subtotal > BigInt(MAX_PRICE)) {
      itemsMsg.hidden = false;
      itemsMsg.textContent = 'Subtotal melebihi Rp 1.000.000.000.000.';
      mark(used[0].r.price);
    }
    if (v.discount === null) {
      setFieldError(discount, discountErr, 'Diskon harus angka Rupiah, contoh 50.000.');
      mark(discount);
    } else if (BigInt(v.discount) > t.subtotal) {
      setFieldError(discount, discountErr, `Diskon tidak boleh melebihi subtotal (${rupiah(t.subtotal)}).`);
      mark(discount);
    }
    if (v.note.length > MAX_NOTE) {
      setFieldError(note, noteErr, FIELD_RULE.note);
      mark(note);
    }
    if (first) {
      showMsg('Periksa isian yang ditandai merah.');
      first.focus();
      return null;
    }
    sentRows = used.map((x) => x.r);
    return {
      items: used.map((x) => ({ description: x.description, qty: x.qty, unit_price: x.unit_price })),
      discount: v.discount,
      note: v.note,
    };
  }

  // A 422 names its field: put the message beside it.
  function placeServerError(err) {
    const f = fieldOf(err.message);
    if (!f) return false;
    if (f.index !== undefined && sentRows[f.index]) {
      const r = sentRows[f.index];
      rowError(r, f.field, FIELD_RULE[f.field] || err.message);
      (f.field === 'qty' ? r.qty : f.field === 'unit_price' ? r.price : r.desc).focus();
      return true;
    }
    if (f.field === 'discount') {
      setFieldError(discount, discountErr, FIELD_RULE.discount);
      discount.focus();
      return true;
    }
    if (f.field === 'note') {
      setFieldError(note, noteErr, FIELD_RULE.note);
      note.focus();
      return true;
    }
    if (f.field === 'items') {
      itemsMsg.hidden = false;
      itemsMsg.textContent = /subtotal/i.test(err.message) ? 'Subtotal melebihi Rp 1.000.000.000.000.' : FIELD_RULE.items;
      return true;
    }
    return false;
  }

  function setBusy(on, label) {
    busy = on;
    for (const b of [saveBtn, submitBtn, pdfBtn, addBtn]) b.disabled = on;
    if (!on) renumber();
    form.setAttribute('aria-busy', on ? 'true' : 'false');
    if (on) saveState.textContent = label || 'Menyimpan…';
    else recalc();
  }

  function reloadButton() {
    return h('button', { class: 'btn btn-secondary btn-sm', type: 'button', on: { click: () => onSaved && onSaved(null, { reload: true }) } }, icon('refresh', 'icon icon-sm'), 'Muat Ulang');
  }

  function showSaveError(err) {
    if (err.status === 422 && placeServerError(err)) {
      showMsg('Server menolak isian yang ditandai merah.');
      return;
    }
    if (err.status === 409 && err.code === 'stale_version') {
      showMsg(SAVE_ERRORS.stale_version, reloadButton());
      return;
    }
    if (err.status === 409 && err.code === 'invoice_exists') {
      showMsg(SAVE_ERRORS.invoice_exists, h('button', { class: 'btn btn-secondary btn-sm', type: 'button', on: { click: () => onSaved && onSaved(null, { reload: true }) } }, 'Lihat Invoice'));
      return;
    }
    if (err.status === 409) {
      showMsg(inv ? SAVE_ERRORS.invalid_transition : 'Tiket ini belum bisa dibuatkan invoice: statusnya sudah berubah.', reloadButton());
      return;
    }
    showMsg(errorText(err, SAVE_ERRORS));
  }

  /** save() → the invoice as the server answered, or null (errors shown). */
  async function save() {
    const body = validate();
    if (!body) return null;
    setBusy(true, 'Menyimpan…');
    try {
      let res;
      if (!inv) res = await post(`/tickets/${ticket.id}/invoice`, body);
      else res = await api('PATCH', `/invoices/${inv.id}`, { ...body, version: inv.version });
      inv = res;
      fill(res);
      return res;
    } catch (err) {
      showSaveError(err);
      return null;
    } finally {
      setBusy(false);
    }
  }

  async function onSave(ev) {
    ev.preventDefault();
    if (busy) return;
    const wasNew = !inv;
    if (inv && !isDirty()) {
      say('Tidak ada perubahan untuk disimpan');
      return;
    }
    const res = await save();
    if (!res) return;
    const text = wasNew ? `Draft ${res.number} dibuat.` : `Draft disimpan · versi ${res.version}`;
    if (wasNew) HANDOFF.set(res.id, { kind: 'ok', text });
    else say(text);
    if (onSaved) onSaved(res, { created: wasNew });
  }

  async function onSubmitClick() {
    if (busy) return;
    const wasNew = !inv;
    if (isDirty()) {
      const res = await save();
      if (!res) return;
    } else if (!validate()) return;
    setBusy(true, 'Mengajukan ke Sales…');
    try {
      const res = await post(`/invoices/${inv.id}/submit`);
      inv = res;
      if (wasNew) HANDOFF.set(res.id, { kind: 'ok', text: SUBMITTED_TEXT });
      if (onSaved) onSaved(res, { submitted: true, created: wasNew });
    } catch (err) {
      if (err.status === 409) showMsg('Invoice ini sudah tidak bisa diajukan: statusnya sudah berubah.', reloadButton());
      else showMsg(errorText(err));
      if (wasNew && onSaved) onSaved(inv, { created: true }); // it exists now: show it
    } finally {
      setBusy(false);
    }
  }

  // A new tab for the PDF. A changed draft is saved first, so that the
  // preview shows what is on screen; the tab is opened before the save (in
  // the click itself) so that popup blockers let it through.
  async function onPreview() {
    if (busy) return;
    if (inv && !isDirty()) {
      window.open(pdfUrl(inv.id), '_blank', 'noopener');
      return;
    }
    const tab = window.open('', '_blank');
    const wasNew = !inv;
    const res = await save();
    if (!res) {
      if (tab) tab.close();
      return;
    }
    if (tab) {
      tab.opener = null;
      tab.location.href = pdfUrl(res.id);
    } else window.open(pdfUrl(res.id), '_blank', 'noopener');
    if (onSaved) onSaved(res, { created: wasNew });
  }

  let cancelArmed = null;
  function onCancelClick() {
    if (busy) return;
    const v = read();
    const typed = v.rows.some((x) => x.description || x.priceText) || v.discountText || v.note;
    if (typed && !cancelArmed) {
      cancelBtn.textContent = 'Buang isian? Klik lagi';
      cancelArmed = setTimeout(() => {
        cancelArmed = null;
        cancelBtn.textContent = 'Batal';
      }, 4000);
      return;
    }
    clearTimeout(cancelArmed);
    cancelArmed = null;
    onCancel();
  }

  fill(inv);
  if (!inv) {
    currentTaxRate().then((bp) => {
      if (bp === null || inv) return;
      newRate = bp;
      recalc();
    });
  }

  return {
    el: form,
    get version() {
      return inv ? inv.version : null;
    },
    get id() {
      return inv ? inv.id : null;
    },
    dirty: isDirty,
    busy: () => busy,
    focus() {
      if (rows[0]) rows[0].desc.focus();
    },
  };
}

// ---- the page ------------------------------------------------------------------------------------

export function mount(root, ctx) {
  const id = Number(ctx.params[0]);
  const role = ctx.user.role;
  const isCs = role === 'cs' || role === 'admin';
  const isSales = role === 'sales' || role === 'admin';
  let alive = true;
  let inv = null;
  let loadErr = null;
  let editor = null;
  let busy = false;
  let flash = null; // {kind, text, key}: the last action's answer, for the state it was said in
  let poll = null;
  let liveTimer = null;
  let lastFetch = 0;
  let gen = 0; // counts setInvoice: a quiet answer older than the shown invoice is dropped
  let remote = null; // an invoice someone else changed while a form was open: {res, actor, what}
  // Open forms keep their inputs across redraws.
  let reviseForm = null;
  let payForm = null;
  const voidForms = new Map();
  let linksState = null; // {busy} | {error}: "Tampilkan Link" in flight or refused
  let resendAsk = false; // "Kirim Ulang ke WhatsApp" asked for its confirmation
  // The Idempotency-Key of the send being pressed: kept until the server
  // answers it (a retry after a 503 or a lost answer sends it again, so the
  // customer gets one message), then dropped: the next press is a new send.
  let sendKey = null;
  let flashShow = false; // a new notice: scrolled into view by the next draw
  let focusAfterDraw = null; // a selector in the page to focus after the next draw

  const crumbs = h('nav', { class: 'crumbs inv-crumbs' });
  // The "changed by someone else" notice lives outside the redrawn page, so
  // that saying it never moves the editor (and the keyboard focus in it).
  const remoteBox = h('div', { class: 'inv-remote-box' });
  const page = h('div', { class: 'inv-page', 'aria-live': 'off' });
  root.append(crumbs, remoteBox, page);

  function drawCrumbs() {
    const back = isCs && inv
      ? h('a', { class: 'link', href: `#/tiket/${inv.ticket.id}` }, `← Tiket ${inv.ticket.code}`)
      : h('a', { class: 'link', href: '#/invoice' }, role === 'sales' ? '← Daftar approval' : '← Semua invoice');
    replace(crumbs, back, isCs && inv ? h('a', { class: 'link', href: '#/invoice' }, 'Semua invoice') : null);
  }

  async function load(spinner) {
    if (spinner) replace(page, spinnerState('Memuat invoice…'));
    try {
      const res = await get(`/invoices/${id}`);
      if (!alive) return;
      lastFetch = Date.now();
      loadErr = null;
      const handoff = HANDOFF.get(id);
      HANDOFF.delete(id);
      if (handoff) setFlash(handoff.kind, handoff.text, res);
      setInvoice(res);
    } catch (err) {
      if (!alive) return;
      if (!spinner && inv) return; // a quiet refresh failed: keep what is shown
      loadErr = err;
      draw();
    } finally {
      schedulePoll();
    }
  }

  function setInvoice(res) {
    gen += 1;
    inv = res;
    if (res && (res.invoice_url || res.rating_url)) {
      SENT_LINKS.set(res.id, { invoice_url: res.invoice_url, rating_url: res.rating_url });
    }
    // A notice belongs to the state it was said in: once the invoice moved
    // on (submitted again, paid, …) it is no longer true.
    if (flash && flash.key !== flashKey(res)) flash = null;
    if (remote && sig(remote.res) === sig(res)) clearRemote();
    if (res.status !== 'sent') resendAsk = false;
    ctx.setTitle(`Invoice ${res.number}`);
    draw();
  }

  function formsOpen() {
    return Boolean(reviseForm || payForm || voidForms.size || (editor && editor.dirty()) || busy || resendAsk);
  }

  function actionBusy() {
    return busy || Boolean(editor && editor.busy());
  }

  // Someone else may act on this invoice (Sales approves while CS waits, a
  // message is sent): the live feed says so at once, this poll is the
  // fallback when there is no feed or it is down.
  function schedulePoll() {
    clearTimeout(poll);
    if (!alive) return;
    poll = setTimeout(() => {
      if (document.visibilityState === 'visible' && inv) quietRefresh();
      else schedulePoll();
    }, feedLive(ctx) ? POLL_LIVE_MS : POLL_MS);
  }

  // A live event (or the tab coming back): refetch soon, once for a burst.
  function refreshSoon() {
    clearTimeout(liveTimer);
    liveTimer = setTimeout(() => quietRefresh(), LIVE_DEBOUNCE_MS);
  }

  // Look again without a spinner. An answer of our own action may be on its
  // way (the event can beat the HTTP answer): wait for it first, so that our
  // own change never reads as someone else's.
  async function quietRefresh() {
    if (!alive || !inv) return;
    if (actionBusy()) {
      clearTimeout(liveTimer);
      liveTimer = setTimeout(() => quietRefresh(), 600);
      return;
    }
    const asked = gen;
    let res;
    try {
      res = await get(`/invoices/${id}`);
    } catch {
      schedulePoll(); // keep what is shown; the next action says what is wrong
      return;
    }
    if (!alive) return;
    lastFetch = Date.now();
    schedulePoll();
    // An action answered meanwhile (or is still running): this answer may
    // be older than what is shown. Ask again instead.
    if (actionBusy() || gen !== asked) {
      if (actionBusy() || sig(res) !== sig(inv)) refreshSoon();
      return;
    }
    if (JSON.stringify(res) === JSON.stringify(inv)) return;
    if (sig(res) === sig(inv)) {
      // Only the message state or a link's expiry moved: not worth
      // interrupting a form for; shown with the next redraw otherwise.
      if (!formsOpen()) setInvoice(res);
      return;
    }
    if (formsOpen()) {
      showRemote(res);
      return;
    }
    if (res.status !== inv.status) announceMove(res);
    setInvoice(res);
  }

  // Someone else moved it (Sales approved while CS waited): say so, for the
  // new state, instead of the last action's answer.
  function announceMove(res) {
    const by = who(res.approved_by);
    let text = null;
    if (res.status === 'approved') text = `Sales${by ? ` (${by})` : ''} menyetujui invoice ini.${isCs ? ' Sekarang bisa dikirim ke pelanggan.' : ''}`;
    else if (res.status === 'revision_requested') text = null; // the red "Sales minta revisi" says it
    else if (res.status === 'pending_approval') text = isSales ? `CS mengajukan invoice ini${res.version > 1 ? ` lagi (versi ${res.version})` : ''}. Perubahannya ada di riwayat.` : 'Invoice diajukan ke Sales.';
    else if (res.status === 'paid') text = 'Invoice sudah lunas.';
    else text = `Status invoice berubah: ${invoiceStatusLabel(res.status)}.`;
    setFlash(text ? 'ok' : null, text, res);
  }

  // The latest action on res by whom, from its history ("Citra CS",
  // "Pembayaran dicatat").
  function lastChange(res) {
    const revs = Array.isArray(res.revisions) ? res.revisions : [];
    const r = revs[revs.length - 1];
    if (!r) return { actor: '', what: '' };
    return { actor: who(r.actor), what: invoiceActionLabel(r.action) };
  }

  function showRemote(res) {
    const { actor, what } = lastChange(res);
    const ticketMoved = inv && res.ticket && inv.ticket && res.ticket.status !== inv.ticket.status && sig({ ...res, ticket: inv.ticket }) === sig(inv);
    remote = { res, actor: ticketMoved ? '' : actor, what: ticketMoved ? `tiket ${statusLabel(res.ticket.status).toLowerCase()}` : what };
    const editing = editor && editor.dirty();
    const text = `Invoice diubah${remote.actor ? ` oleh ${remote.actor}` : ''}${remote.what ? ` (${remote.what}${res.status !== inv.status ? `, sekarang ${invoiceStatusLabel(res.status)}` : ''})` : ''}, muat ulang?`;
    replace(remoteBox, h('div', { class: 'banner banner-warn inv-remote', role: 'alert', dataset: { testid: 'invoice-remote' } },
      h('div', null,
        h('p', { class: 'strong' }, text),
        h('p', { class: 'small inv-remote-sub' }, editing
          ? 'Isian Anda belum disimpan dan akan dibuang; menyimpannya sekarang ditolak server.'
          : 'Isian yang sedang terbuka akan dibuang.')),
      h('div', { class: 'inv-remote-btns' },
        h('button', { class: 'btn btn-primary btn-sm', type: 'button', on: { click: applyRemote } }, icon('refresh', 'icon icon-sm'), 'Muat Ulang'))));
  }

  function clearRemote() {
    remote = null;
    replace(remoteBox);
  }

  function applyRemote() {
    const res = remote && remote.res;
    reviseForm = null;
    payForm = null;
    voidForms.clear();
    resendAsk = false;
    editor = null;
    clearRemote();
    if (res && res.status !== (inv && inv.status)) announceMove(res);
    if (res) setInvoice(res);
    quietRefresh(); // the newest, in case more happened since
  }

  function setFlash(kind, text, forInv = inv) {
    flash = text ? { kind, text, key: forInv ? flashKey(forInv) : '' } : null;
    flashShow = Boolean(text);
  }

  // Re-read after a 409 so that the page shows the state that refused.
  async function refreshAfterConflict(text) {
    try {
      const res = await get(`/invoices/${id}`);
      if (!alive) return;
      const by = res.status === 'approved' && res.approved_by ? ` oleh ${res.approved_by.name}` : '';
      setFlash('error', `${text} Status sekarang: ${invoiceStatusLabel(res.status)}${by}.`, res);
      setInvoice(res);
    } catch (err) {
      setFlash('error', `${text} ${errorText(err)}`);
      draw();
    }
  }

  // ---- sections

  function head() {
    const c = inv.customer || {};
    const phone = phoneIntl(c.phone);
    return h('header', { class: 'inv-head' },
      h('div', { class: 'job-top' },
        h('span', { class: 'job-code' }, 'INVOICE'),
        statusBadge(inv.status),
        isCs && inv.ticket && inv.ticket.status ? h('span', { class: `badge badge-status status-${inv.ticket.status}` }, `Tiket: ${statusLabel(inv.ticket.status)}`) : null),
      h('h1', { class: 'inv-number' }, inv.number),
      h('p', { class: 'inv-sub' },
        h('span', { class: 'strong' }, c.name || '-'),
        phone ? h('span', null, ' · ', h('a', { class: 'link', href: `tel:+${phone}` }, phoneDisplay(phone))) : null),
      c.address ? h('p', { class: 'muted small inv-addr' }, c.address) : null,
      h('p', { class: 'muted small' },
        'Tiket ', isCs ? h('a', { class: 'link', href: `#/tiket/${inv.ticket.id}` }, inv.ticket.code) : h('span', { class: 'strong' }, inv.ticket.code),
        inv.ticket.problem ? ` · ${inv.ticket.problem}` : ''),
      statusLine());
  }

  function statusLine() {
    const s = inv.status;
    let text = '';
    if (s === 'draft') text = `Draft dibuat ${who(inv.created_by) ? `oleh ${who(inv.created_by)} ` : ''}${jakartaDateTime(inv.created_at)}. Belum diajukan ke Sales.`;
    else if (s === 'pending_approval') {
      const age = inv.submitted_at ? durationText((Date.now() - Date.parse(inv.submitted_at)) / 1000) : '';
      text = `Diajukan ${jakartaDateTime(inv.submitted_at)}${age ? ` · menunggu ${age}` : ''}.`;
    } else if (s === 'approved') text = `Disetujui${who(inv.approved_by) ? ` oleh ${who(inv.approved_by)}` : ''} ${jakartaDateTime(inv.approved_at)}. Siap dikirim ke pelanggan.`;
    else if (s === 'sent') text = `Dikirim ${jakartaDateTime(inv.sent_at)}${inv.due_at ? ` · jatuh tempo ${jakartaDateTime(inv.due_at)}` : ''}.`;
    else if (s === 'paid') text = `Lunas ${jakartaDateTime(inv.paid_at)}.`;
    return text ? h('p', { class: 'inv-status-line', dataset: { testid: 'status-line' } }, text) : null;
  }

  function flashBanner() {
    if (!flash) return null;
    return h('div', { class: `banner banner-${flash.kind === 'error' ? 'error' : 'ok'} inv-flash`, role: flash.kind === 'error' ? 'alert' : 'status', dataset: { testid: 'invoice-flash' } },
      h('span', null, flash.text),
      h('button', { class: 'btn btn-ghost btn-sm inv-flash-x', type: 'button', 'aria-label': 'Tutup pesan', on: { click: () => { flash = null; draw(); } } }, icon('x', 'icon icon-sm')));
  }

  function revisionNotice() {
    const rev = lastRevise(inv);
    const text = inv.revision_note || (rev && rev.note);
    if (!text || !['revision_requested', 'draft'].includes(inv.status)) return null;
    const strong = inv.status === 'revision_requested';
    return h('section', { class: `inv-revnote ${strong ? 'is-open' : 'is-done'}`, role: strong ? 'alert' : null, 'aria-labelledby': 'inv-revnote-title', dataset: { testid: 'revision-note' } },
      h('h2', { class: 'inv-revnote-title', id: 'inv-revnote-title' }, icon('alert'),
        strong ? 'Sales minta revisi' : 'Catatan revisi terakhir dari Sales'),
      h('blockquote', { class: 'inv-revnote-text' }, text),
      rev ? h('p', { class: 'small inv-revnote-who' }, [who(rev.actor), jakartaDateTime(rev.at)].filter(Boolean).join(' · ')) : null,
      !strong ? h('p', { class: 'small' }, 'Sudah diubah? Tekan "Ajukan ke Sales" lagi.') : null);
  }

  function readOnlyItems() {
    return h('section', { class: 'panel', 'aria-labelledby': 'inv-items-title' },
      h('h2', { class: 'panel-title', id: 'inv-items-title' }, 'Rincian pekerjaan & biaya'),
      itemsTable(inv.items, { caption: `Rincian invoice ${inv.number}` }),
      h('div', { class: 'inv-ro-foot' },
        inv.note ? h('div', { class: 'inv-note' }, h('p', { class: 'label' }, 'Catatan'), h('p', { class: 'inv-note-text' }, inv.note)) : h('div'),
        serverTotals(inv, { paid: !paymentsShown() })));
  }

  function paymentsShown() {
    return isCs && (inv.status === 'sent' || inv.status === 'paid' || (inv.payments && inv.payments.length > 0));
  }

  function pdfButton(cls = 'btn btn-secondary') {
    return h('button', { class: cls, type: 'button', on: { click: () => window.open(pdfUrl(inv.id), '_blank', 'noopener') } }, icon('file'), 'Pratinjau PDF');
  }

  function bigTotal(label = 'Total tagihan') {
    return h('div', { class: 'inv-big' },
      h('p', { class: 'inv-big-label' }, label),
      h('p', { class: 'inv-big-amount', dataset: { testid: 'big-total' } }, rupiah(inv.total)),
      h('p', { class: 'muted small' }, `Subtotal ${rupiah(inv.subtotal)}`, inv.discount ? ` − diskon ${rupiah(inv.discount)}` : '',
        ` + pajak ${taxRateText(inv.tax_rate_bp)} ${rupiah(inv.tax)}`));
  }

  // Sales: Approve / Minta Revisi.
  function salesActions() {
    const approve = h('button', { class: 'btn btn-success-solid btn-lg btn-block', type: 'button', disabled: busy, on: { click: onApprove } }, icon('check'), 'Approve');
    const ask = h('button', { class: 'btn btn-secondary btn-lg btn-block', type: 'button', disabled: busy, 'aria-expanded': reviseForm ? 'true' : 'false', on: { click: openRevise } }, 'Minta Revisi');
    return h('section', { class: 'panel inv-act inv-act-sales', 'aria-labelledby': 'inv-act-title' },
      h('h2', { class: 'panel-title', id: 'inv-act-title' }, 'Persetujuan harga'),
      bigTotal(),
      h('div', { class: 'inv-act-buttons' }, approve, reviseForm ? null : ask),
      reviseForm ? reviseForm.el : null,
      pdfButton('btn btn-ghost btn-block'));
  }

  function openRevise() {
    reviseForm = makeReviseForm();
    draw();
    reviseForm.text.focus();
  }

  function makeReviseForm() {
    const text = h('textarea', { id: 'inv-revise-note', rows: '4', maxlength: String(MAX_NOTE), required: true, placeholder: 'Contoh: harga freon terlalu tinggi, mohon cek lagi' });
    const err = h('p', { class: 'field-error', id: 'inv-revise-err', role: 'alert', hidden: true });
    const send = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Kirim Revisi');
    const back = h('button', { class: 'btn btn-ghost', type: 'button', on: { click: () => { reviseForm = null; draw(); } } }, 'Batal');
    const form = h('form', { class: 'inv-revise', novalidate: true, on: { submit: onRevise } },
      h('div', { class: 'field' },
        h('label', { for: text.id }, 'Catatan revisi', h('span', { class: 'optional' }, ' (wajib, dibaca CS)')),
        text, err),
      h('div', { class: 'inv-form-buttons' }, send, back));
    const f = { el: form, text, err, send };
    text.addEventListener('input', () => {
      err.hidden = true;
      text.removeAttribute('aria-invalid');
    });
    async function onRevise(ev) {
      ev.preventDefault();
      if (busy) return;
      const note = text.value.trim();
      if (!note || note.length > MAX_NOTE) {
        err.hidden = false;
        err.textContent = !note ? 'Tulis apa yang perlu diperbaiki CS.' : `Catatan maksimal ${MAX_NOTE} huruf.`;
        text.setAttribute('aria-invalid', 'true');
        text.setAttribute('aria-describedby', err.id);
        text.focus();
        return;
      }
      busy = true;
      send.disabled = true;
      send.textContent = 'Mengirim…';
      try {
        const res = await post(`/invoices/${inv.id}/revise`, { note });
        if (!alive) return;
        busy = false;
        reviseForm = null;
        setFlash('ok', 'Permintaan revisi terkirim ke CS.', res);
        setInvoice(res);
      } catch (e) {
        if (!alive) return;
        busy = false;
        if (e.status === 409) {
          reviseForm = null;
          await refreshAfterConflict('Invoice ini sudah diproses orang lain.');
          return;
        }
        send.disabled = false;
        send.textContent = 'Kirim Revisi';
        err.hidden = false;
        err.textContent = errorText(e);
      }
    }
    return f;
  }

  async function onApprove() {
    if (busy) return;
    busy = true;
    draw();
    try {
      const res = await post(`/invoices/${inv.id}/approve`, {});
      if (!alive) return;
      busy = false;
      reviseForm = null;
      setFlash('ok', `Invoice ${res.number} disetujui. CS akan mengirimnya ke pelanggan.`, res);
      setInvoice(res);
    } catch (err) {
      if (!alive) return;
      busy = false;
      if (err.status === 409) {
        reviseForm = null;
        await refreshAfterConflict('Invoice ini sudah diproses orang lain.');
        return;
      }
      setFlash('error', errorText(err));
      draw();
    }
  }

  // CS: waiting for Sales.
  function waitingCard() {
    return h('section', { class: 'panel inv-act', 'aria-labelledby': 'inv-act-title' },
      h('h2', { class: 'panel-title', id: 'inv-act-title' }, 'Menunggu approval'),
      bigTotal(),
      h('p', { class: 'muted' }, 'Halaman ini diperbarui sendiri begitu Sales menyetujui atau minta revisi.'),
      messagesList('telegram', { latest: true }),
      pdfButton('btn btn-secondary btn-block'));
  }

  // One link, whole: the URL wraps (monospace, broken anywhere) so that
  // nothing of it is hidden, with "Salin" and "Buka" under it.
  function copyRow(label, url, testid) {
    const labelId = uid('inv-link');
    const code = h('code', { class: 'inv-link-url', dataset: { testid }, 'aria-labelledby': labelId }, url);
    const hint = h('p', { class: 'inv-link-hint small', role: 'status' });
    const btn = h('button', {
      class: 'btn btn-secondary btn-sm', type: 'button', 'aria-label': `Salin ${label.toLowerCase()}`,
      on: { click: () => copyText(url, code, btn, hint) },
    }, 'Salin');
    return h('div', { class: 'inv-link-row' },
      h('p', { id: labelId, class: 'inv-link-label' }, label),
      code,
      h('div', { class: 'inv-link-btns' }, btn,
        h('a', { class: 'btn btn-ghost btn-sm', href: url, target: '_blank', rel: 'noopener noreferrer', 'aria-label': `Buka ${label.toLowerCase()} di tab baru` }, 'Buka')),
      hint);
  }

  async function copyText(text, el, btn, hint) {
    let ok = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        ok = true;
      }
    } catch {
      ok = false;
    }
    if (!ok) {
      // Select the link itself, so that Ctrl+C (or the phone's Copy) works
      // when the page may not copy by itself.
      const sel = window.getSelection();
      if (sel) sel.selectAllChildren(el);
      try {
        ok = document.execCommand('copy');
      } catch {
        ok = false;
      }
    }
    btn.textContent = ok ? 'Tersalin ✓' : 'Salin manual';
    hint.textContent = ok ? 'Link disalin.' : 'Tidak bisa menyalin otomatis: link sudah dipilih, tekan Ctrl+C (atau Salin di ponsel).';
    setTimeout(() => {
      btn.textContent = 'Salin';
      if (ok) hint.textContent = '';
    }, 2500);
  }

  // The outbox rows this user may read, newest first. Sales' own Telegram
  // notice is CS's business (did Sales get told?), not Sales'.
  function visibleMessages() {
    const all = Array.isArray(inv.messages) ? inv.messages : [];
    if (role !== 'sales') return all;
    return all.filter((m) => !(m.channel === 'telegram' && m.kind === 'invoice.pending_approval'));
  }

  // The outbox rows of this invoice, newest first; channel picks the
  // customer's WhatsApp or Sales' Telegram notice.
  function messagesList(channel, { latest = false } = {}) {
    let msgs = visibleMessages().filter((m) => !channel || m.channel === channel);
    if (latest) msgs = msgs.slice(0, 1);
    if (!msgs.length) return null;
    return h('ul', { class: 'inv-msgs', 'aria-label': 'Status pesan' }, msgs.map((m) => {
      const what = m.kind === 'invoice.pending_approval' ? 'Telegram ke Sales' : m.channel === 'whatsapp' ? 'WhatsApp ke pelanggan' : m.channel;
      const state = m.status === 'queued' && !m.last_error ? 'waiting' : m.status;
      return h('li', { class: `inv-msg inv-msg-${state}`, dataset: { testid: 'message', status: m.status, channel: m.channel } },
        h('span', { class: 'inv-msg-dot', 'aria-hidden': 'true' }),
        h('div', null,
          h('p', { class: 'strong small' }, what),
          h('p', { class: 'inv-msg-status', dataset: { testid: 'message-status' } }, messageStatusText(m)),
          h('p', { class: 'muted small' }, m.status === 'sent' && m.sent_at ? `Terkirim ${jakartaDateTime(m.sent_at)}` : `Dibuat ${jakartaDateTime(m.created_at)}`,
            m.attempts ? ` · ${m.attempts}× dicoba` : '')));
    }));
  }

  // "Tampilkan Link": the server derives the links again (nothing is sent).
  // Until the route exists (404/405/501) the page says what else works.
  async function onShowLinks() {
    if (linksState && linksState.busy) return;
    linksState = { busy: true };
    draw();
    try {
      const r = await get(`/invoices/${inv.id}/links`);
      if (!alive) return;
      if (!r || typeof r.invoice_url !== 'string' || typeof r.rating_url !== 'string') throw new Error('no links');
      SENT_LINKS.set(inv.id, { invoice_url: r.invoice_url, rating_url: r.rating_url });
      linksState = null;
      focusAfterDraw = '[data-testid="links"] button';
    } catch (err) {
      if (!alive) return;
      const missing = !err || !err.status || err.status === 404 || err.status === 405 || err.status === 501;
      linksState = {
        error: err && err.status === 409
          ? 'Invoice ini belum pernah dikirim, jadi belum ada link.'
          : missing
            ? `Server ini belum bisa menampilkan link lagi.${inv.status === 'sent' ? ' "Kirim Ulang ke WhatsApp" mengirim pesan baru dan menampilkan linknya.' : ''}`
            : errorText(err),
      };
    }
    draw();
  }

  // CS: send, the links, the message state; resending (a new WhatsApp
  // message) apart from the links, with a confirmation.
  function sendCard() {
    const s = inv.status;
    const links = SENT_LINKS.get(inv.id);
    const phone = phoneIntl(inv.customer && inv.customer.phone);
    const to = phone ? phoneDisplay(phone) : 'pelanggan';
    const canSend = isCs && s === 'approved';
    const canResend = isCs && s === 'sent';
    const sendBtn = canSend
      ? h('button', { class: 'btn btn-primary btn-lg btn-block', type: 'button', disabled: busy, on: { click: onSend } }, icon('chat'), 'Kirim ke Pelanggan') : null;
    const expires = inv.links && inv.links.expires_at ? jakartaDateTime(inv.links.expires_at) : '';
    let linkPart = null;
    if (links) {
      linkPart = h('div', { class: 'inv-links', dataset: { testid: 'links' } },
        copyRow('Link invoice', links.invoice_url, 'invoice-url'),
        copyRow('Link penilaian', links.rating_url, 'rating-url'));
    } else if (s === 'sent' || s === 'paid') {
      const lb = linksState && linksState.busy;
      linkPart = h('div', { class: 'inv-links-hidden' },
        h('p', { class: 'muted small' }, 'Link invoice dan link penilaian bisa ditampilkan lagi untuk disalin (tidak ada pesan yang dikirim).'),
        h('button', { class: 'btn btn-secondary btn-block', type: 'button', disabled: Boolean(lb), on: { click: onShowLinks } },
          icon('file'), lb ? 'Mengambil link…' : 'Tampilkan Link'),
        linksState && linksState.error ? h('p', { class: 'form-message form-message-error', role: 'alert' }, linksState.error) : null);
    }
    let resend = null;
    if (canResend) {
      resend = h('div', { class: 'inv-resend', dataset: { testid: 'resend' } },
        h('h3', { class: 'inv-resend-title' }, 'Kirim ulang ke pelanggan'),
        resendAsk
          ? h('div', { class: 'inv-resend-ask', role: 'group', 'aria-labelledby': 'inv-resend-q' },
            h('p', { id: 'inv-resend-q', class: 'strong' }, `Kirim pesan WhatsApp baru ke ${to}?`),
            h('p', { class: 'small' }, 'Pelanggan menerima pesan kedua dengan link yang sama; masa berlaku link diperpanjang.'),
            h('div', { class: 'inv-form-buttons' },
              h('button', { class: 'btn btn-primary', type: 'button', disabled: busy, dataset: { focus: 'resend-yes' }, on: { click: onSend } }, icon('chat'), busy ? 'Mengirim…' : 'Ya, Kirim Ulang'),
              h('button', { class: 'btn btn-ghost', type: 'button', disabled: busy, on: { click: () => { resendAsk = false; draw(); } } }, 'Batal')))
          : h('div', null,
            h('p', { class: 'muted small' }, `Mengirim pesan WhatsApp baru berisi kedua link ke ${to}.`),
            h('button', { class: 'btn btn-secondary btn-block', type: 'button', disabled: busy, on: { click: () => { resendAsk = true; focusAfterDraw = '[data-focus="resend-yes"]'; draw(); } } },
              icon('chat'), 'Kirim Ulang ke WhatsApp')));
    }
    return h('section', { class: 'panel inv-act', 'aria-labelledby': 'inv-send-title' },
      h('h2', { class: 'panel-title', id: 'inv-send-title' }, s === 'approved' ? 'Kirim ke pelanggan' : 'Link pelanggan'),
      s === 'approved' ? bigTotal() : null,
      canSend ? h('p', { class: 'muted small' }, 'Link invoice dan link penilaian dikirim lewat WhatsApp',
        phone ? ` ke ${phoneDisplay(phone)}` : '', '. Link juga tampil di sini untuk disalin.') : null,
      sendBtn,
      linkPart,
      expires ? h('p', { class: 'muted small' }, `Link berlaku sampai ${expires}`, inv.links.rated ? ' · pelanggan sudah memberi penilaian' : '', '.') : null,
      messagesList('whatsapp'),
      resend,
      s !== 'approved' ? pdfButton('btn btn-ghost btn-block') : null);
  }

  async function onSend() {
    if (busy) return;
    const again = inv.status === 'sent';
    busy = true;
    draw();
    if (!sendKey) sendKey = newKey();
    try {
      const res = await post(`/invoices/${inv.id}/send`, undefined, { headers: { 'Idempotency-Key': sendKey } });
      sendKey = null;
      if (!alive) return;
      busy = false;
      resendAsk = false;
      linksState = null;
      setFlash('ok', again ? 'Pesan WhatsApp baru dengan link yang sama masuk antrean.' : 'Invoice dikirim: pesan WhatsApp masuk antrean. Link di bawah bisa disalin dan dikirim sendiri.', res);
      setInvoice(res);
    } catch (err) {
      // an answer the server gave (4xx) ends this send; no answer or 5xx: kept for the retry
      if (err.status >= 400 && err.status < 500) sendKey = null;
      if (!alive) return;
      busy = false;
      resendAsk = false;
      if (err.status === 409) {
        await refreshAfterConflict('Invoice belum bisa dikirim.');
        return;
      }
      setFlash('error', errorText(err));
      draw();
    }
  }

  // ---- payments

  function paymentsSection() {
    const pays = Array.isArray(inv.payments) ? inv.payments : [];
    const canRecord = isCs && inv.status === 'sent' && inv.balance > 0;
    const canVoid = isCs && (inv.status === 'sent' || inv.status === 'paid') && inv.ticket.status !== 'closed';
    const list = pays.length
      ? h('ul', { class: 'pays' }, pays.map((p) => paymentItem(p, canVoid)))
      : h('p', { class: 'muted' }, 'Belum ada pembayaran tercatat.');
    return h('section', { class: 'panel', 'aria-labelledby': 'inv-pay-title', dataset: { testid: 'payments' } },
      h('h2', { class: 'panel-title', id: 'inv-pay-title' }, 'Pembayaran'),
      h('div', { class: 'pay-sum' },
        h('div', null, h('p', { class: 'muted small' }, 'Total'), h('p', { class: 'strong' }, rupiah(inv.total))),
        h('div', null, h('p', { class: 'muted small' }, 'Dibayar'), h('p', { class: 'strong' }, rupiah(inv.paid_amount))),
        h('div', { class: inv.balance > 0 ? 'pay-due' : 'pay-done' }, h('p', { class: 'muted small' }, 'Sisa tagihan'),
          h('p', { class: 'pay-balance', dataset: { testid: 'balance' } }, inv.balance > 0 ? rupiah(inv.balance) : 'Lunas'))),
      list,
      canRecord && !payForm
        ? h('button', { class: 'btn btn-primary', type: 'button', on: { click: openPay } }, h('span', { 'aria-hidden': 'true' }, '+'), 'Catat Pembayaran') : null,
      payForm ? payForm.el : null);
  }

  function paymentItem(p, canVoid) {
    const voided = Boolean(p.voided_at);
    const vf = voidForms.get(p.id);
    return h('li', { class: `pay${voided ? ' is-voided' : ''}`, dataset: { paymentId: p.id, testid: 'payment' } },
      h('div', { class: 'pay-top' },
        h('span', { class: 'pay-amount' }, voided ? h('s', null, rupiah(p.amount)) : rupiah(p.amount)),
        h('span', { class: 'badge badge-kind' }, paymentMethodLabel(p.method)),
        voided ? h('span', { class: 'badge badge-late' }, 'Dibatalkan') : null),
      h('p', { class: 'small' }, `Dibayar ${jakartaDateTime(p.paid_at)}`, p.reference ? ` · Ref: ${p.reference}` : ''),
      h('p', { class: 'muted small' }, `Dicatat ${who(p.recorded_by) || '-'} · ${jakartaDateTime(p.created_at)}`,
        p.proof_attachment_id ? ' · ' : null,
        p.proof_attachment_id
          ? h('a', { class: 'link', href: `/api/v1/attachments/${encodeURIComponent(p.proof_attachment_id)}`, target: '_blank', rel: 'noopener' }, 'Lihat bukti')
          : null),
      voided ? h('p', { class: 'small pay-void-why' }, `Dibatalkan${who(p.voided_by) ? ` oleh ${who(p.voided_by)}` : ''} · ${jakartaDateTime(p.voided_at)}. Alasan: ${p.void_reason || '-'}`) : null,
      !voided && canVoid && !vf
        ? h('button', { class: 'btn btn-ghost btn-sm pay-void-btn', type: 'button', title: `Batalkan pembayaran ${rupiah(p.amount)}`, on: { click: () => openVoid(p) } }, 'Batalkan')
        : null,
      vf ? vf.el : null);
  }

  function openPay() {
    payForm = makePayForm();
    draw();
    payForm.amount.focus();
  }

  function makePayForm() {
    const ids = { amount: uid('pay-amt'), method: uid('pay-m'), at: uid('pay-at'), ref: uid('pay-ref'), file: uid('pay-file') };
    const amount = h('input', { id: ids.amount, type: 'text', inputmode: 'numeric', autocomplete: 'off', class: 'rp-field', value: rupiahPlain(inv.balance) });
    const method = h('select', { id: ids.method }, PAYMENT_METHODS.map((m) => h('option', { value: m }, paymentMethodLabel(m))));
    const nowVal = jakartaLocalInput(new Date());
    const at = h('input', { id: ids.at, type: 'datetime-local', value: nowVal, max: jakartaLocalInput(new Date(Date.now() + FUTURE_SLACK_MS)) });
    const ref = h('input', { id: ids.ref, type: 'text', maxlength: String(MAX_REF), autocomplete: 'off', placeholder: 'Contoh: BCA 0123 a.n. Sari' });
    const file = h('input', { id: ids.file, type: 'file', accept: 'image/jpeg,image/png,application/pdf' });
    const errs = {};
    for (const k of ['amount', 'at', 'ref', 'file']) errs[k] = h('p', { class: 'field-error', id: `${ids[k] || ids.amount}-err`, hidden: true });
    const bar = h('progress', { class: 'bar', max: '100', value: '0', hidden: true, 'aria-label': 'Unggah bukti' });
    const msg = h('div', { class: 'form-message form-message-error', role: 'alert', hidden: true });
    const save = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Simpan Pembayaran');
    const back = h('button', { class: 'btn btn-ghost', type: 'button', on: { click: () => { payForm = null; draw(); } } }, 'Batal');
    const refHint = h('p', { class: 'hint' }, 'No. transaksi, bank pengirim, atau ID QRIS.');
    const balanceHint = h('p', { class: 'hint' }, `Sisa tagihan ${rupiah(inv.balance)}. Bayar sebagian boleh.`);
    let uploaded = null; // {file, id}: a proof already stored, not sent twice on a retry
    let uploadKey = null;
    // The payment's Idempotency-Key: one per payment written, sent again on
    // a retry of the same amounts (a 503 or a lost answer after the server
    // recorded it answers that payment, not a second one); a changed form
    // is another payment, with a new key (docs/money.md).
    let payDraft = null; // {sig, key}
    amount.addEventListener('blur', () => {
      const n = parseRupiah(amount.value);
      if (n !== null) amount.value = rupiahPlain(n);
    });
    method.addEventListener('change', () => {
      refHint.textContent = method.value === 'cash' ? 'Tunai: boleh dikosongkan.' : 'No. transaksi, bank pengirim, atau ID QRIS.';
    });
    file.addEventListener('change', () => {
      uploaded = null;
      uploadKey = null;
      setErr('file', '');
    });

    function setErr(k, text) {
      const input = { amount, at, ref, file }[k];
      errs[k].hidden = !text;
      errs[k].textContent = text || '';
      if (text) {
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', errs[k].id);
      } else {
        input.removeAttribute('aria-invalid');
        input.removeAttribute('aria-describedby');
      }
    }

    const form = h('form', { class: 'pay-form', novalidate: true, on: { submit: onSubmit }, 'aria-labelledby': 'pay-form-title' },
      h('h3', { class: 'pay-form-title', id: 'pay-form-title' }, 'Catat pembayaran'),
      h('div', { class: 'pay-grid' },
        h('div', { class: 'field' }, h('label', { for: ids.amount }, 'Jumlah Bayar'),
          h('div', { class: 'rp-input' }, h('span', { class: 'rp-prefix', 'aria-hidden': 'true' }, 'Rp'), amount),
          balanceHint, errs.amount),
        h('div', { class: 'field' }, h('label', { for: ids.method }, 'Metode'), method),
        h('div', { class: 'field' }, h('label', { for: ids.at }, 'Tanggal Bayar', h('span', { class: 'optional' }, ' (WIB)')), at, errs.at),
        h('div', { class: 'field' }, h('label', { for: ids.ref }, 'Referensi', h('span', { class: 'optional' }, ' (opsional)')), ref, refHint, errs.ref)),
      h('div', { class: 'field' },
        h('label', { for: ids.file }, 'Bukti Pembayaran', h('span', { class: 'optional' }, ' (opsional: foto atau PDF)')),
        file, bar, errs.file),
      msg,
      h('div', { class: 'inv-form-buttons' }, save, back));

    async function onSubmit(ev) {
      ev.preventDefault();
      if (busy) return;
      for (const k of Object.keys(errs)) setErr(k, '');
      msg.hidden = true;
      const amt = parseRupiah(amount.value);
      if (amt === null || amt < 1) {
        setErr('amount', 'Isi jumlah bayar dalam Rupiah, contoh 500.000.');
        amount.focus();
        return;
      }
      if (amt > inv.balance) {
        setErr('amount', `Melebihi sisa tagihan (${rupiah(inv.balance)}).`);
        amount.focus();
        return;
      }
      const body = { amount: amt, method: method.value };
      if (at.value && at.value !== nowVal) {
        const [d, t] = at.value.split('T');
        const utc = jakartaLocalToUtc(d, t);
        if (!utc) {
          setErr('at', 'Tanggal atau jam tidak valid.');
          at.focus();
          return;
        }
        if (Date.parse(utc) > Date.now() + FUTURE_SLACK_MS) {
          setErr('at', 'Tanggal bayar tidak boleh di masa depan.');
          at.focus();
          return;
        }
        body.paid_at = utc;
      } else if (!at.value) {
        setErr('at', 'Isi tanggal dan jam pembayaran.');
        at.focus();
        return;
      }
      if (ref.value.trim()) body.reference = ref.value.trim();
      busy = true;
      save.disabled = true;
      try {
        const f = file.files && file.files[0];
        if (f) {
          if (!uploaded || uploaded.file !== f) {
            save.textContent = 'Mengunggah bukti…';
            bar.hidden = false;
            bar.value = 0;
            uploadKey = uploadKey || newKey();
            const type = f.type || (await sniffType(f)) || 'application/octet-stream';
            const a = await uploadFile(`/tickets/${inv.ticket.id}/attachments?kind=payment_proof`, f, {
              type,
              headers: { 'Idempotency-Key': uploadKey },
              onProgress: (l, t) => {
                bar.value = t ? Math.round((l / t) * 100) : 0;
              },
            });
            uploaded = { file: f, id: a.id };
          }
          body.proof_attachment_id = uploaded.id;
        }
        save.textContent = 'Menyimpan…';
        const sig = JSON.stringify(body);
        if (!payDraft || payDraft.sig !== sig) payDraft = { sig, key: newKey() };
        const res = await post(`/invoices/${inv.id}/payments`, body, { headers: { 'Idempotency-Key': payDraft.key } });
        if (!alive) return;
        busy = false;
        payForm = null;
        setFlash('ok', res.status === 'paid'
          ? `Pembayaran ${rupiah(amt)} dicatat. Invoice LUNAS${res.ticket.status === 'paid' ? ': tiket bisa ditutup.' : '.'}`
          : `Pembayaran ${rupiah(amt)} dicatat. Sisa tagihan ${rupiah(res.balance)}.`, res);
        setInvoice(res);
      } catch (err) {
        if (!alive) return;
        busy = false;
        save.disabled = false;
        save.textContent = 'Simpan Pembayaran';
        bar.hidden = true;
        if (err.status === 422 && err.code === 'overpayment') {
          setErr('amount', 'Melebihi sisa tagihan. Data dimuat ulang.');
          get(`/invoices/${id}`).then((res) => {
            if (!alive) return;
            inv = res;
            amount.value = rupiahPlain(res.balance);
            balanceHint.textContent = `Sisa tagihan ${rupiah(res.balance)}. Bayar sebagian boleh.`;
          }).catch(() => {});
          return;
        }
        const f = err.status === 422 ? fieldOf(err.message) : null;
        const map = { amount: 'amount', paid_at: 'at', reference: 'ref', proof_attachment_id: 'file' };
        if (f && map[f.field]) {
          const text = {
            amount: 'Jumlah bayar tidak valid.',
            at: 'Tanggal bayar tidak boleh di masa depan atau lebih dari setahun lalu.',
            ref: `Referensi maksimal ${MAX_REF} huruf.`,
            file: 'Bukti tidak dapat dipakai. Unggah ulang filenya.',
          }[map[f.field]];
          if (map[f.field] === 'file') uploaded = null;
          setErr(map[f.field], text);
          return;
        }
        if (err.code === 'unsupported_type') {
          setErr('file', 'Bukti harus foto (JPG/PNG) atau PDF.');
          return;
        }
        if (err.code === 'payload_too_large') {
          setErr('file', 'File bukti terlalu besar. Kecilkan foto atau pakai PDF yang lebih kecil.');
          return;
        }
        msg.hidden = false;
        if (err.status === 409) {
          msg.textContent = 'Pembayaran tidak bisa dicatat: status invoice sudah berubah.';
          payForm = null;
          await refreshAfterConflict('Pembayaran tidak bisa dicatat.');
          return;
        }
        msg.textContent = errorText(err);
      }
    }
    return { el: form, amount };
  }

  function openVoid(p) {
    const vf = makeVoidForm(p);
    voidForms.set(p.id, vf);
    draw();
    vf.text.focus();
  }

  function makeVoidForm(p) {
    const tid = uid('void');
    const text = h('textarea', { id: tid, rows: '2', maxlength: String(MAX_REASON), required: true, placeholder: 'Contoh: transfer ternyata belum masuk' });
    const err = h('p', { class: 'field-error', id: `${tid}-err`, role: 'alert', hidden: true });
    const go = h('button', { class: 'btn btn-danger btn-sm', type: 'submit' }, 'Konfirmasi Pembatalan');
    const back = h('button', { class: 'btn btn-ghost btn-sm', type: 'button', on: { click: () => { voidForms.delete(p.id); draw(); } } }, 'Kembali');
    const el = h('form', { class: 'pay-void', novalidate: true, on: { submit: onVoid } },
      h('div', { class: 'field' },
        h('label', { for: tid }, 'Alasan pembatalan', h('span', { class: 'optional' }, ' (wajib, tercatat di riwayat)')),
        text, err),
      h('div', { class: 'inv-form-buttons' }, go, back));
    async function onVoid(ev) {
      ev.preventDefault();
      if (busy) return;
      const reason = text.value.trim();
      if (!reason || reason.length > MAX_REASON) {
        err.hidden = false;
        err.textContent = !reason ? 'Tulis alasan pembatalan.' : `Alasan maksimal ${MAX_REASON} huruf.`;
        text.focus();
        return;
      }
      busy = true;
      go.disabled = true;
      go.textContent = 'Membatalkan…';
      try {
        const res = await post(`/invoices/${inv.id}/payments/${p.id}/void`, { reason });
        if (!alive) return;
        busy = false;
        voidForms.delete(p.id);
        setFlash('ok', `Pembayaran ${rupiah(p.amount)} dibatalkan. Sisa tagihan ${rupiah(res.balance)}.`, res);
        setInvoice(res);
      } catch (e) {
        if (!alive) return;
        busy = false;
        go.disabled = false;
        go.textContent = 'Konfirmasi Pembatalan';
        if (e.status === 409) {
          voidForms.delete(p.id);
          await refreshAfterConflict(e.code === 'already_voided' ? 'Pembayaran ini sudah dibatalkan.' : 'Pembayaran ini tidak bisa dibatalkan (tiket sudah ditutup?).');
          return;
        }
        err.hidden = false;
        err.textContent = errorText(e);
      }
    }
    return { el, text };
  }

  // ---- close

  function closeCard() {
    const t = inv.ticket;
    if (!isCs || inv.status !== 'paid') return null;
    if (t.status === 'closed') {
      return h('section', { class: 'panel inv-act inv-closed' },
        h('h2', { class: 'panel-title' }, 'Tiket'),
        h('p', { class: 'strong inv-done' }, icon('check'), `Tiket ${t.code} sudah ditutup.`));
    }
    return h('section', { class: 'panel inv-act', 'aria-labelledby': 'inv-close-title' },
      h('h2', { class: 'panel-title', id: 'inv-close-title' }, 'Selesai'),
      h('p', null, 'Invoice lunas. ', inv.rating ? 'Pelanggan sudah memberi penilaian.' : 'Penilaian pelanggan opsional.', ' Tutup tiket bila semuanya beres.'),
      h('button', { class: 'btn btn-success-solid btn-lg btn-block', type: 'button', disabled: busy, on: { click: onClose } }, icon('check'), 'Tutup Tiket'));
  }

  async function onClose() {
    if (busy) return;
    busy = true;
    draw();
    try {
      const t = await post(`/tickets/${inv.ticket.id}/close`);
      if (!alive) return;
      busy = false;
      inv.ticket.status = (t && t.status) || 'closed';
      setFlash('ok', `Tiket ${inv.ticket.code} ditutup.`);
      draw();
    } catch (err) {
      if (!alive) return;
      busy = false;
      if (err.status === 409) {
        await refreshAfterConflict('Tiket belum bisa ditutup.');
        return;
      }
      setFlash('error', errorText(err));
      draw();
    }
  }

  // ---- history

  function totalsChange(r) {
    const b = r.before;
    const a = r.after;
    if (!a) return null;
    if (b && a.paid_amount !== undefined && b.paid_amount !== undefined && a.paid_amount !== b.paid_amount) {
      return h('p', { class: 'small hist-totals' },
        h('span', { class: 'strong' }, `Dibayar ${rupiah(b.paid_amount)} → ${rupiah(a.paid_amount)}`),
        h('span', { class: 'muted' }, ` · sisa ${rupiah(a.total - a.paid_amount)} dari ${rupiah(a.total)}`));
    }
    if (!b) return h('p', { class: 'small' }, `Total ${rupiah(a.total)}`);
    const parts = [];
    for (const [k, label] of [['subtotal', 'Subtotal'], ['discount', 'Diskon'], ['tax', 'Pajak']]) {
      if (b[k] !== a[k]) parts.push(`${label} ${rupiah(b[k])} → ${rupiah(a[k])}`);
    }
    const total = b.total !== a.total
      ? h('span', { class: 'strong' }, `Total ${rupiah(b.total)} → ${rupiah(a.total)}`)
      : h('span', null, `Total ${rupiah(a.total)} (tetap)`);
    return h('p', { class: 'small hist-totals' }, total, parts.length ? h('span', { class: 'muted' }, ` · ${parts.join(' · ')}`) : null);
  }

  function historySection() {
    const revs = Array.isArray(inv.revisions) ? inv.revisions : [];
    return h('section', { class: 'panel', 'aria-labelledby': 'inv-hist-title' },
      h('h2', { class: 'panel-title', id: 'inv-hist-title' }, `Riwayat invoice (${revs.length})`),
      revs.length
        ? h('ol', { class: 'timeline hist' }, revs.map((r) => h('li', { class: `tl-item hist-${r.action}`, dataset: { action: r.action, testid: 'revision' } },
          h('span', { class: 'tl-dot', 'aria-hidden': 'true' }),
          h('div', { class: 'tl-body' },
            h('p', { class: 'tl-what' }, h('span', { class: 'strong' }, invoiceActionLabel(r.action),
              r.action === 'void_payment' && r.status_before === 'paid' && r.status_after !== 'paid' ? ' (belum lunas lagi)' : ''),
              who(r.actor) ? ` — ${who(r.actor)}` : '', h('span', { class: 'muted small' }, ` · versi ${r.version}`)),
            h('p', { class: 'muted small' }, jakartaDateTime(r.at)),
            r.note ? h('p', { class: 'small hist-note' }, r.action === 'revise' ? 'Catatan revisi: ' : r.action === 'void_payment' ? 'Alasan: ' : 'Catatan: ', h('q', null, r.note)) : null,
            totalsChange(r),
            Array.isArray(r.items) && r.items.length
              ? h('details', { class: 'hist-items' },
                h('summary', null, `Rincian versi ${r.version} (${r.items.length} baris)`),
                itemsTable(r.items, { caption: `Rincian versi ${r.version}` }))
              : null))))
        : h('p', { class: 'muted' }, 'Belum ada riwayat.'));
  }

  function ratingSection() {
    if (!inv.rating) return null;
    return h('section', { class: 'panel', 'aria-labelledby': 'inv-rating-title' },
      h('h2', { class: 'panel-title', id: 'inv-rating-title' }, 'Penilaian pelanggan'),
      ratingBlock(inv.rating));
  }

  // ---- drawing

  function errorState() {
    const err = loadErr;
    const missing = err.status === 501;
    return h('div', { class: 'state state-error', role: 'alert' },
      h('p', null, missing ? 'Fitur invoice belum tersedia di server ini.' : errorText(err, { not_found: 'Invoice tidak ditemukan.' })),
      h('div', { class: 'btn-row' },
        err.status !== 404 ? h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => load(true) } }, icon('refresh'), 'Coba lagi') : null,
        h('a', { class: 'btn btn-secondary', href: '#/invoice' }, role === 'sales' ? 'Ke daftar approval' : 'Ke daftar invoice')));
  }

  function draw() {
    if (!alive) return;
    drawCrumbs();
    if (!inv) {
      replace(page, loadErr ? errorState() : spinnerState('Memuat invoice…'));
      return;
    }
    const s = inv.status;
    const editing = isCs && EDITABLE.has(s);
    if (editing) {
      if (!editor || editor.id !== inv.id || editor.version !== inv.version) {
        editor = invoiceEditor({
          invoice: inv, ctx,
          onSaved: (res, how = {}) => {
            if (!alive) return;
            if (!res || how.reload) {
              editor = null;
              setFlash(null);
              load(true);
              return;
            }
            if (how.submitted) setFlash('ok', SUBMITTED_TEXT, res);
            else setFlash(null);
            setInvoice(res);
          },
        });
      }
    } else editor = null;

    const main = [];
    const side = [];
    if (editing) main.push(editor.el);
    else main.push(readOnlyItems());
    if (paymentsShown()) main.push(paymentsSection());
    main.push(ratingSection());

    if (isSales && s === 'pending_approval') side.push(salesActions());
    else if (isCs && s === 'pending_approval') side.push(waitingCard());
    if (isCs && (s === 'approved' || s === 'sent' || s === 'paid')) side.push(sendCard());
    side.push(closeCard());
    if (!isCs && s !== 'pending_approval') {
      side.push(h('section', { class: 'panel inv-act' },
        h('h2', { class: 'panel-title' }, 'Status'),
        bigTotal('Total'),
        h('p', { class: 'muted' }, s === 'approved' ? 'Sudah disetujui. CS yang mengirim ke pelanggan.'
          : s === 'revision_requested' ? 'Menunggu CS memperbaiki invoice.'
            : s === 'draft' ? 'CS belum mengajukan invoice ini.' : invoiceStatusLabel(s)),
        pdfButton('btn btn-ghost btn-block')));
    }
    side.push(historySection());

    const fb = flashBanner();
    replace(page,
      head(),
      fb,
      revisionNotice(),
      h('div', { class: `inv-grid${editing ? ' is-editing' : ''}` },
        h('div', { class: 'inv-main' }, main),
        h('div', { class: 'inv-side' }, side)));
    // The answer of an action: where the eye is, not above the fold.
    if (fb && flashShow) {
      flashShow = false;
      const r = fb.getBoundingClientRect();
      if (r.top < 64 || r.bottom > window.innerHeight) fb.scrollIntoView({ block: 'center' });
    }
    if (focusAfterDraw) {
      const el = page.querySelector(focusAfterDraw);
      focusAfterDraw = null;
      if (el) el.focus();
    }
  }

  // Live: invoice.updated for this invoice refetches it; a resync (the
  // socket came back, events may be lost) too. Without a feed, or one that
  // never says anything, the poll above still runs.
  let unsubscribe = null;
  if (ctx.feed && typeof ctx.feed.subscribe === 'function') {
    try {
      const off = ctx.feed.subscribe((c) => {
        if (!alive || !c) return;
        if (c.type === 'resync') refreshSoon();
        else if (c.type === 'invoice') {
          const d = c.msg && typeof c.msg === 'object' ? (c.msg.data || c.msg) : null;
          if (d && Number(d.id) === id) refreshSoon();
        }
      });
      if (typeof off === 'function') unsubscribe = off;
    } catch {
      unsubscribe = null;
    }
  }

  // Back to a tab left alone for a while (a phone asleep in a pocket): look
  // at once rather than at the next poll.
  const onVisible = () => {
    if (document.visibilityState === 'visible' && inv && Date.now() - lastFetch > 15000) refreshSoon();
  };
  document.addEventListener('visibilitychange', onVisible);

  load(true);
  return () => {
    alive = false;
    clearTimeout(poll);
    clearTimeout(liveTimer);
    document.removeEventListener('visibilitychange', onVisible);
    if (unsubscribe) unsubscribe();
  };
}
