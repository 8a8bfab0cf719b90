// The persister keeps every claim (issue 8, "a pool that keeps every claim"),
// against a real gssd, Redis and a private PostgreSQL it stops and starts:
//
//   (a) poison entries (an unknown job, a malformed entry with bytes that are
//       not UTF-8) written into the events stream by hand go to
//       pool_dead_letters with their errors, while the rest of their batch
//       persists; /metrics counts them, `gssd check` lists them;
//   (b) a release of a technician whose slot Redis lost is refused
//       ("inconsistent"): no slot-0 entry, nothing changed; check shows the
//       job, `rebuild-pool --repair` rewrites it, the release then works and
//       persists; a slot-0 release left by an older gssd is a dead letter,
//       not a batch that fails forever;
//   (c) trimming never drops an unacknowledged entry: with PostgreSQL
//       stopped, claims pile up and the stream keeps every one of them
//       (sampled many times), /metrics shows the backlog and its age; once
//       PostgreSQL is back all are persisted and the stream is trimmed;
//   (d) `gssd rebuild-pool` during claim storms, with jobs lost from Redis
//       while their claims were not yet in PostgreSQL: it waits for the
//       persister (or refuses, with a short --wait), and no slot is ever
//       given twice; check is clean afterwards;
//   (e) a stray job (ticket over in PostgreSQL, job still on the board) is
//       closed by rebuild-pool as a cancel would.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import {
  startGssd, startRedis, startPostgres, psql, psqlJson, redisCommand, run, runGssd, scrapeMetrics, SOURCE_DIR,
  REDIS_PREFIX,
} from './harness.mjs';
import {
  addUser, bulkTechs, bulkCustomers, login, loginAll, createTicket, claim, storm, makePlan, judgeClaims, mergeWinners,
  redisHolders, waitPersisted, waitCheckClean, checkOnce, rng, mapLimit, key, waitFor, sleep,
} from './pool_util.mjs';

const T = { timeout: 120000 };
const ENV = { GSS_TECH_MAX_ACTIVE: 100, GSS_LOG_REQUESTS: 0 };

let redis;
let pg;
let database;
let g;
let cs;
let techs = [];
let customers = [];
const rand = rng(8004);

before(async () => {
  redis = await startRedis({ appendonly: true });
  pg = await startPostgres();
  database = { name: 'gss', url: `${pg.url}/gss` };
  g = await startGssd({ redis, database, env: ENV });
  await addUser(g, 'pers_cs', 'cs');
  techs = await bulkTechs(g, 'pers', 120);
  customers = await bulkCustomers(g, 10);
  cs = await login(g, 'pers_cs');
  await loginAll(g, techs, 20);
}, { timeout: 120000 });

after(async () => {
  if (g && g.alive()) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

// ---------------------------------------------------------------------------
// helpers

const need = new Map(); // job → N

async function makeJobs(sizes) {
  const jobs = await mapLimit(sizes, 8, (k, i) => createTicket(g, cs, customers[i % customers.length], k));
  jobs.forEach((j, i) => need.set(j.id, sizes[i]));
  return jobs.map((j) => j.id);
}

// A Redis command whose arguments may be Buffers (bytes that are not UTF-8).
function redisRaw(port, args) {
  return new Promise((resolve, reject) => {
    const parts = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    const s = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); reject(new Error('redis timed out')); }, 5000);
    s.on('connect', () => s.write(Buffer.concat(parts)));
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const line = buf.subarray(0, eol).toString('latin1');
      if (line[0] === '$' && buf.length < eol + 2 + Number(line.slice(1)) + 2) return;
      clearTimeout(timer);
      s.destroy();
      if (line[0] === '-') reject(new Error(line.slice(1)));
      else resolve(line[0] === '$' ? buf.subarray(eol + 2, eol + 2 + Number(line.slice(1))).toString('latin1') : line.slice(1));
    });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

// A pool script as cmake/embed.cmake builds it (prelude + script), by EVAL.
function script(name) {
  const dir = path.join(SOURCE_DIR, 'src', 'pool', 'lua');
  return fs.readFileSync(path.join(dir, 'lib', 'prelude.lua'), 'utf8') + fs.readFileSync(path.join(dir, `${name}.lua`), 'utf8');
}

function releaseScript(jobId, techId) {
  const id = String(jobId);
  return redisCommand(redis.port, 'EVAL', script('release'), '8', key('pool'), key(`job:${id}`), key(`job:${id}:techs`),
    key(`job:${id}:banned`), key(`tech:${techId}`), key('seq'), key('events'), key(`job:${id}:slots`),
    id, String(techId), `${REDIS_PREFIX}:live`, String(Date.now()));
}

function fieldsOf(flat) {
  const o = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]] = flat[i + 1];
  return o;
}

async function group() {
  const groups = await redisCommand(redis.port, 'XINFO', 'GROUPS', key('events'));
  return fieldsOf(groups.find((gr) => fieldsOf(gr).name === 'persist'));
}

// Waits until the persist group has acknowledged everything in the stream.
async function waitDrained(timeout = 30000) {
  await waitFor(async () => {
    const gr = await group();
    return Number(gr.pending) === 0 && Number(gr.lag) === 0;
  }, { timeout, what: 'the persister to acknowledge every entry' });
}

async function deadLetters() {
  return psqlJson(database.url, 'SELECT stream, stream_id, payload, error, sqlstate, resolved_at FROM pool_dead_letters' +
    ' ORDER BY stream_id');
}

async function resolveDeadLetters() {
  await psql(database.url, 'UPDATE pool_dead_letters SET resolved_at = now() WHERE resolved_at IS NULL');
}

let won = new Map();

// ---------------------------------------------------------------------------

describe('persister', () => {
  it('(a) poison entries go to the dead letters; the rest of their batch persists; metrics and check show them', T, async (t) => {
    const ids = await makeJobs(Array.from({ length: 30 }, () => 3));
    const m0 = await scrapeMetrics(g.url);
    const dead0 = m0.value('gss_persister_dead_letters_total');
    assert.equal(dead0, 0, 'no dead letters yet');
    // PostgreSQL stopped: the persister holds everything, so the poison
    // entries and the claims around them are applied together afterwards.
    await pg.stop();
    let poisonIds;
    try {
      const plan1 = makePlan(techs.slice(0, 30), ids, 2, rand);
      const res1 = await storm(g.port, plan1);
      const tech = techs[50].id;
      // A claim of a job PostgreSQL has never heard of: fails on the foreign key.
      const unknownJob = await redisCommand(redis.port, 'XADD', key('events'), '*', 'seq', '999999001', 'type', 'claimed',
        'job', '987654321', 'tech', String(tech), 'slot', '1', 'slots_total', '1', 'slots_taken', '1', 'state', 'full',
        'version', '2', 'at', String(Date.now()));
      // Not even readable: no seq, a job that is not a number, a NUL and bytes that are not UTF-8.
      const malformed = await redisRaw(redis.port, ['XADD', key('events'), '*', 'type', 'claimed', 'job', 'abc',
        'note', Buffer.from([0x61, 0x00, 0xff, 0xfe, 0x62, 0xc3, 0xa9])]);
      poisonIds = [unknownJob, malformed];
      const plan2 = makePlan(techs.slice(30, 60), ids, 2, rand);
      const res2 = await storm(g.port, plan2);
      won = mergeWinners(won, judgeClaims(plan1.concat(plan2), res1.concat(res2), new Map(ids.map((id) => [id, 3])),
        { complete: false }));
      await sleep(1000); // the persister meets a stopped PostgreSQL meanwhile
    } finally {
      await pg.start();
    }
    await waitPersisted(g, won, 30000);
    await waitDrained();
    const rows = await deadLetters();
    assert.deepEqual(rows.map((r) => r.stream_id), poisonIds.slice().sort(), `exactly the poison entries: ${JSON.stringify(rows)}`);
    const byId = Object.fromEntries(rows.map((r) => [r.stream_id, r]));
    const u = byId[poisonIds[0]];
    assert.equal(u.stream, key('events'));
    assert.equal(u.sqlstate, '23503', `the unknown job fails on a foreign key: ${u.error}`);
    assert.match(u.error, /foreign key/);
    assert.equal(u.payload.job, '987654321');
    assert.equal(u.payload.type, 'claimed');
    const mf = byId[poisonIds[1]];
    assert.equal(mf.sqlstate, null, 'refused by gssd itself, not by PostgreSQL');
    assert.match(mf.error, /malformed/);
    assert.equal(mf.payload.job, 'abc');
    assert.equal(mf.payload.note, 'a\ufffd\ufffd\ufffdb\u00e9', 'NUL and invalid bytes replaced, valid UTF-8 kept');
    // The unknown job's batch was split to isolate it (so it had company).
    const split = await g.waitForLog((l) => l.msg === 'persister.split', 1000);
    assert.ok(split.entries > 1, `the failing batch held more than the poison entry: ${JSON.stringify(split)}`);
    for (const id of poisonIds) await g.waitForLog((l) => l.msg === 'persister.dead_letter' && l.id === id, 1000);
    const m1 = await scrapeMetrics(g.url);
    assert.equal(m1.value('gss_persister_dead_letters_total'), 2);
    assert.ok(m1.value('gss_persister_batch_splits_total') >= 1);
    t.diagnostic(`splits ${m1.value('gss_persister_batch_splits_total')}, retries ${m1.value('gss_persister_retries_total')}`);
    // check lists them, and counts them as differences until they are resolved.
    const c1 = await checkOnce(g);
    assert.equal(c1.code, 1, c1.out);
    for (const id of poisonIds) assert.ok(c1.out.includes(`dead letter ${id}`), `check lists ${id}:\n${c1.out}`);
    await resolveDeadLetters();
    await waitCheckClean(g, 20000);
  });

  it('(b) a release of a technician whose slot Redis lost is refused; repair, then the release works; a legacy slot-0 release is a dead letter', T, async () => {
    const [job] = await makeJobs([2]);
    const a = techs[70];
    const b = techs[71];
    const c1 = await claim(g, a.token, job);
    assert.equal(c1.json?.slot, 1, c1.text);
    const c2 = await claim(g, b.token, job);
    assert.equal(c2.json?.slot, 2, c2.text);
    won = mergeWinners(won, new Map([[job, [{ tech: a.id, slot: 1 }, { tech: b.id, slot: 2 }]]]));
    await waitPersisted(g, won, 20000);
    await waitCheckClean(g, 20000);

    // Redis loses a's slot number (its techs entry stays).
    await redisCommand(redis.port, 'HDEL', key(`job:${job}:slots`), String(a.id));
    const seq0 = await redisCommand(redis.port, 'GET', key('seq'));
    const len0 = await redisCommand(redis.port, 'XLEN', key('events'));
    const last0 = await redisCommand(redis.port, 'XREVRANGE', key('events'), '+', '-', 'COUNT', '1');
    assert.deepEqual(await releaseScript(job, a.id), ['err', 'inconsistent']);
    assert.equal(await redisCommand(redis.port, 'GET', key('seq')), seq0, 'no seq taken');
    assert.equal(await redisCommand(redis.port, 'XLEN', key('events')), len0, 'no stream entry (no slot 0)');
    assert.deepEqual(await redisCommand(redis.port, 'XREVRANGE', key('events'), '+', '-', 'COUNT', '1'), last0);
    assert.equal(await redisCommand(redis.port, 'SISMEMBER', key(`job:${job}:techs`), String(a.id)), 1, 'nothing changed');
    assert.equal(await redisCommand(redis.port, 'SISMEMBER', key(`job:${job}:banned`), String(a.id)), 0);
    // The other way round (a slot without the techs entry) is refused too,
    // and a claim by such a technician is not a second slot.
    await redisCommand(redis.port, 'SREM', key(`job:${job}:techs`), String(b.id));
    assert.deepEqual(await releaseScript(job, b.id), ['err', 'inconsistent']);
    assert.equal((await claim(g, b.token, job)).code, 'already_claimed');

    const chk = await checkOnce(g);
    assert.equal(chk.code, 1);
    assert.match(chk.out, new RegExp(`ticket ${job} .*techs and slots disagree`), chk.out);
    // Without --repair a job Redis has is never rewritten.
    const plain = await runGssd(['rebuild-pool'], { env: { ...g.env, GSS_LOG_LEVEL: 'warn' }, timeout: 60000 });
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    assert.equal((await checkOnce(g)).code, 1, 'still inconsistent');
    const rep = await runGssd(['rebuild-pool', '--repair'], { env: { ...g.env, GSS_LOG_LEVEL: 'warn' }, timeout: 60000 });
    assert.equal(rep.code, 0, rep.stdout + rep.stderr);
    assert.match(rep.stdout, /1 repaired/, rep.stdout);
    await waitCheckClean(g, 20000);
    assert.deepEqual((await redisHolders(redis.port, [job])).get(job), [{ tech: a.id, slot: 1 }, { tech: b.id, slot: 2 }]);

    // Now the release works, and PostgreSQL gets it.
    const r = await releaseScript(job, a.id);
    assert.equal(r[0], 'ok');
    assert.equal(r[1], 1, 'slot 1 freed');
    await waitFor(async () => (await psql(database.url,
      `SELECT state FROM assignments WHERE ticket_id = ${job} AND tech_id = ${a.id} AND released_at IS NOT NULL`))[0]?.[0] === 'replaced',
    { timeout: 20000, what: 'the release in PostgreSQL' });
    won.set(job, [{ tech: b.id, slot: 2 }]);

    // What an older gssd wrote for such a release: slot 0. It must not stop
    // the entries behind it.
    const [job2] = await makeJobs([2]);
    const legacy = await redisCommand(redis.port, 'XADD', key('events'), '*', 'seq', '999999002', 'type', 'released',
      'job', String(job2), 'tech', String(techs[72].id), 'slot', '0', 'slots_total', '2', 'slots_taken', '0',
      'state', 'open', 'version', '3', 'at', String(Date.now()));
    const c3 = await claim(g, techs[73].token, job2);
    assert.equal(c3.json?.slot, 1, c3.text);
    won.set(job2, [{ tech: techs[73].id, slot: 1 }]);
    await waitPersisted(g, won, 20000);
    await waitDrained();
    const rows = (await deadLetters()).filter((x) => x.stream_id === legacy);
    assert.equal(rows.length, 1, 'the slot-0 release is a dead letter');
    assert.match(rows[0].error, /slot/);
    assert.equal((await psql(database.url, 'SELECT count(*) FROM assignments WHERE slot < 1'))[0][0], '0');
    await resolveDeadLetters();
    await waitCheckClean(g, 20000);
  });

  it('(c) with PostgreSQL stopped the stream keeps every unacknowledged entry; afterwards all persist and it is trimmed', T, async (t) => {
    const ids = await makeJobs(Array.from({ length: 100 }, () => 5));
    await waitDrained();
    await pg.stop();
    const t0 = Date.now();
    let samples = 0;
    let maxBacklog = 0;
    try {
      // 5 waves of claims; between them, the trimmer runs (every second).
      for (let wave = 0; wave < 5; wave++) {
        const plan = techs.slice(wave * 24, wave * 24 + 24).map((tech) => ({ tech, jobs: ids.slice(wave * 20, wave * 20 + 20) }));
        const res = await storm(g.port, plan);
        won = mergeWinners(won, judgeClaims(plan, res, new Map(ids.map((id) => [id, 5])), { complete: false }));
        const until = Date.now() + 700;
        while (Date.now() < until) {
          const [len, gr, first] = await Promise.all([
            redisCommand(redis.port, 'XLEN', key('events')), group(),
            redisCommand(redis.port, 'XRANGE', key('events'), '-', '+', 'COUNT', '1')]);
          const unacked = Number(gr.pending) + Number(gr.lag);
          assert.ok(len >= unacked, `XLEN ${len} < ${unacked} unacknowledged (${JSON.stringify(gr)})`);
          if (Number(gr.pending) > 0) {
            const summary = await redisCommand(redis.port, 'XPENDING', key('events'), 'persist');
            assert.ok(first.length && cmpId(first[0][0], summary[1]) <= 0,
              `the oldest pending entry ${summary[1]} is still in the stream (first: ${first[0]?.[0]})`);
          }
          maxBacklog = Math.max(maxBacklog, unacked);
          samples++;
          await sleep(50);
        }
      }
      const claimed = [...won.values()].flat().length;
      t.diagnostic(`${samples} samples, backlog up to ${maxBacklog}, ${claimed} claims held in Redis`);
      assert.ok(maxBacklog >= 400, `the claims piled up: ${maxBacklog}`);
      // /metrics: the backlog and how old its oldest entry is.
      const m = await waitFor(async () => {
        const mm = await scrapeMetrics(g.url);
        return mm.value('gss_persister_backlog') >= maxBacklog && mm;
      }, { timeout: 10000, what: 'the backlog in /metrics' });
      const age = m.value('gss_persister_oldest_unacked_age_seconds');
      const since = (Date.now() - t0) / 1000;
      assert.ok(age > 1 && age <= since + 2, `oldest unacknowledged entry age ${age} s (PostgreSQL down for ${since} s)`);
      assert.ok(m.value('gss_persister_lag_sample_age_seconds') < 6, 'the lag was measured recently');
      assert.ok(m.value('gss_persister_stream_length') >= maxBacklog);
    } finally {
      await pg.start();
    }
    await waitPersisted(g, won, 40000);
    await waitDrained();
    // Trimmed once acknowledged (approximately: whole nodes of 100 entries).
    await waitFor(async () => (await redisCommand(redis.port, 'XLEN', key('events'))) < 250,
      { timeout: 10000, what: 'the stream to be trimmed' });
    const m2 = await waitFor(async () => {
      const mm = await scrapeMetrics(g.url);
      return mm.value('gss_persister_backlog') === 0 && mm;
    }, { timeout: 10000, what: 'backlog 0 in /metrics' });
    assert.equal(m2.value('gss_persister_oldest_unacked_age_seconds'), 0);
    assert.ok(m2.value('gss_persister_stream_trimmed_total') >= 400, `trimmed ${m2.value('gss_persister_stream_trimmed_total')}`);
    await waitCheckClean(g, 20000);
  });

  it('(d) rebuild-pool during claim storms, with jobs lost while their claims were not yet persisted: no slot given twice', T, async (t) => {
    const ids = await makeJobs(Array.from({ length: 30 }, () => 4));
    const needHere = new Map(ids.map((id) => [id, 4]));
    await waitDrained();
    // Hold the persister: its next statement waits on this lock.
    const lockHeld = run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', database.url, '-c',
      'BEGIN; LOCK TABLE assignments IN EXCLUSIVE MODE; SELECT pg_sleep(7); COMMIT;'], { timeout: 60000 });
    await waitFor(async () => (await psql(database.url,
      "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'assignments'" +
      " AND l.mode = 'ExclusiveLock' AND l.granted"))[0][0] === '1', { timeout: 5000, what: 'the lock' });
    const plans = [];
    const results = [];
    try {
      plans.push(makePlan(techs.slice(0, 60), ids, 2, rand));
      results.push(await storm(g.port, plans[0]));
      // Redis loses 8 jobs that have holders PostgreSQL does not know yet.
      const holders = await redisHolders(redis.port, ids);
      const lost = ids.filter((id) => holders.get(id).length > 0).slice(0, 8);
      assert.equal(lost.length, 8);
      for (const id of lost) {
        await redisCommand(redis.port, 'DEL', key(`job:${id}`), key(`job:${id}:techs`), key(`job:${id}:slots`),
          key(`job:${id}:banned`));
        await redisCommand(redis.port, 'ZREM', key('pool'), String(id));
      }
      const env = { ...g.env, GSS_LOG_LEVEL: 'warn' };
      // Too short a wait: it refuses those jobs rather than rebuild them from a stale PostgreSQL.
      const quick = await runGssd(['rebuild-pool', '--wait', '1'], { env, timeout: 30000 });
      assert.equal(quick.code, 1, quick.stdout + quick.stderr);
      assert.match(quick.stdout, /skipped ticket .*not applied its latest stream entries/);
      for (const id of lost) assert.equal(await redisCommand(redis.port, 'EXISTS', key(`job:${id}`)), 0, `job ${id} left alone`);

      // The real one waits for the persister, while claims go on.
      const rebuilding = runGssd(['rebuild-pool', '--wait', '60'], { env, timeout: 90000 });
      plans.push(makePlan(techs.slice(60, 120), ids, 3, rand));
      results.push(await storm(g.port, plans[1]));
      const rb = await rebuilding;
      t.diagnostic(rb.stdout.trim());
      assert.equal(rb.code, 0, rb.stdout + rb.stderr);
      assert.match(rb.stdout, /waiting for the persister/);
      assert.match(rb.stdout, /8 job\(s\) recreated/);
      // Everyone tries the rebuilt jobs again.
      plans.push(techs.slice(0, 120).map((tech) => ({ tech, jobs: lost })));
      results.push(await storm(g.port, plans[2]));
    } finally {
      await lockHeld;
    }
    const allowed = ['ok', 'job_full', 'not_open', 'already_claimed'];
    // Distinct slots per job over every storm: a slot given twice fails here.
    const w = judgeClaims(plans.flat(), results.flat(), needHere, { allowed, complete: false });
    const truth = await redisHolders(redis.port, ids);
    for (const id of ids) {
      const got = (w.get(id) || []).slice().sort((x, y) => x.slot - y.slot);
      assert.deepEqual(truth.get(id), got, `job ${id}: Redis holds exactly the claims answered 200`);
    }
    won = mergeWinners(won, w);
    await waitPersisted(g, won, 30000);
    await waitCheckClean(g, 30000);
  });

  it('(e) rebuild-pool closes a stray job (its ticket cancelled in PostgreSQL only) as a cancel would', T, async () => {
    const [job] = await makeJobs([3]);
    const holder = techs[80];
    assert.equal((await claim(g, holder.token, job)).json?.slot, 1);
    won.set(job, [{ tech: holder.id, slot: 1 }]);
    await waitPersisted(g, won, 20000);
    await waitCheckClean(g, 20000);
    const active0 = Number(await redisCommand(redis.port, 'HGET', key(`tech:${holder.id}`), 'active'));
    await psql(database.url, `UPDATE tickets SET status = 'cancelled' WHERE id = ${job}`);
    won.delete(job);
    const chk = await checkOnce(g);
    assert.equal(chk.code, 1);
    assert.match(chk.out, new RegExp(`job ${job} is in the Redis pool but its ticket is not open or assigned`), chk.out);
    const rb = await runGssd(['rebuild-pool'], { env: { ...g.env, GSS_LOG_LEVEL: 'warn' }, timeout: 60000 });
    assert.equal(rb.code, 0, rb.stdout + rb.stderr);
    assert.match(rb.stdout, /1 stray job\(s\) closed/, rb.stdout);
    assert.equal(await redisCommand(redis.port, 'HGET', key(`job:${job}`), 'state'), 'closed');
    assert.equal(await redisCommand(redis.port, 'ZSCORE', key('pool'), String(job)), null);
    assert.equal(Number(await redisCommand(redis.port, 'HGET', key(`tech:${holder.id}`), 'active')), active0 - 1,
      'the holder got the job back on their allowance');
    await waitCheckClean(g, 20000);
  });
});

function cmpId(a, b) {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  return as < bs ? -1 : as > bs ? 1 : 0;
}
