/*
 * jw: a tiny JSON writer over struct buf for handlers' answers.
 * Commas are automatic: a member or element is preceded by ',' unless the
 * buffer's last byte opens an object or array (or is a ':' of a key).
 *
 *   jw_obj(b); jw_key_int(b, "id", 7); jw_key_str(b, "code", c); jw_end_obj(b);
 */
#ifndef GSS_JW_H
#define GSS_JW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

void jw_obj(struct buf *b);
void jw_end_obj(struct buf *b);
void jw_arr(struct buf *b);
void jw_end_arr(struct buf *b);
void jw_key(struct buf *b, const char *key); /* then one value */
void jw_str(struct buf *b, const char *s);   /* NULL writes null */
void jw_strn(struct buf *b, const char *s, size_t n);
void jw_int(struct buf *b, int64_t v);
void jw_dbl(struct buf *b, double v);
void jw_bool(struct buf *b, bool v);
void jw_null(struct buf *b);
void jw_raw(struct buf *b, const char *json); /* already-valid JSON */

static inline void jw_key_str(struct buf *b, const char *k, const char *v)
{
    jw_key(b, k);
    jw_str(b, v);
}
static inline void jw_key_int(struct buf *b, const char *k, int64_t v)
{
    jw_key(b, k);
    jw_int(b, v);
}
static inline void jw_key_bool(struct buf *b, const char *k, bool v)
{
    jw_key(b, k);
    jw_bool(b, v);
}
static inline void jw_key_dbl(struct buf *b, const char *k, double v)
{
    jw_key(b, k);
    jw_dbl(b, v);
}

#endif
