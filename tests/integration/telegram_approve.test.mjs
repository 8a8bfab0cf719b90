// Sales' approval inside Telegram (issue 10, item 4; docs/telegram.md
// "Sales' approval"): real gssd, PostgreSQL, Redis, and the outbox's
// libcurl against the strict Telegram fake of tests/fakes/.
//
//   - submit with a linked Sales: the fan-out turns the role:sales row into
//     one message to the Sales' private chat, "Draft Invoice Menunggu
//     Approval" in HTML the fake's parser accepts, with [Approve]
//     (callback_data ap:<id>:<version>, at most 64 bytes) and [Lihat /
//     Revisi] (<GSS_PUBLIC_URL>/invoices/<id>);
//   - a press by a Telegram user linked to no account: answered, nothing
//     changes;
//   - the Sales' press: approved (GET shows it, approved_by the Sales), the
//     press answered, one approve row in the history, the message edited
//     without its Approve button, invoice.updated on a CS board;
//   - the press again: answered "sudah disetujui", nothing changes;
//   - a button of an older version: answered "sudah berubah", nothing changes;
//   - a linked technician's press: refused; nobody linked: the row waits,
//     saying why, and is cancelled once the invoice moves on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import WebSocket from 'ws';

import { psql, sleep } from './harness.mjs';
import { moneySetup, workDone, draftInvoice, step, api } from './money_util.mjs';
import { startTelegramFake } from '../fakes/telegram.mjs';

const TOKEN = '7000000002:AAtgapprove-test_token';
const SECRET = 'approve-Secret_0123456789';
const PUBLIC = 'https://gss.example.com'; // a public host: Telegram (and the fake) refuse buttons to others

let tg, ctx, g;
let nextTgUser = 7200000000 + (process.pid % 100000) * 100;
const tgUser = (first_name) => ({ id: ++nextTgUser, first_name });
let sales; // the Telegram user linked to ctx's Sales account

async function scalar(sql) {
  const r = await psql(g.database.url, sql);
  return r.length ? r[0][0] : null;
}

async function getInvoice(id) {
  const r = await api(g, ctx.cs, 'GET', `/api/v1/invoices/${id}`);
  assert.equal(r.status, 200, `GET invoice ${id}: ${r.status} ${r.text}`);
  return r.json;
}

/** A CS board socket: resolves {next(pred, ms)} once open; next waits for
 *  the first message since the last one taken that pred accepts. */
function boardSocket(token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${g.port}/api/v1/ws`, {
      headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false,
    });
    const got = [];
    ws.on('message', (d) => { try { got.push(JSON.parse(d.toString('utf8'))); } catch { /* not ours */ } });
    ws.on('error', reject);
    ws.on('open', () => resolve({
      async next(pred, ms = 5000) {
        const until = Date.now() + ms;
        for (;;) {
          const m = got.find(pred);
          if (m || Date.now() > until) return m || null;
          await sleep(25);
        }
      },
      close() { ws.terminate(); },
    }));
  });
}

/** Waits until the fake holds the bot's answer to the press. */
async function answerOf(upd, ms = 10000) {
  const until = Date.now() + ms;
  for (;;) {
    const a = tg.callbackAnswer(upd);
    if (a) return a;
    if (Date.now() > until) assert.fail(`no answerCallbackQuery for update ${upd.update_id} in ${ms} ms`);
    await sleep(50);
  }
}

async function deliver(upd) {
  const r = await tg.deliverUpdate(g.url, upd, { secret: SECRET });
  assert.equal(r.status, 200, `update ${upd.update_id}: ${r.status} ${r.text}`);
  assert.deepEqual(r.json, { ok: true });
  return r;
}

/** A pending_approval invoice and the approval message the Sales got. */
async function submitted() {
  const w = await workDone(ctx);
  const d = await draftInvoice(ctx, w.ticket.id);
  await step(ctx, ctx.cs, d.id, 'submit');
  const inv = await getInvoice(d.id);
  assert.equal(inv.status, 'pending_approval');
  const req = await tg.waitForRequest((e) => /^sendmessage$/i.test(e.api) && e.params
    && String(e.params.chat_id) === String(sales.id) && e.status === 200
    && String(e.params.text || '').includes(inv.number), { timeoutMs: 10000 }).catch(async (e) => {
    const rows = await psql(g.database.url, `SELECT id, kind, target, status, provider_id, last_error FROM outbox
      WHERE invoice_id = ${inv.id} ORDER BY id`);
    throw new Error(`${e.message}; the invoice's outbox rows: ${JSON.stringify(rows)}`);
  });
  return { inv, msgId: req.reply.result.message_id };
}

async function approveRows(id) {
  return scalar(`SELECT count(*) FROM invoice_history WHERE invoice_id = ${id} AND action = 'approve'`);
}

before(async () => {
  tg = await startTelegramFake({ token: TOKEN });
  ctx = await moneySetup({
    tag: 'tga', techs: 8,
    env: {
      GSS_TELEGRAM_TOKEN: TOKEN, GSS_TELEGRAM_API_BASE: tg.apiBase, GSS_TELEGRAM_BOT_USERNAME: 'gss_test_bot',
      GSS_TELEGRAM_WEBHOOK_SECRET: SECRET, GSS_OUTBOX_POLL_MS: '100', GSS_PUBLIC_URL: `${PUBLIC}/`,
    },
  });
  g = ctx.g;
  // link the Sales account: /start <code> in the private chat
  sales = tgUser('Sales');
  const c = await api(g, ctx.sales, 'POST', '/api/v1/me/telegram-link');
  assert.equal(c.status, 201, c.text);
  await deliver(tg.startUpdate({ user: sales, code: c.json.code }));
  assert.equal(await scalar(`SELECT telegram_id FROM users WHERE id = ${ctx.ids.sales}`), String(sales.id));
}, { timeout: 120000 });

after(async () => {
  if (g) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
  if (tg) await tg.stop();
});

test('submit → the Sales gets the approval message; presses: a stranger, the Sales, the Sales again', { timeout: 120000 }, async () => {
  const { inv, msgId } = await submitted();
  // the message: HTML the fake parsed, the two buttons
  const m = tg.message(sales.id, msgId);
  assert.ok(m, 'the fake holds the message');
  assert.match(m.text, /Draft Invoice Menunggu Approval/);
  assert.ok(m.text.includes(inv.number), m.text);
  assert.ok(m.text.includes('Rp 1.350.000'), `the subtotal as Rupiah: ${m.text}`);
  const btns = tg.buttons(sales.id, msgId);
  const approve = btns.find((b) => b.callback_data !== undefined);
  const view = btns.find((b) => b.url !== undefined);
  assert.ok(approve && view, JSON.stringify(btns));
  assert.equal(approve.callback_data, `ap:${inv.id}:${inv.version}`);
  assert.ok(Buffer.byteLength(approve.callback_data) <= 64);
  assert.equal(view.url, `${PUBLIC}/invoices/${inv.id}`);
  // the source row: fanned out to one account, and the per-Sales row sent
  assert.equal(await scalar(`SELECT status || ' ' || provider_id FROM outbox WHERE invoice_id = ${inv.id}
    AND target = 'role:sales'`), 'sent fanout:1');
  assert.equal(await scalar(`SELECT count(*) FROM outbox WHERE invoice_id = ${inv.id}
    AND target = 'tg:${sales.id}' AND status = 'sent'`), '1');

  // a Telegram user linked to no account presses: answered, nothing changes
  const stranger = tgUser('Orang Lain');
  const u0 = tg.pressButton({ chatId: sales.id, messageId: msgId, from: stranger, data: approve.callback_data });
  await deliver(u0);
  assert.equal((await answerOf(u0)).text, 'Akun Telegram Anda belum terhubung ke akun Sales');
  assert.equal((await getInvoice(inv.id)).status, 'pending_approval');
  assert.equal(await approveRows(inv.id), '0');

  // the Sales presses: approved, answered, one history row, the message
  // edited, and the boards told (invoice.updated, as the API does it)
  const board = await boardSocket(ctx.cs);
  const u1 = tg.pressButton({ chatId: sales.id, messageId: msgId, from: sales, data: approve.callback_data });
  const r1 = await deliver(u1);
  const ev = await board.next((m) => m.type === 'invoice.updated' && m.data && m.data.id === inv.id);
  board.close();
  assert.deepEqual(ev, { type: 'invoice.updated',
    data: { id: inv.id, ticket_id: inv.ticket.id, number: inv.number, status: 'approved', action: 'approve' } });
  assert.ok(r1.ms < 2000, `answered in ${r1.ms} ms`);
  const after1 = await getInvoice(inv.id);
  assert.equal(after1.status, 'approved');
  assert.equal(after1.approved_by && after1.approved_by.id, ctx.ids.sales);
  assert.equal((await answerOf(u1)).text, `Invoice ${inv.number} disetujui`);
  assert.equal(await approveRows(inv.id), '1');
  await tg.waitForRequest((e) => /^editmessagetext$/i.test(e.api) && e.params
    && Number(e.params.message_id) === msgId && e.status === 200, { timeoutMs: 10000 });
  const edited = tg.message(sales.id, msgId);
  assert.match(edited.text, /✅ Disetujui oleh /);
  assert.ok(edited.text.includes(inv.number), edited.text);
  const left = tg.buttons(sales.id, msgId);
  assert.equal(left.filter((b) => b.callback_data !== undefined).length, 0, 'no Approve button after the edit');
  assert.deepEqual(left.map((b) => b.url), [`${PUBLIC}/invoices/${inv.id}`]);

  // the same update delivered again: done once (no second answer is queued)
  await deliver(u1);
  // a second press (an older client still showing the button): "sudah", nothing changes
  const u2 = tg.pressButton({ chatId: sales.id, messageId: msgId, from: sales, data: approve.callback_data, forge: true });
  await deliver(u2);
  assert.match((await answerOf(u2)).text, /sudah disetujui/);
  assert.equal(await approveRows(inv.id), '1');
  assert.equal((await getInvoice(inv.id)).approved_at, after1.approved_at);
  await sleep(500);
  assert.equal(await scalar(`SELECT count(*) FROM outbox WHERE idem_key LIKE 'telegram:update:${u1.update_id}:%'`), '2',
    'one answer and one edit for the press');
});

test('a button of an older version answers that the invoice changed, and changes nothing', { timeout: 120000 }, async () => {
  const { inv, msgId } = await submitted();
  // Revise, edit, submit again: the invoice is pending at the next version.
  await step(ctx, ctx.sales, inv.id, 'revise', { note: 'Diskon dihapus' });
  const p = await api(g, ctx.cs, 'PATCH', `/api/v1/invoices/${inv.id}`, { discount: 0 });
  assert.equal(p.status, 200, p.text);
  await step(ctx, ctx.cs, inv.id, 'submit');
  const now = await getInvoice(inv.id);
  assert.equal(now.status, 'pending_approval');
  assert.notEqual(now.version, inv.version);
  const u = tg.pressButton({ chatId: sales.id, messageId: msgId, from: sales, data: `ap:${inv.id}:${inv.version}` });
  await deliver(u);
  assert.equal((await answerOf(u)).text, 'Invoice sudah berubah, buka di web');
  assert.equal((await getInvoice(inv.id)).status, 'pending_approval');
  assert.equal(await approveRows(inv.id), '0');
});

test('a linked technician\'s press is refused; with no linked Sales the row waits, saying why', { timeout: 120000 }, async () => {
  const { inv, msgId } = await submitted();
  // a technician linked to Telegram is no Sales: answered, nothing changes
  const tech = ctx.tech();
  const who = tgUser('Teknisi');
  const c = await api(g, tech.token, 'POST', '/api/v1/me/telegram-link');
  assert.equal(c.status, 201, c.text);
  await deliver(tg.startUpdate({ user: who, code: c.json.code }));
  const u = tg.pressButton({ chatId: sales.id, messageId: msgId, from: who, data: `ap:${inv.id}:${inv.version}` });
  await deliver(u);
  assert.equal((await answerOf(u)).text, 'Hanya akun Sales yang dapat menyetujui invoice');
  assert.equal((await getInvoice(inv.id)).status, 'pending_approval');
  assert.equal(await approveRows(inv.id), '0');

  // nobody linked (the Sales' chat taken away behind the server's back):
  // the next submission's row stays queued with the reason, nothing sent
  const chat = await scalar(`SELECT telegram_chat_id FROM users WHERE id = ${ctx.ids.sales}`);
  await psql(g.database.url, `UPDATE users SET telegram_chat_id = NULL WHERE id = ${ctx.ids.sales}`);
  try {
    const w = await workDone(ctx);
    const d = await draftInvoice(ctx, w.ticket.id);
    await step(ctx, ctx.cs, d.id, 'submit');
    const until = Date.now() + 10000;
    let row;
    for (;;) {
      row = await psql(g.database.url, `SELECT status, coalesce(last_error, '') FROM outbox
        WHERE invoice_id = ${d.id} AND target = 'role:sales'`);
      if (row[0][1].startsWith('no linked Sales account') || Date.now() > until) break;
      await sleep(100);
    }
    assert.deepEqual(row[0], ['queued', 'no linked Sales account: waiting for a Sales to link Telegram']);
    assert.equal(await scalar(`SELECT count(*) FROM outbox WHERE invoice_id = ${d.id} AND target LIKE 'tg:%'`), '0');
    // the invoice moves on (approved on the web): the parked row is cancelled at its next look
    await step(ctx, ctx.sales, d.id, 'approve');
    await psql(g.database.url, `UPDATE outbox SET next_attempt_at = now() WHERE invoice_id = ${d.id} AND target = 'role:sales'`);
    const until2 = Date.now() + 10000;
    for (;;) {
      row = await psql(g.database.url, `SELECT status, coalesce(last_error, '') FROM outbox
        WHERE invoice_id = ${d.id} AND target = 'role:sales'`);
      if (row[0][0] !== 'queued' || Date.now() > until2) break;
      await sleep(100);
    }
    assert.deepEqual(row[0], ['cancelled', `the invoice is no longer waiting for approval at version ${d.version}`]);
  } finally {
    await psql(g.database.url, `UPDATE users SET telegram_chat_id = ${chat} WHERE id = ${ctx.ids.sales}`);
  }
});
