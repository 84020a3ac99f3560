/*
 * tasksink.c - komek-tasksink: main, the run loop and rebalancing.
 *
 * Offsets live in PostgreSQL (consumer_offsets, key tasksink.name), next
 * to the rows: on every assignment the consumer starts where the last
 * committed batch ended; nothing is committed to Kafka.  A batch that
 * fails to commit is rolled back and the consumer rewinds to the stored
 * offsets.  The relay publishes outbox rows the inbox left behind.
 * SIGTERM / SIGINT write the open batch, close and exit 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_log.h"
#include "km_main.h"
#include "km_outbox.h"
#include "km_pg.h"
#include "km_sig.h"
#include "km_util.h"
#include "tasksink.h"

static const struct km_conf_key tasksink_keys[] = {
        {"tasksink.group", KM_CT_STR, "komek-tasksink", 1, 200,
         offsetof(struct tasksink_conf, group), "group", "consumer group id"},
        {"tasksink.name", KM_CT_STR, NULL, 0, 200,
         offsetof(struct tasksink_conf, name), NULL,
         "consumer name in consumer_offsets (default: the group)"},
        {"tasksink.batch_size", KM_CT_INT, "500", 1, 100000,
         offsetof(struct tasksink_conf, batch_size), "batch-size",
         "messages per transaction"},
        {"tasksink.batch_ms", KM_CT_INT, "200", 1, 60000,
         offsetof(struct tasksink_conf, batch_ms), "batch-ms",
         "longest a batch stays open (ms)"},
        {"tasksink.idle_ms", KM_CT_INT, "2", 1, 60000,
         offsetof(struct tasksink_conf, idle_ms), "idle-ms",
         "write the open batch once no message came for this long (ms)"},
        {"tasksink.relay_ms", KM_CT_INT, "1000", 0, 3600000,
         offsetof(struct tasksink_conf, relay_ms), "relay-ms",
         "outbox relay period (ms; 0: off)"},
        {"tasksink.relay_age_ms", KM_CT_INT, "5000", 0, 3600000,
         offsetof(struct tasksink_conf, relay_age_ms), NULL,
         "relay only outbox rows at least this old (ms)"},
        KM_METRICS_CONF_KEYS("tasksink", struct tasksink_conf, metrics_address,
                             metrics_port),
        KM_OBS_PORT_FILE_KEY("tasksink", struct tasksink_conf,
                             metrics_port_file),
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

/* km_kafka_seek_cb: the offsets stored with the rows. */
static int tasksink_seek(void *opaque, rd_kafka_topic_partition_list_t *parts,
                         char *err, size_t errlen)
{
        return tasksink_seek_stored(opaque, parts, err, errlen);
}

/* After a failed batch: reconnect when needed, then seek the current
 * assignment to the stored offsets.  Until that worked nothing more is
 * read (ts->reseek): a batch read after the failed one would commit
 * offsets past it, and the failed batch would be lost.  Backs off 500 ms
 * between attempts (km_kafka_reseek_try), as komek-analytics' an_recover. */
static void tasksink_recover(struct tasksink *ts)
{
        char err[512];

        if (PQstatus(ts->conn) != CONNECTION_OK)
                PQreset(ts->conn);
        if (km_kafka_reseek_try(&ts->reseek, ts->consumer, tasksink_seek, ts,
                                err, sizeof(err)))
                km_log_warn("rewind: %s (trying every %d ms)", err,
                            KM_KAFKA_RESEEK_PAUSE_MS);
}

/* Write the open batch; on failure drop it and rewind (or stop). */
static void tasksink_flush(struct tasksink *ts, int rewind)
{
        char err[512];
        int r = tasksink_batch_write(ts, err, sizeof(err));

        if (r == 0)
                return;
        tasksink_batch_clear(ts);
        if (r == KM_EFATAL) {
                km_log_error("batch: %s", err);
                ts->fatal = 1;
                return;
        }
        km_log_warn("batch: %s: rolled back, rewinding", err);
        if (rewind)
                km_kafka_reseek_mark(&ts->reseek);
}

/* A revoke writes the open batch (lost partitions: dropped, the new owner
 * reads it again from the stored offsets). */
static void tasksink_revoke(void *opaque, int lost)
{
        struct tasksink *ts = opaque;

        km_log_info("revoking partition(s)%s", lost ? " (lost)" : "");
        if (lost)
                tasksink_batch_clear(ts);
        else
                tasksink_flush(ts, 0);
}

/* Start where the last committed batch ended; without the database, from
 * the beginning (the insert is idempotent). */
static void tasksink_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                                  rd_kafka_topic_partition_list_t *parts,
                                  void *opaque)
{
        char err[512];

        if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
                km_log_info("assigned %d partition(s)", parts->cnt);
        if (km_kafka_rebalance_stored(rk, e, parts, tasksink_seek,
                                      tasksink_revoke, opaque, err,
                                      sizeof(err)))
                km_log_warn("%s", err);
}

static void tasksink_message(struct tasksink *ts, rd_kafka_message_t *rkm)
{
        char err[512];
        rd_kafka_topic_partition_t *p;
        const char *topic;

        if (rkm->err) {
                if (rkm->err == RD_KAFKA_RESP_ERR__FATAL)
                        ts->fatal = 1;
                if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        km_log_warn("consumer: %s",
                                    rd_kafka_message_errstr(rkm));
                return;
        }
        topic = rd_kafka_topic_name(rkm->rkt);
        if (ts->offsets == NULL) {
                ts->offsets = rd_kafka_topic_partition_list_new(8);
                ts->batch_start_ms = km_now_ms();
        }
        ts->consumed++;
        ts->m.n_in++;
        if (ts->nrows == ts->cap) {
                ts->cap = ts->cap ? ts->cap * 2 : 64;
                ts->rows = km_xrealloc(ts->rows, ts->cap * sizeof(*ts->rows));
        }
        if (tasksink_row_parse(ts, rkm, &ts->rows[ts->nrows], err,
                               sizeof(err)) == 0) {
                ts->nrows++;
        } else {
                /* dead-lettered with origin and reason, acknowledged before
                 * the batch's offsets commit (tasksink_batch_write) */
                char perr[512];
                int r = tasksink_dlq(ts, "VALUE_CONVERTER", rkm->partition,
                                     rkm->offset, "invalid_dispatch", err,
                                     rkm->payload, rkm->payload ? rkm->len : 0,
                                     perr, sizeof(perr));

                if (r) {
                        /* not dead-lettered: the offset must not advance */
                        km_log_warn("%s[%d]@%lld: dead letter: %s: "
                                    "rolling back",
                                    topic, (int)rkm->partition,
                                    (long long)rkm->offset, perr);
                        ts->dlq_failed = 1;
                        if (r == KM_EFATAL)
                                ts->fatal = 1;
                }
                ts->m.n_invalid++;
        }
        p = rd_kafka_topic_partition_list_find(ts->offsets, topic,
                                               rkm->partition);
        if (p == NULL)
                p = rd_kafka_topic_partition_list_add(ts->offsets, topic,
                                                      rkm->partition);
        p->offset = rkm->offset + 1;
}

static void tasksink_relay(struct tasksink *ts)
{
        char err[512];
        int n = 0;

        if (ts->producer == NULL || ts->tc->relay_ms <= 0 ||
            km_now_ms() < ts->next_relay_ms)
                return;
        ts->next_relay_ms = km_now_ms() + ts->tc->relay_ms;
        if (km_outbox_publish(ts->conn, ts->producer, &ts->pcounts, ts->conf,
                              NULL, (int)ts->tc->relay_age_ms, 500, &n, err,
                              sizeof(err))) {
                km_log_warn("outbox relay: %s", err);
                if (PQstatus(ts->conn) != CONNECTION_OK)
                        PQreset(ts->conn);
                return;
        }
        if (n > 0) {
                ts->relayed += n;
                km_metric_add(ts->m.relayed, n);
                km_log_info("outbox relay: published %d message(s)", n);
        }
}

static int tasksink_run(struct tasksink *ts)
{
        while (!km_sig_stop && !ts->fatal) {
                if (km_kafka_reseek_need(&ts->reseek)) {
                        tasksink_recover(ts);
                        continue;
                }
                /* a batch is written when it is full, when it is
                 * batch_ms old, or as soon as the stream pauses (no
                 * message for idle_ms: everything fetched is in it), so
                 * a task waits for no timer at a low rate and batches
                 * grow with the rate (messages queue while one writes) */
                /* polls of at most 200 ms, so the probes below and a
                 * SIGTERM are served whatever idle_ms is */
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(
                        ts->consumer, ts->offsets && ts->tc->idle_ms < 200
                                              ? (int)ts->tc->idle_ms
                                              : 200);
                int64_t now;

                if (rkm) {
                        tasksink_message(ts, rkm);
                        rd_kafka_message_destroy(rkm);
                }
                now = km_now_ms();
                if (rkm)
                        ts->last_msg_ms = now;
                if (ts->offsets &&
                    ((rkm == NULL &&
                      now - ts->last_msg_ms >= ts->tc->idle_ms) ||
                     (int64_t)ts->nrows >= ts->tc->batch_size ||
                     now - ts->batch_start_ms >= ts->tc->batch_ms))
                        tasksink_flush(ts, 1);
                tasksink_relay(ts);
                /* lag, broker and database health for /metrics, /healthz
                 * (no transaction is open between two flushes).  The
                 * broker is asked through the producer, as the router
                 * does: on the consumer's connection the metadata request
                 * queues behind its parked Fetch (the broker answers one
                 * request of a connection at a time), which held the loop
                 * up to fetch.wait.max.ms every probe period (the tasks of
                 * a router commit 100-130 ms late every 3 s at 500/s) */
                km_obs_tick(&ts->m.probe, ts->m.reg, ts->producer, ts->consumer,
                            ts->conn);
                if (ts->pcounts.fatal) {
                        km_log_error("relay producer: %s",
                                     ts->pcounts.fatal_reason);
                        ts->fatal = 1;
                }
        }
        if (!ts->fatal)
                tasksink_flush(ts, 0);
        return ts->fatal ? KM_EFATAL : 0;
}

static int tasksink_init(struct tasksink *ts, const struct km_conf *conf,
                         const struct tasksink_conf *tc, char *err,
                         size_t errlen)
{
        const char *topics[1] = {conf->topic_dispatch};
        int rc;

        ts->conf = conf;
        ts->tc = tc;
        tasksink_metrics_init(ts);
        ts->name = tc->name ? tc->name : tc->group;
        ts->conn = km_pg_connect(conf->pg_conninfo, "komek-tasksink",
                                 (int)conf->pg_connect_timeout_s, err, errlen);
        if (ts->conn == NULL)
                return KM_EFATAL;
        /* always: dead letters need it even with the relay off */
        ts->producer =
                km_kafka_producer_new(conf, NULL, &ts->pcounts, err, errlen);
        if (ts->producer == NULL)
                return KM_EFATAL;
        ts->consumer = km_kafka_worker_consumer_new(
                conf, tc->group, tasksink_rebalance_cb, ts, err, errlen);
        if (ts->consumer == NULL)
                return KM_EFATAL;
        rc = km_kafka_subscribe(ts->consumer, topics, 1, err, errlen);
        if (rc)
                return rc;
        return km_obs_serve(ts->m.reg, tc->metrics_address, tc->metrics_port,
                            tc->metrics_port_file, err, errlen);
}

static void tasksink_destroy(struct tasksink *ts)
{
        char err[512];

        if (ts->consumer) {
                rd_kafka_consumer_close(ts->consumer);
                rd_kafka_destroy(ts->consumer);
        }
        tasksink_batch_clear(ts);
        free(ts->rows);
        free(ts->copy);
        tasksink_msg_free(&ts->msg);
        if (ts->producer) {
                if (km_kafka_flush(ts->producer, 10000, err, sizeof(err)))
                        km_log_warn("flush: %s", err);
                rd_kafka_destroy(ts->producer);
        }
        if (ts->conn)
                PQfinish(ts->conn);
        km_metrics_destroy(ts->m.reg); /* stops the HTTP thread */
}

static void tasksink_usage(const struct km_conf *conf)
{
        fprintf(stdout, "usage: komek-tasksink [options]\n"
                        "Writes topics.dispatch into the tasks table, "
                        "exactly once; relays the inbox outbox.\n"
                        "exit: 0 ok (also on SIGTERM), 1 failure, 2 usage\n");
        km_conf_usage(conf, stdout);
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct tasksink_conf tc;
        struct tasksink ts;
        char err[512];
        int code;

        memset(&tc, 0, sizeof(tc));
        memset(&ts, 0, sizeof(ts));
        if (km_main_conf(&conf, "komek-tasksink", tasksink_keys, &tc, argc,
                         argv, tasksink_usage, 0, &code))
                return code;
        km_main_start(&conf, "komek-tasksink", 0);
        code = tasksink_init(&ts, &conf, &tc, err, sizeof(err));
        if (code) {
                km_log_error("start: %s", err);
        } else {
                km_log_info("started: group %s, %s -> tasks", tc.group,
                            conf.topic_dispatch);
                if (km_metrics_port(ts.m.reg))
                        km_log_info("metrics on http://%s:%d/metrics",
                                    tc.metrics_address,
                                    km_metrics_port(ts.m.reg));
                code = tasksink_run(&ts);
        }
        km_log_info(
                "stopped: consumed %lld, new tasks %lld, re-routed %lld, "
                "duplicates %lld, dead-lettered %lld, batches %lld, relayed %lld, "
                "read by jansson %lld, handed over %lld",
                (long long)ts.consumed, (long long)ts.inserted,
                (long long)ts.rerouted, (long long)ts.duplicates,
                (long long)ts.dlq, (long long)ts.batches, (long long)ts.relayed,
                (long long)ts.by_ref, (long long)ts.handed);
        tasksink_destroy(&ts);
        km_conf_destroy(&conf);
        return code == 0 ? 0 : code == KM_ECONFIG ? 2 : 1;
}
