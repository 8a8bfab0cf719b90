// Shared set-up for the money tests (docs/money.md): a ticket brought to
// work_done through the real field API (claim, check-in, check-out, BAST,
// Selesai), and invoices walked through the approval loop by the real
// invoice API. Nothing here writes PostgreSQL behind the server's back.

import assert from 'node:assert/strict';

import { http } from './harness.mjs';
import {
  api, fieldSetup, fix, getTicket, makePdf, SITE, ticketFor, upload, waitStatus,
} from './field_util.mjs';

/** The key every money test's gssd derives public links from (hex, 32 bytes). */
export const LINK_KEY = '6c696e6b2d6b65792d666f722d7465737473206f6e6c792d2d2d2d2d2d2d2d21';

/** moneySetup(opts) → fieldSetup's ctx, with GSS_LINK_KEY set and a roomy
 *  public rate limit unless opts.env says otherwise. */
export async function moneySetup({ env = {}, techs = 20, tag = 'm', ...rest } = {}) {
  return fieldSetup({
    techs, tag, ...rest,
    env: { GSS_LINK_KEY: LINK_KEY, GSS_PUBLIC_RATE_PER_MIN: 100000, GSS_PUBLIC_RATE_BURST: 100000, ...env },
  });
}

/** workDone(ctx, {techs: n}) → {ticket, techs}: a ticket needing n, claimed
 *  by n fresh technicians, each checked in and out at SITE, a BAST uploaded,
 *  and Selesai pressed; asserts every step and that the ticket is work_done. */
export async function workDone(ctx, { techs: n = 1, extra = {} } = {}) {
  const techs = [];
  for (let i = 0; i < n; i++) techs.push(ctx.tech());
  const ticket = await ticketFor(ctx, techs, extra);
  await waitStatus(ctx, ticket.id, 'assigned');
  for (const t of techs) {
    const r = await fix(ctx.g, t.token, ticket.id, 'in', { lat: SITE.lat, lng: SITE.lng, accuracy_m: 10 });
    assert.equal(r.status, 200, `check-in ${t.username}: ${r.status} ${r.text}`);
  }
  const b = await upload(ctx.g, techs[0].token, ticket.id, 'bast', makePdf(`BAST ${ticket.id}`));
  assert.equal(b.status, 201, `BAST upload: ${b.status} ${b.text}`);
  for (const t of techs) {
    const r = await fix(ctx.g, t.token, ticket.id, 'out', { lat: SITE.lat, lng: SITE.lng, accuracy_m: 10 });
    assert.equal(r.status, 200, `check-out ${t.username}: ${r.status} ${r.text}`);
  }
  // Each technician presses Selesai (docs/fieldwork.md: work_done once
  // every active assignment is done).
  for (const tech of techs) {
    const c = await api(ctx.g, tech.token, 'POST', `/api/v1/tickets/${ticket.id}/complete`);
    assert.equal(c.status, 200, `complete ${tech.username}: ${c.status} ${c.text}`);
  }
  const t = await getTicket(ctx.g, ctx.cs, ticket.id);
  assert.equal(t.status, 'work_done', `ticket ${ticket.id} is work_done: ${t.status}`);
  return { ticket: t, techs };
}

/** Two lines and a discount: subtotal 1.350.000, discount 50.000. */
export function sampleItems() {
  return {
    items: [
      { description: 'Ganti kompresor AC 1 PK', qty: 1, unit_price: 1250000 },
      { description: 'Isi freon R32', qty: 2, unit_price: 50000 },
    ],
    discount: 50000,
    note: 'Garansi 30 hari',
  };
}

/** inv(ctx, token, method, path, body) → http result for /api/v1/invoices... */
export function inv(ctx, token, method, p, body) {
  return api(ctx.g, token, method, p, body);
}

/** draftInvoice(ctx, ticketId, body) → the 201 invoice (asserts 201, draft). */
export async function draftInvoice(ctx, ticketId, body = sampleItems()) {
  const r = await api(ctx.g, ctx.cs, 'POST', `/api/v1/tickets/${ticketId}/invoice`, body);
  assert.equal(r.status, 201, `create invoice: ${r.status} ${r.text}`);
  assert.equal(r.json.status, 'draft', `a new invoice is a draft: ${r.text}`);
  return r.json;
}

/** step(ctx, token, id, action, body, status) → the invoice after POST
 *  /api/v1/invoices/{id}/{action} (asserts the status, 200 by default). */
export async function step(ctx, token, id, action, body, status = 200) {
  const r = await api(ctx.g, token, 'POST', `/api/v1/invoices/${id}/${action}`, body);
  assert.equal(r.status, status, `${action} invoice ${id}: ${r.status} ${r.text}`);
  return r.json;
}

/** approvedInvoice(ctx, {techs, body}) → {ticket, techs, invoice}: work done,
 *  drafted, submitted and approved. */
export async function approvedInvoice(ctx, { techs = 1, body } = {}) {
  const w = await workDone(ctx, { techs });
  const d = await draftInvoice(ctx, w.ticket.id, body);
  await step(ctx, ctx.cs, d.id, 'submit');
  const a = await step(ctx, ctx.sales, d.id, 'approve');
  assert.equal(a.status, 'approved', `approved: ${JSON.stringify(a)}`);
  return { ...w, invoice: a };
}

/** sentInvoice(ctx, opts) → {ticket, techs, invoice, invoiceToken,
 *  ratingToken}: approved and sent; the tokens are the last path segment of
 *  invoice_url and rating_url. */
export async function sentInvoice(ctx, opts = {}) {
  const a = await approvedInvoice(ctx, opts);
  const s = await step(ctx, ctx.cs, a.invoice.id, 'send');
  assert.equal(s.status, 'sent', `sent: ${JSON.stringify(s)}`);
  assert.ok(typeof s.invoice_url === 'string' && typeof s.rating_url === 'string', `send answers the links: ${JSON.stringify(s)}`);
  return {
    ...a,
    invoice: s,
    invoiceToken: s.invoice_url.split('/').pop(),
    ratingToken: s.rating_url.split('/').pop(),
  };
}

/** pub(ctx, method, path, body, headers) → http result without credentials. */
export function pub(ctx, method, p, body, headers = {}) {
  const h = { ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  return http(`${ctx.g.url}${p}`, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), timeout: 20000,
  });
}

export { api, getTicket, makePdf, upload };
