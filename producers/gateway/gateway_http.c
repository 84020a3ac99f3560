/*
 * gateway_http.c - libmicrohttpd glue: read the body (bounded, with the
 * limits and the slow-client deadline: common/km_http.c), route, render
 * the answer in the asked format, log one line per request.
 *
 * SECURITY: the URL, query and body are untrusted.  A body larger than
 * gateway.max_body_bytes is refused with 413 (from Content-Length before
 * reading it, else as soon as it grows past the limit; the rest is
 * discarded).  The log never holds the query string (it may carry an
 * api_key) nor anything from the body.
 *
 * Formats: a path ending in .json answers JSON, .xml or no suffix answers
 * XML (GeoReport v2's required format).  Errors are the spec's list of
 * {code, description} in the same format.
 */
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "km_http.h"
#include "km_log.h"
#include "km_util.h"

void gateway_error(struct gateway_reply *rep, unsigned status, const char *fmt,
                   ...)
{
        char desc[512];
        va_list ap;
        json_t *e, *d;

        va_start(ap, fmt);
        vsnprintf(desc, sizeof(desc), fmt, ap);
        va_end(ap);
        e = json_object();
        json_object_set_new(e, "code", json_integer(status));
        /* desc may quote input cut mid-character: keep it valid UTF-8 */
        d = json_string(desc);
        json_object_set_new(e, "description",
                            d ? d : json_string("invalid input"));
        json_decref(rep->body);
        rep->body = json_array();
        json_array_append_new(rep->body, e);
        rep->status = status;
        rep->root = "errors";
        rep->item = "error";
}

static enum MHD_Result gateway_send(struct MHD_Connection *conn,
                                    struct gateway_reply *rep, int json)
{
        char *text = json ? gateway_render_json(rep->body)
                          : gateway_render_xml(rep->body, rep->root, rep->item);
        struct MHD_Response *resp =
                km_http_response(text, strlen(text),
                                 json ? "application/json; charset=utf-8"
                                      : "text/xml; charset=utf-8",
                                 "no-store", 0);
        char ra[16];

        if (resp && rep->retry_after > 0) {
                snprintf(ra, sizeof(ra), "%d", rep->retry_after);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
        }
        if (resp && rep->status == 405)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                        "GET, POST");
        return km_http_queue(conn, rep->status, resp);
}

/* Split the format suffix off path into buf. @returns 1 for JSON. */
static int gateway_format(const char *url, char *buf, size_t len)
{
        size_t n;

        snprintf(buf, len, "%s", url);
        n = strlen(buf);
        if (n > 5 && strcmp(buf + n - 5, ".json") == 0) {
                buf[n - 5] = '\0';
                return 1;
        }
        if (n > 4 && strcmp(buf + n - 4, ".xml") == 0)
                buf[n - 4] = '\0';
        return 0;
}

static const char *gateway_arg(struct MHD_Connection *conn, const char *k)
{
        return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, k);
}

static void gateway_route(struct gateway *gw, struct MHD_Connection *conn,
                          const char *path, const char *method,
                          struct km_http_req *req, struct gateway_reply *rep)
{
        int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        int post = !strcmp(method, "POST");

        if (strcmp(path, "/discovery") == 0) {
                const char *host = MHD_lookup_connection_value(
                        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);

                if (get)
                        gateway_discovery(gw, host, rep);
                else
                        gateway_error(rep, 405, "method not allowed");
        } else if (strcmp(path, "/services") == 0) {
                if (get)
                        gateway_services(gw, rep);
                else
                        gateway_error(rep, 405, "method not allowed");
        } else if (strncmp(path, "/services/", 10) == 0) {
                if (get)
                        gateway_service(gw, path + 10, rep);
                else
                        gateway_error(rep, 405, "method not allowed");
        } else if (strcmp(path, "/requests") == 0) {
                if (post) {
                        if (req->too_large)
                                gateway_error(
                                        rep, 413, "body larger than %lld bytes",
                                        (long long)gw->gc->max_body_bytes);
                        else
                                gateway_post(
                                        gw,
                                        MHD_lookup_connection_value(
                                                conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_CONTENT_TYPE),
                                        req->body ? req->body : "", req->len,
                                        gateway_arg(conn, "api_key"), rep);
                } else if (get) {
                        const char *q[8] = {
                                gateway_arg(conn, "service_request_id"),
                                gateway_arg(conn, "service_code"),
                                gateway_arg(conn, "status"),
                                gateway_arg(conn, "start_date"),
                                gateway_arg(conn, "end_date"),
                                gateway_arg(conn, "page"),
                                gateway_arg(conn, "page_size"),
                                gateway_arg(conn, "extensions"),
                        };

                        gateway_requests(gw, q, gateway_arg(conn, "api_key"),
                                         rep);
                } else {
                        gateway_error(rep, 405, "method not allowed");
                }
        } else if (strcmp(path, "/servicerequestupdates") == 0) {
                const char *q[2] = {gateway_arg(conn, "start_date"),
                                    gateway_arg(conn, "end_date")};

                if (get)
                        gateway_updates(gw, q, gateway_arg(conn, "api_key"),
                                        rep);
                else if (post && req->too_large)
                        gateway_error(rep, 413, "body larger than %lld bytes",
                                      (long long)gw->gc->max_body_bytes);
                else if (post)
                        gateway_update_post(
                                gw,
                                MHD_lookup_connection_value(
                                        conn, MHD_HEADER_KIND,
                                        MHD_HTTP_HEADER_CONTENT_TYPE),
                                req->body ? req->body : "", req->len,
                                gateway_arg(conn, "api_key"), rep);
                else
                        gateway_error(rep, 405, "method not allowed");
        } else if (strcmp(path, "/votes") == 0) {
                if (post && req->too_large)
                        gateway_error(rep, 413, "body larger than %lld bytes",
                                      (long long)gw->gc->max_body_bytes);
                else if (post)
                        gateway_vote_post(gw,
                                          MHD_lookup_connection_value(
                                                  conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_TYPE),
                                          req->body ? req->body : "", req->len,
                                          gateway_arg(conn, "api_key"), rep);
                else
                        gateway_error(rep, 405, "method not allowed");
        } else if (strncmp(path, "/requests/", 10) == 0) {
                const char *ext = gateway_arg(conn, "extensions");

                if (get)
                        gateway_request(gw, path + 10,
                                        gateway_arg(conn, "api_key"),
                                        ext && !strcmp(ext, "true"), rep);
                else
                        gateway_error(rep, 405, "method not allowed");
        } else {
                gateway_error(rep, 404, "not found");
        }
}

static enum MHD_Result gateway_handler(void *cls, struct MHD_Connection *conn,
                                       const char *url, const char *method,
                                       const char *version,
                                       const char *upload_data,
                                       size_t *upload_data_size, void **con_cls)
{
        struct gateway *gw = cls;
        struct km_http_req *req;
        struct gateway_reply rep = {0, NULL, NULL, NULL, 0};
        char path[512];
        int json = gateway_format(url, path, sizeof(path));
        int64_t t0 = km_now_ms();
        enum MHD_Result ret;

        (void)version;
        switch (km_http_body(conn, con_cls, upload_data, upload_data_size,
                             (size_t)gw->gc->max_body_bytes, 1, &req)) {
        case KM_HTTP_CLOSE:
                return MHD_NO;
        case KM_HTTP_MORE:
                return MHD_YES;
        case KM_HTTP_TOO_LARGE:
                /* refuse before reading; MHD closes afterwards */
                gateway_error(&rep, 413, "body larger than %lld bytes",
                              (long long)gw->gc->max_body_bytes);
                ret = gateway_send(conn, &rep, json);
                gateway_metrics_request(gw, path, method, rep.status,
                                        req->t0_us);
                json_decref(rep.body);
                return ret;
        case KM_HTTP_READY:
                break;
        }
        gateway_route(gw, conn, path, method, req, &rep);
        if (rep.body == NULL)
                gateway_error(&rep, 500, "internal error");
        ret = gateway_send(conn, &rep, json);
        gateway_metrics_request(gw, path, method, rep.status, req->t0_us);
        pthread_mutex_lock(&gw->lock);
        gw->requests++;
        if (rep.status >= 400)
                gw->errors++;
        pthread_mutex_unlock(&gw->lock);
        for (char *c = path; *c; c++) /* no control bytes in the log */
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                        *c = '?';
        km_log_debug("%s %s %u %lld ms", method, path, rep.status,
                     (long long)(km_now_ms() - t0));
        json_decref(rep.body);
        return ret;
}

/* Set by gateway.c from gateway.per_ip_connections and
 * gateway.request_deadline_ms before gateway_http_start. */
int64_t gateway_http_per_ip_connections = 16;
int64_t gateway_http_deadline_ms = 10000;

int gateway_http_start(struct gateway *gw, struct MHD_Daemon **d,
                       unsigned *port, char *err, size_t errlen)
{
        /* idle limit between bytes 30 s; the request deadline is
         * km_http_slow's */
        struct km_http_conf hc = {
                .what = "gateway.listen",
                .listen = gw->gc->listen,
                .port = gw->gc->port,
                .port_file = gw->gc->port_file,
                .max_connections = gw->gc->max_connections,
                .per_ip_connections = gateway_http_per_ip_connections,
                .idle_s = 30,
                .deadline_ms = gateway_http_deadline_ms,
                .connection_memory = gw->gc->connection_memory,
                .backlog = 1024,
                .threads = KM_HTTP_THREAD_PER_CONNECTION,
        };

        return km_http_start(&hc, gateway_handler, gw, d, port, err, errlen);
}
