// Claiming jobs from the pool, first come first served, against a real
// gssd, Redis and PostgreSQL over real sockets (issue: the job pool).
//
// The races are real: every technician has a TCP connection of their own,
// all connections are opened first and then every request is written in one
// synchronous loop, so the server reads them all at once. What must hold:
// a job of N slots is taken by exactly N technicians, with slots 1..N, nobody
// twice; every loser gets 409 job_full; PostgreSQL ends up with exactly the
// same assignments (the persister catches up after the answers), and
// `gssd check` finds Redis and PostgreSQL agreeing.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startGssd, startRedis, createDatabase, psql, redisCommand } from './harness.mjs';
import {
  addUser, bulkTechs, bulkCustomers, login, loginAll, createTicket, claim, poolOf, cancelJob,
  storm, winnersByJob, waitPersisted, waitCheckClean, rng, shuffle, mapLimit, key, api, waitFor,
} from './pool_util.mjs';

const T = { timeout: 60000 };

let redis;
let database;
let g;     // the server under test, GSS_TECH_MAX_ACTIVE=100
let gBusy; // same Redis and database, GSS_TECH_MAX_ACTIVE=2, only while its test runs
let cs;          // CS token
let techs = [];  // 500 technicians racing
let solo = [];   // technicians for the small, sequential cases
let customers = [];

before(async () => {
  redis = await startRedis();
  database = await createDatabase();
  g = await startGssd({ redis, database, env: { GSS_TECH_MAX_ACTIVE: 100, GSS_LOG_REQUESTS: 0 } });
  await addUser(g, 'claims_cs', 'cs');
  techs = await bulkTechs(g, 'tech', 500);
  solo = await bulkTechs(g, 'solo', 20);
  customers = await bulkCustomers(g, 20);
  cs = await login(g, 'claims_cs');
  await loginAll(g, techs.concat(solo), 20);
}, { timeout: 120000 });

after(async () => {
  for (const s of [gBusy, g]) if (s && s.alive()) assert.equal(await s.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

function tally(results) {
  const t = {};
  for (const r of results.flat()) {
    const k = `${r.status} ${r.code}`;
    t[k] = (t[k] || 0) + 1;
  }
  return t;
}

describe('claim races', () => {
  it('500 technicians on their own connections race for one job of 3: exactly 3 win, slots 1..3', T, async () => {
    const job = await createTicket(g, cs, customers[0], 3);
    const plan = techs.map((tech) => ({ tech, jobs: [job.id] }));
    const res = await storm(g.port, plan, { timeout: 30000 });
    const counts = tally(res);
    assert.deepEqual(counts, { '200 ok': 3, '409 job_full': 497 }, `answers: ${JSON.stringify(counts)}`);

    const winners = winnersByJob(plan, res).get(job.id);
    assert.deepEqual(winners.map((w) => w.slot).sort(), [1, 2, 3], 'the winners hold slots 1, 2 and 3');
    assert.equal(new Set(winners.map((w) => w.tech)).size, 3, 'three different technicians');
    for (const r of res.flat()) if (r.status === 200) assert.equal(r.ticket_id, job.id, `200 body: ${r.text}`);

    // Redis: the job is full, off the board, held by exactly the winners.
    const members = (await redisCommand(redis.port, 'SMEMBERS', key(`job:${job.id}:techs`))).map(Number).sort();
    assert.deepEqual(members, winners.map((w) => w.tech).sort(), 'Redis holds the winners');
    assert.equal(await redisCommand(redis.port, 'HGET', key(`job:${job.id}`), 'state'), 'full');
    assert.equal(await redisCommand(redis.port, 'HGET', key(`job:${job.id}`), 'slots_taken'), '3');
    assert.equal(await redisCommand(redis.port, 'ZSCORE', key('pool'), String(job.id)), null, 'off the board');

    // PostgreSQL follows: the same three (tech, slot) pairs, and the ticket assigned.
    await waitPersisted(g, new Map([[job.id, winners]]), 20000);
    await waitFor(async () => (await psql(database.url, `SELECT status FROM tickets WHERE id = ${job.id}`))[0][0] ===
      'assigned', { timeout: 10000, what: 'ticket status assigned' });
    const all = await psql(database.url, `SELECT count(*) FROM assignments WHERE ticket_id = ${job.id}`);
    assert.equal(all[0][0], '3', 'no assignment rows beyond the winners');
    await waitCheckClean(g, 20000);
  });

  it('200 jobs of 1..5 slots, 300 technicians racing across all: every job gets exactly N, slots 1..N', T, async () => {
    const rand = rng(20261201);
    const sizes = Array.from({ length: 200 }, () => 1 + Math.floor(rand() * 5));
    const jobs = await mapLimit(sizes, 8, (n) => createTicket(g, cs, customers[1 + (n % 10)], n));
    const need = new Map(jobs.map((j, i) => [j.id, sizes[i]]));
    assert.deepEqual(jobs.map((j) => j.techs_needed), sizes, 'techs_needed echoed');

    // Each technician fires 20 claims at 20 different random jobs, all
    // pipelined on their own connection; all 300 connections at once.
    const ids = jobs.map((j) => j.id);
    const racers = techs.slice(0, 300);
    const plan = racers.map((tech) => ({ tech, jobs: shuffle(ids.slice(), rand).slice(0, 20) }));
    // The seeded plan must give every job at least N different claimers, or
    // "exactly N" could not hold; this is a property of the seed, checked once.
    const claimers = new Map(ids.map((id) => [id, 0]));
    for (const p of plan) for (const j of p.jobs) claimers.set(j, claimers.get(j) + 1);
    for (const [id, n] of claimers) assert.ok(n >= need.get(id), `seed: job ${id} has ${n} claimers for ${need.get(id)}`);

    const res = await storm(g.port, plan, { timeout: 45000 });
    const total = sizes.reduce((a, b) => a + b, 0);
    const counts = tally(res);
    assert.deepEqual(counts, { '200 ok': total, '409 job_full': 6000 - total }, `answers: ${JSON.stringify(counts)}`);

    const won = winnersByJob(plan, res);
    for (const id of ids) {
      const w = won.get(id) || [];
      const n = need.get(id);
      assert.equal(w.length, n, `job ${id} (N=${n}) has ${w.length} winners`);
      assert.deepEqual(w.map((x) => x.slot).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i + 1),
        `job ${id}: slots 1..${n}`);
      assert.equal(new Set(w.map((x) => x.tech)).size, n, `job ${id}: no technician twice`);
    }
    // Every job is full: the board has none of them left.
    const board = await poolOf(g, racers[0].token);
    assert.deepEqual(board.jobs.filter((j) => need.has(j.id)), [], 'no job of the storm is still on the board');

    await waitPersisted(g, won, 30000);
    await waitFor(async () => (await psql(database.url,
      `SELECT count(*) FROM tickets WHERE status = 'assigned' AND id = ANY('{${ids.join(',')}}'::bigint[])`))[0][0] ===
      '200', { timeout: 15000, what: 'all 200 tickets assigned' });
    await waitCheckClean(g, 30000);
  });
});

describe('refusals', () => {
  it('tech_busy: with a limit of 2 the third job is refused, also when all are fired at once', T, async () => {
    const [a, b] = [solo[0], solo[1]];
    // The limit is an argument of each claim, taken from the caller's
    // settings: a second process with a limit of 2 on the same Redis. It is
    // stopped at the end so that the other tests run against one process.
    gBusy = await startGssd({ redis, database, env: { GSS_TECH_MAX_ACTIVE: 2, GSS_LOG_REQUESTS: 0 } });
    const jobs = [];
    for (let i = 0; i < 5; i++) jobs.push(await createTicket(g, cs, customers[12], 2));

    // One after the other, through the process whose limit is 2.
    assert.equal((await claim(gBusy, a.token, jobs[0].id)).code, 'ok');
    assert.equal((await claim(gBusy, a.token, jobs[1].id)).code, 'ok');
    const third = await claim(gBusy, a.token, jobs[2].id);
    assert.equal(third.status, 409, third.text);
    assert.equal(third.code, 'tech_busy', third.text);
    // The refused claim took nothing.
    const board = await poolOf(gBusy, a.token);
    assert.equal(board.jobs.find((j) => j.id === jobs[2].id).slots_taken, 0, 'job 3 untouched');

    // All five at once, pipelined on one connection: exactly two succeed.
    const res = (await storm(gBusy.port, [{ tech: b, jobs: jobs.map((j) => j.id) }]))[0];
    assert.equal(res.filter((r) => r.code === 'ok').length, 2, JSON.stringify(res.map((r) => r.code)));
    assert.equal(res.filter((r) => r.code === 'tech_busy').length, 3, JSON.stringify(res.map((r) => r.code)));
    assert.equal(await redisCommand(redis.port, 'HGET', key(`tech:${b.id}`), 'active'), '2');
    await waitCheckClean(g, 20000);
    assert.equal(await gBusy.stop('SIGTERM', 20000), 0, 'the second gssd exits 0 on SIGTERM');
    gBusy = null;
  });

  it('already_claimed: a technician cannot take a second slot of the same job', T, async () => {
    const job = await createTicket(g, cs, customers[13], 3);
    const tech = solo[2];
    const first = await claim(g, tech.token, job.id);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.slot, 1);
    const again = await claim(g, tech.token, job.id);
    assert.equal(again.status, 409, again.text);
    assert.equal(again.code, 'already_claimed');
    // Fired ten times at once on one connection: still one slot.
    const res = (await storm(g.port, [{ tech, jobs: Array(10).fill(job.id) }]))[0];
    assert.deepEqual([...new Set(res.map((r) => r.code))], ['already_claimed']);
    const other = await claim(g, solo[3].token, job.id);
    assert.equal(other.json?.slot, 2, `the next technician gets slot 2: ${other.text}`);
    // A holder of a full job is told already_claimed, not job_full.
    const full = await createTicket(g, cs, customers[13], 1);
    assert.equal((await claim(g, solo[4].token, full.id)).code, 'ok');
    assert.equal((await claim(g, solo[4].token, full.id)).code, 'already_claimed');
    assert.equal((await claim(g, solo[5].token, full.id)).code, 'job_full');
    const board = await poolOf(g, tech.token);
    assert.equal(board.jobs.find((j) => j.id === job.id).slots_taken, 2);
    await waitCheckClean(g, 20000);
  });

  it('not_open: an unknown job, and a cancelled one', T, async (t) => {
    const tech = solo[6];
    const unknown = await claim(g, tech.token, 987654321);
    assert.equal(unknown.status, 409, unknown.text);
    assert.equal(unknown.code, 'not_open');
    assert.equal((await api(g, tech.token, 'POST', '/api/v1/pool/0/claim')).status, 404, 'id 0 is no job');

    const job = await createTicket(g, cs, customers[14], 2);
    assert.equal((await claim(g, solo[7].token, job.id)).code, 'ok');
    await cancelJob(g, cs, job.id);
    const r = await claim(g, tech.token, job.id);
    assert.equal(r.status, 409, r.text);
    assert.equal(r.code, 'not_open');
    assert.equal((await poolOf(g, tech.token)).jobs.find((j) => j.id === job.id), undefined, 'off the board');
    assert.equal(await redisCommand(redis.port, 'HGET', key(`tech:${solo[7].id}`), 'active'), '0',
      'the holder got the job back on their allowance');
    await waitCheckClean(g, 20000);
  });

  it('only technicians claim: CS gets 403, no session 401', T, async () => {
    const job = await createTicket(g, cs, customers[15], 1);
    assert.equal((await api(g, cs, 'POST', `/api/v1/pool/${job.id}/claim`)).status, 403);
    assert.equal((await api(g, 'not-a-token', 'POST', `/api/v1/pool/${job.id}/claim`)).status, 401);
    assert.equal((await poolOf(g, cs)).jobs.find((j) => j.id === job.id).slots_taken, 0);
  });
});

describe('the board', () => {
  it('GET /api/v1/pool shows slots_taken rising, then the full job gone', T, async () => {
    const job = await createTicket(g, cs, customers[16], 3, { area: 'Kebayoran Baru', problem: 'AC bocor  air\nnetes' });
    const viewer = solo[10];
    let last = await poolOf(g, viewer.token);
    let entry = last.jobs.find((j) => j.id === job.id);
    assert.ok(entry, 'the new job is on the board');
    assert.deepEqual(
      { code: entry.code, area: entry.area, scheduled_at: entry.scheduled_at, slots_total: entry.slots_total,
        slots_taken: entry.slots_taken, urgent: entry.urgent, title: entry.title },
      { code: job.code, area: 'Kebayoran Baru', scheduled_at: '2030-06-03T02:00:00Z', slots_total: 3,
        slots_taken: 0, urgent: false, title: 'AC bocor air netes' }, JSON.stringify(entry));
    for (let i = 1; i <= 3; i++) {
      assert.equal((await claim(g, solo[10 + i].token, job.id)).code, 'ok');
      const now = await poolOf(g, viewer.token);
      assert.ok(now.seq > last.seq, `seq rises: ${last.seq} → ${now.seq}`);
      entry = now.jobs.find((j) => j.id === job.id);
      if (i < 3) assert.equal(entry?.slots_taken, i, `after claim ${i}: ${JSON.stringify(entry)}`);
      else assert.equal(entry, undefined, 'the full job is gone from the board');
      last = now;
    }
    // CS sees the same board.
    assert.equal((await poolOf(g, cs)).jobs.find((j) => j.id === job.id), undefined);
    await waitCheckClean(g, 20000);
  });
});
