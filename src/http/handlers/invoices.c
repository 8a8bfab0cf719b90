/* placeholder: being written (issue 9) */
#include "http/handlers/handlers.h"
void h_invoices_create(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_invoices_list(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_invoices_get(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_invoices_update(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_invoices_submit(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_invoices_approve(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_invoices_revise(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
