// Payments, voids and closing the ticket (issue 9 items 5 and 6,
// docs/money.md "Payments"): POST /api/v1/invoices/{id}/payments,
// .../payments/{pid}/void and POST /api/v1/tickets/{id}/close, against the
// real stack. Every invoice here is brought to `sent` through the real API
// (money_util.mjs). Expected amounts are computed here from the items and
// the tax rate this file sets, never read back from the server first.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { psql, waitFor } from './harness.mjs';
import { countRows, makePng } from './field_util.mjs';
import {
  moneySetup, workDone, draftInvoice, approvedInvoice, sentInvoice, sampleItems, step, api, getTicket, upload,
} from './money_util.mjs';

const T = { timeout: 120000 };

// sampleItems(): 1 × 1.250.000 + 2 × 50.000 = 1.350.000, discount 50.000;
// PPN 11 % on 1.300.000 = 143.000 (exact, no rounding); total 1.443.000.
const TAX_BP = 1100;
const TOTAL = 1300000 + 143000;

let ctx;
let db;

before(async () => {
  ctx = await moneySetup({ tag: 'py', techs: 30, env: { GSS_TAX_RATE_BP: TAX_BP } });
  db = ctx.database.url;
}, { timeout: 120000 });

after(async () => {
  if (ctx) assert.equal(await ctx.g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

const pay = (id, body, token = ctx.cs) => api(ctx.g, token, 'POST', `/api/v1/invoices/${id}/payments`, body);
const voidPay = (id, pid, body, token = ctx.cs) =>
  api(ctx.g, token, 'POST', `/api/v1/invoices/${id}/payments/${pid}/void`, body);
const closeTicket = (id, body, token = ctx.cs) => api(ctx.g, token, 'POST', `/api/v1/tickets/${id}/close`, body);
const getInvoice = async (id) => {
  const r = await api(ctx.g, ctx.cs, 'GET', `/api/v1/invoices/${id}`);
  assert.equal(r.status, 200, `GET invoice ${id}: ${r.status} ${r.text}`);
  return r.json;
};

/** What PostgreSQL holds for the invoice: status, paid_amount, paid_at set,
 *  payments (all / not voided), the ticket's status. */
async function stored(invoiceId) {
  const [[status, paid, paidAt, all, live, ticket]] = await psql(db,
    `SELECT i.status, i.paid_amount, i.paid_at IS NOT NULL,
            (SELECT count(*) FROM payments p WHERE p.invoice_id = i.id),
            (SELECT count(*) FROM payments p WHERE p.invoice_id = i.id AND p.voided_at IS NULL),
            t.status
       FROM invoices i JOIN tickets t ON t.id = i.ticket_id WHERE i.id = ${Number(invoiceId)}`);
  return { status, paid: Number(paid), paidAt: paidAt === 't', all: Number(all), live: Number(live), ticket };
}

/** [action, paid_amount before, after] of the invoice's payment history rows. */
async function historyPaid(invoiceId) {
  const rows = await psql(db,
    `SELECT action, before->>'paid_amount', after->>'paid_amount' FROM invoice_history
      WHERE invoice_id = ${Number(invoiceId)} AND action IN ('payment', 'pay', 'void_payment') ORDER BY id`);
  return rows.map(([a, b, c]) => [a, Number(b), Number(c)]);
}

async function expectError(r, status, code, what) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json?.error?.code, code, `${what}: code ${r.text}`);
  return r.json.error.message;
}

/** The actions of a ticket's timeline, in the order GET lists them. */
async function timeline(ticketId) {
  return (await getTicket(ctx.g, ctx.cs, ticketId)).timeline;
}

/** A sent invoice paid in full by one transfer (asserts 201, paid). */
async function paidInvoice() {
  const s = await sentInvoice(ctx);
  const r = await pay(s.invoice.id, { amount: TOTAL, method: 'transfer', reference: 'BCA 0001' });
  assert.equal(r.status, 201, `pay in full: ${r.status} ${r.text}`);
  assert.equal(r.json.status, 'paid');
  return { ...s, invoice: r.json };
}

describe('recording payments', () => {
  it('two partial payments add up; the second pays the invoice and the ticket', T, async () => {
    const s = await sentInvoice(ctx);
    assert.equal(s.invoice.total, TOTAL, `total with 11 % tax: ${s.invoice.total}`);
    assert.equal(s.invoice.balance, TOTAL);
    assert.equal((await getTicket(ctx.g, ctx.cs, s.ticket.id)).status, 'awaiting_payment');

    const at1 = new Date(Date.now() - 2 * 86400000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const r1 = await pay(s.invoice.id, { amount: 443000, method: 'transfer', paid_at: at1, reference: 'BCA 123' });
    assert.equal(r1.status, 201, `first payment: ${r1.status} ${r1.text}`);
    assert.equal(r1.json.id, s.invoice.id, 'the answer is the invoice');
    assert.equal(r1.json.status, 'sent', 'a partial payment leaves it sent');
    assert.equal(r1.json.paid_amount, 443000);
    assert.equal(r1.json.balance, TOTAL - 443000);
    assert.equal(r1.json.paid_at, null);
    assert.equal(r1.json.payments.length, 1);
    const p1 = r1.json.payments[0];
    assert.equal(p1.amount, 443000);
    assert.equal(p1.method, 'transfer');
    assert.equal(p1.reference, 'BCA 123');
    assert.equal(p1.proof_attachment_id, null);
    assert.equal(new Date(p1.paid_at).getTime(), new Date(at1).getTime(), `paid_at kept: ${p1.paid_at}`);
    assert.equal(p1.recorded_by.id, ctx.ids.cs, 'recorded by the CS who asked');
    assert.equal(p1.voided_at, null);
    let t = await getTicket(ctx.g, ctx.cs, s.ticket.id);
    assert.equal(t.status, 'awaiting_payment', 'the ticket still waits');

    const r2 = await pay(s.invoice.id, { amount: TOTAL - 443000, method: 'qris' });
    assert.equal(r2.status, 201, `second payment: ${r2.status} ${r2.text}`);
    assert.equal(r2.json.status, 'paid', 'covered: paid');
    assert.equal(r2.json.paid_amount, TOTAL);
    assert.equal(r2.json.balance, 0);
    assert.ok(r2.json.paid_at, 'paid_at is set');
    assert.equal(r2.json.payments.length, 2);
    const p2 = r2.json.payments.find((p) => p.id !== p1.id);
    assert.equal(p2.method, 'qris');
    assert.equal(p2.reference, null);
    assert.ok(Math.abs(new Date(p2.paid_at).getTime() - Date.now()) < 120000, `paid_at defaults to now: ${p2.paid_at}`);

    t = await getTicket(ctx.g, ctx.cs, s.ticket.id);
    assert.equal(t.status, 'paid', 'the ticket is paid');
    assert.equal(t.invoice?.status, 'paid', `the ticket's invoice: ${JSON.stringify(t.invoice)}`);
    assert.equal(t.invoice?.paid_amount, TOTAL);
    const g = await getInvoice(s.invoice.id);
    assert.equal(g.paid_amount, TOTAL);
    assert.deepEqual(await stored(s.invoice.id),
      { status: 'paid', paid: TOTAL, paidAt: true, all: 2, live: 2, ticket: 'paid' });

    // The revisions list shows the money coming in: a partial payment, then pay.
    const rev = g.revisions.slice(-2);
    assert.deepEqual(rev.map((x) => x.action), ['payment', 'pay'], `revisions: ${JSON.stringify(g.revisions)}`);
    assert.deepEqual([rev[0].status_before, rev[0].status_after, rev[1].status_before, rev[1].status_after],
      ['sent', 'sent', 'sent', 'paid']);
    assert.equal(rev[1].after.total, TOTAL);
    assert.deepEqual(await historyPaid(s.invoice.id), [['payment', 0, 443000], ['pay', 443000, TOTAL]],
      'the history rows carry paid_amount before and after');

    // Audited on the ticket: two payment.record rows, then the ticket's move.
    const tl = t.timeline;
    const recs = tl.filter((x) => x.action === 'payment.record');
    assert.equal(recs.length, 2, `payment.record rows: ${JSON.stringify(tl)}`);
    assert.deepEqual(recs.map((x) => x.data.amount), [443000, TOTAL - 443000]);
    assert.equal(recs[0].data.invoice_id, s.invoice.id);
    assert.equal(recs[0].data.paid_at, at1, 'paid_at in the API\'s time format');
    assert.equal(recs[0].data.reference, 'BCA 123');
    assert.equal(recs[0].actor_id, ctx.ids.cs);
    assert.ok(tl.some((x) => x.action === 'ticket.status' && x.before === 'awaiting_payment' && x.after === 'paid'),
      `ticket.status awaiting_payment -> paid: ${JSON.stringify(tl)}`);
  });

  it('an overpayment is 422 naming the balance, and nothing is written', T, async () => {
    const s = await sentInvoice(ctx);
    const m1 = await expectError(await pay(s.invoice.id, { amount: TOTAL + 1, method: 'transfer' }), 422, 'overpayment',
      'more than the total');
    assert.match(m1, /Rp 1\.443\.000/, `the message names the balance: ${m1}`);
    assert.equal(await countRows(db, `SELECT count(*) FROM payments WHERE invoice_id = ${s.invoice.id}`), 0);
    assert.deepEqual(await stored(s.invoice.id),
      { status: 'sent', paid: 0, paidAt: false, all: 0, live: 0, ticket: 'awaiting_payment' });

    const r = await pay(s.invoice.id, { amount: 1000, method: 'cash' });
    assert.equal(r.status, 201, `a small payment: ${r.status} ${r.text}`);
    const m2 = await expectError(await pay(s.invoice.id, { amount: TOTAL - 1000 + 1, method: 'transfer' }), 422,
      'overpayment', 'one Rupiah too many');
    assert.match(m2, /Rp 1\.442\.000/, `the message names what is left: ${m2}`);
    assert.deepEqual(await stored(s.invoice.id),
      { status: 'sent', paid: 1000, paidAt: false, all: 1, live: 1, ticket: 'awaiting_payment' });
    // Far beyond int64 is still just more than the balance.
    await expectError(await pay(s.invoice.id, { amount: 1e19, method: 'transfer' }), 422, 'overpayment', 'huge amount');
  });

  it('a draft, approved or paid invoice takes no payment (409), and an unknown one is 404', T, async () => {
    const w = await workDone(ctx);
    const d = await draftInvoice(ctx, w.ticket.id);
    let m = await expectError(await pay(d.id, { amount: 1000, method: 'cash' }), 409, 'invalid_transition', 'draft');
    assert.match(m, /draft/, `the message says why: ${m}`);
    assert.match(m, /allowed from sent/, `and from where: ${m}`);

    const a = await approvedInvoice(ctx);
    m = await expectError(await pay(a.invoice.id, { amount: 1000, method: 'cash' }), 409, 'invalid_transition', 'approved');
    assert.match(m, /approved/);

    const p = await paidInvoice();
    m = await expectError(await pay(p.invoice.id, { amount: 1, method: 'cash' }), 409, 'invalid_transition', 'paid');
    assert.match(m, /paid/);

    assert.equal(await countRows(db,
      `SELECT count(*) FROM payments WHERE invoice_id IN (${d.id}, ${a.invoice.id}, ${p.invoice.id})`), 1,
    'only the payment that paid the third invoice');
    await expectError(await pay(99999999, { amount: 1, method: 'cash' }), 404, 'not_found', 'no such invoice');
  });

  it('refuses bad input with 422 naming the field, writing nothing', T, async () => {
    const s = await sentInvoice(ctx);
    const id = s.invoice.id;
    const future = new Date(Date.now() + 3600000).toISOString();
    const old = new Date(Date.now() - 400 * 86400000).toISOString();
    const cases = [
      [{ method: 'cash' }, /^amount/],
      [{ amount: 0, method: 'cash' }, /^amount/],
      [{ amount: -5, method: 'cash' }, /^amount/],
      [{ amount: 1000.5, method: 'cash' }, /^amount/],
      [{ amount: '1000', method: 'cash' }, /^amount/],
      [{ amount: 1000 }, /^method/],
      [{ amount: 1000, method: 'bitcoin' }, /^method/],
      [{ amount: 1000, method: 'cash', paid_at: future }, /^paid_at/],
      [{ amount: 1000, method: 'cash', paid_at: old }, /^paid_at/],
      [{ amount: 1000, method: 'cash', paid_at: 'kemarin' }, /^paid_at/],
      [{ amount: 1000, method: 'cash', paid_at: '2026-02-30T10:00:00Z' }, /^paid_at/],
      [{ amount: 1000, method: 'cash', paid_at: '2026-01-05 10:00' }, /^paid_at/],
      [{ amount: 1000, method: 'transfer', reference: 'x'.repeat(201) }, /^reference/],
      [{ amount: 1000, method: 'transfer', reference: 7 }, /^reference/],
      [{ amount: 1000, method: 'transfer', proof_attachment_id: 'abc' }, /^proof_attachment_id/],
      [{ amount: 1000, method: 'transfer', proof_attachment_id: 0 }, /^proof_attachment_id/],
    ];
    for (const [body, re] of cases) {
      const m = await expectError(await pay(id, body), 422, 'validation_failed', JSON.stringify(body));
      assert.match(m, re, `${JSON.stringify(body)}: ${m}`);
    }
    // 200 characters (not bytes) is the limit: 200 × "é" is 400 bytes and fits.
    const ok = await pay(id, { amount: 1000, method: 'transfer', reference: 'é'.repeat(200) });
    assert.equal(ok.status, 201, `a 200-character reference: ${ok.status} ${ok.text}`);
    assert.equal(await countRows(db, `SELECT count(*) FROM payments WHERE invoice_id = ${id}`), 1);
    // Sales and technicians may not record payments (the route's roles).
    assert.equal((await pay(id, { amount: 1000, method: 'cash' }, ctx.sales)).status, 403);
    assert.equal((await pay(id, { amount: 1000, method: 'cash' }, s.techs[0].token)).status, 403);
  });

  it('cash without reference or proof is accepted', T, async () => {
    const s = await sentInvoice(ctx);
    const r = await pay(s.invoice.id, { amount: 500000, method: 'cash' });
    assert.equal(r.status, 201, `cash: ${r.status} ${r.text}`);
    assert.equal(r.json.payments[0].method, 'cash');
    assert.equal(r.json.payments[0].reference, null);
    assert.equal(r.json.payments[0].proof_attachment_id, null);
    // null and blanks mean none, too
    const r2 = await pay(s.invoice.id, { amount: 1000, method: 'cash', reference: '  ', proof_attachment_id: null });
    assert.equal(r2.status, 201, `cash with blanks: ${r2.status} ${r2.text}`);
    assert.ok(r2.json.payments.every((p) => p.reference === null));
  });

  // Review of issue 9: a JSON "\u0000" used to be cut off where C strings
  // end, so "BCA\u0000123" was stored as "BCA" and a reason of "\u0000 ..."
  // as "" (a void with no reason). Text holds no NUL (docs/money.md).
  it('a NUL character is refused (422), not cut off: reference, void reason, close note; nothing is written', T, async () => {
    const s = await sentInvoice(ctx);
    const id = s.invoice.id;
    for (const reference of ['BCA\u0000123', '\u0000']) {
      const m = await expectError(await pay(id, { amount: 1000, method: 'transfer', reference }), 422,
        'validation_failed', `reference ${JSON.stringify(reference)}`);
      assert.match(m, /^reference/, m);
    }
    assert.equal(await countRows(db, `SELECT count(*) FROM payments WHERE invoice_id = ${id}`), 0, 'no payment');
    const r = await pay(id, { amount: 1000, method: 'transfer', reference: 'BCA 123' });
    assert.equal(r.status, 201, r.text);
    const pid = r.json.payments[0].id;
    for (const reason of ['\u0000', '\u0000 salah transfer', 'salah\u0000transfer']) {
      const m = await expectError(await voidPay(id, pid, { reason }), 422, 'validation_failed',
        `reason ${JSON.stringify(reason)}`);
      assert.match(m, /^reason/, m);
    }
    assert.deepEqual(await stored(id), { status: 'sent', paid: 1000, paidAt: false, all: 1, live: 1, ticket: 'awaiting_payment' },
      'the payment stands');
    // The close note is checked before the ticket's state: 422, not 409.
    const m = await expectError(await closeTicket(s.ticket.id, { note: 'lunas\u0000' }), 422, 'validation_failed', 'close note');
    assert.match(m, /^note/, m);
  });
});

describe('proof of payment', () => {
  it('a proof must be a payment_proof of this ticket: a BAST or no such attachment is 422', T, async () => {
    const s = await sentInvoice(ctx);
    const bast = (await getTicket(ctx.g, ctx.cs, s.ticket.id)).attachments.find((a) => a.kind === 'bast');
    assert.ok(bast, 'the ticket has its BAST');
    for (const [pid, what] of [[bast.id, 'the BAST'], [99999999, 'no such attachment']]) {
      const m = await expectError(await pay(s.invoice.id, { amount: 1000, method: 'transfer', proof_attachment_id: pid }),
        422, 'validation_failed', what);
      assert.match(m, /^proof_attachment_id/, `${what}: ${m}`);
    }
    assert.equal(await countRows(db, `SELECT count(*) FROM payments WHERE invoice_id = ${s.invoice.id}`), 0);
  });

  it('a payment_proof uploaded by CS is accepted; one of another ticket is 422', T, async () => {
    const s = await sentInvoice(ctx);
    const other = await sentInvoice(ctx);
    const up = await upload(ctx.g, ctx.cs, s.ticket.id, 'payment_proof', makePng(6, 4, 9), { contentType: 'image/png' });
    assert.equal(up.status, 201, `proof upload by CS: ${up.status} ${up.text}`);
    assert.equal(up.json.kind, 'payment_proof');
    const upOther = await upload(ctx.g, ctx.cs, other.ticket.id, 'payment_proof', makePng(5, 5, 3),
      { contentType: 'image/png' });
    assert.equal(upOther.status, 201, `proof upload on the other ticket: ${upOther.status} ${upOther.text}`);

    const m = await expectError(await pay(s.invoice.id,
      { amount: 1000, method: 'transfer', proof_attachment_id: upOther.json.id }), 422, 'validation_failed',
    'a proof of another ticket');
    assert.match(m, /^proof_attachment_id/, m);
    assert.equal(await countRows(db, `SELECT count(*) FROM payments WHERE invoice_id = ${s.invoice.id}`), 0);

    const r = await pay(s.invoice.id,
      { amount: 600000, method: 'transfer', reference: 'Mandiri 77', proof_attachment_id: up.json.id });
    assert.equal(r.status, 201, `with its proof: ${r.status} ${r.text}`);
    assert.equal(r.json.payments[0].proof_attachment_id, up.json.id);
    const [[proof]] = await psql(db, `SELECT proof_attachment_id FROM payments WHERE invoice_id = ${s.invoice.id}`);
    assert.equal(Number(proof), up.json.id);
  });
});

describe('voiding a payment', () => {
  it('returns the invoice to sent and the ticket to awaiting_payment, audited; twice is 409', T, async () => {
    const s = await sentInvoice(ctx);
    const a = await pay(s.invoice.id, { amount: 1000000, method: 'transfer', reference: 'BCA 1' });
    assert.equal(a.status, 201);
    const b = await pay(s.invoice.id, { amount: TOTAL - 1000000, method: 'transfer', reference: 'BCA 2' });
    assert.equal(b.status, 201);
    assert.equal(b.json.status, 'paid');
    const second = b.json.payments.find((p) => p.reference === 'BCA 2');

    await expectError(await voidPay(s.invoice.id, second.id, {}), 422, 'validation_failed', 'no reason');
    await expectError(await voidPay(s.invoice.id, second.id, { reason: '   ' }), 422, 'validation_failed', 'blank reason');
    await expectError(await voidPay(s.invoice.id, second.id, { reason: 'x'.repeat(501) }), 422, 'validation_failed',
      'reason too long');
    assert.equal((await stored(s.invoice.id)).status, 'paid', 'a refused void changes nothing');

    const reason = 'Transfer ditolak bank (dana tidak masuk)';
    const v = await voidPay(s.invoice.id, second.id, { reason });
    assert.equal(v.status, 200, `void: ${v.status} ${v.text}`);
    assert.equal(v.json.status, 'sent', 'the invoice waits for payment again');
    assert.equal(v.json.paid_amount, 1000000);
    assert.equal(v.json.balance, TOTAL - 1000000);
    assert.equal(v.json.paid_at, null, 'paid_at cleared');
    const vp = v.json.payments.find((p) => p.id === second.id);
    assert.ok(vp.voided_at, 'the voided payment stays, marked');
    assert.equal(vp.void_reason, reason);
    assert.equal(vp.voided_by?.id, ctx.ids.cs);
    assert.equal(v.json.payments.find((p) => p.id !== second.id).voided_at, null, 'the other payment stands');
    assert.deepEqual(await stored(s.invoice.id),
      { status: 'sent', paid: 1000000, paidAt: false, all: 2, live: 1, ticket: 'awaiting_payment' });
    const rev = v.json.revisions.at(-1);
    assert.equal(rev.action, 'void_payment');
    assert.equal(rev.note, reason);
    assert.deepEqual([rev.status_before, rev.status_after], ['paid', 'sent']);
    assert.deepEqual((await historyPaid(s.invoice.id)).at(-1), ['void_payment', TOTAL, 1000000]);

    const tl = await timeline(s.ticket.id);
    const vr = tl.find((x) => x.action === 'payment.void');
    assert.ok(vr, `timeline has payment.void: ${JSON.stringify(tl)}`);
    assert.equal(vr.data.reason, reason);
    assert.equal(vr.data.payment_id, second.id);
    assert.equal(vr.actor_id, ctx.ids.cs);
    assert.ok(tl.some((x) => x.action === 'ticket.status' && x.before === 'paid' && x.after === 'awaiting_payment'),
      `ticket.status paid -> awaiting_payment: ${JSON.stringify(tl)}`);
    assert.equal((await getTicket(ctx.g, ctx.cs, s.ticket.id)).status, 'awaiting_payment');

    await expectError(await voidPay(s.invoice.id, second.id, { reason: 'lagi' }), 409, 'already_voided', 'void twice');
    // A partial payment's void leaves the invoice sent.
    const first = v.json.payments.find((p) => p.id !== second.id);
    const v2 = await voidPay(s.invoice.id, first.id, { reason: 'Salah catat' });
    assert.equal(v2.status, 200, `void the partial one: ${v2.status} ${v2.text}`);
    assert.equal(v2.json.status, 'sent');
    assert.equal(v2.json.paid_amount, 0);
    // and it can be paid again
    const again = await pay(s.invoice.id, { amount: TOTAL, method: 'transfer', reference: 'BCA 3' });
    assert.equal(again.status, 201);
    assert.equal(again.json.status, 'paid');
    assert.equal((await getTicket(ctx.g, ctx.cs, s.ticket.id)).status, 'paid');
  });

  it('a payment of another invoice, or none, is 404', T, async () => {
    const x = await paidInvoice();
    const y = await sentInvoice(ctx);
    const px = x.invoice.payments[0].id;
    await expectError(await voidPay(y.invoice.id, px, { reason: 'salah invoice' }), 404, 'not_found', 'other invoice');
    await expectError(await voidPay(y.invoice.id, 99999999, { reason: 'tidak ada' }), 404, 'not_found', 'no payment');
    await expectError(await voidPay(99999999, px, { reason: 'tidak ada' }), 404, 'not_found', 'no invoice');
    assert.equal((await stored(x.invoice.id)).live, 1, 'nothing voided');
  });

  it('on a closed ticket is 409 and changes nothing', T, async () => {
    const p = await paidInvoice();
    const c = await closeTicket(p.ticket.id, { note: 'Selesai' });
    assert.equal(c.status, 200, `close: ${c.status} ${c.text}`);
    const before = await stored(p.invoice.id);
    const m = await expectError(await voidPay(p.invoice.id, p.invoice.payments[0].id, { reason: 'terlambat' }), 409,
      'invalid_transition', 'void after close');
    assert.match(m, /closed/, `the message says the ticket is closed: ${m}`);
    assert.deepEqual(await stored(p.invoice.id), before, 'unchanged');
    assert.deepEqual(before, { status: 'paid', paid: TOTAL, paidAt: true, all: 1, live: 1, ticket: 'closed' });
    assert.ok(!(await timeline(p.ticket.id)).some((x) => x.action === 'payment.void'), 'no void audited');
  });
});

describe('closing the ticket', () => {
  it('paid -> closed, answered as GET shows it, audited with the note; not from awaiting_payment', T, async () => {
    const s = await sentInvoice(ctx);
    let m = await expectError(await closeTicket(s.ticket.id, {}), 409, 'invalid_transition', 'close unpaid');
    assert.match(m, /awaiting_payment/, `the message says where it is: ${m}`);
    assert.equal((await getTicket(ctx.g, ctx.cs, s.ticket.id)).status, 'awaiting_payment');

    const r = await pay(s.invoice.id, { amount: TOTAL, method: 'transfer' });
    assert.equal(r.status, 201);
    await expectError(await closeTicket(s.ticket.id, { note: 5 }), 422, 'validation_failed', 'a number as note');
    await expectError(await closeTicket(s.ticket.id, { note: 'n'.repeat(1001) }), 422, 'validation_failed', 'long note');
    const c = await closeTicket(s.ticket.id, { note: 'Pelanggan puas, garansi 30 hari' });
    assert.equal(c.status, 200, `close: ${c.status} ${c.text}`);
    assert.equal(c.json.status, 'closed');
    const g = await getTicket(ctx.g, ctx.cs, s.ticket.id);
    assert.deepEqual(c.json, g, 'the answer is the ticket exactly as GET shows it');
    const close = g.timeline.find((x) => x.action === 'ticket.close');
    assert.ok(close, `timeline has ticket.close: ${JSON.stringify(g.timeline)}`);
    assert.equal(close.data.note, 'Pelanggan puas, garansi 30 hari');
    assert.equal(close.actor_id, ctx.ids.cs);
    assert.ok(g.timeline.some((x) => x.action === 'ticket.status' && x.before === 'paid' && x.after === 'closed'));

    m = await expectError(await closeTicket(s.ticket.id), 409, 'invalid_transition', 'close twice');
    assert.match(m, /closed/);
    await expectError(await closeTicket(99999999), 404, 'not_found', 'no such ticket');
    assert.equal((await closeTicket(s.ticket.id, undefined, ctx.sales)).status, 403, 'Sales may not close');
  });

  it('an invoice with nothing to pay (discount = subtotal) is paid by its first send, and closes', T, async () => {
    const body = { items: [{ description: 'Servis garansi', qty: 1, unit_price: 300000 }], discount: 300000 };
    const a = await approvedInvoice(ctx, { body });
    const s = { ...a, invoice: await step(ctx, ctx.cs, a.invoice.id, 'send') };
    assert.equal(s.invoice.total, 0, `discount = subtotal leaves 0 (and 0 tax): ${JSON.stringify(s.invoice)}`);
    assert.equal(s.invoice.status, 'paid', 'nothing is owed: the send paid it');
    assert.deepEqual(await stored(s.invoice.id), { status: 'paid', paid: 0, paidAt: true, all: 0, live: 0, ticket: 'paid' });
    const actions = s.invoice.revisions.map((r) => r.action);
    assert.deepEqual(actions.slice(-2), ['send', 'pay'], `history: ${actions}`);
    await expectError(await pay(s.invoice.id, { amount: 1, method: 'cash' }), 409, 'invalid_transition', 'pay a paid 0');
    const c = await closeTicket(s.ticket.id);
    assert.equal(c.status, 200, `close: ${c.status} ${c.text}`);
    assert.equal(c.json.status, 'closed');
  });

  it('closes with no body at all', T, async () => {
    const p = await paidInvoice();
    const c = await closeTicket(p.ticket.id);
    assert.equal(c.status, 200, `close without a body: ${c.status} ${c.text}`);
    assert.equal(c.json.status, 'closed');
    assert.equal(c.json.timeline.find((x) => x.action === 'ticket.close')?.data.note, null);
  });
});

describe('concurrency', () => {
  it('payments racing for the last balance: never more than the total', T, async () => {
    const s = await sentInvoice(ctx);
    // Five of 400.000 at once against 1.443.000: three fit, two do not.
    const rs = await Promise.all([0, 1, 2, 3, 4].map((i) =>
      pay(s.invoice.id, { amount: 400000, method: 'transfer', reference: `race ${i}` })));
    const codes = rs.map((r) => r.status).sort();
    assert.deepEqual(codes, [201, 201, 201, 422, 422], `statuses: ${rs.map((r) => `${r.status} ${r.text}`).join(' | ')}`);
    for (const r of rs.filter((x) => x.status === 422)) assert.equal(r.json.error.code, 'overpayment');
    assert.deepEqual(await stored(s.invoice.id),
      { status: 'sent', paid: 1200000, paidAt: false, all: 3, live: 3, ticket: 'awaiting_payment' });

    // Two payments of exactly what is left: one pays it, the other finds it paid.
    const last = TOTAL - 1200000;
    const two = await Promise.all([0, 1].map(() => pay(s.invoice.id, { amount: last, method: 'qris' })));
    const st = two.map((r) => r.status).sort();
    assert.deepEqual(st, [201, 409], `statuses: ${two.map((r) => `${r.status} ${r.text}`).join(' | ')}`);
    assert.equal(two.find((r) => r.status === 201).json.status, 'paid');
    assert.deepEqual(await stored(s.invoice.id),
      { status: 'paid', paid: TOTAL, paidAt: true, all: 4, live: 4, ticket: 'paid' });
    const [[over]] = await psql(db, 'SELECT count(*) FROM invoices WHERE paid_amount > total');
    assert.equal(over, '0');
  });

  // The money writers lock the ticket, then the invoice, so they never
  // deadlock one another; anything that locks the other way round (here a
  // session of this test) can. PostgreSQL then rolls gssd's transaction
  // back (40P01) and gssd runs it again: one answer, one payment.
  it('a deadlock with a session that locks the invoice first: the payment runs again, one 201, one payment', T, async () => {
    const s = await sentInvoice(ctx);
    const count = async (sql) => Number((await psql(db, sql))[0][0]);
    const again = () => ctx.g.lines.filter((l) => l.includes('running the transaction again')).length;
    const before = again();
    // Our session waits long before it looks for a deadlock, so that gssd,
    // waiting for the invoice since before our session asks for the ticket,
    // is the one that finds it.
    const other = psql(db, `BEGIN; SET LOCAL deadlock_timeout = '30s';
      SELECT 1 FROM invoices WHERE id = ${s.invoice.id} FOR UPDATE; SELECT pg_sleep(0.6);
      SELECT 1 FROM tickets WHERE id = ${s.ticket.id} FOR UPDATE; COMMIT;`);
    await waitFor(() => count("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()" +
      " AND state = 'active' AND query LIKE '%pg_sleep(0.6)%'").then((n) => n > 0), { interval: 10, what: 'the invoice locked' });
    const r = await pay(s.invoice.id, { amount: 1000, method: 'cash' });
    await other;
    assert.equal(r.status, 201, `after the deadlock: ${r.status} ${r.text}`);
    assert.equal(r.json.payments.length, 1);
    assert.equal(again(), before + 1, 'gssd ran the transaction again, once');
    assert.deepEqual(await stored(s.invoice.id),
      { status: 'sent', paid: 1000, paidAt: false, all: 1, live: 1, ticket: 'awaiting_payment' });
    assert.deepEqual(await historyPaid(s.invoice.id), [['payment', 0, 1000]], 'one history row');
  });
});

describe('the whole story', () => {
  it("the ticket's timeline lists every step from create to close, in order", T, async () => {
    const w = await workDone(ctx, { techs: 2 });
    const d = await draftInvoice(ctx, w.ticket.id);
    await step(ctx, ctx.cs, d.id, 'submit');
    await step(ctx, ctx.sales, d.id, 'revise', { note: 'Diskon terlalu besar' });
    const body = sampleItems();
    const e = await api(ctx.g, ctx.cs, 'PATCH', `/api/v1/invoices/${d.id}`, { ...body, discount: 0 });
    assert.equal(e.status, 200, `edit: ${e.status} ${e.text}`);
    await step(ctx, ctx.cs, d.id, 'submit');
    await step(ctx, ctx.sales, d.id, 'approve');
    const sent = await step(ctx, ctx.cs, d.id, 'send');
    // No discount now: 1.350.000 + 11 % (148.500) = 1.498.500.
    assert.equal(sent.total, 1350000 + 148500);
    assert.equal((await pay(d.id, { amount: 498500, method: 'cash' })).status, 201);
    assert.equal((await pay(d.id, { amount: 1000000, method: 'transfer', reference: 'BCA 9' })).status, 201);
    assert.equal((await closeTicket(w.ticket.id, { note: 'Lunas' })).status, 200);

    const tl = await timeline(w.ticket.id);
    const acts = tl.map((x) => (x.action === 'ticket.status' ? `status:${x.before}>${x.after}` : x.action));
    const want = [
      'create',
      'status:assigned>in_progress',
      'status:in_progress>work_done',
      'invoice.create', 'status:work_done>invoicing',
      'invoice.submit', 'invoice.revise', 'invoice.edit', 'invoice.submit', 'invoice.approve',
      'invoice.send', 'status:invoicing>awaiting_payment',
      'payment.record', 'payment.record', 'status:awaiting_payment>paid',
      'ticket.close', 'status:paid>closed',
    ];
    // In order (other rows, e.g. check-ins, may come between).
    let i = 0;
    for (const a of acts) if (i < want.length && a === want[i]) i++;
    assert.equal(i, want.length, `missing ${want[i]} in order; timeline: ${acts.join(', ')}`);
    assert.equal(acts.at(-1), 'status:paid>closed', `close is the last thing: ${acts.join(', ')}`);
    // Times never go backwards.
    for (let k = 1; k < tl.length; k++) assert.ok(tl[k - 1].at <= tl[k].at, `timeline order at ${k}`);
  });
});
