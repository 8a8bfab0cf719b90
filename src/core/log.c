#include "core/log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level    log_min = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level lvl)
{
    log_min = lvl;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

bool log_begin(struct log_rec *r, enum log_level lvl, const char *msg)
{
    if (lvl < log_min)
        return false;
    memset(r, 0, sizeof(*r));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    buf_printf(&r->b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", when, ts.tv_nsec / 1000000,
               level_names[lvl]);
    buf_json_escape(&r->b, msg, strlen(msg));
    buf_putc(&r->b, '"');
    return true;
}

void log_strn(struct log_rec *r, const char *key, const char *val, size_t n)
{
    buf_printf(&r->b, ",\"%s\":\"", key);
    buf_json_escape(&r->b, val ? val : "", val ? n : 0);
    buf_putc(&r->b, '"');
}

void log_str(struct log_rec *r, const char *key, const char *val)
{
    log_strn(r, key, val, val ? strlen(val) : 0);
}

void log_int(struct log_rec *r, const char *key, int64_t val)
{
    buf_printf(&r->b, ",\"%s\":%lld", key, (long long)val);
}

void log_dbl(struct log_rec *r, const char *key, double val)
{
    buf_printf(&r->b, ",\"%s\":%.3f", key, val);
}

void log_end(struct log_rec *r)
{
    buf_append(&r->b, "}\n", 2);
    const char *p = r->b.data;
    size_t      left = r->b.len;
    while (left > 0) {
        ssize_t n = write(STDERR_FILENO, p, left);
        if (n <= 0)
            break; /* stderr gone: nothing better to do than drop the line */
        p += n;
        left -= (size_t)n;
    }
    buf_free(&r->b);
}

void log_msg(enum log_level lvl, const char *msg, const char *fmt, ...)
{
    struct log_rec r;
    if (!log_begin(&r, lvl, msg))
        return;
    struct buf d = {0};
    va_list    ap;
    va_start(ap, fmt);
    buf_vprintf(&d, fmt, ap);
    va_end(ap);
    log_strn(&r, "detail", d.data, d.len);
    buf_free(&d);
    log_end(&r);
}
