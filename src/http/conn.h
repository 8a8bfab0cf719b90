/*
 * conn: the internals of one HTTP connection, shared by server.c (HTTP/1.1)
 * and ws.c (which takes a connection over after an Upgrade). Handlers never
 * include this: they see struct http_req only.
 */
#ifndef GSS_HTTP_CONN_H
#define GSS_HTTP_CONN_H

#include "http/server.h"

/* A step that on_headers_complete pauses the parser for, taken by conn_process. */
enum { EARLY_NONE = 0, EARLY_ANSWER, EARLY_AUTH, EARLY_STREAM_END };

enum conn_state {
    CS_READ,       /* reading or parsing a request */
    CS_HANDLING,   /* a handler owns the current request; input waits in `in` */
    CS_AUTH,       /* headers done, body not read: the auth step decides first */
    CS_WAIT_WRITE, /* output above the high-water mark; parsing paused */
    CS_CLOSING,    /* close requested: flushing, then lingering, then uv_close */
    CS_WS,         /* taken over by a WebSocket */
};

struct http_conn {
    uv_tcp_t            tcp; /* first: the handle's data points to the conn */
    struct http_server *srv;
    struct http_conn   *next, *prev; /* srv->conns */
    llhttp_t            parser;
    struct timerq_node  tnode;
    uv_shutdown_t       shut;
    struct buf          in;  /* received, not yet parsed */
    struct http_req    *req; /* being parsed, or handed to a handler */
    enum conn_state     state;
    unsigned            header_bytes;
    unsigned            writes;     /* uv_write requests in flight */
    int                 err_status; /* set by a parser callback that failed the request */
    const char         *err_code;
    const char         *err_message; /* NULL: the default text of err_status */
    uint64_t            streamed;    /* body bytes handed to a streaming handler */
    bool                in_request;  /* the current request's first byte has arrived */
    bool                in_field;    /* llhttp is inside a header name */
    bool                in_trailer;  /* the headers are complete: header callbacks now carry a chunked body's trailer */
    bool                in_parse;    /* conn_process is on the stack */
    bool                reading;
    bool                close_after; /* close once the current answer is out */
    bool                closed;      /* uv_close called */
    bool                counted;     /* counts against max_conns */
    bool                upgrade_ok;  /* the route accepts an Upgrade */
    uint8_t             early;       /* EARLY_*: on_headers_complete paused for a step before the body */
    bool                streaming;   /* the body goes to the handler's on_body_data */
    bool                stream_hold; /* the handler asked to stop reading for now */
    int64_t             body_cap;
    size_t              wq_mark; /* write_queue_size when the flush timer was armed (progress check) */
    void               *ws;      /* CS_WS: the WebSocket that owns the reading side */
    void (*ws_on_close)(void *ws);
    void (*ws_on_drain)(void *ws);
};

/* Answers 101 with extra_headers ("Name: v\r\n" lines) and switches the
 * connection to CS_WS; the request is freed. The caller then sets c->ws,
 * c->ws_on_close, c->ws_on_drain, takes over reading (uv_read_start with its
 * own callbacks; bytes already received after the request are in c->in) and
 * writing. NULL if the client is already gone. */
struct http_conn *http_upgrade(struct http_req *req, const char *extra_headers);

/* Queues bytes for writing; takes ownership of `data` (malloc'd). */
void http_conn_write_owned(struct http_conn *c, char *data, size_t len);
/* The one close path: flushes queued writes, then closes. Idempotent. */
void http_conn_close(struct http_conn *c);
/* Closes at once, dropping anything unsent. */
void http_conn_abort(struct http_conn *c);

#endif
