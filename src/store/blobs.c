/*
 * blobs: content-named files under the upload folder. Contract in blobs.h.
 *
 * blobs_put does its blocking work (hash, write, fsync, rename) in one
 * uv_work on libuv's threadpool: the buffer is whole already, so there is
 * nothing to interleave with the loop, and a photo of a few MiB would cost
 * the loop milliseconds of hashing if it ran there.
 */
#include "store/blobs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/workers.h"

const char *blobs_sniff(const unsigned char *p, size_t n)
{
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return "image/jpeg";
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8))
        return "image/png";
    if (n >= 5 && !memcmp(p, "%PDF-", 5))
        return "application/pdf";
    return NULL;
}

void blobs_part_owner(char *out, size_t n)
{
    if (gethostname(out, n) != 0 || !out[0])
        snprintf(out, n, "localhost");
    out[n - 1] = '\0';
    for (char *p = out; *p; p++)
        if (*p == '/' || *p == '.')
            *p = '_';
}

int blobs_part_path(const char *dir, char *out, size_t n)
{
    uint8_t rnd[16];
    char    hex[33], host[64];
    crypto_random(rnd, sizeof(rnd));
    crypto_hex(rnd, sizeof(rnd), hex);
    /* the start-up sweep of any process on this host can tell a dead
     * writer's leftover from a live one by the pid */
    blobs_part_owner(host, sizeof(host));
    int w = snprintf(out, n, "%s/tmp/%s-%d-%s.part", dir, host, (int)getpid(), hex);
    if (w < 0 || (size_t)w >= n) {
        if (n)
            out[0] = '\0';
        return UV_ENAMETOOLONG;
    }
    return 0;
}

/* snprintf into a whole path, or UV_ENAMETOOLONG: a name cut short would
 * name another file. */
static int path_of(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int path_of(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    return w < 0 || (size_t)w >= n ? UV_ENAMETOOLONG : 0;
}

void blobs_final_rel(const char *sha_hex, char *out, size_t n)
{
    time_t    t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%04d/%02d/%s", tm.tm_year + 1900, tm.tm_mon + 1, sha_hex);
}

/* ---- blobs_put ------------------------------------------------------------------ */

struct put {
    uv_work_t   work;
    const char *data;
    size_t      len;
    char        dir[BLOBS_DIR_MAX + 1];
    char        expect[65];
    char        sha_hex[65];
    char        rel[BLOBS_REL_MAX];
    int         status;
    blobs_cb    cb;
    void       *ud;
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* On a threadpool thread. */
static void put_work(uv_work_t *w)
{
    struct put *p = w->data;
    workers_lower_priority();
    uint8_t d[CRYPTO_SHA256_LEN];
    crypto_sha256(p->data, p->len, d);
    crypto_hex(d, sizeof(d), p->sha_hex);
    if (p->expect[0] && strcmp(p->expect, p->sha_hex) != 0) {
        p->status = BLOBS_ERR_SHA;
        return;
    }
    blobs_final_rel(p->sha_hex, p->rel, sizeof(p->rel));
    char tmp[BLOBS_PATH_MAX], path[BLOBS_PATH_MAX];
    if ((p->status = blobs_part_path(p->dir, tmp, sizeof(tmp))) < 0)
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        p->status = -errno;
        return;
    }
    int rc = write_all(fd, p->data, p->len);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    /* <dir>/yyyy, then <dir>/yyyy/mm (EEXIST is fine), then the rename */
    if (rc == 0)
        rc = path_of(path, sizeof(path), "%s/%.4s", p->dir, p->rel);
    if (rc == 0 && mkdir(path, 0750) < 0 && errno != EEXIST)
        rc = -errno;
    if (rc == 0)
        rc = path_of(path, sizeof(path), "%s/%.7s", p->dir, p->rel);
    if (rc == 0 && mkdir(path, 0750) < 0 && errno != EEXIST)
        rc = -errno;
    if (rc == 0)
        rc = path_of(path, sizeof(path), "%s/%s", p->dir, p->rel);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    p->status = rc;
}

static void put_done(uv_work_t *w, int status)
{
    struct put *p = w->data;
    p->cb(p->ud, status < 0 ? status : p->status, p->sha_hex, p->rel);
    free(p);
}

int blobs_put(uv_loop_t *loop, const char *dir, const void *data, size_t len, const char *expect_sha_hex, blobs_cb cb,
              void *ud)
{
    if (strlen(dir) > BLOBS_DIR_MAX)
        return UV_ENAMETOOLONG; /* its names might not fit BLOBS_PATH_MAX on some host */
    struct put *p = xcalloc(1, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "%s", dir);
    if (expect_sha_hex)
        snprintf(p->expect, sizeof(p->expect), "%s", expect_sha_hex);
    p->data = data;
    p->len = len;
    p->cb = cb;
    p->ud = ud;
    p->work.data = p;
    int rc = uv_queue_work(loop, &p->work, put_work, put_done);
    if (rc < 0)
        free(p);
    return rc;
}
