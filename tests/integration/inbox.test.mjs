// The CS WhatsApp inbox (issue 10, item 6; src/http/handlers/inbox.c,
// db/migrations/0015_inbox.sql, docs/inbox.md) against a real gssd, Redis
// and PostgreSQL, with Meta played by tests/fakes/whatsapp.mjs: its signed
// deliver() brings the customers' messages to /hooks/whatsapp, its Cloud
// API receives what gssd sends, and its automatic statuses come back
// through the webhook.
//
//   - incoming messages make a conversation with an unread count; a
//     redelivered message counts once; read → 0, and a new message → 1;
//   - a reply inside the window reaches the fake as exactly that text to
//     that number, and the chat shows it with its status moving to
//     delivered;
//   - outside the window a text is 409 window_closed and the fake receives
//     nothing; the follow-up template goes through with the customer's name;
//   - the chat pages backwards with before=; bad input is 422, an unknown
//     customer 404;
//   - a whatsapp outbox row written with the target only (as the invoice
//     send writes it) belongs to its customer's conversation;
//   - a CS WebSocket gets inbox.message / inbox.status / inbox.read, a
//     technician's and a Sales' get none;
//   - sales and ts get 403 on every inbox route;
//   - an Idempotency-Key makes a retried or double-tapped reply one message
//     (200, the same message, "replayed"); the same key with another body is
//     422 idempotency_key_reused; a bad key 400;
//   - the template names a customer whose name is blank "Pelanggan";
//   - a q holding a control character (%00 …) is 422, not "every
//     conversation";
//   - a message whose id was taken before a read but which committed after
//     it is unread (the commit-order race of ids);
//   - the contract has no template_not_configured (gssd refuses to start
//     without the template, so it cannot happen).
// Expected values are written here from the contract, never read from gssd.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import fs from 'node:fs';
import path from 'node:path';

import WebSocket from 'ws';

import { SOURCE_DIR, http, psql, scrapeMetrics, sleep, waitFor } from './harness.mjs';
import { api, fieldSetup } from './field_util.mjs';
import { startWhatsAppFake } from '../fakes/whatsapp.mjs';

const SECRET = 'inbox-app-secret';
const WA_TOKEN = 'EAAinboxtest';
const PHONE_ID = '109876543210111';
const TEMPLATE = 'gss_followup_test';
const T = { timeout: 60000 };
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

let ctx;
let wa;
let seq = 0;
const nextNumber = () => `62813${String(process.pid % 10000).padStart(4, '0')}${String(++seq).padStart(4, '0')}`;

before(async () => {
  wa = await startWhatsAppFake({
    token: WA_TOKEN, phoneNumberId: PHONE_ID, pairGapMs: 0, autoStatuses: true, statusDelayMs: 100,
    templates: [{ name: TEMPLATE, language: 'id', bodyParams: 1 }],
  });
  ctx = await fieldSetup({
    techs: 1, tag: 'ib',
    env: {
      GSS_WA_TOKEN: WA_TOKEN, GSS_WA_API_BASE: wa.apiBase, GSS_WA_PHONE_NUMBER_ID: PHONE_ID,
      GSS_WA_APP_SECRET: SECRET, GSS_WA_VERIFY_TOKEN: 'vt', GSS_OUTBOX_POLL_MS: 100,
      GSS_WA_TEMPLATE_FOLLOWUP: TEMPLATE, GSS_WA_TEMPLATE_LANG: 'id',
    },
  });
  // The fake's statuses for what gssd sends go back to gssd's webhook.
  wa.webhook = { url: ctx.g.url, appSecret: SECRET, path: '/hooks/whatsapp' };
  ctx.ts = ctx.tech().token;
}, { timeout: 120000 });

after(async () => {
  if (wa) await wa.stop();
});

const q = (sql) => psql(ctx.g.database.url, sql);
const count = async (sql) => Number((await q(sql))[0][0]);

async function deliver(payload) {
  const r = await wa.deliver(ctx.g.url, payload, { appSecret: SECRET });
  assert.equal(r.status, 200, `delivery answered ${r.status}: ${r.text}`);
  return r;
}

async function customerOf(phone) {
  const rows = await q(`SELECT id FROM customers WHERE phone = '${phone}'`);
  assert.equal(rows.length, 1, `one customer has ${phone}`);
  return Number(rows[0][0]);
}

async function inbox(query = '', token = ctx.cs) {
  const r = await api(ctx.g, token, 'GET', `/api/v1/inbox${query}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function conversation(customerId) {
  const all = await inbox('?limit=200');
  return all.conversations.find((c) => c.customer.id === customerId);
}

async function chat(customerId, query = '') {
  const r = await api(ctx.g, ctx.cs, 'GET', `/api/v1/customers/${customerId}/messages${query}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

const sentTo = (phone) => wa.sent.filter((m) => m.to === phone);

function assertMessageShape(m) {
  assert.deepEqual(Object.keys(m).sort(),
    ['at', 'attachment_id', 'body', 'direction', 'error', 'id', 'media_status', 'sent_by', 'status', 'type']);
  assert.match(m.id, /^(in|out):[0-9]+$/);
  assert.match(m.at, ISO_UTC);
  assert.ok(['received', 'queued', 'sent', 'delivered', 'read', 'failed'].includes(m.status), m.status);
}

// A WebSocket with a Bearer session, collecting parsed messages.
function openSocket(token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${ctx.g.port}/api/v1/ws`, {
      headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false,
    });
    const messages = [];
    ws.on('message', (data) => {
      try { messages.push(JSON.parse(data.toString('utf8'))); } catch { messages.push({ unparsed: String(data) }); }
    });
    ws.on('unexpected-response', (req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('open', () => resolve({
      messages,
      inbox() { return messages.filter((m) => typeof m.type === 'string' && m.type.startsWith('inbox.')); },
      close() { ws.terminate(); },
    }));
  });
}

describe('the inbox', () => {
  it('lists a conversation with its unread messages; a redelivery counts once; read makes it 0', T, async () => {
    const phone = nextNumber();
    const first = wa.inboundText({ from: phone, name: 'Bu Rina Wati', body: 'Selamat pagi, AC saya bocor' });
    await deliver(first);
    await deliver(wa.inboundText({ from: phone, name: 'Bu Rina Wati', body: 'Bisa datang hari ini? 🙏' }));
    await deliver(first); // Meta redelivers
    const id = await customerOf(phone);

    const before = await inbox();
    const c = before.conversations.find((x) => x.customer.id === id);
    assert.ok(c, `the conversation is listed: ${JSON.stringify(before)}`);
    assert.deepEqual(Object.keys(c).sort(), ['customer', 'last', 'open_tickets', 'unread', 'window_closes_at', 'window_open']);
    assert.deepEqual(c.customer, { id, name: 'Bu Rina Wati', phone });
    assert.equal(c.unread, 2);
    assert.equal(c.window_open, true);
    assert.match(c.window_closes_at, ISO_UTC);
    const closes = Date.parse(c.window_closes_at) - Date.now();
    assert.ok(closes > 23 * 3600e3 && closes <= 24 * 3600e3 + 5000, `the window closes in about 24 h: ${c.window_closes_at}`);
    assert.equal(c.open_tickets, 0);
    assert.deepEqual(Object.keys(c.last).sort(), ['at', 'direction', 'preview', 'status']);
    assert.equal(c.last.direction, 'in');
    assert.equal(c.last.preview, 'Bisa datang hari ini? 🙏');
    assert.match(c.last.at, ISO_UTC);
    assert.equal(c.last.status, 'received');
    assert.ok(before.unread_total >= 2, `unread_total counts them: ${before.unread_total}`);
    // newest conversation first: this one was written last
    assert.equal(before.conversations[0].customer.id, id);

    const m = await chat(id);
    assert.deepEqual(m.customer, { id, name: 'Bu Rina Wati', phone, window_open: true, window_closes_at: c.window_closes_at });
    assert.equal(m.has_more, false);
    assert.equal(m.messages.length, 2);
    m.messages.forEach(assertMessageShape);
    assert.deepEqual(m.messages.map((x) => [x.direction, x.type, x.body, x.status, x.sent_by, x.error]), [
      ['in', 'text', 'Selamat pagi, AC saya bocor', 'received', null, null],
      ['in', 'text', 'Bisa datang hari ini? 🙏', 'received', null, null],
    ]);
    assert.ok(m.messages.every((x) => x.id.startsWith('in:')));

    const r = await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages/read`);
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    const afterRead = await inbox();
    assert.equal(afterRead.conversations.find((x) => x.customer.id === id).unread, 0);
    assert.equal(afterRead.unread_total, before.unread_total - 2);
    const [[readBy]] = await q(`SELECT inbox_read_by FROM customers WHERE id = ${id}`);
    assert.equal(Number(readBy), ctx.ids.cs);

    // reading again changes nothing
    assert.equal((await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages/read`)).status, 204);
    await deliver(wa.inboundText({ from: phone, name: 'Bu Rina Wati', body: 'Halo?' }));
    const again = await conversation(id);
    assert.equal(again.unread, 1);
    assert.equal(again.last.preview, 'Halo?');
  });

  it('a reply inside the window reaches that number as exactly that text; the chat shows its status move', T, async () => {
    const phone = nextNumber();
    await deliver(wa.inboundText({ from: phone, name: 'Pak Joko', body: 'AC tidak dingin' }));
    const id = await customerOf(phone);
    const text = 'Baik Pak, teknisi kami datang besok jam 10.\nTerima kasih 😀 — "CS"';
    const r = await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages`, { text });
    assert.equal(r.status, 202, r.text);
    const msg = r.json.message;
    assertMessageShape(msg);
    assert.match(msg.id, /^out:[0-9]+$/);
    assert.equal(msg.direction, 'out');
    assert.equal(msg.type, 'text');
    assert.equal(msg.body, text);
    assert.equal(msg.status, 'queued');
    assert.deepEqual(msg.sent_by, { id: ctx.ids.cs, name: 'Pool ib_cs' });

    const req = await wa.waitForRequest((e) => e.api === 'messages' && e.json && e.json.to === phone, { timeoutMs: 10000 });
    assert.equal(req.status, 200, JSON.stringify(req.reply));
    assert.equal(req.json.type, 'text');
    assert.equal(req.json.text.body, text);
    assert.equal(req.json.messaging_product, 'whatsapp');

    // sent, then delivered (the fake's statuses through the webhook)
    await waitFor(async () => {
      const m = await chat(id);
      const out = m.messages.find((x) => x.id === msg.id);
      return out && out.status === 'delivered';
    }, { timeout: 10000, what: 'the reply shows delivered' });
    const m = await chat(id);
    assert.deepEqual(m.messages.map((x) => [x.direction, x.body]), [['in', 'AC tidak dingin'], ['out', text]]);
    const conv = await conversation(id);
    assert.equal(conv.last.direction, 'out');
    assert.equal(conv.last.preview, text.slice(0, 120));
    assert.equal(conv.last.status, 'delivered', 'the list says what the chat says');

    await sleep(500);
    assert.equal(sentTo(phone).length, 1, 'exactly one message reached the number');
    assert.equal(await count(`SELECT count(*) FROM outbox WHERE customer_id = ${id} AND kind = 'wa.reply'`), 1);
    assert.equal(await count(`SELECT count(*) FROM audit_log WHERE entity = 'customer' AND entity_id = ${id}
      AND action = 'inbox.reply' AND actor_id = ${ctx.ids.cs}`), 1);
  });

  it('a reply WhatsApp refuses is the list\'s last message with status failed', T, async () => {
    const phone = nextNumber();
    await deliver(wa.inboundText({ from: phone, name: 'Pak Gagal', body: 'Halo, AC mati' }));
    const id = await customerOf(phone);
    assert.equal((await conversation(id)).last.status, 'received');
    wa.markUndeliverable(phone); // 131026: the number cannot receive messages
    const text = 'Baik Pak, kami cek dulu.';
    const r = await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages`, { text });
    assert.equal(r.status, 202, r.text);
    await waitFor(async () => {
      const m = await chat(id);
      const out = m.messages.find((x) => x.id === r.json.message.id);
      return out && out.status === 'failed';
    }, { timeout: 20000, what: 'the reply shows failed in the chat' });
    const conv = await conversation(id);
    assert.deepEqual([conv.last.direction, conv.last.preview, conv.last.status], ['out', text, 'failed']);
    assert.equal(sentTo(phone).length, 0, 'nothing reached the number');
  });

  it('outside the window a text is 409 and nothing is sent; the template goes through', T, async () => {
    const phone = nextNumber();
    const old = Math.floor(Date.now() / 1000) - 25 * 3600;
    await deliver(wa.inboundText({ from: phone, name: 'Ibu  Sari\tDewi', body: 'Kemarin AC saya rusak', timestamp: old }));
    const id = await customerOf(phone);
    const conv = await conversation(id);
    assert.equal(conv.window_open, false);
    assert.equal(conv.window_closes_at, null);

    const r = await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages`, { text: 'Halo Bu' });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.error.code, 'window_closed');
    assert.match(r.json.error.message, /Gunakan template/);
    assert.equal(await count(`SELECT count(*) FROM outbox WHERE customer_id = ${id}`), 0);
    await sleep(800); // several sender polls
    assert.equal(sentTo(phone).length, 0, 'the fake received nothing');

    const t = await api(ctx.g, ctx.admin, 'POST', `/api/v1/customers/${id}/messages`, { template: 'followup' });
    assert.equal(t.status, 202, t.text);
    assert.equal(t.json.message.type, 'template');
    assert.equal(t.json.message.status, 'queued');
    assert.equal(t.json.message.sent_by.id, ctx.ids.admin);
    const req = await wa.waitForRequest((e) => e.api === 'messages' && e.json && e.json.to === phone, { timeoutMs: 10000 });
    assert.equal(req.status, 200, JSON.stringify(req.reply));
    assert.equal(req.json.type, 'template');
    assert.equal(req.json.template.name, TEMPLATE);
    assert.equal(req.json.template.language.code, 'id');
    // the name as stored, its white space made single spaces for Meta
    const [[name]] = await q(`SELECT name FROM customers WHERE id = ${id}`);
    const params = req.json.template.components.filter((c) => c.type === 'body').flatMap((c) => c.parameters);
    assert.deepEqual(params, [{ type: 'text', text: name.replace(/\s+/g, ' ') }]);
    assert.equal(sentTo(phone).length, 1);
  });

  it('pages the chat backwards with before=; refuses bad input', T, async () => {
    const phone = nextNumber();
    const base = Math.floor(Date.now() / 1000) - 60;
    for (let i = 1; i <= 5; i++) {
      await deliver(wa.inboundText({ from: phone, name: 'Pak Budi', body: `pesan ${i}`, timestamp: base + i }));
    }
    const id = await customerOf(phone);
    const p1 = await chat(id, '?limit=2');
    assert.deepEqual(p1.messages.map((m) => m.body), ['pesan 4', 'pesan 5']);
    assert.equal(p1.has_more, true);
    const p2 = await chat(id, `?limit=2&before=${encodeURIComponent(p1.messages[0].id)}`);
    assert.deepEqual(p2.messages.map((m) => m.body), ['pesan 2', 'pesan 3']);
    assert.equal(p2.has_more, true);
    const p3 = await chat(id, `?limit=2&before=${encodeURIComponent(p2.messages[0].id)}`);
    assert.deepEqual(p3.messages.map((m) => m.body), ['pesan 1']);
    assert.equal(p3.has_more, false);

    const post = (body) => api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages`, body);
    for (const body of [{}, { text: '' }, { text: '   \n ' }, { text: 5 }, { text: 'a', template: 'followup' },
      { template: 'other' }, { text: 'x'.repeat(4097) }, { text: 'a\u0001b' }]) {
      const r = await post(body);
      assert.equal(r.status, 422, `${JSON.stringify(body).slice(0, 60)}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'validation_failed');
    }
    assert.equal((await post({ text: '😀'.repeat(4096) })).status, 202, '4096 characters (not bytes) are allowed');
    const bad = await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages`, undefined);
    assert.ok([400, 415].includes(bad.status), `no body: ${bad.status}`);
    for (const qs of ['?limit=0', '?limit=201', '?limit=x', '?before=12', '?before=in:', '?before=out:abc', '?before=in:999999999']) {
      const r = await api(ctx.g, ctx.cs, 'GET', `/api/v1/customers/${id}/messages${qs}`);
      assert.equal(r.status, 422, `${qs}: ${r.status} ${r.text}`);
    }
    assert.equal((await api(ctx.g, ctx.cs, 'GET', '/api/v1/inbox?limit=0')).status, 422);
    assert.equal((await api(ctx.g, ctx.cs, 'GET', '/api/v1/inbox?limit=201')).status, 422);
    for (const [method, p, body] of [['GET', '/messages'], ['POST', '/messages', { text: 'hi' }], ['POST', '/messages/read']]) {
      const r = await api(ctx.g, ctx.cs, method, `/api/v1/customers/987654321${p}`, body);
      assert.equal(r.status, 404, `${method} ${p}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'not_found');
    }
  });

  it('searches by name and by phone as typed; a row written with the target only joins the conversation', T, async () => {
    const phone = nextNumber();
    await deliver(wa.inboundText({ from: phone, name: 'Ny. Kartika 100%', body: 'Tolong cek tagihan' }));
    const id = await customerOf(phone);
    const byName = await inbox(`?q=${encodeURIComponent('kartika 100%')}`);
    assert.deepEqual(byName.conversations.map((c) => c.customer.id), [id]);
    const typed = `0${phone.slice(2, 5)}-${phone.slice(5)}`; // 0813-...
    const byPhone = await inbox(`?q=${encodeURIComponent(typed)}`);
    assert.deepEqual(byPhone.conversations.map((c) => c.customer.id), [id]);
    assert.deepEqual((await inbox('?q=%25')).conversations.map((c) => c.customer.id).includes(id), true);
    assert.equal((await inbox('?q=zzzz-nobody-zzzz')).conversations.length, 0);

    // as invoice_send.c writes it: the target, no customer_id (parked: no message yet)
    await q(`INSERT INTO outbox (channel, kind, target, payload, idem_key)
             VALUES ('whatsapp', 'invoice.sent', 'wa:${phone}', '{"invoice_id": 1, "number": "INV-2612-0099"}', 'inbox-test:${phone}')`);
    assert.equal(await count(`SELECT count(*) FROM outbox WHERE idem_key = 'inbox-test:${phone}' AND customer_id = ${id}`), 1);
    const m = await chat(id);
    const out = m.messages.at(-1);
    assert.equal(out.direction, 'out');
    assert.equal(out.type, 'invoice.sent');
    assert.equal(out.body, 'Invoice INV-2612-0099');
    assert.equal(out.status, 'queued');
    assert.equal(out.sent_by, null);
    assert.equal((await conversation(id)).last.preview, 'Invoice INV-2612-0099');
    await q(`UPDATE outbox SET status = 'cancelled' WHERE idem_key = 'inbox-test:${phone}'`);
  });

  it('CS sockets get inbox.message, inbox.status and inbox.read; technicians and Sales get none', T, async () => {
    const cs = await openSocket(ctx.cs);
    const ts = await openSocket(ctx.ts);
    const sales = await openSocket(ctx.sales);
    try {
      await sleep(200);
      const phone = nextNumber();
      const payload = wa.inboundText({ from: phone, name: 'Pak Live', body: 'Ada orang?' });
      await deliver(payload);
      const id = await customerOf(phone);
      await waitFor(() => cs.inbox().some((m) => m.type === 'inbox.message' && m.customer_id === id), { timeout: 5000, what: 'inbox.message in' });
      assert.deepEqual(cs.inbox().find((m) => m.customer_id === id), { type: 'inbox.message', customer_id: id, direction: 'in' });
      // (other tests' replies may still be getting statuses: only this customer's events count)
      const mine = () => cs.inbox().filter((m) => m.customer_id === id);
      await deliver(payload); // a redelivery is no news
      await sleep(300);
      assert.equal(mine().length, 1, 'a redelivered message sends no event');

      const r = await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages`, { text: 'Ada, Pak.' });
      assert.equal(r.status, 202, r.text);
      await waitFor(() => cs.inbox().some((m) => m.type === 'inbox.message' && m.direction === 'out' && m.customer_id === id),
        { timeout: 5000, what: 'inbox.message out' });
      await waitFor(() => cs.inbox().some((m) => m.type === 'inbox.status' && m.customer_id === id),
        { timeout: 10000, what: 'inbox.status' });
      assert.deepEqual(mine().find((m) => m.type === 'inbox.status'), { type: 'inbox.status', customer_id: id });
      assert.equal((await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages/read`)).status, 204);
      await waitFor(() => cs.inbox().some((m) => m.type === 'inbox.read' && m.customer_id === id), { timeout: 5000, what: 'inbox.read' });
      assert.deepEqual(mine().find((m) => m.type === 'inbox.read'), { type: 'inbox.read', customer_id: id });
      await sleep(300);
      assert.deepEqual(ts.inbox(), [], 'a technician gets no inbox event');
      assert.deepEqual(sales.inbox(), [], 'Sales gets no inbox event');
      // /metrics counts the published events (in, out, status, read at least)
      const m = await scrapeMetrics(ctx.g.url);
      assert.ok(m.value('gss_inbox_events_published_total') >= 4,
        `gss_inbox_events_published_total: ${m.value('gss_inbox_events_published_total')}`);
      assert.equal(m.value('gss_inbox_events_errors_total'), 0);
    } finally {
      cs.close();
      ts.close();
      sales.close();
    }
  });

  it('an Idempotency-Key makes a retried reply one message: the same message, 200, nothing queued again', T, async () => {
    const phone = nextNumber();
    await deliver(wa.inboundText({ from: phone, name: 'Pak Ulang', body: 'Jadi datang?' }));
    const id = await customerOf(phone);
    const send = (body, key, token = ctx.cs) => {
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      if (key !== undefined) headers['idempotency-key'] = key;
      return http(`${ctx.g.url}/api/v1/customers/${id}/messages`, { method: 'POST', headers, body: JSON.stringify(body), timeout: 20000 });
    };
    const key = `k-${process.pid}-${id}-1`;
    const text = 'Jadi, Pak. Teknisi berangkat jam 9.';
    const first = await send({ text }, key);
    assert.equal(first.status, 202, first.text);
    assert.equal(first.json.message.status, 'queued');
    // the retry after a timeout: the same message, nothing new
    const again = await send({ text }, key);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.replayed, true);
    assert.equal(again.json.message.id, first.json.message.id);
    assert.equal(again.json.message.body, text);
    assert.deepEqual(again.json.message.sent_by, { id: ctx.ids.cs, name: 'Pool ib_cs' });
    assertMessageShape(again.json.message);
    // a double tap: both at once, one message
    const key2 = `k-${process.pid}-${id}-2`;
    const both = await Promise.all([send({ text: 'Dua kali' }, key2), send({ text: 'Dua kali' }, key2)]);
    const st = both.map((r) => r.status).sort();
    assert.ok(st[0] === 200 || st[0] === 202, `double tap: ${st} ${both.map((r) => r.text)}`);
    assert.ok(['200,202', '202,409'].includes(st.join(',')), `one 202 and a replay (or duplicate_request): ${st}`);
    const dup = both.find((r) => r.status === 409);
    if (dup) assert.equal(dup.json.error.code, 'duplicate_request');
    // the same key with another body: refused, nothing queued
    const other = await send({ text: 'Teks lain' }, key);
    assert.equal(other.status, 422, other.text);
    assert.equal(other.json.error.code, 'idempotency_key_reused');
    const tpl = await send({ template: 'followup' }, key);
    assert.equal(tpl.status, 422, tpl.text);
    assert.equal(tpl.json.error.code, 'idempotency_key_reused');
    // keys are per user: the admin's same key is the admin's own message
    const admin = await send({ text }, key, ctx.admin);
    assert.equal(admin.status, 202, admin.text);
    assert.notEqual(admin.json.message.id, first.json.message.id);
    for (const bad of ['', 'a b', 'x'.repeat(65), 'kunci/1']) {
      const r = await send({ text: 'x' }, bad);
      assert.equal(r.status, 400, `key ${JSON.stringify(bad)}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'bad_idempotency_key');
    }
    // the window closes; a late retry of a stored reply still answers it
    await q(`UPDATE customers SET last_inbound_at = now() - interval '25 hours' WHERE id = ${id}`);
    const late = await send({ text }, key);
    assert.equal(late.status, 200, late.text);
    assert.equal(late.json.message.id, first.json.message.id);
    await q(`UPDATE customers SET last_inbound_at = now() WHERE id = ${id}`);

    assert.equal(await count(`SELECT count(*) FROM outbox WHERE customer_id = ${id} AND kind = 'wa.reply'`), 3);
    assert.equal(await count(`SELECT count(*) FROM audit_log WHERE entity = 'customer' AND entity_id = ${id} AND action = 'inbox.reply'`), 3);
    await waitFor(() => sentTo(phone).length >= 3, { timeout: 15000, what: 'three messages at the fake' });
    await sleep(800);
    assert.deepEqual(sentTo(phone).map((m) => m.payload.text.body).sort(), ['Dua kali', text, text].sort());
    // without a key every press is a message of its own, as before
    const a = await send({ text: 'tanpa kunci' });
    const b = await send({ text: 'tanpa kunci' });
    assert.equal(a.status, 202, a.text);
    assert.equal(b.status, 202, b.text);
    assert.notEqual(a.json.message.id, b.json.message.id);
  });

  it('the template names a customer whose name is only spaces "Pelanggan"', T, async () => {
    const phone = nextNumber();
    const old = Math.floor(Date.now() / 1000) - 30 * 3600;
    await deliver(wa.inboundText({ from: phone, name: 'Sementara', body: 'halo', timestamp: old }));
    const id = await customerOf(phone);
    await q(`UPDATE customers SET name = '   ' WHERE id = ${id}`);
    const t = await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages`, { template: 'followup' });
    assert.equal(t.status, 202, t.text);
    const req = await wa.waitForRequest((e) => e.api === 'messages' && e.json && e.json.to === phone, { timeoutMs: 10000 });
    const params = req.json.template.components.filter((c) => c.type === 'body').flatMap((c) => c.parameters);
    assert.deepEqual(params, [{ type: 'text', text: 'Pelanggan' }]);
    assert.equal(req.status, 200, JSON.stringify(req.reply));
  });

  it('q with a control character is 422, not every conversation', T, async () => {
    for (const qs of ['%00', 'Rina%00', 'a%01b', '%1B', 'ab%7F', 'Bu%09Rina']) {
      const r = await api(ctx.g, ctx.cs, 'GET', `/api/v1/inbox?q=${qs}`);
      assert.equal(r.status, 422, `q=${qs}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.equal(r.json.error.code, 'validation_failed');
    }
    // blanks around the query are trimmed as before
    const r = await api(ctx.g, ctx.cs, 'GET', '/api/v1/inbox?q=%09zzzz-nobody%0A');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.conversations.length, 0);
  });

  it('a message whose id was taken before a read but that committed after it is unread', T, async () => {
    const phone = nextNumber();
    await deliver(wa.inboundText({ from: phone, name: 'Bu Balapan', body: 'pesan pertama' }));
    const id = await customerOf(phone);
    // W1: wa_ingest has inserted its message (the id is taken) and not yet
    // set its customer (the statement that follows in the same transaction)
    const [[mid]] = await q(`INSERT INTO wa_messages (wa_id, direction, type, body, sender_phone, sent_at, status)
      VALUES ('wamid.race.${phone}', 'in', 'text', 'pesan lambat', '${phone}', now(), 'received') RETURNING id`);
    // W2: a later message, committed first
    await deliver(wa.inboundText({ from: phone, name: 'Bu Balapan', body: 'pesan cepat' }));
    const [[w2]] = await q(`SELECT max(id) FROM wa_messages WHERE customer_id = ${id}`);
    assert.ok(Number(w2) > Number(mid), 'the later message has the higher id');
    assert.equal((await conversation(id)).unread, 2);
    assert.equal((await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages/read`)).status, 204);
    assert.equal((await conversation(id)).unread, 0);
    const total = (await inbox()).unread_total;
    // W1 commits
    await q(`UPDATE wa_messages SET customer_id = ${id} WHERE id = ${mid}`);
    const c = await conversation(id);
    assert.equal(c.unread, 1, 'the late message is unread');
    assert.equal((await inbox()).unread_total, total + 1);
    assert.ok((await chat(id)).messages.some((m) => m.body === 'pesan lambat'));
    assert.equal((await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${id}/messages/read`)).status, 204);
    assert.equal((await conversation(id)).unread, 0);
  });

  it('a reply has no template_not_configured: gssd cannot run without the template', T, async () => {
    // config.c refuses an empty GSS_WA_TEMPLATE_FOLLOWUP at start, so the
    // contract's only 409s are window_closed (and duplicate_request).
    const spec = fs.readFileSync(path.join(SOURCE_DIR, 'docs/openapi.yaml'), 'utf8');
    const op = spec.slice(spec.indexOf('operationId: replyToCustomer'), spec.indexOf('/api/v1/customers/{id}/messages/read:'));
    assert.ok(op.length > 100, 'the operation is in the spec');
    assert.doesNotMatch(op, /template_not_configured/);
    assert.doesNotMatch(fs.readFileSync(path.join(SOURCE_DIR, 'docs/inbox.md'), 'utf8'), /template_not_configured/);
    assert.doesNotMatch(fs.readFileSync(path.join(SOURCE_DIR, 'src/http/handlers/inbox.c'), 'utf8'), /template_not_configured/);
  });

  it('sales and ts get 403 on every inbox route', T, async () => {
    const id = ctx.customers[0];
    const routes = [['GET', '/api/v1/inbox'], ['GET', `/api/v1/customers/${id}/messages`],
      ['POST', `/api/v1/customers/${id}/messages`, { text: 'hi' }], ['POST', `/api/v1/customers/${id}/messages/read`]];
    for (const [who, token] of [['sales', ctx.sales], ['ts', ctx.ts]]) {
      for (const [method, p, body] of routes) {
        const r = await api(ctx.g, token, method, p, body);
        assert.equal(r.status, 403, `${who} ${method} ${p}: ${r.status} ${r.text}`);
      }
    }
    assert.equal(await count(`SELECT count(*) FROM outbox WHERE customer_id = ${id}`), 0);
  });
});
