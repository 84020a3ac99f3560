/*
 * notify.c - komek-notify: main, the run loop and rebalancing
 * (notify.h says what it does; docs/notify.md how to set it up).
 *
 * One loop: consume dispatch and task-events into the open batch; write the batch (rows
 * and offsets, one transaction) when it is full, batch_ms old or the
 * stream pauses; between batches run a sender round and, every
 * sla_scan_ms, the SLA scan.  Offsets live in PostgreSQL: on every
 * assignment the consumer seeks to them; nothing is committed to Kafka.
 * SIGTERM / SIGINT: write the open batch, finish the message being sent,
 * exit 0.
 */
#include <curl/curl.h>
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
#include "notify.h"

#define NOTIFY_OFF(f) offsetof(struct notify_conf, f)

static const struct km_conf_key notify_keys[] = {
        {"notify.group", KM_CT_STR, "komek-notify", 1, 200, NOTIFY_OFF(group),
         "group", "consumer group id"},
        {"notify.name", KM_CT_STR, NULL, 0, 200, NOTIFY_OFF(name), NULL,
         "consumer name in consumer_offsets (default: the group)"},
        {"notify.batch_size", KM_CT_INT, "500", 1, 100000,
         NOTIFY_OFF(batch_size), "batch-size", "messages per transaction"},
        {"notify.batch_ms", KM_CT_INT, "200", 1, 60000, NOTIFY_OFF(batch_ms),
         "batch-ms", "longest a batch stays open (ms)"},
        {"notify.inbox_url", KM_CT_STR, "http://127.0.0.1:8080", 1, 512,
         NOTIFY_OFF(inbox_url), "inbox-url",
         "the web inbox; a task is <inbox_url>/tasks/<complaint_id>"},
        {"notify.urgent_sla_hours", KM_CT_INT, "4", 0, 1000,
         NOTIFY_OFF(urgent_sla_hours), NULL,
         "a task with this SLA or shorter (or an emergency) goes at once"},
        {"notify.send_batch", KM_CT_INT, "50", 1, 1000, NOTIFY_OFF(send_batch),
         NULL, "rows claimed per sender round"},
        {"notify.lease_s", KM_CT_INT, "120", 5, 86400, NOTIFY_OFF(lease_s),
         NULL, "a claimed row is tried again after this long (a crash)"},
        {"notify.retry_base_ms", KM_CT_INT, "30000", 1, 86400000,
         NOTIFY_OFF(retry_base_ms), NULL, "first retry after about this long"},
        {"notify.retry_max_ms", KM_CT_INT, "1800000", 1, 86400000,
         NOTIFY_OFF(retry_max_ms), NULL, "retries at most this far apart"},
        {"notify.max_age_s", KM_CT_INT, "86400", 1, 2592000,
         NOTIFY_OFF(max_age_s), "max-age-s",
         "give up (dead letter) a notification this old"},
        {"notify.timeout_ms", KM_CT_INT, "10000", 100, 600000,
         NOTIFY_OFF(timeout_ms), NULL, "one webhook POST or SMTP session"},
        {"notify.ca_file", KM_CT_STR, NULL, 0, 4096, NOTIFY_OFF(ca_file),
         "ca-file", "CA certificates for HTTPS and SMTP (default: system)"},
        {"notify.smtp_url", KM_CT_STR, "smtp://127.0.0.1:587", 1, 512,
         NOTIFY_OFF(smtp_url), "smtp-url", "the mail relay"},
        {"notify.smtp_user", KM_CT_STR, NULL, 0, 256, NOTIFY_OFF(smtp_user),
         NULL, "SMTP AUTH user (none: no AUTH)"},
        {"notify.smtp_password", KM_CT_STR, NULL, 0, 256,
         NOTIFY_OFF(smtp_password), NULL, "SMTP AUTH password"},
        {"notify.smtp_starttls", KM_CT_BOOL, "true", 0, 0,
         NOTIFY_OFF(smtp_starttls), NULL,
         "require STARTTLS (or smtps://) before AUTH and mail"},
        {"notify.mail_from", KM_CT_STR, "komek@localhost", 3, 254,
         NOTIFY_OFF(mail_from), NULL, "the envelope and From address"},
        {"notify.sla_warn_minutes", KM_CT_INT, "60", 0, 10080,
         NOTIFY_OFF(sla_warn_minutes), NULL,
         "warn of an open task this long before due_at (0: off)"},
        {"notify.sla_scan_ms", KM_CT_INT, "60000", 100, 3600000,
         NOTIFY_OFF(sla_scan_ms), NULL, "how often open tasks are scanned"},
        KM_METRICS_CONF_KEYS("notify", struct notify_conf, metrics_address,
                             metrics_port),
        KM_OBS_PORT_FILE_KEY("notify", struct notify_conf, metrics_port_file),
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void notify_metrics_init(struct notify *n)
{
        struct notify_metrics *m = &n->m;
        static const char *const ch[2] = {"email", "webhook"};
        char labels[128];

        m->reg = km_obs_new("komek-notify", n->nc->metrics_port);
        if (m->reg == NULL)
                return;
        m->in = km_obs_messages(m->reg, n->conf->topic_dispatch, "in", NULL);
        m->invalid = km_obs_messages(m->reg, n->conf->topic_dispatch, "dlq",
                                     "invalid_dispatch");
        m->ev_in =
                km_obs_messages(m->reg, n->conf->topic_task_events, "in", NULL);
        m->ev_invalid = km_obs_messages(m->reg, n->conf->topic_task_events,
                                        "dlq", "invalid_task_event");
        m->cancelled = km_metrics_counter(
                m->reg, "komek_notify_cancelled_total", NULL,
                "delivery rows cancelled: their task was acknowledged, resolved "
                "or rejected first");
        m->logged =
                km_metrics_counter(m->reg, "komek_notify_logged_total", NULL,
                                   "delivery rows written to the log");
        for (int i = 0; i < 2; i++) {
                static const char *const oc[3] = {"sent", "retry", "dead"};
                struct km_metric **dst[3] = {&m->sent[i], &m->retry[i],
                                             &m->dead[i]};

                for (int j = 0; j < 3; j++)
                        if (km_metrics_labels(labels, sizeof(labels), "channel",
                                              ch[i], "outcome", oc[j], NULL))
                                *dst[j] = km_metrics_counter(
                                        m->reg, "komek_notify_deliveries_total",
                                        labels,
                                        "notifications sent, retried, given up "
                                        "(dead-lettered)");
        }
        m->last_commit = km_metrics_gauge(m->reg, KM_METRIC_LAST_COMMIT, NULL,
                                          "unix time of the last commit");
}

static int notify_seek(void *opaque, rd_kafka_topic_partition_list_t *parts,
                       char *err, size_t errlen)
{
        return notify_log_seek(opaque, parts, err, errlen);
}

static void notify_flush(struct notify *n, int rewind)
{
        char err[512];
        int r = notify_log_write(n, err, sizeof(err));

        if (r == 0)
                return;
        notify_log_clear(n);
        if (r == KM_EFATAL) {
                km_log_error("batch: %s", err);
                n->fatal = 1;
                return;
        }
        km_log_warn("batch: %s: rolled back, rewinding", err);
        if (rewind)
                km_kafka_reseek_mark(&n->reseek);
}

/* After a failed batch: reconnect when needed, then seek the assignment
 * to the stored offsets; until that worked nothing more is read (as
 * komek-tasksink's tasksink_recover: reading on would log offsets past
 * the failed batch, and its notifications would never be sent).  500 ms
 * between attempts (km_kafka_reseek_try). */
static void notify_recover(struct notify *n)
{
        char err[512];

        if (PQstatus(n->conn) != CONNECTION_OK)
                PQreset(n->conn);
        if (km_kafka_reseek_try(&n->reseek, n->consumer, notify_seek, n, err,
                                sizeof(err)))
                km_log_warn("rewind: %s (trying every %d ms)", err,
                            KM_KAFKA_RESEEK_PAUSE_MS);
}

/* A revoke writes the open batch (lost partitions: dropped, the new owner
 * reads it again from the stored offsets). */
static void notify_revoke(void *opaque, int lost)
{
        struct notify *n = opaque;

        km_log_info("revoking partition(s)%s", lost ? " (lost)" : "");
        if (lost)
                notify_log_clear(n);
        else
                notify_flush(n, 0);
}

/* Without the database a new assignment starts from the beginning: the
 * log's unique key drops what was logged already. */
static void notify_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                                rd_kafka_topic_partition_list_t *parts,
                                void *opaque)
{
        char err[512];

        if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
                km_log_info("assigned %d partition(s)", parts->cnt);
        if (km_kafka_rebalance_stored(rk, e, parts, notify_seek, notify_revoke,
                                      opaque, err, sizeof(err)))
                km_log_warn("%s", err);
}

/* Between batches: the SLA scan when due, then one sender round; the
 * next round at once while rounds find work, else in 500 ms. */
static void notify_background(struct notify *n)
{
        int64_t now = km_now_ms();
        char err[512];
        int nsent = 0, r;

        if (now >= n->next_scan_ms) {
                n->next_scan_ms = now + n->nc->sla_scan_ms;
                if (notify_sla_scan(n, err, sizeof(err)))
                        km_log_warn("sla scan: %s", err);
        }
        if (now < n->next_send_ms)
                return;
        r = notify_send_round(n, &nsent, err, sizeof(err));
        if (r) {
                km_log_warn("send: %s", err);
                if (PQstatus(n->conn) != CONNECTION_OK)
                        PQreset(n->conn);
                if (r == KM_EFATAL && n->pcounts.fatal)
                        n->fatal = 1;
        }
        n->next_send_ms = nsent > 0 && r == 0 ? 0 : km_now_ms() + 500;
}

static int notify_run(struct notify *n)
{
        int64_t last_msg_ms = 0;

        while (!km_sig_stop && !n->fatal) {
                rd_kafka_message_t *rkm;
                int64_t now;
                char err[512];

                if (km_kafka_reseek_need(&n->reseek)) {
                        notify_recover(n);
                        continue;
                }
                /* no wait while the sender has work */
                rkm = rd_kafka_consumer_poll(
                        n->consumer, n->offsets                       ? 5
                                     : n->next_send_ms <= km_now_ms() ? 0
                                                                      : 100);

                if (rkm) {
                        if (rkm->err) {
                                if (rkm->err == RD_KAFKA_RESP_ERR__FATAL)
                                        n->fatal = 1;
                                if (rkm->err !=
                                    RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                        km_log_warn(
                                                "consumer: %s",
                                                rd_kafka_message_errstr(rkm));
                        } else {
                                notify_log_message(n, rkm, err, sizeof(err));
                        }
                        rd_kafka_message_destroy(rkm);
                }
                now = km_now_ms();
                if (rkm)
                        last_msg_ms = now;
                if (n->offsets &&
                    ((rkm == NULL && now - last_msg_ms >= 5) ||
                     (int64_t)json_array_size(n->batch) >= n->nc->batch_size ||
                     now - n->batch_start_ms >= n->nc->batch_ms))
                        notify_flush(n, 1);
                if (n->offsets == NULL && !km_sig_stop)
                        notify_background(n);
                /* the broker probe through the producer: the consumer's
                 * metadata request would wait behind its parked Fetch */
                km_obs_tick(&n->m.probe, n->m.reg, n->producer, n->consumer,
                            n->offsets ? NULL : n->conn);
                if (n->pcounts.fatal) {
                        km_log_error("producer: %s", n->pcounts.fatal_reason);
                        n->fatal = 1;
                }
        }
        if (!n->fatal)
                notify_flush(n, 0);
        return n->fatal ? KM_EFATAL : 0;
}

static int notify_init(struct notify *n, const struct km_conf *conf,
                       const struct notify_conf *nc, char *err, size_t errlen)
{
        const char *topics[2] = {conf->topic_dispatch, conf->topic_task_events};
        int rc;

        n->conf = conf;
        n->nc = nc;
        n->name = nc->name ? nc->name : nc->group;
        notify_metrics_init(n);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return km_err_set(err, errlen, KM_EFATAL,
                                  "curl_global_init failed");
        n->conn = km_pg_connect(conf->pg_conninfo, "komek-notify",
                                (int)conf->pg_connect_timeout_s, err, errlen);
        if (n->conn == NULL)
                return KM_EFATAL;
        n->producer =
                km_kafka_producer_new(conf, NULL, &n->pcounts, err, errlen);
        if (n->producer == NULL)
                return KM_EFATAL;
        n->consumer = km_kafka_worker_consumer_new(
                conf, nc->group, notify_rebalance_cb, n, err, errlen);
        if (n->consumer == NULL)
                return KM_EFATAL;
        rc = km_kafka_subscribe(n->consumer, topics, 2, err, errlen);
        if (rc)
                return rc;
        return km_obs_serve(n->m.reg, nc->metrics_address, nc->metrics_port,
                            nc->metrics_port_file, err, errlen);
}

static void notify_destroy(struct notify *n)
{
        char err[512];

        if (n->consumer) {
                rd_kafka_consumer_close(n->consumer);
                rd_kafka_destroy(n->consumer);
        }
        notify_log_clear(n);
        if (n->producer) {
                if (km_kafka_flush(n->producer, 10000, err, sizeof(err)))
                        km_log_warn("flush: %s", err);
                rd_kafka_destroy(n->producer);
        }
        if (n->conn)
                PQfinish(n->conn);
        km_metrics_destroy(n->m.reg);
        if (n->curl)
                curl_easy_cleanup(n->curl);
        curl_global_cleanup();
}

static void notify_usage(const struct km_conf *conf)
{
        fprintf(stdout, "usage: komek-notify [options]\n"
                        "Tells organisations of their tasks "
                        "(topics.dispatch) by e-mail and webhook.\n"
                        "exit: 0 ok (also on SIGTERM), 1 failure, 2 usage\n");
        km_conf_usage(conf, stdout);
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct notify_conf nc;
        struct notify n;
        char err[512];
        int code;

        memset(&nc, 0, sizeof(nc));
        memset(&n, 0, sizeof(n));
        if (km_main_conf(&conf, "komek-notify", notify_keys, &nc, argc, argv,
                         notify_usage, 0, &code))
                return code;
        km_main_start(&conf, "komek-notify", 0);
        srand((unsigned)time(NULL) ^ (unsigned)getpid());
        code = notify_init(&n, &conf, &nc, err, sizeof(err));
        if (code) {
                km_log_error("start: %s", err);
        } else {
                km_log_info("started: group %s, %s, %s -> notify_deliveries",
                            nc.group, conf.topic_dispatch,
                            conf.topic_task_events);
                if (km_metrics_port(n.m.reg))
                        km_log_info("metrics on http://%s:%d/metrics",
                                    nc.metrics_address,
                                    km_metrics_port(n.m.reg));
                code = notify_run(&n);
        }
        km_log_info("stopped: consumed %lld, logged %lld, invalid %lld, "
                    "cancelled %lld, sent %lld, retried %lld, dead-lettered "
                    "%lld, batches %lld",
                    (long long)n.consumed, (long long)n.logged,
                    (long long)n.invalid, (long long)n.cancelled,
                    (long long)n.sent, (long long)n.retried, (long long)n.dead,
                    (long long)n.batches);
        notify_destroy(&n);
        km_conf_destroy(&conf);
        return code == 0 ? 0 : code == KM_ECONFIG ? 2 : 1;
}
