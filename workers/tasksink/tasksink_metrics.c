/*
 * tasksink_metrics.c - the task sink's Prometheus series
 * (docs/operations.md), all added when a batch commits (a batch rolled
 * back is read again and counted then):
 *   komek_messages_total{topic=<dispatch>,outcome="in"}         consumed
 *   komek_messages_total{topic=<dispatch>,outcome="out"}        a task
 *       written (new or re-routed)
 *   komek_messages_total{topic=<dispatch>,outcome="duplicate"}  changed
 *       nothing (already there with this attempt or a later one)
 *   komek_messages_total{topic=<dispatch>,outcome="dlq",reason=
 *       "invalid_dispatch"|"refused"}  not a valid dispatch message, or a
 *       row the database refused: dead-lettered with origin and reason
 *   komek_messages_total{topic="task_outbox",outcome="out"}     relayed
 *   komek_batch_seconds (first message to committed),
 *   komek_batch_seconds{stage="commit"} (the PostgreSQL transaction),
 *   komek_last_commit_timestamp_seconds, komek_pg_errors_total{kind}, and
 *   komek_consumer_lag (the probe in tasksink_run).
 */
#include "tasksink.h"

void tasksink_metrics_init(struct tasksink *ts)
{
        struct tasksink_metrics *m = &ts->m;
        const char *topic = ts->conf->topic_dispatch;

        m->reg = km_obs_new("komek-tasksink", ts->tc->metrics_port);
        if (m->reg == NULL)
                return;
        m->in = km_obs_messages(m->reg, topic, "in", NULL);
        m->out = km_obs_messages(m->reg, topic, "out", NULL);
        m->duplicate = km_obs_messages(m->reg, topic, "duplicate", NULL);
        m->invalid = km_obs_messages(m->reg, topic, "dlq", "invalid_dispatch");
        m->refused = km_obs_messages(m->reg, topic, "dlq", "refused");
        m->relayed = km_obs_messages(m->reg, "task_outbox", "out", NULL);
        km_obs_batch(m->reg, "seconds per batch (transaction)", &m->batch,
                     &m->commit, &m->last_commit);
}

void tasksink_metrics_committed(struct tasksink *ts, const int64_t counts[4],
                                int64_t write_start_ms)
{
        struct tasksink_metrics *m = &ts->m;

        if (m->reg == NULL)
                return;
        km_metric_add(m->in, m->n_in);
        km_metric_add(m->out, counts[0] + counts[1]);
        km_metric_add(m->duplicate, counts[2]);
        km_metric_add(m->refused, counts[3]);
        km_metric_add(m->invalid, m->n_invalid);
        km_obs_batch_committed(m->batch, m->commit, m->last_commit,
                               ts->batch_start_ms, write_start_ms);
}
