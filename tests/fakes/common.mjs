// Shared plumbing of the Telegram and WhatsApp fakes (tests/fakes/README.md).
//
// Provides: a loopback HTTP server with a request recorder, a fault queue
// (one-shot or N-shot rules matched by method, path or predicate), a clock
// that tests can move forward, a raw HTTP client that sends exact bytes, and
// a sliding-window counter used by the rate-limit checks and by benches.
//
// Nothing here knows either API: each fake turns a matched fault rule into
// the reply shape of its own service.

import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** sleep(ms): a promise resolved after ms milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A clock in milliseconds that tests can move forward with advance(ms), so
 *  "too old", "expired" and "outside the window" need no real waiting. */
export class Clock {
  constructor() { this.offsetMs = 0; }
  now() { return Date.now() + this.offsetMs; }
  advance(ms) { this.offsetMs += ms; }
}

/** Reads a whole request body into one Buffer. */
export function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Records every request a fake receives, and lets tests wait for some.
 *  Entry fields: seq, method, path, query (object of strings), headers, raw
 *  (Buffer), text, json (parsed body or null), params (the fake's view of
 *  the arguments), api (the API method or route), time (ms since the epoch,
 *  fake clock), hr (performance.now() at arrival), status and reply (the
 *  answer, once sent), fault (the injected fault kind or null), dropped,
 *  done (true once answered or dropped), ms (time to answer). */
export class Recorder {
  constructor(clock) {
    this.clock = clock;
    this.requests = [];
    this.waiters = [];
    this.seq = 0;
  }

  begin(req, raw) {
    const u = new URL(req.url, 'http://fake.invalid');
    const entry = {
      seq: ++this.seq,
      method: req.method,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: { ...req.headers },
      raw,
      text: raw.toString('utf8'),
      json: null,
      params: null,
      api: null,
      time: this.clock.now(),
      hr: performance.now(),
      status: null,
      reply: null,
      fault: null,
      dropped: false,
      done: false,
      ms: null,
    };
    this.requests.push(entry);
    return entry;
  }

  finish(entry, status, reply, dropped = false) {
    entry.status = status;
    entry.reply = reply;
    entry.dropped = dropped;
    entry.done = true;
    entry.ms = performance.now() - entry.hr;
    for (const w of this.waiters.slice()) w.check();
  }

  /** waitFor(pred, {timeoutMs, count}): resolves with the first `count`
   *  answered requests matching pred (one entry when count is 1, else an
   *  array), looking at past requests too; rejects after timeoutMs. */
  waitFor(pred, { timeoutMs = 5000, count = 1 } = {}) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          const hits = this.requests.filter((e) => e.done && pred(e));
          if (hits.length < count) return;
          clearTimeout(w.timer);
          this.waiters.splice(this.waiters.indexOf(w), 1);
          resolve(count === 1 ? hits[0] : hits.slice(0, count));
        },
      };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        const n = this.requests.filter((e) => e.done && pred(e)).length;
        reject(new Error(`fake: ${n} of ${count} matching requests after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
      w.check();
    });
  }

  clear() { this.requests.length = 0; }
}

/** Fault rules, taken in the order they were added. A rule:
 *    { method, path, match, times = 1, delayMs, kind, ...kind parameters }
 *  method: API method name (case-insensitive) or RegExp on it; path: string
 *  (exact) or RegExp on the URL path; match: (entry) => bool. All given
 *  conditions must hold. times: how many matching requests it affects
 *  (Infinity for all). kind 'delay' only slows the answer; 'drop' destroys
 *  the socket without a reply (when: 'before' the request takes effect, the
 *  default, or 'after' it did, so the effect happened but the caller never
 *  learns it); every other kind is the fake's own error reply. */
export class FaultQueue {
  constructor() { this.rules = []; this.nextId = 1; }

  add(rule) {
    const r = { times: 1, delayMs: 0, when: 'before', ...rule, id: this.nextId++, hits: 0 };
    if (!r.kind) r.kind = r.delayMs > 0 ? 'delay' : 'reply';
    this.rules.push(r);
    return r;
  }

  take(entry) {
    for (const r of this.rules) {
      if (r.hits >= r.times) continue;
      if (r.method !== undefined) {
        const api = String(entry.api || '');
        if (r.method instanceof RegExp ? !r.method.test(api)
          : api.toLowerCase() !== String(r.method).toLowerCase()) continue;
      }
      if (r.path !== undefined) {
        if (r.path instanceof RegExp ? !r.path.test(entry.path) : entry.path !== r.path) continue;
      }
      if (r.match && !r.match(entry)) continue;
      r.hits++;
      return r;
    }
    return null;
  }

  clear() { this.rules.length = 0; }
}

/** startHttp(handler, {host, port}) → {server, url, port, close()}. The
 *  handler gets (req, res); close() also cuts idle keep-alive sockets. */
export async function startHttp(handler, { host = '127.0.0.1', port = 0 } = {}) {
  const server = http.createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((err) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`fake crashed: ${err && err.stack}`);
      } else {
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 30000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const addr = server.address();
  return {
    server,
    port: addr.port,
    url: `http://${host}:${addr.port}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** Writes a JSON answer; returns the text sent. */
export function sendJson(res, status, obj, headers = {}) {
  const text = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
  return text;
}

/** Runs a recorded request through the fault queue and the fake's own
 *  handler, and records the answer. process(entry) → {status, body, headers}
 *  where body is an object (sent as JSON), a string or a Buffer.
 *  faultReply(rule, entry) → the same shape for error kinds. */
export async function serve(ctx, req, res, entry, process, faultReply) {
  const rule = ctx.faults.take(entry);
  if (rule) entry.fault = rule.kind;
  if (rule && rule.delayMs > 0) await sleep(rule.delayMs);
  if (rule && rule.kind === 'drop' && rule.when !== 'after') {
    req.socket.destroy();
    ctx.recorder.finish(entry, null, null, true);
    return;
  }
  let out;
  if (rule && rule.kind !== 'drop' && rule.kind !== 'delay') out = faultReply(rule, entry);
  else out = await process(entry);
  if (rule && rule.kind === 'drop') {
    req.socket.destroy();
    ctx.recorder.finish(entry, null, null, true);
    return;
  }
  const headers = out.headers || {};
  if (Buffer.isBuffer(out.body) || typeof out.body === 'string') {
    res.writeHead(out.status, { 'content-type': 'text/plain', ...headers });
    res.end(out.body);
  } else {
    sendJson(res, out.status, out.body, headers);
  }
  ctx.recorder.finish(entry, out.status, out.body);
}

/** rawRequest(url, {method, headers, body}) → {status, headers, raw, text,
 *  json, ms}. Sends body bytes exactly as given (Buffer or string), unlike
 *  fetch it never re-encodes, and it always uses a fresh connection. */
export function rawRequest(url, { method = 'GET', headers = {}, body = null, timeoutMs = 10000 } = {}) {
  const t0 = performance.now();
  const bytes = body === null ? null : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method,
      agent: false,
      headers: { connection: 'close', ...(bytes ? { 'content-length': bytes.length } : {}), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const text = raw.toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, raw, text, json, ms: performance.now() - t0 });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${url}`)));
    req.on('error', reject);
    if (bytes) req.write(bytes);
    req.end();
  });
}

/** maxInWindow(times, windowMs): the largest number of timestamps (ms) that
 *  fall in any window [t, t + windowMs). */
export function maxInWindow(times, windowMs) {
  const t = times.slice().sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while (t[hi] - t[lo] >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** Number of Unicode code points (what both services count as characters). */
export function codePoints(s) {
  return [...s].length;
}

/** Joins a base URL and a path without doubling or losing the slash. */
export function joinUrl(base, path) {
  return base.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`);
}
