// The browser's one WebSocket (web/js/live.js, PoolFeed) run in node with a
// fake socket, document and fetch: the invoice events reach subscribers as
// {type:'invoice', msg} and a resync as {type:'resync'}; a Sales feed
// (pool = false) never asks for the pool (GET /api/v1/pool is 403 for them)
// and is live once open; a board's feed still fetches its snapshot and
// applies pool messages; MonitorFeed refetches on the pool's resync only.
// The full app in Chromium is app.test.mjs and monitor.test.mjs.

import { it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { SOURCE_DIR } from '../integration/harness.mjs';

// ---- the browser, faked ---------------------------------------------------------

const sockets = [];
class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  constructor(url) {
    this.url = url;
    this.readyState = FakeWebSocket.CONNECTING;
    this.sent = [];
    sockets.push(this);
  }
  send(text) { this.sent.push(text); }
  close() { this.readyState = FakeWebSocket.CLOSED; }
  // test side
  open() { this.readyState = FakeWebSocket.OPEN; this.onopen && this.onopen(); }
  deliver(obj) { this.onmessage && this.onmessage({ data: JSON.stringify(obj) }); }
}

const fetched = [];
let answers = {};
globalThis.WebSocket = FakeWebSocket;
globalThis.document = { visibilityState: 'visible', addEventListener() {}, removeEventListener() {} };
globalThis.window = { addEventListener() {}, removeEventListener() {} };
globalThis.location = { protocol: 'http:', host: 'gss.test' };
globalThis.sessionStorage = { getItem: () => null, setItem() {}, removeItem() {} };
globalThis.fetch = async (url) => {
  fetched.push(url);
  const key = Object.keys(answers).find((k) => url.startsWith(k));
  const body = key ? answers[key] : { error: { code: 'not_found', message: 'x' } };
  return {
    ok: Boolean(key), status: key ? 200 : 404, statusText: '',
    headers: { get: () => null },
    text: async () => JSON.stringify(body),
  };
};

const { PoolFeed, MonitorFeed } = await import(pathToFileURL(path.join(SOURCE_DIR, 'web/js/live.js')).href);

const tick = () => new Promise((r) => setTimeout(r, 0));

function started({ pool }) {
  const feed = new PoolFeed();
  feed.pool = pool;
  const seen = [];
  feed.subscribe((c) => seen.push(c));
  feed.start();
  const ws = sockets.at(-1);
  return { feed, seen, ws };
}

const UPDATED = { type: 'invoice.updated', data: { id: 7, ticket_id: 12, number: 'INV-2612-0001', status: 'approved', action: 'approve' } };
const JOB = { id: 3, code: 'GSS-2612-0003', state: 'open', urgent: false, scheduled_at: '2030-06-03T02:00:00Z', slots_taken: 0, slots_total: 1 };

beforeEach(() => {
  sockets.length = 0;
  fetched.length = 0;
  answers = { '/api/v1/pool': { jobs: [], seq: 5 }, '/api/v1/monitor': { visits: [], seq: 0, counts: {} } };
});

it('Sales (pool = false): live once open, invoice events and resyncs, never GET /pool', async () => {
  const { feed, seen, ws } = started({ pool: false });
  assert.equal(ws.url, 'ws://gss.test/api/v1/ws');
  ws.open();
  await tick();
  assert.equal(feed.status, 'live');
  assert.deepEqual(seen.map((c) => c.type), ['status', 'open', 'resync', 'status']);
  assert.deepEqual(seen[2], { type: 'resync', reason: 'open' });
  seen.length = 0;

  ws.deliver(UPDATED);
  assert.deepEqual(seen, [{ type: 'invoice', msg: UPDATED }]);
  seen.length = 0;
  ws.deliver({ type: 'invoice.resync' });
  assert.deepEqual(seen, [{ type: 'invoice', msg: { type: 'invoice.resync' } }, { type: 'resync', reason: 'invoice' }]);
  seen.length = 0;
  // The pool's messages are not Sales' (the server does not send them; a
  // stray one changes nothing), its resync is passed on without a snapshot.
  ws.deliver({ type: 'pool.opened', seq: 9, data: JOB });
  ws.deliver({ type: 'resync' });
  await tick();
  assert.deepEqual(seen, [{ type: 'resync' }]);
  assert.equal(feed.jobs.size, 0);
  assert.deepEqual(fetched, [], 'no request at all, GET /pool least of all');
  feed.stop();
});

it('a board (pool = true): the snapshot and pool messages as before, plus the invoice events', async () => {
  const { feed, seen, ws } = started({ pool: true });
  ws.open();
  await tick();
  await tick();
  assert.deepEqual(fetched, ['/api/v1/pool']);
  assert.equal(feed.status, 'live');
  assert.ok(seen.some((c) => c.type === 'snapshot'));
  assert.deepEqual(seen.filter((c) => c.type === 'resync'), [{ type: 'resync', reason: 'open' }]);
  seen.length = 0;
  ws.deliver({ type: 'pool.opened', seq: 6, data: JOB });
  assert.equal(feed.jobs.get(3).code, 'GSS-2612-0003');
  ws.deliver(UPDATED);
  assert.deepEqual(seen.map((c) => c.type), ['job', 'invoice']);
  assert.deepEqual(seen[1].msg, UPDATED);
  ws.deliver({ type: 'resync' });
  await tick();
  await tick();
  assert.deepEqual(fetched, ['/api/v1/pool', '/api/v1/pool'], 'the pool\'s resync fetches the snapshot again');
  feed.stop();
});

it('MonitorFeed refetches on a new socket and on the pool\'s resync, not on an invoice resync', async () => {
  const { feed, ws } = started({ pool: true });
  const mon = new MonitorFeed(feed, '2030-06-03');
  mon.start(); // no open socket yet: it waits for 'open'
  ws.open();
  await tick();
  await tick();
  const monitorCalls = () => fetched.filter((u) => u.startsWith('/api/v1/monitor')).length;
  assert.equal(monitorCalls(), 1, 'one fetch for the new socket');
  ws.deliver({ type: 'invoice.resync' });
  await tick();
  assert.equal(monitorCalls(), 1, 'an invoice resync says nothing about visits');
  ws.deliver({ type: 'resync' });
  await tick();
  assert.equal(monitorCalls(), 2);
  mon.stop();
  feed.stop();
});
