#include "core/jw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sep(struct buf *b)
{
    if (b->len == 0)
        return;
    char last = b->data[b->len - 1];
    if (last != '{' && last != '[' && last != ':')
        buf_putc(b, ',');
}

void jw_obj(struct buf *b)
{
    sep(b);
    buf_putc(b, '{');
}

void jw_end_obj(struct buf *b)
{
    buf_putc(b, '}');
}

void jw_arr(struct buf *b)
{
    sep(b);
    buf_putc(b, '[');
}

void jw_end_arr(struct buf *b)
{
    buf_putc(b, ']');
}

void jw_key(struct buf *b, const char *key)
{
    sep(b);
    buf_putc(b, '"');
    buf_json_escape(b, key, strlen(key));
    buf_append(b, "\":", 2);
}

void jw_strn(struct buf *b, const char *s, size_t n)
{
    sep(b);
    buf_putc(b, '"');
    buf_json_escape(b, s, n);
    buf_putc(b, '"');
}

void jw_str(struct buf *b, const char *s)
{
    if (!s) {
        jw_null(b);
        return;
    }
    jw_strn(b, s, strlen(s));
}

void jw_int(struct buf *b, int64_t v)
{
    sep(b);
    buf_printf(b, "%lld", (long long)v);
}

void jw_dbl(struct buf *b, double v)
{
    sep(b);
    if (!isfinite(v))
        buf_puts(b, "null");
    else {
        /* The shortest text that reads back as the same double: -6.2, not
         * -6.2000000000000002 (17 digits are only needed for some). */
        char tmp[32];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        buf_puts(b, tmp);
    }
}

void jw_bool(struct buf *b, bool v)
{
    sep(b);
    buf_puts(b, v ? "true" : "false");
}

void jw_null(struct buf *b)
{
    sep(b);
    buf_puts(b, "null");
}

void jw_raw(struct buf *b, const char *json)
{
    sep(b);
    buf_puts(b, json);
}
