/*
 * buf: a growable byte buffer that owns its memory.
 *
 * Used for request input, response output and JSON building. A buf starts
 * empty (all zero is a valid empty buf) and grows by doubling; buf_free
 * releases the memory and leaves an empty buf behind, so it may be reused.
 * Allocation failure aborts: a server that cannot allocate a few KiB has no
 * sane way to continue (the same choice Redis makes).
 */
#ifndef GSS_BUF_H
#define GSS_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    char  *data; /* owned; NULL when cap == 0 */
    size_t len;  /* bytes in use */
    size_t cap;  /* bytes allocated */
};

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Appends v in decimal (no printf: this is on every request's path). */
void buf_put_u64(struct buf *b, uint64_t v);
/* Appends s as the inside of a JSON string (no quotes), escaping as needed. */
void buf_json_escape(struct buf *b, const char *s, size_t n);
/* Drops the first n bytes, moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);
/* Hands the memory to the caller (who must free() it) and empties b. */
char *buf_steal(struct buf *b);
void  buf_reset(struct buf *b);
void  buf_free(struct buf *b);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
