// /#/profile, every role: who is logged in, and the Telegram link
// (docs/telegram.md "Account linking", docs/web.md "Profil").
//
// GET /api/v1/me says telegram.linked (true, false, or null when the server
// could not ask its database). "Hubungkan Telegram" asks
// POST /api/v1/me/telegram-link → 201 {code, url, expires_at}: the page
// shows the link "Buka di Telegram" (t.me/<bot>?start=<code>), the code as
// a "/start <code>" line for typing it by hand, and when it expires (15
// minutes). While a code is shown the page asks /me again every few
// seconds, so "Telegram: terhubung" appears as soon as the bot saw Start.
// Phones first: technicians link from the phone that has Telegram.

import { get, post, errorText } from '../api.js';
import { h, icon, replace } from '../dom.js';
import { jakartaTime, dayLabel, jakartaDate, roleLabel } from '../format.js';

export const layout = 'narrow';

const POLL_MS = 3000;

const WHY = {
  ts: 'Job baru masuk ke Telegram Anda, dan halaman job terbuka dari Telegram tanpa mengetik password.',
  sales: 'Invoice yang menunggu approval masuk ke Telegram Anda, dan bisa di-approve langsung dari sana.',
  cs: 'Akun Telegram Anda dikenali oleh bot GSS.',
  admin: 'Akun Telegram Anda dikenali oleh bot GSS (approval invoice juga bisa dari sana).',
};

const LINK_ERRORS = {
  telegram_off: 'Telegram belum diaktifkan di server ini (nama bot belum diatur). Hubungi admin.',
};

function expiryText(iso) {
  const d = dayLabel(iso);
  return d === 'Hari ini' ? jakartaTime(iso) : `${jakartaDate(iso)} ${jakartaTime(iso)}`;
}

export function mount(root, ctx) {
  let alive = true;
  let pollTimer = null;
  let expireTimer = null;
  let linked = null; // true | false | null (unknown)
  let code = null; // {code, url, expires_at} while one is shown
  const u = ctx.user;

  const tgBox = h('div', { class: 'tg-box', 'aria-live': 'polite' });

  root.append(
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Profil'),
      h('p', { class: 'muted' }, 'Akun Anda di GSS.'))),
    h('section', { class: 'card', 'aria-labelledby': 'profile-account' },
      h('h2', { class: 'panel-title', id: 'profile-account' }, 'Akun'),
      h('dl', { class: 'profile-facts' },
        h('dt', null, 'Nama'), h('dd', { dataset: { testid: 'profile-name' } }, u.name),
        h('dt', null, 'Username'), h('dd', { dataset: { testid: 'profile-username' } }, u.username || '-'),
        h('dt', null, 'Peran'), h('dd', { dataset: { testid: 'profile-role' } }, roleLabel(u.role)))),
    h('section', { class: 'card', 'aria-labelledby': 'profile-telegram' },
      h('h2', { class: 'panel-title', id: 'profile-telegram' }, 'Telegram'),
      tgBox));

  function stopTimers() {
    clearTimeout(pollTimer);
    clearTimeout(expireTimer);
  }

  function linkButton(label, cls = 'btn btn-primary btn-block') {
    const btn = h('button', { class: cls, type: 'button', on: { click: () => askCode(btn, label) } }, label);
    return btn;
  }

  function draw(note) {
    if (code) {
      drawCode(note);
      return;
    }
    if (linked === true) {
      replace(tgBox,
        h('p', { class: 'tg-state tg-state-on', dataset: { testid: 'telegram-state' } }, icon('check'), 'Telegram: terhubung'),
        h('p', { class: 'muted small' }, WHY[u.role] || WHY.cs),
        note ? h('p', { class: 'form-message form-message-ok' }, note) : null,
        h('details', { class: 'tg-relink' },
          h('summary', null, 'Pakai akun Telegram lain?'),
          h('p', { class: 'muted small' }, 'Minta kode baru dan buka dari akun Telegram yang lain: akun itu yang dipakai sesudahnya.'),
          linkButton('Hubungkan Telegram', 'btn btn-secondary')));
      return;
    }
    replace(tgBox,
      linked === false
        ? h('p', { class: 'tg-state', dataset: { testid: 'telegram-state' } }, 'Telegram: belum terhubung')
        : h('p', { class: 'tg-state', dataset: { testid: 'telegram-state' } }, 'Status Telegram belum dapat dibaca saat ini.'),
      h('p', { class: 'muted small' }, WHY[u.role] || WHY.cs),
      note ? h('p', { class: 'form-message form-message-error', role: 'alert' }, note) : null,
      linkButton('Hubungkan Telegram'));
  }

  function drawCode(note) {
    const cmd = `/start ${code.code}`;
    const copy = h('button', {
      class: 'btn btn-secondary btn-sm', type: 'button',
      on: {
        click: async () => {
          try {
            await navigator.clipboard.writeText(cmd);
            ctx.toast('Perintah disalin', 'ok');
          } catch {
            // No clipboard (an old phone, no permission): select it instead.
            const r = document.createRange();
            r.selectNodeContents(codeEl);
            const sel = window.getSelection();
            sel.removeAllRanges();
            sel.addRange(r);
          }
        },
      },
    }, 'Salin perintah');
    const codeEl = h('code', { class: 'tg-code', dataset: { testid: 'telegram-code' } }, cmd);
    replace(tgBox,
      h('p', { class: 'tg-state', dataset: { testid: 'telegram-state' } }, linked ? 'Telegram: terhubung (kode baru dibuat)' : 'Telegram: belum terhubung'),
      h('ol', { class: 'tg-steps' },
        h('li', null, 'Tekan ', h('strong', null, 'Buka di Telegram'), ' di ponsel yang memakai Telegram Anda.'),
        h('li', null, 'Di chat bot GSS, tekan ', h('strong', null, 'Mulai'), ' (Start).'),
        h('li', null, 'Kembali ke halaman ini: status berubah sendiri menjadi terhubung.')),
      h('a', { class: 'btn btn-primary btn-lg btn-block tg-open', href: code.url, target: '_blank', rel: 'noopener' },
        'Buka di Telegram'),
      h('p', { class: 'tg-expiry', dataset: { testid: 'telegram-expiry' } }, icon('clock'),
        `Kode berlaku sekali, sampai ${expiryText(code.expires_at)}.`),
      h('div', { class: 'tg-manual' },
        h('p', { class: 'muted small' }, 'Tidak terbuka? Kirim baris ini ke bot GSS di Telegram:'),
        codeEl, copy),
      note ? h('p', { class: 'form-message form-message-error', role: 'alert' }, note) : null);
  }

  async function readMe() {
    try {
      const me = await get('/me');
      const t = me && me.telegram;
      return t && typeof t.linked === 'boolean' ? t.linked : null;
    } catch {
      return undefined; // offline: keep what is shown
    }
  }

  // For a first link, /me turning linked is the answer. A relink (linked
  // before) cannot be seen there: the code then simply stays until it
  // expires.
  function pollLinked() {
    clearTimeout(pollTimer);
    if (!code || code.relink) return;
    pollTimer = setTimeout(async () => {
      if (!alive || !code) return;
      const now = await readMe();
      if (!alive || !code) return;
      if (now === true) {
        linked = true;
        code = null;
        stopTimers();
        draw('Akun Telegram terhubung.');
        return;
      }
      pollLinked();
    }, POLL_MS);
  }

  async function askCode(btn, label) {
    btn.disabled = true;
    btn.textContent = 'Meminta kode…';
    let r;
    try {
      r = await post('/me/telegram-link', {});
    } catch (err) {
      if (!alive) return;
      btn.disabled = false;
      btn.textContent = label;
      draw(errorText(err, LINK_ERRORS));
      return;
    }
    if (!alive) return;
    code = { code: r.code, url: r.url, expires_at: r.expires_at, relink: linked === true };
    draw();
    const link = tgBox.querySelector('.tg-open');
    if (link) link.focus();
    stopTimers();
    const left = Date.parse(r.expires_at) - Date.now();
    expireTimer = setTimeout(() => {
      if (!alive) return;
      code = null;
      clearTimeout(pollTimer);
      draw(linked === true ? null : 'Kode sudah kedaluwarsa. Minta kode baru.');
    }, Math.max(1000, Number.isFinite(left) ? left : 15 * 60000));
    pollLinked();
  }

  replace(tgBox, h('div', { class: 'state state-loading state-inline', role: 'status' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat status Telegram…'));
  readMe().then((v) => {
    if (!alive) return;
    linked = v === undefined ? null : v;
    draw();
  });

  return () => {
    alive = false;
    stopTimers();
  };
}
