/*
 * router_metrics.c - the router's Prometheus series (docs/operations.md):
 *   komek_messages_total{topic=<complaints>,outcome="in"}     consumed
 *   komek_messages_total{topic=<dispatch>,outcome="out"}      dispatched
 *   komek_messages_total{topic=<complaints>,outcome="dlq",reason=...}
 *   komek_messages_total{topic=<complaints>,outcome="duplicate"} dropped
 *     resubmissions (router_dedup.c)
 *   komek_batch_seconds (whole transaction: first message to committed),
 *   komek_batch_seconds{stage="commit"} (send_offsets + commit),
 *   komek_transaction_aborts_total, komek_last_commit_timestamp_seconds,
 *   komek_pg_errors_total{kind} (directory reloads, router_dir.c) and
 *   komek_consumer_lag (the probe in router_run).
 * Counts of a transaction are added when it commits: an aborted batch is
 * processed again and counted then.  With metrics off every call here is
 * a NULL test.
 */
#include <string.h>
#include <time.h>

#include "router.h"

void router_metrics_init(struct router *r)
{
        struct router_metrics *m = &r->m;

        m->reg = km_obs_new("komek-router", r->rc->metrics_port);
        if (m->reg == NULL)
                return;
        m->in = km_obs_messages(m->reg, r->conf->topic_complaints, "in", NULL);
        m->out = km_obs_messages(m->reg, r->conf->topic_dispatch, "out", NULL);
        m->dup = km_obs_messages(m->reg, r->conf->topic_complaints, "duplicate",
                                 NULL);
        km_obs_batch(m->reg, "seconds per batch (transaction)", &m->batch,
                     &m->commit, &m->last_commit);
        m->aborts = km_metrics_counter(m->reg, KM_METRIC_TXN_ABORTS, NULL,
                                       "Kafka transactions aborted");
}

/* A dead letter in the open transaction (the handle is looked up by name:
 * dead letters are rare). */
void router_metrics_dlq(struct router *r, const char *reason)
{
        struct router_metrics *m = &r->m;
        struct km_metric *h;
        int i;

        if (m->reg == NULL)
                return;
        h = km_obs_messages(m->reg, r->conf->topic_complaints, "dlq", reason);
        for (i = 0; i < m->ndlq && m->dlq[i].h != h; i++)
                ;
        if (i == m->ndlq) {
                if (i == ROUTER_DLQ_REASONS) { /* a ninth reason: count now */
                        km_metric_add(h, 1);
                        return;
                }
                m->dlq[m->ndlq].h = h;
                m->dlq[m->ndlq++].n = 0;
        }
        m->dlq[i].n++;
}

/* The batch's counts go with its commit (the next batch counts anew). */
void router_metrics_handover(struct router *r, struct router_commit *cm)
{
        struct router_metrics *m = &r->m;

        cm->n_in = m->n_in;
        cm->n_out = m->n_out;
        cm->n_dup = m->n_dup;
        cm->ndlq = m->ndlq;
        memcpy(cm->dlq, m->dlq, sizeof(cm->dlq));
        router_metrics_clear(r);
}

void router_metrics_committed(struct router *r, const struct router_commit *cm)
{
        struct router_metrics *m = &r->m;

        if (m->reg == NULL)
                return;
        km_metric_add(m->in, cm->n_in);
        km_metric_add(m->out, cm->n_out);
        km_metric_add(m->dup, cm->n_dup);
        for (int i = 0; i < cm->ndlq; i++)
                km_metric_add(cm->dlq[i].h, cm->dlq[i].n);
        km_obs_batch_committed(m->batch, m->commit, m->last_commit,
                               cm->batch_start_ms, cm->t0);
}

void router_metrics_aborted(struct router *r)
{
        km_metric_add(r->m.aborts, 1);
        router_metrics_clear(r);
}

void router_metrics_clear(struct router *r)
{
        r->m.n_in = 0;
        r->m.n_out = 0;
        r->m.n_dup = 0;
        r->m.ndlq = 0;
}

int64_t router_now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
