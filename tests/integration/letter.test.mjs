// The Surat Tugas (docs/fieldwork.md, "GET /api/v1/tickets/{id}/letter.pdf"
// and "GET /v/{token}"): a real PDF checked with qpdf, its text read back
// with pdftotext, its QR code rendered with pdftoppm and decoded with
// zbarimg, and the public verification page the QR code points at.
// Expected values are the ticket's own code and the names we gave the
// accounts; nothing is read from the server's code.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { startGssd, startRedis, createDatabase, freePort, makeTmpDir, run, runGssd, psql, http } from './harness.mjs';
import { PASSWORD, bulkCustomers, login, api, createTicket, claim } from './pool_util.mjs';
import { SITE, waitStatus } from './field_util.mjs';

/** An ISO time n days from now at hh:00 UTC: always ahead of the clock the tests run on. */
function daysAhead(n, hh) {
  const d = new Date(Date.now() + n * 86400000);
  return `${d.toISOString().slice(0, 10)}T${hh}:00:00Z`;
}

const T = { timeout: 60000 };

const NAME_A = 'Śantoso Wijaya';
const NAME_B = 'Nguyễn Văn Bình';
const PHONE_A = '6281234567890';
const PHONE_B = '628129876543';

let g;
let tmp;
let cs;
let techA;
let techB;
let techC;
let techD;
let customers;
let ctx;

async function addPerson(username, role, name, phone) {
  const args = ['user', 'add', username, '--role', role, '--name', name];
  if (phone) args.push('--phone', phone);
  const r = await runGssd(args, { env: { ...g.env, GSS_LOG_LEVEL: 'warn' }, input: `${PASSWORD}\n`, timeout: 30000 });
  assert.equal(r.code, 0, `gssd user add ${username}: ${r.stderr}${r.stdout}`);
  const rows = await psql(g.database.url, `SELECT id FROM users WHERE username = '${username}'`);
  return { id: Number(rows[0][0]), username, token: await login(g, username) };
}

before(async () => {
  const redis = await startRedis();
  const database = await createDatabase();
  // The QR code must point at this very server, so its address is chosen
  // here and given to it as GSS_PUBLIC_URL.
  const port = await freePort();
  g = await startGssd({
    redis, database,
    env: { GSS_LISTEN: `127.0.0.1:${port}`, GSS_PUBLIC_URL: `http://127.0.0.1:${port}`, GSS_LOG_REQUESTS: 0 },
  });
  tmp = await makeTmpDir('letter');
  cs = (await addPerson('lt_cs', 'cs', 'CS Letter')).token;
  techA = await addPerson('lt_a', 'ts', NAME_A, PHONE_A);
  techB = await addPerson('lt_b', 'ts', NAME_B, PHONE_B);
  techC = await addPerson('lt_c', 'ts', 'Joko Susilo', '628111222333');
  techD = await addPerson('lt_d', 'ts', 'Dewi Lestari', '628111222444');
  customers = await bulkCustomers(g, 3);
  ctx = { g, cs };
}, { timeout: 60000 });

after(async () => {
  if (g) assert.equal(await g.stop('SIGTERM', 20000), 0, 'gssd exits 0 on SIGTERM');
});

async function letter(token, id) {
  return api(g, token, 'GET', `/api/v1/tickets/${id}/letter.pdf`);
}

async function save(name, bytes) {
  const p = path.join(tmp, name);
  await fs.promises.writeFile(p, bytes);
  return p;
}

/** The URL in the letter's QR code: pdftoppm at 150 dpi, then zbarimg. */
async function qrOf(pdfPath) {
  const prefix = pdfPath.replace(/\.pdf$/, '');
  const r = await run('pdftoppm', ['-r', '150', '-png', pdfPath, prefix]);
  assert.equal(r.code, 0, `pdftoppm: ${r.stderr}`);
  const pngs = fs.readdirSync(tmp).filter((f) => f.startsWith(path.basename(prefix)) && f.endsWith('.png')).sort();
  assert.ok(pngs.length >= 1, `pdftoppm made a page image: ${fs.readdirSync(tmp)}`);
  const z = await run('zbarimg', ['--raw', '-q', path.join(tmp, pngs[0])]);
  assert.equal(z.code, 0, `zbarimg found a code on page 1 (exit ${z.code}): ${z.stderr}`);
  const codes = z.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  assert.equal(codes.length, 1, `one QR code on the page: ${JSON.stringify(codes)}`);
  return codes[0];
}

const nfc = (s) => s.normalize('NFC');

describe('Surat Tugas', () => {
  let ticket;
  let pdf;
  let verifyUrl;

  it('a 2-technician ticket: a valid PDF with the code and both names, a QR code of /v/<token>', T, async () => {
    ticket = await createTicket(g, cs, customers[0], 2, { lat: SITE.lat, lng: SITE.lng, scheduled_at: daysAhead(2, '03') });
    for (const t of [techA, techB]) {
      const c = await claim(g, t.token, ticket.id);
      assert.equal(c.status, 200, c.text);
    }
    await waitStatus(ctx, ticket.id, 'assigned');
    const tk = (await api(g, cs, 'GET', `/api/v1/tickets/${ticket.id}`)).json;
    assert.deepEqual(tk.technicians.map((x) => [x.name, x.phone]), [[NAME_A, PHONE_A], [NAME_B, PHONE_B]],
      'the ticket lists each technician with the phone given to user add');

    const r = await letter(techA.token, ticket.id);
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.match(r.headers.get('content-type') || '', /^application\/pdf/);
    assert.equal(r.headers.get('content-disposition'), `attachment; filename="surat-tugas-${ticket.code}.pdf"`);
    pdf = r.body;
    const p = await save('letter-1.pdf', pdf);

    const q = await run('qpdf', ['--check', p]);
    assert.equal(q.code, 0, `qpdf --check (exit ${q.code}):\n${q.stdout}\n${q.stderr}`);

    const t = await run('pdftotext', ['-enc', 'UTF-8', p, '-']);
    assert.equal(t.code, 0, t.stderr);
    const text = nfc(t.stdout);
    assert.ok(text.includes(ticket.code), `the letter shows ${ticket.code}:\n${text}`);
    assert.ok(text.includes(nfc(NAME_A)), `the letter shows ${NAME_A} exactly:\n${text}`);
    assert.ok(text.includes(nfc(NAME_B)), `the letter shows ${NAME_B} exactly:\n${text}`);

    const url = await qrOf(p);
    const m = new RegExp(`^${g.url.replace(/[.]/g, '\\.')}/v/([A-Za-z0-9_-]+)$`).exec(url);
    assert.ok(m, `the QR code holds ${g.url}/v/<token>: ${url}`);
    assert.ok(m[1].length >= 22, `a token of at least 128 bits: ${m[1]}`);
    verifyUrl = url;
  });

  it('the verification page: 200 HTML, code, both names, BERLAKU, a CSP and no script', T, async () => {
    assert.ok(verifyUrl, 'needs the previous test');
    const r = await http(verifyUrl);
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.match(r.headers.get('content-type') || '', /^text\/html/);
    const csp = r.headers.get('content-security-policy');
    assert.ok(csp, 'a Content-Security-Policy header');
    assert.ok(!/script-src[^;]*'unsafe-inline'/.test(csp), `no inline scripts allowed: ${csp}`);
    const html = nfc(r.text);
    assert.ok(!/<script/i.test(html), 'no <script> on the page');
    assert.ok(html.includes(ticket.code), `page shows the code:\n${html}`);
    assert.ok(html.includes(nfc(NAME_A)) && html.includes(nfc(NAME_B)), `page shows both names:\n${html}`);
    assert.match(html, /BERLAKU/, 'a valid verdict');
    assert.doesNotMatch(html, /TIDAK\s+BERLAKU/, 'not the invalid verdict');
  });

  it('a random token is 404', T, async () => {
    for (const tok of ['AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'x', 'Zm9vYmFyYmF6cXV4cXV1eHF1dXg']) {
      const r = await http(`${g.url}/v/${tok}`);
      assert.equal(r.status, 404, `/v/${tok}: ${r.status}`);
    }
  });

  it('the letter is cached: a second download (and CS\'s) is byte-identical; another ticket\'s differs', T, async () => {
    assert.ok(pdf, 'needs the first test');
    const again = await letter(techA.token, ticket.id);
    assert.equal(again.status, 200);
    assert.ok(again.body.equals(pdf), 'the same technician gets the same bytes');
    const other = await letter(techB.token, ticket.id);
    assert.ok(other.body.equals(pdf), 'the other technician of the ticket gets the same letter');
    const byCs = await letter(cs, ticket.id);
    assert.equal(byCs.status, 200);
    assert.ok(byCs.body.equals(pdf), 'CS gets the same letter');

    const t2 = await createTicket(g, cs, customers[1], 1, { lat: SITE.lat, lng: SITE.lng, scheduled_at: daysAhead(3, '03') });
    const c = await claim(g, techC.token, t2.id);
    assert.equal(c.status, 200, c.text);
    const l2 = await letter(techC.token, t2.id);
    assert.equal(l2.status, 200, l2.text.slice(0, 200));
    assert.ok(!l2.body.equals(pdf), 'another ticket has its own letter');
    const p2 = await save('letter-2.pdf', l2.body);
    const text = nfc((await run('pdftotext', ['-enc', 'UTF-8', p2, '-'])).stdout);
    assert.ok(text.includes(t2.code) && text.includes('Joko Susilo'), text);
    assert.ok(!text.includes(nfc(NAME_A)), 'and only its own technicians');
    const url2 = await qrOf(p2);
    assert.notEqual(url2, verifyUrl, 'its own verification token');
  });

  it('after CS cancels the ticket the same URL says TIDAK BERLAKU', T, async () => {
    assert.ok(verifyUrl, 'needs the first test');
    const c = await api(g, cs, 'POST', `/api/v1/tickets/${ticket.id}/cancel`, { reason: 'uji surat' });
    assert.equal(c.status, 200, c.text);
    const r = await http(verifyUrl);
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.ok(!/<script/i.test(r.text));
    assert.match(r.text, /TIDAK\s+BERLAKU/, `the letter is no longer valid:\n${r.text}`);
    assert.ok(r.text.includes(ticket.code), 'still names the ticket');
    const l = await letter(techA.token, ticket.id);
    assert.equal(l.status, 409, 'no new letter for a cancelled ticket');
    assert.equal(l.json?.error?.code, 'ticket_cancelled', l.text);
  });

  it('a letter past its schedule plus GSS_LETTER_VALID_H (24 h) says TIDAK BERLAKU', T, async () => {
    const t = await createTicket(g, cs, customers[1], 1, {
      lat: SITE.lat, lng: SITE.lng, scheduled_at: new Date(Date.now() - 48 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    const c = await claim(g, techD.token, t.id);
    assert.equal(c.status, 200, c.text);
    const l = await letter(techD.token, t.id);
    assert.equal(l.status, 200, l.text.slice(0, 200));
    const url = await qrOf(await save('letter-old.pdf', l.body));
    const r = await http(url);
    assert.equal(r.status, 200);
    assert.ok(r.text.includes(t.code), r.text);
    assert.match(r.text, /TIDAK\s+BERLAKU/, `scheduled two days ago: expired:\n${r.text}`);
  });

  it('the public page escapes names and shows nothing of the customer', T, async () => {
    const evil = await addPerson('lt_e', 'ts', 'Budi <img src=x onerror=alert(1)> & "Co"');
    const t = await createTicket(g, cs, customers[2], 1, { lat: SITE.lat, lng: SITE.lng, address: 'Jl. Rahasia No. 7', scheduled_at: daysAhead(4, '03') });
    const c = await claim(g, evil.token, t.id);
    assert.equal(c.status, 200, c.text);
    const l = await letter(evil.token, t.id);
    assert.equal(l.status, 200);
    const r = await http(await qrOf(await save('letter-evil.pdf', l.body)));
    assert.equal(r.status, 200);
    assert.ok(!/<img/i.test(r.text), `the name is not markup:\n${r.text}`);
    assert.ok(r.text.includes('Budi &lt;img src=x onerror=alert(1)&gt; &amp;'), `the name is shown, escaped:\n${r.text}`);
    const [[phone, cname]] = await psql(g.database.url, `SELECT phone, name FROM customers WHERE id = ${customers[2]}`);
    for (const secret of [phone, phone.slice(2), 'Jl. Rahasia', cname]) {
      assert.ok(!r.text.includes(secret), `the public page does not show the customer's ${secret}`);
    }
  });

  it('a ticket with no technician has no letter: 409', T, async () => {
    const t = await createTicket(g, cs, customers[2], 2, { lat: SITE.lat, lng: SITE.lng });
    const r = await letter(cs, t.id);
    assert.equal(r.status, 409, `${r.status} ${r.text}`);
    assert.equal(r.json?.error?.code, 'no_technicians', r.text);
  });
});
