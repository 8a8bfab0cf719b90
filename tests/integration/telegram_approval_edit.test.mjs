// Sales' approval messages that outlive their question (issue 10;
// db/migrations/0016_approval_edits.sql, docs/telegram.md "Sales'
// approval"): real gssd, PostgreSQL, Redis, and the outbox's libcurl
// against the strict Telegram fake of tests/fakes/.
//
// Two accounts that may approve (the Sales and the admin) are linked, so
// every submission sends two "Draft Invoice Menunggu Approval" messages.
//   - approved on the web: both messages are edited ("✅ Disetujui oleh
//     <Sales> (web)"), without the Approve button, the Lihat / Revisi
//     button kept;
//   - a revision requested on the web: both say "↩️ Revisi diminta oleh
//     <Sales>: <note>", the note HTML-escaped (the fake parses the HTML: a
//     stray '<' would fail the whole edit);
//   - the Sales' own press in Telegram: the pressed message is edited once
//     (by the press), the admin's says "(Telegram)";
//   - a new version while pending (written behind the server's back, as
//     no API path does it): "Diganti versi baru".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { psql, sleep } from './harness.mjs';
import { moneySetup, workDone, draftInvoice, step, api } from './money_util.mjs';
import { startTelegramFake } from '../fakes/telegram.mjs';

const TOKEN = '7000000003:AAtgapproval-edit_token';
const SECRET = 'approvalEdit-Secret_0123456789';
const PUBLIC = 'https://gss.example.com'; // a public host: Telegram (and the fake) refuse buttons to others

let tg, ctx, g;
let nextTgUser = 7300000000 + (process.pid % 100000) * 100;
const tgUser = (first_name) => ({ id: ++nextTgUser, first_name });
let sales, admin; // the Telegram users linked to ctx's Sales and admin accounts
let salesName;

async function scalar(sql) {
  const r = await psql(g.database.url, sql);
  return r.length ? r[0][0] : null;
}

async function getInvoice(id) {
  const r = await api(g, ctx.cs, 'GET', `/api/v1/invoices/${id}`);
  assert.equal(r.status, 200, `GET invoice ${id}: ${r.status} ${r.text}`);
  return r.json;
}

async function deliver(upd) {
  const r = await tg.deliverUpdate(g.url, upd, { secret: SECRET });
  assert.equal(r.status, 200, `update ${upd.update_id}: ${r.status} ${r.text}`);
  assert.deepEqual(r.json, { ok: true });
  return r;
}

async function link(token, user) {
  const c = await api(g, token, 'POST', '/api/v1/me/telegram-link');
  assert.equal(c.status, 201, c.text);
  await deliver(tg.startUpdate({ user, code: c.json.code }));
}

async function outboxRows(id) {
  return psql(g.database.url, `SELECT id, kind, target, status, provider_id, last_error FROM outbox
    WHERE invoice_id = ${id} ORDER BY id`);
}

/** The approval message of invoice inv sent into chat (waits for it). */
async function approvalMessage(inv, chat) {
  const req = await tg.waitForRequest((e) => /^sendmessage$/i.test(e.api) && e.params
    && String(e.params.chat_id) === String(chat) && e.status === 200
    && String(e.params.text || '').includes('Menunggu Approval')
    && String(e.params.text || '').includes(inv.number), { timeoutMs: 10000 }).catch(async (e) => {
    throw new Error(`${e.message}; the invoice's outbox rows: ${JSON.stringify(await outboxRows(inv.id))}`);
  });
  return req.reply.result.message_id;
}

/** A pending_approval invoice and the two approval messages. */
async function submitted() {
  const w = await workDone(ctx);
  const d = await draftInvoice(ctx, w.ticket.id);
  await step(ctx, ctx.cs, d.id, 'submit');
  const inv = await getInvoice(d.id);
  assert.equal(inv.status, 'pending_approval');
  const msgs = { sales: await approvalMessage(inv, sales.id), admin: await approvalMessage(inv, admin.id) };
  for (const [who, chat] of [['sales', sales.id], ['admin', admin.id]]) {
    const btns = tg.buttons(chat, msgs[who]);
    assert.equal(btns.filter((b) => b.callback_data === `ap:${inv.id}:${inv.version}`).length, 1,
      `the ${who}'s message has its Approve button: ${JSON.stringify(btns)}`);
  }
  return { inv, msgs };
}

/** The editMessageText requests for message id in chat, answered 200. */
function editsOf(chat, id) {
  return tg.requests.filter((e) => /^editmessagetext$/i.test(e.api) && e.params
    && String(e.params.chat_id) === String(chat) && Number(e.params.message_id) === Number(id) && e.status === 200);
}

async function waitEdited(inv, chat, id, what) {
  await tg.waitForRequest((e) => /^editmessagetext$/i.test(e.api) && e.params
    && String(e.params.chat_id) === String(chat) && Number(e.params.message_id) === Number(id) && e.status === 200,
  { timeoutMs: 10000 }).catch(async (e) => {
    throw new Error(`${what}: ${e.message}; the invoice's outbox rows: ${JSON.stringify(await outboxRows(inv.id))}`);
  });
  return tg.message(chat, id);
}

/** The message lost its Approve button and kept [Lihat / Revisi]. */
function assertButtons(inv, chat, id, what) {
  const left = tg.buttons(chat, id);
  assert.equal(left.filter((b) => b.callback_data !== undefined).length, 0, `${what}: no Approve button after the edit`);
  assert.deepEqual(left.map((b) => [b.text, b.url]), [['Lihat / Revisi', `${PUBLIC}/invoices/${inv.id}`]], what);
}

/** Nothing more is queued for the invoice (every edit row has left). */
async function settled(id, ms = 10000) {
  const until = Date.now() + ms;
  for (;;) {
    const n = await scalar(`SELECT count(*) FROM outbox WHERE invoice_id = ${id} AND status = 'queued'`);
    if (n === '0') return;
    if (Date.now() > until) assert.fail(`rows still queued: ${JSON.stringify(await outboxRows(id))}`);
    await sleep(50);
  }
}

before(async () => {
  tg = await startTelegramFake({ token: TOKEN });
  ctx = await moneySetup({
    tag: 'tge', techs: 8,
    env: {
      GSS_TELEGRAM_TOKEN: TOKEN, GSS_TELEGRAM_API_BASE: tg.apiBase, GSS_TELEGRAM_BOT_USERNAME: 'gss_test_bot',
      GSS_TELEGRAM_WEBHOOK_SECRET: SECRET, GSS_OUTBOX_POLL_MS: '100', GSS_PUBLIC_URL: `${PUBLIC}/`,
    },
  });
  g = ctx.g;
  sales = tgUser('Sales');
  admin = tgUser('Admin');
  await link(ctx.sales, sales);
  await link(ctx.admin, admin);
  assert.equal(await scalar(`SELECT telegram_id FROM users WHERE id = ${ctx.ids.sales}`), String(sales.id));
  salesName = await scalar(`SELECT name FROM users WHERE id = ${ctx.ids.sales}`);
  assert.ok(salesName, 'the Sales has a name');
}, { timeout: 120000 });

after(async () => {
  if (g) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
  if (tg) await tg.stop();
});

test('approved on the web: every linked message says so and loses its Approve button', { timeout: 120000 }, async () => {
  const { inv, msgs } = await submitted();
  await step(ctx, ctx.sales, inv.id, 'approve');
  for (const [who, chat] of [['sales', sales.id], ['admin', admin.id]]) {
    const m = await waitEdited(inv, chat, msgs[who], `the ${who}'s message`);
    assert.ok(m.text.includes(inv.number), m.text);
    assert.ok(m.text.includes(`✅ Disetujui oleh ${salesName} (web)`), `the ${who}'s message: ${m.text}`);
    assert.doesNotMatch(m.text, /Menunggu Approval/);
    assertButtons(inv, chat, msgs[who], `the ${who}'s message`);
  }
  await settled(inv.id);
  await sleep(300);
  assert.equal(editsOf(sales.id, msgs.sales).length, 1, 'the Sales\' message edited once');
  assert.equal(editsOf(admin.id, msgs.admin).length, 1, 'the admin\'s message edited once');
  assert.equal(await scalar(`SELECT count(*) FROM outbox WHERE invoice_id = ${inv.id}
    AND kind = 'invoice.approval_edit' AND status = 'sent'`), '2');
});

test('a revision requested on the web: both messages say who asked and why, escaped', { timeout: 120000 }, async () => {
  const { inv, msgs } = await submitted();
  const note = 'Diskon <50%> & "PPN" salah';
  await step(ctx, ctx.sales, inv.id, 'revise', { note });
  for (const [who, chat] of [['sales', sales.id], ['admin', admin.id]]) {
    const m = await waitEdited(inv, chat, msgs[who], `the ${who}'s message`);
    // the fake parsed the HTML: the text holds the note's characters as written
    assert.ok(m.text.includes(`↩️ Revisi diminta oleh ${salesName}: ${note}`), `the ${who}'s message: ${m.text}`);
    assertButtons(inv, chat, msgs[who], `the ${who}'s message`);
  }
  const req = editsOf(admin.id, msgs.admin)[0];
  assert.equal(req.params.parse_mode, 'HTML');
  assert.ok(String(req.params.text).includes('Diskon &lt;50%&gt; &amp; &quot;PPN&quot; salah'), req.params.text);
  await settled(inv.id);
  // the old buttons: pressing one now changes nothing
  const u = tg.pressButton({ chatId: sales.id, messageId: msgs.sales, from: sales,
    data: `ap:${inv.id}:${inv.version}`, forge: true });
  await deliver(u);
  assert.equal((await getInvoice(inv.id)).status, 'revision_requested');
});

test('the Sales\' press in Telegram: its message is edited once, the admin\'s says "(Telegram)"', { timeout: 120000 }, async () => {
  const { inv, msgs } = await submitted();
  const u = tg.pressButton({ chatId: sales.id, messageId: msgs.sales, from: sales, data: `ap:${inv.id}:${inv.version}` });
  await deliver(u);
  const m = await waitEdited(inv, admin.id, msgs.admin, 'the admin\'s message');
  assert.ok(m.text.includes(`✅ Disetujui oleh ${salesName} (Telegram)`), m.text);
  assertButtons(inv, admin.id, msgs.admin, 'the admin\'s message');
  const own = await waitEdited(inv, sales.id, msgs.sales, 'the pressed message');
  assert.match(own.text, /✅ Disetujui oleh /);
  await settled(inv.id);
  await sleep(500);
  assert.equal((await getInvoice(inv.id)).status, 'approved');
  assert.equal(editsOf(sales.id, msgs.sales).length, 1, 'the pressed message is edited once, by the press');
  assert.equal(editsOf(admin.id, msgs.admin).length, 1);
  // the edit row of the pressed message was cancelled, saying why
  assert.deepEqual(await psql(g.database.url, `SELECT status, last_error FROM outbox WHERE invoice_id = ${inv.id}
    AND kind = 'invoice.approval_edit' AND target = 'tg:${sales.id}'`),
  [['cancelled', 'edited by the Approve press on it']]);
});

test('a new version while pending: the messages say they were replaced', { timeout: 120000 }, async () => {
  const { inv, msgs } = await submitted();
  // No API path changes the version of a pending invoice; the trigger covers
  // any writer that does.
  await psql(g.database.url, `UPDATE invoices SET version = version + 1 WHERE id = ${inv.id}`);
  for (const [who, chat] of [['sales', sales.id], ['admin', admin.id]]) {
    const m = await waitEdited(inv, chat, msgs[who], `the ${who}'s message`);
    assert.ok(m.text.includes('Diganti versi baru'), `the ${who}'s message: ${m.text}`);
    assertButtons(inv, chat, msgs[who], `the ${who}'s message`);
  }
});
