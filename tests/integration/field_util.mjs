// Helpers shared by the field-work integration tests (fieldwork, letter,
// uploads): a gssd with CS, Sales, admin and a supply of technicians, tickets
// with coordinates claimed by given technicians, GPS fixes, uploads over raw
// sockets, and the geometry and file formats the tests compute themselves
// (haversine, tiny PNG and PDF files) so that no expected value comes from
// the code under test.
//
// Nothing here starts processes of its own except through harness.mjs,
// which tears everything down at the end of the file.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import { startGssd, startRedis, createDatabase, http, psql, rawConnect, parseResponses } from './harness.mjs';
import { addUser, bulkTechs, bulkCustomers, login, loginAll, api, createTicket, claim } from './pool_util.mjs';

// ---------------------------------------------------------------------------
// Geometry, written here from the textbook formula

/** Mean Earth radius (IUGG), metres. A server using 6371000 differs by
 *  1.4 ppm, far inside the tolerances below. */
export const EARTH_R = 6371008.8;

/** haversine(lat1, lng1, lat2, lng2) → great-circle distance in metres. */
export function haversine(lat1, lng1, lat2, lng2) {
  const rad = Math.PI / 180;
  const dphi = (lat2 - lat1) * rad;
  const dlmb = (lng2 - lng1) * rad;
  const a = Math.sin(dphi / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dlmb / 2) ** 2;
  return 2 * EARTH_R * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** offset(lat, lng, northM, eastM) → {lat, lng} moved by about that many
 *  metres (small distances; the exact distance is then measured with
 *  haversine, never assumed). */
export function offset(lat, lng, northM, eastM) {
  const dLat = northM / EARTH_R * 180 / Math.PI;
  const dLng = eastM / (EARTH_R * Math.cos(lat * Math.PI / 180)) * 180 / Math.PI;
  return { lat: lat + dLat, lng: lng + dLng };
}

/** assertDistance(got, want, what): the server rounds to 0.1 m; allow that
 *  plus 0.1 % for the choice of Earth radius. */
export function assertDistance(got, want, what) {
  assert.equal(typeof got, 'number', `${what}: distance_m is a number: ${got}`);
  const tol = 0.15 + want * 0.001;
  assert.ok(Math.abs(got - want) <= tol, `${what}: distance_m ${got}, own haversine ${want.toFixed(2)} (±${tol.toFixed(2)})`);
}

/** isoSec(ms) → "YYYY-MM-DDTHH:MM:SSZ" (whole seconds, as the API writes times). */
export function isoSec(ms) {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// ---------------------------------------------------------------------------
// Files made by hand

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xFFFFFFFF;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >>> 8);
  return (c ^ 0xFFFFFFFF) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** makePng(w, h, seed) → a valid RGB PNG of w×h pixels (colours from seed). */
export function makePng(w = 4, h = 3, seed = 1) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + w * 3);
    for (let x = 0; x < w; x++) {
      row[1 + x * 3] = (x * 40 + seed) & 0xFF;
      row[2 + x * 3] = (y * 60 + seed * 3) & 0xFF;
      row[3 + x * 3] = (seed * 7) & 0xFF;
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** makePdf(text) → a valid one-page PDF (xref offsets computed). */
export function makePdf(text = 'BAST') {
  const safe = text.replace(/[()\\]/g, '');
  const stream = `BT /F1 18 Tf 20 50 Td (${safe}) Tj ET`;
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets = [];
  objs.forEach((o, i) => { offsets.push(out.length); out += `${i + 1} 0 obj\n${o}\nendobj\n`; });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** bigFile(n, magic) → n bytes starting with magic ('pdf' | 'png'), the
 *  rest random (so that each file has its own sha256). */
export function bigFile(n, magic = 'pdf') {
  const head = magic === 'png' ? Buffer.from([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) : Buffer.from('%PDF-1.4\n%', 'latin1');
  return Buffer.concat([head, crypto.randomBytes(n - head.length)]);
}

/** sha256hex(buf) */
export function sha256hex(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

/** filesUnder(dir) → relative paths of every regular file below dir
 *  (recursive; [] when dir does not exist). */
export function filesUnder(dir) {
  const out = [];
  const walk = (d, rel) => {
    let ents;
    try { ents = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of ents) {
      const p = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p, r); else out.push(r);
    }
  };
  walk(dir, '');
  return out.sort();
}

// ---------------------------------------------------------------------------
// A gssd with people and customers

/** Jakarta, Monas: where the tickets are unless a test says otherwise. */
export const SITE = { lat: -6.175392, lng: 106.827153 };

/**
 * fieldSetup({env, techs, tag}) → ctx {g, redis, database, cs, sales, admin,
 * customers, tech(), techs}: a gssd (own Redis and database) with a CS, a
 * Sales and an admin account logged in, and `techs` technicians logged in;
 * ctx.tech() hands out the next unused one ({id, username, token}).
 */
export async function fieldSetup({ env = {}, techs = 40, tag = 'f', redis, database, gssdEnv } = {}) {
  redis = redis || await startRedis();
  database = database || await createDatabase();
  const g = await startGssd({ redis, database, env: { GSS_LOG_REQUESTS: 0, ...env, ...(gssdEnv || {}) } });
  const ids = {
    cs: await addUser(g, `${tag}_cs`, 'cs'),
    sales: await addUser(g, `${tag}_sales`, 'sales'),
    admin: await addUser(g, `${tag}_admin`, 'admin'),
  };
  const list = await bulkTechs(g, `${tag}t`, techs);
  const customers = await bulkCustomers(g, 5);
  await loginAll(g, list, 10);
  const ctx = {
    g, redis, database, customers, ids,
    cs: await login(g, `${tag}_cs`),
    sales: await login(g, `${tag}_sales`),
    admin: await login(g, `${tag}_admin`),
    techs: list,
    next: 0,
    tech() {
      assert.ok(this.next < this.techs.length, 'out of technicians: raise techs in fieldSetup');
      return this.techs[this.next++];
    },
  };
  return ctx;
}

/**
 * ticketFor(ctx, techs, extra) → the ticket (201 body) with techs_needed =
 * extra.techs_needed || techs.length, at SITE unless extra says otherwise,
 * claimed by each of techs (asserting 200 each).
 */
export async function ticketFor(ctx, techs, extra = {}) {
  const need = extra.techs_needed || Math.max(1, techs.length);
  const t = await createTicket(ctx.g, ctx.cs, ctx.customers[0], need, { lat: SITE.lat, lng: SITE.lng, ...extra });
  for (const tech of techs) {
    const c = await claim(ctx.g, tech.token, t.id);
    assert.equal(c.status, 200, `claim ${t.id} by ${tech.username}: ${c.status} ${c.text}`);
  }
  return t;
}

/** waitStatus(ctx, id, status, ms) → the ticket once GET (as CS) shows that
 *  status (the persister writes `assigned` a moment after the last claim). */
export async function waitStatus(ctx, id, status, ms = 10000) {
  const t0 = Date.now();
  let t;
  for (;;) {
    t = await getTicket(ctx.g, ctx.cs, id);
    if (t.status === status) return t;
    if (Date.now() - t0 > ms) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`ticket ${id} did not become ${status} within ${ms} ms; it is ${t.status}`);
}

/** fix(g, token, id, kind, body, {idem}) → http result of POST
 *  /api/v1/tickets/{id}/check<kind> with a JSON body. */
export function fix(g, token, id, kind, body, { idem, raw } = {}) {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  if (idem) headers['idempotency-key'] = idem;
  return http(`${g.url}/api/v1/tickets/${id}/check${kind}`, {
    method: 'POST', headers, body: raw !== undefined ? raw : JSON.stringify(body), timeout: 20000,
  });
}

/** getTicket(g, token, id) → the GET /api/v1/tickets/{id} body (asserts 200). */
export async function getTicket(g, token, id) {
  const r = await api(g, token, 'GET', `/api/v1/tickets/${id}`);
  assert.equal(r.status, 200, `GET ticket ${id}: ${r.status} ${r.text}`);
  return r.json;
}

/** upload(g, token, id, kind, bytes, {contentType, idem}) → http result. */
export function upload(g, token, id, kind, bytes, { contentType = 'application/pdf', idem } = {}) {
  const headers = { authorization: `Bearer ${token}`, 'content-type': contentType };
  if (idem) headers['idempotency-key'] = idem;
  return http(`${g.url}/api/v1/tickets/${id}/attachments?kind=${kind}`, {
    method: 'POST', headers, body: bytes, timeout: 30000,
  });
}

/**
 * rawUpload(port, token, id, kind, {headers, parts, expectContinue, wait})
 * → {res (parsed first non-1xx response or null), all (every parsed
 * response), conn}: the request head is written, then each Buffer of parts
 * (writes to a socket the server closed are ignored). Waits at most wait ms
 * for a final response.
 */
export async function rawUpload(port, token, id, kind, { headers = {}, parts = [], wait = 10000 } = {}) {
  const conn = await rawConnect(port);
  const h = {
    host: '127.0.0.1', authorization: `Bearer ${token}`, 'content-type': 'application/pdf', ...headers,
  };
  let head = `POST /api/v1/tickets/${id}/attachments?kind=${kind} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(h)) if (v !== null) head += `${k}: ${v}\r\n`;
  await conn.write(Buffer.from(`${head}\r\n`, 'latin1'));
  for (const p of parts) if (!(await conn.write(p))) break;
  const final = () => {
    try { return parseResponses(conn.data).find((r) => r.complete && r.status >= 200); } catch { return undefined; }
  };
  await conn.waitUntil(() => final() || conn.closed, wait);
  let all = [];
  try { all = parseResponses(conn.data).filter((r) => r.complete); } catch { all = []; }
  return { res: final() || null, all, conn };
}

/** countRows(dbUrl, sql) → the integer of a SELECT count(*). */
export async function countRows(dbUrl, sql) {
  const rows = await psql(dbUrl, sql);
  return Number(rows[0][0]);
}

export { api, createTicket, claim, login };
