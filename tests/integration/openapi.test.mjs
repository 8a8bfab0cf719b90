// Keeps docs/openapi.yaml true to gssd.
//
// Part 1, static: reads src/http/routes.c (every router_add: method, pattern,
// roles, flags, body cap, and the `if (cfg->X)` it sits under), auth/roles.h
// (the ROLE_* bits) and config.c (which GSS_* variable sets cfg.X), and checks
// both ways that every route is documented with the same method and path and
// every documented operation is a route (or the static catch-all, marked
// `x-static: true`); that x-roles and the description's "Roles:" line name
// exactly the roles of the route; that x-enabled-by names the variable that
// turns a conditional route on (and is absent otherwise); that x-body-max is
// the route's body cap; and that the auth errors (401, 403 forbidden /
// csrf_failed, X-CSRF-Token) are documented exactly where the auth step can
// give them.
//
// Part 2, live: starts a real gssd (tests/integration/harness.mjs) and sends
// requests, error and success ones; each answer's status must be documented
// for that operation, its error.code listed in the response's
// x-error-codes, its required headers present (and matching their schema),
// and its JSON body valid against the documented schema. WebSocket messages
// are checked against the Ws* schemas. Binary answers (PDF, PNG) must
// start with their format's magic bytes. The money routes (docs/money.md)
// run on a gssd of their own: an invoice walked through the approval loop,
// sent, opened and rated by the customer, paid in parts with a void, and
// closed, with the refusals (404, 409, 410, 422, 429) on the way.
//
// How this file reads the YAML. It does not parse YAML in general: a small
// line reader builds the tree of keys from indentation, which works for the
// layout docs/openapi.yaml keeps (rules repeated at its top):
//   - two spaces per level, no tabs; comments only on lines of their own;
//   - every line is `key:`, `key: value`, `- ...` (a sequence item, indented
//     under its key) or part of a block scalar (`key: |` / `key: >`, whose
//     lines are skipped by indentation);
//   - values are plain, 'single-quoted' or "double-quoted" scalars on one
//     line, one-line flow sequences of scalars ([a, 'b']) or `{}` / `[]`;
//     no anchors, aliases, tags or multi-line plain/quoted scalars;
//   - path keys unquoted under `paths:`, status codes quoted ('200').
// A line it cannot read fails the test with the line number, so a change of
// style is caught, not misread.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';

import { SOURCE_DIR, startGssd, startRedis, createDatabase, http, psql, runGssd, makeTmpDir } from './harness.mjs';
import { createTicket } from './pool_util.mjs';
import { makePdf, makePng, upload } from './field_util.mjs';
import { moneySetup, workDone, sampleItems } from './money_util.mjs';

const SPEC_PATH = path.join(SOURCE_DIR, 'docs/openapi.yaml');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
// Responses every operation can give whatever its route does (server.c).
const GENERIC_STATUSES = ['400', '408', '413', '431', '503'];

// ---------------------------------------------------------------------------
// The YAML line reader

function mkNode(key, indent, line) {
  return { key, indent, line, value: undefined, children: new Map(), items: [] };
}

function indentOf(s) {
  return s.length - s.trimStart().length;
}

// key: single-quoted, or plain (no leading indicator, no ':' inside).
const KEY_RE = /^('(?:[^']|'')*'|[^\s'"#[\]{}|>&*!%@`,-][^:]*?|-[^\s:][^:]*?):(?: +(.*))?$/;

function splitFlow(body, where) {
  const out = [];
  let cur = '';
  let q = null;
  for (const ch of body) {
    if (q) {
      cur += ch;
      if (ch === q) q = null;
    } else if (ch === "'" || ch === '"') {
      q = ch;
      cur += ch;
    } else if (ch === ',') {
      out.push(cur.trim());
      cur = '';
    } else if (ch === '[' || ch === '{') {
      throw new Error(`${where}: nested flow collections are not supported`);
    } else {
      cur += ch;
    }
  }
  if (q) throw new Error(`${where}: unterminated quote in a flow sequence`);
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

function scalar(s, where) {
  if (s.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(s)) throw new Error(`${where}: bad single-quoted scalar ${s}`);
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (s.startsWith('"')) return JSON.parse(s);
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) throw new Error(`${where}: a flow sequence must close on its line`);
    return splitFlow(s.slice(1, -1), where).map((x) => scalar(x, where));
  }
  if (s.startsWith('{')) {
    if (s !== '{}') throw new Error(`${where}: only empty flow mappings ({}) are supported`);
    return {};
  }
  if (/^[&*!%@`|>]/.test(s)) throw new Error(`${where}: unsupported YAML (${s[0]})`);
  if (/: |\s#/.test(s)) throw new Error(`${where}: a plain scalar with ": " or " #" (quote it): ${s}`);
  return s;
}

/** The tree of keys of a YAML text written in the layout above. */
function readOutline(text, name = 'openapi.yaml') {
  const lines = text.split('\n');
  const root = mkNode('', -1, 0);
  const stack = [root];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const where = `${name}:${i + 1}`;
    if (raw.includes('\t')) throw new Error(`${where}: tab character`);
    if (/^\s*(#.*)?$/.test(raw)) continue;
    let indent = indentOf(raw);
    let content = raw.slice(indent).trimEnd();
    while (stack[stack.length - 1].indent >= indent) stack.pop();
    let parent = stack[stack.length - 1];
    if (content === '-' || content.startsWith('- ')) {
      const item = mkNode(String(parent.items.length), indent, i + 1);
      parent.items.push(item);
      stack.push(item);
      content = content.slice(1).trimStart();
      if (!content) continue;
      if (!KEY_RE.test(content)) {
        item.value = scalar(content, where);
        continue;
      }
      indent += 2; // the item's first key sits where its other keys do
      parent = item;
    }
    const m = KEY_RE.exec(content);
    if (!m) throw new Error(`${where}: not a "key:" line this reader understands: ${content}`);
    const key = m[1].startsWith("'") ? scalar(m[1], where) : m[1].trim();
    const rest = m[2] === undefined ? '' : m[2].trim();
    if (parent.children.has(key)) throw new Error(`${where}: duplicate key ${key}`);
    const n = mkNode(key, indent, i + 1);
    parent.children.set(key, n);
    if (/^[|>][-+]?$/.test(rest)) {
      const body = [];
      while (i + 1 < lines.length && (lines[i + 1].trim() === '' || indentOf(lines[i + 1]) > indent)) body.push(lines[++i]);
      const cut = Math.min(...body.filter((l) => l.trim()).map(indentOf));
      n.value = body.map((l) => l.slice(cut)).join('\n').trim();
    } else if (rest !== '') {
      n.value = scalar(rest, where);
    } else {
      stack.push(n);
    }
  }
  return root;
}

/** Child by path of keys (numbers index sequence items); undefined if absent. */
function at(node, ...keys) {
  let n = node;
  for (const k of keys) {
    if (!n) return undefined;
    n = typeof k === 'number' ? n.items[k] : n.children.get(k);
  }
  return n;
}

function val(node, ...keys) {
  const n = at(node, ...keys);
  return n ? n.value : undefined;
}

// ---------------------------------------------------------------------------
// The spec

const SPEC_TEXT = fs.readFileSync(SPEC_PATH, 'utf8');
const SPEC = readOutline(SPEC_TEXT);

function resolveRef(ref) {
  if (!ref.startsWith('#/')) throw new Error(`only local $ref is supported: ${ref}`);
  const keys = ref.slice(2).split('/').map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  const n = at(SPEC, ...keys);
  if (!n) throw new Error(`$ref ${ref} does not resolve`);
  return n;
}

/** Follows $ref (chains too). */
function deref(node) {
  let n = node;
  for (let hops = 0; n && val(n, '$ref') !== undefined; hops++) {
    if (hops > 10) throw new Error('$ref loop');
    n = resolveRef(val(n, '$ref'));
  }
  return n;
}

/** Every documented operation: {path, method, node}. */
function specOperations() {
  const paths = at(SPEC, 'paths');
  const ops = [];
  for (const [p, pn] of paths.children) {
    for (const [m, on] of pn.children) {
      if (METHODS.includes(m)) ops.push({ path: p, method: m.toUpperCase(), node: on });
      else if (m !== 'parameters' && m !== 'summary' && m !== 'description') {
        throw new Error(`openapi.yaml:${on.line}: unexpected key ${m} under ${p}`);
      }
    }
  }
  return ops;
}

function specOp(method, template) {
  return at(SPEC, 'paths', template, method.toLowerCase());
}

function errorCodes(respNode) {
  const r = deref(respNode);
  const codes = val(r, 'x-error-codes');
  return Array.isArray(codes) ? codes : [];
}

/** The role names an operation's description gives on its "Roles:" line. */
function descriptionRoles(opNode) {
  const d = val(opNode, 'description') || '';
  const m = /^Roles: (.*)$/m.exec(d);
  if (!m) return null;
  const list = m[1].replace(/\(.*?\)/g, '').replace(/\.\s*$/, '').trim();
  if (list === 'public') return [];
  return list.split(',').map((s) => s.trim()).filter(Boolean);
}

// ---------------------------------------------------------------------------
// The source: routes.c, auth/roles.h, config.c

function readSource(rel) {
  return fs.readFileSync(path.join(SOURCE_DIR, rel), 'utf8');
}

/** C text without comments (string literals kept as they are). */
function stripComments(c) {
  let out = '';
  for (let i = 0; i < c.length; i++) {
    const ch = c[i];
    if (ch === '"' || ch === "'") {
      let j = i + 1;
      while (j < c.length && c[j] !== ch) j += c[j] === '\\' ? 2 : 1;
      out += c.slice(i, j + 1);
      i = j;
    } else if (ch === '/' && c[i + 1] === '*') {
      const end = c.indexOf('*/', i + 2);
      i = end < 0 ? c.length : end + 1;
      out += ' ';
    } else if (ch === '/' && c[i + 1] === '/') {
      const end = c.indexOf('\n', i);
      i = end < 0 ? c.length : end - 1;
    } else {
      out += ch;
    }
  }
  return out;
}

/** {ROLE_ADMIN: 1, ...} (single bits only) and {1: 'admin', ...}. */
function roleBits() {
  const text = readSource('src/auth/roles.h');
  const bits = {};
  const names = {};
  for (const m of text.matchAll(/#define\s+(ROLE_[A-Z_]+)\s+(0x[0-9a-fA-F]+|\d+)u?\b/g)) {
    const v = Number(m[2]);
    bits[m[1]] = v;
    if (v && (v & (v - 1)) === 0) names[v] = m[1].slice(5).toLowerCase();
  }
  return { bits, names };
}

/** cfg field -> GSS_* variable, from config.c's table. */
function configVars() {
  const text = readSource('src/core/config.c');
  const map = {};
  for (const m of text.matchAll(/\{\s*"(GSS_\w+)"\s*,\s*[SIB]\(\s*(\w+)\s*\)/g)) map[m[2]] = m[1];
  return map;
}

// Reads from text[i] (an opening parenthesis) to its match; returns [inner, next index].
function balanced(text, i) {
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    if (text[j] === '"') {
      j++;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    } else if (text[j] === '(') depth++;
    else if (text[j] === ')' && --depth === 0) return [text.slice(i + 1, j), j + 1];
  }
  throw new Error('routes.c: unbalanced parentheses');
}

function splitArgs(s) {
  const out = [];
  let depth = 0;
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      cur += s.slice(i, j + 1);
      i = j;
      continue;
    }
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** cfg field -> its default value (text), from config.c's table. */
function configDefaults() {
  const text = readSource('src/core/config.c');
  const map = {};
  for (const m of text.matchAll(/\{\s*"GSS_\w+"\s*,\s*[SIB]\(\s*(\w+)\s*\)\s*,\s*"([^"]*)"/g)) map[m[1]] = m[2];
  return map;
}

// A cap may be computed from settings (cfg->x): it is read at their defaults,
// the values a gssd started with no GSS_* variables has.
function evalInt(expr, what) {
  let e = expr.trim();
  if (/cfg->/.test(e)) {
    const d = configDefaults();
    e = e.replace(/cfg->(\w+)/g, (_, f) => {
      if (!/^\d+$/.test(d[f] ?? '')) throw new Error(`routes.c: ${what}: cfg.${f} has no integer default in config.c`);
      return d[f];
    });
    if (!/^[\d\s*()+<>?:=]+$/.test(e)) throw new Error(`routes.c: cannot read ${what} = ${expr.trim()}`);
    return Function(`"use strict"; return (${e});`)();
  }
  if (!/^[\d\s*()+]+$/.test(e)) throw new Error(`routes.c: cannot read ${what} = ${e}`);
  return Function(`"use strict"; return (${e});`)();
}

/**
 * Every router_add of routes.c: {method, pattern, handler, roles, flags (Set),
 * bodyMax (number|null), cond (cfg field or null)}.
 */
function parseRoutes() {
  const { bits } = roleBits();
  const text = stripComments(readSource('src/http/routes.c'));
  const routes = [];
  const vars = new Map();
  const blocks = []; // conditions of the open braces (null for plain ones)
  let pending = null; // condition of a brace-less if, until the next ';'
  const applyTail = (route, field, op, value) => {
    if (field === 'flags') {
      if (op !== '|=') throw new Error(`routes.c: flags must be set with |= (${route.pattern})`);
      for (const f of value.split('|').map((x) => x.trim())) route.flags.add(f);
    } else {
      route.bodyMax = evalInt(value, `body_max of ${route.pattern}`);
    }
  };
  const tok = /\bif\s*\(|(?:struct\s+http_route\s*\*\s*(\w+)\s*=\s*)?\brouter_add\s*\(|\b(\w+)\s*->\s*(flags|body_max)\s*(\|=|=)\s*([^;]+);|[{};]/g;
  let m;
  while ((m = tok.exec(text))) {
    const t = m[0];
    if (t.startsWith('if')) {
      const [cond, next] = balanced(text, m.index + t.length - 1);
      const cm = /^\s*cfg->(\w+)\s*$/.exec(cond);
      if (!cm) throw new Error(`routes.c: the test only understands "if (cfg->X)", not "if (${cond})"`);
      const rest = text.slice(next);
      const brace = /^\s*\{/.exec(rest);
      if (brace) {
        blocks.push(cm[1]);
        tok.lastIndex = next + brace[0].length;
      } else {
        pending = cm[1];
        tok.lastIndex = next;
      }
    } else if (/router_add\s*\($/.test(t)) {
      const [inner, next] = balanced(text, m.index + t.length - 1);
      const args = splitArgs(inner);
      if (args.length !== 5) throw new Error(`routes.c: router_add with ${args.length} arguments: ${inner}`);
      const mm = /^HTTP_M_([A-Z]+)$/.exec(args[1]);
      const pm = /^"([^"]+)"$/.exec(args[2]);
      if (!mm || !pm) throw new Error(`routes.c: cannot read router_add(${inner})`);
      let roles = 0;
      for (const part of args[4].split('|').map((x) => x.trim())) {
        if (/^(0x[0-9a-fA-F]+|\d+)u?$/.test(part)) roles |= Number(part.replace(/u$/, ''));
        else if (part in bits) roles |= bits[part];
        else throw new Error(`routes.c: cannot resolve roles "${args[4]}" of ${pm[1]}`);
      }
      const cond = pending || [...blocks].reverse().find((c) => c) || null;
      const route = { method: mm[1], pattern: pm[1], handler: args[3], roles, flags: new Set(), bodyMax: null, cond };
      routes.push(route);
      if (m[1]) vars.set(m[1], route);
      // router_add(...)->field op value; directly after the call
      const tail = /^\s*->\s*(flags|body_max)\s*(\|=|=)\s*([^;]+);/.exec(text.slice(next));
      if (tail) {
        applyTail(route, tail[1], tail[2], tail[3]);
        pending = null;
        tok.lastIndex = next + tail[0].length;
      } else {
        tok.lastIndex = next;
      }
    } else if (m[2]) {
      const route = vars.get(m[2]);
      if (!route) throw new Error(`routes.c: ${m[2]}->${m[3]} on something that is not a route variable`);
      applyTail(route, m[3], m[4], m[5]);
      pending = null;
    } else if (t === '{') {
      blocks.push(null);
    } else if (t === '}') {
      blocks.pop();
    } else if (t === ';') {
      pending = null;
    }
  }
  const count = (text.match(/\brouter_add\s*\(/g) || []).length;
  if (count !== routes.length) throw new Error(`routes.c: read ${routes.length} of ${count} router_add calls`);
  return routes;
}

const ROUTES = parseRoutes();
const { bits: ROLE_BITS, names: ROLE_NAMES } = roleBits();
const CFG_VARS = configVars();
const ALL_ROLES = Object.keys(ROLE_NAMES).reduce((a, b) => a | Number(b), 0);

function roleNamesOf(mask) {
  return Object.entries(ROLE_NAMES).filter(([b]) => mask & Number(b)).map(([, n]) => n).sort();
}

const sorted = (a) => [...a].sort();
const label = (method, p) => `${method} ${p}`;

// ---------------------------------------------------------------------------
// Part 1: the document against the source

describe('openapi.yaml against routes.c', () => {
  const ops = specOperations();

  it('is OpenAPI 3.1 with the expected info and security schemes', () => {
    assert.match(String(val(SPEC, 'openapi')), /^3\.1\.\d+$/);
    assert.equal(val(SPEC, 'info', 'title'), 'GSS dispatch API');
    assert.equal(val(SPEC, 'info', 'version'), '0.1.0');
    assert.equal(val(SPEC, 'servers', 0, 'url'), 'http://127.0.0.1:8080');
    assert.equal(val(SPEC, 'components', 'securitySchemes', 'bearerAuth', 'type'), 'http');
    assert.equal(val(SPEC, 'components', 'securitySchemes', 'bearerAuth', 'scheme'), 'bearer');
    const cookie = at(SPEC, 'components', 'securitySchemes', 'cookieAuth');
    assert.equal(val(cookie, 'type'), 'apiKey');
    assert.equal(val(cookie, 'in'), 'cookie');
    assert.equal(val(cookie, 'name'), 'gss_session');
    assert.match(val(cookie, 'description'), /X-CSRF-Token/);
    for (const s of ['User', 'Ticket', 'PoolJob', 'PoolSnapshot', 'ClaimResult', 'Error', 'LoginRequest',
      'LoginResponse', 'Me', 'WsPoolOpened', 'WsPoolUpdated', 'WsPoolClosed', 'WsResync',
      'Invoice', 'InvoiceSent', 'InvoiceList', 'PublicInvoice', 'PublicRating', 'StaffRating', 'TicketInvoice']) {
      assert.ok(at(SPEC, 'components', 'schemas', s), `components.schemas.${s} missing`);
    }
  });

  it('reads routes.c (sanity of this test\'s own parser)', () => {
    const names = ROUTES.map((r) => label(r.method, r.pattern));
    for (const want of ['GET /healthz', 'POST /api/v1/auth/login', 'POST /api/v1/pool/{id}/claim', 'GET /api/v1/ws']) {
      assert.ok(names.includes(want), `${want} not read from routes.c (read: ${names.join(', ')})`);
    }
    const login = ROUTES.find((r) => r.pattern === '/api/v1/auth/login');
    assert.ok(login.flags.has('ROUTE_F_NO_CSRF'), 'the login route\'s NO_CSRF flag was not read');
    assert.equal(ROUTES.find((r) => r.pattern === '/api/v1/ws').flags.has('ROUTE_F_UPGRADE'), true);
    for (const r of ROUTES) {
      if (r.cond) assert.ok(CFG_VARS[r.cond], `routes.c: cfg.${r.cond} has no GSS_* variable in config.c`);
    }
  });

  it('documents every route of routes.c with the same method and path', () => {
    const documented = new Set(ops.map((o) => label(o.method, o.path)));
    const missing = ROUTES.filter((r) => !documented.has(label(r.method, r.pattern))).map((r) => label(r.method, r.pattern));
    assert.deepEqual(missing, [], `routes missing from docs/openapi.yaml: ${missing.join(', ')}`);
  });

  it('documents no operation that routes.c lacks (except the static catch-all)', () => {
    const routes = new Set(ROUTES.map((r) => label(r.method, r.pattern)));
    const extra = [];
    for (const o of ops) {
      if (routes.has(label(o.method, o.path))) {
        assert.notEqual(val(o.node, 'x-static'), 'true', `${label(o.method, o.path)} is a route, not static`);
        continue;
      }
      if (val(o.node, 'x-static') === 'true' && o.method === 'GET') continue;
      extra.push(label(o.method, o.path));
    }
    assert.deepEqual(extra, [], `documented but not in routes.c: ${extra.join(', ')}`);
  });

  it('gives each operation the roles, switch and body cap of its route', () => {
    const problems = [];
    for (const o of ops) {
      const where = `${label(o.method, o.path)} (openapi.yaml:${o.node.line})`;
      const r = ROUTES.find((x) => x.method === o.method && x.pattern === o.path);
      const xroles = val(o.node, 'x-roles');
      if (!Array.isArray(xroles)) {
        problems.push(`${where}: x-roles missing or not a flow list`);
        continue;
      }
      for (const n of xroles) if (!Object.values(ROLE_NAMES).includes(n)) problems.push(`${where}: unknown role ${n}`);
      const want = r ? roleNamesOf(r.roles) : [];
      if (JSON.stringify(sorted(xroles)) !== JSON.stringify(want)) {
        problems.push(`${where}: x-roles [${xroles}] but routes.c admits [${want}]`);
      }
      const dr = descriptionRoles(o.node);
      if (!dr) problems.push(`${where}: the description has no "Roles:" line`);
      else if (JSON.stringify(sorted(dr)) !== JSON.stringify(want)) problems.push(`${where}: description says Roles: ${dr} but routes.c admits [${want}]`);
      const sec = val(o.node, 'security');
      const isPublic = want.length === 0;
      if (isPublic && !(Array.isArray(sec) && sec.length === 0)) problems.push(`${where}: public, so it needs security: []`);
      if (!isPublic && sec !== undefined) problems.push(`${where}: needs a session, so it must use the global security`);
      if (!val(o.node, 'summary')) problems.push(`${where}: no summary`);
      if (!at(o.node, 'responses')) problems.push(`${where}: no responses`);
      if (!r) continue;
      const enabledBy = val(o.node, 'x-enabled-by');
      const wantVar = r.cond ? CFG_VARS[r.cond] : undefined;
      if (enabledBy !== wantVar) problems.push(`${where}: x-enabled-by ${enabledBy} but routes.c registers it ${r.cond ? `only when cfg.${r.cond} (${wantVar})` : 'always'}`);
      const bm = val(o.node, 'x-body-max');
      const wantBm = r.bodyMax === null ? undefined : String(r.bodyMax);
      if (bm !== wantBm) problems.push(`${where}: x-body-max ${bm} but routes.c sets ${r.bodyMax === null ? 'none (GSS_BODY_MAX)' : r.bodyMax}`);
    }
    assert.deepEqual(problems, []);
  });

  it('documents the auth step\'s answers exactly where it can give them', () => {
    const problems = [];
    for (const o of ops) {
      const where = `${label(o.method, o.path)} (openapi.yaml:${o.node.line})`;
      const r = ROUTES.find((x) => x.method === o.method && x.pattern === o.path);
      const roles = r ? r.roles : 0;
      const codes401 = at(o.node, 'responses', '401') ? errorCodes(at(o.node, 'responses', '401')) : [];
      const codes403 = at(o.node, 'responses', '403') ? errorCodes(at(o.node, 'responses', '403')) : [];
      const stateChanging = !['GET', 'HEAD', 'OPTIONS'].includes(o.method);
      const csrf = roles !== 0 && stateChanging && !(r && r.flags.has('ROUTE_F_NO_CSRF'));
      const forbidden = roles !== 0 && (roles & ALL_ROLES) !== ALL_ROLES;
      if (roles && !codes401.includes('unauthorized')) problems.push(`${where}: needs a session but 401 unauthorized is not documented`);
      if (!roles && codes401.includes('unauthorized')) problems.push(`${where}: public, yet documents 401 unauthorized`);
      if (forbidden !== codes403.includes('forbidden')) problems.push(`${where}: 403 forbidden ${forbidden ? 'missing' : 'documented but impossible (every role is admitted)'}`);
      if (csrf !== codes403.includes('csrf_failed')) problems.push(`${where}: 403 csrf_failed ${csrf ? 'missing' : 'documented but the auth step never checks CSRF here'}`);
      const params = (at(o.node, 'parameters')?.items || []).map(deref);
      const hasCsrfParam = params.some((p) => val(p, 'name') === 'X-CSRF-Token' && val(p, 'in') === 'header');
      if (csrf !== hasCsrfParam) problems.push(`${where}: X-CSRF-Token parameter ${csrf ? 'missing' : 'listed but not checked'}`);
      if (roles && !(at(o.node, 'responses', '503') && errorCodes(at(o.node, 'responses', '503')).includes('unavailable'))) {
        problems.push(`${where}: needs a session (Redis), so 503 unavailable must be documented`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('documents the generic answers, path parameters and error codes of every operation', () => {
    const problems = [];
    const codeRe = /^[a-z][a-z0-9_]*$/;
    for (const o of ops) {
      const where = `${label(o.method, o.path)} (openapi.yaml:${o.node.line})`;
      const responses = at(o.node, 'responses');
      if (!responses) continue;
      for (const s of GENERIC_STATUSES) if (!at(responses, s)) problems.push(`${where}: response ${s} (can happen on any request) is not documented`);
      const c503 = at(responses, '503') ? errorCodes(at(responses, '503')) : [];
      if (!c503.includes('overloaded')) problems.push(`${where}: 503 must list overloaded`);
      for (const [status, rn] of responses.children) {
        if (!/^[1-5]\d\d$/.test(status)) {
          problems.push(`${where}: response key ${status} is not a status code`);
          continue;
        }
        let r;
        try {
          r = deref(rn);
        } catch (e) {
          problems.push(`${where} ${status}: ${e.message}`);
          continue;
        }
        if (!val(r, 'description')) problems.push(`${where} ${status}: no description`);
        const rid = at(r, 'headers', 'X-Request-Id');
        if (!rid) problems.push(`${where} ${status}: X-Request-Id header not documented`);
        if (Number(status) >= 400) {
          const codes = errorCodes(rn);
          if (!codes.length) problems.push(`${where} ${status}: no x-error-codes`);
          for (const c of codes) {
            if (!codeRe.test(c)) problems.push(`${where} ${status}: bad code ${c}`);
            if (!val(r, 'description').includes(`\`${c}\``)) problems.push(`${where} ${status}: description does not mention \`${c}\``);
          }
        }
      }
      const params = (at(o.node, 'parameters')?.items || []).map(deref);
      for (const pm of o.path.matchAll(/\{(\w+)\}/g)) {
        const p = params.find((x) => val(x, 'in') === 'path' && val(x, 'name') === pm[1]);
        if (!p || val(p, 'required') !== 'true') problems.push(`${where}: path parameter ${pm[1]} not declared (required)`);
      }
    }
    for (const [name, rn] of at(SPEC, 'components', 'responses').children) {
      for (const c of errorCodes(rn)) {
        if (!val(rn, 'description').includes(`\`${c}\``)) problems.push(`components.responses.${name}: description does not mention \`${c}\``);
      }
    }
    assert.deepEqual(problems, []);
  });
});

// ---------------------------------------------------------------------------
// A small validator for the schemas of the document (the keywords it uses)

function isType(v, t) {
  switch (t) {
    case 'null': return v === null;
    case 'boolean': return typeof v === 'boolean';
    case 'integer': return Number.isInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'string': return typeof v === 'string';
    case 'array': return Array.isArray(v);
    case 'object': return v !== null && typeof v === 'object' && !Array.isArray(v);
    default: throw new Error(`schema type ${t} not supported by this test`);
  }
}

/** Problems of v against the schema node s (empty = valid). */
function check(v, sNode, where = '$') {
  const s = deref(sNode);
  const errs = [];
  const type = val(s, 'type');
  if (type !== undefined) {
    const types = Array.isArray(type) ? type : [type];
    if (!types.some((t) => isType(v, t))) return [`${where}: ${JSON.stringify(v)} is not ${types.join('|')}`];
  }
  const c = val(s, 'const');
  if (c !== undefined && String(v) !== c) errs.push(`${where}: ${JSON.stringify(v)} is not ${c}`);
  const e = val(s, 'enum');
  if (Array.isArray(e) && !e.includes(v === null ? 'null' : String(v))) errs.push(`${where}: ${JSON.stringify(v)} not in [${e}]`);
  if (typeof v === 'number') {
    const mn = val(s, 'minimum');
    const mx = val(s, 'maximum');
    if (mn !== undefined && v < Number(mn)) errs.push(`${where}: ${v} < ${mn}`);
    if (mx !== undefined && v > Number(mx)) errs.push(`${where}: ${v} > ${mx}`);
  }
  if (typeof v === 'string') {
    const len = [...v].length;
    const mn = val(s, 'minLength');
    const mx = val(s, 'maxLength');
    const p = val(s, 'pattern');
    if (mn !== undefined && len < Number(mn)) errs.push(`${where}: shorter than ${mn}`);
    if (mx !== undefined && len > Number(mx)) errs.push(`${where}: longer than ${mx}`);
    if (p !== undefined && !new RegExp(p, 'u').test(v)) errs.push(`${where}: ${JSON.stringify(v)} does not match ${p}`);
  }
  if (isType(v, 'object')) {
    const req = val(s, 'required');
    if (Array.isArray(req)) for (const k of req) if (!(k in v)) errs.push(`${where}: required ${k} missing`);
    const props = at(s, 'properties');
    for (const [k, x] of Object.entries(v)) {
      const ps = props && props.children.get(k);
      if (ps) errs.push(...check(x, ps, `${where}.${k}`));
      else if (val(s, 'additionalProperties') === 'false') errs.push(`${where}: ${k} is not documented`);
    }
  }
  if (Array.isArray(v) && at(s, 'items')) v.forEach((x, i) => errs.push(...check(x, at(s, 'items'), `${where}[${i}]`)));
  const oneOf = at(s, 'oneOf');
  if (oneOf) {
    const ok = oneOf.items.filter((b) => check(v, b, where).length === 0).length;
    if (ok !== 1) errs.push(`${where}: matches ${ok} of oneOf's ${oneOf.items.length} branches`);
  }
  const anyOf = at(s, 'anyOf');
  if (anyOf && !anyOf.items.some((b) => check(v, b, where).length === 0)) errs.push(`${where}: matches no anyOf branch`);
  const allOf = at(s, 'allOf');
  if (allOf) for (const b of allOf.items) errs.push(...check(v, b, where));
  const not = at(s, 'not');
  if (not && check(v, not, where).length === 0) errs.push(`${where}: matches a "not" schema`);
  return errs;
}

function schema(name) {
  const n = at(SPEC, 'components', 'schemas', name);
  assert.ok(n, `components.schemas.${name} missing`);
  return n;
}

// ---------------------------------------------------------------------------
// Part 2: a live gssd against the document

const PASSWORD = 'openapi-password-1';
const USERS = { admin: 'oa_admin', cs: 'oa_cs', ts: 'oa_ts', sales: 'oa_sales' };
let g;
let customerId;
const sessions = {}; // role -> {token, csrf, user}

// base: the gssd to ask (the money tests run their own); default g.
async function call(method, p, { auth, json, body, headers = {}, base } = {}) {
  const h = { ...headers };
  let b = body;
  if (json !== undefined) {
    h['content-type'] = 'application/json';
    b = JSON.stringify(json);
  }
  if (auth && auth.token && !auth.cookie) h.authorization = `Bearer ${auth.token}`;
  if (auth && auth.cookie) {
    h.cookie = `gss_session=${auth.token}`;
    if (auth.csrf) h['x-csrf-token'] = auth.csrf;
  }
  return http((base || g).url + p, { method, headers: h, body: b, timeout: 20000 });
}

// The first bytes every answer of a binary type must start with.
const MAGIC = {
  'application/pdf': Buffer.from('%PDF-', 'latin1'),
  'image/png': Buffer.from([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
  'image/jpeg': Buffer.from([0xFF, 0xD8, 0xFF]),
};

/**
 * Asserts that res is an answer the document promises for method + template
 * (template null: a path with no route, i.e. the components' NotFound or
 * MethodNotAllowed): a documented status, an error code from its
 * x-error-codes, its required headers, a body valid against its schema.
 */
function expectDocumented(res, method, template) {
  const what = `${method} ${template ?? '(no route)'} → ${res.status} ${res.text.slice(0, 200)}`;
  let rn;
  if (template === null) {
    const name = res.status === 405 ? 'MethodNotAllowed' : 'NotFound';
    rn = at(SPEC, 'components', 'responses', name);
  } else {
    const op = specOp(method, template);
    assert.ok(op, `${method} ${template} is not documented`);
    rn = at(op, 'responses', String(res.status));
  }
  assert.ok(rn, `${what}: this status is not documented`);
  const r = deref(rn);
  if (res.status >= 400 && res.json && res.json.error) {
    const codes = errorCodes(rn);
    assert.ok(codes.includes(res.json.error.code), `${what}: code ${res.json.error.code} is not in x-error-codes [${codes}]`);
  }
  const hdrs = at(r, 'headers');
  for (const [name, hn0] of hdrs ? hdrs.children : []) {
    if (['connection', 'upgrade'].includes(name.toLowerCase())) continue; // hop-by-hop: fetch may not show them
    const hn = deref(hn0);
    const got = res.headers.get(name);
    if (got === null) {
      assert.notEqual(val(hn, 'required'), 'true', `${what}: required header ${name} missing`);
      continue;
    }
    const hs = at(hn, 'schema');
    const v = val(hs, 'type') === 'integer' && /^-?\d+$/.test(got) ? Number(got) : got;
    const errs = hs ? check(v, hs, name) : [];
    assert.deepEqual(errs, [], `${what}: header ${name}: ${got}`);
  }
  const content = at(r, 'content');
  if (!content || res.status === 304 || method === 'HEAD') return;
  const ct = res.headers.get('content-type') || '';
  if (content.children.has('application/json')) {
    assert.match(ct, /^application\/json/, `${what}: Content-Type ${ct}`);
    assert.ok(res.json !== undefined, `${what}: body is not JSON`);
    const errs = check(res.json, at(content, 'application/json', 'schema'));
    assert.deepEqual(errs, [], `${what}: body does not match the documented schema`);
  } else if (!content.children.has('*/*')) {
    assert.ok(content.children.has(ct), `${what}: Content-Type ${ct} is not one of [${[...content.children.keys()]}]`);
    const magic = MAGIC[ct];
    if (magic) assert.ok(res.body.subarray(0, magic.length).equals(magic), `${what}: the body is not ${ct} (first bytes ${res.body.subarray(0, 8).toString('hex')})`);
  }
}

/** Asserts status and error code, and that both are documented. */
function expectError(res, method, template, status, code) {
  assert.equal(res.status, status, `${method} ${template}: ${res.text}`);
  assert.equal(res.json?.error?.code, code, `${method} ${template}: ${res.text}`);
  expectDocumented(res, method, template);
}

async function login(role) {
  const res = await call('POST', '/api/v1/auth/login', { json: { username: USERS[role], password: PASSWORD } });
  assert.equal(res.status, 200, `login ${role}: ${res.text}`);
  expectDocumented(res, 'POST', '/api/v1/auth/login');
  return { token: res.json.token, csrf: res.json.csrf_token, user: res.json.user };
}

function openSocket(token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${g.port}/api/v1/ws`,
      { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    const messages = [];
    const waiters = new Set();
    ws.on('message', (data) => {
      messages.push(JSON.parse(data.toString('utf8')));
      for (const w of [...waiters]) w();
    });
    ws.on('unexpected-response', (req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('open', () => resolve({
      ws,
      // The first message (from the start) for which pred holds, or throws after ms.
      waitFor(pred, ms = 5000) {
        return new Promise((res, rej) => {
          const found = () => messages.find(pred);
          if (found()) return res(found());
          const t = setTimeout(() => { waiters.delete(w); rej(new Error(`no matching WebSocket message in ${ms} ms; got ${JSON.stringify(messages)}`)); }, ms);
          const w = () => { const f = found(); if (f) { clearTimeout(t); waiters.delete(w); res(f); } };
          waiters.add(w);
        });
      },
    }));
  });
}

describe('a live gssd answers as documented', () => {
  before(async () => {
    const database = await createDatabase();
    const redis = await startRedis();
    g = await startGssd({ redis, database });
    for (const [role, username] of Object.entries(USERS)) {
      const r = await runGssd(['user', 'add', username, '--role', role, '--name', `OpenAPI ${role}`],
        { env: { GSS_DATABASE_URL: database.url, GSS_ARGON2_FAST: '1', GSS_LOG_LEVEL: 'warn' }, input: `${PASSWORD}\n` });
      assert.equal(r.code, 0, `user add ${username}: ${r.stderr}${r.stdout}`);
    }
    const rows = await psql(database.url,
      "INSERT INTO customers (name, phone, source) VALUES ('Ibu Sari', '6281200000001', 'manual') RETURNING id");
    customerId = Number(rows[0][0]);
    for (const role of Object.keys(USERS)) sessions[role] = await login(role);
  }, { timeout: 120000 });

  it('health endpoints', async () => {
    for (const p of ['/healthz', '/readyz', '/metrics']) {
      const res = await call('GET', p);
      assert.equal(res.status, 200, `${p}: ${res.text}`);
      expectDocumented(res, 'GET', p);
    }
  });

  it('POST /api/v1/tickets without a session: 401 unauthorized', async () => {
    const res = await call('POST', '/api/v1/tickets', { json: {} });
    expectError(res, 'POST', '/api/v1/tickets', 401, 'unauthorized');
    const bad = await call('GET', '/api/v1/me', { auth: { token: 'x'.repeat(43) } });
    expectError(bad, 'GET', '/api/v1/me', 401, 'unauthorized');
  });

  it('login: wrong password 401 invalid_credentials, and the body errors', async () => {
    const L = '/api/v1/auth/login';
    expectError(await call('POST', L, { json: { username: USERS.sales, password: 'not-the-password' } }), 'POST', L, 401, 'invalid_credentials');
    expectError(await call('POST', L, { json: { username: USERS.sales } }), 'POST', L, 422, 'validation_failed');
    expectError(await call('POST', L, { body: 'username=a', headers: { 'content-type': 'text/plain' } }), 'POST', L, 415, 'unsupported_media_type');
    expectError(await call('POST', L, { body: '{"username":', headers: { 'content-type': 'application/json' } }), 'POST', L, 400, 'invalid_json');
  });

  it('login sets the documented cookie; me renews it for cookie sessions only', async () => {
    const res = await call('POST', '/api/v1/auth/login', { json: { username: USERS.cs.toUpperCase(), password: PASSWORD } });
    assert.equal(res.status, 200, res.text);
    expectDocumented(res, 'POST', '/api/v1/auth/login');
    assert.ok(res.headers.get('set-cookie').startsWith(`gss_session=${res.json.token};`));
    const bearer = await call('GET', '/api/v1/me', { auth: { token: res.json.token } });
    expectDocumented(bearer, 'GET', '/api/v1/me');
    assert.equal(bearer.headers.get('set-cookie'), null, 'me with Bearer must not set the cookie');
    const cookie = await call('GET', '/api/v1/me', { auth: { token: res.json.token, cookie: true } });
    expectDocumented(cookie, 'GET', '/api/v1/me');
    assert.ok(cookie.headers.get('set-cookie'), 'me with the cookie renews it');
    assert.equal(cookie.json.csrf_token, res.json.csrf_token);
  });

  it('X-Request-Id is echoed when valid and made up otherwise', async () => {
    const mine = await call('GET', '/healthz', { headers: { 'x-request-id': 'oa-test.1' } });
    assert.equal(mine.headers.get('x-request-id'), 'oa-test.1');
    const bad = await call('GET', '/healthz', { headers: { 'x-request-id': 'has space' } });
    assert.notEqual(bad.headers.get('x-request-id'), 'has space');
    expectDocumented(bad, 'GET', '/healthz');
  });

  it('POST /api/v1/pool/1/claim as cs: 403 forbidden; cookie without CSRF: 403 csrf_failed', async () => {
    const C = '/api/v1/pool/{id}/claim';
    expectError(await call('POST', '/api/v1/pool/1/claim', { auth: sessions.cs }), 'POST', C, 403, 'forbidden');
    const ts = sessions.ts;
    expectError(await call('POST', '/api/v1/pool/1/claim', { auth: { token: ts.token, cookie: true } }), 'POST', C, 403, 'csrf_failed');
    expectError(await call('POST', '/api/v1/pool/1/claim', { auth: { token: ts.token, cookie: true, csrf: 'y'.repeat(43) } }), 'POST', C, 403, 'csrf_failed');
    expectError(await call('POST', '/api/v1/pool/abc/claim', { auth: ts }), 'POST', C, 404, 'not_found');
    expectError(await call('POST', '/api/v1/pool/999999/claim', { auth: ts }), 'POST', C, 409, 'not_open');
  });

  it('unknown paths: 404 not_found', async () => {
    expectError(await call('GET', '/nope'), 'GET', '/{file}', 404, 'not_found');
    expectError(await call('POST', '/nope'), 'POST', null, 404, 'not_found');
    expectError(await call('GET', '/api/v1/no-such-route'), 'GET', '/{file}', 404, 'not_found');
  });

  it('every documented path answers 405 to other methods, with Allow = its documented methods', async () => {
    for (const [p, pn] of at(SPEC, 'paths').children) {
      const ops = [...pn.children.keys()].filter((k) => METHODS.includes(k));
      if (ops.some((m) => val(at(pn, m), 'x-static') === 'true')) continue;
      if (ops.some((m) => val(at(pn, m), 'x-enabled-by'))) continue; // not on in this gssd
      const probe = ['DELETE', 'PUT', 'PATCH'].find((m) => !ops.includes(m.toLowerCase()));
      const res = await call(probe, p.replace(/\{\w+\}/g, '1'));
      expectError(res, probe, null, 405, 'method_not_allowed');
      const want = new Set(ops.map((m) => m.toUpperCase()));
      if (want.has('GET')) want.add('HEAD');
      const allow = new Set(res.headers.get('allow').split(',').map((s) => s.trim()));
      assert.deepEqual(sorted(allow), sorted(want), `Allow of ${p}`);
    }
  });

  it('bodies over x-body-max are 413; at the cap they are read', async () => {
    for (const o of specOperations()) {
      const cap = val(o.node, 'x-body-max');
      if (cap === undefined || val(o.node, 'x-enabled-by')) continue;
      const p = o.path.replace(/\{\w+\}/g, '1');
      const over = await call(o.method, p, { body: 'x'.repeat(Number(cap) + 1), headers: { 'content-type': 'application/json' } });
      expectError(over, o.method, o.path, 413, 'payload_too_large');
      const fits = await call(o.method, p, { body: 'x'.repeat(Number(cap)), headers: { 'content-type': 'application/json' } });
      assert.notEqual(fits.status, 413, `${o.method} ${o.path} refused a body of exactly x-body-max bytes`);
      expectDocumented(fits, o.method, o.path);
    }
  });

  it('accounts (admin)', async () => {
    const A = sessions.admin;
    const list = await call('GET', '/api/v1/users', { auth: A });
    assert.equal(list.status, 200, list.text);
    expectDocumented(list, 'GET', '/api/v1/users');
    assert.ok(list.json.users.length >= 4);
    expectError(await call('GET', '/api/v1/users?role=boss', { auth: A }), 'GET', '/api/v1/users', 422, 'validation_failed');
    expectError(await call('GET', '/api/v1/users', { auth: sessions.cs }), 'GET', '/api/v1/users', 403, 'forbidden');

    const created = await call('POST', '/api/v1/users', { auth: A, json: { username: 'oa_new', name: 'Teknisi Baru', role: 'ts', password: 'a-long-password', phone: '6281200000009' } });
    assert.equal(created.status, 201, created.text);
    expectDocumented(created, 'POST', '/api/v1/users');
    expectError(await call('POST', '/api/v1/users', { auth: A, json: { username: 'oa_new', name: 'X', role: 'ts', password: 'a-long-password' } }), 'POST', '/api/v1/users', 409, 'username_taken');
    expectError(await call('POST', '/api/v1/users', { auth: A, json: { username: 'Oa_Caps', name: 'X', role: 'ts', password: 'a-long-password' } }), 'POST', '/api/v1/users', 422, 'validation_failed');

    const U = '/api/v1/users/{id}';
    const got = await call('GET', `/api/v1/users/${created.json.id}`, { auth: A });
    assert.equal(got.status, 200, got.text);
    expectDocumented(got, 'GET', U);
    expectError(await call('GET', '/api/v1/users/999999', { auth: A }), 'GET', U, 404, 'not_found');
    const changed = await call('PATCH', `/api/v1/users/${created.json.id}`, { auth: A, json: { name: 'Teknisi Lama', phone: null } });
    assert.equal(changed.status, 200, changed.text);
    expectDocumented(changed, 'PATCH', U);
    assert.equal(changed.json.phone, null);
    expectError(await call('PATCH', `/api/v1/users/${A.user.id}`, { auth: A, json: { active: false } }), 'PATCH', U, 409, 'cannot_change_self');
    expectError(await call('PATCH', `/api/v1/users/${created.json.id}`, { auth: A, json: { username: 'other' } }), 'PATCH', U, 422, 'validation_failed');
  });

  it('tickets, the pool, claims and the WebSocket feed', async () => {
    const ts = sessions.ts;
    const sock = await openSocket(ts.token);
    try {
      sock.ws.send(JSON.stringify({ type: 'ping' }));
      const pong = await sock.waitFor((m) => m.type === 'pong');
      assert.deepEqual(check(pong, schema('WsServerMessage')), []);

      const T = '/api/v1/tickets';
      expectError(await call('POST', T, { auth: sessions.ts, json: {} }), 'POST', T, 403, 'forbidden');
      expectError(await call('POST', T, { auth: sessions.cs, json: { customer_id: customerId } }), 'POST', T, 422, 'validation_failed');
      expectError(await call('POST', T, { auth: sessions.cs, json: { customer_id: 999999, problem: 'AC bocor', address: 'Jl. Melati 1', scheduled_at: '2030-01-02T09:00:00+07:00', techs_needed: 1 } }), 'POST', T, 422, 'validation_failed');

      const body = { customer_id: customerId, problem: 'AC  tidak dingin\nsejak kemarin', address: 'Jl. Kenanga 5, Jakarta', area: 'Jakarta Selatan', lat: -6.26, lng: 106.81, scheduled_at: '2030-01-02T09:00:00+07:00', techs_needed: 2 };
      const t1 = await call('POST', T, { auth: sessions.cs, json: body });
      assert.equal(t1.status, 201, t1.text);
      expectDocumented(t1, 'POST', T);
      assert.equal(t1.json.status, 'open');
      const t2 = await call('POST', T, { auth: sessions.admin, json: { ...body, techs_needed: 1, area: null, lat: null, lng: null, urgent: true } });
      assert.equal(t2.status, 201, t2.text);
      expectDocumented(t2, 'POST', T);

      const opened = await sock.waitFor((m) => m.type === 'pool.opened' && m.data.id === t1.json.id);
      assert.deepEqual(check(opened, schema('WsServerMessage')), []);
      assert.deepEqual(check(opened, schema('WsPoolOpened')), []);

      const pool = await call('GET', '/api/v1/pool', { auth: ts });
      assert.equal(pool.status, 200, pool.text);
      expectDocumented(pool, 'GET', '/api/v1/pool');
      assert.ok(pool.json.jobs.some((j) => j.id === t1.json.id) && pool.json.jobs.some((j) => j.id === t2.json.id));
      expectError(await call('GET', '/api/v1/pool', { auth: sessions.sales }), 'GET', '/api/v1/pool', 403, 'forbidden');

      const C = '/api/v1/pool/{id}/claim';
      const c1 = await call('POST', `/api/v1/pool/${t1.json.id}/claim`, { auth: ts });
      assert.equal(c1.status, 200, c1.text);
      expectDocumented(c1, 'POST', C);
      expectError(await call('POST', `/api/v1/pool/${t1.json.id}/claim`, { auth: ts }), 'POST', C, 409, 'already_claimed');
      const updated = await sock.waitFor((m) => m.type === 'pool.updated' && m.data.id === t1.json.id);
      assert.deepEqual(check(updated, schema('WsPoolUpdated')), []);

      const c2 = await call('POST', `/api/v1/pool/${t2.json.id}/claim`, { auth: { ...ts, cookie: true } });
      assert.equal(c2.status, 200, c2.text);
      expectDocumented(c2, 'POST', C);
      const closed = await sock.waitFor((m) => m.type === 'pool.closed' && m.data.id === t2.json.id);
      assert.deepEqual(check(closed, schema('WsPoolClosed')), []);
      assert.equal(closed.data.state, 'full');
      expectError(await call('POST', `/api/v1/pool/${t2.json.id}/claim`, { auth: sessions.ts }), 'POST', C, 409, 'already_claimed');

      for (const role of ['cs', 'sales', 'ts']) {
        const list = await call('GET', `${T}?limit=50`, { auth: sessions[role] });
        assert.equal(list.status, 200, list.text);
        expectDocumented(list, 'GET', T);
      }
      expectError(await call('GET', `${T}?limit=0`, { auth: sessions.cs }), 'GET', T, 422, 'validation_failed');

      const one = await call('GET', `/api/v1/tickets/${t1.json.id}`, { auth: sessions.sales });
      assert.equal(one.status, 200, one.text);
      expectDocumented(one, 'GET', '/api/v1/tickets/{id}');
      expectError(await call('GET', '/api/v1/tickets/999999', { auth: sessions.cs }), 'GET', '/api/v1/tickets/{id}', 404, 'not_found');
    } finally {
      sock.ws.terminate();
    }
  });

  it('GET /api/v1/ws without an upgrade: 426 upgrade_required', async () => {
    const res = await call('GET', '/api/v1/ws', { auth: sessions.cs });
    expectError(res, 'GET', '/api/v1/ws', 426, 'upgrade_required');
    expectError(await call('GET', '/api/v1/ws'), 'GET', '/api/v1/ws', 401, 'unauthorized');
  });

  it('static files: 200 with ETag, 304 on If-None-Match', async () => {
    const res = await call('GET', '/');
    assert.equal(res.status, 200, res.text);
    expectDocumented(res, 'GET', '/');
    const again = await call('GET', '/index.html', { headers: { 'if-none-match': res.headers.get('etag') } });
    assert.equal(again.status, 304);
    expectDocumented(again, 'GET', '/{file}');
  });

  it('routes behind a switch (x-enabled-by) are 404 when it is off and as documented when it is on', async () => {
    const gated = specOperations().filter((o) => val(o.node, 'x-enabled-by'));
    assert.ok(gated.length > 0);
    for (const o of gated) {
      const res = await call(o.method, o.path);
      expectError(res, o.method, null, 404, 'not_found');
    }
    const env = {};
    for (const o of gated) env[val(o.node, 'x-enabled-by')] = '1';
    const plain = g;
    g = await startGssd({ redis: plain.redis, database: plain.database, env });
    try {
      for (const o of gated) {
        const res = await call(o.method, o.path);
        assert.notEqual(res.status, 404, `${o.method} ${o.path} with ${val(o.node, 'x-enabled-by')}=1: ${res.text}`);
        expectDocumented(res, o.method, o.path);
        const other = o.method === 'GET' ? 'DELETE' : 'GET';
        expectError(await call(other, o.path), other, null, 405, 'method_not_allowed');
      }
      const S = '/api/v1/debug/sleep';
      if (specOp('GET', S)) {
        expectError(await call('GET', `${S}?ms=60001`), 'GET', S, 422, 'invalid_ms');
        const slept = await call('GET', `${S}?ms=5`);
        assert.equal(slept.status, 200, slept.text);
        expectDocumented(slept, 'GET', S);
      }
      const E = '/api/v1/ws/echo';
      if (specOp('GET', E)) expectError(await call('GET', E), 'GET', E, 426, 'upgrade_required');
    } finally {
      await g.stop();
      g = plain;
    }
  });

  it('logout ends the session and clears the cookie', async () => {
    const s = await login('sales');
    const res = await call('POST', '/api/v1/auth/logout', { auth: { ...s, cookie: true } });
    assert.equal(res.status, 200, res.text);
    expectDocumented(res, 'POST', '/api/v1/auth/logout');
    expectError(await call('GET', '/api/v1/me', { auth: s }), 'GET', '/api/v1/me', 401, 'unauthorized');
  });
});

// ---------------------------------------------------------------------------
// Part 3: the money routes (docs/money.md) on a gssd of their own

describe('the money routes answer as documented', () => {
  let ctx;
  // A technician's session: the last of ctx.techs (workDone hands them out from the first).
  const token = (role) => (role === 'ts' ? ctx.techs[ctx.techs.length - 1].token : ctx[role]);
  const as = (role, extra = {}) => ({ base: ctx.g, auth: { token: token(role) }, ...extra });
  const anon = (extra = {}) => ({ base: ctx.g, ...extra });
  // One ticket walked through everything; filled in by the tests in order.
  const flow = {};

  before(async () => {
    const dir = await makeTmpDir('qris');
    const qris = path.join(dir, 'qris.png');
    fs.writeFileSync(qris, makePng(8, 8, 5));
    ctx = await moneySetup({ techs: 4, tag: 'oam', env: { GSS_TAX_RATE_BP: 1100, GSS_PAY_QRIS_IMAGE: qris } });
  }, { timeout: 180000 });

  it('create: the refusals, then 201 with the invoice JSON', { timeout: 120000 }, async () => {
    const C = '/api/v1/tickets/{id}/invoice';
    const open = await createTicket(ctx.g, ctx.cs, ctx.customers[0], 1);
    const w = await workDone(ctx);
    flow.ticket = w.ticket;
    const url = `/api/v1/tickets/${w.ticket.id}/invoice`;
    expectError(await call('POST', url, anon({ json: sampleItems() })), 'POST', C, 401, 'unauthorized');
    expectError(await call('POST', url, as('sales', { json: sampleItems() })), 'POST', C, 403, 'forbidden');
    expectError(await call('POST', '/api/v1/tickets/999999/invoice', as('cs', { json: sampleItems() })), 'POST', C, 404, 'not_found');
    expectError(await call('POST', `/api/v1/tickets/${open.id}/invoice`, as('cs', { json: sampleItems() })), 'POST', C, 409, 'invalid_transition');
    expectError(await call('POST', url, as('cs', { body: 'items=1', headers: { 'content-type': 'text/plain' } })), 'POST', C, 415, 'unsupported_media_type');
    expectError(await call('POST', url, as('cs', { body: '{"items":', headers: { 'content-type': 'application/json' } })), 'POST', C, 400, 'invalid_json');
    expectError(await call('POST', url, as('cs', { json: { items: [] } })), 'POST', C, 422, 'validation_failed');
    expectError(await call('POST', url, as('cs', { json: { items: [{ description: 'x', qty: 0, unit_price: 1 }] } })), 'POST', C, 422, 'validation_failed');
    expectError(await call('POST', url, as('cs', { json: { ...sampleItems(), discount: 2000000 } })), 'POST', C, 422, 'validation_failed');

    const r = await call('POST', url, as('cs', { json: sampleItems() }));
    assert.equal(r.status, 201, r.text);
    expectDocumented(r, 'POST', C);
    assert.equal(r.json.status, 'draft');
    flow.invoice = r.json;
    expectError(await call('POST', url, as('cs', { json: sampleItems() })), 'POST', C, 409, 'invoice_exists');

    const t = await call('GET', `/api/v1/tickets/${w.ticket.id}`, as('cs'));
    assert.equal(t.status, 200, t.text);
    expectDocumented(t, 'GET', '/api/v1/tickets/{id}');
    assert.equal(t.json.invoice?.id, r.json.id, `the ticket names its invoice: ${JSON.stringify(t.json.invoice)}`);
    assert.equal(t.json.rating, null);
  });

  it('get, list and PDF; edit with and without a stale version', { timeout: 60000 }, async () => {
    assert.ok(flow.invoice, 'needs the invoice of the previous test');
    const id = flow.invoice.id;
    const G = '/api/v1/invoices/{id}';
    for (const role of ['cs', 'sales', 'admin']) {
      const r = await call('GET', `/api/v1/invoices/${id}`, as(role));
      assert.equal(r.status, 200, r.text);
      expectDocumented(r, 'GET', G);
    }
    expectError(await call('GET', `/api/v1/invoices/${id}`, as('ts')), 'GET', G, 403, 'forbidden');
    expectError(await call('GET', '/api/v1/invoices/999999', as('cs')), 'GET', G, 404, 'not_found');

    const L = '/api/v1/invoices';
    for (const q of ['', '?status=draft', '?status=pending_approval,draft&limit=5']) {
      const r = await call('GET', `${L}${q}`, as('sales'));
      assert.equal(r.status, 200, `${q}: ${r.text}`);
      expectDocumented(r, 'GET', L);
      assert.ok(r.json.invoices.some((x) => x.id === id), `${q}: the draft is listed: ${r.text.slice(0, 300)}`);
    }
    expectError(await call('GET', `${L}?status=bogus`, as('cs')), 'GET', L, 400, 'bad_request');
    expectError(await call('GET', `${L}?limit=0`, as('cs')), 'GET', L, 400, 'bad_request');
    expectError(await call('GET', `${L}?status=draft,,sent`, as('cs')), 'GET', L, 400, 'bad_request');

    const P = '/api/v1/invoices/{id}/invoice.pdf';
    const pdf = await call('GET', `/api/v1/invoices/${id}/invoice.pdf`, as('sales'));
    assert.equal(pdf.status, 200, pdf.text.slice(0, 200));
    expectDocumented(pdf, 'GET', P);
    expectError(await call('GET', '/api/v1/invoices/999999/invoice.pdf', as('cs')), 'GET', P, 404, 'not_found');

    const U = '/api/v1/invoices/{id}';
    expectError(await call('PATCH', `/api/v1/invoices/${id}`, as('cs', { json: { note: 'x', version: flow.invoice.version + 5 } })), 'PATCH', U, 409, 'stale_version');
    expectError(await call('PATCH', `/api/v1/invoices/${id}`, as('cs', { json: { discount: -1 } })), 'PATCH', U, 422, 'validation_failed');
    expectError(await call('PATCH', `/api/v1/invoices/${id}`, as('sales', { json: { note: 'x' } })), 'PATCH', U, 403, 'forbidden');
    const e = await call('PATCH', `/api/v1/invoices/${id}`, as('cs', { json: { note: 'Garansi 60 hari', version: flow.invoice.version } }));
    assert.equal(e.status, 200, e.text);
    expectDocumented(e, 'PATCH', U);
    assert.equal(e.json.version, flow.invoice.version + 1);
    flow.invoice = e.json;
  });

  it('the approval loop: submit, revise, edit, submit, approve, and the 409s', { timeout: 60000 }, async () => {
    assert.ok(flow.invoice, 'needs the invoice of the previous tests');
    const id = flow.invoice.id;
    const post = (role, action, json) => call('POST', `/api/v1/invoices/${id}/${action}`, as(role, json === undefined ? {} : { json }));
    const T = (action) => `/api/v1/invoices/{id}/${action}`;
    const ok = async (role, action, json, status) => {
      const r = await post(role, action, json);
      assert.equal(r.status, 200, `${action}: ${r.text}`);
      expectDocumented(r, 'POST', T(action));
      assert.equal(r.json.status, status, `${action}: ${r.text}`);
      return r.json;
    };
    expectError(await post('cs', 'approve'), 'POST', T('approve'), 403, 'forbidden');
    expectError(await post('sales', 'approve'), 'POST', T('approve'), 409, 'invalid_transition');
    expectError(await post('cs', 'send'), 'POST', T('send'), 409, 'invalid_transition');
    expectError(await call('POST', '/api/v1/invoices/999999/submit', as('cs')), 'POST', T('submit'), 404, 'not_found');
    await ok('cs', 'submit', undefined, 'pending_approval');
    expectError(await post('cs', 'submit'), 'POST', T('submit'), 409, 'invalid_transition');
    expectError(await call('PATCH', `/api/v1/invoices/${id}`, as('cs', { json: { note: 'x' } })), 'PATCH', '/api/v1/invoices/{id}', 409, 'invalid_transition');
    expectError(await post('sales', 'revise', {}), 'POST', T('revise'), 422, 'validation_failed');
    expectError(await post('sales', 'revise', { note: '   ' }), 'POST', T('revise'), 422, 'validation_failed');
    const rv = await ok('sales', 'revise', { note: 'Harga freon terlalu tinggi' }, 'revision_requested');
    assert.equal(rv.revision_note, 'Harga freon terlalu tinggi');
    const e = await call('PATCH', `/api/v1/invoices/${id}`, as('cs', { json: { items: [{ description: 'Ganti kompresor AC 1 PK', qty: 1, unit_price: 1250000 }], discount: 0 } }));
    assert.equal(e.status, 200, e.text);
    expectDocumented(e, 'PATCH', '/api/v1/invoices/{id}');
    assert.equal(e.json.status, 'draft');
    await ok('cs', 'submit', undefined, 'pending_approval');
    expectError(await post('sales', 'approve', { note: 5 }), 'POST', T('approve'), 422, 'validation_failed');
    flow.invoice = await ok('sales', 'approve', { note: 'OK' }, 'approved');
    expectError(await post('admin', 'approve'), 'POST', T('approve'), 409, 'invalid_transition');
    expectError(await post('cs', 'payments', { amount: 1000, method: 'cash' }), 'POST', T('payments'), 409, 'invalid_transition');
  });

  it('send and resend answer the links; the staff PDF after sending', { timeout: 60000 }, async () => {
    assert.ok(flow.invoice?.status === 'approved', 'needs the approved invoice');
    const id = flow.invoice.id;
    const S = '/api/v1/invoices/{id}/send';
    expectError(await call('POST', `/api/v1/invoices/${id}/send`, as('sales')), 'POST', S, 403, 'forbidden');
    const s = await call('POST', `/api/v1/invoices/${id}/send`, as('cs'));
    assert.equal(s.status, 200, s.text);
    expectDocumented(s, 'POST', S);
    assert.equal(s.json.status, 'sent');
    assert.equal(s.json.ticket.status, 'awaiting_payment');
    const again = await call('POST', `/api/v1/invoices/${id}/send`, as('admin'));
    assert.equal(again.status, 200, again.text);
    expectDocumented(again, 'POST', S);
    assert.equal(again.json.invoice_url, s.json.invoice_url, 'a resend sends the same invoice link');
    assert.equal(again.json.rating_url, s.json.rating_url, 'a resend sends the same rating link');
    flow.invoice = again.json;
    flow.invoiceToken = s.json.invoice_url.split('/').pop();
    flow.ratingToken = s.json.rating_url.split('/').pop();
    const got = await call('GET', `/api/v1/invoices/${id}`, as('cs'));
    expectDocumented(got, 'GET', '/api/v1/invoices/{id}');
    assert.equal(got.json.invoice_url, undefined, 'only send answers the links');
    assert.equal(typeof got.json.links?.expires_at, 'string', `links once sent: ${JSON.stringify(got.json.links)}`);
    const pdf = await call('GET', `/api/v1/invoices/${id}/invoice.pdf`, as('cs'));
    assert.equal(pdf.status, 200, pdf.text.slice(0, 200));
    expectDocumented(pdf, 'GET', '/api/v1/invoices/{id}/invoice.pdf');
  });

  it('the customer: invoice, PDF, QRIS, rating (once), a wrong token', { timeout: 60000 }, async () => {
    assert.ok(flow.invoiceToken, 'needs the sent invoice');
    const I = '/api/v1/public/invoices/{token}';
    const inv = await call('GET', `/api/v1/public/invoices/${flow.invoiceToken}`, anon());
    assert.equal(inv.status, 200, inv.text);
    expectDocumented(inv, 'GET', I);
    assert.equal(inv.json.total, flow.invoice.total);
    assert.equal(inv.json.payment.qris_url, '/api/v1/public/qris.png');
    // The PDF link of the answer, and the QRIS image it names.
    const pdf = await call('GET', inv.json.pdf_url, anon());
    assert.equal(pdf.status, 200, pdf.text.slice(0, 200));
    expectDocumented(pdf, 'GET', '/api/v1/public/invoices/{token}/invoice.pdf');
    const q = await call('GET', inv.json.payment.qris_url, anon());
    assert.equal(q.status, 200, q.text.slice(0, 200));
    expectDocumented(q, 'GET', '/api/v1/public/qris.png');
    const wrong = 'A'.repeat(32);
    expectError(await call('GET', `/api/v1/public/invoices/${wrong}`, anon()), 'GET', I, 404, 'link_not_found');
    expectError(await call('GET', `/api/v1/public/invoices/${wrong}/invoice.pdf`, anon()), 'GET', '/api/v1/public/invoices/{token}/invoice.pdf', 404, 'link_not_found');
    expectError(await call('GET', `/api/v1/public/invoices/${flow.ratingToken}`, anon()), 'GET', I, 404, 'link_not_found');

    const R = '/api/v1/public/ratings/{token}';
    const url = `/api/v1/public/ratings/${flow.ratingToken}`;
    const form = await call('GET', url, anon());
    assert.equal(form.status, 200, form.text);
    expectDocumented(form, 'GET', R);
    assert.equal(form.json.rated, false);
    expectError(await call('GET', `/api/v1/public/ratings/${wrong}`, anon()), 'GET', R, 404, 'link_not_found');
    expectError(await call('POST', `/api/v1/public/ratings/${wrong}`, anon({ json: { score: 5 } })), 'POST', R, 404, 'link_not_found');
    expectError(await call('POST', url, anon({ json: { score: 6 } })), 'POST', R, 422, 'validation_failed');
    expectError(await call('POST', url, anon({ json: { score: 5, techs: [{ id: 99, score: 5 }] } })), 'POST', R, 422, 'validation_failed');
    expectError(await call('POST', url, anon({ json: { score: 5, comment: 'x'.repeat(1001) } })), 'POST', R, 422, 'validation_failed');
    expectError(await call('POST', url, anon({ body: 'score=5', headers: { 'content-type': 'text/plain' } })), 'POST', R, 415, 'unsupported_media_type');
    expectError(await call('POST', url, anon({ body: '{"score":', headers: { 'content-type': 'application/json' } })), 'POST', R, 400, 'invalid_json');
    const techs = form.json.techs.map((t) => ({ id: t.id, score: 4 }));
    const rated = await call('POST', url, anon({ json: { score: 5, comment: 'Teknisi ramah dan cepat', techs } }));
    assert.equal(rated.status, 201, rated.text);
    expectDocumented(rated, 'POST', R);
    expectError(await call('POST', url, anon({ json: { score: 1 } })), 'POST', R, 409, 'already_rated');
    const after = await call('GET', url, anon());
    assert.equal(after.status, 200, after.text);
    expectDocumented(after, 'GET', R);
    assert.equal(after.json.rated, true);
    const staff = await call('GET', `/api/v1/invoices/${flow.invoice.id}`, as('sales'));
    expectDocumented(staff, 'GET', '/api/v1/invoices/{id}');
    assert.equal(staff.json.rating?.score, 5, `the staff invoice shows the rating: ${JSON.stringify(staff.json.rating)}`);
  });

  it('payments in parts with a proof and a void, then close', { timeout: 60000 }, async () => {
    assert.ok(flow.invoice?.status === 'sent', 'needs the sent invoice');
    const id = flow.invoice.id;
    const total = flow.invoice.total;
    const P = '/api/v1/invoices/{id}/payments';
    const V = '/api/v1/invoices/{id}/payments/{pid}/void';
    const pay = (json, role = 'cs') => call('POST', `/api/v1/invoices/${id}/payments`, as(role, { json }));
    expectError(await pay({ amount: 1000, method: 'cash' }, 'sales'), 'POST', P, 403, 'forbidden');
    expectError(await pay({ amount: total + 1, method: 'transfer' }), 'POST', P, 422, 'overpayment');
    expectError(await pay({ amount: 1000, method: 'cheque' }), 'POST', P, 422, 'validation_failed');
    expectError(await pay({ amount: 0, method: 'cash' }), 'POST', P, 422, 'validation_failed');
    expectError(await pay({ amount: 1000, method: 'cash', paid_at: '2020-01-01T00:00:00Z' }), 'POST', P, 422, 'validation_failed');
    expectError(await call('POST', '/api/v1/invoices/999999/payments', as('cs', { json: { amount: 1, method: 'cash' } })), 'POST', P, 404, 'not_found');

    // A photo of the ticket is an attachment, but not a payment proof.
    const photo = await upload(ctx.g, ctx.cs, flow.ticket.id, 'photo', makePdf('not a proof'));
    const notProof = photo.status === 201 ? photo.json.id : 999999;
    expectError(await pay({ amount: 1000, method: 'transfer', proof_attachment_id: notProof }), 'POST', P, 422, 'validation_failed');

    const first = await pay({ amount: 500000, method: 'transfer', reference: 'BCA 123' });
    assert.equal(first.status, 201, first.text);
    expectDocumented(first, 'POST', P);
    assert.equal(first.json.status, 'sent');
    const pid = first.json.payments.find((x) => x.amount === 500000)?.id;
    assert.ok(pid, `the payment is listed: ${JSON.stringify(first.json.payments)}`);
    const vurl = `/api/v1/invoices/${id}/payments/${pid}/void`;
    expectError(await call('POST', vurl, as('cs', { json: {} })), 'POST', V, 422, 'validation_failed');
    expectError(await call('POST', `/api/v1/invoices/${id}/payments/999999/void`, as('cs', { json: { reason: 'salah catat' } })), 'POST', V, 404, 'not_found');
    const voided = await call('POST', vurl, as('cs', { json: { reason: 'salah catat' } }));
    assert.equal(voided.status, 200, voided.text);
    expectDocumented(voided, 'POST', V);
    assert.equal(voided.json.paid_amount, 0);
    expectError(await call('POST', vurl, as('cs', { json: { reason: 'lagi' } })), 'POST', V, 409, 'already_voided');

    const C = '/api/v1/tickets/{id}/close';
    expectError(await call('POST', `/api/v1/tickets/${flow.ticket.id}/close`, as('cs')), 'POST', C, 409, 'invalid_transition');
    const part = await pay({ amount: 300000, method: 'cash' });
    assert.equal(part.status, 201, part.text);
    expectDocumented(part, 'POST', P);
    const rest = await pay({ amount: total - 300000, method: 'qris', reference: 'QRIS 9' });
    assert.equal(rest.status, 201, rest.text);
    expectDocumented(rest, 'POST', P);
    assert.equal(rest.json.status, 'paid');
    assert.equal(rest.json.balance, 0);
    expectError(await pay({ amount: 1, method: 'cash' }), 'POST', P, 409, 'invalid_transition');

    expectError(await call('POST', `/api/v1/tickets/${flow.ticket.id}/close`, as('sales')), 'POST', C, 403, 'forbidden');
    expectError(await call('POST', '/api/v1/tickets/999999/close', as('cs')), 'POST', C, 404, 'not_found');
    const closed = await call('POST', `/api/v1/tickets/${flow.ticket.id}/close`, as('cs', { json: { note: 'Lunas' } }));
    assert.equal(closed.status, 200, closed.text);
    expectDocumented(closed, 'POST', C);
    assert.equal(closed.json.status, 'closed');
    assert.equal(closed.json.invoice?.status, 'paid');
    assert.equal(closed.json.rating?.score, 5);
    expectError(await call('POST', `/api/v1/tickets/${flow.ticket.id}/close`, as('cs')), 'POST', C, 409, 'invalid_transition');
    const lastPid = rest.json.payments.find((x) => x.voided_at === null && x.method === 'qris')?.id;
    expectError(await call('POST', `/api/v1/invoices/${id}/payments/${lastPid}/void`, as('cs', { json: { reason: 'telat' } })), 'POST', V, 409, 'invalid_transition');
  });

  it('an expired link is 410; guesses are 404, then 429 with Retry-After', { timeout: 120000 }, async () => {
    const w = await workDone(ctx);
    const d = await call('POST', `/api/v1/tickets/${w.ticket.id}/invoice`, as('cs', { json: sampleItems() }));
    assert.equal(d.status, 201, d.text);
    for (const [role, action] of [['cs', 'submit'], ['sales', 'approve'], ['cs', 'send']]) {
      const r = await call('POST', `/api/v1/invoices/${d.json.id}/${action}`, as(role));
      assert.equal(r.status, 200, `${action}: ${r.text}`);
      if (action === 'send') {
        flow.expired = { invoice: r.json.invoice_url.split('/').pop(), rating: r.json.rating_url.split('/').pop() };
      }
    }
    // The only write behind the server's back in this file: time cannot be
    // made to pass otherwise (GSS_PUBLIC_LINK_TTL_S is at least 60 s).
    await psql(ctx.database.url, `UPDATE public_links SET expires_at = now() - interval '1 minute' WHERE invoice_id = ${d.json.id}`);
    flow.second = { ticket: w.ticket, invoice: d.json };
    expectError(await call('GET', `/api/v1/public/invoices/${flow.expired.invoice}`, anon()), 'GET', '/api/v1/public/invoices/{token}', 410, 'link_expired');
    expectError(await call('GET', `/api/v1/public/invoices/${flow.expired.invoice}/invoice.pdf`, anon()), 'GET', '/api/v1/public/invoices/{token}/invoice.pdf', 410, 'link_expired');
    expectError(await call('GET', `/api/v1/public/ratings/${flow.expired.rating}`, anon()), 'GET', '/api/v1/public/ratings/{token}', 410, 'link_expired');
    expectError(await call('POST', `/api/v1/public/ratings/${flow.expired.rating}`, anon({ json: { score: 4 } })), 'POST', '/api/v1/public/ratings/{token}', 410, 'link_expired');

    // A gssd with a tight bucket and no QRIS image, on the same stores.
    const tight = await startGssd({ redis: ctx.redis, database: ctx.database, env: { GSS_PUBLIC_RATE_PER_MIN: 1, GSS_PUBLIC_RATE_BURST: 25, GSS_LOG_REQUESTS: 0 } });
    try {
      const I = '/api/v1/public/invoices/{token}';
      expectError(await call('GET', '/api/v1/public/qris.png', { base: tight }), 'GET', '/api/v1/public/qris.png', 404, 'not_found');
      const seen = [];
      for (let i = 0; i < 10 && !seen.includes(429); i++) {
        const r = await call('GET', `/api/v1/public/invoices/${String(i).padStart(32, 'g')}`, { base: tight });
        seen.push(r.status);
        expectDocumented(r, 'GET', I);
      }
      assert.equal(seen[0], 404, `a guess is 404 first: ${seen}`);
      assert.ok(seen.includes(429), `guessing runs into 429: ${seen}`);
      const limited = await call('GET', `/api/v1/public/ratings/${flow.ratingToken}`, { base: tight });
      expectError(limited, 'GET', '/api/v1/public/ratings/{token}', 429, 'rate_limited');
      assert.ok(Number(limited.headers.get('retry-after')) >= 1, 'Retry-After');
    } finally {
      await tight.stop();
    }
  });

  it('a payment with its proof: uploaded as kind=payment_proof, then named by proof_attachment_id', { timeout: 60000 }, async () => {
    assert.ok(flow.second, 'needs the second (sent) invoice');
    const A = '/api/v1/tickets/{id}/attachments';
    const proof = await upload(ctx.g, ctx.cs, flow.second.ticket.id, 'payment_proof', makePng(6, 6, 9), { contentType: 'image/png' });
    expectDocumented(proof, 'POST', A);
    assert.equal(proof.status, 201, `upload kind=payment_proof (docs/money.md, Payments): ${proof.text}`);
    assert.equal(proof.json.kind, 'payment_proof');
    const byTech = await upload(ctx.g, token('ts'), flow.second.ticket.id, 'payment_proof', makePng(6, 6, 9), { contentType: 'image/png' });
    expectError(byTech, 'POST', A, 403, 'forbidden');
    const P = '/api/v1/invoices/{id}/payments';
    const r = await call('POST', `/api/v1/invoices/${flow.second.invoice.id}/payments`,
      as('cs', { json: { amount: 100000, method: 'transfer', reference: 'BCA 77', proof_attachment_id: proof.json.id } }));
    assert.equal(r.status, 201, r.text);
    expectDocumented(r, 'POST', P);
    assert.equal(r.json.payments.find((x) => x.amount === 100000)?.proof_attachment_id, proof.json.id);
    const t = await call('GET', `/api/v1/tickets/${flow.second.ticket.id}`, as('cs'));
    expectDocumented(t, 'GET', '/api/v1/tickets/{id}');
  });
});
