#ifndef GSS_POOL_LIVE_H
#define GSS_POOL_LIVE_H

struct gss_app;
/* Subscribes this process to the live pool channel (see live.c). */
int live_start(struct gss_app *app);

#endif
