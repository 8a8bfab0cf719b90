/*
 * live: the glue that carries the pool's live channel to this process's
 * WebSocket boards (see live.c). Composition root only: it knows both the
 * pool (below http) and the hub (in http).
 */
#ifndef GSS_APP_LIVE_H
#define GSS_APP_LIVE_H

struct gss_services;
/* Subscribes this process to the live pool channel on svc->sub (and to the
 * monitor channel when svc->monitor is set: start it first), and to the
 * invoice channel; messages go to svc->hub (checked at each message: it
 * may not exist yet). 0 or -1 (too many channels). */
int live_start(struct gss_services *svc);

#endif
