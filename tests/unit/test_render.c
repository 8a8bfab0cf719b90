/*
 * Unit tests for render/letter and render/qr.
 *
 * The PDF is judged by independent tools, not by our own code: qpdf checks
 * its structure, pdftotext must find the names exactly as UTF-8, pdftoppm
 * rasterises it and zbarimg must decode the QR back to the URL we passed,
 * and two letters differing only in a Vietnamese stacked diacritic must not
 * rasterise the same (libharu 2.3 drops nested composite glyphs of some
 * fonts, so a name can extract right and still print wrong). A missing tool
 * fails the test: it never skips.
 *
 * Fonts: Liberation Sans from fonts-liberation2 (see scripts/deps.sh and
 * src/render/README.md for why not DejaVu).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hpdf.h>

#include "core/buf.h"
#include "render/letter.h"
#include "render/qr.h"
#include "render_util.h"

#define FONT      "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf"
#define FONT_BOLD "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf"
#define URL       "https://gss.example.id/v/q3Zr8KmT1xWbN4pLsV7aYcQ"
#define CODE      "GSS-2612-0042"

/* ---- helpers --------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    return ru_tmp_setup("gss-render");
}

static int group_teardown(void **state)
{
    (void)state;
    return ru_tmp_teardown();
}

static const struct render_person two_techs[] = {
    {"Śantoso Wijaya", "+62 812-3456-7890"},
    {"Budi", "0813 1111 2222"},
};

static struct letter_doc sample(void)
{
    struct letter_doc d = {
        .company = "PT Garuda Servis Sejahtera",
        .company_address = "Jl. Jenderal Sudirman No. 45, Kebayoran Baru, Jakarta Selatan 12190",
        .company_phone = "(021) 555-0142",
        .code = CODE,
        .customer_name = "Nguyễn Văn An",
        .customer_phone = "0812 9876 5432",
        .address = "Perumahan Griya Asri Blok C3 No. 12, RT 004/RW 007, Kel. Sukamaju, "
                   "Kec. Cilodong, Depok, Jawa Barat (rumah Bu Zoë, pagar hijau)",
        .schedule = "Rabu, 2 Desember 2026 09:00 WIB",
        .work = "AC split 1 PK di kamar utama tidak dingin dan berisik. Periksa tekanan freon, "
                "bersihkan filter dan evaporator, cek kapasitor kompresor.\n"
                "Catatan: ada anjing di halaman, telepon dulu sebelum datang.",
        .techs = two_techs,
        .ntechs = 2,
        .valid_until = "Rabu, 2 Desember 2026 18:00 WIB",
        .issued_at = "Selasa, 1 Desember 2026 14:05 WIB",
        .verify_url = URL,
        .font_path = FONT,
        .font_bold_path = FONT_BOLD,
    };
    return d;
}

static int render_letter(const void *d, struct buf *out, char *err, size_t errlen)
{
    return render_letter_pdf(d, out, err, errlen);
}

/* Renders d, checks the result is a PDF, writes it to the group's directory as name. */
static void render_to(const struct letter_doc *d, const char *name, char *path, size_t pathlen)
{
    ru_render_to(render_letter, d, name, path, pathlen);
}

/* ---- the letter, checked by the tools --------------------------------------- */

static void test_letter_tools(void **state)
{
    (void)state;
    ru_require_tool("qpdf");
    ru_require_tool("pdftotext");
    ru_require_tool("pdftoppm");
    ru_require_tool("zbarimg");

    struct letter_doc d = sample();
    char              pdf[1024];
    render_to(&d, "letter.pdf", pdf, sizeof(pdf));
    ru_qpdf_check(pdf);
    assert_int_equal(ru_npages(pdf), 1);

    struct buf text = {0};
    ru_words(pdf, 0, 0, "", &text);
    assert_contains(&text, CODE);
    assert_contains(&text, "Śantoso Wijaya");
    assert_contains(&text, "Budi");
    assert_contains(&text, "Nguyễn Văn An");
    assert_contains(&text, "Zoë");
    assert_contains(&text, "SURAT TUGAS");
    assert_contains(&text, "Pelanggan");
    assert_contains(&text, "Jadwal");
    assert_contains(&text, "Rabu, 2 Desember 2026 09:00 WIB");
    assert_contains(&text, "Pekerjaan");
    assert_contains(&text, "Teknisi yang ditugaskan");
    assert_contains(&text, "Berlaku sampai");
    assert_contains(&text, "Rabu, 2 Desember 2026 18:00 WIB");
    assert_contains(&text, "Pindai untuk memeriksa keaslian surat ini");
    assert_contains(&text, "Diterbitkan");
    assert_contains(&text, "Selasa, 1 Desember 2026 14:05 WIB");
    assert_contains(&text, URL);
    assert_contains(&text, "0813 1111 2222");
    buf_free(&text);

    /* The QR decodes to the very URL, at a resolution a cheap printer has. */
    struct buf qr = {0};
    assert_int_equal(ru_qr_codes(pdf, 1, &qr), 0);
    assert_string_equal(qr.data, URL);
    buf_free(&qr);
}

/* Rasterises tmpdir/name.pdf to a grey PGM and returns its bytes in out. */
static void raster(const char *name, struct buf *out)
{
    char pdf[1024], img[1024], cmd[4096];
    ru_tmp_path(pdf, sizeof(pdf), name);
    ru_tmp_path(img, sizeof(img), name);
    snprintf(cmd, sizeof(cmd), "pdftoppm -r 100 -gray -singlefile '%s.pdf' '%s' 2>/dev/null", pdf, img);
    assert_int_equal(ru_run(cmd, NULL), 0);
    strcat(img, ".pgm");
    ru_read_file(img, out);
    assert_true(out->len > 1000);
}

/* Renders the sample letter with name as the customer and as the only
 * technician (so in the regular and the bold font), and rasterises it. */
static void raster_name(const char *name, const char *file, struct buf *out)
{
    struct letter_doc    d = sample();
    struct render_person t = {name, "1"};
    char                 pdf[64], path[1024];
    d.customer_name = name;
    d.techs = &t;
    d.ntechs = 1;
    snprintf(pdf, sizeof(pdf), "%s.pdf", file);
    render_to(&d, pdf, path, sizeof(path));
    raster(file, out);
}

/*
 * The glyphs are drawn, not only extractable. libharu 2.3 embeds only one
 * level of a composite glyph's components; with a font that nests them
 * (DejaVu Sans builds "ễ" from "e" and a circumflex-tilde composite) the
 * second level is left out, and "Nguyễn" prints as "Nguyen" while pdftotext
 * still reads "Nguyễn". So each letter with stacked diacritics must print
 * differently from the same name with one diacritic and with none; every
 * other byte of the letter is the same, and so is the advance width.
 */
static void test_diacritics_drawn(void **state)
{
    (void)state;
    ru_require_tool("pdftoppm");
    static const char *const names[][3] = {
        {"Nguyễn", "Nguyên", "Nguyen"}, {"Trấn", "Trân", "Tran"}, {"Hồ", "Hô", "Ho"},           {"Dữ", "Dư", "Du"},
        {"Đặng", "Đăng", "Đang"},       {"Huỳnh", "Huynh", NULL}, {"Śantoso", "Santoso", NULL}, {"Zoë", "Zoe", NULL},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct buf r[3] = {{0}, {0}, {0}};
        int        n = names[i][2] ? 3 : 2;
        for (int k = 0; k < n; k++) {
            char file[32];
            snprintf(file, sizeof(file), "dia-%zu-%d", i, k);
            raster_name(names[i][k], file, &r[k]);
        }
        for (int a = 0; a < n; a++)
            for (int b = a + 1; b < n; b++)
                if (r[a].len == r[b].len && memcmp(r[a].data, r[b].data, r[a].len) == 0)
                    fail_msg("\"%s\" and \"%s\" print the same: a diacritic's glyph is missing", names[i][a],
                             names[i][b]);
        for (int k = 0; k < n; k++)
            buf_free(&r[k]);
    }
}

/* ---- errors ---------------------------------------------------------------- */

static void test_missing_font(void **state)
{
    (void)state;
    struct letter_doc d = sample();
    struct buf        b = {0};
    char              err[512];

    buf_puts(&b, "abc");
    d.font_path = "/nonexistent/gss/font.ttf";
    assert_int_equal(render_letter_pdf(&d, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/gss/font.ttf"));
    assert_non_null(strstr(err, "cannot open"));
    /* out is left exactly as it came. */
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");

    /* A missing bold font is as much an error as a missing regular one. */
    d = sample();
    d.font_bold_path = "/nonexistent/gss/bold.ttf";
    assert_int_equal(render_letter_pdf(&d, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bold.ttf"));
    assert_int_equal(b.len, 3);
    buf_free(&b);
}

static void test_bad_font(void **state)
{
    (void)state;
    char path[1024];
    ru_tmp_path(path, sizeof(path), "junk.ttf");
    unsigned char junk[6000];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 2654435761u >> 13);
    ru_write_file(path, junk, sizeof(junk));

    struct letter_doc d = sample();
    struct buf        b = {0};
    char              err[512];
    d.font_path = path;
    assert_int_equal(render_letter_pdf(&d, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "junk.ttf"));
    assert_int_equal(b.len, 0);

    /* A file that is not a font at all, and an empty one. */
    d.font_path = "/etc/passwd";
    assert_int_equal(render_letter_pdf(&d, &b, err, sizeof(err)), -1);
    assert_true(strlen(err) > 10);
    ru_tmp_path(path, sizeof(path), "empty.ttf");
    ru_write_file(path, "", 0);
    d.font_path = path;
    assert_int_equal(render_letter_pdf(&d, &b, err, sizeof(err)), -1);
    assert_true(strlen(err) > 10);
    /* A tiny errlen truncates, never overflows; NULL err is allowed. */
    char small[8];
    memset(small, 'x', sizeof(small));
    assert_int_equal(render_letter_pdf(&d, &b, small, 4), -1);
    assert_int_equal(small[3], '\0');
    assert_int_equal(small[4], 'x');
    assert_int_equal(render_letter_pdf(&d, &b, NULL, 0), -1);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct letter_doc d = sample();
    struct buf        b = {0};
    char              err[512];

    assert_int_equal(render_letter_pdf(NULL, &b, err, sizeof(err)), -1);
    assert_true(strlen(err) > 0);
    assert_int_equal(render_letter_pdf(&d, NULL, err, sizeof(err)), -1);
    assert_true(strlen(err) > 0);

    d.font_path = NULL;
    assert_int_equal(render_letter_pdf(&d, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "font"));

    d = sample();
    d.verify_url = NULL;
    assert_int_equal(render_letter_pdf(&d, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "verify_url"));
    d.verify_url = "";
    assert_int_equal(render_letter_pdf(&d, &b, err, sizeof(err)), -1);

    /* A URL over the limit is refused, not cut: a cut URL verifies nothing. */
    char long_url[RENDER_MAX_URL + 2];
    memset(long_url, 'a', sizeof(long_url) - 1);
    long_url[sizeof(long_url) - 1] = '\0';
    d.verify_url = long_url;
    assert_int_equal(render_letter_pdf(&d, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "verify_url"));
    /* ...and one at the limit is fine. */
    long_url[RENDER_MAX_URL] = '\0';
    assert_int_equal(render_letter_pdf(&d, &b, err, sizeof(err)), 0);
    assert_memory_equal(b.data, "%PDF-", 5);
    buf_free(&b);
}

/* ---- defensive limits ------------------------------------------------------ */

static void test_null_fields(void **state)
{
    (void)state;
    ru_require_tool("qpdf");
    struct letter_doc d = {.verify_url = URL, .font_path = FONT, .ntechs = 5};
    char              pdf[1024];
    render_to(&d, "nulls.pdf", pdf, sizeof(pdf));
    ru_qpdf_check(pdf);
    assert_int_equal(ru_npages(pdf), 1);

    struct buf text = {0};
    ru_words(pdf, 0, 0, "", &text);
    assert_contains(&text, "SURAT TUGAS");
    assert_contains(&text, "Belum ada teknisi yang ditugaskan.");
    buf_free(&text);
}

static void test_limits(void **state)
{
    (void)state;
    ru_require_tool("qpdf");
    ru_require_tool("pdftotext");

    /* 14 technicians: 10 are listed, then a line for the other 4. */
    struct render_person techs[14];
    char                 names[14][32];
    for (int i = 0; i < 14; i++) {
        snprintf(names[i], sizeof(names[i]), "Teknisi A%02d", i + 1);
        techs[i].name = names[i];
        techs[i].phone = i == 3 ? NULL : "0812";
    }

    /* 6000 bytes of work: long words, a 300-letter word, invalid UTF-8, an
     * emoji (beyond the BMP), control characters and blank lines. */
    struct buf work = {0};
    buf_puts(&work, "MULAI Kata\x01pertama\ttab \xff\xfe rusak \xF0\x9F\x98\x80 emoji.\n\n");
    for (int i = 0; i < 300; i++)
        buf_putc(&work, 'W');
    buf_puts(&work, "\n");
    while (work.len < 6000)
        buf_puts(&work, "perbaikan instalasi listrik dan pemeriksaan panel utama, ");
    struct buf addr = {0};
    while (addr.len < 1500)
        buf_puts(&addr, "Jl. Panjang Sekali ");

    struct letter_doc d = sample();
    d.techs = techs;
    d.ntechs = 14;
    d.work = work.data;
    d.address = addr.data;
    d.company = "PT Perusahaan Dengan Nama Yang Sangat Panjang Sekali Sampai Tidak Muat Dalam "
                "Satu Baris Kop Surat Indonesia Raya";
    char pdf[1024];
    render_to(&d, "limits.pdf", pdf, sizeof(pdf));
    ru_qpdf_check(pdf);
    int n = ru_npages(pdf);
    assert_true(n >= 1 && n <= 2);

    struct buf text = {0};
    ru_words(pdf, 0, 0, "", &text);
    assert_contains(&text, "Teknisi A01");
    assert_contains(&text, "Teknisi A10");
    assert_lacks(&text, "Teknisi A11");
    assert_contains(&text, "dan 4 teknisi lainnya");
    assert_contains(&text, "MULAI Kata pertama tab"); /* controls became spaces */
    assert_contains(&text, "\xEF\xBF\xBD");           /* U+FFFD for bad bytes / emoji */
    assert_lacks(&text, "\xF0\x9F\x98\x80");
    assert_contains(&text, "\xE2\x80\xA6"); /* the cut is marked */
    assert_contains(&text, CODE);
    assert_contains(&text, "Pindai untuk memeriksa keaslian surat ini");
    buf_free(&text);

    /* The work text was cut at RENDER_MAX_WORK: count its repeated phrase. */
    struct buf raw = {0};
    ru_pdf_text(pdf, "-raw", &raw);
    size_t      count = 0;
    const char *p = raw.data;
    while ((p = strstr(p, "pemeriksaan")) != NULL)
        count++, p++;
    assert_true(count > 20);
    assert_true(count < RENDER_MAX_WORK / 40);
    buf_free(&raw);

    /* Wrapped to the text width: no word crosses the side margins. */
    ru_assert_within_margins(pdf, 51);

    /* The QR still scans on a long letter. */
    ru_require_tool("pdftoppm");
    ru_require_tool("zbarimg");
    struct buf qr = {0};
    assert_int_equal(ru_qr_codes(pdf, n, &qr), 0);
    assert_contains(&qr, URL);
    buf_free(&qr);

    buf_free(&work);
    buf_free(&addr);
}

static void test_appends(void **state)
{
    (void)state;
    struct letter_doc d = sample();
    ru_check_appends(render_letter, &d);
}

/* ---- threads ---------------------------------------------------------------- */

/* Letters rendered at once on four threads are byte for byte the letter
 * rendered alone: no call sees another's state. */
static void test_threads(void **state)
{
    (void)state;
    struct letter_doc d = sample();
    ru_check_threads(render_letter, &d);
}

/* ---- qr --------------------------------------------------------------------- */

static void HPDF_STDCALL on_err(HPDF_STATUS code, HPDF_STATUS detail, void *user)
{
    (void)code, (void)detail;
    (*(int *)user)++;
}

static void test_qr_input(void **state)
{
    (void)state;
    int      errors = 0;
    HPDF_Doc pdf = HPDF_New(on_err, &errors);
    assert_non_null(pdf);
    HPDF_Page page = HPDF_AddPage(pdf);
    assert_non_null(page);

    assert_int_equal(render_qr_draw(page, NULL, 10, 10, 100, NULL), RENDER_QR_EINPUT);
    assert_int_equal(render_qr_draw(page, "", 10, 10, 100, NULL), RENDER_QR_EINPUT);
    assert_int_equal(render_qr_draw(page, "x", 10, 10, 0, NULL), RENDER_QR_EINPUT);
    char big[RENDER_QR_MAX_TEXT + 2];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(render_qr_draw(page, big, 10, 10, 100, NULL), RENDER_QR_EINPUT);

    /* Version 1 is 21 modules; a 47-byte URL at level M needs version 3 or 4
     * (29 or 33 modules), and the maximum text still encodes. */
    int mods = 0;
    assert_int_equal(render_qr_draw(page, "01234567", 10, 10, 100, &mods), RENDER_QR_OK);
    assert_int_equal(mods, 21);
    assert_int_equal(render_qr_draw(page, URL, 10, 10, 100, &mods), RENDER_QR_OK);
    assert_true(mods == 29 || mods == 33);
    big[RENDER_QR_MAX_TEXT] = '\0';
    assert_int_equal(render_qr_draw(page, big, 10, 10, 100, &mods), RENDER_QR_OK);
    assert_true(mods > 60);
    assert_int_equal(errors, 0);
    HPDF_Free(pdf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_letter_tools), cmocka_unit_test(test_diacritics_drawn),
        cmocka_unit_test(test_missing_font), cmocka_unit_test(test_bad_font),
        cmocka_unit_test(test_bad_input),    cmocka_unit_test(test_null_fields),
        cmocka_unit_test(test_limits),       cmocka_unit_test(test_appends),
        cmocka_unit_test(test_threads),      cmocka_unit_test(test_qr_input),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
