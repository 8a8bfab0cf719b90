/*
 * render/qr: draws a QR code (libqrencode) onto a libharu page as vector
 * rectangles, so it stays sharp at any zoom and any print resolution.
 *
 * Provides render_qr_draw for the rendering module's documents (the Surat
 * Tugas and the invoice, through render_pdf_qr in render/pdf.h). The symbol
 * uses error correction level M (about 15% of the modules may be lost to a
 * crease or a stain) and is surrounded by the 4-module quiet zone the
 * standard asks for; the quiet zone lies inside the square the caller
 * gives, and is painted white so the code scans on any background.
 *
 * Memory: the QRcode is allocated and freed inside the call; nothing is kept.
 * Threads: safe to call from any thread on pages of different documents
 * (libqrencode guards its shared tables with a mutex; libharu documents share
 * nothing). Errors: see the return values below; drawing errors are also
 * reported to the document's libharu error handler.
 */
#ifndef GSS_RENDER_QR_H
#define GSS_RENDER_QR_H

#include <hpdf.h>

/* Longest text we encode. Version 40-M holds 2331 bytes, but a phone camera
 * needs big modules: 35 mm and a few hundred bytes is already the limit. */
#define RENDER_QR_MAX_TEXT 512

enum {
    RENDER_QR_OK = 0,
    RENDER_QR_EINPUT = -1,  /* NULL, empty or longer than RENDER_QR_MAX_TEXT */
    RENDER_QR_EENCODE = -2, /* libqrencode failed (out of memory) */
    RENDER_QR_EDRAW = -3,   /* a libharu call failed */
};

/*
 * Draws text as a QR code filling the square whose lower-left corner is
 * (x, y) and whose side is size, in PDF points, quiet zone included. The page
 * must be in page-description mode (not between BeginText and EndText).
 * Leaves the fill colour black. Returns RENDER_QR_OK or a negative code
 * above. If modules is not NULL it receives the symbol's width in modules
 * (quiet zone excluded), for callers that check the module size.
 */
int render_qr_draw(HPDF_Page page, const char *text, float x, float y, float size, int *modules);

#endif
