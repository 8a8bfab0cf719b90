// The pool survives its stores failing (DESIGN.md §2, §3): claims are
// answered from Redis alone, the persister makes PostgreSQL catch up later,
// and `gssd check` / `gssd rebuild-pool` reconcile the two.
//
//   (a) PostgreSQL stopped during a claim storm: no claim fails; once it is
//       back PostgreSQL holds every successful claim.
//   (b) gssd SIGKILLed mid-storm while the persister holds a batch it has
//       read but not acknowledged: the restarted gssd (same host, so the same
//       consumer name) re-reads its own pending entries at once.
//   (c) Redis restarted (AOF on): gssd reconnects, the pool is intact,
//       boards are told to resync, claims work again.
//   (d) Redis lost everything (FLUSHALL): `gssd rebuild-pool` puts the board
//       back from PostgreSQL; claims continue.
//
// PostgreSQL is a private cluster here (stopping the shared one would hurt
// other test files), Redis a private server with appendonly.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';

import { startGssd, startRedis, startPostgres, psql, http, redisCommand, run, runGssd } from './harness.mjs';
import {
  addUser, bulkTechs, bulkCustomers, login, loginAll, createTicket, claim, poolOf, openBoard,
  storm, stormLossy, makePlan, redisHolders, judgeClaims, mergeWinners, waitPersisted, waitCheckClean, rng, mapLimit,
  key, waitFor, sleep,
} from './pool_util.mjs';

const T = { timeout: 90000 };
const ENV = { GSS_TECH_MAX_ACTIVE: 100, GSS_LOG_REQUESTS: 0 };

let redis;
let pg;
let database;
let g;
let cs;
let techs = [];
let customers = [];
const rand = rng(7001);
const need = new Map();   // every job made here → N
let won = new Map();      // every claim answered 200 so far → [{tech, slot}]

before(async () => {
  redis = await startRedis({ appendonly: true });
  pg = await startPostgres();
  database = { name: 'gss', url: `${pg.url}/gss` };
  g = await startGssd({ redis, database, env: ENV });
  await addUser(g, 'dur_cs', 'cs');
  techs = await bulkTechs(g, 'dur', 150);
  customers = await bulkCustomers(g, 10);
  cs = await login(g, 'dur_cs');
  await loginAll(g, techs, 20);
}, { timeout: 120000 });

after(async () => {
  if (g && g.alive()) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

async function makeJobs(n) {
  const sizes = Array.from({ length: n }, () => 1 + Math.floor(rand() * 5));
  const jobs = await mapLimit(sizes, 8, (k, i) => createTicket(g, cs, customers[i % customers.length], k));
  jobs.forEach((j, i) => need.set(j.id, sizes[i]));
  return jobs.map((j) => j.id);
}

async function readyz(s) {
  return (await http(`${s.url}/readyz`)).status;
}

describe('store failures', () => {
  it('(a) PostgreSQL stopped during a claim storm: every claim answered, PostgreSQL catches up', T, async (t) => {
    const ids = await makeJobs(60);
    // 6 different jobs per technician, fired in three waves of 2: while
    // PostgreSQL stops, while it is down, after it is back. Few enough per
    // wave that every wave still wins slots.
    const full = makePlan(techs.slice(0, 100), ids, 6, rand);
    const wave = (k) => full.map((p) => ({ tech: p.tech, jobs: p.jobs.slice(2 * k, 2 * k + 2) }));
    const plans = [];
    const results = [];
    const wins = (res) => res.flat().filter((r) => r.code === 'ok').length;

    const stopping = pg.stop();
    try {
      plans.push(wave(0));
      results.push(await storm(g.port, plans[0]));
      await stopping;
      await waitFor(async () => (await readyz(g)) === 503, { timeout: 10000, what: '/readyz 503 with PostgreSQL down' });
      plans.push(wave(1));
      results.push(await storm(g.port, plans[1]));
      assert.ok(wins(results[1]) > 0, 'claims were won while PostgreSQL was down');
      await poolOf(g, techs[0].token); // asserts 200: the board needs only Redis
      await sleep(1500); // the persister retries against the stopped server meanwhile
      // Nothing can be acknowledged without a commit: those claims wait in the stream.
      const groups = await redisCommand(redis.port, 'XINFO', 'GROUPS', key('events'));
      const grp = Object.fromEntries(groups[0].reduce((a, v, i, arr) => (i % 2 ? a : a.concat([[v, arr[i + 1]]])), []));
      assert.ok(Number(grp.pending) + Number(grp.lag || 0) >= wins(results[1]),
        `the claims made while PostgreSQL was down are not acknowledged: ${JSON.stringify(grp)}`);
    } finally {
      await stopping.catch(() => {});
      await pg.start();
    }
    plans.push(wave(2));
    results.push(await storm(g.port, plans[2]));

    const planAll = plans.flat();
    const resAll = results.flat();
    won = mergeWinners(won, judgeClaims(planAll, resAll, new Map(ids.map((id) => [id, need.get(id)]))));
    t.diagnostic(`claims won per wave (PostgreSQL stopping, down, back): ${results.map(wins).join(', ')}`);
    await waitFor(async () => (await readyz(g)) === 200, { timeout: 20000, what: '/readyz 200 after PostgreSQL is back' });
    await waitPersisted(g, won, 30000);
    await waitCheckClean(g, 30000);
  });

  it('(b) gssd SIGKILLed mid-storm with a batch pending: the restarted gssd re-reads it, PostgreSQL gets every claim', T, async (t) => {
    const ids = await makeJobs(60);
    // Hold the persister's next batch in PostgreSQL (a lock on assignments)
    // so that at the kill it has read entries it has not acknowledged.
    const lockHeld = run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', database.url, '-c',
      'BEGIN; LOCK TABLE assignments IN EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;'], { timeout: 30000 });
    await waitFor(async () => (await psql(database.url,
      "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'assignments'" +
      " AND l.mode = 'ExclusiveLock' AND l.granted"))[0][0] === '1', { timeout: 5000, what: 'the lock' });

    const seq0 = Number(await redisCommand(redis.port, 'GET', key('seq')));
    const plan = makePlan(techs, ids, 20, rand);
    const flowing = stormLossy(g.port, plan, { timeout: 15000 });
    // Kill once claims are flowing (the seq counts changes in Redis).
    await waitFor(async () => Number(await redisCommand(redis.port, 'GET', key('seq'))) >= seq0 + 100,
      { timeout: 10000, interval: 2, what: 'claims to flow' });
    await g.kill();
    const results = await flowing;
    const answered = results.flat().filter((r) => r.status !== null);
    const lost = results.flat().length - answered.length;
    t.diagnostic(`${answered.length} claims answered before the kill, ${lost} unanswered`);
    assert.ok(lost > 0, 'the kill came while claims were still flowing');
    assert.ok(answered.length > 0, 'some claims were answered before the kill');
    const seen = judgeClaims(plan, results, new Map(ids.map((id) => [id, need.get(id)])));
    // Claims whose answer was lost may or may not have happened: Redis says.
    const truth = await redisHolders(redis.port, ids);
    for (const [id, w] of seen) {
      for (const x of w) {
        assert.ok(truth.get(id).some((y) => y.tech === x.tech && y.slot === x.slot),
          `job ${id}: the answered claim ${x.tech}:${x.slot} is in Redis`);
      }
    }
    for (const [id, w] of truth) won.set(id, w);

    // The persister's consumer name: host, listen address, worker number.
    const consumer = `${os.hostname().slice(0, 62)}-127.0.0.1:${g.port}-0`;
    const killedPort = g.port;
    const pending = await redisCommand(redis.port, 'XPENDING', key('events'), 'persist', '-', '+', '1000', consumer);
    t.diagnostic(`entries pending for ${consumer} after the kill: ${pending.length}`);
    assert.ok(pending.length > 0, `the killed gssd (consumer ${consumer}) left entries read but not acknowledged`);
    // The killed process's statement is still waiting for the lock inside
    // PostgreSQL; end it, so that only a re-read can apply those entries.
    await psql(database.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock'" +
      ' AND datname = current_database()');
    await lockHeld;
    const pendingClaims = [];
    for (const [id] of pending) {
      const e = await redisCommand(redis.port, 'XRANGE', key('events'), id, id);
      const f = Object.fromEntries(e[0][1].reduce((a, v, i, arr) => (i % 2 ? a : a.concat([[v, arr[i + 1]]])), []));
      if (f.type === 'claimed') pendingClaims.push(f);
    }
    assert.ok(pendingClaims.length > 0, 'a pending entry is a claim');
    for (const f of pendingClaims) {
      const rows = await psql(database.url, `SELECT 1 FROM assignments WHERE ticket_id = ${f.job} AND tech_id = ${f.tech}`);
      assert.equal(rows.length, 0, `the pending claim ${f.job}/${f.tech} is not in PostgreSQL before the restart`);
    }

    const t0 = Date.now();
    // Restarted as a supervisor would: same configuration, so the same listen
    // address and therefore the same consumer name.
    g = await startGssd({ redis, database, env: { ...ENV, GSS_LISTEN: `127.0.0.1:${killedPort}` } });
    // Well before XAUTOCLAIM's 30 s idle: this is the restart reading its own backlog.
    await waitPersisted(g, won, 20000);
    await waitCheckClean(g, 20000);
    t.diagnostic(`drained ${Date.now() - t0} ms after the restart`);
    // The claims whose answers were lost: Redis and PostgreSQL agree on them
    // (check is clean); the sessions survived the restart (they are in Redis).
    assert.equal((await claim(g, techs[0].token, 987654321)).code, 'not_open');
  });

  it('(c) Redis restarted (AOF): claims answered 503 while it is down; gssd reconnects, the pool is intact, boards resync, claims work again', T, async () => {
    const ids = await makeJobs(10);
    // Half-fill a few so the board shows taken slots.
    const plan = techs.slice(100, 110).map((tech, i) => ({ tech, jobs: [ids[i % 5]] }));
    won = mergeWinners(won, judgeClaims(plan, await storm(g.port, plan), need, { complete: false }));
    await waitCheckClean(g, 20000);
    const before_ = await poolOf(g, techs[0].token);
    const b = await openBoard(g.port, techs[0].token);
    try {
      // While Redis is down a claim is refused at once (503), never left hanging.
      await redis.stop();
      const down = await claim(g, techs[121].token, ids[9]);
      assert.equal(down.status, 503, `claim with Redis down: ${down.status} ${down.text}`);
      await redis.start();
      await waitFor(async () => (await readyz(g)) === 200, { timeout: 20000, what: '/readyz 200 after the restart' });
      const after_ = await waitFor(async () => {
        const r = await http(`${g.url}/api/v1/pool`, { headers: { authorization: `Bearer ${techs[0].token}` } });
        return r.status === 200 && r.json;
      }, { timeout: 10000, what: 'GET /api/v1/pool answering again' });
      assert.deepEqual(after_, before_, 'the pool after the restart is the pool before it');
      await b.wait((m) => m.type === 'resync', 10000, 'a resync message on the board');

      // Claims again: the first open job with room.
      const open = after_.jobs.find((j) => need.has(j.id) && j.slots_taken < j.slots_total);
      assert.ok(open, 'a job with room is on the board');
      const r = await waitFor(async () => {
        const c = await claim(g, techs[120].token, open.id);
        return c.status === 200 && c;
      }, { timeout: 10000, what: 'a claim to succeed after the restart' });
      assert.equal(r.json.slot, open.slots_taken + 1);
      won = mergeWinners(won, new Map([[open.id, [{ tech: techs[120].id, slot: r.json.slot }]]]));
      await b.wait((m) => m.type?.startsWith('pool.') && m.data?.id === open.id &&
        m.data.slots_taken === open.slots_taken + 1, 5000, 'the claim on the board (resubscribed)');
      await waitPersisted(g, won, 20000);
      await waitCheckClean(g, 20000);
    } finally {
      b.close();
    }
  });

  it('(d) Redis lost its data (FLUSHALL): gssd rebuild-pool restores the board from PostgreSQL, claims continue', T, async (t) => {
    await waitCheckClean(g, 20000); // everything claimed so far is in PostgreSQL
    const before_ = await poolOf(g, techs[0].token);
    assert.ok(before_.jobs.length > 0, 'there are open jobs to lose');
    const heldBefore = await redisCommand(redis.port, 'HGET', key(`tech:${techs[1].id}`), 'active');

    await redisCommand(redis.port, 'FLUSHALL');
    // Sessions lived in Redis too: log in again.
    const tok = {};
    const who = [techs[0], techs[1], techs[130], techs[131]];
    await waitFor(async () => (await http(`${g.url}/api/v1/me`, { headers: { authorization: `Bearer ${techs[0].token}` } }))
      .status === 401, { timeout: 15000, what: 'the lost session to be refused' });
    for (const u of who) tok[u.id] = await login(g, u.username);
    const cs2 = await login(g, 'dur_cs');
    const empty = await poolOf(g, tok[techs[0].id]);
    assert.deepEqual(empty.jobs, [], 'the board is empty before the rebuild');
    const lostJob = before_.jobs[0];
    assert.equal((await claim(g, tok[techs[130].id], lostJob.id)).code, 'not_open', 'no job in Redis to claim');

    const rb = await runGssd(['rebuild-pool'], { env: { ...g.env, GSS_LOG_LEVEL: 'warn' }, timeout: 30000 });
    assert.equal(rb.code, 0, `rebuild-pool: ${rb.stdout}${rb.stderr}`);
    t.diagnostic(rb.stdout.trim());
    const after_ = await poolOf(g, tok[techs[0].id]);
    const strip = (p) => p.jobs.map(({ id, code, title, area, scheduled_at, slots_total, slots_taken, urgent }) =>
      ({ id, code, title, area, scheduled_at, slots_total, slots_taken, urgent }));
    assert.deepEqual(strip(after_), strip(before_), 'the same open jobs, fields and slots_taken as before the loss');
    assert.ok(after_.seq > before_.seq, `seq keeps rising for boards that saw the old one: ${before_.seq} → ${after_.seq}`);
    assert.equal(await redisCommand(redis.port, 'HGET', key(`tech:${techs[1].id}`), 'active'), heldBefore,
      'technicians\' active counts restored');
    await waitCheckClean(g, 20000);

    // Claims continue, on top of the restored holders.
    const job = after_.jobs.find((j) => need.has(j.id) && j.slots_taken > 0 && j.slots_taken < j.slots_total);
    assert.ok(job, 'a half-taken job is on the board');
    const holder = [...won.get(job.id)][0].tech;
    const holderTech = techs.find((x) => x.id === holder);
    const ht = await login(g, holderTech.username);
    assert.equal((await claim(g, ht, job.id)).code, 'already_claimed', 'holders are restored');
    const c = await claim(g, tok[techs[131].id], job.id);
    assert.equal(c.status, 200, c.text);
    const takenSlots = won.get(job.id).map((w) => w.slot);
    assert.ok(!takenSlots.includes(c.json.slot), `a free slot (${c.json.slot}, held: ${takenSlots})`);
    won = mergeWinners(won, new Map([[job.id, [{ tech: techs[131].id, slot: c.json.slot }]]]));
    const fresh = await createTicket(g, cs2, customers[0], 2);
    need.set(fresh.id, 2);
    const f = await claim(g, tok[techs[130].id], fresh.id);
    assert.equal(f.json?.slot, 1, f.text);
    won = mergeWinners(won, new Map([[fresh.id, [{ tech: techs[130].id, slot: 1 }]]]));
    await waitPersisted(g, won, 20000);
    await waitCheckClean(g, 20000);
  });
});
