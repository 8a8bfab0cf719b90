// Field work (docs/fieldwork.md): from a won claim to `work_done`, as a
// technician and CS see it over the API. Every expected value here is
// written by hand from that document (distances from our own haversine,
// states and error codes from its text), never read from the server's code.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { psql, rawConnect, http } from './harness.mjs';
import { poolOf, openBoard, waitCheckClean } from './pool_util.mjs';
import {
  fieldSetup, ticketFor, fix, getTicket, upload, waitStatus, haversine, offset, assertDistance, isoSec,
  makePdf, countRows, api, createTicket, claim, SITE,
} from './field_util.mjs';

const T = { timeout: 60000 };
const HOUR = 3600 * 1000;

let ctx;
let g;
const boards = [];

before(async () => {
  ctx = await fieldSetup({ techs: 110, tag: 'fw', env: { GSS_TECH_MAX_ACTIVE: 3 } });
  g = ctx.g;
}, { timeout: 60000 });

after(async () => {
  for (const b of boards) b.close();
  if (g) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

/** A fix 50 m from the site (30 m north, 40 m east), accuracy 10 m. */
function near(site = SITE, accuracy = 10) {
  const p = offset(site.lat, site.lng, 30, 40);
  return { lat: p.lat, lng: p.lng, accuracy_m: accuracy };
}

async function okFix(tech, id, kind, body, opts) {
  const r = await fix(g, tech.token, id, kind, body, opts);
  assert.equal(r.status, 200, `check${kind} on ${id} by ${tech.username}: ${r.status} ${r.text}`);
  return r.json;
}

async function bast(tech, id) {
  const r = await upload(g, tech.token, id, 'bast', makePdf(`BAST ${id}`));
  assert.equal(r.status, 201, `BAST upload on ${id}: ${r.status} ${r.text}`);
  return r.json;
}

/** A one-technician ticket claimed by tech, once the persister has made it
 *  `assigned` (so that the first check-in has a documented ticket move). */
async function assignedTo(techs, extra = {}) {
  const t = await ticketFor(ctx, techs, extra);
  await waitStatus(ctx, t.id, 'assigned');
  return t;
}

const techOf = (ticket, id) => ticket.technicians.find((x) => x.tech_id === id);

describe('reading your own claim', () => {
  it('20 claims in a row: GET ticket, letter.pdf and check-in succeed right after the 200, no retry', T, async () => {
    const runs = [];
    for (let i = 0; i < 20; i++) {
      const tech = ctx.tech();
      const t = await createTicket(g, ctx.cs, ctx.customers[1], 1, { lat: SITE.lat, lng: SITE.lng });
      let c;
      let get;
      let letter;
      let checkin;
      const mode = ['one after the other', 'ticket and check-in at once, then the letter', 'all three at once',
        'pipelined behind the claim'][i % 4];
      if (i % 4 === 3) {
        // The tightest "at once": the three requests ride on the claim's own
        // connection, written in the same packet, so the server reads them
        // the moment it has answered the claim.
        const body = JSON.stringify(near());
        const h = `Host: 127.0.0.1\r\nAuthorization: Bearer ${tech.token}\r\n`;
        const conn = await rawConnect(g.port);
        await conn.write(`POST /api/v1/pool/${t.id}/claim HTTP/1.1\r\n${h}Content-Length: 0\r\n\r\n` +
          `GET /api/v1/tickets/${t.id} HTTP/1.1\r\n${h}\r\n` +
          `GET /api/v1/tickets/${t.id}/letter.pdf HTTP/1.1\r\n${h}\r\n` +
          `POST /api/v1/tickets/${t.id}/checkin HTTP/1.1\r\n${h}Content-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        const rs = await conn.waitForResponses(4, 20000);
        conn.destroy();
        const wrap = (r) => {
          let json;
          try { json = r.json(); } catch { json = undefined; }
          return { status: r.status, body: r.body, text: r.body.toString('utf8'), json };
        };
        [c, get, letter, checkin] = rs.map(wrap);
      } else {
        c = await claim(g, tech.token, t.id);
        const calls = [
          () => api(g, tech.token, 'GET', `/api/v1/tickets/${t.id}`),
          () => api(g, tech.token, 'GET', `/api/v1/tickets/${t.id}/letter.pdf`),
          () => fix(g, tech.token, t.id, 'in', near()),
        ];
        if (i % 4 === 0) [get, letter, checkin] = [await calls[0](), await calls[1](), await calls[2]()];
        else if (i % 4 === 1) {
          [get, checkin] = await Promise.all([calls[0](), calls[2]()]);
          letter = await calls[1]();
        } else [get, letter, checkin] = await Promise.all(calls.map((f) => f()));
      }
      assert.equal(c.status, 200, `run ${i} (${mode}): claim: ${c.text}`);
      assert.equal(get.status, 200, `run ${i} (${mode}): GET ticket right after the claim: ${get.status} ${get.text}`);
      assert.ok(get.json.technicians.some((x) => x.tech_id === tech.id), `run ${i} (${mode}): the claimer is listed: ${get.text}`);
      assert.equal(letter.status, 200, `run ${i} (${mode}): letter right after the claim: ${letter.status} ${letter.text.slice(0, 200)}`);
      assert.equal(letter.body.subarray(0, 5).toString('latin1'), '%PDF-', `run ${i} (${mode}): the letter is a PDF`);
      assert.equal(checkin.status, 200, `run ${i} (${mode}): check-in right after the claim: ${checkin.status} ${checkin.text}`);
      assert.equal(checkin.json.state, 'checked_in', `run ${i} (${mode}): ${checkin.text}`);
      runs.push({ t, tech, mode, checkin: checkin.json });
    }
    assert.deepEqual(await endState(runs), [],
      'every claimed-and-checked-in one-slot ticket is in_progress with its slot checked_in, and ends work_done');
  });

  it('20 more: the ticket and the check-in sent together right after each claim', T, async () => {
    // The web app opens the job page (GET) as it checks in from the claim
    // screen; this is the order that most often beats the persister.
    const runs = [];
    for (let i = 0; i < 20; i++) {
      const tech = ctx.tech();
      const t = await createTicket(g, ctx.cs, ctx.customers[1], 1, { lat: SITE.lat, lng: SITE.lng });
      const c = await claim(g, tech.token, t.id);
      assert.equal(c.status, 200, `run ${i}: claim: ${c.text}`);
      const [get, checkin] = await Promise.all([
        api(g, tech.token, 'GET', `/api/v1/tickets/${t.id}`),
        fix(g, tech.token, t.id, 'in', near()),
      ]);
      assert.equal(get.status, 200, `run ${i}: GET ticket: ${get.status} ${get.text}`);
      assert.equal(checkin.status, 200, `run ${i}: check-in: ${checkin.status} ${checkin.text}`);
      runs.push({ t, tech, mode: 'ticket and check-in together', checkin: checkin.json });
    }
    assert.deepEqual(await endState(runs), [],
      'every claimed-and-checked-in one-slot ticket is in_progress with its slot checked_in, and ends work_done');
  });
});

/** After the persister has caught up: each run's one-slot ticket (taken and
 *  checked in) must be in_progress with its slot checked_in, whatever order
 *  the persister and the check-in wrote in; then check-out, BAST and Selesai
 *  must make it work_done. Returns the list of what is wrong. */
async function endState(runs) {
  await waitCheckClean(g, 30000).catch(() => { /* judged below */ });
  const wrong = [];
  for (const r of runs) {
    const t = await getTicket(g, ctx.cs, r.t.id);
    const me = techOf(t, r.tech.id);
    if (!me || me.state !== 'checked_in' || t.status !== 'in_progress' || t.technicians.length !== 1) {
      wrong.push(`ticket ${r.t.id} (${r.mode}): status ${t.status}, slot ${me?.state}, the check-in answered ticket_status ${r.checkin.ticket_status}`);
    }
  }
  for (const r of runs) {
    const out = await fix(g, r.tech.token, r.t.id, 'out', near(SITE, 9));
    const up = await upload(g, r.tech.token, r.t.id, 'bast', makePdf(`BAST ${r.t.id}`));
    const c = await api(g, r.tech.token, 'POST', `/api/v1/tickets/${r.t.id}/complete`);
    const t = await getTicket(g, ctx.cs, r.t.id);
    if (out.status !== 200 || up.status !== 201 || c.status !== 200 || t.status !== 'work_done') {
      wrong.push(`ticket ${r.t.id} (${r.mode}) finishing: checkout ${out.status}, BAST ${up.status}, complete ${c.status} ${c.text}, ticket now ${t.status}`);
    }
  }
  return wrong;
}

describe('check-in: geofence, distance, late', () => {
  it('a fix 50 m from the site, accuracy 10: inside, distance by haversine, radius 200', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    const f = near();
    const want = haversine(f.lat, f.lng, SITE.lat, SITE.lng);
    assert.ok(want > 45 && want < 55, `own offset is about 50 m: ${want}`);
    const r = await okFix(tech, t.id, 'in', f);
    assertDistance(r.distance_m, want, 'inside');
    assert.equal(r.within_geofence, true, JSON.stringify(r));
    assert.equal(r.geofence, 'inside');
    assert.equal(r.radius_m, 200, 'GSS_GEOFENCE_M defaults to 200');
    assert.equal(r.accuracy_m, 10);
    assert.deepEqual(r.flags, [], `a plain live fix has no flags: ${JSON.stringify(r)}`);
    assert.equal(r.offline, false);
    assert.equal(r.replayed, false);
    assert.equal(r.state, 'checked_in');
    assert.equal(r.ticket_status, 'in_progress', 'the first check-in of an assigned ticket');
    assert.ok(Math.abs(Date.parse(r.received_at) - Date.now()) < 60000, `received_at is now: ${r.received_at}`);
    assert.ok(Math.abs(Date.parse(r.fix_at) - Date.now()) < 60000, `fix_at defaults to now: ${r.fix_at}`);
    const tk = await getTicket(g, tech.token, t.id);
    assert.equal(tk.status, 'in_progress');
    assert.equal(tk.checkins.length, 1, JSON.stringify(tk.checkins));
    const c = tk.checkins[0];
    assert.equal(c.kind, 'in');
    assert.equal(c.tech_id, tech.id);
    assert.equal(c.geofence, 'inside');
    assertDistance(c.distance_m, want, 'stored check-in');
    assert.ok(Math.abs(c.lat - f.lat) < 1e-7 && Math.abs(c.lng - f.lng) < 1e-7, `stored position: ${JSON.stringify(c)}`);
    assert.equal(techOf(tk, tech.id).state, 'checked_in');
    assert.ok(techOf(tk, tech.id).checked_in_at, 'checked_in_at is set');
  });

  it('a fix 2 km away, accuracy 10: outside, within_geofence false', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    const p = offset(SITE.lat, SITE.lng, 2000, 0);
    const want = haversine(p.lat, p.lng, SITE.lat, SITE.lng);
    const r = await okFix(tech, t.id, 'in', { ...p, accuracy_m: 10 });
    assertDistance(r.distance_m, want, 'outside');
    assert.equal(r.within_geofence, false, JSON.stringify(r));
    assert.equal(r.geofence, 'outside');
    assert.equal(r.state, 'checked_in', 'outside the fence still checks in (flags block nothing)');
  });

  it('accuracy 500 m with radius 200: uncertain, within_geofence null', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    const f = near(SITE, 500);
    const r = await okFix(tech, t.id, 'in', f);
    assertDistance(r.distance_m, haversine(f.lat, f.lng, SITE.lat, SITE.lng), 'uncertain');
    assert.equal(r.within_geofence, null, JSON.stringify(r));
    assert.equal(r.geofence, 'uncertain');
  });

  it("the ticket's own geofence_m is the radius; a ticket without coordinates is uncertain with distance null", T, async () => {
    const a = ctx.tech();
    const t = await ticketFor(ctx, [a]);
    await psql(g.database.url, `UPDATE tickets SET geofence_m = 100 WHERE id = ${t.id}`);
    await waitStatus(ctx, t.id, 'assigned');
    const p = offset(SITE.lat, SITE.lng, 150, 0);
    const r = await okFix(a, t.id, 'in', { ...p, accuracy_m: 10 });
    assert.equal(r.radius_m, 100, JSON.stringify(r));
    assert.equal(r.geofence, 'outside', `150 m away, accuracy 10, radius 100: ${JSON.stringify(r)}`);

    const b = ctx.tech();
    const u = await ticketFor(ctx, [b], { lat: null, lng: null });
    const r2 = await okFix(b, u.id, 'in', near());
    assert.equal(r2.distance_m, null, JSON.stringify(r2));
    assert.equal(r2.geofence, 'uncertain');
    assert.equal(r2.within_geofence, null);
  });

  it('late: scheduled 2 h ago checks in late; scheduled tomorrow does not', T, async () => {
    const past = isoSec(Date.now() - 2 * HOUR);
    const a = ctx.tech();
    const t = await assignedTo([a], { scheduled_at: past });
    assert.equal(t.scheduled_at, past, 'a ticket may be scheduled in the past');
    const r = await okFix(a, t.id, 'in', near());
    assert.equal(r.late, true, `2 h after the schedule (grace 15 min): ${JSON.stringify(r)}`);
    const tk = await getTicket(g, ctx.cs, t.id);
    assert.equal(tk.checkins[0].late, true, 'stored late');

    const b = ctx.tech();
    const u = await assignedTo([b], { scheduled_at: isoSec(Date.now() + 24 * HOUR) });
    const r2 = await okFix(b, u.id, 'in', near());
    assert.equal(r2.late, false, JSON.stringify(r2));
  });
});

describe('evidence flags', () => {
  it('accuracy 0.5 m: suspicious_accuracy', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    const r = await okFix(tech, t.id, 'in', near(SITE, 0.5));
    assert.deepEqual(r.flags, ['suspicious_accuracy'], JSON.stringify(r));
    const tk = await getTicket(g, ctx.cs, t.id);
    assert.deepEqual(tk.checkins[0].flags, ['suspicious_accuracy'], 'stored flags');
  });

  it('the same lat/lng/accuracy as an earlier fix: duplicate_fix (on the later one only)', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    const f = near(SITE, 12.5);
    const first = await okFix(tech, t.id, 'in', f);
    assert.ok(!first.flags.includes('duplicate_fix'), `the first fix is no duplicate: ${JSON.stringify(first)}`);
    const second = await okFix(tech, t.id, 'out', f);
    assert.ok(second.flags.includes('duplicate_fix'), `the same fix again: ${JSON.stringify(second)}`);
    assert.equal(second.state, 'checked_out');
  });

  it('fix_at 10 min ago: offline, offline true, fix_at stored as sent', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    const at = isoSec(Date.now() - 10 * 60 * 1000);
    const r = await okFix(tech, t.id, 'in', { ...near(), fix_at: at });
    assert.deepEqual(r.flags, ['offline'], JSON.stringify(r));
    assert.equal(r.offline, true);
    assert.equal(r.fix_at, at, 'the answer carries the fix time sent');
    assert.ok(Date.parse(r.received_at) - Date.parse(at) >= 9 * 60 * 1000, `received_at is now, not the fix time: ${r.received_at}`);
    const tk = await getTicket(g, ctx.cs, t.id);
    assert.equal(tk.checkins.length, 1);
    assert.equal(tk.checkins[0].fix_at, at, `stored fix_at: ${JSON.stringify(tk.checkins[0])}`);
    assert.deepEqual(tk.checkins[0].flags, ['offline']);
  });

  it('fix_at older than 6 h: 422 fix_too_old, nothing stored', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    const before = await getTicket(g, ctx.cs, t.id);
    const r = await fix(g, tech.token, t.id, 'in', { ...near(), fix_at: isoSec(Date.now() - 6 * HOUR - 5 * 60 * 1000) });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json?.error?.code, 'fix_too_old', r.text);
    assert.deepEqual(await getTicket(g, ctx.cs, t.id), before, 'the ticket is unchanged');
    assert.equal(await countRows(g.database.url, `SELECT count(*) FROM checkins WHERE ticket_id = ${t.id}`), 0);
  });

  it('fix_at 10 min in the future: clock_skew', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    const r = await okFix(tech, t.id, 'in', { ...near(), fix_at: isoSec(Date.now() + 10 * 60 * 1000) });
    assert.ok(r.flags.includes('clock_skew'), JSON.stringify(r));
    assert.equal(r.offline, false, 'a fix from the future is not an offline one');
  });

  it('a check-in 50 km from the previous fix a minute later: implausible_speed', T, async () => {
    const tech = ctx.tech();
    const far = offset(SITE.lat, SITE.lng, 0, 50000);
    assert.ok(Math.abs(haversine(far.lat, far.lng, SITE.lat, SITE.lng) - 50000) < 100, 'own offset is 50 km');
    // Different days, so one technician may hold both.
    const a = await assignedTo([tech], { scheduled_at: isoSec(Date.now() + 24 * HOUR) });
    const b = await assignedTo([tech], { lat: far.lat, lng: far.lng, scheduled_at: isoSec(Date.now() + 48 * HOUR) });
    const first = await okFix(tech, a.id, 'in', { lat: SITE.lat, lng: SITE.lng, accuracy_m: 8, fix_at: isoSec(Date.now() - 60 * 1000) });
    assert.ok(!first.flags.includes('implausible_speed'), `no previous fix: ${JSON.stringify(first)}`);
    const second = await okFix(tech, b.id, 'in', { lat: far.lat, lng: far.lng, accuracy_m: 8 });
    assert.ok(second.flags.includes('implausible_speed'), `50 km in a minute: ${JSON.stringify(second)}`);
    assert.equal(second.geofence, 'inside', 'at its own site');
  });
});

describe('Idempotency-Key', () => {
  it('the same key twice stores one check-in; the second answer is replayed', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    const key = `ci-${t.id}-a_B`;
    const body = near();
    const r1 = await okFix(tech, t.id, 'in', body, { idem: key });
    assert.equal(r1.replayed, false);
    const r2 = await okFix(tech, t.id, 'in', body, { idem: key });
    assert.equal(r2.replayed, true, JSON.stringify(r2));
    const strip = (x) => { const { replayed, ...rest } = x; return rest; };
    assert.deepEqual(strip(r2), strip(r1), 'the replay answers the stored result');
    const tk = await getTicket(g, ctx.cs, t.id);
    assert.equal(tk.checkins.length, 1, `one check-in stored: ${JSON.stringify(tk.checkins)}`);
    // Without the key the same request is a second check-in: refused.
    const r3 = await fix(g, tech.token, t.id, 'in', body);
    assert.equal(r3.status, 409, r3.text);
    assert.equal(r3.json?.error?.code, 'already_checked_in');
    // The key is the technician's, shared with check-out.
    const r4 = await fix(g, tech.token, t.id, 'out', body, { idem: key });
    assert.equal(r4.status, 422, r4.text);
    assert.equal(r4.json?.error?.code, 'idempotency_key_reused');
    assert.equal((await getTicket(g, ctx.cs, t.id)).checkins.length, 1, 'still one fix stored');
  });

  it('a retry sent while the first is still being stored: the stored result or duplicate_request, one check-in', T, async () => {
    // The outbox of the web app retries an action whose answer it has not
    // seen yet; a 4xx other than duplicate_request makes it drop the action
    // as failed (docs/web.md), so the retry must never read already_checked_in.
    const got = [];
    for (let i = 0; i < 5; i++) {
      const tech = ctx.tech();
      const t = await assignedTo([tech]);
      const key = `race-${t.id}`;
      const body = near();
      const rs = await Promise.all([0, 1].map(() => fix(g, tech.token, t.id, 'in', body, { idem: key })));
      const tk = await getTicket(g, ctx.cs, t.id);
      assert.equal(tk.checkins.length, 1, `ticket ${t.id}: one check-in stored`);
      const answers = rs.map((r) => (r.status === 200 ? `200 replayed=${r.json.replayed}` : `${r.status} ${r.json?.error?.code}`)).sort();
      got.push(answers.join(' + '));
    }
    const fine = new Set(['200 replayed=false + 200 replayed=true', '200 replayed=false + 409 duplicate_request']);
    assert.deepEqual(got.filter((x) => !fine.has(x)), [],
      `two concurrent requests with one key: one stores, the other reads its result or is told duplicate_request; got ${JSON.stringify(got)}`);
  });

  it('a key already used on another ticket does not answer for this one', T, async () => {
    const tech = ctx.tech();
    const a = await assignedTo([tech], { scheduled_at: isoSec(Date.now() + 24 * HOUR) });
    const b = await assignedTo([tech], { scheduled_at: isoSec(Date.now() + 48 * HOUR) });
    const key = `same-key-${a.id}`;
    await okFix(tech, a.id, 'in', near(), { idem: key });
    const r = await fix(g, tech.token, b.id, 'in', near(SITE, 14), { idem: key });
    const tb = await getTicket(g, ctx.cs, b.id);
    const stateB = techOf(tb, tech.id).state;
    // Either refused as a reused key (as for check-out), or a real check-in
    // of ticket b; never a 200 that says "checked_in" while b is not.
    const refusedReuse = r.status === 422 && r.json?.error?.code === 'idempotency_key_reused';
    const realCheckin = r.status === 200 && stateB === 'checked_in' && tb.checkins.length === 1;
    assert.ok(refusedReuse || realCheckin,
      `check-in of ticket ${b.id} with the key of ticket ${a.id}: ${r.status} ${r.text}; ticket ${b.id}'s slot is ${stateB}, ${tb.checkins.length} check-in(s)`);
  });
});

describe('technician allowance (GSS_TECH_MAX_ACTIVE = 3)', () => {
  it('a technician whose three jobs are work_done may claim a fourth', T, async () => {
    const tech = ctx.tech();
    for (let i = 0; i < 3; i++) {
      const t = await assignedTo([tech], { scheduled_at: isoSec(Date.now() + (i + 1) * 24 * HOUR) });
      await okFix(tech, t.id, 'in', near(SITE, 10 + i));
      await okFix(tech, t.id, 'out', near(SITE, 20 + i));
      await bast(tech, t.id);
      const c = await api(g, tech.token, 'POST', `/api/v1/tickets/${t.id}/complete`);
      assert.deepEqual(c.json, { state: 'done', ticket_status: 'work_done' }, c.text);
    }
    const next = await createTicket(g, ctx.cs, ctx.customers[2], 1, { lat: SITE.lat, lng: SITE.lng, scheduled_at: isoSec(Date.now() + 5 * 24 * HOUR) });
    const c = await claim(g, tech.token, next.id);
    assert.equal(c.status, 200, `a technician whose 3 jobs are work_done holds no active job and may claim: ${c.status} ${c.text}`);
  });

  it('a technician holding three jobs is tech_busy until CS cancels one', T, async () => {
    const other = ctx.tech();
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await ticketFor(ctx, [other], { scheduled_at: isoSec(Date.now() + (i + 1) * 24 * HOUR) }));
    const extra = await createTicket(g, ctx.cs, ctx.customers[2], 1, { lat: SITE.lat, lng: SITE.lng, scheduled_at: isoSec(Date.now() + 6 * 24 * HOUR) });
    const busy = await claim(g, other.token, extra.id);
    assert.equal(busy.status, 409, busy.text);
    assert.equal(busy.code, 'tech_busy', 'three held jobs are the limit');
    const cancel = await api(g, ctx.cs, 'POST', `/api/v1/tickets/${held[0].id}/cancel`, { reason: 'batal' });
    assert.equal(cancel.status, 200, cancel.text);
    const again = await claim(g, other.token, extra.id);
    assert.equal(again.status, 200, `after CS cancelled one of the three: ${again.text}`);
  });
});

describe('illegal transitions: 409 with the documented code, nothing changed', () => {
  async function refused(what, id, call, status, codes) {
    const before = await getTicket(g, ctx.cs, id);
    const r = await call();
    assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
    assert.ok(codes.includes(r.json?.error?.code), `${what}: code ${r.json?.error?.code}, want ${codes.join(' or ')}: ${r.text}`);
    const afterT = await getTicket(g, ctx.cs, id);
    assert.deepEqual(afterT, before, `${what}: the ticket did not change`);
  }

  it('checkout before checkin, checkin twice, checkout twice, complete without BAST; cancel work_done', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    await refused('checkout before checkin', t.id, () => fix(g, tech.token, t.id, 'out', near()), 409, ['not_checked_in']);
    await okFix(tech, t.id, 'in', near());
    await refused('checkin twice', t.id, () => fix(g, tech.token, t.id, 'in', near(SITE, 11)), 409, ['already_checked_in']);
    await okFix(tech, t.id, 'out', near(SITE, 9));
    await refused('checkout twice', t.id, () => fix(g, tech.token, t.id, 'out', near(SITE, 8)), 409, ['already_checked_out']);
    await refused('complete without BAST', t.id, () => api(g, tech.token, 'POST', `/api/v1/tickets/${t.id}/complete`), 409, ['bast_missing']);
    await bast(tech, t.id);
    const done = await api(g, tech.token, 'POST', `/api/v1/tickets/${t.id}/complete`);
    assert.equal(done.status, 200, done.text);
    assert.deepEqual(done.json, { state: 'done', ticket_status: 'work_done' });
    await refused('cancel a work_done ticket', t.id,
      () => api(g, ctx.cs, 'POST', `/api/v1/tickets/${t.id}/cancel`, { reason: 'terlambat' }), 409, ['invalid_transition']);
    await refused('complete twice', t.id, () => api(g, tech.token, 'POST', `/api/v1/tickets/${t.id}/complete`), 409, ['already_done']);
    await refused('checkin after done', t.id, () => fix(g, tech.token, t.id, 'in', near(SITE, 7)), 409, ['already_done']);
  });

  it('complete before checkout (BAST present): not_checked_out; a photo is no BAST', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    await okFix(tech, t.id, 'in', near());
    await bast(tech, t.id);
    await refused('complete before checkout', t.id, () => api(g, tech.token, 'POST', `/api/v1/tickets/${t.id}/complete`), 409, ['not_checked_out']);

    const other = ctx.tech();
    const u = await assignedTo([other]);
    await okFix(other, u.id, 'in', near());
    await okFix(other, u.id, 'out', near(SITE, 9));
    const ph = await upload(g, other.token, u.id, 'photo', makePdf('foto, bukan BAST'));
    assert.equal(ph.status, 201, ph.text);
    await refused('complete with only a photo', u.id, () => api(g, other.token, 'POST', `/api/v1/tickets/${u.id}/complete`), 409, ['bast_missing']);
  });

  it('checkin on a cancelled ticket, and cancel twice', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    const c = await api(g, ctx.cs, 'POST', `/api/v1/tickets/${t.id}/cancel`, { reason: 'pelanggan batal' });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.status, 'cancelled');
    await refused('checkin on a cancelled ticket', t.id, () => fix(g, tech.token, t.id, 'in', near()), 409, ['ticket_not_active']);
    await refused('cancel twice', t.id, () => api(g, ctx.cs, 'POST', `/api/v1/tickets/${t.id}/cancel`, {}), 409, ['invalid_transition']);
  });
});

describe('complete', () => {
  it('a 2-technician ticket is work_done only after both completed; assignment states as documented', T, async () => {
    const a = ctx.tech();
    const b = ctx.tech();
    const t = await assignedTo([a, b]);
    let tk = await getTicket(g, ctx.cs, t.id);
    assert.deepEqual(tk.technicians.map((x) => x.state), ['claimed', 'claimed']);
    const ra = await okFix(a, t.id, 'in', near());
    assert.equal(ra.ticket_status, 'in_progress');
    const rb = await okFix(b, t.id, 'in', near(SITE, 11));
    assert.equal(rb.ticket_status, 'in_progress');
    tk = await getTicket(g, ctx.cs, t.id);
    assert.deepEqual(tk.technicians.map((x) => x.state), ['checked_in', 'checked_in']);
    assert.equal((await okFix(a, t.id, 'out', near(SITE, 9))).state, 'checked_out');
    assert.equal((await okFix(b, t.id, 'out', near(SITE, 13))).state, 'checked_out');
    await bast(a, t.id);

    const ca = await api(g, a.token, 'POST', `/api/v1/tickets/${t.id}/complete`);
    assert.equal(ca.status, 200, ca.text);
    assert.deepEqual(ca.json, { state: 'done', ticket_status: 'in_progress' }, 'one of two done: still in progress');
    tk = await getTicket(g, ctx.cs, t.id);
    assert.equal(tk.status, 'in_progress');
    assert.equal(techOf(tk, a.id).state, 'done');
    assert.ok(techOf(tk, a.id).done_at, 'done_at is set');
    assert.equal(techOf(tk, b.id).state, 'checked_out');
    assert.equal(techOf(tk, b.id).done_at, null);

    // The BAST is on the ticket: the second technician needs no upload of their own.
    const cb = await api(g, b.token, 'POST', `/api/v1/tickets/${t.id}/complete`);
    assert.equal(cb.status, 200, cb.text);
    assert.deepEqual(cb.json, { state: 'done', ticket_status: 'work_done' });
    tk = await getTicket(g, ctx.cs, t.id);
    assert.equal(tk.status, 'work_done');
    assert.deepEqual(tk.technicians.map((x) => x.state), ['done', 'done']);
    for (const x of tk.technicians) assert.ok(x.checked_in_at && x.checked_out_at && x.done_at, JSON.stringify(x));
  });
});

describe('cancel (CS)', () => {
  it('an open job: ticket and slot cancelled, gone from the pool, boards get pool.closed, timeline ticket.cancel', T, async () => {
    const a = ctx.tech();
    const watcher = ctx.tech();
    const board = await openBoard(g.port, watcher.token);
    boards.push(board);
    const t = await ticketFor(ctx, [a], { techs_needed: 2 });
    await board.wait((m) => m.type === 'pool.opened' && m.data?.id === t.id, 5000, 'pool.opened');
    assert.ok((await poolOf(g, watcher.token)).jobs.some((j) => j.id === t.id), 'the half-taken job is on the pool');
    await waitFor(async () => (await getTicket(g, ctx.cs, t.id)).technicians.length === 1);

    const r = await api(g, ctx.cs, 'POST', `/api/v1/tickets/${t.id}/cancel`, { reason: 'Pelanggan membatalkan' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.id, t.id);
    assert.equal(r.json.status, 'cancelled', r.text);
    await board.wait((m) => m.type === 'pool.closed' && m.data?.id === t.id, 5000, 'pool.closed after the cancel');
    assert.ok(!(await poolOf(g, watcher.token)).jobs.some((j) => j.id === t.id), 'the job is gone from GET /api/v1/pool');

    const tk = await getTicket(g, ctx.cs, t.id);
    assert.equal(tk.status, 'cancelled');
    assert.deepEqual(tk.technicians.map((x) => [x.tech_id, x.state]), [[a.id, 'cancelled']]);
    const row = tk.timeline.find((x) => x.action === 'ticket.cancel');
    assert.ok(row, `timeline has ticket.cancel: ${JSON.stringify(tk.timeline)}`);
    assert.equal(row.actor_id, ctx.ids.cs);
    assert.equal(row.before, 'open');
    assert.equal(row.after, 'cancelled');
    // The job cannot be claimed any more.
    const late = await claim(g, ctx.tech().token, t.id);
    assert.equal(late.status, 409, late.text);
  });

  it('an in_progress ticket: every slot not done is cancelled, a done one stays done; timeline before in_progress', T, async () => {
    const a = ctx.tech();
    const b = ctx.tech();
    const c = ctx.tech();
    const t = await assignedTo([a, b, c]);
    await okFix(a, t.id, 'in', near());
    await okFix(a, t.id, 'out', near(SITE, 9));
    await bast(a, t.id);
    const done = await api(g, a.token, 'POST', `/api/v1/tickets/${t.id}/complete`);
    assert.deepEqual(done.json, { state: 'done', ticket_status: 'in_progress' }, done.text);
    await okFix(b, t.id, 'in', near(SITE, 11));
    const r = await api(g, ctx.admin, 'POST', `/api/v1/tickets/${t.id}/cancel`, {});
    assert.equal(r.status, 200, r.text);
    const tk = await getTicket(g, ctx.cs, t.id);
    assert.equal(tk.status, 'cancelled');
    assert.deepEqual(tk.technicians.map((x) => [x.tech_id, x.state]), [[a.id, 'done'], [b.id, 'cancelled'], [c.id, 'cancelled']]);
    const row = tk.timeline.find((x) => x.action === 'ticket.cancel');
    assert.ok(row, JSON.stringify(tk.timeline));
    assert.deepEqual([row.actor_id, row.before, row.after], [ctx.ids.admin, 'in_progress', 'cancelled']);
  });
});

describe('cancel: bad input', () => {
  it('a reason over 500 bytes or not a string is 422; a non-JSON body 400; an unknown ticket 404; nothing changes', T, async () => {
    const a = ctx.tech();
    const t = await ticketFor(ctx, [a], { techs_needed: 2 });
    await waitFor(async () => (await getTicket(g, ctx.cs, t.id)).technicians.length === 1);
    const before = await getTicket(g, ctx.cs, t.id);
    for (const [what, body, status, code] of [
      ['501 bytes', { reason: 'x'.repeat(501) }, 422, 'validation_failed'],
      ['a number', { reason: 42 }, 422, 'validation_failed'],
    ]) {
      const r = await api(g, ctx.cs, 'POST', `/api/v1/tickets/${t.id}/cancel`, body);
      assert.equal(r.status, status, `${what}: ${r.text}`);
      assert.equal(r.json?.error?.code, code, `${what}: ${r.text}`);
      assert.match(r.json.error.message, /^reason\b/, 'the message starts with the field');
    }
    const nj = await http(`${g.url}/api/v1/tickets/${t.id}/cancel`, {
      method: 'POST', headers: { authorization: `Bearer ${ctx.cs}`, 'content-type': 'application/json' }, body: '{"reason": ',
    });
    assert.equal(nj.status, 400, nj.text);
    assert.equal(nj.json?.error?.code, 'invalid_json');
    assert.deepEqual(await getTicket(g, ctx.cs, t.id), before, 'nothing changed');
    const nf = await api(g, ctx.cs, 'POST', '/api/v1/tickets/99999999/cancel', {});
    assert.equal(nf.status, 404, nf.text);
    const ok = await api(g, ctx.cs, 'POST', `/api/v1/tickets/${t.id}/cancel`, { reason: 'x'.repeat(500) });
    assert.equal(ok.status, 200, `500 bytes is allowed: ${ok.text}`);
  });
});

describe('timeline', () => {
  it('check-in, check-out and complete leave rows with actor, action, before, after, oldest first', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    await okFix(tech, t.id, 'in', near());
    await okFix(tech, t.id, 'out', near(SITE, 9));
    await bast(tech, t.id);
    const c = await api(g, tech.token, 'POST', `/api/v1/tickets/${t.id}/complete`);
    assert.equal(c.status, 200, c.text);
    const tl = (await getTicket(g, ctx.cs, t.id)).timeline;
    for (const row of tl) {
      for (const k of ['at', 'actor_id', 'action', 'before', 'after']) assert.ok(k in row, `timeline row has ${k}: ${JSON.stringify(row)}`);
    }
    for (let i = 1; i < tl.length; i++) assert.ok(Date.parse(tl[i].at) >= Date.parse(tl[i - 1].at), `oldest first: ${JSON.stringify(tl)}`);
    const mine = tl.filter((x) => x.actor_id === tech.id);
    const find = (before, after, re) => mine.findIndex((x) => x.before === before && x.after === after && re.test(x.action));
    const steps = [
      ['assignment check-in', find('claimed', 'checked_in', /check.?in/i)],
      ['assignment check-out', find('checked_in', 'checked_out', /check.?out/i)],
      ['assignment complete', find('checked_out', 'done', /complete|done|selesai/i)],
    ];
    for (const [what, i] of steps) assert.ok(i >= 0, `timeline has the ${what} by the technician: ${JSON.stringify(tl)}`);
    assert.ok(steps[0][1] < steps[1][1] && steps[1][1] < steps[2][1], `in order: ${JSON.stringify(mine)}`);
    // The ticket's own moves, in order too.
    const ip = tl.findIndex((x) => x.before === 'assigned' && x.after === 'in_progress');
    const wd = tl.findIndex((x) => x.before === 'in_progress' && x.after === 'work_done');
    assert.ok(ip >= 0 && wd > ip, `ticket assigned → in_progress → work_done in the timeline: ${JSON.stringify(tl)}`);
  });
});

describe('access', () => {
  it('an unassigned technician gets 404 everywhere; sales may read but not check in', T, async () => {
    const a = ctx.tech();
    const x = ctx.tech();
    const t = await assignedTo([a]);
    const att = await bast(a, t.id);
    const before = await getTicket(g, ctx.cs, t.id);
    const tries = [
      ['GET ticket', () => api(g, x.token, 'GET', `/api/v1/tickets/${t.id}`)],
      ['letter', () => api(g, x.token, 'GET', `/api/v1/tickets/${t.id}/letter.pdf`)],
      ['checkin', () => fix(g, x.token, t.id, 'in', near())],
      ['checkout', () => fix(g, x.token, t.id, 'out', near())],
      ['complete', () => api(g, x.token, 'POST', `/api/v1/tickets/${t.id}/complete`)],
      ['upload', () => upload(g, x.token, t.id, 'photo', makePdf('x'))],
      ['attachment download', () => api(g, x.token, 'GET', `/api/v1/attachments/${att.id}`)],
    ];
    const got = [];
    for (const [what, f] of tries) {
      const r = await f();
      got.push(`${what}: ${r.status} ${r.json?.error?.code ?? ''}`);
    }
    assert.deepEqual(got, tries.map(([what]) => `${what}: 404 not_found`));
    assert.deepEqual(await getTicket(g, ctx.cs, t.id), before, 'nothing changed');

    const s = await api(g, ctx.sales, 'GET', `/api/v1/tickets/${t.id}`);
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.id, t.id);
    const sd = await api(g, ctx.sales, 'GET', `/api/v1/attachments/${att.id}`);
    assert.equal(sd.status, 200, 'sales may see the ticket, so its attachments too');
    const sc = await fix(g, ctx.sales, t.id, 'in', near());
    assert.equal(sc.status, 403, sc.text);
    assert.equal(sc.json?.error?.code, 'forbidden');
    assert.deepEqual(await getTicket(g, ctx.cs, t.id), before, 'nothing changed');
  });
});

describe('bad input', () => {
  it('missing lat, lat 91, accuracy 0, fix_at "yesterday", a non-JSON body: 4xx, nothing stored', T, async () => {
    const tech = ctx.tech();
    const t = await assignedTo([tech]);
    const ok = near();
    const before = await getTicket(g, ctx.cs, t.id);
    const cases = [
      ['missing lat', { lng: ok.lng, accuracy_m: 10 }, 422, 'validation_failed', 'lat'],
      ['lat 91', { lat: 91, lng: ok.lng, accuracy_m: 10 }, 422, 'validation_failed', 'lat'],
      ['accuracy 0', { ...ok, accuracy_m: 0 }, 422, 'validation_failed', 'accuracy_m'],
      ['fix_at "yesterday"', { ...ok, fix_at: 'yesterday' }, 422, 'validation_failed', 'fix_at'],
      ['lat as a string', { ...ok, lat: '-6.17' }, 422, 'validation_failed', 'lat'],
    ];
    for (const [what, body, status, code, field] of cases) {
      const r = await fix(g, tech.token, t.id, 'in', body);
      assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.json?.error?.code, code, `${what}: ${r.text}`);
      // "the message starts with the field's name" (docs/openapi.yaml)
      const lead = String(r.json.error.message).split(':')[0];
      assert.ok(lead.split(/[ ,]+/).includes(field), `${what}: the message names ${field} first: ${r.json.error.message}`);
    }
    const nj = await fix(g, tech.token, t.id, 'in', undefined, { raw: '{"lat": -6.1, "lng": ' });
    assert.equal(nj.status, 400, nj.text);
    assert.equal(nj.json?.error?.code, 'invalid_json');
    const arr = await fix(g, tech.token, t.id, 'in', [1, 2]);
    assert.equal(arr.status, 400, arr.text);
    assert.equal(arr.json?.error?.code, 'invalid_json', 'a JSON array is not an object');
    assert.deepEqual(await getTicket(g, ctx.cs, t.id), before, 'nothing changed');
    assert.equal(await countRows(g.database.url, `SELECT count(*) FROM checkins WHERE ticket_id = ${t.id}`), 0, 'no check-in row');
    // And a good fix afterwards works: the refusals left the slot as it was.
    assert.equal((await okFix(tech, t.id, 'in', ok)).state, 'checked_in');
  });
});

async function waitFor(fn, ms = 10000) {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > ms) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
