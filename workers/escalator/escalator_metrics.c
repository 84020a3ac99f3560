/*
 * escalator_metrics.c - komek-escalator's Prometheus series
 * (docs/operations.md):
 *   komek_escalations_total{kind="sla_breach"|"systemic"|"inefficient_ksk"}
 *       rows inserted into `escalations` (each escalation once)
 *   komek_messages_total{topic=<escalations>,outcome="out"}  published
 *       (counted when the Kafka transaction commits)
 *   komek_transaction_aborts_total    Kafka transactions aborted
 *   komek_batch_seconds               one pass (watermark, detect, publish)
 *   komek_escalator_last_pass_timestamp_seconds  last successful pass
 *   komek_last_commit_timestamp_seconds  last publishing transaction
 *   komek_escalator_leader            1: holds the advisory lock and
 *                                     works; 0: standby
 *   komek_pg_errors_total{kind}       failed PostgreSQL calls
 * and the "database" and "broker" parts of /healthz, probed from the
 * program's only thread between passes (or between lock attempts of a
 * standby, through a plain producer handle of its own: the transactional
 * one exists only once leader, as it fences the leader).
 *
 * The probe never resets the connection (km_obs_database would, on a
 * broken one): the advisory lock is the session's, and a reset would
 * let this process go on as leader without it.  A lost connection is
 * reported, and the next pass fails and stops the program (exit 1).
 */
#include <stdio.h>

#include "escalator.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"

const char *const escalator_kinds[ES_NKINDS] = {"sla_breach", "systemic",
                                                "inefficient_ksk"};

void escalator_metrics_init(struct escalator *es)
{
        struct escalator_metrics *m = &es->m;
        char labels[64];

        m->reg = km_obs_new("komek-escalator", es->ec->metrics_port);
        if (m->reg == NULL)
                return;
        for (int k = 0; k < ES_NKINDS; k++)
                if (km_metrics_labels(labels, sizeof(labels), "kind",
                                      escalator_kinds[k], NULL))
                        m->opened[k] = km_metrics_counter(
                                m->reg, "komek_escalations_total", labels,
                                "escalations opened (rows inserted), by kind");
        m->published = km_obs_messages(m->reg, es->conf->topic_escalations,
                                       "out", NULL);
        m->aborts = km_metrics_counter(m->reg, KM_METRIC_TXN_ABORTS, NULL,
                                       "Kafka transactions aborted");
        m->pass = km_metrics_histogram(m->reg, KM_METRIC_BATCH_SECONDS, NULL,
                                       "seconds per pass (detect, publish)",
                                       km_metrics_latency_buckets,
                                       KM_METRICS_LATENCY_N);
        m->last_pass = km_metrics_gauge(
                m->reg, "komek_escalator_last_pass_timestamp_seconds", NULL,
                "unix time of the last successful pass");
        m->last_commit = km_metrics_gauge(m->reg, KM_METRIC_LAST_COMMIT, NULL,
                                          "unix time of the last publishing "
                                          "transaction");
        m->leader = km_metrics_gauge(m->reg, "komek_escalator_leader", NULL,
                                     "1: holds the leader lock, 0: standby");
        km_metric_set(m->leader, 0);
}

int escalator_metrics_serve(struct escalator *es, char *err, size_t errlen)
{
        int r = km_obs_serve(es->m.reg, es->ec->metrics_address,
                             es->ec->metrics_port, es->ec->metrics_port_file,
                             err, errlen);

        if (r == 0 && km_metrics_port(es->m.reg))
                km_log_info("metrics on http://%s:%d/metrics",
                            es->ec->metrics_address,
                            km_metrics_port(es->m.reg));
        return r;
}

/* Leader now: the transactional producer probes the broker from here. */
void escalator_metrics_leader(struct escalator *es)
{
        km_metric_set(es->m.leader, 1);
        if (es->m.probe_rk) {
                rd_kafka_destroy(es->m.probe_rk);
                es->m.probe_rk = NULL;
        }
}

/* A standby's handle for the broker probe (no transactional.id: it
 * fences nobody). */
static rd_kafka_t *es_probe_rk(struct escalator *es)
{
        char err[512], errstr[512];
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;

        kc = km_kafka_conf_new(es->conf, NULL, err, sizeof(err));
        if (kc == NULL) {
                km_metrics_health_set(es->m.reg, "broker", 0, err);
                return NULL;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        if (rk == NULL) {
                rd_kafka_conf_destroy(kc);
                km_metrics_health_set(es->m.reg, "broker", 0, errstr);
        }
        return rk;
}

void escalator_metrics_tick(struct escalator *es)
{
        struct escalator_metrics *m = &es->m;
        rd_kafka_t *rk = es->rk;

        if (!km_obs_due(&m->probe, m->reg))
                return;
        if (rk == NULL) { /* standby */
                if (m->probe_rk == NULL)
                        m->probe_rk = es_probe_rk(es);
                rk = m->probe_rk;
                if (rk)
                        rd_kafka_poll(rk, 0); /* its error events */
        }
        km_obs_broker(m->reg, rk);
        km_obs_delivery(&m->probe, m->reg, es->rk, es->counts.delivered,
                        es->counts.failed);
        if (PQstatus(es->conn) != CONNECTION_OK)
                km_metrics_health_set(m->reg, "database", 0,
                                      "connection lost (and the leader lock "
                                      "with it)");
        else
                km_obs_database(m->reg, es->conn); /* SELECT 1; idle here */
}

void escalator_metrics_pass(struct escalator *es, int64_t start_ms)
{
        struct escalator_metrics *m = &es->m;

        if (m->reg == NULL)
                return;
        km_metric_observe(m->pass, (double)(km_now_ms() - start_ms) / 1000.0);
        km_metric_set(m->last_pass, (double)km_wall_s());
}

void escalator_metrics_published(struct escalator *es, int n)
{
        km_metric_add(es->m.published, n);
        km_metric_set(es->m.last_commit, (double)km_wall_s());
}

void escalator_metrics_destroy(struct escalator *es)
{
        if (es->m.probe_rk)
                rd_kafka_destroy(es->m.probe_rk);
        es->m.probe_rk = NULL;
        km_metrics_destroy(es->m.reg);
        es->m.reg = NULL;
}

int escalator_pg_exec(struct escalator *es, const char *sql, int nparams,
                      const char *const *params, PGresult **res, char *err,
                      size_t errlen)
{
        int r = km_pg_exec(es->conn, sql, nparams, params, res, err, errlen);

        km_obs_pg_error(es->m.reg, r);
        return r;
}
