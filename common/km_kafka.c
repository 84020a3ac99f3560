/*
 * km_kafka.c - see km_kafka.h.
 */
#include "km_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_log.h"
#include "km_sig.h"
#include "km_util.h"

static void km_kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                           void *opaque)
{
        struct km_kafka_counts *counts = opaque;

        (void)rk;
        if (counts == NULL)
                return;
        if (rkm->err) {
                counts->failed++;
                snprintf(counts->last_error, sizeof(counts->last_error),
                         "delivery to %s failed: %s",
                         rd_kafka_topic_name(rkm->rkt),
                         rd_kafka_err2str(rkm->err));
        } else {
                counts->delivered++;
        }
}

/* SASL authentication failed, or the broker's certificate is not trusted
 * (ssl.ca.location, host name): configuration errors, not outages. */
static int km_kafka_auth_error(int code, const char *reason)
{
        return code == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
               (code == RD_KAFKA_RESP_ERR__SSL && reason &&
                strstr(reason, "certificate verify failed"));
}

/* librdkafka's own log lines go through km_log, so that log.json output
 * stays one JSON object per line; the program's error line says what
 * failed, these say why (level: syslog 0-4 warn, 5-6 info, 7 debug). */
static void km_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                            const char *buf)
{
        (void)rk;
        km_log_event(level <= 4   ? KM_LOG_WARN
                     : level <= 6 ? KM_LOG_INFO
                                  : KM_LOG_DEBUG,
                     "librdkafka", "%s: %s", fac, buf);
}

static void km_kafka_error_cb(rd_kafka_t *rk, int code, const char *reason,
                              void *opaque)
{
        struct km_kafka_counts *counts = opaque;
        char buf[256];

        if (counts == NULL)
                return;
        if (code == RD_KAFKA_RESP_ERR__FATAL) {
                rd_kafka_resp_err_t orig =
                        rd_kafka_fatal_error(rk, buf, sizeof(buf));

                counts->fatal = 1;
                snprintf(counts->fatal_reason, sizeof(counts->fatal_reason),
                         "%s: %s", rd_kafka_err2name(orig), buf);
        } else if (km_kafka_auth_error(code, reason)) {
                /* librdkafka retries these for ever; they need an operator
                 * (wrong password, untrusted broker certificate): stop. */
                counts->fatal = 1;
                snprintf(counts->fatal_reason, sizeof(counts->fatal_reason),
                         "%s: %s",
                         code == RD_KAFKA_RESP_ERR__SSL
                                 ? "broker certificate not trusted"
                                 : "broker authentication failed",
                         reason);
                snprintf(counts->last_error, sizeof(counts->last_error), "%s",
                         counts->fatal_reason);
        } else {
                snprintf(counts->last_error, sizeof(counts->last_error),
                         "%s: %s", rd_kafka_err2name(code), reason);
        }
}

static int km_kafka_set(rd_kafka_conf_t *kc, const char *k, const char *v,
                        char *err, size_t errlen)
{
        char errstr[512];

        if (rd_kafka_conf_set(kc, k, v, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK)
                return km_err_set(err, errlen, KM_ECONFIG, "kafka.%s: %s", k,
                                  errstr);
        return 0;
}

rd_kafka_conf_t *km_kafka_conf_new(const struct km_conf *conf,
                                   struct km_kafka_counts *counts, char *err,
                                   size_t errlen)
{
        rd_kafka_conf_t *kc = rd_kafka_conf_new();

        if (km_kafka_set(kc, "bootstrap.servers", conf->brokers, err, errlen))
                goto fail;
        /* librdkafka logs go through its own logger to stderr; keep quiet */
        if (km_kafka_set(kc, "log.connection.close", "false", err, errlen))
                goto fail;
        for (size_t i = 0; i < conf->nkafka; i++)
                if (km_kafka_set(kc, conf->kafka_keys[i], conf->kafka_vals[i],
                                 err, errlen))
                        goto fail;
        rd_kafka_conf_set_opaque(kc, counts);
        rd_kafka_conf_set_log_cb(kc, km_kafka_log_cb);
        rd_kafka_conf_set_error_cb(kc, km_kafka_error_cb);
        if (counts) /* producers only: consumers warn about dr_msg_cb */
                rd_kafka_conf_set_dr_msg_cb(kc, km_kafka_dr_cb);
        return kc;
fail:
        rd_kafka_conf_destroy(kc);
        return NULL;
}

rd_kafka_t *km_kafka_producer_new(const struct km_conf *conf,
                                  const char *transactional_id,
                                  struct km_kafka_counts *counts, char *err,
                                  size_t errlen)
{
        rd_kafka_conf_t *kc = NULL;
        rd_kafka_t *rk = NULL;
        rd_kafka_error_t *error;
        char errstr[512];
        int user_linger = 0;

        kc = km_kafka_conf_new(conf, counts, err, errlen);
        if (kc == NULL)
                return NULL;
        for (size_t i = 0; i < conf->nkafka; i++)
                if (!strcmp(conf->kafka_keys[i], "linger.ms") ||
                    !strcmp(conf->kafka_keys[i], "queue.buffering.max.ms"))
                        user_linger = 1;
        /* 5 ms batching unless kafka {} says otherwise */
        if (km_kafka_set(kc, "enable.idempotence", "true", err, errlen) ||
            (!user_linger && km_kafka_set(kc, "linger.ms", "5", err, errlen)) ||
            (transactional_id && km_kafka_set(kc, "transactional.id",
                                              transactional_id, err, errlen)))
                goto fail;
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        if (rk == NULL) {
                km_err_set(err, errlen, KM_EFATAL, "producer: %s", errstr);
                goto fail;
        }
        kc = NULL; /* owned by rk now */
        /* Without a transaction coordinator (the brokers down, or too few
         * of them for the transaction log's min.isr) a start waits for
         * one, as a running worker waits, until a stop signal. */
        while (transactional_id) {
                error = rd_kafka_init_transactions(rk, 30000);
                if (error == NULL)
                        break;
                if (rd_kafka_error_is_retriable(error) &&
                    !rd_kafka_error_is_fatal(error) && !km_sig_stop) {
                        km_log_warn("init_transactions: %s; trying again",
                                    rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                        continue;
                }
                km_kafka_txn_err(error, "init_transactions", err, errlen);
                rd_kafka_destroy(rk);
                return NULL;
        }
        return rk;
fail:
        if (kc)
                rd_kafka_conf_destroy(kc);
        return NULL;
}

rd_kafka_t *km_kafka_consumer_new(
        const struct km_conf *conf, const char *group_id,
        void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                             rd_kafka_topic_partition_list_t *, void *),
        void *opaque, char *err, size_t errlen)
{
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        char errstr[512];

        kc = km_kafka_conf_new(conf, NULL, err, errlen);
        if (kc == NULL)
                return NULL;
        /* The opaque set below is the rebalance callback's, not a
         * km_kafka_counts: km_kafka_error_cb would write into it.  Let
         * librdkafka log errors itself. */
        rd_kafka_conf_set_error_cb(kc, NULL);
        if (km_kafka_set(kc, "group.id", group_id, err, errlen) ||
            km_kafka_set(kc, "isolation.level", "read_committed", err,
                         errlen) ||
            km_kafka_set(kc, "enable.auto.commit", "false", err, errlen) ||
            km_kafka_set(kc, "enable.auto.offset.store", "false", err,
                         errlen) ||
            km_kafka_set(kc, "auto.offset.reset", "earliest", err, errlen)) {
                rd_kafka_conf_destroy(kc);
                return NULL;
        }
        /* the verbatim kafka {} group may override the defaults above */
        for (size_t i = 0; i < conf->nkafka; i++)
                if (km_kafka_set(kc, conf->kafka_keys[i], conf->kafka_vals[i],
                                 err, errlen)) {
                        rd_kafka_conf_destroy(kc);
                        return NULL;
                }
        rd_kafka_conf_set_opaque(kc, opaque);
        if (rebalance_cb)
                rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
        if (rk == NULL) {
                rd_kafka_conf_destroy(kc);
                km_err_set(err, errlen, KM_EFATAL, "consumer: %s", errstr);
                return NULL;
        }
        rd_kafka_poll_set_consumer(rk);
        return rk;
}

rd_kafka_t *km_kafka_worker_consumer_new(
        const struct km_conf *conf, const char *group_id,
        void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                             rd_kafka_topic_partition_list_t *, void *),
        void *opaque, char *err, size_t errlen)
{
        static const char *const dk[] = {
                "queued.max.messages.kbytes", "queued.min.messages",
                "heartbeat.interval.ms", "session.timeout.ms"};
        static const char *const dv[] = {"8192", "20000", "1000", "10000"};
        const size_t nd = sizeof(dk) / sizeof(dk[0]);
        struct km_conf cc = *conf;
        size_t n = nd + conf->nkafka;
        char **k = km_xcalloc(n, sizeof(char *));
        char **v = km_xcalloc(n, sizeof(char *));
        rd_kafka_t *rk;

        /* defaults first: the verbatim kafka {} values, applied after
         * them, win */
        for (size_t i = 0; i < nd; i++) {
                k[i] = (char *)dk[i];
                v[i] = (char *)dv[i];
        }
        for (size_t i = 0; i < conf->nkafka; i++) {
                k[nd + i] = conf->kafka_keys[i];
                v[nd + i] = conf->kafka_vals[i];
        }
        cc.nkafka = n;
        cc.kafka_keys = k;
        cc.kafka_vals = v;
        rk = km_kafka_consumer_new(&cc, group_id, rebalance_cb, opaque, err,
                                   errlen);
        free(k); /* the strings belong to conf and the tables above */
        free(v);
        return rk;
}

void km_kafka_fetch_init(struct km_kafka_fetch *f, rd_kafka_t *rk)
{
        memset(f, 0, sizeof(*f));
        f->q = rd_kafka_queue_get_consumer(rk);
}

void km_kafka_fetch_destroy(struct km_kafka_fetch *f)
{
        if (f->q)
                rd_kafka_queue_destroy(f->q);
        f->q = NULL;
}

#define KM_KAFKA_KICK_MIN 1000 /* a queue this long may have stopped */

int km_kafka_fetch_kick(rd_kafka_t *rk, struct km_kafka_fetch *f)
{
        rd_kafka_topic_partition_list_t *a = NULL;
        int64_t n = f->q ? (int64_t)rd_kafka_queue_length(f->q) : 0;
        int kicked = 0;

        if (n > f->peak)
                f->peak = n;
        if (f->peak < KM_KAFKA_KICK_MIN || n > f->peak / 4)
                return 0;
        f->peak = n;
        if (rd_kafka_assignment(rk, &a) || a->cnt == 0)
                goto cleanup;
        for (int i = 0; i < a->cnt; i++)
                a->elems[i].offset = RD_KAFKA_OFFSET_END; /* the latest */
        /* its answer is not needed: sending the request is the point */
        (void)rd_kafka_offsets_for_times(rk, a, 1000);
        f->kicks++;
        kicked = 1;
cleanup:
        if (a)
                rd_kafka_topic_partition_list_destroy(a);
        return kicked;
}

int km_kafka_subscribe(rd_kafka_t *rk, const char *const *topics, int n,
                       char *err, size_t errlen)
{
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(n);
        rd_kafka_resp_err_t e;

        for (int i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(l, topics[i],
                                                  RD_KAFKA_PARTITION_UA);
        e = rd_kafka_subscribe(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e)
                return km_err_set(err, errlen, KM_EFATAL, "subscribe: %s",
                                  rd_kafka_err2str(e));
        return 0;
}

int km_kafka_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                     const char *key, const void *payload, size_t len,
                     struct km_kafka_counts *counts, int timeout_ms, char *err,
                     size_t errlen)
{
        int64_t deadline = km_now_ms() + timeout_ms;
        rd_kafka_resp_err_t e;

        for (;;) {
                e = rd_kafka_producev(
                        rk, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                        RD_KAFKA_V_VALUE((void *)payload, len),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                        if (counts)
                                counts->produced++;
                        rd_kafka_poll(rk, 0);
                        return 0;
                }
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                if (km_now_ms() >= deadline)
                        return km_err_set(err, errlen, KM_ERETRY,
                                          "produce to %s: queue full for %d ms",
                                          topic, timeout_ms);
                rd_kafka_poll(rk, 100); /* serve delivery reports */
        }
        if (e == RD_KAFKA_RESP_ERR__FATAL)
                return km_err_set(err, errlen, KM_EFATAL, "produce to %s: %s",
                                  topic, rd_kafka_err2str(e));
        if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
                return km_err_set(err, errlen, KM_EINPUT, "produce to %s: %s",
                                  topic, rd_kafka_err2str(e));
        return km_err_set(err, errlen,
                          e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                                          e == RD_KAFKA_RESP_ERR__STATE
                                  ? KM_EFATAL
                                  : KM_ERETRY,
                          "produce to %s: %s", topic, rd_kafka_err2str(e));
}

int km_kafka_flush(rd_kafka_t *rk, int timeout_ms, char *err, size_t errlen)
{
        rd_kafka_flush(rk, timeout_ms);
        if (rd_kafka_outq_len(rk) > 0)
                return km_err_set(err, errlen, KM_ERETRY,
                                  "%d message(s) still in flight after %d ms",
                                  rd_kafka_outq_len(rk), timeout_ms);
        return 0;
}

int km_kafka_txn_err(rd_kafka_error_t *error, const char *what, char *err,
                     size_t errlen)
{
        int code;

        if (error == NULL)
                return 0;
        if (rd_kafka_error_is_fatal(error))
                code = KM_EFATAL;
        else if (rd_kafka_error_txn_requires_abort(error) ||
                 rd_kafka_error_is_retriable(error))
                code = KM_ERETRY;
        else
                code = KM_EFATAL;
        km_err_set(err, errlen, code, "%s: %s%s", what,
                   rd_kafka_error_string(error),
                   rd_kafka_error_txn_requires_abort(error)
                           ? " (transaction must be aborted)"
                           : "");
        rd_kafka_error_destroy(error);
        return code;
}

int km_kafka_txn_commit(rd_kafka_t *rk, int timeout_ms, int tries, char *err,
                        size_t errlen)
{
        for (int n = 1;; n++) {
                rd_kafka_error_t *e =
                        rd_kafka_commit_transaction(rk, timeout_ms);

                if (e && rd_kafka_error_is_retriable(e) &&
                    !rd_kafka_error_txn_requires_abort(e) &&
                    !rd_kafka_error_is_fatal(e) && n < tries && !km_sig_stop) {
                        km_log_warn("commit_transaction: %s; committing again "
                                    "(%d)",
                                    rd_kafka_error_string(e), n);
                        rd_kafka_error_destroy(e);
                        continue;
                }
                if (e && rd_kafka_error_is_retriable(e) &&
                    !rd_kafka_error_txn_requires_abort(e) &&
                    !rd_kafka_error_is_fatal(e) && !km_sig_stop) {
                        /* still in flight: an abort now would conflict
                         * with it and leave the producer unusable */
                        km_err_set(err, errlen, KM_EFATAL,
                                   "commit_transaction: not committed after "
                                   "%d tries: %s",
                                   n, rd_kafka_error_string(e));
                        rd_kafka_error_destroy(e);
                        return KM_EFATAL;
                }
                return km_kafka_txn_err(e, "commit_transaction", err, errlen);
        }
}

int km_kafka_rewind(rd_kafka_t *rk, char *err, size_t errlen)
{
        rd_kafka_topic_partition_list_t *parts = NULL;
        rd_kafka_resp_err_t e;
        int r = 0;

        e = rd_kafka_assignment(rk, &parts);
        if (e)
                return km_err_set(err, errlen, KM_EFATAL, "assignment: %s",
                                  rd_kafka_err2str(e));
        e = rd_kafka_committed(rk, parts, 10000);
        if (e) {
                r = km_err_set(err, errlen, KM_ERETRY, "committed: %s",
                               rd_kafka_err2str(e));
                goto cleanup;
        }
        for (int i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *p = &parts->elems[i];

                if (p->offset < 0)
                        p->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        {
                rd_kafka_error_t *error =
                        rd_kafka_seek_partitions(rk, parts, 10000);

                if (error) {
                        r = km_err_set(err, errlen, KM_ERETRY, "seek: %s",
                                       rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                        goto cleanup;
                }
                for (int i = 0; i < parts->cnt; i++)
                        if (parts->elems[i].err)
                                r = km_err_set(
                                        err, errlen, KM_ERETRY,
                                        "seek %s[%d]: %s",
                                        parts->elems[i].topic,
                                        parts->elems[i].partition,
                                        rd_kafka_err2str(parts->elems[i].err));
        }
cleanup:
        rd_kafka_topic_partition_list_destroy(parts);
        return r;
}

int km_kafka_rebalance_coop(rd_kafka_t *rk)
{
        char v[256];
        size_t n = sizeof(v);

        if (rd_kafka_conf_get(rd_kafka_conf(rk),
                              "partition.assignment.strategy", v,
                              &n) != RD_KAFKA_CONF_OK)
                return 0;
        return strstr(v, "cooperative") != NULL;
}

int km_kafka_rebalance_stored(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                              rd_kafka_topic_partition_list_t *parts,
                              km_kafka_seek_cb *seek,
                              void (*revoke)(void *opaque, int lost),
                              void *opaque, char *err, size_t errlen)
{
        int coop = km_kafka_rebalance_coop(rk);
        rd_kafka_error_t *error = NULL;
        char serr[384];
        int r = 0;

        if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                if (seek(opaque, parts, serr, sizeof(serr)))
                        r = km_err_set(err, errlen, KM_ERETRY,
                                       "stored offsets: %s; starting from "
                                       "the beginning",
                                       serr);
                if (coop)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        rd_kafka_assign(rk, parts);
        } else {
                revoke(opaque, rd_kafka_assignment_lost(rk));
                if (coop)
                        error = rd_kafka_incremental_unassign(rk, parts);
                else
                        rd_kafka_assign(rk, NULL);
        }
        if (error) {
                r = km_err_set(err, errlen, KM_ERETRY, "rebalance: %s",
                               rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
        return r;
}

int km_kafka_rewind_stored(rd_kafka_t *rk, km_kafka_seek_cb *seek, void *opaque,
                           char *err, size_t errlen)
{
        rd_kafka_topic_partition_list_t *a = NULL;
        rd_kafka_error_t *error;
        int r = 0;

        if (rd_kafka_assignment(rk, &a) || a->cnt == 0)
                goto out;
        if ((r = seek(opaque, a, err, errlen)))
                goto out;
        error = rd_kafka_seek_partitions(rk, a, 10000);
        if (error) {
                r = km_err_set(err, errlen, KM_ERETRY, "seek: %s",
                               rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                goto out;
        }
        for (int i = 0; i < a->cnt; i++)
                if (a->elems[i].err)
                        r = km_err_set(err, errlen, KM_ERETRY,
                                       "seek %s[%d]: %s", a->elems[i].topic,
                                       (int)a->elems[i].partition,
                                       rd_kafka_err2str(a->elems[i].err));
out:
        if (a)
                rd_kafka_topic_partition_list_destroy(a);
        return r;
}

void km_kafka_reseek_mark(struct km_kafka_reseek *rs)
{
        rs->need = 1;
}

int km_kafka_reseek_need(const struct km_kafka_reseek *rs)
{
        return rs->need;
}

void km_kafka_reseek_pause(void)
{
        struct timespec pause = {KM_KAFKA_RESEEK_PAUSE_MS / 1000,
                                 (KM_KAFKA_RESEEK_PAUSE_MS % 1000) * 1000000L};

        nanosleep(&pause, NULL); /* EINTR: a stop signal cuts it short */
}

int km_kafka_reseek_try(struct km_kafka_reseek *rs, rd_kafka_t *rk,
                        km_kafka_seek_cb *seek, void *opaque, char *err,
                        size_t errlen)
{
        int r;

        if (!rs->need)
                return 0;
        r = seek ? km_kafka_rewind_stored(rk, seek, opaque, err, errlen)
                 : km_kafka_rewind(rk, err, errlen);
        if (r) {
                km_kafka_reseek_pause();
                return r;
        }
        rs->need = 0;
        return 0;
}

int km_kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int n = -1;

        if (rkt == NULL)
                return -1;
        if (rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) == 0 &&
            md->topic_cnt == 1 && md->topics[0].err == 0)
                n = md->topics[0].partition_cnt;
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return n;
}
