// End-to-end: the claim page opened as a Telegram Mini App (docs/telegram.md
// "Mini App login"), in real headless Chromium against a real gssd, Redis
// and PostgreSQL. Telegram opens the app with its launch parameters in the
// fragment (#tgWebAppData=<initData>&tgWebAppVersion=8.0&…); the initData is
// built by tests/fakes/telegram.mjs as Telegram signs it, with start_param
// job_<id> (the broadcast button https://t.me/<bot>/<app>?startapp=job_<id>).
// The technician's account is linked the real way (POST
// /api/v1/me/telegram-link, "/start <code>" through /hooks/telegram).
//
//   - a linked technician lands on that job's claim page logged in, with
//     no password typed, and one tap claims it;
//   - the launch data leaves the address bar;
//   - an unlinked Telegram user and stale data get the normal login page
//     with a sentence saying why; after a password login the job opens;
//   - no CSP violation, no page error.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { startGssd, runGssd, psql, http, waitFor } from '../integration/harness.mjs';
import { startTelegramFake } from '../fakes/telegram.mjs';

const SHOTS = process.env.GSS_SHOTS_DIR || '/tmp/gss-shots';
const CHROMIUM = process.env.GSS_CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'rahasia-e2e-tg-1';
const PHONE = { width: 390, height: 844 };
const T = 15000;
const TOKEN = '7000000003:AAminiapp-e2e_token';
const SECRET = 'miniapp-e2e-Secret_01';

let g, tg, browser, customerId, csToken;
const pages = [];
let nextTgUser = 7500000000 + (process.pid % 100000) * 100;
const tgUser = (first_name) => ({ id: ++nextTgUser, first_name, language_code: 'id' });

async function addUser(username, role, name) {
  const r = await runGssd(['user', 'add', username, '--role', role, '--name', name], {
    env: { GSS_DATABASE_URL: g.database.url, GSS_ARGON2_FAST: '1', GSS_LOG_LEVEL: 'warn' },
    input: `${PASSWORD}\n`,
  });
  if (r.code !== 0) throw new Error(`user add ${username} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return Number((await psql(g.database.url, `SELECT id FROM users WHERE username = '${username}'`))[0][0]);
}

async function apiLogin(username) {
  const r = await http(`${g.url}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD }),
  });
  assert.equal(r.status, 200, r.text);
  return r.json.token;
}

function api(token, method, p, body) {
  return http(`${g.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

async function linkTelegram(token) {
  const who = tgUser('Teguh');
  const r = await api(token, 'POST', '/api/v1/me/telegram-link');
  assert.equal(r.status, 201, r.text);
  const d = await tg.deliverUpdate(g.url, tg.startUpdate({ user: who, code: r.json.code }), { secret: SECRET });
  assert.equal(d.status, 200, d.text);
  return who;
}

let ticketN = 0;
async function newJob() {
  const n = ++ticketN;
  const r = await api(csToken, 'POST', '/api/v1/tickets', {
    customer_id: customerId, problem: `AC bocor, unit ${n}`, address: `Jl. Melati No. ${n}, Jakarta`,
    scheduled_at: '2030-06-03T02:00:00Z', techs_needed: 2, area: 'Selatan',
  });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

/** The URL Telegram opens: the app's address and its launch parameters. */
function launchUrl(initData) {
  return `${g.url}/#tgWebAppData=${encodeURIComponent(initData)}&tgWebAppVersion=8.0&tgWebAppPlatform=android` +
    '&tgWebAppThemeParams=%7B%7D';
}

async function openPage(name) {
  const context = await browser.newContext({ viewport: PHONE, locale: 'id-ID', timezoneId: 'Asia/Jakarta' });
  const page = await context.newPage();
  const rec = { name, context, page, console: [], pageErrors: [] };
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  page.on('console', (m) => {
    if (m.type() === 'error') rec.console.push(m.text());
  });
  page.on('pageerror', (e) => rec.pageErrors.push(String(e && e.stack || e)));
  pages.push(rec);
  return rec;
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (set GSS_CHROMIUM)`);
  fs.mkdirSync(SHOTS, { recursive: true });
  tg = await startTelegramFake({ token: TOKEN, botUsername: 'gss_e2e_bot' });
  g = await startGssd({
    env: {
      GSS_LOG_REQUESTS: 0, GSS_TELEGRAM_TOKEN: TOKEN, GSS_TELEGRAM_API_BASE: tg.apiBase,
      GSS_TELEGRAM_BOT_USERNAME: 'gss_e2e_bot', GSS_TELEGRAM_WEBHOOK_SECRET: SECRET, GSS_OUTBOX_POLL_MS: '200',
    },
  });
  await addUser('tgcs', 'cs', 'Citra CS');
  await addUser('tgts', 'ts', 'Teguh Telegram');
  await addUser('tgts2', 'ts', 'Tari Tanpa Tautan');
  csToken = await apiLogin('tgcs');
  const rows = await psql(g.database.url, "INSERT INTO customers (name, phone, address, source) VALUES " +
    "('Bu Sari', '6281233330001', 'Jl. Melati No. 1, Jakarta', 'manual') RETURNING id");
  customerId = Number(rows[0][0]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, { timeout: 120000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (tg) await tg.stop();
});

describe('the claim page as a Telegram Mini App', () => {
  let who;
  let tsId;

  it('a linked technician lands on the claim page logged in and claims with one tap', { timeout: 90000 }, async () => {
    tsId = Number((await psql(g.database.url, "SELECT id FROM users WHERE username = 'tgts'"))[0][0]);
    who = await linkTelegram(await apiLogin('tgts'));
    const job = await newJob();
    const { page } = await openPage('miniapp-claim');
    await page.goto(launchUrl(tg.miniAppInitData({ user: who, start_param: `job_${job.id}` })));
    await page.waitForURL(new RegExp(`#/jobs/${job.id}$`), { timeout: T });
    assert.doesNotMatch(page.url(), /tgWebAppData/, 'the launch data left the address bar');
    await page.locator('.who-name', { hasText: 'Teguh Telegram' }).waitFor({ timeout: T });
    assert.equal(await page.locator('#login-password').count(), 0, 'no password asked');
    await page.getByRole('heading', { name: 'Ambil Job' }).waitFor({ timeout: T });
    await page.screenshot({ path: path.join(SHOTS, 'miniapp-claim-phone.png') });
    const btn = page.getByRole('button', { name: /Ambil Job/ });
    await btn.waitFor({ timeout: T });
    await btn.click();
    // the job is this technician's: its field page (the customer shows)
    await page.locator('.detail-title').waitFor({ timeout: T });
    assert.match(await page.locator('.detail').textContent(), /Bu Sari/);
    await waitFor(async () => (await psql(g.database.url,
      `SELECT count(*) FROM assignments WHERE ticket_id = ${job.id} AND tech_id = ${tsId}`))[0][0] === '1',
    { timeout: T, what: 'the claim in PostgreSQL' });
    await page.screenshot({ path: path.join(SHOTS, 'miniapp-claimed-phone.png') });
  });

  it('an unlinked Telegram user gets the normal login with a sentence, then the job after a password login',
    { timeout: 90000 }, async () => {
      const job = await newJob();
      const { page } = await openPage('miniapp-unlinked');
      await page.goto(launchUrl(tg.miniAppInitData({ user: tgUser('Tari'), start_param: `job_${job.id}` })));
      await page.waitForURL(/#\/login$/, { timeout: T });
      await page.locator('.login-form', { hasText: 'belum terhubung ke akun GSS' }).waitFor({ timeout: T });
      assert.doesNotMatch(page.url(), /tgWebAppData/);
      await page.screenshot({ path: path.join(SHOTS, 'miniapp-unlinked-phone.png') });
      await page.locator('#login-username').fill('tgts2');
      await page.locator('#login-password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Masuk' }).click();
      await page.waitForURL(new RegExp(`#/jobs/${job.id}$`), { timeout: T });
      await page.getByRole('button', { name: /Ambil Job/ }).waitFor({ timeout: T });
    });

  it('stale launch data says so on the login page', { timeout: 60000 }, async () => {
    const { page } = await openPage('miniapp-stale');
    const old = Math.floor(Date.now() / 1000) - 3600;
    await page.goto(launchUrl(tg.miniAppInitData({ user: who, auth_date: old, start_param: 'job_1' })));
    await page.locator('.login-form', { hasText: 'kedaluwarsa' }).waitFor({ timeout: T });
    assert.equal(await page.locator('.who-name').count(), 0, 'not logged in');
  });

  it('no CSP violation, no page error', async () => {
    for (const rec of pages) {
      assert.deepEqual(await rec.page.evaluate(() => window.__csp), [], `${rec.name}: CSP violations`);
      assert.deepEqual(rec.pageErrors, [], `${rec.name}: page errors`);
      // the refused logins are 401s the console reports as failed loads; nothing else
      const other = rec.console.filter((t) => !/status of 401/.test(t));
      assert.deepEqual(other, [], `${rec.name}: console errors`);
    }
  });
});
