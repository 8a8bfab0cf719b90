// "Cari Pengganti" (issue 8, docs/monitor.md): POST /api/v1/tickets/{id}/replace
// as CS uses it. Expected values come from the issue and docs/monitor.md
// (codes, states, the urgent re-broadcast, who may), never from the code.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { psql } from './harness.mjs';
import { poolOf, openBoard, waitCheckClean, waitFor } from './pool_util.mjs';
import { fieldSetup, ticketFor, fix, getTicket, waitStatus, offset, api, claim, SITE } from './field_util.mjs';

/** An ISO time n days from now at hh:00 UTC: always ahead of the clock the tests run on. */
function daysAhead(n, hh) {
  const d = new Date(Date.now() + n * 86400000);
  return `${d.toISOString().slice(0, 10)}T${hh}:00:00Z`;
}

const T = { timeout: 60000 };

let ctx;
let g;
const boards = [];

before(async () => {
  ctx = await fieldSetup({ techs: 30, tag: 'rp', env: { GSS_TECH_MAX_ACTIVE: 5 } });
  g = ctx.g;
}, { timeout: 60000 });

after(async () => {
  for (const b of boards) b.close();
  if (g) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

const replace = (token, id, body) => api(g, token, 'POST', `/api/v1/tickets/${id}/replace`, body);

function near() {
  const p = offset(SITE.lat, SITE.lng, 30, 40);
  return { lat: p.lat, lng: p.lng, accuracy_m: 10 };
}

async function assignmentRows(id) {
  const rows = await psql(g.database.url,
    `SELECT tech_id, slot, state, released_at IS NOT NULL, coalesce(replaced_reason, ''),` +
    ` coalesce(replaced_by::text, ''), replaced_at IS NOT NULL FROM assignments WHERE ticket_id = ${id} ORDER BY claimed_at, tech_id`);
  return rows.map(([tech, slot, state, released, reason, by, at]) => ({
    tech: Number(tech), slot: Number(slot), state, released: released === 't', reason, by, at: at === 't',
  }));
}

describe('replace a technician who has not checked in', () => {
  it('200; the job is back on the pool, urgent, first; boards are told who was released; they cannot claim it', T, async () => {
    const a = ctx.tech();
    const b = ctx.tech();
    const watcher = ctx.tech();
    const boardA = await openBoard(g.port, a.token);
    const boardW = await openBoard(g.port, watcher.token);
    const boardCs = await openBoard(g.port, ctx.cs);
    boards.push(boardA, boardW, boardCs);
    // A non-urgent job scheduled earlier: without the urgent band it would be first.
    const earlier = await ticketFor(ctx, [], { techs_needed: 1, scheduled_at: '2026-11-01T02:00:00Z' });
    const t = await ticketFor(ctx, [a], { techs_needed: 1, scheduled_at: daysAhead(4, '02') });
    await waitStatus(ctx, t.id, 'assigned');

    const r = await replace(ctx.cs, t.id, { tech_id: a.id, reason: 'Tidak hadir, tidak bisa dihubungi' });
    assert.equal(r.status, 200, `replace: ${r.status} ${r.text}`);
    assert.equal(r.json.id, t.id, 'the answer is the ticket');
    assert.equal(r.json.status, 'open', 'the slot is free again: the ticket is open');
    assert.equal(r.json.urgent, true, 'the ticket is urgent now');
    assert.deepEqual(r.json.technicians.map((x) => x.tech_id), [], 'the released technician no longer holds a slot');
    const tl = r.json.timeline.find((x) => x.action === 'assignment.replace');
    assert.ok(tl, `timeline shows the replacement: ${JSON.stringify(r.json.timeline)}`);
    assert.equal(tl.data.tech_id, a.id);
    assert.equal(tl.data.reason, 'Tidak hadir, tidak bisa dihubungi');
    assert.equal(tl.data.force, false);
    assert.equal(tl.actor_id, ctx.ids.cs, 'the actor is the CS who asked');
    assert.ok(r.json.timeline.some((x) => x.action === 'ticket.status' && x.before === 'assigned' && x.after === 'open'),
      `timeline has ticket.status assigned -> open: ${JSON.stringify(r.json.timeline)}`);

    // The pool: open, urgent, ahead of the earlier non-urgent job.
    const pool = await poolOf(g, watcher.token);
    const ids = pool.jobs.map((j) => j.id);
    const job = pool.jobs.find((j) => j.id === t.id);
    assert.ok(job, `job ${t.id} is back on the pool: ${ids}`);
    assert.equal(job.urgent, true);
    assert.equal(job.slots_taken, 0);
    assert.ok(ids.indexOf(t.id) < ids.indexOf(earlier.id), `urgent first: ${ids}`);

    // Both boards get the job again, urgent, naming the released technician.
    for (const [who, bd] of [['released', boardA], ['watcher', boardW]]) {
      const m = await bd.wait((x) => typeof x.type === 'string' && x.type.startsWith('pool.') && x.data?.id === t.id &&
        x.data?.released_tech_id !== undefined, 5000, `the release of ${t.id} on the ${who} board`);
      assert.equal(m.type, 'pool.opened', 'a full job that comes back is new on the boards');
      assert.equal(m.data.urgent, true);
      assert.equal(m.data.state, 'open');
      assert.equal(m.data.released_tech_id, a.id);
    }

    // CS screens hear of it (docs/monitor.md, Events); technicians do not.
    const mon = await boardCs.wait((x) => x.type === 'monitor.replaced' && x.data?.ticket_id === t.id, 5000,
      'monitor.replaced on the CS socket');
    assert.equal(mon.data.tech_id, a.id);
    assert.equal(mon.data.state, 'replaced');
    assert.ok(Number.isInteger(mon.seq), `monitor.replaced has a seq: ${JSON.stringify(mon)}`);
    assert.ok(!boardW.messages.some((x) => x.type === 'monitor.replaced'), 'a technician board gets no monitor.* event');

    // The released technician may not claim it again; another one can.
    const again = await claim(g, a.token, t.id);
    assert.equal(again.status, 409, `released tech claims again: ${again.status} ${again.text}`);
    assert.equal(again.code, 'released_from_job');
    const c = await claim(g, b.token, t.id);
    assert.equal(c.status, 200, `replacement claims: ${c.status} ${c.text}`);
    await waitStatus(ctx, t.id, 'assigned');

    // PostgreSQL holds the replaced assignment (reason, actor, time) and the new one.
    await waitFor(async () => (await assignmentRows(t.id)).length === 2, { what: 'both assignments in PostgreSQL' });
    const rows = await assignmentRows(t.id);
    assert.deepEqual(rows.map((x) => [x.tech, x.slot, x.state, x.released]),
      [[a.id, 1, 'replaced', true], [b.id, 1, 'claimed', false]]);
    assert.equal(rows[0].reason, 'Tidak hadir, tidak bisa dihubungi');
    assert.equal(rows[0].by, String(ctx.ids.cs));
    assert.equal(rows[0].at, true);
    await waitCheckClean(g);

    // The released technician no longer sees the ticket.
    const own = await api(g, a.token, 'GET', `/api/v1/tickets/${t.id}`);
    assert.equal(own.status, 404, `released tech reads the ticket: ${own.status}`);
    // And a second replacement of them finds no slot.
    const twice = await replace(ctx.cs, t.id, { tech_id: a.id, reason: 'lagi' });
    assert.equal(twice.status, 404, `second replace: ${twice.status} ${twice.text}`);
  });

  it('a job with a slot left (still open): pool.updated, urgent, the other slot kept', T, async () => {
    const a = ctx.tech();
    const b = ctx.tech();
    const t = await ticketFor(ctx, [a, b], { techs_needed: 3 });
    // CS replaces someone they see on the ticket: the answer (the ticket as
    // GET shows it) lists what PostgreSQL holds, and the persister writes a
    // claim a moment after Redis took it (under load, later than this test's
    // next request; an open ticket has no status change to wait for).
    await waitFor(async () => (await assignmentRows(t.id)).length === 2, { what: 'both claims in PostgreSQL' });
    const board = await openBoard(g.port, ctx.tech().token);
    boards.push(board);
    const r = await replace(ctx.admin, t.id, { tech_id: b.id, reason: 'Sakit' });
    assert.equal(r.status, 200, `admin replace: ${r.status} ${r.text}`);
    assert.deepEqual(r.json.technicians.map((x) => x.tech_id), [a.id]);
    const m = await board.wait((x) => x.data?.id === t.id && x.data?.released_tech_id === b.id, 5000, 'the release');
    assert.equal(m.type, 'pool.updated');
    assert.equal(m.data.urgent, true);
    assert.equal(m.data.slots_taken, 1);
    await waitCheckClean(g);
  });
});

describe('after a check-in', () => {
  it('without force: 409 checked_in, nothing changed; with force and a reason: 200', T, async () => {
    const a = ctx.tech();
    const t = await ticketFor(ctx, [a], { techs_needed: 1 });
    await waitStatus(ctx, t.id, 'assigned');
    const ci = await fix(g, a.token, t.id, 'in', near());
    assert.equal(ci.status, 200, `check-in: ${ci.status} ${ci.text}`);

    for (const body of [{ tech_id: a.id, reason: 'Salah orang' }, { tech_id: a.id, reason: 'Salah orang', force: false }]) {
      const r = await replace(ctx.cs, t.id, body);
      assert.equal(r.status, 409, `replace after check-in (${JSON.stringify(body)}): ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'checked_in');
    }
    const still = await getTicket(g, ctx.cs, t.id);
    assert.equal(still.status, 'in_progress');
    assert.equal(still.technicians[0].state, 'checked_in');
    assert.ok(!(await poolOf(g, ctx.cs)).jobs.some((j) => j.id === t.id), 'the job stayed off the pool');

    const r = await replace(ctx.cs, t.id, { tech_id: a.id, reason: 'Teknisi salah, diganti atas permintaan pelanggan', force: true });
    assert.equal(r.status, 200, `forced replace: ${r.status} ${r.text}`);
    assert.equal(r.json.status, 'open');
    const tl = r.json.timeline.find((x) => x.action === 'assignment.replace');
    assert.ok(tl, 'timeline shows the replacement');
    assert.equal(tl.before, 'checked_in');
    assert.equal(tl.after, 'replaced');
    assert.equal(tl.data.force, true);
    assert.ok(r.json.timeline.some((x) => x.action === 'ticket.status' && x.before === 'in_progress' && x.after === 'open'));
    const job = (await poolOf(g, ctx.cs)).jobs.find((j) => j.id === t.id);
    assert.ok(job && job.urgent === true, 'the job is back on the pool, urgent');
    // The released technician's check-out is refused: they hold no slot any more.
    const co = await fix(g, a.token, t.id, 'out', near());
    assert.equal(co.status, 404, `check-out after release: ${co.status} ${co.text}`);
    const b = ctx.tech();
    assert.equal((await claim(g, b.token, t.id)).status, 200, 'a replacement claims it');
    await waitCheckClean(g);
  });
});

describe('refusals', () => {
  it('404 for a technician without a slot, or no such ticket; 422 for a bad body', T, async () => {
    const a = ctx.tech();
    const other = ctx.tech();
    const t = await ticketFor(ctx, [a], { techs_needed: 2 });
    let r = await replace(ctx.cs, t.id, { tech_id: other.id, reason: 'x' });
    assert.equal(r.status, 404, `unassigned tech: ${r.status} ${r.text}`);
    r = await replace(ctx.cs, 99999999, { tech_id: a.id, reason: 'x' });
    assert.equal(r.status, 404, `no ticket: ${r.status} ${r.text}`);
    assert.equal(r.json.error.code, 'not_found');
    for (const body of [
      { reason: 'x' }, { tech_id: 0, reason: 'x' }, { tech_id: -3, reason: 'x' }, { tech_id: '5', reason: 'x' },
      { tech_id: 1.5, reason: 'x' }, { tech_id: a.id }, { tech_id: a.id, reason: '' }, { tech_id: a.id, reason: '   ' },
      { tech_id: a.id, reason: 'x'.repeat(501) }, { tech_id: a.id, reason: 'x', force: 'yes' }, { tech_id: a.id, reason: 7 },
    ]) {
      r = await replace(ctx.cs, t.id, body);
      assert.equal(r.status, 422, `${JSON.stringify(body).slice(0, 80)}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'validation_failed');
    }
    r = await replace(ctx.cs, t.id, { tech_id: a.id, reason: 'x'.repeat(500) });
    assert.equal(r.status, 200, `a 500-byte reason is fine: ${r.status} ${r.text}`);
    await waitCheckClean(g);
  });

  it('roles: a technician and sales get 403; the slot stays', T, async () => {
    const a = ctx.tech();
    const t = await ticketFor(ctx, [a], { techs_needed: 1 });
    await waitStatus(ctx, t.id, 'assigned');
    for (const token of [a.token, ctx.sales]) {
      const r = await replace(token, t.id, { tech_id: a.id, reason: 'x' });
      assert.equal(r.status, 403, `${r.status} ${r.text}`);
    }
    const tk = await getTicket(g, ctx.cs, t.id);
    assert.deepEqual(tk.technicians.map((x) => x.tech_id), [a.id]);
  });

  it('a cancelled ticket: 409 invalid_transition, the job stays closed', T, async () => {
    const a = ctx.tech();
    const t = await ticketFor(ctx, [a], { techs_needed: 1 });
    assert.equal((await api(g, ctx.cs, 'POST', `/api/v1/tickets/${t.id}/cancel`, {})).status, 200);
    const r = await replace(ctx.cs, t.id, { tech_id: a.id, reason: 'x', force: true });
    assert.equal(r.status, 409, `replace on a cancelled ticket: ${r.status} ${r.text}`);
    assert.equal(r.json.error.code, 'invalid_transition');
    assert.ok(!(await poolOf(g, ctx.cs)).jobs.some((j) => j.id === t.id), 'a cancelled job stays off the pool');
  });
});
