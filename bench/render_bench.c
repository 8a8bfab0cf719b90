/*
 * render_bench: how many PDFs render/letter and render/invoice make per second.
 *
 *   render_bench [letter|invoice|invoice50] [count=200] [threads=1] [font.ttf [bold.ttf]]
 *
 * Renders the documents (split over the threads, as the rendering pool
 * would) and prints documents/s, the time per document and the PDF's size.
 * letter (the default, also when the first argument is a number): a Surat
 * Tugas with 3 technicians; invoice: a sent invoice of 3 lines with its QR
 * code; invoice50: the API's largest, 50 lines of 200 characters (several
 * pages). Fonts default to Liberation Sans (fonts-liberation2). Not a
 * test: it checks only that every call succeeded.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "render/invoice.h"
#include "render/letter.h"

struct worker {
    const struct letter_doc  *doc;
    const struct invoice_doc *inv; /* instead of doc when not NULL */
    int                       letters;
    size_t                    size; /* of the last PDF */
    int                       failed;
    char                      err[512];
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct buf     b = {0};
    for (int i = 0; i < w->letters; i++) {
        b.len = 0;
        int rc = w->inv ? render_invoice_pdf(w->inv, &b, w->err, sizeof(w->err))
                        : render_letter_pdf(w->doc, &b, w->err, sizeof(w->err));
        if (rc != 0) {
            w->failed = 1;
            break;
        }
        w->size = b.len;
    }
    buf_free(&b);
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *kind = "letter";
    if (argc > 1 && (!strcmp(argv[1], "letter") || !strcmp(argv[1], "invoice") || !strcmp(argv[1], "invoice50"))) {
        kind = argv[1];
        argv[1] = argv[0]; /* the old arguments, one place on */
        argv++, argc--;
    }
    int letters = argc > 1 ? atoi(argv[1]) : 200;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (letters < 1 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: %s [letter|invoice|invoice50] [count] [threads] [font.ttf [bold.ttf]]\n", argv[0]);
        return 2;
    }
    const struct render_person techs[] = {
        {"Śantoso Wijaya", "+62 812-3456-7890"},
        {"Budi", "0813 1111 2222"},
        {"Nguyễn Văn An", "+84 90 123 4567"},
    };
    const struct letter_doc doc = {
        .company = "PT Garuda Servis Sejahtera",
        .company_address = "Jl. Jenderal Sudirman No. 45, Kebayoran Baru, Jakarta Selatan 12190",
        .company_phone = "(021) 555-0142",
        .code = "GSS-2612-0042",
        .customer_name = "Zoë Hartono",
        .customer_phone = "0812 9876 5432",
        .address = "Perumahan Griya Asri Blok C3 No. 12, RT 004/RW 007, Kel. Sukamaju, "
                   "Kec. Cilodong, Depok, Jawa Barat",
        .schedule = "Rabu, 2 Desember 2026 09:00 WIB",
        .work = "AC split 1 PK di kamar utama tidak dingin dan mengeluarkan bunyi berisik. "
                "Periksa tekanan freon, bersihkan filter dan evaporator, cek kapasitor "
                "kompresor. Pelanggan meminta teknisi membawa freon R32.",
        .techs = techs,
        .ntechs = 3,
        .valid_until = "Rabu, 2 Desember 2026 18:00 WIB",
        .issued_at = "Selasa, 1 Desember 2026 14:05 WIB",
        .verify_url = "https://gss.example.id/v/q3Zr8KmT1xWbN4pLsV7aYcQ",
        .font_path = argc > 3 ? argv[3] : "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
        .font_bold_path = argc > 4   ? argv[4]
                          : argc > 3 ? NULL
                                     : "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf",
    };

    /* The invoice: 3 lines, or 50 of 200 characters; sent, so with its QR code. */
    static struct invoice_line lines[50];
    static char                descs[50][256];
    size_t                     nlines = strcmp(kind, "invoice50") ? 3 : 50;
    int64_t                    subtotal = 0;
    for (size_t i = 0; i < nlines; i++) {
        int n = snprintf(descs[i], sizeof(descs[i]), "Baris %zu: ganti kapasitor kompresor, Nguyễn Văn An", i + 1);
        while (nlines == 50 && n < 190)
            n += snprintf(descs[i] + n, sizeof(descs[i]) - (size_t)n, " servis lưu");
        lines[i] = (struct invoice_line){descs[i], (int64_t)i + 1, 125000, ((int64_t)i + 1) * 125000};
        subtotal += lines[i].line_total;
    }
    int64_t                  tax = (subtotal * 1100 + 5000) / 10000;
    const struct invoice_doc inv = {
        .company = doc.company,
        .company_address = doc.company_address,
        .company_phone = doc.company_phone,
        .number = "INV-2612-0001",
        .ticket_code = doc.code,
        .customer_name = doc.customer_name,
        .customer_address = doc.address,
        .customer_phone = "+6281298765432",
        .issued_s = 1796232600,
        .due_s = 1796837400,
        .items = lines,
        .nitems = nlines,
        .subtotal = subtotal,
        .tax_rate_bp = 1100,
        .tax = tax,
        .total = subtotal + tax,
        .balance = subtotal + tax,
        .note = "Garansi 30 hari untuk jasa dan suku cadang.",
        .pay_bank = "Transfer ke BCA 123-456-7890 a.n. PT Garuda Servis Sejahtera",
        .public_url = "https://gss.example.id/i/Qm9uZ2thckthbGlhbkthbGkxMjM0NTY",
        .font_path = doc.font_path,
        .font_bold_path = doc.font_bold_path,
    };
    const char *noun = strcmp(kind, "letter") ? "invoices" : "letters";

    struct worker *w = calloc((size_t)threads, sizeof(*w));
    pthread_t     *th = calloc((size_t)threads, sizeof(*th));
    if (!w || !th)
        return 1;
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        w[i].doc = &doc;
        w[i].inv = strcmp(kind, "letter") ? &inv : NULL;
        w[i].letters = letters / threads + (i < letters % threads);
        if (pthread_create(&th[i], NULL, work, &w[i]) != 0)
            return 1;
    }
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failed) {
            fprintf(stderr, "render_bench: %s\n", w[i].err);
            failed = 1;
        }
    }
    double dt = now() - t0;
    if (!failed)
        printf("render_bench: %d %s%s on %d thread(s) in %.3f s: %.1f %s/s, "
               "%.2f ms each per thread, %zu bytes per PDF\n",
               letters, noun, strcmp(kind, "invoice50") ? "" : " of 50 lines", threads, dt, letters / dt, noun,
               dt * 1000.0 * threads / letters, w[0].size);
    free(w);
    free(th);
    return failed;
}
