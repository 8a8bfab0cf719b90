// End-to-end: field work in the web app (docs/fieldwork.md), in real
// headless Chromium against a real gssd, Redis and PostgreSQL
// (tests/integration/harness.mjs).
//
// The story: CS opens a ticket with a site (lat/lng) for two technicians,
// both claim it (API). On 360 px phones: technician 1 sees it first in "Job
// Saya" with their state, opens it (call / WhatsApp / map / Surat Tugas) and
// checks in inside the fence; technician 2 checks in 2 km away (outside),
// uploads a BAST through the camera's file chooser, loses signal, taps
// Check-out (kept on the phone, shown as waiting), gets signal back (sent by
// itself, with its Idempotency-Key), and taps "Selesai". CS on a desktop
// then reads both check-ins with their verdicts and flags, the BAST
// thumbnail and the timeline, and cancels another ticket through the
// confirm dialog. Also: axe-core's WCAG 2 A/AA rules on the new-ticket page
// (customer picker open), and the 360 px header (the name never covers the
// Live badge).
//
// Screenshots go to GSS_SHOTS_DIR (default /tmp/gss-shots).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

import { SOURCE_DIR, startGssd, runGssd, psql, http, waitFor } from '../integration/harness.mjs';

const require = createRequire(import.meta.url);
const SHOTS = process.env.GSS_SHOTS_DIR || '/tmp/gss-shots';
const CHROMIUM = process.env.GSS_CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'rahasia-e2e-2';
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const T = 15000;

// The site: Jl. Kemang Raya, Jakarta Selatan.
const SITE = { latitude: -6.2607, longitude: 106.8137 };
// 2 km north of it (1° of latitude ≈ 111.2 km).
const FAR = { latitude: SITE.latitude + 2 / 111.2, longitude: SITE.longitude };

let g;
let browser;
let customerId;
const users = {}; // username → {id, token}
const pages = [];

// ---- helpers -------------------------------------------------------------------

async function addUser(username, role, name) {
  const r = await runGssd(['user', 'add', username, '--role', role, '--name', name], {
    env: { GSS_DATABASE_URL: g.database.url, GSS_ARGON2_FAST: '1', GSS_LOG_LEVEL: 'warn' },
    input: `${PASSWORD}\n`,
  });
  if (r.code !== 0) throw new Error(`user add ${username} exited ${r.code}: ${r.stderr}${r.stdout}`);
  const login = await http(`${g.url}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  if (login.status !== 200) throw new Error(`login ${username}: ${login.status} ${login.text}`);
  users[username] = { id: login.json.user.id, token: login.json.token };
}

/** call(user, method, path, body) → {status, json, text} of /api/v1{path}. */
async function call(username, method, p, body) {
  const headers = { authorization: `Bearer ${users[username].token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return http(`${g.url}/api/v1${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function ticketAs(username, id) {
  const r = await call(username, 'GET', `/tickets/${id}`);
  assert.equal(r.status, 200, `GET /tickets/${id}: ${r.text}`);
  return r.json;
}

// The field-work backend is written alongside this UI. Without it every
// step below would only time out; say what is missing instead.
let backendProblem = null;
function requireBackend() {
  if (backendProblem) throw new Error(`field-work backend missing: ${backendProblem}`);
}

/** A real PNG (w×h, a gradient with a dark frame), built here. */
function makePng(w, h) {
  const crcTable = new Int32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  const crc32 = (buf) => {
    let c = -1;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ -1) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      const frame = x < 8 || y < 8 || x >= w - 8 || y >= h - 8 || (y > h / 2 - 3 && y < h / 2 + 3);
      raw[o] = frame ? 20 : 200 + (x * 55) / w;
      raw[o + 1] = frame ? 40 : 220 - (y * 60) / h;
      raw[o + 2] = frame ? 90 : 240;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Jakarta's calendar date of an instant, and the UTC instant of a Jakarta wall clock. */
const jakartaYmd = (d) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Jakarta' }).format(d);
const jakartaAt = (ymd, hm) => new Date(`${ymd}T${hm}:00+07:00`).toISOString().replace(/\.\d{3}Z$/, 'Z');

async function openPage(name, opts, { setup } = {}) {
  const context = await browser.newContext({ locale: 'id-ID', timezoneId: 'Asia/Jakarta', ...opts });
  if (setup) await setup(context);
  const page = await context.newPage();
  const rec = { name, context, page, console: [], pageErrors: [] };
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') rec.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => rec.pageErrors.push(String(e && e.stack || e)));
  pages.push(rec);
  return rec;
}

const phone = (name, geo, extra = {}) => openPage(name, {
  ...PHONE, permissions: ['geolocation'], geolocation: { ...geo, accuracy: 12 }, ...extra,
});

async function shot(page, name, opts = {}) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), ...opts });
}

async function login(page, username) {
  await page.goto(`${g.url}/`);
  await page.locator('#login-username').fill(username);
  await page.locator('#login-password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Masuk' }).click();
  await page.locator('.who-name').waitFor({ timeout: T });
}

/** axe-core's WCAG 2 A/AA violations of the page as it is now. Evaluated
 *  through the DevTools protocol, so the page keeps its own CSP. */
async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  }
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return r.violations.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
}

const overlap = (a, b) => a && b && a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** The header at this width: name, Live badge, brand and "Keluar" side by
 *  side, none over another, nothing wider than the screen. */
async function assertHeaderFits(page, what, { live: needLive = true } = {}) {
  if (needLive) await page.locator('.live[data-state="live"]').waitFor({ timeout: T });
  const box = async (sel) => page.locator(sel).first().boundingBox();
  const name = await box('.who-name');
  const live = await box('.live');
  const brand = await box('.brand');
  const out = await box('.topbar-right > .btn');
  assert.ok(name && live && brand && out, `${what}: header parts are visible`);
  assert.ok(!overlap(name, live), `${what}: the name ${JSON.stringify(name)} covers the Live badge ${JSON.stringify(live)}`);
  assert.ok(!overlap(name, out), `${what}: the name covers "Keluar"`);
  assert.ok(!overlap(live, brand), `${what}: the Live badge covers the brand`);
  assert.ok(name.x >= live.x + live.width, `${what}: the name sits right of the Live badge`);
  const vw = page.viewportSize().width;
  for (const [n, b] of Object.entries({ name, live, brand, out })) {
    assert.ok(b.x >= 0 && b.x + b.width <= vw + 0.5, `${what}: ${n} ${JSON.stringify(b)} is inside the ${vw} px screen`);
  }
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scroll <= vw, `${what}: the page is ${scroll} px wide on a ${vw} px screen`);
}

// ---- setup ---------------------------------------------------------------------

before(async () => {
  // No browser is a failure, not a skip: the screens would go untested.
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (set GSS_CHROMIUM)`);
  fs.mkdirSync(SHOTS, { recursive: true });
  g = await startGssd({ env: { GSS_GEOFENCE_M: '200' } });
  await addUser('cs1', 'cs', 'Citra Customer Service');
  await addUser('ts1', 'ts', 'Teguh Santoso Wijayakusuma Pratama');
  await addUser('ts2', 'ts', 'Tono Wibowo');
  const rows = await psql(g.database.url,
    "INSERT INTO customers (name, phone, address, source) VALUES " +
    "('Budi Santoso', '6281211110001', 'Jl. Kemang Raya No. 12, Jakarta Selatan', 'manual') RETURNING id");
  customerId = Number(rows[0][0]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, { timeout: 120000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
});

// ---- the labels, in node -----------------------------------------------------------

describe('field-work labels (web/js/format.js)', () => {
  it('words a fix the way technicians and CS read it', async () => {
    const f = await import(pathToFileURL(path.join(SOURCE_DIR, 'web/js/format.js')).href);
    assert.equal(f.geofenceText({ geofence: 'inside', distance_m: 35.2, accuracy_m: 12 }), 'Di dalam area');
    assert.equal(f.geofenceText({ geofence: 'outside', distance_m: 250.4, accuracy_m: 12 }), 'Di luar area (250 m)');
    assert.equal(f.geofenceText({ geofence: 'outside', distance_m: 2049, accuracy_m: 12 }), 'Di luar area (2,0 km)');
    assert.equal(f.geofenceText({ geofence: 'uncertain', distance_m: 150, accuracy_m: 300 }), 'Belum pasti: akurasi GPS 300 m');
    assert.match(f.geofenceText({ geofence: 'uncertain', distance_m: null, accuracy_m: 10 }), /tanpa koordinat/);
    assert.equal(f.distanceLine(35.2), '35 m dari lokasi');
    assert.equal(f.distanceLine(null), '');
    assert.equal(f.accuracyText(12.4), '±12 m');
    assert.equal(f.flagText('implausible_speed'), 'Kecepatan tidak wajar sejak lokasi sebelumnya');
    assert.equal(f.flagText('duplicate_fix'), 'Lokasi persis sama dengan lokasi sebelumnya (kemungkinan palsu)');
    assert.equal(f.flagText('suspicious_accuracy'), 'Akurasi ≤ 1 m (tidak wajar untuk GPS ponsel)');
    assert.equal(f.flagText('clock_skew'), 'Waktu ponsel tidak cocok dengan server');
    assert.equal(f.flagText('offline'), 'Dikirim belakangan (tanpa sinyal)');
    assert.equal(f.assignmentLabel('checked_in'), 'Sudah check-in');
    assert.equal(f.actionLabel('ticket.cancel'), 'Tiket dibatalkan');
    assert.equal(f.actionLabel('assignment.checkin'), 'Check-in');
    assert.equal(f.actionLabel('ticket.status'), 'Status tiket berubah');
    assert.equal(f.phoneIntl('0812-1111-0001'), '6281211110001');
    assert.equal(f.phoneIntl('+62 812 1111 0001'), '6281211110001');
    assert.equal(f.bytesText(1536), '1,5 KB');
  });
});

// ---- the story -------------------------------------------------------------------------

describe('field work on a phone, read by CS', () => {
  let ticket; // today's job, two technicians
  let later; // tomorrow's job of technician 1
  let t1;
  let t2;
  const checkoutRequests = [];

  it('CS opens a ticket with a site, both technicians claim it (API)', { timeout: 60000 }, async () => {
    const today = jakartaYmd(new Date());
    const tomorrow = jakartaYmd(new Date(Date.now() + 86400000));
    const mk = async (problem, scheduled, n) => {
      const r = await call('cs1', 'POST', '/tickets', {
        customer_id: customerId, problem, address: 'Jl. Kemang Raya No. 12, Bangka, Mampang Prapatan',
        area: 'Jakarta Selatan', lat: SITE.latitude, lng: SITE.longitude, scheduled_at: scheduled, techs_needed: n, urgent: false,
      });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    later = await mk('Cuci AC 2 unit (besok)', jakartaAt(tomorrow, '09:00'), 1);
    ticket = await mk('AC split 1 PK tidak dingin, keluar angin saja', jakartaAt(today, '23:59'), 2);
    for (const [u, t] of [['ts1', later], ['ts1', ticket], ['ts2', ticket]]) {
      const c = await call(u, 'POST', `/pool/${t.id}/claim`, {});
      assert.equal(c.status, 200, `${u} claims ${t.code}: ${c.text}`);
    }
    // Is the field-work API there? (GET answers checkins[]; the routes answer.)
    const t = await waitFor(async () => {
      const r = await ticketAs('cs1', ticket.id);
      return r.technicians.length === 2 && r;
    }, { timeout: T, what: 'both assignments in PostgreSQL' });
    const probe = await call('ts1', 'POST', `/tickets/${ticket.id}/checkin`, { lat: 'x' });
    if (probe.status === 404 || probe.status === 405) {
      backendProblem = `POST /api/v1/tickets/{id}/checkin answered ${probe.status} (${probe.text.slice(0, 120)})`;
    } else if (!Array.isArray(t.checkins) || !Array.isArray(t.attachments) || !Array.isArray(t.timeline)) {
      backendProblem = 'GET /api/v1/tickets/{id} has no checkins[] / attachments[] / timeline[]';
    } else if (!t.technicians.every((x) => typeof x.state === 'string')) {
      backendProblem = 'GET /api/v1/tickets/{id} technicians[] carry no state';
    }
    requireBackend();
  });

  it('"Job Saya" on a 360 px phone: today\'s job first, with the technician\'s state', { timeout: 60000 }, async () => {
    requireBackend();
    t1 = await phone('ts1', SITE);
    await login(t1.page, 'ts1');
    await assertHeaderFits(t1.page, 'board, 360 px, long name');
    await shot(t1.page, 'fw-ts1-board-header-360');
    await t1.page.getByRole('link', { name: 'Job Saya' }).click();
    const cards = t1.page.locator('.ticket-card');
    await t1.page.locator(`.ticket-card[data-ticket-id="${ticket.id}"]`).waitFor({ timeout: T });
    await t1.page.locator(`.ticket-card[data-ticket-id="${later.id}"]`).waitFor({ timeout: T });
    const order = await cards.evaluateAll((els) => els.map((e) => Number(e.dataset.ticketId)));
    assert.ok(order.indexOf(ticket.id) < order.indexOf(later.id), `today's job first: ${order}`);
    const mine = t1.page.locator(`.ticket-card[data-ticket-id="${ticket.id}"]`);
    await waitFor(async () => (await mine.locator('[data-testid="my-state"]').textContent()) === 'Belum check-in',
      { timeout: T, what: 'the state "Belum check-in" on the card' });
    await t1.page.locator('.group-title', { hasText: 'Hari ini' }).waitFor({ timeout: T });
    await shot(t1.page, 'fw-ts1-my-jobs-360', { fullPage: true });
  });

  it('the job page: call, WhatsApp, map and the Surat Tugas', { timeout: 60000 }, async () => {
    requireBackend();
    const p = t1.page;
    await p.locator(`.ticket-card[data-ticket-id="${ticket.id}"]`).click();
    await p.waitForURL(new RegExp(`#/jobs/${ticket.id}$`));
    await p.locator('[data-testid="checkin"]').waitFor({ timeout: T });
    assert.equal(await p.locator('[data-testid="tel"]').getAttribute('href'), 'tel:+6281211110001');
    assert.equal(await p.locator('[data-testid="wa"]').getAttribute('href'), 'https://wa.me/6281211110001');
    assert.match(await p.locator('[data-testid="map"]').getAttribute('href'), /query=-6\.2607,106\.8137/);
    const letter = p.locator('[data-testid="letter"]');
    assert.equal(await letter.getAttribute('href'), `/api/v1/tickets/${ticket.id}/letter.pdf`);
    assert.notEqual(await letter.getAttribute('download'), null, 'a download link');
    // The link works with the page's own cookie session.
    const pdf = await p.evaluate(async (href) => {
      const r = await fetch(href);
      const b = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, type: r.headers.get('content-type'), head: String.fromCharCode(...b.slice(0, 5)) };
    }, await letter.getAttribute('href'));
    assert.equal(pdf.status, 200, 'GET letter.pdf with the cookie');
    assert.match(pdf.type || '', /application\/pdf/);
    assert.equal(pdf.head, '%PDF-');
    // Every button of the page is a thumb's size.
    const small = await p.locator('main .btn:visible').evaluateAll((els) => els
      .map((e) => ({ t: e.textContent.trim(), h: e.getBoundingClientRect().height }))
      .filter((b) => b.h < 44));
    assert.deepEqual(small, [], 'buttons smaller than 44 px');
    await assertHeaderFits(p, 'job page, 360 px');
    assert.deepEqual(await axeViolations(p), [], 'axe on the job page');
    await shot(p, 'fw-ts1-job-360');
    await shot(p, 'fw-ts1-job-360-full', { fullPage: true });
  });

  it('technician 1 checks in at the site: "Di dalam area", and the server has it', { timeout: 60000 }, async () => {
    requireBackend();
    const p = t1.page;
    await p.locator('[data-testid="checkin"]').click();
    const v = p.locator('.step[data-step="2"] [data-testid="verdict"]');
    await v.waitFor({ timeout: T });
    const text = await v.textContent();
    assert.match(text, /Di dalam area/);
    assert.match(text, /\d+ m dari lokasi/);
    assert.match(text, /akurasi GPS ±12 m/);
    await shot(p, 'fw-ts1-checked-in-360');
    const t = await ticketAs('cs1', ticket.id);
    const mine = t.checkins.filter((c) => c.tech_id === users.ts1.id);
    assert.equal(mine.length, 1, JSON.stringify(t.checkins));
    assert.equal(mine[0].kind, 'in');
    assert.equal(mine[0].geofence, 'inside');
    assert.ok(mine[0].distance_m < 50, `distance ${mine[0].distance_m}`);
    assert.equal(t.technicians.find((x) => x.tech_id === users.ts1.id).state, 'checked_in');
  });

  it('technician 2 checks in 2 km away: "Di luar area"', { timeout: 60000 }, async () => {
    requireBackend();
    t2 = await phone('ts2', FAR);
    t2.page.on('request', (r) => {
      if (r.url().endsWith(`/api/v1/tickets/${ticket.id}/checkout`)) checkoutRequests.push(r.headers());
    });
    await login(t2.page, 'ts2');
    await t2.page.goto(`${g.url}/#/jobs/${ticket.id}`);
    await t2.page.locator('[data-testid="checkin"]').click();
    const v = t2.page.locator('.step[data-step="2"] [data-testid="verdict"]');
    await v.waitFor({ timeout: T });
    assert.match(await v.textContent(), /Di luar area \(2,0 km\)/);
    await shot(t2.page, 'fw-ts2-outside-360');
  });

  it('technician 2 photographs the BAST: progress, then listed with its thumbnail', { timeout: 60000 }, async () => {
    requireBackend();
    const p = t2.page;
    // Check-out and "Selesai" wait for the BAST; the page says so.
    assert.equal(await p.locator('[data-testid="complete"]').isDisabled(), true);
    assert.match(await p.locator('#fw-complete-why').textContent(), /BAST/);
    const png = makePng(320, 240);
    const [chooser] = await Promise.all([
      p.waitForEvent('filechooser'),
      p.locator('label', { hasText: 'Foto BAST' }).click(),
    ]);
    assert.equal(await chooser.element().getAttribute('capture'), 'environment');
    assert.match(await chooser.element().getAttribute('accept'), /image\/\*/);
    const [resp] = await Promise.all([
      p.waitForResponse((r) => r.url().includes(`/api/v1/tickets/${ticket.id}/attachments`) && r.request().method() === 'POST'),
      chooser.setFiles({ name: 'bast.png', mimeType: 'image/png', buffer: png }),
    ]);
    assert.equal(resp.status(), 201, await resp.text());
    const req = resp.request();
    assert.equal(req.headers()['content-type'], 'image/png', 'the raw file as the body');
    assert.match(req.headers()['idempotency-key'] || '', /^[A-Za-z0-9_-]{1,64}$/);
    assert.ok(req.headers()['x-csrf-token'], 'X-CSRF-Token on the upload');
    const thumb = p.locator('.step[data-step="3"] .thumb[data-kind="bast"] img');
    await thumb.waitFor({ timeout: T });
    assert.match(await thumb.getAttribute('src'), /^\/api\/v1\/attachments\/\d+$/);
    await waitFor(() => thumb.evaluate((img) => img.complete && img.naturalWidth === 320), { timeout: T, what: 'the thumbnail loaded' });
    assert.deepEqual(await axeViolations(p), [], 'axe on the job page with a BAST');
    await shot(p, 'fw-ts2-bast-360');
  });

  it('offline: the check-out waits on the phone, then goes by itself when the signal returns', { timeout: 90000 }, async () => {
    requireBackend();
    const p = t2.page;
    await t2.context.setOffline(true);
    await p.locator('[data-testid="checkout"]').click();
    await p.locator('[data-testid="waiting-checkout"]').waitFor({ timeout: T });
    const bar = p.locator('[data-testid="outbox-bar"]');
    await bar.waitFor({ state: 'visible', timeout: T });
    assert.equal(await p.locator('[data-testid="outbox-text"]').textContent(), 'Menunggu sinyal: 1 check-out');
    await assertHeaderFits(p, 'job page offline, with the waiting banner', { live: false });
    await shot(p, 'fw-ts2-offline-waiting-360');
    // Kept in IndexedDB, not only in memory.
    const stored = await p.evaluate(() => new Promise((resolve, reject) => {
      const r = indexedDB.open('gss-outbox');
      r.onsuccess = () => {
        const q = r.result.transaction('items').objectStore('items').getAll();
        q.onsuccess = () => resolve(q.result.map((i) => ({ kind: i.kind, id: i.id, body: i.body })));
        q.onerror = () => reject(q.error);
      };
      r.onerror = () => reject(r.error);
    }));
    assert.equal(stored.length, 1, JSON.stringify(stored));
    assert.equal(stored[0].kind, 'checkout');
    assert.match(stored[0].body.fix_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'the fix time, ISO UTC');
    let t = await ticketAs('cs1', ticket.id);
    assert.equal(t.checkins.filter((c) => c.kind === 'out').length, 0, 'nothing reached the server yet');

    await t2.context.setOffline(false);
    await p.locator('.step[data-step="4"] [data-testid="verdict"]').waitFor({ timeout: 30000 });
    await bar.waitFor({ state: 'hidden', timeout: T });
    assert.ok(checkoutRequests.length >= 1, 'the check-out was sent');
    assert.equal(checkoutRequests.at(-1)['idempotency-key'], stored[0].id, 'with the key it was stored under');
    t = await ticketAs('cs1', ticket.id);
    const outs = t.checkins.filter((c) => c.kind === 'out' && c.tech_id === users.ts2.id);
    assert.equal(outs.length, 1, JSON.stringify(t.checkins));
    assert.equal(Date.parse(outs[0].fix_at), Date.parse(stored[0].body.fix_at), 'the fix time is the phone\'s');
    await shot(p, 'fw-ts2-checked-out-360');
  });

  it('"Selesai" once checked out with a BAST', { timeout: 60000 }, async () => {
    requireBackend();
    const p = t2.page;
    const done = p.locator('[data-testid="complete"]');
    await waitFor(async () => !(await done.isDisabled()), { timeout: T, what: '"Selesai" enabled' });
    const [resp] = await Promise.all([
      p.waitForResponse((r) => r.url().endsWith(`/api/v1/tickets/${ticket.id}/complete`)),
      done.click(),
    ]);
    assert.equal(resp.status(), 200, await resp.text());
    await p.getByText('Pekerjaan Anda di job ini sudah selesai.').waitFor({ timeout: T });
    const t = await ticketAs('cs1', ticket.id);
    assert.equal(t.technicians.find((x) => x.tech_id === users.ts2.id).state, 'done');
    await shot(p, 'fw-ts2-done-360', { fullPage: true });
  });

  it('CS on a desktop reads the check-ins, verdicts, flags, BAST and timeline', { timeout: 60000 }, async () => {
    requireBackend();
    const cs = await openPage('cs', DESKTOP);
    const p = cs.page;
    await login(p, 'cs1');
    await p.goto(`${g.url}/#/tiket/${ticket.id}`);
    const items = p.locator('.checkin');
    await waitFor(async () => (await items.count()) === 3, { timeout: T, what: 'three check-ins listed' });
    const server = await ticketAs('cs1', ticket.id);
    for (const c of server.checkins) {
      const el = p.locator(`.checkin[data-checkin-id="${c.id}"]`);
      const text = await el.textContent();
      const verdict = { inside: /Di dalam area/, outside: /Di luar area/, uncertain: /Belum pasti/ }[c.geofence];
      assert.match(text, verdict, `check-in ${c.id} (${c.geofence})`);
      assert.match(text, c.kind === 'in' ? /Check-in/ : /Check-out/);
      assert.match(text, /WIB/);
      if (c.distance_m !== null) assert.match(text, /m dari lokasi|km dari lokasi/);
      assert.equal(await el.locator('.flag').count(), c.flags.length, `flags of ${c.id}: ${c.flags}`);
    }
    const explained = {
      implausible_speed: 'Kecepatan tidak wajar sejak lokasi sebelumnya',
      duplicate_fix: 'Lokasi persis sama dengan lokasi sebelumnya (kemungkinan palsu)',
      suspicious_accuracy: 'Akurasi ≤ 1 m (tidak wajar untuk GPS ponsel)',
      clock_skew: 'Waktu ponsel tidak cocok dengan server',
      offline: 'Dikirim belakangan (tanpa sinyal)',
    };
    const flags = await p.locator('.flag').evaluateAll((els) => els.map((e) => [e.dataset.flag, e.textContent.trim()]));
    // Technician 2's check-out is the very fix of its check-in.
    assert.ok(flags.some(([f]) => f === 'duplicate_fix'), `duplicate_fix shown: ${JSON.stringify(flags)}`);
    for (const [f, text] of flags) assert.equal(text, explained[f], `flag ${f} explained`);
    // The technicians and their states.
    const techText = await p.locator('.tech-list').textContent();
    assert.match(techText, /Sudah check-in/);
    assert.match(techText, /Selesai/);
    // The BAST through the access-checked URL.
    const img = p.locator('.thumb[data-kind="bast"] img');
    await waitFor(() => img.evaluate((e) => e.complete && e.naturalWidth === 320), { timeout: T, what: 'the BAST thumbnail' });
    assert.match(await img.getAttribute('src'), /^\/api\/v1\/attachments\/\d+$/);
    // The timeline, oldest first, in Jakarta time and Indonesian.
    const tl = await p.locator('.tl-item').allTextContents();
    assert.ok(tl.length >= server.timeline.length && tl.length >= 4, `timeline: ${tl.length} of ${server.timeline.length}`);
    assert.match(tl[0], /Tiket dibuat/);
    for (const line of tl) assert.match(line, /WIB/);
    // Every action in words, not its code spelled out.
    const shown = await p.locator('.tl-what .strong').allTextContents();
    server.timeline.forEach((e, i) => {
      assert.notEqual(shown[i], String(e.action).replace(/[._]+/g, ' ').trim(), `action "${e.action}" is not translated`);
    });
    assert.deepEqual(await axeViolations(p), [], 'axe on the CS ticket page');
    await shot(p, 'fw-cs-ticket-desktop', { fullPage: true });
  });

  it('CS cancels another ticket through the confirm dialog, with a reason', { timeout: 60000 }, async () => {
    requireBackend();
    const r = await call('cs1', 'POST', '/tickets', {
      customer_id: customerId, problem: 'Pasang AC baru 1 PK', address: 'Jl. Kemang Raya No. 12',
      area: 'Jakarta Selatan', scheduled_at: jakartaAt(jakartaYmd(new Date(Date.now() + 2 * 86400000)), '10:00'), techs_needed: 1,
    });
    assert.equal(r.status, 201, r.text);
    const cs = pages.find((x) => x.name === 'cs');
    const p = cs.page;
    await p.goto(`${g.url}/#/tiket/${r.json.id}`);
    await p.getByRole('button', { name: 'Batalkan Tiket' }).click();
    const dialog = p.getByRole('dialog');
    await dialog.waitFor({ timeout: T });
    await dialog.getByLabel(/Alasan/).fill('Pelanggan menunda sampai bulan depan');
    await shot(p, 'fw-cs-cancel-dialog-desktop');
    const [resp] = await Promise.all([
      p.waitForResponse((x) => x.url().endsWith(`/api/v1/tickets/${r.json.id}/cancel`)),
      dialog.getByRole('button', { name: 'Ya, batalkan tiket' }).click(),
    ]);
    assert.equal(resp.status(), 200, await resp.text());
    assert.deepEqual(JSON.parse(resp.request().postData()), { reason: 'Pelanggan menunda sampai bulan depan' });
    await p.locator('.detail .badge-status', { hasText: 'Dibatalkan' }).waitFor({ timeout: T });
    assert.equal(await p.getByRole('button', { name: 'Batalkan Tiket' }).count(), 0, 'no cancel button on a cancelled ticket');
    assert.equal((await ticketAs('cs1', r.json.id)).status, 'cancelled');
  });
});

describe('accessibility and layout', () => {
  it('at 360 px the header keeps a long name off the Live badge', { timeout: 60000 }, async () => {
    const t = await openPage('header-360', PHONE);
    await login(t.page, 'ts1'); // "Teguh Santoso Wijayakusuma Pratama"
    await assertHeaderFits(t.page, 'board, 360 px');
    const name = t.page.locator('.who-name');
    assert.equal(await name.evaluate((e) => getComputedStyle(e).textOverflow), 'ellipsis');
    assert.ok(await name.evaluate((e) => e.scrollWidth > e.clientWidth), 'the long name is cut with "…"');
    await shot(t.page, 'fw-header-360');
    // And as wide as a desktop the whole name shows.
    await t.page.setViewportSize({ width: 1280, height: 800 });
    assert.ok(await name.evaluate((e) => e.scrollWidth <= e.clientWidth), 'the whole name at 1280 px');
  });

  it('the new-ticket page, customer picker open, passes axe-core WCAG 2 A/AA', { timeout: 60000 }, async () => {
    // axe.min.js is injected as a script: the test context bypasses the
    // page's CSP for that (the app itself never needs it).
    const a = await openPage('axe', { ...DESKTOP, bypassCSP: true });
    const p = a.page;
    await login(p, 'cs1');
    await p.goto(`${g.url}/#/tiket/baru`);
    await p.locator('#nt-customer-q').waitFor({ timeout: T });
    await p.locator('#nt-customer-q').fill('Budi');
    await p.locator('[role="option"]', { hasText: 'Budi Santoso' }).waitFor({ timeout: T });
    await p.locator('#nt-customer-q').press('ArrowDown');
    assert.equal(await p.locator('#nt-customer-q').getAttribute('aria-activedescendant'),
      await p.locator('[role="option"]').first().getAttribute('id'));
    await p.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
    const run = () => p.evaluate(async () => {
      const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
      return r.violations.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(' ')) }));
    });
    assert.deepEqual(await run(), [], 'picker open');
    await shot(p, 'fw-newticket-picker-desktop');
    await p.locator('#nt-customer-q').press('Enter');
    await p.locator('.picked', { hasText: 'Budi Santoso' }).waitFor({ timeout: T });
    assert.deepEqual(await run(), [], 'customer picked');
    await p.setViewportSize({ width: 360, height: 740 });
    await p.locator('.picked button').click();
    await p.locator('[role="option"]').first().waitFor({ timeout: T });
    assert.deepEqual(await run(), [], 'picker open at 360 px');
    await shot(p, 'fw-newticket-picker-360');
  });

  it('no CSP violation, no uncaught error, only expected failed requests', async () => {
    const problems = [];
    for (const rec of pages) {
      let csp = [];
      if (!rec.page.isClosed()) csp = await rec.page.evaluate(() => window.__csp || []).catch(() => []);
      for (const v of csp) problems.push(`${rec.name}: CSP violation ${v}`);
      for (const e of rec.pageErrors) problems.push(`${rec.name}: uncaught ${e}`);
      for (const m of rec.console) {
        if (/Content Security Policy|Refused to/i.test(m)) problems.push(`${rec.name}: ${m}`);
        // 401 before login; the offline part's requests fail on purpose.
        else if (!/Failed to load resource: (the server responded with a status of (401|404|409)\b|net::ERR_INTERNET_DISCONNECTED)/.test(m)) {
          problems.push(`${rec.name}: console ${m}`);
        }
      }
      const inline = rec.page.isClosed() ? [] : await rec.page.evaluate(() =>
        [...document.querySelectorAll('[style]:not([style=""]), script:not([src]), style')].map((e) => e.outerHTML.slice(0, 200))).catch(() => []);
      if (rec.name !== 'axe') for (const e of inline) problems.push(`${rec.name}: inline style/script: ${e}`);
    }
    assert.deepEqual(problems, []);
  });
});
