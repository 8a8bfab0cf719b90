/*
 * render_bench: how many Surat Tugas PDFs render/letter makes per second.
 *
 *   render_bench [letters=200] [threads=1] [font.ttf [bold.ttf]]
 *
 * Renders the letters (split over the threads, as the rendering pool would)
 * and prints letters/s, the time per letter and the PDF's size. Fonts
 * default to Liberation Sans (fonts-liberation2). Not a test: it checks only
 * that every call succeeded.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/buf.h"
#include "render/letter.h"

struct worker {
    const struct letter_doc *doc;
    int                      letters;
    size_t                   size; /* of the last PDF */
    int                      failed;
    char                     err[512];
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct buf     b = {0};
    for (int i = 0; i < w->letters; i++) {
        b.len = 0;
        if (render_letter_pdf(w->doc, &b, w->err, sizeof(w->err)) != 0) {
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
    int letters = argc > 1 ? atoi(argv[1]) : 200;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (letters < 1 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: %s [letters] [threads] [font.ttf [bold.ttf]]\n", argv[0]);
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

    struct worker *w = calloc((size_t)threads, sizeof(*w));
    pthread_t     *th = calloc((size_t)threads, sizeof(*th));
    if (!w || !th)
        return 1;
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        w[i].doc = &doc;
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
        printf("render_bench: %d letters on %d thread(s) in %.3f s: %.1f letters/s, "
               "%.2f ms/letter/thread, %zu bytes per PDF\n",
               letters, threads, dt, letters / dt, dt * 1000.0 * threads / letters, w[0].size);
    free(w);
    free(th);
    return failed;
}
