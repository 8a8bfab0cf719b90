// Accounts, sessions and their invalidation across processes, CSRF, the
// failed-login throttle, and what happens to passwords (issue 4).
//
// Two gssd processes (A and B) share one Redis and one database, as several
// processes or hosts would in production (DESIGN.md §9): a session made or
// ended through one must be honoured by the other at once, thanks to the
// pub/sub invalidation, not after the cache's 5 s.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';

import {
  startGssd, startRedis, createDatabase, psql, http, waitFor, sleep, gssdBin, REDIS_PREFIX, scrapeMetrics,
} from './harness.mjs';

const T = { timeout: 60000 };

// Every password used in this file, so that the log check can look for all.
const PASSWORDS = new Set();
// Every JSON body received, so that the "never returned" check sees all.
const BODIES = [];

function pw(label) {
  const p = `${label}-Pw-${crypto.randomBytes(6).toString('hex')}`;
  PASSWORDS.add(p);
  return p;
}

/** gssd user add, password on stdin. */
function userAdd(dbUrl, username, role, name, password, { phone } = {}) {
  return new Promise((resolve, reject) => {
    const args = ['user', 'add', username, '--role', role, '--name', name];
    if (phone) args.push('--phone', phone);
    const env = { ...process.env, GSS_DATABASE_URL: dbUrl, GSS_ARGON2_FAST: '1', GSS_LOG_LEVEL: 'warn' };
    const p = spawn(gssdBin(), args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { out += c; });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`user add ${username} exited ${code}: ${out}`))));
    p.stdin.end(`${password}\n`);
  });
}

function sha256hex(s) {
  return crypto.createHash('sha256').update(s).digest('hex');
}

/** One API call. auth: {token} (Bearer) or {cookie, csrf}. */
async function api(g, method, path, { auth, body, headers = {}, csrf } = {}) {
  const h = { ...headers };
  if (auth && auth.token) h.authorization = `Bearer ${auth.token}`;
  if (auth && auth.cookie) h.cookie = `gss_session=${auth.cookie}`;
  const c = csrf !== undefined ? csrf : auth && auth.csrf;
  if (c) h['x-csrf-token'] = c;
  let b;
  if (body !== undefined) {
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    b = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const r = await http(`${g.url}${path}`, { method, headers: h, body: b });
  if (r.json !== undefined) BODIES.push({ path, json: r.json });
  return r;
}

async function login(g, username, password) {
  const r = await api(g, 'POST', '/api/v1/auth/login', { body: { username, password } });
  return r;
}

/** Logs in and returns {token, csrf, user, res}; fails the test on non-200. */
async function session(g, username, password) {
  const r = await login(g, username, password);
  assert.equal(r.status, 200, `login ${username}: ${r.status} ${r.text}`);
  return { token: r.json.token, csrf: r.json.csrf_token, user: r.json.user, res: r };
}

const bearer = (s) => ({ token: s.token });
const cookie = (s) => ({ cookie: s.token, csrf: s.csrf });

async function meStatus(g, s) {
  return (await api(g, 'GET', '/api/v1/me', { auth: bearer(s) })).status;
}

let redis;
let database;
let A;
let B;
const users = {};

before(async () => {
  redis = await startRedis();
  database = await createDatabase();
  A = await startGssd({ redis, database });
  B = await startGssd({ redis, database });
  for (const [u, role, name] of [
    ['admin1', 'admin', 'Ani Admin'],
    ['cs1', 'cs', 'Citra CS'],
    ['ts1', 'ts', 'Tono Teknisi'],
    ['sales1', 'sales', 'Sari Sales'],
    ['victim', 'ts', 'Vicky'],
    ['roley', 'cs', 'Roley'],
    ['resetme', 'sales', 'Reset Me'],
  ]) {
    users[u] = { password: pw(u) };
    await userAdd(database.url, u, role, name, users[u].password);
  }
  const rows = await psql(database.url, 'SELECT username, id FROM users');
  for (const [u, id] of rows) users[u].id = Number(id);
}, { timeout: 120000 });

describe('login, me and logout', () => {
  it('login answers token, csrf_token and user, and sets the session cookie', T, async () => {
    const r = await login(A, 'cs1', users.cs1.password);
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.token, /^[A-Za-z0-9_-]{43}$/);
    assert.match(r.json.csrf_token, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(r.json.token, r.json.csrf_token);
    assert.deepEqual(r.json.user, { id: users.cs1.id, role: 'cs', name: 'Citra CS', username: 'cs1' });
    const sc = r.headers.get('set-cookie');
    assert.ok(sc, 'no Set-Cookie');
    const parts = sc.split(';').map((x) => x.trim());
    assert.equal(parts[0], `gss_session=${r.json.token}`);
    const attrs = parts.slice(1).map((x) => x.toLowerCase());
    assert.ok(attrs.includes('httponly'), sc);
    assert.ok(attrs.includes('samesite=lax'), sc);
    assert.ok(attrs.includes('path=/'), sc);
    assert.ok(attrs.includes('max-age=43200'), sc);
    assert.ok(!attrs.includes('secure'), 'Secure must be off unless GSS_COOKIE_SECURE=1');
    assert.match(r.headers.get('cache-control') || '', /no-store/);
  });

  it('Redis holds only the token hash, with uid, role, name, username, csrf and a TTL', T, async () => {
    const s = await session(A, 'ts1', users.ts1.password);
    const key = `${REDIS_PREFIX}:sess:${sha256hex(s.token)}`;
    const h = await redis.command('HGETALL', key);
    const obj = {};
    for (let i = 0; i < h.length; i += 2) obj[h[i]] = h[i + 1];
    assert.deepEqual(obj, { uid: String(users.ts1.id), role: 'ts', name: 'Tono Teknisi', username: 'ts1', csrf: s.csrf });
    const ttl = await redis.command('TTL', key);
    assert.ok(ttl > 43000 && ttl <= 43200, `TTL ${ttl}`);
    const members = await redis.command('SMEMBERS', `${REDIS_PREFIX}:usess:${users.ts1.id}`);
    assert.ok(members.includes(sha256hex(s.token)));
    assert.ok((await redis.command('TTL', `${REDIS_PREFIX}:usess:${users.ts1.id}`)) > 43000);
    // The plain token appears nowhere in Redis.
    const keys = await redis.command('KEYS', '*');
    for (const k of keys) {
      assert.ok(!k.includes(s.token), `token in key ${k}`);
      const type = await redis.command('TYPE', k);
      const dump = type === 'hash' ? await redis.command('HGETALL', k)
        : type === 'set' ? await redis.command('SMEMBERS', k)
          : type === 'string' ? [await redis.command('GET', k)] : [];
      assert.ok(!dump.some((v) => String(v).includes(s.token)), `token stored in ${k}`);
    }
  });

  it('GET /me answers the user and the csrf token, by Bearer and by cookie, on either process', T, async () => {
    const s = await session(A, 'sales1', users.sales1.password);
    for (const g of [A, B]) {
      for (const auth of [bearer(s), { cookie: s.token }]) {
        const r = await api(g, 'GET', '/api/v1/me', { auth });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json, {
          user: { id: users.sales1.id, role: 'sales', name: 'Sari Sales', username: 'sales1' },
          csrf_token: s.csrf,
          telegram: { linked: false }, // no /start <code> yet (docs/telegram.md)
          settings: { tax_rate_bp: 0 }, // GSS_TAX_RATE_BP unset (docs/money.md)
        });
      }
    }
  });

  it('no token, a malformed or unknown token, or a non-Bearer Authorization is 401 unauthorized', T, async () => {
    const s = await session(A, 'cs1', users.cs1.password);
    const cases = [
      {},
      { authorization: 'Bearer nope' },
      { authorization: `Bearer ${'A'.repeat(43)}` },
      { cookie: `gss_session=${'B'.repeat(43)}` },
      { cookie: 'gss_session=' },
      { authorization: `Basic ${Buffer.from('cs1:x').toString('base64')}` },
      // A bad Bearer is not rescued by a good cookie.
      { authorization: 'Bearer bad', cookie: `gss_session=${s.token}` },
    ];
    for (const headers of cases) {
      const r = await api(A, 'GET', '/api/v1/me', { headers });
      assert.equal(r.status, 401, `${JSON.stringify(headers)}: ${r.text}`);
      assert.equal(r.json.error.code, 'unauthorized');
    }
    // Several cookies: ours is found among them.
    const r = await api(A, 'GET', '/api/v1/me', { headers: { cookie: `a=1; gss_session=${s.token}; b=2` } });
    assert.equal(r.status, 200, r.text);
  });

  it('a logout through A is refused by B at once (pub/sub), not after the cache time', T, async () => {
    const s = await session(A, 'cs1', users.cs1.password);
    // Both processes have it cached now.
    assert.equal(await meStatus(A, s), 200);
    assert.equal(await meStatus(B, s), 200);
    const out = await api(A, 'POST', '/api/v1/auth/logout', { auth: bearer(s) });
    assert.equal(out.status, 200, out.text);
    const sc = out.headers.get('set-cookie') || '';
    assert.match(sc, /^gss_session=;/);
    assert.match(sc, /Max-Age=0/i);
    const t0 = Date.now();
    await waitFor(async () => (await meStatus(B, s)) === 401, { timeout: 300, interval: 10, what: 'B to refuse' });
    assert.ok(Date.now() - t0 < 300);
    assert.equal(await meStatus(A, s), 401);
    assert.equal(await redis.command('EXISTS', `${REDIS_PREFIX}:sess:${sha256hex(s.token)}`), 0);
    const members = await redis.command('SMEMBERS', `${REDIS_PREFIX}:usess:${users.cs1.id}`);
    assert.ok(!members.includes(sha256hex(s.token)));
    // A second logout with the dead token: 401.
    assert.equal((await api(B, 'POST', '/api/v1/auth/logout', { auth: bearer(s) })).status, 401);
  });

  it('a cookie logout needs the CSRF header, and clears the cookie', T, async () => {
    const s = await session(B, 'sales1', users.sales1.password);
    const no = await api(B, 'POST', '/api/v1/auth/logout', { auth: { cookie: s.token } });
    assert.equal(no.status, 403);
    assert.equal(no.json.error.code, 'csrf_failed');
    assert.equal(await meStatus(A, s), 200);
    const yes = await api(B, 'POST', '/api/v1/auth/logout', { auth: cookie(s) });
    assert.equal(yes.status, 200, yes.text);
    await waitFor(async () => (await meStatus(A, s)) === 401, { timeout: 300, interval: 10, what: 'A to refuse' });
  });

  it('an expired session is refused by a process that never saw it, and by the one that cached it within the cache time', T, async () => {
    const s = await session(A, 'ts1', users.ts1.password);
    assert.equal(await meStatus(A, s), 200); // cached in A
    await redis.command('EXPIRE', `${REDIS_PREFIX}:sess:${sha256hex(s.token)}`, 1);
    await sleep(1300);
    assert.equal(await meStatus(B, s), 401);
    // A may serve it from its cache for at most GSS_SESSION_CACHE_MS (5 s).
    const t0 = Date.now();
    await waitFor(async () => (await meStatus(A, s)) === 401, { timeout: 6000, interval: 100, what: 'A to refuse' });
    assert.ok(Date.now() - t0 < 6000);
  });

  it('a session deleted from Redis is refused', T, async () => {
    const s = await session(A, 'ts1', users.ts1.password);
    await redis.command('DEL', `${REDIS_PREFIX}:sess:${sha256hex(s.token)}`);
    assert.equal(await meStatus(B, s), 401);
  });

  it('the session TTL slides: a read from Redis pushes the expiry out again', T, async () => {
    const C = await startGssd({ redis, database, env: { GSS_SESSION_CACHE_MS: '0' } });
    try {
      const s = await session(C, 'ts1', users.ts1.password);
      const key = `${REDIS_PREFIX}:sess:${sha256hex(s.token)}`;
      const ukey = `${REDIS_PREFIX}:usess:${users.ts1.id}`;
      await redis.command('EXPIRE', key, 100);
      await redis.command('EXPIRE', ukey, 100);
      assert.equal(await meStatus(C, s), 200);
      await waitFor(async () => (await redis.command('TTL', key)) > 43000, { timeout: 2000, what: 'session TTL renewed' });
      await waitFor(async () => (await redis.command('TTL', ukey)) > 43000, { timeout: 2000, what: 'user set TTL renewed' });
    } finally {
      assert.equal(await C.stop(), 0, C.lines.slice(-20).join('\n'));
    }
  });

  it('GSS_COOKIE_SECURE=1 marks the cookie Secure; GET /me by cookie renews it', T, async () => {
    const C = await startGssd({ redis, database, env: { GSS_COOKIE_SECURE: '1', GSS_SESSION_TTL_S: '600' } });
    try {
      const r = await login(C, 'sales1', users.sales1.password);
      assert.equal(r.status, 200);
      const sc = r.headers.get('set-cookie');
      assert.match(sc, /;\s*Secure(;|$)/);
      assert.match(sc, /Max-Age=600/);
      const me = await api(C, 'GET', '/api/v1/me', { auth: { cookie: r.json.token } });
      assert.equal(me.status, 200);
      assert.match(me.headers.get('set-cookie') || '', new RegExp(`^gss_session=${r.json.token};.*Max-Age=600`));
      const meB = await api(C, 'GET', '/api/v1/me', { auth: { token: r.json.token } });
      assert.equal(meB.headers.get('set-cookie'), null, 'a Bearer call gets no cookie');
    } finally {
      assert.equal(await C.stop(), 0, C.lines.slice(-20).join('\n'));
    }
  });
});

describe('users API (admin)', () => {
  let admin;
  before(async () => {
    admin = await session(A, 'admin1', users.admin1.password);
  });

  it('lists users with exactly the documented fields and never a password', T, async () => {
    const r = await api(A, 'GET', '/api/v1/users', { auth: bearer(admin) });
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.json.users));
    const me = r.json.users.find((u) => u.username === 'admin1');
    assert.ok(me, r.text);
    assert.deepEqual(Object.keys(me).sort(),
      ['active', 'created_at', 'id', 'name', 'phone', 'role', 'telegram_linked', 'username']);
    assert.equal(me.role, 'admin');
    assert.equal(me.active, true);
    assert.equal(me.telegram_linked, false);
    assert.equal(me.phone, null);
    assert.match(me.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const ts = await api(A, 'GET', '/api/v1/users?role=ts', { auth: bearer(admin) });
    assert.ok(ts.json.users.length >= 2 && ts.json.users.every((u) => u.role === 'ts'));
    assert.equal((await api(A, 'GET', '/api/v1/users?role=boss', { auth: bearer(admin) })).status, 422);
    const one = await api(A, 'GET', `/api/v1/users/${users.cs1.id}`, { auth: bearer(admin) });
    assert.equal(one.status, 200);
    assert.equal(one.json.username, 'cs1');
    assert.equal((await api(A, 'GET', '/api/v1/users/999999', { auth: bearer(admin) })).status, 404);
  });

  it('creates a user (argon2id hash, audit entry) who can then log in', T, async () => {
    const password = pw('newbie');
    const r = await api(A, 'POST', '/api/v1/users', {
      auth: bearer(admin),
      body: { username: 'newbie', name: 'Budi Baru', role: 'ts', phone: '6281234567890', password },
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.username, 'newbie');
    assert.equal(r.json.phone, '6281234567890');
    assert.equal(r.json.active, true);
    const [[hash]] = await psql(database.url, "SELECT password_hash FROM users WHERE username = 'newbie'");
    assert.match(hash, /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$/);
    const audit = await psql(database.url,
      `SELECT actor_id, action, data->>'username' FROM audit_log WHERE entity = 'user' AND entity_id = ${r.json.id}`);
    assert.deepEqual(audit, [[String(users.admin1.id), 'create', 'newbie']]);
    const s = await session(B, 'newbie', password);
    assert.equal(s.user.role, 'ts');
    const dup = await api(A, 'POST', '/api/v1/users', {
      auth: bearer(admin), body: { username: 'newbie', name: 'Other', role: 'cs', password: pw('x') },
    });
    assert.equal(dup.status, 409);
    assert.equal(dup.json.error.code, 'username_taken');
  });

  it('rejects invalid fields with 422 validation_failed naming the field', T, async () => {
    const good = { username: 'valid_user', name: 'Valid', role: 'cs', password: 'longenough' };
    const bad = [
      [{ username: 'AB' }, 'username'],
      [{ username: 'Upper' }, 'username'],
      [{ username: 'a'.repeat(33) }, 'username'],
      [{ username: undefined }, 'username'],
      [{ name: '' }, 'name'],
      [{ name: 'x'.repeat(101) }, 'name'],
      [{ name: 'tab\there' }, 'name'],
      [{ role: 'boss' }, 'role'],
      [{ role: 7 }, 'role'],
      [{ phone: '0812345678' }, 'phone'],
      [{ phone: '62123' }, 'phone'],
      [{ password: 'short' }, 'password'],
      [{ password: 'x'.repeat(129) }, 'password'],
      [{ password: undefined }, 'password'],
      [{ active: false }, 'active'],
    ];
    for (const [patch, field] of bad) {
      const body = { ...good, ...patch };
      for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
      const r = await api(A, 'POST', '/api/v1/users', { auth: bearer(admin), body });
      assert.equal(r.status, 422, `${JSON.stringify(patch)}: ${r.text}`);
      assert.equal(r.json.error.code, 'validation_failed');
      assert.match(r.json.error.message, new RegExp(`^${field}\\b`), JSON.stringify(patch));
    }
    // 100 characters of multi-byte UTF-8 is a valid name.
    const r = await api(A, 'POST', '/api/v1/users', {
      auth: bearer(admin), body: { ...good, username: 'utf8name', name: 'é'.repeat(100) },
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.name, 'é'.repeat(100));
    const ct = await api(A, 'POST', '/api/v1/users', { auth: bearer(admin), body: 'not json' });
    assert.equal(ct.status, 400);
  });

  it('PATCH changes name and phone, 404s an unknown user, and refuses an empty change', T, async () => {
    const id = users.ts1.id;
    let r = await api(A, 'PATCH', `/api/v1/users/${id}`, { auth: bearer(admin), body: { name: 'Tono T.', phone: '628111222333' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.name, 'Tono T.');
    assert.equal(r.json.phone, '628111222333');
    r = await api(A, 'PATCH', `/api/v1/users/${id}`, { auth: bearer(admin), body: { phone: null } });
    assert.equal(r.json.phone, null);
    r = await api(A, 'PATCH', `/api/v1/users/${id}`, { auth: bearer(admin), body: { name: 'Tono Teknisi' } });
    assert.equal(r.status, 200);
    assert.equal((await api(A, 'PATCH', '/api/v1/users/999999', { auth: bearer(admin), body: { name: 'X' } })).status, 404);
    const empty = await api(A, 'PATCH', `/api/v1/users/${id}`, { auth: bearer(admin), body: {} });
    assert.equal(empty.status, 422);
    const uname = await api(A, 'PATCH', `/api/v1/users/${id}`, { auth: bearer(admin), body: { username: 'other' } });
    assert.equal(uname.status, 422);
    assert.match(uname.json.error.message, /^username/);
    const audit = await psql(database.url,
      `SELECT data->'fields' FROM audit_log WHERE entity = 'user' AND entity_id = ${id} AND action = 'update' ORDER BY id`);
    assert.deepEqual(audit.map((x) => JSON.parse(x[0])), [['name', 'phone'], ['phone'], ['name']]);
  });

  it('an admin cannot deactivate or demote themselves (409 cannot_change_self)', T, async () => {
    for (const body of [{ active: false }, { role: 'cs' }]) {
      const r = await api(A, 'PATCH', `/api/v1/users/${users.admin1.id}`, { auth: bearer(admin), body });
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.error.code, 'cannot_change_self');
    }
    const ok = await api(A, 'PATCH', `/api/v1/users/${users.admin1.id}`, { auth: bearer(admin), body: { role: 'admin', name: 'Ani Admin' } });
    assert.equal(ok.status, 200, ok.text);
    admin = await session(A, 'admin1', users.admin1.password); // role "change" ended the old sessions
  });

  it('deactivating a user ends their sessions on both processes at once; they cannot log in', T, async () => {
    const v = users.victim;
    const s1 = await session(A, 'victim', v.password);
    const s2 = await session(B, 'victim', v.password);
    for (const s of [s1, s2]) for (const g of [A, B]) assert.equal(await meStatus(g, s), 200);
    const r = await api(A, 'PATCH', `/api/v1/users/${v.id}`, { auth: bearer(admin), body: { active: false } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.active, false);
    await waitFor(async () => {
      for (const s of [s1, s2]) for (const g of [A, B]) if ((await meStatus(g, s)) !== 401) return false;
      return true;
    }, { timeout: 300, interval: 10, what: 'every session of the deactivated user refused' });
    const again = await login(B, 'victim', v.password);
    assert.equal(again.status, 401);
    assert.equal(again.json.error.code, 'invalid_credentials');
    // The same bytes as a wrong password: the answer does not tell "inactive".
    assert.deepEqual(again.body, (await login(B, 'cs1', 'wrong-password')).body);
    assert.equal(await redis.command('EXISTS', `${REDIS_PREFIX}:sess:${sha256hex(s1.token)}`), 0);
    const back = await api(B, 'PATCH', `/api/v1/users/${v.id}`, { auth: bearer(admin), body: { active: true } });
    assert.equal(back.status, 200);
    await session(A, 'victim', v.password);
  });

  it('a role change ends the sessions; the new login carries the new role', T, async () => {
    const s = await session(A, 'roley', users.roley.password);
    assert.equal(await meStatus(B, s), 200);
    const r = await api(B, 'PATCH', `/api/v1/users/${users.roley.id}`, { auth: bearer(admin), body: { role: 'sales' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.role, 'sales');
    assert.equal(await meStatus(A, s), 401);
    assert.equal(await meStatus(B, s), 401);
    const s2 = await session(A, 'roley', users.roley.password);
    assert.equal(s2.user.role, 'sales');
  });

  it('a password reset ends the sessions; only the new password works', T, async () => {
    const old = users.resetme.password;
    const s = await session(A, 'resetme', old);
    assert.equal(await meStatus(B, s), 200);
    const fresh = pw('resetme2');
    const r = await api(A, 'PATCH', `/api/v1/users/${users.resetme.id}`, { auth: cookie(admin), body: { password: fresh } });
    assert.equal(r.status, 200, r.text);
    assert.equal(await meStatus(B, s), 401);
    assert.equal((await login(A, 'resetme', old)).status, 401);
    await session(B, 'resetme', fresh);
    users.resetme.password = fresh;
    const [[hash]] = await psql(database.url, `SELECT password_hash FROM users WHERE id = ${users.resetme.id}`);
    assert.match(hash, /^\$argon2id\$/);
  });

  it('non-admins are refused with 403 forbidden', T, async () => {
    const s = await session(A, 'cs1', users.cs1.password);
    const r = await api(A, 'GET', '/api/v1/users', { auth: bearer(s) });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'forbidden');
  });
});

describe('CSRF', () => {
  it('a cookie-authenticated POST needs X-CSRF-Token; a Bearer POST does not; GET never does', T, async () => {
    const admin = await session(B, 'admin1', users.admin1.password);
    const body = (u) => ({ username: u, name: 'C S R F', role: 'cs', password: pw(u) });
    let r = await api(A, 'POST', '/api/v1/users', { auth: { cookie: admin.token }, body: body('csrf1') });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.error.code, 'csrf_failed');
    r = await api(A, 'POST', '/api/v1/users', { auth: { cookie: admin.token, csrf: 'x'.repeat(43) }, body: body('csrf1') });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'csrf_failed');
    const other = await session(A, 'admin1', users.admin1.password);
    r = await api(A, 'POST', '/api/v1/users', { auth: { cookie: admin.token, csrf: other.csrf }, body: body('csrf1') });
    assert.equal(r.status, 403, 'the CSRF token of another session must not do');
    assert.equal((await psql(database.url, "SELECT count(*) FROM users WHERE username = 'csrf1'"))[0][0], '0');
    r = await api(A, 'POST', '/api/v1/users', { auth: cookie(admin), body: body('csrf1') });
    assert.equal(r.status, 201, r.text);
    r = await api(A, 'PATCH', `/api/v1/users/${r.json.id}`, { auth: { cookie: admin.token }, body: { name: 'N' } });
    assert.equal(r.status, 403);
    r = await api(A, 'POST', '/api/v1/users', { auth: bearer(admin), body: body('csrf2') });
    assert.equal(r.status, 201, r.text);
    r = await api(A, 'GET', '/api/v1/users', { auth: { cookie: admin.token } });
    assert.equal(r.status, 200);
    // Login itself needs none (and has no session to check one against).
    r = await api(A, 'POST', '/api/v1/auth/login', { body: { username: 'admin1', password: users.admin1.password }, headers: { cookie: `gss_session=${admin.token}` } });
    assert.equal(r.status, 200);
  });
});

describe('failed logins', () => {
  it('a wrong password, an unknown user and an inactive user get the same 401 body, byte for byte', T, async () => {
    const wrong = await login(A, 'cs1', 'not-the-password');
    const unknown = await login(A, 'nobody_here', 'not-the-password');
    const malformed = await login(A, 'No Such User!', 'whatever-pw');
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(malformed.status, 401);
    assert.deepEqual(wrong.body, unknown.body);
    assert.deepEqual(wrong.body, malformed.body);
    assert.equal(wrong.json.error.code, 'invalid_credentials');
    assert.equal(wrong.headers.get('set-cookie'), null);
    const missing = await api(A, 'POST', '/api/v1/auth/login', { body: { username: 'cs1' } });
    assert.equal(missing.status, 422);
    const notJson = await api(A, 'POST', '/api/v1/auth/login', { body: 'username=cs1', headers: { 'content-type': 'text/plain' } });
    assert.equal(notJson.status, 415);
  });

  describe('throttle (own Redis, GSS_LOGIN_MAX_FAILURES=3, GSS_LOGIN_WINDOW_S=2)', () => {
    let R;
    let G;
    before(async () => {
      R = await startRedis();
      G = await startGssd({ redis: R, database, env: { GSS_LOGIN_MAX_FAILURES: '3', GSS_LOGIN_WINDOW_S: '2' } });
    });

    it('per account: after the limit even the right password gets 429 with Retry-After, until the window ends', T, async () => {
      const first = await login(G, 'sales1', 'wrong-1');
      const keyTtl = await R.command('TTL', `${REDIS_PREFIX}:lf:u:sales1`);
      assert.ok(keyTtl > 0 && keyTtl <= 2, `counter TTL ${keyTtl}`);
      for (let i = 0; i < 2; i++) assert.equal((await login(G, 'sales1', 'wrong-x')).status, 401);
      assert.equal(first.status, 401);
      const t = await login(G, 'SALES1', users.sales1.password);
      assert.equal(t.status, 429, t.text);
      assert.equal(t.json.error.code, 'too_many_attempts');
      const ra = Number(t.headers.get('retry-after'));
      assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 2, `Retry-After ${t.headers.get('retry-after')}`);
      // Another account from the same address is not blocked (3 < 4 x 3).
      assert.equal((await login(G, 'cs1', users.cs1.password)).status, 200);
      await sleep(2300);
      assert.equal((await login(G, 'sales1', users.sales1.password)).status, 200);
      // A success clears the account's counter.
      assert.equal(await R.command('EXISTS', `${REDIS_PREFIX}:lf:u:sales1`), 0);
    });

    it('unknown usernames are throttled exactly like real ones', T, async () => {
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await login(G, 'ghost_user', 'pw-pw-pw-pw'));
      assert.deepEqual(answers.map((a) => a.status), [401, 401, 401, 429]);
      const real = [];
      for (let i = 0; i < 4; i++) real.push(await login(G, 'ts1', 'pw-pw-pw-pw'));
      assert.deepEqual(real.map((a) => a.status), [401, 401, 401, 429]);
      assert.deepEqual(answers[3].body, real[3].body);
      await sleep(2300);
    });

    it('per address: 4x the limit of failures over any accounts blocks the address', T, async () => {
      await R.command('FLUSHALL');
      const names = ['a_one', 'a_two', 'a_three', 'a_four'];
      for (const n of names) for (let i = 0; i < 3; i++) assert.equal((await login(G, n, 'nope-nope')).status, 401);
      const t = await login(G, 'cs1', users.cs1.password);
      assert.equal(t.status, 429, t.text);
      assert.ok(Number(t.headers.get('retry-after')) >= 1);
      await sleep(2300);
      assert.equal((await login(G, 'cs1', users.cs1.password)).status, 200);
    });

    it('login and sessions answer 503 while Redis is down', T, async () => {
      const s = await session(G, 'cs1', users.cs1.password);
      assert.equal(await meStatus(G, s), 200);
      const other = await session(B, 'ts1', users.ts1.password); // lives in the other Redis
      await R.kill();
      try {
        const l = await login(G, 'cs1', users.cs1.password);
        assert.equal(l.status, 503, l.text);
        assert.equal(l.json.error.code, 'unavailable');
        const u = await api(G, 'GET', '/api/v1/me', { auth: bearer(other) });
        assert.equal(u.status, 503, u.text);
        assert.equal(u.json.error.code, 'unavailable');
      } finally {
        await R.start();
      }
      await waitFor(async () => (await login(G, 'cs1', users.cs1.password)).status === 200,
        { timeout: 10000, what: 'login after Redis is back' });
    });
  });
});

describe('passwords', () => {
  it('a stored hash with weaker parameters is replaced at login (rehash)', T, async () => {
    // users were made with GSS_ARGON2_FAST=1 (m=1024,t=1); a gssd with the
    // production parameters upgrades the hash of whoever logs in.
    const [[before]] = await psql(database.url, `SELECT password_hash FROM users WHERE id = ${users.sales1.id}`);
    assert.match(before, /m=1024,t=1,/);
    const P = await startGssd({ redis, database, env: { GSS_ARGON2_FAST: null } });
    try {
      const r = await login(P, 'sales1', users.sales1.password);
      assert.equal(r.status, 200, r.text);
      const after = await waitFor(async () => {
        const [[h]] = await psql(database.url, `SELECT password_hash FROM users WHERE id = ${users.sales1.id}`);
        return /m=65536,t=3,p=1\$/.test(h) && h;
      }, { timeout: 10000, what: 'the hash to be upgraded' });
      assert.match(after, /^\$argon2id\$v=19\$/);
      // Both the strong and the fast process verify it.
      assert.equal((await login(A, 'sales1', users.sales1.password)).status, 200);
    } finally {
      assert.equal(await P.stop(), 0, P.lines.slice(-20).join('\n'));
    }
  });

  it('are stored only as argon2id hashes, never returned, never logged', T, async () => {
    const rows = await psql(database.url, 'SELECT username, password_hash FROM users');
    assert.ok(rows.length >= 7);
    for (const [u, h] of rows) {
      assert.match(h, /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/, u);
      for (const p of PASSWORDS) assert.ok(!h.includes(p));
    }
    const walk = (v, path) => {
      if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          assert.ok(!/password/i.test(k), `a response has a field ${k} (${path})`);
          walk(x, path);
        }
      } else if (typeof v === 'string') {
        for (const p of PASSWORDS) assert.ok(!v.includes(p), `a response of ${path} contains a password`);
        assert.ok(!v.startsWith('$argon2'), `a response of ${path} contains a hash`);
      }
    };
    assert.ok(BODIES.length > 50);
    for (const b of BODIES) walk(b.json, b.path);
    const logs = [...A.lines, ...B.lines].join('\n');
    assert.ok(logs.length > 1000);
    for (const p of PASSWORDS) assert.ok(!logs.includes(p), 'a password appears in the logs');
    assert.ok(!logs.includes('$argon2id$'), 'a password hash appears in the logs');
  });

  it('/metrics counts logins and cached sessions', T, async () => {
    const m = await scrapeMetrics(A.url);
    assert.ok(m.value('gss_logins_total', { result: 'ok' }) > 5);
    assert.ok(m.value('gss_logins_total', { result: 'failed' }) >= 1);
    assert.ok(m.value('gss_sessions_cached') >= 1);
    assert.ok(m.value('gss_session_cache_lookups_total', { result: 'hit' }) >= 1);
    assert.ok(m.value('gss_session_invalidations_total', { kind: 'message' }) >= 1);
  });
});

describe('shutdown', () => {
  it('both processes stop cleanly (no leaked handle, no sanitizer report)', T, async () => {
    for (const g of [A, B]) {
      const code = await g.stop();
      const text = g.lines.join('\n');
      assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error:/.test(text), text.slice(-3000));
      assert.equal(code, 0, g.lines.slice(-20).join('\n'));
    }
  });
});
