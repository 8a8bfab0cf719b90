#include "store/uvpoll.h"

#include <stdlib.h>

struct uvpoll {
    uv_poll_t h;
    uvpoll_cb cb;
    void     *owner; /* NULL once closed: a queued callback is dropped */
    int       fd;
    int       events; /* what the handle is started with; 0 when stopped */
};

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct uvpoll *up = h->data;
    if (!up->owner)
        return;
    if (status < 0) {
        /* libuv stopped the handle and gives no events. Hand both to the
         * library: its read or write finds the socket error (a refused
         * connect, a reset) and it reports that the way it always does. */
        up->events = 0;
        events = UV_READABLE | UV_WRITABLE;
    }
    up->cb(up, up->owner, events);
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

struct uvpoll *uvpoll_new(uv_loop_t *loop, int fd, uvpoll_cb cb, void *owner)
{
    struct uvpoll *up = calloc(1, sizeof(*up));
    if (!up)
        return NULL;
    if (uv_poll_init(loop, &up->h, fd) != 0) {
        free(up); /* never initialised as a handle: nothing to close */
        return NULL;
    }
    up->h.data = up;
    up->cb = cb;
    up->owner = owner;
    up->fd = fd;
    return up;
}

int uvpoll_set(struct uvpoll *up, int events)
{
    if (!up->owner)
        return UV_EINVAL;
    if (events == up->events)
        return 0;
    if (events == 0) {
        up->events = 0;
        return uv_poll_stop(&up->h);
    }
    int rc = uv_poll_start(&up->h, events, on_poll);
    up->events = rc == 0 ? events : 0;
    return rc;
}

int uvpoll_events(const struct uvpoll *up)
{
    return up->events;
}

int uvpoll_fd(const struct uvpoll *up)
{
    return up->fd;
}

void *uvpoll_owner(const struct uvpoll *up)
{
    return up->owner;
}

void uvpoll_reset(struct uvpoll *up)
{
    /* uv_poll_stop also drops the fd from epoll, so the next start adds
     * the socket that now has this number afresh. */
    uv_poll_stop(&up->h);
    up->events = 0;
}

void uvpoll_close(struct uvpoll *up)
{
    if (!up)
        return;
    up->owner = NULL;
    up->events = 0;
    uv_poll_stop(&up->h);
    uv_close((uv_handle_t *)&up->h, on_closed);
}

int uvpoll_watch(struct uvpoll **slot, uv_loop_t *loop, int fd, int events, uvpoll_cb cb, void *owner)
{
    if (*slot && (*slot)->fd != fd) {
        uvpoll_close(*slot);
        *slot = NULL;
    }
    if (!*slot) {
        *slot = uvpoll_new(loop, fd, cb, owner);
        if (!*slot)
            return UV_EBADF;
    }
    return uvpoll_set(*slot, events);
}
