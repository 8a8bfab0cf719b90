// Invoices (docs/money.md): create, edit, submit, approve, revise, get and
// list, against a real gssd, Redis and PostgreSQL, with tickets brought to
// work_done through the real field API (money_util.mjs).
//
// Every expected amount is worked out by hand in the comment beside it
// (integer Rupiah, tax in basis points on the discounted amount, half a
// Rupiah up); states, codes and the allowed moves come from docs/money.md
// and docs/states.md, never from the server's code. The main gssd runs
// with GSS_TAX_RATE_BP=1100 (PPN 11 %); a second one on the same database
// and Redis runs without it (rate 0), to show that an edit takes the rate
// of the configuration it runs under and a submitted invoice keeps its own.
// Roles are the roles matrix's business (roles.test.mjs), not this file's.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';

import { psql, startGssd, sleep } from './harness.mjs';
import { addUser, login, createTicket } from './pool_util.mjs';
import { moneySetup, workDone, draftInvoice, step, sampleItems, api, getTicket, LINK_KEY } from './money_util.mjs';

const T = { timeout: 120000 };
const RATE = 1100;
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** The members of the invoice JSON, in the documented order. */
const INVOICE_KEYS = ['id', 'number', 'status', 'version', 'ticket', 'customer', 'items', 'subtotal', 'discount',
  'tax_rate_bp', 'tax', 'total', 'paid_amount', 'balance', 'note', 'revision_note', 'created_by', 'created_at',
  'updated_at', 'submitted_at', 'approved_by', 'approved_at', 'sent_at', 'due_at', 'paid_at', 'revisions',
  'payments', 'messages', 'links', 'rating'];
const REVISION_KEYS = ['version', 'action', 'actor', 'at', 'note', 'status_before', 'status_after', 'before', 'after',
  'items'];
const MESSAGE_KEYS = ['id', 'channel', 'kind', 'status', 'attempts', 'last_error', 'created_at', 'sent_at'];
const LIST_KEYS = ['id', 'number', 'status', 'ticket_id', 'ticket_code', 'customer_name', 'total', 'submitted_at',
  'updated_at', 'age_s'];

/** docs/states.md, the invoice table: the states each event leaves from. */
const ALLOWED_FROM = {
  edit: ['draft', 'revision_requested'],
  submit: ['draft'],
  approve: ['pending_approval'],
  revise: ['pending_approval'],
};

let ctx;
let g;
let g0; // the same database and Redis, GSS_TAX_RATE_BP unset: rate 0
let sales2;
let sales2Id;

before(async () => {
  ctx = await moneySetup({ tag: 'iv', techs: 45, env: { GSS_TAX_RATE_BP: RATE } });
  g = ctx.g;
  g0 = await startGssd({
    redis: ctx.redis, database: ctx.database,
    env: { GSS_LOG_REQUESTS: 0, GSS_LINK_KEY: LINK_KEY, GSS_TAX_RATE_BP: 0 },
  });
  sales2Id = await addUser(g, 'iv_sales2', 'sales');
  sales2 = await login(g, 'iv_sales2');
}, { timeout: 120000 });

after(async () => {
  if (g0) assert.equal(await g0.stop('SIGTERM', 20000), 0, 'the second gssd exits 0 on SIGTERM');
  if (g) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

// ---------------------------------------------------------------------------
// helpers

const create = (ticketId, body, token = ctx.cs, gg = g) => api(gg, token, 'POST', `/api/v1/tickets/${ticketId}/invoice`, body);
const patch = (id, body, token = ctx.cs, gg = g) => api(gg, token, 'PATCH', `/api/v1/invoices/${id}`, body);
const act = (id, action, body, token, gg = g) => api(gg, token, 'POST', `/api/v1/invoices/${id}/${action}`, body);

async function getInvoice(id, token = ctx.cs) {
  const r = await api(g, token, 'GET', `/api/v1/invoices/${id}`);
  assert.equal(r.status, 200, `GET invoice ${id}: ${r.status} ${r.text}`);
  return r.json;
}

async function count(sql) {
  const rows = await psql(g.database.url, sql);
  return Number(rows[0][0]);
}

/** Everything an action could change, to show that a refused one changed nothing.
 *  The outbox rows' delivery fields (status, attempts, last_error, sent_at)
 *  are the sender's, which works in the background (a channel that is off
 *  writes why on every queued row): the rows themselves are compared. */
async function snapshot(invoiceId, ticketId) {
  const invoice = await getInvoice(invoiceId);
  invoice.messages = invoice.messages.map(({ id, channel, kind, created_at: at }) => ({ id, channel, kind, at }));
  return {
    invoice,
    history: await count(`SELECT count(*) FROM invoice_history WHERE invoice_id = ${invoiceId}`),
    outbox: await count(`SELECT count(*) FROM outbox WHERE invoice_id = ${invoiceId}`),
    audit: await count(`SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${ticketId}`),
    items: await psql(g.database.url, `SELECT pos, description, qty, unit_price FROM invoice_items WHERE invoice_id = ${invoiceId} ORDER BY pos`),
    ticket: (await getTicket(g, ctx.cs, ticketId)).status,
  };
}

/** YYMM of now in Asia/Jakarta (UTC+7, no daylight saving). */
function jakartaYymm() {
  const d = new Date(Date.now() + 7 * 3600 * 1000).toISOString();
  return d.slice(2, 4) + d.slice(5, 7);
}

function assertRecent(iso, what) {
  assert.match(iso, ISO_RE, `${what} is RFC 3339 UTC: ${iso}`);
  const dt = Math.abs(Date.parse(iso) - Date.now());
  assert.ok(dt < 120000, `${what} is now (${iso})`);
}

function assertTotals(inv, { subtotal, discount, rate, tax, total, paid = 0 }, what) {
  assert.deepEqual(
    { subtotal: inv.subtotal, discount: inv.discount, tax_rate_bp: inv.tax_rate_bp, tax: inv.tax, total: inv.total,
      paid_amount: inv.paid_amount, balance: inv.balance },
    { subtotal, discount, tax_rate_bp: rate, tax, total, paid_amount: paid, balance: total - paid }, what);
}

const line = (description, qty, unitPrice, lineTotal) => ({ description, qty, unit_price: unitPrice, line_total: lineTotal });

/** A draft on a fresh work_done ticket: {ticket, invoice}. */
async function freshDraft(body = sampleItems()) {
  const w = await workDone(ctx);
  const d = await draftInvoice(ctx, w.ticket.id, body);
  return { ticket: w.ticket, invoice: d };
}

/** An invoice driven into `state` through the API (asserting every step). */
async function invoiceIn(state) {
  const { ticket, invoice } = await freshDraft();
  const id = invoice.id;
  if (state === 'draft') return { ticket, id };
  await step(ctx, ctx.cs, id, 'submit');
  if (state === 'pending_approval') return { ticket, id };
  if (state === 'revision_requested') {
    await step(ctx, ctx.sales, id, 'revise', { note: 'Harga freon terlalu mahal' });
    return { ticket, id };
  }
  await step(ctx, ctx.sales, id, 'approve');
  if (state === 'approved') return { ticket, id };
  const s = await act(id, 'send', undefined, ctx.cs);
  assert.equal(s.status, 200, `send: ${s.status} ${s.text}`);
  if (state === 'sent') return { ticket, id };
  // 1 443 000 is the sample's total (see "create" below): paid in full.
  const p = await api(g, ctx.cs, 'POST', `/api/v1/invoices/${id}/payments`, { amount: 1443000, method: 'cash' });
  assert.equal(p.status, 201, `payment: ${p.status} ${p.text}`);
  assert.equal(p.json.status, 'paid', `paid in full: ${p.text}`);
  return { ticket, id };
}

// ---------------------------------------------------------------------------

describe('create', () => {
  it('201: a draft with the server\'s totals, INV-YYMM-NNNN, the ticket invoicing, one history row, the timeline', T, async () => {
    const w = await workDone(ctx);
    const [[address]] = await psql(g.database.url, `SELECT address FROM customers WHERE id = ${w.ticket.customer_id}`);
    const auditBefore = await count(`SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${w.ticket.id}`);
    const r = await create(w.ticket.id, sampleItems());
    assert.equal(r.status, 201, r.text);
    const inv = r.json;
    assert.deepEqual(Object.keys(inv), INVOICE_KEYS, 'the documented members, in order');
    assert.ok(Number.isInteger(inv.id) && inv.id > 0);
    assert.match(inv.number, new RegExp(`^INV-${jakartaYymm()}-\\d{4}$`), 'numbered per Jakarta month');
    assert.equal(inv.status, 'draft');
    assert.equal(inv.version, 1);
    assert.deepEqual(inv.ticket, { id: w.ticket.id, code: w.ticket.code, status: 'invoicing', problem: w.ticket.problem });
    assert.deepEqual(inv.customer, { id: w.ticket.customer_id, name: w.ticket.customer_name, phone: w.ticket.customer_phone, address });
    const items = [line('Ganti kompresor AC 1 PK', 1, 1250000, 1250000), line('Isi freon R32', 2, 50000, 100000)];
    assert.deepEqual(inv.items, items);
    // 1 250 000 + 2 x 50 000 = 1 350 000; less 50 000 = 1 300 000;
    // 11 % of that = 143 000; total 1 443 000.
    assertTotals(inv, { subtotal: 1350000, discount: 50000, rate: 1100, tax: 143000, total: 1443000 }, 'totals');
    assert.equal(inv.note, 'Garansi 30 hari');
    assert.equal(inv.revision_note, null);
    assert.deepEqual(inv.created_by, { id: ctx.ids.cs, name: 'Pool iv_cs' });
    assertRecent(inv.created_at, 'created_at');
    assertRecent(inv.updated_at, 'updated_at');
    for (const k of ['submitted_at', 'approved_by', 'approved_at', 'sent_at', 'due_at', 'paid_at']) assert.equal(inv[k], null, k);
    assert.equal(inv.revisions.length, 1);
    const h = inv.revisions[0];
    assert.deepEqual(Object.keys(h), REVISION_KEYS);
    assertRecent(h.at, 'revision at');
    assert.deepEqual({ ...h, at: null }, {
      version: 1, action: 'create', actor: { id: ctx.ids.cs, name: 'Pool iv_cs' }, at: null, note: null,
      status_before: null, status_after: 'draft', before: null,
      after: { subtotal: 1350000, discount: 50000, tax: 143000, total: 1443000 }, items,
    });
    assert.deepEqual(inv.payments, []);
    assert.deepEqual(inv.messages, []);
    assert.equal(inv.links, null);
    assert.equal(inv.rating, null);

    // GET answers the same object; Sales reads it too.
    assert.deepEqual(await getInvoice(inv.id), inv);
    assert.deepEqual(await getInvoice(inv.id, ctx.sales), inv);

    // The ticket: invoicing, the invoice in brief, no rating, and the timeline.
    const tk = await getTicket(g, ctx.cs, w.ticket.id);
    assert.equal(tk.status, 'invoicing');
    assert.deepEqual(tk.invoice, { id: inv.id, number: inv.number, status: 'draft', total: 1443000, paid_amount: 0 });
    assert.equal(tk.rating, null);
    const c = tk.timeline.find((x) => x.action === 'invoice.create');
    assert.ok(c, `timeline has invoice.create: ${JSON.stringify(tk.timeline)}`);
    assert.equal(c.before, null);
    assert.equal(c.after, 'draft');
    assert.equal(c.actor_id, ctx.ids.cs);
    assert.equal(c.data.invoice_id, inv.id);
    assert.equal(c.data.number, inv.number);
    assert.equal(c.data.total, 1443000);
    const mv = tk.timeline.find((x) => x.action === 'ticket.status' && x.after === 'invoicing');
    assert.ok(mv, `timeline has the ticket's move: ${JSON.stringify(tk.timeline)}`);
    assert.equal(mv.before, 'work_done');
    assert.equal(mv.data.invoice_id, inv.id);
    assert.equal(await count(`SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${w.ticket.id}`),
      auditBefore + 2, 'two audit rows: invoice.create and ticket.status');
    assert.equal(await count(`SELECT count(*) FROM invoice_history WHERE invoice_id = ${inv.id}`), 1);

    // The next invoice of the month takes the next number.
    const w2 = await workDone(ctx);
    const d2 = await draftInvoice(ctx, w2.ticket.id);
    const n1 = Number(inv.number.slice(-4));
    const n2 = Number(d2.number.slice(-4));
    assert.ok(n2 > n1, `${d2.number} after ${inv.number}`);
    assert.equal(d2.number.slice(0, 9), inv.number.slice(0, 9));
  });

  it('409 invoice_exists for a second invoice of the ticket; 409 invalid_transition before work_done; 404 for no ticket', T, async () => {
    const { ticket, invoice } = await freshDraft();
    const before = await snapshot(invoice.id, ticket.id);
    const r = await create(ticket.id, sampleItems());
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.error.code, 'invoice_exists');
    assert.deepEqual(await snapshot(invoice.id, ticket.id), before, 'nothing changed');
    assert.equal(await count(`SELECT count(*) FROM invoices WHERE ticket_id = ${ticket.id}`), 1);

    // A ticket still in the pool: the state table's sentence.
    const open = await createTicket(g, ctx.cs, ctx.customers[1], 1);
    const o = await create(open.id, sampleItems());
    assert.equal(o.status, 409, o.text);
    assert.equal(o.json.error.code, 'invalid_transition');
    assert.match(o.json.error.message, /^cannot start_invoice: ticket is open \(.+\); allowed from work_done$/);
    assert.equal((await getTicket(g, ctx.cs, open.id)).status, 'open');
    assert.equal(await count(`SELECT count(*) FROM invoices WHERE ticket_id = ${open.id}`), 0);

    const n = await create(999999999, sampleItems());
    assert.equal(n.status, 404, n.text);
    assert.equal(n.json.error.code, 'not_found');
  });

  it('two creates at once on one ticket: one 201, one 409 invoice_exists, one invoice', T, async () => {
    const w = await workDone(ctx);
    const [a, b] = await Promise.all([create(w.ticket.id, sampleItems()), create(w.ticket.id, sampleItems(), ctx.admin)]);
    const st = [a.status, b.status].sort();
    assert.deepEqual(st, [201, 409], `${a.status} ${a.text} / ${b.status} ${b.text}`);
    const lost = a.status === 409 ? a : b;
    assert.equal(lost.json.error.code, 'invoice_exists', lost.text);
    assert.equal(await count(`SELECT count(*) FROM invoices WHERE ticket_id = ${w.ticket.id}`), 1);
    assert.equal(await count(`SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${w.ticket.id}` +
      ` AND action = 'ticket.status' AND after = 'invoicing'`), 1, 'the ticket moved once');
  });
});

describe('validation (422, the field path first; nothing is written)', () => {
  const ok = () => ({ description: 'Jasa servis', qty: 1, unit_price: 100000 });
  const many = (n) => Array.from({ length: n }, (_, i) => ({ description: `Baris ${i + 1}`, qty: 1, unit_price: 1000 }));
  const cases = [
    ['no items', { discount: 0 }, /^items: /],
    ['items not an array', { items: 'x' }, /^items: /],
    ['no lines', { items: [] }, /^items: /],
    ['51 lines', { items: many(51) }, /^items: /],
    ['a line that is not an object', { items: [ok(), 7] }, /^items\[1\]: /],
    ['an empty description', { items: [{ ...ok(), description: '' }] }, /^items\[0\]\.description: /],
    ['a description of blanks', { items: [{ ...ok(), description: '  \t ' }] }, /^items\[0\]\.description: /],
    ['a description of 201 characters', { items: [{ ...ok(), description: 'é'.repeat(201) }] }, /^items\[0\]\.description: /],
    ['no description', { items: [{ qty: 1, unit_price: 5 }] }, /^items\[0\]\.description: /],
    ['qty 0 (third line)', { items: [ok(), ok(), { ...ok(), qty: 0 }] }, /^items\[2\]\.qty: /],
    ['qty 10001', { items: [{ ...ok(), qty: 10001 }] }, /^items\[0\]\.qty: /],
    ['qty 1.5', { items: [{ ...ok(), qty: 1.5 }] }, /^items\[0\]\.qty: /],
    ['qty as text', { items: [{ ...ok(), qty: '2' }] }, /^items\[0\]\.qty: /],
    ['qty -1', { items: [{ ...ok(), qty: -1 }] }, /^items\[0\]\.qty: /],
    ['unit_price 10^12 + 1', { items: [ok(), { ...ok(), unit_price: 1000000000001 }] }, /^items\[1\]\.unit_price: /],
    ['unit_price -1', { items: [{ ...ok(), unit_price: -1 }] }, /^items\[0\]\.unit_price: /],
    ['unit_price past int64', { items: [{ ...ok(), unit_price: 1e19 }] }, /^items\[0\]\.unit_price: /],
    // 5 x 10^11 + (5 x 10^11 + 1) = 10^12 + 1
    ['a subtotal of 10^12 + 1', { items: [{ ...ok(), unit_price: 500000000000 }, { ...ok(), unit_price: 500000000001 }] },
      /^items: the subtotal may not exceed Rp 1\.000\.000\.000\.000$/],
    // 10 000 x 10^12 is a valid line of 10^16, and far past the subtotal
    ['the largest line', { items: [{ ...ok(), qty: 10000, unit_price: 1000000000000 }] }, /^items: the subtotal may not exceed/],
    // 100 000 of lines, 100 001 off
    ['a discount over the subtotal', { items: [ok()], discount: 100001 }, /^discount: .*Rp 100\.000/],
    ['a negative discount', { items: [ok()], discount: -1 }, /^discount: /],
    ['a fractional discount', { items: [ok()], discount: 0.5 }, /^discount: /],
    ['a note of 1001 characters', { items: [ok()], note: 'n'.repeat(1001) }, /^note: /],
    ['a note that is not text', { items: [ok()], note: 5 }, /^note: /],
  ];

  it('create: each limit of docs/money.md', T, async () => {
    const w = await workDone(ctx);
    const audit = await count(`SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${w.ticket.id}`);
    for (const [what, body, re] of cases) {
      const r = await create(w.ticket.id, body);
      assert.equal(r.status, 422, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'validation_failed', what);
      assert.match(r.json.error.message, re, what);
    }
    assert.equal((await getTicket(g, ctx.cs, w.ticket.id)).status, 'work_done', 'the ticket did not move');
    assert.equal(await count(`SELECT count(*) FROM invoices WHERE ticket_id = ${w.ticket.id}`), 0, 'no invoice');
    assert.equal(await count(`SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${w.ticket.id}`), audit);

    // The limits themselves are allowed: 50 lines; a description of 200
    // two-byte characters; qty 10 000; unit_price 0.
    const body = { items: many(50) };
    body.items[0] = { description: 'é'.repeat(200), qty: 10000, unit_price: 0 };
    const r = await create(w.ticket.id, body);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.items.length, 50);
    assert.equal(r.json.items[0].description, 'é'.repeat(200));
    // 49 lines of 1 000 = 49 000; 11 % = 5 390; total 54 390.
    assertTotals(r.json, { subtotal: 49000, discount: 0, rate: 1100, tax: 5390, total: 54390 }, '50 lines');
  });

  it('edit: the same limits, the discount against the stored lines, the version; nothing changes', T, async () => {
    const { ticket, invoice } = await freshDraft();
    const before = await snapshot(invoice.id, ticket.id);
    const editCases = [
      ...cases.filter(([what]) => what !== 'no items'),
      // the stored lines are 1 350 000: a discount of 1 350 001 is too much
      ['a discount over the stored subtotal', { discount: 1350001 }, /^discount: .*Rp 1\.350\.000/],
      // the stored discount is 50 000: lines of 10 000 cannot carry it
      ['lines under the stored discount', { items: [{ description: 'Murah', qty: 1, unit_price: 10000 }] }, /^discount: .*Rp 10\.000/],
      ['version 0', { note: 'x', version: 0 }, /^version: /],
      ['version as text', { note: 'x', version: '1' }, /^version: /],
    ];
    for (const [what, body, re] of editCases) {
      const r = await patch(invoice.id, body);
      assert.equal(r.status, 422, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'validation_failed', what);
      assert.match(r.json.error.message, re, what);
    }
    assert.deepEqual(await snapshot(invoice.id, ticket.id), before, 'nothing changed');
  });
});

describe('edit', () => {
  it('PATCH replaces the lines wholesale, recomputes the totals, version + 1; each edit is a revision with its lines', T, async () => {
    const { ticket, invoice } = await freshDraft();
    const id = invoice.id;
    let r = await patch(id, {
      version: 1,
      items: [
        { description: 'Jasa servis', qty: 3, unit_price: 150000 },
        { description: 'Pipa AC 1/4', qty: 4, unit_price: 75000 },
        { description: 'Freon', qty: 1, unit_price: 333333 },
      ],
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json), INVOICE_KEYS);
    assert.equal(r.json.version, 2);
    assert.equal(r.json.status, 'draft');
    assert.equal(r.json.note, 'Garansi 30 hari', 'a note not sent stays');
    const items2 = [line('Jasa servis', 3, 150000, 450000), line('Pipa AC 1/4', 4, 75000, 300000), line('Freon', 1, 333333, 333333)];
    assert.deepEqual(r.json.items, items2, 'the old lines are gone');
    // 450 000 + 300 000 + 333 333 = 1 083 333; the stored discount 50 000
    // stays: 1 033 333; 11 % = 113 666.63 -> 113 667; total 1 147 000.
    assertTotals(r.json, { subtotal: 1083333, discount: 50000, rate: 1100, tax: 113667, total: 1147000 }, 'edit 1');
    assert.deepEqual(await psql(g.database.url, `SELECT pos, qty FROM invoice_items WHERE invoice_id = ${id} ORDER BY pos`),
      [['1', '3'], ['2', '4'], ['3', '1']]);

    // The discount alone, against the stored lines: 1 083 333 - 83 333 =
    // 1 000 000; 11 % = 110 000; total 1 110 000.
    r = await patch(id, { discount: 83333 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.version, 3);
    assert.deepEqual(r.json.items, items2);
    assertTotals(r.json, { subtotal: 1083333, discount: 83333, rate: 1100, tax: 110000, total: 1110000 }, 'edit 2');

    // The note alone: the amounts stay.
    r = await patch(id, { note: 'Catatan baru', version: 3 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.version, 4);
    assert.equal(r.json.note, 'Catatan baru');
    assertTotals(r.json, { subtotal: 1083333, discount: 83333, rate: 1100, tax: 110000, total: 1110000 }, 'edit 3');

    // docs/money.md's example: 1 250 000 less 50 000 = 1 200 000; 11 % =
    // 132 000; total 1 332 000. Fewer lines than before: one is left.
    r = await patch(id, { items: [{ description: 'Ganti kompresor', qty: 1, unit_price: 1250000 }], discount: 50000 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.version, 5);
    assert.deepEqual(r.json.items, [line('Ganti kompresor', 1, 1250000, 1250000)]);
    assertTotals(r.json, { subtotal: 1250000, discount: 50000, rate: 1100, tax: 132000, total: 1332000 }, 'docs example');
    assert.equal(await count(`SELECT count(*) FROM invoice_items WHERE invoice_id = ${id}`), 1);

    // Every edit is a revision: who, the totals before and after, its lines.
    const revs = r.json.revisions;
    assert.deepEqual(revs.map((x) => [x.action, x.version, x.status_before, x.status_after]), [
      ['create', 1, null, 'draft'], ['edit', 2, 'draft', 'draft'], ['edit', 3, 'draft', 'draft'],
      ['edit', 4, 'draft', 'draft'], ['edit', 5, 'draft', 'draft'],
    ]);
    assert.deepEqual(revs[1].before, { subtotal: 1350000, discount: 50000, tax: 143000, total: 1443000 });
    assert.deepEqual(revs[1].after, { subtotal: 1083333, discount: 50000, tax: 113667, total: 1147000 });
    assert.deepEqual(revs[1].items, items2);
    assert.deepEqual(revs[2].after, { subtotal: 1083333, discount: 83333, tax: 110000, total: 1110000 });
    assert.deepEqual(revs[3].before, revs[3].after, 'a note changes no amount');
    assert.deepEqual(revs[3].items, items2, 'an edit keeps the lines of its version');
    assert.deepEqual(revs[4].items, [line('Ganti kompresor', 1, 1250000, 1250000)]);
    for (const x of revs.slice(1)) assert.deepEqual(x.actor, { id: ctx.ids.cs, name: 'Pool iv_cs' });

    const tk = await getTicket(g, ctx.cs, ticket.id);
    assert.equal(tk.timeline.filter((x) => x.action === 'invoice.edit').length, 4);
    assert.deepEqual(tk.invoice, { id, number: invoice.number, status: 'draft', total: 1332000, paid_amount: 0 });
  });

  it('409 stale_version changes nothing; two CS saving the same version: one 200, one 409', T, async () => {
    const { ticket, invoice } = await freshDraft();
    const id = invoice.id;
    assert.equal((await patch(id, { note: 'v2', version: 1 })).status, 200);
    const before = await snapshot(id, ticket.id);
    const r = await patch(id, { discount: 0, version: 1 });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.error.code, 'stale_version');
    assert.deepEqual(await snapshot(id, ticket.id), before, 'nothing changed');

    const [a, b] = await Promise.all([patch(id, { note: 'satu', version: 2 }), patch(id, { note: 'dua', version: 2 }, ctx.admin)]);
    assert.deepEqual([a.status, b.status].sort(), [200, 409], `${a.text} / ${b.text}`);
    const lost = a.status === 409 ? a : b;
    assert.equal(lost.json.error.code, 'stale_version');
    const now = await getInvoice(id);
    assert.equal(now.version, 3);
    assert.equal(now.note, (a.status === 200 ? a : b).json.note);
  });

  it('the limits at their largest; a discount equal to the subtotal; half a Rupiah up', T, async () => {
    const { invoice } = await freshDraft();
    const id = invoice.id;
    // One line of 10^12, no discount: 11 % = 110 000 000 000; total 1 110 000 000 000.
    let r = await patch(id, { items: [{ description: 'Proyek', qty: 1, unit_price: 1000000000000 }], discount: 0 });
    assert.equal(r.status, 200, r.text);
    assertTotals(r.json, { subtotal: 1000000000000, discount: 0, rate: 1100, tax: 110000000000, total: 1110000000000 }, '10^12');
    // 50 lines of 10 000 x 2 000 000 = 2 x 10^10 each: 10^12 in all.
    const fifty = Array.from({ length: 50 }, (_, i) => ({ description: `Unit ${i + 1}`, qty: 10000, unit_price: 2000000 }));
    r = await patch(id, { items: fifty });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.items.length, 50);
    assert.equal(r.json.items[49].line_total, 20000000000);
    assertTotals(r.json, { subtotal: 1000000000000, discount: 0, rate: 1100, tax: 110000000000, total: 1110000000000 }, '50 x 2 x 10^10');
    // The whole subtotal off: total 0 and 0 tax.
    r = await patch(id, { items: [{ description: 'Garansi', qty: 2, unit_price: 250000 }], discount: 500000 });
    assert.equal(r.status, 200, r.text);
    assertTotals(r.json, { subtotal: 500000, discount: 500000, rate: 1100, tax: 0, total: 0 }, 'discount = subtotal');
    // 50 x 11 % = 5.5 -> 6 (half up); 4 x 11 % = 0.44 -> 0; 5 x 11 % = 0.55 -> 1.
    r = await patch(id, { items: [{ description: 'Baut', qty: 1, unit_price: 50 }], discount: 0 });
    assertTotals(r.json, { subtotal: 50, discount: 0, rate: 1100, tax: 6, total: 56 }, '5.5 up');
    r = await patch(id, { items: [{ description: 'Baut', qty: 1, unit_price: 4 }] });
    assertTotals(r.json, { subtotal: 4, discount: 0, rate: 1100, tax: 0, total: 4 }, '0.44 down');
    r = await patch(id, { items: [{ description: 'Baut', qty: 1, unit_price: 5 }] });
    assertTotals(r.json, { subtotal: 5, discount: 0, rate: 1100, tax: 1, total: 6 }, '0.55 up');
    // Free lines are lines: 3 x 0.
    r = await patch(id, { items: [{ description: 'Cek gratis', qty: 3, unit_price: 0 }] });
    assert.equal(r.status, 200, r.text);
    assertTotals(r.json, { subtotal: 0, discount: 0, rate: 1100, tax: 0, total: 0 }, 'free');
  });

  it('an edit takes the current GSS_TAX_RATE_BP; a submitted invoice keeps its rate', T, async () => {
    const { invoice } = await freshDraft();
    const id = invoice.id;
    // Saved by the gssd without a tax rate: 1 300 000 and no tax.
    let r = await patch(id, { note: 'tanpa pajak' }, ctx.cs, g0);
    assert.equal(r.status, 200, r.text);
    assertTotals(r.json, { subtotal: 1350000, discount: 50000, rate: 0, tax: 0, total: 1300000 }, 'rate 0');
    // Saved again with 11 %: 143 000 again.
    r = await patch(id, { note: 'dengan pajak' });
    assertTotals(r.json, { subtotal: 1350000, discount: 50000, rate: 1100, tax: 143000, total: 1443000 }, 'rate 1100');
    // Submitted, approved and read through the other gssd: the rate stays.
    r = await act(id, 'submit', undefined, ctx.cs, g0);
    assert.equal(r.status, 200, r.text);
    assertTotals(r.json, { subtotal: 1350000, discount: 50000, rate: 1100, tax: 143000, total: 1443000 }, 'submitted');
    r = await act(id, 'approve', undefined, ctx.sales, g0);
    assert.equal(r.status, 200, r.text);
    assertTotals(r.json, { subtotal: 1350000, discount: 50000, rate: 1100, tax: 143000, total: 1443000 }, 'approved');

    // Created without a tax rate.
    const w = await workDone(ctx);
    const c = await create(w.ticket.id, sampleItems(), ctx.cs, g0);
    assert.equal(c.status, 201, c.text);
    assertTotals(c.json, { subtotal: 1350000, discount: 50000, rate: 0, tax: 0, total: 1300000 }, 'created at rate 0');
  });
});

describe('the approval loop', () => {
  it('submit, revise (note required), edit, submit, approve: states, notes, history, Sales\' outbox rows, the timeline', T, async () => {
    const { ticket, invoice } = await freshDraft();
    const id = invoice.id;

    let r = await act(id, 'submit', undefined, ctx.cs);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json), INVOICE_KEYS);
    assert.equal(r.json.status, 'pending_approval');
    assertRecent(r.json.submitted_at, 'submitted_at');
    assert.equal(r.json.version, 1, 'submit edits nothing');
    assert.equal(r.json.messages.length, 1);
    const m = r.json.messages[0];
    assert.deepEqual(Object.keys(m), MESSAGE_KEYS);
    assert.deepEqual({ ...m, id: 0, created_at: null }, {
      id: 0, channel: 'telegram', kind: 'invoice.pending_approval', status: 'queued', attempts: 0, last_error: null,
      created_at: null, sent_at: null,
    });
    assertRecent(m.created_at, 'message created_at');
    // The outbox row itself (docs/money.md, Outbox rows).
    let rows = await psql(g.database.url,
      `SELECT channel, target, kind, payload::text, idem_key, ticket_id, invoice_id, status FROM outbox WHERE invoice_id = ${id} ORDER BY id`);
    assert.equal(rows.length, 1, 'exactly one outbox row');
    assert.deepEqual(rows[0].filter((_, i) => i !== 3),
      ['telegram', 'role:sales', 'invoice.pending_approval', `invoice:${id}:submit:1`, String(ticket.id), String(id), 'queued']);
    assert.deepEqual(JSON.parse(rows[0][3]), { invoice_id: id, number: invoice.number, version: 1 });

    // Revise needs a note.
    const hist = await count(`SELECT count(*) FROM invoice_history WHERE invoice_id = ${id}`);
    for (const [what, body] of [['no body', undefined], ['no note', {}], ['an empty note', { note: '' }],
      ['a note of blanks', { note: '   ' }], ['a note of 1001 characters', { note: 'r'.repeat(1001) }], ['a number', { note: 7 }]]) {
      const x = await act(id, 'revise', body, ctx.sales);
      assert.equal(x.status, 422, `${what}: ${x.status} ${x.text}`);
      assert.equal(x.json.error.code, 'validation_failed');
      assert.match(x.json.error.message, /^note: /, what);
    }
    assert.equal(await count(`SELECT count(*) FROM invoice_history WHERE invoice_id = ${id}`), hist);
    assert.equal((await getInvoice(id)).status, 'pending_approval');

    const note = 'Diskon terlalu besar, maksimal Rp 20.000';
    r = await act(id, 'revise', { note }, ctx.sales);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'revision_requested');
    assert.equal(r.json.revision_note, note);
    const rv = r.json.revisions.at(-1);
    assert.deepEqual({ ...rv, at: null }, {
      version: 1, action: 'revise', actor: { id: ctx.ids.sales, name: 'Pool iv_sales' }, at: null, note,
      status_before: 'pending_approval', status_after: 'revision_requested',
      before: { subtotal: 1350000, discount: 50000, tax: 143000, total: 1443000 },
      after: { subtotal: 1350000, discount: 50000, tax: 143000, total: 1443000 }, items: null,
    });

    // CS edits: back to a draft; Sales' note stays until the next submit.
    // 1 350 000 - 20 000 = 1 330 000; 11 % = 146 300; total 1 476 300.
    r = await patch(id, { discount: 20000, version: 1 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'draft');
    assert.equal(r.json.version, 2);
    assert.equal(r.json.revision_note, note);
    assertTotals(r.json, { subtotal: 1350000, discount: 20000, rate: 1100, tax: 146300, total: 1476300 }, 'revised');
    assert.deepEqual(r.json.revisions.at(-1).before, { subtotal: 1350000, discount: 50000, tax: 143000, total: 1443000 });
    assert.deepEqual(r.json.revisions.at(-1).after, { subtotal: 1350000, discount: 20000, tax: 146300, total: 1476300 });
    assert.equal(r.json.revisions.at(-1).status_before, 'revision_requested');

    r = await act(id, 'submit', undefined, ctx.cs);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'pending_approval');
    assert.equal(r.json.revision_note, null, 'submit clears Sales\' note');
    assert.equal(r.json.messages.length, 2);
    assert.ok(r.json.messages[0].id > r.json.messages[1].id, 'messages newest first');
    rows = await psql(g.database.url, `SELECT idem_key, payload::text FROM outbox WHERE invoice_id = ${id} ORDER BY id`);
    assert.deepEqual(rows.map((x) => x[0]), [`invoice:${id}:submit:1`, `invoice:${id}:submit:2`]);
    assert.deepEqual(JSON.parse(rows[1][1]), { invoice_id: id, number: invoice.number, version: 2 });

    r = await act(id, 'approve', { note: 'Oke, lanjut' }, ctx.sales);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'approved');
    assert.deepEqual(r.json.approved_by, { id: ctx.ids.sales, name: 'Pool iv_sales' });
    assertRecent(r.json.approved_at, 'approved_at');
    assertTotals(r.json, { subtotal: 1350000, discount: 20000, rate: 1100, tax: 146300, total: 1476300 }, 'approved');
    assert.deepEqual(r.json.revisions.map((x) => [x.action, x.version, x.note]), [
      ['create', 1, null], ['submit', 1, null], ['revise', 1, note], ['edit', 2, null], ['submit', 2, null],
      ['approve', 2, 'Oke, lanjut'],
    ]);
    assert.deepEqual(await getInvoice(id, ctx.sales), r.json, 'GET answers what approve answered');
    assert.equal(await count(`SELECT count(*) FROM outbox WHERE invoice_id = ${id}`), 2, 'approve writes no message');

    // The ticket tells the story.
    const tk = await getTicket(g, ctx.cs, ticket.id);
    assert.equal(tk.status, 'invoicing');
    assert.deepEqual(tk.invoice, { id, number: invoice.number, status: 'approved', total: 1476300, paid_amount: 0 });
    const story = tk.timeline.filter((x) => x.action.startsWith('invoice.') || (x.action === 'ticket.status' && x.after === 'invoicing'))
      .map((x) => [x.action, x.before, x.after]);
    assert.deepEqual(story, [
      ['invoice.create', null, 'draft'], ['ticket.status', 'work_done', 'invoicing'],
      ['invoice.submit', 'draft', 'pending_approval'], ['invoice.revise', 'pending_approval', 'revision_requested'],
      ['invoice.edit', 'revision_requested', 'draft'], ['invoice.submit', 'draft', 'pending_approval'],
      ['invoice.approve', 'pending_approval', 'approved'],
    ]);
    const rev = tk.timeline.find((x) => x.action === 'invoice.revise');
    assert.equal(rev.data.note, note);
    assert.equal(rev.actor_id, ctx.ids.sales);
    for (const x of tk.timeline.filter((y) => y.action.startsWith('invoice.'))) {
      assert.equal(x.data.invoice_id, id, `${x.action} names the invoice`);
      assert.equal(x.data.number, invoice.number);
    }
  });

  it('approve: the note is optional (blank is none), at most 1000 characters', T, async () => {
    const { invoice } = await freshDraft();
    await step(ctx, ctx.cs, invoice.id, 'submit');
    const x = await act(invoice.id, 'approve', { note: 'a'.repeat(1001) }, ctx.sales);
    assert.equal(x.status, 422, x.text);
    assert.match(x.json.error.message, /^note: /);
    const r = await act(invoice.id, 'approve', { note: '  ' }, ctx.sales);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.revisions.at(-1).note, null);
  });

  it('two Sales approving at once: exactly one 200, one 409 naming the current state, one approve row', T, async () => {
    for (let round = 0; round < 3; round++) {
      const { ticket, invoice } = await freshDraft();
      await step(ctx, ctx.cs, invoice.id, 'submit');
      const [a, b] = await Promise.all([act(invoice.id, 'approve', undefined, ctx.sales), act(invoice.id, 'approve', {}, sales2)]);
      assert.deepEqual([a.status, b.status].sort(), [200, 409],
        `round ${round}: ${a.status} ${a.text.slice(0, 160)} / ${b.status} ${b.text.slice(0, 160)}`);
      const [won, lost] = a.status === 200 ? [a, b] : [b, a];
      assert.equal(lost.json.error.code, 'invalid_transition');
      assert.match(lost.json.error.message, /^cannot approve: invoice is approved \(.+\); allowed from pending_approval$/);
      assert.equal(await count(`SELECT count(*) FROM invoice_history WHERE invoice_id = ${invoice.id} AND action = 'approve'`), 1);
      assert.equal(await count(`SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${ticket.id}` +
        ` AND action = 'invoice.approve'`), 1);
      const now = await getInvoice(invoice.id);
      assert.equal(now.approved_by.id, won === a ? ctx.ids.sales : sales2Id);
    }
  });

  it('approve and revise at once: one wins, the other is 409 with the state it found', T, async () => {
    const { invoice } = await freshDraft();
    await step(ctx, ctx.cs, invoice.id, 'submit');
    const [a, b] = await Promise.all([
      act(invoice.id, 'approve', undefined, ctx.sales), act(invoice.id, 'revise', { note: 'Cek lagi' }, sales2)]);
    assert.deepEqual([a.status, b.status].sort(), [200, 409], `${a.text} / ${b.text}`);
    const now = await getInvoice(invoice.id);
    const lost = a.status === 409 ? a : b;
    assert.equal(lost.json.error.code, 'invalid_transition');
    assert.ok(lost.json.error.message.includes(`invoice is ${now.status} (`), `${lost.json.error.message} names ${now.status}`);
    assert.equal(now.revisions.filter((x) => x.action === 'approve' || x.action === 'revise').length, 1);
  });
});

describe('every illegal invoice transition is 409 and changes nothing', () => {
  const actions = {
    edit: (id) => patch(id, { note: 'perubahan' }),
    submit: (id) => act(id, 'submit', undefined, ctx.cs),
    approve: (id) => act(id, 'approve', { note: 'ok' }, ctx.sales),
    revise: (id) => act(id, 'revise', { note: 'tolong cek' }, ctx.sales),
  };
  for (const state of ['draft', 'pending_approval', 'approved', 'revision_requested', 'sent', 'paid']) {
    const forbidden = Object.keys(actions).filter((a) => !ALLOWED_FROM[a].includes(state));
    it(`from ${state}: ${forbidden.join(', ')}`, T, async () => {
      const { ticket, id } = await invoiceIn(state);
      assert.equal((await getInvoice(id)).status, state);
      for (const a of forbidden) {
        const before = await snapshot(id, ticket.id);
        const r = await actions[a](id);
        assert.equal(r.status, 409, `${a} from ${state}: ${r.status} ${r.text}`);
        assert.equal(r.json.error.code, 'invalid_transition', `${a} from ${state}`);
        const msg = r.json.error.message;
        const want = `cannot ${a}: invoice is ${state} (`;
        assert.ok(msg.startsWith(want), `${a} from ${state}: "${msg}" starts with "${want}"`);
        assert.ok(msg.endsWith(`); allowed from ${ALLOWED_FROM[a].join(', ')}`), `${a} from ${state}: "${msg}"`);
        assert.deepEqual(await snapshot(id, ticket.id), before, `${a} from ${state} changed nothing`);
      }
      // And a second invoice for its ticket is never made.
      const c = await create(ticket.id, sampleItems());
      assert.equal(c.status, 409, c.text);
      assert.equal(c.json.error.code, 'invoice_exists');
    });
  }

  it('docs/money.md\'s sentence for approve on an approved invoice', T, async () => {
    const { id } = await invoiceIn('approved');
    const r = await act(id, 'approve', undefined, ctx.sales);
    assert.equal(r.status, 409);
    assert.equal(r.json.error.message, 'cannot approve: invoice is approved (approved, not sent yet); allowed from pending_approval');
  });

  it('the revisions of a paid invoice: send, then the payment with paid_amount around it', T, async () => {
    const got = await invoiceIn('paid');
    const inv = await getInvoice(got.id);
    assert.deepEqual(inv.revisions.map((x) => x.action), ['create', 'submit', 'approve', 'send', 'pay']);
    for (const x of inv.revisions) assert.deepEqual(Object.keys(x), REVISION_KEYS);
    const pay = inv.revisions.at(-1);
    // The sample's 1 443 000, paid in one go in cash.
    assert.deepEqual(pay.before, { subtotal: 1350000, discount: 50000, tax: 143000, total: 1443000, paid_amount: 0 });
    assert.deepEqual(pay.after, { subtotal: 1350000, discount: 50000, tax: 143000, total: 1443000, paid_amount: 1443000 });
    assert.deepEqual([pay.status_before, pay.status_after], ['sent', 'paid']);
    assertTotals(inv, { subtotal: 1350000, discount: 50000, rate: 1100, tax: 143000, total: 1443000, paid: 1443000 }, 'paid');
    assert.equal(inv.payments.length, 1);
    assert.equal(inv.payments[0].amount, 1443000);
    assert.deepEqual(inv.payments[0].recorded_by, { id: ctx.ids.cs, name: 'Pool iv_cs' });
    assert.equal(typeof inv.links.expires_at, 'string');
    assert.equal(inv.links.rated, false);
    assert.equal(inv.messages[0].kind, 'invoice.sent', 'the customer\'s message is the newest');
    const tk = await getTicket(g, ctx.cs, got.ticket.id);
    assert.deepEqual(tk.invoice, { id: got.id, number: inv.number, status: 'paid', total: 1443000, paid_amount: 1443000 });
  });

  it('404 for an invoice that does not exist', T, async () => {
    for (const [what, r] of [
      ['GET', await api(g, ctx.cs, 'GET', '/api/v1/invoices/999999999')],
      ['PATCH', await patch(999999999, { note: 'x' })],
      ['submit', await act(999999999, 'submit', undefined, ctx.cs)],
      ['approve', await act(999999999, 'approve', undefined, ctx.sales)],
      ['revise', await act(999999999, 'revise', { note: 'x' }, ctx.sales)],
    ]) {
      assert.equal(r.status, 404, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'not_found', what);
    }
  });
});

describe('list', () => {
  it('?status= filters; pending_approval first, oldest submission first, with age_s; then latest updated first; limit', T, async () => {
    const a = (await freshDraft()).invoice; // stays a draft
    const b = (await freshDraft()).invoice;
    const c = (await freshDraft()).invoice;
    const d = (await freshDraft()).invoice;
    await step(ctx, ctx.cs, b.id, 'submit');
    await sleep(1100);
    await step(ctx, ctx.cs, c.id, 'submit');
    await step(ctx, ctx.cs, d.id, 'submit');
    await step(ctx, ctx.sales, d.id, 'approve');
    await sleep(1100);
    await patch(a.id, { note: 'terakhir diubah' }); // the latest change of all

    const r = await api(g, ctx.sales, 'GET', '/api/v1/invoices?status=pending_approval,draft');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json), ['invoices']);
    const list = r.json.invoices;
    for (const x of list) {
      assert.deepEqual(Object.keys(x), LIST_KEYS);
      assert.ok(['pending_approval', 'draft'].includes(x.status), `only the asked states: ${x.status}`);
    }
    assert.ok(!list.some((x) => x.id === d.id), 'the approved one is not asked for');
    const pend = list.filter((x) => x.status === 'pending_approval');
    const rest = list.filter((x) => x.status !== 'pending_approval');
    assert.deepEqual(list, [...pend, ...rest], 'pending first');
    for (let i = 1; i < pend.length; i++) assert.ok(pend[i - 1].submitted_at <= pend[i].submitted_at, 'oldest submission first');
    for (let i = 1; i < rest.length; i++) assert.ok(rest[i - 1].updated_at >= rest[i].updated_at, 'latest change first');
    const ib = list.findIndex((x) => x.id === b.id);
    const ic = list.findIndex((x) => x.id === c.id);
    assert.ok(ib >= 0 && ic > ib, `b (submitted first) before c: ${ib} ${ic}`);
    assert.equal(rest[0].id, a.id, 'the draft changed last is first of the rest');

    const eb = list[ib];
    const [[ticketCode, customerName]] = await psql(g.database.url,
      `SELECT t.code, c.name FROM invoices i JOIN tickets t ON t.id = i.ticket_id JOIN customers c ON c.id = t.customer_id WHERE i.id = ${b.id}`);
    assert.deepEqual({ ...eb, submitted_at: null, updated_at: null, age_s: null }, {
      id: b.id, number: b.number, status: 'pending_approval', ticket_id: (await getInvoice(b.id)).ticket.id,
      ticket_code: ticketCode, customer_name: customerName, total: 1443000, submitted_at: null, updated_at: null, age_s: null,
    });
    assert.match(eb.submitted_at, ISO_RE);
    // b waited at least 2.2 s; age_s is whole seconds since its submission.
    assert.ok(Number.isInteger(eb.age_s) && eb.age_s >= 2, `age_s ${eb.age_s}`);
    const want = (Date.now() - Date.parse(eb.submitted_at)) / 1000;
    assert.ok(eb.age_s <= want + 1, `age_s ${eb.age_s} about ${want}`);
    assert.ok(list[ic].age_s <= eb.age_s);
    const ea = list.find((x) => x.id === a.id);
    assert.equal(ea.submitted_at, null);
    assert.equal(ea.age_s, null, 'never submitted: no age');

    // No filter: every state; limit.
    const all = await api(g, ctx.cs, 'GET', '/api/v1/invoices?limit=500');
    assert.equal(all.status, 200);
    assert.ok(all.json.invoices.some((x) => x.id === d.id && x.status === 'approved'));
    assert.equal(all.json.invoices[0].status, 'pending_approval');
    const one = await api(g, ctx.cs, 'GET', '/api/v1/invoices?status=pending_approval&limit=1');
    assert.equal(one.status, 200);
    assert.equal(one.json.invoices.length, 1);
    assert.equal(one.json.invoices[0].id, pend[0].id, 'the oldest submission');
    const none = await api(g, ctx.cs, 'GET', '/api/v1/invoices?status=paid');
    assert.equal(none.status, 200);
    assert.ok(none.json.invoices.every((x) => x.status === 'paid'));

    for (const q of ['status=bogus', 'status=draft,bogus', 'status=DRAFT', 'status=', 'status=draft,', 'limit=0', 'limit=501', 'limit=abc', 'limit=-1', 'limit=1.5']) {
      const x = await api(g, ctx.cs, 'GET', `/api/v1/invoices?${q}`);
      assert.equal(x.status, 400, `${q}: ${x.status} ${x.text}`);
      assert.equal(x.json.error.code, 'bad_request', q);
    }
  });

  // Review of issue 9: the refusal quoted the unknown state as it came,
  // so bytes that are not UTF-8 (or a character cut by the quote's length)
  // went out raw inside the JSON answer.
  it('?status= that is not UTF-8 text: 400, and the answer is still UTF-8 JSON', T, async () => {
    for (const q of ['status=%FF', 'status=draft,%C3', `status=x${'%E2%82%AC'.repeat(30)}`, 'status=a%00b']) {
      const x = await api(g, ctx.cs, 'GET', `/api/v1/invoices?${q}`);
      assert.equal(x.status, 400, `${q}: ${x.status} ${x.text}`);
      assert.ok(isUtf8(x.body), `${q}: the answer is UTF-8: ${x.body.toString('hex')}`);
      assert.equal(JSON.parse(x.body.toString('utf8')).error.code, 'bad_request', q);
    }
  });
});
