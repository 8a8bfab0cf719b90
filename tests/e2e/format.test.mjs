// The web app's formatting helpers (web/js/format.js), run in node: they use
// no DOM, only Intl, so what node computes is what Chromium shows (both
// carry full ICU data).

import { it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { SOURCE_DIR } from '../integration/harness.mjs';

const f = await import(pathToFileURL(path.join(SOURCE_DIR, 'web/js/format.js')).href);

it('rupiah groups thousands with dots', () => {
  assert.equal(f.rupiah(1250000), 'Rp 1.250.000');
  assert.equal(f.rupiah(0), 'Rp 0');
  assert.equal(f.rupiah(999), 'Rp 999');
  assert.equal(f.rupiah(1000), 'Rp 1.000');
  assert.equal(f.rupiah(-50000), '-Rp 50.000');
  assert.equal(f.rupiah('12345678901234567890'), 'Rp 12.345.678.901.234.567.890');
  assert.equal(f.rupiah(12345678901234567890n), 'Rp 12.345.678.901.234.567.890');
  assert.equal(f.rupiah('007'), 'Rp 7');
  assert.equal(f.rupiah('-0'), 'Rp 0');
  // Not an integer amount: visible as unknown, never as a number.
  for (const bad of [1.5, NaN, Infinity, '1.000', '', null, undefined, {}]) assert.equal(f.rupiah(bad), 'Rp -');
});

it('times show in Jakarta whatever the zone of the device', () => {
  assert.equal(f.jakartaDateTime('2026-12-01T02:00:00Z'), 'Sel, 1 Des 2026 09.00 WIB');
  assert.equal(f.jakartaDateTime('2026-11-30T17:30:00Z'), 'Sel, 1 Des 2026 00.30 WIB');
  assert.equal(f.jakartaDateTime('2026-11-30T16:59:00Z'), 'Sen, 30 Nov 2026 23.59 WIB');
  assert.equal(f.jakartaDate('2026-12-01T02:00:00Z'), 'Sel, 1 Des 2026');
  assert.equal(f.jakartaTime('2026-12-01T02:00:00Z'), '09.00 WIB');
  assert.equal(f.jakartaYmd('2026-11-30T17:00:00Z'), '2026-12-01');
  assert.equal(f.jakartaDateTime('bukan tanggal'), '');
  assert.equal(f.jakartaDateTime(''), '');
  assert.equal(f.jakartaDateTime(null), '');
});

it('a Jakarta date and time typed in a form becomes the UTC instant', () => {
  assert.equal(f.jakartaLocalToUtc('2026-12-01', '09:00'), '2026-12-01T02:00:00Z');
  assert.equal(f.jakartaLocalToUtc('2026-12-01', '03:15'), '2026-11-30T20:15:00Z');
  assert.equal(f.jakartaLocalToUtc('2027-01-01', '00:00'), '2026-12-31T17:00:00Z');
  assert.equal(f.jakartaLocalToUtc('2026-12-01', '09:00:00'), '2026-12-01T02:00:00Z');
  assert.equal(f.jakartaLocalToUtc('2026-02-31', '09:00'), null);
  assert.equal(f.jakartaLocalToUtc('2026-12-01', '24:00'), null);
  assert.equal(f.jakartaLocalToUtc('', '09:00'), null);
  assert.equal(f.jakartaLocalToUtc('2026-12-01', ''), null);
  // Round trip.
  assert.equal(f.jakartaDateTime(f.jakartaLocalToUtc('2026-08-17', '10:00')), 'Sen, 17 Agu 2026 10.00 WIB');
});

it('day labels compare Jakarta calendar days', () => {
  const now = new Date('2026-11-30T18:00:00Z'); // 1 Dec, 01.00 WIB
  assert.equal(f.dayLabel('2026-12-01T02:00:00Z', now), 'Hari ini');
  assert.equal(f.dayLabel('2026-12-01T20:00:00Z', now), 'Besok'); // 2 Dec 03.00 WIB
  assert.equal(f.dayLabel('2026-11-30T10:00:00Z', now), 'Kemarin'); // 30 Nov 17.00 WIB
  assert.equal(f.dayLabel('2026-12-05T02:00:00Z', now), '');
  assert.equal(f.addDaysYmd('2026-12-31', 1), '2027-01-01');
  assert.equal(f.addDaysYmd('2028-02-28', 1), '2028-02-29');
});

it('phones, statuses and roles read in Indonesian', () => {
  assert.equal(f.phoneDisplay('6281211110001'), '+62 812-1111-0001');
  assert.equal(f.phoneDisplay('08123'), '08123');
  assert.equal(f.statusLabel('open'), 'Mencari teknisi');
  assert.equal(f.statusLabel('assigned'), 'Teknisi lengkap');
  assert.equal(f.statusLabel('paid'), 'Lunas');
  assert.equal(f.statusLabel('mystery'), 'mystery');
  assert.equal(f.roleLabel('ts'), 'Teknisi');
});
