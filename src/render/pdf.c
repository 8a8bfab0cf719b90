#include "render/pdf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "render/qr.h"

/* ---- errors ---------------------------------------------------------------- */

/* libharu reports every error here before the failing call returns; the
 * first one is kept (later ones are usually its consequences) and the call
 * returns, so the error unwinds through the document's own checks. */
static void HPDF_STDCALL on_hpdf_error(HPDF_STATUS code, HPDF_STATUS detail, void *user)
{
    struct render_pdf *p = user;
    if (!p->hcode) {
        p->hcode = code;
        p->hdetail = detail;
    }
}

int render_pdf_fail_hpdf(struct render_pdf *p, HPDF_STATUS st)
{
    if (!p->hcode)
        p->hcode = st ? st : HPDF_INVALID_OPERATION;
    return -1;
}

int render_pdf_fail(struct render_pdf *p, const char *why)
{
    if (!p->why && !p->hcode)
        p->why = why;
    return -1;
}

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

static void set_error(const struct render_pdf *p, const char *who, char *err, size_t errlen)
{
    if (!err || !errlen)
        return;
    if (p->hcode == HPDF_FILE_OPEN_ERROR || p->hcode == HPDF_FILE_IO_ERROR)
        snprintf(err, errlen, "%s: %s: %s (libharu error 0x%04X, errno %u)", who, p->step, hpdf_describe(p->hcode),
                 (unsigned)p->hcode, (unsigned)p->hdetail);
    else if (p->hcode)
        snprintf(err, errlen, "%s: %s: %s (libharu error 0x%04X, detail %u)", who, p->step, hpdf_describe(p->hcode),
                 (unsigned)p->hcode, (unsigned)p->hdetail);
    else
        snprintf(err, errlen, "%s: %s: %s", who, p->step, p->why ? p->why : "failed");
}

/* ---- the document ---------------------------------------------------------- */

static int load_font(struct render_pdf *p, const char *path, HPDF_Font *out)
{
    snprintf(p->step, sizeof(p->step), "loading font '%.200s'", path);
    /* Embedded: the reader's machine need not have the font. libharu 2.3
     * writes only the glyphs used (the rest are emptied), so a document
     * stays small. */
    const char *name = HPDF_LoadTTFontFromFile(p->doc, path, HPDF_TRUE);
    if (!name)
        return render_pdf_fail_hpdf(p, 0);
    *out = HPDF_GetFont(p->doc, name, "UTF-8");
    if (!*out)
        return render_pdf_fail_hpdf(p, 0);
    return 0;
}

/* The title viewers show in their window bars: ASCII only, because libharu
 * 2.3 writes info strings byte for byte (PDFDocEncoding), not as UTF-8. */
static int set_info(struct render_pdf *p, const char *title)
{
    char ascii[256];
    snprintf(ascii, sizeof(ascii), "%s", title);
    for (char *c = ascii; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7E)
            *c = '?';
    RENDER_PDF_TRY(p, HPDF_SetInfoAttr(p->doc, HPDF_INFO_TITLE, ascii));
    RENDER_PDF_TRY(p, HPDF_SetInfoAttr(p->doc, HPDF_INFO_CREATOR, "GSS"));
    return 0;
}

int render_pdf_open(struct render_pdf *p, const char *title, const char *font_path, const char *bold_path)
{
    snprintf(p->step, sizeof(p->step), "creating the document");
    p->doc = HPDF_New(on_hpdf_error, p);
    if (!p->doc)
        return render_pdf_fail_hpdf(p, HPDF_FAILD_TO_ALLOC_MEM);
    if (HPDF_SetCompressionMode(p->doc, HPDF_COMP_ALL) != HPDF_OK || HPDF_UseUTFEncodings(p->doc) != HPDF_OK ||
        set_info(p, title) < 0)
        return render_pdf_fail_hpdf(p, 0);
    if (load_font(p, font_path, &p->font) < 0)
        return -1;
    /* Loading the same file twice would be harmless (libharu hands back the
     * font it has), but there is no need to read it again. */
    p->bold = p->font;
    if (bold_path && *bold_path && strcmp(bold_path, font_path) != 0 && load_font(p, bold_path, &p->bold) < 0)
        return -1;
    return 0;
}

int render_pdf_save(struct render_pdf *p, struct buf *out)
{
    /* Some libharu calls (text widths) report errors only to the handler:
     * a recorded error fails the document even if every status was OK. */
    if (p->hcode)
        return -1;
    snprintf(p->step, sizeof(p->step), "saving the PDF");
    RENDER_PDF_TRY(p, HPDF_SaveToStream(p->doc));
    HPDF_UINT32 size = HPDF_GetStreamSize(p->doc);
    if (p->hcode)
        return -1;
    if (size == 0)
        return render_pdf_fail(p, "libharu produced an empty stream");
    RENDER_PDF_TRY(p, HPDF_ResetStream(p->doc));

    buf_reserve(out, size);
    size_t got = 0;
    while (got < size) {
        HPDF_UINT32 n = size - (HPDF_UINT32)got;
        /* HPDF_STREAM_EOF comes with the last bytes and is not an error
         * (libharu does not report it to the handler either). */
        HPDF_STATUS st = HPDF_ReadFromStream(p->doc, (HPDF_BYTE *)out->data + out->len + got, &n);
        if (st != HPDF_OK && st != HPDF_STREAM_EOF)
            return render_pdf_fail_hpdf(p, st);
        got += n;
        if (st == HPDF_STREAM_EOF || n == 0)
            break;
    }
    if (got != size)
        return render_pdf_fail(p, "short read from libharu's stream");
    out->len += got;
    out->data[out->len] = '\0';
    return 0;
}

int render_pdf_end(struct render_pdf *p, int rc, const char *who, struct buf *out, size_t keep, char *err,
                   size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (rc < 0) {
        set_error(p, who, err, errlen);
        if (out && out->data) { /* out as it came */
            out->len = keep;
            out->data[keep] = '\0';
        }
    }
    if (p->doc)
        HPDF_Free(p->doc);
    p->doc = NULL;
    return rc;
}

int render_pdf_add_page(struct render_pdf *p)
{
    p->page = HPDF_AddPage(p->doc);
    if (!p->page)
        return render_pdf_fail_hpdf(p, 0);
    RENDER_PDF_TRY(p, HPDF_Page_SetSize(p->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT));
    return 0;
}

int render_pdf_qr(struct render_pdf *p, const char *text, float x, float y, float size)
{
    int rc = render_qr_draw(p->page, text, x, y, size, NULL);
    if (rc == RENDER_QR_EDRAW)
        return render_pdf_fail_hpdf(p, 0); /* the handler has the error */
    if (rc != RENDER_QR_OK)
        return render_pdf_fail(p, rc == RENDER_QR_EINPUT ? "the URL cannot be encoded as a QR code"
                                                         : "QR encoding failed (out of memory)");
    return 0;
}

/* ---- text in, made safe ---------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s and its code point, or 0 for
 * an invalid one (overlong, surrogate, beyond U+10FFFF, cut short). The
 * NUL is never a continuation byte, so this never reads past the end. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
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

void render_pdf_clean(char *dst, const char *src, size_t max, unsigned flags)
{
    static const char    repl[] = "\xEF\xBF\xBD"; /* U+FFFD */
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    bool                 keep_nl = flags & RENDER_PDF_KEEP_NL;
    size_t               o = 0;

    while (*s) {
        uint32_t    cp = 0;
        size_t      n = utf8_next(s, &cp);
        const char *put = (const char *)s; /* the bytes to copy */
        size_t      len = n;

        if (n == 0) {
            n = 1; /* skip one byte and resynchronise */
            put = repl, len = 3;
        } else if (cp == '\r' && keep_nl && (flags & RENDER_PDF_CRLF) && s[1] == '\n') {
            s++; /* the '\n' comes next */
            continue;
        } else if (cp == '\n' && keep_nl) {
            /* as it is */
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            put = " ", len = 1;
        } else if (cp > 0xFFFF) {
            put = repl, len = 3;
        }
        if (o + len > max) {
            memcpy(dst + o, "\xE2\x80\xA6", 3); /* … */
            o += 3;
            break;
        }
        memcpy(dst + o, put, len);
        o += len;
        s += n;
    }
    dst[o] = '\0';
}

/* ---- text out ---------------------------------------------------------------- */

float render_pdf_width(HPDF_Font f, float size, const char *s)
{
    HPDF_TextWidth tw = HPDF_Font_TextWidth(f, (const HPDF_BYTE *)s, (HPDF_UINT)strlen(s));
    return (float)tw.width * size / 1000.0f;
}

int render_pdf_text(struct render_pdf *p, HPDF_Font f, float size, float x, float baseline, const char *s)
{
    if (!*s)
        return 0;
    RENDER_PDF_TRY(p, HPDF_Page_BeginText(p->page));
    RENDER_PDF_TRY(p, HPDF_Page_SetFontAndSize(p->page, f, size));
    RENDER_PDF_TRY(p, HPDF_Page_TextOut(p->page, x, baseline, s));
    RENDER_PDF_TRY(p, HPDF_Page_EndText(p->page));
    return 0;
}

int render_pdf_hline(struct render_pdf *p, float x0, float x1, float y, float width)
{
    RENDER_PDF_TRY(p, HPDF_Page_SetLineWidth(p->page, width));
    RENDER_PDF_TRY(p, HPDF_Page_MoveTo(p->page, x0, y));
    RENDER_PDF_TRY(p, HPDF_Page_LineTo(p->page, x1, y));
    RENDER_PDF_TRY(p, HPDF_Page_Stroke(p->page));
    return 0;
}

/*
 * The first line of s[0..len) (one paragraph, no '\n', no leading space)
 * that fits w points at size: *draw gets the bytes to draw (trailing spaces
 * left out), the return value the bytes to step over to the next line's
 * first character. A libharu error shows in the document's hcode.
 *
 * libharu's MeasureText counts bytes. With word wrap it ends after a space,
 * or gives 0 when the first word alone is too wide; without it, it may end
 * inside a UTF-8 sequence, so the count steps back to a character start.
 */
static size_t break_line(HPDF_Font f, float size, float w, const char *s, size_t len, size_t *draw)
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

int render_pdf_para(struct render_pdf *p, struct render_pdf_lines *l, const char *s, size_t len, bool count)
{
    int n = 0;

    while (len && *s == ' ')
        s++, len--;
    while (len) {
        size_t draw = 0, step = break_line(l->f, l->size, l->w, s, len, &draw);
        if (p->hcode)
            return -1;
        n++;
        if (!count) {
            if (draw >= p->line_size)
                return render_pdf_fail(p, "text longer than the line buffer");
            memcpy(p->line, s, draw);
            p->line[draw] = '\0';
            float x = l->x;
            if (l->align) {
                float lw = render_pdf_width(l->f, l->size, p->line);
                x += l->align == 1 ? (l->w - lw) / 2 : l->w - lw;
            }
            if (l->flow) {
                if (p->need(p, l->lead) < 0 || render_pdf_text(p, l->f, l->size, x, p->y - l->size, p->line) < 0)
                    return -1;
                p->y -= l->lead;
            } else {
                if (render_pdf_text(p, l->f, l->size, x, l->y - l->size, p->line) < 0)
                    return -1;
                l->y -= l->lead;
            }
        }
        s += step, len -= step;
    }
    return n;
}

float render_pdf_block(struct render_pdf *p, struct render_pdf_lines *l, const char *s, bool count)
{
    float h = 0;

    for (;;) {
        const char *nl = strchr(s, '\n');
        size_t      len = nl ? (size_t)(nl - s) : strlen(s);
        int         n = render_pdf_para(p, l, s, len, count);
        if (n < 0)
            return -1;
        float dy = n ? (float)n * l->lead : l->lead / 2;
        h += dy;
        if (n == 0 && !count) {
            if (l->flow)
                p->y -= dy;
            else
                l->y -= dy;
        }
        if (!nl)
            break;
        s = nl + 1;
    }
    return h;
}
