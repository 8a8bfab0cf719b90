/* placeholder: being written (issue 9) */
#include "http/handlers/handlers.h"
void h_invoices_send(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
