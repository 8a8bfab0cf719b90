// Static files from GSS_WEB_DIR: content types, ETag/304, HEAD, caching
// headers, and that no request path ever reaches a file outside the folder.
//
// The test makes its own web folder inside a temp folder that also holds a
// secret file beside it, and a sibling folder whose name starts with the web
// folder's name (to catch prefix checks such as startsWith(webDir)).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

import {
  SOURCE_DIR, startGssd, makeTmpDir, http, rawConnect, rawRequest, parseResponses, scrapeMetrics,
  commonHeaderProblems, startRedis, waitFor,
} from './harness.mjs';

const T = { timeout: 60000 };
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

const SECRET = `TOPSECRET-${crypto.randomBytes(8).toString('hex')}`;
const SIBLING = `SIBLINGSECRET-${crypto.randomBytes(8).toString('hex')}`;

// name → [content type, bytes]
const FILES = {
  'index.html': ['text/html; charset=utf-8', Buffer.from('<!doctype html><title>t</title><p>index ünïcode</p>\n')],
  'app.js': ['text/javascript; charset=utf-8', Buffer.from('export const x = 1;\n')],
  'style.css': ['text/css; charset=utf-8', Buffer.from('body { color: red }\n')],
  'icon.svg': ['image/svg+xml', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n')],
  'img.png': ['image/png', Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), crypto.randomBytes(200)])],
  'data.json': ['application/json', Buffer.from('{"hello":"world"}\n')],
  'favicon.ico': ['image/x-icon', Buffer.concat([Buffer.from([0, 0, 1, 0]), crypto.randomBytes(60)])],
  'site.webmanifest': ['application/manifest+json', Buffer.from('{"name":"GSS"}\n')],
  'readme.txt': ['text/plain; charset=utf-8', Buffer.from('plain text\n')],
  'sub/page.html': ['text/html; charset=utf-8', Buffer.from('<p>nested</p>\n')],
  // Bigger than any sane single read or write buffer.
  'big.png': ['image/png', Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), crypto.randomBytes(3 * 1024 * 1024 + 123)])],
};

let root;
let webDir;
let gssd;

before(async () => {
  root = await makeTmpDir('static');
  webDir = path.join(root, 'web');
  for (const [name, [, bytes]] of Object.entries(FILES)) {
    await fsp.mkdir(path.dirname(path.join(webDir, name)), { recursive: true });
    await fsp.writeFile(path.join(webDir, name), bytes);
  }
  await fsp.writeFile(path.join(root, 'secret.txt'), SECRET);
  await fsp.mkdir(path.join(root, 'web2'));
  await fsp.writeFile(path.join(root, 'web2', 'leak.txt'), SIBLING);
  gssd = await startGssd({ env: { GSS_WEB_DIR: webDir } });
}, T);

after(async () => {
  if (gssd) assert.equal(await gssd.stop('SIGTERM', 15000), 0, 'gssd should exit 0 on SIGTERM');
});

async function rawGet(p, extra = '', method = 'GET') {
  const buf = await rawRequest(gssd.port, `${method} ${p} HTTP/1.1\r\nHost: t\r\n${extra}Connection: close\r\n\r\n`, { timeout: 5000 });
  return parseResponses(buf, { head: [method === 'HEAD'] });
}

describe('static files', () => {
  it('GET / serves index.html as text/html; charset=utf-8', T, async () => {
    const [r] = await rawGet('/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], FILES['index.html'][0]);
    assert.ok(r.body.equals(FILES['index.html'][1]), 'body of / is not index.html');
    assert.deepEqual(commonHeaderProblems(r), []);
  });

  it('the Telegram deep link /jobs/{id} serves the app (index.html, with its CSP); other /jobs paths do not', T, async () => {
    const [r] = await rawGet('/jobs/42');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], FILES['index.html'][0]);
    assert.ok(r.body.equals(FILES['index.html'][1]), 'body of /jobs/42 is not index.html');
    assert.match(r.headers['content-security-policy'] || '', /script-src 'self'/);
    for (const p of ['/jobs/', '/jobs/abc', '/jobs/42/x', '/jobs/4%2e2']) {
      const [n] = await rawGet(p);
      assert.equal(n.status, 404, `${p} should be 404`);
    }
  });

  for (const [name, [type, bytes]] of Object.entries(FILES)) {
    it(`GET /${name} → ${type}, exact bytes, ETag and Cache-Control`, T, async () => {
      const [r] = await rawGet(`/${name}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], type);
      assert.equal(Number(r.headers['content-length']), bytes.length);
      assert.equal(sha256(r.body), sha256(bytes), 'body differs from the file');
      assert.match(r.headers.etag || '', /^(W\/)?"[^"]+"$/, `ETag missing or not quoted: ${r.headers.etag}`);
      assert.ok(r.headers['cache-control'], 'Cache-Control missing');
      assert.deepEqual(commonHeaderProblems(r), []);
    });
  }

  it('a query string does not change which file is served', T, async () => {
    const [r] = await rawGet('/app.js?v=123');
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(FILES['app.js'][1]));
  });

  it('If-None-Match with the ETag → 304 with no body; a stale ETag → 200', T, async () => {
    const [first] = await rawGet('/style.css');
    const etag = first.headers.etag;
    assert.ok(etag);
    // Pipelined with a second request so any stray body bytes after the 304
    // would show up as garbage before the second response.
    const c = await rawConnect(gssd.port);
    await c.write(`GET /style.css HTTP/1.1\r\nHost: t\r\nIf-None-Match: ${etag}\r\n\r\n` +
      `GET /style.css HTTP/1.1\r\nHost: t\r\nIf-None-Match: "not-the-etag"\r\nConnection: close\r\n\r\n`);
    await c.waitForClose(5000);
    const rs = parseResponses(c.data);
    c.destroy();
    assert.equal(rs.length, 2, `two responses expected: ${JSON.stringify(c.data.toString('latin1').slice(0, 400))}`);
    assert.equal(rs[0].status, 304);
    assert.equal(rs[0].body.length, 0);
    assert.equal(rs[0].headers.etag, etag, '304 must carry the ETag (RFC 9110 15.4.5)');
    assert.deepEqual(commonHeaderProblems(rs[0]), []);
    assert.equal(rs[1].status, 200);
    assert.ok(rs[1].body.equals(FILES['style.css'][1]));
  });

  it('If-None-Match with a list containing the ETag → 304', T, async () => {
    const [first] = await rawGet('/app.js');
    const [r] = await rawGet('/app.js', `If-None-Match: "zzz", ${first.headers.etag}\r\n`);
    assert.equal(r.status, 304);
  });

  it('the ETag always matches the bytes served, before and after the file changes (SIGHUP reload)', T, async () => {
    // gssd may serve web files from memory (static.h: loaded at start,
    // reloaded on SIGHUP); either way an ETag must never vouch for bytes
    // other than the ones it was sent with.
    const p = path.join(webDir, 'readme.txt');
    const [a] = await rawGet('/readme.txt');
    assert.ok(a.body.equals(FILES['readme.txt'][1]));
    const newer = Buffer.from('plain text, edited and longer\n');
    try {
      await fsp.writeFile(p, newer);
      const later = new Date(Date.now() + 5000);
      await fsp.utimes(p, later, later);
      const [b] = await rawGet('/readme.txt');
      if (b.body.equals(a.body)) assert.equal(b.headers.etag, a.headers.etag, 'same bytes, different ETag');
      else assert.notEqual(b.headers.etag, a.headers.etag, 'new bytes served under the old ETag');

      gssd.signal('SIGHUP');
      const fresh = await waitFor(async () => {
        const [r] = await rawGet('/readme.txt');
        return r.status === 200 && r.body.equals(newer) ? r : null;
      }, { timeout: 3000, what: 'the edited readme.txt to be served after SIGHUP' });
      assert.notEqual(fresh.headers.etag, a.headers.etag, 'the ETag must change with the content');
      const [c] = await rawGet('/readme.txt', `If-None-Match: ${a.headers.etag}\r\n`);
      assert.equal(c.status, 200, 'the old ETag must not get a 304 for changed content');
      assert.ok(c.body.equals(newer));
      const [d] = await rawGet('/readme.txt', `If-None-Match: ${fresh.headers.etag}\r\n`);
      assert.equal(d.status, 304);
    } finally {
      await fsp.writeFile(p, FILES['readme.txt'][1]);
      gssd.signal('SIGHUP');
    }
    assert.ok(gssd.alive(), 'gssd must survive SIGHUP');
    await waitFor(async () => (await rawGet('/readme.txt'))[0].body.equals(FILES['readme.txt'][1]),
      { timeout: 3000, what: 'readme.txt restored after the second SIGHUP' });
  });

  it('HEAD gives the GET headers and no body', T, async () => {
    const c = await rawConnect(gssd.port);
    await c.write('HEAD /app.js HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    await c.waitForClose(5000);
    const rs = parseResponses(c.data, { head: [true, false] });
    c.destroy();
    assert.equal(rs.length, 2, `HEAD must not send a body: ${JSON.stringify(c.data.toString('latin1').slice(0, 400))}`);
    assert.equal(rs[0].status, 200);
    assert.equal(rs[0].headers['content-type'], FILES['app.js'][0]);
    assert.equal(Number(rs[0].headers['content-length']), FILES['app.js'][1].length);
    assert.ok(rs[0].headers.etag);
    assert.deepEqual(commonHeaderProblems(rs[0], { head: true }), []);
    assert.equal(rs[1].status, 200);
    assert.deepEqual(rs[1].json(), { status: 'ok' });
  });

  it('an unknown file is a JSON 404 not_found', T, async () => {
    for (const p of ['/nope.js', '/sub/nope.html', '/no/such/dir/x.css']) {
      const [r] = await rawGet(p);
      assert.equal(r.status, 404, p);
      assert.equal(r.json().error.code, 'not_found', p);
      assert.match(r.headers['content-type'] || '', /^application\/json/, p);
      assert.deepEqual(commonHeaderProblems(r, { json: true }), [], p);
    }
  });

  it('static hits are counted under route="static"', T, async () => {
    const all = (m) => m.find('gss_http_requests_total', { route: 'static', status: '200' }).reduce((a, s) => a + s.value, 0);
    const a = await scrapeMetrics(gssd.url);
    await http(`${gssd.url}/app.js`);
    await http(`${gssd.url}/style.css`);
    const b = await scrapeMetrics(gssd.url);
    assert.equal(all(b) - all(a), 2);
  });

  it('static hits carry their method label', T, async () => {
    const v = (m) => m.value('gss_http_requests_total', { route: 'static', method: 'GET', status: '200' }) || 0;
    const a = await scrapeMetrics(gssd.url);
    await http(`${gssd.url}/app.js`);
    const b = await scrapeMetrics(gssd.url);
    assert.equal(v(b) - v(a), 1, 'gss_http_requests_total{route="static",method="GET",status="200"} should grow by 1');
  });
});

describe('path traversal never leaves the web folder', () => {
  const attempts = [
    '/../secret.txt',
    '/../../../../../../etc/passwd',
    '/sub/../../secret.txt',
    '/./../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E/secret.txt',
    '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/.%2e/secret.txt',
    '/sub/%2e%2e/%2e%2e/secret.txt',
    '/..%2fsecret.txt',
    '/..%2f..%2f..%2f..%2f..%2fetc/passwd',
    '/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd',
    '/%2e%2e%2fsecret.txt',
    '/%252e%252e/secret.txt',
    '/..\\secret.txt',
    '/sub\\..\\..\\secret.txt',
    '/..%5csecret.txt',
    '/..%5c..%5c..%5c..%5cetc%5cpasswd',
    '//etc/passwd',
    '/%2fetc%2fpasswd',
    '/../web2/leak.txt',
    '/%2e%2e/web2/leak.txt',
    '/index.html%00.txt',
    '/secret.txt%00',
    '/%00',
    '/..%00/secret.txt',
    '/%c0%ae%c0%ae/secret.txt',
  ];
  for (const p of attempts) {
    it(`GET ${p} → 404 or 400, never a file outside`, T, async () => {
      const buf = await rawRequest(gssd.port, `GET ${p} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`, { timeout: 5000 });
      const text = buf.toString('latin1');
      assert.ok(!text.includes(SECRET), `${p} leaked secret.txt`);
      assert.ok(!text.includes(SIBLING), `${p} leaked a file of the sibling folder`);
      assert.ok(!/root:[^:\n]*:0:0:/.test(text), `${p} leaked /etc/passwd`);
      const rs = parseResponses(buf);
      assert.ok(rs.length >= 1, `${p}: no response`);
      assert.ok([400, 404].includes(rs[0].status), `${p}: status ${rs[0].status}`);
    });
  }

  it('a literal NUL byte in the target is refused', T, async () => {
    const buf = await rawRequest(gssd.port, Buffer.from('GET /index.html\x00.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', 'latin1'));
    const rs = parseResponses(buf);
    assert.ok(rs.length >= 1);
    assert.ok([400, 404].includes(rs[0].status), `status ${rs[0].status}`);
  });

  it('the server still serves normally afterwards', T, async () => {
    const r = await http(`${gssd.url}/index.html`);
    assert.equal(r.status, 200);
  });
});

describe('the repository web folder', () => {
  it('GET / serves web/index.html of the repository by default', T, async () => {
    const index = path.join(SOURCE_DIR, 'web', 'index.html');
    assert.ok(fs.existsSync(index), 'the repository has web/index.html');
    const redis = await startRedis();
    const g = await startGssd({ redis });
    try {
      const r = await http(`${g.url}/`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.ok(r.body.equals(fs.readFileSync(index)), 'GET / differs from web/index.html');
    } finally {
      await g.stop('SIGTERM', 15000);
    }
  });
});
