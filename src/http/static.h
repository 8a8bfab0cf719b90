/*
 * static: the web app's files, served from memory.
 *
 * At start-up static_load() reads every regular file under GSS_WEB_DIR
 * (up to 64 MiB in all) into a table keyed by URL path, with its MIME type
 * and a content-hash ETag. Serving is then a table lookup: no file system
 * call on the loop, and no way for a crafted path to reach a file outside
 * the folder, because only paths found at load time exist at all.
 * SIGHUP reloads the folder (after a deploy of new web files).
 */
#ifndef GSS_HTTP_STATIC_H
#define GSS_HTTP_STATIC_H

#include <stdbool.h>
#include <stddef.h>

struct http_req;

struct static_file {
    char       *path; /* URL path, e.g. "/app.js"; owned */
    char       *data; /* contents; owned */
    size_t      len;
    const char *mime;
    char        etag[24]; /* quoted */
    bool        html;
};

struct static_files {
    struct static_file *files; /* owned; open-addressed table */
    size_t              cap;   /* power of two */
    size_t              n;
    size_t              bytes;
};

int                       static_load(struct static_files *sf, const char *dir);
void                      static_free(struct static_files *sf);
const struct static_file *static_lookup(const struct static_files *sf, const char *path, size_t len);
const char               *static_mime(const char *path);

/* Serves req from sf if its path names a file (also HEAD and 304 from
 * If-None-Match); false (nothing sent) otherwise, and when sf is NULL.
 * Shaped to be the server's fallback handler (server.h). */
bool http_static_serve(const struct static_files *sf, struct http_req *req);

#endif
