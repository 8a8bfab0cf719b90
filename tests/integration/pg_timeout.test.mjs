// A statement stuck in PostgreSQL (here: waiting on a lock another session
// holds) is cancelled after GSS_PG_STATEMENT_TIMEOUT_MS, and the request is
// answered 503 instead of hanging; once the lock is gone the same request
// works, and the pool connection was not lost.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';

import { startGssd, createDatabase, http, waitFor, psql } from './harness.mjs';

const T = { timeout: 60000 };
let gssd;
let database;
let token;
let customerId;

before(async () => {
  database = await createDatabase();
  gssd = await startGssd({ database, env: { GSS_PG_STATEMENT_TIMEOUT_MS: '500' } });
  execFileSync(process.env.GSS_BIN, ['user', 'add', 'cstime', '--role', 'cs', '--name', 'CS Time'],
    { env: gssd.env, input: 'timeout-password\n', stdio: ['pipe', 'pipe', 'pipe'], timeout: 30000 });
  customerId = Number((await psql(database.url,
    "INSERT INTO customers (name, phone, source) VALUES ('Waktu', '6281299990000', 'manual') RETURNING id"))[0][0]);
  await waitFor(async () => (await http(`${gssd.url}/readyz`)).status === 200, { timeout: 15000, what: 'ready' });
  const r = await http(`${gssd.url}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'cstime', password: 'timeout-password' }),
  });
  assert.equal(r.status, 200, r.text);
  token = r.json.token;
}, T);

after(async () => {
  if (gssd) assert.equal(await gssd.stop('SIGTERM', 20000), 0, 'gssd exits 0');
});

function createTicket() {
  return http(`${gssd.url}/api/v1/tickets`, {
    method: 'POST', timeout: 10000,
    headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ customer_id: customerId, problem: 'Lampu mati', address: 'Jl. Waktu 1',
      scheduled_at: '2026-12-02T03:00:00Z', techs_needed: 1 }),
  });
}

describe('statement timeout', () => {
  it('a statement waiting on a lock is cancelled and answered 503; afterwards all works', T, async () => {
    // Another session holds the ticket-code counter table for 4 s.
    const holder = spawn('psql', ['-X', '-q', '-d', database.url, '-c',
      'BEGIN; LOCK TABLE ticket_code_counters IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;'],
    { stdio: 'ignore' });
    const done = new Promise((res) => holder.on('exit', res));
    await waitFor(async () => (await psql(database.url,
      "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'ticket_code_counters' AND l.granted"))[0][0] !== '0',
    { timeout: 5000, what: 'lock taken' });
    const t0 = Date.now();
    const r = await createTicket();
    const took = Date.now() - t0;
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error.code, 'unavailable');
    assert.ok(took < 2500, `answered after ${took} ms`);
    const n = await psql(database.url, 'SELECT count(*) FROM tickets');
    assert.equal(n[0][0], '0', 'nothing was created');
    await done;
    const ok = await createTicket();
    assert.equal(ok.status, 201, ok.text);
  });
});
