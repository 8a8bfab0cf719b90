// A small HTTP(S) server for tests/unit/test_curl_loop.c (the outgoing HTTP
// client). Started by the test as `node http_fixture.mjs [cert.pem key.pem]`;
// prints one JSON line {"port": N, "tls_port": M|null} once it listens on
// 127.0.0.1, and exits when its stdin closes (the test process died) or on
// SIGTERM.
//
// Routes (both ports):
//   /echo            200 JSON {method, url, headers, body, body_len, conn}
//   /slow?ms=N       200 "slow" after N ms
//   /hang            never answers (the client's timeout or cancel ends it)
//   /drop            destroys the connection without an answer
//   /big?n=N         200 with N bytes, byte i = i % 251
//   /status?code=C&retry_after=V   status C, Retry-After: V when given
//   /stats           200 JSON {connections, requests}
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';

let connections = 0;
let requests = 0;

function handler(req, res) {
  requests++;
  const u = new URL(req.url, 'http://x');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    switch (u.pathname) {
      case '/echo': {
        const out = JSON.stringify({
          method: req.method, url: req.url, headers: req.headers,
          body: body.toString('utf8'), body_len: body.length, conn: req.socket.connId,
        });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) });
        res.end(out);
        return;
      }
      case '/slow':
        setTimeout(() => { res.writeHead(200, { 'Content-Length': 4 }); res.end('slow'); }, Number(u.searchParams.get('ms') || 100));
        return;
      case '/hang':
        return;
      case '/drop':
        req.socket.destroy();
        return;
      case '/big': {
        const n = Number(u.searchParams.get('n') || 0);
        const b = Buffer.alloc(n);
        for (let i = 0; i < n; i++) b[i] = i % 251;
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
        res.end(b);
        return;
      }
      case '/status': {
        const h = { 'Content-Type': 'application/json' };
        if (u.searchParams.has('retry_after')) h['Retry-After'] = u.searchParams.get('retry_after');
        const out = JSON.stringify({ ok: false, code: Number(u.searchParams.get('code')) });
        h['Content-Length'] = Buffer.byteLength(out);
        res.writeHead(Number(u.searchParams.get('code') || 500), h);
        res.end(out);
        return;
      }
      case '/stats': {
        const out = JSON.stringify({ connections, requests });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) });
        res.end(out);
        return;
      }
      default:
        res.writeHead(404, { 'Content-Length': 0 });
        res.end();
    }
  });
}

function track(server) {
  server.on('connection', (s) => { s.connId = ++connections; });
  server.keepAliveTimeout = 30000;
  return server;
}

const plain = track(http.createServer(handler));
let tls = null;
if (process.argv[2] && process.argv[3]) {
  tls = track(https.createServer({ cert: fs.readFileSync(process.argv[2]), key: fs.readFileSync(process.argv[3]) }, handler));
  tls.on('secureConnection', () => {});
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

const port = await listen(plain);
const tlsPort = tls ? await listen(tls) : null;
process.stdout.write(JSON.stringify({ port, tls_port: tlsPort }) + '\n');
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
