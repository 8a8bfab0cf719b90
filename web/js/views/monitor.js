// Monitor Kunjungan (/#/monitor, CS and admin, a desktop left open all day):
// one day's visits with each technician's state (docs/monitor.md), live.
//
// The data is a MonitorFeed (../live.js) on the tab's one WebSocket: the
// snapshot GET /api/v1/monitor?date= and the monitor.* messages on top of
// it, refetched after a reconnect, a "resync" or a gap in seq. This view
// draws it: the counters per state, then the visits with trouble first
// (tidak datang, terlambat), each late one with its minutes, each check-in
// with its distance and verdict.
//
// A no-show rings (WebAudio, two short beeps, no sound file) and raises a
// browser notification. Browsers allow both only after a click on the page,
// so "Aktifkan notifikasi" asks for the permission once (remembered in
// localStorage) and unlocks the sound.
//
// "Cari Pengganti" (POST /tickets/{id}/replace {tech_id, reason, force?})
// opens a confirm dialog with a reason; for a technician who already checked
// in it also asks to force it.

import { post, errorText } from '../api.js';
import { h, icon, replace } from '../dom.js';
import { MonitorFeed } from '../live.js';
import {
  jakartaYmd, jakartaTime, jakartaDate, monitorLabel, MONITOR_STATES, lateText, minutesLate, distanceText,
  geofenceText, flagText, statusLabel,
} from '../format.js';

export const layout = 'wide';

const TICK_MS = 20000; // the minutes of a late visit grow while the page stays open
const NOTIF_KEY = 'gss.notif.asked';
const CHANGED_MS = 6000;
// Trouble first: what CS must act on.
const RANK = { no_show: 0, late: 1, waiting: 2, on_time: 3, checked_in: 3, done: 4, replaced: 5, cancelled: 6 };
const REPLACEABLE = new Set(['waiting', 'late', 'no_show', 'on_time', 'checked_in']);
const NEEDS_FORCE = new Set(['on_time', 'checked_in']);

const REPLACE_ERRORS = {
  invalid_transition: 'Teknisi ini sudah tidak bisa diganti: statusnya sudah berubah. Data dimuat ulang.',
  force_required: 'Teknisi ini sudah check-in: centang "tetap ganti" dan isi alasannya.',
  not_assigned: 'Teknisi ini sudah tidak memegang slot job ini. Data dimuat ulang.',
  not_open: 'Job ini sudah tidak terbuka di papan.',
  validation_failed: 'Alasan wajib diisi (maksimal 500 huruf).',
  not_found: 'Tiket tidak ditemukan.',
};

// ---- sound and notification ---------------------------------------------------------

let audio = null;
function audioCtx() {
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return null;
  if (!audio) {
    try {
      audio = new AC();
    } catch {
      audio = null;
    }
  }
  return audio;
}

/** unlockSound(): called from a click, so the browser lets the page play. */
function unlockSound() {
  const ctx = audioCtx();
  if (ctx && ctx.state === 'suspended' && ctx.resume) ctx.resume().catch(() => {});
}

/** beep(): two short tones, drawn by an oscillator (no file to load). */
export function beep() {
  const ctx = audioCtx();
  if (!ctx) return;
  try {
    const t0 = ctx.currentTime;
    for (const [at, f] of [[0, 880], [0.28, 660]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = f;
      gain.gain.setValueAtTime(0.0001, t0 + at);
      gain.gain.exponentialRampToValueAtTime(0.3, t0 + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.22);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.25);
    }
  } catch {
    /* no sound device: the red row and the notification still say it */
  }
}

function notifSupported() {
  return typeof window.Notification === 'function';
}

function notifAsked() {
  try {
    return localStorage.getItem(NOTIF_KEY) === '1';
  } catch {
    return false;
  }
}

function notify(title, body, tag) {
  if (!notifSupported() || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag, requireInteraction: true });
    n.onclick = () => {
      window.focus();
      n.close();
    };
  } catch {
    /* some browsers allow notifications only from a service worker */
  }
}

// ---- the view --------------------------------------------------------------------------

export function mount(root, ctx) {
  let alive = true;
  const today = jakartaYmd(new Date());
  const mon = new MonitorFeed(ctx.feed, today);
  const changed = new Map(); // "ticket:tech" → timer: rows that just changed flash
  const filters = { area: '', tech: '' };

  // Header: title, the notification switch.
  const notifBtn = h('button', {
    class: 'btn btn-secondary btn-sm', type: 'button', dataset: { testid: 'notif-enable' },
    on: { click: enableNotifications },
  }, icon('alert', 'icon icon-sm'), 'Aktifkan notifikasi');
  const notifState = h('span', { class: 'muted small', dataset: { testid: 'notif-state' } });
  const head = h('div', { class: 'page-head' },
    h('div', null,
      h('h1', null, 'Monitor Kunjungan'),
      h('p', { class: 'muted' }, 'Kunjungan teknisi hari ini, diperbarui langsung. Terlambat dan tidak datang tampil paling atas.')),
    h('div', { class: 'mon-notif' }, notifBtn, notifState));

  // Filters.
  const dateIn = h('input', { type: 'date', id: 'mon-date', value: today, on: { change: () => {
    if (/^\d{4}-\d{2}-\d{2}$/.test(dateIn.value)) {
      mon.setDate(dateIn.value);
      draw();
    }
  } } });
  const areaSel = h('select', { id: 'mon-area', on: { change: () => { filters.area = areaSel.value; draw(); } } });
  const techSel = h('select', { id: 'mon-tech', on: { change: () => { filters.tech = techSel.value; draw(); } } });
  const todayBtn = h('button', { class: 'btn btn-ghost btn-sm', type: 'button', on: { click: () => {
    dateIn.value = jakartaYmd(new Date());
    mon.setDate(dateIn.value);
    draw();
  } } }, 'Hari ini');
  const filterBar = h('div', { class: 'mon-filters', role: 'search', 'aria-label': 'Saring kunjungan' },
    h('div', { class: 'field' }, h('label', { for: 'mon-date' }, 'Tanggal'), h('div', { class: 'mon-date' }, dateIn, todayBtn)),
    h('div', { class: 'field' }, h('label', { for: 'mon-area' }, 'Area'), areaSel),
    h('div', { class: 'field' }, h('label', { for: 'mon-tech' }, 'Teknisi'), techSel));

  const counts = h('ul', { class: 'mon-counts', 'aria-label': 'Jumlah teknisi per status' });
  const banner = h('div', { class: 'banner banner-warn', role: 'status', hidden: true },
    'Koneksi terputus — data mungkin tidak terbaru. Menghubungkan ulang…');
  const list = h('div', { class: 'mon-list', 'aria-live': 'polite', 'aria-busy': 'true' });
  const dialog = replaceDialog();
  root.append(head, filterBar, counts, banner, list, dialog.el);

  // ---- notifications

  function drawNotif() {
    const can = notifSupported();
    const perm = can ? Notification.permission : 'unsupported';
    notifBtn.hidden = !can || perm !== 'default' || notifAsked();
    notifState.textContent = perm === 'granted' ? 'Notifikasi aktif'
      : perm === 'denied' ? 'Notifikasi diblokir di pengaturan browser'
        : !can ? 'Browser ini tidak mendukung notifikasi'
          : notifAsked() ? 'Notifikasi belum diizinkan' : '';
  }

  async function enableNotifications() {
    unlockSound();
    try {
      localStorage.setItem(NOTIF_KEY, '1');
    } catch {
      /* storage disabled: asked again next time */
    }
    if (notifSupported() && Notification.permission === 'default') {
      try {
        await Notification.requestPermission();
      } catch {
        /* an old browser's callback form: the state below says what happened */
      }
    }
    if (!alive) return;
    drawNotif();
    if (notifSupported() && Notification.permission === 'granted') ctx.toast('Notifikasi aktif: Anda diberi tahu saat teknisi tidak datang', 'ok');
  }

  // Any click unlocks the sound too (the browser wants a gesture first).
  const onGesture = () => unlockSound();
  document.addEventListener('pointerdown', onGesture, { once: true });

  // ---- drawing

  const techKey = (v, t) => `${v.ticket_id}:${t.tech_id}`;

  function visible() {
    return mon.visits.filter((v) => {
      if (filters.area && (v.area || '') !== filters.area) return false;
      if (filters.tech && !(v.technicians || []).some((t) => String(t.tech_id) === filters.tech)) return false;
      return true;
    });
  }

  function rankOf(v) {
    const techs = v.technicians || [];
    if (!techs.length) return 2.5;
    return Math.min(...techs.map((t) => RANK[t.state] ?? 3));
  }

  function fillSelect(sel, options, allLabel, current) {
    const want = [['', allLabel], ...options];
    const same = sel.options.length === want.length && want.every(([v, l], i) => sel.options[i].value === v && sel.options[i].textContent === l);
    if (!same) replace(sel, want.map(([v, l]) => h('option', { value: v }, l)));
    sel.value = want.some(([v]) => v === current) ? current : '';
    return sel.value;
  }

  function drawFilters() {
    const areas = [...new Set(mon.visits.map((v) => v.area || '').filter(Boolean))].sort((a, b) => a.localeCompare(b, 'id'));
    const techs = new Map();
    for (const v of mon.visits) for (const t of v.technicians || []) techs.set(String(t.tech_id), t.name || `Teknisi #${t.tech_id}`);
    filters.area = fillSelect(areaSel, areas.map((a) => [a, a]), 'Semua area', filters.area);
    filters.tech = fillSelect(techSel, [...techs].sort((a, b) => a[1].localeCompare(b[1], 'id')), 'Semua teknisi', filters.tech);
  }

  function drawCounts(shown) {
    const n = Object.fromEntries(MONITOR_STATES.map((s) => [s, 0]));
    for (const v of shown) {
      for (const t of v.technicians || []) {
        if (filters.tech && String(t.tech_id) !== filters.tech) continue;
        if (n[t.state] !== undefined) n[t.state] += 1;
      }
    }
    replace(counts, MONITOR_STATES.map((s) => h('li', { class: `mon-count mon-${s}${n[s] ? ' has' : ''}`, dataset: { state: s, testid: `count-${s}` } },
      h('span', { class: 'mon-count-n' }, String(n[s])),
      h('span', { class: 'mon-count-l' }, monitorLabel(s)))));
  }

  function checkinLine(t) {
    if (!t.checked_in_at && typeof t.distance_m !== 'number') return null;
    const verdict = geofenceText(t);
    const dist = distanceText(t.distance_m);
    return h('p', { class: 'mon-checkin small', dataset: { testid: 'checkin' } },
      t.checked_in_at ? `Check-in ${jakartaTime(t.checked_in_at)}` : 'Check-in',
      dist ? ` · ${dist} dari lokasi` : '',
      verdict ? h('span', { class: `verdict-pill verdict-${t.geofence || 'uncertain'}` }, verdict) : null,
      Array.isArray(t.flags) && t.flags.length
        ? h('span', { class: 'mon-flags' }, icon('alert', 'icon icon-sm'), t.flags.map(flagText).join('; ')) : null);
  }

  function techRow(v, t) {
    const state = t.state || 'waiting';
    const mins = typeof t.minutes_late === 'number' ? Math.max(t.minutes_late, minutesLate(v.scheduled_at)) : minutesLate(v.scheduled_at);
    const late = lateText(state, mins);
    const canReplace = REPLACEABLE.has(state) && ['late', 'no_show'].includes(state);
    const quiet = REPLACEABLE.has(state) && !canReplace;
    const key = techKey(v, t);
    return h('li', { class: `mon-tech mon-${state}${changed.has(key) ? ' is-changed' : ''}`, dataset: { techId: t.tech_id, state } },
      h('div', { class: 'mon-tech-main' },
        h('span', { class: 'mon-tech-name' }, t.name || `Teknisi #${t.tech_id}`),
        h('span', { class: `badge mon-badge mon-badge-${state}`, dataset: { testid: 'tech-state' } }, monitorLabel(state)),
        late ? h('span', { class: 'mon-late', dataset: { testid: 'late-text' } }, late) : null,
        state === 'replaced' && t.replaced_reason ? h('span', { class: 'muted small' }, `Alasan: ${t.replaced_reason}`) : null),
      checkinLine(t),
      canReplace || quiet
        ? h('div', { class: 'mon-tech-act' },
          h('button', {
            class: canReplace ? 'btn btn-danger btn-sm' : 'btn btn-ghost btn-sm', type: 'button',
            dataset: { replace: t.tech_id },
            'aria-label': `Cari Pengganti untuk ${t.name || t.tech_id} di ${v.code}`,
            on: { click: () => dialog.open(v, t) },
          }, icon('users', 'icon icon-sm'), 'Cari Pengganti'))
        : null);
  }

  function visitCard(v) {
    const techs = (v.technicians || []).filter((t) => !filters.tech || String(t.tech_id) === filters.tech);
    const rank = rankOf(v);
    const cls = ['mon-visit'];
    if (rank === 0) cls.push('is-noshow');
    else if (rank === 1) cls.push('is-late');
    if (v.urgent) cls.push('is-urgent');
    return h('article', { class: cls, dataset: { ticketId: v.ticket_id } },
      h('div', { class: 'mon-visit-head' },
        h('span', { class: 'mon-time' }, jakartaTime(v.scheduled_at)),
        v.urgent ? h('span', { class: 'badge badge-urgent' }, icon('alert', 'icon icon-sm'), 'MENDESAK') : null,
        h('a', { class: 'job-code link', href: `#/tiket/${v.ticket_id}` }, v.code || `#${v.ticket_id}`),
        v.status ? h('span', { class: `badge badge-status status-${v.status}` }, statusLabel(v.status)) : null),
      h('p', { class: 'mon-visit-who' },
        h('span', { class: 'strong' }, v.customer_name || '-'),
        v.area ? h('span', { class: 'muted' }, ` · ${v.area}`) : null),
      techs.length
        ? h('ul', { class: 'mon-techs' }, techs.map((t) => techRow(v, t)))
        : h('p', { class: 'muted small' }, 'Belum ada teknisi yang mengambil job ini.'));
  }

  function draw() {
    if (!alive) return;
    drawNotif();
    banner.hidden = ctx.feed.status === 'live' || ctx.feed.status === 'idle' || !mon.visits.length;
    list.setAttribute('aria-busy', mon.ready ? 'false' : 'true');
    drawFilters();
    const shown = visible();
    drawCounts(shown);
    if (!mon.ready && !mon.visits.length) {
      if (mon.error) {
        const missing = mon.error.status === 404 && mon.error.code !== 'not_found';
        replace(list, h('div', { class: 'state state-error', role: 'alert' },
          h('p', null, missing ? 'Monitor belum tersedia di server ini.' : errorText(mon.error)),
          h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => mon.fetch() } }, icon('refresh'), 'Coba lagi')));
      } else {
        replace(list, h('div', { class: 'state state-loading', role: 'status' },
          h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat kunjungan…'));
      }
      return;
    }
    if (!shown.length) {
      const filtered = mon.visits.length > 0;
      replace(list, h('div', { class: 'state state-empty' },
        h('p', { class: 'state-title' }, filtered ? 'Tidak ada kunjungan yang cocok dengan saringan' : `Tidak ada kunjungan pada ${jakartaDate(`${mon.date}T05:00:00Z`)}`),
        h('p', { class: 'muted' }, filtered ? 'Ubah area atau teknisi di atas.'
          : 'Kunjungan muncul di sini begitu teknisi mengambil job yang dijadwalkan hari itu.')));
      return;
    }
    const sorted = [...shown].sort((a, b) => rankOf(a) - rankOf(b)
      || (Date.parse(a.scheduled_at) || 0) - (Date.parse(b.scheduled_at) || 0) || a.ticket_id - b.ticket_id);
    replace(list, sorted.map(visitCard));
  }

  function flash(key) {
    clearTimeout(changed.get(key));
    changed.set(key, setTimeout(() => {
      changed.delete(key);
      draw();
    }, CHANGED_MS));
  }

  const unsub = mon.subscribe((c) => {
    if (c.type === 'event' && c.tech) {
      flash(techKey(c.visit, c.tech));
      if (c.live && c.msg.type === 'monitor.no_show') {
        const who = c.tech.name || c.msg.data.tech_name || `Teknisi #${c.tech.tech_id}`;
        const code = c.visit.code || `#${c.visit.ticket_id}`;
        beep();
        notify(`Teknisi tidak datang: ${who}`, `${code} · ${c.visit.customer_name || ''} · jadwal ${jakartaTime(c.visit.scheduled_at)}`,
          `gss-noshow-${c.visit.ticket_id}-${c.tech.tech_id}`);
        ctx.toast(`${who} tidak datang ke ${code}`, 'error');
      }
    }
    draw();
  });
  const unsubFeed = ctx.feed.subscribe((c) => {
    if (c.type === 'status') draw();
  });
  mon.start();
  const ticker = setInterval(draw, TICK_MS);
  draw();

  // ---- Cari Pengganti

  function replaceDialog() {
    const reason = h('textarea', { id: 'rep-reason', rows: '3', maxlength: '500', required: true,
      placeholder: 'Contoh: teknisi tidak bisa dihubungi, pelanggan sudah menunggu' });
    const force = h('input', { type: 'checkbox', id: 'rep-force' });
    const forceBox = h('div', { class: 'field field-check', hidden: true },
      h('p', { class: 'banner banner-error' }, 'Teknisi ini sudah check-in di lokasi.'),
      h('label', { for: 'rep-force', class: 'check' }, force, ' Tetap ganti teknisi ini (paksa)'));
    const msg = h('p', { class: 'form-message form-message-error', role: 'alert', hidden: true });
    const title = h('h2', { id: 'rep-title', class: 'dialog-title' }, 'Cari pengganti?');
    const what = h('p', { class: 'muted' });
    const confirm = h('button', { class: 'btn btn-danger', type: 'submit' }, 'Ya, cari pengganti');
    const back = h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => el.close() } }, 'Kembali');
    let current = null;
    let busy = false;
    const form = h('form', { class: 'dialog-form', novalidate: true, on: { submit: onSubmit } },
      title, what, forceBox,
      h('div', { class: 'field' },
        h('label', { for: 'rep-reason' }, 'Alasan', h('span', { class: 'optional' }, ' (wajib, tampil di riwayat tiket)')),
        reason),
      msg,
      h('div', { class: 'form-actions' }, back, confirm));
    const el = h('dialog', { class: 'dialog', 'aria-labelledby': 'rep-title' }, form);

    const fail = (text) => {
      msg.hidden = false;
      msg.textContent = text;
    };

    async function onSubmit(ev) {
      ev.preventDefault();
      if (busy || !current) return;
      const text = reason.value.trim();
      const needForce = NEEDS_FORCE.has(current.tech.state);
      if (!text) {
        fail('Isi alasan penggantian dulu.');
        reason.focus();
        return;
      }
      if (text.length > 500) {
        fail(REPLACE_ERRORS.validation_failed);
        return;
      }
      if (needForce && !force.checked) {
        fail(REPLACE_ERRORS.force_required);
        force.focus();
        return;
      }
      busy = true;
      confirm.disabled = true;
      confirm.textContent = 'Melepas teknisi…';
      msg.hidden = true;
      const { visit, tech } = current;
      const body = { tech_id: Number(tech.tech_id), reason: text };
      if (needForce) body.force = true;
      try {
        await post(`/tickets/${visit.ticket_id}/replace`, body);
        if (!alive) return;
        el.close();
        tech.state = 'replaced'; // the monitor.replaced message confirms it
        tech.replaced_reason = text;
        visit.urgent = true;
        ctx.toast(`${tech.name || 'Teknisi'} dilepas dari ${visit.code}. Job kembali ke papan sebagai MENDESAK.`, 'ok');
        mon.refetchSoon();
        draw();
      } catch (err) {
        if (!alive) return;
        if (err.status === 409 && /force/.test(err.code || '')) {
          forceBox.hidden = false;
          fail(REPLACE_ERRORS.force_required);
        } else fail(errorText(err, REPLACE_ERRORS));
        if (err.status === 409 && !/force/.test(err.code || '')) mon.fetch({ quiet: true });
      } finally {
        busy = false;
        confirm.disabled = false;
        confirm.textContent = 'Ya, cari pengganti';
      }
    }

    return {
      el,
      open(visit, tech) {
        current = { visit, tech };
        const name = tech.name || `Teknisi #${tech.tech_id}`;
        title.textContent = `Cari pengganti untuk ${name}?`;
        what.textContent = `${name} dilepas dari ${visit.code} dan tidak bisa mengambilnya lagi. Job kembali ke papan sebagai MENDESAK untuk teknisi lain.`;
        forceBox.hidden = !NEEDS_FORCE.has(tech.state);
        force.checked = false;
        reason.value = '';
        msg.hidden = true;
        el.showModal();
        reason.focus();
      },
    };
  }

  return () => {
    alive = false;
    clearInterval(ticker);
    for (const t of changed.values()) clearTimeout(t);
    document.removeEventListener('pointerdown', onGesture);
    unsub();
    unsubFeed();
    mon.stop();
    if (dialog.el.open) dialog.el.close();
  };
}
