// A fake WhatsApp Business Cloud API (Meta Graph API) for gssd's tests
// (tests/fakes/README.md).
//
// startWhatsAppFake({token, phoneNumberId, ...}) listens on a free loopback
// port and answers, under an optional /vNN.N version prefix:
//   POST /<phone_number_id>/messages   text, interactive (cta_url, button),
//                                      image, template; mark-as-read
//   GET  /<media_id>                   media metadata with a short-lived URL
//   GET  /whatsapp_business/attachments/?mid=…   the media bytes (Bearer)
// as strictly as we know Meta to be: Bearer token, phone number id,
// messaging_product, digits-only `to`, length limits, known templates with
// the right parameters, the 24-hour customer service window (131047), the
// pair rate (131056) and throughput (130429) limits. Error bodies have the
// Graph shape {error:{message, type, code, error_data:{details}, fbtrace_id}}.
//
// It also plays Meta towards gssd: builds webhook payloads (inbound text,
// image, button replies with contacts, wa_id and the 2026 user_id BSUID;
// statuses sent/delivered/read/failed), signs the exact bytes it sends with
// X-Hub-Signature-256, escapes non-ASCII the way Meta does, and runs the
// webhook verification GET. Faults are injected with fake.inject(rule).
//
// Node event loop only; no threads.

import crypto from 'node:crypto';

import {
  Clock, Recorder, FaultQueue, startHttp, readBody, serve, rawRequest, maxInWindow, codePoints, joinUrl,
} from './common.mjs';

// ---------------------------------------------------------------------------
// Errors

/** A Graph API error with Meta's body shape. */
export class WaError extends Error {
  constructor(status, code, message, { details, type = 'OAuthException', subcode, title } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.type = type;
    this.subcode = subcode;
    this.title = title;
  }

  body() {
    const e = { message: this.message, type: this.type, code: this.code };
    if (this.details !== undefined) e.error_data = { messaging_product: 'whatsapp', details: this.details };
    if (this.subcode !== undefined) e.error_subcode = this.subcode;
    e.fbtrace_id = crypto.randomBytes(12).toString('base64').replace(/[+/=]/g, 'A');
    return { error: e };
  }
}

// The codes our code must handle, with the titles Meta puts in `message`.
// HTTP status: Meta answers 400 for most of them; branch on error.code,
// never on the status (Meta's own advice). Override with httpStatusFor.
const CODES = {
  100: { title: 'Invalid parameter', status: 400 },
  131008: { title: 'Required parameter is missing', status: 400 },
  131009: { title: 'Parameter value is not valid', status: 400 },
  131026: { title: 'Message undeliverable', status: 400, details: 'Message Undeliverable.' },
  131047: { title: 'Re-engagement message', status: 400, details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' },
  131056: { title: '(Business Account, Consumer Account) pair rate limit hit', status: 400, details: 'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.' },
  130429: { title: 'Rate limit hit', status: 400, details: 'Message failed to send because there were too many messages sent from this phone number in a short period of time.' },
  131000: { title: 'Something went wrong', status: 500, details: 'Message failed to send due to an unknown error.' },
  132000: { title: 'Number of parameters does not match the expected number of params', status: 400 },
  132001: { title: 'Template name does not exist in the translation', status: 400 },
  132018: { title: 'There was an issue with the parameters in your template.', status: 400 },
};

// ---------------------------------------------------------------------------
// Signing and Meta's JSON

/** signBody(bytes, appSecret) → "sha256=<hex>": the X-Hub-Signature-256 of
 *  exactly these bytes. */
export function signBody(bytes, appSecret) {
  return `sha256=${crypto.createHmac('sha256', appSecret).update(bytes).digest('hex')}`;
}

/** metaJson(obj): JSON as Meta's webhooks carry it — every non-ASCII
 *  character escaped as \uXXXX (emoji as a surrogate pair) and "/" as "\/".
 *  A receiver that re-serialises the parsed body gets other bytes, so only a
 *  signature check over the raw bytes passes. */
export function metaJson(obj) {
  return JSON.stringify(obj)
    .replace(/\//g, '\\/')
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// ---------------------------------------------------------------------------
// The fake

const DAY = 24 * 3600 * 1000;
const FREE_FORM = new Set(['text', 'interactive', 'image', 'document', 'audio', 'video', 'sticker', 'location', 'contacts', 'reaction']);

/** startWhatsAppFake(options) → WhatsAppFake. Options:
 *   token, phoneNumberId (required); displayPhoneNumber, wabaId, apiVersion
 *   ('v21.0'), host, port,
 *   templates: [{name, language = 'id', category = 'UTILITY', bodyParams = 0,
 *     buttons: [{type: 'url', url: 'https://host/i/{{1}}'} | {type: 'quick_reply', text}]}],
 *   windowMs (24 h), pairGapMs (6000; 0 = off), throughputPerSec (80; 0 = off),
 *   mediaUrlTtlMs (5 min), mediaIdTtlMs (7 days),
 *   asyncErrors: false → 131047/131026 in the API answer; true → the API
 *     accepts (wamid) and the error comes as a `failed` status, queued in
 *     fake.pendingStatuses (and delivered when `webhook` is set), as Meta
 *     often does,
 *   webhook: {url, appSecret, path = '/hooks/whatsapp'}: where automatic
 *     statuses go (autoStatuses: true → sent then delivered for each
 *     accepted message, after statusDelayMs = 50),
 *   httpStatusFor: {[code]: status} to change an error's HTTP status. */
export async function startWhatsAppFake(options = {}) {
  const fake = new WhatsAppFake(options);
  await fake.listen(options);
  return fake;
}

export class WhatsAppFake {
  constructor(o) {
    if (!o.token || !o.phoneNumberId) throw new Error('startWhatsAppFake: token and phoneNumberId are required');
    this.token = o.token;
    this.phoneNumberId = String(o.phoneNumberId);
    this.displayPhoneNumber = o.displayPhoneNumber || '6281100000000';
    this.wabaId = String(o.wabaId || '100000000000001');
    this.apiVersion = o.apiVersion || 'v21.0';
    this.templates = (o.templates || []).map((t) => ({ language: 'id', category: 'UTILITY', bodyParams: 0, buttons: [], ...t }));
    this.windowMs = o.windowMs ?? DAY;
    this.pairGapMs = o.pairGapMs ?? 6000;
    this.throughputPerSec = o.throughputPerSec ?? 80;
    this.mediaUrlTtlMs = o.mediaUrlTtlMs ?? 5 * 60 * 1000;
    this.mediaIdTtlMs = o.mediaIdTtlMs ?? 7 * DAY;
    this.asyncErrors = !!o.asyncErrors;
    this.webhook = o.webhook || null;
    this.autoStatuses = !!o.autoStatuses;
    this.statusDelayMs = o.statusDelayMs ?? 50;
    this.httpStatusFor = o.httpStatusFor || {};

    this.clock = new Clock();
    this.recorder = new Recorder(this.clock);
    this.faults = new FaultQueue();
    /** Every request, in arrival order (see Recorder in common.mjs). */
    this.requests = this.recorder.requests;
    /** Accepted outgoing messages: {id, to, type, payload, t, url, template}. */
    this.sent = [];
    this.byId = new Map();
    this.customers = new Map();    // wa_id → {lastInboundMs, lastSentMs, userId, name}
    this.undeliverable = new Set();
    this.media = new Map();        // media id → {id, bytes, mime_type, sha256, createdAt}
    this.mediaUrls = new Map();    // url token → {mediaId, expiresAt}
    this.pendingStatuses = [];     // webhook payloads for async failures
    this.deliveries = [];          // {path, status, ms, bytes}
    this.readMarks = [];           // message ids marked as read
    this.counters = { ok: 0, errors: 0, byCode: {}, mediaDownloads: 0 };
    this.nextMsgSeq = 1;
  }

  async listen({ host, port }) {
    this.http = await startHttp((req, res) => this.handle(req, res), { host, port });
    this.url = this.http.url;
    this.port = this.http.port;
    /** What gssd's GSS_WA_API_BASE should be (with the version). */
    this.apiBase = `${this.url}/${this.apiVersion}`;
  }

  stop() {
    for (const t of this.timers || []) clearTimeout(t);
    return this.http.close();
  }

  /** Moves the fake's clock forward (window, media expiry, pair rate). */
  advance(ms) { this.clock.advance(ms); }

  // --- recording -----------------------------------------------------------

  /** waitForRequest(pred | 'messages' | 'media' | 'download', {timeoutMs,
   *  count}): the first answered request(s) matching. */
  waitForRequest(what, opts) {
    const pred = typeof what === 'function' ? what : (e) => e.api === what;
    return this.recorder.waitFor(pred, opts);
  }

  clearRequests() { this.recorder.clear(); }

  /** message(wamid): an accepted outgoing message or null. */
  message(id) { return this.byId.get(id) || null; }

  /** sentTo(waId): accepted outgoing messages to one customer. */
  sentTo(waId) { return this.sent.filter((m) => m.to === String(waId)); }

  /** maxInWindow({windowMs, to}): most accepted messages in any window. */
  maxInWindow({ windowMs, to } = {}) {
    return maxInWindow(this.sent.filter((m) => to === undefined || m.to === String(to)).map((m) => m.t), windowMs);
  }

  // --- faults --------------------------------------------------------------

  /** inject(rule): see FaultQueue in common.mjs (method matches the route:
   *  'messages', 'media', 'download'). Kinds: 'rate_limit' (130429),
   *  'pair_rate' (131056), 'window' (131047), 'undeliverable' (131026),
   *  'bad_token' (190), 'server_error' {status = 500} (131000),
   *  'error' {status, code, message, details}, 'reply' {status, body},
   *  'delay' {delayMs}, 'drop' {when}. */
  inject(rule) { return this.faults.add(rule); }
  clearFaults() { this.faults.clear(); }

  faultReply(rule) {
    const byKind = { rate_limit: 130429, pair_rate: 131056, window: 131047, undeliverable: 131026 };
    let err;
    if (byKind[rule.kind]) err = this.err(byKind[rule.kind]);
    else if (rule.kind === 'bad_token') err = this.badToken();
    else if (rule.kind === 'server_error') err = new WaError(rule.status || 500, 131000, '(#131000) Something went wrong', { details: CODES[131000].details });
    else if (rule.kind === 'error') err = new WaError(rule.status || 400, rule.code, rule.message || `(#${rule.code}) ${CODES[rule.code] ? CODES[rule.code].title : 'Error'}`, { details: rule.details });
    else if (rule.kind === 'reply') return { status: rule.status || 200, body: rule.body, headers: rule.headers };
    else throw new Error(`whatsapp fake: unknown fault kind ${rule.kind}`);
    this.countError(err);
    return { status: err.status, body: err.body() };
  }

  err(code, details) {
    const c = CODES[code];
    return new WaError(this.httpStatusFor[code] || c.status, code, `(#${code}) ${c.title}`, { details: details ?? c.details ?? c.title, title: c.title });
  }

  invalid(details, code = 100) { return this.err(code, details); }

  badToken() {
    return new WaError(this.httpStatusFor[190] || 401, 190, 'Invalid OAuth access token - Cannot parse access token');
  }

  countError(e) {
    this.counters.errors++;
    this.counters.byCode[e.code] = (this.counters.byCode[e.code] || 0) + 1;
  }

  // --- world state ---------------------------------------------------------

  customer(waId) {
    let c = this.customers.get(String(waId));
    if (!c) { c = { waId: String(waId), lastInboundMs: null, lastSentMs: null }; this.customers.set(String(waId), c); }
    return c;
  }

  /** setLastInbound(waId, ms): the customer last wrote at ms (opens or, with
   *  an old time, closes the 24-hour window). null: never wrote. */
  setLastInbound(waId, ms) { this.customer(waId).lastInboundMs = ms; }
  lastInbound(waId) { return this.customer(waId).lastInboundMs; }
  windowOpen(waId) {
    const t = this.customer(waId).lastInboundMs;
    return t !== null && this.clock.now() - t < this.windowMs;
  }

  /** markUndeliverable(waId): sends to this number fail with 131026. */
  markUndeliverable(waId) { this.undeliverable.add(String(waId)); }

  /** addMedia({bytes, mimeType}) → {id, sha256, size}: a media object as if a
   *  customer had sent it (the id is what an image webhook carries). */
  addMedia({ bytes, mimeType = 'image/jpeg', id }) {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
    const mid = id || `${1000000000000000 + Math.floor(Math.random() * 8e15)}`;
    const m = { id: mid, bytes: buf, mime_type: mimeType, sha256: crypto.createHash('sha256').update(buf).digest('hex'), createdAt: this.clock.now() };
    this.media.set(mid, m);
    return { id: mid, sha256: m.sha256, size: buf.length };
  }

  // --- serving -------------------------------------------------------------

  async handle(req, res) {
    const raw = await readBody(req);
    const entry = this.recorder.begin(req, raw);
    const path = entry.path.replace(/^\/v\d+\.\d+(?=\/)/, '');
    entry.version = path === entry.path ? null : entry.path.split('/')[1];
    let route = null;
    if (path === '/whatsapp_business/attachments/' || path === '/whatsapp_business/attachments') route = { api: 'download' };
    else if (/^\/[^/]+\/messages\/?$/.test(path)) route = { api: 'messages', id: path.split('/')[1] };
    else if (/^\/[^/]+\/?$/.test(path)) route = { api: 'media', id: path.split('/')[1] };
    entry.api = route ? route.api : null;
    if (String(entry.headers['content-type'] || '').startsWith('application/json')) {
      try { entry.json = JSON.parse(entry.text); entry.params = entry.json; } catch { /* reported by process */ }
    }
    await serve(this, req, res, entry, (en) => this.process(en, req, route), (rule) => this.faultReply(rule));
  }

  bearer(entry) {
    const h = String(entry.headers.authorization || '');
    const m = /^Bearer\s+(.+)$/i.exec(h);
    return m ? m[1].trim() : entry.query.access_token || null;
  }

  async process(entry, req, route) {
    try {
      if (!route) throw new WaError(400, 100, 'Unknown path components', { type: 'OAuthException' });
      if (route.api === 'download') return this.download(entry);
      const tok = this.bearer(entry);
      if (!tok) throw new WaError(400, 104, 'An access token is required to request this resource.');
      if (tok !== this.token) throw this.badToken();
      let out;
      if (route.api === 'messages') {
        if (entry.method !== 'POST') throw this.unsupported(entry.method, route.id);
        if (route.id !== this.phoneNumberId) throw this.unsupported('post', route.id);
        out = this.postMessage(entry);
      } else {
        if (entry.method !== 'GET') throw this.unsupported(entry.method, route.id);
        out = this.getMedia(route.id);
      }
      this.counters.ok++;
      return { status: 200, body: out };
    } catch (e) {
      if (!(e instanceof WaError)) throw e;
      this.countError(e);
      return { status: e.status, body: e.body() };
    }
  }

  unsupported(verb, id) {
    return new WaError(400, 100, `Unsupported ${String(verb).toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`, { type: 'GraphMethodException', subcode: 33 });
  }

  postMessage(entry) {
    const b = entry.json;
    if (!b || typeof b !== 'object' || Array.isArray(b)) throw this.invalid('Request body must be a JSON object (Content-Type: application/json)');
    if (b.messaging_product !== 'whatsapp') {
      throw new WaError(400, 100, '(#100) The parameter messaging_product is required.', { details: 'messaging_product must be "whatsapp"' });
    }
    if (b.status === 'read') {
      if (typeof b.message_id !== 'string' || !b.message_id) throw this.invalid('message_id is required');
      this.readMarks.push(b.message_id);
      return { success: true };
    }
    if (b.recipient_type !== undefined && b.recipient_type !== 'individual') throw this.invalid("Param recipient_type must be 'individual'");
    // 2026: a customer who hides the number is addressed by the BSUID in
    // `recipient` instead of `to` (`to` wins when both are given).
    const byUser = b.to === undefined && b.recipient !== undefined;
    if (b.to === undefined && !byUser) throw new WaError(400, 100, '(#100) The parameter to is required.');
    let to;
    if (byUser) {
      if (typeof b.recipient !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(b.recipient)) throw this.invalid(`Invalid recipient '${b.recipient}': a business-scoped user id`);
      to = this.waIdOfUser(b.recipient);
      if (!to) throw this.invalid(`No WhatsApp user with the id '${b.recipient}' for this business`);
    } else {
      to = String(b.to);
      if (!/^\d{7,15}$/.test(to)) throw this.invalid(`Invalid phone number '${to}': digits with the country code, no '+' or spaces`);
    }
    const type = b.type || 'text';
    const rec = { to, type, payload: b, url: null, template: null };
    if (type === 'text') this.checkText(b);
    else if (type === 'interactive') rec.url = this.checkInteractive(b.interactive);
    else if (type === 'template') rec.template = this.checkTemplate(b.template);
    else if (type === 'image') this.checkImage(b.image);
    else if (!FREE_FORM.has(type)) throw this.invalid(`Param type '${type}' is not supported by the fake`);

    const now = this.clock.now();
    // Throughput per business number, then the pair rate per customer.
    if (this.throughputPerSec > 0 && this.sent.filter((m) => now - m.t < 1000).length >= this.throughputPerSec) throw this.err(130429);
    const cust = this.customer(to);
    if (this.pairGapMs > 0 && cust.lastSentMs !== null && now - cust.lastSentMs < this.pairGapMs) throw this.err(131056);
    let asyncError = null;
    if (type !== 'template' && !this.windowOpen(to)) asyncError = 131047;
    else if (this.undeliverable.has(to)) asyncError = 131026;
    if (asyncError && !this.asyncErrors) throw this.err(asyncError);

    const id = this.newWamid(to);
    Object.assign(rec, { id, t: now });
    cust.lastSentMs = now;
    this.sent.push(rec);
    this.byId.set(id, rec);
    if (asyncError) this.queueStatus(this.statusUpdate(id, 'failed', { to, errors: [asyncError] }));
    else if (this.autoStatuses) {
      this.queueStatus(this.statusUpdate(id, 'sent', { to }));
      this.queueStatus(this.statusUpdate(id, 'delivered', { to }));
    }
    const msg = { id };
    if (type === 'template') msg.message_status = 'accepted';
    if (byUser) rec.recipient = b.recipient;
    const contact = byUser ? { input: b.recipient, user_id: b.recipient } : { input: String(b.to), wa_id: to };
    return { messaging_product: 'whatsapp', contacts: [contact], messages: [msg] };
  }

  /** waIdOfUser(bsuid): the number of a customer the fake knows (one who
   *  wrote, or was named by setLastInbound / markUndeliverable) whose BSUID
   *  this is; null when none. */
  waIdOfUser(uid) {
    for (const [waId, c] of this.customers) if (c.userId === uid || this.bsuid(waId) === uid) return waId;
    return null;
  }

  newWamid(to) {
    // Real ids are base64 of an opaque record that holds the number; the
    // '+', '/' and '=' they can contain are kept on purpose.
    const body = Buffer.concat([Buffer.from([0x1c, 0x18, to.length]), Buffer.from(to), Buffer.from([0x15, 0x02, 0x00, 0x11, 0x18, 0x12]), crypto.randomBytes(9), Buffer.from([this.nextMsgSeq++ & 0xff])]);
    return `wamid.${body.toString('base64')}`;
  }

  checkText(b) {
    const t = b.text;
    if (!t || typeof t !== 'object') throw this.invalid("Param text['body'] is required", 131008);
    if (typeof t.body !== 'string' || t.body.trim() === '') throw this.invalid("Param text['body'] is required", 131008);
    if (codePoints(t.body) > 4096) throw this.invalid("Param text['body'] must be at most 4096 characters long");
  }

  checkLen(v, max, what, required) {
    if (v === undefined || v === null) {
      if (required) throw this.invalid(`Param ${what} is required`, 131008);
      return;
    }
    if (typeof v !== 'string' || (required && v === '')) throw this.invalid(`Param ${what} must be a non-empty string`);
    if (codePoints(v) > max) throw this.invalid(`Param ${what} must be at most ${max} characters long`);
  }

  checkHeaderFooter(i) {
    if (i.header !== undefined) {
      const h = i.header;
      if (!h || typeof h !== 'object') throw this.invalid("Param interactive['header'] must be an object");
      if (h.type === 'text') this.checkLen(h.text, 60, "interactive['header']['text']", true);
      else if (['image', 'video', 'document'].includes(h.type)) {
        const m = h[h.type];
        if (!m || (typeof m.link !== 'string' && typeof m.id !== 'string')) throw this.invalid(`Param interactive['header']['${h.type}'] needs a link or an id`);
      } else throw this.invalid("Param interactive['header']['type'] must be text, image, video or document");
    }
    if (i.footer !== undefined) this.checkLen(i.footer && i.footer.text, 60, "interactive['footer']['text']", true);
  }

  checkInteractive(i) {
    if (!i || typeof i !== 'object') throw this.invalid("Param interactive is required", 131008);
    if (i.type === 'cta_url') {
      this.checkLen(i.body && i.body.text, 1024, "interactive['body']['text']", true);
      this.checkHeaderFooter(i);
      const a = i.action;
      if (!a || a.name !== 'cta_url' || !a.parameters) throw this.invalid("Param interactive['action'] must be {name:'cta_url', parameters:{display_text, url}}");
      this.checkLen(a.parameters.display_text, 20, "interactive['action']['parameters']['display_text']", true);
      let u;
      try { u = new URL(a.parameters.url); } catch { throw this.invalid("Param interactive['action']['parameters']['url'] must be a valid URL"); }
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw this.invalid("Param interactive['action']['parameters']['url'] must be http(s)");
      return a.parameters.url;
    }
    if (i.type === 'button') {
      this.checkLen(i.body && i.body.text, 1024, "interactive['body']['text']", true);
      this.checkHeaderFooter(i);
      const btns = i.action && i.action.buttons;
      if (!Array.isArray(btns) || btns.length < 1 || btns.length > 3) throw this.invalid("Param interactive['action']['buttons'] must have 1 to 3 buttons");
      const ids = new Set();
      const titles = new Set();
      btns.forEach((bt, k) => {
        if (!bt || bt.type !== 'reply' || !bt.reply) throw this.invalid(`Param interactive['action']['buttons'][${k}] must be {type:'reply', reply:{id, title}}`);
        this.checkLen(bt.reply.id, 256, `interactive['action']['buttons'][${k}]['reply']['id']`, true);
        this.checkLen(bt.reply.title, 20, `interactive['action']['buttons'][${k}]['reply']['title']`, true);
        if (ids.has(bt.reply.id) || titles.has(bt.reply.title)) throw this.invalid('Button ids and titles must be unique', 131009);
        ids.add(bt.reply.id);
        titles.add(bt.reply.title);
      });
      return null;
    }
    throw this.invalid(`Param interactive['type'] '${i.type}' is not supported by the fake (cta_url, button)`);
  }

  checkImage(img) {
    if (!img || (typeof img.link !== 'string' && typeof img.id !== 'string')) throw this.invalid("Param image needs a link or an id", 131008);
    if (img.caption !== undefined) this.checkLen(img.caption, 1024, "image['caption']", false);
  }

  checkTemplate(t) {
    if (!t || typeof t.name !== 'string' || !t.name) throw this.invalid("Param template['name'] is required", 131008);
    const code = t.language && t.language.code;
    if (typeof code !== 'string' || !code) throw this.invalid("Param template['language']['code'] is required", 131008);
    const tpl = this.templates.find((x) => x.name === t.name && x.language === code);
    if (!tpl) throw this.err(132001, `template name (${t.name}) does not exist in ${code}`);
    const comps = t.components === undefined ? [] : t.components;
    if (!Array.isArray(comps)) throw this.invalid("Param template['components'] must be an array");
    const body = comps.filter((c) => c && c.type === 'body');
    const bodyParams = body.flatMap((c) => c.parameters || []);
    if (bodyParams.length !== tpl.bodyParams) {
      throw this.err(132000, `body: number of localizable_params (${bodyParams.length}) does not match the expected number of params (${tpl.bodyParams})`);
    }
    bodyParams.forEach((p, k) => {
      if (!p || p.type !== 'text' || typeof p.text !== 'string' || p.text === '') throw this.invalid(`Param template['components'][body]['parameters'][${k}] must be {type:'text', text}`);
      if (/[\n\t]/.test(p.text) || / {5,}/.test(p.text)) {
        throw this.err(132018, 'Param text cannot have new-line/tab characters or more than 4 consecutive spaces');
      }
    });
    const buttons = [];
    const given = comps.filter((c) => c && c.type === 'button');
    for (const c of given) {
      const idx = typeof c.index === 'number' ? c.index : /^\d$/.test(String(c.index)) ? Number(c.index) : NaN;
      const def = tpl.buttons[idx];
      if (!def) throw this.err(132000, `buttons: no button at index ${JSON.stringify(c.index)} in template ${tpl.name}`);
      if (def.type === 'url') {
        if (c.sub_type !== 'url') throw this.invalid(`Param template button ${idx}: sub_type must be 'url' for a URL button`);
        if (!def.url.includes('{{1}}')) throw this.err(132000, `buttons: button ${idx} has a static URL and takes no parameter`);
        const ps = c.parameters;
        if (!Array.isArray(ps) || ps.length !== 1) throw this.err(132000, `buttons: number of localizable_params (${Array.isArray(ps) ? ps.length : 0}) does not match the expected number of params (1)`);
        if (!ps[0] || ps[0].type !== 'text' || typeof ps[0].text !== 'string' || ps[0].text === '') throw this.invalid(`Param template button ${idx}: parameters must be [{type:'text', text:<url suffix>}]`);
        buttons.push({ index: idx, indexGiven: c.index, url: def.url.replace('{{1}}', ps[0].text) });
      } else {
        if (c.sub_type !== 'quick_reply') throw this.invalid(`Param template button ${idx}: sub_type must be 'quick_reply'`);
        buttons.push({ index: idx, indexGiven: c.index, payload: c.parameters && c.parameters[0] && c.parameters[0].payload });
      }
    }
    tpl.buttons.forEach((def, k) => {
      if (def.type === 'url' && def.url.includes('{{1}}') && !buttons.some((x) => x.index === k)) {
        throw this.err(132000, 'buttons: number of localizable_params (0) does not match the expected number of params (1)');
      }
    });
    return { name: tpl.name, language: code, category: tpl.category, bodyParams: bodyParams.map((p) => p.text), buttons };
  }

  getMedia(id) {
    const m = this.media.get(id);
    if (!m || this.clock.now() - m.createdAt > this.mediaIdTtlMs) throw this.unsupported('get', id);
    const tok = crypto.randomBytes(12).toString('hex');
    const ext = Math.floor((this.clock.now() + this.mediaUrlTtlMs) / 1000);
    this.mediaUrls.set(tok, { mediaId: id, expiresAt: this.clock.now() + this.mediaUrlTtlMs });
    return {
      messaging_product: 'whatsapp',
      url: `${this.url}/whatsapp_business/attachments/?mid=${id}&ext=${ext}&hash=${tok}`,
      mime_type: m.mime_type,
      sha256: m.sha256,
      file_size: String(m.bytes.length),
      id,
    };
  }

  download(entry) {
    const tok = this.bearer(entry);
    if (tok !== this.token) return { status: 401, body: 'Unauthorized' };
    const u = this.mediaUrls.get(entry.query.hash);
    if (!u || u.mediaId !== entry.query.mid) return { status: 404, body: 'Not Found' };
    if (this.clock.now() > u.expiresAt) return { status: 404, body: 'URL signature expired' };
    const m = this.media.get(u.mediaId);
    this.counters.mediaDownloads++;
    return { status: 200, body: m.bytes, headers: { 'content-type': m.mime_type, 'content-length': m.bytes.length } };
  }

  // --- Meta towards gssd -----------------------------------------------------

  /** bsuid(waId): the business-scoped user id the fake gives this customer
   *  ("ID." + digits, stable per number). */
  bsuid(waId) {
    const h = crypto.createHash('sha256').update(`${this.wabaId}:${waId}`).digest();
    return `ID.${(h.readBigUInt64BE(0) % 9000000000000000n) + 1000000000000000n}`;
  }

  envelope(value) {
    return {
      object: 'whatsapp_business_account',
      entry: [{ id: this.wabaId, changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: this.displayPhoneNumber, phone_number_id: this.phoneNumberId }, ...value } }] }],
    };
  }

  // One inbound message with its contact. hidePhone: the customer uses a
  // WhatsApp username, so Meta sends only the BSUID (no wa_id / from).
  inbound({ from, name = 'Pelanggan', userId, username, hidePhone = false, id, timestamp, context }, body) {
    const waId = String(from);
    const tsMs = timestamp !== undefined ? Number(timestamp) * 1000 : this.clock.now();
    const uid = userId || this.bsuid(waId);
    // The customer wrote: the 24-hour window opens at the message's time.
    const c = this.customer(waId);
    if (c.lastInboundMs === null || tsMs > c.lastInboundMs) c.lastInboundMs = tsMs;
    if (userId) c.userId = userId; // so that a send to `recipient: userId` finds the number
    const contact = { profile: { name, ...(username ? { username } : {}) }, ...(hidePhone ? {} : { wa_id: waId }), user_id: uid };
    const msg = {
      ...(hidePhone ? {} : { from: waId }),
      from_user_id: uid,
      id: id || `wamid.${Buffer.concat([Buffer.from(waId), crypto.randomBytes(12)]).toString('base64')}`,
      timestamp: String(Math.floor(tsMs / 1000)),
      ...(context ? { context } : {}),
      ...body,
    };
    return this.envelope({ contacts: [contact], messages: [msg] });
  }

  /** inboundText({from, name, userId, username, hidePhone, id, timestamp,
   *  body}) → a webhook payload. */
  inboundText(o) { return this.inbound(o, { type: 'text', text: { body: o.body } }); }

  /** inboundImage({from, ..., bytes, mimeType, caption}) → payload; the
   *  image is registered so GET /<image.id> and its URL serve the bytes. The
   *  webhook's sha256 is base64 (Meta's GET answer gives hex). */
  inboundImage(o) {
    const m = this.addMedia({ bytes: o.bytes, mimeType: o.mimeType || 'image/jpeg', id: o.mediaId });
    const sha = Buffer.from(m.sha256, 'hex').toString('base64');
    return this.inbound(o, { type: 'image', image: { mime_type: o.mimeType || 'image/jpeg', sha256: sha, id: m.id, ...(o.caption ? { caption: o.caption } : {}) } });
  }

  /** inboundButtonReply({from, ..., buttonId, title, contextId}) → payload of
   *  a press on an interactive reply button of the message contextId. */
  inboundButtonReply(o) {
    return this.inbound({ ...o, context: o.contextId ? { from: this.displayPhoneNumber, id: o.contextId } : undefined },
      { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: o.buttonId, title: o.title } } });
  }

  /** inboundTemplateButton({from, ..., payload, text, contextId}): a press on
   *  a quick-reply button of a template message. */
  inboundTemplateButton(o) {
    return this.inbound({ ...o, context: o.contextId ? { from: this.displayPhoneNumber, id: o.contextId } : undefined },
      { type: 'button', button: { payload: o.payload, text: o.text } });
  }

  /** statusUpdate(wamid, status, {to, timestamp, errors: [code|{code,...}],
   *  userId}) → a statuses webhook payload ('sent', 'delivered', 'read',
   *  'failed'). */
  statusUpdate(id, status, { to, timestamp, errors, userId } = {}) {
    const rec = this.byId.get(id);
    const waId = String(to || (rec && rec.to) || '');
    const st = {
      id,
      status,
      timestamp: String(timestamp ?? Math.floor(this.clock.now() / 1000)),
      recipient_id: waId,
      recipient_user_id: userId || this.bsuid(waId),
    };
    if (status === 'sent' || status === 'delivered') {
      const cat = rec && rec.template ? rec.template.category.toLowerCase() : 'service';
      st.pricing = { billable: cat !== 'service', pricing_model: 'PMP', category: cat, type: cat === 'service' ? 'free_customer_service' : 'regular' };
    }
    if (errors) {
      st.errors = errors.map((e) => {
        const code = typeof e === 'object' ? e.code : e;
        const c = CODES[code] || { title: (e && e.title) || 'Error' };
        return { code, title: c.title, message: c.title, error_data: { details: (e && e.details) || c.details || c.title }, href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/' };
      });
    }
    return this.envelope({ statuses: [st] });
  }

  /** batch(...payloads): one POST carrying the messages, contacts and
   *  statuses of several payloads (Meta does batch). */
  batch(...payloads) {
    const v = { contacts: [], messages: [], statuses: [] };
    for (const p of payloads) {
      const val = p.entry[0].changes[0].value;
      for (const k of Object.keys(v)) if (val[k]) v[k].push(...val[k]);
    }
    for (const k of Object.keys(v)) if (!v[k].length) delete v[k];
    return this.envelope(v);
  }

  queueStatus(payload) {
    this.pendingStatuses.push(payload);
    if (!this.webhook) return;
    this.timers = this.timers || [];
    const delay = this.statusDelayMs * this.pendingStatuses.length;
    this.timers.push(setTimeout(() => {
      this.deliver(this.webhook.url, payload, { appSecret: this.webhook.appSecret, path: this.webhook.path }).catch(() => {});
    }, delay));
  }

  /** deliver(gssdUrl, payload, {appSecret, path = '/hooks/whatsapp',
   *  encoding = 'meta' | 'utf8', raw, signature, headers}) POSTs a webhook:
   *  the body is metaJson(payload) (or plain UTF-8 JSON, or the exact `raw`
   *  bytes) and X-Hub-Signature-256 signs exactly those bytes. signature:
   *  a string to send instead, null to send none. → {status, text, ms, bytes}. */
  async deliver(gssdUrl, payload, { appSecret, path = '/hooks/whatsapp', encoding = 'meta', raw, signature, headers = {}, timeoutMs } = {}) {
    const secret = appSecret ?? (this.webhook && this.webhook.appSecret);
    this.noteInbound(payload);
    const bytes = raw !== undefined ? Buffer.from(raw) : Buffer.from(encoding === 'utf8' ? JSON.stringify(payload) : metaJson(payload), 'utf8');
    const h = { 'content-type': 'application/json', 'user-agent': 'facebookexternalua', ...headers };
    const sig = signature !== undefined ? signature : secret ? signBody(bytes, secret) : null;
    if (sig !== null) h['x-hub-signature-256'] = sig;
    if (secret && signature === undefined) h['x-hub-signature'] = `sha1=${crypto.createHmac('sha1', secret).update(bytes).digest('hex')}`;
    const r = await rawRequest(joinUrl(gssdUrl, path), { method: 'POST', headers: h, body: bytes, timeoutMs });
    this.deliveries.push({ path, status: r.status, ms: r.ms, bytes });
    return { ...r, bytes };
  }

  // A delivered payload (also one built by hand) opens the window of every
  // customer who wrote in it, at the message's own timestamp.
  noteInbound(payload) {
    for (const en of (payload && payload.entry) || []) {
      for (const ch of en.changes || []) {
        for (const m of (ch.value && ch.value.messages) || []) {
          if (!m.from) continue;
          const ms = Number(m.timestamp) * 1000;
          const c = this.customer(m.from);
          if (Number.isFinite(ms) && (c.lastInboundMs === null || ms > c.lastInboundMs)) c.lastInboundMs = ms;
        }
      }
    }
  }

  /** verifyWebhook(gssdUrl, {verifyToken, challenge, mode = 'subscribe',
   *  path}) → {status, text, challenge}: Meta's subscription handshake. */
  async verifyWebhook(gssdUrl, { verifyToken, challenge, mode = 'subscribe', path = '/hooks/whatsapp' } = {}) {
    const ch = challenge ?? String(crypto.randomInt(1e9, 2e9));
    const q = new URLSearchParams({ 'hub.mode': mode, 'hub.challenge': ch, 'hub.verify_token': verifyToken ?? '' });
    const r = await rawRequest(`${joinUrl(gssdUrl, path)}?${q}`, { method: 'GET', headers: { 'user-agent': 'facebookplatform/1.0 (+http://developers.facebook.com)' } });
    return { ...r, challenge: ch };
  }
}
