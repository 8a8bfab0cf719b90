// Uploads (docs/fieldwork.md, "POST /api/v1/tickets/{id}/attachments" and
// "GET /api/v1/attachments/{id}"): files made here (a real PDF and PNG, or
// random bytes behind a magic number), hashed here, looked for on disk and in
// the attachments table; caps, broken and killed uploads, and a full disk (a
// 1 MiB tmpfs) that must leave nothing behind.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { startGssd, startRedis, createDatabase, makeTmpDir, run, sleep, parseResponses, http } from './harness.mjs';
import {
  fieldSetup, ticketFor, upload, rawUpload, waitStatus, makePdf, makePng, bigFile, sha256hex, filesUnder, countRows,
  api,
} from './field_util.mjs';

const T = { timeout: 60000 };
const KiB = 1024;
const MiB = 1024 * 1024;
const PHOTO_MAX = 65536;

let ctx;
let g;
let uploadDir;
let redis;
let database;
let env;
let tech;
let ticket;
let full = null; // the full-disk gssd
let mountDir = null;
let mounted = false;

before(async () => {
  redis = await startRedis();
  database = await createDatabase();
  uploadDir = path.join(await makeTmpDir('files'), 'uploads');
  env = { GSS_UPLOAD_DIR: uploadDir, GSS_UPLOAD_PHOTO_MAX: PHOTO_MAX };
  ctx = await fieldSetup({ techs: 6, tag: 'up', redis, database, env });
  g = ctx.g;
  tech = ctx.tech();
  ticket = await ticketFor(ctx, [tech]);
  await waitStatus(ctx, ticket.id, 'assigned');
}, { timeout: 60000 });

after(async () => {
  if (full) await full.stop('SIGTERM', 20000).catch(() => {});
  if (mounted) {
    const r = await run('umount', [mountDir]);
    if (r.code !== 0) await run('umount', ['-l', mountDir]);
  }
  if (g) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

const rows = (where = 'true') => countRows(database.url, `SELECT count(*) FROM attachments WHERE ${where}`);

/** The folder a file stored now should be in: yyyy/mm, in UTC or in
 *  Jakarta time (the contract does not say which; both are the same month
 *  but for seven hours a month). */
function monthDirs() {
  const d = new Date();
  const utc = `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  const j = new Date(d.getTime() + 7 * 3600 * 1000);
  const wib = `${j.getUTCFullYear()}/${String(j.getUTCMonth() + 1).padStart(2, '0')}`;
  return [...new Set([utc, wib])];
}

function storedPath(sha) {
  for (const m of monthDirs()) {
    const p = path.join(uploadDir, m, sha);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

/** Files under the upload folder, less the ones that were there before. */
function newFiles(before) {
  const had = new Set(before);
  return filesUnder(uploadDir).filter((f) => !had.has(f));
}

async function waitNoNewFiles(before, ms = 5000) {
  const t0 = Date.now();
  while (newFiles(before).length && Date.now() - t0 < ms) await sleep(50);
  return newFiles(before);
}

describe('upload and download', () => {
  it('a BAST (a real PDF): 201 with our sha256 and size, stored at yyyy/mm/<sha256>, served back byte for byte', T, async () => {
    const pdf = makePdf('Berita Acara Serah Terima');
    const want = sha256hex(pdf);
    const r = await upload(g, tech.token, ticket.id, 'bast', pdf);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.sha256, want, 'sha256 of the bytes we sent');
    assert.equal(r.json.size, pdf.length);
    assert.equal(r.json.kind, 'bast');
    assert.equal(r.json.content_type, 'application/pdf');
    assert.ok(Number.isInteger(r.json.id) && r.json.id > 0, r.text);
    const p = storedPath(want);
    assert.ok(p, `a file at ${uploadDir}/{${monthDirs().join(',')}}/${want}; found ${filesUnder(uploadDir)}`);
    assert.ok(fs.readFileSync(p).equals(pdf), 'the stored file holds the bytes sent');
    assert.deepEqual(filesUnder(path.join(uploadDir, 'tmp')), [], 'nothing left in tmp/');

    const d = await api(g, tech.token, 'GET', `/api/v1/attachments/${r.json.id}`);
    assert.equal(d.status, 200, d.text.slice(0, 200));
    assert.ok(d.body.equals(pdf), 'download = upload');
    assert.equal(d.headers.get('content-type'), 'application/pdf');
    assert.equal(d.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(d.headers.get('content-disposition'), `inline; filename="bast-${r.json.id}.pdf"`);
    assert.match(d.headers.get('content-security-policy') || '', /\bsandbox\b/);

    const tk = (await api(g, ctx.cs, 'GET', `/api/v1/tickets/${ticket.id}`)).json;
    const a = tk.attachments.find((x) => x.id === r.json.id);
    assert.ok(a, `the ticket lists the attachment: ${JSON.stringify(tk.attachments)}`);
    assert.deepEqual([a.kind, a.content_type, a.size, a.sha256, a.uploaded_by], ['bast', 'application/pdf', pdf.length, want, tech.id]);
    assert.equal(a.url, `/api/v1/attachments/${r.json.id}`);
  });

  it('a PNG sent as image/jpeg is stored and served as image/png', T, async () => {
    const png = makePng(5, 4, 9);
    const r = await upload(g, tech.token, ticket.id, 'photo', png, { contentType: 'image/jpeg' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.content_type, 'image/png', 'the type comes from the magic bytes');
    assert.equal(r.json.sha256, sha256hex(png));
    const d = await api(g, ctx.cs, 'GET', `/api/v1/attachments/${r.json.id}`);
    assert.equal(d.status, 200);
    assert.equal(d.headers.get('content-type'), 'image/png');
    assert.equal(d.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(d.headers.get('content-disposition'), `inline; filename="photo-${r.json.id}.png"`);
    assert.ok(d.body.equals(png));
  });

  it('HTML or text: 415 unsupported_type, nothing on disk nor in the table', T, async () => {
    const before = filesUnder(uploadDir);
    const n = await rows();
    const cases = [
      ['HTML as text/html', Buffer.from('<!doctype html><html><script>alert(1)</script></html>'), 'text/html'],
      ['HTML claiming to be a PDF', Buffer.from('<html><body>%PDF-1.4</body></html>'), 'application/pdf'],
      ['plain text as image/png', Buffer.from('just some words, no picture at all\n'), 'image/png'],
    ];
    for (const [what, bytes, type] of cases) {
      const r = await upload(g, tech.token, ticket.id, 'photo', bytes, { contentType: type });
      assert.equal(r.status, 415, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.json?.error?.code, 'unsupported_type', `${what}: ${r.text}`);
    }
    assert.deepEqual(await waitNoNewFiles(before), [], 'no file left');
    assert.equal(await rows(), n, 'no row');
  });
});

describe('caps', () => {
  it('Content-Length over the photo cap with Expect: 100-continue: 413 at once, never 100', T, async () => {
    const before = filesUnder(uploadDir);
    const { res, conn } = await rawUpload(g.port, tech.token, ticket.id, 'photo', {
      headers: { 'content-type': 'image/png', 'content-length': String(PHOTO_MAX + 1), expect: '100-continue' },
      wait: 5000,
    });
    const head = conn.data.toString('latin1').slice(0, 40);
    conn.destroy();
    assert.ok(res, `an answer without sending the body: ${JSON.stringify(head)}`);
    assert.ok(head.startsWith('HTTP/1.1 413'), `the first bytes are the 413, not a 100: ${JSON.stringify(head)}`);
    assert.equal(res.json().error.code, 'payload_too_large');
    assert.deepEqual(newFiles(before), []);
  });

  it('within the cap, Expect: 100-continue gets a 100 and then the 201', T, async () => {
    const png = makePng(8, 8, 3);
    const conn = (await rawUpload(g.port, tech.token, ticket.id, 'photo', {
      headers: { 'content-type': 'image/png', 'content-length': String(png.length), expect: '100-continue' },
      wait: 1500,
    })).conn;
    // rawUpload returned once a final answer came or 1.5 s passed; the body is still unsent.
    const early = parseResponses(conn.data);
    assert.equal(early.length, 1, `only an interim answer before the body: ${conn.data.toString('latin1')}`);
    assert.equal(early[0].status, 100);
    await conn.write(png);
    const rs = await conn.waitForResponses(2, 10000);
    conn.destroy();
    assert.equal(rs[1].status, 201, rs[1].text());
    assert.equal(rs[1].json().sha256, sha256hex(png));
  });

  it('a chunked body that passes the cap: 413, nothing written', T, async () => {
    const before = filesUnder(uploadDir);
    const n = await rows();
    const body = bigFile(PHOTO_MAX + 40 * KiB, 'png');
    const parts = [];
    for (let off = 0; off < body.length; off += 16 * KiB) {
      const c = body.subarray(off, off + 16 * KiB);
      parts.push(Buffer.concat([Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]));
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    const { res, conn } = await rawUpload(g.port, tech.token, ticket.id, 'photo', {
      headers: { 'content-type': 'image/png', 'transfer-encoding': 'chunked' }, parts,
    });
    conn.destroy();
    assert.ok(res, 'an answer');
    assert.equal(res.status, 413, res.text());
    assert.equal(res.json().error.code, 'payload_too_large');
    assert.deepEqual(await waitNoNewFiles(before), [], 'no file left, not even in tmp/');
    assert.equal(await rows(), n, 'no row');
  });
});

describe('edges', () => {
  it('exactly the cap passes (Content-Length and chunked); an empty body and an unknown kind are 422', T, async () => {
    const a = bigFile(PHOTO_MAX, 'png');
    const r1 = await upload(g, tech.token, ticket.id, 'photo', a, { contentType: 'image/png' });
    assert.equal(r1.status, 201, `Content-Length = cap: ${r1.text}`);
    assert.equal(r1.json.sha256, sha256hex(a));
    const b = bigFile(PHOTO_MAX, 'png');
    const parts = [];
    for (let off = 0; off < b.length; off += 10000) {
      const c = b.subarray(off, off + 10000);
      parts.push(Buffer.concat([Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]));
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    const r2 = await rawUpload(g.port, tech.token, ticket.id, 'photo', { headers: { 'content-type': 'image/png', 'transfer-encoding': 'chunked' }, parts });
    r2.conn.destroy();
    assert.equal(r2.res?.status, 201, `chunked, exactly the cap: ${r2.res?.text()}`);
    assert.equal(r2.res.json().sha256, sha256hex(b));

    const n = await rows();
    const e = await upload(g, tech.token, ticket.id, 'photo', Buffer.alloc(0), { contentType: 'image/png' });
    assert.equal(e.status, 422, e.text);
    assert.equal(e.json?.error?.code, 'empty_body');
    const k = await upload(g, tech.token, ticket.id, 'receipt', makePng(), { contentType: 'image/png' });
    assert.equal(k.status, 422, k.text);
    assert.equal(k.json?.error?.code, 'validation_failed');
    assert.match(k.json.error.message, /^kind\b/);
    // A payment proof is CS's record of money received, not a technician's.
    const p = await upload(g, tech.token, ticket.id, 'payment_proof', makePng(), { contentType: 'image/png' });
    assert.equal(p.status, 403, p.text);
    assert.equal(p.json?.error?.code, 'forbidden');
    assert.equal(await rows(), n, 'no row for any of them');
  });

  it('magic bytes split across packets are still sniffed; HEAD of a download has the headers and no body', T, async () => {
    const png = makePng(9, 2, 21);
    const { conn } = await rawUpload(g.port, tech.token, ticket.id, 'photo', {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(png.length) }, parts: [png.subarray(0, 3)], wait: 150,
    });
    await sleep(100);
    await conn.write(png.subarray(3, 6));
    await sleep(100);
    await conn.write(png.subarray(6));
    const [res] = await conn.waitForResponses(1, 10000);
    conn.destroy();
    assert.equal(res.status, 201, res.text());
    assert.equal(res.json().content_type, 'image/png');
    assert.equal(res.json().sha256, sha256hex(png));

    const h = await http(`${g.url}/api/v1/attachments/${res.json().id}`, { method: 'HEAD', headers: { authorization: `Bearer ${tech.token}` } });
    assert.equal(h.status, 200);
    assert.equal(h.body.length, 0);
    assert.equal(h.headers.get('content-type'), 'image/png');
    assert.equal(h.headers.get('content-length'), String(png.length));
    assert.equal(h.headers.get('x-content-type-options'), 'nosniff');
  });
});

describe('broken uploads leave nothing', () => {
  it('a client that goes away after 100 KiB of 1 MiB: no file (tmp/ included), no row', T, async () => {
    const before = filesUnder(uploadDir);
    const n = await rows();
    const body = bigFile(MiB, 'pdf');
    const { conn } = await rawUpload(g.port, tech.token, ticket.id, 'bast', {
      headers: { 'content-length': String(MiB) }, parts: [body.subarray(0, 100 * KiB)], wait: 300,
    });
    // Give the server the bytes, then vanish.
    const sawPart = await waitUntil(() => newFiles(before).length > 0, 2000);
    conn.destroy();
    assert.deepEqual(await waitNoNewFiles(before), [], `no file left (a temporary one was ${sawPart ? '' : 'not '}seen)`);
    await sleep(300);
    assert.deepEqual(newFiles(before), [], 'still nothing a moment later');
    assert.equal(await rows(), n, 'no row');
    // The server is fine afterwards.
    const ok = await upload(g, tech.token, ticket.id, 'photo', makePng(2, 2, 77));
    assert.equal(ok.status, 201, ok.text);
  });

  it('an Idempotency-Key retry stores one row (200, replayed)', T, async () => {
    const png = makePng(6, 6, 42);
    const key = `up-${ticket.id}-retry_1`;
    const r1 = await upload(g, tech.token, ticket.id, 'photo', png, { contentType: 'image/png', idem: key });
    assert.equal(r1.status, 201, r1.text);
    const before = filesUnder(uploadDir);
    const r2 = await upload(g, tech.token, ticket.id, 'photo', png, { contentType: 'image/png', idem: key });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.replayed, true, r2.text);
    assert.equal(r2.json.id, r1.json.id);
    assert.equal(r2.json.sha256, sha256hex(png));
    assert.equal(await rows(`idempotency_key = '${key}'`), 1, 'one row for the key');
    assert.equal(await rows(`sha256 = '${sha256hex(png)}'`), 1, 'one row for the content');
    assert.deepEqual(await waitNoNewFiles(before), [], 'no second file');
  });

  it('two uploads with one key at the same time: one row; the other is the stored result or duplicate_request', T, async () => {
    const png = makePng(7, 7, 11);
    const key = `up-${ticket.id}-concurrent`;
    const rs = await Promise.all([0, 1].map(() => upload(g, tech.token, ticket.id, 'photo', png, { contentType: 'image/png', idem: key })));
    const answers = rs.map((r) => (r.status === 201 ? '201' : r.status === 200 && r.json.replayed ? '200 replayed' : `${r.status} ${r.json?.error?.code}`)).sort();
    assert.ok(['201|409 duplicate_request', '200 replayed|201'].includes(answers.join('|')), `answers: ${answers.join(' + ')}`);
    assert.equal(await rows(`idempotency_key = '${key}'`), 1, 'one row');
    assert.deepEqual(filesUnder(path.join(uploadDir, 'tmp')), [], 'nothing left in tmp/');
  });

  it('an upload key already used on another ticket does not answer for this one', T, async () => {
    const other = await ticketFor(ctx, [tech], { scheduled_at: '2026-12-20T03:00:00Z' });
    const key = `up-cross-${ticket.id}`;
    const first = await upload(g, tech.token, ticket.id, 'photo', makePng(3, 5, 1), { contentType: 'image/png', idem: key });
    assert.equal(first.status, 201, first.text);
    const png = makePng(5, 3, 2);
    const r = await upload(g, tech.token, other.id, 'photo', png, { contentType: 'image/png', idem: key });
    const listed = (await api(g, ctx.cs, 'GET', `/api/v1/tickets/${other.id}`)).json.attachments;
    // Either refused as a reused key, or stored on this ticket; never an
    // answer naming an attachment of another ticket while this one has none.
    const refusedReuse = r.status === 422 && r.json?.error?.code === 'idempotency_key_reused';
    const stored = (r.status === 201 || r.status === 200) && listed.some((a) => a.id === r.json.id && a.sha256 === sha256hex(png));
    assert.ok(refusedReuse || stored,
      `upload to ticket ${other.id} with the key of ticket ${ticket.id}: ${r.status} ${r.text}; ticket ${other.id} lists ${JSON.stringify(listed)}`);
  });

  it('20 concurrent 1 MiB uploads all succeed with the right sha256', T, async () => {
    const files = Array.from({ length: 20 }, () => bigFile(MiB, 'pdf'));
    const rs = await Promise.all(files.map((f) => upload(g, tech.token, ticket.id, 'bast', f)));
    const bad = rs.map((r, i) => [i, r.status, r.json?.sha256 === sha256hex(files[i]), r.json?.size]).filter(([, s, ok, size]) => s !== 201 || !ok || size !== MiB);
    assert.deepEqual(bad, [], `every upload 201 with our sha256: ${rs.filter((r) => r.status !== 201).map((r) => r.text).slice(0, 3)}`);
    assert.equal(new Set(rs.map((r) => r.json.id)).size, 20, 'twenty rows');
    for (let i = 0; i < files.length; i++) {
      const p = storedPath(sha256hex(files[i]));
      assert.ok(p && fs.readFileSync(p).equals(files[i]), `file ${i} stored whole at its sha256`);
    }
    const d = await api(g, ctx.cs, 'GET', `/api/v1/attachments/${rs[7].json.id}`);
    assert.ok(d.body.equals(files[7]), 'and served back whole');
    assert.deepEqual(filesUnder(path.join(uploadDir, 'tmp')), [], 'nothing left in tmp/');
  });

  it('gssd SIGKILLed mid-upload: after a restart no .part file and no row', T, async () => {
    const before = filesUnder(uploadDir);
    const n = await rows();
    const body = bigFile(MiB, 'pdf');
    const { conn } = await rawUpload(g.port, tech.token, ticket.id, 'bast', {
      headers: { 'content-length': String(MiB), 'idempotency-key': 'killed-upload' },
      parts: [body.subarray(0, 200 * KiB)], wait: 300,
    });
    const sawPart = await waitUntil(() => newFiles(before).some((f) => f.endsWith('.part')), 3000);
    assert.ok(sawPart, `the upload was under way (a .part file was written) when gssd was killed: ${newFiles(before)}`);
    await g.kill();
    conn.destroy();
    g = await startGssd({ redis, database, env: { ...env, GSS_LOG_REQUESTS: 0 } });
    ctx.g = g;
    const left = newFiles(before);
    assert.deepEqual(left, [], 'no temporary or partial file after the restart');
    assert.deepEqual(filesUnder(uploadDir).filter((f) => f.endsWith('.part')), [], 'no .part file anywhere');
    assert.equal(await rows(), n, 'no row');
    // The same key now stores the upload for real.
    const ok = await upload(g, tech.token, ticket.id, 'bast', body, { idem: 'killed-upload' });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.json.sha256, sha256hex(body));
  });
});

describe('a full disk', () => {
  it('2 MiB onto a 1 MiB tmpfs: 507 insufficient_storage, no row, nothing left in the folder', T, async () => {
    const parent = await makeTmpDir('tmpfs');
    mountDir = path.join(parent, 'mnt');
    fs.mkdirSync(mountDir);
    const m = await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountDir]);
    assert.equal(m.code, 0, `mount a 1 MiB tmpfs (the test runs as root): ${m.stderr}`);
    mounted = true;
    full = await startGssd({ redis, database, env: { GSS_UPLOAD_DIR: mountDir, GSS_UPLOAD_PHOTO_MAX: 4 * MiB, GSS_LOG_REQUESTS: 0 } });
    const n = await rows(`ticket_id = ${ticket.id}`);
    const body = bigFile(2 * MiB, 'png');
    const { res, conn } = await rawUpload(full.port, ctx.cs, ticket.id, 'photo', {
      headers: { 'content-type': 'image/png', 'content-length': String(body.length) },
      parts: Array.from({ length: 32 }, (_, i) => body.subarray(i * 64 * KiB, (i + 1) * 64 * KiB)),
      wait: 15000,
    });
    conn.destroy();
    assert.ok(res, 'an answer');
    assert.equal(res.status, 507, res.text());
    assert.equal(res.json().error.code, 'insufficient_storage');
    assert.equal(await rows(`ticket_id = ${ticket.id}`), n, 'no row');
    const t0 = Date.now();
    while (filesUnder(mountDir).length && Date.now() - t0 < 5000) await sleep(50);
    assert.deepEqual(filesUnder(mountDir), [], 'no leftover in the upload folder');
    // A file that fits still goes through on the same disk.
    const small = makePng(3, 3, 5);
    const ok = await upload(full, ctx.cs, ticket.id, 'photo', small, { contentType: 'image/png' });
    assert.equal(ok.status, 201, `the disk is usable again after the refusal: ${ok.text}`);
  });
});

async function waitUntil(fn, ms) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (fn()) return true;
    await sleep(20);
  }
  return false;
}
