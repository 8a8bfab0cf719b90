/*
 * render/invoice: the customer's invoice as a PDF (docs/money.md, DESIGN.md §7).
 *
 * A4 portrait, Indonesian labels, as many pages as the items need:
 *   - the letterhead (company, address, phone) over a double rule;
 *   - the title INVOICE with the number, issue date, due date and the
 *     ticket code beside it, and the customer (name, address, phone);
 *   - the items table (No., Uraian, Jumlah, Harga Satuan, Total), each
 *     description wrapped in its cell; a table that runs over a page goes
 *     on under a repeated header row on the next one, and every page after
 *     the first opens with the invoice number;
 *   - Subtotal, Diskon, Pajak (x%), Total, Dibayar and Sisa as "Rp 1.250.000"
 *     (money_format_idr), and a "LUNAS" stamp when the invoice is paid;
 *   - the CS note ("Catatan"), the payment instructions (cfg->pay_bank), and
 *     a QR code of the public invoice page with that URL printed under it;
 *   - a draft ("DRAF — belum disetujui/dikirim": a banner under the title,
 *     a faint diagonal "DRAF" across every page, and no QR code) while the
 *     invoice has not been sent;
 *   - a footer on every page: the number and "Halaman i dari n".
 * Dates are printed in Jakarta time (UTC+7, no daylight saving) the
 * Indonesian way: "3 Desember 2026".
 *
 * Nothing is computed here: the amounts are printed as given (the server's
 * money code and the database's checks made them), so the PDF always says
 * what the invoice JSON says. Amounts of any int64 value print in full: a
 * figure too wide for its cell is set in a smaller size, never cut.
 *
 * Text: every string is UTF-8, drawn with the embedded TrueType font at
 * font_path (Liberation Sans; see README.md for why not DejaVu), so names
 * like "Śantoso" or "Nguyễn" print and extract as written. Input is made
 * safe as in render/letter: NULL is "", invalid UTF-8 and characters beyond
 * U+FFFF become U+FFFD, control characters become spaces ('\n' starts a new
 * paragraph in note and pay_bank), and fields are cut, with "…", at the
 * RENDER_INV_MAX_* limits below (the API's own limits are well inside them).
 *
 * Memory: the caller owns d and everything it points to, and out; nothing
 * is kept after the call. The PDF is appended to out; on failure out keeps
 * exactly the bytes it had before the call.
 *
 * Threads: for the rendering pool's worker threads. No global state, no
 * lock, no logging, one libharu document per call: any number of calls may
 * run at once, and the same input gives the same bytes (no dates or ids of
 * its own). It blocks (it reads the font files and works the CPU for tens
 * of milliseconds): never call it on the event loop.
 *
 * Errors: 0 on success; -1 with a one-line English message in err (when err
 * is not NULL and errlen > 0) naming the step that failed. d == NULL, out ==
 * NULL, a missing or unreadable font, more than RENDER_INV_MAX_ITEMS items,
 * or a public_url longer than RENDER_INV_MAX_URL are errors; nothing aborts.
 */
#ifndef GSS_RENDER_INVOICE_H
#define GSS_RENDER_INVOICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Input limits. Items beyond the maximum are refused, never left out: an
 * invoice that prints fewer lines than it charges for is wrong. Text
 * limits are in bytes of UTF-8 (cut at a character boundary). */
#define RENDER_INV_MAX_ITEMS   200  /* the API allows 50 */
#define RENDER_INV_MAX_DESC    800  /* an item's description (the API: 200 characters) */
#define RENDER_INV_MAX_NOTE    4000 /* note and pay_bank (the API: 1000 characters) */
#define RENDER_INV_MAX_ADDRESS 600  /* addresses */
#define RENDER_INV_MAX_FIELD   200  /* every other text field */
#define RENDER_INV_MAX_URL     512  /* public_url: longer is an error, never cut */

struct invoice_line {
    const char *description; /* UTF-8 */
    int64_t     qty, unit_price, line_total;
};

struct invoice_doc {
    const char *company, *company_address, *company_phone;         /* letterhead (config) */
    const char *number;                                            /* "INV-2612-0001" */
    const char *ticket_code;                                       /* "GSS-2612-0003" */
    const char *customer_name, *customer_address, *customer_phone; /* phone as it should print */
    /* Unix seconds; 0 prints "-". issued: the first send (or, on a draft,
     * the day it is printed); due: sent + GSS_INVOICE_DUE_DAYS; paid: when
     * the last payment covered the total (printed in the stamp). */
    int64_t                    issued_s, due_s, paid_s;
    const struct invoice_line *items;
    size_t                     nitems;                                               /* items == NULL counts as none */
    int64_t                    subtotal, discount, tax, total, paid_amount, balance; /* Rupiah */
    int                        tax_rate_bp; /* 1100 prints "Pajak (11%)", 1150 "Pajak (11,5%)" */
    const char                *note;        /* the CS note; "" or NULL: no Catatan section */
    const char                *pay_bank;    /* payment instructions (config); '\n' breaks lines */
    /* The public invoice page: encoded in the QR code and printed under it.
     * NULL or "": no QR code (and, on a sent invoice, a line saying the
     * online link is not available). */
    const char *public_url;
    bool        draft;                      /* not sent yet: the DRAF marks; public_url is then ignored */
    bool        paid;                       /* the LUNAS stamp */
    const char *font_path, *font_bold_path; /* TTF files; bold may be NULL => regular */
};

/* Renders the invoice into out (appended). 0, or -1 with err filled. Thread-safe. */
int render_invoice_pdf(const struct invoice_doc *d, struct buf *out, char *err, size_t errlen);

/* "3 Desember 2026": the Jakarta date of a Unix time, into out (n >= 32 is
 * always enough; a smaller n truncates); "-" for 0 or a time gmtime cannot
 * represent. Pure and thread-safe: the dates the PDF prints, for callers
 * that show the same date elsewhere. */
void render_date_id(int64_t epoch_s, char *out, size_t n);

#endif
