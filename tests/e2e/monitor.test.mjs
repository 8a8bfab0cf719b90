// End-to-end: the CS monitor and "Cari Pengganti" in the web app
// (docs/monitor.md, docs/web.md), in real headless Chromium against a real
// gssd, Redis and PostgreSQL (tests/integration/harness.mjs).
//
// gssd runs with a 1 s grace and a 3 s no-show, scanning every 500 ms. The
// story: a ticket scheduled a few seconds ahead is claimed by technician 1
// (API). CS's desktop monitor shows the visit waiting, then late (amber, with
// its minutes), then no-show (red) within one scan of each deadline, with no
// reload, and rings and notifies on the no-show. Two phones (360 px) are open
// meanwhile: technician 2 on the board, technician 1 on "Job Saya". CS clicks
// "Cari Pengganti" and confirms with a reason: technician 2's board gets the
// job back, marked MENDESAK and above an earlier job that is not urgent;
// technician 1's phone says "Anda dilepas dari job ini oleh CS" and drops
// the job from Job Saya; their board and job page refuse it too.
// Technician 2 claims it and checks in: the monitor shows the check-in with
// its distance and verdict, and "Cari Pengganti" on them now asks for force.
// The ticket's timeline shows the replacement with its reason.
//
// Screenshots go to GSS_SHOTS_DIR (default /tmp/gss-shots), named mon-*.png.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

import { SOURCE_DIR, startGssd, runGssd, psql, http, waitFor } from '../integration/harness.mjs';

const SHOTS = process.env.GSS_SHOTS_DIR || '/tmp/gss-shots';
const CHROMIUM = process.env.GSS_CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'rahasia-e2e-3';
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const DESKTOP = { viewport: { width: 1280, height: 860 } };
const T = 15000;

const GRACE_S = 1;
const NOSHOW_S = 3;
const SCAN_MS = 500;
// One scan after a deadline, plus what the publish, the socket and a redraw
// take on a loaded 2-core machine.
const SLACK_MS = SCAN_MS + 1500;
const AHEAD_MS = 6000; // the visit is scheduled this far ahead of its creation

const SITE = { latitude: -6.2607, longitude: 106.8137 }; // Jl. Kemang Raya
const AMBER = 'rgb(168, 84, 0)'; // --late in app.css
const RED = 'rgb(200, 40, 28)'; // --urgent

let g;
let browser;
let customerId;
const users = {}; // username → {id, token, name}
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
  users[username] = { id: login.json.user.id, token: login.json.token, name };
}

async function call(username, method, p, body) {
  const headers = { authorization: `Bearer ${users[username].token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return http(`${g.url}/api/v1${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

const isoSeconds = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const jakartaYmd = (d) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Jakarta' }).format(d);

// The monitor backend is written alongside this UI: say what is missing
// instead of letting every step time out.
let backendProblem = null;
function requireBackend() {
  if (backendProblem) throw new Error(`monitor backend missing: ${backendProblem}`);
}

async function openPage(name, opts, { init } = {}) {
  const context = await browser.newContext({ locale: 'id-ID', timezoneId: 'Asia/Jakarta', ...opts });
  const page = await context.newPage();
  const rec = { name, context, page, console: [], pageErrors: [], loads: 0 };
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  if (init) await page.addInitScript(init);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') rec.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => rec.pageErrors.push(String(e && e.stack || e)));
  page.on('load', () => { rec.loads += 1; });
  pages.push(rec);
  return rec;
}

// Records the monitor's sound and notifications: WebAudio oscillators started
// and Notification objects made, with the permission prompt answered "allow".
function spyAlerts() {
  window.__beeps = 0;
  window.__notes = [];
  window.__permAsked = 0;
  const Real = window.AudioContext;
  if (Real) {
    window.AudioContext = class extends Real {
      createOscillator() {
        const o = super.createOscillator();
        const start = o.start.bind(o);
        o.start = (...a) => {
          window.__beeps += 1;
          return start(...a);
        };
        return o;
      }
    };
  }
  let perm = 'default';
  class FakeNotification {
    constructor(title, opts) {
      window.__notes.push({ title, body: opts && opts.body, tag: opts && opts.tag });
    }
    close() {}
    static get permission() { return perm; }
    static requestPermission() {
      window.__permAsked += 1;
      perm = 'granted';
      return Promise.resolve(perm);
    }
  }
  window.Notification = FakeNotification;
}

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

const bg = (loc) => loc.evaluate((el) => getComputedStyle(el).backgroundColor);

// ---- setup ---------------------------------------------------------------------

before(async () => {
  // No browser is a failure, not a skip: the screens would go untested.
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (set GSS_CHROMIUM)`);
  fs.mkdirSync(SHOTS, { recursive: true });
  g = await startGssd({
    env: {
      GSS_LATE_GRACE_S: String(GRACE_S), GSS_NOSHOW_AFTER_S: String(NOSHOW_S), GSS_MONITOR_SCAN_MS: String(SCAN_MS),
      GSS_GEOFENCE_M: '200',
    },
  });
  await addUser('cs1', 'cs', 'Citra Customer Service');
  await addUser('ts1', 'ts', 'Teguh Santoso');
  await addUser('ts2', 'ts', 'Tono Wibowo');
  const rows = await psql(g.database.url,
    "INSERT INTO customers (name, phone, address, source) VALUES " +
    "('Budi <b>Santoso</b>', '6281211110001', 'Jl. Kemang Raya No. 12, Jakarta Selatan', 'manual') RETURNING id");
  customerId = Number(rows[0][0]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
}, { timeout: 120000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
});

// ---- the labels, in node -----------------------------------------------------------

describe('monitor labels (web/js/format.js)', () => {
  it('words late, no-show and the replacement', async () => {
    const f = await import(pathToFileURL(path.join(SOURCE_DIR, 'web/js/format.js')).href);
    assert.equal(f.lateText('late', 12), 'Terlambat 12 menit');
    assert.equal(f.lateText('late', 0), 'Terlambat kurang dari 1 menit');
    assert.equal(f.lateText('no_show', 62), 'Terlambat 62 menit');
    assert.equal(f.lateText('waiting', 5), '');
    assert.equal(f.minutesLate('2026-12-01T02:00:00Z', Date.parse('2026-12-01T02:12:59Z')), 12);
    assert.equal(f.minutesLate('2026-12-01T02:00:00Z', Date.parse('2026-12-01T01:00:00Z')), 0);
    assert.equal(f.monitorLabel('no_show'), 'Tidak datang');
    assert.equal(f.monitorLabel('waiting'), 'Menunggu');
    assert.equal(f.actionLabel('assignment.replace'), 'Teknisi digantikan');
    assert.equal(f.actionLabel('assignment.no_show'), 'Ditandai tidak datang');
    assert.equal(f.actionLabel('assignment.late'), 'Ditandai terlambat');
  });

  it('reads the released technician from a pool message (web/js/live.js)', async () => {
    // live.js needs no DOM to be imported; releasedTechOf is pure.
    const l = await import(pathToFileURL(path.join(SOURCE_DIR, 'web/js/live.js')).href);
    assert.equal(l.releasedTechOf({ id: 1, released_tech_id: 7 }), 7);
    assert.equal(l.releasedTechOf({ id: 1 }), null);
    assert.equal(l.releasedTechOf({ id: 1, released_tech_id: 0 }), null);
  });
});

// ---- the story -------------------------------------------------------------------------

describe('CS monitor: late, no-show, Cari Pengganti, live on phones', () => {
  let ticket; // the visit that goes wrong
  let earlier; // an open job scheduled before it, not urgent
  let sched; // ticket's scheduled time (ms)
  let cs;
  let ph1; // technician 1 (the no-show)
  let ph2; // technician 2 (the replacement)
  const REASON = 'Teknisi tidak bisa dihubungi, pelanggan menunggu';

  it('CS opens the monitor and turns notifications on', { timeout: 60000 }, async () => {
    const probe = await call('cs1', 'GET', `/monitor?date=${jakartaYmd(new Date())}`);
    if (probe.status !== 200) backendProblem = `GET /api/v1/monitor answered ${probe.status} (${probe.text.slice(0, 120)})`;
    else if (!Array.isArray(probe.json.visits) || typeof probe.json.seq !== 'number') backendProblem = 'GET /api/v1/monitor has no visits[] / seq';
    requireBackend();

    cs = await openPage('cs', DESKTOP, { init: spyAlerts });
    await login(cs.page, 'cs1');
    await cs.page.getByRole('link', { name: 'Monitor' }).click();
    await cs.page.waitForURL(/#\/monitor$/);
    await cs.page.locator('.live[data-state="live"]').waitFor({ timeout: T });
    await cs.page.locator('.mon-list[aria-busy="false"]').waitFor({ timeout: T });
    await cs.page.locator('.state-empty', { hasText: 'Tidak ada kunjungan' }).waitFor({ timeout: T });
    const enable = cs.page.locator('[data-testid="notif-enable"]');
    await enable.click();
    await cs.page.locator('[data-testid="notif-state"]', { hasText: 'Notifikasi aktif' }).waitFor({ timeout: T });
    assert.equal(await enable.isHidden(), true, 'the button goes once permission is given');
    assert.equal(await cs.page.evaluate(() => window.__permAsked), 1);
    await shot(cs.page, 'mon-cs-empty');
  });

  it('a claimed visit shows waiting, then late (amber), then no-show (red), with no reload', { timeout: 60000 }, async () => {
    requireBackend();
    const mk = async (problem, at, urgent = false) => {
      const r = await call('cs1', 'POST', '/tickets', {
        customer_id: customerId, problem, address: 'Jl. Kemang Raya No. 12', area: 'Jakarta Selatan',
        lat: SITE.latitude, lng: SITE.longitude, scheduled_at: isoSeconds(at), techs_needed: 1, urgent,
      });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const now = Date.now();
    sched = Math.ceil((now + AHEAD_MS) / 1000) * 1000;
    earlier = await mk('Cuci AC (belum diambil)', sched - 3000);
    ticket = await mk('AC bocor air, ruang tamu', sched);
    const c = await call('ts1', 'POST', `/pool/${ticket.id}/claim`, {});
    assert.equal(c.status, 200, c.text);

    const p = cs.page;
    const loadsBefore = cs.loads;
    const visit = p.locator(`.mon-visit[data-ticket-id="${ticket.id}"]`);
    const row = visit.locator(`.mon-tech[data-tech-id="${users.ts1.id}"]`);
    await row.waitFor({ timeout: T });
    assert.equal(await row.getAttribute('data-state'), 'waiting', 'before the deadline');
    assert.ok(Date.now() < sched + GRACE_S * 1000, 'the waiting state was seen before the late deadline');
    await visit.locator('.strong', { hasText: 'Budi <b>Santoso</b>' }).waitFor({ timeout: T }); // text stays text
    await shot(p, 'mon-cs-waiting');

    await p.locator(`.mon-tech[data-tech-id="${users.ts1.id}"][data-state="late"]`).waitFor({ timeout: T });
    const lateSeen = Date.now();
    assert.ok(lateSeen <= sched + GRACE_S * 1000 + SLACK_MS,
      `late shown ${lateSeen - sched - GRACE_S * 1000} ms after its deadline (one scan is ${SCAN_MS} ms)`);
    assert.match(await row.locator('[data-testid="late-text"]').textContent(), /^Terlambat (kurang dari 1 menit|\d+ menit)$/);
    assert.equal(await bg(row.locator('[data-testid="tech-state"]')), AMBER, 'late is amber');
    assert.equal(await visit.evaluate((el) => el.classList.contains('is-late')), true);
    assert.equal(await p.locator('[data-testid="count-late"] .mon-count-n').textContent(), '1');
    await shot(p, 'mon-cs-late');

    await p.locator(`.mon-tech[data-tech-id="${users.ts1.id}"][data-state="no_show"]`).waitFor({ timeout: T });
    const noShowSeen = Date.now();
    assert.ok(noShowSeen <= sched + NOSHOW_S * 1000 + SLACK_MS,
      `no-show shown ${noShowSeen - sched - NOSHOW_S * 1000} ms after its deadline`);
    assert.match(await row.locator('[data-testid="late-text"]').textContent(), /^Terlambat (kurang dari 1 menit|\d+ menit)$/);
    assert.equal(await row.locator('[data-testid="tech-state"]').textContent(), 'Tidak datang');
    assert.equal(await row.locator('[data-testid="checkin"]').count(), 0, 'no check-in line without a check-in');
    assert.equal(await bg(row.locator('[data-testid="tech-state"]')), RED, 'no-show is red');
    assert.equal(await p.locator('[data-testid="count-no_show"] .mon-count-n').textContent(), '1');
    assert.equal(await p.locator('[data-testid="count-late"] .mon-count-n').textContent(), '0');
    // The sound and the notification, once.
    await waitFor(async () => (await p.evaluate(() => window.__notes.length)) === 1, { timeout: T, what: 'a notification' });
    const notes = await p.evaluate(() => window.__notes);
    assert.match(notes[0].title, /Teguh Santoso/);
    assert.match(notes[0].body, new RegExp(ticket.code));
    assert.ok(await p.evaluate(() => window.__beeps) >= 1, 'a beep');
    assert.equal(cs.loads, loadsBefore, 'the page was never reloaded');
    // The no-show is on top of the list.
    const first = await p.locator('.mon-visit').first().getAttribute('data-ticket-id');
    assert.equal(Number(first), ticket.id);
    await shot(p, 'mon-cs-noshow');
  });

  it('the phones are open: technician 2 on the board, technician 1 on Job Saya', { timeout: 60000 }, async () => {
    requireBackend();
    ph2 = await openPage('ts2', PHONE);
    await login(ph2.page, 'ts2');
    await ph2.page.locator('.live[data-state="live"]').waitFor({ timeout: T });
    await ph2.page.locator(`.job-card[data-job-id="${earlier.id}"]`).waitFor({ timeout: T });
    assert.equal(await ph2.page.locator(`.job-card[data-job-id="${ticket.id}"]`).count(), 0, 'the job is full: not on the board');
    ph1 = await openPage('ts1', PHONE);
    await login(ph1.page, 'ts1');
    await ph1.page.locator('.live[data-state="live"]').waitFor({ timeout: T });
    await ph1.page.getByRole('link', { name: 'Job Saya' }).click();
    await ph1.page.locator(`.ticket-card[data-ticket-id="${ticket.id}"]`).waitFor({ timeout: T });
    await shot(ph1.page, 'mon-ts1-jobsaya-before');
  });

  it('CS clicks Cari Pengganti, confirms with a reason', { timeout: 60000 }, async () => {
    requireBackend();
    const p = cs.page;
    await p.locator(`.mon-visit[data-ticket-id="${ticket.id}"] button[data-replace="${users.ts1.id}"]`).click();
    const dlg = p.locator('dialog.dialog[open]');
    await dlg.waitFor({ timeout: T });
    assert.match(await dlg.locator('.dialog-title').textContent(), /Cari pengganti untuk Teguh Santoso/);
    assert.equal(await dlg.locator('#rep-force').isVisible(), false, 'no force before a check-in');
    const posts = [];
    p.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith(`/tickets/${ticket.id}/replace`)) posts.push(r.postDataJSON()); });
    await dlg.getByRole('button', { name: 'Ya, cari pengganti' }).click();
    await dlg.locator('.form-message', { hasText: 'Isi alasan' }).waitFor({ timeout: T });
    assert.equal(posts.length, 0, 'no request without a reason');
    await shot(p, 'mon-cs-dialog');
    await p.locator('#rep-reason').fill(REASON);
    await dlg.getByRole('button', { name: 'Ya, cari pengganti' }).click();
    await p.locator('dialog.dialog[open]').waitFor({ state: 'detached', timeout: T }).catch(() => {});
    await waitFor(async () => !(await p.locator('dialog.dialog').evaluate((d) => d.open)), { timeout: T, what: 'the dialog closes' });
    assert.deepEqual(posts, [{ tech_id: users.ts1.id, reason: REASON }]);
    await p.locator(`.mon-tech[data-tech-id="${users.ts1.id}"][data-state="replaced"]`).waitFor({ timeout: T });
    await p.locator(`.mon-visit[data-ticket-id="${ticket.id}"] .badge-urgent`).waitFor({ timeout: T });
    await shot(p, 'mon-cs-replaced');
  });

  it('technician 2\'s phone board gets the job back, MENDESAK and first, without reload', { timeout: 60000 }, async () => {
    requireBackend();
    const p = ph2.page;
    const card = p.locator(`.job-card[data-job-id="${ticket.id}"]`);
    await card.waitFor({ timeout: T });
    await card.locator('.badge-urgent', { hasText: 'MENDESAK' }).waitFor({ timeout: T });
    const order = await p.locator('.job-card').evaluateAll((els) => els.map((e) => Number(e.dataset.jobId)));
    assert.ok(order.indexOf(ticket.id) === 0 && order.includes(earlier.id), `urgent first, before the earlier job: ${order}`);
    assert.equal(ph2.loads, 1, 'no reload');
    await shot(p, 'mon-ts2-board-urgent');
  });

  it('technician 1\'s phone says why the job left and drops it from Job Saya', { timeout: 60000 }, async () => {
    requireBackend();
    const p = ph1.page;
    await p.locator('[data-testid="released-notice"]', { hasText: 'Anda dilepas dari job ini oleh CS' }).waitFor({ timeout: T });
    await waitFor(async () => (await p.locator(`.ticket-card[data-ticket-id="${ticket.id}"]`).count()) === 0,
      { timeout: T, what: 'the job leaves Job Saya' });
    assert.equal(ph1.loads, 1, 'no reload');
    await shot(p, 'mon-ts1-released');
    // Their board shows the job back, but not for them.
    await p.locator('.nav-link[data-path="/papan"]').click();
    const card = p.locator(`.job-card[data-job-id="${ticket.id}"]`);
    await card.locator('[data-testid="released"]', { hasText: 'Anda dilepas dari job ini' }).waitFor({ timeout: T });
    assert.equal(await card.locator('button[data-claim]').count(), 0, 'no claim button');
    await shot(p, 'mon-ts1-board');
    await p.goto(`${g.url}/#/jobs/${ticket.id}`);
    await p.locator('[data-testid="released-notice"]').waitFor({ timeout: T });
    await shot(p, 'mon-ts1-jobpage');
    const again = await call('ts1', 'POST', `/pool/${ticket.id}/claim`, {});
    assert.equal(again.status, 409);
    assert.equal(again.json.error.code, 'released_from_job');
  });

  it('technician 2 claims and checks in; the monitor shows distance and verdict, and asks for force', { timeout: 60000 }, async () => {
    requireBackend();
    const p = ph2.page;
    await p.locator(`.job-card[data-job-id="${ticket.id}"] button[data-claim]`).click();
    await p.locator(`.job-card[data-job-id="${ticket.id}"] .job-msg-ok`).waitFor({ timeout: T });
    // The check-in through the API (the phone's check-in is fieldwork.test.mjs's).
    await waitFor(async () => {
      const r = await call('ts2', 'POST', `/tickets/${ticket.id}/checkin`, { lat: SITE.latitude + 0.0003, lng: SITE.longitude, accuracy_m: 10 });
      return r.status === 200;
    }, { timeout: T, what: 'the check-in of technician 2' });
    const c = cs.page;
    const row = c.locator(`.mon-visit[data-ticket-id="${ticket.id}"] .mon-tech[data-tech-id="${users.ts2.id}"]`);
    await row.locator('[data-testid="checkin"]').waitFor({ timeout: T });
    const text = await row.locator('[data-testid="checkin"]').textContent();
    assert.match(text, /Check-in \d{2}\.\d{2} WIB · 3\d m dari lokasi/);
    assert.match(text, /Di dalam area/);
    assert.match(await row.getAttribute('data-state'), /^(checked_in|on_time)$/);
    await row.locator('button[data-replace]').click();
    const dlg = c.locator('dialog.dialog[open]');
    await dlg.waitFor({ timeout: T });
    assert.equal(await dlg.locator('#rep-force').isVisible(), true, 'after a check-in: force');
    await c.locator('#rep-reason').fill('uji paksa');
    await dlg.getByRole('button', { name: 'Ya, cari pengganti' }).click();
    await dlg.locator('.form-message', { hasText: 'tetap ganti' }).waitFor({ timeout: T });
    await shot(c, 'mon-cs-force');
    await dlg.getByRole('button', { name: 'Kembali' }).click();
    assert.equal(cs.loads, 1, 'the monitor was never reloaded');
    await shot(c, 'mon-cs-checkedin');
  });

  it('the ticket\'s timeline shows the replacement with its reason', { timeout: 60000 }, async () => {
    requireBackend();
    const p = cs.page;
    await p.goto(`${g.url}/#/tiket/${ticket.id}`);
    const item = p.locator('.tl-item', { hasText: 'Teknisi digantikan' });
    await item.waitFor({ timeout: T });
    assert.match(await item.textContent(), new RegExp(`Alasan: ${REASON}`));
    // The technicians' list of GET /tickets/{id} leaves released assignments
    // out today, so only the timeline names the replaced technician.
    assert.ok(await p.locator('.tech', { hasText: 'Tono Wibowo' }).count() === 1, 'the replacement holds the slot');
    await shot(p, 'mon-cs-ticket-timeline', { fullPage: true });
  });

  it('no CSP violation, no uncaught error, only expected failed requests', async () => {
    const problems = [];
    for (const rec of pages) {
      const csp = rec.page.isClosed() ? [] : await rec.page.evaluate(() => window.__csp || []).catch(() => []);
      for (const v of csp) problems.push(`${rec.name}: CSP violation ${v}`);
      for (const e of rec.pageErrors) problems.push(`${rec.name}: uncaught ${e}`);
      for (const m of rec.console) {
        if (/Content Security Policy|Refused to/i.test(m)) problems.push(`${rec.name}: ${m}`);
        else if (!/Failed to load resource: the server responded with a status of (401|404|409)\b/.test(m)) problems.push(`${rec.name}: console ${m}`);
      }
      const inline = rec.page.isClosed() ? [] : await rec.page.evaluate(() =>
        [...document.querySelectorAll('[style]:not([style=""]), script:not([src]), style')].map((e) => e.outerHTML.slice(0, 200))).catch(() => []);
      for (const e of inline) problems.push(`${rec.name}: inline style/script: ${e}`);
    }
    assert.deepEqual(problems, []);
  });
});
