// A Redis that stops answering without closing its connections (SIGSTOP:
// the process is frozen, the kernel still holds its sockets). gssd must not
// wait forever: its watchdog drops a connection whose PING goes unanswered
// for 3 s, requests waiting on Redis are answered 503, /readyz says Redis is
// down, and once Redis answers again everything comes back by itself.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

import { startGssd, startRedis, createDatabase, http, waitFor, scrapeMetrics, sleep } from './harness.mjs';

const T = { timeout: 90000 };
let redis;
let gssd;
let token;

before(async () => {
  redis = await startRedis();
  const database = await createDatabase();
  gssd = await startGssd({ redis, database });
  execFileSync(process.env.GSS_BIN, ['user', 'add', 'hang1', '--role', 'ts', '--name', 'Hang'],
    { env: gssd.env, input: 'hang-password\n', stdio: ['pipe', 'pipe', 'pipe'], timeout: 30000 });
  await waitFor(async () => (await http(`${gssd.url}/readyz`)).status === 200, { timeout: 15000, what: 'ready' });
  const r = await http(`${gssd.url}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'hang1', password: 'hang-password' }),
  });
  assert.equal(r.status, 200, r.text);
  token = r.json.token;
}, T);

after(async () => {
  redis?.signal('SIGCONT');
  if (gssd) assert.equal(await gssd.stop('SIGTERM', 20000), 0, 'gssd exits 0');
});

describe('a hung Redis', () => {
  it('requests waiting on it get 503 within seconds, /readyz reports it, and all recovers', T, async () => {
    const auth = { Authorization: `Bearer ${token}` };
    assert.equal((await http(`${gssd.url}/api/v1/pool`, { headers: auth })).status, 200);
    const hangsBefore = (await scrapeMetrics(gssd.url)).value('gss_redis_hangs_total') ?? 0;
    redis.signal('SIGSTOP');
    const t0 = Date.now();
    // The session is cached, so this request reaches the pool script and waits on Redis.
    const stuck = await http(`${gssd.url}/api/v1/pool`, { headers: auth, timeout: 15000 });
    const waited = Date.now() - t0;
    assert.equal(stuck.status, 503, stuck.text);
    assert.ok(waited < 8000, `answered after ${waited} ms`);
    await waitFor(async () => (await http(`${gssd.url}/readyz`)).status === 503, { timeout: 8000, what: 'readyz 503' });
    const ready = await http(`${gssd.url}/readyz`);
    assert.equal(ready.json.redis, 'down');
    assert.equal((await http(`${gssd.url}/healthz`)).status, 200, 'the process itself stays healthy');
    const hangsAfter = (await scrapeMetrics(gssd.url)).value('gss_redis_hangs_total');
    assert.ok(hangsAfter > hangsBefore, `gss_redis_hangs_total ${hangsBefore} -> ${hangsAfter}`);
    // Reconnects to the frozen process must not count as up either.
    await sleep(2500);
    assert.equal((await http(`${gssd.url}/readyz`)).status, 503, 'a frozen Redis that accepts connections is not ready');
    redis.signal('SIGCONT');
    await waitFor(async () => (await http(`${gssd.url}/readyz`)).status === 200, { timeout: 15000, what: 'ready again' });
    await waitFor(async () => (await http(`${gssd.url}/api/v1/pool`, { headers: auth })).status === 200,
      { timeout: 10000, what: 'pool answers again' });
  });
});
