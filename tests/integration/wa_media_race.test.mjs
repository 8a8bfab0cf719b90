// WhatsApp photos: a fetch whose lease ran out must not spoil the current
// one (src/integrations/wa_media.c, the claim token; docs/whatsapp.md
// "Photos"). Two gssd on one database, Meta played by
// tests/fakes/whatsapp.mjs:
//   - gssd A claims the photo (attempt 1) and its download hangs;
//   - its lease ends (the test ends it in the database, as a stalled gssd
//     would see it end), gssd B claims the photo (attempt 2) and downloads
//     it slowly;
//   - meanwhile A's download answers 404: A's "failed" must be dropped, and
//     B's photo stored. Before the claim token, A wrote failed and B's store
//     found the row no longer pending: the photo was lost.
// Expected values are written here, never read from gssd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { startGssd, psql, psqlJson, waitFor } from './harness.mjs';
import { startWhatsAppFake } from '../fakes/whatsapp.mjs';

const SECRET = 'wa-race-app-secret';
const WA_TOKEN = 'EAAracetest';
const PHONE_ID = '109876543210988';

let wa;
let ga;
let gb;

const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

function makeJpeg(n = 2048) {
  const head = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);
  return Buffer.concat([head, crypto.randomBytes(n), Buffer.from([0xff, 0xd9])]);
}

const env = () => ({
  GSS_WA_TOKEN: WA_TOKEN, GSS_WA_API_BASE: wa.apiBase, GSS_WA_APP_SECRET: SECRET, GSS_LOG_REQUESTS: '0',
  GSS_OUTBOX_POLL_MS: '100', GSS_OUTBOX_BACKOFF_MS: '100',
});

before(async () => {
  wa = await startWhatsAppFake({ token: WA_TOKEN, phoneNumberId: PHONE_ID, pairGapMs: 0 });
  ga = await startGssd({ env: env() });
  gb = await startGssd({ database: ga.database, env: env() });
}, { timeout: 120000 });

after(async () => {
  if (gb) await gb.stop();
  if (ga) await ga.stop();
  if (wa) await wa.stop();
});

async function row(wamid) {
  const rows = await psqlJson(ga.database.url, `SELECT attachment_id, media_status, media_error, media_attempts
    FROM wa_messages WHERE wa_id = ${lit(wamid)}`);
  assert.equal(rows.length, 1);
  return rows[0];
}

test('a fetch whose lease ran out cannot fail the photo the current holder is fetching', async () => {
  const bytes = makeJpeg(900);
  const mediaId = `${8700000000000000 + process.pid}`;
  const mine = (e) => e.query.mid === mediaId;
  // the first download (A's) hangs, then is refused for good; the second (B's) is slow, then whole
  wa.inject({ method: 'download', match: mine, kind: 'reply', status: 404, body: 'Not Found', delayMs: 2000 });
  wa.inject({ method: 'download', match: mine, kind: 'delay', delayMs: 3800 }); // under the 5 s request timeout
  const payload = wa.inboundImage({ from: '6281377700011', name: 'Balapan', bytes, mediaId });
  const wamid = payload.entry[0].changes[0].value.messages[0].id;
  assert.equal((await wa.deliver(ga.url, payload, { appSecret: SECRET })).status, 200);
  const downloads = () => wa.requests.filter((e) => e.api === 'download' && mine(e));
  await waitFor(() => downloads().length === 1, { timeout: 5000, what: 'the first download out' });
  const first = await row(wamid);
  assert.equal(first.media_attempts, 1);
  // the lease is over (what a stalled gssd finds when it wakes up)
  await psql(ga.database.url, `UPDATE wa_messages SET media_next_at = now() WHERE wa_id = ${lit(wamid)}`);
  await waitFor(() => downloads().length === 2, { timeout: 5000, what: 'the second claim\'s download out' });
  // the first answers (404) while the second is still out
  await waitFor(() => downloads()[0].status === 404, { timeout: 5000, what: 'the stale fetch refused' });
  assert.ok(downloads()[1].status == null, 'the current fetch is still out');
  await new Promise((r) => setTimeout(r, 300)); // the stale outcome written (or not)
  const mid = await row(wamid);
  assert.equal(mid.media_status, 'pending', `the stale fetch's outcome is dropped: ${mid.media_error}`);
  assert.equal(mid.media_attempts, 2);
  const done = await waitFor(async () => {
    const r = await row(wamid);
    return r.media_status !== 'pending' ? r : null;
  }, { timeout: 10000, what: 'the photo settled' });
  assert.equal(done.media_status, 'stored', `media_error: ${done.media_error}`);
  const [a] = await psqlJson(ga.database.url, `SELECT size, sha256, kind FROM attachments WHERE id = ${done.attachment_id}`);
  assert.deepEqual([Number(a.size), a.sha256, a.kind], [bytes.length, sha256(bytes), 'wa_photo']);
  assert.equal(downloads().length, 2, `fetched twice, stored once: ${JSON.stringify(downloads().map((e) => [e.time, e.status, e.ms, e.fault]))} ${JSON.stringify(await row(wamid))}`);
});
