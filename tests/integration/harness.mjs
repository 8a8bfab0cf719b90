// Integration-test harness: starts real gssd, Redis and PostgreSQL processes
// for one test file and talks to them over real sockets.
//
// Environment (set by ctest / scripts/test.sh; each has a fallback so that a
// file can also be run by hand with `node --test tests/integration/x.test.mjs`):
//   GSS_BIN          path of the gssd binary (fallback: build-it/ or build/ in
//                    the source tree)
//   GSS_SOURCE_DIR   repository root (fallback: two folders above this file)
//   GSS_TEST_PG_URL  shared cluster, postgresql://gss@127.0.0.1:PORT without a
//                    database (fallback: this file starts a private cluster)
//   GSS_TEST_TMP     folder for temporary files (fallback: the OS temp dir)
//   GSS_PG_SH        scripts/pg.sh (fallback: $GSS_SOURCE_DIR/scripts/pg.sh)
//   GSS_TEST_VERBOSE=1  copy every child's stderr to ours, for debugging
//   GSS_KEEP_TMP=1      keep temporary folders after the run
//
// Cleanup contract: everything started through this module (processes,
// clusters, sockets, temp folders) is registered and torn down by a root-level
// node:test `after` hook when the file's tests end, even when they failed
// (it runs after the test file's own after hooks, top-level ones included); a
// process 'exit' hook SIGKILLs whatever is left; and a tiny watchdog shell per
// child kills it if this node process dies without running either (SIGKILL by
// a ctest timeout). Children never inherit our stdio, so a leaked one could
// never hold ctest's output pipe open either way.

import { spawn, execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { StringDecoder } from 'node:string_decoder';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Repository root. */
export const SOURCE_DIR = path.resolve(process.env.GSS_SOURCE_DIR || path.join(HERE, '..', '..'));

/** Short name of the running test file ("http" for http.test.mjs), used to
 *  make names (Redis prefix, temp folders) unique per file. */
export const FILE_TAG = (path.basename(process.argv[1] || 'adhoc')
  .replace(/\.test\.mjs$/, '').replace(/[^A-Za-z0-9]+/g, '_').toLowerCase() || 'adhoc');

/** sleep(ms): a promise resolved after ms milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** gssdBin(): the gssd binary to test (GSS_BIN, else a build in the tree). */
export function gssdBin() {
  if (process.env.GSS_BIN) return process.env.GSS_BIN;
  for (const d of ['build-it', 'build', 'build/run']) {
    const p = path.join(SOURCE_DIR, d, 'gssd');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('GSS_BIN is not set and no gssd was found under build-it/ or build/');
}

// ---------------------------------------------------------------------------
// Cleanup registry

// Each entry: { name, async: () => Promise, sync: () => void }. Entries run in
// reverse order of registration (gssd before the Redis and database it uses).
const cleanups = [];
let cleanedUp = false;

function register(name, asyncFn, syncFn) {
  const entry = { name, async: asyncFn, sync: syncFn, done: false };
  cleanups.push(entry);
  return () => { entry.done = true; };
}

/** cleanupAll(): tear down everything this file started. Runs by itself in a
 *  root-level after hook; exported for files that want it earlier. */
export async function cleanupAll() {
  for (const e of cleanups.slice().reverse()) {
    if (e.done) continue;
    e.done = true;
    try {
      await withTimeout(Promise.resolve().then(e.async), 20000, `cleanup of ${e.name}`);
    } catch (err) {
      process.stderr.write(`harness: cleanup of ${e.name} failed: ${err.message}\n`);
      try { e.sync && e.sync(); } catch { /* best effort */ }
    }
  }
  cleanups.length = 0;
  cleanedUp = true;
}

function cleanupAllSync() {
  for (const e of cleanups.slice().reverse()) {
    if (e.done) continue;
    e.done = true;
    try { e.sync && e.sync(); } catch { /* best effort at exit */ }
  }
}

// Registered on the next turn, not now: node:test runs root-level after
// hooks in registration order, and this module is evaluated before the test
// file's own top-level code, so registering now would tear everything down
// before the file's own after hooks (e.g. a graceful gssd.stop() checking the
// exit code) could run.
setImmediate(() => after(cleanupAll));
process.on('exit', cleanupAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { cleanupAllSync(); process.exit(128 + os.constants.signals[sig]); });
}

/** withTimeout(promise, ms, what): rejects with a clear message when the
 *  promise does not settle in time. */
export function withTimeout(promise, ms, what = 'operation') {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** waitFor(fn, {timeout, interval, what}): calls fn (may be async) until it
 *  returns a truthy value and returns that value; throws after timeout ms.
 *  Exceptions from fn count as "not yet"; the last one is in the message. */
export async function waitFor(fn, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
  const t0 = Date.now();
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() - t0 > timeout) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}` +
        (lastErr ? ` (last error: ${lastErr.message})` : ''));
    }
    await sleep(interval);
  }
}

/** makeTmpDir(tag): a new empty folder under GSS_TEST_TMP (or the OS temp
 *  dir), removed at cleanup unless GSS_KEEP_TMP=1. */
export async function makeTmpDir(tag = 'tmp') {
  const root = process.env.GSS_TEST_TMP || os.tmpdir();
  await fsp.mkdir(root, { recursive: true });
  const dir = await fsp.mkdtemp(path.join(root, `gss-${FILE_TAG}-${tag}-`));
  if (process.env.GSS_KEEP_TMP !== '1') {
    register(`tmp ${dir}`,
      () => fsp.rm(dir, { recursive: true, force: true }),
      () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return dir;
}

// ---------------------------------------------------------------------------
// Child processes

// A detached shell that waits for this node process (or the child) to die,
// then runs killCmd. It keeps no handle in our event loop.
function startWatchdog(childPid, killCmd) {
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${childPid} 2>/dev/null; do sleep 1; done; ` +
    `kill -0 ${process.pid} 2>/dev/null || { ${killCmd}; }`;
  try {
    const w = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
    w.unref();
    return w;
  } catch {
    return null;
  }
}

// Spawns a tracked child: stdio piped (never inherited), stderr/stdout split
// into lines, killed at cleanup. Returns { proc, lines, stdoutLines, exited }
// where exited is a promise of { code, signal } settled when the process ends.
function spawnTracked(name, cmd, args, { env, onLine, cwd } = {}) {
  const proc = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const stdoutLines = [];
  const verbose = process.env.GSS_TEST_VERBOSE === '1';
  const splitter = (sink, label) => {
    let rest = '';
    // A decoder, so that a character split across two reads stays whole;
    // bytes that are not UTF-8 at all become U+FFFD (tests can look for it).
    const dec = new StringDecoder('utf8');
    return (chunk) => {
      rest += dec.write(chunk);
      let i;
      while ((i = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, i);
        rest = rest.slice(i + 1);
        sink.push(line);
        if (onLine) onLine(line, label);
        if (verbose) process.stderr.write(`[${name} ${label}] ${line}\n`);
      }
    };
  };
  proc.stderr.on('data', splitter(lines, 'stderr'));
  proc.stdout.on('data', splitter(stdoutLines, 'stdout'));
  let spawnError = null;
  const exited = new Promise((resolve) => {
    proc.on('error', (err) => { spawnError = err; resolve({ code: null, signal: null, error: err }); });
    proc.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  let watchdog = null;
  if (proc.pid) watchdog = startWatchdog(proc.pid, `kill -9 ${proc.pid} 2>/dev/null`);
  const alive = () => proc.exitCode === null && proc.signalCode === null && !spawnError;
  const unregister = register(name,
    async () => {
      if (alive()) {
        proc.kill('SIGKILL');
        await withTimeout(exited, 5000, `${name} exit after SIGKILL`);
      }
      if (watchdog) try { process.kill(-watchdog.pid, 'SIGKILL'); } catch { /* gone */ }
    },
    () => {
      if (alive()) try { proc.kill('SIGKILL'); } catch { /* gone */ }
      if (watchdog) try { process.kill(-watchdog.pid, 'SIGKILL'); } catch { /* gone */ }
    });
  exited.then(() => {
    if (watchdog) try { process.kill(-watchdog.pid, 'SIGKILL'); } catch { /* gone */ }
  });
  return { proc, lines, stdoutLines, exited, alive, unregister };
}

/** run(cmd, args, {env, timeout, cwd, input}): runs a command to completion
 *  and resolves {code, stdout, stderr}; code is the exit status, 'timeout'
 *  when it was killed after timeout ms, -1 when it could not run. Never
 *  rejects. input (string or Buffer) is written to its stdin, then closed. */
export function run(cmd, args, { env, timeout = 60000, cwd, input } = {}) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env, timeout, cwd, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        let code = 0;
        if (err) code = typeof err.code === 'number' ? err.code : (err.killed ? 'timeout' : -1);
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      });
    child.stdin.on('error', () => { /* the command may exit without reading */ });
    child.stdin.end(input === undefined ? '' : input);
  });
}

// ---------------------------------------------------------------------------
// Ports and raw TCP

/** freePort(): a TCP port on 127.0.0.1 that was free a moment ago (the
 *  kernel picks it; there is a tiny race with other processes, which the
 *  start functions absorb by retrying on "address in use"). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** tryConnect(port, {timeout}): 'connected' | 'refused' | 'timeout' | error
 *  code; the socket (if any) is closed straight away. */
export function tryConnect(port, { timeout = 2000, host = '127.0.0.1' } = {}) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const timer = setTimeout(() => { s.destroy(); resolve('timeout'); }, timeout);
    s.on('connect', () => { clearTimeout(timer); s.destroy(); resolve('connected'); });
    s.on('error', (err) => {
      clearTimeout(timer);
      resolve(err.code === 'ECONNREFUSED' ? 'refused' : (err.code || 'error'));
    });
  });
}

/**
 * rawConnect(port, {host, timeout}) → RawConn, a TCP connection driven byte
 * by byte, for tests about framing, timeouts and connection handling:
 *   conn.write(bytes)            send (string or Buffer); resolves true when
 *                                written, false if the socket was gone
 *   conn.data                    Buffer of every byte received so far
 *   conn.closed / conn.closedAt  true / Date.now() once the server closed (FIN
 *                                or reset: conn.reset tells which)
 *   conn.waitForClose(ms)        resolves true if closed within ms, else false
 *   conn.waitForData(pred, ms)   resolves true once pred(conn.data) is truthy
 *   conn.waitForResponses(n, ms, parseOpts)  resolves the parsed responses
 *                                once n complete ones arrived (throws on timeout)
 *   conn.destroy()               close our side
 * Every RawConn is destroyed at cleanup.
 */
export function rawConnect(port, { host = '127.0.0.1', timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    socket.setNoDelay(true);
    const conn = new RawConn(socket);
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`connect to ${port} timed out`)); }, timeout);
    socket.once('connect', () => { clearTimeout(timer); conn.connectedAt = Date.now(); resolve(conn); });
    socket.once('error', (err) => { clearTimeout(timer); if (!conn.connectedAt) reject(err); });
  });
}

class RawConn {
  constructor(socket) {
    this.socket = socket;
    this.chunks = [];
    this.closed = false;
    this.closedAt = null;
    this.reset = false;
    this.connectedAt = null;
    this.firstDataAt = null;
    this.waiters = new Set();
    socket.on('data', (c) => {
      if (this.firstDataAt === null) this.firstDataAt = Date.now();
      this.chunks.push(c);
      this.notify();
    });
    const onClose = () => {
      if (!this.closed) { this.closed = true; this.closedAt = Date.now(); }
      this.notify();
    };
    socket.on('end', onClose);
    socket.on('close', onClose);
    socket.on('error', (err) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.reset = true;
      onClose();
    });
    this.unregister = register('raw socket', async () => socket.destroy(), () => socket.destroy());
  }

  get data() {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] || Buffer.alloc(0);
  }

  notify() {
    for (const w of [...this.waiters]) w();
  }

  write(bytes) {
    return new Promise((resolve) => {
      if (this.closed || this.socket.destroyed || !this.socket.writable) return resolve(false);
      this.socket.write(bytes, (err) => resolve(!err));
    });
  }

  // Resolves true as soon as check() is truthy, false after ms.
  waitUntil(check, ms) {
    return new Promise((resolve) => {
      if (check()) return resolve(true);
      let timer;
      const w = () => {
        if (check()) { clearTimeout(timer); this.waiters.delete(w); resolve(true); }
      };
      timer = setTimeout(() => { this.waiters.delete(w); resolve(false); }, ms);
      this.waiters.add(w);
    });
  }

  waitForClose(ms = 5000) {
    return this.waitUntil(() => this.closed, ms);
  }

  waitForData(pred, ms = 5000) {
    return this.waitUntil(() => pred(this.data) || false, ms);
  }

  async waitForResponses(n, ms = 5000, parseOpts = {}) {
    let parsed = [];
    const ok = await this.waitUntil(() => {
      try { parsed = parseResponses(this.data, parseOpts); } catch { return false; }
      return parsed.filter((r) => r.complete).length >= n || (this.closed && true);
    }, ms);
    const complete = parsed.filter((r) => r.complete);
    if (!ok || complete.length < n) {
      throw new Error(`expected ${n} complete response(s) within ${ms} ms, got ${complete.length}` +
        ` (closed=${this.closed}); bytes: ${JSON.stringify(this.data.toString('latin1').slice(0, 600))}`);
    }
    return complete;
  }

  destroy() {
    this.socket.destroy();
    this.unregister();
  }
}

/** rawRequest(port, bytes, {timeout}) → Buffer of everything the server sent
 *  on a fresh connection until it closed or timeout ms (default 5000) passed.
 *  The Buffer carries .closed (the server closed in time) and .ms (elapsed).
 *  bytes may be a string (sent as latin1, byte for byte), a Buffer, or an
 *  array of those written one after the other. */
export async function rawRequest(port, bytes, { timeout = 5000, host } = {}) {
  const conn = await rawConnect(port, { host });
  const t0 = Date.now();
  const parts = Array.isArray(bytes) ? bytes : [bytes];
  for (const p of parts) await conn.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
  const closed = await conn.waitForClose(timeout);
  const buf = Buffer.from(conn.data);
  conn.destroy();
  return Object.assign(buf, { closed, ms: Date.now() - t0 });
}

/**
 * parseResponses(buf, {head}) → [{version, status, reason, headers,
 * rawHeaders, body, complete, chunked, closeDelimited, text(), json()}]
 * Splits the bytes of one or more HTTP/1.x responses. headers has lowercase
 * names (repeated headers joined with ", "); rawHeaders keeps [name, value]
 * pairs in order. Bodies are delimited by Content-Length or chunked coding;
 * 1xx, 204 and 304 have none, and neither has the i-th response when head[i]
 * is true (an answer to HEAD). A response with neither is read to the end.
 * A last response cut short has complete: false. Throws on bytes that are
 * not HTTP at all.
 */
export function parseResponses(buf, { head = [] } = {}) {
  buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf, 'latin1');
  const out = [];
  let off = 0;
  while (off < buf.length) {
    const idx = out.length;
    const hend = buf.indexOf('\r\n\r\n', off, 'latin1');
    const res = {
      version: null, status: null, reason: '', headers: {}, rawHeaders: [], body: Buffer.alloc(0),
      complete: false, chunked: false, closeDelimited: false,
      text() { return this.body.toString('utf8'); },
      json() { return JSON.parse(this.body.toString('utf8')); },
    };
    if (hend < 0) {
      res.partial = buf.subarray(off);
      const m = /^HTTP\/(\d\.\d) (\d{3})/.exec(res.partial.toString('latin1'));
      if (!m && res.partial.length >= 12) throw new Error(`not an HTTP response: ${JSON.stringify(res.partial.toString('latin1').slice(0, 80))}`);
      out.push(res);
      break;
    }
    const head_ = buf.subarray(off, hend).toString('latin1').split('\r\n');
    const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(head_[0]);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(head_[0].slice(0, 120))}`);
    res.version = m[1];
    res.status = Number(m[2]);
    res.reason = m[3] || '';
    for (const line of head_.slice(1)) {
      const c = line.indexOf(':');
      if (c <= 0) throw new Error(`bad header line: ${JSON.stringify(line.slice(0, 120))}`);
      const name = line.slice(0, c);
      const value = line.slice(c + 1).trim();
      res.rawHeaders.push([name, value]);
      const k = name.toLowerCase();
      res.headers[k] = k in res.headers ? `${res.headers[k]}, ${value}` : value;
    }
    off = hend + 4;
    const noBody = head[idx] === true || (res.status >= 100 && res.status < 200) ||
      res.status === 204 || res.status === 304;
    const te = (res.headers['transfer-encoding'] || '').toLowerCase();
    if (noBody) {
      res.complete = true;
    } else if (te.split(',').map((s) => s.trim()).includes('chunked')) {
      res.chunked = true;
      const parts = [];
      let p = off;
      let done = false;
      for (;;) {
        const le = buf.indexOf('\r\n', p, 'latin1');
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1').split(';')[0].trim(), 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size line');
        p = le + 2;
        if (size === 0) {
          // Trailers, then an empty line.
          let trailersEnd = -1;
          if (buf.subarray(p, p + 2).toString('latin1') === '\r\n') trailersEnd = p + 2;
          else {
            const te2 = buf.indexOf('\r\n\r\n', p, 'latin1');
            if (te2 >= 0) trailersEnd = te2 + 4;
          }
          if (trailersEnd < 0) break;
          p = trailersEnd;
          done = true;
          break;
        }
        if (p + size + 2 > buf.length) break;
        parts.push(buf.subarray(p, p + size));
        p += size + 2;
      }
      res.body = Buffer.concat(parts);
      res.complete = done;
      off = done ? p : buf.length;
    } else if (res.headers['content-length'] !== undefined) {
      const len = Number(res.headers['content-length']);
      if (!Number.isInteger(len) || len < 0) throw new Error(`bad Content-Length ${res.headers['content-length']}`);
      res.body = buf.subarray(off, Math.min(off + len, buf.length));
      res.complete = off + len <= buf.length;
      off = Math.min(off + len, buf.length);
    } else {
      res.closeDelimited = true;
      res.body = buf.subarray(off);
      res.complete = true;
      off = buf.length;
    }
    out.push(res);
    if (!res.complete) break;
  }
  return out;
}

/** http(url, {method, headers, body, timeout, keepAlive}) → {status, headers
 *  (a fetch Headers), body (Buffer), text, json (parsed body or undefined)}.
 *  Uses global fetch. Sends `Connection: close` unless keepAlive is true, so
 *  that fetch's pooled sockets never linger in a server's connection count
 *  or race its idle timeout. Redirects are not followed. */
export async function http(url, { method = 'GET', headers = {}, body, timeout = 10000, keepAlive = false } = {}) {
  const h = new Headers(headers);
  if (!keepAlive && !h.has('connection')) h.set('connection', 'close');
  const res = await fetch(url, {
    method, headers: h, body, redirect: 'manual', signal: AbortSignal.timeout(timeout),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  const text = buf.toString('utf8');
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, body: buf, text, json };
}

// Answers 200 to GET path on a fresh connection that is closed afterwards;
// resolves false on any error. Used for readiness polling without leaving
// keep-alive sockets behind.
async function probe(port, pathname, timeout = 1000) {
  try {
    const buf = await rawRequest(port,
      `GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, { timeout });
    return /^HTTP\/1\.[01] 200 /.test(buf.toString('latin1'));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Redis

// Encodes a command as a RESP array of bulk strings.
function respEncode(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const b = Buffer.from(String(a));
    parts.push(`$${b.length}\r\n`, b, '\r\n');
  }
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
}

// Parses one RESP reply at off: returns [value, nextOff] or null if
// incomplete. Errors become Error objects.
function respParse(buf, off = 0) {
  const le = buf.indexOf('\r\n', off);
  if (le < 0) return null;
  const type = String.fromCharCode(buf[off]);
  const line = buf.subarray(off + 1, le).toString('utf8');
  const next = le + 2;
  switch (type) {
    case '+': return [line, next];
    case '-': return [new Error(line), next];
    case ':': return [Number(line), next];
    case '$': {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      return [buf.subarray(next, next + n).toString('utf8'), next + n + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const arr = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = respParse(buf, p);
        if (!r) return null;
        arr.push(r[0]);
        p = r[1];
      }
      return [arr, p];
    }
    default: throw new Error(`bad RESP type ${JSON.stringify(type)}`);
  }
}

/** redisCommand(port, ...args) → the reply of one Redis command on a fresh
 *  connection (strings, numbers, arrays, null; an error reply rejects). */
export function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`redis ${args[0]} timed out`)); }, 5000);
    s.on('connect', () => s.write(respEncode(args)));
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      let r;
      try { r = respParse(buf); } catch (e) { clearTimeout(timer); s.destroy(); reject(e); return; }
      if (!r) return;
      clearTimeout(timer);
      s.destroy();
      if (r[0] instanceof Error) reject(r[0]); else resolve(r[0]);
    });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

async function redisPing(port) {
  try { return (await redisCommand(port, 'PING')) === 'PONG'; } catch { return false; }
}

/**
 * startRedis({appendonly}) → {port, url, dir, stop(), kill(), start(),
 * restart(), command(...args)}: a private redis-server on 127.0.0.1 with
 * `--save ''` and its files in a temp folder, resolved once it answers PING.
 * stop() is a clean SIGTERM shutdown (the AOF is flushed), kill() a SIGKILL
 * crash; start() brings it back on the same port and folder (so with
 * appendonly the data survives), restart() is stop() then start().
 */
export async function startRedis({ appendonly = false } = {}) {
  const dir = await makeTmpDir('redis');
  let port = await freePort();
  let child = null;
  const self = {
    get port() { return port; },
    get url() { return `redis://127.0.0.1:${port}/0`; },
    dir,
    async start() {
      if (child && child.alive()) return;
      for (let attempt = 0; ; attempt++) {
        child = spawnTracked(`redis-server:${port}`, 'redis-server', [
          '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir,
          '--appendonly', appendonly ? 'yes' : 'no', '--daemonize', 'no', '--logfile', '',
          '--protected-mode', 'yes',
        ]);
        const up = await Promise.race([
          waitFor(() => redisPing(port), { timeout: 10000, what: `redis PING on ${port}` }).then(() => 'up', (e) => e),
          child.exited.then(() => 'exited'),
        ]);
        if (up === 'up') return;
        const log = child.lines.concat(child.stdoutLines).join('\n');
        if (up === 'exited' && /in use/i.test(log) && attempt < 3 && !self.started) {
          port = await freePort();
          continue;
        }
        if (child.alive()) child.proc.kill('SIGKILL');
        throw new Error(`redis-server did not start (${up === 'exited' ? 'exited' : up.message}):\n${log.slice(-2000)}`);
      }
    },
    async stop() {
      if (!child || !child.alive()) return;
      child.proc.kill('SIGTERM');
      try {
        await withTimeout(child.exited, 10000, 'redis-server stop');
      } catch {
        child.proc.kill('SIGKILL');
        await withTimeout(child.exited, 5000, 'redis-server kill');
      }
    },
    async kill() {
      if (!child || !child.alive()) return;
      child.proc.kill('SIGKILL');
      await withTimeout(child.exited, 5000, 'redis-server kill');
    },
    async restart() {
      await self.stop();
      await self.start();
    },
    // Sends a signal to the server (SIGSTOP / SIGCONT: a Redis that hangs).
    signal(sig) {
      if (child && child.alive()) child.proc.kill(sig);
    },
    command(...args) {
      return redisCommand(port, ...args);
    },
  };
  await self.start();
  self.started = true;
  return self;
}

// ---------------------------------------------------------------------------
// PostgreSQL

function pgScript() {
  return process.env.GSS_PG_SH || path.join(SOURCE_DIR, 'scripts', 'pg.sh');
}

/** psql(url, sql) → rows as arrays of strings (`psql -At -F '\t'`); NULL
 *  prints as ''. Rejects with psql's message on any error. Values holding
 *  tabs or newlines do not survive this format: use psqlJson for those. */
export async function psql(url, sql, { timeout = 30000 } = {}) {
  const r = await run('psql', ['-X', '-q', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql],
    { timeout, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
  if (r.code !== 0) throw new Error(`psql failed (${r.code}): ${r.stderr.trim()}\nSQL: ${sql}`);
  const out = r.stdout.replace(/\n$/, '');
  return out === '' ? [] : out.split('\n').map((l) => l.split('\t'));
}

/** psqlJson(url, query) → the rows of a SELECT as an array of objects
 *  (json_agg of the query wrapped as a subquery). */
export async function psqlJson(url, query, opts) {
  // jsonb prints on one line (json_agg would put newlines between rows,
  // which psql()'s line splitting cuts).
  const rows = await psql(url, `SELECT coalesce(jsonb_agg(t), '[]'::jsonb) FROM (${query}) t`, opts);
  return JSON.parse(rows[0][0]);
}

/**
 * startPostgres() → {port, url, dataDir, stop(), start()}: a private cluster
 * made by scripts/pg.sh (GSS_PG_SH) on a free port, for tests that stop and
 * restart PostgreSQL. url has no database (append "/dbname"); the cluster
 * already has database "gss". stop() is a fast shutdown; start() starts it
 * again on the same port and data. Stopped at cleanup.
 */
export async function startPostgres() {
  const sh = pgScript();
  if (!fs.existsSync(sh)) throw new Error(`pg.sh not found at ${sh}`);
  const parent = await makeTmpDir('pg');
  const dataDir = path.join(parent, 'data');
  let port = await freePort();
  const env = { ...process.env, GSS_PG_FAST: '1' };
  const self = {
    get port() { return port; },
    get url() { return `postgresql://gss@127.0.0.1:${port}`; },
    dataDir,
    async start() {
      const r = await run('bash', [sh, 'start', dataDir, String(port)], { env, timeout: 120000 });
      if (r.code !== 0) throw new Error(`pg.sh start failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    },
    async stop() {
      const r = await run('bash', [sh, 'stop', dataDir], { env, timeout: 90000 });
      if (r.code !== 0) throw new Error(`pg.sh stop failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    },
  };
  // Registered before the first start so that a half-started cluster is
  // stopped too; pg.sh stop is a no-op on a cluster that is not running.
  register(`postgres ${dataDir}`, () => self.stop(), () => {
    try { execFileSync('bash', [sh, 'stop', dataDir], { stdio: 'ignore', timeout: 60000 }); } catch { /* best effort */ }
  });
  for (let attempt = 0; ; attempt++) {
    try {
      await self.start();
      break;
    } catch (err) {
      // Another process may have taken the port between freePort and start.
      if (attempt >= 2 || !/in use|could not bind|could not create listen/i.test(err.message)) throw err;
      port = await freePort();
    }
  }
  // The PostgreSQL server is a daemon, not our child: a watchdog stops it if
  // this process dies without cleanup.
  const w = startWatchdog(process.pid, `bash '${sh}' stop '${dataDir}' >/dev/null 2>&1`);
  if (w) register('postgres watchdog', async () => { try { process.kill(-w.pid, 'SIGKILL'); } catch { /* gone */ } },
    () => { try { process.kill(-w.pid, 'SIGKILL'); } catch { /* gone */ } });
  return self;
}

let sharedPg = null;

/** sharedPgUrl() → GSS_TEST_PG_URL, or (by hand, without scripts/test.sh) the
 *  URL of one private cluster started for this file. No trailing slash. */
export async function sharedPgUrl() {
  if (process.env.GSS_TEST_PG_URL) return process.env.GSS_TEST_PG_URL.replace(/\/+$/, '');
  if (!sharedPg) sharedPg = startPostgres();
  return (await sharedPg).url;
}

let dbCounter = 0;

/** createDatabase() → {name, url}: a new empty database on the shared
 *  cluster, with a name unique to this process and call. Dropped at cleanup
 *  (after the processes that use it are gone). */
export async function createDatabase() {
  const base = await sharedPgUrl();
  const name = `gss_t_${FILE_TAG}_${process.pid}_${++dbCounter}_${crypto.randomBytes(3).toString('hex')}`.slice(0, 63);
  await psql(`${base}/postgres`, `CREATE DATABASE "${name}"`);
  register(`database ${name}`,
    async () => { await psql(`${base}/postgres`, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {}); },
    () => { /* at exit the cluster goes away with the run; nothing synchronous to do */ });
  return { name, url: `${base}/${name}` };
}

// ---------------------------------------------------------------------------
// gssd

/** REDIS_PREFIX: GSS_REDIS_PREFIX used by every gssd of this test file. */
export const REDIS_PREFIX = `gsst_${FILE_TAG}_${process.pid}`.slice(0, 64);

const migrated = new Set();

// The environment a child gssd gets: ours, less the test runner's own GSS_*
// variables, plus vars; a value of null or undefined removes the variable
// (so a test can check a default).
function childEnv(vars) {
  const env = { ...process.env };
  for (const k of ['GSS_BIN', 'GSS_SOURCE_DIR', 'GSS_PG_SH', 'GSS_REDIS_SH', 'GSS_KEEP_TMP']) delete env[k];
  for (const k of Object.keys(env)) if (k.startsWith('GSS_TEST_')) delete env[k];
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined || v === null) delete env[k]; else env[k] = String(v);
  }
  return env;
}

/**
 * startGssd({env, args, redis, database, migrate, readyTimeout}) → Gssd
 *
 * Runs `$GSS_BIN migrate` once per database, then spawns `$GSS_BIN serve
 * ...args` with GSS_LISTEN=127.0.0.1:<free port>, GSS_DATABASE_URL,
 * GSS_REDIS_URL, GSS_REDIS_PREFIX=REDIS_PREFIX, GSS_WEB_DIR=<repo>/web,
 * GSS_UPLOAD_DIR=<temp>, GSS_ARGON2_FAST=1, GSS_LOG_LEVEL=info, then env
 * (overrides; null removes a variable). Without GSS_REDIS_URL / GSS_DATABASE_URL
 * in env it uses the given redis (from startRedis) / database (from
 * createDatabase) or makes new ones. Resolves once GET /healthz answers 200,
 * and then /readyz too (waited for at most 5 s, so stores that are down on
 * purpose only delay the start).
 *
 * Gssd: {port, url, proc, pid, redis, database, uploadDir,
 *   logs      parsed JSON objects of every stderr line that is JSON
 *   lines     every stderr line as text (JSON or not)
 *   stdout    every stdout line
 *   exited    promise of {code, signal, at} settled when the process ends
 *   signal(sig)          send a signal, do not wait
 *   waitExit(ms)         resolves {code, signal, at}; throws after ms
 *   stop(sig='SIGTERM', ms=15000) → exit code (null if a signal killed it);
 *                        SIGKILLs and throws if it takes longer than ms
 *   kill()               SIGKILL and wait
 *   waitForLog(pred, ms) resolves the first log object matching pred
 *   requestLogs()        the {"msg":"request"} log objects so far }
 * Whatever is still running at the end of the file is killed.
 */
export async function startGssd({ env = {}, args = [], redis, database, migrate = true, readyTimeout = 20000 } = {}) {
  const bin = gssdBin();
  if (!('GSS_REDIS_URL' in env) && !redis) redis = await startRedis();
  if (!('GSS_DATABASE_URL' in env) && !database) database = await createDatabase();
  const uploadDir = await makeTmpDir('upload');

  for (let attempt = 0; ; attempt++) {
    // A caller may pin the address (a restart "with the same configuration").
    const port = env.GSS_LISTEN ? Number(env.GSS_LISTEN.split(':').pop()) : await freePort();
    const vars = childEnv({
      GSS_LISTEN: `127.0.0.1:${port}`,
      GSS_DATABASE_URL: database ? database.url : undefined,
      GSS_REDIS_URL: redis ? redis.url : undefined,
      GSS_REDIS_PREFIX: REDIS_PREFIX,
      GSS_WEB_DIR: path.join(SOURCE_DIR, 'web'),
      GSS_UPLOAD_DIR: uploadDir,
      GSS_ARGON2_FAST: '1',
      GSS_LOG_LEVEL: 'info',
      ...env,
    });

    if (migrate && vars.GSS_DATABASE_URL && !migrated.has(vars.GSS_DATABASE_URL)) {
      const r = await run(bin, ['migrate'], { env: vars, timeout: 60000 });
      if (r.code !== 0) throw new Error(`gssd migrate exited ${r.code}:\n${r.stderr.slice(-3000)}${r.stdout.slice(-1000)}`);
      migrated.add(vars.GSS_DATABASE_URL);
    }

    const logs = [];
    const logWaiters = new Set();
    const child = spawnTracked(`gssd:${port}`, bin, ['serve', ...args], {
      env: vars,
      onLine(line, label) {
        if (label !== 'stderr') return;
        let obj;
        try { obj = JSON.parse(line); } catch { return; }
        if (obj && typeof obj === 'object') {
          logs.push(obj);
          for (const w of [...logWaiters]) w(obj);
        }
      },
    });

    const g = {
      port,
      url: `http://127.0.0.1:${port}`,
      proc: child.proc,
      pid: child.proc.pid,
      redis,
      database,
      uploadDir,
      env: vars,
      logs,
      lines: child.lines,
      stdout: child.stdoutLines,
      exited: child.exited,
      alive: child.alive,
      signal(sig) {
        if (child.alive()) child.proc.kill(sig);
      },
      waitExit(ms = 15000) {
        return withTimeout(child.exited, ms, 'gssd exit').catch((err) => {
          throw new Error(`${err.message}; last stderr lines:\n${child.lines.slice(-15).join('\n')}`);
        });
      },
      async stop(sig = 'SIGTERM', ms = 15000) {
        if (child.alive()) child.proc.kill(sig);
        try {
          const r = await withTimeout(child.exited, ms, `gssd exit after ${sig}`);
          return r.code;
        } catch (err) {
          if (child.alive()) child.proc.kill('SIGKILL');
          await withTimeout(child.exited, 5000, 'gssd exit after SIGKILL').catch(() => {});
          throw err;
        }
      },
      async kill() {
        if (child.alive()) child.proc.kill('SIGKILL');
        await withTimeout(child.exited, 5000, 'gssd exit after SIGKILL');
      },
      waitForLog(pred, ms = 5000) {
        const found = logs.find(pred);
        if (found) return Promise.resolve(found);
        return new Promise((resolve, reject) => {
          const w = (obj) => {
            if (pred(obj)) { clearTimeout(timer); logWaiters.delete(w); resolve(obj); }
          };
          const timer = setTimeout(() => {
            logWaiters.delete(w);
            reject(new Error(`no matching log line within ${ms} ms; last lines:\n${child.lines.slice(-10).join('\n')}`));
          }, ms);
          logWaiters.add(w);
        });
      },
      requestLogs() {
        return logs.filter((l) => l.msg === 'request');
      },
    };

    const t0 = Date.now();
    let ready = false;
    while (Date.now() - t0 < readyTimeout) {
      if (!child.alive()) break;
      if (await probe(port, '/healthz')) { ready = true; break; }
      await sleep(50);
    }
    if (ready) {
      // Serving is not the same as connected: give Redis and PostgreSQL up to
      // 5 s to come up (/readyz), so a test's first request does not race the
      // connections. Tests that start with a store down simply go on after that.
      const t1 = Date.now();
      while (Date.now() - t1 < 5000 && child.alive()) {
        if (await probe(port, '/readyz')) break;
        await sleep(20);
      }
      // Let the server finish closing the probes' connections, so a test
      // that counts connections (GSS_MAX_CONNS) starts from zero.
      await sleep(50);
      return g;
    }

    const exitedEarly = !child.alive();
    if (child.alive()) {
      child.proc.kill('SIGKILL');
      await withTimeout(child.exited, 5000, 'gssd kill').catch(() => {});
    }
    const tail = child.lines.slice(-40).join('\n');
    if (exitedEarly && attempt < 2 && /in use|EADDRINUSE/i.test(tail)) continue;
    const ex = await Promise.race([child.exited, sleep(10).then(() => null)]);
    throw new Error(`gssd did not become ready on port ${port} within ${readyTimeout} ms` +
      (ex ? ` (exited code=${ex.code} signal=${ex.signal})` : '') + `; stderr:\n${tail}`);
  }
}

/** runGssd(args, {env, timeout, input}) → {code, stdout, stderr}: runs gssd
 *  to completion (CLI tests such as --help, or `user add` with the password
 *  as input). env is applied like startGssd's overrides, on top of ours. */
export function runGssd(args, { env = {}, timeout = 20000, input } = {}) {
  return run(gssdBin(), args, { env: childEnv(env), timeout, input });
}

// ---------------------------------------------------------------------------
// Prometheus text

/**
 * parseMetrics(text) → {samples, types, help, value(name, labels)}
 * Parses Prometheus text exposition 0.0.4. samples: [{name, labels, value}];
 * types/help: by metric family name. value(name, labels) returns the value of
 * the one sample whose name matches and whose labels include every given
 * label (undefined if none; throws if several). Throws on a malformed line.
 */
export function parseMetrics(text) {
  const samples = [];
  const types = {};
  const help = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (m && m[1] === 'TYPE') types[m[2]] = m[3];
      if (m && m[1] === 'HELP') help[m[2]] = m[3];
      continue;
    }
    let p = 0;
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new Error(`metrics line ${i + 1}: bad name: ${line}`);
    const name = nm[0];
    p = name.length;
    const labels = {};
    if (line[p] === '{') {
      p++;
      for (;;) {
        while (line[p] === ' ') p++;
        if (line[p] === '}') { p++; break; }
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(p));
        if (!lm) throw new Error(`metrics line ${i + 1}: bad label: ${line}`);
        p += lm[0].length;
        let v = '';
        for (;;) {
          if (p >= line.length) throw new Error(`metrics line ${i + 1}: unterminated label value: ${line}`);
          const ch = line[p];
          if (ch === '\\') {
            const n = line[p + 1];
            v += n === 'n' ? '\n' : n;
            p += 2;
          } else if (ch === '"') {
            p++;
            break;
          } else {
            v += ch;
            p++;
          }
        }
        labels[lm[1]] = v;
        if (line[p] === ',') p++;
        else if (line[p] !== '}') throw new Error(`metrics line ${i + 1}: expected , or }: ${line}`);
      }
    }
    const rest = line.slice(p).trim().split(/\s+/);
    if (line[p] !== ' ' || rest.length < 1 || rest.length > 2) throw new Error(`metrics line ${i + 1}: bad value: ${line}`);
    const vs = rest[0];
    const value = vs === '+Inf' ? Infinity : vs === '-Inf' ? -Infinity : vs === 'NaN' ? NaN : Number(vs);
    if (Number.isNaN(value) && vs !== 'NaN') throw new Error(`metrics line ${i + 1}: bad number: ${line}`);
    samples.push({ name, labels, value });
  }
  return {
    samples,
    types,
    help,
    find(name, want = {}) {
      return samples.filter((s) => s.name === name &&
        Object.entries(want).every(([k, v]) => s.labels[k] === v));
    },
    value(name, want = {}) {
      const hits = this.find(name, want);
      if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(want)}`);
      return hits.length ? hits[0].value : undefined;
    },
  };
}

/** scrapeMetrics(url) → parseMetrics of GET url/metrics (asserting 200). */
export async function scrapeMetrics(baseUrl) {
  const r = await http(`${baseUrl}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.text.slice(0, 300)}`);
  return parseMetrics(r.text);
}

// ---------------------------------------------------------------------------
// Assertion helpers shared by the HTTP test files

/** REQUEST_ID_RE: what a valid X-Request-Id looks like (contract). */
export const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** commonHeaderProblems(res, {json}) → list of contract violations in the
 *  headers every response must carry (Content-Length matching the body unless
 *  304/HEAD, X-Request-Id, a valid Date, JSON Content-Type when json). res is
 *  a parseResponses() item. Empty list = fine. */
export function commonHeaderProblems(res, { json = false, head = false } = {}) {
  const p = [];
  const h = res.headers;
  if (res.status !== 304 && !head) {
    if (h['content-length'] === undefined) p.push(`no Content-Length (status ${res.status})`);
    else if (Number(h['content-length']) !== res.body.length) p.push(`Content-Length ${h['content-length']} but body has ${res.body.length} bytes`);
  }
  if (!h['x-request-id']) p.push('no X-Request-Id');
  else if (!REQUEST_ID_RE.test(h['x-request-id'])) p.push(`X-Request-Id ${JSON.stringify(h['x-request-id'])} is not 1-64 chars of [A-Za-z0-9._-]`);
  if (!h.date) p.push('no Date');
  else {
    const d = Date.parse(h.date);
    if (Number.isNaN(d) || !/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(h.date)) p.push(`Date ${JSON.stringify(h.date)} is not an IMF-fixdate`);
    else if (Math.abs(d - Date.now()) > 120000) p.push(`Date ${h.date} is far from now`);
  }
  if (json && !/^application\/json\b/i.test(h['content-type'] || '')) p.push(`Content-Type ${JSON.stringify(h['content-type'])} is not application/json`);
  return p;
}
