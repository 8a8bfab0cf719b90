// End-to-end: the web app in real headless Chromium against a real gssd,
// Redis and PostgreSQL (tests/integration/harness.mjs).
//
// The story: CS opens a ticket needing two technicians; two technicians on
// phones see it arrive on their boards live, claim it one after the other,
// and watch it fill and leave; a third technician whose board went stale
// (its WebSocket is cut off by the test) tries to claim the full job and is
// told so. Along the way: login errors and throttling, "Job Saya", the CS
// ticket pages, the Sales landing page, logout, and the page's
// Content-Security-Policy (no violation, no inline code or style).
//
// Screenshots go to GSS_SHOTS_DIR (default /tmp/gss-shots) so a person can
// look at the pages on a phone and a desktop size.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { SOURCE_DIR, startGssd, runGssd, psql, http, waitFor } from '../integration/harness.mjs';

const SHOTS = process.env.GSS_SHOTS_DIR || '/tmp/gss-shots';
const CHROMIUM = process.env.GSS_CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'rahasia-e2e-1';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1440, height: 900 };
const T = 15000; // how long the UI may take to show a change

let g;
let browser;
let customerId;
const pages = []; // every page opened, for the console checks at the end

async function addUser(username, role, name) {
  const r = await runGssd(['user', 'add', username, '--role', role, '--name', name], {
    env: { GSS_DATABASE_URL: g.database.url, GSS_ARGON2_FAST: '1', GSS_LOG_LEVEL: 'warn' },
    input: `${PASSWORD}\n`,
  });
  if (r.code !== 0) throw new Error(`user add ${username} exited ${r.code}: ${r.stderr}${r.stdout}`);
}

/** A fresh browser context and page; console errors, page errors and CSP
 *  violation events are recorded on the returned object. */
async function openPage(name, viewport, { setup } = {}) {
  const context = await browser.newContext({ viewport, locale: 'id-ID', timezoneId: 'Asia/Jakarta' });
  if (setup) await setup(context);
  const page = await context.newPage();
  const rec = { name, context, page, console: [], pageErrors: [] };
  // Runs before the app's own scripts, outside the page's CSP.
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

async function shot(page, name, opts = {}) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), ...opts });
}

async function login(page, username, password = PASSWORD) {
  await page.goto(`${g.url}/`);
  await page.locator('#login-username').fill(username);
  await page.locator('#login-password').fill(password);
  await page.getByRole('button', { name: 'Masuk' }).click();
  await page.locator('.who-name').waitFor({ timeout: T });
}

const card = (page, id) => page.locator(`.job-card[data-job-id="${id}"]`);

before(async () => {
  // No browser is a failure, not a skip: the screens would go untested.
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (set GSS_CHROMIUM)`);
  fs.mkdirSync(SHOTS, { recursive: true });
  g = await startGssd();
  await addUser('cs1', 'cs', 'Citra Customer Service');
  await addUser('ts1', 'ts', 'Teguh Santoso');
  await addUser('ts2', 'ts', 'Tono Wibowo');
  await addUser('ts3', 'ts', 'Tari Lestari');
  await addUser('ts9', 'ts', 'Terkunci');
  await addUser('sales1', 'sales', 'Santo Sales');
  await addUser('admin1', 'admin', 'Ani Admin');
  const rows = await psql(g.database.url,
    "INSERT INTO customers (name, phone, address, source) VALUES " +
    "('Budi <b>Santoso</b>', '6281211110001', 'Jl. Kemang Raya No. 12, Jakarta Selatan', 'manual') RETURNING id");
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

describe('the app source', () => {
  it("the app's code never builds HTML from strings or runs strings as code", () => {
    const dir = path.join(SOURCE_DIR, 'web');
    const files = fs.readdirSync(dir, { recursive: true }).filter((f) => /\.(js|mjs|html)$/.test(f));
    assert.ok(files.length > 5, `web/ has ${files.length} files`);
    const bad = /\.innerHTML\b|\.outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\s*\(|new Function\b|setAttribute\(\s*['"](style|on[a-z]+)['"]/;
    for (const f of files) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      const m = bad.exec(text);
      assert.equal(m, null, `web/${f} uses ${m && m[0]}`);
    }
  });
});

describe('login', () => {
  it('serves the app with the strict CSP and no inline code', async () => {
    const r = await http(`${g.url}/`);
    assert.equal(r.status, 200);
    const csp = r.headers.get('content-security-policy') || '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /style-src 'self'/);
    assert.doesNotMatch(r.text, /<script(?![^>]*\bsrc=)[^>]*>/i, 'inline <script>');
    assert.doesNotMatch(r.text, /<style|\sstyle=|\son[a-z]+=/i, 'inline style or handler');
  });

  it('a wrong password shows "Username atau password salah"', { timeout: 60000 }, async () => {
    const { page } = await openPage('login-wrong', PHONE);
    await page.goto(`${g.url}/`);
    await page.locator('#login-username').fill('ts1');
    await page.locator('#login-password').fill('salah-sekali');
    await page.getByRole('button', { name: 'Masuk' }).click();
    const msg = page.locator('.login-form [role="alert"]');
    await msg.filter({ hasText: 'Username atau password salah' }).waitFor({ timeout: T });
    assert.equal(await page.locator('#login-password').inputValue(), '', 'the password field is cleared');
    await shot(page, 'login-wrong-password-phone');
  });

  it('too many failures show the wait in seconds (429 Retry-After)', { timeout: 60000 }, async () => {
    const { page } = await openPage('login-throttled', PHONE);
    await page.goto(`${g.url}/`);
    const msg = page.locator('.login-form [role="alert"]');
    for (let i = 0; i < 8; i++) {
      await page.locator('#login-username').fill('ts9');
      await page.locator('#login-password').fill(`salah-${i}`);
      await page.getByRole('button', { name: 'Masuk' }).click();
      await waitFor(async () => /salah|Terlalu banyak/.test(await msg.textContent()), { timeout: T, what: 'a login answer' });
      if (/Terlalu banyak/.test(await msg.textContent())) break;
    }
    const text = await msg.textContent();
    assert.match(text, /^Terlalu banyak percobaan, coba lagi dalam \d+ detik$/);
    assert.equal(await page.getByRole('button', { name: 'Masuk' }).isDisabled(), true, 'the button waits too');
  });
});

describe('a ticket for two technicians, claimed live', () => {
  let cs;
  let t1;
  let t2;
  let t3;
  let ticketId;
  let ticketCode;

  it('CS logs in and lands on the ticket list (desktop)', { timeout: 60000 }, async () => {
    cs = await openPage('cs', DESKTOP);
    await login(cs.page, 'cs1');
    await cs.page.waitForURL(/#\/tiket$/, { timeout: T });
    await cs.page.locator('.state-empty', { hasText: 'Belum ada tiket' }).waitFor({ timeout: T });
    await cs.page.locator('.live[data-state=\"live\"]').waitFor({ timeout: T }); // the socket may still be connecting
    await shot(cs.page, 'cs-tickets-empty-desktop');
  });

  it('two technicians on phones see an empty live board', { timeout: 60000 }, async () => {
    t1 = await openPage('ts1', PHONE);
    t2 = await openPage('ts2', PHONE);
    await Promise.all([login(t1.page, 'ts1'), login(t2.page, 'ts2')]);
    for (const t of [t1, t2]) {
      await t.page.waitForURL(/#\/papan$/, { timeout: T });
      await t.page.locator('.state-empty', { hasText: 'Belum ada job terbuka' }).waitFor({ timeout: T });
      await t.page.locator('.live[data-state="live"]').waitFor({ timeout: T });
      assert.equal(await t.page.locator('.live-text').textContent(), 'Live');
      // Marker: if the page reloaded, it is gone.
      await t.page.evaluate(() => { window.__noReload = 'still-here'; });
    }
    await shot(t1.page, 'ts-board-empty-phone');
  });

  it('CS creates a ticket needing 2 technicians', { timeout: 60000 }, async () => {
    const p = cs.page;
    await p.getByRole('link', { name: 'Tiket Baru' }).first().click();
    await p.waitForURL(/#\/tiket\/baru$/);
    // The customer picker: search by a local phone format, pick the customer.
    await p.locator('#nt-customer-q').waitFor({ timeout: T });
    await p.locator('#nt-customer-q').fill('0812-1111');
    await p.locator('.picker-item', { hasText: 'Budi <b>Santoso</b>' }).click({ timeout: T });
    await p.locator('.picked', { hasText: 'Budi <b>Santoso</b>' }).waitFor({ timeout: T });
    await p.locator('#nt-problem').fill('AC split 1 PK tidak dingin, keluar angin saja sejak 3 hari');
    await p.locator('#nt-address').fill('Jl. Kemang Raya No. 12, Bangka, Mampang Prapatan');
    await p.locator('#nt-area').fill('Jakarta Selatan');
    await p.locator('#nt-date').fill('2026-12-01');
    await p.locator('#nt-time').fill('09:00');
    await p.getByRole('button', { name: 'Tambah' }).click();
    assert.equal(await p.locator('#nt-techs').inputValue(), '2');
    assert.match(await p.locator('#nt-when-preview').textContent(), /Sel, 1 Des 2026 09\.00 WIB/);
    await shot(p, 'cs-new-ticket-desktop', { fullPage: true });
    const [resp] = await Promise.all([
      p.waitForResponse((r) => r.url().endsWith('/api/v1/tickets') && r.request().method() === 'POST'),
      p.getByRole('button', { name: 'Buat Tiket' }).click(),
    ]);
    assert.equal(resp.status(), 201);
    const sent = JSON.parse(resp.request().postData());
    assert.equal(sent.scheduled_at, '2026-12-01T02:00:00Z', 'Jakarta 09:00 is 02:00 UTC');
    assert.equal(sent.techs_needed, 2);
    assert.equal(sent.customer_id, customerId);
    const body = await resp.json();
    ticketId = body.id;
    ticketCode = body.code;
    await p.waitForURL(new RegExp(`#/tiket/${ticketId}$`), { timeout: T });
    await p.locator('.detail-title', { hasText: 'AC split 1 PK' }).waitFor({ timeout: T });
    // A name with markup stays text.
    await p.getByText('Budi <b>Santoso</b>', { exact: true }).waitFor({ timeout: T });
    assert.equal(await p.locator('.detail b').count(), 0);
  });

  it('both boards show the new job live, without reloading', { timeout: 60000 }, async () => {
    for (const t of [t1, t2]) {
      const c = card(t.page, ticketId);
      await c.waitFor({ timeout: T });
      assert.equal(await c.locator('[data-testid="slots"]').textContent(), '0/2');
      assert.match(await c.textContent(), /Sel, 1 Des 2026 09\.00 WIB/);
      assert.match(await c.textContent(), /Jakarta Selatan/);
      assert.equal(await t.page.evaluate(() => window.__noReload), 'still-here', `${t.name} reloaded`);
    }
    await shot(t1.page, 'ts-board-new-job-phone');
  });

  it('a third technician opens the board, then loses the live feed (stale board)', { timeout: 60000 }, async () => {
    // The WebSocket is answered by the test, not gssd: this board gets the
    // snapshot but never hears of later claims.
    t3 = await openPage('ts3', PHONE, {
      setup: (context) => context.routeWebSocket(/\/api\/v1\/ws$/, () => { /* never connected to gssd */ }),
    });
    await login(t3.page, 'ts3');
    await card(t3.page, ticketId).waitFor({ timeout: T });
    assert.equal(await card(t3.page, ticketId).locator('[data-testid="slots"]').textContent(), '0/2');
  });

  it('the first claim shows 1/2 on both boards, live', { timeout: 60000 }, async () => {
    const c1 = card(t1.page, ticketId);
    await c1.getByRole('button', { name: /Ambil Job/ }).click();
    await c1.locator('.job-msg', { hasText: 'Berhasil' }).waitFor({ timeout: T });
    await c1.getByRole('button', { name: 'Sudah diambil' }).waitFor({ timeout: T });
    for (const t of [t1, t2]) {
      await waitFor(async () => (await card(t.page, ticketId).locator('[data-testid="slots"]').textContent()) === '1/2',
        { timeout: T, what: `${t.name} board at 1/2` });
    }
    assert.equal(await card(t2.page, ticketId).getByRole('button', { name: /Ambil Job/ }).isEnabled(), true);
    await shot(t1.page, 'ts1-claimed-phone');
    await shot(t2.page, 'ts2-board-1of2-phone');
    // CS's side board (desktop width) follows too.
    await cs.page.getByRole('link', { name: 'Tiket', exact: true }).click();
    await waitFor(async () => (await card(cs.page, ticketId).locator('[data-testid="slots"]').textContent()) === '1/2',
      { timeout: T, what: 'CS board at 1/2' });
    assert.equal(await card(cs.page, ticketId).getByRole('button').count(), 0, 'CS cannot claim');
  });

  it('the second claim fills the job: it leaves both boards', { timeout: 60000 }, async () => {
    const c2 = card(t2.page, ticketId);
    await c2.getByRole('button', { name: /Ambil Job/ }).click();
    await c2.locator('.job-msg', { hasText: 'Berhasil' }).waitFor({ timeout: T });
    await shot(t2.page, 'ts2-claimed-full-phone');
    for (const t of [t1, t2, cs]) {
      await card(t.page, ticketId).waitFor({ state: 'detached', timeout: T });
    }
    await t1.page.locator('.state-empty', { hasText: 'Belum ada job terbuka' }).waitFor({ timeout: T });
    for (const t of [t1, t2]) assert.equal(await t.page.evaluate(() => window.__noReload), 'still-here');
  });

  it('the stale board claims the full job and is told it is full', { timeout: 60000 }, async () => {
    const c3 = card(t3.page, ticketId);
    assert.equal(await c3.locator('[data-testid="slots"]').textContent(), '0/2', 'still stale');
    const [resp] = await Promise.all([
      t3.page.waitForResponse((r) => r.url().endsWith(`/api/v1/pool/${ticketId}/claim`)),
      c3.getByRole('button', { name: /Ambil Job/ }).click(),
    ]);
    assert.equal(resp.status(), 409);
    assert.equal((await resp.json()).error.code, 'job_full');
    await c3.locator('.job-msg', { hasText: 'Sudah penuh — diambil teknisi lain' }).waitFor({ timeout: T });
    await c3.locator('.badge-full').waitFor({ timeout: T });
    await shot(t3.page, 'ts3-job-full-phone');
  });

  it('"Job Saya" lists the claimed ticket, and its page shows the details', { timeout: 60000 }, async () => {
    const p = t1.page;
    await p.getByRole('link', { name: 'Job Saya' }).click();
    await p.waitForURL(/#\/job-saya$/);
    const item = p.locator(`.ticket-card[data-ticket-id="${ticketId}"]`);
    await item.waitFor({ timeout: T });
    assert.match(await item.textContent(), new RegExp(ticketCode));
    assert.match(await item.textContent(), /Teknisi lengkap|Mencari teknisi/);
    await shot(p, 'ts-my-jobs-phone');
    await item.click();
    await p.waitForURL(new RegExp(`#/jobs/${ticketId}$`));
    await p.locator('.detail-title').waitFor({ timeout: T });
    const text = await p.locator('.detail').textContent();
    assert.match(text, /Budi <b>Santoso<\/b>/);
    assert.match(text, /Jl\. Kemang Raya No\. 12/);
    assert.match(text, /Teguh Santoso/);
    await waitFor(async () => /Tono Wibowo/.test(await p.locator('.detail').textContent()), { timeout: T, what: 'both technicians' });
    await shot(p, 'ts-job-detail-phone', { fullPage: true });
  });

  it('the claim page of a full job says it is no longer available', { timeout: 60000 }, async () => {
    const p = t3.page;
    await p.goto(`${g.url}/#/jobs/${ticketId}`);
    await p.locator('.state-title', { hasText: 'Job ini sudah tidak tersedia' }).waitFor({ timeout: T });
  });

  it('CS sees the ticket filled: status and both technicians', { timeout: 60000 }, async () => {
    const p = cs.page;
    const row = p.locator(`tr[data-ticket-id="${ticketId}"]`);
    await waitFor(async () => {
      await p.getByRole('button', { name: 'Semua' }).click();
      return /2\/2/.test(await row.textContent()) && /Teknisi lengkap/.test(await row.textContent());
    }, { timeout: T, interval: 500, what: 'the ticket row at 2/2, Teknisi lengkap' });
    await shot(p, 'cs-tickets-desktop');
    await row.click();
    await p.waitForURL(new RegExp(`#/tiket/${ticketId}$`));
    await p.locator('.panel-title', { hasText: 'Teknisi (2/2)' }).waitFor({ timeout: T });
    await shot(p, 'cs-ticket-detail-desktop', { fullPage: true });
  });

  it('CS on a phone gets the list as cards', { timeout: 60000 }, async () => {
    const csPhone = await openPage('cs-phone', PHONE);
    await login(csPhone.page, 'cs1');
    await csPhone.page.locator(`tr[data-ticket-id="${ticketId}"]`).waitFor({ timeout: T });
    await shot(csPhone.page, 'cs-tickets-phone', { fullPage: true });
  });

  it('logout returns to the login page and ends the session, in every tab', { timeout: 60000 }, async () => {
    const p = t1.page;
    // A second tab of the same browser (same cookie) on the board.
    const other = await t1.context.newPage();
    const otherRec = { name: 'ts1-tab2', page: other, console: [], pageErrors: [] };
    other.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') otherRec.console.push(`${m.type()}: ${m.text()}`); });
    other.on('pageerror', (e) => otherRec.pageErrors.push(String(e && e.stack || e)));
    pages.push(otherRec);
    await other.goto(`${g.url}/#/papan`);
    await other.locator('.live[data-state="live"]').waitFor({ timeout: T });

    await p.getByRole('button', { name: 'Keluar' }).click();
    await p.locator('#login-username').waitFor({ timeout: T });
    await p.waitForURL(/#\/login$/);
    await p.getByText('Anda telah keluar.').waitFor({ timeout: T });
    const status = await p.evaluate(async () => (await fetch('/api/v1/me')).status);
    assert.equal(status, 401);
    // A protected route now asks for the login again.
    await p.goto(`${g.url}/#/job-saya`);
    await p.locator('#login-username').waitFor({ timeout: T });

    // The other tab's board was closed by the server (1008): it notices
    // the session is gone and shows the login instead of reconnecting.
    await other.locator('#login-username').waitFor({ timeout: T });
    await other.getByText('Sesi Anda telah berakhir. Silakan masuk lagi.').waitFor({ timeout: T });
    await shot(other, 'ts-session-ended-phone');
  });
});

describe('the live feed survives a dropped connection', () => {
  it('shows "Terputus", reconnects, and catches up with what it missed', { timeout: 90000 }, async () => {
    // The test sits between the page and gssd: it can cut the socket and
    // refuse new ones for a while.
    let refuse = false;
    const routes = [];
    const t = await openPage('ts-reconnect', PHONE, {
      setup: (context) => context.routeWebSocket(/\/api\/v1\/ws$/, (ws) => {
        if (refuse) {
          ws.close({ code: 1011, reason: 'test: refused' });
          return;
        }
        ws.connectToServer();
        routes.push(ws);
      }),
    });
    await login(t.page, 'ts3');
    await t.page.locator('.live[data-state="live"]').waitFor({ timeout: T });
    await t.page.locator('.state-empty', { hasText: 'Belum ada job terbuka' }).waitFor({ timeout: T });
    await t.page.evaluate(() => { window.__noReload = 'still-here'; });

    refuse = true;
    for (const r of routes) await r.close({ code: 1012, reason: 'test: cut' });
    await t.page.locator('.live[data-state="offline"]', { hasText: 'Terputus' }).waitFor({ timeout: T });
    await shot(t.page, 'ts-board-offline-phone');

    // A job opens while this board is cut off.
    const r = await http(`${g.url}/api/v1/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'cs1', password: PASSWORD }),
    });
    assert.equal(r.status, 200);
    const created = await http(`${g.url}/api/v1/tickets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${r.json.token}` },
      body: JSON.stringify({
        customer_id: customerId, problem: 'Pasang CCTV 4 kamera di gudang', address: 'Jl. Raya Bekasi Km 18',
        area: 'Jakarta Timur', scheduled_at: '2026-12-02T03:00:00Z', techs_needed: 1, urgent: true,
      }),
    });
    assert.equal(created.status, 201, created.text);

    refuse = false; // the next retry (backoff: about 1, 2, 4 s) gets through
    await t.page.locator('.live[data-state="live"]').waitFor({ timeout: 30000 });
    const c = card(t.page, created.json.id);
    await c.waitFor({ timeout: T });
    assert.match(await c.textContent(), /MENDESAK/);
    assert.equal(await t.page.evaluate(() => window.__noReload), 'still-here');
    await shot(t.page, 'ts-board-urgent-phone');

    // And it is live again: a claim elsewhere shows here.
    const ts2 = await http(`${g.url}/api/v1/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'ts2', password: PASSWORD }),
    });
    const claimed = await http(`${g.url}/api/v1/pool/${created.json.id}/claim`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ts2.json.token}` }, body: '{}',
    });
    assert.equal(claimed.status, 200, claimed.text);
    await c.waitFor({ state: 'detached', timeout: T });
  });
});

describe('other roles', () => {
  it('Sales lands on the approval queue, without a board', { timeout: 60000 }, async () => {
    const s = await openPage('sales', PHONE);
    await login(s.page, 'sales1');
    await s.page.waitForURL(/#\/invoice$/);
    await s.page.getByRole('heading', { name: 'Approval Invoice' }).waitFor({ timeout: T });
    assert.equal(await s.page.locator('.live').count(), 0);
    await shot(s.page, 'sales-home-phone');
  });

  it('admin gets the CS pages and the admin landing page', { timeout: 60000 }, async () => {
    const a = await openPage('admin', DESKTOP);
    await login(a.page, 'admin1');
    await a.page.waitForURL(/#\/tiket$/);
    await a.page.locator('.table, .state-empty').first().waitFor({ timeout: T });
    await a.page.getByRole('link', { name: 'Akun', exact: true }).click();
    await a.page.waitForURL(/#\/akun$/, { timeout: T });
    await a.page.getByRole('button', { name: 'Tambah Akun' }).waitFor({ timeout: T });
    // A technician's page is not theirs: back to their home.
    await a.page.goto(`${g.url}/#/job-saya`);
    await a.page.waitForURL(/#\/tiket$/, { timeout: T });
  });

  it('a technician who opens the claim link before logging in lands on it after', { timeout: 60000 }, async () => {
    const s = await openPage('deeplink', PHONE);
    await s.page.goto(`${g.url}/#/jobs/999999`);
    await s.page.locator('#login-username').fill('ts2');
    await s.page.locator('#login-password').fill(PASSWORD);
    await s.page.getByRole('button', { name: 'Masuk' }).click();
    await s.page.waitForURL(/#\/jobs\/999999$/, { timeout: T });
    await s.page.locator('.state-title', { hasText: 'Job ini sudah tidak tersedia' }).waitFor({ timeout: T });
  });
});

describe('the pages kept to the CSP', () => {
  it('no CSP violation, no uncaught error, only expected failed requests', async () => {
    const problems = [];
    for (const rec of pages) {
      let csp = [];
      if (!rec.page.isClosed()) csp = await rec.page.evaluate(() => window.__csp || []).catch(() => []);
      for (const v of csp) problems.push(`${rec.name}: CSP violation ${v}`);
      for (const e of rec.pageErrors) problems.push(`${rec.name}: uncaught ${e}`);
      for (const m of rec.console) {
        if (/Content Security Policy|Refused to/i.test(m)) problems.push(`${rec.name}: ${m}`);
        // fetch() answers the app handles itself: 401 (not logged in /
        // wrong password), 404 (a claimed ticket not yet persisted), 409 (job full),
        // 429 (throttled login).
        else if (!/Failed to load resource: the server responded with a status of (401|404|409|429)\b/.test(m)) {
          problems.push(`${rec.name}: console ${m}`);
        }
      }
      // (An empty style="" is Playwright's: screenshots hide the caret through CSSOM.)
      const inline = rec.page.isClosed() ? [] : await rec.page.evaluate(() =>
        [...document.querySelectorAll('[style]:not([style=""]), script:not([src]), style')].map((e) => e.outerHTML.slice(0, 200))).catch(() => []);
      for (const e of inline) problems.push(`${rec.name}: inline style/script: ${e}`);
    }
    assert.deepEqual(problems, []);
  });
});
