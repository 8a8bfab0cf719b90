// Graceful shutdown of gssd on SIGTERM and SIGINT: stop accepting, let
// in-flight requests finish, close idle keep-alive connections, exit 0 with
// a "shutdown complete" log line; and give up on stragglers after
// GSS_SHUTDOWN_TIMEOUT_MS. Each test starts its own gssd (it is meant to exit).

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';

import {
  startGssd, startRedis, createDatabase, rawConnect, parseResponses, tryConnect, waitFor, sleep,
} from './harness.mjs';

const T = { timeout: 60000 };
const get = (path) => `GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`;

let redis;
let database;

before(async () => {
  redis = await startRedis();
  database = await createDatabase();
}, T);

// Drives one graceful shutdown with signal sig while a sleep of sleepMs is in
// flight and one keep-alive connection sits idle; checks the whole contract.
async function gracefulShutdown(sig, sleepMs) {
  const g = await startGssd({ redis, database, env: { GSS_DEBUG_ROUTES: '1' } });

  // An idle keep-alive connection (one request served, then silence).
  const idle = await rawConnect(g.port);
  await idle.write(get('/healthz'));
  await idle.waitForResponses(1, 3000);

  // The in-flight request.
  const busy = await rawConnect(g.port);
  await busy.write(get(`/api/v1/debug/sleep?ms=${sleepMs}`));
  await sleep(300);

  const t0 = Date.now();
  g.signal(sig);

  // New connections are refused while the sleep is still running.
  const refusedAt = await waitFor(async () => ((await tryConnect(g.port, { timeout: 500 })) === 'refused' ? Date.now() : null),
    { timeout: 1000, interval: 50, what: `new connections refused after ${sig}` });
  assert.ok(refusedAt - t0 < 1000, `listener still accepting ${refusedAt - t0} ms after ${sig}`);

  // The idle connection is closed promptly, not left until exit.
  assert.ok(await idle.waitForClose(1000), `idle keep-alive connection not closed within 1 s of ${sig}`);
  assert.equal(parseResponses(idle.data).length, 1, 'nothing more should be sent on the idle connection');

  // The in-flight request completes.
  const [r] = await busy.waitForResponses(1, sleepMs + 3000);
  const answeredAt = Date.now();
  assert.equal(r.status, 200);
  assert.deepEqual(r.json(), { slept_ms: sleepMs });
  assert.ok(refusedAt < answeredAt, 'the listener must close before the in-flight request ends');

  const ex = await g.waitExit(5000);
  assert.equal(ex.signal, null, `gssd died of ${ex.signal} instead of exiting`);
  assert.equal(ex.code, 0, `gssd exit code after ${sig}`);
  assert.ok(ex.at >= answeredAt - 50, 'gssd exited before its in-flight request was answered');
  assert.ok(ex.at - t0 < sleepMs + 3000, `shutdown took ${ex.at - t0} ms`);
  assert.ok(g.logs.some((l) => l.msg === 'shutdown complete'), 'no {"msg":"shutdown complete"} log line');
  assert.equal(await tryConnect(g.port, { timeout: 500 }), 'refused');
  idle.destroy();
  busy.destroy();
}

describe('graceful shutdown', () => {
  it('SIGTERM: refuses new connections, finishes in-flight work, closes idle ones, exits 0', T, async () => {
    await gracefulShutdown('SIGTERM', 1500);
  });

  it('SIGINT does the same', T, async () => {
    await gracefulShutdown('SIGINT', 1000);
  });

  it('SIGTERM with nothing in flight exits 0 promptly', T, async () => {
    const g = await startGssd({ redis, database });
    const t0 = Date.now();
    g.signal('SIGTERM');
    const ex = await g.waitExit(5000);
    assert.equal(ex.code, 0);
    assert.ok(ex.at - t0 < 1500, `idle shutdown took ${ex.at - t0} ms`);
    assert.ok(g.logs.some((l) => l.msg === 'shutdown complete'), 'no "shutdown complete" log line');
  });

  it('GSS_SHUTDOWN_TIMEOUT_MS=500: does not wait for a 5 s request', T, async () => {
    const g = await startGssd({ redis, database, env: { GSS_DEBUG_ROUTES: '1', GSS_SHUTDOWN_TIMEOUT_MS: '500' } });
    const busy = await rawConnect(g.port);
    await busy.write(get('/api/v1/debug/sleep?ms=5000'));
    await sleep(200);
    const t0 = Date.now();
    g.signal('SIGTERM');
    const ex = await g.waitExit(8000);
    const ms = ex.at - t0;
    assert.ok(ms < 2500, `gssd took ${ms} ms to exit with a 500 ms shutdown timeout`);
    assert.equal(ex.signal, null, `gssd died of ${ex.signal} instead of exiting`);
    assert.equal(typeof ex.code, 'number');
    // The straggler's connection is gone and it never got its 200.
    assert.ok(await busy.waitForClose(1000), 'the in-flight connection should be closed when gssd exits');
    const rs = parseResponses(busy.data);
    assert.ok(!rs.some((r) => r.status === 200), 'the 5 s sleep cannot have completed');
    busy.destroy();
  });
});
