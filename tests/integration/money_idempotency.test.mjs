// Money actions safe to retry (docs/money.md "Retrying a payment"):
// POST /api/v1/invoices/{id}/payments with an Idempotency-Key, against the
// real stack. Each invoice is brought to `sent` through the real API
// (money_util.mjs); what is expected is said here (the request's own
// amounts, a count of rows), never read back from the server first.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { http, psql } from './harness.mjs';
import { moneySetup, sentInvoice, approvedInvoice } from './money_util.mjs';

const T = { timeout: 120000 };
const TAX_BP = 1100;
const TOTAL = 1300000 + 143000; // money_util sampleItems() at 11 %

let ctx;
let db;

before(async () => {
  ctx = await moneySetup({ tag: 'mi', techs: 20, env: { GSS_TAX_RATE_BP: TAX_BP } });
  db = ctx.database.url;
}, { timeout: 120000 });

after(async () => {
  if (ctx) assert.equal(await ctx.g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

let keyN = 0;
const newKey = () => `mi-${process.pid}-${++keyN}`;

/** POST .../send with an optional Idempotency-Key. */
function send(id, key, token = ctx.cs) {
  const headers = { authorization: `Bearer ${token}` };
  if (key !== undefined) headers['idempotency-key'] = key;
  return http(`${ctx.g.url}/api/v1/invoices/${id}/send`, { method: 'POST', headers, timeout: 20000 });
}

async function sends(invoiceId) {
  const [[outbox, history]] = await psql(db,
    `SELECT (SELECT count(*) FROM outbox WHERE invoice_id = ${Number(invoiceId)} AND channel = 'whatsapp'),
            (SELECT count(*) FROM invoice_history WHERE invoice_id = ${Number(invoiceId)}
                AND action IN ('send', 'resend'))`);
  return { outbox: Number(outbox), history: Number(history) };
}

/** POST .../payments with an optional Idempotency-Key. */
function pay(id, body, key, token = ctx.cs) {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  if (key !== undefined) headers['idempotency-key'] = key;
  return http(`${ctx.g.url}/api/v1/invoices/${id}/payments`, {
    method: 'POST', headers, body: JSON.stringify(body), timeout: 20000,
  });
}

async function counts(invoiceId) {
  const [[payments, history, paid]] = await psql(db,
    `SELECT (SELECT count(*) FROM payments WHERE invoice_id = ${Number(invoiceId)}),
            (SELECT count(*) FROM invoice_history WHERE invoice_id = ${Number(invoiceId)}
                AND action IN ('payment', 'pay')),
            (SELECT paid_amount FROM invoices WHERE id = ${Number(invoiceId)})`);
  return { payments: Number(payments), history: Number(history), paid: Number(paid) };
}

describe('payments with an Idempotency-Key', () => {
  it('a replay answers 200 with the same payment and records nothing', T, async () => {
    const s = await sentInvoice(ctx);
    const key = newKey();
    const body = { amount: 500000, method: 'transfer', reference: 'BCA 1' };
    const a = await pay(s.invoice.id, body, key);
    assert.equal(a.status, 201, a.text);
    assert.equal(a.json.payments.length, 1, a.text);
    const b = await pay(s.invoice.id, body, key);
    assert.equal(b.status, 200, `the replay: ${b.status} ${b.text}`);
    assert.deepEqual(b.json.payments.map((p) => p.id), a.json.payments.map((p) => p.id));
    assert.equal(b.json.paid_amount, 500000);
    assert.deepEqual(await counts(s.invoice.id), { payments: 1, history: 1, paid: 500000 });
    // a new key is a new payment
    const c = await pay(s.invoice.id, body, newKey());
    assert.equal(c.status, 201, c.text);
    assert.deepEqual(await counts(s.invoice.id), { payments: 2, history: 2, paid: 1000000 });
  });

  it('a replay of the payment that paid in full is 200, not a refusal', T, async () => {
    const s = await sentInvoice(ctx);
    const key = newKey();
    const body = { amount: TOTAL, method: 'cash' };
    const a = await pay(s.invoice.id, body, key);
    assert.equal(a.status, 201, a.text);
    assert.equal(a.json.status, 'paid', a.text);
    const b = await pay(s.invoice.id, body, key);
    assert.equal(b.status, 200, `the replay: ${b.status} ${b.text}`);
    assert.equal(b.json.status, 'paid');
    assert.deepEqual(await counts(s.invoice.id), { payments: 1, history: 1, paid: TOTAL });
  });

  it('two requests with one key at once record one payment', T, async () => {
    const s = await sentInvoice(ctx);
    const key = newKey();
    const body = { amount: 100000, method: 'qris' };
    const rs = await Promise.all([pay(s.invoice.id, body, key), pay(s.invoice.id, body, key),
      pay(s.invoice.id, body, key)]);
    const st = rs.map((r) => r.status).sort();
    assert.deepEqual(st, [200, 200, 201], rs.map((r) => `${r.status} ${r.text}`).join('\n'));
    const ids = new Set(rs.map((r) => JSON.stringify(r.json.payments.map((p) => p.id))));
    assert.equal(ids.size, 1, 'every answer names the same one payment');
    assert.deepEqual(await counts(s.invoice.id), { payments: 1, history: 1, paid: 100000 });
  });

  it('the same key with another request is 422 idempotency_key_reused', T, async () => {
    const s = await sentInvoice(ctx);
    const s2 = await sentInvoice(ctx);
    const key = newKey();
    assert.equal((await pay(s.invoice.id, { amount: 200000, method: 'transfer' }, key)).status, 201);
    for (const [id, body] of [
      [s.invoice.id, { amount: 200001, method: 'transfer' }],
      [s.invoice.id, { amount: 200000, method: 'cash' }],
      [s.invoice.id, { amount: 200000, method: 'transfer', reference: 'x' }],
      [s2.invoice.id, { amount: 200000, method: 'transfer' }],
    ]) {
      const r = await pay(id, body, key);
      assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'idempotency_key_reused');
    }
    assert.deepEqual(await counts(s.invoice.id), { payments: 1, history: 1, paid: 200000 });
    assert.deepEqual(await counts(s2.invoice.id), { payments: 0, history: 0, paid: 0 });
    // the key is the CS's own: another user may use the same text
    const other = await pay(s2.invoice.id, { amount: 200000, method: 'transfer' }, key, ctx.admin);
    assert.equal(other.status, 201, other.text);
  });

  it('one key on two invoices at once: one payment, the other 422', T, async () => {
    const [s, s2] = await Promise.all([sentInvoice(ctx), sentInvoice(ctx)]);
    const key = newKey();
    const body = { amount: 300000, method: 'transfer' };
    const rs = await Promise.all([pay(s.invoice.id, body, key), pay(s2.invoice.id, body, key)]);
    assert.deepEqual(rs.map((r) => r.status).sort(), [201, 422], rs.map((r) => `${r.status} ${r.text}`).join('\n'));
    assert.equal(rs.find((r) => r.status === 422).json.error.code, 'idempotency_key_reused');
    const c = [await counts(s.invoice.id), await counts(s2.invoice.id)].map((x) => x.payments).sort();
    assert.deepEqual(c, [0, 1]);
  });

  it('a malformed key is 400 bad_idempotency_key; no key records every time', T, async () => {
    const s = await sentInvoice(ctx);
    for (const bad of ['', 'a b', 'x'.repeat(65), 'a.b', 'a/b']) {
      const r = await pay(s.invoice.id, { amount: 1000, method: 'cash' }, bad);
      assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'bad_idempotency_key');
    }
    const body = { amount: 1000, method: 'cash' };
    assert.equal((await pay(s.invoice.id, body)).status, 201);
    assert.equal((await pay(s.invoice.id, body)).status, 201);
    assert.deepEqual(await counts(s.invoice.id), { payments: 2, history: 2, paid: 2000 });
  });
});

describe('send with an Idempotency-Key', () => {
  it('a replayed first send answers the same links and queues one message', T, async () => {
    const a = await approvedInvoice(ctx);
    const key = newKey();
    const r1 = await send(a.invoice.id, key);
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.json.status, 'sent');
    const r2 = await send(a.invoice.id, key);
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.invoice_url, r1.json.invoice_url);
    assert.equal(r2.json.rating_url, r1.json.rating_url);
    assert.deepEqual(await sends(a.invoice.id), { outbox: 1, history: 1 });
    // another key is a resend, as without one
    const r3 = await send(a.invoice.id, newKey());
    assert.equal(r3.status, 200, r3.text);
    assert.deepEqual(await sends(a.invoice.id), { outbox: 2, history: 2 });
  });

  it('two presses with one key at once send once', T, async () => {
    const a = await approvedInvoice(ctx);
    const key = newKey();
    const rs = await Promise.all([send(a.invoice.id, key), send(a.invoice.id, key), send(a.invoice.id, key)]);
    for (const r of rs) assert.equal(r.status, 200, r.text);
    assert.equal(new Set(rs.map((r) => r.json.invoice_url)).size, 1);
    assert.deepEqual(await sends(a.invoice.id), { outbox: 1, history: 1 });
  });

  it('the key on another invoice is 422; a malformed key is 400; none sends every time', T, async () => {
    const a = await approvedInvoice(ctx);
    const b = await approvedInvoice(ctx);
    const key = newKey();
    assert.equal((await send(a.invoice.id, key)).status, 200);
    const r = await send(b.invoice.id, key);
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.error.code, 'idempotency_key_reused');
    assert.deepEqual(await sends(b.invoice.id), { outbox: 0, history: 0 });
    const bad = await send(b.invoice.id, 'a b');
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json.error.code, 'bad_idempotency_key');
    assert.equal((await send(b.invoice.id)).status, 200);
    assert.equal((await send(b.invoice.id)).status, 200);
    assert.deepEqual(await sends(b.invoice.id), { outbox: 2, history: 2 });
  });
});
