/*
 * gateway_http.c - libmicrohttpd glue: read the body (bounded), route,
 * render the answer in the asked format, log one line per request.
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
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "gateway.h"
#include "km_http_slow.h"
#include "km_log.h"
#include "km_util.h"

void gateway_error(struct gateway_reply *rep, unsigned status,
                   const char *fmt, ...)
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
                          : gateway_render_xml(rep->body, rep->root,
                                               rep->item);
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            strlen(text), text, MHD_RESPMEM_MUST_FREE);
        enum MHD_Result ret;
        char ra[16];

        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                json ? "application/json; charset=utf-8"
                                     : "text/xml; charset=utf-8");
        /* every answer (issue 19): no content sniffing, and no cache keeps
         * a request's status or an error */
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                "no-store");
        if (rep->retry_after > 0) {
                snprintf(ra, sizeof(ra), "%d", rep->retry_after);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
        }
        if (rep->status == 405)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                        "GET, POST");
        ret = MHD_queue_response(conn, rep->status, resp);
        MHD_destroy_response(resp);
        return ret;
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
                          struct gateway_req *req, struct gateway_reply *rep)
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
                                gateway_error(rep, 413,
                                              "body larger than %lld bytes",
                                              (long long)gw->gc->max_body_bytes);
                        else
                                gateway_post(gw,
                                             MHD_lookup_connection_value(
                                                 conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE),
                                             req->body ? req->body : "",
                                             req->len,
                                             gateway_arg(conn, "api_key"),
                                             rep);
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
                        gateway_vote_post(
                            gw,
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

/* Slow clients: common/km_http_slow.c. */

static enum MHD_Result gateway_handler(void *cls, struct MHD_Connection *conn,
                                       const char *url, const char *method,
                                       const char *version,
                                       const char *upload_data,
                                       size_t *upload_data_size,
                                       void **con_cls)
{
        struct gateway *gw = cls;
        struct gateway_req *req = *con_cls;
        struct gateway_reply rep = {0, NULL, NULL, NULL, 0};
        char path[512];
        int json = gateway_format(url, path, sizeof(path));
        int64_t t0 = km_now_ms();
        enum MHD_Result ret;

        (void)version;
        /* the first call (headers in), each body chunk and the last call
         * (all in) must come within the request's deadline */
        if (km_http_slow_gate(conn, req != NULL && *upload_data_size == 0))
                return MHD_NO;
        if (req == NULL) {
                const char *cl = MHD_lookup_connection_value(
                    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

                req = km_xcalloc(1, sizeof(*req));
                req->t0_us = gateway_metrics_now_us();
                *con_cls = req;
                if (cl && strtoull(cl, NULL, 10) >
                              (unsigned long long)gw->gc->max_body_bytes) {
                        /* refuse before reading; MHD closes afterwards */
                        gateway_error(&rep, 413, "body larger than %lld bytes",
                                      (long long)gw->gc->max_body_bytes);
                        ret = gateway_send(conn, &rep, json);
                        gateway_metrics_request(gw, path, method, rep.status,
                                                req->t0_us);
                        json_decref(rep.body);
                        return ret;
                }
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;

                if (!req->too_large &&
                    req->len + n > (size_t)gw->gc->max_body_bytes) {
                        req->too_large = 1;
                        free(req->body);
                        req->body = NULL;
                        req->len = 0;
                }
                if (!req->too_large) {
                        req->body = km_xrealloc(req->body, req->len + n + 1);
                        memcpy(req->body + req->len, upload_data, n);
                        req->len += n;
                        req->body[req->len] = '\0';
                }
                *upload_data_size = 0;
                return MHD_YES;
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

static void gateway_completed(void *cls, struct MHD_Connection *conn,
                              void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
        struct gateway_req *req = *con_cls;

        (void)cls;
        (void)toe;
        km_http_slow_request_done(conn);
        if (req) {
                free(req->body);
                free(req);
                *con_cls = NULL;
        }
}

/* Set by gateway.c from gateway.per_ip_connections and
 * gateway.request_deadline_ms before gateway_http_start. */
int64_t gateway_http_per_ip_connections = 16;
int64_t gateway_http_deadline_ms = 10000;

struct MHD_Daemon *gateway_http_start(struct gateway *gw, char *err,
                                      size_t errlen)
{
        struct sockaddr_in sa;
        struct MHD_Daemon *d;
        /* idle limit between bytes; the request deadline is the sweeper's */
        unsigned idle_s = 30;

        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)gw->gc->port);
        if (inet_pton(AF_INET, gw->gc->listen, &sa.sin_addr) != 1) {
                km_err_set(err, errlen, KM_ECONFIG,
                           "gateway.listen: \"%s\" is not an IPv4 address",
                           gw->gc->listen);
                return NULL;
        }
        km_http_slow_deadline_ms = gateway_http_deadline_ms;
        km_http_slow_start_sweeper();
        d = MHD_start_daemon(
            MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                MHD_USE_POLL,
            (uint16_t)gw->gc->port, NULL, NULL, gateway_handler, gw,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)gw->gc->max_connections,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            (size_t)gw->gc->connection_memory,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            (unsigned)gateway_http_per_ip_connections,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)idle_s,
            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
            MHD_OPTION_NOTIFY_COMPLETED, gateway_completed, gw,
            MHD_OPTION_NOTIFY_CONNECTION, km_http_slow_notify, NULL,
            MHD_OPTION_END);
        if (d == NULL)
                km_err_set(err, errlen, KM_EFATAL,
                           "cannot listen on %s:%lld", gw->gc->listen,
                           (long long)gw->gc->port);
        return d;
}
