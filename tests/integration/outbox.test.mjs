// The outbox sender (issue 10; src/integrations/outbox.c, curl_loop.c):
// real gssd, PostgreSQL, Redis and libcurl against the Telegram and WhatsApp
// fakes of tests/fakes/. Rows are written with psql, as a handler would in
// its transaction, and the fakes count what arrives, per row (each row's
// text is unique).
//
//   - sent once, with the right request (path, token, JSON, chat id from the
//     target), provider_id kept; WhatsApp with its Bearer token;
//   - a payload shape with no builder yet (the money issue's rows) stays
//     queued with a reason, attempts untouched;
//   - 429 retry_after: one resend, no earlier than the wait, no attempt used;
//   - 5xx: backoff with growing gaps; past GSS_OUTBOX_MAX_ATTEMPTS failed;
//   - 403: unreachable;
//   - channel off: queued with the reason, gssd ready anyway; sent once the
//     token is there;
//   - SIGKILL mid-batch with 50 rows: after a restart every row delivered
//     exactly once (the journal carries what was answered before the kill);
//   - two gssd on one outbox of 200 rows: none sent twice;
//   - the limits measured at the fake (which also enforces them);
//   - /metrics;
//   - SIGTERM with a request in flight: finished and committed, exit 0;
//   - gssd telegram set-webhook.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import {
  startGssd, runGssd, startRedis, createDatabase, psql, psqlJson, waitFor, sleep, scrapeMetrics,
} from './harness.mjs';
import { startTelegramFake } from '../fakes/telegram.mjs';
import { startWhatsAppFake } from '../fakes/whatsapp.mjs';
import { maxInWindow } from '../fakes/common.mjs';

const TOKEN = '7000000001:AAoutbox-test_token';
const WA_TOKEN = 'EAAoutboxtest';
const PHONE_ID = '109876543210987';

const fakes = [];
let redis;

async function tgFake(opts = {}) {
  const f = await startTelegramFake({ token: TOKEN, ...opts });
  fakes.push(f);
  return f;
}

async function waFake(opts = {}) {
  const f = await startWhatsAppFake({ token: WA_TOKEN, phoneNumberId: PHONE_ID, ...opts });
  fakes.push(f);
  return f;
}

function outboxEnv(tg, wa, extra = {}) {
  return {
    GSS_TELEGRAM_TOKEN: tg ? TOKEN : null,
    GSS_TELEGRAM_API_BASE: tg ? tg.apiBase : null,
    GSS_WA_TOKEN: wa ? WA_TOKEN : null,
    GSS_WA_API_BASE: wa ? wa.apiBase : null,
    GSS_WA_PHONE_NUMBER_ID: wa ? PHONE_ID : null,
    GSS_OUTBOX_POLL_MS: '100',
    GSS_OUTBOX_BACKOFF_MS: '1200',
    GSS_OUTBOX_MAX_ATTEMPTS: '4',
    GSS_HTTP_TIMEOUT_MS: '3000',
    GSS_LOG_REQUESTS: '0',
    ...extra,
  };
}

let seq = 0;
const tag = `${process.pid.toString(36)}`;

/** A telegram row; returns {id, text}. */
async function insertTg(db, chat, { text, method = 'sendMessage', params, kind = 'test.message', payload } = {}) {
  const t = text || `msg ${tag} ${++seq}`;
  const p = payload || { method, params: params || { text: t } };
  const r = await psql(db.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key)
    VALUES ('telegram', '${kind}', 'tg:${chat}', $j$${JSON.stringify(p)}$j$::jsonb, 'it:${tag}:${++seq}') RETURNING id`);
  return { id: Number(r[0][0]), text: t };
}

/** n telegram rows at once, to chats base, base-1, ... (one each), or all
 *  to one chat; texts `${prefix} <i>`. Returns the ids in order. */
async function insertMany(db, n, { prefix, chat, base }) {
  const target = chat !== undefined ? `'tg:${chat}'` : `'tg:' || (${base} - g)`;
  const chatId = chat !== undefined ? `${chat}` : `(${base} - g)`;
  const r = await psql(db.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key)
    SELECT 'telegram', 'test.bulk', ${target},
           jsonb_build_object('method', 'sendMessage', 'params', jsonb_build_object('chat_id', ${chatId}, 'text', '${prefix} ' || g)),
           'bulk:${tag}:${prefix}:' || g
    FROM generate_series(1, ${n}) g ORDER BY g RETURNING id`);
  return r.map((x) => Number(x[0]));
}

/** A new database with the schema in it (rows go in before gssd starts). */
async function migratedDatabase() {
  const d = await createDatabase();
  const r = await runGssd(['migrate'], { env: { GSS_DATABASE_URL: d.url }, timeout: 60000 });
  assert.equal(r.code, 0, r.stderr);
  return d;
}

async function rowOf(db, id) {
  const rows = await psqlJson(db.url, `SELECT id, status, attempts, last_error, provider_id, sent_at, target,
    payload, extract(epoch FROM next_attempt_at - now()) AS due_in FROM outbox WHERE id = ${id}`);
  return rows[0];
}

async function waitRow(db, id, pred, { timeout = 15000, what = `row ${id}` } = {}) {
  return waitFor(async () => {
    const r = await rowOf(db, id);
    return pred(r) ? r : null;
  }, { timeout, interval: 100, what });
}

const sendsOf = (fake, text) => fake.requests.filter((e) => e.api === 'sendMessage' && e.params && e.params.text === text);
const okSends = (fake, text) => sendsOf(fake, text).filter((e) => e.status === 200);

before(async () => {
  redis = await startRedis();
});

after(async () => {
  for (const f of fakes) await f.stop().catch(() => {});
});

// ---------------------------------------------------------------------------
// One gssd with both channels on, for the single-row cases.

let tg;
let wa;
let db;
let gssd;

before(async () => {
  tg = await tgFake();
  wa = await waFake();
  db = await createDatabase();
  gssd = await startGssd({ redis, database: db, env: outboxEnv(tg, wa) });
});

test('a telegram row is sent once with the right request, and its message id kept', async () => {
  const params = { text: `Job baru <b>AC bocor</b> &amp; ${tag}`, parse_mode: 'HTML' };
  const { id } = await insertTg(db, -1001234500001, { params });
  const r = await waitRow(db, id, (x) => x.status === 'sent');
  await sleep(500); // nothing more may come
  const reqs = sendsOf(tg, params.text);
  assert.equal(reqs.length, 1, 'one request');
  const e = reqs[0];
  assert.equal(e.method, 'POST');
  assert.equal(e.path, `/bot${TOKEN}/sendMessage`);
  assert.match(e.headers['content-type'], /^application\/json/);
  assert.equal(e.json.chat_id, -1001234500001, 'chat_id from the target, as a number');
  assert.equal(e.json.text, params.text);
  assert.equal(e.json.parse_mode, 'HTML');
  assert.equal(e.status, 200);
  assert.equal(r.provider_id, `${e.reply.result.chat.id}:${e.reply.result.message_id}`);
  assert.equal(r.attempts, 1);
  assert.equal(r.last_error, null);
  assert.ok(r.sent_at);
});

test('a whatsapp row goes to /<phone_number_id>/messages with the Bearer token', async () => {
  const to = '6281234567890';
  wa.setLastInbound(to, Date.now()); // the 24-hour window is open: free-form text is allowed
  const body = `Halo dari GSS ${tag}`;
  const r0 = await psql(db.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key)
    VALUES ('whatsapp', 'test.text', 'wa:${to}', '${JSON.stringify({ message: { type: 'text', text: { body } } })}'::jsonb,
            'it:${tag}:wa1') RETURNING id`);
  const id = Number(r0[0][0]);
  const r = await waitRow(db, id, (x) => x.status === 'sent');
  const reqs = wa.requests.filter((e) => e.json && e.json.text && e.json.text.body === body);
  assert.equal(reqs.length, 1);
  const e = reqs[0];
  assert.equal(e.method, 'POST');
  assert.equal(e.path, `/v21.0/${PHONE_ID}/messages`);
  assert.equal(e.headers.authorization, `Bearer ${WA_TOKEN}`);
  assert.equal(e.json.messaging_product, 'whatsapp');
  assert.equal(e.json.to, to);
  assert.equal(r.provider_id, e.reply.messages[0].id);
  assert.match(r.provider_id, /^wamid\./);
});

test('rows the sender has no builder for stay queued and say why', async () => {
  // The money issue's rows: ids only (docs/money.md "Outbox rows").
  const rows = await psql(db.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key) VALUES
    ('telegram', 'invoice.pending_approval', 'role:sales', '{"invoice_id": 1, "number": "INV-2612-0001", "version": 1}', 'it:${tag}:w1'),
    ('whatsapp', 'invoice.sent', 'wa:6281234567891', '{"invoice_id": 1, "invoice_link_id": 1, "rating_link_id": 2, "number": "INV-2612-0001", "total": 1}', 'it:${tag}:w2'),
    ('telegram', 'test.message', 'role:sales', '{"method": "sendMessage", "params": {"text": "x"}}', 'it:${tag}:w3')
    RETURNING id`);
  const before = tg.requests.length + wa.requests.length;
  for (const [idStr] of rows) {
    const r = await waitRow(db, Number(idStr), (x) => x.last_error !== null);
    assert.equal(r.status, 'queued');
    assert.equal(r.attempts, 0);
    assert.match(r.last_error, /waits for its message builder/);
    assert.ok(r.due_in > 60, 'looked at again later, not at every poll');
  }
  await sleep(300);
  assert.equal(tg.requests.length + wa.requests.length, before, 'nothing was sent for them');
});

test('429 retry_after: one resend, no earlier than the wait, and no attempt used', async () => {
  const chat = -1001234500002;
  tg.inject({ method: 'sendMessage', kind: 'rate_limit', retryAfter: 2, match: (e) => e.params && e.params.chat_id === chat });
  const { id, text } = await insertTg(db, chat);
  const r = await waitRow(db, id, (x) => x.status === 'sent', { timeout: 10000 });
  await sleep(500);
  const reqs = sendsOf(tg, text);
  assert.equal(reqs.length, 2, 'the 429, then one resend');
  assert.equal(reqs[0].status, 429);
  assert.equal(reqs[1].status, 200);
  assert.ok(reqs[1].time - reqs[0].time >= 2000, `resent after ${reqs[1].time - reqs[0].time} ms`);
  assert.equal(tg.counters.earlyRetries, 0, 'never resent inside retry_after');
  assert.equal(r.attempts, 1);
});

test('5xx: retried with growing gaps; past GSS_OUTBOX_MAX_ATTEMPTS it fails with the reason', async () => {
  const flaky = -1001234500003;
  const dead = -1001234500004;
  tg.inject({ method: 'sendMessage', kind: 'server_error', status: 502, times: 3, match: (e) => e.params && e.params.chat_id === flaky });
  tg.inject({ method: 'sendMessage', kind: 'server_error', status: 503, times: Infinity, match: (e) => e.params && e.params.chat_id === dead });
  const a = await insertTg(db, flaky);
  const b = await insertTg(db, dead);
  const ra = await waitRow(db, a.id, (x) => x.status === 'sent', { timeout: 20000 });
  const rb = await waitRow(db, b.id, (x) => x.status === 'failed', { timeout: 20000 });
  await sleep(1500);
  const reqs = sendsOf(tg, a.text);
  assert.deepEqual(reqs.map((e) => e.status), [502, 502, 502, 200]);
  const gaps = reqs.slice(1).map((e, i) => e.time - reqs[i].time);
  // Backoff 1200 ms doubling, equal jitter: [600, 1200], [1200, 2400], [2400, 4800].
  assert.ok(gaps[0] >= 590 && gaps[1] >= 1190 && gaps[2] >= 2390, `gaps ${gaps}`);
  assert.ok(gaps[2] > gaps[0], `gaps grow: ${gaps}`);
  assert.equal(ra.attempts, 4);
  assert.equal(ra.last_error, null);
  assert.equal(sendsOf(tg, b.text).length, 4, 'four attempts, then no more');
  assert.equal(rb.attempts, 4);
  assert.match(rb.last_error, /^gave up after 4 attempts: HTTP 503/);
});

test('403 from a technician who blocked the bot: unreachable', async () => {
  const user = 777001;
  tg.startUser(user);
  tg.blockBot(user);
  const { id, text } = await insertTg(db, user);
  const r = await waitRow(db, id, (x) => x.status !== 'queued');
  assert.equal(r.status, 'unreachable');
  assert.match(r.last_error, /^403: Forbidden: bot was blocked by the user/);
  assert.equal(sendsOf(tg, text).length, 1);
  assert.equal(r.attempts, 1);
});

test('/metrics: sent, failed, unreachable and queued by channel, and the oldest queued age', async () => {
  // The table is sampled every 5 s: wait for a sample taken after every
  // row above had settled.
  const t0 = Date.now();
  const m = await waitFor(async () => {
    const x = await scrapeMetrics(gssd.url);
    return x.value('gss_outbox_stats_age_seconds') * 1000 < Date.now() - t0 - 100 ? x : null;
  }, { timeout: 12000, what: 'a metrics sample newer than this test' });
  assert.equal(m.value('gss_outbox_sent_total', { channel: 'telegram' }), 3);
  assert.equal(m.value('gss_outbox_sent_total', { channel: 'whatsapp' }), 1);
  assert.equal(m.value('gss_outbox_failed', { channel: 'telegram' }), 1);
  assert.equal(m.value('gss_outbox_unreachable', { channel: 'telegram' }), 1);
  assert.equal(m.value('gss_outbox_queued', { channel: 'telegram' }), 2, 'the two rows waiting for a builder');
  assert.equal(m.value('gss_outbox_queued', { channel: 'whatsapp' }), 1);
  assert.ok(m.value('gss_outbox_oldest_queued_age_seconds', { channel: 'telegram' }) > 1);
  assert.ok(m.value('gss_outbox_retries_total', { channel: 'telegram' }) >= 4);
  assert.equal(m.value('gss_outbox_channel_up', { channel: 'telegram' }), 1);
  assert.equal(m.types.gss_outbox_sent_total, 'counter');
  assert.equal(m.types.gss_outbox_queued, 'gauge');
  assert.ok(m.value('gss_http_out_requests_total', { outcome: 'ok' }) >= 8);
  // Connections are reused: far fewer than requests.
  assert.ok(m.value('gss_http_out_connections_total') < m.value('gss_http_out_requests_total', { outcome: 'ok' }));
});

// ---------------------------------------------------------------------------

test('a channel without its token is off: rows stay queued with the reason, gssd is ready anyway', async () => {
  const odb = await createDatabase();
  const off = await startGssd({ redis, database: odb, env: outboxEnv(null, null) });
  const ready = await fetch(`${off.url}/readyz`);
  assert.equal(ready.status, 200);
  const t = await insertTg(odb, -1001234500009);
  const w = await psql(odb.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key) VALUES
    ('whatsapp', 'test.text', 'wa:6281234567892', '{"message": {"type": "text", "text": {"body": "x"}}}', 'it:${tag}:off2') RETURNING id`);
  const rt = await waitRow(odb, t.id, (x) => x.last_error !== null);
  const rw = await waitRow(odb, Number(w[0][0]), (x) => x.last_error !== null);
  assert.equal(rt.status, 'queued');
  assert.equal(rt.last_error, 'channel off: GSS_TELEGRAM_TOKEN unset');
  assert.equal(rt.attempts, 0);
  assert.equal(rw.status, 'queued');
  assert.equal(rw.last_error, 'channel off: GSS_WA_TOKEN unset');
  const m = await scrapeMetrics(off.url);
  assert.equal(m.value('gss_outbox_channel_up', { channel: 'telegram' }), 0);
  assert.equal(m.value('gss_outbox_channel_up', { channel: 'whatsapp' }), 0);
  assert.equal(await off.stop(), 0);

  // The token arrives: the same row goes, once.
  const fake = await tgFake();
  const on = await startGssd({ redis, database: odb, env: outboxEnv(fake, null) });
  const r = await waitRow(odb, t.id, (x) => x.status === 'sent');
  assert.equal(r.last_error, null);
  assert.equal(okSends(fake, t.text).length, 1);
  assert.equal(await on.stop(), 0);
});

test('gssd SIGKILLed mid-batch with 50 rows queued: after a restart each is delivered exactly once', async () => {
  const fake = await tgFake();
  const kdb = await migratedDatabase();
  // The first 20 requests are answered; later ones are held (answered
  // never: the fake drops them after 8 s, with no effect), so the kill
  // lands while the first batch has answers in and requests out, before
  // its COMMIT.
  let hold = true;
  let seen = 0;
  fake.inject({
    method: 'sendMessage', kind: 'drop', delayMs: 8000, times: Infinity,
    match: (e) => hold && String(e.params && e.params.text).startsWith('crash ') && ++seen > 20,
  });
  const ids = await insertMany(kdb, 50, { prefix: 'crash', base: -1009000000000 });
  let g = await startGssd({ redis, database: kdb, env: outboxEnv(fake, null) });
  const crashReqs = () => fake.requests.filter((e) => String(e.params && e.params.text).startsWith('crash '));
  await waitFor(() => crashReqs().filter((e) => e.status === 200).length >= 20 && seen > 20,
    { timeout: 10000, what: 'answers in and requests held' });
  await sleep(300); // the journal has the answers' outcomes
  const answeredBefore = crashReqs().filter((e) => e.status === 200).length;
  const heldBefore = crashReqs().filter((e) => !e.done).length;
  assert.equal(answeredBefore, 20);
  assert.ok(heldBefore >= 1);
  const sentBefore = await psql(kdb.url, `SELECT count(*) FROM outbox WHERE status = 'sent'`);
  assert.equal(Number(sentBefore[0][0]), 0, 'the batch had not committed');
  await g.kill();
  hold = false;

  g = await startGssd({ redis, database: kdb, env: outboxEnv(fake, null) });
  await waitFor(async () => {
    const n = await psql(kdb.url, `SELECT count(*) FROM outbox WHERE status = 'sent'`);
    return Number(n[0][0]) === 50;
  }, { timeout: 20000, what: 'all 50 sent' });
  await sleep(500);
  for (let i = 1; i <= 50; i++) {
    assert.equal(okSends(fake, `crash ${i}`).length, 1, `row crash ${i} delivered exactly once`);
  }
  // The 20 answered before the kill were taken from the journal, not sent
  // again; the held ones were sent again and say they may be duplicates.
  const m = await scrapeMetrics(g.url);
  assert.equal(m.value('gss_outbox_recovered_total', { channel: 'telegram' }), 20);
  assert.equal(m.value('gss_outbox_in_doubt_total', { channel: 'telegram' }), heldBefore);
  const doubt = await psql(kdb.url, `SELECT count(*) FROM outbox WHERE last_error LIKE '%may have been delivered twice%'`);
  assert.equal(Number(doubt[0][0]), heldBefore);
  const left = await psql(kdb.url, 'SELECT count(*) FROM outbox_attempts');
  assert.equal(Number(left[0][0]), 0, 'the journal is empty again');
  const rows = await psqlJson(kdb.url, `SELECT attempts FROM outbox WHERE id IN (${ids.join(',')})`);
  assert.ok(rows.every((r) => r.attempts === 1 || r.attempts === 2));
  assert.equal(await g.stop(), 0);
});

test('two gssd draining one outbox of 200 rows send nothing twice', async () => {
  const fake = await tgFake();
  const ddb = await migratedDatabase();
  const [a, b] = await Promise.all([
    startGssd({ redis, database: ddb, env: outboxEnv(fake, null) }),
    startGssd({ redis, database: ddb, env: outboxEnv(fake, null) }),
  ]);
  // Both are polling before the rows arrive, so both take part.
  await insertMany(ddb, 200, { prefix: 'twin', base: -1008000000000 });
  await waitFor(async () => {
    const n = await psql(ddb.url, `SELECT count(*) FROM outbox WHERE status = 'sent'`);
    return Number(n[0][0]) === 200;
  }, { timeout: 30000, what: 'all 200 sent' });
  await sleep(500);
  const texts = fake.requests.filter((e) => String(e.params && e.params.text).startsWith('twin ')).map((e) => e.params.text);
  assert.equal(texts.length, 200, 'exactly 200 requests');
  assert.equal(new Set(texts).size, 200, 'no row sent twice');
  const [ma, mb] = await Promise.all([scrapeMetrics(a.url), scrapeMetrics(b.url)]);
  const sa = ma.value('gss_outbox_sent_total', { channel: 'telegram' });
  const sb = mb.value('gss_outbox_sent_total', { channel: 'telegram' });
  assert.equal(sa + sb, 200);
  assert.ok(sa > 0 && sb > 0, `both sent (${sa}, ${sb})`);
  assert.equal(await a.stop(), 0);
  assert.equal(await b.stop(), 0);
});

test('limits at the fake: 1/s per chat, 30/s overall, one per 6 s to a WhatsApp customer', async () => {
  // The fake enforces Telegram's limits too: a 429 would show a breach.
  const fake = await tgFake({ rateLimits: true });
  const wfake = await waFake();
  const rdb = await migratedDatabase();
  const user = 777002;
  fake.startUser(user);
  const to = '6281234567893';
  wfake.setLastInbound(to, Date.now());
  await insertMany(rdb, 6, { prefix: 'chat', chat: user });
  await insertMany(rdb, 90, { prefix: 'many', base: -1007000000000 });
  await psql(rdb.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key)
    SELECT 'whatsapp', 'test.text', 'wa:${to}', jsonb_build_object('message', jsonb_build_object('type', 'text',
           'text', jsonb_build_object('body', 'pair ' || g))), 'pair:${tag}:' || g FROM generate_series(1, 2) g`);
  const g = await startGssd({ redis, database: rdb, env: outboxEnv(fake, wfake) });
  await waitFor(async () => {
    const n = await psql(rdb.url, `SELECT count(*) FROM outbox WHERE status = 'sent'`);
    return Number(n[0][0]) === 98;
  }, { timeout: 30000, what: 'all 98 sent' });
  const chatTimes = fake.requests.filter((e) => e.status === 200 && e.params.chat_id === user).map((e) => e.time);
  const allTimes = fake.requests.filter((e) => e.status === 200).map((e) => e.time);
  assert.equal(chatTimes.length, 6);
  assert.equal(maxInWindow(chatTimes, 1000), 1, 'no second of one chat holds two');
  assert.ok(maxInWindow(allTimes, 1000) <= 30, `at most 30 in any second (${maxInWindow(allTimes, 1000)})`);
  assert.equal(fake.requests.filter((e) => e.status === 429).length, 0, 'the fake never had to refuse');
  // The six to one chat took at least five seconds; the 96 at least three.
  assert.ok(Math.max(...chatTimes) - Math.min(...chatTimes) >= 5000);
  assert.ok(Math.max(...allTimes) - Math.min(...allTimes) >= 3000);
  const pair = wfake.sentTo(to).map((m) => m.t);
  assert.equal(pair.length, 2);
  assert.ok(pair[1] - pair[0] >= 6000, `WhatsApp pair gap ${pair[1] - pair[0]} ms`);
  assert.equal(wfake.requests.filter((e) => e.status !== 200).length, 0, 'no 131056 from the fake');
  assert.equal(await g.stop(), 0);
});

test('SIGTERM with a request in flight: the batch finishes, the row is sent once, exit 0', async () => {
  const fake = await tgFake();
  const sdb = await migratedDatabase();
  fake.inject({ method: 'sendMessage', kind: 'delay', delayMs: 1500 });
  const g = await startGssd({ redis, database: sdb, env: outboxEnv(fake, null) });
  const { id, text } = await insertTg(sdb, -1001234500011);
  await waitFor(() => sendsOf(fake, text).length === 1, { timeout: 5000, what: 'the request at the fake' });
  assert.equal(sendsOf(fake, text)[0].done, false, 'still held by the fake');
  assert.equal(await g.stop('SIGTERM', 10000), 0);
  const r = await rowOf(sdb, id);
  assert.equal(r.status, 'sent');
  assert.equal(okSends(fake, text).length, 1);
  const left = await psql(sdb.url, 'SELECT count(*) FROM outbox_attempts');
  assert.equal(Number(left[0][0]), 0);
});

test('gssd telegram set-webhook registers GSS_PUBLIC_URL/hooks/telegram with the secret', async () => {
  const fake = await tgFake();
  const env = {
    GSS_TELEGRAM_TOKEN: TOKEN, GSS_TELEGRAM_API_BASE: fake.apiBase,
    GSS_TELEGRAM_WEBHOOK_SECRET: 'hook_Secret-1', GSS_PUBLIC_URL: 'https://gss.test/',
  };
  const r = await runGssd(['telegram', 'set-webhook'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fake.webhook.url, 'https://gss.test/hooks/telegram');
  assert.equal(fake.webhook.secret_token, 'hook_Secret-1');
  assert.deepEqual(fake.webhook.allowed_updates, ['message', 'callback_query']);
  assert.ok(!r.stdout.includes(TOKEN) && !r.stderr.includes(TOKEN), 'the token is not printed');
  // Refused before asking Telegram: plain http, a port Telegram does not
  // deliver to, no secret (gssd would refuse every update).
  for (const [extra, re] of [
    [{ GSS_PUBLIC_URL: 'http://gss.test' }, /https/],
    [{ GSS_PUBLIC_URL: 'https://gss.test:8080' }, /port 443, 80, 88 or 8443/],
    [{ GSS_TELEGRAM_WEBHOOK_SECRET: null }, /GSS_TELEGRAM_WEBHOOK_SECRET/],
  ]) {
    const n = fake.requests.length;
    const x = await runGssd(['telegram', 'set-webhook'], { env: { ...env, ...extra } });
    assert.equal(x.code, 2, x.stderr);
    assert.match(x.stderr, re);
    assert.equal(fake.requests.length, n);
  }
  const o = await runGssd(['telegram', 'set-webhook', '--url', 'https://hooks.example.com:8443/hooks/telegram'], { env });
  assert.equal(o.code, 0, o.stderr);
  assert.equal(fake.webhook.url, 'https://hooks.example.com:8443/hooks/telegram');
  const info = await runGssd(['telegram', 'webhook-info'], { env });
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /hooks\.example\.com:8443/);
  const del = await runGssd(['telegram', 'delete-webhook'], { env });
  assert.equal(del.code, 0, del.stderr);
  assert.equal(fake.webhook, null);
  const bad = await runGssd(['telegram', 'set-webhook'], { env: { ...env, GSS_TELEGRAM_TOKEN: '7000000001:wrong' } });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /401/);
});

after(async () => {
  if (gssd) assert.equal(await gssd.stop(), 0);
});
