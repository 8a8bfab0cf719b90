// RFC 6455 framing of gssd's WebSocket server, through the echo route
// (/api/v1/ws/echo, GSS_WS_ECHO=1, no session) with a raw TCP client whose
// frames are built here byte by byte: nothing in between can fix a frame up
// or hide what the server sent.
//
// Covered: the opening handshake and its refusals; echo of text and binary,
// fragmented, with control frames in between, split at every byte; ping and
// pong; the close handshake; every protocol error and its close code (1002,
// 1007, 1009); a client that stops reading is closed with 1008 while the
// server's memory stays bounded; 200 sockets leave no trace; the server's
// own ping every 30 s; graceful shutdown sends 1001.
//
// One gssd serves most tests, with GSS_WS_MAX_QUEUED lowered to 256 KiB so
// that the slow-client test hits it quickly; the shutdown test has its own.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';

import {
  startGssd, startRedis, createDatabase, rawConnect, rawRequest, parseResponses, http, scrapeMetrics,
  waitFor, sleep, tryConnect,
} from './harness.mjs';

const T = { timeout: 60000 };
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };
const MAX_MESSAGE = 65536; // GSS_WS_MAX_MESSAGE default
const MAX_QUEUED = 256 * 1024;
const ECHO = '/api/v1/ws/echo';

// ---------------------------------------------------------------------------
// A raw WebSocket client

/** frame(opcode, payload, {fin, mask, rsv, len}) → the bytes of one
 *  client frame. mask=false makes the illegal unmasked frame; len lies about
 *  the payload length (the payload bytes are still the given ones). */
function frame(opcode, payload = Buffer.alloc(0), { fin = true, mask = true, rsv = 0, len } = {}) {
  payload = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const n = len ?? payload.length;
  let hdr;
  if (n < 126) {
    hdr = Buffer.alloc(2);
    hdr[1] = n;
  } else if (n < 65536) {
    hdr = Buffer.alloc(4);
    hdr[1] = 126;
    hdr.writeUInt16BE(n, 2);
  } else {
    hdr = Buffer.alloc(10);
    hdr[1] = 127;
    hdr.writeBigUInt64BE(BigInt(n), 2);
  }
  hdr[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  if (!mask) return Buffer.concat([hdr, payload]);
  hdr[1] |= 0x80;
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([hdr, key, body]);
}

/** The payload of a close frame: code (or none when null) and reason. */
function closePayload(code, reason = '') {
  if (code === null) return Buffer.alloc(0);
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code, 0);
  return Buffer.concat([b, Buffer.isBuffer(reason) ? reason : Buffer.from(reason, 'utf8')]);
}

/** Server frames in buf from off: {frames, off}; an incomplete last frame
 *  stays unread. */
function parseFrames(buf, off) {
  const frames = [];
  for (;;) {
    if (buf.length - off < 2) break;
    const b0 = buf[off];
    const b1 = buf[off + 1];
    let n = b1 & 0x7f;
    let p = off + 2;
    if (n === 126) {
      if (buf.length < p + 2) break;
      n = buf.readUInt16BE(p);
      p += 2;
    } else if (n === 127) {
      if (buf.length < p + 8) break;
      n = Number(buf.readBigUInt64BE(p));
      p += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) p += 4;
    if (buf.length < p + n) break;
    const f = {
      fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload: buf.subarray(p, p + n),
    };
    if (f.opcode === OP.CLOSE) {
      f.code = n >= 2 ? f.payload.readUInt16BE(0) : null;
      f.reason = n > 2 ? f.payload.subarray(2).toString('utf8') : '';
    }
    frames.push(f);
    off = p + n;
  }
  return { frames, off };
}

const opName = (op) => Object.keys(OP).find((k) => OP[k] === op) || `op${op}`;
const describeFrame = (f) => `${opName(f.opcode)}${f.fin ? '' : '(no FIN)'} ${f.payload.length}B` +
  (f.opcode === OP.CLOSE ? ` code=${f.code} reason=${JSON.stringify(f.reason)}` : '');

/** The client side of one upgraded connection over a harness RawConn. */
class WsRaw {
  constructor(conn, bodyOff) {
    this.conn = conn;
    this.off = bodyOff;
    this.list = [];
    this.cursor = 0;
  }

  // Every server frame received so far (parsed incrementally).
  get frames() {
    const data = this.conn.data;
    if (data.length > this.off) {
      const r = parseFrames(data, this.off);
      this.list.push(...r.frames);
      this.off = r.off;
    }
    return this.list;
  }

  send(opcode, payload, opts) {
    return this.conn.write(frame(opcode, payload, opts));
  }

  sendRaw(bytes) {
    return this.conn.write(bytes);
  }

  // The next frame not yet returned; throws after ms.
  async next(ms = 5000) {
    const ok = await this.conn.waitUntil(() => this.frames.length > this.cursor, ms);
    if (!ok) {
      throw new Error(`no frame within ${ms} ms (closed=${this.conn.closed}); frames so far: ` +
        this.frames.map(describeFrame).join(', '));
    }
    return this.list[this.cursor++];
  }

  // Reads frames until a close frame; asserts its code and that nothing but
  // the opcodes in allowBefore came first; answers it when reply is set (a
  // close the server started waits for that); then waits for the server to
  // close TCP. Returns the close frame.
  async expectClose(code, what, { ms = 5000, allowBefore = [], reply = false } = {}) {
    for (;;) {
      const f = await this.next(ms).catch((err) => { throw new Error(`${what}: ${err.message}`); });
      if (f.opcode === OP.CLOSE) {
        assert.equal(f.code, code, `${what}: close code (reason ${JSON.stringify(f.reason)})`);
        assert.equal(f.masked, false, `${what}: server frames must not be masked`);
        if (reply) await this.send(OP.CLOSE, closePayload(f.code));
        const closed = await this.conn.waitForClose(ms);
        assert.ok(closed, `${what}: the server must close the TCP connection after the close frame`);
        return f;
      }
      assert.ok(allowBefore.includes(f.opcode), `${what}: unexpected ${describeFrame(f)} before the close frame`);
    }
  }

  destroy() {
    this.conn.destroy();
  }
}

/** wsOpen(port, {path, headers, extra, omit}) → {status, headers, res, ws,
 *  conn, key}: sends an opening handshake (plus `extra` bytes in the same
 *  write) and parses the answer's head. ws is set when the status is 101. */
async function wsOpen(port, { path = ECHO, headers = {}, extra = null, omit = [] } = {}) {
  const conn = await rawConnect(port);
  const key = crypto.randomBytes(16).toString('base64');
  const h = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  for (const k of omit) delete h[k];
  const head = `GET ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  await conn.write(extra ? Buffer.concat([Buffer.from(head, 'latin1'), extra]) : Buffer.from(head, 'latin1'));
  const got = await conn.waitForData((d) => d.indexOf('\r\n\r\n') >= 0, 5000);
  assert.ok(got, `no answer to the handshake (closed=${conn.closed}): ${JSON.stringify(conn.data.toString('latin1'))}`);
  const hend = conn.data.indexOf('\r\n\r\n') + 4;
  const lines = conn.data.subarray(0, hend - 4).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0])?.[1]);
  const hdrs = {};
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    const k = l.slice(0, c).toLowerCase();
    const v = l.slice(c + 1).trim();
    hdrs[k] = k in hdrs ? `${hdrs[k]}, ${v}` : v;
  }
  let res = null;
  if (status !== 101) {
    await conn.waitUntil(() => {
      try {
        const rs = parseResponses(conn.data);
        return rs.length && rs[0].complete;
      } catch {
        return false;
      }
    }, 3000);
    res = parseResponses(conn.data)[0];
  }
  return { status, headers: hdrs, res, conn, key, ws: status === 101 ? new WsRaw(conn, hend) : null };
}

const acceptOf = (key) => crypto.createHash('sha1').update(key + GUID).digest('base64');

// ---------------------------------------------------------------------------

let redis;
let database;
let gssd;
let pingSock; // opened first, checked last: the server's own ping
let pingSockOpenedAt;

async function echoSocket() {
  const r = await wsOpen(gssd.port);
  assert.equal(r.status, 101, `handshake status; answer: ${JSON.stringify(r.conn.data.toString('latin1').slice(0, 300))}`);
  return r.ws;
}

async function metric(name) {
  const m = await scrapeMetrics(gssd.url);
  const v = m.value(name);
  assert.notEqual(v, undefined, `/metrics has no ${name}`);
  return v;
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

before(async () => {
  redis = await startRedis();
  database = await createDatabase();
  gssd = await startGssd({
    redis, database, env: { GSS_WS_ECHO: '1', GSS_WS_MAX_QUEUED: String(MAX_QUEUED) },
  });
  pingSock = await echoSocket();
  pingSockOpenedAt = Date.now();
}, T);

after(async () => {
  if (gssd) assert.equal(await gssd.stop('SIGTERM', 20000), 0, 'gssd should exit 0 on SIGTERM');
});

describe('opening handshake', () => {
  it('answers 101 with the RFC 6455 accept value and no extension or subprotocol', T, async () => {
    const r = await wsOpen(gssd.port, {
      headers: {
        'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
        'Sec-WebSocket-Protocol': 'chat, superchat',
      },
    });
    assert.equal(r.status, 101);
    assert.equal(r.headers.upgrade?.toLowerCase(), 'websocket');
    assert.ok(/\bupgrade\b/i.test(r.headers.connection || ''), `Connection: ${r.headers.connection}`);
    assert.equal(r.headers['sec-websocket-accept'], acceptOf(r.key));
    assert.equal(r.headers['sec-websocket-extensions'], undefined, 'no extension is negotiated');
    assert.equal(r.headers['sec-websocket-protocol'], undefined, 'no subprotocol is chosen');
    // The example of RFC 6455 §1.3, end to end.
    const ex = await wsOpen(gssd.port, { headers: { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
    assert.equal(ex.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    r.ws.destroy();
    ex.ws.destroy();
  });

  it('accepts header values in any case and token lists', T, async () => {
    const r = await wsOpen(gssd.port, { headers: { Upgrade: 'WebSocket', Connection: 'keep-alive, UPGRADE' } });
    assert.equal(r.status, 101);
    await r.ws.send(OP.TEXT, 'hi');
    const f = await r.ws.next();
    assert.equal(f.payload.toString(), 'hi');
    r.ws.destroy();
  });

  it('refuses a wrong version with 426 and Sec-WebSocket-Version: 13', T, async () => {
    const r = await wsOpen(gssd.port, { headers: { 'Sec-WebSocket-Version': '8' } });
    assert.equal(r.status, 426);
    assert.equal(r.headers['sec-websocket-version'], '13');
    assert.ok(await r.conn.waitForClose(3000), 'a refused upgrade closes the connection');
    const none = await wsOpen(gssd.port, { omit: ['Sec-WebSocket-Version'] });
    assert.equal(none.status, 426);
    assert.equal(none.headers['sec-websocket-version'], '13');
  });

  it('refuses a missing or malformed Sec-WebSocket-Key with 400', T, async () => {
    for (const key of [null, '', 'short', crypto.randomBytes(15).toString('base64'),
      crypto.randomBytes(17).toString('base64'), 'dGhlIHNhbXBsZSBub25jZQ=!']) {
      const r = await wsOpen(gssd.port, key === null ? { omit: ['Sec-WebSocket-Key'] } : { headers: { 'Sec-WebSocket-Key': key } });
      assert.equal(r.status, 400, `key ${JSON.stringify(key)}`);
      assert.equal(r.res.json().error.code, 'bad_handshake');
    }
  });

  it('answers a GET without Upgrade with 426, and keeps HTTP working', T, async () => {
    const r = await http(`${gssd.url}${ECHO}`);
    assert.equal(r.status, 426);
    assert.equal(r.json?.error?.code, 'upgrade_required');
    assert.equal(r.headers.get('upgrade'), 'websocket');
    const noConn = await wsOpen(gssd.port, { omit: ['Connection'] });
    assert.equal(noConn.status, 426);
  });

  it('answers a non-GET with 405', T, async () => {
    const buf = await rawRequest(gssd.port, `POST ${ECHO} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, { timeout: 3000 });
    assert.equal(parseResponses(buf)[0].status, 405);
  });

  it('reads frames sent in the same packet as the handshake', T, async () => {
    const extra = Buffer.concat([frame(OP.TEXT, 'early'), frame(OP.BINARY, Buffer.from([1, 2, 3]))]);
    const r = await wsOpen(gssd.port, { extra });
    assert.equal(r.status, 101);
    const a = await r.ws.next();
    const b = await r.ws.next();
    assert.deepEqual([a.opcode, a.payload.toString()], [OP.TEXT, 'early']);
    assert.deepEqual([b.opcode, [...b.payload]], [OP.BINARY, [1, 2, 3]]);
    r.ws.destroy();
  });
});

describe('echo', () => {
  it('sends text back as text and binary as binary, at every length encoding', T, async () => {
    const ws = await echoSocket();
    const bin = crypto.randomBytes(MAX_MESSAGE);
    const cases = [
      [OP.TEXT, Buffer.from('')],
      [OP.TEXT, Buffer.from('hello, 世界 🚀')],
      [OP.BINARY, Buffer.alloc(0)],
      [OP.BINARY, bin.subarray(0, 125)],
      [OP.BINARY, bin.subarray(0, 126)],
      [OP.BINARY, bin.subarray(0, 65535)],
      [OP.BINARY, bin], // exactly GSS_WS_MAX_MESSAGE, 64-bit length
      [OP.TEXT, Buffer.from('x'.repeat(MAX_MESSAGE))],
    ];
    for (const [op, payload] of cases) {
      await ws.send(op, payload);
      const f = await ws.next();
      assert.equal(f.opcode, op, `opcode for ${payload.length} bytes`);
      assert.ok(f.fin, 'echo frames are final');
      assert.equal(f.rsv, 0);
      assert.equal(f.masked, false, 'server frames are never masked');
      assert.ok(f.payload.equals(payload), `payload of ${payload.length} bytes comes back unchanged`);
    }
    ws.destroy();
  });

  it('reassembles fragmented messages with pings and pongs in between', T, async () => {
    const ws = await echoSocket();
    // "héllo wörld": the é is split between two fragments.
    const text = Buffer.from('héllo wörld', 'utf8');
    await ws.sendRaw(Buffer.concat([
      frame(OP.TEXT, text.subarray(0, 2), { fin: false }),
      frame(OP.PING, 'p1'),
      frame(OP.CONT, text.subarray(2, 7), { fin: false }),
      frame(OP.PONG, 'unsolicited'),
      frame(OP.CONT, Buffer.alloc(0), { fin: false }),
      frame(OP.PING, 'p2'),
      frame(OP.CONT, text.subarray(7), { fin: true }),
    ]));
    const got = [await ws.next(), await ws.next(), await ws.next()];
    assert.deepEqual(got.map((f) => [f.opcode, f.payload.toString()]),
      [[OP.PONG, 'p1'], [OP.PONG, 'p2'], [OP.TEXT, 'héllo wörld']]);
    // Binary in many fragments, one per write.
    const bin = crypto.randomBytes(3000);
    for (let i = 0; i < 3000; i += 500) {
      await ws.send(i === 0 ? OP.BINARY : OP.CONT, bin.subarray(i, i + 500), { fin: i + 500 >= 3000 });
    }
    const f = await ws.next();
    assert.equal(f.opcode, OP.BINARY);
    assert.ok(f.payload.equals(bin), 'fragmented binary message reassembled');
    ws.destroy();
  });

  it('parses frames delivered one byte at a time', T, async () => {
    const ws = await echoSocket();
    const bytes = Buffer.concat([frame(OP.TEXT, 'a'.repeat(300)), frame(OP.PING, 'x'), frame(OP.BINARY, Buffer.from([0, 255]))]);
    for (const b of bytes) await ws.sendRaw(Buffer.from([b]));
    const got = [await ws.next(), await ws.next(), await ws.next()];
    assert.deepEqual(got.map((f) => [f.opcode, f.payload.length]), [[OP.TEXT, 300], [OP.PONG, 1], [OP.BINARY, 2]]);
    ws.destroy();
  });

  it('answers a ping with a pong carrying the same payload', T, async () => {
    const ws = await echoSocket();
    for (const payload of [Buffer.alloc(0), Buffer.from('ping?'), crypto.randomBytes(125)]) {
      await ws.send(OP.PING, payload);
      const f = await ws.next();
      assert.equal(f.opcode, OP.PONG);
      assert.ok(f.payload.equals(payload), `pong payload of ${payload.length} bytes`);
    }
    // A pong alone gets no answer; the socket keeps working.
    await ws.send(OP.PONG, 'x');
    await ws.send(OP.TEXT, 'after pong');
    const f = await ws.next();
    assert.deepEqual([f.opcode, f.payload.toString()], [OP.TEXT, 'after pong']);
    ws.destroy();
  });
});

describe('close handshake', () => {
  for (const [what, payload, expect] of [
    ['1000 with a reason', closePayload(1000, 'bye'), 1000],
    ['an application code (4001)', closePayload(4001), 4001],
    ['1001', closePayload(1001, 'going'), 1001],
    ['no status code (answered 1000)', closePayload(null), 1000],
  ]) {
    it(`echoes ${what} and closes TCP`, T, async () => {
      const ws = await echoSocket();
      await ws.send(OP.TEXT, 'before');
      await ws.send(OP.CLOSE, payload);
      // Frames after a close are ignored.
      await ws.send(OP.TEXT, 'after close');
      await ws.expectClose(expect, what, { allowBefore: [OP.TEXT] });
      assert.equal(ws.frames.filter((f) => f.opcode === OP.TEXT).length, 1, 'only the message before the close is echoed');
      ws.destroy();
    });
  }
});

describe('protocol errors close with the RFC code', () => {
  const cases = [
    ['an unmasked frame', () => frame(OP.TEXT, 'hi', { mask: false }), 1002],
    ['reserved opcode 3', () => frame(3, 'x'), 1002],
    ['reserved control opcode 0xB', () => frame(0xb, ''), 1002],
    ['RSV1 set', () => frame(OP.TEXT, 'x', { rsv: 4 }), 1002],
    ['RSV3 set on a ping', () => frame(OP.PING, '', { rsv: 1 }), 1002],
    ['a fragmented ping', () => frame(OP.PING, 'x', { fin: false }), 1002],
    ['a fragmented close', () => frame(OP.CLOSE, closePayload(1000), { fin: false }), 1002],
    ['a ping over 125 bytes', () => frame(OP.PING, Buffer.alloc(126)), 1002],
    ['a continuation with no message open', () => frame(OP.CONT, 'x'), 1002],
    ['a new message inside a fragmented one', () => Buffer.concat([
      frame(OP.TEXT, 'a', { fin: false }), frame(OP.TEXT, 'b')]), 1002],
    ['a close with a 1-byte payload', () => frame(OP.CLOSE, Buffer.from([3])), 1002],
    ['a close with code 1005 (never on the wire)', () => frame(OP.CLOSE, closePayload(1005)), 1002],
    ['a close with code 999', () => frame(OP.CLOSE, closePayload(999)), 1002],
    ['a close with code 2999', () => frame(OP.CLOSE, closePayload(2999)), 1002],
    ['invalid UTF-8 in a text message', () => frame(OP.TEXT, Buffer.from([0x68, 0xc3, 0x28])), 1007],
    ['an overlong encoding', () => frame(OP.TEXT, Buffer.from([0xc0, 0xaf])), 1007],
    ['a UTF-16 surrogate', () => frame(OP.TEXT, Buffer.from([0xed, 0xa0, 0x80])), 1007],
    ['invalid UTF-8 across fragments', () => Buffer.concat([
      frame(OP.TEXT, Buffer.from([0xce]), { fin: false }), frame(OP.CONT, Buffer.from([0x41]))]), 1007],
    ['a text message ending mid-character', () => frame(OP.TEXT, Buffer.from([0x41, 0xe2, 0x82])), 1007],
    ['invalid UTF-8 in a close reason', () => frame(OP.CLOSE, closePayload(1000, Buffer.from([0xff]))), 1007],
    ['a frame over GSS_WS_MAX_MESSAGE', () => frame(OP.BINARY, Buffer.alloc(MAX_MESSAGE + 1)), 1009],
    ['a declared length over the limit, with no payload sent',
      () => frame(OP.BINARY, Buffer.alloc(0), { len: 1 << 30 }), 1009],
    ['fragments adding up to more than GSS_WS_MAX_MESSAGE', () => Buffer.concat([
      frame(OP.TEXT, 'a'.repeat(40000), { fin: false }), frame(OP.CONT, 'b'.repeat(40000))]), 1009],
  ];
  for (const [what, bytes, code] of cases) {
    it(`${what} → ${code}`, T, async () => {
      const ws = await echoSocket();
      await ws.sendRaw(bytes());
      await ws.expectClose(code, what);
      ws.destroy();
    });
  }

  it('counts protocol errors in /metrics', T, async () => {
    const n = await metric('gss_ws_protocol_errors_total');
    assert.ok(n >= cases.length, `gss_ws_protocol_errors_total ${n} < ${cases.length}`);
  });
});

describe('limits', () => {
  it('closes a client that stops reading with 1008, keeping memory bounded', T, async () => {
    const r = await wsOpen(gssd.port);
    assert.equal(r.status, 101);
    const ws = r.ws;
    const dropped0 = await metric('gss_ws_dropped_slow_total');
    const rss0 = rssKiB(gssd.pid);
    r.conn.socket.pause(); // stop reading: the kernel buffers fill, then gssd's queue
    const msg = crypto.randomBytes(60 * 1024);
    let sent = 0;
    let dropped = dropped0;
    while (dropped === dropped0 && sent < 2000) {
      if (!(await ws.send(OP.BINARY, msg))) break;
      sent++;
      if (sent % 8 === 0) dropped = await metric('gss_ws_dropped_slow_total');
    }
    dropped = await metric('gss_ws_dropped_slow_total');
    assert.equal(dropped, dropped0 + 1, `gss_ws_dropped_slow_total after ${sent} unread 60 KiB echoes`);
    const grew = rssKiB(gssd.pid) - rss0;
    // The queue cap is 256 KiB; a generous bound that an unbounded queue of
    // `sent` echoes (several MB) would still blow through on a slower run.
    assert.ok(grew < 48 * 1024, `gssd RSS grew by ${grew} KiB while ${sent} messages were refused`);
    // The server is still answering.
    const t0 = Date.now();
    const h = await http(`${gssd.url}/healthz`, { timeout: 2000 });
    assert.equal(h.status, 200);
    assert.ok(Date.now() - t0 < 1000, '/healthz slow while a client is being dropped');
    // Reading again: the echoes that fitted arrive intact, then the 1008.
    r.conn.socket.resume();
    const t1 = Date.now();
    const close = await ws.expectClose(1008, 'slow client', { ms: 5000, allowBefore: [OP.BINARY], reply: true });
    assert.ok(Date.now() - t1 < 3000, 'the close handshake should end as soon as the client answers');
    assert.match(close.reason, /queue/i);
    const echoes = ws.frames.filter((f) => f.opcode === OP.BINARY);
    assert.ok(echoes.length > 0 && echoes.length < sent, `${echoes.length} echoes of ${sent}`);
    for (const f of echoes) assert.ok(f.payload.equals(msg), 'an echo was corrupted');
    ws.destroy();
  });

  it('200 sockets opened and closed leave gss_ws_connections where it was', T, async () => {
    // Sockets of earlier tests may still be in their close linger (up to
    // WS_CLOSE_WAIT_MS); start from a settled count: only the ping socket.
    await waitFor(async () => (await metric('gss_ws_connections')) === 1,
      { timeout: 10000, interval: 100, what: 'only the ping socket open before the test' });
    const base = 1;
    const socks = [];
    for (let i = 0; i < 200; i += 50) {
      socks.push(...await Promise.all(Array.from({ length: 50 }, () => echoSocket())));
    }
    assert.equal(await metric('gss_ws_connections'), base + 200);
    // Every one works.
    await Promise.all(socks.map((ws, i) => ws.send(OP.TEXT, `n${i}`)));
    const got = await Promise.all(socks.map((ws) => ws.next()));
    assert.deepEqual(got.map((f) => f.payload.toString()), socks.map((_, i) => `n${i}`));
    // Half close cleanly, a quarter just hang up, a quarter vanish mid-frame.
    await Promise.all(socks.map(async (ws, i) => {
      if (i % 2 === 0) {
        await ws.send(OP.CLOSE, closePayload(1000));
        await ws.expectClose(1000, `socket ${i}`);
        ws.destroy();
      } else if (i % 4 === 1) {
        ws.destroy();
      } else {
        await ws.sendRaw(frame(OP.BINARY, Buffer.alloc(1000)).subarray(0, 500));
        ws.destroy();
      }
    }));
    await waitFor(async () => (await metric('gss_ws_connections')) === base,
      { timeout: 10000, interval: 100, what: `gss_ws_connections back to ${base}` });
    const open = (await scrapeMetrics(gssd.url)).value('gss_http_connections_open');
    assert.ok(open <= base + 2, `gss_http_connections_open ${open} after the sockets closed`);
  });
});

describe('liveness', () => {
  it('the server pings every open socket every 30 s', { timeout: 60000 }, async () => {
    const ws = pingSock;
    const wait = Math.max(0, pingSockOpenedAt + 31000 - Date.now());
    const ok = await ws.conn.waitUntil(() => ws.frames.some((f) => f.opcode === OP.PING), wait + 1000);
    assert.ok(ok, `no ping within 31 s of opening; frames: ${ws.frames.map(describeFrame).join(', ')}`);
    const ping = ws.frames.find((f) => f.opcode === OP.PING);
    assert.ok(ping.fin && !ping.masked && ping.payload.length <= 125);
    // Answering keeps the socket alive and working.
    await ws.send(OP.PONG, ping.payload);
    await ws.send(OP.TEXT, 'still here');
    const ok2 = await ws.conn.waitUntil(() => ws.frames.some((f) => f.opcode === OP.TEXT), 3000);
    assert.ok(ok2, 'echo after the ping');
    await ws.send(OP.CLOSE, closePayload(1000));
    await ws.conn.waitForClose(3000);
  });
});

describe('graceful shutdown', () => {
  it('sends 1001 to every socket, waits for the close handshake, and exits 0', T, async () => {
    const g = await startGssd({ redis, database, env: { GSS_WS_ECHO: '1' } });
    const polite = (await wsOpen(g.port)).ws;
    const mute = (await wsOpen(g.port)).ws;
    const t0 = Date.now();
    g.signal('SIGTERM');
    // The polite client answers the close; the mute one never does.
    const f = await polite.next(3000);
    assert.equal(f.opcode, OP.CLOSE);
    assert.equal(f.code, 1001);
    await polite.send(OP.CLOSE, closePayload(1001));
    assert.ok(await polite.conn.waitForClose(3000), 'the server closes TCP after the close handshake');
    const m = await mute.next(3000);
    assert.equal(m.code, 1001);
    assert.equal(await tryConnect(g.port, { timeout: 500 }), 'refused', 'no new connections while draining');
    assert.ok(await mute.conn.waitForClose(9000), 'a client that ignores the close is dropped');
    const ex = await g.waitExit(10000);
    assert.equal(ex.code, 0, 'gssd exit code');
    const ms = ex.at - t0;
    assert.ok(ms < 8000, `shutdown took ${ms} ms`);
    await sleep(0);
  });
});
