/*
 * Unit tests for render/invoice: the invoice PDF.
 *
 * Judged by independent tools, as the letter's tests are: qpdf checks the
 * structure, pdftotext must find the number, the customer's UTF-8 name and
 * the totals (computed by hand in this file, never by the code under
 * test), pdftotext -bbox says where the words are, pdftoppm rasterises
 * the page and zbarimg must decode the QR code back to the URL. A missing
 * tool fails the test: it never skips.
 *
 * Dates: the epochs below were taken from `date -u -d <time> +%s`; Jakarta
 * is UTC+7, so 2026-12-02T17:30Z is already 3 December there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "render/invoice.h"
#include "render_util.h"

#define FONT      "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf"
#define FONT_BOLD "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf"
#define URL       "https://gss.example.id/i/Qm9uZ2thckthbGlhbkthbGkxMjM0NTY"
#define NUMBER    "INV-2612-0001"
#define CUSTOMER  "Nguyễn Văn Śantoso"

#define T_ISSUED 1796232600LL /* 2026-12-02T17:30:00Z = 3 Desember 2026, 00:30 WIB */
#define T_DUE    1796837400LL /* 2026-12-09T17:30:00Z = 10 Desember 2026 */
#define T_PAID   1796439600LL /* 2026-12-05T03:00:00Z = 5 Desember 2026 */

/* ---- helpers --------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    return ru_tmp_setup("gss-invoice");
}

static int group_teardown(void **state)
{
    (void)state;
    return ru_tmp_teardown();
}

/* Two lines: 1 x 1.250.000 and 2 x 50.000; subtotal 1.350.000, discount
 * 50.000, taxable 1.300.000, 11% tax 143.000, total 1.443.000; 500.000
 * paid, 943.000 left. */
static const struct invoice_line two_lines[] = {
    {"Ganti kompresor AC 1 PK", 1, 1250000, 1250000},
    {"Isi freon R32", 2, 50000, 100000},
};

static struct invoice_doc sample(void)
{
    struct invoice_doc d = {
        .company = "PT Garuda Servis Sejahtera",
        .company_address = "Jl. Jenderal Sudirman No. 45, Kebayoran Baru, Jakarta Selatan 12190",
        .company_phone = "(021) 555-0142",
        .number = NUMBER,
        .ticket_code = "GSS-2612-0003",
        .customer_name = CUSTOMER,
        .customer_address = "Perumahan Griya Asri Blok C3 No. 12, Depok (rumah Bu Zoë, pagar hijau)",
        .customer_phone = "+6281234567890",
        .issued_s = T_ISSUED,
        .due_s = T_DUE,
        .items = two_lines,
        .nitems = 2,
        .subtotal = 1350000,
        .discount = 50000,
        .tax_rate_bp = 1100,
        .tax = 143000,
        .total = 1443000,
        .paid_amount = 500000,
        .balance = 943000,
        .note = "Garansi 30 hari untuk jasa dan suku cadang.",
        .pay_bank = "Transfer ke BCA 123-456-7890 a.n. PT Garuda Servis Sejahtera",
        .public_url = URL,
        .font_path = FONT,
        .font_bold_path = FONT_BOLD,
    };
    return d;
}

static int render_invoice(const void *d, struct buf *out, char *err, size_t errlen)
{
    return render_invoice_pdf(d, out, err, errlen);
}

/* Renders d into the group's directory as name (a PDF, checked by qpdf);
 * the path into path. */
static void render_to(const struct invoice_doc *d, const char *name, char *path, size_t pathlen)
{
    ru_render_to(render_invoice, d, name, path, pathlen);
    ru_qpdf_check(path);
}

/* The words of pages first..last (0: all) in the content stream's order
 * (ru_words); test_sent also reads them in pdftotext's reading order. */
static void words(const char *path, int first, int last, struct buf *out)
{
    ru_words(path, first, last, "-raw", out);
}

/* ---- a sent invoice ---------------------------------------------------------- */

static void test_sent(void **state)
{
    (void)state;
    ru_require_tool("qpdf");
    ru_require_tool("pdftotext");
    ru_require_tool("pdftoppm");
    ru_require_tool("zbarimg");

    struct invoice_doc d = sample();
    char               pdf[1024];
    render_to(&d, "sent.pdf", pdf, sizeof(pdf));
    assert_int_equal(ru_npages(pdf), 1);

    struct buf t = {0};
    words(pdf, 0, 0, &t);
    assert_contains(&t, "PT Garuda Servis Sejahtera");
    assert_contains(&t, "Telp. (021) 555-0142");
    assert_contains(&t, "INVOICE");
    assert_contains(&t, NUMBER);
    assert_contains(&t, "GSS-2612-0003");
    assert_contains(&t, CUSTOMER);
    assert_contains(&t, "Zoë");
    assert_contains(&t, "+6281234567890");
    assert_contains(&t, "Tanggal : 3 Desember 2026");
    assert_contains(&t, "Jatuh tempo : 10 Desember 2026");
    /* the table, in its order */
    assert_contains(&t, "No. Uraian Jumlah Harga Satuan Total");
    assert_contains(&t, "1 Ganti kompresor AC 1 PK 1 Rp 1.250.000 Rp 1.250.000");
    assert_contains(&t, "2 Isi freon R32 2 Rp 50.000 Rp 100.000");
    /* the totals, by hand (see two_lines) */
    assert_contains(&t, "Subtotal Rp 1.350.000");
    assert_contains(&t, "Diskon -Rp 50.000");
    assert_contains(&t, "Pajak (11%) Rp 143.000");
    assert_contains(&t, "Total Rp 1.443.000");
    assert_contains(&t, "Dibayar Rp 500.000");
    assert_contains(&t, "Sisa Rp 943.000");
    assert_contains(&t, "Catatan Garansi 30 hari untuk jasa dan suku cadang.");
    assert_contains(&t, "Cara Pembayaran");
    assert_contains(&t, "Transfer ke BCA 123-456-7890");
    assert_contains(&t, "sebelum 10 Desember 2026");
    assert_contains(&t, "Halaman 1 dari 1");
    /* the URL is printed, whole, once */
    assert_int_equal(ru_count(&t, URL), 1);
    assert_lacks(&t, "DRAF");
    assert_lacks(&t, "LUNAS");
    buf_free(&t);

    /* In reading order too: what a customer copies is what we printed. */
    ru_words(pdf, 0, 0, "", &t);
    assert_contains(&t, NUMBER);
    assert_contains(&t, CUSTOMER);
    assert_contains(&t, "1 Ganti kompresor AC 1 PK 1 Rp 1.250.000 Rp 1.250.000");
    assert_contains(&t, "Total Rp 1.443.000");
    assert_contains(&t, "Sisa Rp 943.000");
    assert_contains(&t, URL);
    buf_free(&t);

    struct buf qr = {0};
    assert_int_equal(ru_qr_codes(pdf, 1, &qr), 0);
    assert_string_equal(qr.data, URL);
    buf_free(&qr);
    ru_assert_within_margins(pdf, 80);
}

/* ---- a draft ------------------------------------------------------------------- */

static void test_draft(void **state)
{
    (void)state;
    ru_require_tool("pdftotext");
    ru_require_tool("zbarimg");

    /* A draft with a URL given anyway: the URL is ignored. */
    struct invoice_doc d = sample();
    d.draft = true;
    d.due_s = 0;
    d.paid_amount = 0;
    d.balance = 1443000;
    char pdf[1024];
    render_to(&d, "draft.pdf", pdf, sizeof(pdf));

    struct buf t = {0};
    words(pdf, 0, 0, &t);
    assert_contains(&t, "DRAF — belum disetujui/dikirim");
    assert_contains(&t, NUMBER);
    assert_contains(&t, CUSTOMER);
    assert_contains(&t, "Jatuh tempo : -");
    assert_contains(&t, "Total Rp 1.443.000");
    assert_contains(&t, "Sisa Rp 1.443.000");
    assert_lacks(&t, "gss.example.id");
    assert_lacks(&t, "Pindai");
    buf_free(&t);

    struct buf qr = {0};
    assert_int_equal(ru_qr_codes(pdf, 1, &qr), 4); /* zbarimg: no symbol found */
    buf_free(&qr);

    /* And without any URL at all. */
    d.public_url = NULL;
    render_to(&d, "draft2.pdf", pdf, sizeof(pdf));
    words(pdf, 0, 0, &t);
    assert_contains(&t, "DRAF");
    buf_free(&t);
}

/* Sent, but the link could not be derived (the key changed): neither a
 * draft mark nor a QR code, and a line saying why. */
static void test_sent_without_url(void **state)
{
    (void)state;
    struct invoice_doc d = sample();
    d.public_url = "";
    char pdf[1024];
    render_to(&d, "nourl.pdf", pdf, sizeof(pdf));
    struct buf t = {0};
    words(pdf, 0, 0, &t);
    assert_lacks(&t, "DRAF");
    assert_lacks(&t, "Pindai");
    assert_contains(&t, "Tautan online invoice ini belum tersedia");
    assert_contains(&t, "Total Rp 1.443.000");
    buf_free(&t);
    struct buf qr = {0};
    assert_int_equal(ru_qr_codes(pdf, 1, &qr), 4);
    buf_free(&qr);
}

static void test_paid(void **state)
{
    (void)state;
    struct invoice_doc d = sample();
    d.paid = true;
    d.paid_s = T_PAID;
    d.paid_amount = 1443000;
    d.balance = 0;
    char pdf[1024];
    render_to(&d, "paid.pdf", pdf, sizeof(pdf));
    struct buf t = {0};
    words(pdf, 0, 0, &t);
    assert_contains(&t, "LUNAS");
    assert_contains(&t, "5 Desember 2026");
    assert_contains(&t, "Dibayar Rp 1.443.000");
    assert_contains(&t, "Sisa Rp 0");
    assert_contains(&t, "Pembayaran sudah kami terima");
    assert_lacks(&t, "DRAF");
    buf_free(&t);
    struct buf qr = {0};
    assert_int_equal(ru_qr_codes(pdf, 1, &qr), 0);
    assert_string_equal(qr.data, URL); /* the stamp covers nothing of the code */
    buf_free(&qr);
}

/* ---- edges --------------------------------------------------------------------- */

static void test_no_items(void **state)
{
    (void)state;
    struct invoice_doc d = sample();
    d.items = NULL;
    d.nitems = 0;
    d.subtotal = d.discount = d.tax = d.total = d.paid_amount = d.balance = 0;
    char pdf[1024];
    render_to(&d, "empty.pdf", pdf, sizeof(pdf));
    struct buf t = {0};
    words(pdf, 0, 0, &t);
    assert_contains(&t, "Tidak ada baris.");
    assert_contains(&t, "Total Rp 0");
    assert_contains(&t, "Diskon Rp 0"); /* no "-Rp 0" */
    buf_free(&t);

    /* items NULL with a count is none, too */
    d.nitems = 7;
    render_to(&d, "empty2.pdf", pdf, sizeof(pdf));

    /* every field NULL: still a PDF */
    struct invoice_doc z = {.font_path = FONT};
    render_to(&z, "nulls.pdf", pdf, sizeof(pdf));
    words(pdf, 0, 0, &t);
    assert_contains(&t, "INVOICE");
    assert_contains(&t, "Tidak ada baris.");
    buf_free(&t);
}

/* 50 items (the API's maximum) with 200-character UTF-8 descriptions: the
 * table runs over pages, each continuation page names the invoice and
 * repeats the header row, every line appears once and in order, and the
 * totals close the last page. Item i is i x Rp 10.000: subtotal 10.000 x
 * (1 + ... + 50) = 12.750.000, 11% tax 1.402.500, total 14.152.500. */
static void test_fifty_items(void **state)
{
    (void)state;
    struct invoice_line items[50];
    char                desc[50][400];
    for (int i = 0; i < 50; i++) {
        /* "Baris-NN" marks the line; the rest is 200 characters of Indonesian
         * and Vietnamese (ễ, ộ, ư: three bytes each in UTF-8). */
        int n = snprintf(desc[i], sizeof(desc[i]), "Baris-%02d perbaikan unit Nguyễn Thị Hộ tầng %d: ", i + 1, i);
        while (n < 190)
            n += snprintf(desc[i] + n, sizeof(desc[i]) - (size_t)n, "servis lưu ");
        items[i] = (struct invoice_line){desc[i], i + 1, 10000, (int64_t)(i + 1) * 10000};
    }
    struct invoice_doc d = sample();
    d.items = items;
    d.nitems = 50;
    d.subtotal = 12750000;
    d.discount = 0;
    d.tax = 1402500;
    d.total = 14152500;
    d.paid_amount = 0;
    d.balance = 14152500;
    char pdf[1024];
    render_to(&d, "fifty.pdf", pdf, sizeof(pdf));
    int n = ru_npages(pdf);
    assert_true(n >= 3);

    struct buf all = {0};
    words(pdf, 0, 0, &all);
    const char *at = all.data;
    for (int i = 0; i < 50; i++) {
        char mark[24];
        snprintf(mark, sizeof(mark), "Baris-%02d", i + 1);
        assert_int_equal(ru_count(&all, mark), 1);
        const char *p = strstr(all.data, mark);
        if (p < at)
            fail_msg("%s is out of order", mark);
        at = p;
    }
    assert_contains(&all, "Nguyễn Thị Hộ");
    assert_contains(&all, "50 Rp 10.000 Rp 500.000"); /* the last line's figures */
    assert_contains(&all, "Subtotal Rp 12.750.000");
    assert_contains(&all, "Pajak (11%) Rp 1.402.500");
    assert_contains(&all, "Total Rp 14.152.500");
    buf_free(&all);

    for (int p = 1; p <= n; p++) {
        struct buf t = {0};
        char       foot[48];
        words(pdf, p, p, &t);
        snprintf(foot, sizeof(foot), "Halaman %d dari %d", p, n);
        assert_contains(&t, foot);
        if (p > 1) {
            assert_contains(&t, "INVOICE " NUMBER " (lanjutan)");
        }
        /* the header row on every page that has items */
        if (ru_contains(&t, "Baris-"))
            assert_contains(&t, "No. Uraian Jumlah Harga Satuan Total");
        buf_free(&t);
    }
    /* The totals and the QR code are on the last page, which scans. */
    struct buf last = {0}, qr = {0};
    words(pdf, n, n, &last);
    assert_contains(&last, "Sisa Rp 14.152.500");
    buf_free(&last);
    assert_int_equal(ru_qr_codes(pdf, n, &qr), 0);
    assert_string_equal(qr.data, URL);
    buf_free(&qr);
    ru_assert_within_margins(pdf, 2000);
}

/* The largest amounts the API allows, and int64's own extremes: printed
 * whole (never cut), inside the margins. */
static void test_largest_amounts(void **state)
{
    (void)state;
    /* 10 000 x Rp 10^12 = Rp 10^16 a line */
    const struct invoice_line big[] = {
        {"Proyek instalasi gedung", 10000, 1000000000000LL, 10000000000000000LL},
        {"Biaya tak terhingga", 1, INT64_MAX, INT64_MAX},
    };
    struct invoice_doc d = sample();
    d.items = big;
    d.nitems = 2;
    d.subtotal = INT64_MAX;
    d.discount = 1000000000000LL;
    d.tax_rate_bp = 10000;
    d.tax = 1000000000000LL;
    d.total = INT64_MAX;
    d.paid_amount = 999999999999LL;
    d.balance = INT64_MIN;
    char pdf[1024];
    render_to(&d, "big.pdf", pdf, sizeof(pdf));
    struct buf t = {0};
    words(pdf, 0, 0, &t);
    assert_contains(&t, "10.000 Rp 1.000.000.000.000 Rp 10.000.000.000.000.000");
    assert_contains(&t, "Rp 9.223.372.036.854.775.807");
    assert_contains(&t, "Subtotal Rp 9.223.372.036.854.775.807");
    assert_contains(&t, "Diskon -Rp 1.000.000.000.000");
    assert_contains(&t, "Pajak (100%) Rp 1.000.000.000.000");
    assert_contains(&t, "Dibayar Rp 999.999.999.999");
    assert_contains(&t, "Sisa -Rp 9.223.372.036.854.775.808");
    buf_free(&t);
    ru_assert_within_margins(pdf, 60);
}

/* Tax rates in basis points print with a decimal comma. */
static void test_tax_labels(void **state)
{
    (void)state;
    static const struct {
        int         bp;
        const char *label;
    } cases[] = {{0, "Pajak (0%)"},
                 {1100, "Pajak (11%)"},
                 {1150, "Pajak (11,5%)"},
                 {1125, "Pajak (11,25%)"},
                 {5, "Pajak (0,05%)"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct invoice_doc d = sample();
        char               pdf[1024], name[32];
        d.tax_rate_bp = cases[i].bp;
        snprintf(name, sizeof(name), "tax-%zu.pdf", i);
        render_to(&d, name, pdf, sizeof(pdf));
        struct buf t = {0};
        words(pdf, 0, 0, &t);
        assert_contains(&t, cases[i].label);
        buf_free(&t);
    }
}

/* Hostile text: broken UTF-8, characters beyond the BMP, control
 * characters, a 300-letter word, and text past the limits. */
static void test_hostile_text(void **state)
{
    (void)state;
    struct buf desc = {0}, note = {0};
    buf_puts(&desc, "MULAI Kata\x01pertama\ttab \xff\xfe rusak \xF0\x9F\x98\x80 emoji ");
    for (int i = 0; i < 300; i++)
        buf_putc(&desc, 'W');
    while (note.len < 6000)
        buf_puts(&note, "Catatan panjang sekali untuk pelanggan. ");
    buf_puts(&note, "\nAKHIR-YANG-TERPOTONG");
    const struct invoice_line lines[] = {{desc.data, 1, 1000, 1000}};
    struct invoice_doc        d = sample();
    d.items = lines;
    d.nitems = 1;
    d.note = note.data;
    d.customer_name = "Pelanggan\r\nBaris Dua";
    char pdf[1024];
    render_to(&d, "hostile.pdf", pdf, sizeof(pdf));
    struct buf t = {0};
    words(pdf, 0, 0, &t);
    assert_contains(&t, "MULAI Kata pertama tab");
    assert_contains(&t, "\xEF\xBF\xBD");
    assert_lacks(&t, "\xF0\x9F\x98\x80");
    assert_contains(&t, "\xE2\x80\xA6");      /* the note was cut, and says so */
    assert_lacks(&t, "AKHIR-YANG-TERPOTONG"); /* past RENDER_INV_MAX_NOTE */
    assert_contains(&t, "Pelanggan Baris Dua");
    buf_free(&t);
    ru_assert_within_margins(pdf, 100);
    buf_free(&desc);
    buf_free(&note);
}

/* ---- errors ---------------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    struct invoice_doc d = sample();
    struct buf         b = {0};
    char               err[512];

    buf_puts(&b, "abc");
    assert_int_equal(render_invoice_pdf(NULL, &b, err, sizeof(err)), -1);
    assert_true(strlen(err) > 0);
    assert_int_equal(render_invoice_pdf(&d, NULL, err, sizeof(err)), -1);

    d.font_path = "/nonexistent/gss/font.ttf";
    assert_int_equal(render_invoice_pdf(&d, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/gss/font.ttf"));
    assert_non_null(strstr(err, "cannot open"));
    d = sample();
    d.font_path = NULL;
    assert_int_equal(render_invoice_pdf(&d, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "font"));
    d = sample();
    d.font_bold_path = "/nonexistent/gss/bold.ttf";
    assert_int_equal(render_invoice_pdf(&d, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bold.ttf"));
    d = sample();
    d.font_path = "/etc/passwd";
    assert_int_equal(render_invoice_pdf(&d, &b, err, sizeof(err)), -1);

    /* More items than the limit: refused, never printed in part. */
    struct invoice_line *many = calloc(RENDER_INV_MAX_ITEMS + 1, sizeof(*many));
    assert_non_null(many);
    for (int i = 0; i <= RENDER_INV_MAX_ITEMS; i++)
        many[i] = (struct invoice_line){"x", 1, 1, 1};
    d = sample();
    d.items = many;
    d.nitems = RENDER_INV_MAX_ITEMS + 1;
    assert_int_equal(render_invoice_pdf(&d, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "items"));
    /* ...and the limit itself renders */
    d.nitems = RENDER_INV_MAX_ITEMS;
    struct buf ok = {0};
    assert_int_equal(render_invoice_pdf(&d, &ok, err, sizeof(err)), 0);
    assert_memory_equal(ok.data, "%PDF-", 5);
    buf_free(&ok);
    free(many);

    /* A URL over the limit is refused, not cut: a cut URL opens nothing. */
    char long_url[RENDER_INV_MAX_URL + 2];
    memset(long_url, 'a', sizeof(long_url) - 1);
    long_url[sizeof(long_url) - 1] = '\0';
    d = sample();
    d.public_url = long_url;
    assert_int_equal(render_invoice_pdf(&d, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "public_url"));
    d.draft = true; /* a draft ignores its URL */
    assert_int_equal(render_invoice_pdf(&d, &ok, err, sizeof(err)), 0);
    buf_free(&ok);

    /* out is exactly as it came after every failure; a tiny errlen truncates */
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    char small[8];
    memset(small, 'x', sizeof(small));
    d = sample();
    d.font_path = "/nonexistent";
    assert_int_equal(render_invoice_pdf(&d, &b, small, 4), -1);
    assert_int_equal(small[3], '\0');
    assert_int_equal(small[4], 'x');
    assert_int_equal(render_invoice_pdf(&d, &b, NULL, 0), -1);
    buf_free(&b);
}

static void test_appends(void **state)
{
    (void)state;
    struct invoice_doc d = sample();
    ru_check_appends(render_invoice, &d);
}

/* The Jakarta date, against `date -u -d ... +%s`. */
static void test_dates(void **state)
{
    (void)state;
    char s[32];
    render_date_id(T_ISSUED, s, sizeof(s));
    assert_string_equal(s, "3 Desember 2026");
    render_date_id(1798736399LL, s, sizeof(s)); /* 2026-12-31T16:59:59Z: 23:59:59 WIB */
    assert_string_equal(s, "31 Desember 2026");
    render_date_id(1798736400LL, s, sizeof(s)); /* 2026-12-31T17:00:00Z: midnight WIB */
    assert_string_equal(s, "1 Januari 2027");
    render_date_id(0, s, sizeof(s));
    assert_string_equal(s, "-");
    render_date_id(INT64_MAX, s, sizeof(s));
    assert_string_equal(s, "-");
    render_date_id(INT64_MIN, s, sizeof(s));
    assert_string_equal(s, "-");
    char tiny[4];
    render_date_id(T_ISSUED, tiny, sizeof(tiny));
    assert_string_equal(tiny, "3 D");
}

/* ---- threads ----------------------------------------------------------------------- */

/* Invoices rendered at once on four threads are byte for byte the one
 * rendered alone: no call sees another's state. */
static void test_threads(void **state)
{
    (void)state;
    struct invoice_doc d = sample();
    ru_check_threads(render_invoice, &d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sent),
        cmocka_unit_test(test_draft),
        cmocka_unit_test(test_sent_without_url),
        cmocka_unit_test(test_paid),
        cmocka_unit_test(test_no_items),
        cmocka_unit_test(test_fifty_items),
        cmocka_unit_test(test_largest_amounts),
        cmocka_unit_test(test_tax_labels),
        cmocka_unit_test(test_hostile_text),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
