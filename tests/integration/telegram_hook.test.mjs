// Telegram inside the app (issue 10, item 4; docs/telegram.md;
// src/http/handlers/hooks_telegram.c): real gssd, PostgreSQL, Redis, and
// the outbox's libcurl against the strict Telegram fake of tests/fakes/.
//
//   - POST /hooks/telegram: a missing or wrong secret is 401 with no side
//     effect; an unset secret is 503; the same update delivered twice is
//     done once; the answer is quick;
//   - account linking: POST /api/v1/me/telegram-link gives a one-time code
//     (stored as its hash) and the t.me deep link; "/start <code>" in a
//     private chat binds the Telegram user, and the reply reaches the fake
//     through the outbox; GET /api/v1/me says linked; a code used twice,
//     expired, replaced, or sent from a group does nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { startGssd, startRedis, createDatabase, psql, sleep } from './harness.mjs';
import { addUser, api, login } from './pool_util.mjs';
import { startTelegramFake } from '../fakes/telegram.mjs';

const TOKEN = '7000000001:AAtghook-test_token';
const SECRET = 'hook-Secret_0123456789';
const BOT = 'gss_test_bot';

let tg, redis, db, g, gOff;
const users = {};

function sha256hex(s) {
  return crypto.createHash('sha256').update(s).digest('hex');
}

async function scalar(sql) {
  const r = await psql(db.url, sql);
  return r.length ? r[0][0] : null;
}

async function linkCode(token) {
  const r = await api(g, token, 'POST', '/api/v1/me/telegram-link');
  assert.equal(r.status, 201, `telegram-link: ${r.status} ${r.text}`);
  return r.json;
}

async function tgIdOf(userId) {
  return scalar(`SELECT coalesce(telegram_id::text, 'none') FROM users WHERE id = ${userId}`);
}

/** The sendMessage requests the fake accepted for one chat. */
function sentTo(chatId) {
  return tg.requests.filter((e) => /^sendmessage$/i.test(e.api || ''))
    .filter((e) => e.params && String(e.params.chat_id) === String(chatId) && e.status === 200);
}

let nextTgUser = 7100000000 + (process.pid % 100000) * 100;
const tgUser = (first_name) => ({ id: ++nextTgUser, first_name });

before(async () => {
  tg = await startTelegramFake({ token: TOKEN });
  redis = await startRedis();
  db = await createDatabase();
  g = await startGssd({
    redis, database: db,
    env: {
      GSS_LOG_REQUESTS: 0,
      GSS_TELEGRAM_TOKEN: TOKEN, GSS_TELEGRAM_API_BASE: tg.apiBase, GSS_TELEGRAM_BOT_USERNAME: BOT,
      GSS_TELEGRAM_WEBHOOK_SECRET: SECRET, GSS_OUTBOX_POLL_MS: '100',
    },
  });
  for (const [name, role] of [['tgh_sales', 'sales'], ['tgh_sales2', 'sales'], ['tgh_ts', 'ts'], ['tgh_cs', 'cs']]) {
    users[name] = { id: await addUser(g, name, role), username: name };
    users[name].token = await login(g, name);
  }
  // The same database, no secret and no bot username: the webhook is off.
  gOff = await startGssd({ redis, database: db, env: { GSS_LOG_REQUESTS: 0 } });
});

after(async () => {
  if (tg) await tg.stop();
});

test('the link code: one-time, random, hashed, 15 minutes, the deep link', async () => {
  const before = Date.now();
  const a = await linkCode(users.tgh_sales.token);
  assert.deepEqual(Object.keys(a).sort(), ['code', 'expires_at', 'url']);
  // ≤ 64 of A-Za-z0-9_- and at least 128 bits: 22 base64url characters or more
  assert.match(a.code, /^[A-Za-z0-9_-]{22,64}$/);
  assert.equal(a.url, `https://t.me/${BOT}?start=${a.code}`);
  const exp = Date.parse(a.expires_at);
  assert.match(a.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok(exp > before + 14 * 60e3 && exp < Date.now() + 16 * 60e3, `expires_at ${a.expires_at} is 15 min ahead`);
  // only the hash is stored
  assert.equal(await scalar(`SELECT count(*) FROM telegram_link_codes WHERE code_hash = '${sha256hex(a.code)}'
    AND user_id = ${users.tgh_sales.id}`), '1');
  assert.equal(await scalar(`SELECT count(*) FROM telegram_link_codes WHERE code_hash LIKE '%${a.code}%'`), '0');
  // fresh every time
  const b = await linkCode(users.tgh_sales.token);
  assert.notEqual(a.code, b.code);
  // without a bot username there is nothing to link through
  const off = await api(gOff, users.tgh_cs.token, 'POST', '/api/v1/me/telegram-link');
  assert.equal(off.status, 503, off.text);
  // logged in only
  const anon = await api(g, 'nope', 'POST', '/api/v1/me/telegram-link');
  assert.equal(anon.status, 401, anon.text);
});

test('a missing or wrong secret is 401 and changes nothing; no secret configured is 503', async () => {
  const who = tgUser('Sekret');
  const { code } = await linkCode(users.tgh_ts.token);
  const upd = tg.startUpdate({ user: who, code });
  const rows0 = await scalar('SELECT count(*) FROM telegram_updates');
  for (const secret of [null, 'wrong', SECRET.slice(0, -1), `${SECRET}x`, SECRET.toLowerCase(), '']) {
    const r = await tg.deliverUpdate(g.url, upd, { secret });
    assert.equal(r.status, 401, `secret ${JSON.stringify(secret)}: ${r.status} ${r.text}`);
  }
  const off = await tg.deliverUpdate(gOff.url, upd, { secret: SECRET });
  assert.equal(off.status, 503, off.text);
  assert.equal(await scalar('SELECT count(*) FROM telegram_updates'), rows0, 'no update recorded');
  assert.equal(await tgIdOf(users.tgh_ts.id), 'none', 'nobody linked');
  assert.equal(await scalar(`SELECT count(*) FROM telegram_link_codes WHERE used_at IS NOT NULL
    AND code_hash = '${sha256hex(code)}'`), '0', 'the code is unused');
  // and the same update with the right secret then works
  const ok = await tg.deliverUpdate(g.url, upd, { secret: SECRET });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(await tgIdOf(users.tgh_ts.id), String(who.id));
});

test('/start <code> links the account, replies through the outbox, and /me says so', async () => {
  const u = users.tgh_sales2;
  const me0 = await api(g, u.token, 'GET', '/api/v1/me');
  assert.equal(me0.status, 200, me0.text);
  assert.deepEqual(me0.json.telegram, { linked: false });
  const who = tgUser('Sari');
  const { code } = await linkCode(u.token);
  const upd = tg.startUpdate({ user: who, code });
  const r = await tg.deliverUpdate(g.url, upd, { secret: SECRET });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ok: true });
  assert.ok(r.ms < 1000, `answered in ${r.ms} ms`);
  assert.equal(await tgIdOf(u.id), String(who.id));
  assert.equal(await scalar(`SELECT telegram_chat_id FROM users WHERE id = ${u.id}`), String(who.id));
  const me1 = await api(g, u.token, 'GET', '/api/v1/me');
  assert.deepEqual(me1.json.telegram, { linked: true });
  // the reply, sent by the outbox to the private chat
  const req = await tg.waitForRequest((e) => /^sendmessage$/i.test(e.api) && e.params
    && String(e.params.chat_id) === String(who.id), { timeoutMs: 10000 });
  assert.equal(req.status, 200, JSON.stringify(req.reply));
  assert.equal(req.params.text, `Akun GSS terhubung: Pool ${u.username}`);
  // the same update again (Telegram resends): 200, done once
  const again = await tg.deliverUpdate(g.url, upd, { secret: SECRET });
  assert.equal(again.status, 200, again.text);
  await sleep(600);
  assert.equal(sentTo(who.id).length, 1, 'one reply');
  assert.equal(await scalar(`SELECT count(*) FROM telegram_updates WHERE update_id = ${upd.update_id}`), '1');
});

test('a repeated update_id is dropped even when its work could run again', async () => {
  // The code is made usable again behind the server's back, and the
  // Telegram user linked elsewhere meanwhile: only the update_id record
  // can stop the repeat from moving the link back.
  const who = tgUser('Ulang');
  const c1 = await linkCode(users.tgh_cs.token);
  const u1 = tg.startUpdate({ user: who, code: c1.code });
  assert.equal((await tg.deliverUpdate(g.url, u1, { secret: SECRET })).status, 200);
  assert.equal(await tgIdOf(users.tgh_cs.id), String(who.id));
  // relink the same Telegram user to another account: the first one loses it
  const c2 = await linkCode(users.tgh_sales.token);
  const u2 = tg.startUpdate({ user: who, code: c2.code });
  assert.equal((await tg.deliverUpdate(g.url, u2, { secret: SECRET })).status, 200);
  assert.equal(await tgIdOf(users.tgh_sales.id), String(who.id));
  assert.equal(await tgIdOf(users.tgh_cs.id), 'none', 'one Telegram user, one account');
  await psql(db.url, `UPDATE telegram_link_codes SET used_at = NULL WHERE code_hash = '${sha256hex(c1.code)}'`);
  const r = await tg.deliverUpdate(g.url, u1, { secret: SECRET });
  assert.equal(r.status, 200, r.text);
  assert.equal(await tgIdOf(users.tgh_sales.id), String(who.id), 'the repeat did nothing');
  assert.equal(await tgIdOf(users.tgh_cs.id), 'none');
});

test('a code used twice, expired, replaced, or sent outside a private chat does nothing', async () => {
  const u = users.tgh_cs;
  // used twice: the second Telegram user gets nothing
  const first = tgUser('Satu'), second = tgUser('Dua');
  const c = await linkCode(u.token);
  assert.equal((await tg.deliverUpdate(g.url, tg.startUpdate({ user: first, code: c.code }), { secret: SECRET })).status, 200);
  assert.equal(await tgIdOf(u.id), String(first.id));
  const r2 = await tg.deliverUpdate(g.url, tg.startUpdate({ user: second, code: c.code }), { secret: SECRET });
  assert.equal(r2.status, 200, r2.text);
  assert.equal(await tgIdOf(u.id), String(first.id), 'still the first');
  assert.equal(await scalar(`SELECT count(*) FROM users WHERE telegram_id = ${second.id}`), '0');
  // expired
  const late = tgUser('Telat');
  const e = await linkCode(users.tgh_sales2.token);
  await psql(db.url, `UPDATE telegram_link_codes SET expires_at = now() - interval '1 second'
    WHERE code_hash = '${sha256hex(e.code)}'`);
  assert.equal((await tg.deliverUpdate(g.url, tg.startUpdate({ user: late, code: e.code }), { secret: SECRET })).status, 200);
  assert.equal(await scalar(`SELECT count(*) FROM users WHERE telegram_id = ${late.id}`), '0');
  // replaced by a newer code of the same user
  const old = await linkCode(users.tgh_ts.token);
  await linkCode(users.tgh_ts.token);
  const repl = tgUser('Lama');
  assert.equal((await tg.deliverUpdate(g.url, tg.startUpdate({ user: repl, code: old.code }), { secret: SECRET })).status, 200);
  assert.equal(await scalar(`SELECT count(*) FROM users WHERE telegram_id = ${repl.id}`), '0');
  // in a group, not the private chat
  const grp = tgUser('Grup');
  const gc = await linkCode(users.tgh_ts.token);
  const inGroup = tg.messageUpdate({ from: grp, chat: { id: -1001234567890, type: 'supergroup', title: 'Teknisi' }, text: `/start ${gc.code}` });
  assert.equal((await tg.deliverUpdate(g.url, inGroup, { secret: SECRET })).status, 200);
  assert.equal(await scalar(`SELECT count(*) FROM users WHERE telegram_id = ${grp.id}`), '0');
  // nothing was sent to any of them
  await sleep(600);
  for (const x of [second, late, repl, grp]) assert.equal(sentTo(x.id).length, 0, `nothing to ${x.first_name}`);
});

test('a body that is no update is refused and recorded nowhere; other updates are taken', async () => {
  const rows0 = await scalar('SELECT count(*) FROM telegram_updates');
  const r = await tg.deliverUpdate(g.url, { hello: 1 }, { secret: SECRET });
  assert.equal(r.status, 422, r.text);
  const neg = await tg.deliverUpdate(g.url, { update_id: -5 }, { secret: SECRET });
  assert.equal(neg.status, 422, neg.text);
  assert.equal(await scalar('SELECT count(*) FROM telegram_updates'), rows0);
  const plain = tg.messageUpdate({ from: tgUser('Halo'), text: 'halo bot' });
  const ok = await tg.deliverUpdate(g.url, plain, { secret: SECRET });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(await scalar(`SELECT count(*) FROM telegram_updates WHERE update_id = ${plain.update_id}`), '1');
});
