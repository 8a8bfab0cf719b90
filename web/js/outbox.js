// The technician's outbox: check-ins, check-outs and uploads kept on the
// phone until the server has them.
//
// Every such action goes through here, online or not: it is written to
// IndexedDB first (so closing the tab or losing signal mid-request loses
// nothing), then sent. The item's id is its Idempotency-Key, so a retry of a
// request whose answer was lost is answered "replayed" by the server and
// stored once.
//
// Item: {id, user_id, ticket_id, kind: 'checkin'|'checkout'|'upload',
//        body (JSON of a check-in/out) | blob + attach_kind ('bast'|'photo')
//        + name + type + size (an upload), created_at (ISO), attempts,
//        last_error (Indonesian text), last_status}
//
// Sending: in creation order; a failed item holds back the later items of
// its ticket (a check-out must not overtake its check-in). Answers:
//   2xx                      removed, 'sent' event with the server's answer
//   network, 408, 429, 5xx   kept; retried with backoff (5 s … 5 min), at
//                            once when the browser says it is online again,
//                            when the tab becomes visible, or on flush(true)
//   401                      kept (the session ended; sent after the next login)
//   other 4xx                removed, 'failed' event with the error
// Only the logged-in technician's items are sent (setUser); another user's
// stay on the phone until that user logs in again.
//
// Events to subscribe(fn): {type: 'change'} (the list changed),
// {type: 'progress', id, loaded, total}, {type: 'sent', item, result},
// {type: 'failed', item, error}, {type: 'waiting', item, error}.

import { api, ApiError, errorText } from './api.js';
import { uploadFile } from './upload.js';

const DB_NAME = 'gss-outbox';
const STORE = 'items';
const SEND_TIMEOUT_MS = 30000; // a check-in on a dying signal: give up, retry later
const BACKOFF_MIN_MS = 5000;
const BACKOFF_MAX_MS = 300000;

const ERRORS = {
  already_checked_in: 'Anda sudah check-in di job ini.',
  not_checked_in: 'Belum check-in: check-in dulu sebelum check-out.',
  already_checked_out: 'Anda sudah check-out dari job ini.',
  invalid_transition: 'Tidak bisa: slot Anda di job ini sudah dibatalkan atau digantikan.',
  ticket_not_active: 'Job ini sudah tidak aktif.',
  fix_too_old: 'Lokasi ini diambil lebih dari 6 jam yang lalu. Periksa jam ponsel lalu ulangi.',
  unsupported_type: 'Jenis file tidak didukung. Kirim foto JPEG/PNG atau PDF.',
  payload_too_large: 'File terlalu besar.',
  insufficient_storage: 'Penyimpanan server penuh. Hubungi CS.',
  validation_failed: 'Data tidak valid.',
  not_found: 'Job tidak ditemukan atau bukan milik Anda lagi.',
};

/** outboxErrorText(err): Indonesian text for an answer to a queued action. */
export function outboxErrorText(err) {
  if (err instanceof ApiError && err.status === 0) return 'Tidak ada sinyal / server tidak terjangkau.';
  return errorText(err, ERRORS);
}

/** newKey() → a fresh Idempotency-Key (a UUID: [0-9a-f-], 36 characters). */
export function newKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

// ---- storage: IndexedDB, or memory where it is not available -----------------

let dbPromise = null;
const memory = new Map(); // used only when IndexedDB cannot be opened

function openDb() {
  if (dbPromise) return dbPromise;
  dbPromise = new Promise((resolve) => {
    let req;
    try {
      req = indexedDB.open(DB_NAME, 1);
    } catch {
      resolve(null);
      return;
    }
    req.addEventListener('upgradeneeded', () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: 'id' });
    });
    req.addEventListener('success', () => resolve(req.result));
    req.addEventListener('error', () => resolve(null));
    req.addEventListener('blocked', () => resolve(null));
  });
  return dbPromise;
}

async function tx(mode, fn) {
  const db = await openDb();
  if (!db) return fn(null);
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const store = t.objectStore(STORE);
    let out;
    Promise.resolve(fn(store)).then((v) => { out = v; }, reject);
    t.addEventListener('complete', () => resolve(out));
    t.addEventListener('error', () => reject(t.error));
    t.addEventListener('abort', () => reject(t.error || new Error('IndexedDB transaction aborted')));
  });
}

function reqValue(r) {
  return new Promise((resolve, reject) => {
    r.addEventListener('success', () => resolve(r.result));
    r.addEventListener('error', () => reject(r.error));
  });
}

const store = {
  put: (item) => tx('readwrite', (s) => (s ? s.put(item) : memory.set(item.id, item))),
  del: (id) => tx('readwrite', (s) => (s ? s.delete(id) : memory.delete(id))),
  all: () => tx('readonly', (s) => (s ? reqValue(s.getAll()) : [...memory.values()])),
};

// ---- the queue -------------------------------------------------------------------

const listeners = new Set();
let items = []; // every stored item, oldest first
let loaded = null; // promise of the first read
let userId = null;
let flushing = null; // promise of the running flush
let again = false;
let timer = null;
let failStreak = 0;
let retryAt = 0; // ms epoch of the next automatic try (0: none planned)
const running = new Map(); // id → {loaded, total} while it is being sent
const outcomes = new Map(); // id → {status, result|error} of items handled in this tab

function emit(ev) {
  for (const fn of [...listeners]) {
    try {
      fn(ev);
    } catch (err) {
      console.error('outbox listener failed', err);
    }
  }
}

const changed = () => emit({ type: 'change' });

function load() {
  if (!loaded) {
    loaded = store.all().then((list) => {
      items = (list || []).sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
      changed();
    }).catch((err) => {
      console.error('outbox: cannot read the stored items', err);
      items = [];
    });
  }
  return loaded;
}

/** subscribe(fn) → unsubscribe. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** pending(ticketId?) → the current user's waiting items (of one ticket). */
export function pending(ticketId) {
  return items.filter((i) => i.user_id === userId && (ticketId === undefined || i.ticket_id === ticketId));
}

/** progress(id) → {loaded, total} while that item is being sent, else null. */
export function progress(id) {
  return running.get(id) || null;
}

/** sending(id) → true while that item is on the wire. */
export function sending(id) {
  return running.has(id);
}

/** nextRetry() → ms epoch of the next automatic try, or 0. */
export function nextRetry() {
  return retryAt;
}

/** setUser(id): whose items to send (null on logout: nothing is sent). */
export function setUser(id) {
  userId = id === null || id === undefined ? null : Number(id);
  clearTimeout(timer);
  retryAt = 0;
  failStreak = 0;
  load().then(() => {
    changed();
    if (userId !== null) flush(true);
  });
}

/**
 * add({ticket_id, kind, body} | {ticket_id, kind: 'upload', blob, attach_kind,
 * name, type}) → the stored item. Sending starts at once (see submit()).
 */
export async function add(fields) {
  await load();
  const item = {
    id: newKey(),
    user_id: userId,
    created_at: new Date().toISOString(),
    attempts: 0,
    last_error: '',
    last_status: null,
    ...fields,
  };
  if (item.blob) item.size = item.blob.size;
  try {
    await store.put(item);
  } catch (err) {
    // Storage full or refused: keep it for this tab's life rather than lose it.
    console.error('outbox: cannot store the item', err);
  }
  items.push(item);
  changed();
  return item;
}

/**
 * submit(fields) → {status: 'sent', result} | {status: 'failed', error}
 * | {status: 'queued', error?, item}: stores the action, tries to send it
 * now, and says how that went. 'queued' means it is kept and will be sent
 * later by itself.
 */
export async function submit(fields) {
  const item = await add(fields);
  if (!navigator.onLine) {
    flush(false); // sees no network and plans the next try; 'online' comes sooner
    return { status: 'queued', item, offline: true };
  }
  await flush(true);
  const out = outcomes.get(item.id);
  if (out) return { ...out, item };
  const still = items.find((i) => i.id === item.id);
  return { status: 'queued', item, error: still ? still.last_error : '' };
}

/** discard(id): drop a waiting item without sending it (the technician's choice). */
export async function discard(id) {
  items = items.filter((i) => i.id !== id);
  await store.del(id).catch(() => {});
  changed();
}

async function send(item) {
  if (item.kind === 'checkin' || item.kind === 'checkout') {
    return api('POST', `/tickets/${item.ticket_id}/${item.kind}`, item.body, {
      headers: { 'Idempotency-Key': item.id },
      signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
    });
  }
  if (item.kind === 'upload') {
    running.set(item.id, { loaded: 0, total: item.size || 0 });
    return uploadFile(`/tickets/${item.ticket_id}/attachments?kind=${encodeURIComponent(item.attach_kind)}`, item.blob, {
      type: item.type,
      headers: { 'Idempotency-Key': item.id },
      onProgress: (l, t) => {
        running.set(item.id, { loaded: l, total: t });
        emit({ type: 'progress', id: item.id, loaded: l, total: t });
      },
    });
  }
  throw new ApiError(400, 'unknown_kind', `unknown outbox kind ${item.kind}`);
}

// Is this error worth another try of the same request?
function retryable(err) {
  if (!(err instanceof ApiError)) return true; // a timeout or an abort: the network
  return err.status === 0 || err.status === 401 || err.status === 408 || err.status === 429 || err.status >= 500;
}

function schedule(hintSeconds) {
  clearTimeout(timer);
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(failStreak, 10));
  let delay = base * (0.75 + Math.random() * 0.5);
  if (hintSeconds) delay = Math.max(delay, hintSeconds * 1000);
  retryAt = Date.now() + delay;
  timer = setTimeout(() => {
    retryAt = 0;
    flush(false);
  }, delay);
}

async function run() {
  await load();
  let failed = false;
  let stopAll = false;
  let hint = 0;
  const held = new Set(); // tickets with a failed earlier item in this round
  for (const item of [...items]) {
    if (userId === null || item.user_id !== userId) continue;
    if (!items.includes(item)) continue; // discarded meanwhile
    if (held.has(item.ticket_id)) continue;
    if (!navigator.onLine) {
      failed = true;
      break;
    }
    item.attempts += 1;
    running.set(item.id, running.get(item.id) || { loaded: 0, total: item.size || 0 });
    changed();
    let result;
    let error = null;
    try {
      result = await send(item);
    } catch (err) {
      error = err;
    }
    running.delete(item.id);
    if (!error) {
      items = items.filter((i) => i !== item);
      await store.del(item.id).catch(() => {});
      outcomes.set(item.id, { status: 'sent', result });
      emit({ type: 'sent', item, result });
      changed();
      continue;
    }
    if (retryable(error)) {
      item.last_error = outboxErrorText(error);
      item.last_status = error instanceof ApiError ? error.status : 0;
      await store.put(item).catch(() => {});
      emit({ type: 'waiting', item, error });
      changed();
      failed = true;
      held.add(item.ticket_id);
      if (error instanceof ApiError && error.retryAfter) hint = Math.max(hint, error.retryAfter);
      // No network or no session: nothing else will get through either.
      if (!(error instanceof ApiError) || error.status === 0 || error.status === 401) stopAll = true;
      if (stopAll) break;
      continue;
    }
    items = items.filter((i) => i !== item);
    await store.del(item.id).catch(() => {});
    outcomes.set(item.id, { status: 'failed', error });
    emit({ type: 'failed', item, error, text: outboxErrorText(error) });
    changed();
  }
  return { failed, hint };
}

/**
 * flush(force) → a promise settled when the queue has been gone through.
 * force: a person asked (or the network came back), so the backoff is reset.
 */
export function flush(force = false) {
  if (force) failStreak = 0;
  if (flushing) {
    again = true;
    return flushing;
  }
  clearTimeout(timer);
  retryAt = 0;
  flushing = (async () => {
    let last = { failed: false, hint: 0 };
    try {
      do {
        again = false;
        last = await run();
      } while (again);
    } catch (err) {
      console.error('outbox: flush failed', err);
      last = { failed: true, hint: 0 };
    } finally {
      flushing = null;
    }
    const left = pending().length > 0;
    if (last.failed && left) {
      failStreak += 1;
      // Offline: the 'online' event wakes us; still try now and then, since
      // navigator.onLine can stay false on some networks that work.
      schedule(last.hint);
    } else {
      failStreak = 0;
    }
    changed();
  })();
  return flushing;
}

// The network came back, or the phone woke the tab: try now.
if (typeof window !== 'undefined') {
  window.addEventListener('online', () => {
    if (userId !== null) flush(true);
  });
  window.addEventListener('offline', changed);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && userId !== null && pending().length) flush(true);
  });
}

const KIND_WORDS = { checkin: 'check-in', checkout: 'check-out', bast: 'BAST', photo: 'foto' };

/** itemLabel(item) → "check-in" | "check-out" | "BAST" | "foto". */
export function itemLabel(item) {
  return KIND_WORDS[item.kind === 'upload' ? item.attach_kind : item.kind] || item.kind;
}

/** summary(list) → "1 check-in, 1 foto" (in a fixed order). */
export function summary(list) {
  const n = new Map();
  for (const i of list) {
    const k = itemLabel(i);
    n.set(k, (n.get(k) || 0) + 1);
  }
  return ['check-in', 'check-out', 'BAST', 'foto'].filter((k) => n.has(k)).map((k) => `${n.get(k)} ${k}`)
    .concat([...n.keys()].filter((k) => !Object.values(KIND_WORDS).includes(k)).map((k) => `${n.get(k)} ${k}`))
    .join(', ');
}
