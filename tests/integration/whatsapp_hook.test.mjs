// The WhatsApp webhook (issue 10, item 5; src/http/handlers/hooks_whatsapp.c,
// db/migrations/0009_whatsapp.sql, docs/whatsapp.md): real gssd and
// PostgreSQL, Meta played by tests/fakes/whatsapp.mjs, whose deliver() signs
// exactly the bytes it sends.
//
//   - the subscription handshake, right and wrong token;
//   - a wrong, missing or re-serialised-body signature: 401, nothing stored;
//   - non-ASCII bodies (Meta's \uXXXX escapes and raw UTF-8) verify and are
//     stored as written;
//   - a message delivered twice is stored once;
//   - an unknown number becomes one customer (source wa, the profile name),
//     keyed by phone and BSUID; a BSUID-only sender is keyed by the user id;
//   - statuses out of order never move backwards, on wa_messages and on the
//     outbox row; a status that comes before the wamid reaches the outbox;
//   - several messages in one POST; image and button replies;
//   - no app secret: 503.
// Expected values are written here, never read from gssd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startGssd, startRedis, createDatabase, psql, psqlJson } from './harness.mjs';
import { startWhatsAppFake, signBody, metaJson } from '../fakes/whatsapp.mjs';

const SECRET = 'wa-app-secret-\u00e9t\u00e9';
const VERIFY = 'verify-token-123';
const WA_TOKEN = 'EAAhooktest';
const PHONE_ID = '109876543210987';

let wa;
let g;
let db;
let numberSeq = 0;
// A fresh Indonesian number per test, so tests do not see each other's rows.
const nextNumber = () => `62812${String(process.pid % 10000).padStart(4, '0')}${String(++numberSeq).padStart(4, '0')}`;

before(async () => {
  wa = await startWhatsAppFake({ token: WA_TOKEN, phoneNumberId: PHONE_ID, pairGapMs: 0 });
  db = await createDatabase();
  const redis = await startRedis();
  g = await startGssd({
    redis, database: db,
    env: {
      GSS_WA_TOKEN: WA_TOKEN, GSS_WA_API_BASE: wa.apiBase, GSS_WA_PHONE_NUMBER_ID: PHONE_ID,
      GSS_WA_APP_SECRET: SECRET, GSS_WA_VERIFY_TOKEN: VERIFY, GSS_LOG_REQUESTS: '0',
    },
  });
}, { timeout: 120000 });

after(async () => {
  if (wa) await wa.stop();
});

const q = (sql) => psql(db.url, sql);
const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;
async function count(sql) {
  return Number((await q(sql))[0][0]);
}
async function totals() {
  return {
    messages: await count('SELECT count(*) FROM wa_messages'),
    customers: await count('SELECT count(*) FROM customers'),
    outbox: await count("SELECT count(*) FROM outbox WHERE delivery_status IS NOT NULL"),
  };
}
const msgId = (payload) => payload.entry[0].changes[0].value.messages[0].id;
async function message(wamid) {
  const rows = await psqlJson(db.url, `SELECT m.*, c.name AS c_name, c.phone AS c_phone, c.source AS c_source,
    c.wa_user_id AS c_uid, c.last_inbound_at AS c_last FROM wa_messages m LEFT JOIN customers c ON c.id = m.customer_id
    WHERE m.wa_id = ${lit(wamid)}`);
  return rows;
}
async function deliverOk(payload, opts = {}) {
  const r = await wa.deliver(g.url, payload, { appSecret: SECRET, ...opts });
  assert.equal(r.status, 200, `delivery answered ${r.status}: ${r.text}`);
  return r;
}

test('handshake: the right verify token gets the challenge back, a wrong one 403', async () => {
  const ok = await wa.verifyWebhook(g.url, { verifyToken: VERIFY, challenge: '1158201444' });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.text, '1158201444');
  assert.match(ok.headers['content-type'], /^text\/plain/);

  for (const bad of [
    { verifyToken: 'verify-token-124' },
    { verifyToken: `${VERIFY}x` },
    { verifyToken: '' },
    { verifyToken: VERIFY, mode: 'unsubscribe' },
  ]) {
    const r = await wa.verifyWebhook(g.url, bad);
    assert.equal(r.status, 403, `${JSON.stringify(bad)}: ${r.status} ${r.text}`);
    assert.ok(!r.text.includes(r.challenge), 'a refused handshake must not echo the challenge');
  }
});

test('a wrong, missing or re-serialised-body signature is 401 and stores nothing', async () => {
  const from = nextNumber();
  const payload = wa.inboundText({ from, name: 'Penipu', body: 'AC bocor é 日本 😀 a/b' });
  const id = msgId(payload);
  const before0 = await totals();
  const metaBytes = Buffer.from(metaJson(payload), 'utf8');
  const cases = {
    wrong: { signature: 'sha256=00' },
    wrongKey: { signature: signBody(metaBytes, 'another-secret') },
    wrongScheme: { signature: signBody(metaBytes, SECRET).replace('sha256=', 'sha1=') },
    missing: { signature: null },
    // Signed over the JSON as a receiver that re-serialises would see it
    // (raw UTF-8, no "\/"), sent as Meta sends it: other bytes.
    reserialised: { raw: metaBytes, signature: signBody(Buffer.from(JSON.stringify(payload), 'utf8'), SECRET) },
    // A valid signature of a body with one byte changed.
    tampered: { raw: Buffer.from(metaJson(payload).replace('Penipu', 'Penipo')), signature: signBody(metaBytes, SECRET) },
  };
  for (const [name, opts] of Object.entries(cases)) {
    const r = await wa.deliver(g.url, payload, { appSecret: SECRET, ...opts });
    assert.equal(r.status, 401, `${name}: ${r.status} ${r.text}`);
  }
  assert.deepEqual(await totals(), before0, 'a refused delivery changed the database');
  assert.equal((await message(id)).length, 0);
  assert.equal(await count(`SELECT count(*) FROM customers WHERE phone = ${lit(from)}`), 0);

  // The same payload, signed right, goes through: the cases above failed on
  // their signature only.
  await deliverOk(payload);
  assert.equal((await message(id)).length, 1);
});

test('non-ASCII bodies verify and are stored as written: Meta escapes and raw UTF-8', async () => {
  const text = 'Halo, AC bocor: café é 日本 😀 👍🏽 a/b \\ "q"';
  for (const encoding of ['meta', 'utf8']) {
    const from = nextNumber();
    const payload = wa.inboundText({ from, name: 'José 日本 😀', body: text });
    const r = await deliverOk(payload, { encoding });
    if (encoding === 'meta') assert.ok(/\\u00e9/.test(r.bytes.toString()) && /\\ud83d/i.test(r.bytes.toString()) && /\\\//.test(r.bytes.toString()),
      'the meta encoding escapes as Meta does');
    else assert.ok(r.bytes.includes(Buffer.from('日本')), 'raw UTF-8 bytes sent');
    const [m] = await message(msgId(payload));
    assert.ok(m, `${encoding}: not stored`);
    assert.equal(m.body, text, encoding);
    assert.equal(m.type, 'text');
    assert.equal(m.direction, 'in');
    assert.equal(m.c_name, 'José 日本 😀');
    assert.equal(m.raw.text.body, text);
  }
});

test('NUL and control characters: stored without the NUL, the name cleaned', async () => {
  const from = nextNumber();
  const payload = wa.inboundText({ from, name: 'Ana\u0000\tMaria\n', body: 'a\u0000b' });
  assert.ok(metaJson(payload).includes('\\u0000'), 'the body carries an escaped NUL');
  await deliverOk(payload);
  const [m] = await message(msgId(payload));
  assert.equal(m.body, 'ab');
  assert.equal(m.c_name, 'Ana  Maria');
  assert.equal(m.raw.text.body, 'a\ufffdb');
});

test('the same message delivered twice is stored once', async () => {
  const from = nextNumber();
  const payload = wa.inboundText({ from, name: 'Dua Kali', body: 'sekali saja' });
  const before0 = await totals();
  await deliverOk(payload);
  await deliverOk(payload);
  await deliverOk(payload, { encoding: 'utf8' });
  // and concurrently, as Meta's retries can overlap a slow answer
  await Promise.all([deliverOk(payload), deliverOk(payload), deliverOk(payload)]);
  assert.equal(await count(`SELECT count(*) FROM wa_messages WHERE wa_id = ${lit(msgId(payload))}`), 1);
  const after0 = await totals();
  assert.equal(after0.messages, before0.messages + 1);
  assert.equal(after0.customers, before0.customers + 1);
});

test('two first messages of a new number at once make one customer', async () => {
  const from = nextNumber();
  const a = wa.inboundText({ from, name: 'Serentak', body: 'satu' });
  const b = wa.inboundText({ from, name: 'Serentak', body: 'dua' });
  await Promise.all([deliverOk(a), deliverOk(b)]);
  assert.equal(await count(`SELECT count(*) FROM customers WHERE phone = ${lit(from)}`), 1);
  const ids = await q(`SELECT DISTINCT customer_id FROM wa_messages WHERE wa_id IN (${lit(msgId(a))}, ${lit(msgId(b))})`);
  assert.equal(ids.length, 1);
  assert.notEqual(ids[0][0], '');
});

test('an unknown number becomes one customer (source wa, profile name, phone and BSUID); its next message finds it', async () => {
  const from = nextNumber();
  const t0 = Math.floor(Date.now() / 1000) - 3600;
  const first = wa.inboundText({ from, name: '  Budi Santoso  ', body: 'AC tidak dingin', timestamp: t0 });
  const before0 = await totals();
  await deliverOk(first);
  const rows = await psqlJson(db.url, `SELECT id, name, phone, source, wa_user_id,
    extract(epoch FROM last_inbound_at)::bigint AS last FROM customers WHERE phone = ${lit(from)}`);
  assert.equal(rows.length, 1);
  const c = rows[0];
  assert.equal(c.name, 'Budi Santoso');
  assert.equal(c.source, 'wa');
  assert.equal(c.wa_user_id, wa.bsuid(from));
  assert.equal(Number(c.last), t0);
  assert.equal(await count(`SELECT count(*) FROM audit_log WHERE entity = 'customer' AND entity_id = ${c.id} AND action = 'create'`), 1);

  // The second message, another name in the profile: same customer, the name
  // stays, the window moves on.
  const second = wa.inboundText({ from, name: 'Budi S.', body: 'masih', timestamp: t0 + 600 });
  await deliverOk(second);
  const [m2] = await message(msgId(second));
  assert.equal(Number(m2.customer_id), Number(c.id));
  assert.equal(m2.c_name, 'Budi Santoso');
  assert.equal(await count(`SELECT count(*) FROM customers WHERE phone = ${lit(from)}`), 1);
  assert.equal(Number((await q(`SELECT extract(epoch FROM last_inbound_at)::bigint FROM customers WHERE id = ${c.id}`))[0][0]), t0 + 600);
  // An older message delivered late does not move the window back.
  const late = wa.inboundText({ from, name: 'Budi', body: 'lama', timestamp: t0 - 7200 });
  await deliverOk(late);
  assert.equal(Number((await q(`SELECT extract(epoch FROM last_inbound_at)::bigint FROM customers WHERE id = ${c.id}`))[0][0]), t0 + 600);
  assert.equal((await totals()).customers, before0.customers + 1);
});

test('a number CS registered by hand is matched, and learns its BSUID', async () => {
  const from = nextNumber();
  const id = (await q(`INSERT INTO customers (name, phone, source) VALUES ('Ibu Sari', ${lit(from)}, 'manual') RETURNING id`))[0][0];
  const p = wa.inboundText({ from, name: 'sari123', body: 'halo' });
  await deliverOk(p);
  const [m] = await message(msgId(p));
  assert.equal(m.customer_id, Number(id));
  assert.equal(m.c_name, 'Ibu Sari');
  assert.equal(m.c_source, 'manual');
  assert.equal(m.c_uid, wa.bsuid(from));
});

test('a BSUID-only sender (hidden number) becomes a customer keyed by the user id', async () => {
  const uid = `ID.${String(Date.now()).slice(-12)}${String(++numberSeq).padStart(4, '0')}`;
  const from = nextNumber(); // the fake needs one internally; it is not sent
  const p1 = wa.inboundText({ from, userId: uid, hidePhone: true, username: 'rina.ac', name: 'Rina', body: 'nomor saya tersembunyi' });
  const sent = JSON.stringify(p1);
  assert.ok(!sent.includes(from), 'the payload must not carry the number');
  await deliverOk(p1);
  const rows = await psqlJson(db.url, `SELECT id, name, phone, source FROM customers WHERE wa_user_id = ${lit(uid)}`);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].phone, null);
  assert.equal(rows[0].name, 'Rina');
  assert.equal(rows[0].source, 'wa');
  const p2 = wa.inboundText({ from, userId: uid, hidePhone: true, name: 'Rina', body: 'lagi' });
  await deliverOk(p2);
  const [m2] = await message(msgId(p2));
  assert.equal(m2.customer_id, rows[0].id);
  assert.equal(m2.sender_phone, null);
  assert.equal(m2.sender_user_id, uid);
  assert.equal(await count(`SELECT count(*) FROM customers WHERE wa_user_id = ${lit(uid)}`), 1);
});

async function outboxRow(wamid, status = 'sent') {
  const r = await q(`INSERT INTO outbox (channel, kind, target, payload, idem_key, status, provider_id, sent_at)
    VALUES ('whatsapp', 'test.wa', 'wa:6281200000000', '{}', ${lit(`hook:${wamid}`)}, ${lit(status)}, ${lit(wamid)}, now()) RETURNING id`);
  return Number(r[0][0]);
}
async function outboxState(id) {
  return (await psqlJson(db.url, `SELECT status, delivery_status, last_error FROM outbox WHERE id = ${id}`))[0];
}
async function waStatus(wamid) {
  return (await q(`SELECT status FROM wa_messages WHERE wa_id = ${lit(wamid)} AND direction = 'out'`))[0]?.[0];
}

test('statuses out of order never move backwards', async () => {
  const to = nextNumber();
  const wamid = `wamid.HBgN${Date.now()}+a/b==`;
  const ob = await outboxRow(wamid);
  await deliverOk(wa.statusUpdate(wamid, 'read', { to }));
  assert.equal((await outboxState(ob)).delivery_status, 'read');
  await deliverOk(wa.statusUpdate(wamid, 'delivered', { to }));
  await deliverOk(wa.statusUpdate(wamid, 'sent', { to }));
  await deliverOk(wa.statusUpdate(wamid, 'read', { to })); // duplicate
  await deliverOk(wa.statusUpdate(wamid, 'failed', { to, errors: [131026] }));
  const s = await outboxState(ob);
  assert.equal(s.delivery_status, 'read');
  assert.equal(s.status, 'sent', 'a read message is not failed');
  assert.equal(await waStatus(wamid), 'read');
  assert.equal(await count(`SELECT count(*) FROM wa_messages WHERE wa_id = ${lit(wamid)}`), 1);

  // In order, step by step.
  const w2 = `wamid.HBgN${Date.now()}second`;
  const ob2 = await outboxRow(w2);
  for (const [st, want] of [['sent', 'sent'], ['delivered', 'delivered'], ['sent', 'delivered'], ['read', 'read'], ['delivered', 'read']]) {
    await deliverOk(wa.statusUpdate(w2, st, { to }));
    assert.equal((await outboxState(ob2)).delivery_status, want, `after ${st}`);
    assert.equal(await waStatus(w2), want, `wa_messages after ${st}`);
  }
});

test('a failed status marks the accepted outbox row failed, with the reason', async () => {
  const to = nextNumber();
  const wamid = `wamid.HBgN${Date.now()}failed`;
  const ob = await outboxRow(wamid);
  await deliverOk(wa.statusUpdate(wamid, 'sent', { to }));
  await deliverOk(wa.statusUpdate(wamid, 'failed', { to, errors: [131047] }));
  await deliverOk(wa.statusUpdate(wamid, 'sent', { to })); // a late echo
  const s = await outboxState(ob);
  assert.equal(s.delivery_status, 'failed');
  assert.equal(s.status, 'failed');
  assert.match(s.last_error, /131047/);
});

test('a status that arrives before the sender has stored the wamid reaches the outbox row', async () => {
  const to = nextNumber();
  const wamid = `wamid.HBgN${Date.now()}early`;
  await deliverOk(wa.statusUpdate(wamid, 'delivered', { to }));
  assert.equal(await waStatus(wamid), 'delivered');
  // The sender's UPDATE that records what the API answered. (The row starts
  // cancelled so that this gssd's own sender leaves it alone.)
  const id = Number((await q(`INSERT INTO outbox (channel, kind, target, payload, idem_key, status)
    VALUES ('whatsapp', 'test.wa', 'wa:${to}', '{}', ${lit(`hook:${wamid}`)}, 'cancelled') RETURNING id`))[0][0]);
  await q(`UPDATE outbox SET status = 'sent', provider_id = ${lit(wamid)}, sent_at = now() WHERE id = ${id}`);
  assert.equal((await outboxState(id)).delivery_status, 'delivered');
});

test('several messages and a status in one POST', async () => {
  const a = nextNumber();
  const b = nextNumber();
  const wamid = `wamid.HBgN${Date.now()}batch`;
  const ob = await outboxRow(wamid);
  const m1 = wa.inboundText({ from: a, name: 'Andi', body: 'satu' });
  const m2 = wa.inboundText({ from: a, name: 'Andi', body: 'dua' });
  const m3 = wa.inboundText({ from: b, name: 'Bella', body: 'tiga ☃' });
  const before0 = await totals();
  const batch = wa.batch(m1, m2, m3, wa.statusUpdate(wamid, 'delivered', { to: a }));
  assert.equal(batch.entry[0].changes[0].value.messages.length, 3);
  await deliverOk(batch);
  const after0 = await totals();
  assert.equal(after0.messages, before0.messages + 4, 'three in, one status row');
  assert.equal(after0.customers, before0.customers + 2);
  const [r1] = await message(msgId(m1));
  const [r2] = await message(msgId(m2));
  const [r3] = await message(msgId(m3));
  assert.equal(r1.customer_id, r2.customer_id);
  assert.notEqual(r1.customer_id, r3.customer_id);
  assert.equal(r3.c_name, 'Bella');
  assert.equal(r3.body, 'tiga ☃');
  assert.equal((await outboxState(ob)).delivery_status, 'delivered');
  // the whole batch again: nothing new
  await deliverOk(batch);
  assert.deepEqual(await totals(), after0);
});

test('an image keeps its media id and type; a button reply its id, title and context', async () => {
  const from = nextNumber();
  const img = wa.inboundImage({ from, name: 'Foto', bytes: Buffer.from('not really a jpeg'), mimeType: 'image/png', caption: 'unit luar' });
  await deliverOk(img);
  const [mi] = await message(msgId(img));
  const mediaId = img.entry[0].changes[0].value.messages[0].image.id;
  assert.equal(mi.type, 'image');
  assert.equal(mi.media_id, mediaId);
  assert.equal(mi.media_mime, 'image/png');
  assert.equal(mi.body, 'unit luar');

  const btn = wa.inboundButtonReply({ from, name: 'Foto', buttonId: 'rate:5', title: 'Puas sekali', contextId: 'wamid.ctx123' });
  await deliverOk(btn);
  const [mb] = await message(msgId(btn));
  assert.equal(mb.type, 'interactive');
  assert.equal(mb.reply_id, 'rate:5');
  assert.equal(mb.body, 'Puas sekali');
  assert.equal(mb.context_id, 'wamid.ctx123');
  assert.equal(mb.customer_id, mi.customer_id);
});

test('a signed body that is not JSON is 400 and stores nothing', async () => {
  const before0 = await totals();
  const raw = Buffer.from('{"object":"whatsapp_business_account","entry":[');
  const r = await wa.deliver(g.url, null, { appSecret: SECRET, raw });
  assert.equal(r.status, 400, r.text);
  assert.deepEqual(await totals(), before0);
});

test('no app secret configured: 503, nothing stored', async () => {
  const off = await startGssd({
    database: db,
    env: { GSS_WA_APP_SECRET: null, GSS_WA_VERIFY_TOKEN: null, GSS_LOG_REQUESTS: '0' },
  });
  try {
    const before0 = await totals();
    const p = wa.inboundText({ from: nextNumber(), name: 'Mati', body: 'halo' });
    const r = await wa.deliver(off.url, p, { appSecret: SECRET });
    assert.equal(r.status, 503, r.text);
    const h = await wa.verifyWebhook(off.url, { verifyToken: '' });
    assert.equal(h.status, 503, h.text);
    assert.deepEqual(await totals(), before0);
  } finally {
    await off.stop();
  }
});

// hooks_whatsapp.c sorts a delivery's messages by sender key before
// wa_ingest, which locks each message's customer in list order until the
// delivery commits. Two deliveries naming the same customers in opposite
// orders, at once, would otherwise take the locks crosswise: PostgreSQL
// kills one (40P01) and it is answered 503. Many customers per delivery and
// many rounds, so the crossing is all but certain without the sort.
test('two deliveries naming the same customers in opposite orders at once: both 200, no deadlock', { timeout: 120000 }, async () => {
  const people = Array.from({ length: 8 }, (_, i) => ({ from: nextNumber(), name: `Urutan ${i}` }));
  // known customers first: every round then updates (locks) existing rows
  await deliverOk(wa.batch(...people.map((p) => wa.inboundText({ ...p, body: 'halo' }))));
  const logStart = g.lines.length;
  const statuses = [];
  for (let round = 0; round < 25; round++) {
    const fwd = wa.batch(...people.map((p) => wa.inboundText({ ...p, body: `maju ${round}` })));
    const back = wa.batch(...[...people].reverse().map((p) => wa.inboundText({ ...p, body: `mundur ${round}` })));
    const rs = await Promise.all([fwd, back].map((p) => wa.deliver(g.url, p, { appSecret: SECRET })));
    for (const r of rs) statuses.push(r.status === 200 ? 200 : `${r.status} ${r.text}`);
  }
  assert.deepEqual(statuses.filter((s) => s !== 200), [], 'every delivery answered 200');
  const bad = g.lines.slice(logStart).filter((l) => /40P01|deadlock/i.test(l));
  assert.deepEqual(bad, [], 'no deadlock in gssd\'s log');
  const ids = people.map((p) => lit(p.from)).join(', ');
  assert.equal(await count(`SELECT count(*) FROM wa_messages m JOIN customers c ON c.id = m.customer_id
    WHERE c.phone IN (${ids})`), 8 + 8 * 2 * 25, 'every message stored');
});

test('a sorted delivery keeps one sender\'s messages in the order Meta gave them', async () => {
  const a = nextNumber();
  const b = nextNumber();
  // b's BSUID sorts apart from a's whatever they are: three of a around b's
  const m = [
    wa.inboundText({ from: a, name: 'Ana', body: 'pertama' }),
    wa.inboundText({ from: b, name: 'Budi', body: 'lain' }),
    wa.inboundText({ from: a, name: 'Ana', body: 'kedua' }),
    wa.inboundText({ from: b, name: 'Budi', body: 'lain lagi' }),
    wa.inboundText({ from: a, name: 'Ana', body: 'ketiga' }),
  ];
  await deliverOk(wa.batch(...m));
  const rows = await q(`SELECT m.body FROM wa_messages m JOIN customers c ON c.id = m.customer_id
    WHERE c.phone = ${lit(a)} ORDER BY m.id`);
  assert.deepEqual(rows.map((r) => r[0]), ['pertama', 'kedua', 'ketiga']);
  const rowsB = await q(`SELECT m.body FROM wa_messages m JOIN customers c ON c.id = m.customer_id
    WHERE c.phone = ${lit(b)} ORDER BY m.id`);
  assert.deepEqual(rowsB.map((r) => r[0]), ['lain', 'lain lagi']);
});
