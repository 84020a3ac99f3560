/*
 * intake_publish.c - one record to the complaints topic (valid) or to
 * complaints.dlq (invalid), the reason tally, the progress line and the
 * summary.
 *
 * Every record goes through the common model (km_complaint_parse or
 * km_complaint_from_json, KM_CPL_INTAKE): this file adds no rule of its
 * own except the CSV-only reason invalid_csv, decided in intake_input.c.
 * A full producer queue is waited out, polling, while the broker still
 * makes progress; once deliveries fail or nothing moves for
 * intake.delivery_timeout_ms, reading stops and main() reports what was not
 * delivered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake.h"
#include "km_complaint.h"
#include "km_log.h"
#include "km_sig.h"
#include "km_util.h"

static void intake_count_reason(struct intake *in, const char *reason)
{
        for (size_t i = 0; i < in->nreasons; i++) {
                if (strcmp(in->reasons[i].name, reason) == 0) {
                        in->reasons[i].n++;
                        return;
                }
        }
        in->reasons = km_xrealloc(in->reasons,
                                  (in->nreasons + 1) * sizeof(*in->reasons));
        snprintf(in->reasons[in->nreasons].name,
                 sizeof(in->reasons[0].name), "%s", reason);
        in->reasons[in->nreasons].n = 1;
        in->nreasons++;
}

static void intake_stop(struct intake *in, const char *why, const char *file,
                        int64_t line)
{
        if (in->stopped)
                return;
        in->stopped = 1;
        snprintf(in->stop_why, sizeof(in->stop_why), "%s", why);
        snprintf(in->stop_at, sizeof(in->stop_at), "%s:%lld", file,
                 (long long)line);
}

/* Hand one message to librdkafka; wait out a full queue while deliveries
 * move.  @returns 0 when queued, -1 when reading must stop. */
static int intake_produce(struct intake *in, const char *topic,
                          const char *key, const char *payload, size_t len,
                          const char *file, int64_t line)
{
        char err[512];
        int64_t moved = in->counts.delivered + in->counts.failed;
        int64_t idle_since = km_now_ms();
        int r;

        for (;;) {
                if (in->counts.fatal) {
                        intake_stop(in, in->counts.fatal_reason, file, line);
                        return -1;
                }
                if (in->counts.failed > 0) {
                        intake_stop(in, in->counts.last_error, file, line);
                        return -1;
                }
                r = km_kafka_produce(in->rk, topic, RD_KAFKA_PARTITION_UA, key,
                                     payload, len, &in->counts, 500, err,
                                     sizeof(err));
                if (r == 0)
                        return 0;
                if (r != KM_ERETRY) {
                        intake_stop(in, err, file, line);
                        return -1;
                }
                /* queue full: wait while the broker takes messages */
                if (in->counts.delivered + in->counts.failed != moved) {
                        moved = in->counts.delivered + in->counts.failed;
                        idle_since = km_now_ms();
                }
                if (km_sig_stop) {
                        intake_stop(in, "stopped by signal", file, line);
                        return -1;
                }
                if (km_now_ms() - idle_since > in->ic->delivery_timeout_ms) {
                        intake_stop(in, "broker not taking messages", file,
                                    line);
                        return -1;
                }
                intake_progress(in, 0);
        }
}

/* Queue one item; the batch is worked and published when full or when
 * the file changes (intake_flush). */
static struct intake_item *intake_item_add(struct intake *in,
                                           const char *buf, size_t len,
                                           const char *file, int64_t line)
{
        struct intake_batch *b = &in->batch;
        struct intake_item *it;

        if (b->n > 0 && b->file != file)
                intake_flush(in);
        if (b->cap == 0) {
                b->cap = INTAKE_BATCH;
                b->items = km_xcalloc(b->cap, sizeof(*b->items));
        }
        b->file = file;
        it = &b->items[b->n++];
        memset(it, 0, sizeof(*it));
        it->buf = km_xmalloc(len + 1);
        memcpy(it->buf, buf, len);
        it->buf[len] = '\0';
        it->len = len;
        it->line = line;
        in->read++;
        return it;
}

void intake_reject(struct intake *in, const char *reason, const char *detail,
                   const char *buf, size_t len, const char *file,
                   int64_t line)
{
        struct intake_item *it = intake_item_add(in, buf, len, file, line);

        snprintf(it->reason, sizeof(it->reason), "%s", reason);
        it->detail = km_xstrdup(detail);
        if (in->batch.n == in->batch.cap)
                intake_flush(in);
}

void intake_record(struct intake *in, const char *buf, size_t len,
                   json_t *obj, const char *file, int64_t line)
{
        struct intake_item *it = intake_item_add(in, buf, len, file, line);

        it->obj = obj;
        if (in->batch.n == in->batch.cap)
                intake_flush(in);
}

void intake_flush(struct intake *in)
{
        struct intake_batch *b = &in->batch;

        if (b->n == 0)
                return;
        intake_work(in); /* parse, validate, serialise: in parallel */
        for (size_t i = 0; i < b->n; i++) {
                struct intake_item *it = &b->items[i];

                if (!in->stopped &&
                    intake_produce(in,
                                   it->valid ? in->conf->topic_complaints
                                             : in->conf->topic_dlq,
                                   it->key, it->payload, strlen(it->payload),
                                   b->file, it->line) == 0) {
                        if (it->valid) {
                                in->published++;
                        } else {
                                in->dlq++;
                                intake_count_reason(in, it->reason);
                                km_log_debug("%s:%lld: dead-lettered: %s",
                                             b->file, (long long)it->line,
                                             it->reason);
                        }
                }
                free(it->payload);
                free(it->key);
                free(it->detail);
                free(it->buf);
                json_decref(it->obj);
        }
        b->n = 0;
        intake_progress(in, 0);
}

void intake_progress(struct intake *in, int final)
{
        int64_t now = km_now_ms();
        double secs;

        rd_kafka_poll(in->rk, 0);
        if (!in->tty || !in->ic->progress)
                return;
        if (!final && now - in->last_progress_ms < 500)
                return;
        in->last_progress_ms = now;
        secs = (double)(now - in->start_ms) / 1000.0;
        fprintf(stderr,
                "\r\033[Kkomek-intake: read %lld, published %lld, "
                "dead-lettered %lld, acknowledged %lld (%.0f/s)",
                (long long)in->read, (long long)in->published,
                (long long)in->dlq, (long long)in->counts.delivered,
                secs > 0 ? (double)in->read / secs : 0.0);
        if (final)
                fputs("\r\033[K", stderr);
}

void intake_summary(const struct intake *in, int64_t undelivered,
                    double secs)
{
        char reasons[2048] = "";
        size_t off = 0;

        for (size_t i = 0; i < in->nreasons && off < sizeof(reasons); i++)
                off += (size_t)snprintf(reasons + off, sizeof(reasons) - off,
                                        "%s%s %lld", i ? ", " : " (",
                                        in->reasons[i].name,
                                        (long long)in->reasons[i].n);
        if (in->nreasons && off < sizeof(reasons))
                snprintf(reasons + off, sizeof(reasons) - off, ")");
        fprintf(stderr,
                "komek-intake: read %lld, published %lld, dead-lettered "
                "%lld%s, not delivered %lld, blank %lld, files %d (%d "
                "failed), %.2f s, %.0f msg/s\n",
                (long long)in->read, (long long)in->published,
                (long long)in->dlq, reasons, (long long)undelivered,
                (long long)in->blank, in->files, in->files_failed, secs,
                secs > 0 ? (double)(in->published + in->dlq) / secs : 0.0);
        if (in->stopped)
                fprintf(stderr,
                        "komek-intake: stopped reading at %s: %s\n",
                        in->stop_at, in->stop_why);
}
