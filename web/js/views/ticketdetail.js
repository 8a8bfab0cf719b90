// A ticket's details as both technicians and CS see them.

import { h, icon } from '../dom.js';
import { jakartaDateTime, dayLabel, phoneDisplay } from '../format.js';
import { ticketStatusBadge } from './myjobs.js';

function row(label, ...value) {
  return h('div', { class: 'dl-row' }, h('dt', null, label), h('dd', null, ...value));
}

function mapsUrl(t) {
  if (typeof t.lat === 'number' && typeof t.lng === 'number') {
    return `https://www.google.com/maps/search/?api=1&query=${t.lat},${t.lng}`;
  }
  const q = [t.address, t.area].filter(Boolean).join(', ');
  return q ? `https://www.google.com/maps/search/?api=1&query=${encodeURIComponent(q)}` : null;
}

/** ticketDetail(ticket, {role}) → the detail block. */
export function ticketDetail(t, { role } = {}) {
  const techs = Array.isArray(t.technicians) ? t.technicians : [];
  const bySlot = new Map(techs.map((x) => [x.slot, x]));
  const slots = [];
  for (let i = 1; i <= (t.techs_needed || 0); i++) {
    const x = bySlot.get(i);
    slots.push(h('li', { class: x ? 'tech tech-on' : 'tech' },
      h('span', { class: 'tech-slot' }, `Slot ${i}`),
      h('span', { class: 'tech-name' }, x ? x.name : 'Belum terisi')));
  }
  const phone = t.customer_phone ? String(t.customer_phone) : '';
  const maps = mapsUrl(t);
  const when = dayLabel(t.scheduled_at);

  return h('div', { class: 'detail' },
    h('div', { class: 'detail-head' },
      h('div', { class: 'job-top' },
        t.urgent ? h('span', { class: 'badge badge-urgent' }, icon('alert', 'icon icon-sm'), 'MENDESAK') : null,
        h('span', { class: 'job-code' }, t.code),
        ticketStatusBadge(t.status)),
      h('h1', { class: 'detail-title' }, t.problem)),
    h('section', { class: 'panel' },
      h('h2', { class: 'panel-title' }, 'Jadwal'),
      h('p', { class: 'big-time' }, jakartaDateTime(t.scheduled_at), when ? h('span', { class: 'chip chip-when' }, when) : null)),
    h('section', { class: 'panel' },
      h('h2', { class: 'panel-title' }, 'Pelanggan'),
      h('dl', { class: 'dl' },
        row('Nama', t.customer_name || '-'),
        row('Telepon', phone ? h('a', { class: 'link', href: `tel:+${phone}` }, phoneDisplay(phone)) : '-'),
        row('Alamat', t.address || '-'),
        row('Area', t.area || '-')),
      h('div', { class: 'btn-row' },
        phone ? h('a', { class: 'btn btn-secondary', href: `https://wa.me/${phone}`, target: '_blank', rel: 'noopener noreferrer' }, 'WhatsApp') : null,
        maps ? h('a', { class: 'btn btn-secondary', href: maps, target: '_blank', rel: 'noopener noreferrer' }, icon('pin'), 'Buka Peta') : null)),
    h('section', { class: 'panel' },
      h('h2', { class: 'panel-title' }, `Teknisi (${techs.length}/${t.techs_needed})`),
      h('ul', { class: 'tech-list' }, slots)),
    role === 'ts'
      ? h('section', { class: 'panel panel-soon' },
        h('h2', { class: 'panel-title' }, 'Langkah berikutnya'),
        h('p', { class: 'muted' }, 'Unduh Surat Tugas, check-in GPS di lokasi, dan upload BAST akan tersedia di halaman ini pada versi berikutnya.'))
      : h('section', { class: 'panel' },
        h('h2', { class: 'panel-title' }, 'Riwayat'),
        h('dl', { class: 'dl' }, row('Dibuat', jakartaDateTime(t.created_at) || '-'))));
}
