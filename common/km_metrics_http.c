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

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_http.h"
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
                        km_mbuf_printf(&b, "%s%s: %s", bad ? "; " : "", h->part,
                                       h->why);
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
        struct MHD_Response *resp =
                km_http_response(body, strlen(body), ctype, "no-store", 0);

        if (resp && code == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                        "GET, HEAD");
        return km_http_queue(c, code, resp);
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
                return km_metrics_reply(
                        c, MHD_HTTP_OK,
                        "text/plain; version=0.0.4; charset=utf-8",
                        km_metrics_render(m));
        if (strcmp(url, "/healthz") == 0) {
                int bad = km_metrics_health(m, line, sizeof(line));

                return km_metrics_reply(
                        c, bad ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                        text,
                        km_xasprintf("%s%s\n", bad ? "unhealthy: " : "", line));
        }
        return km_metrics_reply(
                c, MHD_HTTP_NOT_FOUND, text,
                km_xstrdup("not found: try /metrics or /healthz\n"));
}

int km_metrics_start(struct km_metrics *m, const char *address, int port,
                     km_metrics_health_cb *health_cb, void *opaque, char *err,
                     size_t errlen)
{
        /* a few scrapers on loopback: 16 connections, 10 s idle */
        struct km_http_conf hc = {.what = "metrics_address",
                                  .listen = address,
                                  .any_family = 1,
                                  .max_connections = 16,
                                  .idle_s = 10};
        unsigned bound = 0;
        int r;

        if (port == 0)
                return 0;
        if (m == NULL || m->daemon)
                return km_err_set(err, errlen, KM_EFATAL,
                                  "metrics: no registry or already started");
        if (port != KM_METRICS_PORT_ANY && (port < 1 || port > 65535))
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "metrics: port %d out of range 0..65535",
                                  port);
        hc.port = port == KM_METRICS_PORT_ANY ? 0 : port;
        m->health_cb = health_cb;
        m->health_opaque = opaque;
        r = km_http_start(&hc, km_metrics_http, m, &m->daemon, &bound, err,
                          errlen);
        if (r)
                return r;
        m->port = (int)bound;
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
