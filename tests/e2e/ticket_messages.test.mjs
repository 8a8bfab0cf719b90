// The ticket page's "Pesan" block (web/js/views/ticketdetail.js;
// docs/whatsapp.md "Sending").
//   - in node: each outbox state becomes the Indonesian word CS reads, a
//     WhatsApp delivery status refines "Terkirim", and failures are marked;
//   - in real headless Chromium against gssd and the WhatsApp fake: an
//     invoice whose WhatsApp message Meta refused shows on CS's ticket page
//     as "Gagal" with its reason.
// Expected words are written here, not computed by the code under test.
// Screenshots go to GSS_SHOTS_DIR (default /tmp/gss-shots), msg-*.png.

import { it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

import { SOURCE_DIR } from '../integration/harness.mjs';
import { moneySetup, workDone, draftInvoice, step } from '../integration/money_util.mjs';
import { PASSWORD } from '../integration/pool_util.mjs';
import { startWhatsAppFake } from '../fakes/whatsapp.mjs';

const SHOTS = process.env.GSS_SHOTS_DIR || '/tmp/gss-shots';
const CHROMIUM = process.env.GSS_CHROMIUM || '/usr/bin/chromium';

const td = await import(pathToFileURL(path.join(SOURCE_DIR, 'web/js/views/ticketdetail.js')).href);

it('each message state has its word, and failures are marked', () => {
  const cases = [
    [{ status: 'queued', delivery_status: null }, 'Menunggu', false],
    [{ status: 'sending', delivery_status: null }, 'Menunggu', false],
    [{ status: 'sent', delivery_status: null }, 'Terkirim', false],
    [{ status: 'sent', delivery_status: 'sent' }, 'Terkirim', false],
    [{ status: 'sent', delivery_status: 'delivered' }, 'Diterima', false],
    [{ status: 'sent', delivery_status: 'read' }, 'Dibaca', false],
    [{ status: 'failed', delivery_status: null }, 'Gagal', true],
    [{ status: 'failed', delivery_status: 'failed' }, 'Gagal', true],
    [{ status: 'unreachable', delivery_status: null }, 'Tidak terjangkau', true],
    [{ status: 'cancelled', delivery_status: null }, 'Dibatalkan', false],
  ];
  for (const [m, word, bad] of cases) {
    const st = td.messageStatus(m);
    assert.equal(st.text, word, JSON.stringify(m));
    assert.equal(st.bad, bad, JSON.stringify(m));
  }
});

let wa;
let browser;
after(async () => {
  if (browser) await browser.close();
  if (wa) await wa.stop();
});

it('CS sees a refused WhatsApp message on the ticket page as Gagal, with the reason', { timeout: 180000 }, async () => {
  wa = await startWhatsAppFake({
    token: 'EAAmsgpage', phoneNumberId: '109876543210777',
    templates: [{ name: 'gss_invoice', bodyParams: 3, buttons: [{ type: 'url', url: 'https://gss.test/i/{{1}}' }, { type: 'url', url: 'https://gss.test/r/{{1}}' }] }],
  });
  const ctx = await moneySetup({
    techs: 2, tag: 'mp',
    env: {
      GSS_PUBLIC_URL: 'https://gss.test', GSS_WA_TOKEN: wa.token, GSS_WA_API_BASE: wa.apiBase,
      GSS_WA_PHONE_NUMBER_ID: wa.phoneNumberId, GSS_OUTBOX_POLL_MS: 100,
    },
  });
  wa.inject({ method: 'messages', kind: 'error', status: 400, code: 132001, message: '(#132001) Template name does not exist in the translation', details: 'template name (gss_invoice) does not exist in id' });
  const w = await workDone(ctx);
  const d = await draftInvoice(ctx, w.ticket.id);
  await step(ctx, ctx.cs, d.id, 'submit');
  await step(ctx, ctx.sales, d.id, 'approve');
  await step(ctx, ctx.cs, d.id, 'send');

  fs.mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(`${ctx.g.url}/`);
  await page.locator('#login-username').fill('mp_cs');
  await page.locator('#login-password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Masuk' }).click();
  await page.locator('.who-name').waitFor({ timeout: 15000 });
  // The send's message fails within a poll or two; the block loads when drawn.
  const panel = page.locator('section[aria-labelledby="td-messages"]');
  let text = '';
  for (let i = 0; i < 20 && !/Gagal/.test(text); i++) {
    await page.goto(`${ctx.g.url}/#/tiket/${w.ticket.id}`);
    await page.reload();
    await panel.waitFor({ timeout: 15000 });
    await page.waitForFunction(() => !document.querySelector('section[aria-labelledby="td-messages"]').textContent.includes('Memuat'), null, { timeout: 15000 });
    text = await panel.textContent();
    if (!/Gagal/.test(text)) await new Promise((r) => setTimeout(r, 300));
  }
  await panel.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, 'msg-ticket.png'), fullPage: true });
  await panel.screenshot({ path: path.join(SHOTS, 'msg-panel.png') });
  // failures first (the job broadcasts of the ticket may be listed after it)
  assert.match(text, /^Pesan \(\d+, 1 gagal\)Tagihan & link penilaian → Customer 1/, text);
  assert.match(text, /WhatsApp/, text);
  assert.match(text, /Gagal/, text);
  assert.match(text, /Alasan: .*132001/, text);
});
