// The live invoice events and the money screens' helpers (docs/money.md,
// "Live events", "GET /api/v1/invoices/{id}/links", and `settings` of
// GET /api/v1/me), against a real gssd, Redis and PostgreSQL:
//   - WebSocket clients of cs, sales and admin receive
//     {"type":"invoice.updated","data":{id,ticket_id,number,status,action}}
//     after each committed money action, in order, with the data the
//     invoice has by then; a technician's socket gets none; a refused
//     action sends nothing; a dropped subscription comes back with
//     {"type":"invoice.resync"} for the same roles only;
//   - GET .../links answers the very URLs send answered, writes nothing,
//     says not_sent before a send, links_stale after the key changed, and
//     the tokens reach neither the database nor the log;
//   - /me says the configured tax rate.
// Expected values are written here from the contract, never read from gssd.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';

import WebSocket from 'ws';

import { startGssd, psql, sleep } from './harness.mjs';
import {
  moneySetup, workDone, draftInvoice, step, approvedInvoice, sentInvoice, pub, api, LINK_KEY,
} from './money_util.mjs';

const T = { timeout: 240000 };
const OTHER_KEY = 'aa'.repeat(32); // another GSS_LINK_KEY: the same nonces give other tokens

let ctx;

// A board socket with a Bearer session; collects parsed messages.
function openSocket(g, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${g.port}/api/v1/ws`, {
      headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false,
    });
    const messages = [];
    const texts = []; // as they came, for the exact bytes
    const waiters = new Set();
    ws.on('message', (data) => {
      texts.push(data.toString('utf8'));
      let m;
      try { m = JSON.parse(data.toString('utf8')); } catch { m = { unparsed: data.toString('utf8') }; }
      messages.push(m);
      for (const w of [...waiters]) w();
    });
    ws.on('unexpected-response', (req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('open', () => {
      let cursor = 0;
      const sock = {
        messages,
        texts,
        invoice() { return messages.filter((m) => typeof m.type === 'string' && m.type.startsWith('invoice.')); },
        // The next invoice.* message after the last one taken, or null after ms.
        async nextInvoice(ms = 5000) {
          const find = () => {
            for (; cursor < messages.length; cursor++) {
              const m = messages[cursor];
              if (typeof m.type === 'string' && m.type.startsWith('invoice.')) { cursor++; return m; }
            }
            return null;
          };
          let got = find();
          if (got) return got;
          await new Promise((res) => {
            const t = setTimeout(() => { waiters.delete(w); res(); }, ms);
            const w = () => { got = find(); if (got) { clearTimeout(t); waiters.delete(w); res(); } };
            waiters.add(w);
          });
          return got;
        },
        drainSeen() { cursor = messages.length; },
        close() { ws.terminate(); },
      };
      resolve(sock);
    });
  });
}

async function getInvoice(id, g = ctx.g) {
  const r = await api(g, ctx.cs, 'GET', `/api/v1/invoices/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function count(sql) {
  const [[n]] = await psql(ctx.g.database.url, sql);
  return Number(n);
}

before(async () => {
  // Request logs on and debug level: the test reads every line gssd writes.
  ctx = await moneySetup({
    techs: 12, tag: 'il',
    env: { GSS_TAX_RATE_BP: 1100, GSS_LOG_REQUESTS: 1, GSS_LOG_LEVEL: 'debug', GSS_PUBLIC_URL: 'https://gss.example.id/' },
  });
});

describe('invoice.updated on the WebSocket', () => {
  it('cs, sales and admin get each committed action with the invoice\'s data; ts gets nothing', T, async () => {
    const socks = {
      cs: await openSocket(ctx.g, ctx.cs),
      sales: await openSocket(ctx.g, ctx.sales),
      admin: await openSocket(ctx.g, ctx.admin),
    };
    const tech = ctx.tech();
    const ts = await openSocket(ctx.g, tech.token);
    try {
      const w = await workDone(ctx);
      const ticketId = w.ticket.id;
      // Whatever the field work published (pool, monitor) is not ours.
      for (const s of [...Object.values(socks), ts]) s.drainSeen();

      const d = await draftInvoice(ctx, ticketId);
      const want = (status, action) => ({
        type: 'invoice.updated', data: { id: d.id, ticket_id: ticketId, number: d.number, status, action },
      });
      // Each role's socket, in order; the invoice already shows the state
      // the event names (published after COMMIT, never before).
      const expectAll = async (status, action) => {
        for (const [role, s] of Object.entries(socks)) {
          const m = await s.nextInvoice();
          assert.deepEqual(m, want(status, action), `${role}: ${action}`);
        }
        assert.equal((await getInvoice(d.id)).status, status, `after ${action}`);
      };
      await expectAll('draft', 'create');

      // A refusal commits nothing and says nothing: approve of a draft.
      const refused = await api(ctx.g, ctx.sales, 'POST', `/api/v1/invoices/${d.id}/approve`);
      assert.equal(refused.status, 409, refused.text);

      await step(ctx, ctx.cs, d.id, 'submit');
      await expectAll('pending_approval', 'submit');
      await step(ctx, ctx.sales, d.id, 'approve');
      await expectAll('approved', 'approve');

      await step(ctx, ctx.cs, d.id, 'send');
      await expectAll('sent', 'send');
      // The exact text on the wire: compact, members in the documented order.
      assert.equal(socks.sales.texts.filter((t) => t.includes('"invoice.updated"')).at(-1),
        `{"type":"invoice.updated","data":{"id":${d.id},"ticket_id":${ticketId},` +
        `"number":"${d.number}","status":"sent","action":"send"}}`);

      await sleep(500); // every broadcast of these went out together: the technician's would be here by now
      assert.deepEqual(ts.invoice(), [], 'a technician\'s socket gets no invoice.*');
    } finally {
      for (const s of [...Object.values(socks), ts]) s.close();
    }
  });

  it('every action says its name: edit, revise, resend, payment, pay, void_payment, close, rating', T, async () => {
    const cs = await openSocket(ctx.g, ctx.cs);
    try {
      const w = await workDone(ctx);
      const ticketId = w.ticket.id;
      cs.drainSeen();
      const d = await draftInvoice(ctx, ticketId, { items: [{ description: 'Servis AC', qty: 1, unit_price: 300000 }] });
      const seen = [];
      const next = async () => {
        const m = await cs.nextInvoice();
        assert.ok(m, `an event after ${JSON.stringify(seen.at(-1))}`);
        assert.equal(m.type, 'invoice.updated');
        assert.deepEqual(Object.keys(m.data), ['id', 'ticket_id', 'number', 'status', 'action']);
        assert.equal(m.data.id, d.id);
        assert.equal(m.data.ticket_id, ticketId);
        assert.equal(m.data.number, d.number);
        seen.push([m.data.action, m.data.status]);
        return m.data;
      };
      assert.deepEqual(await next(), { id: d.id, ticket_id: ticketId, number: d.number, status: 'draft', action: 'create' });

      const r1 = await api(ctx.g, ctx.cs, 'PATCH', `/api/v1/invoices/${d.id}`, { note: 'Garansi 30 hari' });
      assert.equal(r1.status, 200, r1.text);
      await step(ctx, ctx.cs, d.id, 'submit');
      await step(ctx, ctx.sales, d.id, 'revise', { note: 'Harga servis terlalu tinggi' });
      const r2 = await api(ctx.g, ctx.cs, 'PATCH', `/api/v1/invoices/${d.id}`,
        { items: [{ description: 'Servis AC', qty: 1, unit_price: 250000 }] });
      assert.equal(r2.status, 200, r2.text);
      await step(ctx, ctx.cs, d.id, 'submit');
      await step(ctx, ctx.sales, d.id, 'approve');
      const sent = await step(ctx, ctx.cs, d.id, 'send');
      await step(ctx, ctx.cs, d.id, 'send'); // again: resend
      const total = sent.total; // 250.000 + 11% = 277.500
      assert.equal(total, 277500);
      const pay = (amount) => api(ctx.g, ctx.cs, 'POST', `/api/v1/invoices/${d.id}/payments`, { amount, method: 'cash' });
      const p1 = await pay(100000);
      assert.equal(p1.status, 201, p1.text);
      const p2 = await pay(total - 100000);
      assert.equal(p2.status, 201, p2.text);
      const pid = p2.json.payments.at(-1).id;
      const v = await api(ctx.g, ctx.cs, 'POST', `/api/v1/invoices/${d.id}/payments/${pid}/void`, { reason: 'salah catat' });
      assert.equal(v.status, 200, v.text);
      const p3 = await pay(total - 100000);
      assert.equal(p3.status, 201, p3.text);
      const ratingToken = sent.rating_url.split('/').pop();
      const rate = await pub(ctx, 'POST', `/api/v1/public/ratings/${ratingToken}`, { score: 5, comment: 'Cepat' });
      assert.equal(rate.status, 201, rate.text);
      const close = await api(ctx.g, ctx.cs, 'POST', `/api/v1/tickets/${ticketId}/close`);
      assert.equal(close.status, 200, close.text);

      for (let i = 0; i < 14; i++) await next();
      assert.deepEqual(seen, [
        ['create', 'draft'],
        ['edit', 'draft'],
        ['submit', 'pending_approval'],
        ['revise', 'revision_requested'],
        ['edit', 'draft'],
        ['submit', 'pending_approval'],
        ['approve', 'approved'],
        ['send', 'sent'],
        ['resend', 'sent'],
        ['payment', 'sent'],
        ['pay', 'paid'],
        ['void_payment', 'sent'],
        ['pay', 'paid'],
        ['rating', 'paid'],
        ['close', 'paid'],
      ]);
      // A refused close (already closed) and a second rating say nothing.
      const again = await api(ctx.g, ctx.cs, 'POST', `/api/v1/tickets/${ticketId}/close`);
      assert.equal(again.status, 409, again.text);
      const rate2 = await pub(ctx, 'POST', `/api/v1/public/ratings/${ratingToken}`, { score: 1 });
      assert.equal(rate2.status, 409, rate2.text);
      assert.equal(await cs.nextInvoice(800), null, 'nothing for what was refused');
    } finally {
      cs.close();
    }
  });

  it('a dropped subscription comes back with invoice.resync for cs, sales and admin, not ts', T, async () => {
    const socks = {
      cs: await openSocket(ctx.g, ctx.cs),
      sales: await openSocket(ctx.g, ctx.sales),
      admin: await openSocket(ctx.g, ctx.admin),
    };
    const ts = await openSocket(ctx.g, ctx.tech().token);
    try {
      const killed = await ctx.redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
      assert.ok(Number(killed) >= 1, `the subscriber was connected: ${killed}`);
      for (const [role, s] of Object.entries(socks)) {
        const m = await s.nextInvoice(10000);
        assert.deepEqual(m, { type: 'invoice.resync' }, role);
      }
      // The pool's own resync reaches the technician: so the socket heard the
      // resubscription, and still got no invoice.* message.
      const t0 = Date.now();
      while (!ts.messages.some((m) => m.type === 'resync') && Date.now() - t0 < 10000) await sleep(50);
      assert.ok(ts.messages.some((m) => m.type === 'resync'), 'the technician got the pool resync');
      await sleep(300);
      assert.deepEqual(ts.invoice(), []);

      // And events flow again after it.
      const a = await approvedInvoice(ctx);
      await step(ctx, ctx.cs, a.invoice.id, 'send');
      for (const [role, s] of Object.entries(socks)) {
        // The events of the set-up (create, submit, approve) first: the
        // answer of an action may come before its event, which is
        // published after COMMIT without being waited for.
        const got = [];
        for (let m; (m = await s.nextInvoice(10000));) {
          if (m.type !== 'invoice.updated') continue; // a second resync (the drop, then the resubscription)
          got.push(m.data.action);
          if (m.data.action === 'send') {
            assert.equal(m.data.id, a.invoice.id, role);
            break;
          }
        }
        assert.deepEqual(got, ['create', 'submit', 'approve', 'send'], role);
      }
    } finally {
      for (const s of [...Object.values(socks), ts]) s.close();
    }
  });
});

describe('GET /api/v1/invoices/{id}/links', () => {
  // What a send writes; a GET of the links must write none of it.
  async function written(id, ticketId) {
    return {
      outbox: await count(`SELECT count(*) FROM outbox WHERE invoice_id = ${id}`),
      history: await count(`SELECT count(*) FROM invoice_history WHERE invoice_id = ${id}`),
      audit: await count(`SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${ticketId}`),
      links: (await psql(ctx.g.database.url,
        `SELECT kind, encode(nonce, 'hex'), encode(token_hash, 'hex'), expires_at, used_at FROM public_links WHERE invoice_id = ${id} ORDER BY kind`))
        .map((r) => r.join('|')).join(';'),
      updated: (await psql(ctx.g.database.url, `SELECT updated_at FROM invoices WHERE id = ${id}`))[0][0],
    };
  }

  it('409 not_sent before the first send; 404 for no such invoice', T, async () => {
    const w = await workDone(ctx);
    const d = await draftInvoice(ctx, w.ticket.id);
    for (const [what, id] of [['draft', d.id]]) {
      const r = await api(ctx.g, ctx.cs, 'GET', `/api/v1/invoices/${id}/links`);
      assert.equal(r.status, 409, `${what}: ${r.text}`);
      assert.equal(r.json.error.code, 'not_sent');
    }
    await step(ctx, ctx.cs, d.id, 'submit');
    await step(ctx, ctx.sales, d.id, 'approve');
    const r = await api(ctx.g, ctx.admin, 'GET', `/api/v1/invoices/${d.id}/links`);
    assert.equal(r.status, 409, `approved, not sent: ${r.text}`);
    assert.equal(r.json.error.code, 'not_sent');
    for (const id of ['999999999', '0', 'abc', '-1']) {
      const x = await api(ctx.g, ctx.cs, 'GET', `/api/v1/invoices/${id}/links`);
      assert.equal(x.status, 404, `${id}: ${x.text}`);
      assert.equal(x.json.error.code, 'not_found');
    }
    const sales = await api(ctx.g, ctx.sales, 'GET', `/api/v1/invoices/${d.id}/links`);
    assert.equal(sales.status, 403, sales.text);
  });

  it('the URLs send answered, nothing written, no-store; the same again after a resend', T, async () => {
    const s = await sentInvoice(ctx);
    const id = s.invoice.id;
    const ticketId = s.ticket.id;
    assert.match(s.invoice.invoice_url, /^https:\/\/gss\.example\.id\/i\/[A-Za-z0-9_-]{32}$/);
    assert.match(s.invoice.rating_url, /^https:\/\/gss\.example\.id\/r\/[A-Za-z0-9_-]{32}$/);
    const before = await written(id, ticketId);
    for (const token of [ctx.cs, ctx.admin, ctx.cs]) {
      const r = await api(ctx.g, token, 'GET', `/api/v1/invoices/${id}/links`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { invoice_url: s.invoice.invoice_url, rating_url: s.invoice.rating_url });
      assert.deepEqual(Object.keys(r.json), ['invoice_url', 'rating_url']);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    }
    assert.deepEqual(await written(id, ticketId), before, 'no outbox, history or audit row; the links and the invoice untouched');
    // The links open the customer's pages: they are the real ones.
    const page = await pub(ctx, 'GET', `/api/v1/public/invoices/${s.invoiceToken}`);
    assert.equal(page.status, 200, page.text);

    const again = await step(ctx, ctx.cs, id, 'send');
    const after = await api(ctx.g, ctx.cs, 'GET', `/api/v1/invoices/${id}/links`);
    assert.equal(after.status, 200);
    assert.deepEqual(after.json, { invoice_url: again.invoice_url, rating_url: again.rating_url });
    assert.equal(again.invoice_url, s.invoice.invoice_url, 'a resend sends the same links');

    // The tokens are nowhere in the database and nowhere in the log.
    const tokens = [s.invoiceToken, s.ratingToken];
    const dump = (await psql(ctx.g.database.url,
      `SELECT string_agg(t, ' ') FROM (
         SELECT row_to_json(x)::text AS t FROM public_links x UNION ALL
         SELECT row_to_json(x)::text FROM outbox x UNION ALL
         SELECT row_to_json(x)::text FROM audit_log x UNION ALL
         SELECT row_to_json(x)::text FROM invoice_history x UNION ALL
         SELECT row_to_json(x)::text FROM invoices x) y`))[0][0];
    assert.ok(dump.length > 1000, 'the dump read the rows');
    assert.ok(dump.includes(s.invoice.number), 'the dump holds the invoice');
    const log = [...ctx.g.lines, ...ctx.g.stdout].join('\n');
    assert.ok(log.includes(`/api/v1/invoices/${id}/links`), 'the request log has the calls');
    for (const t of tokens) {
      assert.ok(!dump.includes(t), 'a raw token in the database');
      assert.ok(!log.includes(t), 'a raw token in the log');
    }
  });

  it('409 links_stale once GSS_LINK_KEY changed, writing nothing; the other gssd (old key) still answers', T, async () => {
    const s = await sentInvoice(ctx);
    const id = s.invoice.id;
    const before = await written(id, s.ticket.id);
    const g2 = await startGssd({
      redis: ctx.redis, database: ctx.database,
      env: { GSS_LINK_KEY: OTHER_KEY, GSS_TAX_RATE_BP: 250, GSS_LOG_REQUESTS: 0 },
    });
    try {
      const r = await api(g2, ctx.cs, 'GET', `/api/v1/invoices/${id}/links`);
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.error.code, 'links_stale');
      assert.match(r.json.error.message, /Kirim Ulang/);
      assert.deepEqual(await written(id, s.ticket.id), before, 'nothing written');
      const ok = await api(ctx.g, ctx.cs, 'GET', `/api/v1/invoices/${id}/links`);
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json, { invoice_url: s.invoice.invoice_url, rating_url: s.invoice.rating_url });
      assert.notEqual(LINK_KEY, OTHER_KEY);

      // settings.tax_rate_bp is each gssd's own GSS_TAX_RATE_BP.
      const me2 = await api(g2, ctx.cs, 'GET', '/api/v1/me');
      assert.equal(me2.status, 200, me2.text);
      assert.deepEqual(me2.json.settings, { tax_rate_bp: 250 });
    } finally {
      await g2.stop();
    }
  });
});

describe('GET /api/v1/me', () => {
  it('says the configured tax rate for every role', T, async () => {
    for (const token of [ctx.cs, ctx.sales, ctx.admin, ctx.tech().token]) {
      const r = await api(ctx.g, token, 'GET', '/api/v1/me');
      assert.equal(r.status, 200, r.text);
      for (const k of ['user', 'csrf_token', 'settings']) assert.ok(k in r.json, `${k} in ${r.text}`);
      assert.deepEqual(r.json.settings, { tax_rate_bp: 1100 });
    }
  });
});
