#include "render/invoice.h"

#include <hpdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain/money.h"
#include "render/qr.h"

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

/* The invoice's text after inv_clean(): valid UTF-8 within the BMP, no
 * control characters (but '\n' in note and pay), cut to the limits. On the
 * heap: worker threads may have small stacks. */
struct inv_text {
    char company[F_FIELD], company_address[F_ADDR], company_phone[F_FIELD];
    char number[F_FIELD], ticket_code[F_FIELD];
    char cust_name[F_FIELD], cust_address[F_ADDR], cust_phone[F_FIELD];
    char note[F_NOTE], pay[F_NOTE];
    char url[F_URL];
    char issued[F_DATE], due[F_DATE], paid_on[F_DATE];
    char (*desc)[F_DESC]; /* nitems of them, NULL when there are none */
    size_t nitems;
    char   line[F_NOTE]; /* one wrapped line at a time, NUL-terminated for libharu */
};

/* Everything one call needs; on its stack, shared with no other call. */
struct inv_ctx {
    HPDF_Doc                  pdf;
    HPDF_Page                 page;
    HPDF_Page                 pages[MAX_PAGES]; /* for the footers, written last */
    int                       npages;
    HPDF_Font                 font, bold;
    float                     y; /* top of the free space on the page, points from the bottom */
    const struct invoice_doc *d;
    struct inv_text          *t;
    const char               *qr_text; /* the caller's public_url, byte for byte; NULL: no QR */
    char                      step[256];
    const char               *why;            /* a failure of ours (not libharu's), or NULL */
    HPDF_STATUS               hcode, hdetail; /* the first libharu error */
};

/* libharu reports every error here before the failing call returns; the
 * first one is kept (later ones are usually its consequences). */
static void HPDF_STDCALL inv_on_error(HPDF_STATUS code, HPDF_STATUS detail, void *user)
{
    struct inv_ctx *c = user;
    if (!c->hcode) {
        c->hcode = code;
        c->hdetail = detail;
    }
}

static int inv_fail_hpdf(struct inv_ctx *c, HPDF_STATUS st)
{
    if (!c->hcode)
        c->hcode = st ? st : HPDF_INVALID_OPERATION;
    return -1;
}

static int inv_fail(struct inv_ctx *c, const char *why)
{
    if (!c->why && !c->hcode)
        c->why = why;
    return -1;
}

/* Every libharu call that returns a status goes through CHECK. */
#define CHECK(c, call)                                                                                                 \
    do {                                                                                                               \
        HPDF_STATUS st_ = (call);                                                                                      \
        if (st_ != HPDF_OK)                                                                                            \
            return inv_fail_hpdf((c), st_);                                                                            \
    } while (0)

static const char *inv_hpdf_text(HPDF_STATUS code)
{
    switch (code) {
    case HPDF_FILE_OPEN_ERROR: return "cannot open the file";
    case HPDF_FILE_IO_ERROR: return "cannot read the file";
    case HPDF_TTF_INVALID_FOMAT: return "not a TrueType font";
    case HPDF_TTF_INVALID_CMAP: return "the font has no usable Unicode cmap";
    case HPDF_TTF_MISSING_TABLE: return "the font lacks a required table";
    case HPDF_TTF_CANNOT_EMBEDDING_FONT: return "the font's licence forbids embedding";
    case HPDF_INVALID_FONTDEF_DATA: return "invalid font data";
    case HPDF_FAILD_TO_ALLOC_MEM: return "out of memory";
    case HPDF_ZLIB_ERROR: return "compression failed";
    default: return "libharu call failed";
    }
}

static void inv_set_err(char *err, size_t errlen, const struct inv_ctx *c)
{
    if (!err || !errlen)
        return;
    if (c->hcode == HPDF_FILE_OPEN_ERROR || c->hcode == HPDF_FILE_IO_ERROR)
        snprintf(err, errlen, "render invoice: %s: %s (libharu error 0x%04X, errno %u)", c->step,
                 inv_hpdf_text(c->hcode), (unsigned)c->hcode, (unsigned)c->hdetail);
    else if (c->hcode)
        snprintf(err, errlen, "render invoice: %s: %s (libharu error 0x%04X, detail %u)", c->step,
                 inv_hpdf_text(c->hcode), (unsigned)c->hcode, (unsigned)c->hdetail);
    else
        snprintf(err, errlen, "render invoice: %s: %s", c->step, c->why ? c->why : "failed");
}

/* ---- text in, made safe ------------------------------------------------------ */

/* The length of the valid UTF-8 sequence at s and its code point, or 0 for
 * an invalid one (overlong, surrogate, beyond U+10FFFF, cut short). The
 * NUL is never a continuation byte, so this never reads past the end. */
static size_t inv_utf8(const unsigned char *s, uint32_t *cp)
{
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t                len;
    uint32_t              v;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, v = s[0] & 0x1Fu;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, v = s[0] & 0x0Fu;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, v = s[0] & 0x07u;
    else
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3Fu);
    }
    if (v < least[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/*
 * src (NULL is "") into dst, which holds max + 4 bytes, in the form libharu
 * 2.3's UTF-8 encoder draws faithfully: broken sequences and characters past
 * U+FFFF become U+FFFD (it would draw a space or split them), C0/C1
 * controls and DEL become a space (it would draw .notdef boxes), '\n' stays
 * when keep_nl, and text past max bytes is cut at a character boundary and
 * marked with "…".
 */
static void inv_clean(char *dst, const char *src, size_t max, bool keep_nl)
{
    static const char    repl[] = "\xEF\xBF\xBD";
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    size_t               o = 0;

    while (*s) {
        uint32_t    cp = 0;
        size_t      n = inv_utf8(s, &cp);
        const char *put = (const char *)s;
        size_t      len = n;

        if (n == 0) {
            n = 1;
            put = repl, len = 3;
        } else if (cp == '\r' && keep_nl && s[1] == '\n') {
            s++; /* CR LF is one line break */
            continue;
        } else if (cp == '\n' && keep_nl) {
            /* as is */
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            put = " ", len = 1;
        } else if (cp > 0xFFFF) {
            put = repl, len = 3;
        }
        if (o + len > max) {
            memcpy(dst + o, "\xE2\x80\xA6", 3);
            o += 3;
            break;
        }
        memcpy(dst + o, put, len);
        o += len;
        s += n;
    }
    dst[o] = '\0';
}

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

    inv_clean(t->company, d->company, RENDER_INV_MAX_FIELD, false);
    inv_clean(t->company_address, d->company_address, RENDER_INV_MAX_ADDRESS, false);
    inv_clean(t->company_phone, d->company_phone, RENDER_INV_MAX_FIELD, false);
    inv_clean(t->number, d->number, RENDER_INV_MAX_FIELD, false);
    inv_clean(t->ticket_code, d->ticket_code, RENDER_INV_MAX_FIELD, false);
    inv_clean(t->cust_name, d->customer_name, RENDER_INV_MAX_FIELD, false);
    inv_clean(t->cust_address, d->customer_address, RENDER_INV_MAX_ADDRESS, false);
    inv_clean(t->cust_phone, d->customer_phone, RENDER_INV_MAX_FIELD, false);
    inv_clean(t->note, d->note, RENDER_INV_MAX_NOTE, true);
    inv_clean(t->pay, d->pay_bank, RENDER_INV_MAX_NOTE, true);
    /* The length was checked: this never cuts the URL. */
    inv_clean(t->url, c->qr_text, RENDER_INV_MAX_URL, false);
    render_date_id(d->issued_s, t->issued, sizeof(t->issued));
    render_date_id(d->due_s, t->due, sizeof(t->due));
    render_date_id(d->paid_s, t->paid_on, sizeof(t->paid_on));

    t->nitems = d->items ? d->nitems : 0;
    if (t->nitems) {
        t->desc = calloc(t->nitems, sizeof(*t->desc));
        if (!t->desc)
            return inv_fail(c, "out of memory for the item texts");
        for (size_t i = 0; i < t->nitems; i++)
            inv_clean(t->desc[i], d->items[i].description, RENDER_INV_MAX_DESC, false);
    }
    return 0;
}

static const char *dash(const char *s)
{
    return *s ? s : "-";
}

/* ---- drawing ------------------------------------------------------------------ */

static float inv_width(HPDF_Font f, float size, const char *s)
{
    HPDF_TextWidth tw = HPDF_Font_TextWidth(f, (const HPDF_BYTE *)s, (HPDF_UINT)strlen(s));
    return (float)tw.width * size / 1000.0f;
}

static int inv_text(struct inv_ctx *c, HPDF_Font f, float size, float x, float baseline, const char *s)
{
    if (!*s)
        return 0;
    CHECK(c, HPDF_Page_BeginText(c->page));
    CHECK(c, HPDF_Page_SetFontAndSize(c->page, f, size));
    CHECK(c, HPDF_Page_TextOut(c->page, x, baseline, s));
    CHECK(c, HPDF_Page_EndText(c->page));
    return 0;
}

/* s right-aligned at x_right; set smaller (down to 4 pt) when wider than
 * max_w, so a figure is never cut or run into its neighbour. */
static int inv_text_right(struct inv_ctx *c, HPDF_Font f, float size, float x_right, float baseline, float max_w,
                          const char *s)
{
    float w = inv_width(f, size, s);
    if (w > max_w && w > 0) {
        float smaller = size * max_w / w;
        size = smaller < 4.0f ? 4.0f : smaller;
        w = inv_width(f, size, s);
    }
    return inv_text(c, f, size, x_right - w, baseline, s);
}

static int inv_hline(struct inv_ctx *c, float x0, float x1, float y, float width)
{
    CHECK(c, HPDF_Page_SetLineWidth(c->page, width));
    CHECK(c, HPDF_Page_MoveTo(c->page, x0, y));
    CHECK(c, HPDF_Page_LineTo(c->page, x1, y));
    CHECK(c, HPDF_Page_Stroke(c->page));
    return 0;
}

/* A faint "DRAF" across the page, under everything drawn after it. */
static int inv_watermark(struct inv_ctx *c)
{
    const char *w = "DRAF";
    float       size = 140, ang = 0.7f; /* radians, about 40 degrees */
    float       tw = inv_width(c->bold, size, w), cs = cosf(ang), sn = sinf(ang);
    float       cap = size * 0.72f; /* cap height of Liberation Sans, near enough */
    /* Start so that the word's middle lands on the page's middle. */
    float x = PAGE_W / 2 - (cs * tw / 2 - sn * cap / 2);
    float y = PAGE_H / 2 - (sn * tw / 2 + cs * cap / 2);

    CHECK(c, HPDF_Page_SetGrayFill(c->page, 0.91f));
    CHECK(c, HPDF_Page_BeginText(c->page));
    CHECK(c, HPDF_Page_SetFontAndSize(c->page, c->bold, size));
    CHECK(c, HPDF_Page_SetTextMatrix(c->page, cs, sn, -sn, cs, x, y));
    CHECK(c, HPDF_Page_ShowText(c->page, w));
    CHECK(c, HPDF_Page_EndText(c->page));
    CHECK(c, HPDF_Page_SetGrayFill(c->page, 0));
    return 0;
}

static int inv_new_page(struct inv_ctx *c)
{
    if (c->npages == MAX_PAGES)
        return inv_fail(c, "the invoice does not fit in " STR(MAX_PAGES) " pages");
    c->page = HPDF_AddPage(c->pdf);
    if (!c->page)
        return inv_fail_hpdf(c, 0);
    c->pages[c->npages++] = c->page;
    CHECK(c, HPDF_Page_SetSize(c->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT));
    if (c->d->draft && inv_watermark(c) < 0)
        return -1;
    c->y = PAGE_TOP;
    if (c->npages > 1) {
        /* A continuation page says what it continues. */
        char head[F_FIELD + 32];
        snprintf(head, sizeof(head), "INVOICE %s (lanjutan)", c->t->number);
        if (inv_text(c, c->bold, 9, MARGIN_X, c->y - 9, head) < 0)
            return -1;
        if (c->d->draft && inv_text_right(c, c->bold, 9, RIGHT_X, c->y - 9, TEXT_W / 2, "DRAF") < 0)
            return -1;
        CHECK(c, HPDF_Page_SetGrayStroke(c->page, 0.5f));
        if (inv_hline(c, MARGIN_X, RIGHT_X, c->y - 13, 0.5f) < 0)
            return -1;
        CHECK(c, HPDF_Page_SetGrayStroke(c->page, 0));
        c->y -= 24;
    }
    return 0;
}

/* h points free below the cursor, else a new page. Returns 1 when it
 * started one, 0 when there was room, -1 on error. */
static int inv_need(struct inv_ctx *c, float h)
{
    if (c->y - h >= PAGE_BOT)
        return 0;
    return inv_new_page(c) < 0 ? -1 : 1;
}

/* ---- wrapping ------------------------------------------------------------- */

/*
 * The first line of s[0..len) (one paragraph, no '\n', no leading space)
 * that fits w points at size: *draw gets the bytes to draw (trailing spaces
 * left out), the return value the bytes to step over to the next line's
 * first character. Breaks after a space where it can; a word wider than the
 * line is broken between characters; at least one character is taken.
 *
 * libharu's MeasureText counts bytes. With word wrap it ends after a space,
 * or gives 0 when the first word alone is too wide; without it, it may end
 * inside a UTF-8 sequence, so the count steps back to a character start.
 */
static size_t inv_break(HPDF_Font f, float size, float w, const char *s, size_t len, size_t *draw)
{
    HPDF_REAL used = 0;
    size_t    k = HPDF_Font_MeasureText(f, (const HPDF_BYTE *)s, (HPDF_UINT)len, w, size, 0, 0, HPDF_TRUE, &used);

    if (k == 0 && len) {
        k = HPDF_Font_MeasureText(f, (const HPDF_BYTE *)s, (HPDF_UINT)len, w, size, 0, 0, HPDF_FALSE, &used);
        while (k > 0 && k < len && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        if (k == 0) { /* not one character fits: take one anyway */
            k = 1;
            while (k < len && ((unsigned char)s[k] & 0xC0) == 0x80)
                k++;
        }
    }
    if (k > len)
        k = len;
    size_t e = k;
    while (e > 0 && s[e - 1] == ' ')
        e--;
    *draw = e;
    while (k < len && s[k] == ' ')
        k++;
    return k;
}

/* How lines are placed: at x in a column w wide, the first baseline size
 * below the top, then lead apart; align 0 left, 1 centre, 2 right. When
 * flow is set the lines run down the page from the cursor and over page
 * breaks; otherwise they go from the fixed y (a table cell, a column). */
struct inv_lines {
    HPDF_Font f;
    float     size, lead, x, w;
    int       align;
    bool      flow;
    float     y; /* fixed placement: top of the next line */
};

/* Draws (or, when count is set, only counts) the lines of the paragraph
 * s[0..len). Returns the number of lines, or -1. */
static int inv_para(struct inv_ctx *c, struct inv_lines *l, const char *s, size_t len, bool count)
{
    int n = 0;

    while (len && *s == ' ')
        s++, len--;
    while (len) {
        size_t draw = 0, step = inv_break(l->f, l->size, l->w, s, len, &draw);
        if (c->hcode)
            return -1;
        n++;
        if (!count) {
            char *line = c->t->line; /* F_NOTE bytes: longer than any paragraph */
            memcpy(line, s, draw);
            line[draw] = '\0';
            float x = l->x;
            if (l->align) {
                float lw = inv_width(l->f, l->size, line);
                x += l->align == 1 ? (l->w - lw) / 2 : l->w - lw;
            }
            if (l->flow) {
                if (inv_need(c, l->lead) < 0 || inv_text(c, l->f, l->size, x, c->y - l->size, line) < 0)
                    return -1;
                c->y -= l->lead;
            } else {
                if (inv_text(c, l->f, l->size, x, l->y - l->size, line) < 0)
                    return -1;
                l->y -= l->lead;
            }
        }
        s += step, len -= step;
    }
    return n;
}

/* Text with '\n' paragraphs: each wrapped, an empty one a half-line gap.
 * Returns the height it takes (count) or took, or -1. */
static float inv_block(struct inv_ctx *c, struct inv_lines *l, const char *s, bool count)
{
    float h = 0;

    for (;;) {
        const char *nl = strchr(s, '\n');
        size_t      len = nl ? (size_t)(nl - s) : strlen(s);
        int         n = inv_para(c, l, s, len, count);
        if (n < 0)
            return -1;
        float dy = n ? (float)n * l->lead : l->lead / 2;
        h += dy;
        if (n == 0 && !count) {
            if (l->flow)
                c->y -= dy;
            else
                l->y -= dy;
        }
        if (!nl)
            break;
        s = nl + 1;
    }
    return h;
}

/* Shorthands: text flowing down the page, and the height text would take. */
static int inv_flow(struct inv_ctx *c, HPDF_Font f, float size, float lead, float x, float w, int align, const char *s)
{
    struct inv_lines l = {f, size, lead, x, w, align, true, 0};
    return inv_block(c, &l, s, false) < 0 ? -1 : 0;
}

static float inv_height(struct inv_ctx *c, HPDF_Font f, float size, float lead, float w, const char *s)
{
    struct inv_lines l = {f, size, lead, 0, w, 0, false, 0};
    return inv_block(c, &l, s, true);
}

/* ---- the parts ---------------------------------------------------------------- */

static int inv_letterhead(struct inv_ctx *c)
{
    struct inv_text *t = c->t;

    if (inv_flow(c, c->bold, 16, 19, MARGIN_X, TEXT_W, 0, dash(t->company)) < 0)
        return -1;
    c->y -= 2;
    if (inv_flow(c, c->font, 9.5f, 12, MARGIN_X, TEXT_W, 0, t->company_address) < 0)
        return -1;
    if (*t->company_phone) {
        char line[F_FIELD + 8];
        snprintf(line, sizeof(line), "Telp. %s", t->company_phone);
        if (inv_flow(c, c->font, 9.5f, 12, MARGIN_X, TEXT_W, 0, line) < 0)
            return -1;
    }
    /* The double rule of an Indonesian letterhead: thick over thin. */
    c->y -= 6;
    if (inv_hline(c, MARGIN_X, RIGHT_X, c->y, 1.6f) < 0 || inv_hline(c, MARGIN_X, RIGHT_X, c->y - 2.6f, 0.5f) < 0)
        return -1;
    c->y -= 20;
    return 0;
}

/* One "Label : value" row of the right-hand column, from *top down. */
static int inv_meta_row(struct inv_ctx *c, float *top, const char *label, const char *value, bool strong)
{
    if (inv_text(c, c->font, FS_BODY, META_X, *top - FS_BODY, label) < 0 ||
        inv_text(c, c->font, FS_BODY, META_VAL - MM(3), *top - FS_BODY, ":") < 0)
        return -1;
    struct inv_lines l = {strong ? c->bold : c->font, FS_BODY, LEAD_BODY, META_VAL, META_W, 0, false, *top};
    if (inv_block(c, &l, dash(value), false) < 0)
        return -1;
    *top = l.y - 2;
    return 0;
}

/* INVOICE and the customer on the left, number and dates on the right. */
static int inv_heading(struct inv_ctx *c)
{
    struct inv_text *t = c->t;
    float            top = c->y, r = top;

    if (inv_text(c, c->bold, 24, MARGIN_X, top - 22, "INVOICE") < 0)
        return -1;
    if (inv_meta_row(c, &r, "Nomor", t->number, true) < 0 || inv_meta_row(c, &r, "Tanggal", t->issued, false) < 0 ||
        inv_meta_row(c, &r, "Jatuh tempo", t->due, false) < 0 ||
        inv_meta_row(c, &r, "No. tiket", t->ticket_code, false) < 0)
        return -1;

    struct inv_lines lines = {c->font, 8.5f, 11, MARGIN_X, CUST_W, 0, false, top - 40};
    CHECK(c, HPDF_Page_SetGrayFill(c->page, 0.35f));
    if (inv_block(c, &lines, "Ditagihkan kepada", false) < 0)
        return -1;
    CHECK(c, HPDF_Page_SetGrayFill(c->page, 0));
    lines.y -= 1;
    lines.f = c->bold, lines.size = 11, lines.lead = 14;
    if (inv_block(c, &lines, dash(t->cust_name), false) < 0)
        return -1;
    lines.f = c->font, lines.size = FS_BODY, lines.lead = LEAD_BODY;
    if (inv_block(c, &lines, t->cust_address, false) < 0)
        return -1;
    if (*t->cust_phone) {
        char phone[F_FIELD + 8];
        snprintf(phone, sizeof(phone), "Telp. %s", t->cust_phone);
        if (inv_block(c, &lines, phone, false) < 0)
            return -1;
    }
    c->y = (lines.y < r ? lines.y : r) - 12;
    return 0;
}

/* The draft's banner: what this paper is not. */
static int inv_draft_banner(struct inv_ctx *c)
{
    const char *sub = "Pratinjau untuk pemeriksaan internal, belum menjadi tagihan. Kode QR dan tautan invoice "
                      "muncul setelah invoice disetujui Sales dan dikirim ke pelanggan.";
    const char *head = "DRAF \xE2\x80\x94 belum disetujui/dikirim";
    float       hs = inv_height(c, c->font, 8.5f, 10.5f, TEXT_W - 2 * MM(4), sub);
    if (hs < 0)
        return -1;
    float h = 8 + 13 + hs + 6;
    float top = c->y;

    CHECK(c, HPDF_Page_SetRGBFill(c->page, 1.0f, 0.93f, 0.92f));
    CHECK(c, HPDF_Page_SetRGBStroke(c->page, 0.70f, 0.10f, 0.10f));
    CHECK(c, HPDF_Page_SetLineWidth(c->page, 1.2f));
    CHECK(c, HPDF_Page_Rectangle(c->page, MARGIN_X, top - h, TEXT_W, h));
    CHECK(c, HPDF_Page_FillStroke(c->page));
    CHECK(c, HPDF_Page_SetRGBFill(c->page, 0.62f, 0.05f, 0.05f));
    struct inv_lines l = {c->bold, 11.5f, 13, MARGIN_X + MM(4), TEXT_W - 2 * MM(4), 1, false, top - 7};
    if (inv_block(c, &l, head, false) < 0)
        return -1;
    l.f = c->font, l.size = 8.5f, l.lead = 10.5f, l.y -= 1;
    if (inv_block(c, &l, sub, false) < 0)
        return -1;
    CHECK(c, HPDF_Page_SetRGBFill(c->page, 0, 0, 0));
    CHECK(c, HPDF_Page_SetRGBStroke(c->page, 0, 0, 0));
    c->y = top - h - 12;
    return 0;
}

/* One table row: the five cells, the description wrapped; header rows are
 * bold on grey. A row that does not fit goes to a new page, under a new
 * header row. */
static int inv_row(struct inv_ctx *c, bool header, const char *no, const char *desc, const char *qty, const char *price,
                   const char *total)
{
    HPDF_Font f = header ? c->bold : c->font;
    float     dh = inv_height(c, f, FS_TAB, LEAD_TAB, C_DESC_W - 2 * PAD, desc);
    if (dh < 0)
        return -1;
    if (dh < LEAD_TAB)
        dh = LEAD_TAB;
    float h = dh + 2 * PAD;

    int fresh = inv_need(c, h);
    if (fresh < 0)
        return -1;
    if (fresh && !header && inv_row(c, true, "No.", "Uraian", "Jumlah", "Harga Satuan", "Total") < 0)
        return -1;

    const float xs[5] = {MARGIN_X, MARGIN_X + C_NO_W, MARGIN_X + C_NO_W + C_DESC_W,
                         MARGIN_X + C_NO_W + C_DESC_W + C_QTY_W, MARGIN_X + C_NO_W + C_DESC_W + C_QTY_W + C_PRICE_W};
    const float ws[5] = {C_NO_W, C_DESC_W, C_QTY_W, C_PRICE_W, C_TOTAL_W};
    float       top = c->y, base = top - PAD - 1.0f - FS_TAB;

    /* Body cells are only outlined, not filled, so a draft's watermark
     * shows through the table too. */
    CHECK(c, HPDF_Page_SetLineWidth(c->page, 0.5f));
    CHECK(c, HPDF_Page_SetGrayStroke(c->page, 0.45f));
    CHECK(c, HPDF_Page_SetGrayFill(c->page, 0.90f));
    for (int i = 0; i < 5; i++)
        CHECK(c, HPDF_Page_Rectangle(c->page, xs[i], top - h, ws[i], h));
    CHECK(c, header ? HPDF_Page_FillStroke(c->page) : HPDF_Page_Stroke(c->page));
    CHECK(c, HPDF_Page_SetGrayFill(c->page, 0)); /* text is drawn in the fill colour */
    CHECK(c, HPDF_Page_SetGrayStroke(c->page, 0));

    if (inv_text_right(c, f, FS_TAB, xs[0] + ws[0] - PAD, base, ws[0] - 2 * PAD, no) < 0)
        return -1;
    struct inv_lines l = {f, FS_TAB, LEAD_TAB, xs[1] + PAD, ws[1] - 2 * PAD, 0, false, top - PAD - 1.0f};
    if (inv_block(c, &l, desc, false) < 0)
        return -1;
    if (inv_text_right(c, f, FS_TAB, xs[2] + ws[2] - PAD, base, ws[2] - 2 * PAD, qty) < 0 ||
        inv_text_right(c, f, FS_TAB, xs[3] + ws[3] - PAD, base, ws[3] - 2 * PAD, price) < 0 ||
        inv_text_right(c, f, FS_TAB, xs[4] + ws[4] - PAD, base, ws[4] - 2 * PAD, total) < 0)
        return -1;
    c->y = top - h;
    return 0;
}

static int inv_items(struct inv_ctx *c)
{
    const struct invoice_doc *d = c->d;
    struct inv_text          *t = c->t;

    /* The header keeps at least one item line with it. */
    if (inv_need(c, 2 * (LEAD_TAB + 2 * PAD)) < 0)
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

    CHECK(c, HPDF_Page_GSave(c->page));
    CHECK(c, HPDF_Page_Concat(c->page, cs, sn, -sn, cs, cx, cy));
    CHECK(c, HPDF_Page_SetRGBStroke(c->page, 0.05f, 0.45f, 0.20f));
    CHECK(c, HPDF_Page_SetRGBFill(c->page, 0.05f, 0.45f, 0.20f));
    CHECK(c, HPDF_Page_SetLineWidth(c->page, 2.2f));
    CHECK(c, HPDF_Page_Rectangle(c->page, -w / 2, -h / 2, w, h));
    CHECK(c, HPDF_Page_Stroke(c->page));
    CHECK(c, HPDF_Page_SetLineWidth(c->page, 0.8f));
    CHECK(c, HPDF_Page_Rectangle(c->page, -w / 2 + 3, -h / 2 + 3, w - 6, h - 6));
    CHECK(c, HPDF_Page_Stroke(c->page));
    bool  dated = strcmp(c->t->paid_on, "-") != 0;
    float ws = inv_width(c->bold, 26, word);
    if (inv_text(c, c->bold, 26, -ws / 2, dated ? -3.0f : -9.0f, word) < 0)
        return -1;
    if (dated) {
        float wd = inv_width(c->font, 8, c->t->paid_on);
        if (inv_text(c, c->font, 8, -wd / 2, -h / 2 + 6, c->t->paid_on) < 0)
            return -1;
    }
    CHECK(c, HPDF_Page_GRestore(c->page));
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
    if (inv_need(c, h) < 0)
        return -1;
    c->y -= 6;
    float top = c->y;
    for (int i = 0; i < 6; i++) {
        bool      strong = i == 3 || i == 5;
        HPDF_Font f = strong ? c->bold : c->font;
        float     size = strong ? 10.5f : FS_BODY;
        if (i == 3 && inv_hline(c, SUM_X, RIGHT_X, c->y - 1.5f, 0.8f) < 0)
            return -1;
        if (i == 5) { /* what is still owed, on grey */
            CHECK(c, HPDF_Page_SetGrayFill(c->page, 0.90f));
            CHECK(c, HPDF_Page_Rectangle(c->page, SUM_X - 4, c->y - SUM_LEAD + 1, RIGHT_X - SUM_X + 4, SUM_LEAD));
            CHECK(c, HPDF_Page_Fill(c->page));
            CHECK(c, HPDF_Page_SetGrayFill(c->page, 0));
        }
        float base = c->y - 11;
        if (inv_text(c, f, size, SUM_X, base, labels[i]) < 0 ||
            inv_text_right(c, f, size, RIGHT_X - PAD, base, SUM_AMT_W, amt[i]) < 0)
            return -1;
        c->y -= SUM_LEAD;
    }
    if (d->paid && inv_stamp(c, MARGIN_X + MM(40), (top + c->y) / 2) < 0)
        return -1;
    c->y -= 8;
    return 0;
}

static int inv_section(struct inv_ctx *c, const char *title)
{
    /* A heading stays on the page of its first line. */
    if (inv_need(c, 8 + 15 + LEAD_BODY) < 0)
        return -1;
    c->y -= 8;
    if (inv_text(c, c->bold, 10.5f, MARGIN_X, c->y - 10.5f, title) < 0)
        return -1;
    c->y -= 15;
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
    return inv_flow(c, c->font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, note);
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
                 dash(c->t->number));
    else
        snprintf(own, n, "Mohon tulis nomor %s pada berita transfer.", dash(c->t->number));
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
    float       hc = inv_height(c, c->font, FS_BODY, LEAD_BODY, side_w, caption);
    float       hu = inv_height(c, c->font, 8, 10, TEXT_W, c->t->url);
    if (hc < 0 || hu < 0)
        return -1;
    if (inv_need(c, 10 + QR_SIZE + 2 + hu) < 0)
        return -1;
    c->y -= 10;
    float top = c->y;

    int rc = render_qr_draw(c->page, c->qr_text, MARGIN_X, top - QR_SIZE, QR_SIZE, NULL);
    if (rc == RENDER_QR_EDRAW)
        return inv_fail_hpdf(c, 0);
    if (rc != RENDER_QR_OK)
        return inv_fail(c, rc == RENDER_QR_EINPUT ? "the URL cannot be encoded as a QR code"
                                                  : "QR encoding failed (out of memory)");
    /* The caption sits level with the code's middle. */
    float            cap_top = top - (QR_SIZE - hc) / 2;
    struct inv_lines l = {c->font, FS_BODY, LEAD_BODY, side_x, side_w, 0, false, cap_top > top ? top : cap_top};
    if (inv_block(c, &l, caption, false) < 0)
        return -1;
    /* The quiet zone is white already: the URL may sit close under it. */
    c->y = top - QR_SIZE - 1;
    return inv_flow(c, c->font, 8, 10, MARGIN_X + MM(2), TEXT_W - MM(2), 0, c->t->url);
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
    if (inv_section(c, "Cara Pembayaran") < 0 || inv_flow(c, c->font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, pay) < 0)
        return -1;
    c->y -= 4;
    if (inv_flow(c, c->font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, own) < 0)
        return -1;
    if (c->d->draft)
        return 0;
    if (!c->qr_text) {
        c->y -= 6;
        return inv_flow(c, c->font, 8.5f, 11, MARGIN_X, TEXT_W, 0,
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
        c->page = c->pages[i];
        snprintf(right, sizeof(right), "Halaman %d dari %d", i + 1, c->npages);
        CHECK(c, HPDF_Page_SetGrayFill(c->page, 0.4f));
        CHECK(c, HPDF_Page_SetGrayStroke(c->page, 0.6f));
        if (inv_hline(c, MARGIN_X, RIGHT_X, FOOT_Y + 10, 0.4f) < 0)
            return -1;
        char left[F_FIELD + 16];
        snprintf(left, sizeof(left), "%s%s", dash(c->t->number), c->d->draft ? " (DRAF)" : "");
        if (inv_text(c, c->font, 7.5f, MARGIN_X, FOOT_Y, left) < 0 ||
            inv_text_right(c, c->font, 7.5f, RIGHT_X, FOOT_Y, TEXT_W / 2, right) < 0)
            return -1;
        CHECK(c, HPDF_Page_SetGrayFill(c->page, 0));
        CHECK(c, HPDF_Page_SetGrayStroke(c->page, 0));
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

static int inv_load_font(struct inv_ctx *c, const char *path, HPDF_Font *out)
{
    snprintf(c->step, sizeof(c->step), "loading font '%.200s'", path);
    /* Embedded (the reader need not have the font); libharu 2.3 keeps only
     * the glyphs used. */
    const char *name = HPDF_LoadTTFontFromFile(c->pdf, path, HPDF_TRUE);
    if (!name)
        return inv_fail_hpdf(c, 0);
    *out = HPDF_GetFont(c->pdf, name, "UTF-8");
    if (!*out)
        return inv_fail_hpdf(c, 0);
    return 0;
}

/* Serialises the document into memory and appends it to out. */
static int inv_save(struct inv_ctx *c, struct buf *out)
{
    snprintf(c->step, sizeof(c->step), "saving the PDF");
    CHECK(c, HPDF_SaveToStream(c->pdf));
    HPDF_UINT32 size = HPDF_GetStreamSize(c->pdf);
    if (c->hcode)
        return -1;
    if (size == 0)
        return inv_fail(c, "libharu produced an empty stream");
    CHECK(c, HPDF_ResetStream(c->pdf));

    buf_reserve(out, size);
    size_t got = 0;
    while (got < size) {
        HPDF_UINT32 n = size - (HPDF_UINT32)got;
        /* HPDF_STREAM_EOF comes with the last bytes and is not an error. */
        HPDF_STATUS st = HPDF_ReadFromStream(c->pdf, (HPDF_BYTE *)out->data + out->len + got, &n);
        if (st != HPDF_OK && st != HPDF_STREAM_EOF)
            return inv_fail_hpdf(c, st);
        got += n;
        if (st == HPDF_STREAM_EOF || n == 0)
            break;
    }
    if (got != size)
        return inv_fail(c, "short read from libharu's stream");
    out->len += got;
    out->data[out->len] = '\0';
    return 0;
}

/* The title viewers show: ASCII, because libharu 2.3 writes info strings
 * byte for byte, not as UTF-8. */
static int inv_set_info(struct inv_ctx *c)
{
    char title[F_FIELD + 16];
    snprintf(title, sizeof(title), "Invoice %s", c->t->number);
    for (char *p = title; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E)
            *p = '?';
    CHECK(c, HPDF_SetInfoAttr(c->pdf, HPDF_INFO_TITLE, title));
    CHECK(c, HPDF_SetInfoAttr(c->pdf, HPDF_INFO_CREATOR, "GSS"));
    return 0;
}

int render_invoice_pdf(const struct invoice_doc *d, struct buf *out, char *err, size_t errlen)
{
    struct inv_ctx c = {0};
    size_t         keep = out ? out->len : 0;
    int            rc = -1;

    if (err && errlen)
        err[0] = '\0';
    snprintf(c.step, sizeof(c.step), "checking the input");
    if (!d || !out) {
        inv_fail(&c, "no document or no output buffer");
        goto fail;
    }
    c.d = d;
    if (!d->font_path || !*d->font_path) {
        inv_fail(&c, "no font path");
        goto fail;
    }
    if (d->items && d->nitems > RENDER_INV_MAX_ITEMS) {
        inv_fail(&c, "more than " STR(RENDER_INV_MAX_ITEMS) " items");
        goto fail;
    }
    if (!d->draft && d->public_url && *d->public_url) {
        if (strlen(d->public_url) > RENDER_INV_MAX_URL) {
            inv_fail(&c, "public_url is longer than " STR(RENDER_INV_MAX_URL) " bytes");
            goto fail;
        }
        c.qr_text = d->public_url;
    }

    c.t = calloc(1, sizeof(*c.t));
    if (!c.t) {
        inv_fail(&c, "out of memory");
        goto fail;
    }
    if (inv_fill_text(&c) < 0)
        goto fail;

    snprintf(c.step, sizeof(c.step), "creating the document");
    c.pdf = HPDF_New(inv_on_error, &c);
    if (!c.pdf) {
        inv_fail_hpdf(&c, HPDF_FAILD_TO_ALLOC_MEM);
        goto fail;
    }
    if (HPDF_SetCompressionMode(c.pdf, HPDF_COMP_ALL) != HPDF_OK || HPDF_UseUTFEncodings(c.pdf) != HPDF_OK ||
        inv_set_info(&c) < 0) {
        inv_fail_hpdf(&c, 0);
        goto fail;
    }
    if (inv_load_font(&c, d->font_path, &c.font) < 0)
        goto fail;
    c.bold = c.font;
    if (d->font_bold_path && *d->font_bold_path && strcmp(d->font_bold_path, d->font_path) != 0 &&
        inv_load_font(&c, d->font_bold_path, &c.bold) < 0)
        goto fail;

    snprintf(c.step, sizeof(c.step), "drawing the invoice");
    /* Some libharu calls (text widths) report errors only to the handler:
     * a recorded error fails the invoice even if every status was OK. */
    if (inv_draw(&c) < 0 || c.hcode)
        goto fail;
    if (inv_save(&c, out) < 0)
        goto fail;
    rc = 0;

fail:
    if (rc < 0) {
        inv_set_err(err, errlen, &c);
        if (out && out->data) { /* out as it came */
            out->len = keep;
            out->data[keep] = '\0';
        }
    }
    if (c.pdf)
        HPDF_Free(c.pdf);
    if (c.t)
        free(c.t->desc);
    free(c.t);
    return rc;
}
