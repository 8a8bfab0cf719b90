// /#/akun for admin: the accounts (src/http/handlers/users.c).
//
//   GET   /api/v1/users            {"users":[{id, username, name, role, phone, active, telegram_linked, created_at}]}
//   POST  /api/v1/users            {username, name, role, password, phone?} → 201 the user
//   PATCH /api/v1/users/{id}       any of {name, role, phone, active, password} → 200 the user
//
// Errors shown as the server gives them, in Indonesian: 409 username_taken,
// 409 cannot_change_self (an admin cannot deactivate themselves or drop their
// own admin role), 422 validation_failed "field: rule" (the field is marked
// and focused), 503 "saved but the sessions could not be ended" (send again).
//
// A new role, a deactivation and a new password end every session of that
// account on the server before the 200: the dialogs say so before the admin
// confirms. Deactivating asks first; activating does not (it is harmless).

import { api, get, post, errorText } from '../api.js';
import { h, icon, replace } from '../dom.js';
import { jakartaDate, roleLabel, phoneDisplay } from '../format.js';

export const layout = 'wide';

const ROLES = ['ts', 'cs', 'sales', 'admin'];
const FILTERS = [['', 'Semua'], ['ts', 'Teknisi'], ['cs', 'CS'], ['sales', 'Sales'], ['admin', 'Admin'], ['inactive', 'Nonaktif']];

// The server's rules (users.c, auth_username_valid, password_policy_check).
const USERNAME_RE = /^[a-z0-9_.-]{3,32}$/;
const PHONE_RE = /^62\d{7,13}$/;
const FIELD_TEXT = {
  username: 'Username: 3–32 karakter, hanya huruf kecil a–z, angka 0–9, dan _ . -',
  name: 'Nama: 1–100 karakter.',
  role: 'Pilih peran: Teknisi, CS, Sales, atau Admin.',
  phone: 'No. HP: diawali 62 lalu 7–13 angka, contoh 6281234567890.',
  password: 'Kata sandi: 8 sampai 128 karakter.',
  active: 'Status aktif tidak valid.',
};

/** usersErrorText(err) → {text, field}: what to show for a refused call,
 *  and which field (if any) the server named. */
export function usersErrorText(err) {
  if (err && err.code === 'username_taken') return { text: 'Username sudah dipakai akun lain. Pilih username lain.', field: 'username' };
  if (err && err.code === 'cannot_change_self') {
    return { text: 'Anda tidak bisa menonaktifkan akun sendiri atau melepas peran Admin Anda sendiri.', field: null };
  }
  if (err && err.status === 422) {
    const m = /^([a-z_]+):/.exec(err.message || '');
    const field = m ? m[1] : null;
    if (field && FIELD_TEXT[field]) return { text: FIELD_TEXT[field], field };
    if (/nothing to change/.test(err.message || '')) return { text: 'Tidak ada yang diubah.', field: null };
    return { text: `Ditolak server: ${err.message}`, field };
  }
  if (err && err.status === 404) return { text: 'Akun ini tidak ditemukan lagi. Muat ulang daftar akun.', field: null };
  if (err && err.status === 503 && /saved/.test(err.message || '')) {
    return { text: 'Perubahan tersimpan, tetapi sesi akun ini belum bisa diakhiri. Tekan Simpan sekali lagi.', field: null };
  }
  return { text: errorText(err), field: null };
}

const byteLength = (s) => new TextEncoder().encode(s).length;

/** A password an admin can read out or type: 12 characters without the
 *  ones that look alike (0/O, 1/l/I). */
function randomPassword() {
  const chars = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const out = [];
  const buf = new Uint32Array(12);
  crypto.getRandomValues(buf);
  for (const v of buf) out.push(chars[v % chars.length]);
  return out.join('');
}

/** passwordField(id, label) → {el, input}: a password input with "Tampilkan"
 *  and "Buat acak" (which shows what it made, so the admin can pass it on). */
function passwordField(id, label) {
  const input = h('input', { id, type: 'password', autocomplete: 'new-password', minlength: '8', maxlength: '128', spellcheck: 'false', 'aria-describedby': `${id}-hint` });
  const show = h('button', { class: 'btn btn-ghost btn-sm', type: 'button', 'aria-pressed': 'false', 'aria-controls': id });
  const setShown = (on) => {
    input.type = on ? 'text' : 'password';
    show.textContent = on ? 'Sembunyikan' : 'Tampilkan';
    show.setAttribute('aria-pressed', on ? 'true' : 'false');
  };
  show.addEventListener('click', () => setShown(input.type === 'password'));
  setShown(false);
  const gen = h('button', {
    class: 'btn btn-secondary btn-sm', type: 'button',
    on: { click: () => { input.value = randomPassword(); setShown(true); input.dispatchEvent(new Event('input')); input.focus(); input.select(); } },
  }, 'Buat acak');
  const el = h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('div', { class: 'acc-pw' }, input, show, gen),
    h('p', { class: 'hint', id: `${id}-hint` }, 'Minimal 8 karakter. Sampaikan langsung kepada pemilik akun.'));
  return { el, input, reset: () => { input.value = ''; setShown(false); } };
}

/** A modal dialog with a form: title, content, message line, Batal and a
 *  confirm button. open({title, confirm}) shows it; onSubmit returns an
 *  error {text, field} or null (closes). */
function formDialog(idBase, { content, confirmLabel, danger = false, onSubmit, onClose }) {
  const title = h('h2', { id: `${idBase}-title`, class: 'dialog-title' });
  const lead = h('p', { class: 'muted acc-lead' });
  const msg = h('p', { class: 'form-message form-message-error', role: 'alert', hidden: true });
  const confirm = h('button', { class: danger ? 'btn btn-danger' : 'btn btn-primary', type: 'submit' }, confirmLabel);
  const cancel = h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => el.close() } }, 'Batal');
  let busy = false;
  let label = confirmLabel;
  const form = h('form', { class: 'dialog-form', novalidate: true, on: { submit: submit } },
    title, lead, content, msg, h('div', { class: 'form-actions' }, cancel, confirm));
  const el = h('dialog', { class: 'dialog acc-dialog', 'aria-labelledby': `${idBase}-title` }, form);
  el.addEventListener('close', () => {
    if (onClose) onClose();
  });
  el.addEventListener('cancel', (ev) => {
    if (busy) ev.preventDefault(); // Esc while saving: let the answer land first
  });

  function showError(e) {
    msg.hidden = !e;
    msg.textContent = e ? e.text : '';
    for (const f of form.querySelectorAll('[aria-invalid]')) f.removeAttribute('aria-invalid');
    if (e && e.field) {
      const input = form.querySelector(`[data-field="${e.field}"]`);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
    }
  }

  async function submit(ev) {
    ev.preventDefault();
    if (busy) return;
    busy = true;
    confirm.disabled = true;
    confirm.textContent = 'Menyimpan…';
    let e = null;
    try {
      e = await onSubmit();
    } catch (err) {
      e = usersErrorText(err);
    }
    busy = false;
    confirm.disabled = false;
    confirm.textContent = label;
    if (e) showError(e);
    else el.close();
  }

  return {
    el,
    showError,
    open({ heading, text, confirm: c, focus }) {
      title.textContent = heading;
      lead.textContent = text || '';
      lead.hidden = !text;
      label = c || confirmLabel;
      confirm.textContent = label;
      showError(null);
      el.showModal();
      if (focus) focus.focus();
      else confirm.focus();
    },
    close: () => el.open && el.close(),
    isOpen: () => el.open,
  };
}

export function mount(root, ctx) {
  const me = ctx.user;
  let alive = true;
  let users = null;
  let filter = '';
  let seq = 0;

  const banner = h('div', { class: 'form-message form-message-error', role: 'alert', hidden: true });
  const chips = h('div', { class: 'chips', role: 'group', 'aria-label': 'Saring akun' });
  const search = h('input', { id: 'acc-search', type: 'search', autocomplete: 'off', placeholder: 'Nama atau username', on: { input: () => draw() } });
  const body = h('div', { class: 'acc-body' });
  const addBtn = h('button', { class: 'btn btn-primary', type: 'button', on: { click: () => openCreate() } },
    h('span', { 'aria-hidden': 'true' }, '+'), 'Tambah Akun');

  const drawChips = () => replace(chips, FILTERS.map(([v, label]) => {
    const n = users ? users.filter((u) => passes(u, v)).length : null;
    return h('button', {
      class: v === filter ? 'chip-btn active' : 'chip-btn', type: 'button', 'aria-pressed': v === filter ? 'true' : 'false',
      on: { click: () => { filter = v; drawChips(); draw(); } },
    }, label, n !== null ? h('span', { class: 'acc-chip-n' }, ` ${n}`) : null);
  }));

  function passes(u, f) {
    if (f === 'inactive') return !u.active;
    if (f) return u.role === f;
    return true;
  }

  // ---- dialogs -------------------------------------------------------------

  const cName = h('input', { id: 'acc-name', type: 'text', maxlength: '100', autocomplete: 'off', dataset: { field: 'name' } });
  const cUser = h('input', {
    id: 'acc-username', type: 'text', maxlength: '32', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false',
    'aria-describedby': 'acc-username-hint', dataset: { field: 'username' },
  });
  const cRole = h('select', { id: 'acc-role', dataset: { field: 'role' } },
    h('option', { value: '' }, 'Pilih peran…'), ROLES.map((r) => h('option', { value: r }, roleLabel(r))));
  const cPhone = h('input', { id: 'acc-phone', type: 'text', inputmode: 'numeric', maxlength: '15', autocomplete: 'off', placeholder: '6281234567890', 'aria-describedby': 'acc-phone-hint', dataset: { field: 'phone' } });
  const cPw = passwordField('acc-password', 'Kata Sandi');
  cPw.input.dataset.field = 'password';
  // A username made from the name while the admin has not typed one.
  let userTouched = false;
  cUser.addEventListener('input', () => { userTouched = cUser.value !== ''; });
  cName.addEventListener('input', () => {
    if (userTouched) return;
    cUser.value = cName.value.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '')
      .replace(/[^a-z0-9]+/g, '.').replace(/^\.+|\.+$/g, '').slice(0, 32);
  });

  const create = formDialog('acc-create', {
    confirmLabel: 'Simpan',
    content: h('div', { class: 'acc-form' },
      h('div', { class: 'field' }, h('label', { for: 'acc-name' }, 'Nama'), cName),
      h('div', { class: 'field' }, h('label', { for: 'acc-username' }, 'Username'), cUser,
        h('p', { class: 'hint', id: 'acc-username-hint' }, 'Untuk masuk: huruf kecil, angka, _ . - (3–32). Tidak bisa diubah nanti.')),
      h('div', { class: 'grid-2 acc-grid' },
        h('div', { class: 'field' }, h('label', { for: 'acc-role' }, 'Peran'), cRole),
        h('div', { class: 'field' }, h('label', { for: 'acc-phone' }, 'No. HP', h('span', { class: 'optional' }, ' (opsional)')), cPhone,
          h('p', { class: 'hint', id: 'acc-phone-hint' }, 'Format 62…, tanpa + atau spasi.'))),
      cPw.el),
    async onSubmit() {
      const name = cName.value.trim();
      const username = cUser.value.trim();
      const phone = cPhone.value.replace(/[\s+-]/g, '');
      const password = cPw.input.value;
      if (!name || [...name].length > 100) return { text: FIELD_TEXT.name, field: 'name' };
      if (!USERNAME_RE.test(username)) return { text: FIELD_TEXT.username, field: 'username' };
      if (!ROLES.includes(cRole.value)) return { text: FIELD_TEXT.role, field: 'role' };
      if (phone && !PHONE_RE.test(phone)) return { text: FIELD_TEXT.phone, field: 'phone' };
      if (byteLength(password) < 8 || byteLength(password) > 128) return { text: FIELD_TEXT.password, field: 'password' };
      const body = { name, username, role: cRole.value, password };
      if (phone) body.phone = phone;
      const u = await post('/users', body);
      if (!alive) return null;
      upsert(u);
      ctx.toast(`Akun ${u.name} (${u.username}) dibuat sebagai ${roleLabel(u.role)}`, 'ok');
      return null;
    },
  });

  function openCreate() {
    cName.value = '';
    cUser.value = '';
    userTouched = false;
    cRole.value = '';
    cPhone.value = '';
    cPw.reset();
    create.open({ heading: 'Tambah Akun', text: null, focus: cName });
  }

  let target = null; // the user a dialog acts on
  let roleTo = null;
  let revertRole = null;

  const deactivate = formDialog('acc-off', {
    confirmLabel: 'Ya, nonaktifkan',
    danger: true,
    content: null,
    async onSubmit() {
      const u = await api('PATCH', `/users/${target.id}`, { active: false });
      if (!alive) return null;
      upsert(u);
      ctx.toast(`Akun ${u.name} dinonaktifkan`, 'ok');
      return null;
    },
  });

  const role = formDialog('acc-role-change', {
    confirmLabel: 'Ya, ubah peran',
    content: null,
    async onSubmit() {
      const u = await api('PATCH', `/users/${target.id}`, { role: roleTo });
      if (!alive) return null;
      revertRole = null;
      upsert(u);
      ctx.toast(`Peran ${u.name} sekarang ${roleLabel(u.role)}`, 'ok');
      return null;
    },
    onClose() {
      if (revertRole) revertRole(); // closed without saving: the select goes back
      revertRole = null;
    },
  });

  const rPw = passwordField('acc-reset-password', 'Kata Sandi Baru');
  rPw.input.dataset.field = 'password';
  const reset = formDialog('acc-reset', {
    confirmLabel: 'Simpan',
    content: h('div', { class: 'acc-form' }, rPw.el),
    async onSubmit() {
      const password = rPw.input.value;
      if (byteLength(password) < 8 || byteLength(password) > 128) return { text: FIELD_TEXT.password, field: 'password' };
      const u = await api('PATCH', `/users/${target.id}`, { password });
      if (!alive) return null;
      upsert(u);
      ctx.toast(`Kata sandi ${u.name} sudah diganti; sesi lamanya berakhir`, 'ok');
      return null;
    },
  });

  // ---- rows -------------------------------------------------------------------

  async function activate(u, btn) {
    btn.disabled = true;
    banner.hidden = true;
    try {
      const nu = await api('PATCH', `/users/${u.id}`, { active: true });
      if (!alive) return;
      upsert(nu);
      ctx.toast(`Akun ${nu.name} aktif lagi`, 'ok');
    } catch (err) {
      if (!alive) return;
      btn.disabled = false;
      showBanner(usersErrorText(err).text);
    }
  }

  function showBanner(text) {
    banner.hidden = !text;
    banner.textContent = text || '';
  }

  function rowFor(u) {
    const self = u.id === me.id;
    const nameId = `acc-u-${u.id}`;
    const select = h('select', { class: 'acc-role-select', 'aria-label': 'Peran', 'aria-describedby': nameId, disabled: self },
      ROLES.map((r) => h('option', { value: r, selected: r === u.role }, roleLabel(r))));
    select.value = u.role;
    select.addEventListener('change', () => {
      target = u;
      roleTo = select.value;
      revertRole = () => { select.value = u.role; };
      role.open({
        heading: `Ubah peran ${u.name}?`,
        text: `Dari ${roleLabel(u.role)} menjadi ${roleLabel(roleTo)}. ${u.name} langsung keluar dari semua perangkat dan perlu masuk lagi.`,
      });
    });
    const resetBtn = h('button', {
      class: 'btn btn-secondary btn-sm', type: 'button', 'aria-describedby': nameId,
      on: {
        click: () => {
          target = u;
          rPw.reset();
          reset.open({
            heading: `Reset kata sandi ${u.name}`,
            text: `${u.name} (${u.username}) keluar dari semua perangkat dan masuk lagi dengan kata sandi baru ini.`,
            focus: rPw.input,
          });
        },
      },
    }, 'Reset Kata Sandi');
    let toggle;
    if (u.active) {
      toggle = h('button', {
        class: 'btn btn-danger-quiet btn-sm', type: 'button', 'aria-describedby': nameId, disabled: self,
        on: {
          click: () => {
            target = u;
            deactivate.open({
              heading: `Nonaktifkan akun ${u.name}?`,
              text: `${u.name} (${u.username}) langsung keluar dari semua perangkat dan tidak bisa masuk lagi sampai akunnya diaktifkan kembali. Data dan riwayatnya tetap tersimpan.`,
            });
          },
        },
      }, 'Nonaktifkan');
    } else {
      toggle = h('button', { class: 'btn btn-secondary btn-sm', type: 'button', 'aria-describedby': nameId }, 'Aktifkan');
      toggle.addEventListener('click', () => activate(u, toggle));
    }
    return h('tr', { class: u.active ? 'acc-row' : 'acc-row is-inactive', dataset: { userId: u.id, username: u.username } },
      h('td', { class: 'acc-col-name' },
        h('div', { class: 'strong', id: nameId }, u.name, self ? h('span', { class: 'chip' }, 'Anda') : null),
        h('div', { class: 'muted small' }, u.username)),
      h('td', { class: 'acc-col-role' }, select),
      h('td', { class: 'acc-col-phone' }, u.phone ? phoneDisplay(u.phone) : h('span', { class: 'muted small' }, 'Tanpa No. HP')),
      h('td', { class: 'acc-col-state' },
        h('span', { class: u.active ? 'badge acc-badge-on' : 'badge acc-badge-off' }, u.active ? 'Aktif' : 'Nonaktif'),
        u.telegram_linked ? h('span', { class: 'muted small acc-tg' }, 'Telegram terhubung') : null),
      h('td', { class: 'acc-col-created muted small' }, u.created_at ? `Dibuat ${jakartaDate(u.created_at)}` : ''),
      h('td', { class: 'acc-col-actions' }, h('div', { class: 'acc-actions' }, resetBtn, toggle),
        self ? h('p', { class: 'muted small acc-self' }, 'Peran dan status akun sendiri tidak bisa diubah.') : null));
  }

  function upsert(u) {
    if (!users) users = [];
    const i = users.findIndex((x) => x.id === u.id);
    if (i >= 0) users[i] = u;
    else users.push(u);
    drawChips();
    draw();
    // Show which row changed (a new one may be far down the list).
    const row = body.querySelector(`tr[data-user-id="${u.id}"]`);
    if (row) {
      row.classList.add('acc-flash');
      if (i < 0) row.scrollIntoView({ block: 'center' });
    }
  }

  function draw() {
    if (!users) return;
    const q = search.value.trim().toLowerCase();
    const list = users
      .filter((u) => passes(u, filter))
      .filter((u) => !q || u.name.toLowerCase().includes(q) || u.username.includes(q))
      .sort((a, b) => a.name.localeCompare(b.name, 'id') || a.id - b.id); // stable: a change does not move the row
    if (!list.length) {
      replace(body, h('div', { class: 'state state-empty' },
        h('p', { class: 'state-title' }, q ? `Tidak ada akun yang cocok dengan "${search.value.trim()}"` : 'Tidak ada akun di sini'),
        h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => { search.value = ''; filter = ''; drawChips(); draw(); } } }, 'Tampilkan semua akun')));
      return;
    }
    replace(body, h('div', { class: 'table-wrap acc-table' },
      h('table', { class: 'table' },
        h('caption', { class: 'sr-only' }, 'Akun pengguna'),
        h('thead', null, h('tr', null,
          h('th', { scope: 'col' }, 'Nama'), h('th', { scope: 'col' }, 'Peran'), h('th', { scope: 'col' }, 'No. HP'),
          h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Dibuat'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Aksi')))),
        h('tbody', null, list.map(rowFor)))));
  }

  async function load() {
    const my = ++seq;
    replace(body, h('div', { class: 'state state-loading', role: 'status' },
      h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat akun…'));
    try {
      const r = await get('/users');
      if (!alive || my !== seq) return;
      users = (r && r.users) || [];
      drawChips();
      draw();
    } catch (err) {
      if (!alive || my !== seq) return;
      replace(body, h('div', { class: 'state state-error', role: 'alert' },
        h('p', null, errorText(err)),
        h('button', { class: 'btn btn-secondary', type: 'button', on: { click: load } }, icon('refresh'), 'Coba lagi')));
    }
  }

  root.append(
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Akun Pengguna'),
        h('p', { class: 'muted' }, 'Akun CS, teknisi, Sales, dan admin yang bisa masuk ke GSS.')),
      addBtn),
    banner,
    h('div', { class: 'acc-tools' }, chips,
      h('div', { class: 'field acc-search' }, h('label', { for: 'acc-search' }, 'Cari akun'), search)),
    body,
    create.el, deactivate.el, role.el, reset.el);
  drawChips();
  load();

  return () => {
    alive = false;
    for (const d of [create, deactivate, role, reset]) d.close();
  };
}
