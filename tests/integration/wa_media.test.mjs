// Incoming WhatsApp photos (issue 10, item 5; src/integrations/wa_media.c,
// db/migrations/0014_wa_media.sql, docs/whatsapp.md "Photos"): a real gssd
// and PostgreSQL, Meta played by tests/fakes/whatsapp.mjs, which serves the
// media object (GET /<media_id>) and its short-lived, Bearer-protected URL.
//
//   - an image delivered through the webhook is fetched within seconds and
//     stored as an attachment of the conversation: the bytes on disk and
//     through GET /api/v1/attachments/{id} are the ones the fake served
//     (sha256 computed here); CS and admin may read it, a technician and
//     Sales may not;
//   - a 404 on the media object or on its URL -> failed, with the reason;
//   - 5xx twice -> retried, then stored (three attempts);
//   - a type that is not a JPEG or PNG photo, bytes that are not one, and a
//     photo over GSS_UPLOAD_PHOTO_MAX -> failed, with the reason;
//   - a gssd without GSS_WA_TOKEN leaves the message pending and asks the
//     media API nothing.
// Expected values are written here, never read from gssd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { startGssd, createDatabase, psql, psqlJson, http, sleep, waitFor } from './harness.mjs';
import { addUser, login } from './pool_util.mjs';
import { makePng } from './field_util.mjs';
import { startWhatsAppFake } from '../fakes/whatsapp.mjs';

const SECRET = 'wa-media-app-secret';
const WA_TOKEN = 'EAAmediatest';
const PHONE_ID = '109876543210987';
const PHOTO_MAX = 200000;

let wa;
let g;
let db;
let tokens;
let seq = 0;
const nextNumber = () => `62813${String(process.pid % 10000).padStart(4, '0')}${String(++seq).padStart(4, '0')}`;
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;

// A JPEG as far as anyone sniffing it can tell: SOI, an APP0 JFIF segment,
// then bytes that differ per call (so every photo has its own hash).
function makeJpeg(n = 2048) {
  const head = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);
  return Buffer.concat([head, crypto.randomBytes(n), Buffer.from([0xff, 0xd9])]);
}

before(async () => {
  wa = await startWhatsAppFake({ token: WA_TOKEN, phoneNumberId: PHONE_ID, pairGapMs: 0 });
  // its own Redis and database (startGssd makes them); quick polls and retries
  g = await startGssd({ env: {
    GSS_WA_TOKEN: WA_TOKEN, GSS_WA_API_BASE: wa.apiBase, GSS_WA_APP_SECRET: SECRET, GSS_LOG_REQUESTS: '0',
    GSS_OUTBOX_POLL_MS: '100', GSS_OUTBOX_BACKOFF_MS: '100', GSS_UPLOAD_PHOTO_MAX: String(PHOTO_MAX),
  } });
  db = g.database;
  await addUser(g, 'wm_cs', 'cs');
  await addUser(g, 'wm_admin', 'admin');
  await addUser(g, 'wm_sales', 'sales');
  await addUser(g, 'wm_ts', 'ts');
  tokens = {
    cs: await login(g, 'wm_cs'), admin: await login(g, 'wm_admin'),
    sales: await login(g, 'wm_sales'), ts: await login(g, 'wm_ts'),
  };
}, { timeout: 120000 });

after(async () => {
  if (wa) await wa.stop();
});

async function deliverImage(gssd, { bytes, mimeType = 'image/jpeg', caption } = {}) {
  const from = nextNumber();
  const mediaId = `${7000000000000000 + (++seq) * 1000 + (process.pid % 1000)}`;
  const payload = wa.inboundImage({ from, name: 'Pelanggan Foto', bytes, mimeType, caption, mediaId });
  const r = await wa.deliver(gssd.url, payload, { appSecret: SECRET });
  assert.equal(r.status, 200, `delivery answered ${r.status}: ${r.text}`);
  const wamid = payload.entry[0].changes[0].value.messages[0].id;
  return { from, mediaId, wamid };
}

async function row(dbUrl, wamid) {
  const rows = await psqlJson(dbUrl, `SELECT id, customer_id, media_id, attachment_id, media_status, media_error,
    media_attempts FROM wa_messages WHERE wa_id = ${lit(wamid)}`);
  assert.equal(rows.length, 1, `message ${wamid} stored`);
  return rows[0];
}

async function settled(wamid, timeout = 8000) {
  return waitFor(async () => {
    const r = await row(db.url, wamid);
    return r.media_status !== 'pending' ? r : null;
  }, { timeout, what: `message ${wamid} leaving media_status pending` });
}

const get = (token, id) => http(`${g.url}/api/v1/attachments/${id}`, { headers: { authorization: `Bearer ${token}` } });

test('an incoming photo is fetched at once and kept as an attachment of the conversation', async () => {
  const bytes = makeJpeg(4096);
  const before0 = wa.counters.mediaDownloads;
  const { wamid, mediaId } = await deliverImage(g, { bytes, caption: 'AC netes' });
  const m = await settled(wamid, 5000);
  assert.equal(m.media_status, 'stored', `media_error: ${m.media_error}`);
  assert.equal(m.media_error, null);
  assert.equal(m.media_attempts, 1);
  assert.ok(m.attachment_id > 0);
  assert.equal(wa.counters.mediaDownloads, before0 + 1, 'downloaded exactly once');
  // both requests carried the Bearer token, the media object went to the API base
  const meta = wa.requests.filter((e) => e.api === 'media' && e.path.endsWith(`/${mediaId}`));
  assert.equal(meta.length, 1);
  assert.equal(meta[0].headers.authorization, `Bearer ${WA_TOKEN}`);
  const dl = wa.requests.filter((e) => e.api === 'download' && e.query.mid === mediaId);
  assert.equal(dl.length, 1);
  assert.equal(dl[0].headers.authorization, `Bearer ${WA_TOKEN}`);

  const [a] = await psqlJson(db.url, `SELECT ticket_id, customer_id, kind, content_type, size, sha256, path,
    uploaded_by FROM attachments WHERE id = ${m.attachment_id}`);
  assert.equal(a.ticket_id, null);
  assert.equal(a.customer_id, m.customer_id);
  assert.equal(a.kind, 'wa_photo');
  assert.equal(a.content_type, 'image/jpeg');
  assert.equal(Number(a.size), bytes.length);
  assert.equal(a.sha256, sha256(bytes));
  assert.equal(a.uploaded_by, null);
  const onDisk = fs.readFileSync(path.join(g.uploadDir, a.path));
  assert.equal(sha256(onDisk), sha256(bytes), 'the file holds the bytes the fake served');

  for (const who of ['cs', 'admin']) {
    const r = await get(tokens[who], m.attachment_id);
    assert.equal(r.status, 200, `${who}: ${r.status} ${r.text}`);
    assert.equal(r.headers.get('content-type'), 'image/jpeg');
    assert.equal(sha256(r.body), sha256(bytes), `${who} reads the same bytes`);
  }
  for (const who of ['ts', 'sales']) {
    const r = await get(tokens[who], m.attachment_id);
    assert.equal(r.status, 404, `${who} may not read a conversation photo: ${r.status}`);
  }
  const anon = await http(`${g.url}/api/v1/attachments/${m.attachment_id}`);
  assert.equal(anon.status, 401);
});

test('a PNG is stored as a PNG', async () => {
  const bytes = makePng(16, 9, 5);
  const { wamid } = await deliverImage(g, { bytes, mimeType: 'image/png' });
  const m = await settled(wamid);
  assert.equal(m.media_status, 'stored', `media_error: ${m.media_error}`);
  const r = await get(tokens.cs, m.attachment_id);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'image/png');
  assert.equal(sha256(r.body), sha256(bytes));
});

test('a 404 on the media object fails the photo with the reason, without retrying', async () => {
  const bytes = makeJpeg();
  const mediaId = `${8100000000000000 + process.pid}`;
  wa.inject({ method: 'media', match: (e) => e.path.endsWith(`/${mediaId}`), kind: 'reply', status: 404,
    body: { error: { message: 'Unsupported get request.', type: 'GraphMethodException', code: 100 } } });
  const from = nextNumber();
  const payload = wa.inboundImage({ from, name: 'X', bytes, mediaId });
  assert.equal((await wa.deliver(g.url, payload, { appSecret: SECRET })).status, 200);
  const m = await settled(payload.entry[0].changes[0].value.messages[0].id);
  assert.equal(m.media_status, 'failed');
  assert.equal(m.attachment_id, null);
  assert.equal(m.media_attempts, 1, 'a 4xx is not retried');
  assert.match(m.media_error, /404/);
  assert.match(m.media_error, /Unsupported get request/);
});

test('a 404 on the media URL fails the photo too', async () => {
  const bytes = makeJpeg();
  const mediaId = `${8200000000000000 + process.pid}`;
  wa.inject({ method: 'download', match: (e) => e.query.mid === mediaId, kind: 'reply', status: 404, body: 'Not Found' });
  const payload = wa.inboundImage({ from: nextNumber(), name: 'Y', bytes, mediaId });
  assert.equal((await wa.deliver(g.url, payload, { appSecret: SECRET })).status, 200);
  const m = await settled(payload.entry[0].changes[0].value.messages[0].id);
  assert.equal(m.media_status, 'failed');
  assert.match(m.media_error, /download.*404/);
});

test('5xx answers are retried with backoff, then the photo is stored', async () => {
  const bytes = makeJpeg(3000);
  const mediaId = `${8300000000000000 + process.pid}`;
  const rule = wa.inject({ method: 'media', match: (e) => e.path.endsWith(`/${mediaId}`), kind: 'server_error',
    status: 503, times: 2 });
  const payload = wa.inboundImage({ from: nextNumber(), name: 'Z', bytes, mediaId });
  assert.equal((await wa.deliver(g.url, payload, { appSecret: SECRET })).status, 200);
  const m = await settled(payload.entry[0].changes[0].value.messages[0].id, 10000);
  assert.equal(rule.hits, 2, 'both 503s were seen');
  assert.equal(m.media_status, 'stored', `media_error: ${m.media_error}`);
  assert.equal(m.media_attempts, 3);
  assert.equal(m.media_error, null, 'a stored photo keeps no error');
  const r = await get(tokens.cs, m.attachment_id);
  assert.equal(sha256(r.body), sha256(bytes));
});

test('a download cut off is retried as well', async () => {
  const bytes = makeJpeg(1000);
  const mediaId = `${8400000000000000 + process.pid}`;
  // libcurl itself resends once a request whose reused connection died
  // before any answer, so three drops make sure gssd sees at least one
  const rule = wa.inject({ method: 'download', match: (e) => e.query.mid === mediaId, kind: 'drop', times: 3 });
  const payload = wa.inboundImage({ from: nextNumber(), name: 'Drop', bytes, mediaId });
  assert.equal((await wa.deliver(g.url, payload, { appSecret: SECRET })).status, 200);
  const m = await settled(payload.entry[0].changes[0].value.messages[0].id, 10000);
  assert.equal(rule.hits, 3);
  assert.equal(m.media_status, 'stored', `media_error: ${m.media_error}`);
  assert.ok(m.media_attempts >= 2 && m.media_attempts <= 4, `attempts ${m.media_attempts}`);
});

test('what is not a JPEG or PNG photo is failed with the reason, and nothing is stored', async () => {
  const atts = async () => Number((await psqlJson(db.url, 'SELECT count(*) AS n FROM attachments'))[0].n);
  const n0 = await atts();
  // a type other than a photo's
  const pdf = Buffer.from('%PDF-1.4\n% not a photo\n');
  const a = await deliverImage(g, { bytes: pdf, mimeType: 'application/pdf' });
  const ma = await settled(a.wamid);
  assert.equal(ma.media_status, 'failed');
  assert.match(ma.media_error, /application\/pdf/);
  assert.equal(wa.requests.filter((e) => e.api === 'download' && e.query.mid === a.mediaId).length, 0,
    'a wrong type is not even downloaded');
  // a photo's type over bytes that are no photo
  const b = await deliverImage(g, { bytes: Buffer.from('<html>not a picture</html>'), mimeType: 'image/jpeg' });
  const mb = await settled(b.wamid);
  assert.equal(mb.media_status, 'failed');
  assert.match(mb.media_error, /not a JPEG or PNG/);
  // larger than GSS_UPLOAD_PHOTO_MAX
  const c = await deliverImage(g, { bytes: makeJpeg(PHOTO_MAX + 10), mimeType: 'image/jpeg' });
  const mc = await settled(c.wamid);
  assert.equal(mc.media_status, 'failed');
  assert.match(mc.media_error, new RegExp(String(PHOTO_MAX)));
  assert.equal(await atts(), n0);
});

test('two gssd on one database fetch every photo exactly once', async () => {
  const g3 = await startGssd({ database: db, env: {
    GSS_WA_TOKEN: WA_TOKEN, GSS_WA_API_BASE: wa.apiBase, GSS_WA_APP_SECRET: SECRET, GSS_LOG_REQUESTS: '0',
    GSS_OUTBOX_POLL_MS: '100',
  } });
  // slow answers keep each fetch out long enough for the other gssd to poll
  const slow = wa.inject({ method: 'media', kind: 'delay', delayMs: 150, times: Infinity });
  const sent = [];
  for (let i = 0; i < 10; i++) sent.push(await deliverImage(i % 2 ? g3 : g, { bytes: makeJpeg(500 + i) }));
  for (const s of sent) {
    const m = await settled(s.wamid, 15000);
    assert.equal(m.media_status, 'stored', `media_error: ${m.media_error}`);
    assert.equal(m.media_attempts, 1);
  }
  slow.times = 0;
  for (const s of sent) {
    assert.equal(wa.requests.filter((e) => e.api === 'media' && e.path.endsWith(`/${s.mediaId}`)).length, 1,
      `media ${s.mediaId} asked for once`);
    assert.equal(wa.requests.filter((e) => e.api === 'download' && e.query.mid === s.mediaId).length, 1);
  }
  const ids = sent.map((s) => lit(s.wamid)).join(',');
  const [n] = await psqlJson(db.url, `SELECT count(DISTINCT attachment_id) AS a, count(*) AS m FROM wa_messages
    WHERE wa_id IN (${ids})`);
  assert.deepEqual([n.a, n.m], [10, 10]);
  assert.equal(await g3.stop(), 0, 'gssd exits cleanly');
});

test('a text message has no media status', async () => {
  const payload = wa.inboundText({ from: nextNumber(), name: 'T', body: 'halo' });
  assert.equal((await wa.deliver(g.url, payload, { appSecret: SECRET })).status, 200);
  const m = await row(db.url, payload.entry[0].changes[0].value.messages[0].id);
  assert.equal(m.media_status, null);
  assert.equal(m.media_attempts, 0);
});

test('without GSS_WA_TOKEN a photo stays pending and the media API is not asked', async () => {
  const db2 = await createDatabase();
  const g2 = await startGssd({
    database: db2,
    env: {
      GSS_WA_TOKEN: null, GSS_WA_API_BASE: wa.apiBase, GSS_WA_APP_SECRET: SECRET, GSS_LOG_REQUESTS: '0',
      GSS_OUTBOX_POLL_MS: '50',
    },
  });
  const asked0 = wa.requests.filter((e) => e.api === 'media' || e.api === 'download').length;
  const bytes = makeJpeg();
  const { wamid } = await deliverImage(g2, { bytes });
  await sleep(1500); // thirty polls
  const m = await row(db2.url, wamid);
  assert.equal(m.media_status, 'pending');
  assert.equal(m.media_attempts, 0);
  assert.equal(m.attachment_id, null);
  assert.equal(wa.requests.filter((e) => e.api === 'media' || e.api === 'download').length, asked0);
  assert.equal(await g2.stop(), 0, 'gssd exits cleanly');
});

// Last: it stops the shared gssd.
test('a gssd stopped with a fetch out exits cleanly; the photo is fetched by the next one', async () => {
  const mediaId = `${8500000000000000 + process.pid}`;
  wa.inject({ method: 'media', match: (e) => e.path.endsWith(`/${mediaId}`), kind: 'delay', delayMs: 3000 });
  const bytes = makeJpeg(700);
  const payload = wa.inboundImage({ from: nextNumber(), name: 'Stop', bytes, mediaId });
  assert.equal((await wa.deliver(g.url, payload, { appSecret: SECRET })).status, 200);
  await waitFor(() => wa.requests.some((e) => e.api === 'media' && e.path.endsWith(`/${mediaId}`)),
    { timeout: 5000, what: 'the fetch to start' });
  assert.equal(await g.stop(), 0, 'gssd exits cleanly');
  const wamid = payload.entry[0].changes[0].value.messages[0].id;
  const m = await row(db.url, wamid);
  assert.equal(m.media_status, 'pending', `a fetch cut off by the stop is not failed: ${m.media_error}`);
  // what is left of the lease is the next gssd's wait; end it here
  await psql(db.url, `UPDATE wa_messages SET media_next_at = NULL WHERE wa_id = ${lit(wamid)}`);
  const g4 = await startGssd({ database: db, env: {
    GSS_WA_TOKEN: WA_TOKEN, GSS_WA_API_BASE: wa.apiBase, GSS_WA_APP_SECRET: SECRET, GSS_LOG_REQUESTS: '0',
    GSS_OUTBOX_POLL_MS: '100',
  } });
  const done = await settled(wamid, 10000);
  assert.equal(done.media_status, 'stored', `media_error: ${done.media_error}`);
  assert.ok(done.media_attempts >= 2, 'the cut-off attempt counted');
  // a photo larger than an API answer may be (1 MiB) under the default cap (10 MiB)
  const big = makeJpeg(1536 * 1024);
  const b = await deliverImage(g4, { bytes: big });
  const mb = await settled(b.wamid, 15000);
  assert.equal(mb.media_status, 'stored', `media_error: ${mb.media_error}`);
  const [a] = await psqlJson(db.url, `SELECT size, sha256 FROM attachments WHERE id = ${mb.attachment_id}`);
  assert.deepEqual([Number(a.size), a.sha256], [big.length, sha256(big)]);
  assert.equal(await g4.stop(), 0);
});
