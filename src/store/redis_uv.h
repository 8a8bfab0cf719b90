/*
 * redis_uv: hiredis's event hooks on a libuv poll handle.
 *
 * We do not use the adapter that ships with hiredis 0.14: it drops poll
 * callbacks whose status is negative, and a connect refused on a
 * non-blocking socket arrives exactly that way, so hiredis never learns the
 * connect failed, never calls the connect callback, and the reconnect logic
 * waits forever. Here an error status is handed to hiredis as the events it
 * was waiting for, so it reads the socket error and reports it.
 *
 * Ownership: the poll handle lives in a heap struct freed in its close
 * callback; hiredis calls cleanup when it frees the context, after which the
 * struct forgets the context (a poll callback may still be queued).
 */
#ifndef GSS_STORE_REDIS_UV_H
#define GSS_STORE_REDIS_UV_H

#include <hiredis/async.h>
#include <stdlib.h>
#include <uv.h>

struct redis_uv {
    uv_poll_t          poll;
    redisAsyncContext *ac;     /* NULL after cleanup */
    int                events; /* UV_READABLE | UV_WRITABLE wanted by hiredis */
};

static void redis_uv__on_poll(uv_poll_t *h, int status, int events)
{
    struct redis_uv *p = h->data;
    if (status < 0)
        events = p->events; /* let hiredis find the error on the socket */
    if (p->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
    if (p->ac && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
}

static void redis_uv__update(struct redis_uv *p, int events)
{
    p->events = events;
    if (events)
        uv_poll_start(&p->poll, events, redis_uv__on_poll);
    else
        uv_poll_stop(&p->poll);
}

static void redis_uv__add_read(void *d)
{
    struct redis_uv *p = d;
    redis_uv__update(p, p->events | UV_READABLE);
}
static void redis_uv__del_read(void *d)
{
    struct redis_uv *p = d;
    redis_uv__update(p, p->events & ~UV_READABLE);
}
static void redis_uv__add_write(void *d)
{
    struct redis_uv *p = d;
    redis_uv__update(p, p->events | UV_WRITABLE);
}
static void redis_uv__del_write(void *d)
{
    struct redis_uv *p = d;
    redis_uv__update(p, p->events & ~UV_WRITABLE);
}

static void redis_uv__closed(uv_handle_t *h)
{
    free(h->data);
}

static void redis_uv__cleanup(void *d)
{
    struct redis_uv *p = d;
    p->ac = NULL;
    uv_poll_stop(&p->poll);
    uv_close((uv_handle_t *)&p->poll, redis_uv__closed);
}

static int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data)
        return REDIS_ERR;
    struct redis_uv *p = calloc(1, sizeof(*p));
    if (!p)
        return REDIS_ERR;
    if (uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->ac = ac;
    p->poll.data = p;
    ac->ev.data = p;
    ac->ev.addRead = redis_uv__add_read;
    ac->ev.delRead = redis_uv__del_read;
    ac->ev.addWrite = redis_uv__add_write;
    ac->ev.delWrite = redis_uv__del_write;
    ac->ev.cleanup = redis_uv__cleanup;
    return REDIS_OK;
}

#endif
