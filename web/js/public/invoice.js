// /i/{token}: the customer's invoice, opened from WhatsApp on a phone.
// GET /api/v1/public/invoices/{token} (docs/money.md "Public API"): the
// company, the number and its state (Belum Lunas / Lunas), what is still to
// pay and by when, the lines and totals, how to pay (bank text, the QRIS
// image when one is configured) and the PDF.
//
// The amount left to pay comes first: it is what the customer opened the
// link for. Every amount is integer Rupiah from the server, shown as
// "Rp 1.250.000"; nothing is computed here.

import { h, icon, replace } from '../dom.js';
import { rupiah } from '../format.js';
import { call, problemView, loadingView, brand, longDate, contactLine, focusHeading, telHref } from './common.js';

/** taxLabel(1100) → "Pajak (11%)", taxLabel(1150) → "Pajak (11,5%)". */
export function taxLabel(bp) {
  const n = Number(bp);
  if (!Number.isInteger(n) || n <= 0) return 'Pajak';
  const pct = (n / 100).toFixed(2).replace(/\.?0+$/, '').replace('.', ',');
  return `Pajak (${pct}%)`;
}

function row(label, value, cls) {
  return h('div', { class: cls ? `pub-sum-row ${cls}` : 'pub-sum-row' }, h('dt', null, label), h('dd', null, value));
}

/** proofHint(inv) → where the payment proof goes, said with what the page
 *  has: the company's phone when it is known (tap to call), whatever kind
 *  of number it is; no channel is promised that the page cannot open. */
function proofHint(inv) {
  const phone = inv.company && inv.company.phone ? String(inv.company.phone) : '';
  const href = telHref(phone);
  return h('p', { class: 'pub-hint' }, `Cantumkan nomor ${inv.number || 'invoice'} pada berita transfer. Setelah membayar, kirim bukti pembayaran ke CS kami`,
    phone ? [' (', href ? h('a', { href }, phone) : phone, ')'] : null, '.');
}

function render(inv) {
  const paid = inv.status === 'paid';
  const items = Array.isArray(inv.items) ? inv.items : [];
  const due = longDate(inv.due_at);
  const issued = longDate(inv.issued_at);

  const head = h('section', { class: 'pub-card pub-head' },
    h('p', { class: 'pub-kicker' }, 'Invoice'),
    h('h1', { class: 'pub-number' }, inv.number || 'Invoice'),
    h('p', null, h('span', { class: paid ? 'pub-status pub-status-paid' : 'pub-status pub-status-due', dataset: { testid: 'invoice-status' } },
      paid ? icon('check', 'icon icon-sm') : null, paid ? 'Lunas' : 'Belum Lunas')),
    h('div', { class: paid ? 'pub-due is-paid' : 'pub-due' },
      h('div', { class: 'pub-due-label' }, paid ? 'Total dibayar' : inv.paid_amount > 0 ? 'Sisa tagihan' : 'Total tagihan'),
      h('div', { class: 'pub-due-amount', dataset: { testid: 'invoice-balance' } }, rupiah(paid ? inv.total : inv.balance)),
      !paid && due ? h('div', { class: 'pub-due-date' }, `Jatuh tempo ${due}`) : null,
      paid ? h('div', { class: 'pub-due-date' }, 'Terima kasih, pembayaran Anda sudah kami terima.') : null),
    h('dl', { class: 'pub-meta' },
      inv.customer && inv.customer.name ? h('div', null, h('dt', null, 'Kepada'),
        h('dd', null, inv.customer.name, inv.customer.address ? h('span', { class: 'pub-meta-sub' }, inv.customer.address) : null)) : null,
      inv.ticket_code ? h('div', null, h('dt', null, 'No. tiket'), h('dd', null, inv.ticket_code)) : null,
      issued ? h('div', null, h('dt', null, 'Tanggal'), h('dd', null, issued)) : null));

  const lines = h('section', { class: 'pub-card', 'aria-labelledby': 'pub-items-title' },
    h('h2', { id: 'pub-items-title', class: 'pub-section-title' }, 'Rincian'),
    h('table', { class: 'pub-items' },
      // "Total" (the line's amount): "Jumlah" is the quantity everywhere else.
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Uraian'), h('th', { scope: 'col', class: 'num' }, 'Total'))),
      h('tbody', null, items.map((it) => h('tr', null,
        h('td', null, h('div', { class: 'pub-item-desc' }, it.description),
          h('div', { class: 'pub-item-qty' }, `${it.qty} × ${rupiah(it.unit_price)}`)),
        h('td', { class: 'num' }, rupiah(it.line_total)))))),
    h('dl', { class: 'pub-sum' },
      row('Subtotal', rupiah(inv.subtotal)),
      inv.discount > 0 ? row('Diskon', `-${rupiah(inv.discount)}`) : null,
      inv.tax_rate_bp > 0 || inv.tax > 0 ? row(taxLabel(inv.tax_rate_bp), rupiah(inv.tax)) : null,
      row('Total', rupiah(inv.total), 'pub-sum-total'),
      row('Dibayar', rupiah(inv.paid_amount)),
      row('Sisa', rupiah(inv.balance), paid ? 'pub-sum-left is-zero' : 'pub-sum-left')),
    inv.note ? h('div', { class: 'pub-note' }, h('div', { class: 'pub-note-label' }, 'Catatan'), h('p', null, inv.note)) : null);

  const pay = inv.payment || {};
  const how = paid ? null : h('section', { class: 'pub-card', 'aria-labelledby': 'pub-pay-title' },
    h('h2', { id: 'pub-pay-title', class: 'pub-section-title' }, 'Cara Pembayaran'),
    pay.bank ? h('p', { class: 'pub-bank' }, pay.bank) : null,
    pay.qris_url ? h('figure', { class: 'pub-qris' },
      h('img', { src: pay.qris_url, alt: `Kode QRIS untuk membayar invoice ${inv.number || ''}`.trim(), width: '240', height: '240', loading: 'lazy' }),
      h('figcaption', null, 'Atau pindai QRIS ini dari aplikasi bank atau e-wallet Anda.')) : null,
    !pay.bank && !pay.qris_url ? h('p', null, 'Hubungi CS kami untuk cara pembayaran.') : null,
    proofHint(inv));

  const actions = h('div', { class: 'pub-actions' },
    inv.pdf_url ? h('a', { class: 'pub-btn pub-btn-primary', href: inv.pdf_url, download: `${inv.number || 'invoice'}.pdf` },
      icon('download'), 'Unduh PDF') : null);

  // What to pay and how first (why the link was opened), then the lines.
  return [brand(inv.company), head, how, lines, actions, contactLine(inv.company)];
}

export function mount(root, token) {
  let busy = false;
  async function load() {
    if (busy) return;
    busy = true;
    document.title = 'Invoice';
    replace(root, loadingView('Memuat invoice…'));
    try {
      const inv = await call('GET', `/invoices/${encodeURIComponent(token)}`);
      const company = inv && inv.company && inv.company.name;
      document.title = company ? `Invoice ${inv.number} · ${company}` : `Invoice ${inv.number}`;
      replace(root, render(inv || {}));
    } catch (err) {
      document.title = 'Invoice';
      replace(root, problemView(err, load));
      focusHeading(root);
    } finally {
      busy = false;
    }
  }
  load();
}
