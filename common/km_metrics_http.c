/*
 * km_metrics_http.c - the /metrics and /healthz server of km_metrics
 * (libmicrohttpd, its own polling thread) and the health parts.
 *
 * SECURITY: the server reads nothing but the method and the URL (no
 * bodies, no query parsing); it answers GET/HEAD of /metrics and /healthz,
 * 404 or 405 otherwise.  Bind it to loopback: the metrics name topics and
 * partitions, nothing personal.
 */
#include "km_metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_metrics_int.h"
#include "km_util.h"

/* ---- health ----------------------------------------------------------------- */

void km_metrics_health_set(struct km_metrics *m, const char *part, int ok,
                           const char *why)
{
        struct km_health *h;

        if (m == NULL || part == NULL)
                return;
        pthread_mutex_lock(&m->mu);
        for (h = m->health; h; h = h->next)
                if (strcmp(h->part, part) == 0)
                        break;
        if (h == NULL) {
                h = km_xcalloc(1, sizeof(*h));
                h->part = km_xstrdup(part);
                h->next = m->health;
                m->health = h;
        }
        h->ok = ok != 0;
        snprintf(h->why, sizeof(h->why), "%s", ok ? "" : why ? why : "failing");
        pthread_mutex_unlock(&m->mu);
}

/* 0 and "ok", or non-zero and "part: why; part: why". */
static int km_metrics_health(struct km_metrics *m, char *out, size_t len)
{
        struct km_mbuf b = {NULL, 0, 0};
        char why[256] = "";
        int bad = 0;

        km_mbuf_printf(&b, "%s", "");
        pthread_mutex_lock(&m->mu);
        for (const struct km_health *h = m->health; h; h = h->next)
                if (!h->ok) {
                        km_mbuf_printf(&b, "%s%s: %s", bad ? "; " : "",
                                       h->part, h->why);
                        bad = 1;
                }
        pthread_mutex_unlock(&m->mu);
        if (m->health_cb && m->health_cb(m->health_opaque, why, sizeof(why))) {
                km_mbuf_printf(&b, "%s%s", bad ? "; " : "",
                               why[0] ? why : "unhealthy");
                bad = 1;
        }
        snprintf(out, len, "%s", bad ? b.p : "ok");
        free(b.p);
        return bad;
}

/* ---- HTTP ----------------------------------------------------------------- */

static enum MHD_Result km_metrics_reply(struct MHD_Connection *c, unsigned code,
                                        const char *ctype, char *body)
{
        struct MHD_Response *resp;
        enum MHD_Result r;

        resp = MHD_create_response_from_buffer(strlen(body), body,
                                               MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                "no-store");
        if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                        "GET, HEAD");
        r = MHD_queue_response(c, code, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result km_metrics_http(void *cls, struct MHD_Connection *c,
                                       const char *url, const char *method,
                                       const char *version,
                                       const char *upload_data,
                                       size_t *upload_data_size, void **ctx)
{
        struct km_metrics *m = cls;
        const char *text = "text/plain; charset=utf-8";
        char line[1024];

        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        (void)ctx;
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                return km_metrics_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text,
                                        km_xstrdup("method not allowed\n"));
        if (strcmp(url, "/metrics") == 0)
                return km_metrics_reply(c, MHD_HTTP_OK,
                                        "text/plain; version=0.0.4; charset=utf-8",
                                        km_metrics_render(m));
        if (strcmp(url, "/healthz") == 0) {
                int bad = km_metrics_health(m, line, sizeof(line));

                return km_metrics_reply(
                    c, bad ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, text,
                    km_xasprintf("%s%s\n", bad ? "unhealthy: " : "", line));
        }
        return km_metrics_reply(c, MHD_HTTP_NOT_FOUND, text,
                                km_xstrdup("not found: try /metrics or /healthz\n"));
}

int km_metrics_start(struct km_metrics *m, const char *address, int port,
                     km_metrics_health_cb *health_cb, void *opaque, char *err,
                     size_t errlen)
{
        struct sockaddr_in sin;
        struct sockaddr_in6 sin6;
        struct sockaddr *sa;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
        const union MHD_DaemonInfo *info;

        if (port == 0)
                return 0;
        if (m == NULL || m->daemon)
                return km_err_set(err, errlen, KM_EFATAL,
                                  "metrics: no registry or already started");
        if (port != KM_METRICS_PORT_ANY && (port < 1 || port > 65535))
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "metrics: port %d out of range 0..65535",
                                  port);
        if (port == KM_METRICS_PORT_ANY)
                port = 0;
        memset(&sin, 0, sizeof(sin));
        memset(&sin6, 0, sizeof(sin6));
        if (address && inet_pton(AF_INET, address, &sin.sin_addr) == 1) {
                sin.sin_family = AF_INET;
                sin.sin_port = htons((uint16_t)port);
                sa = (struct sockaddr *)&sin;
        } else if (address &&
                   inet_pton(AF_INET6, address, &sin6.sin6_addr) == 1) {
                sin6.sin6_family = AF_INET6;
                sin6.sin6_port = htons((uint16_t)port);
                sa = (struct sockaddr *)&sin6;
                flags |= MHD_USE_IPv6;
        } else {
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "metrics: address '%s' is not an IP address",
                                  address ? address : "(null)");
        }
        m->health_cb = health_cb;
        m->health_opaque = opaque;
        m->daemon = MHD_start_daemon(
            flags, (uint16_t)port, NULL, NULL, km_metrics_http, m,
            MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)16, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
            MHD_OPTION_END);
        if (m->daemon == NULL)
                return km_err_set(err, errlen, KM_EFATAL,
                                  "metrics: cannot serve on %s port %d "
                                  "(address in use or not local?)",
                                  address, port);
        info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
        m->port = info ? info->port : port;
        return 0;
}

int km_metrics_port(const struct km_metrics *m)
{
        return m ? m->port : 0;
}

void km_metrics_http_stop(struct km_metrics *m)
{
        if (m->daemon)
                MHD_stop_daemon(m->daemon);
        m->daemon = NULL;
        m->port = 0;
}
