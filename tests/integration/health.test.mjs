// Liveness, readiness, metrics and the command line of gssd.
//
// Readiness is exercised for real: this file owns its Redis and its
// PostgreSQL cluster, stops each and starts it again, and checks that gssd
// notices both ways while /healthz keeps answering.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  SOURCE_DIR, startGssd, startRedis, startPostgres, http, rawConnect, rawRequest, parseResponses,
  scrapeMetrics, waitFor, runGssd, commonHeaderProblems, sleep,
} from './harness.mjs';

const T = { timeout: 60000 };

describe('gssd command line', () => {
  it('--help prints every GSS_* variable with its default and exits 0', T, async () => {
    const r = await runGssd(['--help']);
    assert.equal(r.code, 0, `exit code of gssd --help; stderr: ${r.stderr}`);
    const out = `${r.stdout}\n${r.stderr}`;
    const lines = out.split('\n');
    // Defaults the contract fixes; null = must be listed, any default.
    const want = {
      GSS_LISTEN: null,
      GSS_DATABASE_URL: null,
      GSS_REDIS_URL: null,
      GSS_REDIS_PREFIX: null,
      GSS_WEB_DIR: null,
      GSS_UPLOAD_DIR: null,
      GSS_LOG_LEVEL: 'info',
      GSS_MAX_CONNS: '10000',
      GSS_HEADER_TIMEOUT_MS: '10000',
      GSS_IDLE_TIMEOUT_MS: '60000',
      GSS_BODY_MAX: '1048576',
      GSS_SHUTDOWN_TIMEOUT_MS: '10000',
      GSS_DEBUG_ROUTES: null,
    };
    for (const [name, dflt] of Object.entries(want)) {
      const line = lines.find((l) => new RegExp(`\\b${name}\\b`).test(l));
      assert.ok(line, `--help does not mention ${name}`);
      if (dflt !== null) {
        assert.match(line, new RegExp(`(^|[^0-9A-Za-z])${dflt}([^0-9A-Za-z]|$)`),
          `--help line of ${name} does not show its default ${dflt}: ${line}`);
      }
    }
    // "Every GSS_* variable": each GSS_ name the server's source reads must be
    // documented, so help cannot drift from the code.
    const names = new Set();
    const walk = (dir) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.[ch]$/.test(e.name)) {
          for (const m of fs.readFileSync(p, 'utf8').matchAll(/"(GSS_[A-Z0-9_]+)"/g)) names.add(m[1]);
        }
      }
    };
    walk(path.join(SOURCE_DIR, 'src'));
    const missing = [...names].filter((n) => !new RegExp(`\\b${n}\\b`).test(out));
    assert.deepEqual(missing, [], `GSS_* variables read in src/ but missing from --help: ${missing.join(', ')}`);
  });

  it('an unknown command exits 2 with a usage message', T, async () => {
    const r = await runGssd(['bogus']);
    assert.equal(r.code, 2, `exit code of gssd bogus; stdout: ${r.stdout} stderr: ${r.stderr}`);
    assert.match(`${r.stdout}${r.stderr}`, /usage/i, 'gssd bogus should print a usage message');
  });

  it('an invalid setting stops serve with a message naming the variable', T, async () => {
    const r = await runGssd(['serve'], { env: { GSS_MAX_CONNS: 'lots', GSS_LISTEN: '127.0.0.1:0' }, timeout: 10000 });
    assert.notEqual(r.code, 0, 'serve with GSS_MAX_CONNS=lots must fail');
    assert.notEqual(r.code, 'timeout', 'serve with a bad setting must exit, not run');
    assert.match(`${r.stdout}${r.stderr}`, /GSS_MAX_CONNS/);
  });
});

describe('health, readiness and metrics', () => {
  let redis;
  let pg;
  let gssd;

  // Polls /readyz until pred(response) holds; returns {res, ms}.
  async function readyzUntil(pred, timeout, what) {
    const t0 = Date.now();
    let last;
    try {
      const res = await waitFor(async () => {
        const r = await http(`${gssd.url}/readyz`, { timeout: 2000 });
        last = r;
        return pred(r) ? r : null;
      }, { timeout, interval: 100, what });
      return { res, ms: Date.now() - t0 };
    } catch (err) {
      throw new Error(`${err.message}; last /readyz: ${last ? `${last.status} ${last.text}` : 'none'}`);
    }
  }

  // A new gssd with Redis and PostgreSQL both up, ready. The outage tests
  // each start from one, so that a failure to recover in one test does not
  // cascade into the next.
  async function freshGssd() {
    if (gssd) {
      const old = gssd;
      gssd = null;
      const code = await old.stop('SIGTERM', 15000);
      assert.equal(code, 0, 'gssd should exit 0 on SIGTERM');
    }
    await Promise.all([redis.start(), pg.start()]);
    gssd = await startGssd({ redis, env: { GSS_DATABASE_URL: `${pg.url}/gss` } });
    // The PostgreSQL pool connects in the background; readiness may lag
    // /healthz by a moment after start.
    await readyzUntil((r) => r.status === 200, 15000, '/readyz 200 after start');
  }

  before(async () => {
    redis = await startRedis();
    pg = await startPostgres();
    await freshGssd();
  }, T);

  it('GET /healthz answers 200 {"status":"ok"} with the common headers', T, async () => {
    const buf = await rawRequest(gssd.port, 'GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    const [res] = parseResponses(buf);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
    assert.deepEqual(commonHeaderProblems(res, { json: true }), []);
  });

  it('POST /healthz is 405 method_not_allowed with an Allow header', T, async () => {
    const r = await http(`${gssd.url}/healthz`, { method: 'POST', body: '' });
    assert.equal(r.status, 405);
    assert.equal(r.json?.error?.code, 'method_not_allowed');
    assert.equal(typeof r.json.error.message, 'string');
    assert.ok(r.json.error.message.length > 0, 'error.message should say something');
    const allow = r.headers.get('allow');
    assert.ok(allow, '405 needs an Allow header');
    assert.ok(allow.split(',').map((s) => s.trim()).includes('GET'), `Allow should list GET: ${allow}`);
    assert.match(r.headers.get('content-type') || '', /^application\/json/);
  });

  it('GET /readyz answers 200 ready with redis and postgres up', T, async () => {
    const r = await http(`${gssd.url}/readyz`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { status: 'ready', redis: 'up', postgres: 'up' });
    assert.match(r.headers.get('content-type') || '', /^application\/json/);
  });

  it('debug routes are off unless GSS_DEBUG_ROUTES=1', T, async () => {
    const a = await http(`${gssd.url}/api/v1/debug/sleep?ms=1`);
    assert.equal(a.status, 404, `debug sleep must not exist by default: ${a.status} ${a.text}`);
    assert.equal(a.json?.error?.code, 'not_found');
    const b = await http(`${gssd.url}/api/v1/debug/echo`, { method: 'POST', body: 'x' });
    assert.equal(b.status, 404, `debug echo must not exist by default: ${b.status} ${b.text}`);
  });

  it('GET /metrics is Prometheus text with the required families', T, async () => {
    const r = await http(`${gssd.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /^text\/plain; ?version=0\.0\.4\b/);
    const m = await scrapeMetrics(gssd.url);
    const families = {
      gss_http_requests_total: 'counter',
      gss_http_request_duration_seconds: 'histogram',
      gss_http_connections_open: 'gauge',
      gss_redis_up: 'gauge',
      gss_postgres_up: 'gauge',
      gss_postgres_connections: 'gauge',
    };
    for (const [name, type] of Object.entries(families)) {
      assert.equal(m.types[name], type, `# TYPE ${name} ${type} missing (got ${m.types[name]})`);
    }
    assert.equal(m.value('gss_redis_up'), 1);
    assert.equal(m.value('gss_postgres_up'), 1);
    assert.ok(m.value('gss_postgres_connections') >= 1, 'gss_postgres_connections should count the live pool');
    assert.ok(m.value('gss_http_connections_open') >= 1, 'the scrape itself is an open connection');
    // requests_total carries route, method and status on every sample.
    const reqs = m.find('gss_http_requests_total');
    assert.ok(reqs.length > 0, 'no gss_http_requests_total samples');
    for (const s of reqs) {
      for (const l of ['route', 'method', 'status']) assert.ok(l in s.labels, `sample without ${l}: ${JSON.stringify(s)}`);
    }
  });

  it('gss_http_connections_open follows open connections', T, async () => {
    const open = async () => (await scrapeMetrics(gssd.url)).value('gss_http_connections_open');
    const base = await open();
    const conns = [];
    for (let i = 0; i < 3; i++) conns.push(await rawConnect(gssd.port));
    await waitFor(async () => (await open()) === base + 3, { timeout: 2000, what: `gss_http_connections_open to reach ${base + 3}` });
    for (const c of conns) c.destroy();
    await waitFor(async () => (await open()) === base, { timeout: 2000, what: `gss_http_connections_open back to ${base}` });
  });

  it('metrics counters and the latency histogram grow with requests', T, async () => {
    const before_ = await scrapeMetrics(gssd.url);
    for (let i = 0; i < 3; i++) assert.equal((await http(`${gssd.url}/healthz`)).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await http(`${gssd.url}/api/v1/no-such-thing`)).status, 404);
    const after_ = await scrapeMetrics(gssd.url);

    const v = (m, labels) => m.value('gss_http_requests_total', labels) || 0;
    const ok = { route: '/healthz', method: 'GET', status: '200' };
    assert.equal(v(after_, ok) - v(before_, ok), 3, 'gss_http_requests_total{route="/healthz",method="GET",status="200"} should grow by 3');
    // 404s go under route="unmatched" (whatever their method label).
    const missAll = (m) => m.find('gss_http_requests_total', { route: 'unmatched', status: '404' }).reduce((a, s) => a + s.value, 0);
    assert.equal(missAll(after_) - missAll(before_), 2, 'gss_http_requests_total{route="unmatched",status="404"} should grow by 2');

    // Histogram: per label set, buckets are cumulative, end at +Inf == _count.
    const buckets = after_.find('gss_http_request_duration_seconds_bucket');
    assert.ok(buckets.length > 0, 'no histogram buckets');
    const groups = new Map();
    for (const b of buckets) {
      assert.ok('le' in b.labels, 'bucket without le');
      const { le, ...rest } = b.labels;
      const key = JSON.stringify(rest);
      if (!groups.has(key)) groups.set(key, { labels: rest, items: [] });
      groups.get(key).items.push({ le: le === '+Inf' ? Infinity : Number(le), v: b.value });
    }
    let totalCount = 0;
    for (const { labels, items } of groups.values()) {
      items.sort((a, b) => a.le - b.le);
      assert.equal(items[items.length - 1].le, Infinity, 'histogram needs an le="+Inf" bucket');
      for (let i = 1; i < items.length; i++) assert.ok(items[i].v >= items[i - 1].v, 'buckets must be cumulative');
      const count = after_.value('gss_http_request_duration_seconds_count', labels);
      const sum = after_.value('gss_http_request_duration_seconds_sum', labels);
      assert.equal(count, items[items.length - 1].v, '_count must equal the +Inf bucket');
      assert.ok(sum >= 0, '_sum must be present and non-negative');
      totalCount += count;
    }
    let totalBefore = 0;
    for (const s of before_.find('gss_http_request_duration_seconds_count')) totalBefore += s.value;
    assert.ok(totalCount - totalBefore >= 5, `histogram _count should grow by at least 5 (grew ${totalCount - totalBefore})`);
  });

  it('404s are counted under route="unmatched" with their method', T, async () => {
    const v = (m) => m.value('gss_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }) || 0;
    const a = await scrapeMetrics(gssd.url);
    for (let i = 0; i < 2; i++) assert.equal((await http(`${gssd.url}/api/v1/no-such-thing-either`)).status, 404);
    const b = await scrapeMetrics(gssd.url);
    assert.equal(v(b) - v(a), 2, 'gss_http_requests_total{route="unmatched",method="GET",status="404"} should grow by 2');
  });

  it('route labels use the route pattern, not the raw path', T, async () => {
    const r = await http(`${gssd.url}/api/v1/pool/12345/claim`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.ok(!(r.status === 404 && r.json?.error?.code === 'not_found'), `POST /api/v1/pool/{id}/claim is not routed: ${r.text}`);
    const m = await scrapeMetrics(gssd.url);
    const hits = m.find('gss_http_requests_total', { route: '/api/v1/pool/{id}/claim', method: 'POST', status: String(r.status) });
    assert.equal(hits.length, 1, `expected a sample with route="/api/v1/pool/{id}/claim" status="${r.status}"`);
    assert.equal(m.find('gss_http_requests_total').filter((s) => s.labels.route.includes('12345')).length, 0,
      'the raw id must never become a label value');
  });

  it('Redis down: /readyz 503 within ~2 s, /healthz stays 200; back after 3 s: ready again', T, async () => {
    await freshGssd();
    await redis.stop();
    const down = await readyzUntil((r) => r.status === 503, 3000, '/readyz 503 after Redis stopped');
    assert.ok(down.ms <= 3000, `readiness took ${down.ms} ms to notice Redis down`);
    const j = down.res.json;
    assert.equal(j?.error?.code, 'not_ready', down.res.text);
    assert.match(j.error.message, /redis/i, 'the message should name Redis');
    assert.equal(j.redis, 'down');
    assert.equal(j.postgres, 'up');
    assert.match(down.res.headers.get('content-type') || '', /^application\/json/);

    // The server keeps serving everything that does not need Redis.
    for (let i = 0; i < 5; i++) {
      const h = await http(`${gssd.url}/healthz`);
      assert.equal(h.status, 200);
      assert.deepEqual(h.json, { status: 'ok' });
    }
    const m = await scrapeMetrics(gssd.url);
    assert.equal(m.value('gss_redis_up'), 0);
    assert.equal(m.value('gss_postgres_up'), 1);

    // Stay down long enough for several reconnect attempts to fail: gssd
    // must keep retrying, not only catch a restart that beats its first try.
    await sleep(3000);
    assert.equal((await http(`${gssd.url}/readyz`)).status, 503);
    await redis.start();
    const up = await readyzUntil((r) => r.status === 200, 15000, '/readyz 200 after Redis came back');
    assert.deepEqual(up.res.json, { status: 'ready', redis: 'up', postgres: 'up' });
    assert.equal((await scrapeMetrics(gssd.url)).value('gss_redis_up'), 1);
  });

  it('PostgreSQL down: /readyz 503 naming postgres, /healthz stays 200; back up: ready again', T, async () => {
    await freshGssd();
    await pg.stop();
    const down = await readyzUntil((r) => r.status === 503, 10000, '/readyz 503 after PostgreSQL stopped');
    const j = down.res.json;
    assert.equal(j?.error?.code, 'not_ready', down.res.text);
    assert.match(j.error.message, /postgres/i, 'the message should name PostgreSQL');
    assert.equal(j.postgres, 'down');
    assert.equal(j.redis, 'up');
    const h = await http(`${gssd.url}/healthz`);
    assert.equal(h.status, 200);
    assert.equal((await scrapeMetrics(gssd.url)).value('gss_postgres_up'), 0);

    await pg.start();
    const up = await readyzUntil((r) => r.status === 200, 20000, '/readyz 200 after PostgreSQL came back');
    assert.deepEqual(up.res.json, { status: 'ready', redis: 'up', postgres: 'up' });
    const m = await waitFor(async () => {
      const mm = await scrapeMetrics(gssd.url);
      return mm.value('gss_postgres_up') === 1 && mm.value('gss_postgres_connections') >= 1 ? mm : null;
    }, { timeout: 5000, what: 'gss_postgres_up 1 again' });
    assert.equal(m.value('gss_postgres_up'), 1);
    // What gssd logged about the lost connections must be readable text.
    const bad = gssd.lines.filter((l) => l.includes('\uFFFD'));
    assert.deepEqual(bad, [], 'log lines with bytes that are not UTF-8');
  });

  it('both down: /readyz 503 names both', T, async () => {
    await freshGssd();
    await Promise.all([redis.stop(), pg.stop()]);
    const down = await readyzUntil((r) => r.status === 503 && r.json?.redis === 'down' && r.json?.postgres === 'down',
      10000, '/readyz with both down');
    assert.match(down.res.json.error.message, /redis/i);
    assert.match(down.res.json.error.message, /postgres/i);
    assert.equal((await http(`${gssd.url}/healthz`)).status, 200);
    await Promise.all([redis.start(), pg.start()]);
    await readyzUntil((r) => r.status === 200, 20000, '/readyz 200 after both came back');
  });

  after(async () => {
    if (gssd) {
      const code = await gssd.stop('SIGTERM', 15000);
      assert.equal(code, 0, 'gssd should exit 0 on SIGTERM');
    }
  });
});
