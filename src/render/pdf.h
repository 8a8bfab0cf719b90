/*
 * render/pdf: what the module's documents (render/letter, render/invoice)
 * share on top of libharu 2.3: one document per call with its error
 * capture, fonts and serialisation; text made safe for libharu's UTF-8
 * encoder; and lines broken by measured width and drawn down the page.
 * The documents keep their own layout (geometry, parts, page breaks);
 * README.md says which libharu facts this code works around.
 *
 * A document's context embeds a struct render_pdf and hands it to these
 * calls. Every call that fails records why in it: the first libharu error
 * (through the handler render_pdf_open installs) or a reason of ours, and
 * returns -1, so a document unwinds through its own checks and reports once,
 * at the end, with render_pdf_end. A libharu error recorded by a call that
 * returns no status (text widths) also fails the document: render_pdf_save
 * refuses to save it.
 *
 * Memory: the caller owns the struct render_pdf and the line buffer it
 * points to; render_pdf_end frees the libharu document. Strings passed in
 * are only read, during the call.
 *
 * Threads: no global state and no logging; a struct render_pdf is used by
 * one thread at a time, and any number of them may be in use at once.
 */
#ifndef GSS_RENDER_PDF_H
#define GSS_RENDER_PDF_H

#include <hpdf.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct render_pdf {
    HPDF_Doc  doc;        /* NULL until render_pdf_open */
    HPDF_Page page;       /* the page being drawn on */
    HPDF_Font font, bold; /* UTF-8 Type0 fonts; bold is font when there is no bold file */
    float     y;          /* top of the free space on the page, points from the bottom */
    /* Makes h points free below y, starting a page when they are not: < 0
     * on error, else >= 0 (the document may say more with the value). Set
     * by the document; called by text that flows (struct render_pdf_lines)
     * while line holds the line to draw, so it must not draw wrapped text
     * itself (render_pdf_text is fine). */
    int (*need)(struct render_pdf *p, float h);
    char       *line;           /* one wrapped line at a time, NUL-terminated for libharu */
    size_t      line_size;      /* bytes at line; a longer line is an error */
    char        step[256];      /* what the document was doing, for the error message */
    const char *why;            /* a failure of ours (not libharu's), or NULL */
    HPDF_STATUS hcode, hdetail; /* the first libharu error, 0 while there is none */
};

/* ---- errors ---------------------------------------------------------------- */

/* Records a libharu failure: st, or when st is 0 the error the handler has
 * already recorded (HPDF_INVALID_OPERATION if it has none). Returns -1. */
int render_pdf_fail_hpdf(struct render_pdf *p, HPDF_STATUS st);

/* Records a failure of ours, unless an earlier failure is recorded. Returns -1. */
int render_pdf_fail(struct render_pdf *p, const char *why);

/* Every libharu call that returns a status goes through this: a status
 * other than HPDF_OK makes the enclosing function return -1. */
#define RENDER_PDF_TRY(p, call)                                                                                        \
    do {                                                                                                               \
        HPDF_STATUS st_ = (call);                                                                                      \
        if (st_ != HPDF_OK)                                                                                            \
            return render_pdf_fail_hpdf((p), st_);                                                                     \
    } while (0)

/* ---- the document ---------------------------------------------------------- */

/*
 * Creates the document: compressed, UTF-8 encodings on, title (ASCII: other
 * bytes print as '?', because libharu writes info strings byte for byte) and
 * creator "GSS", and the TrueType font at font_path embedded, with
 * bold_path's as p->bold (NULL, "" or the same path: p->bold is p->font).
 * p must be zeroed but for need, line, line_size and step. 0, or -1 with
 * p->step naming the step. Call render_pdf_end afterwards in either case.
 */
int render_pdf_open(struct render_pdf *p, const char *title, const char *font_path, const char *bold_path);

/* Serialises the document and appends it to out. 0, or -1 (also when an
 * error was recorded before) with out->len as it was but the bytes after
 * it (its NUL too) maybe written over: render_pdf_end puts the NUL back. */
int render_pdf_save(struct render_pdf *p, struct buf *out);

/*
 * The end of every document call, whatever happened before: frees the
 * libharu document (if any) and returns rc. On success err (when not NULL
 * and errlen > 0) is ""; on failure (rc < 0) it gets "<who>: <step>:
 * <reason>", truncated to fit (for a libharu error its meaning, code and
 * detail; the detail is the errno for a file that could not be opened or
 * read), and out (when not NULL) is cut back to the keep bytes it had
 * before the call.
 */
int render_pdf_end(struct render_pdf *p, int rc, const char *who, struct buf *out, size_t keep, char *err,
                   size_t errlen);

/* Adds an A4 portrait page and makes it p->page. 0 or -1. */
int render_pdf_add_page(struct render_pdf *p);

/* text as a QR code (render/qr.h) filling the square at (x, y), size points
 * wide with its quiet zone, on p->page. 0, or -1 with the reason recorded. */
int render_pdf_qr(struct render_pdf *p, const char *text, float x, float y, float size);

/* ---- text in, made safe ---------------------------------------------------- */

enum {
    RENDER_PDF_KEEP_NL = 1, /* '\n' stays (it starts a paragraph) instead of becoming a space */
    RENDER_PDF_CRLF = 2,    /* with KEEP_NL: "\r\n" is one '\n', not a space and a '\n' */
};

/*
 * Copies src (NULL is "") into dst, which holds max + 4 bytes, as text that
 * libharu 2.3's UTF-8 encoder draws faithfully: invalid UTF-8 and
 * characters beyond U+FFFF become U+FFFD (it would split the one and draw
 * the other as a space), C0/C1 controls and DEL become a space (it would
 * draw .notdef boxes), and text past max bytes is cut at a character
 * boundary and marked with "…". flags: RENDER_PDF_KEEP_NL, RENDER_PDF_CRLF.
 */
void render_pdf_clean(char *dst, const char *src, size_t max, unsigned flags);

/* s itself, or "-" when it is empty. */
static inline const char *render_pdf_or_dash(const char *s)
{
    return *s ? s : "-";
}

/* ---- text out ---------------------------------------------------------------- */

/* The width of s at size points, in points. */
float render_pdf_width(HPDF_Font f, float size, const char *s);

/* s (nothing when it is "") with its baseline at (x, baseline). 0 or -1. */
int render_pdf_text(struct render_pdf *p, HPDF_Font f, float size, float x, float baseline, const char *s);

/* A horizontal line from x0 to x1 at height y, width points thick. 0 or -1. */
int render_pdf_hline(struct render_pdf *p, float x0, float x1, float y, float width);

/*
 * Lines are broken where the text, measured by libharu in the font at its
 * size, reaches the column's width: after a space where they can be, a word
 * wider than the column between characters (at least one character a line).
 *
 * How they are placed: at x in a column w wide, the first baseline size
 * below the top, then lead apart; align 0 left, 1 centre, 2 right. When
 * flow is set the lines run down the page from p->y, calling p->need before
 * each; otherwise they go down from the fixed top y (a table cell, a
 * column), which each line moves down by lead.
 */
struct render_pdf_lines {
    HPDF_Font f;
    float     size, lead, x, w;
    int       align;
    bool      flow;
    float     y; /* fixed placement: top of the next line */
};

/* Draws (or, when count is set, only counts) the lines of the paragraph
 * s[0..len) (no '\n'), without their leading and trailing spaces. Returns
 * the number of lines (0 for a paragraph of spaces), or -1. */
int render_pdf_para(struct render_pdf *p, struct render_pdf_lines *l, const char *s, size_t len, bool count);

/* Text with '\n' paragraphs: each wrapped, an empty one (or one of spaces)
 * a half-line gap. Returns the height it takes (count) or took, or -1. */
float render_pdf_block(struct render_pdf *p, struct render_pdf_lines *l, const char *s, bool count);

#endif
