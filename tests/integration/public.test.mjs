// Sending the invoice and the customer's public API (issue 9, items 3 and 4;
// docs/money.md "Send", "Public links", "Public API", "Rate limit").
//
// Expected values come from docs/money.md and from this file's own
// computations (the token is HMAC-SHA256 of the nonce under the test key,
// worked out here with node's crypto), never from gssd's code.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import {
  SOURCE_DIR, psql, psqlJson, scrapeMetrics, startGssd, startRedis, makeTmpDir, http, rawConnect, runGssd, waitFor,
} from './harness.mjs';
import { makePng } from './field_util.mjs';
import {
  LINK_KEY, api, approvedInvoice, draftInvoice, getTicket, moneySetup, pub, sentInvoice, step, workDone,
} from './money_util.mjs';

const T = { timeout: 120000 };
const PUBLIC_URL = 'https://gss.example.test/';
const TTL_S = 60;
const DUE_DAYS = 10;

let ctx;
let g;
const others = []; // extra gssd processes on the same database
const answered = new Set(); // tokens answered by a gssd other than g

before(async () => {
  // GSS_LOG_REQUESTS=1: the access log is on, so that the test below can
  // look for tokens in it. GSS_PUBLIC_LINK_TTL_S=60 makes links short-lived
  // enough to see their expiry move.
  ctx = await moneySetup({
    tag: 'pb', techs: 30,
    env: {
      GSS_LOG_REQUESTS: 1, GSS_PUBLIC_LINK_TTL_S: TTL_S, GSS_INVOICE_DUE_DAYS: DUE_DAYS, GSS_PUBLIC_URL: PUBLIC_URL,
    },
  });
  g = ctx.g;
}, { timeout: 120000 });

after(async () => {
  for (const o of others) await o.stop('SIGTERM', 20000).catch(() => {});
  if (g) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

// ---------------------------------------------------------------------------
// Our own arithmetic

/** The token of (kind, nonce) under the test key: docs/money.md's formula. */
function deriveToken(kind, nonce) {
  const mac = crypto.createHmac('sha256', Buffer.from(LINK_KEY, 'hex'))
    .update(Buffer.concat([Buffer.from(`gss-link-v1:${kind}:`), nonce])).digest();
  return mac.subarray(0, 24).toString('base64url');
}
const sha256hex = (s) => crypto.createHash('sha256').update(s).digest('hex');
const randomToken = () => crypto.randomBytes(24).toString('base64url');

async function linkRows(invoiceId) {
  return psqlJson(g.database.url,
    `SELECT id, kind, encode(nonce, 'hex') AS nonce, encode(token_hash, 'hex') AS hash, ticket_id,` +
    ` extract(epoch FROM expires_at)::float8 AS expires, extract(epoch FROM now())::float8 AS now,` +
    ` used_at IS NOT NULL AS used FROM public_links WHERE invoice_id = ${invoiceId} ORDER BY kind`);
}

async function outboxRows(invoiceId) {
  return psqlJson(g.database.url,
    `SELECT channel, kind, target, payload, idem_key, ticket_id, invoice_id, status FROM outbox` +
    ` WHERE invoice_id = ${invoiceId} AND kind = 'invoice.sent' ORDER BY id`);
}

/** Every key of a JSON value, recursively, with its path. */
function walk(v, at = '$', out = []) {
  if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push({ key: k, path: `${at}.${k}`, value: x });
      walk(x, `${at}.${k}`, out);
    }
  }
  return out;
}

/** No key id or *_id (except the rating page's technician positions, which
 *  the caller allows by path), and no internal id as a value where it could
 *  leak: any string, or a number outside the money and quantity fields. */
function assertNoInternalIds(json, ids, { allowIdPaths = [] } = {}) {
  const moneyKeys = new Set(['qty', 'unit_price', 'line_total', 'subtotal', 'discount', 'tax_rate_bp', 'tax',
    'total', 'paid_amount', 'balance', 'score']);
  for (const { key, path: p, value } of walk(json)) {
    if ((key === 'id' || /_id$/.test(key) || /_ids?$/.test(key)) && !allowIdPaths.some((re) => re.test(p))) {
      assert.fail(`public JSON has an internal id field ${p}: ${JSON.stringify(json)}`);
    }
    if (typeof value === 'string') {
      assert.ok(!ids.map(String).includes(value.trim()), `${p} = ${JSON.stringify(value)} is an internal id`);
    } else if (typeof value === 'number' && !moneyKeys.has(key) && !allowIdPaths.some((re) => re.test(p))) {
      assert.ok(!ids.includes(value), `${p} = ${value} equals an internal id`);
    }
  }
}

function assertIsoNear(iso, wantSec, tolSec, what) {
  assert.match(iso, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, `${what} is RFC 3339 UTC: ${iso}`);
  const got = Date.parse(iso) / 1000;
  assert.ok(Math.abs(got - wantSec) <= tolSec, `${what} ${iso} is within ${tolSec} s of ${new Date(wantSec * 1000).toISOString()}`);
}

/** Sends the raw HTTP `request` while this test holds `lockSql` (a lock the
 *  request's transaction waits for), resets the connection once gssd waits
 *  (a client that is gone: a reset, not a half-close, which may still read
 *  the answer), then lets the lock go and returns when the request's
 *  transaction is over: `barrierSql` takes a lock that queues behind it. */
async function resetWhileWaiting(lockSql, barrierSql, request) {
  const db = g.database.url;
  const count = async (sql) => Number((await psql(db, sql))[0][0]);
  const hold = psql(db, `BEGIN; ${lockSql}; SELECT pg_sleep(3); COMMIT;`);
  await waitFor(() => count("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()" +
    " AND state = 'active' AND query LIKE '%pg_sleep(3)%'").then((n) => n > 0), { what: 'the lock is held' });
  const conn = await rawConnect(g.port);
  await conn.write(request);
  await waitFor(() => count("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()" +
    " AND wait_event_type = 'Lock'").then((n) => n > 0), { what: 'gssd waits for the lock' });
  conn.socket.resetAndDestroy();
  await hold;
  await psql(db, `BEGIN; ${barrierSql}; COMMIT;`);
}

// ---------------------------------------------------------------------------

describe('send', () => {
  it('first send: approved → sent, ticket awaiting_payment, sent_at and due_at, two links stored as hashes, one outbox row, history and audit', T, async () => {
    const a = await approvedInvoice(ctx);
    const id = a.invoice.id;
    const t0 = Date.now() / 1000;
    const r = await api(g, ctx.cs, 'POST', `/api/v1/invoices/${id}/send`);
    assert.equal(r.status, 200, `send: ${r.status} ${r.text}`);
    const s = r.json;
    assert.equal(s.id, id);
    assert.equal(s.status, 'sent');
    assert.equal(s.total, a.invoice.total, 'the totals do not move on send');
    assertIsoNear(s.sent_at, t0, 5, 'sent_at');
    assertIsoNear(s.due_at, Date.parse(s.sent_at) / 1000 + DUE_DAYS * 86400, 1, `due_at = sent_at + ${DUE_DAYS} days`);

    // URLs: GSS_PUBLIC_URL without its trailing slash, /i/ and /r/, 32 base64url characters (192 bits).
    const m1 = /^https:\/\/gss\.example\.test\/i\/([A-Za-z0-9_-]{32})$/.exec(s.invoice_url);
    const m2 = /^https:\/\/gss\.example\.test\/r\/([A-Za-z0-9_-]{32})$/.exec(s.rating_url);
    assert.ok(m1, `invoice_url: ${s.invoice_url}`);
    assert.ok(m2, `rating_url: ${s.rating_url}`);
    assert.notEqual(m1[1], m2[1]);

    // The staff JSON shows the links' expiry, never the tokens.
    assert.ok(s.links && typeof s.links.expires_at === 'string' && s.links.rated === false, `links: ${JSON.stringify(s.links)}`);
    assertIsoNear(s.links.expires_at, t0 + TTL_S, 5, 'links.expires_at = now + GSS_PUBLIC_LINK_TTL_S');
    const staff = await api(g, ctx.cs, 'GET', `/api/v1/invoices/${id}`);
    assert.equal(staff.status, 200);
    assert.ok(!staff.text.includes(m1[1]) && !staff.text.includes(m2[1]), 'GET invoice never shows a token');

    const ticket = await getTicket(g, ctx.cs, a.ticket.id);
    assert.equal(ticket.status, 'awaiting_payment');

    // The links: a 16-byte nonce, the SHA-256 of the token, and the token is
    // the HMAC of the nonce under GSS_LINK_KEY (so a resend can re-derive it).
    const links = await linkRows(id);
    assert.deepEqual(links.map((l) => l.kind), ['invoice', 'rating']);
    const byKind = Object.fromEntries(links.map((l) => [l.kind, l]));
    for (const [kind, tok] of [['invoice', m1[1]], ['rating', m2[1]]]) {
      const l = byKind[kind];
      assert.equal(l.nonce.length, 32, `${kind}: a 16-byte nonce`);
      assert.equal(l.hash, sha256hex(tok), `${kind}: token_hash = SHA-256(token)`);
      assert.equal(deriveToken(kind, Buffer.from(l.nonce, 'hex')), tok, `${kind}: token = HMAC(key, nonce)`);
      assert.equal(l.ticket_id, a.ticket.id);
      assert.ok(Math.abs(l.expires - (l.now + TTL_S)) <= 5, `${kind}: expires in ${TTL_S} s`);
      assert.equal(l.used, false);
    }

    // One WhatsApp row exactly as the docs' table, and no token in it.
    const phone = (await psql(g.database.url, `SELECT phone FROM customers WHERE id = ${ticket.customer_id}`))[0][0];
    const ob = await outboxRows(id);
    assert.equal(ob.length, 1, `one outbox row: ${JSON.stringify(ob)}`);
    assert.equal(ob[0].channel, 'whatsapp');
    assert.equal(ob[0].target, `wa:${phone}`);
    assert.equal(ob[0].idem_key, `invoice:${id}:send:1`);
    assert.equal(ob[0].status, 'queued');
    assert.equal(ob[0].ticket_id, a.ticket.id);
    assert.deepEqual(ob[0].payload, {
      invoice_id: id, invoice_link_id: byKind.invoice.id, rating_link_id: byKind.rating.id,
      number: a.invoice.number, total: a.invoice.total,
    });
    assert.ok(s.messages.some((msg) => msg.channel === 'whatsapp' && msg.kind === 'invoice.sent'), 'messages shows it');

    const hist = await psqlJson(g.database.url,
      `SELECT action, actor_id, status_before, status_after, before, after FROM invoice_history` +
      ` WHERE invoice_id = ${id} AND action IN ('send', 'resend') ORDER BY id`);
    assert.equal(hist.length, 1);
    assert.equal(hist[0].action, 'send');
    assert.equal(hist[0].actor_id, ctx.ids.cs);
    assert.equal(hist[0].status_before, 'approved');
    assert.equal(hist[0].status_after, 'sent');
    assert.deepEqual(hist[0].before, hist[0].after);
    assert.equal(hist[0].after.total, a.invoice.total);
    assert.ok(s.revisions.some((rv) => rv.action === 'send'), 'revisions lists the send');

    const audit = await psqlJson(g.database.url,
      `SELECT action, actor_id, before, after, data FROM audit_log WHERE entity = 'ticket'` +
      ` AND entity_id = ${a.ticket.id} AND action IN ('invoice.send', 'ticket.status') ORDER BY id`);
    const send = audit.find((x) => x.action === 'invoice.send');
    assert.ok(send, `invoice.send audited: ${JSON.stringify(audit)}`);
    assert.equal(send.actor_id, ctx.ids.cs);
    assert.equal(send.data.invoice_id, id);
    assert.equal(send.data.number, a.invoice.number);
    assert.ok(audit.some((x) => x.action === 'ticket.status' && x.before === 'invoicing' && x.after === 'awaiting_payment'),
      `ticket.status invoicing → awaiting_payment: ${JSON.stringify(audit)}`);
    assert.ok(ticket.timeline.some((e) => e.action === 'invoice.send'), 'the ticket timeline shows the send');
  });

  it('resend (sent, then paid): the same URLs, expiry renewed, one more outbox row each (…:send:2, …:send:3), history resend', T, async () => {
    const s = await sentInvoice(ctx);
    const id = s.invoice.id;
    const first = await linkRows(id);
    // Time travel: the links are put an hour into the past in PostgreSQL
    // (the only write behind gssd's back here), so that the renewal shows.
    await psql(g.database.url, `UPDATE public_links SET expires_at = now() - interval '1 hour' WHERE invoice_id = ${id}`);
    assert.equal((await pub(ctx, 'GET', `/api/v1/public/invoices/${s.invoiceToken}`)).status, 410, 'expired before the resend');

    const r = await api(g, ctx.sales, 'POST', `/api/v1/invoices/${id}/send`);
    assert.equal(r.status, 403, `Sales may not send: ${r.status} ${r.text}`);

    const again = await step(ctx, ctx.cs, id, 'send');
    assert.equal(again.status, 'sent');
    assert.equal(again.invoice_url, s.invoice.invoice_url, 'resend: the same invoice URL');
    assert.equal(again.rating_url, s.invoice.rating_url, 'resend: the same rating URL');
    assert.equal(again.sent_at, s.invoice.sent_at, 'sent_at is the first send');
    assert.equal(again.due_at, s.invoice.due_at, 'the due date does not move');
    const second = await linkRows(id);
    for (let i = 0; i < 2; i++) {
      assert.equal(second[i].id, first[i].id, 'the same link rows');
      assert.equal(second[i].nonce, first[i].nonce, 'the same nonce');
      assert.equal(second[i].hash, first[i].hash);
      assert.ok(second[i].expires > second[i].now + TTL_S - 5, `${second[i].kind}: expiry renewed to now + ${TTL_S} s`);
    }
    assert.equal((await pub(ctx, 'GET', `/api/v1/public/invoices/${s.invoiceToken}`)).status, 200, 'the link works again');
    let ob = await outboxRows(id);
    assert.deepEqual(ob.map((o) => o.idem_key), [`invoice:${id}:send:1`, `invoice:${id}:send:2`]);
    assert.deepEqual(ob[1].payload, ob[0].payload, 'the same links in the second message');

    // Paid: a resend is still allowed (the rating link is still useful).
    const p = await api(g, ctx.cs, 'POST', `/api/v1/invoices/${id}/payments`, { amount: s.invoice.total, method: 'cash' });
    assert.equal(p.status, 201, `payment: ${p.status} ${p.text}`);
    assert.equal(p.json.status, 'paid');
    const third = await step(ctx, ctx.cs, id, 'send');
    assert.equal(third.status, 'paid', 'a resend leaves a paid invoice paid');
    assert.equal(third.invoice_url, s.invoice.invoice_url);
    assert.equal(third.rating_url, s.invoice.rating_url);
    assert.equal((await getTicket(g, ctx.cs, s.ticket.id)).status, 'paid', 'and its ticket paid');
    ob = await outboxRows(id);
    assert.deepEqual(ob.map((o) => o.idem_key), [1, 2, 3].map((n) => `invoice:${id}:send:${n}`));
    const hist = await psql(g.database.url,
      `SELECT action, status_before, status_after FROM invoice_history WHERE invoice_id = ${id}` +
      ` AND action IN ('send', 'resend') ORDER BY id`);
    assert.deepEqual(hist, [['send', 'approved', 'sent'], ['resend', 'sent', 'sent'], ['resend', 'paid', 'paid']]);
    const audits = await psql(g.database.url,
      `SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${s.ticket.id} AND action = 'invoice.resend'`);
    assert.equal(Number(audits[0][0]), 2);
  });

  it('refused sends change nothing: a draft, one pending approval (409 invalid_transition naming approved), 404, Sales 403', T, async () => {
    const w = await workDone(ctx);
    const d = await draftInvoice(ctx, w.ticket.id);
    const before = await psql(g.database.url, `SELECT status, updated_at FROM invoices WHERE id = ${d.id}`);
    let r = await api(g, ctx.cs, 'POST', `/api/v1/invoices/${d.id}/send`);
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.error.code, 'invalid_transition');
    assert.match(r.json.error.message, /allowed from approved/);
    await step(ctx, ctx.cs, d.id, 'submit');
    r = await api(g, ctx.cs, 'POST', `/api/v1/invoices/${d.id}/send`);
    assert.equal(r.status, 409, r.text);
    assert.match(r.json.error.message, /pending_approval/);
    r = await api(g, ctx.sales, 'POST', `/api/v1/invoices/${d.id}/send`);
    assert.equal(r.status, 403, r.text);
    assert.equal(Number((await psql(g.database.url, `SELECT count(*) FROM public_links WHERE invoice_id = ${d.id}`))[0][0]), 0);
    assert.equal((await outboxRows(d.id)).length, 0);
    assert.equal((await getTicket(g, ctx.cs, w.ticket.id)).status, 'invoicing');
    assert.notDeepEqual(before, [], 'the invoice exists');
    r = await api(g, ctx.cs, 'POST', '/api/v1/invoices/987654321/send');
    assert.equal(r.status, 404, r.text);
  });

  it('a changed GSS_LINK_KEY: the resend mints fresh links (the stored hash no longer matches), the old URLs stop working', T, async () => {
    const s = await sentInvoice(ctx);
    const other = await startGssd({
      redis: ctx.redis, database: ctx.database,
      env: {
        GSS_LINK_KEY: 'ff'.repeat(32), GSS_LOG_REQUESTS: 1, GSS_PUBLIC_URL: PUBLIC_URL,
        GSS_PUBLIC_RATE_PER_MIN: 100000, GSS_PUBLIC_RATE_BURST: 100000,
      },
    });
    others.push(other);
    const r = await api(other, ctx.cs, 'POST', `/api/v1/invoices/${s.invoice.id}/send`);
    assert.equal(r.status, 200, r.text);
    assert.notEqual(r.json.invoice_url, s.invoice.invoice_url, 'a new invoice URL');
    assert.notEqual(r.json.rating_url, s.invoice.rating_url, 'a new rating URL');
    const tok = r.json.invoice_url.split('/').pop();
    answered.add(tok);
    answered.add(r.json.rating_url.split('/').pop());
    assert.equal((await http(`${other.url}/api/v1/public/invoices/${tok}`)).status, 200, 'the new link works');
    assert.equal((await http(`${other.url}/api/v1/public/invoices/${s.invoiceToken}`)).status, 404, 'the old one is gone');
    const links = await linkRows(s.invoice.id);
    const inv = links.find((l) => l.kind === 'invoice');
    assert.equal(inv.hash, sha256hex(tok));
    assert.equal(Number((await psql(g.database.url,
      `SELECT count(*) FROM outbox WHERE invoice_id = ${s.invoice.id} AND idem_key = 'invoice:${s.invoice.id}:send:2'`))[0][0]), 1);
  });

  // Review of issue 9: payments and the approval loop rolled back for a
  // client that was gone, but send committed for nobody: the customer got
  // a WhatsApp the CS never saw confirmed, and pressing again sent another.
  it('a send whose client is gone while it waits for the ticket lock writes nothing; sent again, it goes through', T, async () => {
    const a = await approvedInvoice(ctx);
    const id = a.invoice.id;
    await resetWhileWaiting(`SELECT 1 FROM tickets WHERE id = ${a.ticket.id} FOR UPDATE`,
      `SELECT 1 FROM tickets WHERE id = ${a.ticket.id} FOR UPDATE`,
      `POST /api/v1/invoices/${id}/send HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ctx.cs}\r\n` +
      'Content-Length: 0\r\n\r\n');
    const [[status, ticket]] = await psql(g.database.url,
      `SELECT i.status, t.status FROM invoices i JOIN tickets t ON t.id = i.ticket_id WHERE i.id = ${id}`);
    assert.deepEqual([status, ticket], ['approved', 'invoicing'], 'nothing sent for nobody');
    assert.deepEqual(await linkRows(id), [], 'no links');
    assert.deepEqual(await outboxRows(id), [], 'no WhatsApp');
    const r = await api(g, ctx.cs, 'POST', `/api/v1/invoices/${id}/send`);
    assert.equal(r.status, 200, r.text);
    assert.equal((await outboxRows(id)).length, 1);
    assert.equal(r.json.revisions.filter((x) => x.action === 'send').length, 1, 'one send in the history');
  });

  // Send runs in the same frame as every money action (invoice.h): a
  // deadlock with a session that locks the other way round runs it again,
  // and what the first run had derived counts for nothing.
  it('a deadlock (a session locking the invoice, then the ticket): the send runs again; one send, the answered links are the stored ones', T, async () => {
    const a = await approvedInvoice(ctx);
    const id = a.invoice.id;
    const db = g.database.url;
    const count = async (sql) => Number((await psql(db, sql))[0][0]);
    const again = () => g.lines.filter((l) => l.includes('running the transaction again')).length;
    const before = again();
    const other = psql(db, `BEGIN; SET LOCAL deadlock_timeout = '30s';
      SELECT 1 FROM invoices WHERE id = ${id} FOR UPDATE; SELECT pg_sleep(0.6);
      SELECT 1 FROM tickets WHERE id = ${a.ticket.id} FOR UPDATE; COMMIT;`);
    await waitFor(() => count("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()" +
      " AND state = 'active' AND query LIKE '%pg_sleep(0.6)%'").then((n) => n > 0), { interval: 10, what: 'the invoice locked' });
    const r = await api(g, ctx.cs, 'POST', `/api/v1/invoices/${id}/send`);
    await other;
    assert.equal(r.status, 200, `after the deadlock: ${r.status} ${r.text}`);
    assert.equal(again(), before + 1, 'gssd ran the transaction again, once');
    const links = await linkRows(id);
    assert.equal(links.find((l) => l.kind === 'invoice').hash, sha256hex(r.json.invoice_url.split('/').pop()));
    assert.equal(links.find((l) => l.kind === 'rating').hash, sha256hex(r.json.rating_url.split('/').pop()));
    const ob = await outboxRows(id);
    assert.deepEqual(ob.map((o) => o.idem_key), [`invoice:${id}:send:1`], 'one WhatsApp, the first send');
    assert.equal(r.json.revisions.filter((x) => x.action === 'send').length, 1);
  });
});

// ---------------------------------------------------------------------------

describe('the public invoice', () => {
  let s;
  let customer;
  before(async () => {
    s = await sentInvoice(ctx);
    customer = (await psqlJson(g.database.url, `SELECT c.id, c.name, c.address FROM customers c JOIN tickets t ON t.customer_id = c.id WHERE t.id = ${s.ticket.id}`))[0];
  }, T);

  it('answers the docs\' shape, the same totals as the staff JSON, and no internal id', T, async () => {
    const r = await pub(ctx, 'GET', `/api/v1/public/invoices/${s.invoiceToken}`);
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('cache-control') || '', /no-store/);
    const j = r.json;
    const staff = (await api(g, ctx.cs, 'GET', `/api/v1/invoices/${s.invoice.id}`)).json;
    for (const k of ['subtotal', 'discount', 'tax_rate_bp', 'tax', 'total', 'paid_amount', 'balance']) {
      assert.equal(typeof j[k], 'number', `${k} is an integer`);
      assert.equal(j[k], staff[k], `${k} as in the staff JSON`);
    }
    assert.deepEqual(j.items, staff.items.map(({ description, qty, unit_price, line_total }) => ({ description, qty, unit_price, line_total })));
    assert.equal(j.number, staff.number);
    assert.equal(j.ticket_code, s.ticket.code);
    assert.equal(j.status, 'sent');
    assert.equal(j.note, staff.note);
    assert.equal(j.issued_at, staff.sent_at);
    assert.equal(j.due_at, staff.due_at);
    assert.deepEqual(j.customer, { name: customer.name, address: customer.address });
    assert.equal(typeof j.company.name, 'string');
    assert.ok(j.company.name.length > 0 && 'address' in j.company && 'phone' in j.company);
    assert.equal(typeof j.payment.bank, 'string');
    assert.equal(j.payment.qris_url, null, 'no QRIS image configured');
    assert.equal(j.pdf_url, `/api/v1/public/invoices/${s.invoiceToken}/invoice.pdf`);
    assertNoInternalIds(j, [s.invoice.id, s.ticket.id, customer.id, ctx.ids.cs, ctx.ids.sales, ...s.techs.map((t) => t.id)]);

    const pdf = await pub(ctx, 'GET', j.pdf_url);
    assert.equal(pdf.status, 200, `PDF: ${pdf.status} ${pdf.text.slice(0, 200)}`);
    assert.match(pdf.headers.get('content-type') || '', /application\/pdf/);
    assert.equal(pdf.body.subarray(0, 5).toString('latin1'), '%PDF-');
    assert.equal(pdf.headers.get('cache-control'), 'no-store', 'the customer\'s PDF is not cached, once');

    const q = await pub(ctx, 'GET', '/api/v1/public/qris.png');
    assert.equal(q.status, 404, 'no QRIS image: 404');
  });

  it('wrong tokens are 404 link_not_found; the pages /i/{token} and /r/{token} are web/public.html without a Referer', T, async () => {
    for (const tok of [randomToken(), 'short', `${randomToken()}x`, s.ratingToken]) {
      const r = await pub(ctx, 'GET', `/api/v1/public/invoices/${tok}`);
      assert.equal(r.status, 404, `${tok}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'link_not_found', tok);
    }
    assert.equal((await pub(ctx, 'GET', `/api/v1/public/ratings/${s.invoiceToken}`)).status, 404, 'an invoice token is no rating token');
    assert.equal((await pub(ctx, 'GET', `/api/v1/public/invoices/${randomToken()}/invoice.pdf`)).status, 404);
    const html = fs.readFileSync(path.join(SOURCE_DIR, 'web', 'public.html'));
    for (const p of [`/i/${s.invoiceToken}`, `/r/${s.ratingToken}`, `/i/${randomToken()}`]) {
      const r = await pub(ctx, 'GET', p);
      assert.equal(r.status, 200, p);
      assert.match(r.headers.get('content-type') || '', /^text\/html/);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer', `${p}: Referrer-Policy`);
      assert.ok(r.body.equals(html), `${p} is web/public.html`);
    }
    assert.equal((await pub(ctx, 'GET', `/i/${s.invoiceToken}/x`)).status, 404, 'one segment only');
  });

  it('an expired link is 410 link_expired everywhere (time travel in PostgreSQL)', T, async () => {
    const e = await sentInvoice(ctx);
    // Time travel: GSS_PUBLIC_LINK_TTL_S is 60 s at least; instead of
    // waiting, the links' expiry is moved into the past in PostgreSQL.
    await psql(g.database.url, `UPDATE public_links SET expires_at = now() - interval '1 second' WHERE invoice_id = ${e.invoice.id}`);
    for (const [m, p, body] of [
      ['GET', `/api/v1/public/invoices/${e.invoiceToken}`],
      ['GET', `/api/v1/public/invoices/${e.invoiceToken}/invoice.pdf`],
      ['GET', `/api/v1/public/ratings/${e.ratingToken}`],
      ['POST', `/api/v1/public/ratings/${e.ratingToken}`, { score: 5 }],
    ]) {
      const r = await pub(ctx, m, p, body);
      assert.equal(r.status, 410, `${m} ${p}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'link_expired');
    }
    assert.equal(Number((await psql(g.database.url, `SELECT count(*) FROM ratings WHERE ticket_id = ${e.ticket.id}`))[0][0]), 0);
  });
});

// ---------------------------------------------------------------------------

describe('the rating', () => {
  it('two technicians by position, validation (422), two posts at once: one 201 and one 409, shown to staff and audited', T, async () => {
    const s = await sentInvoice(ctx, { techs: 2 });
    const ticket = await getTicket(g, ctx.cs, s.ticket.id);
    const bySlot = [...ticket.technicians].sort((x, y) => x.slot - y.slot);
    const url = `/api/v1/public/ratings/${s.ratingToken}`;

    const g1 = await pub(ctx, 'GET', url);
    assert.equal(g1.status, 200, g1.text);
    assert.equal(g1.json.ticket_code, s.ticket.code);
    assert.equal(g1.json.rated, false);
    assert.equal(typeof g1.json.company.name, 'string');
    assert.deepEqual(g1.json.techs, bySlot.map((t, i) => ({ id: i + 1, name: t.name })), 'technicians as positions 1..n');
    assertIsoNear(g1.json.expires_at, Date.now() / 1000 + TTL_S, 10, 'expires_at');
    assertNoInternalIds(g1.json, [s.invoice.id, s.ticket.id, ticket.customer_id, ...s.techs.map((t) => t.id)],
      { allowIdPaths: [/^\$\.techs\[\d+\]\.id$/] });

    const bad = [
      [{}, /^score/],
      [{ score: 0 }, /^score/],
      [{ score: 6 }, /^score/],
      [{ score: 4.5 }, /^score/],
      [{ score: '5' }, /^score/],
      [{ score: 5, comment: 'é'.repeat(1001) }, /^comment/],
      [{ score: 5, comment: 7 }, /^comment/],
      [{ score: 5, techs: [{ id: 3, score: 5 }] }, /^techs\[0\]\.id/],
      [{ score: 5, techs: [{ id: 1, score: 5 }, { id: 1, score: 4 }] }, /^techs\[1\]\.id/],
      [{ score: 5, techs: [{ id: 0, score: 5 }] }, /^techs\[0\]\.id/],
      [{ score: 5, techs: [{ id: 1, score: 9 }] }, /^techs\[0\]\.score/],
      [{ score: 5, techs: { id: 1 } }, /^techs/],
    ];
    for (const [body, re] of bad) {
      const r = await pub(ctx, 'POST', url, body);
      assert.equal(r.status, 422, `${JSON.stringify(body).slice(0, 80)}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'validation_failed');
      assert.match(r.json.error.message, re);
    }
    assert.equal((await pub(ctx, 'GET', url)).json.rated, false, 'a refused rating uses nothing');

    // 1000 characters of two bytes each: characters, not bytes, are counted.
    const comment = `${'é'.repeat(999)}!`;
    const body = { score: 4, comment, techs: [{ id: 2, score: 5 }, { id: 1, score: 3 }] };
    const [ra, rb] = await Promise.all([pub(ctx, 'POST', url, body), pub(ctx, 'POST', url, body)]);
    const statuses = [ra.status, rb.status].sort();
    assert.deepEqual(statuses, [201, 409], `one 201 and one 409: ${ra.status} ${ra.text} / ${rb.status} ${rb.text}`);
    const won = ra.status === 201 ? ra : rb;
    const lost = ra.status === 201 ? rb : ra;
    assert.deepEqual(won.json, { rated: true });
    assert.equal(lost.json.error.code, 'already_rated');
    const r3 = await pub(ctx, 'POST', url, { score: 1 });
    assert.equal(r3.status, 409, 'a third post too');
    assert.equal((await pub(ctx, 'GET', url)).json.rated, true);

    const rows = await psqlJson(g.database.url,
      `SELECT r.score, r.comment, (SELECT jsonb_agg(jsonb_build_object('tech_id', rt.tech_id, 'score', rt.score)` +
      ` ORDER BY rt.tech_id) FROM rating_techs rt WHERE rt.rating_id = r.id) AS techs FROM ratings r WHERE r.ticket_id = ${s.ticket.id}`);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].score, 4);
    assert.equal(rows[0].comment, comment);
    const want = [{ tech_id: bySlot[1].tech_id, score: 5 }, { tech_id: bySlot[0].tech_id, score: 3 }]
      .sort((x, y) => x.tech_id - y.tech_id);
    assert.deepEqual(rows[0].techs, want, 'positions mapped to the technicians in slot order');

    // Staff see it: the ticket's rating, the invoice's rating and links.rated.
    const t2 = await getTicket(g, ctx.cs, s.ticket.id);
    assert.ok(t2.rating, `GET ticket has the rating: ${JSON.stringify(t2.rating)}`);
    assert.equal(t2.rating.score, 4);
    assert.equal(t2.rating.comment, comment);
    assert.deepEqual(t2.rating.techs.map((x) => [x.id, x.score]).sort((x, y) => x[0] - y[0]),
      want.map((x) => [x.tech_id, x.score]));
    const inv = (await api(g, ctx.sales, 'GET', `/api/v1/invoices/${s.invoice.id}`)).json;
    assert.equal(inv.rating.score, 4);
    assert.equal(inv.links.rated, true);
    const audit = await psqlJson(g.database.url,
      `SELECT actor_id, data FROM audit_log WHERE entity = 'ticket' AND entity_id = ${s.ticket.id} AND action = 'rating.create'`);
    assert.equal(audit.length, 1, 'one rating.create');
    assert.equal(audit[0].actor_id, null, 'the customer: no actor');
    assert.equal(audit[0].data.score, 4);
    assert.ok(t2.timeline.some((e) => e.action === 'rating.create' && e.actor_id === null));
  });

  it('one technician, no comment and no per-technician scores; the link still works once the invoice is paid', T, async () => {
    const s = await sentInvoice(ctx);
    const p = await api(g, ctx.cs, 'POST', `/api/v1/invoices/${s.invoice.id}/payments`, { amount: s.invoice.total, method: 'transfer', reference: 'BCA 1' });
    assert.equal(p.status, 201, p.text);
    const url = `/api/v1/public/ratings/${s.ratingToken}`;
    const g1 = await pub(ctx, 'GET', url);
    assert.equal(g1.status, 200);
    assert.equal(g1.json.techs.length, 1);
    assert.deepEqual(g1.json.techs[0].id, 1);
    const r = await pub(ctx, 'POST', url, { score: 5 });
    assert.equal(r.status, 201, r.text);
    const rows = await psql(g.database.url, `SELECT score, comment FROM ratings WHERE ticket_id = ${s.ticket.id}`);
    assert.deepEqual(rows, [['5', '']]);
    const inv = await api(g, ctx.cs, 'GET', `/api/v1/invoices/${s.invoice.id}`);
    assert.equal(inv.json.status, 'paid');
    assert.equal(inv.json.rating.score, 5);
    assert.deepEqual(inv.json.rating.techs.length, 0);
  });

  // Review of issue 9: a rating whose customer was gone was kept, so the
  // customer who sent it again was told it had been sent already.
  it('a rating whose client is gone before it is written is not kept; sent again, it is 201', T, async () => {
    const s = await sentInvoice(ctx);
    const body = '{"score":4,"comment":"hilang"}';
    await resetWhileWaiting('LOCK TABLE ratings IN ACCESS EXCLUSIVE MODE', 'LOCK TABLE ratings IN ACCESS EXCLUSIVE MODE',
      `POST /api/v1/public/ratings/${s.ratingToken} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    assert.deepEqual(await psql(g.database.url, `SELECT score FROM ratings WHERE ticket_id = ${s.ticket.id}`), [],
      'no rating for nobody');
    assert.deepEqual((await linkRows(s.invoice.id)).map((l) => l.used), [false, false], 'the link is unused');
    const r = await pub(ctx, 'POST', `/api/v1/public/ratings/${s.ratingToken}`, { score: 5 });
    assert.equal(r.status, 201, r.text);
  });
});

// ---------------------------------------------------------------------------

describe('rate limit, and where tokens never go', () => {
  it('a guessed token gets 404, then 429 with Retry-After; the address\'s real link waits too', T, async () => {
    const s = await sentInvoice(ctx);
    const pngDir = await makeTmpDir('qris');
    const png = makePng(8, 8, 3);
    fs.writeFileSync(path.join(pngDir, 'qris.png'), png);
    // A small burst: 5 at once, 60 a minute (one a second).
    const small = await startGssd({
      redis: ctx.redis, database: ctx.database,
      env: {
        GSS_LINK_KEY: LINK_KEY, GSS_LOG_REQUESTS: 1, GSS_PUBLIC_RATE_PER_MIN: 60, GSS_PUBLIC_RATE_BURST: 5,
        GSS_PAY_QRIS_IMAGE: path.join(pngDir, 'qris.png'),
      },
    });
    others.push(small);
    // A reader is not bothered: three reads, then the QRIS image.
    for (let i = 0; i < 3; i++) {
      assert.equal((await http(`${small.url}/api/v1/public/invoices/${s.invoiceToken}`)).status, 200, `read ${i}`);
    }
    const inv = await http(`${small.url}/api/v1/public/invoices/${s.invoiceToken}`);
    assert.equal(inv.json.payment.qris_url, '/api/v1/public/qris.png', 'with an image configured');
    const q = await http(`${small.url}${inv.json.payment.qris_url}`);
    assert.equal(q.status, 200);
    assert.equal(q.headers.get('content-type'), 'image/png');
    assert.ok(q.body.equals(png), 'the configured bytes');
    // 5 taken; a second later one is back. A guess costs 1 + 10: 404 ...
    await new Promise((r) => setTimeout(r, 1100));
    const guess = await http(`${small.url}/api/v1/public/invoices/${randomToken()}`);
    assert.equal(guess.status, 404, guess.text);
    // ... then the bucket is in debt: 429, with Retry-After in seconds.
    for (const p of [`/api/v1/public/invoices/${randomToken()}`, `/api/v1/public/invoices/${s.invoiceToken}`,
      `/api/v1/public/ratings/${s.ratingToken}`, '/api/v1/public/qris.png']) {
      const r = await http(`${small.url}${p}`);
      assert.equal(r.status, 429, `${p}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'rate_limited');
      const ra = Number(r.headers.get('retry-after'));
      assert.ok(Number.isInteger(ra) && ra >= 5 && ra <= 12, `Retry-After ${r.headers.get('retry-after')}`);
    }
    // The staff API is not limited.
    assert.equal((await api(small, ctx.cs, 'GET', `/api/v1/invoices/${s.invoice.id}`)).status, 200);
  });

  it('a token that cannot be one is refused without a query', T, async () => {
    // A gssd of its own (own Redis: no persister work; no monitor scan) so
    // that the PostgreSQL query counter moves only for what is asked here.
    const quiet = await startGssd({
      redis: await startRedis(), database: ctx.database,
      env: { GSS_LINK_KEY: LINK_KEY, GSS_MONITOR_SCAN_MS: 3600000, GSS_PUBLIC_RATE_BURST: 1000 },
    });
    others.push(quiet);
    const queries = async () => (await scrapeMetrics(quiet.url)).value('gss_postgres_queries_total');
    // whatever the start-up queries, wait until the counter stands still
    let q0 = await queries();
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const q = await queries();
      if (q === q0) break;
      q0 = q;
    }
    for (const tok of ['abc', 'A'.repeat(31), 'A'.repeat(33), `${'A'.repeat(31)}=`, `${'A'.repeat(30)}%2F`, `${'A'.repeat(31)}.`]) {
      for (const p of [`/api/v1/public/invoices/${tok}`, `/api/v1/public/ratings/${tok}`, `/api/v1/public/invoices/${tok}/invoice.pdf`]) {
        const r = await http(`${quiet.url}${p}`);
        assert.equal(r.status, 404, `${p}: ${r.status}`);
        assert.equal(r.json.error.code, 'link_not_found');
      }
      const r = await http(`${quiet.url}/api/v1/public/ratings/${tok}`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"score":5}',
      });
      assert.equal(r.status, 404);
    }
    assert.equal(await queries(), q0, 'no query for a malformed token');
    assert.equal((await http(`${quiet.url}/api/v1/public/invoices/${randomToken()}`)).status, 404);
    assert.ok(await queries() > q0, 'a well-formed one is looked up (the counter works)');
  });

  // Review of issue 9: the access log matched /i/, /r/ and the public API
  // on the raw path, so another spelling of the same path (the static
  // files are served percent-decoded: /%69/{token} is the invoice page)
  // logged the token in clear.
  it('no spelling of a path logs its token: percent-encoded prefixes, a token in any segment', T, async () => {
    const s = await sentInvoice(ctx);
    const paths = [`/%69/${s.invoiceToken}`, `/i%2F${s.invoiceToken}`, `/%72/${s.ratingToken}`,
      `/api/v1/public/%69nvoices/${s.invoiceToken}`, `/api/v1/public/invoices%2F${s.invoiceToken}/invoice.pdf`,
      `/api/v1/public/ratings/${s.ratingToken}%20`, `/I/${s.invoiceToken}.pdf`, `/x/${s.invoiceToken}`,
      `/x/${s.ratingToken.slice(0, 10)}%${s.ratingToken.charCodeAt(10).toString(16)}${s.ratingToken.slice(11)}`];
    const page = await pub(ctx, 'GET', paths[0]);
    assert.equal(page.status, 200, 'the page of /%69/{token} is served');
    for (const [i, p] of paths.entries()) {
      const rid = `redact-${process.pid}-${i}`;
      await pub(ctx, 'GET', p, undefined, { 'x-request-id': rid });
      const line = await g.waitForLog((l) => l.msg === 'request' && l.rid === rid, 3000);
      assert.match(line.path, /\[token\]/, `${p} is logged as ${line.path}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const tok of [s.invoiceToken, s.ratingToken]) {
      assert.ok(!g.lines.some((l) => l.includes(tok)), `the log holds token ${tok.slice(0, 4)}…`);
    }
  });

  it('no raw token in PostgreSQL (any column of any table) or in any gssd\'s log; the access log writes [token]', T, async () => {
    // Every token any send in this file answered, and the pages just used.
    const tokens = new Set();
    const rows = await psqlJson(g.database.url,
      `SELECT kind, encode(nonce, 'hex') AS nonce FROM public_links`);
    assert.ok(rows.length >= 10, `links so far: ${rows.length}`);
    for (const l of rows) tokens.add(deriveToken(l.kind, Buffer.from(l.nonce, 'hex')));
    // The links the changed-key test made are under another key: the URLs
    // that its send answered.
    for (const tok of answered) tokens.add(tok);
    const s = await sentInvoice(ctx);
    tokens.add(s.invoiceToken);
    tokens.add(s.ratingToken);
    assert.equal((await pub(ctx, 'GET', `/i/${s.invoiceToken}`)).status, 200);
    assert.equal((await pub(ctx, 'GET', `/r/${s.ratingToken}`)).status, 200);
    assert.equal((await pub(ctx, 'GET', `/api/v1/public/invoices/${s.invoiceToken}`)).status, 200);
    assert.equal((await pub(ctx, 'GET', `/api/v1/public/invoices/${s.invoiceToken}/invoice.pdf`)).status, 200);
    assert.equal((await pub(ctx, 'GET', `/api/v1/public/ratings/${s.ratingToken}`)).status, 200);
    assert.equal((await pub(ctx, 'POST', `/api/v1/public/ratings/${s.ratingToken}`, { score: 3 })).status, 201);

    // Every text form of every row of every table in the database.
    const tables = (await psql(g.database.url,
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).map((r) => r[0]);
    assert.ok(tables.includes('public_links') && tables.includes('outbox') && tables.includes('audit_log'));
    for (const tbl of tables) {
      const dump = (await psql(g.database.url, `SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM "${tbl}" t`))
        .map((r) => r.join('\t')).join('\n');
      for (const tok of tokens) assert.ok(!dump.includes(tok), `table ${tbl} holds token ${tok.slice(0, 4)}…`);
    }

    // The logs: every stderr line of every gssd of this file.
    await new Promise((r) => setTimeout(r, 300)); // the access log is flushed once per loop turn
    for (const proc of [g, ...others]) {
      const text = proc.lines.join('\n');
      for (const tok of tokens) assert.ok(!text.includes(tok), `gssd ${proc.port}'s log holds token ${tok.slice(0, 4)}…`);
    }
    const paths = g.requestLogs().map((l) => l.path);
    for (const want of ['/i/[token]', '/r/[token]', '/api/v1/public/invoices/[token]',
      '/api/v1/public/invoices/[token]/invoice.pdf', '/api/v1/public/ratings/[token]']) {
      assert.ok(paths.includes(want), `the access log has ${want}: ${JSON.stringify([...new Set(paths)].filter((x) => x.includes('public') || /^\/[ir]\//.test(x)))}`);
    }
  });
});

// ---------------------------------------------------------------------------

describe('start-up', () => {
  // Review of issue 9: a start stopped by the public links' settings left
  // the rate limiter's buckets (3 MiB) and the event loop behind, which a
  // sanitizer build reports as leaks. (In a build without ASan the last
  // assertion holds anyway; the others do not depend on it.)
  it('a QRIS image that is no PNG, or a malformed GSS_LINK_KEY, stops gssd: exit 1, the setting named, nothing leaked', T, async () => {
    const dir = await makeTmpDir('badqris');
    fs.writeFileSync(path.join(dir, 'qris.png'), 'this is not a PNG file');
    const cases = [
      [{ GSS_PAY_QRIS_IMAGE: path.join(dir, 'qris.png') }, /GSS_PAY_QRIS_IMAGE/],
      [{ GSS_PAY_QRIS_IMAGE: path.join(dir, 'missing.png') }, /GSS_PAY_QRIS_IMAGE/],
      [{ GSS_LINK_KEY: 'zz'.repeat(32) }, /GSS_LINK_KEY/],
      [{ GSS_LINK_KEY: 'ab'.repeat(31) }, /GSS_LINK_KEY/],
    ];
    for (const [env, named] of cases) {
      const r = await runGssd(['serve'], {
        env: { GSS_DATABASE_URL: g.database.url, GSS_REDIS_URL: ctx.redis.url, GSS_LISTEN: '127.0.0.1:0', GSS_LINK_KEY: LINK_KEY, ...env },
      });
      assert.equal(r.code, 1, `${JSON.stringify(env)}: exit ${r.code}\n${r.stderr.slice(-2000)}`);
      assert.match(r.stderr, named, `${JSON.stringify(env)} is named`);
      assert.doesNotMatch(r.stderr, /LeakSanitizer|leaked in/, `${JSON.stringify(env)}: ${r.stderr.slice(-2000)}`);
    }
  });
});
