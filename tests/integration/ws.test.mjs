// The live board socket, /api/v1/ws, as the web app and phones use it,
// driven by an independent client (the `ws` package): who may open it
// (session by Bearer token or cookie, same origin only for the cookie),
// the application ping, and the broadcast of live pool messages from the
// Redis channel <GSS_REDIS_PREFIX>:live to the right roles.
//
// Framing details are ws_protocol.test.mjs's (echo route, raw frames).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';

import WebSocket from 'ws';

import {
  startGssd, startRedis, createDatabase, http, rawRequest, parseResponses, scrapeMetrics, waitFor, sleep,
  gssdBin, REDIS_PREFIX,
} from './harness.mjs';

const T = { timeout: 60000 };
const PASSWORD = 'correct horse battery';

let redis;
let database;
let gssd;
const tokens = {};       // role → session token

// Opens a board socket; resolves {ws, status, messages, next(ms), closed}
// once open, or {status} when the server refused the upgrade.
function openBoard(port, { headers = {}, path = '/api/v1/ws' } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers, perMessageDeflate: false });
    const messages = [];
    const waiters = new Set();
    let closeInfo = null;
    ws.on('message', (data, isBinary) => {
      messages.push({ text: data.toString('utf8'), isBinary });
      for (const w of [...waiters]) w();
    });
    ws.on('close', (code, reason) => {
      closeInfo = { code, reason: reason.toString() };
      for (const w of [...waiters]) w();
    });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => { req.destroy(); resolve({ status: res.statusCode, headers: res.headers, body }); });
    });
    ws.on('error', (err) => reject(err));
    ws.on('open', () => {
      let cursor = 0;
      const waitUntil = (check, ms) => new Promise((res) => {
        if (check()) return res(true);
        const t = setTimeout(() => { waiters.delete(w); res(false); }, ms);
        const w = () => { if (check()) { clearTimeout(t); waiters.delete(w); res(true); } };
        waiters.add(w);
      });
      resolve({
        ws,
        status: 101,
        messages,
        get closed() { return closeInfo; },
        // The next message not yet returned, or null after ms.
        async next(ms = 3000) {
          if (!(await waitUntil(() => messages.length > cursor, ms))) return null;
          return messages[cursor++];
        },
        waitClose(ms = 5000) { return waitUntil(() => closeInfo !== null, ms).then(() => closeInfo); },
        close() { ws.terminate(); },
      });
    });
  });
}

function addUser(username, role) {
  execFileSync(gssdBin(), ['user', 'add', username, '--role', role, '--name', `WS ${role}`],
    { env: gssd.env, input: `${PASSWORD}\n`, stdio: ['pipe', 'pipe', 'pipe'], timeout: 30000 });
}

async function login(username) {
  const r = await http(`${gssd.url}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  return r;
}

const bearer = (role) => ({ Authorization: `Bearer ${tokens[role]}` });

async function metric(name) {
  return (await scrapeMetrics(gssd.url)).value(name);
}

before(async () => {
  redis = await startRedis();
  database = await createDatabase();
  gssd = await startGssd({ redis, database });
  await waitFor(async () => (await http(`${gssd.url}/readyz`)).status === 200, { timeout: 15000, what: 'readyz' });
  for (const role of ['ts', 'cs', 'sales', 'admin']) addUser(`ws_${role}`, role);
  for (const role of ['ts', 'cs', 'sales', 'admin']) {
    const r = await login(`ws_${role}`);
    assert.equal(r.status, 200, `login of ws_${role}: ${r.text}`);
    assert.ok(r.json?.token, `login answer has a token: ${r.text}`);
    tokens[role] = r.json.token;
  }
}, T);

after(async () => {
  if (gssd) assert.equal(await gssd.stop('SIGTERM', 20000), 0, 'gssd should exit 0 on SIGTERM');
});

describe('who may open /api/v1/ws', () => {
  it('an upgrade without a session is refused with 401, not 101', T, async () => {
    const key = crypto.randomBytes(16).toString('base64');
    const buf = await rawRequest(gssd.port, 'GET /api/v1/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n' +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`, { timeout: 3000 });
    const [res] = parseResponses(buf);
    assert.equal(res.status, 401);
    assert.equal(res.json().error.code, 'unauthorized');
    assert.equal(res.headers['sec-websocket-accept'], undefined);
    assert.ok(buf.closed, 'a refused upgrade closes the connection');
    const r = await openBoard(gssd.port);
    assert.equal(r.status, 401);
  });

  it('an unknown Bearer token is 401', T, async () => {
    const r = await openBoard(gssd.port, { headers: { Authorization: `Bearer ${crypto.randomBytes(32).toString('base64url')}` } });
    assert.equal(r.status, 401);
  });

  it('the echo route does not exist unless GSS_WS_ECHO=1', T, async () => {
    const r = await openBoard(gssd.port, { path: '/api/v1/ws/echo' });
    assert.equal(r.status, 404);
  });

  it('a logged-in user opens it with a Bearer token', T, async () => {
    const before = await metric('gss_ws_connections');
    const b = await openBoard(gssd.port, { headers: bearer('ts') });
    assert.equal(b.status, 101);
    assert.equal(await metric('gss_ws_connections'), before + 1);
    b.ws.close(1000);
    const c = await b.waitClose();
    assert.equal(c.code, 1000, 'the server echoes the close code');
    await waitFor(async () => (await metric('gss_ws_connections')) === before, { timeout: 5000, what: 'socket count back' });
  });

  it('the session cookie works from our own origin; another origin is 403', T, async () => {
    const cookie = `gss_session=${tokens.cs}`;
    const same = await openBoard(gssd.port, { headers: { Cookie: cookie, Origin: `http://127.0.0.1:${gssd.port}` } });
    assert.equal(same.status, 101, `same-origin cookie upgrade: ${same.body}`);
    same.close();
    const none = await openBoard(gssd.port, { headers: { Cookie: cookie } });
    assert.equal(none.status, 101, 'no Origin (not a browser) with the cookie');
    none.close();
    const evil = await openBoard(gssd.port, { headers: { Cookie: cookie, Origin: 'https://evil.example' } });
    assert.equal(evil.status, 403, 'cross-site WebSocket hijacking must be refused');
    assert.equal(JSON.parse(evil.body).error.code, 'bad_origin');
    // A Bearer token is not sent by browsers on their own: Origin does not matter.
    const tok = await openBoard(gssd.port, { headers: { ...bearer('cs'), Origin: 'https://other.example' } });
    assert.equal(tok.status, 101);
    tok.close();
  });
});

describe('ending a session closes its sockets', () => {
  it('logout closes that session\'s board with 1008; deactivation closes all of the user\'s boards', T, async () => {
    addUser('wsend', 'ts');
    const a = (await login('wsend')).json;
    const b = (await login('wsend')).json;
    const boardA = await openBoard(gssd.port, { headers: { Authorization: `Bearer ${a.token}` } });
    const boardB = await openBoard(gssd.port, { headers: { Authorization: `Bearer ${b.token}` } });
    assert.equal(boardA.status, 101);
    assert.equal(boardB.status, 101);
    const out = await http(`${gssd.url}/api/v1/auth/logout`, { method: 'POST', headers: { Authorization: `Bearer ${a.token}` } });
    assert.equal(out.status, 200);
    const ca = await boardA.waitClose(5000);
    assert.ok(ca, 'the logged-out session\'s board was closed');
    assert.equal(ca.code, 1008);
    assert.equal(boardB.closed, null, 'the other session\'s board stays open');
    const id = (await http(`${gssd.url}/api/v1/me`, { headers: { Authorization: `Bearer ${b.token}` } })).json.user.id;
    const patch = await http(`${gssd.url}/api/v1/users/${id}`, {
      method: 'PATCH', headers: { ...bearer('admin'), 'content-type': 'application/json' }, body: JSON.stringify({ active: false }),
    });
    assert.equal(patch.status, 200);
    const cb = await boardB.waitClose(5000);
    assert.ok(cb, 'the deactivated user\'s board was closed');
    assert.equal(cb.code, 1008);
  });
});

describe('messages', () => {
  it('{"type":"ping"} gets {"type":"pong"}; anything else is ignored', T, async () => {
    const b = await openBoard(gssd.port, { headers: bearer('ts') });
    b.ws.send('hello');
    b.ws.send('{"type":"subscribe"}');
    b.ws.send(Buffer.from([1, 2, 3]));
    b.ws.send('{"type":"ping"}');
    const m = await b.next();
    assert.ok(m, 'an answer to the ping');
    assert.deepEqual(JSON.parse(m.text), { type: 'pong' });
    assert.equal(m.isBinary, false);
    assert.equal(await b.next(300), null, 'nothing else comes back');
    assert.equal(b.closed, null, 'ignored messages do not close the socket');
    b.close();
  });
});

describe('broadcast from the live channel', () => {
  // Publishes msg on <prefix>:live; resolves whether the hub saw it.
  async function publish(msg) {
    const before = await metric('gss_ws_broadcasts_total');
    const receivers = await redis.command('PUBLISH', `${REDIS_PREFIX}:live`, msg);
    const seen = await waitFor(async () => (await metric('gss_ws_broadcasts_total')) > before,
      { timeout: 2000, interval: 50, what: 'broadcast counted' }).catch(() => false);
    return { receivers, seen: !!seen };
  }

  it('a pool message reaches TS and CS boards once, as published, and not Sales', T, async () => {
    const ts = await openBoard(gssd.port, { headers: bearer('ts') });
    const ts2 = await openBoard(gssd.port, { headers: bearer('ts') });
    const cs = await openBoard(gssd.port, { headers: bearer('cs') });
    const sales = await openBoard(gssd.port, { headers: bearer('sales') });
    const msg = JSON.stringify({ type: 'pool.updated', seq: 1, data: { id: 7, slots_taken: 1, note: 'Jl. Sudirman — ok' } });
    const { receivers, seen } = await publish(msg);
    if (!seen) for (const b of [ts, ts2, cs, sales]) b.close();
    assert.ok(seen, `the hub did not count a broadcast: nothing forwards ${REDIS_PREFIX}:live ` +
      `(PUBLISH reached ${receivers} subscriber(s))`);
    for (const [name, b] of [['ts', ts], ['ts2', ts2], ['cs', cs]]) {
      const m = await b.next(3000);
      assert.ok(m, `${name} got the broadcast`);
      assert.equal(m.text, msg, `${name} gets the message byte for byte`);
      assert.equal(m.isBinary, false, 'broadcasts are text frames');
      assert.equal(await b.next(200), null, `${name} got it once`);
    }
    assert.equal(await sales.next(300), null, 'Sales boards do not get pool messages');
    // Messages keep their order.
    for (const seq of [2, 3, 4]) await redis.command('PUBLISH', `${REDIS_PREFIX}:live`, JSON.stringify({ type: 'pool.opened', seq, data: { id: seq } }));
    const seqs = [];
    for (let i = 0; i < 3; i++) seqs.push(JSON.parse((await ts.next(3000)).text).seq);
    assert.deepEqual(seqs, [2, 3, 4]);
    assert.ok((await metric('gss_ws_broadcast_writes_total')) >= 3 + 3 * 3);
    for (const b of [ts, ts2, cs, sales]) b.close();
  });

  it('a board that stops reading is closed with 1008 while the others keep up', T, async () => {
    const slow = await openBoard(gssd.port, { headers: bearer('ts') });
    const fast = await openBoard(gssd.port, { headers: bearer('cs') });
    slow.ws.pause(); // the kernel buffers fill, then gssd's queue for it (cap 1 MiB)
    const d0 = await metric('gss_ws_dropped_slow_total');
    const pad = 'x'.repeat(60000);
    let n = 0;
    while (n < 500) {
      await redis.command('PUBLISH', `${REDIS_PREFIX}:live`, JSON.stringify({ type: 'pool.updated', seq: 1000 + n, data: { pad } }));
      n++;
      if (n % 8 === 0 && (await metric('gss_ws_dropped_slow_total')) > d0) break;
    }
    assert.equal(await metric('gss_ws_dropped_slow_total'), d0 + 1, `after ${n} unread 60 kB broadcasts`);
    for (let i = 0; i < n; i++) {
      const m = await fast.next(5000);
      assert.ok(m, `the reading board got broadcast ${i} of ${n}`);
      assert.equal(JSON.parse(m.text).seq, 1000 + i);
    }
    slow.ws.resume();
    const c = await slow.waitClose(8000);
    assert.equal(c?.code, 1008, 'the slow board is told why (1008), after what fitted in its queue');
    assert.ok(slow.messages.length < n, `${slow.messages.length} of ${n} reached the slow board`);
    fast.close();
  });

  it('boards are told to resync when the live subscription comes back', T, async () => {
    const ts = await openBoard(gssd.port, { headers: bearer('ts') });
    // Redis restarts (sessions are lost with it: this test comes last). The
    // open socket keeps its session and is told to fetch a fresh snapshot.
    await redis.restart();
    let m;
    do {
      m = await ts.next(10000);
      assert.ok(m, 'a resync message after the subscriber reconnects');
    } while (JSON.parse(m.text).type !== 'resync');
    assert.deepEqual(JSON.parse(m.text), { type: 'resync' });
    assert.equal(ts.closed, null);
    ts.close();
    await sleep(0);
  });
});
