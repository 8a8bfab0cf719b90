// The outbox sender's hardening (issue 10 review; src/integrations/outbox.c,
// db/migrations/0020_outbox_hardening.sql): real gssd, PostgreSQL, Redis and
// the Telegram and WhatsApp fakes.
//   - the approval fan-out does not fan out while a handler holds the
//     invoice (an approve mid-transaction): no Sales copy goes out with a
//     live Approve button that no edit will ever reach;
//   - a row whose payload a renderer cannot read fails alone, with the
//     reason; the other rows of the batch go;
//   - an older queued job edit with journal entries is not cancelled as
//     superseded (the next sender settles it from the journal);
//   - a job edit of a post in a long backoff waits for the post's turn, not
//     1.5 s at a time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

import { psql, sleep } from './harness.mjs';
import { moneySetup, workDone, draftInvoice, step, api } from './money_util.mjs';
import { startTelegramFake } from '../fakes/telegram.mjs';
import { startWhatsAppFake } from '../fakes/whatsapp.mjs';

const TOKEN = '7000000005:AAoutbox-hardening_token';
const SECRET = 'outboxHardening-Secret_0123456789';
const WA_TOKEN = 'EAAoutboxhardening';
const PHONE_ID = '109876543210555';
const PUBLIC = 'https://gss.example.com';

let tg, wa, ctx, g;
let nextTgUser = 7400000000 + (process.pid % 100000) * 100;
const tgUser = (first_name) => ({ id: ++nextTgUser, first_name });
let sales, admin;
const tag = process.pid.toString(36);

async function scalar(sql) {
  const r = await psql(g.database.url, sql);
  return r.length ? r[0][0] : null;
}

async function deliver(upd) {
  const r = await tg.deliverUpdate(g.url, upd, { secret: SECRET });
  assert.equal(r.status, 200, `update: ${r.status} ${r.text}`);
}

async function link(token, user) {
  const c = await api(g, token, 'POST', '/api/v1/me/telegram-link');
  assert.equal(c.status, 201, c.text);
  await deliver(tg.startUpdate({ user, code: c.json.code }));
}

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await sleep(100);
  }
}

/** A psql session kept open: send(sql) resolves once the statement is done. */
function session(url) {
  const p = spawn('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let n = 0;
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { err += d; });
  return {
    async send(sql) {
      const mark = `__done_${++n}__`;
      p.stdin.write(`${sql}\n\\echo ${mark}\n`);
      await until(`psql: ${sql} (${err})`, async () => out.includes(mark) || (err && assert.fail(err)));
    },
    close() { p.stdin.end(); },
  };
}

before(async () => {
  tg = await startTelegramFake({ token: TOKEN });
  wa = await startWhatsAppFake({ token: WA_TOKEN, phoneNumberId: PHONE_ID });
  ctx = await moneySetup({
    tag: 'ohd', techs: 8,
    env: {
      GSS_TELEGRAM_TOKEN: TOKEN, GSS_TELEGRAM_API_BASE: tg.apiBase, GSS_TELEGRAM_BOT_USERNAME: 'gss_test_bot',
      GSS_TELEGRAM_WEBHOOK_SECRET: SECRET, GSS_OUTBOX_POLL_MS: '100', GSS_PUBLIC_URL: `${PUBLIC}/`,
      GSS_WA_TOKEN: WA_TOKEN, GSS_WA_API_BASE: wa.apiBase, GSS_WA_PHONE_NUMBER_ID: PHONE_ID,
    },
  });
  g = ctx.g;
  sales = tgUser('Sales');
  admin = tgUser('Admin');
  await link(ctx.sales, sales);
  await link(ctx.admin, admin);
}, { timeout: 120000 });

after(async () => {
  if (g) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
  if (tg) await tg.stop();
  if (wa) await wa.stop();
});

test('approval fan-out vs an approve mid-transaction: no live Approve button is left', { timeout: 120000 }, async () => {
  const w = await workDone(ctx);
  const d = await draftInvoice(ctx, w.ticket.id);
  await step(ctx, ctx.cs, d.id, 'submit');
  const id = d.id;
  // the submit's own fan-out and messages
  await until('the submit fanned out', async () => (await scalar(`SELECT count(*) FROM outbox
    WHERE invoice_id = ${id} AND kind = 'invoice.pending_approval' AND target LIKE 'tg:%' AND status = 'sent'`)) === '2');
  const version = await scalar(`SELECT version FROM invoices WHERE id = ${id}`);
  const ticket = await scalar(`SELECT ticket_id FROM invoices WHERE id = ${id}`);

  // A handler mid-transaction: the invoice locked, approved, not committed.
  const s = session(g.database.url);
  const rsrc = `hard:${tag}:${id}`;
  let during;
  try {
    await s.send('BEGIN;');
    await s.send(`SELECT id FROM invoices WHERE id = ${id} FOR NO KEY UPDATE;`);
    await s.send(`UPDATE invoices SET status = 'approved', approved_at = now(), updated_at = now() WHERE id = ${id};`);
    // A second role:sales source row for the same version, due now (as a
    // retried submit's would be), committed while the handler holds it.
    await psql(g.database.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id, invoice_id)
      VALUES ('telegram', 'invoice.pending_approval', 'role:sales',
              jsonb_build_object('invoice_id', ${id}, 'version', ${version}), '${rsrc}', ${ticket}, ${id})`);
    await sleep(2500);
    during = await psql(g.database.url, `SELECT id, target, status FROM outbox WHERE idem_key LIKE '${rsrc}:%'`);
    await s.send('COMMIT;');
  } finally {
    s.close(); // on a failure psql exits and the transaction is rolled back
  }

  await until('the source row settles', async () => (await scalar(`SELECT status FROM outbox
    WHERE idem_key = '${rsrc}'`)) !== 'queued');
  await until('nothing queued for the invoice', async () => (await scalar(`SELECT count(*) FROM outbox
    WHERE invoice_id = ${id} AND status = 'queued'`)) === '0');
  await sleep(500);
  // Every approval message of the invoice at the fake: no Approve button.
  const sent = await psql(g.database.url, `SELECT target, provider_id FROM outbox WHERE invoice_id = ${id}
    AND kind = 'invoice.pending_approval' AND target LIKE 'tg:%' AND status = 'sent'`);
  for (const [target, pid] of sent) {
    const chat = target.slice(3);
    const mid = Number(String(pid).split(':').pop());
    const live = tg.buttons(chat, mid).filter((b) => b.callback_data !== undefined);
    assert.deepEqual(live, [], `message ${pid} in ${chat} has no live Approve button`);
  }
  assert.deepEqual(during, [], 'nothing is fanned out while the handler holds the invoice');
});

test('a row whose payload cannot be rendered fails alone; the good rows go', { timeout: 120000 }, async () => {
  const w = await workDone(ctx);
  const chat = '-1001234599010'; // a group: private chats need the user's Start
  const text = `good ${tag}`;
  const phone = '6281234500777';
  wa.setLastInbound(phone, wa.clock.now()); // the customer wrote: a text may go
  const bad = await psql(g.database.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id) VALUES
    ('telegram', 'job.edit', 'tg:-1001234599001', '{"post_id": "x"}', 'hard:${tag}:badjob', ${w.ticket.id}) RETURNING id`);
  // (an invoice_link_id cast is only reached when public_links has a row
  // the scan looks at; the invoice_id cast always is)
  const badWa = await psql(g.database.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key) VALUES
    ('whatsapp', 'invoice.links', 'wa:${phone}', '{"invoice_id": "zz", "invoice_link_id": "zz"}',
     'hard:${tag}:badwa') RETURNING id`);
  const good = await psql(g.database.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key) VALUES
    ('telegram', 'test.message', 'tg:${chat}', $j$${JSON.stringify({ method: 'sendMessage', params: { text } })}$j$,
     'hard:${tag}:good'),
    ('whatsapp', 'test.message', 'wa:${phone}',
     '{"message": {"messaging_product": "whatsapp", "type": "text", "text": {"body": "good wa ${tag}"}}}',
     'hard:${tag}:goodwa') RETURNING id`);
  try {
    await settledRows(good, bad, badWa);
  } finally {
    // without the fix the bad rows stop every batch: the later tests need them gone
    await psql(g.database.url, `UPDATE outbox SET status = 'cancelled' WHERE status = 'queued'
      AND id IN (${bad[0][0]}, ${badWa[0][0]})`);
  }
});

async function settledRows(good, bad, badWa) {
  for (const [gid] of good) {
    let st = '';
    await until(`good row ${gid} sent (${st})`, async () => {
      st = await scalar(`SELECT status || ' ' || coalesce(last_error, '') FROM outbox WHERE id = ${gid}`);
      return st.startsWith('sent') ? st : null;
    }).catch((e) => { throw new Error(`${e.message}: ${st}`); });
  }
  for (const [bid] of [...bad, ...badWa]) {
    const r = await until(`bad row ${bid} failed`, async () => {
      const x = await psql(g.database.url, `SELECT status, last_error FROM outbox WHERE id = ${bid}`);
      return x[0][0] === 'failed' ? x[0] : null;
    });
    assert.match(r[1], /bad payload: .*invalid input syntax for type bigint/, `row ${bid}: ${r[1]}`);
  }
}

test('an older queued job edit with journal entries is not cancelled as superseded', { timeout: 120000 }, async () => {
  const w = await workDone(ctx);
  const t = w.ticket.id;
  const grp = '-1001234599002';
  const post = await psql(g.database.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id,
      status, provider_id, sent_at) VALUES ('telegram', 'job.post', 'tg:${grp}', '{"round": 1}',
      'hard:${tag}:post:group', ${t}, 'sent', '${grp}:55', now()) RETURNING id`);
  const pid = post[0][0];
  // the edit and its journal entry in one transaction: a fan-out of the
  // ticket's own edits (workDone's changes) may run at any moment
  const old = await psql(g.database.url, `WITH e AS (INSERT INTO outbox (channel, kind, target, payload, idem_key,
      ticket_id, next_attempt_at) VALUES ('telegram', 'job.edit', 'tg:${grp}', '{"post_id": ${pid}, "state": "open"}',
      'hard:${tag}:oldedit', ${t}, now() + interval '1 hour') RETURNING id)
    INSERT INTO outbox_attempts (outbox_id, worker) SELECT id, 'crashed@test' FROM e RETURNING outbox_id`);
  const oid = old[0][0];
  await psql(g.database.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id)
    VALUES ('telegram', 'job.edit', 'role:technicians', '{}', 'hard:${tag}:src', ${t})`);
  await until('the edit source fanned out', async () => (await scalar(`SELECT status FROM outbox
    WHERE idem_key = 'hard:${tag}:src'`)) !== 'queued');
  assert.equal(await scalar(`SELECT status FROM outbox WHERE idem_key = 'hard:${tag}:src'`), 'sent');
  assert.ok(await scalar(`SELECT count(*) FROM outbox WHERE idem_key = 'hard:${tag}:src:${pid}'`) === '1',
    'a new edit of the post was queued');
  const left = await psql(g.database.url, `SELECT status, coalesce(last_error, '') FROM outbox WHERE id = ${oid}`);
  assert.equal(left[0][0], 'queued',
    `the journaled edit is left for the sender to settle from its journal: ${left[0].join(' ')}`);
});

test('a job edit of a post in a long backoff waits for the post, not 1.5 s at a time', { timeout: 120000 }, async () => {
  const w = await workDone(ctx);
  const t = w.ticket.id;
  const grp = '-1001234599003';
  const post = await psql(g.database.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id,
      next_attempt_at) VALUES ('telegram', 'job.post', 'tg:${grp}', '{"round": 1}', 'hard:${tag}:bpost:group', ${t},
      now() + interval '10 minutes') RETURNING id`);
  const edit = await psql(g.database.url, `INSERT INTO outbox (channel, kind, target, payload, idem_key, ticket_id)
    VALUES ('telegram', 'job.edit', 'tg:${grp}', '{"post_id": ${post[0][0]}, "state": "open"}',
            'hard:${tag}:bedit', ${t}) RETURNING id`);
  const eid = edit[0][0];
  await until('the edit was looked at', async () => ((await scalar(`SELECT last_error FROM outbox
    WHERE id = ${eid}`)) || '').startsWith('waiting for the job message'));
  const secs = Number(await scalar(`SELECT extract(epoch FROM next_attempt_at - now()) FROM outbox WHERE id = ${eid}`));
  assert.ok(secs > 50 && secs <= 61, `the edit is looked at again in ${secs} s (want about 60)`);
});
