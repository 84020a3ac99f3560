/*
 * km_obs.c - see km_obs.h.
 */
#include "km_obs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_http.h"
#include "km_util.h"

struct km_metrics *km_obs_new(const char *prog, int64_t port)
{
        return port == 0 ? NULL : km_metrics_new(prog);
}

int km_obs_serve(struct km_metrics *m, const char *address, int64_t port,
                 const char *port_file, char *err, size_t errlen)
{
        int rc;

        if (m == NULL)
                return 0;
        if (port < KM_METRICS_PORT_ANY || port > 65535)
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "metrics port %lld out of range",
                                  (long long)port);
        rc = km_metrics_start(m, address, (int)port, NULL, NULL, err, errlen);
        if (rc == 0 && port_file && *port_file)
                rc = km_http_port_write(port_file, (unsigned)km_metrics_port(m),
                                        err, errlen);
        return rc;
}

struct km_metric *km_obs_messages(struct km_metrics *m, const char *topic,
                                  const char *outcome, const char *reason)
{
        char labels[512], code[64];

        if (m == NULL)
                return NULL;
        if (reason) {
                size_t n = strcspn(reason, ":");

                if (n >= sizeof(code))
                        n = sizeof(code) - 1;
                memcpy(code, reason, n);
                code[n] = '\0';
        }
        if (!(reason ? km_metrics_labels(labels, sizeof(labels), "topic", topic,
                                         "outcome", outcome, "reason", code,
                                         NULL)
                     : km_metrics_labels(labels, sizeof(labels), "topic", topic,
                                         "outcome", outcome, NULL)))
                return NULL;
        return km_metrics_counter(m, KM_METRIC_MESSAGES, labels,
                                  "messages by topic and outcome (in, out, "
                                  "dlq by reason, ...)");
}

void km_obs_batch(struct km_metrics *m, const char *help,
                  struct km_metric **batch, struct km_metric **commit,
                  struct km_metric **last_commit)
{
        char labels[64];

        *batch = *commit = *last_commit = NULL;
        if (m == NULL)
                return;
        *batch = km_metrics_histogram(m, KM_METRIC_BATCH_SECONDS, NULL, help,
                                      km_metrics_latency_buckets,
                                      KM_METRICS_LATENCY_N);
        if (km_metrics_labels(labels, sizeof(labels), "stage", "commit", NULL))
                *commit = km_metrics_histogram(
                        m, KM_METRIC_BATCH_SECONDS, labels, NULL,
                        km_metrics_latency_buckets, KM_METRICS_LATENCY_N);
        *last_commit = km_metrics_gauge(m, KM_METRIC_LAST_COMMIT, NULL,
                                        "unix time of the last commit");
}

void km_obs_batch_committed(struct km_metric *batch, struct km_metric *commit,
                            struct km_metric *last_commit,
                            int64_t batch_start_ms, int64_t commit_start_ms)
{
        int64_t now = km_now_ms();

        km_metric_observe(batch, (double)(now - batch_start_ms) / 1000.0);
        km_metric_observe(commit, (double)(now - commit_start_ms) / 1000.0);
        km_metric_set(last_commit, (double)km_wall_s());
}

void km_obs_pg_error(struct km_metrics *m, int code)
{
        char labels[64];

        if (m == NULL || code == 0)
                return;
        snprintf(labels, sizeof(labels), "{kind=\"%s\"}", km_err_name(code));
        km_metric_add(km_metrics_counter(m, KM_METRIC_PG_ERRORS, labels,
                                         "PostgreSQL errors by KM_E* class"),
                      1);
}

int km_obs_due(struct km_obs_probe *p, struct km_metrics *m)
{
        int64_t now;

        if (m == NULL)
                return 0;
        now = km_now_ms();
        if (now < p->next_ms)
                return 0;
        p->next_ms = now + KM_OBS_PERIOD_MS;
        return 1;
}

void km_obs_delivery(struct km_obs_probe *p, struct km_metrics *m,
                     rd_kafka_t *rk, int64_t delivered, int64_t failed)
{
        int64_t now = km_now_ms();
        int queued;
        char why[200];

        if (m == NULL || rk == NULL)
                return;
        queued = rd_kafka_outq_len(rk);
        if (p->progress_ms == 0)
                p->progress_ms = now;
        if (delivered != p->last_delivered) { /* acknowledgements arrive */
                p->last_delivered = delivered;
                p->progress_ms = now;
        }
        if (failed != p->last_failed) { /* expired unacknowledged */
                p->last_failed = failed;
                p->failed_ms = now;
        }
        /* idle: nothing queued, nothing failed for a while */
        if (queued == 0 && now - p->failed_ms >= KM_OBS_STALL_MS)
                p->progress_ms = now;
        if (now - p->progress_ms < KM_OBS_STALL_MS) {
                km_metrics_health_set(m, "delivery", 1, NULL);
                return;
        }
        snprintf(why, sizeof(why),
                 "nothing acknowledged for %lld s (%d queued; a partition "
                 "without a leader, or fewer in-sync replicas than "
                 "min.insync.replicas)",
                 (long long)((now - p->progress_ms) / 1000), queued);
        km_metrics_health_set(m, "delivery", 0, why);
}

void km_obs_broker(struct km_metrics *m, rd_kafka_t *rk)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e;
        char why[200];

        if (m == NULL || rk == NULL)
                return;
        /* no topic asked: brokers only, one small request */
        e = rd_kafka_metadata(rk, 0, NULL, &md, KM_OBS_BROKER_TIMEOUT_MS);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->broker_cnt > 0) {
                km_metrics_health_set(m, "broker", 1, NULL);
        } else {
                snprintf(why, sizeof(why), "no broker answered (%s)",
                         e ? rd_kafka_err2str(e) : "no brokers in metadata");
                km_metrics_health_set(m, "broker", 0, why);
        }
        if (md)
                rd_kafka_metadata_destroy(md);
}

void km_obs_database(struct km_metrics *m, PGconn *conn)
{
        PGresult *res;
        char why[200];
        int ok;

        if (m == NULL)
                return;
        if (conn == NULL) {
                km_metrics_health_set(m, "database", 0, "not connected");
                return;
        }
        if (PQstatus(conn) != CONNECTION_OK)
                PQreset(conn);
        if (PQstatus(conn) != CONNECTION_OK) {
                snprintf(why, sizeof(why), "%s", PQerrorMessage(conn));
                why[strcspn(why, "\n")] = '\0';
                km_metrics_health_set(m, "database", 0,
                                      why[0] ? why : "connection lost");
                return;
        }
        res = PQexec(conn, "SELECT 1");
        ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        if (!ok) {
                snprintf(why, sizeof(why), "%s", PQresultErrorMessage(res));
                why[strcspn(why, "\n")] = '\0';
        }
        PQclear(res);
        km_metrics_health_set(m, "database", ok,
                              ok       ? NULL
                              : why[0] ? why
                                       : "SELECT 1 failed");
}

int km_obs_tick(struct km_obs_probe *p, struct km_metrics *m, rd_kafka_t *rk,
                rd_kafka_t *consumer, PGconn *conn)
{
        char err[256];

        if (!km_obs_due(p, m))
                return 0;
        if (consumer)
                (void)km_metrics_kafka_lag(m, consumer, err, sizeof(err));
        km_obs_broker(m, rk);
        if (conn)
                km_obs_database(m, conn);
        return 1;
}
