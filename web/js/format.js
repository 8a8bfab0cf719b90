// Formatting for people in Indonesia: Rupiah amounts and Jakarta wall-clock
// time. Pure functions without the DOM, so node can test them directly
// (tests/e2e/format.test.mjs).
//
// Times travel as ISO 8601 UTC strings ("2026-12-01T02:00:00Z"); they are
// shown in Asia/Jakarta (WIB, UTC+7, no daylight saving) whatever the zone of
// the device, because a technician's phone set to another zone must still
// show the customer's local appointment time.

export const TZ = 'Asia/Jakarta';
const JAKARTA_OFFSET_MIN = 7 * 60; // WIB has had no DST since 1964

const dtParts = new Intl.DateTimeFormat('id-ID', {
  timeZone: TZ,
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});

const ymdParts = new Intl.DateTimeFormat('en-CA', {
  timeZone: TZ,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

function toDate(v) {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v;
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  if (v === '') return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

// Parts of a date in Jakarta, by type (weekday, day, month, year, hour, minute).
function parts(d) {
  const out = {};
  for (const p of dtParts.formatToParts(d)) out[p.type] = p.value;
  return out;
}

/** rupiah(n) → "Rp 1.250.000". Integer Rupiah (number, bigint or a string of
 *  digits); negative amounts get a leading minus ("-Rp 50.000"). Anything
 *  that is not an integer gives "Rp -" so a bad value is visible, not 0. */
export function rupiah(n) {
  let s;
  if (typeof n === 'bigint') s = n.toString();
  else if (typeof n === 'number' && Number.isSafeInteger(n)) s = String(n);
  else if (typeof n === 'string' && /^-?\d+$/.test(n.trim())) s = n.trim();
  else return 'Rp -';
  let neg = false;
  if (s.startsWith('-')) {
    neg = true;
    s = s.slice(1);
  }
  s = s.replace(/^0+(?=\d)/, '');
  if (s === '0') neg = false;
  const grouped = s.replace(/\B(?=(\d{3})+(?!\d))/g, '.');
  return `${neg ? '-' : ''}Rp ${grouped}`;
}

/** jakartaDateTime(iso) → "Sel, 1 Des 2026 09.00 WIB" ('' for a bad value). */
export function jakartaDateTime(v) {
  const d = toDate(v);
  if (!d) return '';
  const p = parts(d);
  return `${p.weekday}, ${p.day} ${p.month} ${p.year} ${p.hour}.${p.minute} WIB`;
}

/** jakartaDate(iso) → "Sel, 1 Des 2026". */
export function jakartaDate(v) {
  const d = toDate(v);
  if (!d) return '';
  const p = parts(d);
  return `${p.weekday}, ${p.day} ${p.month} ${p.year}`;
}

/** jakartaTime(iso) → "09.00 WIB". */
export function jakartaTime(v) {
  const d = toDate(v);
  if (!d) return '';
  const p = parts(d);
  return `${p.hour}.${p.minute} WIB`;
}

/** jakartaYmd(date) → "2026-12-01", the calendar date in Jakarta. */
export function jakartaYmd(v = new Date()) {
  const d = toDate(v);
  if (!d) return '';
  return ymdParts.format(d); // en-CA formats as YYYY-MM-DD
}

/** dayLabel(iso, now) → "Hari ini" | "Besok" | "Kemarin" | '' comparing
 *  Jakarta calendar days, for a quick "when" on a phone. */
export function dayLabel(v, now = new Date()) {
  const d = toDate(v);
  if (!d) return '';
  const a = Date.parse(`${jakartaYmd(d)}T00:00:00Z`);
  const b = Date.parse(`${jakartaYmd(now)}T00:00:00Z`);
  const diff = Math.round((a - b) / 86400000);
  if (diff === 0) return 'Hari ini';
  if (diff === 1) return 'Besok';
  if (diff === -1) return 'Kemarin';
  return '';
}

/** addDaysYmd("2026-12-31", 1) → "2027-01-01". */
export function addDaysYmd(ymd, days) {
  const t = Date.parse(`${ymd}T00:00:00Z`);
  if (Number.isNaN(t)) return '';
  return new Date(t + days * 86400000).toISOString().slice(0, 10);
}

/** jakartaLocalToUtc("2026-12-01", "09:00") → "2026-12-01T02:00:00Z": the
 *  instant a Jakarta wall clock shows that date and time. null when either
 *  part is not a real date or time. */
export function jakartaLocalToUtc(ymd, hm) {
  const dm = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd || '');
  const tm = /^(\d{2}):(\d{2})(?::\d{2})?$/.exec(hm || '');
  if (!dm || !tm) return null;
  const [y, mo, da] = [Number(dm[1]), Number(dm[2]), Number(dm[3])];
  const [hh, mi] = [Number(tm[1]), Number(tm[2])];
  if (mo < 1 || mo > 12 || da < 1 || da > 31 || hh > 23 || mi > 59) return null;
  const local = Date.UTC(y, mo - 1, da, hh, mi);
  const check = new Date(local);
  // Date.UTC rolls 31 Feb over into March: refuse instead of guessing.
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== da) return null;
  return new Date(local - JAKARTA_OFFSET_MIN * 60000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** phoneDisplay("6281211110001") → "+62 812-1111-0001" (as given if it is
 *  not a 62… number). */
export function phoneDisplay(p) {
  const s = String(p || '');
  const m = /^62(\d{3})(\d{3,4})(\d{3,5})$/.exec(s);
  if (!m) return s;
  return `+62 ${m[1]}-${m[2]}-${m[3]}`;
}

const STATUS = {
  open: 'Mencari teknisi',
  assigned: 'Teknisi lengkap',
  in_progress: 'Dikerjakan',
  work_done: 'Selesai dikerjakan',
  invoicing: 'Penagihan',
  awaiting_payment: 'Menunggu pembayaran',
  paid: 'Lunas',
  closed: 'Ditutup',
  cancelled: 'Dibatalkan',
};

/** statusLabel("open") → "Mencari teknisi"; unknown codes pass through. */
export function statusLabel(s) {
  return STATUS[s] || String(s || '');
}

/** The ticket statuses in lifecycle order, for filters. */
export const STATUSES = Object.keys(STATUS);

const ROLES = { ts: 'Teknisi', cs: 'CS', admin: 'Admin', sales: 'Sales' };

/** roleLabel("ts") → "Teknisi". */
export function roleLabel(r) {
  return ROLES[r] || String(r || '');
}

// ---- field work (docs/fieldwork.md) ------------------------------------------

const ASSIGNMENT = {
  claimed: 'Belum check-in',
  late: 'Terlambat',
  no_show: 'Belum datang',
  checked_in: 'Sudah check-in',
  checked_out: 'Sudah check-out',
  done: 'Selesai',
  replaced: 'Digantikan',
  cancelled: 'Dibatalkan',
};

/** assignmentLabel("checked_in") → "Sudah check-in": one technician's slot. */
export function assignmentLabel(s) {
  return ASSIGNMENT[s] || String(s || '');
}

/** distanceText(35.2) → "35 m", distanceText(2049) → "2,0 km" ('' for a
 *  value that is not a number). */
export function distanceText(m) {
  if (typeof m !== 'number' || !Number.isFinite(m) || m < 0) return '';
  if (m < 1000) return `${Math.round(m)} m`;
  const km = Math.round(m / 100) / 10;
  return `${km.toFixed(1).replace('.', ',')} km`;
}

/** accuracyText(12.4) → "±12 m". */
export function accuracyText(m) {
  if (typeof m !== 'number' || !Number.isFinite(m) || m < 0) return '';
  return `±${Math.max(1, Math.round(m))} m`;
}

/** geofenceText({geofence, distance_m, accuracy_m}) → the verdict of one
 *  fix as a technician and CS read it: "Di dalam area", "Di luar area
 *  (250 m)", "Belum pasti: akurasi GPS 300 m". */
export function geofenceText(c) {
  const g = c && c.geofence;
  if (g === 'inside') return 'Di dalam area';
  if (g === 'outside') {
    const d = distanceText(c.distance_m);
    return d ? `Di luar area (${d})` : 'Di luar area';
  }
  if (g === 'uncertain') {
    if (c.distance_m === null || c.distance_m === undefined) return 'Belum pasti: lokasi pelanggan tanpa koordinat';
    const a = typeof c.accuracy_m === 'number' ? `${Math.round(c.accuracy_m)} m` : '';
    return a ? `Belum pasti: akurasi GPS ${a}` : 'Belum pasti';
  }
  return '';
}

/** distanceLine(35.2) → "35 m dari lokasi" ('' without a distance). */
export function distanceLine(m) {
  const d = distanceText(m);
  return d ? `${d} dari lokasi` : '';
}

const FLAGS = {
  implausible_speed: 'Kecepatan tidak wajar sejak lokasi sebelumnya',
  duplicate_fix: 'Lokasi persis sama dengan lokasi sebelumnya (kemungkinan palsu)',
  suspicious_accuracy: 'Akurasi ≤ 1 m (tidak wajar untuk GPS ponsel)',
  clock_skew: 'Waktu ponsel tidak cocok dengan server',
  offline: 'Dikirim belakangan (tanpa sinyal)',
};

/** flagText("duplicate_fix") → its explanation in Indonesian; an unknown
 *  flag is shown as it came. */
export function flagText(f) {
  return FLAGS[f] || String(f || '');
}

const ATTACHMENT = { bast: 'BAST', photo: 'Foto', payment_proof: 'Bukti bayar' };

/** attachmentLabel("bast") → "BAST". */
export function attachmentLabel(k) {
  return ATTACHMENT[k] || String(k || '');
}

/** bytesText(1536) → "1,5 KB". */
export function bytesText(n) {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${(Math.round(v * 10) / 10).toFixed(1).replace('.', ',')} ${units[i]}`;
}

// Audit actions (the state machine's event names, src/domain/states.c, and
// the handlers' own). Written with or without an "entity." prefix.
const ACTIONS = {
  create: 'Tiket dibuat',
  claim: 'Mengambil job',
  claim_partial: 'Mengambil job',
  fill: 'Mengambil slot terakhir (teknisi lengkap)',
  release: 'Slot dilepas ke papan',
  replace: 'Teknisi digantikan',
  checkin: 'Check-in',
  first_checkin: 'Check-in pertama: pekerjaan dimulai',
  checkout: 'Check-out',
  complete: 'Menyelesaikan pekerjaan',
  all_done: 'Semua teknisi selesai',
  cancel: 'Tiket dibatalkan',
  mark_late: 'Ditandai terlambat',
  mark_no_show: 'Ditandai tidak datang',
  late: 'Ditandai terlambat',
  no_show: 'Ditandai tidak datang',
  auto_replace: 'Teknisi digantikan otomatis (tidak datang)',
  released: 'Slot dilepas ke papan',
  upload: 'Mengunggah lampiran',
  attachment: 'Mengunggah lampiran',
  attach: 'Mengunggah lampiran',
  letter: 'Surat Tugas dibuat',
  start_invoice: 'Mulai penagihan',
  send_invoice: 'Invoice dikirim',
  pay: 'Pembayaran diterima',
  close: 'Tiket ditutup',
  update: 'Tiket diubah',
  status: 'Status tiket berubah',
  // Money (docs/money.md "Audit and the ticket's timeline"): written with
  // their prefix, since "create" alone is the ticket's own.
  'invoice.create': 'Invoice dibuat',
  'invoice.edit': 'Invoice diubah',
  'invoice.submit': 'Invoice diajukan ke Sales',
  'invoice.approve': 'Invoice disetujui Sales',
  'invoice.revise': 'Sales minta revisi invoice',
  'invoice.send': 'Invoice dikirim ke pelanggan',
  'invoice.resend': 'Invoice dikirim ulang ke pelanggan',
  'payment.record': 'Pembayaran dicatat',
  'payment.void': 'Pembayaran dibatalkan',
  'rating.create': 'Pelanggan memberi penilaian',
  'ticket.close': 'Tiket ditutup',
};

/** actionLabel("ticket.cancel") → "Tiket dibatalkan"; unknown actions are
 *  shown with their words ("foo_bar" → "foo bar"). */
export function actionLabel(a) {
  const s = String(a || '');
  if (ACTIONS[s]) return ACTIONS[s];
  const tail = s.includes('.') ? s.slice(s.lastIndexOf('.') + 1) : s;
  if (ACTIONS[tail]) return ACTIONS[tail];
  return s.replace(/[._]+/g, ' ').trim();
}

/** stateLabel("in_progress") → the ticket's label, else the assignment's,
 *  for a timeline's before/after values. */
export function stateLabel(s) {
  return STATUS[s] || ASSIGNMENT[s] || INVOICE_STATUS[s] || String(s || '');
}

/** phoneIntl("0812-1111-0001") → "6281211110001": the digits with the
 *  country code, for tel:+… and wa.me/… ('' when there are too few digits). */
export function phoneIntl(p) {
  let d = String(p || '').replace(/\D+/g, '');
  if (d.startsWith('0')) d = `62${d.slice(1)}`;
  else if (d.startsWith('8')) d = `62${d}`;
  return d.length >= 8 ? d : '';
}

// ---- the CS monitor (docs/monitor.md) -------------------------------------------

const MONITOR = {
  waiting: 'Menunggu',
  on_time: 'Tepat waktu',
  late: 'Terlambat',
  no_show: 'Tidak datang',
  checked_in: 'Sudah check-in',
  done: 'Selesai',
  replaced: 'Digantikan',
  cancelled: 'Dibatalkan',
};

/** The monitor's states in the order of its counters. */
export const MONITOR_STATES = ['waiting', 'late', 'no_show', 'on_time', 'checked_in', 'done', 'replaced'];

/** monitorLabel("no_show") → "Tidak datang": one technician's visit state. */
export function monitorLabel(s) {
  return MONITOR[s] || ASSIGNMENT[s] || String(s || '');
}

/** minutesText(12) → "12 menit"; under a minute → "kurang dari 1 menit". */
export function minutesText(n) {
  const m = Math.floor(Number(n));
  if (!Number.isFinite(m) || m < 1) return 'kurang dari 1 menit';
  return `${m} menit`;
}

/** minutesLate(scheduledIso, now) → whole minutes since the scheduled time
 *  (0 before it or for a bad value). */
export function minutesLate(iso, now = Date.now()) {
  const t = Date.parse(iso || '');
  if (Number.isNaN(t)) return 0;
  return Math.max(0, Math.floor((Number(now) - t) / 60000));
}

/** lateText("late", 12) → "Terlambat 12 menit" (also for "no_show", whose
 *  badge already says "Tidak datang"); '' for the other states. */
export function lateText(state, minutes) {
  if (state === 'late' || state === 'no_show') return `Terlambat ${minutesText(minutes)}`;
  return '';
}

// ---- money: invoices, payments (docs/money.md) -----------------------------------

const INVOICE_STATUS = {
  draft: 'Draft',
  pending_approval: 'Menunggu Approval',
  approved: 'Disetujui',
  revision_requested: 'Perlu Revisi',
  sent: 'Terkirim',
  paid: 'Lunas',
};

/** invoiceStatusLabel("pending_approval") → "Menunggu Approval". */
export function invoiceStatusLabel(s) {
  return INVOICE_STATUS[s] || String(s || '');
}

/** The invoice states in the order of the approval loop. */
export const INVOICE_STATUSES = Object.keys(INVOICE_STATUS);

const METHOD = { transfer: 'Transfer', cash: 'Tunai', qris: 'QRIS' };

/** The payment methods the API takes, in the order of the form's select. */
export const PAYMENT_METHODS = Object.keys(METHOD);

/** paymentMethodLabel("cash") → "Tunai". */
export function paymentMethodLabel(m) {
  return METHOD[m] || String(m || '');
}

// invoice_history actions (docs/money.md "revisions"): "payment" is a
// payment that leaves a balance, "pay" the one that covers the total;
// "unpay" is the schema comment's older name of void_payment.
const INVOICE_ACTION = {
  create: 'Invoice dibuat',
  edit: 'Invoice diubah',
  submit: 'Diajukan ke Sales',
  approve: 'Disetujui Sales',
  revise: 'Sales minta revisi',
  send: 'Dikirim ke pelanggan',
  resend: 'Dikirim ulang ke pelanggan',
  payment: 'Pembayaran dicatat',
  pay: 'Pembayaran dicatat: lunas',
  void_payment: 'Pembayaran dibatalkan',
  unpay: 'Pembayaran dibatalkan',
};

/** invoiceActionLabel("revise") → "Sales minta revisi"; one row of an
 *  invoice's history. */
export function invoiceActionLabel(a) {
  return INVOICE_ACTION[a] || String(a || '').replace(/[._]+/g, ' ').trim();
}

/** parseRupiah("1.250.000") → 1250000: what a person types as an amount.
 *  Takes "1250000", "1.250.000", "Rp 1.250.000", "1.250.000,-",
 *  "1.250.000,00" and "1,250,000"; null for anything else (empty, a
 *  fraction of a Rupiah, letters, a minus, more than 10^15). */
export function parseRupiah(text) {
  let s = String(text === null || text === undefined ? '' : text).trim();
  s = s.replace(/^rp\.?\s*/i, '').replace(/\s+/g, '');
  s = s.replace(/,(-|0{1,2})$/, ''); // "1.250.000,-" / ",00": no cents
  if (/^\d{1,3}(,\d{3})+$/.test(s)) s = s.replace(/,/g, ''); // 1,250,000
  if (/^\d{1,3}(\.\d{3})+$/.test(s)) s = s.replace(/\./g, ''); // 1.250.000
  if (!/^\d+$/.test(s)) return null;
  s = s.replace(/^0+(?=\d)/, '');
  if (s.length > 15) return null;
  return Number(s);
}

/** rupiahPlain(1250000) → "1.250.000": an amount as it is typed back into
 *  an input (rupiah() without "Rp "); '' for a value that is not one. */
export function rupiahPlain(n) {
  const r = rupiah(n);
  return r === 'Rp -' ? '' : r.replace(/^(-?)Rp /, '$1');
}

/** taxRateText(1100) → "11%", taxRateText(1150) → "11,5%", from basis points. */
export function taxRateText(bp) {
  const n = Number(bp);
  if (!Number.isInteger(n) || n < 0) return '';
  const whole = Math.floor(n / 100);
  const frac = String(n % 100).padStart(2, '0').replace(/0+$/, '');
  return frac ? `${whole},${frac}%` : `${whole}%`;
}

function big(v) {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  return null;
}

/**
 * invoiceTotals(items, discount, taxRateBp) → {lines, subtotal, discount,
 * taxable, tax, total}, as the server computes them (docs/money.md
 * "Amounts"), in BigInt so that 10^12 × 10^4 stays exact:
 *   line_total = qty × unit_price; subtotal = Σ line_total;
 *   taxable = subtotal − discount; tax = round_half_up(taxable × bp / 10000);
 *   total = taxable + tax.
 * items are {qty, unit_price} with integers or null (a field not filled
 * in yet: its line is null and counts 0). taxRateBp null (not known yet,
 * a new invoice) gives tax and total null; so does a discount above the
 * subtotal (the server refuses it).
 */
export function invoiceTotals(items, discount, taxRateBp) {
  const lines = (Array.isArray(items) ? items : []).map((it) => {
    const q = big(it && it.qty);
    const p = big(it && it.unit_price);
    return q === null || p === null ? null : q * p;
  });
  const subtotal = lines.reduce((a, l) => (l === null ? a : a + l), 0n);
  const disc = big(discount) ?? 0n;
  const taxable = subtotal - disc;
  const bp = big(taxRateBp);
  let tax = null;
  let total = null;
  if (bp !== null && taxable >= 0n) {
    tax = (taxable * bp + 5000n) / 10000n; // half-up: non-negative, so + 0.5 then truncate
    total = taxable + tax;
  }
  return { lines, subtotal, discount: disc, taxable, tax, total };
}

/** messageStatusText({channel, status, last_error, attempts}) → one outbox
 *  row's state as CS reads it ("Menunggu dikirim (WhatsApp belum aktif)"). */
export function messageStatusText(m) {
  if (!m) return '';
  const ch = m.channel === 'telegram' ? 'Telegram' : 'WhatsApp';
  const err = m.last_error ? String(m.last_error) : '';
  switch (m.status) {
    case 'queued':
      return err ? `Menunggu dikirim ulang (${err})` : `Menunggu dikirim (${ch} belum aktif)`;
    case 'sending':
      return 'Sedang dikirim…';
    case 'sent':
      return 'Terkirim';
    case 'failed':
      return err ? `Gagal dikirim: ${err}` : 'Gagal dikirim';
    case 'unreachable':
      return err ? `Nomor tidak dapat dihubungi: ${err}` : 'Nomor tidak dapat dihubungi';
    case 'cancelled':
      return 'Dibatalkan';
    default:
      return String(m.status || '');
  }
}

/** jakartaLocalInput(date) → "2026-12-01T09:00", the value of an
 *  <input type=datetime-local> showing that instant on a Jakarta clock. */
export function jakartaLocalInput(v = new Date()) {
  const d = toDate(v);
  if (!d) return '';
  const p = parts(d);
  return `${jakartaYmd(d)}T${p.hour}:${p.minute}`;
}

/** durationText(7500) → "2 jam 5 menit": how long something has waited
 *  (the approval queue's age); days from 24 hours on ("3 hari 4 jam"). */
export function durationText(seconds) {
  const s = Math.floor(Number(seconds));
  if (!Number.isFinite(s) || s < 60) return 'kurang dari 1 menit';
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} menit`;
  const hr = Math.floor(m / 60);
  if (hr < 24) return m % 60 ? `${hr} jam ${m % 60} menit` : `${hr} jam`;
  const d = Math.floor(hr / 24);
  return hr % 24 ? `${d} hari ${hr % 24} jam` : `${d} hari`;
}
