// More than one gssd (DESIGN.md §9): processes share nothing but Redis and
// PostgreSQL. A claim made through one reaches boards connected to every
// other; claims through several at once still give each job exactly N
// holders; every process runs a persister, and together they make
// PostgreSQL agree with Redis. Then the same with `gssd serve --workers 2`:
// two processes on one port (SO_REUSEPORT).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startGssd, startRedis, createDatabase, run, psql, redisCommand, tryConnect } from './harness.mjs';
import {
  addUser, bulkTechs, bulkCustomers, login, loginAll, createTicket, claim, openBoard, storm,
  makePlan, judgeClaims, waitPersisted, waitCheckClean, rng, mapLimit, waitFor, sleep,
} from './pool_util.mjs';

const T = { timeout: 60000 };
const ENV = { GSS_TECH_MAX_ACTIVE: 100, GSS_LOG_REQUESTS: 0 };

let redis;
let database;
let A;
let B;
let W;              // gssd serve --workers 2
let workerPids = [];
let cs;
let techs = [];
let customers = [];
const boards = [];

before(async () => {
  redis = await startRedis();
  database = await createDatabase();
  A = await startGssd({ redis, database, env: ENV });
  B = await startGssd({ redis, database, env: ENV });
  await addUser(A, 'multi_cs', 'cs');
  techs = await bulkTechs(A, 'multi', 200);
  customers = await bulkCustomers(A, 10);
  cs = await login(A, 'multi_cs');
  await loginAll(A, techs, 20); // sessions live in Redis: good for A and B alike
}, { timeout: 120000 });

// The workers' parent forwards SIGTERM to them; whatever is left (the
// parent was killed) is ended here by pid, since the harness only knows
// the parent.
function killWorkers() {
  for (const pid of workerPids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}
process.on('exit', killWorkers);

after(async () => {
  for (const b of boards) b.close();
  try {
    if (W && W.alive()) assert.equal(await W.stop('SIGTERM', 20000), 0, 'gssd --workers 2 exits 0 on SIGTERM');
  } finally {
    killWorkers();
  }
  for (const s of [B, A]) if (s && s.alive()) assert.equal(await s.stop('SIGTERM', 20000), 0, 'gssd exits 0');
});

async function board(g, token) {
  const b = await openBoard(g.port, token);
  boards.push(b);
  return b;
}

const kinds = (b, id) => b.forJob(id).map((m) => `${m.type}:${m.data.slots_taken}`);

describe('two gssd processes, one Redis and PostgreSQL', () => {
  it('a claim through A reaches a board connected to B, and the other way round', T, async () => {
    const onA = await board(A, techs[0].token);
    const onB = await board(B, techs[1].token);
    const job = await createTicket(A, cs, customers[0], 3);
    await onB.wait((m) => m.type === 'pool.opened' && m.data?.id === job.id, 5000, 'pool.opened on B (made through A)');
    assert.equal((await claim(A, techs[2].token, job.id)).code, 'ok');
    await onB.wait((m) => m.type === 'pool.updated' && m.data?.id === job.id, 5000, 'pool.updated on B (claim through A)');
    assert.equal((await claim(B, techs[3].token, job.id)).code, 'ok');
    await onA.wait((m) => m.data?.id === job.id && m.data.slots_taken === 2, 5000, 'pool.updated on A (claim through B)');
    assert.equal((await claim(A, techs[4].token, job.id)).code, 'ok');
    for (const b of [onA, onB]) await b.wait((m) => m.type === 'pool.closed' && m.data?.id === job.id, 5000, 'pool.closed');
    const want = ['pool.opened:0', 'pool.updated:1', 'pool.updated:2', 'pool.closed:3'];
    assert.deepEqual(kinds(onA, job.id), want, 'board on A');
    assert.deepEqual(kinds(onB, job.id), want, 'board on B');
    assert.deepEqual(onA.forJob(job.id).map((m) => m.seq), onB.forJob(job.id).map((m) => m.seq), 'same seqs on both');
    // The two processes also refuse consistently.
    assert.equal((await claim(B, techs[2].token, job.id)).code, 'already_claimed');
    assert.equal((await claim(B, techs[5].token, job.id)).code, 'job_full');
    await waitCheckClean(A, 20000);
  });

  it('claims through A and B at once: every job gets exactly N; both persisters together make PostgreSQL agree', T, async () => {
    const rand = rng(4242);
    // Four rounds of 40 jobs: many batches of both persisters interleave.
    const need = new Map();
    const jobs = [];
    let won = new Map();
    for (let round = 0; round < 4; round++) {
      const sizes = Array.from({ length: 40 }, () => 1 + Math.floor(rand() * 5));
      const js = await mapLimit(sizes, 8, (n, i) => createTicket(i % 2 ? A : B, cs, customers[i % 10], n));
      js.forEach((j, i) => need.set(j.id, sizes[i]));
      jobs.push(...js);
      const roundNeed = new Map(js.map((j, i) => [j.id, sizes[i]]));
      const plan = makePlan(techs.slice(10, 200), js.map((j) => j.id), 6, rand);
      const half = Math.floor(plan.length / 2);
      const [ra, rb] = await Promise.all([storm(A.port, plan.slice(0, half)), storm(B.port, plan.slice(half))]);
      won = new Map([...won, ...judgeClaims(plan, ra.concat(rb), roundNeed)]);
    }
    await waitPersisted(A, won, 30000);
    // Every full job's ticket is 'assigned' (none left behind as 'open').
    const ids = jobs.map((j) => j.id).join(',');
    await waitFor(async () => (await psql(database.url,
      `SELECT count(*) FROM tickets WHERE status <> 'assigned' AND id = ANY('{${ids}}'::bigint[])`))[0][0] === '0',
    { timeout: 15000, what: 'every full ticket to be assigned' }).catch(async (err) => {
      const left = await psql(database.url, `SELECT id, status FROM tickets WHERE status <> 'assigned'` +
        ` AND id = ANY('{${ids}}'::bigint[]) ORDER BY id LIMIT 10`);
      throw new Error(`${err.message}: ${JSON.stringify(left)}`);
    });
    await waitCheckClean(A, 30000);
  });
});

// Pids of the gssd processes whose persister is waiting in XREADGROUP BLOCK
// right now (CLIENT LIST flags=b cmd=xreadgroup; the client's port mapped to
// its process with ss). A persister that has taken entries and is applying
// them is not among them.
async function blockedReaders(redisPort) {
  const list = await redisCommand(redisPort, 'CLIENT', 'LIST');
  const ports = list.split('\n').filter((l) => /\bcmd=xreadgroup\b/.test(l) && /\bflags=\w*b/.test(l))
    .map((l) => Number(/\baddr=[^ ]*:(\d+)/.exec(l)[1]));
  const r = await run('ss', ['-Htnp', 'state', 'established', `( dport = :${redisPort} )`], { timeout: 10000 });
  const owner = new Map();
  for (const l of r.stdout.split('\n')) {
    const m = /127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:\d+.*pid=(\d+)/.exec(l);
    if (m) owner.set(Number(m[1]), Number(m[2]));
  }
  return ports.map((p) => owner.get(p)).filter(Boolean).sort();
}

// The same answer twice in a row, 30 ms apart (a reader whose BLOCK timed
// out is away for one round trip before it blocks again).
async function steadyReaders(redisPort, want, what) {
  let prev = null;
  return waitFor(async () => {
    const now = JSON.stringify(await blockedReaders(redisPort));
    const ok = prev === now && want(JSON.parse(now));
    prev = now;
    return ok && JSON.parse(now);
  }, { timeout: 10000, interval: 30, what });
}

describe('two persisters applying batches out of order', () => {
  // Deterministic replay of what a claim storm through two processes does
  // now and then: persister P1 reads claim 1 of job X (slots still left),
  // persister P0 then reads and applies claim 2 (job full: ticket
  // 'assigned'), and only after that P1's statement runs. Its batch's last
  // state of X is "open", so it must not turn the ticket back to 'open'.
  // To hold a persister's statement back, each process has ONE PostgreSQL
  // connection (GSS_PG_POOL_SIZE=1), kept busy by a login's audit insert
  // waiting on a row lock we hold.
  it('a batch with older events applied last does not undo a newer ticket status', T, async () => {
    const r2 = await startRedis();
    const db2 = await createDatabase();
    const env = { ...ENV, GSS_PG_POOL_SIZE: 1 };
    const C = await startGssd({ redis: r2, database: db2, env });
    const D = await startGssd({ redis: r2, database: db2, env });
    try {
      const byPid = new Map([[C.pid, C], [D.pid, D]]);
      const ids = {};
      for (const u of ['order_cs', 'hold_c', 'hold_d', 'order_t0', 'order_t1', 'order_t2']) {
        ids[u] = await addUser(C, u, u === 'order_cs' ? 'cs' : 'ts');
      }
      const tok = {};
      for (const u of Object.keys(ids)) tok[u] = await login(C, u);
      const [cust] = await bulkCustomers(C, 1, 50);
      const Y = await createTicket(C, tok.order_cs, cust, 1);
      const X = await createTicket(C, tok.order_cs, cust, 2);
      await waitCheckClean(C, 20000);
      await steadyReaders(r2.port, (p) => p.length === 2, 'both persisters reading');

      // Hold a row lock per process and tie up its one connection with it.
      const holders = {};
      for (const [name, g] of [['hold_c', C], ['hold_d', D]]) {
        holders[name] = run('psql', ['-X', '-q', '-d', db2.url, '-c',
          `BEGIN; SELECT 1 FROM users WHERE id = ${ids[name]} FOR UPDATE; SELECT pg_sleep(60); COMMIT;`],
        { env: { ...process.env, PGAPPNAME: `lock_${name}` }, timeout: 90000 });
        await waitFor(async () => (await psql(db2.url,
          `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lock_${name}' AND state = 'active'`))[0][0] === '1',
        { timeout: 10000, what: `lock ${name} held` });
        await login(g, name); // answers at once; its audit insert now waits on our lock
      }
      await waitFor(async () => (await psql(db2.url,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"))[0][0] === '2',
      { timeout: 10000, what: 'both processes\' connection waiting' });
      const release = (g) => psql(db2.url, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity' +
        ` WHERE application_name = 'lock_${g === C ? 'hold_c' : 'hold_d'}'`);

      // e0: whoever reads it is stuck behind its connection: that is P0.
      assert.equal((await claim(C, tok.order_t0, Y.id)).code, 'ok');
      const [p1pid] = await steadyReaders(r2.port, (p) => p.length === 1, 'one persister to take e0');
      const P1 = byPid.get(p1pid);
      const P0 = P1 === C ? D : C;
      // e1 (X: 1 of 2) goes to P1, the only reader left; it is stuck too.
      assert.equal((await claim(C, tok.order_t1, X.id)).code, 'ok');
      await steadyReaders(r2.port, (p) => p.length === 0, 'P1 to take e1');
      // P0 is let go; it applies e0 and reads e2 (X full), applies it.
      await release(P0);
      await steadyReaders(r2.port, (p) => p.length === 1 && p[0] === P0.pid, 'P0 reading again');
      assert.equal((await claim(C, tok.order_t2, X.id)).code, 'ok');
      await waitFor(async () => (await psql(db2.url, `SELECT status FROM tickets WHERE id = ${X.id}`))[0][0] === 'assigned',
        { timeout: 10000, what: 'X assigned after its last claim' });
      // Now P1's statement (older: X still had room) runs.
      await release(P1);
      await waitFor(async () => (await psql(db2.url,
        `SELECT count(*) FROM assignments WHERE ticket_id = ${X.id}`))[0][0] === '2',
      { timeout: 10000, what: 'both claims of X in PostgreSQL' });
      await sleep(300);
      const st = (await psql(db2.url, `SELECT status FROM tickets WHERE id = ${X.id}`))[0][0];
      assert.equal(st, 'assigned', 'ticket X, full in Redis and with both assignments, is still assigned');
      await waitCheckClean(C, 15000);
      await Promise.all(Object.values(holders));
    } finally {
      await psql(db2.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'lock_hold_%'")
        .catch(() => {});
      for (const g of [C, D]) if (g.alive()) await g.stop('SIGTERM', 20000);
    }
  });
});

// ---------------------------------------------------------------------------

// Connections to port, established, server side: [{peerPort, pid}] (ss).
async function serverSockets(port) {
  const r = await run('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], { timeout: 10000 });
  return r.stdout.split('\n').filter(Boolean).map((l) => {
    const cols = l.trim().split(/\s+/);
    const peer = cols.find((c, i) => i > 0 && /:\d+$/.test(c) && !c.endsWith(`:${port}`));
    const pid = /pid=(\d+)/.exec(l);
    return { peerPort: peer ? Number(peer.split(':').pop()) : null, pid: pid ? Number(pid[1]) : null };
  });
}

async function listeners(port) {
  const r = await run('ss', ['-Htlnp', `( sport = :${port} )`], { timeout: 10000 });
  return [...r.stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}

describe('gssd serve --workers 2', () => {
  it('two workers share the port; both answer and both forward live events to their boards', T, async (t) => {
    W = await startGssd({ redis, database, args: ['--workers', '2'], env: ENV });
    const r = await run('ps', ['-o', 'pid=', '--ppid', String(W.pid)], { timeout: 10000 });
    workerPids = r.stdout.split('\n').map((s) => Number(s.trim())).filter(Boolean);
    assert.equal(workerPids.length, 2, `two worker processes under ${W.pid}: ${r.stdout}`);
    await waitFor(async () => new Set(await listeners(W.port)).size === 2,
      { timeout: 10000, what: 'both workers listening on the port' });
    assert.deepEqual([...new Set(await listeners(W.port))].sort(), workerPids.slice().sort(),
      'the listeners are the workers (the parent does not serve)');

    // Twelve boards: SO_REUSEPORT spreads them over both workers.
    const bs = [];
    for (let i = 0; i < 12; i++) bs.push(await board(W, techs[20 + i].token));
    const socks = await serverSockets(W.port);
    const owner = (b) => socks.find((s) => s.peerPort === b.ws._socket.localPort)?.pid;
    const byWorker = new Map(workerPids.map((p) => [p, 0]));
    for (const b of bs) byWorker.set(owner(b), (byWorker.get(owner(b)) || 0) + 1);
    t.diagnostic(`boards per worker: ${JSON.stringify([...byWorker])}`);
    for (const p of workerPids) assert.ok(byWorker.get(p) > 0, `worker ${p} holds a board: ${JSON.stringify([...byWorker])}`);

    const job = await createTicket(W, cs, customers[1], 3);
    for (let i = 0; i < 3; i++) assert.equal((await claim(W, techs[40 + i].token, job.id)).code, 'ok');
    for (const b of bs) {
      await b.wait((m) => m.type === 'pool.closed' && m.data?.id === job.id, 5000, `pool.closed on worker ${owner(b)}`);
      assert.deepEqual(kinds(b, job.id), ['pool.opened:0', 'pool.updated:1', 'pool.updated:2', 'pool.closed:3'],
        `board on worker ${owner(b)}`);
    }

    // A storm through the shared port: both workers answer, both persist.
    const rand = rng(99);
    const sizes = Array.from({ length: 40 }, () => 1 + Math.floor(rand() * 5));
    const jobs = await mapLimit(sizes, 8, (n, i) => createTicket(W, cs, customers[i % 10], n));
    const need = new Map(jobs.map((j, i) => [j.id, sizes[i]]));
    const plan = makePlan(techs.slice(50, 150), jobs.map((j) => j.id), 8, rand);
    const won = judgeClaims(plan, await storm(W.port, plan), need);
    await waitPersisted(W, won, 30000);
    await waitCheckClean(W, 30000);

    // SIGTERM to the parent ends both workers, cleanly.
    const code = await W.stop('SIGTERM', 20000);
    assert.equal(code, 0, 'gssd --workers 2 exits 0');
    await sleep(100);
    for (const p of workerPids) {
      let alive = true;
      try { process.kill(p, 0); } catch { alive = false; }
      assert.equal(alive, false, `worker ${p} is gone`);
    }
    assert.equal(await tryConnect(W.port), 'refused', 'nobody listens on the port any more');
  });
});
