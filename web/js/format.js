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
  return STATUS[s] || ASSIGNMENT[s] || String(s || '');
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
