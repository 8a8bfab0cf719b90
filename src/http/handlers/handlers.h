/*
 * handlers: one file per resource under src/http/handlers/. Each handler
 * takes a parsed request and answers it (see http.h). routes.c is the one
 * table that maps paths to these functions and says who may call them.
 */
#ifndef GSS_HANDLERS_H
#define GSS_HANDLERS_H

#include "http/http.h"
#include "store/pg.h"

/* common.c: a PostgreSQL failure as an answer: 503 (with Retry-After) for
 * whatever pg_http_status calls unavailable, else 500 and an error log line
 * under `who`. */
void h_pg_error(struct http_req *req, const char *who, enum pg_err err, const char *state, const char *msg);

struct auth_session;
/* common.c: the state table's actor kind (DOM_ACTOR_*) of a session's
 * role; 0 for none. */
unsigned h_actor(const struct auth_session *s);

/* common.c: the query of a list's search box, ?q (absent: ""), into q
 * (qlen >= 4 * max_chars + 1 bytes, the most max_chars code points take)
 * without the blanks around it; *out points into q. false: answered 422,
 * more than max_chars characters or a control character (%00 included)
 * inside. Used by customers.c and inbox.c. */
bool h_search_query(struct http_req *req, char *q, size_t qlen, size_t max_chars, const char **out);
/* common.c: ?limit (absent: def) as the decimal text of a whole number
 * 1..max (max <= 999) into out. false: answered 422. */
#define H_LIMIT_BUF 12 /* any int in decimal, and its NUL */
bool h_query_limit(struct http_req *req, int def, int max, char out[H_LIMIT_BUF]);
/* common.c: q for `LIKE ... ESCAPE '\'`: %, _ and \ escaped so that they
 * match themselves. malloc'd; the caller frees it. */
char *h_like_escape(const char *q);
/* common.c: the digits of a phone number as people write it, in the stored
 * form: spaces, dashes, dots and parentheses dropped, one '+' allowed before
 * the first digit, a leading 0 (the national trunk prefix) becomes the
 * country code 62. NUL-terminated into out; their count, or -1 if s (n
 * bytes) holds anything else, no digit at all, or more than out holds. */
int h_phone_digits(const char *s, size_t n, char *out, size_t outlen);

/* health.c */
void h_healthz(struct http_req *req);
void h_readyz(struct http_req *req);
void h_metrics(struct http_req *req);

/* debug.c (GSS_DEBUG_ROUTES=1 only) */
void h_debug_sleep(struct http_req *req);
void h_debug_echo(struct http_req *req);
struct gss_services;
/* Answers every sleeping debug request 503 (forced shutdown). */
void debug_cancel_all(struct gss_services *svc);

/* pool.c */
void h_pool_list(struct http_req *req);
void h_pool_claim(struct http_req *req);

/* tickets.c */
void h_tickets_create(struct http_req *req);
void h_tickets_list(struct http_req *req);
void h_tickets_get(struct http_req *req);

/* field.c (a technician's visit; CS's cancel) */
void h_field_checkin(struct http_req *req);
void h_field_checkout(struct http_req *req);
void h_field_complete(struct http_req *req);
void h_tickets_cancel(struct http_req *req);

/* replace.c ("Cari Pengganti"; replace_auto is in replace.h) */
void h_tickets_replace(struct http_req *req);

/* monitor.c (CS's monitoring screen: the day's visits, docs/monitor.md) */
void h_monitor(struct http_req *req);

/* letter.c (Surat Tugas and its verification page) */
void h_tickets_letter(struct http_req *req);
void h_letter_verify(struct http_req *req);

/* attachments.c (BAST and photos) */
void h_attachments_upload(struct http_req *req);
void h_attachments_get(struct http_req *req);
/* Start-up, blocking: creates upload_dir/tmp and removes unfinished
 * uploads a killed process left there: .part files untouched for
 * min_age_ms (other processes sharing the folder may be writing younger
 * ones). 0 or -1. */
int attachments_prepare(const char *upload_dir, int64_t min_age_ms);

/* ws.c (the WebSocket routes; the protocol is in http/ws.c) */
void h_ws(struct http_req *req);
void h_ws_echo(struct http_req *req);

/* auth.c, users.c (accounts) */
void h_auth_login(struct http_req *req);
/* The answer of a login whose session exists and was re-checked: counts it,
 * logs and audits it (data.via when not NULL: "telegram"), sets the cookie
 * and answers {"token","csrf_token","user"} plus `extra` (encoded members,
 * or NULL). Used by auth.c and auth_telegram.c. */
void h_login_answer(struct http_req *req, const struct auth_session *s, const char *token, const char *addr,
                    const char *via, const char *extra);
/* A login that could not be decided (503), and one refused by the login
 * throttle (429 with Retry-After, counted), for both logins. */
void h_login_unavailable(struct http_req *req);
void h_login_throttled(struct http_req *req, int64_t retry_after_s);
void h_auth_logout(struct http_req *req);
/* auth_telegram.c: login from a Mini App's initData (docs/telegram.md "Mini App login") */
void h_auth_telegram(struct http_req *req); /* POST /api/v1/auth/telegram */
void h_me(struct http_req *req);
void h_users_list(struct http_req *req);
void h_users_get(struct http_req *req);
void h_users_create(struct http_req *req);
void h_users_update(struct http_req *req);

/* invoices.c (docs/money.md): the invoice and its approval loop */
void h_invoices_create(struct http_req *req); /* POST /tickets/{id}/invoice */
void h_invoices_list(struct http_req *req);
void h_invoices_get(struct http_req *req);
void h_invoices_update(struct http_req *req);
void h_invoices_submit(struct http_req *req);
void h_invoices_approve(struct http_req *req);
void h_invoices_revise(struct http_req *req);
/* invoice_send.c: send and resend to the customer; the links again, nothing sent */
void h_invoices_send(struct http_req *req);
void h_invoices_links(struct http_req *req); /* GET /invoices/{id}/links */
/* invoice_pdf.c: the invoice PDF for staff */
void h_invoices_pdf(struct http_req *req);
/* payments.c: payments, voids, and closing the ticket */
void h_payments_create(struct http_req *req);
void h_payments_void(struct http_req *req);
void h_tickets_close(struct http_req *req);
/* public.c: the customer's pages' API (token in the path, rate-limited) */
void h_public_invoice(struct http_req *req);
void h_public_invoice_pdf(struct http_req *req);
void h_public_qris(struct http_req *req);
void h_public_rating_get(struct http_req *req);
void h_public_rating_post(struct http_req *req);
/* hooks_telegram.c (docs/telegram.md): Telegram's webhook, the account link */
void h_hooks_telegram(struct http_req *req);  /* POST /hooks/telegram */
void h_telegram_link(struct http_req *req);   /* POST /api/v1/me/telegram-link */
/* customers.c (the customer registry) */
void h_customers_list(struct http_req *req);
void h_customers_get(struct http_req *req);
void h_customers_create(struct http_req *req);
void h_customers_update(struct http_req *req);
/* hooks_whatsapp.c (Meta's webhook: handshake, signed deliveries; docs/whatsapp.md) */
void h_hooks_whatsapp_verify(struct http_req *req); /* GET /hooks/whatsapp */
void h_hooks_whatsapp(struct http_req *req);        /* POST /hooks/whatsapp */
/* inbox.c (CS's WhatsApp inbox; docs/inbox.md) */
void h_inbox_list(struct http_req *req);     /* GET /api/v1/inbox */
void h_inbox_messages(struct http_req *req); /* GET /api/v1/customers/{id}/messages */
void h_inbox_reply(struct http_req *req);    /* POST /api/v1/customers/{id}/messages */
void h_inbox_read(struct http_req *req);     /* POST /api/v1/customers/{id}/messages/read */

#endif
