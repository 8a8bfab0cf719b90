#include "render/invoice.h"

#include <hpdf.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain/money.h"
#include "render/pdf.h"

/* ---- page geometry (PDF points, origin bottom-left) ----------------------- */

#define MM(v)     ((float)(v)*72.0f / 25.4f)
#define PAGE_W    595.276f /* A4 */
#define PAGE_H    841.890f
#define MARGIN_X  MM(20)
#define TEXT_W    (PAGE_W - 2 * MARGIN_X) /* 170 mm */
#define RIGHT_X   (PAGE_W - MARGIN_X)
#define PAGE_TOP  (PAGE_H - MM(16))
#define PAGE_BOT  MM(20) /* the footer sits below, at 10 mm */
#define FOOT_Y    MM(10)
#define MAX_PAGES 64 /* 200 items of 800 bytes need about 30; this only stops a loop */
#define STR_(x)   #x
#define STR(x)    STR_(x)

#define FS_BODY   9.5f
#define LEAD_BODY 12.5f
#define FS_TAB    9.0f
#define LEAD_TAB  11.5f
#define PAD       4.0f /* inside a table cell */

/* The heading's two columns: the customer on the left, the invoice's
 * number and dates on the right. */
#define CUST_W   MM(92)
#define META_X   (MARGIN_X + MM(100))
#define META_VAL (META_X + MM(25))
#define META_W   (RIGHT_X - META_VAL)

/* Item columns: No., Uraian, Jumlah, Harga Satuan, Total (170 mm). */
#define C_NO_W    MM(9)
#define C_DESC_W  MM(73)
#define C_QTY_W   MM(16)
#define C_PRICE_W MM(34)
#define C_TOTAL_W (TEXT_W - C_NO_W - C_DESC_W - C_QTY_W - C_PRICE_W)

/* Totals: labels from here, amounts right-aligned at the margin. */
#define SUM_X     (MARGIN_X + MM(86))
#define SUM_AMT_W MM(50)
#define SUM_LEAD  15.0f

/* The QR code's square includes the 4-module quiet zone: the code itself
 * comes out at about 30 mm for a public invoice URL. */
#define QR_SIZE MM(36)

/* Field buffers: the limit, "…" (3 bytes) and the NUL. */
#define F_FIELD (RENDER_INV_MAX_FIELD + 4)
#define F_ADDR  (RENDER_INV_MAX_ADDRESS + 4)
#define F_NOTE  (RENDER_INV_MAX_NOTE + 4)
#define F_DESC  (RENDER_INV_MAX_DESC + 4)
#define F_URL   (RENDER_INV_MAX_URL + 4)
#define F_DATE  32

/* The invoice's text after render_pdf_clean(): valid UTF-8 within the BMP,
 * no control characters (but '\n' in note and pay), cut to the limits. On
 * the heap: worker threads may have small stacks. */
struct inv_text {
    char company[F_FIELD], company_address[F_ADDR], company_phone[F_FIELD];
    char number[F_FIELD], ticket_code[F_FIELD];
    char cust_name[F_FIELD], cust_address[F_ADDR], cust_phone[F_FIELD];
    char note[F_NOTE], pay[F_NOTE];
    char url[F_URL];
    char issued[F_DATE], due[F_DATE], paid_on[F_DATE];
    char (*desc)[F_DESC]; /* nitems of them, NULL when there are none */
    size_t nitems;
    char   line[F_NOTE]; /* one wrapped line at a time: struct render_pdf's line */
};

/* Everything one call needs; on its stack, shared with no other call. */
struct inv_ctx {
    struct render_pdf         p;                /* the document: page, fonts, cursor, the first error */
    HPDF_Page                 pages[MAX_PAGES]; /* for the footers, written last */
    int                       npages;
    const struct invoice_doc *d;
    struct inv_text          *t;
    const char               *qr_text; /* the caller's public_url, byte for byte; NULL: no QR */
};

static struct inv_ctx *inv_ctx_of(struct render_pdf *p)
{
    return (struct inv_ctx *)((char *)p - offsetof(struct inv_ctx, p));
}

/* Every libharu call that returns a status goes through CHECK. */
#define CHECK(c, call) RENDER_PDF_TRY(&(c)->p, call)

/* ---- text in: dates, figures and the cleaned fields ------------------------- */

void render_date_id(int64_t epoch_s, char *out, size_t n)
{
    static const char *const months[12] = {"Januari", "Februari", "Maret",     "April",   "Mei",      "Juni",
                                           "Juli",    "Agustus",  "September", "Oktober", "November", "Desember"};
    struct tm                tm;
    time_t                   t;

    if (!out || n == 0)
        return;
    /* Asia/Jakarta is UTC+7 all year. Far-off times go through gmtime_r's
     * own range check; the guard only keeps the addition from overflowing. */
    if (epoch_s == 0 || epoch_s > INT64_MAX - 7 * 3600 || (int64_t)(time_t)(epoch_s + 7 * 3600) != epoch_s + 7 * 3600) {
        snprintf(out, n, "-");
        return;
    }
    t = (time_t)(epoch_s + 7 * 3600);
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, n, "-");
        return;
    }
    snprintf(out, n, "%d %s %lld", tm.tm_mday, months[tm.tm_mon], (long long)tm.tm_year + 1900);
}

/* 10000 -> "10.000", the Indonesian digit grouping (n >= 32). */
static void inv_group(int64_t v, char *out, size_t n)
{
    char     tmp[32];
    char    *p = tmp + sizeof(tmp);
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int      digits = 0;

    *--p = '\0';
    do {
        if (digits && digits % 3 == 0)
            *--p = '.';
        *--p = (char)('0' + mag % 10);
        mag /= 10;
        digits++;
    } while (mag);
    if (v < 0)
        *--p = '-';
    snprintf(out, n, "%s", p);
}

/* "Pajak (11%)", "Pajak (11,5%)", "Pajak (0,25%)": basis points with a decimal comma. */
static void inv_tax_label(int bp, char *out, size_t n)
{
    long long   v = bp < 0 ? -(long long)bp : bp;
    long long   whole = v / 100, frac = v % 100;
    const char *sign = bp < 0 ? "-" : "";

    if (frac == 0)
        snprintf(out, n, "Pajak (%s%lld%%)", sign, whole);
    else if (frac % 10 == 0)
        snprintf(out, n, "Pajak (%s%lld,%lld%%)", sign, whole, frac / 10);
    else
        snprintf(out, n, "Pajak (%s%lld,%02lld%%)", sign, whole, frac);
}

static int inv_fill_text(struct inv_ctx *c)
{
    const struct invoice_doc *d = c->d;
    struct inv_text          *t = c->t;

    render_pdf_clean(t->company, d->company, RENDER_INV_MAX_FIELD, 0);
    render_pdf_clean(t->company_address, d->company_address, RENDER_INV_MAX_ADDRESS, 0);
    render_pdf_clean(t->company_phone, d->company_phone, RENDER_INV_MAX_FIELD, 0);
    render_pdf_clean(t->number, d->number, RENDER_INV_MAX_FIELD, 0);
    render_pdf_clean(t->ticket_code, d->ticket_code, RENDER_INV_MAX_FIELD, 0);
    render_pdf_clean(t->cust_name, d->customer_name, RENDER_INV_MAX_FIELD, 0);
    render_pdf_clean(t->cust_address, d->customer_address, RENDER_INV_MAX_ADDRESS, 0);
    render_pdf_clean(t->cust_phone, d->customer_phone, RENDER_INV_MAX_FIELD, 0);
    render_pdf_clean(t->note, d->note, RENDER_INV_MAX_NOTE, RENDER_PDF_KEEP_NL | RENDER_PDF_CRLF);
    render_pdf_clean(t->pay, d->pay_bank, RENDER_INV_MAX_NOTE, RENDER_PDF_KEEP_NL | RENDER_PDF_CRLF);
    /* The length was checked: this never cuts the URL. */
    render_pdf_clean(t->url, c->qr_text, RENDER_INV_MAX_URL, 0);
    render_date_id(d->issued_s, t->issued, sizeof(t->issued));
    render_date_id(d->due_s, t->due, sizeof(t->due));
    render_date_id(d->paid_s, t->paid_on, sizeof(t->paid_on));

    t->nitems = d->items ? d->nitems : 0;
    if (t->nitems) {
        t->desc = calloc(t->nitems, sizeof(*t->desc));
        if (!t->desc)
            return render_pdf_fail(&c->p, "out of memory for the item texts");
        for (size_t i = 0; i < t->nitems; i++)
            render_pdf_clean(t->desc[i], d->items[i].description, RENDER_INV_MAX_DESC, 0);
    }
    return 0;
}

/* ---- drawing ------------------------------------------------------------------ */

/* s right-aligned at x_right; set smaller (down to 4 pt) when wider than
 * max_w, so a figure is never cut or run into its neighbour. */
static int inv_text_right(struct inv_ctx *c, HPDF_Font f, float size, float x_right, float baseline, float max_w,
                          const char *s)
{
    float w = render_pdf_width(f, size, s);
    if (w > max_w && w > 0) {
        float smaller = size * max_w / w;
        size = smaller < 4.0f ? 4.0f : smaller;
        w = render_pdf_width(f, size, s);
    }
    return render_pdf_text(&c->p, f, size, x_right - w, baseline, s);
}

/* A faint "DRAF" across the page, under everything drawn after it. */
static int inv_watermark(struct inv_ctx *c)
{
    const char *w = "DRAF";
    float       size = 140, ang = 0.7f; /* radians, about 40 degrees */
    float       tw = render_pdf_width(c->p.bold, size, w), cs = cosf(ang), sn = sinf(ang);
    float       cap = size * 0.72f; /* cap height of Liberation Sans, near enough */
    /* Start so that the word's middle lands on the page's middle. */
    float x = PAGE_W / 2 - (cs * tw / 2 - sn * cap / 2);
    float y = PAGE_H / 2 - (sn * tw / 2 + cs * cap / 2);

    CHECK(c, HPDF_Page_SetGrayFill(c->p.page, 0.91f));
    CHECK(c, HPDF_Page_BeginText(c->p.page));
    CHECK(c, HPDF_Page_SetFontAndSize(c->p.page, c->p.bold, size));
    CHECK(c, HPDF_Page_SetTextMatrix(c->p.page, cs, sn, -sn, cs, x, y));
    CHECK(c, HPDF_Page_ShowText(c->p.page, w));
    CHECK(c, HPDF_Page_EndText(c->p.page));
    CHECK(c, HPDF_Page_SetGrayFill(c->p.page, 0));
    return 0;
}

static int inv_new_page(struct inv_ctx *c)
{
    if (c->npages == MAX_PAGES)
        return render_pdf_fail(&c->p, "the invoice does not fit in " STR(MAX_PAGES) " pages");
    if (render_pdf_add_page(&c->p) < 0)
        return -1;
    c->pages[c->npages++] = c->p.page;
    if (c->d->draft && inv_watermark(c) < 0)
        return -1;
    c->p.y = PAGE_TOP;
    if (c->npages > 1) {
        /* A continuation page says what it continues. */
        char head[F_FIELD + 32];
        snprintf(head, sizeof(head), "INVOICE %s (lanjutan)", c->t->number);
        if (render_pdf_text(&c->p, c->p.bold, 9, MARGIN_X, c->p.y - 9, head) < 0)
            return -1;
        if (c->d->draft && inv_text_right(c, c->p.bold, 9, RIGHT_X, c->p.y - 9, TEXT_W / 2, "DRAF") < 0)
            return -1;
        CHECK(c, HPDF_Page_SetGrayStroke(c->p.page, 0.5f));
        if (render_pdf_hline(&c->p, MARGIN_X, RIGHT_X, c->p.y - 13, 0.5f) < 0)
            return -1;
        CHECK(c, HPDF_Page_SetGrayStroke(c->p.page, 0));
        c->p.y -= 24;
    }
    return 0;
}

/* h points free below the cursor, else a new page: the invoice's need
 * (struct render_pdf). Returns 1 when it started one, 0 when there was
 * room, -1 on error. */
static int inv_need(struct render_pdf *p, float h)
{
    if (p->y - h >= PAGE_BOT)
        return 0;
    return inv_new_page(inv_ctx_of(p)) < 0 ? -1 : 1;
}

/* ---- wrapping ------------------------------------------------------------- */

/* Shorthands: text with '\n' paragraphs flowing down the page, and the
 * height it would take. */
static int inv_flow(struct inv_ctx *c, HPDF_Font f, float size, float lead, float x, float w, int align, const char *s)
{
    struct render_pdf_lines l = {f, size, lead, x, w, align, true, 0};
    return render_pdf_block(&c->p, &l, s, false) < 0 ? -1 : 0;
}

static float inv_height(struct inv_ctx *c, HPDF_Font f, float size, float lead, float w, const char *s)
{
    struct render_pdf_lines l = {f, size, lead, 0, w, 0, false, 0};
    return render_pdf_block(&c->p, &l, s, true);
}

/* ---- the parts ---------------------------------------------------------------- */

static int inv_letterhead(struct inv_ctx *c)
{
    struct inv_text *t = c->t;

    if (inv_flow(c, c->p.bold, 16, 19, MARGIN_X, TEXT_W, 0, render_pdf_or_dash(t->company)) < 0)
        return -1;
    c->p.y -= 2;
    if (inv_flow(c, c->p.font, 9.5f, 12, MARGIN_X, TEXT_W, 0, t->company_address) < 0)
        return -1;
    if (*t->company_phone) {
        char line[F_FIELD + 8];
        snprintf(line, sizeof(line), "Telp. %s", t->company_phone);
        if (inv_flow(c, c->p.font, 9.5f, 12, MARGIN_X, TEXT_W, 0, line) < 0)
            return -1;
    }
    /* The double rule of an Indonesian letterhead: thick over thin. */
    c->p.y -= 6;
    if (render_pdf_hline(&c->p, MARGIN_X, RIGHT_X, c->p.y, 1.6f) < 0 ||
        render_pdf_hline(&c->p, MARGIN_X, RIGHT_X, c->p.y - 2.6f, 0.5f) < 0)
        return -1;
    c->p.y -= 20;
    return 0;
}

/* One "Label : value" row of the right-hand column, from *top down. */
static int inv_meta_row(struct inv_ctx *c, float *top, const char *label, const char *value, bool strong)
{
    if (render_pdf_text(&c->p, c->p.font, FS_BODY, META_X, *top - FS_BODY, label) < 0 ||
        render_pdf_text(&c->p, c->p.font, FS_BODY, META_VAL - MM(3), *top - FS_BODY, ":") < 0)
        return -1;
    struct render_pdf_lines l = {strong ? c->p.bold : c->p.font, FS_BODY, LEAD_BODY, META_VAL, META_W, 0, false, *top};
    if (render_pdf_block(&c->p, &l, render_pdf_or_dash(value), false) < 0)
        return -1;
    *top = l.y - 2;
    return 0;
}

/* INVOICE and the customer on the left, number and dates on the right. */
static int inv_heading(struct inv_ctx *c)
{
    struct inv_text *t = c->t;
    float            top = c->p.y, r = top;

    if (render_pdf_text(&c->p, c->p.bold, 24, MARGIN_X, top - 22, "INVOICE") < 0)
        return -1;
    if (inv_meta_row(c, &r, "Nomor", t->number, true) < 0 || inv_meta_row(c, &r, "Tanggal", t->issued, false) < 0 ||
        inv_meta_row(c, &r, "Jatuh tempo", t->due, false) < 0 ||
        inv_meta_row(c, &r, "No. tiket", t->ticket_code, false) < 0)
        return -1;

    struct render_pdf_lines lines = {c->p.font, 8.5f, 11, MARGIN_X, CUST_W, 0, false, top - 40};
    CHECK(c, HPDF_Page_SetGrayFill(c->p.page, 0.35f));
    if (render_pdf_block(&c->p, &lines, "Ditagihkan kepada", false) < 0)
        return -1;
    CHECK(c, HPDF_Page_SetGrayFill(c->p.page, 0));
    lines.y -= 1;
    lines.f = c->p.bold, lines.size = 11, lines.lead = 14;
    if (render_pdf_block(&c->p, &lines, render_pdf_or_dash(t->cust_name), false) < 0)
        return -1;
    lines.f = c->p.font, lines.size = FS_BODY, lines.lead = LEAD_BODY;
    if (render_pdf_block(&c->p, &lines, t->cust_address, false) < 0)
        return -1;
    if (*t->cust_phone) {
        char phone[F_FIELD + 8];
        snprintf(phone, sizeof(phone), "Telp. %s", t->cust_phone);
        if (render_pdf_block(&c->p, &lines, phone, false) < 0)
            return -1;
    }
    c->p.y = (lines.y < r ? lines.y : r) - 12;
    return 0;
}

/* The draft's banner: what this paper is not. */
static int inv_draft_banner(struct inv_ctx *c)
{
    const char *sub = "Pratinjau untuk pemeriksaan internal, belum menjadi tagihan. Kode QR dan tautan invoice "
                      "muncul setelah invoice disetujui Sales dan dikirim ke pelanggan.";
    const char *head = "DRAF \xE2\x80\x94 belum disetujui/dikirim";
    float       hs = inv_height(c, c->p.font, 8.5f, 10.5f, TEXT_W - 2 * MM(4), sub);
    if (hs < 0)
        return -1;
    float h = 8 + 13 + hs + 6;
    float top = c->p.y;

    CHECK(c, HPDF_Page_SetRGBFill(c->p.page, 1.0f, 0.93f, 0.92f));
    CHECK(c, HPDF_Page_SetRGBStroke(c->p.page, 0.70f, 0.10f, 0.10f));
    CHECK(c, HPDF_Page_SetLineWidth(c->p.page, 1.2f));
    CHECK(c, HPDF_Page_Rectangle(c->p.page, MARGIN_X, top - h, TEXT_W, h));
    CHECK(c, HPDF_Page_FillStroke(c->p.page));
    CHECK(c, HPDF_Page_SetRGBFill(c->p.page, 0.62f, 0.05f, 0.05f));
    struct render_pdf_lines l = {c->p.bold, 11.5f, 13, MARGIN_X + MM(4), TEXT_W - 2 * MM(4), 1, false, top - 7};
    if (render_pdf_block(&c->p, &l, head, false) < 0)
        return -1;
    l.f = c->p.font, l.size = 8.5f, l.lead = 10.5f, l.y -= 1;
    if (render_pdf_block(&c->p, &l, sub, false) < 0)
        return -1;
    CHECK(c, HPDF_Page_SetRGBFill(c->p.page, 0, 0, 0));
    CHECK(c, HPDF_Page_SetRGBStroke(c->p.page, 0, 0, 0));
    c->p.y = top - h - 12;
    return 0;
}

/* One table row: the five cells, the description wrapped; header rows are
 * bold on grey. A row that does not fit goes to a new page, under a new
 * header row. */
static int inv_row(struct inv_ctx *c, bool header, const char *no, const char *desc, const char *qty, const char *price,
                   const char *total)
{
    HPDF_Font f = header ? c->p.bold : c->p.font;
    float     dh = inv_height(c, f, FS_TAB, LEAD_TAB, C_DESC_W - 2 * PAD, desc);
    if (dh < 0)
        return -1;
    if (dh < LEAD_TAB)
        dh = LEAD_TAB;
    float h = dh + 2 * PAD;

    int fresh = inv_need(&c->p, h);
    if (fresh < 0)
        return -1;
    if (fresh && !header && inv_row(c, true, "No.", "Uraian", "Jumlah", "Harga Satuan", "Total") < 0)
        return -1;

    const float xs[5] = {MARGIN_X, MARGIN_X + C_NO_W, MARGIN_X + C_NO_W + C_DESC_W,
                         MARGIN_X + C_NO_W + C_DESC_W + C_QTY_W, MARGIN_X + C_NO_W + C_DESC_W + C_QTY_W + C_PRICE_W};
    const float ws[5] = {C_NO_W, C_DESC_W, C_QTY_W, C_PRICE_W, C_TOTAL_W};
    float       top = c->p.y, base = top - PAD - 1.0f - FS_TAB;

    /* Body cells are only outlined, not filled, so a draft's watermark
     * shows through the table too. */
    CHECK(c, HPDF_Page_SetLineWidth(c->p.page, 0.5f));
    CHECK(c, HPDF_Page_SetGrayStroke(c->p.page, 0.45f));
    CHECK(c, HPDF_Page_SetGrayFill(c->p.page, 0.90f));
    for (int i = 0; i < 5; i++)
        CHECK(c, HPDF_Page_Rectangle(c->p.page, xs[i], top - h, ws[i], h));
    CHECK(c, header ? HPDF_Page_FillStroke(c->p.page) : HPDF_Page_Stroke(c->p.page));
    CHECK(c, HPDF_Page_SetGrayFill(c->p.page, 0)); /* text is drawn in the fill colour */
    CHECK(c, HPDF_Page_SetGrayStroke(c->p.page, 0));

    if (inv_text_right(c, f, FS_TAB, xs[0] + ws[0] - PAD, base, ws[0] - 2 * PAD, no) < 0)
        return -1;
    struct render_pdf_lines l = {f, FS_TAB, LEAD_TAB, xs[1] + PAD, ws[1] - 2 * PAD, 0, false, top - PAD - 1.0f};
    if (render_pdf_block(&c->p, &l, desc, false) < 0)
        return -1;
    if (inv_text_right(c, f, FS_TAB, xs[2] + ws[2] - PAD, base, ws[2] - 2 * PAD, qty) < 0 ||
        inv_text_right(c, f, FS_TAB, xs[3] + ws[3] - PAD, base, ws[3] - 2 * PAD, price) < 0 ||
        inv_text_right(c, f, FS_TAB, xs[4] + ws[4] - PAD, base, ws[4] - 2 * PAD, total) < 0)
        return -1;
    c->p.y = top - h;
    return 0;
}

static int inv_items(struct inv_ctx *c)
{
    const struct invoice_doc *d = c->d;
    struct inv_text          *t = c->t;

    /* The header keeps at least one item line with it. */
    if (inv_need(&c->p, 2 * (LEAD_TAB + 2 * PAD)) < 0)
        return -1;
    if (inv_row(c, true, "No.", "Uraian", "Jumlah", "Harga Satuan", "Total") < 0)
        return -1;
    if (t->nitems == 0)
        return inv_row(c, false, "", "Tidak ada baris.", "", "", "");
    for (size_t i = 0; i < t->nitems; i++) {
        char no[24], qty[32], price[MONEY_IDR_MAX], total[MONEY_IDR_MAX];
        snprintf(no, sizeof(no), "%zu", i + 1);
        inv_group(d->items[i].qty, qty, sizeof(qty));
        money_format_idr(d->items[i].unit_price, price, sizeof(price));
        money_format_idr(d->items[i].line_total, total, sizeof(total));
        if (inv_row(c, false, no, t->desc[i], qty, price, total) < 0)
            return -1;
    }
    return 0;
}

/* The paid stamp: a tilted double frame with LUNAS and the date. */
static int inv_stamp(struct inv_ctx *c, float cx, float cy)
{
    const float w = MM(52), h = MM(19), ang = 0.14f;
    float       cs = cosf(ang), sn = sinf(ang);
    const char *word = "LUNAS";

    CHECK(c, HPDF_Page_GSave(c->p.page));
    CHECK(c, HPDF_Page_Concat(c->p.page, cs, sn, -sn, cs, cx, cy));
    CHECK(c, HPDF_Page_SetRGBStroke(c->p.page, 0.05f, 0.45f, 0.20f));
    CHECK(c, HPDF_Page_SetRGBFill(c->p.page, 0.05f, 0.45f, 0.20f));
    CHECK(c, HPDF_Page_SetLineWidth(c->p.page, 2.2f));
    CHECK(c, HPDF_Page_Rectangle(c->p.page, -w / 2, -h / 2, w, h));
    CHECK(c, HPDF_Page_Stroke(c->p.page));
    CHECK(c, HPDF_Page_SetLineWidth(c->p.page, 0.8f));
    CHECK(c, HPDF_Page_Rectangle(c->p.page, -w / 2 + 3, -h / 2 + 3, w - 6, h - 6));
    CHECK(c, HPDF_Page_Stroke(c->p.page));
    bool  dated = strcmp(c->t->paid_on, "-") != 0;
    float ws = render_pdf_width(c->p.bold, 26, word);
    if (render_pdf_text(&c->p, c->p.bold, 26, -ws / 2, dated ? -3.0f : -9.0f, word) < 0)
        return -1;
    if (dated) {
        float wd = render_pdf_width(c->p.font, 8, c->t->paid_on);
        if (render_pdf_text(&c->p, c->p.font, 8, -wd / 2, -h / 2 + 6, c->t->paid_on) < 0)
            return -1;
    }
    CHECK(c, HPDF_Page_GRestore(c->p.page));
    return 0;
}

static int inv_totals(struct inv_ctx *c)
{
    const struct invoice_doc *d = c->d;
    char                      tax_label[48];
    char                      amt[6][MONEY_IDR_MAX];
    const char               *labels[6] = {"Subtotal", "Diskon", tax_label, "Total", "Dibayar", "Sisa"};
    const int64_t             vals[6] = {d->subtotal, -d->discount, d->tax, d->total, d->paid_amount, d->balance};

    inv_tax_label(d->tax_rate_bp, tax_label, sizeof(tax_label));
    for (int i = 0; i < 6; i++)
        money_format_idr(vals[i], amt[i], sizeof(amt[i]));
    if (d->discount == 0 || d->discount == INT64_MIN) /* no "-Rp 0"; INT64_MIN has no negative */
        money_format_idr(d->discount, amt[1], sizeof(amt[1]));

    float h = 6 + 6 * SUM_LEAD + 8;
    if (inv_need(&c->p, h) < 0)
        return -1;
    c->p.y -= 6;
    float top = c->p.y;
    for (int i = 0; i < 6; i++) {
        bool      strong = i == 3 || i == 5;
        HPDF_Font f = strong ? c->p.bold : c->p.font;
        float     size = strong ? 10.5f : FS_BODY;
        if (i == 3 && render_pdf_hline(&c->p, SUM_X, RIGHT_X, c->p.y - 1.5f, 0.8f) < 0)
            return -1;
        if (i == 5) { /* what is still owed, on grey */
            CHECK(c, HPDF_Page_SetGrayFill(c->p.page, 0.90f));
            CHECK(c, HPDF_Page_Rectangle(c->p.page, SUM_X - 4, c->p.y - SUM_LEAD + 1, RIGHT_X - SUM_X + 4, SUM_LEAD));
            CHECK(c, HPDF_Page_Fill(c->p.page));
            CHECK(c, HPDF_Page_SetGrayFill(c->p.page, 0));
        }
        float base = c->p.y - 11;
        if (render_pdf_text(&c->p, f, size, SUM_X, base, labels[i]) < 0 ||
            inv_text_right(c, f, size, RIGHT_X - PAD, base, SUM_AMT_W, amt[i]) < 0)
            return -1;
        c->p.y -= SUM_LEAD;
    }
    if (d->paid && inv_stamp(c, MARGIN_X + MM(40), (top + c->p.y) / 2) < 0)
        return -1;
    c->p.y -= 8;
    return 0;
}

static int inv_section(struct inv_ctx *c, const char *title)
{
    /* A heading stays on the page of its first line. */
    if (inv_need(&c->p, 8 + 15 + LEAD_BODY) < 0)
        return -1;
    c->p.y -= 8;
    if (render_pdf_text(&c->p, c->p.bold, 10.5f, MARGIN_X, c->p.y - 10.5f, title) < 0)
        return -1;
    c->p.y -= 15;
    return 0;
}

static int inv_note(struct inv_ctx *c)
{
    const char *note = c->t->note;
    bool        blank = true;
    for (const char *p = note; *p; p++)
        blank &= *p == ' ' || *p == '\n';
    if (blank)
        return 0;
    if (inv_section(c, "Catatan") < 0)
        return -1;
    return inv_flow(c, c->p.font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, note);
}

/* The payment lines: the configured instructions and one line of our own. */
static int inv_pay_text(struct inv_ctx *c, char *own, size_t n)
{
    const struct invoice_doc *d = c->d;
    if (d->paid)
        snprintf(own, n, "Pembayaran sudah kami terima. Terima kasih.");
    else if (d->draft)
        snprintf(own, n, "Nomor rekening dan batas waktu pembayaran berlaku setelah invoice dikirim.");
    else if (strcmp(c->t->due, "-") != 0)
        snprintf(own, n, "Mohon lunasi sebelum %s dan tulis nomor %s pada berita transfer.", c->t->due,
                 render_pdf_or_dash(c->t->number));
    else
        snprintf(own, n, "Mohon tulis nomor %s pada berita transfer.", render_pdf_or_dash(c->t->number));
    return 0;
}

/* The QR code of the public page: the square on the left, what it is for
 * beside it, and the URL under it on one line (wrapped only past the text
 * width, so that it can be read and typed as printed). Kept on one page. */
static int inv_qr_block(struct inv_ctx *c)
{
    const char *caption = "Pindai kode QR ini dengan kamera ponsel untuk membuka invoice ini secara online, "
                          "melihat status pembayaran dan mengunduh PDF-nya.";
    const float side_x = MARGIN_X + QR_SIZE + MM(4), side_w = RIGHT_X - side_x;
    float       hc = inv_height(c, c->p.font, FS_BODY, LEAD_BODY, side_w, caption);
    float       hu = inv_height(c, c->p.font, 8, 10, TEXT_W, c->t->url);
    if (hc < 0 || hu < 0)
        return -1;
    if (inv_need(&c->p, 10 + QR_SIZE + 2 + hu) < 0)
        return -1;
    c->p.y -= 10;
    float top = c->p.y;

    if (render_pdf_qr(&c->p, c->qr_text, MARGIN_X, top - QR_SIZE, QR_SIZE) < 0)
        return -1;
    /* The caption sits level with the code's middle. */
    float                   cap_top = top - (QR_SIZE - hc) / 2;
    struct render_pdf_lines l = {c->p.font, FS_BODY, LEAD_BODY, side_x,
                                 side_w,    0,       false,     cap_top > top ? top : cap_top};
    if (render_pdf_block(&c->p, &l, caption, false) < 0)
        return -1;
    /* The quiet zone is white already: the URL may sit close under it. */
    c->p.y = top - QR_SIZE - 1;
    return inv_flow(c, c->p.font, 8, 10, MARGIN_X + MM(2), TEXT_W - MM(2), 0, c->t->url);
}

/* "Cara Pembayaran": the configured instructions and a line of our own;
 * then the QR code of the public page (not on a draft; a sent invoice
 * whose link cannot be derived says so instead). */
static int inv_payment(struct inv_ctx *c)
{
    struct inv_text *t = c->t;
    char             own[F_FIELD * 2 + 128];
    const char      *pay = *t->pay ? t->pay : "Hubungi kami untuk informasi pembayaran.";

    inv_pay_text(c, own, sizeof(own));
    if (inv_section(c, "Cara Pembayaran") < 0 ||
        inv_flow(c, c->p.font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, pay) < 0)
        return -1;
    c->p.y -= 4;
    if (inv_flow(c, c->p.font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, own) < 0)
        return -1;
    if (c->d->draft)
        return 0;
    if (!c->qr_text) {
        c->p.y -= 6;
        return inv_flow(c, c->p.font, 8.5f, 11, MARGIN_X, TEXT_W, 0,
                        "Tautan online invoice ini belum tersedia; minta kami mengirimkannya ulang.");
    }
    return inv_qr_block(c);
}

/* "INV-2612-0001" and "Halaman i dari n" at the foot of every page, once
 * the number of pages is known. libharu keeps every page's content stream
 * open until the document is saved, so earlier pages can still be drawn on. */
static int inv_footers(struct inv_ctx *c)
{
    for (int i = 0; i < c->npages; i++) {
        char right[48];
        c->p.page = c->pages[i];
        snprintf(right, sizeof(right), "Halaman %d dari %d", i + 1, c->npages);
        CHECK(c, HPDF_Page_SetGrayFill(c->p.page, 0.4f));
        CHECK(c, HPDF_Page_SetGrayStroke(c->p.page, 0.6f));
        if (render_pdf_hline(&c->p, MARGIN_X, RIGHT_X, FOOT_Y + 10, 0.4f) < 0)
            return -1;
        char left[F_FIELD + 16];
        snprintf(left, sizeof(left), "%s%s", render_pdf_or_dash(c->t->number), c->d->draft ? " (DRAF)" : "");
        if (render_pdf_text(&c->p, c->p.font, 7.5f, MARGIN_X, FOOT_Y, left) < 0 ||
            inv_text_right(c, c->p.font, 7.5f, RIGHT_X, FOOT_Y, TEXT_W / 2, right) < 0)
            return -1;
        CHECK(c, HPDF_Page_SetGrayFill(c->p.page, 0));
        CHECK(c, HPDF_Page_SetGrayStroke(c->p.page, 0));
    }
    return 0;
}

static int inv_draw(struct inv_ctx *c)
{
    if (inv_new_page(c) < 0 || inv_letterhead(c) < 0 || inv_heading(c) < 0)
        return -1;
    if (c->d->draft && inv_draft_banner(c) < 0)
        return -1;
    if (inv_items(c) < 0 || inv_totals(c) < 0 || inv_note(c) < 0 || inv_payment(c) < 0)
        return -1;
    return inv_footers(c);
}

/* ---- document ----------------------------------------------------------------- */

int render_invoice_pdf(const struct invoice_doc *d, struct buf *out, char *err, size_t errlen)
{
    struct inv_ctx c = {.p = {.need = inv_need, .step = "checking the input"}};
    size_t         keep = out ? out->len : 0;
    int            rc = -1;
    char           title[F_FIELD + 16];

    if (!d || !out) {
        render_pdf_fail(&c.p, "no document or no output buffer");
        goto fail;
    }
    c.d = d;
    if (!d->font_path || !*d->font_path) {
        render_pdf_fail(&c.p, "no font path");
        goto fail;
    }
    if (d->items && d->nitems > RENDER_INV_MAX_ITEMS) {
        render_pdf_fail(&c.p, "more than " STR(RENDER_INV_MAX_ITEMS) " items");
        goto fail;
    }
    if (!d->draft && d->public_url && *d->public_url) {
        if (strlen(d->public_url) > RENDER_INV_MAX_URL) {
            render_pdf_fail(&c.p, "public_url is longer than " STR(RENDER_INV_MAX_URL) " bytes");
            goto fail;
        }
        c.qr_text = d->public_url;
    }

    c.t = calloc(1, sizeof(*c.t));
    if (!c.t) {
        render_pdf_fail(&c.p, "out of memory");
        goto fail;
    }
    if (inv_fill_text(&c) < 0)
        goto fail;
    c.p.line = c.t->line;
    c.p.line_size = sizeof(c.t->line);

    snprintf(title, sizeof(title), "Invoice %s", c.t->number);
    if (render_pdf_open(&c.p, title, d->font_path, d->font_bold_path) < 0)
        goto fail;

    snprintf(c.p.step, sizeof(c.p.step), "drawing the invoice");
    if (inv_draw(&c) < 0 || render_pdf_save(&c.p, out) < 0)
        goto fail;
    rc = 0;

fail:
    rc = render_pdf_end(&c.p, rc, "render invoice", out, keep, err, errlen);
    if (c.t)
        free(c.t->desc);
    free(c.t);
    return rc;
}
