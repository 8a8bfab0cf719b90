// Helpers shared by the job-pool integration tests (pool_claims, pool_live,
// pool_durability, pool_multi): accounts and tickets made in bulk, logins
// with bounded concurrency, claim storms over many real TCP connections,
// live boards, and the "wait until `gssd check` is clean" loop.
//
// Nothing here starts processes of its own; everything goes through
// harness.mjs, which tears it all down at the end of the file.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import WebSocket from 'ws';

import {
  http, parseResponses, psql, rawConnect, runGssd, redisCommand, sleep, waitFor, withTimeout, SOURCE_DIR, REDIS_PREFIX,
} from './harness.mjs';

/** The one password of every account these tests make. */
export const PASSWORD = 'pool-tests-password-1';

/** REGION: the pool region every gssd of these tests serves. */
export const REGION = 'default';

/** key(suffix) → the Redis key "<prefix>:{default}:<suffix>". */
export function key(suffix) {
  return `${REDIS_PREFIX}:{${REGION}}:${suffix}`;
}

/** rng(seed) → a function returning floats in [0, 1): mulberry32, so a
 *  storm is the same on every run and a failure can be replayed. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** shuffle(arr, rand) → arr shuffled in place (Fisher-Yates) and returned. */
export function shuffle(arr, rand) {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [arr[i], arr[j]] = [arr[j], arr[i]];
  }
  return arr;
}

/** mapLimit(items, limit, fn) → results in order, at most limit calls of fn
 *  in flight at once. */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

// ---------------------------------------------------------------------------
// Accounts, customers, tickets

/** addUser(g, username, role) → id: `gssd user add` (password on stdin). */
export async function addUser(g, username, role) {
  const r = await runGssd(['user', 'add', username, '--role', role, '--name', `Pool ${username}`],
    { env: { ...g.env, GSS_LOG_LEVEL: 'warn' }, input: `${PASSWORD}\n`, timeout: 30000 });
  assert.equal(r.code, 0, `gssd user add ${username}: ${r.stderr}${r.stdout}`);
  const rows = await psql(g.database.url, `SELECT id FROM users WHERE username = '${username}'`);
  assert.equal(rows.length, 1, `user ${username} is in the database`);
  return Number(rows[0][0]);
}

/** bulkTechs(g, prefix, n) → [{username, id}] of n technicians
 *  "<prefix>1".."<prefix>n", inserted in one statement with the password
 *  hash of a template account made once by `gssd user add` (argon2 per
 *  account would cost a process each). */
export async function bulkTechs(g, prefix, n) {
  const template = `${prefix}tpl`;
  await addUser(g, template, 'ts');
  await psql(g.database.url,
    `INSERT INTO users (username, name, role, password_hash) SELECT '${prefix}' || i, 'Tech ' || i, 'ts',` +
    ` (SELECT password_hash FROM users WHERE username = '${template}') FROM generate_series(1, ${n}) i`);
  const rows = await psql(g.database.url,
    `SELECT username, id FROM users WHERE username ~ '^${prefix}[0-9]+$'` +
    ` ORDER BY substr(username, ${prefix.length + 1})::int`);
  assert.equal(rows.length, n, `${n} technicians inserted`);
  return rows.map(([username, id]) => ({ username, id: Number(id) }));
}

/** bulkCustomers(g, n, tag) → customer ids, inserted with psql. tag (a
 *  number 0..99) keeps phones unique across calls in one database. */
export async function bulkCustomers(g, n, tag = 0) {
  const rows = await psql(g.database.url,
    `INSERT INTO customers (name, phone, source, address) SELECT 'Customer ' || i,` +
    ` '62812' || lpad('${tag}', 2, '0') || lpad(i::text, 6, '0'), 'manual', 'Jl. Uji ' || i` +
    ` FROM generate_series(1, ${n}) i RETURNING id`);
  return rows.map((r) => Number(r[0]));
}

/** login(g, username) → token (asserts 200). */
export async function login(g, username) {
  const r = await http(`${g.url}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }), timeout: 20000,
  });
  assert.equal(r.status, 200, `login ${username}: ${r.status} ${r.text}`);
  assert.ok(r.json && typeof r.json.token === 'string', `login ${username} answers a token: ${r.text}`);
  return r.json.token;
}

/** loginAll(g, users, limit) → sets user.token on each of users, at most
 *  limit logins in flight. */
export async function loginAll(g, users, limit = 20) {
  await mapLimit(users, limit, async (u) => { u.token = await login(g, u.username); });
  return users;
}

/** api(g, token, method, path, body) → harness http() result, Bearer auth. */
export function api(g, token, method, p, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return http(`${g.url}${p}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), timeout: 20000,
  });
}

let ticketCounter = 0;

/** createTicket(g, csToken, customerId, techsNeeded, extra) → the 201 body. */
export async function createTicket(g, csToken, customerId, techsNeeded, extra = {}) {
  const n = ++ticketCounter;
  const body = {
    customer_id: customerId,
    problem: `AC tidak dingin, unit ${n}`,
    address: `Jl. Sudirman No. ${n}, Jakarta`,
    // Far ahead: a visit already due would go late / no_show under the
    // scanner (every gssd runs one) in the middle of an unrelated test.
    scheduled_at: '2030-06-03T02:00:00Z',
    techs_needed: techsNeeded,
    area: `Area ${n % 7}`,
    ...extra,
  };
  const r = await api(g, csToken, 'POST', '/api/v1/tickets', body);
  assert.equal(r.status, 201, `POST /api/v1/tickets: ${r.status} ${r.text}`);
  assert.equal(r.json.status, 'open', `a new ticket is open: ${r.text}`);
  assert.ok(Number.isInteger(r.json.id) && r.json.id > 0, `ticket id: ${r.text}`);
  return r.json;
}

/** claim(g, token, jobId) → {status, code, json}: code is the error code of
 *  a refusal, 'ok' for a 200. */
export async function claim(g, token, jobId) {
  const r = await api(g, token, 'POST', `/api/v1/pool/${jobId}/claim`);
  return { status: r.status, code: r.status === 200 ? 'ok' : r.json?.error?.code, json: r.json, text: r.text };
}

/** poolOf(g, token) → the GET /api/v1/pool body (asserts 200). */
export async function poolOf(g, token) {
  const r = await api(g, token, 'GET', '/api/v1/pool');
  assert.equal(r.status, 200, `GET /api/v1/pool: ${r.status} ${r.text}`);
  assert.ok(Number.isInteger(r.json.seq) && Array.isArray(r.json.jobs), `pool body shape: ${r.text.slice(0, 300)}`);
  return r.json;
}

/** cancelJob(g, csToken, ticketId): POST /api/v1/tickets/{id}/cancel,
 *  which must answer 200 with the ticket cancelled. Returns 'api'. */
export async function cancelJob(g, csToken, ticketId) {
  // The real route: a missing or broken cancel fails the pool tests too.
  const r = await api(g, csToken, 'POST', `/api/v1/tickets/${ticketId}/cancel`, {});
  assert.equal(r.status, 200, `cancel ${ticketId}: ${r.status} ${r.text}`);
  assert.equal(r.json.status, 'cancelled', `cancel ${ticketId}: ${r.text}`);
  return 'api';
}

// ---------------------------------------------------------------------------
// Claim storms over raw connections

function claimRequest(jobId, token) {
  return `POST /api/v1/pool/${jobId}/claim HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Authorization: Bearer ${token}\r\nContent-Length: 0\r\n\r\n`;
}

/**
 * storm(port, plan, {connectLimit, timeout}) → results
 *
 * plan: [{tech, jobs: [jobId, ...]}], one entry per connection. Every
 * connection is opened first (at most connectLimit connects in flight, so
 * the listen backlog never drops SYNs); then, in one synchronous loop, every
 * connection is sent all its claims at once (pipelined), so the server sees
 * them all at the same moment. Resolves, per plan entry, the array of
 * {job, status, code, slot} in request order. A connection that gets fewer
 * answers than requests fails the call (use stormLossy when the server may
 * die). Every connection is closed afterwards.
 */
export async function storm(port, plan, { connectLimit = 100, timeout = 30000 } = {}) {
  const conns = await mapLimit(plan, connectLimit, () => rawConnect(port, { timeout: 10000 }));
  try {
    for (let i = 0; i < plan.length; i++) {
      const p = plan[i];
      conns[i].socket.write(p.jobs.map((j) => claimRequest(j, p.tech.token)).join(''));
    }
    const t0 = Date.now();
    return await Promise.all(plan.map(async (p, i) => {
      const left = Math.max(1000, timeout - (Date.now() - t0));
      const res = await conns[i].waitForResponses(p.jobs.length, left);
      return p.jobs.map((job, k) => toResult(job, res[k]));
    }));
  } finally {
    for (const c of conns) c.destroy();
  }
}

function toResult(job, res) {
  let json;
  try { json = res.json(); } catch { json = undefined; }
  return {
    job,
    status: res.status,
    code: res.status === 200 ? 'ok' : json?.error?.code,
    slot: res.status === 200 ? json?.slot : undefined,
    ticket_id: json?.ticket_id,
    text: res.text(),
  };
}

/** stormLossy(port, plan, {timeout}) → like storm, but a connection that
 *  breaks (server killed) yields the answers it got, then {status: null}
 *  for each claim whose outcome is unknown. Never throws on a lost answer. */
export async function stormLossy(port, plan, { connectLimit = 100, timeout = 20000 } = {}) {
  const conns = await mapLimit(plan, connectLimit, async () => {
    try { return await rawConnect(port, { timeout: 5000 }); } catch { return null; }
  });
  try {
    for (let i = 0; i < plan.length; i++) {
      if (conns[i]) conns[i].socket.write(plan[i].jobs.map((j) => claimRequest(j, plan[i].tech.token)).join(''));
    }
    return await Promise.all(plan.map(async (p, i) => {
      const c = conns[i];
      let res = [];
      if (c) {
        try {
          res = await c.waitForResponses(p.jobs.length, timeout);
        } catch {
          try { res = parseResponses(c.data).filter((r) => r.complete); } catch { res = []; }
        }
      }
      return p.jobs.map((job, k) => (res[k] ? toResult(job, res[k]) : { job, status: null, code: 'unknown' }));
    }));
  } finally {
    for (const c of conns) if (c) c.destroy();
  }
}

/** winnersByJob(results) → Map jobId → [{tech, slot}] of the 200 answers.
 *  results: storm() output aligned with plan. */
export function winnersByJob(plan, results) {
  const m = new Map();
  plan.forEach((p, i) => results[i].forEach((r) => {
    if (r.status !== 200) return;
    if (!m.has(r.job)) m.set(r.job, []);
    m.get(r.job).push({ tech: p.tech.id, slot: r.slot });
  }));
  return m;
}

/** makePlan(techs, ids, perTech, rand) → a storm plan where each technician
 *  claims perTech different jobs drawn at random from ids. */
export function makePlan(techs, ids, perTech, rand) {
  return techs.map((tech) => ({ tech, jobs: shuffle(ids.slice(), rand).slice(0, perTech) }));
}

/**
 * judgeClaims(plan, results, need, {allowed, complete}) → Map jobId →
 * [{tech, slot}] of the winners, after asserting what every race must give:
 * each answer's code is one of allowed (unknown outcomes, status null, are
 * always allowed), no job has more winners than slots, the winners' slots
 * are distinct numbers in 1..N, nobody holds two slots of one job. With
 * complete, every job whose claims were all answered and that had at least
 * N different claimers is full (exactly N winners, slots 1..N).
 */
export function judgeClaims(plan, results, need, { allowed = ['ok', 'job_full'], complete = true } = {}) {
  const bad = results.flat().filter((r) => r.status !== null && !allowed.includes(r.code));
  assert.deepEqual(bad.slice(0, 5).map((r) => `${r.status} ${r.text}`), [],
    `${bad.length} answer(s) outside ${allowed.join('/')}`);
  const won = winnersByJob(plan, results);
  const claimers = new Map();
  const unknown = new Set();
  plan.forEach((p, i) => results[i].forEach((r) => {
    if (!claimers.has(r.job)) claimers.set(r.job, new Set());
    claimers.get(r.job).add(p.tech.id);
    if (r.status === null) unknown.add(r.job);
  }));
  for (const [id, n] of need) {
    const w = won.get(id) || [];
    assert.ok(w.length <= n, `job ${id} (N=${n}) has ${w.length} winners`);
    const slots = w.map((x) => x.slot);
    assert.equal(new Set(slots).size, slots.length, `job ${id}: a slot handed out twice: ${slots}`);
    for (const s of slots) assert.ok(s >= 1 && s <= n, `job ${id}: slot ${s} outside 1..${n}`);
    assert.equal(new Set(w.map((x) => x.tech)).size, w.length, `job ${id}: a technician holds two slots`);
    if (complete && !unknown.has(id) && (claimers.get(id)?.size || 0) >= n) {
      assert.equal(w.length, n, `job ${id} (N=${n}, ${claimers.get(id).size} claimers) has ${w.length} winners`);
    }
  }
  return won;
}

/** mergeWinners(a, b) → a Map jobId → winners of both (b added to a). */
export function mergeWinners(a, b) {
  const m = new Map([...a].map(([k, v]) => [k, v.slice()]));
  for (const [k, v] of b) m.set(k, (m.get(k) || []).concat(v));
  return m;
}

/** redisHolders(port, ids) → Map jobId → [{tech, slot}]: who holds which
 *  slot in Redis (the job's slots hash), the truth for claims whose answer
 *  was lost. */
export async function redisHolders(port, ids) {
  const m = new Map();
  for (const id of ids) {
    const h = await redisCommand(port, 'HGETALL', key(`job:${id}:slots`));
    const w = [];
    for (let i = 0; i + 1 < h.length; i += 2) w.push({ tech: Number(h[i]), slot: Number(h[i + 1]) });
    m.set(id, w.sort((a, b) => a.slot - b.slot));
  }
  return m;
}

// ---------------------------------------------------------------------------
// PostgreSQL side

/** assignmentsOf(g, jobIds) → Map jobId → [{tech, slot}] sorted by slot,
 *  the unreleased assignments PostgreSQL holds for those tickets. */
export async function assignmentsOf(dbUrl, jobIds) {
  // Plain rows, not harness psqlJson: json_agg puts newlines between
  // elements, which psqlJson's line splitting cuts (reported).
  const rows = await psql(dbUrl,
    `SELECT ticket_id, tech_id, slot FROM assignments WHERE released_at IS NULL` +
    ` AND ticket_id = ANY('{${jobIds.join(',')}}'::bigint[]) ORDER BY ticket_id, slot`);
  const m = new Map(jobIds.map((j) => [j, []]));
  for (const [t, tech, slot] of rows) m.get(Number(t)).push({ tech: Number(tech), slot: Number(slot) });
  return m;
}

/** checkOnce(g) → {code, out}: one run of `gssd check` with g's settings. */
export async function checkOnce(g) {
  const r = await runGssd(['check'], { env: { ...g.env, GSS_LOG_LEVEL: 'warn' }, timeout: 30000 });
  return { code: r.code, out: `${r.stdout}${r.stderr}` };
}

/** waitCheckClean(g, timeout) → the output of the first clean `gssd check`
 *  (exit 0, "Redis and PostgreSQL agree"); the persister's backlog counts as
 *  a difference, so this is also "wait for the drain". Throws with the last
 *  output after timeout ms. */
export async function waitCheckClean(g, timeout = 30000) {
  let last = null;
  const t0 = Date.now();
  while (Date.now() - t0 < timeout) {
    last = await checkOnce(g);
    if (last.code === 0) {
      assert.match(last.out, /Redis and PostgreSQL agree/, 'gssd check says it agrees');
      return last.out;
    }
    await sleep(250);
  }
  throw new Error(`gssd check not clean within ${timeout} ms; last (exit ${last && last.code}):\n` +
    `${last ? last.out.split('\n').slice(0, 30).join('\n') : ''}`);
}

/** waitPersisted(g, expected, timeout): waits until PostgreSQL holds exactly
 *  the expected assignments (Map jobId → [{tech, slot}]); asserts at the end
 *  with a readable diff. */
export async function waitPersisted(g, expected, timeout = 30000) {
  const ids = [...expected.keys()];
  const norm = (m) => ids.map((j) => [j, (m.get(j) || []).slice().sort((a, b) => a.slot - b.slot)
    .map((x) => `${x.tech}:${x.slot}`).join(',')]);
  const want = norm(expected);
  let got = null;
  let lastErr = null;
  const t0 = Date.now();
  for (;;) {
    try {
      got = norm(await assignmentsOf(g.database.url, ids));
      if (JSON.stringify(got) === JSON.stringify(want)) return;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() - t0 > timeout) break;
    await sleep(200);
  }
  const bad = got ? want.filter(([, w], i) => got[i][1] !== w).slice(0, 10)
    .map(([j, w]) => `job ${j}: want {${w}} got {${got.find((x) => x[0] === j)[1]}}`) : [];
  throw new Error(`PostgreSQL does not hold every claim after ${timeout} ms` +
    (lastErr ? ` (last error: ${lastErr.message})` : '') + `\n${bad.join('\n')}`);
}

// ---------------------------------------------------------------------------
// Live boards

/**
 * openBoard(port, token) → board: a WebSocket on /api/v1/ws with the Bearer
 * header, resolved once open. board.messages holds every parsed message;
 * board.wait(pred, ms) resolves the first message (from the start) matching
 * pred, or throws after ms; board.forJob(id) lists the pool messages about
 * one job; board.close() terminates it.
 */
export function openBoard(port, token, { timeout = 10000 } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/ws`, {
      headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false,
    });
    const messages = [];
    const waiters = new Set();
    let closed = null;
    ws.on('message', (data) => {
      let m;
      try { m = JSON.parse(data.toString('utf8')); } catch { m = { unparsed: data.toString('utf8') }; }
      messages.push(m);
      for (const w of [...waiters]) w();
    });
    ws.on('close', (code) => { closed = { code }; for (const w of [...waiters]) w(); });
    ws.on('unexpected-response', (req, res) => { req.destroy(); reject(new Error(`ws upgrade answered ${res.statusCode}`)); });
    ws.on('error', (err) => { if (ws.readyState !== WebSocket.OPEN) reject(err); });
    ws.on('open', () => {
      const board = {
        ws,
        messages,
        get closed() { return closed; },
        wait(pred, ms = 5000, what = 'a matching message') {
          return new Promise((res, rej) => {
            const hit = () => messages.find(pred);
            if (hit()) return res(hit());
            const t = setTimeout(() => {
              waiters.delete(w);
              rej(new Error(`board: no ${what} within ${ms} ms; got ${JSON.stringify(messages).slice(-800)}`));
            }, ms);
            const w = () => { const m = hit(); if (m) { clearTimeout(t); waiters.delete(w); res(m); } };
            waiters.add(w);
          });
        },
        forJob(id) {
          return messages.filter((m) => typeof m.type === 'string' && m.type.startsWith('pool.') && m.data?.id === id);
        },
        close() { ws.terminate(); },
      };
      resolve(board);
    });
  }), timeout, 'WebSocket open');
}

/** Re-exported for the test files' convenience. */
export { sleep, waitFor };
