// /#/tiket/baru: CS opens a ticket (POST /api/v1/tickets). The job enters
// the pool at once and technicians' boards show it live.
//
// Customer: when the server has GET /api/v1/customers (?q= name or phone)
// the form offers a search picker; until that API exists it asks for the
// numeric customer id (docs/web.md).
//
// Schedule: CS types Jakarta wall-clock date and time; the form sends the
// UTC instant (ISO 8601), whatever the zone of this computer.
//
// Prefill: #/tiket/baru?customer=<id>&problem=<text> (the inbox's "Buat
// Tiket") chooses that customer and fills the problem in.

import { get, post, errorText } from '../api.js';
import { h, replace } from '../dom.js';
import { jakartaYmd, addDaysYmd, jakartaLocalToUtc, jakartaDateTime, phoneDisplay } from '../format.js';

export const layout = 'narrow';

const AREAS = ['Jakarta Pusat', 'Jakarta Utara', 'Jakarta Barat', 'Jakarta Selatan', 'Jakarta Timur',
  'Bogor', 'Depok', 'Tangerang', 'Tangerang Selatan', 'Bekasi'];

let fieldSeq = 0;

function field(label, input, { hint, optional } = {}) {
  const id = input.id || `f-${++fieldSeq}`;
  input.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' },
    h('label', { for: id }, label, optional ? h('span', { class: 'optional' }, ' (opsional)') : null),
    input, hintEl);
}

function customersOf(r) {
  if (Array.isArray(r)) return r;
  if (r && Array.isArray(r.customers)) return r.customers;
  if (r && Array.isArray(r.items)) return r.items;
  return [];
}

export function mount(root, ctx) {
  let alive = true;
  let busy = false;
  let searchTimer = null;
  let searchSeq = 0;
  let picked = null; // {id, name, phone, address} when the picker is in use
  let pickerMode = null; // null (probing) | 'picker' | 'id'
  const q = ctx.query || new URLSearchParams();
  const preCustomer = /^\d{1,15}$/.test(q.get('customer') || '') ? Number(q.get('customer')) : null;

  // ---- customer ----
  const customerBox = h('div', { class: 'field-group' });
  const customerId = h('input', { id: 'nt-customer-id', name: 'customer_id', type: 'number', min: '1', step: '1', inputmode: 'numeric', required: true });
  // The picker is the ARIA 1.2 combobox pattern: the input owns the focus,
  // the listbox holds only role=option items, and the arrow keys move
  // aria-activedescendant. Messages ("tidak ditemukan") live outside the
  // listbox, which is hidden while it has no options.
  const search = h('input', {
    id: 'nt-customer-q', type: 'search', autocomplete: 'off', placeholder: 'Ketik nama atau nomor HP…',
    role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': 'nt-customer-list',
  });
  const results = h('ul', { class: 'picker-results', id: 'nt-customer-list', role: 'listbox', 'aria-label': 'Hasil pencarian pelanggan', hidden: true });
  const resultsMsg = h('p', { class: 'picker-empty', role: 'status', hidden: true });
  let options = []; // [{el, c}] of the listbox
  let active = -1;

  const problem = h('textarea', { id: 'nt-problem', name: 'problem', rows: '4', maxlength: '2000', required: true,
    placeholder: 'Contoh: AC split 1 PK tidak dingin sejak 3 hari, keluar angin saja.' });
  if (q.get('problem')) problem.value = q.get('problem').slice(0, 2000);
  const address = h('textarea', { id: 'nt-address', name: 'address', rows: '2', maxlength: '500', required: true,
    placeholder: 'Jalan, nomor, RT/RW, kelurahan, kecamatan' });
  const area = h('input', { id: 'nt-area', name: 'area', type: 'text', maxlength: '100', list: 'nt-areas', autocomplete: 'off',
    placeholder: 'Jakarta Selatan' });
  const areas = h('datalist', { id: 'nt-areas' }, AREAS.map((a) => h('option', { value: a })));
  const lat = h('input', { id: 'nt-lat', name: 'lat', type: 'text', inputmode: 'decimal', placeholder: '-6.2607' });
  const lng = h('input', { id: 'nt-lng', name: 'lng', type: 'text', inputmode: 'decimal', placeholder: '106.8137' });
  const tomorrow = addDaysYmd(jakartaYmd(new Date()), 1);
  const date = h('input', { id: 'nt-date', name: 'date', type: 'date', required: true, value: tomorrow });
  const time = h('input', { id: 'nt-time', name: 'time', type: 'time', required: true, value: '09:00', step: '300' });
  const whenPreview = h('p', { class: 'hint hint-block', id: 'nt-when-preview' });
  const techs = h('input', { id: 'nt-techs', name: 'techs_needed', type: 'number', min: '1', max: '10', step: '1', value: '1', inputmode: 'numeric', required: true });
  const urgent = h('input', { id: 'nt-urgent', name: 'urgent', type: 'checkbox' });
  const message = h('div', { class: 'form-message', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn btn-primary btn-lg', type: 'submit' }, 'Buat Tiket');

  const stepper = (delta) => () => {
    const n = Math.min(10, Math.max(1, (parseInt(techs.value, 10) || 1) + delta));
    techs.value = String(n);
  };

  const updatePreview = () => {
    const iso = jakartaLocalToUtc(date.value, time.value);
    whenPreview.textContent = iso ? `Teknisi akan melihat: ${jakartaDateTime(iso)}` : 'Isi tanggal dan jam (WIB).';
  };
  date.addEventListener('input', updatePreview);
  time.addEventListener('input', updatePreview);
  updatePreview();

  const showMessage = (text, kind = 'error') => {
    message.hidden = !text;
    message.className = `form-message form-message-${kind}`;
    message.textContent = text || '';
    if (text) message.scrollIntoView({ block: 'nearest' });
  };

  // ---- customer picker ----
  function drawPicked() {
    replace(customerBox,
      h('span', { class: 'label' }, 'Pelanggan'),
      h('div', { class: 'picked' },
        h('div', null, h('div', { class: 'strong' }, picked.name),
          h('div', { class: 'muted small' }, [phoneDisplay(picked.phone), picked.address].filter(Boolean).join(' · '))),
        h('button', { class: 'btn btn-ghost btn-sm', type: 'button', on: { click: () => { picked = null; drawPicker(); search.focus(); } } }, 'Ganti')));
  }

  function pick(c) {
    picked = c;
    if (!address.value.trim() && c.address) address.value = c.address;
    drawPicked();
  }

  function setActive(i) {
    options.forEach((o, k) => o.el.setAttribute('aria-selected', k === i ? 'true' : 'false'));
    active = i;
    if (i >= 0 && options[i]) {
      search.setAttribute('aria-activedescendant', options[i].el.id);
      options[i].el.scrollIntoView({ block: 'nearest' });
    } else {
      search.removeAttribute('aria-activedescendant');
    }
  }

  function showOptions(list) {
    // A search answer that arrives after the arrow keys moved keeps the
    // same customer active.
    const was = active >= 0 && options[active] ? options[active].c.id : null;
    options = list.map((c, i) => ({
      c,
      el: h('li', {
        class: 'picker-item', id: `nt-cust-opt-${i}`, role: 'option', 'aria-selected': 'false',
        on: { click: () => pick(c), mousemove: () => { if (active !== i) setActive(i); } },
      },
      h('span', { class: 'strong' }, c.name),
      h('span', { class: 'muted small' }, [phoneDisplay(c.phone), c.address].filter(Boolean).join(' · '))),
    }));
    replace(results, options.map((o) => o.el));
    results.hidden = options.length === 0;
    search.setAttribute('aria-expanded', options.length ? 'true' : 'false');
    setActive(was === null ? -1 : options.findIndex((o) => o.c.id === was));
  }

  function showResultsMessage(text) {
    resultsMsg.hidden = !text;
    resultsMsg.textContent = text || '';
  }

  async function runSearch() {
    const my = ++searchSeq;
    const q = search.value.trim();
    let list;
    try {
      list = customersOf(await get(`/customers?q=${encodeURIComponent(q)}&limit=8`));
    } catch (err) {
      if (!alive || my !== searchSeq) return;
      showOptions([]);
      showResultsMessage(errorText(err));
      return;
    }
    if (!alive || my !== searchSeq) return;
    showOptions(list);
    showResultsMessage(list.length ? '' : q ? 'Pelanggan tidak ditemukan.' : 'Belum ada pelanggan.');
  }

  search.addEventListener('keydown', (ev) => {
    // Enter in the search box picks (the active option, or the only one);
    // it never submits the half-filled form.
    if (ev.key === 'Enter') {
      ev.preventDefault();
      if (active >= 0) pick(options[active].c);
      else if (options.length === 1) pick(options[0].c);
      return;
    }
    if (!options.length) return;
    if (ev.key === 'ArrowDown') {
      ev.preventDefault();
      setActive((active + 1) % options.length);
    } else if (ev.key === 'ArrowUp') {
      ev.preventDefault();
      setActive(active <= 0 ? options.length - 1 : active - 1);
    } else if (ev.key === 'Escape') {
      setActive(-1);
    }
  });

  function drawPicker() {
    options = [];
    replace(customerBox, field('Pelanggan', search, { hint: 'Cari pelanggan terdaftar lalu pilih (panah atas/bawah, Enter).' }), results, resultsMsg);
    runSearch();
  }

  function drawIdInput() {
    replace(customerBox, field('ID Pelanggan', customerId, {
      hint: 'Daftar pelanggan belum tersedia di server ini: masukkan nomor ID pelanggan.',
    }));
  }

  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 250);
  });

  // Which customer input to offer: the picker needs GET /customers.
  (async () => {
    replace(customerBox, h('div', { class: 'state state-loading state-inline', role: 'status' },
      h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat pelanggan…'));
    try {
      await get('/customers?limit=1');
      pickerMode = 'picker';
    } catch {
      pickerMode = 'id'; // 404 today; any other failure should not block the form either
    }
    if (!alive) return;
    if (preCustomer && pickerMode === 'picker') {
      const c = await get(`/customers/${preCustomer}`).catch(() => null);
      if (!alive) return;
      if (c && c.id) {
        pick(c);
        return;
      }
    }
    if (pickerMode === 'picker') drawPicker();
    else {
      if (preCustomer) customerId.value = String(preCustomer);
      drawIdInput();
    }
  })();

  // ---- submit ----
  function collect() {
    const errors = [];
    let cid = null;
    if (pickerMode === 'picker') {
      if (picked) cid = Number(picked.id);
      else errors.push('Pilih pelanggan.');
    } else {
      cid = Number(customerId.value);
      if (!Number.isInteger(cid) || cid <= 0) errors.push('Isi ID pelanggan (angka).');
    }
    const p = problem.value.trim();
    if (!p) errors.push('Tulis keluhan pelanggan.');
    const a = address.value.trim();
    if (!a) errors.push('Isi alamat kunjungan.');
    const iso = jakartaLocalToUtc(date.value, time.value);
    if (!iso) errors.push('Isi tanggal dan jam kunjungan.');
    const n = Number(techs.value);
    if (!Number.isInteger(n) || n < 1 || n > 10) errors.push('Teknisi dibutuhkan: 1 sampai 10.');
    const la = lat.value.trim().replace(',', '.');
    const ln = lng.value.trim().replace(',', '.');
    let latN = null;
    let lngN = null;
    if (la || ln) {
      latN = Number(la);
      lngN = Number(ln);
      if (!la || !ln || !Number.isFinite(latN) || !Number.isFinite(lngN) || Math.abs(latN) > 90 || Math.abs(lngN) > 180) {
        errors.push('Koordinat: isi lintang dan bujur yang benar, atau kosongkan keduanya.');
      }
    }
    const body = {
      customer_id: cid, problem: p, address: a, area: area.value.trim(), scheduled_at: iso,
      techs_needed: n, urgent: urgent.checked,
    };
    if (la && ln) {
      body.lat = latN;
      body.lng = lngN;
    }
    return { errors, body };
  }

  async function onSubmit(ev) {
    ev.preventDefault();
    if (busy || pickerMode === null) return;
    const { errors, body } = collect();
    if (errors.length) {
      showMessage(errors.join(' '));
      return;
    }
    busy = true;
    submit.disabled = true;
    submit.textContent = 'Menyimpan…';
    showMessage('');
    try {
      const t = await post('/tickets', body);
      if (!alive) return;
      ctx.toast(`Tiket ${t.code} dibuat dan masuk Papan Job`, 'ok');
      ctx.navigate(`/tiket/${t.id}`);
    } catch (err) {
      if (!alive) return;
      let text = errorText(err);
      if (err.code === 'validation_failed') {
        text = /customer_id/.test(err.message) ? 'Pelanggan tidak ditemukan. Periksa ID pelanggan.'
          : `Data tidak valid: ${err.message}`;
      }
      showMessage(text);
    } finally {
      busy = false;
      submit.disabled = false;
      submit.textContent = 'Buat Tiket';
    }
  }

  const form = h('form', { class: 'form card', novalidate: true, on: { submit: onSubmit } },
    h('fieldset', null, h('legend', null, 'Pelanggan & keluhan'),
      customerBox,
      field('Keluhan / pekerjaan', problem, { hint: 'Awal keluhan (80 huruf) tampil sebagai judul job di papan teknisi.' })),
    h('fieldset', null, h('legend', null, 'Lokasi'),
      field('Alamat kunjungan', address),
      field('Area', area, { optional: true, hint: 'Tampil di papan job agar teknisi tahu arah.' }), areas,
      h('div', { class: 'grid-2' },
        field('Lintang (lat)', lat, { optional: true }),
        field('Bujur (lng)', lng, { optional: true })),
      h('p', { class: 'hint' }, 'Koordinat dipakai untuk check-in GPS teknisi.')),
    h('fieldset', null, h('legend', null, 'Jadwal & teknisi'),
      h('div', { class: 'grid-2' },
        field('Tanggal', date),
        field('Jam (WIB)', time)),
      whenPreview,
      h('div', { class: 'field' },
        h('label', { for: 'nt-techs' }, 'Teknisi dibutuhkan'),
        h('div', { class: 'stepper' },
          h('button', { class: 'btn btn-secondary stepper-btn', type: 'button', 'aria-label': 'Kurangi', on: { click: stepper(-1) } }, '−'),
          techs,
          h('button', { class: 'btn btn-secondary stepper-btn', type: 'button', 'aria-label': 'Tambah', on: { click: stepper(1) } }, '+'))),
      h('label', { class: 'check', for: 'nt-urgent' }, urgent,
        h('span', null, h('span', { class: 'strong' }, 'Mendesak'), h('span', { class: 'muted small' }, ' — tampil paling atas di papan job')))),
    message,
    h('div', { class: 'form-actions' },
      h('a', { class: 'btn btn-ghost', href: '#/tiket' }, 'Batal'),
      submit));

  root.append(
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Tiket Baru'),
        h('p', { class: 'muted' }, 'Setelah disimpan, job langsung tampil di Papan Job teknisi.'))),
    form);
  setTimeout(() => problem.focus(), 0);

  return () => {
    alive = false;
    clearTimeout(searchTimer);
  };
}
