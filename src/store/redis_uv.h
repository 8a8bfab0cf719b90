/*
 * redis_uv: hiredis's event hooks on the store's one poll adapter
 * (store/uvpoll.h), which libpq's connections use too.
 *
 * We do not use the adapter that ships with hiredis 0.14: it drops poll
 * callbacks whose status is negative, and a connect refused on a
 * non-blocking socket arrives exactly that way, so hiredis never learns the
 * connect failed, never calls the connect callback, and the reconnect logic
 * waits forever. uvpoll hands an error to us as readable | writable, so
 * hiredis reads the socket error and reports it.
 *
 * Ownership: the uvpoll is the context's ev.data; hiredis calls cleanup when
 * it frees the context, and uvpoll_close then detaches at once (a poll
 * callback libuv already queued does not run) and frees on close.
 */
#ifndef GSS_STORE_REDIS_UV_H
#define GSS_STORE_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

#include "store/uvpoll.h"

static void redis_uv__on_events(struct uvpoll *up, void *owner, int events)
{
    redisAsyncContext *ac = owner;
    if (events & UV_WRITABLE)
        redisAsyncHandleWrite(ac);
    /* HandleWrite may have freed the context (a failed connect): cleanup
     * then detached the owner. */
    if ((events & UV_READABLE) && uvpoll_owner(up))
        redisAsyncHandleRead(ac);
}

static void redis_uv__add_read(void *d)
{
    uvpoll_set(d, uvpoll_events(d) | UV_READABLE);
}
static void redis_uv__del_read(void *d)
{
    uvpoll_set(d, uvpoll_events(d) & ~UV_READABLE);
}
static void redis_uv__add_write(void *d)
{
    uvpoll_set(d, uvpoll_events(d) | UV_WRITABLE);
}
static void redis_uv__del_write(void *d)
{
    uvpoll_set(d, uvpoll_events(d) & ~UV_WRITABLE);
}
static void redis_uv__cleanup(void *d)
{
    uvpoll_close(d);
}

static int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data)
        return REDIS_ERR;
    struct uvpoll *up = uvpoll_new(loop, ac->c.fd, redis_uv__on_events, ac);
    if (!up)
        return REDIS_ERR;
    ac->ev.data = up;
    ac->ev.addRead = redis_uv__add_read;
    ac->ev.delRead = redis_uv__del_read;
    ac->ev.addWrite = redis_uv__add_write;
    ac->ev.delWrite = redis_uv__del_write;
    ac->ev.cleanup = redis_uv__cleanup;
    return REDIS_OK;
}

#endif
