/*
 * gateway_metrics.c - the gateway's Prometheus series (docs/operations.md):
 *   komek_http_requests_total{route,method,code}  answers by route
 *       (/services, /services/{code}, /requests, /requests/{id}, other),
 *       method (GET, HEAD, POST, other) and status code: bounded sets,
 *       never the path or query itself
 *   komek_http_request_seconds{route}  from the request's arrival to its
 *       answer being queued
 *   komek_messages_total{topic=<complaints>,outcome="out"}  complaints
 *       acknowledged by the broker; outcome="duplicate": a resubmission
 *       answered without publishing
 *   komek_last_commit_timestamp_seconds  the last acknowledged complaint
 *   komek_pg_errors_total{kind}  failed queries (gateway_post.c, _get.c)
 * and /healthz: the main thread checks the broker (a metadata round trip
 * on the shared producer) and the database (SELECT 1 on a connection of
 * its own, outside the pool, so a busy pool never reads as an outage).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "km_log.h"
#include "km_pg.h"

static const char *const gateway_route_names[GATEWAY_NROUTES] = {
        "/services", "/services/{code}", "/requests", "/requests/{id}", "other",
};

int64_t gateway_metrics_now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void gateway_metrics_init(struct gateway *gw)
{
        struct gateway_metrics *m = &gw->m;
        const char *topic = gw->conf->topic_complaints;
        char labels[128];

        m->reg = km_obs_new("komek-gateway", gw->gc->metrics_port);
        if (m->reg == NULL)
                return;
        for (int i = 0; i < GATEWAY_NROUTES; i++)
                if (km_metrics_labels(labels, sizeof(labels), "route",
                                      gateway_route_names[i], NULL))
                        m->latency[i] = km_metrics_histogram(
                                m->reg, "komek_http_request_seconds", labels,
                                "seconds from a request's arrival to its answer",
                                km_metrics_latency_buckets,
                                KM_METRICS_LATENCY_N);
        m->out = km_obs_messages(m->reg, topic, "out", NULL);
        m->duplicate = km_obs_messages(m->reg, topic, "duplicate", NULL);
        m->last_commit = km_metrics_gauge(m->reg, KM_METRIC_LAST_COMMIT, NULL,
                                          "unix time of the last complaint "
                                          "the broker acknowledged");
}

int gateway_metrics_serve(struct gateway *gw, char *err, size_t errlen)
{
        int rc = km_obs_serve(gw->m.reg, gw->gc->metrics_address,
                              gw->gc->metrics_port, gw->gc->metrics_port_file,
                              err, errlen);

        if (rc == 0 && km_metrics_port(gw->m.reg))
                km_log_info("metrics on http://%s:%d/metrics",
                            gw->gc->metrics_address,
                            km_metrics_port(gw->m.reg));
        return rc;
}

static enum gateway_route gateway_metrics_route(const char *path)
{
        if (strcmp(path, "/services") == 0)
                return GATEWAY_R_SERVICES;
        if (strncmp(path, "/services/", 10) == 0)
                return GATEWAY_R_SERVICE;
        if (strcmp(path, "/requests") == 0)
                return GATEWAY_R_REQUESTS;
        if (strncmp(path, "/requests/", 10) == 0)
                return GATEWAY_R_REQUEST;
        return GATEWAY_R_OTHER;
}

void gateway_metrics_request(struct gateway *gw, const char *path,
                             const char *method, unsigned status, int64_t t0_us)
{
        enum gateway_route route;
        const char *meth = "other";
        char labels[160], code[16];

        if (gw->m.reg == NULL)
                return;
        route = gateway_metrics_route(path);
        if (!strcmp(method, "GET") || !strcmp(method, "HEAD") ||
            !strcmp(method, "POST"))
                meth = method;
        snprintf(code, sizeof(code), "%u", status);
        if (km_metrics_labels(labels, sizeof(labels), "route",
                              gateway_route_names[route], "method", meth,
                              "code", code, NULL))
                km_metrics_counter_add(gw->m.reg, "komek_http_requests_total",
                                       labels, 1);
        km_metric_observe(gw->m.latency[route],
                          (double)(gateway_metrics_now_us() - t0_us) / 1e6);
}

/* From the main thread, which otherwise only waits for a signal. */
void gateway_metrics_probe(struct gateway *gw)
{
        struct gateway_metrics *m = &gw->m;
        char err[512];
        int64_t delivered, failed;

        if (!km_obs_due(&m->probe, m->reg))
                return;
        km_obs_broker(m->reg, gw->rk);
        pthread_mutex_lock(&gw->ack_lock); /* the delivery thread counts */
        delivered = gw->counts.delivered;
        failed = gw->counts.failed;
        pthread_mutex_unlock(&gw->ack_lock);
        km_obs_delivery(&m->probe, m->reg, gw->rk, delivered, failed);
        if (m->probe_conn == NULL)
                m->probe_conn =
                        km_pg_connect(gw->conf->pg_conninfo, "komek-gateway", 2,
                                      err, sizeof(err));
        if (m->probe_conn == NULL)
                km_metrics_health_set(m->reg, "database", 0, err);
        else
                km_obs_database(m->reg, m->probe_conn);
}

void gateway_metrics_destroy(struct gateway *gw)
{
        if (gw->m.probe_conn)
                PQfinish(gw->m.probe_conn);
        gw->m.probe_conn = NULL;
        km_metrics_destroy(gw->m.reg);
        gw->m.reg = NULL;
}
