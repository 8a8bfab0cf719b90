// The invoice PDF (docs/money.md: GET /api/v1/invoices/{id}/invoice.pdf and
// GET /api/v1/public/invoices/{token}/invoice.pdf): a real PDF, checked
// with qpdf, read back with pdftotext, its QR code rendered with pdftoppm
// and decoded with zbarimg. Expected totals are worked out by hand in this
// file, dates are formatted here (Jakarta, Indonesian month names), the
// URL is the one send answered: nothing is taken from gssd's code.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { makeTmpDir, run } from './harness.mjs';
import { api, draftInvoice, moneySetup, pub, step, workDone } from './money_util.mjs';

const T = { timeout: 120000 };
const PUBLIC_URL = 'https://gss.example.test';
const PAY_BANK = 'Transfer ke Mandiri 111-222-333 a.n. PT Uji Invoice';
const CUSTOMER = 'Nguyễn Thị Śantoso';
const MONTHS = ['Januari', 'Februari', 'Maret', 'April', 'Mei', 'Juni', 'Juli', 'Agustus', 'September',
  'Oktober', 'November', 'Desember'];

let ctx;
let tmp;

const nfc = (s) => s.normalize('NFC');

/** "3 Desember 2026": the date in Jakarta (UTC+7, no daylight saving). */
function jakartaDate(iso) {
  const d = new Date(Date.parse(iso) + 7 * 3600 * 1000);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

async function save(name, bytes) {
  const p = path.join(tmp, name);
  await fs.promises.writeFile(p, bytes);
  return p;
}

/** qpdf --check passes; returns the number of pages. */
async function checkPdf(p) {
  const q = await run('qpdf', ['--check', p]);
  assert.equal(q.code, 0, `qpdf --check (exit ${q.code}):\n${q.stdout}\n${q.stderr}`);
  const n = await run('qpdf', ['--show-npages', p]);
  assert.equal(n.code, 0, n.stderr);
  return Number(n.stdout.trim());
}

/** The words of the PDF in content order (pdftotext -raw), white space
 *  made single spaces, NFC. */
async function words(p, extra = []) {
  const t = await run('pdftotext', ['-enc', 'UTF-8', '-raw', ...extra, p, '-']);
  assert.equal(t.code, 0, t.stderr);
  return nfc(t.stdout).replace(/\s+/g, ' ');
}

/** The QR codes on page `page` at 150 dpi: [] when there is none. */
async function qrCodes(p, page) {
  const prefix = p.replace(/\.pdf$/, `-p${page}`);
  const r = await run('pdftoppm', ['-r', '150', '-png', '-f', String(page), '-l', String(page), '-singlefile', p, prefix]);
  assert.equal(r.code, 0, `pdftoppm: ${r.stderr}`);
  const z = await run('zbarimg', ['--raw', '-q', `${prefix}.png`]);
  if (z.code === 4) return []; // zbarimg: no symbol found
  assert.equal(z.code, 0, `zbarimg (exit ${z.code}): ${z.stderr}`);
  return z.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
}

async function staffPdf(token, id) {
  return api(ctx.g, token, 'GET', `/api/v1/invoices/${id}/invoice.pdf`);
}

function assertPdfAnswer(r, number, what) {
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
  assert.match(r.headers.get('content-type') || '', /^application\/pdf/, what);
  assert.equal(r.headers.get('content-disposition'), `inline; filename="${number}.pdf"`, what);
  assert.equal(r.body.subarray(0, 5).toString('latin1'), '%PDF-', `${what}: starts with %PDF-`);
  assert.match(r.headers.get('cache-control') || '', /no-store/, `${what}: never cached`);
}

before(async () => {
  ctx = await moneySetup({
    tag: 'ip', techs: 8,
    env: { GSS_TAX_RATE_BP: 1100, GSS_PUBLIC_URL: PUBLIC_URL, GSS_PAY_BANK: PAY_BANK, GSS_INVOICE_DUE_DAYS: 7 },
  });
  tmp = await makeTmpDir('invoice-pdf');
  // The invoices below bill a customer with a Vietnamese and a Polish letter.
  const c = await api(ctx.g, ctx.cs, 'POST', '/api/v1/customers',
    { name: CUSTOMER, phone: '6281299887766', address: 'Jl. Kenanga No. 7, Bandung' });
  assert.equal(c.status, 201, `create customer: ${c.status} ${c.text}`);
  ctx.customers = [c.json.id, ...ctx.customers];
}, T);

after(async () => {
  if (ctx?.g) assert.equal(await ctx.g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

describe('the invoice PDF', () => {
  let inv; // the invoice of the first ticket, through its life
  let staffSent; // the staff PDF once sent
  let invoiceUrl;

  // sampleItems: 1 x 1.250.000 + 2 x 50.000 = 1.350.000; discount 50.000;
  // taxable 1.300.000; 11% = 143.000; total 1.443.000.
  it('a draft: DRAF, the totals worked out by hand, the customer as written, no QR code', T, async () => {
    const w = await workDone(ctx);
    inv = await draftInvoice(ctx, w.ticket.id);
    assert.equal(inv.total, 1443000, `the server's total is ours: ${JSON.stringify(inv)}`);

    const r = await staffPdf(ctx.cs, inv.id);
    assertPdfAnswer(r, inv.number, 'CS, draft');
    assert.equal(r.headers.get('cache-control'), 'private, no-store');
    const p = await save('draft.pdf', r.body);
    assert.equal(await checkPdf(p), 1);
    const t = await words(p);
    for (const s of [inv.number, w.ticket.code, nfc(CUSTOMER), 'Jl. Kenanga No. 7, Bandung', '+6281299887766',
      'DRAF — belum disetujui/dikirim', 'Ganti kompresor AC 1 PK 1 Rp 1.250.000 Rp 1.250.000',
      'Isi freon R32 2 Rp 50.000 Rp 100.000', 'Subtotal Rp 1.350.000', 'Diskon -Rp 50.000',
      'Pajak (11%) Rp 143.000', 'Total Rp 1.443.000', 'Dibayar Rp 0', 'Sisa Rp 1.443.000', 'Garansi 30 hari',
      PAY_BANK, 'Jatuh tempo : -']) {
      assert.ok(t.includes(s), `the draft shows "${s}":\n${t}`);
    }
    assert.ok(!t.includes(PUBLIC_URL), 'no public URL on a draft');
    assert.deepEqual(await qrCodes(p, 1), [], 'no QR code on a draft');

    // Sales and admin read it too; a technician may not; nobody without a login.
    for (const [who, token] of [['sales', ctx.sales], ['admin', ctx.admin]]) {
      const x = await staffPdf(token, inv.id);
      assertPdfAnswer(x, inv.number, who);
    }
    const tech = await staffPdf(w.techs[0].token, inv.id);
    assert.equal(tech.status, 403, `a technician: ${tech.status} ${tech.text}`);
    const anon = await pub(ctx, 'GET', `/api/v1/invoices/${inv.id}/invoice.pdf`);
    assert.equal(anon.status, 401, `no login: ${anon.status}`);
    const none = await staffPdf(ctx.cs, 987654321);
    assert.equal(none.status, 404, none.text);
    assert.equal(none.json?.error?.code, 'not_found');
  });

  it('approved, not sent: still DRAF and no QR code', T, async () => {
    await step(ctx, ctx.cs, inv.id, 'submit');
    await step(ctx, ctx.sales, inv.id, 'approve');
    const r = await staffPdf(ctx.cs, inv.id);
    assertPdfAnswer(r, inv.number, 'approved');
    const p = await save('approved.pdf', r.body);
    assert.ok((await words(p)).includes('DRAF'), 'an approved invoice is not sent yet');
    assert.deepEqual(await qrCodes(p, 1), []);
  });

  it('sent: no DRAF, the invoice_url send answered printed and in the QR code, the dates in Jakarta', T, async () => {
    const s = await step(ctx, ctx.cs, inv.id, 'send');
    assert.equal(s.status, 'sent');
    invoiceUrl = s.invoice_url;
    assert.ok(invoiceUrl.startsWith(`${PUBLIC_URL}/i/`), invoiceUrl);

    const r = await staffPdf(ctx.cs, inv.id);
    assertPdfAnswer(r, inv.number, 'sent');
    staffSent = r.body;
    const p = await save('sent.pdf', r.body);
    assert.equal(await checkPdf(p), 1);
    const t = await words(p);
    assert.ok(!t.includes('DRAF'), `no DRAF once sent:\n${t}`);
    assert.ok(t.includes(invoiceUrl), `the URL is printed whole:\n${t}`);
    assert.ok(t.includes(`Tanggal : ${jakartaDate(s.sent_at)}`), `issued ${jakartaDate(s.sent_at)}:\n${t}`);
    assert.ok(t.includes(`Jatuh tempo : ${jakartaDate(s.due_at)}`), `due ${jakartaDate(s.due_at)}:\n${t}`);
    assert.ok(t.includes('Total Rp 1.443.000') && t.includes('Sisa Rp 1.443.000'), t);
    assert.ok(t.includes(nfc(CUSTOMER)), t);
    assert.deepEqual(await qrCodes(p, 1), [invoiceUrl], 'the QR code opens the invoice page');

    // A resend sends the same links: the same PDF.
    await step(ctx, ctx.cs, inv.id, 'send');
    const again = await staffPdf(ctx.cs, inv.id);
    assert.ok(again.body.equals(staffSent), 'a resend changes nothing in the PDF');
  });

  it('the customer\'s copy through the public link is the same PDF, never cached', T, async () => {
    assert.ok(invoiceUrl, 'needs the previous test');
    const token = invoiceUrl.split('/').pop();
    const r = await pub(ctx, 'GET', `/api/v1/public/invoices/${token}/invoice.pdf`);
    assertPdfAnswer(r, inv.number, 'public');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    assert.ok(r.body.equals(staffSent), 'the customer sees what staff see');
    // The page answers the same link.
    const page = await pub(ctx, 'GET', `/api/v1/public/invoices/${token}`);
    assert.equal(page.status, 200, page.text);
    assert.ok(page.json.pdf_url.endsWith(`/api/v1/public/invoices/${token}/invoice.pdf`), page.text);
    const bad = await pub(ctx, 'GET', `/api/v1/public/invoices/${'A'.repeat(32)}/invoice.pdf`);
    assert.equal(bad.status, 404, bad.text);
  });

  it('paid in two parts: Dibayar and Sisa follow, then LUNAS', T, async () => {
    assert.ok(invoiceUrl, 'needs the previous tests');
    const p1 = await api(ctx.g, ctx.cs, 'POST', `/api/v1/invoices/${inv.id}/payments`, { amount: 443000, method: 'cash' });
    assert.equal(p1.status, 201, p1.text);
    let r = await staffPdf(ctx.cs, inv.id);
    let t = await words(await save('part.pdf', r.body));
    assert.ok(t.includes('Dibayar Rp 443.000') && t.includes('Sisa Rp 1.000.000'), t);
    assert.ok(!t.includes('LUNAS'), t);

    const p2 = await api(ctx.g, ctx.cs, 'POST', `/api/v1/invoices/${inv.id}/payments`, { amount: 1000000, method: 'cash' });
    assert.equal(p2.status, 201, p2.text);
    assert.equal(p2.json.status, 'paid', p2.text);
    r = await staffPdf(ctx.cs, inv.id);
    assertPdfAnswer(r, inv.number, 'paid');
    const p = await save('paid.pdf', r.body);
    t = await words(p);
    assert.ok(t.includes('LUNAS'), `a paid invoice is stamped:\n${t}`);
    assert.ok(t.includes(jakartaDate(p2.json.paid_at)), `the stamp's date ${jakartaDate(p2.json.paid_at)}:\n${t}`);
    assert.ok(t.includes('Dibayar Rp 1.443.000') && t.includes('Sisa Rp 0'), t);
    assert.deepEqual(await qrCodes(p, 1), [invoiceUrl], 'the stamp leaves the QR code readable');
  });

  it('50 items with long UTF-8 descriptions: continuation pages with the header again, every line once', T, async () => {
    const w = await workDone(ctx);
    const items = [];
    for (let i = 1; i <= 50; i++) {
      let d = `Baris-${String(i).padStart(2, '0')} perbaikan unit Nguyễn Thị Hộ tầng ${i}: `;
      while (d.length < 190) d += 'servis lưu ';
      items.push({ description: d.slice(0, 200), qty: i, unit_price: 10000 });
    }
    // 10.000 x (1 + ... + 50) = 12.750.000; 11% = 1.402.500; 14.152.500.
    const d = await draftInvoice(ctx, w.ticket.id, { items, discount: 0, note: '' });
    assert.equal(d.total, 14152500, JSON.stringify({ subtotal: d.subtotal, tax: d.tax, total: d.total }));
    const r = await staffPdf(ctx.cs, d.id);
    assertPdfAnswer(r, d.number, '50 items');
    const p = await save('fifty.pdf', r.body);
    const n = await checkPdf(p);
    assert.ok(n >= 3, `50 long lines take several pages: ${n}`);
    const t = await words(p);
    let at = -1;
    for (let i = 1; i <= 50; i++) {
      const mark = `Baris-${String(i).padStart(2, '0')}`;
      assert.equal(t.split(mark).length - 1, 1, `${mark} once`);
      assert.ok(t.indexOf(mark) > at, `${mark} in order`);
      at = t.indexOf(mark);
    }
    assert.ok(t.includes('Subtotal Rp 12.750.000') && t.includes('Total Rp 14.152.500'), t.slice(-800));
    for (let page = 2; page <= n; page++) {
      const pt = await words(p, ['-f', String(page), '-l', String(page)]);
      assert.ok(pt.includes(`INVOICE ${d.number} (lanjutan)`), `page ${page} names the invoice`);
      assert.ok(pt.includes(`Halaman ${page} dari ${n}`), `page ${page} is numbered`);
      if (pt.includes('Baris-')) assert.ok(pt.includes('No. Uraian Jumlah Harga Satuan Total'), `page ${page} repeats the header`);
    }
  });

  it('many at once: each 200, or 503 with Retry-After when the render queue is full', T, async () => {
    assert.ok(inv, 'needs the first test');
    const rs = await Promise.all(Array.from({ length: 24 }, () => staffPdf(ctx.cs, inv.id)));
    let ok = 0;
    for (const r of rs) {
      if (r.status === 200) {
        ok++;
        assert.equal(r.body.subarray(0, 5).toString('latin1'), '%PDF-');
      } else {
        assert.equal(r.status, 503, r.text);
        assert.ok(r.headers.get('retry-after'), '503 says when to come back');
      }
    }
    assert.ok(ok >= 1, 'some were served');
  });
});
