// The job page of a technician who holds a slot (/#/jobs/{id}): everything
// done on site, phone first, one hand, outdoors (docs/fieldwork.md).
//
//   contact    Telepon (tel:+62…), WhatsApp (wa.me/62…), Peta
//   1 Surat Tugas   a plain download link (the session cookie goes with it)
//   2 Check-in      browser GPS → POST …/checkin → the server's verdict
//   3 BAST & foto   camera → POST …/attachments?kind=bast|photo, with progress
//   4 Check-out     as check-in
//   5 Selesai       POST …/complete once checked out and a BAST is on the ticket
//
// Check-ins, check-outs and uploads go through the outbox (../outbox.js):
// stored on the phone first, sent at once when there is signal, else later
// by themselves, each with its own Idempotency-Key. "Selesai" needs the
// server's word and is never queued.

import { get, post, errorText } from '../api.js';
import { h, icon, replace } from '../dom.js';
import {
  jakartaDateTime, jakartaTime, dayLabel, phoneDisplay, phoneIntl, accuracyText, bytesText, attachmentLabel,
} from '../format.js';
import * as outbox from '../outbox.js';
import { sniffType } from '../upload.js';
import { ticketStatusBadge } from './myjobs.js';
import { stateBadge, verdictBlock, attachmentGrid, fixTimes, myAssignment, myState } from './fieldparts.js';

const GEO_OPTIONS = { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 };
const TYPES = ['image/jpeg', 'image/png', 'application/pdf'];
const MAX = { photo: 10 * 1024 * 1024, bast: 20 * 1024 * 1024 }; // GSS_UPLOAD_*_MAX defaults
const INACTIVE_TICKET = new Set(['work_done', 'invoicing', 'awaiting_payment', 'paid', 'closed', 'cancelled']);
const CHECKED_IN = new Set(['checked_in', 'checked_out', 'done']);
const CHECKED_OUT = new Set(['checked_out', 'done']);

const COMPLETE_ERRORS = {
  bast_missing: 'BAST belum ada di server. Upload foto BAST dulu.',
  not_checked_out: 'Anda belum check-out.',
  invalid_transition: 'Slot Anda di job ini sudah tidak aktif.',
  ticket_not_active: 'Job ini sudah tidak aktif.',
};

function mapsUrl(t) {
  if (typeof t.lat === 'number' && typeof t.lng === 'number') {
    return `https://www.google.com/maps/search/?api=1&query=${t.lat},${t.lng}`;
  }
  const q = [t.address, t.area].filter(Boolean).join(', ');
  return q ? `https://www.google.com/maps/search/?api=1&query=${encodeURIComponent(q)}` : null;
}

function geoErrorText(err) {
  if (!err || err.code === 'unsupported') return 'Ponsel/browser ini tidak bisa membaca lokasi GPS.';
  if (err.code === 1) return 'Izin lokasi ditolak. Izinkan akses lokasi untuk situs ini di pengaturan browser, lalu coba lagi.';
  if (err.code === 3) return 'GPS belum mendapat lokasi dalam 20 detik. Pindah ke tempat terbuka lalu coba lagi.';
  return 'Lokasi tidak tersedia. Nyalakan GPS/Lokasi di ponsel lalu coba lagi.';
}

function currentFix() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject({ code: 'unsupported' });
      return;
    }
    navigator.geolocation.getCurrentPosition(resolve, reject, GEO_OPTIONS);
  });
}

// The time of the fix as ISO UTC without milliseconds ("2026-12-02T02:01:00Z").
function isoSeconds(ms) {
  const d = new Date(Number.isFinite(ms) ? ms : Date.now());
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * mountFieldwork(container, ticket, ctx) → cleanup. Draws the job page and
 * keeps it current (outbox events, reloads after each action).
 */
export function mountFieldwork(container, ticket, ctx) {
  const id = ticket.id;
  const uid = ctx.user.id;
  let t = ticket;
  let alive = true;
  let reloadTimer = null;
  // What this page did and heard, per action (not stored: the server's
  // ticket is the record).
  const ui = {
    checkin: { phase: 'idle', fix: null, answer: null, error: '' },
    checkout: { phase: 'idle', fix: null, answer: null, error: '' },
    upload: { message: '', kind: 'info' },
    complete: { busy: false, error: '' },
  };
  const previews = new Map(); // outbox id → blob: URL of a waiting image
  const bars = new Map(); // outbox id → <progress> on screen

  const head = h('div');
  const steps = h('div', { class: 'steps-wrap' });
  const details = h('div');
  container.append(h('div', { class: 'detail detail-field' }, head, steps, details));

  async function reload() {
    clearTimeout(reloadTimer);
    try {
      const fresh = await get(`/tickets/${id}`);
      if (!alive) return;
      t = fresh;
      drawHead();
      drawSteps();
      drawDetails();
    } catch (err) {
      if (!alive) return;
      if (err.status === 404) {
        ui.upload = { message: 'Job ini sudah tidak ada di daftar Anda.', kind: 'error' };
        drawSteps();
      }
      // Otherwise keep what is on screen; the next action reloads again.
    }
  }
  const reloadSoon = (ms = 300) => {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(reload, ms);
  };

  // ---- header: what, when, where, who to call ----
  function drawHead() {
    ctx.setTitle(t.code);
    const phone = phoneIntl(t.customer_phone);
    const maps = mapsUrl(t);
    const when = dayLabel(t.scheduled_at);
    const state = myState(t, uid);
    replace(head,
      h('div', { class: 'detail-head' },
        h('div', { class: 'job-top' },
          t.urgent ? h('span', { class: 'badge badge-urgent' }, icon('alert', 'icon icon-sm'), 'MENDESAK') : null,
          h('span', { class: 'job-code' }, t.code),
          ticketStatusBadge(t.status),
          state === 'cancelled' && t.status === 'cancelled' ? null : stateBadge(state)),
        h('h1', { class: 'detail-title' }, t.problem),
        h('p', { class: 'big-time' }, jakartaDateTime(t.scheduled_at), when ? h('span', { class: 'chip chip-when' }, when) : null)),
      h('section', { class: 'panel panel-contact', 'aria-labelledby': 'fw-cust' },
        h('h2', { class: 'panel-title', id: 'fw-cust' }, 'Pelanggan'),
        h('p', { class: 'cust-name' }, t.customer_name || '-'),
        h('p', { class: 'cust-addr' }, [t.address, t.area].filter(Boolean).join(' · ') || '-'),
        phone ? h('p', { class: 'muted small' }, phoneDisplay(phone)) : null,
        h('div', { class: 'contact-row' },
          phone
            ? h('a', { class: 'btn btn-contact', href: `tel:+${phone}`, dataset: { testid: 'tel' } }, icon('phone'), 'Telepon')
            : h('span', { class: 'btn btn-contact is-off', 'aria-disabled': 'true' }, icon('phone'), 'Telepon'),
          phone
            ? h('a', { class: 'btn btn-contact btn-wa', href: `https://wa.me/${phone}`, target: '_blank', rel: 'noopener noreferrer', dataset: { testid: 'wa' } }, icon('chat'), 'WhatsApp')
            : null,
          maps
            ? h('a', { class: 'btn btn-contact', href: maps, target: '_blank', rel: 'noopener noreferrer', dataset: { testid: 'map' } }, icon('map'), 'Peta')
            : null)));
  }

  // ---- steps ----
  const queued = (kind, attachKind) => outbox.pending(id).filter((i) => i.kind === kind && (!attachKind || i.attach_kind === attachKind));

  function latestCheckin(kind) {
    const mine = (Array.isArray(t.checkins) ? t.checkins : [])
      .filter((c) => Number(c.tech_id) === Number(uid) && c.kind === kind);
    return mine.length ? mine[mine.length - 1] : null;
  }

  function step(n, title, done, ...body) {
    return h('li', { class: `step${done ? ' is-done' : ''}`, dataset: { step: n } },
      h('div', { class: 'step-head' },
        h('span', { class: 'step-num', 'aria-hidden': 'true' }, done ? icon('check', 'icon icon-sm') : String(n)),
        h('h3', { class: 'step-title' }, title, done ? h('span', { class: 'sr-only' }, ' (selesai)') : null)),
      h('div', { class: 'step-body' }, ...body));
  }

  function waitingNote(item, what) {
    const fix = item.body || {};
    const when = fix.fix_at ? jakartaTime(fix.fix_at) : jakartaTime(item.created_at);
    return h('div', { class: 'waiting', role: 'status', dataset: { testid: `waiting-${item.kind}` } },
      icon('cloudOff'),
      h('div', null,
        h('p', { class: 'strong' }, outbox.sending(item.id) ? `Mengirim ${what}…`
          : navigator.onLine ? `${what} belum terkirim` : `${what} menunggu sinyal`),
        h('p', { class: 'small' }, `Lokasi tersimpan di ponsel (${when}${fix.accuracy_m ? `, akurasi ${accuracyText(fix.accuracy_m)}` : ''}). Terkirim otomatis saat ada sinyal.`),
        item.last_error ? h('p', { class: 'small' }, `Terakhir: ${item.last_error}`) : null,
        outbox.sending(item.id) || !navigator.onLine ? null : h('button', { class: 'btn btn-secondary btn-sm', type: 'button', dataset: { key: `retry-${item.id}` }, on: { click: () => outbox.flush(true) } },
          icon('refresh'), 'Kirim sekarang')));
  }

  // One GPS step (check-in or check-out).
  function fixStep(n, kind, { enabled, blockedWhy, done }) {
    const u = ui[kind];
    const what = kind === 'checkin' ? 'Check-in' : 'Check-out';
    const server = latestCheckin(kind === 'checkin' ? 'in' : 'out');
    const wait = queued(kind)[0];
    const body = [];
    if (done) {
      const c = u.answer || server;
      body.push(h('p', { class: 'step-ok' }, `${what} tercatat${c ? ` ${fixTimes(c)}` : ''}`));
      if (c) body.push(verdictBlock(c));
    } else if (wait && u.phase !== 'sending') {
      body.push(waitingNote(wait, what));
    } else {
      const busy = u.phase === 'locating' || u.phase === 'sending';
      const label = u.phase === 'locating' ? 'Mencari lokasi GPS…' : u.phase === 'sending' ? 'Mengirim…' : `${what} di lokasi`;
      body.push(h('button', {
        class: `btn ${kind === 'checkin' ? 'btn-primary' : 'btn-dark'} btn-lg btn-block`, type: 'button',
        disabled: !enabled || busy, dataset: { key: kind, testid: kind },
        'aria-describedby': !enabled && blockedWhy ? `fw-${kind}-why` : null,
        on: { click: () => takeFix(kind) },
      }, busy ? h('span', { class: 'spinner spinner-light', 'aria-hidden': 'true' }) : icon('gps'), label));
      if (!enabled && blockedWhy) body.push(h('p', { class: 'hint', id: `fw-${kind}-why` }, blockedWhy));
      if (u.fix && busy) body.push(h('p', { class: 'fix-line', role: 'status' }, `Lokasi didapat, akurasi ${accuracyText(u.fix.accuracy_m)}`));
      if (u.phase === 'locating') body.push(h('p', { class: 'hint' }, 'Berdiri di tempat terbuka agar GPS cepat dapat lokasi.'));
      if (u.error) body.push(h('p', { class: 'step-error', role: 'alert' }, u.error));
    }
    return step(n, what, done, ...body);
  }

  function uploadRow(item) {
    const p = outbox.progress(item.id);
    const isImg = /^image\//.test(item.type || '');
    if (isImg && !previews.has(item.id) && item.blob) previews.set(item.id, URL.createObjectURL(item.blob));
    const bar = h('progress', { class: 'bar', max: '100', value: p && p.total ? String(Math.round((p.loaded / p.total) * 100)) : '0',
      'aria-label': `Unggah ${attachmentLabel(item.attach_kind)}` });
    bars.set(item.id, bar);
    const sendingNow = outbox.sending(item.id);
    return h('li', { class: 'upload-row', dataset: { outboxId: item.id, testid: 'upload-pending' } },
      isImg && previews.get(item.id)
        ? h('img', { class: 'upload-thumb', src: previews.get(item.id), alt: '' })
        : h('span', { class: 'upload-thumb upload-thumb-pdf', 'aria-hidden': 'true' }, icon('file')),
      h('div', { class: 'upload-main' },
        h('p', { class: 'upload-name' }, h('span', { class: 'strong' }, attachmentLabel(item.attach_kind)), ` · ${item.name || 'file'} · ${bytesText(item.size)}`),
        sendingNow ? bar : null,
        h('p', { class: 'small upload-status' }, sendingNow ? 'Mengunggah…'
          : navigator.onLine ? `Gagal terkirim${item.last_error ? `: ${item.last_error}` : ''}. Dicoba lagi otomatis.`
            : 'Menunggu sinyal. Tersimpan di ponsel.'),
        sendingNow ? null : h('div', { class: 'upload-actions' },
          navigator.onLine ? h('button', { class: 'btn btn-secondary btn-sm', type: 'button', dataset: { key: `retry-${item.id}` }, on: { click: () => outbox.flush(true) } },
            icon('refresh'), 'Coba lagi') : null,
          h('button', { class: 'btn btn-ghost btn-sm', type: 'button', on: { click: () => discardUpload(item) } }, 'Hapus'))));
  }

  function fileButton(label, iconName, attachKind, { capture, accept, multiple, cls }) {
    const input = h('input', {
      class: 'sr-only', type: 'file', accept, capture: capture || null, multiple: multiple || null,
      dataset: { testid: `file-${attachKind}${capture ? '' : '-pick'}` },
      on: { change: (ev) => onFiles(ev.target, attachKind) },
    });
    return h('label', { class: `btn ${cls} btn-file` }, input, icon(iconName), label);
  }

  function drawSteps() {
    const active = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
    bars.clear();
    const state = myState(t, uid);
    const ticketOff = INACTIVE_TICKET.has(t.status);
    const slotOff = state === 'replaced' || state === 'cancelled';
    const finished = state === 'done';
    const readOnly = ticketOff || slotOff || finished;
    const inQ = queued('checkin').length > 0;
    const outQ = queued('checkout').length > 0;
    const checkedIn = CHECKED_IN.has(state);
    const checkedOut = CHECKED_OUT.has(state);
    const attachments = Array.isArray(t.attachments) ? t.attachments : [];
    const hasBast = attachments.some((a) => a.kind === 'bast');
    const bastQ = queued('upload', 'bast').length > 0;
    const waitingUploads = queued('upload');

    const notices = [];
    if (finished) notices.push(h('div', { class: 'banner banner-ok', role: 'status' }, 'Pekerjaan Anda di job ini sudah selesai. Terima kasih!'));
    else if (t.status === 'cancelled') notices.push(h('div', { class: 'banner banner-error', role: 'status' }, 'Job ini dibatalkan oleh CS. Tidak perlu datang.'));
    else if (slotOff) notices.push(h('div', { class: 'banner banner-error', role: 'status' }, 'Slot Anda di job ini sudah dilepas/digantikan.'));
    else if (ticketOff) notices.push(h('div', { class: 'banner banner-ok', role: 'status' }, 'Pekerjaan job ini sudah selesai.'));

    // 5: what is still missing for "Selesai".
    const missing = [];
    if (!checkedOut) {
      if (outQ) missing.push('Check-out masih menunggu sinyal.');
      else if (!checkedIn && !inQ) missing.push('Check-in dan check-out dulu.');
      else missing.push('Check-out dulu.');
    }
    if (!hasBast) missing.push(bastQ ? 'BAST masih menunggu sinyal.' : 'Upload foto BAST yang sudah ditandatangani pelanggan.');
    const canComplete = !readOnly && missing.length === 0 && !ui.complete.busy;

    const list = h('ol', { class: 'steps' },
      step(1, 'Surat Tugas', false,
        h('a', { class: 'btn btn-secondary btn-lg btn-block', href: `/api/v1/tickets/${id}/letter.pdf`, download: `surat-tugas-${t.code}.pdf`, dataset: { testid: 'letter' } },
          icon('download'), 'Unduh Surat Tugas'),
        h('p', { class: 'hint' }, 'Tunjukkan ke pelanggan. QR di surat untuk cek keaslian.')),
      fixStep(2, 'checkin', {
        enabled: !readOnly && !checkedIn,
        blockedWhy: readOnly ? 'Job ini sudah tidak aktif.' : '',
        done: checkedIn,
      }),
      step(3, 'BAST & foto', hasBast,
        readOnly ? null : h('div', { class: 'file-grid' },
          fileButton('Foto BAST', 'camera', 'bast', { capture: 'environment', accept: 'image/*,application/pdf', cls: 'btn-primary btn-lg' }),
          fileButton('Foto pekerjaan', 'camera', 'photo', { capture: 'environment', accept: 'image/*', cls: 'btn-secondary btn-lg' }),
          fileButton('BAST dari file', 'file', 'bast', { accept: 'image/jpeg,image/png,application/pdf', cls: 'btn-ghost' }),
          fileButton('Foto dari galeri', 'file', 'photo', { accept: 'image/jpeg,image/png', multiple: true, cls: 'btn-ghost' })),
        ui.upload.message ? h('p', { class: `step-msg step-msg-${ui.upload.kind}`, role: ui.upload.kind === 'error' ? 'alert' : 'status' }, ui.upload.message) : null,
        waitingUploads.length ? h('ul', { class: 'uploads', 'aria-label': 'Menunggu diunggah' }, waitingUploads.map(uploadRow)) : null,
        attachments.length
          ? h('div', { class: 'attached' }, h('p', { class: 'small strong' }, `Terunggah (${attachments.length})`), attachmentGrid(attachments))
          : h('p', { class: 'hint' }, 'Belum ada lampiran. BAST wajib sebelum "Selesai".')),
      fixStep(4, 'checkout', {
        enabled: !readOnly && !checkedOut && (checkedIn || inQ),
        blockedWhy: readOnly ? 'Job ini sudah tidak aktif.' : (!checkedIn && !inQ ? 'Check-in dulu sebelum check-out.' : ''),
        done: checkedOut,
      }),
      step(5, 'Selesai', finished,
        finished ? h('p', { class: 'step-ok' }, 'Anda sudah menekan "Selesai".')
          : h('button', {
            class: 'btn btn-success-solid btn-lg btn-block', type: 'button', disabled: !canComplete,
            'aria-describedby': missing.length ? 'fw-complete-why' : null, dataset: { key: 'complete', testid: 'complete' },
            on: { click: complete },
          }, ui.complete.busy ? 'Menyimpan…' : 'Selesai'),
        !finished && missing.length && !readOnly
          ? h('div', { class: 'hint', id: 'fw-complete-why' }, h('p', null, 'Belum bisa "Selesai":'), h('ul', { class: 'missing' }, missing.map((m) => h('li', null, m))))
          : null,
        ui.complete.error ? h('p', { class: 'step-error', role: 'alert' }, ui.complete.error) : null));

    replace(steps, notices, h('section', { class: 'panel panel-steps', 'aria-labelledby': 'fw-steps' },
      h('h2', { class: 'panel-title', id: 'fw-steps' }, 'Langkah kerja'), list));
    if (active) {
      const again = steps.querySelector(`[data-key="${CSS.escape(active)}"]`);
      if (again && !again.disabled) again.focus();
    }
  }

  function drawDetails() {
    const techs = Array.isArray(t.technicians) ? t.technicians : [];
    replace(details,
      h('section', { class: 'panel', 'aria-labelledby': 'fw-team' },
        h('h2', { class: 'panel-title', id: 'fw-team' }, `Tim (${techs.length}/${t.techs_needed})`),
        h('ul', { class: 'tech-list' }, techs.map((x) => h('li', { class: 'tech tech-on' },
          h('span', { class: 'tech-slot' }, `Slot ${x.slot}`),
          h('span', { class: 'tech-name' }, x.name, Number(x.tech_id) === Number(uid) ? ' (Anda)' : ''),
          stateBadge(x.state))))));
  }

  // ---- actions ----
  async function takeFix(kind) {
    const u = ui[kind];
    if (u.phase === 'locating' || u.phase === 'sending') return;
    u.phase = 'locating';
    u.error = '';
    u.fix = null;
    u.answer = null;
    drawSteps();
    let pos;
    try {
      pos = await currentFix();
    } catch (err) {
      if (!alive) return;
      u.phase = 'idle';
      u.error = geoErrorText(err);
      drawSteps();
      return;
    }
    if (!alive) return;
    const c = pos.coords;
    u.fix = {
      lat: c.latitude,
      lng: c.longitude,
      // The server keeps accuracy > 0; a phone that claims 0 m still gets
      // flagged as suspicious (≤ 1 m) instead of refused.
      accuracy_m: Math.max(0.1, Math.round(c.accuracy * 10) / 10),
      fix_at: isoSeconds(pos.timestamp),
    };
    u.phase = 'sending';
    drawSteps();
    const r = await outbox.submit({ ticket_id: id, kind, body: u.fix });
    if (!alive) return;
    settle(kind, r);
  }

  function settle(kind, r) {
    const u = ui[kind];
    if (r.status === 'sent') {
      u.phase = 'done';
      u.answer = { ...(r.result || {}), kind: kind === 'checkin' ? 'in' : 'out', fix_at: (r.result && r.result.fix_at) || (r.item.body && r.item.body.fix_at) };
      applyAnswer(kind, r.result);
      ctx.toast(`${kind === 'checkin' ? 'Check-in' : 'Check-out'} tercatat`, 'ok');
      reload();
    } else if (r.status === 'failed') {
      u.phase = 'idle';
      u.error = outbox.outboxErrorText(r.error);
      reload();
    } else {
      u.phase = 'queued';
    }
    drawSteps();
  }

  // Show the new state at once, before the reload answers.
  function applyAnswer(kind, res) {
    if (!res) return;
    const me = myAssignment(t, uid);
    if (me && res.state) me.state = res.state;
    if (res.ticket_status) t.status = res.ticket_status;
    if (!me || !me.state) {
      t.checkins = [...(Array.isArray(t.checkins) ? t.checkins : []), { ...res, tech_id: uid, kind: kind === 'checkin' ? 'in' : 'out' }];
    }
    drawHead();
  }

  async function onFiles(input, attachKind) {
    const files = [...(input.files || [])];
    input.value = ''; // the same photo can be chosen again
    for (const file of files) await queueFile(file, attachKind);
  }

  async function queueFile(file, attachKind) {
    let type = file.type || '';
    if (!type || type === 'application/octet-stream') type = await sniffType(file);
    if (/heic|heif/i.test(type) || /\.hei[cf]$/i.test(file.name || '')) {
      ui.upload = { message: 'Foto HEIC tidak didukung. Ubah format kamera ke JPEG ("Paling Kompatibel") lalu foto lagi.', kind: 'error' };
      drawSteps();
      return;
    }
    if (!TYPES.includes(type) || (attachKind === 'photo' && type === 'application/pdf')) {
      ui.upload = { message: attachKind === 'bast' ? 'BAST harus berupa foto (JPEG/PNG) atau PDF.' : 'Foto harus JPEG atau PNG.', kind: 'error' };
      drawSteps();
      return;
    }
    if (file.size > MAX[attachKind]) {
      ui.upload = { message: `File terlalu besar (${bytesText(file.size)}). Maksimal ${bytesText(MAX[attachKind])}.`, kind: 'error' };
      drawSteps();
      return;
    }
    if (file.size === 0) {
      ui.upload = { message: 'File kosong. Ambil foto lagi.', kind: 'error' };
      drawSteps();
      return;
    }
    ui.upload = { message: '', kind: 'info' };
    const r = await outbox.submit({ ticket_id: id, kind: 'upload', blob: file, attach_kind: attachKind, name: file.name || '', type });
    if (!alive) return;
    uploadSettled(r);
  }

  function uploadSettled(r) {
    const what = attachmentLabel(r.item.attach_kind);
    if (r.status === 'sent') {
      ui.upload = { message: `${what} terunggah.`, kind: 'ok' };
      ctx.toast(`${what} terunggah`, 'ok');
      reload();
    } else if (r.status === 'failed') {
      ui.upload = { message: `${what} ditolak server: ${outbox.outboxErrorText(r.error)}`, kind: 'error' };
    } else {
      ui.upload = { message: `${what} tersimpan di ponsel dan akan diunggah saat ada sinyal.`, kind: 'info' };
    }
    drawSteps();
  }

  async function discardUpload(item) {
    await outbox.discard(item.id);
    dropPreview(item.id);
  }

  function dropPreview(oid) {
    const u = previews.get(oid);
    if (u) URL.revokeObjectURL(u);
    previews.delete(oid);
  }

  async function complete() {
    if (ui.complete.busy) return;
    ui.complete = { busy: true, error: '' };
    drawSteps();
    try {
      const r = await post(`/tickets/${id}/complete`, {});
      if (!alive) return;
      const me = myAssignment(t, uid);
      if (me) me.state = (r && r.state) || 'done';
      if (r && r.ticket_status) t.status = r.ticket_status;
      ui.complete = { busy: false, error: '' };
      ctx.toast('Pekerjaan selesai. Terima kasih!', 'ok');
      drawHead();
      drawSteps();
      reload();
    } catch (err) {
      if (!alive) return;
      ui.complete = {
        busy: false,
        error: err.status === 0 ? 'Tidak ada sinyal. "Selesai" perlu koneksi: coba lagi saat ada sinyal.' : errorText(err, COMPLETE_ERRORS),
      };
      drawSteps();
      if (err.status === 409) reload();
    }
  }

  // ---- the outbox tells us what happened to items sent later ----
  const unsubscribe = outbox.subscribe((ev) => {
    if (!alive) return;
    if (ev.type === 'progress') {
      const bar = bars.get(ev.id);
      if (bar && ev.total) bar.value = Math.round((ev.loaded / ev.total) * 100);
      return;
    }
    if (ev.type === 'change') {
      for (const oid of [...previews.keys()]) if (!outbox.pending(id).some((i) => i.id === oid)) dropPreview(oid);
      drawSteps();
      return;
    }
    if (!ev.item || ev.item.ticket_id !== id) return;
    if (ev.type === 'sent' || ev.type === 'failed') {
      const k = ev.item.kind;
      // A result for an action this page is waiting on (submit) is shown by
      // settle(); one that was queued earlier is shown here.
      if (k === 'upload') {
        if (ev.type === 'sent') reloadSoon();
        else ui.upload = { message: `${attachmentLabel(ev.item.attach_kind)} ditolak server: ${ev.text}`, kind: 'error' };
      } else if (ui[k].phase !== 'sending') {
        settle(k, { status: ev.type, result: ev.result, error: ev.error, item: ev.item });
      }
    }
  });

  // The board says this job changed (someone claimed the last slot).
  const unsubFeed = ctx.feed.subscribe((c) => {
    if (c.type === 'job' && c.job.id === id && c.event !== 'removed') reloadSoon(700);
  });

  drawHead();
  drawSteps();
  drawDetails();
  reload(); // the list's copy of the ticket lacks check-ins and attachments

  return () => {
    alive = false;
    clearTimeout(reloadTimer);
    unsubscribe();
    unsubFeed();
    for (const oid of [...previews.keys()]) dropPreview(oid);
  };
}
