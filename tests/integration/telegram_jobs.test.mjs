// Job broadcasts to Telegram (issue 10, item 3; docs/telegram.md "Job
// broadcasts"): real gssd, PostgreSQL, Redis, and the outbox's libcurl
// against the strict Telegram fake of tests/fakes/.
//
//   - a job of 3 claimed by 3 technicians one after another: the group gets
//     the job message (HTML the fake's parser accepts, the problem's <, &, "
//     escaped, the Direct Link Mini App button), then the edits in order
//     1/3, 2/3, and PENUH with a disabled button;
//   - a replacement: a new message marked URGENT, the first one edited back
//     to 2/3;
//   - cancel: both messages edited to DIBATALKAN, no button left;
//   - a burst of claims: fewer edits than changes, older edits cancelled as
//     superseded, the last edit shows the final state;
//   - GSS_TELEGRAM_JOB_DM: a linked technician gets a private copy; one who
//     blocked the bot makes that row unreachable, on the ticket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { psql, sleep } from './harness.mjs';
import { fieldSetup, createTicket, claim, api } from './field_util.mjs';
import { startTelegramFake } from '../fakes/telegram.mjs';

const TOKEN = '7000000003:AAtgjobs-test_token';
const SECRET = 'jobs-Secret_0123456789';
const PUBLIC = 'https://gss.example.com';
const BOT = 'gss_jobs_bot';
const MINIAPP = 'claim';
const GROUP = -1009876543210; // a supergroup
const PROBLEM = 'AC <Daikin> & "bocor" </b> air menetes';
const SCHEDULE_TEXT = 'Jadwal: Sen 03 Jun 09:00 WIB'; // createTicket's 2030-06-03T02:00:00Z, in Jakarta

let tg, ctx, g;
let nextTgUser = 7300000000 + (process.pid % 100000) * 100;
const tgUser = (first_name) => ({ id: ++nextTgUser, first_name });
let dmTech, dmUser, blockedTech, blockedUser;

async function rows(sql) {
  return psql(g.database.url, sql);
}

async function outboxOf(ticketId) {
  return rows(`SELECT id, kind, target, status, coalesce(provider_id, ''), coalesce(last_error, '')
    FROM outbox WHERE ticket_id = ${ticketId} ORDER BY id`);
}

const isApi = (e, name) => typeof e.api === 'string' && e.api.toLowerCase() === name.toLowerCase();

/** The job message sent to chat for the ticket, round-agnostic: the first
 *  accepted sendMessage whose text names the ticket code and satisfies pred. */
async function sentTo(chat, code, pred = () => true, timeoutMs = 20000) {
  const req = await tg.waitForRequest((e) => isApi(e, 'sendMessage') && e.status === 200 && e.params
    && String(e.params.chat_id) === String(chat) && String(e.params.text || '').includes(code) && pred(e),
  { timeoutMs }).catch(async (err) => {
    throw new Error(`${err.message}; outbox: ${JSON.stringify(await rows(`SELECT id, kind, target, status,
      provider_id, last_error FROM outbox WHERE kind LIKE 'job.%' ORDER BY id`))}; gssd's outbox log: ${
      JSON.stringify(g.logs.filter((l) => JSON.stringify(l).includes('outbox')).slice(-6))}`);
  });
  return req.reply.result.message_id;
}

/** Waits until the fake's message (chat, id) satisfies pred. */
async function messageBecomes(chat, id, pred, what, ms = 20000) {
  const until = Date.now() + ms;
  for (;;) {
    const m = tg.message(chat, id);
    if (m && pred(m)) return m;
    if (Date.now() > until) {
      const t = await rows(`SELECT id, kind, target, status, provider_id, last_error FROM outbox
        WHERE kind LIKE 'job.%' ORDER BY id DESC LIMIT 12`);
      assert.fail(`message ${chat}/${id} never became ${what}; it says ${JSON.stringify(m && m.text)}; ` +
        `outbox: ${JSON.stringify(t)}`);
    }
    await sleep(50);
  }
}

/** The "k/N terisi" or "PENUH (k/N)" or "DIBATALKAN" of a text. */
function label(text) {
  const m = /Teknisi: (\d+\/\d+) terisi|PENUH \((\d+\/\d+)\)|(DIBATALKAN)/.exec(text || '');
  if (!m) return null;
  return m[1] || (m[2] ? `PENUH ${m[2]}` : m[3]);
}

async function deliver(upd) {
  const r = await tg.deliverUpdate(g.url, upd, { secret: SECRET });
  assert.equal(r.status, 200, `update ${upd.update_id}: ${r.status} ${r.text}`);
}

async function link(tech) {
  const user = tgUser(tech.username);
  const c = await api(g, tech.token, 'POST', '/api/v1/me/telegram-link');
  assert.equal(c.status, 201, c.text);
  await deliver(tg.startUpdate({ user, code: c.json.code }));
  for (let i = 0; i < 100; i++) {
    const r = await rows(`SELECT telegram_chat_id FROM users WHERE id = ${tech.id}`);
    if (r.length && r[0][0] === String(user.id)) return user;
    await sleep(50);
  }
  assert.fail(`technician ${tech.username} was not linked to ${user.id}`);
}

before(async () => {
  tg = await startTelegramFake({ token: TOKEN, botUsername: BOT, strictAmpersand: true });
  ctx = await fieldSetup({
    tag: 'tgj', techs: 16,
    env: {
      GSS_TELEGRAM_TOKEN: TOKEN, GSS_TELEGRAM_API_BASE: tg.apiBase, GSS_TELEGRAM_BOT_USERNAME: BOT,
      GSS_TELEGRAM_MINIAPP: MINIAPP, GSS_TELEGRAM_WEBHOOK_SECRET: SECRET, GSS_TELEGRAM_TS_CHAT: String(GROUP),
      GSS_TELEGRAM_JOB_DM: '1', GSS_OUTBOX_POLL_MS: '100', GSS_PUBLIC_URL: PUBLIC,
    },
  });
  g = ctx.g;
  dmTech = ctx.tech();
  dmUser = await link(dmTech);
  blockedTech = ctx.tech();
  blockedUser = await link(blockedTech);
  tg.blockBot(blockedUser.id);
}, { timeout: 120000 });

after(async () => {
  if (g) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
  if (tg) await tg.stop();
});

let full; // the first test's ticket: {t, mid, techs}

test('a job of 3, claimed by 3: the message, then 1/3, 2/3, PENUH with a disabled button', { timeout: 120000 }, async () => {
  const t = await createTicket(g, ctx.cs, ctx.customers[0], 3, { problem: PROBLEM });
  const mid = await sentTo(GROUP, t.code);
  const req = tg.requests.find((e) => isApi(e, 'sendMessage') && e.status === 200
    && String(e.params.chat_id) === String(GROUP) && e.reply.result.message_id === mid);
  // what went out: HTML with the problem escaped (the fake refuses a bare & here)
  assert.equal(req.params.parse_mode, 'HTML');
  assert.ok(req.params.text.includes('AC &lt;Daikin&gt; &amp; &quot;bocor&quot; &lt;/b&gt; air menetes'), req.params.text);
  assert.deepEqual(req.params.link_preview_options, { is_disabled: true });
  assert.deepEqual(req.unknownParams || [], [], 'no parameter Telegram would ignore');
  // what the group sees
  let m = tg.message(GROUP, mid);
  assert.ok(m.text.includes(`Masalah: ${PROBLEM}`), m.text);
  assert.ok(m.text.includes('JOB BARU'), m.text);
  assert.ok(!m.text.includes('URGENT'), m.text);
  assert.ok(m.text.includes(SCHEDULE_TEXT), m.text);
  assert.ok(m.text.includes(`Area: ${t.area}`), m.text);
  assert.ok(!m.text.includes('Jl. Sudirman'), `the customer's address stays out of the group: ${m.text}`);
  assert.equal(label(m.text), '0/3');
  assert.deepEqual(tg.buttons(GROUP, mid),
    [{ text: 'Ambil Job', url: `https://t.me/${BOT}/${MINIAPP}?startapp=job_${t.id}` }]);

  const techs = [ctx.tech(), ctx.tech(), ctx.tech()];
  const want = ['1/3', '2/3', 'PENUH 3/3'];
  for (let i = 0; i < 3; i++) {
    const c = await claim(g, techs[i].token, t.id);
    assert.equal(c.status, 200, `claim by ${techs[i].username}: ${c.text}`);
    m = await messageBecomes(GROUP, mid, (x) => label(x.text) === want[i], want[i]);
  }
  // the edits in order, no step back, ending full
  const seen = m.history.map((h) => label(h.text));
  assert.deepEqual(seen, ['0/3', ...want], `the message's versions: ${JSON.stringify(seen)}`);
  assert.ok(m.text.includes('PENUH (3/3)'), m.text);
  assert.deepEqual(tg.buttons(GROUP, mid), [{ text: 'PENUH', disabled: {} }]);
  // every edit carried the keyboard (the fake drops it otherwise)
  for (const h of m.history) assert.ok(h.reply_markup && h.reply_markup.inline_keyboard, JSON.stringify(h));
  // the rows: one post per chat (group, the linked technician, the blocked one), edits of the group's message
  const ob = await outboxOf(t.id);
  const groupPost = ob.find((r) => r[1] === 'job.post' && r[2] === `tg:${GROUP}`);
  assert.ok(groupPost, JSON.stringify(ob));
  assert.equal(groupPost[3], 'sent');
  assert.equal(groupPost[4], `${GROUP}:${mid}`);
  full = { t, mid, techs };
});

test('linked technicians get a private copy; one who blocked the bot is unreachable, on the ticket', { timeout: 60000 }, async () => {
  assert.ok(full, 'needs the first test');
  const { t } = full;
  const dmMid = await sentTo(dmUser.id, t.code);
  const dm = tg.message(dmUser.id, dmMid);
  assert.ok(dm.text.includes(`Masalah: ${PROBLEM}`), dm.text);
  // its copy is kept up to date too
  await messageBecomes(dmUser.id, dmMid, (x) => label(x.text) === 'PENUH 3/3', 'PENUH in the private chat');
  // the blocked one: 403, unreachable, ticket_id set (CS sees the ticket's failed messages)
  let r;
  for (let i = 0; i < 200; i++) {
    r = await rows(`SELECT status, coalesce(last_error, ''), ticket_id FROM outbox
      WHERE kind = 'job.post' AND target = 'tg:${blockedUser.id}' AND ticket_id = ${t.id}`);
    if (r.length && r[0][0] !== 'queued') break;
    await sleep(50);
  }
  assert.equal(r.length, 1, JSON.stringify(r));
  assert.equal(r[0][0], 'unreachable');
  assert.match(r[0][1], /403/);
  assert.equal(r[0][2], String(t.id));
  assert.ok(tg.requests.some((e) => isApi(e, 'sendMessage') && e.status === 403
    && String(e.params.chat_id) === String(blockedUser.id)), 'the fake answered 403');
  // CS sees it on the ticket (GET /api/v1/tickets/{id}/messages), failures first
  const msgs = await api(g, ctx.cs, 'GET', `/api/v1/tickets/${t.id}/messages`);
  assert.equal(msgs.status, 200, msgs.text);
  const first = msgs.json.messages[0];
  assert.equal(first.status, 'unreachable', JSON.stringify(msgs.json.messages.slice(0, 3)));
  assert.equal(first.channel, 'telegram');
  assert.equal(first.kind, 'job.post');
  assert.equal(first.recipient_kind, 'technician');
  assert.match(first.last_error, /403/);
  // no edit is attempted into the chat that never got the message
  await sleep(1500);
  assert.ok(!tg.requests.some((e) => isApi(e, 'editMessageText') && String(e.params.chat_id) === String(blockedUser.id)),
    'no edit to the blocked chat');
  const edits = await rows(`SELECT status FROM outbox WHERE kind = 'job.edit' AND target = 'tg:${blockedUser.id}'
    AND ticket_id = ${t.id}`);
  assert.ok(edits.every(([s]) => s === 'cancelled'), JSON.stringify(edits));
  // nobody unlinked got anything
  const privateSends = tg.requests.filter((e) => isApi(e, 'sendMessage') && Number(e.params.chat_id) > 0
    && String(e.params.text || '').includes(t.code)).map((e) => Number(e.params.chat_id));
  assert.deepEqual([...new Set(privateSends)].sort(), [dmUser.id, blockedUser.id].sort());
});

test('a replacement: a new message marked URGENT; cancel: both edited to DIBATALKAN', { timeout: 120000 }, async () => {
  assert.ok(full, 'needs the first test');
  const { t, mid, techs } = full;
  const r = await api(g, ctx.cs, 'POST', `/api/v1/tickets/${t.id}/replace`, { tech_id: techs[1].id, reason: 'Tidak hadir' });
  assert.equal(r.status, 200, `replace: ${r.status} ${r.text}`);
  const urgentMid = await sentTo(GROUP, t.code, (e) => e.reply.result.message_id !== mid);
  const u = tg.message(GROUP, urgentMid);
  assert.ok(u.text.includes('URGENT — PENGGANTI'), u.text);
  assert.ok(!u.text.includes('JOB BARU'), u.text);
  assert.equal(label(u.text), '2/3');
  assert.deepEqual(tg.buttons(GROUP, urgentMid),
    [{ text: 'Ambil Job', url: `https://t.me/${BOT}/${MINIAPP}?startapp=job_${t.id}` }]);
  // the first message no longer says PENUH
  await messageBecomes(GROUP, mid, (x) => label(x.text) === '2/3', '2/3 after the replacement');
  assert.equal(tg.buttons(GROUP, mid)[0].text, 'Ambil Job');

  const c = await api(g, ctx.cs, 'POST', `/api/v1/tickets/${t.id}/cancel`, {});
  assert.equal(c.status, 200, `cancel: ${c.status} ${c.text}`);
  for (const id of [mid, urgentMid]) {
    const m = await messageBecomes(GROUP, id, (x) => label(x.text) === 'DIBATALKAN', `DIBATALKAN (${id})`);
    assert.ok(m.text.includes('❌ DIBATALKAN'), m.text);
    assert.deepEqual(tg.buttons(GROUP, id), [], 'a cancelled job has no button');
  }
  // a job no longer open is not announced any more: no third message
  await sleep(1000);
  const groupSends = tg.requests.filter((e) => isApi(e, 'sendMessage') && e.status === 200
    && String(e.params.chat_id) === String(GROUP) && String(e.params.text || '').includes(t.code));
  assert.equal(groupSends.length, 2, 'the first message and the urgent one');
});

test('a burst of claims: edits coalesce, the last one shows the final state', { timeout: 120000 }, async () => {
  const N = 5;
  const t = await createTicket(g, ctx.cs, ctx.customers[1], N);
  const mid = await sentTo(GROUP, t.code);
  const before = tg.message(GROUP, mid).history.length;
  // claims ~150 ms apart: each its own transaction (one edit queued each),
  // much faster than the group's 1 edit a second
  for (let i = 0; i < N; i++) {
    const tech = ctx.tech();
    const c = await claim(g, tech.token, t.id);
    assert.equal(c.status, 200, `claim ${i + 1}: ${c.text}`);
    await sleep(150);
  }
  const m = await messageBecomes(GROUP, mid, (x) => label(x.text) === `PENUH ${N}/${N}`, 'PENUH');
  await sleep(2500); // anything still queued would go by now
  const after = tg.message(GROUP, mid);
  const edits = after.history.length - before;
  assert.ok(edits < N, `${edits} edits for ${N} changes: coalesced`);
  assert.equal(label(after.text), `PENUH ${N}/${N}`, 'the last state wins');
  assert.deepEqual(tg.buttons(GROUP, mid), [{ text: 'PENUH', disabled: {} }]);
  assert.equal(m.message_id, mid);
  const versions = after.history.map((h) => label(h.text));
  const order = (l) => (l.startsWith('PENUH') ? N : Number(l.split('/')[0]));
  for (let i = 1; i < versions.length; i++) {
    assert.ok(order(versions[i]) > order(versions[i - 1]), `versions only move forward: ${JSON.stringify(versions)}`);
  }
  const groupEditRequests = tg.requests.filter((e) => isApi(e, 'editMessageText')
    && String(e.params.chat_id) === String(GROUP) && Number(e.params.message_id) === mid);
  assert.ok(groupEditRequests.length < N, `${groupEditRequests.length} edit requests for ${N} changes`);
  const sup = await rows(`SELECT count(*) FROM outbox WHERE ticket_id = ${t.id} AND kind = 'job.edit'
    AND status = 'cancelled' AND last_error = 'superseded by a later edit'`);
  assert.ok(Number(sup[0][0]) >= 1, `edits superseded: ${sup[0][0]}; ${JSON.stringify(await outboxOf(t.id))}`);
});
