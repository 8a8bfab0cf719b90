// A fake Telegram Bot API server for gssd's tests (tests/fakes/README.md).
//
// startTelegramFake({token, ...}) listens on a free loopback port and answers
// POST|GET {url}/bot<token>/<method> the way api.telegram.org does, as
// strictly as we know how: the token must match, chat_id is required, text
// is 1-4096 characters after HTML parsing (a real port of Telegram's HTML
// rules, with its error texts), inline keyboards are checked button by
// button, edits need a known message and a real change, callback queries are
// answered once and in time. It keeps every message's current state (text,
// entities, keyboard, history of edits) so a test reads the final state.
//
// It also plays Telegram towards gssd: builds updates (/start <code>, button
// presses on recorded messages) with fresh update_ids and POSTs them to
// /hooks/telegram with the secret header; builds Mini App initData signed
// exactly as Telegram signs it. Faults (429, 403, migrate, 5xx, slow
// answers, dropped connections) are injected with fake.inject(rule).
//
// Where the fake's error wording is its own (Telegram's is unknown to us) the
// README says so. Everything runs on one node event loop; no threads.

import crypto from 'node:crypto';
import net from 'node:net';

import {
  Clock, Recorder, FaultQueue, startHttp, readBody, serve, rawRequest, maxInWindow, codePoints, joinUrl,
} from './common.mjs';

// ---------------------------------------------------------------------------
// Errors

/** A Bot API error: HTTP status = error_code, JSON {ok:false, ...}. */
export class TgError extends Error {
  constructor(code, description, parameters) {
    super(description);
    this.code = code;
    this.description = description;
    this.parameters = parameters;
  }

  body() {
    const b = { ok: false, error_code: this.code, description: this.description };
    if (this.parameters) b.parameters = this.parameters;
    return b;
  }
}

const bad = (what) => new TgError(400, `Bad Request: ${what}`);
const parseErr = (what) => bad(`can't parse entities: ${what}`);
const TOO_OLD = "query is too old and response timeout expired or query ID is invalid";
const NOT_MODIFIED = 'message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message';

// ---------------------------------------------------------------------------
// HTML parse mode: the rules of Telegram's parser (tdlib parse_html), written
// here from its documented behaviour. Only '<' and '&' are special; '>' is
// text. An '&' that starts no known entity stays literal text (Telegram does
// the same, so a missing &amp; goes unnoticed unless strictAmpersand is set).

const HTML_TAGS = new Set(['a', 'b', 'strong', 'i', 'em', 's', 'strike', 'del', 'u', 'ins',
  'tg-spoiler', 'tg-emoji', 'span', 'pre', 'code', 'blockquote']);
const NAMED = { lt: '<', gt: '>', amp: '&', quot: '"' };
const isWs = (c) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
const byteAt = (s, i) => Buffer.byteLength(s.slice(0, i), 'utf8');

function decodeEntity(s, i) {
  let j = i + 1;
  let code;
  if (s[j] === '#') {
    j++;
    let digits = '';
    const hex = s[j] === 'x' || s[j] === 'X';
    if (hex) j++;
    const re = hex ? /[0-9a-fA-F]/ : /[0-9]/;
    while (j < s.length && re.test(s[j])) digits += s[j++];
    code = digits ? parseInt(digits, hex ? 16 : 10) : 0;
    if (!(code > 0 && code < 0x10ffff) || (code >= 0xd800 && code <= 0xdfff)) return null;
  } else {
    let name = '';
    while (j < s.length && /[a-zA-Z]/.test(s[j])) name += s[j++];
    if (!Object.hasOwn(NAMED, name)) return null;
    code = NAMED[name].codePointAt(0);
  }
  if (s[j] === ';') j++;
  return { ch: String.fromCodePoint(code), next: j };
}

function entityOf(tag, offset, length, innerText) {
  switch (tag.name) {
    case 'b': case 'strong': return { type: 'bold', offset, length };
    case 'i': case 'em': return { type: 'italic', offset, length };
    case 'u': case 'ins': return { type: 'underline', offset, length };
    case 's': case 'strike': case 'del': return { type: 'strikethrough', offset, length };
    case 'tg-spoiler': case 'span': return { type: 'spoiler', offset, length };
    case 'code': return tag.arg ? { type: 'code', offset, length, language: tag.arg } : { type: 'code', offset, length };
    case 'pre': return { type: 'pre', offset, length };
    case 'a': return { type: 'text_link', offset, length, url: tag.arg !== null ? tag.arg : innerText };
    case 'blockquote': return { type: tag.arg === 'expandable' ? 'expandable_blockquote' : 'blockquote', offset, length };
    case 'tg-emoji':
      if (!/^\d+$/.test(tag.arg || '')) throw parseErr('Invalid custom emoji identifier specified');
      return { type: 'custom_emoji', offset, length, custom_emoji_id: tag.arg };
    default: throw new Error(`unreachable tag ${tag.name}`);
  }
}

/** parseHtml(s, {strictAmpersand}) → {text, entities}: the plain text and
 *  the entities (UTF-16 offsets, as Telegram reports them). Throws a
 *  TgError 400 "Bad Request: can't parse entities: ..." on bad markup. */
export function parseHtml(s, { strictAmpersand = false } = {}) {
  let out = '';
  const stack = [];
  const entities = [];
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s[i];
    if (c === '&') {
      const d = decodeEntity(s, i);
      if (d) { out += d.ch; i = d.next; continue; }
      if (strictAmpersand) {
        throw parseErr(`bare "&" at byte offset ${byteAt(s, i)} (fake option strictAmpersand; Telegram keeps it as text)`);
      }
    }
    if (c !== '<') { out += c; i++; continue; }
    const at = byteAt(s, i);
    i++;
    if (s[i] !== '/') {
      const b = i;
      while (i < n && !isWs(s[i]) && s[i] !== '>') i++;
      if (i >= n) throw parseErr(`Unclosed start tag at byte offset ${at}`);
      const name = s.slice(b, i).toLowerCase();
      if (!HTML_TAGS.has(name)) throw parseErr(`Unsupported start tag "${name}" at byte offset ${at}`);
      let arg = null;
      while (s[i] !== '>') {
        while (i < n && isWs(s[i])) i++;
        if (i >= n) throw parseErr(`Unclosed start tag "${name}" at byte offset ${at}`);
        if (s[i] === '>') break;
        const ab = i;
        while (i < n && !isWs(s[i]) && !'=>/"\''.includes(s[i])) i++;
        const attr = s.slice(ab, i).toLowerCase();
        if (!attr) throw parseErr(`Empty attribute name in the tag "${name}" at byte offset ${at}`);
        while (i < n && isWs(s[i])) i++;
        if (i >= n) throw parseErr(`Unclosed start tag "${name}" at byte offset ${at}`);
        if (s[i] !== '=') {
          if (name === 'blockquote' && attr === 'expandable') arg = 'expandable';
          continue;
        }
        i++;
        while (i < n && isWs(s[i])) i++;
        if (i >= n) throw parseErr(`Unclosed start tag "${name}" at byte offset ${at}`);
        let val = '';
        if (s[i] !== '"' && s[i] !== "'") {
          const vb = i;
          while (i < n && /[A-Za-z0-9.-]/.test(s[i])) i++;
          val = s.slice(vb, i).toLowerCase();
          if (i >= n) throw parseErr(`Unclosed start tag "${name}" at byte offset ${at}`);
          if (!isWs(s[i]) && s[i] !== '>') throw parseErr(`Unexpected end of name token at byte offset ${byteAt(s, i)}`);
        } else {
          const q = s[i++];
          while (i < n && s[i] !== q) {
            if (s[i] === '&') {
              const d = decodeEntity(s, i);
              if (d) { val += d.ch; i = d.next; continue; }
            }
            val += s[i++];
          }
          if (i >= n) throw parseErr(`Unclosed start tag at byte offset ${at}`);
          i++;
        }
        if (name === 'a' && attr === 'href') arg = val;
        else if (name === 'code' && attr === 'class' && val.startsWith('language-')) arg = val.slice(9);
        else if (name === 'span' && attr === 'class' && val.startsWith('tg-')) arg = val.slice(3);
        else if (name === 'tg-emoji' && attr === 'emoji-id') arg = val;
      }
      if (name === 'span' && arg !== 'spoiler') throw parseErr(`Tag "span" must have class "tg-spoiler" at byte offset ${at}`);
      i++;
      stack.push({ name, arg, start: out.length, at });
    } else {
      if (!stack.length) throw parseErr(`Unexpected end tag at byte offset ${at}`);
      i++;
      const b = i;
      while (i < n && !isWs(s[i]) && s[i] !== '>') i++;
      const endName = s.slice(b, i).toLowerCase();
      while (i < n && isWs(s[i])) i++;
      if (s[i] !== '>') throw parseErr(`Unclosed end tag at byte offset ${at}`);
      i++;
      const top = stack[stack.length - 1];
      if (endName && endName !== top.name) {
        throw parseErr(`Unmatched end tag at byte offset ${at}, expected "</${top.name}>", found "</${endName}>"`);
      }
      stack.pop();
      const len = out.length - top.start;
      if (len > 0) {
        const e = entityOf(top, top.start, len, out.slice(top.start));
        // <pre><code class="language-x">…</code></pre> is one pre entity with a language.
        const last = entities[entities.length - 1];
        if (e.type === 'pre' && last && last.type === 'code' && last.offset === e.offset && last.length === e.length) {
          entities.pop();
          if (last.language) e.language = last.language;
        }
        entities.push(e);
      }
    }
  }
  if (stack.length) throw parseErr(`Can't find end tag corresponding to start tag "${stack[stack.length - 1].name}"`);
  return trimText(out, entities);
}

// Telegram strips leading and trailing white space of every message text;
// entities move with it.
function trimText(out, entities) {
  const lead = out.length - out.trimStart().length;
  const text = out.trim();
  const ents = [];
  for (const e of entities) {
    let start = e.offset - lead;
    let end = start + e.length;
    start = Math.max(0, start);
    end = Math.min(text.length, end);
    if (end > start) ents.push({ ...e, offset: start, length: end - start });
  }
  ents.sort((a, b) => a.offset - b.offset || b.length - a.length);
  return { text, entities: ents };
}

// ---------------------------------------------------------------------------
// Inline keyboards

const BUTTON_ACTIONS = ['url', 'callback_data', 'web_app', 'login_url', 'switch_inline_query',
  'switch_inline_query_current_chat', 'switch_inline_query_chosen_chat', 'copy_text', 'callback_game', 'pay', 'disabled'];

// Special-use names (RFC 6761 and friends) that no public DNS resolves.
const RESERVED_TLDS = ['test', 'example', 'invalid', 'localhost', 'local', 'internal', 'lan', 'home.arpa', 'onion'];

/** urlButtonAllowed(url, allow): Telegram refuses buttons to localhost, bare
 *  IPs and names that are no public host. `allow` lists host names (or
 *  host:port) the test wants accepted anyway; '*' accepts every http(s) URL. */
export function urlButtonAllowed(raw, allow = []) {
  let u;
  try { u = new URL(raw); } catch { return false; }
  if (u.protocol === 'tg:') return true;
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  const host = u.hostname.toLowerCase();
  if (allow.includes('*') || allow.includes(host) || allow.includes(u.host.toLowerCase())) return true;
  const bare = host.replace(/^\[|\]$/g, '');
  if (net.isIP(bare)) return false;
  if (!host.includes('.')) return false;
  if (RESERVED_TLDS.some((t) => host === t || host.endsWith(`.${t}`))) return false;
  return true;
}

function parseJsonParam(v, what) {
  if (typeof v !== 'string') return v;
  try { return JSON.parse(v); } catch { throw bad(what); }
}

function checkInlineKeyboard(markup, chat, allowHosts) {
  const rows = markup.inline_keyboard;
  if (!Array.isArray(rows) || rows.some((r) => !Array.isArray(r))) {
    throw bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays');
  }
  for (const row of rows) {
    for (const b of row) {
      if (!b || typeof b !== 'object' || Array.isArray(b)) throw bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object");
      if (typeof b.text !== 'string') throw bad('can\'t parse inline keyboard button: Field "text" must be of type String');
      if (!b.text.trim()) throw bad('BUTTON_TEXT_INVALID');
      const acts = BUTTON_ACTIONS.filter((k) => b[k] !== undefined);
      if (acts.length === 0) throw bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard");
      if (acts.length > 1) throw bad(`can't parse inline keyboard button: a button must have exactly one action, got ${acts.join(', ')}`);
      const act = acts[0];
      if (act === 'callback_data') {
        const len = typeof b.callback_data === 'string' ? Buffer.byteLength(b.callback_data, 'utf8') : -1;
        if (len < 1 || len > 64) throw bad('BUTTON_DATA_INVALID');
      } else if (act === 'url') {
        if (typeof b.url !== 'string' || !urlButtonAllowed(b.url, allowHosts)) throw bad('BUTTON_URL_INVALID');
      } else if (act === 'web_app') {
        if (chat.type !== 'private') throw bad('BUTTON_TYPE_INVALID');
        const u = b.web_app && b.web_app.url;
        if (typeof u !== 'string' || !u.startsWith('https://') || !urlButtonAllowed(u, allowHosts)) throw bad('BUTTON_URL_INVALID');
      } else if (act === 'disabled') {
        if (!b.disabled || typeof b.disabled !== 'object' || Array.isArray(b.disabled)) {
          throw bad('can\'t parse inline keyboard button: Field "disabled" must be of type Object');
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Params

const SEND_PARAMS = new Set(['business_connection_id', 'chat_id', 'message_thread_id', 'direct_messages_topic_id',
  'ephemeral_message_parameters', 'text', 'parse_mode', 'entities', 'link_preview_options', 'disable_web_page_preview',
  'disable_notification', 'protect_content', 'allow_paid_broadcast', 'message_effect_id', 'suggested_post_parameters',
  'reply_parameters', 'reply_to_message_id', 'allow_sending_without_reply', 'reply_markup']);
const EDIT_PARAMS = new Set(['business_connection_id', 'chat_id', 'message_id', 'inline_message_id', 'text', 'parse_mode',
  'entities', 'link_preview_options', 'disable_web_page_preview', 'reply_markup']);

// Telegram takes parameters from the query string and from a JSON, urlencoded
// or multipart body alike.
async function parseParams(entry) {
  const params = { ...entry.query };
  const ct = String(entry.headers['content-type'] || '').toLowerCase();
  if (entry.raw.length === 0) return params;
  if (ct.startsWith('application/json')) {
    let j;
    try { j = JSON.parse(entry.text); } catch { throw bad("can't parse JSON object"); }
    if (!j || typeof j !== 'object' || Array.isArray(j)) throw bad("can't parse JSON object");
    entry.json = j;
    return { ...params, ...j };
  }
  if (ct.startsWith('application/x-www-form-urlencoded')) {
    return { ...params, ...Object.fromEntries(new URLSearchParams(entry.text)) };
  }
  if (ct.startsWith('multipart/form-data')) {
    const fd = await new Response(entry.raw, { headers: { 'content-type': entry.headers['content-type'] } }).formData();
    for (const [k, v] of fd.entries()) params[k] = typeof v === 'string' ? v : { file: v.name, size: v.size };
    return params;
  }
  return params;
}

const asBool = (v) => v === true || v === 'true' || v === 1 || v === '1';

function parseText(params, what, opts) {
  if (params.text === undefined || params.text === null || params.text === '') throw bad(`${what} text is empty`);
  const raw = String(params.text);
  let parsed;
  const mode = params.parse_mode === undefined || params.parse_mode === '' ? '' : String(params.parse_mode).toLowerCase();
  if (mode === 'html') {
    parsed = parseHtml(raw, opts);
  } else if (mode === 'markdownv2' || mode === 'markdown') {
    throw bad(`parse_mode ${params.parse_mode} is not implemented by the fake (use HTML)`);
  } else if (mode !== '') {
    throw bad('unsupported parse_mode');
  } else {
    const ents = params.entities === undefined ? [] : parseJsonParam(params.entities, "can't parse entities JSON object");
    parsed = trimText(raw, Array.isArray(ents) ? ents : []);
  }
  if (parsed.text === '') throw bad(`${what} text is empty`);
  if (codePoints(parsed.text) > 4096) throw bad(`${what} is too long`);
  return { ...parsed, html: mode === 'html' ? raw : null, parse_mode: params.parse_mode || null };
}

// ---------------------------------------------------------------------------
// Mini App initData

let signingKeys = null;
function keys() {
  if (!signingKeys) signingKeys = crypto.generateKeyPairSync('ed25519');
  return signingKeys;
}

/** miniAppPublicKeyHex(): the raw Ed25519 public key (hex) that verifies the
 *  `signature` field of initData built here. Telegram signs with its own key
 *  (published in the Mini Apps docs), which no test can use; ours stands in. */
export function miniAppPublicKeyHex() {
  const der = keys().publicKey.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32).toString('hex');
}

/** miniAppInitData({botToken, user, auth_date, start_param, query_id,
 *  chat_type, chat_instance, withSignature = true, signatureInHash = true,
 *  tamper, extra}) → the initData query string as a Telegram client hands it
 *  to the page.
 *
 *  hash = hex(HMAC_SHA256(key = HMAC_SHA256(key="WebAppData", msg=bot_token),
 *  msg = every field but hash, sorted by key, as key=value lines joined with
 *  "\n")). Real clients include `signature` in those lines (it is a field
 *  like any other); signatureInHash: false builds the other variant.
 *  signature = base64url(Ed25519(bot_id + ":WebAppData\n" + the same lines
 *  without hash and signature)) with the fake's key (miniAppPublicKeyHex).
 *  auth_date defaults to now (seconds); pass an old one for a stale login.
 *  tamper: 'hash' flips a hex digit of the hash, 'user' renames the user after
 *  signing, 'token' signs with a different bot token. */
export function miniAppInitData({
  botToken, user, auth_date, authDate, start_param, startParam, query_id, chat_type, chat_instance,
  withSignature = true, signatureInHash = true, tamper = null, extra = {},
} = {}) {
  if (!botToken) throw new Error('miniAppInitData: botToken is required');
  const fields = {};
  if (query_id !== undefined) fields.query_id = String(query_id);
  if (user) fields.user = JSON.stringify(user);
  if (chat_instance !== undefined) fields.chat_instance = String(chat_instance);
  if (chat_type !== undefined) fields.chat_type = String(chat_type);
  const sp = start_param !== undefined ? start_param : startParam;
  if (sp !== undefined) fields.start_param = String(sp);
  fields.auth_date = String(auth_date ?? authDate ?? Math.floor(Date.now() / 1000));
  for (const [k, v] of Object.entries(extra)) fields[k] = String(v);
  const lines = (obj) => Object.keys(obj).sort().map((k) => `${k}=${obj[k]}`).join('\n');
  const signToken = tamper === 'token' ? `${botToken}x` : botToken;
  if (withSignature) {
    const botId = String(botToken).split(':')[0];
    const msg = `${botId}:WebAppData\n${lines(fields)}`;
    fields.signature = crypto.sign(null, Buffer.from(msg), keys().privateKey).toString('base64url');
  }
  const hashed = { ...fields };
  if (!signatureInHash) delete hashed.signature;
  const secret = crypto.createHmac('sha256', 'WebAppData').update(signToken).digest();
  let hash = crypto.createHmac('sha256', secret).update(lines(hashed)).digest('hex');
  if (tamper === 'hash') hash = hash.slice(0, -1) + (hash.endsWith('0') ? '1' : '0');
  if (tamper === 'user' && user) fields.user = JSON.stringify({ ...user, first_name: `${user.first_name || ''}X` });
  const order = ['query_id', 'user', 'chat_instance', 'chat_type', 'start_param', 'auth_date'];
  const keysOut = [...order.filter((k) => k in fields), ...Object.keys(fields).filter((k) => !order.includes(k) && k !== 'signature')];
  if ('signature' in fields) keysOut.push('signature');
  const parts = keysOut.map((k) => `${k}=${encodeURIComponent(fields[k])}`);
  parts.push(`hash=${hash}`);
  return parts.join('&');
}

// ---------------------------------------------------------------------------
// The fake

const DEFAULT_LIMITS = { perChatMs: 1000, groupPerMin: 20, globalPerSec: 30, methods: ['sendMessage', 'editMessageText', 'editMessageReplyMarkup'] };

/** startTelegramFake(options) → TelegramFake (see the class). Options:
 *   token (required), botUsername, botName, host, port,
 *   allowUrlHosts: host names accepted in URL buttons although Telegram
 *     would refuse them (e.g. ['gss.test']; '*' for all),
 *   chats: {[id]: {type, title, username}} known chats (else: negative ids
 *     are groups, "-100…" supergroups, positive ids private chats),
 *   strictChats: unknown negative chat ids answer "chat not found",
 *   openPrivateChats: private chats work without the user pressing Start,
 *   callbackTimeoutMs (15000): answers later than this are "query is too old",
 *   rateLimits: false | true | {perChatMs, groupPerMin, globalPerSec, methods},
 *   enforceRetryAfter (true): a resend to a chat before the retry_after of
 *     its last 429 gets another 429 (counted in counters.earlyRetries),
 *   strictAmpersand: refuse a bare '&' in HTML (Telegram accepts it),
 *   webhookSecret: default secret for deliverUpdate. */
export async function startTelegramFake(options = {}) {
  const fake = new TelegramFake(options);
  await fake.listen(options);
  return fake;
}

export class TelegramFake {
  constructor(o) {
    if (!o.token || !/^\d+:[A-Za-z0-9_-]+$/.test(o.token)) throw new Error('startTelegramFake: token like "123456:ABC-xyz" is required');
    this.token = o.token;
    this.botId = Number(o.token.split(':')[0]);
    this.bot = { id: this.botId, is_bot: true, first_name: o.botName || 'GSS Test Bot', username: o.botUsername || 'gss_test_bot' };
    this.allowUrlHosts = o.allowUrlHosts || [];
    this.strictChats = !!o.strictChats;
    this.openPrivateChats = !!o.openPrivateChats;
    this.callbackTimeoutMs = o.callbackTimeoutMs ?? 15000;
    this.rateLimits = o.rateLimits === true ? { ...DEFAULT_LIMITS } : o.rateLimits ? { ...DEFAULT_LIMITS, ...o.rateLimits } : null;
    this.enforceRetryAfter = o.enforceRetryAfter ?? true;
    this.strictAmpersand = !!o.strictAmpersand;
    this.webhookSecret = o.webhookSecret;

    this.clock = new Clock();
    this.recorder = new Recorder(this.clock);
    this.faults = new FaultQueue();
    /** Every request, in arrival order (see Recorder in common.mjs). */
    this.requests = this.recorder.requests;
    this.chats = new Map();        // id → {id, type, title, username, first_name}
    this.declared = new Set();     // ids given in options.chats
    for (const [id, c] of Object.entries(o.chats || {})) {
      this.chats.set(Number(id), { id: Number(id), ...c });
      this.declared.add(Number(id));
    }
    this.state = new Map();        // chat id → {nextId, messages: Map<message_id, Message state>}
    this.started = new Set();      // user ids that pressed Start
    this.blocked = new Set();      // user ids that blocked the bot
    this.migrated = new Map();     // old chat id → new chat id
    this.floodUntil = new Map();   // chat id or '*' → ms until which sends get 429
    this.callbackQueries = new Map(); // id → {id, from, chatId, messageId, data, createdAt, answer}
    this.webhook = null;           // last setWebhook parameters
    this.deliveries = [];          // {update, status, ms, secret}
    /** Accepted sends and edits: {t, method, chatId, chatType}. */
    this.sendLog = [];
    this.counters = { byMethod: {}, ok: 0, errors: 0, rateLimited: 0, earlyRetries: 0 };
    this.nextUpdateId = 500000001;
  }

  async listen({ host, port }) {
    this.http = await startHttp((req, res) => this.handle(req, res), { host, port });
    this.url = this.http.url;
    this.port = this.http.port;
    /** What gssd's GSS_TELEGRAM_API_BASE should be. */
    this.apiBase = this.url;
  }

  /** Stops listening and cuts open connections. */
  stop() { return this.http.close(); }

  /** Moves the fake's clock forward (callback timeouts, rate windows). */
  advance(ms) { this.clock.advance(ms); }

  // --- recording -----------------------------------------------------------

  /** waitForRequest(methodOrPred, {timeoutMs, count}): the first answered
   *  request(s) for an API method name (case-insensitive) or matching a
   *  predicate on the entry. */
  waitForRequest(what, opts) {
    const pred = typeof what === 'function' ? what : (e) => String(e.api).toLowerCase() === String(what).toLowerCase();
    return this.recorder.waitFor(pred, opts);
  }

  /** calls(method): answered requests for one API method. */
  calls(method) {
    return this.requests.filter((e) => e.done && String(e.api).toLowerCase() === method.toLowerCase());
  }

  clearRequests() { this.recorder.clear(); }

  /** maxInWindow({windowMs, chatId, methods}): the most accepted sends/edits
   *  in any window of windowMs, overall or into one chat. */
  maxInWindow({ windowMs, chatId, methods } = {}) {
    const t = this.sendLog
      .filter((s) => (chatId === undefined || s.chatId === Number(chatId)) && (!methods || methods.includes(s.method)))
      .map((s) => s.t);
    return maxInWindow(t, windowMs);
  }

  // --- faults --------------------------------------------------------------

  /** inject(rule): see FaultQueue in common.mjs for matching. Kinds:
   *    'rate_limit' {retryAfter = 1}: 429 "Too Many Requests: retry after N"
   *    'blocked': 403 "Forbidden: bot was blocked by the user"
   *    'migrate' {toChatId}: 400 with parameters.migrate_to_chat_id
   *    'server_error' {status = 500, html}: 5xx (html: an nginx page, as
   *       Telegram's front answers 502 in practice)
   *    'reply' {status, body}: any answer
   *    'delay' {delayMs}: answer normally, late (delayMs combines with any kind)
   *    'drop' {when: 'before'|'after'}: close the socket with no answer
   *  Returns the rule; rule.hits counts the requests it affected. */
  inject(rule) { return this.faults.add(rule); }
  clearFaults() { this.faults.clear(); }

  faultReply(rule, entry) {
    const cid = entry.params ? Number(entry.params.chat_id) : NaN;
    const chatKey = Number.isSafeInteger(cid) ? cid : '*';
    switch (rule.kind) {
      case 'rate_limit': {
        const ra = rule.retryAfter ?? 1;
        this.floodUntil.set(chatKey, this.clock.now() + ra * 1000);
        this.counters.rateLimited++;
        return { status: 429, body: new TgError(429, `Too Many Requests: retry after ${ra}`, { retry_after: ra }).body() };
      }
      case 'blocked': return { status: 403, body: new TgError(403, 'Forbidden: bot was blocked by the user').body() };
      case 'migrate':
        return { status: 400, body: new TgError(400, 'Bad Request: group chat was upgraded to a supergroup chat', { migrate_to_chat_id: Number(rule.toChatId) }).body() };
      case 'server_error': {
        const status = rule.status || 500;
        if (rule.html) {
          return { status, headers: { 'content-type': 'text/html' }, body: `<html>\r\n<head><title>${status} Bad Gateway</title></head>\r\n<body>\r\n<center><h1>${status} Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n` };
        }
        return { status, body: new TgError(status, 'Internal Server Error').body() };
      }
      case 'reply': return { status: rule.status || 200, body: rule.body ?? { ok: true, result: true }, headers: rule.headers };
      default: throw new Error(`telegram fake: unknown fault kind ${rule.kind}`);
    }
  }

  // --- world state ---------------------------------------------------------

  /** The user pressed Start: the bot may message them from now on. */
  startUser(user) {
    const u = typeof user === 'object' ? user : { id: Number(user), first_name: `User${user}` };
    this.started.add(u.id);
    const pc = this.chat(u.id);
    pc.first_name = u.first_name;
    if (u.username) pc.username = u.username;
  }

  blockBot(userId) { this.blocked.add(Number(userId)); }
  unblockBot(userId) { this.blocked.delete(Number(userId)); }

  /** The group became a supergroup: every later call on oldId answers 400
   *  with parameters.migrate_to_chat_id = newId (as Telegram does). */
  migrateChat(oldId, newId) {
    const old = this.chat(oldId);
    this.migrated.set(Number(oldId), Number(newId));
    this.chats.set(Number(newId), { ...old, id: Number(newId), type: 'supergroup' });
  }

  /** chat(id): the chat object Telegram would report (created on first use). */
  chat(id) {
    id = Number(id);
    let c = this.chats.get(id);
    if (!c) {
      c = id > 0 ? { id, type: 'private', first_name: `User${id}` }
        : { id, type: String(id).startsWith('-100') ? 'supergroup' : 'group', title: `Group ${id}` };
      this.chats.set(id, c);
    }
    return c;
  }

  chatState(id) {
    let s = this.state.get(Number(id));
    if (!s) { s = { nextId: 1, messages: new Map() }; this.state.set(Number(id), s); }
    return s;
  }

  /** message(chatId, messageId): the state of one message — {chat_id,
   *  message_id, from, date, text, entities, html, reply_markup, edit_date,
   *  deleted, ephemeral, history: [{t, method, text, entities, reply_markup}]}. */
  message(chatId, messageId) { return this.chatState(chatId).messages.get(Number(messageId)) || null; }

  /** messagesIn(chatId, {fromBot = true}): the chat's messages, oldest first. */
  messagesIn(chatId, { fromBot = true } = {}) {
    return [...this.chatState(chatId).messages.values()].filter((m) => !fromBot || m.from === 'bot');
  }

  /** lastMessage(chatId): the newest message the bot sent to the chat. */
  lastMessage(chatId) {
    const all = this.messagesIn(chatId);
    return all.length ? all[all.length - 1] : null;
  }

  /** buttons(chatId, messageId): the current inline buttons, flattened. */
  buttons(chatId, messageId) {
    const m = this.message(chatId, messageId);
    const kb = m && m.reply_markup && m.reply_markup.inline_keyboard;
    return kb ? kb.flat() : [];
  }

  messageJson(m) {
    const out = {
      message_id: m.message_id,
      from: m.from === 'bot' ? this.bot : m.from,
      chat: this.chat(m.chat_id),
      date: m.date,
      text: m.text,
    };
    if (m.entities && m.entities.length) out.entities = m.entities;
    if (m.reply_markup && m.reply_markup.inline_keyboard) out.reply_markup = m.reply_markup;
    if (m.edit_date) out.edit_date = m.edit_date;
    if (m.ephemeral) {
      out.ephemeral_message_id = m.message_id;
      if (m.ephemeral.receiver_user_id) out.receiver_user = { id: m.ephemeral.receiver_user_id, is_bot: false, first_name: `User${m.ephemeral.receiver_user_id}` };
    }
    return out;
  }

  // --- serving -------------------------------------------------------------

  async handle(req, res) {
    const raw = await readBody(req);
    const entry = this.recorder.begin(req, raw);
    const m = /^\/bot([^/]*)\/([A-Za-z]+)\/?$/.exec(entry.path);
    entry.api = m ? m[2] : null;
    // Params are parsed before the fault queue so rules can match on them.
    try { if (m) entry.params = await parseParams(entry); } catch (e) { entry.parseError = e; }
    await serve(this, req, res, entry, (en) => this.process(en, m), (rule, en) => this.faultReply(rule, en));
  }

  async process(entry, m) {
    if (!m) return { status: 404, body: { ok: false, error_code: 404, description: 'Not Found' } };
    if (m[1] !== this.token) return { status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } };
    const method = m[2];
    const c = this.counters;
    c.byMethod[method] = (c.byMethod[method] || 0) + 1;
    const handler = {
      getme: () => this.bot,
      sendmessage: (p, e) => this.sendMessage(p, e),
      editmessagetext: (p, e) => this.editMessageText(p, e),
      editmessagereplymarkup: (p) => this.editMessageReplyMarkup(p),
      deletemessage: (p) => this.deleteMessage(p),
      answercallbackquery: (p) => this.answerCallbackQuery(p),
      setwebhook: (p) => this.setWebhook(p),
      deletewebhook: () => this.deleteWebhook(),
      getwebhookinfo: () => this.getWebhookInfo(),
    }[method.toLowerCase()];
    if (!handler) return { status: 404, body: { ok: false, error_code: 404, description: 'Not Found' } };
    try {
      if (entry.parseError) throw entry.parseError;
      const out = handler(entry.params, entry);
      c.ok++;
      const body = { ok: true, result: out && out.__result !== undefined ? out.__result : out };
      if (out && out.__description) body.description = out.__description;
      return { status: 200, body };
    } catch (err) {
      if (!(err instanceof TgError)) throw err;
      c.errors++;
      return { status: err.code, body: err.body() };
    }
  }

  // Chat lookup with Telegram's refusals: migrated groups, blocked users,
  // users who never pressed Start.
  resolveChat(raw) {
    if (raw === undefined || raw === null || raw === '') throw bad('chat_id is empty');
    let id;
    if (typeof raw === 'number') id = raw;
    else if (/^-?\d+$/.test(String(raw).trim())) id = Number(String(raw).trim());
    else if (String(raw).startsWith('@')) {
      const c = [...this.chats.values()].find((x) => x.username && `@${x.username}`.toLowerCase() === String(raw).toLowerCase());
      if (!c) throw bad('chat not found');
      id = c.id;
    } else throw bad('chat not found');
    if (!Number.isSafeInteger(id) || id === 0) throw bad('chat not found');
    if (this.migrated.has(id)) throw new TgError(400, 'Bad Request: group chat was upgraded to a supergroup chat', { migrate_to_chat_id: this.migrated.get(id) });
    if (id > 0) {
      if (this.blocked.has(id)) throw new TgError(403, 'Forbidden: bot was blocked by the user');
      if (!this.started.has(id) && !this.openPrivateChats && !this.declared.has(id)) {
        throw new TgError(403, "Forbidden: bot can't initiate conversation with a user");
      }
    } else if (this.strictChats && !this.declared.has(id) && ![...this.migrated.values()].includes(id)) {
      throw bad('chat not found');
    }
    return this.chat(id);
  }

  // Flood control: a pending retry_after first, then the simulated limits.
  floodCheck(method, chat) {
    const now = this.clock.now();
    const tooMany = (ra) => {
      ra = Math.max(1, Math.ceil(ra));
      this.floodUntil.set(chat.id, now + ra * 1000);
      this.counters.rateLimited++;
      return new TgError(429, `Too Many Requests: retry after ${ra}`, { retry_after: ra });
    };
    if (this.enforceRetryAfter) {
      const until = Math.max(this.floodUntil.get(chat.id) || 0, this.floodUntil.get('*') || 0);
      if (now < until) {
        this.counters.earlyRetries++;
        this.counters.rateLimited++;
        const ra = Math.max(1, Math.ceil((until - now) / 1000));
        return new TgError(429, `Too Many Requests: retry after ${ra}`, { retry_after: ra });
      }
    }
    const rl = this.rateLimits;
    if (!rl || !rl.methods.includes(method)) return null;
    const recent = this.sendLog.filter((s) => rl.methods.includes(s.method));
    const lastSec = recent.filter((s) => now - s.t < 1000);
    if (lastSec.length >= rl.globalPerSec) return tooMany((lastSec[0].t + 1000 - now) / 1000);
    const inChat = recent.filter((s) => s.chatId === chat.id);
    const last = inChat[inChat.length - 1];
    if (last && now - last.t < rl.perChatMs) return tooMany((last.t + rl.perChatMs - now) / 1000);
    if (chat.type === 'group' || chat.type === 'supergroup') {
      const lastMin = inChat.filter((s) => now - s.t < 60000);
      if (lastMin.length >= rl.groupPerMin) return tooMany((lastMin[0].t + 60000 - now) / 1000);
    }
    return null;
  }

  logSend(method, chat) {
    this.sendLog.push({ t: this.clock.now(), method, chatId: chat.id, chatType: chat.type });
  }

  markup(params, chat, { inlineOnly }) {
    if (params.reply_markup === undefined || params.reply_markup === null || params.reply_markup === '') return null;
    const mk = parseJsonParam(params.reply_markup, "can't parse reply keyboard markup JSON object");
    if (!mk || typeof mk !== 'object' || Array.isArray(mk)) throw bad("can't parse reply keyboard markup JSON object");
    if (mk.inline_keyboard !== undefined) {
      checkInlineKeyboard(mk, chat, this.allowUrlHosts);
      return mk.inline_keyboard.length ? { inline_keyboard: mk.inline_keyboard } : null;
    }
    if (inlineOnly) throw bad("can't parse inline keyboard markup JSON object");
    if (mk.keyboard !== undefined || mk.remove_keyboard !== undefined || mk.force_reply !== undefined) return mk;
    throw bad("can't parse reply keyboard markup JSON object");
  }

  sendMessage(p, entry) {
    entry.unknownParams = Object.keys(p).filter((k) => !SEND_PARAMS.has(k));
    const chat = this.resolveChat(p.chat_id);
    const flood = this.floodCheck('sendMessage', chat);
    if (flood) throw flood;
    const t = parseText(p, 'message', { strictAmpersand: this.strictAmpersand });
    const markup = this.markup(p, chat, { inlineOnly: false });
    let ephemeral = null;
    if (p.ephemeral_message_parameters !== undefined) {
      ephemeral = parseJsonParam(p.ephemeral_message_parameters, "can't parse ephemeral message parameters JSON object");
      if (chat.type === 'private' || chat.type === 'channel') throw bad('ephemeral messages can be sent only to groups (fake wording)');
      const known = ephemeral && (ephemeral.callback_query_id ? this.callbackQueries.get(String(ephemeral.callback_query_id)) : null);
      if (!ephemeral || (!ephemeral.receiver_user_id && !known)) throw bad('ephemeral message receiver not found (fake wording)');
      if (known && !ephemeral.receiver_user_id) ephemeral = { ...ephemeral, receiver_user_id: known.from.id };
    }
    const st = this.chatState(chat.id);
    const msg = {
      chat_id: chat.id,
      message_id: st.nextId++,
      from: 'bot',
      date: Math.floor(this.clock.now() / 1000),
      text: t.text,
      entities: t.entities,
      html: t.html,
      parse_mode: t.parse_mode,
      reply_markup: markup,
      edit_date: null,
      deleted: false,
      ephemeral,
      history: [],
    };
    msg.history.push({ t: this.clock.now(), method: 'sendMessage', text: msg.text, entities: msg.entities, reply_markup: msg.reply_markup });
    st.messages.set(msg.message_id, msg);
    this.logSend('sendMessage', chat);
    return this.messageJson(msg);
  }

  editable(p) {
    if (p.inline_message_id !== undefined) throw bad('MESSAGE_ID_INVALID (inline messages are not implemented by the fake)');
    const chat = this.resolveChat(p.chat_id);
    if (p.message_id === undefined || p.message_id === '') throw bad('message identifier is not specified');
    const m = this.message(chat.id, p.message_id);
    return { chat, m };
  }

  applyEdit(method, chat, m, next) {
    const same = next.text === m.text && JSON.stringify(next.entities) === JSON.stringify(m.entities)
      && JSON.stringify(next.reply_markup) === JSON.stringify(m.reply_markup);
    if (same) throw bad(NOT_MODIFIED);
    Object.assign(m, next, { edit_date: Math.floor(this.clock.now() / 1000) });
    m.history.push({ t: this.clock.now(), method, text: m.text, entities: m.entities, reply_markup: m.reply_markup });
    this.logSend(method, chat);
    return this.messageJson(m);
  }

  editMessageText(p, entry) {
    entry.unknownParams = Object.keys(p).filter((k) => !EDIT_PARAMS.has(k));
    const { chat, m } = this.editable(p);
    const flood = this.floodCheck('editMessageText', chat);
    if (flood) throw flood;
    if (!m || m.deleted) throw bad('message to edit not found');
    if (m.from !== 'bot') throw bad("message can't be edited");
    const t = parseText(p, 'message', { strictAmpersand: this.strictAmpersand });
    // Telegram drops the inline keyboard of a message whose text is edited
    // without a reply_markup: the fake does the same.
    const markup = this.markup(p, chat, { inlineOnly: true });
    return this.applyEdit('editMessageText', chat, m, { text: t.text, entities: t.entities, html: t.html, parse_mode: t.parse_mode, reply_markup: markup });
  }

  editMessageReplyMarkup(p) {
    const { chat, m } = this.editable(p);
    const flood = this.floodCheck('editMessageReplyMarkup', chat);
    if (flood) throw flood;
    if (!m || m.deleted) throw bad('message to edit not found');
    if (m.from !== 'bot') throw bad("message can't be edited");
    const markup = this.markup(p, chat, { inlineOnly: true });
    return this.applyEdit('editMessageReplyMarkup', chat, m, { text: m.text, entities: m.entities, reply_markup: markup });
  }

  deleteMessage(p) {
    const { m } = this.editable(p);
    if (!m || m.deleted) throw bad('message to delete not found');
    m.deleted = true;
    return true;
  }

  answerCallbackQuery(p) {
    const id = p.callback_query_id === undefined ? '' : String(p.callback_query_id);
    const q = this.callbackQueries.get(id);
    if (!q || q.answer || this.clock.now() - q.createdAt > this.callbackTimeoutMs) throw bad(TOO_OLD);
    if (p.text !== undefined && codePoints(String(p.text)) > 200) throw bad('MESSAGE_TOO_LONG');
    q.answer = { t: this.clock.now(), text: p.text === undefined ? null : String(p.text), show_alert: asBool(p.show_alert), url: p.url || null };
    return true;
  }

  setWebhook(p) {
    const url = p.url === undefined ? '' : String(p.url);
    if (url === '') { this.webhook = null; return { __result: true, __description: 'Webhook was deleted' }; }
    let u;
    try { u = new URL(url); } catch { throw bad('bad webhook: Failed to resolve host: Name or service not known'); }
    if (u.protocol !== 'https:') throw bad('bad webhook: An HTTPS URL must be provided for webhook');
    const port = u.port ? Number(u.port) : 443;
    if (![443, 80, 88, 8443].includes(port)) throw bad('bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443');
    if (p.secret_token !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(String(p.secret_token))) {
      throw bad('secret token contains unallowed characters');
    }
    const allowed = p.allowed_updates === undefined ? undefined : parseJsonParam(p.allowed_updates, "can't parse allowed_updates JSON array");
    if (allowed !== undefined && !Array.isArray(allowed)) throw bad("can't parse allowed_updates JSON array");
    const mc = p.max_connections === undefined ? 40 : Number(p.max_connections);
    if (!(mc >= 1 && mc <= 100)) throw bad('bad webhook: max_connections must be between 1 and 100 (fake wording)');
    this.webhook = { url, secret_token: p.secret_token === undefined ? null : String(p.secret_token), allowed_updates: allowed, max_connections: mc, drop_pending_updates: asBool(p.drop_pending_updates) };
    return { __result: true, __description: 'Webhook was set' };
  }

  deleteWebhook() {
    const had = !!this.webhook;
    this.webhook = null;
    return { __result: true, __description: had ? 'Webhook was deleted' : 'Webhook is already deleted' };
  }

  getWebhookInfo() {
    const w = this.webhook;
    const info = { url: w ? w.url : '', has_custom_certificate: false, pending_update_count: 0 };
    if (w) {
      info.max_connections = w.max_connections;
      if (w.allowed_updates) info.allowed_updates = w.allowed_updates;
    }
    return info;
  }

  // --- Telegram towards gssd -------------------------------------------------

  /** user({id, first_name, ...}): a Telegram User object for builders. */
  user(u) {
    const id = Number(u.id);
    return { id, is_bot: false, first_name: u.first_name || `User${id}`, ...(u.last_name ? { last_name: u.last_name } : {}), ...(u.username ? { username: u.username } : {}), language_code: u.language_code || 'id' };
  }

  /** messageUpdate({from, chat, text}): a message from a user. chat defaults
   *  to the user's private chat. A leading "/command" gets its entity. */
  messageUpdate({ from, chat, text }) {
    const u = this.user(from);
    const c = chat === undefined ? this.chat(u.id) : typeof chat === 'object' ? chat : this.chat(chat);
    if (c.id === u.id) {
      const pc = this.chat(u.id);
      pc.first_name = u.first_name;
      if (u.username) pc.username = u.username;
    }
    const st = this.chatState(c.id);
    const msg = { chat_id: c.id, message_id: st.nextId++, from: u, date: Math.floor(this.clock.now() / 1000), text, entities: [], reply_markup: null, history: [], deleted: false };
    const cmd = /^\/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?/.exec(text);
    if (cmd) msg.entities = [{ type: 'bot_command', offset: 0, length: cmd[0].length }];
    st.messages.set(msg.message_id, msg);
    const json = this.messageJson(msg);
    json.chat = c;
    return { update_id: this.nextUpdateId++, message: json };
  }

  /** startUpdate({user, code}): the user opened t.me/<bot>?start=<code> and
   *  pressed Start: "/start <code>" in their private chat. From now on the
   *  bot may message them (as on Telegram). */
  startUpdate({ user, code }) {
    this.startUser(this.user(user));
    return this.messageUpdate({ from: user, text: code === undefined || code === '' ? '/start' : `/start ${code}` });
  }

  /** pressButton({chatId, messageId, from, data, text, forge}): the user
   *  pressed the callback button (found by its data or its text) on a message
   *  the bot sent; returns the callback_query update and registers the query
   *  (answer it within callbackTimeoutMs, once). forge: true sends data that
   *  no button carries (what a tampering client could do). */
  pressButton({ chatId, messageId, from, data, text, forge = false }) {
    const m = this.message(chatId, messageId);
    if (!m || m.deleted) throw new Error(`pressButton: no message ${messageId} in chat ${chatId}`);
    let btn = null;
    if (!forge) {
      btn = this.buttons(chatId, messageId).find((b) => (data !== undefined ? b.callback_data === data : b.text === text));
      if (!btn) throw new Error(`pressButton: no button ${JSON.stringify(data ?? text)} on message ${messageId}`);
      if (btn.callback_data === undefined) {
        throw new Error(`pressButton: button ${JSON.stringify(btn.text)} is ${Object.keys(btn).filter((k) => k !== 'text').join('/')}, not a callback button: pressing it sends no update`);
      }
    }
    const u = this.user(from);
    const id = `${BigInt.asUintN(63, crypto.randomBytes(8).readBigUInt64BE())}`;
    const q = { id, from: u, chatId: Number(chatId), messageId: Number(messageId), data: btn ? btn.callback_data : data, createdAt: this.clock.now(), answer: null };
    this.callbackQueries.set(id, q);
    const chatInstance = `${BigInt.asIntN(64, BigInt(Number(chatId)) * 2654435761n)}`;
    return { update_id: this.nextUpdateId++, callback_query: { id, from: u, message: this.messageJson(m), chat_instance: chatInstance, data: q.data } };
  }

  /** callbackAnswer(update or query id): what the bot answered, or null. */
  callbackAnswer(q) {
    const id = typeof q === 'object' ? q.callback_query.id : String(q);
    const cq = this.callbackQueries.get(id);
    return cq ? cq.answer : null;
  }

  /** deliverUpdate(gssdUrl, update, {secret, path = '/hooks/telegram',
   *  headers}): POSTs the update as Telegram does (JSON, secret header).
   *  secret: undefined → the fake's webhookSecret option, else the
   *  secret_token of the last setWebhook; null → no header at all. Deliver
   *  the same update object again to repeat it (same update_id).
   *  → {status, text, json, ms}. */
  async deliverUpdate(gssdUrl, update, { secret, path = '/hooks/telegram', headers = {}, timeoutMs } = {}) {
    const s = secret !== undefined ? secret : this.webhookSecret !== undefined ? this.webhookSecret : this.webhook && this.webhook.secret_token;
    const h = { 'content-type': 'application/json', ...headers };
    if (s !== null && s !== undefined) h['x-telegram-bot-api-secret-token'] = s;
    const r = await rawRequest(joinUrl(gssdUrl, path), { method: 'POST', headers: h, body: JSON.stringify(update), timeoutMs });
    this.deliveries.push({ update, status: r.status, ms: r.ms, secret: s ?? null });
    return r;
  }

  /** miniAppInitData(opts): as the exported function, with this bot's token
   *  unless opts.botToken says otherwise. */
  miniAppInitData(opts = {}) { return miniAppInitData({ botToken: this.token, ...opts }); }
}
