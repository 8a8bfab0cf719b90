// The invoice screens' pure helpers, run in node (no DOM needed): the
// ticket timeline's folding of a close and its "before → after" text
// (views/ticketdetail.js), the state a notice belongs to and what counts as
// a change someone acts on (views/invoice.js flashKey, sig), the tax rate
// from GET /me, and whether the live feed is up. The expected values are
// written here from docs/money.md, not computed by the code under test.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { SOURCE_DIR } from '../integration/harness.mjs';

const td = await import(pathToFileURL(path.join(SOURCE_DIR, 'web/js/views/ticketdetail.js')).href);
const iv = await import(pathToFileURL(path.join(SOURCE_DIR, 'web/js/views/invoice.js')).href);

const row = (action, before, after, actor = 2) => ({ action, before, after, actor_id: actor, at: '2026-12-01T10:55:02Z', data: {} });

it('a move shows as before → after; nothing moved shows nothing', () => {
  assert.equal(td.changeText('sent', 'paid'), 'Terkirim → Lunas');
  assert.equal(td.changeText('sent', 'sent'), '', 'a partial payment leaves the invoice Terkirim: no arrow');
  assert.equal(td.changeText('awaiting_payment', 'awaiting_payment'), '');
  assert.equal(td.changeText(null, 'draft'), '– → Draft');
  assert.equal(td.changeText(null, null), '');
  assert.equal(td.changeText(undefined, undefined), '');
});

it('closing a ticket is one row: ticket.close keeps, its ticket.status paid → closed goes', () => {
  const story = [
    row('payment.record', 'sent', 'paid'),
    row('ticket.status', 'awaiting_payment', 'paid'),
    row('ticket.close', 'paid', 'closed'),
    row('ticket.status', 'paid', 'closed'),
  ];
  const out = td.foldTimeline(story);
  assert.deepEqual(out.map((e) => `${e.action} ${e.before}>${e.after}`),
    ['payment.record sent>paid', 'ticket.status awaiting_payment>paid', 'ticket.close paid>closed']);
  // The status row before the close folds too (the order the server writes
  // them in is not the contract).
  assert.deepEqual(td.foldTimeline([story[3], story[2]]).map((e) => e.action), ['ticket.close']);
  // A ticket.status that is not the close's own stays: another actor, or
  // another move next to it.
  assert.equal(td.foldTimeline([row('ticket.close', 'paid', 'closed', 2), row('ticket.status', 'paid', 'closed', 9)]).length, 2);
  assert.equal(td.foldTimeline([row('ticket.close', 'paid', 'closed'), row('ticket.status', 'closed', 'paid')]).length, 2);
  assert.equal(td.foldTimeline([row('ticket.status', 'paid', 'closed')]).length, 1, 'without a ticket.close nothing folds');
  assert.deepEqual(td.foldTimeline(null), []);
  assert.equal(td.foldTimeline(story).length, 3, 'the input is not changed');
  assert.equal(story.length, 4);
});

const inv = (o = {}) => ({
  status: 'sent', version: 2, total: 1332000, paid_amount: 0, ticket: { status: 'awaiting_payment' },
  payments: [], rating: null, revision_note: null,
  messages: [{ id: 9, channel: 'whatsapp', status: 'queued' }], links: { expires_at: '2026-12-31T00:00:00Z', rated: false },
  ...o,
});

it('a notice belongs to its state: a new state, version, payment or ticket state ends it', () => {
  const a = inv();
  assert.equal(iv.flashKey(a), iv.flashKey(inv({ messages: [] })), 'a message delivered is not a new state');
  for (const change of [{ status: 'paid' }, { version: 3 }, { paid_amount: 500000 }, { ticket: { status: 'paid' } }]) {
    assert.notEqual(iv.flashKey(a), iv.flashKey(inv(change)), JSON.stringify(change));
  }
  assert.equal(iv.flashKey(null), '');
});

it('sig: what someone acts on changed, not the message state or a link expiry', () => {
  const a = inv();
  assert.equal(iv.sig(a), iv.sig(inv({ messages: [{ id: 9, channel: 'whatsapp', status: 'sent' }] })));
  assert.equal(iv.sig(a), iv.sig(inv({ links: { expires_at: '2027-01-31T00:00:00Z', rated: false } })));
  const paid = { id: 4, amount: 500000, voided_at: null };
  for (const change of [{ status: 'paid' }, { version: 3 }, { total: 1 }, { paid_amount: 1 }, { ticket: { status: 'paid' } },
    { payments: [paid] }, { rating: { score: 5 } }, { revision_note: 'cek harga' }]) {
    assert.notEqual(iv.sig(a), iv.sig(inv(change)), JSON.stringify(change));
  }
  assert.notEqual(iv.sig(inv({ payments: [paid] })), iv.sig(inv({ payments: [{ ...paid, voided_at: '2026-12-01T00:00:00Z' }] })), 'a void');
});

it('the tax rate of GET /me: settings.tax_rate_bp when it is a rate, else unknown', () => {
  assert.equal(iv.taxRateOf({ user: {}, settings: { tax_rate_bp: 1100 } }), 1100);
  assert.equal(iv.taxRateOf({ settings: { tax_rate_bp: 0 } }), 0, 'no tax is a rate');
  for (const me of [null, {}, { user: {} }, { settings: {} }, { settings: { tax_rate_bp: '1100' } }, { settings: { tax_rate_bp: 11.5 } },
    { settings: { tax_rate_bp: -1 } }, { settings: { tax_rate_bp: 10001 } }, { settings: null }]) {
    assert.equal(iv.taxRateOf(me), null, JSON.stringify(me));
  }
});

it('the feed is live only when it says so', () => {
  assert.equal(iv.feedLive({ feed: { status: 'live' } }), true);
  for (const ctx of [null, {}, { feed: null }, { feed: { status: 'offline' } }, { feed: { status: 'connecting' } }, { feed: {} }]) {
    assert.equal(iv.feedLive(ctx), false, JSON.stringify(ctx));
  }
});
