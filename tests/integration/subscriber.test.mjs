// The SUBSCRIBE connection is probed like the command connection (issue 8):
// a subscriber that stops hearing Redis without the connection closing is
// dropped within the deadline (3 s unanswered), every registration resyncs
// (boards get {"type":"resync"}), and after the reconnect live messages flow
// again.
//
//   (a) half-open: a TCP proxy between gssd and Redis stops forwarding the
//       subscriber's connection only, keeping it open (what a NAT or a proxy
//       that forgot the flow does). The command connection stays healthy,
//       so only the subscriber's own probe can notice.
//   (b) Redis frozen (SIGSTOP) for longer than the deadline, then SIGCONT.
//   Before either, an idle subscriber is left alone: the probe itself never
//   drops a healthy connection.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { startGssd, startRedis, createDatabase, http, scrapeMetrics } from './harness.mjs';
import { addUser, login, bulkCustomers, createTicket, openBoard, waitFor, sleep } from './pool_util.mjs';

const T = { timeout: 90000 };

// A TCP proxy to Redis that can blackhole the connections that subscribed.
function startProxy(upstreamPort) {
  const conns = new Set();
  const server = net.createServer((client) => {
    const c = { client, up: net.connect({ port: upstreamPort, host: '127.0.0.1' }), sub: false, dead: false };
    conns.add(c);
    client.on('data', (d) => {
      if (/\r\nSUBSCRIBE\r\n/i.test(d.toString('latin1'))) c.sub = true;
      if (!c.dead) c.up.write(d);
    });
    c.up.on('data', (d) => { if (!c.dead) client.write(d); });
    const end = () => { client.destroy(); c.up.destroy(); conns.delete(c); };
    client.on('close', end);
    c.up.on('close', end);
    client.on('error', end);
    c.up.on('error', end);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      port: server.address().port,
      // Both directions stop; neither socket is closed.
      blackholeSubscribers() {
        let n = 0;
        for (const c of conns) if (c.sub) { c.dead = true; n++; }
        return n;
      },
      close() {
        for (const c of conns) { c.client.destroy(); c.up.destroy(); }
        server.close();
      },
    }));
  });
}

let redis;
let proxy;
let g;
let cs;
let ts;
let customer;

before(async () => {
  redis = await startRedis();
  proxy = await startProxy(redis.port);
  const database = await createDatabase();
  g = await startGssd({ database, env: { GSS_REDIS_URL: `redis://127.0.0.1:${proxy.port}/0`, GSS_LOG_REQUESTS: 0 } });
  g.redis = redis;
  await addUser(g, 'sub_cs', 'cs');
  await addUser(g, 'sub_ts', 'ts');
  cs = await login(g, 'sub_cs');
  ts = await login(g, 'sub_ts');
  [customer] = await bulkCustomers(g, 1);
}, { timeout: 60000 });

after(async () => {
  redis?.signal('SIGCONT');
  if (g && g.alive()) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0');
  proxy?.close();
});

const subLost = (l) => l.msg === 'redis' && /^sub: (no answer|connection lost)/.test(l.detail || '');

async function openedOn(board, ticketId, ms) {
  return board.wait((m) => m.type === 'pool.opened' && m.data?.id === ticketId, ms, `pool.opened of ${ticketId}`);
}

describe('subscriber liveness', () => {
  it('an idle, healthy subscriber is never dropped by its probe', T, async () => {
    const board = await openBoard(g.port, ts);
    try {
      const tk = await createTicket(g, cs, customer, 1);
      await openedOn(board, tk.id, 5000);
      await sleep(5000); // longer than the deadline, with probes every second
      assert.equal(board.messages.filter((m) => m.type === 'resync').length, 0, 'no resync');
      assert.equal(g.logs.filter(subLost).length, 0, 'the subscriber was not dropped');
      const m = await scrapeMetrics(g.url);
      assert.equal(m.value('gss_redis_subscriber_up'), 1);
    } finally {
      board.close();
    }
  });

  it('(a) half-open subscriber (blackholed, never closed): detected, boards resync, live messages flow again', T, async () => {
    const board = await openBoard(g.port, ts);
    try {
      const hangs0 = (await scrapeMetrics(g.url)).value('gss_redis_hangs_total');
      const mark = board.messages.length;
      assert.equal(proxy.blackholeSubscribers(), 1, 'one subscriber connection');
      const t0 = Date.now();
      // The command connection still works: a new job opens, but the deaf
      // subscriber never hears of it.
      const missed = await createTicket(g, cs, customer, 1);
      await assert.rejects(openedOn(board, missed.id, 1000), /no pool.opened/);
      const resync = await board.wait((m, i) => m.type === 'resync' && board.messages.indexOf(m) >= mark, 10000,
        'a resync after the subscriber went deaf');
      const waited = Date.now() - t0;
      assert.ok(resync);
      assert.ok(waited >= 2500 && waited < 9000, `detected after ${waited} ms (deadline 3000 ms)`);
      const lost = await g.waitForLog(subLost, 5000);
      assert.match(lost.detail, /sub: no answer/, JSON.stringify(lost));
      // Only the subscriber was dropped.
      assert.equal(g.logs.filter((l) => l.msg === 'redis' && /^main: no answer/.test(l.detail || '')).length, 0);
      assert.equal((await scrapeMetrics(g.url)).value('gss_redis_hangs_total'), hangs0, 'the command connection never hung');
      assert.equal((await http(`${g.url}/readyz`)).status, 200);
      // Back on a fresh connection: resubscribed.
      await waitFor(async () => (await scrapeMetrics(g.url)).value('gss_redis_subscriber_up') === 1,
        { timeout: 10000, what: 'the subscriber up again' });
      const fresh = await createTicket(g, cs, customer, 1);
      await openedOn(board, fresh.id, 5000);
    } finally {
      board.close();
    }
  });

  it('(b) Redis frozen past the deadline (SIGSTOP, SIGCONT): the subscriber is dropped and boards resync', T, async () => {
    const board = await openBoard(g.port, ts);
    try {
      const mark = board.messages.length;
      const lost0 = g.logs.filter(subLost).length;
      redis.signal('SIGSTOP');
      await sleep(6000);
      const duringStop = board.messages.slice(mark).filter((m) => m.type === 'resync').length;
      assert.ok(g.logs.filter(subLost).length > lost0, 'the subscriber was dropped while Redis was frozen');
      assert.ok(duringStop >= 1, 'boards are told at once that messages may be missed');
      const mark2 = board.messages.length;
      redis.signal('SIGCONT');
      await board.wait((m) => m.type === 'resync' && board.messages.indexOf(m) >= mark2, 15000,
        'a resync once the subscriber is back');
      await waitFor(async () => (await http(`${g.url}/readyz`)).status === 200, { timeout: 15000, what: 'ready again' });
      const fresh = await createTicket(g, cs, customer, 1);
      await openedOn(board, fresh.id, 5000);
    } finally {
      redis.signal('SIGCONT');
      board.close();
    }
  });
});
