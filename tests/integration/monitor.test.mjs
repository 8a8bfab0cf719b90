// Visit monitoring and "Cari Pengganti" (docs/monitor.md, issue 8), against
// real Redis and PostgreSQL with two gssd processes sharing them.
//
// Deadlines are shrunk through config (late 1 s after the scheduled time,
// no-show after 3 s, a scan every 300 ms, so the lease lives 900 ms) and
// tickets are scheduled a second or two ahead: no wait here is longer than
// the deadlines need. Every expected value comes from docs/monitor.md and
// docs/states.md (states, error codes, who may do what), from the times we
// chose, or from what we counted ourselves (events on sockets, audit rows,
// assignment rows), never from the code under test.
//
// Which process scans is read from the lease itself: its value is
// "<pid>@<host>" (docs/monitor.md), so the holder is the gssd with that pid.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startGssd, startRedis, createDatabase, psql, run, redisCommand, scrapeMetrics, REDIS_PREFIX } from './harness.mjs';
import {
  addUser, bulkTechs, bulkCustomers, login, loginAll, api, createTicket, claim, openBoard, poolOf,
  waitCheckClean, waitFor, sleep,
} from './pool_util.mjs';
import { fix, offset, SITE } from './field_util.mjs';

const T = { timeout: 90000 };
const GRACE_MS = 1000;
const NOSHOW_MS = 3000;
const SCAN_MS = 300;
const LEASE_MS = 3 * SCAN_MS; // docs/monitor.md: PX <3 x scan interval>
const ENV = {
  GSS_LATE_GRACE_S: GRACE_MS / 1000,
  GSS_NOSHOW_AFTER_S: NOSHOW_MS / 1000,
  GSS_MONITOR_SCAN_MS: SCAN_MS,
  GSS_TECH_MAX_ACTIVE: 100,
  GSS_LOG_REQUESTS: 0,
};

let redis;
let database;
const procs = []; // every gssd started here (live or not)
let csId;
let cs;
let adminTok;
let techs = [];
let customers = [];
const sockets = [];
let nextTech = 0;

function tech() {
  assert.ok(nextTech < techs.length, 'out of technicians');
  return techs[nextTech++];
}

async function gssd() {
  const g = await startGssd({ redis, database, env: ENV });
  procs.push(g);
  return g;
}

const live = () => procs.filter((g) => g.alive());

before(async () => {
  redis = await startRedis();
  database = await createDatabase();
  const A = await gssd();
  await gssd();
  csId = await addUser(A, 'mon_cs', 'cs');
  await addUser(A, 'mon_admin', 'admin');
  techs = await bulkTechs(A, 'mon', 40);
  customers = await bulkCustomers(A, 3);
  cs = await login(A, 'mon_cs');
  adminTok = await login(A, 'mon_admin');
  await loginAll(A, techs, 10);
}, { timeout: 120000 });

after(async () => {
  for (const s of sockets) s.close();
  for (const g of procs) {
    if (!g.alive()) continue;
    g.signal('SIGCONT');
    assert.equal(await g.stop('SIGTERM', 20000), 0, `gssd ${g.pid} exits 0`);
  }
});

// ---------------------------------------------------------------------------
// Helpers

const iso = (ms) => new Date(ms).toISOString();
/** Jakarta (UTC+7, no DST) calendar date of an instant. */
const jakartaDate = (ms) => new Date(ms + 7 * 3600 * 1000).toISOString().slice(0, 10);
const atMs = (v) => (typeof v === 'number' ? v : Date.parse(v));

async function socket(g, token) {
  const s = await openBoard(g.port, token);
  sockets.push(s);
  return s;
}

/** monitor.* events of one socket about (ticket, tech), of one type. */
function events(s, type, ticketId, techId) {
  return s.messages.filter((m) => m.type === type && Number(m.data?.ticket_id) === ticketId &&
    (techId === undefined || Number(m.data?.tech_id) === techId));
}

async function monitor(g, date, token = cs) {
  const r = await api(g, token, 'GET', `/api/v1/monitor?date=${date}`);
  assert.equal(r.status, 200, `GET /api/v1/monitor?date=${date}: ${r.status} ${r.text}`);
  return r.json;
}

/** The monitor state of tech on ticket, as GET /api/v1/monitor shows it. */
async function monState(g, ticket, techId) {
  const body = await monitor(g, jakartaDate(Date.parse(ticket.scheduled_at)));
  const v = body.visits.find((x) => x.ticket_id === ticket.id);
  const t = v?.technicians.find((x) => x.tech_id === techId);
  return t ? t.state : undefined;
}

async function pgState(ticketId, techId) {
  const rows = await psql(database.url, `SELECT state FROM assignments WHERE ticket_id = ${ticketId} AND tech_id = ${techId}`);
  return rows.length ? rows[0][0] : undefined;
}

async function waitPg(ticketId, techId, state, ms) {
  return waitFor(async () => (await pgState(ticketId, techId)) === state,
    { timeout: ms, interval: 25, what: `assignment ${ticketId}/${techId} to be ${state} in PostgreSQL` });
}

/** Audit rows of one assignment's transition to `state` (the monitor writes
 *  one, in the transaction of the transition; fieldwork audit rows carry
 *  the technician in data.tech_id and the states in before/after). */
async function auditCount(ticketId, techId, state) {
  const rows = await psql(database.url,
    `SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${ticketId}` +
    ` AND after = '${state}' AND (data->>'tech_id')::bigint = ${techId}`);
  return Number(rows[0][0]);
}

/** A ticket scheduled at `schedMs`, claimed by each of ts; resolves once
 *  PostgreSQL holds every assignment (the scanner reads PostgreSQL). */
async function visit(g, ts, schedMs, extra = {}) {
  const t = await createTicket(g, cs, customers[0], extra.techs_needed || ts.length,
    { scheduled_at: iso(schedMs), lat: SITE.lat, lng: SITE.lng, ...extra });
  for (const x of ts) {
    const c = await claim(g, x.token, t.id);
    assert.equal(c.status, 200, `claim ${t.id} by ${x.username}: ${c.status} ${c.text}`);
  }
  await waitFor(async () => Number((await psql(database.url,
    `SELECT count(*) FROM assignments WHERE ticket_id = ${t.id}`))[0][0]) === ts.length,
  { timeout: 5000, interval: 20, what: `assignments of ${t.id} persisted` });
  return t;
}

async function leaseKey() {
  const keys = await redisCommand(redis.port, 'KEYS', `${REDIS_PREFIX}*monitor*lease*`);
  return keys.length === 1 ? keys[0] : null;
}

/** The gssd whose pid is in the lease's value, or null. */
async function holder() {
  const k = await leaseKey();
  if (!k) return null;
  const v = await redisCommand(redis.port, 'GET', k);
  const m = /^(\d+)@/.exec(v || '');
  return m ? procs.find((g) => g.pid === Number(m[1])) || { pid: Number(m[1]), stranger: true } : null;
}

/** Sum of the samples of metrics whose name matches re (0 if none). */
async function metricSum(g, re) {
  const m = await scrapeMetrics(g.url);
  return m.samples.filter((s) => re.test(s.name)).reduce((a, s) => a + s.value, 0);
}
// A counter of scans actually run (the one the lease holder increments).
const SCANS = /^gss_monitor_scans_total$/;
const ALERTS = /^gss_monitor_transitions_total$/; // late + no_show moved by this process

/** scans run by each live gssd over ms: Map pid -> delta. */
async function scansOver(ms, gs = live()) {
  const before0 = await Promise.all(gs.map((g) => metricSum(g, SCANS)));
  await sleep(ms);
  const after0 = await Promise.all(gs.map((g) => metricSum(g, SCANS)));
  return new Map(gs.map((g, i) => [g.pid, after0[i] - before0[i]]));
}

/** A fix 50 m from the site, accuracy 10 m. */
function near() {
  const p = offset(SITE.lat, SITE.lng, 30, 40);
  return { lat: p.lat, lng: p.lng, accuracy_m: 10 };
}

// ---------------------------------------------------------------------------

describe('GET /api/v1/monitor', () => {
  it('refuses a bad date (422), a technician (403), no session (401); admin may read', T, async () => {
    const [A] = live();
    for (const d of ['bad', '2026-13-01', '2026-02-30', '20261201', '2026-12-1']) {
      const r = await api(A, cs, 'GET', `/api/v1/monitor?date=${d}`);
      assert.equal(r.status, 422, `date=${d}: ${r.status} ${r.text}`);
    }
    const ts = await api(A, techs[39].token, 'GET', '/api/v1/monitor');
    assert.equal(ts.status, 403, `ts: ${ts.status} ${ts.text}`);
    const anon = await api(A, 'nope', 'GET', '/api/v1/monitor');
    assert.equal(anon.status, 401, `no session: ${anon.status}`);
    const adm = await api(A, adminTok, 'GET', `/api/v1/monitor?date=${jakartaDate(Date.now())}`);
    assert.equal(adm.status, 200, `admin: ${adm.status} ${adm.text}`);
    const today = await api(A, cs, 'GET', '/api/v1/monitor');
    assert.equal(today.status, 200, `no date means today: ${today.status} ${today.text}`);
    assert.equal(today.json.date, jakartaDate(Date.now()), 'default date is today in Jakarta');
  });

  it('a future day: its visits, states and counts match what we made', T, async () => {
    const [A] = live();
    // 2027-01-15 03:00 UTC = 10:00 in Jakarta; 17:30 UTC is already the 16th there.
    const day = Date.parse('2027-01-15T03:00:00Z');
    const [a, b, c, d] = [tech(), tech(), tech(), tech()];
    const t1 = await visit(A, [a, b], day);
    const t2 = await visit(A, [c], day + 3600e3);
    const t3 = await createTicket(A, cs, customers[1], 1, { scheduled_at: iso(day + 7200e3), lat: SITE.lat, lng: SITE.lng });
    const other = await visit(A, [d], Date.parse('2027-01-15T17:30:00Z'));
    // c checks in long before the time: on_time.
    const ci = await fix(A, c.token, t2.id, 'in', near());
    assert.equal(ci.status, 200, `check-in: ${ci.status} ${ci.text}`);
    const body = await monitor(A, '2027-01-15');
    assert.equal(body.date, '2027-01-15');
    assert.ok(Number.isInteger(body.seq), `seq: ${JSON.stringify(body).slice(0, 200)}`);
    const ids = body.visits.map((v) => v.ticket_id).sort((x, y) => x - y);
    assert.deepEqual(ids, [t1.id, t2.id, t3.id], 'the day\'s visits (the 17:30 UTC one is the 16th in Jakarta)');
    assert.ok(!ids.includes(other.id));
    const byId = new Map(body.visits.map((v) => [v.ticket_id, v]));
    const st = (v) => v.technicians.map((x) => `${x.tech_id}:${x.state}`).sort();
    assert.deepEqual(st(byId.get(t1.id)), [`${a.id}:waiting`, `${b.id}:waiting`].sort());
    assert.deepEqual(st(byId.get(t2.id)), [`${c.id}:on_time`]);
    assert.deepEqual(byId.get(t3.id).technicians, []);
    const v2 = byId.get(t2.id);
    assert.equal(v2.code, t2.code);
    assert.equal(v2.area, t2.area);
    assert.equal(Date.parse(v2.scheduled_at), day + 3600e3);
    assert.ok(v2.technicians[0].checked_in_at, 'checked_in_at set');
    assert.equal(typeof v2.technicians[0].distance_m, 'number');
    assert.equal(body.counts.waiting, 2, JSON.stringify(body.counts));
    assert.equal(body.counts.on_time, 1, JSON.stringify(body.counts));
    for (const k of ['late', 'no_show', 'checked_in', 'done', 'replaced']) assert.equal(body.counts[k], 0, `${k}: ${JSON.stringify(body.counts)}`);
  });
});

describe('emergency flow: late, no-show, Cari Pengganti', () => {
  it('claimed -> late -> no_show (each alert once, on every process), replace -> urgent on two boards, 409 for the released, a replacement claims, PostgreSQL and check agree', T, async (t) => {
    const [A, B] = live();
    const csA = await socket(A, cs);
    const csB = await socket(B, cs);
    const [t1, t2, t3] = [tech(), tech(), tech()];
    const seq0 = (await monitor(A, jakartaDate(Date.now()))).seq;
    const sched = Date.now() + 1500;
    const job = await visit(A, [t1], sched);
    assert.equal(await monState(A, job, t1.id), 'waiting', 'before the deadline');
    assert.equal(await pgState(job.id, t1.id), 'claimed');

    await waitPg(job.id, t1.id, 'late', sched + GRACE_MS - Date.now() + 3000);
    const lateSeen = Date.now();
    assert.ok(lateSeen >= sched + GRACE_MS, `late only after scheduled + grace (${lateSeen - sched} ms after)`);
    assert.equal(await monState(A, job, t1.id), 'late');
    const late = await csA.wait((m) => m.type === 'monitor.late' && m.data?.ticket_id === job.id, 3000, 'monitor.late');
    assert.equal(Number(late.data.tech_id), t1.id);
    assert.equal(late.data.code, job.code);
    assert.ok(late.seq > seq0, `event seq ${late.seq} after the snapshot's ${seq0}`);
    assert.ok(atMs(late.data.at) >= sched + GRACE_MS - 1000, `late at ${late.data.at}`);

    await waitPg(job.id, t1.id, 'no_show', sched + NOSHOW_MS - Date.now() + 3000);
    assert.ok(Date.now() >= sched + NOSHOW_MS, 'no_show only after scheduled + no-show delay');
    const ns = await monitor(A, jakartaDate(sched));
    const row = ns.visits.find((v) => v.ticket_id === job.id).technicians.find((x) => x.tech_id === t1.id);
    assert.equal(row.state, 'no_show');
    assert.ok(Number.isInteger(row.minutes_late) && row.minutes_late >= 0, `minutes_late ${row.minutes_late}`);
    await csB.wait((m) => m.type === 'monitor.no_show' && m.data?.ticket_id === job.id, 3000, 'monitor.no_show on B');
    await sleep(4 * SCAN_MS); // more scans: nothing more may come
    for (const [name, s] of [['A', csA], ['B', csB]]) {
      assert.equal(events(s, 'monitor.late', job.id, t1.id).length, 1, `one monitor.late on ${name}`);
      assert.equal(events(s, 'monitor.no_show', job.id, t1.id).length, 1, `one monitor.no_show on ${name}`);
    }
    assert.equal(await auditCount(job.id, t1.id, 'late'), 1, 'one audit row for late');
    assert.equal(await auditCount(job.id, t1.id, 'no_show'), 1, 'one audit row for no_show');

    // Cari Pengganti. Two other technicians' boards, one on each process, and
    // the no-show's own board.
    const b2 = await socket(A, t2.token);
    const b3 = await socket(B, t3.token);
    const b1 = await socket(A, t1.token);
    const bad = await api(B, t2.token, 'POST', `/api/v1/tickets/${job.id}/replace`, { tech_id: t1.id, reason: 'x' });
    assert.equal(bad.status, 403, `a technician may not replace: ${bad.status} ${bad.text}`);
    const reason = 'Teknisi tidak datang';
    const r = await api(B, cs, 'POST', `/api/v1/tickets/${job.id}/replace`, { tech_id: t1.id, reason });
    assert.equal(r.status, 200, `replace: ${r.status} ${r.text}`);
    const urgentOn = (b, who) => b.wait((m) => typeof m.type === 'string' && m.type.startsWith('pool.') &&
      m.data?.id === job.id && m.data.urgent === true, 3000, `the job, urgent, on ${who}'s board`);
    await urgentOn(b2, 't2 (A)');
    await urgentOn(b3, 't3 (B)');
    // docs/monitor.md: the job comes back with data.released_tech_id, so the
    // released technician's board can say why the job left.
    await b1.wait((m) => m.data?.id === job.id && Number(m.data.released_tech_id) === t1.id, 3000,
      'the job with released_tech_id on the released technician\'s board');
    for (const [name, s] of [['A', csA], ['B', csB]]) {
      await s.wait((m) => m.type === 'monitor.replaced' && m.data?.ticket_id === job.id, 3000, `monitor.replaced on ${name}`);
    }
    // The job is on the pool again, urgent, above every job that is not.
    const pool = await poolOf(B, t3.token);
    const idx = pool.jobs.findIndex((j) => j.id === job.id);
    assert.ok(idx >= 0, 'the job is back on the pool');
    assert.equal(pool.jobs[idx].urgent, true);
    const firstPlain = pool.jobs.findIndex((j) => !j.urgent);
    assert.ok(firstPlain === -1 || idx < firstPlain, `urgent job at ${idx}, first non-urgent at ${firstPlain}`);
    // No monitor.* event reaches a technician's board.
    for (const b of [b1, b2, b3]) {
      assert.deepEqual(b.messages.filter((m) => String(m.type).startsWith('monitor.')), [], 'no monitor.* on a ts board');
    }

    const again = await api(A, cs, 'POST', `/api/v1/tickets/${job.id}/replace`, { tech_id: t1.id, reason });
    // docs/monitor.md (as refined by the replace work): 404 not_assigned for
    // a technician with no active slot.
    assert.equal(again.status, 404, `replace twice: ${again.status} ${again.text}`);
    assert.equal(again.json?.error?.code, 'not_assigned');
    const c1 = await claim(A, t1.token, job.id);
    assert.equal(c1.status, 409, `released technician claims: ${c1.status} ${c1.text}`);
    assert.equal(c1.code, 'released_from_job');
    const c2 = await claim(B, t2.token, job.id);
    assert.equal(c2.status, 200, `replacement claims: ${c2.status} ${c2.text}`);

    await waitFor(async () => {
      const rows = await psql(database.url, `SELECT tech_id, state, released_at IS NOT NULL, coalesce(replaced_reason, ''),` +
        ` coalesce(replaced_by::text, '') FROM assignments WHERE ticket_id = ${job.id} ORDER BY tech_id`);
      const want = [[String(t1.id), 'replaced', 't', reason, String(csId)], [String(t2.id)]]
        .sort((x, y) => Number(x[0]) - Number(y[0]));
      return rows.length === 2 && rows.every((rw, i) => want[i].every((w, k) => rw[k] === w)) &&
        rows.find((rw) => rw[0] === String(t2.id))[1] !== 'replaced' &&
        rows.find((rw) => rw[0] === String(t2.id))[2] === 'f';
    }, { timeout: 10000, what: 'PostgreSQL: t1 replaced (reason, actor), t2 assigned' });
    const audit = await psql(database.url, `SELECT actor_id FROM audit_log WHERE entity = 'ticket' AND entity_id = ${job.id}` +
      ` AND after = 'replaced' AND (data->>'tech_id')::bigint = ${t1.id}`);
    assert.deepEqual(audit, [[String(csId)]], 'one audit row for the replacement, by CS');
    assert.equal(await monState(A, job, t1.id), 'replaced');
    // Not specified: the replacement's deadline is the ticket's (already past).
    await sleep(3 * SCAN_MS);
    t.diagnostic(`replacement's state ${3 * SCAN_MS} ms after its claim (the schedule is past): ${await pgState(job.id, t2.id)}`);
    for (const [name, s] of [['A', csA], ['B', csB]]) {
      assert.equal(events(s, 'monitor.replaced', job.id, t1.id).length, 1, `one monitor.replaced on ${name}`);
    }
    // Resync: a snapshot taken now carries a seq no lower than any event
    // already received, so a client that reconnects drops those events.
    const seen = Math.max(...csA.messages.filter((m) => String(m.type).startsWith('monitor.')).map((m) => m.seq));
    const snap = await monitor(B, jakartaDate(sched));
    assert.ok(snap.seq >= seen, `snapshot seq ${snap.seq} >= last event seq ${seen}`);
    await waitCheckClean(A, 20000);
  });
});

describe('one scanner in the cluster', () => {
  it('exactly one of two gssd scans; SIGKILL it and the other takes over within the lease; no alert doubled', T, async (t) => {
    let H;
    await waitFor(async () => { H = await holder(); return H && !H.stranger; }, { timeout: 3000, what: 'a lease holder' });
    const O = live().find((g) => g !== H);
    const d = await scansOver(4 * SCAN_MS);
    t.diagnostic(`scans over ${4 * SCAN_MS} ms: ${JSON.stringify([...d])}`);
    assert.ok(d.get(H.pid) >= 2, `the holder scans: ${d.get(H.pid)}`);
    assert.equal(d.get(O.pid), 0, 'the other does not');

    const csO = await socket(O, cs);
    const alerts0 = await metricSum(O, ALERTS);
    // Four visits whose late deadlines straddle the kill.
    const base = Date.now() + 800;
    const vs = [];
    for (let i = 0; i < 4; i++) {
      const x = tech();
      vs.push({ tech: x, job: await visit(O, [x], base + i * 200) });
    }
    const killAt = base + GRACE_MS + 250;
    await sleep(Math.max(0, killAt - Date.now()));
    await H.kill();
    const killed = Date.now();
    let N;
    await waitFor(async () => { N = await holder(); return N && N.pid === O.pid; },
      { timeout: LEASE_MS + SCAN_MS + 1500, interval: 10, what: 'the survivor to take the lease' });
    const takeover = Date.now() - killed;
    t.diagnostic(`takeover ${takeover} ms after SIGKILL (lease ${LEASE_MS} ms, scan ${SCAN_MS} ms)`);
    assert.ok(takeover <= LEASE_MS + SCAN_MS + 300, `takeover within lease + one scan: ${takeover} ms`);

    for (const v of vs) await waitPg(v.job.id, v.tech.id, 'no_show', base + 600 + NOSHOW_MS - Date.now() + 3000);
    await sleep(4 * SCAN_MS);
    for (const v of vs) {
      assert.equal(await auditCount(v.job.id, v.tech.id, 'late'), 1, `one late audit row for ${v.job.id}`);
      assert.equal(await auditCount(v.job.id, v.tech.id, 'no_show'), 1, `one no_show audit row for ${v.job.id}`);
      assert.equal(events(csO, 'monitor.late', v.job.id, v.tech.id).length, 1, `one monitor.late for ${v.job.id}`);
      assert.equal(events(csO, 'monitor.no_show', v.job.id, v.tech.id).length, 1, `one monitor.no_show for ${v.job.id}`);
    }
    const alerts = (await metricSum(O, ALERTS)) - alerts0;
    t.diagnostic(`alerts counted by the survivor: ${alerts}`);
    assert.ok(alerts >= 1 && alerts <= 8, `the survivor counted its alerts: ${alerts}`);
    const seqs = csO.messages.filter((m) => String(m.type).startsWith('monitor.')).map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'monitor seqs increase');
    assert.equal(new Set(seqs).size, seqs.length, 'no seq twice');

    // A fresh process joins; it does not take the lease from a live holder.
    const C = await gssd();
    const d2 = await scansOver(4 * SCAN_MS, [O, C]);
    assert.equal((await holder()).pid, O.pid, 'the survivor keeps the lease');
    assert.ok(d2.get(O.pid) >= 2 && d2.get(C.pid) === 0, `scans after a join: ${JSON.stringify([...d2])}`);
  });

  it('a holder paused past its lease (SIGSTOP) writes nothing when it wakes: no duplicate transition or alert', T, async (t) => {
    const H = await holder();
    assert.ok(H && !H.stranger && H.alive(), 'a live holder');
    const O = live().find((g) => g !== H);
    const csO = await socket(O, cs);
    const csH = await socket(H, cs);
    const base = Date.now() + 600;
    const vs = [];
    for (let i = 0; i < 3; i++) {
      const x = tech();
      vs.push({ tech: x, job: await visit(O, [x], base + i * 100) });
    }
    // Freeze it just before the first deadline.
    await sleep(Math.max(0, base + GRACE_MS - 150 - Date.now()));
    H.signal('SIGSTOP');
    const stopped = Date.now();
    try {
      await waitFor(async () => (await holder())?.pid === O.pid,
        { timeout: LEASE_MS + SCAN_MS + 1500, interval: 10, what: 'the other to take the lease' });
      t.diagnostic(`takeover ${Date.now() - stopped} ms after SIGSTOP`);
      for (const v of vs) await waitPg(v.job.id, v.tech.id, 'no_show', base + 200 + NOSHOW_MS - Date.now() + 3000);
    } finally {
      H.signal('SIGCONT');
    }
    // Give the woken process several of its own scan periods to do harm.
    await sleep(6 * SCAN_MS);
    for (const v of vs) {
      assert.equal(await pgState(v.job.id, v.tech.id), 'no_show');
      assert.equal(await auditCount(v.job.id, v.tech.id, 'late'), 1, `one late audit row for ${v.job.id}`);
      assert.equal(await auditCount(v.job.id, v.tech.id, 'no_show'), 1, `one no_show audit row for ${v.job.id}`);
      for (const [name, s] of [['the taker', csO], ['the woken', csH]]) {
        assert.equal(events(s, 'monitor.late', v.job.id, v.tech.id).length, 1, `one monitor.late for ${v.job.id} on ${name}`);
        assert.equal(events(s, 'monitor.no_show', v.job.id, v.tech.id).length, 1, `one monitor.no_show for ${v.job.id} on ${name}`);
      }
    }
    const d = await scansOver(4 * SCAN_MS, [H, O]);
    assert.equal((await holder()).pid, O.pid, 'the taker keeps the lease');
    assert.equal(d.get(H.pid), 0, `the woken process scans no more: ${JSON.stringify([...d])}`);
    assert.equal(Number((await psql(database.url, 'SELECT count(*) FROM monitor_lease'))[0][0]), 1, 'one lease row');
  });

  it('a scanner held up past its lease (its scan queued behind a busy PostgreSQL connection, then SIGSTOP) is fenced: it writes nothing', T, async (t) => {
    // A holder with one PostgreSQL connection, which we tie up: a login's
    // audit insert waits on a row lock we hold (as pool_multi does). Its next
    // scan waits for the connection; its lease lapses; the other process
    // takes over with a newer token and does the work. When the holder runs
    // again, its queued scan carries the old token and must be refused.
    for (const g of live()) assert.equal(await g.stop('SIGTERM', 20000), 0, `gssd ${g.pid} exits 0`);
    const H = await startGssd({ redis, database, env: { ...ENV, GSS_PG_POOL_SIZE: 1 } });
    procs.push(H);
    await waitFor(async () => (await holder())?.pid === H.pid, { timeout: LEASE_MS + 3000, what: 'H holds the lease' });
    const O = await gssd();
    const csO = await socket(O, cs);
    const holdId = await addUser(O, 'mon_hold', 'ts');
    const base = Date.now() + 1500;
    const vs = [];
    for (let i = 0; i < 3; i++) {
      const x = tech();
      vs.push({ tech: x, job: await visit(O, [x], base + i * 100) });
    }
    const hold = run('psql', ['-X', '-q', '-d', database.url, '-c',
      `BEGIN; SELECT 1 FROM users WHERE id = ${holdId} FOR UPDATE; SELECT pg_sleep(60); COMMIT;`],
    { env: { ...process.env, PGAPPNAME: 'mon_hold' }, timeout: 90000 });
    try {
      await waitFor(async () => (await psql(database.url,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mon_hold' AND state = 'active'"))[0][0] === '1',
      { timeout: 10000, what: 'our lock held' });
      const fenced0 = await metricSum(H, /^gss_monitor_fenced_total$/);
      const moved0 = await metricSum(H, ALERTS);
      await login(H, 'mon_hold'); // answers; its audit insert now waits on our lock
      await waitFor(async () => (await psql(database.url,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"))[0][0] === '1',
      { timeout: 10000, what: 'H\'s one connection waiting' });
      await sleep(2 * SCAN_MS); // a tick of H finds the lease its own and queues a scan
      H.signal('SIGSTOP');
      await waitFor(async () => (await holder())?.pid === O.pid,
        { timeout: LEASE_MS + SCAN_MS + 1500, interval: 10, what: 'O to take the lease' });
      for (const v of vs) await waitPg(v.job.id, v.tech.id, 'no_show', base + 200 + NOSHOW_MS - Date.now() + 3000);
      // Free H's connection, then let H run: its queued scan goes out now.
      await psql(database.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mon_hold'");
      H.signal('SIGCONT');
      const fenced = await waitFor(async () => {
        const f = await metricSum(H, /^gss_monitor_fenced_total$/);
        return f > fenced0 && f;
      }, { timeout: 5000, what: 'H\'s stale scan to be fenced (gss_monitor_fenced_total)' }).catch((e) => e);
      t.diagnostic(`H fenced: ${fenced instanceof Error ? fenced.message : fenced - fenced0}`);
      await sleep(4 * SCAN_MS);
      assert.equal((await metricSum(H, ALERTS)) - moved0, 0, 'H moved no slot after its lease lapsed');
      for (const v of vs) {
        assert.equal(await auditCount(v.job.id, v.tech.id, 'late'), 1, `one late audit row for ${v.job.id}`);
        assert.equal(await auditCount(v.job.id, v.tech.id, 'no_show'), 1, `one no_show audit row for ${v.job.id}`);
        assert.equal(events(csO, 'monitor.late', v.job.id, v.tech.id).length, 1, `one monitor.late for ${v.job.id}`);
        assert.equal(events(csO, 'monitor.no_show', v.job.id, v.tech.id).length, 1, `one monitor.no_show for ${v.job.id}`);
      }
      assert.equal((await holder()).pid, O.pid, 'O keeps the lease');
      assert.ok(!(fenced instanceof Error), fenced instanceof Error ? fenced.message : 'fenced');
    } finally {
      H.signal('SIGCONT');
      await psql(database.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mon_hold'")
        .catch(() => {});
      await hold;
    }
  });

  it('a restart after a no-show raises no second alert', T, async () => {
    const H = await holder();
    const x = tech();
    const sched = Date.now() + 200;
    const job = await visit(H, [x], sched);
    await waitPg(job.id, x.id, 'no_show', NOSHOW_MS + 4000);
    const auditBefore = await psql(database.url, `SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${job.id}`);
    for (const g of live()) assert.equal(await g.stop('SIGTERM', 20000), 0, `gssd ${g.pid} exits 0`);
    const R = await gssd();
    const csR = await socket(R, cs);
    await waitFor(async () => (await holder())?.pid === R.pid, { timeout: LEASE_MS + 3000, what: 'the new process holds the lease' });
    const d = await scansOver(5 * SCAN_MS, [R]);
    assert.ok(d.get(R.pid) >= 3, `the new process scans: ${d.get(R.pid)}`);
    assert.deepEqual(csR.messages.filter((m) => m.data?.ticket_id === job.id), [], 'no alert again after the restart');
    assert.deepEqual(await psql(database.url, `SELECT count(*) FROM audit_log WHERE entity = 'ticket' AND entity_id = ${job.id}`),
      auditBefore, 'no audit row again');
    assert.equal(await monState(R, job, x.id), 'no_show');
    await waitCheckClean(R, 20000);
  });
});

describe('GSS_AUTO_REPLACE_AFTER_S', () => {
  it('a no-show that long is replaced by gssd itself (actor system), CS is told once, the job is back urgent', T, async (t) => {
    for (const g of live()) assert.equal(await g.stop('SIGTERM', 20000), 0, `gssd ${g.pid} exits 0`);
    const G = await startGssd({ redis, database, env: { ...ENV, GSS_AUTO_REPLACE_AFTER_S: 1 } });
    procs.push(G);
    await waitFor(async () => (await holder())?.pid === G.pid, { timeout: LEASE_MS + 3000, what: 'G holds the lease' });
    const csG = await socket(G, cs);
    const [x, y, z] = [tech(), tech(), tech()];
    const bz = await socket(G, z.token);
    const sched = Date.now() + 200;
    const job = await visit(G, [x], sched);
    await waitPg(job.id, x.id, 'replaced', NOSHOW_MS + 1000 + 4000);
    assert.ok(Date.now() >= sched + NOSHOW_MS + 1000, 'not before scheduled + no-show + auto-replace');
    const rows = await psql(database.url, `SELECT released_at IS NOT NULL, coalesce(replaced_by::text, 'NULL')` +
      ` FROM assignments WHERE ticket_id = ${job.id} AND tech_id = ${x.id}`);
    assert.deepEqual(rows, [['t', 'NULL']], 'released, by nobody (gssd itself)');
    await csG.wait((m) => m.type === 'monitor.replaced' && m.data?.ticket_id === job.id, 3000, 'monitor.replaced');
    await bz.wait((m) => m.data?.id === job.id && m.data.urgent === true && Number(m.data.released_tech_id) === x.id,
      3000, 'the job back, urgent, on another board');
    await sleep(4 * SCAN_MS);
    const rep = events(csG, 'monitor.replaced', job.id, x.id);
    assert.equal(rep.length, 1, 'CS told once');
    assert.equal(rep[0].data.auto, true, 'marked auto');
    assert.deepEqual(await psql(database.url, `SELECT coalesce(actor_id::text, 'NULL') FROM audit_log WHERE entity = 'ticket'` +
      ` AND entity_id = ${job.id} AND after = 'replaced' AND (data->>'tech_id')::bigint = ${x.id}`), [['NULL']],
    'one audit row, actor system');
    assert.equal((await claim(G, x.token, job.id)).code, 'released_from_job');
    // The replacement claims a visit whose time (and no-show deadline) is past.
    assert.equal((await claim(G, y.token, job.id)).status, 200);
    await sleep(NOSHOW_MS);
    t.diagnostic(`the replacement ${NOSHOW_MS} ms after claiming: ${await pgState(job.id, y.id)}`);
    await waitCheckClean(G, 20000);
  });
});
