// The customer registry (src/http/handlers/customers.c) against a real gssd,
// Redis and PostgreSQL: create, list, search by name and by phone as people
// type it, read, change; every validation rule; duplicate phones (409 with
// the holder's id); who may call it; LIKE wildcards in q matching literally;
// the audit entries.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';

import { startGssd, startRedis, createDatabase, http, psql, psqlJson, runGssd } from './harness.mjs';

const PASSWORD = 'customers-password-1';
const USERS = { admin: 'cu_admin', cs: 'cu_cs', ts: 'cu_ts', sales: 'cu_sales' };
const T = { timeout: 60000 };
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

let g;
let database;
const sessions = {}; // role -> {token, csrf, user}

async function call(method, p, { as = 'cs', json, body, headers = {}, cookie = false } = {}) {
  const h = { ...headers };
  let b = body;
  if (json !== undefined) {
    h['content-type'] = 'application/json';
    b = JSON.stringify(json);
  }
  const s = as ? sessions[as] : null;
  if (s && !cookie) h.authorization = `Bearer ${s.token}`;
  if (s && cookie) {
    h.cookie = `gss_session=${s.token}`;
    h['x-csrf-token'] = s.csrf;
  }
  return http(g.url + p, { method, headers: h, body: b, timeout: 15000 });
}

const create = (json, opts = {}) => call('POST', '/api/v1/customers', { json, ...opts });
const list = (query = '', opts = {}) => call('GET', `/api/v1/customers${query}`, opts);

function assertCustomer(c) {
  assert.deepEqual(Object.keys(c).sort(), ['address', 'created_at', 'id', 'name', 'phone', 'source', 'updated_at']);
  assert.ok(Number.isInteger(c.id) && c.id > 0);
  assert.match(c.phone, /^62[0-9]{7,13}$/);
  assert.match(c.created_at, ISO_UTC);
  assert.match(c.updated_at, ISO_UTC);
  assert.ok(['wa', 'manual'].includes(c.source));
}

function expect422(res, field) {
  assert.equal(res.status, 422, res.text);
  assert.equal(res.json?.error?.code, 'validation_failed', res.text);
  if (field) assert.ok(res.json.error.message.startsWith(`${field}:`), `want "${field}: ...", got ${res.text}`);
}

before(async () => {
  database = await createDatabase();
  const redis = await startRedis();
  g = await startGssd({ redis, database });
  for (const [role, username] of Object.entries(USERS)) {
    const r = await runGssd(['user', 'add', username, '--role', role, '--name', `Customers ${role}`],
      { env: { GSS_DATABASE_URL: database.url, GSS_ARGON2_FAST: '1', GSS_LOG_LEVEL: 'warn' }, input: `${PASSWORD}\n` });
    assert.equal(r.code, 0, `user add ${username}: ${r.stderr}${r.stdout}`);
  }
  for (const [role, username] of Object.entries(USERS)) {
    const r = await http(`${g.url}/api/v1/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: PASSWORD }),
    });
    assert.equal(r.status, 200, `login ${role}: ${r.text}`);
    sessions[role] = { token: r.json.token, csrf: r.json.csrf_token, user: r.json.user };
  }
}, { timeout: 120000 });

describe('customers', () => {
  let budi;
  let sari;

  it('creates a customer: phone normalised, name trimmed, source manual, audit row', T, async () => {
    const res = await create({ name: '  Budi Santoso ', phone: '0812-3456-7890', address: 'Jl. Kemang Raya No. 12\nJakarta Selatan' });
    assert.equal(res.status, 201, res.text);
    assertCustomer(res.json);
    budi = res.json;
    assert.equal(budi.name, 'Budi Santoso');
    assert.equal(budi.phone, '6281234567890');
    assert.equal(budi.address, 'Jl. Kemang Raya No. 12\nJakarta Selatan');
    assert.equal(budi.source, 'manual');
    assert.equal(budi.created_at, budi.updated_at);

    const audit = await psqlJson(database.url,
      `SELECT actor_id, action, data FROM audit_log WHERE entity = 'customer' AND entity_id = ${budi.id}`);
    assert.equal(audit.length, 1);
    assert.equal(audit[0].action, 'create');
    assert.equal(audit[0].actor_id, sessions.cs.user.id);
    assert.equal(audit[0].data.phone, '6281234567890');

    // Other ways to write a number; the address is optional; admin may too;
    // the cookie session with its CSRF token works as well as Bearer.
    const s = await create({ name: 'Ibu Sari', phone: '+62 (21) 555.1234' }, { as: 'admin' });
    assert.equal(s.status, 201, s.text);
    sari = s.json;
    assert.equal(sari.phone, '62215551234');
    assert.equal(sari.address, '');
    const a = await create({ name: 'andi', phone: '6285700001111', address: null, source: 'wa' }, { cookie: true });
    assert.equal(a.status, 201, a.text);
    assert.equal(a.json.source, 'manual', 'source is not taken from the body');
    assert.equal(a.json.address, '');
  });

  it('lists by name, case-insensitively, with a limit', T, async () => {
    const res = await list();
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    res.json.customers.forEach(assertCustomer);
    assert.deepEqual(res.json.customers.map((c) => c.name), ['andi', 'Budi Santoso', 'Ibu Sari']);
    const one = await list('?limit=1');
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(one.json.customers.map((c) => c.name), ['andi']);
    const max = await list('?limit=200&q=');
    assert.equal(max.json.customers.length, 3);
  });

  it('searches by name (substring, any case) and by phone as people type it', T, async () => {
    const names = async (q) => {
      const r = await list(`?q=${encodeURIComponent(q)}`);
      assert.equal(r.status, 200, `${q}: ${r.text}`);
      return r.json.customers.map((c) => c.name);
    };
    assert.deepEqual(await names('santo'), ['Budi Santoso']);
    assert.deepEqual(await names('SARI'), ['Ibu Sari']);
    assert.deepEqual(await names('  budi  '), ['Budi Santoso']);
    assert.deepEqual(await names('nobody'), []);
    // Local format: a leading 0 reads as 62.
    assert.deepEqual(await names('0812-3456'), ['Budi Santoso']);
    assert.deepEqual(await names('0812 3456 7890'), ['Budi Santoso']);
    assert.deepEqual(await names('+62 812'), ['Budi Santoso']);
    assert.deepEqual(await names('(021) 555'), ['Ibu Sari']);
    // Digits from the middle of the number.
    assert.deepEqual(await names('4567890'), ['Budi Santoso']);
    assert.deepEqual(await names('1111'), ['andi']);
    // The query string's own + is a space: "+62" unencoded is " 62".
    const r = await list('?q=+62812');
    assert.deepEqual(r.json.customers.map((c) => c.name), ['Budi Santoso']);
  });

  it('treats % and _ in q literally', T, async () => {
    const pct = await create({ name: 'Toko 100% Jaya', phone: '6281300000001' });
    assert.equal(pct.status, 201, pct.text);
    const und = await create({ name: 'CV_Maju', phone: '6281300000002' });
    assert.equal(und.status, 201, und.text);
    const bs = await create({ name: 'Back\\slash', phone: '6281300000003' });
    assert.equal(bs.status, 201, bs.text);
    const names = async (q) => (await list(`?q=${encodeURIComponent(q)}`)).json.customers.map((c) => c.name);
    assert.deepEqual(await names('%'), ['Toko 100% Jaya']);
    assert.deepEqual(await names('_'), ['CV_Maju']);
    assert.deepEqual(await names('0%'), ['Toko 100% Jaya']);
    assert.deepEqual(await names('V_M'), ['CV_Maju']);
    assert.deepEqual(await names('C_'), [], '_ is not "any character"');
    assert.deepEqual(await names('\\'), ['Back\\slash']);
    assert.deepEqual(await names('%%'), []);
  });

  it('reads one customer; 404 for unknown or malformed ids', T, async () => {
    const res = await call('GET', `/api/v1/customers/${budi.id}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.deepEqual(res.json, budi);
    for (const id of ['999999', '0', 'abc', '-1']) {
      const r = await call('GET', `/api/v1/customers/${id}`);
      assert.equal(r.status, 404, `${id}: ${r.text}`);
      assert.equal(r.json.error.code, 'not_found');
    }
  });

  it('changes a customer: fields sent only, phone normalised, updated_at, audit', T, async () => {
    await new Promise((r) => setTimeout(r, 1100)); // updated_at has whole seconds
    const res = await call('PATCH', `/api/v1/customers/${budi.id}`, { json: { name: 'Budi S.', phone: '0812 3456 7899' } });
    assert.equal(res.status, 200, res.text);
    assertCustomer(res.json);
    assert.equal(res.json.name, 'Budi S.');
    assert.equal(res.json.phone, '6281234567899');
    assert.equal(res.json.address, budi.address, 'address untouched');
    assert.equal(res.json.created_at, budi.created_at);
    assert.ok(res.json.updated_at > budi.updated_at, `${res.json.updated_at} after ${budi.updated_at}`);

    const cleared = await call('PATCH', `/api/v1/customers/${budi.id}`, { json: { address: null }, as: 'admin' });
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal(cleared.json.address, '');
    const addr = await call('PATCH', `/api/v1/customers/${budi.id}`, { json: { address: ' Jl. Baru 1 ' }, cookie: true });
    assert.equal(addr.status, 200, addr.text);
    assert.equal(addr.json.address, 'Jl. Baru 1');
    // Its own number again is not a clash.
    const same = await call('PATCH', `/api/v1/customers/${budi.id}`, { json: { phone: '+6281234567899' } });
    assert.equal(same.status, 200, same.text);

    const audit = await psqlJson(database.url,
      `SELECT action, data FROM audit_log WHERE entity = 'customer' AND entity_id = ${budi.id} ORDER BY id`);
    assert.deepEqual(audit.map((a) => a.action), ['create', 'update', 'update', 'update', 'update']);
    assert.deepEqual(audit[1].data, { fields: ['name', 'phone'] });
    assert.deepEqual(audit[2].data, { fields: ['address'] });

    const missing = await call('PATCH', '/api/v1/customers/999999', { json: { name: 'X' } });
    assert.equal(missing.status, 404, missing.text);
    assert.equal(missing.json.error.code, 'not_found');
    budi = same.json;
  });

  it('refuses a phone number that is already registered (409 with the holder\'s id)', T, async () => {
    const before = Number((await psql(database.url, 'SELECT count(*) FROM customers'))[0][0]);
    const dup = await create({ name: 'Budi Lain', phone: '0812-3456-7899' });
    assert.equal(dup.status, 409, dup.text);
    assert.equal(dup.json.error.code, 'phone_taken');
    assert.equal(dup.json.error.existing_id, budi.id);
    assert.match(dup.json.error.message, new RegExp(`\\b${budi.id}\\b`));
    const after = Number((await psql(database.url, 'SELECT count(*) FROM customers'))[0][0]);
    assert.equal(after, before);

    const moved = await call('PATCH', `/api/v1/customers/${sari.id}`, { json: { phone: '6281234567899' } });
    assert.equal(moved.status, 409, moved.text);
    assert.equal(moved.json.error.code, 'phone_taken');
    assert.equal(moved.json.error.existing_id, budi.id);
    const still = await call('GET', `/api/v1/customers/${sari.id}`);
    assert.equal(still.json.phone, '62215551234');
  });

  it('answers 422 validation_failed for every broken rule', T, async () => {
    const ok = { name: 'Valid Name', phone: '6281999999999' };
    // name
    for (const name of [undefined, null, '', '   ', 42, 'a'.repeat(201), 'tab\there', 'nul\u0000x', ['x']]) {
      expect422(await create({ ...ok, name }), 'name');
    }
    // 200 characters (multi-byte) are fine.
    const long = await create({ name: 'é'.repeat(200), phone: '6281999999990' });
    assert.equal(long.status, 201, long.text);
    // phone
    for (const phone of [undefined, null, '', '812345678', '62123', '62 1234 5678 9012 345', '0812-ABCD-7890',
      '++6281234567', '0812+345678', 62812345678, '62812345678\u0000', '6281234567x', '#6281234567']) {
      expect422(await create({ ...ok, phone }), 'phone');
    }
    // address
    for (const address of ['x'.repeat(501), 12, 'bell\u0007', ['a']]) {
      expect422(await create({ ...ok, address }), 'address');
    }
    const maxAddr = await create({ name: 'Max Address', phone: '6281999999991', address: 'y'.repeat(500) });
    assert.equal(maxAddr.status, 201, maxAddr.text);

    // PATCH: the same rules, and something to change.
    const P = `/api/v1/customers/${sari.id}`;
    expect422(await call('PATCH', P, { json: {} }));
    assert.match((await call('PATCH', P, { json: { source: 'wa' } })).json.error.message, /^nothing to change/);
    expect422(await call('PATCH', P, { json: { name: '  ' } }), 'name');
    expect422(await call('PATCH', P, { json: { name: null } }), 'name');
    expect422(await call('PATCH', P, { json: { phone: null } }), 'phone');
    expect422(await call('PATCH', P, { json: { phone: '123' } }), 'phone');
    expect422(await call('PATCH', P, { json: { address: 'z'.repeat(501) } }), 'address');

    // Bodies that are not JSON objects.
    const notJson = await call('POST', '/api/v1/customers', { body: 'name=x', headers: { 'content-type': 'text/plain' } });
    assert.equal(notJson.status, 415, notJson.text);
    const broken = await call('POST', '/api/v1/customers', { body: '{"name":', headers: { 'content-type': 'application/json' } });
    assert.equal(broken.status, 400, broken.text);
    assert.equal(broken.json.error.code, 'invalid_json');
    const big = await create({ name: 'Big', phone: '6281999999992', address: 'x'.repeat(9000) });
    assert.equal(big.status, 413, big.text);

    // Query parameters.
    for (const q of ['?limit=0', '?limit=201', '?limit=abc', '?limit=', '?limit=-1', '?limit=1.5']) {
      expect422(await list(q), 'limit');
    }
    expect422(await list(`?q=${'q'.repeat(201)}`), 'q');
    expect422(await list(`?q=${'q'.repeat(5000)}`), 'q');
    const q200 = await list(`?q=${encodeURIComponent('é'.repeat(200))}`);
    assert.equal(q200.status, 200, q200.text);
    const badUtf8 = await list('?q=%FF%FE');
    expect422(badUtf8);

    // Nothing of the refused ones was stored.
    const n = await psql(database.url, "SELECT count(*) FROM customers WHERE name = 'Valid Name'");
    assert.equal(n[0][0], '0');
  });

  it('admits cs and admin only', T, async () => {
    for (const role of ['ts', 'sales']) {
      for (const [m, p, json] of [['GET', '/api/v1/customers'], ['POST', '/api/v1/customers', { name: 'X', phone: '6281999999993' }],
        ['GET', `/api/v1/customers/${budi.id}`], ['PATCH', `/api/v1/customers/${budi.id}`, { name: 'X' }]]) {
        const r = await call(m, p, { as: role, json });
        assert.equal(r.status, 403, `${m} ${p} as ${role}: ${r.text}`);
        assert.equal(r.json.error.code, 'forbidden');
      }
    }
    const anon = await call('GET', '/api/v1/customers', { as: null });
    assert.equal(anon.status, 401, anon.text);
    // A cookie session without the CSRF token cannot create.
    const noCsrf = await http(`${g.url}/api/v1/customers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `gss_session=${sessions.cs.token}` },
      body: JSON.stringify({ name: 'X', phone: '6281999999994' }),
    });
    assert.equal(noCsrf.status, 403, noCsrf.text);
    assert.equal(noCsrf.json.error.code, 'csrf_failed');
  });

  it('a customer made here can be used for a ticket', T, async () => {
    const res = await call('POST', '/api/v1/tickets', {
      json: { customer_id: budi.id, problem: 'AC bocor', address: 'Jl. Baru 1', scheduled_at: '2030-01-02T09:00:00+07:00', techs_needed: 1 },
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.customer_name, budi.name);
    assert.equal(res.json.customer_phone, budi.phone);
  });

  it('gssd logged no error and stops cleanly (sanitizer builds: no report)', T, async () => {
    const errors = g.logs.filter((l) => l.level === 'error');
    assert.deepEqual(errors, []);
    assert.equal(await g.stop(), 0, 'gssd exits 0 on SIGTERM');
    const reports = g.lines.filter((l) => /Sanitizer|runtime error:/.test(l));
    assert.deepEqual(reports, []);
  });
});
