// End-to-end: the CS WhatsApp inbox and the profile page's Telegram link
// (issue 10, items 4 and 6; docs/web.md "Inbox" and "Profil", docs/inbox.md)
// in real headless Chromium against a real gssd, Redis and PostgreSQL, with
// Meta played by tests/fakes/whatsapp.mjs (deliver() signs the webhook as
// Meta does) and Telegram by tests/fakes/telegram.mjs.
//
//   - a customer writes on WhatsApp; CS (desktop, 1280 px) sees the
//     conversation appear with unread 1 without reloading, opens it (read:
//     unread 0), replies "Baik, teknisi kami segera datang" through the
//     reply box, and the fake receives exactly that text for that number;
//   - "Buat Tiket" from the chat opens the new-ticket form with the customer
//     chosen and the problem = the customer's last message; submitted, the
//     ticket exists for that customer (API);
//   - a customer whose last message is two days old: "Jendela 24 jam
//     tertutup", no reply box, "Kirim Template" sends the configured
//     template (the fake sees type template, its name and language);
//   - a name with markup stays text; a photo shows as a thumbnail or
//     "Foto sedang diunduh";
//   - the inbox says what it is for; "Lihat Pelanggan"'s save says what was
//     stored;
//   - a reply whose answer is lost and that CS sends again is one message:
//     the retry carries the same Idempotency-Key;
//   - a reply Meta refused because the window closed meanwhile (131047,
//     reported by the status webhook) says so in words;
//   - at 360 px the list, then the chat full screen with "Kembali";
//   - a technician's profile at 360 px: "Hubungkan Telegram" shows the code,
//     "Buka di Telegram" (t.me/<bot>?start=<code>) and the expiry; the code
//     used through the webhook turns the page to "Telegram: terhubung";
//   - axe-core WCAG 2 A/AA on the chat and the profile; no CSP violation,
//     no page error.
// Screenshots (inbox-*.png, profile-*.png) go to GSS_SHOTS_DIR (default
// /tmp/gss-shots). Every expected value is written here.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

import { startGssd, runGssd, psql, http, waitFor, sleep } from '../integration/harness.mjs';
import { startWhatsAppFake } from '../fakes/whatsapp.mjs';
import { startTelegramFake } from '../fakes/telegram.mjs';
import { makePng } from '../integration/field_util.mjs';

const require = createRequire(import.meta.url);
const SHOTS = process.env.GSS_SHOTS_DIR || '/tmp/gss-shots';
const CHROMIUM = process.env.GSS_CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'rahasia-e2e-inbox';
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const T = 15000;

const WA_TOKEN = 'EAAinbox-e2e';
const PHONE_ID = '109876543210555';
const APP_SECRET = 'inbox-e2e-app-secret';
const TG_TOKEN = '7000000009:AAinbox-e2e_token';
const TG_SECRET = 'inbox-e2e-Secret_01';
const BOT = 'gss_inbox_bot';
const TEMPLATE = 'cs_followup_e2e';

const pid = String(process.pid % 10000).padStart(4, '0');
const RINA = { phone: `62813${pid}0001`, name: 'Bu Rina Wulandari' };
const JOKO = { phone: `62813${pid}0002`, name: 'Pak Joko' };
const ODD = { phone: `62813${pid}0003`, name: '<img src=x>Sinta' };
const PROBLEM = 'AC kamar tidak dingin sejak kemarin, tolong dicek besok pagi ya. Alamat Jl. Kenanga No. 7.';
const REPLY = 'Baik, teknisi kami segera datang';

let g, wa, tg, browser;
const users = {};
const pages = [];

async function addUser(username, role, name) {
  const r = await runGssd(['user', 'add', username, '--role', role, '--name', name], {
    env: { GSS_DATABASE_URL: g.database.url, GSS_ARGON2_FAST: '1', GSS_LOG_LEVEL: 'warn' },
    input: `${PASSWORD}\n`,
  });
  if (r.code !== 0) throw new Error(`user add ${username} exited ${r.code}: ${r.stderr}${r.stdout}`);
  const login = await http(`${g.url}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD }),
  });
  assert.equal(login.status, 200, login.text);
  users[username] = { id: login.json.user.id, token: login.json.token, name };
}

function call(username, method, p, body) {
  const headers = { authorization: `Bearer ${users[username].token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return http(`${g.url}/api/v1${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function customerIdOf(phone) {
  const rows = await psql(g.database.url, `SELECT id FROM customers WHERE phone = '${phone}'`);
  return rows.length ? Number(rows[0][0]) : null;
}

async function deliver(payload) {
  const r = await wa.deliver(g.url, payload, { appSecret: APP_SECRET });
  assert.equal(r.status, 200, `webhook answered ${r.status}: ${r.text}`);
}

async function openPage(name, opts) {
  const context = await browser.newContext({ locale: 'id-ID', timezoneId: 'Asia/Jakarta', ...opts });
  const page = await context.newPage();
  const rec = { name, context, page, console: [], pageErrors: [], failed: [] };
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') rec.console.push(`${m.type()}: ${m.text()} @ ${page.url()}`);
  });
  page.on('pageerror', (e) => rec.pageErrors.push(String(e && e.stack || e)));
  // which request a "Failed to load resource" was (the console does not say)
  page.on('response', (r) => {
    if (r.status() >= 400) rec.failed.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
  });
  pages.push(rec);
  return rec;
}

async function login(page, username) {
  await page.goto(`${g.url}/`);
  await page.locator('#login-username').fill(username);
  await page.locator('#login-password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Masuk' }).click();
  await page.locator('.who-name').waitFor({ timeout: T });
}

async function shot(page, name, { fullPage = false } = {}) {
  await page.evaluate(() => new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(res))));
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  }
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return r.violations.map((v) => `${v.id}: ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(', ')}`);
  });
}

const plain = (s) => String(s || '').replace(/[\u00a0\u202f]/g, ' ').replace(/\s+/g, ' ').trim();

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (set GSS_CHROMIUM)`);
  fs.mkdirSync(SHOTS, { recursive: true });
  wa = await startWhatsAppFake({
    token: WA_TOKEN, phoneNumberId: PHONE_ID, pairGapMs: 0,
    templates: [{ name: TEMPLATE, language: 'id', bodyParams: 1 }],
  });
  tg = await startTelegramFake({ token: TG_TOKEN, botUsername: BOT });
  g = await startGssd({
    env: {
      GSS_LOG_REQUESTS: '0', GSS_OUTBOX_POLL_MS: '200',
      GSS_WA_TOKEN: WA_TOKEN, GSS_WA_API_BASE: wa.apiBase, GSS_WA_PHONE_NUMBER_ID: PHONE_ID,
      GSS_WA_APP_SECRET: APP_SECRET, GSS_WA_VERIFY_TOKEN: 'vt-inbox', GSS_WA_TEMPLATE_FOLLOWUP: TEMPLATE,
      GSS_WA_TEMPLATE_LANG: 'id', GSS_OUTBOX_MAX_ATTEMPTS: '2', GSS_OUTBOX_BACKOFF_MS: '50',
      GSS_TELEGRAM_TOKEN: TG_TOKEN, GSS_TELEGRAM_API_BASE: tg.apiBase, GSS_TELEGRAM_BOT_USERNAME: BOT,
      GSS_TELEGRAM_WEBHOOK_SECRET: TG_SECRET,
    },
  });
  // Meta's statuses (sent, delivered) for what gssd sends, as the real one does.
  wa.webhook = { url: g.url, appSecret: APP_SECRET };
  wa.autoStatuses = true;
  await addUser('inboxcs', 'cs', 'Citra Inbox');
  await addUser('inboxts', 'ts', 'Tono Teknisi');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, { timeout: 120000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (wa) await wa.stop();
  if (tg) await tg.stop();
});

describe('the CS inbox', () => {
  let cs; // the CS desktop page record
  let rinaId;
  let ticketCode;

  it('a new WhatsApp message appears live with unread 1; opening it reads it; the reply reaches the customer', { timeout: 90000 }, async () => {
    cs = await openPage('cs-desktop', DESKTOP);
    const { page } = cs;
    await login(page, 'inboxcs');
    await page.getByRole('link', { name: /^Inbox/ }).click();
    await page.waitForURL(/#\/inbox$/, { timeout: T });
    await page.getByText('Belum ada percakapan').waitFor({ timeout: T });
    // what the screen is for, in the seed's words
    await page.getByText('Menanggapi chat WA pelanggan dan memastikan data tersimpan benar.', { exact: true }).waitFor({ timeout: T });
    await page.locator('.live[data-state="live"]').waitFor({ timeout: T });

    // The customer writes; the page was loaded before, and is not reloaded.
    await deliver(wa.inboundText({ from: RINA.phone, name: RINA.name, body: PROBLEM }));
    rinaId = await customerIdOf(RINA.phone);
    assert.ok(rinaId, 'the webhook made the customer');
    const item = page.getByRole('link', { name: new RegExp(`^${RINA.name}`) });
    await item.waitFor({ timeout: T });
    await waitFor(async () => /^,? ?1 belum dibaca$/.test(plain(await item.locator('.conv-badge').textContent().catch(() => ''))),
      { timeout: T, what: 'the unread count 1 on the conversation' });
    assert.match(plain(await item.textContent()), /AC kamar tidak dingin/, 'the preview');
    // the nav badge says it too
    await waitFor(async () => plain(await page.getByRole('link', { name: /^Inbox/ }).textContent()) === 'Inbox 1 belum dibaca',
      { timeout: T, what: 'the Inbox link showing 1 unread' });
    await shot(page, 'inbox-list-desktop');

    await item.click();
    await page.waitForURL(new RegExp(`#/inbox/${rinaId}$`), { timeout: T });
    const box = page.getByRole('textbox', { name: 'Balas pesan' });
    await box.waitFor({ timeout: T });
    await page.locator('.msg-in .msg-text', { hasText: PROBLEM }).waitFor({ timeout: T });
    // opened = read: the server counts 0, and so does the screen
    await waitFor(async () => {
      const r = await call('inboxcs', 'GET', '/inbox');
      const c = r.json.conversations.find((x) => x.customer.id === rinaId);
      return c && c.unread === 0 && r.json.unread_total === 0;
    }, { timeout: T, what: 'unread 0 after opening the chat' });
    await waitFor(async () => (await page.locator('[data-testid="inbox-unread"]').isHidden()), { timeout: T, what: 'the nav badge gone' });
    assert.equal(await item.locator('.conv-badge').count(), 0, 'no unread count on the open conversation');

    await box.fill(REPLY);
    await page.getByRole('button', { name: 'Kirim', exact: true }).click();
    await waitFor(() => wa.sentTo(RINA.phone).some((m) => m.type === 'text' && m.payload.text && m.payload.text.body === REPLY),
      { timeout: T, what: `the fake receiving "${REPLY}" for ${RINA.phone}` });
    const sent = wa.sentTo(RINA.phone).filter((m) => m.type === 'text');
    assert.equal(sent.length, 1, 'one message sent');
    assert.equal(await box.inputValue(), '', 'the reply box is empty again');
    const out = page.locator('.msg-out', { hasText: REPLY });
    await out.waitFor({ timeout: T });
    // Meta's statuses come back through the webhook: the bubble says so.
    await waitFor(async () => /Terkirim|Diterima|Dibaca/.test(await out.locator('.msg-status').textContent().catch(() => '')),
      { timeout: T, what: 'the reply marked sent or delivered' });
    assert.match(plain(await out.textContent()), /Citra Inbox/, 'who replied');
    await shot(page, 'inbox-chat-desktop');
  });

  it('"Buat Tiket" opens the new-ticket form with the customer and the problem filled in; the ticket is made', { timeout: 60000 }, async () => {
    const { page } = cs;
    await page.getByRole('button', { name: 'Buat Tiket' }).click();
    await page.waitForURL(/#\/tiket\/baru\?/, { timeout: T });
    await page.locator('.picked', { hasText: RINA.name }).waitFor({ timeout: T });
    assert.equal(await page.locator('#nt-problem').inputValue(), PROBLEM, 'the problem is the customer\'s message');
    await shot(page, 'inbox-newticket-prefilled-desktop');
    await page.locator('#nt-address').fill('Jl. Kenanga No. 7, Jakarta Selatan');
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/v1/tickets', { timeout: T }),
      page.getByRole('button', { name: 'Buat Tiket', exact: true }).click(),
    ]);
    assert.equal(resp.status(), 201, await resp.text());
    const made = await resp.json();
    await page.waitForURL(new RegExp(`#/tiket/${made.id}$`), { timeout: T });
    const t = await call('inboxcs', 'GET', `/tickets/${made.id}`);
    assert.equal(t.status, 200, t.text);
    assert.equal(t.json.customer_id, rinaId);
    assert.equal(t.json.problem, PROBLEM);
    ticketCode = made.code;
    // the inbox lists the open ticket with the conversation
    await page.goto(`${g.url}/#/inbox/${rinaId}`);
    await page.locator('.chat-who', { hasText: '1 tiket aktif' }).waitFor({ timeout: T });
  });

  it('"Lihat Pelanggan" shows the stored data and the tickets; the address CS fills in is saved', { timeout: 60000 }, async () => {
    const { page } = cs;
    await page.getByRole('link', { name: 'Lihat Pelanggan' }).click();
    await page.waitForURL(new RegExp(`#/inbox/${rinaId}/pelanggan$`), { timeout: T });
    const name = page.getByRole('textbox', { name: 'Nama' });
    await name.waitFor({ timeout: T });
    assert.equal(await name.inputValue(), RINA.name, 'the name from the WhatsApp profile');
    await page.locator('.cust-tickets', { hasText: ticketCode }).waitFor({ timeout: T });
    assert.match(plain(await page.locator('.cust-facts').textContent()), /Dari chat WhatsApp/);
    const addr = 'Jl. Kenanga No. 7, RT 02/RW 05, Cipete, Jakarta Selatan';
    await page.getByRole('textbox', { name: 'Alamat' }).fill(addr);
    await page.getByRole('button', { name: 'Simpan' }).click();
    await page.getByText('Data pelanggan tersimpan.').waitFor({ timeout: T });
    // what was stored, in words, to check against the chat
    assert.equal(plain(await page.locator('[data-testid="customer-saved-name"]').textContent()), `Nama: ${RINA.name}`);
    assert.equal(plain(await page.locator('[data-testid="customer-saved-address"]').textContent()), `Alamat: ${addr}`);
    const c = await call('inboxcs', 'GET', `/customers/${rinaId}`);
    assert.equal(c.json.address, addr);
    await shot(page, 'inbox-customer-desktop');
    await page.getByRole('link', { name: '← Kembali ke chat' }).click();
    await page.getByRole('textbox', { name: 'Balas pesan' }).waitFor({ timeout: T });
  });

  it('outside the 24-hour window: "Jendela 24 jam tertutup" and "Kirim Template" sends the template', { timeout: 60000 }, async () => {
    const { page } = cs;
    const twoDaysAgo = Math.floor(Date.now() / 1000) - 2 * 86400;
    await deliver(wa.inboundText({ from: JOKO.phone, name: JOKO.name, body: 'Pak, kapan teknisinya datang?', timestamp: twoDaysAgo }));
    const jokoId = await customerIdOf(JOKO.phone);
    const item = page.getByRole('link', { name: new RegExp(`^${JOKO.name}`) });
    await item.waitFor({ timeout: T });
    assert.match(plain(await item.textContent()), /Jendela tertutup/);
    await item.click();
    await page.waitForURL(new RegExp(`#/inbox/${jokoId}$`), { timeout: T });
    await page.getByText('Jendela 24 jam tertutup', { exact: true }).waitFor({ timeout: T });
    assert.equal(await page.getByRole('textbox', { name: 'Balas pesan' }).count(), 0, 'no reply box outside the window');
    await shot(page, 'inbox-window-closed-desktop');
    assert.deepEqual(await axeViolations(page), [], 'axe with the window closed');
    await page.getByRole('button', { name: 'Kirim Template' }).click();
    await waitFor(() => wa.sentTo(JOKO.phone).some((m) => m.type === 'template'), { timeout: T, what: 'the template at the fake' });
    const m = wa.sentTo(JOKO.phone).find((x) => x.type === 'template');
    assert.equal(m.template.name, TEMPLATE);
    assert.equal(m.template.language, 'id');
    assert.equal(wa.sentTo(JOKO.phone).filter((x) => x.type === 'text').length, 0, 'no text went out');
    const bubble = page.locator('.msg-out', { hasText: 'Template WhatsApp' });
    await bubble.waitFor({ timeout: T });
    await waitFor(async () => /Terkirim|Diterima|Dibaca/.test(await bubble.locator('.msg-status').textContent().catch(() => '')),
      { timeout: T, what: 'the template marked sent' });
    // said, so that it is not sent twice by mistake
    await page.locator('[data-testid="template-sent"]').waitFor({ timeout: T });
    await shot(page, 'inbox-template-sent-desktop');
  });

  it('a name with markup stays text; a photo shows as a thumbnail or "Foto sedang diunduh"', { timeout: 60000 }, async () => {
    const { page } = cs;
    await deliver(wa.inboundImage({ from: ODD.phone, name: ODD.name, bytes: makePng(), mimeType: 'image/png', caption: 'Ini unitnya' }));
    const oddId = await customerIdOf(ODD.phone);
    const item = page.locator(`a.conv[data-customer-id="${oddId}"]`);
    await item.waitFor({ timeout: T });
    assert.equal(plain(await item.locator('.conv-name').textContent()), ODD.name, 'the name as typed');
    assert.equal(await page.locator('.conv img').count(), 0, 'no element made from the name');
    await item.click();
    const bubble = page.locator('.msg-in').last();
    await bubble.waitFor({ timeout: T });
    await waitFor(async () => (await bubble.locator('img.msg-photo').count()) === 1 ||
      /Foto sedang diunduh|Foto gagal diunduh/.test(await bubble.textContent()), { timeout: T, what: 'the photo or its state' });
    assert.match(await bubble.textContent(), /Ini unitnya/, 'the caption');
    // E's worker may finish meanwhile: a stored photo has a real image behind it.
    await sleep(1500);
    const img = bubble.locator('img.msg-photo');
    if (await img.count()) {
      await waitFor(() => img.evaluate((el) => el.complete && el.naturalWidth > 0), { timeout: T, what: 'the thumbnail loaded' });
    }
    await shot(page, 'inbox-photo-desktop');
  });

  it('a reply WhatsApp refuses shows "Gagal" and why in its bubble', { timeout: 60000 }, async () => {
    const { page } = cs;
    wa.markUndeliverable(ODD.phone); // 131026: the number cannot receive messages
    const text = 'Baik Bu Sinta, kami cek fotonya dulu.';
    await page.getByRole('textbox', { name: 'Balas pesan' }).fill(text);
    await page.getByRole('button', { name: 'Kirim', exact: true }).click();
    const out = page.locator('.msg-out', { hasText: text });
    await out.waitFor({ timeout: T });
    await waitFor(async () => (await out.locator('.msg-error').count()) === 1, { timeout: 30000, what: 'the failure shown on the bubble' });
    assert.match(plain(await out.locator('.msg-status').textContent()), /Gagal/);
    assert.match(plain(await out.locator('.msg-error').textContent()), /^Tidak terkirim: .+/);
    assert.equal(wa.sentTo(ODD.phone).length, 0, 'nothing reached the number');
    // The list says it too, in words: the row's marker (it refetches on the
    // inbox.status event).
    const row = page.locator('.conv', { hasText: ODD.name });
    const marker = row.locator('[data-testid="conv-failed"]');
    await waitFor(async () => (await marker.count()) === 1, { timeout: T, what: 'the failed marker on the conversation row' });
    assert.equal(plain(await marker.textContent()).replace(/^[,!\s]+/, ''), 'Gagal terkirim');
    assert.match(plain(await row.textContent()), /Gagal terkirim/, 'in the row\'s accessible text');
    await shot(page, 'inbox-failed-desktop');
  });

  it('by keyboard: ↓ from the search box to a conversation, Enter opens it, Enter in the reply box sends', { timeout: 60000 }, async () => {
    const { page } = cs;
    await page.goto(`${g.url}/#/inbox`);
    await page.getByRole('link', { name: new RegExp(`^${RINA.name}`) }).waitFor({ timeout: T });
    await page.getByRole('searchbox', { name: 'Cari percakapan' }).fill('Rina');
    await waitFor(async () => (await page.locator('a.conv').count()) === 1, { timeout: T, what: 'the search narrowing the list to Rina' });
    await page.getByRole('searchbox', { name: 'Cari percakapan' }).press('ArrowDown');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.customerId), String(rinaId), 'the conversation has the focus');
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`#/inbox/${rinaId}$`), { timeout: T });
    const box = page.getByRole('textbox', { name: 'Balas pesan' });
    await box.waitFor({ timeout: T });
    await waitFor(() => box.evaluate((el) => el === document.activeElement), { timeout: T, what: 'the focus in the reply box' });
    const second = 'Teknisi kami Pak Tono, datang jam 09.00.';
    await page.keyboard.type(second);
    await page.keyboard.press('Enter');
    await waitFor(() => wa.sentTo(RINA.phone).some((m) => m.type === 'text' && m.payload.text.body === second),
      { timeout: T, what: 'the reply sent with Enter' });
    await page.getByRole('searchbox', { name: 'Cari percakapan' }).fill('');
  });

  it('a reply whose answer was lost, sent again, is one message: the retry carries the same Idempotency-Key', { timeout: 60000 }, async () => {
    const { page } = cs;
    await page.goto(`${g.url}/#/inbox/${rinaId}`);
    const box = page.getByRole('textbox', { name: 'Balas pesan' });
    await box.waitFor({ timeout: T });
    const text = 'Mohon ditunggu, teknisi kami sedang di jalan.';
    const keys = [];
    let n = 0;
    const url = `**/api/v1/customers/${rinaId}/messages`;
    await page.route(url, async (route) => {
      const req = route.request();
      if (req.method() !== 'POST') return route.continue();
      keys.push(req.headers()['idempotency-key']);
      if (++n === 1) {
        await route.fetch(); // it reaches gssd and is queued ...
        return route.abort('timedout'); // ... but the answer never arrives
      }
      return route.continue();
    });
    try {
      await box.fill(text);
      await page.getByRole('button', { name: 'Kirim', exact: true }).click();
      await page.locator('.form-message-error', { hasText: /terhubung/ }).waitFor({ timeout: T });
      assert.equal(await box.inputValue(), text, 'the text stays for the retry');
      await page.getByRole('button', { name: 'Kirim', exact: true }).click();
      await waitFor(async () => (await box.inputValue()) === '', { timeout: T, what: 'the retry answered' });
    } finally {
      await page.unroute(url);
      // the lost answer is this test's doing, not the page's
      cs.console = cs.console.filter((c) => !/ERR_TIMED_OUT/.test(c));
    }
    assert.equal(keys.length, 2, 'two requests');
    assert.match(keys[0] || '', /^[A-Za-z0-9_-]{1,64}$/, 'an Idempotency-Key');
    assert.equal(keys[1], keys[0], 'the retry sends the same key');
    const rows = await psql(g.database.url, `SELECT count(*) FROM outbox WHERE customer_id = ${rinaId}
      AND payload #>> '{message,text,body}' = '${text}'`);
    assert.equal(rows[0][0], '1', 'one message queued');
    await page.locator('.msg-out', { hasText: text }).waitFor({ timeout: T });
    assert.equal(await page.locator('.msg-out', { hasText: text }).count(), 1, 'one bubble');
    await waitFor(() => wa.sentTo(RINA.phone).some((m) => m.type === 'text' && m.payload.text.body === text),
      { timeout: T, what: 'the reply at the fake' });
    // the next message written gets a key of its own
    const next = 'Sudah sampai, Bu.';
    await box.fill(next);
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === `/api/v1/customers/${rinaId}/messages`, { timeout: T }),
      page.getByRole('button', { name: 'Kirim', exact: true }).click(),
    ]);
    assert.equal(resp.status(), 202, await resp.text());
    const k3 = resp.request().headers()['idempotency-key'];
    assert.ok(k3 && k3 !== keys[0], 'a new message, a new key');
  });

  it('a reply refused because the window closed before it left says so in words', { timeout: 60000 }, async () => {
    const { page } = cs;
    const late = 'Balasan yang terlambat terkirim';
    // as the status webhook leaves a text Meta refused with 131047 (0009)
    await psql(g.database.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key, customer_id, status, attempts, last_error)
      VALUES ('whatsapp', 'wa.reply', 'wa:${RINA.phone}',
              '{"message":{"type":"text","text":{"body":"${late}"}},"sent_by":${users.inboxcs.id}}',
              'e2e-131047-${pid}', ${rinaId}, 'failed', 1, 'whatsapp: not delivered: 131047 Re-engagement message')`);
    await page.goto(`${g.url}/#/inbox/${rinaId}`);
    const out = page.locator('.msg-out', { hasText: late });
    await out.waitFor({ timeout: T });
    assert.match(plain(await out.locator('.msg-status').textContent()), /Gagal/);
    assert.match(plain(await out.locator('.msg-error').textContent()), /^Tidak terkirim: Jendela 24 jam sudah tertutup saat dikirim/);
    await shot(page, 'inbox-failed-window-desktop');
  });

  it('the chat passes axe-core WCAG 2 A/AA', { timeout: 60000 }, async () => {
    const { page } = cs;
    await page.goto(`${g.url}/#/inbox/${rinaId}`);
    await page.getByRole('textbox', { name: 'Balas pesan' }).waitFor({ timeout: T });
    assert.deepEqual(await axeViolations(page), []);
  });

  it('at 360 px: the list, then the chat full screen with "Kembali"', { timeout: 60000 }, async () => {
    const ph = await openPage('cs-phone', PHONE);
    const { page } = ph;
    await login(page, 'inboxcs');
    await page.goto(`${g.url}/#/inbox`);
    const item = page.getByRole('link', { name: new RegExp(`^${RINA.name}`) });
    await item.waitFor({ timeout: T });
    assert.equal(await page.locator('.inbox-chat').isVisible(), false, 'no chat pane beside the list');
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 360, 'nothing wider than the phone');
    await shot(page, 'inbox-list-360');
    await item.click();
    await page.getByRole('textbox', { name: 'Balas pesan' }).waitFor({ timeout: T });
    assert.equal(await page.locator('.inbox-list').isVisible(), false, 'the chat is full screen');
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 360, 'the chat fits 360 px');
    const back = page.getByRole('link', { name: /^← Kembali/ });
    assert.ok(await back.isVisible());
    await shot(page, 'inbox-chat-360');
    await back.click();
    await item.waitFor({ timeout: T });
  });
});

describe('the profile page', () => {
  it('at 360 px a technician gets a Telegram code and link; used, the page says "terhubung"', { timeout: 90000 }, async () => {
    const ph = await openPage('ts-profile', PHONE);
    const { page } = ph;
    await login(page, 'inboxts');
    await page.getByRole('link', { name: 'Profil' }).click();
    await page.waitForURL(/#\/profile$/, { timeout: T });
    await page.getByText('Telegram: belum terhubung').waitFor({ timeout: T });
    const facts = plain(await page.locator('.profile-facts').textContent());
    assert.match(facts, /Tono Teknisi/);
    assert.match(facts, /inboxts/);
    assert.match(facts, /Teknisi/);
    await shot(page, 'profile-unlinked-360');
    await page.getByRole('button', { name: 'Hubungkan Telegram' }).click();
    const codeEl = page.locator('[data-testid="telegram-code"]');
    await codeEl.waitFor({ timeout: T });
    const m = /^\/start ([A-Za-z0-9_-]{20,64})$/.exec(plain(await codeEl.textContent()));
    assert.ok(m, 'a /start <code> line');
    const code = m[1];
    const open = page.getByRole('link', { name: 'Buka di Telegram' });
    assert.equal(await open.getAttribute('href'), `https://t.me/${BOT}?start=${code}`);
    assert.match(plain(await page.locator('[data-testid="telegram-expiry"]').textContent()), /berlaku sekali, sampai \d{2}\.\d{2} WIB/);
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 360, 'the code fits 360 px');
    await shot(page, 'profile-code-360', { fullPage: true });
    assert.deepEqual(await axeViolations(page), [], 'axe on the profile with a code');

    // The technician presses Start in Telegram: the page sees the link by itself.
    const d = await tg.deliverUpdate(g.url, tg.startUpdate({ user: { id: 7600000000 + Number(pid), first_name: 'Tono', language_code: 'id' }, code }), { secret: TG_SECRET });
    assert.equal(d.status, 200, d.text);
    await page.getByText('Telegram: terhubung').waitFor({ timeout: T });
    await shot(page, 'profile-linked-360');
  });
});

describe('the page', () => {
  it('no CSP violation, no uncaught error, no unexpected console error', async () => {
    const problems = [];
    for (const rec of pages) {
      const csp = rec.page.isClosed() ? [] : await rec.page.evaluate(() => window.__csp || []).catch(() => []);
      for (const v of csp) problems.push(`${rec.name}: CSP violation ${v}`);
      for (const e of rec.pageErrors) problems.push(`${rec.name}: uncaught ${e}`);
      // 401 before the login is how the app learns it has no session.
      for (const c of rec.console) if (!/status of 401\b/.test(c)) problems.push(`${rec.name}: ${c}`);
      for (const f of rec.failed) if (!/ 401$/.test(f)) problems.push(`${rec.name}: request ${f}`);
    }
    assert.deepEqual(problems, []);
  });
});
