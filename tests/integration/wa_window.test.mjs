// A WhatsApp message that waited past the customer's 24-hour window
// (docs/whatsapp.md "Sending", "The 24-hour window";
// db/migrations/0019_wa_fixes.sql, src/integrations/outbox_channels.c
// wa_classify). gssd renders a row "window open" from
// customers.last_inbound_at; Meta (tests/fakes/whatsapp.mjs, which enforces
// the window on its own clock) has the window closed by the time the
// message arrives, and says 131047 either in the API answer or, having
// accepted the message, in a 'failed' status webhook (asyncErrors). Both
// ways:
//   - the invoice message (an interactive cta_url) is sent again as the
//     utility template, using up no attempt, and ends sent;
//   - CS's free-text reply fails with a last_error the inbox shows CS:
//     "window_closed: jendela 24 jam sudah tertutup saat dikirim; kirim template".
// Expected values are written here or come from the fake, never from gssd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { psql, waitFor } from './harness.mjs';
import { api } from './field_util.mjs';
import { moneySetup, workDone, draftInvoice, step } from './money_util.mjs';
import { startWhatsAppFake } from '../fakes/whatsapp.mjs';

const PUBLIC = 'https://gss.test';
const WA_TOKEN = 'EAAwawindowtest';
const PHONE_ID = '109876543210777';
const APP_SECRET = 'wa-window-app-secret';
const TEMPLATE = 'tagihan_layanan';
const CLOSED = 'window_closed: jendela 24 jam sudah tertutup saat dikirim; kirim template';
const DAY = 24 * 3600 * 1000;

let wa;
let ctx;

before(async () => {
  wa = await startWhatsAppFake({
    token: WA_TOKEN, phoneNumberId: PHONE_ID,
    templates: [{
      name: TEMPLATE, language: 'id', category: 'UTILITY', bodyParams: 3,
      buttons: [{ type: 'url', url: `${PUBLIC}/i/{{1}}` }, { type: 'url', url: `${PUBLIC}/r/{{1}}` }],
    }],
  });
  ctx = await moneySetup({
    techs: 8, tag: 'ww',
    env: {
      GSS_PUBLIC_URL: PUBLIC,
      GSS_WA_TOKEN: WA_TOKEN, GSS_WA_API_BASE: wa.apiBase, GSS_WA_PHONE_NUMBER_ID: PHONE_ID,
      GSS_WA_APP_SECRET: APP_SECRET, GSS_WA_VERIFY_TOKEN: 'vt',
      GSS_WA_TEMPLATE_INVOICE: TEMPLATE, GSS_WA_TEMPLATE_LANG: 'id',
      GSS_OUTBOX_POLL_MS: 100, GSS_OUTBOX_BACKOFF_MS: 500, GSS_OUTBOX_MAX_ATTEMPTS: 3,
    },
  });
}, { timeout: 180000 });

after(async () => {
  if (wa) await wa.stop();
});

const q = (sql) => psql(ctx.database.url, sql);

async function phoneOf(id) {
  const [[phone]] = await q(`SELECT phone FROM customers WHERE id = ${id}`);
  return phone;
}

/** The customer writes (our window and the fake's open), then the fake's
 *  window alone closes: Meta's clock has moved on, ours not yet. */
async function wroteButMetaClosed(customerId) {
  const phone = await phoneOf(customerId);
  const d = await wa.deliver(ctx.g.url, wa.inboundText({ from: phone, name: 'Pelanggan', body: 'Halo, tagihannya?' }),
    { appSecret: APP_SECRET });
  assert.equal(d.status, 200, d.text);
  wa.setLastInbound(phone, wa.clock.now() - DAY - 60000);
  return phone;
}

async function sendInvoice(customerId) {
  const w = await workDone(ctx, { extra: { customer_id: customerId } });
  const d = await draftInvoice(ctx, w.ticket.id);
  await step(ctx, ctx.cs, d.id, 'submit');
  await step(ctx, ctx.sales, d.id, 'approve');
  const s = await step(ctx, ctx.cs, d.id, 'send');
  assert.equal(s.status, 'sent', JSON.stringify(s));
  return s;
}

async function row(where) {
  const rows = await q(`SELECT id, status, attempts, coalesce(last_error, ''), coalesce(provider_id, ''), payload::text
    FROM outbox WHERE channel = 'whatsapp' AND ${where} ORDER BY id DESC LIMIT 1`);
  if (!rows.length) return null;
  const [id, status, attempts, lastError, wamid, payload] = rows[0];
  return { id: Number(id), status, attempts: Number(attempts), lastError, wamid, payload: JSON.parse(payload) };
}

async function waitRow(where, pred, what, timeout = 20000) {
  let r;
  await waitFor(async () => { r = await row(where); return r && pred(r); },
    { timeout, what: `${what} (${JSON.stringify(r)})` });
  return r;
}

const toPhone = (phone) => wa.requests.filter((e) => e.api === 'messages' && e.json && e.json.to === phone && e.status);

/** The status webhooks the fake holds back (asyncErrors, no webhook set) for wamid, delivered to gssd. */
async function deliverStatuses(wamid) {
  const mine = wa.pendingStatuses.filter((p) => p.entry[0].changes[0].value.statuses.some((s) => s.id === wamid));
  assert.ok(mine.length >= 1, `a status is held for ${wamid}`);
  for (const p of mine) {
    const r = await wa.deliver(ctx.g.url, p, { appSecret: APP_SECRET });
    assert.equal(r.status, 200, r.text);
  }
}

test('invoice message refused with 131047 in the answer: sent again as the template, no attempt used', async () => {
  const cid = ctx.customers[1];
  const phone = await wroteButMetaClosed(cid);
  const s = await sendInvoice(cid);
  const where = `invoice_id = ${s.id} AND kind = 'invoice.sent'`;
  const r = await waitRow(where, (x) => x.status !== 'queued', 'the invoice message settled', 30000);
  assert.equal(r.status, 'sent', r.lastError);
  const reqs = toPhone(phone);
  assert.deepEqual(reqs.map((e) => [e.json.type, e.status]), [['interactive', 400], ['template', 200]]);
  assert.equal(reqs[0].reply.error.code, 131047);
  assert.equal(reqs[1].json.template.name, TEMPLATE);
  assert.equal(r.wamid, reqs[1].reply.messages[0].id);
  assert.equal(r.attempts, 1, 'the refused send used no attempt');
  assert.equal(r.payload.window_closed, true);
  assert.equal(r.payload.invoice_link_id !== undefined, true, 'the stored payload keeps its ids');
});

test('invoice message failed by a 131047 status webhook: queued again and sent as the template', async () => {
  const cid = ctx.customers[2];
  const phone = await wroteButMetaClosed(cid);
  wa.asyncErrors = true;
  try {
    const s = await sendInvoice(cid);
    const where = `invoice_id = ${s.id} AND kind = 'invoice.sent'`;
    const first = await waitRow(where, (x) => x.status === 'sent', 'the cta_url accepted');
    const [req] = toPhone(phone);
    assert.equal(req.json.type, 'interactive');
    assert.equal(first.wamid, req.reply.messages[0].id);
    await deliverStatuses(first.wamid);
    const r = await waitRow(where, (x) => x.status === 'sent' && x.wamid && x.wamid !== first.wamid,
      'sent again under a new wamid', 30000);
    const reqs = toPhone(phone);
    assert.deepEqual(reqs.map((e) => [e.json.type, e.status]), [['interactive', 200], ['template', 200]]);
    assert.equal(r.wamid, reqs[1].reply.messages[0].id);
    assert.equal(r.payload.window_closed, true);
    const [[ds]] = await q(`SELECT coalesce(delivery_status, 'none') FROM outbox WHERE id = ${r.id}`);
    assert.notEqual(ds, 'failed', 'the refused message\'s status is not the template\'s');
  } finally {
    wa.asyncErrors = false;
  }
});

async function reply(cid, text) {
  const r = await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${cid}/messages`, { text });
  assert.equal(r.status, 202, r.text);
}

async function shownToCs(cid) {
  const r = await api(ctx.g, ctx.cs, 'GET', `/api/v1/customers/${cid}/messages`);
  assert.equal(r.status, 200, r.text);
  return r.json.messages.filter((m) => m.direction === 'out');
}

test('CS reply refused with 131047 in the answer: failed, and the inbox says why', async () => {
  const cid = ctx.customers[3];
  const phone = await wroteButMetaClosed(cid);
  await reply(cid, 'Baik Bu, teknisi datang besok pagi.');
  const r = await waitRow(`customer_id = ${cid} AND kind = 'wa.reply'`, (x) => x.status !== 'queued', 'the reply settled');
  assert.equal(r.status, 'failed');
  assert.ok(r.lastError.startsWith(CLOSED), r.lastError);
  assert.match(r.lastError, /131047/);
  assert.equal(toPhone(phone).length, 1, 'not retried');
  const [m] = (await shownToCs(cid)).slice(-1);
  assert.equal(m.status, 'failed');
  assert.ok(m.error.startsWith(CLOSED), m.error);
});

test('CS reply failed by a 131047 status webhook: failed, and the inbox says why', async () => {
  const cid = ctx.customers[4];
  const phone = await wroteButMetaClosed(cid);
  wa.asyncErrors = true;
  try {
    await reply(cid, 'Baik Pak, kami cek dulu.');
    const where = `customer_id = ${cid} AND kind = 'wa.reply'`;
    const sent = await waitRow(where, (x) => x.status === 'sent', 'the reply accepted');
    assert.equal(toPhone(phone).length, 1);
    await deliverStatuses(sent.wamid);
    const r = await waitRow(where, (x) => x.status === 'failed', 'the reply failed by the status');
    assert.ok(r.lastError.startsWith(CLOSED), r.lastError);
    assert.match(r.lastError, /131047/);
    const [m] = (await shownToCs(cid)).slice(-1);
    assert.equal(m.status, 'failed');
    assert.ok(m.error.startsWith(CLOSED), m.error);
    assert.equal(toPhone(phone).length, 1, 'not sent again');
  } finally {
    wa.asyncErrors = false;
  }
});
