// /#/beranda: Sales and admin. Their real screens (the invoice approval
// queue, user management) come with the server features behind them; this
// page says so plainly and offers nothing that does not work yet.

import { h, icon } from '../dom.js';

export const layout = 'narrow';

function item(title, text) {
  return h('li', { class: 'soon-item' }, h('span', { class: 'soon-dot', 'aria-hidden': 'true' }),
    h('div', null, h('div', { class: 'strong' }, title), h('div', { class: 'muted' }, text)));
}

export function mount(root, ctx) {
  const { user } = ctx;
  const first = String(user.name || '').split(/\s+/)[0] || user.username;
  if (user.role === 'sales') {
    root.append(
      h('div', { class: 'page-head' }, h('div', null, h('h1', null, `Halo, ${first}`),
        h('p', { class: 'muted' }, 'Halaman Sales.'))),
      h('section', { class: 'panel' },
        h('h2', { class: 'panel-title' }, 'Segera hadir'),
        h('ul', { class: 'soon' },
          item('Antrian persetujuan invoice', 'Draft invoice dari CS akan tampil di sini untuk Anda tinjau: harga, diskon, dan total.'),
          item('Approve atau minta revisi', 'Setujui invoice agar CS bisa mengirimnya ke pelanggan, atau kembalikan dengan catatan revisi.'),
          item('Notifikasi Telegram', 'Pesan "Draft Invoice Menunggu Approval" dengan tombol langsung ke invoice.'))),
      h('p', { class: 'muted small' }, 'Fitur ini datang bersama alur invoice. Sampai saat itu belum ada yang perlu Anda lakukan di sini.'));
    return null;
  }
  root.append(
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, `Halo, ${first}`),
      h('p', { class: 'muted' }, 'Halaman Admin.'))),
    h('section', { class: 'panel' },
      h('h2', { class: 'panel-title' }, 'Sudah bisa dipakai'),
      h('div', { class: 'btn-row' },
        h('a', { class: 'btn btn-secondary', href: '#/tiket' }, 'Tiket'),
        h('a', { class: 'btn btn-secondary', href: '#/tiket/baru' }, 'Tiket Baru'),
        h('a', { class: 'btn btn-secondary', href: '#/papan' }, icon('users'), 'Papan Job'))),
    h('section', { class: 'panel' },
      h('h2', { class: 'panel-title' }, 'Segera hadir'),
      h('ul', { class: 'soon' },
        item('Kelola pengguna', 'Menambah dan menonaktifkan akun CS, teknisi, dan Sales dari sini. Sementara ini lewat perintah server: gssd user add.'),
        item('Antrian persetujuan invoice', 'Sama seperti Sales, datang bersama alur invoice.'))));
  return null;
}
