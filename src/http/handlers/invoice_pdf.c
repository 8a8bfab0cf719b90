/*
 * The invoice PDF (docs/money.md): for staff, and for the customer's link.
 *
 * GET /api/v1/invoices/{id}/invoice.pdf (cs, sales, admin)
 *   -> invoice_pdf_respond(req, id, false)
 * GET /api/v1/public/invoices/{token}/invoice.pdf (public.c checks the
 *   token and its expiry, then) -> invoice_pdf_respond(req, id, true)
 *
 * invoice_pdf_respond:
 *   one statement reads everything the page prints: the invoice, its lines
 *   (JSON, in order), the customer, the ticket code, and the invoice link's
 *   nonce and stored hash;
 *   -> the public URL: the token derived from the nonce (auth/links.h), but
 *      only when its hash is the stored one (a link minted under another
 *      GSS_LINK_KEY opens nothing: printing it would send the customer to a
 *      404), then {GSS_PUBLIC_URL}/i/{token}, built as send builds it;
 *   -> a render job on the rendering pool (render/invoice.c, off the loop;
 *      a full queue is 503 with Retry-After);
 *   -> application/pdf, inline, named after the invoice number.
 *
 * No cache, unlike the Surat Tugas: a letter mints a token per render and
 * is fetched by every technician of a crew, so it is cached; an invoice
 * renders from four tables and the configuration (the customer's name can
 * change under an unchanged invoice version, a resend after a key change
 * gives a new URL), so a correct key is every input, and the statement
 * that gathers them is the one a miss needs anyway. What a cache would
 * save is the render, about 20 ms on a pool thread, on a document a
 * customer opens once or twice; the public route is rate-limited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yyjson.h>

#include "auth/links.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/workers.h"
#include "http/handlers/handlers.h"
#include "http/handlers/invoice_pdf.h"
#include "http/services.h"
#include "render/invoice.h"
#include "store/pg.h"

/* Columns of pdf_sql. */
enum {
    P_NUMBER,
    P_STATUS,
    P_TICKET_CODE,
    P_CUST_NAME,
    P_CUST_PHONE,
    P_CUST_ADDRESS,
    P_ISSUED,
    P_DUE,
    P_PAID_AT,
    P_SUBTOTAL,
    P_DISCOUNT,
    P_TAX_BP,
    P_TAX,
    P_TOTAL,
    P_PAID,
    P_BALANCE,
    P_NOTE,
    P_ITEMS,
    P_NONCE,
    P_HASH,
};

/* $1 = the invoice id. Times are whole Unix seconds (0: none). The issue
 * date of an invoice not sent yet is today's: a draft is printed as it
 * would be issued now. The address billed is the customer's, else the
 * ticket's (customers made from a WhatsApp chat may have none). */
static const char pdf_sql[] =
    "SELECT i.number, i.status, t.code, c.name, c.phone, coalesce(nullif(c.address, ''), t.address),"
    "       floor(extract(epoch FROM coalesce(i.sent_at, now())))::bigint,"
    "       coalesce(floor(extract(epoch FROM i.due_at))::bigint, 0),"
    "       coalesce(floor(extract(epoch FROM i.paid_at))::bigint, 0),"
    "       i.subtotal, i.discount, i.tax_rate_bp, i.tax, i.total, i.paid_amount, i.total - i.paid_amount, i.note,"
    "       coalesce((SELECT json_agg(json_build_array(it.description, it.qty, it.unit_price, it.line_total)"
    "                 ORDER BY it.pos) FROM invoice_items it WHERE it.invoice_id = i.id), '[]'),"
    "       encode(l.nonce, 'hex'), encode(l.token_hash, 'hex')"
    " FROM invoices i JOIN tickets t ON t.id = i.ticket_id JOIN customers c ON c.id = t.customer_id"
    " LEFT JOIN public_links l ON l.invoice_id = i.id AND l.kind = 'invoice'"
    " WHERE i.id = $1::bigint";

/* Everything the worker thread reads is owned here: the PGresult dies with
 * its callback, and the configuration is copied too, so the worker shares
 * nothing with the loop. Strings are NUL-separated in one buffer and
 * addressed by offset (the buffer moves while it grows). */
struct pdf_job {
    struct http_req     *req;
    int64_t              invoice_id;
    bool                 public_view;
    char                 filename[64];
    struct buf           strings;
    size_t               o_company, o_company_address, o_company_phone, o_number, o_code;
    size_t               o_cname, o_caddr, o_cphone, o_note, o_pay, o_url, o_font, o_bold;
    bool                 has_url, has_bold;
    size_t              *o_desc; /* per item */
    struct invoice_line *items;
    size_t               nitems;
    struct invoice_doc   doc; /* numbers and flags; its strings are set on the worker */
    /* the worker's results */
    struct buf out;
    int        rc;
    char       err[256];
};

static size_t job_str(struct pdf_job *j, const char *s)
{
    size_t off = j->strings.len;
    if (!s)
        s = "";
    buf_append(&j->strings, s, strlen(s) + 1);
    return off;
}

static void job_free(struct pdf_job *j)
{
    buf_free(&j->strings);
    buf_free(&j->out);
    free(j->o_desc);
    free(j->items);
    free(j);
}

/* ---- answers -------------------------------------------------------------------- */

/* Errors in the reader's language: the customer's copy speaks Indonesian. */
static void pdf_error(struct http_req *req, bool public_view, int status, const char *code, const char *en,
                      const char *id)
{
    if (status == 503)
        http_add_header(req, "Retry-After", "1");
    http_error(req, status, code, public_view ? id : en);
}

static void pdf_pg_error(struct http_req *req, bool public_view, enum pg_err err, const char *state, const char *msg)
{
    if (!public_view) {
        h_pg_error(req, "invoice_pdf", err, state, msg);
        return;
    }
    if (pg_http_status(err, state) == 503) {
        pdf_error(req, true, 503, "unavailable", NULL, "Layanan sedang sibuk. Coba lagi sebentar lagi.");
        return;
    }
    log_error("invoice_pdf", "query failed: %s %s", state ? state : "", msg ? msg : "");
    pdf_error(req, true, 500, "internal", NULL, "Terjadi kesalahan. Coba lagi nanti.");
}

/* ---- the worker ------------------------------------------------------------------ */

static void render_work(void *arg)
{
    struct pdf_job     *j = arg;
    const char         *s = j->strings.data;
    struct invoice_doc *d = &j->doc;

    for (size_t i = 0; i < j->nitems; i++)
        j->items[i].description = s + j->o_desc[i];
    d->company = s + j->o_company;
    d->company_address = s + j->o_company_address;
    d->company_phone = s + j->o_company_phone;
    d->number = s + j->o_number;
    d->ticket_code = s + j->o_code;
    d->customer_name = s + j->o_cname;
    d->customer_address = s + j->o_caddr;
    d->customer_phone = s + j->o_cphone;
    d->note = s + j->o_note;
    d->pay_bank = s + j->o_pay;
    d->public_url = j->has_url ? s + j->o_url : NULL;
    d->font_path = s + j->o_font;
    d->font_bold_path = j->has_bold ? s + j->o_bold : NULL;
    d->items = j->items;
    d->nitems = j->nitems;
    j->rc = render_invoice_pdf(d, &j->out, j->err, sizeof(j->err));
}

static void render_done(void *arg, int status)
{
    struct pdf_job  *j = arg;
    struct http_req *req = j->req;

    if (status != 0) {
        pdf_error(req, j->public_view, 503, "unavailable", "the server is shutting down; try again",
                  "Layanan sedang sibuk. Coba lagi sebentar lagi.");
        job_free(j);
        return;
    }
    if (j->rc != 0) {
        log_error("invoice_pdf", "rendering invoice %lld failed: %s", (long long)j->invoice_id, j->err);
        pdf_error(req, j->public_view, 500, "render_failed", "the invoice PDF could not be made",
                  "PDF invoice tidak dapat dibuat. Coba lagi nanti.");
        job_free(j);
        return;
    }
    char disp[96];
    snprintf(disp, sizeof(disp), "inline; filename=\"%s\"", j->filename);
    http_add_header(req, "Content-Disposition", disp);
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    /* The customer's copy gets public.c's private headers (Cache-Control:
     * no-store, Referrer-Policy, X-Robots-Tag) before it comes here. */
    if (!j->public_view)
        http_add_header(req, "Cache-Control", "private, no-store");
    size_t len = j->out.len;
    http_respond_owned(req, 200, "application/pdf", buf_steal(&j->out), len);
    job_free(j);
}

/* ---- the row --------------------------------------------------------------------- */

static int64_t col_i64(const PGresult *res, int col)
{
    return strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

/* An integer of a JSON array; false when it is not one that fits int64. */
static bool json_i64(yyjson_val *v, int64_t *out)
{
    if (yyjson_is_sint(v)) {
        *out = yyjson_get_sint(v);
        return true;
    }
    if (yyjson_is_uint(v) && yyjson_get_uint(v) <= (uint64_t)INT64_MAX) {
        *out = (int64_t)yyjson_get_uint(v);
        return true;
    }
    return false;
}

/* The lines from the statement's JSON: [[description, qty, unit_price,
 * line_total], ...]. 0, or -1 when it is not that shape. */
static int job_items(struct pdf_job *j, const char *json, size_t len)
{
    yyjson_doc *doc = yyjson_read(json, len, 0);
    yyjson_val *arr = yyjson_doc_get_root(doc);
    int         rc = -1;

    if (!yyjson_is_arr(arr))
        goto out;
    j->nitems = yyjson_arr_size(arr);
    if (j->nitems > RENDER_INV_MAX_ITEMS)
        goto out; /* the database allows it, the API never writes it */
    j->items = xcalloc(j->nitems ? j->nitems : 1, sizeof(*j->items));
    j->o_desc = xcalloc(j->nitems ? j->nitems : 1, sizeof(*j->o_desc));
    size_t      idx, max;
    yyjson_val *row;
    yyjson_arr_foreach(arr, idx, max, row)
    {
        struct invoice_line *l = &j->items[idx];
        if (!yyjson_is_arr(row) || yyjson_arr_size(row) != 4 || !yyjson_is_str(yyjson_arr_get(row, 0)) ||
            !json_i64(yyjson_arr_get(row, 1), &l->qty) || !json_i64(yyjson_arr_get(row, 2), &l->unit_price) ||
            !json_i64(yyjson_arr_get(row, 3), &l->line_total))
            goto out;
        j->o_desc[idx] = job_str(j, yyjson_get_str(yyjson_arr_get(row, 0)));
    }
    rc = 0;
out:
    yyjson_doc_free(doc);
    return rc;
}

/* The public URL into url (size n) when the stored link still opens under
 * this process's key: true, or false (no link yet, or a link the key can
 * no longer derive; that one is logged, never its token). */
static bool job_url(struct http_req *req, int64_t id, const PGresult *res, char *url, size_t n)
{
    const struct links *keys = req->svc->links;
    const char         *nh = PQgetvalue(res, 0, P_NONCE), *hh = PQgetvalue(res, 0, P_HASH);
    uint8_t             nonce[LINKS_NONCE_LEN], stored[LINKS_HASH_LEN], want[LINKS_HASH_LEN];
    char                token[LINKS_TOKEN_SIZE];

    if (PQgetisnull(res, 0, P_NONCE) || PQgetisnull(res, 0, P_HASH))
        return false;
    if (!keys) {
        log_warn("invoice_pdf", "invoice %lld: no link key in this process; the PDF has no QR code", (long long)id);
        return false;
    }
    if (strlen(nh) != 2 * LINKS_NONCE_LEN || crypto_unhex(nh, strlen(nh), nonce) != LINKS_NONCE_LEN ||
        strlen(hh) != 2 * LINKS_HASH_LEN || crypto_unhex(hh, strlen(hh), stored) != LINKS_HASH_LEN ||
        links_expected_hash(keys, LINKS_INVOICE, nonce, want) != 0 || !links_hash_eq(stored, want)) {
        log_warn("invoice_pdf",
                 "invoice %lld: its link no longer matches GSS_LINK_KEY; the PDF has no QR code "
                 "until the invoice is sent again",
                 (long long)id);
        return false;
    }
    if (links_token(keys, LINKS_INVOICE, nonce, token) < 0)
        return false;
    /* As send writes invoice_url: GSS_PUBLIC_URL without trailing slashes. */
    const char *base = req->svc->cfg->public_url ? req->svc->cfg->public_url : "";
    size_t      bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    int w = snprintf(url, n, "%.*s/i/%s", (int)bl, base, token);
    return w > 0 && (size_t)w < n;
}

/* The number as a filename: it is INV-YYMM-NNNN, but nothing that could
 * break the header gets through. */
static void job_filename(struct pdf_job *j, const char *number)
{
    size_t o = 0;
    for (const char *p = number; *p && o < sizeof(j->filename) - 5; p++) {
        char ch = *p;
        bool ok =
            (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
        j->filename[o++] = ok ? ch : '_';
    }
    if (o == 0)
        j->filename[o++] = 'x';
    memcpy(j->filename + o, ".pdf", 5);
}

static void on_pdf_row(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct pdf_job      *j = ud;
    struct http_req     *req = j->req;
    struct gss_services *svc = req->svc;

    if (err != PG_OK) {
        pdf_pg_error(req, j->public_view, err, state, msg);
        job_free(j);
        return;
    }
    if (PQntuples(res) == 0) {
        pdf_error(req, j->public_view, 404, "not_found", "no such invoice", "Invoice tidak ditemukan.");
        job_free(j);
        return;
    }
    if (job_items(j, PQgetvalue(res, 0, P_ITEMS), (size_t)PQgetlength(res, 0, P_ITEMS)) < 0) {
        log_error("invoice_pdf", "invoice %lld: its lines cannot be printed", (long long)j->invoice_id);
        pdf_error(req, j->public_view, 500, "internal", "the invoice PDF could not be made",
                  "PDF invoice tidak dapat dibuat. Coba lagi nanti.");
        job_free(j);
        return;
    }

    const struct gss_config *cfg = svc->cfg;
    const char              *status = PQgetvalue(res, 0, P_STATUS);
    bool                     sent = !strcmp(status, "sent") || !strcmp(status, "paid");
    struct invoice_doc      *d = &j->doc;

    job_filename(j, PQgetvalue(res, 0, P_NUMBER));
    j->o_company = job_str(j, cfg->company_name);
    j->o_company_address = job_str(j, cfg->company_address);
    j->o_company_phone = job_str(j, cfg->company_phone);
    j->o_pay = job_str(j, cfg->pay_bank);
    j->o_font = job_str(j, cfg->font_path);
    j->has_bold = cfg->font_bold_path && cfg->font_bold_path[0];
    j->o_bold = job_str(j, cfg->font_bold_path);
    j->o_number = job_str(j, PQgetvalue(res, 0, P_NUMBER));
    j->o_code = job_str(j, PQgetvalue(res, 0, P_TICKET_CODE));
    j->o_cname = job_str(j, PQgetvalue(res, 0, P_CUST_NAME));
    j->o_caddr = job_str(j, PQgetvalue(res, 0, P_CUST_ADDRESS));
    {
        char phone[48]; /* stored as 62...: printed the way people dial it */
        snprintf(phone, sizeof(phone), "+%s", PQgetvalue(res, 0, P_CUST_PHONE));
        j->o_cphone = job_str(j, phone);
    }
    j->o_note = job_str(j, PQgetvalue(res, 0, P_NOTE));
    if (sent) {
        char url[RENDER_INV_MAX_URL + 1];
        j->has_url = job_url(req, j->invoice_id, res, url, sizeof(url));
        if (j->has_url)
            j->o_url = job_str(j, url);
    }

    d->issued_s = col_i64(res, P_ISSUED);
    d->due_s = col_i64(res, P_DUE);
    d->paid_s = col_i64(res, P_PAID_AT);
    d->subtotal = col_i64(res, P_SUBTOTAL);
    d->discount = col_i64(res, P_DISCOUNT);
    d->tax_rate_bp = (int)col_i64(res, P_TAX_BP);
    d->tax = col_i64(res, P_TAX);
    d->total = col_i64(res, P_TOTAL);
    d->paid_amount = col_i64(res, P_PAID);
    d->balance = col_i64(res, P_BALANCE);
    d->draft = !sent;
    d->paid = !strcmp(status, "paid");

    int rc = svc->render ? workers_submit(svc->render, render_work, render_done, j) : UV_EINVAL;
    if (rc != 0) {
        pdf_error(req, j->public_view, 503, "busy", "too many documents are being made; try again in a moment",
                  "Layanan sedang sibuk. Coba lagi sebentar lagi.");
        job_free(j);
    }
}

void invoice_pdf_respond(struct http_req *req, int64_t invoice_id, bool public_view)
{
    char idb[24];

    if (invoice_id <= 0) {
        pdf_error(req, public_view, 404, "not_found", "no such invoice", "Invoice tidak ditemukan.");
        return;
    }
    struct pdf_job *j = xcalloc(1, sizeof(*j));
    j->req = req;
    j->invoice_id = invoice_id;
    j->public_view = public_view;
    snprintf(idb, sizeof(idb), "%lld", (long long)invoice_id);
    const char *p[1] = {idb};
    if (!req->svc->pg || pg_query(req->svc->pg, pdf_sql, 1, p, on_pdf_row, j) < 0) {
        pdf_error(req, public_view, 503, "unavailable", "the database is unavailable; try again",
                  "Layanan sedang sibuk. Coba lagi sebentar lagi.");
        job_free(j);
    }
}

void h_invoices_pdf(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such invoice");
        return;
    }
    invoice_pdf_respond(req, id, false);
}
