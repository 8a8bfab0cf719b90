#include "render/letter.h"

#include <hpdf.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render/pdf.h"

/* ---- page geometry (PDF points, origin bottom-left) ----------------------- */

#define MM(v)     ((float)(v)*72.0f / 25.4f)
#define PAGE_W    595.276f /* A4 */
#define PAGE_H    841.890f
#define MARGIN_X  MM(20)
#define TEXT_W    (PAGE_W - 2 * MARGIN_X)
#define PAGE_TOP  (PAGE_H - MM(16))
#define PAGE_BOT  MM(16)
#define MAX_PAGES 4 /* the input limits need two at most; this only stops a loop */
#define STR_(x)   #x
#define STR(x)    STR_(x)

#define FS_BODY   10.0f
#define LEAD_BODY 13.5f
#define FS_HEAD   10.5f
#define KV_COLON  MM(24) /* "Nama      : value" */
#define KV_VALUE  MM(27)
/* The QR square includes the 4-module quiet zone on each side, so the code
 * itself comes out at about 33-35 mm for a verification URL (25-37 modules). */
#define QR_SIZE  MM(42)
#define QR_COL_W MM(80)
#define SIGN_X   (MARGIN_X + MM(100))
#define SIGN_W   (PAGE_W - MARGIN_X - SIGN_X)

/* Field buffers: the limit, plus "…" (3 bytes) and the NUL. */
#define F_FIELD (RENDER_MAX_FIELD + 4)
#define F_ADDR  (RENDER_MAX_ADDRESS + 4)
#define F_WORK  (RENDER_MAX_WORK + 4)

/* The letter's text after render_pdf_clean(): valid UTF-8 within the BMP,
 * no control characters (but '\n' in work), cut to the limits. On the heap,
 * not the stack, because worker threads may have small stacks. */
struct letter_text {
    char   company[F_FIELD], company_address[F_ADDR], company_phone[F_FIELD];
    char   code[F_FIELD], customer_name[F_FIELD], customer_phone[F_FIELD];
    char   address[F_ADDR], schedule[F_FIELD], work[F_WORK];
    char   valid_until[F_FIELD], issued_at[F_FIELD];
    char   url[RENDER_MAX_URL + 4];
    char   tech_name[RENDER_MAX_TECHS][F_FIELD], tech_phone[RENDER_MAX_TECHS][F_FIELD];
    size_t ntechs;       /* rows in tech_name/tech_phone */
    size_t nhidden;      /* technicians beyond RENDER_MAX_TECHS */
    char   line[F_WORK]; /* one wrapped line at a time: struct render_pdf's line */
};

/* Everything one call needs; on its stack, shared with no other call. */
struct letter_ctx {
    struct render_pdf   p; /* the document: page, fonts, cursor, the first error */
    int                 npages;
    struct letter_text *t;
    const char         *qr_text; /* the caller's verify_url, byte for byte */
};

static struct letter_ctx *ctx_of(struct render_pdf *p)
{
    return (struct letter_ctx *)((char *)p - offsetof(struct letter_ctx, p));
}

/* Every libharu call that returns a status goes through TRY. */
#define TRY(c, call) RENDER_PDF_TRY(&(c)->p, call)

/* ---- input cleaning ------------------------------------------------------- */

static void fill_text(struct letter_text *t, const struct letter_doc *d)
{
    render_pdf_clean(t->company, d->company, RENDER_MAX_FIELD, 0);
    render_pdf_clean(t->company_address, d->company_address, RENDER_MAX_ADDRESS, 0);
    render_pdf_clean(t->company_phone, d->company_phone, RENDER_MAX_FIELD, 0);
    render_pdf_clean(t->code, d->code, RENDER_MAX_FIELD, 0);
    render_pdf_clean(t->customer_name, d->customer_name, RENDER_MAX_FIELD, 0);
    render_pdf_clean(t->customer_phone, d->customer_phone, RENDER_MAX_FIELD, 0);
    render_pdf_clean(t->address, d->address, RENDER_MAX_ADDRESS, 0);
    render_pdf_clean(t->schedule, d->schedule, RENDER_MAX_FIELD, 0);
    render_pdf_clean(t->work, d->work, RENDER_MAX_WORK, RENDER_PDF_KEEP_NL);
    render_pdf_clean(t->valid_until, d->valid_until, RENDER_MAX_FIELD, 0);
    render_pdf_clean(t->issued_at, d->issued_at, RENDER_MAX_FIELD, 0);
    /* The caller checked the URL's length, so this never cuts it. */
    render_pdf_clean(t->url, d->verify_url, RENDER_MAX_URL, 0);

    size_t n = d->techs ? d->ntechs : 0;
    t->ntechs = n < RENDER_MAX_TECHS ? n : RENDER_MAX_TECHS;
    t->nhidden = n - t->ntechs;
    for (size_t i = 0; i < t->ntechs; i++) {
        render_pdf_clean(t->tech_name[i], d->techs[i].name, RENDER_MAX_FIELD, 0);
        render_pdf_clean(t->tech_phone[i], d->techs[i].phone, RENDER_MAX_FIELD, 0);
    }
}

/* ---- pages ---------------------------------------------------------------- */

static int new_page(struct letter_ctx *c)
{
    if (c->npages == MAX_PAGES)
        return render_pdf_fail(&c->p, "the letter does not fit in " STR(MAX_PAGES) " pages");
    if (render_pdf_add_page(&c->p) < 0)
        return -1;
    c->npages++;
    c->p.y = PAGE_TOP;
    if (c->npages > 1) {
        /* A continuation page says what it continues. */
        char head[F_FIELD + 64];
        snprintf(head, sizeof(head), "Surat Tugas %s (halaman %d)", c->t->code, c->npages);
        if (render_pdf_text(&c->p, c->p.font, 8, MARGIN_X, c->p.y - 8, head) < 0)
            return -1;
        c->p.y -= 22;
    }
    return 0;
}

/* Makes sure h points of height are free below the cursor, else starts a
 * page: the letter's need (struct render_pdf). */
static int need(struct render_pdf *p, float h)
{
    if (p->y - h >= PAGE_BOT)
        return 0;
    return new_page(ctx_of(p));
}

/* ---- wrapping ------------------------------------------------------------- */

/* A paragraph (no '\n') flowing down the page from the cursor, across pages;
 * center: each line centred in the column. */
static int flow(struct letter_ctx *c, HPDF_Font f, float size, float lead, float x, float w, int center, const char *s)
{
    struct render_pdf_lines l = {f, size, lead, x, w, center, true, 0};
    return render_pdf_para(&c->p, &l, s, strlen(s), false) < 0 ? -1 : 0;
}

/* Lines drawn at a fixed place (a table cell, a column) from l->y down,
 * not moving the cursor. */
static int column(struct letter_ctx *c, struct render_pdf_lines *l, const char *s)
{
    return render_pdf_para(&c->p, l, s, strlen(s), false) < 0 ? -1 : 0;
}

/* The number of lines s takes in a column w wide, or -1. */
static int nlines(struct letter_ctx *c, HPDF_Font f, float size, float w, const char *s)
{
    struct render_pdf_lines l = {f, size, 0, 0, w, 0, false, 0};
    return render_pdf_para(&c->p, &l, s, strlen(s), true);
}

/* ---- the letter's parts --------------------------------------------------- */

static int letterhead(struct letter_ctx *c)
{
    struct letter_text *t = c->t;

    if (flow(c, c->p.bold, 16, 19, MARGIN_X, TEXT_W, 0, render_pdf_or_dash(t->company)) < 0)
        return -1;
    c->p.y -= 2;
    if (flow(c, c->p.font, 9.5f, 12, MARGIN_X, TEXT_W, 0, t->company_address) < 0)
        return -1;
    if (*t->company_phone) {
        char line[F_FIELD + 8];
        snprintf(line, sizeof(line), "Telp. %s", t->company_phone);
        if (flow(c, c->p.font, 9.5f, 12, MARGIN_X, TEXT_W, 0, line) < 0)
            return -1;
    }
    /* The double rule of an Indonesian kop surat: thick over thin. */
    c->p.y -= 6;
    if (render_pdf_hline(&c->p, MARGIN_X, PAGE_W - MARGIN_X, c->p.y, 1.6f) < 0 ||
        render_pdf_hline(&c->p, MARGIN_X, PAGE_W - MARGIN_X, c->p.y - 2.6f, 0.5f) < 0)
        return -1;
    c->p.y -= 24;
    return 0;
}

static int title(struct letter_ctx *c)
{
    const char *ttl = "SURAT TUGAS";
    float       w = render_pdf_width(c->p.bold, 15, ttl);
    float       x = (PAGE_W - w) / 2;

    if (render_pdf_text(&c->p, c->p.bold, 15, x, c->p.y - 15, ttl) < 0)
        return -1;
    if (render_pdf_hline(&c->p, x, x + w, c->p.y - 17.5f, 0.8f) < 0)
        return -1;
    c->p.y -= 22;

    char line[F_FIELD + 16];
    snprintf(line, sizeof(line), "Nomor: %s", render_pdf_or_dash(c->t->code));
    if (flow(c, c->p.font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 1, line) < 0)
        return -1;
    c->p.y -= 12;
    return flow(c, c->p.font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0,
                "Dengan ini kami menugaskan teknisi yang tercantum di bawah untuk melaksanakan "
                "pekerjaan berikut pada pelanggan kami.");
}

static int heading(struct letter_ctx *c, const char *text)
{
    /* Keep a heading on the page of its first line. */
    if (need(&c->p, 9 + 16 + LEAD_BODY) < 0)
        return -1;
    c->p.y -= 9;
    if (render_pdf_text(&c->p, c->p.bold, FS_HEAD, MARGIN_X, c->p.y - FS_HEAD, text) < 0)
        return -1;
    c->p.y -= 16;
    return 0;
}

/* "Label   : value", the value wrapped in its own column. */
static int field(struct letter_ctx *c, const char *label, const char *value)
{
    if (need(&c->p, LEAD_BODY) < 0)
        return -1;
    float base = c->p.y - FS_BODY;
    if (render_pdf_text(&c->p, c->p.font, FS_BODY, MARGIN_X, base, label) < 0 ||
        render_pdf_text(&c->p, c->p.font, FS_BODY, MARGIN_X + KV_COLON, base, ":") < 0)
        return -1;
    return flow(c, c->p.font, FS_BODY, LEAD_BODY, MARGIN_X + KV_VALUE, TEXT_W - KV_VALUE, 0, render_pdf_or_dash(value));
}

/* The work text: a paragraph per line of input, blank lines kept as gaps. */
static int work(struct letter_ctx *c)
{
    struct render_pdf_lines l = {c->p.font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, true, 0};
    return render_pdf_block(&c->p, &l, *c->t->work ? c->t->work : "-", false) < 0 ? -1 : 0;
}

/* Table columns: number, name, phone. */
#define T_PAD    4.0f
#define T_NO_W   MM(10)
#define T_NAME_W MM(95)
#define T_TEL_W  (TEXT_W - T_NO_W - T_NAME_W)

static int table_row(struct letter_ctx *c, HPDF_Font f, const char *no, const char *name, const char *tel, int header)
{
    int nn = nlines(c, f, FS_BODY, T_NAME_W - 2 * T_PAD, name);
    int nt = nlines(c, f, FS_BODY, T_TEL_W - 2 * T_PAD, tel);
    if (nn < 0 || nt < 0)
        return -1;
    int   lines = nn > nt ? nn : nt;
    float h = (float)(lines ? lines : 1) * LEAD_BODY + 2 * T_PAD;

    int before = c->npages;
    if (need(&c->p, h) < 0)
        return -1;
    if (c->npages != before && !header) /* a new page repeats the header */
        if (table_row(c, c->p.bold, "No.", "Nama", "Telepon", 1) < 0)
            return -1;

    float top = c->p.y, x = MARGIN_X;
    float xs[3] = {x, x + T_NO_W, x + T_NO_W + T_NAME_W};
    float ws[3] = {T_NO_W, T_NAME_W, T_TEL_W};

    TRY(c, HPDF_Page_SetLineWidth(c->p.page, 0.5f));
    TRY(c, HPDF_Page_SetGrayStroke(c->p.page, 0.35f));
    TRY(c, HPDF_Page_SetGrayFill(c->p.page, header ? 0.90f : 1.0f));
    for (int i = 0; i < 3; i++)
        TRY(c, HPDF_Page_Rectangle(c->p.page, xs[i], top - h, ws[i], h));
    TRY(c, HPDF_Page_FillStroke(c->p.page));
    TRY(c, HPDF_Page_SetGrayFill(c->p.page, 0)); /* text is drawn in the fill colour */
    TRY(c, HPDF_Page_SetGrayStroke(c->p.page, 0));

    const char *cells[3] = {no, name, tel};
    for (int i = 0; i < 3; i++) {
        struct render_pdf_lines col = {f, FS_BODY, LEAD_BODY,         xs[i] + T_PAD, ws[i] - 2 * T_PAD,
                                       0, false,   top - T_PAD - 1.5f};
        if (column(c, &col, cells[i]) < 0)
            return -1;
    }
    c->p.y = top - h;
    return 0;
}

static int techs(struct letter_ctx *c)
{
    struct letter_text *t = c->t;

    if (t->ntechs == 0 && t->nhidden == 0)
        return flow(c, c->p.font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, "Belum ada teknisi yang ditugaskan.");
    if (table_row(c, c->p.bold, "No.", "Nama", "Telepon", 1) < 0)
        return -1;
    for (size_t i = 0; i < t->ntechs; i++) {
        char no[24];
        snprintf(no, sizeof(no), "%zu.", i + 1);
        if (table_row(c, c->p.font, no, render_pdf_or_dash(t->tech_name[i]), render_pdf_or_dash(t->tech_phone[i]), 0) <
            0)
            return -1;
    }
    if (t->nhidden) {
        char line[64];
        snprintf(line, sizeof(line), "dan %zu teknisi lainnya (lihat aplikasi).", t->nhidden);
        c->p.y -= 3;
        return flow(c, c->p.font, 9, 12, MARGIN_X, TEXT_W, 0, line);
    }
    return 0;
}

/* QR with its caption on the left, issue time and signature on the right. */
static int closing(struct letter_ctx *c)
{
    struct letter_text *t = c->t;
    const char         *caption = "Pindai untuk memeriksa keaslian surat ini";
    float               fs_url = 7;

    /* The block moves to a new page whole: a QR parted from its caption
     * would confuse the person at the door. */
    const char *issued = render_pdf_or_dash(t->issued_at);
    int         ncap = nlines(c, c->p.font, 8, QR_COL_W, caption);
    int         nurl = nlines(c, c->p.font, fs_url, QR_COL_W, t->url);
    int         niss = nlines(c, c->p.font, 9, SIGN_W, issued);
    int         ncom = nlines(c, c->p.bold, 9, SIGN_W, render_pdf_or_dash(t->company));
    if (ncap < 0 || nurl < 0 || niss < 0 || ncom < 0)
        return -1;
    float left_h = QR_SIZE + 2 + (float)ncap * 10 + 2 + (float)nurl * 9;
    float right_h = 4 + 12 + (float)niss * 12 + 6 + 12 + (float)ncom * 12 + 48 + 3 + 10;
    if (need(&c->p, 14 + (left_h > right_h ? left_h : right_h)) < 0)
        return -1;
    c->p.y -= 14;
    float top = c->p.y;

    if (render_pdf_qr(&c->p, c->qr_text, MARGIN_X, top - QR_SIZE, QR_SIZE) < 0)
        return -1;
    /* The quiet zone is white space already; the caption may sit close. */
    struct render_pdf_lines col = {c->p.font, 8, 10, MARGIN_X + 2, QR_COL_W, 0, false, top - QR_SIZE - 2};
    if (column(c, &col, caption) < 0)
        return -1;
    col.size = fs_url;
    col.lead = 9;
    col.y -= 2;
    if (column(c, &col, t->url) < 0)
        return -1;
    float left_bottom = col.y;

    struct render_pdf_lines r = {c->p.font, 9, 12, SIGN_X, SIGN_W, 0, false, top - 4};
    if (column(c, &r, "Diterbitkan:") < 0 || column(c, &r, issued) < 0)
        return -1;
    r.y -= 6;
    if (column(c, &r, "Hormat kami,") < 0)
        return -1;
    r.f = c->p.bold;
    if (column(c, &r, render_pdf_or_dash(t->company)) < 0)
        return -1;
    r.y -= 48; /* room for the signature and the stamp */
    if (render_pdf_hline(&c->p, SIGN_X, SIGN_X + SIGN_W, r.y, 0.6f) < 0)
        return -1;
    r.f = c->p.font;
    r.size = 7.5f;
    r.y -= 3;
    if (column(c, &r, "Tanda tangan, nama terang & stempel") < 0)
        return -1;

    c->p.y = left_bottom < r.y ? left_bottom : r.y;
    return 0;
}

static int draw(struct letter_ctx *c)
{
    struct letter_text *t = c->t;

    if (new_page(c) < 0 || letterhead(c) < 0 || title(c) < 0)
        return -1;
    if (heading(c, "Pelanggan") < 0 || field(c, "Nama", t->customer_name) < 0 ||
        field(c, "Telepon", t->customer_phone) < 0 || field(c, "Alamat", t->address) < 0)
        return -1;
    if (heading(c, "Jadwal") < 0 ||
        flow(c, c->p.font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, render_pdf_or_dash(t->schedule)) < 0)
        return -1;
    if (heading(c, "Pekerjaan") < 0 || work(c) < 0)
        return -1;
    if (heading(c, "Teknisi yang ditugaskan") < 0 || techs(c) < 0)
        return -1;
    if (heading(c, "Berlaku sampai") < 0 ||
        flow(c, c->p.bold, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, render_pdf_or_dash(t->valid_until)) < 0)
        return -1;
    return closing(c);
}

/* ---- document ------------------------------------------------------------- */

int render_letter_pdf(const struct letter_doc *d, struct buf *out, char *err, size_t errlen)
{
    struct letter_ctx c = {.p = {.need = need, .step = "checking the input"}};
    size_t            keep = out ? out->len : 0;
    int               rc = -1;
    char              title[F_FIELD + 16];

    if (!d || !out) {
        render_pdf_fail(&c.p, "no document or no output buffer");
        goto fail;
    }
    if (!d->font_path || !*d->font_path) {
        render_pdf_fail(&c.p, "no font path");
        goto fail;
    }
    if (!d->verify_url || !*d->verify_url) {
        render_pdf_fail(&c.p, "no verify_url (the letter's QR code needs one)");
        goto fail;
    }
    if (strlen(d->verify_url) > RENDER_MAX_URL) {
        render_pdf_fail(&c.p, "verify_url is longer than " STR(RENDER_MAX_URL) " bytes");
        goto fail;
    }

    c.t = xcalloc(1, sizeof(*c.t));
    fill_text(c.t, d);
    c.qr_text = d->verify_url;
    c.p.line = c.t->line;
    c.p.line_size = sizeof(c.t->line);

    snprintf(title, sizeof(title), "Surat Tugas %s", c.t->code);
    if (render_pdf_open(&c.p, title, d->font_path, d->font_bold_path) < 0)
        goto fail;

    snprintf(c.p.step, sizeof(c.p.step), "drawing the letter");
    if (draw(&c) < 0 || render_pdf_save(&c.p, out) < 0)
        goto fail;
    rc = 0;

fail:
    rc = render_pdf_end(&c.p, rc, "render", out, keep, err, errlen);
    free(c.t);
    return rc;
}
