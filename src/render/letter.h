/*
 * render/letter: the Surat Tugas (assignment letter) as a PDF.
 *
 * One A4 portrait page (a second one only when a very long work text or
 * address needs it) with Indonesian labels: the letterhead (company,
 * address, phone) over a double rule, the title "SURAT TUGAS" with the
 * ticket code as its number, the customer, the schedule, the work to do
 * (wrapped to the text width), a numbered table of the technicians (name,
 * phone), "Berlaku sampai", a QR code of verify_url with a caption and the
 * URL in small print, the issue time and a signature line.
 *
 * Text: every string is UTF-8 and is drawn with the embedded TrueType font
 * at font_path (Liberation Sans from fonts-liberation2, the default; not
 * DejaVu Sans, whose nested composite glyphs lose their accents in libharu
 * 2.3: see README.md), so names like "Śantoso" or "Nguyễn Văn An" show and
 * can be copied or extracted (pdftotext) as written. Input is made safe
 * before it reaches libharu: a NULL field is "", invalid UTF-8 and
 * characters beyond U+FFFF (which libharu 2.3 cannot show) become U+FFFD,
 * control characters become spaces, and fields are cut (with "…") at the
 * RENDER_MAX_* limits below.
 *
 * Memory: the caller owns d and everything it points to, and out; nothing
 * is kept after the call. The PDF is appended to out; on failure out keeps
 * exactly the bytes it had before the call.
 *
 * Threads: render_letter_pdf is meant for the rendering pool's worker
 * threads. It keeps no global state, takes no lock, logs nothing, and each
 * call creates and frees its own libharu document, so any number of calls
 * may run at once. It blocks (it reads the font files and uses the CPU for
 * a few milliseconds): never call it on the event loop.
 *
 * Errors: 0 on success; -1 with a one-line English message in err (when
 * err is not NULL and errlen > 0) naming the step that failed and, for a
 * libharu failure, its error code and detail (for a file that could not be
 * opened, the detail is the errno). A missing or unreadable font, a
 * missing or too long verify_url, or d == NULL are errors; nothing aborts.
 */
#ifndef GSS_RENDER_LETTER_H
#define GSS_RENDER_LETTER_H

#include <stddef.h>

#include "core/buf.h"

/* Input limits, in bytes of UTF-8 (text is cut at a character boundary). */
#define RENDER_MAX_TECHS   10   /* technicians listed; more add a "+N" line */
#define RENDER_MAX_WORK    2000 /* the work text */
#define RENDER_MAX_ADDRESS 500  /* addresses (the customer's, the company's) */
#define RENDER_MAX_FIELD   200  /* every other field (names, phones, times) */
#define RENDER_MAX_URL     512  /* verify_url: longer is an error, never cut */

struct render_person {
    const char *name, *phone; /* UTF-8 */
};

struct letter_doc {
    const char                 *company, *company_address, *company_phone; /* letterhead (config) */
    const char                 *code;                                      /* ticket code, e.g. GSS-2612-0042 */
    const char                 *customer_name, *customer_phone, *address;
    const char                 *schedule; /* already formatted, e.g. "Rabu, 2 Desember 2026 09:00 WIB" */
    const char                 *work;     /* the problem / work to do; '\n' starts a new paragraph */
    const struct render_person *techs;
    size_t                      ntechs;                     /* techs == NULL counts as none */
    const char                 *valid_until;                /* formatted WIB text */
    const char                 *issued_at;                  /* formatted WIB text */
    const char                 *verify_url;                 /* encoded in the QR, also printed under it; required */
    const char                 *font_path, *font_bold_path; /* TTF files; bold may be NULL => regular */
};

/* Renders the letter into out (appended). 0, or -1 with err filled. Thread-safe. */
int render_letter_pdf(const struct letter_doc *d, struct buf *out, char *err, size_t errlen);

#endif
