/*
 * analytics_metrics.c - komek-analytics' Prometheus series
 * (docs/operations.md), added by the writer thread when a batch's
 * transaction commits (a batch rolled back is read again and counted
 * then), for each input topic T (complaints, dispatch, task-events,
 * votes):
 *   komek_messages_total{topic=T,outcome="in"}         consumed
 *   komek_messages_total{topic=T,outcome="out"}        a new fact row
 *   komek_messages_total{topic=T,outcome="duplicate"}  its fact was there
 *   komek_messages_total{topic=T,outcome="dlq",reason=...} dead-lettered
 *       (in = out + duplicate + dlq over committed batches)
 *   komek_batch_seconds (first message of a batch to its commit),
 *   komek_batch_seconds{stage="commit"} (the writer's part: dead letters
 *       and the PostgreSQL transaction),
 *   komek_last_commit_timestamp_seconds, komek_pg_errors_total{kind};
 * and, from the consumer thread's poll loop, komek_consumer_lag and the
 * "broker" and "database" health of /healthz.
 *
 * Threads: the handles are made before the writer starts and updated
 * with atomics; the probe runs on the consumer thread and uses the
 * connection only while the writer is idle (it is the writer's while a
 * batch is in flight).  It never resets the connection: that would drop
 * the session's staging tables unnoticed; an_recover reconnects.  A
 * batch stuck in flight (more than 30 s) is seen by the HTTP thread from
 * the writer's clock (write_since_ms) and makes /healthz answer 503.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "km_log.h"
#include "km_util.h"

/* A batch in flight this long: /healthz reports the writer stuck. */
#define AN_WRITE_STUCK_MS 30000

void analytics_metrics_init(struct analytics *an)
{
        struct an_metrics *m = &an->m;

        m->reg = km_obs_new("komek-analytics", an->ac->metrics_port);
        if (m->reg == NULL)
                return;
        for (int t = 0; t < AN_NTOPICS; t++) {
                m->in[t] = km_obs_messages(m->reg, an->topics[t], "in", NULL);
                m->out[t] = km_obs_messages(m->reg, an->topics[t], "out", NULL);
                m->dup[t] = km_obs_messages(m->reg, an->topics[t], "duplicate",
                                            NULL);
        }
        km_obs_batch(m->reg, "seconds per batch (first message to commit)",
                     &m->batch, &m->commit, &m->last_commit);
}

/* /healthz, on the HTTP thread: only the writer's atomic clock is read.
 * A batch that neither commits nor fails (a lock wait, a connection that
 * hangs without an error) blocks the consumer thread too, so the probe
 * below could not say it. */
static int an_health(void *opaque, char *why, size_t whylen)
{
        const struct an_metrics *m = opaque;
        int64_t since = atomic_load(&m->write_since_ms);
        int64_t ms = since ? km_now_ms() - since : 0;

        if (ms <= AN_WRITE_STUCK_MS)
                return 0;
        snprintf(why, whylen, "writer: one batch in flight for %lld s",
                 (long long)(ms / 1000));
        return 1;
}

/* km_obs_serve with the health callback: start, then the port file
 * (write and rename). */
int analytics_metrics_serve(struct analytics *an, char *err, size_t errlen)
{
        const char *pf = an->ac->metrics_port_file;
        struct an_metrics *m = &an->m;
        char *tmp;
        FILE *fp;
        int r, ok = 0;

        if (m->reg == NULL)
                return 0;
        r = km_metrics_start(m->reg, an->ac->metrics_address,
                             (int)an->ac->metrics_port, an_health, m, err,
                             errlen);
        if (r)
                return r;
        km_log_info("metrics on http://%s:%d/metrics", an->ac->metrics_address,
                    km_metrics_port(m->reg));
        if (pf == NULL || *pf == '\0')
                return 0;
        tmp = km_xasprintf("%s.tmp", pf);
        fp = fopen(tmp, "w");
        if (fp) {
                fprintf(fp, "%d\n", km_metrics_port(m->reg));
                ok = fclose(fp) == 0 && rename(tmp, pf) == 0;
        }
        if (!ok)
                remove(tmp);
        free(tmp);
        return ok ? 0
                  : km_err_set(err, errlen, KM_EFATAL,
                               "cannot write the metrics port to %s", pf);
}

/* Writer thread, after the batch b committed; new0/dup0: an->new_rows
 * and an->dup_rows before it (the writer is their only writer). */
void analytics_metrics_written(struct analytics *an, const struct an_batch *b,
                               const int64_t new0[AN_NTOPICS],
                               const int64_t dup0[AN_NTOPICS],
                               int64_t write_start_ms)
{
        struct an_metrics *m = &an->m;
        int64_t in[AN_NTOPICS] = {0}, now = km_now_ms();

        if (m->reg == NULL)
                return;
        for (size_t i = 0; i < b->n; i++) {
                const struct an_msg *x = &b->msgs[i];

                in[x->topic]++;
                if (x->row == NULL) /* rare: looked up by name */
                        km_metric_add(km_obs_messages(m->reg,
                                                      an->topics[x->topic],
                                                      "dlq", x->reason),
                                      1);
        }
        for (int t = 0; t < AN_NTOPICS; t++) {
                km_metric_add(m->in[t], in[t]);
                km_metric_add(m->out[t], an->new_rows[t] - new0[t]);
                km_metric_add(m->dup[t], an->dup_rows[t] - dup0[t]);
        }
        if (b->n > 0) { /* not the batches that only store end offsets */
                if (b->started_ms)
                        km_metric_observe(m->batch,
                                          (double)(now - b->started_ms) /
                                                  1000.0);
                km_metric_observe(m->commit,
                                  (double)(now - write_start_ms) / 1000.0);
        }
        km_metric_set(m->last_commit, (double)km_wall_s());
}

/* Consumer thread, every poll-loop iteration (also while recovering):
 * lag and broker health when due; database health once the writer is
 * idle (the connection is then this thread's until it hands over the
 * next batch).  A connection found lost asks for a recovery, which
 * reconnects even when no message comes to fail on it. */
void analytics_metrics_tick(struct analytics *an)
{
        struct an_metrics *m = &an->m;
        char err[256];

        if (km_obs_due(&m->probe, m->reg)) {
                (void)km_metrics_kafka_lag(m->reg, an->rk, err, sizeof(err));
                km_obs_broker(m->reg, an->rk);
                m->db_due = 1;
        }
        if (!m->db_due)
                return;
        if (analytics_writer_idle(an)) {
                m->db_due = 0;
                if (PQstatus(an->conn) != CONNECTION_OK)
                        km_metrics_health_set(m->reg, "database", 0,
                                              "connection lost (reconnecting)");
                else
                        km_obs_database(m->reg, an->conn); /* SELECT 1 */
                if (PQstatus(an->conn) != CONNECTION_OK)
                        /* an_recover reconnects */
                        km_kafka_reseek_mark(&an->reseek);
        }
}
