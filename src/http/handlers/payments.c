/* placeholder: being written (issue 9) */
#include "http/handlers/handlers.h"
void h_payments_create(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_payments_void(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_tickets_close(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
