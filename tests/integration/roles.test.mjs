// The role matrix over every route gssd has. The expected matrix below is
// written by hand from DESIGN.md §4 (issues 7 and 8 for the field routes,
// docs/money.md for the money routes of issue 9), never read from the code
// under test: a wrong role in routes.c makes this file fail.
//
// routes.c is still read, but only for its method and path pattern: a routed
// path that the hand matrix lacks fails (someone added a route without saying
// who may call it), and a matrix entry that is not routed fails (a missing
// feature). The roles expression of routes.c is kept as a string only, to
// show it next to a failure.
//
// For each route of the matrix: without a session, a route with roles
// answers 401 and a public one anything but 401; with a session of a role the
// route does not admit, 403 forbidden; with each role it admits, neither 401
// nor 403, both with a Bearer token and with the cookie plus X-CSRF-Token.
// A public route must also ignore credentials it does not need: a made-up
// Bearer token is not 401, and a real cookie session without X-CSRF-Token is
// not 403 csrf_failed on a state-changing one (the customer's rating POST:
// its token is its credential, whoever else the browser is logged in as).
// Whether the handler is finished does not matter here: only who gets past
// the auth step is checked.
// Path parameters become 999999; POST/PUT/PATCH send `{}`, other methods no
// body at all (a body-less GET may answer 413 to a body). Every call uses a
// fresh login, so a route that ends sessions (logout) cannot disturb the next.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

import { SOURCE_DIR, startGssd, createDatabase, startRedis, http, gssdBin } from './harness.mjs';

const ROLES = ['admin', 'cs', 'ts', 'sales'];
const USERS = { admin: 'm_admin', cs: 'm_cs', ts: 'm_ts', sales: 'm_sales' };
const PASSWORD = 'matrix-password-1';

const PUBLIC = 'public'; // no session needed
const ANY = 'any';       // any logged-in role

// The expected matrix, by hand. Roles: 'public', 'any', or the list of roles
// admitted. Keep it in step with DESIGN.md §4, not with routes.c.
const MATRIX = [
  ['GET', '/healthz', PUBLIC],
  ['GET', '/readyz', PUBLIC],
  ['GET', '/metrics', PUBLIC],

  ['POST', '/api/v1/auth/login', PUBLIC],
  // the Mini App login (docs/telegram.md): the signed initData is the credential
  ['POST', '/api/v1/auth/telegram', PUBLIC],
  ['POST', '/api/v1/auth/logout', ANY],
  ['GET', '/api/v1/me', ANY],
  ['POST', '/api/v1/me/telegram-link', ANY],

  ['GET', '/api/v1/users', ['admin']],
  ['POST', '/api/v1/users', ['admin']],
  ['GET', '/api/v1/users/{id}', ['admin']],
  ['PATCH', '/api/v1/users/{id}', ['admin']],

  ['GET', '/api/v1/customers', ['cs', 'admin']],
  ['POST', '/api/v1/customers', ['cs', 'admin']],
  ['GET', '/api/v1/customers/{id}', ['cs', 'admin']],
  ['PATCH', '/api/v1/customers/{id}', ['cs', 'admin']],
  // the WhatsApp inbox (docs/inbox.md): CS and admin only
  ['GET', '/api/v1/inbox', ['cs', 'admin']],
  ['GET', '/api/v1/customers/{id}/messages', ['cs', 'admin']],
  ['POST', '/api/v1/customers/{id}/messages', ['cs', 'admin']],
  ['POST', '/api/v1/customers/{id}/messages/read', ['cs', 'admin']],

  ['GET', '/api/v1/pool', ['ts', 'cs', 'admin']],
  ['POST', '/api/v1/pool/{id}/claim', ['ts']],

  ['POST', '/api/v1/tickets', ['cs', 'admin']],
  ['GET', '/api/v1/tickets', ['cs', 'admin', 'ts', 'sales']],
  ['GET', '/api/v1/tickets/{id}', ['cs', 'admin', 'ts', 'sales']],
  // the ticket's outgoing messages, failures first (docs/whatsapp.md "Sending"): Sales read too
  ['GET', '/api/v1/tickets/{id}/messages', ['cs', 'admin', 'sales']],

  // issue 7
  ['POST', '/api/v1/tickets/{id}/cancel', ['cs', 'admin']],
  // issue 8
  ['POST', '/api/v1/tickets/{id}/replace', ['cs', 'admin']],
  // monitoring (issue 8)
  ['GET', '/api/v1/monitor', ['cs', 'admin']],
  ['GET', '/api/v1/tickets/{id}/letter.pdf', ['ts', 'cs', 'admin']],
  ['POST', '/api/v1/tickets/{id}/checkin', ['ts']],
  ['POST', '/api/v1/tickets/{id}/checkout', ['ts']],
  ['POST', '/api/v1/tickets/{id}/attachments', ['ts', 'cs', 'admin']],
  ['GET', '/api/v1/attachments/{id}', ['admin', 'cs', 'ts', 'sales']],
  ['POST', '/api/v1/tickets/{id}/complete', ['ts']],
  ['GET', '/v/{token}', PUBLIC],

  // issue 9, money (docs/money.md "Routes"): admin may do what cs and sales may
  ['POST', '/api/v1/tickets/{id}/invoice', ['cs', 'admin']],
  ['GET', '/api/v1/invoices', ['cs', 'sales', 'admin']],
  ['GET', '/api/v1/invoices/{id}', ['cs', 'sales', 'admin']],
  ['PATCH', '/api/v1/invoices/{id}', ['cs', 'admin']],
  ['POST', '/api/v1/invoices/{id}/submit', ['cs', 'admin']],
  ['POST', '/api/v1/invoices/{id}/approve', ['sales', 'admin']],
  ['POST', '/api/v1/invoices/{id}/revise', ['sales', 'admin']],
  ['POST', '/api/v1/invoices/{id}/send', ['cs', 'admin']],
  ['GET', '/api/v1/invoices/{id}/links', ['cs', 'admin']],
  ['GET', '/api/v1/invoices/{id}/invoice.pdf', ['cs', 'sales', 'admin']],
  ['POST', '/api/v1/invoices/{id}/payments', ['cs', 'admin']],
  ['POST', '/api/v1/invoices/{id}/payments/{pid}/void', ['cs', 'admin']],
  ['POST', '/api/v1/tickets/{id}/close', ['cs', 'admin']],
  // the customer's pages: no login, the token in the path is the credential
  ['GET', '/api/v1/public/invoices/{token}', PUBLIC],
  ['GET', '/api/v1/public/invoices/{token}/invoice.pdf', PUBLIC],
  ['GET', '/api/v1/public/qris.png', PUBLIC],
  ['GET', '/api/v1/public/ratings/{token}', PUBLIC],
  ['POST', '/api/v1/public/ratings/{token}', PUBLIC],
  // Meta's webhook (docs/whatsapp.md): no session; the verify token and the
  // body's signature are its credentials. This gssd has no GSS_WA_* set, so
  // both answer 503 (channel off): never 401/403 for want of a session.
  ['GET', '/hooks/whatsapp', PUBLIC],
  ['POST', '/hooks/whatsapp', PUBLIC],
  // Telegram's webhook (docs/telegram.md): the secret header is its
  // credential. No GSS_TELEGRAM_WEBHOOK_SECRET here: 503, never 401/403.
  ['POST', '/hooks/telegram', PUBLIC],

  // The board socket (a plain GET here: the auth step answers before the
  // upgrade check), and the optional routes this file turns on.
  ['GET', '/api/v1/ws', ANY],
  ['GET', '/api/v1/ws/echo', PUBLIC],   // GSS_WS_ECHO=1
  ['GET', '/api/v1/debug/sleep', PUBLIC], // GSS_DEBUG_ROUTES=1
  ['POST', '/api/v1/debug/echo', PUBLIC], // GSS_DEBUG_ROUTES=1
].map(([method, pattern, roles]) => ({ method, pattern, roles }));

const label = (route) => `${route.method} ${route.pattern}`;
// Routes are matched by method and shape: the name of a path parameter
// ({id}, {token}) is not part of the contract.
const shape = (route) => `${route.method} ${route.pattern.replace(/\{[^}]*\}/g, '{}')}`;

/** admits(entry, role) → whether the hand matrix lets role call entry. */
function admits(entry, role) {
  return entry.roles === PUBLIC || entry.roles === ANY || entry.roles.includes(role);
}

function describeRoles(entry) {
  return Array.isArray(entry.roles) ? entry.roles.join(', ') : entry.roles;
}

// routes.c without comments, and the text inside the parentheses that start
// at open (the index of a '('), for reading an argument list as it is.
function routesSource() {
  return fs.readFileSync(path.join(SOURCE_DIR, 'src/http/routes.c'), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
}

function parenthesized(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return text.slice(open + 1, i);
  }
  return text.slice(open + 1);
}

/** Every router_add(r, HTTP_M_X, "pattern", handler, roles...) in routes.c:
 *  {method, pattern, rolesExpr}; rolesExpr is the text after the handler,
 *  for messages only. Also count, the number of router_add calls. */
export function parseRoutes() {
  const text = routesSource();
  const routes = [];
  const re = /\brouter_add\s*\(\s*[^,()]+,\s*HTTP_M_([A-Z]+)\s*,\s*"([^"]+)"/g;
  for (const m of text.matchAll(re)) {
    const args = parenthesized(text, m.index + m[0].indexOf('('));
    const rest = args.split(',').slice(4).join(',').trim();
    routes.push({ method: m[1], pattern: m[2], rolesExpr: rest || '?' });
  }
  const count = (text.match(/\brouter_add\s*\(/g) || []).length;
  return { routes, count };
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
const parsed = parseRoutes();
const routed = new Map(parsed.routes.map((r) => [shape(r), r]));

before(async () => {
  const database = await createDatabase();
  const redis = await startRedis();
  // Optional routes on, so that they exist and are checked too; a roomy
  // public rate limit, so that the public routes' calls reach their handler
  // instead of a 429 (which would pass the matrix without testing it).
  g = await startGssd({
    redis, database,
    env: { GSS_DEBUG_ROUTES: '1', GSS_WS_ECHO: '1', GSS_PUBLIC_RATE_PER_MIN: '100000', GSS_PUBLIC_RATE_BURST: '100000' },
  });
  for (const role of ROLES) await userAdd(database.url, USERS[role], role);
}, { timeout: 120000 });

async function login(role) {
  const r = await http(`${g.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: USERS[role], password: PASSWORD }),
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
    if (auth.csrf) headers['x-csrf-token'] = auth.csrf;
  }
  return http(url, { method: route.method, headers, body, timeout: 15000 });
}

describe('routes.c against the hand matrix', () => {
  it('every router_add call is read', () => {
    assert.equal(parsed.routes.length, parsed.count,
      `read ${parsed.routes.length} of ${parsed.count} router_add calls (found: ${parsed.routes.map(label).join(', ')})`);
    assert.ok(parsed.routes.length > 0, 'no routes found in routes.c');
  });

  it('every routed path is in the matrix', () => {
    const known = new Set(MATRIX.map(shape));
    const extra = parsed.routes.filter((r) => !known.has(shape(r))).map((r) => `${label(r)} (roles ${r.rolesExpr})`);
    assert.deepEqual(extra, [], `routed in routes.c but not in the hand matrix: ${extra.join('; ')}`);
  });

  it('the matrix has no route twice', () => {
    const seen = new Set();
    const twice = [];
    for (const e of MATRIX) {
      if (seen.has(shape(e))) twice.push(label(e));
      seen.add(shape(e));
    }
    assert.deepEqual(twice, [], 'listed twice in the hand matrix');
  });
});

describe('role matrix', () => {
  for (const entry of MATRIX) {
    it(`${label(entry)} (${describeRoles(entry)})`, { timeout: 120000 }, async () => {
      const r0 = routed.get(shape(entry));
      assert.ok(r0, `${label(entry)} is not routed in src/http/routes.c`);
      const where = `${label(entry)} [routes.c roles: ${r0.rolesExpr}]`;

      const anon = await call(entry, null);
      if (entry.roles === PUBLIC) {
        assert.notEqual(anon.status, 401, `public ${where} answered 401: ${anon.text}`);
        assert.notEqual(anon.status, 403, `public ${where} answered 403: ${anon.text}`);
      } else {
        assert.equal(anon.status, 401, `${where} without a session: ${anon.status} ${anon.text}`);
        assert.equal(anon.json?.error?.code, 'unauthorized', `${where}: ${anon.text}`);
      }
      if (entry.roles === PUBLIC) {
        const forged = await call(entry, { via: 'bearer', token: 'x'.repeat(43) });
        assert.ok(forged.status !== 401 && forged.status !== 403,
          `public ${where} with a made-up Bearer token: ${forged.status} ${forged.text.slice(0, 200)}`);
        const s = await login('cs');
        const bare = await call(entry, { token: s.token, via: 'cookie' });
        assert.ok(bare.status !== 401 && bare.status !== 403,
          `public ${where} with a cookie session and no X-CSRF-Token: ${bare.status} ${bare.text.slice(0, 200)}`);
      }
      for (const role of ROLES) {
        const admitted = admits(entry, role);
        for (const via of admitted ? ['bearer', 'cookie'] : ['bearer']) {
          const s = await login(role);
          const r = await call(entry, { ...s, via });
          const what = `${where} as ${role} by ${via}: ${r.status} ${r.text.slice(0, 200)}`;
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
