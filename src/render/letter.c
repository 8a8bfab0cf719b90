#include "render/letter.h"

#include <hpdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render/qr.h"

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

/* The letter's text after clean(): valid UTF-8 within the BMP, no control
 * characters (but '\n' in work), cut to the limits. On the heap, not the
 * stack, because worker threads may have small stacks. */
struct letter_text {
    char   company[F_FIELD], company_address[F_ADDR], company_phone[F_FIELD];
    char   code[F_FIELD], customer_name[F_FIELD], customer_phone[F_FIELD];
    char   address[F_ADDR], schedule[F_FIELD], work[F_WORK];
    char   valid_until[F_FIELD], issued_at[F_FIELD];
    char   url[RENDER_MAX_URL + 4];
    char   tech_name[RENDER_MAX_TECHS][F_FIELD], tech_phone[RENDER_MAX_TECHS][F_FIELD];
    size_t ntechs;  /* rows in tech_name/tech_phone */
    size_t nhidden; /* technicians beyond RENDER_MAX_TECHS */
};

/* Everything one call needs; on its stack, shared with no other call. */
struct letter_ctx {
    HPDF_Doc            pdf;
    HPDF_Page           page;
    HPDF_Font           font, bold;
    float               y; /* top of the free space on the page, points from the bottom */
    int                 npages;
    struct letter_text *t;
    const char         *qr_text;        /* the caller's verify_url, byte for byte */
    char                step[256];      /* what we were doing, for the error message */
    const char         *why;            /* a failure of ours (not libharu's), or NULL */
    HPDF_STATUS         hcode, hdetail; /* the first libharu error */
};

/* libharu reports every error here before the failing call returns; we keep
 * the first one (later ones are usually its consequences) and let the call
 * return, so the error unwinds through our own checks. */
static void HPDF_STDCALL on_hpdf_error(HPDF_STATUS code, HPDF_STATUS detail, void *user)
{
    struct letter_ctx *c = user;
    if (!c->hcode) {
        c->hcode = code;
        c->hdetail = detail;
    }
}

static int fail_hpdf(struct letter_ctx *c, HPDF_STATUS st)
{
    if (!c->hcode)
        c->hcode = st ? st : HPDF_INVALID_OPERATION;
    return -1;
}

static int fail_ours(struct letter_ctx *c, const char *why)
{
    if (!c->why && !c->hcode)
        c->why = why;
    return -1;
}

/* Every libharu call that returns a status goes through TRY. */
#define TRY(c, call)                                                                                                   \
    do {                                                                                                               \
        HPDF_STATUS st_ = (call);                                                                                      \
        if (st_ != HPDF_OK)                                                                                            \
            return fail_hpdf((c), st_);                                                                                \
    } while (0)

static const char *hpdf_describe(HPDF_STATUS code)
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

static void set_err(char *err, size_t errlen, const struct letter_ctx *c)
{
    if (!err || !errlen)
        return;
    if (c->hcode == HPDF_FILE_OPEN_ERROR || c->hcode == HPDF_FILE_IO_ERROR)
        snprintf(err, errlen, "render: %s: %s (libharu error 0x%04X, errno %u)", c->step, hpdf_describe(c->hcode),
                 (unsigned)c->hcode, (unsigned)c->hdetail);
    else if (c->hcode)
        snprintf(err, errlen, "render: %s: %s (libharu error 0x%04X, detail %u)", c->step, hpdf_describe(c->hcode),
                 (unsigned)c->hcode, (unsigned)c->hdetail);
    else
        snprintf(err, errlen, "render: %s: %s", c->step, c->why ? c->why : "failed");
}

/* ---- input cleaning ------------------------------------------------------- */

/* Decodes one UTF-8 sequence at s into *cp; returns its length, or 0 when it
 * is not valid UTF-8 (overlong, a surrogate, past U+10FFFF, cut short). The
 * NUL terminator is never a continuation byte, so this stops at the end. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t        n;
    uint32_t      v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) {
        n = 2, v = c & 0x1Fu, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, v = c & 0x0Fu, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

/*
 * Copies src (NULL is "") into dst, which holds max + 4 bytes, as text that
 * libharu 2.3's UTF-8 encoder handles: it turns anything beyond U+FFFF into
 * a space and draws control bytes as .notdef boxes, and it would split a
 * broken sequence in unforeseeable ways. So: invalid UTF-8 and non-BMP
 * characters become U+FFFD, C0/C1 controls and DEL become a space ('\n'
 * stays when keep_nl), and at most max bytes are copied, cut at a character
 * boundary and marked with "…".
 */
static void clean(char *dst, const char *src, size_t max, int keep_nl)
{
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    size_t               o = 0;
    int                  cut = 0;

    while (*s) {
        uint32_t    cp = 0;
        size_t      n = utf8_next(s, &cp);
        const char *rep = NULL; /* replacement, or NULL to copy the bytes */

        if (n == 0) {
            n = 1; /* skip one byte and resynchronise */
            rep = "\xEF\xBF\xBD";
        } else if (cp == '\n' && keep_nl) {
            rep = "\n";
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            rep = " ";
        } else if (cp > 0xFFFF) {
            rep = "\xEF\xBF\xBD";
        }
        size_t len = rep ? strlen(rep) : n;
        if (o + len > max) {
            cut = 1;
            break;
        }
        memcpy(dst + o, rep ? rep : (const char *)s, len);
        o += len;
        s += n;
    }
    if (cut) {
        memcpy(dst + o, "\xE2\x80\xA6", 3); /* … */
        o += 3;
    }
    dst[o] = '\0';
}

static void fill_text(struct letter_text *t, const struct letter_doc *d)
{
    clean(t->company, d->company, RENDER_MAX_FIELD, 0);
    clean(t->company_address, d->company_address, RENDER_MAX_ADDRESS, 0);
    clean(t->company_phone, d->company_phone, RENDER_MAX_FIELD, 0);
    clean(t->code, d->code, RENDER_MAX_FIELD, 0);
    clean(t->customer_name, d->customer_name, RENDER_MAX_FIELD, 0);
    clean(t->customer_phone, d->customer_phone, RENDER_MAX_FIELD, 0);
    clean(t->address, d->address, RENDER_MAX_ADDRESS, 0);
    clean(t->schedule, d->schedule, RENDER_MAX_FIELD, 0);
    clean(t->work, d->work, RENDER_MAX_WORK, 1);
    clean(t->valid_until, d->valid_until, RENDER_MAX_FIELD, 0);
    clean(t->issued_at, d->issued_at, RENDER_MAX_FIELD, 0);
    /* The caller checked the URL's length, so this never cuts it. */
    clean(t->url, d->verify_url, RENDER_MAX_URL, 0);

    size_t n = d->techs ? d->ntechs : 0;
    t->ntechs = n < RENDER_MAX_TECHS ? n : RENDER_MAX_TECHS;
    t->nhidden = n - t->ntechs;
    for (size_t i = 0; i < t->ntechs; i++) {
        clean(t->tech_name[i], d->techs[i].name, RENDER_MAX_FIELD, 0);
        clean(t->tech_phone[i], d->techs[i].phone, RENDER_MAX_FIELD, 0);
    }
}

static const char *or_dash(const char *s)
{
    return *s ? s : "-";
}

/* ---- drawing primitives --------------------------------------------------- */

static int text_at(struct letter_ctx *c, HPDF_Font f, float size, float x, float y, const char *s)
{
    if (!*s)
        return 0;
    TRY(c, HPDF_Page_BeginText(c->page));
    TRY(c, HPDF_Page_SetFontAndSize(c->page, f, size));
    TRY(c, HPDF_Page_TextOut(c->page, x, y, s));
    TRY(c, HPDF_Page_EndText(c->page));
    return 0;
}

static int hline(struct letter_ctx *c, float x0, float x1, float y, float width)
{
    TRY(c, HPDF_Page_SetLineWidth(c->page, width));
    TRY(c, HPDF_Page_MoveTo(c->page, x0, y));
    TRY(c, HPDF_Page_LineTo(c->page, x1, y));
    TRY(c, HPDF_Page_Stroke(c->page));
    return 0;
}

static float text_width(HPDF_Font f, float size, const char *s)
{
    HPDF_TextWidth tw = HPDF_Font_TextWidth(f, (const HPDF_BYTE *)s, (HPDF_UINT)strlen(s));
    return (float)tw.width * size / 1000.0f;
}

static int new_page(struct letter_ctx *c)
{
    if (c->npages == MAX_PAGES)
        return fail_ours(c, "the letter does not fit in " STR(MAX_PAGES) " pages");
    c->page = HPDF_AddPage(c->pdf);
    if (!c->page)
        return fail_hpdf(c, 0);
    c->npages++;
    TRY(c, HPDF_Page_SetSize(c->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT));
    c->y = PAGE_TOP;
    if (c->npages > 1) {
        /* A continuation page says what it continues. */
        char head[F_FIELD + 64];
        snprintf(head, sizeof(head), "Surat Tugas %s (halaman %d)", c->t->code, c->npages);
        if (text_at(c, c->font, 8, MARGIN_X, c->y - 8, head) < 0)
            return -1;
        c->y -= 22;
    }
    return 0;
}

/* Makes sure h points of height are free below the cursor, else starts a page. */
static int need(struct letter_ctx *c, float h)
{
    if (c->y - h >= PAGE_BOT)
        return 0;
    return new_page(c);
}

/* ---- wrapping ------------------------------------------------------------- */

typedef int (*line_fn)(struct letter_ctx *c, const char *line, void *arg);

/*
 * Breaks s (one paragraph: no '\n') into lines at most w points wide at the
 * given size, breaking at spaces where it can; a word wider than w is broken
 * between characters. Calls emit (when not NULL) with each line, without its
 * leading and trailing spaces. Returns the number of lines, or -1.
 *
 * libharu's MeasureText returns a byte count: with wordwrap it ends after a
 * space, or is 0 when the first word alone is too wide; without wordwrap it
 * may end inside a UTF-8 sequence, so we step back to a character start.
 */
static int wrap(struct letter_ctx *c, HPDF_Font f, float size, float w, const char *s, line_fn emit, void *arg)
{
    char line[F_WORK];
    int  nlines = 0;

    while (*s == ' ')
        s++;
    while (*s) {
        size_t len = strlen(s);
        if (len >= sizeof(line))
            return fail_ours(c, "text longer than the line buffer");
        HPDF_REAL rw = 0;
        HPDF_UINT k = HPDF_Font_MeasureText(f, (const HPDF_BYTE *)s, (HPDF_UINT)len, w, size, 0, 0, HPDF_TRUE, &rw);
        if (c->hcode)
            return -1;
        if (k == 0) {
            k = HPDF_Font_MeasureText(f, (const HPDF_BYTE *)s, (HPDF_UINT)len, w, size, 0, 0, HPDF_FALSE, &rw);
            if (c->hcode)
                return -1;
            while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
                k--;
            if (k == 0) { /* not even one character fits: take one anyway */
                k = 1;
                while (((unsigned char)s[k] & 0xC0) == 0x80)
                    k++;
            }
        }
        if (k > len)
            k = (HPDF_UINT)len;
        size_t e = k;
        while (e > 0 && s[e - 1] == ' ')
            e--;
        memcpy(line, s, e);
        line[e] = '\0';
        if (emit && emit(c, line, arg) < 0)
            return -1;
        nlines++;
        s += k;
        while (*s == ' ')
            s++;
    }
    return nlines;
}

/* A paragraph flowing down the page from the cursor, across pages. */
struct flow {
    HPDF_Font f;
    float     size, lead;
    float     x, w;   /* the column */
    int       center; /* centre each line in the column */
};

static int emit_flow(struct letter_ctx *c, const char *line, void *arg)
{
    const struct flow *fl = arg;
    if (need(c, fl->lead) < 0)
        return -1;
    float x = fl->x;
    if (fl->center)
        x += (fl->w - text_width(fl->f, fl->size, line)) / 2;
    if (text_at(c, fl->f, fl->size, x, c->y - fl->size, line) < 0)
        return -1;
    c->y -= fl->lead;
    return 0;
}

static int flow(struct letter_ctx *c, HPDF_Font f, float size, float lead, float x, float w, int center, const char *s)
{
    struct flow fl = {f, size, lead, x, w, center};
    return wrap(c, f, size, w, s, emit_flow, &fl) < 0 ? -1 : 0;
}

/* Lines drawn at a fixed place (a table cell, a column), not moving the cursor. */
struct column {
    HPDF_Font f;
    float     size, lead;
    float     x, y; /* y: top of the next line */
};

static int emit_column(struct letter_ctx *c, const char *line, void *arg)
{
    struct column *col = arg;
    int            rc = text_at(c, col->f, col->size, col->x, col->y - col->size, line);
    col->y -= col->lead;
    return rc;
}

static int column(struct letter_ctx *c, struct column *col, float w, const char *s)
{
    return wrap(c, col->f, col->size, w, s, emit_column, col) < 0 ? -1 : 0;
}

/* ---- the letter's parts --------------------------------------------------- */

static int letterhead(struct letter_ctx *c)
{
    struct letter_text *t = c->t;

    if (flow(c, c->bold, 16, 19, MARGIN_X, TEXT_W, 0, or_dash(t->company)) < 0)
        return -1;
    c->y -= 2;
    if (flow(c, c->font, 9.5f, 12, MARGIN_X, TEXT_W, 0, t->company_address) < 0)
        return -1;
    if (*t->company_phone) {
        char line[F_FIELD + 8];
        snprintf(line, sizeof(line), "Telp. %s", t->company_phone);
        if (flow(c, c->font, 9.5f, 12, MARGIN_X, TEXT_W, 0, line) < 0)
            return -1;
    }
    /* The double rule of an Indonesian kop surat: thick over thin. */
    c->y -= 6;
    if (hline(c, MARGIN_X, PAGE_W - MARGIN_X, c->y, 1.6f) < 0 ||
        hline(c, MARGIN_X, PAGE_W - MARGIN_X, c->y - 2.6f, 0.5f) < 0)
        return -1;
    c->y -= 24;
    return 0;
}

static int title(struct letter_ctx *c)
{
    const char *ttl = "SURAT TUGAS";
    float       w = text_width(c->bold, 15, ttl);
    float       x = (PAGE_W - w) / 2;

    if (text_at(c, c->bold, 15, x, c->y - 15, ttl) < 0)
        return -1;
    if (hline(c, x, x + w, c->y - 17.5f, 0.8f) < 0)
        return -1;
    c->y -= 22;

    char line[F_FIELD + 16];
    snprintf(line, sizeof(line), "Nomor: %s", or_dash(c->t->code));
    if (flow(c, c->font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 1, line) < 0)
        return -1;
    c->y -= 12;
    return flow(c, c->font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0,
                "Dengan ini kami menugaskan teknisi yang tercantum di bawah untuk melaksanakan "
                "pekerjaan berikut pada pelanggan kami.");
}

static int heading(struct letter_ctx *c, const char *text)
{
    /* Keep a heading on the page of its first line. */
    if (need(c, 9 + 16 + LEAD_BODY) < 0)
        return -1;
    c->y -= 9;
    if (text_at(c, c->bold, FS_HEAD, MARGIN_X, c->y - FS_HEAD, text) < 0)
        return -1;
    c->y -= 16;
    return 0;
}

/* "Label   : value", the value wrapped in its own column. */
static int field(struct letter_ctx *c, const char *label, const char *value)
{
    if (need(c, LEAD_BODY) < 0)
        return -1;
    float base = c->y - FS_BODY;
    if (text_at(c, c->font, FS_BODY, MARGIN_X, base, label) < 0 ||
        text_at(c, c->font, FS_BODY, MARGIN_X + KV_COLON, base, ":") < 0)
        return -1;
    return flow(c, c->font, FS_BODY, LEAD_BODY, MARGIN_X + KV_VALUE, TEXT_W - KV_VALUE, 0, or_dash(value));
}

/* The work text: a paragraph per line of input, blank lines kept as gaps. */
static int work(struct letter_ctx *c)
{
    char *p = c->t->work;
    if (!*p)
        return flow(c, c->font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, "-");
    while (p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        int blank = 1;
        for (const char *q = p; *q; q++)
            blank &= *q == ' ';
        if (blank)
            c->y -= LEAD_BODY / 2;
        else if (flow(c, c->font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, p) < 0)
            return -1;
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* Table columns: number, name, phone. */
#define T_PAD    4.0f
#define T_NO_W   MM(10)
#define T_NAME_W MM(95)
#define T_TEL_W  (TEXT_W - T_NO_W - T_NAME_W)

static int table_row(struct letter_ctx *c, HPDF_Font f, const char *no, const char *name, const char *tel, int header)
{
    int nn = wrap(c, f, FS_BODY, T_NAME_W - 2 * T_PAD, name, NULL, NULL);
    int nt = wrap(c, f, FS_BODY, T_TEL_W - 2 * T_PAD, tel, NULL, NULL);
    if (nn < 0 || nt < 0)
        return -1;
    int   lines = nn > nt ? nn : nt;
    float h = (float)(lines ? lines : 1) * LEAD_BODY + 2 * T_PAD;

    int before = c->npages;
    if (need(c, h) < 0)
        return -1;
    if (c->npages != before && !header) /* a new page repeats the header */
        if (table_row(c, c->bold, "No.", "Nama", "Telepon", 1) < 0)
            return -1;

    float top = c->y, x = MARGIN_X;
    float xs[3] = {x, x + T_NO_W, x + T_NO_W + T_NAME_W};
    float ws[3] = {T_NO_W, T_NAME_W, T_TEL_W};

    TRY(c, HPDF_Page_SetLineWidth(c->page, 0.5f));
    TRY(c, HPDF_Page_SetGrayStroke(c->page, 0.35f));
    TRY(c, HPDF_Page_SetGrayFill(c->page, header ? 0.90f : 1.0f));
    for (int i = 0; i < 3; i++)
        TRY(c, HPDF_Page_Rectangle(c->page, xs[i], top - h, ws[i], h));
    TRY(c, HPDF_Page_FillStroke(c->page));
    TRY(c, HPDF_Page_SetGrayFill(c->page, 0)); /* text is drawn in the fill colour */
    TRY(c, HPDF_Page_SetGrayStroke(c->page, 0));

    const char *cells[3] = {no, name, tel};
    for (int i = 0; i < 3; i++) {
        struct column col = {f, FS_BODY, LEAD_BODY, xs[i] + T_PAD, top - T_PAD - 1.5f};
        if (column(c, &col, ws[i] - 2 * T_PAD, cells[i]) < 0)
            return -1;
    }
    c->y = top - h;
    return 0;
}

static int techs(struct letter_ctx *c)
{
    struct letter_text *t = c->t;

    if (t->ntechs == 0 && t->nhidden == 0)
        return flow(c, c->font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, "Belum ada teknisi yang ditugaskan.");
    if (table_row(c, c->bold, "No.", "Nama", "Telepon", 1) < 0)
        return -1;
    for (size_t i = 0; i < t->ntechs; i++) {
        char no[24];
        snprintf(no, sizeof(no), "%zu.", i + 1);
        if (table_row(c, c->font, no, or_dash(t->tech_name[i]), or_dash(t->tech_phone[i]), 0) < 0)
            return -1;
    }
    if (t->nhidden) {
        char line[64];
        snprintf(line, sizeof(line), "dan %zu teknisi lainnya (lihat aplikasi).", t->nhidden);
        c->y -= 3;
        return flow(c, c->font, 9, 12, MARGIN_X, TEXT_W, 0, line);
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
    const char *issued = or_dash(t->issued_at);
    int         ncap = wrap(c, c->font, 8, QR_COL_W, caption, NULL, NULL);
    int         nurl = wrap(c, c->font, fs_url, QR_COL_W, t->url, NULL, NULL);
    int         niss = wrap(c, c->font, 9, SIGN_W, issued, NULL, NULL);
    int         ncom = wrap(c, c->bold, 9, SIGN_W, or_dash(t->company), NULL, NULL);
    if (ncap < 0 || nurl < 0 || niss < 0 || ncom < 0)
        return -1;
    float left_h = QR_SIZE + 2 + (float)ncap * 10 + 2 + (float)nurl * 9;
    float right_h = 4 + 12 + (float)niss * 12 + 6 + 12 + (float)ncom * 12 + 48 + 3 + 10;
    if (need(c, 14 + (left_h > right_h ? left_h : right_h)) < 0)
        return -1;
    c->y -= 14;
    float top = c->y;

    int qrc = render_qr_draw(c->page, c->qr_text, MARGIN_X, top - QR_SIZE, QR_SIZE, NULL);
    if (qrc == RENDER_QR_EDRAW)
        return fail_hpdf(c, 0);
    if (qrc != RENDER_QR_OK)
        return fail_ours(c, qrc == RENDER_QR_EINPUT ? "the URL cannot be encoded as a QR code"
                                                    : "QR encoding failed (out of memory)");
    /* The quiet zone is white space already; the caption may sit close. */
    struct column col = {c->font, 8, 10, MARGIN_X + 2, top - QR_SIZE - 2};
    if (column(c, &col, QR_COL_W, caption) < 0)
        return -1;
    col.size = fs_url;
    col.lead = 9;
    col.y -= 2;
    if (column(c, &col, QR_COL_W, t->url) < 0)
        return -1;
    float left_bottom = col.y;

    struct column r = {c->font, 9, 12, SIGN_X, top - 4};
    if (column(c, &r, SIGN_W, "Diterbitkan:") < 0 || column(c, &r, SIGN_W, issued) < 0)
        return -1;
    r.y -= 6;
    if (column(c, &r, SIGN_W, "Hormat kami,") < 0)
        return -1;
    r.f = c->bold;
    if (column(c, &r, SIGN_W, or_dash(t->company)) < 0)
        return -1;
    r.y -= 48; /* room for the signature and the stamp */
    if (hline(c, SIGN_X, SIGN_X + SIGN_W, r.y, 0.6f) < 0)
        return -1;
    r.f = c->font;
    r.size = 7.5f;
    r.y -= 3;
    if (column(c, &r, SIGN_W, "Tanda tangan, nama terang & stempel") < 0)
        return -1;

    c->y = left_bottom < r.y ? left_bottom : r.y;
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
    if (heading(c, "Jadwal") < 0 || flow(c, c->font, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, or_dash(t->schedule)) < 0)
        return -1;
    if (heading(c, "Pekerjaan") < 0 || work(c) < 0)
        return -1;
    if (heading(c, "Teknisi yang ditugaskan") < 0 || techs(c) < 0)
        return -1;
    if (heading(c, "Berlaku sampai") < 0 ||
        flow(c, c->bold, FS_BODY, LEAD_BODY, MARGIN_X, TEXT_W, 0, or_dash(t->valid_until)) < 0)
        return -1;
    return closing(c);
}

/* ---- document ------------------------------------------------------------- */

static int load_font(struct letter_ctx *c, const char *path, HPDF_Font *out)
{
    snprintf(c->step, sizeof(c->step), "loading font '%.200s'", path);
    /* Embedded: the reader's machine need not have the font. libharu 2.3
     * writes only the glyphs used (the rest are emptied), so a letter stays
     * small. */
    const char *name = HPDF_LoadTTFontFromFile(c->pdf, path, HPDF_TRUE);
    if (!name)
        return fail_hpdf(c, 0);
    *out = HPDF_GetFont(c->pdf, name, "UTF-8");
    if (!*out)
        return fail_hpdf(c, 0);
    return 0;
}

/* Serialises the document into memory and appends it to out. */
static int save(struct letter_ctx *c, struct buf *out)
{
    snprintf(c->step, sizeof(c->step), "saving the PDF");
    TRY(c, HPDF_SaveToStream(c->pdf));
    HPDF_UINT32 size = HPDF_GetStreamSize(c->pdf);
    if (c->hcode)
        return -1;
    if (size == 0)
        return fail_ours(c, "libharu produced an empty stream");
    TRY(c, HPDF_ResetStream(c->pdf));

    buf_reserve(out, size);
    size_t got = 0;
    while (got < size) {
        HPDF_UINT32 n = size - (HPDF_UINT32)got;
        /* HPDF_STREAM_EOF comes with the last bytes and is not an error
         * (libharu does not report it to the handler either). */
        HPDF_STATUS st = HPDF_ReadFromStream(c->pdf, (HPDF_BYTE *)out->data + out->len + got, &n);
        if (st != HPDF_OK && st != HPDF_STREAM_EOF)
            return fail_hpdf(c, st);
        got += n;
        if (st == HPDF_STREAM_EOF || n == 0)
            break;
    }
    if (got != size)
        return fail_ours(c, "short read from libharu's stream");
    out->len += got;
    out->data[out->len] = '\0';
    return 0;
}

/* Document title for viewers' window bars: ASCII only, because libharu 2.3
 * writes info strings byte for byte in PDFDocEncoding, not UTF-8. */
static int set_info(struct letter_ctx *c)
{
    char title[F_FIELD + 16];
    snprintf(title, sizeof(title), "Surat Tugas %s", c->t->code);
    for (char *p = title; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E)
            *p = '?';
    TRY(c, HPDF_SetInfoAttr(c->pdf, HPDF_INFO_TITLE, title));
    TRY(c, HPDF_SetInfoAttr(c->pdf, HPDF_INFO_CREATOR, "GSS"));
    return 0;
}

int render_letter_pdf(const struct letter_doc *d, struct buf *out, char *err, size_t errlen)
{
    struct letter_ctx c = {0};
    size_t            keep = out ? out->len : 0;
    int               rc = -1;

    if (err && errlen)
        err[0] = '\0';
    snprintf(c.step, sizeof(c.step), "checking the input");
    if (!d || !out) {
        fail_ours(&c, "no document or no output buffer");
        goto fail;
    }
    if (!d->font_path || !*d->font_path) {
        fail_ours(&c, "no font path");
        goto fail;
    }
    if (!d->verify_url || !*d->verify_url) {
        fail_ours(&c, "no verify_url (the letter's QR code needs one)");
        goto fail;
    }
    if (strlen(d->verify_url) > RENDER_MAX_URL) {
        fail_ours(&c, "verify_url is longer than " STR(RENDER_MAX_URL) " bytes");
        goto fail;
    }

    c.t = xcalloc(1, sizeof(*c.t));
    fill_text(c.t, d);
    c.qr_text = d->verify_url;

    snprintf(c.step, sizeof(c.step), "creating the document");
    c.pdf = HPDF_New(on_hpdf_error, &c);
    if (!c.pdf) {
        fail_hpdf(&c, HPDF_FAILD_TO_ALLOC_MEM);
        goto fail;
    }
    if (HPDF_SetCompressionMode(c.pdf, HPDF_COMP_ALL) != HPDF_OK || HPDF_UseUTFEncodings(c.pdf) != HPDF_OK ||
        set_info(&c) < 0) {
        fail_hpdf(&c, 0);
        goto fail;
    }
    if (load_font(&c, d->font_path, &c.font) < 0)
        goto fail;
    c.bold = c.font;
    if (d->font_bold_path && *d->font_bold_path && strcmp(d->font_bold_path, d->font_path) != 0 &&
        load_font(&c, d->font_bold_path, &c.bold) < 0)
        goto fail;

    snprintf(c.step, sizeof(c.step), "drawing the letter");
    /* Some libharu calls (text widths) report errors only to the handler:
     * a recorded error fails the letter even if every status was OK. */
    if (draw(&c) < 0 || c.hcode)
        goto fail;
    if (save(&c, out) < 0)
        goto fail;
    rc = 0;

fail:
    if (rc < 0) {
        set_err(err, errlen, &c);
        if (out && out->data) { /* leave out as it came */
            out->len = keep;
            out->data[keep] = '\0';
        }
    }
    if (c.pdf)
        HPDF_Free(c.pdf);
    free(c.t);
    return rc;
}
