/*
 * letter: the Surat Tugas PDF cache (one per process; entries live until
 * the ticket's technicians change or the letter expires, at most 256).
 * Loop thread only.
 */
#ifndef GSS_HTTP_HANDLERS_LETTER_H
#define GSS_HTTP_HANDLERS_LETTER_H

#include "core/buf.h"

struct letter_cache;

struct letter_cache *letter_cache_new(void);
void                 letter_cache_free(struct letter_cache *c);
void                 letter_cache_metrics(const struct letter_cache *c, struct buf *b);

#endif
