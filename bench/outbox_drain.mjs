// The fake Telegram side of bench/outbox_drain.sh: tests/fakes/telegram.mjs
// on loopback plus a small control server the script talks to with curl.
//
//   node bench/outbox_drain.mjs <info file>
//     env GSS_DATABASE_URL (rows are queued with psql), BENCH_TOKEN (the bot
//     token gssd is given), BENCH_FAKE_LIMITS=1 (the fake also enforces
//     Telegram's limits with 429s; off by default, so that what is measured
//     is gssd's own pacing and not the fake's refusals).
//   Writes "<telegram api base> <control url>" to the info file once both
//   listen, then serves until SIGTERM:
//
//   POST /queue?label=L&n=1000&chats=100&group=40&group_chat=-100...
//     n sendMessage rows in ONE INSERT (one commit: "queued at once"), kind
//     bench.announce, idem_key bench:L:<g>. `group` of them (spread evenly
//     through the ids) go to the group chat, the rest round-robin to `chats`
//     private chats (ids 700000001...). Each row's text is unique, so the
//     fake's requests can be matched to rows. Answers {label, n, queued_ms}.
//   POST /queue_jobs?label=L&n=40&group_chat=-100...
//     n open tickets in ONE INSERT: 0012_job_posts.sql's trigger queues a
//     job.post per ticket and gssd's fan-out makes one row per chat (the
//     group, and with GSS_TELEGRAM_JOB_DM each linked technician). Expected:
//     one message per ticket per chat; a message is matched to its ticket by
//     the button's job_<id> / /jobs/<id>.
//   GET /wait?label=L&timeout_s=600
//     Waits until every row of L was accepted by the fake and the database
//     says sent, then 1.5 s more (a late duplicate would show), and answers
//     the figures as JSON (see figures() below).
//
// Times are arrival times at the fake (performance.now() of the request's
// first byte handled), which is what Telegram's limits count.
import http from 'node:http';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { startTelegramFake } from '../tests/fakes/telegram.mjs';
import { maxInWindow } from '../tests/fakes/common.mjs';

const infoFile = process.argv[2];
const dbUrl = process.env.GSS_DATABASE_URL;
const token = process.env.BENCH_TOKEN || '7000000001:AAbench-outbox_token';
if (!infoFile || !dbUrl) {
  console.error('usage: GSS_DATABASE_URL=... node bench/outbox_drain.mjs <info file>');
  process.exit(2);
}

const tg = await startTelegramFake({
  token,
  openPrivateChats: true,
  rateLimits: process.env.BENCH_FAKE_LIMITS === '1',
});

function psql(sql) {
  return new Promise((resolve, reject) => {
    execFile('psql', ['-qAtX', '-v', 'ON_ERROR_STOP=1', '-F', '\t', dbUrl, '-c', sql],
      { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`psql: ${stderr || err.message}`));
        else resolve(stdout.split('\n').filter((l) => l.length).map((l) => l.split('\t')));
      });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// label -> {rows: [{id, chat, key}], byKey, keyOf(entry), dbWhere, queuedMs, reqFrom, groupChat}
const batches = new Map();

async function queue(q) {
  const label = q.get('label');
  const n = Number(q.get('n') || 1000);
  const chats = Number(q.get('chats') || 100);
  const group = Number(q.get('group') || 0);
  const groupChat = q.get('group_chat') || '-1001234567890';
  if (!/^[a-z0-9_-]{1,32}$/.test(label) || batches.has(label)) throw new Error('label: new, [a-z0-9_-]{1,32}');
  if (!(n >= 1 && chats >= 1 && group >= 0 && group <= n) || !/^-100\d{6,13}$/.test(groupChat)) throw new Error('bad n/chats/group');
  // Row g goes to the group when it is one of `group` evenly spaced ones.
  const step = group > 0 ? n / group : 0;
  const isGroup = group > 0 ? `(floor((g - 1) / ${step}) <> floor(g / ${step}))` : 'false';
  // The private rows are numbered apart (g minus the group rows before it),
  // so that every one of the chats gets its share.
  const nth = group > 0 ? `(g - floor(g / ${step})::int)` : 'g';
  const chat = `CASE WHEN ${isGroup} THEN ${groupChat}::bigint ELSE 700000000 + 1 + (${nth} % ${chats}) END`;
  const reqFrom = tg.requests.length;
  const t0 = performance.now();
  const rows = await psql(`
    INSERT INTO outbox (channel, kind, target, payload, idem_key)
    SELECT 'telegram', 'bench.announce', 'tg:' || c.chat,
           jsonb_build_object('method', 'sendMessage', 'params', jsonb_build_object(
             'text', 'Job baru ' || '${label}' || ' #' || g || ': Servis AC 1 PK, Jl. Bench No. ' || g ||
                     ', Jakarta Selatan. Buka halaman job untuk ambil.')),
           'bench:${label}:' || g
    FROM generate_series(1, ${n}) g, LATERAL (SELECT ${chat} AS chat) c
    ORDER BY g
    RETURNING id, target, payload->'params'->>'text'`);
  const queuedMs = performance.now();
  const list = rows.map(([id, target, text]) => ({ id: String(id), chat: Number(target.slice(3)), key: text }));
  batches.set(label, {
    label, rows: list, byKey: new Map(list.map((r) => [r.key, r])), t0, queuedMs, reqFrom, groupChat: Number(groupChat),
    keyOf: (e) => e.params.text,
    dbWhere: `idem_key LIKE 'bench:${label}:%'`,
  });
  return { label, n: list.length, group: list.filter((r) => r.chat < 0).length, insert_ms: Math.round(queuedMs - t0) };
}

const jobOf = (e) => {
  const m = /startapp=job_(\d+)|\/jobs\/(\d+)/.exec(JSON.stringify(e.params.reply_markup || ''));
  return m ? m[1] || m[2] : null;
};

async function queueJobs(q) {
  const label = q.get('label');
  const n = Number(q.get('n') || 40);
  const groupChat = q.get('group_chat') || '-1001234567890';
  if (!/^[a-z0-9_-]{1,32}$/.test(label) || batches.has(label)) throw new Error('label: new, [a-z0-9_-]{1,32}');
  if (!(n >= 1 && n <= 100000) || !/^-100\d{6,13}$/.test(groupChat)) throw new Error('bad n/group_chat');
  // The chats the fan-out will use: the group and every linked technician
  // (gssd runs with GSS_TELEGRAM_JOB_DM=1 in this mode).
  const dms = (await psql(`SELECT telegram_chat_id FROM users WHERE active AND role = 'ts'
    AND telegram_chat_id IS NOT NULL AND telegram_chat_id <> ${groupChat}`)).map((r) => Number(r[0]));
  const chats = [Number(groupChat), ...dms];
  const reqFrom = tg.requests.length;
  const t0 = performance.now();
  const tickets = await psql(`
    INSERT INTO tickets (code, customer_id, problem, address, area, scheduled_at, techs_needed)
    SELECT 'GSS-JB-${label}-' || g, (SELECT min(id) FROM customers), 'Servis AC bench ${label} ' || g,
           'Jl. Bench ' || g, 'Jakarta Selatan', now() + interval '1 day' + (g || ' minutes')::interval, 1 + g % 3
    FROM generate_series(1, ${n}) g ORDER BY g RETURNING id`);
  const queuedMs = performance.now();
  const ids = tickets.map((r) => r[0]);
  const list = [];
  for (const id of ids) for (const c of chats) list.push({ id: `${c}:${id}`, chat: c, key: `${c}:${id}` });
  batches.set(label, {
    label, rows: list, byKey: new Map(list.map((r) => [r.key, r])), t0, queuedMs, reqFrom, groupChat: Number(groupChat),
    keyOf: (e) => `${Number(e.params.chat_id)}:${jobOf(e)}`,
    dbWhere: `kind = 'job.post' AND target LIKE 'tg:%' AND ticket_id IN (${ids.join(',')})`,
  });
  return { label, tickets: ids.length, chats: chats.length, messages: list.length, insert_ms: Math.round(queuedMs - t0) };
}

function accepted(b) {
  return tg.requests.slice(b.reqFrom).filter((e) => e.done && e.status === 200 && e.api === 'sendMessage' &&
    e.params && b.byKey.has(b.keyOf(e)));
}

async function wait(q) {
  const label = q.get('label');
  const b = batches.get(label);
  if (!b) throw new Error(`no batch ${label}`);
  const deadline = performance.now() + 1000 * Number(q.get('timeout_s') || 600);
  let dbSent = 0;
  for (;;) {
    const got = new Set(accepted(b).map((e) => b.keyOf(e)));
    if (got.size === b.rows.length) {
      const r = await psql(`SELECT count(*) FROM outbox WHERE ${b.dbWhere} AND status = 'sent'`);
      dbSent = Number(r[0][0]);
      if (dbSent === b.rows.length) break;
    }
    if (performance.now() > deadline) break;
    await sleep(200);
  }
  await sleep(1500);
  return figures(b);
}

async function figures(b) {
  const acc = accepted(b);
  const perRow = new Map();
  let wrongChat = 0;
  for (const e of acc) {
    const row = b.byKey.get(b.keyOf(e));
    perRow.set(row.id, (perRow.get(row.id) || 0) + 1);
    if (Number(e.params.chat_id) !== row.chat) wrongChat++;
  }
  const missing = b.rows.filter((r) => !perRow.has(r.id)).length;
  const twice = [...perRow.values()].filter((c) => c > 1).length;
  // Every request in the batch's time, whatever it was: the limits are the bot's.
  const all = tg.requests.slice(b.reqFrom).filter((e) => e.done);
  const ok = all.filter((e) => e.status === 200);
  const refused = all.filter((e) => e.status !== 200);
  const times = ok.map((e) => e.hr);
  const byChat = new Map();
  for (const e of ok) {
    const c = Number(e.params && e.params.chat_id);
    if (!byChat.has(c)) byChat.set(c, []);
    byChat.get(c).push(e.hr);
  }
  let perChat1s = 0;
  let perChatMinGapMs = Infinity;
  for (const [, t] of byChat) {
    perChat1s = Math.max(perChat1s, maxInWindow(t, 1000));
    t.sort((x, y) => x - y);
    for (let i = 1; i < t.length; i++) perChatMinGapMs = Math.min(perChatMinGapMs, t[i] - t[i - 1]);
  }
  const groupT = byChat.get(b.groupChat) || [];
  const first = Math.min(...times);
  const last = Math.max(...times);
  const privT = ok.filter((e) => Number(e.params && e.params.chat_id) > 0).map((e) => e.hr);
  const privLast = privT.length ? Math.max(...privT) : NaN;
  const status = await psql(`SELECT status, count(*) FROM outbox WHERE ${b.dbWhere} GROUP BY 1 ORDER BY 1`);
  // Anything accepted in the batch's time that is none of its messages.
  const unexpected = ok.filter((e) => e.api === 'sendMessage' && !b.byKey.has(b.keyOf(e))).length;
  const r1 = (x) => Math.round(x * 10) / 10;
  return {
    rows: b.rows.length,
    group_rows: b.rows.filter((r) => r.chat < 0).length,
    private_chats: [...byChat.keys()].filter((c) => c > 0).length,
    accepted: acc.length,
    missing,
    sent_twice: twice,
    wrong_chat: wrongChat,
    unexpected,
    refused_by_fake: refused.length,
    refused_statuses: [...new Set(refused.map((e) => e.status))],
    db_status: Object.fromEntries(status.map(([s, c]) => [s, Number(c)])),
    first_send_s: r1((first - b.queuedMs) / 1000),
    drain_s: r1((last - b.queuedMs) / 1000),
    rate_avg_per_s: r1(acc.length / Math.max(0.001, (last - first) / 1000)),
    // The private chats alone: what the 30/s overall limit allows, the
    // group's 20/min left aside (its second 20 wait a minute).
    private_drain_s: r1((privLast - b.queuedMs) / 1000),
    private_rate_per_s: r1(privT.length / Math.max(0.001, (privLast - first) / 1000)),
    max_1s_overall: maxInWindow(times, 1000),
    max_1s_per_chat: perChat1s,
    min_gap_same_chat_ms: Number.isFinite(perChatMinGapMs) ? Math.round(perChatMinGapMs) : null,
    max_60s_group: maxInWindow(groupT, 60000),
    group_sends: groupT.length,
    fake_answer_ms_max: r1(Math.max(...ok.map((e) => e.ms))),
  };
}

const ctl = http.createServer(async (req, res) => {
  const u = new URL(req.url, 'http://ctl');
  try {
    let out;
    if (req.method === 'POST' && u.pathname === '/queue') out = await queue(u.searchParams);
    else if (req.method === 'POST' && u.pathname === '/queue_jobs') out = await queueJobs(u.searchParams);
    else if (req.method === 'GET' && u.pathname === '/wait') out = await wait(u.searchParams);
    else { res.writeHead(404).end('{}'); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
  } catch (e) {
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(e.message || e) }));
  }
});
ctl.requestTimeout = 0;
ctl.headersTimeout = 0;
await new Promise((r) => ctl.listen(0, '127.0.0.1', r));
writeFileSync(infoFile, `${tg.apiBase} http://127.0.0.1:${ctl.address().port}\n`);

process.on('SIGTERM', async () => {
  ctl.close();
  await tg.stop().catch(() => {});
  process.exit(0);
});
