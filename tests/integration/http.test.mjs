// HTTP/1.1 behaviour of gssd over raw sockets: keep-alive, pipelining,
// request ids, error shapes, malformed input, size limits, connection limits,
// timeouts and the per-request log line.
//
// Three servers share one Redis and one database:
//   main     GSS_DEBUG_ROUTES=1, every other limit at its default
//   slow     short timeouts (header 1000 ms, idle 3000 ms) and GSS_BODY_MAX=1000
//   small    GSS_MAX_CONNS=4

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import {
  startGssd, startRedis, createDatabase, http, rawConnect, rawRequest, parseResponses,
  sleep, commonHeaderProblems, REQUEST_ID_RE,
} from './harness.mjs';

const T = { timeout: 60000 };
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

// One GET with the given extra header lines, as raw bytes.
const get = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

let redis;
let database;
let main;

before(async () => {
  redis = await startRedis();
  database = await createDatabase();
  main = await startGssd({ redis, database, env: { GSS_DEBUG_ROUTES: '1' } });
}, T);

after(async () => {
  if (main) assert.equal(await main.stop('SIGTERM', 15000), 0, 'main gssd should exit 0 on SIGTERM');
});

// Sends bytes on a fresh connection, expects exactly one response with the
// given status and error code, and the server closing the connection.
async function expectErrorAndClose(port, bytes, status, code, what) {
  const buf = await rawRequest(port, bytes, { timeout: 4000 });
  let rs;
  try {
    rs = parseResponses(buf);
  } catch (err) {
    assert.fail(`${what}: unparsable answer (${err.message}): ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`);
  }
  assert.ok(rs.length >= 1, `${what}: no response at all (closed=${buf.closed})`);
  assert.equal(rs[0].status, status, `${what}: status; answer: ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`);
  let body;
  try { body = rs[0].json(); } catch { assert.fail(`${what}: body is not JSON: ${rs[0].text()}`); }
  assert.equal(body?.error?.code, code, `${what}: error code`);
  assert.equal(typeof body.error.message, 'string', `${what}: error.message`);
  assert.deepEqual(commonHeaderProblems(rs[0], { json: true }), [], `${what}: headers`);
  assert.equal(rs.length, 1, `${what}: exactly one response expected (nothing after the error is served), got ${rs.length}`);
  assert.ok(buf.closed, `${what}: the server must close the connection after ${status}`);
  return rs[0];
}

describe('keep-alive, close and pipelining', () => {
  it('keeps the connection open between requests by default', T, async () => {
    const c = await rawConnect(main.port);
    await c.write(get('/healthz'));
    const [r1] = await c.waitForResponses(1, 3000);
    assert.equal(r1.status, 200);
    assert.notEqual((r1.headers.connection || '').toLowerCase(), 'close');
    assert.equal(await c.waitForClose(300), false, 'server closed a keep-alive connection after one response');
    await c.write(get('/healthz'));
    const rs = await c.waitForResponses(2, 3000);
    assert.equal(rs[1].status, 200);
    assert.deepEqual(rs[1].json(), { status: 'ok' });
    assert.equal(c.closed, false);
    c.destroy();
  });

  it('honours Connection: close', T, async () => {
    const buf = await rawRequest(main.port, get('/healthz', 'Connection: close\r\n'), { timeout: 3000 });
    assert.ok(buf.closed, 'server must close after answering Connection: close');
    const rs = parseResponses(buf);
    assert.equal(rs.length, 1);
    assert.equal(rs[0].status, 200);
  });

  it('a pipelined Connection: close ends the pipeline: later requests are not answered', T, async () => {
    const c = await rawConnect(main.port);
    await c.write(get('/healthz', 'X-Request-Id: pc-1\r\n') + get('/healthz', 'X-Request-Id: pc-2\r\nConnection: close\r\n') +
      get('/healthz', 'X-Request-Id: pc-3\r\n'));
    assert.ok(await c.waitForClose(3000), 'server must close after the Connection: close request');
    const rs = parseResponses(c.data);
    assert.deepEqual(rs.map((r) => r.headers['x-request-id']), ['pc-1', 'pc-2']);
    c.destroy();
  });

  it('closes an HTTP/1.0 connection without keep-alive', T, async () => {
    const buf = await rawRequest(main.port, 'GET /healthz HTTP/1.0\r\n\r\n', { timeout: 3000 });
    assert.ok(buf.closed, 'server must close after an HTTP/1.0 request');
    const rs = parseResponses(buf);
    assert.equal(rs.length, 1);
    assert.equal(rs[0].status, 200);
    assert.deepEqual(rs[0].json(), { status: 'ok' });
  });

  it('answers pipelined requests in order on one connection', T, async () => {
    const c = await rawConnect(main.port);
    const body = 'hello pipelined world';
    // The first one is slow: its answer must still come first.
    await c.write(
      get('/api/v1/debug/sleep?ms=300', 'X-Request-Id: pipe-1\r\n') +
      get('/healthz', 'X-Request-Id: pipe-2\r\n') +
      get('/api/v1/definitely-not-here', 'X-Request-Id: pipe-3\r\n') +
      `POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nX-Request-Id: pipe-4\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
      get('/healthz', 'X-Request-Id: pipe-5\r\n'));
    const rs = await c.waitForResponses(5, 5000);
    assert.deepEqual(rs.map((r) => r.headers['x-request-id']), ['pipe-1', 'pipe-2', 'pipe-3', 'pipe-4', 'pipe-5']);
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 404, 200, 200]);
    assert.deepEqual(rs[0].json(), { slept_ms: 300 });
    assert.deepEqual(rs[3].json(), { bytes: body.length, sha256: sha256(body) });
    for (const r of rs) assert.deepEqual(commonHeaderProblems(r, { json: true }), []);
    assert.equal(await c.waitForClose(200), false, 'the connection should stay open after the pipeline');
    c.destroy();
  });

  it('a slow request does not block others (debug sleep leaves the loop free)', T, async () => {
    const slow = await rawConnect(main.port);
    await slow.write(get('/api/v1/debug/sleep?ms=1500'));
    await sleep(100);
    const t0 = Date.now();
    const r = await http(`${main.url}/healthz`);
    const ms = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.ok(ms < 700, `/healthz took ${ms} ms while a sleep was in flight`);
    const [s] = await slow.waitForResponses(1, 4000);
    assert.equal(s.status, 200);
    assert.deepEqual(s.json(), { slept_ms: 1500 });
    slow.destroy();
  });
});

describe('request ids, headers and error shapes', () => {
  it('echoes a valid client X-Request-Id', T, async () => {
    for (const id of ['abc', 'A.b_c-9', 'x'.repeat(64), '0']) {
      const r = await http(`${main.url}/healthz`, { headers: { 'x-request-id': id } });
      assert.equal(r.headers.get('x-request-id'), id, `X-Request-Id ${id} should be echoed`);
    }
  });

  it('replaces an invalid X-Request-Id with a generated one', T, async () => {
    for (const id of ['x'.repeat(65), 'has space', 'a/b', '<script>', 'ümlaut', 'a,b']) {
      const r = await http(`${main.url}/healthz`, { headers: { 'x-request-id': id } });
      const got = r.headers.get('x-request-id');
      assert.ok(got, 'a response without X-Request-Id');
      assert.notEqual(got, id, `invalid id ${JSON.stringify(id)} must not be echoed`);
      assert.match(got, REQUEST_ID_RE);
    }
    // An empty one too (only a raw socket can send that).
    const [r] = parseResponses(await rawRequest(main.port, get('/healthz', 'X-Request-Id: \r\nConnection: close\r\n')));
    assert.equal(r.status, 200);
    assert.match(r.headers['x-request-id'] || '', REQUEST_ID_RE);
  });

  it('generates a distinct X-Request-Id for every request', T, async () => {
    const ids = new Set();
    for (let i = 0; i < 20; i++) {
      const r = await http(`${main.url}/healthz`);
      const id = r.headers.get('x-request-id');
      assert.match(id || '', REQUEST_ID_RE);
      ids.add(id);
    }
    assert.equal(ids.size, 20, 'generated request ids repeat');
  });

  it('unknown path: 404 not_found as JSON', T, async () => {
    const [r] = parseResponses(await rawRequest(main.port, get('/api/v1/nothing/here', 'Connection: close\r\n')));
    assert.equal(r.status, 404);
    assert.equal(r.json().error.code, 'not_found');
    assert.equal(typeof r.json().error.message, 'string');
    assert.deepEqual(commonHeaderProblems(r, { json: true }), []);
  });

  it('known path, wrong method: 405 method_not_allowed with Allow', T, async () => {
    for (const [method, p] of [['POST', '/healthz'], ['DELETE', '/readyz'], ['PUT', '/metrics'], ['GET', '/api/v1/debug/echo']]) {
      const bytes = `${method} ${p} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
      const [r] = parseResponses(await rawRequest(main.port, bytes));
      assert.equal(r.status, 405, `${method} ${p}`);
      assert.equal(r.json().error.code, 'method_not_allowed', `${method} ${p}`);
      assert.ok(r.headers.allow, `${method} ${p}: 405 without Allow`);
      assert.deepEqual(commonHeaderProblems(r, { json: true }), [], `${method} ${p}`);
    }
    const [r] = parseResponses(await rawRequest(main.port, `GET /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`));
    assert.ok(r.headers.allow.split(',').map((s) => s.trim()).includes('POST'), `Allow of echo: ${r.headers.allow}`);
  });
});

describe('malformed requests: 400 bad_request, then close', () => {
  const cases = [
    ['garbage bytes (a TLS ClientHello)', Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]), Buffer.from('\r\n\r\n')])],
    ['garbage text', 'hello there, server\r\n\r\n'],
    ['bad protocol in the request line', 'GET /healthz FOO/1.1\r\nHost: t\r\n\r\n'],
    ['request line without a target', 'GET\r\nHost: t\r\n\r\n'],
    ['extra words in the request line', 'GET /healthz HTTP/1.1 please\r\nHost: t\r\n\r\n'],
    ['space in a header name', 'GET /healthz HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n'],
    ['header line without a colon', 'GET /healthz HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n'],
    ['NUL in a header value', 'GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n'],
    ['control character in a header value', 'GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n'],
    ['both Content-Length and Transfer-Encoding',
      'POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['two different Content-Length headers',
      'POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'],
    ['non-numeric Content-Length', 'POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n'],
    ['negative Content-Length', 'POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n'],
    ['Transfer-Encoding that does not end in chunked', 'POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nabc'],
    ['invalid chunk size', 'POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
    ['chunk longer than its size', 'POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloEXTRA\r\n0\r\n\r\n'],
  ];
  for (const [what, bytes] of cases) {
    it(what, T, async () => {
      await expectErrorAndClose(main.port, bytes, 400, 'bad_request', what);
    });
  }

  it('a malformed request after a good one on the same connection: 200, then 400 and close', T, async () => {
    const c = await rawConnect(main.port);
    await c.write(get('/healthz') + 'GET /healthz HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n');
    const closed = await c.waitForClose(4000);
    const rs = parseResponses(c.data);
    assert.deepEqual(rs.map((r) => r.status), [200, 400]);
    assert.equal(rs[1].json().error.code, 'bad_request');
    assert.ok(closed, 'server must close after the 400');
    c.destroy();
  });
});

describe('size limits', () => {
  const CAP = 1048576; // GSS_BODY_MAX default

  it('header block over 16 KiB: 431 headers_too_large, close', T, async () => {
    const big = 'x'.repeat(17 * 1024);
    await expectErrorAndClose(main.port, get('/healthz', `X-Big: ${big}\r\n`), 431, 'headers_too_large', 'one big header');
    let many = '';
    for (let i = 0; i < 200; i++) many += `X-H${i}: ${'v'.repeat(90)}\r\n`;
    await expectErrorAndClose(main.port, get('/healthz', many), 431, 'headers_too_large', '200 headers of ~100 bytes');
    await expectErrorAndClose(main.port, get(`/healthz?q=${'a'.repeat(17 * 1024)}`), 431, 'headers_too_large', '17 KiB request line');
  });

  it('header block over 16 KiB is refused before it ends (no wait for the timeout)', T, async () => {
    const c = await rawConnect(main.port);
    await c.write(`GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ${'y'.repeat(20 * 1024)}`);
    const closed = await c.waitForClose(3000);
    assert.ok(closed, 'an unfinished 20 KiB header block should be cut at 16 KiB, not left to the header timeout');
    const rs = parseResponses(c.data);
    if (rs.length) assert.equal(rs[0].status, 431);
    c.destroy();
  });

  it('a header block just under 16 KiB is accepted', T, async () => {
    const r = parseResponses(await rawRequest(main.port, get('/healthz', `X-Big: ${'z'.repeat(15 * 1024)}\r\nConnection: close\r\n`)));
    assert.equal(r[0].status, 200);
  });

  it('echo: a body up to the cap is read whole (Content-Length)', T, async () => {
    for (const n of [0, 1, 65536, CAP]) {
      const body = crypto.randomBytes(n);
      const r = await http(`${main.url}/api/v1/debug/echo`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(r.status, 200, `${n} bytes: ${r.text}`);
      assert.deepEqual(r.json, { bytes: n, sha256: sha256(body) });
      assert.match(r.headers.get('content-type') || '', /^application\/json/);
    }
  });

  it('echo: a chunked body up to the cap is read whole', T, async () => {
    const c = await rawConnect(main.port);
    const parts = [crypto.randomBytes(1000), crypto.randomBytes(70000), crypto.randomBytes(1)];
    await c.write('POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (const p of parts) await c.write(Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]));
    await c.write('0\r\n\r\n');
    const [r] = await c.waitForResponses(1, 5000);
    assert.equal(r.status, 200, r.text());
    assert.deepEqual(r.json(), { bytes: 71001, sha256: sha256(Buffer.concat(parts)) });
    c.destroy();
  });

  it('declared Content-Length over the cap: 413 before the body is sent, close', T, async () => {
    const c = await rawConnect(main.port);
    await c.write(`POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: ${CAP + 1}\r\n\r\n`);
    const closed = await c.waitForClose(3000);
    const rs = parseResponses(c.data);
    assert.equal(rs.length, 1, `expected the 413 without sending any body; got ${JSON.stringify(c.data.toString('latin1').slice(0, 200))}`);
    assert.equal(rs[0].status, 413);
    assert.equal(rs[0].json().error.code, 'payload_too_large');
    assert.deepEqual(commonHeaderProblems(rs[0], { json: true }), []);
    assert.ok(closed, 'server must close after 413');
    c.destroy();
  });

  it('chunked body growing over the cap: 413 as soon as it passes, close', T, async () => {
    const c = await rawConnect(main.port);
    await c.write('POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = crypto.randomBytes(65536);
    // Exactly CAP + 1 bytes, and no terminating chunk: the server has to
    // decide on the size alone, not wait for the end of the body.
    for (let sent = 0; sent < CAP; sent += chunk.length) {
      await c.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]));
    }
    await c.write('1\r\nX\r\n');
    const closed = await c.waitForClose(3000);
    const rs = parseResponses(c.data);
    assert.equal(rs.length, 1, `one 413 expected; got ${JSON.stringify(c.data.toString('latin1').slice(0, 200))}`);
    assert.equal(rs[0].status, 413);
    assert.equal(rs[0].json().error.code, 'payload_too_large');
    assert.ok(closed, 'server must close after 413');
    c.destroy();
  });
});

describe('request log lines', () => {
  it('one JSON line per request with method, path, status, bytes, dur_ms and the response rid', T, async () => {
    const reqs = [
      { method: 'GET', path: '/healthz', rid: `log-a-${process.pid}`, status: 200 },
      { method: 'GET', path: '/api/v1/log-test-missing', rid: `log-b-${process.pid}`, status: 404 },
      { method: 'POST', path: '/healthz', rid: `log-c-${process.pid}`, status: 405 },
      { method: 'GET', path: '/readyz', rid: null, status: 200 },
    ];
    for (const q of reqs) {
      const headers = q.rid ? { 'x-request-id': q.rid } : {};
      const r = await http(`${main.url}${q.path}`, { method: q.method, headers, body: q.method === 'POST' ? '' : undefined });
      assert.equal(r.status, q.status);
      q.gotRid = r.headers.get('x-request-id');
      q.bodyLen = r.body.length;
      if (q.rid) assert.equal(q.gotRid, q.rid);
    }
    for (const q of reqs) {
      const line = await main.waitForLog((l) => l.msg === 'request' && l.rid === q.gotRid, 3000);
      assert.equal(line.method, q.method, `log method for ${q.path}`);
      assert.equal(line.path, q.path, `log path for ${q.path}`);
      assert.equal(line.status, q.status, `log status for ${q.path}`);
      assert.equal(line.level, 'info');
      assert.ok(!Number.isNaN(Date.parse(line.ts)), `log ts ${line.ts} is not a date`);
      assert.equal(typeof line.dur_ms, 'number');
      assert.ok(line.dur_ms >= 0);
      assert.equal(line.bytes, q.bodyLen, `log bytes for ${q.path} (the body size)`);
      assert.equal(main.logs.filter((l) => l.msg === 'request' && l.rid === q.gotRid).length, 1, 'exactly one line per request');
    }
  });

  it('every stderr line is a JSON object with ts, level and msg', T, async () => {
    assert.ok(main.lines.length > 0);
    for (const line of main.lines) {
      let o;
      try { o = JSON.parse(line); } catch { assert.fail(`stderr line is not JSON: ${line}`); }
      assert.equal(typeof o.ts, 'string', line);
      assert.ok(['debug', 'info', 'warn', 'error'].includes(o.level), line);
      assert.equal(typeof o.msg, 'string', line);
    }
  });
});

describe('timeouts (header 1000 ms, idle 3000 ms) and GSS_BODY_MAX', () => {
  let slow;
  before(async () => {
    slow = await startGssd({
      redis, database,
      env: { GSS_DEBUG_ROUTES: '1', GSS_HEADER_TIMEOUT_MS: '1000', GSS_IDLE_TIMEOUT_MS: '3000', GSS_BODY_MAX: '1000' },
    });
  }, T);
  after(async () => { if (slow) await slow.stop('SIGTERM', 15000); });

  // If the server answered before closing, it must be one 408.
  function check408(c, what) {
    if (c.data.length === 0) return;
    const rs = parseResponses(c.data);
    assert.equal(rs.length, 1, `${what}: at most one response before the close`);
    assert.equal(rs[0].status, 408, `${what}: status`);
    assert.equal(rs[0].json().error.code, 'request_timeout', `${what}: code`);
    assert.deepEqual(commonHeaderProblems(rs[0], { json: true }), [], `${what}: headers`);
  }

  it('slowloris: a request stalled inside its headers is cut at the header timeout', T, async () => {
    const c = await rawConnect(slow.port);
    const t0 = Date.now();
    await c.write('GET /healthz HTTP/1.1\r\nHost: t\r\nX-Partial: yes\r\n');
    assert.ok(await c.waitForClose(4000), 'a stalled request was never cut');
    const ms = c.closedAt - t0;
    assert.ok(ms >= 800 && ms <= 2500, `cut after ${ms} ms, expected ~1000`);
    check408(c, 'stalled headers');
    c.destroy();
  });

  it('a half-sent request line is cut at the header timeout too', T, async () => {
    const c = await rawConnect(slow.port);
    const t0 = Date.now();
    await c.write('GET /hea');
    assert.ok(await c.waitForClose(4000), 'a stalled request line was never cut');
    const ms = c.closedAt - t0;
    assert.ok(ms >= 800 && ms <= 2500, `cut after ${ms} ms, expected ~1000`);
    check408(c, 'stalled request line');
    c.destroy();
  });

  it('trickling one header byte every 200 ms does not reset the header timeout', T, async () => {
    const c = await rawConnect(slow.port);
    const t0 = Date.now();
    await c.write('GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ');
    while (!c.closed && Date.now() - t0 < 6000) {
      await sleep(200);
      await c.write('a');
    }
    assert.ok(c.closed, 'a trickling client was never cut');
    const ms = c.closedAt - t0;
    assert.ok(ms <= 2500, `trickling connection cut after ${ms} ms, expected ~1000 (timeout measured from the first byte)`);
    check408(c, 'trickle');
    c.destroy();
  });

  it('an idle connection that never sends is closed at the idle timeout (not the header one)', T, async () => {
    const c = await rawConnect(slow.port);
    const t0 = c.connectedAt;
    assert.ok(await c.waitForClose(7000), 'an idle connection was never closed');
    const ms = c.closedAt - t0;
    assert.ok(ms >= 2500 && ms <= 5000, `idle connection closed after ${ms} ms, expected ~3000`);
    assert.equal(c.data.length, 0, 'nothing should be sent to a connection that never asked');
    c.destroy();
  });

  it('an idle keep-alive connection is closed at the idle timeout after its last response', T, async () => {
    const c = await rawConnect(slow.port);
    await c.write(get('/healthz'));
    await c.waitForResponses(1, 3000);
    const t0 = Date.now();
    assert.ok(await c.waitForClose(7000), 'an idle keep-alive connection was never closed');
    const ms = c.closedAt - t0;
    assert.ok(ms >= 2500 && ms <= 5000, `closed ${ms} ms after the response, expected ~3000`);
    assert.equal(parseResponses(c.data).length, 1, 'no extra bytes after the response');
    c.destroy();
  });

  it('requests every second keep a connection alive past the idle timeout', T, async () => {
    const c = await rawConnect(slow.port);
    for (let i = 1; i <= 5; i++) {
      await c.write(get('/healthz'));
      const rs = await c.waitForResponses(i, 3000);
      assert.equal(rs[i - 1].status, 200);
      if (i < 5) await sleep(1000);
    }
    assert.equal(c.closed, false, 'a busy connection was closed');
    c.destroy();
  });

  it('the header timeout restarts with each request on a keep-alive connection', T, async () => {
    const c = await rawConnect(slow.port);
    await c.write(get('/healthz'));
    await c.waitForResponses(1, 3000);
    await sleep(500);
    const t0 = Date.now();
    await c.write('GET /healthz HTTP/1.1\r\nHost: t\r\n');
    assert.ok(await c.waitForClose(4000), 'a stalled second request was never cut');
    const ms = c.closedAt - t0;
    assert.ok(ms >= 800 && ms <= 2500, `second request cut after ${ms} ms, expected ~1000 from its first byte`);
    c.destroy();
  });

  it('the header timeout does not cut a slow handler once the headers are in', T, async () => {
    const c = await rawConnect(slow.port);
    await c.write(get('/api/v1/debug/sleep?ms=1500'));
    const [r] = await c.waitForResponses(1, 4000);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { slept_ms: 1500 });
    c.destroy();
  });

  it('GSS_BODY_MAX=1000: 1000 bytes pass, 1001 are 413 payload_too_large', T, async () => {
    const ok = crypto.randomBytes(1000);
    const r = await http(`${slow.url}/api/v1/debug/echo`, { method: 'POST', body: ok });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { bytes: 1000, sha256: sha256(ok) });
    await expectErrorAndClose(slow.port,
      'POST /api/v1/debug/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n', 413, 'payload_too_large', 'CL 1001');
  });
});

describe('connection limit (GSS_MAX_CONNS=4)', () => {
  let small;
  before(async () => {
    small = await startGssd({ redis, database, env: { GSS_MAX_CONNS: '4' } });
  }, T);
  after(async () => { if (small) await small.stop('SIGTERM', 15000); });

  it('the 5th connection gets 503 overloaded and is closed; the first 4 keep working', T, async () => {
    const conns = [];
    for (let i = 0; i < 4; i++) {
      const c = await rawConnect(small.port);
      await c.write(get('/healthz'));
      const [r] = await c.waitForResponses(1, 3000);
      assert.equal(r.status, 200, `connection ${i + 1} of 4 should be served`);
      conns.push(c);
    }
    const over = await rawConnect(small.port);
    await over.write(get('/healthz'));
    assert.ok(await over.waitForClose(3000), 'the connection over the limit must be closed');
    const rs = parseResponses(over.data);
    assert.equal(rs.length, 1, `one 503 expected, got ${JSON.stringify(over.data.toString('latin1').slice(0, 200))}`);
    assert.equal(rs[0].status, 503);
    assert.equal(rs[0].json().error.code, 'overloaded');
    assert.deepEqual(commonHeaderProblems(rs[0], { json: true }), []);
    over.destroy();

    // Existing connections are not disturbed.
    for (const [i, c] of conns.entries()) {
      await c.write(get('/healthz'));
      const rr = await c.waitForResponses(2, 3000);
      assert.equal(rr[1].status, 200, `existing connection ${i + 1} should still be served`);
    }

    // A freed slot is usable again.
    conns.pop().destroy();
    let served = false;
    for (let i = 0; i < 20 && !served; i++) {
      await sleep(100);
      const buf = await rawRequest(small.port, get('/healthz', 'Connection: close\r\n'), { timeout: 2000 });
      served = parseResponses(buf)[0]?.status === 200;
    }
    assert.ok(served, 'after one connection closed, a new one should be served');
    for (const c of conns) c.destroy();
  });
});
