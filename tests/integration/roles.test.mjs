// The role matrix over every route gssd has: authorization lives in one
// place (the auth step, driven by each route's roles in src/http/routes.c),
// and this file checks that place for every route, including routes added
// after it was written: it reads routes.c itself.
//
// For each route: without a session, a route with roles answers 401 and a
// public one anything but 401; with a session of a role the route does not
// admit, 403 forbidden; with each role it admits, neither 401 nor 403, both
// with a Bearer token and with the cookie plus X-CSRF-Token. Path parameters
// become 999999; POST/PUT/PATCH send `{}`. Every call uses a fresh login, so
// a route that ends sessions (logout) cannot disturb the next one.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

import { SOURCE_DIR, startGssd, createDatabase, startRedis, http, gssdBin } from './harness.mjs';

const ROLE_USERS = { ROLE_ADMIN: 'm_admin', ROLE_CS: 'm_cs', ROLE_TS: 'm_ts', ROLE_SALES: 'm_sales' };
const ROLE_NAMES = { ROLE_ADMIN: 'admin', ROLE_CS: 'cs', ROLE_TS: 'ts', ROLE_SALES: 'sales' };
const PASSWORD = 'matrix-password-1';

/** The ROLE_* bits as router.h defines them. */
function roleBits() {
  const text = fs.readFileSync(path.join(SOURCE_DIR, 'src/http/router.h'), 'utf8');
  const bits = {};
  for (const m of text.matchAll(/#define\s+(ROLE_[A-Z_]+)\s+(0x[0-9a-fA-F]+|\d+)u?\b/g)) bits[m[1]] = Number(m[2]);
  for (const r of Object.keys(ROLE_USERS)) if (!(r in bits)) throw new Error(`router.h does not define ${r}`);
  return bits;
}

/** Every router_add(r, HTTP_M_X, "pattern", handler, roles) in routes.c. */
export function parseRoutes() {
  const bits = roleBits();
  const text = fs.readFileSync(path.join(SOURCE_DIR, 'src/http/routes.c'), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  const routes = [];
  const re = /router_add\s*\(\s*\w+\s*,\s*HTTP_M_([A-Z]+)\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*([^()]*?)\s*\)/g;
  for (const m of text.matchAll(re)) {
    let roles = 0;
    for (const part of m[4].split('|').map((x) => x.trim())) {
      if (/^(0x[0-9a-fA-F]+|\d+)u?$/.test(part)) roles |= Number(part.replace(/u$/, ''));
      else if (part in bits) roles |= bits[part];
      else throw new Error(`routes.c: cannot resolve roles "${m[4]}" of ${m[1]} ${m[2]}`);
    }
    routes.push({ method: m[1], pattern: m[2], handler: m[3], roles });
  }
  return routes;
}

function userAdd(dbUrl, username, role) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, GSS_DATABASE_URL: dbUrl, GSS_ARGON2_FAST: '1', GSS_LOG_LEVEL: 'warn' };
    const p = spawn(gssdBin(), ['user', 'add', username, '--role', role, '--name', `Matrix ${role}`], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { out += c; });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`user add ${username}: ${out}`))));
    p.stdin.end(`${PASSWORD}\n`);
  });
}

let g;
const routes = parseRoutes();

before(async () => {
  const database = await createDatabase();
  const redis = await startRedis();
  // Optional routes on, so that they exist and are checked too.
  g = await startGssd({ redis, database, env: { GSS_DEBUG_ROUTES: '1', GSS_WS_ECHO: '1' } });
  for (const [r, u] of Object.entries(ROLE_USERS)) await userAdd(database.url, u, ROLE_NAMES[r]);
}, { timeout: 120000 });

async function login(role) {
  const r = await http(`${g.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: ROLE_USERS[role], password: PASSWORD }),
  });
  assert.equal(r.status, 200, `login as ${role}: ${r.text}`);
  return { token: r.json.token, csrf: r.json.csrf_token };
}

async function call(route, auth) {
  const url = g.url + route.pattern.replace(/\{[^}]+\}/g, '999999');
  const headers = {};
  let body;
  if (['POST', 'PUT', 'PATCH'].includes(route.method)) {
    headers['content-type'] = 'application/json';
    body = '{}';
  }
  if (auth && auth.via === 'bearer') headers.authorization = `Bearer ${auth.token}`;
  if (auth && auth.via === 'cookie') {
    headers.cookie = `gss_session=${auth.token}`;
    headers['x-csrf-token'] = auth.csrf;
  }
  return http(url, { method: route.method, headers, body, timeout: 15000 });
}

const label = (route) => `${route.method} ${route.pattern}`;

describe('routes.c', () => {
  it('is parsed: every route, including the accounts routes', () => {
    const names = routes.map(label);
    for (const want of ['POST /api/v1/auth/login', 'POST /api/v1/auth/logout', 'GET /api/v1/me',
      'GET /api/v1/users', 'POST /api/v1/users', 'PATCH /api/v1/users/{id}', 'GET /healthz']) {
      assert.ok(names.includes(want), `${want} not found in routes.c (found: ${names.join(', ')})`);
    }
    // Every router_add line of the file was understood.
    const text = fs.readFileSync(path.join(SOURCE_DIR, 'src/http/routes.c'), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
    const count = (text.match(/router_add\s*\(/g) || []).length;
    assert.equal(routes.length, count, 'a router_add call the matrix could not parse');
    assert.equal(routes.find((r) => r.pattern === '/api/v1/auth/login').roles, 0, 'login must be public');
  });
});

describe('role matrix', () => {
  for (const route of routes) {
    it(`${label(route)} (roles ${route.roles})`, { timeout: 120000 }, async () => {
      const anon = await call(route, null);
      if (route.roles === 0) {
        assert.notEqual(anon.status, 401, `public ${label(route)} answered 401: ${anon.text}`);
      } else {
        assert.equal(anon.status, 401, `${label(route)} without a session: ${anon.status} ${anon.text}`);
        assert.equal(anon.json?.error?.code, 'unauthorized');
      }
      for (const role of Object.keys(ROLE_USERS)) {
        const bit = roleBits()[role];
        const admitted = route.roles === 0 || (route.roles & bit) !== 0;
        for (const via of admitted ? ['bearer', 'cookie'] : ['bearer']) {
          const s = await login(role);
          const r = await call(route, { ...s, via });
          const what = `${label(route)} as ${ROLE_NAMES[role]} by ${via}: ${r.status} ${r.text.slice(0, 200)}`;
          if (admitted) {
            assert.ok(r.status !== 401 && r.status !== 403, `admitted role refused: ${what}`);
          } else {
            assert.equal(r.status, 403, `role not admitted but not refused: ${what}`);
            assert.equal(r.json?.error?.code, 'forbidden', what);
          }
        }
      }
    });
  }
});

describe('after the matrix', () => {
  it('gssd stops cleanly', { timeout: 30000 }, async () => {
    const code = await g.stop();
    assert.equal(code, 0, g.lines.slice(-20).join('\n'));
  });
});
