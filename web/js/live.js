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
   *  'job' (with .job, .event) or 'status'. Returns the unsubscribe function. */
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
      this.fetchSnapshot();
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
      this.fetchSnapshot();
      return;
    }
    if (typeof msg.type !== 'string' || !msg.type.startsWith('pool.')) return;
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
