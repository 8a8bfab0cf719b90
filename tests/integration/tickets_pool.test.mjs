// A ticket and its job never diverge (issue 8, item 4): when the pool
// refuses to open the job of a new ticket, the ticket is withdrawn and CS
// is told the creation failed, so CS never holds a ticket that no
// technician can see on the board.

import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startGssd, startRedis, createDatabase, psql, redisCommand } from './harness.mjs';
import { addUser, bulkCustomers, login, api, key, poolOf, bulkTechs, loginAll } from './pool_util.mjs';

const T = { timeout: 60000 };
let g;
let cs;
let customer;
let tech;

before(async () => {
  const redis = await startRedis();
  const database = await createDatabase();
  g = await startGssd({ redis, database });
  await addUser(g, 'tp_cs', 'cs');
  cs = await login(g, 'tp_cs');
  [customer] = await bulkCustomers(g, 1, 77);
  [tech] = await bulkTechs(g, 'tp_ts', 1);
  await loginAll(g, [tech]);
}, { timeout: 60000 });

after(async () => {
  if (g && g.alive()) assert.equal(await g.stop('SIGTERM', 20000), 0);
});

const body = (n) => ({
  customer_id: customer, problem: `Pompa air mati ${n}`, address: 'Jl. Cikini Raya 1',
  scheduled_at: '2026-12-24T03:00:00Z', techs_needed: 1,
});

it('a job the pool refuses to open: 503, and no ticket is left behind', T, async () => {
  // The next ticket id; a job hash already sitting under it with another id
  // makes open.lua refuse ('exists': a job of that id is on the board).
  const [[last]] = await psql(g.database.url, "SELECT coalesce(max(id), 0) FROM tickets");
  const next = Number(last) + 1;
  await redisCommand(g.redis.port, 'HSET', key(`job:${next}`), 'id', String(next), 'state', 'open');
  const r = await api(g, cs, 'POST', '/api/v1/tickets', body(1));
  assert.equal(r.status, 503, r.text);
  assert.equal(r.json.error.code, 'unavailable');
  const [[n]] = await psql(g.database.url, `SELECT count(*) FROM tickets WHERE id = ${next}`);
  assert.equal(n, '0', 'the ticket whose job did not open was withdrawn');
  const list = await api(g, cs, 'GET', '/api/v1/tickets');
  assert.equal(list.status, 200);
  assert.equal(list.json.tickets.find((t) => t.id === next), undefined, 'CS does not see it');

  // The next try works, and the ticket is on the board.
  await redisCommand(g.redis.port, 'DEL', key(`job:${next}`));
  const ok = await api(g, cs, 'POST', '/api/v1/tickets', body(2));
  assert.equal(ok.status, 201, ok.text);
  const board = await poolOf(g, tech.token);
  assert.ok(board.jobs.some((j) => j.id === ok.json.id), 'the new ticket is on the board');
});
