// Regressions found by the code review of the C core (src/http/server.c).
//
//  1. A client that sends its request and half-closes (shutdown(SHUT_WR),
//     `nc -N`, socket.end()) must still get the whole answer: EOF on the
//     reading side is not a reason to drop output that is still queued.
//  2. A client that stops reading must not hold its connection (and the
//     output queued for it) forever: after the idle timeout without any
//     progress the server gives up, both for a connection closing after its
//     answer and for one paused behind pipelined requests. A slow reader that
//     keeps making progress is not cut off.
//  3. Shutdown must not wait on a connection that was turned away with 503
//     (over GSS_MAX_CONNS) and is still lingering when the last counted
//     connection closes.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

import {
  startGssd, startRedis, createDatabase, makeTmpDir, rawConnect, scrapeMetrics, waitFor, sleep,
} from './harness.mjs';

const T = { timeout: 90000 };
const BIG = 20 * 1024 * 1024; // far more than loopback socket buffers hold
const MID = 16 * 1024 * 1024;

let redis;
let database;
let webDir;

before(async () => {
  redis = await startRedis();
  database = await createDatabase();
  webDir = path.join(await makeTmpDir('web'), 'web');
  await fsp.mkdir(webDir, { recursive: true });
  await fsp.writeFile(path.join(webDir, 'big.bin'), crypto.randomBytes(BIG));
  await fsp.writeFile(path.join(webDir, 'mid.bin'), crypto.randomBytes(MID));
}, T);

// A raw socket we fully control: no automatic end() when the server closes
// (allowHalfOpen), reading paused until we say so.
function connectPaused(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    s.once('connect', () => { s.pause(); resolve(s); });
    s.once('error', reject);
  });
}

// Reads everything until the server closes (or ms pass); resolves
// { bytes, ended, error }.
function drain(s, ms) {
  return new Promise((resolve) => {
    let bytes = 0;
    let head = '';
    const done = (ended, error) => { clearTimeout(timer); resolve({ bytes, head, ended, error }); };
    const timer = setTimeout(() => done(false, null), ms);
    s.on('data', (c) => {
      if (head.length < 1024) head += c.subarray(0, 1024).toString('latin1');
      bytes += c.length;
    });
    s.once('end', () => done(true, null));
    s.once('error', (e) => done(false, e));
    s.resume();
  });
}

// Size of one 200 answer with a body of n bytes, as sent.
function expectComplete(r, n) {
  assert.match(r.head, /^HTTP\/1\.1 200 /, `unexpected answer: ${r.head.slice(0, 80)}`);
  const m = /\r\nContent-Length: (\d+)\r\n/i.exec(r.head);
  assert.ok(m, 'no Content-Length');
  assert.equal(Number(m[1]), n);
  const headLen = r.head.indexOf('\r\n\r\n') + 4;
  assert.equal(r.bytes - headLen, n, `body cut short: ${r.bytes - headLen} of ${n} bytes`);
}

async function openConnections(g) {
  // The scrape itself is one open connection.
  return (await scrapeMetrics(g.url)).value('gss_http_connections_open') - 1;
}

describe('half-closed clients', () => {
  it('a request followed by FIN still gets its whole (large) answer', T, async () => {
    const g = await startGssd({ redis, database, env: { GSS_WEB_DIR: webDir } });
    try {
      for (const conn of ['keep-alive', 'close']) {
        const s = await connectPaused(g.port);
        s.write(`GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: ${conn}\r\n\r\n`);
        s.end(); // FIN: we send nothing more, but we still read
        await sleep(400); // the server reads our EOF while most of the answer is queued
        const r = await drain(s, 20000);
        s.destroy();
        assert.equal(r.error, null, `socket error (${conn}): ${r.error && r.error.message}`);
        expectComplete(r, BIG);
        assert.ok(r.ended, 'the server should close after the answer');
      }
    } finally {
      assert.equal(await g.stop('SIGTERM', 15000), 0);
    }
  });
});

describe('clients that stop reading', () => {
  let g;
  before(async () => {
    g = await startGssd({ redis, database, env: { GSS_WEB_DIR: webDir, GSS_IDLE_TIMEOUT_MS: '500' } });
  }, T);

  it('a connection whose client never reads its answer is dropped after the idle timeout', T, async () => {
    await waitFor(async () => (await openConnections(g)) === 0, { timeout: 5000, what: 'no open connections' });
    const s = await connectPaused(g.port);
    s.write('GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n');
    await waitFor(async () => (await openConnections(g)) === 1, { timeout: 3000, what: 'the connection counted' });
    // idle 500 ms → close requested → 500 ms without progress → dropped
    await waitFor(async () => (await openConnections(g)) === 0,
      { timeout: 5000, interval: 100, what: 'the stalled connection to be dropped' });
    s.destroy();
  });

  it('a connection paused behind pipelined requests is dropped too', T, async () => {
    await waitFor(async () => (await openConnections(g)) === 0, { timeout: 5000, what: 'no open connections' });
    const s = await connectPaused(g.port);
    s.write('GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n');
    await waitFor(async () => (await openConnections(g)) === 1, { timeout: 3000, what: 'the connection counted' });
    await waitFor(async () => (await openConnections(g)) === 0,
      { timeout: 6000, interval: 100, what: 'the stalled pipelined connection to be dropped' });
    s.destroy();
  });

  it('a slow reader that keeps making progress gets its whole answer', T, async () => {
    const s = await connectPaused(g.port);
    s.write('GET /mid.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    // ~64 KiB every 15 ms: several idle timeouts long, never 500 ms without progress.
    const r = await new Promise((resolve) => {
      let bytes = 0;
      let head = '';
      const t0 = Date.now();
      s.on('data', (c) => {
        if (head.length < 1024) head += c.subarray(0, 1024).toString('latin1');
        bytes += c.length;
        s.pause();
        setTimeout(() => s.resume(), 15);
      });
      s.once('end', () => resolve({ bytes, head, ended: true, error: null, ms: Date.now() - t0 }));
      s.once('error', (e) => resolve({ bytes, head, ended: false, error: e, ms: Date.now() - t0 }));
      s.resume();
    });
    s.destroy();
    assert.equal(r.error, null, `socket error: ${r.error && r.error.message}`);
    expectComplete(r, MID);
    assert.ok(r.ms > 1000, `the read took only ${r.ms} ms: not slow enough to test anything`);
  });

  it('stops with exit 0', T, async () => {
    assert.equal(await g.stop('SIGTERM', 15000), 0);
  });
});

describe('shutdown', () => {
  it('does not wait for a client that was turned away with 503 and keeps its socket open', T, async () => {
    const g = await startGssd({ redis, database, env: { GSS_MAX_CONNS: '1' } });
    // The one allowed connection, idle after one answer.
    const a = await rawConnect(g.port);
    await a.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
    await a.waitForResponses(1, 3000);
    // The second gets 503 and the server's FIN; it never closes its side.
    const b = await connectPaused(g.port);
    const rb = drain(b, 3000);
    const got = await rb;
    assert.match(got.head, /^HTTP\/1\.1 503 /);
    const t0 = Date.now();
    g.signal('SIGTERM');
    const ex = await g.waitExit(8000);
    assert.equal(ex.signal, null);
    assert.equal(ex.code, 0);
    assert.ok(ex.at - t0 < 4000, `shutdown took ${ex.at - t0} ms`);
    a.destroy();
    b.destroy();
  });
});
