#include <string.h>
#include <strings.h>
#include <yyjson.h>

#include "http/http.h"

struct yyjson_doc *http_json_body(struct http_req *req)
{
    size_t      ctl;
    const char *ct = http_header(req, "Content-Type", &ctl);
    if (!ct || ctl < 16 || strncasecmp(ct, "application/json", 16) != 0 ||
        (ctl > 16 && ct[16] != ';' && ct[16] != ' ')) {
        http_error(req, 415, "unsupported_media_type", "send the body as application/json");
        return NULL;
    }
    yyjson_read_err err;
    yyjson_doc     *doc = yyjson_read_opts(req->body.data ? req->body.data : "", req->body.len, 0, NULL, &err);
    if (!doc) {
        http_error(req, 400, "invalid_json", err.msg ? err.msg : "the body is not valid JSON");
        return NULL;
    }
    if (!yyjson_is_obj(yyjson_doc_get_root(doc))) {
        yyjson_doc_free(doc);
        http_error(req, 400, "invalid_json", "the body must be a JSON object");
        return NULL;
    }
    return doc;
}
