/*
 * embedded: files compiled into the binary by cmake/embed.cmake.
 * gss_lua_files: the .lua files of src/pool/lua; gss_migrations_files: the
 * .sql files of db/migrations.
 * Each table is sorted by name and ends with an entry whose name is NULL.
 */
#ifndef GSS_EMBEDDED_H
#define GSS_EMBEDDED_H

#include <stddef.h>

struct gss_embedded {
    const char *name; /* file name without extension */
    const char *data; /* NUL-terminated contents */
    size_t      len;
};

extern const struct gss_embedded gss_lua_files[];
extern const struct gss_embedded gss_migrations_files[];

#endif
