/*
 * log: one JSON object per line on stderr.
 *
 *   struct log_rec r;
 *   if (log_begin(&r, LOG_INFO, "request")) {
 *       log_str(&r, "method", "GET");
 *       log_int(&r, "status", 200);
 *       log_end(&r);
 *   }
 *
 * log_begin returns false (and allocates nothing) when the level is filtered,
 * so a disabled line costs one comparison. Each line goes out in one write(2)
 * so lines from several gssd processes sharing a terminal never interleave.
 * The minimum level is the one piece of process-wide state outside gss_app:
 * it is set once at start-up, before the loop runs, and only read after.
 */
#ifndef GSS_LOG_H
#define GSS_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

struct log_rec {
    struct buf b;
};

void log_set_level(enum log_level lvl);
int  log_level_parse(const char *s); /* -1 if unknown */
bool log_begin(struct log_rec *r, enum log_level lvl, const char *msg);
void log_str(struct log_rec *r, const char *key, const char *val);
void log_strn(struct log_rec *r, const char *key, const char *val, size_t n);
void log_int(struct log_rec *r, const char *key, int64_t val);
void log_dbl(struct log_rec *r, const char *key, double val);
void log_end(struct log_rec *r);

/* A line with a printf-formatted "detail" field. */
void log_msg(enum log_level lvl, const char *msg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_info(msg, ...)  log_msg(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_msg(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)
#define log_debug(msg, ...) log_msg(LOG_DEBUG, msg, __VA_ARGS__)

#endif
