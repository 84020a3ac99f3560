/*
 * intake_publish.c - one record to the complaints topic (valid) or to
 * complaints.dlq (invalid), the reason tally, the progress line and the
 * summary.
 *
 * Every record goes through the common model (km_complaint_parse or
 * km_complaint_from_json, KM_CPL_INTAKE): this file adds no rule of its
 * own except the CSV-only reason invalid_csv, decided in intake_input.c.
 * Valid records' canonical texts go to librdkafka from the batch's out
 * block (RD_KAFKA_MSG_F_COPY, as kcat -P: one allocation per message, made
 * and freed in this thread, key and value in one block);
 * dead letters through km_dlq_produce_file (Kafka Connect's error headers
 * and komek.origin.file/line, as every dead letter of komek).
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
#include "km_dlq.h"
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
        snprintf(in->reasons[in->nreasons].name, sizeof(in->reasons[0].name),
                 "%s", reason);
        in->reasons[in->nreasons].n = 1;
        in->nreasons++;
}

void intake_stop(struct intake *in, const char *why, const char *file,
                 int64_t line, int halt)
{
        pthread_mutex_lock(&in->stop_mu);
        if (!in->stopped) {
                snprintf(in->stop_why, sizeof(in->stop_why), "%s", why);
                snprintf(in->stop_at, sizeof(in->stop_at), "%s:%lld", file,
                         (long long)line);
                in->stopped = 1;
        }
        if (halt)
                in->halted = 1;
        pthread_mutex_unlock(&in->stop_mu);
}

/* Wait out a full producer queue while the broker takes messages.
 * @returns 0 to try again, -1 when reading must stop. */
static int intake_queue_full(struct intake *in, int64_t *moved,
                             int64_t *idle_since, const char *file,
                             int64_t line)
{
        if (in->counts.delivered + in->counts.failed != *moved) {
                *moved = in->counts.delivered + in->counts.failed;
                *idle_since = km_now_ms();
        }
        if (km_sig_stop) {
                intake_stop(in, "stopped by signal", file, line, 1);
                return -1;
        }
        if (km_now_ms() - *idle_since > in->ic->delivery_timeout_ms) {
                intake_stop(in, "broker not taking messages", file, line, 1);
                return -1;
        }
        rd_kafka_poll(in->rk, 100); /* serve delivery reports */
        intake_progress(in, 0);
        return 0;
}

/* Hand one valid record's canonical text to librdkafka, which copies it.
 * @returns 0 when queued, -1 when reading must stop. */
static int intake_produce(struct intake *in, const struct intake_batch *b,
                          const struct intake_item *it)
{
        const char *file = b->file;
        int64_t moved = in->counts.delivered + in->counts.failed;
        int64_t idle_since = km_now_ms();
        rd_kafka_resp_err_t e;

        for (;;) {
                if (in->counts.fatal) {
                        intake_stop(in, in->counts.fatal_reason, file, it->line,
                                    1);
                        return -1;
                }
                if (in->counts.failed > 0) {
                        intake_stop(in, in->counts.last_error, file, it->line,
                                    1);
                        return -1;
                }
                e = rd_kafka_producev(
                        in->rk, RD_KAFKA_V_RKT(in->rkt),
                        RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                        RD_KAFKA_V_KEY(it->key, strlen(it->key)),
                        RD_KAFKA_V_VALUE(b->out + it->poff, it->plen),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                        in->counts.produced++;
                        return 0;
                }
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        char err[300];

                        snprintf(err, sizeof(err), "produce to %s: %s",
                                 in->conf->topic_complaints,
                                 rd_kafka_err2str(e));
                        intake_stop(in, err, file, it->line, 1);
                        return -1;
                }
                if (intake_queue_full(in, &moved, &idle_since, file, it->line))
                        return -1;
        }
}

/* One dead letter through km_dlq_produce_file: the common body (reason,
 * detail, origin {file, line}, the original cut to the broker's size) and
 * Kafka Connect's error headers, plus komek.origin.file/line.
 * @returns 0 when queued, -1 when reading must stop. */
static int intake_dead_letter(struct intake *in, const struct intake_batch *b,
                              const struct intake_item *it)
{
        char err[512];
        int r;

        if (in->counts.fatal) {
                intake_stop(in, in->counts.fatal_reason, b->file, it->line, 1);
                return -1;
        }
        if (in->counts.failed > 0) {
                intake_stop(in, in->counts.last_error, b->file, it->line, 1);
                return -1;
        }
        r = km_dlq_produce_file(
                in->rk, in->conf, "komek-intake", "VALUE_CONVERTER", b->file,
                it->line, it->reason, it->detail ? it->detail : "",
                b->data + it->off, it->len, &in->counts,
                (int)in->ic->delivery_timeout_ms, err, sizeof(err));
        if (r) {
                intake_stop(in,
                            r == KM_ERETRY ? "broker not taking messages" : err,
                            b->file, it->line, 1);
                return -1;
        }
        return 0;
}

/* The reader's batch, fetched from the pool when there is none. */
static struct intake_batch *intake_cur(struct intake *in, const char *file)
{
        if (in->cur && in->cur->n > 0 && in->cur->file != file)
                intake_flush(in); /* a batch is from one file */
        if (in->cur == NULL)
                in->cur = intake_pipe_get(in);
        in->cur->file = file;
        return in->cur;
}

/* Queue one item: its bytes are copied into the batch's block. */
static struct intake_item *intake_item_add(struct intake *in, const char *buf,
                                           size_t len, const char *file,
                                           int64_t line)
{
        struct intake_batch *b = intake_cur(in, file);
        struct intake_item *it;

        if (b->dlen + len + 1 > b->dcap) {
                b->dcap = (b->dlen + len + 1) * 2;
                if (b->dcap < 65536)
                        b->dcap = 65536;
                b->data = km_xrealloc(b->data, b->dcap);
        }
        if (b->n == 0)
                b->first_ms = km_now_ms();
        it = &b->items[b->n++];
        memset(it, 0, sizeof(*it));
        it->off = b->dlen;
        memcpy(b->data + b->dlen, buf, len);
        b->data[b->dlen + len] = '\0';
        b->dlen += len + 1;
        it->len = len;
        it->line = line;
        in->read++;
        return it;
}

/* After an item: a full batch, or one older than INTAKE_LINGER_MS, goes
 * on. */
static void intake_item_done(struct intake *in)
{
        struct intake_batch *b = in->cur;

        /* the clock every 16 records: a steady input fills a batch
         * faster than that matters, a slow one goes idle (intake_input.c) */
        if (b->n == b->cap ||
            ((b->n & 15) == 0 && km_now_ms() - b->first_ms >= INTAKE_LINGER_MS))
                intake_flush(in);
}

void intake_reject(struct intake *in, const char *reason, const char *detail,
                   const char *buf, size_t len, const char *file, int64_t line)
{
        struct intake_item *it = intake_item_add(in, buf, len, file, line);

        snprintf(it->reason, sizeof(it->reason), "%s", reason);
        it->detail = km_xstrdup(detail);
        intake_item_done(in);
}

void intake_record(struct intake *in, const char *buf, size_t len, json_t *obj,
                   const char *file, int64_t line)
{
        struct intake_item *it = intake_item_add(in, buf, len, file, line);

        it->obj = obj;
        intake_item_done(in);
}

void intake_flush(struct intake *in)
{
        if (in->cur == NULL || in->cur->n == 0)
                return;
        intake_pipe_submit(in, in->cur);
        in->cur = NULL;
}

int intake_pending(const struct intake *in)
{
        return in->cur != NULL && in->cur->n > 0;
}

void intake_publish(struct intake *in, struct intake_batch *b)
{
        for (size_t i = 0; i < b->n; i++) {
                struct intake_item *it = &b->items[i];

                if (!in->halted) {
                        if (it->valid) {
                                if (intake_produce(in, b, it) == 0)
                                        in->published++;
                        } else if (intake_dead_letter(in, b, it) == 0) {
                                in->dlq++;
                                intake_count_reason(in, it->reason);
                                km_log_debug("%s:%lld: dead-lettered: %s",
                                             b->file, (long long)it->line,
                                             it->reason);
                        }
                }
                free(it->detail);
                json_decref(it->obj);
        }
        b->n = 0;
        b->dlen = 0;
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

void intake_summary(const struct intake *in, int64_t undelivered, double secs)
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
                fprintf(stderr, "komek-intake: stopped reading at %s: %s\n",
                        in->stop_at, in->stop_why);
}
