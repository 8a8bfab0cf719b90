/*
 * invoice_pdf: the invoice PDF (invoice_pdf.c), for staff and for the
 * customer's public link (docs/money.md).
 *
 * Threads: loop thread only.
 */
#ifndef GSS_HANDLERS_INVOICE_PDF_H
#define GSS_HANDLERS_INVOICE_PDF_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"

/* Answers req with the PDF of invoice_id (render/invoice.h, rendered on
 * svc->render): 200 application/pdf, Content-Disposition inline with the
 * invoice number as the filename, X-Content-Type-Options nosniff. A draft
 * (not sent yet) is marked DRAF and has no QR code; a sent one carries the
 * QR code of its public page, derived from the stored link (auth/links.h).
 * 404 not_found (no such invoice), 503 with Retry-After (database down, or
 * the render queue full), 500 (the render failed; logged).
 *
 * public_view false: the staff copy, with Cache-Control "private,
 * no-store" and English error messages. public_view true: the customer's
 * copy; public.c has already checked the link (the invoice exists, the
 * link has not expired) and set its private headers (Cache-Control
 * no-store, Referrer-Policy, X-Robots-Tag), so none is added here; error
 * messages are Indonesian. The PDF itself is the same either way. */
void invoice_pdf_respond(struct http_req *req, int64_t invoice_id, bool public_view);

#endif
