/*
 * uvpoll: a libuv poll handle for a socket that a client library owns
 * (libpq, hiredis). The one adapter both store clients use.
 *
 * Provides
 *   - a heap-allocated uv_poll_t with a back-pointer to its owner (the
 *     library context: a pg connection, a redisAsyncContext);
 *   - uvpoll_set(events): start, change or (events == 0) stop watching;
 *   - error handling: a poll callback with a negative status (libuv has
 *     stopped the handle; no events) is passed to the owner as
 *     UV_READABLE | UV_WRITABLE, so the library reads and writes, finds the
 *     socket's error itself and reports it its own way. The next uvpoll_set
 *     starts the handle again, even with the same events;
 *   - uvpoll_watch: for a library whose socket can change under it
 *     (PQconnectPoll moves on to the next address): a new fd closes the old
 *     handle and makes a new one;
 *   - uvpoll_reset: forget the registration when the library reopened a
 *     socket that got the same fd number (the epoll registration died with
 *     the old socket; libuv would otherwise believe it is still in place).
 *
 * Ownership: uvpoll_new allocates; uvpoll_close detaches the owner at once
 * (after it returns the callback never runs again, not even one libuv has
 * already queued) and frees the struct in the handle's close callback. The
 * struct stays valid until then, so uvpoll_close and uvpoll_owner may be
 * called from inside the callback (hiredis frees its context, and with it
 * calls cleanup, inside redisAsyncHandleRead). uvpoll_close on NULL is a
 * no-op; calling it twice is a bug (the pointer may be freed).
 *
 * Threads: the loop's thread only.
 */
#ifndef GSS_STORE_UVPOLL_H
#define GSS_STORE_UVPOLL_H

#include <uv.h>

struct uvpoll;

/* events: UV_READABLE and/or UV_WRITABLE that are ready (both after an error). */
typedef void (*uvpoll_cb)(struct uvpoll *up, void *owner, int events);

/* NULL when libuv refuses the fd (e.g. not a socket). Watches nothing yet. */
struct uvpoll *uvpoll_new(uv_loop_t *loop, int fd, uvpoll_cb cb, void *owner);
/* Watch exactly these events (0: stop). Returns 0 or a libuv error. */
int   uvpoll_set(struct uvpoll *up, int events);
int   uvpoll_events(const struct uvpoll *up);
int   uvpoll_fd(const struct uvpoll *up);
void *uvpoll_owner(const struct uvpoll *up); /* NULL once closed */
void  uvpoll_reset(struct uvpoll *up);
void  uvpoll_close(struct uvpoll *up);
/* Makes *slot watch fd for events: creates the handle, or replaces it when
 * its fd differs from fd. Returns 0, or a libuv error with *slot NULL (the
 * old handle closed). */
int uvpoll_watch(struct uvpoll **slot, uv_loop_t *loop, int fd, int events, uvpoll_cb cb, void *owner);

#endif
