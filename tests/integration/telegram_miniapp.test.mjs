// The Mini App login (issue 10, item 4; docs/telegram.md "Mini App login";
// src/http/handlers/auth_telegram.c): real gssd, PostgreSQL and Redis; the
// initData is built by tests/fakes/telegram.mjs exactly as Telegram signs
// it, and accounts are linked through the real flow (POST
// /api/v1/me/telegram-link, then the fake's "/start <code>" delivered to
// /hooks/telegram).
//
//   - valid initData of a linked technician → 200 {token, csrf_token, user,
//     start_param} + the session cookie; that session claims a job (Bearer,
//     and cookie + CSRF);
//   - with the signature field in the hashed lines (what real clients do)
//     and without a signature field at all; the variant that leaves
//     signature out of the lines while sending it is refused;
//   - stale auth_date → 401 init_data_expired; wrong hash, tampered user,
//     another bot's token, future auth_date, garbage → 401
//     init_data_invalid; an unlinked or deactivated user → 401
//     telegram_not_linked; no token configured → 503 telegram_off;
//   - failures are throttled like password logins (429 past the limit).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startGssd, startRedis, createDatabase, psql, http } from './harness.mjs';
import { addUser, api, login, createTicket, bulkCustomers } from './pool_util.mjs';
import { startTelegramFake } from '../fakes/telegram.mjs';

const TOKEN = '7000000002:AAminiapp-test_token';
const SECRET = 'miniapp-Secret_0123456789';
const BOT = 'gss_miniapp_bot';

let tg, redis, db, g, gOff, gStrict, cs, customer, citra;
const users = {};

let nextTgUser = 7300000000 + (process.pid % 100000) * 100;
const tgUser = (first_name) => ({ id: ++nextTgUser, first_name, last_name: 'Teknisi', username: `u${nextTgUser}` });

/** Links a GSS account to a fresh Telegram user the real way; returns the
 *  Telegram user. */
async function link(u, name) {
  const who = tgUser(name);
  const r = await api(g, u.token, 'POST', '/api/v1/me/telegram-link');
  assert.equal(r.status, 201, `telegram-link: ${r.status} ${r.text}`);
  const d = await tg.deliverUpdate(g.url, tg.startUpdate({ user: who, code: r.json.code }), { secret: SECRET });
  assert.equal(d.status, 200, d.text);
  const rows = await psql(db.url, `SELECT coalesce(telegram_id::text, 'none') FROM users WHERE id = ${u.id}`);
  assert.equal(rows[0][0], String(who.id), 'linked');
  return who;
}

function miniLogin(server, initData, headers = {}) {
  return http(`${server.url}/api/v1/auth/telegram`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ init_data: initData }), timeout: 20000,
  });
}

function assertRefused(r, status, code, what) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json?.error?.code, code, `${what}: ${r.text}`);
  assert.equal(r.headers.get('set-cookie'), null, `${what}: no cookie`);
  assert.ok(!('token' in (r.json || {})), `${what}: no token`);
}

before(async () => {
  tg = await startTelegramFake({ token: TOKEN, botUsername: BOT });
  redis = await startRedis();
  db = await createDatabase();
  const env = {
    GSS_LOG_REQUESTS: 0,
    GSS_TELEGRAM_TOKEN: TOKEN, GSS_TELEGRAM_API_BASE: tg.apiBase, GSS_TELEGRAM_BOT_USERNAME: BOT,
    GSS_TELEGRAM_WEBHOOK_SECRET: SECRET, GSS_OUTBOX_POLL_MS: '100',
    GSS_LOGIN_MAX_FAILURES: '1000', // the throttle test has its own server
  };
  g = await startGssd({ redis, database: db, env });
  for (const [name, role] of [['tgm_ts', 'ts'], ['tgm_ts2', 'ts'], ['tgm_gone', 'ts'], ['tgm_cs', 'cs']]) {
    users[name] = { id: await addUser(g, name, role), username: name };
    users[name].token = await login(g, name);
  }
  cs = users.tgm_cs.token;
  [customer] = await bulkCustomers(g, 1, 41);
  // the same database, no bot token: off
  gOff = await startGssd({ redis, database: db, env: { GSS_LOG_REQUESTS: 0 } });
  // a low failure limit, its own Redis prefix (counters of its own)
  gStrict = await startGssd({
    redis, database: db, env: { ...env, GSS_LOGIN_MAX_FAILURES: '2', GSS_REDIS_PREFIX: `tgm_strict_${process.pid}` },
  });
});

after(async () => {
  if (tg) await tg.stop();
});

test('valid initData of a linked technician logs in like a password login, and that session claims', async () => {
  const u = users.tgm_ts;
  const who = await link(u, 'Budi');
  const job = await createTicket(g, cs, customer, 2);
  const init = tg.miniAppInitData({ user: who, start_param: `job_${job.id}`, chat_type: 'sender', chat_instance: '-4242' });
  const r = await miniLogin(g, init);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json).sort(), ['csrf_token', 'start_param', 'token', 'user']);
  assert.deepEqual(r.json.user, { id: u.id, role: 'ts', name: `Pool ${u.username}`, username: u.username });
  assert.equal(r.json.start_param, `job_${job.id}`);
  assert.match(r.json.token, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(r.json.token, u.token);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const cookie = r.headers.get('set-cookie');
  assert.match(cookie, new RegExp(`^gss_session=${r.json.token};`));
  assert.match(cookie, /HttpOnly/);
  // the same answer shape as POST /auth/login
  const pw = await http(`${g.url}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: u.username, password: 'pool-tests-password-1' }),
  });
  assert.deepEqual(Object.keys(pw.json).filter((k) => k !== 'start_param').sort(),
    Object.keys(r.json).filter((k) => k !== 'start_param').sort());
  // the session is the technician's: /me, then the claim (Bearer)
  const me = await api(g, r.json.token, 'GET', '/api/v1/me');
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.user.id, u.id);
  assert.deepEqual(me.json.telegram, { linked: true });
  const c = await api(g, r.json.token, 'POST', `/api/v1/pool/${job.id}/claim`);
  assert.equal(c.status, 200, `claim with the Mini App session: ${c.status} ${c.text}`);
  // and with the cookie + CSRF token, as the page does it
  const job2 = await createTicket(g, cs, customer, 1);
  const r2 = await miniLogin(g, tg.miniAppInitData({ user: who }));
  assert.equal(r2.status, 200, r2.text);
  assert.equal(r2.json.start_param, null, 'no launch parameter');
  const c2 = await http(`${g.url}/api/v1/pool/${job2.id}/claim`, {
    method: 'POST',
    headers: { cookie: `gss_session=${r2.json.token}`, 'x-csrf-token': r2.json.csrf_token },
  });
  assert.equal(c2.status, 200, `cookie claim: ${c2.status} ${c2.text}`);
  // an audit row says how
  const a = await psql(db.url, `SELECT data->>'via' FROM audit_log WHERE actor_id = ${u.id} AND action = 'login'
    AND data->>'via' = 'telegram'`);
  assert.ok(a.length >= 2, 'audit rows with via=telegram');
});

test('the signature field: signed with the rest (real clients), absent (older clients); left out of the hash is refused', async () => {
  const who = await link(users.tgm_ts2, 'Citra');
  citra = who;
  const withSig = tg.miniAppInitData({ user: who });
  assert.match(withSig, /&signature=[A-Za-z0-9_-]+&hash=[0-9a-f]{64}$/, 'the fake sends signature');
  assert.equal((await miniLogin(g, withSig)).status, 200, 'signature among the hashed lines');
  const noSig = tg.miniAppInitData({ user: who, withSignature: false });
  assert.doesNotMatch(noSig, /signature=/);
  assert.equal((await miniLogin(g, noSig)).status, 200, 'no signature field at all');
  const sigOutside = tg.miniAppInitData({ user: who, signatureInHash: false });
  assertRefused(await miniLogin(g, sigOutside), 401, 'init_data_invalid', 'signature sent but not hashed');
});

test('stale, forged, tampered, unlinked, deactivated: 401 with their codes', async () => {
  const u = users.tgm_gone;
  const who = await link(u, 'Dedi');
  const now = Math.floor(Date.now() / 1000);
  // fresh enough still works (a minute old)
  assert.equal((await miniLogin(g, tg.miniAppInitData({ user: who, auth_date: now - 60 }))).status, 200);
  assertRefused(await miniLogin(g, tg.miniAppInitData({ user: who, auth_date: now - 301 })), 401, 'init_data_expired',
    'auth_date older than 300 s');
  assertRefused(await miniLogin(g, tg.miniAppInitData({ user: who, auth_date: now - 86400 })), 401, 'init_data_expired',
    'a day old');
  assertRefused(await miniLogin(g, tg.miniAppInitData({ user: who, auth_date: now + 3600 })), 401, 'init_data_invalid',
    'auth_date an hour ahead');
  assertRefused(await miniLogin(g, tg.miniAppInitData({ user: who, tamper: 'hash' })), 401, 'init_data_invalid',
    'wrong hash');
  assertRefused(await miniLogin(g, tg.miniAppInitData({ user: who, tamper: 'user' })), 401, 'init_data_invalid',
    'user renamed after signing');
  assertRefused(await miniLogin(g, tg.miniAppInitData({ user: who, tamper: 'token' })), 401, 'init_data_invalid',
    "another bot's token");
  // a field changed after signing: another user id in place of ours
  const good = tg.miniAppInitData({ user: who, start_param: 'job_1' });
  assertRefused(await miniLogin(g, good.replace('start_param=job_1', 'start_param=job_2')), 401, 'init_data_invalid',
    'start_param tampered');
  assertRefused(await miniLogin(g, good.replace(encodeURIComponent(`"id":${who.id}`),
    encodeURIComponent(`"id":${who.id + 1}`))), 401, 'init_data_invalid', 'user id tampered');
  // a field added, a field repeated
  assertRefused(await miniLogin(g, `query_id=AAx&${good}`), 401, 'init_data_invalid', 'a field added');
  assertRefused(await miniLogin(g, `${good}&hash=${'0'.repeat(64)}`), 401, 'init_data_invalid', 'hash repeated');
  for (const junk of ['x', 'hash=', '=&&=', 'user=%ZZ&hash=00', `auth_date=${now}&hash=${'a'.repeat(64)}`]) {
    assertRefused(await miniLogin(g, junk), 401, 'init_data_invalid', `junk ${junk}`);
  }
  // validation of the body
  const bad = await http(`${g.url}/api/v1/auth/telegram`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ init_data: 5 }),
  });
  assert.equal(bad.status, 422, bad.text);
  // a genuine Telegram user nobody linked
  assertRefused(await miniLogin(g, tg.miniAppInitData({ user: tgUser('Asing') })), 401, 'telegram_not_linked',
    'unlinked');
  // deactivated: still linked in the table, refused
  const admin = await addUser(g, 'tgm_admin', 'admin');
  const at = await login(g, 'tgm_admin');
  const p = await api(g, at, 'PATCH', `/api/v1/users/${u.id}`, { active: false });
  assert.equal(p.status, 200, p.text);
  assert.ok(admin > 0);
  assertRefused(await miniLogin(g, tg.miniAppInitData({ user: who })), 401, 'telegram_not_linked', 'deactivated');
  // no token configured
  assertRefused(await miniLogin(gOff, tg.miniAppInitData({ user: who })), 503, 'telegram_off', 'off');
});

test('failures are throttled like password logins; forged data cannot lock a linked user out', async () => {
  assert.ok(citra, 'the signature test linked Citra');
  // a genuine, unlinked Telegram user: its own counter (limit 2) → 429 on the third
  const who = tgUser('Spam');
  for (let i = 0; i < 2; i++) assertRefused(await miniLogin(gStrict, tg.miniAppInitData({ user: who })), 401,
    'telegram_not_linked', `unlinked try ${i + 1}`);
  const blocked = await miniLogin(gStrict, tg.miniAppInitData({ user: who }));
  assert.equal(blocked.status, 429, `third try: ${blocked.text}`);
  assert.equal(blocked.json?.error?.code, 'too_many_attempts');
  assert.match(blocked.headers.get('retry-after') || '', /^[1-9]\d*$/);
  // forgeries naming a linked user count against the address only (now 2 + 3 of 8)
  for (let i = 0; i < 3; i++) assertRefused(await miniLogin(gStrict, tg.miniAppInitData({ user: citra, tamper: 'hash' })),
    401, 'init_data_invalid', `forgery ${i + 1}`);
  const ok = await miniLogin(gStrict, tg.miniAppInitData({ user: citra }));
  assert.equal(ok.status, 200, `Citra still logs in: ${ok.text}`);
  // until the address itself is over 4x the limit
  let last;
  for (let i = 0; i < 8; i++) {
    last = await miniLogin(gStrict, tg.miniAppInitData({ user: citra, tamper: 'hash' }));
    if (last.status === 429) break;
  }
  assert.equal(last.status, 429, `the address is throttled: ${last.text}`);
  assert.equal((await miniLogin(gStrict, tg.miniAppInitData({ user: citra }))).status, 429, 'valid data too, now');
});
