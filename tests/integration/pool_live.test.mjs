// Live pool boards (DESIGN.md §5): a WebSocket client (the `ws` package) on
// /api/v1/ws with a Bearer header sees every change of a job as it happens,
// in order, with a seq that only rises; a client that was away catches up
// from the GET /api/v1/pool snapshot and its seq, then follows the events
// again without a gap or a repeat.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startGssd, startRedis, createDatabase } from './harness.mjs';
import {
  addUser, bulkTechs, bulkCustomers, login, loginAll, createTicket, claim, poolOf, openBoard,
  waitCheckClean, sleep,
} from './pool_util.mjs';

const T = { timeout: 60000 };

let g;
let cs;
let techs = [];
let customers = [];
const boards = [];

before(async () => {
  const redis = await startRedis();
  const database = await createDatabase();
  g = await startGssd({ redis, database, env: { GSS_LOG_REQUESTS: 0 } });
  await addUser(g, 'live_cs', 'cs');
  techs = await bulkTechs(g, 'live', 12);
  customers = await bulkCustomers(g, 5);
  cs = await login(g, 'live_cs');
  await loginAll(g, techs, 12);
}, { timeout: 60000 });

after(async () => {
  for (const b of boards) b.close();
  if (g) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

async function board(token) {
  const b = await openBoard(g.port, token);
  boards.push(b);
  return b;
}

const slotsOf = (msgs) => msgs.map((m) => m.data.slots_taken);

describe('live board', () => {
  it('a job of 3 claimed 3 times: pool.opened, updated, updated, closed, seq rising, slots_taken 0..3', T, async () => {
    const ts = await board(techs[0].token);
    const csBoard = await board(cs);
    const job = await createTicket(g, cs, customers[0], 3, { area: 'Cilandak' });
    await ts.wait((m) => m.type === 'pool.opened' && m.data?.id === job.id, 5000, 'pool.opened');
    const answers = [];
    for (let i = 1; i <= 3; i++) answers.push(await claim(g, techs[i].token, job.id));
    assert.deepEqual(answers.map((a) => a.json?.slot), [1, 2, 3], JSON.stringify(answers.map((a) => a.text)));
    await ts.wait((m) => m.type === 'pool.closed' && m.data?.id === job.id, 5000, 'pool.closed');

    for (const [who, b] of [['ts', ts], ['cs', csBoard]]) {
      await b.wait((m) => m.type === 'pool.closed' && m.data?.id === job.id, 5000, `pool.closed on the ${who} board`);
      const msgs = b.forJob(job.id);
      assert.deepEqual(msgs.map((m) => m.type), ['pool.opened', 'pool.updated', 'pool.updated', 'pool.closed'],
        `${who}: ${JSON.stringify(msgs)}`);
      assert.deepEqual(slotsOf(msgs), [0, 1, 2, 3], `${who}: slots_taken`);
      for (let i = 1; i < msgs.length; i++) {
        assert.ok(Number.isInteger(msgs[i].seq) && msgs[i].seq > msgs[i - 1].seq,
          `${who}: seq strictly rising: ${msgs.map((m) => m.seq)}`);
      }
      assert.deepEqual(msgs.map((m) => m.data.state), ['open', 'open', 'open', 'full'], `${who}: state`);
      const d = msgs[0].data;
      assert.deepEqual(
        { code: d.code, area: d.area, scheduled_at: d.scheduled_at, slots_total: d.slots_total, urgent: d.urgent },
        { code: job.code, area: 'Cilandak', scheduled_at: '2030-06-03T02:00:00Z', slots_total: 3, urgent: false },
        `${who}: the job as the board lists it: ${JSON.stringify(d)}`);
      // Every message on the socket, whatever the job, has a rising seq.
      const seqs = b.messages.filter((m) => m.type?.startsWith('pool.')).map((m) => m.seq);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `${who}: all seqs rise: ${seqs}`);
    }
    // The snapshot is at least as new as the last event seen.
    const snap = await poolOf(g, techs[0].token);
    assert.ok(snap.seq >= ts.forJob(job.id).at(-1).seq, `snapshot seq ${snap.seq}`);
    assert.equal(snap.jobs.find((j) => j.id === job.id), undefined, 'the full job is not in the snapshot');
  });

  it('a client that was away catches up from the snapshot, then follows the events after it', T, async () => {
    const viewer = techs[4];
    const first = await board(viewer.token);
    const job = await createTicket(g, cs, customers[1], 3);
    const other = await createTicket(g, cs, customers[2], 2);
    await first.wait((m) => m.type === 'pool.opened' && m.data?.id === other.id, 5000, 'pool.opened');
    const lastSeen = Math.max(...first.messages.filter((m) => m.type?.startsWith('pool.')).map((m) => m.seq));
    first.close();
    await sleep(100);

    // Missed while away: two claims of the job, one that fills the other.
    assert.equal((await claim(g, techs[5].token, job.id)).code, 'ok');
    assert.equal((await claim(g, techs[6].token, job.id)).code, 'ok');
    assert.equal((await claim(g, techs[5].token, other.id)).code, 'ok');
    assert.equal((await claim(g, techs[6].token, other.id)).code, 'ok');

    // Back: socket first, then the snapshot (what the web app does), so no
    // event can fall between the two.
    const again = await board(viewer.token);
    const snap = await poolOf(g, viewer.token);
    assert.ok(snap.seq >= lastSeen, `snapshot seq ${snap.seq} >= last seen ${lastSeen}`);
    assert.ok(snap.seq >= lastSeen + 4, `the snapshot counts the 4 missed changes: ${snap.seq} vs ${lastSeen}`);
    const entry = snap.jobs.find((j) => j.id === job.id);
    assert.equal(entry?.slots_taken, 2, `the snapshot shows the missed claims: ${JSON.stringify(entry)}`);
    assert.equal(snap.jobs.find((j) => j.id === other.id), undefined, 'the job filled meanwhile is gone');

    // Events after the snapshot: seq beyond it, continuing from its state.
    assert.equal((await claim(g, techs[7].token, job.id)).code, 'ok');
    const closed = await again.wait((m) => m.type === 'pool.closed' && m.data?.id === job.id, 5000, 'pool.closed');
    assert.ok(closed.seq > snap.seq, `event seq ${closed.seq} > snapshot seq ${snap.seq}`);
    assert.equal(closed.data.slots_taken, 3);
    // The new socket may still receive a change from before the snapshot:
    // the live message travels on the subscriber connection and can reach
    // gssd after the claim's own answer. Clients drop seq <= snapshot seq
    // (the protocol); what they apply must continue from the snapshot.
    const applied = again.messages.filter((m) => m.type?.startsWith('pool.') && m.seq > snap.seq);
    assert.ok(applied.length >= 1, 'events after the snapshot arrive');
    const seqs = applied.map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `events after the snapshot in order: ${seqs}`);
    for (const m of applied.filter((x) => x.data?.id === job.id)) {
      assert.ok(m.data.slots_taken > entry.slots_taken, `an applied event moves on from the snapshot: ${JSON.stringify(m)}`);
    }
    await waitCheckClean(g, 20000);
  });

  it('a refused claim publishes nothing', T, async () => {
    const b = await board(techs[8].token);
    const job = await createTicket(g, cs, customers[3], 1);
    await b.wait((m) => m.type === 'pool.opened' && m.data?.id === job.id, 5000, 'pool.opened');
    assert.equal((await claim(g, techs[9].token, job.id)).code, 'ok');
    assert.equal((await claim(g, techs[10].token, job.id)).code, 'job_full');
    assert.equal((await claim(g, techs[9].token, job.id)).code, 'already_claimed');
    await b.wait((m) => m.type === 'pool.closed' && m.data?.id === job.id, 5000, 'pool.closed');
    await sleep(300);
    assert.deepEqual(b.forJob(job.id).map((m) => m.type), ['pool.opened', 'pool.closed']);
  });
});
