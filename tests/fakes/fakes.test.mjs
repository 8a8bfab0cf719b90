// Tests of the fakes themselves (tests/fakes/README.md): they must be as
// strict as the real services, inject the faults they promise, and sign what
// they send so that an independent check — written here with node:crypto,
// not taken from the fakes — accepts it. No gssd is involved.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';

import { startTelegramFake, miniAppInitData, miniAppPublicKeyHex, parseHtml } from './telegram.mjs';
import { startWhatsAppFake, signBody } from './whatsapp.mjs';
import { rawRequest, sleep } from './common.mjs';

const TOKEN = '7012345678:AAH-test_token-abcdefghijklmnopqrstu';
const GROUP = -1001234567890;

// A stand-in for gssd's webhooks: records raw bytes and headers.
async function startCapture(status = 200) {
  const got = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ method: req.method, url: req.url, headers: req.headers, raw: Buffer.concat(chunks) });
      const u = new URL(req.url, 'http://x');
      const body = u.searchParams.get('hub.challenge') || 'ok';
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(body);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { got, url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.close(r); server.closeAllConnections(); }) };
}

// ---------------------------------------------------------------------------
// Telegram

describe('telegram fake: strictness', () => {
  let tg;
  const call = async (method, params, { token = TOKEN, form = false } = {}) => {
    const body = form ? new URLSearchParams(Object.entries(params).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)])).toString() : JSON.stringify(params);
    const r = await fetch(`${tg.url}/bot${token}/${method}`, {
      method: 'POST', headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' }, body,
    });
    return { status: r.status, body: await r.json() };
  };
  const send = (params, o) => call('sendMessage', { chat_id: GROUP, ...params }, o);

  before(async () => { tg = await startTelegramFake({ token: TOKEN, allowUrlHosts: ['gss.test'] }); });
  after(() => tg.stop());

  it('refuses a wrong token with 401 Unauthorized and an unknown method with 404', async () => {
    assert.deepEqual(await call('getMe', {}, { token: '1:wrong' }), { status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } });
    assert.deepEqual((await call('sendFancy', {})).body, { ok: false, error_code: 404, description: 'Not Found' });
    const me = await call('getMe', {});
    assert.equal(me.body.result.id, 7012345678);
    assert.equal(me.body.result.is_bot, true);
  });

  it('takes JSON, urlencoded, multipart and query-string parameters alike', async () => {
    const a = await send({ text: 'json' });
    const b = await send({ text: 'form', reply_markup: { inline_keyboard: [[{ text: 'A', callback_data: 'a:1' }]] } }, { form: true });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.deepEqual(tg.message(GROUP, b.body.result.message_id).reply_markup, { inline_keyboard: [[{ text: 'A', callback_data: 'a:1' }]] });
    const fd = new FormData();
    fd.set('chat_id', String(GROUP));
    fd.set('text', 'multipart');
    const c = await fetch(`${tg.url}/bot${TOKEN}/sendMessage`, { method: 'POST', body: fd });
    assert.equal((await c.json()).result.text, 'multipart');
    const d = await fetch(`${tg.url}/bot${TOKEN}/sendMessage?chat_id=${GROUP}&text=query`);
    assert.equal((await d.json()).result.text, 'query');
    assert.ok(a.body.result.message_id < b.body.result.message_id, 'message ids grow per chat');
  });

  it('needs chat_id and a non-empty text of at most 4096 characters after parsing', async () => {
    assert.equal((await call('sendMessage', { text: 'x' })).body.description, 'Bad Request: chat_id is empty');
    assert.equal((await send({ text: '' })).body.description, 'Bad Request: message text is empty');
    assert.equal((await send({ text: '   \n ' })).body.description, 'Bad Request: message text is empty');
    assert.equal((await send({ text: '<b> </b>', parse_mode: 'HTML' })).body.description, 'Bad Request: message text is empty');
    assert.equal((await send({ text: 'x'.repeat(4096) })).status, 200);
    assert.equal((await send({ text: 'x'.repeat(4097) })).body.description, 'Bad Request: message is too long');
    // Tags do not count, an entity counts as one character, emoji as one.
    assert.equal((await send({ text: `<b>${'x'.repeat(4090)}</b>&amp;${'😀'.repeat(5)}`, parse_mode: 'HTML' })).status, 200);
    assert.equal((await send({ text: `<b>${'x'.repeat(4091)}</b>&amp;${'😀'.repeat(5)}`, parse_mode: 'HTML' })).body.description, 'Bad Request: message is too long');
  });

  it('parses HTML like Telegram and refuses what Telegram refuses', async () => {
    const bad = async (text) => (await send({ text, parse_mode: 'HTML' })).body;
    const e = (d) => `Bad Request: can't parse entities: ${d}`;
    assert.deepEqual(await bad('Job <blink>x</blink>'), { ok: false, error_code: 400, description: e('Unsupported start tag "blink" at byte offset 4') });
    assert.equal((await bad('<b>Job')).description, e('Can\'t find end tag corresponding to start tag "b"'));
    assert.equal((await bad('<b>x</i>')).description, e('Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'));
    assert.equal((await bad('x</b>')).description, e('Unexpected end tag at byte offset 1'));
    assert.equal((await bad('2 < 3')).description, e('Unsupported start tag "" at byte offset 2'));
    assert.equal((await bad('é <b')).description, e('Unclosed start tag at byte offset 3'), 'offsets are in UTF-8 bytes');
    assert.equal((await bad('<span>x</span>')).description, e('Tag "span" must have class "tg-spoiler" at byte offset 0'));
    assert.equal((await bad('<a href="x>y</a>')).description, e('Unclosed start tag at byte offset 0'));
    // Telegram keeps a bare '&' and unknown entities as text; '>' is text.
    const ok = await send({ text: 'A & B &nope; 3 > 2 &lt;b&gt; &#x1F600; &#65;', parse_mode: 'HTML' });
    assert.equal(ok.body.result.text, 'A & B &nope; 3 > 2 <b> 😀 A');
    const parsed = parseHtml('<b>Tiket #12</b> — <i>Budi &amp; Sons</i> <a href="https://gss.test/j/1">buka</a>');
    assert.equal(parsed.text, 'Tiket #12 — Budi & Sons buka');
    assert.deepEqual(parsed.entities, [
      { type: 'bold', offset: 0, length: 9 },
      { type: 'italic', offset: 12, length: 11 },
      { type: 'text_link', offset: 24, length: 4, url: 'https://gss.test/j/1' },
    ]);
    assert.equal(parseHtml('😀<b>x</b>').entities[0].offset, 2, 'entity offsets are UTF-16 units');
  });

  it('strictAmpersand catches a missing &amp; (stricter than Telegram, opt-in)', async () => {
    const strict = await startTelegramFake({ token: TOKEN, strictAmpersand: true });
    try {
      const r = await fetch(`${strict.url}/bot${TOKEN}/sendMessage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat_id: GROUP, text: 'A & B', parse_mode: 'HTML' }) });
      assert.match((await r.json()).description, /^Bad Request: can't parse entities: bare "&" at byte offset 2/);
    } finally { await strict.stop(); }
  });

  it('checks inline keyboards button by button', async () => {
    const kb = (b) => send({ text: 'k', reply_markup: { inline_keyboard: [[b]] } });
    assert.equal((await kb({ text: 'ok', callback_data: 'x'.repeat(64) })).status, 200);
    assert.equal((await kb({ text: 'long', callback_data: 'x'.repeat(65) })).body.description, 'Bad Request: BUTTON_DATA_INVALID');
    assert.equal((await kb({ text: 'bytes', callback_data: '日'.repeat(22) })).body.description, 'Bad Request: BUTTON_DATA_INVALID', '66 bytes although 22 characters');
    assert.equal((await kb({ text: 'empty', callback_data: '' })).body.description, 'Bad Request: BUTTON_DATA_INVALID');
    assert.match((await kb({ text: 'none' })).body.description, /Text buttons are unallowed in the inline keyboard/);
    assert.match((await kb({ text: 'two', url: 'https://gss.example.com/', callback_data: 'a' })).body.description, /exactly one action/);
    for (const url of ['http://localhost:8080/jobs/1', 'http://127.0.0.1/jobs/1', 'http://[::1]/x', 'http://10.0.0.5/x', 'http://intranet/x', 'http://gss.local/x', 'ftp://files.example.org/x']) {
      assert.equal((await kb({ text: 'u', url })).body.description, 'Bad Request: BUTTON_URL_INVALID', url);
    }
    assert.equal((await kb({ text: 'allowed by the test', url: 'http://gss.test/jobs/1' })).status, 200);
    assert.equal((await kb({ text: 'public', url: 'https://gss.example.co.id/jobs/1' })).status, 200);
    assert.equal((await kb({ text: 'PENUH', disabled: {} })).status, 200, 'the Bot API 10.3 disabled button');
    assert.equal((await kb({ text: 'app', web_app: { url: 'https://gss.example.co.id/app' } })).body.description, 'Bad Request: BUTTON_TYPE_INVALID', 'web_app buttons only in private chats');
  });

  it('lets the bot write to a user only after Start, and never after a block', async () => {
    const user = { id: 424242, first_name: 'Tek' };
    assert.deepEqual((await call('sendMessage', { chat_id: user.id, text: 'hi' })).body, { ok: false, error_code: 403, description: "Forbidden: bot can't initiate conversation with a user" });
    const upd = tg.startUpdate({ user, code: 'LINK-abc_123' });
    assert.equal(upd.message.text, '/start LINK-abc_123');
    assert.deepEqual(upd.message.entities, [{ type: 'bot_command', offset: 0, length: 6 }]);
    assert.equal(upd.message.chat.type, 'private');
    assert.equal((await call('sendMessage', { chat_id: user.id, text: 'hi' })).status, 200);
    tg.blockBot(user.id);
    assert.deepEqual((await call('sendMessage', { chat_id: String(user.id), text: 'hi' })).body, { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' });
  });

  it('edits: unknown message, identical edit, keyboard dropped by a text edit, history kept', async () => {
    const s = await send({ text: '<b>Job 7</b> 0/3 terisi', parse_mode: 'HTML', reply_markup: { inline_keyboard: [[{ text: 'Ambil Job', url: 'http://gss.test/jobs/7' }]] } });
    const id = s.body.result.message_id;
    assert.equal((await call('editMessageText', { chat_id: GROUP, message_id: 999999, text: 'x' })).body.description, 'Bad Request: message to edit not found');
    const kb = { inline_keyboard: [[{ text: 'Ambil Job', url: 'http://gss.test/jobs/7' }]] };
    assert.match((await call('editMessageText', { chat_id: GROUP, message_id: id, text: '<b>Job 7</b> 0/3 terisi', parse_mode: 'HTML', reply_markup: kb })).body.description, /^Bad Request: message is not modified/);
    // Same words without the bold entity is a real change.
    assert.equal((await call('editMessageText', { chat_id: GROUP, message_id: id, text: 'Job 7 0/3 terisi', reply_markup: kb })).status, 200);
    assert.equal((await call('editMessageText', { chat_id: GROUP, message_id: id, text: 'Job 7 1/3 terisi' })).status, 200);
    assert.equal(tg.message(GROUP, id).reply_markup, null, 'editMessageText without reply_markup removes the keyboard');
    const full = { inline_keyboard: [[{ text: 'PENUH', disabled: {} }]] };
    assert.equal((await call('editMessageReplyMarkup', { chat_id: GROUP, message_id: id, reply_markup: full })).status, 200);
    assert.match((await call('editMessageReplyMarkup', { chat_id: GROUP, message_id: id, reply_markup: full })).body.description, /message is not modified/);
    const m = tg.message(GROUP, id);
    assert.deepEqual(m.history.map((h) => h.method), ['sendMessage', 'editMessageText', 'editMessageText', 'editMessageReplyMarkup']);
    assert.deepEqual(m.history.map((h) => h.text), ['Job 7 0/3 terisi', 'Job 7 0/3 terisi', 'Job 7 1/3 terisi', 'Job 7 1/3 terisi']);
    assert.deepEqual(tg.buttons(GROUP, id), [{ text: 'PENUH', disabled: {} }]);
  });

  it('callback queries: press, answer once, in time, with at most 200 characters', async () => {
    const cap = await startCapture();
    try {
      const s = await send({ text: 'Draft Invoice Menunggu Approval', reply_markup: { inline_keyboard: [[{ text: 'Approve', callback_data: 'ap:55' }, { text: 'Lihat / Revisi', url: 'http://gss.test/invoices/55' }]] } });
      const id = s.body.result.message_id;
      assert.throws(() => tg.pressButton({ chatId: GROUP, messageId: id, from: { id: 9 }, text: 'Lihat / Revisi' }), /not a callback button/);
      const upd = tg.pressButton({ chatId: GROUP, messageId: id, from: { id: 9, first_name: 'Sales' }, data: 'ap:55' });
      const r1 = await tg.deliverUpdate(cap.url, upd, { secret: 's3cr3t' });
      const r2 = await tg.deliverUpdate(cap.url, upd, { secret: 's3cr3t' });
      assert.equal(r1.status, 200);
      assert.equal(r2.status, 200);
      assert.equal(cap.got.length, 2);
      assert.equal(cap.got[0].url, '/hooks/telegram');
      assert.equal(cap.got[0].headers['x-telegram-bot-api-secret-token'], 's3cr3t');
      assert.deepEqual(cap.got[0].raw, cap.got[1].raw, 'a repeat carries the same update_id');
      const body = JSON.parse(cap.got[0].raw);
      assert.equal(body.callback_query.data, 'ap:55');
      assert.equal(body.callback_query.message.message_id, id);
      assert.equal(body.callback_query.from.id, 9);
      await tg.deliverUpdate(cap.url, upd, { secret: null });
      assert.equal(cap.got[2].headers['x-telegram-bot-api-secret-token'], undefined);

      assert.equal((await call('answerCallbackQuery', { callback_query_id: upd.callback_query.id, text: 'x'.repeat(201) })).body.description, 'Bad Request: MESSAGE_TOO_LONG');
      assert.equal((await call('answerCallbackQuery', { callback_query_id: upd.callback_query.id, text: 'Disetujui' })).status, 200);
      assert.equal(tg.callbackAnswer(upd).text, 'Disetujui');
      const again = await call('answerCallbackQuery', { callback_query_id: upd.callback_query.id });
      assert.equal(again.body.description, 'Bad Request: query is too old and response timeout expired or query ID is invalid');
      const late = tg.pressButton({ chatId: GROUP, messageId: id, from: { id: 9 }, data: 'ap:55' });
      assert.notEqual(late.update_id, upd.update_id);
      tg.advance(tg.callbackTimeoutMs + 1);
      assert.match((await call('answerCallbackQuery', { callback_query_id: late.callback_query.id })).body.description, /query is too old/);
    } finally { await cap.close(); }
  });

  it('setWebhook: https, allowed ports, secret_token characters', async () => {
    assert.match((await call('setWebhook', { url: 'http://gss.example.com/hooks/telegram' })).body.description, /HTTPS URL must be provided/);
    assert.match((await call('setWebhook', { url: 'https://gss.example.com:8080/hooks/telegram' })).body.description, /ports 80, 88, 443 or 8443/);
    assert.match((await call('setWebhook', { url: 'https://gss.example.com/hooks/telegram', secret_token: 'has space' })).body.description, /secret token contains unallowed characters/);
    const ok = await call('setWebhook', { url: 'https://gss.example.com:8443/hooks/telegram', secret_token: 'A-b_9', allowed_updates: ['message', 'callback_query'] });
    assert.deepEqual(ok.body, { ok: true, result: true, description: 'Webhook was set' });
    assert.equal(tg.webhook.secret_token, 'A-b_9');
    assert.deepEqual((await call('getWebhookInfo', {})).body.result.allowed_updates, ['message', 'callback_query']);
  });

  it('waitForRequest resolves for past and future requests and times out', async () => {
    const past = await tg.waitForRequest((e) => e.api === 'getMe' && e.status === 401);
    assert.deepEqual(past.reply, { ok: false, error_code: 401, description: 'Unauthorized' });
    const p = tg.waitForRequest((e) => e.api === 'sendMessage' && e.params.text === 'later');
    await send({ text: 'later' });
    const e = await p;
    assert.equal(e.status, 200);
    assert.equal(e.reply.result.text, 'later');
    assert.equal(typeof e.time, 'number');
    await assert.rejects(tg.waitForRequest('neverCalled', { timeoutMs: 50 }), /0 of 1 matching requests/);
  });
});

describe('telegram fake: rate limits and faults', () => {
  let tg;
  const send = async (chat, text) => {
    const r = await fetch(`${tg.url}/bot${TOKEN}/sendMessage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat_id: chat, text }) });
    return { status: r.status, body: await r.json() };
  };

  before(async () => { tg = await startTelegramFake({ token: TOKEN, rateLimits: { perChatMs: 1000, groupPerMin: 3, globalPerSec: 30 } }); });
  after(() => tg.stop());

  it('simulates 1/s per chat and N/min per group with retry_after, and counts early retries', async () => {
    assert.equal((await send(GROUP, 'a')).status, 200);
    const r = await send(GROUP, 'b');
    assert.deepEqual(r, { status: 429, body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } } });
    assert.equal((await send(GROUP, 'c')).status, 429);
    assert.equal(tg.counters.earlyRetries, 1);
    assert.equal((await send(-100777, 'other chat')).status, 200);
    tg.advance(1000);
    assert.equal((await send(GROUP, 'b')).status, 200);
    tg.advance(1000);
    assert.equal((await send(GROUP, 'c')).status, 200);
    tg.advance(1000);
    const r4 = await send(GROUP, 'd');
    assert.equal(r4.status, 429, 'the 4th message in a minute into one group');
    assert.ok(r4.body.parameters.retry_after >= 56 && r4.body.parameters.retry_after <= 58, `retry_after ${r4.body.parameters.retry_after}`);
    assert.equal(tg.maxInWindow({ windowMs: 60000, chatId: GROUP }), 3);
    assert.equal(tg.maxInWindow({ windowMs: 1000 }), 2);
  });

  it('injects 429, 403, migrate, 5xx for the next N matching calls, then answers normally', async () => {
    tg.advance(120000);
    const chat = -100555;
    tg.inject({ method: 'sendMessage', kind: 'rate_limit', retryAfter: 3 });
    const r = await send(chat, 'x');
    assert.deepEqual(r.body.parameters, { retry_after: 3 });
    assert.equal((await send(chat, 'too early')).status, 429, 'a resend before retry_after is refused again');
    tg.advance(3000);
    assert.equal((await send(chat, 'x')).status, 200);

    tg.inject({ method: 'sendMessage', kind: 'blocked', match: (e) => String(e.params.chat_id) === '-100556' });
    assert.equal((await send(-100557, 'not matched')).status, 200);
    assert.deepEqual((await send(-100556, 'x')).body, { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' });

    tg.inject({ method: 'sendMessage', kind: 'migrate', toChatId: -1009999 });
    assert.deepEqual((await send(-4242, 'x')).body, { ok: false, error_code: 400, description: 'Bad Request: group chat was upgraded to a supergroup chat', parameters: { migrate_to_chat_id: -1009999 } });

    tg.advance(5000);
    const rule = tg.inject({ method: 'sendMessage', kind: 'server_error', times: 2 });
    assert.equal((await send(-100600, 'x')).status, 500);
    tg.advance(1100);
    assert.equal((await send(-100600, 'x')).status, 500);
    tg.advance(1100);
    assert.equal((await send(-100600, 'x')).status, 200);
    assert.equal(rule.hits, 2);
    tg.inject({ method: 'sendMessage', kind: 'server_error', status: 502, html: true });
    const h = await fetch(`${tg.url}/bot${TOKEN}/sendMessage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat_id: -100601, text: 'x' }) });
    assert.equal(h.status, 502);
    assert.match(await h.text(), /<title>502 Bad Gateway<\/title>/);
  });

  it('a migrated group keeps answering migrate_to_chat_id, the new id works', async () => {
    tg.migrateChat(-777, -100777777);
    const r = await send(-777, 'x');
    assert.equal(r.body.parameters.migrate_to_chat_id, -100777777);
    assert.equal((await send(-100777777, 'x')).status, 200);
  });

  it('slow answers and dropped connections, before or after the effect', async () => {
    tg.advance(120000);
    tg.inject({ method: 'getMe', kind: 'delay', delayMs: 300 });
    const t0 = Date.now();
    assert.equal((await fetch(`${tg.url}/bot${TOKEN}/getMe`)).status, 200);
    assert.ok(Date.now() - t0 >= 290, 'answered late');

    const chat = -100888;
    const body = JSON.stringify({ chat_id: chat, text: 'lost?' });
    const post = () => rawRequest(`${tg.url}/bot${TOKEN}/sendMessage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    tg.inject({ method: 'sendMessage', kind: 'drop' });
    await assert.rejects(post(), /socket hang up|ECONNRESET/);
    assert.equal(tg.lastMessage(chat), null, "dropped before: the message doesn't exist");
    tg.inject({ method: 'sendMessage', kind: 'drop', when: 'after' });
    await assert.rejects(post(), /socket hang up|ECONNRESET/);
    assert.equal(tg.lastMessage(chat).text, 'lost?', 'dropped after: sent, but the caller never learnt it');
    const dropped = tg.requests.filter((e) => e.dropped);
    assert.equal(dropped.length, 2);
    assert.deepEqual(dropped.map((e) => e.fault), ['drop', 'drop']);
  });
});

describe('telegram fake: Mini App initData', () => {
  // An independent check, as the Telegram docs describe it.
  function validate(initData, botToken, { maxAgeS = 300, withSignature = true } = {}) {
    const params = new URLSearchParams(initData);
    const hash = params.get('hash') || '';
    const fields = [...params].filter(([k]) => k !== 'hash' && (withSignature || k !== 'signature'));
    fields.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const dcs = fields.map(([k, v]) => `${k}=${v}`).join('\n');
    const secret = crypto.createHmac('sha256', 'WebAppData').update(botToken).digest();
    const want = crypto.createHmac('sha256', secret).update(dcs).digest();
    const okHash = /^[0-9a-f]{64}$/.test(hash) && crypto.timingSafeEqual(want, Buffer.from(hash, 'hex'));
    const age = Math.floor(Date.now() / 1000) - Number(params.get('auth_date'));
    return { okHash, fresh: age >= 0 && age <= maxAgeS, params };
  }
  const user = { id: 4503599627370495, first_name: 'Teknisi Ñandú', last_name: '日本', username: 'tek_1', language_code: 'id' };

  it('validates with the bot token, signature included in the lines as real clients do', () => {
    const d = miniAppInitData({ botToken: TOKEN, user, start_param: 'job_123', chat_type: 'supergroup', chat_instance: '-6011' });
    const v = validate(d, TOKEN);
    assert.equal(v.okHash, true);
    assert.equal(v.fresh, true);
    assert.deepEqual(JSON.parse(v.params.get('user')), user, 'user is JSON, id up to 52 bits');
    assert.equal(v.params.get('start_param'), 'job_123');
    assert.equal(v.params.get('query_id'), null, 'a direct-link Mini App has no query_id');
    assert.equal(validate(d, TOKEN, { withSignature: false }).okHash, false, 'dropping signature from the lines breaks this variant');
    assert.equal(validate(d, '7012345678:other').okHash, false);
    assert.ok(!/[ +]/.test(d), 'values are percent-encoded');
  });

  it('builds the signatureInHash: false and unsigned variants', () => {
    const d = miniAppInitData({ botToken: TOKEN, user, signatureInHash: false });
    assert.equal(validate(d, TOKEN, { withSignature: false }).okHash, true);
    assert.equal(validate(d, TOKEN).okHash, false);
    const plain = miniAppInitData({ botToken: TOKEN, user, withSignature: false });
    assert.equal(new URLSearchParams(plain).get('signature'), null);
    assert.equal(validate(plain, TOKEN).okHash, true);
  });

  it('the signature verifies with Ed25519 over "<bot_id>:WebAppData\\n" + lines without hash and signature', () => {
    const d = miniAppInitData({ botToken: TOKEN, user, start_param: 'x' });
    const params = new URLSearchParams(d);
    const lines = [...params].filter(([k]) => k !== 'hash' && k !== 'signature').sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('\n');
    const key = crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(miniAppPublicKeyHex(), 'hex')]), format: 'der', type: 'spki' });
    const sig = Buffer.from(params.get('signature'), 'base64url');
    assert.equal(crypto.verify(null, Buffer.from(`7012345678:WebAppData\n${lines}`), key, sig), true);
  });

  it('breaks on request: wrong hash, renamed user, other token, stale auth_date', async () => {
    assert.equal(validate(miniAppInitData({ botToken: TOKEN, user, tamper: 'hash' }), TOKEN).okHash, false);
    assert.equal(validate(miniAppInitData({ botToken: TOKEN, user, tamper: 'user' }), TOKEN).okHash, false);
    assert.equal(validate(miniAppInitData({ botToken: TOKEN, user, tamper: 'token' }), TOKEN).okHash, false);
    const stale = validate(miniAppInitData({ botToken: TOKEN, user, auth_date: Math.floor(Date.now() / 1000) - 3600 }), TOKEN);
    assert.equal(stale.okHash, true);
    assert.equal(stale.fresh, false);
    const tg = await startTelegramFake({ token: TOKEN });
    try {
      assert.equal(validate(tg.miniAppInitData({ user }), TOKEN).okHash, true, 'the fake method uses its own token');
    } finally { await tg.stop(); }
  });
});

// ---------------------------------------------------------------------------
// WhatsApp

const WA_TOKEN = 'EAAGtestTOKEN123';
const PNID = '109876543210987';
const SECRET = 'app-secret-xyz';
const CUST = '6281234567890';

describe('whatsapp fake: sending', () => {
  let wa;
  const post = async (body, { token = WA_TOKEN, pnid = PNID, headers = {} } = {}) => {
    const h = { 'content-type': 'application/json', ...headers };
    if (token !== null) h.authorization = `Bearer ${token}`;
    const r = await fetch(`${wa.apiBase}/${pnid}/messages`, { method: 'POST', headers: h, body: JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  };
  const text = (to, body) => ({ messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { body } });
  const open = (waId = CUST) => wa.setLastInbound(waId, wa.clock.now() - 60000);
  const fresh = () => wa.advance(7000); // past the pair-rate gap

  before(async () => {
    wa = await startWhatsAppFake({
      token: WA_TOKEN,
      phoneNumberId: PNID,
      templates: [
        { name: 'gss_invoice', language: 'id', bodyParams: 2, buttons: [{ type: 'url', url: 'https://gss.test/i/{{1}}' }] },
        { name: 'gss_rating', language: 'id', bodyParams: 0, buttons: [{ type: 'url', url: 'https://gss.test/r/{{1}}' }, { type: 'url', url: 'https://gss.test/help' }] },
      ],
    });
  });
  after(() => wa.stop());

  it('needs the Bearer token and the right phone number id', async () => {
    const none = await post(text(CUST, 'x'), { token: null });
    assert.equal(none.status, 400);
    assert.equal(none.body.error.code, 104);
    const bad = await post(text(CUST, 'x'), { token: 'nope' });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error.code, 190);
    assert.equal(bad.body.error.type, 'OAuthException');
    assert.equal(typeof bad.body.error.fbtrace_id, 'string');
    const pid = await post(text(CUST, 'x'), { pnid: '1' });
    assert.equal(pid.body.error.code, 100);
    assert.equal(pid.body.error.type, 'GraphMethodException');
    assert.equal(pid.body.error.error_subcode, 33);
  });

  it('needs messaging_product whatsapp, digits-only `to`, text up to 4096 characters', async () => {
    open();
    assert.match((await post({ to: CUST, type: 'text', text: { body: 'x' } })).body.error.message, /messaging_product is required/);
    for (const to of ['+6281234567890', '0812-3456-7890', '62 812 345']) {
      const r = await post(text(to, 'x'));
      assert.equal(r.body.error.code, 100, to);
      assert.match(r.body.error.error_data.details, /digits/);
    }
    assert.match((await post(text(CUST, 'x'.repeat(4097)))).body.error.error_data.details, /at most 4096 characters/);
    const ok = await post(text(CUST, `${'é'.repeat(4095)}😀`));
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.contacts, [{ input: CUST, wa_id: CUST }]);
    assert.match(ok.body.messages[0].id, /^wamid\.[A-Za-z0-9+/=]+$/);
    assert.equal(wa.message(ok.body.messages[0].id).to, CUST);
  });

  it('keeps the 24-hour window: free-form outside it is 131047, a template is fine', async () => {
    const c = '6289900000001';
    const r = await post(text(c, 'Invoice siap'));
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 131047);
    assert.equal(r.body.error.message, '(#131047) Re-engagement message');
    wa.inboundText({ from: c, name: 'Budi', body: 'halo' });
    assert.equal((await post(text(c, 'Invoice siap'))).status, 200, 'building an inbound message opened the window');
    const other = '6289900000009';
    const handMade = wa.inboundText({ from: '6280000000000', body: 'x' });
    handMade.entry[0].changes[0].value.messages[0].from = other;
    assert.equal(wa.windowOpen(other), false);
    const cap = await startCapture();
    try { await wa.deliver(cap.url, handMade, { appSecret: SECRET }); } finally { await cap.close(); }
    assert.equal(wa.windowOpen(other), true, 'delivering a hand-made payload opens the window too');
    fresh();
    wa.setLastInbound(c, wa.clock.now() - 25 * 3600 * 1000);
    assert.equal((await post(text(c, 'x'))).body.error.code, 131047);
    const t = await post({ messaging_product: 'whatsapp', to: c, type: 'template', template: { name: 'gss_rating', language: { code: 'id' }, components: [{ type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'tok42' }] }] } });
    assert.equal(t.status, 200);
    assert.equal(t.body.messages[0].message_status, 'accepted');
    assert.deepEqual(wa.message(t.body.messages[0].id).template.buttons.map((b) => b.url), ['https://gss.test/r/tok42']);
  });

  it('spaces messages to one customer (131056) but not across customers', async () => {
    fresh();
    const a = '6289900000002';
    const b = '6289900000003';
    open(a); open(b);
    assert.equal((await post(text(a, 'invoice'))).status, 200);
    const r = await post(text(a, 'rating'));
    assert.equal(r.body.error.code, 131056);
    assert.match(r.body.error.message, /pair rate limit hit/);
    assert.equal((await post(text(b, 'other'))).status, 200);
    wa.advance(6000);
    assert.equal((await post(text(a, 'rating'))).status, 200);
    assert.equal(wa.maxInWindow({ windowMs: 6000, to: a }), 1);
  });

  it('checks cta_url limits: body 1024, display_text 20, header and footer 60', async () => {
    const cta = (o = {}) => ({
      messaging_product: 'whatsapp', to: CUST, type: 'interactive',
      interactive: {
        type: 'cta_url', body: { text: o.body ?? 'Invoice INV-7 siap' },
        ...(o.header !== undefined ? { header: { type: 'text', text: o.header } } : {}),
        ...(o.footer !== undefined ? { footer: { text: o.footer } } : {}),
        action: { name: 'cta_url', parameters: { display_text: o.display ?? 'Lihat Invoice', url: o.url ?? 'https://gss.test/i/abc' } },
      },
    });
    const cases = [[{ display: 'x'.repeat(21) }, /display_text.*at most 20/], [{ body: 'x'.repeat(1025) }, /at most 1024/],
      [{ header: 'x'.repeat(61) }, /header.*at most 60/], [{ footer: 'x'.repeat(61) }, /footer.*at most 60/], [{ url: 'not a url' }, /valid URL/]];
    for (const [o, re] of cases) {
      fresh(); open();
      const r = await post(cta(o));
      assert.equal(r.body.error && r.body.error.code, 100, JSON.stringify(o).slice(0, 40));
      assert.match(r.body.error.error_data.details, re);
    }
    fresh(); open();
    const ok = await post(cta({ display: 'x'.repeat(20), header: 'h'.repeat(60), footer: 'f'.repeat(60), body: 'b'.repeat(1024) }));
    assert.equal(ok.status, 200);
    assert.equal(wa.message(ok.body.messages[0].id).url, 'https://gss.test/i/abc');
  });

  it('checks templates: known name and language, parameter counts, the URL button parameter', async () => {
    const tpl = (t) => post({ messaging_product: 'whatsapp', to: CUST, type: 'template', template: t });
    const body2 = { type: 'body', parameters: [{ type: 'text', text: 'INV-7' }, { type: 'text', text: 'Rp 150.000' }] };
    const btn = (text, index = '0') => ({ type: 'button', sub_type: 'url', index, parameters: [{ type: 'text', text }] });
    fresh();
    let r = await tpl({ name: 'gss_nope', language: { code: 'id' } });
    assert.equal(r.body.error.code, 132001);
    r = await tpl({ name: 'gss_invoice', language: { code: 'en_US' }, components: [body2, btn('a')] });
    assert.equal(r.body.error.code, 132001, 'no such translation');
    r = await tpl({ name: 'gss_invoice', language: { code: 'id' }, components: [body2] });
    assert.equal(r.body.error.code, 132000, 'missing URL button parameter');
    r = await tpl({ name: 'gss_invoice', language: { code: 'id' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'INV-7' }] }, btn('a')] });
    assert.equal(r.body.error.code, 132000, 'one body parameter short');
    r = await tpl({ name: 'gss_invoice', language: { code: 'id' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'INV-7\nRp' }, { type: 'text', text: 'x' }] }, btn('a')] });
    assert.equal(r.body.error.code, 132018, 'no newline in a template parameter');
    r = await tpl({ name: 'gss_invoice', language: { code: 'id' }, components: [body2, { type: 'button', sub_type: 'quick_reply', index: '0', parameters: [{ type: 'payload', payload: 'x' }] }] });
    assert.equal(r.body.error.code, 100);
    r = await tpl({ name: 'gss_rating', language: { code: 'id' }, components: [btn('a'), btn('b', '1')] });
    assert.equal(r.body.error.code, 132000, 'the second button has a static URL');
    r = await tpl({ name: 'gss_invoice', language: { code: 'id' }, components: [body2, btn('pub_XYZ')] });
    assert.equal(r.status, 200);
    const m = wa.message(r.body.messages[0].id);
    assert.deepEqual(m.template.bodyParams, ['INV-7', 'Rp 150.000']);
    assert.deepEqual(m.template.buttons, [{ index: 0, indexGiven: '0', url: 'https://gss.test/i/pub_XYZ' }]);
    fresh();
    r = await tpl({ name: 'gss_invoice', language: { code: 'id' }, components: [body2, btn('https://gss.test/i/pub_XYZ')] });
    assert.equal(wa.message(r.body.messages[0].id).template.buttons[0].url, 'https://gss.test/i/https://gss.test/i/pub_XYZ', 'Meta takes a full URL as a suffix: the test must look');
  });

  it('injects 130429, 5xx, slow answers and dropped connections', async () => {
    fresh(); open();
    wa.inject({ method: 'messages', kind: 'rate_limit' });
    assert.equal((await post(text(CUST, 'x'))).body.error.code, 130429);
    wa.inject({ method: 'messages', kind: 'server_error', status: 503 });
    const s = await post(text(CUST, 'x'));
    assert.equal(s.status, 503);
    assert.equal(s.body.error.code, 131000);
    wa.inject({ method: 'messages', kind: 'delay', delayMs: 200 });
    const t0 = Date.now();
    assert.equal((await post(text(CUST, 'slow'))).status, 200);
    assert.ok(Date.now() - t0 >= 190);
    fresh();
    wa.inject({ method: 'messages', kind: 'drop', when: 'after' });
    const n = wa.sent.length;
    await assert.rejects(rawRequest(`${wa.apiBase}/${PNID}/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${WA_TOKEN}` }, body: JSON.stringify(text(CUST, 'lost reply')) }), /socket hang up|ECONNRESET/);
    assert.equal(wa.sent.length, n + 1, 'accepted, but the caller never got the wamid');
  });

  it('asyncErrors: accepts outside the window and reports 131047 as a failed status', async () => {
    const cap = await startCapture();
    const w = await startWhatsAppFake({ token: WA_TOKEN, phoneNumberId: PNID, asyncErrors: true, webhook: { url: cap.url, appSecret: SECRET }, statusDelayMs: 10 });
    try {
      const r = await fetch(`${w.apiBase}/${PNID}/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${WA_TOKEN}` }, body: JSON.stringify(text('6287700000001', 'x')) });
      const id = (await r.json()).messages[0].id;
      for (let i = 0; i < 100 && cap.got.length === 0; i++) await sleep(10);
      const st = JSON.parse(cap.got[0].raw).entry[0].changes[0].value.statuses[0];
      assert.equal(st.id, id);
      assert.equal(st.status, 'failed');
      assert.equal(st.errors[0].code, 131047);
      assert.equal(cap.got[0].headers['x-hub-signature-256'], signBody(cap.got[0].raw, SECRET));
    } finally { await w.stop(); await cap.close(); }
  });
});

describe('whatsapp fake: media', () => {
  let wa;
  before(async () => { wa = await startWhatsAppFake({ token: WA_TOKEN, phoneNumberId: PNID }); });
  after(() => wa.stop());

  it('round trip: webhook image id → GET /<id> → GET url with Bearer → the bytes; URLs expire', async () => {
    const bytes = crypto.randomBytes(3000);
    const p = wa.inboundImage({ from: CUST, name: 'Sari', bytes, mimeType: 'image/png', caption: 'AC bocor' });
    const img = p.entry[0].changes[0].value.messages[0].image;
    assert.equal(img.caption, 'AC bocor');
    assert.equal(img.sha256, crypto.createHash('sha256').update(bytes).digest('base64'), 'webhook sha256 is base64');
    const auth = { authorization: `Bearer ${WA_TOKEN}` };
    assert.equal((await fetch(`${wa.apiBase}/${img.id}`)).status, 400, 'no token');
    const meta = await (await fetch(`${wa.apiBase}/${img.id}`, { headers: auth })).json();
    assert.deepEqual(Object.keys(meta).sort(), ['file_size', 'id', 'messaging_product', 'mime_type', 'sha256', 'url']);
    assert.equal(meta.mime_type, 'image/png');
    assert.equal(meta.file_size, '3000', 'file_size is a string');
    assert.equal(meta.sha256, crypto.createHash('sha256').update(bytes).digest('hex'));
    assert.equal((await fetch(meta.url)).status, 401, 'the URL needs the Bearer token too');
    const got = await fetch(meta.url, { headers: auth });
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes);
    assert.equal(wa.counters.mediaDownloads, 1);
    wa.advance(5 * 60 * 1000 + 1);
    assert.equal((await fetch(meta.url, { headers: auth })).status, 404, 'the URL lives 5 minutes');
    const again = await (await fetch(`${wa.apiBase}/${img.id}`, { headers: auth })).json();
    assert.equal((await fetch(again.url, { headers: auth })).status, 200, 'a new GET gives a new URL');
    wa.advance(7 * 24 * 3600 * 1000);
    const gone = await (await fetch(`${wa.apiBase}/${img.id}`, { headers: auth })).json();
    assert.equal(gone.error.code, 100, 'the media id lives 7 days');
  });
});

describe('whatsapp fake: webhooks towards gssd', () => {
  let wa;
  let cap;
  const hmac = (raw) => `sha256=${crypto.createHmac('sha256', SECRET).update(raw).digest('hex')}`;
  const value = (p) => p.entry[0].changes[0].value;

  before(async () => {
    wa = await startWhatsAppFake({ token: WA_TOKEN, phoneNumberId: PNID, displayPhoneNumber: '6281100000000' });
    cap = await startCapture();
  });
  after(async () => { await wa.stop(); await cap.close(); });

  it('builds inbound text with contact, wa_id, user_id (BSUID) and string timestamps', () => {
    const p = wa.inboundText({ from: CUST, name: 'Budi Santoso', body: 'AC tidak dingin', timestamp: 1790000000 });
    assert.equal(p.object, 'whatsapp_business_account');
    assert.equal(p.entry[0].changes[0].field, 'messages');
    const v = value(p);
    assert.deepEqual(v.metadata, { display_phone_number: '6281100000000', phone_number_id: PNID });
    assert.equal(v.contacts[0].profile.name, 'Budi Santoso');
    assert.equal(v.contacts[0].wa_id, CUST);
    assert.match(v.contacts[0].user_id, /^[A-Z]{2}\.[A-Za-z0-9]{1,128}$/);
    assert.equal(v.messages[0].from_user_id, v.contacts[0].user_id);
    assert.equal(v.messages[0].from, CUST);
    assert.equal(v.messages[0].timestamp, '1790000000');
    assert.equal(v.messages[0].type, 'text');
    assert.equal(v.messages[0].text.body, 'AC tidak dingin');
    assert.equal(value(wa.inboundText({ from: CUST, body: 'x' })).contacts[0].user_id, v.contacts[0].user_id, 'stable BSUID per customer');
    const hidden = value(wa.inboundText({ from: '6281999', body: 'x', username: '@budi', hidePhone: true }));
    assert.equal(hidden.contacts[0].wa_id, undefined);
    assert.equal(hidden.messages[0].from, undefined);
    assert.equal(hidden.contacts[0].profile.username, '@budi');
  });

  it('builds button replies, statuses (all four, failed with errors) and batches', () => {
    const br = value(wa.inboundButtonReply({ from: CUST, buttonId: 'rate:5', title: 'Puas', contextId: 'wamid.ABC=' })).messages[0];
    assert.equal(br.type, 'interactive');
    assert.deepEqual(br.interactive, { type: 'button_reply', button_reply: { id: 'rate:5', title: 'Puas' } });
    assert.deepEqual(br.context, { from: '6281100000000', id: 'wamid.ABC=' });
    const sts = ['sent', 'delivered', 'read'].map((s) => value(wa.statusUpdate('wamid.X=', s, { to: CUST })).statuses[0]);
    assert.deepEqual(sts.map((s) => s.status), ['sent', 'delivered', 'read']);
    assert.equal(sts[0].recipient_id, CUST);
    assert.equal(typeof sts[0].timestamp, 'string');
    const failed = value(wa.statusUpdate('wamid.X=', 'failed', { to: CUST, errors: [131026] })).statuses[0];
    assert.equal(failed.errors[0].code, 131026);
    assert.equal(typeof failed.errors[0].error_data.details, 'string');
    const b = value(wa.batch(wa.inboundText({ from: CUST, body: 'a' }), wa.inboundText({ from: '628555', body: 'b' }), wa.statusUpdate('wamid.Y=', 'read', { to: CUST })));
    assert.equal(b.messages.length, 2);
    assert.equal(b.contacts.length, 2);
    assert.equal(b.statuses.length, 1);
  });

  it('signs the exact bytes, Meta-escaped non-ASCII included; re-serialised JSON does not verify', async () => {
    cap.got.length = 0;
    const p = wa.inboundText({ from: CUST, name: 'José 日本', body: 'Halo é 日本 😀 https://x.y/z' });
    const r = await wa.deliver(cap.url, p, { appSecret: SECRET });
    assert.equal(r.status, 200);
    const got = cap.got[0];
    assert.equal(got.url, '/hooks/whatsapp');
    assert.equal(got.headers['content-type'], 'application/json');
    assert.deepEqual(got.raw, r.bytes);
    const text = got.raw.toString('utf8');
    assert.ok(/^[\x20-\x7e]*$/.test(text), 'Meta encoding is pure ASCII');
    assert.ok(text.includes('Jos\\u00e9 \\u65e5\\u672c') && text.includes('\\ud83d\\ude00') && text.includes('https:\\/\\/x.y\\/z'));
    assert.equal(got.headers['x-hub-signature-256'], hmac(got.raw));
    assert.equal(JSON.parse(text).entry[0].changes[0].value.messages[0].text.body, 'Halo é 日本 😀 https://x.y/z');
    assert.notEqual(hmac(Buffer.from(JSON.stringify(JSON.parse(text)))), got.headers['x-hub-signature-256']);

    await wa.deliver(cap.url, p, { appSecret: SECRET, encoding: 'utf8' });
    const u8 = cap.got[1];
    assert.ok(u8.raw.includes(Buffer.from('é 日本 😀', 'utf8')), 'raw UTF-8 variant');
    assert.equal(u8.headers['x-hub-signature-256'], hmac(u8.raw));

    await wa.deliver(cap.url, p, { signature: 'sha256=00' });
    assert.equal(cap.got[2].headers['x-hub-signature-256'], 'sha256=00');
    await wa.deliver(cap.url, p, { signature: null });
    assert.equal(cap.got[3].headers['x-hub-signature-256'], undefined);
    await wa.deliver(cap.url, null, { appSecret: SECRET, raw: '{"object":"whatsapp_business_account","entry":[]}  ' });
    assert.equal(cap.got[4].raw.toString(), '{"object":"whatsapp_business_account","entry":[]}  ');
    assert.equal(cap.got[4].headers['x-hub-signature-256'], hmac(cap.got[4].raw));
  });

  it('runs the verification GET', async () => {
    cap.got.length = 0;
    const r = await wa.verifyWebhook(cap.url, { verifyToken: 'vt-1', challenge: '1158201444' });
    assert.equal(r.text, '1158201444');
    const q = new URL(cap.got[0].url, 'http://x').searchParams;
    assert.equal(cap.got[0].method, 'GET');
    assert.equal(q.get('hub.mode'), 'subscribe');
    assert.equal(q.get('hub.verify_token'), 'vt-1');
    assert.equal(q.get('hub.challenge'), '1158201444');
  });
});
