/* placeholder: being written (issue 9) */
#include "http/handlers/handlers.h"
void h_public_invoice(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_public_invoice_pdf(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_public_qris(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_public_rating_get(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
void h_public_rating_post(struct http_req *req) { http_error(req, 501, "not_implemented", "not yet"); }
