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
#include "km_kafka.h"

struct escalator_conf {
        char *name;            /* transactional.id, lock, reconcile consumer */
        char *analytics_group; /* whose offsets and watermarks to read */
        int64_t interval_s;
        int once;
        int64_t systemic_count;
        int64_t systemic_window_hours;
        double inefficient_factor;
        int64_t inefficient_min_apartments;
};

struct escalator {
        struct km_conf *conf;
        struct escalator_conf *ec;
        PGconn *conn;
        rd_kafka_t *rk; /* transactional producer */
        struct km_kafka_counts counts;
        int64_t detected[3], published, reconciled, passes;
};

/* escalator_detect.c */
int escalator_watermark(struct escalator *es, int64_t *ref, int *caught_up,
                        char *err, size_t errlen);
int escalator_detect(struct escalator *es, int64_t ref, char *err,
                     size_t errlen);

/* escalator_publish.c */
int escalator_reconcile(struct escalator *es, char *err, size_t errlen);
int escalator_publish(struct escalator *es, char *err, size_t errlen);

#endif /* ESCALATOR_H */
