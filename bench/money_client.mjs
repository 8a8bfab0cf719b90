// The client side of bench/money.sh: the invoice endpoints as CS uses them.
//
//   node bench/money_client.mjs prepare DIR
//     Set-up (not measured), through the real API only. DIR holds
//     cs_tokens (one CS session per line), sales_token, tickets (work_done
//     ticket ids, one per line). Makes BENCH_PUBLIC_INVOICES invoices that
//     are created, submitted, approved (Sales) and sent, and writes their
//     public tokens to DIR/public_tokens; then BENCH_DRAFTS drafts per CS
//     session, each on its own ticket; the tickets left over are shared out
//     among the sessions as "fresh" ones to create invoices on during the
//     run. Writes DIR/plan.json.
//
//   node bench/money_client.mjs mix DIR "THINK_MS ..." DURATION_S
//     One phase per think time: every CS session of plan.json is one client
//     (its own keep-alive connection, its own session) looping over (shares
//     from BENCH_MIX, "list=25,get=40,patch=25,create=10" by default)
//       list 25 %  GET /api/v1/invoices?limit=100 (half of them
//                  ?status=draft,revision_requested,pending_approval)
//       get  40 %  GET /api/v1/invoices/{id} (any invoice)
//       patch 25 % PATCH /api/v1/invoices/{id} one of its own drafts, the
//                  items changed, with the version it last saw
//       create 10 % POST /api/v1/tickets/{id}/invoice on its next fresh
//                  work_done ticket (a patch once it has none left)
//     waiting THINK_MS between its requests (0: closed loop, as fast as the
//     server answers). Prints per phase one line per endpoint and one for
//     all: count, errors, p50, p99, max (ms), requests/s; the first error
//     on stderr. State (draft versions, fresh tickets used) carries over
//     from phase to phase.
//
// Latency is from writing the request to the last byte of the answer, as
// this node process sees it (it shares the machine with gssd: on 2 cores
// its own event loop adds to the figures under load).

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const [mode, dir, arg3, arg4] = process.argv.slice(2);
const base = new URL(process.env.BENCH_URL);

function request(agent, token, method, p, body) {
  return new Promise((resolve) => {
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers = { authorization: `Bearer ${token}` };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    } else if (method !== 'GET') {
      headers['content-length'] = '0';
    }
    const t0 = process.hrtime.bigint();
    const fail = (e) => resolve({ status: 0, text: String(e), ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    const r = http.request({ host: base.hostname, port: base.port, method, path: p, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, text, json, ms });
      });
    });
    r.on('error', fail);
    if (payload) r.write(payload);
    r.end();
  });
}

const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean);

/** Three rows, a discount and a note, as a CS types them; n varies them. */
function invoiceBody(n) {
  return {
    items: [
      { description: `Ganti kompresor AC 1 PK unit ${n}`, qty: 1, unit_price: 1250000 + (n % 7) * 1000 },
      { description: 'Isi freon R32', qty: 1 + (n % 3), unit_price: 175000 },
      { description: 'Jasa bongkar pasang unit', qty: 2, unit_price: 150000 },
    ],
    discount: (n % 5) * 10000,
    note: 'Garansi kompresor 1 tahun, jasa 30 hari.',
  };
}

async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

function must(r, status, what) {
  if (r.status !== status) throw new Error(`${what}: ${r.status} ${r.text.slice(0, 300)}`);
  return r.json;
}

async function prepare() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const cs = lines(path.join(dir, 'cs_tokens'));
  const sales = lines(path.join(dir, 'sales_token'))[0];
  const tickets = lines(path.join(dir, 'tickets')).map(Number);
  const nPublic = Number(process.env.BENCH_PUBLIC_INVOICES || 1000);
  const nDrafts = Number(process.env.BENCH_DRAFTS || 4);
  if (tickets.length < nPublic + nDrafts * cs.length) throw new Error(`${tickets.length} tickets: too few for the set-up`);
  const t0 = Date.now();
  const pub = tickets.slice(0, nPublic);
  const tokens = await mapLimit(pub, 16, async (tid, i) => {
    const who = cs[i % cs.length];
    const inv = must(await request(agent, who, 'POST', `/api/v1/tickets/${tid}/invoice`, invoiceBody(i)), 201, `create on ${tid}`);
    must(await request(agent, who, 'POST', `/api/v1/invoices/${inv.id}/submit`), 200, `submit ${inv.id}`);
    must(await request(agent, sales, 'POST', `/api/v1/invoices/${inv.id}/approve`, {}), 200, `approve ${inv.id}`);
    const s = must(await request(agent, who, 'POST', `/api/v1/invoices/${inv.id}/send`), 200, `send ${inv.id}`);
    return { id: inv.id, token: String(s.invoice_url).split('/').pop() };
  });
  fs.writeFileSync(path.join(dir, 'public_tokens'), `${tokens.map((x) => x.token).join('\n')}\n`);
  const rest = tickets.slice(nPublic);
  const clients = cs.map((token) => ({ token, drafts: [], fresh: [] }));
  const draftJobs = [];
  for (let k = 0; k < nDrafts; k++) clients.forEach((c, ci) => draftJobs.push({ c, tid: rest[k * clients.length + ci], n: k * 1000 + ci }));
  await mapLimit(draftJobs, 16, async (j) => {
    const inv = must(await request(agent, j.c.token, 'POST', `/api/v1/tickets/${j.tid}/invoice`, invoiceBody(j.n)), 201, `draft on ${j.tid}`);
    j.c.drafts.push({ id: inv.id, version: inv.version, n: j.n });
  });
  const fresh = rest.slice(nDrafts * clients.length);
  fresh.forEach((tid, i) => clients[i % clients.length].fresh.push(tid));
  const all = [...tokens.map((x) => x.id), ...clients.flatMap((c) => c.drafts.map((d) => d.id))];
  fs.writeFileSync(path.join(dir, 'plan.json'), JSON.stringify({ clients, all }));
  process.stdout.write(`prepared: ${tokens.length} sent invoices, ${draftJobs.length} drafts, ${fresh.length} fresh work_done tickets ` +
    `in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  agent.destroy();
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : 0);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function mix() {
  const plan = JSON.parse(fs.readFileSync(path.join(dir, 'plan.json'), 'utf8'));
  const thinks = String(arg3 || '0').split(/\s+/).filter(Boolean).map(Number);
  const durMs = Number(arg4 || 20) * 1000;
  const all = plan.all;
  let seed = 12345;
  const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
  const ENDPOINTS = ['list', 'get', 'patch', 'create'];
  // BENCH_MIX="list=25,get=40,patch=25,create=10" (the default): the shares.
  const weights = { list: 25, get: 40, patch: 25, create: 10 };
  for (const kv of String(process.env.BENCH_MIX || '').split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    if (!(k in weights) || !(Number(v) >= 0)) throw new Error(`BENCH_MIX: bad share "${kv}"`);
    weights[k] = Number(v);
  }
  const wsum = ENDPOINTS.reduce((n, e) => n + weights[e], 0);
  let firstError = '';
  for (const think of thinks) {
    const lat = Object.fromEntries(ENDPOINTS.map((e) => [e, []]));
    const errors = Object.fromEntries(ENDPOINTS.map((e) => [e, 0]));
    const stop = Date.now() + durMs;
    const t0 = Date.now();
    await Promise.all(plan.clients.map(async (c) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      // Spread the first requests over one think time, as people arrive.
      if (think > 0) await sleep(rand() * think);
      while (Date.now() < stop) {
        const x = rand() * wsum;
        let op = ENDPOINTS[0];
        for (let i = 0, acc = 0; i < ENDPOINTS.length; i++) {
          acc += weights[ENDPOINTS[i]];
          if (x < acc) { op = ENDPOINTS[i]; break; }
        }
        if (op === 'create' && c.fresh.length === 0) op = 'patch';
        let r;
        let want = 200;
        if (op === 'list') {
          const q = rand() < 0.5 ? '?limit=100' : '?status=draft,revision_requested,pending_approval&limit=100';
          r = await request(agent, c.token, 'GET', `/api/v1/invoices${q}`);
          if (r.status === 200 && !Array.isArray(r.json && r.json.invoices)) r.status = -1;
        } else if (op === 'get') {
          r = await request(agent, c.token, 'GET', `/api/v1/invoices/${all[Math.floor(rand() * all.length)]}`);
        } else if (op === 'patch') {
          const d = c.drafts[Math.floor(rand() * c.drafts.length)];
          d.n += 1;
          r = await request(agent, c.token, 'PATCH', `/api/v1/invoices/${d.id}`, { ...invoiceBody(d.n), version: d.version });
          if (r.status === 200 && r.json) d.version = r.json.version;
        } else {
          const tid = c.fresh.shift();
          want = 201;
          r = await request(agent, c.token, 'POST', `/api/v1/tickets/${tid}/invoice`, invoiceBody(tid));
          if (r.status === 201 && r.json) {
            c.drafts.push({ id: r.json.id, version: r.json.version, n: tid });
            all.push(r.json.id);
          }
        }
        if (r.status === want) lat[op].push(r.ms);
        else {
          errors[op] += 1;
          if (!firstError) firstError = `${op}: ${r.status} ${String(r.text).slice(0, 300)}`;
        }
        if (think > 0) await sleep(think);
      }
      agent.destroy();
    }));
    const secs = (Date.now() - t0) / 1000;
    const row = (name, xs, errs) => {
      const s = [...xs].sort((a, b) => a - b);
      return `${name.padEnd(8)} ${String(s.length).padStart(7)} ${String(errs).padStart(6)} ${pct(s, 50).toFixed(1).padStart(8)} ` +
        `${pct(s, 99).toFixed(1).padStart(8)} ${(s.length ? s[s.length - 1] : 0).toFixed(1).padStart(8)} ${(s.length / secs).toFixed(0).padStart(8)}`;
    };
    process.stdout.write(`-- think ${think} ms, ${plan.clients.length} CS sessions, ${secs.toFixed(1)} s\n`);
    process.stdout.write(`${'endpoint'.padEnd(8)} ${'ok'.padStart(7)} ${'errors'.padStart(6)} ${'p50_ms'.padStart(8)} ${'p99_ms'.padStart(8)} ${'max_ms'.padStart(8)} ${'req/s'.padStart(8)}\n`);
    for (const e of ENDPOINTS) process.stdout.write(`${row(e, lat[e], errors[e])}\n`);
    process.stdout.write(`${row('all', ENDPOINTS.flatMap((e) => lat[e]), ENDPOINTS.reduce((n, e) => n + errors[e], 0))}\n`);
  }
  fs.writeFileSync(path.join(dir, 'plan.json'), JSON.stringify(plan));
  if (firstError) process.stderr.write(`money_client: first error: ${firstError}\n`);
}

if (mode === 'prepare') await prepare();
else if (mode === 'mix') await mix();
else throw new Error(`usage: money_client.mjs prepare|mix DIR ...`);
