// Handlers hurry the senders (issue 10; src/http/services.h outbox and
// wa_media): a real gssd whose outbox sender and photo fetcher poll only
// once a minute (GSS_OUTBOX_POLL_MS 60000), the WhatsApp fake as Meta. What
// leaves within seconds anyway was kicked by the handler after its COMMIT:
//   - a CS reply from the inbox (inbox.c: outbox_kick);
//   - the customer's invoice message of a send (invoice_send.c: outbox_kick);
//   - an incoming photo, fetched (hooks_whatsapp.c: wa_media_kick).
// Expected values are written here, never read from gssd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { psql, waitFor } from './harness.mjs';
import { api } from './field_util.mjs';
import { moneySetup, workDone, draftInvoice, step } from './money_util.mjs';
import { startWhatsAppFake } from '../fakes/whatsapp.mjs';

const PUBLIC = 'https://gss.test';
const WA_TOKEN = 'EAAkicktest';
const PHONE_ID = '109876543210777';
const APP_SECRET = 'wa-kick-app-secret';
const TEMPLATE = 'tagihan_layanan';
const POLL_MS = 60000;
const SOON_MS = 5000; // well inside one poll: only a kick explains it

let wa, ctx;

before(async () => {
  wa = await startWhatsAppFake({
    token: WA_TOKEN, phoneNumberId: PHONE_ID, pairGapMs: 0,
    templates: [{
      name: TEMPLATE, language: 'id', category: 'UTILITY', bodyParams: 3,
      buttons: [{ type: 'url', url: `${PUBLIC}/i/{{1}}` }, { type: 'url', url: `${PUBLIC}/r/{{1}}` }],
    }],
  });
  ctx = await moneySetup({
    techs: 4, tag: 'ok',
    env: {
      GSS_PUBLIC_URL: PUBLIC,
      GSS_WA_TOKEN: WA_TOKEN, GSS_WA_API_BASE: wa.apiBase, GSS_WA_PHONE_NUMBER_ID: PHONE_ID,
      GSS_WA_APP_SECRET: APP_SECRET, GSS_WA_VERIFY_TOKEN: 'vt',
      GSS_WA_TEMPLATE_INVOICE: TEMPLATE, GSS_WA_TEMPLATE_LANG: 'id',
      GSS_OUTBOX_POLL_MS: String(POLL_MS),
    },
  });
}, { timeout: 180000 });

after(async () => {
  if (wa) await wa.stop();
});

const q = (sql) => psql(ctx.database.url, sql);

async function customer(id) {
  const [[name, phone]] = await q(`SELECT name, coalesce(phone, '') FROM customers WHERE id = ${id}`);
  assert.ok(phone, `customer ${id} has a phone`);
  return { id, name, phone };
}

/** The first accepted Cloud API message pred matches, within SOON_MS of t0. */
async function sentSoon(pred, t0, what) {
  const req = await wa.waitForRequest((e) => e.api === 'messages' && e.json && pred(e.json) && e.status === 200,
    { timeoutMs: SOON_MS }).catch((e) => { throw new Error(`${what}: ${e.message} (the sender polls every ${POLL_MS} ms)`); });
  const ms = Date.now() - t0;
  assert.ok(ms < SOON_MS, `${what}: left after ${ms} ms`);
  return req;
}

test('a CS reply from the inbox leaves at once, not at the next poll', { timeout: 60000 }, async () => {
  const c = await customer(ctx.customers[1]);
  const d = await wa.deliver(ctx.g.url, wa.inboundText({ from: c.phone, name: 'Pelanggan', body: 'Halo, AC saya bocor' }),
    { appSecret: APP_SECRET });
  assert.equal(d.status, 200, d.text);
  const text = `Baik, teknisi kami segera datang (${crypto.randomUUID()})`;
  const t0 = Date.now();
  const r = await api(ctx.g, ctx.cs, 'POST', `/api/v1/customers/${c.id}/messages`, { text });
  assert.equal(r.status, 202, r.text);
  const req = await sentSoon((b) => b.to === c.phone && b.text && b.text.body === text, t0, 'the reply');
  assert.equal(req.json.type, 'text');
});

test('the invoice message of a send leaves at once', { timeout: 120000 }, async () => {
  const c = await customer(ctx.customers[2]);
  const w = await workDone(ctx, { extra: { customer_id: c.id } });
  const d = await draftInvoice(ctx, w.ticket.id);
  await step(ctx, ctx.cs, d.id, 'submit');
  await step(ctx, ctx.sales, d.id, 'approve');
  const t0 = Date.now();
  const s = await step(ctx, ctx.cs, d.id, 'send');
  assert.equal(s.status, 'sent', JSON.stringify(s));
  const req = await sentSoon((b) => b.to === c.phone, t0, 'the invoice message');
  assert.equal(req.json.type, 'template', JSON.stringify(req.json));
  assert.equal(req.json.template.name, TEMPLATE);
});

test('an incoming photo is fetched at once', { timeout: 60000 }, async () => {
  const from = `62813${String(process.pid % 10000).padStart(4, '0')}9001`;
  const bytes = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]),
    crypto.randomBytes(2048), Buffer.from([0xff, 0xd9])]);
  const payload = wa.inboundImage({ from, name: 'Pelanggan Foto', bytes, mimeType: 'image/jpeg' });
  const wamid = payload.entry[0].changes[0].value.messages[0].id;
  const t0 = Date.now();
  const r = await wa.deliver(ctx.g.url, payload, { appSecret: APP_SECRET });
  assert.equal(r.status, 200, r.text);
  let st;
  await waitFor(async () => {
    const rows = await q(`SELECT coalesce(media_status, ''), coalesce(media_error, '') FROM wa_messages
      WHERE wa_id = '${wamid.replace(/'/g, "''")}'`);
    st = rows.length ? rows[0] : null;
    return st && st[0] !== 'pending';
  }, { timeout: SOON_MS, what: `the photo ${wamid} leaving pending (the fetcher polls every ${POLL_MS} ms)` });
  assert.deepEqual(st, ['stored', '']);
  assert.ok(Date.now() - t0 < SOON_MS + 1000);
});
