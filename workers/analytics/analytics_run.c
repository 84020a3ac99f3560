/*
 * analytics_run.c - the consumer side of komek-analytics: a read_committed
 * consumer in analytics.group whose positions live in PostgreSQL.
 *
 * Offsets are never committed to Kafka.  On every assignment the
 * rebalance callback loads the partitions' next offsets from
 * consumer_offsets (km_pg_offsets_load) and assigns at them
 * (km_kafka_rebalance_stored); on a revoke
 * the batch not yet written is dropped (its messages are read again by
 * whoever owns the partition next, from the offsets in PostgreSQL).  After
 * a failed batch the assignment is sought back to those offsets.
 *
 * Batches are written by a writer thread (analytics_write.c) while the
 * next one is read, so parsing and the database's work overlap; only one
 * batch is ever in flight, and the connection is the writer's while it is.
 *
 * Metrics (analytics_metrics.c): the poll loop runs the lag, broker and
 * database probe; the writer counts what it commits.
 *
 * Reaching the end of a partition (enable.partition.eof) stores the end
 * offset too, so a caught-up consumer's stored offset equals the high
 * watermark even when the topic ends in transaction control records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_sig.h"
#include "km_util.h"

void analytics_batch_clear(struct an_batch *b)
{
        for (size_t i = 0; i < b->n; i++) {
                free(b->msgs[i].row);
                rd_kafka_message_destroy(b->msgs[i].rkm);
        }
        b->n = 0;
        b->npos = 0;
        b->started_ms = 0;
}

static void an_error_cb(rd_kafka_t *rk, int code, const char *reason,
                        void *opaque)
{
        struct analytics *an = opaque;

        if (code == RD_KAFKA_RESP_ERR__FATAL) {
                char buf[256];

                rd_kafka_fatal_error(rk, buf, sizeof(buf));
                an->fatal = 1;
                snprintf(an->fatal_err, sizeof(an->fatal_err),
                         "consumer fatal error: %s", buf);
                return;
        }
        km_log_warn("kafka: %s: %s", rd_kafka_err2name(code), reason);
}

/* km_kafka_seek_cb: the partitions' next offsets from PostgreSQL. */
static int an_offsets(void *opaque, rd_kafka_topic_partition_list_t *parts,
                      char *err, size_t errlen)
{
        struct analytics *an = opaque;
        int r = km_pg_offsets_load(an->conn, an->ac->group, parts, err, errlen);

        km_obs_pg_error(an->m.reg, r);
        return r;
}

/* A revoke drops the batch not yet written (whoever owns the partitions
 * next rereads it from the stored offsets). */
static void an_revoke(void *opaque, int lost)
{
        struct analytics *an = opaque;

        km_log_info("revoking partition(s)%s; dropping %zu unwritten "
                    "message(s)",
                    lost ? " (lost)" : "", an->batch.n);
        analytics_batch_clear(&an->batch);
        /* cooperative: the partitions kept reread what was dropped */
        if (km_kafka_rebalance_coop(an->rk))
                km_kafka_reseek_mark(&an->reseek);
}

static void an_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        struct analytics *an = opaque;
        char err[512];

        /* the connection is the writer's until its batch is done */
        if (analytics_writer_wait(an, err, sizeof(err))) {
                km_log_warn("rebalance: last batch failed: %s", err);
                km_kafka_reseek_mark(&an->reseek);
        }
        if (e != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS &&
            e != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
                km_log_warn("rebalance: %s", rd_kafka_err2str(e));
        if (km_kafka_rebalance_stored(rk, e, parts, an_offsets, an_revoke, an,
                                      err, sizeof(err))) {
                km_log_warn("%s (retrying)", err);
                km_kafka_reseek_mark(&an->reseek);
        }
        if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
                for (int i = 0; i < parts->cnt; i++)
                        km_log_info("assigned %s[%d] at offset %lld",
                                    parts->elems[i].topic,
                                    (int)parts->elems[i].partition,
                                    (long long)parts->elems[i].offset);
}

/* The prefetch is bounded so a catch-up over a backlog stays within the
 * 64 MB a worker may use (issue 12).  With librdkafka 2.0.2's defaults
 * (queued.min.messages 100000, queued.max.messages.kbytes 65536,
 * fetch.max.bytes 50 MB) a four-topic backlog of 400,000 messages was
 * read into memory: peak RSS 150 MB.  The high-level consumer checks the
 * limits against the one queue all partitions forward to; a consumed
 * message keeps its whole fetch response allocated until it is destroyed
 * (two batches of analytics.batch_max are held), hence small fetches
 * (fetch.max.bytes may not be below message.max.bytes).  The queue
 * trades memory for speed: bench/analytics.sh section 4, one process,
 * load 1-3: defaults 44,000 msg/s, 150 MB; these 30,500 msg/s, 59 MB
 * (two processes 45,800 against 44,600); 50,000 messages / 32 MB 36,800
 * msg/s, 85 MB; 10,000 messages 14,500 msg/s, 42 MB. */
static rd_kafka_t *an_consumer_new(struct analytics *an, char *err,
                                   size_t errlen)
{
        static const char *const props[][2] = {
                {"isolation.level", "read_committed"},
                {"enable.auto.commit", "false"},
                {"enable.auto.offset.store", "false"},
                {"auto.offset.reset", "earliest"},
                {"enable.partition.eof", "true"},
                {"queued.min.messages", "25000"},
                {"queued.max.messages.kbytes", "20480"},
                {"fetch.max.bytes", "1048576"},
                {"max.partition.fetch.bytes", "262144"},
        };
        rd_kafka_conf_t *kc = km_kafka_conf_new(an->conf, NULL, err, errlen);
        rd_kafka_t *rk;
        char errstr[512];

        if (kc == NULL)
                return NULL;
        if (rd_kafka_conf_set(kc, "group.id", an->ac->group, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK)
                goto bad;
        for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
                if (rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr,
                                      sizeof(errstr)) != RD_KAFKA_CONF_OK)
                        goto bad;
        /* the verbatim kafka { } group may override the defaults above */
        for (size_t i = 0; i < an->conf->nkafka; i++)
                if (rd_kafka_conf_set(kc, an->conf->kafka_keys[i],
                                      an->conf->kafka_vals[i], errstr,
                                      sizeof(errstr)) != RD_KAFKA_CONF_OK)
                        goto bad;
        rd_kafka_conf_set_opaque(kc, an);
        rd_kafka_conf_set_error_cb(kc, an_error_cb);
        rd_kafka_conf_set_rebalance_cb(kc, an_rebalance);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
        if (rk == NULL)
                goto bad;
        rd_kafka_poll_set_consumer(rk);
        return rk;
bad:
        rd_kafka_conf_destroy(kc);
        km_err_set(err, errlen, KM_ECONFIG, "consumer: %s", errstr);
        return NULL;
}

int analytics_init(struct analytics *an, struct km_conf *conf,
                   struct analytics_conf *ac, char *err, size_t errlen)
{
        int r;

        memset(an, 0, sizeof(*an));
        an->conf = conf;
        an->ac = ac;
        an->topics[AN_T_COMPLAINTS] = conf->topic_complaints;
        an->topics[AN_T_DISPATCH] = conf->topic_dispatch;
        an->topics[AN_T_EVENTS] = conf->topic_task_events;
        an->topics[AN_T_VOTES] = conf->topic_votes;
        /* application_name komek-analytics/<group>: which group a
         * session in pg_stat_activity serves */
        snprintf(an->appname, sizeof(an->appname), "komek-analytics/%s",
                 ac->group);
        analytics_metrics_init(an); /* before the writer thread starts */
        an->conn = km_pg_connect(conf->pg_conninfo, an->appname,
                                 (int)conf->pg_connect_timeout_s, err, errlen);
        if (an->conn == NULL)
                return KM_EFATAL;
        r = analytics_store_settings(an, err, errlen);
        if (r == 0)
                r = analytics_store_prepare(an, err, errlen);
        if (r)
                return r;
        an->dlq =
                km_kafka_producer_new(conf, NULL, &an->dlq_counts, err, errlen);
        if (an->dlq == NULL)
                return KM_EFATAL;
        json_object_seed(0); /* before a second thread uses jansson */
        r = analytics_writer_start(an, err, errlen);
        if (r)
                return r;
        an->rk = an_consumer_new(an, err, errlen);
        if (an->rk == NULL)
                return KM_EFATAL;
        r = km_kafka_subscribe(an->rk, an->topics, AN_NTOPICS, err, errlen);
        if (r == 0) /* last: /healthz answers once start-up is done */
                r = analytics_metrics_serve(an, err, errlen);
        return r;
}

static struct an_pos *an_pos_get(struct an_batch *b, int topic,
                                 int32_t partition)
{
        for (size_t i = 0; i < b->npos; i++)
                if (b->pos[i].topic == topic &&
                    b->pos[i].partition == partition)
                        return &b->pos[i];
        if (b->npos == b->cappos) {
                b->cappos = b->cappos ? 2 * b->cappos : 16;
                b->pos = km_xrealloc(b->pos, b->cappos * sizeof(*b->pos));
        }
        b->pos[b->npos] = (struct an_pos){topic, partition, 0, 0};
        return &b->pos[b->npos++];
}

/* Take one consumed message (or event) into the batch; owns rkm. */
static void an_take(struct analytics *an, rd_kafka_message_t *rkm)
{
        struct an_batch *b = &an->batch;
        struct an_pos *p;
        struct an_msg *m;
        int topic =
                rkm->rkt ? analytics_topic_of(an, rd_kafka_topic_name(rkm->rkt))
                         : -1;

        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && topic >= 0) {
                p = an_pos_get(b, topic, rkm->partition);
                if (rkm->offset > p->next_offset)
                        p->next_offset = rkm->offset;
                if (b->started_ms == 0)
                        b->started_ms = km_now_ms();
        } else if (rkm->err) {
                km_log_warn("consume: %s%s%s", rd_kafka_message_errstr(rkm),
                            rkm->rkt ? " on " : "",
                            rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "");
        }
        if (rkm->err || topic < 0) {
                rd_kafka_message_destroy(rkm);
                return;
        }
        if (b->n == b->cap) {
                b->cap = b->cap ? 2 * b->cap : 1024;
                b->msgs = km_xrealloc(b->msgs, b->cap * sizeof(*b->msgs));
        }
        m = &b->msgs[b->n++];
        memset(m, 0, sizeof(*m));
        m->rkm = rkm;
        m->topic = topic;
        analytics_parse(an, m);
        p = an_pos_get(b, topic, rkm->partition);
        if (rkm->offset + 1 > p->next_offset)
                p->next_offset = rkm->offset + 1;
        if (m->event_at > p->event_at)
                p->event_at = m->event_at;
        if (b->started_ms == 0)
                b->started_ms = km_now_ms();
        an->consumed++;
}

/* Hand the batch to the writer thread, after the previous one is
 * written.  If that one failed, the batch in hand (read after it) is
 * dropped and the assignment rereads from the offsets in PostgreSQL. */
static int an_flush(struct analytics *an, char *err, size_t errlen)
{
        int r = analytics_writer_wait(an, err, errlen);

        if (r == KM_EFATAL)
                return r;
        if (r) {
                analytics_batch_clear(&an->batch);
                an->retries++;
                km_kafka_reseek_mark(&an->reseek);
                km_log_warn("batch aborted, rereading from stored offsets: %s",
                            err);
                return 0;
        }
        if (an->batch.n == 0 && an->batch.npos == 0)
                return 0;
        analytics_writer_submit(an);
        return 0;
}

/* After a failure: reconnect when needed, then seek to the stored
 * offsets; until that worked nothing more is read (an->reseek).  Backs
 * off 500 ms between attempts (km_kafka_reseek_pause, bounded like
 * km_pg_connect's). */
static int an_recover(struct analytics *an, char *err, size_t errlen)
{
        int r;

        if (analytics_writer_wait(an, err, errlen) == KM_EFATAL)
                return KM_EFATAL;
        analytics_batch_clear(&an->batch);
        if (PQstatus(an->conn) != CONNECTION_OK) {
                PGconn *conn = km_pg_connect(an->conf->pg_conninfo, an->appname,
                                             1, err, errlen);

                if (conn == NULL) {
                        km_obs_pg_error(an->m.reg, KM_ERETRY);
                        km_kafka_reseek_pause();
                        return KM_ERETRY;
                }
                PQfinish(an->conn);
                an->conn = conn;
                km_log_info("reconnected to postgresql");
                r = analytics_store_prepare(an, err, errlen);
                km_obs_pg_error(an->m.reg, r);
                if (r) {
                        km_kafka_reseek_pause();
                        return KM_ERETRY;
                }
        }
        /* every assigned partition to its offset in PostgreSQL */
        if (km_kafka_reseek_try(&an->reseek, an->rk, an_offsets, an, err,
                                errlen))
                return KM_ERETRY;
        return 0;
}

int analytics_run(struct analytics *an, char *err, size_t errlen)
{
        struct an_batch *b = &an->batch;
        int r = 0;

        while (!km_sig_stop && !an->fatal) {
                rd_kafka_message_t *rkm;

                if (km_kafka_reseek_need(&an->reseek)) {
                        r = an_recover(an, err, errlen);
                        if (r == KM_EFATAL)
                                break;
                        if (r)
                                km_log_warn("recovering: %s", err);
                        r = 0;
                        analytics_metrics_tick(an); /* the writer is idle */
                        continue;
                }
                rkm = rd_kafka_consumer_poll(an->rk, 100);
                if (rkm)
                        an_take(an, rkm);
                /* lag, broker and database health for /metrics, /healthz */
                analytics_metrics_tick(an);
                /* a rebalance asked for it: drop, reread */
                if (km_kafka_reseek_need(&an->reseek))
                        continue;
                if ((size_t)an->ac->batch_max <= b->n ||
                    (b->started_ms &&
                     km_now_ms() - b->started_ms >= an->ac->batch_ms) ||
                    (rkm == NULL && (b->n || b->npos))) {
                        r = an_flush(an, err, errlen);
                        if (r)
                                break;
                }
        }
        /* finish the batch on stop */
        if (r == 0 && !an->fatal && !km_kafka_reseek_need(&an->reseek))
                r = an_flush(an, err, errlen);
        if (r == 0) {
                r = analytics_writer_wait(an, err, errlen);
                if (r ==
                    KM_ERETRY) /* nothing half-written: reread next start */
                        r = 0;
        }
        if (an->fatal && r == 0)
                r = km_err_set(err, errlen, KM_EFATAL, "%s", an->fatal_err);
        return r;
}

void analytics_destroy(struct analytics *an)
{
        char err[256];

        if (an->rk) {
                rd_kafka_consumer_close(an->rk);
                rd_kafka_destroy(an->rk);
        }
        analytics_writer_stop(an);
        analytics_batch_clear(&an->batch);
        free(an->batch.msgs);
        free(an->batch.pos);
        if (an->dlq) {
                if (km_kafka_flush(an->dlq, 10000, err, sizeof(err)))
                        km_log_warn("dlq: %s", err);
                rd_kafka_destroy(an->dlq);
        }
        if (an->conn)
                PQfinish(an->conn);
        km_metrics_destroy(an->m.reg); /* the writer no longer counts */
        an->m.reg = NULL;
}
