/*
 * ws: the server side of WebSocket (RFC 6455) on top of an upgraded HTTP
 * connection, and the hub that fans live messages out to every board.
 *
 * What it provides
 *   - ws_hub_accept(): validates an opening handshake, answers 101 with the
 *     Sec-WebSocket-Accept value, and takes the connection over (or answers
 *     400/403/405/426/503 and leaves the connection to HTTP). Two kinds of
 *     socket: board sockets (/api/v1/ws, a session is required) and echo
 *     sockets (/api/v1/ws/echo, test only: every message comes back as it
 *     was sent, text as text, binary as binary).
 *   - ws_hub_broadcast(): one JSON text message to every board socket whose
 *     session role is in a mask. The frame is encoded once, into one
 *     reference-counted buffer that every socket's write shares.
 *   - Framing rules are ws_frame.c's (masking, fragmentation, UTF-8, sizes,
 *     control frames); this file turns its events into answers: pong for a
 *     ping, the close handshake, the close code for a protocol error.
 *
 * Liveness
 *   Every 30 s the hub sends one shared ping frame to every open socket.
 *   Any bytes from a client re-arm its dead-peer timeout (the server's
 *   timer queue, kind TQ_WS, 75 s): a client that answers neither pings nor
 *   anything else for 75 s is dropped without a close frame.
 *
 * Backpressure
 *   A socket's unsent bytes (libuv's write queue) may not pass
 *   GSS_WS_MAX_QUEUED: a write that would is not queued; the socket gets a
 *   close frame 1008 instead and is dropped if the client does not take it
 *   within WS_CLOSE_WAIT_MS. So a board that stops reading costs at most that
 *   cap, never the server's memory without bound.
 *
 * Closing
 *   - The client closes: its code is echoed (1000 when it sent none) and
 *     the TCP connection is closed once the echo is written.
 *   - A protocol error: a close frame with the codec's code (1002, 1007,
 *     1009, ...), then the TCP connection is closed without waiting.
 *   - The server closes (shutdown 1001, slow client 1008, ws_hub_close_user
 *     1008): a close frame, then it waits up to WS_CLOSE_WAIT_MS for the
 *     client's close frame before dropping the connection.
 *
 * Ownership
 *   The hub owns nothing of the connections' memory: a struct ws_conn is
 *   created by ws_hub_accept, hangs off its struct http_conn (c->ws), and is
 *   freed only in the TCP handle's close callback (c->ws_on_close), after
 *   every write callback of that socket has run. A ws_conn holds one
 *   reference to its auth_session, released there too.
 *
 * Lifetime of the hub
 *   ws_hub_new() in the module start (after the loop exists), ws_hub_stop()
 *   once the HTTP server has drained (closes the hub's own timer handles),
 *   ws_hub_free() after the loop has returned.
 */
#ifndef GSS_HTTP_WS_H
#define GSS_HTTP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct gss_services;
struct http_req;
struct ws_hub;

#define WS_PING_INTERVAL_MS 30000u
/* How long a closing socket may take to answer our close frame (or to read
 * the bytes queued before it) before it is dropped. */
#define WS_CLOSE_WAIT_MS 5000u

/* Creates the hub (limits from svc->cfg, timers on svc->loop; svc must
 * outlive it) and starts its ping timer. Never NULL (allocation failure
 * aborts, as everywhere). */
struct ws_hub *ws_hub_new(struct gss_services *svc);
/* Drops any socket still open and closes the hub's timers. Call once, after
 * the HTTP server has drained; the handles are gone when the loop returns. */
void ws_hub_stop(struct ws_hub *hub);
/* Frees the hub after ws_hub_stop and after the loop has returned. NULL ok. */
void ws_hub_free(struct ws_hub *hub);

/* Answers req: 101 and the connection becomes a WebSocket, or an HTTP error.
 * echo selects the echo behaviour (no session needed, no broadcasts);
 * otherwise req->session must be set (401 if not) and its role decides
 * which broadcasts the socket gets. hub NULL (not started) answers 503. */
void ws_hub_accept(struct ws_hub *hub, struct http_req *req, bool echo);

/* Sends the text message json (len bytes, valid UTF-8, normally
 * {"type":..,"seq":..,"data":..}) to every open board socket whose session
 * role has a bit in role_mask (ROLE_* of auth/roles.h). Encoded once; the caller
 * keeps ownership of json. Sockets that cannot take it are closed with 1008. */
void ws_hub_broadcast(struct ws_hub *hub, unsigned role_mask, const char *json, size_t len);
/* Sends {"type":"resync"} to every board socket: the live feed had a gap, so
 * boards must fetch a fresh snapshot (GET /api/v1/pool). */
void ws_hub_broadcast_resync(struct ws_hub *hub);
/* Closes (1008, "session ended") every board socket of user_id, e.g. after a
 * logout or when an account is disabled. Returns how many were closed. */
size_t ws_hub_close_user(struct ws_hub *hub, int64_t user_id);

/* The same for the sockets opened with one session (token_hash as in
 * struct auth_session), e.g. on a logout. */
size_t ws_hub_close_session(struct ws_hub *hub, const char *token_hash);

/* Open WebSocket connections (board and echo, closing ones included). */
size_t ws_hub_count(const struct ws_hub *hub);
/* Appends the gss_ws_* Prometheus metrics. */
void ws_hub_metrics(const struct ws_hub *hub, struct buf *b);

#endif
