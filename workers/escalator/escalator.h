/*
 * escalator.h - private header of komek-escalator: finds escalations in
 * the analytics tables (a task past its SLA, a systemic building +
 * category case, an inefficient KSK), writes each as one row of
 * `escalations` and publishes it, once, on the `escalations` topic.
 *
 * One leader at a time (a PostgreSQL advisory lock named after
 * escalator.name); its transactional producer (transactional.id =
 * escalator.name) fences any older instance.  See docs/analytics.md.
 */
#ifndef ESCALATOR_H
#define ESCALATOR_H

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_err.h"
#include "km_kafka.h"
#include "km_obs.h"

struct escalator_conf {
        char *name;            /* transactional.id, lock, reconcile consumer */
        char *analytics_group; /* whose offsets and watermarks to read */
        int64_t interval_s;
        int once;
        int64_t systemic_count;
        int64_t systemic_window_hours;
        double inefficient_factor;
        int64_t inefficient_min_apartments;
        int64_t inefficient_min_complaints;
        int64_t inefficient_months;
        char *metrics_address;   /* /metrics and /healthz */
        int64_t metrics_port;    /* 0: off, -1: any free port */
        char *metrics_port_file; /* NULL-able: the bound port is written here */
};

enum { ES_NKINDS = 3 }; /* sla_breach, systemic, inefficient_ksk */

/* Prometheus series (escalator_metrics.c); all NULL when metrics are off. */
struct escalator_metrics {
        struct km_metrics *reg;
        struct km_metric *opened[ES_NKINDS], *published, *aborts, *pass,
                *last_pass, *last_commit, *leader;
        struct km_obs_probe probe;
        rd_kafka_t *probe_rk; /* standby: a plain producer, for the probe */
};

struct escalator {
        struct km_conf *conf;
        struct escalator_conf *ec;
        PGconn *conn;
        rd_kafka_t *rk; /* transactional producer */
        struct km_kafka_counts counts;
        int64_t detected[ES_NKINDS], published, reconciled, passes;
        struct escalator_metrics m;
};

/* escalator_detect.c */
int escalator_watermark(struct escalator *es, int64_t *ref, int *caught_up,
                        char *err, size_t errlen) KM_MUSTCHECK;
int escalator_detect(struct escalator *es, int64_t ref, char *err,
                     size_t errlen) KM_MUSTCHECK;

/* escalator_metrics.c */
extern const char *const escalator_kinds[ES_NKINDS];
void escalator_metrics_init(struct escalator *es);
int escalator_metrics_serve(struct escalator *es, char *err,
                            size_t errlen) KM_MUSTCHECK;
void escalator_metrics_leader(struct escalator *es);
void escalator_metrics_tick(struct escalator *es);
void escalator_metrics_pass(struct escalator *es, int64_t start_ms);
void escalator_metrics_published(struct escalator *es, int n);
void escalator_metrics_destroy(struct escalator *es);
int escalator_pg_exec(struct escalator *es, const char *sql, int nparams,
                      const char *const *params, PGresult **res, char *err,
                      size_t errlen) KM_MUSTCHECK;

/* escalator_publish.c */
int escalator_reconcile(struct escalator *es, char *err,
                        size_t errlen) KM_MUSTCHECK;
int escalator_publish(struct escalator *es, char *err,
                      size_t errlen) KM_MUSTCHECK;

#endif /* ESCALATOR_H */
