/*
 * notify.h - komek-notify: tells organisations of their tasks by e-mail
 * and webhook (issue 22, docs/notify.md).
 *
 * Two halves in one loop.  The logger consumes `dispatch`
 * (read_committed) and writes, per message and per delivery channel of
 * the task's organisation (org_channels), one notify_deliveries row, in
 * the same PostgreSQL transaction as the consumed offsets
 * (consumer_offsets, key notify.name): a restart or rebalance starts
 * where the last committed batch ended, and the unique (event_id,
 * channel, target) drops a row logged already, so nothing is logged
 * twice.  The sender claims due rows with a lease, sends them (libcurl:
 * HTTPS POST or SMTP) and marks them sent, or schedules the next try
 * (exponential backoff with jitter) until notify.max_age_s, then
 * dead-letters them (complaints.dlq, reason notify_undeliverable) and
 * marks them dead.  A crash between a send and its mark sends again
 * after the lease: the receiver drops it by the idempotency key
 * (webhook) or Message-ID (e-mail).  SLA warnings are rows the sender's
 * periodic scan adds for open tasks due soon.
 *
 * The logger also consumes `task-events`, in the same batches and
 * transactions: a task acknowledged, resolved or rejected cancels its
 * pending SLA warnings and new-task e-mail (docs/notify.md "When the
 * task moves on"; deploy/sql/111_notify_task_events.sql).
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_err.h"
#include "km_kafka.h"
#include "km_metrics.h"
#include "km_obs.h"

struct notify_conf {
        char *group; /* consumer group id */
        char *name;  /* consumer name in consumer_offsets; NULL: group */
        int64_t batch_size;
        int64_t batch_ms;
        char *inbox_url;          /* the web inbox: <url>/tasks/<id> */
        int64_t urgent_sla_hours; /* SLA this short or less: at once */
        int64_t send_batch;       /* rows claimed per sender round */
        int64_t lease_s;          /* a claimed row's lease */
        int64_t retry_base_ms;    /* first retry after about this long */
        int64_t retry_max_ms;     /* retries at most this far apart */
        int64_t max_age_s;        /* then dead-lettered */
        int64_t timeout_ms;       /* one HTTP or SMTP exchange */
        char *ca_file;            /* NULL-able: the system's CAs */
        char *smtp_url;           /* smtp://relay:587 (STARTTLS) */
        char *smtp_user;          /* NULL-able: no AUTH */
        char *smtp_password;
        int smtp_starttls; /* require STARTTLS */
        char *mail_from;
        int64_t sla_warn_minutes; /* warn this long before due_at; 0 off */
        int64_t sla_scan_ms;
        char *metrics_address;
        int64_t metrics_port;
        char *metrics_port_file;
};

/* One claimed delivery row (notify_send.c). */
struct notify_row {
        char *id, *event_id, *kind, *complaint_id, *attempt, *org_id, *channel,
                *target, *category, *district, *building_id, *routed_at,
                *due_at, *created_at, *origin_partition, *origin_offset,
                *secret; /* secret NULL: channel gone */
        int urgent, tries, done;
        int64_t age_s;
};

struct notify_metrics {
        struct km_metrics *reg; /* NULL: metrics off */
        struct km_metric *in, *logged, *invalid;
        struct km_metric *ev_in, *ev_invalid, *cancelled; /* task-events */
        struct km_metric *sent[2], *retry[2], *dead[2];   /* email, webhook */
        struct km_metric *last_commit;
        struct km_obs_probe probe;
};

struct notify {
        struct km_kafka_counts ccounts;
        const struct km_conf *conf;
        const struct notify_conf *nc;
        const char *name;
        PGconn *conn;
        rd_kafka_t *consumer;
        rd_kafka_t *producer; /* dead letters */
        struct km_kafka_counts pcounts;
        json_t *batch;  /* the open batch's validated dispatch messages */
        json_t *events; /* ... and task events that may cancel rows */
        rd_kafka_topic_partition_list_t *offsets;
        int64_t batch_start_ms;
        int dlq_failed;
        int64_t failed_seen;
        int64_t next_scan_ms, next_send_ms;
        int fatal;
        /* a batch failed: nothing more is read until the assignment is
         * back at the stored offsets (reading on would skip the batch) */
        struct km_kafka_reseek reseek;
        int64_t consumed, logged, invalid, sent, retried, dead, batches;
        int64_t cancelled;
        struct notify_metrics m;
        void *curl; /* CURL *, reused: kept-alive HTTPS connections */
};

/* notify_log.c */
/* One message into the open batch, or dead-lettered (a failed dead letter
 * sets n->dlq_failed, and n->fatal on KM_EFATAL: the batch rolls back). */
void notify_log_message(struct notify *n, const rd_kafka_message_t *rkm,
                        char *err, size_t errlen);
int notify_log_write(struct notify *n, char *err, size_t errlen) KM_MUSTCHECK;
void notify_log_clear(struct notify *n);
int notify_log_seek(struct notify *n, rd_kafka_topic_partition_list_t *parts,
                    char *err, size_t errlen) KM_MUSTCHECK;
int notify_sla_scan(struct notify *n, char *err, size_t errlen) KM_MUSTCHECK;
int notify_dlq(struct notify *n, const char *stage, const char *topic,
               int32_t partition, int64_t offset, json_t *origin,
               const char *reason, const char *detail, const void *buf,
               size_t len, char *err, size_t errlen) KM_MUSTCHECK;

/* notify_send.c */
int notify_send_round(struct notify *n, int *nsent, char *err,
                      size_t errlen) KM_MUSTCHECK;

/* notify_http.c */
char *notify_webhook_body(const struct notify *n, const struct notify_row *r);
void notify_sign(const char *secret, const char *ts, const char *body,
                 char out[72]);
int notify_webhook_post(struct notify *n, const struct notify_row *r, char *err,
                        size_t errlen) KM_MUSTCHECK;

/* notify_mail.c */
char *notify_mail_build(const struct notify *n, struct notify_row **rows,
                        size_t nrows, char msgid[128]);
int notify_mail_send(const struct notify *n, const char *to, const char *msg,
                     char *err, size_t errlen) KM_MUSTCHECK;

#endif /* NOTIFY_H */
