#include "http/static.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/log.h"
#include "http/http.h"

#define STATIC_MAX_BYTES (64u << 20)
#define STATIC_MAX_DEPTH 8

static const struct {
    const char *ext, *mime;
} mimes[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".webmanifest", "application/manifest+json"},
    {".txt", "text/plain; charset=utf-8"},
    {".woff2", "font/woff2"},
    {".pdf", "application/pdf"},
    {".map", "application/json"},
};

const char *static_mime(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof(mimes) / sizeof(mimes[0]); i++)
            if (strcasecmp(dot, mimes[i].ext) == 0)
                return mimes[i].mime;
    return "application/octet-stream";
}

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void insert(struct static_files *sf, struct static_file *f)
{
    if ((sf->n + 1) * 2 > sf->cap) {
        size_t              ncap = sf->cap ? sf->cap * 2 : 64;
        struct static_file *nt = xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < sf->cap; i++) {
            if (!sf->files[i].path)
                continue;
            size_t j = hash(sf->files[i].path, strlen(sf->files[i].path)) & (ncap - 1);
            while (nt[j].path)
                j = (j + 1) & (ncap - 1);
            nt[j] = sf->files[i];
        }
        free(sf->files);
        sf->files = nt;
        sf->cap = ncap;
    }
    size_t j = hash(f->path, strlen(f->path)) & (sf->cap - 1);
    while (sf->files[j].path)
        j = (j + 1) & (sf->cap - 1);
    sf->files[j] = *f;
    sf->n++;
    sf->bytes += f->len;
}

const struct static_file *static_lookup(const struct static_files *sf, const char *path, size_t len)
{
    if (!sf->cap)
        return NULL;
    size_t j = hash(path, len) & (sf->cap - 1);
    while (sf->files[j].path) {
        if (strlen(sf->files[j].path) == len && memcmp(sf->files[j].path, path, len) == 0)
            return &sf->files[j];
        j = (j + 1) & (sf->cap - 1);
    }
    return NULL;
}

static int read_file(const char *fs_path, char **out, size_t *len)
{
    int fd = open(fs_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    char  *data = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    data[got] = '\0';
    *out = data;
    *len = got;
    return 0;
}

static int load_dir(struct static_files *sf, const char *fs_dir, const char *url_dir, int depth)
{
    if (depth > STATIC_MAX_DEPTH)
        return 0;
    DIR *d = opendir(fs_dir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue; /* dotfiles and . / .. are never served */
        char fs_path[4096], url[4096];
        if (snprintf(fs_path, sizeof(fs_path), "%s/%s", fs_dir, e->d_name) >= (int)sizeof(fs_path) ||
            snprintf(url, sizeof(url), "%s/%s", url_dir, e->d_name) >= (int)sizeof(url))
            continue;
        struct stat st;
        if (lstat(fs_path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (strcmp(e->d_name, "node_modules") != 0)
                load_dir(sf, fs_path, url, depth + 1);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue; /* symlinks are not followed: they could point outside */
        if (sf->bytes + (size_t)st.st_size > STATIC_MAX_BYTES) {
            log_warn("static", "web folder over %u bytes; %s not loaded", STATIC_MAX_BYTES, fs_path);
            continue;
        }
        struct static_file f = {0};
        if (read_file(fs_path, &f.data, &f.len) < 0)
            continue;
        f.path = xstrdup(url);
        f.mime = static_mime(url);
        f.html = strncmp(f.mime, "text/html", 9) == 0;
        uint8_t h[32];
        crypto_sha256(f.data, f.len, h);
        f.etag[0] = '"';
        crypto_hex(h, 10, f.etag + 1);
        f.etag[21] = '"';
        f.etag[22] = '\0';
        insert(sf, &f);
    }
    closedir(d);
    return 0;
}

int static_load(struct static_files *sf, const char *dir)
{
    memset(sf, 0, sizeof(*sf));
    if (load_dir(sf, dir, "", 0) < 0) {
        log_warn("static", "cannot read web folder %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

void static_free(struct static_files *sf)
{
    for (size_t i = 0; i < sf->cap; i++) {
        free(sf->files[i].path);
        free(sf->files[i].data);
    }
    free(sf->files);
    memset(sf, 0, sizeof(*sf));
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes the path; refuses NUL, backslash and any ".." segment. */
static bool decode_path(const char *p, size_t n, char *out, size_t cap, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '%') {
            if (i + 2 >= n)
                return false;
            int a = hexv(p[i + 1]), b = hexv(p[i + 2]);
            if (a < 0 || b < 0)
                return false;
            c = (char)(a * 16 + b);
            i += 2;
        }
        if (c == '\0' || c == '\\' || o + 1 >= cap)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    if (strstr(out, "/../") || strstr(out, "/./") || strstr(out, "//") || (o >= 3 && strcmp(out + o - 3, "/..") == 0))
        return false;
    *outlen = o;
    return true;
}

/* path is prefix followed by 1 to 18 digits. */
static bool is_prefix_id(const char *path, size_t len, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (len <= pl || len > pl + 18 || memcmp(path, prefix, pl) != 0)
        return false;
    for (size_t i = pl; i < len; i++)
        if (path[i] < '0' || path[i] > '9')
            return false;
    return true;
}

/* Links that leave the app and come back to it (the Telegram "Ambil Job"
 * button opens /jobs/{id}, Sales' "Lihat / Revisi" /invoices/{id}) are the
 * app's page; the app routes them itself. */
static bool is_app_deep_link(const char *path, size_t len)
{
    return is_prefix_id(path, len, "/jobs/") || is_prefix_id(path, len, "/invoices/");
}

/* The customer's pages, /i/{token} and /r/{token} (docs/money.md): one
 * segment after the prefix, whatever it holds; the page asks the API,
 * which answers a wrong token with a message the page shows. */
static bool is_public_link(const char *path, size_t len)
{
    if (len <= 3 || path[0] != '/' || (path[1] != 'i' && path[1] != 'r') || path[2] != '/')
        return false;
    return len <= 3 + 128 && !memchr(path + 3, '/', len - 3);
}

bool http_static_serve(const struct static_files *sf, struct http_req *req)
{
    char   path[1024];
    size_t len;
    if (!sf || !decode_path(req->path.p, req->path.n, path, sizeof(path) - 16, &len))
        return false;
    if (len == 0 || path[len - 1] == '/') {
        memcpy(path + len, "index.html", 11);
        len += 10;
    }
    const struct static_file *f = static_lookup(sf, path, len);
    if (!f && is_app_deep_link(path, len))
        f = static_lookup(sf, "/index.html", 11);
    /* the page of a token in its URL leaks it to no one: no Referer */
    bool secret_url = !f && is_public_link(path, len);
    if (secret_url)
        f = static_lookup(sf, "/public.html", 12);
    if (!f)
        return false;
    http_add_header(req, "ETag", f->etag);
    http_add_header(req, "Cache-Control", "no-cache");
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    if (f->html) {
        http_add_header(req, "Content-Security-Policy",
                        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
        http_add_header(req, "Referrer-Policy", secret_url ? "no-referrer" : "same-origin");
    }
    size_t      inm_len;
    const char *inm = http_header(req, "If-None-Match", &inm_len);
    if (inm && inm_len >= strlen(f->etag) && memmem(inm, inm_len, f->etag, strlen(f->etag))) {
        http_respond(req, 304, NULL, NULL, 0);
        return true;
    }
    http_respond(req, 200, f->mime, f->data, f->len);
    return true;
}
