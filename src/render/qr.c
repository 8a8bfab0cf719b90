#include "render/qr.h"

#include <qrencode.h>
#include <string.h>

/* The standard's quiet zone, in modules, on each side. */
#define QR_QUIET 4

int render_qr_draw(HPDF_Page page, const char *text, float x, float y, float size, int *modules)
{
    if (!text || !*text || strlen(text) > RENDER_QR_MAX_TEXT || !(size > 0))
        return RENDER_QR_EINPUT;

    /* Case-sensitive with an 8-bit hint: a URL's path and token are
     * case-sensitive, and libqrencode still picks numeric/alphanumeric
     * segments where they make the symbol smaller. */
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!qr)
        return RENDER_QR_EENCODE;

    int         rc = RENDER_QR_EDRAW;
    int         w = qr->width;
    const float m = size / (float)(w + 2 * QR_QUIET); /* one module, in points */

    /* White square under the whole symbol, quiet zone included. */
    if (HPDF_Page_SetRGBFill(page, 1, 1, 1) != HPDF_OK)
        goto fail;
    if (HPDF_Page_Rectangle(page, x, y, size, size) != HPDF_OK)
        goto fail;
    if (HPDF_Page_Fill(page) != HPDF_OK)
        goto fail;

    /* Dark modules: one rectangle per horizontal run of dark modules, all in
     * one path and one fill. Runs make the content stream several times
     * smaller than a rectangle per module, and a run has no inner edges for
     * a rasteriser to leave hairline gaps in. Bit 0 of a module is "dark". */
    if (HPDF_Page_SetRGBFill(page, 0, 0, 0) != HPDF_OK)
        goto fail;
    for (int r = 0; r < w; r++) {
        const unsigned char *row = qr->data + (size_t)r * (size_t)w;
        /* Row 0 is the top row; PDF's y grows upwards. */
        float ry = y + size - (float)(QR_QUIET + r + 1) * m;
        for (int c = 0; c < w;) {
            if (!(row[c] & 1)) {
                c++;
                continue;
            }
            int start = c;
            while (c < w && (row[c] & 1))
                c++;
            if (HPDF_Page_Rectangle(page, x + (float)(QR_QUIET + start) * m, ry, (float)(c - start) * m, m) != HPDF_OK)
                goto fail;
        }
    }
    if (HPDF_Page_Fill(page) != HPDF_OK)
        goto fail;

    if (modules)
        *modules = w;
    rc = RENDER_QR_OK;
fail:
    QRcode_free(qr);
    return rc;
}
