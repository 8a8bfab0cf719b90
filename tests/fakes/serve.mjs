#!/usr/bin/env node
// Runs the Telegram and WhatsApp fakes on their own, for trying the demo
// (scripts/run.sh with GSS_RUN_FAKES=1; README.md "Telegram and WhatsApp"):
// gssd sends to them as it would to Telegram and Meta, and a small control
// server lets a person play the customer or the technician towards gssd.
//
//   node tests/fakes/serve.mjs --gssd http://127.0.0.1:8080 --port 8090 \
//        [--window 6281211110009=1764570000 ...] [--photo db/seed/demo-photo.jpg] [--info FILE]
//
// Ports (all 127.0.0.1): --port is the control server; the Telegram fake
// listens on port+1 and the WhatsApp fake on port+2 (--tg-port / --wa-port
// to choose others). Point gssd at them with GSS_TELEGRAM_API_BASE =
// http://127.0.0.1:<port+1> and GSS_WA_API_BASE = http://127.0.0.1:<port+2>/v21.0.
//
// The secrets are read from the same GSS_* variables gssd reads, so that
// the two always agree: GSS_TELEGRAM_TOKEN, GSS_TELEGRAM_WEBHOOK_SECRET,
// GSS_TELEGRAM_TS_CHAT, GSS_TELEGRAM_BOT_USERNAME, GSS_WA_TOKEN,
// GSS_WA_PHONE_NUMBER_ID, GSS_WA_APP_SECRET, GSS_WA_TEMPLATE_INVOICE,
// GSS_WA_TEMPLATE_FOLLOWUP, GSS_WA_TEMPLATE_LANG, GSS_PUBLIC_URL.
//
// --window PHONE=UNIX_SECONDS tells the WhatsApp fake that this customer
// last wrote then (the fake only knows of messages it delivered itself, and
// refuses a free-form reply outside the 24-hour window with 131047, as Meta
// does). run.sh passes the demo customers' last_inbound_at.
//
// Control server (JSON in, JSON out):
//   POST /wa/text  {"from":"62…","name":"…","body":"…"}  a customer writes: the
//                  fake delivers a signed webhook to gssd's /hooks/whatsapp
//   POST /wa/photo {"from":"62…","name":"…","caption":"…"}  the same with a
//                  photo (--photo's bytes); gssd then fetches it from the fake
//   POST /wa/read  {"to":"62…"}  the customer reads what was sent to them
//                  ("read" statuses for every message the fake accepted)
//   POST /tg/start {"user":6100000001,"first_name":"…","code":"…"}  a user
//                  presses Start on the link of "Hubungkan Telegram" (Profil)
//   GET  /sent     what gssd sent so far: WhatsApp messages and Telegram
//                  messages, newest last
//   GET  /healthz  200 "ok"
// Every message gssd sends is also printed on standard output. Ctrl-C or
// SIGTERM stops both fakes.

import fs from 'node:fs';
import http from 'node:http';
import process from 'node:process';

import { startTelegramFake } from './telegram.mjs';
import { startWhatsAppFake } from './whatsapp.mjs';

const KEEP = 500; // recorded requests kept per fake: a long demo must not grow without end

function usage(msg) {
  process.stderr.write(`serve.mjs: ${msg}\nusage: node tests/fakes/serve.mjs --gssd URL --port N [--tg-port N] [--wa-port N]` +
    ' [--window PHONE=UNIX_SECONDS ...] [--photo FILE] [--info FILE]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { windows: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (v === undefined) usage(`${k} needs a value`);
    i++;
    if (k === '--gssd') o.gssd = v.replace(/\/+$/, '');
    else if (k === '--port') o.port = Number(v);
    else if (k === '--tg-port') o.tgPort = Number(v);
    else if (k === '--wa-port') o.waPort = Number(v);
    else if (k === '--photo') o.photo = v;
    else if (k === '--info') o.info = v;
    else if (k === '--window') {
      const m = /^(\d{7,15})=(\d{1,12})$/.exec(v);
      if (!m) usage(`--window ${v}: expected PHONE=UNIX_SECONDS`);
      o.windows.push([m[1], Number(m[2]) * 1000]);
    } else usage(`unknown option ${k}`);
  }
  if (!o.gssd || !/^https?:\/\//.test(o.gssd)) usage('--gssd http://host:port is required');
  for (const p of ['port', 'tgPort', 'waPort']) {
    if (o[p] !== undefined && !(Number.isInteger(o[p]) && o[p] > 0 && o[p] < 65536)) usage(`bad port ${o[p]}`);
  }
  if (o.port === undefined) usage('--port is required');
  o.tgPort ??= o.port + 1;
  o.waPort ??= o.port + 2;
  return o;
}

function need(name) {
  const v = process.env[name];
  if (!v) usage(`${name} is not set (the fakes use the values gssd is given)`);
  return v;
}

const opt = parseArgs(process.argv.slice(2));
const env = {
  tgToken: need('GSS_TELEGRAM_TOKEN'),
  tgSecret: process.env.GSS_TELEGRAM_WEBHOOK_SECRET || undefined,
  tsChat: process.env.GSS_TELEGRAM_TS_CHAT || '',
  botUsername: process.env.GSS_TELEGRAM_BOT_USERNAME || 'gss_demo_bot',
  waToken: need('GSS_WA_TOKEN'),
  phoneId: need('GSS_WA_PHONE_NUMBER_ID'),
  appSecret: need('GSS_WA_APP_SECRET'),
  tplInvoice: process.env.GSS_WA_TEMPLATE_INVOICE || 'gss_invoice',
  tplFollowup: process.env.GSS_WA_TEMPLATE_FOLLOWUP || 'cs_followup',
  lang: process.env.GSS_WA_TEMPLATE_LANG || 'id',
  publicUrl: (process.env.GSS_PUBLIC_URL || opt.gssd).replace(/\/+$/, ''),
};
const photo = opt.photo ? fs.readFileSync(opt.photo) : null;

let stopping = false;
const say = (line) => process.stdout.write(`fakes: ${line}\n`);
const short = (s, n = 90) => {
  const t = String(s ?? '').replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
};

// The chats a demo has: the technicians' group is a supergroup (as
// GSS_TELEGRAM_TS_CHAT "-100…" says); everything else as the fake decides.
const chats = {};
if (/^-100\d+$/.test(env.tsChat)) chats[env.tsChat] = { type: 'supergroup', title: 'Teknisi GSS (demo)' };
const tg = await startTelegramFake({
  token: env.tgToken, botUsername: env.botUsername, botName: 'GSS Demo Bot', port: opt.tgPort,
  // gssd's buttons link to GSS_PUBLIC_URL, a loopback address in a demo,
  // which Telegram itself would refuse.
  allowUrlHosts: ['*'], chats, webhookSecret: env.tgSecret,
});
const wa = await startWhatsAppFake({
  token: env.waToken, phoneNumberId: env.phoneId, port: opt.waPort,
  templates: [
    // docs/whatsapp.md "Sending": {{1}} name, {{2}} number, {{3}} total; the
    // invoice and rating links as URL buttons.
    { name: env.tplInvoice, language: env.lang, bodyParams: 3,
      buttons: [{ type: 'url', url: `${env.publicUrl}/i/{{1}}` }, { type: 'url', url: `${env.publicUrl}/r/{{1}}` }] },
    // docs/inbox.md: one body parameter, the customer's name.
    { name: env.tplFollowup, language: env.lang, bodyParams: 1 },
  ],
});
for (const [phone, ms] of opt.windows) wa.setLastInbound(phone, ms);

// What gssd sent, as one line each, and a bounded record.
function watch(fake, line) {
  const finish = fake.recorder.finish.bind(fake.recorder);
  fake.recorder.finish = (entry, status, reply, dropped) => {
    finish(entry, status, reply, dropped);
    try {
      const l = line(entry);
      if (l) say(l);
    } catch { /* a line is only a courtesy */ }
    for (const list of [fake.recorder.requests, fake.deliveries]) {
      if (list.length > KEEP) list.splice(0, list.length - KEEP);
    }
  };
}
const waError = (e) => (e.reply && e.reply.error ? ` (${e.reply.error.code} ${e.reply.error.message})` : '');
watch(wa, (e) => {
  if (e.api !== 'messages' || !e.json || e.json.status === 'read') return null;
  const b = e.json;
  const what = b.type === 'text' ? `"${short(b.text && b.text.body)}"`
    : b.type === 'template' ? `template ${b.template && b.template.name}`
      : b.type === 'interactive' ? `"${short(b.interactive && b.interactive.body && b.interactive.body.text)}"`
        : b.type;
  const id = e.status === 200 && e.reply && e.reply.messages && e.reply.messages[0] && e.reply.messages[0].id;
  if (id) reportDelivery(id, b.to);
  return `WhatsApp to ${b.to || b.recipient}: ${what} -> ${e.status}${waError(e)}`;
});

// As Meta does for what it accepted: "sent", then "delivered" a moment
// later, each a signed status webhook to gssd. (Not the fake's own
// autoStatuses: its delays grow with every message it ever queued.)
function reportDelivery(id, to) {
  for (const [st, ms] of [['sent', 600], ['delivered', 1800]]) {
    setTimeout(() => {
      if (stopping) return;
      wa.deliver(opt.gssd, wa.statusUpdate(id, st, { to }), { appSecret: env.appSecret })
        .then((r) => { if (r.status !== 200) say(`WhatsApp status ${st} for ${to}: gssd answered ${r.status}`); })
        .catch((err) => say(`WhatsApp status ${st} for ${to}: ${err.message}`));
    }, ms).unref();
  }
}
const tgLog = []; // {method, chat, message_id, at, text, status, error}: for GET /sent
watch(tg, (e) => {
  if (!/^(sendMessage|editMessageText|editMessageReplyMarkup)$/i.test(e.api || '')) return null;
  const p = e.params || {};
  const err = e.reply && e.reply.ok === false ? e.reply.description : null;
  const r = e.reply && e.reply.ok && e.reply.result && typeof e.reply.result === 'object' ? e.reply.result : null;
  tgLog.push({
    method: e.api, chat: p.chat_id, message_id: r ? r.message_id : p.message_id, at: new Date(e.time).toISOString(),
    text: r && typeof r.text === 'string' ? r.text : p.text, status: e.status, error: err,
  });
  if (tgLog.length > KEEP) tgLog.splice(0, tgLog.length - KEEP);
  return `Telegram ${e.api} chat ${p.chat_id}: "${short(String(p.text || '').replace(/<[^>]*>/g, ''))}" -> ${e.status}${err ? ` (${err})` : ''}`;
});

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > 65536) reject(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => {
      const s = Buffer.concat(chunks).toString('utf8').trim();
      try { resolve(s ? JSON.parse(s) : {}); } catch { reject(new Error('the body is not JSON')); }
    });
    req.on('error', reject);
  });
}

function phoneOf(v, what) {
  const s = String(v ?? '').replace(/^\+/, '');
  if (!/^\d{7,15}$/.test(s)) throw new Error(`${what}: a phone number like 6281211110009`);
  return s;
}

async function control(req, res) {
  const answer = (status, body) => {
    const s = typeof body === 'string' ? `${body}\n` : `${JSON.stringify(body, null, 1)}\n`;
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
    res.end(s);
  };
  const url = new URL(req.url, 'http://control.invalid');
  try {
    if (req.method === 'GET' && url.pathname === '/healthz') return answer(200, 'ok');
    if (req.method === 'GET' && url.pathname === '/sent') {
      return answer(200, {
        whatsapp: wa.sent.slice(-100).map((m) => ({
          id: m.id, to: m.to, type: m.type, at: new Date(m.t).toISOString(),
          text: m.type === 'text' ? m.payload.text.body : m.type === 'interactive' ? m.payload.interactive.body.text : undefined,
          template: m.template ? m.template.name : undefined,
        })),
        telegram: tgLog.slice(-100),
      });
    }
    if (req.method !== 'POST') return answer(404, { error: 'no such route; see tests/fakes/serve.mjs' });
    const b = await readJson(req);
    if (url.pathname === '/wa/text' || url.pathname === '/wa/photo') {
      const from = phoneOf(b.from, 'from');
      const who = { from, name: typeof b.name === 'string' && b.name ? b.name : 'Pelanggan' };
      let payload;
      if (url.pathname === '/wa/text') {
        if (typeof b.body !== 'string' || !b.body.trim()) throw new Error('body: the text the customer writes');
        payload = wa.inboundText({ ...who, body: b.body });
      } else {
        if (!photo) throw new Error('no --photo file was given to serve.mjs');
        payload = wa.inboundImage({ ...who, bytes: photo, mimeType: 'image/jpeg', caption: b.caption || undefined });
      }
      const r = await wa.deliver(opt.gssd, payload, { appSecret: env.appSecret });
      const m = payload.entry[0].changes[0].value.messages[0];
      say(`WhatsApp from ${from} (${url.pathname === '/wa/text' ? 'text' : 'photo'}) delivered to gssd -> ${r.status}`);
      return answer(r.status === 200 ? 200 : 502, { delivered: r.status === 200, gssd_status: r.status, wamid: m.id });
    }
    if (url.pathname === '/wa/read') {
      const to = phoneOf(b.to, 'to');
      const mine = wa.sentTo(to);
      if (!mine.length) return answer(404, { error: `nothing was sent to ${to}` });
      const r = await wa.deliver(opt.gssd, wa.batch(...mine.map((m) => wa.statusUpdate(m.id, 'read', { to }))),
        { appSecret: env.appSecret });
      return answer(r.status === 200 ? 200 : 502, { read: mine.length, gssd_status: r.status });
    }
    if (url.pathname === '/tg/start') {
      const id = Number(b.user);
      if (!Number.isSafeInteger(id) || id <= 0) throw new Error('user: a Telegram user id, e.g. 6100000001');
      if (typeof b.code !== 'string' || !b.code) throw new Error('code: the code "Hubungkan Telegram" shows');
      const upd = tg.startUpdate({ user: { id, first_name: b.first_name || `Demo${id}` }, code: b.code });
      const r = await tg.deliverUpdate(opt.gssd, upd);
      say(`Telegram /start from user ${id} delivered to gssd -> ${r.status}`);
      return answer(r.status === 200 ? 200 : 502, { delivered: r.status === 200, gssd_status: r.status });
    }
    return answer(404, { error: 'no such route; see tests/fakes/serve.mjs' });
  } catch (err) {
    return answer(400, { error: String(err && err.message) });
  }
}

const server = http.createServer((req, res) => {
  control(req, res).catch((err) => {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`serve.mjs: ${err && err.stack}\n`);
  });
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(opt.port, '127.0.0.1', resolve);
});

const info = {
  control: `http://127.0.0.1:${opt.port}`, telegram: tg.apiBase, whatsapp: wa.apiBase, gssd: opt.gssd,
};
if (opt.info) fs.writeFileSync(opt.info, `${JSON.stringify(info)}\n`);
say(`Telegram fake ${tg.apiBase}, WhatsApp fake ${wa.apiBase}, control ${info.control}`);

async function stop() {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  await Promise.allSettled([new Promise((r) => server.close(r)), tg.stop(), wa.stop()]);
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('SIGHUP', stop);
