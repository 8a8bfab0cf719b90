// monitor.* fan-out, the client side of bench/monitor_scan.sh: opens N CS
// WebSockets to one gssd, then publishes ROUNDS events through the very
// script gssd publishes with (lib/prelude.lua + monitor_publish.lua: INCR
// P:monitor:seq, PUBLISH P:monitor) and times, per event, from the moment
// the EVAL is written to Redis to the moment the first and the last of the N
// sockets has it.
//
// One node process receives every frame, so "last" includes this client's
// own handling of N frames (a few microseconds each): an upper bound on
// gssd's fan-out.
//
// Usage: node bench/monitor_fanout.mjs URL TOKEN REDIS_PORT CHANNEL SEQ_KEY [N] [ROUNDS]
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'package.json'));
const WebSocket = require('ws');

const [url, token, redisPort, channel, seqKey, nArg, roundsArg] = process.argv.slice(2);
const N = Number(nArg || 500);
const ROUNDS = Number(roundsArg || 30);
const lua = fs.readFileSync(path.join(here, '..', 'src', 'pool', 'lua', 'lib', 'prelude.lua'), 'utf8') +
  fs.readFileSync(path.join(here, '..', 'src', 'pool', 'lua', 'monitor_publish.lua'), 'utf8');

const resp = (args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
const now = () => Number(process.hrtime.bigint()) / 1e6;

function open(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/ws`, {
      headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false,
    });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
    ws.on('unexpected-response', (_, res) => reject(new Error(`socket ${i}: upgrade answered ${res.statusCode}`)));
  });
}

const sockets = [];
for (let i = 0; i < N; i += 50) {
  sockets.push(...await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, k) => open(i + k))));
}

let round = -1;
let got = 0;
let first = 0;
let last = 0;
let done = null;
for (const ws of sockets) {
  ws.on('message', (buf) => {
    const s = buf.toString('utf8');
    if (!s.includes('"bench_round":')) return;
    const m = JSON.parse(s);
    if (m.data.bench_round !== round) return;
    const t = now();
    if (got === 0) first = t;
    last = t;
    if (++got === N) done();
  });
}

const redis = net.connect({ port: Number(redisPort), host: '127.0.0.1' });
redis.setNoDelay(true);
await new Promise((r) => redis.once('connect', r));
redis.on('data', () => {});

const firsts = [];
const lasts = [];
for (round = 0; round < ROUNDS; round++) {
  got = 0;
  const data = JSON.stringify({
    ticket_id: 1, code: 'GSS-2612-0001', tech_id: 2, tech_name: 'Bench Teknisi', state: 'late',
    at: new Date().toISOString(), minutes_late: 16, bench_round: round,
  });
  const arrived = new Promise((r) => { done = r; });
  const t0 = now();
  redis.write(resp(['EVAL', lua, '1', seqKey, channel, 'monitor.late', data]));
  const timeout = new Promise((_, rej) => setTimeout(() => rej(new Error(`round ${round}: ${got}/${N} sockets after 5 s`)), 5000));
  await Promise.race([arrived, timeout]);
  firsts.push(first - t0);
  lasts.push(last - t0);
  await new Promise((r) => setTimeout(r, 50));
}
const pct = (a, p) => a.slice().sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))];
const f = (x) => x.toFixed(2);
console.log(`fan-out to ${N} CS sockets, ${ROUNDS} events: first socket p50 ${f(pct(firsts, 0.5))} ms;` +
  ` last socket p50 ${f(pct(lasts, 0.5))} ms, p90 ${f(pct(lasts, 0.9))} ms, max ${f(Math.max(...lasts))} ms`);
for (const ws of sockets) ws.terminate();
redis.destroy();
