// The job pool's Lua scripts (src/pool/lua) against a real redis-server.
//
// This file starts its own redis-server on a free loopback port (no RDB, no
// AOF) and, for the cluster test, a second one in cluster mode. It talks
// RESP through the tiny client below rather than an npm package, so it needs
// nothing but node and redis-server. Scripts are read from
// $GSS_SOURCE_DIR/src/pool/lua (ctest sets it), else relative to this file.
//
// Each test works in its own region (hash tag) and on its own live channel,
// so tests never see each other's keys, counters or messages.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const LUA_DIR = process.env.GSS_SOURCE_DIR
  ? path.join(process.env.GSS_SOURCE_DIR, 'src/pool/lua')
  : path.resolve(HERE, '../../src/pool/lua');
const SCRIPT_NAMES = ['open', 'claim', 'release', 'close'];
const NORMAL_BAND = 1e13;
const SCHED = Date.parse('2024-11-25T02:00:00Z'); // 09:00 in Jakarta
const NOW = Date.parse('2024-11-24T23:00:00Z');

// ---------------------------------------------------------------------------
// A minimal RESP2 client: commands are arrays of bulk strings; replies are
// parsed into strings, numbers, null, arrays (nested) and RespError values.
// Replies are matched to commands in order, so pipelining is just writing
// several commands before reading.

class RespError extends Error {}

function encodeCommand(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const s = String(a);
    parts.push(`$${Buffer.byteLength(s)}\r\n`, s, '\r\n');
  }
  return parts.join('');
}

// Parses one reply at buf[off..]; returns {value, off} past it, or null when
// the buffer does not hold the whole reply yet.
function parseReply(buf, off) {
  if (off >= buf.length) return null;
  const eol = buf.indexOf('\r\n', off);
  if (eol < 0) return null;
  const kind = String.fromCharCode(buf[off]);
  const line = buf.toString('utf8', off + 1, eol);
  const next = eol + 2;
  switch (kind) {
    case '+': return { value: line, off: next };
    case '-': return { value: new RespError(line), off: next };
    case ':': return { value: Number(line), off: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, off: next };
      if (buf.length < next + n + 2) return null;
      return { value: buf.toString('utf8', next, next + n), off: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, off: next };
      const items = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, at);
        if (!r) return null;
        items.push(r.value);
        at = r.off;
      }
      return { value: items, off: at };
    }
    default:
      throw new Error(`RESP: unexpected reply type ${JSON.stringify(kind)}`);
  }
}

class RespClient {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.pending = []; // {resolve, reject} per command sent, in order
    this.onMessage = null; // (channel, payload) for pub/sub pushes, once subscribed
    sock.setNoDelay(true);
    sock.on('data', (chunk) => this.#onData(chunk));
    sock.on('error', (err) => this.#failAll(err));
    sock.on('close', () => this.#failAll(new Error('connection closed')));
  }

  static connect(port) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host: '127.0.0.1' });
      sock.once('connect', () => {
        sock.removeListener('error', reject);
        resolve(new RespClient(sock));
      });
      sock.once('error', reject);
    });
  }

  // One command; resolves with the reply, rejects with a RespError.
  call(...args) {
    return this.pipeline([args])[0];
  }

  // Several commands in one write; an array of promises, one per command.
  pipeline(commands) {
    const promises = commands.map(
      () => new Promise((resolve, reject) => this.pending.push({ resolve, reject })));
    this.sock.write(commands.map(encodeCommand).join(''));
    return promises;
  }

  close() {
    this.sock.end();
  }

  #onData(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let off = 0;
    for (;;) {
      const r = parseReply(this.buf, off);
      if (!r) break;
      off = r.off;
      this.#dispatch(r.value);
    }
    this.buf = this.buf.subarray(off);
  }

  #dispatch(value) {
    // Pub/sub pushes: ["message", channel, payload] and
    // ["pmessage", pattern, channel, payload].
    if (this.onMessage && Array.isArray(value)) {
      if (value[0] === 'message') return this.onMessage(value[1], value[2]);
      if (value[0] === 'pmessage') return this.onMessage(value[2], value[3]);
    }
    const p = this.pending.shift();
    if (!p) throw new Error(`RESP: reply without a command: ${JSON.stringify(value)}`);
    if (value instanceof RespError) p.reject(value);
    else p.resolve(value);
  }

  #failAll(err) {
    const waiting = this.pending;
    this.pending = [];
    for (const p of waiting) p.reject(err);
  }
}

// ---------------------------------------------------------------------------
// redis-server processes.

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

async function startRedis(extra = []) {
  const port = await freePort();
  const child = spawn('redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let log = '';
  const keep = (d) => { log = (log + d).slice(-4000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((r) => child.once('exit', r));
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    try {
      const c = await RespClient.connect(port);
      if (await c.call('PING') === 'PONG') {
        return {
          port,
          client: c,
          async stop() {
            child.kill('SIGTERM');
            await exited;
            children.delete(child);
          },
        };
      }
      c.close();
    } catch { /* not listening yet */ }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not start on port ${port}:\n${log}`);
}

// ---------------------------------------------------------------------------
// The scripts and how gssd calls them.

function readScripts() {
  const out = {};
  // As cmake/embed.cmake builds them: lib/prelude.lua + the script.
  const prelude = readFileSync(path.join(LUA_DIR, 'lib', 'prelude.lua'));
  for (const name of SCRIPT_NAMES) out[name] = Buffer.concat([prelude, readFileSync(path.join(LUA_DIR, `${name}.lua`))]);
  return out;
}

async function loadScripts(client, sources) {
  const sha = {};
  for (const name of SCRIPT_NAMES) {
    sha[name] = await client.call('SCRIPT', 'LOAD', sources[name].toString('utf8'));
  }
  return sha;
}

// Keys of one region, as README.md lays them out.
function keysOf(region, prefix = 'gss') {
  const b = `${prefix}:{${region}}`;
  return {
    pool: `${b}:pool`,
    seq: `${b}:seq`,
    events: `${b}:events`,
    techPrefix: `${b}:tech:`,
    job: (id) => `${b}:job:${id}`,
    techs: (id) => `${b}:job:${id}:techs`,
    banned: (id) => `${b}:job:${id}:banned`,
    slots: (id) => `${b}:job:${id}:slots`,
    tech: (tid) => `${b}:tech:${tid}`,
  };
}

// The EVALSHA argument lists, exactly as the contract in README.md orders them.
function openArgs(sha, k, channel, j) {
  return ['EVALSHA', sha.open, 7,
    k.pool, k.job(j.id), k.techs(j.id), k.banned(j.id), k.seq, k.events, k.slots(j.id),
    j.id, j.slots ?? 1, j.code ?? `GSS-${j.id}`, j.title ?? `Job ${j.id}`, j.area ?? 'Jakarta Selatan',
    j.scheduledAt ?? '2024-11-25T09:00:00+07:00', j.schedMs ?? SCHED, j.urgent ?? 0,
    channel, j.now ?? NOW];
}
function claimArgs(sha, k, channel, jobId, techId, maxActive = 5, now = NOW) {
  return ['EVALSHA', sha.claim, 8,
    k.pool, k.job(jobId), k.techs(jobId), k.banned(jobId), k.tech(techId), k.seq, k.events,
    k.slots(jobId), jobId, techId, maxActive, channel, now];
}
function releaseArgs(sha, k, channel, jobId, techId, now = NOW) {
  return ['EVALSHA', sha.release, 8,
    k.pool, k.job(jobId), k.techs(jobId), k.banned(jobId), k.tech(techId), k.seq, k.events,
    k.slots(jobId), jobId, techId, channel, now];
}
function closeArgs(sha, k, channel, jobId, reason = 'cancelled', now = NOW, techPrefix = k.techPrefix) {
  return ['EVALSHA', sha.close, 6,
    k.pool, k.job(jobId), k.techs(jobId), k.seq, k.events, k.slots(jobId),
    jobId, reason, channel, now, techPrefix];
}

// A region bound to a client and a live channel: the four calls plus reads.
function regionCtx(client, sha, region) {
  const k = keysOf(region);
  const channel = `test:live:${region}`;
  return {
    k,
    channel,
    open: (j) => client.call(...openArgs(sha, k, channel, j)),
    claim: (jobId, techId, maxActive, now) =>
      client.call(...claimArgs(sha, k, channel, jobId, techId, maxActive, now)),
    release: (jobId, techId, now) => client.call(...releaseArgs(sha, k, channel, jobId, techId, now)),
    close: (jobId, reason, now, techPrefix) =>
      client.call(...closeArgs(sha, k, channel, jobId, reason, now, techPrefix)),
    job: async (id) => pairs(await client.call('HGETALL', k.job(id))),
    seq: async () => Number(await client.call('GET', k.seq) ?? 0),
    active: async (tid) => client.call('HGET', k.tech(tid), 'active'),
    score: (id) => client.call('ZSCORE', k.pool, id),
    techs: async (id) => (await client.call('SMEMBERS', k.techs(id))).sort(),
    banned: async (id) => (await client.call('SMEMBERS', k.banned(id))).sort(),
    slots: async (id) => pairs(await client.call('HGETALL', k.slots(id))),
    events: async () => (await client.call('XRANGE', k.events, '-', '+'))
      .map(([id, fields]) => ({ id, ...pairs(fields) })),
  };
}

function pairs(flat) {
  const o = {};
  for (let i = 0; i < flat.length; i += 2) o[flat[i]] = flat[i + 1];
  return o;
}

// Live messages: one subscriber connection (pattern test:live:*) files every
// message under its channel. drain() publishes a marker on the channel and
// waits for it: Redis delivers to one connection in order, so once the
// marker is back, every message published before it has arrived.
class Live {
  constructor(sub, pub) {
    this.sub = sub;
    this.pub = pub;
    this.byChannel = new Map();
    this.marks = 0;
  }

  static async start(port, pub) {
    const sub = await RespClient.connect(port);
    const live = new Live(sub, pub);
    sub.onMessage = (channel, payload) => {
      if (!live.byChannel.has(channel)) live.byChannel.set(channel, []);
      live.byChannel.get(channel).push(payload);
    };
    assert.deepEqual(await sub.call('PSUBSCRIBE', 'test:live:*'), ['psubscribe', 'test:live:*', 1]);
    return live;
  }

  // The JSON messages published on channel since the last drain, in order.
  async drain(channel) {
    const mark = `__mark_${++this.marks}`;
    await this.pub.call('PUBLISH', channel, mark);
    for (let i = 0; i < 1000; i++) {
      const got = this.byChannel.get(channel) ?? [];
      const at = got.indexOf(mark);
      if (at >= 0) {
        this.byChannel.set(channel, got.slice(at + 1));
        return got.slice(0, at).map((s) => JSON.parse(s));
      }
      await sleep(5);
    }
    throw new Error(`live: marker never came back on ${channel}`);
  }
}

// ---------------------------------------------------------------------------

let redis; // the plain server
let sources; // script name -> Buffer
let sha; // script name -> sha1
let live;

before(async () => {
  sources = readScripts();
  redis = await startRedis();
  sha = await loadScripts(redis.client, sources);
  live = await Live.start(redis.port, redis.client);
});

after(async () => {
  live?.sub.close();
  redis?.client.close();
  await redis?.stop();
});

const EVENT_FIELDS = ['seq', 'type', 'job', 'tech', 'slot', 'slots_total', 'slots_taken',
  'state', 'version', 'at'];

// What a live message's data holds for a job opened with openArgs defaults.
function boardData(j, over = {}) {
  return {
    id: j.id,
    code: j.code ?? `GSS-${j.id}`,
    title: j.title ?? `Job ${j.id}`,
    area: j.area ?? 'Jakarta Selatan',
    scheduled_at: j.scheduledAt ?? '2024-11-25T09:00:00+07:00',
    slots_total: j.slots ?? 1,
    slots_taken: 0,
    urgent: (j.urgent ?? 0) === 1,
    state: 'open',
    ...over,
  };
}

test('SCRIPT LOAD gives the sha1 of each file\'s exact bytes (what gssd computes)', async () => {
  for (const name of SCRIPT_NAMES) {
    const want = createHash('sha1').update(sources[name]).digest('hex');
    assert.equal(sha[name], want, name);
    assert.deepEqual(await redis.client.call('SCRIPT', 'EXISTS', want), [1]);
  }
});

test('open, then claims until full: slots 1..N, pool, states, stream, live', async () => {
  const r = regionCtx(redis.client, sha, 'fill');
  const j = { id: 101, slots: 3, code: 'GSS-2611-0042', title: 'Servis AC / cuci', area: 'Kebayoran Baru' };

  assert.deepEqual(await r.open(j), ['ok', 1]);
  assert.deepEqual(await r.job(101), {
    id: '101', code: 'GSS-2611-0042', title: 'Servis AC / cuci', area: 'Kebayoran Baru',
    scheduled_at: '2024-11-25T09:00:00+07:00', sched_ms: String(SCHED), urgent: '0',
    slots_total: '3', slots_taken: '0', state: 'open', version: '1',
  });
  assert.equal(await r.score(101), String(NORMAL_BAND + SCHED));

  assert.deepEqual(await r.claim(101, 11), ['ok', 1, 2, 1, 3]);
  assert.equal(await r.score(101), String(NORMAL_BAND + SCHED), 'still on the board');
  assert.deepEqual(await r.claim(101, 12), ['ok', 2, 3, 2, 3]);
  assert.equal((await r.job(101)).state, 'open');
  assert.deepEqual(await r.claim(101, 13), ['ok', 3, 4, 3, 3]);

  const job = await r.job(101);
  assert.equal(job.state, 'full');
  assert.equal(job.slots_taken, '3');
  assert.equal(job.version, '4');
  assert.equal(await r.score(101), null, 'a full job leaves the pool');
  assert.deepEqual(await r.techs(101), ['11', '12', '13']);
  assert.deepEqual(await r.slots(101), { 11: '1', 12: '2', 13: '3' });
  for (const t of [11, 12, 13]) assert.equal(await r.active(t), '1');

  const msgs = await live.drain(r.channel);
  assert.deepEqual(msgs.map((m) => m.type), ['pool.opened', 'pool.updated', 'pool.updated', 'pool.closed']);
  assert.deepEqual(msgs.map((m) => m.seq), [1, 2, 3, 4]);
  assert.deepEqual(msgs[0], { type: 'pool.opened', seq: 1, data: boardData(j) });
  assert.deepEqual(msgs[1].data, boardData(j, { slots_taken: 1 }));
  assert.deepEqual(msgs[3].data, boardData(j, { slots_taken: 3, state: 'full' }));

  const ev = await r.events();
  assert.equal(ev.length, 4);
  for (const e of ev) assert.deepEqual(Object.keys(e).slice(1).sort(), [...EVENT_FIELDS].sort());
  assert.deepEqual(ev.map((e) => [e.seq, e.type, e.job, e.tech, e.slot, e.slots_taken, e.state, e.version]), [
    ['1', 'opened', '101', '', '0', '0', 'open', '1'],
    ['2', 'claimed', '101', '11', '1', '1', 'open', '2'],
    ['3', 'claimed', '101', '12', '2', '2', 'open', '3'],
    ['4', 'claimed', '101', '13', '3', '3', 'full', '4'],
  ]);
  for (const e of ev) {
    assert.equal(e.slots_total, '3');
    assert.equal(e.at, String(NOW));
  }

  // One more claimer: refused, and a refusal changes nothing anywhere.
  assert.deepEqual(await r.claim(101, 14), ['err', 'job_full']);
  assert.equal(await r.seq(), 4);
  assert.equal((await r.events()).length, 4);
  assert.equal((await r.job(101)).version, '4');
  assert.equal(await r.active(14), null);
  assert.deepEqual(await live.drain(r.channel), []);
});

test('already_claimed and job_full, in the documented order', async () => {
  const r = regionCtx(redis.client, sha, 'refuse');
  await r.open({ id: 201, slots: 2 });
  assert.deepEqual(await r.claim(201, 21), ['ok', 1, 2, 1, 2]);
  assert.deepEqual(await r.claim(201, 21), ['err', 'already_claimed']);
  assert.deepEqual(await r.claim(201, 22), ['ok', 2, 3, 2, 2]);
  // A holder of a full job hears already_claimed, not job_full.
  assert.deepEqual(await r.claim(201, 21), ['err', 'already_claimed']);
  assert.deepEqual(await r.claim(201, 23), ['err', 'job_full']);
  // job_full is checked before tech_busy.
  await redis.client.call('HSET', r.k.tech(24), 'active', 5);
  assert.deepEqual(await r.claim(201, 24, 5), ['err', 'job_full']);
  assert.equal(await r.active(21), '1', 'refusals leave the counters alone');
  assert.equal(await r.active(24), '5');
  assert.equal((await r.job(201)).version, '3');
  assert.equal(await r.seq(), 3);
  const msgs = await live.drain(r.channel);
  assert.deepEqual(msgs.map((m) => m.type), ['pool.opened', 'pool.updated', 'pool.closed']);
});

test('not_open: missing job, closed job; exists: opening an open job', async () => {
  const r = regionCtx(redis.client, sha, 'notopen');
  assert.deepEqual(await r.claim(999, 31), ['err', 'not_open']);
  assert.deepEqual(await r.release(999, 31), ['err', 'not_open']);
  assert.deepEqual(await r.close(999), ['err', 'not_open']);
  assert.equal(await redis.client.call('EXISTS', r.k.job(999), r.k.seq, r.k.events, r.k.tech(31)), 0);

  await r.open({ id: 301, slots: 2 });
  assert.deepEqual(await r.open({ id: 301, slots: 2 }), ['err', 'exists']);
  await r.claim(301, 31);
  await r.claim(301, 32);
  assert.deepEqual(await r.open({ id: 301, slots: 5 }), ['err', 'exists'], 'full counts as existing');
  assert.deepEqual(await r.close(301, 'done'), ['ok', 4]);

  assert.deepEqual(await r.claim(301, 33), ['err', 'not_open']);
  assert.deepEqual(await r.claim(301, 31), ['err', 'not_open'], 'not_open before already_claimed');
  assert.deepEqual(await r.release(301, 31), ['err', 'not_open']);
  assert.deepEqual(await r.close(301, 'done'), ['err', 'not_open']);
  assert.equal(await r.seq(), 4);
});

test('tech_busy at max_active; a close frees the count and the claim succeeds', async () => {
  const r = regionCtx(redis.client, sha, 'busy');
  for (const id of [401, 402, 403]) await r.open({ id, slots: 2 });
  assert.equal((await r.claim(401, 40, 2))[0], 'ok');
  assert.equal((await r.claim(402, 40, 2))[0], 'ok');
  assert.equal(await r.active(40), '2');
  assert.deepEqual(await r.claim(403, 40, 2), ['err', 'tech_busy']);
  assert.deepEqual(await r.techs(403), []);
  assert.equal((await r.job(403)).slots_taken, '0');

  assert.equal((await r.close(401, 'done'))[0], 'ok');
  assert.equal(await r.active(40), '1');
  assert.deepEqual((await r.claim(403, 40, 2)).slice(0, 2), ['ok', 1]);
  assert.equal(await r.active(40), '2');
  // A higher limit lets the same technician take more.
  await r.open({ id: 404, slots: 1 });
  assert.deepEqual(await r.claim(404, 40, 2), ['err', 'tech_busy']);
  assert.equal((await r.claim(404, 40, 3))[0], 'ok');
});

test('release: frees the slot, bans the tech, reopens a full job as urgent; lowest slot re-used', async () => {
  const r = regionCtx(redis.client, sha, 'release');
  const j = { id: 501, slots: 2, schedMs: SCHED + 3_600_000 };
  // An earlier, non-urgent job: before the release it is first on the board.
  await r.open({ id: 500, slots: 1, schedMs: SCHED });
  await r.open(j);
  assert.deepEqual(await r.claim(501, 52), ['ok', 1, 3, 1, 2]);
  assert.deepEqual(await r.claim(501, 53), ['ok', 2, 4, 2, 2]);
  assert.deepEqual(await redis.client.call('ZRANGE', r.k.pool, 0, -1), ['500']);
  await live.drain(r.channel);

  assert.deepEqual(await r.release(501, 52), ['ok', 1, 5]);
  const job = await r.job(501);
  assert.equal(job.state, 'open');
  assert.equal(job.urgent, '1');
  assert.equal(job.slots_taken, '1');
  assert.equal(job.version, '4');
  assert.deepEqual(await r.techs(501), ['53']);
  assert.deepEqual(await r.slots(501), { 53: '2' });
  assert.deepEqual(await r.banned(501), ['52']);
  assert.equal(await r.active(52), '0');
  assert.equal(await r.score(501), String(j.schedMs), 'urgent band: score is sched_ms alone');
  assert.deepEqual(await redis.client.call('ZRANGE', r.k.pool, 0, -1), ['501', '500'],
    'urgent first, although scheduled later');

  let msgs = await live.drain(r.channel);
  assert.deepEqual(msgs, [{
    type: 'pool.opened', seq: 5,
    data: { ...boardData(j, { slots_taken: 1, urgent: true }), released_tech_id: 52 },
  }]);
  const ev = (await r.events()).at(-1);
  assert.deepEqual([ev.seq, ev.type, ev.job, ev.tech, ev.slot, ev.slots_taken, ev.state, ev.version],
    ['5', 'released', '501', '52', '1', '1', 'open', '4']);
  assert.equal(ev.reason, undefined);

  // The released technician cannot come back; the next one gets slot 1.
  assert.deepEqual(await r.claim(501, 52), ['err', 'banned']);
  assert.deepEqual(await r.claim(501, 54), ['ok', 1, 6, 2, 2]);
  assert.equal((await r.job(501)).state, 'full');
  assert.equal(await r.score(501), null);
  assert.deepEqual(await r.slots(501), { 53: '2', 54: '1' });
  // banned is checked before job_full.
  assert.deepEqual(await r.claim(501, 52), ['err', 'banned']);

  // Releasing slot 2 then slot 1: the second release finds the job open.
  assert.deepEqual(await r.release(501, 53), ['ok', 2, 7]);
  assert.deepEqual(await r.release(501, 54), ['ok', 1, 8]);
  assert.equal((await r.job(501)).slots_taken, '0');
  assert.deepEqual(await r.claim(501, 55), ['ok', 1, 9, 1, 2], 'lowest free number first');
  msgs = await live.drain(r.channel);
  assert.deepEqual(msgs.map((m) => m.type),
    ['pool.closed', 'pool.opened', 'pool.updated', 'pool.updated']);
  assert.deepEqual(msgs[2].data, { ...boardData(j, { slots_taken: 0, urgent: true }), released_tech_id: 54 });
  assert.equal(msgs[0].data.released_tech_id, undefined, 'only a release names a released technician');

  assert.deepEqual(await r.release(501, 99), ['err', 'not_assigned']);
  assert.deepEqual(await r.release(501, 52), ['err', 'not_assigned'], 'banned is not assigned');
  // active never goes below zero, even when the counter was already 0.
  await redis.client.call('HSET', r.k.tech(55), 'active', 0);
  assert.equal((await r.release(501, 55))[0], 'ok');
  assert.equal(await r.active(55), '0');
  assert.deepEqual(await r.banned(501), ['52', '53', '54', '55']);
});

test('close: every holder\'s active -1, history kept, reopen starts clean with a later version', async () => {
  const r = regionCtx(redis.client, sha, 'close');
  const j = { id: 601, slots: 3 };
  await r.open({ id: 600, slots: 1 });
  await r.open(j);
  await r.claim(600, 62);
  await r.claim(601, 62);
  await r.claim(601, 63);
  await r.claim(601, 64);
  await r.release(601, 64); // banned, no longer holding
  await redis.client.call('HSET', r.k.tech(63), 'active', 0); // floor check
  assert.equal(await r.active(62), '2');
  await live.drain(r.channel);

  const seq = await r.seq();
  assert.deepEqual(await r.close(601, 'cancelled', NOW + 5), ['ok', seq + 1]);
  assert.equal(await r.active(62), '1');
  assert.equal(await r.active(63), '0');
  assert.equal(await r.active(64), '0');
  const job = await r.job(601);
  assert.equal(job.state, 'closed');
  assert.equal(job.reason, 'cancelled');
  assert.equal(job.version, '6');
  assert.equal(await r.score(601), null);
  assert.equal(await r.score(600), null, 'the other job is full, so not in the pool either');
  assert.deepEqual(await r.techs(601), ['62', '63'], 'holders kept as history');
  assert.deepEqual(await r.slots(601), { 62: '1', 63: '2' });

  const ev = (await r.events()).at(-1);
  assert.deepEqual(ev, {
    id: ev.id, seq: String(seq + 1), type: 'closed', job: '601', tech: '', slot: '0',
    slots_total: '3', slots_taken: '2', state: 'closed', version: '6', at: String(NOW + 5),
    reason: 'cancelled',
  });
  assert.deepEqual(await live.drain(r.channel), [{
    type: 'pool.closed', seq: seq + 1,
    data: boardData(j, { slots_taken: 2, urgent: true, state: 'closed' }),
  }]);

  // Reopened: no holders, no bans, no reason, version continues.
  assert.deepEqual(await r.open({ id: 601, slots: 2 }), ['ok', seq + 2]);
  assert.deepEqual(await r.job(601), {
    id: '601', code: 'GSS-601', title: 'Job 601', area: 'Jakarta Selatan',
    scheduled_at: '2024-11-25T09:00:00+07:00', sched_ms: String(SCHED), urgent: '0',
    slots_total: '2', slots_taken: '0', state: 'open', version: '7',
  });
  assert.deepEqual(await r.techs(601), []);
  assert.deepEqual(await r.slots(601), {});
  assert.deepEqual(await r.banned(601), []);
  assert.deepEqual(await r.claim(601, 64), ['ok', 1, seq + 3, 1, 2], 'the ban died with the old life');

  // done is the other reason; closing an open job with no holders works.
  await r.open({ id: 602, slots: 1 });
  assert.equal((await r.close(602, 'done'))[0], 'ok');
  assert.equal((await r.job(602)).reason, 'done');
});

test('bad arguments are refused as values and change nothing', async () => {
  const r = regionCtx(redis.client, sha, 'bad');
  const c = redis.client;
  const k = r.k;
  const ch = r.channel;
  const ok = { id: 701, slots: 2 };
  const badOpens = [
    { slots: 0 }, { slots: 11 }, { slots: '2.5' }, { slots: 'abc' }, { slots: '0x2' },
    { slots: ' 3' }, { slots: '' }, { id: 0 }, { id: '0701' }, { id: -1 }, { id: 'x' },
    { id: '123456789012345' }, { urgent: 2 }, { urgent: '' }, { urgent: 'true' },
    { schedMs: -1 }, { schedMs: '1e3' }, { schedMs: '10000000000000' }, { schedMs: '' },
    { now: 'now' }, { now: '1.5' },
  ];
  for (const over of badOpens) {
    const j = { ...ok, ...over };
    const args = openArgs(sha, k, ch, j);
    // Keep the keys those of job 701 so that only the argument is wrong.
    args.splice(3, 7, k.pool, k.job(701), k.techs(701), k.banned(701), k.seq, k.events, k.slots(701));
    assert.deepEqual(await c.call(...args), ['err', 'bad_args'], JSON.stringify(over));
    assert.equal(args.length, openArgs(sha, k, ch, ok).length);
  }
  assert.deepEqual(await c.call(...openArgs(sha, k, '', ok)), ['err', 'bad_args'], 'empty channel');
  assert.deepEqual(await c.call(...openArgs(sha, k, ch, ok).slice(0, -1)), ['err', 'bad_args'], 'ARGV missing');
  const sixKeys = openArgs(sha, k, ch, ok);
  sixKeys[2] = 6;
  sixKeys.splice(9, 1);
  assert.deepEqual(await c.call(...sixKeys), ['err', 'bad_args'], 'six keys');
  assert.equal(await c.call('EXISTS', k.job(701), k.pool, k.seq, k.events), 0);

  await r.open(ok);
  const seq = await r.seq();
  for (const [tech, max, now] of [['abc', 5, NOW], ['07', 5, NOW], [71, 0, NOW], [71, 'x', NOW],
    [71, -1, NOW], [71, 5, ''], [71, 5, '-5']]) {
    const args = claimArgs(sha, k, ch, 701, tech, max, now);
    args[7] = k.tech(71);
    assert.deepEqual(await c.call(...args), ['err', 'bad_args'], `claim ${tech} ${max} ${now}`);
  }
  // KEYS name job 701, ARGV names 702: a caller bug, refused.
  const mismatch = claimArgs(sha, k, ch, 701, 71);
  mismatch[11] = 702;
  assert.deepEqual(await c.call(...mismatch), ['err', 'bad_args']);
  assert.deepEqual(await c.call(...claimArgs(sha, k, '', 701, 71)), ['err', 'bad_args']);
  assert.deepEqual(await c.call(...claimArgs(sha, k, ch, 701, 71).slice(0, -1)), ['err', 'bad_args']);

  assert.deepEqual(await r.claim(701, 71), ['ok', 1, seq + 1, 1, 2]);
  assert.deepEqual(await r.release(701, 71, 'x'), ['err', 'bad_args']);
  assert.deepEqual(await r.release(701, '71 '), ['err', 'bad_args']);
  const relMismatch = releaseArgs(sha, k, ch, 701, 71);
  relMismatch[11] = 702;
  assert.deepEqual(await c.call(...relMismatch), ['err', 'bad_args']);

  assert.deepEqual(await r.close(701, 'other'), ['err', 'bad_args']);
  assert.deepEqual(await r.close(701, ''), ['err', 'bad_args']);
  assert.deepEqual(await r.close(701, 'done', 'soon'), ['err', 'bad_args']);
  assert.deepEqual(await r.close(701, 'done', NOW, 'gss:{other}:tech:'), ['err', 'bad_args'],
    'tech prefix in another slot');
  assert.deepEqual(await r.close(701, 'done', NOW, 'gss:tech:'), ['err', 'bad_args'], 'prefix without tag');
  assert.deepEqual(await r.close(701, 'done', NOW, ''), ['err', 'bad_args']);
  assert.deepEqual(await c.call(...closeArgs(sha, k, ch, 701).slice(0, -1)), ['err', 'bad_args']);

  assert.equal(await r.seq(), seq + 1);
  assert.equal((await r.job(701)).version, '2');
  assert.equal(await r.active(71), '1');
  assert.deepEqual((await live.drain(ch)).map((m) => m.type), ['pool.opened', 'pool.updated']);
});

test('concurrency: 500 pipelined claims over 20 connections for 3 slots', async () => {
  const r = regionCtx(redis.client, sha, 'race');
  const j = { id: 801, slots: 3 };
  await r.open(j);
  const conns = await Promise.all(Array.from({ length: 20 }, () => RespClient.connect(redis.port)));
  const batches = conns.map(() => []);
  for (let i = 0; i < 500; i++) {
    batches[i % 20].push(claimArgs(sha, r.k, r.channel, 801, 10000 + i, 5, NOW + i));
  }
  // Every connection writes its 25 claims at once; all 20 race.
  const results = (await Promise.all(batches.map((cmds, n) => Promise.all(conns[n].pipeline(cmds)))))
    .flat();
  for (const c of conns) c.close();

  const wins = results.filter((x) => x[0] === 'ok');
  const full = results.filter((x) => x[0] === 'err' && x[1] === 'job_full');
  assert.equal(wins.length, 3);
  assert.equal(full.length, 497);
  assert.deepEqual(wins.map((x) => x[1]).sort(), [1, 2, 3]);
  assert.deepEqual(wins.map((x) => x[2]).sort(), [2, 3, 4], 'seq rises by one per win');
  assert.deepEqual(wins.map((x) => x[3]).sort(), [1, 2, 3]);

  const job = await r.job(801);
  assert.equal(job.state, 'full');
  assert.equal(job.slots_taken, '3');
  assert.equal(job.version, '4');
  assert.equal(await r.score(801), null);
  const techs = await r.techs(801);
  assert.equal(techs.length, 3);
  assert.deepEqual(Object.values(await r.slots(801)).sort(), ['1', '2', '3']);
  for (const t of techs) assert.equal(await r.active(t), '1');
  assert.equal(await r.seq(), 4);
  const ev = await r.events();
  assert.deepEqual(ev.map((e) => e.type), ['opened', 'claimed', 'claimed', 'claimed']);
  assert.deepEqual(ev.slice(1).map((e) => e.tech).sort(), techs);
  assert.equal(await redis.client.call('SCARD', r.k.banned(801)), 0);
  // Losers were refused before any write: no tech key exists for them.
  let losersWithKeys = 0;
  for (let i = 0; i < 500; i++) {
    if (!techs.includes(String(10000 + i))) {
      losersWithKeys += await redis.client.call('EXISTS', r.k.tech(10000 + i));
    }
  }
  assert.equal(losersWithKeys, 0);
  const msgs = await live.drain(r.channel);
  assert.deepEqual(msgs.map((m) => m.type), ['pool.opened', 'pool.updated', 'pool.updated', 'pool.closed']);
  assert.deepEqual(msgs.map((m) => m.seq), [1, 2, 3, 4]);
  assert.deepEqual(msgs[3].data, boardData(j, { slots_taken: 3, state: 'full' }));
});

test('NOSCRIPT after a flush; EVAL of the same text (gssd\'s fallback) works', async () => {
  const c = redis.client;
  const r = regionCtx(c, sha, 'noscript');
  try {
    await c.call('SCRIPT', 'FLUSH');
    await assert.rejects(r.open({ id: 901 }), /^Error: NOSCRIPT/);
    const args = openArgs(sha, r.k, r.channel, { id: 901 });
    args[0] = 'EVAL';
    args[1] = sources.open.toString('utf8');
    assert.deepEqual(await c.call(...args), ['ok', 1]);
    assert.deepEqual(await c.call(...args), ['err', 'exists']);
  } finally {
    sha = await loadScripts(c, sources);
  }
  assert.deepEqual((await r.claim(901, 91)).slice(0, 2), ['ok', 1]);
});

test('runs on Redis Cluster: a node owning only the region\'s slot', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gss-pool-lua-'));
  const busPort = await freePort();
  let node;
  try {
    node = await startRedis(['--cluster-enabled', 'yes', '--cluster-port', String(busPort),
      '--cluster-config-file', path.join(dir, 'nodes.conf'), '--cluster-require-full-coverage', 'no',
      '--dir', dir]);
    const c = node.client;
    const k = keysOf('jkt');
    const slot = await c.call('CLUSTER', 'KEYSLOT', k.pool);
    for (const key of [k.job(1), k.techs(1), k.slots(1), k.banned(1), k.tech(5), k.seq, k.events]) {
      assert.equal(await c.call('CLUSTER', 'KEYSLOT', key), slot, key);
    }
    assert.equal(await c.call('CLUSTER', 'ADDSLOTS', slot), 'OK');
    for (let i = 0; i < 200; i++) {
      if ((await c.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) break;
      await sleep(25);
    }
    assert.match(await c.call('CLUSTER', 'INFO'), /cluster_state:ok/);

    const csha = await loadScripts(c, sources);
    const r = regionCtx(c, csha, 'jkt');
    assert.deepEqual(await r.open({ id: 1, slots: 2 }), ['ok', 1]);
    assert.deepEqual(await r.claim(1, 5), ['ok', 1, 2, 1, 2]);
    assert.deepEqual(await r.claim(1, 6), ['ok', 2, 3, 2, 2]);
    assert.deepEqual(await r.release(1, 5), ['ok', 1, 4]);
    assert.deepEqual(await r.claim(1, 7), ['ok', 1, 5, 2, 2]);
    // close touches the holders' keys it builds from the prefix.
    assert.deepEqual(await r.close(1, 'done'), ['ok', 6]);
    assert.equal(await r.active(6), '0');
    assert.equal(await r.active(7), '0');

    // The node really does refuse keys outside its slot.
    const other = regionCtx(c, csha, 'elsewhere');
    await assert.rejects(other.open({ id: 1 }), /MOVED|CLUSTERDOWN/);
    const mixed = claimArgs(csha, r.k, r.channel, 1, 5);
    mixed[7] = keysOf('elsewhere').tech(5);
    await assert.rejects(c.call(...mixed), /CROSSSLOT/);
    c.close();
  } finally {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
