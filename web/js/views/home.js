// /#/beranda: Sales and admin. A short start page: how many invoices wait
// for approval (GET /api/v1/invoices?status=pending_approval) with the way
// to the queue, and for admin the screens they use. What does not work yet
// (the Telegram notice for Sales) is said plainly, nothing more.

import { get } from '../api.js';
import { h, icon, replace } from '../dom.js';

export const layout = 'narrow';

function item(title, text) {
  return h('li', { class: 'soon-item' }, h('span', { class: 'soon-dot', 'aria-hidden': 'true' }),
    h('div', null, h('div', { class: 'strong' }, title), h('div', { class: 'muted' }, text)));
}

/** The approval queue's size, filled in when the list answers. */
function queuePanel(isSales) {
  const line = h('p', { class: 'muted', role: 'status' }, 'Memeriksa antrian…');
  const go = h('a', { class: 'btn btn-primary', href: '#/invoice' }, isSales ? 'Buka Approval Invoice' : 'Buka daftar Invoice');
  get('/invoices?status=pending_approval&limit=500').then((r) => {
    const n = r && Array.isArray(r.invoices) ? r.invoices.length : 0;
    line.textContent = n === 0
      ? 'Tidak ada invoice yang menunggu approval saat ini.'
      : `${n} invoice menunggu approval${isSales ? ' Anda' : ' Sales'}.`;
    line.classList.toggle('muted', n === 0);
    line.classList.toggle('strong', n > 0);
  }).catch(() => {
    line.textContent = 'Jumlah antrian belum bisa dimuat; buka daftarnya untuk melihat.';
  });
  return h('section', { class: 'panel' },
    h('h2', { class: 'panel-title' }, 'Approval Invoice'),
    line,
    h('div', { class: 'btn-row' }, go));
}

export function mount(root, ctx) {
  const { user } = ctx;
  const first = String(user.name || '').split(/\s+/)[0] || user.username;
  if (user.role === 'sales') {
    root.append(
      h('div', { class: 'page-head' }, h('div', null, h('h1', null, `Halo, ${first}`),
        h('p', { class: 'muted' }, 'Halaman Sales.'))),
      queuePanel(true),
      h('section', { class: 'panel panel-soon' },
        h('h2', { class: 'panel-title' }, 'Segera hadir'),
        h('ul', { class: 'soon' },
          item('Notifikasi Telegram', 'Pesan "Draft Invoice Menunggu Approval" dengan tombol langsung ke invoice. Sampai saat itu, lihat antrian di halaman Approval Invoice.'))));
    return null;
  }
  const links = [
    ['#/tiket', 'Tiket'],
    ['#/tiket/baru', 'Tiket Baru'],
    ['#/monitor', 'Monitor'],
    ['#/invoice', 'Invoice'],
    ['#/papan', 'Papan Job'],
    ['#/akun', 'Akun Pengguna'],
  ];
  const body = h('div');
  replace(body,
    h('section', { class: 'panel' },
      h('h2', { class: 'panel-title' }, 'Halaman'),
      h('div', { class: 'btn-row' }, links.map(([href, label]) =>
        h('a', { class: 'btn btn-secondary', href }, href === '#/papan' ? icon('users') : null, label)))),
    queuePanel(false));
  root.append(
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, `Halo, ${first}`),
      h('p', { class: 'muted' }, 'Halaman Admin.'))),
    body);
  return null;
}
