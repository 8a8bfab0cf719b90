/*
 * http: the request/response API that handlers see.
 *
 * A handler receives a struct http_req whose method, path, query, headers,
 * path parameters and body are parsed and complete. It must answer exactly
 * once, now or later (after a Redis or PostgreSQL callback), with one of the
 * http_respond* functions. Until it does, the request stays alive even if
 * the client goes away (http_req_gone() then says so, and the answer is
 * simply dropped), so an async callback may always touch its request.
 *
 * Memory: the request owns its strings, headers and body; they live until
 * the handler has answered. Response bodies are copied into the connection's
 * output, so handlers may pass stack or temporary buffers.
 */
#ifndef GSS_HTTP_H
#define GSS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct gss_services;
struct http_req;
struct http_route;
struct auth_session;

enum http_method {
    HTTP_M_OTHER = 0,
    HTTP_M_GET,
    HTTP_M_HEAD,
    HTTP_M_POST,
    HTTP_M_PUT,
    HTTP_M_PATCH,
    HTTP_M_DELETE,
    HTTP_M_OPTIONS
};

#define HTTP_MAX_PARAMS  4
#define HTTP_MAX_HEADERS 64

struct http_str {
    const char *p;
    size_t      n;
};

struct http_header {
    uint32_t name_off, name_len, val_off, val_len; /* into http_req.hdrbuf */
};

typedef void (*http_handler)(struct http_req *req);

struct http_req {
    struct http_conn        *conn; /* NULL once the client is gone */
    struct gss_services     *svc;  /* the process's services (services.h); never NULL */
    enum http_method         method;
    const char              *method_str; /* static */
    struct buf               url;        /* raw request target */
    struct http_str          path;       /* within url, percent-decoding not applied */
    struct http_str          query;      /* within url, without '?' */
    struct buf               hdrbuf;     /* header names and values, back to back */
    struct http_header       hdrs[HTTP_MAX_HEADERS];
    unsigned                 nhdrs;
    struct buf               body;
    const struct http_route *route;
    struct http_str          params[HTTP_MAX_PARAMS]; /* path parameters, within url */
    unsigned                 nparams;
    char                     rid[72]; /* request id */
    uint64_t                 start_ns;
    int                      http_minor;
    bool                     keepalive;
    bool                     answered;
    bool                     expect_continue;
    struct buf               extra_headers;  /* "Name: value\r\n" lines added by the handler */
    struct auth_session     *session;        /* set by the auth step for routes that need it; owned */
    void                    *ctx;            /* handler's own per-request state; the handler frees it */
    int64_t                  content_length; /* declared body length; -1 chunked; 0 none */
    /* Who holds the request: set when it is handed to the auth step or a
     * handler, cleared when it is answered. A connection that closes while
     * this is set detaches the request (conn = NULL) instead of freeing it:
     * the holder's pending callback still touches it, and its answer frees
     * it. This is the one ownership rule; nothing infers it from the
     * connection's state. */
    bool held;
    bool authed; /* the auth step already admitted it (at the end of the headers) */
    /* A streamed body (http_body_stream); NULL callbacks: none. */
    int (*on_body_data)(struct http_req *req, const char *data, size_t len, void *ud);
    void (*on_body_end)(struct http_req *req, int status, void *ud);
    void *body_ud;
};

/* Header lookup, case-insensitive; NULL if absent. Sets *len. */
const char *http_header(const struct http_req *req, const char *name, size_t *len);
/* Query parameter value (not decoded into place: copied, percent-decoded, NUL-terminated, into out). */
bool http_query(const struct http_req *req, const char *name, char *out, size_t outlen);
/* Whether the query has that parameter at all (http_query also says false
 * for a value longer than its buffer). */
bool http_query_present(const struct http_req *req, const char *name);
/* Path parameter by position as a positive int64 (ids); -1 if not one. */
int64_t http_param_id(const struct http_req *req, unsigned i);
bool    http_req_gone(const struct http_req *req);
/* The Idempotency-Key header (1..64 of A-Z a-z 0-9 - _) into out: 1 if
 * present, 0 absent (out ""), -1 malformed (answer 400). */
int http_idempotency_key(const struct http_req *req, char out[72]);

void http_add_header(struct http_req *req, const char *name, const char *value);
void http_respond(struct http_req *req, int status, const char *content_type, const void *body, size_t len);
void http_respond_json(struct http_req *req, int status, const char *json, size_t len);
/* As http_respond, for a large body the caller malloc'd: the answer takes it
 * over (freed whatever happens) and sends it without copying it. */
void http_respond_owned(struct http_req *req, int status, const char *content_type, char *body, size_t len);
/* Answers {"error":{"code":code,"message":message}}. */
void http_error(struct http_req *req, int status, const char *code, const char *message);

/* The HTTP reason phrase of a status code. */
const char *http_status_text(int status);

/* The client's address as text ("127.0.0.1"); false if unknown (client gone). */
bool http_req_peer(const struct http_req *req, char *out, size_t outlen);

/* Parses the body as a JSON object. On failure answers the request (415 if
 * Content-Type is not application/json, 400 invalid_json otherwise) and
 * returns NULL. The caller frees the document with yyjson_doc_free. */
struct yyjson_doc;
struct yyjson_doc *http_json_body(struct http_req *req);

/*
 * Request bodies (DESIGN.md §2). Each route declares how it takes one
 * (router.h, route->body): none (every GET: a body is answered 413 before
 * a byte of it is read), JSON (buffered up to the route's cap, then the
 * handler runs with req->body complete) or streamed. For any request that
 * carries a body, the auth step and the role check run as soon as the
 * headers are complete, before 100 Continue and before a body byte is
 * buffered; a refused request is answered and its connection closed.
 *
 * Streamed routes: the handler runs at the end of the headers, with no body
 * read yet. It checks what it needs (a cap, the ticket) and then calls
 * http_body_stream, which sends 100 Continue (when asked for) and starts
 * reading. on_data gets each piece as it is parsed: the bytes live only
 * during the call (copy them). Its return: 0 go on; 1 "hold": the piece
 * was taken but reading stops until http_body_resume (backpressure while a
 * write is in flight; pieces of what was already received may still come
 * meanwhile, one read's worth at most); -1 stop (the handler has answered, or will, at
 * once; no callback runs after -1). on_end(req, 0) after the last piece;
 * on_end(req, <0) when the body will not complete: UV_ECONNRESET (the
 * client went away; req is then gone and the answer is dropped),
 * UV_ETIMEDOUT (the body did not arrive within GSS_BODY_DEADLINE_MS of
 * http_body_stream), UV_E2BIG (more than the route's body_max: 413),
 * UV_EPROTO (a malformed body, e.g. a bad chunk: 400). The handler answers
 * exactly once in every case; once it has answered, no more body callbacks
 * run, and the connection closes after the answer if the body was not read
 * to its end. A chunked body's trailer is read and dropped (never added to
 * the headers). Callbacks never run inside http_body_stream itself; they
 * may run inside http_body_resume (bytes already received are parsed at
 * once), so the caller touches nothing after it that on_data could free.
 * Until http_body_stream, nothing of the body is read.
 */
typedef int (*http_body_data_cb)(struct http_req *req, const char *data, size_t len, void *ud);
typedef void (*http_body_end_cb)(struct http_req *req, int status, void *ud);
int  http_body_stream(struct http_req *req, http_body_data_cb on_data, http_body_end_cb on_end, void *ud);
void http_body_resume(struct http_req *req);
/* The declared body length: Content-Length, -1 for a chunked body, 0 for none. */
int64_t http_body_length(const struct http_req *req);

/* For WebSocket upgrades: hand the connection over. See ws.h. */
struct http_conn;
bool http_req_is_upgrade(const struct http_req *req);

#endif
