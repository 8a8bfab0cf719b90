// The live job pool: one WebSocket to /api/v1/ws per tab, shared by every
// view that shows the board.
//
// Consistency rule (docs/websocket.md): the snapshot GET /api/v1/pool comes
// with the seq it stands at; a live message is applied only if its seq is
// greater than the last one applied. Messages that arrive while a snapshot
// is being fetched are held and replayed on top of it, so nothing is missed
// or applied twice. "resync" from the server, and every reconnect, fetch
// the snapshot again.
//
// The same socket carries the invoice events (docs/money.md, "Live
// events") for cs, sales and admin: every message whose type starts with
// "invoice." reaches subscribers as {type: 'invoice', msg}; they carry no
// seq (a screen refetches the invoice named by msg.data.id, so order does
// not matter). A screen must refetch on {type: 'resync'}, which comes on
// every (re)open of the socket (reason 'open'), on the server's
// invoice.resync (reason 'invoice', after {type: 'invoice'} for the message
// itself) and on the pool's resync (no reason): events may have been lost
// meanwhile. Sales may not read the pool (GET /api/v1/pool is 403): their
// feed runs with pool = false, without the snapshot, and is live as soon
// as the socket is open.
//
// Reconnects back off exponentially (1 s … 30 s, with jitter) and happen at
// once when the tab becomes visible again or the device comes back online.
// A ping every 25 s (answered by {"type":"pong"}) keeps proxies from
// dropping an idle socket and lets us notice one that died silently.

import { get } from './api.js';

const PING_MS = 25000;
const DEAD_MS = 70000; // no message at all for this long: the socket is gone
const GONE_MS = 2500; // a job that filled stays visible as "Penuh" this long
const REFUSED_MS = 8000; // ... and this long when our own claim was refused, to read why
const BACKOFF_MIN = 1000;
const BACKOFF_MAX = 30000;

/** releasedTechOf(job) → the id of the technician a release freed (the
 *  pool message of "Cari Pengganti"), else null. The field is named in
 *  src/pool/lua/README.md; the other spellings are accepted so that the
 *  board does not depend on which one the server settles on. */
export function releasedTechOf(job) {
  if (!job || typeof job !== 'object') return null;
  let v = job.released_tech_id ?? job.released_tech ?? job.released_id;
  if (v === undefined && job.released && typeof job.released === 'object') v = job.released.tech_id;
  if (v === undefined && typeof job.released === 'number') v = job.released;
  const n = Number(v);
  return v !== undefined && v !== null && v !== '' && Number.isSafeInteger(n) && n > 0 ? n : null;
}

function releasedReasonOf(job) {
  const r = job.released_reason ?? job.reason ?? (job.released && typeof job.released === 'object' ? job.released.reason : undefined);
  return typeof r === 'string' ? r : '';
}

/** Board order, as the pool's score: urgent first, then the earliest. */
export function compareJobs(a, b) {
  if (Boolean(a.urgent) !== Boolean(b.urgent)) return a.urgent ? -1 : 1;
  const ta = Date.parse(a.scheduled_at) || 0;
  const tb = Date.parse(b.scheduled_at) || 0;
  return ta - tb || a.id - b.id;
}

export class PoolFeed {
  constructor() {
    this.jobs = new Map(); // id → job as GET /pool lists it (plus .gone when it just left)
    this.seq = 0; // last seq applied
    this.ready = false; // a snapshot has been applied since the last (re)connect
    this.status = 'idle'; // idle | connecting | live | offline
    this.error = null; // the last snapshot error (ApiError), for the views
    this.listeners = new Set();
    this.ws = null;
    this.pending = null; // live messages held while a snapshot is in flight
    this.fetchGen = 0;
    this.backoff = BACKOFF_MIN;
    this.retryTimer = null;
    this.pingTimer = null;
    this.goneTimers = new Map();
    this.lastMessageAt = 0;
    this.stopped = true;
    this.pool = true; // false (set by app.js for sales): no pool snapshot, the socket for invoice events only
    this.userId = null; // the signed-in technician (set by app.js): their own releases are told apart
    this.released = new Map(); // job id → {code, reason, at}: released from these jobs in this tab
    this.onVisible = () => {
      if (document.visibilityState === 'visible') this.kick();
    };
    this.onOnline = () => this.kick();
    // The phone says it lost its network: the socket is as good as dead
    // (it may take a minute to notice by itself). Show "Terputus" now; the
    // 'online' event reconnects.
    this.onOffline = () => {
      if (this.stopped || !this.ws) return;
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(4001, 'offline');
      } catch {
        /* already closing */
      }
      clearInterval(this.pingTimer);
      this.fetchGen++;
      this.scheduleReconnect();
    };
  }

  /** subscribe(fn): fn(change) on every change; change.type is 'snapshot',
   *  'job' (with .job, .event), 'status', 'open', 'resync' (with .reason:
   *  'open', 'invoice' or none: refetch what you show), 'monitor' (.msg),
   *  'invoice' (.msg, the server's invoice.* message as it came) or
   *  'inbox' (.msg: inbox.message, inbox.status, inbox.read).
   *  Returns the unsubscribe function. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(change) {
    for (const fn of [...this.listeners]) {
      try {
        fn(change);
      } catch (err) {
        console.error('pool listener failed', err); // one broken view must not stop the others
      }
    }
  }

  setStatus(s) {
    if (this.status === s) return;
    this.status = s;
    this.emit({ type: 'status', status: s });
  }

  /** The jobs on the board, in board order (including those just gone). */
  list() {
    return [...this.jobs.values()].sort(compareJobs);
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    document.addEventListener('visibilitychange', this.onVisible);
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    document.removeEventListener('visibilitychange', this.onVisible);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    for (const t of this.goneTimers.values()) clearTimeout(t);
    this.goneTimers.clear();
    this.fetchGen++;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000);
      } catch {
        /* already closing */
      }
    }
    this.jobs.clear();
    this.ready = false;
    this.seq = 0;
    this.setStatus('idle');
  }

  /** Reconnect now if we are waiting to. */
  kick() {
    if (this.stopped) return;
    if (this.status === 'offline') {
      clearTimeout(this.retryTimer);
      this.backoff = BACKOFF_MIN;
      this.connect();
    } else if (this.ws && this.ws.readyState === WebSocket.OPEN && Date.now() - this.lastMessageAt > PING_MS) {
      this.send({ type: 'ping' });
    }
  }

  connect() {
    if (this.stopped) return;
    this.setStatus('connecting');
    this.ready = false;
    this.pending = [];
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}/api/v1/ws`);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.lastMessageAt = Date.now();
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.heartbeat(), PING_MS);
      this.emit({ type: 'open' }); // a fresh socket: the monitor refetches its snapshot too
      // Invoice events sent while there was no socket are lost: screens refetch.
      this.emit({ type: 'resync', reason: 'open' });
      if (this.pool) {
        this.fetchSnapshot();
      } else {
        this.ready = true;
        this.pending = null;
        this.backoff = BACKOFF_MIN;
        this.setStatus('live');
      }
    };
    ws.onmessage = (ev) => {
      this.lastMessageAt = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      this.fetchGen++; // a snapshot still in flight belongs to the dead socket
      // 1008: the server ended this session's sockets (logout elsewhere, the
      // account deactivated). A handshake refused with 401 looks like a
      // socket that never opened. Either way ask who we are: a 401 there
      // takes the app back to the login page (api.js onUnauthorized)
      // instead of reconnecting forever.
      if (ev.code === 1008 || !opened) get('/me').catch(() => {});
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      /* onclose follows and handles it */
    };
  }

  heartbeat() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastMessageAt > DEAD_MS) {
      this.ws.close(4000, 'no traffic'); // onclose reconnects
      return;
    }
    this.send({ type: 'ping' });
  }

  send(obj) {
    try {
      this.ws.send(JSON.stringify(obj));
    } catch {
      /* closing; onclose reconnects */
    }
  }

  scheduleReconnect() {
    if (this.stopped) return;
    this.ready = false;
    this.setStatus('offline');
    clearTimeout(this.retryTimer);
    const delay = Math.round(this.backoff * (0.75 + Math.random() * 0.5));
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  onMessage(msg) {
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'resync') {
      this.emit({ type: 'resync' }); // the server missed messages: every feed on this socket starts over
      if (this.pool) this.fetchSnapshot();
      return;
    }
    if (typeof msg.type === 'string' && msg.type.startsWith('monitor.')) {
      this.emit({ type: 'monitor', msg }); // CS and admin only; MonitorFeed orders them
      return;
    }
    if (typeof msg.type === 'string' && msg.type.startsWith('invoice.')) {
      // CS, Sales and admin: the invoice screens refetch what changed.
      this.emit({ type: 'invoice', msg });
      if (msg.type === 'invoice.resync') this.emit({ type: 'resync', reason: 'invoice' });
      return;
    }
    if (typeof msg.type === 'string' && msg.type.startsWith('inbox.')) {
      // CS and admin: the WhatsApp inbox (docs/inbox.md) refetches the
      // conversation named by msg.customer_id, and the nav badge its count.
      this.emit({ type: 'inbox', msg });
      return;
    }
    if (!this.pool || typeof msg.type !== 'string' || !msg.type.startsWith('pool.')) return;
    if (!this.ready) {
      if (this.pending) this.pending.push(msg);
      return;
    }
    this.apply(msg);
  }

  async fetchSnapshot() {
    const gen = ++this.fetchGen;
    this.ready = false;
    if (!this.pending) this.pending = [];
    let snap;
    try {
      snap = await get('/pool');
    } catch (err) {
      if (gen !== this.fetchGen || this.stopped) return;
      this.error = err;
      this.emit({ type: 'error', error: err });
      // Start over on a fresh socket after the usual backoff.
      if (this.ws) this.ws.close(4001, 'snapshot failed');
      else this.scheduleReconnect();
      return;
    }
    if (gen !== this.fetchGen || this.stopped) return;
    this.error = null;
    for (const t of this.goneTimers.values()) clearTimeout(t);
    this.goneTimers.clear();
    this.jobs.clear();
    for (const j of (snap && snap.jobs) || []) this.jobs.set(j.id, j);
    this.seq = Number(snap && snap.seq) || 0;
    this.ready = true;
    this.backoff = BACKOFF_MIN;
    const held = this.pending || [];
    this.pending = null;
    this.setStatus('live');
    this.emit({ type: 'snapshot' });
    for (const m of held) this.apply(m);
  }

  apply(msg) {
    const seq = Number(msg.seq);
    if (!Number.isFinite(seq) || seq <= this.seq) return; // already in the snapshot
    this.seq = seq;
    const job = msg.data;
    if (!job || typeof job.id !== 'number') return;
    // "Cari Pengganti" released this technician: the job is back on the
    // board (urgent) but no longer theirs, and they may not claim it again.
    const rel = releasedTechOf(job);
    if (rel !== null && this.userId !== null && rel === Number(this.userId)) {
      this.released.set(job.id, { code: job.code, reason: releasedReasonOf(job), at: Date.now() });
      this.emit({ type: 'released', job, reason: releasedReasonOf(job) });
    }
    if (msg.type === 'pool.closed' || (job.state && job.state !== 'open')) {
      const had = this.jobs.get(job.id);
      if (!had) return;
      // Already leaving (a claim of ours was refused): keep its timer, so
      // the message on its card stays readable.
      this.leave({ ...job, gone: job.state === 'full' ? 'full' : 'closed' }, had.gone ? null : GONE_MS);
      this.emit({ type: 'job', job: this.jobs.get(job.id), event: msg.type });
      return;
    }
    clearTimeout(this.goneTimers.get(job.id));
    this.goneTimers.delete(job.id);
    this.jobs.set(job.id, job);
    this.emit({ type: 'job', job, event: msg.type });
  }

  // Shows a job as gone ("Penuh" / "Ditutup") and removes it after ms (null:
  // keep the timer already running).
  leave(gone, ms) {
    const id = gone.id;
    this.jobs.set(id, gone);
    if (ms === null && this.goneTimers.has(id)) return;
    clearTimeout(this.goneTimers.get(id));
    this.goneTimers.set(id, setTimeout(() => {
      this.goneTimers.delete(id);
      if (this.jobs.get(id) && this.jobs.get(id).gone) {
        this.jobs.delete(id);
        this.emit({ type: 'job', job: gone, event: 'removed' });
      }
    }, ms === null ? GONE_MS : ms));
  }

  /** markGone(id, why): a claim answered job_full / not_open for a job our
   *  board still shows (a message we have not received yet): show it as
   *  gone now instead of waiting. */
  markGone(id, why) {
    const job = this.jobs.get(id);
    if (!job || job.gone) return;
    const gone = { ...job, gone: why, state: why === 'full' ? 'full' : 'closed' };
    if (why === 'full') gone.slots_taken = gone.slots_total;
    this.leave(gone, REFUSED_MS);
    this.emit({ type: 'job', job: gone, event: 'local' });
  }
}

// ---- the CS monitor (docs/monitor.md) ---------------------------------------------

const MONITOR_STATE = {
  'monitor.late': 'late',
  'monitor.no_show': 'no_show',
  'monitor.checkin': 'checked_in',
  'monitor.work_done': 'done',
  'monitor.replaced': 'replaced',
  'monitor.cancelled': 'cancelled',
};
const REFETCH_MS = 1200; // a claim reaches PostgreSQL through the persister a moment after its pool message

/**
 * MonitorFeed: one day's visits (GET /api/v1/monitor?date=) kept current by
 * the monitor.* messages of the PoolFeed's socket. Same rule as the pool:
 * the snapshot carries the seq it stands at, messages held while it is in
 * flight are replayed on top of it, and each applies only if its seq is
 * greater. monitor seqs come from one counter (INCR P:monitor:seq) and every
 * one of them is sent to every CS socket, so a seq that skips one means a
 * message was lost: fetch the snapshot again. So do a new socket and a
 * server "resync".
 *
 * subscribe(fn): fn({type}) with type 'snapshot', 'event' (.msg, .visit,
 * .tech: a live change, for the sound and the notification), 'error'.
 */
export class MonitorFeed {
  constructor(feed, date) {
    this.feed = feed;
    this.date = date;
    this.visits = [];
    this.seq = 0;
    this.ready = false;
    this.loading = false;
    this.error = null;
    this.pending = [];
    this.gen = 0;
    this.listeners = new Set();
    this.unsub = null;
    this.refetchTimer = null;
    this.fetchedAt = 0;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(c) {
    for (const fn of [...this.listeners]) {
      try {
        fn(c);
      } catch (err) {
        console.error('monitor listener failed', err);
      }
    }
  }

  start() {
    this.unsub = this.feed.subscribe((c) => {
      // The pool's resync only ('open' covers a new socket; an invoice
      // resync says nothing about visits).
      if (c.type === 'open' || (c.type === 'resync' && !c.reason)) this.fetch();
      else if (c.type === 'status' && c.status !== 'live') {
        // Cut off: whatever arrives next is ordered against a new snapshot.
        this.ready = false;
        this.gen++;
        this.pending = [];
        this.emit({ type: 'status' });
      } else if (c.type === 'monitor') this.onMessage(c.msg);
      else if (c.type === 'job' && (c.event === 'pool.updated' || c.event === 'pool.closed' || c.event === 'pool.opened')) {
        // A claim adds a visit, which no monitor.* message announces.
        this.refetchSoon();
      }
    });
    if (this.feed.ws && this.feed.ws.readyState === WebSocket.OPEN) this.fetch();
    else if (this.feed.status === 'idle') this.fetch(); // no socket at all: show the snapshot anyway
  }

  stop() {
    if (this.unsub) this.unsub();
    this.unsub = null;
    clearTimeout(this.refetchTimer);
    this.gen++;
    this.listeners.clear();
  }

  setDate(ymd) {
    if (ymd === this.date) return;
    this.date = ymd;
    this.visits = [];
    this.fetch();
  }

  refetchSoon(ms = REFETCH_MS) {
    clearTimeout(this.refetchTimer);
    this.refetchTimer = setTimeout(() => this.fetch({ quiet: true }), ms);
  }

  async fetch({ quiet = false } = {}) {
    const gen = ++this.gen;
    clearTimeout(this.refetchTimer);
    this.ready = false;
    if (!quiet) {
      this.loading = true;
      this.emit({ type: 'status' });
    }
    let snap;
    try {
      snap = await get(`/monitor?date=${encodeURIComponent(this.date)}`);
    } catch (err) {
      if (gen !== this.gen) return;
      this.loading = false;
      this.error = err;
      this.emit({ type: 'error', error: err });
      if (err && err.status !== 404 && err.status !== 403) this.refetchSoon(5000);
      return;
    }
    if (gen !== this.gen) return;
    this.loading = false;
    this.error = null;
    this.visits = (snap && Array.isArray(snap.visits)) ? snap.visits : [];
    this.seq = Number(snap && snap.seq) || 0;
    this.serverCounts = snap && snap.counts;
    this.fetchedAt = Date.now();
    this.ready = true;
    const held = this.pending.sort((a, b) => Number(a.seq) - Number(b.seq));
    this.pending = [];
    this.emit({ type: 'snapshot' });
    // Held messages are recent (they came while the snapshot was in flight): a
    // gap among them is not looked for again, so a counter that skipped a
    // number cannot make the monitor refetch forever.
    for (const m of held) if (this.ready) this.apply(m, true, false);
  }

  onMessage(msg) {
    if (!this.ready) {
      this.pending.push(msg);
      return;
    }
    this.apply(msg, true);
  }

  apply(msg, live, gapCheck = true) {
    const seq = Number(msg.seq);
    if (!Number.isFinite(seq) || seq <= this.seq) return; // in the snapshot already
    if (gapCheck && seq > this.seq + 1) {
      // A message went missing between the two: start over from a snapshot.
      this.pending.push(msg);
      this.fetch({ quiet: true });
      return;
    }
    this.seq = seq;
    const d = msg.data || {};
    const visit = this.visits.find((v) => Number(v.ticket_id) === Number(d.ticket_id));
    if (!visit) {
      // Another day's visit, or one this snapshot does not have yet.
      if (!d.scheduled_at || localYmd(d.scheduled_at) === this.date) this.refetchSoon(300);
      return;
    }
    const state = MONITOR_STATE[msg.type];
    if (msg.type === 'monitor.cancelled') {
      visit.status = 'cancelled';
      for (const t of visit.technicians || []) if (!['done', 'replaced'].includes(t.state)) t.state = 'cancelled';
      this.emit({ type: 'event', msg, visit, tech: null, live });
      return;
    }
    if (!Array.isArray(visit.technicians)) visit.technicians = [];
    let tech = visit.technicians.find((t) => Number(t.tech_id) === Number(d.tech_id));
    if (!tech) {
      tech = { tech_id: d.tech_id, name: d.tech_name || `Teknisi #${d.tech_id}` };
      visit.technicians.push(tech);
    }
    tech.state = typeof d.state === 'string' && d.state ? d.state : (state || tech.state);
    for (const k of ['minutes_late', 'checked_in_at', 'distance_m', 'geofence', 'flags', 'phone', 'replaced_reason', 'replaced_at']) {
      if (d[k] !== undefined) tech[k] = d[k];
    }
    if (msg.type === 'monitor.replaced' && d.reason !== undefined) tech.replaced_reason = d.reason;
    if (msg.type === 'monitor.checkin' && !tech.checked_in_at) tech.checked_in_at = d.at;
    if (msg.type === 'monitor.replaced') {
      visit.urgent = true;
      this.refetchSoon(); // the job is open again: its visit changes once the persister wrote it
    }
    this.emit({ type: 'event', msg, visit, tech, live });
  }
}

const ymdFmt = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Jakarta', year: 'numeric', month: '2-digit', day: '2-digit' });
function localYmd(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : ymdFmt.format(d);
}
