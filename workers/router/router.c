/*
 * router.c - komek-router: main and the run loop.
 *
 * Exactly-once consume-transform-produce (librdkafka examples/
 * transactions.c): a read_committed consumer in router.group, one
 * transactional producer per process (router.transactional_id, default
 * komek-router-<host>-<instance>; restarting with the same id fences and
 * aborts what a killed predecessor left open).  Each batch is one
 * transaction holding its dispatch and dead-letter messages and the
 * consumed offsets.  A transaction error aborts and rewinds to the
 * committed offsets; a fatal one stops the loop and exits 1.  A batch
 * commits in a thread while the next one is parsed (router_txn.c).
 * SIGTERM / SIGINT commit the open batch (everything in it is complete),
 * close and exit 0; SIGHUP reloads the directory (between batches).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "km_log.h"
#include "km_main.h"
#include "km_pg.h"
#include "km_sig.h"
#include "km_util.h"
#include "router.h"

#define ROUTER_MAX_FAILURES 20 /* consecutive aborts before giving up */

static const struct km_conf_key router_keys[] = {
        {"router.group", KM_CT_STR, "komek-router", 1, 200,
         offsetof(struct router_conf, group), "group", "consumer group id"},
        {"router.transactional_id", KM_CT_STR, NULL, 0, 200,
         offsetof(struct router_conf, txn_id), "transactional-id",
         "transactional.id (default komek-router-<host>-<instance>)"},
        {"router.instance", KM_CT_INT, "0", 0, 1000000,
         offsetof(struct router_conf, instance), "instance",
         "instance number of this process on its host"},
        {"router.batch_size", KM_CT_INT, "2000", 1, 100000,
         offsetof(struct router_conf, batch_size), "batch-size",
         "messages per transaction"},
        {"router.batch_ms", KM_CT_INT, "100", 1, 60000,
         offsetof(struct router_conf, batch_ms), "batch-ms",
         "longest a transaction stays open (ms)"},
        {"router.reload_ms", KM_CT_INT, "5000", 0, 3600000,
         offsetof(struct router_conf, reload_ms), "reload-ms",
         "directory version check period (ms; 0: only SIGHUP)"},
        {"router.txn_timeout_ms", KM_CT_INT, "30000", 1000, 600000,
         offsetof(struct router_conf, txn_timeout_ms), NULL,
         "timeout of commit, abort and send_offsets (ms)"},
        {"router.exit_idle_ms", KM_CT_INT, "0", 0, 86400000,
         offsetof(struct router_conf, exit_idle_ms), "exit-idle-ms",
         "exit after this long without input (benches; 0: never)"},
        {"router.dedup_ids", KM_CT_INT, "200000", 0, 10000000,
         offsetof(struct router_conf, dedup_ids), "dedup-ids",
         "dispatched complaint ids remembered against resubmissions"},
        KM_METRICS_CONF_KEYS("router", struct router_conf, metrics_address,
                             metrics_port),
        KM_OBS_PORT_FILE_KEY("router", struct router_conf, metrics_port_file),
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void router_destroy(struct router *r)
{
        char err[512];

        /* a commit still running (a fatal stop) ends before its producer */
        if (router_txn_commit_wait(r, 1, err, sizeof(err)))
                km_log_warn("last commit: %s", err);
        km_kafka_fetch_destroy(&r->fetch);
        if (r->consumer) {
                rd_kafka_consumer_close(r->consumer);
                rd_kafka_destroy(r->consumer);
        }
        if (r->producer) {
                if (km_kafka_flush(r->producer, 10000, err, sizeof(err)))
                        km_log_warn("flush: %s", err);
                rd_kafka_destroy(r->producer);
        }
        if (r->offsets)
                rd_kafka_topic_partition_list_destroy(r->offsets);
        router_dedup_destroy(r);
        km_dir_destroy(r->dir);
        km_dir_hist_destroy(r->hist);
        if (r->conn)
                PQfinish(r->conn);
        km_metrics_destroy(r->m.reg); /* stops the HTTP thread */
}

/* The consumer: the workers' defaults, but half their pre-fetch queue
 * (the fetcher is woken when it drained, km_kafka_fetch_kick, so it need
 * not hold a second of input; peak RSS stays within 64 MB); kafka {}
 * still wins. */
/* conf with one librdkafka default before kafka {} (whose verbatim
 * values, applied after it, win); free *k and *v after use (the strings
 * belong to conf and the literals). */
static struct km_conf router_conf_with(const struct km_conf *conf,
                                       const char *key, const char *val,
                                       char ***k, char ***v)
{
        struct km_conf cc = *conf;
        size_t n = conf->nkafka + 1;

        *k = km_xcalloc(n, sizeof(char *));
        *v = km_xcalloc(n, sizeof(char *));
        (*k)[0] = (char *)key;
        (*v)[0] = (char *)val;
        for (size_t i = 0; i < conf->nkafka; i++) {
                (*k)[i + 1] = conf->kafka_keys[i];
                (*v)[i + 1] = conf->kafka_vals[i];
        }
        cc.nkafka = n;
        cc.kafka_keys = *k;
        cc.kafka_vals = *v;
        return cc;
}

static rd_kafka_t *router_consumer_new(struct router *r, char *err,
                                       size_t errlen)
{
        char **k, **v;
        struct km_conf cc = router_conf_with(
                r->conf, "queued.max.messages.kbytes", "4096", &k, &v);
        rd_kafka_t *rk = km_kafka_worker_consumer_new(
                &cc, r->rc->group, router_rebalance_cb, r, err, errlen);

        free(k);
        free(v);
        return rk;
}

/* The transactional producer.  A transaction that begins right after the
 * last one committed finds the coordinator still writing that one's
 * markers: AddOffsetsToTxn gets CONCURRENT_TRANSACTIONS and librdkafka
 * retries it after retry.backoff.ms (default 100 ms), which at ~10
 * commits/s was a large share of a commit's time (measured on the rperf
 * branch: send_offsets 2.8-3.9 s -> 1.2-2.2 s of a 300,000-message run).
 * 10 ms here; kafka {} still wins. */
static rd_kafka_t *router_producer_new(struct router *r, char *err,
                                       size_t errlen)
{
        char **k, **v;
        struct km_conf cc =
                router_conf_with(r->conf, "retry.backoff.ms", "10", &k, &v);
        rd_kafka_t *rk =
                km_kafka_producer_new(&cc, r->txn_id, &r->pcounts, err, errlen);

        free(k);
        free(v);
        return rk;
}

static int router_init(struct router *r, const struct km_conf *conf,
                       const struct router_conf *rc, char *err, size_t errlen)
{
        const char *topics[1] = {conf->topic_complaints};
        char host[128] = "localhost";
        int code;

        r->conf = conf;
        r->rc = rc;
        router_metrics_init(r);
        router_dedup_init(r);
        if (rc->txn_id) {
                snprintf(r->txn_id, sizeof(r->txn_id), "%s", rc->txn_id);
        } else {
                gethostname(host, sizeof(host) - 1);
                snprintf(r->txn_id, sizeof(r->txn_id), "komek-router-%s-%lld",
                         host, (long long)rc->instance);
        }
        r->conn = km_pg_connect(conf->pg_conninfo, "komek-router",
                                (int)conf->pg_connect_timeout_s, err, errlen);
        if (r->conn == NULL)
                return KM_EFATAL;
        if (router_dir_reload(r, 1))
                return km_err_set(err, errlen, KM_EFATAL,
                                  "cannot load the directory");
        r->producer = router_producer_new(r, err, errlen);
        if (r->producer == NULL)
                return KM_EFATAL;
        r->consumer = router_consumer_new(r, err, errlen);
        if (r->consumer == NULL)
                return KM_EFATAL;
        km_kafka_fetch_init(&r->fetch, r->consumer);
        r->next_check_ms = km_now_ms() + rc->reload_ms;
        r->last_msg_ms = km_now_ms();
        code = km_kafka_subscribe(r->consumer, topics, 1, err, errlen);
        if (code)
                return code;
        /* serve once the broker and the database were reached */
        return km_obs_serve(r->m.reg, rc->metrics_address, rc->metrics_port,
                            rc->metrics_port_file, err, errlen);
}

/* Remember the next offset of rkm's partition for the transaction. */
static void router_track(struct router *r, const rd_kafka_message_t *rkm)
{
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
                r->offsets, topic, rkm->partition);

        if (p == NULL)
                p = rd_kafka_topic_partition_list_add(r->offsets, topic,
                                                      rkm->partition);
        p->offset = rkm->offset + 1;
}

/* A fatal error of the transactional producer (librdkafka: that instance
 * can do nothing more) replaces it: the batch was aborted (router_txn_abort),
 * the new producer's init_transactions, with the same transactional.id,
 * fences the old one and has the coordinator abort its open transaction,
 * and the consumer goes back to the committed offsets (reseek).  While the
 * brokers are away init_transactions waits for them (or a stop signal).
 * A fenced producer is not replaced: the router stops (exit 1). */
static void router_renew(struct router *r)
{
        char err[512];
        rd_kafka_resp_err_t e =
                rd_kafka_fatal_error(r->producer, err, sizeof(err));

        /* fenced: another producer holds this transactional.id (a second
         * router with the same id, or this one's replacement): stop */
        if (e == RD_KAFKA_RESP_ERR__FENCED ||
            e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
            e == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH) {
                km_log_error("producer: %s (transactional.id %s)", err,
                             r->txn_id);
                r->fatal = 1;
                r->renew = 0;
                return;
        }
        km_log_warn("producer: %s: replacing it",
                    r->pcounts.fatal ? r->pcounts.fatal_reason
                                     : "its transaction cannot end");
        rd_kafka_purge(r->producer,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(r->producer);
        r->pcounts.fatal = 0;
        r->pcounts.fatal_reason[0] = '\0';
        r->renew = 0;
        r->producer = router_producer_new(r, err, sizeof(err));
        if (r->producer == NULL) {
                if (!km_sig_stop) {
                        km_log_error("%s", err);
                        r->fatal = 1;
                }
                return;
        }
        r->renewals++;
        km_log_info("producer replaced (%d time(s))", r->renewals);
        r->reseek = 1;
}

/* A failed batch: fatal stops; a producer failed fatally is replaced;
 * anything else aborts and rewinds. */
static void router_fail(struct router *r, int rc, const char *err)
{
        if (r->pcounts.fatal ||
            rd_kafka_fatal_error(r->producer, NULL, 0) != 0) {
                km_log_warn("%s: aborting the batch", err);
                router_txn_abort(r, 0);
                r->renew = 1;
                return;
        }
        if (rc == KM_EFATAL) {
                km_log_error("%s", err);
                r->fatal = 1;
                return;
        }
        km_log_warn("%s: aborting the batch", err);
        router_txn_abort(r, 1);
        if (r->failures >= ROUTER_MAX_FAILURES) {
                km_log_error("%d batches in a row failed; giving up",
                             r->failures);
                r->fatal = 1;
        }
}

static void router_message(struct router *r, rd_kafka_message_t *rkm)
{
        char err[512];
        int rc;

        if (rkm->err) {
                if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
                        km_log_error("consumer: %s",
                                     rd_kafka_message_errstr(rkm));
                        r->fatal = 1;
                } else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        km_log_warn("consumer: %s",
                                    rd_kafka_message_errstr(rkm));
                }
                return;
        }
        router_txn_open(r);
        r->st.consumed++;
        r->last_msg_ms = km_now_ms();
        if (r->first_ms == 0)
                r->first_ms = r->last_msg_ms;
        rc = router_msg_handle(r, rkm, err, sizeof(err));
        if (rc) {
                router_fail(r, rc, err);
                return;
        }
        router_track(r, rkm);
        r->batch_n++;
        r->m.n_in++;
        /* a large transaction is checked and produced in parts (not
         * while the previous one commits) */
        if ((rc = router_txn_produce(r, 0, err, sizeof(err))) ||
            (rc = router_hook_message(r, err, sizeof(err))))
                router_fail(r, rc, err);
}

static int router_run(struct router *r)
{
        char err[512];
        int64_t t0, t1;
        int rc;

        while (!km_sig_stop && !r->fatal) {
                rd_kafka_message_t *rkm;

                if (r->renew) {
                        router_renew(r);
                        continue;
                }
                if (r->reseek) {
                        struct timespec pause = {0, 500 * 1000000L};

                        router_txn_rewind(r);
                        if (r->reseek)
                                nanosleep(&pause, NULL);
                        continue;
                }

                /* the directory changes between batches, never inside
                 * one: every task of a transaction is routed by one
                 * version (a SIGHUP or a due check waits for the commit) */
                if (km_sig_reload && !r->in_txn) {
                        km_sig_reload = 0;
                        router_dir_reload(r, 1);
                }
                if (r->rc->reload_ms > 0 && !r->in_txn &&
                    km_now_ms() >= r->next_check_ms) {
                        router_dir_reload(r, 0);
                        r->next_check_ms = km_now_ms() + r->rc->reload_ms;
                }
                /* lag, broker and database health for /metrics, /healthz */
                km_obs_tick(&r->m.probe, r->m.reg, r->producer, r->consumer,
                            r->conn);
                /* librdkafka 2.0.2 refetches late otherwise */
                km_kafka_fetch_kick(r->consumer, &r->fetch);
                t0 = router_now_us();
                rkm = rd_kafka_consumer_poll(
                        r->consumer, r->in_txn || r->cm.running ? 10 : 200);
                t1 = router_now_us();
                r->st.poll_us += t1 - t0;
                if (rkm) {
                        router_message(r, rkm);
                        rd_kafka_message_destroy(rkm);
                        r->st.work_us += router_now_us() - t1;
                } else if (r->in_txn || r->cm.running) {
                        r->st.idle_us += t1 - t0;
                        r->st.idle_polls++;
                }
                if (r->pcounts.fatal) {
                        router_txn_abort(r, 0);
                        r->renew = 1;
                        continue;
                }
                /* a finished commit is joined at once; a full batch waits
                 * for the running one, an old one starts when it ended */
                t0 = km_now_ms();
                t1 = router_now_us();
                rc = router_txn_commit_wait(r, 0, err, sizeof(err));
                if (rc == 0 && r->in_txn &&
                    (r->batch_n >= r->rc->batch_size ||
                     (!r->cm.running &&
                      t0 - r->batch_start_ms >= r->rc->batch_ms)))
                        rc = router_txn_commit_start(r, err, sizeof(err));
                if (rc)
                        router_fail(r, rc, err);
                r->st.work_us += router_now_us() - t1;
                if (r->rc->exit_idle_ms > 0 && !r->in_txn && !r->cm.running &&
                    km_now_ms() - r->last_msg_ms >= r->rc->exit_idle_ms) {
                        km_log_info("idle for %lld ms: exiting",
                                    (long long)r->rc->exit_idle_ms);
                        break;
                }
        }
        /* stopping: the open batch is complete message by message */
        if ((r->in_txn || r->cm.running) && !r->fatal &&
            (rc = router_txn_commit(r, err, sizeof(err)))) {
                km_log_warn("final commit: %s", err);
                router_txn_abort(r, 0);
        }
        return r->fatal ? KM_EFATAL : 0;
}

static void router_usage(const struct km_conf *conf)
{
        fprintf(stdout,
                "usage: komek-router [options]\n"
                "Routes complaints to organisations, exactly once: consumes\n"
                "topics.complaints, produces topics.dispatch (key: org id) and\n"
                "topics.dlq in Kafka transactions.  SIGHUP reloads the\n"
                "directory.  exit: 0 ok (also on SIGTERM), 1 failure, 2 usage\n");
        km_conf_usage(conf, stdout);
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct router_conf rc;
        struct router r;
        char err[512];
        int code;

        memset(&rc, 0, sizeof(rc));
        memset(&r, 0, sizeof(r));
        if (km_main_conf(&conf, "komek-router", router_keys, &rc, argc, argv,
                         router_usage, 0, &code))
                return code;
        km_main_start(&conf, "komek-router", 0);
        code = router_init(&r, &conf, &rc, err, sizeof(err));
        if (code && km_sig_stop) { /* stopped while waiting for the broker */
                km_log_info("stopped during start-up: %s", err);
                code = 0;
        } else if (code) {
                km_log_error("start: %s", err);
        } else {
                km_log_info("started: group %s, transactional id %s, %s -> %s",
                            rc.group, r.txn_id, conf.topic_complaints,
                            conf.topic_dispatch);
                if (km_metrics_port(r.m.reg))
                        km_log_info("metrics on http://%s:%d/metrics",
                                    rc.metrics_address,
                                    km_metrics_port(r.m.reg));
                code = router_run(&r);
        }
        if (r.first_ms && r.last_commit_ms > r.first_ms)
                km_log_info("throughput: %lld message(s) from %lld to %lld "
                            "(monotonic ms): %.0f/s",
                            (long long)r.st.consumed, (long long)r.first_ms,
                            (long long)r.last_commit_ms,
                            1000.0 * (double)r.st.consumed /
                                    (double)(r.last_commit_ms - r.first_ms));
        km_log_info(
                "time: polling %lld ms (%lld ms in %lld polls that "
                "returned nothing during a batch), routing %lld ms (of "
                "it: waiting for the running commit %lld ms, producing "
                "%lld ms, the duplicate query %lld ms); commit thread: "
                "send_offsets %lld ms, commit_transaction %lld ms; "
                "fetcher woken %lld time(s)",
                (long long)r.st.poll_us / 1000, (long long)r.st.idle_us / 1000,
                (long long)r.st.idle_polls, (long long)r.st.work_us / 1000,
                (long long)r.st.wait_us / 1000,
                (long long)r.st.produce_us / 1000, (long long)r.st.pg_us / 1000,
                (long long)r.st.offsets_us / 1000,
                (long long)r.st.endtxn_us / 1000, (long long)r.fetch.kicks);
        km_log_info("stopped: consumed %lld, dispatched %lld (triage %lld), "
                    "duplicates %lld (in memory %lld, in tasks %lld), "
                    "unchecked %lld, "
                    "dead-lettered %lld, batches %lld, aborted %lld, "
                    "reloads %lld, delivered %lld, failed %lld",
                    (long long)r.st.consumed, (long long)r.st.dispatched,
                    (long long)r.st.triaged,
                    (long long)(r.st.dup_mem + r.st.dup_pg),
                    (long long)r.st.dup_mem, (long long)r.st.dup_pg,
                    (long long)r.st.unchecked, (long long)r.st.dlq,
                    (long long)r.st.batches, (long long)r.st.aborts,
                    (long long)r.st.reloads, (long long)r.pcounts.delivered,
                    (long long)r.pcounts.failed);
        router_destroy(&r);
        km_conf_destroy(&conf);
        return code == 0 ? 0 : code == KM_ECONFIG ? 2 : 1;
}
