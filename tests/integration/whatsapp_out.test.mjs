// The customer's invoice message on WhatsApp and CS's view of a ticket's
// messages (issue 10, items 2 and 5; docs/whatsapp.md "Sending";
// db/migrations/0013_wa_out.sql, src/integrations/whatsapp.c,
// src/http/handlers/messages.c). Real gssd, PostgreSQL, Redis and libcurl
// against tests/fakes/whatsapp.mjs and telegram.mjs; invoices walked through
// the real API (money_util.mjs).
//
//   - window closed (the customer never wrote): the utility template with
//     the configured name and language, the name, number and total as body
//     parameters, and both URL buttons carrying the tokens the send answered;
//     the invoice URL opens (200);
//   - window open (the customer wrote through the webhook first): an
//     interactive cta_url whose button is the invoice URL and whose text
//     carries the rating URL; wrote 25 hours ago: the template again;
//   - a customer who hides the number (BSUID only): sent with "recipient";
//   - a message the fake refuses for good: failed, and GET
//     /tickets/{id}/messages shows it first with the reason; a Telegram
//     message to a technician who blocked the bot: unreachable, named by
//     the technician; the technicians' group named "Grup teknisi";
//   - who may read the messages (ts may not).
// Expected values are written here or come from the fakes, never from gssd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { psql, waitFor, http } from './harness.mjs';
import { api, getTicket } from './field_util.mjs';
import { moneySetup, workDone, draftInvoice, step, pub } from './money_util.mjs';
import { startWhatsAppFake } from '../fakes/whatsapp.mjs';
import { startTelegramFake } from '../fakes/telegram.mjs';

const PUBLIC = 'https://gss.test';
const WA_TOKEN = 'EAAwaouttest';
const PHONE_ID = '109876543210555';
const APP_SECRET = 'wa-out-app-secret';
const TG_TOKEN = '7000000009:AAwa-out-test_token';
const TS_CHAT = '-1009876543210';
const TEMPLATE = 'tagihan_layanan';

let wa;
let tg;
let ctx;

before(async () => {
  wa = await startWhatsAppFake({
    token: WA_TOKEN, phoneNumberId: PHONE_ID,
    templates: [{
      name: TEMPLATE, language: 'id', category: 'UTILITY', bodyParams: 3,
      buttons: [{ type: 'url', url: `${PUBLIC}/i/{{1}}` }, { type: 'url', url: `${PUBLIC}/r/{{1}}` }],
    }],
  });
  tg = await startTelegramFake({ token: TG_TOKEN, allowUrlHosts: ['gss.test'] });
  ctx = await moneySetup({
    techs: 8, tag: 'wo',
    env: {
      GSS_PUBLIC_URL: PUBLIC,
      GSS_WA_TOKEN: WA_TOKEN, GSS_WA_API_BASE: wa.apiBase, GSS_WA_PHONE_NUMBER_ID: PHONE_ID,
      GSS_WA_APP_SECRET: APP_SECRET, GSS_WA_VERIFY_TOKEN: 'vt',
      GSS_WA_TEMPLATE_INVOICE: TEMPLATE, GSS_WA_TEMPLATE_LANG: 'id',
      GSS_TELEGRAM_TOKEN: TG_TOKEN, GSS_TELEGRAM_API_BASE: tg.apiBase, GSS_TELEGRAM_TS_CHAT: TS_CHAT,
      GSS_OUTBOX_POLL_MS: 100, GSS_OUTBOX_BACKOFF_MS: 500, GSS_OUTBOX_MAX_ATTEMPTS: 3,
    },
  });
}, { timeout: 180000 });

after(async () => {
  if (wa) await wa.stop();
  if (tg) await tg.stop();
});

const q = (sql) => psql(ctx.database.url, sql);

async function customer(id) {
  const [[name, phone, uid]] = await q(`SELECT name, coalesce(phone, ''), coalesce(wa_user_id, '') FROM customers WHERE id = ${id}`);
  return { id, name, phone, uid };
}

/** An invoice of the sample items (total Rp 1.300.000) sent to customerId. */
async function sendTo(customerId) {
  const w = await workDone(ctx, { extra: { customer_id: customerId } });
  const d = await draftInvoice(ctx, w.ticket.id);
  await step(ctx, ctx.cs, d.id, 'submit');
  await step(ctx, ctx.sales, d.id, 'approve');
  const s = await step(ctx, ctx.cs, d.id, 'send');
  assert.equal(s.status, 'sent', JSON.stringify(s));
  return {
    ticket: w.ticket, invoice: s,
    invoiceToken: s.invoice_url.split('/').pop(), ratingToken: s.rating_url.split('/').pop(),
  };
}

async function outboxRow(invoiceId) {
  const rows = await q(`SELECT id, status, coalesce(last_error, ''), coalesce(provider_id, '') FROM outbox
    WHERE invoice_id = ${invoiceId} AND channel = 'whatsapp' AND kind = 'invoice.sent' ORDER BY id DESC LIMIT 1`);
  return rows.length ? { id: Number(rows[0][0]), status: rows[0][1], lastError: rows[0][2], wamid: rows[0][3] } : null;
}

async function waitRow(invoiceId, status, timeout = 15000) {
  let r;
  await waitFor(async () => { r = await outboxRow(invoiceId); return r && r.status === status; },
    { timeout, what: `outbox row of invoice ${invoiceId} ${status} (${JSON.stringify(r)})` });
  return r;
}

const sentTo = (pred) => wa.waitForRequest((e) => e.api === 'messages' && e.json && pred(e.json) && e.status === 200,
  { timeoutMs: 15000 });

test('window closed: the utility template, with the tokens as URL-button parameters', async () => {
  const c = await customer(ctx.customers[1]);
  const s = await sendTo(c.id);
  const req = await sentTo((b) => b.to === c.phone);
  const body = req.json;
  assert.equal(body.messaging_product, 'whatsapp');
  assert.equal(body.type, 'template', JSON.stringify(body));
  assert.equal(body.template.name, TEMPLATE);
  assert.equal(body.template.language.code, 'id');
  const rec = wa.message(req.reply.messages[0].id);
  assert.ok(rec, 'the fake accepted it');
  assert.deepEqual(rec.template.bodyParams, [c.name, s.invoice.number, 'Rp 1.300.000']);
  assert.equal(rec.template.buttons.length, 2);
  assert.equal(rec.template.buttons[0].url, `${PUBLIC}/i/${s.invoiceToken}`);
  assert.equal(rec.template.buttons[1].url, `${PUBLIC}/r/${s.ratingToken}`);
  // The URL the customer gets opens the invoice (the page is served by gssd).
  const page = await http(`${ctx.g.url}/i/${rec.template.buttons[0].url.split('/').pop()}`);
  assert.equal(page.status, 200, `GET /i/<token>: ${page.status}`);
  const got = await pub(ctx, 'GET', `/api/v1/public/invoices/${s.invoiceToken}`);
  assert.equal(got.status, 200, `the invoice behind the token: ${got.status} ${got.text}`);
  const row = await waitRow(s.invoice.id, 'sent');
  assert.equal(row.wamid, req.reply.messages[0].id, 'the wamid is kept for the statuses');
  // Nothing of the token is stored in the outbox.
  const stored = await q(`SELECT payload::text FROM outbox WHERE id = ${row.id}`);
  assert.ok(!stored[0][0].includes(s.invoiceToken) && !stored[0][0].includes(s.ratingToken), stored[0][0]);
});

test('window open: interactive cta_url with the invoice button and the rating link in the text', async () => {
  const c = await customer(ctx.customers[2]);
  const inbound = wa.inboundText({ from: c.phone, name: 'Nama Profil', body: 'Halo, tagihannya mana?' });
  const d = await wa.deliver(ctx.g.url, inbound, { appSecret: APP_SECRET });
  assert.equal(d.status, 200, d.text);
  const s = await sendTo(c.id);
  const req = await sentTo((b) => b.to === c.phone);
  const body = req.json;
  assert.equal(body.type, 'interactive', JSON.stringify(body));
  assert.equal(body.interactive.type, 'cta_url');
  assert.equal(body.interactive.action.name, 'cta_url');
  assert.equal(body.interactive.action.parameters.url, `${PUBLIC}/i/${s.invoiceToken}`);
  assert.equal(body.interactive.action.parameters.display_text, 'Lihat Tagihan');
  const text = body.interactive.body.text;
  assert.ok(text.includes(`${PUBLIC}/r/${s.ratingToken}`), text);
  assert.ok(text.includes(s.invoice.number) && text.includes('Rp 1.300.000'), text);
  assert.ok(text.includes(c.name), `CS's spelling of the name: ${text}`);
  await waitRow(s.invoice.id, 'sent');
});

test('the customer wrote 25 hours ago: the window is closed again, so the template', async () => {
  const c = await customer(ctx.customers[4]);
  const old = Math.floor((Date.now() - 25 * 3600 * 1000) / 1000);
  const d = await wa.deliver(ctx.g.url, wa.inboundText({ from: c.phone, name: 'Lama', body: 'halo', timestamp: old }),
    { appSecret: APP_SECRET });
  assert.equal(d.status, 200, d.text);
  const [[last]] = await q(`SELECT extract(epoch FROM last_inbound_at)::bigint FROM customers WHERE id = ${c.id}`);
  assert.equal(Number(last), old, 'the window clock is the message time');
  const s = await sendTo(c.id);
  const req = await sentTo((b) => b.to === c.phone);
  assert.equal(req.json.type, 'template', JSON.stringify(req.json));
  assert.equal(wa.message(req.reply.messages[0].id).template.buttons[0].url, `${PUBLIC}/i/${s.invoiceToken}`);
  await waitRow(s.invoice.id, 'sent');
});

test('a customer who hides the number is reached by the BSUID ("recipient")', async () => {
  const hidden = '6281399887766';
  const inbound = wa.inboundText({ from: hidden, name: 'Tanpa Nomor', body: 'AC saya bocor', hidePhone: true });
  const d = await wa.deliver(ctx.g.url, inbound, { appSecret: APP_SECRET });
  assert.equal(d.status, 200, d.text);
  const uid = wa.bsuid(hidden);
  const rows = await q(`SELECT id, coalesce(phone, '') FROM customers WHERE wa_user_id = '${uid}'`);
  assert.equal(rows.length, 1, 'the webhook made the customer');
  assert.equal(rows[0][1], '', 'no phone');
  const s = await sendTo(Number(rows[0][0]));
  const req = await sentTo((b) => b.recipient === uid);
  assert.equal(req.json.to, undefined, 'no "to" for a BSUID send');
  assert.equal(req.json.type, 'interactive', 'the window is open: the customer just wrote');
  assert.equal(req.json.interactive.action.parameters.url, `${PUBLIC}/i/${s.invoiceToken}`);
  assert.equal(wa.message(req.reply.messages[0].id).to, hidden, 'the fake delivered it to that number');
  await waitRow(s.invoice.id, 'sent');
});

test('CS sees failures on the ticket: a refused WhatsApp message and a technician who blocked the bot', async () => {
  const c = await customer(ctx.customers[3]);
  // Meta refuses this send for good (a bad parameter: no retry helps).
  const rule = wa.inject({
    method: 'messages', kind: 'error', status: 400, code: 131009,
    message: '(#131009) Parameter value is not valid', details: 'template parameter refused in this test',
    match: (e) => e.json && e.json.to === c.phone,
  });
  const s = await sendTo(c.id);
  const row = await waitRow(s.invoice.id, 'failed');
  assert.equal(rule.hits, 1, 'sent once: a permanent refusal is not retried');
  assert.match(row.lastError, /131009/);

  // Two Telegram messages of this ticket: to a technician who blocked the
  // bot, and to the technicians' group.
  const tech = ctx.techs[ctx.techs.length - 1];
  const chat = 880000000 + tech.id;
  await q(`UPDATE users SET telegram_chat_id = ${chat} WHERE id = ${tech.id}`);
  tg.startUser(chat);
  tg.blockBot(chat);
  const ins = async (target, text, key) => Number((await q(`INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id)
    VALUES ('telegram', 'test.note', '${target}', '${JSON.stringify({ method: 'sendMessage', params: { text } })}'::jsonb,
            'wo:${key}:${s.ticket.id}', ${s.ticket.id}) RETURNING id`))[0][0]);
  const blockedId = await ins(`tg:${chat}`, 'Jadwal berubah', 'blocked');
  const groupId = await ins(`tg:${TS_CHAT}`, 'Catatan untuk grup', 'group');
  await waitFor(async () => {
    const r = await q(`SELECT status FROM outbox WHERE id IN (${blockedId}, ${groupId}) ORDER BY id`);
    return r.length === 2 && r[0][0] === 'unreachable' && r[1][0] === 'sent';
  }, { timeout: 15000, what: 'the blocked row unreachable and the group row sent' });

  const r = await api(ctx.g, ctx.cs, 'GET', `/api/v1/tickets/${s.ticket.id}/messages`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ticket_id, s.ticket.id);
  const msgs = r.json.messages;
  const byId = new Map(msgs.map((m) => [m.id, m]));
  const wam = byId.get(row.id);
  assert.ok(wam, `the WhatsApp row is listed: ${r.text}`);
  assert.equal(wam.channel, 'whatsapp');
  assert.equal(wam.kind, 'invoice.sent');
  assert.equal(wam.status, 'failed');
  assert.equal(wam.recipient, c.name);
  assert.equal(wam.recipient_kind, 'customer');
  assert.match(wam.last_error, /131009/);
  assert.equal(wam.attempts, 1);
  assert.equal(wam.sent_at, null);
  assert.match(wam.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const bl = byId.get(blockedId);
  assert.equal(bl.status, 'unreachable');
  assert.equal(bl.recipient_kind, 'technician');
  const [[techName]] = await q(`SELECT name FROM users WHERE id = ${tech.id}`);
  assert.equal(bl.recipient, techName);
  assert.match(bl.last_error, /blocked/);
  const gr = byId.get(groupId);
  assert.equal(gr.status, 'sent');
  assert.equal(gr.recipient, 'Grup teknisi');
  assert.equal(gr.recipient_kind, 'group');
  assert.match(gr.sent_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  // failed and unreachable first, whatever their age
  const firstOk = msgs.findIndex((m) => m.status !== 'failed' && m.status !== 'unreachable');
  const lastBad = msgs.map((m) => m.status === 'failed' || m.status === 'unreachable').lastIndexOf(true);
  assert.ok(firstOk === -1 || lastBad < firstOk, `failures first: ${msgs.map((m) => m.status).join(', ')}`);
  for (const m of msgs) assert.equal(m.payload, undefined, 'no payload is shown');

  // Bookkeeping rows are not listed: a source row the sender already fanned
  // out (its per-recipient rows are listed instead) and an edit a later one
  // replaced. A source row still waiting is listed: it says why.
  const src = async (target, status, kind, key) => Number((await q(`INSERT INTO outbox (channel, kind, target,
      payload, idem_key, ticket_id, status) VALUES ('telegram', '${kind}', '${target}', '{}'::jsonb,
      'wo:${key}:${s.ticket.id}', ${s.ticket.id}, '${status}') RETURNING id`))[0][0]);
  const fanned = await src('role:technicians', 'sent', 'test.src', 'fanned');
  const superseded = await src(`tg:${TS_CHAT}`, 'cancelled', 'job.edit', 'superseded');
  const waiting = await src('role:sales', 'queued', 'test.src', 'waiting');
  const again = await api(ctx.g, ctx.cs, 'GET', `/api/v1/tickets/${s.ticket.id}/messages`);
  const ids = new Set(again.json.messages.map((m) => m.id));
  assert.ok(!ids.has(fanned), 'a fanned-out source row is not listed');
  assert.ok(!ids.has(superseded), 'a superseded edit is not listed');
  assert.ok(ids.has(waiting), 'a source row still queued is listed');
  assert.ok(ids.has(blockedId) && ids.has(groupId));
  await q(`DELETE FROM outbox WHERE id IN (${fanned}, ${superseded}, ${waiting})`);

  // Sales and admin read it too; a technician may not.
  assert.equal((await api(ctx.g, ctx.sales, 'GET', `/api/v1/tickets/${s.ticket.id}/messages`)).status, 200);
  assert.equal((await api(ctx.g, ctx.admin, 'GET', `/api/v1/tickets/${s.ticket.id}/messages`)).status, 200);
  const ts = await api(ctx.g, ctx.techs[0].token, 'GET', `/api/v1/tickets/${s.ticket.id}/messages`);
  assert.equal(ts.status, 403, ts.text);
  const none = await api(ctx.g, ctx.cs, 'GET', '/api/v1/tickets/987654321/messages');
  assert.equal(none.status, 404, none.text);
  assert.equal(none.json.error.code, 'not_found');
  const t = await getTicket(ctx.g, ctx.cs, s.ticket.id);
  assert.equal(t.id, s.ticket.id);
});
