/*
 * km_metrics_lag.c - consumer lag gauges for km_metrics, from a consumer's
 * assignment (cached watermarks and positions).  Gauges of partitions no longer reported are dropped.
 */
#include "km_metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_metrics_int.h"
#include "km_util.h"

/* Set lag of (topic, partition), remember the handle in keep. */
static void km_metrics_lag_set(struct km_metrics *m, const char *topic,
                               int32_t partition, int64_t lag,
                               struct km_metric ***keep, size_t *nkeep)
{
        char labels[512], pbuf[16];
        struct km_metric *g;

        snprintf(pbuf, sizeof(pbuf), "%d", (int)partition);
        if (!km_metrics_labels(labels, sizeof(labels), "topic", topic,
                               "partition", pbuf, NULL))
                return;
        g = km_metrics_gauge(m, KM_METRIC_CONSUMER_LAG, labels,
                             "messages the consumer is behind, per partition");
        if (g == NULL)
                return;
        km_metric_set(g, (double)(lag < 0 ? 0 : lag));
        *keep = km_xrealloc(*keep, sizeof(**keep) * (*nkeep + 1));
        (*keep)[(*nkeep)++] = g;
}

/* Drop the lag series not in keep (partitions no longer ours). */
static void km_metrics_lag_prune(struct km_metrics *m, struct km_metric **keep,
                                 size_t nkeep)
{
        struct km_family *f;

        pthread_mutex_lock(&m->mu);
        f = km_metrics_family(m, KM_METRIC_CONSUMER_LAG);
        for (struct km_metric *x = f ? f->first : NULL; x; x = x->next) {
                size_t i = 0;

                while (i < nkeep && keep[i] != x)
                        i++;
                if (i == nkeep)
                        atomic_store(&x->present, 0);
        }
        pthread_mutex_unlock(&m->mu);
}

int km_metrics_kafka_lag(struct km_metrics *m, rd_kafka_t *rk, char *err,
                         size_t errlen)
{
        rd_kafka_topic_partition_list_t *parts = NULL;
        struct km_metric **keep = NULL;
        size_t nkeep = 0;
        rd_kafka_resp_err_t e;

        if (m == NULL)
                return 0;
        e = rd_kafka_assignment(rk, &parts);
        if (e)
                return km_err_set(err, errlen, KM_ERETRY, "assignment: %s",
                                  rd_kafka_err2str(e));
        rd_kafka_position(rk, parts); /* local: last consumed + 1 */
        for (int i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *p = &parts->elems[i];
                int64_t lo = -1, hi = -1;

                if (rd_kafka_get_watermark_offsets(rk, p->topic, p->partition,
                                                   &lo, &hi) ||
                    hi < 0 || p->offset < 0)
                        continue; /* nothing fetched yet: lag unknown */
                km_metrics_lag_set(m, p->topic, p->partition, hi - p->offset,
                                   &keep, &nkeep);
        }
        km_metrics_lag_prune(m, keep, nkeep);
        free(keep);
        rd_kafka_topic_partition_list_destroy(parts);
        return 0;
}
