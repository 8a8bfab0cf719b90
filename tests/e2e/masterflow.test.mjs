// End-to-end: the master flow (DESIGN.md §1, docs/money.md) in real headless
// Chromium against a real gssd, Redis and PostgreSQL
// (tests/integration/harness.mjs), five browser contexts open at once:
//
//   cs        CS on a desktop (1280×800)
//   ts1, ts2  two technicians on phones (360×740, touch, GPS at the site)
//   sales     Sales on a phone, the approval queue open since the login;
//             the second look comes from the Telegram link (a new tab)
//   customer  the customer on a phone, no login
//   ts3       a sixth context: a third technician's board
//
// The story, every step through the screens (the API only checks what the
// screens did): CS opens a ticket for two through "Tiket Baru"; both boards
// show it live, both technicians claim it, the third board loses it; the
// technicians take the Surat Tugas (a PDF), check in by GPS, upload the BAST
// (a PDF through the file chooser), check out and press Selesai; CS drafts
// the invoice (three rows, a discount, PPN 11 %), submits it; Sales asks for
// a revision with a note; CS reads the note, changes a price, submits again;
// Sales approves; CS sends it and reads the two customer links off the page;
// the customer opens the invoice (number, items, total) and the rating
// page, rates the service and each technician; CS records the payment in two
// parts (the second with a proof image), sees Lunas, closes the ticket, and
// the ticket page shows it closed with the rating and a timeline of it all.
//
// Every amount the test checks is computed here by hand from the rows it
// types (never read from the code under test). Labels are the exact names
// of docs/money.md's UI words (/work/notes/money-common.md); a field may add
// a hint in brackets ("Diskon (Rupiah, opsional)"), nothing else. Screens
// that only poll (the CS ticket and invoice pages, Sales' queue) are given
// the time a person would wait, and how long they took is noted.
//
// A failed step stops the story: the later steps fail at once, naming it.
//
// Screenshots: every main page at 360 px and at 1280 px (the other width by
// resizing the page for the picture), named mf-*-360.png / mf-*-desktop.png,
// go to GSS_SHOTS_DIR (default /tmp/gss-shots) like the other e2e tests; on
// a failure every open page is saved as mf-fail-*.png. What a user would
// stumble on but the contract does not forbid is printed as a test
// diagnostic and written to mf-stumbles.txt there.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

import { startGssd, runGssd, psql, http, waitFor, freePort, sleep } from '../integration/harness.mjs';
import { makePdf, makePng } from '../integration/field_util.mjs';
import { LINK_KEY } from '../integration/money_util.mjs';

const require = createRequire(import.meta.url);
const SHOTS = process.env.GSS_SHOTS_DIR || '/tmp/gss-shots';
const CHROMIUM = process.env.GSS_CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'rahasia-e2e-mf';
const PHONE_VP = { width: 360, height: 740 };
const DESKTOP_VP = { width: 1280, height: 800 };
const PHONE = { viewport: PHONE_VP, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const DESKTOP = { viewport: DESKTOP_VP };
const T = 15000; // how long a screen may take to show a change

// The site: Jl. Kemang Raya, Jakarta Selatan; the technicians stand a few
// metres from it (1e-4° of latitude ≈ 11 m), each phone its own spot.
const SITE = { latitude: -6.2607, longitude: 106.8137 };
const AT_SITE_1 = { latitude: SITE.latitude + 0.0001, longitude: SITE.longitude, accuracy: 12 };
const AT_SITE_2 = { latitude: SITE.latitude - 0.00008, longitude: SITE.longitude + 0.00005, accuracy: 9 };

const TAX_BP = 1100; // PPN 11 %, GSS_TAX_RATE_BP

// ---- the invoice, by hand ------------------------------------------------------------

const ROWS = [
  { description: 'Ganti kompresor AC 1 PK', qty: 1, unit_price: 1250000 },
  { description: 'Isi freon R32', qty: 2, unit_price: 175000 },
  { description: 'Jasa bongkar pasang unit', qty: 2, unit_price: 150000 },
];
const DISCOUNT = 100000;
// First version: 1.250.000 + 350.000 + 300.000 = 1.900.000; − 100.000 =
// 1.800.000; PPN 11 % = 198.000; total 1.998.000.
const V1 = { subtotal: 1900000, taxable: 1800000, tax: 198000, total: 1998000 };
// Sales: the freon at the price list's 149.975. Second version: 2 × 149.975
// = 299.950; subtotal 1.849.950; taxable 1.749.950; 11 % = 192.494,5 →
// half-up 192.495; total 1.942.445.
const NEW_FREON = 149975;
const V2 = { subtotal: 1849950, taxable: 1749950, tax: 192495, total: 1942445 };
const REVISION_NOTE = 'Harga freon R32 ikut daftar harga: Rp 149.975 per kg.';
const PAY1 = 1000000; // Tunai
const PAY2 = V2.total - PAY1; // 942.445, Transfer with a proof
const RATING = { service: 5, ts1: 5, ts2: 4, comment: 'Teknisi datang tepat waktu, AC dingin lagi. Terima kasih!' };

// Checked against the hand values above once, so a typo there fails here.
assert.equal(V1.subtotal, ROWS.reduce((s, r) => s + r.qty * r.unit_price, 0));
assert.equal(V1.total, V1.taxable + V1.tax);
assert.equal(V2.subtotal, V1.subtotal - 2 * 175000 + 2 * NEW_FREON);
assert.equal(V2.total, V2.taxable + V2.tax);

/** rp(1942445) → "Rp 1.942.445", written here, not taken from web/. */
function rp(n) {
  return `Rp ${String(n).replace(/\B(?=(\d{3})+(?!\d))/g, '.')}`;
}
/** Page text with non-breaking and repeated spaces made plain. */
const plain = (s) => String(s || '').replace(/[\u00a0\u202f]/g, ' ').replace(/[ \t]+/g, ' ');

// ---- state -----------------------------------------------------------------------------

let g;
let browser;
let customerId;
const users = {}; // username → {id, token, name}
const pages = []; // every page opened, for the console checks at the end
const stumbles = []; // what a real user would trip over (not contract failures)
const rec = {}; // name → page record

let failedAt = null; // the first step that failed: later ones do not run
let ticket = null; // {id, code}
let invoice = null; // the invoice JSON as the server last answered it
let invoiceUrl = null;
let ratingUrl = null;

// ---- helpers ---------------------------------------------------------------------------

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
  users[username] = { id: login.json.user.id, token: login.json.token, name };
}

/** call(user, method, path, body) → {status, json, text} of /api/v1{path}. */
async function call(username, method, p, body) {
  const headers = { authorization: `Bearer ${users[username].token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return http(`${g.url}/api/v1${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function apiTicket() {
  const r = await call('cs1', 'GET', `/tickets/${ticket.id}`);
  assert.equal(r.status, 200, `GET /tickets/${ticket.id}: ${r.text}`);
  return r.json;
}

async function apiInvoice(id = invoice.id) {
  const r = await call('cs1', 'GET', `/invoices/${id}`);
  assert.equal(r.status, 200, `GET /invoices/${id}: ${r.text}`);
  return r.json;
}

function stumble(where, what) {
  stumbles.push(`${where}: ${what}`);
}

async function openPage(name, opts, { setup } = {}) {
  const context = await browser.newContext({ locale: 'id-ID', timezoneId: 'Asia/Jakarta', acceptDownloads: true, ...opts });
  if (setup) await setup(context);
  const page = await context.newPage();
  const r = { name, context, page, console: [], pageErrors: [], loads: 0, phone: !!opts.isMobile };
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') r.console.push(`${m.type()}: ${m.text()} @ ${page.url()}`);
  });
  page.on('pageerror', (e) => r.pageErrors.push(String(e && e.stack || e)));
  page.on('load', () => { r.loads += 1; });
  pages.push(r);
  rec[name] = r;
  return r;
}

/** A second tab in the same browser (the same cookies), as a link tapped in
 *  Telegram opens; it becomes rec[name]. */
async function newTab(name, of) {
  const page = await of.context.newPage();
  const r = { ...of, name, page, console: [], pageErrors: [], loads: 0 };
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') r.console.push(`${m.type()}: ${m.text()} @ ${page.url()}`);
  });
  page.on('pageerror', (e) => r.pageErrors.push(String(e && e.stack || e)));
  page.on('load', () => { r.loads += 1; });
  pages.push(r);
  rec[name] = r;
  return r;
}

const phone = (name, geo) => openPage(name, geo
  ? { ...PHONE, permissions: ['geolocation'], geolocation: geo }
  : PHONE);

/** One screenshot at the page's own size (full page). */
async function shot(page, name, opts = {}) {
  // From the top: a full-page picture of a scrolled page draws the sticky
  // header where the scroll left it, over the middle of the page.
  await page.evaluate(() => window.scrollTo(0, 0)).catch(() => {});
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true, ...opts });
}

/** Both widths of a main page: its own, then the other one (the page is
 *  resized for the picture and back). */
async function shots(r, name) {
  const p = r.page;
  const own = p.viewportSize();
  const isPhone = own.width <= 400;
  // At 360 px nothing may be wider than the screen.
  const fits = async () => {
    const w = await p.evaluate(() => document.documentElement.scrollWidth);
    if (w > PHONE_VP.width) stumble(`${name} at 360 px`, `the page is ${w} px wide (scrolls sideways)`);
  };
  if (isPhone) await fits();
  await shot(p, `mf-${name}-${isPhone ? '360' : 'desktop'}`);
  await p.setViewportSize(isPhone ? DESKTOP_VP : PHONE_VP);
  await p.evaluate(() => new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(res))));
  await sleep(150);
  if (!isPhone) await fits();
  await shot(p, `mf-${name}-${isPhone ? 'desktop' : '360'}`);
  await p.setViewportSize(own);
  await p.evaluate(() => new Promise((res) => requestAnimationFrame(res)));
  await axeNote(p, name);
}

/** axe-core's WCAG 2 A/AA violations of the page as it is, noted as
 *  stumbles (the screens' own tests hold them to it; here they are news).
 *  Evaluated through the DevTools protocol, so the page keeps its CSP. */
async function axeNote(page, where) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  }
  const v = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return r.violations.map((x) => `${x.id} (${x.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')})`);
  });
  for (const x of v) stumble(`${where}: axe`, x);
}

async function login(page, username) {
  await page.goto(`${g.url}/`);
  await page.locator('#login-username').fill(username);
  await page.locator('#login-password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Masuk' }).click();
  await page.locator('.who-name').waitFor({ timeout: T });
}

/** The response to the request matching method and a path suffix (or regex)
 *  that action() causes. */
async function responseOf(page, method, pathEnd, action) {
  const match = (u) => (pathEnd instanceof RegExp ? pathEnd.test(new URL(u).pathname) : new URL(u).pathname.endsWith(pathEnd));
  const [resp] = await Promise.all([
    page.waitForResponse((x) => x.request().method() === method && match(x.url()), { timeout: T }),
    action(),
  ]);
  return resp;
}

async function jsonOf(resp) {
  const text = await resp.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${resp.request().method()} ${resp.url()} answered ${resp.status()} with no JSON: ${text.slice(0, 200)}`);
  }
}

async function expectStatus(resp, status) {
  if (resp.status() !== status) {
    throw new Error(`${resp.request().method()} ${new URL(resp.url()).pathname} answered ${resp.status()}, want ${status}: ${(await resp.text()).slice(0, 300)}`);
  }
}

/** The visible text of the page (main content), plain spaces. */
async function textOf(page) {
  return plain(await page.locator('body').innerText());
}

async function waitText(page, re, what, timeout = T) {
  return waitFor(async () => re.test(await textOf(page)), { timeout, interval: 200, what });
}

/** A PDF behind a link or a button: the link's href fetched with the page's
 *  cookies, else what a click downloads or opens. Returns the bytes. */
async function pdfBehind(r, locator) {
  const href = await locator.getAttribute('href').catch(() => null);
  if (href) {
    const resp = await r.context.request.get(new URL(href, r.page.url()).href);
    assert.equal(resp.status(), 200, `${href}: ${resp.status()}`);
    assert.match(resp.headers()['content-type'] || '', /^application\/pdf/, `${href}: Content-Type`);
    return resp.body();
  }
  const got = await Promise.race([
    r.page.waitForEvent('download', { timeout: T }).then((d) => ({ d })),
    r.context.waitForEvent('page', { timeout: T }).then((p) => ({ p })),
    locator.click().then(() => new Promise(() => {})),
  ]);
  if (got.d) return fs.readFileSync(await got.d.path());
  // A new tab: what its address answers (Chromium shows a PDF in its own
  // viewer, so the tab's document is not the file).
  await waitFor(() => got.p.url() !== 'about:blank' && got.p.url() !== '', { timeout: T, what: 'the new tab\'s address' });
  const url = got.p.url();
  await got.p.close();
  const resp = await r.context.request.get(url);
  assert.equal(resp.status(), 200, `${url}: ${resp.status()}`);
  assert.match(resp.headers()['content-type'] || '', /^application\/pdf/, `${url}: Content-Type`);
  return resp.body();
}

const isPdf = (buf) => Buffer.from(buf).subarray(0, 5).toString('latin1') === '%PDF-';

/** Jakarta's wall clock (date "YYYY-MM-DD", time "HH:MM") of an instant. */
function jakartaWall(ms) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Asia/Jakarta', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

/** A button by its exact accessible name on this page, else on the
 *  fallback route (where the contract does not say which page holds it). */
async function buttonSomewhere(page, name, fallbackHash) {
  const here = page.getByRole('button', { name, exact: true });
  if (await here.count()) return here.first();
  if (fallbackHash && !page.url().endsWith(fallbackHash)) {
    await page.goto(`${g.url}/${fallbackHash}`);
    const there = page.getByRole('button', { name, exact: true });
    await there.first().waitFor({ timeout: T });
    return there.first();
  }
  await here.first().waitFor({ timeout: T });
  return here.first();
}

/** lbl("Diskon") → the field labelled "Diskon", also with a hint in
 *  brackets after it ("Diskon (Rupiah, opsional)"), but not "Diskon lain". */
function lbl(name) {
  return new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s*\\(.*\\))?$`);
}

/** Fill one invoice row (0-based) through its labelled inputs. */
async function fillRow(page, i, row) {
  await page.getByLabel(lbl('Uraian')).nth(i).fill(row.description);
  await page.getByLabel(lbl('Jumlah')).nth(i).fill(String(row.qty));
  await page.getByLabel(lbl('Harga Satuan')).nth(i).fill(String(row.unit_price));
}

/** A star group ("Layanan" or a technician's name): a radiogroup, or a
 *  fieldset (role group) of radios; pick score n of 5. */
async function rate(page, groupName, n) {
  const group = page.getByRole('radiogroup', { name: groupName, exact: true })
    .or(page.getByRole('group', { name: groupName, exact: true })).first();
  await group.waitFor({ timeout: T });
  const radios = group.getByRole('radio');
  assert.equal(await radios.count(), 5, `"${groupName}" has 5 stars`);
  await radios.nth(n - 1).check();
  assert.equal(await radios.nth(n - 1).isChecked(), true, `"${groupName}": star ${n} checked`);
}

/** A step of the story: skipped with a clear reason when an earlier step
 *  failed; on its own failure every open page is photographed. */
function step(name, fn, timeout = 90000) {
  it(name, { timeout }, async (t) => {
    if (failedAt) {
      const e = new Error(`not run: the earlier step "${failedAt}" failed`);
      e.stack = e.message; // the cause is the earlier step's, not a line here
      throw e;
    }
    try {
      await fn(t);
    } catch (err) {
      failedAt = name;
      const tag = name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 40).toLowerCase();
      for (const r of pages) {
        if (!r.page.isClosed()) await shot(r.page, `mf-fail-${tag}-${r.name}`).catch(() => {});
      }
      throw err;
    }
  });
}

// ---- setup ----------------------------------------------------------------------------------

before(async () => {
  // No browser is a failure, not a skip: the screens would go untested.
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (set GSS_CHROMIUM)`);
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const f of fs.readdirSync(SHOTS)) if (/^mf-.*\.(png|txt)$/.test(f)) fs.rmSync(path.join(SHOTS, f));
  // The links sent to the customer must open this gssd: its public URL is
  // its own address, so the port is chosen here.
  const port = await freePort();
  g = await startGssd({
    env: {
      GSS_LISTEN: `127.0.0.1:${port}`, GSS_PUBLIC_URL: `http://127.0.0.1:${port}`,
      GSS_GEOFENCE_M: '200', GSS_LINK_KEY: LINK_KEY, GSS_TAX_RATE_BP: String(TAX_BP),
    },
  });
  await addUser('cs1', 'cs', 'Citra Customer Service');
  await addUser('ts1', 'ts', 'Teguh Santoso');
  await addUser('ts2', 'ts', 'Tono Wibowo');
  await addUser('ts3', 'ts', 'Tari Lestari');
  await addUser('sales1', 'sales', 'Santo Sales');
  const rows = await psql(g.database.url,
    "INSERT INTO customers (name, phone, address, source) VALUES " +
    "('Ibu Sari Wulandari', '6281234567890', 'Jl. Kemang Raya No. 12, Bangka, Mampang Prapatan', 'manual') RETURNING id");
  customerId = Number(rows[0][0]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, { timeout: 120000 });

after(async () => {
  if (stumbles.length) {
    fs.writeFileSync(path.join(SHOTS, 'mf-stumbles.txt'), `${stumbles.join('\n')}\n`);
    process.stderr.write(`masterflow: what a user would stumble on:\n  ${stumbles.join('\n  ')}\n`);
  }
  if (browser) await browser.close().catch(() => {});
});

// ---- the story ---------------------------------------------------------------------------------

describe('the master flow: ticket → field work → invoice → approval → customer → payment → close', () => {
  step('everyone opens the app: CS on a desktop, three technicians, Sales and the customer on phones', async () => {
    const cs = await openPage('cs', DESKTOP);
    const t1 = await phone('ts1', AT_SITE_1);
    const t2 = await phone('ts2', AT_SITE_2);
    const t3 = await phone('ts3');
    await phone('sales');
    await phone('customer');
    await Promise.all([login(cs.page, 'cs1'), login(t1.page, 'ts1'), login(t2.page, 'ts2'), login(t3.page, 'ts3'),
      login(rec.sales.page, 'sales1')]);
    for (const t of [t1, t2, t3]) {
      await t.page.waitForURL(/#\/papan$/, { timeout: T });
      await t.page.locator('.live[data-state="live"]').waitFor({ timeout: T });
      await t.page.evaluate(() => { window.__noReload = 'still-here'; });
    }
    await shots(t1, 'ts-board-empty');
  });

  step('CS creates a ticket needing 2 through "Tiket Baru"', async () => {
    const p = rec.cs.page;
    await p.getByRole('link', { name: 'Tiket Baru' }).first().click();
    await p.waitForURL(/#\/tiket\/baru$/);
    await p.locator('#nt-customer-q').fill('Sari');
    await p.locator('.picker-item', { hasText: 'Ibu Sari Wulandari' }).click({ timeout: T });
    await p.locator('.picked', { hasText: 'Ibu Sari Wulandari' }).waitFor({ timeout: T });
    await p.locator('#nt-problem').fill('AC split 1 PK di kamar tidur tidak dingin, kompresor mati');
    await p.locator('#nt-address').fill('Jl. Kemang Raya No. 12, Bangka, Mampang Prapatan');
    await p.locator('#nt-area').fill('Jakarta Selatan');
    await p.locator('#nt-lat').fill(String(SITE.latitude));
    await p.locator('#nt-lng').fill(String(SITE.longitude));
    // An hour from now, on the 5-minute steps of the time field.
    const when = Math.ceil((Date.now() + 3600e3) / 300e3) * 300e3;
    const wall = jakartaWall(when);
    await p.locator('#nt-date').fill(wall.date);
    await p.locator('#nt-time').fill(wall.time);
    await p.getByRole('button', { name: 'Tambah' }).click();
    assert.equal(await p.locator('#nt-techs').inputValue(), '2');
    await shots(rec.cs, 'cs-new-ticket');
    const resp = await responseOf(p, 'POST', '/api/v1/tickets', () => p.getByRole('button', { name: 'Buat Tiket' }).click());
    await expectStatus(resp, 201);
    const body = await jsonOf(resp);
    const sent = JSON.parse(resp.request().postData());
    assert.equal(sent.techs_needed, 2);
    assert.equal(sent.lat, SITE.latitude);
    assert.equal(sent.lng, SITE.longitude);
    assert.equal(Date.parse(sent.scheduled_at), when, 'the Jakarta wall clock typed is the instant sent');
    ticket = { id: body.id, code: body.code };
    await p.waitForURL(new RegExp(`#/tiket/${ticket.id}$`), { timeout: T });
    await p.locator('.detail-title', { hasText: 'AC split 1 PK' }).waitFor({ timeout: T });
    assert.equal(await p.getByRole('button', { name: 'Buat Invoice', exact: true }).count(), 0, 'no "Buat Invoice" before the work is done');
  });

  step('all three boards show the new job live, without a reload', async () => {
    for (const t of [rec.ts1, rec.ts2, rec.ts3]) {
      const c = t.page.locator(`.job-card[data-job-id="${ticket.id}"]`);
      await c.waitFor({ timeout: T });
      assert.equal(await c.locator('[data-testid="slots"]').textContent(), '0/2', `${t.name}: 0/2`);
      assert.equal(await t.page.evaluate(() => window.__noReload), 'still-here', `${t.name} reloaded`);
    }
    await shots(rec.ts1, 'ts-board-new-job');
  });

  step('both technicians claim it; the third board shows it gone', async () => {
    for (const t of [rec.ts1, rec.ts2]) {
      const c = t.page.locator(`.job-card[data-job-id="${ticket.id}"]`);
      const resp = await responseOf(t.page, 'POST', `/api/v1/pool/${ticket.id}/claim`,
        () => c.getByRole('button', { name: /Ambil Job/ }).click());
      await expectStatus(resp, 200);
      if (t === rec.ts1) await c.locator('.job-msg', { hasText: 'Berhasil' }).waitFor({ timeout: T });
    }
    await rec.ts3.page.locator(`.job-card[data-job-id="${ticket.id}"]`).waitFor({ state: 'detached', timeout: T });
    assert.equal(await rec.ts3.page.evaluate(() => window.__noReload), 'still-here', 'ts3 reloaded');
    await shots(rec.ts3, 'ts3-board-gone');
    await waitFor(async () => (await apiTicket()).technicians.length === 2, { timeout: T, what: 'both slots in PostgreSQL' });
  });

  step('the technicians open the job from "Job Saya" and take the Surat Tugas (a PDF)', async () => {
    for (const t of [rec.ts1, rec.ts2]) {
      const p = t.page;
      await p.getByRole('link', { name: 'Job Saya' }).click();
      const item = p.locator(`.ticket-card[data-ticket-id="${ticket.id}"]`);
      await item.waitFor({ timeout: T });
      await item.click();
      await p.waitForURL(new RegExp(`#/jobs/${ticket.id}$`));
      const letter = p.getByRole('link', { name: 'Unduh Surat Tugas' });
      await letter.waitFor({ timeout: T });
      const [dl] = await Promise.all([p.waitForEvent('download', { timeout: T }), letter.click()]);
      const file = fs.readFileSync(await dl.path());
      assert.ok(isPdf(file), `${t.name}: the Surat Tugas is a PDF (${file.subarray(0, 20).toString('latin1')})`);
      assert.match(dl.suggestedFilename(), /\.pdf$/);
    }
    await shots(rec.ts1, 'ts-job');
  });

  step('both check in on site (emulated GPS): "Di dalam area"', async () => {
    for (const t of [rec.ts1, rec.ts2]) {
      const p = t.page;
      const resp = await responseOf(p, 'POST', `/api/v1/tickets/${ticket.id}/checkin`,
        () => p.getByRole('button', { name: 'Check-in di lokasi' }).click());
      await expectStatus(resp, 200);
      const v = p.locator('.step[data-step="2"] [data-testid="verdict"]');
      await v.waitFor({ timeout: T });
      assert.match(await v.textContent(), /Di dalam area/, `${t.name}: inside the fence`);
    }
    await shots(rec.ts2, 'ts-checked-in');
  });

  step('technician 1 uploads the BAST (a PDF through the file chooser)', async () => {
    const p = rec.ts1.page;
    const [chooser] = await Promise.all([
      p.waitForEvent('filechooser', { timeout: T }),
      p.locator('label', { hasText: 'BAST dari file' }).click(),
    ]);
    const resp = await responseOf(p, 'POST', `/api/v1/tickets/${ticket.id}/attachments`,
      () => chooser.setFiles({ name: 'bast-ibu-sari.pdf', mimeType: 'application/pdf', buffer: makePdf('BAST Ibu Sari') }));
    await expectStatus(resp, 201);
    assert.match(resp.url(), /kind=bast/);
    await p.locator('.step[data-step="3"] .thumb[data-kind="bast"]').waitFor({ timeout: T });
    await shots(rec.ts1, 'ts-bast');
  });

  step('both check out and press "Selesai"; the ticket is work_done', async () => {
    // A few metres moved since the check-in (a real phone's fix changes).
    await rec.ts1.context.setGeolocation({ ...AT_SITE_1, latitude: AT_SITE_1.latitude + 0.00003 });
    await rec.ts2.context.setGeolocation({ ...AT_SITE_2, longitude: AT_SITE_2.longitude - 0.00004 });
    for (const t of [rec.ts1, rec.ts2]) {
      const p = t.page;
      const out = await responseOf(p, 'POST', `/api/v1/tickets/${ticket.id}/checkout`,
        () => p.getByRole('button', { name: 'Check-out di lokasi' }).click());
      await expectStatus(out, 200);
      const done = p.getByRole('button', { name: 'Selesai', exact: true });
      await waitFor(async () => !(await done.isDisabled()), { timeout: T, what: `${t.name}: "Selesai" enabled` });
      const c = await responseOf(p, 'POST', `/api/v1/tickets/${ticket.id}/complete`, () => done.click());
      await expectStatus(c, 200);
      await p.getByText('Pekerjaan Anda di job ini sudah selesai.').waitFor({ timeout: T });
    }
    await shots(rec.ts2, 'ts-done');
    await waitFor(async () => (await apiTicket()).status === 'work_done', { timeout: T, what: 'the ticket work_done' });
  });

  step('CS sees work_done and presses "Buat Invoice"', async () => {
    const p = rec.cs.page;
    // The CS page has been open on the ticket all along: does it follow?
    const badge = p.locator('.detail .badge-status', { hasText: 'Selesai dikerjakan' });
    const t0 = Date.now();
    const live = await badge.waitFor({ timeout: 35000 }).then(() => true, () => false);
    if (live && Date.now() - t0 > 3000) stumble('CS ticket page', `"Selesai dikerjakan" appeared by itself only after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    if (!live) {
      stumble('CS ticket page', 'the status did not change to "Selesai dikerjakan" by itself within 35 s (CS must reload to see the work is done)');
      await p.reload();
      await badge.waitFor({ timeout: T });
    }
    const btn = p.getByRole('button', { name: 'Buat Invoice', exact: true })
      .or(p.getByRole('link', { name: 'Buat Invoice', exact: true })).first();
    await btn.waitFor({ timeout: T });
    await shots(rec.cs, 'cs-ticket-work-done');
    await btn.click();
    await p.getByLabel(lbl('Uraian')).first().waitFor({ timeout: T });
  });

  step('CS fills three rows and "Diskon"; the live total is the hand total; "Simpan Draft" creates the draft', async () => {
    const p = rec.cs.page;
    const add = p.getByRole('button', { name: 'Tambah Baris', exact: true });
    while ((await p.getByLabel(lbl('Uraian')).count()) < ROWS.length) {
      const before = await p.getByLabel(lbl('Uraian')).count();
      await add.click();
      await waitFor(async () => (await p.getByLabel(lbl('Uraian')).count()) > before, { timeout: T, what: 'a new row' });
    }
    for (let i = 0; i < ROWS.length; i++) await fillRow(p, i, ROWS[i]);
    await p.getByLabel(lbl('Diskon')).fill(String(DISCOUNT));
    await p.getByLabel(lbl('Catatan')).fill('Garansi kompresor 1 tahun, jasa 30 hari.');
    // Live totals, before anything is saved: the subtotal at least (the
    // tax rate of a new invoice is the server's configuration).
    await waitText(p, new RegExp(rp(V1.subtotal).replace(/\./g, '\\.')), `the live subtotal ${rp(V1.subtotal)}`);
    const text = await textOf(p);
    if (!text.includes(rp(V1.total)) || !text.includes(rp(V1.tax))) {
      stumble('CS invoice editor (new)', `before the first save neither the tax (${rp(V1.tax)}) nor the total to bill (${rp(V1.total)}) is shown`);
    }
    await shots(rec.cs, 'cs-invoice-editor');
    const resp = await responseOf(p, 'POST', `/api/v1/tickets/${ticket.id}/invoice`,
      () => p.getByRole('button', { name: 'Simpan Draft', exact: true }).click());
    await expectStatus(resp, 201);
    const sent = JSON.parse(resp.request().postData());
    assert.deepEqual(sent.items.map((x) => ({ description: x.description, qty: Number(x.qty), unit_price: Number(x.unit_price) })), ROWS);
    assert.equal(Number(sent.discount), DISCOUNT);
    invoice = await jsonOf(resp);
    assert.equal(invoice.status, 'draft');
    assert.deepEqual([invoice.subtotal, invoice.discount, invoice.tax, invoice.total], [V1.subtotal, DISCOUNT, V1.tax, V1.total],
      'the server\'s totals are the hand totals');
    assert.match(invoice.number, /^INV-\d{4}-\d{4}$/);
    await waitText(p, new RegExp(invoice.number), 'the invoice number on the page');
    await waitText(p, new RegExp(rp(V1.total).replace(/\./g, '\\.')), `the saved total ${rp(V1.total)} on the page`);
    assert.ok((await textOf(p)).includes(rp(V1.tax)), `the tax ${rp(V1.tax)} on the page`);
  });

  step('"Pratinjau PDF" answers a PDF; "Ajukan ke Sales" submits it', async () => {
    const p = rec.cs.page;
    const prev = p.getByRole('link', { name: 'Pratinjau PDF', exact: true })
      .or(p.getByRole('button', { name: 'Pratinjau PDF', exact: true })).first();
    await prev.waitFor({ timeout: T });
    assert.ok(isPdf(await pdfBehind(rec.cs, prev)), 'the preview is a PDF');
    const resp = await responseOf(p, 'POST', `/api/v1/invoices/${invoice.id}/submit`,
      () => p.getByRole('button', { name: 'Ajukan ke Sales', exact: true }).click());
    await expectStatus(resp, 200);
    invoice = await jsonOf(resp);
    assert.equal(invoice.status, 'pending_approval');
    await shots(rec.cs, 'cs-invoice-submitted');
  });

  step('Sales\' queue (open since login) lists it; Sales opens it, "Minta Revisi" with a note', async () => {
    const p = rec.sales.page;
    // Sales' home is the queue, open on the phone since the login.
    assert.match(p.url(), /#\/invoice$/, 'Sales lands on the approval queue');
    const entry = p.getByRole('link', { name: new RegExp(invoice.number) }).or(p.getByText(invoice.number, { exact: true })).first();
    const t0 = Date.now();
    if (await entry.waitFor({ timeout: 35000 }).then(() => true, () => false)) {
      if (Date.now() - t0 > 3000) stumble('Sales queue', `a new submission appeared in the open queue only after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } else {
      stumble('Sales queue', 'a new submission did not appear in the open queue within 35 s (Sales must reload)');
      await p.reload();
      await entry.waitFor({ timeout: T });
    }
    const row = await textOf(p);
    assert.ok(row.includes(rp(V1.total)), `the queue shows the total ${rp(V1.total)}`);
    await shots(rec.sales, 'sales-queue');
    await entry.click();
    await p.waitForURL(new RegExp(`#/invoice/${invoice.id}$`), { timeout: T });
    await waitText(p, new RegExp(rp(V1.total).replace(/\./g, '\\.')), 'the total on Sales\' invoice page');
    for (const r of ROWS) assert.ok((await textOf(p)).includes(r.description), `Sales sees "${r.description}"`);
    await shots(rec.sales, 'sales-invoice');
    await p.getByRole('button', { name: 'Minta Revisi', exact: true }).click();
    const note = p.getByLabel(lbl('Catatan revisi'));
    await note.waitFor({ timeout: T });
    await note.fill(REVISION_NOTE);
    await shots(rec.sales, 'sales-revise-note');
    const resp = await responseOf(p, 'POST', `/api/v1/invoices/${invoice.id}/revise`,
      () => p.getByRole('button', { name: 'Kirim Revisi', exact: true }).click());
    await expectStatus(resp, 200);
    assert.deepEqual(JSON.parse(resp.request().postData()), { note: REVISION_NOTE });
    invoice = await jsonOf(resp);
    assert.equal(invoice.status, 'revision_requested');
  });

  step('CS sees the note, changes the freon price (live total), saves and submits again', async () => {
    const p = rec.cs.page;
    const t0 = Date.now();
    const seen = await waitText(p, new RegExp(REVISION_NOTE.slice(0, 30).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the note', 25000)
      .then(() => true, () => false);
    if (seen && Date.now() - t0 > 3000) stumble('CS invoice page', `Sales' revision note appeared by itself only after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    if (!seen) {
      stumble('CS invoice page', 'Sales\' revision note did not appear by itself within 25 s (CS must reload the invoice page to learn of it)');
      await p.reload();
      await waitText(p, new RegExp(REVISION_NOTE.slice(0, 30).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the revision note after a reload');
    }
    // The editable rows are back, with what was saved.
    const price = p.getByLabel(lbl('Harga Satuan')).nth(1);
    await price.waitFor({ timeout: T });
    assert.equal((await p.getByLabel(lbl('Uraian')).nth(1).inputValue()), ROWS[1].description);
    await shots(rec.cs, 'cs-invoice-revision-requested');
    await price.fill(String(NEW_FREON));
    await waitText(p, new RegExp(rp(V2.total).replace(/\./g, '\\.')), `the live total ${rp(V2.total)} after the edit`);
    assert.ok((await textOf(p)).includes(rp(V2.tax)), `the tax rounded half-up: ${rp(V2.tax)}`);
    const patch = await responseOf(p, 'PATCH', `/api/v1/invoices/${invoice.id}`,
      () => p.getByRole('button', { name: 'Simpan Draft', exact: true }).click());
    await expectStatus(patch, 200);
    invoice = await jsonOf(patch);
    assert.equal(invoice.status, 'draft');
    assert.deepEqual([invoice.subtotal, invoice.tax, invoice.total], [V2.subtotal, V2.tax, V2.total], 'the edited totals, by hand');
    const sub = await responseOf(p, 'POST', `/api/v1/invoices/${invoice.id}/submit`,
      () => p.getByRole('button', { name: 'Ajukan ke Sales', exact: true }).click());
    await expectStatus(sub, 200);
    invoice = await jsonOf(sub);
    assert.equal(invoice.status, 'pending_approval');
  });

  step('Sales opens the invoice again from the Telegram link (a new tab), reads the history and approves', async () => {
    const r = await newTab('sales-tg', rec.sales);
    const p = r.page;
    await p.goto(`${g.url}/#/invoice/${invoice.id}`);
    await waitText(p, new RegExp(rp(V2.total).replace(/\./g, '\\.')), 'the new total on Sales\' page');
    // The history: the note, and the totals before and after the edit.
    const text = await textOf(p);
    assert.ok(text.includes(REVISION_NOTE), 'the revision note is in the history');
    assert.ok(text.includes(rp(V1.total)), `the total before the edit (${rp(V1.total)}) is in the history`);
    await shots(r, 'sales-invoice-history');
    const resp = await responseOf(p, 'POST', `/api/v1/invoices/${invoice.id}/approve`,
      () => p.getByRole('button', { name: 'Approve', exact: true }).click());
    await expectStatus(resp, 200);
    invoice = await jsonOf(resp);
    assert.equal(invoice.status, 'approved');
    await waitFor(async () => (await p.getByRole('button', { name: 'Approve', exact: true }).count()) === 0,
      { timeout: T, what: 'no "Approve" on an approved invoice' });
    await shots(r, 'sales-approved');
  });

  step('CS presses "Kirim ke Pelanggan" and reads "Link invoice" and "Link penilaian" off the page', async () => {
    const p = rec.cs.page;
    const btn = p.getByRole('button', { name: 'Kirim ke Pelanggan', exact: true });
    const t0 = Date.now();
    const live = await btn.waitFor({ timeout: 25000 }).then(() => true, () => false);
    if (live && Date.now() - t0 > 3000) stumble('CS invoice page', `the approval ("Kirim ke Pelanggan") appeared by itself only after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    if (!live) {
      stumble('CS invoice page', 'the approval did not show by itself within 25 s ("Kirim ke Pelanggan" appeared only after a reload)');
      await p.reload();
      await btn.waitFor({ timeout: T });
    }
    const resp = await responseOf(p, 'POST', `/api/v1/invoices/${invoice.id}/send`, () => btn.click());
    await expectStatus(resp, 200);
    const sent = await jsonOf(resp);
    assert.equal(sent.status, 'sent');
    await p.getByText('Link invoice', { exact: false }).first().waitFor({ timeout: T });
    await p.getByText('Link penilaian', { exact: false }).first().waitFor({ timeout: T });
    // Whatever holds them (a link, a read-only field, text), the URLs must
    // be readable off the page.
    const onPage = await p.evaluate(() => [
      document.body.innerText,
      ...[...document.querySelectorAll('a[href]')].map((a) => a.href),
      ...[...document.querySelectorAll('input, textarea')].map((i) => i.value),
    ].join('\n'));
    const tok = '[A-Za-z0-9_-]{32}';
    const iu = onPage.match(new RegExp(`https?://[^\\s"']+/i/${tok}`));
    const ru = onPage.match(new RegExp(`https?://[^\\s"']+/r/${tok}`));
    assert.ok(iu, 'an invoice URL (…/i/<token>) is on the page');
    assert.ok(ru, 'a rating URL (…/r/<token>) is on the page');
    invoiceUrl = iu[0];
    ratingUrl = ru[0];
    assert.equal(invoiceUrl, sent.invoice_url, 'the page shows the link send answered');
    assert.equal(ratingUrl, sent.rating_url, 'the page shows the rating link send answered');
    assert.ok(invoiceUrl.startsWith(`${g.url}/i/`), `the link opens this server: ${invoiceUrl}`);
    invoice = sent;
    await shots(rec.cs, 'cs-invoice-sent');
    const t = await apiTicket();
    assert.equal(t.status, 'awaiting_payment');
  });

  step('the customer opens the invoice link: number, items and the hand total; "Unduh PDF" is a PDF', async () => {
    const c = rec.customer;
    const p = c.page;
    const nav = await p.goto(invoiceUrl);
    assert.equal(nav.status(), 200, `GET ${new URL(invoiceUrl).pathname.replace(/[^/]+$/, '[token]')}`);
    assert.equal(nav.headers()['referrer-policy'], 'no-referrer', 'the token does not leak through Referer');
    await p.getByRole('heading', { name: new RegExp(invoice.number) }).first().waitFor({ timeout: T });
    await waitText(p, new RegExp(rp(V2.total).replace(/\./g, '\\.')), `the total ${rp(V2.total)} on the customer's page`);
    const text = await textOf(p);
    for (const r of ROWS) assert.ok(text.includes(r.description), `the customer sees "${r.description}"`);
    assert.ok(text.includes(rp(NEW_FREON)), 'the revised freon price');
    assert.ok(!text.includes(rp(175000)), 'not the first version\'s freon price');
    assert.ok(text.includes(rp(DISCOUNT)), 'the discount');
    assert.ok(text.includes(rp(V2.tax)), 'the tax');
    assert.ok(text.includes('BCA'), 'the bank transfer instructions');
    const pdf = p.getByRole('link', { name: 'Unduh PDF', exact: true });
    await pdf.waitFor({ timeout: T });
    assert.ok(isPdf(await pdfBehind(c, pdf)), 'the customer\'s PDF');
    await shots(c, 'customer-invoice');
  });

  step('the customer opens the rating link, rates the service and each technician, and is thanked', async () => {
    const p = rec.customer.page;
    await p.goto(ratingUrl);
    await rate(p, 'Layanan', RATING.service);
    await rate(p, users.ts1.name, RATING.ts1);
    await rate(p, users.ts2.name, RATING.ts2);
    await p.getByLabel(lbl('Komentar')).fill(RATING.comment);
    await shots(rec.customer, 'customer-rating');
    const resp = await responseOf(p, 'POST', /\/api\/v1\/public\/ratings\/[A-Za-z0-9_-]{32}$/,
      () => p.getByRole('button', { name: 'Kirim Penilaian', exact: true }).click());
    await expectStatus(resp, 201);
    const body = JSON.parse(resp.request().postData());
    assert.equal(body.score, RATING.service);
    assert.equal(body.comment, RATING.comment);
    assert.deepEqual([...body.techs].sort((a, b) => a.id - b.id).map((x) => x.score).sort(), [RATING.ts1, RATING.ts2].sort());
    await p.getByRole('heading', { name: /^Terima kasih/ }).waitFor({ timeout: T });
    await shots(rec.customer, 'customer-thanks');
    // The staff side has the scores per technician.
    const inv = await apiInvoice();
    assert.equal(inv.rating && inv.rating.score, RATING.service, JSON.stringify(inv.rating));
    const byName = Object.fromEntries(inv.rating.techs.map((x) => [x.name, x.score]));
    assert.deepEqual(byName, { [users.ts1.name]: RATING.ts1, [users.ts2.name]: RATING.ts2 });
  });

  step('CS records the first part: "Catat Pembayaran", Tunai, Rp 1.000.000', async () => {
    const p = rec.cs.page;
    const open = await buttonSomewhere(p, 'Catat Pembayaran', `#/invoice/${invoice.id}`);
    await open.click();
    await p.getByLabel(lbl('Jumlah Bayar')).fill(String(PAY1));
    await p.getByLabel(lbl('Metode')).selectOption({ label: 'Tunai' });
    const date = p.getByLabel(lbl('Tanggal Bayar'));
    if (!(await date.inputValue())) {
      stumble('payment form', '"Tanggal Bayar" starts empty (CS has to type today\'s date)');
      const wall = jakartaWall(Date.now());
      await date.fill((await date.getAttribute('type')) === 'datetime-local' ? `${wall.date}T${wall.time}` : wall.date);
    }
    await shots(rec.cs, 'cs-payment-form');
    const resp = await responseOf(p, 'POST', `/api/v1/invoices/${invoice.id}/payments`,
      () => p.getByRole('button', { name: 'Simpan Pembayaran', exact: true }).click());
    await expectStatus(resp, 201);
    const sent = JSON.parse(resp.request().postData());
    assert.equal(Number(sent.amount), PAY1);
    assert.equal(sent.method, 'cash');
    invoice = await jsonOf(resp);
    assert.equal(invoice.status, 'sent');
    assert.equal(invoice.balance, PAY2);
    await waitText(p, new RegExp(rp(PAY2).replace(/\./g, '\\.')), `the balance ${rp(PAY2)}`);
  });

  step('CS records the rest by transfer with a proof image ("Bukti Pembayaran") and sees Lunas', async () => {
    const p = rec.cs.page;
    const open = await buttonSomewhere(p, 'Catat Pembayaran', `#/invoice/${invoice.id}`);
    await open.click();
    await p.getByLabel(lbl('Jumlah Bayar')).fill(String(PAY2));
    await p.getByLabel(lbl('Metode')).selectOption({ label: 'Transfer' });
    await p.getByLabel(lbl('Referensi')).fill('BCA 0412 a.n. Sari Wulandari');
    const proof = makePng(480, 320, 9);
    const uploads = [];
    const onResp = (r) => { if (r.request().method() === 'POST' && /\/attachments/.test(r.url())) uploads.push(r); };
    p.on('response', onResp);
    await p.getByLabel(lbl('Bukti Pembayaran')).setInputFiles({ name: 'bukti-transfer.png', mimeType: 'image/png', buffer: proof });
    await shots(rec.cs, 'cs-payment-proof');
    const resp = await responseOf(p, 'POST', `/api/v1/invoices/${invoice.id}/payments`,
      () => p.getByRole('button', { name: 'Simpan Pembayaran', exact: true }).click());
    p.off('response', onResp);
    await expectStatus(resp, 201);
    assert.equal(uploads.length, 1, 'the proof went up once');
    assert.match(uploads[0].url(), new RegExp(`/api/v1/tickets/${ticket.id}/attachments\\?kind=payment_proof`));
    await expectStatus(uploads[0], 201);
    const att = await jsonOf(uploads[0]);
    const sent = JSON.parse(resp.request().postData());
    assert.equal(Number(sent.amount), PAY2);
    assert.equal(sent.method, 'transfer');
    assert.equal(Number(sent.proof_attachment_id), att.id, 'the payment carries the uploaded proof');
    invoice = await jsonOf(resp);
    assert.equal(invoice.status, 'paid');
    assert.equal(invoice.paid_amount, V2.total);
    assert.equal(invoice.balance, 0);
    await p.getByText('Lunas', { exact: true }).first().waitFor({ timeout: T });
    await shots(rec.cs, 'cs-invoice-paid');
  });

  step('CS presses "Tutup Tiket": the ticket shows closed, the rating and a timeline of the whole story', async () => {
    const p = rec.cs.page;
    const close = await buttonSomewhere(p, 'Tutup Tiket', `#/tiket/${ticket.id}`);
    const resp = await responseOf(p, 'POST', `/api/v1/tickets/${ticket.id}/close`, async () => {
      await close.click();
      // A confirmation, if the screen asks for one.
      const dlg = p.getByRole('dialog');
      if (await dlg.waitFor({ timeout: 1500 }).then(() => true, () => false)) {
        await dlg.getByRole('button', { name: /Tutup/ }).last().click();
      }
    });
    await expectStatus(resp, 200);
    const closed = await jsonOf(resp);
    assert.equal(closed.status, 'closed');
    if (!p.url().endsWith(`#/tiket/${ticket.id}`)) await p.goto(`${g.url}/#/tiket/${ticket.id}`);
    await p.locator('.detail .badge-status', { hasText: 'Ditutup' }).waitFor({ timeout: T });
    await waitText(p, new RegExp(RATING.comment.slice(0, 25)), 'the customer\'s comment on the ticket page');
    assert.equal(await p.getByRole('button', { name: 'Tutup Tiket', exact: true }).count(), 0, 'no "Tutup Tiket" on a closed ticket');

    // The server's story, from its timeline.
    const t = await apiTicket();
    assert.equal(t.status, 'closed');
    assert.equal(t.invoice && t.invoice.status, 'paid', JSON.stringify(t.invoice));
    assert.equal(t.rating && t.rating.score, RATING.service);
    const acts = t.timeline.map((e) => e.action);
    const count = (a) => acts.filter((x) => x === a).length;
    for (const [a, n] of [['invoice.create', 1], ['invoice.submit', 2], ['invoice.revise', 1], ['invoice.edit', 1],
      ['invoice.approve', 1], ['invoice.send', 1], ['rating.create', 1], ['payment.record', 2]]) {
      assert.ok(count(a) >= n, `timeline has ${n}× ${a}: ${acts.join(', ')}`);
    }
    const moves = t.timeline.filter((e) => e.action === 'ticket.status').map((e) => `${e.before}→${e.after}`);
    for (const m of ['work_done→invoicing', 'invoicing→awaiting_payment', 'awaiting_payment→paid', 'paid→closed']) {
      assert.ok(moves.includes(m), `the ticket moved ${m}: ${moves.join(', ')}`);
    }
    const revise = t.timeline.find((e) => e.action === 'invoice.revise');
    assert.ok(JSON.stringify(revise.data).includes(REVISION_NOTE), 'the revision note is in the audit row');
    assert.equal(t.timeline.find((e) => e.action === 'rating.create').actor_id ?? null, null, 'the customer has no user id');

    // The page tells it: every entry, each in words. Closing writes two
    // rows (ticket.close and its ticket.status paid → closed): the page
    // says it once.
    const closeStatus = (e, i) => e.action === 'ticket.status' && e.before === 'paid' && e.after === 'closed' &&
      [t.timeline[i - 1], t.timeline[i + 1]].some((x) => x && x.action === 'ticket.close');
    const rows = t.timeline.filter((e, i) => !closeStatus(e, i));
    assert.equal(rows.length, t.timeline.length - 1, 'one ticket.status row goes with ticket.close');
    const items = p.locator('.tl-item');
    await waitFor(async () => (await items.count()) >= rows.length, { timeout: T, what: `${rows.length} timeline entries on the page` });
    assert.equal(await items.count(), rows.length, 'the closing is one row on the page');
    const shown = await p.locator('.tl-item').allTextContents();
    const all = plain(shown.join('\n'));
    assert.ok(all.includes(REVISION_NOTE), 'the timeline shows Sales\' note');
    const still = all.match(/([A-Z][a-z]+(?: [a-z]+)*) → \1\b/);
    if (still) stumble('CS ticket timeline', `a row says "${still[0]}" (nothing moved)`);
    const labels = await p.locator('.tl-what .strong').allTextContents();
    const moneyLabels = [];
    rows.forEach((e, i) => {
      if (!/^(invoice|payment|rating)\./.test(e.action)) return;
      const l = (labels[i] || '').trim();
      moneyLabels.push(`${e.action}="${l}"`);
      if (l === String(e.action).replace(/[._]+/g, ' ').trim()) stumble('CS ticket timeline', `"${e.action}" is shown untranslated as "${l}"`);
      if (e.action === 'invoice.create' && /^Tiket dibuat$/.test(l)) stumble('CS ticket timeline', '"invoice.create" reads "Tiket dibuat" (looks like the ticket was created again)');
    });
    const distinct = new Set(moneyLabels.map((x) => x.split('=')[1]));
    if (distinct.size < 5) stumble('CS ticket timeline', `the money steps read alike: ${moneyLabels.join(', ')}`);
    if (!all.includes(rp(PAY1)) || !all.includes(rp(PAY2))) stumble('CS ticket timeline', 'the payments\' amounts are not in the timeline');
    await shots(rec.cs, 'cs-ticket-closed');
  });

  it('no CSP violation, no uncaught error, only expected failed requests', async (t) => {
    const problems = [];
    for (const r of pages) {
      const csp = r.page.isClosed() ? [] : await r.page.evaluate(() => window.__csp || []).catch(() => []);
      for (const v of csp) problems.push(`${r.name}: CSP violation ${v}`);
      for (const e of r.pageErrors) problems.push(`${r.name}: uncaught ${e}`);
      for (const m of r.console) {
        if (/Content Security Policy|Refused to/i.test(m)) problems.push(`${r.name}: ${m}`);
        // 401 before login; 404/409 the app handles itself.
        else if (!/Failed to load resource: the server responded with a status of (401|404|409)\b/.test(m)) problems.push(`${r.name}: console ${m}`);
      }
      const inline = r.page.isClosed() ? [] : await r.page.evaluate(() =>
        [...document.querySelectorAll('[style]:not([style=""]), script:not([src]), style')].map((e) => e.outerHTML.slice(0, 200))).catch(() => []);
      for (const e of inline) problems.push(`${r.name}: inline style/script: ${e}`);
    }
    for (const s of stumbles) t.diagnostic(`stumble: ${s}`);
    assert.deepEqual(problems, []);
  });
});
